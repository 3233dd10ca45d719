//! Google's Wycheproof vectors for every signature the filter verifies (RS256–RS512,
//! PS256–PS512, ES256, ES384 in JWS's `r || s` form, EdDSA), through the filter's own path:
//! the key as a public JWK loaded by `keys::public_key` (what a table load does), the
//! signature checked by `alg::verify` (what the request path calls). Every vector is judged as
//! Wycheproof says: `valid` verifies, `invalid` does not; `acceptable` may go either way.
//! RSA keys are 2048 to 4096 bits (a table with a larger one does not load), so the 8192-bit
//! files are left out, and shown refused at load.

use ::wycheproof::TestResult;

use super::super::alg::{verify, Alg};
use super::super::encoding::b64_encode;
use super::super::keys::{public_key, PublicKey};
use crate::table::PublicJwk;

/// What one file's vectors came to.
#[derive(Default)]
struct Tally {
    checked: usize,
    failures: Vec<String>,
}

impl Tally {
    /// Judges a group's vectors `(tcId, result, msg, sig)` under `key` as the table load left
    /// it: a key it refuses verifies nothing, which is right only for vectors Wycheproof
    /// expects not to verify.
    fn group<'t>(
        &mut self,
        file: &str,
        alg: Alg,
        key: Result<PublicKey, String>,
        tests: impl Iterator<Item = (usize, &'t TestResult, &'t [u8], &'t [u8])>,
    ) {
        for (id, expected, msg, sig) in tests {
            self.checked += 1;
            let verified = match &key {
                Ok(key) => verify(alg, key, msg, sig),
                Err(_) => false,
            };
            let wrong = match expected {
                TestResult::Valid => !verified,
                TestResult::Invalid => verified,
                TestResult::Acceptable => false,
            };
            if wrong {
                let why = key
                    .as_ref()
                    .err()
                    .map_or(String::new(), |e| format!(" (key refused: {e})"));
                self.failures.push(format!(
                    "{file} tcId {id}: expected {expected:?}, the filter says {}{why}",
                    if verified { "valid" } else { "invalid" }
                ));
            }
        }
    }

    fn assert_all_judged(self, file: &str) {
        assert!(self.checked > 0, "{file}: no vector checked");
        assert!(self.failures.is_empty(), "{}", self.failures.join("\n"));
    }
}

/// Big-endian integer bytes without the sign byte Wycheproof writes.
fn unsigned(bytes: &[u8]) -> &[u8] {
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    bytes.get(skip..).unwrap_or_default()
}

fn rsa_jwk(n: &[u8], e: &[u8]) -> PublicJwk {
    PublicJwk::Rsa {
        n: b64_encode(unsigned(n)),
        e: b64_encode(unsigned(e)),
    }
}

#[test]
fn rsa_pkcs1_vectors_are_judged_as_wycheproof_says() {
    use ::wycheproof::rsa_pkcs1_verify::{TestName, TestSet};
    use TestName::*;
    for (name, alg) in [
        (Rsa2048Sha256, Alg::Rs256),
        (Rsa2048Sha384, Alg::Rs384),
        (Rsa2048Sha512, Alg::Rs512),
        (Rsa3072Sha256, Alg::Rs256),
        (Rsa3072Sha384, Alg::Rs384),
        (Rsa3072Sha512, Alg::Rs512),
        (Rsa4096Sha256, Alg::Rs256),
        (Rsa4096Sha384, Alg::Rs384),
        (Rsa4096Sha512, Alg::Rs512),
    ] {
        let file = format!("{name:?}");
        let set = TestSet::load(name).unwrap_or_else(|e| unreachable!("{file}: {e:?}"));
        let mut tally = Tally::default();
        for g in &set.test_groups {
            let key = public_key(&rsa_jwk(&g.key.n, &g.key.e));
            let tests = g
                .tests
                .iter()
                .map(|t| (t.tc_id, &t.result, &t.msg[..], &t.sig[..]));
            tally.group(&file, alg, key, tests);
        }
        tally.assert_all_judged(&file);
    }
}

#[test]
fn rsa_pss_vectors_are_judged_as_wycheproof_says() {
    use ::wycheproof::rsa_pss_verify::{TestName, TestSet};
    use ::wycheproof::HashFunction;
    use TestName::*;
    // JWS's PS* use MGF1 with the same hash and a salt as long as the hash.
    for (name, alg, hash, salt) in [
        (
            RsaPss2048Sha256Mgf1SaltLen32,
            Alg::Ps256,
            HashFunction::Sha2_256,
            32,
        ),
        (
            RsaPss2048Sha384Mgf1SaltLen48,
            Alg::Ps384,
            HashFunction::Sha2_384,
            48,
        ),
        (
            RsaPss3072Sha256Mgf1SaltLen32,
            Alg::Ps256,
            HashFunction::Sha2_256,
            32,
        ),
        (
            RsaPss4096Sha256Mgf1SaltLen32,
            Alg::Ps256,
            HashFunction::Sha2_256,
            32,
        ),
        (
            RsaPss4096Sha384Mgf1SaltLen48,
            Alg::Ps384,
            HashFunction::Sha2_384,
            48,
        ),
        (
            RsaPss4096Sha512Mgf1SaltLen64,
            Alg::Ps512,
            HashFunction::Sha2_512,
            64,
        ),
    ] {
        let file = format!("{name:?}");
        let set = TestSet::load(name).unwrap_or_else(|e| unreachable!("{file}: {e:?}"));
        let mut tally = Tally::default();
        for g in &set.test_groups {
            assert_eq!(g.hash, hash, "{file}");
            assert_eq!(g.mgf_hash, Some(hash), "{file}");
            assert_eq!(g.salt_size, salt, "{file}");
            let key = public_key(&rsa_jwk(&g.key.n, &g.key.e));
            let tests = g
                .tests
                .iter()
                .map(|t| (t.tc_id, &t.result, &t.msg[..], &t.sig[..]));
            tally.group(&file, alg, key, tests);
        }
        tally.assert_all_judged(&file);
    }
}

#[test]
fn ecdsa_p1363_vectors_are_judged_as_wycheproof_says() {
    use ::wycheproof::ecdsa::{TestName, TestSet};
    use TestName::*;
    for (name, alg, crv, size) in [
        (EcdsaSecp256r1Sha256P1363, Alg::Es256, "P-256", 32),
        (EcdsaSecp256r1Webcrypto, Alg::Es256, "P-256", 32),
        (EcdsaSecp384r1Sha384P1363, Alg::Es384, "P-384", 48),
        (EcdsaSecp384r1Webcrypto, Alg::Es384, "P-384", 48),
    ] {
        let file = format!("{name:?}");
        let set = TestSet::load(name).unwrap_or_else(|e| unreachable!("{file}: {e:?}"));
        let mut tally = Tally::default();
        for g in &set.test_groups {
            // The uncompressed point: 04 || x || y.
            let point = &g.key.key;
            assert_eq!(point.len(), 1 + 2 * size, "{file}");
            let jwk = PublicJwk::Ec {
                crv: crv.into(),
                x: b64_encode(&point[1..1 + size]),
                y: b64_encode(&point[1 + size..]),
            };
            let tests = g
                .tests
                .iter()
                .map(|t| (t.tc_id, &t.result, &t.msg[..], &t.sig[..]));
            tally.group(&file, alg, public_key(&jwk), tests);
        }
        tally.assert_all_judged(&file);
    }
}

#[test]
fn ed25519_vectors_are_judged_as_wycheproof_says() {
    use ::wycheproof::eddsa::{TestName, TestSet};
    let file = "Ed25519";
    let set = TestSet::load(TestName::Ed25519).unwrap_or_else(|e| unreachable!("{file}: {e:?}"));
    let mut tally = Tally::default();
    for g in &set.test_groups {
        let jwk = PublicJwk::Okp {
            crv: "Ed25519".into(),
            x: b64_encode(&g.key.pk),
        };
        let tests = g
            .tests
            .iter()
            .map(|t| (t.tc_id, &t.result, &t.msg[..], &t.sig[..]));
        tally.group(file, Alg::EdDsa, public_key(&jwk), tests);
    }
    tally.assert_all_judged(file);
}

#[test]
fn rsa_keys_over_4096_bits_do_not_load() {
    use ::wycheproof::rsa_pkcs1_verify::{TestName, TestSet};
    let set = TestSet::load(TestName::Rsa8192Sha256).unwrap_or_else(|e| unreachable!("{e:?}"));
    for g in &set.test_groups {
        let refused = public_key(&rsa_jwk(&g.key.n, &g.key.e)).err();
        assert!(
            refused.as_deref().is_some_and(|e| e.contains("too large")),
            "{refused:?}"
        );
    }
}
