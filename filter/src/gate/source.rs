//! Tables by reference: the plugin configuration names a table source instead of holding the
//! table, and each worker fetches the signed table off the request path, as a pure state
//! machine driven like the key refresher (ticks, fetch answers, requests; no clock, no I/O).
//!
//! - **Polling.** The first fetch starts at the worker's first request (or tick), then every
//!   `poll_seconds`, with `If-None-Match` naming the table in force: `304` keeps it.
//! - **Checking.** A `200` body within `max_bytes` must be a signed table ([`wire::open`]) by
//!   one of `trusted_keys`, of this build's format version, that the filter loads. Anything
//!   else (another status, no answer, oversized, unsigned, an unknown key, a bad signature,
//!   another version, a table that does not load) is refused with a log line and a counter,
//!   and the table in force stays. A refused fetch is retried after one second, doubling up to
//!   the poll interval.
//! - **Holding.** Until the first table arrives, a request is held (at most `max_held` per
//!   worker, each at most `hold_milliseconds`), then decided: with the table when it came,
//!   else `503 no_table`.
//!
//! Counters, `gatehouse.table.<event>`: `updated` (a new table is in force), `unchanged`
//! (`304`), `refused` (an answer that is not a good table), `fetch_failed` (no answer, another
//! status, a dispatch error), `held`, `held_refused`, `held_resumed`, `held_timed_out`.

use serde::{Deserialize, Serialize};

use crate::live::{FetchHost, FetchUrl};
use crate::observe::Level;
use crate::wire::{self, PUBLIC_KEY_LEN};

/// The `table_source` object of the plugin configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableSourceSpec {
    /// Where the signed table is: `https://…`, or `http://` for an in-cluster `*.svc` host.
    pub url: String,
    /// The Envoy cluster the fetch goes through (`outbound|<port>||<host>` in Istio).
    pub cluster: String,
    /// Ed25519 public keys (base64) a table must be signed with; at least one.
    pub trusted_keys: Vec<String>,
    /// Seconds between two polls.
    #[serde(default = "default_poll")]
    pub poll_seconds: u64,
    /// Longest time a request waits for the first table, milliseconds.
    #[serde(default = "default_hold")]
    pub hold_milliseconds: u64,
    /// Most requests waiting for the first table, per worker.
    #[serde(default = "default_max_held")]
    pub max_held: usize,
    /// Timeout of every fetch, milliseconds.
    #[serde(default = "default_timeout")]
    pub timeout_milliseconds: u64,
    /// Largest table accepted, bytes.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: usize,
}

fn default_poll() -> u64 {
    30
}
fn default_hold() -> u64 {
    2000
}
fn default_max_held() -> usize {
    256
}
fn default_timeout() -> u64 {
    5000
}
fn default_max_bytes() -> usize {
    crate::engine::MAX_TABLE_BYTES
}

impl TableSourceSpec {
    /// A source with the documented defaults for everything but where the table is, the keys
    /// it must be signed with and how often it is polled.
    pub fn new(url: String, cluster: String, trusted_keys: Vec<String>, poll_seconds: u64) -> Self {
        TableSourceSpec {
            url,
            cluster,
            trusted_keys,
            poll_seconds,
            hold_milliseconds: default_hold(),
            max_held: default_max_held(),
            timeout_milliseconds: default_timeout(),
            max_bytes: default_max_bytes(),
        }
    }
}

/// Shortest wait before a refused or failed fetch is retried, milliseconds.
const RETRY_MIN_MS: u64 = 1000;

/// What an answer gives the filter to do.
#[derive(Debug, PartialEq, Eq)]
pub enum Fetched {
    /// A signed table whose signature verified: load the binary table inside, which is the
    /// answer's body from this offset on; on success call [`TableSource::loaded`], else
    /// [`TableSource::refused`].
    Load(usize),
    /// Nothing to load (unchanged, or refused and counted).
    Nothing,
}

/// One worker's table source.
#[derive(Debug)]
pub struct TableSource {
    url: FetchUrl,
    cluster: String,
    trusted: Vec<[u8; PUBLIC_KEY_LEN]>,
    spec: TableSourceSpec,
    /// Whether a table from this source is in force.
    in_force: bool,
    /// The ETag of the table in force (when the server sent one).
    etag: Option<String>,
    /// The ETag of the answer being loaded.
    pending_etag: Option<String>,
    /// The fetch in flight.
    in_flight: Option<u32>,
    /// When the next poll starts (0: at once).
    next_poll_ms: u64,
    /// Failures in a row (for the retry back-off).
    failures: u32,
    /// Requests waiting for the first table: (context id, deadline).
    waiting: Vec<(u32, u64)>,
}

impl TableSource {
    /// Checks the specification: the URL, the cluster and the keys.
    pub fn new(spec: TableSourceSpec) -> Result<TableSource, String> {
        let url = FetchUrl::parse(&spec.url).map_err(|e| format!("table_source.url: {e}"))?;
        if spec.cluster.is_empty() {
            return Err("table_source.cluster is empty".into());
        }
        if spec.trusted_keys.is_empty() {
            return Err(
                "table_source.trusted_keys is empty: a fetched table must be signed".into(),
            );
        }
        let trusted = spec
            .trusted_keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                wire::parse_public_key(k)
                    .map_err(|e| format!("table_source.trusted_keys[{i}]: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if spec.poll_seconds == 0 || spec.hold_milliseconds == 0 || spec.timeout_milliseconds == 0 {
            return Err(
                "table_source: poll_seconds, hold_milliseconds and timeout_milliseconds must be above 0"
                    .into(),
            );
        }
        Ok(TableSource {
            url,
            cluster: spec.cluster.clone(),
            trusted,
            spec,
            in_force: false,
            etag: None,
            pending_etag: None,
            in_flight: None,
            next_poll_ms: 0,
            failures: 0,
            waiting: Vec::new(),
        })
    }

    /// The specification it was built from.
    pub fn spec(&self) -> &TableSourceSpec {
        &self.spec
    }

    /// Whether `token` is this source's fetch.
    pub fn owns(&self, token: u32) -> bool {
        self.in_flight == Some(token)
    }

    /// Largest answer read, bytes.
    pub fn max_bytes(&self) -> usize {
        self.spec.max_bytes
    }

    /// Requests waiting for the first table.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// Timer tick (and each request): starts a poll when one is due; lets go the waiting
    /// requests past their deadline.
    pub fn on_tick<H: FetchHost>(&mut self, now_ms: u64, host: &mut H) {
        if self.in_flight.is_none() && now_ms >= self.next_poll_ms {
            self.start(now_ms, host);
        }
        let mut kept = Vec::with_capacity(self.waiting.len());
        for (id, deadline) in std::mem::take(&mut self.waiting) {
            if now_ms >= deadline {
                host.count("gatehouse.table.held_timed_out");
                host.resume(id);
            } else {
                kept.push((id, deadline));
            }
        }
        self.waiting = kept;
    }

    fn start<H: FetchHost>(&mut self, now_ms: u64, host: &mut H) {
        let etag = self.etag.clone();
        let headers: Vec<(&str, &str)> = etag
            .as_deref()
            .map(|e| vec![("if-none-match", e)])
            .unwrap_or_default();
        match host.fetch_with(
            &self.cluster,
            &self.url.authority,
            &self.url.path,
            &headers,
            self.spec.timeout_milliseconds,
        ) {
            Ok(token) => self.in_flight = Some(token),
            Err(e) => self.failed(&format!("cannot fetch: {e}"), now_ms, host),
        }
    }

    /// A request arrived and no table is in force: holds it when there is room (the caller
    /// then pauses it and [`FetchHost::resume`] lets it go), starting a fetch if none runs.
    pub fn hold<H: FetchHost>(&mut self, context_id: u32, now_ms: u64, host: &mut H) -> bool {
        if self.in_flight.is_none() && now_ms >= self.next_poll_ms {
            self.start(now_ms, host);
        }
        if self.waiting.len() >= self.spec.max_held {
            host.count("gatehouse.table.held_refused");
            return false;
        }
        self.waiting.push((
            context_id,
            now_ms.saturating_add(self.spec.hold_milliseconds),
        ));
        host.count("gatehouse.table.held");
        true
    }

    /// The stream of a waiting request ended.
    pub fn forget(&mut self, context_id: u32) {
        self.waiting.retain(|(id, _)| *id != context_id);
    }

    /// The fetch `token` will never be answered: the next tick polls again.
    pub fn abandon(&mut self, token: u32, now_ms: u64) {
        if self.owns(token) {
            self.in_flight = None;
            self.next_poll_ms = now_ms;
        }
    }

    /// The fetch answered: what to load, if anything. Refusals are logged and counted here.
    pub fn on_response<H: FetchHost>(
        &mut self,
        token: u32,
        status: u32,
        headers: &[(String, String)],
        body: &[u8],
        now_ms: u64,
        host: &mut H,
    ) -> Fetched {
        if !self.owns(token) {
            return Fetched::Nothing;
        }
        self.in_flight = None;
        match status {
            304 if self.etag.is_some() => {
                self.failures = 0;
                self.next_poll_ms = now_ms.saturating_add(self.poll_ms());
                host.count("gatehouse.table.unchanged");
                Fetched::Nothing
            }
            200 if body.len() > self.spec.max_bytes => {
                let reason = format!(
                    "{} bytes, over the {}-byte cap",
                    body.len(),
                    self.spec.max_bytes
                );
                self.refused(&reason, now_ms, host);
                Fetched::Nothing
            }
            200 => match wire::open(body, &self.trusted) {
                Ok(binary) => {
                    self.pending_etag = headers
                        .iter()
                        .find(|(n, _)| n.eq_ignore_ascii_case("etag"))
                        .map(|(_, v)| v.clone());
                    // The binary table is the body's tail: no copy of a table of megabytes.
                    Fetched::Load(body.len() - binary.len())
                }
                Err(e) => {
                    self.refused(&e.to_string(), now_ms, host);
                    Fetched::Nothing
                }
            },
            0 => {
                self.failed("no answer (timeout or connection failure)", now_ms, host);
                Fetched::Nothing
            }
            s => {
                self.failed(&format!("status {s}"), now_ms, host);
                Fetched::Nothing
            }
        }
    }

    /// The fetch failed without an answer (the body could not be read, …).
    pub fn on_failure<H: FetchHost>(
        &mut self,
        token: u32,
        reason: &str,
        now_ms: u64,
        host: &mut H,
    ) {
        if self.owns(token) {
            self.in_flight = None;
            self.refused(reason, now_ms, host);
        }
    }

    /// The table from the last answer is in force: remember its ETag, let the waiting go.
    pub fn loaded<H: FetchHost>(&mut self, summary: &str, now_ms: u64, host: &mut H) {
        self.etag = self.pending_etag.take();
        self.in_force = true;
        self.failures = 0;
        self.next_poll_ms = now_ms.saturating_add(self.poll_ms());
        host.count("gatehouse.table.updated");
        host.log(
            Level::Info,
            &format!(
                r#"{{"gatehouse":"table","event":"updated","url":{},"etag":{},"table":{}}}"#,
                json_str(&self.spec.url),
                json_str(self.etag.as_deref().unwrap_or("")),
                json_str(summary)
            ),
        );
        for (id, _) in std::mem::take(&mut self.waiting) {
            host.count("gatehouse.table.held_resumed");
            host.resume(id);
        }
    }

    /// The answer verified but its table does not load (or was refused before): the table in
    /// force stays.
    pub fn refused<H: FetchHost>(&mut self, reason: &str, now_ms: u64, host: &mut H) {
        self.pending_etag = None;
        host.count("gatehouse.table.refused");
        self.log_failure("refused", reason, host);
        self.back_off(now_ms);
    }

    fn failed<H: FetchHost>(&mut self, reason: &str, now_ms: u64, host: &mut H) {
        host.count("gatehouse.table.fetch_failed");
        self.log_failure("fetch_failed", reason, host);
        self.back_off(now_ms);
    }

    fn log_failure<H: FetchHost>(&self, event: &str, reason: &str, host: &mut H) {
        let kept = if self.in_force {
            "the table in force stays"
        } else {
            "no table yet: requests get 503 no_table"
        };
        host.log(
            Level::Warn,
            &format!(
                r#"{{"gatehouse":"table","event":"{event}","url":{},"reason":{},"then":{}}}"#,
                json_str(&self.spec.url),
                json_str(reason),
                json_str(kept)
            ),
        );
    }

    fn back_off(&mut self, now_ms: u64) {
        self.failures = self.failures.saturating_add(1);
        let shift = self.failures.saturating_sub(1).min(20);
        let wait = RETRY_MIN_MS.saturating_mul(1 << shift).min(self.poll_ms());
        self.next_poll_ms = now_ms.saturating_add(wait);
    }

    fn poll_ms(&self) -> u64 {
        self.spec.poll_seconds.saturating_mul(1000)
    }

    /// Lets every waiting request go (the source is being replaced).
    pub fn release_all<H: FetchHost>(&mut self, host: &mut H) {
        for (id, _) in std::mem::take(&mut self.waiting) {
            host.resume(id);
        }
    }
}

fn json_str(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}
