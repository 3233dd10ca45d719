//! `gatehouse token`: mint test tokens with a local private key — bearer JWTs and ALB
//! `x-amzn-oidc-data` values — for the demo, end-to-end tests and trying a policy with
//! `gatehouse explain`. Never point it at production keys.

use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use gatehouse_filter::token::mint::{sign_alb, sign_jwt, Padding, SigningKey};
use serde_json::{Map, Value};

use crate::exit::{EXIT_INVALID, EXIT_OK};

/// Which token to mint.
#[derive(Debug, clap::Subcommand)]
pub enum TokenCommand {
    /// A compact JWT for `Authorization: Bearer`.
    Jwt(JwtArgs),
    /// An ALB `x-amzn-oidc-data` value (ES256, `=`-padded parts, `signer` in the header).
    Alb(AlbArgs),
}

/// Validity window, shared by both kinds.
#[derive(Debug, clap::Args)]
pub struct Lifetime {
    /// Seconds the token lives (`exp` = issued + ttl).
    #[arg(long, default_value_t = 3600)]
    pub ttl: u64,
    /// Issue it this many seconds in the past (with a short ttl: an expired token).
    #[arg(long, default_value_t = 0)]
    pub issued_ago: u64,
    /// Unix time to treat as now (default: the system clock).
    #[arg(long)]
    pub now: Option<u64>,
}

/// Arguments of `gatehouse token jwt`.
#[derive(Debug, clap::Args)]
pub struct JwtArgs {
    /// PKCS#8 private key PEM.
    #[arg(long)]
    pub key: std::path::PathBuf,
    /// Algorithm: RS256, RS384, RS512, PS256, ES256, ES384, EdDSA.
    #[arg(long)]
    pub alg: String,
    /// Key id for the header.
    #[arg(long)]
    pub kid: Option<String>,
    /// Claims as a JSON object; `iat`, `nbf` and `exp` are added unless given.
    #[arg(long)]
    pub claims: String,
    #[command(flatten)]
    pub lifetime: Lifetime,
}

/// Arguments of `gatehouse token alb`.
#[derive(Debug, clap::Args)]
pub struct AlbArgs {
    /// PKCS#8 P-256 private key PEM.
    #[arg(long)]
    pub key: std::path::PathBuf,
    /// Key id for the header.
    #[arg(long)]
    pub kid: String,
    /// The ALB ARN for the header's `signer`.
    #[arg(long)]
    pub signer: String,
    /// Header `iss`, when wanted.
    #[arg(long)]
    pub iss: Option<String>,
    /// Header `client`, when wanted.
    #[arg(long)]
    pub client: Option<String>,
    /// Claims as a JSON object (`email`, `sub`, …).
    #[arg(long)]
    pub claims: String,
    #[command(flatten)]
    pub lifetime: Lifetime,
}

impl Lifetime {
    fn window(&self) -> (u64, u64) {
        let now = self.now.unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        });
        let iat = now.saturating_sub(self.issued_ago);
        (iat, iat + self.ttl)
    }
}

fn claims(text: &str) -> Result<Map<String, Value>, String> {
    match serde_json::from_str(text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err("--claims must be a JSON object".into()),
        Err(e) => Err(format!("--claims is not JSON: {e}")),
    }
}

fn key(path: &std::path::Path) -> Result<SigningKey, String> {
    let pem =
        std::fs::read_to_string(path).map_err(|e| format!("--key `{}`: {e}", path.display()))?;
    SigningKey::from_pem(&pem).map_err(|e| format!("--key `{}`: {e}", path.display()))
}

/// Mints the token.
pub fn mint(cmd: &TokenCommand) -> Result<String, String> {
    match cmd {
        TokenCommand::Jwt(a) => {
            let mut c = claims(&a.claims)?;
            let (iat, exp) = a.lifetime.window();
            c.entry("iat").or_insert(iat.into());
            c.entry("nbf").or_insert(iat.into());
            c.entry("exp").or_insert(exp.into());
            let mut header = Map::new();
            header.insert("typ".into(), "JWT".into());
            if let Some(kid) = &a.kid {
                header.insert("kid".into(), kid.clone().into());
            }
            sign_jwt(
                &key(&a.key)?,
                &a.alg,
                &Value::Object(header),
                &Value::Object(c),
            )
        }
        TokenCommand::Alb(a) => {
            let mut c = claims(&a.claims)?;
            let (_, exp) = a.lifetime.window();
            c.entry("exp").or_insert(exp.into());
            let mut header = Map::new();
            header.insert("kid".into(), a.kid.clone().into());
            header.insert("signer".into(), a.signer.clone().into());
            header.insert("exp".into(), exp.into());
            if let Some(iss) = &a.iss {
                header.insert("iss".into(), iss.clone().into());
            }
            if let Some(client) = &a.client {
                header.insert("client".into(), client.clone().into());
            }
            sign_alb(
                &key(&a.key)?,
                &Value::Object(header),
                &Value::Object(c),
                Padding::Padded,
            )
        }
    }
}

/// Runs `gatehouse token …`: prints the token.
pub fn run(cmd: &TokenCommand) -> ExitCode {
    match mint(cmd) {
        Ok(token) => {
            println!("{token}");
            ExitCode::from(EXIT_OK)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_INVALID)
        }
    }
}
