//! PEM and JWKS parsing, and key loading errors.

use serde_json::json;

use super::*;
use crate::table::PublicJwk;

#[test]
fn spki_pems_of_every_key_type_read() {
    let kinds = [
        (key_file!("alb-1.pem"), "EC", Some("P-256")),
        (key_file!("extra-es256.pem"), "EC", Some("P-256")),
        (key_file!("extra-es384.pem"), "EC", Some("P-384")),
        (key_file!("extra-ed25519.pem"), "OKP", Some("Ed25519")),
        (key_file!("dex-rsa.pem"), "RSA", None),
    ];
    for (pem, kty, crv) in kinds {
        let jwk = jwk_from_pem(pem).unwrap_or_else(|e| unreachable!("{e}"));
        let (got_kty, got_crv) = match &jwk {
            PublicJwk::Rsa { .. } => ("RSA", None),
            PublicJwk::Ec { crv, .. } => ("EC", Some(crv.as_str())),
            PublicJwk::Okp { crv, .. } => ("OKP", Some(crv.as_str())),
        };
        assert_eq!((got_kty, got_crv), (kty, crv));
    }
}

#[test]
fn pem_and_jwks_give_the_same_key() {
    let pairs = [
        (key_file!("dex-rsa.pem"), key_file!("dex.jwks.json"), 0),
        (
            key_file!("extra-es256.pem"),
            key_file!("extra.jwks.json"),
            0,
        ),
        (
            key_file!("extra-es384.pem"),
            key_file!("extra.jwks.json"),
            1,
        ),
        (
            key_file!("extra-ed25519.pem"),
            key_file!("extra.jwks.json"),
            2,
        ),
    ];
    for (pem, jwks, i) in pairs {
        let from_pem = jwk_from_pem(pem).ok();
        let from_jwks = parse_jwks(jwks)
            .ok()
            .and_then(|keys| keys.into_iter().nth(i))
            .map(|k| k.jwk);
        assert!(from_pem.is_some());
        assert_eq!(from_pem, from_jwks);
    }
}

#[test]
fn pem_errors_say_what_is_wrong() {
    let private = jwk_from_pem(key_file!("alb-1.key.pem"))
        .err()
        .unwrap_or_default();
    assert!(private.contains("private key"), "{private}");
    let garbage = jwk_from_pem("hello").err().unwrap_or_default();
    assert!(garbage.contains("not a pem"), "{garbage}");
    let cert = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    assert!(jwk_from_pem(cert)
        .err()
        .unwrap_or_default()
        .contains("unsupported pem label"));
    let broken = key_file!("alb-1.pem").replace("-----END PUBLIC KEY-----", "");
    assert!(jwk_from_pem(&broken).is_err());
    let weak = jwk_from_pem(key_file!("invalid-rsa-1024.pem"))
        .err()
        .unwrap_or_default();
    assert!(weak.contains("1024 bits"), "{weak}");
}

#[test]
fn every_testdata_jwks_reads_with_its_kids() {
    let kids = |json: &str| -> Vec<String> {
        parse_jwks(json)
            .unwrap_or_else(|e| unreachable!("{e}"))
            .into_iter()
            .filter_map(|k| k.kid)
            .collect()
    };
    assert_eq!(kids(key_file!("dex.jwks.json")), ["dex-1"]);
    assert_eq!(kids(key_file!("cognito.jwks.json")), ["cognito-1"]);
    assert_eq!(kids(key_file!("eks-sa.jwks.json")), ["eks-sa-1"]);
    assert_eq!(
        kids(key_file!("extra.jwks.json")),
        ["extra-es256", "extra-es384", "extra-ed25519"]
    );
}

fn jwks_error(keys: Value) -> String {
    parse_jwks(&json!({ "keys": keys }).to_string())
        .err()
        .unwrap_or_default()
}

fn dex_jwk() -> Value {
    let doc: Value = serde_json::from_str(key_file!("dex.jwks.json")).unwrap_or_default();
    doc["keys"][0].clone()
}

#[test]
fn jwks_refuses_private_symmetric_weak_and_odd_keys() {
    for member in ["d", "p", "q", "dp", "dq", "qi", "k"] {
        let mut key = dex_jwk();
        key[member] = json!("AQAB");
        let e = jwks_error(json!([key]));
        assert!(e.contains("private member") && e.contains("dex-1"), "{e}");
    }
    let e = jwks_error(json!([{"kty": "oct", "kid": "h", "k": "c2VjcmV0"}]));
    assert!(
        e.contains("private member") || e.contains("symmetric"),
        "{e}"
    );
    let e = jwks_error(json!([{"kty": "oct", "kid": "h"}]));
    assert!(e.contains("symmetric"), "{e}");
    let e = parse_jwks(key_file!("invalid-rsa-1024.jwks.json"))
        .err()
        .unwrap_or_default();
    assert!(e.contains("at least 2048"), "{e}");
    let mut key = dex_jwk();
    key["alg"] = json!("ES256");
    assert!(jwks_error(json!([key])).contains("does not fit"));
    let mut key = dex_jwk();
    key["use"] = json!("enc");
    assert!(jwks_error(json!([key])).contains("`use`"));
    assert!(jwks_error(json!([dex_jwk(), dex_jwk()])).contains("duplicate kid"));
    let mut key = dex_jwk();
    key["n"] = json!("not base64!");
    assert!(jwks_error(json!([key])).contains("base64url"));
    let point_off_curve = json!({"kty": "EC", "crv": "P-256", "x": "AQ", "y": "AQ"});
    assert!(!jwks_error(json!([point_off_curve])).is_empty());
    assert!(
        jwks_error(json!([{"kty": "EC", "crv": "P-521", "x": "AQ", "y": "AQ"}])).contains("P-521")
    );
    assert!(jwks_error(json!([])).contains("empty"));
    assert!(parse_jwks("{}").is_err());
    assert!(parse_jwks(r#"{"keys":[],"keys":[]}"#).is_err());
}

#[test]
fn loading_errors_name_issuer_and_kid() {
    let mut issuers = issuers();
    if let Some(IssuerSpec::Jwt(dex)) = issuers.first_mut() {
        if let Some(key) = dex.keys.first_mut() {
            key.jwk = PublicJwk::Ec {
                crv: "P-256".into(),
                x: "AQ".into(),
                y: "AQ".into(),
            };
        }
    }
    let e = Verifiers::new(&issuers).err().unwrap_or_default();
    assert!(e.contains("`dex`") && e.contains("`dex-1`"), "{e}");

    let mut issuers = super::issuers();
    if let Some(IssuerSpec::Jwt(dex)) = issuers.first_mut() {
        dex.algorithms.push("HS256".into());
    }
    let e = Verifiers::new(&issuers).err().unwrap_or_default();
    assert!(e.contains("`HS256`"), "{e}");

    // An ALB issuer with an RSA key.
    let mut issuers = super::issuers();
    let dex_key = match issuers.first() {
        Some(IssuerSpec::Jwt(dex)) => dex.keys.first().cloned(),
        _ => None,
    };
    if let (Some(IssuerSpec::Alb(alb)), Some(key)) = (issuers.last_mut(), dex_key) {
        alb.keys.push(key);
    }
    let e = Verifiers::new(&issuers).err().unwrap_or_default();
    assert!(e.contains("P-256"), "{e}");
}
