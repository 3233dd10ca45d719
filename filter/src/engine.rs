//! The decision engine: a loaded table plus a verified identity plus a request → a decision.
//! The filter, `gatehouse check` / `explain` / `test` and the benchmarks all call this code.
//!
//! Deciding is two steps so that the filter verifies a token only when it must:
//! [`Engine::preflight`] normalizes the path and finds the route (public routes stop there),
//! then [`Engine::authorize`] judges the verified identity against the route's namespace.

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::acl::Acl;
use crate::host::normalize_authority;
use crate::live::{KeyRefresh, LiveIssuer, RefreshBounds};
use crate::path::{normalize, NormalizedPath};
use crate::reason::DenyReason;
use crate::route::{RouteTable, Target};
use crate::table::{Access, GatewaySettings, Table, FORMAT_VERSION};
use crate::token::Verifiers;
use crate::wire::{self, Form, WireError};

pub use crate::identity::Identity;

/// A request after path normalization and route lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preflight {
    /// The normalized path, which is what gets forwarded.
    pub path: NormalizedPath,
    /// The matched route; `None` when no route matches.
    pub target: Option<Target>,
}

impl Preflight {
    /// Whether the request passes without identity.
    pub fn is_public(&self) -> bool {
        matches!(&self.target, Some(t) if t.access == Access::Public)
    }
}

/// The outcome of a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Let the request through.
    Allow,
    /// Refuse it.
    Deny(DenyReason),
}

/// A full decision, with what the filter needs to act and what `explain` needs to tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Allow or deny.
    pub verdict: Verdict,
    /// Set when audit mode let through a request that would have been denied for this reason.
    pub audited: Option<DenyReason>,
    /// The route, namespace and API the request was judged against.
    pub target: Option<Target>,
    /// The action the route requires, by name.
    pub action: Option<String>,
    /// Source of the grant that allowed the request.
    pub granted_by: Option<String>,
    /// Identity headers to set upstream (name, value), when allowed with an identity.
    pub headers: Vec<(String, String)>,
}

impl Decision {
    pub(crate) fn deny(reason: DenyReason, target: Option<Target>) -> Decision {
        Decision {
            verdict: Verdict::Deny(reason),
            audited: None,
            target,
            action: None,
            granted_by: None,
            headers: Vec::new(),
        }
    }

    /// The deny reason, if denied.
    pub fn deny_reason(&self) -> Option<DenyReason> {
        match self.verdict {
            Verdict::Deny(r) => Some(r),
            Verdict::Allow => None,
        }
    }
}

/// Why a table does not load. Each names the part of the table at fault; [`Display`]
/// gives the one line the gateway logs.
///
/// [`Display`]: std::fmt::Display
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadError {
    /// Over [`MAX_TABLE_BYTES`].
    TooLarge {
        /// The table's size.
        bytes: usize,
    },
    /// Not JSON at all.
    NotJson(String),
    /// A binary table that does not decode.
    Binary(String),
    /// No `format_version`, or one this filter does not read.
    Version(Option<u32>),
    /// JSON of the right version that does not match the format.
    Shape(String),
    /// An identity header name that is not a lower-case HTTP header name.
    HeaderName(String),
    /// Routes that do not load (each message names its route).
    Routes(Vec<String>),
    /// Roles, actions or grants that do not load.
    Acl(String),
    /// A route naming an action no role grants.
    UnknownAction {
        /// The route's path template.
        route: String,
        /// The action.
        action: String,
    },
    /// An issuer's keys or settings.
    Issuer(String),
    /// An issuer's key URL or the key refresh bounds.
    KeyRefresh(String),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::TooLarge { bytes } => {
                write!(f, "table is {bytes} bytes; the limit is {MAX_TABLE_BYTES}")
            }
            LoadError::NotJson(e) => write!(f, "table is not valid JSON: {e}"),
            LoadError::Binary(e) => write!(f, "binary table refused: {e}"),
            LoadError::Version(Some(v)) => write!(
                f,
                "table format_version {v} is not supported; this filter reads {FORMAT_VERSION}: recompile with a matching `gatehouse`"
            ),
            LoadError::Version(None) => f.write_str("table has no `format_version`"),
            LoadError::Shape(e) => write!(f, "table does not match format {FORMAT_VERSION}: {e}"),
            LoadError::HeaderName(name) => write!(
                f,
                "identity header name `{name}` must be a lower-case HTTP header name"
            ),
            LoadError::Routes(errors) => f.write_str(&errors.join("; ")),
            LoadError::Acl(e) | LoadError::Issuer(e) => f.write_str(e),
            LoadError::UnknownAction { route, action } => {
                write!(f, "route `{route}` names unknown action `{action}`")
            }
            LoadError::KeyRefresh(e) => write!(f, "key refresh: {e}"),
        }
    }
}

impl std::error::Error for LoadError {}

/// Largest table (bytes of JSON) the engine loads.
pub const MAX_TABLE_BYTES: usize = 64 * 1024 * 1024;

/// Whether a loaded table keeps where each grant came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provenance {
    /// Keep it, and the table's grants (`check`, `explain`, `who-can`, `diff`: `granted_by`).
    Keep,
    /// Drop both: the grants live only in the ACL, 32 bytes each, and decisions carry no
    /// `granted_by` (the gateway).
    Drop,
}

/// A loaded, immutable table.
#[derive(Debug)]
pub struct Engine {
    /// The table as loaded (for `explain`, `who-can`, `diff`).
    pub table: Table,
    routes: RouteTable,
    acl: Acl,
    verifiers: Verifiers,
    /// The key refresher of the table's issuers that name a key URL (built, and so checked,
    /// at load), until a worker takes it.
    key_refresh: Option<KeyRefresh>,
}

impl Engine {
    /// Loads a table from its JSON or binary form. A signed table is refused here: the caller
    /// checks it first ([`crate::wire::open`]) and passes the binary table inside.
    pub fn from_bytes(bytes: &[u8], provenance: Provenance) -> Result<Engine, LoadError> {
        if bytes.len() > MAX_TABLE_BYTES {
            return Err(LoadError::TooLarge { bytes: bytes.len() });
        }
        match wire::form(bytes) {
            Some(Form::Binary) => {
                let err = |e: WireError| LoadError::Binary(e.to_string());
                if provenance == Provenance::Keep {
                    return Engine::load(wire::decode(bytes).map_err(err)?, provenance);
                }
                // The gateway's path: the grants go straight into the ACL as they decode.
                let (table, acl) = wire::load_for_gateway(bytes).map_err(err)?;
                Engine::assemble(table, acl, provenance)
            }
            Some(Form::Signed) => Err(LoadError::Binary(
                "a signed table must be checked against its trusted keys first".into(),
            )),
            _ => Engine::from_json_as(bytes, provenance),
        }
    }

    /// Parses and loads a table from JSON bytes, for the authoring tools.
    pub fn from_json(bytes: &[u8]) -> Result<Engine, LoadError> {
        Engine::from_json_as(bytes, Provenance::Keep)
    }

    /// Parses and loads a table from JSON bytes.
    pub fn from_json_as(bytes: &[u8], provenance: Provenance) -> Result<Engine, LoadError> {
        if bytes.len() > MAX_TABLE_BYTES {
            return Err(LoadError::TooLarge { bytes: bytes.len() });
        }
        // One pass over the bytes in the common case (a table of this version); only when the
        // shape does not match is the version probed, so an old or new table gets the right
        // message.
        #[derive(serde::Deserialize)]
        struct Version {
            format_version: Option<u32>,
        }
        let version_error =
            |v: Option<u32>| (v != Some(FORMAT_VERSION)).then_some(LoadError::Version(v));
        let table: Table = match serde_json::from_slice(bytes) {
            Ok(table) => table,
            Err(shape) => {
                let v: Version =
                    serde_json::from_slice(bytes).map_err(|e| LoadError::NotJson(e.to_string()))?;
                return Err(version_error(v.format_version)
                    .unwrap_or_else(|| LoadError::Shape(shape.to_string())));
            }
        };
        if let Some(e) = version_error(Some(table.format_version)) {
            return Err(e);
        }
        Engine::load(table, provenance)
    }

    /// Loads a parsed table for the authoring tools: every grant keeps its source.
    pub fn new(table: Table) -> Result<Engine, LoadError> {
        Engine::load(table, Provenance::Keep)
    }

    /// Loads a parsed table as `provenance` says.
    pub fn load(table: Table, provenance: Provenance) -> Result<Engine, LoadError> {
        if table.format_version != FORMAT_VERSION {
            return Err(LoadError::Version(Some(table.format_version)));
        }
        let acl = Acl::new(&table, provenance == Provenance::Keep).map_err(LoadError::Acl)?;
        Engine::assemble(table, acl, provenance)
    }

    /// Loads a table whose ACL is built.
    fn assemble(mut table: Table, acl: Acl, provenance: Provenance) -> Result<Engine, LoadError> {
        if table.format_version != FORMAT_VERSION {
            return Err(LoadError::Version(Some(table.format_version)));
        }
        check_header_name(&table.gateway.user_header)?;
        check_header_name(&table.gateway.groups_header)?;
        let routes = RouteTable::new(&table.routes)
            .map_err(|errs| LoadError::Routes(errs.into_iter().map(|e| e.message).collect()))?;
        if provenance == Provenance::Drop {
            // INVARIANT: the gateway holds each grant once, in the ACL.
            table.grants = BTreeMap::new();
        }
        for r in &table.routes {
            if let Access::Action(a) = &r.access {
                if !acl.actions.contains_key(a) {
                    return Err(LoadError::UnknownAction {
                        route: r.path.clone(),
                        action: a.clone(),
                    });
                }
            }
        }
        let verifiers = Verifiers::new(&table.issuers).map_err(LoadError::Issuer)?;
        // The key refresher is built here, once: a table whose key sources or refresh bounds
        // are wrong does not load, and the worker that serves the table takes it.
        let live = LiveIssuer::from_table(&table.issuers).map_err(LoadError::KeyRefresh)?;
        let bounds = RefreshBounds::from_settings(&table.gateway.key_refresh);
        let refresh = KeyRefresh::new(live, bounds).map_err(LoadError::KeyRefresh)?;
        let key_refresh = (refresh.issuers() > 0).then_some(refresh);
        Ok(Engine {
            key_refresh,
            table,
            routes,
            acl,
            verifiers,
        })
    }

    /// Takes the key refresher of this table (`None` when no issuer names a key URL, or it
    /// was taken): the worker that serves the table owns it.
    pub fn take_key_refresh(&mut self) -> Option<KeyRefresh> {
        self.key_refresh.take()
    }

    /// Gateway settings.
    pub fn gateway(&self) -> &GatewaySettings {
        &self.table.gateway
    }

    /// The token verifiers.
    pub fn verifiers(&self) -> &Verifiers {
        &self.verifiers
    }

    /// The routes in the order they are tried.
    pub fn routes(&self) -> &RouteTable {
        &self.routes
    }

    /// The ACL.
    pub fn acl(&self) -> &Acl {
        &self.acl
    }

    /// Step 1: normalize the path and find the route, for a request without a host (routes
    /// that name hosts never match).
    pub fn preflight(&self, method: &str, raw_path: &str) -> Result<Preflight, DenyReason> {
        self.preflight_at(method, None, raw_path)
    }

    /// Step 1 for a request to `authority` (its `Host` or `:authority`).
    pub fn preflight_at(
        &self,
        method: &str,
        authority: Option<&str>,
        raw_path: &str,
    ) -> Result<Preflight, DenyReason> {
        let path = normalize(raw_path)?;
        let host = authority.and_then(normalize_authority);
        let host = host.as_deref();
        // Methods are judged upper-cased: a `delete` that some upstream reads as DELETE is
        // judged as DELETE, never as an unrouted method.
        let target = if method.bytes().any(|b| b.is_ascii_lowercase()) {
            self.routes
                .resolve(&method.to_ascii_uppercase(), host, &path)?
        } else {
            self.routes.resolve(method, host, &path)?
        };
        Ok(Preflight { path, target })
    }

    /// The methods the namespaced routes of a path name (the `Allow` header of a
    /// `method_not_allowed` answer); empty when the path cannot be normalized.
    pub fn allowed_methods(&self, authority: Option<&str>, raw_path: &str) -> Vec<&str> {
        let host = authority.and_then(normalize_authority);
        match normalize(raw_path) {
            Ok(path) => self.routes.allowed_methods(host.as_deref(), &path),
            Err(_) => Vec::new(),
        }
    }

    /// Step 2: judge a verified identity against the route.
    pub fn authorize(&self, pre: &Preflight, identity: &Identity) -> Decision {
        self.judge(pre.target.as_ref().map(Cow::Borrowed), identity)
    }

    /// Step 2, consuming the preflight: the same decision as [`Engine::authorize`], without
    /// copying the target into it (the request path's form).
    pub fn authorize_owned(&self, pre: Preflight, identity: &Identity) -> Decision {
        self.judge(pre.target.map(Cow::Owned), identity)
    }

    fn judge(&self, target: Option<Cow<'_, Target>>, identity: &Identity) -> Decision {
        let Some(target) = target else {
            return self.audit(Decision::deny(DenyReason::RouteUnknown, None), identity);
        };
        let Access::Action(action) = &target.access else {
            // Public or authenticated: a verified identity is all it takes.
            return self.allow(identity, target.into_owned(), None, None);
        };
        let bit = self.acl.actions.get(action).copied();
        let ns = target.namespace.as_deref().unwrap_or_default();
        let api = self.acl.api_ref(target.api.as_deref());
        let grant = bit.and_then(|bit| {
            self.acl
                .grants_for(ns, &identity.user, &identity.groups)
                .find(|g| g.covers(bit, api))
        });
        let action = Some(action.clone());
        match grant {
            Some(g) => {
                let source = self.acl.source(&g).map(str::to_owned);
                self.allow(identity, target.into_owned(), action, source)
            }
            None => {
                let mut d = Decision::deny(DenyReason::NotPermitted, Some(target.into_owned()));
                d.action = action;
                self.audit(d, identity)
            }
        }
    }

    /// The decision for a public route: allowed, no identity headers.
    pub fn public(&self, pre: &Preflight) -> Decision {
        Decision {
            verdict: Verdict::Allow,
            audited: None,
            target: pre.target.clone(),
            action: None,
            granted_by: None,
            headers: Vec::new(),
        }
    }

    fn allow(
        &self,
        identity: &Identity,
        target: Target,
        action: Option<String>,
        granted_by: Option<String>,
    ) -> Decision {
        Decision {
            verdict: Verdict::Allow,
            audited: None,
            target: Some(target),
            action,
            granted_by,
            headers: self.identity_headers(identity),
        }
    }

    /// The identity headers for a verified identity.
    pub fn identity_headers(&self, identity: &Identity) -> Vec<(String, String)> {
        let gw = &self.table.gateway;
        let mut user = String::with_capacity(gw.user_prefix.len() + identity.user.len());
        user.push_str(&gw.user_prefix);
        user.push_str(&identity.user);
        let mut h = Vec::with_capacity(2);
        h.push((gw.user_header.clone(), user));
        // INVARIANT: a group whose name holds the separator would read upstream as several
        // groups (`a,admins`); such groups are left out of the header, never split.
        let sep = gw.groups_separator.as_str();
        let mut groups = String::new();
        for g in identity
            .groups
            .iter()
            .filter(|g| !g.is_empty() && !g.contains(sep))
        {
            if !groups.is_empty() {
                groups.push_str(sep);
            }
            groups.push_str(g);
        }
        if !groups.is_empty() {
            h.push((gw.groups_header.clone(), groups));
        }
        h
    }

    /// Audit mode turns an auditable denial into an allow that records the reason. The
    /// namespace it checks is the denied target's (none when no route matched).
    fn audit(&self, denied: Decision, identity: &Identity) -> Decision {
        let Verdict::Deny(reason) = denied.verdict else {
            return denied;
        };
        let audit = &self.table.gateway.audit;
        let namespace = denied
            .target
            .as_ref()
            .map(|t| t.namespace.as_deref().unwrap_or_default());
        let applies =
            audit.all || namespace.is_some_and(|ns| audit.namespaces.iter().any(|a| a == ns));
        if !(applies && reason.auditable()) {
            return denied;
        }
        Decision {
            verdict: Verdict::Allow,
            audited: Some(reason),
            headers: self.identity_headers(identity),
            ..denied
        }
    }
}

fn check_header_name(name: &str) -> Result<(), LoadError> {
    let ok = !name.is_empty()
        && !name.starts_with(':')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(LoadError::HeaderName(name.to_owned()))
    }
}
