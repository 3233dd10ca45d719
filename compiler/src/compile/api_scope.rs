//! `apis` on a Binding of a Kubeflow role: a grant limited to named APIs holds only on routes
//! that name an API (an `{api}` capture or a fixed `api`), so on every route that needs one of
//! the role's actions without an API (Kubeflow's web apps:
//! `/jupyter/api/namespaces/{namespace}/**` and the like) it never applies. Said as a warning
//! naming those routes.
//!
//! Only Kubeflow's roles are checked: the model-serving roles (`admin`, `developer`,
//! `read_only`) and declared roles exist to be limited to APIs, and that their namespace-wide
//! `list` then needs another grant is what `apis` means.

use gatehouse_filter::table::{Access, RouteSpec};

use super::roles::Roles;
use super::{ByKind, Ctx};
use crate::builtin::roles::KUBEFLOW_CLUSTER_ROLES;
use crate::path;

/// How many paths a warning lists by name.
const SHOWN: usize = 3;

/// Whether a request matched by `route` names an API.
fn names_an_api(route: &RouteSpec) -> bool {
    route.api.is_some() || route.path.split('/').any(|s| s == "{api}")
}

/// The route's path as a warning shows it: `/pipeline/**?namespace=`.
fn shown_path(route: &RouteSpec) -> String {
    match &route.namespace_query {
        Some(q) => format!("{}?{q}=", route.path),
        None => route.path.clone(),
    }
}

/// Warns, at its `apis`, about each Binding of a Kubeflow role limited to APIs whose role
/// grants actions that routes of the table need without an API.
pub(crate) fn check(objects: &ByKind, roles: &Roles, routes: &[RouteSpec], ctx: &mut Ctx<'_>) {
    for b in &objects.bindings {
        let Ok(spec) = b.spec() else { continue };
        let Some(apis) = &spec.apis else { continue };
        if apis.is_empty() || !KUBEFLOW_CLUSTER_ROLES.iter().any(|(r, _)| *r == spec.role) {
            continue;
        }
        let Some(actions) = roles.get(&spec.role) else {
            continue;
        };
        // Path → the actions its routes need, in table order.
        let mut unmet: Vec<(String, Vec<&str>)> = Vec::new();
        let mut count = 0;
        // A route with a fixed namespace counts only where the binding grants.
        let grants_in = |ns: &str| spec.namespaces.iter().any(|n| n == "*" || n == ns);
        let here = |r: &&RouteSpec| r.namespace.as_deref().is_none_or(grants_in);
        for r in routes.iter().filter(|r| !names_an_api(r)).filter(here) {
            let Access::Action(a) = &r.access else {
                continue;
            };
            if !actions.contains(a) {
                continue;
            }
            count += 1;
            let path = shown_path(r);
            match unmet.iter_mut().find(|(p, _)| *p == path) {
                Some((_, needs)) if !needs.contains(&a.as_str()) => needs.push(a),
                Some(_) => {}
                None => unmet.push((path, vec![a])),
            }
        }
        if unmet.is_empty() {
            continue;
        }
        let mut list = unmet
            .iter()
            .take(SHOWN)
            .map(|(p, needs)| format!("`{p}` ({})", needs.join(", ")))
            .collect::<Vec<_>>()
            .join(", ");
        if unmet.len() > SHOWN {
            let more = unmet.len() - SHOWN;
            let s = if more == 1 { "" } else { "s" };
            list.push_str(&format!(", and {more} more path{s}"));
        }
        let role = &spec.role;
        let s = if count == 1 { "" } else { "s" };
        ctx.report(
            b.doc
                .warning(
                    "routes-without-api",
                    path!["spec", "apis"],
                    format!(
                        "`apis` limits this `{role}` grant to requests that name an API, so it never applies on the {} route{s} that need its actions without one: {list}",
                        count
                    ),
                )
                .with_hint(format!(
                    "leave `apis` out to grant `{role}` on every route of its namespaces; with `apis` it holds only where a route names an API (`{{api}}` or a fixed `api`)"
                )),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_name_an_api_by_capture_or_fixed_value() {
        let mut route = RouteSpec {
            methods: Vec::new(),
            path: "/notebook/{namespace}/{api}/**".into(),
            namespace_query: None,
            namespace: None,
            api: None,
            access: Access::Action("connect".into()),
            source: "test".into(),
            hosts: Vec::new(),
        };
        assert!(names_an_api(&route));
        route.path = "/jupyter/api/namespaces/{namespace}/**".into();
        assert!(!names_an_api(&route));
        route.api = Some("quota".into());
        assert!(names_an_api(&route));
    }
}
