//! The request path with live keys: a token signed with a key the table does not hold is held
//! while its issuer's keys are fetched, then decided again; a key the issuer withdrew stops
//! verifying, cached tokens included; ALB kids are fetched only for configured signers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{engine_json, MockHost};
use gatehouse_filter::gate::{Filter, Held, Outcome};
use gatehouse_filter::token::mint::{sign_jwt, SigningKey};
use gatehouse_filter::DenyReason;
use serde_json::{json, Value};

const NOW: u64 = 1_800_000_000;
const DEX_CLUSTER: &str = "outbound|443||dex.example.com";
const SIGNER: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/kubeflow/50dc6c495c0c9188";
const ALB_KID: &str = "0e1a3f9c-1b2c-4d5e-8f90-a1b2c3d4e5f6";

fn read(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/../testdata/keys/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// The public JWK of a test JWKS file's first key, under `kid`.
fn jwk(file: &str, kid: &str) -> Value {
    let jwks: Value = serde_json::from_str(&read(file)).unwrap();
    let k = &jwks["keys"][0];
    json!({"kty": "RSA", "kid": kid, "n": k["n"], "e": k["e"]})
}

/// A table whose Dex issuer has the seed key `dex-1` and fetches `https://dex.example.com/keys`,
/// and whose ALB issuer has no seed key of the fetched kid and fetches by kid.
fn table() -> String {
    let mut t: Value = serde_json::from_str(&engine_json()).unwrap();
    let seed = jwk("dex.jwks.json", "dex-1");
    let alb_seed: Value = serde_json::from_str(
        &serde_json::to_string(
            &gatehouse_filter::token::keys::jwk_from_pem(&read("alb-1.pem")).unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    t["issuers"] = json!([
        {"type": "jwt", "name": "dex", "issuer": "https://dex.example.com",
         "audiences": ["kubeflow"], "algorithms": ["RS256"], "user_claim": "email",
         "groups_claim": "groups", "groups_prefix": "", "max_lifetime_seconds": null,
         "keys": [{"kid": "dex-1", "jwk": {"kty": "RSA", "n": seed["n"], "e": seed["e"]},
                   "source": "dex.jwks.json", "not_after": null}],
         "key_fetch": {"url": "https://dex.example.com/keys", "cluster": DEX_CLUSTER}},
        {"type": "alb", "name": "alb", "region": "us-east-1", "signers": [SIGNER],
         "issuer": null, "client": null, "user_claim": "email",
         "keys": [{"kid": "alb-1", "jwk": alb_seed, "source": "alb-1.pem", "not_after": null}],
         "key_fetch": {"url": "https://public-keys.auth.elb.us-east-1.amazonaws.com/",
                       "cluster": "outbound|443||public-keys.auth.elb.us-east-1.amazonaws.com"}}
    ]);
    t.to_string()
}

fn dex_token(kid: &str, key_file: &str, email: &str) -> String {
    let key = SigningKey::from_pem(&read(key_file)).unwrap();
    sign_jwt(
        &key,
        "RS256",
        &json!({"kid": kid}),
        &json!({"iss": "https://dex.example.com", "aud": "kubeflow", "email": email,
                "email_verified": true, "iat": NOW - 10, "exp": NOW + 600}),
    )
    .unwrap()
}

fn alb_token(kid: &str, signer: &str) -> String {
    let key = SigningKey::from_pem(&read("alb-1.key.pem")).unwrap();
    sign_jwt(
        &key,
        "ES256",
        &json!({"kid": kid, "signer": signer, "exp": NOW + 60}),
        &json!({"email": "alice@example.com", "email_verified": "true", "exp": NOW + 60}),
    )
    .unwrap()
}

fn host(header: (&str, &str), context_id: u32, now: u64) -> MockHost {
    let mut h = MockHost::new(&[(":method", "GET"), (":path", "/home"), header]);
    h.now = now;
    h.context_id = context_id;
    h
}

fn bearer(token: &str, context_id: u32, now: u64) -> MockHost {
    host(
        ("authorization", &format!("Bearer {token}")),
        context_id,
        now,
    )
}

fn loaded() -> Filter {
    let mut f = Filter::default();
    f.configure(Some(table().as_bytes())).unwrap();
    f
}

/// Answers the refresher's fetch `token` with a JWKS of these keys.
fn answer_jwks(f: &mut Filter, token: u32, keys: &[Value], now: u64) -> MockHost {
    let mut root = MockHost::new(&[]);
    let body = json!({ "keys": keys }).to_string();
    let headers = [("cache-control".to_string(), "max-age=600".to_string())];
    f.on_fetch_response(token, 200, &headers, body.as_bytes(), now * 1000, &mut root);
    root
}

fn held(outcome: Outcome) -> Held {
    match outcome {
        Outcome::Held(h) => *h,
        other => panic!("expected the request to be held, got {other:?}"),
    }
}

#[test]
fn a_new_dex_key_holds_the_request_fetches_once_and_then_allows_it() {
    let mut f = loaded();
    let token = dex_token("dex-2", "cognito-rsa.key.pem", "alice@example.com");
    let mut h = bearer(&token, 11, NOW);
    let waiting = held(f.on_request(&mut h));
    assert_eq!(waiting.issuer.as_deref(), Some("dex"));
    assert_eq!(
        h.fetches,
        vec![(
            DEX_CLUSTER.to_string(),
            "dex.example.com".to_string(),
            "/keys".to_string()
        )]
    );
    assert!(h.response.is_none(), "a held request is not answered");
    assert!(
        h.header("kubeflow-userid").is_none(),
        "nothing is set before it is decided"
    );

    // A second request with the same new kid joins the same fetch.
    let mut h2 = bearer(&token, 12, NOW);
    let waiting2 = held(f.on_request(&mut h2));
    assert!(
        h2.fetches.is_empty(),
        "one fetch per issuer, whatever the traffic"
    );

    let root = answer_jwks(
        &mut f,
        1,
        &[
            jwk("dex.jwks.json", "dex-1"),
            jwk("cognito.jwks.json", "dex-2"),
        ],
        NOW,
    );
    assert_eq!(root.resumed, vec![11, 12]);
    assert!(root
        .logs
        .iter()
        .any(|l| l.contains("keys_changed") && l.contains("dex-2")));

    let mut again = host(("x-ignored", ""), 11, NOW);
    assert_eq!(f.on_resumed(waiting, &mut again), Outcome::Continue);
    assert_eq!(
        again.header("kubeflow-userid").as_deref(),
        Some("alice@example.com")
    );
    assert!(again
        .counters
        .contains(&"gatehouse.keys.dex.held_allowed".to_string()));
    let mut again2 = host(("x-ignored", ""), 12, NOW);
    assert_eq!(f.on_resumed(waiting2, &mut again2), Outcome::Continue);

    // From now on the new key verifies from memory: no hold, no fetch.
    let mut h3 = bearer(&token, 13, NOW);
    assert_eq!(f.on_request(&mut h3), Outcome::Continue);
    assert!(h3.fetches.is_empty());
}

#[test]
fn a_kid_still_unknown_after_the_fetch_is_refused_and_not_held_again() {
    let mut f = loaded();
    let token = dex_token("dex-9", "cognito-rsa.key.pem", "alice@example.com");
    let waiting = held(f.on_request(&mut bearer(&token, 21, NOW)));
    let root = answer_jwks(&mut f, 1, &[jwk("dex.jwks.json", "dex-1")], NOW);
    assert_eq!(root.resumed, vec![21]);
    let mut again = host(("x-ignored", ""), 21, NOW);
    assert_eq!(
        f.on_resumed(waiting, &mut again),
        Outcome::Denied(DenyReason::UnknownKid)
    );
    assert_eq!(again.response.as_ref().map(|r| r.0), Some(401));
    assert!(again
        .counters
        .contains(&"gatehouse.keys.dex.held_denied".to_string()));
    assert!(again.fetches.is_empty());

    // Within the refetch interval, the same unknown kid gets its answer at once.
    let mut h = bearer(&token, 22, NOW + 5);
    assert_eq!(
        f.on_request(&mut h),
        Outcome::Denied(DenyReason::UnknownKid)
    );
    assert!(h.fetches.is_empty());
    assert!(h
        .counters
        .contains(&"gatehouse.keys.dex.refetch_limited".to_string()));
}

#[test]
fn a_key_the_issuer_withdrew_stops_verifying_cached_tokens_included() {
    let mut f = loaded();
    let token = dex_token("dex-1", "dex-rsa.key.pem", "alice@example.com");
    // Verified with the seed key, and cached.
    assert_eq!(
        f.on_request(&mut bearer(&token, 31, NOW)),
        Outcome::Continue
    );
    assert_eq!(f.cached_tokens(), 1);

    // The first tick fetches; the issuer now publishes only dex-2.
    let mut root = MockHost::new(&[]);
    f.on_tick(NOW * 1000, &mut root);
    assert_eq!(root.fetches.len(), 1);
    let root = answer_jwks(&mut f, 1, &[jwk("cognito.jwks.json", "dex-2")], NOW);
    assert!(root
        .logs
        .iter()
        .any(|l| l.contains("keys_changed") && l.contains("\"removed\":[\"dex-1\"]")));

    let mut h = bearer(&token, 32, NOW + 1);
    assert_eq!(
        f.on_request(&mut h),
        Outcome::Denied(DenyReason::UnknownKid)
    );
    assert!(h.fetches.is_empty(), "a withdrawn key is not fetched for");
    assert!(
        h.logs.iter().any(|l| l.contains("withdrawn")),
        "{:?}",
        h.logs
    );
}

#[test]
fn alb_kids_are_fetched_by_kid_only_for_configured_signers() {
    let mut f = loaded();
    let foreign = "arn:aws:elasticloadbalancing:us-east-1:999999999999:loadbalancer/app/x/1";
    let mut h = host(("x-amzn-oidc-data", &alb_token(ALB_KID, foreign)), 41, NOW);
    assert_eq!(
        f.on_request(&mut h),
        Outcome::Denied(DenyReason::UnknownKid)
    );
    assert!(h.fetches.is_empty(), "a foreign signer causes no fetch");

    let mut h = host(
        ("x-amzn-oidc-data", &alb_token("not-a-uuid", SIGNER)),
        42,
        NOW,
    );
    assert_eq!(
        f.on_request(&mut h),
        Outcome::Denied(DenyReason::UnknownKid)
    );
    assert!(
        h.fetches.is_empty(),
        "a kid that is not a UUID is never put in a path"
    );

    let token = alb_token(ALB_KID, SIGNER);
    let mut h = host(("x-amzn-oidc-data", &token), 43, NOW);
    let waiting = held(f.on_request(&mut h));
    assert_eq!(
        h.fetches,
        vec![(
            "outbound|443||public-keys.auth.elb.us-east-1.amazonaws.com".to_string(),
            "public-keys.auth.elb.us-east-1.amazonaws.com".to_string(),
            format!("/{ALB_KID}")
        )]
    );
    let mut root = MockHost::new(&[]);
    f.on_fetch_response(
        1,
        200,
        &[],
        read("alb-1.pem").as_bytes(),
        NOW * 1000,
        &mut root,
    );
    assert_eq!(root.resumed, vec![43]);
    let mut again = host(("x-ignored", ""), 43, NOW);
    assert_eq!(f.on_resumed(waiting, &mut again), Outcome::Continue);
    assert_eq!(
        again.header("kubeflow-userid").as_deref(),
        Some("alice@example.com")
    );
    // The verified header is passed on, from the held request's own headers.
    assert_eq!(
        again.header("x-amzn-oidc-data").as_deref(),
        Some(token.as_str())
    );

    // Verified from memory from now on.
    let mut h = host(("x-amzn-oidc-data", &token), 44, NOW);
    assert_eq!(f.on_request(&mut h), Outcome::Continue);
    assert!(h.fetches.is_empty());
}

#[test]
fn a_reload_lets_held_requests_go_to_be_decided_with_the_new_table() {
    let mut f = loaded();
    let token = dex_token("dex-2", "cognito-rsa.key.pem", "alice@example.com");
    let waiting = held(f.on_request(&mut bearer(&token, 51, NOW)));
    f.configure(Some(table().as_bytes())).unwrap();
    assert_eq!(f.take_released(), vec![51]);
    let mut again = host(("x-ignored", ""), 51, NOW);
    assert_eq!(
        f.on_resumed(waiting, &mut again),
        Outcome::Denied(DenyReason::UnknownKid)
    );
}

#[test]
fn a_table_without_key_urls_has_no_live_keys_and_never_holds() {
    let mut t: Value = serde_json::from_str(&table()).unwrap();
    for i in t["issuers"].as_array_mut().unwrap() {
        i.as_object_mut().unwrap().remove("key_fetch");
    }
    let mut f = Filter::default();
    f.configure(Some(t.to_string().as_bytes())).unwrap();
    assert!(f.live().is_none());
    let token = dex_token("dex-2", "cognito-rsa.key.pem", "alice@example.com");
    let mut h = bearer(&token, 61, NOW);
    assert_eq!(
        f.on_request(&mut h),
        Outcome::Denied(DenyReason::UnknownKid)
    );
    assert!(h.fetches.is_empty());
}

#[test]
fn a_table_with_a_bad_key_url_is_refused_and_names_the_issuer() {
    let mut t: Value = serde_json::from_str(&table()).unwrap();
    t["issuers"][0]["key_fetch"]["url"] = json!("http://dex.example.com/keys");
    let mut f = Filter::default();
    let e = f.configure(Some(t.to_string().as_bytes())).unwrap_err();
    assert!(
        e.contains("issuer `dex`") && e.contains("in-cluster"),
        "{e}"
    );
}

#[test]
fn a_reload_keeps_the_live_keys_so_a_withdrawn_seed_key_stays_withdrawn() {
    let mut f = loaded();
    let mut root = MockHost::new(&[]);
    f.on_tick(NOW * 1000, &mut root);
    answer_jwks(&mut f, 1, &[jwk("cognito.jwks.json", "dex-2")], NOW);
    let seed_token = dex_token("dex-1", "dex-rsa.key.pem", "alice@example.com");
    let new_token = dex_token("dex-2", "cognito-rsa.key.pem", "alice@example.com");

    // A new table (same issuers, same key URLs): e.g. a RoleBinding added.
    f.configure(Some(table().as_bytes())).unwrap();
    let mut h = bearer(&seed_token, 71, NOW + 1);
    assert_eq!(
        f.on_request(&mut h),
        Outcome::Denied(DenyReason::UnknownKid)
    );
    let mut h = bearer(&new_token, 72, NOW + 1);
    assert_eq!(f.on_request(&mut h), Outcome::Continue);
    assert!(h.fetches.is_empty(), "nothing refetched for the reload");
    let mut root = MockHost::new(&[]);
    f.on_tick((NOW + 1) * 1000, &mut root);
    assert!(root.fetches.is_empty(), "the refresh schedule carries over");

    // A table whose Dex fetches elsewhere starts from its seed.
    let mut t: Value = serde_json::from_str(&table()).unwrap();
    t["issuers"][0]["key_fetch"]["url"] = json!("https://dex.example.com/dex/keys");
    f.configure(Some(t.to_string().as_bytes())).unwrap();
    let mut h = bearer(&seed_token, 73, NOW + 2);
    assert_eq!(f.on_request(&mut h), Outcome::Continue);
}
