//! Kubeflow `Profile` (`kubeflow.org/v1`, `v1beta1`), as `kubectl get profiles -o yaml` prints it.

use std::collections::BTreeMap;

use k8s_openapi::api::rbac::v1::Subject;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;

/// A Profile. Fields Kubeflow owns (`status`, `resourceQuotaSpec`, `plugins`, …) are accepted
/// and ignored.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    /// Standard object metadata; `name` is the namespace.
    pub metadata: ObjectMeta,
    /// The spec.
    pub spec: ProfileSpec,
}

/// Spec of a Profile.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileSpec {
    /// The owner (User or Group), who gets `kubeflow-admin` in the namespace.
    pub owner: Subject,
    /// Everything else Kubeflow puts in a Profile spec.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}
