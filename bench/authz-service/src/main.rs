//! A small HTTP/1.1 keep-alive server for `bench/e2e.sh`, in one of two modes:
//!
//! - `--table TABLE.json`: an Envoy `ext_authz` HTTP authorization service — the shape of
//!   oauth2-proxy or OPA-Envoy behind ext_authz. Each check request (the original method, path
//!   and credential headers) runs Gatehouse's own request path ([`gatehouse_filter::gate`],
//!   verified-token cache included) natively; allowed → `200` with the identity headers for
//!   Envoy to pass upstream, denied → Gatehouse's status, headers and JSON body.
//! - `--upstream`: answers every request `200` with a two-byte body — the upstream every
//!   variant proxies to, cheap enough not to be the bottleneck.
//!
//! Listens on 127.0.0.1 only (the address must be a loopback one), one thread per connection
//! (at most 256), and exits after `--max-seconds` (default 3600) so it never outlives its caller.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gatehouse_filter::gate::{Filter, Host, Level};
use gatehouse_filter::live::FetchHost;

const MAX_CONNECTIONS: usize = 256;
const MAX_HEADER_BYTES: usize = 64 * 1024;

struct Args {
    listen: SocketAddr,
    table: Option<String>,
    max_seconds: u64,
}

fn args() -> Result<Args, String> {
    let mut listen = None;
    let mut table = None;
    let mut upstream = false;
    let mut max_seconds = 3600;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or(format!("`{a}` needs a value"));
        match a.as_str() {
            "--listen" => {
                listen = Some(
                    value()?
                        .parse::<SocketAddr>()
                        .map_err(|e| format!("--listen: {e}"))?,
                )
            }
            "--table" => table = Some(value()?),
            "--upstream" => upstream = true,
            "--max-seconds" => {
                max_seconds = value()?
                    .parse()
                    .map_err(|e| format!("--max-seconds: {e}"))?
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    let listen = listen.ok_or("--listen 127.0.0.1:PORT is required")?;
    if !listen.ip().is_loopback() {
        return Err("--listen must be a loopback address".into());
    }
    if upstream == table.is_some() {
        return Err("give exactly one of --table FILE and --upstream".into());
    }
    Ok(Args {
        listen,
        table,
        max_seconds,
    })
}

/// One parsed request: lower-case header names, pseudo-headers first, as the filter sees them.
struct Request {
    headers: Vec<(String, Vec<u8>)>,
    keep_alive: bool,
}

/// Reads one request (headers, and a body by `content-length`, discarded); `None` at EOF.
fn read_request(reader: &mut BufReader<TcpStream>) -> std::io::Result<Option<Request>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(path), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(std::io::Error::other("bad request line"));
    };
    let mut keep_alive = version == "HTTP/1.1";
    let mut headers = vec![
        (":method".to_string(), method.as_bytes().to_vec()),
        (":path".to_string(), path.as_bytes().to_vec()),
    ];
    let mut total = line.len();
    let mut body = 0usize;
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        total += line.len();
        if total > MAX_HEADER_BYTES {
            return Err(std::io::Error::other("headers too large"));
        }
        let l = line.trim_end_matches(['\r', '\n']);
        if l.is_empty() {
            break;
        }
        let Some((name, value)) = l.split_once(':') else {
            continue;
        };
        let name = name.trim().to_ascii_lowercase();
        let value = value.trim();
        match name.as_str() {
            "content-length" => body = value.parse().unwrap_or(0),
            "connection" if value.eq_ignore_ascii_case("close") => keep_alive = false,
            "connection" if value.eq_ignore_ascii_case("keep-alive") => keep_alive = true,
            "host" => headers.push((":authority".into(), value.as_bytes().to_vec())),
            _ => {}
        }
        headers.push((name, value.as_bytes().to_vec()));
    }
    if body > 0 {
        std::io::copy(&mut reader.by_ref().take(body as u64), &mut std::io::sink())?;
    }
    Ok(Some(Request {
        headers,
        keep_alive,
    }))
}

/// What Gatehouse decided, as an HTTP answer.
#[derive(Default)]
struct Answer {
    status: u32,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

struct CheckHost {
    headers: Vec<(String, Vec<u8>)>,
    answer: Answer,
}

impl Host for CheckHost {
    fn request_headers(&self) -> Vec<(String, Vec<u8>)> {
        self.headers.clone()
    }

    fn remove_request_header(&mut self, _name: &str) {}

    fn set_request_header(&mut self, name: &str, value: &str) {
        // Identity headers (and a verified ALB header) go back to Envoy for the upstream.
        if !name.starts_with(':') {
            self.answer.headers.push((name.into(), value.into()));
        }
    }

    fn respond(&mut self, status: u32, headers: &[(&str, &str)], body: &[u8]) {
        self.answer.status = status;
        self.answer.headers = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.answer.body = body.to_vec();
    }

    fn now(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(u64::MAX / 2, |d| d.as_secs())
    }
}

impl FetchHost for CheckHost {
    fn log(&mut self, _level: Level, _message: &str) {}

    fn count(&mut self, _metric: &str) {}
}

fn check(filter: &Mutex<Filter>, headers: Vec<(String, Vec<u8>)>) -> Answer {
    let mut host = CheckHost {
        headers,
        answer: Answer {
            status: 200,
            ..Answer::default()
        },
    };
    match filter.lock() {
        Ok(mut f) => {
            f.on_request(&mut host);
        }
        Err(_) => {
            host.answer = Answer {
                status: 503,
                ..Answer::default()
            }
        }
    }
    host.answer
}

fn write_answer(stream: &mut TcpStream, a: &Answer, keep_alive: bool) -> std::io::Result<()> {
    let mut out = Vec::with_capacity(256 + a.body.len());
    let reason = match a.status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        _ => "Service Unavailable",
    };
    let _ = write!(out, "HTTP/1.1 {} {reason}\r\n", a.status);
    for (k, v) in &a.headers {
        let _ = write!(out, "{k}: {v}\r\n");
    }
    let _ = write!(out, "content-length: {}\r\n", a.body.len());
    if !keep_alive {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&a.body);
    stream.write_all(&out)
}

fn serve(stream: TcpStream, filter: Option<&Mutex<Filter>>) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    while let Some(req) = read_request(&mut reader)? {
        let answer = match filter {
            Some(f) => check(f, req.headers),
            None => Answer {
                status: 200,
                headers: vec![("content-type".into(), "text/plain".into())],
                body: b"ok".to_vec(),
            },
        };
        write_answer(&mut writer, &answer, req.keep_alive)?;
        if !req.keep_alive {
            break;
        }
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    let args = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let filter = match &args.table {
        Some(path) => {
            let bytes = match std::fs::read(path) {
                Ok(b) => b,
                Err(e) => {
                    eprintln!("error: --table `{path}`: {e}");
                    return std::process::ExitCode::from(2);
                }
            };
            let mut f = Filter::default();
            match f.configure(Some(&bytes)) {
                Ok(msg) => eprintln!("{msg}"),
                Err(msg) => {
                    eprintln!("error: {msg}");
                    return std::process::ExitCode::from(1);
                }
            }
            Some(Arc::new(Mutex::new(f)))
        }
        None => None,
    };
    let listener = match TcpListener::bind(args.listen) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {}: {e}", args.listen);
            return std::process::ExitCode::from(2);
        }
    };
    let max = Duration::from_secs(args.max_seconds);
    std::thread::spawn(move || {
        std::thread::sleep(max);
        std::process::exit(0);
    });
    let open = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        if open.load(Ordering::Relaxed) >= MAX_CONNECTIONS {
            continue; // dropped: closes the connection
        }
        open.fetch_add(1, Ordering::Relaxed);
        let (filter, open) = (filter.clone(), Arc::clone(&open));
        std::thread::spawn(move || {
            let _ = serve(stream, filter.as_deref());
            open.fetch_sub(1, Ordering::Relaxed);
        });
    }
    std::process::ExitCode::SUCCESS
}
