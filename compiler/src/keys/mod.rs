//! `gatehouse keys refresh <policy-dir>`: fetches the JWKS of every JWT issuer that names a
//! `jwksUri` and rewrites its `jwksFile`, the seed keys compiled into the table, printing per
//! issuer which kids were added and removed. The gateway refreshes keys by itself at run time;
//! this keeps the seed, what a gateway starts with, close to what the issuer publishes.
//!
//! A fetched document must pass the filter's own reader of fetched sets (no private members,
//! usable keys, distinct kids, at most 100 keys), within 1 MiB and a timeout; keys that fit
//! none of the issuer's algorithms are left out (they would not compile). A seed file is
//! replaced atomically, and only when its keys change.
//!
//! Exit codes: 0 every issuer refreshed (or unchanged); 1 the policy or the command line is
//! invalid; 2 a fetch or a write failed (other issuers are still refreshed).

pub mod fetch;
pub mod refresh;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use gatehouse_filter::live::{alb_key_url, FetchUrl};

use crate::compile::keys::relative_to_root;
use crate::diagnostic::render_human;
use crate::exit::{EXIT_FAILURE, EXIT_INVALID, EXIT_OK};
use crate::key_hosts::Resolve;
use crate::model::issuer::{AlbIn, JwtIn};
use crate::model::{load_dir, Object};
use fetch::Fetcher;
use refresh::{read_fetched, read_seed, write_atomically, Change};

/// `gatehouse keys …`.
#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// Fetch every JWT issuer's `jwksUri` into its `jwksFile` (the seed keys), showing which
    /// kids were added and removed.
    Refresh(RefreshArgs),
}

/// Arguments of `gatehouse keys refresh`.
#[derive(Debug, clap::Args)]
pub struct RefreshArgs {
    /// The policy directory.
    pub dir: PathBuf,
    /// Show what would change; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Extra CA certificates (PEM) to trust besides the system bundle (a private identity
    /// provider's CA).
    #[arg(long, value_name = "PATH")]
    pub ca_file: Option<PathBuf>,
    /// Reach the key host `HOST:PORT` (of a `jwksUri`) at `ADDR:PORT` instead of resolving
    /// `HOST`; TLS still names and checks `HOST` (repeatable; like curl's --resolve).
    #[arg(long, value_name = "HOST:PORT=ADDR:PORT", value_parser = Resolve::parse)]
    pub resolve: Vec<Resolve>,
}

/// One JWT issuer whose seed is refreshed.
struct Seed<'a> {
    name: &'a str,
    jwt: &'a JwtIn,
    uri: &'a str,
    /// The `jwksFile` as written.
    file: &'a str,
    /// Where it is on disk.
    path: PathBuf,
}

/// What the policy asks of `keys refresh`: the seeds to refresh, and what to say of the other
/// issuers.
#[derive(Default)]
struct Plan<'a> {
    seeds: Vec<Seed<'a>>,
    notes: Vec<(String, String)>,
    errors: Vec<String>,
}

fn plan<'a>(dir: &Path, objects: &'a [Object]) -> Plan<'a> {
    let mut plan = Plan::default();
    for o in objects {
        let Object::Issuer(issuer) = o else { continue };
        let name = issuer.value.metadata.name.as_str();
        let Some(spec) = issuer.value.spec.as_ref() else {
            continue;
        };
        let at = issuer.doc.source_at(crate::path![]);
        match (&spec.jwt, &spec.alb) {
            (Some(jwt), _) => {
                let Some(uri) = &jwt.jwks_uri else {
                    let note = "no `jwksUri`; nothing to fetch".to_string();
                    plan.notes.push((name.into(), note));
                    continue;
                };
                if let Err(why) = FetchUrl::parse(uri) {
                    plan.errors.push(format!(
                        "{at}: issuer `{name}`: `jwksUri` `{uri}` is not a valid key URL: {why}"
                    ));
                    continue;
                }
                let Some(file) = &jwt.jwks_file else {
                    plan.errors.push(format!(
                        "{at}: issuer `{name}`: no `jwksFile` to write the keys to"
                    ));
                    continue;
                };
                let path = if Path::new(file).is_absolute() {
                    PathBuf::from(file)
                } else {
                    dir.join(relative_to_root(&issuer.doc.file, file))
                };
                plan.seeds.push(Seed {
                    name,
                    jwt,
                    uri,
                    file,
                    path,
                });
            }
            (None, Some(alb)) => plan.notes.push((name.into(), alb_note(alb))),
            (None, None) => {}
        }
    }
    plan.seeds.sort_by_key(|s| s.name);
    plan.notes.sort();
    plan
}

fn alb_note(alb: &AlbIn) -> String {
    if alb.fetch_keys == Some(false) {
        return "an ALB issuer with `fetchKeys: false`: compiled keys only; nothing to write"
            .into();
    }
    let url = alb
        .key_endpoint
        .clone()
        .unwrap_or_else(|| alb_key_url(&alb.region));
    format!(
        "ALB keys are fetched by kid at run time (`{url}<kid>`); no list exists, nothing to write"
    )
}

/// Refreshes one seed; the line to print, or why it failed.
fn refresh_one(seed: &Seed<'_>, fetcher: &Fetcher, dry_run: bool) -> Result<String, String> {
    let body = fetcher
        .get(seed.uri)
        .map_err(|e| format!("`{}`: {e}", seed.uri))?;
    let fetched = read_fetched(&body, &seed.jwt.algorithms)
        .map_err(|e| format!("`{}`: refused: {e}", seed.uri))?;
    for skipped in &fetched.skipped {
        eprintln!("warning: issuer `{}`: left out {skipped}", seed.name);
    }
    let old = match read_seed(&seed.path) {
        Ok(keys) => keys,
        Err(e) => {
            eprintln!(
                "warning: issuer `{}`: `{}` is not a readable JWKS ({e}); it is replaced",
                seed.name, seed.file
            );
            Some(Vec::new())
        }
    };
    let change = Change::between(old.as_deref().unwrap_or_default(), &fetched.keys);
    if old.is_some() && change.is_empty() {
        let kids: Vec<String> = fetched
            .keys
            .iter()
            .map(|(k, _)| k.as_deref().map_or("(no kid)".into(), |k| format!("`{k}`")))
            .collect();
        return Ok(format!("unchanged ({})", kids.join(", ")));
    }
    let verb = if dry_run { "would write" } else { "wrote" };
    if !dry_run {
        write_atomically(&seed.path, &fetched.document)
            .map_err(|e| format!("cannot write `{}`: {e}", seed.path.display()))?;
    }
    Ok(format!("{}; {verb} `{}`", change.describe(), seed.file))
}

/// Runs `gatehouse keys …`.
pub fn run(cmd: &KeysCommand) -> ExitCode {
    let KeysCommand::Refresh(args) = cmd;
    let loaded = load_dir(&args.dir);
    let errors: Vec<_> = loaded
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .cloned()
        .collect();
    if !errors.is_empty() {
        eprint!("{}", render_human(&errors));
        return ExitCode::from(EXIT_INVALID);
    }
    let plan = plan(&args.dir, &loaded.objects);
    let targets: Vec<(String, u16)> = plan
        .seeds
        .iter()
        .filter_map(|s| FetchUrl::parse(s.uri).ok())
        .map(|u| (u.host, u.port))
        .collect();
    let fetcher = Resolve::check_all(&args.resolve, &targets)
        .and_then(|()| Fetcher::new(args.ca_file.as_deref(), &args.resolve));
    let fetcher = match (fetcher, plan.errors.is_empty()) {
        (Ok(f), true) => f,
        (f, _) => {
            for e in plan.errors.iter().chain(f.err().as_ref()) {
                eprintln!("error: {e}");
            }
            return ExitCode::from(EXIT_INVALID);
        }
    };
    for (name, note) in &plan.notes {
        println!("issuer `{name}`: {note}");
    }
    let mut failed = false;
    for seed in &plan.seeds {
        match refresh_one(seed, &fetcher, args.dry_run) {
            Ok(line) => println!("issuer `{}`: {line}", seed.name),
            Err(e) => {
                failed = true;
                eprintln!(
                    "error: issuer `{}`: {e}; its seed is left as it is",
                    seed.name
                );
            }
        }
    }
    ExitCode::from(if failed { EXIT_FAILURE } else { EXIT_OK })
}
