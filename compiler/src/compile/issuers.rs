//! `Issuer` objects → [`IssuerSpec`]s with their keys read, converted and checked.

use std::collections::BTreeSet;

use gatehouse_filter::table::{
    AccessTokenSpec, AlbIssuerSpec, IdentitySpace, IssuerSpec, JwtIssuerSpec, KeySpec, PublicJwk,
};
use gatehouse_filter::token::claims::KUBERNETES_CLAIM;
use gatehouse_filter::token::keys;

use super::claims;
use super::key_sources;
use super::keys::{
    check_expiry, describe, fits, is_private, pem_label, private_key, read, read_jwks,
};
use super::validate::{check_alb_arn, check_issuer_url, check_region, parse_time, Problem};
use super::{ByKind, Ctx, Seen};
use crate::model::issuer::{AlbIn, Identities, JwtIn};
use crate::path;
use crate::yaml::{Document, Step};

pub(crate) fn compile(objects: &ByKind, ctx: &mut Ctx<'_>) -> Vec<IssuerSpec> {
    let mut names = Seen::new();
    let mut iss = Seen::new();
    let mut out = Vec::new();
    // ALB issuers naming their access tokens' issuer, checked once every issuer is known.
    let mut access = Vec::new();
    for i in &objects.issuers {
        let name = &i.value.metadata.name;
        let at = path!["metadata", "name"];
        let dup = names.declare(name.as_str(), format_args!("Issuer `{name}`"), &i.doc, at);
        if ctx.ok(dup).is_none() {
            continue;
        }
        let Some(spec) = ctx.ok(i.spec()) else {
            continue;
        };
        let issuer = match (&spec.alb, &spec.jwt) {
            (Some(alb), None) => {
                if let Some(a) = &alb.access_token {
                    access.push((&a.issuer, &i.doc));
                }
                alb_issuer(name, alb, &i.doc, ctx).map(IssuerSpec::Alb)
            }
            (None, Some(jwt)) => {
                let at = path!["spec", "jwt", "issuer"];
                let what = match jwt.bearer {
                    Some(false) => "access-token issuer",
                    _ => "issuer",
                };
                let key = iss_key(&jwt.issuer, jwt.bearer);
                let dup = iss.declare(key, format_args!("{what} `{}`", jwt.issuer), &i.doc, at);
                ctx.ok(dup);
                jwt_issuer(name, jwt, &i.doc, ctx).map(IssuerSpec::Jwt)
            }
            _ => {
                ctx.report(
                    i.doc
                        .error(
                            "invalid-value",
                            path!["spec"],
                            "an Issuer's spec needs exactly one of `alb` and `jwt`",
                        )
                        .with_hint("use `alb:` for an AWS ALB, `jwt:` for a bearer-token issuer"),
                );
                None
            }
        };
        out.extend(issuer);
    }
    for (named, doc) in access {
        if let Some(p) = access_token_issuer(&out, named) {
            let at = path!["spec", "alb", "accessToken", "issuer"];
            report(ctx, doc, "invalid-value", at, p);
        }
    }
    out.sort_by(|a, b| issuer_name(a).cmp(issuer_name(b)));
    out
}

/// What is wrong with `name` as an ALB issuer's access-token issuer, if anything.
fn access_token_issuer(issuers: &[IssuerSpec], name: &str) -> Option<Problem> {
    let found = issuers.iter().find(|i| issuer_name(i) == name);
    let problem = |text: String, hint: &str| Some((text, Some(hint.to_string())));
    match found {
        None => problem(
            format!("`accessToken.issuer` names `{name}`, which is not a compiled Issuer"),
            "name the `Issuer` (with `jwt:`) of your Cognito user pool",
        ),
        Some(IssuerSpec::Alb(_)) => problem(
            format!("`accessToken.issuer` names the ALB issuer `{name}`"),
            "name the `Issuer` (with `jwt:`) of your Cognito user pool",
        ),
        Some(IssuerSpec::Jwt(j)) if j.bearer => problem(
            format!("issuer `{name}` takes bearer tokens; one that verifies an ALB's access tokens must not"),
            "set `bearer: false` on it (declare the pool twice if it also signs bearer tokens)",
        ),
        Some(IssuerSpec::Jwt(j)) if j.user_claim == "email" => problem(
            format!("issuer `{name}` reads the user from `email`, which Cognito access tokens never carry"),
            "set `userClaim: sub` on it",
        ),
        Some(IssuerSpec::Jwt(_)) => None,
    }
}

/// What makes a JWT issuer unique: its `iss`, once for bearer tokens and once for ALB access
/// tokens (`bearer: false`). `gatehouse import` keeps issuers apart by the same key.
pub(crate) fn iss_key(iss: &str, bearer: Option<bool>) -> String {
    match bearer {
        Some(false) => format!("access:{iss}"),
        _ => iss.to_string(),
    }
}

fn issuer_name(i: &IssuerSpec) -> &str {
    match i {
        IssuerSpec::Alb(a) => &a.name,
        IssuerSpec::Jwt(j) => &j.name,
    }
}

fn report(ctx: &mut Ctx<'_>, doc: &Document, code: &'static str, at: &[Step], p: Problem) {
    ctx.report(doc.error(code, at, p.0).with_hint_opt(p.1));
}

/// What names a JWT issuer vouches for: as written, or by its user claim.
fn identities(jwt: &JwtIn, user_claim: &str, doc: &Document, ctx: &mut Ctx<'_>) -> IdentitySpace {
    let space = match jwt.identities {
        Some(Identities::ServiceAccounts) => IdentitySpace::ServiceAccounts,
        Some(Identities::Users) => IdentitySpace::Users,
        None if user_claim == KUBERNETES_CLAIM => IdentitySpace::ServiceAccounts,
        None => IdentitySpace::Users,
    };
    if space == IdentitySpace::Users && user_claim == KUBERNETES_CLAIM {
        ctx.report(
            doc.error(
                "invalid-value",
                path!["spec", "jwt", "identities"],
                "`userClaim: kubernetes.io` names ServiceAccounts, but `identities` says `users`",
            )
            .with_hint("set `identities: serviceAccounts`, or drop `identities`"),
        );
    }
    if jwt.identities.is_none() && user_claim == "sub" && jwt.issuer.contains("oidc.eks.") {
        ctx.report(
            doc.warning(
                "service-account-issuer",
                path!["spec", "jwt", "issuer"],
                "this looks like an EKS ServiceAccount issuer, but without `identities: serviceAccounts` every ServiceAccount token it signs is refused as `identity_out_of_scope`",
            )
            .with_hint("add `identities: serviceAccounts` (or `userClaim: kubernetes.io`)"),
        );
    }
    space
}

fn alb_issuer(name: &str, alb: &AlbIn, doc: &Document, ctx: &mut Ctx<'_>) -> Option<AlbIssuerSpec> {
    let before = ctx.diags.len();
    let base = |f: &'static str| path!["spec", "alb", f].to_vec();
    let region_ok = check_region(&alb.region)
        .map_err(|p| report(ctx, doc, "invalid-region", &base("region"), p));
    if alb.signers.is_empty() {
        ctx.report(
            doc.error(
                "invalid-arn",
                &base("signers"),
                "an ALB issuer needs at least one signer ARN",
            )
            .with_hint("list the ARN of each load balancer whose tokens are accepted"),
        );
    }
    if region_ok.is_ok() {
        for (n, arn) in alb.signers.iter().enumerate() {
            if let Err(p) = check_alb_arn(arn, &alb.region) {
                report(
                    ctx,
                    doc,
                    "invalid-arn",
                    path!["spec", "alb", "signers", n],
                    p,
                );
            }
        }
    }
    if let Some(u) = &alb.issuer {
        if let Err(p) = check_issuer_url(u) {
            report(ctx, doc, "invalid-issuer-url", &base("issuer"), p);
        }
    }
    let user_claim = claims::user_claim(&alb.user_claim, true, doc, &base("userClaim"), ctx);
    if alb.keys.is_empty() {
        ctx.report(doc.error(
            "malformed-key",
            &base("keys"),
            "an ALB issuer needs at least one key",
        ));
    }
    let mut kids = Seen::new();
    let mut out_keys = Vec::new();
    for (n, k) in alb.keys.iter().enumerate() {
        let kat = |f: &'static str| path!["spec", "alb", "keys", n, f].to_vec();
        let dup = kids.declare(
            k.kid.as_str(),
            format_args!("kid `{}`", k.kid),
            doc,
            &kat("kid"),
        );
        if k.kid.is_empty() || ctx.ok(dup).is_none() {
            if k.kid.is_empty() {
                ctx.report(doc.error("invalid-value", &kat("kid"), "`kid` must not be empty"));
            }
            continue;
        }
        let Some(file) = read(ctx, doc, &kat("pem"), &k.pem) else {
            continue;
        };
        if let Some(label) = pem_label(&file.text).filter(|l| is_private(l)) {
            let fix = "give the public key (`openssl pkey -pubout -in KEY`)";
            ctx.report(private_key(doc, &kat("pem"), &k.pem, label, fix));
            continue;
        }
        let jwk = match keys::jwk_from_pem(&file.text) {
            Ok(j) => j,
            Err(e) => {
                ctx.report(
                    doc.error(
                        "malformed-key",
                        &kat("pem"),
                        format!("malformed key in `{}`: {e}", k.pem),
                    )
                    .with_hint("expected an SPKI PEM public key (`-----BEGIN PUBLIC KEY-----`)"),
                );
                continue;
            }
        };
        if !matches!(&jwk, PublicJwk::Ec { crv, .. } if crv == "P-256") {
            ctx.report(doc.error(
                "malformed-key",
                &kat("pem"),
                format!(
                    "key `{}` is {}; ALB tokens are ES256 and need an EC P-256 key",
                    k.kid,
                    describe(&jwk)
                ),
            ));
            continue;
        }
        let not_after = k.not_after.as_ref().and_then(|t| match parse_time(t) {
            Ok(t) => {
                check_expiry(ctx, doc, &kat("notAfter"), &k.kid, t);
                Some(t)
            }
            Err(p) => {
                report(ctx, doc, "invalid-value", &kat("notAfter"), p);
                None
            }
        });
        out_keys.push(KeySpec {
            kid: Some(k.kid.clone()),
            jwk,
            source: file.source,
            not_after,
        });
    }
    out_keys.sort_by(|a, b| a.kid.cmp(&b.kid));
    let key_fetch = key_sources::alb(alb, doc, ctx);
    let access_token = access_token(alb, doc, ctx);
    (ctx.diags.len() == before || !ctx.diags[before..].iter().any(|d| d.is_error())).then(|| {
        AlbIssuerSpec {
            key_fetch,
            name: name.to_string(),
            region: alb.region.clone(),
            signers: alb.signers.clone(),
            issuer: alb.issuer.clone(),
            client: alb.client.clone(),
            user_claim,
            require_email_verified: alb.require_email_verified.unwrap_or(true),
            keys: out_keys,
            access_token,
        }
    })
}

/// An ALB issuer's access-token settings (its issuer is checked by [`compile`]).
fn access_token(alb: &AlbIn, doc: &Document, ctx: &mut Ctx<'_>) -> Option<AccessTokenSpec> {
    let a = alb.access_token.as_ref()?;
    if a.client_ids.is_empty() {
        ctx.report(
            doc.error(
                "invalid-value",
                path!["spec", "alb", "accessToken", "clientIds"],
                "`clientIds` must name at least one app client",
            )
            .with_hint("the Cognito app client id(s) your load balancer signs in with"),
        );
    }
    for (n, c) in a.client_ids.iter().enumerate() {
        if c.is_empty() {
            ctx.report(doc.error(
                "invalid-value",
                path!["spec", "alb", "accessToken", "clientIds", n],
                "an app client id must not be empty",
            ));
        }
    }
    if let Some(client) = alb.client.as_ref().filter(|c| !a.client_ids.contains(c)) {
        ctx.report(
            doc.error(
                "invalid-value",
                path!["spec", "alb", "accessToken", "clientIds"],
                format!("the ALB's `client` `{client}` is not among `clientIds`: every access token would be refused"),
            )
            .with_hint("add it to `clientIds`"),
        );
    }
    let mut client_ids = a.client_ids.clone();
    client_ids.sort();
    client_ids.dedup();
    Some(AccessTokenSpec {
        issuer: a.issuer.clone(),
        client_ids,
        required: a.required.unwrap_or(false),
    })
}

fn jwt_issuer(name: &str, jwt: &JwtIn, doc: &Document, ctx: &mut Ctx<'_>) -> Option<JwtIssuerSpec> {
    let before = ctx.diags.len();
    let base = |f: &'static str| path!["spec", "jwt", f].to_vec();
    if let Err(p) = check_issuer_url(&jwt.issuer) {
        report(ctx, doc, "invalid-issuer-url", &base("issuer"), p);
    }
    let algorithms: BTreeSet<_> = jwt.algorithms.iter().copied().collect();
    if algorithms.is_empty() {
        ctx.report(
            doc.error(
                "invalid-value",
                &base("algorithms"),
                "`algorithms` must name at least one algorithm",
            )
            .with_hint("e.g. `[RS256]`"),
        );
    }
    if jwt.max_lifetime_seconds == Some(0) {
        ctx.report(doc.error(
            "invalid-value",
            &base("maxLifetimeSeconds"),
            "`maxLifetimeSeconds` must be positive",
        ));
    }
    for (i, a) in jwt.audiences.iter().enumerate() {
        if a.is_empty() {
            ctx.report(doc.error(
                "invalid-value",
                path!["spec", "jwt", "audiences", i],
                "an audience must not be empty",
            ));
        }
    }
    let user_claim = claims::user_claim(&jwt.user_claim, false, doc, &base("userClaim"), ctx);
    claims::groups_claim(&jwt.groups_claim, doc, &base("groupsClaim"), ctx);
    let identities = identities(jwt, &user_claim, doc, ctx);
    let key_fetch = key_sources::jwt(jwt, doc, ctx);
    let sign_in = super::sign_in::compile(jwt, doc, ctx);
    let at = base("jwksFile");
    let jwks_file = jwt.jwks_file.as_deref().unwrap_or_default();
    let mut out_keys = Vec::new();
    if jwt.jwks_file.is_none() {
        ctx.report(
            doc.error(
                "missing-field",
                path!["spec", "jwt"],
                "missing field `jwksFile`",
            )
            .with_hint(
                "`jwksFile` holds the seed keys a gateway verifies with before (or without) any \
                     fetch, even with `jwksUri`; `gatehouse keys refresh` writes it from \
                     `jwksUri`",
            ),
        );
    } else if let Some(file) = read_jwks(ctx, doc, &at, jwks_file) {
        match keys::parse_jwks(&file.text) {
            Err(e) => ctx.report(
                doc.error(
                    "malformed-key",
                    &at,
                    format!("malformed JWKS in `{}`: {e}", jwks_file),
                )
                .with_hint("expected a JWKS document: `{\"keys\": [...]}` with public keys only"),
            ),
            Ok(list) if list.is_empty() => ctx.report(doc.error(
                "malformed-key",
                &at,
                format!("JWKS `{}` holds no keys", jwks_file),
            )),
            Ok(list) => {
                let many = list.len() > 1;
                let mut kids = BTreeSet::new();
                for k in list {
                    let label = k.kid.clone().unwrap_or_else(|| "(no kid)".into());
                    match &k.kid {
                        None if many => {
                            ctx.report(doc.error(
                                "malformed-key",
                                &at,
                                format!("a key in `{}` has no `kid`, and the JWKS holds more than one key", jwks_file),
                            ));
                            continue;
                        }
                        Some(kid) if !kids.insert(kid.clone()) => {
                            ctx.report(
                                doc.error(
                                    "duplicate-declaration",
                                    &at,
                                    format!(
                                        "duplicate declaration of kid `{kid}` in `{}`",
                                        jwks_file
                                    ),
                                )
                                .with_hint("every key of an issuer needs its own `kid`"),
                            );
                            continue;
                        }
                        _ => {}
                    }
                    if !algorithms.iter().any(|a| fits(&k.jwk, *a)) {
                        let names: Vec<&str> = algorithms.iter().map(|a| a.name()).collect();
                        ctx.report(doc.error(
                            "malformed-key",
                            &at,
                            format!(
                                "key `{label}` is {} and fits none of the issuer's algorithms ({})",
                                describe(&k.jwk),
                                names.join(", ")
                            ),
                        ).with_hint("add the algorithm the key is for to `algorithms`, or remove the key"));
                        continue;
                    }
                    if let Some(alg) = k
                        .alg
                        .as_deref()
                        .filter(|a| !algorithms.iter().any(|x| x.name() == *a))
                    {
                        ctx.report(doc.warning(
                            "unusable-key",
                            &at,
                            format!("key `{label}` says it is for `{alg}`, which is not among the issuer's algorithms"),
                        ));
                    }
                    out_keys.push(KeySpec {
                        kid: k.kid,
                        jwk: k.jwk,
                        source: file.source.clone(),
                        not_after: None,
                    });
                }
            }
        }
    }
    for (kid, when) in &jwt.key_not_after {
        let kat = path!["spec", "jwt", "keyNotAfter", kid];
        let t = match parse_time(when) {
            Ok(t) => t,
            Err(p) => {
                report(ctx, doc, "invalid-value", kat, p);
                continue;
            }
        };
        match out_keys.iter_mut().find(|k| k.kid.as_deref() == Some(kid)) {
            Some(k) => {
                k.not_after = Some(t);
                check_expiry(ctx, doc, kat, kid, t);
            }
            None if ctx.diags.len() == before => ctx.report(doc.error(
                "invalid-value",
                path!["spec", "jwt", "keyNotAfter"],
                format!(
                    "`keyNotAfter` names kid `{kid}`, which `{}` does not hold",
                    jwks_file
                ),
            )),
            None => {}
        }
    }
    out_keys.sort_by(|a, b| a.kid.cmp(&b.kid));
    let mut audiences = jwt.audiences.clone();
    audiences.sort();
    audiences.dedup();
    (!ctx.diags[before..].iter().any(|d| d.is_error())).then(|| JwtIssuerSpec {
        key_fetch,
        name: name.to_string(),
        issuer: jwt.issuer.clone(),
        audiences,
        algorithms: algorithms.iter().map(|a| a.name().to_string()).collect(),
        user_claim,
        groups_claim: jwt.groups_claim.clone(),
        groups_prefix: jwt.groups_prefix.clone(),
        max_lifetime_seconds: jwt.max_lifetime_seconds,
        identities: Some(identities),
        require_email_verified: jwt.require_email_verified.unwrap_or(true),
        keys: out_keys,
        bearer: jwt.bearer.unwrap_or(true),
        sign_in,
    })
}
