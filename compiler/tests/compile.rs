//! Compiling policy directories: snapshots of good tables and of diagnostics for bad input,
//! determinism of `policies/`, and the real Kubeflow Profiles from `../shared/anchors`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use gatehouse::diagnostic::{render_human, render_json};
use gatehouse::{compile_dir, table_json, CompileOptions};
use gatehouse_filter::pipeline::{self, asserted, Request};
use gatehouse_filter::table::{Scope, Subject};
use gatehouse_filter::Engine;

/// 2026-06-01T00:00:00Z: the "now" every test compiles at.
const NOW: u64 = 1_780_272_000;

fn options() -> CompileOptions {
    CompileOptions { now: NOW }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

#[test]
fn good_policies_compile_to_tables() {
    insta::glob!("../../testdata/policies", "good/*", |dir| {
        let compiled = compile_dir(dir, &options()).unwrap_or_else(|d| {
            panic!("{} does not compile:\n{}", dir.display(), render_human(&d))
        });
        assert!(
            compiled.warnings.is_empty(),
            "{}",
            render_human(&compiled.warnings)
        );
        let json = table_json(&compiled.table).unwrap();
        Engine::from_json(json.as_bytes()).unwrap();
        insta::assert_snapshot!(json);
    });
}

#[test]
fn bad_policies_report_every_problem() {
    insta::glob!("../../testdata/policies", "bad/*", |dir| {
        let diags = match compile_dir(dir, &options()) {
            Ok(c) => c.warnings,
            Err(d) => d,
        };
        assert!(!diags.is_empty(), "{} compiled cleanly", dir.display());
        let human = render_human(&diags);
        let json = render_json(&diags);
        assert!(!human.contains(&*root().to_string_lossy()), "{human}");
        insta::assert_snapshot!(format!("{human}\n--- json ---\n{json}"));
    });
}

#[test]
fn example_policies_compile_cleanly_and_deterministically() {
    let dir = root().join("policies");
    let first = compile_dir(&dir, &options()).unwrap_or_else(|d| panic!("{}", render_human(&d)));
    assert!(
        first.warnings.is_empty(),
        "{}",
        render_human(&first.warnings)
    );
    let second = compile_dir(&dir, &options()).unwrap();
    let (a, b) = (
        table_json(&first.table).unwrap(),
        table_json(&second.table).unwrap(),
    );
    assert_eq!(a, b, "two compiles of policies/ differ");
    assert!(
        !a.contains(&*root().to_string_lossy()),
        "absolute path in table"
    );
    let engine = Engine::from_json(a.as_bytes()).unwrap();
    assert_eq!(engine.table, first.table);
    assert_eq!(
        engine.table.namespaces,
        ["alice", "bob", "models", "research"]
    );
}

#[test]
fn example_policies_decide_as_documented() {
    use gatehouse_filter::{DenyReason, Identity};
    let compiled = compile_dir(&root().join("policies"), &options()).unwrap();
    let engine = Engine::new(compiled.table).unwrap();
    let who = |user: &str, groups: &[&str]| Identity {
        user: user.into(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        issuer: "test".into(),
    };
    let carol = who("carol@example.com", &[]);
    let allowed = |m: &str, p: &str, id: &Identity| {
        pipeline::run(&engine, &Request::new(m, p), asserted(Some(id)))
            .decision
            .deny_reason()
    };
    // Carol may deploy fraud-model in `models`, and nothing else there.
    assert_eq!(
        allowed(
            "PUT",
            "/serving/v1/namespaces/models/apis/fraud-model",
            &carol
        ),
        None
    );
    assert_eq!(
        allowed("PUT", "/serving/v1/namespaces/models/apis/churn", &carol),
        Some(DenyReason::NotPermitted)
    );
    // Carol views alice's namespace (KFAM view) but may not create there.
    assert_eq!(
        allowed("GET", "/jupyter/api/namespaces/alice/notebooks", &carol),
        None
    );
    assert_eq!(
        allowed("POST", "/jupyter/api/namespaces/alice/notebooks", &carol),
        Some(DenyReason::NotPermitted)
    );
    // Analysts read, ml-ops manage.
    let analyst = who("dan@example.com", &["analysts"]);
    assert_eq!(
        allowed(
            "GET",
            "/serving/v1/namespaces/models/apis/churn/logs",
            &analyst
        ),
        None
    );
    assert_eq!(
        allowed(
            "DELETE",
            "/serving/v1/namespaces/models/apis/churn",
            &analyst
        ),
        Some(DenyReason::NotPermitted)
    );
    // Public paths need no identity.
    assert_eq!(
        pipeline::run(&engine, &Request::new("GET", "/dex/auth"), asserted(None))
            .decision
            .deny_reason(),
        None
    );
}

#[test]
fn real_kubeflow_profiles_compile() {
    let anchors = root().join("../shared/anchors/kubeflow");
    if !anchors.is_dir() {
        println!(
            "SKIPPED real_kubeflow_profiles_compile: {} is absent (it exists only beside the project's CI checkout)",
            anchors.display()
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut names = std::collections::BTreeSet::new();
    let mut copied = 0;
    let mut files: Vec<_> = std::fs::read_dir(&anchors)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        for (i, doc) in text.split("\n---").enumerate() {
            // Only top-level Profiles (the CRD mentions `kind: Profile` too).
            let Ok(nodes) = gatehouse::yaml::parse_documents(doc) else {
                continue;
            };
            let Some(node) = nodes.first() else { continue };
            if node.get("kind").and_then(|k| k.as_str()) != Some("Profile") {
                continue;
            }
            // Two samples share a namespace name; keep the first of each.
            let name = node
                .get("metadata")
                .and_then(|m| m.get("name"))
                .and_then(|n| n.as_str())
                .unwrap()
                .to_string();
            if !names.insert(name) {
                continue;
            }
            let file = format!("{}-{i}.yaml", path.file_stem().unwrap().to_string_lossy());
            std::fs::write(tmp.path().join(file), doc).unwrap();
            copied += 1;
        }
    }
    assert!(copied >= 3, "expected the anchor Profiles, found {copied}");
    std::fs::write(
        tmp.path().join("gatehouse.yaml"),
        "apiVersion: gatehouse.dev/v1alpha1\nkind: Gateway\nmetadata:\n  name: gw\nspec:\n  publicPaths: [/dex/]\n",
    )
    .unwrap();
    let compiled =
        compile_dir(tmp.path(), &options()).unwrap_or_else(|d| panic!("{}", render_human(&d)));
    assert!(
        compiled.warnings.is_empty(),
        "{}",
        render_human(&compiled.warnings)
    );
    let t = &compiled.table;
    assert_eq!(t.namespaces.len(), copied);
    for ns in &t.namespaces {
        let subjects = &t.grants[&Scope::parse(ns)];
        assert!(
            subjects.iter().any(|(s, g)| !s.is_group()
                && !s.name().contains("serviceaccount")
                && g[0].role == "kubeflow-admin"),
            "{ns}: {subjects:?}"
        );
        let editor = Subject::User(format!("system:serviceaccount:{ns}:default-editor"));
        assert!(subjects.contains_key(&editor));
    }
    Engine::new(compiled.table).unwrap();
}
