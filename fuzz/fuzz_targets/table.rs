//! Table loading (`Engine::from_json`): any bytes as a table. Nothing may panic; a table that
//! loads must survive a round trip through its own serialization.
#![no_main]

use gatehouse_filter::Engine;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(engine) = Engine::from_json(data) else {
        return;
    };
    let Ok(again) = serde_json::to_vec(&engine.table) else {
        panic!("a loaded table does not serialize");
    };
    if let Err(e) = Engine::from_json(&again) {
        panic!("a loaded table does not load again: {e}");
    }
});
