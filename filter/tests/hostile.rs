//! Hostile tokens and paths, natively: every case of `testdata/hostile/cases.json` through the
//! request path ([`gate::on_request`] with a recording mock host and one shared verified-token
//! cache, twice), and every row of `testdata/hostile/paths.json` through the engine. The same
//! files run through a real Envoy in `compiler/tests/hostile_envoy.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::PathBuf;

use common::MockHost;
use gatehouse_filter::cache::TokenCache;
use gatehouse_filter::gate::{header_is, on_request, Outcome};
use gatehouse_filter::pipeline::{self, asserted, Request};
use gatehouse_filter::{DenyReason, Engine, Identity, Verdict};
use serde_json::Value;

/// Inside every case's validity window (tokens expire in 2100; `nbf` cases start in 2096).
const NOW: u64 = 1_800_000_000;

fn hostile(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/hostile")).join(name)
}

fn read_json(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(hostile(name)).unwrap()).unwrap()
}

fn engine() -> Engine {
    Engine::from_json(&std::fs::read(hostile("table.json")).unwrap()).unwrap()
}

fn headers(case: &Value) -> Vec<(String, Vec<u8>)> {
    case["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            let value = match (h["value"].as_str(), h["value_hex"].as_str()) {
                (Some(v), _) => v.as_bytes().to_vec(),
                (None, Some(hex)) => (0..hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                    .collect(),
                _ => panic!("header without value: {h}"),
            };
            (h["name"].as_str().unwrap().to_string(), value)
        })
        .collect()
}

/// Whole header values and every token segment over 20 characters.
fn secrets(case: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for (_, v) in headers(case) {
        let text = String::from_utf8_lossy(&v).into_owned();
        out.extend(
            text.split(['.', ' ', ','])
                .filter(|p| p.len() > 20)
                .map(str::to_string),
        );
        if text.len() > 20 {
            out.push(text);
        }
    }
    out
}

fn run_case(engine: &Engine, cache: &mut TokenCache, case: &Value) -> Result<(), String> {
    let name = case["name"].as_str().unwrap();
    let expect = case["expect"].as_str().unwrap();
    let mut host = MockHost::new(&[(":method", "GET"), (":path", "/")]);
    host.now = NOW;
    host.headers.extend(headers(case));
    let out = on_request(Some(engine), cache, &mut host);
    let got = match (&out, host.header("kubeflow-userid")) {
        (Outcome::Continue, Some(user)) => format!("allow:{user}"),
        (Outcome::Continue, None) => "allow without identity".to_string(),
        (Outcome::Denied(r), _) => r.code().to_string(),
        (Outcome::Held(_), _) => "held (no live keys here)".to_string(),
        (Outcome::Answered(status), _) => format!("answered {status} (no sign-in here)"),
        (Outcome::Exchanging(_), _) => "exchanging (no sign-in here)".to_string(),
    };
    if got != expect {
        return Err(format!(
            "{name}: expected {expect}, got {got} {:?}",
            host.logs
        ));
    }
    // Headers that must not reach the upstream: no spelling of the name may carry a value the
    // request sent (the filter's own identity headers may stay).
    let sent = headers(case);
    for absent in case["absent"].as_array().into_iter().flatten() {
        let absent = absent.as_str().unwrap();
        for (k, v) in &host.headers {
            if header_is(k, absent) && sent.iter().any(|(_, s)| s == v) {
                return Err(format!("{name}: `{k}` reached the upstream"));
            }
        }
    }
    if let Outcome::Denied(reason) = out {
        let (status, reply_headers, body) = host.response.clone().unwrap();
        if status != reason.status() {
            return Err(format!("{name}: status {status} for {reason}"));
        }
        if host.header("kubeflow-userid").is_some() || host.header("kubeflow-groups").is_some() {
            return Err(format!("{name}: identity headers on a denial"));
        }
        let reply = format!("{reply_headers:?}{body}");
        let logs = host.logs.join("\n");
        for s in secrets(case) {
            if reply.contains(&s) || logs.contains(&s) {
                return Err(format!("{name}: a token reached the reply or the log"));
            }
        }
    }
    Ok(())
}

#[test]
fn hostile_tokens_get_their_reasons() {
    let engine = engine();
    let cases = read_json("cases.json");
    let cases = cases["cases"].as_array().unwrap();
    assert!(cases.len() >= 40, "{} cases", cases.len());
    // One cache for every request, as on a worker: a second pass goes through it.
    let mut cache = TokenCache::new(engine.gateway().token_cache_size);
    let mut failures = Vec::new();
    for pass in 0..2 {
        for case in cases {
            if let Err(e) = run_case(&engine, &mut cache, case) {
                failures.push(format!("pass {pass}: {e}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_expected_reason_is_a_known_code() {
    for case in read_json("cases.json")["cases"].as_array().unwrap() {
        let e = case["expect"].as_str().unwrap();
        assert!(
            e.starts_with("allow:") || DenyReason::from_code(e).is_some(),
            "{e}"
        );
    }
}

#[test]
fn hostile_paths_are_never_judged_against_another_namespace() {
    let engine = engine();
    let paths = read_json("paths.json");
    let mut failures = Vec::new();
    for row in paths["rows"].as_array().unwrap() {
        let who = Identity {
            user: row["user"]
                .as_str()
                .or(paths["user"].as_str())
                .unwrap()
                .to_string(),
            groups: vec![],
            issuer: "dex".into(),
        };
        let (method, path) = (
            row["method"].as_str().unwrap(),
            row["path"].as_str().unwrap(),
        );
        let expect = row["expect"].as_str().unwrap();
        let d = pipeline::run(&engine, &Request::new(method, path), asserted(Some(&who))).decision;
        let got = match &d.verdict {
            Verdict::Allow => {
                let pre = engine.preflight(method, path).unwrap();
                let forward = pre.path.forward_path();
                let ns = d.target.as_ref().and_then(|t| t.namespace.clone());
                // What is judged is what is served: the forwarded path, run through the engine
                // again, is judged against the same namespace.
                let again = pipeline::run(
                    &engine,
                    &Request::new(method, &forward),
                    asserted(Some(&who)),
                )
                .decision;
                let ns_again = again.target.as_ref().and_then(|t| t.namespace.clone());
                if again.verdict != Verdict::Allow || ns_again != ns {
                    failures.push(format!("{path}: forwarded {forward} judges differently"));
                }
                if row["forward"].as_str() != Some(forward.as_str())
                    || row["namespace"].as_str() != ns.as_deref()
                {
                    failures.push(format!(
                        "{method} {path}: allowed, forwarded {forward} in {ns:?}; expected {} in {}",
                        row["forward"], row["namespace"]
                    ));
                }
                "allow".to_string()
            }
            Verdict::Deny(r) => r.code().to_string(),
        };
        if got != expect {
            failures.push(format!("{method} {path}: expected {expect}, got {got}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
