//! Regressions found by fuzzing (`fuzz/`, `scripts/fuzz.sh`): every input kept under
//! `testdata/hostile/fuzz/<target>/` replays here through the same checks its fuzz target makes,
//! on the stable toolchain, in the normal test run. (`policy_yaml` inputs replay in
//! `compiler/tests/hostile_envoy.rs`, which has the compiler.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use gatehouse_filter::Engine;

const NOW: u64 = 1_800_000_000;
const METHODS: [&str; 8] = [
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "get",
];

fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testdata/hostile/fuzz"
    ))
    .join(target);
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(String, Vec<u8>)> = entries
        .map(|e| e.unwrap().path())
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p.file_name().unwrap().to_string_lossy().into_owned(), bytes)
        })
        .collect();
    out.sort();
    out
}

fn engine() -> Engine {
    let table = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testdata/hostile/table.json"
    ))
    .unwrap();
    Engine::from_json(&table).unwrap()
}

/// `fuzz_targets/path.rs`: what is forwarded, judged again, gives the same target and is a
/// fixed point.
#[test]
fn path_regressions() {
    let e = engine();
    for (name, data) in inputs("path") {
        let Some((m, rest)) = data.split_first() else {
            continue;
        };
        let Ok(raw) = std::str::from_utf8(rest) else {
            continue;
        };
        let method = METHODS[usize::from(*m) % METHODS.len()];
        let Ok(pre) = e.preflight(method, raw) else {
            continue;
        };
        let forward = pre.path.forward_path();
        let again = e
            .preflight(method, &forward)
            .unwrap_or_else(|r| panic!("{name}: forwarded path refused on a second look: {r}"));
        assert_eq!(pre.target, again.target, "{name}");
        assert_eq!(again.path.forward_path(), forward, "{name}");
    }
}

/// `fuzz_targets/token.rs`: no panic; whatever verifies names a header-safe user.
#[test]
fn token_regressions() {
    let e = engine();
    for (name, data) in inputs("token") {
        let text = String::from_utf8_lossy(&data);
        for leeway in [0, 30] {
            let results = [
                e.verifiers().verify_alb(&text, NOW, leeway),
                e.verifiers().verify_bearer(&text, NOW, leeway),
            ];
            for t in results.into_iter().flatten() {
                assert!(!t.identity.user.is_empty(), "{name}");
                assert!(!t.identity.user.chars().any(char::is_control), "{name}");
            }
        }
    }
}

/// `fuzz_targets/table.rs`: no panic; a table that loads survives its own round trip.
#[test]
fn table_regressions() {
    for (name, data) in inputs("table") {
        if let Ok(engine) = Engine::from_json(&data) {
            let again = serde_json::to_vec(&engine.table).unwrap();
            assert!(Engine::from_json(&again).is_ok(), "{name}");
        }
    }
}
