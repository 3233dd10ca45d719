//! `Role` (gatehouse.dev/v1alpha1): a named set of actions.

use serde::Deserialize;

/// Spec of a `Role`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleSpec {
    /// Actions the role grants.
    pub actions: Vec<String>,
}
