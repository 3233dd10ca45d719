//! The verified-token cache across Envoy's workers: with `--concurrency 4`, a fresh token that
//! arrives on every worker costs one signature check for the whole proxy. The other workers
//! find it in the proxy's shared data (`gatehouse.token_cache.shared_hit`), and a token the
//! gateway never saw still verifies in full everywhere.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use std::time::{SystemTime, UNIX_EPOCH};

use gatehouse::{compile_dir, table_json, CompileOptions};
use gatehouse_filter::token::mint::{sign_jwt, SigningKey};
use harness::{prerequisites, root, send, Gateway, More, Upstream};
use serde_json::json;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn dex_token(email: &str, serial: u32) -> String {
    let pem = std::fs::read_to_string(root().join("testdata/keys/dex-rsa.key.pem")).unwrap();
    let key = SigningKey::from_pem(&pem).unwrap();
    let t = now();
    let claims = json!({"iss": "https://dex.example.com", "aud": "kubeflow-oidc-authservice",
        "email": email, "email_verified": true, "iat": t, "exp": t + 600, "jti": serial});
    sign_jwt(&key, "RS256", &json!({"kid": "dex-1"}), &claims).unwrap()
}

#[test]
fn a_fresh_token_on_every_worker_costs_one_signature_check() {
    let Some((envoy, wasm)) = prerequisites() else {
        return;
    };
    let compiled = compile_dir(&root().join("policies"), &CompileOptions { now: now() }).unwrap();
    let table = table_json(&compiled.table).unwrap();
    let more = More {
        concurrency: Some(4),
        ..More::default()
    };
    let gw = Gateway::launch_more(&envoy, &wasm, &table, Upstream::Echo, more);
    assert_eq!(gw.ecds_stat("update_success"), 1, "{}", gw.log());
    let counters = || {
        ["miss", "hit", "shared_hit"]
            .map(|c| gw.stat(&format!("wasmcustom.gatehouse.token_cache.{c}")))
    };
    let before = counters();
    // Each request on a connection of its own: the kernel spreads them over the 4 workers.
    let token = format!("Bearer {}", dex_token("alice@example.com", 1));
    let sent = 24;
    for _ in 0..sent {
        let r = send(
            gw.port,
            "GET",
            "/notebook/alice/nb/",
            &[("authorization", &token)],
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.upstream_header("kubeflow-userid"), ["alice@example.com"]);
    }
    let after = counters();
    let [miss, hit, shared_hit] = [0, 1, 2].map(|i| after[i] - before[i]);
    eprintln!("{sent} requests on 4 workers: miss {miss}, hit {hit}, shared_hit {shared_hit}");
    assert_eq!(miss, 1, "one signature check for the proxy: {after:?}");
    assert_eq!(hit + shared_hit, sent - 1);
    assert!(
        (1..=3).contains(&shared_hit),
        "each other worker verified nothing and read the shared entry once: {after:?}"
    );
    // Another token is its own: verified once more, not served from the first one's entry.
    let other = format!("Bearer {}", dex_token("mallory@example.com", 2));
    let r = send(
        gw.port,
        "GET",
        "/notebook/alice/nb/",
        &[("authorization", &other)],
    );
    assert_eq!(
        r.status, 403,
        "mallory holds nothing in alice's namespace: {}",
        r.body
    );
    assert_eq!(
        gw.stat("wasmcustom.gatehouse.token_cache.miss") - before[0],
        2
    );
}
