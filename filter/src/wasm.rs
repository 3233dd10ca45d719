//! proxy-wasm glue (wasm32 only): the root context owns the loaded table, the verified-token
//! cache and the metric ids; each HTTP context is thin and runs [`crate::gate::on_request`]
//! with host calls behind the [`Host`] trait.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::UNIX_EPOCH;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, BufferType, ContextType, LogLevel, MapType, MetricType};

use crate::gate::{Filter, Host, Level, Outcome};

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
}

#[derive(Default)]
struct Root {
    shared: Rc<RefCell<Shared>>,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        let started = hostcalls::get_current_time().ok();
        let config = hostcalls::get_buffer(BufferType::PluginConfiguration, 0, usize::MAX)
            .ok()
            .flatten();
        let Ok(mut shared) = self.shared.try_borrow_mut() else {
            return false;
        };
        match shared.filter.configure(config.as_deref()) {
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

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Request {
            shared: Rc::clone(&self.shared),
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Request {
    shared: Rc<RefCell<Shared>>,
}

impl Context for Request {}

impl HttpContext for Request {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let Ok(mut shared) = self.shared.try_borrow_mut() else {
            // Cannot happen (one request at a time per VM); fail closed all the same.
            let _ =
                hostcalls::send_http_response(503, vec![], Some(b"{\"reason\":\"no_table\"}\n"));
            return Action::Pause;
        };
        let Shared { filter, metrics } = &mut *shared;
        let mut host = ProxyHost { metrics };
        match filter.on_request(&mut host) {
            Outcome::Continue => Action::Continue,
            Outcome::Denied(_) => Action::Pause,
        }
    }
}

struct ProxyHost<'a> {
    metrics: &'a mut HashMap<String, u32>,
}

fn log(level: Level, message: &str) {
    let level = match level {
        Level::Info => LogLevel::Info,
        Level::Warn => LogLevel::Warn,
    };
    let _ = hostcalls::log(level, message);
}

impl Host for ProxyHost<'_> {
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
        hostcalls::get_current_time()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            // A host without a clock makes every token look expired (fail closed).
            .map_or(u64::MAX / 2, |d| d.as_secs())
    }

    fn log(&mut self, level: Level, message: &str) {
        log(level, message);
    }

    fn count(&mut self, metric: &str) {
        let id = match self.metrics.get(metric) {
            Some(id) => *id,
            None => match hostcalls::define_metric(MetricType::Counter, metric) {
                Ok(id) => {
                    self.metrics.insert(metric.to_string(), id);
                    id
                }
                Err(_) => return,
            },
        };
        let _ = hostcalls::increment_metric(id, 1);
    }
}
