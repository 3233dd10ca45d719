//! Fetching a key document for `keys refresh`: one blocking GET with the same limits the
//! filter applies to its own fetches in spirit (a body cap, a timeout, no redirects), TLS
//! checked against the system CA bundle plus `--ca-file`, and `--resolve` overrides.
//!
//! The client is `ureq` (blocking, rustls): the compiler is a command-line tool, and the
//! filter never links it. `--resolve` plugs into ureq's resolver, which ureq does not yet
//! cover by semver: the dependency is held to one minor version.

use std::path::Path;
use std::time::Duration;

use ureq::http::Uri;
use ureq::tls::{parse_pem, Certificate, PemItem, RootCerts, TlsConfig};
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};
use ureq::Agent;

use crate::key_hosts::{system_ca_bundle, Resolve};

/// Largest key document read, bytes (a JWKS is a few KiB).
pub const MAX_BODY_BYTES: u64 = 1024 * 1024;

/// Timeout of one fetch, from connect to the last byte.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A client for key documents.
pub struct Fetcher {
    agent: Agent,
}

/// The resolver: `--resolve` overrides first, then the system's.
#[derive(Debug)]
struct Overrides {
    resolves: Vec<Resolve>,
    system: DefaultResolver,
}

impl Resolver for Overrides {
    fn resolve(
        &self,
        uri: &Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let host = uri.host().unwrap_or_default().to_ascii_lowercase();
        let default_port = if uri.scheme_str() == Some("http") {
            80
        } else {
            443
        };
        let port = uri.port_u16().unwrap_or(default_port);
        match Resolve::find(&self.resolves, &host, port) {
            Some(r) => {
                let mut addrs = self.empty();
                addrs.push(r.addr);
                Ok(addrs)
            }
            None => self.system.resolve(uri, config, timeout),
        }
    }
}

/// Reads the certificates of a PEM file.
fn certificates(path: &Path) -> Result<Vec<Certificate<'static>>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("`{}`: {e}", path.display()))?;
    let mut out = Vec::new();
    for item in parse_pem(&bytes) {
        match item {
            Ok(PemItem::Certificate(c)) => out.push(c),
            Ok(_) => {}
            Err(e) => return Err(format!("`{}`: {e}", path.display())),
        }
    }
    if out.is_empty() {
        return Err(format!("`{}`: no PEM certificate in it", path.display()));
    }
    Ok(out)
}

impl Fetcher {
    /// A client trusting the system CA bundle and the certificates of `ca_file`, connecting
    /// where `resolves` say. Without either bundle there is nothing to trust: an error.
    pub fn new(ca_file: Option<&Path>, resolves: &[Resolve]) -> Result<Fetcher, String> {
        let mut roots = match system_ca_bundle() {
            Some(p) => certificates(&p)?,
            None => Vec::new(),
        };
        if let Some(p) = ca_file {
            roots.extend(certificates(p).map_err(|e| format!("--ca-file {e}"))?);
        }
        if roots.is_empty() {
            return Err(
                "no system CA bundle found; pass --ca-file PATH with the CA certificates (PEM) to trust".into(),
            );
        }
        let tls = TlsConfig::builder()
            .root_certs(RootCerts::from(roots))
            .build();
        let mut config = Agent::config_builder()
            .tls_config(tls)
            .timeout_global(Some(TIMEOUT))
            // A key URL names the document itself; the filter follows no redirect either.
            .max_redirects(0)
            .http_status_as_error(false);
        if !resolves.is_empty() {
            // An override names where to connect: no proxy in between.
            config = config.proxy(None);
        }
        let resolver = Overrides {
            resolves: resolves.to_vec(),
            system: DefaultResolver::default(),
        };
        Ok(Fetcher {
            agent: Agent::with_parts(config.build(), DefaultConnector::new(), resolver),
        })
    }

    /// GETs `url`: the body of a `200`, at most [`MAX_BODY_BYTES`]; anything else is an error
    /// saying what came back.
    pub fn get(&self, url: &str) -> Result<Vec<u8>, String> {
        let mut response = self
            .agent
            .get(url)
            .header("accept", "application/json")
            .call()
            .map_err(|e| e.to_string())?;
        let status = response.status();
        if status != 200 {
            return Err(format!("answered HTTP {}", status.as_u16()));
        }
        response
            .body_mut()
            .with_config()
            .limit(MAX_BODY_BYTES)
            .read_to_vec()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(_) => {
                    format!("the document is larger than {MAX_BODY_BYTES} bytes")
                }
                other => other.to_string(),
            })
    }
}
