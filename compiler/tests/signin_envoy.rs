//! Browser sign-in through a real Envoy: a real OpenID Connect provider (`oidc-provider`, run
//! by testdata/signin/provider.mjs as Kubeflow's Dex, behind the gateway at `/dex/`) and a real
//! browser (Debian's headless Chromium, driven by testdata/signin/browser.mjs) sign in through
//! Envoy + Gatehouse with `policies/` as it is. The upstream sees the signed-in user; the next
//! request rides the session cookie with no call to the provider; sign-out ends the session,
//! and the cookie replayed afterwards is refused. Hostile callbacks and cookies are refused
//! through Envoy with their reasons.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use gatehouse::{compile_dir, table_json, CompileOptions};
use harness::{free_port, prerequisites, root, send, tempdir, Gateway, More, Upstream};
use serde_json::{json, Value};

/// Kubeflow's Dex (its dex ConfigMap), which the test's copy of policies/ signs in with.
const ISSUER: &str = "http://dex.auth.svc.cluster.local:5556/dex";
const CLUSTER: &str = "outbound|5556||dex.auth.svc.cluster.local";
const CLIENT: &str = "kubeflow-oidc-authservice";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// policies/, copied into `dir` with its Dex issuer as Kubeflow installs it (in the cluster,
/// `http://dex.auth.svc.cluster.local:5556/dex`); its sign-in is policies/' own, the token
/// endpoint discovered from the provider's discovery document.
fn kubeflow_policies(dir: &Path) -> PathBuf {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                copy(&p, &to.join(e.file_name()));
            } else {
                std::fs::copy(&p, to.join(e.file_name())).unwrap();
            }
        }
    }
    let pol = dir.join("policies");
    copy(&root().join("policies"), &pol);
    std::os::unix::fs::symlink(root().join("testdata"), dir.join("testdata")).unwrap();
    let issuers = pol.join("issuers.yaml");
    let text = std::fs::read_to_string(&issuers).unwrap();
    let kubeflow = text
        .replace(
            "issuer: https://dex.example.com\n",
            &format!("issuer: {ISSUER}\n"),
        )
        .replace("https://dex.example.com/keys", &format!("{ISSUER}/keys"));
    assert_eq!(
        kubeflow.matches(ISSUER).count(),
        text.matches(ISSUER).count() + 2,
        "policies/issuers.yaml changed shape"
    );
    std::fs::write(&issuers, kubeflow).unwrap();
    pol
}

/// Node, the sign-in tools' packages and Chromium, or `None` (with a printed reason).
fn browser_tools() -> Option<()> {
    let tools = root().join("testdata/signin");
    let missing: Vec<&str> = [
        (
            tools.join("node_modules").exists(),
            "testdata/signin/node_modules (scripts/setup.sh)",
        ),
        (
            std::path::Path::new("/usr/bin/chromium").exists(),
            "/usr/bin/chromium (scripts/setup.sh)",
        ),
        (
            Command::new("node").arg("--version").output().is_ok(),
            "node",
        ),
    ]
    .iter()
    .filter(|(ok, _)| !ok)
    .map(|(_, what)| *what)
    .collect();
    if missing.is_empty() {
        return Some(());
    }
    let msg = format!("the sign-in test needs {}", missing.join(", "));
    if std::env::var_os("CI").is_some() {
        panic!("{msg}");
    }
    eprintln!("SKIPPED: {msg}");
    None
}

/// The provider, stopped when dropped.
struct Provider {
    child: Child,
    port: u16,
}

impl Provider {
    fn start(port: u16, gateway: u16) -> Provider {
        let origin = format!("http://127.0.0.1:{gateway}");
        let mut child = Command::new("node")
            .arg(root().join("testdata/signin/provider.mjs"))
            .args(["--port", &port.to_string(), "--issuer", ISSUER])
            .args([
                "--client-id",
                CLIENT,
                "--client-secret",
                "test-client-secret",
            ])
            .args(["--redirect-uri", &format!("{origin}/oauth2/callback")])
            .args(["--post-logout-redirect-uri", &format!("{origin}/")])
            .args(["--user", "alice@example.com", "--groups", "ml-team"])
            .arg("--key-file")
            .arg(root().join("testdata/keys/dex-rsa.key.pem"))
            .args(["--kid", "dex-1", "--max-seconds", "300"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node for the provider");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let ready: Value =
            serde_json::from_str(&line).unwrap_or_else(|_| panic!("provider: {line}"));
        assert_eq!(ready["ready"], true, "{line}");
        Provider { child, port }
    }

    /// How many requests of a kind the provider served (`token`, `authorization`, `total`).
    fn count(&self, kind: &str) -> u64 {
        // The answer may come chunked: its JSON is the text between the outer braces.
        let r = send(self.port, "GET", "/__counts", &[]);
        let (from, to) = (r.body.find('{').unwrap(), r.body.rfind('}').unwrap());
        let v: Value = serde_json::from_str(&r.body[from..=to]).unwrap();
        v[kind].as_u64().unwrap_or(0)
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `name=value; …` of cookies as the browser script lists them.
fn cookie_header(cookies: &[&Value]) -> String {
    cookies
        .iter()
        .map(|c| {
            format!(
                "{}={}",
                c["name"].as_str().unwrap(),
                c["value"].as_str().unwrap()
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The browser's scenario: sign in at `start`, a second visit, sign-out, a last visit.
fn browse(gateway: u16, provider: u16) -> Value {
    let origin = format!("http://127.0.0.1:{gateway}");
    let out = Command::new("node")
        .arg(root().join("testdata/signin/browser.mjs"))
        .args(["--start", &format!("{origin}/notebook/alice/nb/tree")])
        .args(["--login", "alice@example.com", "--password", "any"])
        .args(["--sign-out", &format!("{origin}/oauth2/sign_out")])
        .args(["--counts", &format!("http://127.0.0.1:{provider}/__counts")])
        .args(["--timeout-ms", "40000"])
        .output()
        .expect("node for the browser");
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("browser: {text}\n{}", String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn a_browser_signs_in_through_envoy_rides_its_cookie_and_signs_out() {
    let Some((envoy, wasm)) = prerequisites() else {
        return;
    };
    if browser_tools().is_none() {
        return;
    }
    let dir = tempdir::Dir::new("signin");
    let policies = kubeflow_policies(&dir.0);
    let compiled = compile_dir(&policies, &CompileOptions { now: now() })
        .unwrap_or_else(|d| panic!("policies/ with Kubeflow's Dex must compile: {d:?}"));
    let table = table_json(&compiled.table).unwrap();
    let provider_port = free_port();
    let dex = gatehouse::emit::envoy::cluster(
        CLUSTER,
        std::net::SocketAddr::from(([127, 0, 0, 1], provider_port)),
    );
    let more = More {
        clusters: vec![dex],
        // Kubeflow's Dex VirtualService: the browser reaches Dex through the gateway.
        routes: vec![json!({"match": {"prefix": "/dex/"}, "route": {"cluster": CLUSTER}})],
        env: Vec::new(),
        concurrency: None,
    };
    let gw = Gateway::launch_more(&envoy, &wasm, &table, Upstream::Echo, more);
    assert_eq!(gw.ecds_stat("update_success"), 1, "{}", gw.log());
    let provider = Provider::start(provider_port, gw.port);

    let run = browse(gw.port, provider_port);
    let steps = &run["steps"];
    // Signed in: the upstream saw alice and her group, and none of the gateway's cookies.
    let first = &run["first"];
    assert_eq!(first["status"], 200, "{run:#}");
    assert_eq!(first["at_start"], true, "{steps}");
    let seen = &first["json"]["headers"];
    assert_eq!(
        seen["kubeflow-userid"],
        json!(["alice@example.com"]),
        "{seen}"
    );
    assert_eq!(seen["kubeflow-groups"], json!(["ml-team"]), "{seen}");
    let upstream_cookies = seen["cookie"].to_string();
    assert!(
        !upstream_cookies.contains("__Host-gatehouse"),
        "{upstream_cookies}"
    );
    // Two sign-ins: the first, and the one after sign-out (the provider's own session lives
    // on, as Dex's does: Dex has no end-session endpoint, so policies/ names none).
    assert_eq!(
        gw.stat("wasmcustom.gatehouse.signin.completed"),
        2,
        "{}",
        gw.log()
    );
    assert!(gw.stat("wasmcustom.gatehouse.signin.started") >= 1);
    // The token endpoint came from the provider's discovery document (policies/ names none).
    assert!(
        gw.stat("wasmcustom.gatehouse.signin.discovery.updated") >= 1,
        "{}",
        gw.log()
    );
    // The code was exchanged once, through the cluster: the provider's token endpoint.
    assert_eq!(first["provider_counts"]["token"], 1, "{run:#}");

    // The second visit rode the cookie: no call to the provider at all.
    let second = &run["second"];
    assert_eq!(second["status"], 200, "{run:#}");
    assert_eq!(second["at_start"], true);
    for kind in ["token", "authorization"] {
        assert_eq!(
            second["provider_counts"][kind], first["provider_counts"][kind],
            "{kind}: {run:#}"
        );
    }
    assert_eq!(
        second["json"]["headers"]["kubeflow-userid"],
        json!(["alice@example.com"])
    );

    // The session cookie as the browser held it, and its attributes.
    let session: Vec<&Value> = run["cookies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| {
            c["name"].as_str().unwrap().starts_with("__Host-gatehouse")
                && c["name"] != "__Host-gatehouse-signin"
        })
        .collect();
    assert!(!session.is_empty(), "{run:#}");
    for c in &session {
        assert_eq!(
            (&c["httpOnly"], &c["secure"], &c["sameSite"], &c["path"]),
            (&json!(true), &json!(true), &json!("Lax"), &json!("/")),
            "{c}"
        );
    }
    let cookie = cookie_header(&session);
    let api = |cookie: &str| {
        send(
            gw.port,
            "GET",
            "/notebook/alice/nb/api/kernels",
            &[("cookie", cookie), ("accept", "application/json")],
        )
    };

    // Signed out: the browser's session cookie is not the one it had (cleared, then a new
    // session once the browser came back through the provider's still-open session).
    assert_eq!(
        gw.stat("wasmcustom.gatehouse.signin.signed_out"),
        1,
        "{run:#}"
    );
    let left: Vec<&Value> = run["signed_out"]["cookies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["name"].as_str().unwrap().starts_with("__Host-gatehouse"))
        .collect();
    for c in &left {
        assert!(!cookie.contains(c["value"].as_str().unwrap()), "{c}");
    }
    // The cookie replayed after sign-out is refused.
    let replay = api(&cookie);
    assert_eq!(
        (replay.status, replay.reason()),
        (401, "session_ended".to_string()),
        "{}",
        replay.body
    );

    // The new session works; tampered, it does not open.
    let fresh = cookie_header(&left);
    assert_eq!(api(&fresh).status, 200);
    let mut bytes = fresh.into_bytes();
    let i = bytes.len() - 12;
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    let tampered = api(&String::from_utf8(bytes).unwrap());
    assert_eq!(
        (tampered.status, tampered.reason()),
        (401, "session_invalid".to_string())
    );

    // A callback with another state, and a reused code: a new sign-in started by hand, with
    // the browser's code (already exchanged) and this sign-in's state.
    let start = send(
        gw.port,
        "GET",
        "/notebook/alice/nb/",
        &[("accept", "text/html")],
    );
    assert_eq!(start.status, 302, "{}", start.body);
    let location = start.header("location").unwrap().to_owned();
    let state = form_urlencoded::parse(location.split_once('?').unwrap().1.as_bytes())
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let signin_cookie = start
        .headers
        .iter()
        .find(|(k, v)| k == "set-cookie" && v.starts_with("__Host-gatehouse-signin="))
        .map(|(_, v)| v.split(';').next().unwrap().to_owned())
        .unwrap();
    let wrong = send(
        gw.port,
        "GET",
        "/oauth2/callback?code=x&state=forged",
        &[("cookie", &signin_cookie)],
    );
    assert_eq!(
        (wrong.status, wrong.reason()),
        (400, "signin_state_mismatch".to_string())
    );
    let used_code = first["hops"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["url"].as_str())
        .find(|u| u.contains("/oauth2/callback?"))
        .and_then(|u| {
            form_urlencoded::parse(u.split_once('?').unwrap().1.as_bytes())
                .find(|(k, _)| k == "code")
                .map(|(_, v)| v.into_owned())
        })
        .unwrap_or_else(|| panic!("no callback in {run:#}"));
    let tokens_before = provider.count("token");
    let reused = send(
        gw.port,
        "GET",
        &format!("/oauth2/callback?code={used_code}&state={state}"),
        &[("cookie", &signin_cookie)],
    );
    assert_eq!(
        (reused.status, reused.reason()),
        (401, "signin_failed".to_string()),
        "{}",
        reused.body
    );
    assert_eq!(
        provider.count("token"),
        tokens_before + 1,
        "the provider refused the code itself"
    );
    let log = gw.log_when(std::time::Duration::from_secs(5), |l| {
        l.contains("invalid_grant")
    });
    assert!(log.contains("invalid_grant"), "{log}");
    // No log line holds a token, a code or a cookie.
    assert!(
        !log.contains(&used_code) && !log.contains("eyJ") && !log.contains("v1.test."),
        "{log}"
    );
}
