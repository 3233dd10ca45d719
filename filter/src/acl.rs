//! The access control list at run time: namespace → subject → grants, with each role's actions
//! folded into a bitmask at load. A decision costs a fixed number of hash lookups per group the
//! identity carries: it does not grow with the number of namespaces or bindings.

use std::collections::HashMap;

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

/// One grant at run time.
#[derive(Debug, Clone)]
pub struct Grant {
    /// The role's name.
    pub role: String,
    /// The role's actions.
    pub actions: ActionSet,
    /// Sorted API names the grant is limited to; `None`: every API.
    pub apis: Option<Vec<String>>,
    /// Where it came from.
    pub source: String,
}

impl Grant {
    /// Whether the grant covers `action` on `api`.
    pub fn covers(&self, action: u32, api: Option<&str>) -> bool {
        self.actions.contains(action)
            && match (&self.apis, api) {
                (None, _) => true,
                (Some(list), Some(api)) => list.binary_search_by(|a| a.as_str().cmp(api)).is_ok(),
                // A grant scoped to named APIs never covers a request that names no API.
                (Some(_), None) => false,
            }
    }
}

/// Grants in one namespace (or in all).
#[derive(Debug, Clone, Default)]
pub struct SubjectGrants {
    /// By user name.
    pub users: HashMap<String, Vec<Grant>>,
    /// By group name.
    pub groups: HashMap<String, Vec<Grant>>,
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
    /// Per namespace.
    pub namespaces: HashMap<String, SubjectGrants>,
    /// Grants that hold in every namespace.
    pub everywhere: SubjectGrants,
}

impl Acl {
    /// Builds the ACL from a table.
    pub fn new(table: &Table) -> Result<Acl, String> {
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
        }
        for (ns, subjects) in &table.grants {
            let target = if ns == "*" {
                &mut acl.everywhere
            } else {
                acl.namespaces.entry(ns.clone()).or_default()
            };
            for (subject, grants) in subjects {
                let (map, name) = if let Some(u) = subject.strip_prefix("user:") {
                    (&mut target.users, u)
                } else if let Some(g) = subject.strip_prefix("group:") {
                    (&mut target.groups, g)
                } else {
                    return Err(format!(
                        "subject `{subject}` in namespace `{ns}` is neither `user:…` nor `group:…`"
                    ));
                };
                let list = map.entry(name.to_string()).or_default();
                for g in grants {
                    list.push(Self::grant(&acl.roles, g)?);
                }
            }
        }
        Ok(acl)
    }

    fn grant(roles: &HashMap<String, ActionSet>, g: &GrantSpec) -> Result<Grant, String> {
        let actions = *roles
            .get(&g.role)
            .ok_or_else(|| format!("grant from {} names unknown role `{}`", g.source, g.role))?;
        let apis = g.apis.clone().map(|mut v| {
            v.sort();
            v.dedup();
            v
        });
        Ok(Grant {
            role: g.role.clone(),
            actions,
            apis,
            source: g.source.clone(),
        })
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
                    .filter_map(move |g| sg.groups.get(g))
                    .flatten();
                own.chain(via_groups)
            })
    }
}
