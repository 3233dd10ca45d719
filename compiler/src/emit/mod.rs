//! `gatehouse emit`: deployable configuration around a compiled table.

pub mod envoy;

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::cli::{EXIT_FAILURE, EXIT_INVALID, EXIT_OK};

/// What to emit.
#[derive(Debug, clap::Subcommand)]
pub enum EmitCommand {
    /// A runnable standalone Envoy configuration (YAML) with the filter in front of one upstream.
    Envoy(EnvoyArgs),
}

/// Arguments of `gatehouse emit envoy`.
#[derive(Debug, clap::Args)]
pub struct EnvoyArgs {
    /// The filter's `.wasm` file (the path is written into the config as given, made absolute).
    #[arg(long)]
    pub wasm: PathBuf,
    /// The compiled table (`gatehouse compile -o`).
    #[arg(long)]
    pub table: PathBuf,
    /// Listener address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Upstream address (HTTP/1.1).
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub upstream: SocketAddr,
    /// Admin address (stats, readiness); omitted: no admin listener.
    #[arg(long)]
    pub admin: Option<SocketAddr>,
}

/// Runs `gatehouse emit …`.
pub fn run(cmd: &EmitCommand) -> ExitCode {
    match cmd {
        EmitCommand::Envoy(args) => match emit_envoy(args) {
            Ok(yaml) => match std::io::stdout().write_all(yaml.as_bytes()) {
                Ok(()) => ExitCode::from(EXIT_OK),
                Err(e) => {
                    eprintln!("error: cannot write the configuration: {e}");
                    ExitCode::from(EXIT_FAILURE)
                }
            },
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(EXIT_INVALID)
            }
        },
    }
}

fn emit_envoy(args: &EnvoyArgs) -> Result<String, String> {
    if !args.wasm.is_file() {
        return Err(format!("--wasm `{}`: no such file", args.wasm.display()));
    }
    let wasm = std::fs::canonicalize(&args.wasm)
        .map_err(|e| format!("--wasm `{}`: {e}", args.wasm.display()))?;
    let table_json = std::fs::read_to_string(&args.table)
        .map_err(|e| format!("--table `{}`: {e}", args.table.display()))?;
    // Refuse a table the filter would refuse, rather than start an Envoy that denies everything.
    gatehouse_filter::Engine::from_json(table_json.as_bytes())
        .map_err(|e| format!("--table `{}`: {e}", args.table.display()))?;
    let config = envoy::bootstrap(&envoy::EnvoyOptions {
        wasm_path: wasm.display().to_string(),
        table_json,
        listen: args.listen,
        upstream: args.upstream,
        admin: args.admin,
    });
    serde_yaml::to_string(&config).map_err(|e| format!("cannot render YAML: {e}"))
}
