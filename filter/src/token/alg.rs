//! The signature algorithms Gatehouse accepts, and the signature check itself, with `ring`:
//! inside wasm (V8) its RSA, ECDSA and Ed25519 verification is several times faster than the
//! RustCrypto crates behind jwt-compact (measured in `bench/RESULTS.md`). Keys are still parsed
//! and validated with RustCrypto when the table loads, and tokens are minted with jwt-compact.
//! HMAC (`HS*`) and `none` are not algorithms here at all: a token naming them is refused
//! before any key is looked at.

use ring::signature::{self as sig, RsaPublicKeyComponents, UnparsedPublicKey};

use super::keys::PublicKey;

pub use super::jose::Alg;

impl Alg {
    fn rsa(self) -> Option<&'static sig::RsaParameters> {
        match self {
            Alg::Rs256 => Some(&sig::RSA_PKCS1_2048_8192_SHA256),
            Alg::Rs384 => Some(&sig::RSA_PKCS1_2048_8192_SHA384),
            Alg::Rs512 => Some(&sig::RSA_PKCS1_2048_8192_SHA512),
            Alg::Ps256 => Some(&sig::RSA_PSS_2048_8192_SHA256),
            Alg::Ps384 => Some(&sig::RSA_PSS_2048_8192_SHA384),
            Alg::Ps512 => Some(&sig::RSA_PSS_2048_8192_SHA512),
            Alg::Es256 | Alg::Es384 | Alg::EdDsa => None,
        }
    }

    /// Whether a key of this kind can verify this algorithm.
    pub(crate) fn fits(self, key: &PublicKey) -> bool {
        matches!(
            (self, key),
            (
                Alg::Rs256 | Alg::Rs384 | Alg::Rs512 | Alg::Ps256 | Alg::Ps384 | Alg::Ps512,
                PublicKey::Rsa(_)
            ) | (Alg::Es256, PublicKey::P256(_))
                | (Alg::Es384, PublicKey::P384(_))
                | (Alg::EdDsa, PublicKey::Ed25519(_))
        )
    }
}

/// Checks `signature` over `signed` with `key`. False when the key does not fit the algorithm,
/// the signature has the wrong length or form (ECDSA signatures are raw `r || s`; DER is
/// refused), or it does not verify.
pub(crate) fn verify(alg: Alg, key: &PublicKey, signed: &[u8], signature: &[u8]) -> bool {
    let checked = match (key, alg.rsa()) {
        (PublicKey::Rsa(key), Some(params)) => RsaPublicKeyComponents {
            n: &key.n,
            e: &key.e,
        }
        .verify(params, signed, signature),
        (PublicKey::P256(point), None) if alg == Alg::Es256 => {
            UnparsedPublicKey::new(&sig::ECDSA_P256_SHA256_FIXED, point).verify(signed, signature)
        }
        (PublicKey::P384(point), None) if alg == Alg::Es384 => {
            UnparsedPublicKey::new(&sig::ECDSA_P384_SHA384_FIXED, point).verify(signed, signature)
        }
        (PublicKey::Ed25519(key), None) if alg == Alg::EdDsa => {
            UnparsedPublicKey::new(&sig::ED25519, key).verify(signed, signature)
        }
        _ => return false,
    };
    checked.is_ok()
}
