//! `gatehouse test [DIR]`: runs the `PolicyTest` assertion files kept beside the policies
//! (by convention in `DIR/tests/`; the compiler ignores `PolicyTest` documents) against the
//! compiled policy, with the engine the gateway runs, and reports like a test runner.
//!
//! Exit codes: 0 every case passed; 3 a case failed; 1 the policy or a test file is invalid
//! (diagnostics with `file:line:column`), or there is no case at all; 2 tool failure.

use std::path::PathBuf;

use super::evaluate::{evaluate, Evaluation, Who};
use super::explain::{needs_line, route_line, verdict_line};
use super::source::load_dir_with;
use super::test_file::{self, Case, Expect};
use super::{print, Failure};
use crate::exit::{EXIT_DENIED, EXIT_OK};

/// Arguments of `gatehouse test`.
#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// The policy directory holding the policies and their `PolicyTest` files.
    #[arg(default_value = "policies")]
    pub dir: PathBuf,
    /// Fail (exit 1) when the policy directory compiles with warnings: a binding to a
    /// namespace nothing declares is then caught before any case runs (for CI).
    #[arg(long)]
    pub deny_warnings: bool,
}

/// Whether `ev` is what `case` expects; `Err` says what differs.
pub fn judge(case: &Case, ev: &Evaluation) -> Result<(), String> {
    match (case.expect, ev.allowed()) {
        (Expect::Allow, false) => return Err("expected allow".into()),
        (Expect::Deny, true) => return Err("expected deny".into()),
        _ => {}
    }
    if let Some(want) = case.reason {
        if ev.reason() != Some(want) {
            return Err(format!("expected reason {want}"));
        }
    }
    if let Some(want) = &case.granted_by {
        let got = ev.decision.granted_by.as_deref().unwrap_or_default();
        if !got.starts_with(want.as_str()) {
            return Err(format!("expected a grant from `{want}`"));
        }
    }
    Ok(())
}

fn expected(case: &Case) -> String {
    match (case.expect, case.reason, &case.granted_by) {
        (Expect::Allow, _, Some(g)) => format!("allow, granted by {g}…"),
        (Expect::Allow, _, None) => "allow".into(),
        (Expect::Deny, Some(r), _) => format!("deny {r} ({})", r.status()),
        (Expect::Deny, None, _) => "deny (any reason)".into(),
    }
}

fn who(case: &Case) -> String {
    match &case.who {
        Who::Asserted(id) if id.groups.is_empty() => id.user.clone(),
        Who::Asserted(id) => format!("{} (groups {})", id.user, id.groups.join(", ")),
        _ => "nobody (no identity)".into(),
    }
}

fn failure_report(case: &Case, ev: &Evaluation) -> String {
    let mut out = format!("---- {}::{} ----\n", case.file, case.name);
    let mut field = |name: &str, value: &str| out.push_str(&format!("  {name:<10}{value}\n"));
    field(
        "at",
        &format!("{}:{}:{}", case.file, case.span.line, case.span.column),
    );
    field(
        "request",
        &format!("{} {} as {}", case.method, case.path, who(case)),
    );
    field("expected", &expected(case));
    let mut actual = verdict_line(ev);
    if let Some(g) = &ev.decision.granted_by {
        actual.push_str(&format!(", granted by {g}"));
    }
    field("actual", &actual);
    if let Some(r) = &ev.route {
        field("route", &route_line(r));
    }
    if let Some(n) = needs_line(ev) {
        field("needs", &n);
    }
    for (i, line) in ev.miss.iter().flat_map(|m| &m.lines).enumerate() {
        field(if i == 0 { "why" } else { "" }, line);
    }
    out
}

/// Runs `gatehouse test`.
pub fn run(args: &TestArgs) -> Result<u8, Failure> {
    let engine = load_dir_with(&args.dir, args.deny_warnings)?;
    let cases = test_file::load(&args.dir).map_err(Failure::BadTests)?;
    if cases.is_empty() {
        return Err(Failure::Invalid(format!(
            "no `PolicyTest` cases under `{}`; write them in `{}/tests/*.yaml` (see docs/authoring.md)",
            args.dir.display(),
            args.dir.display()
        )));
    }
    let files: std::collections::BTreeSet<&str> = cases.iter().map(|c| c.file.as_str()).collect();
    let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    let mut out = format!(
        "running {} from {}\n",
        plural(cases.len(), "case"),
        plural(files.len(), "file")
    );
    let mut failures = Vec::new();
    for case in &cases {
        let ev = evaluate(
            &engine,
            &case.method,
            case.host.as_deref(),
            &case.path,
            &case.who,
        );
        let status = match judge(case, &ev) {
            Ok(()) => "ok",
            Err(_) => {
                failures.push(failure_report(case, &ev));
                "FAILED"
            }
        };
        out.push_str(&format!("test {}::{} ... {status}\n", case.file, case.name));
    }
    if !failures.is_empty() {
        out.push_str("\nfailures:\n");
        for f in &failures {
            out.push('\n');
            out.push_str(f);
        }
    }
    let failed = failures.len();
    out.push_str(&format!(
        "\ntest result: {}. {} passed, {failed} failed\n",
        if failed == 0 { "ok" } else { "FAILED" },
        cases.len() - failed
    ));
    print(&out)?;
    Ok(if failed == 0 { EXIT_OK } else { EXIT_DENIED })
}
