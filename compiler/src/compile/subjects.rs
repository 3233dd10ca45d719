//! Subjects: users (emails, never ServiceAccounts in disguise), groups and ServiceAccounts →
//! the table's `user:<name>` / `group:<name>` keys.

use gatehouse_filter::path::is_namespace_name;
use gatehouse_filter::table::Subject as TableSubject;
use k8s_openapi::api::rbac::v1::Subject;

use super::validate::check_email;
use crate::diagnostic::{did_you_mean, Diagnostic};
use crate::model::binding::{SubjectIn, SubjectKind};
use crate::path;
use crate::yaml::{Document, Step};

/// How Kubernetes names a ServiceAccount as a user.
pub(crate) const SA_PREFIX: &str = "system:serviceaccount:";

/// Checks a user name: an email where it holds `@`, never a ServiceAccount in disguise.
pub(crate) fn check_user(name: &str, doc: &Document, at: &[Step]) -> Result<(), Diagnostic> {
    if name.is_empty() {
        return Err(doc.error("invalid-value", at, "a subject's name must not be empty"));
    }
    if let Some(rest) = name.strip_prefix(SA_PREFIX) {
        let hint = match rest.split_once(':') {
            Some((ns, sa)) => {
                format!("write `kind: ServiceAccount`, `name: {sa}`, `namespace: {ns}` instead")
            }
            None => "write it as `kind: ServiceAccount` with `name` and `namespace`".into(),
        };
        return Err(doc
            .error(
                "invalid-subject",
                at,
                format!("user `{name}` names a ServiceAccount"),
            )
            .with_hint(hint));
    }
    if name.contains('@') {
        check_email(name).map_err(|(m, h)| doc.error("invalid-email", at, m).with_hint_opt(h))?;
    }
    Ok(())
}

/// A Kubernetes RBAC subject → table subject.
pub(crate) fn rbac_subject(
    s: &Subject,
    binding_ns: &str,
    doc: &Document,
    at: &[Step],
) -> Result<TableSubject, Diagnostic> {
    match s.kind.as_str() {
        "User" => check_user(&s.name, doc, at).map(|()| TableSubject::User(s.name.clone())),
        // The same rules as a `Binding`'s subjects: an empty name would grant `group:` or a
        // ServiceAccount no token can name.
        "Group" | "ServiceAccount" if s.name.is_empty() => {
            Err(doc.error("invalid-value", at, "a subject's name must not be empty"))
        }
        "Group" => Ok(TableSubject::Group(s.name.clone())),
        "ServiceAccount" => {
            let ns = s.namespace.as_deref().unwrap_or(binding_ns);
            if !is_namespace_name(ns) {
                return Err(doc.error(
                    "invalid-namespace",
                    at,
                    format!(
                        "ServiceAccount `{}` is in `{ns}`, which is not a valid namespace name",
                        s.name
                    ),
                ));
            }
            Ok(TableSubject::User(format!("{SA_PREFIX}{ns}:{}", s.name)))
        }
        other => Err(doc
            .error(
                "invalid-value",
                at,
                format!("unknown subject kind `{other}`"),
            )
            .with_hint_opt(did_you_mean(other, ["User", "Group", "ServiceAccount"]))),
    }
}

/// A `Binding` subject (item `i` of `spec.subjects`) → table subject.
pub(crate) fn binding_subject(
    s: &SubjectIn,
    i: usize,
    doc: &Document,
) -> Result<TableSubject, Diagnostic> {
    let at = path!["spec", "subjects", i, "name"];
    match (s.kind, &s.namespace) {
        (SubjectKind::User, None) => {
            check_user(&s.name, doc, at).map(|()| TableSubject::User(s.name.clone()))
        }
        (SubjectKind::Group, None) if !s.name.is_empty() => Ok(TableSubject::Group(s.name.clone())),
        (SubjectKind::Group, None) => {
            Err(doc.error("invalid-value", at, "a subject's name must not be empty"))
        }
        (SubjectKind::ServiceAccount, Some(ns)) if is_namespace_name(ns) && !s.name.is_empty() => {
            Ok(TableSubject::User(format!("{SA_PREFIX}{ns}:{}", s.name)))
        }
        (SubjectKind::ServiceAccount, Some(ns)) => Err(doc.error(
            "invalid-namespace",
            path!["spec", "subjects", i, "namespace"],
            format!("`{ns}` is not a valid namespace name"),
        )),
        (SubjectKind::ServiceAccount, None) => Err(doc
            .error(
                "missing-field",
                path!["spec", "subjects", i],
                "a ServiceAccount subject needs `namespace`",
            )
            .with_hint("name the ServiceAccount's own namespace")),
        (_, Some(_)) => Err(doc
            .error(
                "invalid-value",
                path!["spec", "subjects", i, "namespace"],
                "only a ServiceAccount subject has a `namespace`",
            )
            .with_hint("remove `namespace`; the binding's `namespaces` say where it grants")),
    }
}
