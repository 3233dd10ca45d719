//! Tables by reference through a real Envoy: the filter fetches the signed table that
//! `gatehouse serve` (or a plain file server of the test's own) serves, enforces it, takes a
//! new one under load with no failed request, refuses every bad table with its counter while
//! the last good one keeps deciding, and heals a cold start once the server is up.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gatehouse_filter::token::mint::{sign_jwt, SigningKey};
use gatehouse_filter::wire;
use harness::{free_port, prerequisites, root, tempdir, Gateway, KeepAlive, Upstream};
use serde_json::json;

const TABLE_HOST: &str = "tables.gatehouse.svc";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn dex(email: &str) -> String {
    let pem = std::fs::read_to_string(root().join("testdata/keys/dex-rsa.key.pem")).unwrap();
    let key = SigningKey::from_pem(&pem).unwrap();
    let t = now();
    let claims = json!({"iss": "https://dex.example.com", "aud": "kubeflow-oidc-authservice",
        "email": email, "email_verified": true, "iat": t, "exp": t + 600});
    format!(
        "Bearer {}",
        sign_jwt(&key, "RS256", &json!({"kid": "dex-1"}), &claims).unwrap()
    )
}

/// The filter's configuration naming the table at `port` of the table host.
fn source_config(port: u16, trusted: &str, extra: serde_json::Value) -> String {
    let mut s = json!({
        "url": format!("http://{TABLE_HOST}:{port}/table"),
        "cluster": format!("outbound|{port}||{TABLE_HOST}"),
        "trusted_keys": [trusted],
        "poll_seconds": 1,
        "hold_milliseconds": 1500,
    });
    for (k, v) in extra.as_object().unwrap() {
        s[k] = v.clone();
    }
    json!({ "table_source": s }).to_string()
}

/// The cluster that reaches the table host's `port` on loopback.
fn table_cluster(port: u16) -> serde_json::Value {
    gatehouse::emit::envoy::cluster(
        &format!("outbound|{port}||{TABLE_HOST}"),
        std::net::SocketAddr::from(([127, 0, 0, 1], port)),
    )
}

/// A policy directory of the test's own: `policies/` copied, its key files reached through
/// `testdata` beside it.
fn policy_copy(dir: &Path) -> PathBuf {
    let pol = dir.join("pol");
    copy_dir(&root().join("policies"), &pol);
    #[cfg(unix)]
    std::os::unix::fs::symlink(root().join("testdata"), dir.join("testdata")).unwrap();
    pol
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

/// A signing key pair: (the key file, the public key).
fn keygen(dir: &Path, name: &str) -> (PathBuf, String) {
    let out = dir.join(name);
    let o = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["keygen", "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    (
        dir.join(format!("{name}.key")),
        String::from_utf8(o.stdout).unwrap().trim().to_string(),
    )
}

/// `gatehouse serve` on `port`, stopped when dropped.
struct Serve(Child);

impl Serve {
    fn start(pol: &Path, key: &Path, port: u16, log: PathBuf) -> Serve {
        let child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .arg("serve")
            .arg(pol)
            .arg("--sign")
            .arg(key)
            .args(["--listen", &format!("127.0.0.1:{port}"), "--interval", "1"])
            .args(["--max-seconds", "600"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap();
        listening(port, "gatehouse serve");
        Serve(child)
    }

    fn get(&self, port: u16, path: &str) -> harness::Response {
        harness::send(port, "GET", path, &[])
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until something listens on `port`.
fn listening(port: u16, what: &str) {
    wait_for(what, Duration::from_secs(30), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn counter(gw: &Gateway, event: &str) -> u64 {
    gw.stat(&format!("wasmcustom.gatehouse.table.{event}"))
}

#[test]
fn a_served_table_is_fetched_enforced_and_replaced_under_load_without_a_failed_request() {
    let Some((envoy, wasm)) = prerequisites() else {
        return;
    };
    let dir = tempdir::Dir::new("tables");
    let pol = policy_copy(&dir.0);
    let (key, public) = keygen(&dir.0, "signer");
    let port = free_port();
    let serve = Serve::start(&pol, &key, port, dir.0.join("serve.log"));
    let gw = Gateway::launch_with(
        &envoy,
        &wasm,
        &source_config(port, &public, json!({})),
        Upstream::Echo,
        vec![table_cluster(port)],
    );
    // The first request waits for the first table, then is decided with it.
    let alice = dex("alice@example.com");
    let r = gw.send("GET", "/notebook/alice/nb-1/", &[("authorization", &alice)]);
    assert_eq!(r.status, 200, "{}\n{}", r.body, gw.log());
    assert_eq!(r.upstream_header("kubeflow-userid"), ["alice@example.com"]);
    let zed = dex("zed@example.com");
    let r = gw.send("GET", "/notebook/alice/nb-1/", &[("authorization", &zed)]);
    assert_eq!((r.status, r.reason()), (403, "not_permitted".to_string()));
    assert!(counter(&gw, "updated") >= 1);
    // Polls of an unchanged directory are answered 304.
    wait_for("a 304", Duration::from_secs(20), || {
        counter(&gw, "unchanged") >= 1
    });

    // Under continuous load, a contributor is added in the policy directory.
    let stop = Arc::new(AtomicBool::new(false));
    let (sent, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let load = {
        let (stop, sent, failed, port) = (stop.clone(), sent.clone(), failed.clone(), gw.port);
        let bob = dex("bob@example.com");
        std::thread::spawn(move || {
            let mut conn = KeepAlive::open(port);
            while !stop.load(Ordering::Relaxed) {
                let r = conn.send(
                    "GET",
                    "/jupyter/api/namespaces/alice/notebooks",
                    &[("authorization", &bob)],
                );
                sent.fetch_add(1, Ordering::Relaxed);
                if r.status != 200 {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    wait_for("load to run", Duration::from_secs(20), || {
        sent.load(Ordering::Relaxed) >= 200
    });
    std::fs::write(
        pol.join("bindings/zed.yaml"),
        "apiVersion: gatehouse.dev/v1alpha1\nkind: Binding\nmetadata:\n  name: zed\nspec:\n  role: kubeflow-edit\n  subjects:\n    - {kind: User, name: zed@example.com}\n  namespaces: [alice]\n",
    )
    .unwrap();
    wait_for(
        "zed's binding to reach the gateway",
        Duration::from_secs(30),
        || {
            gw.send("GET", "/notebook/alice/nb-1/", &[("authorization", &zed)])
                .status
                == 200
        },
    );
    let at_swap = sent.load(Ordering::Relaxed);
    wait_for("load after the swap", Duration::from_secs(20), || {
        sent.load(Ordering::Relaxed) >= at_swap + 200
    });
    stop.store(true, Ordering::Relaxed);
    load.join().unwrap();
    assert!(
        sent.load(Ordering::Relaxed) > 50,
        "too little load to judge"
    );
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "requests failed during the swap"
    );

    // A policy edit that does not compile: the server keeps serving the last good table,
    // says so, and the gateway keeps deciding with it.
    let updated = counter(&gw, "updated");
    std::fs::write(pol.join("bindings/broken.yaml"), "kind: [").unwrap();
    wait_for(
        "serve to report the failed compile",
        Duration::from_secs(20),
        || serve.get(port, "/healthz").body.contains("\"stale\""),
    );
    let health = serve.get(port, "/healthz");
    assert_eq!(health.status, 200);
    assert!(health.body.contains("broken.yaml"), "{}", health.body);
    assert!(serve
        .get(port, "/metrics")
        .body
        .contains("gatehouse_serve_table_stale 1"));
    std::thread::sleep(Duration::from_secs(3));
    let r = gw.send("GET", "/notebook/alice/nb-1/", &[("authorization", &zed)]);
    assert_eq!(r.status, 200);
    assert_eq!(
        counter(&gw, "updated"),
        updated,
        "a table changed without a good compile"
    );

    // Table swaps free the old tables: memory stays flat over many of them.
    std::fs::remove_file(pol.join("bindings/broken.yaml")).unwrap();
    let rss = |gw: &Gateway| gw.rss_kib();
    let mut before = 0;
    for i in 0..12 {
        let n = counter(&gw, "updated");
        std::fs::write(
            pol.join("bindings/zed.yaml"),
            format!("apiVersion: gatehouse.dev/v1alpha1\nkind: Binding\nmetadata:\n  name: zed\nspec:\n  role: kubeflow-edit\n  subjects:\n    - {{kind: User, name: user-{i}@example.com}}\n  namespaces: [alice]\n"),
        )
        .unwrap();
        wait_for("the next table", Duration::from_secs(30), || {
            counter(&gw, "updated") > n
        });
        if i == 3 {
            before = rss(&gw);
        }
    }
    let after = rss(&gw);
    assert!(
        after < before + 8 * 1024,
        "Envoy grew from {before} KiB to {after} KiB over 8 table swaps"
    );
}

/// A directory served by Python's file server: the test writes `table` into it.
struct FileServer(Child);

impl FileServer {
    fn start(dir: &Path, port: u16) -> FileServer {
        let child = Command::new("python3")
            .args(["-m", "http.server", "--bind", "127.0.0.1", "--directory"])
            .arg(dir)
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        listening(port, "the file server");
        FileServer(child)
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Writes `bytes` as the served table (by a rename: the server never sends half a file).
fn publish(dir: &Path, bytes: &[u8]) {
    let tmp = dir.join("table.tmp");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, dir.join("table")).unwrap();
}

#[test]
fn bad_tables_are_refused_with_a_counter_and_the_last_good_one_keeps_deciding() {
    let Some((envoy, wasm)) = prerequisites() else {
        return;
    };
    let dir = tempdir::Dir::new("bad-tables");
    let served = dir.0.join("served");
    std::fs::create_dir_all(&served).unwrap();
    let compiled = gatehouse::compile_dir(
        &root().join("policies"),
        &gatehouse::CompileOptions { now: now() },
    )
    .unwrap();
    let binary = wire::encode(&compiled.table).unwrap();
    let seed = [3u8; 32];
    let public = wire::base64_key(&wire::public_key(&seed));
    let next = [9u8; 32];
    let next_public = wire::base64_key(&wire::public_key(&next));
    publish(&served, &wire::sign(&binary, &seed));
    let port = free_port();
    let _server = FileServer::start(&served, port);
    let gw = Gateway::launch_with(
        &envoy,
        &wasm,
        // Two trusted keys: the signer in use and the next one (a signing-key rotation).
        &source_config(
            port,
            &public,
            json!({"max_bytes": 1_000_000, "trusted_keys": [&public, &next_public]}),
        ),
        Upstream::Echo,
        vec![table_cluster(port)],
    );
    let alice = dex("alice@example.com");
    let r = gw.send("GET", "/notebook/alice/nb-1/", &[("authorization", &alice)]);
    assert_eq!(r.status, 200, "{}\n{}", r.body, gw.log());

    let signed = wire::sign(&binary, &seed);
    let mut flipped = signed.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    let mut other_version = binary.clone();
    other_version[4] = 7;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("a bad signature", flipped, "does not verify"),
        (
            "an unknown key",
            wire::sign(&binary, &[4u8; 32]),
            "not trusted",
        ),
        (
            "another format version",
            wire::sign(&other_version, &seed),
            "format version 7",
        ),
        (
            "a truncated table",
            signed[..signed.len() / 3].to_vec(),
            "refused",
        ),
        ("an unsigned table", binary.clone(), "not a signed table"),
        ("an oversized table", vec![b'x'; 1_500_000], "cap"),
    ];
    for (what, bytes, says) in cases {
        let refused = counter(&gw, "refused");
        publish(&served, &bytes);
        wait_for(what, Duration::from_secs(20), || {
            counter(&gw, "refused") > refused
        });
        let log = gw.log_when(Duration::from_secs(5), |l| l.contains(says));
        assert!(
            log.contains(says),
            "{what}: the log does not say `{says}`:\n{log}"
        );
        let r = gw.send("GET", "/notebook/alice/nb-1/", &[("authorization", &alice)]);
        assert_eq!(
            r.status, 200,
            "{what}: the last good table stopped deciding"
        );
        let zed = dex("zed@example.com");
        let r = gw.send("GET", "/notebook/alice/nb-1/", &[("authorization", &zed)]);
        assert_eq!(r.status, 403, "{what}");
    }
    // The rotation: the next key signs a new table, which takes effect.
    let updated = counter(&gw, "updated");
    let mut rotated = compiled.table.clone();
    rotated.grants.entry("alice".into()).or_default().insert(
        gatehouse_filter::table::Subject::User("zed@example.com".into()),
        vec![gatehouse_filter::table::GrantSpec {
            role: "kubeflow-edit".into(),
            apis: None,
            source: String::new(),
        }],
    );
    publish(
        &served,
        &wire::sign(&wire::encode(&rotated).unwrap(), &next),
    );
    wait_for(
        "the table signed by the next key",
        Duration::from_secs(20),
        || counter(&gw, "updated") > updated,
    );
    let zed = dex("zed@example.com");
    let r = gw.send("GET", "/notebook/alice/nb-1/", &[("authorization", &zed)]);
    assert_eq!(r.status, 200, "the rotated table does not decide");
}

#[test]
fn a_cold_start_with_the_server_down_gets_503_then_heals_when_it_is_up() {
    let Some((envoy, wasm)) = prerequisites() else {
        return;
    };
    let dir = tempdir::Dir::new("cold");
    let pol = policy_copy(&dir.0);
    let (key, public) = keygen(&dir.0, "signer");
    let port = free_port();
    let gw = Gateway::launch_with(
        &envoy,
        &wasm,
        &source_config(port, &public, json!({"hold_milliseconds": 800})),
        Upstream::Echo,
        vec![table_cluster(port)],
    );
    let alice = dex("alice@example.com");
    let started = Instant::now();
    let r = gw.send("GET", "/notebook/alice/nb-1/", &[("authorization", &alice)]);
    assert_eq!(
        (r.status, r.reason()),
        (503, "no_table".to_string()),
        "{}",
        r.body
    );
    // Held no longer than its bound (plus a tick), never indefinitely.
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(counter(&gw, "fetch_failed") >= 1);
    let _serve = Serve::start(&pol, &key, port, dir.0.join("serve.log"));
    wait_for(
        "the next poll to heal the gateway",
        Duration::from_secs(30),
        || {
            gw.send("GET", "/notebook/alice/nb-1/", &[("authorization", &alice)])
                .status
                == 200
        },
    );
    assert!(counter(&gw, "updated") >= 1);
}
