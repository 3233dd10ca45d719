//! One request, decided by the engine exactly as the filter decides it, with every step kept
//! for `check`, `explain` and `test`: path normalization, the route, the token (when one is
//! given), the identity, the decision, and for a denial the nearest miss.
//!
//! The order is the filter's (`gate::on_request`): a path that cannot be judged is refused
//! first; a public route passes without identity; then the token is verified; then the ACL.

use gatehouse_filter::engine::{Decision, Identity, Verdict};
use gatehouse_filter::path::normalize;
use gatehouse_filter::table::{Access, RouteSpec};
use gatehouse_filter::{DenyReason, Engine};
use serde::Serialize;

use super::miss::{nearest_miss, Miss};
use super::token_trace::{self, TokenTrace};

/// Who makes the request.
#[derive(Debug, Clone)]
pub enum Who {
    /// Nobody: no token at all.
    Anonymous,
    /// An identity taken as verified (`--user`, `--group`; test cases).
    Asserted(Identity),
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

/// Decides `method` + `raw_path` (sent to `host`, when given) for `who` with the engine.
pub fn evaluate(
    engine: &Engine,
    method: &str,
    host: Option<&str>,
    raw_path: &str,
    who: &Who,
) -> Evaluation {
    let mut ev = Evaluation {
        method: method.to_string(),
        raw_path: raw_path.to_string(),
        normalized: normalize(raw_path).ok().map(|p| p.forward_path()),
        route: None,
        token: None,
        identity: None,
        decision: deny(DenyReason::BadPath),
        miss: None,
    };
    let pre = match engine.preflight_at(method, host, raw_path) {
        Ok(p) => p,
        Err(r) => {
            ev.decision = deny(r);
            ev.miss = Some(nearest_miss(engine, &ev));
            return ev;
        }
    };
    ev.route = pre
        .target
        .as_ref()
        .and_then(|t| engine.table.routes.get(t.route))
        .map(RouteInfo::from_spec);
    if pre.is_public() {
        ev.decision = engine.public(&pre);
        return ev;
    }
    let identity = match who {
        Who::Anonymous => None,
        Who::Asserted(id) => Some(id.clone()),
        Who::Token { value, alb, now } => {
            let (trace, result) = token_trace::verify(engine, value, *alb, *now);
            ev.token = Some(trace);
            match result {
                Ok(v) => Some(v.identity),
                Err(f) => {
                    ev.decision = Decision {
                        target: pre.target.clone(),
                        ..deny(f.reason)
                    };
                    ev.miss = Some(nearest_miss(engine, &ev));
                    return ev;
                }
            }
        }
    };
    let Some(identity) = identity else {
        ev.decision = Decision {
            target: pre.target.clone(),
            ..deny(DenyReason::NoIdentity)
        };
        ev.miss = Some(nearest_miss(engine, &ev));
        return ev;
    };
    ev.decision = engine.authorize(&pre, &identity);
    ev.identity = Some(identity);
    if ev.decision.deny_reason().is_some() || ev.decision.audited.is_some() {
        ev.miss = Some(nearest_miss(engine, &ev));
    }
    ev
}

fn deny(reason: DenyReason) -> Decision {
    Decision {
        verdict: Verdict::Deny(reason),
        audited: None,
        target: None,
        action: None,
        granted_by: None,
        headers: Vec::new(),
    }
}
