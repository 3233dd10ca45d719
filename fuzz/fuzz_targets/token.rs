//! Token parsing and verification: the fuzzed bytes as an ALB `x-amzn-oidc-data` value and as
//! a bearer token, against the issuers of `testdata/hostile/table.json` (Dex, Cognito, EKS, the
//! ES256/ES384/EdDSA `extra` issuer, the ALB). Nothing may panic, and nothing but the real keys
//! may verify: a token that verifies must name a user the corpus' own keys could have minted.
#![no_main]

use std::sync::OnceLock;

use gatehouse_filter::token::names::check_unambiguous;
use gatehouse_filter::Engine;
use libfuzzer_sys::fuzz_target;

const TABLE: &[u8] = include_bytes!("../../testdata/hostile/table.json");
/// 2027-01-15: inside the validity of the seed tokens.
const NOW: u64 = 1_800_000_000;

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| match Engine::from_json(TABLE) {
        Ok(e) => e,
        Err(e) => panic!("testdata/hostile/table.json: {e}"),
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let v = engine().verifiers();
    for leeway in [0, 30] {
        // Whatever verifies names a user (and groups) every upstream reads the same way.
        for t in [v.verify_alb(&text, NOW, leeway), v.verify_bearer(&text, NOW, leeway)]
            .into_iter()
            .flatten()
        {
            assert!(!t.identity.user.is_empty());
            assert!(check_unambiguous("user", &t.identity.user).is_ok());
            assert!(t
                .identity
                .groups
                .iter()
                .all(|g| check_unambiguous("group", g).is_ok()));
        }
    }
});
