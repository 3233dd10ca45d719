//! The hosts issuer keys are fetched from (live keys), as `emit` deploys them and `keys
//! refresh` reaches them: each distinct `host:port` of a table's key URLs with the Envoy
//! cluster it needs, the `--resolve HOST:PORT=ADDR:PORT` overrides of where one is reached,
//! and the CA bundle TLS to them is checked against.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use gatehouse_filter::live::FetchUrl;
use gatehouse_filter::table::{IssuerSpec, Table};

/// One host keys are fetched from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct KeyHost {
    /// The host, lower case: a DNS name or an IPv4 address.
    pub host: String,
    /// The port.
    pub port: u16,
    /// Whether fetches use TLS (`https`).
    pub tls: bool,
}

impl KeyHost {
    /// A key host (`host` lower case).
    pub fn new(host: &str, port: u16, tls: bool) -> KeyHost {
        KeyHost {
            host: host.to_ascii_lowercase(),
            port,
            tls,
        }
    }

    /// The Envoy cluster fetches go through, named as Istio names the cluster of a service or
    /// ServiceEntry: `outbound|<port>||<host>` (the name the table's `key_fetch` carries).
    pub fn cluster_name(&self) -> String {
        format!("outbound|{}||{}", self.port, self.host)
    }

    /// The host as an IPv4 address, when it is one.
    pub fn ipv4(&self) -> Option<Ipv4Addr> {
        self.host.parse().ok()
    }

    /// `host:port`.
    pub fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// The key URLs of a table: `(issuer name, url)` for every issuer with a `key_fetch`.
pub fn key_urls(table: &Table) -> Vec<(&str, &str)> {
    table
        .issuers
        .iter()
        .filter_map(|i| match i {
            IssuerSpec::Jwt(j) => j.key_fetch.as_ref().map(|f| (j.name.as_str(), f)),
            IssuerSpec::Alb(a) => a.key_fetch.as_ref().map(|f| (a.name.as_str(), f)),
        })
        .map(|(name, f)| (name, f.url.as_str()))
        .collect()
}

/// The distinct hosts of a table's key URLs, sorted by host and port. Two URLs naming one
/// `host:port` with different schemes would need one cluster to be two things: refused.
pub fn key_hosts(table: &Table) -> Result<Vec<KeyHost>, String> {
    let mut hosts: Vec<KeyHost> = Vec::new();
    for (issuer, url) in key_urls(table) {
        let u = FetchUrl::parse(url).map_err(|e| format!("issuer `{issuer}`: `{url}`: {e}"))?;
        let host = KeyHost::new(&u.host, u.port, u.tls);
        match hosts
            .iter()
            .find(|h| h.host == host.host && h.port == host.port)
        {
            Some(h) if h.tls != host.tls => {
                return Err(format!(
                    "key URLs name `{}` both with and without TLS; one cluster cannot serve both",
                    host.authority()
                ))
            }
            Some(_) => {}
            None => hosts.push(host),
        }
    }
    hosts.sort();
    Ok(hosts)
}

/// `--resolve HOST:PORT=ADDR:PORT`: fetches of key URLs on `HOST:PORT` connect to
/// `ADDR:PORT`, still naming `HOST` (TLS server name, certificate check, `Host`), as curl's
/// `--resolve` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolve {
    /// The key URL's host, lower case.
    pub host: String,
    /// The key URL's port.
    pub port: u16,
    /// Where to connect instead.
    pub addr: SocketAddr,
}

impl Resolve {
    /// Reads `HOST:PORT=ADDR:PORT` (`ADDR` an IP address; IPv6 in brackets).
    pub fn parse(s: &str) -> Result<Resolve, String> {
        let form = "expected `HOST:PORT=ADDR:PORT`, e.g. `keys.example.com:443=127.0.0.1:8443`";
        let (target, addr) = s.split_once('=').ok_or_else(|| form.to_string())?;
        let (host, port) = target.rsplit_once(':').ok_or_else(|| form.to_string())?;
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("`{target}`: `{port}` is not a port; {form}"))?;
        let host = host.to_ascii_lowercase();
        let host_ok = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        if !host_ok {
            return Err(format!("`{target}`: `{host}` is not a host name; {form}"));
        }
        let addr: SocketAddr = addr
            .parse()
            .map_err(|_| format!("`{addr}` is not an IP address and port; {form}"))?;
        if addr.port() == 0 {
            return Err(format!("`{addr}`: port 0 cannot be connected to"));
        }
        Ok(Resolve { host, port, addr })
    }

    /// The override for `host:port` among `resolves`.
    pub fn find<'a>(resolves: &'a [Resolve], host: &str, port: u16) -> Option<&'a Resolve> {
        resolves.iter().find(|r| r.host == host && r.port == port)
    }

    /// Checks that every override names one of `targets` (`host:port` of key URLs) and that
    /// none is given twice: a typo must not pass silently.
    pub fn check_all(resolves: &[Resolve], targets: &[(String, u16)]) -> Result<(), String> {
        for (i, r) in resolves.iter().enumerate() {
            let target = format!("{}:{}", r.host, r.port);
            if resolves[..i]
                .iter()
                .any(|o| o.host == r.host && o.port == r.port)
            {
                return Err(format!("--resolve `{target}` is given twice"));
            }
            if !targets.iter().any(|(h, p)| *h == r.host && *p == r.port) {
                let known: Vec<String> =
                    targets.iter().map(|(h, p)| format!("`{h}:{p}`")).collect();
                let known = if known.is_empty() {
                    "no key URLs".to_string()
                } else {
                    known.join(", ")
                };
                return Err(format!(
                    "--resolve `{target}` names no key URL's host and port (the key URLs name {known})"
                ));
            }
        }
        Ok(())
    }
}

/// The system CA bundles, in the order they are looked for (Debian/Ubuntu/Alpine,
/// Fedora/RHEL, macOS/BSD).
pub const SYSTEM_CA_BUNDLES: [&str; 3] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

/// The first system CA bundle that exists.
pub fn system_ca_bundle() -> Option<PathBuf> {
    SYSTEM_CA_BUNDLES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

/// `--ca-file` when given (it must exist), else the system bundle; an error saying what to
/// pass when there is neither.
pub fn ca_bundle(ca_file: Option<&Path>) -> Result<PathBuf, String> {
    match ca_file {
        Some(p) if p.is_file() => Ok(p.to_path_buf()),
        Some(p) => Err(format!("--ca-file `{}`: no such file", p.display())),
        None => system_ca_bundle().ok_or_else(|| {
            format!(
                "no system CA bundle found (looked for {}); pass --ca-file PATH with the CA \
                 certificates (PEM) that key hosts' TLS certificates are checked against",
                SYSTEM_CA_BUNDLES.join(", ")
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn resolve_reads_like_curls() {
        let r = Resolve::parse("Keys.Gatehouse.test:443=127.0.0.1:8443").unwrap();
        assert_eq!(
            (r.host.as_str(), r.port, r.addr),
            (
                "keys.gatehouse.test",
                443,
                "127.0.0.1:8443".parse().unwrap()
            )
        );
        assert_eq!(
            Resolve::parse("k.test:443=[::1]:8443").unwrap().addr,
            "[::1]:8443".parse().unwrap()
        );
        for (bad, why) in [
            ("k.test:443", "expected `HOST:PORT=ADDR:PORT`"),
            ("k.test=127.0.0.1:1", "expected"),
            ("k.test:0=127.0.0.1:1", "not a port"),
            ("k_test:443=127.0.0.1:1", "not a host name"),
            ("k.test:443=localhost:1", "not an IP address"),
            ("k.test:443=127.0.0.1", "not an IP address"),
            ("k.test:443=127.0.0.1:0", "port 0"),
        ] {
            let e = Resolve::parse(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn every_override_must_name_a_key_host_once() {
        let targets = vec![("keys.test".to_string(), 443)];
        let r = |s: &str| Resolve::parse(s).unwrap();
        assert!(Resolve::check_all(&[r("keys.test:443=127.0.0.1:1")], &targets).is_ok());
        let e = Resolve::check_all(&[r("keys.test:8443=127.0.0.1:1")], &targets).unwrap_err();
        assert!(e.contains("`keys.test:443`"), "{e}");
        let twice = [
            r("keys.test:443=127.0.0.1:1"),
            r("keys.test:443=127.0.0.1:2"),
        ];
        assert!(Resolve::check_all(&twice, &targets)
            .unwrap_err()
            .contains("twice"));
    }
}
