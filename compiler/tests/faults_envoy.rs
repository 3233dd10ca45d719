//! Faults and operations end-to-end through a real Envoy running the release filter:
//!
//! - a reload with an invalid table keeps the last good one (tables pushed as `gatehouse emit
//!   envoy-table` does: the watched table file replaced, which Envoy takes through ECDS);
//! - an oversized table is refused with a clear log line;
//! - no table: nothing reaches the upstream;
//! - key rotation: old and new keys side by side, then the old one removed;
//! - audit mode: a would-be denial in an audited namespace passes, counted and logged;
//! - metrics: the filter's counters at `/stats/prometheus`, exact names and values after a
//!   known sequence of requests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gatehouse::{compile_dir, table_json, CompileOptions};
use gatehouse_filter::engine::MAX_TABLE_BYTES;
use gatehouse_filter::table::Table;
use gatehouse_filter::token::mint::{sign_alb, sign_jwt, Padding, SigningKey};
use gatehouse_filter::Engine;
use harness::{prerequisites, root, CountingUpstream, Gateway, Upstream};
use serde_json::json;

const DEX: &str = "https://dex.example.com";
const AUD: &str = "kubeflow-oidc-authservice";
const EVIL_ARN: &str =
    "arn:aws:elasticloadbalancing:us-east-1:999999999999:loadbalancer/app/evil/0123456789abcdef";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn key(path: &str) -> SigningKey {
    SigningKey::from_pem(&std::fs::read_to_string(root().join(path)).unwrap()).unwrap()
}

fn compile(dir: &str, at: u64) -> Table {
    compile_dir(&root().join(dir), &CompileOptions { now: at })
        .unwrap_or_else(|d| panic!("{dir} must compile: {d:?}"))
        .table
}

/// A Dex token for `email`, signed by `key_file` as `kid`, valid for ten minutes (or expired).
fn dex_token(key_file: &str, kid: &str, email: &str, expired: bool) -> String {
    let t = now();
    let (iat, exp) = if expired {
        (t - 7200, t - 3600)
    } else {
        (t, t + 600)
    };
    sign_jwt(
        &key(key_file),
        "RS256",
        &json!({"kid": kid}),
        &json!({"iss": DEX, "aud": AUD, "email": email, "email_verified": true, "iat": iat, "exp": exp}),
    )
    .unwrap()
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[test]
fn a_reload_with_an_invalid_table_keeps_the_last_good_one() {
    let Some((envoy, wasm)) = prerequisites() else {
        return;
    };
    let good = compile("policies", now());
    let mut gw = Gateway::start(&envoy, &wasm, &table_json(&good).unwrap());
    let alice = bearer(&dex_token(
        "testdata/keys/dex-rsa.key.pem",
        "dex-1",
        "alice@example.com",
        false,
    ));
    let carol = bearer(&dex_token(
        "testdata/keys/dex-rsa.key.pem",
        "dex-1",
        "carol@example.com",
        false,
    ));
    let decisions = |gw: &Gateway| {
        [
            gw.send("GET", "/notebook/alice/nb/", &[("authorization", &alice)])
                .status,
            gw.send("GET", "/notebook/alice/nb/", &[]).status,
            gw.send(
                "DELETE",
                "/jupyter/api/namespaces/alice/notebooks/nb",
                &[("authorization", &carol)],
            )
            .status,
        ]
    };
    assert_eq!(decisions(&gw), [200, 401, 403], "the good table decides");

    let mut newer = good.clone();
    newer.format_version = 2;
    let bad: Vec<(&str, String, &str)> = vec![
        (
            "wrong shape",
            r#"{"format_version":1}"#.into(),
            "table does not match format 1",
        ),
        ("not JSON", "{not json".into(), "table is not valid JSON"),
        (
            "newer format",
            serde_json::to_string(&newer).unwrap(),
            "format_version 2 is not supported",
        ),
        ("empty", String::new(), "no plugin configuration"),
    ];
    for (what, table, message) in &bad {
        assert!(
            !gw.push(table),
            "{what}: Envoy took a table the filter refuses"
        );
        let log = gw.log_when(Duration::from_secs(10), |l| l.contains(message));
        assert!(
            log.contains(message),
            "{what}: no `{message}` in the log:\n{log}"
        );
        assert_eq!(
            decisions(&gw),
            [200, 401, 403],
            "{what}: the last good table stays"
        );
    }
    let log = gw.log();
    assert_eq!(log.matches("gatehouse: table refused").count(), 3, "{log}");
    assert_eq!(gw.ecds_stat("update_rejected"), 4);
    assert_eq!(gw.ecds_stat("update_success"), 1);

    // A good table after the refusals still takes over: audit mode everywhere lets carol's
    // would-be denial through.
    let mut audited = good;
    audited.gateway.audit.all = true;
    assert!(gw.push(&table_json(&audited).unwrap()));
    assert_eq!(decisions(&gw), [200, 401, 200]);
}

#[test]
fn an_oversized_table_is_refused_with_a_clear_log_line() {
    let Some((envoy, wasm)) = prerequisites() else {
        return;
    };
    let good = table_json(&compile("policies", now())).unwrap();
    let mut gw = Gateway::start(&envoy, &wasm, &good);
    assert_eq!(gw.send("GET", "/notebook/alice/nb/", &[]).status, 401);
    // A valid table, padded with whitespace to one byte over the limit.
    let mut big = good.clone();
    big.push_str(&" ".repeat(MAX_TABLE_BYTES + 1 - good.len()));
    assert!(!gw.push(&big));
    let message = format!(
        "table is {} bytes; the limit is {MAX_TABLE_BYTES}",
        MAX_TABLE_BYTES + 1
    );
    let log = gw.log_when(Duration::from_secs(10), |l| l.contains(&message));
    assert!(log.contains(&message), "no `{message}` in the log");
    assert_eq!(gw.send("GET", "/notebook/alice/nb/", &[]).status, 401);
}

#[test]
fn without_a_table_nothing_reaches_the_upstream() {
    let Some((envoy, wasm)) = prerequisites() else {
        return;
    };
    // The filter refuses to configure, so Envoy refuses its configuration and has none: the
    // listener answers every request itself (500, response flag NFCF), public paths included.
    let upstream = CountingUpstream::start();
    for (table, message) in [
        ("", "no plugin configuration"),
        ("{}", "table refused: table has no `format_version`"),
    ] {
        let gw = Gateway::launch(&envoy, &wasm, table, Upstream::Port(upstream.port));
        assert_eq!(gw.ecds_stat("update_rejected"), 1, "{table:?}");
        assert_eq!(gw.ecds_stat("update_success"), 0, "{table:?}");
        for path in ["/dex/auth", "/notebook/alice/nb/"] {
            let r = gw.send("GET", path, &[]);
            assert_eq!(r.status, 500, "{table:?} {path}: {}", r.body);
        }
        let log = gw.log_when(Duration::from_secs(10), |l| l.contains(message));
        assert!(log.contains(message), "{table:?}: {log}");
    }
    assert_eq!(upstream.connections(), 0);

    // Until a good table arrives; then it decides.
    let mut gw = Gateway::launch(&envoy, &wasm, "", Upstream::Echo);
    assert_eq!(gw.send("GET", "/dex/auth", &[]).status, 500);
    assert!(gw.push(&table_json(&compile("policies", now())).unwrap()));
    assert_eq!(gw.send("GET", "/notebook/alice/nb/", &[]).status, 401);
    assert_eq!(gw.send("GET", "/dex/auth", &[]).status, 200);
}

fn rotation_tokens() -> (String, String) {
    (
        dex_token(
            "testdata/keys/dex-rsa.key.pem",
            "dex-1",
            "alice@example.com",
            false,
        ),
        dex_token(
            "testdata/hostile/keys/dex-next-rsa.key.pem",
            "dex-2",
            "alice@example.com",
            false,
        ),
    )
}

#[test]
fn key_rotation_natively() {
    let (old, new) = rotation_tokens();
    let overlap = Engine::new(compile("testdata/hostile/rotation/overlap", now())).unwrap();
    let after = Engine::new(compile("testdata/hostile/rotation/after", now())).unwrap();
    let verify = |e: &Engine, t: &str| {
        e.verifiers()
            .verify_bearer(t, now(), 30)
            .map(|v| v.identity.user)
            .map_err(|f| f.reason.code())
    };
    assert_eq!(verify(&overlap, &old), Ok("alice@example.com".into()));
    assert_eq!(verify(&overlap, &new), Ok("alice@example.com".into()));
    assert_eq!(verify(&after, &old), Err("unknown_kid"));
    assert_eq!(verify(&after, &new), Ok("alice@example.com".into()));
    // The compiler warns when a listed key is about to expire (dex-1: 2099-12-31)...
    let at = 4_101_494_400; // 2099-12-21
    let warned = compile_dir(
        &root().join("testdata/hostile/rotation/overlap"),
        &CompileOptions { now: at },
    )
    .unwrap();
    assert!(
        warned.warnings.iter().any(|w| w.code == "expiring-key"),
        "{:?}",
        warned.warnings
    );
    // ...and the filter stops using a key past its `notAfter` even while it is listed.
    let late = 4_102_000_000; // 2099-12-27 < notAfter < 2100-01-01
    let token = |kid: &str, file: &str| {
        sign_jwt(
            &key(file),
            "RS256",
            &json!({"kid": kid}),
            &json!({"iss": DEX, "aud": AUD, "email": "alice@example.com", "email_verified": true, "iat": late, "exp": late + 600}),
        )
        .unwrap()
    };
    let retired = late + 86_400 * 5; // 2100-01-01, past dex-1's notAfter
    let r = overlap.verifiers().verify_bearer(
        &token("dex-1", "testdata/keys/dex-rsa.key.pem"),
        late + 60,
        30,
    );
    assert!(r.is_ok(), "{r:?}");
    let r = overlap.verifiers().verify_bearer(
        &token("dex-1", "testdata/keys/dex-rsa.key.pem"),
        retired,
        1_000_000,
    );
    assert_eq!(r.map_err(|f| f.reason.code()).err(), Some("unknown_kid"));
}

#[test]
fn key_rotation_through_envoy() {
    let Some((envoy, wasm)) = prerequisites() else {
        return;
    };
    let (old, new) = rotation_tokens();
    let overlap = table_json(&compile("testdata/hostile/rotation/overlap", now())).unwrap();
    let mut gw = Gateway::start(&envoy, &wasm, &overlap);
    let status = |gw: &Gateway, t: &str| {
        let r = gw.send(
            "GET",
            "/notebook/alice/nb/",
            &[("authorization", &bearer(t))],
        );
        (
            r.status,
            if r.status == 200 {
                String::new()
            } else {
                r.reason()
            },
        )
    };
    assert_eq!(
        status(&gw, &old),
        (200, String::new()),
        "old key during the overlap"
    );
    assert_eq!(
        status(&gw, &new),
        (200, String::new()),
        "new key during the overlap"
    );
    // The old key removed: its tokens fail at once, even though the filter had verified (and
    // cached) this very token a moment ago.
    assert!(gw.push(&table_json(&compile("testdata/hostile/rotation/after", now())).unwrap()));
    assert_eq!(status(&gw, &old), (401, "unknown_kid".into()));
    assert_eq!(status(&gw, &new), (200, String::new()));
}

/// One request of a scripted sequence: method, path, headers, the status, and the reason or
/// the user the upstream sees.
type Step<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, u16, &'a str);

/// `name{} value` lines of the Prometheus text for metrics starting with `gatehouse_`.
fn gatehouse_metrics(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter(|l| l.starts_with("gatehouse_"))
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            Some((name.trim_end_matches("{}").to_string(), value.parse().ok()?))
        })
        .collect()
}

#[test]
fn audit_mode_and_metrics_through_envoy() {
    let Some((envoy, wasm)) = prerequisites() else {
        return;
    };
    let mut table = compile("policies", now());
    table.gateway.audit.namespaces = vec!["alice".into()];
    let gw = Gateway::start(&envoy, &wasm, &table_json(&table).unwrap());
    let dex = "testdata/keys/dex-rsa.key.pem";
    let alice = bearer(&dex_token(dex, "dex-1", "alice@example.com", false));
    let carol = bearer(&dex_token(dex, "dex-1", "carol@example.com", false));
    let expired = bearer(&dex_token(dex, "dex-1", "alice@example.com", true));
    let rogue = bearer(&dex_token(
        "testdata/keys/rogue-rsa.key.pem",
        "dex-1",
        "alice@example.com",
        false,
    ));
    let evil_alb = sign_alb(
        &key("testdata/keys/alb-1.key.pem"),
        &json!({"kid": "alb-1", "signer": EVIL_ARN, "exp": now() + 600}),
        &json!({"email": "alice@example.com", "email_verified": true}),
        Padding::Padded,
    )
    .unwrap();

    // (method, path, headers, status, reason or the user the upstream sees)
    let steps: Vec<Step> = vec![
        ("GET", "/dex/auth", vec![], 200, ""),
        ("GET", "/notebook/alice/nb/", vec![], 401, "no_identity"),
        (
            "GET",
            "/notebook/alice/nb/",
            vec![("authorization", &alice)],
            200,
            "alice@example.com",
        ),
        (
            "GET",
            "/notebook/alice/nb/",
            vec![("authorization", &alice)],
            200,
            "alice@example.com",
        ),
        // Audited: carol (view) may not delete in alice, but alice is audited.
        (
            "DELETE",
            "/jupyter/api/namespaces/alice/notebooks/nb",
            vec![("authorization", &carol)],
            200,
            "carol@example.com",
        ),
        // Not audited: bob.
        (
            "GET",
            "/notebook/bob/nb/",
            vec![("authorization", &carol)],
            403,
            "not_permitted",
        ),
        (
            "GET",
            "/notebook/alice/nb/",
            vec![("authorization", &expired)],
            401,
            "token_expired",
        ),
        (
            "GET",
            "/notebook/alice/nb/",
            vec![("x-amzn-oidc-data", &evil_alb)],
            401,
            "wrong_signer",
        ),
        (
            "GET",
            "/notebook/alice%2f..%2fbob/nb/",
            vec![("authorization", &alice)],
            400,
            "bad_path",
        ),
        // Audit mode never lets a missing or invalid identity through.
        (
            "GET",
            "/jupyter/api/namespaces/alice/notebooks",
            vec![],
            401,
            "no_identity",
        ),
        (
            "GET",
            "/jupyter/api/namespaces/alice/notebooks",
            vec![("authorization", &rogue)],
            401,
            "bad_signature",
        ),
    ];
    for (method, path, headers, status, what) in &steps {
        let r = gw.send(method, path, headers);
        assert_eq!(r.status, *status, "{method} {path}: {}", r.body);
        if *status == 200 {
            let users = r.upstream_header("kubeflow-userid");
            let want: Vec<String> = (!what.is_empty())
                .then(|| what.to_string())
                .into_iter()
                .collect();
            assert_eq!(users, want, "{method} {path}");
        } else {
            assert_eq!(r.reason(), *what, "{method} {path}");
        }
    }

    let want: BTreeMap<String, u64> = [
        ("gatehouse_allowed", 2),
        ("gatehouse_allowed_public", 1),
        ("gatehouse_audited_not_permitted", 1),
        ("gatehouse_denied_bad_path", 1),
        ("gatehouse_denied_bad_signature", 1),
        ("gatehouse_denied_no_identity", 2),
        ("gatehouse_denied_not_permitted", 1),
        ("gatehouse_denied_token_expired", 1),
        ("gatehouse_denied_wrong_signer", 1),
        ("gatehouse_token_cache_hit", 2),
        ("gatehouse_token_cache_miss", 5),
        ("gatehouse_verify_failed_corp_alb", 1),
        ("gatehouse_verify_failed_dex", 2),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let prometheus = gw.admin_get("/stats/prometheus");
    assert_eq!(gatehouse_metrics(&prometheus), want, "{prometheus}");
    // The same counters under Envoy's own names (the `wasmcustom.` namespace).
    let stats = gw.admin_get("/stats?filter=wasmcustom");
    assert!(
        stats.contains("wasmcustom.gatehouse.verify_failed.corp-alb: 1"),
        "{stats}"
    );
    assert!(
        stats.contains("wasmcustom.gatehouse.audited.not_permitted: 1"),
        "{stats}"
    );

    let log = gw.log_when(Duration::from_secs(10), |l| {
        l.matches("\"gatehouse\":\"deny\"").count() >= 7
    });
    let audit: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("\"gatehouse\":\"audit\""))
        .collect();
    assert_eq!(audit.len(), 1, "{log}");
    let line: serde_json::Value =
        serde_json::from_str(&audit[0][audit[0].find('{').unwrap()..]).unwrap();
    assert_eq!(line["reason"], "not_permitted");
    assert_eq!(line["namespace"], "alice");
    assert_eq!(line["action"], "delete");
    assert_eq!(line["issuer"], "dex");
    assert_eq!(log.matches("\"gatehouse\":\"deny\"").count(), 7, "{log}");
    for token in [&alice, &carol, &expired, &rogue, &evil_alb] {
        let token = token.trim_start_matches("Bearer ");
        assert!(!log.contains(token), "a token reached the log");
        assert!(
            !log.contains(token.rsplit_once('.').unwrap().1),
            "a signature reached the log"
        );
    }
}
