//! The secrets a table's browser sign-in reads from the gateway's environment: which
//! variables each emitted configuration gives the Wasm VM.

use serde_json::Value;

/// The environment variables a gateway that takes its tables by reference gives its Wasm VM
/// (when Envoy has them): the sign-in defaults, and Kubeflow's name for Dex's client secret.
pub const BY_REFERENCE_SIGN_IN_ENV: [&str; 3] = [
    "GATEHOUSE_CLIENT_SECRET",
    "GATEHOUSE_COOKIE_KEYS",
    "OIDC_CLIENT_SECRET",
];

/// The environment variables a table's sign-in reads (its client secret and cookie keys),
/// which the gateway's Wasm VM must be given; none for a table without sign-in, or one that
/// is not inline JSON.
pub fn sign_in_env(table_json: &str) -> Vec<String> {
    match serde_json::from_str::<Value>(table_json) {
        Ok(table) => sign_in_env_of(&table),
        Err(_) => Vec::new(),
    }
}

/// [`sign_in_env`] of a table (or a source configuration) as JSON.
pub fn sign_in_env_of(table: &Value) -> Vec<String> {
    if table.get("table_source").is_some() {
        // Tables by reference: which variables they read is known only once one arrives, so
        // the VM gets the conventional names (docs/deploy.md, *Browser sign-in*).
        return BY_REFERENCE_SIGN_IN_ENV.map(String::from).to_vec();
    }
    let mut names: Vec<String> = table["issuers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i.get("sign_in"))
        .flat_map(|s| [&s["client_secret_env"], &s["cookie_keys_env"]])
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    names.sort();
    names.dedup();
    names
}
