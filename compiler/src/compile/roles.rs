//! Actions (built-in plus those RouteMaps declare) and roles (built-in plus `Role` objects).

use std::collections::{BTreeMap, BTreeSet};

use super::{ByKind, Ctx, Seen};
use gatehouse_filter::acl::MAX_ACTIONS;

use crate::builtin::roles::{ACTIONS, ROLES};
use crate::diagnostic::did_you_mean;
use crate::path;

/// The role table: name → sorted actions.
pub(crate) type Roles = BTreeMap<String, Vec<String>>;

/// Whether `name` may be an action or role name.
fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

pub(crate) fn compile(objects: &ByKind, ctx: &mut Ctx<'_>) -> (BTreeSet<String>, Roles) {
    let mut actions: BTreeSet<String> = ACTIONS.iter().map(|a| a.to_string()).collect();
    for rm in &objects.route_maps {
        let Ok(spec) = rm.spec() else { continue };
        for (i, a) in spec.actions.iter().enumerate() {
            let at = path!["spec", "actions", i];
            if !is_name(a) {
                ctx.report(rm.doc.error(
                    "invalid-value",
                    at,
                    format!("`{a}` is not a valid action name: use letters, digits, `-`, `_`"),
                ));
            } else if !actions.contains(a) && actions.len() >= MAX_ACTIONS {
                // The filter holds a role's actions as one 64-bit set: say so here, where the
                // author can fix it, rather than have the gateway refuse the table.
                ctx.report(
                    rm.doc
                        .error(
                            "too-many-actions",
                            at,
                            format!(
                                "action `{a}` would be action {} of a table that holds at most {MAX_ACTIONS} ({} built in)",
                                actions.len() + 1,
                                ACTIONS.len()
                            ),
                        )
                        .with_hint("reuse an existing action for routes that need the same grant"),
                );
            } else if !actions.insert(a.clone()) {
                let first = if ACTIONS.contains(&a.as_str()) {
                    "it is built in".to_string()
                } else {
                    "another RouteMap declares it".to_string()
                };
                ctx.report(
                    rm.doc
                        .error(
                            "duplicate-declaration",
                            at,
                            format!("duplicate declaration of action `{a}`"),
                        )
                        .with_hint(format!("{first}: use it without declaring it")),
                );
            }
        }
    }

    let mut roles: Roles = ROLES
        .iter()
        .map(|(name, acts)| {
            let mut v: Vec<String> = acts.iter().map(|a| a.to_string()).collect();
            v.sort();
            (name.to_string(), v)
        })
        .collect();
    let mut seen = Seen::new();
    for r in &objects.roles {
        let name = &r.value.metadata.name;
        let at = path!["metadata", "name"];
        if ROLES.iter().any(|(n, _)| n == name) {
            ctx.report(
                r.doc
                    .error(
                        "duplicate-declaration",
                        at,
                        format!("duplicate declaration of Role `{name}`: it is built in"),
                    )
                    .with_hint("built-in roles cannot be redeclared: choose another name"),
            );
            continue;
        }
        if !is_name(name) {
            ctx.report(r.doc.error(
                "invalid-value",
                at,
                format!("`{name}` is not a valid role name: use letters, digits, `-`, `_`"),
            ));
            continue;
        }
        let dup = seen.declare(name.as_str(), format_args!("Role `{name}`"), &r.doc, at);
        if ctx.ok(dup).is_none() {
            continue;
        }
        let Some(spec) = ctx.ok(r.spec()) else {
            continue;
        };
        let mut acts = BTreeSet::new();
        for (i, a) in spec.actions.iter().enumerate() {
            if actions.contains(a) {
                acts.insert(a.clone());
            } else {
                ctx.report(
                    r.doc
                        .error(
                            "unknown-action",
                            path!["spec", "actions", i],
                            format!("unknown action `{a}`"),
                        )
                        .with_hint_opt(
                            did_you_mean(a, actions.iter().map(String::as_str)).or_else(|| {
                                Some("declare it in a RouteMap's `actions`".to_string())
                            }),
                        ),
                );
            }
        }
        roles.insert(name.clone(), acts.into_iter().collect());
    }
    (actions, roles)
}
