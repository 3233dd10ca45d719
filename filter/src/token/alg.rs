//! The signature algorithms Gatehouse accepts, and signature checks through jwt-compact's
//! [`Algorithm`] trait (plus [`Es384`]). HMAC (`HS*`) and `none` are not algorithms here at all:
//! a token naming them is refused before any key is looked at.

use jwt_compact::alg::{Ed25519, Es256, Rsa};
use jwt_compact::{Algorithm, AlgorithmSignature};

use super::es384::Es384;
use super::keys::PublicKey;

/// A JWS algorithm Gatehouse can verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    Rs384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    Rs512,
    /// RSASSA-PSS with SHA-256.
    Ps256,
    /// RSASSA-PSS with SHA-384.
    Ps384,
    /// RSASSA-PSS with SHA-512.
    Ps512,
    /// ECDSA P-256 with SHA-256.
    Es256,
    /// ECDSA P-384 with SHA-384.
    Es384,
    /// Ed25519.
    EdDsa,
}

impl Alg {
    /// Every supported algorithm.
    pub const ALL: [Alg; 9] = [
        Alg::Rs256,
        Alg::Rs384,
        Alg::Rs512,
        Alg::Ps256,
        Alg::Ps384,
        Alg::Ps512,
        Alg::Es256,
        Alg::Es384,
        Alg::EdDsa,
    ];

    /// Parses an `alg` header value (exact, case-sensitive, as RFC 7515 says).
    pub fn from_name(name: &str) -> Option<Alg> {
        Alg::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The `alg` name.
    pub fn name(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Rs384 => "RS384",
            Alg::Rs512 => "RS512",
            Alg::Ps256 => "PS256",
            Alg::Ps384 => "PS384",
            Alg::Ps512 => "PS512",
            Alg::Es256 => "ES256",
            Alg::Es384 => "ES384",
            Alg::EdDsa => "EdDSA",
        }
    }

    fn rsa(self) -> Option<Rsa> {
        match self {
            Alg::Rs256 => Some(Rsa::rs256()),
            Alg::Rs384 => Some(Rsa::rs384()),
            Alg::Rs512 => Some(Rsa::rs512()),
            Alg::Ps256 => Some(Rsa::ps256()),
            Alg::Ps384 => Some(Rsa::ps384()),
            Alg::Ps512 => Some(Rsa::ps512()),
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
/// the signature has the wrong length or form, or it does not verify.
pub(crate) fn verify(alg: Alg, key: &PublicKey, signed: &[u8], signature: &[u8]) -> bool {
    match (key, alg.rsa()) {
        (PublicKey::Rsa(key), Some(rsa)) => check(&rsa, key, signed, signature),
        (PublicKey::P256(key), None) if alg == Alg::Es256 => check(&Es256, key, signed, signature),
        (PublicKey::P384(key), None) if alg == Alg::Es384 => check(&Es384, key, signed, signature),
        (PublicKey::Ed25519(key), None) if alg == Alg::EdDsa => {
            check(&Ed25519, key, signed, signature)
        }
        _ => false,
    }
}

/// Length check first (some `try_from_slice` implementations assume it), then the algorithm.
fn check<A: Algorithm>(alg: &A, key: &A::VerifyingKey, signed: &[u8], signature: &[u8]) -> bool {
    if let Some(len) = <A::Signature as AlgorithmSignature>::LENGTH {
        if signature.len() != len.get() {
            return false;
        }
    }
    match A::Signature::try_from_slice(signature) {
        Ok(sig) => alg.verify_signature(&sig, key, signed),
        Err(_) => false,
    }
}
