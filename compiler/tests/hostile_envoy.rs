//! Hostile tokens and paths end-to-end through a real Envoy running the release filter:
//! every case of `testdata/hostile/cases.json` (against the table of `testdata/hostile/policies`,
//! and those that need no `extra` issuer also against `policies/`), twice (the second pass
//! through the verified-token cache), and every row of `testdata/hostile/paths.json` against
//! `policies/`. No request may reach the upstream with an identity it should not have, no
//! request may be served in a namespace other than the one judged, and no token may appear in
//! Envoy's log. `filter/tests/hostile.rs` runs the same files natively.
//!
//! `GATEHOUSE_WRITE_HOSTILE=1 cargo test -p gatehouse --test hostile_envoy -- --ignored`
//! rewrites `cases.json` and `table.json`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

#[path = "hostile_envoy/generate.rs"]
mod generate;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gatehouse::{compile_dir, table_json, CompileOptions};
use gatehouse_filter::gate::header_is;
use gatehouse_filter::token::mint::sign_jwt;
use harness::{prerequisites, root, try_send_bytes, Gateway, H2Connection, H2Error, Response};
use serde_json::{json, Value};

fn hostile_dir() -> std::path::PathBuf {
    root().join("testdata/hostile")
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn compile(dir: &str) -> String {
    let compiled = compile_dir(&root().join(dir), &CompileOptions { now: now() })
        .unwrap_or_else(|d| panic!("{dir} must compile: {d:?}"));
    table_json(&compiled.table).unwrap()
}

fn read_json(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(hostile_dir().join(name)).unwrap()).unwrap()
}

#[test]
#[ignore = "writes testdata/hostile; run with GATEHOUSE_WRITE_HOSTILE=1"]
fn write_hostile_cases() {
    if std::env::var_os("GATEHOUSE_WRITE_HOSTILE").is_none() {
        return;
    }
    let text = serde_json::to_string_pretty(&generate::manifest()).unwrap();
    std::fs::write(hostile_dir().join("cases.json"), format!("{text}\n")).unwrap();
    std::fs::write(
        hostile_dir().join("table.json"),
        compile("testdata/hostile/policies"),
    )
    .unwrap();
}

#[test]
fn hostile_table_is_the_compiled_hostile_policies() {
    let committed = std::fs::read_to_string(hostile_dir().join("table.json")).unwrap();
    assert!(
        committed == compile("testdata/hostile/policies"),
        "testdata/hostile/table.json is stale: rewrite it (see the module docs)"
    );
}

/// A case's request headers, as raw bytes.
fn case_headers(case: &Value) -> Vec<(String, Vec<u8>)> {
    case["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            let name = h["name"].as_str().unwrap().to_string();
            let value = match (h["value"].as_str(), h["value_hex"].as_str()) {
                (Some(v), _) => v.as_bytes().to_vec(),
                (None, Some(hex)) => (0..hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                    .collect(),
                _ => panic!("header without value: {h}"),
            };
            (name, value)
        })
        .collect()
}

/// Long pieces of every token sent (whole header values, and each token segment over 20
/// characters), to look for in the log.
fn secrets(case: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for (_, v) in case_headers(case) {
        let text = String::from_utf8_lossy(&v).into_owned();
        for part in text.split(['.', ' ', ',']) {
            if part.len() > 20 {
                out.push(part.to_string());
            }
        }
        if text.len() > 20 {
            out.push(text);
        }
    }
    out
}

/// Checks one response against an expectation (`allow:<user>`, a reason, or `http:<status>`).
fn judge(name: &str, expect: &str, r: &Response) -> Option<String> {
    let ok = if let Some(user) = expect.strip_prefix("allow:") {
        r.status == 200 && r.upstream_header("kubeflow-userid") == vec![user.to_string()]
    } else if let Some(status) = expect.strip_prefix("http:") {
        r.status.to_string() == status
    } else {
        r.status != 200
            && serde_json::from_str::<Value>(&r.body).is_ok_and(|b| b["reason"] == expect)
    };
    // INVARIANT under test: nothing reaches the upstream as someone else.
    let wrong_user = r.status == 200
        && r.upstream_header("kubeflow-userid")
            .iter()
            .any(|u| Some(u.as_str()) != expect.strip_prefix("allow:"));
    (!ok || wrong_user).then(|| format!("{name}: expected {expect}, got {} {}", r.status, r.body))
}

fn run_cases(gw: &Gateway, cases: &[Value], failures: &mut Vec<String>) {
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let expect = case["envoy"].as_str().or(case["expect"].as_str()).unwrap();
        let headers = case_headers(case);
        let h: Vec<(&str, &[u8])> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_slice()))
            .collect();
        let Some(r) = try_send_bytes(gw.port, "GET", "/", &h) else {
            // Envoy may reset the connection right after answering an oversized request;
            // that is only acceptable where Envoy, not the filter, was to answer.
            if !expect.starts_with("http:") {
                failures.push(format!("{name}: no response"));
            }
            continue;
        };
        failures.extend(judge(name, expect, &r));
        // Headers that must not reach the upstream: no spelling of the name may carry a value
        // the request sent (the filter's own identity headers may stay).
        if r.status == 200 {
            let seen = &r.json()["headers"];
            for absent in case["absent"].as_array().into_iter().flatten() {
                let absent = absent.as_str().unwrap();
                for (k, values) in seen.as_object().unwrap() {
                    let spoofed = values.as_array().unwrap().iter().any(|v| {
                        headers
                            .iter()
                            .any(|(_, s)| v.as_str() == std::str::from_utf8(s).ok())
                    });
                    if header_is(k, absent) && spoofed {
                        failures.push(format!("{name}: `{k}` reached the upstream"));
                    }
                }
            }
        }
        // Nothing from a token is echoed in a denial.
        if r.status != 200 {
            for s in secrets(case) {
                if r.body.contains(&s) {
                    failures.push(format!("{name}: denial echoes the token"));
                }
            }
        }
    }
}

/// The cases over HTTP/2, on one connection held open (a new one when Envoy closes it). A
/// stream Envoy resets or refuses at the protocol layer never reached the filter or the
/// upstream: that is a right answer for every case that expects a denial or an Envoy status.
fn run_cases_h2(gw: &Gateway, cases: &[Value], failures: &mut Vec<String>) {
    let mut conn = H2Connection::open(gw.port);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let expect = case["envoy_h2"]
            .as_str()
            .or(case["envoy"].as_str())
            .or(case["expect"].as_str())
            .unwrap();
        let headers = case_headers(case);
        let h: Vec<(&str, &[u8])> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_slice()))
            .collect();
        match conn.send_bytes("GET", "/", &h) {
            Ok(r) => {
                // Envoy's own refusals differ between the codecs (HTTP/2 resets a stream where
                // HTTP/1.1 answers 400 or 431); anything else must be the filter's answer.
                if !(expect.starts_with("http:") && r.status != 200) {
                    failures.extend(judge(&format!("{name} (HTTP/2)"), expect, &r));
                }
            }
            Err(e) => {
                if expect.starts_with("allow:") {
                    failures.push(format!("{name} (HTTP/2): {e:?}"));
                }
                if matches!(e, H2Error::Closed(_)) {
                    conn = H2Connection::open(gw.port);
                }
            }
        }
    }
}

fn cases() -> Vec<Value> {
    read_json("cases.json")["cases"].as_array().unwrap().clone()
}

#[test]
fn hostile_tokens_through_envoy() {
    let Some((envoy, wasm)) = prerequisites() else {
        return;
    };
    let cases = cases();
    assert!(cases.len() >= 40, "{} cases", cases.len());
    let mut failures = Vec::new();

    let table = std::fs::read_to_string(hostile_dir().join("table.json")).unwrap();
    let gw = Gateway::start(&envoy, &wasm, &table);
    // Twice: the second pass goes through the verified-token cache.
    run_cases(&gw, &cases, &mut failures);
    run_cases(&gw, &cases, &mut failures);
    run_cases_h2(&gw, &cases, &mut failures);

    // The same cases against the example policies, where they apply.
    let plain: Vec<Value> = cases
        .iter()
        .filter(|c| c["issuer"].is_null())
        .cloned()
        .collect();
    let policies = Gateway::start(&envoy, &wasm, &compile("policies"));
    run_cases(&policies, &plain, &mut failures);

    // The per-denial log line: JSON with the reason, never a token.
    let deny_lines = |log: &str| -> Vec<String> {
        log.lines()
            .filter(|l| l.contains("\"gatehouse\":\"deny\""))
            .map(str::to_string)
            .collect()
    };
    // The HTTP/2 pass may add deny lines (streams Envoy refuses first add none): at least
    // two per denial on the first gateway.
    for (gw, sent, passes) in [(&gw, &cases, 2), (&policies, &plain, 1)] {
        let denials = sent
            .iter()
            .filter(|c| {
                let e = c["envoy"].as_str().or(c["expect"].as_str()).unwrap();
                !e.starts_with("allow:") && !e.starts_with("http:")
            })
            .count();
        let log = gw.log_when(Duration::from_secs(20), |l| {
            deny_lines(l).len() >= passes * denials
        });
        let lines = deny_lines(&log);
        let expected = passes * denials;
        if lines.len() < expected || (passes == 1 && lines.len() != expected) {
            failures.push(format!(
                "{} deny log lines for {expected} denials",
                lines.len()
            ));
        }
        for line in &lines {
            let json = &line[line.find('{').unwrap()..];
            let v: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"));
            for k in ["reason", "issuer", "kid", "route", "namespace", "path"] {
                assert!(v.get(k).is_some(), "log line lacks {k}: {json}");
            }
        }
        for case in sent.iter() {
            for s in secrets(case) {
                if log.contains(&s) {
                    failures.push(format!(
                        "{}: a token reached the log",
                        case["name"].as_str().unwrap()
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} hostile-token failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn hostile_paths_through_envoy() {
    let Some((envoy, wasm)) = prerequisites() else {
        return;
    };
    let paths = read_json("paths.json");
    let dex_key = generate::key("dex-rsa.key.pem");
    let t = now();
    let auth = |user: &str| {
        let claims = json!({"iss": generate::DEX, "aud": generate::AUD, "email": user, "email_verified": true, "iat": t, "exp": t + 600});
        let token = sign_jwt(&dex_key, "RS256", &json!({"kid": "dex-1"}), &claims).unwrap();
        format!("Bearer {token}")
    };
    let gw = Gateway::start(&envoy, &wasm, &compile("policies"));
    let mut failures = Vec::new();
    // Every row over HTTP/1.1 (a connection each) and over HTTP/2 (one connection held open).
    let mut h2 = H2Connection::open(gw.port);
    for row in paths["rows"].as_array().unwrap() {
        let user = row["user"].as_str().or(paths["user"].as_str()).unwrap();
        let auth = auth(user);
        let (method, path) = (
            row["method"].as_str().unwrap(),
            row["path"].as_str().unwrap(),
        );
        let expect = row["envoy"].as_str().or(row["expect"].as_str()).unwrap();
        let h1 = gw.send(method, path, &[("authorization", &auth)]);
        let over_h2 = match h2.send_bytes(method, path, &[("authorization", auth.as_bytes())]) {
            Ok(r) => Some(r),
            Err(e) => {
                if matches!(e, H2Error::Closed(_)) {
                    h2 = H2Connection::open(gw.port);
                }
                // Refused by Envoy before the filter: right for any denial.
                if expect == "allow" {
                    failures.push(format!("{method} {path} (HTTP/2): {e:?}"));
                }
                None
            }
        };
        for (proto, r) in [("HTTP/1.1", Some(h1)), ("HTTP/2", over_h2)] {
            let Some(r) = r else { continue };
            if !path_row_ok(row, expect, user, method, &r, proto) {
                failures.push(format!(
                    "{method} {path} ({proto}): expected {expect}, got {} {}",
                    r.status, r.body
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} hostile-path failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Whether a response is what a `paths.json` row expects. A `HEAD` answer has no body, so its
/// denials are judged by status.
fn path_row_ok(
    row: &Value,
    expect: &str,
    user: &str,
    method: &str,
    r: &Response,
    proto: &str,
) -> bool {
    let served =
        (r.status == 200).then(|| r.json()["path"].as_str().unwrap_or_default().to_string());
    match (expect, &served) {
        ("allow", Some(served)) => {
            served == row["forward"].as_str().unwrap()
                && r.upstream_header("kubeflow-userid") == vec![user.to_string()]
        }
        ("allow", None) => false,
        (_, Some(_)) => false,
        (reason, None) if reason.starts_with("http:") => {
            // HTTP/2 has no absolute-form or bare request lines: Envoy's HTTP/1.1-only refusals
            // show as another 4xx there.
            r.status.to_string() == reason[5..]
                || (proto == "HTTP/2" && (400..500).contains(&r.status))
        }
        (reason, None) if method == "HEAD" => gatehouse_filter::DenyReason::from_code(reason)
            .is_some_and(|d| u32::from(r.status) == d.status()),
        (reason, None) => {
            serde_json::from_str::<Value>(&r.body).is_ok_and(|b| b["reason"] == reason)
        }
    }
}
