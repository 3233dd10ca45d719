//! One issuer's seed refresh: the fetched JWKS read with the filter's own rules, the keys the
//! issuer can use kept, the change against the seed file described by kid, and the file
//! replaced atomically only when its keys change.

use std::collections::BTreeSet;
use std::path::Path;

use gatehouse_filter::live::read_fetched_jwks;
use gatehouse_filter::table::PublicJwk;
use gatehouse_filter::token::keys::parse_jwks;
use serde_json::Value;

use crate::compile::keys::{describe, fits};
use crate::model::issuer::Algorithm;

/// Keys by kid, in a document's order.
pub type KeySet = Vec<(Option<String>, PublicJwk)>;

/// A fetched key set, ready to be written as the seed.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchedSet {
    /// `(kid, key)` of every key kept, in the document's order.
    pub keys: KeySet,
    /// The seed file's new contents: the kept keys' JWK objects as published.
    pub document: String,
    /// Keys left out, with why (they fit none of the issuer's algorithms).
    pub skipped: Vec<String>,
}

fn label(kid: &Option<String>) -> String {
    kid.as_deref()
        .map_or_else(|| "(no kid)".to_string(), |k| format!("`{k}`"))
}

/// Reads a fetched JWKS `body` as the filter reads a fetched set (the seed's JWKS rules, at
/// most `MAX_KEYS_PER_SET` keys, each usable) and keeps the keys that fit one of `algorithms` (the
/// others would make the policy fail to compile).
pub fn read_fetched(body: &[u8], algorithms: &[Algorithm]) -> Result<FetchedSet, String> {
    // The gateway's own reader: what it would refuse is refused here.
    let parsed = read_fetched_jwks(body)?;
    // It read every entry of `keys` in order (or failed): the objects line up.
    let doc: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let objects = doc
        .get("keys")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut keys = Vec::new();
    let mut kept = Vec::new();
    let mut skipped = Vec::new();
    for (k, object) in parsed.into_iter().zip(objects) {
        if algorithms.iter().any(|a| fits(&k.jwk, *a)) {
            keys.push((k.kid, k.jwk));
            kept.push(object);
        } else {
            let names: Vec<&str> = algorithms.iter().map(|a| a.name()).collect();
            skipped.push(format!(
                "{} ({} fits none of {})",
                label(&k.kid),
                describe(&k.jwk),
                names.join(", ")
            ));
        }
    }
    if keys.is_empty() {
        return Err(format!(
            "no key in the document fits the issuer's algorithms: {}",
            skipped.join("; ")
        ));
    }
    let mut document = serde_json::to_string_pretty(&serde_json::json!({ "keys": kept }))
        .map_err(|e| e.to_string())?;
    document.push('\n');
    Ok(FetchedSet {
        keys,
        document,
        skipped,
    })
}

/// The keys of the seed file as it is: `None` when it does not exist; an error when it
/// exists but is not a JWKS (it is then replaced).
pub fn read_seed(path: &Path) -> Result<Option<KeySet>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let keys = parse_jwks(&text)?;
    Ok(Some(keys.into_iter().map(|k| (k.kid, k.jwk)).collect()))
}

/// What changes from `old` to `new`, by kid: added, removed, and kept with other key material.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Change {
    /// Kids only in the new set.
    pub added: Vec<String>,
    /// Kids only in the old set.
    pub removed: Vec<String>,
    /// Kids in both, with a different key.
    pub replaced: Vec<String>,
}

impl Change {
    /// The change from `old` to `new`.
    pub fn between(
        old: &[(Option<String>, PublicJwk)],
        new: &[(Option<String>, PublicJwk)],
    ) -> Change {
        let kids = |set: &[(Option<String>, PublicJwk)]| -> BTreeSet<String> {
            set.iter().map(|(k, _)| label(k)).collect()
        };
        let (before, after) = (kids(old), kids(new));
        let replaced = new
            .iter()
            .filter(|(kid, jwk)| old.iter().any(|(k, j)| k == kid && j != jwk))
            .map(|(kid, _)| label(kid))
            .collect();
        Change {
            added: after.difference(&before).cloned().collect(),
            removed: before.difference(&after).cloned().collect(),
            replaced,
        }
    }

    /// Whether nothing changes.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.replaced.is_empty()
    }

    /// `added `a`; removed `b``, for the report.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        for (what, kids) in [
            ("added", &self.added),
            ("removed", &self.removed),
            ("replaced", &self.replaced),
        ] {
            if !kids.is_empty() {
                parts.push(format!("{what} {}", kids.join(", ")));
            }
        }
        parts.join("; ")
    }
}

/// Replaces `path` with `contents`: written beside it under a temporary name, then renamed
/// over it, so a reader never sees half a file.
pub fn write_atomically(path: &Path, contents: &str) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, contents)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The demo Dex key's modulus, a real RSA-2048 key.
    fn modulus() -> String {
        let doc: Value =
            serde_json::from_str(include_str!("../../../testdata/keys/dex.jwks.json")).unwrap();
        doc["keys"][0]["n"].as_str().unwrap().to_string()
    }

    fn jwks(kids: &[&str]) -> String {
        let keys: Vec<Value> = kids
            .iter()
            .map(|k| serde_json::json!({"kty": "RSA", "kid": k, "use": "sig", "n": modulus(), "e": "AQAB"}))
            .collect();
        serde_json::json!({ "keys": keys }).to_string()
    }

    #[test]
    fn a_fetched_set_keeps_the_published_members_of_usable_keys() {
        let set = read_fetched(jwks(&["a", "b"]).as_bytes(), &[Algorithm::Rs256]).unwrap();
        assert_eq!(set.keys.len(), 2);
        assert!(set.document.ends_with("}\n"));
        let doc: Value = serde_json::from_str(&set.document).unwrap();
        assert_eq!(doc["keys"][1]["kid"], "b");
        assert_eq!(doc["keys"][0]["use"], "sig");
        // A key of another algorithm is left out, and no usable key at all is an error.
        let e = read_fetched(jwks(&["a"]).as_bytes(), &[Algorithm::Es256]).unwrap_err();
        assert!(e.contains("`a` (RSA fits none of ES256)"), "{e}");
        for (bad, why) in [
            ("{\"keys\": []}", "empty"),
            ("not json", "invalid jwks json"),
            (
                "{\"keys\": [{\"kty\": \"oct\", \"k\": \"AA\"}]}",
                "private member",
            ),
        ] {
            let e = read_fetched(bad.as_bytes(), &[Algorithm::Rs256]).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn changes_are_told_by_kid() {
        let set = |kids: &[&str]| {
            read_fetched(jwks(kids).as_bytes(), &[Algorithm::Rs256])
                .unwrap()
                .keys
        };
        let c = Change::between(&set(&["a", "b"]), &set(&["b", "c"]));
        assert_eq!(c.describe(), "added `c`; removed `a`");
        assert!(Change::between(&set(&["a"]), &set(&["a"])).is_empty());
        let mut other = set(&["a"]);
        other[0].1 = PublicJwk::Rsa {
            n: "AQAB".into(),
            e: "AQAB".into(),
        };
        assert_eq!(
            Change::between(&set(&["a"]), &other).describe(),
            "replaced `a`"
        );
    }
}
