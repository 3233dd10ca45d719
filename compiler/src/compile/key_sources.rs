//! Where an issuer's keys are fetched at run time (live keys): a JWT issuer's `jwksUri`, an
//! ALB issuer's per-kid endpoint (`keyEndpoint`, by default AWS's for the region), both read
//! with the filter's own [`FetchUrl`] reader so that every URL the compiler writes loads; and
//! the warning for a JWT issuer of a rotating identity provider that names no `jwksUri`.

use gatehouse_filter::live::{alb_key_url, FetchUrl};
use gatehouse_filter::table::KeyFetchSpec;

use super::{ByKind, Ctx};
use crate::diagnostic::Diagnostic;
use crate::model::issuer::{AlbIn, JwtIn};
use crate::path;
use crate::yaml::{Document, Step};

/// The fetch of a JWT issuer's JWKS, from `jwksUri`; `None` when it names none or it is
/// invalid (reported).
pub(crate) fn jwt(jwt: &JwtIn, doc: &Document, ctx: &mut Ctx<'_>) -> Option<KeyFetchSpec> {
    let Some(uri) = &jwt.jwks_uri else {
        return None;
    };
    let at = path!["spec", "jwt", "jwksUri"];
    match FetchUrl::parse(uri) {
        Ok(url) => {
            short_service_name(&url, doc, at, ctx);
            Some(KeyFetchSpec {
                cluster: url.cluster_name(),
                url: uri.clone(),
            })
        }
        Err(why) => {
            ctx.report(
                doc.error(
                    "invalid-key-url",
                    at,
                    format!("`{uri}` is not a valid key URL: {why}"),
                )
                .with_hint(
                    "write the issuer's JWKS URL as its `.well-known/openid-configuration` \
                     names it (`jwks_uri`), e.g. `https://dex.example.com/keys`",
                ),
            );
            None
        }
    }
}

/// The per-kid fetch of an ALB issuer: `keyEndpoint`, or AWS's endpoint for the region;
/// `None` with `fetchKeys: false` or when the endpoint is invalid (reported).
pub(crate) fn alb(alb: &AlbIn, doc: &Document, ctx: &mut Ctx<'_>) -> Option<KeyFetchSpec> {
    if alb.fetch_keys == Some(false) {
        return None;
    }
    let (url, at) = match &alb.key_endpoint {
        Some(u) => (u.clone(), path!["spec", "alb", "keyEndpoint"]),
        None => (alb_key_url(&alb.region), path!["spec", "alb", "region"]),
    };
    let checked = FetchUrl::parse(&url).and_then(|u| {
        if u.path.ends_with('/') {
            Ok(u)
        } else {
            Err("it must end with `/` (the kid is appended to it)".into())
        }
    });
    match checked {
        Ok(u) => {
            short_service_name(&u, doc, at, ctx);
            Some(KeyFetchSpec {
                cluster: u.cluster_name(),
                url,
            })
        }
        Err(why) => {
            ctx.report(
                doc.error(
                    "invalid-key-url",
                    at,
                    format!("`{url}` is not a valid ALB key endpoint: {why}"),
                )
                .with_hint(format!(
                    "AWS publishes the keys of `{}` at `{}`; omit `keyEndpoint` to use it",
                    alb.region,
                    alb_key_url(&alb.region)
                )),
            );
            None
        }
    }
}

/// Warns when a key URL names a service by its short in-cluster name (`dex.auth.svc`): Istio
/// names the service's cluster by its full name (`…svc.cluster.local`), so fetches through
/// `outbound|<port>||dex.auth.svc` would find no cluster.
fn short_service_name(url: &FetchUrl, doc: &Document, at: &[Step], ctx: &mut Ctx<'_>) {
    if url.host.ends_with(".svc") {
        ctx.report(
            doc.warning(
                "short-service-name",
                at,
                format!(
                    "Istio names the cluster of `{}` by the service's full name \
                     (`outbound|{}||{}.cluster.local`), so fetches through `{}` find no cluster",
                    url.host,
                    url.port,
                    url.host,
                    url.cluster_name()
                ),
            )
            .with_hint(format!("write the full name `{}.cluster.local`", url.host)),
        );
    }
}

/// The `no-key-refresh` warnings: a JWT issuer without `jwksUri` whose issuer URL looks like
/// an identity provider that rotates its signing keys. Said only of a policy that compiles,
/// like `no-gateway`: it is about what the table does at run time, not a problem to fix
/// alongside errors.
pub(crate) fn no_key_refresh(objects: &ByKind) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for i in &objects.issuers {
        let Some(jwt) = i.value.spec.as_ref().and_then(|s| s.jwt.as_ref()) else {
            continue;
        };
        let Some((provider, hint)) = jwt
            .jwks_uri
            .is_none()
            .then(|| rotating_idp(&jwt.issuer))
            .flatten()
        else {
            continue;
        };
        out.push(
            i.doc
                .warning(
                    "no-key-refresh",
                    path!["spec", "jwt", "issuer"],
                    format!(
                        "this looks like {provider}, whose signing keys change, but without \
                         `jwksUri` the gateway knows only the compiled keys: tokens signed \
                         with a new key get `401 unknown_kid` until the policy is recompiled"
                    ),
                )
                .with_hint(hint),
        );
    }
    out
}

/// When `issuer` is a URL of an identity provider known to rotate its signing keys: the
/// provider and the hint naming the JWKS URL to set.
fn rotating_idp(issuer: &str) -> Option<(&'static str, String)> {
    let rest = issuer
        .strip_prefix("https://")
        .or_else(|| issuer.strip_prefix("http://"))?;
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = authority.split(':').next().unwrap_or_default();
    let base = issuer.trim_end_matches('/');
    let set = |url: String, why: &str| format!("set `jwksUri: {url}` ({why})");
    if host.starts_with("oidc.eks.") {
        let hint = set(format!("{base}/keys"), "EKS rotates its key every 7 days");
        Some(("an EKS issuer", hint))
    } else if host.starts_with("cognito-idp.") {
        let hint = set(
            format!("{base}/.well-known/jwks.json"),
            "where Cognito publishes the user pool's keys",
        );
        Some(("a Cognito user pool", hint))
    } else if host == "kubernetes.default.svc" || host.starts_with("kubernetes.default.svc.") {
        let hint = format!(
            "set `jwksUri: https://{host}/openid/v1/jwks`, or, where that path is not \
             anonymous, the URL of a JWKS proxy such as Kubeflow's `cluster-jwks-proxy` \
             (`http://cluster-jwks-proxy.istio-system.svc.cluster.local/openid/v1/jwks`)"
        );
        Some(("the Kubernetes API server", hint))
    } else if path.trim_end_matches('/').rsplit('/').next() == Some("dex")
        || host.split(['.', '-']).any(|word| word == "dex")
    {
        let hint = set(
            format!("{base}/keys"),
            "Dex rotates its key every 6 hours by default",
        );
        Some(("Dex", hint))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn rotating_providers_are_named_with_their_jwks_url() {
        for (issuer, url) in [
            (
                "http://dex.auth.svc.cluster.local:5556/dex",
                "http://dex.auth.svc.cluster.local:5556/dex/keys",
            ),
            (
                "https://login.example.com/dex",
                "https://login.example.com/dex/keys",
            ),
            ("https://dex.example.com", "https://dex.example.com/keys"),
            (
                "https://oidc.eks.us-east-1.amazonaws.com/id/ABC",
                "https://oidc.eks.us-east-1.amazonaws.com/id/ABC/keys",
            ),
            (
                "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_X",
                "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_X/.well-known/jwks.json",
            ),
            (
                "https://kubernetes.default.svc.cluster.local",
                "https://kubernetes.default.svc.cluster.local/openid/v1/jwks",
            ),
        ] {
            let (_, hint) = rotating_idp(issuer).unwrap();
            assert!(
                hint.contains(&format!("`jwksUri: {url}")),
                "{issuer}: {hint}"
            );
        }
        assert!(rotating_idp("https://kubernetes.default.svc")
            .unwrap()
            .1
            .contains("cluster-jwks-proxy"));
        for quiet in [
            "https://accounts.example.com",
            "https://idx.example.com/index",
        ] {
            assert_eq!(rotating_idp(quiet), None, "{quiet}");
        }
    }
}
