//! `gatehouse emit wasmplugin|envoyfilter` and `validate-manifest`: the manifests carry a
//! table the filter loads, pass Istio's own CRDs (read from `../shared/anchors`; those checks
//! skip with a message when it is absent), and bad input exits 1 with the reason.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{gatehouse, root};

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

/// Compiles `policies/` into a temporary table.
fn table(dir: &tempfile::TempDir) -> String {
    let out = dir.path().join("table.json");
    let o = gatehouse(&[
        "compile",
        "policies",
        "-o",
        out.to_str().unwrap(),
        "--now",
        "2026-06-01T00:00:00Z",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    out.to_str().unwrap().to_string()
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
    let t = table(&dir);
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
fn envoyfilter_inserts_the_filter_before_the_router_and_passes_istios_crd() {
    let dir = tempfile::tempdir().unwrap();
    let t = table(&dir);
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
    let patch = &m["spec"]["configPatches"][0];
    assert_eq!(patch["match"]["context"], "GATEWAY");
    assert_eq!(patch["patch"]["operation"], "INSERT_BEFORE");
    let config = &patch["patch"]["value"]["typed_config"]["config"];
    let text = config["configuration"]["value"].as_str().unwrap();
    gatehouse_filter::Engine::from_json(text.as_bytes()).unwrap();
    assert_eq!(config["fail_open"], false);
    assert_eq!(
        m["spec"]["workloadSelector"]["labels"]["istio"],
        "ingressgateway"
    );
    if let Some(crd) = anchor("envoyfilter-crd.yaml") {
        let crd_text = std::fs::read_to_string(&crd).unwrap();
        assert_eq!(Crd::from_yaml(&crd_text).unwrap().validate(&m), vec![]);
    }
}

#[test]
fn the_manifest_shape_is_stable() {
    let dir = tempfile::tempdir().unwrap();
    let t = table(&dir);
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
    let t = table(&dir);
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
