//! `gatehouse emit wasmplugin|envoyfilter|envoy|envoy-table` and `validate-manifest`: the manifests carry a
//! table the filter loads, pass Istio's own CRDs (read from `../shared/anchors`; those checks
//! skip with a message when it is absent), and bad input exits 1 with the reason.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{compiled_policies, gatehouse, root};

use std::path::PathBuf;
use std::process::Output;

use gatehouse::crd::{parse_documents, Crd};
use serde_json::Value;

fn anchor(name: &str) -> Option<PathBuf> {
    let p = root().join("../shared/anchors/istio").join(name);
    if p.is_file() {
        Some(p)
    } else {
        eprintln!(
            "SKIPPED: {} is absent (../shared/anchors holds Istio's CRDs)",
            p.display()
        );
        None
    }
}

/// A fake module: the wasm magic and version, enough for `--wasm`.
fn module(dir: &tempfile::TempDir) -> String {
    let p = dir.path().join("gatehouse.wasm");
    std::fs::write(&p, b"\0asm\x01\0\0\0").unwrap();
    p.to_str().unwrap().to_string()
}

fn ok_yaml(o: &Output) -> Value {
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let docs = parse_documents(std::str::from_utf8(&o.stdout).unwrap()).unwrap();
    assert_eq!(docs.len(), 1);
    docs.into_iter().next().unwrap()
}

fn fails_with(o: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(o.stdout.is_empty());
    assert!(err.contains(needle), "expected `{needle}` in:\n{err}");
}

#[test]
fn wasmplugin_carries_the_table_and_passes_istios_crd() {
    let dir = tempfile::tempdir().unwrap();
    let t = compiled_policies(dir.path());
    let wasm = module(&dir);
    let m = ok_yaml(&gatehouse(&[
        "emit",
        "wasmplugin",
        "--table",
        &t,
        "--url",
        "file:///var/lib/gatehouse/gatehouse.wasm",
        "--wasm",
        &wasm,
        "--priority",
        "100",
    ]));
    let spec = &m["spec"];
    assert_eq!(spec["phase"], "AUTHN");
    assert_eq!(spec["failStrategy"], "FAIL_CLOSE");
    assert_eq!(spec["selector"]["matchLabels"]["istio"], "ingressgateway");
    assert_eq!(
        spec["sha256"],
        gatehouse::emit::wasmplugin::sha256_hex(b"\0asm\x01\0\0\0")
    );
    assert_eq!(m["metadata"]["namespace"], "istio-system");
    // Istio passes pluginConfig to the VM as JSON text: that text is a table the filter loads,
    // and the very table that was compiled.
    let config = serde_json::to_string(&spec["pluginConfig"]).unwrap();
    gatehouse_filter::Engine::from_json(config.as_bytes()).unwrap();
    let compiled: Value = serde_json::from_str(&std::fs::read_to_string(&t).unwrap()).unwrap();
    assert_eq!(spec["pluginConfig"], compiled);

    if let Some(crd) = anchor("wasmplugin-crd.yaml") {
        let crd_text = std::fs::read_to_string(&crd).unwrap();
        assert_eq!(Crd::from_yaml(&crd_text).unwrap().validate(&m), vec![]);
        // And through the flag, with an OCI url and a custom selector.
        let o = gatehouse(&[
            "emit",
            "wasmplugin",
            "--table",
            &t,
            "--url",
            "oci://ghcr.io/acme/gatehouse:0.1",
            "--sha256",
            &"ab".repeat(32),
            "--selector",
            "app=edge",
            "--selector",
            "example.com/tier=public",
            "--name",
            "gatehouse-edge",
            "--namespace",
            "edge",
            "--crd",
            crd.to_str().unwrap(),
        ]);
        let m = ok_yaml(&o);
        assert_eq!(
            m["spec"]["selector"]["matchLabels"]["example.com/tier"],
            "public"
        );
        assert_eq!(m["metadata"]["name"], "gatehouse-edge");
    }
}

#[test]
fn envoyfilter_delivers_the_table_by_ecds_and_passes_istios_crd() {
    let dir = tempfile::tempdir().unwrap();
    let t = compiled_policies(dir.path());
    let m = ok_yaml(&gatehouse(&[
        "emit",
        "envoyfilter",
        "--table",
        &t,
        "--wasm-path",
        "/var/lib/gatehouse/gatehouse.wasm",
        "--port",
        "8080",
    ]));
    let patches = m["spec"]["configPatches"].as_array().unwrap();
    let applied: Vec<&str> = patches
        .iter()
        .map(|p| p["applyTo"].as_str().unwrap())
        .collect();
    assert_eq!(
        applied,
        ["EXTENSION_CONFIG", "HTTP_FILTER", "NETWORK_FILTER"]
    );
    for p in patches {
        assert_eq!(p["match"]["context"], "GATEWAY");
    }
    // The table travels as an extension configuration (ECDS)...
    let ext = &patches[0]["patch"];
    assert_eq!(ext["operation"], "ADD");
    assert_eq!(ext["value"]["name"], "istio-system/gatehouse");
    let config = &ext["value"]["typed_config"]["config"];
    let text = config["configuration"]["value"].as_str().unwrap();
    gatehouse_filter::Engine::from_json(text.as_bytes()).unwrap();
    assert_eq!(config["fail_open"], false);
    // ...that the filter before the router names, never inside the listener.
    let filter = &patches[1]["patch"];
    assert_eq!(filter["operation"], "INSERT_BEFORE");
    assert_eq!(filter["value"]["name"], "istio-system/gatehouse");
    assert!(filter["value"].get("typed_config").is_none());
    let discovery = &filter["value"]["config_discovery"];
    assert_eq!(discovery["config_source"]["ads"], serde_json::json!({}));
    assert_eq!(discovery["config_source"]["initial_fetch_timeout"], "0s");
    assert_eq!(
        discovery["type_urls"],
        serde_json::json!(["type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm"])
    );
    // The gateway's connection managers refuse underscore header names.
    let hcm = &patches[2]["patch"];
    assert_eq!(hcm["operation"], "MERGE");
    assert_eq!(
        hcm["value"]["typed_config"]["common_http_protocol_options"]
            ["headers_with_underscores_action"],
        "REJECT_REQUEST"
    );
    assert_eq!(patches[2]["match"]["listener"]["portNumber"], 8080);
    assert_eq!(
        m["spec"]["workloadSelector"]["labels"]["istio"],
        "ingressgateway"
    );
    if let Some(crd) = anchor("envoyfilter-crd.yaml") {
        let crd_text = std::fs::read_to_string(&crd).unwrap();
        assert_eq!(Crd::from_yaml(&crd_text).unwrap().validate(&m), vec![]);
        // And through the flag, on every gateway port.
        let o = gatehouse(&[
            "emit",
            "envoyfilter",
            "--table",
            &t,
            "--wasm-path",
            "/var/lib/gatehouse/gatehouse.wasm",
            "--crd",
            crd.to_str().unwrap(),
        ]);
        let m = ok_yaml(&o);
        assert!(m["spec"]["configPatches"][1]["match"]["listener"]
            .get("portNumber")
            .is_none());
    }
}

/// The `EnvoyFilter` docs/deploy.md gives `WasmPlugin` users for underscore header names is
/// the patch `emit envoyfilter` makes, and passes Istio's CRD.
#[test]
fn the_documented_underscore_header_patch_is_the_emitted_one() {
    let doc = std::fs::read_to_string(root().join("docs/deploy.md")).unwrap();
    let start = "<!-- underscore-headers-envoyfilter -->\n```yaml\n";
    let at = doc
        .find(start)
        .expect("the marked EnvoyFilter in docs/deploy.md")
        + start.len();
    let yaml = &doc[at..at + doc[at..].find("```").unwrap()];
    let docs = parse_documents(yaml).unwrap();
    let m = &docs[0];
    assert_eq!(m["kind"], "EnvoyFilter");
    assert_eq!(
        m["spec"]["configPatches"],
        serde_json::json!([gatehouse::emit::envoyfilter::underscore_headers_patch(None)])
    );
    if let Some(crd) = anchor("envoyfilter-crd.yaml") {
        let crd_text = std::fs::read_to_string(&crd).unwrap();
        assert_eq!(Crd::from_yaml(&crd_text).unwrap().validate(m), vec![]);
    }
}

/// `emit envoy` writes the bootstrap and the table file it watches; `emit envoy-table`
/// replaces that file, and refuses a table the filter would refuse without touching it.
/// The ConfigMap recipe of docs/deploy.md mounts the module where the documented
/// `--wasm-path` points, through the Deployment's own volumes (Kubeflow's gateway is not
/// sidecar-injected, so injector annotations would be ignored there).
#[test]
fn the_documented_module_mount_patches_the_deployment_itself() {
    let doc = std::fs::read_to_string(root().join("docs/deploy.md")).unwrap();
    let patch_line = doc
        .lines()
        .skip_while(|l| !l.contains("patch deployment istio-ingressgateway"))
        .nth(1)
        .expect("the documented kubectl patch");
    let json = patch_line.trim().trim_matches('\'');
    let patch: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"));
    let spec = &patch["spec"]["template"]["spec"];
    let volume = &spec["volumes"][0];
    assert_eq!(volume["configMap"]["name"], "gatehouse-wasm");
    let container = &spec["containers"][0];
    assert_eq!(container["name"], "istio-proxy");
    let mount = &container["volumeMounts"][0];
    assert_eq!(mount["name"], volume["name"]);
    let wasm_path = doc
        .split("--wasm-path ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap();
    let dir = std::path::Path::new(wasm_path).parent().unwrap();
    assert_eq!(mount["mountPath"].as_str(), dir.to_str(), "{wasm_path}");
    assert!(
        patch["spec"]["template"]["metadata"].is_null(),
        "no injector annotations: {patch}"
    );
}

#[test]
fn envoy_watches_a_table_file_that_envoy_table_replaces() {
    let dir = tempfile::tempdir().unwrap();
    let t = compiled_policies(dir.path());
    let wasm = module(&dir);
    let table_dir = dir.path().join("tables");
    let o = gatehouse(&[
        "emit",
        "envoy",
        "--wasm",
        &wasm,
        "--table",
        &t,
        "--table-dir",
        table_dir.to_str().unwrap(),
        "--listen",
        "127.0.0.1:18080",
    ]);
    let boot = ok_yaml(&o);
    let table_dir = std::fs::canonicalize(&table_dir).unwrap();
    let file = table_dir.join("gatehouse.ecds.json");
    let hcm =
        &boot["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"];
    assert_eq!(
        hcm["common_http_protocol_options"]["headers_with_underscores_action"],
        "REJECT_REQUEST"
    );
    let source = &hcm["http_filters"][0]["config_discovery"]["config_source"];
    assert_eq!(
        source["path_config_source"]["path"],
        file.display().to_string()
    );
    assert_eq!(
        source["path_config_source"]["watched_directory"]["path"],
        table_dir.display().to_string()
    );
    let read = || -> Value { serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap() };
    let first = read();
    let config = &first["resources"][0]["typed_config"]["config"];
    let text = config["configuration"]["value"].as_str().unwrap();
    assert_eq!(text, std::fs::read_to_string(&t).unwrap());
    assert_eq!(
        first["version_info"],
        gatehouse::emit::wasmplugin::sha256_hex(text.as_bytes())
    );

    // A new table replaces the file.
    let audited = dir.path().join("audited.json");
    let mut table: Value = serde_json::from_str(text).unwrap();
    table["gateway"]["audit"]["all"] = Value::Bool(true);
    std::fs::write(&audited, serde_json::to_string(&table).unwrap()).unwrap();
    let args = |t: &str| {
        gatehouse(&[
            "emit",
            "envoy-table",
            "--wasm",
            &wasm,
            "--table",
            t,
            "--table-dir",
            table_dir.to_str().unwrap(),
        ])
    };
    let o = args(audited.to_str().unwrap());
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let second = read();
    assert_ne!(second, first);
    let text = second["resources"][0]["typed_config"]["config"]["configuration"]["value"]
        .as_str()
        .unwrap();
    assert_eq!(serde_json::from_str::<Value>(text).unwrap(), table);
    // Only the table file is left in the directory (no temporary file).
    let names: Vec<_> = std::fs::read_dir(&table_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["gatehouse.ecds.json"]);

    // A table the filter refuses is refused here, and the file stays as it was.
    fails_with(
        &args("testdata/emit/future-table.json"),
        "format_version 99",
    );
    assert_eq!(read(), second);
}

#[test]
fn the_manifest_shape_is_stable() {
    let dir = tempfile::tempdir().unwrap();
    let t = compiled_policies(dir.path());
    let url = format!(
        "oci://ghcr.io/acme/gatehouse@sha256:{}",
        "0123456789abcdef".repeat(4)
    );
    let mut m = ok_yaml(&gatehouse(&[
        "emit",
        "wasmplugin",
        "--table",
        &t,
        "--url",
        &url,
    ]));
    // The table and its hash change with the example policies; the rest must not.
    m["spec"]["pluginConfig"] = Value::String("<table>".into());
    m["metadata"]["annotations"]["gatehouse.dev/table-sha256"] = Value::String("<sha256>".into());
    insta::assert_json_snapshot!("wasmplugin", m);
}

#[test]
fn bad_input_exits_1_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let t = compiled_policies(dir.path());
    let wasm = module(&dir);
    let wp = |extra: &[&str]| {
        let mut a = vec!["emit", "wasmplugin", "--table", t.as_str()];
        a.extend_from_slice(extra);
        gatehouse(&a)
    };
    fails_with(
        &wp(&["--url", "https://example.com/gatehouse.wasm"]),
        "scheme `https` is not supported",
    );
    fails_with(&wp(&["--url", "file:///x.wasm"]), "needs --wasm FILE");
    fails_with(
        &wp(&["--url", "oci://r/x:1", "--wasm", &wasm]),
        "image digest, not the module",
    );
    fails_with(
        &wp(&["--url", "file:///x.wasm", "--sha256", "ABC"]),
        "64 lower-case hex digits",
    );
    fails_with(
        &wp(&["--url", "file:///x.wasm", "--wasm", &t]),
        "not a WebAssembly module",
    );
    fails_with(
        &wp(&["--url", "oci://r/x:1", "--selector", "istio=bar*"]),
        "no wildcards",
    );
    fails_with(
        &wp(&["--url", "oci://r/x:1", "--namespace", "Istio"]),
        "--namespace `Istio`",
    );
    let digest = "ab".repeat(32);
    let url = format!("oci://r/x@sha256:{digest}");
    fails_with(
        &wp(&["--url", &url, "--sha256", &"cd".repeat(32)]),
        "disagrees with the url's digest",
    );
    // A table the filter refuses is refused here too.
    let o = gatehouse(&[
        "emit",
        "envoyfilter",
        "--table",
        "testdata/emit/future-table.json",
        "--wasm-path",
        "/g.wasm",
    ]);
    fails_with(&o, "format_version 99");
    let o = gatehouse(&[
        "emit",
        "envoyfilter",
        "--table",
        &t,
        "--wasm-path",
        "g.wasm",
    ]);
    fails_with(&o, "absolute path");
    // --crd: a manifest the given CRD rejects is not printed.
    let o = wp(&[
        "--url",
        "oci://r/x:1",
        "--crd",
        "testdata/emit/no-authn-wasmplugin-crd.yaml",
    ]);
    fails_with(&o, "AUTHN plugins are reserved for the platform team");
    let o = gatehouse(&[
        "emit",
        "envoyfilter",
        "--table",
        &t,
        "--wasm-path",
        "/g.wasm",
        "--crd",
        "testdata/emit/no-authn-wasmplugin-crd.yaml",
    ]);
    fails_with(&o, "defines `WasmPlugin`, not `EnvoyFilter`");
}

#[test]
fn validate_manifest_passes_istios_valid_samples_and_refuses_the_invalid() {
    let (Some(crd), Some(valid), Some(invalid)) = (
        anchor("wasmplugin-crd.yaml"),
        anchor("wasmplugin-valid.yaml"),
        anchor("wasmplugin-invalid.yaml"),
    ) else {
        return;
    };
    let crd = crd.to_str().unwrap();
    let o = gatehouse(&["validate-manifest", "--crd", crd, valid.to_str().unwrap()]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = gatehouse(&["validate-manifest", "--crd", crd, invalid.to_str().unwrap()]);
    fails_with(&o, "url must have schema one of");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("refused"), "{err}");
}
