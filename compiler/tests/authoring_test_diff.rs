//! `gatehouse test` and `gatehouse diff` through the binary: the example policies' own tests,
//! failing assertions, bad test files, and access diffs of directories and tables.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{gatehouse, run};

#[test]
fn the_example_policies_pass_their_tests() {
    // `policies` is the default directory.
    let (c, text) = run(&["test"]);
    assert_eq!(c, 0, "{text}");
    assert!(text.contains("test result: ok."), "{text}");
    assert!(text.contains(" 0 failed"), "{text}");
    assert!(text.contains("test tests/models.yaml::carol cannot deploy churn-model ... ok"));
    let (c, _) = run(&["test", "policies"]);
    assert_eq!(c, 0);
    // The good example policies that carry their own tests: models called by host, and the
    // `kserve` route map by path and by host.
    for dir in ["host-captures", "kserve"] {
        let (c, text) = run(&["test", &format!("testdata/policies/good/{dir}")]);
        assert_eq!(c, 0, "{dir}: {text}");
        assert!(text.contains(" 0 failed"), "{dir}: {text}");
    }
}

#[test]
fn deny_warnings_stops_a_test_run_on_a_policy_that_warns() {
    // A KFAM RoleBinding into `alcie`, which nothing declares: a warning, and the cases pass.
    let dir = "testdata/authoring/warnings";
    let (c, text) = run(&["test", dir]);
    assert_eq!(c, 0, "{text}");
    assert!(text.contains("warning[undeclared-namespace]"), "{text}");
    assert!(text.contains("test result: ok. 1 passed"), "{text}");
    // With --deny-warnings the warning fails the run (exit 1) before any case runs.
    let (c, text) = run(&["test", "--deny-warnings", dir]);
    assert_eq!(c, 1, "{text}");
    assert!(text.contains("--> policy.yaml:22:14"), "{text}");
    assert!(
        text.contains("error: 1 warning, and --deny-warnings is set"),
        "{text}"
    );
    assert!(!text.contains("running"), "{text}");
    // A policy without warnings is untouched by it.
    let (c, text) = run(&["test", "--deny-warnings", "policies"]);
    assert_eq!(c, 0, "{text}");
}

#[test]
fn the_compiler_ignores_policy_tests() {
    // The tests beside the policies (kind PolicyTest) add nothing to the table.
    let with = gatehouse(&["compile", "policies"]);
    assert_eq!(with.status.code(), Some(0));
    let table: serde_json::Value = serde_json::from_slice(&with.stdout).unwrap();
    assert!(!with.stdout.windows(10).any(|w| w == b"PolicyTest"));
    assert!(table["grants"]["alice"].is_object());
}

#[test]
fn failing_assertions_exit_3_with_the_nearest_miss() {
    let (c, text) = run(&["test", "testdata/authoring/failing"]);
    assert_eq!(c, 3, "{text}");
    insta::assert_snapshot!("test_failing", text);
}

#[test]
fn bad_test_files_exit_1_with_positions() {
    let (c, text) = run(&["test", "testdata/authoring/bad-tests"]);
    assert_eq!(c, 1, "{text}");
    insta::assert_snapshot!("test_bad_file", text);
}

#[test]
fn no_tests_or_no_directory_exit_1() {
    let (c, text) = run(&["test", "testdata/policies/good/minimal"]);
    assert_eq!(c, 1);
    assert!(text.contains("no `PolicyTest` cases"), "{text}");
    let (c, text) = run(&["test", "no/such/dir"]);
    assert_eq!(c, 1);
    assert!(text.contains("is not a policy directory"), "{text}");
    // An invalid policy is reported before any test runs.
    let (c, text) = run(&["test", "testdata/policies/bad/unknown-role"]);
    assert_eq!(c, 1);
    assert!(text.contains("unknown-role"), "{text}");
}

#[test]
fn diff_of_identical_policies_is_empty() {
    let (c, text) = run(&["diff", "policies", "policies"]);
    assert_eq!(c, 0);
    assert!(text.contains("--- stdout\nno changes\n"), "{text}");
    assert_eq!(run(&["diff", "--exit-code", "policies", "policies"]).0, 0);
}

#[test]
fn diff_reports_gained_and_lost_access() {
    let (c, text) = run(&[
        "diff",
        "testdata/authoring/diff-old",
        "testdata/authoring/diff-new",
    ]);
    assert_eq!(c, 0);
    assert!(
        text.contains("+ user:carol@example.com gains connect, create, delete"),
        "{text}"
    );
    assert!(
        text.contains("- user:erin@example.com loses get, list, logs in models (via read_only)"),
        "{text}"
    );
    assert!(text.contains("public path added: /metrics/**"), "{text}");
    insta::assert_snapshot!("diff_text", text);
    let (c, _) = run(&[
        "diff",
        "--exit-code",
        "testdata/authoring/diff-old",
        "testdata/authoring/diff-new",
    ]);
    assert_eq!(c, 3);
    let (_, md) = run(&[
        "diff",
        "--format",
        "markdown",
        "testdata/authoring/diff-old",
        "testdata/authoring/diff-new",
    ]);
    insta::assert_snapshot!("diff_markdown", md);
    // Reversed, gains become losses.
    let (_, back) = run(&[
        "diff",
        "testdata/authoring/diff-new",
        "testdata/authoring/diff-old",
    ]);
    assert!(
        back.contains("- user:carol@example.com loses connect, create, delete"),
        "{back}"
    );
    assert!(back.contains("public path removed: /metrics/**"), "{back}");
}

#[test]
fn diff_reads_tables_and_prints_json() {
    let tmp = tempfile::tempdir().unwrap();
    let old = tmp.path().join("old.json");
    let o = gatehouse(&[
        "compile",
        "testdata/authoring/diff-old",
        "-o",
        old.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0));
    let o = gatehouse(&[
        "diff",
        "--format",
        "json",
        old.to_str().unwrap(),
        "testdata/authoring/diff-new",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let access = v["access"].as_array().unwrap();
    let dave = access
        .iter()
        .find(|c| c["subject"] == "user:dave@example.com")
        .unwrap();
    assert_eq!(dave["change"], "gained");
    assert_eq!(dave["api"], "churn-model");
    assert_eq!(dave["via"], serde_json::json!(["developer"]));
    assert!(dave["actions"]
        .as_array()
        .unwrap()
        .contains(&"deploy".into()));
    let auditors = access
        .iter()
        .find(|c| c["subject"] == "group:auditors")
        .unwrap();
    assert_eq!(auditors["namespace"], "*");
    assert!(v["other"]
        .as_array()
        .unwrap()
        .contains(&"public path added: /metrics/**".into()));
}

#[test]
fn diff_bad_inputs_exit_1() {
    let (c, text) = run(&["diff", "policies", "no/such/dir"]);
    assert_eq!(c, 1);
    assert!(
        text.contains("neither a policy directory nor a table file"),
        "{text}"
    );
    let (c, text) = run(&["diff", "policies", "testdata/keys/dex.jwks.json"]);
    assert_eq!(c, 1);
    assert!(text.contains("format_version"), "{text}");
}
