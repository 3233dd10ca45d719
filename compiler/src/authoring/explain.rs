//! `gatehouse explain`: one request decided by the engine with every step shown — path
//! normalization, the route, the token's issuer, key and checks, the identity, the decision and,
//! for a denial, the nearest miss. `--format json` gives the same as one JSON object.

use std::path::PathBuf;

use gatehouse_filter::engine::Verdict;
use gatehouse_filter::table::Access;
use gatehouse_filter::DenyReason;
use serde::Serialize;

use super::evaluate::Miss;
use super::evaluate::{evaluate, Evaluation, RouteInfo, Who};
use super::source::{check_request, parse_now, PolicySource, RequestArgs};
use super::token_trace::TokenTrace;
use super::{json, print, Failure, Format};
use crate::exit::{EXIT_DENIED, EXIT_OK};

/// Arguments of `gatehouse explain`.
#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub source: PolicySource,
    /// A token to verify: a bearer JWT, or with `--alb` an `x-amzn-oidc-data` value. Never
    /// printed back.
    #[arg(long, conflicts_with_all = ["user", "groups"])]
    pub token: Option<String>,
    /// Read `--token` from this file instead (surrounding whitespace is ignored).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["token", "user", "groups"])]
    pub token_file: Option<PathBuf>,
    /// The token is an ALB `x-amzn-oidc-data` value, not a bearer JWT.
    #[arg(long)]
    pub alb: bool,
    /// A request header, `NAME: VALUE` (repeatable), read as the gateway reads it: credential
    /// headers (`Authorization`, `x-amzn-oidc-data`, `x-amzn-oidc-accesstoken`, several of
    /// them) are verified, method override headers judged. Values are never printed back.
    #[arg(long = "header", short = 'H', value_name = "NAME: VALUE", value_parser = parse_header,
          conflicts_with_all = ["user", "groups", "token", "token_file"])]
    pub headers: Vec<(String, String)>,
    /// "Now" for the token's `exp` / `nbf`: Unix seconds or RFC 3339 (default: the clock).
    #[arg(long)]
    pub now: Option<String>,
    /// The request; `--user` (taken as verified) stands instead of a token.
    #[command(flatten)]
    pub request: RequestArgs,
    /// Fail (exit 1) when the policy directory compiles with warnings (for CI).
    #[arg(long)]
    pub deny_warnings: bool,
}

/// The machine-readable answer of `check` and `explain`.
#[derive(Debug, Serialize)]
pub struct Report<'a> {
    /// `allow` or `deny`.
    pub decision: &'static str,
    /// The stable deny reason code.
    pub reason: Option<&'static str>,
    /// The HTTP status of a denial.
    pub status: Option<u32>,
    /// Audit mode let through a request denied for this reason.
    pub audited: Option<&'static str>,
    /// Method.
    pub method: &'a str,
    /// Path as given.
    pub path: &'a str,
    /// Path as judged and forwarded.
    pub normalized_path: Option<&'a str>,
    /// Matched route.
    pub route: Option<&'a RouteInfo>,
    /// The action the route needs.
    pub action: Option<&'a str>,
    /// The namespace of the request.
    pub namespace: Option<&'a str>,
    /// The API of the request.
    pub api: Option<&'a str>,
    /// Source of the grant that allowed it.
    pub granted_by: Option<&'a str>,
    /// The identity judged.
    pub user: Option<&'a str>,
    /// Its groups.
    pub groups: Option<&'a [String]>,
    /// Token verification steps.
    pub token: Option<&'a TokenTrace>,
    /// The nearest miss of a denial.
    pub why: Option<&'a Miss>,
}

impl<'a> Report<'a> {
    /// The report of an evaluation.
    pub fn new(ev: &'a Evaluation) -> Report<'a> {
        let reason = ev.reason();
        let target = ev.decision.target.as_ref();
        let action = ev
            .decision
            .action
            .as_deref()
            .or(match target.map(|t| &t.access) {
                Some(Access::Action(a)) => Some(a.as_str()),
                _ => None,
            });
        Report {
            decision: if ev.allowed() { "allow" } else { "deny" },
            reason: reason.map(|r| r.code()),
            status: reason.map(|r| r.status()),
            audited: ev.decision.audited.map(|r| r.code()),
            method: &ev.method,
            path: &ev.raw_path,
            normalized_path: ev.normalized.as_deref(),
            route: ev.route.as_ref(),
            action,
            namespace: target.and_then(|t| t.namespace.as_deref()),
            api: target.and_then(|t| t.api.as_deref()),
            granted_by: ev.decision.granted_by.as_deref(),
            user: ev.identity.as_ref().map(|i| i.user.as_str()),
            groups: ev.identity.as_ref().map(|i| i.groups.as_slice()),
            token: ev.token.as_ref(),
            why: ev.miss.as_ref().filter(|m| !m.lines.is_empty()),
        }
    }
}

/// `allow`, `deny <reason> (<status>)`, or an audited allow.
pub fn verdict_line(ev: &Evaluation) -> String {
    match (&ev.decision.verdict, ev.decision.audited) {
        (Verdict::Allow, Some(r)) => format!("allow (audit mode: would deny {r})"),
        (Verdict::Allow, None) => "allow".into(),
        (Verdict::Deny(r), _) => format!("deny {r} ({})", r.status()),
    }
}

/// What the route needs: `public`, `authenticated`, or the action in its namespace and API.
pub fn needs_line(ev: &Evaluation) -> Option<String> {
    let t = ev.decision.target.as_ref()?;
    Some(match &t.access {
        Access::Public => "public (no identity needed)".into(),
        Access::Authenticated => "any verified identity".into(),
        Access::Action(a) => {
            let mut s = format!(
                "action `{a}` in namespace `{}`",
                t.namespace.as_deref().unwrap_or_default()
            );
            if let Some(api) = &t.api {
                s.push_str(&format!(", api `{api}`"));
            }
            s
        }
    })
}

/// The matched route: methods, template and source.
pub fn route_line(route: &RouteInfo) -> String {
    let methods = if route.methods.is_empty() {
        "*".to_string()
    } else {
        route.methods.join(",")
    };
    format!("{methods} {} ({})", route.template, route.source)
}

fn field(out: &mut String, name: &str, value: &str) {
    out.push_str(&format!("{name:<12}{value}\n"));
}

/// For a token without its user claim: the claim the issuer looks for, and the string claims
/// the token does carry (names only), to choose `userClaim` from.
fn user_claim_line(t: &TokenTrace, claim: &str, names: &[String]) -> String {
    let issuer = t.issuer.as_deref().unwrap_or_default();
    let carried = if names.is_empty() {
        "none".to_string()
    } else {
        names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "issuer `{issuer}` reads the user from `{claim}` (`userClaim`); the token's string claims: {carried}"
    )
}

/// The text rendering of `explain`.
pub fn render(ev: &Evaluation) -> String {
    let mut out = String::new();
    field(
        &mut out,
        "request",
        &format!("{} {}", ev.method, ev.raw_path),
    );
    let path = match &ev.normalized {
        Some(n) if *n == ev.raw_path => format!("{n} (already normalized)"),
        Some(n) => format!("{n} (normalized from {})", ev.raw_path),
        None if ev.reason() == Some(DenyReason::BadPath) => "cannot be normalized".into(),
        None => "not judged: the request was refused before".into(),
    };
    field(&mut out, "path", &path);
    let route = match &ev.route {
        Some(r) => route_line(r),
        None if ev.reason() == Some(DenyReason::RouteUnknown) => "none matches".into(),
        None => "not resolved".into(),
    };
    field(&mut out, "route", &route);
    if let Some(needs) = needs_line(ev) {
        field(&mut out, "needs", &needs);
    }
    if let Some(t) = &ev.token {
        let mut desc = t.source.to_string();
        if let Some(alg) = &t.alg {
            desc.push_str(&format!(", alg {alg}"));
        }
        desc.push_str(&match &t.kid {
            Some(kid) => format!(", kid `{kid}`"),
            None => ", no kid".into(),
        });
        field(&mut out, "token", &desc);
        field(
            &mut out,
            "issuer",
            t.issuer.as_deref().unwrap_or("none chosen"),
        );
        if let Some(key) = &t.key {
            field(&mut out, "key", key);
        }
        let passed: Vec<&str> = t
            .checks
            .iter()
            .filter(|c| c.passed)
            .map(|c| c.name)
            .collect();
        if !passed.is_empty() {
            field(
                &mut out,
                "checks",
                &format!("passed: {}", passed.join(", ")),
            );
        }
        if let Some(failed) = t.checks.iter().find(|c| !c.passed) {
            field(
                &mut out,
                if passed.is_empty() { "checks" } else { "" },
                &format!(
                    "FAILED: {} ({}): {}",
                    failed.name,
                    t.failure.as_deref().unwrap_or_default(),
                    t.detail.as_deref().unwrap_or_default()
                ),
            );
        }
        if let (Some(claim), Some(names)) = (&t.user_claim, &t.string_claims) {
            field(&mut out, "user claim", &user_claim_line(t, claim, names));
        }
    }
    if let Some(id) = &ev.identity {
        let groups = if id.groups.is_empty() {
            "no groups".to_string()
        } else {
            format!("groups [{}]", id.groups.join(", "))
        };
        let from = if ev.token.is_some() {
            format!("verified by issuer `{}`", id.issuer)
        } else {
            "asserted on the command line".into()
        };
        field(
            &mut out,
            "identity",
            &format!("{}, {groups} ({from})", id.user),
        );
    }
    if let Some(detail) = &ev.detail {
        field(&mut out, "detail", detail);
    }
    field(&mut out, "decision", &verdict_line(ev));
    if let Some(g) = &ev.decision.granted_by {
        field(&mut out, "granted_by", g);
    }
    // A token failure was told in full above.
    let token_failed = ev.token.as_ref().is_some_and(|t| t.failure.is_some());
    let why = ev
        .miss
        .iter()
        .flat_map(|m| &m.lines)
        .filter(|_| !token_failed);
    for (i, line) in why.enumerate() {
        field(&mut out, if i == 0 { "why" } else { "" }, line);
    }
    out
}

/// Runs `gatehouse explain`: exit 0 allowed, 3 denied, 1 bad input, 2 tool failure.
pub fn run(args: &ExplainArgs) -> Result<u8, Failure> {
    let req = &args.request;
    check_request(&req.method, &req.path).map_err(Failure::Invalid)?;
    let now = parse_now(args.now.as_deref())?;
    let token = match (&args.token, &args.token_file) {
        (Some(t), _) => Some(t.trim().to_string()),
        (None, Some(f)) => Some(
            std::fs::read_to_string(f)
                .map_err(|e| Failure::Invalid(format!("cannot read `{}`: {e}", f.display())))?
                .trim()
                .to_string(),
        ),
        (None, None) => None,
    };
    if args.alb && token.is_none() {
        return Err(Failure::Invalid(
            "`--alb` needs `--token` or `--token-file`".into(),
        ));
    }
    let who = match token {
        Some(value) => Who::Token {
            value,
            alb: args.alb,
            now,
        },
        None if !args.headers.is_empty() => Who::Headers {
            headers: args.headers.clone(),
            now,
        },
        None => Who::asserted(req.user.as_deref(), &req.groups),
    };
    let engine = args.source.load_with(args.deny_warnings)?;
    let ev = evaluate(&engine, &req.method, req.host.as_deref(), &req.path, &who);
    match req.format {
        Format::Text => print(&render(&ev))?,
        Format::Json => print(&json(&Report::new(&ev))?)?,
    }
    Ok(if ev.allowed() { EXIT_OK } else { EXIT_DENIED })
}

/// Reads `NAME: VALUE` (the value may be empty; the name a header token).
fn parse_header(s: &str) -> Result<(String, String), String> {
    let (name, value) = s
        .split_once(':')
        .ok_or_else(|| format!("`{s}` is not `NAME: VALUE`"))?;
    let name = name.trim();
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || !name.bytes().all(token) {
        return Err(format!("`{name}` is not a header name"));
    }
    Ok((name.to_owned(), value.trim().to_owned()))
}
