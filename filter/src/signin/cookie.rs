//! The sign-in's cookies: sealed with AES-256-GCM under keys from the gateway's environment,
//! bound to what they are for (the session or a sign-in in progress) and to their issuer, and
//! split across several cookies when one would be too large for browsers.
//!
//! A sealed value is `v1.<kid>.<base64url(nonce || ciphertext || tag)>`; the associated data
//! is `gatehouse/v1/<purpose>/<kid>`, so a value sealed for one purpose or issuer never opens
//! as another. Nothing in a cookie is trusted because it opened: the session's ID token is
//! verified on every request like a bearer token.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};

/// Largest value of one cookie, in bytes (browsers keep at least 4096 per cookie, name and
/// attributes included).
pub const CHUNK_BYTES: usize = 3800;
/// Most cookies one session is split into: a larger ID token cannot be kept.
pub const MAX_CHUNKS: usize = 8;
/// Longest `Cookie` header text read, bytes (all `Cookie` headers together).
pub const MAX_COOKIE_BYTES: usize = 64 * 1024;

/// The keys cookies are sealed and opened with: the first seals, every one opens.
pub struct CookieKeys {
    keys: Vec<(String, LessSafeKey)>,
}

impl std::fmt::Debug for CookieKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<&str> = self.keys.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("CookieKeys").field("kids", &kids).finish()
    }
}

/// Why a cookie does not open (never says more: the value is hostile input).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unopened {
    /// Not `v1.<kid>.<data>`, or its data is not base64url, or too short.
    Malformed,
    /// Sealed under a key id the gateway does not have (an old key, another gateway's).
    UnknownKey,
    /// The tag does not verify: tampered, truncated, or sealed for another purpose.
    Tampered,
}

impl Unopened {
    /// Words for a log line.
    pub fn describe(self) -> &'static str {
        match self {
            Unopened::Malformed => "the cookie is not a sealed Gatehouse value",
            Unopened::UnknownKey => "the cookie is sealed under a key this gateway does not hold",
            Unopened::Tampered => "the cookie does not open: tampered, truncated or not ours",
        }
    }
}

impl CookieKeys {
    /// Reads `kid:key,kid:key`: key ids of letters, digits, `-` and `_` (1–32), keys of exactly
    /// 32 bytes in base64url (unpadded or padded). The message never holds a key.
    pub fn parse(text: &str) -> Result<CookieKeys, String> {
        let mut keys: Vec<(String, LessSafeKey)> = Vec::new();
        for (i, part) in text.split(',').map(str::trim).enumerate() {
            let n = i + 1;
            let Some((kid, key)) = part.split_once(':') else {
                return Err(format!("cookie key {n} is not `kid:key`"));
            };
            let kid_ok = (1..=32).contains(&kid.len())
                && kid
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !kid_ok {
                return Err(format!(
                    "cookie key {n}: its id must be 1 to 32 letters, digits, `-` or `_`"
                ));
            }
            if keys.iter().any(|(k, _)| k == kid) {
                return Err(format!("cookie key id `{kid}` is given twice"));
            }
            let bytes = B64
                .decode(key.trim_end_matches('='))
                .map_err(|_| format!("cookie key `{kid}` is not base64url"))?;
            if bytes.len() != 32 {
                return Err(format!(
                    "cookie key `{kid}` holds {} bytes; it must hold 32 (`openssl rand -base64 32 | tr '+/' '-_'`)",
                    bytes.len()
                ));
            }
            let unbound = UnboundKey::new(&AES_256_GCM, &bytes)
                .map_err(|_| format!("cookie key `{kid}` is not an AES-256 key"))?;
            keys.push((kid.to_owned(), LessSafeKey::new(unbound)));
        }
        if keys.is_empty() {
            return Err("no cookie key".into());
        }
        Ok(CookieKeys { keys })
    }

    /// Seals `plain` for `purpose` under the first key.
    pub fn seal(&self, purpose: &str, plain: &[u8]) -> Result<String, String> {
        let (kid, key) = self.keys.first().ok_or("no cookie key")?;
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| "no randomness for a cookie nonce".to_string())?;
        let mut data = plain.to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad(purpose, kid)),
            &mut data,
        )
        .map_err(|_| "sealing a cookie failed".to_string())?;
        let mut out = Vec::with_capacity(NONCE_LEN + data.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&data);
        Ok(format!("v1.{kid}.{}", B64.encode(out)))
    }

    /// Opens a value [`CookieKeys::seal`] made for `purpose`.
    pub fn open(&self, purpose: &str, sealed: &str) -> Result<Vec<u8>, Unopened> {
        let mut parts = sealed.splitn(3, '.');
        let (Some("v1"), Some(kid), Some(data)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(Unopened::Malformed);
        };
        let mut bytes = B64.decode(data).map_err(|_| Unopened::Malformed)?;
        if bytes.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(Unopened::Malformed);
        }
        let (_, key) = self
            .keys
            .iter()
            .find(|(k, _)| k == kid)
            .ok_or(Unopened::UnknownKey)?;
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&bytes[..NONCE_LEN]);
        let plain = key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad(purpose, kid)),
                &mut bytes[NONCE_LEN..],
            )
            .map_err(|_| Unopened::Tampered)?;
        Ok(plain.to_vec())
    }
}

fn aad(purpose: &str, kid: &str) -> Vec<u8> {
    format!("gatehouse/v1/{purpose}/{kid}").into_bytes()
}

/// Every `name=value` pair of the request's `Cookie` headers, in order (values as sent). A
/// pair without `=` is skipped; reading stops at [`MAX_COOKIE_BYTES`].
pub fn request_cookies(headers: &[(String, Vec<u8>)]) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    let mut read = 0usize;
    for (name, value) in headers {
        if !name.eq_ignore_ascii_case("cookie") {
            continue;
        }
        read = read.saturating_add(value.len());
        if read > MAX_COOKIE_BYTES {
            break;
        }
        let Ok(text) = std::str::from_utf8(value) else {
            continue;
        };
        for pair in text.split(';') {
            if let Some((n, v)) = pair.trim().split_once('=') {
                out.push((n.trim(), v.trim()));
            }
        }
    }
    out
}

/// The first value of cookie `name`.
pub fn cookie<'a>(cookies: &[(&'a str, &'a str)], name: &str) -> Option<&'a str> {
    cookies.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

/// The name of chunk `i` of a value kept under `name` (chunk 0 is `name` itself).
pub fn chunk_name(name: &str, i: usize) -> String {
    match i {
        0 => name.to_owned(),
        i => format!("{name}-{i}"),
    }
}

/// Splits a sealed value into the values of its cookies: the first says how many there are
/// (`<n>.<part>`), so stale chunks of an older, larger session are never read. `None` when it
/// needs more than [`MAX_CHUNKS`].
pub fn split(sealed: &str) -> Option<Vec<String>> {
    let room = CHUNK_BYTES - 2;
    let parts: Vec<&str> = sealed
        .as_bytes()
        .chunks(room)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect();
    if parts.is_empty() || parts.len() > MAX_CHUNKS {
        return None;
    }
    let n = parts.len();
    Some(
        parts
            .into_iter()
            .enumerate()
            .map(|(i, p)| match i {
                0 => format!("{n}.{p}"),
                _ => p.to_owned(),
            })
            .collect(),
    )
}

/// Joins the chunks of the value kept under `name`; `None` when its first cookie is missing,
/// names a count out of range, or a chunk is missing.
pub fn join(cookies: &[(&str, &str)], name: &str) -> Option<String> {
    let first = cookie(cookies, name)?;
    let (n, part) = first.split_once('.')?;
    let n: usize = n.parse().ok().filter(|n| (1..=MAX_CHUNKS).contains(n))?;
    let mut out = part.to_owned();
    for i in 1..n {
        out.push_str(cookie(cookies, &chunk_name(name, i))?);
    }
    Some(out)
}

/// How the gateway writes its cookies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieAttributes {
    /// `Secure`.
    pub secure: bool,
    /// `Domain`, when set.
    pub domain: Option<String>,
}

impl CookieAttributes {
    /// A `Set-Cookie` value: `HttpOnly`, `SameSite=Lax`, `Path=/`, and `Max-Age` (0 clears).
    pub fn set_cookie(&self, name: &str, value: &str, max_age: u64) -> String {
        let mut out = format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax");
        if self.secure {
            out.push_str("; Secure");
        }
        if let Some(d) = &self.domain {
            out.push_str("; Domain=");
            out.push_str(d);
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    const K1: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
    const K2: &str = "k2:HxwdHhsaGRgXFhUUExIREA8ODQwLCgkIBwYFBAMCAQA";

    #[test]
    fn sealed_values_open_only_for_their_purpose_and_keys() {
        let keys = CookieKeys::parse(K1).unwrap();
        let sealed = keys.seal("session:dex", b"hello").unwrap();
        assert!(sealed.starts_with("v1.k1."));
        assert_eq!(keys.open("session:dex", &sealed).unwrap(), b"hello");
        assert_eq!(
            keys.open("signin:dex", &sealed),
            Err(Unopened::Tampered),
            "another purpose"
        );
        assert_eq!(keys.open("session:other", &sealed), Err(Unopened::Tampered));
        // Every single-character change of the data refuses it.
        let data_at = sealed.rfind('.').unwrap() + 1;
        for i in data_at..sealed.len() {
            let mut b = sealed.clone().into_bytes();
            b[i] = if b[i] == b'A' { b'B' } else { b'A' };
            let changed = String::from_utf8(b).unwrap();
            assert!(keys.open("session:dex", &changed).is_err(), "at {i}");
        }
        // Truncated.
        assert!(keys
            .open("session:dex", &sealed[..sealed.len() - 4])
            .is_err());
        assert_eq!(keys.open("session:dex", "v1.k1"), Err(Unopened::Malformed));
        assert_eq!(keys.open("session:dex", "x"), Err(Unopened::Malformed));
        // A key this gateway does not hold; and a key id swapped for one it holds.
        let foreign = CookieKeys::parse(K2).unwrap();
        assert_eq!(
            keys.open("session:dex", &foreign.seal("session:dex", b"x").unwrap()),
            Err(Unopened::UnknownKey)
        );
        let renamed = CookieKeys::parse(&K2.replace("k2:", "k1:")).unwrap();
        assert_eq!(
            keys.open("session:dex", &renamed.seal("session:dex", b"x").unwrap()),
            Err(Unopened::Tampered)
        );
    }

    #[test]
    fn keys_rotate_old_and_new() {
        let old = CookieKeys::parse(K1).unwrap();
        let both = CookieKeys::parse(&format!("{K2},{K1}")).unwrap();
        let by_old = old.seal("p", b"x").unwrap();
        assert_eq!(both.open("p", &by_old).unwrap(), b"x");
        assert!(both.seal("p", b"x").unwrap().starts_with("v1.k2."));
        // Two seals of one value differ (a fresh nonce each).
        assert_ne!(both.seal("p", b"x").unwrap(), both.seal("p", b"x").unwrap());
    }

    #[test]
    fn bad_key_text_is_refused_with_what_is_wrong() {
        for (text, why) in [
            ("", "not `kid:key`"),
            ("k1", "not `kid:key`"),
            ("k 1:AAAA", "its id"),
            ("k1:!!", "not base64url"),
            ("k1:AAEC", "holds 3 bytes"),
            (&format!("{K1},{K1}"), "twice"),
        ] {
            let e = CookieKeys::parse(text).unwrap_err();
            assert!(e.contains(why), "{text}: {e}");
            assert!(!e.contains("AAECAwQF"), "a key in a message: {e}");
        }
    }

    #[test]
    fn large_values_split_and_join_and_stale_chunks_are_not_read() {
        let value = "v1.k1.".to_owned() + &"a".repeat(9000);
        let parts = split(&value).unwrap();
        assert_eq!(parts.len(), 3);
        assert!(parts.iter().all(|p| p.len() <= CHUNK_BYTES));
        let names: Vec<String> = (0..parts.len()).map(|i| chunk_name("s", i)).collect();
        let mut cookies: Vec<(&str, &str)> = names
            .iter()
            .map(String::as_str)
            .zip(parts.iter().map(String::as_str))
            .collect();
        assert_eq!(join(&cookies, "s").unwrap(), value);
        cookies.push(("s-3", "stale"));
        assert_eq!(join(&cookies, "s").unwrap(), value);
        cookies.remove(1);
        assert_eq!(join(&cookies, "s"), None, "a chunk missing");
        assert_eq!(join(&[("s", "9.x")], "s"), None);
        assert_eq!(join(&[("s", "x")], "s"), None);
        assert!(split(&"a".repeat(CHUNK_BYTES * MAX_CHUNKS)).is_none());
    }

    #[test]
    fn cookie_headers_are_read_in_order() {
        let headers = vec![
            ("cookie".to_owned(), b"a=1; b = 2;c".to_vec()),
            ("Cookie".to_owned(), b"a=3".to_vec()),
        ];
        let c = request_cookies(&headers);
        assert_eq!(c, vec![("a", "1"), ("b", "2"), ("a", "3")]);
        assert_eq!(cookie(&c, "a"), Some("1"));
    }
}
