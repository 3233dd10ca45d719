//! One keep-alive HTTP/1.1 connection held across requests ([`KeepAlive`]), for tests about
//! what happens to a connection that was open before something changed.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use super::{request_head, Response};

/// One keep-alive HTTP/1.1 connection to the gateway: every request goes out on the same
/// `TcpStream`, so a test can tell what happens to a connection opened before a reload.
pub struct KeepAlive {
    stream: TcpStream,
    /// Bytes read past the last response (none in practice: one request at a time).
    pending: Vec<u8>,
    closed: bool,
}

impl KeepAlive {
    /// Connects to the gateway on `port`.
    pub fn open(port: u16) -> KeepAlive {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        KeepAlive {
            stream,
            pending: Vec::new(),
            closed: false,
        }
    }

    /// Sends a request on this connection and reads its response; panics when the server
    /// closed the connection (a test about open connections must not silently reconnect).
    pub fn send(&mut self, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
        self.try_send(method, path, headers).unwrap_or_else(|| {
            panic!("the gateway closed the keep-alive connection before answering {method} {path}")
        })
    }

    /// [`KeepAlive::send`], or `None` when the connection is closed (by the server, or after
    /// a response that said `connection: close`).
    pub fn try_send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Option<Response> {
        if self.closed {
            return None;
        }
        let headers: Vec<(&str, &[u8])> = headers.iter().map(|(k, v)| (*k, v.as_bytes())).collect();
        if self
            .stream
            .write_all(&request_head(method, path, &headers, false))
            .is_err()
        {
            self.closed = true;
            return None;
        }
        let (response, open) = read_one(&mut self.stream, &mut self.pending, method == "HEAD");
        self.closed = !open
            || response
                .as_ref()
                .is_none_or(|r| r.header("connection") == Some("close"));
        response
    }

    /// Whether the connection is closed.
    pub fn closed(&self) -> bool {
        self.closed
    }
}

/// Reads one HTTP/1.1 response from a connection that stays open: a body by `content-length`
/// or chunked, none for HEAD, 1xx, 204 and 304, else up to the end of the stream. Returns
/// the response (if a whole head arrived) and whether the connection is still open.
fn read_one(s: &mut TcpStream, buf: &mut Vec<u8>, head_only: bool) -> (Option<Response>, bool) {
    let mut chunk = [0u8; 16 * 1024];
    let mut fill = |s: &mut TcpStream, buf: &mut Vec<u8>| match s.read(&mut chunk) {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            true
        }
    };
    let end = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        if !fill(s, buf) {
            return (None, false);
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = head.lines();
    let Some(status) = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse::<u16>().ok())
    else {
        return (None, false);
    };
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let get = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.to_ascii_lowercase())
    };
    buf.drain(..end + 4);
    let mut open = true;
    let body: Vec<u8> = if head_only || status < 200 || status == 204 || status == 304 {
        Vec::new()
    } else if let Some(n) = get("content-length").and_then(|v| v.parse::<usize>().ok()) {
        while buf.len() < n {
            if !fill(s, buf) {
                open = false;
                break;
            }
        }
        buf.drain(..n.min(buf.len())).collect()
    } else if get("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        let mut body = Vec::new();
        loop {
            let Some(line_end) = buf.windows(2).position(|w| w == b"\r\n") else {
                if fill(s, buf) {
                    continue;
                }
                open = false;
                break;
            };
            let size = usize::from_str_radix(
                String::from_utf8_lossy(&buf[..line_end])
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim(),
                16,
            )
            .unwrap_or(0);
            // The chunk, its CRLF (and, after the last chunk, the final CRLF; no trailers).
            let need = line_end + 2 + size + 2;
            while buf.len() < need {
                if !fill(s, buf) {
                    open = false;
                    break;
                }
            }
            if !open {
                break;
            }
            body.extend_from_slice(&buf[line_end + 2..line_end + 2 + size]);
            buf.drain(..need);
            if size == 0 {
                break;
            }
        }
        body
    } else {
        while fill(s, buf) {}
        open = false;
        std::mem::take(buf)
    };
    let response = Response {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    (Some(response), open)
}
