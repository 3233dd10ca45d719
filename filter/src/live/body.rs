//! Reading what a key endpoint answers: a JWKS document, one ALB PEM, `Cache-Control:
//! max-age`, and the shape of an ALB kid. Bodies are network input: the caller caps their size
//! before they get here, and nothing here panics on any input.

use crate::table::PublicJwk;
use crate::token::keys::{jwk_from_pem, parse_jwks, public_key, JwksKey, PublicKey};

/// Most keys accepted in one fetched JWKS document.
pub const MAX_KEYS_PER_SET: usize = 100;

/// A key fetched from a key endpoint, ready to verify with.
#[derive(Debug, Clone)]
pub(crate) struct FetchedKey {
    /// Its `kid` (a JWKS may hold one key without kid, which then answers any kid).
    pub(crate) kid: Option<String>,
    /// The key.
    pub(crate) key: PublicKey,
}

/// Reads a fetched JWKS document with the same rules as the compiled seed
/// ([`parse_jwks`]: no private members, usable keys only, distinct kids), at most
/// [`MAX_KEYS_PER_SET`] keys, each usable by a verifier.
pub(crate) fn jwks_keys(body: &[u8]) -> Result<Vec<FetchedKey>, String> {
    Ok(read_jwks(body)?
        .into_iter()
        .map(|(k, key)| FetchedKey { kid: k.kid, key })
        .collect())
}

/// Reads a fetched JWKS document exactly as the gateway does ([`jwks_keys`]), for tools that
/// fetch key sets themselves (`gatehouse keys refresh`): the keys, as read.
pub fn read_fetched_jwks(body: &[u8]) -> Result<Vec<JwksKey>, String> {
    Ok(read_jwks(body)?.into_iter().map(|(k, _)| k).collect())
}

fn read_jwks(body: &[u8]) -> Result<Vec<(JwksKey, PublicKey)>, String> {
    let text = std::str::from_utf8(body).map_err(|_| "jwks is not utf-8".to_owned())?;
    let keys = parse_jwks(text)?;
    if keys.len() > MAX_KEYS_PER_SET {
        return Err(format!(
            "jwks holds {} keys; at most {MAX_KEYS_PER_SET} are accepted",
            keys.len()
        ));
    }
    keys.into_iter()
        .map(|k| {
            let key = public_key(&k.jwk)
                .map_err(|e| format!("key `{}`: {e}", k.kid.as_deref().unwrap_or("(no kid)")))?;
            Ok((k, key))
        })
        .collect()
}

/// Reads the ALB's answer for one kid: an SPKI PEM holding an EC P-256 key (the ALB signs
/// with ES256 only).
pub(crate) fn alb_key(body: &[u8]) -> Result<PublicKey, String> {
    let text = std::str::from_utf8(body).map_err(|_| "pem is not utf-8".to_owned())?;
    let jwk = jwk_from_pem(text)?;
    if !matches!(&jwk, PublicJwk::Ec { crv, .. } if crv == "P-256") {
        return Err("alb keys must be EC P-256".into());
    }
    public_key(&jwk)
}

/// The `max-age` of the response's `Cache-Control` headers, seconds, when one is given
/// (`s-maxage` and other directives are ignored; an unreadable value counts as absent).
pub fn max_age(headers: &[(String, String)]) -> Option<u64> {
    headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("cache-control"))
        .flat_map(|(_, value)| value.split(','))
        .find_map(|directive| {
            let (name, value) = directive.split_once('=')?;
            if !name.trim().eq_ignore_ascii_case("max-age") {
                return None;
            }
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            // Digits only: a value too large for u64 is "a very long time".
            Some(value.parse::<u64>().unwrap_or(u64::MAX))
        })
}

/// Whether `kid` has the shape of an ALB kid: a UUID, 8-4-4-4-12 hex digits. Only such kids
/// are ever put into a fetch path, so a kid can never add path segments or a query.
pub fn is_uuid(kid: &str) -> bool {
    let bytes = kid.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}
