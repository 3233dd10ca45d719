//! The `gatehouse` command line.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::exit::{EXIT_INVALID, EXIT_OK};

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
    Compile(crate::compile::command::CompileArgs),
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
    /// Make an Ed25519 key pair for signing tables (`compile --sign`).
    Keygen(crate::table_file::KeygenArgs),
    /// Print any table (JSON, binary or signed) as JSON.
    Show(crate::table_file::ShowArgs),
    /// Serve the signed table of a policy directory to gateways, recompiling on change.
    Serve(crate::serve::ServeArgs),
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
        Command::Compile(args) => crate::compile::command::run(args),
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
        Command::Keygen(args) => crate::table_file::keygen(args),
        Command::Show(args) => crate::table_file::show(args),
        Command::Serve(args) => crate::serve::run(args),
    }
}
