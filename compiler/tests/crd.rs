//! The CRD validator against Istio's own CRDs and test data (read from `../shared/anchors`;
//! skipped with a message when that folder is absent), plus targeted cases on small schemas.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{compiled_policies, gatehouse};

use std::path::{Path, PathBuf};

use gatehouse::crd::schema::{AdditionalProperties, Schema};
use gatehouse::crd::{parse_documents, Crd};
use serde_json::{json, Value};

fn anchors() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/anchors");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("SKIPPED: ../shared/anchors is absent (it holds Istio's CRDs and samples)");
        None
    }
}

fn crd(dir: &Path, name: &str) -> Crd {
    Crd::from_yaml(&std::fs::read_to_string(dir.join("istio").join(name)).unwrap()).unwrap()
}

fn docs(dir: &Path, name: &str) -> Vec<Value> {
    parse_documents(&std::fs::read_to_string(dir.join("istio").join(name)).unwrap()).unwrap()
}

#[test]
fn istio_accepts_what_the_validator_accepts() {
    let Some(dir) = anchors() else { return };
    let crd = crd(&dir, "wasmplugin-crd.yaml");
    let valid = docs(&dir, "wasmplugin-valid.yaml");
    assert!(valid.len() >= 4);
    for doc in &valid {
        let v = crd.validate(doc);
        assert!(v.is_empty(), "{}: {v:?}", doc["metadata"]["name"]);
    }
}

#[test]
fn istio_rejects_what_the_validator_rejects_with_istios_message() {
    let Some(dir) = anchors() else { return };
    let crd = crd(&dir, "wasmplugin-crd.yaml");
    let invalid = docs(&dir, "wasmplugin-invalid.yaml");
    assert!(invalid.len() >= 15);
    for mut doc in invalid {
        // `_err` is the test data's expected message, not part of the resource.
        let expected = doc.as_object_mut().unwrap().remove("_err").unwrap();
        let expected = expected.as_str().unwrap();
        let got: Vec<String> = crd.validate(&doc).iter().map(ToString::to_string).collect();
        assert!(
            got.iter().any(|m| m.contains(expected)),
            "{}: expected `{expected}`, got {got:?}",
            doc["metadata"]["name"]
        );
    }
}

#[test]
fn cel_only_failures_are_caught_by_cel() {
    let Some(dir) = anchors() else { return };
    let crd = crd(&dir, "wasmplugin-crd.yaml");
    // These samples break only a CEL rule: the schema alone lets them through.
    let cel_only = [
        "url must have schema one of",
        "value may only be set when valueFrom is INLINE",
        "wildcard not allowed in label value match",
        "wildcard not allowed in label key match",
    ];
    let mut seen = 0;
    for mut doc in docs(&dir, "wasmplugin-invalid.yaml") {
        let expected = doc.as_object_mut().unwrap().remove("_err").unwrap();
        if !cel_only.iter().any(|m| expected.as_str() == Some(m)) {
            continue;
        }
        seen += 1;
        let got = crd.validate(&doc);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].message.contains("Invalid value"), "{got:?}");
        assert!(
            got[0].message.contains(expected.as_str().unwrap()),
            "{got:?}"
        );
    }
    assert_eq!(seen, 6);
}

#[test]
fn envoyfilter_and_requestauthentication_crds_load_and_check() {
    let Some(dir) = anchors() else { return };
    let ef = crd(&dir, "envoyfilter-crd.yaml");
    let mut doc = json!({
        "apiVersion": "networking.istio.io/v1alpha3", "kind": "EnvoyFilter",
        "metadata": {"name": "x", "namespace": "istio-system"},
        "spec": {"configPatches": [{"applyTo": "HTTP_FILTER",
            "match": {"context": "GATEWAY", "listener": {"filterChain": {"filter": {"name": "n"}}}},
            "patch": {"operation": "INSERT_BEFORE", "value": {"anything": [1, 2]}}}]}
    });
    assert_eq!(ef.validate(&doc), vec![]);
    // `oneOf`: a match naming both a listener and a cluster is refused.
    doc["spec"]["configPatches"][0]["match"]["cluster"] = json!({"name": "c"});
    let v = ef.validate(&doc);
    assert!(v.iter().any(|v| v.message.contains("(oneOf)")), "{v:?}");
    // A CEL rule on an integer: waypoint ports.
    doc["spec"]["configPatches"][0]["match"] =
        json!({"context": "WAYPOINT", "waypoint": {"portNumber": 70000}});
    let v = ef.validate(&doc);
    assert!(
        v.iter()
            .any(|v| v.message.contains("port must be between 1-65535")),
        "{v:?}"
    );

    let ra = crd(&dir, "requestauthentication-crd.yaml");
    let doc = json!({
        "apiVersion": "security.istio.io/v1", "kind": "RequestAuthentication",
        "metadata": {"name": "dex"},
        "spec": {"jwtRules": [{"issuer": "https://dex", "jwksUri": "ftp://x/keys", "jwks": "{}",
                               "timeout": "0s"}]}
    });
    let v: Vec<String> = ra.validate(&doc).iter().map(ToString::to_string).collect();
    for m in [
        "url must have scheme http:// or https://",
        "only one of jwks or jwksUri can be set",
        "must be a valid duration greater than 1ms",
    ] {
        assert!(v.iter().any(|s| s.contains(m)), "{m}: {v:?}");
    }
}

/// The message of every CEL rule in `s` and below it.
fn rule_messages(s: &Schema, out: &mut Vec<String>) {
    out.extend(s.validations.iter().filter_map(|r| r.message.clone()));
    for p in s.properties.values() {
        rule_messages(p, out);
    }
    if let Some(AdditionalProperties::Schema(p)) = &s.additional_properties {
        rule_messages(p, out);
    }
    if let Some(i) = &s.items {
        rule_messages(i, out);
    }
}

fn trafficextension() -> Value {
    json!({
        "apiVersion": "extensions.istio.io/v1alpha1", "kind": "TrafficExtension",
        "metadata": {"name": "gatehouse", "namespace": "istio-system"},
        "spec": {
            "selector": {"matchLabels": {"istio": "ingressgateway"}},
            "phase": "AUTHN", "priority": 10,
            "wasm": {"url": "oci://ghcr.io/acme/gatehouse:1", "failStrategy": "FAIL_CLOSE",
                     "pluginConfig": {"format_version": 1},
                     "vmConfig": {"env": [{"name": "POD_NAME", "valueFrom": "HOST"}]}}
        }
    })
}

/// Istio 1.30's TrafficExtension CRD: a WASM extension passes, and so does a Lua one; a sample
/// breaking each of its CEL rules is refused with that rule's message, and the samples break
/// every rule the CRD has, so none goes unevaluated. All but `both` break a CEL rule alone
/// (the schema lets them through): CEL catches them.
#[test]
fn trafficextension_samples_breaking_each_cel_rule_are_refused_with_its_message() {
    let Some(dir) = anchors() else { return };
    let crd = crd(&dir, "trafficextension-crd.yaml");
    assert_eq!(crd.validate(&trafficextension()), vec![]);
    let mut lua = trafficextension();
    lua["spec"].as_object_mut().unwrap().remove("wasm");
    lua["spec"]["lua"] = json!({"inlineCode": "function envoy_on_request(h) end"});
    assert_eq!(crd.validate(&lua), vec![]);

    type Edit = fn(&mut Value);
    let cases: [(&str, Edit, &str); 9] = [
        (
            "both",
            |d| d["spec"]["lua"] = json!({"inlineCode": "function envoy_on_request(h) end"}),
            "exactly one of wasm or lua must be set",
        ),
        (
            "neither",
            |d| {
                d["spec"].as_object_mut().unwrap().remove("wasm");
            },
            "exactly one of wasm or lua must be set",
        ),
        (
            "selector-and-target-refs",
            |d| d["spec"]["targetRefs"] = json!([{"kind": "Gateway", "name": "gw"}]),
            "only one of targetRefs or selector can be set",
        ),
        (
            "cross-namespace",
            |d| {
                d["spec"].as_object_mut().unwrap().remove("selector");
                d["spec"]["targetRefs"] = json!([{"group": "gateway.networking.k8s.io", "kind": "Gateway",
                            "name": "gw", "namespace": "kubeflow"}]);
            },
            "cross namespace referencing is not currently supported",
        ),
        (
            "url-scheme",
            |d| d["spec"]["wasm"]["url"] = json!("fake://example.com"),
            "url must have schema one of [http, https, file, oci]",
        ),
        (
            "env-value-from-host",
            |d| d["spec"]["wasm"]["vmConfig"]["env"][0]["value"] = json!("x"),
            "value may only be set when valueFrom is INLINE",
        ),
        (
            "wildcard-value",
            |d| d["spec"]["selector"]["matchLabels"]["istio"] = json!("ingress*"),
            "wildcard not allowed in label value match",
        ),
        (
            "wildcard-key",
            |d| d["spec"]["selector"]["matchLabels"]["app*"] = json!("x"),
            "wildcard not allowed in label key match",
        ),
        (
            "empty-key",
            |d| d["spec"]["selector"]["matchLabels"][""] = json!("x"),
            "key must not be empty",
        ),
    ];
    for (name, edit, expected) in cases {
        let mut doc = trafficextension();
        edit(&mut doc);
        let got: Vec<String> = crd.validate(&doc).iter().map(ToString::to_string).collect();
        assert!(
            got.iter()
                .any(|m| m.contains("Invalid value") && m.contains(expected)),
            "{name}: expected `{expected}`, got {got:?}"
        );
        if name == "both" {
            assert!(got.iter().any(|m| m.contains("(oneOf)")), "{got:?}");
        } else {
            assert_eq!(got.len(), 1, "{name}: {got:?}");
        }
    }
    let mut rules = Vec::new();
    for (_, schema) in &crd.versions {
        rule_messages(schema, &mut rules);
    }
    assert_eq!(rules.len(), 8, "{rules:?}");
    for rule in &rules {
        assert!(
            cases.iter().any(|(_, _, m)| rule == m),
            "no sample breaks `{rule}`"
        );
    }
}

/// `validate-manifest` refuses the TrafficExtensions that break a CEL rule, each named with the
/// rule's message, and passes the valid one beside them.
#[test]
fn validate_manifest_refuses_a_trafficextension_breaking_a_cel_rule() {
    let Some(dir) = anchors() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("trafficextensions.yaml");
    let valid = trafficextension();
    let mut both = trafficextension();
    both["metadata"]["name"] = json!("both");
    both["spec"]["lua"] = json!({"inlineCode": "function envoy_on_request(h) end"});
    let mut neither = trafficextension();
    neither["metadata"]["name"] = json!("neither");
    neither["spec"].as_object_mut().unwrap().remove("wasm");
    let text: Vec<String> = [valid, both, neither]
        .iter()
        .map(|d| serde_yaml::to_string(d).unwrap())
        .collect();
    std::fs::write(&file, text.join("---\n")).unwrap();
    let crd = dir.join("istio/trafficextension-crd.yaml");
    let o = gatehouse(&[
        "validate-manifest",
        "--crd",
        crd.to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    for name in ["both", "neither"] {
        let expected = format!("TrafficExtension `{name}`: spec: Invalid value: \"object\": exactly one of wasm or lua must be set");
        assert!(err.contains(&expected), "{expected}\n{err}");
    }
    assert!(!err.contains("`gatehouse`"), "{err}");
    assert!(err.contains("3 resources checked, 2 refused"), "{err}");
}

fn small_crd(schema: Value) -> Crd {
    Crd::from_value(&json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "things.example.com"},
        "spec": {"group": "example.com", "names": {"kind": "Thing"},
                 "versions": [{"name": "v1", "schema": {"openAPIV3Schema": schema}}]}
    }))
    .unwrap()
}

fn thing(spec: Value) -> Value {
    json!({"apiVersion": "example.com/v1", "kind": "Thing", "metadata": {"name": "t"}, "spec": spec})
}

fn messages(crd: &Crd, spec: Value) -> Vec<String> {
    crd.validate(&thing(spec))
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn targeted_schema_checks() {
    let crd = small_crd(json!({"type": "object", "properties": {"spec": {
        "type": "object", "required": ["name"],
        "properties": {
            "name": {"type": "string", "maxLength": 5, "pattern": "^[a-z]+$"},
            "mode": {"type": "string", "enum": ["A", "B"]},
            "count": {"type": "integer", "minimum": 1, "maximum": 3},
            "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2,
                     "x-kubernetes-list-type": "set"},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
            "when": {"type": "string", "format": "date-time"}
        },
        "x-kubernetes-validations": [
            {"rule": "!has(self.mode) || self.mode != 'B' || has(self.count)",
             "message": "mode B needs a count"}
        ]
    }}}));
    assert_eq!(
        messages(&crd, json!({"name": "ok", "free": {"any": {"thing": 1}}})),
        Vec::<String>::new()
    );
    assert_eq!(
        messages(&crd, json!({"name": 7})),
        ["spec.name in body must be of type string: \"integer\""]
    );
    assert_eq!(messages(&crd, json!({})), ["spec.name: Required value"]);
    assert_eq!(
        messages(&crd, json!({"name": "a", "mode": "C"})),
        ["spec.mode: Unsupported value: \"C\": supported values: \"A\", \"B\""]
    );
    assert_eq!(
        messages(&crd, json!({"name": "a", "extra": 1})),
        ["unknown field \"spec.extra\""]
    );
    assert_eq!(
        messages(&crd, json!({"name": "a", "mode": "B"})),
        ["spec: Invalid value: \"object\": mode B needs a count"]
    );
    assert_eq!(
        messages(&crd, json!({"name": "TOOLONG"})),
        [
            "spec.name in body should be at most 5 chars long",
            "spec.name in body should match '^[a-z]+$'"
        ]
    );
    assert_eq!(
        messages(
            &crd,
            json!({"name": "a", "count": 4, "tags": ["x", "x", "y"], "when": "noon"})
        ),
        [
            "spec.count in body should be less than or equal to 3",
            "spec.tags in body should have at most 2 items",
            "spec.tags[1]: Duplicate value: \"x\"",
            "spec.when in body must be of type date-time: \"noon\""
        ]
    );
    // A wrong field does not hide the node's rules, nor the other way round.
    assert_eq!(messages(&crd, json!({"name": 1, "mode": "B"})).len(), 2);
}

#[test]
fn wrong_kind_version_and_name_are_refused() {
    let crd = small_crd(json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}));
    let mut doc = thing(json!({}));
    doc["apiVersion"] = json!("example.com/v2");
    let v = crd.validate(&doc);
    assert!(
        v[0].message.contains("supported values: example.com/v1"),
        "{v:?}"
    );
    let mut doc = thing(json!({}));
    doc["kind"] = json!("Other");
    doc["metadata"]["name"] = json!("Not_A_Name");
    let v = crd.validate(&doc);
    assert_eq!(v.len(), 2, "{v:?}");
}

/// One file holding several of Istio's CRDs, as its all-in-one `customresourcedefinitions`
/// file does, with another kind between them: `names` in this order.
fn all_in_one(dir: &Path, tmp: &tempfile::TempDir, names: &[&str]) -> PathBuf {
    let mut text = String::new();
    for (i, name) in names.iter().enumerate() {
        if i == 1 {
            text.push_str(
                "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: istio-system\n---\n",
            );
        }
        text.push_str(&std::fs::read_to_string(dir.join("istio").join(name)).unwrap());
        text.push_str("\n---\n");
    }
    let path = tmp.path().join("crds.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

const ALL_BUT_WASMPLUGIN: [&str; 3] = [
    "serviceentry-crd.yaml",
    "envoyfilter-crd.yaml",
    "destinationrule-crd.yaml",
];

#[test]
fn validate_manifest_picks_the_crd_of_each_resources_kind_from_an_all_in_one_file() {
    let Some(dir) = anchors() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let mut names = ALL_BUT_WASMPLUGIN.to_vec();
    names.push("wasmplugin-crd.yaml");
    let crds = all_in_one(&dir, &tmp, &names);
    let crds = crds.to_str().unwrap();
    let sample = |n: &str| dir.join("istio").join(n).to_str().unwrap().to_string();
    // WasmPlugins and DestinationRules in one run, each against its own CRD.
    let o = gatehouse(&[
        "validate-manifest",
        "--crd",
        crds,
        &sample("wasmplugin-valid.yaml"),
        &sample("destinationrule-valid.yaml"),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("resources checked, 0 refused"), "{err}");
    // Istio's invalid samples are refused with Istio's own messages.
    let o = gatehouse(&[
        "validate-manifest",
        "--crd",
        crds,
        &sample("wasmplugin-invalid.yaml"),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("url must have schema one of"), "{err}");
    assert!(!err.contains("--crd"), "{err}");
    let o = gatehouse(&[
        "validate-manifest",
        "--crd",
        crds,
        &sample("destinationrule-invalid.yaml"),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!String::from_utf8_lossy(&o.stderr).contains("--crd"));
}

#[test]
fn a_crd_file_without_the_resources_kind_names_the_kinds_it_holds() {
    let Some(dir) = anchors() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let crds = all_in_one(&dir, &tmp, &ALL_BUT_WASMPLUGIN);
    let crds = crds.to_str().unwrap();
    let valid = dir.join("istio/wasmplugin-valid.yaml");
    let o = gatehouse(&["validate-manifest", "--crd", crds, valid.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    let expected = format!("--crd `{crds}` defines `ServiceEntry`, `EnvoyFilter`, `DestinationRule`, not `WasmPlugin` (group `extensions.istio.io`)");
    assert!(err.contains(&expected), "{expected}\n{err}");
}

#[test]
fn emit_crd_picks_the_manifests_kind_from_an_all_in_one_file() {
    let Some(dir) = anchors() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let table = compiled_policies(tmp.path());
    let table = table.as_str();
    let mut names = ALL_BUT_WASMPLUGIN.to_vec();
    names.push("wasmplugin-crd.yaml");
    names.push("trafficextension-crd.yaml");
    let crds = all_in_one(&dir, &tmp, &names);
    let crds = crds.to_str().unwrap();
    let plugin = |kind: &str, crd: &str| {
        gatehouse(&[
            "emit",
            kind,
            "--table",
            table,
            "--url",
            "oci://r/x:1",
            "--crd",
            crd,
        ])
    };
    let wasmplugin = |crd: &str| plugin("wasmplugin", crd);
    let trafficextension = |crd: &str| plugin("trafficextension", crd);
    let envoyfilter = |crd: &str| {
        gatehouse(&[
            "emit",
            "envoyfilter",
            "--table",
            table,
            "--wasm-path",
            "/g.wasm",
            "--crd",
            crd,
        ])
    };
    for o in [wasmplugin(crds), trafficextension(crds), envoyfilter(crds)] {
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{err}");
        assert!(!o.stdout.is_empty());
    }
    // Without the WasmPlugin CRD, `emit wasmplugin` says what the file defines.
    let crds = all_in_one(&dir, &tmp, &ALL_BUT_WASMPLUGIN);
    let o = wasmplugin(crds.to_str().unwrap());
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(o.stdout.is_empty());
    assert!(
        err.contains("defines `ServiceEntry`, `EnvoyFilter`, `DestinationRule`, not `WasmPlugin`"),
        "{err}"
    );
    let o = trafficextension(crds.to_str().unwrap());
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("not `TrafficExtension` (group `extensions.istio.io`)"),
        "{err}"
    );
}
