//! HTTP/2 to the gateway (cleartext, prior knowledge: the emitted connection manager's
//! `codec_type: AUTO` takes it): one connection held open across requests ([`H2Connection`]),
//! or one request on a new connection ([`send_h2`]). The protocol is spoken by
//! `scripts/h2_client.py` (Python's `h2`, installed into `.venv` by `scripts/setup.sh`), driven
//! over its stdin/stdout: a Rust HTTP/2 stack (`h2` + `tokio`) would cost minutes of compile
//! time on every clean build for a few test requests, and `h2` sends headers exactly as given
//! once its validation is off (underscore and upper-case names, odd methods).

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use super::{root, Response};

/// Why an HTTP/2 request got no response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum H2Error {
    /// The server reset the stream (RST_STREAM) with this error code; the connection stays.
    Reset(u32),
    /// The connection ended (GOAWAY for this stream, EOF, a protocol error) before the answer.
    Closed(String),
}

/// The Python that runs `scripts/h2_client.py` (`.venv`, where `scripts/setup.sh` installs
/// the `h2` package).
fn h2_python() -> PathBuf {
    let python = root().join(".venv/bin/python3");
    let ok = Command::new(&python)
        .args(["-c", "import h2"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "HTTP/2 tests need the `h2` package in {} (run scripts/setup.sh)",
        python.display()
    );
    python
}

/// One HTTP/2 connection to the gateway (cleartext, prior knowledge), held open by
/// `scripts/h2_client.py` and driven over its stdin/stdout: every request is a new stream on
/// the same connection. The client process is stopped by PID when this is dropped.
pub struct H2Connection {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl H2Connection {
    /// Connects to the gateway on `port` and sends the connection preface.
    pub fn open(port: u16) -> H2Connection {
        let mut child = Command::new(h2_python())
            .arg(root().join("scripts/h2_client.py"))
            .args(["--port", &port.to_string(), "--max-seconds", "600"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start scripts/h2_client.py");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut conn = H2Connection {
            child,
            stdin,
            stdout,
        };
        let ready = conn.read_line();
        assert_eq!(ready["ready"], true, "h2 client: {ready}");
        conn
    }

    fn read_line(&mut self) -> serde_json::Value {
        let mut line = String::new();
        let n = self.stdout.read_line(&mut line).unwrap_or(0);
        assert!(n > 0, "the h2 client exited (see its error above)");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("h2 client said {line:?}: {e}"))
    }

    /// Sends a request on this connection and returns its response; panics on a reset stream
    /// or a closed connection.
    pub fn send(&mut self, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
        let headers: Vec<(&str, &[u8])> = headers.iter().map(|(k, v)| (*k, v.as_bytes())).collect();
        self.send_bytes(method, path, &headers)
            .unwrap_or_else(|e| panic!("no HTTP/2 response to {method} {path}: {e:?}"))
    }

    /// Sends a request with header values as raw bytes, exactly as given (no validation, no
    /// lower-casing: underscore and upper-case names, any method).
    pub fn send_bytes(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &[u8])],
    ) -> Result<Response, H2Error> {
        let request = serde_json::json!({
            "method": hex(method.as_bytes()),
            "path": hex(path.as_bytes()),
            "headers": headers.iter().map(|(k, v)| [hex(k.as_bytes()), hex(v)]).collect::<Vec<_>>(),
        });
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{request}").unwrap();
        stdin.flush().unwrap();
        let answer = self.read_line();
        if let Some(code) = answer["reset"].as_u64() {
            return Err(H2Error::Reset(code as u32));
        }
        if let Some(why) = answer["closed"].as_str() {
            return Err(H2Error::Closed(why.to_string()));
        }
        let text = |v: &serde_json::Value| {
            String::from_utf8_lossy(&unhex(v.as_str().unwrap())).into_owned()
        };
        Ok(Response {
            status: answer["status"].as_u64().unwrap() as u16,
            headers: answer["headers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| (text(&h[0]), text(&h[1])))
                .collect(),
            body: text(&answer["body"]),
        })
    }
}

impl Drop for H2Connection {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request over a new HTTP/2 connection (h2c, prior knowledge); panics on a reset stream
/// or a closed connection.
pub fn send_h2(port: u16, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
    H2Connection::open(port).send(method, path, headers)
}

/// [`send_h2`] with raw header values, returning a reset stream or a closed connection as an
/// error (e.g. Envoy resets a stream whose header names hold `_`).
pub fn try_send_h2(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &[u8])],
) -> Result<Response, H2Error> {
    H2Connection::open(port).send_bytes(method, path, headers)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len() / 2)
        .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}
