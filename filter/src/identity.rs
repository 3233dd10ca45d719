//! Who a request is, once its token verified: what the verifiers produce and the ACL reads.

/// A verified identity.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Identity {
    /// The user (email, `sub`, or `system:serviceaccount:<ns>:<name>`).
    pub user: String,
    /// Groups, already prefixed as the issuer says.
    pub groups: Vec<String>,
    /// Name of the issuer that vouched for it.
    pub issuer: String,
}
