//! Local replies and their log lines: one writer for every denial the request path makes
//! (status, JSON body, `WWW-Authenticate`, the counter and the log line), and how a path is
//! shown in a log (bounded, escaped, never its query values).

use super::{Host, Level, Outcome};
use crate::engine::{Decision, Engine};
use crate::reason::DenyReason;

/// What a denial log line tells, borrowed from the request's own state (built on every
/// request, written out only on a denial or an audit).
#[derive(Debug, Default)]
pub(super) struct Context<'a> {
    pub(super) path: Option<&'a str>,
    pub(super) issuer: Option<&'a str>,
    pub(super) kid: Option<&'a str>,
    pub(super) detail: Option<&'a str>,
    pub(super) route: Option<usize>,
    pub(super) namespace: Option<&'a str>,
    pub(super) action: Option<&'a str>,
}

impl<'a> Context<'a> {
    pub(super) fn fill(&mut self, d: &'a Decision) {
        if let Some(t) = &d.target {
            self.namespace = t.namespace.as_deref();
            self.route = Some(t.route);
        }
        self.action = d.action.as_deref();
    }

    /// One JSON line; it never holds a token (only issuer names, kids and the path without
    /// its query).
    pub(super) fn log_line(
        &self,
        event: &str,
        reason: DenyReason,
        engine: Option<&Engine>,
    ) -> String {
        let route = self
            .route
            .and_then(|i| engine?.table.routes.get(i).map(|r| r.path.as_str()));
        let line = serde_json::json!({
            "gatehouse": event,
            "reason": reason.code(),
            "status": reason.status(),
            "path": self.path.map(|p| shown_path(p.as_bytes())),
            "route": route,
            "namespace": self.namespace,
            "action": self.action,
            "issuer": self.issuer,
            "kid": self.kid,
            "detail": self.detail,
        });
        line.to_string()
    }
}

pub(super) fn deny<H: Host>(
    host: &mut H,
    engine: Option<&Engine>,
    reason: DenyReason,
    ctx: &Context,
) -> Outcome {
    deny_with(host, engine, reason, ctx, &[])
}

/// [`deny`] with extra reply headers (`allow` on a 405).
pub(super) fn deny_with<H: Host>(
    host: &mut H,
    engine: Option<&Engine>,
    reason: DenyReason,
    ctx: &Context,
    extra: &[(&str, &str)],
) -> Outcome {
    host.count(&format!("gatehouse.denied.{}", reason.code()));
    host.log(Level::Info, &ctx.log_line("deny", reason, engine));
    let status = reason.status();
    let body = format!(
        "{{\"error\":\"{}\",\"reason\":\"{}\"}}\n",
        status_text(status),
        reason.code()
    );
    let mut headers = vec![
        ("content-type", "application/json"),
        ("cache-control", "no-store"),
    ];
    let challenge;
    if status == 401 {
        // RFC 6750 §3: no error code when no credentials were sent.
        challenge = if reason == DenyReason::NoIdentity {
            "Bearer realm=\"gatehouse\"".to_string()
        } else {
            format!(
                "Bearer realm=\"gatehouse\", error=\"invalid_token\", error_description=\"{}\"",
                reason.code()
            )
        };
        headers.push(("www-authenticate", challenge.as_str()));
    }
    headers.extend_from_slice(extra);
    host.respond(status, &headers, body.as_bytes());
    Outcome::Denied(reason)
}

fn status_text(status: u32) -> &'static str {
    match status {
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        405 => "method_not_allowed",
        _ => "unavailable",
    }
}

/// Longest path shown in a denial log line (characters, before escaping).
const SHOWN_PATH_MAX: usize = 256;

/// A refused path as a log line shows it: without its query, cut to [`SHOWN_PATH_MAX`] bytes
/// (`…` marks the cut), bytes outside printable ASCII written `\xNN`.
fn shown_path(raw: &[u8]) -> String {
    let path = raw.split(|b| *b == b'?').next().unwrap_or_default();
    let mut out = String::with_capacity(path.len().min(SHOWN_PATH_MAX) + 4);
    for &b in path.iter().take(SHOWN_PATH_MAX) {
        if (0x21..0x7f).contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    if path.len() > SHOWN_PATH_MAX {
        out.push('…');
    }
    out
}

/// The parameter names of a path's query (never their values), escaped and cut like
/// [`shown_path`]: what an operator needs to see why a namespace was ambiguous.
pub(super) fn query_names(raw_path: &str) -> String {
    let query = raw_path.split_once('?').map_or("", |(_, q)| q);
    let names: Vec<&str> = query
        .split(['&', ';'])
        .map(|pair| pair.split_once('=').map_or(pair, |(k, _)| k))
        .filter(|k| !k.is_empty())
        .collect();
    format!(
        "query parameters: {}",
        shown_path(names.join(",").as_bytes())
    )
}
