//! End-to-end harness: starts the echo upstream and a real Envoy with the built Gatehouse
//! filter on loopback ports the test picks, sends raw HTTP/1.1 requests, and stops both by PID.
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

use gatehouse::emit::envoy::{bootstrap, EnvoyOptions};

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

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
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

/// Writes the standalone config for the filter with `table_json` into `dir` and starts Envoy
/// on it (listener `port`, admin `admin`, upstream `upstream`, all on 127.0.0.1), logging to
/// `dir/envoy.log`, flushed every 100 ms so tests read their log lines soon.
fn spawn_static(
    envoy: &Path,
    wasm: &Path,
    table_json: &str,
    dir: &tempdir::Dir,
    port: u16,
    upstream: u16,
    admin: u16,
) -> (Child, PathBuf) {
    let config = bootstrap(&EnvoyOptions {
        wasm_path: wasm.display().to_string(),
        table_json: table_json.to_string(),
        listen: SocketAddr::from(([127, 0, 0, 1], port)),
        upstream: SocketAddr::from(([127, 0, 0, 1], upstream)),
        admin: Some(SocketAddr::from(([127, 0, 0, 1], admin))),
    });
    let cfg_path = dir.0.join("envoy.json");
    std::fs::write(&cfg_path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    let log = dir.0.join("envoy.log");
    let child = Command::new(envoy)
        .arg("-c")
        .arg(&cfg_path)
        .args(["--use-dynamic-base-id", "--concurrency", "1", "-l", "info"])
        .args(["--file-flush-interval-msec", "100"])
        .arg("--log-path")
        .arg(&log)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start envoy");
    (child, log)
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

/// A running Envoy + echo upstream; both are stopped when dropped.
pub struct Gateway {
    pub port: u16,
    pub admin: u16,
    envoy: Child,
    upstream: Child,
    pub dir: tempdir::Dir,
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

impl Gateway {
    /// Starts Envoy with `table_json` as the filter's configuration.
    pub fn start(envoy: &Path, wasm: &Path, table_json: &str) -> Gateway {
        let dir = tempdir::Dir::new("e2e");
        let (port, admin, up) = (free_port(), free_port(), free_port());
        let up_log = dir.0.join("upstream.log");
        let mut upstream = Command::new("python3")
            .arg(root().join("scripts/echo_upstream.py"))
            .args(["--port", &up.to_string(), "--max-seconds", "600"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&up_log).unwrap())
            .spawn()
            .expect("python3 for the echo upstream");
        wait_for_port(up, &mut upstream, "echo upstream", &up_log);
        let (mut child, log) = spawn_static(envoy, wasm, table_json, &dir, port, up, admin);
        wait_for_port(port, &mut child, "envoy", &log);
        Gateway {
            port,
            admin,
            envoy: child,
            upstream,
            dir,
        }
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
}

impl Drop for Gateway {
    fn drop(&mut self) {
        for child in [&mut self.envoy, &mut self.upstream] {
            let _ = child.kill();
            let _ = child.wait();
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
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nhost: gatehouse.test\r\nconnection: close\r\n")
            .into_bytes();
    for (k, v) in headers {
        req.extend_from_slice(format!("{k}: ").as_bytes());
        req.extend_from_slice(v);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"\r\n");
    // Envoy may answer (and close) before reading a large request to its end.
    let _ = s.write_all(&req);
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

/// What became of an Envoy started with a static configuration within `wait`.
pub struct StaticStart {
    /// Envoy's exit code, when it exited.
    pub exit: Option<i32>,
    /// Whether the gateway port accepted connections.
    pub listening: bool,
    pub log: String,
}

/// Starts Envoy with the filter holding `table_json` (which may be invalid or empty) in front
/// of `upstream`, waits up to `wait` for it to exit or listen, then stops it.
pub fn start_static(
    envoy: &Path,
    wasm: &Path,
    table_json: &str,
    upstream: u16,
    wait: Duration,
) -> StaticStart {
    let dir = tempdir::Dir::new("static");
    let (port, admin) = (free_port(), free_port());
    let (mut child, log) = spawn_static(envoy, wasm, table_json, &dir, port, upstream, admin);
    let deadline = Instant::now() + wait;
    let mut out = StaticStart {
        exit: None,
        listening: false,
        log: String::new(),
    };
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            out.exit = Some(status.code().unwrap_or(-1));
            break;
        }
        if listening(port) {
            out.listening = true;
            // Try a request through it: it must not reach the upstream.
            let _ = std::panic::catch_unwind(|| send(port, "GET", "/dex/auth", &[]));
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    out.log = std::fs::read_to_string(&log).unwrap_or_default();
    out
}

/// Envoy whose listener (with the filter and its table) comes from a watched LDS file, so a
/// test can push new tables the way a control plane does, without a restart: each push
/// replaces the file atomically (a rename) and waits until Envoy has taken or refused it.
pub struct DynamicGateway {
    pub port: u16,
    pub admin: u16,
    envoy: Child,
    upstream: Child,
    up: u16,
    wasm: PathBuf,
    version: u64,
    pub dir: tempdir::Dir,
}

impl DynamicGateway {
    /// Starts Envoy with `table_json` as the first pushed table (which may be refused).
    pub fn start(envoy: &Path, wasm: &Path, table_json: &str) -> DynamicGateway {
        let dir = tempdir::Dir::new("lds");
        let (port, admin, up) = (free_port(), free_port(), free_port());
        let up_log = dir.0.join("upstream.log");
        let mut upstream = Command::new("python3")
            .arg(root().join("scripts/echo_upstream.py"))
            .args(["--port", &up.to_string(), "--max-seconds", "600"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&up_log).unwrap())
            .spawn()
            .expect("python3 for the echo upstream");
        wait_for_port(up, &mut upstream, "echo upstream", &up_log);
        let lds_dir = dir.0.join("lds");
        std::fs::create_dir_all(&lds_dir).unwrap();
        write_lds(&lds_dir, 1, &listener(wasm, port, up, table_json));
        let clusters = bootstrap(&EnvoyOptions {
            wasm_path: wasm.display().to_string(),
            table_json: String::new(),
            listen: SocketAddr::from(([127, 0, 0, 1], port)),
            upstream: SocketAddr::from(([127, 0, 0, 1], up)),
            admin: None,
        })["static_resources"]["clusters"]
            .clone();
        let boot = serde_json::json!({
            "node": {"id": "gatehouse-test", "cluster": "gatehouse"},
            "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin}}},
            "static_resources": {"clusters": clusters},
            "dynamic_resources": {"lds_config": {
                "path_config_source": {
                    "path": lds_dir.join("lds.json").display().to_string(),
                    "watched_directory": {"path": lds_dir.display().to_string()},
                },
                "resource_api_version": "V3",
            }},
        });
        let cfg_path = dir.0.join("envoy.json");
        std::fs::write(&cfg_path, serde_json::to_vec_pretty(&boot).unwrap()).unwrap();
        let log = dir.0.join("envoy.log");
        let mut child = Command::new(envoy)
            .arg("-c")
            .arg(&cfg_path)
            .args(["--use-dynamic-base-id", "--concurrency", "1", "-l", "info"])
            .args(["--file-flush-interval-msec", "100"])
            .arg("--log-path")
            .arg(&log)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start envoy");
        wait_for_port(admin, &mut child, "envoy admin", &log);
        let gw = DynamicGateway {
            port,
            admin,
            envoy: child,
            upstream,
            up,
            wasm: wasm.to_path_buf(),
            version: 1,
            dir,
        };
        gw.wait_for_attempts(1);
        if gw.stat("listener_manager.lds.update_success") > 0 {
            gw.wait_until(|g| g.stat("listener_manager.total_listeners_warming") == 0);
        }
        gw
    }

    /// Pushes a new table and waits until Envoy has accepted (and activated) or refused it.
    /// Returns whether the update was accepted.
    pub fn push(&mut self, table_json: &str) -> bool {
        let before = self.stat("listener_manager.lds.update_success");
        self.version += 1;
        let l = listener(&self.wasm, self.port, self.up, table_json);
        write_lds(&self.dir.0.join("lds"), self.version, &l);
        self.wait_for_attempts(self.version);
        let accepted = self.stat("listener_manager.lds.update_success") > before;
        if accepted {
            self.wait_until(|g| g.stat("listener_manager.total_listeners_warming") == 0);
        }
        accepted
    }

    fn wait_for_attempts(&self, n: u64) {
        self.wait_until(|g| g.stat("listener_manager.lds.update_attempt") >= n);
    }

    fn wait_until(&self, done: impl Fn(&DynamicGateway) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !done(self) {
            assert!(
                Instant::now() < deadline,
                "envoy did not settle; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A counter or gauge from the admin `/stats` (0 when absent).
    pub fn stat(&self, name: &str) -> u64 {
        stat(&send(self.admin, "GET", "/stats", &[]).body, name)
    }

    /// Envoy's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.0.join("envoy.log")).unwrap_or_default()
    }

    /// Envoy's log once `ready` holds for it, or as it is after `timeout`.
    pub fn log_when(&self, timeout: Duration, ready: impl Fn(&str) -> bool) -> String {
        poll_log(|| self.log(), timeout, ready)
    }

    /// Sends a request to the gateway.
    pub fn send(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
        send(self.port, method, path, headers)
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

impl Drop for DynamicGateway {
    fn drop(&mut self) {
        for child in [&mut self.envoy, &mut self.upstream] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The gateway listener as an LDS resource: the standalone configuration's listener, with the
/// filter holding `table_json`.
fn listener(wasm: &Path, port: u16, up: u16, table_json: &str) -> serde_json::Value {
    let boot = bootstrap(&EnvoyOptions {
        wasm_path: wasm.display().to_string(),
        table_json: table_json.to_string(),
        listen: SocketAddr::from(([127, 0, 0, 1], port)),
        upstream: SocketAddr::from(([127, 0, 0, 1], up)),
        admin: None,
    });
    let mut listener = boot["static_resources"]["listeners"][0].clone();
    listener["@type"] = "type.googleapis.com/envoy.config.listener.v3.Listener".into();
    listener
}

/// Replaces `dir/lds.json` atomically (write, then rename: Envoy's watched directory sees a
/// moved-in file) with one listener at `version`.
fn write_lds(dir: &Path, version: u64, listener: &serde_json::Value) {
    let lds = serde_json::json!({"version_info": version.to_string(), "resources": [listener]});
    let tmp = dir.join(format!("lds.json.{version}"));
    std::fs::write(&tmp, serde_json::to_vec(&lds).unwrap()).unwrap();
    std::fs::rename(&tmp, dir.join("lds.json")).unwrap();
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
