//! JWKS issuers: scheduled refresh, rotation, unknown kids, holding, failures, withdrawal.

use super::*;

#[test]
fn first_tick_fetches_each_jwks_issuer_once() {
    let mut w = World::new();
    w.tick();
    w.advance(100);
    w.tick();
    assert_eq!(
        w.host.fetches.len(),
        1,
        "one fetch in flight at a time, none for ALB"
    );
    let f = &w.host.fetches[0];
    assert_eq!(f.cluster, "outbound|5556||dex.auth.svc.cluster.local");
    assert_eq!(f.authority, "dex.auth.svc.cluster.local:5556");
    assert_eq!(f.path, "/dex/keys");
    assert_eq!(f.timeout_ms, 5000);
    assert!(!w.refresh.is_authoritative(DEX));
    let token = w.last_token();
    w.answer(token, 200, &[], jwks(&[("dex-1", DEX_KEY)]).as_bytes());
    assert!(w.refresh.is_authoritative(DEX));
    assert_eq!(w.refresh.kids(DEX), vec!["dex-1".to_owned()]);
    assert!(w.refresh.key(DEX, Some("dex-1")).is_some());
    assert_eq!(w.count(DEX, "refresh_ok"), 1);
    assert!(
        w.host.logs.is_empty(),
        "same kids as the seed: no change logged"
    );
}

#[test]
fn dex_rotation_refetches_once_and_resumes_the_held_request() {
    let mut w = World::warmed();
    // Dex rotates: the new key signs at once, before our next scheduled refresh.
    w.advance(10_000);
    assert_eq!(w.unknown(DEX, "dex-2", 7), UnknownKid::Hold);
    assert_eq!(w.host.fetches.len(), 2, "one refetch");
    assert_eq!(
        w.unknown(DEX, "dex-2", 8),
        UnknownKid::Hold,
        "joins the fetch in flight"
    );
    assert_eq!(w.host.fetches.len(), 2);
    assert_eq!(w.refresh.held(), 2);
    assert!(w.host.resumed.is_empty());

    w.advance(80);
    let token = w.last_token();
    let rotated = jwks(&[("dex-1", DEX_KEY), ("dex-2", COGNITO_KEY)]);
    w.answer(
        token,
        200,
        &[("cache-control", "public, max-age=600")],
        rotated.as_bytes(),
    );
    assert_eq!(w.host.resumed, vec![7, 8]);
    assert_eq!(w.refresh.held(), 0);
    assert!(w.refresh.key(DEX, Some("dex-2")).is_some());
    assert!(!w.refresh.is_withdrawn(DEX, Some("dex-1")));
    assert_eq!(w.count(DEX, "refetch_unknown_kid"), 1);
    assert_eq!(w.count(DEX, "held"), 2);
    assert_eq!(w.count(DEX, "held_resumed"), 2);
    let (level, line) = &w.host.logs[0];
    assert_eq!(*level, Level::Info);
    let line: Value = serde_json::from_str(line).unwrap_or(Value::Null);
    assert_eq!(line["gatehouse"], "keys_changed");
    assert_eq!(line["added"], json!(["dex-2"]));
    assert_eq!(line["removed"], json!([]));
    assert!(
        !w.host.logs[0].1.contains("\"n\""),
        "no key material in logs"
    );
}

#[test]
fn a_hundred_unknown_kids_in_the_interval_cause_one_fetch() {
    let mut w = World::warmed();
    let mut held = 0;
    for i in 0..100 {
        w.advance(50);
        if w.unknown(DEX, &format!("forged-{i}"), i) == UnknownKid::Hold {
            held += 1;
        }
        if i == 10 {
            // The refetch answers without any of the kids.
            let token = w.last_token();
            w.answer(token, 200, &[], jwks(&[("dex-1", DEX_KEY)]).as_bytes());
        }
    }
    assert_eq!(w.host.fetches.len(), 2, "the warm-up fetch and one refetch");
    assert_eq!(held, 11, "held only while the refetch was in flight");
    assert_eq!(w.count(DEX, "refetch_unknown_kid"), 1);
    assert_eq!(w.count(DEX, "refetch_limited"), 89);
    // Past the interval one more refetch may start.
    w.advance(30_000);
    assert_eq!(w.unknown(DEX, "forged-x", 1000), UnknownKid::Hold);
    assert_eq!(w.host.fetches.len(), 3);
}

#[test]
fn past_max_held_requests_are_refused() {
    let bounds = RefreshBounds {
        max_held: 3,
        ..RefreshBounds::default()
    };
    let mut w = World::with(bounds);
    w.tick(); // first fetch in flight
    let answers: Vec<UnknownKid> = (0..5).map(|i| w.unknown(DEX, "dex-2", i)).collect();
    use UnknownKid::{Hold, Refuse};
    assert_eq!(answers, vec![Hold, Hold, Hold, Refuse, Refuse]);
    assert_eq!(w.count(DEX, "held_refused"), 2);
    assert_eq!(w.refresh.held(), 3);
    assert_eq!(
        w.unknown(DEX, "dex-2", 1),
        Hold,
        "holding one request twice takes no room"
    );
    assert_eq!(w.refresh.held(), 3);
}

#[test]
fn held_requests_are_let_go_at_their_deadline() {
    let mut w = World::warmed();
    assert_eq!(w.unknown(DEX, "dex-2", 5), UnknownKid::Hold);
    w.advance(1_499);
    w.tick();
    assert!(w.host.resumed.is_empty());
    w.advance(1);
    w.tick();
    assert_eq!(w.host.resumed, vec![5]);
    assert_eq!(w.count(DEX, "held_timed_out"), 1);
    assert_eq!(w.count(DEX, "held_resumed"), 0);
    // The fetch answering later resumes nothing more.
    let token = w.last_token();
    w.answer(token, 200, &[], jwks(&[("dex-2", DEX_KEY)]).as_bytes());
    assert_eq!(w.host.resumed, vec![5]);
    assert!(w.refresh.key(DEX, Some("dex-2")).is_some());
}

#[test]
fn bad_answers_keep_the_last_good_keys() {
    let oversized = format!("{{\"keys\":[],\"pad\":\"{}\"}}", "x".repeat(256 * 1024));
    let private = jwks(&[("dex-2", DEX_KEY)]).replace("\"e\":", "\"d\":\"AQAB\",\"e\":");
    let cases: Vec<(&str, u32, Vec<u8>)> = vec![
        (
            "server error",
            500,
            jwks(&[("dex-2", DEX_KEY)]).into_bytes(),
        ),
        ("not modified without etag", 304, Vec::new()),
        ("no answer", 0, Vec::new()),
        ("oversized", 200, oversized.into_bytes()),
        ("not json", 200, b"<html>".to_vec()),
        ("not utf-8", 200, vec![0xff, 0xfe]),
        ("empty set", 200, br#"{"keys":[]}"#.to_vec()),
        ("private member", 200, private.into_bytes()),
        (
            "duplicate members",
            200,
            br#"{"keys":[],"keys":[]}"#.to_vec(),
        ),
    ];
    for (what, status, body) in cases {
        let mut w = World::warmed();
        assert_eq!(w.unknown(DEX, "dex-2", 9), UnknownKid::Hold, "{what}");
        let token = w.last_token();
        w.answer(token, status, &[], &body);
        assert_eq!(w.refresh.kids(DEX), vec!["dex-1".to_owned()], "{what}");
        assert!(w.refresh.key(DEX, Some("dex-1")).is_some(), "{what}");
        assert!(!w.refresh.is_withdrawn(DEX, Some("dex-1")), "{what}");
        assert_eq!(w.count(DEX, "refresh_failed"), 1, "{what}");
        assert_eq!(
            w.host.resumed,
            vec![9],
            "{what}: the held request is let go at once"
        );
        assert!(
            w.host
                .logs
                .iter()
                .any(|(l, m)| *l == Level::Warn && m.contains("keys_refresh_failed")),
            "{what}"
        );
    }
}

#[test]
fn a_lost_answer_counts_as_failed_and_a_late_one_is_ignored() {
    let mut w = World::warmed();
    assert_eq!(w.unknown(DEX, "dex-2", 3), UnknownKid::Hold);
    let token = w.last_token();
    w.advance(1_500);
    w.tick(); // the held request times out; the fetch is still allowed to answer
    w.advance(4_499);
    w.tick();
    assert_eq!(w.count(DEX, "refresh_failed"), 0);
    w.advance(1);
    w.tick();
    assert_eq!(w.count(DEX, "refresh_failed"), 1);
    w.answer(token, 200, &[], jwks(&[("dex-2", DEX_KEY)]).as_bytes());
    assert!(
        w.refresh.key(DEX, Some("dex-2")).is_none(),
        "late answers are ignored"
    );
    w.refresh.on_failure(token, "reset", w.now, &mut w.host);
    assert_eq!(w.count(DEX, "refresh_failed"), 1, "so are late failures");
}

#[test]
fn a_withdrawn_key_stops_after_a_successful_fetch() {
    let mut w = World::new();
    assert!(
        !w.refresh.is_withdrawn(DEX, Some("dex-1")),
        "the seed holds until a fetch"
    );
    assert!(!w.refresh.is_withdrawn(DEX, Some("anything")));
    w.tick();
    let token = w.last_token();
    w.answer(token, 200, &[], jwks(&[("dex-2", COGNITO_KEY)]).as_bytes());
    assert!(w.refresh.is_withdrawn(DEX, Some("dex-1")));
    assert!(!w.refresh.is_withdrawn(DEX, Some("dex-2")));
    assert!(
        !w.refresh.is_withdrawn(ALB, Some("dex-1")),
        "ALB keys are never withdrawn"
    );
    assert!(!w
        .refresh
        .is_withdrawn("https://other.example.com", Some("dex-1")));
    let line: Value = serde_json::from_str(&w.host.logs[0].1).unwrap_or(Value::Null);
    assert_eq!(line["added"], json!(["dex-2"]));
    assert_eq!(line["removed"], json!(["dex-1"]));
}

#[test]
fn a_single_key_without_kid_answers_any_kid() {
    let mut w = World::new();
    w.tick();
    let token = w.last_token();
    let body = key_file!("dex.jwks.json").replace("\"kid\": \"dex-1\",", "");
    w.answer(token, 200, &[], body.as_bytes());
    assert!(w.refresh.key(DEX, Some("whatever")).is_some());
    assert!(w.refresh.key(DEX, None).is_some());
    assert!(!w.refresh.is_withdrawn(DEX, Some("dex-1")));
}

#[test]
fn max_age_is_clamped_to_the_bounds() {
    let cases = [
        (Some("max-age=600"), 600),
        (Some("no-cache, max-age=5"), 60),
        (Some("max-age=999999999999999999999999"), 3600),
        (Some("public"), 60),
        (None, 60),
    ];
    for (header, want_s) in cases {
        let mut w = World::new();
        w.tick();
        let token = w.last_token();
        let headers: Vec<(&str, &str)> = header.map(|h| ("Cache-Control", h)).into_iter().collect();
        w.answer(token, 200, &headers, jwks(&[("dex-1", DEX_KEY)]).as_bytes());
        w.advance(want_s * 1000 - 1);
        w.tick();
        assert_eq!(w.host.fetches.len(), 1, "{header:?}: not yet due");
        w.advance(1);
        w.tick();
        assert_eq!(w.host.fetches.len(), 2, "{header:?}: due after {want_s} s");
    }
}

#[test]
fn failures_back_off_up_to_the_maximum_then_success_resets() {
    let mut w = World::new();
    let mut waits = Vec::new();
    for _ in 0..9 {
        w.tick();
        let token = w.last_token();
        let fetched_at = w.now;
        w.answer(token, 503, &[], b"");
        let before = w.host.fetches.len();
        while w.host.fetches.len() == before {
            w.advance(1000);
            w.tick();
        }
        waits.push((w.now - fetched_at) / 1000);
    }
    assert_eq!(waits, vec![60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]);
    let token = w.last_token();
    w.answer(token, 200, &[], jwks(&[("dex-1", DEX_KEY)]).as_bytes());
    w.answer(token, 503, &[], b""); // a duplicate answer: ignored
    w.advance(60_000);
    w.tick();
    assert_eq!(w.count(DEX, "refresh_ok"), 1);
    assert_eq!(w.host.fetches.len(), 11, "back to the normal schedule");
}

#[test]
fn a_dispatch_error_refuses_and_backs_off() {
    let mut w = World::warmed();
    w.host.refuse_dispatch = true;
    assert_eq!(w.unknown(DEX, "dex-2", 1), UnknownKid::Refuse);
    assert_eq!(w.count(DEX, "refresh_failed"), 1);
    assert_eq!(w.refresh.held(), 0);
    w.host.refuse_dispatch = false;
    assert_eq!(
        w.unknown(DEX, "dex-2", 2),
        UnknownKid::Refuse,
        "the refetch was spent"
    );
    assert_eq!(w.count(DEX, "refetch_limited"), 1);
}

#[test]
fn forgotten_requests_are_not_resumed_and_release_all_lets_go() {
    let mut w = World::warmed();
    assert_eq!(w.unknown(DEX, "dex-2", 1), UnknownKid::Hold);
    assert_eq!(w.unknown(DEX, "dex-2", 2), UnknownKid::Hold);
    assert!(w.refresh.forget(1));
    assert!(!w.refresh.forget(1));
    w.refresh.release_all(&mut w.host);
    assert_eq!(w.host.resumed, vec![2]);
    assert_eq!(w.refresh.held(), 0);
}

#[test]
fn unknown_issuers_are_refused_without_a_fetch() {
    let mut w = World::warmed();
    assert_eq!(
        w.unknown("https://nobody.example.com", "k", 1),
        UnknownKid::Refuse
    );
    assert_eq!(w.host.fetches.len(), 1);
}

#[test]
fn a_kid_fetched_meanwhile_is_decided_at_once() {
    let mut w = World::warmed();
    assert_eq!(w.unknown(DEX, "dex-1", 1), UnknownKid::Refuse);
    assert_eq!(w.host.fetches.len(), 1);
    assert_eq!(w.count(DEX, "refetch_unknown_kid"), 0);
}

#[test]
fn each_eks_style_weekly_rotation_is_picked_up_by_the_schedule() {
    let mut w = World::warmed();
    let sets = [
        jwks(&[("dex-1", DEX_KEY), ("eks-2", EKS_KEY)]),
        jwks(&[("eks-2", EKS_KEY), ("cog-3", COGNITO_KEY)]),
    ];
    for set in &sets {
        w.advance(60_000);
        w.tick();
        let token = w.last_token();
        w.answer(token, 200, &[], set.as_bytes());
    }
    assert_eq!(
        w.refresh.kids(DEX),
        vec!["cog-3".to_owned(), "eks-2".to_owned()]
    );
    assert!(w.refresh.is_withdrawn(DEX, Some("dex-1")));
    assert_eq!(w.host.logs.len(), 2, "one line per change");
    assert_eq!(w.count(DEX, "refetch_unknown_kid"), 0);
}
