//! The request sequence, written once. The gateway ([`crate::gate`]), `check`, `explain`,
//! `test`, the benchmarks, the authorization service and the differential and hostile tests
//! all run [`run`]: headers in, a [`Decided`] out that holds the decision and the steps that
//! led to it. Only the token verification is the caller's ([`Verify`]): the gateway verifies
//! through its verified-token cache and live keys, `explain` with the verifiers' step trace,
//! `check --user` asserts an identity. Everything else — the method override rule, path
//! normalization, the route, public routes, which credential headers count, the grant — is
//! here, in this order:
//!
//! 1. `:path` must be UTF-8 (`bad_path`);
//! 2. a method override header naming another method is refused (`method_override`);
//! 3. the path is normalized and the route found, on the request's host (`bad_path`,
//!    `route_unknown`, `method_not_allowed` with its `Allow`, `bad_namespace`, …);
//! 4. a public route is decided without identity;
//! 5. the credentials (`x-amzn-oidc-data`, `Authorization`; UTF-8) are verified;
//! 6. the grant is looked up for the identity.

use crate::engine::{Decision, Engine, Identity};
use crate::headers::{header_is, ALB_ACCESS_HEADER, ALB_HEADER, METHOD_OVERRIDE_HEADERS};
use crate::reason::DenyReason;
use crate::token::{Credentials, TokenFailure, VerifiedToken};

/// A request, as the pipeline reads it from its headers (names compared without case).
#[derive(Debug, Clone, Default)]
pub struct Request<'a> {
    /// `:method` (empty when absent or not UTF-8: no route names it).
    pub method: &'a str,
    /// `:authority`, else `host`.
    pub authority: Option<&'a str>,
    /// `:path` as bytes (`None` when absent).
    pub path: Option<&'a [u8]>,
    /// The values of every method override header.
    pub overrides: Vec<&'a [u8]>,
    /// Every `x-amzn-oidc-data` value.
    pub alb: Vec<&'a [u8]>,
    /// Every `Authorization` value.
    pub authorization: Vec<&'a [u8]>,
    /// Every `x-amzn-oidc-accesstoken` value.
    pub alb_access: Vec<&'a [u8]>,
    /// The sign-in session cookie's sealed value (the gateway opens cookies, not the
    /// pipeline: it sets this from the cookie when the table has a sign-in).
    pub session: Option<&'a str>,
}

impl<'a> Request<'a> {
    /// A request with a method and a path only (no host, no credentials).
    pub fn new(method: &'a str, path: &'a str) -> Request<'a> {
        Request {
            method,
            path: Some(path.as_bytes()),
            ..Request::default()
        }
    }

    /// Reads a request from its headers (pseudo-headers included).
    pub fn from_headers(headers: &'a [(String, Vec<u8>)]) -> Request<'a> {
        let mut r = Request::default();
        let text = |v: &'a [u8]| std::str::from_utf8(v).ok();
        for (name, value) in headers {
            let (n, v) = (name.as_str(), value.as_slice());
            if n.eq_ignore_ascii_case(":method") {
                r.method = text(v).unwrap_or("");
            } else if n.eq_ignore_ascii_case(":path") {
                r.path = Some(v);
            } else if n.eq_ignore_ascii_case(":authority") {
                r.authority = text(v);
            } else if n.eq_ignore_ascii_case("host") {
                if r.authority.is_none() {
                    r.authority = text(v);
                }
            } else if n.eq_ignore_ascii_case(ALB_HEADER) {
                r.alb.push(v);
            } else if n.eq_ignore_ascii_case(ALB_ACCESS_HEADER) {
                r.alb_access.push(v);
            } else if n.eq_ignore_ascii_case("authorization") {
                r.authorization.push(v);
            } else if METHOD_OVERRIDE_HEADERS.iter().any(|h| header_is(n, h)) {
                r.overrides.push(v);
            }
        }
        r
    }
}

/// How the caller verifies a request's credentials: the tokens found in the request, in
/// `Credentials`; `Ok(None)` when there are none.
pub trait Verify {
    /// Verifies the credentials (the precedence rule included).
    fn verify(&mut self, creds: &Credentials<'_>) -> Result<Option<VerifiedToken>, TokenFailure>;
}

impl<F> Verify for F
where
    F: FnMut(&Credentials<'_>) -> Result<Option<VerifiedToken>, TokenFailure>,
{
    fn verify(&mut self, creds: &Credentials<'_>) -> Result<Option<VerifiedToken>, TokenFailure> {
        self(creds)
    }
}

/// A [`Verify`] that takes `identity` as verified (`None`: no credentials), for `check
/// --user` and the decision tests: the token step is the only one skipped.
pub fn asserted(identity: Option<&Identity>) -> impl Verify + '_ {
    move |_: &Credentials<'_>| {
        Ok(identity.map(|id| VerifiedToken {
            identity: id.clone(),
            expires_at: u64::MAX,
            kid: None,
            sub: None,
            client: None,
        }))
    }
}

/// What happened to one request: the decision and the steps behind it.
#[derive(Debug, Clone)]
pub struct Decided {
    /// The decision (verdict, route and namespace, action, grant, identity headers).
    pub decision: Decision,
    /// The path as judged and to be forwarded (normalized, query kept), once it was judged.
    pub path: Option<String>,
    /// Whether the path as judged differs from the one received (the upstream must get it).
    pub path_changed: bool,
    /// The path as received, shown in a denial made before it was judged (lossy UTF-8).
    pub raw_path: Option<String>,
    /// The route is public: decided without identity.
    pub public: bool,
    /// The token that verified, with its identity.
    pub verified: Option<VerifiedToken>,
    /// Why the credentials failed, when they did.
    pub failure: Option<TokenFailure>,
    /// One line for the log on a denial that is not about a token.
    pub detail: Option<String>,
    /// On `405 method_not_allowed`: the methods the path has, for `Allow`.
    pub allow: Option<String>,
}

impl Decided {
    fn new(reason: DenyReason) -> Decided {
        Decided {
            decision: Decision::deny(reason, None),
            path: None,
            path_changed: false,
            raw_path: None,
            public: false,
            verified: None,
            failure: None,
            detail: None,
            allow: None,
        }
    }

    /// The stable reason of a denial.
    pub fn reason(&self) -> Option<DenyReason> {
        self.decision.deny_reason()
    }
}

/// Decides one request with `engine`, verifying its credentials with `verify`.
pub fn run<V: Verify>(engine: &Engine, req: &Request<'_>, mut verify: V) -> Decided {
    let Some(raw_path) = req.path.and_then(|p| std::str::from_utf8(p).ok()) else {
        let mut d = Decided::new(DenyReason::BadPath);
        d.raw_path = req.path.map(|p| String::from_utf8_lossy(p).into_owned());
        return d;
    };
    // INVARIANT: a request that asks the upstream to act as another method than the one
    // judged is refused (a matching override is only removed, by the gateway).
    if req
        .overrides
        .iter()
        .any(|v| !v.trim_ascii().eq_ignore_ascii_case(req.method.as_bytes()))
    {
        let mut d = Decided::new(DenyReason::MethodOverride);
        d.raw_path = Some(raw_path.to_owned());
        d.detail = Some("a method override header names another method".into());
        return d;
    }
    let pre = match engine.preflight_at(req.method, req.authority, raw_path) {
        Ok(p) => p,
        Err(reason) => {
            let mut d = Decided::new(reason);
            d.raw_path = Some(raw_path.to_owned());
            if reason == DenyReason::MethodNotAllowed {
                d.allow = Some(engine.allowed_methods(req.authority, raw_path).join(", "));
            }
            return d;
        }
    };
    let forward = pre.path.forward_path();
    let path_changed = forward != raw_path;
    let mut d = Decided::new(DenyReason::NoIdentity);
    d.path = Some(forward);
    d.path_changed = path_changed;
    if pre.is_public() {
        d.public = true;
        d.decision = engine.public(&pre);
        return d;
    }
    let creds = match credentials(req) {
        Ok(c) => c,
        Err(f) => {
            d.decision = Decision::deny(f.reason, pre.target);
            d.failure = Some(f);
            return d;
        }
    };
    let verified = match verify.verify(&creds) {
        Ok(Some(v)) => v,
        Ok(None) => {
            d.decision = Decision::deny(DenyReason::NoIdentity, pre.target);
            return d;
        }
        Err(f) => {
            d.decision = Decision::deny(f.reason, pre.target);
            d.failure = Some(f);
            return d;
        }
    };
    d.decision = engine.authorize_owned(pre, &verified.identity);
    d.verified = Some(verified);
    d
}

/// The request's credentials as text; a value that is not UTF-8 is refused.
fn credentials<'a>(req: &Request<'a>) -> Result<Credentials<'a>, TokenFailure> {
    let text = |values: &[&'a [u8]], reason: DenyReason, name: &str| {
        values
            .iter()
            .map(|v| {
                std::str::from_utf8(v)
                    .map_err(|_| TokenFailure::new(reason, format!("`{name}` is not UTF-8")))
            })
            .collect::<Result<Vec<_>, _>>()
    };
    Ok(Credentials {
        alb: text(&req.alb, DenyReason::TokenMalformed, ALB_HEADER)?,
        authorization: text(
            &req.authorization,
            DenyReason::BadAuthorizationHeader,
            "authorization",
        )?,
        alb_access: text(
            &req.alb_access,
            DenyReason::TokenMalformed,
            ALB_ACCESS_HEADER,
        )?,
        session: req.session,
    })
}
