//! What the Envoy configuration Gatehouse emits guarantees, through a real Envoy, over
//! HTTP/1.1 and HTTP/2:
//!
//! - a new table reaches connections that were open before it: the key rotation of
//!   `faults_envoy.rs`, seen from a keep-alive HTTP/1.1 connection and an HTTP/2 connection
//!   opened before the reload (the table travels by ECDS; inside the listener, a reload left
//!   such connections on the old table until Envoy drained them);
//! - a header name with `_` (`kubeflow_userid`, which WSGI servers read as `kubeflow-userid`)
//!   never reaches an upstream: the request is refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gatehouse::{compile_dir, table_json, CompileOptions};
use gatehouse_filter::token::mint::{sign_jwt, SigningKey};
use harness::{
    prerequisites, root, send, send_h2, try_send_h2, Gateway, H2Connection, H2Error, KeepAlive,
    Response,
};
use serde_json::json;

const DEX: &str = "https://dex.example.com";
const AUD: &str = "kubeflow-oidc-authservice";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn table(dir: &str) -> String {
    let compiled = compile_dir(&root().join(dir), &CompileOptions { now: now() })
        .unwrap_or_else(|d| panic!("{dir} must compile: {d:?}"));
    table_json(&compiled.table).unwrap()
}

/// `Bearer <token>` for `email`, signed by `key_file` as `kid`, valid for ten minutes.
fn bearer(key_file: &str, kid: &str, email: &str) -> String {
    let key =
        SigningKey::from_pem(&std::fs::read_to_string(root().join(key_file)).unwrap()).unwrap();
    let t = now();
    let claims = json!({"iss": DEX, "aud": AUD, "email": email, "email_verified": true, "iat": t, "exp": t + 600});
    let token = sign_jwt(&key, "RS256", &json!({"kid": kid}), &claims).unwrap();
    format!("Bearer {token}")
}

/// `(status, reason)`: the reason of a denial, or the user the upstream saw.
fn outcome(r: &Response) -> (u16, String) {
    if r.status == 200 {
        (200, r.upstream_header("kubeflow-userid").join(","))
    } else {
        (r.status, r.reason())
    }
}

const PATH: &str = "/notebook/alice/nb/";
const ALICE: &str = "alice@example.com";

#[test]
fn a_removed_key_stops_working_on_open_connections_at_once() {
    let Some((envoy, wasm)) = prerequisites() else {
        return;
    };
    let old = bearer("testdata/keys/dex-rsa.key.pem", "dex-1", ALICE);
    let new = bearer("testdata/hostile/keys/dex-next-rsa.key.pem", "dex-2", ALICE);
    let mut gw = Gateway::start(&envoy, &wasm, &table("testdata/hostile/rotation/overlap"));
    let mut h1 = KeepAlive::open(gw.port);
    let mut h2 = H2Connection::open(gw.port);
    let allowed = (200, ALICE.to_string());
    for token in [&old, &new] {
        let auth = [("authorization", token.as_str())];
        assert_eq!(
            outcome(&h1.send("GET", PATH, &auth)),
            allowed,
            "HTTP/1.1, overlap"
        );
        assert_eq!(
            outcome(&h2.send("GET", PATH, &auth)),
            allowed,
            "HTTP/2, overlap"
        );
    }

    // Drop `dex-1`. Once Envoy has taken the table, the very next request on each open
    // connection must be judged by it: allow a few seconds for the push to reach the worker,
    // no more (with a listener update, these connections kept the old table for minutes).
    assert!(gw.push(&table("testdata/hostile/rotation/after")));
    let pushed = Instant::now();
    let auth = [("authorization", old.as_str())];
    let refused = (401, "unknown_kid".to_string());
    let (mut h1_done, mut h2_done) = (None, None);
    let mut passed = (0, 0);
    while h1_done.is_none() || h2_done.is_none() {
        if h1_done.is_none() {
            match h1.try_send("GET", PATH, &auth).as_ref().map(outcome) {
                Some(o) if o == refused => h1_done = Some(pushed.elapsed()),
                Some(o) => {
                    assert_eq!(o, allowed, "HTTP/1.1 after the push");
                    passed.0 += 1;
                }
                None => panic!(
                    "the keep-alive connection was closed {:?} after the push ({} requests passed on it)",
                    pushed.elapsed(),
                    passed.0
                ),
            }
        }
        if h2_done.is_none() {
            match h2.send_bytes("GET", PATH, &[("authorization", old.as_bytes())]) {
                Ok(r) if outcome(&r) == refused => h2_done = Some(pushed.elapsed()),
                Ok(r) => {
                    assert_eq!(outcome(&r), allowed, "HTTP/2 after the push");
                    passed.1 += 1;
                }
                Err(e) => panic!(
                    "the HTTP/2 connection ended {:?} after the push ({} requests passed on it): {e:?}",
                    pushed.elapsed(),
                    passed.1
                ),
            }
        }
        assert!(
            pushed.elapsed() < Duration::from_secs(3),
            "a removed key still verified on an open connection {:?} after the push \
             (HTTP/1.1: {h1_done:?}, HTTP/2: {h2_done:?}; requests that passed: {passed:?})",
            pushed.elapsed()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!(
        "removed key refused on open connections: HTTP/1.1 after {h1_done:?} ({} passed), \
         HTTP/2 after {h2_done:?} ({} passed)",
        passed.0, passed.1
    );

    // The same connections, still open, still serve the new key.
    let auth = [("authorization", new.as_str())];
    assert_eq!(outcome(&h1.send("GET", PATH, &auth)), allowed);
    assert_eq!(outcome(&h2.send("GET", PATH, &auth)), allowed);
    // A table the filter refuses changes nothing on them: the last good table keeps deciding.
    assert!(
        !gw.push("{not json"),
        "Envoy took a table the filter refuses"
    );
    for (token, want) in [(&new, &allowed), (&old, &refused)] {
        let auth = [("authorization", token.as_str())];
        assert_eq!(&outcome(&h1.send("GET", PATH, &auth)), want, "HTTP/1.1");
        assert_eq!(&outcome(&h2.send("GET", PATH, &auth)), want, "HTTP/2");
    }
    // New connections get the new table too.
    let auth = [("authorization", old.as_str())];
    assert_eq!(outcome(&send(gw.port, "GET", PATH, &auth)), refused);
    assert_eq!(outcome(&send_h2(gw.port, "GET", PATH, &auth)), refused);
}

#[test]
fn underscore_header_names_never_reach_an_upstream() {
    let Some((envoy, wasm)) = prerequisites() else {
        return;
    };
    let gw = Gateway::start(&envoy, &wasm, &table("policies"));
    let bob = bearer("testdata/keys/dex-rsa.key.pem", "dex-1", "bob@example.com");
    let spoofs = [
        ("kubeflow_userid", "alice@example.com"),
        ("kubeflow_groups", "kubeflow-admins"),
        ("x_amzn_oidc_data", "x"),
    ];
    let auth = ("authorization", bob.as_str());
    for spoof in spoofs {
        // HTTP/1.1: 400 from Envoy, before the filter or the upstream sees it.
        let r = send(gw.port, "GET", "/notebook/bob/nb/", &[auth, spoof]);
        assert_eq!(r.status, 400, "{spoof:?}: {}", r.body);
        assert!(
            serde_json::from_str::<serde_json::Value>(&r.body).is_err(),
            "{spoof:?} reached the filter or the upstream: {}",
            r.body
        );
        // HTTP/2: the stream is reset; the connection stays usable.
        let mut h2 = H2Connection::open(gw.port);
        let sent = h2.send_bytes(
            "GET",
            "/notebook/bob/nb/",
            &[(auth.0, auth.1.as_bytes()), (spoof.0, spoof.1.as_bytes())],
        );
        assert!(
            matches!(sent, Err(H2Error::Reset(_))),
            "{spoof:?}: {sent:?}"
        );
        let r = h2.send("GET", "/notebook/bob/nb/", &[auth]);
        assert_eq!(outcome(&r), (200, "bob@example.com".to_string()));
    }
    // The same request without the spoof passes, over both protocols; `try_send_h2` reports a
    // reset as an error.
    assert_eq!(
        outcome(&send(gw.port, "GET", "/notebook/bob/nb/", &[auth])),
        (200, "bob@example.com".to_string())
    );
    assert!(matches!(
        try_send_h2(gw.port, "GET", "/dex/auth", &[("a_b", b"1")]),
        Err(H2Error::Reset(_))
    ));
    let n = spoofs.len() as u64;
    assert_eq!(
        gw.stat("http1.requests_rejected_with_underscores_in_headers"),
        n
    );
    assert_eq!(
        gw.stat("http2.requests_rejected_with_underscores_in_headers"),
        n + 1
    );
}

/// The `EnvoyFilter`'s patches are valid Envoy configuration: a bootstrap assembled from them
/// the way istiod would (the discovered filter before the router over ADS, the connection
/// manager merge, and the extension configuration's filter as a filter of its own) passes
/// `envoy --mode validate`.
#[test]
fn the_envoyfilter_patches_are_envoy_configuration() {
    use gatehouse::emit::envoy::{cluster, connection_manager, router_filter, socket};
    use gatehouse::emit::envoyfilter::{manifest, EnvoyFilterOptions};
    let Some((envoy, wasm)) = prerequisites() else {
        return;
    };
    let m = manifest(&EnvoyFilterOptions {
        name: "gatehouse".into(),
        namespace: "istio-system".into(),
        selector: Default::default(),
        wasm_path: wasm.display().to_string(),
        table_json: table("policies"),
        port: None,
        table_sha256: String::new(),
    });
    let patches = &m["spec"]["configPatches"];
    let value = |applied: &str| {
        patches
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["applyTo"] == applied)
            .unwrap()["patch"]["value"]
            .clone()
    };
    let extension = value("EXTENSION_CONFIG");
    let mut discovered =
        connection_manager("discovered", vec![value("HTTP_FILTER"), router_filter()]);
    let merge = value("NETWORK_FILTER");
    discovered["typed_config"]["common_http_protocol_options"] =
        merge["typed_config"]["common_http_protocol_options"].clone();
    assert_eq!(
        discovered["typed_config"]["@type"],
        merge["typed_config"]["@type"]
    );
    let inline = connection_manager("inline", vec![extension, router_filter()]);
    let addr = |port: u16| std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let listener = |name: &str, port: u16, hcm: serde_json::Value| json!({"name": name, "address": socket(addr(port)), "filter_chains": [{"filters": [hcm]}]});
    let mut xds = cluster("xds", addr(1));
    xds["typed_extension_protocol_options"] = json!({
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            "explicit_http_config": {"http2_protocol_options": {}},
        },
    });
    let boot = json!({
        "node": {"id": "gatehouse-test", "cluster": "gatehouse"},
        "dynamic_resources": {"ads_config": {
            "api_type": "GRPC",
            "transport_api_version": "V3",
            "grpc_services": [{"envoy_grpc": {"cluster_name": "xds"}}],
        }},
        "static_resources": {
            "listeners": [listener("discovered", 1, discovered), listener("inline", 2, inline)],
            "clusters": [xds, cluster("upstream", addr(3))],
        },
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("envoyfilter-as-envoy.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&boot).unwrap()).unwrap();
    let out = std::process::Command::new(&envoy)
        .args([
            "--mode",
            "validate",
            "--use-dynamic-base-id",
            "-l",
            "error",
            "-c",
        ])
        .arg(&path)
        // The table's sign-in reads its secrets from Envoy's environment; without them the
        // filter refuses the table, and Envoy the configuration.
        .envs(harness::TEST_SIGN_IN_ENV)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "envoy --mode validate:\n{text}");
}
