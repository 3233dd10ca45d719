//! One decision (path normalization, route match, ACL lookup) at 10, 1k, 100k and 1M bindings.
//! The cost must stay flat: the ACL is keyed by namespace and subject.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use gatehouse_bench::synthetic_table;
use gatehouse_filter::pipeline::{self, asserted, Request};
use gatehouse_filter::{Engine, Identity};

fn decision(c: &mut Criterion) {
    let mut group = c.benchmark_group("decision");
    let sizes: &[usize] = if gatehouse_bench::measuring() {
        &[10, 1_000, 100_000, 1_000_000]
    } else {
        &[10, 1_000]
    };
    for &bindings in sizes {
        let engine = match Engine::new(synthetic_table(bindings)) {
            Ok(e) => e,
            Err(e) => {
                eprintln!("table refused: {e}");
                return;
            }
        };
        let last = bindings - 1;
        let id = Identity {
            user: format!("u{last}@example.com"),
            groups: vec!["ml-ops".into(), "analysts".into()],
            issuer: "bench".into(),
        };
        let path = format!("/serving/v1/namespaces/ns-{}/apis/fraud-model", last / 10);
        assert!(
            pipeline::run(&engine, &Request::new("PUT", &path), asserted(Some(&id)))
                .decision
                .deny_reason()
                .is_none()
        );
        group.bench_with_input(BenchmarkId::new("allow", bindings), &bindings, |b, _| {
            b.iter(|| {
                pipeline::run(
                    &engine,
                    &Request::new(black_box("PUT"), black_box(&path)),
                    asserted(Some(black_box(&id))),
                )
                .decision
            })
        });
        // Denied: the same request by a user with no grant anywhere (every lookup misses).
        let intruder = Identity {
            user: "intruder@example.com".into(),
            ..id.clone()
        };
        assert!(pipeline::run(
            &engine,
            &Request::new("PUT", &path),
            asserted(Some(&intruder))
        )
        .decision
        .deny_reason()
        .is_some());
        group.bench_with_input(BenchmarkId::new("deny", bindings), &bindings, |b, _| {
            b.iter(|| {
                pipeline::run(
                    &engine,
                    &Request::new(black_box("PUT"), black_box(&path)),
                    asserted(Some(black_box(&intruder))),
                )
                .decision
            })
        });
    }
    group.finish();
}

criterion_group!(benches, decision);
criterion_main!(benches);
