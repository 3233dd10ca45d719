//! One request, decided by the engine exactly as the filter decides it, with every step kept
//! for `check`, `explain` and `test`: path normalization, the route, the token (when one is
//! given), the identity, the decision, and for a denial the nearest miss.
//!
//! The sequence is the filter's own ([`gatehouse_filter::pipeline`]), not a copy of it.

use gatehouse_filter::engine::{Decision, Identity, Verdict};
use gatehouse_filter::pipeline::{self, asserted, Request};
use gatehouse_filter::table::{Access, RouteSpec};
use gatehouse_filter::token::Credentials;
use gatehouse_filter::{DenyReason, Engine};
use serde::Serialize;

pub mod miss;

use super::token_trace::{self, TokenTrace};
use miss::nearest_miss;
pub use miss::Miss;

/// Who makes the request.
#[derive(Debug, Clone)]
pub enum Who {
    /// Nobody: no token at all.
    Anonymous,
    /// An identity taken as verified (`--user`, `--group`; test cases).
    Asserted(Identity),
    /// Request headers as a client sends them (`NAME`, `VALUE`), credentials included: the
    /// request is read from them as the gateway reads it, and its tokens are verified at `now`.
    Headers {
        /// The headers.
        headers: Vec<(String, String)>,
        /// Unix time to verify at.
        now: u64,
    },
    /// A token to verify: an ALB `x-amzn-oidc-data` value when `alb`, else a bearer JWT.
    Token {
        /// The token (never printed).
        value: String,
        /// Whether it is an ALB value.
        alb: bool,
        /// Unix time to verify at.
        now: u64,
    },
}

impl Who {
    /// An asserted identity from a user and groups; `None` user: anonymous.
    pub fn asserted(user: Option<&str>, groups: &[String]) -> Who {
        match user {
            Some(u) => Who::Asserted(Identity {
                user: u.to_string(),
                groups: groups.to_vec(),
                issuer: "(asserted)".into(),
            }),
            None => Who::Anonymous,
        }
    }
}

/// The route a request matched, as the table declares it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteInfo {
    /// The path template.
    pub template: String,
    /// Methods; empty: every method.
    pub methods: Vec<String>,
    /// `public`, `authenticated` or `action`.
    pub access: String,
    /// Where the route was declared.
    pub source: String,
}

impl RouteInfo {
    fn from_spec(spec: &RouteSpec) -> RouteInfo {
        RouteInfo {
            template: spec.path.clone(),
            methods: spec.methods.clone(),
            access: match &spec.access {
                Access::Public => "public".into(),
                Access::Authenticated => "authenticated".into(),
                Access::Action(_) => "action".into(),
            },
            source: spec.source.clone(),
        }
    }
}

/// Everything known about one decided request.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// The method.
    pub method: String,
    /// The path as given.
    pub raw_path: String,
    /// The normalized path (with the query), or `None` when the path cannot be judged.
    pub normalized: Option<String>,
    /// The matched route.
    pub route: Option<RouteInfo>,
    /// The token's verification, when a token was given and verified.
    pub token: Option<TokenTrace>,
    /// The identity the decision was made for.
    pub identity: Option<Identity>,
    /// The engine's decision.
    pub decision: Decision,
    /// Why a denial happened and what came closest, when denied (or audited).
    pub miss: Option<Miss>,
    /// The pipeline's one line on a denial that is not about a token (a method override).
    pub detail: Option<String>,
}

impl Evaluation {
    /// The stable reason code of a denial.
    pub fn reason(&self) -> Option<DenyReason> {
        self.decision.deny_reason()
    }

    /// Whether the request is let through.
    pub fn allowed(&self) -> bool {
        self.decision.verdict == Verdict::Allow
    }
}

/// Decides `method` + `raw_path` (sent to `host`, when given) for `who`: the filter's own
/// request pipeline ([`pipeline::run`]) with the token verified by the filter's verifiers,
/// which trace their steps. Only the nearest miss is added here.
pub fn evaluate(
    engine: &Engine,
    method: &str,
    host: Option<&str>,
    raw_path: &str,
    who: &Who,
) -> Evaluation {
    // The request as the gateway receives it: pseudo-headers, then the client's headers.
    let mut headers: Vec<(String, Vec<u8>)> = vec![
        (":method".into(), method.as_bytes().to_vec()),
        (":path".into(), raw_path.as_bytes().to_vec()),
    ];
    if let Some(h) = host {
        headers.push((":authority".into(), h.as_bytes().to_vec()));
    }
    let now = match who {
        Who::Anonymous | Who::Asserted(_) => None,
        Who::Token { value, alb, now } => {
            headers.push(match alb {
                true => ("x-amzn-oidc-data".into(), value.as_bytes().to_vec()),
                false => (
                    "authorization".into(),
                    format!("Bearer {value}").into_bytes(),
                ),
            });
            Some(*now)
        }
        Who::Headers { headers: h, now } => {
            headers.extend(
                h.iter()
                    .map(|(n, v)| (n.to_ascii_lowercase(), v.as_bytes().to_vec())),
            );
            Some(*now)
        }
    };
    let req = Request::from_headers(&headers);
    let mut token: Option<TokenTrace> = None;
    let decided = match (who, now) {
        (Who::Asserted(id), _) => pipeline::run(engine, &req, asserted(Some(id))),
        (_, Some(now)) => pipeline::run(engine, &req, |creds: &Credentials<'_>| {
            let (trace, result) = token_trace::verify(engine, creds, now);
            token = trace;
            result
        }),
        (_, None) => pipeline::run(engine, &req, asserted(None)),
    };
    let mut ev = Evaluation {
        method: method.to_string(),
        raw_path: raw_path.to_string(),
        normalized: decided.path.clone(),
        route: decided
            .decision
            .target
            .as_ref()
            .and_then(|t| engine.table.routes.get(t.route))
            .map(RouteInfo::from_spec),
        token,
        identity: decided.verified.map(|v| v.identity),
        decision: decided.decision,
        miss: None,
        detail: decided.detail,
    };
    if ev.decision.deny_reason().is_some() || ev.decision.audited.is_some() {
        ev.miss = Some(nearest_miss(engine, &ev));
    }
    ev
}
