//! The request path with real tokens (minted from `testdata/keys`): the verified-token cache
//! saves the second signature check, re-checks expiry on every hit, and a reload empties it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{dex_jwk, engine_json, MockHost};
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
    t["issuers"] = json!([{"type": "jwt", "name": "dex", "issuer": "https://dex.example.com",
        "audiences": ["kubeflow"], "algorithms": ["RS256"], "user_claim": "email",
        "groups_claim": "groups", "groups_prefix": "", "max_lifetime_seconds": null,
        "keys": [{"kid": "dex-1", "jwk": dex_jwk(), "source": "dex.jwks.json", "not_after": not_after}]}]);
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

/// Two workers of one proxy: their hosts share one shared-data map.
fn on_worker(
    f: &mut Filter,
    token: &str,
    shared: &std::rc::Rc<std::cell::RefCell<std::collections::HashMap<String, Vec<u8>>>>,
) -> (Outcome, MockHost) {
    let auth = format!("Bearer {token}");
    let mut host = MockHost::new(&[
        (":method", "GET"),
        (":path", "/notebook/team-a/nb/"),
        ("authorization", &auth),
    ]);
    host.now = NOW;
    host.shared = shared.clone();
    let out = f.on_request(&mut host);
    (out, host)
}

#[test]
fn a_token_verified_on_one_worker_is_not_verified_again_on_another() {
    let shared = std::rc::Rc::new(std::cell::RefCell::new(std::collections::HashMap::new()));
    let mut workers: Vec<Filter> = (0..4).map(|_| Filter::default()).collect();
    for w in &mut workers {
        w.configure(Some(table_with_dex().as_bytes())).unwrap();
    }
    let t = token("alice@example.com", NOW + 60);
    let mut misses = 0;
    let mut shared_hits = 0;
    for w in &mut workers {
        let (out, host) = on_worker(w, &t, &shared);
        assert_eq!(out, Outcome::Continue);
        assert_eq!(
            host.header("kubeflow-userid").as_deref(),
            Some("alice@example.com")
        );
        misses += host
            .counters
            .iter()
            .filter(|c| *c == "gatehouse.token_cache.miss")
            .count();
        shared_hits += host
            .counters
            .iter()
            .filter(|c| *c == "gatehouse.token_cache.shared_hit")
            .count();
    }
    assert_eq!(
        (misses, shared_hits),
        (1, 3),
        "one signature check for the proxy"
    );
    // No token text in the shared data: only the secret and the slot.
    let text: Vec<String> = shared
        .borrow()
        .values()
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect();
    assert!(text.iter().all(|v| !v.contains(&t[..40])), "{text:?}");

    // A slot holding anything but this token's entry is a miss: the token is verified again.
    let slots: Vec<String> = shared
        .borrow()
        .keys()
        .filter(|k| k.starts_with("gatehouse.cache.") && *k != "gatehouse.cache.secret")
        .cloned()
        .collect();
    assert_eq!(slots.len(), 1);
    for garbage in [b"not json".to_vec(), vec![b'{'; 20_000]] {
        shared.borrow_mut().insert(slots[0].clone(), garbage);
        let mut fresh = Filter::default();
        fresh.configure(Some(table_with_dex().as_bytes())).unwrap();
        let (out, host) = on_worker(&mut fresh, &t, &shared);
        assert_eq!(out, Outcome::Continue);
        assert!(host.counters.contains(&"gatehouse.token_cache.miss".into()));
    }
    let mut later = Filter::default();
    later
        .configure(Some(table_with_dex_retiring(Some(NOW + 3600)).as_bytes()))
        .unwrap();
    let (out, host) = on_worker(&mut later, &t, &shared);
    assert_eq!(out, Outcome::Continue);
    assert!(
        host.counters.contains(&"gatehouse.token_cache.miss".into()),
        "another table: verified again"
    );
    assert_eq!(
        host.header("kubeflow-userid").as_deref(),
        Some("alice@example.com")
    );
    let mut expired = Filter::default();
    expired
        .configure(Some(table_with_dex().as_bytes()))
        .unwrap();
    let auth = format!("Bearer {t}");
    let mut h = MockHost::new(&[
        (":method", "GET"),
        (":path", "/notebook/team-a/nb/"),
        ("authorization", &auth),
    ]);
    h.now = NOW + 3600;
    h.shared = shared.clone();
    assert_eq!(
        expired.on_request(&mut h),
        Outcome::Denied(DenyReason::TokenExpired)
    );
}
