//! Times a fresh token's verification as the gateway runs it (`Verifiers::verify`: parse,
//! key, signature, claims): `verify_speed TABLE_JSON KIND TOKEN_FILE [ROUNDS]`, KIND `bearer`
//! or `alb`. Built for wasm32-wasip1 and run under V8 (node's WASI), with `node --cpu-prof`
//! it shows where a fresh token's time goes inside the engine Envoy runs.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use gatehouse_filter::token::Source;
use gatehouse_filter::Engine;

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let [_, table, kind, tokens, rest @ ..] = args.as_slice() else {
        return Err("usage: verify_speed TABLE_JSON bearer|alb TOKEN_FILE [ROUNDS]".into());
    };
    let rounds: usize = rest.first().and_then(|r| r.parse().ok()).unwrap_or(200);
    let engine = Engine::from_json(&std::fs::read(table).map_err(|e| format!("{table}: {e}"))?)
        .map_err(|e| e.to_string())?;
    let source = match kind.as_str() {
        "bearer" => Source::Bearer,
        "alb" => Source::Alb,
        other => return Err(format!("unknown kind `{other}`")),
    };
    let text = std::fs::read_to_string(tokens).map_err(|e| format!("{tokens}: {e}"))?;
    let tokens: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs();
    let verifiers = engine.verifiers();
    for token in tokens.iter().take(3) {
        verifiers
            .verify(source, token, now, 30, None, &mut ())
            .map_err(|f| format!("{}: {}", f.reason.code(), f.detail))?;
    }
    let t0 = Instant::now();
    for i in 0..rounds {
        let token = tokens.get(i % tokens.len()).copied().unwrap_or_default();
        let _ = verifiers.verify(source, token, now, 30, None, &mut ());
    }
    let per = t0.elapsed().as_secs_f64() * 1e6 / rounds as f64;
    println!("{kind}: {per:.1} µs per verification ({rounds} rounds)");
    Ok(())
}
