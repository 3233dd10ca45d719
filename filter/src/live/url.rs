//! Reading a key URL from the table: scheme, host, port and path, and the name of the Envoy
//! cluster a fetch of it goes through. The compiler checks policy URLs with the same reader,
//! so a table the compiler writes always loads.

use crate::host::is_dns_name;

/// A key URL, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchUrl {
    /// `true` for `https`.
    pub tls: bool,
    /// The host, lower case (a DNS name or an IPv4 address).
    pub host: String,
    /// The port (written, or 443 / 80).
    pub port: u16,
    /// `:authority` of a fetch: the host, with the port when it is not the scheme's default.
    pub authority: String,
    /// The path, starting with `/`.
    pub path: String,
}

/// Whether `host` is a Kubernetes in-cluster service name, reachable without TLS inside the
/// mesh (`*.svc`, `*.svc.cluster.local`).
pub fn is_in_cluster(host: &str) -> bool {
    host.ends_with(".svc") || host.ends_with(".svc.cluster.local")
}

impl FetchUrl {
    /// Reads `url`: `https://host[:port]/path` (`http://` only for in-cluster `*.svc` hosts),
    /// no user info, query or fragment, a host of letters, digits, `-` and `.`. The message
    /// says what is wrong.
    pub fn parse(url: &str) -> Result<FetchUrl, String> {
        let (tls, rest) = match (url.strip_prefix("https://"), url.strip_prefix("http://")) {
            (Some(rest), _) => (true, rest),
            (None, Some(rest)) => (false, rest),
            _ => return Err("it must start with `https://`".into()),
        };
        if url
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err("it holds whitespace or control characters".into());
        }
        if url.contains(['?', '#']) {
            return Err("it must not hold a query or fragment".into());
        }
        let (authority, path) = match rest.find('/') {
            Some(at) => rest.split_at(at),
            None => (rest, "/"),
        };
        if authority.contains('@') {
            return Err("it must not hold user info".into());
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => {
                let port = port
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0 && port.bytes().all(|b| b.is_ascii_digit()))
                    .ok_or_else(|| format!("port `{port}` is not a port number"))?;
                (host, Some(port))
            }
            None => (authority, None),
        };
        let host = host.to_ascii_lowercase();
        let host = host.strip_suffix('.').unwrap_or(&host).to_owned();
        if !is_dns_name(&host) {
            return Err("the host is missing or not a host name".into());
        }
        if !tls && !is_in_cluster(&host) {
            return Err(
                "`http://` is only allowed for in-cluster `*.svc` / `*.svc.cluster.local` hosts"
                    .into(),
            );
        }
        if path.split('/').any(|s| s == "." || s == "..") || path.contains('%') {
            return Err("the path must not hold `.` / `..` segments or escapes".into());
        }
        let default_port = if tls { 443 } else { 80 };
        let port = port.unwrap_or(default_port);
        let authority = if port == default_port {
            host.clone()
        } else {
            format!("{host}:{port}")
        };
        Ok(FetchUrl {
            tls,
            host,
            port,
            authority,
            path: path.to_owned(),
        })
    }

    /// The Envoy cluster a fetch goes through: `outbound|<port>||<host>`, the name Istio gives
    /// the cluster of a mesh service or ServiceEntry.
    pub fn cluster_name(&self) -> String {
        format!("outbound|{}||{}", self.port, self.host)
    }

    /// The URL a kid is fetched from, for ALB issuers (`self` ends in `/`). The kid must have
    /// passed [`super::is_uuid`]: then it cannot add segments, a query or escapes.
    pub fn with_kid(&self, kid: &str) -> String {
        format!("{}{kid}", self.path)
    }
}

/// The URL ALB keys of `region` are fetched from, by kid (AWS's documented endpoints; GovCloud
/// regions publish through S3).
pub fn alb_key_url(region: &str) -> String {
    if region.starts_with("us-gov-") {
        format!("https://s3-{region}.amazonaws.com/aws-elb-public-keys-prod-{region}/")
    } else {
        format!("https://public-keys.auth.elb.{region}.amazonaws.com/")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_parts_and_names_the_istio_cluster() {
        let u = FetchUrl::parse("https://Dex.Example.com/dex/keys").unwrap();
        assert_eq!(
            (
                u.tls,
                u.host.as_str(),
                u.port,
                u.authority.as_str(),
                u.path.as_str()
            ),
            (true, "dex.example.com", 443, "dex.example.com", "/dex/keys")
        );
        assert_eq!(u.cluster_name(), "outbound|443||dex.example.com");
        let u = FetchUrl::parse("http://dex.auth.svc.cluster.local:5556/dex/keys").unwrap();
        assert_eq!(u.authority, "dex.auth.svc.cluster.local:5556");
        assert_eq!(
            u.cluster_name(),
            "outbound|5556||dex.auth.svc.cluster.local"
        );
        assert_eq!(FetchUrl::parse("https://keys.test:8443").unwrap().path, "/");
    }

    #[test]
    fn refuses_what_could_send_a_fetch_elsewhere() {
        for (url, why) in [
            ("http://dex.example.com/keys", "only allowed for in-cluster"),
            ("ftp://dex.example.com/keys", "must start with"),
            ("https://user@dex.example.com/keys", "user info"),
            ("https://dex.example.com/keys?x=1", "query"),
            ("https://dex.example.com/keys#k", "query or fragment"),
            ("https://dex.example.com:0/keys", "not a port"),
            ("https://dex.example.com:+443/keys", "not a port"),
            ("https://dex.example.com:99999/keys", "not a port"),
            ("https://dex_example.com/keys", "not a host name"),
            ("https:///keys", "not a host name"),
            ("https://[::1]/keys", "port"),
            ("https://dex.example.com/a/../keys", "segments"),
            ("https://dex.example.com/%2e%2e/keys", "escapes"),
            ("https://dex.example.com/ke ys", "whitespace"),
        ] {
            let e = FetchUrl::parse(url).unwrap_err();
            assert!(e.contains(why), "{url}: {e}");
        }
    }

    #[test]
    fn alb_endpoints_follow_the_region() {
        assert_eq!(
            alb_key_url("eu-west-1"),
            "https://public-keys.auth.elb.eu-west-1.amazonaws.com/"
        );
        assert_eq!(
            alb_key_url("us-gov-west-1"),
            "https://s3-us-gov-west-1.amazonaws.com/aws-elb-public-keys-prod-us-gov-west-1/"
        );
        let u = FetchUrl::parse(&alb_key_url("us-gov-west-1")).unwrap();
        assert_eq!(
            u.with_kid("0e1a3f9c-1b2c-4d5e-8f90-a1b2c3d4e5f6"),
            "/aws-elb-public-keys-prod-us-gov-west-1/0e1a3f9c-1b2c-4d5e-8f90-a1b2c3d4e5f6"
        );
    }
}
