//! `testdata/tokens/`: pre-minted tokens for the example policies (`policies/issuers.yaml`),
//! for the wasm and Envoy test layers. Each file's expected outcome is in
//! `testdata/tokens/expected.json`; this test checks every file against it with issuers that
//! mirror the example policies. Rewrite them with
//! `GATEHOUSE_WRITE_TOKENS=1 cargo test -p gatehouse-filter samples -- --ignored`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use jwt_compact::alg::{Hs256, Hs256Key};
use jwt_compact::{Algorithm, AlgorithmSignature};
use serde_json::json;

use super::*;
use crate::token::encoding::b64_encode;

/// Valid until 2100-01-01.
const EXP: u64 = 4_102_444_800;
/// The example policies' leeway.
const POLICY_LEEWAY: u64 = 30;
const AUD: &str = "kubeflow-oidc-authservice";
const SA_ISS: &str = "https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE";

fn dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/tokens"))
}

/// Issuers as `policies/issuers.yaml` declares them.
fn policy_verifiers() -> Verifiers {
    let mut issuers = issuers();
    for issuer in &mut issuers {
        match issuer {
            IssuerSpec::Jwt(j) if j.name == "dex" => {
                j.audiences = vec![AUD.into()];
                j.algorithms = vec!["RS256".into()];
                j.groups_prefix = String::new();
                j.max_lifetime_seconds = None;
            }
            IssuerSpec::Jwt(j) if j.name == "eks" => {
                j.name = "eks-serviceaccounts".into();
                j.issuer = SA_ISS.into();
                j.max_lifetime_seconds = Some(86_400);
            }
            IssuerSpec::Alb(a) => {
                a.name = "corp-alb".into();
                a.issuer = None;
                a.client = None;
            }
            _ => {}
        }
    }
    Verifiers::new(&issuers).unwrap_or_else(|e| unreachable!("{e}"))
}

fn dex(email: &str, groups: &[&str]) -> Value {
    json!({"iss": DEX, "aud": AUD, "sub": email, "email": email, "email_verified": true, "groups": groups, "iat": EXP - 3600, "exp": EXP})
}

fn alb_for(email: &str, signer: &str) -> (Value, Value) {
    let header = json!({"kid": "alb-1", "signer": signer, "iss": DEX, "client": AUD, "exp": EXP});
    (
        header,
        json!({"sub": email, "email": email, "email_verified": "true", "exp": EXP, "iss": DEX}),
    )
}

/// (file, token, expected: user or reason code)
fn samples() -> Vec<(&'static str, String, &'static str)> {
    let dex_key = dex_key();
    let rs = |claims: &Value| jwt(&dex_key, "RS256", json!({"kid": "dex-1"}), claims);
    let alb_ok = |email: &str, padding| {
        let (h, c) = alb_for(email, ALB_SIGNER);
        alb_token(&alb_key(), &h, &c, padding)
    };
    let eks = signing_key(key_file!("eks-sa-rsa.key.pem"));
    let sa = json!({
        "iss": SA_ISS, "aud": ["gatehouse"], "sub": "system:serviceaccount:research:pipeline-runner",
        // One hour of lifetime that ends in 2100 (the verifier does not refuse a future `iat`).
        "iat": EXP - 3600, "exp": EXP,
        "kubernetes.io": {"namespace": "research", "serviceaccount": {"name": "pipeline-runner", "uid": "7c1e"}},
    });
    let mut expired = dex("alice@example.com", &[]);
    expired["exp"] = json!(1_700_000_000);
    expired["iat"] = json!(1_699_996_400);
    let mut wrong_aud = dex("alice@example.com", &[]);
    wrong_aud["aud"] = json!("someone-else");
    let none = {
        let h = b64_encode(br#"{"alg":"none","kid":"dex-1"}"#);
        format!(
            "{h}.{}.",
            b64_encode(dex("alice@example.com", &[]).to_string().as_bytes())
        )
    };
    let hs = {
        let h = b64_encode(br#"{"alg":"HS256","kid":"dex-1"}"#);
        let signed = format!(
            "{h}.{}",
            b64_encode(dex("alice@example.com", &[]).to_string().as_bytes())
        );
        let mac = Hs256.sign(
            &Hs256Key::new(key_file!("dex-rsa.pem").as_bytes()),
            signed.as_bytes(),
        );
        format!("{signed}.{}", b64_encode(&mac.as_bytes()))
    };
    let (wh, wc) = alb_for(
        "alice@example.com",
        "arn:aws:elasticloadbalancing:us-east-1:999999999999:loadbalancer/app/evil/1",
    );
    let (ah, ac) = alb_for("alice@example.com", ALB_SIGNER);
    vec![
        (
            "dex-alice.jwt",
            rs(&dex("alice@example.com", &["ml-researchers"])),
            "alice@example.com",
        ),
        (
            "dex-bob.jwt",
            rs(&dex("bob@example.com", &[])),
            "bob@example.com",
        ),
        (
            "dex-carol.jwt",
            rs(&dex("carol@example.com", &[])),
            "carol@example.com",
        ),
        (
            "eks-sa-research-pipeline-runner.jwt",
            jwt(&eks, "RS256", json!({"kid": "eks-sa-1"}), &sa),
            "system:serviceaccount:research:pipeline-runner",
        ),
        (
            "alb-alice.alb",
            alb_ok("alice@example.com", Padding::Padded),
            "alice@example.com",
        ),
        (
            "alb-alice-unpadded.alb",
            alb_ok("alice@example.com", Padding::Unpadded),
            "alice@example.com",
        ),
        (
            "alb-bob.alb",
            alb_ok("bob@example.com", Padding::Padded),
            "bob@example.com",
        ),
        ("dex-expired.jwt", rs(&expired), "token_expired"),
        ("dex-wrong-audience.jwt", rs(&wrong_aud), "wrong_audience"),
        (
            "dex-forged-rogue-key.jwt",
            jwt(
                &signing_key(key_file!("rogue-rsa.key.pem")),
                "RS256",
                json!({"kid": "dex-1"}),
                &dex("alice@example.com", &[]),
            ),
            "bad_signature",
        ),
        ("dex-alg-none.jwt", none, "algorithm_not_allowed"),
        ("dex-hs256-public-key.jwt", hs, "algorithm_not_allowed"),
        (
            "alb-wrong-signer.alb",
            alb_token(&alb_key(), &wh, &wc, Padding::Padded),
            "wrong_signer",
        ),
        (
            "alb-attacker-key.alb",
            alb_token(
                &signing_key(key_file!("alb-attacker.key.pem")),
                &ah,
                &ac,
                Padding::Padded,
            ),
            "bad_signature",
        ),
    ]
}

fn check(v: &Verifiers, file: &str, token: &str, now: u64) -> String {
    let token = token.trim();
    let result = if file.ends_with(".alb") {
        v.verify_alb(token, now, POLICY_LEEWAY)
    } else {
        v.verify_bearer(token, now, POLICY_LEEWAY)
    };
    match result {
        Ok(t) => t.identity.user,
        Err(f) => f.reason.code().to_owned(),
    }
}

#[test]
#[ignore = "writes testdata/tokens; run with GATEHOUSE_WRITE_TOKENS=1"]
fn write_samples() {
    if std::env::var_os("GATEHOUSE_WRITE_TOKENS").is_none() {
        return;
    }
    let mut expected = BTreeMap::new();
    for (file, token, outcome) in samples() {
        let written = std::fs::write(dir().join(file), format!("{token}\n"));
        assert!(written.is_ok(), "{file}: {written:?}");
        expected.insert(file, outcome);
    }
    let text = serde_json::to_string_pretty(&expected).unwrap_or_default();
    assert!(std::fs::write(dir().join("expected.json"), format!("{text}\n")).is_ok());
}

#[test]
fn samples_verify_as_expected() {
    let v = policy_verifiers();
    // The files are for tests that run on the wall clock: check them on it.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(NOW, |d| d.as_secs());
    for (file, token, outcome) in samples() {
        assert_eq!(check(&v, file, &token, now), outcome, "{file} (fresh)");
    }
    let Ok(expected) = std::fs::read_to_string(dir().join("expected.json")) else {
        return; // not written yet
    };
    let expected: BTreeMap<String, String> = serde_json::from_str(&expected).unwrap_or_default();
    assert!(!expected.is_empty());
    for (file, outcome) in expected {
        let token = std::fs::read_to_string(dir().join(&file)).unwrap_or_default();
        assert_eq!(check(&v, &file, &token, now), outcome, "{file}");
    }
}
