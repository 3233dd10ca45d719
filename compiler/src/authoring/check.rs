//! `gatehouse check`: would this user be allowed? The engine's decision, with the reason code,
//! the route, namespace and action, and the granting binding. `explain` shows every step.

use super::evaluate::{evaluate, Evaluation, Who};
use super::explain::{needs_line, route_line, verdict_line, Report};
use super::source::{check_request, PolicySource, RequestArgs};
use super::{json, print, Failure, Format};
use crate::exit::{EXIT_DENIED, EXIT_OK};

/// Arguments of `gatehouse check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub source: PolicySource,
    #[command(flatten)]
    pub request: RequestArgs,
    /// Fail (exit 1) when the policy directory compiles with warnings (for CI).
    #[arg(long)]
    pub deny_warnings: bool,
}

/// The text rendering of `check`.
pub fn render(ev: &Evaluation) -> String {
    let mut out = format!("{} {} {}\n", verdict_line(ev), ev.method, ev.raw_path);
    let mut field = |name: &str, value: &str| out.push_str(&format!("  {name:<11}{value}\n"));
    if let Some(r) = &ev.route {
        field("route", &route_line(r));
    }
    if let Some(needs) = needs_line(ev) {
        field("needs", &needs);
    }
    if let Some(g) = &ev.decision.granted_by {
        field("granted_by", g);
    }
    out
}

/// Runs `gatehouse check`: exit 0 allowed, 3 denied, 1 bad input, 2 tool failure.
pub fn run(args: &CheckArgs) -> Result<u8, Failure> {
    let req = &args.request;
    check_request(&req.method, &req.path).map_err(Failure::Invalid)?;
    let engine = args.source.load_with(args.deny_warnings)?;
    let who = Who::asserted(req.user.as_deref(), &req.groups);
    let ev = evaluate(&engine, &req.method, req.host.as_deref(), &req.path, &who);
    match req.format {
        Format::Text => print(&render(&ev))?,
        Format::Json => print(&json(&Report::new(&ev))?)?,
    }
    Ok(if ev.allowed() { EXIT_OK } else { EXIT_DENIED })
}
