//! `gatehouse emit envoy` and `emit envoy-table`: a runnable standalone Envoy configuration
//! with the Gatehouse filter in front of one upstream, and the table file it watches. Used by
//! the demo and the end-to-end tests, and a starting point for gateways run without Istio.
//! The Envoy building blocks here (the connection manager, the filter's Wasm configuration)
//! are shared with `emit envoyfilter` and the benchmarks.
//!
//! The table never travels inside the listener. The HTTP filter entry names an extension
//! configuration that Envoy discovers on its own (ECDS, Extension Config Discovery), here from
//! a file in a watched directory: a new table then applies to the next request on every
//! connection, open ones included, as soon as Envoy accepts it. A table inside the listener
//! would be a listener update, which leaves open connections on the old filter chain (and so
//! the old table: a removed key, a revoked grant) until they close or drain (`--drain-time-s`,
//! 600 s by default).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

/// Name of the extension configuration (ECDS resource) holding the filter and its table in
/// the standalone configuration. Envoy's stats for it are
/// `extension_config_discovery.http_filter.gatehouse.*`.
pub const EXTENSION_NAME: &str = "gatehouse";

/// The file in the table directory that holds the table; Envoy watches its directory.
pub const TABLE_FILE: &str = "gatehouse.ecds.json";

/// The type of the filter configuration an extension configuration must hold.
pub const WASM_TYPE_URL: &str = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm";

/// The type of Envoy's HTTP connection manager configuration.
pub const HCM_TYPE_URL: &str =
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";

/// What the standalone config needs.
#[derive(Debug, Clone)]
pub struct EnvoyOptions {
    /// Directory holding [`TABLE_FILE`], as Envoy will see it (absolute); Envoy watches it.
    pub table_dir: PathBuf,
    /// Listener address.
    pub listen: SocketAddr,
    /// Upstream address (one HTTP/1.1 endpoint).
    pub upstream: SocketAddr,
    /// Admin address (stats, `/ready`); `None`: no admin listener.
    pub admin: Option<SocketAddr>,
}

pub use super::socket;

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

/// What Envoy does with a request header whose name holds `_`.
///
/// INVARIANT: an underscore spelling of an identity header never reaches an upstream.
/// Gatehouse strips `kubeflow-userid` and `kubeflow-groups` and sets them itself, but CGI and
/// WSGI servers (and PHP, nginx's `underscores_in_headers`) map `kubeflow_userid` to the same
/// variable (`HTTP_KUBEFLOW_USERID`) as `kubeflow-userid`, so a client could name itself
/// past the filter. `REJECT_REQUEST` rather than `DROP_HEADER`: like a path an upstream could
/// read differently (`400 bad_path`), a header name an upstream could read as another is
/// refused, not repaired. Such a request is a spoofing attempt or a broken client; refusing it
/// (HTTP/1.1: 400 and the connection closed; HTTP/2: the stream reset) shows in the client and
/// in Envoy's `http1.` / `http2.requests_rejected_with_underscores_in_headers`, where dropping
/// would quietly forward an altered request. Envoy's edge-proxy guidance recommends the same.
pub const HEADERS_WITH_UNDERSCORES_ACTION: &str = "REJECT_REQUEST";

/// The `common_http_protocol_options` every connection manager Gatehouse emits carries.
pub fn common_http_protocol_options() -> Value {
    json!({"headers_with_underscores_action": HEADERS_WITH_UNDERSCORES_ACTION})
}

/// An HTTP connection manager sending every request to cluster `upstream` through
/// `http_filters` (which must end with [`router_filter`]).
pub fn connection_manager(stat_prefix: &str, http_filters: Vec<Value>) -> Value {
    json!({
        "name": "envoy.filters.network.http_connection_manager",
        "typed_config": {
            "@type": HCM_TYPE_URL,
            "stat_prefix": stat_prefix,
            "codec_type": "AUTO",
            "common_http_protocol_options": common_http_protocol_options(),
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

/// The filter's configuration (`envoy.extensions.filters.http.wasm.v3.Wasm`, with its
/// `@type`): the module at `wasm_path` on the V8 runtime, failing closed, with the table as
/// its plugin configuration.
pub fn wasm_config(wasm_path: &str, table_json: &str) -> Value {
    let mut vm_config = json!({
        "vm_id": "gatehouse",
        "runtime": "envoy.wasm.runtime.v8",
        "code": {"local": {"filename": wasm_path}},
    });
    // The sign-in's secrets come from Envoy's own environment: the VM sees only these names.
    let env = super::secrets::sign_in_env(table_json);
    if !env.is_empty() {
        vm_config["environment_variables"] = json!({"host_env_keys": env});
    }
    json!({
        "@type": WASM_TYPE_URL,
        "config": {
            "name": "gatehouse",
            "root_id": "gatehouse",
            "fail_open": false,
            "configuration": {
                "@type": "type.googleapis.com/google.protobuf.StringValue",
                "value": table_json,
            },
            "vm_config": vm_config,
        },
    })
}

/// The filter entry for an HCM `http_filters` list with the table inline. Only for configs
/// that never reload (the benchmarks): Gatehouse's emitted configs use [`discovered_filter`].
pub fn wasm_filter(wasm_path: &str, table_json: &str) -> Value {
    json!({
        "name": "envoy.filters.http.wasm",
        "typed_config": wasm_config(wasm_path, table_json),
    })
}

/// The filter entry for an HCM `http_filters` list that takes its configuration (the filter
/// and the table) from the extension configuration `name`, discovered through `config_source`.
/// There is no default configuration: until Envoy has accepted one, the filter answers every
/// request itself (500, response flag `NFCF`), so nothing reaches an upstream.
pub fn discovered_filter(name: &str, config_source: Value) -> Value {
    json!({
        "name": name,
        "config_discovery": {
            "config_source": config_source,
            "type_urls": [WASM_TYPE_URL],
        },
    })
}

/// A config source reading [`TABLE_FILE`] in `table_dir`, re-read whenever a file is moved
/// into that directory (an atomic replacement, or a Kubernetes volume's `..data` swap).
pub fn table_file_source(table_dir: &Path) -> Value {
    json!({
        "path_config_source": {
            "path": table_dir.join(TABLE_FILE).display().to_string(),
            "watched_directory": {"path": table_dir.display().to_string()},
        },
        "resource_api_version": "V3",
    })
}

/// The contents of [`TABLE_FILE`]: a discovery response holding one extension configuration
/// named [`EXTENSION_NAME`], the filter with the table. `version` is what Envoy reports as
/// `extension_config_discovery.http_filter.gatehouse.version_text` once it took the file.
pub fn table_file(wasm_path: &str, table_json: &str, version: &str) -> Value {
    json!({
        "version_info": version,
        "resources": [{
            "@type": "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig",
            "name": EXTENSION_NAME,
            "typed_config": wasm_config(wasm_path, table_json),
        }],
    })
}

/// Replaces `table_dir/`[`TABLE_FILE`] atomically with `contents`: written beside it under a
/// temporary name, then renamed over it, so Envoy never reads half a table.
pub fn write_table_file(table_dir: &Path, contents: &Value) -> std::io::Result<PathBuf> {
    let path = table_dir.join(TABLE_FILE);
    let tmp = table_dir.join(format!(".{TABLE_FILE}.{}.tmp", std::process::id()));
    let bytes = serde_json::to_vec_pretty(contents).map_err(std::io::Error::other)?;
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, &path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })?;
    Ok(path)
}

/// Builds the Envoy bootstrap as a JSON value (serialized to YAML by the caller): one
/// listener whose filter comes from the table file in `o.table_dir`.
pub fn bootstrap(o: &EnvoyOptions) -> Value {
    let hcm = connection_manager(
        "gatehouse_ingress",
        vec![
            discovered_filter(EXTENSION_NAME, table_file_source(&o.table_dir)),
            router_filter(),
        ],
    );
    let mut boot = json!({
        // Envoy subscribes to the table file as an xDS resource, which needs a node identity.
        "node": {"id": "gatehouse", "cluster": "gatehouse"},
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

/// Why `emit envoy` or `emit envoy-table` failed.
#[derive(Debug)]
pub enum EmitFailure {
    /// Bad input (a missing module, a table the filter would refuse): exit 1.
    Invalid(String),
    /// The table file could not be written: exit 2.
    Io(String),
}

/// The checked input of `emit envoy` and `emit envoy-table`.
struct TableInput {
    /// The module, absolute.
    wasm: PathBuf,
    /// The table as read.
    json: String,
    /// The table, as the filter loads it.
    table: gatehouse_filter::table::Table,
}

/// Checks `--wasm` and `--table`, refusing a table the filter would refuse.
fn read_input(wasm: &Path, table: &Path) -> Result<TableInput, EmitFailure> {
    use EmitFailure::Invalid;
    if !wasm.is_file() {
        return Err(Invalid(format!(
            "--wasm `{}`: no such file",
            wasm.display()
        )));
    }
    let wasm = std::fs::canonicalize(wasm)
        .map_err(|e| Invalid(format!("--wasm `{}`: {e}", wasm.display())))?;
    let at = |e: &dyn std::fmt::Display| Invalid(format!("--table `{}`: {e}", table.display()));
    let bytes = crate::table_file::read(table, &[]).map_err(Invalid)?;
    // Refuse a table the filter would refuse, rather than start an Envoy that denies everything.
    let engine =
        gatehouse_filter::Engine::from_bytes(&bytes, gatehouse_filter::engine::Provenance::Keep)
            .map_err(|e| at(&e))?;
    // Inline, the table travels as JSON (a binary table is turned back into it).
    let json = match gatehouse_filter::wire::form(&bytes) {
        Some(gatehouse_filter::wire::Form::Json) => String::from_utf8(bytes).map_err(|e| at(&e))?,
        _ => crate::table_json(&engine.table).map_err(|e| at(&e))?,
    };
    Ok(TableInput {
        wasm,
        json,
        table: engine.table,
    })
}

/// Makes the table directory and writes the table file into it. Returns the directory,
/// absolute.
fn write_table(input: &TableInput, table_dir: &Path) -> Result<PathBuf, EmitFailure> {
    let dir_error =
        |e: std::io::Error| EmitFailure::Io(format!("--table-dir `{}`: {e}", table_dir.display()));
    std::fs::create_dir_all(table_dir).map_err(dir_error)?;
    let table_dir = std::fs::canonicalize(table_dir).map_err(dir_error)?;
    let version = super::wasmplugin::sha256_hex(input.json.as_bytes());
    let contents = table_file(&input.wasm.display().to_string(), &input.json, &version);
    write_table_file(&table_dir, &contents).map_err(dir_error)?;
    Ok(table_dir)
}

/// The key clusters `args` ask for around `table`: `--resolve` must name key hosts, and
/// `https` hosts need a CA bundle (`--ca-file`, else the system's).
fn key_clusters_for(
    table: &gatehouse_filter::table::Table,
    args: &super::EnvoyArgs,
) -> Result<Vec<Value>, EmitFailure> {
    use crate::key_hosts::{ca_bundle, key_hosts, Resolve};
    let hosts = key_hosts(table).map_err(|e| EmitFailure::Invalid(format!("--table: {e}")))?;
    let targets: Vec<(String, u16)> = hosts.iter().map(|h| (h.host.clone(), h.port)).collect();
    Resolve::check_all(&args.resolve, &targets).map_err(EmitFailure::Invalid)?;
    // Envoy reads the bundle from where it runs: an absolute path.
    let ca = match hosts.iter().any(|h| h.tls) {
        true => {
            let p = ca_bundle(args.ca_file.as_deref()).map_err(EmitFailure::Invalid)?;
            Some(std::fs::canonicalize(&p).unwrap_or(p))
        }
        false => None,
    };
    Ok(super::key_clusters::key_clusters(
        &hosts,
        ca.as_deref(),
        &args.resolve,
    ))
}

/// Adds `clusters` to a bootstrap's static clusters.
pub fn add_clusters(boot: &mut Value, clusters: Vec<Value>) {
    if let Some(list) = boot
        .pointer_mut("/static_resources/clusters")
        .and_then(Value::as_array_mut)
    {
        list.extend(clusters);
    }
}

/// Runs `gatehouse emit envoy`: writes the table file into `--table-dir` and returns the
/// bootstrap as YAML, with a cluster for every host the table fetches keys from.
pub fn emit(args: &super::EnvoyArgs) -> Result<String, EmitFailure> {
    let input = read_input(&args.file.wasm, &args.file.table)?;
    let clusters = key_clusters_for(&input.table, args)?;
    let table_dir = write_table(&input, &args.file.table_dir)?;
    let mut config = bootstrap(&EnvoyOptions {
        table_dir,
        listen: args.listen,
        upstream: args.upstream,
        admin: args.admin,
    });
    add_clusters(&mut config, clusters);
    serde_yaml::to_string(&config).map_err(|e| EmitFailure::Io(format!("cannot render YAML: {e}")))
}

/// Runs `gatehouse emit envoy-table`: replaces the table file in `--table-dir` (Envoy applies
/// it to the next request on every connection) and returns its path.
pub fn emit_table(args: &super::EnvoyTableArgs) -> Result<PathBuf, EmitFailure> {
    let input = read_input(&args.file.wasm, &args.file.table)?;
    let table_dir = write_table(&input, &args.file.table_dir)?;
    Ok(table_dir.join(TABLE_FILE))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn bootstrap_discovers_the_filter_from_the_table_file_and_binds_where_told() {
        let o = EnvoyOptions {
            table_dir: "/etc/gatehouse".into(),
            listen: "127.0.0.1:18000".parse().unwrap(),
            upstream: "127.0.0.1:18001".parse().unwrap(),
            admin: Some("127.0.0.1:18002".parse().unwrap()),
        };
        let b = bootstrap(&o);
        let l = &b["static_resources"]["listeners"][0];
        assert_eq!(l["address"]["socket_address"]["port_value"], 18000);
        let hcm = &l["filter_chains"][0]["filters"][0]["typed_config"];
        assert_eq!(
            hcm["common_http_protocol_options"]["headers_with_underscores_action"],
            "REJECT_REQUEST"
        );
        let f = &hcm["http_filters"];
        assert_eq!(f[0]["name"], EXTENSION_NAME);
        assert!(
            f[0].get("typed_config").is_none(),
            "no table in the listener"
        );
        let d = &f[0]["config_discovery"];
        assert_eq!(d["type_urls"][0], WASM_TYPE_URL);
        let source = &d["config_source"]["path_config_source"];
        assert_eq!(source["path"], "/etc/gatehouse/gatehouse.ecds.json");
        assert_eq!(source["watched_directory"]["path"], "/etc/gatehouse");
        assert_eq!(f[1]["name"], "envoy.filters.http.router");
        assert_eq!(b["admin"]["address"]["socket_address"]["port_value"], 18002);
        assert_eq!(b["node"]["id"], "gatehouse");
    }

    #[test]
    fn the_table_file_holds_the_filter_with_the_table() {
        let t = table_file("/x/gatehouse.wasm", "{\"format_version\":1}", "v1");
        assert_eq!(t["version_info"], "v1");
        let r = &t["resources"][0];
        assert_eq!(
            r["@type"],
            "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig"
        );
        assert_eq!(r["name"], EXTENSION_NAME);
        let c = &r["typed_config"];
        assert_eq!(c["@type"], WASM_TYPE_URL);
        assert_eq!(
            c["config"]["configuration"]["value"],
            "{\"format_version\":1}"
        );
        assert_eq!(c["config"]["fail_open"], false);
        assert_eq!(
            c["config"]["vm_config"]["code"]["local"]["filename"],
            "/x/gatehouse.wasm"
        );
    }
}
