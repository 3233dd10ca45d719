//! Table loading (`Engine::from_bytes`, JSON and binary; `wire::open`, signed): any bytes as a
//! table. Nothing may panic; a table that loads must survive a round trip through both forms.
#![no_main]

use gatehouse_filter::engine::Provenance;
use gatehouse_filter::{wire, Engine};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A signed envelope around anything: the key is not trusted, or the signature fails.
    let _ = wire::open(data, &[wire::public_key(&[1u8; 32])]);
    // The gateway's loader (binary grants straight into the ACL) on the same bytes.
    let _ = Engine::from_bytes(data, Provenance::Drop);
    let Ok(engine) = Engine::from_bytes(data, Provenance::Keep) else {
        return;
    };
    let Ok(json) = serde_json::to_vec(&engine.table) else {
        panic!("a loaded table does not serialize");
    };
    if let Err(e) = Engine::from_bytes(&json, Provenance::Drop) {
        panic!("a loaded table does not load again from JSON: {e}");
    }
    let Ok(binary) = wire::encode(&engine.table) else {
        panic!("a loaded table does not encode");
    };
    if let Err(e) = Engine::from_bytes(&binary, Provenance::Drop) {
        panic!("a loaded table does not load again from its binary form: {e}");
    }
});
