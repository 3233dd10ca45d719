//! Policy compile time and table load time at 10k Profiles + 100k contributor RoleBindings
//! (110k grants): `gatehouse::compile_dir` on a generated policy directory, and
//! `Engine::from_json` on the compiled table (what the filter does in `on_configure` with an
//! inline table), and `Engine::from_bytes` on its binary form (a table by reference).
//! The same load inside wasm (V8) is measured by `bench/e2e.sh`.

use std::time::Duration;

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use gatehouse::{compile_dir, table_json, CompileOptions};
use gatehouse_bench::policy::write_policy;
use gatehouse_filter::engine::Provenance;
use gatehouse_filter::{wire, Engine};

const PROFILES: usize = 10_000;
const BINDINGS: usize = 100_000;

fn table(c: &mut Criterion) {
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("no temp dir: {e}");
            return;
        }
    };
    // `cargo test --all-targets` runs each bench once, unoptimized: a small policy then.
    let (profiles, bindings) = if gatehouse_bench::measuring() {
        (PROFILES, BINDINGS)
    } else {
        (100, 1_000)
    };
    if let Err(e) = write_policy(dir.path(), profiles, bindings) {
        eprintln!("cannot write the policy: {e}");
        return;
    }
    let options = CompileOptions::default();
    let json = match compile_dir(dir.path(), &options).map(|c| table_json(&c.table)) {
        Ok(Ok(json)) => json,
        Ok(Err(e)) => {
            eprintln!("cannot serialize the table: {e}");
            return;
        }
        Err(diags) => {
            eprintln!("policy refused: {diags:?}");
            return;
        }
    };
    eprintln!("table: {} bytes of JSON", json.len());
    let mut group = c.benchmark_group("table");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.bench_function("compile/10k-profiles+100k-bindings", |b| {
        b.iter_with_large_drop(|| compile_dir(black_box(dir.path()), &options))
    });
    group.bench_function("load/10k-profiles+100k-bindings", |b| {
        // The time until the engine is ready; dropping the old one is not part of a load.
        b.iter_with_large_drop(|| Engine::from_json(black_box(json.as_bytes())))
    });
    // The gateway's load by reference: the binary table into an ACL without provenance.
    let binary = match compile_dir(dir.path(), &options).map(|c| wire::encode(&c.table)) {
        Ok(Ok(b)) => b,
        _ => {
            eprintln!("cannot encode the binary table");
            return;
        }
    };
    eprintln!("table: {} bytes binary", binary.len());
    group.bench_function("load-binary/10k-profiles+100k-bindings", |b| {
        b.iter_with_large_drop(|| Engine::from_bytes(black_box(&binary), Provenance::Drop))
    });
    // Checking the signature of the same table, as a gateway does before it loads it.
    let seed = [7u8; 32];
    let signed = wire::sign(&binary, &seed);
    let trusted = [wire::public_key(&seed)];
    group.bench_function("verify-signed/10k-profiles+100k-bindings", |b| {
        b.iter(|| wire::open(black_box(&signed), &trusted).map(<[u8]>::len))
    });
    group.finish();
}

criterion_group!(benches, table);
criterion_main!(benches);
