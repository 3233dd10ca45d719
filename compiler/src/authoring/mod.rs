//! Policy authoring tools: `gatehouse check`, `explain`, `test`, `diff` and `who-can`.
//!
//! Every answer comes from the filter's own engine ([`gatehouse_filter::Engine`]): a request is
//! decided by [`evaluate`] exactly as the gateway decides it (normalize, route, verify, ACL), and
//! the access sets behind `who-can` and `diff` are read from the same table the filter loads.
//!
//! Exit codes shared by these commands: [`EXIT_OK`](crate::exit::EXIT_OK) 0 for a positive
//! answer, [`EXIT_INVALID`](crate::exit::EXIT_INVALID) 1 for bad input (policy, table, test file
//! or command line), [`EXIT_FAILURE`](crate::exit::EXIT_FAILURE) 2 when the tool fails, and
//! [`EXIT_DENIED`](crate::exit::EXIT_DENIED) 3 for a negative answer (`check` denied, a failing
//! `test` case, `diff --exit-code` with changes).

pub mod access;
pub mod check;
pub mod diff;
pub mod evaluate;
pub mod explain;
pub mod source;
pub mod test;
mod test_file;
pub mod token_trace;
pub mod who_can;

use std::io::Write;
use std::process::ExitCode;

use clap::ValueEnum;

use crate::diagnostic::{render_denied_warnings, render_human, Diagnostic};
use crate::exit::{EXIT_FAILURE, EXIT_INVALID};

/// How an authoring command prints its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people.
    Text,
    /// One JSON document, for machines.
    Json,
}

/// Why an authoring command could not answer.
#[derive(Debug, Clone)]
pub enum Failure {
    /// Bad input: the command line, a table, or a file that cannot be read (exit 1).
    Invalid(String),
    /// An invalid policy or test file, with every problem found (exit 1; 2 for `internal`).
    Diagnostics(Vec<Diagnostic>),
    /// Invalid `PolicyTest` files, with every problem found (exit 1).
    BadTests(Vec<Diagnostic>),
    /// A policy that compiles with warnings, under `--deny-warnings` (exit 1).
    DeniedWarnings(Vec<Diagnostic>),
    /// The tool failed (exit 2).
    Tool(String),
}

impl Failure {
    /// Prints the failure on standard error and returns its exit code.
    pub fn report(&self) -> ExitCode {
        let (text, code) = match self {
            Failure::Invalid(m) => (format!("error: {m}\n"), EXIT_INVALID),
            Failure::Tool(m) => (format!("error: {m}\n"), EXIT_FAILURE),
            Failure::BadTests(d) => {
                let mut text: String = d.iter().map(|d| format!("{d}\n")).collect();
                let n = d.iter().filter(|d| d.is_error()).count();
                let s = if n == 1 { "" } else { "s" };
                text.push_str(&format!("error: invalid test files: {n} error{s}\n"));
                (text, EXIT_INVALID)
            }
            Failure::DeniedWarnings(d) => (render_denied_warnings(d), EXIT_INVALID),
            Failure::Diagnostics(d) => {
                let internal = d.iter().any(|d| d.code == "internal");
                (
                    render_human(d),
                    if internal { EXIT_FAILURE } else { EXIT_INVALID },
                )
            }
        };
        let _ = std::io::stderr().write_all(text.as_bytes());
        ExitCode::from(code)
    }
}

/// Writes `text` to standard output; a closed or failing stdout is a tool failure.
pub(crate) fn print(text: &str) -> Result<(), Failure> {
    std::io::stdout()
        .write_all(text.as_bytes())
        .map_err(|e| Failure::Tool(format!("cannot write the answer: {e}")))
}

/// Pretty JSON with a trailing newline.
pub(crate) fn json<T: serde::Serialize>(value: &T) -> Result<String, Failure> {
    serde_json::to_string_pretty(value)
        .map(|mut s| {
            s.push('\n');
            s
        })
        .map_err(|e| Failure::Tool(format!("cannot serialize the answer: {e}")))
}

/// Turns the outcome of an authoring command into its exit code, reporting a failure.
pub fn run(result: Result<u8, Failure>) -> ExitCode {
    match result {
        Ok(code) => ExitCode::from(code),
        Err(f) => f.report(),
    }
}
