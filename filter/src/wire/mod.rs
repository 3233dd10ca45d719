//! The table on the wire. One contract ([`Table`]), three forms:
//!
//! - **JSON**, for people and Git: what `gatehouse compile` writes by default.
//! - **Binary** (`GHTB`), for gateways: the JSON contract minus the grants, plus the grants
//!   listed subject by subject, every name once in a sorted list coded against the name before
//!   it, every number a varint ([`postcard`]). Provenance (`source`) is not in it: the gateway
//!   never reads it. A 100k-binding table is about 2 MB instead of 30.
//! - **Signed** (`GHTS`): a binary table with an Ed25519 signature, for tables the gateway
//!   fetches by reference. [`open`] checks it against the trusted keys before anything of the
//!   table is read.
//!
//! Layouts (integers little-endian):
//!
//! ```text
//! binary: "GHTB" | layout version: u32 = BINARY_VERSION | postcard(Compact)
//! signed: "GHTS" | envelope version: u8 = 1 | public key: 32 | signature: 64 | binary
//! ```
//!
//! The order of names and grants is part of the format and checked by both readers: names
//! strictly ascending, subjects by (name, kind), a subject's scopes by namespace with every
//! namespace last. A gateway then builds its ACL in one pass, without sorting
//! ([`load_for_gateway`]).
//!
//! The signature covers [`SIGNING_CONTEXT`] followed by the binary table, so a signature made
//! for anything else never verifies as a table's.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::acl::{Names, Ordered, EVERY_NAMESPACE};
use crate::table::{GrantSpec, Scope as TableScope, Subject as TableSubject, Table};

/// First bytes of a binary table.
pub const BINARY_MAGIC: &[u8; 4] = b"GHTB";
/// First bytes of a signed table.
pub const SIGNED_MAGIC: &[u8; 4] = b"GHTS";
/// The binary layout's version, checked before anything else is read. Version 1 interned names
/// in the order met; version 2 sorts and front-codes them and lists grants by subject, so a
/// gateway builds its ACL in one pass ([`load_for_gateway`]).
pub const BINARY_VERSION: u32 = 2;
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
    /// The bytes of every name below, in all (a hint to size the reader's arena).
    name_bytes: u32,
    /// Every subject, namespace and API name the grants use: sorted, once each, each coded
    /// against the one before it.
    #[serde(borrow)]
    names: Vec<Front<'a>>,
    /// Every subject's grants, in ascending (name, group) order.
    subjects: Vec<Subject>,
}

/// A name as the bytes it shares with the name before it, at the start and at the end (sorted
/// names share prefixes; names of one domain or kind share suffixes), and what lies between.
#[derive(Serialize, Deserialize)]
struct Front<'a> {
    prefix: u32,
    suffix: u32,
    #[serde(borrow)]
    middle: Cow<'a, str>,
}

impl<'a> Front<'a> {
    /// `name` front-coded against `prev`.
    fn new(prev: &str, name: &'a str) -> Front<'a> {
        let (p, n) = (prev.as_bytes(), name.as_bytes());
        let prefix = p.iter().zip(n).take_while(|(a, b)| a == b).count();
        // Cut at character boundaries, so that every part is text (the shared bytes are the
        // same in both names, so a boundary in one is a boundary in the other).
        let prefix = (0..=prefix)
            .rev()
            .find(|i| name.is_char_boundary(*i))
            .unwrap_or(0);
        let room = p.len().min(n.len()) - prefix;
        let suffix = p
            .iter()
            .rev()
            .zip(n.iter().rev())
            .take_while(|(a, b)| a == b)
            .count();
        let suffix = (0..=suffix.min(room))
            .rev()
            .find(|i| name.is_char_boundary(n.len() - i))
            .unwrap_or(0);
        Front {
            prefix: prefix as u32,
            suffix: suffix as u32,
            middle: Cow::Borrowed(name.get(prefix..n.len() - suffix).unwrap_or_default()),
        }
    }

    /// Turns the previous name into this one, in place (`tail` is scratch space).
    fn apply(&self, name: &mut String, tail: &mut String) -> Result<(), String> {
        let (prefix, suffix) = (self.prefix as usize, self.suffix as usize);
        let cut = name.len().checked_sub(suffix).filter(|cut| prefix <= *cut);
        let Some(cut) = cut.filter(|c| name.is_char_boundary(*c) && name.is_char_boundary(prefix))
        else {
            return Err(format!(
                "a name shares {prefix} leading and {suffix} trailing bytes with `{name}`, which it cannot"
            ));
        };
        tail.clear();
        tail.push_str(name.get(cut..).unwrap_or_default());
        name.truncate(prefix);
        name.push_str(&self.middle);
        name.push_str(tail);
        Ok(())
    }
}

/// One subject (a user, or a group) and its grants, scope by scope.
#[derive(Serialize, Deserialize)]
struct Subject {
    /// The name's id minus the previous subject's (the first's: its id).
    step: u32,
    group: bool,
    /// In ascending namespace id order, every namespace last.
    scopes: Vec<Scope>,
}

/// A subject's grants in one scope.
#[derive(Serialize, Deserialize)]
struct Scope {
    /// 0: every namespace; otherwise the namespace's name id + 1.
    namespace: u32,
    grants: Vec<CompactGrant>,
}

#[derive(Serialize, Deserialize)]
struct CompactGrant {
    /// The role's position in the header's roles (sorted by name).
    role: u32,
    /// API name ids; `None`: every API.
    apis: Option<Vec<u32>>,
}

/// The scope id of an encoded [`Scope::namespace`].
fn scope_of(namespace: u32) -> u32 {
    namespace.checked_sub(1).unwrap_or(EVERY_NAMESPACE)
}

/// [`Scope::namespace`] of a scope id (the inverse of [`scope_of`]).
fn encoded_scope(scope: u32) -> u32 {
    if scope == EVERY_NAMESPACE {
        0
    } else {
        scope + 1
    }
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
                "binary table of format version {v}; this build reads version {BINARY_VERSION}"
            ),
            WireError::Body(e) => write!(f, "binary table body: {e}"),
            WireError::UnknownKey(k) => write!(f, "signed by a key that is not trusted ({k})"),
            WireError::BadSignature => write!(f, "the signature does not verify"),
            WireError::EnvelopeVersion(v) => write!(f, "signed envelope of version {v}"),
            WireError::NotSigned => write!(f, "not a signed table"),
        }
    }
}

/// Encodes a table in the binary form (its grants' sources are left out).
pub fn encode(table: &Table) -> Result<Vec<u8>, String> {
    // Every field but the grants (which are not cloned: at scale they are most of the table).
    let header = Table {
        format_version: table.format_version,
        gateway: table.gateway.clone(),
        actions: table.actions.clone(),
        roles: table.roles.clone(),
        issuers: table.issuers.clone(),
        routes: table.routes.clone(),
        grants: BTreeMap::new(),
        namespaces: table.namespaces.clone(),
    };
    let header = serde_json::to_string(&header).map_err(|e| e.to_string())?;
    let roles: HashMap<&str, u32> = table
        .roles
        .keys()
        .enumerate()
        .map(|(i, r)| (r.as_str(), i as u32))
        .collect();
    let ordered = Ordered::new(table);
    let id = |name: &str| ordered.id(name).unwrap_or(0);
    let mut subjects: Vec<Subject> = Vec::new();
    let mut last: Option<(u32, bool)> = None;
    for &(name, group, scope, grants) in &ordered.grants {
        let mut compact = Vec::with_capacity(grants.len());
        for g in grants {
            let role = *roles.get(g.role.as_str()).ok_or_else(|| {
                format!("grant from {} names unknown role `{}`", g.source, g.role)
            })?;
            let apis = g.apis.as_ref().map(|a| a.iter().map(|n| id(n)).collect());
            compact.push(CompactGrant { role, apis });
        }
        let scope = Scope {
            namespace: encoded_scope(scope),
            grants: compact,
        };
        match subjects.last_mut() {
            Some(s) if last == Some((name, group)) => s.scopes.push(scope),
            _ => {
                let step = name - last.map_or(0, |(n, _)| n);
                subjects.push(Subject {
                    step,
                    group,
                    scopes: vec![scope],
                });
                last = Some((name, group));
            }
        }
    }
    let names = &ordered.names;
    let mut fronts = Vec::with_capacity(names.len());
    let mut prev = "";
    for n in names {
        fronts.push(Front::new(prev, n));
        prev = n;
    }
    let name_bytes = u32::try_from(names.iter().map(|n| n.len()).sum::<usize>())
        .map_err(|_| "the names exceed 4 GiB".to_string())?;
    let body = Compact {
        header: Cow::Owned(header),
        name_bytes,
        names: fronts,
        subjects,
    };
    let mut out = Vec::with_capacity(1024);
    out.extend_from_slice(BINARY_MAGIC);
    out.extend_from_slice(&BINARY_VERSION.to_le_bytes());
    postcard::to_extend(&body, out).map_err(|e| e.to_string())
}

/// The body of a binary table, after its magic and a format version this build reads.
fn body(bytes: &[u8]) -> Result<&[u8], WireError> {
    let rest = bytes
        .strip_prefix(BINARY_MAGIC.as_slice())
        .ok_or_else(|| WireError::Body("no `GHTB` magic".into()))?;
    let (version, body) = rest.split_first_chunk::<4>().ok_or(WireError::Truncated)?;
    let version = u32::from_le_bytes(*version);
    if version != BINARY_VERSION {
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
    // The same checks as the gateway's: names sorted and once, subjects and scopes in order.
    let mut names = Names::default();
    let (mut name, mut tail) = (String::new(), String::new());
    for f in &body.names {
        f.apply(&mut name, &mut tail).map_err(WireError::Body)?;
        names.push(&name).map_err(WireError::Body)?;
    }
    let text = |id: u32| {
        names
            .get(id)
            .map(str::to_string)
            .ok_or_else(|| WireError::Body(format!("name {id} is not in the table")))
    };
    let roles: Vec<&String> = table.roles.keys().collect();
    let mut order = OrderCheck::default();
    let mut grants = BTreeMap::<TableScope, BTreeMap<TableSubject, Vec<GrantSpec>>>::new();
    for s in &body.subjects {
        let id = order.subject(s.step, s.group).map_err(WireError::Body)?;
        let subject = match s.group {
            true => TableSubject::Group(text(id)?),
            false => TableSubject::User(text(id)?),
        };
        for scope in &s.scopes {
            let ns = scope_of(scope.namespace);
            order.scope(ns).map_err(WireError::Body)?;
            let ns = match ns {
                EVERY_NAMESPACE => TableScope::Every,
                id => TableScope::Namespace(text(id)?),
            };
            let mut list = Vec::with_capacity(scope.grants.len());
            for g in &scope.grants {
                let role = roles.get(g.role as usize).ok_or_else(|| {
                    WireError::Body(format!(
                        "a grant names role {}, which the table lacks",
                        g.role
                    ))
                })?;
                let apis = match &g.apis {
                    Some(ids) => Some(ids.iter().map(|id| text(*id)).collect::<Result<_, _>>()?),
                    None => None,
                };
                list.push(GrantSpec {
                    role: role.to_string(),
                    apis,
                    source: String::new(),
                });
            }
            grants.entry(ns).or_default().insert(subject.clone(), list);
        }
    }
    table.grants = grants;
    Ok(table)
}

/// The order a binary table's subjects and scopes must come in, checked as they are read.
#[derive(Default)]
struct OrderCheck {
    subject: Option<(u32, bool)>,
    scope: Option<u32>,
}

impl OrderCheck {
    /// The next subject's name id; its (name, group) must sort after the previous one's.
    fn subject(&mut self, step: u32, group: bool) -> Result<u32, String> {
        let before = self.subject.map_or(0, |(n, _)| n);
        let id = before
            .checked_add(step)
            .ok_or_else(|| "a subject's name id overflows".to_string())?;
        if self.subject.is_some_and(|last| (id, group) <= last) {
            return Err(format!("subject {id} is out of order or given twice"));
        }
        self.subject = Some((id, group));
        self.scope = None;
        Ok(id)
    }

    /// The next scope of the current subject: after the previous one.
    fn scope(&mut self, scope: u32) -> Result<(), String> {
        if self.scope.is_some_and(|last| scope <= last) {
            return Err(format!("scope {scope} is out of order or given twice"));
        }
        self.scope = Some(scope);
        Ok(())
    }
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
    // In two parts, so the table is not copied behind its context: a worker's memory keeps
    // whatever peak a load reaches.
    let mut state = pk
        .verify_incremental(&signature)
        .map_err(|_| WireError::BadSignature)?;
    state.absorb(SIGNING_CONTEXT);
    state.absorb(binary);
    state.verify().map_err(|_| WireError::BadSignature)?;
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
