//! The Envoy clusters of the standalone configuration that the filter fetches issuer keys
//! through: one per key host, named as the table's `key_fetch` names it
//! (`outbound|<port>||<host>`, Istio's naming, so one table serves both deployments).
//!
//! - **Never in the way of start-up.** A DNS name is a `STRICT_DNS` cluster with
//!   `wait_for_warm_on_init: false`: Envoy starts listening without waiting for the first
//!   answer, and the filter decides with its compiled keys meanwhile. An IPv4 literal, or a
//!   host given `--resolve`, is a `STATIC` cluster.
//! - **TLS that checks the host.** `https` hosts get an `UpstreamTlsContext` with `sni` and a
//!   `validation_context` trusting the CA bundle (the system's, or `--ca-file`) AND
//!   `match_typed_subject_alt_names` naming the host: Envoy checks the chain against
//!   `trusted_ca` but not the host name unless told which names to accept.

use std::path::Path;

use serde_json::{json, Value};

use super::socket;
use crate::key_hosts::{KeyHost, Resolve};

/// Connect timeout of a key cluster (each fetch has its own overall timeout in the table).
pub const CONNECT_TIMEOUT: &str = "3s";

/// The cluster for `host`: reached at `resolve`'s address when given, TLS checked against the
/// CA bundle `ca_file` (needed for `https` hosts only).
pub fn key_cluster(host: &KeyHost, ca_file: Option<&Path>, resolve: Option<&Resolve>) -> Value {
    let name = host.cluster_name();
    let (kind, address) = match (resolve, host.ipv4()) {
        (Some(r), _) => ("STATIC", socket(r.addr)),
        (None, Some(ip)) => ("STATIC", socket((ip, host.port).into())),
        (None, None) => (
            "STRICT_DNS",
            json!({"socket_address": {"address": host.host, "port_value": host.port}}),
        ),
    };
    let mut cluster = json!({
        "name": name,
        "type": kind,
        "connect_timeout": CONNECT_TIMEOUT,
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": address}}]}],
        },
    });
    let Some(obj) = cluster.as_object_mut() else {
        return cluster;
    };
    if kind == "STRICT_DNS" {
        // Start-up does not wait for DNS; until the name resolves, a fetch fails like any
        // other (logged, counted, retried) and the compiled keys decide.
        obj.insert("wait_for_warm_on_init".into(), json!(false));
        obj.insert("dns_lookup_family".into(), json!("V4_PREFERRED"));
    }
    if host.tls {
        obj.insert("transport_socket".into(), tls_socket(host, ca_file));
    }
    cluster
}

/// The TLS transport socket of an `https` key host: SNI (not for an IP address, which SNI
/// cannot carry), the CA bundle, and the host as the one subject alternative name accepted.
fn tls_socket(host: &KeyHost, ca_file: Option<&Path>) -> Value {
    let san = match host.ipv4() {
        Some(_) => json!({"san_type": "IP_ADDRESS", "matcher": {"exact": host.host}}),
        None => json!({"san_type": "DNS", "matcher": {"exact": host.host}}),
    };
    let ca = ca_file.map(|p| p.display().to_string()).unwrap_or_default();
    let mut tls = json!({
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
        "common_tls_context": {
            "validation_context": {
                "trusted_ca": {"filename": ca},
                "match_typed_subject_alt_names": [san],
            },
        },
    });
    if let (None, Some(obj)) = (host.ipv4(), tls.as_object_mut()) {
        obj.insert("sni".into(), json!(host.host));
    }
    json!({"name": "envoy.transport_sockets.tls", "typed_config": tls})
}

/// The clusters of every key host, in the hosts' order.
pub fn key_clusters(hosts: &[KeyHost], ca_file: Option<&Path>, resolves: &[Resolve]) -> Vec<Value> {
    hosts
        .iter()
        .map(|h| key_cluster(h, ca_file, Resolve::find(resolves, &h.host, h.port)))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn host(h: &str, port: u16, tls: bool) -> KeyHost {
        KeyHost::new(h, port, tls)
    }

    #[test]
    fn a_dns_host_does_not_hold_up_start_and_its_tls_checks_the_name() {
        let c = key_cluster(
            &host("dex.example.com", 443, true),
            Some(Path::new("/ca.pem")),
            None,
        );
        assert_eq!(c["name"], "outbound|443||dex.example.com");
        assert_eq!(c["type"], "STRICT_DNS");
        assert_eq!(c["wait_for_warm_on_init"], false);
        let addr = &c["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"];
        assert_eq!(addr["socket_address"]["address"], "dex.example.com");
        assert_eq!(addr["socket_address"]["port_value"], 443);
        let tls = &c["transport_socket"]["typed_config"];
        assert_eq!(tls["sni"], "dex.example.com");
        let v = &tls["common_tls_context"]["validation_context"];
        assert_eq!(v["trusted_ca"]["filename"], "/ca.pem");
        assert_eq!(
            v["match_typed_subject_alt_names"],
            json!([{"san_type": "DNS", "matcher": {"exact": "dex.example.com"}}])
        );
    }

    #[test]
    fn resolve_and_ip_literals_are_static_and_keep_the_name_checked() {
        let r = Resolve::parse("keys.test:443=127.0.0.1:8443").unwrap();
        let c = key_cluster(
            &host("keys.test", 443, true),
            Some(Path::new("/ca")),
            Some(&r),
        );
        assert_eq!(c["type"], "STATIC");
        assert!(c.get("wait_for_warm_on_init").is_none());
        let addr = &c["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"];
        assert_eq!(addr["socket_address"]["address"], "127.0.0.1");
        assert_eq!(addr["socket_address"]["port_value"], 8443);
        let tls = &c["transport_socket"]["typed_config"];
        assert_eq!(tls["sni"], "keys.test");
        assert_eq!(
            tls["common_tls_context"]["validation_context"]["match_typed_subject_alt_names"][0]
                ["matcher"]["exact"],
            "keys.test"
        );

        let c = key_cluster(&host("10.1.2.3", 8443, true), Some(Path::new("/ca")), None);
        assert_eq!(c["type"], "STATIC");
        let tls = &c["transport_socket"]["typed_config"];
        assert!(tls.get("sni").is_none(), "no SNI for an IP address");
        assert_eq!(
            tls["common_tls_context"]["validation_context"]["match_typed_subject_alt_names"][0]
                ["san_type"],
            "IP_ADDRESS"
        );
        let plain = key_cluster(&host("dex.auth.svc.cluster.local", 5556, false), None, None);
        assert!(plain.get("transport_socket").is_none());
        assert_eq!(plain["name"], "outbound|5556||dex.auth.svc.cluster.local");
    }
}
