//! An inline JWKS from a `jwtRules[].jwks` string, made fit for a Gatehouse key file: public
//! members only, symmetric keys dropped, and the algorithms its keys can verify.

use gatehouse_filter::token::alg::Alg;
use serde_json::{Map, Value};

/// Members of a JWK that are private (RFC 7518 §6): never written to a Gatehouse key file.
const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "oth"];

/// A JWKS ready to write, with what had to change.
#[derive(Debug, Clone, PartialEq)]
pub struct KeySet {
    /// `{"keys": [...]}`, pretty JSON with a trailing newline.
    pub json: String,
    /// Algorithms the keys verify, in Gatehouse's names, sorted and unique.
    pub algorithms: Vec<String>,
    /// What was removed or guessed, for the notes.
    pub notes: Vec<String>,
}

/// Parses and cleans an inline JWKS; the error says why it is unusable.
pub fn from_inline(text: &str) -> Result<KeySet, String> {
    let doc: Value =
        serde_json::from_str(text).map_err(|e| format!("the inline `jwks` is not JSON: {e}"))?;
    let keys = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("the inline `jwks` has no `keys` array")?;
    let mut notes = Vec::new();
    let mut out = Vec::new();
    let mut algorithms = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let Some(obj) = key.as_object() else {
            return Err(format!("key {i} of the inline `jwks` is not an object"));
        };
        let label = obj
            .get("kid")
            .and_then(Value::as_str)
            .map_or_else(|| format!("#{i}"), |k| format!("`{k}`"));
        if obj.get("kty").and_then(Value::as_str) == Some("oct") {
            notes.push(format!(
                "key {label} is a symmetric (`oct`) key: dropped, Gatehouse never verifies with a shared secret"
            ));
            continue;
        }
        let public: Map<String, Value> = obj
            .iter()
            .filter(|(k, _)| !PRIVATE_MEMBERS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if public.len() != obj.len() {
            notes.push(format!(
                "key {label} held private members: only its public part was written (rotate that key: it was published)"
            ));
        }
        match algorithm(&public) {
            Some(a) => algorithms.push(a.to_string()),
            None => notes.push(format!(
                "key {label}: no algorithm Gatehouse supports fits it"
            )),
        }
        out.push(Value::Object(public));
    }
    if out.is_empty() {
        return Err(
            "the inline `jwks` holds no usable public key (symmetric `oct` keys are never used)"
                .into(),
        );
    }
    algorithms.sort();
    algorithms.dedup();
    let json = serde_json::to_string_pretty(&serde_json::json!({ "keys": out }))
        .map_err(|e| format!("cannot render the JWKS: {e}"))?;
    Ok(KeySet {
        json: json + "\n",
        algorithms,
        notes,
    })
}

/// The algorithm a key is for: its `alg` when Gatehouse supports it, else by key type
/// (RSA → RS256, P-256 → ES256, P-384 → ES384, Ed25519 → EdDSA).
fn algorithm(key: &Map<String, Value>) -> Option<&'static str> {
    if let Some(alg) = key.get("alg").and_then(Value::as_str) {
        return Alg::from_name(alg).map(Alg::name);
    }
    let s = |k: &str| key.get(k).and_then(Value::as_str);
    match (s("kty"), s("crv")) {
        (Some("RSA"), _) => Some("RS256"),
        (Some("EC"), Some("P-256")) => Some("ES256"),
        (Some("EC"), Some("P-384")) => Some("ES384"),
        (Some("OKP"), Some("Ed25519")) => Some("EdDSA"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn private_members_and_secrets_never_reach_the_key_file() {
        let ks = from_inline(
            r#"{"keys": [
                {"kty": "RSA", "kid": "a", "n": "xyz", "e": "AQAB", "d": "secret", "p": "x"},
                {"kty": "EC", "crv": "P-256", "kid": "b", "x": "1", "y": "2"},
                {"kty": "oct", "kid": "c", "k": "c2VjcmV0"},
                {"kty": "RSA", "kid": "d", "alg": "PS256", "n": "q", "e": "AQAB"}
            ]}"#,
        )
        .unwrap();
        assert!(!ks.json.contains("secret") && !ks.json.contains("c2VjcmV0"));
        assert_eq!(ks.algorithms, ["ES256", "PS256", "RS256"]);
        assert_eq!(ks.notes.len(), 2, "{:?}", ks.notes);
        assert!(from_inline("{}").is_err());
        assert!(from_inline(r#"{"keys": [{"kty": "oct", "k": "x"}]}"#).is_err());
        assert!(from_inline("not json").is_err());
    }
}
