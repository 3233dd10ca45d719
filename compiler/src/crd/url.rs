//! URL parsing as Kubernetes' CEL `isURL()` / `url()` do it: Go's `net/url.ParseRequestURI`
//! (an absolute URI or an absolute path; no fragment handling), ported for the cases CRD
//! rules meet: scheme syntax, control characters, userinfo characters, host characters,
//! port digits and `%` escapes.

/// The parts of a parsed URL that the CEL accessors return.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Url {
    /// Lower-cased scheme (`""` for an absolute path).
    pub scheme: String,
    /// `host[:port]` as written (IPv6 with brackets).
    pub host: String,
    /// The path, still escaped.
    pub escaped_path: String,
    /// The query without `?`.
    pub raw_query: String,
}

impl Url {
    /// The host without the port (and without IPv6 brackets).
    pub fn hostname(&self) -> &str {
        let host = self.host.as_str();
        if let Some(rest) = host.strip_prefix('[') {
            return rest.split(']').next().unwrap_or("");
        }
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    }

    /// The port, or `""`.
    pub fn port(&self) -> &str {
        let host = self.host.as_str();
        let tail = match host.strip_prefix('[') {
            Some(rest) => rest.split_once(']').map_or("", |(_, p)| p),
            None => host.rfind(':').map_or("", |i| &host[i..]),
        };
        tail.strip_prefix(':').unwrap_or("")
    }
}

/// Parses like Go's `url.ParseRequestURI`; the error says why not.
pub fn parse_request_uri(raw: &str) -> Result<Url, String> {
    if raw.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err("invalid control character in URL".into());
    }
    if raw.is_empty() {
        return Err("empty url".into());
    }
    let (scheme, rest) = split_scheme(raw)?;
    let mut url = Url {
        scheme: scheme.to_ascii_lowercase(),
        ..Url::default()
    };
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, q),
        None => (rest, ""),
    };
    url.raw_query = query.to_string();
    if !rest.starts_with('/') {
        if !url.scheme.is_empty() {
            // An opaque URL such as `mailto:x`.
            return Ok(url);
        }
        return Err("invalid URI for request".into());
    }
    let mut path = rest;
    if !url.scheme.is_empty() && rest.starts_with("//") {
        let after = &rest[2..];
        let (authority, p) = match after.find('/') {
            Some(i) => (&after[..i], &after[i..]),
            None => (after, ""),
        };
        url.host = parse_authority(authority)?;
        path = p;
    }
    unescape_check(path, false)?;
    url.escaped_path = path.to_string();
    Ok(url)
}

fn split_scheme(raw: &str) -> Result<(&str, &str), String> {
    for (i, c) in raw.char_indices() {
        match c {
            'a'..='z' | 'A'..='Z' => {}
            '0'..='9' | '+' | '-' | '.' if i > 0 => {}
            ':' if i == 0 => return Err("missing protocol scheme".into()),
            ':' => return Ok((&raw[..i], &raw[i + 1..])),
            _ => return Ok(("", raw)),
        }
    }
    Ok(("", raw))
}

fn parse_authority(authority: &str) -> Result<String, String> {
    let host = match authority.rfind('@') {
        Some(i) => {
            let userinfo = &authority[..i];
            if !userinfo.chars().all(valid_userinfo_char) {
                return Err("net/url: invalid userinfo".into());
            }
            &authority[i + 1..]
        }
        None => authority,
    };
    if let Some(rest) = host.strip_prefix('[') {
        let Some((_, after)) = rest.split_once(']') else {
            return Err("missing ']' in host".into());
        };
        if !after.is_empty() && !valid_port(after) {
            return Err(format!("invalid port `{after}` after host"));
        }
    } else if let Some(i) = host.rfind(':') {
        if !valid_port(&host[i..]) {
            return Err(format!("invalid port `{}` after host", &host[i..]));
        }
    }
    unescape_check(host, true)?;
    Ok(host.to_string())
}

/// `:` followed by digits only (or nothing).
fn valid_port(colon_port: &str) -> bool {
    colon_port
        .strip_prefix(':')
        .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

fn valid_userinfo_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._:~!$&'()*+,;=%@".contains(c)
}

/// Checks `%` escapes and, in a host, the characters Go refuses there.
fn unescape_check(s: &str, host: bool) -> Result<(), String> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let ok =
                b.len() > i + 2 && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit();
            if !ok {
                return Err(format!(
                    "invalid URL escape `{}`",
                    &s[i..(i + 3).min(s.len())]
                ));
            }
            i += 3;
            continue;
        }
        let c = b[i];
        if host
            && c < 0x80
            && !(c.is_ascii_alphanumeric() || b"-_.~!$&'()*+,;=:[]<>\"".contains(&c))
        {
            return Err(format!("invalid character `{}` in host name", c as char));
        }
        i += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn absolute_urls_and_paths_parse() {
        let u = parse_request_uri("oci://ghcr.io/acme/gatehouse:1.0").unwrap();
        assert_eq!((u.scheme.as_str(), u.host.as_str()), ("oci", "ghcr.io"));
        assert_eq!(u.escaped_path, "/acme/gatehouse:1.0");
        let u = parse_request_uri("file:///opt/filters/x.wasm").unwrap();
        assert_eq!((u.scheme.as_str(), u.host.as_str()), ("file", ""));
        let u = parse_request_uri("HTTPS://user@h.example:8443/p?q=1").unwrap();
        assert_eq!(
            (u.scheme.as_str(), u.hostname(), u.port()),
            ("https", "h.example", "8443")
        );
        assert_eq!(u.raw_query, "q=1");
        let u = parse_request_uri("http://[::1]:80/").unwrap();
        assert_eq!((u.hostname(), u.port()), ("::1", "80"));
        assert!(parse_request_uri("/just/a/path").is_ok());
    }

    #[test]
    fn what_go_refuses_is_refused() {
        for bad in [
            "test",
            "#%blah$#@",
            "http://#%blah$#@",
            "http://h:x/",
            "http://a b/",
            "",
            ":x",
            "/%zz",
        ] {
            assert!(parse_request_uri(bad).is_err(), "{bad}");
        }
    }
}
