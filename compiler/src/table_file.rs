//! Table files in every form the filter reads (JSON, binary, signed: see
//! [`gatehouse_filter::wire`]): reading them for the authoring tools and `show`, writing them
//! for `compile`, and the Ed25519 keys that sign them (`keygen`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use base64::Engine as _;
use clap::ValueEnum;
use gatehouse_filter::table::Table;
use gatehouse_filter::wire::{self, Form, PUBLIC_KEY_LEN};
use gatehouse_filter::Engine;

use crate::exit::{EXIT_FAILURE, EXIT_INVALID, EXIT_OK};
use crate::Compiled;

/// The form `compile` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// JSON, for people and Git (with each grant's source).
    Json,
    /// The compact binary form, for gateways (no sources).
    Binary,
}

/// PKCS#8 v1 prefix of an Ed25519 private key (RFC 8410): what `openssl genpkey -algorithm
/// ed25519` writes, followed by the 32-byte seed.
const PKCS8_ED25519_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// The table's bytes as `compile` writes them: JSON, binary, or (with a key) signed binary.
pub fn encode(table: &Table, format: Format, sign: Option<&[u8; 32]>) -> Result<Vec<u8>, String> {
    encode_with(table, || wire::encode(table), format, sign)
}

/// A compiled table's bytes as `compile` writes them ([`encode`]), its binary form taken from
/// the compile rather than encoded again.
pub fn encode_compiled(
    compiled: Compiled,
    format: Format,
    sign: Option<&[u8; 32]>,
) -> Result<Vec<u8>, String> {
    let Compiled { table, binary, .. } = compiled;
    encode_with(&table, || binary, format, sign)
}

fn encode_with(
    table: &Table,
    binary: impl FnOnce() -> Result<Vec<u8>, String>,
    format: Format,
    sign: Option<&[u8; 32]>,
) -> Result<Vec<u8>, String> {
    match (format, sign) {
        (Format::Json, None) => crate::table_json(table)
            .map(String::into_bytes)
            .map_err(|e| e.to_string()),
        (_, Some(seed)) => Ok(wire::sign(&binary()?, seed)),
        (Format::Binary, None) => binary(),
    }
}

/// Reads an Ed25519 signing key: a PKCS#8 PEM `PRIVATE KEY` (as `gatehouse keygen` or
/// `openssl genpkey -algorithm ed25519` write it). Returns its seed.
pub fn read_signing_key(path: &Path) -> Result<[u8; 32], String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read signing key `{}`: {e}", path.display()))?;
    let at = |what: &str| format!("signing key `{}`: {what}", path.display());
    let body: String = text
        .lines()
        .map(str::trim)
        .skip_while(|l| *l != "-----BEGIN PRIVATE KEY-----")
        .skip(1)
        .take_while(|l| *l != "-----END PRIVATE KEY-----")
        .collect();
    if body.is_empty() {
        return Err(at("no `-----BEGIN PRIVATE KEY-----` block (PKCS#8 PEM)"));
    }
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|e| at(&format!("not base64: {e}")))?;
    der.strip_prefix(PKCS8_ED25519_PREFIX.as_slice())
        .and_then(|seed| <[u8; 32]>::try_from(seed).ok())
        .ok_or_else(|| at("not an Ed25519 private key (PKCS#8, RFC 8410)"))
}

/// Reads trusted public keys: each argument is a key (base64 of 32 bytes) or a file holding
/// one per line (`gatehouse keygen`'s `.pub`).
pub fn read_trusted(args: &[String]) -> Result<Vec<[u8; PUBLIC_KEY_LEN]>, String> {
    let mut out = Vec::new();
    for a in args {
        let path = Path::new(a);
        if path.is_file() {
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("cannot read `{a}`: {e}"))?;
            for (i, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                out.push(
                    wire::parse_public_key(line)
                        .map_err(|e| format!("`{a}` line {}: {e}", i + 1))?,
                );
            }
        } else {
            out.push(wire::parse_public_key(a).map_err(|e| format!("key `{a}`: {e}"))?);
        }
    }
    Ok(out)
}

/// A table file's bytes, ready for [`Engine::from_bytes`]: a signed table is opened with
/// `trusted` when keys are given, else unwrapped unchecked with a note (the authoring tools
/// read their own files; the gateway always checks).
pub fn read(path: &Path, trusted: &[[u8; PUBLIC_KEY_LEN]]) -> Result<Vec<u8>, String> {
    let bytes =
        std::fs::read(path).map_err(|e| format!("cannot read table `{}`: {e}", path.display()))?;
    match wire::form(&bytes) {
        Some(Form::Signed) if trusted.is_empty() => {
            let (key, binary) = wire::unwrap_unverified(&bytes)
                .map_err(|e| format!("table `{}`: {e}", path.display()))?;
            eprintln!(
                "note: `{}` is signed by {}; its signature is not checked here (`gatehouse show --trust KEY` checks it)",
                path.display(),
                wire::base64_key(&key)
            );
            Ok(binary.to_vec())
        }
        Some(Form::Signed) => wire::open(&bytes, trusted)
            .map(<[u8]>::to_vec)
            .map_err(|e| format!("table `{}`: {e}", path.display())),
        Some(Form::Binary | Form::Json) => Ok(bytes),
        None => Err(format!(
            "table `{}` is neither JSON nor a binary or signed Gatehouse table",
            path.display()
        )),
    }
}

/// Arguments of `gatehouse keygen`.
#[derive(Debug, clap::Args)]
pub struct KeygenArgs {
    /// Write `<OUT>.key` (the private key, PKCS#8 PEM, mode 0600) and `<OUT>.pub` (the public
    /// key, base64, for the gateway's `trusted_keys`).
    #[arg(long)]
    pub out: PathBuf,
}

/// Runs `gatehouse keygen`: never overwrites a key.
pub fn keygen(args: &KeygenArgs) -> ExitCode {
    let with = |ext: &str| {
        let mut p = args.out.clone().into_os_string();
        p.push(ext);
        PathBuf::from(p)
    };
    let (key_path, pub_path) = (with(".key"), with(".pub"));
    for p in [&key_path, &pub_path] {
        if p.exists() {
            eprintln!(
                "error: `{}` exists; keygen never overwrites a key",
                p.display()
            );
            return ExitCode::from(EXIT_INVALID);
        }
    }
    let mut seed = [0u8; 32];
    if ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut seed).is_err() {
        eprintln!("error: the system has no random source");
        return ExitCode::from(EXIT_FAILURE);
    }
    let mut der = PKCS8_ED25519_PREFIX.to_vec();
    der.extend_from_slice(&seed);
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        base64::engine::general_purpose::STANDARD.encode(der)
    );
    let public = format!("{}\n", wire::base64_key(&wire::public_key(&seed)));
    let written = write_private(&key_path, pem.as_bytes())
        .and_then(|()| std::fs::write(&pub_path, public.as_bytes()).map_err(|e| e.to_string()));
    match written {
        Ok(()) => {
            eprintln!(
                "wrote {} (keep it secret) and {}",
                key_path.display(),
                pub_path.display()
            );
            print!("{public}");
            ExitCode::from(EXIT_OK)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options
        .open(path)
        .map_err(|e| format!("cannot create `{}`: {e}", path.display()))?;
    f.write_all(bytes)
        .map_err(|e| format!("cannot write `{}`: {e}", path.display()))
}

/// Arguments of `gatehouse show`.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// A table in any form: JSON, binary or signed.
    pub table: PathBuf,
    /// Public keys (base64, or files of them) a signed table must be signed with.
    #[arg(long = "trust")]
    pub trust: Vec<String>,
    /// Print it in this form instead (binary: to turn a JSON table into what gateways fetch).
    #[arg(long, value_enum, default_value = "json")]
    pub format: Format,
}

/// Runs `gatehouse show`: prints any table as JSON (or binary), after the filter has loaded it.
pub fn show(args: &ShowArgs) -> ExitCode {
    let shown = read_trusted(&args.trust)
        .and_then(|trusted| read(&args.table, &trusted))
        .and_then(|bytes| {
            Engine::from_bytes(&bytes, gatehouse_filter::engine::Provenance::Keep)
                .map_err(|e| format!("table `{}`: {e}", args.table.display()))
        })
        .and_then(|engine| encode(&engine.table, args.format, None));
    match shown {
        Ok(bytes) => {
            let _ = std::io::stdout().write_all(&bytes);
            ExitCode::from(EXIT_OK)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_INVALID)
        }
    }
}
