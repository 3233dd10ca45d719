//! Request path normalization and query parsing.
//!
//! The engine judges the normalized path, and the filter forwards exactly that path upstream, so
//! what is judged is what is served. `/notebook/a/../b/x` is judged (and forwarded) as
//! `/notebook/b/x`; anything whose meaning could differ between Gatehouse and an upstream
//! (an encoded `/` or `\`, `..` above the root, `;` path parameters, control bytes, bad
//! percent-escapes) is refused as `bad_path`.

use crate::reason::DenyReason;

/// A normalized request path, split into decoded segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalizedPath {
    /// Canonical path: `/` + segments joined by `/`, with a trailing `/` kept when the request
    /// had one. Unreserved characters are decoded; other escapes are kept as upper-case `%XX`.
    pub path: String,
    /// Decoded segments (no empty ones).
    pub segments: Vec<String>,
    /// The raw query string (after `?`), unchanged.
    pub query: Option<String>,
}

impl NormalizedPath {
    /// The path to forward upstream: the canonical path plus the original query.
    pub fn forward_path(&self) -> String {
        match &self.query {
            Some(q) => format!("{}?{}", self.path, q),
            None => self.path.clone(),
        }
    }
}

/// Longest `:path` accepted (bytes), as received and as forwarded.
pub const MAX_PATH_LEN: usize = 8192;

/// Normalizes a raw `:path` (which may carry a query).
pub fn normalize(raw: &str) -> Result<NormalizedPath, DenyReason> {
    if raw.len() > MAX_PATH_LEN {
        return Err(DenyReason::BadPath);
    }
    let (path, query) = match raw.split_once('?') {
        Some((p, q)) => (p, Some(q.to_string())),
        None => (raw, None),
    };
    if !path.starts_with('/') {
        return Err(DenyReason::BadPath);
    }
    let trailing = path.len() > 1 && path.ends_with('/');
    // One allocation for the list: a path has at most as many segments as slashes.
    let mut segments: Vec<String> = Vec::with_capacity(path.bytes().filter(|b| *b == b'/').count());
    for raw_seg in path.split('/') {
        if raw_seg.is_empty() {
            continue; // INVARIANT: repeated slashes merge, as Envoy's merge_slashes does.
        }
        let seg = decode_segment(raw_seg)?;
        match seg.as_str() {
            "." => {}
            ".." => {
                if segments.pop().is_none() {
                    return Err(DenyReason::BadPath);
                }
            }
            _ => segments.push(seg),
        }
    }
    let mut out = String::with_capacity(path.len());
    for seg in &segments {
        out.push('/');
        encode_segment_into(seg, &mut out);
    }
    if out.is_empty() || (trailing && !segments.is_empty()) {
        out.push('/');
    }
    // A trailing dot segment (`/a/b/..`) leaves a directory: keep the slash.
    if !out.ends_with('/') && ends_with_dot_segment(path) {
        out.push('/');
    }
    // Re-encoding can lengthen a path (`` ` `` becomes `%60`): what is forwarded must itself be a
    // path this filter accepts, or the upstream would serve what a second look refuses.
    let forwarded = out.len() + query.as_ref().map_or(0, |q| q.len() + 1);
    if forwarded > MAX_PATH_LEN {
        return Err(DenyReason::BadPath);
    }
    Ok(NormalizedPath {
        path: out,
        segments,
        query,
    })
}

fn ends_with_dot_segment(path: &str) -> bool {
    let last = path.rsplit('/').next().unwrap_or("");
    matches!(
        last.to_ascii_lowercase().as_str(),
        "." | ".." | "%2e" | "%2e%2e" | ".%2e" | "%2e."
    )
}

/// Decodes one segment. Refuses encoded `/` and `\`, bad escapes, `;`, `\`, control and
/// non-ASCII bytes: each could make an upstream see a different path than the one judged.
fn decode_segment(raw: &str) -> Result<String, DenyReason> {
    let bytes = raw.as_bytes();
    if !bytes.contains(&b'%') {
        // The common case: nothing to decode, so the segment is the raw text once it passes
        // the same byte checks as below.
        if bytes
            .iter()
            .any(|&b| b == b'\\' || b == b';' || !(0x20..0x7f).contains(&b))
        {
            return Err(DenyReason::BadPath);
        }
        return Ok(raw.to_owned());
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hi = bytes.get(i + 1).and_then(|c| hex(*c));
            let lo = bytes.get(i + 2).and_then(|c| hex(*c));
            let (Some(hi), Some(lo)) = (hi, lo) else {
                return Err(DenyReason::BadPath);
            };
            let d = hi * 16 + lo;
            if d == b'/' || d == b'\\' || d == b';' || !(0x20..0x7f).contains(&d) {
                return Err(DenyReason::BadPath);
            }
            out.push(d);
            i += 3;
            continue;
        }
        if b == b'\\' || b == b';' || !(0x20..0x7f).contains(&b) {
            return Err(DenyReason::BadPath);
        }
        out.push(b);
        i += 1;
    }
    String::from_utf8(out).map_err(|_| DenyReason::BadPath)
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Re-encodes a decoded segment: characters that are safe in a path segment stay as they are,
/// everything else (`%`, `?`, `#`, space, …) becomes `%XX`. Decoding a `%25` gives `%`, which is
/// re-encoded, so double encoding never turns into a single decode upstream.
fn encode_segment_into(seg: &str, out: &mut String) {
    for b in seg.bytes() {
        let safe = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b'='
                    | b':'
                    | b'@'
            );
        if safe {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b >> 4)]));
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b & 15)]));
        }
    }
}

/// The values of query parameter `name` (form-decoded, name compared without ASCII case),
/// in order.
pub fn query_values(query: &str, name: &str) -> Vec<String> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            // Names compare without case: `NAMESPACE=b` is never a way around `namespace=a`.
            form_decode(k)
                .is_some_and(|k| k.eq_ignore_ascii_case(name))
                .then(|| form_decode(v))
        })
        .map(|v| v.unwrap_or_else(|| "\u{FFFD}".to_string()))
        .collect()
}

/// Decodes `application/x-www-form-urlencoded` text; `None` for bad escapes or non-UTF-8.
fn form_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = hex(*bytes.get(i + 1)?)?;
                let lo = hex(*bytes.get(i + 2)?)?;
                out.push(hi * 16 + lo);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Whether `s` is a valid Kubernetes namespace name (an RFC 1123 DNS label).
pub fn is_namespace_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn norm(p: &str) -> Result<String, DenyReason> {
        normalize(p).map(|n| n.forward_path())
    }

    #[test]
    fn dot_segments_resolve_before_judging() {
        assert_eq!(norm("/notebook/a/../b/x").unwrap(), "/notebook/b/x");
        assert_eq!(norm("/notebook/a/./b/").unwrap(), "/notebook/a/b/");
        assert_eq!(norm("/notebook/a/%2e%2e/b/x").unwrap(), "/notebook/b/x");
        assert_eq!(norm("/notebook/a/%2E./b").unwrap(), "/notebook/b");
        assert_eq!(norm("/a/b/..").unwrap(), "/a/");
        assert_eq!(norm("/..").unwrap_err(), DenyReason::BadPath);
        assert_eq!(norm("/a/../../b").unwrap_err(), DenyReason::BadPath);
    }

    #[test]
    fn slashes_merge_and_trailing_slash_is_kept() {
        assert_eq!(norm("//notebook///a//b/").unwrap(), "/notebook/a/b/");
        assert_eq!(norm("/").unwrap(), "/");
        assert_eq!(norm("//").unwrap(), "/");
        let n = normalize("/a//b/").unwrap();
        assert_eq!(n.segments, vec!["a", "b"]);
    }

    #[test]
    fn ambiguous_encodings_are_refused() {
        for bad in [
            "/notebook/a%2fb/x",
            "/notebook/a%2Fb/x",
            "/notebook/a%5cb",
            "/notebook/a\\b",
            "/notebook/a;x=y/b",
            "/notebook/a%3bx/b",
            "/a%zz",
            "/a%2",
            "/a%00b",
            "relative/path",
            "",
            "/a\u{e9}",
        ] {
            assert_eq!(norm(bad).unwrap_err(), DenyReason::BadPath, "{bad}");
        }
    }

    #[test]
    fn double_encoding_stays_encoded() {
        // `%252e%252e` decodes once to `%2e%2e`, a literal segment, re-encoded on the way out.
        let n = normalize("/notebook/%252e%252e/x").unwrap();
        assert_eq!(n.segments, vec!["notebook", "%2e%2e", "x"]);
        assert_eq!(n.path, "/notebook/%252e%252e/x");
    }

    #[test]
    fn unreserved_escapes_decode_and_query_is_kept() {
        let n = normalize("/pipeline/%61pis?namespace=a&x=%2f").unwrap();
        assert_eq!(n.segments, vec!["pipeline", "apis"]);
        assert_eq!(n.forward_path(), "/pipeline/apis?namespace=a&x=%2f");
    }

    #[test]
    fn query_values_decode_and_repeat() {
        assert_eq!(query_values("namespace=a&x=1", "namespace"), vec!["a"]);
        assert_eq!(
            query_values("namespace=a&namespace=b", "namespace"),
            vec!["a", "b"]
        );
        assert_eq!(query_values("na%6Despace=c", "namespace"), vec!["c"]);
        assert_eq!(query_values("namespace=a+b", "namespace"), vec!["a b"]);
        assert!(query_values("namespaces=a", "namespace").is_empty());
        assert_eq!(
            query_values("namespace=a&NAMESPACE=b", "namespace"),
            vec!["a", "b"]
        );
        assert_eq!(query_values("namespace=%zz", "namespace"), vec!["\u{FFFD}"]);
    }

    #[test]
    fn namespace_names_are_dns_labels() {
        assert!(is_namespace_name("team-a"));
        assert!(is_namespace_name("kubeflow-user-example-com"));
        for bad in ["", "A", "-a", "a-", "a_b", "a.b", &"a".repeat(64), "a b"] {
            assert!(!is_namespace_name(bad), "{bad}");
        }
    }
}
