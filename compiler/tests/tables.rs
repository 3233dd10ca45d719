//! Table forms end to end through the binary: `keygen`, `compile --format binary` and
//! `--sign`, `show`, and the authoring tools reading every form alike.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::gatehouse;

const NOW: &str = "2026-06-01T00:00:00Z";

fn run(args: &[&str]) -> (i32, String, String) {
    let o = gatehouse(args);
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn every_form_reads_back_as_the_same_table_and_decides_alike() {
    let tmp = tempfile::tempdir().unwrap();
    let (json, bin, signed) = (
        tmp.path().join("t.json"),
        tmp.path().join("t.bin"),
        tmp.path().join("t.signed"),
    );
    let signer = tmp.path().join("signer");
    let (c, public, err) = run(&["keygen", "--out", s(&signer)]);
    assert_eq!(c, 0, "{err}");
    let key = tmp.path().join("signer.key");
    let public = public.trim().to_string();
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("signer.pub"))
            .unwrap()
            .trim(),
        public
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o077,
            0,
            "the private key is readable by others: {mode:o}"
        );
    }
    // keygen never overwrites.
    let (c, _, err) = run(&["keygen", "--out", s(&signer)]);
    assert_eq!(c, 1, "{err}");
    assert!(err.contains("never overwrites"), "{err}");

    for (out, extra) in [
        (&json, vec![]),
        (&bin, vec!["--format", "binary"]),
        (&signed, vec!["--sign", s(&key)]),
    ] {
        let mut args = vec!["compile", "policies", "--now", NOW, "-o", s(out)];
        args.extend(extra);
        let (c, _, err) = run(&args);
        assert_eq!(c, 0, "{err}");
    }
    let sizes: Vec<u64> = [&json, &bin, &signed]
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .collect();
    assert!(
        sizes[1] < sizes[0] && sizes[2] == sizes[1] + 101,
        "{sizes:?}"
    );

    // `show` prints every form as the JSON table, less the sources the binary form drops.
    let (_, from_json, _) = run(&["show", s(&json)]);
    let (c, from_bin, err) = run(&["show", s(&bin)]);
    assert_eq!(c, 0, "{err}");
    let (c, from_signed, err) = run(&["show", s(&signed), "--trust", &public]);
    assert_eq!(c, 0, "{err}");
    assert_eq!(from_bin, from_signed);
    let strip = |text: &str| {
        let mut v: serde_json::Value = serde_json::from_str(text).unwrap();
        for subjects in v["grants"].as_object_mut().unwrap().values_mut() {
            for grants in subjects.as_object_mut().unwrap().values_mut() {
                for g in grants.as_array_mut().unwrap() {
                    g.as_object_mut().unwrap().remove("source");
                }
            }
        }
        v
    };
    assert_eq!(strip(&from_json), strip(&from_bin));

    // The authoring tools read all three and decide alike.
    for table in [&json, &bin, &signed] {
        let (c, out, err) = run(&[
            "check",
            "--table",
            s(table),
            "--user",
            "bob@example.com",
            "DELETE",
            "/jupyter/api/namespaces/alice/notebooks/nb-1",
        ]);
        assert_eq!(c, 0, "{}: {out}{err}", table.display());
        let (c, out, _) = run(&[
            "check",
            "--table",
            s(table),
            "--user",
            "carol@example.com",
            "DELETE",
            "/jupyter/api/namespaces/alice/notebooks/nb-1",
        ]);
        assert_eq!(c, 3, "{}: {out}", table.display());
        let (c, out, err) = run(&["who-can", "delete", "alice", "--table", s(table)]);
        assert_eq!(c, 0, "{err}");
        assert!(out.contains("bob@example.com"), "{out}");
    }
    let (c, out, err) = run(&["diff", s(&json), s(&signed)]);
    assert_eq!(c, 0, "{err}");
    assert!(out.contains("no changes"), "{out}");
    // Reading a signed table unchecked says so.
    let (_, _, err) = run(&["who-can", "delete", "alice", "--table", s(&signed)]);
    assert!(err.contains("signature is not checked"), "{err}");
}

#[test]
fn a_signed_table_is_shown_only_with_its_key_and_intact() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    run(&["keygen", "--out", s(&a)]);
    let (_, other, _) = run(&["keygen", "--out", s(&b)]);
    let signed = tmp.path().join("t.signed");
    let key = tmp.path().join("a.key");
    let (c, _, err) = run(&[
        "compile",
        "policies",
        "--now",
        NOW,
        "--sign",
        s(&key),
        "-o",
        s(&signed),
    ]);
    assert_eq!(c, 0, "{err}");
    let (c, _, err) = run(&["show", s(&signed), "--trust", other.trim()]);
    assert_eq!(c, 1);
    assert!(err.contains("not trusted"), "{err}");
    // The public key file works as --trust too.
    let (c, _, err) = run(&["show", s(&signed), "--trust", s(&tmp.path().join("a.pub"))]);
    assert_eq!(c, 0, "{err}");
    let mut bytes = std::fs::read(&signed).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&signed, &bytes).unwrap();
    let (c, _, err) = run(&["show", s(&signed), "--trust", s(&tmp.path().join("a.pub"))]);
    assert_eq!(c, 1);
    assert!(err.contains("signature does not verify"), "{err}");
    // --sign with JSON is refused; a key that is not one is named.
    let (c, _, err) = run(&["compile", "policies", "--sign", s(&key), "--format", "json"]);
    assert_eq!(c, 1);
    assert!(err.contains("binary"), "{err}");
    let (c, _, err) = run(&["compile", "policies", "--sign", "README.md"]);
    assert_eq!(c, 1);
    assert!(
        err.contains("README.md") && err.contains("PRIVATE KEY"),
        "{err}"
    );
    // A file that is no table.
    let (c, _, err) = run(&["show", "README.md"]);
    assert_eq!(c, 1);
    assert!(err.contains("neither JSON nor"), "{err}");
}

#[test]
fn istio_manifests_point_gateways_at_a_table_server() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, public, _) = run(&["keygen", "--out", s(&tmp.path().join("k"))]);
    let public = public.trim().to_string();
    let url = "http://gatehouse-tables.gatehouse.svc.cluster.local:8080/table";
    // Istio's CRDs, when ../shared/anchors holds them: the manifests must pass them.
    let crd = |name: &str| {
        let p = common::root().join("../shared/anchors/istio").join(name);
        if p.is_file() {
            vec!["--crd".to_string(), p.display().to_string()]
        } else {
            eprintln!("SKIPPED: the CRD check, {} is absent", p.display());
            vec![]
        }
    };
    let sha = "a".repeat(64);
    let mut args = vec![
        "emit",
        "wasmplugin",
        "--table-url",
        url,
        "--trust",
        &public,
        "--url",
        "file:///opt/gatehouse.wasm",
        "--sha256",
        &sha,
    ];
    let wasmplugin_crd = crd("wasmplugin-crd.yaml");
    args.extend(wasmplugin_crd.iter().map(String::as_str));
    let (c, yaml, err) = run(&args);
    assert_eq!(c, 0, "{err}");
    let m: serde_json::Value = serde_yaml::from_str(&yaml).unwrap();
    let config = &m["spec"]["pluginConfig"];
    assert_eq!(
        config["table_source"]["cluster"],
        "outbound|8080||gatehouse-tables.gatehouse.svc.cluster.local"
    );
    // The filter takes the configuration as it is emitted.
    let mut f = gatehouse_filter::gate::Filter::default();
    let msg = f.configure(Some(config.to_string().as_bytes())).unwrap();
    assert!(msg.contains(url), "{msg}");
    let mut args = vec![
        "emit",
        "envoyfilter",
        "--table-url",
        url,
        "--trust",
        &public,
        "--wasm-path",
        "/opt/gatehouse.wasm",
    ];
    let envoyfilter_crd = crd("envoyfilter-crd.yaml");
    args.extend(envoyfilter_crd.iter().map(String::as_str));
    let (c, yaml, err) = run(&args);
    assert_eq!(c, 0, "{err}");
    assert!(yaml.contains("table_source"), "{yaml}");
    // A short service name has no Istio cluster; a URL without trusted keys is no source.
    let (c, _, err) = run(&[
        "emit",
        "wasmplugin",
        "--table-url",
        "http://gatehouse-tables.gatehouse.svc:8080/table",
        "--trust",
        &public,
        "--url",
        "file:///opt/gatehouse.wasm",
        "--sha256",
        &"a".repeat(64),
    ]);
    assert_eq!(c, 1);
    assert!(err.contains("svc.cluster.local"), "{err}");
    let (c, _, err) = run(&[
        "emit",
        "wasmplugin",
        "--table-url",
        url,
        "--url",
        "file:///opt/gatehouse.wasm",
        "--sha256",
        &"a".repeat(64),
    ]);
    assert_eq!(c, 1);
    assert!(err.contains("--trust"), "{err}");
    // The server's own objects.
    let mut args = vec![
        "emit",
        "table-server",
        "--image",
        "ghcr.io/example/gatehouse:0.1.0",
        "--git-repo",
        "https://github.com/example/platform-policies",
    ];
    let policy_crd = crd("authorizationpolicy-crd.yaml");
    args.extend(policy_crd.iter().map(String::as_str));
    let (c, yaml, err) = run(&args);
    assert_eq!(c, 0, "{err}");
    assert!(yaml.contains(url), "{yaml}");
    let kinds: Vec<String> = serde_yaml::Deserializer::from_str(&yaml)
        .map(|d| {
            let v = <serde_json::Value as serde::Deserialize>::deserialize(d).unwrap();
            v["kind"].as_str().unwrap_or_default().to_string()
        })
        .collect();
    assert_eq!(kinds, ["Service", "Deployment", "AuthorizationPolicy"]);
    assert!(
        yaml.contains("istio-ingressgateway-service-account"),
        "{yaml}"
    );
}
