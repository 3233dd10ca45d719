//! Where the authoring commands get their table: a policy directory compiled on the spot
//! (`--policies DIR`) or a table compiled earlier (`--table FILE`). Either way the answer comes
//! from an [`Engine`] loaded exactly as the filter loads it.

use std::io::Write;
use std::path::{Path, PathBuf};

use gatehouse_filter::Engine;

use super::Failure;
use crate::compile::validate::parse_time;
use crate::diagnostic::render_human;
use crate::{compile_dir, CompileOptions};

/// `--policies DIR` or `--table FILE` (exactly one).
#[derive(Debug, Clone, clap::Args)]
#[group(required = true, multiple = false)]
pub struct PolicySource {
    /// The policy directory (compiled on the spot).
    #[arg(long, value_name = "DIR")]
    pub policies: Option<PathBuf>,
    /// A compiled table (JSON, as `gatehouse compile` writes it).
    #[arg(long, value_name = "FILE")]
    pub table: Option<PathBuf>,
}

/// The request `check` and `explain` judge, with the identity asserted on the command line.
#[derive(Debug, Clone, clap::Args)]
pub struct RequestArgs {
    /// The user, taken as verified; without it the request carries no identity.
    #[arg(long)]
    pub user: Option<String>,
    /// A group of the user (repeatable).
    #[arg(long = "group", value_name = "GROUP", requires = "user")]
    pub groups: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: super::Format,
    /// The request's host (`Host` / `:authority`), for routes and public paths scoped to hosts.
    #[arg(long)]
    pub host: Option<String>,
    /// HTTP method (upper-case).
    pub method: String,
    /// Request path, with any query (`/pipeline/apis/v2/runs?namespace=alice`).
    pub path: String,
}

impl PolicySource {
    /// Loads the engine; compile warnings go to standard error.
    pub fn load(&self) -> Result<Engine, Failure> {
        self.load_with(false)
    }

    /// Loads the engine; compile warnings go to standard error, and with `deny_warnings` a
    /// policy directory that warns is a failure (a compiled table has no warnings to deny).
    pub fn load_with(&self, deny_warnings: bool) -> Result<Engine, Failure> {
        match (&self.policies, &self.table) {
            (Some(dir), _) => load_dir_with(dir, deny_warnings),
            (None, Some(file)) => load_table(file),
            (None, None) => Err(Failure::Invalid(
                "give `--policies DIR` or `--table FILE`".into(),
            )),
        }
    }
}

/// Compiles a policy directory and loads the table. Warnings go to standard error.
pub fn load_dir(dir: &Path) -> Result<Engine, Failure> {
    load_dir_with(dir, false)
}

/// [`load_dir`]; with `deny_warnings` (`--deny-warnings`, for CI) warnings fail it instead:
/// [`Failure::DeniedWarnings`], exit 1.
pub fn load_dir_with(dir: &Path, deny_warnings: bool) -> Result<Engine, Failure> {
    if !dir.is_dir() {
        return Err(Failure::Invalid(format!(
            "`{}` is not a policy directory",
            dir.display()
        )));
    }
    let compiled = compile_dir(dir, &CompileOptions::default()).map_err(Failure::Diagnostics)?;
    if deny_warnings && !compiled.warnings.is_empty() {
        return Err(Failure::DeniedWarnings(compiled.warnings));
    }
    if !compiled.warnings.is_empty() {
        let _ = std::io::stderr().write_all(render_human(&compiled.warnings).as_bytes());
    }
    Engine::new(compiled.table)
        .map_err(|e| Failure::Tool(format!("the filter refuses the compiled table: {e}")))
}

/// Reads and loads a compiled table.
pub fn load_table(file: &Path) -> Result<Engine, Failure> {
    let bytes = crate::table_file::read(file, &[]).map_err(Failure::Invalid)?;
    Engine::from_bytes(&bytes, gatehouse_filter::engine::Provenance::Keep)
        .map_err(|e| Failure::Invalid(format!("table `{}`: {e}", file.display())))
}

/// A policy directory or a table file, told apart by what is on disk.
pub fn load_any(path: &Path) -> Result<Engine, Failure> {
    if path.is_dir() {
        load_dir(path)
    } else if path.is_file() {
        load_table(path)
    } else {
        Err(Failure::Invalid(format!(
            "`{}` is neither a policy directory nor a table file",
            path.display()
        )))
    }
}

/// Parses `--now`: Unix seconds or RFC 3339; `None`: the system clock.
pub fn parse_now(now: Option<&str>) -> Result<u64, Failure> {
    match now {
        None => Ok(std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())),
        Some(s) => s.parse::<u64>().or_else(|_| {
            parse_time(s).map_err(|(m, _)| {
                Failure::Invalid(format!(
                    "--now: {m}; write Unix seconds or RFC 3339 (`2027-01-31T00:00:00Z`)"
                ))
            })
        }),
    }
}

/// Checks a request line given on the command line or in a test case: an upper-case method
/// and an origin-form path. Paths the gateway would refuse (`..` above the root, an encoded
/// `/`) are not rejected here: judging them is the engine's job (`bad_path`).
pub fn check_request(method: &str, path: &str) -> Result<(), String> {
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        let example = match method.to_ascii_uppercase() {
            m if m.is_empty() => "GET".to_string(),
            m => m,
        };
        return Err(format!(
            "method `{method}` must be an upper-case HTTP method, such as `{example}`"
        ));
    }
    if !path.starts_with('/') {
        return Err(format!(
            "path `{path}` must start with `/` (the request's `:path`, with any query)"
        ));
    }
    Ok(())
}
