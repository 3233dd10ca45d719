//! The signature algorithms Gatehouse accepts, and the signature check itself, with `ring`:
//! inside wasm (V8) its RSA, ECDSA and Ed25519 verification is several times faster than the
//! RustCrypto crates behind jwt-compact (measured in `bench/RESULTS.md`). Keys are still parsed
//! and validated with RustCrypto when the table loads, and tokens are minted with jwt-compact.
//! HMAC (`HS*`) and `none` are not algorithms here at all: a token naming them is refused
//! before any key is looked at.

use ring::signature::{self as sig, RsaPublicKeyComponents, UnparsedPublicKey};

use super::keys::PublicKey;

/// A JWS algorithm Gatehouse can verify: the one list the filter verifies and the compiler
/// accepts in a policy (`algorithms:`), written by its JOSE name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
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

    /// Every supported algorithm's name, in [`Alg::ALL`]'s order.
    pub const NAMES: [&'static str; 9] = [
        "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
    ];

    /// Whether a JWK of type `kty` (and curve `crv`) can verify this algorithm.
    pub fn fits_jwk(self, kty: &str, crv: Option<&str>) -> bool {
        match self {
            Alg::Rs256 | Alg::Rs384 | Alg::Rs512 | Alg::Ps256 | Alg::Ps384 | Alg::Ps512 => {
                kty == "RSA"
            }
            Alg::Es256 => kty == "EC" && crv == Some("P-256"),
            Alg::Es384 => kty == "EC" && crv == Some("P-384"),
            Alg::EdDsa => kty == "OKP" && crv.is_none_or(|c| c == "Ed25519"),
        }
    }

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

impl serde::Serialize for Alg {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for Alg {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Alg, D::Error> {
        let name = String::deserialize(d)?;
        Alg::from_name(&name).ok_or_else(|| serde::de::Error::unknown_variant(&name, &Alg::NAMES))
    }
}

#[cfg(test)]
mod names {
    use super::Alg;

    #[test]
    fn names_list_every_algorithm_in_order() {
        let names: Vec<&str> = Alg::ALL.iter().map(|a| a.name()).collect();
        assert_eq!(names, Alg::NAMES);
        for a in Alg::ALL {
            assert_eq!(Alg::from_name(a.name()), Some(a));
        }
    }
}
