//! End-to-end through a real Envoy (1.40, V8) running the release filter with the table compiled
//! from `policies/`: identity headers, spoofing, every deny reason the request path can give,
//! path normalization and the filter's counters. See `harness/mod.rs` for what it needs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use gatehouse::{compile_dir, table_json, CompileOptions};
use gatehouse_filter::token::mint::{sign_alb, sign_jwt, Padding, SigningKey};
use harness::{prerequisites, root, Gateway};
use serde_json::json;

const DEX: &str = "https://dex.example.com";
const AUD: &str = "kubeflow-oidc-authservice";
const ALB_ARN: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/kubeflow/50dc6c495c0c9188";
const COGNITO: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Example";
const EKS: &str = "https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn key(name: &str) -> SigningKey {
    let pem = std::fs::read_to_string(root().join("testdata/keys").join(name)).unwrap();
    SigningKey::from_pem(&pem).unwrap()
}

fn jwt(key_file: &str, kid: &str, claims: serde_json::Value) -> String {
    sign_jwt(
        &key(key_file),
        "RS256",
        &json!({"kid": kid, "typ": "JWT"}),
        &claims,
    )
    .unwrap()
}

fn dex(email: &str, groups: &[&str]) -> String {
    let t = now();
    jwt(
        "dex-rsa.key.pem",
        "dex-1",
        json!({"iss": DEX, "aud": AUD, "email": email, "email_verified": true, "groups": groups, "iat": t, "exp": t + 600}),
    )
}

fn alb(email: &str, signer: &str) -> String {
    let header = json!({"kid": "alb-1", "signer": signer, "exp": now() + 600});
    sign_alb(
        &key("alb-1.key.pem"),
        &header,
        &json!({"email": email, "email_verified": true, "sub": email}),
        Padding::Padded,
    )
    .unwrap()
}

fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

fn start() -> Option<Gateway> {
    let (envoy, wasm) = prerequisites()?;
    let compiled = compile_dir(&root().join("policies"), &CompileOptions { now: now() })
        .unwrap_or_else(|d| panic!("policies/ must compile: {d:?}"));
    Some(Gateway::start(
        &envoy,
        &wasm,
        &table_json(&compiled.table).unwrap(),
    ))
}

/// name, method, path, headers, expected status, expected reason.
type DenyCase<'a> = (
    &'a str,
    &'a str,
    &'a str,
    Vec<(&'a str, String)>,
    u16,
    &'a str,
);

#[test]
fn through_envoy() {
    let Some(gw) = start() else { return };
    let mut failures = Vec::new();
    let mut check = |name: &str, ok: bool, detail: String| {
        if !ok {
            failures.push(format!("{name}: {detail}"));
        }
    };

    // Pre-minted tokens with their expected outcome, on an authenticated route.
    let dir = root().join("testdata/tokens");
    let expected: BTreeMap<String, String> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    for (file, want) in &expected {
        let token = std::fs::read_to_string(dir.join(file))
            .unwrap()
            .trim()
            .to_string();
        let header = if file.ends_with(".alb") {
            ("x-amzn-oidc-data", token.clone())
        } else {
            ("authorization", bearer(&token))
        };
        let r = gw.send("GET", "/", &[(header.0, &header.1)]);
        if want.contains('@') || want.starts_with("system:") {
            check(
                file,
                r.status == 200 && r.upstream_header("kubeflow-userid") == vec![want.clone()],
                format!("{} {}", r.status, r.body),
            );
        } else {
            check(
                file,
                r.status == 401
                    && r.reason() == *want
                    && r.header("www-authenticate")
                        .is_some_and(|c| c.contains("invalid_token")),
                format!("{} {:?} {}", r.status, r.header("www-authenticate"), r.body),
            );
            check(
                &format!("{file} echoes nothing"),
                !r.body.contains(&token),
                r.body.clone(),
            );
        }
    }

    // Identity headers: set from the verified token only.
    let bob = dex("bob@example.com", &[]);
    let r = gw.send(
        "GET",
        "/jupyter/api/namespaces/alice/notebooks",
        &[
            ("authorization", &bearer(&bob)),
            ("kubeflow-userid", "alice@example.com"),
            ("kubeflow-groups", "kubeflow-admins"),
            ("x-amzn-oidc-identity", "alice"),
            ("x-amzn-oidc-accesstoken", "forged"),
        ],
    );
    check(
        "spoofed headers replaced",
        r.status == 200
            && r.upstream_header("kubeflow-userid") == vec!["bob@example.com".to_string()]
            && r.upstream_header("kubeflow-groups").is_empty()
            && r.upstream_header("x-amzn-oidc-identity").is_empty()
            && r.upstream_header("x-amzn-oidc-accesstoken").is_empty(),
        r.body.clone(),
    );
    let r = gw.send(
        "GET",
        "/dex/auth",
        &[
            ("kubeflow-userid", "alice@example.com"),
            ("x-amzn-oidc-data", "x.y.z"),
        ],
    );
    check(
        "spoofed headers stripped on public paths",
        r.status == 200
            && r.upstream_header("kubeflow-userid").is_empty()
            && r.upstream_header("x-amzn-oidc-data").is_empty(),
        r.body.clone(),
    );
    let ops = dex("dave@example.com", &["ml-ops", "analysts"]);
    let r = gw.send(
        "PUT",
        "/serving/v1/namespaces/models/apis/churn-model",
        &[("authorization", &bearer(&ops))],
    );
    check(
        "groups joined",
        r.status == 200
            && r.upstream_header("kubeflow-groups") == vec!["ml-ops,analysts".to_string()],
        r.body.clone(),
    );
    let t = now();
    let cognito = jwt(
        "cognito-rsa.key.pem",
        "cognito-1",
        json!({"iss": COGNITO, "aud": "gatehouse-example-client", "email": "dave@example.com", "email_verified": true, "cognito:groups": ["ml-ops"], "iat": t, "exp": t + 600}),
    );
    let r = gw.send(
        "DELETE",
        "/serving/v1/namespaces/models/apis/churn-model",
        &[("authorization", &bearer(&cognito))],
    );
    check(
        "cognito groups grant",
        r.status == 200 && r.upstream_header("kubeflow-groups") == vec!["ml-ops".to_string()],
        format!("{} {}", r.status, r.body),
    );
    let sa = jwt(
        "eks-sa-rsa.key.pem",
        "eks-sa-1",
        json!({"iss": EKS, "aud": ["gatehouse"], "sub": "system:serviceaccount:ci:model-deployer", "iat": t, "exp": t + 600}),
    );
    let r = gw.send(
        "PUT",
        "/serving/v1/namespaces/models/apis/churn-model",
        &[("authorization", &bearer(&sa))],
    );
    check(
        "serviceaccount token",
        r.status == 200
            && r.upstream_header("kubeflow-userid")
                == vec!["system:serviceaccount:ci:model-deployer".to_string()],
        format!("{} {}", r.status, r.body),
    );
    let alice_alb = alb("alice@example.com", ALB_ARN);
    let r = gw.send(
        "GET",
        "/notebook/alice/nb/",
        &[("x-amzn-oidc-data", &alice_alb)],
    );
    check(
        "alb identity, verified header passed on",
        r.status == 200
            && r.upstream_header("kubeflow-userid") == vec!["alice@example.com".to_string()]
            && r.upstream_header("x-amzn-oidc-data") == vec![alice_alb.clone()],
        format!("{} {}", r.status, r.body),
    );

    // Denials: status, reason, challenge.
    let carol = dex("carol@example.com", &[]);
    let alice = dex("alice@example.com", &[]);
    let cases: Vec<DenyCase> = vec![
        ("no token", "GET", "/notebook/alice/nb/", vec![], 401, "no_identity"),
        ("spoofed header only", "GET", "/notebook/alice/nb/", vec![("kubeflow-userid", "alice@example.com".into())], 401, "no_identity"),
        ("view may not delete", "DELETE", "/jupyter/api/namespaces/alice/notebooks/nb", vec![("authorization", bearer(&carol))], 403, "not_permitted"),
        ("api-scoped grant", "PUT", "/serving/v1/namespaces/models/apis/churn-model", vec![("authorization", bearer(&carol))], 403, "not_permitted"),
        ("dot segments judged after resolution", "GET", "/notebook/bob/../alice/nb/", vec![("authorization", bearer(&carol))], 403, "not_permitted"),
        ("encoded dot segments", "GET", "/notebook/bob/%2e%2e/alice/nb/", vec![("authorization", bearer(&carol))], 403, "not_permitted"),
        ("encoded slash", "GET", "/notebook/alice%2f..%2fbob/nb/", vec![("authorization", bearer(&alice))], 400, "bad_path"),
        ("path parameter", "GET", "/notebook/alice;x=1/nb/", vec![("authorization", bearer(&alice))], 400, "bad_path"),
        ("namespace twice", "GET", "/pipeline/apis/v2beta1/runs?namespace=alice&namespace=bob", vec![("authorization", bearer(&alice))], 400, "ambiguous_namespace"),
        ("namespace not a DNS label", "GET", "/notebook/Alice/nb/", vec![("authorization", bearer(&alice))], 400, "bad_namespace"),
        ("wrong alb signer", "GET", "/", vec![("x-amzn-oidc-data", alb("alice@example.com", "arn:aws:elasticloadbalancing:us-east-1:999999999999:loadbalancer/app/evil/0123456789abcdef"))], 401, "wrong_signer"),
        ("alb and bearer disagree", "GET", "/", vec![("x-amzn-oidc-data", alice_alb.clone()), ("authorization", bearer(&bob))], 401, "conflicting_identities"),
        ("two authorization headers", "GET", "/", vec![("authorization", bearer(&alice)), ("authorization", bearer(&alice))], 401, "bad_authorization_header"),
        ("basic auth", "GET", "/", vec![("authorization", "Basic YWxpY2U6eA==".into())], 401, "bad_authorization_header"),
    ];
    for (name, method, path, headers, status, reason) in &cases {
        let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = gw.send(method, path, &h);
        let challenge_ok = (*status == 401) == r.header("www-authenticate").is_some();
        check(
            name,
            r.status == *status && r.reason() == *reason && challenge_ok,
            format!("{} {:?} {}", r.status, r.header("www-authenticate"), r.body),
        );
    }

    // What was judged is what is served.
    let r = gw.send(
        "GET",
        "//notebook/alice/./x/../nb/",
        &[("authorization", &bearer(&alice))],
    );
    check(
        "normalized path forwarded",
        r.status == 200 && r.json()["path"] == "/notebook/alice/nb/",
        r.body.clone(),
    );

    // The filter's counters reach Envoy's stats.
    let stats = gw.admin_get("/stats?filter=gatehouse");
    for counter in [
        "gatehouse.denied.no_identity",
        "gatehouse.denied.not_permitted",
        "gatehouse.allowed",
        "gatehouse.token_cache.miss",
    ] {
        check(
            &format!("counter {counter}"),
            stats.contains(counter),
            stats.clone(),
        );
    }
    // A log line per denial, never holding a token.
    let log = gw.log();
    check(
        "denials logged",
        log.contains("\"reason\":\"wrong_signer\""),
        String::new(),
    );
    check(
        "no token in the log",
        !log.contains(&bob) && !log.contains(&alice_alb),
        String::new(),
    );

    assert!(
        failures.is_empty(),
        "{} end-to-end failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
