//! Effective access read from a table: who holds which role where, and which roles hold an
//! action. `who-can` filters it; `diff` compares two of them. Role action sets come from the
//! engine's ACL, so they are the filter's own.

use std::collections::{BTreeMap, BTreeSet};

use gatehouse_filter::Engine;

/// One grant to one subject, flattened out of the table.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Held {
    /// `user:<name>` or `group:<name>`.
    pub subject: String,
    /// The namespace, or `*` for every namespace.
    pub namespace: String,
    /// The role.
    pub role: String,
    /// API names the grant is limited to, when it is.
    pub apis: Option<Vec<String>>,
    /// Where it came from.
    pub source: String,
}

/// Every grant in the table, sorted by namespace, subject and role.
pub fn grants(engine: &Engine) -> Vec<Held> {
    let mut out = Vec::new();
    for (ns, subjects) in &engine.table.grants {
        for (subject, list) in subjects {
            for g in list {
                out.push(Held {
                    subject: subject.to_string(),
                    namespace: ns.to_string(),
                    role: g.role.clone(),
                    apis: g.apis.clone(),
                    source: g.source.clone(),
                });
            }
        }
    }
    out.sort();
    out
}

/// The actions a role holds, by name, sorted (empty for an unknown role).
pub fn role_actions(engine: &Engine, role: &str) -> BTreeSet<String> {
    let acl = engine.acl();
    let Some(set) = acl.actions_of(role) else {
        return BTreeSet::new();
    };
    acl.action_names
        .iter()
        .enumerate()
        .filter(|(bit, _)| u32::try_from(*bit).is_ok_and(|b| set.contains(b)))
        .map(|(_, name)| name.clone())
        .collect()
}

/// A subject in the user's words: `("user", "bob@example.com")`, `("group", "ml-ops")`, or
/// `("serviceaccount", "ci/model-deployer")`.
pub fn subject_kind(subject: &str) -> (&'static str, String) {
    if let Some(u) = subject.strip_prefix("user:") {
        match u.strip_prefix("system:serviceaccount:") {
            Some(sa) => ("serviceaccount", sa.replacen(':', "/", 1)),
            None => ("user", u.to_string()),
        }
    } else if let Some(g) = subject.strip_prefix("group:") {
        ("group", g.to_string())
    } else {
        ("subject", subject.to_string())
    }
}

/// What one subject may do in one namespace (or `*`) on one API scope.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AccessKey {
    /// `user:<name>` or `group:<name>`.
    pub subject: String,
    /// The namespace, or `*`.
    pub namespace: String,
    /// `None`: every API; `Some(name)`: that API only.
    pub api: Option<String>,
    /// The action.
    pub action: String,
}

/// How an access is held: the roles and the sources granting it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Via {
    /// Roles granting it.
    pub roles: BTreeSet<String>,
    /// Sources of those grants.
    pub sources: BTreeSet<String>,
}

/// The effective access set: every (subject, namespace, api scope, action) some grant gives.
pub fn access_set(engine: &Engine) -> BTreeMap<AccessKey, Via> {
    let mut out: BTreeMap<AccessKey, Via> = BTreeMap::new();
    for h in grants(engine) {
        let scopes: Vec<Option<String>> = match &h.apis {
            None => vec![None],
            Some(apis) => apis.iter().cloned().map(Some).collect(),
        };
        for action in role_actions(engine, &h.role) {
            for api in &scopes {
                let via = out
                    .entry(AccessKey {
                        subject: h.subject.clone(),
                        namespace: h.namespace.clone(),
                        api: api.clone(),
                        action: action.clone(),
                    })
                    .or_default();
                via.roles.insert(h.role.clone());
                via.sources.insert(h.source.clone());
            }
        }
    }
    out
}
