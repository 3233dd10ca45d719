//! proxy-wasm glue (wasm32 only): the root context owns the loaded table, the verified-token
//! cache, the live keys and the metric ids; each HTTP context is thin and runs the request
//! path of [`crate::gate::Filter`] with host calls behind the [`Host`] trait.
//!
//! Live keys: the root context ticks every [`TICK_PERIOD_MS`] while a table names key URLs;
//! fetches are dispatched by the root context (scheduled refreshes) or by the request that met
//! an unknown kid (its answer then comes back to that request's context, which hands it to the
//! shared refresher). A held request is paused; when the refresher lets it go, the glue makes
//! it the effective context, decides it again ([`Filter::on_resumed`]) and only then resumes
//! it or answers it.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, UNIX_EPOCH};

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, BufferType, ContextType, LogLevel, MapType, MetricType};

use crate::gate::{refuse_unjudged, Filter, Held, Host, Level, Outcome};
use crate::live::{FetchHost, TICK_PERIOD_MS};
use crate::signin::flow::MAX_TOKEN_ANSWER;
use crate::signin::Exchange;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    std::panic::set_hook(Box::new(|info| {
        let _ = hostcalls::log(LogLevel::Critical, &format!("gatehouse: panic: {info}"));
    }));
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root::default()) });
}}

/// State shared by every request of one worker's VM.
#[derive(Default)]
struct Shared {
    filter: Filter,
    metrics: HashMap<String, u32>,
    /// Requests held for their keys, by context id.
    held: HashMap<u32, Held>,
}

#[derive(Default)]
struct Root {
    shared: Rc<RefCell<Shared>>,
    /// The table names key URLs: tick once this VM serves requests.
    wants_ticks: bool,
    /// Whether the tick period is set. Set at the first request, not at configuration: Envoy
    /// also runs a root context on its main thread, which never serves a request and must
    /// not fetch.
    ticking: Cell<bool>,
}

impl Context for Root {
    fn on_http_call_response(&mut self, token: u32, _headers: usize, body: usize, _t: usize) {
        on_fetch_answer(&self.shared, token, body);
    }
}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        let started = hostcalls::get_current_time().ok();
        let config = hostcalls::get_buffer(BufferType::PluginConfiguration, 0, usize::MAX)
            .ok()
            .flatten();
        let Ok(mut shared) = self.shared.try_borrow_mut() else {
            return false;
        };
        let result = shared.filter.configure(config.as_deref());
        let live = shared.filter.wants_ticks();
        let released = shared.filter.take_released();
        drop(shared);
        decide_again(&self.shared, released);
        self.wants_ticks = live;
        if !live && self.ticking.get() {
            let _ = hostcalls::set_tick_period(Duration::ZERO);
            self.ticking.set(false);
        }
        match result {
            Ok(msg) => {
                // How long reading, parsing and loading the table took (bench/e2e.sh reads it).
                let took = started
                    .zip(hostcalls::get_current_time().ok())
                    .and_then(|(a, b)| b.duration_since(a).ok())
                    .map_or(String::new(), |d| {
                        format!(", loaded in {:.1} ms", d.as_secs_f64() * 1e3)
                    });
                log(Level::Info, &format!("{msg}{took}"));
                true
            }
            Err(msg) => {
                log(Level::Warn, &msg);
                false
            }
        }
    }

    fn on_tick(&mut self) {
        with_refresher(&self.shared, |filter, host| filter.on_tick(now_ms(), host));
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        if self.wants_ticks && !self.ticking.get() {
            let period = Duration::from_millis(TICK_PERIOD_MS);
            self.ticking.set(hostcalls::set_tick_period(period).is_ok());
        }
        Some(Box::new(Request {
            shared: Rc::clone(&self.shared),
            context_id,
            fetches: Vec::new(),
            held: false,
            exchange: None,
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Request {
    shared: Rc<RefCell<Shared>>,
    context_id: u32,
    /// Key fetches this request dispatched (their answers come back here).
    fetches: Vec<u32>,
    /// Whether this request was held for its keys.
    held: bool,
    /// The sign-in code exchange this callback request waits for.
    exchange: Option<Exchange>,
}

impl Context for Request {
    fn on_http_call_response(&mut self, token: u32, _headers: usize, body: usize, _t: usize) {
        if let Some(exchange) = self.exchange.take_if(|e| e.fetch == token) {
            self.on_exchanged(&exchange, body);
            return;
        }
        self.fetches.retain(|t| *t != token);
        on_fetch_answer(&self.shared, token, body);
    }

    fn on_done(&mut self) -> bool {
        if !self.held && self.fetches.is_empty() {
            return true;
        }
        if let Ok(mut shared) = self.shared.try_borrow_mut() {
            shared.held.remove(&self.context_id);
            shared.filter.forget(self.context_id);
            // The proxy cancels this context's fetches with it: their answers never come.
            let now = now_ms();
            for token in self.fetches.drain(..) {
                shared.filter.abandon_fetch(token, now);
            }
        }
        true
    }
}

impl HttpContext for Request {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let (action, resumed) = {
            let Ok(mut shared) = self.shared.try_borrow_mut() else {
                // Cannot happen (one request at a time per VM); fail closed all the same, with
                // the reply every denial gets.
                let mut metrics = HashMap::new();
                refuse_unjudged(&mut WasmHost::new(&mut metrics, self.context_id, None));
                return Action::Pause;
            };
            let Shared {
                filter,
                metrics,
                held,
            } = &mut *shared;
            let mut host = WasmHost::new(metrics, self.context_id, Some(&mut self.fetches));
            let action = match filter.on_request(&mut host) {
                Outcome::Continue => Action::Continue,
                Outcome::Denied(_) | Outcome::Answered(_) => Action::Pause,
                Outcome::Exchanging(exchange) => {
                    self.exchange = Some(*exchange);
                    Action::Pause
                }
                Outcome::Held(h) => {
                    held.insert(self.context_id, *h);
                    self.held = true;
                    Action::Pause
                }
            };
            (action, host.resumed)
        };
        decide_again(&self.shared, resumed);
        action
    }
}

impl Request {
    /// The token endpoint answered this callback's code exchange (or its timeout passed):
    /// the request is answered with the sign-in's outcome.
    fn on_exchanged(&mut self, exchange: &Exchange, body_size: usize) {
        let (status, _) = call_answer();
        // At most one byte over the cap is read: the sign-in refuses such an answer as too
        // large.
        let body = call_body(body_size.min(MAX_TOKEN_ANSWER + 1));
        let Ok(mut guard) = self.shared.try_borrow_mut() else {
            let mut metrics = HashMap::new();
            refuse_unjudged(&mut WasmHost::new(&mut metrics, self.context_id, None));
            return;
        };
        let Shared {
            filter, metrics, ..
        } = &mut *guard;
        let mut host = WasmHost::new(metrics, self.context_id, None);
        filter.on_exchanged(exchange, status, &body, &mut host);
    }
}

/// A key fetch answered (to the root context or to the request that dispatched it): reads
/// the answer within the body cap, hands it to the refresher, decides the requests it lets go.
fn on_fetch_answer(shared: &Rc<RefCell<Shared>>, token: u32, body_size: usize) {
    with_refresher(shared, |filter, host| {
        let now = now_ms();
        let cap = filter.fetch_body_cap(token).unwrap_or(0);
        let (status, headers) = call_answer();
        if body_size > cap {
            // Refused unread: a hostile or broken endpoint cannot make the worker copy it.
            let reason = format!("body of {body_size} bytes is over the {cap}-byte cap");
            filter.on_fetch_failure(token, &reason, now, host);
        } else {
            let body = call_body(body_size);
            let (generation, started) = (filter.generation(), hostcalls::get_current_time().ok());
            filter.on_fetch_response(token, status, &headers, &body, now, host);
            if filter.generation() != generation {
                // How long checking and loading a fetched table took (bench/scale.py reads it).
                let took = started
                    .zip(hostcalls::get_current_time().ok())
                    .and_then(|(a, b)| b.duration_since(a).ok())
                    .map_or(0.0, |d| d.as_secs_f64() * 1e3);
                log(
                    Level::Info,
                    &format!("gatehouse: fetched table of {body_size} bytes checked and loaded in {took:.1} ms"),
                );
            }
        }
    });
}

/// Runs `event` on the key refresher with the root host, then decides the requests it let go.
fn with_refresher(shared: &Rc<RefCell<Shared>>, event: impl FnOnce(&mut Filter, &mut WasmHost)) {
    let resumed = {
        let Ok(mut guard) = shared.try_borrow_mut() else {
            return;
        };
        let Shared {
            filter, metrics, ..
        } = &mut *guard;
        let mut host = WasmHost::new(metrics, 0, None);
        event(filter, &mut host);
        host.resumed
    };
    decide_again(shared, resumed);
}

/// Decides the held requests the refresher let go, each as its own effective context: resumed
/// upstream only when the request path allows it, answered otherwise. A request whose stream
/// is gone is skipped.
fn decide_again(shared: &Rc<RefCell<Shared>>, context_ids: Vec<u32>) {
    for id in context_ids {
        let Ok(mut guard) = shared.try_borrow_mut() else {
            return;
        };
        let Shared {
            filter,
            metrics,
            held,
        } = &mut *guard;
        let Some(request) = held.remove(&id) else {
            continue;
        };
        if hostcalls::set_effective_context(id).is_err() {
            continue;
        }
        let mut host = WasmHost::new(metrics, id, None);
        if filter.on_resumed(request, &mut host) == Outcome::Continue {
            let _ = hostcalls::resume_http_request();
        }
    }
}

/// The status (0: none, the call failed or timed out) and headers of a call's answer.
fn call_answer() -> (u32, Vec<(String, String)>) {
    let headers = hostcalls::get_map(MapType::HttpCallResponseHeaders).unwrap_or_default();
    let status = headers
        .iter()
        .find(|(name, _)| name == ":status")
        .and_then(|(_, v)| v.parse::<u32>().ok())
        .unwrap_or(0);
    (status, headers)
}

/// The first `size` bytes of a call's answer body.
fn call_body(size: usize) -> Vec<u8> {
    match size {
        0 => Vec::new(),
        n => hostcalls::get_buffer(BufferType::HttpCallResponseBody, 0, n)
            .ok()
            .flatten()
            .unwrap_or_default(),
    }
}

fn now_ms() -> u64 {
    hostcalls::get_current_time()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(u64::MAX / 2, |d| {
            u64::try_from(d.as_millis()).unwrap_or(u64::MAX / 2)
        })
}

fn log(level: Level, message: &str) {
    let level = match level {
        Level::Info => LogLevel::Info,
        Level::Warn => LogLevel::Warn,
    };
    let _ = hostcalls::log(level, message);
}

fn count(metrics: &mut HashMap<String, u32>, metric: &str) {
    let id = match metrics.get(metric) {
        Some(id) => *id,
        None => match hostcalls::define_metric(MetricType::Counter, metric) {
            Ok(id) => {
                metrics.insert(metric.to_string(), id);
                id
            }
            Err(_) => return,
        },
    };
    let _ = hostcalls::increment_metric(id, 1);
}

/// Dispatches `GET path` to `cluster` (keys and tables): the only network calls the filter
/// makes.
fn fetch(
    cluster: &str,
    authority: &str,
    path: &str,
    extra: &[(&str, &str)],
    timeout_ms: u64,
) -> Result<u32, String> {
    let mut headers = vec![
        (":method", "GET"),
        (":path", path),
        (":authority", authority),
        ("accept", "application/json, application/x-pem-file, */*"),
        ("user-agent", "gatehouse"),
    ];
    headers.extend_from_slice(extra);
    hostcalls::dispatch_http_call(
        cluster,
        headers,
        None,
        vec![],
        Duration::from_millis(timeout_ms),
    )
    .map_err(|status| format!("{status:?} (is there an Envoy cluster `{cluster}`?)"))
}

/// The host of the root context's events (context id 0) and of one request's: fetches, logs,
/// counts, collects the held requests to decide again, and acts on the effective request.
struct WasmHost<'a> {
    metrics: &'a mut HashMap<String, u32>,
    context_id: u32,
    resumed: Vec<u32>,
    /// Where a request records the fetches it dispatched (their answers come back to it).
    fetches: Option<&'a mut Vec<u32>>,
}

impl<'a> WasmHost<'a> {
    fn new(
        metrics: &'a mut HashMap<String, u32>,
        context_id: u32,
        fetches: Option<&'a mut Vec<u32>>,
    ) -> WasmHost<'a> {
        WasmHost {
            metrics,
            context_id,
            resumed: Vec::new(),
            fetches,
        }
    }
}

impl FetchHost for WasmHost<'_> {
    fn fetch(
        &mut self,
        cluster: &str,
        authority: &str,
        path: &str,
        timeout: u64,
    ) -> Result<u32, String> {
        self.fetch_with(cluster, authority, path, &[], timeout)
    }

    fn fetch_with(
        &mut self,
        cluster: &str,
        authority: &str,
        path: &str,
        headers: &[(&str, &str)],
        timeout: u64,
    ) -> Result<u32, String> {
        let token = fetch(cluster, authority, path, headers, timeout)?;
        if let Some(fetches) = &mut self.fetches {
            fetches.push(token);
        }
        Ok(token)
    }

    fn post(
        &mut self,
        cluster: &str,
        authority: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        timeout_ms: u64,
    ) -> Result<u32, String> {
        let length = body.len().to_string();
        let mut all = vec![
            (":method", "POST"),
            (":path", path),
            (":authority", authority),
            ("content-length", length.as_str()),
            ("user-agent", "gatehouse"),
        ];
        all.extend_from_slice(headers);
        hostcalls::dispatch_http_call(
            cluster,
            all,
            Some(body),
            vec![],
            Duration::from_millis(timeout_ms),
        )
        .map_err(|status| format!("{status:?} (is there an Envoy cluster `{cluster}`?)"))
    }

    fn resume(&mut self, context_id: u32) {
        self.resumed.push(context_id);
    }

    fn log(&mut self, level: Level, message: &str) {
        log(level, message);
    }

    fn count(&mut self, metric: &str) {
        count(self.metrics, metric);
    }
}

impl Host for WasmHost<'_> {
    fn request_headers(&self) -> Vec<(String, Vec<u8>)> {
        hostcalls::get_map_bytes(MapType::HttpRequestHeaders).unwrap_or_default()
    }

    fn remove_request_header(&mut self, name: &str) {
        let _ = hostcalls::set_map_value(MapType::HttpRequestHeaders, name, None);
    }

    fn set_request_header(&mut self, name: &str, value: &str) {
        let _ = hostcalls::set_map_value(MapType::HttpRequestHeaders, name, Some(value));
    }

    fn respond(&mut self, status: u32, headers: &[(&str, &str)], body: &[u8]) {
        let _ = hostcalls::send_http_response(status, headers.to_vec(), Some(body));
    }

    fn now(&self) -> u64 {
        // A host without a clock makes every token look expired (fail closed).
        now_ms() / 1000
    }

    fn now_ms(&self) -> u64 {
        now_ms()
    }

    fn context_id(&self) -> u32 {
        self.context_id
    }

    fn shared_get(&self, key: &str) -> Option<Vec<u8>> {
        // Shared data is the proxy's, seen by every worker.
        hostcalls::get_shared_data(key)
            .ok()
            .and_then(|(value, _)| value)
    }

    fn shared_set(&mut self, key: &str, value: &[u8]) {
        let _ = hostcalls::set_shared_data(key, Some(value), None);
    }
}
