//! `gatehouse keys refresh`: the seed key files follow what a local HTTPS key server (the
//! harness's, with a self-signed CA) publishes: kids added and removed are told, the file is
//! replaced only when its keys change, `--dry-run` writes nothing, and bad answers, an
//! untrusted certificate or a certificate for another name leave the seed as it was.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod harness;

use std::path::Path;

use common::root;
use gatehouse::{compile_dir, CompileOptions};
use harness::keys::{KeyServer, TestCa};
use serde_json::{json, Value};

const KEY_HOST: &str = "keys.gatehouse.test";

/// The public JWK of a test key file under `testdata/keys`, as `kid`.
fn jwk(file: &str, kid: &str) -> Value {
    let doc: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("testdata/keys").join(file)).unwrap(),
    )
    .unwrap();
    let mut key = doc["keys"][0].clone();
    key["kid"] = json!(kid);
    key
}

/// A policy directory with a Dex issuer whose `jwksUri` is on the key host, an issuer whose
/// `jwksUri` names another host, an ALB issuer and a JWT issuer without `jwksUri`.
fn policy(dir: &Path, extra_uri: &str) {
    std::fs::create_dir_all(dir.join("keys")).unwrap();
    std::fs::write(
        dir.join("keys/dex.jwks.json"),
        json!({"keys": [jwk("dex.jwks.json", "dex-1")]}).to_string(),
    )
    .unwrap();
    std::fs::copy(
        root().join("testdata/keys/alb-1.pem"),
        dir.join("keys/alb-1.pem"),
    )
    .unwrap();
    std::fs::copy(
        root().join("testdata/keys/extra.jwks.json"),
        dir.join("keys/extra.jwks.json"),
    )
    .unwrap();
    let issuers = format!(
        "apiVersion: gatehouse.dev/v1alpha1
kind: Issuer
metadata: {{name: dex}}
spec:
  jwt:
    issuer: https://dex.example.com
    jwksFile: keys/dex.jwks.json
    jwksUri: https://{KEY_HOST}/keys
    algorithms: [RS256]
---
apiVersion: gatehouse.dev/v1alpha1
kind: Issuer
metadata: {{name: alb}}
spec:
  alb:
    region: eu-west-1
    signers: [arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/kf/50dc6c495c0c9188]
    keys: [{{kid: alb-1, pem: keys/alb-1.pem}}]
---
apiVersion: gatehouse.dev/v1alpha1
kind: Issuer
metadata: {{name: static}}
spec:
  jwt:
    issuer: https://idp.example.com
    jwksFile: keys/extra.jwks.json
    algorithms: [EdDSA, ES384, ES256]
{extra_uri}"
    );
    std::fs::write(dir.join("issuers.yaml"), issuers).unwrap();
    std::fs::write(
        dir.join("gatehouse.yaml"),
        "apiVersion: gatehouse.dev/v1alpha1\nkind: Gateway\nmetadata: {name: gateway}\n",
    )
    .unwrap();
}

struct Run {
    code: i32,
    out: String,
    err: String,
}

fn refresh(dir: &Path, args: &[&str]) -> Run {
    let mut all = vec!["keys", "refresh", dir.to_str().unwrap()];
    all.extend_from_slice(args);
    let o = common::gatehouse(&all);
    Run {
        code: o.status.code().unwrap(),
        out: String::from_utf8_lossy(&o.stdout).into_owned(),
        err: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn kids(path: &Path) -> Vec<String> {
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    doc["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_seed_follows_the_published_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = TestCa::new(tmp.path(), KEY_HOST);
    let server = KeyServer::start(tmp.path(), &ca);
    let dir = tmp.path().join("policy");
    policy(&dir, "");
    let seed = dir.join("keys/dex.jwks.json");
    let resolve = format!("{KEY_HOST}:443=127.0.0.1:{}", server.port);
    let ca_file = ca.ca.to_str().unwrap().to_string();
    let args = ["--ca-file", ca_file.as_str(), "--resolve", resolve.as_str()];
    let with = |extra: &[&str]| {
        let mut a = args.to_vec();
        a.extend_from_slice(extra);
        refresh(&dir, &a)
    };

    // Dex rotated: a new key signs, the old one is still published.
    server.publish(
        &json!({"keys": [jwk("dex.jwks.json", "dex-1"), jwk("cognito.jwks.json", "dex-2")]}),
    );
    let before = std::fs::read(&seed).unwrap();
    let r = with(&["--dry-run"]);
    assert_eq!(r.code, 0, "{}", r.err);
    assert!(
        r.out
            .contains("issuer `dex`: added `dex-2`; would write `keys/dex.jwks.json`"),
        "{}",
        r.out
    );
    assert!(r.out.contains("issuer `alb`: ALB keys are fetched by kid at run time (`https://public-keys.auth.elb.eu-west-1.amazonaws.com/<kid>`)"), "{}", r.out);
    assert!(r.out.contains("issuer `static`: no `jwksUri`"), "{}", r.out);
    assert_eq!(
        std::fs::read(&seed).unwrap(),
        before,
        "--dry-run writes nothing"
    );

    let r = with(&[]);
    assert_eq!(r.code, 0, "{}", r.err);
    assert!(
        r.out
            .contains("issuer `dex`: added `dex-2`; wrote `keys/dex.jwks.json`"),
        "{}",
        r.out
    );
    assert_eq!(kids(&seed), ["dex-1", "dex-2"]);
    assert!(std::fs::read_to_string(&seed).unwrap().ends_with("}\n"));
    let names: Vec<_> = std::fs::read_dir(dir.join("keys"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(names.is_empty(), "no temporary file left: {names:?}");
    // The new seed compiles, and the table carries both keys.
    let compiled = compile_dir(&dir, &CompileOptions::default()).unwrap();
    let table = serde_json::to_value(&compiled.table).unwrap();
    let dex = table["issuers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "dex")
        .unwrap();
    assert_eq!(dex["keys"].as_array().unwrap().len(), 2);

    // The old key is withdrawn.
    server.publish(&json!({"keys": [jwk("cognito.jwks.json", "dex-2")]}));
    let r = with(&[]);
    assert!(
        r.out.contains("issuer `dex`: removed `dex-1`; wrote"),
        "{}",
        r.out
    );
    assert_eq!(kids(&seed), ["dex-2"]);

    // Nothing changed: the file is not touched.
    let written = std::fs::metadata(&seed).unwrap().modified().unwrap();
    let r = with(&[]);
    assert_eq!(r.code, 0, "{}", r.err);
    assert!(
        r.out.contains("issuer `dex`: unchanged (`dex-2`)"),
        "{}",
        r.out
    );
    assert_eq!(
        std::fs::metadata(&seed).unwrap().modified().unwrap(),
        written
    );

    // Bad answers leave the seed as it is, and say why (exit 2: the fetch failed).
    let kept = std::fs::read(&seed).unwrap();
    for (mode, why) in [
        ("down", "answered HTTP 503"),
        ("malformed", "refused: invalid jwks json"),
    ] {
        server.set_mode(mode);
        let r = with(&[]);
        assert_eq!(r.code, 2, "{mode}: {}", r.err);
        assert!(r.err.contains(why), "{mode}: {}", r.err);
        assert!(r.err.contains("its seed is left as it is"), "{}", r.err);
        assert_eq!(std::fs::read(&seed).unwrap(), kept);
    }
    server.set_mode("ok");
    // Without the test CA the certificate is not trusted.
    let r = refresh(&dir, &["--resolve", &resolve]);
    assert_eq!(r.code, 2, "{}", r.err);
    assert!(
        r.err.contains("invalid peer certificate: UnknownIssuer"),
        "{}",
        r.err
    );
    assert_eq!(std::fs::read(&seed).unwrap(), kept);
}

#[test]
fn the_certificate_must_name_the_host_and_overrides_must_name_a_key_host() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = TestCa::new(tmp.path(), KEY_HOST);
    let server = KeyServer::start(tmp.path(), &ca);
    server.publish(&json!({"keys": [jwk("dex.jwks.json", "dex-1")]}));
    let dir = tmp.path().join("policy");
    // `static` now fetches from another host name, served by the same server and certificate.
    policy(&dir, "    jwksUri: https://other.gatehouse.test/keys\n");
    let ca_file = ca.ca.to_str().unwrap();
    let port = server.port;
    let r = refresh(
        &dir,
        &[
            "--ca-file",
            ca_file,
            "--resolve",
            &format!("{KEY_HOST}:443=127.0.0.1:{port}"),
            "--resolve",
            &format!("other.gatehouse.test:443=127.0.0.1:{port}"),
        ],
    );
    assert_eq!(r.code, 2, "{}", r.err);
    assert!(
        r.out.contains("issuer `dex`: unchanged (`dex-1`)"),
        "{}",
        r.out
    );
    assert!(
        r.err
            .contains("issuer `static`: `https://other.gatehouse.test/keys`"),
        "{}",
        r.err
    );
    assert!(!r.err.contains("issuer `dex`"), "{}", r.err);
    assert!(
        r.err
            .contains("not valid for name \"other.gatehouse.test\""),
        "{}",
        r.err
    );

    let r = refresh(
        &dir,
        &[
            "--ca-file",
            ca_file,
            "--resolve",
            &format!("keys.gatehouse.tset:443=127.0.0.1:{port}"),
        ],
    );
    assert_eq!(r.code, 1, "{}", r.err);
    assert!(
        r.err
            .contains("--resolve `keys.gatehouse.tset:443` names no key URL's host and port"),
        "{}",
        r.err
    );
    assert_eq!(
        server.fetches("/keys"),
        1,
        "a bad command line fetches nothing"
    );
}
