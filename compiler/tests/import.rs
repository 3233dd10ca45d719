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
    // Dex's in-cluster `http://` issuer is one `gatehouse compile` accepts: no note about it.
    assert!(
        !out.contains("is not https") && !out.contains("https issuers only"),
        "{out}"
    );
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
        "`gatehouse compile` will refuse this issuer: `http://auth.legacy.example.com`",
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

/// Kubeflow's RequestAuthentications folder, or `None` (with a message) when absent.
fn kubeflow_anchors() -> Option<std::path::PathBuf> {
    let dir = root().join("../shared/anchors/kubeflow");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("SKIPPED: ../shared/anchors/kubeflow is absent (it holds Kubeflow's RequestAuthentications)");
        None
    }
}

#[test]
fn kubeflow_dex_http_in_cluster_issuer_imports_and_compiles_as_it_is() {
    let Some(dir) = kubeflow_anchors() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("policies");
    let ra = dir.join("requestauthentication-dex-jwt.yaml");
    let o = gatehouse(&["import", ra.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", transcript(&o));
    let yaml = std::fs::read_to_string(out.join("dex-jwt.yaml")).unwrap();
    let said = format!("{yaml}{}", String::from_utf8_lossy(&o.stderr));
    // `compile` accepts `http://` for in-cluster `*.svc` hosts: nothing may tell the user
    // otherwise, nor to change Dex's issuer (which would change `iss` for every client).
    for wrong in [
        "https issuers only",
        "is not https",
        "over https",
        "will refuse",
    ] {
        assert!(!said.contains(wrong), "`{wrong}` in:\n{said}");
    }
    assert!(
        yaml.contains("issuer: http://dex.auth.svc.cluster.local:5556/dex"),
        "{yaml}"
    );
    // With the keys fetched where the note says, the import compiles unchanged.
    std::fs::create_dir_all(out.join("keys")).unwrap();
    std::fs::copy(
        root().join("testdata/keys/dex.jwks.json"),
        out.join("keys/dex-jwt.jwks.json"),
    )
    .unwrap();
    let table = tmp.path().join("table.json");
    let o = gatehouse(&[
        "compile",
        out.to_str().unwrap(),
        "-o",
        table.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", transcript(&o));
    let table = std::fs::read_to_string(table).unwrap();
    assert!(
        table.contains("http://dex.auth.svc.cluster.local:5556/dex"),
        "{table}"
    );
}

#[test]
fn http_issuer_outside_the_cluster_gets_what_compile_will_say() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("policies");
    let o = gatehouse(&[
        "import",
        "testdata/import/unsupported",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", transcript(&o));
    let import_err = String::from_utf8_lossy(&o.stderr).to_string();
    std::fs::create_dir_all(out.join("keys")).unwrap();
    std::fs::copy(
        root().join("testdata/keys/dex.jwks.json"),
        out.join("keys/legacy.jwks.json"),
    )
    .unwrap();
    let o = gatehouse(&[
        "compile",
        out.to_str().unwrap(),
        "-o",
        tmp.path().join("table.json").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", transcript(&o));
    let compile_err = String::from_utf8_lossy(&o.stderr);
    // The note carries compile's own message (and hint) for this issuer.
    for said in [
        "`http://auth.legacy.example.com` is not a valid issuer URL: it must start with `https://` (`http://` only for in-cluster `*.svc` hosts)",
        "issuers are identified by their URL, exactly as the token's `iss` says",
    ] {
        assert!(compile_err.contains(said), "compile: {said}\n{compile_err}");
        assert!(import_err.contains(said), "import: {said}\n{import_err}");
    }
    assert!(
        import_err.contains("`gatehouse compile` will refuse this issuer: `http://auth.legacy"),
        "{import_err}"
    );
    assert!(!import_err.contains("https issuers only"), "{import_err}");
}

/// A Helm chart's template, not YAML until `helm template` renders it.
const HELM_TEMPLATE: &str = r#"{{- if .Values.auth.enabled }}
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata:
  name: {{ include "chart.fullname" . }}
spec:
  jwtRules:
  - issuer: {{ .Values.auth.issuer | quote }}
{{- end }}
"#;

#[test]
fn a_directory_with_a_helm_template_imports_the_rest_and_exits_1() {
    let Some(dir) = kubeflow_anchors() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let inputs = tmp.path().join("manifests");
    std::fs::create_dir_all(inputs.join("chart/templates")).unwrap();
    std::fs::copy(
        dir.join("requestauthentication-dex-jwt.yaml"),
        inputs.join("dex-jwt.yaml"),
    )
    .unwrap();
    let helm = inputs.join("chart/templates/requestauthentication.yaml");
    std::fs::write(&helm, HELM_TEMPLATE).unwrap();
    let helm = helm.display().to_string();
    let inputs = inputs.to_str().unwrap();

    // Standard output: the good file's issuers, the bad file's position and why, a summary.
    let o = gatehouse(&["import", inputs]);
    assert_eq!(o.status.code(), Some(1), "{}", transcript(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        out.contains("issuer: http://dex.auth.svc.cluster.local:5556/dex"),
        "{}",
        transcript(&o)
    );
    assert!(
        err.contains(&format!("error: `{helm}:1:3`: ")) && err.contains("helm template"),
        "{err}"
    );
    let summary = err.lines().last().unwrap();
    assert_eq!(
        summary,
        format!("error: skipped 1 input: `{helm}`; the output holds the issuers of the other inputs only; fix these and import again")
    );

    // -o DIR: the good file is written as without errors.
    let out_dir = tmp.path().join("imported");
    let o = gatehouse(&["import", inputs, "-o", out_dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", transcript(&o));
    assert!(o.stdout.is_empty());
    let yaml = std::fs::read_to_string(out_dir.join("dex-jwt.yaml")).unwrap();
    assert!(
        yaml.contains("issuer: http://dex.auth.svc.cluster.local:5556/dex"),
        "{yaml}"
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&format!("skipped 1 input: `{helm}`")), "{err}");

    // Without the template: exit 0, no summary, the same output.
    std::fs::remove_file(&helm).unwrap();
    let o = gatehouse(&["import", inputs]);
    assert_eq!(o.status.code(), Some(0), "{}", transcript(&o));
    assert!(!String::from_utf8_lossy(&o.stderr).contains("skipped"));
}

#[test]
fn a_file_whose_rule_cannot_be_imported_is_skipped_whole() {
    let Some(dir) = kubeflow_anchors() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let inputs = tmp.path().join("in");
    std::fs::create_dir_all(&inputs).unwrap();
    // Sorted first, named like the good one: the names it would have taken stay free.
    let bad =
        std::fs::read_to_string(root().join("testdata/import/bad-jwks/requestauthentication.yaml"))
            .unwrap()
            .replace("name: hmac", "name: dex-jwt");
    std::fs::write(inputs.join("a-hmac.yaml"), bad).unwrap();
    std::fs::copy(
        dir.join("requestauthentication-dex-jwt.yaml"),
        inputs.join("b-dex.yaml"),
    )
    .unwrap();
    let out_dir = tmp.path().join("out");
    let o = gatehouse(&[
        "import",
        inputs.to_str().unwrap(),
        "-o",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", transcript(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no usable public key"), "{err}");
    assert!(err.contains("skipped 1 input: `"), "{err}");
    let yaml = std::fs::read_to_string(out_dir.join("dex-jwt.yaml")).unwrap();
    assert!(yaml.contains("name: dex-jwt\n"), "{yaml}");
    assert!(!out_dir.join("dex-jwt-2.yaml").exists());
}

#[test]
fn a_cognito_pool_behind_an_alb_imports_as_an_access_token_issuer() {
    let o = gatehouse(&["import", "testdata/import/cognito"]);
    assert_eq!(o.status.code(), Some(0), "{}", transcript(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    // The access-token rule: access tokens only, matched by `sub`, groups from the pool.
    let (access, api) = out.split_once("cognito-api").unwrap();
    for needle in [
        "\n    bearer: false",
        "userClaim: sub",
        "groupsClaim: cognito:groups",
        "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123/.well-known/jwks.json",
    ] {
        assert!(access.contains(needle), "{needle}: {out}");
    }
    assert!(!access.contains("no `audiences`"), "{access}");
    // What a RequestAuthentication cannot tell is said, with the region it can.
    assert!(
        err.contains("region: eu-west-1") && err.contains("accessToken: {issuer: cognito-alb"),
        "{err}"
    );
    // The ID-token rule stays a bearer issuer with its audience.
    assert!(!api.contains("\n    bearer: false"), "{api}");
    assert!(api.contains("6example0clientid0for0cli"), "{api}");
    insta::assert_snapshot!("cognito", transcript(&o));
}
