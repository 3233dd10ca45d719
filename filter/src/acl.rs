//! The access control list at run time: namespace → subject → grants, with each role's actions
//! folded into a bitmask at load. A decision costs a fixed number of hash lookups per group the
//! identity carries: it does not grow with the number of namespaces or bindings.

use std::collections::HashMap;

use crate::table::Table;

/// A set of actions, as bits indexed by the table's action list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ActionSet(pub u64);

impl ActionSet {
    /// Whether the set holds action bit `bit`.
    pub fn contains(self, bit: u32) -> bool {
        self.0 & (1u64 << bit) != 0
    }
}

/// Largest number of distinct actions a table may hold.
pub const MAX_ACTIONS: usize = 64;

/// One grant at run time: 32 bytes, whatever the names. Role and API names are interned in
/// the [`Acl`]; where the grant came from is kept only when the table is loaded for the
/// authoring tools (the gateway never reads it).
#[derive(Debug, Clone)]
pub struct Grant {
    /// The role, an index into [`Acl::role_names`].
    pub role: u32,
    /// The role's actions.
    pub actions: ActionSet,
    /// The APIs the grant is limited to, as sorted ids ([`Acl::api_id`]); `None`: every API.
    pub apis: Option<Box<[u32]>>,
    /// Where it came from, an index into the ACL's sources; [`NO_SOURCE`] when not kept.
    pub source: u32,
}

/// [`Grant::source`] of a grant whose source is not kept.
pub const NO_SOURCE: u32 = u32::MAX;

/// The API a request names, as the ACL knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiRef {
    /// The request names no API.
    None,
    /// An API some grant names (its id).
    Known(u32),
    /// An API no grant names: only grants for every API cover it.
    Other,
}

impl Grant {
    /// Whether the grant covers `action` on `api`.
    pub fn covers(&self, action: u32, api: ApiRef) -> bool {
        self.actions.contains(action)
            && match (&self.apis, api) {
                (None, _) => true,
                (Some(list), ApiRef::Known(id)) => list.binary_search(&id).is_ok(),
                // A grant scoped to named APIs never covers a request that names no API, nor
                // one it does not name.
                (Some(_), ApiRef::None | ApiRef::Other) => false,
            }
    }
}

/// Grants in one namespace (or in all).
#[derive(Debug, Clone, Default)]
pub struct SubjectGrants {
    /// By user name.
    pub users: HashMap<Box<str>, Vec<Grant>>,
    /// By group name.
    pub groups: HashMap<Box<str>, Vec<Grant>>,
}

impl SubjectGrants {
    /// Adds a subject's grants (after any it has).
    pub fn add(&mut self, group: bool, name: &str, grants: Vec<Grant>) {
        let map = if group {
            &mut self.groups
        } else {
            &mut self.users
        };
        // One hash in the common case (a subject met once per namespace); a subject met again
        // keeps its earlier grants first.
        if let Some(earlier) = map.insert(name.into(), grants) {
            if let Some(now) = map.get_mut(name) {
                let later = std::mem::replace(now, earlier);
                now.extend(later);
            }
        }
    }

    /// Makes room for more users and groups.
    pub fn reserve(&mut self, users: usize, groups: usize) {
        self.users.reserve(users);
        self.groups.reserve(groups);
    }
}

/// The whole ACL.
#[derive(Debug, Clone, Default)]
pub struct Acl {
    /// Action name → bit.
    pub actions: HashMap<String, u32>,
    /// Action names by bit.
    pub action_names: Vec<String>,
    /// Role name → actions.
    pub roles: HashMap<String, ActionSet>,
    /// Role names by index ([`Grant::role`]).
    pub role_names: Vec<String>,
    /// Role name → index.
    role_ids: HashMap<String, u32>,
    /// API name → id, for every API a grant names.
    apis: HashMap<Box<str>, u32>,
    /// Sources by index ([`Grant::source`]); empty when not kept.
    sources: Vec<Box<str>>,
    /// Per namespace.
    pub namespaces: HashMap<Box<str>, SubjectGrants>,
    /// Grants that hold in every namespace.
    pub everywhere: SubjectGrants,
}

impl Acl {
    /// Builds the ACL from a table; `provenance` keeps each grant's source (the authoring
    /// tools), or not (the gateway).
    pub fn new(table: &Table, provenance: bool) -> Result<Acl, String> {
        let mut acl = Acl::with_roles(table)?;
        for (ns, subjects) in &table.grants {
            let scope = (ns != "*").then_some(ns.as_str());
            for (subject, grants) in subjects {
                let (group, name) = if let Some(u) = subject.strip_prefix("user:") {
                    (false, u)
                } else if let Some(g) = subject.strip_prefix("group:") {
                    (true, g)
                } else {
                    return Err(format!(
                        "subject `{subject}` in namespace `{ns}` is neither `user:…` nor `group:…`"
                    ));
                };
                let mut list = Vec::with_capacity(grants.len());
                for g in grants {
                    let (role, actions) = acl.role(&g.role).ok_or_else(|| {
                        format!("grant from {} names unknown role `{}`", g.source, g.role)
                    })?;
                    // Binary tables carry no sources: an empty one is none.
                    let source = if provenance && !g.source.is_empty() {
                        acl.sources.push(g.source.as_str().into());
                        (acl.sources.len() - 1) as u32
                    } else {
                        NO_SOURCE
                    };
                    let apis = g.apis.as_ref().map(|names| {
                        let ids = names.iter().map(|n| acl.intern_api(n)).collect();
                        sorted(ids)
                    });
                    list.push(Grant {
                        role,
                        actions,
                        apis,
                        source,
                    });
                }
                acl.add(scope, group, name, list);
            }
        }
        Ok(acl)
    }

    /// The ACL of a table's actions and roles, without grants yet ([`Acl::add`] adds them).
    pub fn with_roles(table: &Table) -> Result<Acl, String> {
        if table.actions.len() > MAX_ACTIONS {
            return Err(format!(
                "the table declares {} actions; at most {MAX_ACTIONS} are supported",
                table.actions.len()
            ));
        }
        let mut acl = Acl {
            action_names: table.actions.clone(),
            ..Acl::default()
        };
        for (bit, name) in table.actions.iter().enumerate() {
            if acl.actions.insert(name.clone(), bit as u32).is_some() {
                return Err(format!("action `{name}` is listed twice"));
            }
        }
        for (role, actions) in &table.roles {
            let mut set = 0u64;
            for a in actions {
                let bit = acl
                    .actions
                    .get(a)
                    .ok_or_else(|| format!("role `{role}` names unknown action `{a}`"))?;
                set |= 1u64 << bit;
            }
            acl.roles.insert(role.clone(), ActionSet(set));
            acl.role_ids
                .insert(role.clone(), acl.role_names.len() as u32);
            acl.role_names.push(role.clone());
        }
        Ok(acl)
    }

    /// A role's index and actions.
    pub fn role(&self, name: &str) -> Option<(u32, ActionSet)> {
        let id = *self.role_ids.get(name)?;
        Some((id, *self.roles.get(name)?))
    }

    /// Adds a subject's grants in a namespace (`None`: in every namespace).
    pub fn add(&mut self, namespace: Option<&str>, group: bool, name: &str, grants: Vec<Grant>) {
        self.scope_mut(namespace).add(group, name, grants);
    }

    /// The grants of a namespace (`None`: of every namespace), made when missing.
    pub fn scope_mut(&mut self, namespace: Option<&str>) -> &mut SubjectGrants {
        match namespace {
            Some(ns) => self.namespaces.entry(ns.into()).or_default(),
            None => &mut self.everywhere,
        }
    }

    /// Makes room for `namespaces` more namespaces.
    pub fn reserve_namespaces(&mut self, namespaces: usize) {
        self.namespaces.reserve(namespaces);
    }

    /// The id of an API name, interning it.
    pub fn intern_api(&mut self, name: &str) -> u32 {
        let next = self.apis.len() as u32;
        match self.apis.get(name) {
            Some(id) => *id,
            None => {
                self.apis.insert(name.into(), next);
                next
            }
        }
    }

    /// How the ACL knows the API a request names.
    pub fn api_ref(&self, api: Option<&str>) -> ApiRef {
        match api {
            None => ApiRef::None,
            Some(a) => self
                .apis
                .get(a)
                .map_or(ApiRef::Other, |id| ApiRef::Known(*id)),
        }
    }

    /// Where a grant came from, when the ACL keeps sources.
    pub fn source(&self, grant: &Grant) -> Option<&str> {
        self.sources.get(grant.source as usize).map(|s| &**s)
    }

    /// A grant's role name.
    pub fn role_name(&self, grant: &Grant) -> &str {
        self.role_names
            .get(grant.role as usize)
            .map_or("", String::as_str)
    }

    /// Every grant that applies to `user` / `groups` in `namespace`: namespace grants first,
    /// then gateway-wide ones; the user's own before its groups'.
    pub fn grants_for<'a>(
        &'a self,
        namespace: &str,
        user: &'a str,
        groups: &'a [String],
    ) -> impl Iterator<Item = &'a Grant> + 'a {
        let scoped = self.namespaces.get(namespace);
        [scoped, Some(&self.everywhere)]
            .into_iter()
            .flatten()
            .flat_map(move |sg| {
                let own = sg.users.get(user).into_iter().flatten();
                let via_groups = groups
                    .iter()
                    .filter_map(move |g| sg.groups.get(g.as_str()))
                    .flatten();
                own.chain(via_groups)
            })
    }
}

/// API ids as a grant keeps them: sorted, once each.
pub fn sorted(mut ids: Vec<u32>) -> Box<[u32]> {
    ids.sort_unstable();
    ids.dedup();
    ids.into_boxed_slice()
}
