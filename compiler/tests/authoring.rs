//! `gatehouse check` and `who-can` through the binary, over `policies/` and
//! `testdata/authoring/`: answers, exit codes, and the text people read (insta snapshots).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{code, gatehouse, run};

#[test]
fn check_allows_with_the_granting_binding() {
    let (c, text) = run(&[
        "check",
        "--policies",
        "policies",
        "--user",
        "bob@example.com",
        "DELETE",
        "/jupyter/api/namespaces/alice/notebooks/nb-1",
    ]);
    assert_eq!(c, 0, "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn check_denies_with_exit_3_and_the_reason() {
    let (c, text) = run(&[
        "check",
        "--policies",
        "policies",
        "--user",
        "carol@example.com",
        "PUT",
        "/serving/v1/namespaces/models/apis/churn-model",
    ]);
    assert_eq!(c, 3, "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn check_groups_public_paths_and_path_tricks() {
    let p = ["check", "--policies", "policies"];
    let with = |rest: &[&str]| code(&[&p[..], rest].concat());
    assert_eq!(
        with(&[
            "--user",
            "x@example.com",
            "--group",
            "ml-ops",
            "DELETE",
            "/serving/v1/namespaces/models/apis/a"
        ]),
        0
    );
    assert_eq!(
        with(&[
            "--user",
            "x@example.com",
            "DELETE",
            "/serving/v1/namespaces/models/apis/a"
        ]),
        3
    );
    assert_eq!(with(&["GET", "/dex/auth"]), 0);
    assert_eq!(with(&["GET", "/notebook/alice/nb/"]), 3);
    // The gateway refuses these paths: a decision (denied), not bad input.
    let (c, text) = run(&[
        &p[..],
        &[
            "--user",
            "alice@example.com",
            "GET",
            "/notebook/alice%2Fbob/nb/",
        ],
    ]
    .concat());
    assert_eq!(c, 3);
    assert!(text.contains("deny bad_path (400)"), "{text}");
}

#[test]
fn check_reads_a_compiled_table_too() {
    let tmp = tempfile::tempdir().unwrap();
    let table = tmp.path().join("t.json");
    assert_eq!(
        code(&["compile", "policies", "-o", table.to_str().unwrap()]),
        0
    );
    let args = ["--user", "alice@example.com", "GET", "/notebook/alice/nb/"];
    assert_eq!(
        code(&[&["check", "--table", table.to_str().unwrap()][..], &args].concat()),
        0
    );
    let json = gatehouse(
        &[
            &[
                "check",
                "--table",
                table.to_str().unwrap(),
                "--format",
                "json",
            ][..],
            &args,
        ]
        .concat(),
    );
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["decision"], "allow");
    assert_eq!(v["granted_by"], "profiles/alice.yaml:2 (Profile alice)");
    assert_eq!(v["namespace"], "alice");
    assert_eq!(v["action"], "connect");
}

#[test]
fn check_bad_input_exits_1() {
    let p = ["check", "--policies", "policies", "--user", "a@example.com"];
    for (rest, want) in [
        (&["get", "/x"][..], "upper-case"),
        (&["GET", "notebook/alice"][..], "must start with `/`"),
    ] {
        let (c, text) = run(&[&p[..], rest].concat());
        assert_eq!(c, 1, "{text}");
        assert!(text.contains(want), "{text}");
    }
    let (c, text) = run(&["check", "--policies", "no/such/dir", "GET", "/"]);
    assert_eq!(c, 1);
    assert!(text.contains("is not a policy directory"), "{text}");
    let (c, text) = run(&["check", "--table", "no/such/table.json", "GET", "/"]);
    assert_eq!(c, 1);
    assert!(text.contains("cannot read table"), "{text}");
    // Exactly one of --policies and --table.
    assert_eq!(code(&["check", "GET", "/"]), 1);
    assert_eq!(
        code(&[
            "check",
            "--policies",
            "policies",
            "--table",
            "t.json",
            "GET",
            "/"
        ]),
        1
    );
    // An invalid policy: its diagnostics, exit 1.
    let (c, text) = run(&[
        "check",
        "--policies",
        "testdata/policies/bad/unknown-role",
        "GET",
        "/",
    ]);
    assert_eq!(c, 1);
    assert!(text.contains("unknown-role"), "{text}");
}

#[test]
fn who_can_lists_subjects_with_role_and_source() {
    let (c, text) = run(&["who-can", "delete", "models", "--policies", "policies"]);
    assert_eq!(c, 0);
    insta::assert_snapshot!("who_can_delete_models", text);
    let (c, text) = run(&[
        "who-can",
        "deploy",
        "models",
        "--api",
        "churn-model",
        "--policies",
        "policies",
    ]);
    assert_eq!(c, 0);
    assert!(!text.contains("carol"), "{text}");
    assert!(text.contains("ci/model-deployer"), "{text}");
    // Grants for every namespace are included.
    let (c, text) = run(&[
        "who-can",
        "get",
        "alice",
        "--policies",
        "testdata/authoring/diff-new",
    ]);
    assert_eq!(c, 0);
    let auditors = text
        .lines()
        .map(|l| l.split_whitespace().take(5).collect::<Vec<_>>())
        .find(|w| w.get(1) == Some(&"auditors"));
    assert_eq!(
        auditors,
        Some(vec!["group", "auditors", "read_only", "*", "*"]),
        "{text}"
    );
}

#[test]
fn who_can_refuses_unknown_actions_and_bad_namespaces() {
    let (c, text) = run(&["who-can", "delte", "alice", "--policies", "policies"]);
    assert_eq!(c, 1);
    assert!(
        text.contains("unknown action `delte`; did you mean `delete`?"),
        "{text}"
    );
    let (c, text) = run(&["who-can", "delete", "Alice_A", "--policies", "policies"]);
    assert_eq!(c, 1);
    assert!(text.contains("not a valid namespace name"), "{text}");
    let (c, text) = run(&[
        "who-can",
        "delete",
        "nobody-here",
        "--policies",
        "testdata/policies/good/kserve",
    ]);
    assert_eq!(c, 0);
    assert!(
        text.contains("nobody can `delete` in `nobody-here`"),
        "{text}"
    );
    assert!(text.contains("not declared"), "{text}");
    // A grant in every namespace reaches one nobody declared.
    let (c, text) = run(&["who-can", "delete", "nobody-here", "--policies", "policies"]);
    assert_eq!(c, 0);
    let rows: Vec<&str> = text.lines().filter(|l| l.starts_with("group ")).collect();
    assert_eq!(rows.len(), 1, "{text}");
    assert!(rows[0].contains("platform-admins"), "{text}");
    assert!(text.contains("not declared"), "{text}");
}

#[test]
fn check_judges_host_scoped_public_paths_and_routes_on_their_host() {
    let p = ["check", "--policies", "testdata/policies/good/hosts"];
    let with = |rest: &[&str]| run(&[&p[..], rest].concat());
    // Dex's pages are public on Dex's host (any case, any port) only.
    for host in ["dex.example.com", "DEX.example.com:443"] {
        let (c, text) = with(&["--host", host, "GET", "/dex/auth"]);
        assert_eq!(c, 0, "{host}: {text}");
    }
    let (c, text) = with(&["--host", "kubeflow.example.com", "GET", "/dex/auth"]);
    assert_eq!(c, 3, "{text}");
    assert!(text.contains("no_identity"), "{text}");
    let (c, text) = with(&["GET", "/dex/auth"]);
    assert_eq!(c, 3, "{text}");
    // Per-model inference is routed on the model hosts, in the map's namespace.
    let (c, text) = with(&[
        "--host",
        "fraud.models.example.com",
        "--user",
        "x@example.com",
        "POST",
        "/v1/models/fraud",
    ]);
    assert_eq!(c, 3, "{text}");
    assert!(text.contains("not_permitted"), "{text}");
    assert!(text.contains("models"), "{text}");
}

#[test]
fn check_answers_unlisted_methods_on_namespaced_paths_with_405() {
    let (c, text) = run(&[
        "check",
        "--policies",
        "policies",
        "--user",
        "carol@example.com",
        "PATCH",
        "/serving/v1/namespaces/models/apis/fraud-model",
    ]);
    assert_eq!(c, 3, "{text}");
    assert!(text.contains("method_not_allowed"), "{text}");
}

#[test]
fn check_and_explain_deny_warnings_of_a_policy_directory() {
    let request = ["--user", "alice@example.com", "GET", "/notebook/alice/nb/"];
    for command in ["check", "explain"] {
        let p = [command, "--policies", "testdata/authoring/warnings"];
        let (c, text) = run(&[&p[..], &request].concat());
        assert_eq!(c, 0, "{command}: {text}");
        assert!(text.contains("warning[undeclared-namespace]"), "{text}");
        let (c, text) = run(&[&p[..], &["--deny-warnings"], &request].concat());
        assert_eq!(c, 1, "{command}: {text}");
        assert!(
            text.contains("error: 1 warning, and --deny-warnings is set"),
            "{text}"
        );
        assert!(text.contains("--- stdout\n--- stderr"), "{text}");
    }
}
