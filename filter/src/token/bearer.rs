//! Bearer JWTs: the issuer by `iss`, its algorithms and keys only, then its claim checks.

use serde_json::Value;

use super::alg::{self, Alg};
use super::claims::check_jwt;
use super::encoding::{b64_strict, parse_object, shown, split};
use super::trace::{Check, Checks};
use super::{choose_key, LiveKeys, TokenFailure, VerifiedToken, Verifiers};
use crate::identity::Identity;
use crate::reason::DenyReason;

impl Verifiers {
    /// Verifies a bearer JWT (the text after `Bearer `) with the compiled keys only.
    pub fn verify_bearer(
        &self,
        token: &str,
        now: u64,
        leeway: u64,
    ) -> Result<VerifiedToken, TokenFailure> {
        self.verify_bearer_traced(token, now, leeway, None, &mut ())
    }

    /// Verifies a bearer JWT with the compiled keys and, when given, the worker's live keys,
    /// announcing each step to `checks` as it starts it.
    pub fn verify_bearer_traced<T: Checks>(
        &self,
        token: &str,
        now: u64,
        leeway: u64,
        live: Option<&dyn LiveKeys>,
        checks: &mut T,
    ) -> Result<VerifiedToken, TokenFailure> {
        self.verify_jwt(token, Use::Bearer, now, leeway, live, checks)
    }

    /// Verifies an ALB's `x-amzn-oidc-accesstoken` (a Cognito access token) like a bearer
    /// JWT, against the issuers that take access tokens only, then its `token_use` and its
    /// `client_id`. Whether it belongs to the ALB header's user, and whether its client is one
    /// that ALB issuer allows, is judged beside that header ([`super::identify`]).
    pub fn verify_access_traced<T: Checks>(
        &self,
        token: &str,
        now: u64,
        leeway: u64,
        live: Option<&dyn LiveKeys>,
        checks: &mut T,
    ) -> Result<VerifiedToken, TokenFailure> {
        self.verify_jwt(token, Use::AlbAccess, now, leeway, live, checks)
            .map_err(|mut f| {
                f.detail = format!("access token: {}", f.detail);
                f
            })
    }

    fn verify_jwt<T: Checks>(
        &self,
        token: &str,
        purpose: Use,
        now: u64,
        leeway: u64,
        live: Option<&dyn LiveKeys>,
        checks: &mut T,
    ) -> Result<VerifiedToken, TokenFailure> {
        checks.enter(Check::Format);
        let malformed = |detail: String| TokenFailure::new(DenyReason::TokenMalformed, detail);
        let parts = split(token).map_err(|d| malformed(d.into()))?;
        let header =
            b64_strict(parts.header).ok_or_else(|| malformed("header is not base64url".into()))?;
        let header = parse_object(&header)
            .map_err(|e| malformed(format!("header is not a JSON object: {e}")))?;
        let signature = b64_strict(parts.signature)
            .ok_or_else(|| malformed("signature is not base64url".into()))?;
        let kid = match header.get("kid") {
            None => None,
            Some(Value::String(kid)) => Some(kid.as_str()),
            Some(_) => return Err(malformed("`kid` is not a string".into())),
        };
        let alg_name = match header.get("alg") {
            Some(Value::String(alg)) => alg.as_str(),
            Some(_) => return Err(malformed("`alg` is not a string".into()).kid(kid)),
            None => return Err(malformed("header has no `alg`".into()).kid(kid)),
        };
        // `none` in any spelling, HS*, and anything unknown stop here.
        checks.enter(Check::Alg);
        let Some(alg) = Alg::from_name(alg_name) else {
            return Err(TokenFailure::new(
                DenyReason::AlgorithmNotAllowed,
                format!("algorithm `{}` is not accepted", shown(alg_name)),
            )
            .kid(kid));
        };
        checks.enter(Check::Crit);
        if header.contains_key("crit") {
            return Err(
                TokenFailure::new(DenyReason::UnsupportedCritical, "header has `crit`").kid(kid),
            );
        }
        // `jku`, `x5u`, `jwk`, `x5c`: ignored. Keys come from the table only.

        // Unverified peek at `iss` to choose the issuer; everything else waits for the signature.
        checks.enter(Check::Payload);
        let payload = b64_strict(parts.payload)
            .ok_or_else(|| malformed("payload is not base64url".into()).kid(kid))?;
        let claims = parse_object(&payload)
            .map_err(|e| malformed(format!("payload is not a JSON object: {e}")).kid(kid))?;
        checks.enter(Check::Iss);
        let iss = match claims.get("iss") {
            Some(Value::String(iss)) => iss.as_str(),
            Some(_) => return Err(malformed("`iss` is not a string".into()).kid(kid)),
            None => {
                return Err(
                    TokenFailure::new(DenyReason::UnknownIssuer, "token has no `iss`").kid(kid),
                )
            }
        };
        // An issuer takes bearer tokens or ALB access tokens, never both.
        let takes = |v: &&super::JwtVerifier| v.spec.bearer == (purpose == Use::Bearer);
        let Some(issuer) = self.jwt.iter().filter(takes).find(|v| v.spec.issuer == iss) else {
            return Err(TokenFailure::new(
                DenyReason::UnknownIssuer,
                format!("no issuer `{}`", shown(iss)),
            )
            .kid(kid));
        };
        let spec = &issuer.spec;
        let fail = |reason: DenyReason, detail: String| {
            TokenFailure::new(reason, detail)
                .issuer(&spec.name)
                .kid(kid)
        };

        checks.enter(Check::IssuerAlg);
        if !issuer.algorithms.contains(&alg) {
            return Err(fail(
                DenyReason::AlgorithmNotAllowed,
                format!("issuer does not allow `{}`", alg.name()),
            ));
        }
        checks.enter(Check::Kid);
        let (key, key_kid) = choose_key(&issuer.keys, live, &spec.name, kid, now)
            .map_err(|miss| miss.failure(&spec.name, kid))?;
        checks.enter(Check::KeyType);
        if !alg.fits(key) {
            return Err(fail(
                DenyReason::AlgorithmNotAllowed,
                format!("`{}` does not fit the {} key", alg.name(), key.kind()),
            ));
        }
        checks.enter(Check::Signature);
        if !alg::verify(alg, key, parts.signed.as_bytes(), &signature) {
            return Err(fail(
                DenyReason::BadSignature,
                "signature does not verify".into(),
            ));
        }

        let (user, groups, exp) =
            check_jwt(spec, &claims, now, leeway, checks).map_err(|(r, d)| fail(r, d))?;
        let text = |name: &str| match claims.get(name) {
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        };
        let client = if purpose == Use::AlbAccess {
            checks.enter(Check::TokenUse);
            let token_use = text("token_use");
            if token_use.as_deref() != Some("access") {
                return Err(fail(
                    DenyReason::NotAccessToken,
                    format!(
                        "`token_use` is `{}`, not `access`",
                        shown(token_use.as_deref().unwrap_or(""))
                    ),
                ));
            }
            checks.enter(Check::Client);
            let Some(client) = text("client_id") else {
                return Err(fail(
                    DenyReason::WrongClient,
                    "no `client_id` string".into(),
                ));
            };
            Some(client)
        } else {
            None
        };
        Ok(VerifiedToken {
            identity: Identity {
                user,
                groups,
                issuer: spec.name.clone(),
            },
            expires_at: exp.saturating_add(leeway),
            kid: key_kid.kid(kid),
            sub: text("sub"),
            client,
        })
    }
}

/// What a JWT is verified as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Use {
    /// `Authorization: Bearer`.
    Bearer,
    /// An ALB's access token.
    AlbAccess,
}
