//! The access control list at run time, in flat arrays a worker builds with a handful of
//! allocations, whatever the table's size:
//!
//! - every subject and namespace name once, in one string arena ([`Names`]), sorted, found
//!   through a hash table of ids;
//! - per name, its entries ([`Entry`]: users' before groups', each scope once, every-namespace
//!   last), found by the name's id;
//! - per entry, a run of 8-byte grants (a role id and an API-set id).
//!
//! A decision costs one name lookup per subject the identity carries and a binary search in
//! that subject's entries: it does not grow with the number of namespaces or bindings. Where
//! a grant came from is kept only when the table is loaded for the authoring tools.

use std::collections::HashMap;
use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

use crate::table::{GrantSpec, Table};

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

/// The scope of a grant that holds in every namespace (it sorts after every namespace id).
pub const EVERY_NAMESPACE: u32 = u32::MAX;

/// The API set of a grant that covers every API.
pub const EVERY_API: u32 = u32::MAX;

/// One grant, as a decision reads it.
#[derive(Debug, Clone, Copy)]
pub struct Grant<'a> {
    /// The role, an index into [`Acl::role_names`].
    pub role: u32,
    /// The role's actions.
    pub actions: ActionSet,
    /// The APIs the grant is limited to, as sorted ids ([`Acl::api_ref`]); `None`: every API.
    pub apis: Option<&'a [u32]>,
    /// Its position in the ACL (for its source).
    index: usize,
}

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

impl Grant<'_> {
    /// Whether the grant covers `action` on `api`.
    pub fn covers(&self, action: u32, api: ApiRef) -> bool {
        self.actions.contains(action)
            && match (self.apis, api) {
                (None, _) => true,
                (Some(list), ApiRef::Known(id)) => list.binary_search(&id).is_ok(),
                // A grant scoped to named APIs never covers a request that names no API, nor
                // one it does not name.
                (Some(_), ApiRef::None | ApiRef::Other) => false,
            }
    }
}

/// Names held once each, in one arena, in strictly ascending byte order; id = position.
#[derive(Debug, Clone, Default)]
pub struct Names {
    text: String,
    /// End offset in `text` of each name.
    ends: Vec<u32>,
    /// Ids, hashed by their name.
    index: HashTable<u32>,
    hasher: DefaultHashBuilder,
}

/// The name `id` in an arena.
fn name_in<'t>(text: &'t str, ends: &[u32], id: u32) -> Option<&'t str> {
    let id = id as usize;
    let end = *ends.get(id)? as usize;
    let start = match id.checked_sub(1) {
        Some(prev) => *ends.get(prev)? as usize,
        None => 0,
    };
    text.get(start..end)
}

impl Names {
    /// Makes room for `names` more names of `bytes` bytes in all.
    pub fn reserve(&mut self, names: usize, bytes: usize) {
        self.text.reserve(bytes);
        self.ends.reserve(names);
        let hasher = &self.hasher;
        let (text, ends) = (&self.text, &self.ends);
        self.index.reserve(names, |id| {
            hasher.hash_one(name_in(text, ends, *id).unwrap_or_default())
        });
    }

    /// Appends a name and returns its id. Names must come in strictly ascending byte order,
    /// so that each is held once.
    pub fn push(&mut self, name: &str) -> Result<u32, String> {
        self.push_after(name, 0)
    }

    /// [`Names::push`] for a name known to share its first `shared` bytes with the last one
    /// (front coding): the order check starts there.
    pub fn push_after(&mut self, name: &str, shared: usize) -> Result<u32, String> {
        if let Some(last) = self.last() {
            let (tail, last_tail) = (name.as_bytes().get(shared..), last.as_bytes().get(shared..));
            if tail.zip(last_tail).is_none_or(|(t, l)| t <= l) {
                return Err(format!(
                    "name `{name}` does not sort after `{last}`: names must be sorted and unique"
                ));
            }
        }
        let id = u32::try_from(self.ends.len()).map_err(|_| "too many names".to_string())?;
        self.text.push_str(name);
        let end = u32::try_from(self.text.len()).map_err(|_| "names too long".to_string())?;
        self.ends.push(end);
        let hash = self.hasher.hash_one(name);
        let hasher = &self.hasher;
        let (text, ends) = (&self.text, &self.ends);
        self.index.insert_unique(hash, id, |id| {
            hasher.hash_one(name_in(text, ends, *id).unwrap_or_default())
        });
        Ok(id)
    }

    /// The name `id`.
    pub fn get(&self, id: u32) -> Option<&str> {
        name_in(&self.text, &self.ends, id)
    }

    /// The id of `name`, when it is held.
    pub fn id(&self, name: &str) -> Option<u32> {
        let hash = self.hasher.hash_one(name);
        self.index
            .find(hash, |id| self.get(*id) == Some(name))
            .copied()
    }

    /// The last name pushed.
    pub fn last(&self) -> Option<&str> {
        self.get(u32::try_from(self.ends.len().checked_sub(1)?).ok()?)
    }

    /// How many names are held.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether no name is held.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
}

/// One subject's grants in one scope: a run of [`Acl::grants`].
#[derive(Debug, Clone, Copy)]
struct Entry {
    /// A namespace's name id, or [`EVERY_NAMESPACE`].
    scope: u32,
    first: u32,
    count: u32,
    group: bool,
}

/// A grant as the ACL stores it.
#[derive(Debug, Clone, Copy)]
struct StoredGrant {
    role: u32,
    /// An index into [`Acl::api_sets`], or [`EVERY_API`].
    apis: u32,
}

/// A table's grants in the order the ACL and the binary form keep them: every name (subject,
/// namespace, API) sorted and once, a name's id its position; each subject's grants in a scope
/// keyed by (name id, is a group, scope id), sorted.
pub struct Ordered<'t> {
    /// The names.
    pub names: Vec<&'t str>,
    /// (subject's name id, group, namespace's name id or [`EVERY_NAMESPACE`], grants).
    pub grants: Vec<(u32, bool, u32, &'t [GrantSpec])>,
}

impl<'t> Ordered<'t> {
    /// Orders a table's grants.
    pub fn new(table: &'t Table) -> Ordered<'t> {
        let mut names: Vec<&str> = Vec::new();
        let mut subjects = Vec::new();
        for (scope, by_subject) in &table.grants {
            let scope = scope.namespace();
            names.extend(scope);
            for (subject, grants) in by_subject {
                let (group, name) = (subject.is_group(), subject.name());
                names.push(name);
                for g in grants {
                    names.extend(g.apis.iter().flatten().map(String::as_str));
                }
                subjects.push((name, group, scope, grants.as_slice()));
            }
        }
        names.sort_unstable();
        names.dedup();
        let id = |name: &str| names.binary_search(&name).map_or(u32::MAX, |i| i as u32);
        let mut grants: Vec<_> = subjects
            .into_iter()
            .map(|(name, group, scope, grants)| {
                (id(name), group, scope.map_or(EVERY_NAMESPACE, id), grants)
            })
            .collect();
        grants.sort_unstable_by_key(|k| (k.0, k.1, k.2));
        Ordered { names, grants }
    }

    /// The id of a name the table holds.
    pub fn id(&self, name: &str) -> Option<u32> {
        self.names.binary_search(&name).ok().map(|i| i as u32)
    }
}

/// The whole ACL.
#[derive(Debug, Clone, Default)]
pub struct Acl {
    /// Action name → bit.
    pub actions: HashMap<String, u32>,
    /// Action names by bit.
    pub action_names: Vec<String>,
    /// Role names by index ([`Grant::role`]).
    pub role_names: Vec<String>,
    /// Role name → index.
    role_ids: HashMap<String, u32>,
    /// Actions by role index.
    role_actions: Vec<ActionSet>,
    /// API name → id, for every API a grant names.
    apis: HashMap<Box<str>, u32>,
    /// The API sets grants are limited to (sorted ids), each once.
    api_sets: Vec<Box<[u32]>>,
    api_set_ids: HashMap<Box<[u32]>, u32>,
    /// Subject and namespace names.
    names: Names,
    /// Per name id, where its entries start (one more than there are names, once finished).
    rows: Vec<u32>,
    /// Sorted by (name, group, scope).
    entries: Vec<Entry>,
    grants: Vec<StoredGrant>,
    /// Whether sources are kept ([`Acl::push_grant`]).
    keep_sources: bool,
    /// Per grant, where it came from (empty: not known); empty when not kept.
    sources: Vec<Box<str>>,
}

impl Acl {
    /// Builds the ACL from a table; `provenance` keeps each grant's source (the authoring
    /// tools), or not (the gateway).
    pub fn new(table: &Table, provenance: bool) -> Result<Acl, String> {
        let mut acl = Acl::with_roles(table)?;
        acl.keep_sources = provenance;
        let Ordered {
            names,
            grants: keyed,
        } = Ordered::new(table);
        acl.names
            .reserve(names.len(), names.iter().map(|n| n.len()).sum());
        for n in &names {
            acl.names.push(n)?;
        }
        acl.reserve(keyed.len(), keyed.iter().map(|k| k.3.len()).sum());
        for (name, group, scope, grants) in keyed {
            acl.push_entry(name, group, scope)?;
            for g in grants {
                let role = acl.role(&g.role).ok_or_else(|| {
                    format!("grant from {} names unknown role `{}`", g.source, g.role)
                })?;
                let apis = match &g.apis {
                    Some(list) => {
                        let ids = list.iter().map(|n| acl.intern_api(n)).collect();
                        acl.api_set(ids)
                    }
                    None => EVERY_API,
                };
                acl.push_grant(role, apis, &g.source)?;
            }
        }
        acl.finish();
        Ok(acl)
    }

    /// The ACL of a table's actions and roles, without grants yet ([`Acl::push_entry`] adds
    /// them).
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
            acl.role_ids
                .insert(role.clone(), acl.role_names.len() as u32);
            acl.role_names.push(role.clone());
            acl.role_actions.push(ActionSet(set));
        }
        Ok(acl)
    }

    /// A role's index.
    pub fn role(&self, name: &str) -> Option<u32> {
        self.role_ids.get(name).copied()
    }

    /// A role's actions.
    pub fn actions_of(&self, role: &str) -> Option<ActionSet> {
        self.role_actions.get(self.role(role)? as usize).copied()
    }

    /// The names the grants use, to push into before the first entry.
    pub fn names_mut(&mut self) -> &mut Names {
        &mut self.names
    }

    /// The name `id` ([`Acl::names_mut`]).
    pub fn name(&self, id: u32) -> Option<&str> {
        self.names.get(id)
    }

    /// Makes room for more entries and grants.
    pub fn reserve(&mut self, entries: usize, grants: usize) {
        self.entries.reserve(entries);
        self.grants.reserve(grants);
        if self.keep_sources {
            self.sources.reserve(grants);
        }
        self.rows.reserve(self.names.len() + 1);
    }

    /// Starts a subject's grants in a scope (a namespace's name id, or [`EVERY_NAMESPACE`]);
    /// [`Acl::push_grant`] adds them. Entries come in strictly ascending (name, group, scope)
    /// order, each once.
    pub fn push_entry(&mut self, name: u32, group: bool, scope: u32) -> Result<(), String> {
        let names = self.names.len();
        let known = |id: u32| (id as usize) < names;
        if !known(name) || !(scope == EVERY_NAMESPACE || known(scope)) {
            return Err(format!(
                "a grant names subject {name} in scope {scope}; the table has {names} names"
            ));
        }
        if let Some(last) = self.entries.last() {
            let before = self.rows.len() as u32 - 1;
            if (name, group, scope) <= (before, last.group, last.scope) {
                return Err(format!(
                    "grants of `{}` are out of order or given twice",
                    self.names.get(name).unwrap_or_default()
                ));
            }
        }
        while self.rows.len() <= name as usize {
            self.rows.push(self.entries.len() as u32);
        }
        let first = self.grants.len() as u32;
        self.entries.push(Entry {
            scope,
            first,
            count: 0,
            group,
        });
        Ok(())
    }

    /// Adds a grant to the entry [`Acl::push_entry`] started: a role index and an API set
    /// ([`Acl::api_set`], or [`EVERY_API`]), and where it came from (empty: not known).
    pub fn push_grant(&mut self, role: u32, apis: u32, source: &str) -> Result<(), String> {
        if role as usize >= self.role_names.len() {
            return Err(format!("a grant names role {role}, which the table lacks"));
        }
        if apis != EVERY_API && apis as usize >= self.api_sets.len() {
            return Err(format!(
                "a grant names API set {apis}, which the table lacks"
            ));
        }
        let entry = self
            .entries
            .last_mut()
            .ok_or_else(|| "a grant before any subject".to_string())?;
        entry.count += 1;
        self.grants.push(StoredGrant { role, apis });
        if self.keep_sources {
            self.sources.push(source.into());
        }
        Ok(())
    }

    /// Ends the grants: every name gets its (maybe empty) row.
    pub fn finish(&mut self) {
        while self.rows.len() <= self.names.len() {
            self.rows.push(self.entries.len() as u32);
        }
    }

    /// How many namespaces hold grants (counted when asked: the gateway never asks).
    pub fn namespace_count(&self) -> usize {
        let mut scopes: Vec<u32> = self
            .entries
            .iter()
            .map(|e| e.scope)
            .filter(|s| *s != EVERY_NAMESPACE)
            .collect();
        scopes.sort_unstable();
        scopes.dedup();
        scopes.len()
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

    /// The id of a set of API ids (in any order, repeats allowed), interning it.
    pub fn api_set(&mut self, mut ids: Vec<u32>) -> u32 {
        ids.sort_unstable();
        ids.dedup();
        let ids = ids.into_boxed_slice();
        if let Some(id) = self.api_set_ids.get(&ids) {
            return *id;
        }
        let id = self.api_sets.len() as u32;
        self.api_sets.push(ids.clone());
        self.api_set_ids.insert(ids, id);
        id
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
    pub fn source(&self, grant: &Grant<'_>) -> Option<&str> {
        self.sources
            .get(grant.index)
            .map(|s| &**s)
            .filter(|s| !s.is_empty())
    }

    /// A grant's role name.
    pub fn role_name(&self, grant: &Grant<'_>) -> &str {
        self.role_names
            .get(grant.role as usize)
            .map_or("", String::as_str)
    }

    /// The grants of one subject (by name id) in one scope, as indices into [`Acl::grants`].
    fn entry_grants(&self, id: Option<u32>, group: bool, scope: u32) -> std::ops::Range<usize> {
        let found = id.and_then(|id| {
            let start = *self.rows.get(id as usize)? as usize;
            let end = *self.rows.get(id as usize + 1)? as usize;
            let row = self.entries.get(start..end)?;
            let at = row
                .binary_search_by_key(&(group, scope), |e| (e.group, e.scope))
                .ok()?;
            let e = row.get(at)?;
            Some(e.first as usize..e.first as usize + e.count as usize)
        });
        found.unwrap_or_default()
    }

    /// Grant `index` as a decision reads it.
    fn grant(&self, index: usize) -> Option<Grant<'_>> {
        let stored = self.grants.get(index)?;
        Some(Grant {
            role: stored.role,
            actions: self
                .role_actions
                .get(stored.role as usize)
                .copied()
                .unwrap_or_default(),
            apis: self.api_sets.get(stored.apis as usize).map(|s| &**s),
            index,
        })
    }

    /// Every grant that applies to `user` / `groups` in `namespace`: namespace grants first,
    /// then gateway-wide ones; the user's own before its groups'.
    pub fn grants_for<'a>(
        &'a self,
        namespace: &str,
        user: &str,
        groups: &'a [String],
    ) -> impl Iterator<Item = Grant<'a>> + 'a {
        let scoped = self.names.id(namespace);
        // Looked up once for both scopes (groups are looked up per scope: the namespace's
        // grants usually decide, and holding their ids would cost an allocation).
        let user = self.names.id(user);
        [scoped, Some(EVERY_NAMESPACE)]
            .into_iter()
            .flatten()
            .flat_map(move |scope| {
                let own = self.entry_grants(user, false, scope);
                let via_groups = groups
                    .iter()
                    .flat_map(move |g| self.entry_grants(self.names.id(g), true, scope));
                own.chain(via_groups)
            })
            .filter_map(|i| self.grant(i))
    }
}

#[cfg(test)]
mod tests;
