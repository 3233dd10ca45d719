//! End-to-end harness: starts the echo upstream and a real Envoy with the built Gatehouse
//! filter on loopback ports the test picks, from the configuration `gatehouse emit envoy`
//! writes (the table in a watched file, delivered by ECDS, so tests push new tables as an
//! operator does); sends raw HTTP/1.1 requests, one-shot or on one keep-alive connection
//! ([`KeepAlive`]), and HTTP/2 requests on one connection ([`H2Connection`], [`send_h2`],
//! through `scripts/h2_client.py`); stops every process it started by PID.
//!
//! Needs `GATEHOUSE_ENVOY` (the Envoy binary; `scripts/setup.sh` prints it) and the release
//! filter at `GATEHOUSE_WASM` or `target/wasm32-wasip1/release/gatehouse_filter.wasm`.
//! Without them the tests skip with a message — except under CI (`CI` set), where they fail.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gatehouse::emit::envoy::{bootstrap, table_file, write_table_file, EnvoyOptions};

mod http1;
mod http2;
pub mod keys;
// Each test crate includes the harness and uses part of it.
#[allow(unused_imports)]
pub use http1::KeepAlive;
#[allow(unused_imports)]
pub use http2::{send_h2, try_send_h2, H2Connection, H2Error};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The Envoy binary and the filter, or `None` (with a printed reason) when the test must skip.
pub fn prerequisites() -> Option<(PathBuf, PathBuf)> {
    let envoy = std::env::var_os("GATEHOUSE_ENVOY")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv/envoy"));
    let wasm = std::env::var_os("GATEHOUSE_WASM")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/wasm32-wasip1/release/gatehouse_filter.wasm"));
    let missing: Vec<String> = [
        (&envoy, "Envoy (run scripts/setup.sh)"),
        (
            &wasm,
            "the filter (cargo build -p gatehouse-filter --target wasm32-wasip1 --release)",
        ),
    ]
    .iter()
    .filter(|(p, _)| !p.exists())
    .map(|(p, what)| format!("{what} at {}", p.display()))
    .collect();
    if missing.is_empty() {
        return Some((envoy, wasm));
    }
    let msg = format!("end-to-end test needs {}", missing.join(" and "));
    if std::env::var_os("CI").is_some() {
        panic!("{msg}");
    }
    eprintln!("SKIPPED: {msg}");
    None
}

/// A loopback port free now and never handed out before in this test process: tests run in
/// parallel and bind their ports only later (Envoy, the upstream, the key server), so the same
/// port handed to two of them would send one test's requests to another's server.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

fn wait_for_port(port: u16, child: &mut Child, what: &str, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            let log = std::fs::read_to_string(log).unwrap_or_default();
            panic!("{what} exited with {status} before listening:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} did not listen on 127.0.0.1:{port} within 30 s");
}

/// Reads a log through `read` until `ready` holds for it, or returns it as it is after
/// `timeout`.
fn poll_log(read: impl Fn() -> String, timeout: Duration, ready: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let log = read();
        if ready(&log) || Instant::now() > deadline {
            return log;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub mod tempdir {
    //! A tiny temporary directory (removed on drop).
    use std::path::PathBuf;

    pub struct Dir(pub PathBuf);

    impl Dir {
        pub fn new(tag: &str) -> Dir {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos();
            let p = std::env::temp_dir()
                .join(format!("gatehouse-{tag}-{}-{nanos}", std::process::id()));
            std::fs::create_dir_all(&p).unwrap();
            Dir(p)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Where a gateway sends what it lets through.
pub enum Upstream {
    /// A new `scripts/echo_upstream.py`, stopped with the gateway.
    Echo,
    /// Something the test runs on this loopback port (e.g. a [`CountingUpstream`]).
    Port(u16),
}

/// The sign-in secrets every test gateway's Envoy has, unless the test gives its own.
pub const TEST_SIGN_IN_ENV: [(&str, &str); 2] = [
    ("OIDC_CLIENT_SECRET", "test-client-secret"),
    (
        "GATEHOUSE_COOKIE_KEYS",
        "test:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
    ),
];

/// What a test adds to the gateway's Envoy.
#[derive(Default)]
pub struct More {
    /// Clusters.
    pub clusters: Vec<serde_json::Value>,
    /// Routes, matched before the one to the upstream.
    pub routes: Vec<serde_json::Value>,
    /// Environment variables of the Envoy process.
    pub env: Vec<(String, String)>,
    /// Envoy's worker threads (default 1).
    pub concurrency: Option<u32>,
}

/// A running Envoy (+ echo upstream) started from the standalone configuration that
/// `gatehouse emit envoy` writes: one listener whose filter, with its table, Envoy takes from a
/// watched table file (ECDS). [`Gateway::push`] replaces that file the way `gatehouse emit
/// envoy-table` does (atomically, by a rename) and waits until Envoy has taken or refused the
/// table. Both processes are stopped by PID when dropped.
pub struct Gateway {
    pub port: u16,
    pub admin: u16,
    envoy: Child,
    upstream: Option<Child>,
    wasm: PathBuf,
    /// Table files written so far (Envoy counts one update attempt per file).
    writes: u64,
    pub dir: tempdir::Dir,
}

/// The stats of the table file's extension configuration.
const ECDS_STATS: &str = "extension_config_discovery.http_filter.gatehouse";

impl Gateway {
    /// Starts Envoy with `table_json` as the filter's table, which it must take.
    pub fn start(envoy: &Path, wasm: &Path, table_json: &str) -> Gateway {
        let gw = Gateway::launch(envoy, wasm, table_json, Upstream::Echo);
        assert_eq!(
            gw.ecds_stat("update_success"),
            1,
            "envoy refused the first table; log:\n{}",
            gw.log()
        );
        gw
    }

    /// Starts Envoy with `table_json` as the first table, which may be refused (then Envoy
    /// runs without the filter's configuration until a good table is pushed), and waits until
    /// Envoy has read it and listens.
    pub fn launch(envoy: &Path, wasm: &Path, table_json: &str, upstream: Upstream) -> Gateway {
        Gateway::launch_with(envoy, wasm, table_json, upstream, Vec::new())
    }

    /// [`Gateway::launch`], with more clusters in the bootstrap (the key clusters that
    /// `gatehouse emit envoy` adds for the table's key URLs).
    pub fn launch_with(
        envoy: &Path,
        wasm: &Path,
        table_json: &str,
        upstream: Upstream,
        clusters: Vec<serde_json::Value>,
    ) -> Gateway {
        let more = More {
            clusters,
            ..More::default()
        };
        Gateway::launch_more(envoy, wasm, table_json, upstream, more)
    }

    /// [`Gateway::launch`], with more clusters, routes before the upstream's, and environment
    /// variables for Envoy (the sign-in's secrets).
    pub fn launch_more(
        envoy: &Path,
        wasm: &Path,
        table_json: &str,
        upstream: Upstream,
        more: More,
    ) -> Gateway {
        let More {
            clusters,
            routes,
            mut env,
            concurrency,
        } = more;
        // The sign-in of policies/ reads its secrets from Envoy's environment (test values).
        for (name, value) in TEST_SIGN_IN_ENV {
            if !env.iter().any(|(n, _)| n == name) {
                env.push((name.to_owned(), value.to_owned()));
            }
        }
        let dir = tempdir::Dir::new("e2e");
        let (port, admin) = (free_port(), free_port());
        let (up, upstream) = match upstream {
            Upstream::Port(up) => (up, None),
            Upstream::Echo => {
                let up = free_port();
                let up_log = dir.0.join("upstream.log");
                let mut child = Command::new("python3")
                    .arg(root().join("scripts/echo_upstream.py"))
                    .args(["--port", &up.to_string(), "--max-seconds", "600"])
                    .stdout(Stdio::null())
                    .stderr(std::fs::File::create(&up_log).unwrap())
                    .spawn()
                    .expect("python3 for the echo upstream");
                wait_for_port(up, &mut child, "echo upstream", &up_log);
                (up, Some(child))
            }
        };
        let table_dir = dir.0.join("table");
        std::fs::create_dir_all(&table_dir).unwrap();
        write_table_file(
            &table_dir,
            &table_file(&wasm.display().to_string(), table_json, "1"),
        )
        .unwrap();
        let config = bootstrap(&EnvoyOptions {
            table_dir,
            listen: SocketAddr::from(([127, 0, 0, 1], port)),
            upstream: SocketAddr::from(([127, 0, 0, 1], up)),
            admin: Some(SocketAddr::from(([127, 0, 0, 1], admin))),
        });
        let mut config = config;
        if let Some(list) = config["static_resources"]["clusters"].as_array_mut() {
            list.extend(clusters);
        }
        let vhost = "/static_resources/listeners/0/filter_chains/0/filters/0/typed_config/route_config/virtual_hosts/0/routes";
        if let Some(list) = config.pointer_mut(vhost).and_then(|r| r.as_array_mut()) {
            for (i, r) in routes.into_iter().enumerate() {
                list.insert(i, r);
            }
        }
        let cfg_path = dir.0.join("envoy.json");
        std::fs::write(&cfg_path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
        let log = dir.0.join("envoy.log");
        let mut child = Command::new(envoy)
            .arg("-c")
            .arg(&cfg_path)
            .args(["--use-dynamic-base-id", "-l", "info"])
            .args(["--concurrency", &concurrency.unwrap_or(1).to_string()])
            .args(["--file-flush-interval-msec", "100"])
            .arg("--log-path")
            .arg(&log)
            .envs(env)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start envoy");
        wait_for_port(port, &mut child, "envoy", &log);
        let gw = Gateway {
            port,
            admin,
            envoy: child,
            upstream,
            wasm: wasm.to_path_buf(),
            writes: 1,
            dir,
        };
        gw.wait_until(|g| g.ecds_stat("update_attempt") >= 1);
        gw
    }

    /// Pushes a new table (replaces the table file) and waits until Envoy has accepted or
    /// refused it. Returns whether it was accepted: from then on it decides the next request
    /// on every connection.
    pub fn push(&mut self, table_json: &str) -> bool {
        let before = self.ecds_stat("update_success");
        self.writes += 1;
        let contents = table_file(
            &self.wasm.display().to_string(),
            table_json,
            &self.writes.to_string(),
        );
        write_table_file(&self.dir.0.join("table"), &contents).unwrap();
        let n = self.writes;
        self.wait_until(|g| g.ecds_stat("update_attempt") >= n);
        self.ecds_stat("update_success") > before
    }

    fn wait_until(&self, done: impl Fn(&Gateway) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !done(self) {
            assert!(
                Instant::now() < deadline,
                "envoy did not settle; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A counter or gauge from the admin `/stats` (0 when absent).
    pub fn stat(&self, name: &str) -> u64 {
        stat(&send(self.admin, "GET", "/stats", &[]).body, name)
    }

    /// A counter of the table file's extension configuration (ECDS): `update_attempt`,
    /// `update_success`, `update_rejected`, `config_reload`, `config_fail`, …
    pub fn ecds_stat(&self, counter: &str) -> u64 {
        self.stat(&format!("{ECDS_STATS}.{counter}"))
    }

    /// Envoy's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.0.join("envoy.log")).unwrap_or_default()
    }

    /// Envoy's log once `ready` holds for it (Envoy writes its log file in the background),
    /// or as it is after `timeout`.
    pub fn log_when(&self, timeout: Duration, ready: impl Fn(&str) -> bool) -> String {
        poll_log(|| self.log(), timeout, ready)
    }

    /// Sends a request with these headers (repeats allowed) to the gateway.
    pub fn send(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
        send(self.port, method, path, headers)
    }

    /// GETs an admin path (e.g. `/stats/prometheus`).
    pub fn admin_get(&self, path: &str) -> String {
        send(self.admin, "GET", path, &[]).body
    }

    /// Whether the gateway's listener accepts connections.
    pub fn listening(&self) -> bool {
        listening(self.port)
    }

    /// Envoy's resident memory, in KiB, from /proc.
    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.envoy.id())
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.envoy.kill();
        let _ = self.envoy.wait();
        if let Some(up) = &mut self.upstream {
            let _ = up.kill();
            let _ = up.wait();
        }
    }
}

/// A parsed HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The JSON body (the echo upstream's view, or a denial).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// For an allowed request: the values the upstream received for `name`.
    pub fn upstream_header(&self, name: &str) -> Vec<String> {
        self.json()["headers"][name]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    }

    /// For a denial: the reason code.
    pub fn reason(&self) -> String {
        self.json()["reason"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

/// Reads one response: up to its `content-length` when it has one (Envoy holds a closing
/// connection open for its `delayed_close_timeout`, 1 s, waiting for the client to close
/// first), else to the end of the stream. A reset after the answer keeps what was read.
fn read_response(s: &mut TcpStream) -> Vec<u8> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
            let length = head.lines().find_map(|l| {
                l.strip_prefix("content-length:")
                    .and_then(|v| v.trim().parse::<usize>().ok())
            });
            if length.is_some_and(|n| raw.len() >= end + 4 + n) {
                return raw;
            }
        }
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return raw,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
    }
}

/// Raw HTTP/1.1 with `Connection: close`, so paths and headers go out exactly as written.
pub fn send(port: u16, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
    let headers: Vec<(&str, &[u8])> = headers.iter().map(|(k, v)| (*k, v.as_bytes())).collect();
    send_bytes(port, method, path, &headers)
}

/// [`send`] with header values as raw bytes (obs-text, invalid UTF-8).
pub fn send_bytes(port: u16, method: &str, path: &str, headers: &[(&str, &[u8])]) -> Response {
    try_send_bytes(port, method, path, headers)
        .unwrap_or_else(|| panic!("no response to {method} {path}"))
}

/// [`send_bytes`], or `None` when the connection ends without a status line (Envoy may
/// answer an oversized request and reset the connection before the answer is read).
pub fn try_send_bytes(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &[u8])],
) -> Option<Response> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    // Envoy may answer (and close) before reading a large request to its end.
    let _ = s.write_all(&request_head(method, path, headers, true));
    let raw = read_response(&mut s);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Some(Response {
        status,
        headers,
        body: body.to_string(),
    })
}

/// An upstream that counts the connections it accepts (and answers each with an empty 200):
/// for tests that must show nothing reached the upstream. Stops accepting when dropped.
pub struct CountingUpstream {
    pub port: u16,
    count: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl CountingUpstream {
    pub fn start() -> CountingUpstream {
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        use std::sync::Arc;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let count = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (c, s) = (Arc::clone(&count), Arc::clone(&stop));
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut conn, _)) => {
                        c.fetch_add(1, Ordering::SeqCst);
                        let _ = conn.write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                        );
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        CountingUpstream { port, count, stop }
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.count.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for CountingUpstream {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Whether something accepts connections on a loopback port.
pub fn listening(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// A value from admin `/stats` text (`name: value`); 0 when absent.
pub fn stat(stats: &str, name: &str) -> u64 {
    stats
        .lines()
        .find_map(|l| {
            l.strip_prefix(name)?
                .strip_prefix(": ")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// A process's resident memory, in KiB (`VmRSS` in /proc/PID/status); 0 when unknown.
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Renders one request head (HTTP/1.1) with these headers, exactly as given.
pub(crate) fn request_head(
    method: &str,
    path: &str,
    headers: &[(&str, &[u8])],
    close: bool,
) -> Vec<u8> {
    let mut req = format!("{method} {path} HTTP/1.1\r\n").into_bytes();
    // `host: gatehouse.test` unless the test names a host of its own.
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.extend_from_slice(b"host: gatehouse.test\r\n");
    }
    if close {
        req.extend_from_slice(b"connection: close\r\n");
    }
    for (k, v) in headers {
        req.extend_from_slice(format!("{k}: ").as_bytes());
        req.extend_from_slice(v);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"\r\n");
    req
}
