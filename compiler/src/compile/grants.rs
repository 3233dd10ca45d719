//! Grants: Profile owners (and their namespaces' ServiceAccounts), KFAM RoleBindings, and
//! `Binding` objects → namespace → subject → grants.

use std::collections::BTreeMap;

use gatehouse_filter::path::is_namespace_name;
use gatehouse_filter::table::{GrantSpec, Scope, Subject};
use k8s_openapi::api::rbac::v1::RoleRef;

use super::gateway::Gateway;
use super::namespaces::Namespaces;
use super::roles::Roles;
use super::subjects::{binding_subject, check_user, rbac_subject, SA_PREFIX};
use super::{ByKind, Ctx, Seen};
use crate::builtin::roles::KUBEFLOW_CLUSTER_ROLES;
use crate::diagnostic::{did_you_mean, Diagnostic};
use crate::path;
use crate::yaml::{Document, Step};

/// Namespace (or `*`) → subject → grants, each subject's grants in the order they were found
/// (sorted and deduplicated once, at the end: a set per subject would cost a B-tree node per
/// subject). Keyed by the namespace's text while it grows, so that finding one allocates
/// nothing; the table's [`Scope`]s at the end (`*` sorts first, as `Scope::Every` does).
type Grants = BTreeMap<String, BTreeMap<Subject, Vec<GrantSpec>>>;

fn add(grants: &mut Grants, ns: &str, subject: Subject, grant: GrantSpec) {
    let subjects = match grants.get_mut(ns) {
        Some(subjects) => subjects,
        None => grants.entry(ns.to_string()).or_default(),
    };
    subjects.entry(subject).or_default().push(grant);
}

fn undeclared(
    ns: &str,
    namespaces: &Namespaces,
    doc: &Document,
    at: &[Step],
) -> Option<Diagnostic> {
    (!namespaces.contains_key(ns)).then(|| {
        doc.warning(
            "undeclared-namespace",
            at,
            format!("binding to namespace `{ns}`, which no Profile or Namespace declares"),
        )
        .with_hint(
            did_you_mean(ns, namespaces.keys().map(String::as_str))
                .unwrap_or_else(|| "add a Profile or a `Namespace` for it, or fix the name".into()),
        )
    })
}

pub(crate) fn compile(
    objects: &ByKind,
    gw: &Gateway,
    namespaces: &Namespaces,
    roles: &Roles,
    ctx: &mut Ctx<'_>,
) -> BTreeMap<Scope, BTreeMap<Subject, Vec<GrantSpec>>> {
    let mut grants = Grants::new();
    profiles(objects, gw, &mut grants, ctx);
    role_bindings(objects, namespaces, &mut grants, ctx);
    bindings(objects, namespaces, roles, &mut grants, ctx);
    for list in grants.values_mut().flat_map(BTreeMap::values_mut) {
        list.sort_unstable();
        list.dedup();
        list.shrink_to_fit();
    }
    grants
        .into_iter()
        .map(|(ns, s)| (Scope::from(ns), s))
        .collect()
}

fn profiles(objects: &ByKind, gw: &Gateway, grants: &mut Grants, ctx: &mut Ctx<'_>) {
    for p in &objects.profiles {
        let Some(ns) = p.value.metadata.name.as_deref() else {
            continue;
        };
        let source = format!("{} (Profile {ns})", p.doc.source_at(path![]));
        let owner = &p.value.spec.owner;
        let at = path!["spec", "owner", "name"];
        let subject = match owner.kind.as_str() {
            "User" => ctx
                .ok(check_user(&owner.name, &p.doc, at))
                .map(|()| Subject::User(owner.name.clone())),
            "Group" if !owner.name.is_empty() => Some(Subject::Group(owner.name.clone())),
            "Group" => {
                ctx.report(
                    p.doc
                        .error("invalid-value", at, "a subject's name must not be empty"),
                );
                None
            }
            other => {
                ctx.report(
                    p.doc
                        .error(
                            "invalid-value",
                            path!["spec", "owner", "kind"],
                            format!("a Profile owner's kind is `User` or `Group`, not `{other}`"),
                        )
                        .with_hint_opt(did_you_mean(other, ["User", "Group"])),
                );
                None
            }
        };
        if let Some(subject) = subject {
            let g = GrantSpec {
                role: "kubeflow-admin".into(),
                apis: None,
                source: source.clone(),
            };
            add(grants, ns, subject, g);
        }
        if gw.profile_service_accounts {
            for (sa, role) in [
                ("default-editor", "kubeflow-edit"),
                ("default-viewer", "kubeflow-view"),
            ] {
                let g = GrantSpec {
                    role: role.into(),
                    apis: None,
                    source: source.clone(),
                };
                add(
                    grants,
                    ns,
                    Subject::User(format!("{SA_PREFIX}{ns}:{sa}")),
                    g,
                );
            }
        }
    }
}

fn role_bindings(
    objects: &ByKind,
    namespaces: &Namespaces,
    grants: &mut Grants,
    ctx: &mut Ctx<'_>,
) {
    let mut seen = Seen::new();
    for rb in &objects.role_bindings {
        let (doc, b) = (&rb.doc, &rb.value);
        let name = b.metadata.name.as_deref().unwrap_or_default();
        let role_ref = &b.role_ref;
        // Which role it binds decides first: a RoleBinding to anything but Kubeflow's
        // ClusterRoles (a kustomize base's `Role` for a web app, with no namespace until an
        // overlay sets one) is not a contributor, whatever else it lacks.
        let Some(short) = kubeflow_role(role_ref) else {
            ctx.report(not_a_contributor(doc, role_ref));
            continue;
        };
        let Some(ns) = b.metadata.namespace.as_deref() else {
            ctx.report(
                doc.error(
                    "missing-field",
                    path!["metadata"],
                    "missing field `namespace`: a RoleBinding grants in its own namespace",
                )
                .with_hint("set `metadata.namespace` to the Profile namespace it grants in"),
            );
            continue;
        };
        let dup = seen.declare(
            format!("{ns}/{name}"),
            format_args!("RoleBinding `{ns}/{name}`"),
            doc,
            path!["metadata", "name"],
        );
        if ctx.ok(dup).is_none() {
            continue;
        }
        let role_annotation = b.metadata.annotations.as_ref().and_then(|a| a.get("role"));
        if let Some(a) = role_annotation {
            if a != short && a != &role_ref.name {
                ctx.report(
                    doc.error(
                        "conflicting-declaration",
                        path!["metadata", "annotations", "role"],
                        format!(
                            "annotation role `{a}` conflicts with roleRef `{}`",
                            role_ref.name
                        ),
                    )
                    .with_hint(format!(
                        "KFAM writes `role: {short}` for roleRef `{}`: make them agree",
                        role_ref.name
                    )),
                );
                continue;
            }
        }
        if !is_namespace_name(ns) {
            ctx.report(doc.error(
                "invalid-namespace",
                path!["metadata", "namespace"],
                format!("`{ns}` is not a valid namespace name"),
            ));
            continue;
        }
        ctx.diags.extend(undeclared(
            ns,
            namespaces,
            doc,
            path!["metadata", "namespace"],
        ));
        let source = format!("{} (RoleBinding {name})", doc.source_at(path![]));
        for (i, s) in b.subjects.iter().flatten().enumerate() {
            let at = path!["subjects", i, "name"];
            if let Some(subject) = ctx.ok(rbac_subject(s, ns, doc, at)) {
                let g = GrantSpec {
                    role: role_ref.name.clone(),
                    apis: None,
                    source: source.clone(),
                };
                add(grants, ns, subject, g);
            }
        }
    }
}

/// The short name KFAM writes for `role_ref` (`edit`), when it is one of Kubeflow's
/// ClusterRoles; `None` for any other roleRef.
fn kubeflow_role(role_ref: &RoleRef) -> Option<&'static str> {
    KUBEFLOW_CLUSTER_ROLES
        .iter()
        .find(|(r, _)| role_ref.kind == "ClusterRole" && *r == role_ref.name)
        .map(|(_, short)| *short)
}

/// The warning for a RoleBinding that is not a KFAM contributor: it names the roleRef field
/// that makes it so (a `kind` other than `ClusterRole`, else the `name`).
fn not_a_contributor(doc: &Document, role_ref: &RoleRef) -> Diagnostic {
    let (at, why) = if role_ref.kind == "ClusterRole" {
        (path!["roleRef", "name"], String::new())
    } else {
        (
            path!["roleRef", "kind"],
            format!(
                "; a namespaced `{}` is never a KFAM contributor",
                role_ref.kind
            ),
        )
    };
    doc.warning(
        "ignored",
        at,
        format!(
            "ignored: not a Kubeflow role (roleRef {} `{}`){why}",
            role_ref.kind, role_ref.name
        ),
    )
    .with_hint("Gatehouse reads RoleBindings to ClusterRoles `kubeflow-admin`, `kubeflow-edit`, `kubeflow-view`")
}

fn bindings(
    objects: &ByKind,
    namespaces: &Namespaces,
    roles: &Roles,
    grants: &mut Grants,
    ctx: &mut Ctx<'_>,
) {
    let mut seen = Seen::new();
    for b in &objects.bindings {
        let doc = &b.doc;
        let name = &b.value.metadata.name;
        let dup = seen.declare(
            name,
            format_args!("Binding `{name}`"),
            doc,
            path!["metadata", "name"],
        );
        if ctx.ok(dup).is_none() {
            continue;
        }
        let Some(spec) = ctx.ok(b.spec()) else {
            continue;
        };
        let before = ctx.diags.len();
        if !roles.contains_key(&spec.role) {
            ctx.report(
                doc.error(
                    "unknown-role",
                    path!["spec", "role"],
                    format!("unknown role `{}`", spec.role),
                )
                .with_hint_opt(did_you_mean(&spec.role, roles.keys().map(String::as_str))),
            );
        }
        let mut subjects = Vec::new();
        for (i, s) in spec.subjects.iter().enumerate() {
            let r = binding_subject(s, i, doc);
            subjects.extend(ctx.ok(r));
        }
        if spec.namespaces.is_empty() {
            ctx.report(
                doc.error(
                    "invalid-value",
                    path!["spec", "namespaces"],
                    "`namespaces` must name at least one namespace",
                )
                .with_hint("use `[\"*\"]` for every namespace"),
            );
        }
        for (i, ns) in spec.namespaces.iter().enumerate() {
            let at = path!["spec", "namespaces", i];
            if ns == "*" {
                continue;
            }
            if !is_namespace_name(ns) {
                ctx.report(doc.error(
                    "invalid-namespace",
                    at,
                    format!("`{ns}` is not a valid namespace name"),
                ));
            } else {
                ctx.diags.extend(undeclared(ns, namespaces, doc, at));
            }
        }
        if spec.apis.as_ref().is_some_and(Vec::is_empty) {
            ctx.report(
                doc.error(
                    "invalid-value",
                    path!["spec", "apis"],
                    "`apis` is empty, so the grant holds for no request",
                )
                .with_hint("name at least one API, or leave `apis` out to grant every API"),
            );
        }
        let apis = spec.apis.as_ref().map(|a| {
            let mut a = a.clone();
            a.sort();
            a.dedup();
            a
        });
        for (i, api) in spec.apis.iter().flatten().enumerate() {
            if api.is_empty() || api.contains(['/', '?', '#']) || api == "*" {
                ctx.report(
                    doc.error(
                        "invalid-value",
                        path!["spec", "apis", i],
                        format!("`{api}` is not an API name"),
                    )
                    .with_hint("leave `apis` out to grant every API"),
                );
            }
        }
        if ctx.diags[before..].iter().any(Diagnostic::is_error) {
            continue;
        }
        let source = b.source();
        for ns in &spec.namespaces {
            for subject in &subjects {
                let g = GrantSpec {
                    role: spec.role.clone(),
                    apis: apis.clone(),
                    source: source.clone(),
                };
                add(grants, ns, subject.clone(), g);
            }
        }
    }
}
