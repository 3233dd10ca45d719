//! The test keys in `testdata/keys` as bench issuers and signers: one issuer per key family
//! (Dex RSA for RS256/384/512 and PS256, an extra issuer for ES256 / ES384 / EdDSA, the ALB
//! P-256 key), and tokens minted with `gatehouse_filter::token::mint`.

use gatehouse_filter::table::{AlbIssuerSpec, IssuerSpec, JwtIssuerSpec, KeySpec};
use gatehouse_filter::token::keys::{jwk_from_pem, parse_jwks};
use gatehouse_filter::token::mint::{sign_alb, sign_jwt, Padding, SigningKey};
use serde_json::{json, Value};

macro_rules! key_file {
    ($name:literal) => {
        include_str!(concat!("../../testdata/keys/", $name))
    };
}

/// Dex's issuer URL, as in `policies/issuers.yaml`.
pub const DEX_ISSUER: &str = "https://dex.example.com";
/// Dex's audience, as in `policies/issuers.yaml`.
pub const DEX_AUDIENCE: &str = "kubeflow-oidc-authservice";
/// The extra EC / EdDSA issuer.
pub const EXTRA_ISSUER: &str = "https://extra.example.com";
/// The ALB ARN `policies/issuers.yaml` pins.
pub const ALB_SIGNER: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/kubeflow/50dc6c495c0c9188";

/// Every bearer algorithm the benches verify, with the key id that signs it.
pub const JWT_ALGS: [(&str, &str); 7] = [
    ("RS256", "dex-1"),
    ("RS384", "dex-1"),
    ("RS512", "dex-1"),
    ("PS256", "dex-1"),
    ("ES256", "extra-es256"),
    ("ES384", "extra-es384"),
    ("EdDSA", "extra-ed25519"),
];

fn jwks(json: &str, source: &str) -> Result<Vec<KeySpec>, String> {
    Ok(parse_jwks(json)?
        .into_iter()
        .map(|k| KeySpec {
            kid: k.kid,
            jwk: k.jwk,
            source: source.into(),
            not_after: None,
        })
        .collect())
}

/// The bench issuers: `dex` (RS*/PS256), `extra` (ES256, ES384, EdDSA), `alb`.
pub fn issuers() -> Result<Vec<IssuerSpec>, String> {
    let jwt = |name: &str, issuer: &str, algs: &[&str], keys| JwtIssuerSpec {
        key_fetch: None,
        name: name.into(),
        issuer: issuer.into(),
        audiences: vec![DEX_AUDIENCE.into()],
        algorithms: algs.iter().map(|a| a.to_string()).collect(),
        user_claim: "email".into(),
        groups_claim: Some("groups".into()),
        groups_prefix: String::new(),
        max_lifetime_seconds: None,
        identities: None,
        require_email_verified: true,
        keys,
        bearer: true,
        sign_in: None,
    };
    Ok(vec![
        IssuerSpec::Jwt(jwt(
            "dex",
            DEX_ISSUER,
            &["RS256", "RS384", "RS512", "PS256"],
            jwks(key_file!("dex.jwks.json"), "dex.jwks.json")?,
        )),
        IssuerSpec::Jwt(jwt(
            "extra",
            EXTRA_ISSUER,
            &["ES256", "ES384", "EdDSA"],
            jwks(key_file!("extra.jwks.json"), "extra.jwks.json")?,
        )),
        IssuerSpec::Alb(AlbIssuerSpec {
            key_fetch: None,
            name: "alb".into(),
            region: "us-east-1".into(),
            signers: vec![ALB_SIGNER.into()],
            issuer: None,
            client: None,
            user_claim: "email".into(),
            require_email_verified: true,
            keys: vec![KeySpec {
                kid: Some("alb-1".into()),
                jwk: jwk_from_pem(key_file!("alb-1.pem"))?,
                source: "alb-1.pem".into(),
                not_after: None,
            }],
            access_token: None,
        }),
    ])
}

/// The private key behind a key id of [`JWT_ALGS`] (or `alb-1`).
pub fn signing_key(kid: &str) -> Result<SigningKey, String> {
    let pem = match kid {
        "dex-1" => key_file!("dex-rsa.key.pem"),
        "extra-es256" => key_file!("extra-es256.key.pem"),
        "extra-es384" => key_file!("extra-es384.key.pem"),
        "extra-ed25519" => key_file!("extra-ed25519.key.pem"),
        "alb-1" => key_file!("alb-1.key.pem"),
        other => return Err(format!("no bench key `{other}`")),
    };
    SigningKey::from_pem(pem)
}

/// Claims of a bearer token for `user`, valid from `now` for `ttl` seconds; `jti` makes each
/// token distinct (fresh-token runs need a new token per request).
pub fn jwt_claims(issuer: &str, user: &str, now: u64, ttl: u64, jti: u64) -> Value {
    json!({
        "iss": issuer,
        "sub": user,
        "aud": DEX_AUDIENCE,
        "email": user,
        "email_verified": true,
        "groups": ["ml-team", "analysts"],
        "iat": now,
        "nbf": now,
        "exp": now + ttl,
        "jti": jti.to_string(),
    })
}

/// A bearer JWT signed with `alg` by key `kid`.
pub fn mint_jwt(key: &SigningKey, alg: &str, kid: &str, claims: &Value) -> Result<String, String> {
    sign_jwt(key, alg, &json!({"kid": kid, "typ": "JWT"}), claims)
}

/// An ALB `x-amzn-oidc-data` token (padded parts) for `user`, signed by `alb-1`.
pub fn mint_alb(
    key: &SigningKey,
    user: &str,
    now: u64,
    ttl: u64,
    jti: u64,
) -> Result<String, String> {
    let header = json!({"kid": "alb-1", "signer": ALB_SIGNER, "exp": now + ttl});
    let claims =
        json!({"sub": jti.to_string(), "email": user, "email_verified": "true", "exp": now + ttl});
    sign_alb(key, &header, &claims, Padding::Padded)
}
