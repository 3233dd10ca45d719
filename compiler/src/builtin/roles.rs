//! Built-in actions and roles (Kubeflow's and Cortex's).

/// Actions every table knows.
pub const ACTIONS: &[&str] = &[
    "get", "list", "create", "update", "delete", "connect", "manage", "deploy", "logs", "predict",
    "explain",
];

const KF_VIEW: &[&str] = &["get", "list", "logs"];
const KF_EDIT: &[&str] = &[
    "get", "list", "logs", "create", "update", "delete", "connect", "deploy", "predict", "explain",
];
const KF_ADMIN: &[&str] = &[
    "get", "list", "logs", "create", "update", "delete", "connect", "deploy", "predict", "explain",
    "manage",
];
const READ_ONLY: &[&str] = &["get", "list", "logs"];
const DEVELOPER: &[&str] = &[
    "get", "list", "logs", "deploy", "delete", "predict", "explain",
];
const ADMIN: &[&str] = &[
    "get", "list", "logs", "deploy", "delete", "predict", "explain", "manage",
];

/// Built-in roles: name → actions. They cannot be redeclared.
pub const ROLES: &[(&str, &[&str])] = &[
    ("kubeflow-view", KF_VIEW),
    ("kubeflow-edit", KF_EDIT),
    ("kubeflow-admin", KF_ADMIN),
    ("read_only", READ_ONLY),
    ("developer", DEVELOPER),
    ("admin", ADMIN),
];

/// Kubeflow's ClusterRoles that KFAM binds, with the short name KFAM writes in the `role`
/// annotation.
pub const KUBEFLOW_CLUSTER_ROLES: &[(&str, &str)] = &[
    ("kubeflow-admin", "admin"),
    ("kubeflow-edit", "edit"),
    ("kubeflow-view", "view"),
];
