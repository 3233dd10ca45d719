//! ALB issuers: one PEM per kid, UUID kids only, a fetch budget, a negative cache.

use super::*;

const KID: &str = "4a6bd4b5-2c3e-4f8a-9d1e-0123456789ab";

#[test]
fn a_new_kid_is_fetched_once_then_known() {
    let mut w = World::new();
    assert_eq!(w.unknown(ALB, KID, 1), UnknownKid::Hold);
    assert_eq!(
        w.unknown(ALB, KID, 2),
        UnknownKid::Hold,
        "one fetch per kid"
    );
    assert_eq!(w.host.fetches.len(), 1);
    let f = &w.host.fetches[0];
    assert_eq!(f.path, format!("/{KID}"));
    assert_eq!(f.cluster, "alb-keys");
    assert_eq!(f.authority, "public-keys.auth.elb.us-east-1.amazonaws.com");
    w.advance(40);
    let token = w.last_token();
    w.answer(token, 200, &[], key_file!("alb-1.pem").as_bytes());
    assert_eq!(w.host.resumed, vec![1, 2]);
    assert!(w.refresh.key(ALB, Some(KID)).is_some());
    assert_eq!(w.refresh.kids(ALB), vec![KID.to_owned()]);
    assert_eq!(
        w.unknown(ALB, KID, 3),
        UnknownKid::Refuse,
        "known now: decided at once"
    );
    assert_eq!(w.host.fetches.len(), 1);
    assert_eq!(w.count(ALB, "refresh_ok"), 1);
    assert_eq!(w.count(ALB, "refetch_unknown_kid"), 1);
    assert!(!w.refresh.is_authoritative(ALB));
    let line: Value = serde_json::from_str(&w.host.logs[0].1).unwrap_or(Value::Null);
    assert_eq!(line["gatehouse"], "keys_changed");
    assert_eq!(line["added"], json!([KID]));
}

#[test]
fn alb_issuers_are_not_refreshed_on_a_schedule() {
    let mut w = World::new();
    w.tick();
    let dex_only = w.host.fetches.iter().all(|f| f.path == "/dex/keys");
    assert!(dex_only);
    w.advance(10 * 3_600_000);
    w.tick();
    assert!(w.host.fetches.iter().all(|f| f.path == "/dex/keys"));
}

#[test]
fn kids_that_are_not_uuids_are_never_fetched() {
    let mut w = World::new();
    let bad = [
        "alb-1",
        "../../etc/passwd",
        "4a6bd4b5-2c3e-4f8a-9d1e-0123456789a?",
        "4a6bd4b5-2c3e-4f8a-9d1e-0123456789abc",
        "4a6bd4b5-2c3e-4f8a-9d1e-0123456789a",
        "4a6bd4b52c3e-4f8a-9d1e-0123456789ab-",
        "4a6bd4b5-2c3e-4f8a-9d1e-0123456789a/",
        "",
        "https://evil.example.com/key",
    ];
    for (i, kid) in bad.iter().enumerate() {
        assert_eq!(w.unknown(ALB, kid, i as u32), UnknownKid::Refuse, "{kid}");
    }
    assert!(w.host.fetches.is_empty());
    assert_eq!(w.count(ALB, "kid_refused"), bad.len() as u32);
    assert_eq!(w.unknown(ALB, &KID.to_uppercase(), 99), UnknownKid::Hold);
}

#[test]
fn a_storm_of_random_kids_costs_a_bounded_number_of_fetches() {
    let mut w = World::new();
    // 1,000 random kids over 100 s; every fetch the endpoint answers 404 after 20 ms.
    for (i, kid) in random_uuids(1000, 0x9e37_79b9_7f4a_7c15).iter().enumerate() {
        w.advance(100);
        let before = w.host.fetches.len();
        let _ = w.unknown(ALB, kid, i as u32);
        if w.host.fetches.len() > before {
            w.advance(20);
            let token = w.last_token();
            w.answer(token, 404, &[], b"");
        }
        w.tick();
    }
    let alb_fetches = w
        .host
        .fetches
        .iter()
        .filter(|f| f.path != "/dex/keys")
        .count();
    // At most 4 per 30 s window: 4 windows began in 100 s.
    assert!(alb_fetches <= 16, "{alb_fetches} fetches");
    assert_eq!(alb_fetches, 16);
    assert_eq!(w.count(ALB, "refetch_limited"), 1000 - 16);
    assert_eq!(w.count(ALB, "kid_not_found"), 16);
    assert!(w.refresh.kids(ALB).is_empty());
}

#[test]
fn concurrent_kid_fetches_are_bounded_even_when_none_answers() {
    let mut w = World::new();
    let kids = random_uuids(10, 7);
    let answers: Vec<UnknownKid> = kids
        .iter()
        .enumerate()
        .map(|(i, k)| w.unknown(ALB, k, i as u32))
        .collect();
    assert_eq!(w.host.fetches.len(), 4);
    assert_eq!(
        answers.iter().filter(|a| **a == UnknownKid::Hold).count(),
        4
    );
}

#[test]
fn a_missing_kid_is_not_fetched_again_within_the_interval() {
    for status in [404, 403] {
        let mut w = World::new();
        assert_eq!(w.unknown(ALB, KID, 1), UnknownKid::Hold);
        let token = w.last_token();
        w.answer(token, status, &[], b"<Error>NoSuchKey</Error>");
        assert_eq!(w.host.resumed, vec![1], "let go at once: 401");
        assert_eq!(w.count(ALB, "kid_not_found"), 1);
        w.advance(29_999);
        assert_eq!(w.unknown(ALB, KID, 2), UnknownKid::Refuse);
        assert_eq!(w.host.fetches.len(), 1, "{status}: negatively cached");
        w.advance(1);
        assert_eq!(w.unknown(ALB, KID, 3), UnknownKid::Hold);
        assert_eq!(
            w.host.fetches.len(),
            2,
            "{status}: fetched again after the interval"
        );
    }
}

#[test]
fn a_transient_failure_is_not_negatively_cached() {
    let mut w = World::new();
    assert_eq!(w.unknown(ALB, KID, 1), UnknownKid::Hold);
    let token = w.last_token();
    w.answer(token, 503, &[], b"");
    assert_eq!(w.count(ALB, "refresh_failed"), 1);
    assert_eq!(
        w.unknown(ALB, KID, 2),
        UnknownKid::Hold,
        "budget allows a retry"
    );
    assert_eq!(w.host.fetches.len(), 2);
}

#[test]
fn unusable_pems_are_refused() {
    let oversized = "A".repeat(256 * 1024 + 1);
    let bodies: Vec<(&str, &[u8])> = vec![
        ("rsa key", key_file!("dex-rsa.pem").as_bytes()),
        ("p-384 key", key_file!("extra-es384.pem").as_bytes()),
        ("ed25519 key", key_file!("extra-ed25519.pem").as_bytes()),
        ("private key", key_file!("alb-1.key.pem").as_bytes()),
        ("jwks", key_file!("dex.jwks.json").as_bytes()),
        ("garbage", &[0xff, 0x00, 0x2d]),
        ("oversized", oversized.as_bytes()),
    ];
    for (what, body) in bodies {
        let mut w = World::new();
        assert_eq!(w.unknown(ALB, KID, 1), UnknownKid::Hold);
        let token = w.last_token();
        w.answer(token, 200, &[], body);
        assert!(w.refresh.key(ALB, Some(KID)).is_none(), "{what}");
        assert_eq!(w.count(ALB, "refresh_failed"), 1, "{what}");
        assert_eq!(w.host.resumed, vec![1], "{what}");
        assert_eq!(
            w.unknown(ALB, KID, 2),
            UnknownKid::Refuse,
            "{what}: not refetched"
        );
    }
}

#[test]
fn fetched_alb_keys_are_bounded_oldest_out() {
    let bounds = RefreshBounds {
        max_alb_keys: 2,
        max_kid_fetches: 10,
        ..RefreshBounds::default()
    };
    let mut w = World::with(bounds);
    let kids = random_uuids(3, 11);
    for (i, kid) in kids.iter().enumerate() {
        assert_eq!(w.unknown(ALB, kid, i as u32), UnknownKid::Hold);
        let token = w.last_token();
        w.answer(token, 200, &[], key_file!("alb-1.pem").as_bytes());
    }
    assert!(w.refresh.key(ALB, Some(&kids[0])).is_none());
    assert!(w.refresh.key(ALB, Some(&kids[1])).is_some());
    assert!(w.refresh.key(ALB, Some(&kids[2])).is_some());
    let line: Value = serde_json::from_str(&w.host.logs[2].1).unwrap_or(Value::Null);
    assert_eq!(line["removed"], json!([kids[0]]));
}

#[test]
fn the_negative_cache_is_bounded_oldest_out() {
    let bounds = RefreshBounds {
        max_negative_kids: 2,
        max_kid_fetches: 10,
        ..RefreshBounds::default()
    };
    let mut w = World::with(bounds);
    let kids = random_uuids(3, 5);
    for (i, kid) in kids.iter().enumerate() {
        assert_eq!(w.unknown(ALB, kid, i as u32), UnknownKid::Hold);
        let token = w.last_token();
        w.answer(token, 404, &[], b"");
    }
    assert_eq!(
        w.unknown(ALB, &kids[0], 10),
        UnknownKid::Hold,
        "evicted: may be fetched"
    );
    assert_eq!(
        w.unknown(ALB, &kids[2], 11),
        UnknownKid::Refuse,
        "still cached"
    );
}
