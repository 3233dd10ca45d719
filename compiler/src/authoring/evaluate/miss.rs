//! The nearest miss: for a denied request, what the identity does hold and what it would have
//! needed, in the author's words ("carol has `kubeflow-view` in `alice` …; `delete` needs one
//! of: …"). Read from the same table and ACL the engine decided with.

use gatehouse_filter::table::{Access, Scope, Subject};
use gatehouse_filter::{DenyReason, Engine};
use serde::Serialize;

use super::Evaluation;

/// A grant the identity holds in the request's namespace (or everywhere).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeldGrant {
    /// `user:<name>` or `group:<name>`: through which subject it is held.
    pub subject: String,
    /// The namespace, or `*`.
    pub namespace: String,
    /// The role.
    pub role: String,
    /// API names the grant is limited to, when it is.
    pub apis: Option<Vec<String>>,
    /// Where it came from.
    pub source: String,
    /// Whether the role holds the request's action.
    pub has_action: bool,
}

/// Why a request was denied, and what came closest to allowing it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Miss {
    /// Sentences for people.
    pub lines: Vec<String>,
    /// Roles whose actions hold the request's action (sorted).
    pub needs: Vec<String>,
    /// Grants the identity holds in the namespace.
    pub held: Vec<HeldGrant>,
}

/// Explains a denial (or an audited would-be denial).
pub fn nearest_miss(engine: &Engine, ev: &Evaluation) -> Miss {
    let reason = ev.decision.deny_reason().or(ev.decision.audited);
    let mut miss = Miss::default();
    let line = match reason {
        None => return miss,
        Some(DenyReason::NotPermitted) => {
            permission_miss(engine, ev, &mut miss);
            return miss;
        }
        Some(DenyReason::BadPath) => "the path cannot be judged safely (an encoded `/` or `\\`, `..` above the root, a `;` parameter, a control byte or a bad escape): the gateway answers 400".to_string(),
        Some(DenyReason::BadNamespace) => "the namespace taken from the request is not a valid Kubernetes namespace name".into(),
        Some(DenyReason::AmbiguousNamespace) => "the namespace query parameter is given more than once".into(),
        Some(DenyReason::RouteUnknown) => format!(
            "no route matches `{} {}` and the table has no catch-all route",
            ev.method,
            ev.normalized.as_deref().unwrap_or(&ev.raw_path)
        ),
        Some(DenyReason::NoIdentity) => {
            let what = match ev.decision.target.as_ref().map(|t| (&t.access, &t.namespace)) {
                Some((Access::Action(a), Some(ns))) => {
                    format!("an identity granted `{a}` in `{ns}`")
                }
                _ => "a verified identity".into(),
            };
            format!("no identity was presented; the route needs {what}")
        }
        Some(r) => match &ev.token {
            Some(t) => format!(
                "the token failed check `{}` ({}): {}",
                t.checks
                    .last()
                    .map(|c| c.name)
                    .unwrap_or("format"),
                r.code(),
                t.detail.as_deref().unwrap_or_default()
            ),
            None => format!("denied: {}", r.code()),
        },
    };
    miss.lines.push(line);
    miss
}

fn permission_miss(engine: &Engine, ev: &Evaluation, miss: &mut Miss) {
    let (Some(target), Some(action), Some(id)) = (
        ev.decision.target.as_ref(),
        ev.decision.action.as_deref(),
        ev.identity.as_ref(),
    ) else {
        return;
    };
    let ns = target.namespace.as_deref().unwrap_or_default();
    let acl = engine.acl();
    let bit = acl.actions.get(action).copied();
    let holds = |role: &str| {
        bit.zip(acl.actions_of(role))
            .is_some_and(|(b, set)| set.contains(b))
    };
    miss.needs = engine
        .table
        .roles
        .keys()
        .filter(|r| holds(r))
        .cloned()
        .collect();
    let subjects: Vec<Subject> = std::iter::once(Subject::User(id.user.clone()))
        .chain(id.groups.iter().map(|g| Subject::Group(g.clone())))
        .collect();
    for scope in [Scope::parse(ns), Scope::Every] {
        let Some(by_subject) = engine.table.grants.get(&scope) else {
            continue;
        };
        for subject in &subjects {
            for g in by_subject.get(subject).into_iter().flatten() {
                miss.held.push(HeldGrant {
                    subject: subject.to_string(),
                    namespace: scope.to_string(),
                    role: g.role.clone(),
                    apis: g.apis.clone(),
                    source: g.source.clone(),
                    has_action: holds(&g.role),
                });
            }
        }
    }
    let who = format!("`{}`", id.user);
    if miss.held.is_empty() {
        miss.lines.push(format!(
            "{who} holds no grant in `{ns}` nor in every namespace"
        ));
    }
    for h in &miss.held {
        let via = match h.subject.strip_prefix("group:") {
            Some(g) => format!(" through group `{g}`"),
            None => String::new(),
        };
        let place = if h.namespace == "*" {
            "in every namespace".to_string()
        } else {
            format!("in `{}`", h.namespace)
        };
        let (only, asked) = match (&h.apis, h.has_action) {
            (Some(apis), true) => (
                format!(" only for apis [{}]", apis.join(", ")),
                match &target.api {
                    Some(api) => format!("; the request is for `{api}`"),
                    None => "; the request names no api".into(),
                },
            ),
            _ => (String::new(), String::new()),
        };
        miss.lines.push(format!(
            "{who} has `{}` {place}{via}{only}, from {}{asked}",
            h.role, h.source
        ));
    }
    miss.lines.push(if miss.needs.is_empty() {
        format!("no role holds `{action}`")
    } else {
        format!("`{action}` needs one of: {}", miss.needs.join(", "))
    });
}
