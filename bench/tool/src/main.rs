//! The bench tool `bench/e2e.sh` drives: writes generated policy directories, mints token files
//! for fresh-token runs, and prints the Envoy bootstrap of each compared variant.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Parser, Subcommand};
use gatehouse_bench::envoy::{bootstrap, Inputs, Variant};
use gatehouse_bench::keys::{jwt_claims, mint_alb, mint_jwt, signing_key, DEX_ISSUER};
use gatehouse_bench::policy::write_policy;

#[derive(Parser)]
#[command(about = "Gatehouse benchmark helper")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Writes a policy directory: PROFILES Profiles and BINDINGS KFAM RoleBindings.
    Policy {
        dir: PathBuf,
        #[arg(long, default_value_t = 10_000)]
        profiles: usize,
        #[arg(long, default_value_t = 100_000)]
        bindings: usize,
    },
    /// Prints COUNT distinct tokens for USER, one per line: `dex` (RS256 bearer) or `alb`.
    Tokens {
        kind: String,
        #[arg(long)]
        count: usize,
        #[arg(long, default_value = "alice@example.com")]
        user: String,
        #[arg(long, default_value_t = 86_400)]
        ttl: u64,
    },
    /// Prints the `Cookie` header of a browser session holding the ID token in TOKEN, sealed
    /// with the sign-in of TABLE under the cookie keys in the environment (as the gateway
    /// seals it after a sign-in).
    Session {
        #[arg(long)]
        table: PathBuf,
        #[arg(long)]
        token: PathBuf,
    },
    /// Prints the Envoy bootstrap (JSON) of a variant: b0, b1, n, n-nocache, x, g.
    Envoy {
        variant: String,
        #[arg(long)]
        listen: SocketAddr,
        #[arg(long)]
        upstream: SocketAddr,
        #[arg(long)]
        admin: SocketAddr,
        #[arg(long)]
        authz: Option<SocketAddr>,
        #[arg(long)]
        wasm: Option<String>,
        #[arg(long)]
        table: Option<PathBuf>,
        #[arg(long)]
        jwks: Option<PathBuf>,
    },
}

fn tokens(kind: &str, count: usize, user: &str, ttl: u64) -> Result<(), String> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs();
    let (kid, alb) = match kind {
        "dex" => ("dex-1", false),
        "alb" => ("alb-1", true),
        other => return Err(format!("unknown token kind `{other}`; expected dex or alb")),
    };
    let key = signing_key(kid)?;
    // RSA signing is slow: both cores share the work.
    let half = count / 2;
    let mint = |from: usize, to: usize| -> Result<Vec<String>, String> {
        (from..to)
            .map(|j| {
                if alb {
                    mint_alb(&key, user, now, ttl, j as u64)
                } else {
                    mint_jwt(
                        &key,
                        "RS256",
                        kid,
                        &jwt_claims(DEX_ISSUER, user, now, ttl, j as u64),
                    )
                }
            })
            .collect()
    };
    let (a, b) = std::thread::scope(|s| {
        let first = s.spawn(|| mint(0, half));
        let second = mint(half, count);
        (
            first
                .join()
                .unwrap_or_else(|_| Err("minting failed".into())),
            second,
        )
    });
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for t in a?.iter().chain(b?.iter()) {
        writeln!(out, "{t}").map_err(|e| e.to_string())?;
    }
    out.flush().map_err(|e| e.to_string())
}

fn read(path: &Option<PathBuf>) -> Result<Option<String>, String> {
    path.as_ref()
        .map(|p| std::fs::read_to_string(p).map_err(|e| format!("`{}`: {e}", p.display())))
        .transpose()
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Policy {
            dir,
            profiles,
            bindings,
        } => write_policy(&dir, profiles, bindings).map_err(|e| e.to_string()),
        Command::Tokens {
            kind,
            count,
            user,
            ttl,
        } => tokens(&kind, count, &user, ttl),
        Command::Session { table, token } => session(&table, &token),
        Command::Envoy {
            variant,
            listen,
            upstream,
            admin,
            authz,
            wasm,
            table,
            jwks,
        } => {
            let v = Variant::from_name(&variant)
                .ok_or_else(|| format!("unknown variant `{variant}`"))?;
            let inputs = Inputs {
                listen,
                upstream,
                admin,
                authz,
                wasm,
                table_json: read(&table)?,
                jwks: read(&jwks)?,
            };
            let boot = bootstrap(v, &inputs)?;
            println!("{boot}");
            Ok(())
        }
    }
}

fn session(table: &PathBuf, token: &PathBuf) -> Result<(), String> {
    let read = |p: &PathBuf| std::fs::read(p).map_err(|e| format!("`{}`: {e}", p.display()));
    let engine = gatehouse_filter::Engine::from_json(&read(table)?).map_err(|e| e.to_string())?;
    let env = |name: &str| std::env::var(name).ok();
    let sign_in = gatehouse_filter::signin::SignIn::from_table(&engine.table, &env)?
        .ok_or("the table has no sign-in")?;
    let id_token = String::from_utf8(read(token)?).map_err(|e| e.to_string())?;
    let cookies = sign_in.session_cookies(id_token.trim())?;
    let header: Vec<String> = cookies.iter().map(|(n, v)| format!("{n}={v}")).collect();
    println!("{}", header.join("; "));
    Ok(())
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
