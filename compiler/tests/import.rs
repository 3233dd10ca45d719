//! `gatehouse import`: Kubeflow's real RequestAuthentications (read from `../shared/anchors`,
//! skipped with a message when absent) and `testdata/import/` cases, snapshotted; an import
//! with inline keys compiles as it is.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{gatehouse, root};

use std::process::Output;

/// Standard output, then standard error, as one snapshot.
fn transcript(o: &Output) -> String {
    format!(
        "exit: {:?}\n--- stdout\n{}--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn kubeflow_request_authentications() {
    let dir = root().join("../shared/anchors/kubeflow");
    if !dir.is_dir() {
        eprintln!("SKIPPED: ../shared/anchors/kubeflow is absent (it holds Kubeflow's RequestAuthentications)");
        return;
    }
    for name in [
        "requestauthentication-dex-jwt",
        "requestauthentication-m2m",
        "requestauthentication-cluster-local-gateway",
    ] {
        let o = gatehouse(&["import", &format!("../shared/anchors/kubeflow/{name}.yaml")]);
        assert_eq!(o.status.code(), Some(0), "{}", transcript(&o));
        // Every note is in the output as a comment and on standard error.
        let out = String::from_utf8_lossy(&o.stdout);
        let err = String::from_utf8_lossy(&o.stderr);
        for line in out.lines().filter_map(|l| l.strip_prefix("# note: ")) {
            assert!(err.contains(line), "{line}");
        }
        insta::assert_snapshot!(name, transcript(&o));
    }
}

#[test]
fn kubeflow_claim_mappings_become_user_and_groups_claims() {
    let dir = root().join("../shared/anchors/kubeflow");
    if !dir.is_dir() {
        eprintln!("SKIPPED: ../shared/anchors/kubeflow is absent");
        return;
    }
    let o = gatehouse(&[
        "import",
        "../shared/anchors/kubeflow/requestauthentication-dex-jwt.yaml",
    ]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("userClaim: email") && out.contains("groupsClaim: groups"),
        "{out}"
    );
    assert!(out.contains("is not https"), "{out}");
    let o = gatehouse(&[
        "import",
        "../shared/anchors/kubeflow/requestauthentication-m2m.yaml",
    ]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("userClaim: sub") && out.contains("`issuer: PATCH_ME` is a placeholder"),
        "{out}"
    );
}

#[test]
fn inline_jwks_import_compiles() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("policies");
    let o = gatehouse(&[
        "import",
        "testdata/import/inline-jwks",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", transcript(&o));
    let yaml = std::fs::read_to_string(out.join("corp-sso.yaml")).unwrap();
    insta::assert_snapshot!("inline-jwks", yaml);
    // The key files hold public keys only, beside the YAML.
    let keys = std::fs::read_to_string(out.join("corp-sso-1.jwks.json")).unwrap();
    assert!(
        keys.contains("\"kid\": \"dex-1\"") && !keys.contains("\"d\""),
        "{keys}"
    );
    // The round trip: the import is a policy `gatehouse compile` accepts, and its table holds
    // the imported issuers with their keys.
    let table = tmp.path().join("table.json");
    let o = gatehouse(&[
        "compile",
        out.to_str().unwrap(),
        "-o",
        table.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", transcript(&o));
    let table = std::fs::read_to_string(table).unwrap();
    gatehouse_filter::Engine::from_json(table.as_bytes()).unwrap();
    for needle in [
        "https://dex.example.com",
        "https://extra.example.com",
        "dex-1",
        "extra-ed25519",
    ] {
        assert!(table.contains(needle), "{needle}");
    }
}

#[test]
fn what_gatehouse_does_differently_becomes_notes() {
    let o = gatehouse(&["import", "testdata/import/unsupported"]);
    assert_eq!(o.status.code(), Some(0), "{}", transcript(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    for needle in [
        "is not https",
        "no `audiences`",
        "header `x-user`",
        "claim `preferred_username`",
        "header `x-jwt-assertion` (no prefix)",
        "query parameter `token`",
        "cookies",
        "outputPayloadToHeader",
        "forwardOriginalToken",
        "app=legacy-gateway",
        "curl -fsSL --create-dirs -o keys/legacy.jwks.json 'https://auth.legacy.example.com/keys'",
    ] {
        assert!(err.contains(needle), "{needle}: {err}");
    }
    insta::assert_snapshot!("unsupported", transcript(&o));
}

#[test]
fn unusable_input_exits_1() {
    let o = gatehouse(&["import", "testdata/import/bad-jwks"]);
    assert_eq!(o.status.code(), Some(1), "{}", transcript(&o));
    assert!(o.stdout.is_empty());
    assert!(String::from_utf8_lossy(&o.stderr).contains("no usable public key"));
    let o = gatehouse(&["import", "testdata/emit"]);
    assert_eq!(o.status.code(), Some(1), "{}", transcript(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no RequestAuthentication found"));
    let o = gatehouse(&["import", "testdata/import/no-such-file.yaml"]);
    assert_eq!(o.status.code(), Some(1), "{}", transcript(&o));
}
