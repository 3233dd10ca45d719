//! Gatehouse's policy compiler: reads a directory of policy YAML (Kubeflow Profiles, KFAM
//! RoleBindings and Gatehouse's own kinds), validates it, and produces the filter's versioned
//! ACL table ([`gatehouse_filter::table::Table`]).
//!
//! ```no_run
//! use gatehouse::{compile_dir, table_json, CompileOptions};
//! match compile_dir("policies".as_ref(), &CompileOptions::default()) {
//!     Ok(c) => print!("{}", table_json(&c.table).expect("a table serializes")),
//!     Err(diags) => eprint!("{}", gatehouse::diagnostic::render_human(&diags)),
//! }
//! ```

pub mod authoring;
pub mod builtin;
pub mod cli;
pub mod compile;
pub mod crd;
pub mod diagnostic;
pub mod emit;
pub mod exit;
pub mod import;
pub mod key_hosts;
pub mod keys;
pub mod mint;
pub mod model;
pub mod parallel;
pub mod serve;
pub mod table_file;
pub mod yaml;

pub use compile::{compile_dir, CompileOptions, Compiled};
pub use diagnostic::{Diagnostic, Severity};

use gatehouse_filter::table::Table;

/// The table as written to disk: pretty JSON with a trailing newline, byte-for-byte
/// deterministic (every map is sorted, every list written in a fixed order).
pub fn table_json(table: &Table) -> Result<String, serde_json::Error> {
    let mut s = serde_json::to_string_pretty(table)?;
    s.push('\n');
    Ok(s)
}
