//! The table on the wire. One contract ([`Table`]), three forms:
//!
//! - **JSON**, for people and Git: what `gatehouse compile` writes by default.
//! - **Binary** (`GHTB`), for gateways: the JSON contract minus the grants, plus the grants with
//!   every name interned and every number a varint ([`postcard`]). Provenance (`source`) is not
//!   in it: the gateway never reads it. A 100k-binding table is a few MB instead of 30.
//! - **Signed** (`GHTS`): a binary table with an Ed25519 signature, for tables the gateway
//!   fetches by reference. [`open`] checks it against the trusted keys before anything of the
//!   table is read.
//!
//! Layouts (integers little-endian):
//!
//! ```text
//! binary: "GHTB" | format version: u32 | postcard(Compact)
//! signed: "GHTS" | envelope version: u8 = 1 | public key: 32 | signature: 64 | binary
//! ```
//!
//! The signature covers [`SIGNING_CONTEXT`] followed by the binary table, so a signature made
//! for anything else never verifies as a table's.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::table::{GrantSpec, Table, FORMAT_VERSION};

/// First bytes of a binary table.
pub const BINARY_MAGIC: &[u8; 4] = b"GHTB";
/// First bytes of a signed table.
pub const SIGNED_MAGIC: &[u8; 4] = b"GHTS";
/// What a table signature signs before the table's bytes.
pub const SIGNING_CONTEXT: &[u8] = b"gatehouse table signature v1\0";
/// The signed envelope's version.
const ENVELOPE_VERSION: u8 = 1;
/// Bytes before the binary table in a signed one.
const ENVELOPE_HEADER: usize = 4 + 1 + 32 + 64;

/// Which form a table's bytes are in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// JSON (starts with `{`, after any whitespace).
    Json,
    /// Binary (`GHTB`).
    Binary,
    /// Signed (`GHTS`).
    Signed,
}

/// The form of `bytes`, or `None` when they are none of the three.
pub fn form(bytes: &[u8]) -> Option<Form> {
    if bytes.starts_with(BINARY_MAGIC) {
        return Some(Form::Binary);
    }
    if bytes.starts_with(SIGNED_MAGIC) {
        return Some(Form::Signed);
    }
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    (first == Some(&b'{')).then_some(Form::Json)
}

/// The binary form's body.
#[derive(Serialize, Deserialize)]
struct Compact<'a> {
    /// The table without its grants, as JSON: settings, issuers, routes, namespaces.
    #[serde(borrow)]
    header: Cow<'a, str>,
    /// Every namespace, subject, role and API name the grants use, once.
    #[serde(borrow)]
    strings: Vec<Cow<'a, str>>,
    /// Grants by namespace.
    scopes: Vec<Scope>,
}

/// The grants of one namespace (`namespace` is a string id), or of every namespace (`None`).
#[derive(Serialize, Deserialize)]
struct Scope {
    namespace: Option<u32>,
    subjects: Vec<Subject>,
}

/// One subject's grants: a user's, or a group's.
#[derive(Serialize, Deserialize)]
struct Subject {
    group: bool,
    name: u32,
    grants: Vec<CompactGrant>,
}

#[derive(Serialize, Deserialize)]
struct CompactGrant {
    role: u32,
    apis: Option<Vec<u32>>,
}

/// Why bytes are not a table (each names what is wrong and where).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    /// Shorter than its header.
    Truncated,
    /// A binary table of another format version.
    Version(u32),
    /// The body does not decode, or names a string it does not hold.
    Body(String),
    /// A signed table whose key is not trusted (the key, base64).
    UnknownKey(String),
    /// A signed table whose signature does not verify.
    BadSignature,
    /// A signed envelope of another version.
    EnvelopeVersion(u8),
    /// Not a signed table.
    NotSigned,
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WireError::Truncated => write!(f, "truncated: shorter than its header"),
            WireError::Version(v) => write!(
                f,
                "binary table of format version {v}; this build reads version {FORMAT_VERSION}"
            ),
            WireError::Body(e) => write!(f, "binary table body: {e}"),
            WireError::UnknownKey(k) => write!(f, "signed by a key that is not trusted ({k})"),
            WireError::BadSignature => write!(f, "the signature does not verify"),
            WireError::EnvelopeVersion(v) => write!(f, "signed envelope of version {v}"),
            WireError::NotSigned => write!(f, "not a signed table"),
        }
    }
}

/// Interns names into string ids.
#[derive(Default)]
struct Strings<'a> {
    ids: HashMap<&'a str, u32>,
    list: Vec<Cow<'a, str>>,
}

impl<'a> Strings<'a> {
    fn id(&mut self, s: &'a str) -> u32 {
        let next = self.list.len() as u32;
        *self.ids.entry(s).or_insert_with(|| {
            self.list.push(Cow::Borrowed(s));
            next
        })
    }
}

/// Encodes a table in the binary form (its grants' sources are left out).
pub fn encode(table: &Table) -> Result<Vec<u8>, String> {
    let header = Table {
        grants: BTreeMap::new(),
        ..table.clone()
    };
    let header = serde_json::to_string(&header).map_err(|e| e.to_string())?;
    let mut strings = Strings::default();
    let mut scopes = Vec::with_capacity(table.grants.len());
    for (ns, subjects) in &table.grants {
        let namespace = (ns != "*").then(|| strings.id(ns));
        let mut list = Vec::with_capacity(subjects.len());
        for (subject, grants) in subjects {
            let (group, name) = match (
                subject.strip_prefix("user:"),
                subject.strip_prefix("group:"),
            ) {
                (Some(u), _) => (false, u),
                (_, Some(g)) => (true, g),
                _ => {
                    return Err(format!(
                        "subject `{subject}` is neither `user:…` nor `group:…`"
                    ))
                }
            };
            let grants = grants
                .iter()
                .map(|g| CompactGrant {
                    role: strings.id(&g.role),
                    apis: g
                        .apis
                        .as_ref()
                        .map(|a| a.iter().map(|n| strings.id(n)).collect()),
                })
                .collect();
            list.push(Subject {
                group,
                name: strings.id(name),
                grants,
            });
        }
        scopes.push(Scope {
            namespace,
            subjects: list,
        });
    }
    let body = Compact {
        header: Cow::Owned(header),
        strings: strings.list,
        scopes,
    };
    let mut out = Vec::with_capacity(1024);
    out.extend_from_slice(BINARY_MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    postcard::to_extend(&body, out).map_err(|e| e.to_string())
}

/// The body of a binary table, after its magic and a format version this build reads.
fn body(bytes: &[u8]) -> Result<&[u8], WireError> {
    let rest = bytes
        .strip_prefix(BINARY_MAGIC.as_slice())
        .ok_or_else(|| WireError::Body("no `GHTB` magic".into()))?;
    let (version, body) = rest.split_first_chunk::<4>().ok_or(WireError::Truncated)?;
    let version = u32::from_le_bytes(*version);
    if version != FORMAT_VERSION {
        return Err(WireError::Version(version));
    }
    Ok(body)
}

/// The table a binary table's header holds: the JSON contract, without grants.
fn header(text: &str) -> Result<Table, String> {
    let table: Table = serde_json::from_str(text).map_err(|e| format!("header: {e}"))?;
    if !table.grants.is_empty() {
        return Err("header holds grants".into());
    }
    Ok(table)
}

/// Decodes a binary table (for the authoring tools; the gateway loads with
/// [`load_for_gateway`]). Grants come back with an empty `source`.
pub fn decode(bytes: &[u8]) -> Result<Table, WireError> {
    let body: Compact<'_> =
        postcard::from_bytes(body(bytes)?).map_err(|e| WireError::Body(e.to_string()))?;
    let mut table = header(&body.header).map_err(WireError::Body)?;
    let name = |id: u32| {
        body.strings
            .get(id as usize)
            .map(|s| s.to_string())
            .ok_or_else(|| WireError::Body(format!("string {id} is not in the table")))
    };
    for scope in &body.scopes {
        let ns = match scope.namespace {
            Some(id) => name(id)?,
            None => "*".to_string(),
        };
        let by_subject = table.grants.entry(ns).or_default();
        for s in &scope.subjects {
            let kind = if s.group { "group:" } else { "user:" };
            let mut grants = Vec::with_capacity(s.grants.len());
            for g in &s.grants {
                let apis = match &g.apis {
                    Some(ids) => Some(ids.iter().map(|id| name(*id)).collect::<Result<_, _>>()?),
                    None => None,
                };
                grants.push(GrantSpec {
                    role: name(g.role)?,
                    apis,
                    source: String::new(),
                });
            }
            by_subject
                .entry(format!("{kind}{}", name(s.name)?))
                .or_default()
                .extend(grants);
        }
    }
    Ok(table)
}

/// Length of an Ed25519 public key.
pub const PUBLIC_KEY_LEN: usize = 32;

/// What a table signature signs: [`SIGNING_CONTEXT`], then the binary table.
fn signed_message(binary: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(SIGNING_CONTEXT.len() + binary.len());
    message.extend_from_slice(SIGNING_CONTEXT);
    message.extend_from_slice(binary);
    message
}

fn key_pair(seed: &[u8; 32]) -> ed25519_compact::KeyPair {
    ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new(*seed))
}

/// Signs a binary table with an Ed25519 key (its 32-byte seed).
pub fn sign(binary: &[u8], seed: &[u8; 32]) -> Vec<u8> {
    let kp = key_pair(seed);
    let signature = kp.sk.sign(signed_message(binary), None);
    let mut out = Vec::with_capacity(ENVELOPE_HEADER + binary.len());
    out.extend_from_slice(SIGNED_MAGIC);
    out.push(ENVELOPE_VERSION);
    out.extend_from_slice(kp.pk.as_ref());
    out.extend_from_slice(signature.as_ref());
    out.extend_from_slice(binary);
    out
}

/// The public key of an Ed25519 seed.
pub fn public_key(seed: &[u8; 32]) -> [u8; PUBLIC_KEY_LEN] {
    *key_pair(seed).pk
}

/// A signed table's signer key and the binary table inside, without checking the signature
/// (for the authoring tools reading their own files; the gateway uses [`open`]).
pub fn unwrap_unverified(signed: &[u8]) -> Result<([u8; PUBLIC_KEY_LEN], &[u8]), WireError> {
    let rest = signed
        .strip_prefix(SIGNED_MAGIC.as_slice())
        .ok_or(WireError::NotSigned)?;
    if signed.len() < ENVELOPE_HEADER {
        return Err(WireError::Truncated);
    }
    let (version, rest) = rest.split_first().ok_or(WireError::Truncated)?;
    if *version != ENVELOPE_VERSION {
        return Err(WireError::EnvelopeVersion(*version));
    }
    let (key, rest) = rest
        .split_first_chunk::<PUBLIC_KEY_LEN>()
        .ok_or(WireError::Truncated)?;
    let (_signature, binary) = rest.split_first_chunk::<64>().ok_or(WireError::Truncated)?;
    Ok((*key, binary))
}

/// Checks a signed table against the trusted public keys and returns the binary table inside.
/// Nothing of the table is read before the signature verifies.
pub fn open<'a>(signed: &'a [u8], trusted: &[[u8; PUBLIC_KEY_LEN]]) -> Result<&'a [u8], WireError> {
    let (key, binary) = unwrap_unverified(signed)?;
    if !trusted.contains(&key) {
        return Err(WireError::UnknownKey(base64_key(&key)));
    }
    let signature = signed
        .get(4 + 1 + PUBLIC_KEY_LEN..ENVELOPE_HEADER)
        .and_then(|s| ed25519_compact::Signature::from_slice(s).ok())
        .ok_or(WireError::Truncated)?;
    let pk = ed25519_compact::PublicKey::new(key);
    pk.verify(signed_message(binary), &signature)
        .map_err(|_| WireError::BadSignature)?;
    Ok(binary)
}

/// A public key as configurations write it (standard base64).
pub fn base64_key(key: &[u8; PUBLIC_KEY_LEN]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(key)
}

/// Reads a public key written by [`base64_key`] (standard or URL-safe base64, padded or not).
pub fn parse_public_key(text: &str) -> Result<[u8; PUBLIC_KEY_LEN], String> {
    use base64::Engine as _;
    let t = text.trim().trim_end_matches('=');
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(t)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(t))
        .map_err(|e| format!("not base64: {e}"))?;
    <[u8; PUBLIC_KEY_LEN]>::try_from(bytes.as_slice())
        .map_err(|_| format!("{} bytes; an Ed25519 public key has 32", bytes.len()))
}

mod gateway;
pub use gateway::load as load_for_gateway;

#[cfg(test)]
mod tests;
