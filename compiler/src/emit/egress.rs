//! What Istio needs for the filter to fetch keys from hosts outside the mesh, written beside
//! the `WasmPlugin` or `EnvoyFilter`: per key host, a `ServiceEntry` (which gives the gateway
//! the cluster `outbound|<port>||<host>` the table's `key_fetch` names) and a
//! `DestinationRule` that originates TLS on it.
//!
//! Why the port is declared `HTTP` and TLS comes from the `DestinationRule`: the filter's
//! fetch (`dispatch_http_call`) hands the cluster a plain HTTP request, so the cluster itself
//! must open the TLS connection. That is Istio's documented TLS origination ("Egress TLS
//! Origination"): the port carries HTTP into the proxy, and the `DestinationRule`'s
//! `portLevelSettings[].tls` (`mode: SIMPLE`, `sni`) makes the cluster speak TLS to the host.
//! A port declared `HTTPS` instead would tell Istio that the traffic entering the cluster is
//! TLS already. The port number is the key URL's (443), so the cluster's name matches the
//! table's; the `DestinationRule` also names the host as the certificate's accepted subject
//! alternative name, so the host name is checked, not only the chain (against the proxy's
//! system CA bundle, as Istio does for `SIMPLE` without `caCertificates`).
//!
//! Both objects are exported to their own namespace only (`exportTo: ["."]`, the gateway's):
//! they serve the gateway's fetches and change nothing for the rest of the mesh. In-cluster
//! hosts (`*.svc`, `*.svc.cluster.local`, e.g. Kubeflow's Dex at
//! `http://dex.auth.svc.cluster.local:5556`) need nothing: Istio has their clusters already.

use serde_json::{json, Value};

use crate::crd::manifest::check_name;
use crate::key_hosts::KeyHost;
use gatehouse_filter::live::is_in_cluster;

/// Whether the gateway needs a `ServiceEntry` to reach `host` (it is outside the cluster).
pub fn needs_service_entry(host: &KeyHost) -> bool {
    !is_in_cluster(&host.host)
}

/// `metadata.name` of the objects of `host`: `<name>-keys-<host>-<port>`, or, when that is
/// not a valid name (too long), `<name>-keys-<digest of host:port>`.
pub fn object_name(name: &str, host: &KeyHost) -> String {
    let readable = format!("{name}-keys-{}-{}", host.host, host.port);
    if check_name("", &readable).is_ok() && readable.split('.').all(|l| l.len() <= 63) {
        return readable;
    }
    let digest = super::wasmplugin::sha256_hex(host.authority().as_bytes());
    format!("{name}-keys-{}", &digest[..16])
}

/// The `ServiceEntry` and `DestinationRule` of every key host outside the cluster, in the
/// hosts' order, in `namespace`.
pub fn manifests(hosts: &[KeyHost], name: &str, namespace: &str) -> Vec<Value> {
    hosts
        .iter()
        .filter(|h| needs_service_entry(h))
        .flat_map(|h| {
            let object = object_name(name, h);
            [
                service_entry(h, &object, namespace),
                destination_rule(h, &object, namespace),
            ]
        })
        .collect()
}

fn metadata(object: &str, namespace: &str) -> Value {
    json!({"name": object, "namespace": namespace})
}

/// The `ServiceEntry` of `host`: its port as HTTP (what the filter sends into the cluster),
/// resolved by DNS, or at the address itself for an IPv4 literal.
pub fn service_entry(host: &KeyHost, object: &str, namespace: &str) -> Value {
    let mut spec = json!({
        "hosts": [host.host],
        "location": "MESH_EXTERNAL",
        "ports": [{"number": host.port, "name": format!("http-{}", host.port), "protocol": "HTTP"}],
        "resolution": "DNS",
        "exportTo": ["."],
    });
    if let (Some(ip), Some(obj)) = (host.ipv4(), spec.as_object_mut()) {
        obj.insert("resolution".into(), json!("STATIC"));
        obj.insert("endpoints".into(), json!([{"address": ip.to_string()}]));
    }
    json!({
        "apiVersion": "networking.istio.io/v1",
        "kind": "ServiceEntry",
        "metadata": metadata(object, namespace),
        "spec": spec,
    })
}

/// The `DestinationRule` originating TLS to `host` on its key port: SNI (not for an IP
/// address) and the host as the accepted subject alternative name.
pub fn destination_rule(host: &KeyHost, object: &str, namespace: &str) -> Value {
    let mut tls = json!({"mode": "SIMPLE", "subjectAltNames": [host.host]});
    if let (None, Some(obj)) = (host.ipv4(), tls.as_object_mut()) {
        obj.insert("sni".into(), json!(host.host));
    }
    json!({
        "apiVersion": "networking.istio.io/v1",
        "kind": "DestinationRule",
        "metadata": metadata(object, namespace),
        "spec": {
            "host": host.host,
            "exportTo": ["."],
            "trafficPolicy": {
                "portLevelSettings": [{"port": {"number": host.port}, "tls": tls}],
            },
        },
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn external_hosts_get_an_http_port_and_tls_origination_on_it() {
        let hosts = [
            KeyHost::new("dex.auth.svc.cluster.local", 5556, false),
            KeyHost::new("dex.example.com", 443, true),
        ];
        let m = manifests(&hosts, "gatehouse", "istio-system");
        assert_eq!(m.len(), 2, "nothing for the in-cluster host");
        let (se, dr) = (&m[0], &m[1]);
        assert_eq!(se["kind"], "ServiceEntry");
        assert_eq!(se["metadata"]["name"], "gatehouse-keys-dex.example.com-443");
        assert_eq!(se["metadata"]["namespace"], "istio-system");
        assert_eq!(se["spec"]["hosts"], json!(["dex.example.com"]));
        assert_eq!(
            se["spec"]["ports"],
            json!([{"number": 443, "name": "http-443", "protocol": "HTTP"}])
        );
        assert_eq!(se["spec"]["resolution"], "DNS");
        assert_eq!(se["spec"]["location"], "MESH_EXTERNAL");
        assert_eq!(dr["kind"], "DestinationRule");
        assert_eq!(dr["spec"]["host"], "dex.example.com");
        let port = &dr["spec"]["trafficPolicy"]["portLevelSettings"][0];
        assert_eq!(port["port"]["number"], 443);
        assert_eq!(
            port["tls"],
            json!({"mode": "SIMPLE", "sni": "dex.example.com", "subjectAltNames": ["dex.example.com"]})
        );
    }

    #[test]
    fn ip_hosts_are_static_and_long_hosts_get_a_short_name() {
        let m = manifests(&[KeyHost::new("10.0.0.7", 8443, true)], "gatehouse", "gw");
        assert_eq!(m[0]["spec"]["resolution"], "STATIC");
        assert_eq!(m[0]["spec"]["endpoints"], json!([{"address": "10.0.0.7"}]));
        let tls = &m[1]["spec"]["trafficPolicy"]["portLevelSettings"][0]["tls"];
        assert!(tls.get("sni").is_none());
        let long = KeyHost::new(&format!("{}.example.com", "k".repeat(60)), 443, true);
        let name = object_name("gatehouse", &long);
        assert!(
            name.starts_with("gatehouse-keys-") && name.len() == 31,
            "{name}"
        );
        assert_ne!(
            name,
            object_name("gatehouse", &KeyHost::new("other.example.com", 443, true))
        );
    }
}
