//! `gatehouse emit wasmplugin|trafficextension|envoyfilter|envoy|envoy-table` and `validate-manifest`: the manifests carry a
//! table the filter loads, pass Istio's own CRDs (read from `../shared/anchors`; those checks
//! skip with a message when it is absent), and bad input exits 1 with the reason.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{compiled, compiled_policies, gatehouse, root};

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

/// Every document a successful run printed.
fn ok_docs(o: &Output) -> Vec<Value> {
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    parse_documents(std::str::from_utf8(&o.stdout).unwrap()).unwrap()
}

/// The one document a successful run printed.
fn ok_yaml(o: &Output) -> Value {
    let docs = ok_docs(o);
    assert_eq!(docs.len(), 1);
    docs.into_iter().next().unwrap()
}

/// The first document of a successful run: the manifest (the objects of key hosts follow).
fn manifest(o: &Output) -> Value {
    ok_docs(o).into_iter().next().unwrap()
}

fn fails_with(o: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(o.stdout.is_empty());
    assert!(err.contains(needle), "expected `{needle}` in:\n{err}");
}

/// `emit <kind>` (`wasmplugin`, `trafficextension`) of the table `t` with the module `wasm`
/// on the gateway pod (`file://`), at priority 100, and `extra`.
fn file_plugin(kind: &str, t: &str, wasm: &str, extra: &[&str]) -> Output {
    let mut a = vec![
        "emit",
        kind,
        "--table",
        t,
        "--url",
        "file:///var/lib/gatehouse/gatehouse.wasm",
        "--wasm",
        wasm,
        "--priority",
        "100",
    ];
    a.extend_from_slice(extra);
    gatehouse(&a)
}

#[test]
fn wasmplugin_carries_the_table_and_passes_istios_crd() {
    let dir = tempfile::tempdir().unwrap();
    let t = compiled_policies(dir.path());
    let wasm = module(&dir);
    let m = manifest(&file_plugin("wasmplugin", &t, &wasm, &[]));
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

    if let (Some(crd), Some(se), Some(dr)) = (
        anchor("wasmplugin-crd.yaml"),
        anchor("serviceentry-crd.yaml"),
        anchor("destinationrule-crd.yaml"),
    ) {
        let crd_text = std::fs::read_to_string(&crd).unwrap();
        assert_eq!(Crd::from_yaml(&crd_text).unwrap().validate(&m), vec![]);
        // And through the flag, with an OCI url and a custom selector; the key hosts'
        // ServiceEntries and DestinationRules are checked against their own CRDs.
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
            "--crd",
            se.to_str().unwrap(),
            "--crd",
            dr.to_str().unwrap(),
        ]);
        let m = manifest(&o);
        assert_eq!(
            m["spec"]["selector"]["matchLabels"]["example.com/tier"],
            "public"
        );
        assert_eq!(m["metadata"]["name"], "gatehouse-edge");
    }
}

/// `emit trafficextension` deploys what `emit wasmplugin` deploys: the WasmPlugin's spec, but
/// for where it runs, is the TrafficExtension's `wasm`, with the same metadata and the same key
/// hosts' objects. It attaches by the same default selector, or by `--target-ref`. Every form,
/// the by-reference one included, passes Istio's TrafficExtension CRD (schema and CEL rules),
/// through `--crd` and through `validate-manifest`.
#[test]
fn trafficextension_deploys_the_wasmplugins_plugin_and_passes_istios_crd() {
    let dir = tempfile::tempdir().unwrap();
    let t = compiled_policies(dir.path());
    let wasm = module(&dir);
    let te = ok_docs(&file_plugin("trafficextension", &t, &wasm, &[]));
    let wp = ok_docs(&file_plugin("wasmplugin", &t, &wasm, &[]));
    let m = &te[0];
    assert_eq!(m["apiVersion"], "extensions.istio.io/v1alpha1");
    assert_eq!(m["kind"], "TrafficExtension");
    let spec = &m["spec"];
    assert_eq!(spec["phase"], "AUTHN");
    assert_eq!(spec["priority"], 100);
    assert_eq!(spec["selector"]["matchLabels"]["istio"], "ingressgateway");
    assert!(spec.get("targetRefs").is_none());
    assert!(spec.get("lua").is_none());
    let plugin = &spec["wasm"];
    assert_eq!(plugin["failStrategy"], "FAIL_CLOSE");
    // The same plugin as the WasmPlugin's, the same metadata, the same key hosts' objects.
    let mut wp_plugin = wp[0]["spec"].clone();
    for placement in ["selector", "phase", "priority"] {
        wp_plugin.as_object_mut().unwrap().remove(placement);
    }
    assert_eq!(*plugin, wp_plugin);
    assert_eq!(m["metadata"], wp[0]["metadata"]);
    assert!(te.len() > 1);
    assert_eq!(te[1..], wp[1..]);

    // Attached to resources instead of pods: no selector.
    let by_ref = [
        "--namespace",
        "kubeflow",
        "--target-ref",
        "Gateway/kubeflow-gateway",
        "--target-ref",
        "Service/ml-pipeline-ui",
        "--target-ref",
        "ServiceEntry/models",
    ];
    let m = manifest(&file_plugin("trafficextension", &t, &wasm, &by_ref));
    assert!(m["spec"].get("selector").is_none());
    assert_eq!(
        m["spec"]["targetRefs"],
        serde_json::json!([
            {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "kubeflow-gateway"},
            {"group": "", "kind": "Service", "name": "ml-pipeline-ui"},
            {"group": "networking.istio.io", "kind": "ServiceEntry", "name": "models"},
        ])
    );
    assert_eq!(m["metadata"]["namespace"], "kubeflow");

    let (Some(crd), Some(se), Some(dr)) = (
        anchor("trafficextension-crd.yaml"),
        anchor("serviceentry-crd.yaml"),
        anchor("destinationrule-crd.yaml"),
    ) else {
        return;
    };
    let crd_text = std::fs::read_to_string(&crd).unwrap();
    assert_eq!(Crd::from_yaml(&crd_text).unwrap().validate(&te[0]), vec![]);
    let crds: Vec<String> = [&crd, &se, &dr]
        .iter()
        .flat_map(|p| ["--crd".to_string(), p.display().to_string()])
        .collect();
    let crds: Vec<&str> = crds.iter().map(String::as_str).collect();
    let key = dir.path().join("signing");
    let o = gatehouse(&["keygen", "--out", key.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    let public = key.with_extension("pub");
    let sha256 = "ab".repeat(32);
    // By reference: the module from an image, the table from `gatehouse serve`.
    let reference = [
        "emit",
        "trafficextension",
        "--url",
        "oci://ghcr.io/acme/gatehouse:0.1",
        "--sha256",
        &sha256,
        "--table-url",
        "http://gatehouse-tables.gatehouse.svc.cluster.local:8080/table",
        "--trust",
        public.to_str().unwrap(),
    ];
    for (i, attach) in [&[][..], &by_ref[..]].into_iter().enumerate() {
        let mut extra = attach.to_vec();
        extra.extend_from_slice(&crds);
        let inline = file_plugin("trafficextension", &t, &wasm, &extra);
        let docs = validated(&inline, &crds, &dir.path().join(format!("inline-{i}.yaml")));
        assert!(docs[0]["spec"]["wasm"]["pluginConfig"]["format_version"].is_number());
        let mut a = reference.to_vec();
        a.extend_from_slice(&extra);
        let docs = validated(
            &gatehouse(&a),
            &crds,
            &dir.path().join(format!("ref-{i}.yaml")),
        );
        let source = &docs[0]["spec"]["wasm"]["pluginConfig"]["table_source"];
        assert_eq!(
            source["cluster"],
            "outbound|8080||gatehouse-tables.gatehouse.svc.cluster.local"
        );
    }
}

/// The documents of a successful `emit … --crd`, written to `file` and passed again by
/// `validate-manifest` with the same CRDs.
fn validated(o: &Output, crds: &[&str], file: &std::path::Path) -> Vec<Value> {
    let docs = ok_docs(o);
    assert_eq!(docs[0]["kind"], "TrafficExtension");
    std::fs::write(file, &o.stdout).unwrap();
    let mut a = vec!["validate-manifest"];
    a.extend_from_slice(crds);
    a.push(file.to_str().unwrap());
    let v = gatehouse(&a);
    let err = String::from_utf8_lossy(&v.stderr);
    assert_eq!(v.status.code(), Some(0), "{err}");
    let n = docs.len();
    let expected = format!(
        "{n} resource{} checked, 0 refused",
        if n == 1 { "" } else { "s" }
    );
    assert!(err.contains(&expected), "{expected}: {err}");
    docs
}

#[test]
fn envoyfilter_delivers_the_table_by_ecds_and_passes_istios_crd() {
    let dir = tempfile::tempdir().unwrap();
    let t = compiled_policies(dir.path());
    let m = manifest(&gatehouse(&[
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
    if let (Some(crd), Some(se), Some(dr)) = (
        anchor("envoyfilter-crd.yaml"),
        anchor("serviceentry-crd.yaml"),
        anchor("destinationrule-crd.yaml"),
    ) {
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
            "--crd",
            se.to_str().unwrap(),
            "--crd",
            dr.to_str().unwrap(),
        ]);
        let m = manifest(&o);
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
    let shape = |kind: &str, extra: &[&str]| {
        let mut a = vec!["emit", kind, "--table", &t, "--url", &url];
        a.extend_from_slice(extra);
        let mut docs = ok_docs(&gatehouse(&a));
        let m = &mut docs[0];
        // The table and its hash change with the example policies; the rest must not.
        for at in ["/spec/pluginConfig", "/spec/wasm/pluginConfig"] {
            if let Some(table) = m.pointer_mut(at) {
                *table = Value::String("<table>".into());
            }
        }
        m["metadata"]["annotations"]["gatehouse.dev/table-sha256"] =
            Value::String("<sha256>".into());
        docs
    };
    let docs = shape("wasmplugin", &[]);
    let m = &docs[0];
    insta::assert_json_snapshot!("wasmplugin", m);
    // The key hosts of the example policies: a ServiceEntry and a DestinationRule each.
    insta::assert_json_snapshot!("wasmplugin-key-hosts", docs[1..]);
    let m = &shape("trafficextension", &[])[0];
    insta::assert_json_snapshot!("trafficextension", m);
    let target_refs = [
        "--target-ref",
        "Gateway/kubeflow-gateway",
        "--priority",
        "10",
    ];
    let m = &shape("trafficextension", &target_refs)[0];
    insta::assert_json_snapshot!("trafficextension-target-refs", m);
}

/// A TrafficExtension attached to nothing would leave the gateway without authorization:
/// `--target-ref` takes only the kinds Istio attaches to, each once, and never beside
/// `--selector`. The checks shared with `emit wasmplugin` hold here too.
#[test]
fn trafficextension_refuses_what_would_attach_to_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let t = compiled_policies(dir.path());
    let te = |extra: &[&str]| {
        let mut a = vec!["emit", "trafficextension", "--table", t.as_str()];
        a.extend_from_slice(extra);
        gatehouse(&a)
    };
    let oci = ["--url", "oci://r/x:1"];
    let with = |extra: &[&str]| {
        let mut a = oci.to_vec();
        a.extend_from_slice(extra);
        te(&a)
    };
    fails_with(
        &with(&["--target-ref", "Gateway/gw", "--selector", "app=gw"]),
        "'--target-ref <KIND/NAME>' cannot be used with '--selector <KEY=VALUE>'",
    );
    fails_with(
        &with(&["--target-ref", "gateway/gw"]),
        "kind `gateway` is not one Istio attaches a TrafficExtension to: expected `Gateway`, `Service`, `ServiceEntry`; did you mean `Gateway`?",
    );
    fails_with(&with(&["--target-ref", "gw"]), "expected `KIND/NAME`");
    fails_with(
        &with(&["--target-ref", "GatewayClass/istio"]),
        "name each `Gateway/NAME`",
    );
    fails_with(&with(&["--target-ref", "Gateway/GW"]), "name `GW`");
    fails_with(
        &with(&["--target-ref", "Gateway/gw", "--target-ref", "Gateway/gw"]),
        "--target-ref `Gateway/gw` given twice",
    );
    let many: Vec<String> = (0..17).map(|i| format!("Gateway/gw-{i}")).collect();
    let mut a = Vec::new();
    for m in &many {
        a.extend_from_slice(&["--target-ref", m.as_str()]);
    }
    fails_with(&with(&a), "17 given; a TrafficExtension names at most 16");
    // Shared with `emit wasmplugin`, and reported together with a bad --target-ref.
    fails_with(&te(&["--url", "file:///x.wasm"]), "needs --wasm FILE");
    fails_with(&with(&["--selector", "istio=bar*"]), "no wildcards");
    let o = with(&[
        "--namespace",
        "Istio",
        "--target-ref",
        "Gateway/a",
        "--target-ref",
        "Gateway/a",
    ]);
    fails_with(&o, "--namespace `Istio`");
    fails_with(&o, "`Gateway/a` given twice");
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

/// The distinct Envoy clusters a table's issuers fetch keys through.
fn key_clusters_of(table: &str) -> Vec<String> {
    let t: Value = serde_json::from_str(&std::fs::read_to_string(table).unwrap()).unwrap();
    let mut clusters: Vec<String> = t["issuers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["key_fetch"]["cluster"].as_str().map(str::to_string))
        .collect();
    clusters.sort();
    clusters.dedup();
    clusters
}

/// Istio gives the gateway a cluster `outbound|<port>||<host>` per ServiceEntry port: for every
/// key host outside the cluster there is one, on the port the table's cluster names, with a
/// DestinationRule that originates TLS there; in-cluster hosts get nothing (Istio has their
/// clusters). Every object passes Istio's CRDs, also through `validate-manifest`.
#[test]
fn key_hosts_outside_the_cluster_get_the_clusters_the_table_names() {
    let dir = tempfile::tempdir().unwrap();
    let t = compiled(dir.path(), "testdata/policies/good/live-keys");
    let envoyfilter = |extra: &[&str]| {
        let mut a = vec![
            "emit",
            "envoyfilter",
            "--table",
            &t,
            "--wasm-path",
            "/g.wasm",
        ];
        a.extend_from_slice(extra);
        gatehouse(&a)
    };
    let docs = ok_docs(&envoyfilter(&["--namespace", "gw"]));
    assert_eq!(docs[0]["kind"], "EnvoyFilter");
    let objects = &docs[1..];
    let kinds: Vec<&str> = objects
        .iter()
        .map(|d| d["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "ServiceEntry",
            "DestinationRule",
            "ServiceEntry",
            "DestinationRule"
        ]
    );
    let mut given: Vec<String> = Vec::new();
    for pair in objects.chunks(2) {
        let (se, dr) = (&pair[0], &pair[1]);
        assert_eq!(se["metadata"]["namespace"], "gw");
        assert_eq!(se["spec"]["exportTo"], serde_json::json!(["."]));
        assert_eq!(se["spec"]["location"], "MESH_EXTERNAL");
        let host = se["spec"]["hosts"][0].as_str().unwrap();
        let port = &se["spec"]["ports"][0];
        assert_eq!(
            port["protocol"], "HTTP",
            "the filter sends plain HTTP into the cluster"
        );
        given.push(format!("outbound|{}||{host}", port["number"]));
        assert_eq!(dr["spec"]["host"], host);
        let level = &dr["spec"]["trafficPolicy"]["portLevelSettings"][0];
        assert_eq!(level["port"]["number"], port["number"]);
        assert_eq!(level["tls"]["mode"], "SIMPLE");
        assert_eq!(level["tls"]["sni"], host);
        assert_eq!(level["tls"]["subjectAltNames"], serde_json::json!([host]));
    }
    let in_cluster = "outbound|5556||dex.auth.svc.cluster.local".to_string();
    let mut expected: Vec<String> = key_clusters_of(&t)
        .into_iter()
        .filter(|c| *c != in_cluster)
        .collect();
    assert_eq!(expected.len(), 2);
    expected.sort();
    given.sort();
    assert_eq!(given, expected);
    assert!(key_clusters_of(&t).contains(&in_cluster));

    let (Some(ef), Some(se), Some(dr)) = (
        anchor("envoyfilter-crd.yaml"),
        anchor("serviceentry-crd.yaml"),
        anchor("destinationrule-crd.yaml"),
    ) else {
        return;
    };
    for d in objects {
        let crd = if d["kind"] == "ServiceEntry" {
            &se
        } else {
            &dr
        };
        let crd = Crd::from_yaml(&std::fs::read_to_string(crd).unwrap()).unwrap();
        assert_eq!(crd.validate(d), vec![], "{d}");
    }
    let file = dir.path().join("emitted.yaml");
    std::fs::write(
        &file,
        &gatehouse(&[
            "emit",
            "envoyfilter",
            "--table",
            &t,
            "--wasm-path",
            "/g.wasm",
        ])
        .stdout,
    )
    .unwrap();
    let crds = [&ef, &se, &dr].map(|p| p.to_str().unwrap().to_string());
    let o = gatehouse(&[
        "validate-manifest",
        "--crd",
        &crds[0],
        "--crd",
        &crds[1],
        "--crd",
        &crds[2],
        file.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("5 resources checked, 0 refused"), "{err}");
    // Without the ServiceEntry CRD, --crd refuses to vouch for what it cannot check.
    let o = envoyfilter(&["--crd", &crds[0], "--crd", &crds[2]]);
    fails_with(&o, "not `ServiceEntry`");
}

/// `emit envoy` adds a cluster per key host, named as the table names it, whose TLS checks
/// the host name against the CA bundle; `--resolve` points one at a local address and keeps
/// the name checked; a `--resolve` that names no key host, or a missing `--ca-file`, is an
/// error before anything is written.
#[test]
fn envoy_gets_a_cluster_per_key_host_that_checks_the_host_name() {
    let dir = tempfile::tempdir().unwrap();
    let t = compiled_policies(dir.path());
    let wasm = module(&dir);
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, "not read by emit").unwrap();
    let ca = std::fs::canonicalize(&ca).unwrap();
    let table_dir = dir.path().join("tables");
    let envoy = |extra: &[&str]| {
        let mut a = vec![
            "emit",
            "envoy",
            "--wasm",
            &wasm,
            "--table",
            &t,
            "--table-dir",
            table_dir.to_str().unwrap(),
        ];
        a.extend_from_slice(extra);
        gatehouse(&a)
    };
    fails_with(
        &envoy(&["--resolve", "dex.example.com:8443=127.0.0.1:9443"]),
        "--resolve `dex.example.com:8443` names no key URL's host and port",
    );
    fails_with(
        &envoy(&["--resolve", "dex.example.com:443"]),
        "HOST:PORT=ADDR:PORT",
    );
    fails_with(&envoy(&["--ca-file", "/no/such/ca.pem"]), "no such file");
    assert!(
        !table_dir.exists(),
        "nothing is written when the arguments are wrong"
    );

    let boot = ok_yaml(&envoy(&[
        "--ca-file",
        ca.to_str().unwrap(),
        "--resolve",
        "Dex.Example.com:443=127.0.0.1:9443",
    ]));
    let clusters = boot["static_resources"]["clusters"].as_array().unwrap();
    let mut names: Vec<String> = clusters
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .filter(|n| n != "upstream")
        .collect();
    names.sort();
    assert_eq!(names, key_clusters_of(&t));
    assert_eq!(names.len(), 4);
    for c in clusters.iter().filter(|c| c["name"] != "upstream") {
        let name = c["name"].as_str().unwrap();
        let host = name.rsplit("||").next().unwrap();
        let tls = &c["transport_socket"]["typed_config"];
        assert_eq!(tls["sni"], host);
        let v = &tls["common_tls_context"]["validation_context"];
        assert_eq!(v["trusted_ca"]["filename"], ca.to_str().unwrap());
        assert_eq!(
            v["match_typed_subject_alt_names"],
            serde_json::json!([{"san_type": "DNS", "matcher": {"exact": host}}])
        );
        let addr = &c["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
            ["socket_address"];
        if host == "dex.example.com" {
            assert_eq!(c["type"], "STATIC");
            assert_eq!(addr["address"], "127.0.0.1");
            assert_eq!(addr["port_value"], 9443);
        } else {
            assert_eq!(c["type"], "STRICT_DNS");
            assert_eq!(
                c["wait_for_warm_on_init"], false,
                "start-up never waits for DNS"
            );
            assert_eq!(addr["address"], host);
            assert_eq!(addr["port_value"], 443);
        }
    }
}
