//! `gatehouse emit envoy`: a runnable standalone Envoy configuration with the Gatehouse filter
//! in front of one upstream. Used by the demo, the end-to-end tests and the benchmarks, and a
//! starting point for gateways run without Istio.

use std::net::SocketAddr;

use serde_json::{json, Value};

/// What the standalone config needs.
#[derive(Debug, Clone)]
pub struct EnvoyOptions {
    /// Path of the filter's `.wasm` as Envoy will see it.
    pub wasm_path: String,
    /// The compiled table (JSON text), passed as the plugin configuration.
    pub table_json: String,
    /// Listener address.
    pub listen: SocketAddr,
    /// Upstream address (one HTTP/1.1 endpoint).
    pub upstream: SocketAddr,
    /// Admin address (stats, `/ready`); `None`: no admin listener.
    pub admin: Option<SocketAddr>,
}

/// An Envoy `address` for a socket.
pub fn socket(addr: SocketAddr) -> Value {
    json!({"socket_address": {"address": addr.ip().to_string(), "port_value": addr.port()}})
}

/// A static cluster of one HTTP/1.1 endpoint.
pub fn cluster(name: &str, addr: SocketAddr) -> Value {
    json!({
        "name": name,
        "type": "STATIC",
        "connect_timeout": "2s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": socket(addr)}}]}],
        },
    })
}

/// The router filter, last in every HCM filter list.
pub fn router_filter() -> Value {
    json!({
        "name": "envoy.filters.http.router",
        "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
    })
}

/// An HTTP connection manager sending every request to cluster `upstream` through
/// `http_filters` (which must end with [`router_filter`]).
pub fn connection_manager(stat_prefix: &str, http_filters: Vec<Value>) -> Value {
    json!({
        "name": "envoy.filters.network.http_connection_manager",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            "stat_prefix": stat_prefix,
            "codec_type": "AUTO",
            // Gatehouse normalizes paths itself and forwards the normalized form, so what it
            // judged is what the upstream serves.
            "route_config": {
                "name": "local",
                "virtual_hosts": [{
                    "name": "all",
                    "domains": ["*"],
                    "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "upstream"}}],
                }],
            },
            "http_filters": http_filters,
        },
    })
}

/// The filter entry for an HCM `http_filters` list.
pub fn wasm_filter(wasm_path: &str, table_json: &str) -> Value {
    json!({
        "name": "envoy.filters.http.wasm",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "name": "gatehouse",
                "root_id": "gatehouse",
                "fail_open": false,
                "configuration": {
                    "@type": "type.googleapis.com/google.protobuf.StringValue",
                    "value": table_json,
                },
                "vm_config": {
                    "vm_id": "gatehouse",
                    "runtime": "envoy.wasm.runtime.v8",
                    "code": {"local": {"filename": wasm_path}},
                },
            },
        },
    })
}

/// Builds the Envoy bootstrap as a JSON value (serialized to YAML by the caller).
pub fn bootstrap(o: &EnvoyOptions) -> Value {
    let hcm = connection_manager(
        "gatehouse_ingress",
        vec![wasm_filter(&o.wasm_path, &o.table_json), router_filter()],
    );
    let mut boot = json!({
        "static_resources": {
            "listeners": [{
                "name": "gatehouse",
                "address": socket(o.listen),
                "filter_chains": [{"filters": [hcm]}],
            }],
            "clusters": [cluster("upstream", o.upstream)],
        },
    });
    if let (Some(admin), Some(obj)) = (o.admin, boot.as_object_mut()) {
        obj.insert("admin".into(), json!({"address": socket(admin)}));
    }
    boot
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn bootstrap_carries_table_and_wasm_and_binds_where_told() {
        let o = EnvoyOptions {
            wasm_path: "/x/gatehouse.wasm".into(),
            table_json: "{\"format_version\":1}".into(),
            listen: "127.0.0.1:18000".parse().unwrap(),
            upstream: "127.0.0.1:18001".parse().unwrap(),
            admin: Some("127.0.0.1:18002".parse().unwrap()),
        };
        let b = bootstrap(&o);
        let l = &b["static_resources"]["listeners"][0];
        assert_eq!(l["address"]["socket_address"]["port_value"], 18000);
        let f = &l["filter_chains"][0]["filters"][0]["typed_config"]["http_filters"];
        assert_eq!(
            f[0]["typed_config"]["config"]["configuration"]["value"],
            "{\"format_version\":1}"
        );
        assert_eq!(f[0]["typed_config"]["config"]["fail_open"], false);
        assert_eq!(f[1]["name"], "envoy.filters.http.router");
        assert_eq!(b["admin"]["address"]["socket_address"]["port_value"], 18002);
    }
}
