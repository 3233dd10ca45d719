//! `gatehouse emit envoyfilter`: an Istio `EnvoyFilter` (`networking.istio.io/v1alpha3`) for
//! Istio versions without `WasmPlugin` (or where it is not allowed). Three patches on the
//! gateway:
//!
//! 1. `EXTENSION_CONFIG` adds the filter with the table ([`super::envoy::wasm_config`]) as an
//!    extension configuration named `<namespace>/<name>`, which istiod serves to the gateway
//!    over ECDS (Extension Config Discovery), as it does for a `WasmPlugin`;
//! 2. `HTTP_FILTER` inserts, before the router of each HTTP connection manager, a filter that
//!    takes its configuration from that extension configuration (`config_discovery` over ADS).
//!    So a new table applies to the next request on every connection, open ones included:
//!    with the table inside the listener, every change would be a listener update, and open
//!    connections would keep the old table until they close or drain;
//! 3. `NETWORK_FILTER` merges `headers_with_underscores_action` into those connection managers
//!    (see [`super::envoy::HEADERS_WITH_UNDERSCORES_ACTION`]).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::envoy::{common_http_protocol_options, discovered_filter, wasm_config, HCM_TYPE_URL};
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

/// The name of the extension configuration: qualified by the namespace, as Istio advises, so
/// it cannot collide with another namespace's (nor with a `WasmPlugin`'s `<namespace>.<name>`).
pub fn extension_name(o: &EnvoyFilterOptions) -> String {
    format!("{}/{}", o.namespace, o.name)
}

/// The `match.listener` of the patches: the gateway's HTTP connection managers (on `port`).
fn listener_match(port: Option<u32>, sub_filter: Option<&str>) -> Value {
    let mut filter = json!({"name": "envoy.filters.network.http_connection_manager"});
    if let (Some(sub), Some(obj)) = (sub_filter, filter.as_object_mut()) {
        obj.insert("subFilter".into(), json!({"name": sub}));
    }
    let mut listener = json!({"filterChain": {"filter": filter}});
    if let (Some(port), Some(obj)) = (port, listener.as_object_mut()) {
        obj.insert("portNumber".into(), json!(port));
    }
    listener
}

/// The `NETWORK_FILTER` patch that sets `headers_with_underscores_action` on the gateway's
/// HTTP connection managers (on `port`). Also usable on its own, beside a `WasmPlugin`.
pub fn underscore_headers_patch(port: Option<u32>) -> Value {
    json!({
        "applyTo": "NETWORK_FILTER",
        "match": {"context": "GATEWAY", "listener": listener_match(port, None)},
        "patch": {
            "operation": "MERGE",
            "value": {
                "typed_config": {
                    "@type": HCM_TYPE_URL,
                    "common_http_protocol_options": common_http_protocol_options(),
                },
            },
        },
    })
}

/// Builds the `EnvoyFilter` as a JSON value (serialized to YAML by the caller).
pub fn manifest(o: &EnvoyFilterOptions) -> Value {
    let name = extension_name(o);
    // The config source of the discovered filter: istiod, over the gateway's ADS stream.
    // `initial_fetch_timeout: 0s`: a listener waits for its table however long it takes,
    // rather than starting without one.
    let source = json!({"ads": {}, "initial_fetch_timeout": "0s", "resource_api_version": "V3"});
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
            "configPatches": [
                {
                    "applyTo": "EXTENSION_CONFIG",
                    "match": {"context": "GATEWAY"},
                    "patch": {
                        "operation": "ADD",
                        "value": {
                            "name": name,
                            "typed_config": wasm_config(&o.wasm_path, &o.table_json),
                        },
                    },
                },
                {
                    "applyTo": "HTTP_FILTER",
                    "match": {
                        "context": "GATEWAY",
                        "listener": listener_match(o.port, Some("envoy.filters.http.router")),
                    },
                    "patch": {
                        "operation": "INSERT_BEFORE",
                        "value": discovered_filter(&name, source),
                    },
                },
                underscore_headers_patch(o.port),
            ],
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
    let egress = common.egress();
    let m = manifest(&EnvoyFilterOptions {
        name: common.name,
        namespace: common.namespace,
        selector: common.selector,
        wasm_path: args.wasm_path.clone(),
        table_json: common.table_compact,
        port: args.port,
        table_sha256: common.table_sha256,
    });
    super::finish(m, egress, &args.istio)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn delivers_the_table_as_an_extension_config_before_the_router_on_gateways() {
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
        let patches = &m["spec"]["configPatches"];
        let ext = &patches[0];
        assert_eq!(ext["applyTo"], "EXTENSION_CONFIG");
        assert_eq!(ext["match"]["context"], "GATEWAY");
        assert_eq!(ext["patch"]["operation"], "ADD");
        assert_eq!(ext["patch"]["value"]["name"], "istio-system/gatehouse");
        let cfg = &ext["patch"]["value"]["typed_config"]["config"];
        assert_eq!(cfg["configuration"]["value"], "{\"format_version\":1}");
        assert_eq!(cfg["fail_open"], false);
        assert_eq!(cfg["vm_config"]["code"]["local"]["filename"], o.wasm_path);

        let p = &patches[1];
        assert_eq!(p["applyTo"], "HTTP_FILTER");
        assert_eq!(p["match"]["context"], "GATEWAY");
        assert_eq!(p["match"]["listener"]["portNumber"], 8080);
        assert_eq!(
            p["match"]["listener"]["filterChain"]["filter"]["subFilter"]["name"],
            "envoy.filters.http.router"
        );
        assert_eq!(p["patch"]["operation"], "INSERT_BEFORE");
        let f = &p["patch"]["value"];
        assert_eq!(f["name"], "istio-system/gatehouse");
        assert!(f.get("typed_config").is_none(), "no table in the listener");
        assert_eq!(f["config_discovery"]["config_source"]["ads"], json!({}));
        assert_eq!(
            f["config_discovery"]["type_urls"][0],
            super::super::envoy::WASM_TYPE_URL
        );

        let h = &patches[2];
        assert_eq!(h["applyTo"], "NETWORK_FILTER");
        assert_eq!(h["match"]["listener"]["portNumber"], 8080);
        assert_eq!(h["patch"]["operation"], "MERGE");
        assert_eq!(
            h["patch"]["value"]["typed_config"]["common_http_protocol_options"]
                ["headers_with_underscores_action"],
            "REJECT_REQUEST"
        );
        assert_eq!(
            m["spec"]["workloadSelector"]["labels"]["istio"],
            "ingressgateway"
        );
    }
}
