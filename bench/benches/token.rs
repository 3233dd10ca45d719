//! Token verification natively, per algorithm: parse, signature, claims, identity — what the
//! filter pays on a verified-token cache miss. RS256/384/512 and PS256 with the Dex RSA-2048
//! key, ES256, ES384 and EdDSA with the extra issuer's keys, and an ALB ES256 header.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use gatehouse_bench::keys::{
    issuers, jwt_claims, mint_alb, mint_jwt, signing_key, DEX_ISSUER, EXTRA_ISSUER, JWT_ALGS,
};
use gatehouse_filter::token::Verifiers;

const NOW: u64 = 1_700_000_000;
const LEEWAY: u64 = 30;

fn token(c: &mut Criterion) {
    let verifiers = match issuers().and_then(|i| Verifiers::new(&i)) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("bench issuers refused: {e}");
            return;
        }
    };
    let mut group = c.benchmark_group("verify");
    group.sample_size(30);
    for (alg, kid) in JWT_ALGS {
        let issuer = if kid == "dex-1" {
            DEX_ISSUER
        } else {
            EXTRA_ISSUER
        };
        let claims = jwt_claims(issuer, "alice@example.com", NOW, 3600, 1);
        let Ok(token) = signing_key(kid).and_then(|k| mint_jwt(&k, alg, kid, &claims)) else {
            eprintln!("cannot mint {alg}");
            continue;
        };
        assert!(
            verifiers.verify_bearer(&token, NOW, LEEWAY).is_ok(),
            "{alg}"
        );
        group.bench_function(alg, |b| {
            b.iter(|| verifiers.verify_bearer(black_box(&token), NOW, LEEWAY))
        });
    }
    if let Ok(token) =
        signing_key("alb-1").and_then(|k| mint_alb(&k, "alice@example.com", NOW, 120, 1))
    {
        assert!(verifiers.verify_alb(&token, NOW, LEEWAY).is_ok());
        group.bench_function("ALB-ES256", |b| {
            b.iter(|| verifiers.verify_alb(black_box(&token), NOW, LEEWAY))
        });
    }
    group.finish();
}

criterion_group!(benches, token);
criterion_main!(benches);
