//! ALB `x-amzn-oidc-data`: padding, raw signed bytes, kid, signer, iss/client, exp in header.

use serde_json::json;

use super::*;
use crate::token::encoding::{b64_encode_padded, b64_lenient};

fn good(padding: Padding) -> String {
    alb_token(&alb_key(), &alb_header(), &alb_claims(), padding)
}

fn header_with(name: &str, value: Value) -> Value {
    let mut h = alb_header();
    h[name] = value;
    h
}

fn signed_with_header(header: &Value) -> Result<VerifiedToken, TokenFailure> {
    alb(&alb_token(
        &alb_key(),
        header,
        &alb_claims(),
        Padding::Padded,
    ))
}

/// Replaces the signature part by `f(decoded signature)`, re-encoded padded.
fn resign(token: &str, f: impl Fn(Vec<u8>) -> Vec<u8>) -> String {
    let (signed, sig) = token.rsplit_once('.').unwrap_or_default();
    let sig = b64_lenient(sig).unwrap_or_default();
    format!("{signed}.{}", b64_encode_padded(&f(sig)))
}

#[test]
fn padded_tokens_verify() {
    let token = good(Padding::Padded);
    assert!(token.contains('='), "the test token must carry padding");
    let v = ok(alb(&token));
    assert_eq!(v.identity.user, "alice@example.com");
    assert!(v.identity.groups.is_empty());
    assert_eq!(v.identity.issuer, "alb");
    assert_eq!(v.kid.as_deref(), Some("alb-1"));
    assert_eq!(v.expires_at, NOW + 120 + LEEWAY);
}

#[test]
fn unpadded_tokens_verify() {
    let token = good(Padding::Unpadded);
    assert!(!token.contains('='));
    assert!(alb(&token).is_ok());
}

#[test]
fn the_signature_covers_the_padded_bytes_as_sent() {
    // Pick a payload whose encoding is padded, then strip that padding: the bytes the ALB
    // signed are gone, so the signature must fail (stripping before verifying would pass it).
    let claims = json!({"email": "alice@example.com", "email_verified": "true", "exp": NOW + 120, "x": "ab"});
    let token = alb_token(&alb_key(), &alb_header(), &claims, Padding::Padded);
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let padded = parts.iter().take(2).any(|p| p.ends_with('='));
    assert!(padded, "header or payload must be padded: {token}");
    assert!(alb(&token).is_ok());
    for p in parts.iter_mut().take(2) {
        *p = p.trim_end_matches('=').to_owned();
    }
    assert_eq!(reason(alb(&parts.join("."))), DenyReason::BadSignature);
}

#[test]
fn a_changed_payload_fails() {
    let token = good(Padding::Padded);
    let mut claims = alb_claims();
    claims["email"] = json!("admin@example.com");
    let evil = b64_encode_padded(claims.to_string().as_bytes());
    let parts: Vec<&str> = token.split('.').collect();
    let forged = format!(
        "{}.{evil}.{}",
        parts.first().unwrap_or(&""),
        parts.get(2).unwrap_or(&"")
    );
    assert_eq!(reason(alb(&forged)), DenyReason::BadSignature);
}

#[test]
fn truncated_extended_or_der_signatures_fail() {
    let token = good(Padding::Padded);
    let truncated = resign(&token, |mut s| {
        s.pop();
        s
    });
    assert_eq!(reason(alb(&truncated)), DenyReason::BadSignature);
    let extended = resign(&token, |mut s| {
        s.push(0);
        s
    });
    assert_eq!(reason(alb(&extended)), DenyReason::BadSignature);
    // The same r and s, DER-encoded: not the JOSE form.
    let der = resign(&token, |s| {
        let (r, sv) = s.split_at(32.min(s.len()));
        let int = |x: &[u8]| {
            let mut v = x.to_vec();
            if v.first().is_some_and(|b| *b >= 0x80) {
                v.insert(0, 0);
            }
            let mut out = vec![2, v.len() as u8];
            out.extend(v);
            out
        };
        let body = [int(r), int(sv)].concat();
        let mut out = vec![0x30, body.len() as u8];
        out.extend(body);
        out
    });
    assert_eq!(reason(alb(&der)), DenyReason::BadSignature);
    let (signed, _) = token.rsplit_once('.').unwrap_or_default();
    assert_eq!(reason(alb(&format!("{signed}."))), DenyReason::BadSignature);
}

#[test]
fn the_attackers_key_under_our_kid_fails() {
    let attacker = signing_key(key_file!("alb-attacker.key.pem"));
    let token = alb_token(&attacker, &alb_header(), &alb_claims(), Padding::Padded);
    assert_eq!(reason(alb(&token)), DenyReason::BadSignature);
}

#[test]
fn kid_is_required_and_must_be_known() {
    assert_eq!(
        reason(signed_with_header(&header_with("kid", json!("alb-2")))),
        DenyReason::UnknownKid
    );
    let mut h = alb_header();
    h.as_object_mut().map(|o| o.remove("kid"));
    assert_eq!(reason(signed_with_header(&h)), DenyReason::UnknownKid);
}

#[test]
fn signer_is_pinned() {
    // Same regional key, another account's load balancer: valid signature, wrong signer.
    let other = "arn:aws:elasticloadbalancing:us-east-1:999999999999:loadbalancer/app/evil/1";
    assert_eq!(
        reason(signed_with_header(&header_with("signer", json!(other)))),
        DenyReason::WrongSigner
    );
    let mut h = alb_header();
    h.as_object_mut().map(|o| o.remove("signer"));
    assert_eq!(reason(signed_with_header(&h)), DenyReason::WrongSigner);
}

#[test]
fn iss_and_client_are_checked_when_configured() {
    assert_eq!(
        reason(signed_with_header(&header_with(
            "iss",
            json!("https://evil")
        ))),
        DenyReason::WrongIssuer
    );
    assert_eq!(
        reason(signed_with_header(&header_with("client", json!("other")))),
        DenyReason::WrongIssuer
    );
    let mut h = alb_header();
    h.as_object_mut().map(|o| o.remove("client"));
    assert_eq!(reason(signed_with_header(&h)), DenyReason::WrongIssuer);
}

#[test]
fn exp_comes_from_the_header() {
    assert_eq!(
        reason(signed_with_header(&header_with(
            "exp",
            json!(NOW - LEEWAY - 1)
        ))),
        DenyReason::TokenExpired
    );
    assert!(signed_with_header(&header_with("exp", json!(NOW - LEEWAY + 1))).is_ok());
    assert_eq!(
        reason(signed_with_header(&header_with("exp", json!("1700000100")))),
        DenyReason::TokenMalformed
    );
    // A payload `exp` does not stand in for the header's.
    let mut h = alb_header();
    h.as_object_mut().map(|o| o.remove("exp"));
    assert_eq!(reason(signed_with_header(&h)), DenyReason::TokenMalformed);
}

#[test]
fn only_es256() {
    for alg in ["ES384", "RS256", "HS256", "none"] {
        assert_eq!(
            reason(signed_with_header(&header_with("alg", json!(alg)))),
            DenyReason::AlgorithmNotAllowed,
            "{alg}"
        );
    }
    assert_eq!(
        reason(signed_with_header(&header_with("crit", json!(["exp"])))),
        DenyReason::UnsupportedCritical
    );
}

#[test]
fn user_claim_is_required() {
    let mut claims = alb_claims();
    claims.as_object_mut().map(|o| o.remove("email"));
    let token = alb_token(&alb_key(), &alb_header(), &claims, Padding::Padded);
    assert_eq!(reason(alb(&token)), DenyReason::ClaimMissing);
}

#[test]
fn bad_base64_and_structure_are_malformed() {
    let token = good(Padding::Padded);
    for bad in [
        format!("{token}.x"),
        token.replacen('.', ". ", 1),
        token.replacen('.', ".+", 1),
        token.replacen('=', "=\n", 1),
        format!("{token}=="),
        "a.b".into(),
    ] {
        assert_eq!(reason(alb(&bad)), DenyReason::TokenMalformed, "{bad:?}");
    }
}

#[test]
fn no_alb_issuer_means_unknown_issuer() {
    let jwt_only: Vec<IssuerSpec> = issuers()
        .into_iter()
        .filter(|i| matches!(i, IssuerSpec::Jwt(_)))
        .collect();
    let v = Verifiers::new(&jwt_only).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(
        reason(v.verify_alb(&good(Padding::Padded), NOW, LEEWAY)),
        DenyReason::UnknownIssuer
    );
}
