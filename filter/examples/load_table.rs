//! Times a by-reference table load step by step: `load_table SIGNED_TABLE PUBLIC_KEY [ROUNDS]`.
//! Built for wasm32-wasip1 and run under V8 (node's WASI), it shows where a gateway worker's
//! load goes (`bench/scale.sh` measures the whole of it inside Envoy).

use std::time::Instant;

use gatehouse_filter::engine::Provenance;
use gatehouse_filter::{wire, Engine};

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let [_, table, key, rest @ ..] = args.as_slice() else {
        return Err("usage: load_table SIGNED_TABLE PUBLIC_KEY [ROUNDS]".into());
    };
    let rounds: usize = rest.first().and_then(|r| r.parse().ok()).unwrap_or(5);
    let signed = std::fs::read(table).map_err(|e| format!("{table}: {e}"))?;
    let key = std::fs::read_to_string(key).map_err(|e| format!("{key}: {e}"))?;
    let trusted = [wire::parse_public_key(&key)?];
    for _ in 0..rounds {
        let t0 = Instant::now();
        let binary = wire::open(&signed, &trusted).map_err(|e| e.to_string())?;
        let t1 = Instant::now();
        let engine = Engine::from_bytes(binary, Provenance::Drop).map_err(|e| e.to_string())?;
        let t2 = Instant::now();
        drop(engine);
        println!(
            "signature {:.1} ms, load {:.1} ms",
            (t1 - t0).as_secs_f64() * 1e3,
            (t2 - t1).as_secs_f64() * 1e3
        );
    }
    Ok(())
}
