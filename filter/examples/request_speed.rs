//! Times the request path of a warm request, as a worker runs it (`Filter::on_request`: strip,
//! route, the verified-token cache, decide, set headers), and counts the host calls it makes:
//! `request_speed TABLE_JSON TOKEN_FILE [ROUNDS]`. Built for wasm32-wasip1 and run under V8
//! (bench/wasi-run.mjs), it splits a warm request's cost in Envoy between the filter's own work
//! (timed here) and the host calls (counted here; each is a crossing out of the VM in Envoy).

use std::time::Instant;

use gatehouse_filter::gate::{Filter, Host, Level};
use gatehouse_filter::live::FetchHost;

/// A host that answers like Envoy's and counts the calls.
struct Counting {
    headers: Vec<(String, Vec<u8>)>,
    calls: usize,
}

impl FetchHost for Counting {
    fn log(&mut self, _: Level, _: &str) {
        self.calls += 1;
    }
    fn count(&mut self, _: &str) {
        self.calls += 1;
    }
}

impl Host for Counting {
    fn request_headers(&self) -> Vec<(String, Vec<u8>)> {
        self.headers.clone()
    }
    fn remove_request_header(&mut self, _: &str) {
        self.calls += 1;
    }
    fn set_request_header(&mut self, _: &str, _: &str) {
        self.calls += 1;
    }
    fn respond(&mut self, _: u32, _: &[(&str, &str)], _: &[u8]) {
        self.calls += 1;
    }
    fn now(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let [_, table, token, rest @ ..] = args.as_slice() else {
        return Err("usage: request_speed TABLE_JSON TOKEN_FILE [ROUNDS]".into());
    };
    let rounds: usize = rest.first().and_then(|r| r.parse().ok()).unwrap_or(20_000);
    let mut filter = Filter::default().with_env(|name| match name {
        "GATEHOUSE_COOKIE_KEYS" => Some("bench:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8".into()),
        _ => Some("bench".into()),
    });
    let table = std::fs::read(table).map_err(|e| format!("{table}: {e}"))?;
    filter.configure(Some(&table))?;
    let token = std::fs::read_to_string(token).map_err(|e| format!("{token}: {e}"))?;
    let auth = format!("Bearer {}", token.trim());
    // The headers a browser-less client sends through Envoy (as the echo upstream sees them).
    let headers: Vec<(String, Vec<u8>)> = [
        (":method", "GET"),
        (":path", "/notebook/alice/nb/lab"),
        (":authority", "127.0.0.1:18480"),
        (":scheme", "http"),
        ("authorization", auth.as_str()),
        ("user-agent", "wrk"),
        ("x-forwarded-proto", "http"),
        ("x-request-id", "5e0f3c4a-3b55-4a53-9b4e-2f1c8d1f6a70"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
    .collect();
    let mut host = Counting { headers, calls: 0 };
    filter.on_request(&mut host); // the miss: verify once
    host.calls = 0;
    let t0 = Instant::now();
    for _ in 0..rounds {
        filter.on_request(&mut host);
    }
    let per = t0.elapsed().as_secs_f64() * 1e6 / rounds as f64;
    println!(
        "warm request: {per:.2} µs in the filter, {:.1} host calls besides reading the headers ({rounds} rounds)",
        host.calls as f64 / rounds as f64
    );
    Ok(())
}
