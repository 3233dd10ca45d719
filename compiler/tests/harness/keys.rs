//! A key server of the tests' own for the live-keys tests: a self-signed CA (made with the
//! `openssl` CLI), and `key_server.py` serving an issuer's JWKS and ALB per-kid PEMs over HTTPS
//! on loopback, from a state directory the test rewrites while Envoy runs.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::{free_port, root, wait_for_port};

/// A test CA and one server certificate it signed for `host`.
pub struct TestCa {
    /// The CA certificate (what the emitted cluster trusts).
    pub ca: PathBuf,
    /// The server's certificate chain.
    pub cert: PathBuf,
    /// The server's private key.
    pub key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl CLI (Debian package `openssl`)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl TestCa {
    /// Makes a CA and a certificate for `host` (DNS name) in `dir`.
    pub fn new(dir: &Path, host: &str) -> TestCa {
        let p256 = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ];
        let mut ca_args = vec!["req", "-x509"];
        ca_args.extend(p256);
        ca_args.extend([
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=Gatehouse test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        openssl(dir, &ca_args);
        let mut csr_args = vec!["req"];
        csr_args.extend(p256);
        let subject = format!("/CN={host}");
        csr_args.extend([
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            &subject,
        ]);
        openssl(dir, &csr_args);
        std::fs::write(
            dir.join("server.ext"),
            format!("subjectAltName=DNS:{host}\nextendedKeyUsage=serverAuth\n"),
        )
        .unwrap();
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.pem",
                "-days",
                "2",
                "-extfile",
                "server.ext",
            ],
        );
        TestCa {
            ca: dir.join("ca.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server.key"),
        }
    }
}

/// A running `key_server.py` (stopped by PID when dropped).
pub struct KeyServer {
    pub port: u16,
    state: PathBuf,
    child: Child,
}

impl KeyServer {
    /// Starts the server on a free loopback port with `ca`'s server certificate; its state
    /// lives in `dir/state`.
    pub fn start(dir: &Path, ca: &TestCa) -> KeyServer {
        let state = dir.join("state");
        std::fs::create_dir_all(state.join("alb")).unwrap();
        let port = free_port();
        let log = dir.join("key-server.log");
        let mut child = Command::new("python3")
            .arg(root().join("compiler/tests/harness/key_server.py"))
            .args(["--port", &port.to_string(), "--max-seconds", "600"])
            .arg("--cert")
            .arg(&ca.cert)
            .arg("--key")
            .arg(&ca.key)
            .arg("--state")
            .arg(&state)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("python3 for the key server");
        wait_for_port(port, &mut child, "key server", &log);
        KeyServer { port, state, child }
    }

    /// Publishes this JWKS at `/keys`.
    pub fn publish(&self, jwks: &serde_json::Value) {
        self.write("jwks.json", jwks.to_string().as_bytes());
    }

    /// Serves this PEM at `/alb/<kid>`.
    pub fn put_alb_key(&self, kid: &str, pem: &str) {
        self.write(&format!("alb/{kid}"), pem.as_bytes());
    }

    /// `ok`, `down`, `malformed`, `oversized` or `slow <ms>` (see `key_server.py`).
    pub fn set_mode(&self, mode: &str) {
        self.write("mode", mode.as_bytes());
    }

    /// Requests the server has answered (or is answering) whose path starts with `prefix`.
    pub fn fetches(&self, prefix: &str) -> usize {
        std::fs::read_to_string(self.state.join("fetches.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with(prefix))
            .count()
    }

    /// Replaces a state file atomically (the server may be reading it).
    fn write(&self, name: &str, contents: &[u8]) {
        let tmp = self.state.join(".tmp");
        std::fs::write(&tmp, contents).unwrap();
        std::fs::rename(&tmp, self.state.join(name)).unwrap();
    }
}

impl Drop for KeyServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The key clusters `gatehouse emit envoy` writes for `table_json`, trusting `ca` and with
/// `resolve` (`HOST:PORT=ADDR:PORT`): the clusters named `outbound|…` of its bootstrap.
pub fn emitted_key_clusters(
    dir: &Path,
    table_json: &str,
    ca: &Path,
    resolve: &str,
) -> Vec<serde_json::Value> {
    let table = dir.join("emit-table.json");
    std::fs::write(&table, table_json).unwrap();
    let wasm = root().join("target/wasm32-wasip1/release/gatehouse_filter.wasm");
    let out = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["emit", "envoy", "--wasm"])
        .arg(&wasm)
        .arg("--table")
        .arg(&table)
        .arg("--table-dir")
        .arg(dir.join("emit-table-dir"))
        .arg("--ca-file")
        .arg(ca)
        .args(["--resolve", resolve])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "gatehouse emit envoy: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config: serde_json::Value = serde_yaml::from_slice(&out.stdout).unwrap();
    let clusters: Vec<serde_json::Value> = config["static_resources"]["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| {
            c["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("outbound|"))
        })
        .cloned()
        .collect();
    assert!(!clusters.is_empty(), "no key cluster emitted");
    clusters
}
