//! The `gatehouse` binary: exit codes, output files and `--error-format json`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::gatehouse;

const NOW: &str = "2026-06-01T00:00:00Z";

#[test]
fn compile_writes_the_table_and_exits_0() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("table.json");
    let o = gatehouse(&[
        "compile",
        "policies",
        "-o",
        out.to_str().unwrap(),
        "--now",
        NOW,
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let written = std::fs::read_to_string(&out).unwrap();
    assert!(written.ends_with("}\n"));
    gatehouse_filter::Engine::from_json(written.as_bytes()).unwrap();
    // Without -o the same bytes go to standard output.
    let o = gatehouse(&["compile", "policies", "--now", NOW]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(String::from_utf8(o.stdout).unwrap(), written);
}

#[test]
fn warnings_still_exit_0() {
    let o = gatehouse(&[
        "compile",
        "testdata/policies/bad/warning-undeclared-namespace",
        "--now",
        NOW,
    ]);
    assert_eq!(o.status.code(), Some(0));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("warning[undeclared-namespace]"), "{err}");
}

#[test]
fn deny_warnings_makes_warnings_fail_with_exit_1() {
    let dir = "testdata/policies/bad/warning-undeclared-namespace";
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("table.json");
    let o = gatehouse(&[
        "compile",
        dir,
        "--deny-warnings",
        "--now",
        NOW,
        "-o",
        out.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("warning[undeclared-namespace]"), "{err}");
    assert!(
        err.ends_with("error: 2 warnings, and --deny-warnings is set\n"),
        "{err}"
    );
    assert!(!out.exists(), "a table was written");
    // In JSON the array is all of standard error.
    let o = gatehouse(&[
        "compile",
        dir,
        "--deny-warnings",
        "--error-format",
        "json",
        "--now",
        NOW,
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
    let v: serde_json::Value = serde_json::from_slice(&o.stderr).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
    // Without warnings nothing changes.
    let o = gatehouse(&["compile", "policies", "--deny-warnings", "--now", NOW]);
    assert_eq!(o.status.code(), Some(0));
    assert!(o.stderr.is_empty());
}

#[test]
fn invalid_policy_exits_1_with_every_error() {
    let o = gatehouse(&[
        "compile",
        "testdata/policies/bad/many-errors-sorted",
        "--now",
        NOW,
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.matches("error[").count(), 3, "{err}");
    assert!(err.contains("3 errors"), "{err}");
}

#[test]
fn json_error_format_is_an_array_of_diagnostics() {
    let o = gatehouse(&[
        "compile",
        "testdata/policies/bad/unknown-role",
        "--error-format",
        "json",
        "--now",
        NOW,
    ]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stderr).unwrap();
    let d = &v.as_array().unwrap()[0];
    assert_eq!(d["severity"], "error");
    assert_eq!(d["code"], "unknown-role");
    assert_eq!(d["message"], "unknown role `develper`");
    assert_eq!(d["file"], "policy.yaml");
    assert_eq!(
        (d["line"].as_u64(), d["column"].as_u64()),
        (Some(11), Some(9))
    );
    assert_eq!(d["hint"], "did you mean `developer`?");
}

#[test]
fn bad_arguments_exit_1_and_write_failures_exit_2() {
    assert_eq!(gatehouse(&["compile"]).status.code(), Some(1));
    assert_eq!(
        gatehouse(&["compile", "policies", "--now", "yesterday"])
            .status
            .code(),
        Some(1)
    );
    assert_eq!(
        gatehouse(&["compile", "no/such/dir"]).status.code(),
        Some(1)
    );
    let o = gatehouse(&[
        "compile",
        "policies",
        "--now",
        NOW,
        "-o",
        "/nonexistent-dir/table.json",
    ]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn expiry_follows_now() {
    let dir = "testdata/policies/bad/warning-expiring-key";
    assert_eq!(
        gatehouse(&["compile", dir, "--now", NOW]).status.code(),
        Some(0)
    );
    let o = gatehouse(&["compile", dir, "--now", "2026-07-01T00:00:00Z"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("expired"));
}

/// The filter's algorithm list is the policy's: an issuer may name PS384 and PS512, and a
/// token signed so verifies.
#[test]
fn every_algorithm_the_filter_verifies_can_be_written_in_a_policy() {
    let tmp = tempfile::tempdir().unwrap();
    let pol = tmp.path().join("pol");
    std::fs::create_dir_all(pol.join("profiles")).unwrap();
    for f in ["gatehouse.yaml", "profiles/alice.yaml"] {
        std::fs::copy(common::root().join("policies").join(f), pol.join(f)).unwrap();
    }
    let jwks = common::root().join("testdata/keys/dex.jwks.json");
    std::fs::write(
        pol.join("issuers.yaml"),
        format!(
            "apiVersion: gatehouse.dev/v1alpha1\nkind: Issuer\nmetadata:\n  name: dex\nspec:\n  jwt:\n    issuer: https://dex.example.com\n    audiences: [kubeflow-oidc-authservice]\n    algorithms: [PS384, PS512]\n    jwksFile: {}\n    userClaim: email\n",
            jwks.display()
        ),
    )
    .unwrap();
    for (alg, expect) in [("PS384", 0), ("PS512", 0), ("RS256", 3)] {
        let o = gatehouse(&[
            "token",
            "jwt",
            "--key",
            "testdata/keys/dex-rsa.key.pem",
            "--alg",
            alg,
            "--kid",
            "dex-1",
            "--claims",
            r#"{"iss":"https://dex.example.com","aud":"kubeflow-oidc-authservice","email":"alice@example.com","email_verified":true}"#,
        ]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let token = String::from_utf8(o.stdout).unwrap();
        let o = gatehouse(&[
            "explain",
            "--policies",
            pol.to_str().unwrap(),
            "--token",
            token.trim(),
            "GET",
            "/notebook/alice/nb-1/",
        ]);
        assert_eq!(
            o.status.code(),
            Some(expect),
            "{alg}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
}
