//! The `gatehouse` command line.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::compile::validate::parse_time;
use crate::diagnostic::{render_denied_warnings, render_human, render_json, Diagnostic};
use crate::{compile_dir, table_json, CompileOptions};

/// Exit code: success (warnings allowed).
pub const EXIT_OK: u8 = 0;
/// Exit code: the policy (or the command line) is invalid.
pub const EXIT_INVALID: u8 = 1;
/// Exit code: the tool failed (I/O error writing output, a bug).
pub const EXIT_FAILURE: u8 = 2;
/// Exit code: a negative answer (`check`/`explain` denied, a failing `test` case,
/// `diff --exit-code` with changes).
pub const EXIT_DENIED: u8 = 3;

/// Gatehouse: gateway authorization for multi-tenant ML platforms.
#[derive(Debug, Parser)]
#[command(name = "gatehouse", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Compile a policy directory into the filter's ACL table (JSON).
    Compile(CompileArgs),
    /// Emit deployable configuration around a compiled table.
    #[command(subcommand)]
    Emit(crate::emit::EmitCommand),
    /// Mint test tokens with a local private key (for demos, tests and `explain`).
    #[command(subcommand)]
    Token(crate::mint::TokenCommand),
    /// Check Kubernetes resources against their CRDs (schema and CEL rules), offline.
    ValidateManifest(crate::crd::command::ValidateManifestArgs),
    /// Turn Istio RequestAuthentication resources into Gatehouse Issuer declarations.
    Import(crate::import::ImportArgs),
    /// Issuer keys: refresh the seed key files from the issuers' `jwksUri`.
    #[command(subcommand)]
    Keys(crate::keys::KeysCommand),
    /// Would this request be allowed? Exit 0 allowed, 3 denied.
    Check(crate::authoring::check::CheckArgs),
    /// Decide a request showing every step: path, route, token checks, identity, grant or nearest miss.
    Explain(crate::authoring::explain::ExplainArgs),
    /// Run the `PolicyTest` assertion files beside the policies.
    Test(crate::authoring::test::TestArgs),
    /// The access that changes between two policies (directories or tables).
    Diff(crate::authoring::diff::DiffArgs),
    /// Who holds an action in a namespace (users, groups, ServiceAccounts).
    WhoCan(crate::authoring::who_can::WhoCanArgs),
}

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
pub fn compile(args: &CompileArgs) -> ExitCode {
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
    let json = table_json(&compiled.table);
    let written = match &args.output {
        Some(path) => std::fs::write(path, json)
            .map_err(|e| format!("cannot write `{}`: {e}", path.display())),
        None => std::io::stdout()
            .write_all(json.as_bytes())
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

/// Parses the command line and runs it.
pub fn run() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                EXIT_INVALID
            } else {
                EXIT_OK
            });
        }
    };
    match &cli.command {
        Command::Compile(args) => compile(args),
        Command::Emit(cmd) => crate::emit::run(cmd),
        Command::Token(cmd) => crate::mint::run(cmd),
        Command::ValidateManifest(args) => crate::crd::command::run(args),
        Command::Import(args) => crate::import::run(args),
        Command::Keys(cmd) => crate::keys::run(cmd),
        Command::Check(args) => crate::authoring::run(crate::authoring::check::run(args)),
        Command::Explain(args) => crate::authoring::run(crate::authoring::explain::run(args)),
        Command::Test(args) => crate::authoring::run(crate::authoring::test::run(args)),
        Command::Diff(args) => crate::authoring::run(crate::authoring::diff::run(args)),
        Command::WhoCan(args) => crate::authoring::run(crate::authoring::who_can::run(args)),
    }
}
