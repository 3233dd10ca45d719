//! Bearer JWT claims: times, audience, lifetime, user, groups, ServiceAccounts.

use serde_json::json;

use super::*;

fn with(claim: &str, value: Value) -> Value {
    let mut claims = dex_claims();
    claims[claim] = value;
    claims
}

fn without(claim: &str) -> Value {
    let mut claims = dex_claims();
    claims.as_object_mut().map(|c| c.remove(claim));
    claims
}

fn check(claims: &Value) -> Result<VerifiedToken, TokenFailure> {
    bearer(&dex_token(claims))
}

#[test]
fn exp_is_required_and_honoured_with_leeway() {
    assert_eq!(
        reason(check(&with("exp", json!(NOW - LEEWAY - 1)))),
        DenyReason::TokenExpired
    );
    assert!(check(&with("exp", json!(NOW - LEEWAY + 1))).is_ok());
    assert_eq!(reason(check(&without("exp"))), DenyReason::TokenExpired);
    let v = ok(check(&with("exp", json!(NOW + 5))));
    assert_eq!(v.expires_at, NOW + 5 + LEEWAY);
}

#[test]
fn times_must_be_numbers() {
    for claim in ["exp", "nbf", "iat"] {
        let c = with(claim, json!((NOW + 10).to_string()));
        assert_eq!(
            reason(check(&c)),
            DenyReason::TokenMalformed,
            "{claim} as string"
        );
        assert_eq!(
            reason(check(&with(claim, json!(-5)))),
            DenyReason::TokenMalformed
        );
        assert_eq!(
            reason(check(&with(claim, json!(null)))),
            DenyReason::TokenMalformed
        );
    }
    // Fractional NumericDate is fine.
    assert!(check(&with("exp", json!((NOW + 10) as f64 + 0.5))).is_ok());
}

#[test]
fn nbf_in_the_future_is_refused() {
    assert_eq!(
        reason(check(&with("nbf", json!(NOW + LEEWAY + 1)))),
        DenyReason::TokenNotYetValid
    );
    assert!(check(&with("nbf", json!(NOW + LEEWAY - 1))).is_ok());
}

#[test]
fn lifetime_is_bounded() {
    let mut claims = with("exp", json!(NOW + 86_400));
    claims["iat"] = json!(NOW - 10);
    assert_eq!(reason(check(&claims)), DenyReason::LifetimeTooLong);
    claims["iat"] = json!(NOW);
    assert!(check(&claims).is_ok());
    // Without `iat` the lifetime counts from now.
    let mut claims = with("exp", json!(NOW + 90_000));
    claims.as_object_mut().map(|c| c.remove("iat"));
    assert_eq!(reason(check(&claims)), DenyReason::LifetimeTooLong);
}

#[test]
fn audience_must_match() {
    assert_eq!(
        reason(check(&with("aud", json!("other")))),
        DenyReason::WrongAudience
    );
    assert_eq!(
        reason(check(&with("aud", json!(["a", "b"])))),
        DenyReason::WrongAudience
    );
    assert_eq!(reason(check(&without("aud"))), DenyReason::WrongAudience);
    assert!(check(&with("aud", json!(["other", "kubeflow"]))).is_ok());
    assert_eq!(
        reason(check(&with("aud", json!(7)))),
        DenyReason::TokenMalformed
    );
    assert_eq!(
        reason(check(&with("aud", json!(["kubeflow", 7])))),
        DenyReason::TokenMalformed
    );
    // An issuer with no audiences does not look at `aud`.
    let cognito = signing_key(key_file!("cognito-rsa.key.pem"));
    let claims = json!({"iss": COGNITO, "username": "carol", "exp": NOW + 60, "aud": "whatever"});
    let token = jwt(&cognito, "RS256", json!({"kid": "cognito-1"}), &claims);
    assert_eq!(ok(bearer(&token)).identity.user, "carol");
}

#[test]
fn user_claim_must_be_a_non_empty_string() {
    assert_eq!(reason(check(&without("email"))), DenyReason::ClaimMissing);
    assert_eq!(
        reason(check(&with("email", json!("")))),
        DenyReason::ClaimMissing
    );
    assert_eq!(
        reason(check(&with("email", json!(["alice@example.com"])))),
        DenyReason::ClaimMissing
    );
    assert_eq!(
        reason(check(&with("email", json!("alice\r\nx-evil: 1")))),
        DenyReason::BadIdentityValue
    );
}

#[test]
fn groups_are_prefixed_and_typed() {
    assert_eq!(
        ok(check(&with("groups", json!("solo")))).identity.groups,
        ["dex:solo"]
    );
    assert!(ok(check(&without("groups"))).identity.groups.is_empty());
    assert!(ok(check(&with("groups", json!([]))))
        .identity
        .groups
        .is_empty());
    assert_eq!(
        reason(check(&with("groups", json!(5)))),
        DenyReason::TokenMalformed
    );
    assert_eq!(
        reason(check(&with("groups", json!(["a", 5])))),
        DenyReason::TokenMalformed
    );
    assert_eq!(
        reason(check(&with("groups", json!({"a": 1})))),
        DenyReason::TokenMalformed
    );
    // Cognito: a claim name with a colon, no prefix.
    let cognito = signing_key(key_file!("cognito-rsa.key.pem"));
    let claims =
        json!({"iss": COGNITO, "username": "carol", "cognito:groups": ["ops"], "exp": NOW + 60});
    let token = jwt(&cognito, "RS256", json!({"kid": "cognito-1"}), &claims);
    assert_eq!(ok(bearer(&token)).identity.groups, ["ops"]);
}

fn sa_claims() -> Value {
    json!({
        "iss": EKS,
        "aud": ["gatehouse"],
        "sub": "system:serviceaccount:team-a:pipeline-runner",
        "exp": NOW + 3600,
        "iat": NOW - 5,
        "nbf": NOW - 5,
        "kubernetes.io": {
            "namespace": "team-a",
            "pod": {"name": "runner-0", "uid": "0b3a"},
            "serviceaccount": {"name": "pipeline-runner", "uid": "7c1e"},
        },
    })
}

#[test]
fn service_account_tokens_name_the_service_account() {
    let eks = signing_key(key_file!("eks-sa-rsa.key.pem"));
    let token = jwt(&eks, "RS256", json!({"kid": "eks-sa-1"}), &sa_claims());
    let v = ok(bearer(&token));
    assert_eq!(
        v.identity.user,
        "system:serviceaccount:team-a:pipeline-runner"
    );
    assert_eq!(v.identity.issuer, "eks");
    let mut claims = sa_claims();
    claims["aud"] = json!(["https://kubernetes.default.svc"]);
    let token = jwt(&eks, "RS256", json!({"kid": "eks-sa-1"}), &claims);
    assert_eq!(reason(bearer(&token)), DenyReason::WrongAudience);
}

#[test]
fn service_account_user_derives_from_the_kubernetes_claim() {
    let keys = match issuers().into_iter().nth(2) {
        Some(IssuerSpec::Jwt(eks)) => eks.keys,
        _ => unreachable!("eks is the third issuer"),
    };
    let spec = JwtIssuerSpec {
        key_fetch: None,
        user_claim: "kubernetes.io".into(),
        ..jwt_issuer("eks-k8s", EKS, keys)
    };
    let v = Verifiers::new(&[IssuerSpec::Jwt(spec)]).unwrap_or_else(|e| unreachable!("{e}"));
    let eks = signing_key(key_file!("eks-sa-rsa.key.pem"));
    let mut claims = sa_claims();
    // The derived name wins over whatever `sub` says.
    claims["sub"] = json!("something-else");
    let token = jwt(&eks, "RS256", json!({"kid": "eks-sa-1"}), &claims);
    let user = v
        .verify_bearer(&token, NOW, LEEWAY)
        .map(|t| t.identity.user);
    assert_eq!(
        user.as_deref(),
        Ok("system:serviceaccount:team-a:pipeline-runner")
    );

    claims["kubernetes.io"]["serviceaccount"] = json!({"uid": "7c1e"});
    let token = jwt(&eks, "RS256", json!({"kid": "eks-sa-1"}), &claims);
    assert_eq!(
        reason(v.verify_bearer(&token, NOW, LEEWAY)),
        DenyReason::ClaimMissing
    );
    claims["kubernetes.io"]["serviceaccount"] = json!({"name": "x:admin"});
    let token = jwt(&eks, "RS256", json!({"kid": "eks-sa-1"}), &claims);
    assert_eq!(
        reason(v.verify_bearer(&token, NOW, LEEWAY)),
        DenyReason::TokenMalformed
    );
}
