//! The hostile-token corpus: every case of `testdata/hostile/cases.json`, minted from the test
//! keys in `testdata/keys` with `gatehouse_filter::token::mint`. Valid tokens expire on
//! 2100-01-01, so the files stay valid; the expected outcomes hold for any clock between 2024
//! and 2096.
//!
//! A case is a list of request headers and the outcome on an authenticated route: `allow:<user>`
//! or a deny reason code. `envoy` overrides the outcome where Envoy answers before the filter
//! (or normalizes a header value first); `issuer: "extra"` marks cases that need the `extra`
//! issuer of `testdata/hostile/policies` (absent from `policies/`).

use gatehouse_filter::token::alg::Alg;
use gatehouse_filter::token::encoding::{b64_encode, b64_encode_padded};
use gatehouse_filter::token::mint::{sign_alb, sign_jwt, Padding, SigningKey};
use serde_json::{json, Value};

use super::harness::root;

pub const EXP: u64 = 4_102_444_800; // 2100-01-01
pub const IAT: u64 = EXP - 3600;
pub const DEX: &str = "https://dex.example.com";
pub const AUD: &str = "kubeflow-oidc-authservice";
pub const EXTRA: &str = "https://extra.example.com";
pub const EKS: &str =
    "https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE";
pub const ARN: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/kubeflow/50dc6c495c0c9188";
const EVIL_ARN: &str =
    "arn:aws:elasticloadbalancing:us-east-1:999999999999:loadbalancer/app/evil/0123456789abcdef";
const ATTACKER: &str = "https://attacker.example.net/keys.json";
/// The hostile policies' user pool (issuers `cognito` and `cognito-access`).
const POOL: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Example";
/// The load balancer of the hostile policies' `strict-alb` issuer.
const STRICT_ARN: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/strict/0a1b2c3d4e5f6a7b";

/// The order of the P-256 group (for high-S signatures).
const P256_N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

pub fn key(name: &str) -> SigningKey {
    let pem = std::fs::read_to_string(root().join("testdata/keys").join(name)).unwrap();
    SigningKey::from_pem(&pem).unwrap()
}

/// One case, as written to `cases.json`.
struct Case {
    name: &'static str,
    why: &'static str,
    headers: Vec<Value>,
    expect: String,
    envoy: Option<String>,
    issuer: Option<&'static str>,
    /// Request headers that must not reach the upstream, in any spelling.
    absent: Vec<&'static str>,
    /// The outcome through Envoy over HTTP/2, where it differs from `envoy` over HTTP/1.1.
    envoy_h2: Option<&'static str>,
}

fn header(name: &str, value: &str) -> Value {
    json!({"name": name, "value": value})
}

fn bearer(token: &str) -> Value {
    header("authorization", &format!("Bearer {token}"))
}

fn alb(token: &str) -> Value {
    header("x-amzn-oidc-data", token)
}

fn access(token: &str) -> Value {
    header("x-amzn-oidc-accesstoken", token)
}

fn jwt(key: &SigningKey, alg: &str, header: Value, claims: &Value) -> String {
    sign_jwt(key, alg, &header, claims).unwrap()
}

/// Signs raw header and payload bytes (JSON a `Value` cannot hold).
fn raw_jwt(key: &SigningKey, alg: Alg, header: &[u8], payload: &[u8]) -> String {
    let signed = format!("{}.{}", b64_encode(header), b64_encode(payload));
    let sig = key.sign(alg, signed.as_bytes()).unwrap();
    format!("{signed}.{}", b64_encode(&sig))
}

fn dex_claims(email: &str) -> Value {
    json!({"iss": DEX, "aud": AUD, "email": email, "email_verified": true, "groups": ["ml-researchers"], "iat": IAT, "exp": EXP})
}

fn extra_claims() -> Value {
    json!({"iss": EXTRA, "aud": "gatehouse-extra", "email": "erin@example.com", "email_verified": true, "iat": IAT, "exp": EXP})
}

fn alb_header() -> Value {
    json!({"kid": "alb-1", "signer": ARN, "exp": EXP})
}

fn alb_claims(email: &str) -> Value {
    json!({"email": email, "email_verified": "true", "sub": email, "exp": EXP})
}

fn alb_token(key: &SigningKey, header: &Value, claims: &Value) -> String {
    sign_alb(key, header, claims, Padding::Padded).unwrap()
}

/// Replaces a token's signature segment by `sig`, encoded as the rest of the token is.
fn with_signature(token: &str, sig: &[u8], padded: bool) -> String {
    let (signed, _) = token.rsplit_once('.').unwrap();
    let enc = if padded {
        b64_encode_padded(sig)
    } else {
        b64_encode(sig)
    };
    format!("{signed}.{enc}")
}

fn signature_of(token: &str, padded: bool) -> Vec<u8> {
    use base64::Engine as _;
    let sig = token.rsplit_once('.').unwrap().1;
    let e = if padded {
        base64::engine::general_purpose::URL_SAFE
    } else {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
    };
    e.decode(sig).unwrap()
}

/// `n - s` for a raw P-256 `r || s` signature: the same signature with a high S.
fn high_s(sig: &[u8]) -> Vec<u8> {
    let (r, s) = sig.split_at(32);
    let mut out = [0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let d = i16::from(P256_N[i]) - i16::from(s[i]) - borrow;
        borrow = i16::from(d < 0);
        out[i] = (d + 256 * borrow) as u8;
    }
    [r, &out[..]].concat()
}

/// DER `SEQUENCE { INTEGER r, INTEGER s }` for a raw `r || s` signature.
fn der(sig: &[u8]) -> Vec<u8> {
    let int = |x: &[u8]| {
        let x: Vec<u8> = x.iter().copied().skip_while(|b| *b == 0).collect();
        let mut v = if x.first().is_some_and(|b| *b >= 0x80) {
            vec![0]
        } else {
            vec![]
        };
        v.extend(x);
        let mut out = vec![0x02, v.len() as u8];
        out.extend(v);
        out
    };
    let body = [int(&sig[..32]), int(&sig[32..])].concat();
    [vec![0x30, body.len() as u8], body].concat()
}

fn none_token(alg: &str, claims: &Value, signature: &str) -> String {
    let h = b64_encode(json!({"alg": alg, "kid": "dex-1"}).to_string().as_bytes());
    format!(
        "{h}.{}.{signature}",
        b64_encode(claims.to_string().as_bytes())
    )
}

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    let dex_key = key("dex-rsa.key.pem");
    let rogue = key("rogue-rsa.key.pem");
    let alb_key = key("alb-1.key.pem");
    let attacker = key("alb-attacker.key.pem");
    let es256 = key("extra-es256.key.pem");
    let es384 = key("extra-es384.key.pem");
    let ed25519 = key("extra-ed25519.key.pem");
    let dex = |header: Value, claims: &Value| jwt(&dex_key, "RS256", header, claims);
    let dex_kid = |claims: &Value| dex(json!({"kid": "dex-1", "typ": "JWT"}), claims);
    let alice = dex_kid(&dex_claims("alice@example.com"));
    let bob = dex_kid(&dex_claims("bob@example.com"));
    let alice_alb = alb_token(&alb_key, &alb_header(), &alb_claims("alice@example.com"));
    let alice_sig = signature_of(&alice_alb, true);
    let alb_unpadded = sign_alb(&alb_key, &alb_header(), &alb_claims("alice@example.com"), Padding::Unpadded).unwrap();
    let claims_with = |k: &str, v: Value| {
        let mut c = dex_claims("alice@example.com");
        c[k] = v;
        dex_kid(&c)
    };
    let claims_without = |k: &str| {
        let mut c = dex_claims("alice@example.com");
        c.as_object_mut().unwrap().remove(k);
        dex_kid(&c)
    };
    let alb_header_with = |k: &str, v: Value| {
        let mut h = alb_header();
        h[k] = v;
        alb_token(&alb_key, &h, &alb_claims("alice@example.com"))
    };
    let alb_header_without = |k: &str| {
        let mut h = alb_header();
        h.as_object_mut().unwrap().remove(k);
        alb_token(&alb_key, &h, &alb_claims("alice@example.com"))
    };
    let hs256 = std::fs::read_to_string(root().join("testdata/tokens/dex-hs256-public-key.jwt")).unwrap().trim().to_string();
    let extra = |k: &SigningKey, alg: &str, header: Value| jwt(k, alg, header, &extra_claims());
    let es256_ok = extra(&es256, "ES256", json!({"kid": "extra-es256"}));
    let alb_changed_payload = {
        let (h, _) = alice_alb.split_once('.').unwrap();
        let sig = alice_alb.rsplit_once('.').unwrap().1;
        let p = b64_encode_padded(alb_claims("admin@example.com").to_string().as_bytes());
        format!("{h}.{p}.{sig}")
    };
    let alb_changed_header = {
        let mut h = alb_header();
        h["signer"] = json!(EVIL_ARN);
        h["alg"] = json!("ES256");
        h["typ"] = json!("JWT");
        let (_, rest) = alice_alb.split_once('.').unwrap();
        format!("{}.{rest}", b64_encode_padded(h.to_string().as_bytes()))
    };
    let nested = |depth: usize| format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
    let big_claim = |bytes: usize| {
        let mut c = dex_claims("alice@example.com");
        c["pad"] = json!("x".repeat(bytes));
        dex_kid(&c)
    };
    let over_16k = {
        // Grow a claim until the token is just over 16 KiB.
        let mut n = 11_500;
        loop {
            let t = big_claim(n);
            if t.len() > 16 * 1024 {
                break t;
            }
            n += 1;
        }
    };
    let mut under_sig = alice.clone();
    {
        // An RS256 signature is 256 bytes: its last base64url character carries 2 bits and
        // 4 zero bits. `B` sets a zero bit: the same bytes in a non-canonical encoding.
        under_sig.pop();
        under_sig.push('B');
    }
    let bytes_header = |name: &str, bytes: &[u8]| json!({"name": name, "value_hex": hex(bytes)});

    let c = |name, why, headers: Vec<Value>, expect: &str| Case {
        name, why, headers, expect: expect.to_string(), envoy: None, issuer: None, absent: vec![], envoy_h2: None,
    };
    let absent = |mut case: Case, names: &[&'static str]| {
        case.absent = names.to_vec();
        case
    };
    let extra_case = |name, why, headers: Vec<Value>, expect: &str| Case {
        issuer: Some("extra"), ..c(name, why, headers, expect)
    };
    let envoy = |mut case: Case, envoy: &str| {
        case.envoy = Some(envoy.to_string());
        case
    };
    const A: &str = "allow:alice@example.com";
    // The ALB's Cognito access token (x-amzn-oidc-accesstoken), signed by the pool's key.
    let pool = key("cognito-rsa.key.pem");
    let access_claims = || json!({"iss": POOL, "sub": "alice@example.com", "token_use": "access", "client_id": "kubeflow-alb", "username": "alice", "cognito:groups": ["ml-team"], "iat": IAT, "exp": EXP});
    let access_with = |k: &str, v: Value| {
        let mut c = access_claims();
        c[k] = v;
        jwt(&pool, "RS256", json!({"kid": "cognito-1"}), &c)
    };
    let access_ok = jwt(&pool, "RS256", json!({"kid": "cognito-1"}), &access_claims());
    let access_tampered = {
        let (h, rest) = access_ok.split_once('.').unwrap();
        let sig = rest.rsplit_once('.').unwrap().1;
        let mut c = access_claims();
        c["cognito:groups"] = json!(["platform-admins"]);
        format!("{h}.{}.{sig}", b64_encode(c.to_string().as_bytes()))
    };
    let access_alg = |alg: &str| {
        let (_, rest) = access_ok.split_once('.').unwrap();
        format!("{}.{rest}", b64_encode(json!({"alg": alg, "kid": "cognito-1"}).to_string().as_bytes()))
    };
    let strict_alb = alb_token(&alb_key, &json!({"kid": "alb-1", "signer": STRICT_ARN, "exp": EXP}), &alb_claims("alice@example.com"));
    let alb_for_client = alb_header_with("client", json!("kubeflow-alb"));

    vec![
        // Controls: what must keep working.
        c("control-dex", "a good Dex RS256 token", vec![bearer(&alice)], A),
        c("control-alb", "a good ALB token, padded", vec![alb(&alice_alb)], A),
        c("control-alb-unpadded", "a good ALB token without padding", vec![alb(&alb_unpadded)], A),
        extra_case("control-extra-es256", "a good ES256 token of the extra issuer", vec![bearer(&es256_ok)], "allow:erin@example.com"),
        extra_case("control-extra-eddsa", "a good EdDSA token of the extra issuer", vec![bearer(&extra(&ed25519, "EdDSA", json!({"kid": "extra-ed25519"})))], "allow:erin@example.com"),
        c("dex-no-kid-only-key", "no kid, issuer with one key: the only key is used (table contract)", vec![bearer(&dex(json!({}), &dex_claims("alice@example.com")))], A),
        c("scheme-lower-case", "`bearer` in lower case is accepted (RFC 7235: case-insensitive)", vec![header("authorization", &format!("bearer {alice}"))], A),
        c("scheme-upper-case", "`BEARER` is accepted too", vec![header("authorization", &format!("BEARER {alice}"))], A),
        c("aud-array", "`aud` as an array holding the audience", vec![bearer(&claims_with("aud", json!(["other", AUD])))], A),
        c("alb-and-bearer-same-user", "both tokens, one user: allowed", vec![alb(&alice_alb), bearer(&alice)], A),

        // alg: none, HMAC, algorithm confusion.
        c("alg-none", "`alg: none` with an empty signature", vec![bearer(&none_token("none", &dex_claims("alice@example.com"), ""))], "algorithm_not_allowed"),
        c("alg-None", "`None` spelling", vec![bearer(&none_token("None", &dex_claims("alice@example.com"), ""))], "algorithm_not_allowed"),
        c("alg-NONE", "`NONE` spelling", vec![bearer(&none_token("NONE", &dex_claims("alice@example.com"), ""))], "algorithm_not_allowed"),
        c("alg-nOnE", "mixed-case spelling", vec![bearer(&none_token("nOnE", &dex_claims("alice@example.com"), ""))], "algorithm_not_allowed"),
        c("alg-none-with-signature", "`none` with a real RS256 signature appended", vec![bearer(&none_token("none", &dex_claims("alice@example.com"), alice.rsplit_once('.').unwrap().1))], "algorithm_not_allowed"),
        c("alg-empty", "`alg: \"\"`", vec![bearer(&none_token("", &dex_claims("alice@example.com"), ""))], "algorithm_not_allowed"),
        c("alg-missing", "no `alg` member", vec![bearer(&raw_jwt(&dex_key, Alg::Rs256, br#"{"kid":"dex-1"}"#, dex_claims("alice@example.com").to_string().as_bytes()))], "token_malformed"),
        c("alg-number", "`alg: 256`", vec![bearer(&raw_jwt(&dex_key, Alg::Rs256, br#"{"alg":256,"kid":"dex-1"}"#, dex_claims("alice@example.com").to_string().as_bytes()))], "token_malformed"),
        c("hs256-public-key-as-secret", "HS256 with Dex's RSA public key PEM as the HMAC secret", vec![bearer(&hs256)], "algorithm_not_allowed"),
        c("dex-ps256-not-allowed", "PS256 from the right key, but the issuer allows RS256 only", vec![bearer(&jwt(&dex_key, "PS256", json!({"kid": "dex-1"}), &dex_claims("alice@example.com")))], "algorithm_not_allowed"),
        c("dex-es256-not-allowed", "ES256 signed by another key, claiming Dex", vec![bearer(&jwt(&es256, "ES256", json!({"kid": "dex-1"}), &dex_claims("alice@example.com")))], "algorithm_not_allowed"),
        extra_case("extra-es384-on-es256-kid", "ES384 naming the P-256 key", vec![bearer(&extra(&es384, "ES384", json!({"kid": "extra-es256"})))], "algorithm_not_allowed"),
        extra_case("extra-eddsa-on-es256-kid", "EdDSA naming the P-256 key", vec![bearer(&extra(&ed25519, "EdDSA", json!({"kid": "extra-es256"})))], "algorithm_not_allowed"),
        c("alb-alg-none", "an ALB token saying `none`", vec![alb(&format!("{}.{}.", b64_encode_padded(br#"{"alg":"none","kid":"alb-1"}"#), b64_encode_padded(alb_claims("alice@example.com").to_string().as_bytes())))], "algorithm_not_allowed"),
        c("dex-token-as-alb", "a valid Dex RS256 token in x-amzn-oidc-data", vec![alb(&alice)], "algorithm_not_allowed"),

        // kid.
        c("kid-of-cognito-signed-by-cognito", "a Dex token naming Cognito's kid, signed by Cognito's key", vec![bearer(&jwt(&key("cognito-rsa.key.pem"), "RS256", json!({"kid": "cognito-1"}), &dex_claims("alice@example.com")))], "unknown_kid"),
        c("kid-of-eks", "a Dex token naming the EKS kid", vec![bearer(&dex(json!({"kid": "eks-sa-1"}), &dex_claims("alice@example.com")))], "unknown_kid"),
        c("kid-unknown", "kid `dex-2`", vec![bearer(&dex(json!({"kid": "dex-2"}), &dex_claims("alice@example.com")))], "unknown_kid"),
        c("kid-path-traversal", "kid `../../etc/passwd`", vec![bearer(&dex(json!({"kid": "../../etc/passwd"}), &dex_claims("alice@example.com")))], "unknown_kid"),
        c("kid-number", "kid `1`", vec![bearer(&dex(json!({"kid": 1}), &dex_claims("alice@example.com")))], "token_malformed"),
        extra_case("extra-no-kid-several-keys", "no kid where the issuer has three keys", vec![bearer(&extra(&es256, "ES256", json!({})))], "unknown_kid"),
        c("alb-kid-of-attacker", "an ALB token with the attacker's kid and key", vec![alb(&alb_token(&attacker, &json!({"kid": "attacker-1", "signer": ARN, "exp": EXP}), &alb_claims("alice@example.com")))], "unknown_kid"),
        c("alb-no-kid", "an ALB token without kid", vec![alb(&alb_header_without("kid"))], "unknown_kid"),

        // jku / x5u / jwk / x5c: ignored, never fetched, never used as keys.
        c("jku-attacker-kid-dex-1", "jku to the attacker, signed by the attacker's key, kid dex-1", vec![bearer(&jwt(&rogue, "RS256", json!({"kid": "dex-1", "jku": ATTACKER}), &dex_claims("alice@example.com")))], "bad_signature"),
        c("jku-attacker-own-kid", "jku to the attacker with the attacker's own kid", vec![bearer(&jwt(&rogue, "RS256", json!({"kid": "attacker-1", "jku": ATTACKER}), &dex_claims("alice@example.com")))], "unknown_kid"),
        c("x5u-attacker", "x5u to the attacker, attacker's key", vec![bearer(&jwt(&rogue, "RS256", json!({"kid": "dex-1", "x5u": ATTACKER}), &dex_claims("alice@example.com")))], "bad_signature"),
        c("jwk-embedded-attacker", "the attacker's public key embedded as `jwk`", vec![bearer(&jwt(&rogue, "RS256", json!({"jwk": {"kty": "RSA", "n": "AQAB", "e": "AQAB"}}), &dex_claims("alice@example.com")))], "bad_signature"),
        c("jku-real-key", "jku present, signed by the real key: jku is ignored and it verifies", vec![bearer(&dex(json!({"kid": "dex-1", "jku": ATTACKER, "x5u": ATTACKER}), &dex_claims("alice@example.com")))], A),
        c("x5c-garbage-real-key", "junk x5c and jwk, real key: ignored", vec![bearer(&dex(json!({"kid": "dex-1", "x5c": ["bm90IGEgY2VydA"], "jwk": {"kty": "oct"}}), &dex_claims("alice@example.com")))], A),
        c("alb-jku-attacker", "an ALB token pointing jku at the attacker, signed by the attacker", vec![alb(&alb_token(&attacker, &json!({"kid": "alb-1", "signer": ARN, "exp": EXP, "jku": ATTACKER}), &alb_claims("alice@example.com")))], "bad_signature"),
        c("rogue-key-forgery", "RS256 by a key in no JWKS, kid dex-1", vec![bearer(&jwt(&rogue, "RS256", json!({"kid": "dex-1"}), &dex_claims("admin@example.com")))], "bad_signature"),
        c("crit", "a `crit` header", vec![bearer(&dex(json!({"kid": "dex-1", "crit": ["exp"]}), &dex_claims("alice@example.com")))], "unsupported_critical"),
        c("alb-crit", "an ALB header with `crit`", vec![alb(&alb_header_with("crit", json!(["signer"])))], "unsupported_critical"),

        // Claims.
        c("expired", "exp in 2023", vec![bearer(&{ let mut c = dex_claims("alice@example.com"); c["exp"] = json!(1_700_000_000u64); c["iat"] = json!(1_699_996_400u64); dex_kid(&c) })], "token_expired"),
        c("exp-missing", "no exp", vec![bearer(&claims_without("exp"))], "token_expired"),
        c("nbf-future", "nbf in 2096", vec![bearer(&claims_with("nbf", json!(4_000_000_000u64)))], "token_not_yet_valid"),
        c("exp-string", "exp as a string", vec![bearer(&claims_with("exp", json!(EXP.to_string())))], "token_malformed"),
        c("iat-string", "iat as a string", vec![bearer(&claims_with("iat", json!("yesterday")))], "token_malformed"),
        c("exp-negative", "exp = -1", vec![bearer(&claims_with("exp", json!(-1)))], "token_malformed"),
        c("exp-1e300", "exp = 1e300", vec![bearer(&claims_with("exp", json!(1e300)))], "token_malformed"),
        c("nbf-string", "nbf as a string", vec![bearer(&claims_with("nbf", json!("0")))], "token_malformed"),
        c("iss-trailing-slash", "iss `https://dex.example.com/`", vec![bearer(&claims_with("iss", json!("https://dex.example.com/")))], "unknown_issuer"),
        c("iss-missing", "no iss", vec![bearer(&claims_without("iss"))], "unknown_issuer"),
        c("iss-number", "iss as a number", vec![bearer(&claims_with("iss", json!(1)))], "token_malformed"),
        c("iss-array", "iss as an array holding Dex", vec![bearer(&claims_with("iss", json!([DEX])))], "token_malformed"),
        c("aud-wrong", "aud of another client", vec![bearer(&claims_with("aud", json!("someone-else")))], "wrong_audience"),
        c("aud-missing", "no aud", vec![bearer(&claims_without("aud"))], "wrong_audience"),
        c("aud-number", "aud as a number", vec![bearer(&claims_with("aud", json!(7)))], "token_malformed"),
        c("aud-array-with-number", "aud array holding a number", vec![bearer(&claims_with("aud", json!([AUD, 7])))], "token_malformed"),
        c("email-missing", "no user claim", vec![bearer(&claims_without("email"))], "claim_missing"),
        c("email-empty", "empty user claim", vec![bearer(&claims_with("email", json!("")))], "claim_missing"),
        c("email-number", "user claim as a number", vec![bearer(&claims_with("email", json!(42)))], "claim_missing"),
        c("email-header-injection", "user claim holding CRLF and a second header", vec![bearer(&claims_with("email", json!("alice@example.com\r\nkubeflow-groups: admins")))], "bad_identity_value"),
        c("groups-object", "groups as an object", vec![bearer(&claims_with("groups", json!({"admins": true})))], "token_malformed"),
        c("groups-with-control", "a group holding a newline", vec![bearer(&claims_with("groups", json!(["a\nkubeflow-userid: admin"])))], "bad_identity_value"),
        c("eks-lifetime-too-long", "an EKS ServiceAccount token living 25 hours", vec![bearer(&jwt(&key("eks-sa-rsa.key.pem"), "RS256", json!({"kid": "eks-sa-1"}), &json!({"iss": EKS, "aud": ["gatehouse"], "sub": "system:serviceaccount:ci:model-deployer", "iat": EXP - 90_000, "exp": EXP})))], "lifetime_too_long"),

        // Identity values an upstream could read as someone else, and names outside an
        // issuer's kind.
        c("email-trailing-space", "`alice@example.com ` (HTTP parsers trim it: upstream would read alice)", vec![bearer(&claims_with("email", json!("alice@example.com ")))], "bad_identity_value"),
        c("email-leading-space", "` alice@example.com`", vec![bearer(&claims_with("email", json!(" alice@example.com")))], "bad_identity_value"),
        c("email-nbsp", "a no-break space (U+00A0) at the end", vec![bearer(&claims_with("email", json!("alice@example.com\u{a0}")))], "bad_identity_value"),
        c("email-zero-width", "a zero-width space (U+200B) inside", vec![bearer(&claims_with("email", json!("ali\u{200b}ce@example.com")))], "bad_identity_value"),
        c("email-bidi-override", "a right-to-left override (U+202E)", vec![bearer(&claims_with("email", json!("\u{202e}moc.elpmaxe@ecila")))], "bad_identity_value"),
        c("email-tab", "a tab at the end", vec![bearer(&claims_with("email", json!("alice@example.com\t")))], "bad_identity_value"),
        c("group-leading-space", "group ` team-b-editors`", vec![bearer(&claims_with("groups", json!([" team-b-editors"])))], "bad_identity_value"),
        c("group-zero-width-joiner", "a group holding U+200D", vec![bearer(&claims_with("groups", json!(["admins\u{200d}"])))], "bad_identity_value"),
        c("alb-email-trailing-space", "an ALB token whose email ends in a space", vec![alb(&alb_token(&alb_key, &alb_header(), &json!({"email": "alice@example.com ", "email_verified": "true", "exp": EXP})))], "bad_identity_value"),
        c("email-not-verified", "`email_verified: false`", vec![bearer(&claims_with("email_verified", json!(false)))], "email_not_verified"),
        c("email-verified-missing", "no `email_verified`", vec![bearer(&claims_without("email_verified"))], "email_not_verified"),
        c("email-verified-string-false", "`email_verified: \"false\"`", vec![bearer(&claims_with("email_verified", json!("false")))], "email_not_verified"),
        c("email-verified-number", "`email_verified: 1`", vec![bearer(&claims_with("email_verified", json!(1)))], "token_malformed"),
        c("email-verified-string-true", "`email_verified: \"true\"` (Cognito's spelling) is accepted", vec![bearer(&claims_with("email_verified", json!("true")))], A),
        c("alb-email-not-verified", "an ALB token without `email_verified`", vec![alb(&alb_token(&alb_key, &alb_header(), &json!({"email": "alice@example.com", "sub": "alice", "exp": EXP})))], "email_not_verified"),
        c("dex-claims-a-serviceaccount", "a Dex token whose email is `system:serviceaccount:alice:default-editor`", vec![bearer(&claims_with("email", json!("system:serviceaccount:alice:default-editor")))], "identity_out_of_scope"),
        c("dex-claims-system-group", "a Dex token with group `system:serviceaccounts`", vec![bearer(&claims_with("groups", json!(["system:serviceaccounts"])))], "identity_out_of_scope"),
        c("alb-claims-a-serviceaccount", "an ALB token whose email is a ServiceAccount", vec![alb(&alb_token(&alb_key, &alb_header(), &alb_claims("system:serviceaccount:alice:default-editor")))], "identity_out_of_scope"),
        c("eks-serviceaccount", "an EKS ServiceAccount token", vec![bearer(&jwt(&key("eks-sa-rsa.key.pem"), "RS256", json!({"kid": "eks-sa-1"}), &json!({"iss": EKS, "aud": ["gatehouse"], "sub": "system:serviceaccount:ci:model-deployer", "iat": IAT, "exp": EXP})))], "allow:system:serviceaccount:ci:model-deployer"),
        c("eks-claims-a-user", "an EKS token whose sub is not a ServiceAccount", vec![bearer(&jwt(&key("eks-sa-rsa.key.pem"), "RS256", json!({"kid": "eks-sa-1"}), &json!({"iss": EKS, "aud": ["gatehouse"], "sub": "alice@example.com", "iat": IAT, "exp": EXP})))], "identity_out_of_scope"),
        c("dex-lifetime-default", "a Dex token living 25 hours: Dex sets no maxLifetimeSeconds, the default day holds", vec![bearer(&claims_with("iat", json!(EXP - 90_000)))], "lifetime_too_long"),
        c("dex-exp-forever", "`exp` 2^64-1 and no `iat`: longer than any lifetime", vec![bearer(&{ let mut c = dex_claims("alice@example.com"); c["exp"] = json!(u64::MAX); c.as_object_mut().unwrap().remove("iat"); dex_kid(&c) })], "lifetime_too_long"),

        // Headers an upstream reads as identity or as the method, in other spellings.
        envoy(absent(c("underscore-userid", "`kubeflow_userid: admin` beside a valid token (WSGI reads it as kubeflow-userid): the filter strips it; Envoy as Gatehouse configures it refuses names with `_`", vec![bearer(&alice), header("kubeflow_userid", "admin@example.com"), header("kubeflow_groups", "admins")], A), &["kubeflow-userid", "kubeflow-groups"]), "http:400"),
        envoy(absent(c("underscore-alb-data", "`x_amzn_oidc_data` beside a valid token: stripped; refused by Envoy first", vec![bearer(&alice), header("x_amzn_oidc_data", "forged"), header("X_Amzn_Oidc_Identity", "admin")], A), &["x-amzn-oidc-data", "x-amzn-oidc-identity"]), "http:400"),
        absent(c("method-override-same", "`X-HTTP-Method-Override: GET` on a GET: removed, allowed", vec![bearer(&alice), header("x-http-method-override", "GET")], A), &["x-http-method-override"]),
        c("method-override-delete", "`X-HTTP-Method-Override: DELETE` on a GET", vec![bearer(&alice), header("x-http-method-override", "DELETE")], "method_override"),
        c("method-x-http-method", "`X-HTTP-Method: PUT` on a GET", vec![bearer(&alice), header("x-http-method", "PUT")], "method_override"),
        c("method-x-method-override", "`X-Method-Override: PATCH` on a GET", vec![bearer(&alice), header("x-method-override", "PATCH")], "method_override"),
        envoy(c("method-override-underscore", "`x_http_method_override: DELETE` on a GET: refused by the filter; by Envoy first", vec![bearer(&alice), header("x_http_method_override", "DELETE")], "method_override"), "http:400"),

        // ALB specifics.
        c("alb-other-signer", "signed by the right key, another load balancer's signer", vec![alb(&alb_header_with("signer", json!(EVIL_ARN)))], "wrong_signer"),
        c("alb-no-signer", "no signer", vec![alb(&alb_header_without("signer"))], "wrong_signer"),
        c("alb-signer-prefix", "signer that only starts with the configured ARN", vec![alb(&alb_header_with("signer", json!(format!("{ARN}0"))))], "wrong_signer"),
        c("alb-payload-changed", "payload swapped for admin's, signature kept", vec![alb(&alb_changed_payload)], "bad_signature"),
        c("alb-header-changed", "header re-encoded with another signer, signature kept", vec![alb(&alb_changed_header)], "bad_signature"),
        c("alb-signature-cut", "signature cut to 63 bytes", vec![alb(&with_signature(&alice_alb, &alice_sig[..63], true))], "bad_signature"),
        c("alb-signature-extended", "signature extended to 65 bytes", vec![alb(&with_signature(&alice_alb, &[&alice_sig[..], &[0u8][..]].concat(), true))], "bad_signature"),
        c("alb-signature-der", "the same signature DER-encoded (ALB uses raw r||s)", vec![alb(&with_signature(&alice_alb, &der(&alice_sig), true))], "bad_signature"),
        c("alb-signature-empty", "empty signature", vec![alb(&with_signature(&alice_alb, &[], true))], "bad_signature"),
        c("alb-high-s", "the same signature with S replaced by n - S: accepted, AWS does not normalize S", vec![alb(&with_signature(&alice_alb, &high_s(&alice_sig), true))], A),
        extra_case("extra-es256-high-s", "bearer ES256 with a high S: accepted like the ALB's", vec![bearer(&with_signature(&es256_ok, &high_s(&signature_of(&es256_ok, false)), false))], "allow:erin@example.com"),
        c("alb-attacker-key", "kid alb-1 but signed by the attacker", vec![alb(&alb_token(&attacker, &alb_header(), &alb_claims("alice@example.com")))], "bad_signature"),
        c("alb-expired", "header exp in 2023", vec![alb(&alb_header_with("exp", json!(1_700_000_000u64)))], "token_expired"),
        c("alb-exp-missing", "no exp in the ALB header", vec![alb(&alb_header_without("exp"))], "token_malformed"),
        c("alb-exp-string", "ALB header exp as a string", vec![alb(&alb_header_with("exp", json!(EXP.to_string())))], "token_malformed"),
        c("alb-email-missing", "no email claim", vec![alb(&alb_token(&alb_key, &alb_header(), &json!({"sub": "1234", "exp": EXP})))], "claim_missing"),
        c("alb-bad-padding", "a part with one `=` where two belong", vec![alb(&{ let mut t = alice_alb.clone(); t.pop(); t })], "token_malformed"),
        c("alb-token-as-bearer", "an unpadded ALB token sent as a bearer token (no iss)", vec![bearer(&alb_unpadded)], "unknown_issuer"),
        c("alb-padded-as-bearer", "a padded ALB token as a bearer token", vec![bearer(&alice_alb)], "token_malformed"),

        // Structure and encoding.
        c("extra-segment", "a fourth segment", vec![bearer(&format!("{alice}.e30"))], "token_malformed"),
        c("five-segments", "JWE-shaped", vec![bearer(&format!("{alice}.e30.e30"))], "token_malformed"),
        c("two-segments", "no signature segment", vec![bearer(alice.rsplit_once('.').unwrap().0)], "token_malformed"),
        c("empty-header-segment", "`.payload.sig`", vec![bearer(&format!(".{}", alice.split_once('.').unwrap().1))], "token_malformed"),
        c("empty-payload-segment", "`header..sig`", vec![bearer(&{ let p: Vec<&str> = alice.split('.').collect(); format!("{}..{}", p[0], p[2]) })], "token_malformed"),
        c("empty-signature", "RS256 with an empty signature", vec![bearer(&format!("{}.", alice.rsplit_once('.').unwrap().0))], "bad_signature"),
        c("dots-only", "`..`", vec![bearer("..")], "token_malformed"),
        c("padding-in-bearer", "`=` padding on a bearer token's signature", vec![bearer(&format!("{alice}=="))], "token_malformed"),
        c("standard-base64", "`+` and `/` (standard base64) in the payload", vec![bearer(&{ let p: Vec<&str> = alice.split('.').collect(); format!("{}.{}+/.{}", p[0], p[1], p[2]) })], "token_malformed"),
        c("non-canonical-base64", "a signature with non-zero trailing bits", vec![bearer(&under_sig)], "token_malformed"),
        c("percent-encoded", "the token percent-encoded", vec![bearer(&alice.replace('.', "%2E"))], "token_malformed"),
        c("token-16k-plus", "a signed token just over the 16 KiB limit", vec![bearer(&over_16k)], "token_malformed"),
        envoy(c("token-64k", "a signed 64 KiB token (Envoy's header limit is 60 KiB: 431 before the filter)", vec![bearer(&big_claim(48 * 1024))], "token_malformed"), "http:431"),
        c("nested-json-payload", "a claim nested 200 arrays deep (over the JSON depth limit)", vec![bearer(&raw_jwt(&dex_key, Alg::Rs256, br#"{"alg":"RS256","kid":"dex-1"}"#, format!(r#"{{"iss":"{DEX}","aud":"{AUD}","email":"alice@example.com","exp":{EXP},"x":{}}}"#, nested(200)).as_bytes()))], "token_malformed"),
        c("nested-json-header", "a header member nested 200 objects deep", vec![bearer(&raw_jwt(&dex_key, Alg::Rs256, format!(r#"{{"alg":"RS256","kid":"dex-1","x":{}1{}}}"#, r#"{"a":"#.repeat(200), "}".repeat(200)).as_bytes(), dex_claims("alice@example.com").to_string().as_bytes()))], "token_malformed"),
        c("duplicate-email", "`email` twice: alice, then admin", vec![bearer(&raw_jwt(&dex_key, Alg::Rs256, br#"{"alg":"RS256","kid":"dex-1"}"#, format!(r#"{{"iss":"{DEX}","aud":"{AUD}","email":"alice@example.com","email":"admin@example.com","exp":{EXP}}}"#).as_bytes()))], "token_malformed"),
        c("duplicate-iss", "`iss` twice", vec![bearer(&raw_jwt(&dex_key, Alg::Rs256, br#"{"alg":"RS256","kid":"dex-1"}"#, format!(r#"{{"iss":"https://evil.example.com","iss":"{DEX}","aud":"{AUD}","email":"alice@example.com","exp":{EXP}}}"#).as_bytes()))], "token_malformed"),
        c("duplicate-alg", "`alg` twice in the header", vec![bearer(&raw_jwt(&dex_key, Alg::Rs256, br#"{"alg":"none","alg":"RS256","kid":"dex-1"}"#, dex_claims("alice@example.com").to_string().as_bytes()))], "token_malformed"),
        c("duplicate-nested", "a duplicate member inside a nested object", vec![bearer(&raw_jwt(&dex_key, Alg::Rs256, br#"{"alg":"RS256","kid":"dex-1"}"#, format!(r#"{{"iss":"{DEX}","aud":"{AUD}","email":"alice@example.com","exp":{EXP},"x":{{"a":1,"a":2}}}}"#).as_bytes()))], "token_malformed"),
        c("non-utf8-payload", "invalid UTF-8 inside a claim string", vec![bearer(&raw_jwt(&dex_key, Alg::Rs256, br#"{"alg":"RS256","kid":"dex-1"}"#, &[format!(r#"{{"iss":"{DEX}","aud":"{AUD}","exp":{EXP},"email":"alice"#).as_bytes(), b"\xff\xfe", br#"@example.com"}"#].concat()))], "token_malformed"),
        c("payload-array", "payload is a JSON array", vec![bearer(&raw_jwt(&dex_key, Alg::Rs256, br#"{"alg":"RS256","kid":"dex-1"}"#, b"[1]"))], "token_malformed"),
        c("payload-trailing-garbage", "JSON followed by more bytes", vec![bearer(&raw_jwt(&dex_key, Alg::Rs256, br#"{"alg":"RS256","kid":"dex-1"}"#, format!("{} x", dex_claims("alice@example.com")).as_bytes()))], "token_malformed"),
        c("payload-bom", "a UTF-8 byte-order mark before the JSON", vec![bearer(&raw_jwt(&dex_key, Alg::Rs256, br#"{"alg":"RS256","kid":"dex-1"}"#, &[&b"\xef\xbb\xbf"[..], dex_claims("alice@example.com").to_string().as_bytes()].concat()))], "token_malformed"),

        // Headers.
        c("two-authorization-headers", "two Authorization headers, same token", vec![bearer(&alice), bearer(&alice)], "bad_authorization_header"),
        c("two-authorization-headers-differ", "alice's then bob's token", vec![bearer(&alice), bearer(&bob)], "bad_authorization_header"),
        c("authorization-comma-joined", "two bearer tokens joined by a comma", vec![header("authorization", &format!("Bearer {alice}, Bearer {bob}"))], "bad_authorization_header"),
        c("bearer-no-token", "`Bearer` alone", vec![header("authorization", "Bearer")], "bad_authorization_header"),
        c("bearer-two-spaces", "two spaces after the scheme", vec![header("authorization", &format!("Bearer  {alice}"))], "bad_authorization_header"),
        c("bearer-tab", "a tab after the scheme", vec![header("authorization", &format!("Bearer\t{alice}"))], "bad_authorization_header"),
        c("token-inner-space", "a space inside the token", vec![header("authorization", &format!("Bearer {}", alice.replacen('.', ". ", 1)))], "bad_authorization_header"),
        Case { envoy_h2: Some("bad_authorization_header"), ..envoy(c("token-trailing-space", "a space after the token: Envoy's HTTP/1.1 codec trims it (RFC 9110 OWS) before the filter; over HTTP/2 it reaches the filter, which refuses it", vec![header("authorization", &format!("Bearer {alice} "))], "bad_authorization_header"), A) },
        c("basic-auth", "Basic credentials", vec![header("authorization", "Basic YWxpY2U6c2VjcmV0")], "bad_authorization_header"),
        c("token-scheme", "`Token` scheme", vec![header("authorization", &format!("Token {alice}"))], "bad_authorization_header"),
        c("authorization-obs-text", "obs-text bytes (non-UTF-8) in Authorization", vec![bytes_header("authorization", &[b"Bearer ".as_slice(), alice.as_bytes(), b"\xff\xfe"].concat())], "bad_authorization_header"),
        c("alb-obs-text", "obs-text bytes (non-UTF-8) in x-amzn-oidc-data", vec![bytes_header("x-amzn-oidc-data", &[alice_alb.as_bytes(), b"\xe9"].concat())], "token_malformed"),
        c("two-alb-headers", "two x-amzn-oidc-data headers", vec![alb(&alice_alb), alb(&alice_alb)], "token_malformed"),
        c("alb-alice-bearer-bob", "the ALB says alice, the bearer token says bob", vec![alb(&alice_alb), bearer(&bob)], "conflicting_identities"),
        c("bearer-bob-alb-alice", "the same, bearer first on the wire", vec![bearer(&bob), alb(&alice_alb)], "conflicting_identities"),
        c("alb-valid-bearer-expired", "a valid ALB token with an expired bearer token: never ignored", vec![alb(&alice_alb), bearer(&{ let mut c = dex_claims("alice@example.com"); c["exp"] = json!(1_700_000_000u64); dex_kid(&c) })], "token_expired"),
        c("alb-wrong-signer-bearer-valid", "a valid bearer token with a bad ALB token", vec![alb(&alb_header_with("signer", json!(EVIL_ARN))), bearer(&alice)], "wrong_signer"),

        // The ALB's access token (hostile policies: `corp-alb` takes them, optional;
        // `strict-alb` requires one). Any failure fails the request, each with its reason.
        extra_case("control-alb-access", "a good ALB token and its access token (groups from cognito:groups)", vec![alb(&alice_alb), access(&access_ok)], A),
        extra_case("alb-access-for-the-albs-client", "the access token of the ALB's own app client", vec![alb(&alb_for_client), access(&access_ok)], A),
        extra_case("alb-access-expired", "an expired access token", vec![alb(&alice_alb), access(&access_with("exp", json!(1_700_000_000u64)))], "token_expired"),
        extra_case("alb-access-other-pool", "an access token of another user pool", vec![alb(&alice_alb), access(&access_with("iss", json!("https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other")))], "unknown_issuer"),
        extra_case("alb-access-dex-token", "a valid Dex token as the access token", vec![alb(&alice_alb), access(&alice)], "unknown_issuer"),
        extra_case("alb-access-unknown-client", "an access token of an app client the issuer does not allow", vec![alb(&alice_alb), access(&access_with("client_id", json!("someone-elses-app")))], "wrong_client"),
        extra_case("alb-access-not-the-albs-client", "an allowed app client, but not the one the ALB signed in with", vec![alb(&alb_for_client), access(&access_with("client_id", json!("notebooks-cli")))], "wrong_client"),
        extra_case("alb-access-id-token", "the pool's ID token (token_use: id) as the access token", vec![alb(&alice_alb), access(&access_with("token_use", json!("id")))], "not_access_token"),
        extra_case("alb-access-other-user", "another user's access token beside alice's ALB token", vec![alb(&alice_alb), access(&access_with("sub", json!("mallory@example.com")))], "access_token_other_user"),
        extra_case("alb-access-tampered-groups", "groups changed after signing", vec![alb(&alice_alb), access(&access_tampered)], "bad_signature"),
        extra_case("alb-access-alg-none", "an access token saying `none`", vec![alb(&alice_alb), access(&access_alg("none"))], "algorithm_not_allowed"),
        extra_case("alb-access-alg-hs256", "an access token saying HS256, RSA signature kept", vec![alb(&alice_alb), access(&access_alg("HS256"))], "algorithm_not_allowed"),
        extra_case("alb-access-twice", "two access-token headers", vec![alb(&alice_alb), access(&access_ok), access(&access_ok)], "token_malformed"),
        extra_case("alb-access-missing-required", "no access token where the ALB issuer requires one", vec![alb(&strict_alb)], "access_token_missing"),
        extra_case("alb-access-required-present", "the same load balancer with its access token", vec![alb(&strict_alb), access(&access_ok)], A),
        extra_case("alb-access-as-bearer", "an access token as a bearer token: the pool's bearer issuer wants its audience", vec![bearer(&access_ok)], "wrong_audience"),
        absent(extra_case("alb-access-without-alb", "a bearer token with a forged access-token header: stripped, never passed on", vec![bearer(&alice), access("forged")], A), &["x-amzn-oidc-accesstoken"]),
    ]
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The manifest, as JSON.
pub fn manifest() -> Value {
    let cases: Vec<Value> = cases()
        .into_iter()
        .map(|c| {
            let mut v =
                json!({"name": c.name, "why": c.why, "headers": c.headers, "expect": c.expect});
            if let Some(e) = c.envoy {
                v["envoy"] = json!(e);
            }
            if let Some(i) = c.issuer {
                v["issuer"] = json!(i);
            }
            if let Some(e) = c.envoy_h2 {
                v["envoy_h2"] = json!(e);
            }
            if !c.absent.is_empty() {
                v["absent"] = json!(c.absent);
            }
            v
        })
        .collect();
    json!({
        "about": "Hostile tokens and credential headers. Each case: request headers on GET / (an authenticated route) and the outcome, `allow:<user>` or a deny reason code; `envoy` overrides it where Envoy answers or trims first; `issuer: extra` cases need testdata/hostile/policies; `envoy_h2` overrides it over HTTP/2; `absent` names headers that must not reach the upstream in any spelling (`_` for `-`, any case). Generated by compiler/tests/hostile_envoy/generate.rs; see README.md.",
        "cases": cases,
    })
}
