//! The ALB's access token (`x-amzn-oidc-accesstoken`, a Cognito access token) beside its
//! `x-amzn-oidc-data`: every way it can fail, each with its own reason, and its groups.

use super::*;
use crate::table::Precedence;
use crate::token::{identify, Credentials, Source};

pub fn cognito_key() -> SigningKey {
    signing_key(key_file!("cognito-rsa.key.pem"))
}

/// Claims of a good access token for the user of [`alb_claims`] (same `sub`).
pub fn access_claims() -> Value {
    json!({
        "iss": COGNITO,
        "sub": "1234567890",
        "token_use": "access",
        "client_id": ALB_CLIENT,
        "username": "alice",
        "cognito:groups": ["ml-team", "admins"],
        "scope": "openid email",
        "iat": NOW - 10,
        "exp": NOW + 3600,
    })
}

pub fn access_token(claims: &Value) -> String {
    jwt(&cognito_key(), "RS256", json!({"kid": "cognito-1"}), claims)
}

fn alb_data() -> String {
    alb_token(&alb_key(), &alb_header(), &alb_claims(), Padding::Padded)
}

/// Identifies a request with `x-amzn-oidc-data` and these access tokens, against `v`.
fn identify_with(v: &Verifiers, access: &[&str]) -> Result<Option<VerifiedToken>, TokenFailure> {
    let data = alb_data();
    let creds = Credentials {
        session: None,
        alb: vec![&data],
        authorization: Vec::new(),
        alb_access: access.to_vec(),
    };
    identify(
        &creds,
        Precedence::AlbFirst,
        &mut (),
        |issuer| v.alb_access(issuer),
        |source, token, _| v.verify(source, token, NOW, LEEWAY, None, &mut ()),
    )
}

fn refused(access: &[&str]) -> DenyReason {
    match identify_with(verifiers(), access) {
        Ok(v) => unreachable!("expected a failure, got {v:?}"),
        Err(f) => f.reason,
    }
}

fn groups(r: Result<Option<VerifiedToken>, TokenFailure>) -> Vec<String> {
    match r {
        Ok(Some(v)) => {
            assert_eq!(v.identity.user, "alice@example.com");
            assert_eq!(v.identity.issuer, "alb");
            v.identity.groups
        }
        other => unreachable!("expected an identity, got {other:?}"),
    }
}

fn with(change: impl FnOnce(&mut Value)) -> String {
    let mut claims = access_claims();
    change(&mut claims);
    access_token(&claims)
}

#[test]
fn a_verified_access_token_brings_its_groups_with_the_issuers_prefix() {
    let token = access_token(&access_claims());
    assert_eq!(
        groups(identify_with(verifiers(), &[&token])),
        ["cognito:ml-team", "cognito:admins"]
    );
    // Optional by default: no access token, no groups.
    assert!(groups(identify_with(verifiers(), &[])).is_empty());
}

#[test]
fn every_bad_access_token_is_refused_with_its_reason() {
    let expired = with(|c| {
        c["exp"] = json!(NOW - 600);
        c["iat"] = json!(NOW - 4000);
    });
    let other_pool =
        with(|c| c["iss"] = json!("https://cognito-idp.us-east-1.amazonaws.com/us-east-1_OTHER"));
    let unknown_client = with(|c| c["client_id"] = json!("someone-elses-app"));
    // Allowed for this issuer, but not the client the ALB signed in with.
    let other_client = with(|c| c["client_id"] = json!(OTHER_CLIENT));
    let no_client = with(|c| {
        c.as_object_mut().map(|o| o.remove("client_id"));
    });
    let id_token = with(|c| {
        c["token_use"] = json!("id");
        c["aud"] = json!(ALB_CLIENT);
    });
    let no_use = with(|c| {
        c.as_object_mut().map(|o| o.remove("token_use"));
    });
    let other_user = with(|c| c["sub"] = json!("999"));
    let no_sub = with(|c| {
        c.as_object_mut().map(|o| o.remove("sub"));
    });
    let good = access_token(&access_claims());
    // Groups changed after signing: the signature no longer holds.
    let tampered = {
        let parts: Vec<&str> = good.split('.').collect();
        let mut claims = access_claims();
        claims["cognito:groups"] = json!(["platform-admins"]);
        let payload = super::super::encoding::b64_encode(claims.to_string().as_bytes());
        format!("{}.{payload}.{}", parts[0], parts[2])
    };
    // Signed by a key the pool does not hold, under the pool's kid.
    let rogue = jwt(
        &signing_key(key_file!("rogue-rsa.key.pem")),
        "RS256",
        json!({"kid": "cognito-1"}),
        &access_claims(),
    );
    let none = {
        let parts: Vec<&str> = good.split('.').collect();
        let header = super::super::encoding::b64_encode(br#"{"alg":"none","kid":"cognito-1"}"#);
        format!("{header}.{}.", parts[1])
    };
    let hs256 = {
        let parts: Vec<&str> = good.split('.').collect();
        let header = super::super::encoding::b64_encode(br#"{"alg":"HS256","kid":"cognito-1"}"#);
        format!("{header}.{}.{}", parts[1], parts[2])
    };
    let cases: [(&str, &str, DenyReason); 14] = [
        ("expired", &expired, DenyReason::TokenExpired),
        ("another pool", &other_pool, DenyReason::UnknownIssuer),
        (
            "a client not allowed",
            &unknown_client,
            DenyReason::WrongClient,
        ),
        (
            "not the ALB's client",
            &other_client,
            DenyReason::WrongClient,
        ),
        ("no client_id", &no_client, DenyReason::WrongClient),
        ("an ID token", &id_token, DenyReason::NotAccessToken),
        ("no token_use", &no_use, DenyReason::NotAccessToken),
        (
            "another user's",
            &other_user,
            DenyReason::AccessTokenOtherUser,
        ),
        ("no sub", &no_sub, DenyReason::ClaimMissing),
        ("tampered groups", &tampered, DenyReason::BadSignature),
        ("a rogue key", &rogue, DenyReason::BadSignature),
        ("alg none", &none, DenyReason::AlgorithmNotAllowed),
        ("alg HS256", &hs256, DenyReason::AlgorithmNotAllowed),
        ("not a JWT", "abc", DenyReason::TokenMalformed),
    ];
    for (name, token, want) in cases {
        assert_eq!(refused(&[token]), want, "{name}");
    }
    assert_eq!(
        refused(&[&good, &good]),
        DenyReason::TokenMalformed,
        "two headers"
    );
}

#[test]
fn a_required_access_token_must_be_there() {
    let mut issuers = issuers();
    for i in &mut issuers {
        if let IssuerSpec::Alb(a) = i {
            if let Some(access) = &mut a.access_token {
                access.required = true;
            }
        }
    }
    let v = Verifiers::new(&issuers).unwrap_or_else(|e| unreachable!("{e}"));
    let missing = identify_with(&v, &[]).map(|_| ()).map_err(|f| f.reason);
    assert_eq!(missing, Err(DenyReason::AccessTokenMissing));
    let token = access_token(&access_claims());
    assert_eq!(groups(identify_with(&v, &[&token])).len(), 2);
}

#[test]
fn access_tokens_and_bearer_tokens_never_stand_in_for_each_other() {
    let v = verifiers();
    // An access token is not a bearer token: the pool's access-token issuer takes none, and
    // the ID-token issuer of the same pool wants a `username`... and refuses it by its checks
    // or accepts it as that issuer's, never as `alb-access`.
    let token = access_token(&access_claims());
    if let Ok(t) = v.verify(Source::Bearer, &token, NOW, LEEWAY, None, &mut ()) {
        assert_ne!(t.identity.issuer, "alb-access");
    }
    // A Dex bearer token is no access token: its issuer takes bearer tokens only.
    let dex = dex_token(&dex_claims());
    let f = v.verify(Source::AlbAccess, &dex, NOW, LEEWAY, None, &mut ());
    assert_eq!(reason(f), DenyReason::UnknownIssuer);
}

/// Verifiers for [`issuers`] with the ALB issuer's access-token settings changed.
fn with_access(change: impl Fn(&mut AccessTokenSpec)) -> Result<(), String> {
    let mut issuers = issuers();
    for i in &mut issuers {
        if let IssuerSpec::Alb(a) = i {
            if let Some(access) = &mut a.access_token {
                change(access);
            }
        }
    }
    Verifiers::new(&issuers).map(|_| ())
}

#[test]
fn an_access_token_issuer_must_exist_take_no_bearer_tokens_and_name_clients() {
    let err = |change: fn(&mut AccessTokenSpec)| with_access(change).err().unwrap_or_default();
    assert!(err(|a| a.issuer = "nobody".into()).contains("not in the table"));
    assert!(err(|a| a.issuer = "dex".into()).contains("also takes bearer tokens"));
    assert!(err(|a| a.client_ids.clear()).contains("no app client ids"));
    assert!(with_access(|_| {}).is_ok());
}
