//! `gatehouse emit wasmplugin`: an Istio `WasmPlugin` (`extensions.istio.io/v1alpha1`) that
//! loads the filter on the ingress gateway, first in the AUTHN phase, failing closed, with the
//! table as its `pluginConfig`. Istio hands `pluginConfig` to the VM as JSON text (it converts
//! the object to JSON and sets it as the filter's `configuration`), which is what the filter's
//! `Engine::from_json` reads. `emit trafficextension` deploys the same plugin, from the same
//! checks ([`options`]) and the same parts ([`module`], [`place`], [`object`]).

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

/// Where Istio fetches the module from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// An OCI image (`oci://registry/repo:tag` or `@sha256:…`); `sha256` pins the image digest.
    Oci,
    /// A file already on every gateway pod (`file:///…`); `sha256` pins the module bytes.
    File,
}

/// What the manifest needs.
#[derive(Debug, Clone)]
pub struct WasmPluginOptions {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace` (the gateway's, usually `istio-system`).
    pub namespace: String,
    /// `spec.selector.matchLabels`.
    pub selector: BTreeMap<String, String>,
    /// `spec.url`.
    pub url: String,
    /// `spec.sha256`, lower-case hex.
    pub sha256: Option<String>,
    /// `spec.priority` within the AUTHN phase (higher runs first).
    pub priority: Option<i32>,
    /// The compiled table, as a JSON object.
    pub table: Value,
    /// SHA-256 of the table's JSON text, recorded as an annotation.
    pub table_sha256: String,
}

/// The annotation that records which table a manifest carries.
pub const TABLE_SHA256_ANNOTATION: &str = "gatehouse.dev/table-sha256";

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether `s` is a SHA-256 as Istio wants it: 64 lower-case hex digits.
pub fn is_sha256(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Checks the module URL: `oci://` or `file://` (Gatehouse does not emit `http(s)://`: a
/// module fetched over the network at start-up is one more thing that can fail open or
/// change under a tag). Returns the source kind and, for `oci://…@sha256:<hex>`, the digest.
pub fn check_url(url: &str) -> Result<(Source, Option<String>), String> {
    let parsed = crate::crd::url::parse_request_uri(url)
        .map_err(|e| format!("--url `{url}` is not a URL: {e}"))?;
    match parsed.scheme.as_str() {
        "oci" => {
            if parsed.host.is_empty() || parsed.escaped_path.len() < 2 {
                return Err(format!(
                    "--url `{url}`: expected `oci://<registry>/<repository>[:tag|@sha256:<digest>]`"
                ));
            }
            let digest = url.split_once("@sha256:").map(|(_, d)| d.to_string());
            if let Some(d) = &digest {
                if !is_sha256(d) {
                    return Err(format!("--url `{url}`: the digest after `@sha256:` must be 64 lower-case hex digits"));
                }
            }
            Ok((Source::Oci, digest))
        }
        "file" => {
            if !parsed.host.is_empty() || parsed.escaped_path.len() < 2 {
                return Err(format!(
                    "--url `{url}`: expected `file:///<absolute path on the gateway pod>`"
                ));
            }
            Ok((Source::File, None))
        }
        other => Err(format!(
            "--url `{url}`: scheme `{other}` is not supported; use `oci://` (an image Istio pulls) or `file://` (a module on the gateway pod)"
        )),
    }
}

/// Builds the `WasmPlugin` as a JSON value (serialized to YAML by the caller).
pub fn manifest(o: &WasmPluginOptions) -> Value {
    let mut spec = module(o);
    spec.insert("selector".into(), json!({"matchLabels": o.selector}));
    place(o, &mut spec);
    object("WasmPlugin", o, spec)
}

/// The module and what it is given: the `spec` of a `WasmPlugin`, the `spec.wasm` of a
/// `TrafficExtension`.
pub fn module(o: &WasmPluginOptions) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("url".into(), json!(o.url));
    if let Some(sha) = &o.sha256 {
        m.insert("sha256".into(), json!(sha));
    }
    // A plugin that cannot load or crashes denies every request rather than skipping
    // authorization.
    m.insert("failStrategy".into(), json!("FAIL_CLOSE"));
    m.insert("pluginConfig".into(), o.table.clone());
    // The sign-in's secrets: from the gateway pod's environment (a Kubernetes Secret).
    let env: Vec<Value> = super::secrets::sign_in_env_of(&o.table)
        .into_iter()
        .map(|name| json!({"name": name, "valueFrom": "HOST"}))
        .collect();
    if !env.is_empty() {
        m.insert("vmConfig".into(), json!({"env": env}));
    }
    m
}

/// The plugin's place in the gateway's filter chain: `phase` and `priority`, in `spec`.
pub fn place(o: &WasmPluginOptions, spec: &mut Map<String, Value>) {
    // First among the authentication filters, before Istio's own jwt_authn/authz.
    spec.insert("phase".into(), json!("AUTHN"));
    if let Some(p) = o.priority {
        spec.insert("priority".into(), json!(p));
    }
}

/// The `extensions.istio.io/v1alpha1` object of `kind` around `spec`, its metadata recording
/// the table.
pub fn object(kind: &str, o: &WasmPluginOptions, spec: Map<String, Value>) -> Value {
    json!({
        "apiVersion": "extensions.istio.io/v1alpha1",
        "kind": kind,
        "metadata": {
            "name": o.name,
            "namespace": o.namespace,
            "annotations": {TABLE_SHA256_ANNOTATION: o.table_sha256},
        },
        "spec": spec,
    })
}

/// Runs `gatehouse emit wasmplugin`: the manifest as YAML, or every reason it cannot be made.
pub fn emit(args: &super::WasmPluginArgs) -> Result<String, Vec<String>> {
    let (o, egress) = options(&args.istio, &args.plugin)?;
    super::finish(manifest(&o), egress, &args.istio)
}

/// What a plugin manifest carries, checked (names, selector, module, its checksum, a table
/// the filter loads and Istio passes on intact), and the objects of the table's key hosts:
/// the same for `emit wasmplugin` and `emit trafficextension`.
pub fn options(
    istio: &super::IstioArgs,
    plugin: &super::PluginArgs,
) -> Result<(WasmPluginOptions, Vec<Value>), Vec<String>> {
    let (common, url) = match (super::istio_common(istio), check_url(&plugin.url)) {
        (Ok(c), Ok(u)) => (c, u),
        (c, u) => {
            let mut errors: Vec<String> = c.err().into_iter().flatten().collect();
            errors.extend(u.err());
            return Err(errors);
        }
    };
    let sha256 = resolve_sha256(plugin, url)?;
    exact_in_struct(&common.table, "").map_err(|e| vec![e])?;
    let egress = common.egress();
    let o = WasmPluginOptions {
        name: common.name,
        namespace: common.namespace,
        selector: common.selector,
        url: plugin.url.clone(),
        sha256,
        priority: plugin.priority,
        table: common.table,
        table_sha256: common.table_sha256,
    };
    Ok((o, egress))
}

/// `spec.sha256` from `--sha256`, `--wasm` or the URL's digest, which must agree.
fn resolve_sha256(
    args: &super::PluginArgs,
    (source, digest): (Source, Option<String>),
) -> Result<Option<String>, Vec<String>> {
    let given = match (&args.sha256, &args.wasm) {
        (Some(s), _) if !is_sha256(s) => {
            return Err(vec![format!(
                "--sha256 `{s}`: expected 64 lower-case hex digits"
            )]);
        }
        (Some(s), _) => Some(s.clone()),
        (None, Some(_)) if source == Source::Oci => {
            return Err(vec![
                "--wasm: for an oci:// url Istio checks sha256 against the image digest, not the module; pass --sha256 <digest> or pin the url with @sha256:<digest>".into(),
            ]);
        }
        (None, Some(path)) => {
            let bytes = std::fs::read(path)
                .map_err(|e| vec![format!("--wasm `{}`: {e}", path.display())])?;
            if !bytes.starts_with(b"\0asm") {
                return Err(vec![format!(
                    "--wasm `{}`: not a WebAssembly module",
                    path.display()
                )]);
            }
            Some(sha256_hex(&bytes))
        }
        (None, None) => None,
    };
    match (given, digest) {
        (Some(g), Some(d)) if g != d => Err(vec![format!(
            "the sha256 `{g}` disagrees with the url's digest `{d}`"
        )]),
        (Some(g), _) | (None, Some(g)) => Ok(Some(g)),
        (None, None) if source == Source::File => Err(vec![
            "a file:// url needs --wasm FILE (to compute sha256) or --sha256 HEX: the checksum is what proves every gateway pod runs the module you tested".into(),
        ]),
        (None, None) => {
            eprintln!("warning: the oci:// image is not pinned: a moved tag changes the authorizer; pin it with `@sha256:<digest>` or --sha256");
            Ok(None)
        }
    }
}

/// Istio carries `pluginConfig` as a protobuf `Struct`, whose numbers are doubles: every
/// number of the table must survive that (an integer of at most 2^53).
fn exact_in_struct(v: &Value, path: &str) -> Result<(), String> {
    const EXACT: u64 = 1 << 53;
    match v {
        Value::Number(n) => {
            let exact = n
                .as_i64()
                .map(i64::unsigned_abs)
                .or(n.as_u64())
                .is_some_and(|a| a <= EXACT);
            if exact {
                Ok(())
            } else {
                Err(format!("the table's `{path}` = {n} would change on its way through Istio's pluginConfig (numbers travel as doubles)"))
            }
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, x)| exact_in_struct(x, &format!("{path}[{i}]"))),
        Value::Object(m) => m
            .iter()
            .try_for_each(|(k, x)| exact_in_struct(x, &format!("{path}.{k}"))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn urls_are_oci_or_file() {
        assert_eq!(
            check_url("oci://ghcr.io/acme/gatehouse:1.2").unwrap(),
            (Source::Oci, None)
        );
        let d = "a".repeat(64);
        assert_eq!(
            check_url(&format!("oci://ghcr.io/acme/gatehouse@sha256:{d}")).unwrap(),
            (Source::Oci, Some(d))
        );
        assert_eq!(
            check_url("file:///opt/gatehouse.wasm").unwrap(),
            (Source::File, None)
        );
        for bad in [
            "https://x/gatehouse.wasm",
            "http://x/y",
            "gatehouse.wasm",
            "file://host/x.wasm",
            "oci://",
            "oci://r/x@sha256:abc",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
        assert!(check_url("https://x/y")
            .unwrap_err()
            .contains("not supported"));
    }

    #[test]
    fn manifest_is_authn_fail_close_with_the_table() {
        let o = WasmPluginOptions {
            name: "gatehouse".into(),
            namespace: "istio-system".into(),
            selector: BTreeMap::from([("istio".into(), "ingressgateway".into())]),
            url: "oci://r/x:1".into(),
            sha256: None,
            priority: Some(10),
            table: json!({"format_version": 1}),
            table_sha256: "t".into(),
        };
        let m = manifest(&o);
        assert_eq!(m["spec"]["phase"], "AUTHN");
        assert_eq!(m["spec"]["failStrategy"], "FAIL_CLOSE");
        assert_eq!(m["spec"]["pluginConfig"]["format_version"], 1);
        assert_eq!(m["spec"]["priority"], 10);
        assert!(m["spec"].get("sha256").is_none());
        assert_eq!(sha256_hex(b"abc").len(), 64);
        assert!(is_sha256(&sha256_hex(b"abc")));
    }

    #[test]
    fn numbers_must_survive_a_protobuf_struct() {
        assert!(exact_in_struct(&json!({"a": [1, -5, 9007199254740992u64]}), "").is_ok());
        let e = exact_in_struct(&json!({"a": [{"b": 9007199254740993u64}]}), "").unwrap_err();
        assert!(e.contains("`.a[0].b`"), "{e}");
        assert!(exact_in_struct(&json!({"x": 0.5}), "").is_err());
    }
}
