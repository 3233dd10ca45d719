//! `gatehouse compile`: a policy directory in, the table out (or the diagnostics).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::ValueEnum;

use super::validate::parse_time;
use crate::diagnostic::{render_denied_warnings, render_human, render_json, Diagnostic};
use crate::exit::{EXIT_FAILURE, EXIT_INVALID, EXIT_OK};
use crate::table_file::{encode_compiled, read_signing_key, Format};
use crate::{compile_dir, CompileOptions};

/// How diagnostics are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ErrorFormat {
    /// Rendered for people, with the source line.
    Human,
    /// A JSON array of `{severity, code, message, file, line, column, hint}`.
    Json,
}

/// Arguments of `gatehouse compile`.
#[derive(Debug, clap::Args)]
pub struct CompileArgs {
    /// The policy directory.
    pub dir: PathBuf,
    /// Write the table here instead of standard output.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// How to print errors and warnings (on standard error).
    #[arg(long, value_enum, default_value = "human")]
    pub error_format: ErrorFormat,
    /// "Now" for key expiry checks, as RFC 3339 (default: the system time).
    #[arg(long)]
    pub now: Option<String>,
    /// Treat warnings as errors: print them, write no table and exit 1 (for CI).
    #[arg(long)]
    pub deny_warnings: bool,
    /// The table's form: JSON (for people and Git) or the compact binary form (for gateways;
    /// no grant sources). Default: JSON, or binary with `--sign`.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Sign the (binary) table with this Ed25519 private key (PKCS#8 PEM, `gatehouse keygen`),
    /// for a gateway that fetches it by reference.
    #[arg(long, value_name = "KEY")]
    pub sign: Option<PathBuf>,
}

fn print_diags(diags: &[Diagnostic], format: ErrorFormat) {
    if diags.is_empty() && format == ErrorFormat::Human {
        return;
    }
    let text = match format {
        ErrorFormat::Human => render_human(diags),
        ErrorFormat::Json => render_json(diags),
    };
    let _ = std::io::stderr().write_all(text.as_bytes());
}

/// Runs `gatehouse compile`.
pub fn run(args: &CompileArgs) -> ExitCode {
    let mut options = CompileOptions::default();
    if let Some(now) = &args.now {
        match parse_time(now) {
            Ok(t) => options.now = t,
            Err((m, _)) => {
                eprintln!("error: --now: {m}");
                return ExitCode::from(EXIT_INVALID);
            }
        }
    }
    let compiled = match compile_dir(&args.dir, &options) {
        Ok(c) => c,
        Err(diags) => {
            print_diags(&diags, args.error_format);
            let internal = diags.iter().any(|d| d.code == "internal");
            return ExitCode::from(if internal { EXIT_FAILURE } else { EXIT_INVALID });
        }
    };
    if args.deny_warnings && !compiled.warnings.is_empty() {
        // In JSON the array stays the whole of standard error; the exit code says why.
        match args.error_format {
            ErrorFormat::Human => eprint!("{}", render_denied_warnings(&compiled.warnings)),
            ErrorFormat::Json => print_diags(&compiled.warnings, args.error_format),
        }
        return ExitCode::from(EXIT_INVALID);
    }
    print_diags(&compiled.warnings, args.error_format);
    let seed = match args.sign.as_deref().map(read_signing_key).transpose() {
        Ok(seed) => seed,
        Err(e) => {
            eprintln!("error: --sign: {e}");
            return ExitCode::from(EXIT_INVALID);
        }
    };
    if seed.is_some() && args.format == Some(Format::Json) {
        eprintln!("error: --sign writes the binary form; drop --format json");
        return ExitCode::from(EXIT_INVALID);
    }
    let format = args.format.unwrap_or(if seed.is_some() {
        Format::Binary
    } else {
        Format::Json
    });
    let bytes = match encode_compiled(compiled, format, seed.as_ref()) {
        Ok(bytes) => bytes,
        Err(e) => {
            // A bug, not the author's input: say so and write nothing.
            eprintln!("error: cannot serialize the table: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    if bytes.len() > gatehouse_filter::engine::MAX_TABLE_BYTES {
        eprintln!(
            "error[table-too-large]: the table is {} bytes as JSON; the filter loads at most {}\n  = hint: write the binary form (`--format binary`, or `--sign KEY` for a gateway that fetches it)",
            bytes.len(),
            gatehouse_filter::engine::MAX_TABLE_BYTES
        );
        return ExitCode::from(EXIT_INVALID);
    }
    let written = match &args.output {
        Some(path) => std::fs::write(path, &bytes)
            .map_err(|e| format!("cannot write `{}`: {e}", path.display())),
        None => std::io::stdout()
            .write_all(&bytes)
            .map_err(|e| format!("cannot write the table: {e}")),
    };
    match written {
        Ok(()) => ExitCode::from(EXIT_OK),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}
