//! `Binding` (gatehouse.dev/v1alpha1): grants a role to subjects in namespaces, optionally only
//! for some APIs.

use serde::Deserialize;

/// Spec of a `Binding`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BindingSpec {
    /// The role granted.
    pub role: String,
    /// Who gets it.
    pub subjects: Vec<SubjectIn>,
    /// Where (`["*"]`: every namespace).
    pub namespaces: Vec<String>,
    /// Only for these API names, when set.
    pub apis: Option<Vec<String>>,
}

/// A subject as written in a `Binding`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectIn {
    /// User, Group or ServiceAccount.
    pub kind: SubjectKind,
    /// Name (email for users, group name, ServiceAccount name).
    pub name: String,
    /// ServiceAccount namespace (ServiceAccounts only).
    pub namespace: Option<String>,
}

/// Kind of subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum SubjectKind {
    /// A user.
    User,
    /// A group.
    Group,
    /// A Kubernetes ServiceAccount.
    ServiceAccount,
}
