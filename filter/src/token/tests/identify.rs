//! The precedence rule and header extraction, with a stand-in verifier.

use super::*;
use crate::identity::Identity;
use crate::table::Precedence;
use crate::token::{identify, Credentials, Source};

/// Stand-in verifier: a token `user[:groups]` verifies as that user; `bad:<code>` fails.
fn fake(source: Source, token: &str) -> Result<VerifiedToken, TokenFailure> {
    if let Some(code) = token.strip_prefix("bad-") {
        let reason = DenyReason::from_code(code).unwrap_or(DenyReason::BadSignature);
        return Err(TokenFailure::new(reason, format!("{source:?}")));
    }
    let (user, group) = token.split_once('+').unwrap_or((token, ""));
    Ok(VerifiedToken {
        identity: Identity {
            user: user.into(),
            groups: vec![group.into()],
            issuer: format!("{source:?}"),
        },
        expires_at: NOW,
        kid: None,
        sub: None,
        client: None,
    })
}

fn run(
    alb: &[&str],
    authorization: &[&str],
    precedence: Precedence,
) -> Result<Option<VerifiedToken>, TokenFailure> {
    let creds = Credentials {
        session: None,
        alb: alb.to_vec(),
        authorization: authorization.to_vec(),
        alb_access: Vec::new(),
    };
    identify(&creds, precedence, &mut (), |_| None, |s, t, _| fake(s, t))
}

fn failed(r: Result<Option<VerifiedToken>, TokenFailure>) -> DenyReason {
    match r {
        Ok(v) => unreachable!("expected failure, got {v:?}"),
        Err(f) => f.reason,
    }
}

fn user(r: Result<Option<VerifiedToken>, TokenFailure>) -> Option<(String, String)> {
    match r {
        Ok(v) => v.map(|v| (v.identity.user, v.identity.issuer)),
        Err(f) => unreachable!("expected success, got {f:?}"),
    }
}

#[test]
fn no_token_is_no_identity() {
    assert_eq!(user(run(&[], &[], Precedence::AlbFirst)), None);
}

#[test]
fn authorization_header_shape() {
    for ok in [
        "Bearer alice",
        "bearer alice",
        "BEARER alice",
        "BeArEr alice",
    ] {
        assert_eq!(
            user(run(&[], &[ok], Precedence::AlbFirst)),
            Some(("alice".into(), "Bearer".into())),
            "{ok}"
        );
    }
    for bad in [
        "Bearer",
        "Bearer ",
        "Bearer  alice",
        "Basic YWxpY2U6eA==",
        "Bearer alice x",
        "Bearer\talice",
        "Bearer alice\t",
        "alice",
        "Bearér alice",
        "",
    ] {
        assert_eq!(
            failed(run(&[], &[bad], Precedence::AlbFirst)),
            DenyReason::BadAuthorizationHeader,
            "{bad:?}"
        );
    }
    assert_eq!(
        failed(run(
            &[],
            &["Bearer alice", "Bearer alice"],
            Precedence::BearerFirst
        )),
        DenyReason::BadAuthorizationHeader
    );
}

#[test]
fn several_alb_headers_are_malformed() {
    assert_eq!(
        failed(run(&["alice", "alice"], &[], Precedence::AlbFirst)),
        DenyReason::TokenMalformed
    );
}

#[test]
fn both_tokens_must_agree_and_the_precedence_source_wins() {
    let both = |p| run(&["alice+alb-group"], &["Bearer alice+jwt-group"], p);
    let alb_first = both(Precedence::AlbFirst)
        .unwrap_or_else(|f| unreachable!("{f:?}"))
        .map(|v| v.identity);
    assert_eq!(
        alb_first.as_ref().map(|i| i.groups.clone()),
        Some(vec!["alb-group".into()])
    );
    assert_eq!(alb_first.map(|i| i.issuer), Some("Alb".into()));
    let bearer_first = both(Precedence::BearerFirst)
        .unwrap_or_else(|f| unreachable!("{f:?}"))
        .map(|v| v.identity);
    assert_eq!(
        bearer_first.map(|i| i.groups),
        Some(vec!["jwt-group".into()])
    );
}

#[test]
fn conflicting_identities_are_refused() {
    for p in [Precedence::AlbFirst, Precedence::BearerFirst] {
        assert_eq!(
            failed(run(&["alice"], &["Bearer mallory"], p)),
            DenyReason::ConflictingIdentities
        );
    }
}

#[test]
fn an_invalid_token_is_never_ignored() {
    for p in [Precedence::AlbFirst, Precedence::BearerFirst] {
        assert_eq!(
            failed(run(&["bad-wrong_signer"], &["Bearer alice"], p)),
            DenyReason::WrongSigner
        );
        assert_eq!(
            failed(run(&["alice"], &["Bearer bad-token_expired"], p)),
            DenyReason::TokenExpired
        );
    }
    // Both bad: the precedence source's failure is the answer.
    let both = |p| failed(run(&["bad-wrong_signer"], &["Bearer bad-token_expired"], p));
    assert_eq!(both(Precedence::AlbFirst), DenyReason::WrongSigner);
    assert_eq!(both(Precedence::BearerFirst), DenyReason::TokenExpired);
}

#[test]
fn identify_with_real_verifiers() {
    let v = verifiers();
    let verify = |source: Source, token: &str, _: &mut ()| {
        v.verify(source, token, NOW, LEEWAY, None, &mut ())
    };
    let access = |issuer: &str| v.alb_access(issuer);
    let alb_token = alb_token(&alb_key(), &alb_header(), &alb_claims(), Padding::Padded);
    let bearer = format!("Bearer {}", dex_token(&dex_claims()));
    let creds = Credentials {
        session: None,
        alb: vec![&alb_token],
        authorization: vec![&bearer],
        alb_access: Vec::new(),
    };
    let got = identify(&creds, Precedence::BearerFirst, &mut (), access, verify)
        .unwrap_or_else(|f| unreachable!("{f:?}"));
    assert_eq!(
        got.map(|t| t.identity.groups),
        Some(vec!["dex:admins".into(), "dex:ml-team".into()])
    );
    let mut other = dex_claims();
    other["email"] = serde_json::json!("mallory@example.com");
    let bearer = format!("Bearer {}", dex_token(&other));
    let creds = Credentials {
        session: None,
        alb: vec![&alb_token],
        authorization: vec![&bearer],
        alb_access: Vec::new(),
    };
    let got = identify(&creds, Precedence::AlbFirst, &mut (), access, verify)
        .map(|_| ())
        .map_err(|f| f.reason);
    assert_eq!(got, Err(DenyReason::ConflictingIdentities));
}
