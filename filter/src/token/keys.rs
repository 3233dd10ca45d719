//! Key parsing shared by the compiler (validation) and the filter (loading): SPKI PEM and JWKS
//! documents in, [`PublicJwk`] out, and [`PublicJwk`] into a ready verifying key.
//!
//! Errors are short lowercase phrases saying what is wrong; the compiler prefixes them with the
//! file and line.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs8::DecodePublicKey;
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, RsaPublicKey};
use serde_json::{Map, Value};
use spki::SubjectPublicKeyInfoRef;

use super::encoding::{b64_encode, b64_lenient, parse_object};
use crate::table::PublicJwk;

/// Smallest RSA modulus accepted, in bits (RFC 7518 §3.3).
pub const MIN_RSA_BITS: usize = 2048;

const OID_RSA: &str = "1.2.840.113549.1.1.1";
const OID_EC: &str = "1.2.840.10045.2.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_P384: &str = "1.3.132.0.34";
const OID_ED25519: &str = "1.3.101.112";

/// Members that only a private or symmetric key has.
const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "k"];

/// One key read from a JWKS document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksKey {
    /// `kid`, when present.
    pub kid: Option<String>,
    /// `alg`, when present.
    pub alg: Option<String>,
    /// The public key.
    pub jwk: PublicJwk,
}

/// A verifying key, parsed and checked once when the table loads, kept in the form the
/// signature check (`ring`, in [`super::alg`]) reads.
#[derive(Debug, Clone)]
pub enum PublicKey {
    /// RSA, for `RS*` / `PS*`.
    Rsa(RsaKey),
    /// P-256, for `ES256`: the uncompressed SEC1 point (65 bytes).
    P256(Vec<u8>),
    /// P-384, for `ES384`: the uncompressed SEC1 point (97 bytes).
    P384(Vec<u8>),
    /// Ed25519, for `EdDSA`.
    Ed25519([u8; 32]),
}

/// An RSA public key: modulus and exponent, big-endian, without leading zeros.
#[derive(Debug, Clone)]
pub struct RsaKey {
    /// The modulus.
    pub(crate) n: Vec<u8>,
    /// The public exponent.
    pub(crate) e: Vec<u8>,
}

impl PublicKey {
    /// What kind of key this is, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            PublicKey::Rsa(_) => "RSA",
            PublicKey::P256(_) => "EC P-256",
            PublicKey::P384(_) => "EC P-384",
            PublicKey::Ed25519(_) => "Ed25519",
        }
    }
}

fn member(b64: &str, name: &str) -> Result<Vec<u8>, String> {
    b64_lenient(b64).ok_or_else(|| format!("`{name}` is not base64url"))
}

fn ec_point(x: &[u8], y: &[u8], size: usize) -> Result<Vec<u8>, String> {
    if x.len() != size || y.len() != size {
        return Err(format!("`x` and `y` must be {size} bytes each"));
    }
    let mut point = Vec::with_capacity(1 + 2 * size);
    point.push(4);
    point.extend_from_slice(x);
    point.extend_from_slice(y);
    Ok(point)
}

/// Turns a public JWK into a ready verifying key, checking that it is usable.
pub(crate) fn public_key(jwk: &PublicJwk) -> Result<PublicKey, String> {
    match jwk {
        PublicJwk::Rsa { n, e } => {
            let n = BigUint::from_bytes_be(&member(n, "n")?);
            let e = BigUint::from_bytes_be(&member(e, "e")?);
            let bits = n.bits();
            if bits < MIN_RSA_BITS {
                return Err(format!(
                    "rsa modulus is {bits} bits; at least {MIN_RSA_BITS} are required"
                ));
            }
            let key = RsaPublicKey::new(n, e).map_err(|err| format!("unusable rsa key: {err}"))?;
            Ok(PublicKey::Rsa(RsaKey {
                n: key.n().to_bytes_be(),
                e: key.e().to_bytes_be(),
            }))
        }
        PublicJwk::Ec { crv, x, y } => {
            let (x, y) = (member(x, "x")?, member(y, "y")?);
            match crv.as_str() {
                "P-256" => {
                    let point = ec_point(&x, &y, 32)?;
                    p256::ecdsa::VerifyingKey::from_sec1_bytes(&point)
                        .map(|_| PublicKey::P256(point))
                        .map_err(|_| "ec point is not on curve `P-256`".to_owned())
                }
                "P-384" => {
                    let point = ec_point(&x, &y, 48)?;
                    p384::ecdsa::VerifyingKey::from_sec1_bytes(&point)
                        .map(|_| PublicKey::P384(point))
                        .map_err(|_| "ec point is not on curve `P-384`".to_owned())
                }
                other => Err(format!(
                    "unsupported ec curve `{other}`; expected `P-256` or `P-384`"
                )),
            }
        }
        PublicJwk::Okp { crv, x } => {
            if crv != "Ed25519" {
                return Err(format!("unsupported okp curve `{crv}`; expected `Ed25519`"));
            }
            let key = ed25519_compact::PublicKey::from_slice(&member(x, "x")?)
                .map_err(|_| "ed25519 `x` must be 32 bytes".to_owned())?;
            key.validate()
                .map_err(|_| "ed25519 key is not a valid public key".to_owned())?;
            Ok(PublicKey::Ed25519(*key))
        }
    }
}

/// Splits a PEM document into its label and DER bytes.
pub(crate) fn pem_decode(pem: &str) -> Result<(String, Vec<u8>), String> {
    let text = pem.trim();
    let Some(rest) = text.strip_prefix("-----BEGIN ") else {
        return Err("not a pem document: expected `-----BEGIN PUBLIC KEY-----`".into());
    };
    let Some((label, rest)) = rest.split_once("-----") else {
        return Err("pem begin line is not closed with `-----`".into());
    };
    let end = format!("-----END {label}-----");
    let Some(body) = rest.strip_suffix(end.as_str()) else {
        return Err(format!("pem document does not end with `{end}`"));
    };
    if body.contains(':') {
        return Err("encrypted or annotated pem documents are not supported".into());
    }
    let b64: String = body.split_whitespace().collect();
    let der = STANDARD
        .decode(b64)
        .map_err(|_| format!("pem `{label}` body is not base64"))?;
    Ok((label.to_owned(), der))
}

/// Reads an SPKI PEM public key (`-----BEGIN PUBLIC KEY-----`): RSA, EC P-256/P-384, Ed25519.
/// PKCS#1 `RSA PUBLIC KEY` is accepted too.
pub fn jwk_from_pem(pem: &str) -> Result<PublicJwk, String> {
    let (label, der) = pem_decode(pem)?;
    let jwk = match label.as_str() {
        "PUBLIC KEY" => jwk_from_spki(&der)?,
        "RSA PUBLIC KEY" => rsa_jwk(
            &RsaPublicKey::from_pkcs1_der(&der).map_err(|_| "invalid pkcs#1 rsa public key")?,
        ),
        l if l.contains("PRIVATE") => {
            return Err(format!(
                "`{l}` is a private key; give the public key (`openssl pkey -pubout`)"
            ))
        }
        l => {
            return Err(format!(
                "unsupported pem label `{l}`; expected `PUBLIC KEY`"
            ))
        }
    };
    public_key(&jwk)?;
    Ok(jwk)
}

fn rsa_jwk(key: &RsaPublicKey) -> PublicJwk {
    PublicJwk::Rsa {
        n: b64_encode(&key.n().to_bytes_be()),
        e: b64_encode(&key.e().to_bytes_be()),
    }
}

fn ec_jwk(crv: &str, uncompressed: &[u8], size: usize) -> Result<PublicJwk, String> {
    match uncompressed {
        [4, coords @ ..] if coords.len() == 2 * size => {
            let (x, y) = coords.split_at(size);
            Ok(PublicJwk::Ec {
                crv: crv.to_owned(),
                x: b64_encode(x),
                y: b64_encode(y),
            })
        }
        _ => Err(format!("invalid `{crv}` point")),
    }
}

fn jwk_from_spki(der: &[u8]) -> Result<PublicJwk, String> {
    let spki = SubjectPublicKeyInfoRef::try_from(der)
        .map_err(|_| "invalid subject public key info".to_owned())?;
    let oid = spki.algorithm.oid.to_string();
    let bits = spki
        .subject_public_key
        .as_bytes()
        .ok_or("public key bit string is not whole bytes")?;
    match oid.as_str() {
        OID_RSA => {
            let key = RsaPublicKey::from_public_key_der(der)
                .map_err(|_| "invalid rsa public key".to_owned())?;
            Ok(rsa_jwk(&key))
        }
        OID_EC => {
            let curve = spki
                .algorithm
                .parameters_oid()
                .map_err(|_| "ec key without a named curve".to_owned())?
                .to_string();
            match curve.as_str() {
                OID_P256 => {
                    let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(bits)
                        .map_err(|_| "invalid `P-256` point".to_owned())?;
                    ec_jwk("P-256", key.to_encoded_point(false).as_bytes(), 32)
                }
                OID_P384 => {
                    let key = p384::ecdsa::VerifyingKey::from_sec1_bytes(bits)
                        .map_err(|_| "invalid `P-384` point".to_owned())?;
                    ec_jwk("P-384", key.to_encoded_point(false).as_bytes(), 48)
                }
                other => Err(format!(
                    "unsupported ec curve `{other}`; expected P-256 or P-384"
                )),
            }
        }
        OID_ED25519 if bits.len() == 32 => Ok(PublicJwk::Okp {
            crv: "Ed25519".into(),
            x: b64_encode(bits),
        }),
        OID_ED25519 => Err("ed25519 public key must be 32 bytes".into()),
        other => Err(format!(
            "unsupported key algorithm `{other}`; expected RSA, EC P-256/P-384 or Ed25519"
        )),
    }
}

fn string_member<'a>(key: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, String> {
    match key.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("`{name}` must be a string")),
    }
}

fn required(key: &Map<String, Value>, name: &str) -> Result<String, String> {
    string_member(key, name)?
        .map(str::to_owned)
        .ok_or_else(|| format!("missing `{name}`"))
}

/// Whether `alg` can be used with a key of type `kty`.
fn alg_fits(alg: &str, kty: &str, crv: Option<&str>) -> bool {
    super::jose::Alg::from_name(alg).is_some_and(|a| a.fits_jwk(kty, crv))
}

fn jwks_key(key: &Map<String, Value>) -> Result<JwksKey, String> {
    let kid = string_member(key, "kid")?.map(str::to_owned);
    if let Some(private) = PRIVATE_MEMBERS.iter().find(|m| key.contains_key(**m)) {
        return Err(format!(
            "private member `{private}` in a public key set; publish only public keys"
        ));
    }
    if let Some(usage) = string_member(key, "use")? {
        if usage != "sig" {
            return Err(format!("`use` is `{usage}`; expected `sig`"));
        }
    }
    let kty = required(key, "kty")?;
    let crv = string_member(key, "crv")?;
    let jwk = match kty.as_str() {
        "RSA" => PublicJwk::Rsa {
            n: required(key, "n")?,
            e: required(key, "e")?,
        },
        "EC" => PublicJwk::Ec {
            crv: required(key, "crv")?,
            x: required(key, "x")?,
            y: required(key, "y")?,
        },
        "OKP" => PublicJwk::Okp {
            crv: required(key, "crv")?,
            x: required(key, "x")?,
        },
        "oct" => return Err("symmetric key (`kty` `oct`) is not allowed".into()),
        other => return Err(format!("unsupported `kty` `{other}`")),
    };
    let alg = string_member(key, "alg")?.map(str::to_owned);
    if let Some(alg) = &alg {
        if !alg_fits(alg, &kty, crv) {
            return Err(format!("`alg` `{alg}` does not fit a `{kty}` key"));
        }
    }
    public_key(&jwk)?;
    Ok(JwksKey { kid, alg, jwk })
}

/// Reads a JWKS document (`{"keys": [...]}`); refuses private members and unusable keys.
pub fn parse_jwks(json: &str) -> Result<Vec<JwksKey>, String> {
    let doc = parse_object(json.as_bytes()).map_err(|e| format!("invalid jwks json: {e}"))?;
    let Some(Value::Array(entries)) = doc.get("keys") else {
        return Err("jwks must be an object with a `keys` array".into());
    };
    if entries.is_empty() {
        return Err("jwks `keys` is empty".into());
    }
    let mut out: Vec<JwksKey> = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let Value::Object(entry) = entry else {
            return Err(format!("key {i}: not an object"));
        };
        let key = jwks_key(entry).map_err(|e| match entry.get("kid") {
            Some(Value::String(kid)) => format!("key {i} (`{kid}`): {e}"),
            _ => format!("key {i}: {e}"),
        })?;
        if key.kid.is_some() && out.iter().any(|k| k.kid == key.kid) {
            return Err(format!("key {i}: duplicate kid"));
        }
        out.push(key);
    }
    if out.len() > 1 && out.iter().any(|k| k.kid.is_none()) {
        return Err("a key without `kid` must be the only key in the set".into());
    }
    Ok(out)
}
