//! AWS ALB `x-amzn-oidc-data`: ES256, padded or unpadded base64url parts, signature over the
//! raw `header.payload` bytes, key by `kid`, `signer` pinned, `exp` in the header.

use serde_json::{Map, Value};

use super::alg::{self, Alg};
use super::claims::{check_times, numeric_date, user};
use super::encoding::{b64_lenient, parse_object, shown, split};
use super::names::{check_email_verified, check_scope};
use super::trace::{Check, Checks};
use super::{choose_key, AlbVerifier, LiveKeys, TokenFailure, VerifiedToken, Verifiers};
use crate::identity::Identity;
use crate::reason::DenyReason;
use crate::table::IdentitySpace;

fn header_str<'a>(
    header: &'a Map<String, Value>,
    name: &str,
) -> Result<Option<&'a str>, TokenFailure> {
    match header.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(TokenFailure::new(
            DenyReason::TokenMalformed,
            format!("alb header `{name}` is not a string"),
        )),
    }
}

impl Verifiers {
    /// Verifies an ALB `x-amzn-oidc-data` value with the compiled keys only.
    pub fn verify_alb(
        &self,
        value: &str,
        now: u64,
        leeway: u64,
    ) -> Result<VerifiedToken, TokenFailure> {
        self.verify_alb_traced(value, now, leeway, None, &mut ())
    }

    /// Verifies an ALB `x-amzn-oidc-data` value with the compiled keys and, when given, the
    /// worker's live keys (ALB keys fetched by kid), announcing each step to `checks` as it
    /// starts it.
    pub fn verify_alb_traced<T: Checks>(
        &self,
        value: &str,
        now: u64,
        leeway: u64,
        live: Option<&dyn LiveKeys>,
        checks: &mut T,
    ) -> Result<VerifiedToken, TokenFailure> {
        checks.enter(Check::Format);
        let malformed = |detail: &str| TokenFailure::new(DenyReason::TokenMalformed, detail);
        let parts = split(value).map_err(malformed)?;
        let header =
            b64_lenient(parts.header).ok_or_else(|| malformed("alb header is not base64url"))?;
        let header = parse_object(&header)
            .map_err(|e| malformed(&format!("alb header is not a JSON object: {e}")))?;
        let payload =
            b64_lenient(parts.payload).ok_or_else(|| malformed("alb payload is not base64url"))?;
        let signature = b64_lenient(parts.signature)
            .ok_or_else(|| malformed("alb signature is not base64url"))?;

        checks.enter(Check::Alg);
        let alg = header_str(&header, "alg")?;
        if alg != Some(Alg::Es256.name()) {
            return Err(TokenFailure::new(
                DenyReason::AlgorithmNotAllowed,
                format!(
                    "alb tokens are ES256; this one says `{}`",
                    shown(alg.unwrap_or(""))
                ),
            ));
        }
        checks.enter(Check::Crit);
        if header.contains_key("crit") {
            return Err(TokenFailure::new(
                DenyReason::UnsupportedCritical,
                "alb header has `crit`",
            ));
        }
        checks.enter(Check::Kid);
        let kid = header_str(&header, "kid")?;
        let Some(kid) = kid else {
            return Err(TokenFailure::new(
                DenyReason::UnknownKid,
                "alb header has no `kid`",
            ));
        };
        let signer = header_str(&header, "signer")?;

        // The issuer: among those holding this kid (compiled or fetched), the one that lists
        // the signer; else the first, which then fails on the signer after the signature.
        if self.alb.is_empty() {
            return Err(
                TokenFailure::new(DenyReason::UnknownIssuer, "no alb issuer configured")
                    .kid(Some(kid)),
            );
        }
        let holds = |v: &&AlbVerifier| {
            v.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
                || live.is_some_and(|l| l.key(&v.spec.name, Some(kid)).is_some())
        };
        let signed_by =
            |v: &&AlbVerifier| signer.is_some_and(|s| v.spec.signers.iter().any(|a| a == s));
        let holders: Vec<&AlbVerifier> = self.alb.iter().filter(holds).collect();
        let issuer = match holders.iter().find(|v| signed_by(v)).or(holders.first()) {
            Some(issuer) => issuer,
            // INVARIANT: a kid no issuer holds is fetched only for the issuer whose ARN the
            // token's (unverified) `signer` names; any other signer never causes a fetch.
            None => {
                let mut f = TokenFailure::new(
                    DenyReason::UnknownKid,
                    format!("no alb key `{}`", shown(kid)),
                )
                .kid(Some(kid));
                if let Some(v) = self.alb.iter().find(signed_by) {
                    f = f.issuer(&v.spec.name);
                    f.fetchable = true;
                }
                return Err(f);
            }
        };
        let spec = &issuer.spec;
        let fail = |reason: DenyReason, detail: String| {
            TokenFailure::new(reason, detail)
                .issuer(&spec.name)
                .kid(Some(kid))
        };
        let (key, key_kid) = choose_key(&issuer.keys, live, &spec.name, Some(kid), now)
            .map_err(|miss| miss.failure(&spec.name, Some(kid)))?;

        // INVARIANT: the signature covers `header.payload` exactly as received, padding included.
        checks.enter(Check::Signature);
        if !alg::verify(Alg::Es256, key, parts.signed.as_bytes(), &signature) {
            return Err(fail(
                DenyReason::BadSignature,
                "alb signature does not verify".into(),
            ));
        }

        checks.enter(Check::Signer);
        match signer {
            Some(s) if spec.signers.iter().any(|a| a == s) => {}
            Some(s) => {
                return Err(fail(
                    DenyReason::WrongSigner,
                    format!("alb signer `{}` is not configured", shown(s)),
                ))
            }
            None => {
                return Err(fail(
                    DenyReason::WrongSigner,
                    "alb header has no `signer`".into(),
                ))
            }
        }
        if spec.issuer.is_some() || spec.client.is_some() {
            checks.enter(Check::IssClient);
        }
        for (name, want) in [("iss", &spec.issuer), ("client", &spec.client)] {
            if let Some(want) = want {
                let got = header_str(&header, name).map_err(|f| f.issuer(&spec.name))?;
                if got != Some(want.as_str()) {
                    return Err(fail(
                        DenyReason::WrongIssuer,
                        format!(
                            "alb `{name}` is `{}`, expected `{want}`",
                            shown(got.unwrap_or(""))
                        ),
                    ));
                }
            }
        }
        checks.enter(Check::Payload);
        let claims = parse_object(&payload).map_err(|e| {
            fail(
                DenyReason::TokenMalformed,
                format!("alb payload is not a JSON object: {e}"),
            )
        })?;
        checks.enter(Check::Exp);
        let exp = numeric_date(&header, "exp")
            .map_err(|(r, d)| fail(r, format!("alb header: {d}")))?
            .ok_or_else(|| fail(DenyReason::TokenMalformed, "alb header has no `exp`".into()))?;
        let exp =
            check_times(&claims, Some(exp), now, leeway, checks).map_err(|(r, d)| fail(r, d))?;
        checks.enter(Check::UserClaim);
        let user = user(&claims, &spec.user_claim).map_err(|(r, d)| fail(r, d))?;
        if spec.require_email_verified && spec.user_claim == "email" {
            checks.enter(Check::EmailVerified);
            check_email_verified(&claims).map_err(|(r, d)| fail(r, d))?;
        }
        // ALB issuers vouch for people (the IdP behind the load balancer), never for
        // Kubernetes identities.
        checks.enter(Check::IdentityScope);
        check_scope(IdentitySpace::Users, &user, &[]).map_err(|(r, d)| fail(r, d))?;

        let sub = match claims.get("sub") {
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        };
        let client = header_str(&header, "client")
            .map_err(|f| f.issuer(&spec.name))?
            .map(str::to_owned);
        Ok(VerifiedToken {
            identity: Identity {
                user,
                groups: Vec::new(),
                issuer: spec.name.clone(),
            },
            expires_at: exp.saturating_add(leeway),
            kid: key_kid.kid(Some(kid)),
            sub,
            client,
        })
    }
}
