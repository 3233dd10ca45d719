//! proxy-wasm glue (wasm32 only): the root context owns the loaded table, the verified-token
//! cache and the metric ids; each HTTP context is thin and runs [`crate::gate::on_request`]
//! with host calls behind the [`Host`] trait.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::UNIX_EPOCH;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel, MapType, MetricType};

use crate::cache::TokenCache;
use crate::engine::Engine;
use crate::gate::{on_request, Host, Level};

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
    engine: Option<Rc<Engine>>,
    cache: Option<TokenCache>,
    metrics: HashMap<String, u32>,
}

#[derive(Default)]
struct Root {
    shared: Rc<RefCell<Shared>>,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        let config = match hostcalls::get_buffer(
            proxy_wasm::types::BufferType::PluginConfiguration,
            0,
            usize::MAX,
        ) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => {
                log(Level::Warn, "gatehouse: no plugin configuration: every request is denied until a table is loaded");
                return false;
            }
            Err(e) => {
                log(
                    Level::Warn,
                    &format!("gatehouse: cannot read plugin configuration: {e:?}"),
                );
                return false;
            }
        };
        match Engine::from_json(&config) {
            Ok(engine) => {
                let mut shared = self.shared.borrow_mut();
                let capacity = engine.gateway().token_cache_size;
                log(
                    Level::Info,
                    &format!(
                        "gatehouse: table loaded: {} routes, {} issuers, {} namespaces, token cache {}",
                        engine.table.routes.len(),
                        engine.table.issuers.len(),
                        engine.table.namespaces.len(),
                        capacity
                    ),
                );
                // Keys or issuers may have changed: earlier verifications no longer count.
                shared.cache = Some(TokenCache::new(capacity));
                shared.engine = Some(Rc::new(engine));
                true
            }
            Err(e) => {
                let kept = if self.shared.borrow().engine.is_some() {
                    "the last good table stays in force"
                } else {
                    "no table is loaded: every request is denied"
                };
                log(
                    Level::Warn,
                    &format!("gatehouse: table refused: {e}; {kept}"),
                );
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
        let Shared {
            engine,
            cache,
            metrics,
        } = &mut *shared;
        let engine = engine.clone();
        let mut fallback;
        let cache = match cache {
            Some(c) => c,
            None => {
                fallback = TokenCache::new(1);
                &mut fallback
            }
        };
        let mut host = ProxyHost { metrics };
        match on_request(engine.as_deref(), cache, &mut host) {
            crate::gate::Outcome::Continue => Action::Continue,
            crate::gate::Outcome::Denied(_) => Action::Pause,
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
