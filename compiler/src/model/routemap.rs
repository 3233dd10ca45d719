//! `RouteMap` (gatehouse.dev/v1alpha1): new actions and the routes that need them.

use serde::Deserialize;

/// Spec of a `RouteMap`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteMapSpec {
    /// New action names.
    #[serde(default)]
    pub actions: Vec<String>,
    /// Hosts every route of the map answers for (`kubeflow.example.com`, `*.example.com`);
    /// empty: every host. A route's own `hosts` replaces it.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Routes.
    #[serde(default)]
    pub routes: Vec<RouteIn>,
}

/// A route as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RouteIn {
    /// Path template.
    pub path: String,
    /// Methods (default all).
    #[serde(default)]
    pub methods: Vec<String>,
    /// Action required.
    pub action: Option<String>,
    /// Or: no action, only authentication / nothing.
    pub access: Option<AccessIn>,
    /// Query parameter carrying the namespace.
    pub namespace_query: Option<String>,
    /// Fixed namespace.
    pub namespace: Option<String>,
    /// Fixed API name.
    pub api: Option<String>,
    /// Hosts this route answers for, instead of the map's.
    pub hosts: Option<Vec<String>>,
}

/// Access without an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessIn {
    /// Any verified identity.
    Authenticated,
    /// No identity.
    Public,
}
