//! Hostile policy YAML: alias bombs are refused at their first alias, in bounded time and
//! memory, with exit code 1; `*` in quoted and plain scalars stays an ordinary value; a
//! diagnostic on a 200 KB line shows a window of it. The YAML that `import`,
//! `validate-manifest` and `emit --crd` read is held to the same bounds.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::{compiled_policies, gatehouse, root};
use gatehouse::diagnostic::{render_human, render_json, Diagnostic};
use gatehouse::{compile_dir, CompileOptions};
use gatehouse_filter::table::{Scope, Subject};

/// 2026-06-01T00:00:00Z.
const NOW: u64 = 1_780_272_000;

fn compile(dir: &Path) -> Result<gatehouse::Compiled, Vec<Diagnostic>> {
    compile_dir(dir, &CompileOptions { now: NOW })
}

/// A policy directory holding `files` (name, text).
fn policy_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(tmp.path().join(name), text).unwrap();
    }
    tmp
}

/// A "billion laughs" Profile: `levels` levels of `fan` aliases each in a label value.
fn alias_bomb(levels: usize, fan: usize) -> String {
    let mut text = String::from(
        "apiVersion: kubeflow.org/v1\nkind: Profile\nmetadata:\n  name: laughs\n  labels:\n    a0: &a0 \"lol\"\n",
    );
    for i in 1..=levels {
        let refs = vec![format!("*a{}", i - 1); fan].join(",");
        text += &format!("    a{i}: &a{i} [{refs}]\n");
    }
    text + "spec:\n  owner:\n    kind: User\n    name: laughs@example.com\n"
}

fn only_error(diags: &[Diagnostic]) -> &Diagnostic {
    assert_eq!(diags.len(), 1, "{}", render_human(diags));
    &diags[0]
}

#[test]
fn an_alias_bomb_is_refused_at_its_first_alias() {
    let bomb = alias_bomb(9, 10);
    assert!(bomb.len() < 1200, "{} bytes", bomb.len());
    let dir = policy_dir(&[("bomb.yaml", &bomb)]);
    let diags = compile(dir.path()).err().unwrap();
    let d = only_error(&diags);
    assert_eq!(d.code, "yaml-alias");
    assert_eq!(d.location(), "bomb.yaml:7:14");
    assert_eq!(d.message, "yaml alias `*a0` is not accepted");
    assert!(d.hint.as_deref().unwrap().contains("`&a0` at line 6"));
    // The binary: exit 1 (invalid input), the diagnostic in both formats.
    let path = dir.path().to_str().unwrap();
    let o = gatehouse(&["compile", path]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("error[yaml-alias]: yaml alias `*a0` is not accepted"));
    assert!(stderr.contains(" --> bomb.yaml:7:14\n"), "{stderr}");
    assert!(o.stdout.is_empty());
    let o = gatehouse(&["compile", path, "--error-format", "json"]);
    assert_eq!(o.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&o.stderr).unwrap();
    assert_eq!(json[0]["code"], "yaml-alias");
    assert_eq!(
        (&json[0]["line"], &json[0]["column"]),
        (&7.into(), &14.into())
    );
}

#[test]
fn the_alias_bomb_of_testdata_is_refused() {
    let bomb =
        std::fs::read_to_string(root().join("testdata/hostile/yaml/alias-bomb.yaml")).unwrap();
    let dir = policy_dir(&[("alias-bomb.yaml", &bomb)]);
    let diags = compile(dir.path()).err().unwrap();
    let d = only_error(&diags);
    assert_eq!(
        (d.code, d.location().as_str()),
        ("yaml-alias", "alias-bomb.yaml:10:14")
    );
}

#[test]
fn a_single_alias_is_refused_and_an_anchor_alone_is_a_value() {
    let list = "\
apiVersion: v1
kind: List
items:
  - apiVersion: gatehouse.dev/v1alpha1
    kind: Binding
    metadata: {name: one}
    spec:
      role: developer
      subjects: &team [{kind: User, name: ann@example.com}]
      namespaces: [\"*\"]
  - apiVersion: gatehouse.dev/v1alpha1
    kind: Binding
    metadata: {name: two}
    spec:
      role: read_only
      subjects: *team
      namespaces: ['*']
";
    let dir = policy_dir(&[("list.yaml", list)]);
    let diags = compile(dir.path()).err().unwrap();
    let d = only_error(&diags);
    assert_eq!(
        (d.code, d.location().as_str()),
        ("yaml-alias", "list.yaml:16:17")
    );
    let written_out = list.replace("*team", "[{kind: Group, name: team}]");
    let dir = policy_dir(&[("list.yaml", &written_out)]);
    compile(dir.path()).unwrap_or_else(|d| panic!("{}", render_human(&d)));
}

#[test]
fn stars_in_quoted_and_plain_scalars_are_values() {
    let policy = "\
apiVersion: gatehouse.dev/v1alpha1
kind: Binding
metadata:
  name: everywhere
  annotations:
    note: a*b &c *d
spec:
  role: read_only
  subjects: [{kind: Group, name: analysts}]
  namespaces: [\"*\"]
---
apiVersion: gatehouse.dev/v1alpha1
kind: Binding
metadata:
  name: everywhere-too
spec:
  role: developer
  subjects:
    - kind: User
      name: ann@example.com
  namespaces:
    - '*'
---
apiVersion: gatehouse.dev/v1alpha1
kind: RouteMap
metadata:
  name: extra
spec:
  routes:
    - path: /extra/*/{namespace}/**
      access: authenticated
";
    let dir = policy_dir(&[("p.yaml", policy)]);
    let compiled = compile(dir.path()).unwrap_or_else(|d| panic!("{}", render_human(&d)));
    let everywhere = &compiled.table.grants[&Scope::Every];
    assert!(
        everywhere.contains_key(&Subject::Group("analysts".into())),
        "{everywhere:?}"
    );
    assert!(
        everywhere.contains_key(&Subject::User("ann@example.com".into())),
        "{everywhere:?}"
    );
}

#[test]
fn a_diagnostic_on_a_200_kb_line_shows_a_window_of_it() {
    let note = "é".repeat(100_000);
    let policy = format!(
        "apiVersion: gatehouse.dev/v1alpha1\nkind: Binding\nmetadata: {{name: wide, annotations: {{note: \"{note}\"}}, lables: {{}}}}\nspec:\n  role: read_only\n  subjects: [{{kind: Group, name: analysts}}]\n  namespaces: [\"*\"]\n"
    );
    assert!(policy.len() > 200_000);
    let dir = policy_dir(&[("wide.yaml", &policy)]);
    let diags = compile(dir.path()).err().unwrap();
    let d = only_error(&diags);
    let column = "metadata: {name: wide, annotations: {note: \"".len() + 100_000 + 5;
    assert_eq!((d.code, d.line, d.column), ("unknown-field", 3, column));
    let human = render_human(&diags);
    assert!(human.lines().all(|l| l.chars().count() <= 130), "{human}");
    let lines: Vec<&str> = human.lines().collect();
    let (src, caret) = (lines[3], lines[4]);
    assert!(
        src.starts_with("3 | …é") && src.ends_with("lables: {}}"),
        "{src}"
    );
    let at = caret.chars().position(|c| c == '^').unwrap();
    let under: String = src.chars().skip(at).take(6).collect();
    assert_eq!(under, "lables");
    assert_eq!(caret.trim_end().chars().count() - at, "lables".len());
    // JSON carries the position, never the line.
    let json = render_json(&diags);
    assert!(json.len() < 1000, "{json}");
    assert!(json.contains(&format!("\"column\": {column}")));
}

/// A "wide" bomb: one anchored sequence of 20,000 items aliased 20,000 times, ~100 KB that
/// expands to 400 million strings. Its first alias is at line 8, column 12.
fn wide_bomb() -> String {
    let n = 20_000;
    let items = vec!["x"; n].join(",");
    let copies = vec!["*w"; n].join(",");
    format!(
        "apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata:\n  name: wide\n  namespace: kubeflow\nspec:\n  wide: &w [{items}]\n  copies: [{copies}]\n"
    )
}

/// Standard error of `o`, after checking it exits 1 (invalid input) with nothing on stdout.
fn refused(o: &std::process::Output) -> String {
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(
        o.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    stderr
}

#[test]
fn import_refuses_alias_bombs_with_a_report_per_file() {
    let o = gatehouse(&["import", "testdata/hostile/yaml/alias-bomb.yaml"]);
    let stderr = refused(&o);
    assert_eq!(
        stderr,
        "error: `testdata/hostile/yaml/alias-bomb.yaml:10:14`: yaml alias `*l0` is not accepted; \
         Gatehouse reads no yaml aliases (`kubectl` never writes them): write out in full the \
         value anchored as `&l0` at line 9\n"
    );
    // A directory, as Helm or kustomize output is imported: each bomb is reported, at its
    // first alias.
    let wide = wide_bomb();
    assert!(
        (90_000..110_000).contains(&wide.len()),
        "{} bytes",
        wide.len()
    );
    let bomb =
        std::fs::read_to_string(root().join("testdata/hostile/yaml/alias-bomb.yaml")).unwrap();
    let dir = policy_dir(&[("wide.yaml", &wide), ("laughs.yaml", &bomb)]);
    let path = dir.path().to_str().unwrap();
    let stderr = refused(&gatehouse(&["import", path]));
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(
        lines[0].starts_with(&format!(
            "error: `{path}/laughs.yaml:10:14`: yaml alias `*l0` is not accepted; "
        )),
        "{stderr}"
    );
    assert!(
        lines[1].starts_with(&format!(
            "error: `{path}/wide.yaml:8:12`: yaml alias `*w` is not accepted; "
        )),
        "{stderr}"
    );
    assert!(lines[1].ends_with("`&w` at line 7"), "{stderr}");
}

#[test]
fn validate_manifest_refuses_alias_bombs_in_manifests_and_crds() {
    let crd = "testdata/emit/no-authn-wasmplugin-crd.yaml";
    let o = gatehouse(&[
        "validate-manifest",
        "--crd",
        crd,
        "testdata/hostile/yaml/alias-bomb.yaml",
    ]);
    let stderr = refused(&o);
    assert!(
        stderr.starts_with(
            "error: `testdata/hostile/yaml/alias-bomb.yaml:10:14`: yaml alias `*l0` is not accepted; "
        ),
        "{stderr}"
    );
    assert!(
        stderr.ends_with("0 resources checked, 1 refused\n"),
        "{stderr}"
    );
    let dir = policy_dir(&[("wide.yaml", &wide_bomb())]);
    let wide = dir.path().join("wide.yaml");
    let wide = wide.to_str().unwrap();
    let stderr = refused(&gatehouse(&["validate-manifest", "--crd", crd, wide]));
    assert!(
        stderr.starts_with(&format!(
            "error: `{wide}:8:12`: yaml alias `*w` is not accepted; "
        )),
        "{stderr}"
    );
    // The CRD is read the same way.
    let stderr = refused(&gatehouse(&["validate-manifest", "--crd", wide, wide]));
    assert!(
        stderr.starts_with(&format!(
            "error: --crd `{wide}:8:12`: yaml alias `*w` is not accepted; "
        )),
        "{stderr}"
    );
}

#[test]
fn emit_refuses_an_alias_bomb_as_its_crd() {
    let dir = policy_dir(&[("wide.yaml", &wide_bomb())]);
    let table = compiled_policies(dir.path());
    let table = table.as_str();
    let wide = dir.path().join("wide.yaml");
    let wide = wide.to_str().unwrap();
    let o = gatehouse(&[
        "emit",
        "wasmplugin",
        "--table",
        table,
        "--url",
        "oci://r/x:1",
        "--crd",
        wide,
    ]);
    let stderr = refused(&o);
    assert!(
        stderr.contains(&format!(
            "--crd `{wide}:8:12`: yaml alias `*w` is not accepted; "
        )),
        "{stderr}"
    );
}

#[test]
fn the_manifest_reader_refuses_aliases_and_limits_before_serde_yaml() {
    use gatehouse::crd::{parse_documents, Crd, YamlError};
    let e = parse_documents(&wide_bomb()).unwrap_err();
    let YamlError::Refused(e) = &e else {
        panic!("{e}")
    };
    assert_eq!((e.code, e.span.line, e.span.column), ("yaml-alias", 8, 12));
    let deep = "a: ".to_string() + &"[".repeat(gatehouse::yaml::MAX_DEPTH + 1);
    let e = parse_documents(&deep).unwrap_err();
    assert!(
        e.to_string().starts_with(&format!(
            "line 1, column {}: yaml nested deeper than {} levels",
            3 + gatehouse::yaml::MAX_DEPTH,
            gatehouse::yaml::MAX_DEPTH
        )),
        "{e}"
    );
    let e = Crd::from_yaml(&wide_bomb()).unwrap_err();
    assert!(e.starts_with("line 8, column 12: yaml alias `*w`"), "{e}");
    // Anchors without aliases are plain values, as before.
    let docs = parse_documents("a: &x 1\nb: [\"*\", '*']\n").unwrap();
    assert_eq!(docs[0], serde_json::json!({"a": 1, "b": ["*", "*"]}));
}
