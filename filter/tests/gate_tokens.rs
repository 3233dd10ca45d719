//! The request path with real tokens (minted from `testdata/keys`): the verified-token cache
//! saves the second signature check, re-checks expiry on every hit, and a reload empties it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{engine_json, MockHost};
use gatehouse_filter::gate::{Filter, Outcome};
use gatehouse_filter::token::mint::{sign_jwt, SigningKey};
use gatehouse_filter::DenyReason;
use serde_json::json;

const NOW: u64 = 1_800_000_000;

fn table_with_dex() -> String {
    table_with_dex_retiring(None)
}

/// The test table with Dex's key `dex-1`, retired at `not_after` when set.
fn table_with_dex_retiring(not_after: Option<u64>) -> String {
    let mut t: serde_json::Value = serde_json::from_str(&engine_json()).unwrap();
    let jwks: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../testdata/keys/dex.jwks.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let k = &jwks["keys"][0];
    t["issuers"] = json!([{"type": "jwt", "name": "dex", "issuer": "https://dex.example.com",
        "audiences": ["kubeflow"], "algorithms": ["RS256"], "user_claim": "email",
        "groups_claim": "groups", "groups_prefix": "", "max_lifetime_seconds": null,
        "keys": [{"kid": "dex-1", "jwk": {"kty": "RSA", "n": k["n"], "e": k["e"]}, "source": "dex.jwks.json", "not_after": not_after}]}]);
    t.to_string()
}

fn token(email: &str, exp: u64) -> String {
    token_with(email, NOW - 10, exp)
}

fn token_with(email: &str, iat: u64, exp: u64) -> String {
    let pem = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testdata/keys/dex-rsa.key.pem"
    ))
    .unwrap();
    let key = SigningKey::from_pem(&pem).unwrap();
    sign_jwt(
        &key,
        "RS256",
        &json!({"kid": "dex-1"}),
        &json!({"iss": "https://dex.example.com", "aud": "kubeflow", "email": email, "email_verified": true, "groups": ["g"], "iat": iat, "exp": exp}),
    )
    .unwrap()
}

fn request(f: &mut Filter, token: &str, now: u64) -> (Outcome, MockHost) {
    let auth = format!("Bearer {token}");
    let mut host = MockHost::new(&[
        (":method", "GET"),
        (":path", "/notebook/team-a/nb/"),
        ("authorization", &auth),
    ]);
    host.now = now;
    let out = f.on_request(&mut host);
    (out, host)
}

#[test]
fn second_request_hits_the_cache_and_expiry_is_rechecked() {
    let mut f = Filter::default();
    f.configure(Some(table_with_dex().as_bytes())).unwrap();
    let t = token("alice@example.com", NOW + 60);

    let (out, host) = request(&mut f, &t, NOW);
    assert_eq!(out, Outcome::Continue);
    assert!(host.counters.contains(&"gatehouse.token_cache.miss".into()));
    assert_eq!(
        host.header("kubeflow-userid").as_deref(),
        Some("alice@example.com")
    );
    assert_eq!(host.header("kubeflow-groups").as_deref(), Some("g"));
    assert_eq!(f.cached_tokens(), 1);

    let (out, host) = request(&mut f, &t, NOW + 1);
    assert_eq!(out, Outcome::Continue);
    assert!(host.counters.contains(&"gatehouse.token_cache.hit".into()));
    assert!(!host.counters.contains(&"gatehouse.token_cache.miss".into()));

    // Past exp + leeway (30 s in the test table) the cached entry no longer counts.
    let (out, host) = request(&mut f, &t, NOW + 60 + 31);
    assert_eq!(out, Outcome::Denied(DenyReason::TokenExpired));
    assert!(host.counters.contains(&"gatehouse.token_cache.miss".into()));
    assert_eq!(host.response.unwrap().0, 401);
}

#[test]
fn a_cached_user_is_still_judged_per_namespace_and_reload_empties_the_cache() {
    let mut f = Filter::default();
    f.configure(Some(table_with_dex().as_bytes())).unwrap();
    let bob = token("bob@example.com", NOW + 600);
    let (out, _) = request(&mut f, &bob, NOW);
    assert_eq!(out, Outcome::Denied(DenyReason::NotPermitted));
    assert_eq!(
        f.cached_tokens(),
        1,
        "a verified identity is cached even when not permitted"
    );
    let (out, host) = request(&mut f, &bob, NOW);
    assert_eq!(out, Outcome::Denied(DenyReason::NotPermitted));
    assert_eq!(host.response.unwrap().0, 403);

    f.configure(Some(table_with_dex().as_bytes())).unwrap();
    assert_eq!(f.cached_tokens(), 0);
}

#[test]
fn a_forged_token_is_never_cached() {
    let mut f = Filter::default();
    f.configure(Some(table_with_dex().as_bytes())).unwrap();
    let good = token("alice@example.com", NOW + 600);
    let (head, _) = good.rsplit_once('.').unwrap();
    let forged = format!("{head}.AAAA");
    for _ in 0..2 {
        let (out, host) = request(&mut f, &forged, NOW);
        assert_eq!(out, Outcome::Denied(DenyReason::BadSignature));
        assert!(host
            .counters
            .contains(&"gatehouse.verify_failed.dex".into()));
        assert!(
            !host.logs.iter().any(|l| l.contains(&forged)),
            "token in a log line"
        );
    }
    assert_eq!(f.cached_tokens(), 0);
}

#[test]
fn a_retired_key_stops_its_cached_tokens_at_once() {
    let mut f = Filter::default();
    f.configure(Some(table_with_dex_retiring(Some(NOW + 100)).as_bytes()))
        .unwrap();
    let t = token("alice@example.com", NOW + 3600);
    let (out, _) = request(&mut f, &t, NOW);
    assert_eq!(out, Outcome::Continue);
    let (out, host) = request(&mut f, &t, NOW + 100);
    assert_eq!(out, Outcome::Continue);
    assert!(host.counters.contains(&"gatehouse.token_cache.hit".into()));
    // Past the key's `not_after` the cached verification no longer counts, though the
    // token's own `exp` is an hour away.
    let (out, host) = request(&mut f, &t, NOW + 101);
    assert_eq!(out, Outcome::Denied(DenyReason::UnknownKid));
    assert!(!host.counters.contains(&"gatehouse.token_cache.hit".into()));
    assert_eq!(host.response.unwrap().0, 401);
    assert_eq!(f.cached_tokens(), 0, "the stale entry is dropped");
}

#[test]
fn an_issuer_without_a_maximum_lifetime_gets_a_day() {
    let mut f = Filter::default();
    f.configure(Some(table_with_dex().as_bytes())).unwrap();
    // `max_lifetime_seconds` is null in the table: the default (one day) holds.
    let day = gatehouse_filter::table::DEFAULT_MAX_LIFETIME_SECONDS;
    let (out, _) = request(
        &mut f,
        &token_with("alice@example.com", NOW, NOW + day),
        NOW,
    );
    assert_eq!(out, Outcome::Continue);
    for forever in [NOW + day + 1, u64::MAX] {
        let (out, _) = request(&mut f, &token_with("alice@example.com", NOW, forever), NOW);
        assert_eq!(
            out,
            Outcome::Denied(DenyReason::LifetimeTooLong),
            "{forever}"
        );
    }
}
