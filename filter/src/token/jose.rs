//! The JWS algorithm names Gatehouse accepts: one list for the filter (which verifies them)
//! and the compiler (which reads them in policies). Nothing here depends on keys or crypto, so
//! the key readers and the verifiers both build on it.

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
