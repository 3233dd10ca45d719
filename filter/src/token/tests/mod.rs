//! Token verification tests: issuers built from `testdata/keys`, tokens minted with
//! [`super::mint`]. Every check in the verification path has a test that fails without it.

mod access;
mod alb;
mod bearer;
mod bearer_claims;
mod identify;
mod keys;
mod samples;
mod wycheproof;

use std::sync::OnceLock;

use serde_json::{json, Value};

use super::keys::{jwk_from_pem, parse_jwks};
use super::mint::{sign_alb, sign_jwt, Padding, SigningKey};
use super::{TokenFailure, VerifiedToken, Verifiers};
use crate::reason::DenyReason;
use crate::table::{
    AccessTokenSpec, AlbIssuerSpec, IdentitySpace, IssuerSpec, JwtIssuerSpec, KeySpec,
};

/// The clock every test runs at.
pub const NOW: u64 = 1_700_000_000;
/// Clock skew allowed.
pub const LEEWAY: u64 = 60;

pub const DEX: &str = "https://dex.example.com";
pub const COGNITO: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_TEST";
pub const EKS: &str = "https://oidc.eks.us-east-1.amazonaws.com/id/TEST";
pub const EXTRA: &str = "https://extra.example.com";
pub const ALB_SIGNER: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/kubeflow/50dc6c495c0c9188";
pub const ALB_ISS: &str = "https://dex.example.com";
pub const ALB_CLIENT: &str = "kubeflow-oidc-authservice";
/// Another app client the ALB issuer's access tokens may name (not the ALB's own).
pub const OTHER_CLIENT: &str = "notebooks-cli";

macro_rules! key_file {
    ($name:literal) => {
        include_str!(concat!("../../../../testdata/keys/", $name))
    };
}
pub(crate) use key_file;

/// A private test key by file name.
pub fn signing_key(pem: &str) -> SigningKey {
    match SigningKey::from_pem(pem) {
        Ok(k) => k,
        Err(e) => unreachable!("test key: {e}"),
    }
}

pub fn dex_key() -> SigningKey {
    signing_key(key_file!("dex-rsa.key.pem"))
}

pub fn alb_key() -> SigningKey {
    signing_key(key_file!("alb-1.key.pem"))
}

fn jwks_keys(json: &str, source: &str) -> Vec<KeySpec> {
    let keys = parse_jwks(json).unwrap_or_else(|e| unreachable!("{source}: {e}"));
    keys.into_iter()
        .map(|k| KeySpec {
            kid: k.kid,
            jwk: k.jwk,
            source: source.into(),
            not_after: None,
        })
        .collect()
}

pub fn jwt_issuer(name: &str, issuer: &str, keys: Vec<KeySpec>) -> JwtIssuerSpec {
    JwtIssuerSpec {
        key_fetch: None,
        name: name.into(),
        issuer: issuer.into(),
        audiences: Vec::new(),
        algorithms: vec!["RS256".into()],
        user_claim: "sub".into(),
        groups_claim: None,
        groups_prefix: String::new(),
        max_lifetime_seconds: None,
        identities: None,
        require_email_verified: true,
        keys,
        bearer: true,
        sign_in: None,
    }
}

/// The test table's issuers: Dex, Cognito, EKS ServiceAccounts, an extra EC/EdDSA issuer, ALB.
pub fn issuers() -> Vec<IssuerSpec> {
    let dex = JwtIssuerSpec {
        key_fetch: None,
        audiences: vec!["kubeflow".into()],
        algorithms: vec![
            "RS256".into(),
            "RS384".into(),
            "RS512".into(),
            "PS256".into(),
        ],
        user_claim: "email".into(),
        groups_claim: Some("groups".into()),
        groups_prefix: "dex:".into(),
        max_lifetime_seconds: Some(86_400),
        ..jwt_issuer(
            "dex",
            DEX,
            jwks_keys(key_file!("dex.jwks.json"), "dex.jwks.json"),
        )
    };
    let cognito = JwtIssuerSpec {
        key_fetch: None,
        user_claim: "username".into(),
        groups_claim: Some("cognito:groups".into()),
        ..jwt_issuer(
            "cognito",
            COGNITO,
            jwks_keys(key_file!("cognito.jwks.json"), "cognito.jwks.json"),
        )
    };
    let eks = JwtIssuerSpec {
        key_fetch: None,
        audiences: vec!["gatehouse".into()],
        identities: Some(IdentitySpace::ServiceAccounts),
        ..jwt_issuer(
            "eks",
            EKS,
            jwks_keys(key_file!("eks-sa.jwks.json"), "eks-sa.jwks.json"),
        )
    };
    let extra = JwtIssuerSpec {
        key_fetch: None,
        algorithms: vec!["ES256".into(), "ES384".into(), "EdDSA".into()],
        ..jwt_issuer(
            "extra",
            EXTRA,
            jwks_keys(key_file!("extra.jwks.json"), "extra.jwks.json"),
        )
    };
    // The pool's access tokens, as the ALB forwards them: the same pool and keys as
    // `cognito`, for access tokens only.
    let alb_access = JwtIssuerSpec {
        groups_claim: Some("cognito:groups".into()),
        groups_prefix: "cognito:".into(),
        bearer: false,
        ..jwt_issuer(
            "alb-access",
            COGNITO,
            jwks_keys(key_file!("cognito.jwks.json"), "cognito.jwks.json"),
        )
    };
    let alb_pem = key_file!("alb-1.pem");
    let alb = AlbIssuerSpec {
        key_fetch: None,
        name: "alb".into(),
        region: "us-east-1".into(),
        signers: vec![ALB_SIGNER.into()],
        issuer: Some(ALB_ISS.into()),
        client: Some(ALB_CLIENT.into()),
        user_claim: "email".into(),
        require_email_verified: true,
        keys: vec![KeySpec {
            kid: Some("alb-1".into()),
            jwk: jwk_from_pem(alb_pem).unwrap_or_else(|e| unreachable!("alb-1.pem: {e}")),
            source: "alb-1.pem".into(),
            not_after: None,
        }],
        access_token: Some(AccessTokenSpec {
            issuer: "alb-access".into(),
            client_ids: vec![ALB_CLIENT.into(), OTHER_CLIENT.into()],
            required: false,
        }),
    };
    vec![
        IssuerSpec::Jwt(dex),
        IssuerSpec::Jwt(cognito),
        IssuerSpec::Jwt(eks),
        IssuerSpec::Jwt(extra),
        IssuerSpec::Jwt(alb_access),
        IssuerSpec::Alb(alb),
    ]
}

/// Verifiers for [`issuers`], built once.
pub fn verifiers() -> &'static Verifiers {
    static V: OnceLock<Verifiers> = OnceLock::new();
    V.get_or_init(|| Verifiers::new(&issuers()).unwrap_or_else(|e| unreachable!("{e}")))
}

/// Claims of a good Dex token for alice.
pub fn dex_claims() -> Value {
    json!({
        "iss": DEX,
        "sub": "CiQwOGE4Njg0Yi1kYjg4LTRiNzMtOTBhOS0zY2QxNjYxZjU0NjYSBWxvY2Fs",
        "aud": "kubeflow",
        "email": "alice@example.com",
        "email_verified": true,
        "groups": ["admins", "ml-team"],
        "iat": NOW - 10,
        "exp": NOW + 3600,
    })
}

/// Signs with `key` and `alg`; `header` may add members (or override `alg`).
pub fn jwt(key: &SigningKey, alg: &str, header: Value, claims: &Value) -> String {
    sign_jwt(key, alg, &header, claims).unwrap_or_else(|e| unreachable!("mint: {e}"))
}

/// A Dex RS256 token with kid `dex-1` and these claims.
pub fn dex_token(claims: &Value) -> String {
    jwt(
        &dex_key(),
        "RS256",
        json!({"kid": "dex-1", "typ": "JWT"}),
        claims,
    )
}

pub fn bearer(token: &str) -> Result<VerifiedToken, TokenFailure> {
    verifiers().verify_bearer(token, NOW, LEEWAY)
}

pub fn alb(token: &str) -> Result<VerifiedToken, TokenFailure> {
    verifiers().verify_alb(token, NOW, LEEWAY)
}

/// The deny reason of a result that must have failed.
pub fn reason(result: Result<VerifiedToken, TokenFailure>) -> DenyReason {
    match result {
        Ok(v) => unreachable!("expected a failure, got {v:?}"),
        Err(f) => f.reason,
    }
}

/// The verified token of a result that must have succeeded.
pub fn ok(result: Result<VerifiedToken, TokenFailure>) -> VerifiedToken {
    result.unwrap_or_else(|f| unreachable!("expected success, got {f:?}"))
}

/// The ALB header of a good token.
pub fn alb_header() -> Value {
    json!({
        "kid": "alb-1",
        "signer": ALB_SIGNER,
        "iss": ALB_ISS,
        "client": ALB_CLIENT,
        "exp": NOW + 120,
    })
}

/// The ALB payload of a good token.
pub fn alb_claims() -> Value {
    json!({"sub": "1234567890", "email": "alice@example.com", "email_verified": "true", "exp": NOW + 120, "iss": ALB_ISS})
}

pub fn alb_token(key: &SigningKey, header: &Value, claims: &Value, padding: Padding) -> String {
    sign_alb(key, header, claims, padding).unwrap_or_else(|e| unreachable!("mint: {e}"))
}

/// Signs raw header and payload bytes (for JSON a [`Value`] cannot hold).
pub fn raw_jwt(key: &SigningKey, alg: super::alg::Alg, header: &[u8], payload: &[u8]) -> String {
    use super::encoding::b64_encode;
    let signed = format!("{}.{}", b64_encode(header), b64_encode(payload));
    let sig = key
        .sign(alg, signed.as_bytes())
        .unwrap_or_else(|| unreachable!("key does not fit"));
    format!("{signed}.{}", b64_encode(&sig))
}
