//! The request path of the filter, written against a [`Host`] trait: the proxy-wasm glue
//! implements it with host calls, tests implement it with a recording mock. Everything the
//! filter does to a request happens here, in this order:
//!
//! 1. strip inbound identity headers and every `x-amzn-oidc-*` header;
//! 2. normalize the path (and forward the normalized form) and find the route;
//! 3. public routes continue without identity;
//! 4. verify the ALB header and/or bearer token (through the verified-token cache);
//! 5. decide; on allow set the identity headers, on deny answer 400/401/403/503 with a JSON body.

mod deny;

pub(crate) use deny::metric_name;
use deny::{deny, deny_with, query_names, Context};

use crate::cache::{token_key, TokenCache};
use crate::engine::{Engine, Verdict};
use crate::reason::DenyReason;
use crate::token::{identify, Credentials, Source, TokenFailure, VerifiedToken};

/// Header names used when no table is loaded.
pub const DEFAULT_USER_HEADER: &str = "kubeflow-userid";
/// Header names used when no table is loaded.
pub const DEFAULT_GROUPS_HEADER: &str = "kubeflow-groups";
/// The ALB's signed identity header.
pub const ALB_HEADER: &str = "x-amzn-oidc-data";
/// Every ALB header starts with this.
pub const ALB_PREFIX: &str = "x-amzn-oidc-";
/// Headers some frameworks read as the request's method instead of the one on the wire.
pub const METHOD_OVERRIDE_HEADERS: [&str; 3] = [
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

/// Whether header `name` is `target` as an upstream may read it: ASCII case ignored, and `_`
/// taken for `-` (CGI and WSGI map both to the same variable).
pub fn header_is(name: &str, target: &str) -> bool {
    name.len() == target.len() && header_starts_with(name, target)
}

/// Whether header `name` starts with `prefix`, compared as [`header_is`] does.
pub fn header_starts_with(name: &str, prefix: &str) -> bool {
    let fold = |b: u8| {
        if b == b'_' {
            b'-'
        } else {
            b.to_ascii_lowercase()
        }
    };
    name.len() >= prefix.len()
        && name
            .bytes()
            .zip(prefix.bytes())
            .all(|(a, b)| fold(a) == fold(b))
}

/// Log levels the filter uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Routine events (denials).
    Info,
    /// Something an operator should look at.
    Warn,
}

/// What the request path needs from the proxy.
pub trait Host {
    /// Every request header (names lower-case, pseudo-headers included), values as bytes.
    fn request_headers(&self) -> Vec<(String, Vec<u8>)>;
    /// Removes every value of a request header.
    fn remove_request_header(&mut self, name: &str);
    /// Sets (replaces) a request header.
    fn set_request_header(&mut self, name: &str, value: &str);
    /// Answers the request locally.
    fn respond(&mut self, status: u32, headers: &[(&str, &str)], body: &[u8]);
    /// Unix time, seconds.
    fn now(&self) -> u64;
    /// Writes a log line.
    fn log(&mut self, level: Level, message: &str);
    /// Adds one to a counter.
    fn count(&mut self, metric: &str);
}

/// What happened to the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Passed upstream (with identity headers set, when it had an identity).
    Continue,
    /// Answered locally with this status.
    Denied(DenyReason),
}

/// Runs the request path for one request.
pub fn on_request<H: Host>(
    engine: Option<&Engine>,
    cache: &mut TokenCache,
    host: &mut H,
) -> Outcome {
    let headers = host.request_headers();
    let (user_header, groups_header) = match engine {
        Some(e) => (
            e.gateway().user_header.as_str(),
            e.gateway().groups_header.as_str(),
        ),
        None => (DEFAULT_USER_HEADER, DEFAULT_GROUPS_HEADER),
    };
    // INVARIANT: identity headers from the client never reach an upstream. They are removed on
    // every request, public or not, before anything else can return early, in any spelling an
    // upstream may read as theirs: names compare without case and with `_` for `-`
    // (WSGI-style servers read `kubeflow_userid` as `kubeflow-userid`). Method override
    // headers go too: the upstream must act on the method that was judged. The header list is
    // the whole request's, so only names present need a host call.
    let mut stripped: Vec<&str> = Vec::new();
    let mut overrides: Vec<&[u8]> = Vec::new();
    for (name, value) in &headers {
        let n = name.as_str();
        let identity = header_starts_with(n, ALB_PREFIX)
            || header_is(n, user_header)
            || header_is(n, groups_header);
        let method_override = METHOD_OVERRIDE_HEADERS.iter().any(|h| header_is(n, h));
        if method_override {
            overrides.push(value);
        }
        if (identity || method_override) && !stripped.contains(&n) {
            stripped.push(n);
        }
    }
    for name in &stripped {
        host.remove_request_header(name);
    }

    let Some(engine) = engine else {
        // INVARIANT: with no table every request is refused (fail closed).
        return deny(host, None, DenyReason::NoTable, &Context::default());
    };
    let value = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.as_slice())
    };
    let method = value(":method")
        .and_then(|v| std::str::from_utf8(v).ok())
        .unwrap_or("");
    // Denials before the path is judged log what was refused: the raw path (the log line
    // drops its query, escapes and cuts it), and for query denials the parameter names.
    let Some(raw_path) = value(":path").and_then(|v| std::str::from_utf8(v).ok()) else {
        let shown = value(":path").map(String::from_utf8_lossy);
        let ctx = Context {
            path: shown.as_deref(),
            ..Context::default()
        };
        return deny(host, Some(engine), DenyReason::BadPath, &ctx);
    };
    // INVARIANT: a request that asks the upstream to act as another method than the one
    // judged is refused (a matching override is only removed).
    if overrides
        .iter()
        .any(|v| !v.trim_ascii().eq_ignore_ascii_case(method.as_bytes()))
    {
        let ctx = Context {
            path: Some(raw_path),
            detail: Some("a method override header names another method"),
            ..Context::default()
        };
        return deny(host, Some(engine), DenyReason::MethodOverride, &ctx);
    }
    let authority = value(":authority")
        .or_else(|| value("host"))
        .and_then(|v| std::str::from_utf8(v).ok());
    let pre = match engine.preflight_at(method, authority, raw_path) {
        Ok(p) => p,
        Err(reason) => {
            let detail = (reason == DenyReason::AmbiguousNamespace).then(|| query_names(raw_path));
            let ctx = Context {
                path: Some(raw_path),
                detail: detail.as_deref(),
                ..Context::default()
            };
            if reason == DenyReason::MethodNotAllowed {
                let allow = engine.allowed_methods(authority, raw_path).join(", ");
                return deny_with(host, Some(engine), reason, &ctx, &[("allow", &allow)]);
            }
            return deny(host, Some(engine), reason, &ctx);
        }
    };
    let forward = pre.path.forward_path();
    if forward != raw_path {
        // What was judged is what is served: the upstream gets the normalized path.
        host.set_request_header(":path", &forward);
    }
    if pre.is_public() {
        host.count("gatehouse.allowed.public");
        return Outcome::Continue;
    }

    // The judged path is only logged from here on: move it out rather than copy it.
    let mut pre = pre;
    let path = std::mem::take(&mut pre.path.path);
    let mut ctx = Context {
        path: Some(&path),
        ..Context::default()
    };

    let verified = match verify(engine, cache, host, &headers) {
        Ok(Some(v)) => v,
        Ok(None) => return deny(host, Some(engine), DenyReason::NoIdentity, &ctx),
        Err(f) => {
            ctx.issuer = f.issuer.as_deref();
            ctx.kid = f.kid.as_deref();
            ctx.detail = Some(&f.detail);
            if let Some(i) = &f.issuer {
                host.count(&format!("gatehouse.verify_failed.{}", metric_name(i)));
            }
            return deny(host, Some(engine), f.reason, &ctx);
        }
    };
    ctx.issuer = Some(&verified.identity.issuer);
    ctx.kid = verified.kid.as_deref();
    let decision = engine.authorize_owned(pre, &verified.identity);
    ctx.fill(&decision);
    match decision.verdict {
        Verdict::Allow => {
            for (name, value) in &decision.headers {
                host.set_request_header(name, value);
            }
            if let Some(reason) = decision.audited {
                host.count(&format!("gatehouse.audited.{}", reason.code()));
                host.log(Level::Info, &ctx.log_line("audit", reason, Some(engine)));
            } else {
                host.count("gatehouse.allowed");
            }
            Outcome::Continue
        }
        Verdict::Deny(reason) => deny(host, Some(engine), reason, &ctx),
    }
}

/// Reads the credentials and verifies them through the cache.
fn verify<H: Host>(
    engine: &Engine,
    cache: &mut TokenCache,
    host: &mut H,
    headers: &[(String, Vec<u8>)],
) -> Result<Option<VerifiedToken>, TokenFailure> {
    let mut creds = Credentials::default();
    for (name, value) in headers {
        let is_alb = name.eq_ignore_ascii_case(ALB_HEADER);
        if !is_alb && !name.eq_ignore_ascii_case("authorization") {
            continue;
        }
        let Ok(text) = std::str::from_utf8(value) else {
            return Err(TokenFailure {
                reason: if is_alb {
                    DenyReason::TokenMalformed
                } else {
                    DenyReason::BadAuthorizationHeader
                },
                issuer: None,
                kid: None,
                detail: format!("`{name}` is not UTF-8"),
            });
        };
        if is_alb {
            creds.alb.push(text);
        } else {
            creds.authorization.push(text);
        }
    }
    let now = host.now();
    let leeway = engine.gateway().leeway_seconds;
    let mut used_alb: Option<String> = None;
    let result = identify(&creds, engine.gateway().precedence, |source, token| {
        let key = token_key(source, token);
        if let Some(hit) = cache.get(&key, now) {
            // INVARIANT: a cache hit re-checks everything about the key that can change after
            // the token verified (retirement by `not_after`); a key no longer in force sends
            // the token through full verification again, which refuses it with its reason.
            let in_force =
                engine
                    .verifiers()
                    .key_in_force(&hit.identity.issuer, hit.kid.as_deref(), now);
            if in_force.is_ok() {
                host.count("gatehouse.token_cache.hit");
                if source == Source::Alb {
                    used_alb = Some(token.to_string());
                }
                return Ok(hit);
            }
            cache.remove(&key);
        }
        host.count("gatehouse.token_cache.miss");
        let verified = match source {
            Source::Alb => engine.verifiers().verify_alb(token, now, leeway),
            Source::Bearer => engine.verifiers().verify_bearer(token, now, leeway),
        }?;
        if source == Source::Alb {
            used_alb = Some(token.to_string());
        }
        cache.insert(key, verified.clone());
        Ok(verified)
    });
    if let (Ok(Some(_)), Some(alb)) = (&result, used_alb) {
        // The ALB header verified: pass it on for upstreams that read it.
        host.set_request_header(ALB_HEADER, &alb);
    }
    result
}

/// The filter's state on one worker: the table in force and the verified-token cache. Lives on
/// the proxy-wasm root context; the HTTP contexts borrow it per request.
pub struct Filter {
    engine: Option<Engine>,
    cache: TokenCache,
}

impl Default for Filter {
    fn default() -> Self {
        Filter {
            engine: None,
            cache: TokenCache::new(1),
        }
    }
}

impl Filter {
    /// Loads a new table from the plugin configuration. On error the table in force (if any)
    /// stays, and the error says so; the caller logs it and tells the proxy the configuration
    /// was refused.
    pub fn configure(&mut self, config: Option<&[u8]>) -> Result<String, String> {
        let kept = || {
            if self.engine.is_some() {
                "the last good table stays in force"
            } else {
                // In Envoy a refused configuration is never used: the listener (or the
                // proxy at startup) refuses it and the previous one, if any, keeps serving.
                "no table is loaded: every request is denied until a good table arrives \
                 (Envoy refuses this configuration and keeps serving the previous one, if any)"
            }
        };
        let Some(bytes) = config.filter(|b| !b.is_empty()) else {
            return Err(format!("gatehouse: no plugin configuration; {}", kept()));
        };
        match Engine::from_json(bytes) {
            Ok(engine) => {
                let msg = format!(
                    "gatehouse: table loaded: {} routes, {} issuers, {} namespaces, token cache {}",
                    engine.table.routes.len(),
                    engine.table.issuers.len(),
                    engine.table.namespaces.len(),
                    engine.gateway().token_cache_size
                );
                // Keys or issuers may have changed: earlier verifications no longer count.
                self.cache = TokenCache::new(engine.gateway().token_cache_size);
                self.engine = Some(engine);
                Ok(msg)
            }
            Err(e) => Err(format!("gatehouse: table refused: {e}; {}", kept())),
        }
    }

    /// The table in force.
    pub fn engine(&self) -> Option<&Engine> {
        self.engine.as_ref()
    }

    /// Runs the request path.
    pub fn on_request<H: Host>(&mut self, host: &mut H) -> Outcome {
        on_request(self.engine.as_ref(), &mut self.cache, host)
    }

    /// Tokens held in the verified-token cache.
    pub fn cached_tokens(&self) -> usize {
        self.cache.len()
    }
}
