//! Bearer JWTs: algorithms, keys, structure, hostile input.

use jwt_compact::alg::{Hs256, Hs256Key};
use jwt_compact::{Algorithm, AlgorithmSignature};
use serde_json::json;

use super::*;
use crate::token::alg::Alg;
use crate::token::encoding::b64_encode;

#[test]
fn valid_rsa_tokens_of_every_allowed_algorithm_verify() {
    for alg in ["RS256", "RS384", "RS512", "PS256"] {
        let token = jwt(&dex_key(), alg, json!({"kid": "dex-1"}), &dex_claims());
        let v = ok(bearer(&token));
        assert_eq!(v.identity.user, "alice@example.com", "{alg}");
        assert_eq!(v.identity.groups, ["dex:admins", "dex:ml-team"], "{alg}");
        assert_eq!(v.identity.issuer, "dex");
        assert_eq!(v.kid.as_deref(), Some("dex-1"));
        assert_eq!(v.expires_at, NOW + 3600 + LEEWAY);
    }
}

#[test]
fn valid_ec_and_eddsa_tokens_verify() {
    let claims = json!({"iss": EXTRA, "sub": "bob", "exp": NOW + 60});
    for (file, kid, alg) in [
        (key_file!("extra-es256.key.pem"), "extra-es256", "ES256"),
        (key_file!("extra-es384.key.pem"), "extra-es384", "ES384"),
        (key_file!("extra-ed25519.key.pem"), "extra-ed25519", "EdDSA"),
    ] {
        let token = jwt(&signing_key(file), alg, json!({"kid": kid}), &claims);
        let v = ok(bearer(&token));
        assert_eq!(v.identity.user, "bob", "{alg}");
        assert_eq!(v.kid.as_deref(), Some(kid));
        let sig = token.rsplit('.').next().unwrap_or_default();
        let expected = match alg {
            "ES256" | "EdDSA" => 64,
            _ => 96,
        };
        assert_eq!(
            crate::token::encoding::b64_strict(sig).map(|s| s.len()),
            Some(expected)
        );
    }
}

#[test]
fn alg_none_in_every_spelling_is_refused() {
    let good = dex_token(&dex_claims());
    let mut parts = good.split('.');
    let (_, payload, sig) = (
        parts.next(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    for none in ["none", "None", "NONE", "nOnE"] {
        let header = b64_encode(json!({"alg": none, "kid": "dex-1"}).to_string().as_bytes());
        for signature in ["", sig] {
            let token = format!("{header}.{payload}.{signature}");
            assert_eq!(
                reason(bearer(&token)),
                DenyReason::AlgorithmNotAllowed,
                "{none}"
            );
        }
    }
}

#[test]
fn hs256_signed_with_the_public_key_pem_is_refused() {
    // The classic confusion attack: HMAC keyed with the issuer's public key.
    for secret in [
        key_file!("dex-rsa.pem").as_bytes(),
        key_file!("dex.jwks.json").as_bytes(),
    ] {
        let header = b64_encode(
            json!({"alg": "HS256", "kid": "dex-1"})
                .to_string()
                .as_bytes(),
        );
        let payload = b64_encode(dex_claims().to_string().as_bytes());
        let signed = format!("{header}.{payload}");
        let mac = Hs256.sign(&Hs256Key::new(secret), signed.as_bytes());
        let token = format!("{signed}.{}", b64_encode(&mac.as_bytes()));
        assert_eq!(reason(bearer(&token)), DenyReason::AlgorithmNotAllowed);
    }
    for alg in ["HS384", "HS512", "RS1", "ES256K", "Ed25519", "rs256", ""] {
        let header = b64_encode(json!({"alg": alg, "kid": "dex-1"}).to_string().as_bytes());
        let good = dex_token(&dex_claims());
        let rest = good.split_once('.').map(|(_, r)| r).unwrap_or_default();
        assert_eq!(
            reason(bearer(&format!("{header}.{rest}"))),
            DenyReason::AlgorithmNotAllowed,
            "{alg}"
        );
    }
}

#[test]
fn algorithm_must_be_one_the_issuer_allows() {
    // PS384 is a fine algorithm, but Dex's issuer does not list it.
    let token = jwt(&dex_key(), "PS384", json!({"kid": "dex-1"}), &dex_claims());
    assert_eq!(reason(bearer(&token)), DenyReason::AlgorithmNotAllowed);
    // RS256 is not allowed for the EC/EdDSA issuer.
    let claims = json!({"iss": EXTRA, "sub": "bob", "exp": NOW + 60});
    let token = jwt(&dex_key(), "RS256", json!({"kid": "extra-es256"}), &claims);
    assert_eq!(reason(bearer(&token)), DenyReason::AlgorithmNotAllowed);
}

#[test]
fn key_type_must_fit_the_algorithm() {
    let claims = json!({"iss": EXTRA, "sub": "bob", "exp": NOW + 60});
    let es384 = signing_key(key_file!("extra-es384.key.pem"));
    // An ES384 signature presented against the Ed25519 key, and ES256 against the P-384 key.
    let token = jwt(&es384, "ES384", json!({"kid": "extra-ed25519"}), &claims);
    assert_eq!(reason(bearer(&token)), DenyReason::AlgorithmNotAllowed);
    let es256 = signing_key(key_file!("extra-es256.key.pem"));
    let token = jwt(&es256, "ES256", json!({"kid": "extra-es384"}), &claims);
    assert_eq!(reason(bearer(&token)), DenyReason::AlgorithmNotAllowed);
}

#[test]
fn kid_selects_the_key() {
    let token = jwt(&dex_key(), "RS256", json!({"kid": "dex-2"}), &dex_claims());
    assert_eq!(reason(bearer(&token)), DenyReason::UnknownKid);
    // No kid: fine with a single-key issuer, refused with several keys.
    let token = jwt(&dex_key(), "RS256", json!({}), &dex_claims());
    assert_eq!(ok(bearer(&token)).kid.as_deref(), Some("dex-1"));
    let claims = json!({"iss": EXTRA, "sub": "bob", "exp": NOW + 60});
    let token = jwt(
        &signing_key(key_file!("extra-es256.key.pem")),
        "ES256",
        json!({}),
        &claims,
    );
    assert_eq!(reason(bearer(&token)), DenyReason::UnknownKid);
    let token = jwt(&dex_key(), "RS256", json!({"kid": 1}), &dex_claims());
    assert_eq!(reason(bearer(&token)), DenyReason::TokenMalformed);
}

#[test]
fn a_kidless_table_key_is_the_only_key_and_answers_any_kid() {
    let mut issuers = issuers();
    if let Some(IssuerSpec::Jwt(dex)) = issuers.first_mut() {
        for key in &mut dex.keys {
            key.kid = None;
        }
    }
    let v = Verifiers::new(&issuers).unwrap_or_else(|e| unreachable!("{e}"));
    let token = jwt(
        &dex_key(),
        "RS256",
        json!({"kid": "rotated"}),
        &dex_claims(),
    );
    assert_eq!(
        v.verify_bearer(&token, NOW, LEEWAY).map(|t| t.kid),
        Ok(None)
    );
    let rogue = signing_key(key_file!("rogue-rsa.key.pem"));
    let token = jwt(&rogue, "RS256", json!({"kid": "rotated"}), &dex_claims());
    assert_eq!(
        reason(v.verify_bearer(&token, NOW, LEEWAY)),
        DenyReason::BadSignature
    );
}

#[test]
fn retired_keys_are_not_used() {
    let mut issuers = issuers();
    if let Some(IssuerSpec::Jwt(dex)) = issuers.first_mut() {
        for key in &mut dex.keys {
            key.not_after = Some(NOW - 1);
        }
    }
    let v = Verifiers::new(&issuers).unwrap_or_else(|e| unreachable!("{e}"));
    let token = dex_token(&dex_claims());
    assert_eq!(
        reason(v.verify_bearer(&token, NOW, LEEWAY)),
        DenyReason::UnknownKid
    );
    assert!(v.verify_bearer(&token, NOW - 1, LEEWAY).is_ok());
}

#[test]
fn forged_and_tampered_tokens_fail_the_signature() {
    let rogue = signing_key(key_file!("rogue-rsa.key.pem"));
    let token = jwt(&rogue, "RS256", json!({"kid": "dex-1"}), &dex_claims());
    assert_eq!(reason(bearer(&token)), DenyReason::BadSignature);

    let good = dex_token(&dex_claims());
    let mut claims = dex_claims();
    claims["email"] = json!("admin@example.com");
    let evil = b64_encode(claims.to_string().as_bytes());
    let mut parts: Vec<&str> = good.split('.').collect();
    if let Some(p) = parts.get_mut(1) {
        *p = &evil;
    }
    assert_eq!(reason(bearer(&parts.join("."))), DenyReason::BadSignature);
    // Signature of another valid token, and a truncated signature.
    let other = dex_token(&json!({"iss": DEX, "aud": "kubeflow", "email": "x@y", "exp": NOW + 5}));
    let other_sig = other.rsplit('.').next().unwrap_or_default();
    let (signed, sig) = good.rsplit_once('.').unwrap_or_default();
    assert_eq!(
        reason(bearer(&format!("{signed}.{other_sig}"))),
        DenyReason::BadSignature
    );
    let mut short = crate::token::encoding::b64_strict(sig).unwrap_or_default();
    short.pop();
    assert_eq!(
        reason(bearer(&format!("{signed}.{}", b64_encode(&short)))),
        DenyReason::BadSignature
    );
}

#[test]
fn embedded_key_headers_are_ignored() {
    // A token signed by the attacker's key, pointing at the attacker's key in every way JOSE
    // allows, still verifies only against the table's key.
    let rogue = signing_key(key_file!("rogue-rsa.key.pem"));
    let rogue_jwk =
        jwk_from_pem(key_file!("rogue-rsa.pem")).unwrap_or_else(|e| unreachable!("{e}"));
    let header = json!({
        "kid": "dex-1",
        "jku": "https://attacker.example/jwks.json",
        "x5u": "https://attacker.example/cert.pem",
        "jwk": rogue_jwk,
        "x5c": ["MIIB"],
    });
    let token = jwt(&rogue, "RS256", header.clone(), &dex_claims());
    assert_eq!(reason(bearer(&token)), DenyReason::BadSignature);
    // The same headers on a genuine token change nothing.
    let token = jwt(&dex_key(), "RS256", header, &dex_claims());
    assert_eq!(ok(bearer(&token)).identity.user, "alice@example.com");
}

#[test]
fn crit_is_refused() {
    let token = jwt(
        &dex_key(),
        "RS256",
        json!({"kid": "dex-1", "crit": ["exp"], "exp": 1}),
        &dex_claims(),
    );
    assert_eq!(reason(bearer(&token)), DenyReason::UnsupportedCritical);
    let token = jwt(
        &dex_key(),
        "RS256",
        json!({"kid": "dex-1", "b64": false, "crit": ["b64"]}),
        &dex_claims(),
    );
    assert_eq!(reason(bearer(&token)), DenyReason::UnsupportedCritical);
}

#[test]
fn structure_is_checked() {
    let good = dex_token(&dex_claims());
    for bad in [
        format!("{good}.x"),
        format!("{good}.x.y"),
        good.replacen('.', "", 1),
        format!(".{good}"),
        String::new(),
        "Bearer".into(),
        good.replacen('.', ".+", 1),
        format!(" {good}"),
        format!("{good}="),
    ] {
        assert_ne!(bearer(&bad).map(|_| ()), Ok(()), "{bad}");
    }
    assert_eq!(
        reason(bearer(&format!("{good}.x"))),
        DenyReason::TokenMalformed
    );
    assert_eq!(
        reason(bearer(&format!("{good}.x.y"))),
        DenyReason::TokenMalformed
    );
}

#[test]
fn oversize_tokens_are_refused_before_any_work() {
    let mut claims = dex_claims();
    claims["pad"] = json!("x".repeat(16 * 1024));
    let token = dex_token(&claims);
    assert!(token.len() > 16 * 1024);
    assert_eq!(reason(bearer(&token)), DenyReason::TokenMalformed);
    // Just under the limit is fine.
    claims["pad"] = json!("x".repeat(11 * 1024));
    assert!(bearer(&dex_token(&claims)).is_ok());
}

#[test]
fn non_utf8_and_non_object_json_is_malformed() {
    let key = dex_key();
    let header = br#"{"alg":"RS256","kid":"dex-1"}"#;
    let cases: [(&[u8], &[u8]); 4] = [
        (
            b"{\"alg\":\"RS256\",\"kid\":\"dex-1\xff\"}",
            br#"{"iss":"x"}"#,
        ),
        (
            header,
            b"{\"iss\":\"https://dex.example.com\",\"email\":\"\xc3\x28\"}",
        ),
        (header, b"[1,2]"),
        (header, b"\"just a string\""),
    ];
    for (h, p) in cases {
        let token = raw_jwt(&key, Alg::Rs256, h, p);
        assert_eq!(reason(bearer(&token)), DenyReason::TokenMalformed);
    }
}

#[test]
fn duplicate_claims_are_refused() {
    let key = dex_key();
    let header = br#"{"alg":"RS256","kid":"dex-1"}"#;
    let payload = format!(
        r#"{{"iss":"{DEX}","aud":"kubeflow","email":"alice@example.com","email":"admin@example.com","exp":{}}}"#,
        NOW + 60
    );
    let token = raw_jwt(&key, Alg::Rs256, header, payload.as_bytes());
    assert_eq!(reason(bearer(&token)), DenyReason::TokenMalformed);
    let dup_header = br#"{"alg":"RS256","kid":"dex-1","kid":"dex-1"}"#;
    let token = raw_jwt(
        &key,
        Alg::Rs256,
        dup_header,
        dex_claims().to_string().as_bytes(),
    );
    assert_eq!(reason(bearer(&token)), DenyReason::TokenMalformed);
    // Deep nesting: serde_json's recursion limit, no stack overflow.
    let deep = format!(
        r#"{{"iss":"{DEX}","x":{}{}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let token = format!(
        "{}.{}.AAAA",
        b64_encode(header),
        b64_encode(deep.as_bytes())
    );
    assert_eq!(reason(bearer(&token)), DenyReason::TokenMalformed);
}

#[test]
fn unknown_issuer_is_refused() {
    let mut claims = dex_claims();
    claims["iss"] = json!("https://dex.example.com/");
    assert_eq!(
        reason(bearer(&dex_token(&claims))),
        DenyReason::UnknownIssuer
    );
    claims.as_object_mut().map(|c| c.remove("iss"));
    assert_eq!(
        reason(bearer(&dex_token(&claims))),
        DenyReason::UnknownIssuer
    );
    claims["iss"] = json!(["https://dex.example.com"]);
    assert_eq!(
        reason(bearer(&dex_token(&claims))),
        DenyReason::TokenMalformed
    );
}

#[test]
fn a_valid_token_of_one_issuer_does_not_pass_for_another() {
    // Signed by Cognito's key but claiming Dex's `iss`: only Dex's keys are tried.
    let cognito = signing_key(key_file!("cognito-rsa.key.pem"));
    let token = jwt(
        &cognito,
        "RS256",
        json!({"kid": "cognito-1"}),
        &dex_claims(),
    );
    assert_eq!(reason(bearer(&token)), DenyReason::UnknownKid);
    let token = jwt(&cognito, "RS256", json!({"kid": "dex-1"}), &dex_claims());
    assert_eq!(reason(bearer(&token)), DenyReason::BadSignature);
}
