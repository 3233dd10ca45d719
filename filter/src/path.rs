//! Request path normalization and query parsing.
//!
//! The engine judges the normalized path, and the filter forwards exactly that path upstream, so
//! what is judged is what is served. `/notebook/a/../b/x` is judged (and forwarded) as
//! `/notebook/b/x`; anything whose meaning could differ between Gatehouse and an upstream
//! (an encoded `/` or `\`, `..` above the root, `;` path parameters, control bytes, bad
//! percent-escapes) is refused as `bad_path`.

use std::borrow::Cow;

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
    // One allocation for each list: a path has at most as many segments as slashes. `segments`
    // are decoded (what routes match); `canonical` are the same segments as forwarded.
    let slashes = path.bytes().filter(|b| *b == b'/').count();
    let mut segments: Vec<String> = Vec::with_capacity(slashes);
    let mut canonical: Vec<Cow<'_, str>> = Vec::with_capacity(slashes);
    for raw_seg in path.split('/') {
        if raw_seg.is_empty() {
            continue; // INVARIANT: repeated slashes merge, as Envoy's merge_slashes does.
        }
        let (seg, canon) = decode_segment(raw_seg)?;
        match seg.as_str() {
            "." => {}
            ".." => {
                if segments.pop().is_none() {
                    return Err(DenyReason::BadPath);
                }
                canonical.pop();
            }
            _ => {
                segments.push(seg);
                canonical.push(canon);
            }
        }
    }
    let mut out = String::with_capacity(path.len());
    for seg in &canonical {
        out.push('/');
        out.push_str(seg);
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

/// Decodes one segment into what routes match and what is forwarded. Refuses encoded `/` and
/// `\`, bad escapes, `;`, `\`, control and non-ASCII bytes: each could make an upstream see a
/// different path than the one judged.
///
/// The forwarded form decodes only escapes of unreserved characters (RFC 3986 §2.3: letters,
/// digits, `-._~`), whose meaning no upstream can change; every other escape stays encoded, in
/// upper case (`%2B` stays `%2B`, never `+`), and a literal character that is not safe in a
/// segment is encoded.
fn decode_segment(raw: &str) -> Result<(String, Cow<'_, str>), DenyReason> {
    let bytes = raw.as_bytes();
    let refused = |b: u8| b == b'\\' || b == b';' || !(0x20..0x7f).contains(&b);
    if !bytes.contains(&b'%') {
        // The common case: nothing to decode, so the segment is the raw text once it passes
        // the same byte checks as below.
        if bytes.iter().any(|&b| refused(b)) {
            return Err(DenyReason::BadPath);
        }
        if bytes.iter().all(|&b| segment_safe(b)) {
            return Ok((raw.to_owned(), Cow::Borrowed(raw)));
        }
    }
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut canonical = String::with_capacity(bytes.len() + 8);
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
            if d == b'/' || refused(d) {
                return Err(DenyReason::BadPath);
            }
            decoded.push(d);
            if unreserved(d) {
                canonical.push(char::from(d));
            } else {
                push_escape(d, &mut canonical);
            }
            i += 3;
            continue;
        }
        if refused(b) {
            return Err(DenyReason::BadPath);
        }
        decoded.push(b);
        if segment_safe(b) {
            canonical.push(char::from(b));
        } else {
            push_escape(b, &mut canonical);
        }
        i += 1;
    }
    let decoded = String::from_utf8(decoded).map_err(|_| DenyReason::BadPath)?;
    Ok((decoded, Cow::Owned(canonical)))
}

/// RFC 3986 unreserved characters: the only ones whose escapes decode on the way out.
fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Characters that stand for themselves in a segment (unreserved, sub-delims, `:` and `@`);
/// any other literal (`%` itself, `?`, `#`, space, `"`, …) is forwarded encoded.
fn segment_safe(b: u8) -> bool {
    unreserved(b)
        || matches!(
            b,
            b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b'=' | b':' | b'@'
        )
}

fn push_escape(b: u8, out: &mut String) {
    out.push('%');
    out.push(char::from(b"0123456789ABCDEF"[usize::from(b >> 4)]));
    out.push(char::from(b"0123456789ABCDEF"[usize::from(b & 15)]));
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
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

/// Whether the query also spells parameter `name` in a way some framework reads and
/// [`query_values`] does not: `name[]=` / `name[0]=` (PHP, Rack, qs) or a `;`-separated pair
/// (`x=1;name=b`, read by parsers that take `;` as a separator). A route that takes its
/// namespace from the query treats such a query as ambiguous.
pub fn query_has_other_spelling(query: &str, name: &str) -> bool {
    let named = |k: &str| {
        form_decode(k).is_some_and(|k| {
            k.get(..name.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(name))
                && k.as_bytes().get(name.len()) == Some(&b'[')
        })
    };
    query.split('&').any(|pair| {
        let key = pair.split_once('=').map_or(pair, |(k, _)| k);
        named(key)
            || (pair.contains(';')
                && pair.split(';').any(|sub| {
                    let k = sub.split_once('=').map_or(sub, |(k, _)| k);
                    form_decode(k).is_some_and(|k| k.eq_ignore_ascii_case(name)) || named(k)
                }))
    })
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
    fn reserved_escapes_stay_encoded() {
        // Only unreserved escapes decode on the way out: `%2B%26%3D%40%3A` is not `+&=@:`.
        let n = normalize("/serving/a%2B%26%3D%40%3Ab/%7e%41").unwrap();
        assert_eq!(n.path, "/serving/a%2B%26%3D%40%3Ab/~A");
        assert_eq!(n.segments, vec!["serving", "a+&=@:b", "~A"]);
        // Escapes are forwarded upper-cased; literals that are safe stay literal.
        assert_eq!(norm("/a/%2b+/%3f").unwrap(), "/a/%2B+/%3F");
        assert_eq!(norm("/a/%25/x").unwrap(), "/a/%25/x");
        // Literal characters that are not safe in a segment are encoded.
        assert_eq!(norm("/a/`b`").unwrap(), "/a/%60b%60");
        // The forwarded path is a fixed point: normalizing it again changes nothing.
        for p in [
            "/serving/a%2B%26%3D%40%3Ab/%7e%41",
            "/a/%2b+/%3f",
            "/a/`b`/../c",
        ] {
            let once = norm(p).unwrap();
            assert_eq!(norm(&once).unwrap(), once, "{p}");
        }
    }

    #[test]
    fn other_spellings_of_a_query_parameter_are_found() {
        for q in [
            "namespace[]=b",
            "namespace%5B%5D=b",
            "NAMESPACE[0]=b",
            "x=1;namespace=b&namespace=a",
            "namespace=a;x=1",
            "x=1;namespace[]=b",
        ] {
            assert!(query_has_other_spelling(q, "namespace"), "{q}");
        }
        for q in [
            "namespace=a",
            "namespaces[]=b",
            "x=1;y=2&namespace=a",
            "x=a;b",
            "",
        ] {
            assert!(!query_has_other_spelling(q, "namespace"), "{q}");
        }
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
