//! Tables by reference: a worker whose configuration names a table source holds requests until
//! the first signed table arrives, polls with `If-None-Match`, and keeps the table in force
//! whatever a later answer is.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{engine_json, MockHost};
use gatehouse_filter::gate::{Filter, Outcome};
use gatehouse_filter::table::Table;
use gatehouse_filter::{wire, DenyReason};
use serde_json::json;

const SEED: [u8; 32] = [5; 32];
const CLUSTER: &str = "outbound|8080||tables.gatehouse.svc";
const NOW_MS: u64 = 1_800_000_000_000;

fn config(extra: serde_json::Value) -> Vec<u8> {
    let mut source = json!({
        "url": "http://tables.gatehouse.svc:8080/table",
        "cluster": CLUSTER,
        "trusted_keys": [wire::base64_key(&wire::public_key(&SEED))],
        "poll_seconds": 30,
        "hold_milliseconds": 2000,
        "max_held": 2
    });
    for (k, v) in extra.as_object().unwrap() {
        source[k] = v.clone();
    }
    json!({ "table_source": source }).to_string().into_bytes()
}

/// The test table, signed; `public` adds a public route for `/open/**`.
fn signed(public: bool, seed: &[u8; 32]) -> Vec<u8> {
    let mut t: Table = serde_json::from_str(&engine_json()).unwrap();
    if public {
        let mut r = t.routes[0].clone();
        r.path = "/open/**".into();
        t.routes.push(r);
    }
    wire::sign(&wire::encode(&t).unwrap(), seed)
}

fn host(path: &str, context_id: u32, now_ms: u64) -> MockHost {
    let mut h = MockHost::new(&[(":method", "GET"), (":path", path)]);
    h.context_id = context_id;
    h.now = now_ms / 1000;
    h
}

fn etag(tag: &str) -> Vec<(String, String)> {
    vec![("etag".into(), tag.into())]
}

fn status(h: &MockHost) -> Option<u32> {
    h.response.as_ref().map(|r| r.0)
}

/// A worker with its first table (`public` or not) in force, fetched as token 1 with ETag "v1".
fn loaded(public: bool) -> (Filter, MockHost) {
    let mut f = Filter::default();
    f.configure(Some(&config(json!({})))).unwrap();
    let mut h = host("/dex/x", 1, NOW_MS);
    assert!(matches!(f.on_request(&mut h), Outcome::Held(_)));
    f.on_fetch_response(
        1,
        200,
        &etag("\"v1\""),
        &signed(public, &SEED),
        NOW_MS,
        &mut h,
    );
    assert!(f.engine().is_some(), "{:?}", h.logs);
    (f, h)
}

#[test]
fn requests_wait_for_the_first_table_then_are_decided_with_it() {
    let mut f = Filter::default();
    let msg = f.configure(Some(&config(json!({})))).unwrap();
    assert!(msg.contains("tables.gatehouse.svc"), "{msg}");
    assert!(f.wants_ticks());
    let mut h = host("/notebook/team-a/nb/", 9, NOW_MS);
    let Outcome::Held(held) = f.on_request(&mut h) else {
        panic!("not held: {:?}", h.response);
    };
    assert_eq!(held.issuer, None);
    assert!(h.counters.contains(&"gatehouse.table.held".to_string()));
    // The fetch went to the source's cluster, authority and path, with no ETag yet.
    assert_eq!(
        h.fetches,
        vec![(
            CLUSTER.to_string(),
            "tables.gatehouse.svc:8080".to_string(),
            "/table".to_string()
        )]
    );
    assert!(h.fetch_headers[0].is_empty());
    assert_eq!(
        f.fetch_body_cap(1),
        Some(gatehouse_filter::engine::MAX_TABLE_BYTES)
    );
    f.on_fetch_response(
        1,
        200,
        &etag("\"v1\""),
        &signed(false, &SEED),
        NOW_MS,
        &mut h,
    );
    assert_eq!(h.resumed, vec![9]);
    assert!(h.counters.contains(&"gatehouse.table.updated".to_string()));
    assert!(
        h.logs.iter().any(|l| l.contains(r#""event":"updated""#)),
        "{:?}",
        h.logs
    );
    // Decided again with the table: a notebook needs an identity, so 401, not 503.
    let mut again = host("/notebook/team-a/nb/", 9, NOW_MS);
    assert_eq!(
        f.on_resumed(*held, &mut again),
        Outcome::Denied(DenyReason::NoIdentity)
    );
    assert!(again
        .counters
        .contains(&"gatehouse.table.held_denied".to_string()));
}

#[test]
fn without_a_table_a_held_request_gets_503_no_table_at_its_deadline_and_the_queue_is_bounded() {
    let mut f = Filter::default();
    f.configure(Some(&config(json!({})))).unwrap();
    let mut held = Vec::new();
    for id in [1, 2] {
        let mut h = host("/dex/x", id, NOW_MS);
        match f.on_request(&mut h) {
            Outcome::Held(w) => held.push(*w),
            o => panic!("{o:?}"),
        }
    }
    // The queue holds two: the third is refused at once.
    let mut third = host("/dex/x", 3, NOW_MS);
    assert_eq!(
        f.on_request(&mut third),
        Outcome::Denied(DenyReason::NoTable)
    );
    assert_eq!(status(&third), Some(503));
    assert!(third
        .counters
        .contains(&"gatehouse.table.held_refused".to_string()));
    // The source does not answer: at the deadline both go, and are refused.
    let mut root = host("/", 0, NOW_MS);
    f.on_tick(NOW_MS + 1999, &mut root);
    assert!(root.resumed.is_empty());
    f.on_tick(NOW_MS + 2000, &mut root);
    assert_eq!(root.resumed, vec![1, 2]);
    for w in held {
        let mut h = host("/dex/x", 1, NOW_MS + 2000);
        assert_eq!(
            f.on_resumed(w, &mut h),
            Outcome::Denied(DenyReason::NoTable)
        );
        assert_eq!(status(&h), Some(503));
    }
    // The fetch is still in flight: no second one starts beside it.
    assert_eq!(root.fetches.len(), 0);
    // It fails; the retry comes a second later and heals the worker.
    f.on_fetch_response(1, 0, &[], b"", NOW_MS + 2500, &mut root);
    assert!(root
        .counters
        .contains(&"gatehouse.table.fetch_failed".to_string()));
    f.on_tick(NOW_MS + 3000, &mut root);
    assert!(root.fetches.is_empty());
    f.on_tick(NOW_MS + 3500, &mut root);
    assert_eq!(root.fetches.len(), 1);
    f.on_fetch_response(
        1,
        200,
        &etag("\"v1\""),
        &signed(true, &SEED),
        NOW_MS + 3600,
        &mut root,
    );
    let mut h = host("/open/x", 4, NOW_MS + 3700);
    assert_eq!(f.on_request(&mut h), Outcome::Continue);
}

#[test]
fn polls_send_the_etag_and_304_keeps_the_table() {
    let (mut f, _) = loaded(false);
    let mut root = host("/", 0, NOW_MS);
    f.on_tick(NOW_MS + 29_000, &mut root);
    assert!(root.fetches.is_empty(), "polled before the interval");
    f.on_tick(NOW_MS + 30_000, &mut root);
    assert_eq!(
        root.fetch_headers,
        vec![vec![("if-none-match".to_string(), "\"v1\"".to_string())]]
    );
    f.on_fetch_response(1, 304, &[], b"", NOW_MS + 30_001, &mut root);
    assert!(root
        .counters
        .contains(&"gatehouse.table.unchanged".to_string()));
    assert!(f.engine().is_some());
    // A new table takes effect at the next poll.
    f.on_tick(NOW_MS + 60_001, &mut root);
    f.on_fetch_response(
        2,
        200,
        &etag("\"v2\""),
        &signed(true, &SEED),
        NOW_MS + 60_002,
        &mut root,
    );
    let mut h = host("/open/x", 5, NOW_MS + 60_003);
    assert_eq!(f.on_request(&mut h), Outcome::Continue);
    f.on_tick(NOW_MS + 90_003, &mut root);
    assert_eq!(
        root.fetch_headers.last().unwrap(),
        &vec![("if-none-match".to_string(), "\"v2\"".to_string())]
    );
}

#[test]
fn every_bad_answer_is_refused_and_the_last_good_table_keeps_deciding() {
    let good = signed(true, &SEED);
    let mut flipped = good.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    let unsigned = wire::encode(&serde_json::from_str::<Table>(&engine_json()).unwrap()).unwrap();
    let mut other_version = unsigned.clone();
    other_version[4] = 9;
    let cases: Vec<(&str, u32, Vec<u8>, &str)> = vec![
        ("bad signature", 200, flipped, "refused"),
        ("unknown key", 200, signed(false, &[6; 32]), "refused"),
        ("unsigned", 200, unsigned, "refused"),
        ("JSON", 200, engine_json().into_bytes(), "refused"),
        (
            "another version",
            200,
            wire::sign(&other_version, &SEED),
            "refused",
        ),
        ("truncated", 200, good[..good.len() / 2].to_vec(), "refused"),
        (
            "too short for a header",
            200,
            good[..50].to_vec(),
            "refused",
        ),
        ("server error", 500, good.clone(), "fetch_failed"),
        ("no answer", 0, vec![], "fetch_failed"),
        ("not found", 404, vec![], "fetch_failed"),
    ];
    for (name, code, body, counter) in cases {
        let (mut f, _) = loaded(true);
        let mut root = host("/", 0, NOW_MS);
        f.on_tick(NOW_MS + 30_000, &mut root);
        f.on_fetch_response(1, code, &etag("\"bad\""), &body, NOW_MS + 30_001, &mut root);
        assert!(
            root.counters
                .contains(&format!("gatehouse.table.{counter}")),
            "{name}: {:?}",
            root.counters
        );
        assert!(
            root.logs
                .iter()
                .any(|l| l.contains("the table in force stays")),
            "{name}: {:?}",
            root.logs
        );
        // The first table still decides: `/open/**` is public in it.
        let mut h = host("/open/x", 5, NOW_MS + 30_002);
        assert_eq!(f.on_request(&mut h), Outcome::Continue, "{name}");
        // The next poll still names the table in force, not the refused answer.
        f.on_tick(NOW_MS + 60_002, &mut root);
        assert_eq!(
            root.fetch_headers.last().unwrap(),
            &vec![("if-none-match".to_string(), "\"v1\"".to_string())],
            "{name}"
        );
    }
}

#[test]
fn a_server_without_etags_is_polled_in_full_and_its_failures_keep_the_table() {
    let mut f = Filter::default();
    f.configure(Some(&config(json!({})))).unwrap();
    let mut h = host("/dex/x", 1, NOW_MS);
    assert!(matches!(f.on_request(&mut h), Outcome::Held(_)));
    f.on_fetch_response(1, 200, &[], &signed(true, &SEED), NOW_MS, &mut h);
    let mut root = host("/", 0, NOW_MS);
    f.on_tick(NOW_MS + 30_000, &mut root);
    assert_eq!(root.fetch_headers, vec![vec![]], "no ETag to send");
    f.on_fetch_response(1, 500, &[], b"", NOW_MS + 30_001, &mut root);
    assert!(
        root.logs
            .iter()
            .any(|l| l.contains("the table in force stays")),
        "{:?}",
        root.logs
    );
    let mut h = host("/open/x", 5, NOW_MS + 30_002);
    assert_eq!(f.on_request(&mut h), Outcome::Continue);
}

#[test]
fn an_oversized_answer_is_refused_unread() {
    let mut f = Filter::default();
    f.configure(Some(&config(json!({"max_bytes": 100}))))
        .unwrap();
    let mut h = host("/dex/x", 1, NOW_MS);
    assert!(matches!(f.on_request(&mut h), Outcome::Held(_)));
    // The glue reads at most the cap, and reports a larger body as a failure.
    assert_eq!(f.fetch_body_cap(1), Some(100));
    f.on_fetch_failure(
        1,
        "body of 5000 bytes is over the 100-byte cap",
        NOW_MS,
        &mut h,
    );
    assert!(h.counters.contains(&"gatehouse.table.refused".to_string()));
    assert!(f.engine().is_none());
    // Or hands it over whole, when it cannot tell: refused all the same.
    let mut root = host("/", 0, NOW_MS);
    f.on_tick(NOW_MS + 1000, &mut root);
    f.on_fetch_response(1, 200, &[], &signed(false, &SEED), NOW_MS + 1001, &mut root);
    assert!(f.engine().is_none());
    assert!(
        root.logs.iter().any(|l| l.contains("100-byte cap")),
        "{:?}",
        root.logs
    );
}

#[test]
fn bad_source_configurations_are_refused_with_their_reason() {
    for (extra, says) in [
        (json!({"trusted_keys": []}), "trusted_keys is empty"),
        (json!({"trusted_keys": ["AAAA"]}), "trusted_keys[0]"),
        (json!({"url": "ftp://x/table"}), "table_source.url"),
        (
            json!({"url": "http://example.com/table"}),
            "table_source.url",
        ),
        (json!({"poll_seconds": 0}), "above 0"),
        (json!({"pol_seconds": 5}), "pol_seconds"),
    ] {
        let mut f = Filter::default();
        let e = f.configure(Some(&config(extra.clone()))).unwrap_err();
        assert!(e.contains(says), "{extra}: {e}");
    }
    // A signed table inlined is refused: it is fetched, not configured.
    let mut f = Filter::default();
    let e = f.configure(Some(&signed(false, &SEED))).unwrap_err();
    assert!(e.contains("table_source"), "{e}");
    // An inline binary table loads.
    let binary = wire::encode(&serde_json::from_str::<Table>(&engine_json()).unwrap()).unwrap();
    f.configure(Some(&binary)).unwrap();
    assert!(f.engine().is_some());
}
