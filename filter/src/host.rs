//! Host scoping for routes and public paths: which `Host` (HTTP/1.1) or `:authority` (HTTP/2) a
//! route answers for.
//!
//! A pattern is an exact DNS name (`dex.example.com`) or a wildcard over its subdomains
//! (`*.models.example.com`: one or more labels before `.models.example.com`, as Envoy's virtual
//! hosts read it). The request's authority is compared lower-cased, without its port and
//! without a trailing dot; an authority that is not a plain DNS name or IP literal matches no
//! pattern (only routes for every host).

/// A host pattern of a route.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum HostPattern {
    /// Exactly this name (lower case).
    Exact(String),
    /// Any name ending in `.` + this suffix (lower case), with at least one label before it.
    Subdomains(String),
}

impl HostPattern {
    /// Parses `name` or `*.name`; names are lower-case DNS names (letters, digits, `-`, `.`),
    /// labels 1–63 characters, at most 253 in all.
    pub fn parse(s: &str) -> Result<HostPattern, String> {
        let (wild, name) = match s.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if name.is_empty() || name.len() > 253 || !name.split('.').all(label_ok) {
            return Err(format!(
                "host `{s}` must be a lower-case DNS name, or `*.` and one (`*.example.com`)"
            ));
        }
        Ok(if wild {
            HostPattern::Subdomains(name.to_string())
        } else {
            HostPattern::Exact(name.to_string())
        })
    }

    /// Whether a normalized host (see [`normalize_authority`]) matches.
    pub fn matches(&self, host: &str) -> bool {
        match self {
            HostPattern::Exact(name) => host == name,
            HostPattern::Subdomains(suffix) => host
                .strip_suffix(suffix.as_str())
                .and_then(|head| head.strip_suffix('.'))
                .is_some_and(|head| !head.is_empty()),
        }
    }

    /// Whether one request's host could match both patterns.
    pub fn meets(&self, other: &HostPattern) -> bool {
        match (self, other) {
            (HostPattern::Exact(a), _) => other.matches(a),
            (_, HostPattern::Exact(b)) => self.matches(b),
            (HostPattern::Subdomains(a), HostPattern::Subdomains(b)) => {
                a == b || self.matches(b) || other.matches(a)
            }
        }
    }
}

impl std::fmt::Display for HostPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HostPattern::Exact(n) => f.write_str(n),
            HostPattern::Subdomains(n) => write!(f, "*.{n}"),
        }
    }
}

/// The host of a request's authority: lower-cased, port and trailing dot removed. `None` when
/// the authority is empty or holds anything but a DNS name or an IP literal (userinfo,
/// spaces, a bad port): such a request matches only routes for every host.
pub fn normalize_authority(authority: &str) -> Option<String> {
    let host = if let Some(rest) = authority.strip_prefix('[') {
        // An IPv6 literal: `[::1]` or `[::1]:8080`.
        let (inside, after) = rest.split_once(']')?;
        if !after.is_empty() && !port_ok(after.strip_prefix(':')?) {
            return None;
        }
        if !inside
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return None;
        }
        return Some(format!("[{}]", inside.to_ascii_lowercase()));
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) if port_ok(port) => host,
            Some(_) => return None,
            None => authority,
        }
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    let ok = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    ok.then(|| host.to_ascii_lowercase())
}

fn port_ok(port: &str) -> bool {
    !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn authorities_normalize() {
        assert_eq!(
            normalize_authority("Dex.Example.COM:443").as_deref(),
            Some("dex.example.com")
        );
        assert_eq!(
            normalize_authority("dex.example.com.").as_deref(),
            Some("dex.example.com")
        );
        assert_eq!(normalize_authority("[::1]:80").as_deref(), Some("[::1]"));
        for bad in [
            "",
            "a b",
            "user@dex.example.com",
            "dex.example.com:x",
            "[::1]x",
            "dex:",
        ] {
            assert_eq!(normalize_authority(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn patterns_match_like_envoy_virtual_hosts() {
        let exact = HostPattern::parse("dex.example.com").unwrap();
        assert!(exact.matches("dex.example.com"));
        assert!(!exact.matches("evil-dex.example.com"));
        let wild = HostPattern::parse("*.models.example.com").unwrap();
        assert!(wild.matches("fraud.models.example.com"));
        assert!(wild.matches("a.b.models.example.com"));
        assert!(!wild.matches("models.example.com"));
        assert!(!wild.matches("evilmodels.example.com"));
        for bad in [
            "",
            "*",
            "*.",
            "Dex.example.com",
            "a..b",
            "-a.com",
            "a.*.com",
            "a_b.com",
        ] {
            assert!(HostPattern::parse(bad).is_err(), "{bad}");
        }
        assert!(wild.meets(&HostPattern::parse("x.models.example.com").unwrap()));
        assert!(wild.meets(&HostPattern::parse("*.x.models.example.com").unwrap()));
        assert!(!wild.meets(&exact));
    }
}
