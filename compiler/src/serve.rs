//! `gatehouse serve`: serves the signed table of a policy directory to gateways that fetch it
//! by reference, and recompiles when the directory changes (a git-sync checkout, an export of
//! the cluster's Profiles and RoleBindings). A compile that fails leaves the last good table
//! in service, and `/healthz` and `/metrics` say so.
//!
//! - `GET /table`: the signed table, with `ETag` (of its bytes); `If-None-Match` → `304`.
//!   `503` until a first compile succeeds.
//! - `GET /healthz`: `200` while a table is served (`"status": "ok"`, or `"stale"` with the
//!   compile error when the directory's newest state does not compile), `503` before.
//! - `GET /metrics`: Prometheus text.
//!
//! The directory is checked every `--interval` seconds: a change of any file's path, size or
//! modification time (symbolic links followed, as git-sync swaps one) recompiles it.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::diagnostic::render_human;
use crate::emit::wasmplugin::sha256_hex;
use crate::exit::{EXIT_FAILURE, EXIT_INVALID};
use crate::table_file::{encode_compiled, read_signing_key, Format};
use crate::{compile_dir, CompileOptions};

/// Arguments of `gatehouse serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The policy directory.
    pub dir: PathBuf,
    /// The Ed25519 private key tables are signed with (`gatehouse keygen`).
    #[arg(long, value_name = "KEY")]
    pub sign: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,
    /// Seconds between two checks of the directory for changes.
    #[arg(long, default_value_t = 5)]
    pub interval: u64,
    /// Stop after this many seconds (tests and bounded runs); default: run until stopped.
    #[arg(long)]
    pub max_seconds: Option<u64>,
}

/// What is served, shared by the HTTP loop and the watcher.
#[derive(Default)]
struct State {
    /// The signed table in service and its ETag.
    table: Option<(Arc<Vec<u8>>, String)>,
    /// Unix time of the last good compile.
    compiled_at: u64,
    /// The error of the last compile, when it failed (the table in service is then stale).
    error: Option<String>,
    compiles_ok: u64,
    compiles_failed: u64,
}

type Shared = Arc<Mutex<State>>;

fn lock(state: &Shared) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Compiles and signs `dir`; on failure the message says why (diagnostics rendered).
fn build(dir: &Path, seed: &[u8; 32]) -> Result<Vec<u8>, String> {
    let compiled = compile_dir(dir, &CompileOptions::default())
        .map_err(|diags| render_human(&diags).trim_end().to_string())?;
    // The binary form compile_dir encoded to measure the table: signed as it is.
    encode_compiled(compiled, Format::Binary, Some(seed))
}

/// Compiles once more and updates the state: a failure keeps the table in service.
fn rebuild(dir: &Path, seed: &[u8; 32], state: &Shared) {
    let built = build(dir, seed);
    let mut s = lock(state);
    match built {
        Ok(bytes) => {
            // The first 128 bits of the table's SHA-256.
            let etag = format!("\"{}\"", &sha256_hex(&bytes)[..32]);
            let changed = s.table.as_ref().map(|(_, e)| e != &etag).unwrap_or(true);
            if changed {
                eprintln!(
                    r#"{{"gatehouse":"serve","event":"table","etag":{},"bytes":{}}}"#,
                    serde_json::Value::String(etag.clone()),
                    bytes.len()
                );
            }
            s.table = Some((Arc::new(bytes), etag));
            s.compiled_at = unix_now();
            s.error = None;
            s.compiles_ok += 1;
        }
        Err(e) => {
            eprintln!(
                r#"{{"gatehouse":"serve","event":"compile_failed","serving":{},"error":{}}}"#,
                serde_json::Value::String(
                    s.table
                        .as_ref()
                        .map_or("nothing".into(), |(_, etag)| etag.clone())
                ),
                serde_json::Value::String(e.clone())
            );
            s.error = Some(e);
            s.compiles_failed += 1;
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A fingerprint of everything under `dir`: paths, sizes and modification times. Symbolic
/// links are followed (git-sync publishes a checkout by swapping one); a directory reached
/// twice (a link loop) is read once.
fn fingerprint(dir: &Path) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let real = std::fs::canonicalize(&d).unwrap_or_else(|_| d.clone());
        if !seen.insert(real) || seen.len() > MAX_DIRS {
            continue;
        }
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                stack.push(path);
            } else {
                out.push((path, meta.len(), meta.modified().ok()));
            }
        }
    }
    out.sort();
    out
}

/// Most directories a fingerprint reads.
const MAX_DIRS: usize = 10_000;

/// Threads answering requests: a slow client holds one, not the server.
const ANSWER_THREADS: usize = 4;

/// Runs `gatehouse serve`.
pub fn run(args: &ServeArgs) -> ExitCode {
    let seed = match read_signing_key(&args.sign) {
        Ok(seed) => seed,
        Err(e) => {
            eprintln!("error: --sign: {e}");
            return ExitCode::from(EXIT_INVALID);
        }
    };
    if !args.dir.is_dir() {
        eprintln!("error: `{}` is not a policy directory", args.dir.display());
        return ExitCode::from(EXIT_INVALID);
    }
    if args.interval == 0 {
        eprintln!("error: --interval must be at least 1 second");
        return ExitCode::from(EXIT_INVALID);
    }
    let server = match tiny_http::Server::http(args.listen) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot listen on {}: {e}", args.listen);
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let state: Shared = Arc::default();
    rebuild(&args.dir, &seed, &state);
    eprintln!(
        r#"{{"gatehouse":"serve","event":"listening","address":"{}"}}"#,
        args.listen
    );
    let deadline = args
        .max_seconds
        .map(|s| Instant::now() + Duration::from_secs(s));
    {
        let (dir, state, interval) = (args.dir.clone(), Arc::clone(&state), args.interval);
        std::thread::spawn(move || {
            let mut seen = fingerprint(&dir);
            loop {
                std::thread::sleep(Duration::from_secs(interval));
                let now = fingerprint(&dir);
                if now != seen {
                    seen = now;
                    rebuild(&dir, &seed, &state);
                }
            }
        });
    }
    let server = Arc::new(server);
    let answerers: Vec<_> = (0..ANSWER_THREADS)
        .map(|_| {
            let (server, state) = (Arc::clone(&server), Arc::clone(&state));
            std::thread::spawn(move || loop {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Ok(());
                }
                match server.recv_timeout(Duration::from_millis(200)) {
                    Ok(Some(request)) => {
                        let response = answer(&request, &state);
                        let _ = request.respond(response);
                    }
                    Ok(None) => {}
                    Err(e) => return Err(e.to_string()),
                }
            })
        })
        .collect();
    let mut failed = None;
    for a in answerers {
        match a.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failed = Some(e),
            Err(_) => failed = Some("an answering thread panicked".into()),
        }
    }
    match failed {
        None => ExitCode::SUCCESS,
        Some(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

type Answer = tiny_http::Response<std::io::Cursor<Vec<u8>>>;

fn header(name: &str, value: &str) -> Option<tiny_http::Header> {
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).ok()
}

fn text(status: u16, content_type: &str, body: Vec<u8>) -> Answer {
    let mut r = tiny_http::Response::from_data(body).with_status_code(status);
    if let Some(h) = header("content-type", content_type) {
        r.add_header(h);
    }
    r
}

/// The answer to one request.
fn answer(request: &tiny_http::Request, state: &Shared) -> Answer {
    let get = matches!(
        request.method(),
        tiny_http::Method::Get | tiny_http::Method::Head
    );
    let path = request.url().split('?').next().unwrap_or("");
    if !get {
        let mut r = text(405, "text/plain", b"method not allowed\n".to_vec());
        if let Some(h) = header("allow", "GET, HEAD") {
            r.add_header(h);
        }
        return r;
    }
    let s = lock(state);
    match path {
        "/table" => {
            let Some((bytes, etag)) = &s.table else {
                return text(
                    503,
                    "text/plain",
                    b"no table yet: the policy does not compile\n".to_vec(),
                );
            };
            let matches = request.headers().iter().any(|h| {
                h.field.equiv("if-none-match")
                    && h.value
                        .as_str()
                        .split(',')
                        .any(|t| t.trim() == etag || t.trim() == "*")
            });
            let mut r = if matches {
                text(304, "application/octet-stream", Vec::new())
            } else {
                text(200, "application/octet-stream", bytes.to_vec())
            };
            for h in [header("etag", etag), header("cache-control", "no-cache")]
                .into_iter()
                .flatten()
            {
                r.add_header(h);
            }
            r
        }
        "/healthz" => {
            let status = match (&s.table, &s.error) {
                (None, _) => "no_table",
                (Some(_), Some(_)) => "stale",
                (Some(_), None) => "ok",
            };
            let body = serde_json::json!({
                "status": status,
                "etag": s.table.as_ref().map(|(_, e)| e.clone()),
                "compiled_at": s.compiled_at,
                "error": s.error,
            });
            let code = if s.table.is_some() { 200 } else { 503 };
            text(code, "application/json", format!("{body}\n").into_bytes())
        }
        "/metrics" => {
            let mut m = Vec::new();
            let _ = writeln!(
                m,
                "# HELP gatehouse_serve_compiles_total Compiles of the policy directory, by result.\n\
                 # TYPE gatehouse_serve_compiles_total counter\n\
                 gatehouse_serve_compiles_total{{result=\"ok\"}} {}\n\
                 gatehouse_serve_compiles_total{{result=\"failed\"}} {}\n\
                 # HELP gatehouse_serve_table_stale 1 when the directory's newest state does not compile and an older table is served.\n\
                 # TYPE gatehouse_serve_table_stale gauge\n\
                 gatehouse_serve_table_stale {}\n\
                 # HELP gatehouse_serve_table_bytes Size of the signed table served.\n\
                 # TYPE gatehouse_serve_table_bytes gauge\n\
                 gatehouse_serve_table_bytes {}\n\
                 # HELP gatehouse_serve_last_success_timestamp_seconds When the table served was compiled.\n\
                 # TYPE gatehouse_serve_last_success_timestamp_seconds gauge\n\
                 gatehouse_serve_last_success_timestamp_seconds {}",
                s.compiles_ok,
                s.compiles_failed,
                u8::from(s.error.is_some() && s.table.is_some()),
                s.table.as_ref().map_or(0, |(b, _)| b.len()),
                s.compiled_at
            );
            text(200, "text/plain; version=0.0.4", m)
        }
        _ => text(
            404,
            "text/plain",
            b"not found: /table, /healthz, /metrics\n".to_vec(),
        ),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_fingerprint_follows_links_once_and_sees_every_change() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        std::fs::create_dir_all(d.join("a")).unwrap();
        std::fs::write(d.join("a/x.yaml"), "a").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(d, d.join("a/loop")).unwrap();
        let first = fingerprint(d);
        assert!(first.iter().any(|(p, _, _)| p.ends_with("a/x.yaml")));
        assert_eq!(fingerprint(d), first);
        std::fs::write(d.join("a/x.yaml"), "ab").unwrap();
        assert_ne!(fingerprint(d), first, "a changed size is a change");
    }
}
