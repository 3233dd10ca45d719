//! Faults natively: table size at and over the limit, hostile tables, and reload behaviour of
//! [`Filter`]. Through Envoy: `compiler/tests/faults_envoy.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::MockHost;
use gatehouse_filter::engine::MAX_TABLE_BYTES;
use gatehouse_filter::gate::{Filter, Outcome};
use gatehouse_filter::{DenyReason, Engine};

fn table() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testdata/hostile/table.json"
    ))
    .unwrap()
}

fn padded(len: usize) -> Vec<u8> {
    let mut t = table().into_bytes();
    t.resize(len, b' ');
    t
}

#[test]
fn a_table_at_the_limit_loads_and_one_byte_over_is_refused() {
    assert!(Engine::from_json(&padded(MAX_TABLE_BYTES)).is_ok());
    let err = Engine::from_json(&padded(MAX_TABLE_BYTES + 1)).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "table is {} bytes; the limit is {MAX_TABLE_BYTES}",
            MAX_TABLE_BYTES + 1
        )
    );
}

#[test]
fn an_oversized_reload_keeps_the_table_in_force() {
    let mut f = Filter::default();
    f.configure(Some(table().as_bytes())).unwrap();
    let err = f.configure(Some(&padded(MAX_TABLE_BYTES + 1))).unwrap_err();
    assert!(err.contains("table refused: table is"), "{err}");
    assert!(err.contains("the last good table stays in force"), "{err}");
    let mut host = MockHost::new(&[(":method", "GET"), (":path", "/notebook/alice/nb/")]);
    assert_eq!(
        f.on_request(&mut host),
        Outcome::Denied(DenyReason::NoIdentity)
    );
}

#[test]
fn hostile_tables_are_refused_without_panicking() {
    let good: serde_json::Value = serde_json::from_str(&table()).unwrap();
    let deep = format!(
        "{{\"format_version\":1,\"x\":{}{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    // (what, table, a piece of the expected message)
    let mut cases: Vec<(String, Vec<u8>, &str)> = vec![
        ("empty".into(), vec![], "not valid JSON"),
        (
            "not utf-8".into(),
            b"{\"format_version\":1\xff}".to_vec(),
            "JSON",
        ),
        ("deep nesting".into(), deep.into_bytes(), ""),
        ("a number".into(), b"1".to_vec(), ""),
        ("null".into(), b"null".to_vec(), ""),
    ];
    // Issuers in the hostile table: 0 cognito (RSA), 1 corp-alb (ALB, P-256), 2 dex (RSA).
    let mut mutate = |name: &str, want: &'static str, f: &dyn Fn(&mut serde_json::Value)| {
        let mut t = good.clone();
        f(&mut t);
        cases.push((name.into(), serde_json::to_vec(&t).unwrap(), want));
    };
    mutate("unknown field", "unknown field `extra`", &|t| {
        t["extra"] = true.into()
    });
    mutate("header name with a colon", "header name", &|t| {
        t["gateway"]["user_header"] = ":path".into()
    });
    mutate("header name with CRLF", "header name", &|t| {
        t["gateway"]["groups_header"] = "x\r\ny".into()
    });
    mutate(
        "route with an action but no namespace",
        "route `/dex/**`",
        &|t| t["routes"][0]["access"] = serde_json::json!({"action": "launch-missiles"}),
    );
    mutate("route with an unknown action", "`launch-missiles`", &|t| {
        let routes = t["routes"].as_array_mut().unwrap();
        let r = routes
            .iter_mut()
            .find(|r| r["path"].as_str().unwrap().contains("{namespace}"))
            .unwrap();
        r["access"] = serde_json::json!({"action": "launch-missiles"});
    });
    mutate("route template garbage", "", &|t| {
        t["routes"][0]["path"] = "no-slash{{".into()
    });
    mutate("grant with an unknown role", "root", &|t| {
        t["grants"]["alice"]["user:alice@example.com"][0]["role"] = "root".into()
    });
    mutate("RSA key too small", "cognito", &|t| {
        issuer(t, "cognito")["keys"][0]["jwk"]["n"] = "AQAB".into()
    });
    mutate("EC key off the curve", "corp-alb", &|t| {
        issuer(t, "corp-alb")["keys"][0]["jwk"]["x"] = "AAAA".into()
    });
    mutate("algorithm none", "`none` is not supported", &|t| {
        issuer(t, "dex")["algorithms"] = serde_json::json!(["none"])
    });
    mutate("algorithm HS256", "`HS256` is not supported", &|t| {
        issuer(t, "dex")["algorithms"] = serde_json::json!(["HS256"])
    });
    mutate("no algorithms", "no algorithms", &|t| {
        issuer(t, "dex")["algorithms"] = serde_json::json!([])
    });
    mutate("alb without signers", "no alb signer", &|t| {
        issuer(t, "corp-alb")["signers"] = serde_json::json!([])
    });
    mutate("format version 0", "format_version 0", &|t| {
        t["format_version"] = 0.into()
    });
    for (name, bytes, want) in cases {
        let r = std::panic::catch_unwind(|| Engine::from_json(&bytes).map(|_| ()));
        match r {
            Ok(Err(e)) => assert!(e.to_string().contains(want), "{name}: {e}"),
            Ok(Ok(())) => panic!("{name}: loaded"),
            Err(_) => panic!("{name}: panicked"),
        }
    }
}

/// The hostile table's issuer `name`, to change.
fn issuer<'a>(t: &'a mut serde_json::Value, name: &str) -> &'a mut serde_json::Value {
    let issuers = t["issuers"].as_array_mut().unwrap();
    issuers.iter_mut().find(|i| i["name"] == name).unwrap()
}
