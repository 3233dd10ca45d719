//! Live keys through a real Envoy: the filter fetches issuer keys from a key server of the
//! test's own (HTTPS, a self-signed CA the emitted key cluster trusts, SNI and SAN checked),
//! follows Dex-style rotations with zero failed requests, survives an outage and bad answers
//! with its last good keys, drops a key the issuer withdrew, and fetches ALB keys by kid with a
//! bounded number of fetches whatever the traffic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gatehouse::{compile_dir, table_json, CompileOptions};
use gatehouse_filter::token::keys::jwk_from_pem;
use gatehouse_filter::token::mint::{sign_jwt, SigningKey};
use harness::keys::{KeyServer, TestCa};
use harness::{prerequisites, root, tempdir, Gateway, KeepAlive, Upstream};
use serde_json::{json, Value};

/// The key host as the table names it; the emitted cluster connects it to the local server.
const KEY_HOST: &str = "keys.gatehouse.test";
const DEX: &str = "https://dex.example.com";
const SIGNER: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/kubeflow/50dc6c495c0c9188";
/// The RSA keys a rotation walks through: kid `rot-<n>` is the n-th file's key.
const ROTATION: [&str; 4] = ["dex-rsa", "cognito-rsa", "eks-sa-rsa", "rogue-rsa"];

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn key_text(name: &str) -> String {
    std::fs::read_to_string(root().join("testdata/keys").join(name)).unwrap()
}

/// The public JWK of rotation key `n` (1-based), with kid `rot-<n>`.
fn rot_jwk(n: usize) -> Value {
    let jwk = jwk_from_pem(&key_text(&format!("{}.pem", ROTATION[n - 1]))).unwrap();
    let mut v = serde_json::to_value(jwk).unwrap();
    v["kid"] = json!(format!("rot-{n}"));
    v
}

fn jwks(ns: &[usize]) -> Value {
    json!({"keys": ns.iter().map(|n| rot_jwk(*n)).collect::<Vec<_>>()})
}

/// A fresh Dex token signed with rotation key `n`.
fn dex_token(n: usize, serial: usize) -> String {
    let key = SigningKey::from_pem(&key_text(&format!("{}.key.pem", ROTATION[n - 1]))).unwrap();
    let t = now();
    let claims = json!({"iss": DEX, "aud": "kubeflow-oidc-authservice",
        "email": "alice@example.com", "email_verified": true, "iat": t, "exp": t + 600,
        "jti": format!("{n}-{serial}")});
    sign_jwt(&key, "RS256", &json!({"kid": format!("rot-{n}")}), &claims).unwrap()
}

/// A fresh ALB token with `kid`, signed with `alb-1`, claiming `signer`.
fn alb_token(kid: &str, signer: &str) -> String {
    let key = SigningKey::from_pem(&key_text("alb-1.key.pem")).unwrap();
    let t = now();
    sign_jwt(
        &key,
        "ES256",
        &json!({"kid": kid, "signer": signer, "exp": t + 60}),
        &json!({"email": "alice@example.com", "email_verified": "true", "exp": t + 60}),
    )
    .unwrap()
}

/// A UUID-shaped kid from a counter.
fn uuid(n: u64) -> String {
    let h = format!("{n:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// One test's world: a CA, the key server, and the policies/ table pointed at it.
struct World {
    dir: tempdir::Dir,
    ca: TestCa,
    server: KeyServer,
}

impl World {
    fn new() -> World {
        let dir = tempdir::Dir::new("keys");
        let ca = TestCa::new(&dir.0, KEY_HOST);
        let server = KeyServer::start(&dir.0, &ca);
        World { dir, ca, server }
    }

    fn url(&self, path: &str) -> String {
        format!("https://{KEY_HOST}:{}{path}", self.server.port)
    }

    /// The table of `policies/` with Dex seeded with `rot-1` and fetching `/keys`, the ALB
    /// issuer fetching `/alb/<kid>`, and these refresh bounds.
    fn table(&self, refresh: Value) -> Value {
        let compiled =
            compile_dir(&root().join("policies"), &CompileOptions { now: now() }).unwrap();
        let mut t: Value = serde_json::from_str(&table_json(&compiled.table).unwrap()).unwrap();
        let cluster = format!("outbound|{}||{KEY_HOST}", self.server.port);
        for issuer in t["issuers"].as_array_mut().unwrap() {
            if issuer["type"] == "alb" {
                issuer["key_fetch"] = json!({"url": self.url("/alb/"), "cluster": cluster});
            } else if issuer["issuer"] == DEX {
                let mut seed = rot_jwk(1);
                seed.as_object_mut().unwrap().remove("kid");
                issuer["keys"] = json!([{"kid": "rot-1", "jwk": seed, "source": "rotation test",
                    "not_after": null}]);
                issuer["key_fetch"] = json!({"url": self.url("/keys"), "cluster": cluster});
            } else {
                issuer.as_object_mut().unwrap().remove("key_fetch");
            }
        }
        t["gateway"]["key_refresh"] = refresh;
        t
    }

    /// Starts Envoy with `table`, with the key cluster `gatehouse emit envoy` writes for it
    /// (trusting the test CA, the key host resolved to the local server).
    fn gateway(&self, table: &Value) -> Gateway {
        let (envoy, wasm) = prerequisites().unwrap();
        let clusters = harness::keys::emitted_key_clusters(
            &self.dir.0,
            &table.to_string(),
            &self.ca.ca,
            &format!("{KEY_HOST}:{0}=127.0.0.1:{0}", self.server.port),
        );
        let gw = Gateway::launch_with(&envoy, &wasm, &table.to_string(), Upstream::Echo, clusters);
        assert_eq!(gw.ecds_stat("update_success"), 1, "{}", gw.log());
        gw
    }
}

/// Refresh bounds for a short test: refetch at most every second, a schedule slower than the
/// test (so only unknown kids cause fetches), small caps.
fn quick_bounds() -> Value {
    json!({"min_interval_seconds": 1, "max_interval_seconds": 120, "refetch_interval_seconds": 1,
        "hold_milliseconds": 1500, "max_held": 64, "max_body_bytes": 65536,
        "fetch_timeout_milliseconds": 1000})
}

fn wait_for(gw: &Gateway, what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; stats:\n{}\nlog:\n{}",
            gw.admin_get("/stats?filter=gatehouse\\.keys"),
            gw.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn keys_stat(gw: &Gateway, issuer: &str, event: &str) -> u64 {
    // Envoy names the counters a wasm filter defines `wasmcustom.<name>`.
    gw.stat(&format!("wasmcustom.gatehouse.keys.{issuer}.{event}"))
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[test]
fn dex_style_rotations_lose_no_request() {
    if prerequisites().is_none() {
        return;
    }
    let w = World::new();
    w.server.publish(&jwks(&[1]));
    w.server.set_mode("ok");
    std::fs::write(w.dir.0.join("state/max_age"), "120").unwrap();
    let gw = w.gateway(&w.table(quick_bounds()));
    // A worker starts refreshing with its first request.
    assert_eq!(gw.send("GET", "/dex/auth", &[]).status, 200);
    wait_for(&gw, "the first refresh", Duration::from_secs(10), || {
        keys_stat(&gw, "dex", "refresh_ok") >= 1
    });
    assert_eq!(w.server.fetches("/keys"), 1);

    let mut conn = KeepAlive::open(gw.port);
    let mut sent = 0;
    let mut failed = Vec::new();
    for n in 1..=4 {
        if n > 1 {
            // Dex: the new key is published and signs at once; the old one stays published.
            w.server.publish(&jwks(&[n - 1, n]));
        }
        for i in 0..40 {
            let token = dex_token(n, i);
            let r = conn.send("GET", "/", &[("authorization", &bearer(&token))]);
            sent += 1;
            if r.status != 200 {
                failed.push(format!("rot-{n} #{i}: {} {}", r.status, r.body));
            }
        }
        // The refetch limit is one per second per issuer.
        std::thread::sleep(Duration::from_millis(1100));
    }
    assert!(
        failed.is_empty(),
        "{} of {sent} failed: {failed:?}",
        failed.len()
    );
    // One fetch at start, one per rotation: the first request with a new kid waited for it,
    // every later one verified from memory.
    assert_eq!(w.server.fetches("/keys"), 4);
    assert_eq!(keys_stat(&gw, "dex", "refetch_unknown_kid"), 3);
    assert_eq!(keys_stat(&gw, "dex", "held"), 3);
    assert_eq!(keys_stat(&gw, "dex", "held_allowed"), 3);
    assert_eq!(keys_stat(&gw, "dex", "held_denied"), 0);
    let log = gw.log_when(Duration::from_secs(5), |l| l.contains("\"rot-4\""));
    assert!(log.contains("keys_changed"), "{log}");
}

#[test]
fn an_outage_keeps_known_keys_refuses_unknown_kids_and_heals() {
    if prerequisites().is_none() {
        return;
    }
    let w = World::new();
    w.server.publish(&jwks(&[1]));
    let gw = w.gateway(&w.table(quick_bounds()));
    // A worker starts refreshing with its first request.
    assert_eq!(gw.send("GET", "/dex/auth", &[]).status, 200);
    wait_for(&gw, "the first refresh", Duration::from_secs(10), || {
        keys_stat(&gw, "dex", "refresh_ok") >= 1
    });

    w.server.set_mode("down");
    let r = gw.send("GET", "/", &[("authorization", &bearer(&dex_token(1, 0)))]);
    assert_eq!(r.status, 200, "a known key keeps verifying: {}", r.body);
    let r = gw.send("GET", "/", &[("authorization", &bearer(&dex_token(2, 0)))]);
    assert_eq!(
        (r.status, r.reason()),
        (401, "unknown_kid".to_string()),
        "{}",
        r.body
    );
    assert!(keys_stat(&gw, "dex", "refresh_failed") >= 1);
    assert_eq!(keys_stat(&gw, "dex", "held_denied"), 1);

    // The server is back with the new key: the next refetch (a second later) heals it.
    w.server.publish(&jwks(&[1, 2]));
    w.server.set_mode("ok");
    std::thread::sleep(Duration::from_millis(1100));
    let r = gw.send("GET", "/", &[("authorization", &bearer(&dex_token(2, 1)))]);
    assert_eq!(r.status, 200, "{}", r.body);
}

#[test]
fn bad_answers_keep_the_last_good_keys_and_a_withdrawn_key_stops() {
    if prerequisites().is_none() {
        return;
    }
    let w = World::new();
    w.server.publish(&jwks(&[1, 2]));
    let gw = w.gateway(&w.table(quick_bounds()));
    // A worker starts refreshing with its first request.
    assert_eq!(gw.send("GET", "/dex/auth", &[]).status, 200);
    wait_for(&gw, "the first refresh", Duration::from_secs(10), || {
        keys_stat(&gw, "dex", "refresh_ok") >= 1
    });
    // rot-1 verified and cached.
    let cached = dex_token(1, 0);
    let r = gw.send("GET", "/", &[("authorization", &bearer(&cached))]);
    assert_eq!(r.status, 200, "{}", r.body);

    for (n, mode) in ["malformed", "oversized", "slow 2500"].iter().enumerate() {
        w.server.set_mode(mode);
        std::thread::sleep(Duration::from_millis(1100));
        let failed_before = keys_stat(&gw, "dex", "refresh_failed");
        // An unknown kid makes the filter refetch; the answer is refused.
        let r = gw.send("GET", "/", &[("authorization", &bearer(&dex_token(3, n)))]);
        assert_eq!(
            (r.status, r.reason()),
            (401, "unknown_kid".to_string()),
            "{mode}"
        );
        wait_for(&gw, "the refused refresh", Duration::from_secs(5), || {
            keys_stat(&gw, "dex", "refresh_failed") > failed_before
        });
        // The last good keys stay.
        let r = gw.send("GET", "/", &[("authorization", &bearer(&dex_token(2, n)))]);
        assert_eq!(r.status, 200, "{mode}: {}", r.body);
        let r = gw.send("GET", "/", &[("authorization", &bearer(&cached))]);
        assert_eq!(r.status, 200, "{mode}: {}", r.body);
    }
    let log = gw.log();
    assert!(log.contains("keys_refresh_failed"), "{log}");
    assert!(log.contains("over the 65536-byte cap"), "{log}");

    // The issuer withdraws rot-1: after the next refresh its tokens stop, the cached one too.
    w.server.set_mode("ok");
    w.server.publish(&jwks(&[2, 3]));
    std::thread::sleep(Duration::from_millis(1100));
    let r = gw.send("GET", "/", &[("authorization", &bearer(&dex_token(3, 9)))]);
    assert_eq!(r.status, 200, "the refetch brought rot-3: {}", r.body);
    let r = gw.send("GET", "/", &[("authorization", &bearer(&cached))]);
    assert_eq!(
        (r.status, r.reason()),
        (401, "unknown_kid".to_string()),
        "{}",
        r.body
    );
}

#[test]
fn alb_keys_are_fetched_once_per_kid_and_a_kid_storm_stays_bounded() {
    if prerequisites().is_none() {
        return;
    }
    let w = World::new();
    w.server.publish(&jwks(&[1]));
    let kid = uuid(0x5eed);
    w.server.put_alb_key(&kid, &key_text("alb-1.pem"));
    // The default limits: at most 4 kid fetches per issuer per 30 s.
    let mut bounds = quick_bounds();
    bounds["refetch_interval_seconds"] = json!(30);
    let gw = w.gateway(&w.table(bounds));

    let mut conn = KeepAlive::open(gw.port);
    for _ in 0..20 {
        let r = conn.send(
            "GET",
            "/",
            &[("x-amzn-oidc-data", &alb_token(&kid, SIGNER))],
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }
    assert_eq!(
        w.server.fetches(&format!("/alb/{kid}")),
        1,
        "fetched once, then from memory"
    );

    // A foreign signer never causes a fetch.
    let foreign = "arn:aws:elasticloadbalancing:us-east-1:999999999999:loadbalancer/app/x/1";
    let r = conn.send(
        "GET",
        "/",
        &[("x-amzn-oidc-data", &alb_token(&uuid(1), foreign))],
    );
    assert_eq!((r.status, r.reason()), (401, "unknown_kid".to_string()));
    assert_eq!(w.server.fetches("/alb/"), 1);

    // 1,000 requests with random kids: at most the fetch budget reaches the server.
    for n in 0..1000u64 {
        let random = uuid(0xdead_0000 + n);
        let r = conn.send(
            "GET",
            "/",
            &[("x-amzn-oidc-data", &alb_token(&random, SIGNER))],
        );
        assert_eq!((r.status, r.reason()), (401, "unknown_kid".to_string()));
    }
    let storm = w.server.fetches("/alb/") - 1;
    assert!(
        (1..=4).contains(&storm),
        "{storm} fetches for 1,000 random kids"
    );
    assert!(keys_stat(&gw, "corp-alb", "refetch_limited") >= 990);
    assert_eq!(keys_stat(&gw, "corp-alb", "refresh_ok"), 1);
}
