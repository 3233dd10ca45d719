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
mod shared;
mod signin;
pub mod source;

pub(crate) use crate::observe::metric_name;
use deny::{deny, deny_with, query_names, Context};

use crate::cache::TokenCache;
use crate::engine::{Engine, Provenance, Verdict};
use crate::live::{FetchHost, KeyRefresh, UnknownKid};
use crate::pipeline::{self, Request};
use crate::reason::DenyReason;
use crate::signin::{Exchange, SignIn};
use crate::token::{identify, Credentials, LiveKeys, Source, TokenFailure, VerifiedToken};
use crate::wire::{self, Form};
use source::{Fetched, TableSource, TableSourceSpec};

/// Header names used when no table is loaded.
pub const DEFAULT_USER_HEADER: &str = "kubeflow-userid";
/// Header names used when no table is loaded.
pub const DEFAULT_GROUPS_HEADER: &str = "kubeflow-groups";
pub use crate::headers::{
    header_is, header_starts_with, ALB_ACCESS_HEADER, ALB_HEADER, ALB_PREFIX,
    METHOD_OVERRIDE_HEADERS,
};
pub use crate::observe::Level;

/// What the request path needs from the proxy: besides what the key refresher needs of it
/// ([`FetchHost`]: fetch, resume, log, count), the request's headers, its answer and the clock.
pub trait Host: FetchHost {
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
    /// Unix time, milliseconds (for the key refresher's holds and limits).
    fn now_ms(&self) -> u64 {
        self.now().saturating_mul(1000)
    }
    /// The proxy's id of this request (a held request is resumed by it).
    fn context_id(&self) -> u32 {
        0
    }
    /// A value of the proxy's shared data, seen by every worker (`None`: absent, or a host
    /// without shared data).
    fn shared_get(&self, _key: &str) -> Option<Vec<u8>> {
        None
    }
    /// Sets a value of the proxy's shared data (a host without shared data drops it).
    fn shared_set(&mut self, _key: &str, _value: &[u8]) {}
}

/// A request held for its issuer's keys, or for the first table: what the host keeps until it
/// is decided again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// The issuer whose keys are being fetched; `None`: the table is.
    pub issuer: Option<String>,
    /// The request's headers as they arrived (the request path has since removed the
    /// identity headers from the live request; deciding again reads these).
    pub headers: Vec<(String, Vec<u8>)>,
}

/// What happened to the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Passed upstream (with identity headers set, when it had an identity).
    Continue,
    /// Answered locally with this status.
    Denied(DenyReason),
    /// Paused: its token's kid is unknown and the issuer's keys are being fetched. The host
    /// keeps [`Held`] and, when told to resume it, runs [`Filter::on_resumed`].
    Held(Box<Held>),
    /// Answered locally without a denial (a sign-in redirect, sign-out), with this status.
    Answered(u32),
    /// Paused: a sign-in callback whose code is being exchanged. The host keeps the
    /// [`Exchange`] and hands the token endpoint's answer to [`Filter::on_exchanged`].
    Exchanging(Box<Exchange>),
}

/// Refuses a request the filter cannot judge at all (its state is out of reach), as every
/// other denial is written: `no_table`, fail closed.
pub fn refuse_unjudged<H: Host>(host: &mut H) -> Outcome {
    deny(host, None, DenyReason::NoTable, &Context::default())
}

/// Runs the request path for one request, with the compiled keys only.
pub fn on_request<H: Host>(
    engine: Option<&Engine>,
    cache: &mut TokenCache,
    host: &mut H,
) -> Outcome {
    let headers = host.request_headers();
    decide(engine, cache, None, None, headers, host)
}

/// The request path: `headers` are the request's as they arrived. With `live`, tokens also
/// verify with the worker's live keys, and a token whose kid is unknown may hold the request
/// (`live` is then mutable: the refresher starts the fetch).
fn decide<H: Host>(
    engine: Option<&Engine>,
    cache: &mut TokenCache,
    mut live: Option<Live<'_>>,
    sign_in: Option<&SignIn>,
    headers: Vec<(String, Vec<u8>)>,
    host: &mut H,
) -> Outcome {
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
    for (name, _) in &headers {
        let n = name.as_str();
        let identity = header_starts_with(n, ALB_PREFIX)
            || header_is(n, user_header)
            || header_is(n, groups_header);
        let method_override = METHOD_OVERRIDE_HEADERS.iter().any(|h| header_is(n, h));
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
    let mut request = Request::from_headers(&headers);
    // The sign-in's own paths are answered here; its cookies never reach an upstream.
    let session = match sign_in {
        Some(si) => match signin::before_routes(si, engine, &headers, request.path, host) {
            Ok(session) => session,
            Err(answered) => return answered,
        },
        None => None,
    };
    request.session = session.as_deref();
    let verifying = Verifying {
        engine,
        live: live.as_ref().map(|l| &*l.refresh as &dyn LiveKeys),
        sign_in,
    };
    let mut alb_verified = AlbVerified::default();
    let decided = pipeline::run(engine, &request, |creds: &Credentials<'_>| {
        verify(&verifying, cache, host, creds, &mut alb_verified)
    });
    if let Some(f) = &decided.failure {
        if let Some(issuer) = hold(live.as_mut(), f, host) {
            return Outcome::Held(Box::new(Held {
                issuer: Some(issuer),
                headers,
            }));
        }
    }
    if decided.path_changed {
        if let Some(forward) = &decided.path {
            // What was judged is what is served: the upstream gets the normalized path.
            host.set_request_header(":path", forward);
        }
    }
    if decided.public {
        host.count("gatehouse.allowed.public");
        return Outcome::Continue;
    }
    // Denials before the path is judged log what was refused: the raw path (the log line
    // drops its query, escapes and cuts it), and for query denials the parameter names.
    let query = match decided.reason() {
        Some(DenyReason::AmbiguousNamespace) => decided.raw_path.as_deref().map(query_names),
        _ => None,
    };
    let mut ctx = Context {
        path: decided.path.as_deref().or(decided.raw_path.as_deref()),
        detail: query.as_deref().or(decided.detail.as_deref()),
        ..Context::default()
    };
    if let Some(f) = &decided.failure {
        ctx.issuer = f.issuer.as_deref();
        ctx.kid = f.kid.as_deref();
        ctx.detail = Some(&f.detail);
        if let Some(i) = &f.issuer {
            host.count(&format!("gatehouse.verify_failed.{}", metric_name(i)));
        }
    }
    if let Some(v) = &decided.verified {
        ctx.issuer = Some(&v.identity.issuer);
        ctx.kid = v.kid.as_deref();
        ctx.fill(&decided.decision);
    }
    match decided.decision.verdict {
        Verdict::Allow => {
            for (name, value) in &decided.decision.headers {
                host.set_request_header(name, value);
            }
            // The ALB headers that verified go on, for upstreams that read them.
            if let Some(alb) = &alb_verified.alb {
                host.set_request_header(ALB_HEADER, alb);
            }
            if let Some(access) = &alb_verified.access {
                host.set_request_header(ALB_ACCESS_HEADER, access);
            }
            if let Some(reason) = decided.decision.audited {
                host.count(&format!("gatehouse.audited.{}", reason.code()));
                host.log(Level::Info, &ctx.log_line("audit", reason, Some(engine)));
            } else {
                host.count("gatehouse.allowed");
            }
            Outcome::Continue
        }
        Verdict::Deny(reason) => {
            if let Some(si) = sign_in {
                let path = decided.path.as_deref().unwrap_or("/");
                let failed_session = session.is_some();
                if let Some(sent) =
                    signin::send_to_sign_in(si, &headers, path, reason, failed_session, &ctx, host)
                {
                    return sent;
                }
            }
            match &decided.allow {
                Some(allow) => deny_with(host, Some(engine), reason, &ctx, &[("allow", allow)]),
                None => deny(host, Some(engine), reason, &ctx),
            }
        }
    }
}

/// The ALB headers of a request whose identity verified, put back for the upstream (every
/// `x-amzn-oidc-*` header is removed first).
#[derive(Default)]
struct AlbVerified {
    alb: Option<String>,
    access: Option<String>,
}

impl AlbVerified {
    /// Notes a token that verified (or hit the cache), if it is an ALB header.
    fn saw(&mut self, source: Source, token: &str) {
        match source {
            Source::Alb => self.alb = Some(token.to_owned()),
            Source::AlbAccess => self.access = Some(token.to_owned()),
            Source::Bearer | Source::Session => {}
        }
    }
}

/// The worker's live keys, as the request path uses them.
struct Live<'a> {
    refresh: &'a mut KeyRefresh,
    /// Whether a token with an unknown kid may hold the request (not when deciding a
    /// request again after its hold).
    may_hold: bool,
}

/// Holds the request when its token's kid is unknown, fetching may find it, and the refresher
/// agrees (rate limit, held-request bound); returns the issuer it waits for.
fn hold<H: Host>(live: Option<&mut Live<'_>>, f: &TokenFailure, host: &mut H) -> Option<String> {
    let live = live.filter(|l| l.may_hold)?;
    let (Some(issuer), Some(kid)) = (&f.issuer, &f.kid) else {
        return None;
    };
    if !f.fetchable {
        return None;
    }
    let (context_id, now_ms) = (host.context_id(), host.now_ms());
    let answer = live
        .refresh
        .on_unknown_kid(issuer, kid, context_id, now_ms, host);
    (answer == UnknownKid::Hold).then(|| issuer.clone())
}

/// What verifies a request's tokens: the table, the live keys, the sign-in (session cookies).
struct Verifying<'a> {
    engine: &'a Engine,
    live: Option<&'a dyn LiveKeys>,
    sign_in: Option<&'a SignIn>,
}

/// The gateway's token verification: through the verified-token cache, with the live keys.
/// `alb_verified` gets the ALB values that verified (passed on to the upstream).
fn verify<H: Host>(
    with: &Verifying<'_>,
    cache: &mut TokenCache,
    host: &mut H,
    creds: &Credentials<'_>,
    alb_verified: &mut AlbVerified,
) -> Result<Option<VerifiedToken>, TokenFailure> {
    let Verifying {
        engine,
        live,
        sign_in,
    } = *with;
    let now = host.now();
    let leeway = engine.gateway().leeway_seconds;
    let mut used = AlbVerified::default();
    let verifiers = engine.verifiers();
    let result = identify(
        creds,
        engine.gateway().precedence,
        &mut (),
        |issuer| verifiers.alb_access(issuer),
        |source, token, _| {
            if let (Source::Session, Some(si)) = (source, sign_in) {
                signin::not_signed_out(si, token, host)?;
            }
            let key = cache.key(source, token);
            // INVARIANT: a cache hit re-checks everything about the key that can change after
            // the token verified (retirement by `not_after`, withdrawal by its issuer); a key
            // no longer in force sends the token through full verification again, which
            // refuses it with its reason.
            let in_force = |hit: &VerifiedToken| {
                let key_ok =
                    verifiers.key_in_force(&hit.identity.issuer, hit.kid.as_deref(), now, live);
                key_ok.is_ok()
            };
            let verified = if let Some(hit) = cache.get(&key, now).filter(in_force) {
                host.count("gatehouse.token_cache.hit");
                hit
            } else if let Some(seen) = shared::get(host, &key, cache.tag(), now).filter(in_force) {
                // Not in this worker's cache: another worker of the proxy verified it.
                host.count("gatehouse.token_cache.shared_hit");
                cache.insert(key, seen.clone());
                seen
            } else {
                cache.remove(&key);
                host.count("gatehouse.token_cache.miss");
                let verified = match (source, sign_in) {
                    (Source::Session, Some(si)) => {
                        signin::verify_session(si, verifiers, token, now, leeway, live)?
                    }
                    _ => verifiers.verify(source, token, now, leeway, live, &mut ())?,
                };
                shared::put(host, &key, cache.tag(), &verified);
                cache.insert(key, verified.clone());
                verified
            };
            used.saw(source, token);
            Ok(verified)
        },
    );
    if let Ok(Some(_)) = &result {
        *alb_verified = used;
    }
    result
}

/// The filter's state on one worker: the table in force, the verified-token cache and the live
/// keys. Lives on the proxy-wasm root context; the HTTP contexts borrow it per request.
pub struct Filter {
    engine: Option<Engine>,
    cache: TokenCache,
    live: Option<KeyRefresh>,
    /// Where tables come from when the configuration names a source instead of a table.
    source: Option<TableSource>,
    /// Requests held by a refresher that a reload replaced: to decide again.
    released: Vec<u32>,
    /// Tables put in force so far (the glue times a fetched table's load by it).
    generation: u64,
    /// Browser sign-in, when an issuer of the table in force has it.
    sign_in: Option<SignIn>,
    /// Where the sign-in's secrets are read (the Wasm VM's environment).
    env: Box<EnvReader>,
    /// Whether the token cache keys tokens under the proxy's shared secret yet.
    secret_shared: bool,
}

/// Reads an environment variable of the Wasm VM.
type EnvReader = dyn Fn(&str) -> Option<String> + Send + Sync;

impl Default for Filter {
    fn default() -> Self {
        Filter {
            engine: None,
            cache: TokenCache::new(1),
            live: None,
            source: None,
            released: Vec::new(),
            generation: 0,
            sign_in: None,
            env: Box::new(|name| std::env::var(name).ok()),
            secret_shared: false,
        }
    }
}

/// What a shared cache entry must have been verified under: the table's issuers and gateway
/// settings (keys, audiences, claims, leeway), hashed. Another table makes every entry a miss.
fn table_tag(table: &crate::table::Table) -> u64 {
    use std::hash::Hasher;
    let mut h = siphasher::sip::SipHasher24::new();
    h.write(&serde_json::to_vec(&table.issuers).unwrap_or_default());
    h.write(&serde_json::to_vec(&table.gateway).unwrap_or_default());
    h.finish()
}

/// Whether a (small) configuration is an object with a `table_source`: then its errors are
/// the source's, not a table's.
fn names_source(bytes: &[u8]) -> bool {
    bytes.len() <= 64 * 1024
        && serde_json::from_slice::<serde_json::Value>(bytes)
            .ok()
            .and_then(|v| v.as_object().map(|o| o.contains_key("table_source")))
            .unwrap_or(false)
}

/// A plugin configuration that names a table source instead of holding a table.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceConfig {
    table_source: TableSourceSpec,
}

/// Collects into the filter's list the requests a replaced refresher or table source lets go
/// (it fetches nothing more).
struct Released<'a>(&'a mut Vec<u32>);

impl FetchHost for Released<'_> {
    fn resume(&mut self, context_id: u32) {
        self.0.push(context_id);
    }
    fn log(&mut self, _: Level, _: &str) {}
    fn count(&mut self, _: &str) {}
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
        // A source configuration is small and fails at its first field when it is a table.
        let config = match serde_json::from_slice::<SourceConfig>(bytes) {
            Ok(config) => Some(config),
            Err(e) if names_source(bytes) => {
                return Err(format!("gatehouse: configuration refused: {e}; {}", kept()))
            }
            Err(_) => None,
        };
        if let Some(config) = config {
            let source = TableSource::new(config.table_source)
                .map_err(|e| format!("gatehouse: configuration refused: {e}; {}", kept()))?;
            let msg = format!(
                "gatehouse: tables from {} (cluster {}), polled every {} s; {}",
                source.spec().url,
                source.spec().cluster,
                source.spec().poll_seconds,
                if self.engine.is_some() {
                    "the table in force stays until one arrives"
                } else {
                    "requests wait for the first table"
                }
            );
            self.replace_source(Some(source));
            return Ok(msg);
        }
        if wire::form(bytes) == Some(Form::Signed) {
            return Err(format!(
                "gatehouse: table refused: a signed table is fetched from a `table_source`, not inlined; {}",
                kept()
            ));
        }
        let loaded = Engine::from_bytes(bytes, Provenance::Drop)
            .map_err(|e| e.to_string())
            .and_then(|engine| self.ready(engine));
        match loaded {
            Ok(ready) => {
                self.replace_source(None);
                Ok(self.install(ready))
            }
            Err(e) => Err(format!("gatehouse: table refused: {e}; {}", kept())),
        }
    }

    /// Reads where the sign-in's secrets come from: `env` instead of the Wasm VM's environment
    /// (tests, and hosts that hold secrets elsewhere).
    pub fn with_env(
        mut self,
        env: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
    ) -> Filter {
        self.env = Box::new(env);
        self
    }

    /// A loaded table with what it needs from the environment (the sign-in's secrets).
    fn ready(&self, engine: Engine) -> Result<(Engine, Option<SignIn>), String> {
        let sign_in = SignIn::from_table(&engine.table, &*self.env)?;
        Ok((engine, sign_in))
    }

    /// Replaces the table source; requests the old one held are decided again.
    fn replace_source(&mut self, source: Option<TableSource>) {
        if let Some(mut old) = std::mem::replace(&mut self.source, source) {
            old.release_all(&mut Released(&mut self.released));
        }
    }

    /// Puts a loaded table in force; says what it holds.
    fn install(&mut self, (mut engine, sign_in): (Engine, Option<SignIn>)) -> String {
        let live = engine.take_key_refresh();
        let msg = format!(
            "gatehouse: table loaded: {} routes, {} issuers ({} with live keys), {} namespaces, token cache {}",
            engine.table.routes.len(),
            engine.table.issuers.len(),
            live.as_ref().map_or(0, KeyRefresh::issuers),
            engine.table.namespaces.len(),
            engine.gateway().token_cache_size
        );
        // Keys or issuers may have changed: earlier verifications no longer count, here or
        // (by the table's tag) in the proxy's shared cache.
        self.cache =
            TokenCache::new(engine.gateway().token_cache_size).tagged(table_tag(&engine.table));
        self.secret_shared = false;
        let mut sign_in = sign_in;
        if let (Some(new), Some(old)) = (&mut sign_in, &self.sign_in) {
            new.adopt(old);
        }
        self.sign_in = sign_in;
        self.engine = Some(engine);
        self.generation += 1;
        // Issuers the new table keeps (same name, same key URL) keep what their refresher
        // learned; requests the old refresher held are decided again with the new table.
        let mut live = live;
        if let (Some(new), Some(old)) = (&mut live, &self.live) {
            new.adopt(old);
        }
        if let Some(mut old) = std::mem::replace(&mut self.live, live) {
            old.release_all(&mut Released(&mut self.released));
        }
        msg
    }

    /// How many tables were put in force so far.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Whether the worker needs timer ticks: live keys, a table source to poll, or a sign-in's
    /// discovery document.
    pub fn wants_ticks(&self) -> bool {
        self.live.is_some()
            || self.source.is_some()
            || self
                .sign_in
                .as_ref()
                .is_some_and(|s| s.discovery().is_some())
    }

    /// The table in force.
    pub fn engine(&self) -> Option<&Engine> {
        self.engine.as_ref()
    }

    /// The worker's live keys, when an issuer of the table names a key URL.
    pub fn live(&self) -> Option<&KeyRefresh> {
        self.live.as_ref()
    }

    /// Keys the token cache under the proxy's shared secret, once per table (at its first
    /// request, when the host's shared data can be read).
    fn share_cache<H: Host>(&mut self, host: &mut H) {
        if !self.secret_shared {
            let secret = shared::secret(host, self.cache.secret());
            self.cache.use_secret(secret);
            self.secret_shared = true;
        }
    }

    /// Runs the request path; a token with an unknown kid may hold the request
    /// ([`Outcome::Held`]).
    pub fn on_request<H: Host>(&mut self, host: &mut H) -> Outcome {
        self.share_cache(host);
        let headers = host.request_headers();
        if self.engine.is_none() {
            if let Some(source) = &mut self.source {
                let (context_id, now_ms) = (host.context_id(), host.now_ms());
                if source.hold(context_id, now_ms, host) {
                    return Outcome::Held(Box::new(Held {
                        issuer: None,
                        headers,
                    }));
                }
            }
        }
        let live = self.live.as_mut().map(|refresh| Live {
            refresh,
            may_hold: true,
        });
        decide(
            self.engine.as_ref(),
            &mut self.cache,
            live,
            self.sign_in.as_ref(),
            headers,
            host,
        )
    }

    /// Decides a held request again, with the keys as they are now (never holds it again).
    /// `host` acts on that request; `held` is what [`Outcome::Held`] gave.
    pub fn on_resumed<H: Host>(&mut self, held: Held, host: &mut H) -> Outcome {
        self.share_cache(host);
        let live = self.live.as_mut().map(|refresh| Live {
            refresh,
            may_hold: false,
        });
        let outcome = decide(
            self.engine.as_ref(),
            &mut self.cache,
            live,
            self.sign_in.as_ref(),
            held.headers,
            host,
        );
        let event = match outcome {
            Outcome::Continue => "held_allowed",
            _ => "held_denied",
        };
        let metric = match &held.issuer {
            Some(issuer) => format!("gatehouse.keys.{}.{event}", metric_name(issuer)),
            None => format!("gatehouse.table.{event}"),
        };
        host.count(&metric);
        outcome
    }

    /// The stream of a held request ended: it is no longer held.
    pub fn forget(&mut self, context_id: u32) {
        if let Some(live) = &mut self.live {
            live.forget(context_id);
        }
        if let Some(source) = &mut self.source {
            source.forget(context_id);
        }
    }

    /// The key fetch `token` will never be answered (see [`KeyRefresh::abandon`]).
    pub fn abandon_fetch(&mut self, token: u32, now_ms: u64) {
        if let Some(live) = &mut self.live {
            live.abandon(token, now_ms);
        }
        if let Some(source) = &mut self.source {
            source.abandon(token, now_ms);
        }
    }

    /// Requests a reload let go, to decide again (see [`Filter::on_resumed`]).
    pub fn take_released(&mut self) -> Vec<u32> {
        std::mem::take(&mut self.released)
    }

    /// Timer tick of the key refresher (see [`KeyRefresh::on_tick`]).
    pub fn on_tick<F: FetchHost>(&mut self, now_ms: u64, host: &mut F) {
        if let Some(live) = &mut self.live {
            live.on_tick(now_ms, host);
        }
        if let Some(source) = &mut self.source {
            source.on_tick(now_ms, host);
        }
        if let Some(discovery) = self.sign_in.as_mut().and_then(SignIn::discovery_mut) {
            discovery.on_tick(now_ms, host);
        }
    }

    /// The sign-in's discovery, when fetch `token` is its.
    fn discovery_of(&mut self, token: u32) -> Option<&mut crate::signin::discovery::Discovery> {
        self.sign_in
            .as_mut()
            .and_then(SignIn::discovery_mut)
            .filter(|d| d.owns(token))
    }

    /// The largest answer read for fetch `token`, bytes (`None`: no fetch of ours).
    pub fn fetch_body_cap(&self, token: u32) -> Option<usize> {
        let discovery = self.sign_in.as_ref().and_then(SignIn::discovery);
        if discovery.is_some_and(|d| d.owns(token)) {
            return Some(crate::signin::discovery::MAX_DISCOVERY_BYTES);
        }
        match &self.source {
            Some(source) if source.owns(token) => Some(source.max_bytes()),
            _ => self.live.as_ref().map(|l| l.bounds().max_body_bytes),
        }
    }

    /// A key fetch answered (see [`KeyRefresh::on_response`]).
    pub fn on_fetch_response<F: FetchHost>(
        &mut self,
        token: u32,
        status: u32,
        headers: &[(String, String)],
        body: &[u8],
        now_ms: u64,
        host: &mut F,
    ) {
        if let Some(discovery) = self.discovery_of(token) {
            discovery.on_response(status, body, now_ms, host);
            return;
        }
        if let Some(source) = self.source.as_mut().filter(|s| s.owns(token)) {
            if let Fetched::Load(at) =
                source.on_response(token, status, headers, body, now_ms, host)
            {
                self.load_fetched(body.get(at..).unwrap_or_default(), now_ms, host);
            }
            return;
        }
        if let Some(live) = &mut self.live {
            live.on_response(token, status, headers, body, now_ms, host);
        }
    }

    /// Loads a fetched table whose signature verified; a table that does not load leaves the
    /// one in force.
    fn load_fetched<F: FetchHost>(&mut self, binary: &[u8], now_ms: u64, host: &mut F) {
        let loaded = Engine::from_bytes(binary, Provenance::Drop)
            .map_err(|e| e.to_string())
            .and_then(|engine| self.ready(engine));
        match loaded {
            Ok(ready) => {
                let summary = self.install(ready);
                if let Some(source) = &mut self.source {
                    source.loaded(&summary, now_ms, host);
                }
            }
            Err(e) => {
                if let Some(source) = &mut self.source {
                    source.refused(&e, now_ms, host);
                }
            }
        }
    }

    /// A key fetch failed without a usable answer (see [`KeyRefresh::on_failure`]).
    pub fn on_fetch_failure<F: FetchHost>(
        &mut self,
        token: u32,
        reason: &str,
        now_ms: u64,
        host: &mut F,
    ) {
        if let Some(discovery) = self.discovery_of(token) {
            discovery.on_failure(reason, now_ms, host);
            return;
        }
        if let Some(source) = self.source.as_mut().filter(|s| s.owns(token)) {
            source.on_failure(token, reason, now_ms, host);
            return;
        }
        if let Some(live) = &mut self.live {
            live.on_failure(token, reason, now_ms, host);
        }
    }

    /// Tokens held in the verified-token cache.
    pub fn cached_tokens(&self) -> usize {
        self.cache.len()
    }
}
