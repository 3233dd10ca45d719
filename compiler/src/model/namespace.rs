//! `Namespace` (gatehouse.dev/v1alpha1): declares a namespace no Profile creates.

use serde::Deserialize;

/// Spec of a `Namespace` (empty; may be left out).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamespaceSpec {}
