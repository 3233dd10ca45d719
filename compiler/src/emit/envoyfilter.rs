//! `gatehouse emit envoyfilter`: an Istio `EnvoyFilter` (`networking.istio.io/v1alpha3`) for
//! Istio versions without `WasmPlugin` (or where it is not allowed): inserts the same
//! `envoy.filters.http.wasm` entry as the standalone config ([`super::envoy::wasm_filter`])
//! before the router of the gateway's HTTP connection managers.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::envoy::wasm_filter;
use super::wasmplugin::TABLE_SHA256_ANNOTATION;

/// What the manifest needs.
#[derive(Debug, Clone)]
pub struct EnvoyFilterOptions {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace` (the gateway's, usually `istio-system`).
    pub namespace: String,
    /// `spec.workloadSelector.labels`.
    pub selector: BTreeMap<String, String>,
    /// Path of the `.wasm` inside the gateway pod (mounted from a volume).
    pub wasm_path: String,
    /// The compiled table as compact JSON text (the filter's configuration string).
    pub table_json: String,
    /// Only the listener on this gateway port (e.g. 8080), else every gateway listener.
    pub port: Option<u32>,
    /// SHA-256 of the table's JSON text, recorded as an annotation.
    pub table_sha256: String,
}

/// Builds the `EnvoyFilter` as a JSON value (serialized to YAML by the caller).
pub fn manifest(o: &EnvoyFilterOptions) -> Value {
    let mut listener = json!({
        "filterChain": {
            "filter": {
                "name": "envoy.filters.network.http_connection_manager",
                "subFilter": {"name": "envoy.filters.http.router"},
            },
        },
    });
    if let (Some(port), Some(obj)) = (o.port, listener.as_object_mut()) {
        obj.insert("portNumber".into(), json!(port));
    }
    json!({
        "apiVersion": "networking.istio.io/v1alpha3",
        "kind": "EnvoyFilter",
        "metadata": {
            "name": o.name,
            "namespace": o.namespace,
            "annotations": {TABLE_SHA256_ANNOTATION: o.table_sha256},
        },
        "spec": {
            "workloadSelector": {"labels": o.selector},
            "configPatches": [{
                "applyTo": "HTTP_FILTER",
                "match": {"context": "GATEWAY", "listener": listener},
                "patch": {
                    "operation": "INSERT_BEFORE",
                    "value": wasm_filter(&o.wasm_path, &o.table_json),
                },
            }],
        },
    })
}

/// Runs `gatehouse emit envoyfilter`: the manifest as YAML, or every reason it cannot be made.
pub fn emit(args: &super::EnvoyFilterArgs) -> Result<String, Vec<String>> {
    let common = super::istio_common(&args.istio);
    let path_ok = args.wasm_path.starts_with('/') && args.wasm_path.ends_with(".wasm");
    let common = match (common, path_ok) {
        (Ok(c), true) => c,
        (c, ok) => {
            let mut errors: Vec<String> = c.err().into_iter().flatten().collect();
            if !ok {
                errors.push(format!(
                    "--wasm-path `{}`: expected the absolute path of a `.wasm` file inside the gateway pod",
                    args.wasm_path
                ));
            }
            return Err(errors);
        }
    };
    if args.port.is_some_and(|p| p == 0 || p > 65535) {
        return Err(vec!["--port: expected 1 to 65535".into()]);
    }
    let m = manifest(&EnvoyFilterOptions {
        name: common.name,
        namespace: common.namespace,
        selector: common.selector,
        wasm_path: args.wasm_path.clone(),
        table_json: common.table_compact,
        port: args.port,
        table_sha256: common.table_sha256,
    });
    super::finish(&m, &args.istio)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn inserts_the_wasm_filter_before_the_router_on_gateways() {
        let o = EnvoyFilterOptions {
            name: "gatehouse".into(),
            namespace: "istio-system".into(),
            selector: BTreeMap::from([("istio".into(), "ingressgateway".into())]),
            wasm_path: "/var/lib/gatehouse/gatehouse.wasm".into(),
            table_json: "{\"format_version\":1}".into(),
            port: Some(8080),
            table_sha256: "t".into(),
        };
        let m = manifest(&o);
        let p = &m["spec"]["configPatches"][0];
        assert_eq!(p["applyTo"], "HTTP_FILTER");
        assert_eq!(p["match"]["context"], "GATEWAY");
        assert_eq!(p["match"]["listener"]["portNumber"], 8080);
        assert_eq!(
            p["match"]["listener"]["filterChain"]["filter"]["subFilter"]["name"],
            "envoy.filters.http.router"
        );
        assert_eq!(p["patch"]["operation"], "INSERT_BEFORE");
        let cfg = &p["patch"]["value"]["typed_config"]["config"];
        assert_eq!(cfg["configuration"]["value"], "{\"format_version\":1}");
        assert_eq!(cfg["fail_open"], false);
        assert_eq!(cfg["vm_config"]["code"]["local"]["filename"], o.wasm_path);
        assert_eq!(
            m["spec"]["workloadSelector"]["labels"]["istio"],
            "ingressgateway"
        );
    }
}
