//! Token minting for tests and the demo (feature `mint`, never in the wasm build): JWTs signed
//! with RS*/PS*/ES256/ES384/EdDSA from PEM private keys, and ALB-format tokens.

use jwt_compact::alg::{Ed25519, Es256, Rsa, RsaPrivateKey};
use jwt_compact::{Algorithm, AlgorithmSignature};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, PrivateKeyInfo};
use serde_json::{Map, Value};

use super::alg::Alg;
use super::encoding::{b64_encode, b64_encode_padded};
use super::es384::Es384;
use super::keys::pem_decode;

/// A private key to sign with.
#[derive(Debug, Clone)]
pub enum SigningKey {
    /// RSA, for `RS*` / `PS*`.
    Rsa(RsaPrivateKey),
    /// P-256, for `ES256` and ALB tokens.
    P256(p256::ecdsa::SigningKey),
    /// P-384, for `ES384`.
    P384(p384::ecdsa::SigningKey),
    /// Ed25519, for `EdDSA`.
    Ed25519(ed25519_compact::SecretKey),
}

/// The DER prefix of a PKCS#8 Ed25519 private key, before its 32-byte seed (RFC 8410).
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

impl SigningKey {
    /// Reads a PKCS#8 `PRIVATE KEY` PEM (RSA, EC P-256/P-384, Ed25519) or a PKCS#1
    /// `RSA PRIVATE KEY` PEM.
    pub fn from_pem(pem: &str) -> Result<SigningKey, String> {
        let (label, der) = pem_decode(pem)?;
        match label.as_str() {
            "RSA PRIVATE KEY" => RsaPrivateKey::from_pkcs1_der(&der)
                .map(SigningKey::Rsa)
                .map_err(|e| format!("invalid rsa private key: {e}")),
            "PRIVATE KEY" => {
                let info = PrivateKeyInfo::try_from(der.as_slice())
                    .map_err(|e| format!("invalid pkcs#8 private key: {e}"))?;
                let oid = info.algorithm.oid.to_string();
                let curve = info.algorithm.parameters_oid().ok().map(|o| o.to_string());
                match (oid.as_str(), curve.as_deref()) {
                    ("1.2.840.113549.1.1.1", _) => RsaPrivateKey::from_pkcs8_der(&der)
                        .map(SigningKey::Rsa)
                        .map_err(|e| format!("invalid rsa private key: {e}")),
                    ("1.2.840.10045.2.1", Some("1.2.840.10045.3.1.7")) => {
                        p256::ecdsa::SigningKey::from_pkcs8_der(&der)
                            .map(SigningKey::P256)
                            .map_err(|e| format!("invalid P-256 private key: {e}"))
                    }
                    ("1.2.840.10045.2.1", Some("1.3.132.0.34")) => {
                        p384::ecdsa::SigningKey::from_pkcs8_der(&der)
                            .map(SigningKey::P384)
                            .map_err(|e| format!("invalid P-384 private key: {e}"))
                    }
                    ("1.3.101.112", _) => {
                        let seed = der
                            .strip_prefix(&ED25519_PKCS8_PREFIX[..])
                            .and_then(|s| <[u8; 32]>::try_from(s).ok())
                            .ok_or("invalid ed25519 private key")?;
                        let pair =
                            ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new(seed));
                        Ok(SigningKey::Ed25519(pair.sk))
                    }
                    _ => Err(format!("unsupported private key algorithm `{oid}`")),
                }
            }
            other => Err(format!(
                "unsupported pem label `{other}`; expected `PRIVATE KEY`"
            )),
        }
    }

    /// Signs `message` with `alg`; `None` when the key does not fit the algorithm.
    pub fn sign(&self, alg: Alg, message: &[u8]) -> Option<Vec<u8>> {
        fn bytes<A: Algorithm>(alg: &A, key: &A::SigningKey, message: &[u8]) -> Vec<u8> {
            alg.sign(key, message).as_bytes().into_owned()
        }
        let rsa = match alg {
            Alg::Rs256 => Some(Rsa::rs256()),
            Alg::Rs384 => Some(Rsa::rs384()),
            Alg::Rs512 => Some(Rsa::rs512()),
            Alg::Ps256 => Some(Rsa::ps256()),
            Alg::Ps384 => Some(Rsa::ps384()),
            Alg::Ps512 => Some(Rsa::ps512()),
            Alg::Es256 | Alg::Es384 | Alg::EdDsa => None,
        };
        match (self, rsa, alg) {
            (SigningKey::Rsa(key), Some(rsa), _) => Some(bytes(&rsa, key, message)),
            (SigningKey::P256(key), None, Alg::Es256) => Some(bytes(&Es256, key, message)),
            (SigningKey::P384(key), None, Alg::Es384) => Some(bytes(&Es384, key, message)),
            (SigningKey::Ed25519(key), None, Alg::EdDsa) => Some(bytes(&Ed25519, key, message)),
            _ => None,
        }
    }
}

/// How ALB token parts are base64url-encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    /// With `=` padding, as the ALB sends them.
    Padded,
    /// Without padding.
    Unpadded,
}

fn object(value: &Value, what: &str) -> Result<Map<String, Value>, String> {
    match value {
        Value::Object(map) => Ok(map.clone()),
        _ => Err(format!("{what} must be a JSON object")),
    }
}

fn encode(bytes: &[u8], padding: Padding) -> String {
    match padding {
        Padding::Padded => b64_encode_padded(bytes),
        Padding::Unpadded => b64_encode(bytes),
    }
}

fn assemble(
    key: &SigningKey,
    alg: Alg,
    header: Map<String, Value>,
    claims: &Value,
    padding: Padding,
) -> Result<String, String> {
    let header = serde_json::to_vec(&header).map_err(|e| e.to_string())?;
    let claims = serde_json::to_vec(claims).map_err(|e| e.to_string())?;
    let signed = format!("{}.{}", encode(&header, padding), encode(&claims, padding));
    let signature = key
        .sign(alg, signed.as_bytes())
        .ok_or_else(|| format!("the key cannot sign `{}`", alg.name()))?;
    Ok(format!("{signed}.{}", encode(&signature, padding)))
}

/// Signs a compact JWT with `alg` (`RS256`, `PS256`, `ES256`, `ES384`, `EdDSA`, …). The header
/// gets `"alg": alg` unless it already names one (tests use that to forge); `claims` is the
/// payload as given.
pub fn sign_jwt(
    key: &SigningKey,
    alg: &str,
    header: &Value,
    claims: &Value,
) -> Result<String, String> {
    let alg = Alg::from_name(alg).ok_or_else(|| format!("cannot sign `{alg}`"))?;
    let mut header = object(header, "header")?;
    header
        .entry("alg")
        .or_insert_with(|| Value::from(alg.name()));
    object(claims, "claims")?;
    assemble(key, alg, header, claims, Padding::Unpadded)
}

/// Mints an ALB `x-amzn-oidc-data` token: ES256 with a P-256 key, the given header (`kid`,
/// `signer`, `iss`, `client`, `exp`; `alg` and `typ` are added), parts encoded with `padding`,
/// and the signature over the encoded `header.payload` exactly as emitted.
pub fn sign_alb(
    key: &SigningKey,
    header: &Value,
    claims: &Value,
    padding: Padding,
) -> Result<String, String> {
    let mut header = object(header, "header")?;
    header.entry("alg").or_insert_with(|| Value::from("ES256"));
    header.entry("typ").or_insert_with(|| Value::from("JWT"));
    object(claims, "claims")?;
    assemble(key, Alg::Es256, header, claims, padding)
}
