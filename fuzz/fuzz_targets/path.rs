//! Path normalization and route matching (`Engine::preflight`) over the kubeflow and cortex
//! routes of `testdata/hostile/table.json`. The first byte picks the method, the rest is the raw
//! `:path`. Besides not panicking: what is judged is what is served, so the path the filter
//! forwards, judged again, must give the same route, namespace and API, and be a fixed point.
#![no_main]

use std::sync::OnceLock;

use gatehouse_filter::Engine;
use libfuzzer_sys::fuzz_target;

const TABLE: &[u8] = include_bytes!("../../testdata/hostile/table.json");
const METHODS: [&str; 8] = [
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "get",
];

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| match Engine::from_json(TABLE) {
        Ok(e) => e,
        Err(e) => panic!("testdata/hostile/table.json: {e}"),
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((m, rest)) = data.split_first() else {
        return;
    };
    let Ok(raw) = std::str::from_utf8(rest) else {
        return;
    };
    let method = METHODS[usize::from(*m) % METHODS.len()];
    let e = engine();
    let Ok(pre) = e.preflight(method, raw) else {
        return;
    };
    let forward = pre.path.forward_path();
    let again = match e.preflight(method, &forward) {
        Ok(p) => p,
        Err(r) => panic!("{raw:?} forwarded as {forward:?} is refused on a second look: {r}"),
    };
    assert_eq!(pre.target, again.target, "{raw:?} forwarded as {forward:?}");
    assert_eq!(
        again.path.forward_path(),
        forward,
        "{raw:?}: not a fixed point"
    );
    if let Some(ns) = pre.target.as_ref().and_then(|t| t.namespace.as_deref()) {
        assert!(
            !ns.is_empty()
                && ns
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "{raw:?}: namespace {ns:?}"
        );
    }
});
