//! `gatehouse explain` through the binary: the nearest miss, and tokens minted with the test
//! keys (valid, expired, ALB) verified by the filter's verifiers and never echoed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{code, gatehouse, root, run};

use gatehouse_filter::token::mint::{sign_alb, sign_jwt, Padding, SigningKey};
use serde_json::json;

#[test]
fn explain_shows_the_nearest_miss() {
    let (c, text) = run(&[
        "explain",
        "--policies",
        "policies",
        "--user",
        "carol@example.com",
        "DELETE",
        "/jupyter/api/namespaces/alice/../alice/notebooks/nb-1",
    ]);
    assert_eq!(c, 3);
    insta::assert_snapshot!("explain_role_miss", text);
    let (c, text) = run(&[
        "explain",
        "--policies",
        "policies",
        "--user",
        "carol@example.com",
        "POST",
        "/serving/v1/namespaces/models/apis/churn-model/predict",
    ]);
    assert_eq!(c, 3);
    insta::assert_snapshot!("explain_api_miss", text);
    let (c, text) = run(&[
        "explain",
        "--policies",
        "policies",
        "--user",
        "dana@example.com",
        "--group",
        "analysts",
        "DELETE",
        "/serving/v1/namespaces/models/apis/churn-model",
    ]);
    assert_eq!(c, 3);
    assert!(
        text.contains("has `read_only` in `models` through group `analysts`"),
        "{text}"
    );
    let (c, text) = run(&[
        "explain",
        "--policies",
        "policies",
        "--user",
        "zed@example.com",
        "GET",
        "/notebook/bob/nb/",
    ]);
    assert_eq!(c, 3);
    assert!(
        text.contains("`zed@example.com` holds no grant in `bob`"),
        "{text}"
    );
}

const NOW: u64 = 1_800_000_000;

fn dex_token(exp: u64) -> String {
    let key = std::fs::read_to_string(root().join("testdata/keys/dex-rsa.key.pem")).unwrap();
    let key = SigningKey::from_pem(&key).unwrap();
    let claims = json!({
        "iss": "https://dex.example.com",
        "aud": "kubeflow-oidc-authservice",
        "sub": "CgVhbGljZQ",
        "email": "alice@example.com",
        "email_verified": true,
        "groups": ["ml-researchers"],
        "iat": exp - 3600,
        "exp": exp,
    });
    sign_jwt(
        &key,
        "RS256",
        &json!({"kid": "dex-1", "typ": "JWT"}),
        &claims,
    )
    .unwrap()
}

#[test]
fn explain_verifies_a_dex_token_and_never_echoes_it() {
    let token = dex_token(NOW + 600);
    let now = NOW.to_string();
    let (c, text) = run(&[
        "explain",
        "--policies",
        "policies",
        "--token",
        &token,
        "--now",
        &now,
        "DELETE",
        "/volumes/api/namespaces/research/pvcs/data",
    ]);
    assert_eq!(c, 0, "{text}");
    assert!(!text.contains(&token) && !text.contains(token.split('.').nth(1).unwrap()));
    insta::assert_snapshot!("explain_dex_token", text);
    // The same token as JSON, with the checks.
    let o = gatehouse(&[
        "explain",
        "--policies",
        "policies",
        "--token",
        &token,
        "--now",
        &now,
        "--format",
        "json",
        "GET",
        "/notebook/alice/nb/",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["decision"], "allow");
    assert_eq!(v["user"], "alice@example.com");
    assert_eq!(v["token"]["issuer"], "dex");
    assert_eq!(v["token"]["kid"], "dex-1");
    assert!(v["token"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["passed"] == true));
    assert!(!String::from_utf8_lossy(&o.stdout).contains(&token));
}

#[test]
fn explain_names_the_failing_check_of_an_expired_token() {
    let token = dex_token(NOW - 600);
    let (c, text) = run(&[
        "explain",
        "--policies",
        "policies",
        "--token",
        &token,
        "--now",
        "2027-01-15T08:00:00Z",
        "GET",
        "/notebook/alice/nb/",
    ]);
    assert_eq!(c, 3, "{text}");
    assert!(!text.contains(&token));
    insta::assert_snapshot!("explain_expired_token", text);
}

#[test]
fn explain_names_the_user_claim_a_token_lacks() {
    // A Dex token without `email`, the claim the `dex` issuer of policies/ reads the user from.
    let key = std::fs::read_to_string(root().join("testdata/keys/dex-rsa.key.pem")).unwrap();
    let key = SigningKey::from_pem(&key).unwrap();
    let claims = json!({
        "iss": "https://dex.example.com",
        "aud": "kubeflow-oidc-authservice",
        "sub": "CgVhbGljZQ",
        "preferred_username": "zed-the-user",
        "groups": ["ml-researchers"],
        "iat": NOW,
        "exp": NOW + 600,
    });
    let token = sign_jwt(&key, "RS256", &json!({"kid": "dex-1"}), &claims).unwrap();
    let now = NOW.to_string();
    let args = [
        "explain",
        "--policies",
        "policies",
        "--token",
        &token,
        "--now",
        &now,
    ];
    let (c, text) = run(&[&args[..], &["GET", "/notebook/alice/nb/"]].concat());
    assert_eq!(c, 3, "{text}");
    assert!(
        text.contains("FAILED: user claim (claim_missing): no non-empty string claim `email`"),
        "{text}"
    );
    assert!(
        text.contains("user claim  issuer `dex` reads the user from `email` (`userClaim`); the token's string claims: `aud`, `iss`, `preferred_username`, `sub`"),
        "{text}"
    );
    // Names only: no claim value is shown.
    assert!(
        !text.contains("CgVhbGljZQ") && !text.contains("zed-the-user"),
        "{text}"
    );
    let o = gatehouse(
        &[
            &args[..],
            &["--format", "json", "GET", "/notebook/alice/nb/"],
        ]
        .concat(),
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["reason"], "claim_missing");
    assert_eq!(v["token"]["user_claim"], "email");
    assert_eq!(
        v["token"]["string_claims"],
        json!(["aud", "iss", "preferred_username", "sub"])
    );
}

#[test]
fn explain_verifies_an_alb_token() {
    let key = std::fs::read_to_string(root().join("testdata/keys/alb-1.key.pem")).unwrap();
    let key = SigningKey::from_pem(&key).unwrap();
    let header = json!({
        "kid": "alb-1",
        "signer": "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/kubeflow/50dc6c495c0c9188",
        "exp": NOW + 60,
    });
    let token = sign_alb(
        &key,
        &header,
        &json!({"email": "bob@example.com", "email_verified": "true"}),
        Padding::Padded,
    )
    .unwrap();
    let now = NOW.to_string();
    let args = [
        "explain",
        "--policies",
        "policies",
        "--alb",
        "--token",
        &token,
        "--now",
        &now,
    ];
    let (c, text) = run(&[&args[..], &["GET", "/notebook/bob/nb/"]].concat());
    assert_eq!(c, 0, "{text}");
    assert!(
        text.contains("token       alb, alg ES256, kid `alb-1`"),
        "{text}"
    );
    assert!(
        text.contains(
            "passed: format, alg, crit, kid, signature, signer, payload, exp, nbf, user claim, email_verified, identity scope"
        ),
        "{text}"
    );
    // Without --alb the same value is judged as a bearer JWT, and fails.
    let (c, _) = run(&[
        "explain",
        "--policies",
        "policies",
        "--token",
        &token,
        "--now",
        &now,
        "GET",
        "/notebook/bob/nb/",
    ]);
    assert_eq!(c, 3);
}

#[test]
fn explain_bad_input() {
    assert_eq!(
        code(&["explain", "--policies", "policies", "--alb", "GET", "/"]),
        1
    );
    assert_eq!(
        code(&[
            "explain",
            "--policies",
            "policies",
            "--token",
            "x",
            "--user",
            "a@b.c",
            "GET",
            "/"
        ]),
        1
    );
    let (c, text) = run(&[
        "explain",
        "--policies",
        "policies",
        "--token",
        "x",
        "--now",
        "yesterday",
        "GET",
        "/",
    ]);
    assert_eq!(c, 1);
    assert!(text.contains("--now"), "{text}");
    let (c, text) = run(&[
        "explain",
        "--policies",
        "policies",
        "--token-file",
        "no/such.jwt",
        "GET",
        "/",
    ]);
    assert_eq!(c, 1);
    assert!(text.contains("cannot read `no/such.jwt`"), "{text}");
}

#[test]
fn explain_says_where_a_key_comes_from_and_what_the_gateway_does_with_a_new_kid() {
    let pem = std::fs::read_to_string(root().join("testdata/keys/cognito-rsa.key.pem")).unwrap();
    let claims = json!({"iss": "https://dex.example.com", "aud": "kubeflow-oidc-authservice",
        "email": "alice@example.com", "email_verified": true, "iat": 1_800_000_000u64,
        "exp": 1_800_000_600u64});
    let token = sign_jwt(
        &SigningKey::from_pem(&pem).unwrap(),
        "RS256",
        &json!({"kid": "dex-rotated"}),
        &claims,
    )
    .unwrap();
    let (c, text) = run(&[
        "explain",
        "--policies",
        "policies",
        "--now",
        "1800000100",
        "--token",
        &token,
        "GET",
        "/notebook/alice/nb/",
    ]);
    assert_eq!(c, 3, "{text}");
    assert!(text.contains("FAILED: kid (unknown_kid)"), "{text}");
    assert!(
        text.contains("not compiled; in the gateway the request waits (at most 1500 ms)"),
        "{text}"
    );
    assert!(text.contains("https://dex.example.com/keys"), "{text}");
    assert!(!text.contains(&token), "never echoes the token");
}

/// Explains a Dex-keyed bearer token with this header and these claims at `NOW`.
fn explain_dex(header: serde_json::Value, claims: serde_json::Value) -> String {
    let pem = std::fs::read_to_string(root().join("testdata/keys/dex-rsa.key.pem")).unwrap();
    let token = sign_jwt(
        &SigningKey::from_pem(&pem).unwrap(),
        "RS256",
        &header,
        &claims,
    )
    .unwrap();
    let now = NOW.to_string();
    let (_, text) = run(&[
        "explain",
        "--policies",
        "policies",
        "--now",
        &now,
        "--token",
        &token,
        "GET",
        "/notebook/alice/nb/",
    ]);
    text
}

#[test]
fn explain_shows_the_steps_the_verifier_ran_and_stops_where_it_stopped() {
    let claims = json!({"iss": "https://dex.example.com", "aud": "kubeflow-oidc-authservice",
        "email": "alice@example.com", "email_verified": true, "iat": NOW - 10, "exp": NOW + 600});
    // `crit` is refused before the issuer or the key is looked at.
    let text = explain_dex(json!({"kid": "dex-1", "crit": ["exp"]}), claims.clone());
    assert!(
        text.contains("passed: authorization header, format, alg\n"),
        "{text}"
    );
    assert!(
        text.contains("FAILED: crit (unsupported_critical)"),
        "{text}"
    );
    // A claim of the wrong type after the signature keeps the steps that passed before it.
    let mut bad_exp = claims;
    bad_exp["exp"] = json!("soon");
    let text = explain_dex(json!({"kid": "dex-1"}), bad_exp);
    assert!(
        text.contains("passed: authorization header, format, alg, crit, payload, iss, issuer alg, kid, key type, signature\n"),
        "{text}"
    );
    assert!(text.contains("FAILED: exp (token_malformed)"), "{text}");
}
