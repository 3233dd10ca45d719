//! One Istio `jwtRules[]` entry → one Gatehouse `Issuer` (`spec.jwt`), with a note for every
//! part of the rule Gatehouse handles differently or not at all.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;

use super::jwks;
use crate::compile::validate::check_issuer_url;
use gatehouse_filter::headers::ALB_ACCESS_HEADER;

/// The header Kubeflow reads the user from.
const USER_HEADER: &str = "kubeflow-userid";
/// The header Kubeflow reads the groups from.
const GROUPS_HEADER: &str = "kubeflow-groups";

/// Where a rule came from.
#[derive(Debug, Clone)]
pub struct Origin {
    /// The input file, as given.
    pub file: String,
    /// `namespace/name` of the RequestAuthentication.
    pub resource: String,
    /// Index in `jwtRules`.
    pub index: usize,
    /// `spec.selector.matchLabels`, if any.
    pub selector: Option<BTreeMap<String, String>>,
}

/// `spec.jwt` of the Issuer, in the order of docs/policy-format.md.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JwtSpec {
    /// Exact `iss`.
    pub issuer: String,
    /// Accepted audiences.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<String>,
    /// JWKS file, relative to the Issuer's YAML file.
    pub jwks_file: String,
    /// Allowed algorithms.
    pub algorithms: Vec<String>,
    /// Claim with the user.
    pub user_claim: String,
    /// Claim with the groups.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups_claim: Option<String>,
    /// `serviceAccounts` for an issuer of Kubernetes ServiceAccount tokens read by `sub`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identities: Option<String>,
    /// `false` for a Cognito pool that verified an ALB's access tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bearer: Option<bool>,
}

/// The keys an Issuer needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Keys {
    /// Written beside the YAML from the rule's inline `jwks`.
    Inline(String),
    /// To be fetched once from this URL (`jwksUri`).
    Fetch(String),
    /// To be found through the issuer's OpenID discovery document.
    Discover,
}

/// A translated rule.
#[derive(Debug, Clone)]
pub struct Imported {
    /// `metadata.name` (made unique by the caller).
    pub name: String,
    /// Where it came from.
    pub origin: Origin,
    /// `spec.jwt`.
    pub jwt: JwtSpec,
    /// The keys and where they come from.
    pub keys: Keys,
    /// Everything the author must know or do.
    pub notes: Vec<String>,
}

fn str_field<'a>(rule: &'a Value, key: &str) -> Option<&'a str> {
    rule.get(key).and_then(Value::as_str)
}

/// Translates `rule`; the error says why the rule cannot become an Issuer.
pub fn translate(rule: &Value, name: &str, origin: Origin) -> Result<Imported, String> {
    let mut notes = Vec::new();
    let issuer = str_field(rule, "issuer")
        .filter(|s| !s.is_empty())
        .ok_or("the rule has no `issuer`")?
        .to_string();
    if !issuer.contains("://") {
        notes.push(format!("`issuer: {issuer}` is a placeholder (Kubeflow patches it with kustomize): replace it with the issuer's URL exactly as tokens carry it in `iss` (for EKS ServiceAccount tokens: `https://oidc.eks.<region>.amazonaws.com/id/<id>`; `kubectl get --raw /.well-known/openid-configuration` shows it)"));
    } else if let Err((message, hint)) = check_issuer_url(&issuer) {
        // The rule `gatehouse compile` applies (`http://` only for in-cluster `*.svc` hosts),
        // in its words.
        let mut note = format!("`gatehouse compile` will refuse this issuer: {message}");
        if let Some(hint) = hint {
            let _ = write!(note, "; {hint}");
        }
        if issuer.starts_with("http://") {
            note.push_str("; to import it, configure the issuer to name itself with an `https://` URL (the `iss` of every token it signs changes with it) and put that URL here");
        }
        notes.push(note);
    }
    for key in rule.as_object().map(|o| o.keys()).into_iter().flatten() {
        let known = [
            "issuer",
            "audiences",
            "jwks",
            "jwksUri",
            "jwks_uri",
            "fromHeaders",
            "fromParams",
            "fromCookies",
            "outputPayloadToHeader",
            "forwardOriginalToken",
            "outputClaimToHeaders",
            "timeout",
        ];
        if !known.contains(&key.as_str()) {
            notes.push(format!(
                "`{key}` is not imported: Gatehouse has no equivalent"
            ));
        }
    }
    let audiences: Vec<String> = rule
        .get("audiences")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let pool = cognito_pool(&issuer);
    let alb_access = reads_alb_access_token(rule);
    // A Cognito access token has no `aud` (its `client_id` is checked instead).
    if audiences.is_empty() && !(alb_access && pool.is_some()) {
        notes.push("no `audiences`: every token this issuer signs is accepted, whatever its `aud`; name the audience your tokens are minted for".into());
    }
    let (mut user_claim, mut groups_claim) = claims(rule, &mut notes);
    let uri = str_field(rule, "jwksUri").or_else(|| str_field(rule, "jwks_uri"));
    // Cognito publishes a pool's keys at a fixed place: no discovery needed.
    let cognito_keys =
        pool.map(|_| format!("{}/.well-known/jwks.json", issuer.trim_end_matches('/')));
    let uri = uri.or(cognito_keys.as_deref());
    let (keys, algorithms, jwks_file) = match (str_field(rule, "jwks"), uri) {
        (Some(inline), _) => {
            let set = jwks::from_inline(inline)?;
            notes.extend(set.notes);
            (
                Keys::Inline(set.json),
                set.algorithms,
                format!("{name}.jwks.json"),
            )
        }
        (None, Some(uri)) => (
            Keys::Fetch(uri.to_string()),
            Vec::new(),
            format!("keys/{name}.jwks.json"),
        ),
        (None, None) => (Keys::Discover, Vec::new(), format!("keys/{name}.jwks.json")),
    };
    let algorithms = if algorithms.is_empty() {
        notes.push("`algorithms: [RS256]` is assumed (Istio does not say; Kubernetes, Dex and most OIDC providers sign with RS256): check it against the fetched keys".into());
        vec!["RS256".to_string()]
    } else {
        algorithms
    };
    let mut bearer = None;
    if let Some(region) = pool {
        if groups_claim.is_none() {
            notes.push("`groupsClaim: cognito:groups`: where a Cognito user pool puts a user's groups (ID and access tokens)".into());
            groups_claim = Some("cognito:groups".into());
        }
        if alb_access {
            bearer = Some(false);
            if user_claim != "sub" {
                notes.push(format!("`userClaim: sub` instead of `{user_claim}`: an access token is matched to the ALB's `x-amzn-oidc-data` by `sub`, and carries no email"));
                user_claim = "sub".into();
            }
            notes.push(format!("this rule verified the ALB's Cognito access token (`x-amzn-oidc-accesstoken`): the Issuer takes access tokens only (`bearer: false`). Name it from the Issuer of your load balancer, which a RequestAuthentication cannot tell: `alb: {{region: {region}, signers: [<your load balancer's ARN>], keys: [{{kid: <kid>, pem: <its public key>}}], accessToken: {{issuer: {name}, clientIds: [<the app client id the ALB signs in with>]}}}}` (docs/policy-format.md, *Cognito groups behind an ALB*)"));
        } else {
            notes.push(format!("a Cognito user pool ({region}): its ID tokens carry the app client id in `aud` (name it in `audiences`); its access tokens carry no `aud`. Behind an ALB, verify the access token the ALB forwards with an access-token Issuer instead (`bearer: false`, docs/policy-format.md, *Cognito groups behind an ALB*)"));
        }
    }
    token_locations(rule, alb_access, &mut notes);
    if rule.get("outputPayloadToHeader").is_some() {
        notes.push("`outputPayloadToHeader` is not imported: Gatehouse forwards the verified user and groups headers, not the payload".into());
    }
    if rule.get("forwardOriginalToken").and_then(Value::as_bool) != Some(true) {
        notes.push("Istio removed the token before forwarding (`forwardOriginalToken` unset or false); Gatehouse forwards the `Authorization` header unchanged: strip it at the route if upstreams must not see it".into());
    }
    if let Some(sel) = &origin.selector {
        let ingress = sel.iter().all(|(k, v)| {
            (k == "istio" && v == "ingressgateway") || (k == "app" && v == "istio-ingressgateway")
        });
        if !ingress {
            let labels: Vec<String> = sel.iter().map(|(k, v)| format!("{k}={v}")).collect();
            notes.push(format!("the RequestAuthentication applied to pods labeled `{}`: a Gatehouse issuer applies wherever the filter runs (choose with `gatehouse emit wasmplugin --selector`)", labels.join(",")));
        }
    }
    // A user pool's `sub` is a person's: no ServiceAccount question to ask.
    let identities = match pool {
        Some(_) => None,
        None => identities(&issuer, &keys, &user_claim, &mut notes),
    };
    Ok(Imported {
        name: name.to_string(),
        origin,
        jwt: JwtSpec {
            issuer,
            audiences,
            jwks_file,
            algorithms,
            user_claim,
            groups_claim,
            identities,
            bearer,
        },
        keys,
        notes,
    })
}

/// `userClaim` and `groupsClaim` from `outputClaimToHeaders`.
fn claims(rule: &Value, notes: &mut Vec<String>) -> (String, Option<String>) {
    let (mut user, mut groups) = (None, None);
    for m in rule
        .get("outputClaimToHeaders")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (Some(header), Some(claim)) = (str_field(m, "header"), str_field(m, "claim")) else {
            continue;
        };
        match header.to_ascii_lowercase().as_str() {
            USER_HEADER => user = Some(claim.to_string()),
            GROUPS_HEADER => groups = Some(claim.to_string()),
            _ => notes.push(format!("header `{header}` ← claim `{claim}` is not imported: Gatehouse sets only the user and groups headers (the Gateway's `userHeader`, `groupsHeader`)")),
        }
    }
    let user = match user {
        Some(c) => c,
        None => {
            notes.push(format!("no `{USER_HEADER}` header mapping: the user is read from `email` (Gatehouse's default)"));
            "email".into()
        }
    };
    (user, groups)
}

/// What names the issuer vouches for. Tokens whose user is `sub` from a Kubernetes or EKS
/// issuer (or Kubeflow's m2m placeholder) name ServiceAccounts, which an issuer must declare
/// (`identities: serviceAccounts`), or Gatehouse refuses them as `identity_out_of_scope`.
fn identities(
    issuer: &str,
    keys: &Keys,
    user_claim: &str,
    notes: &mut Vec<String>,
) -> Option<String> {
    if user_claim != "sub" {
        return None;
    }
    let kubernetes = issuer.contains("kubernetes.default.svc")
        || issuer.contains("oidc.eks.")
        || matches!(keys, Keys::Fetch(uri) if uri.ends_with("/openid/v1/jwks"));
    let placeholder = !issuer.contains("://");
    if kubernetes || placeholder {
        notes.push("`identities: serviceAccounts`: the user is `sub` of a Kubernetes ServiceAccount token (`system:serviceaccount:<namespace>:<name>`); if this issuer signs tokens for people, remove it (an issuer of people never vouches for a `system:` name)".into());
        Some("serviceAccounts".into())
    } else {
        notes.push("the user is `sub`: if this issuer signs Kubernetes ServiceAccount tokens (`sub` is `system:serviceaccount:<namespace>:<name>`), add `identities: serviceAccounts`, or Gatehouse refuses them as `identity_out_of_scope`".into());
        None
    }
}

/// The region of a Cognito user pool's issuer URL,
/// `https://cognito-idp.<region>.amazonaws.com/<pool id>`.
fn cognito_pool(issuer: &str) -> Option<&str> {
    let rest = issuer.strip_prefix("https://cognito-idp.")?;
    let (region, pool) = rest.split_once(".amazonaws.com/")?;
    let pool_ok = pool
        .strip_prefix(region)
        .is_some_and(|p| p.starts_with('_'));
    (pool_ok && !region.is_empty()).then_some(region)
}

/// Whether the rule read the token from the ALB's access-token header.
fn reads_alb_access_token(rule: &Value) -> bool {
    rule.get("fromHeaders")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|h| str_field(h, "name").is_some_and(|n| n.eq_ignore_ascii_case(ALB_ACCESS_HEADER)))
}

/// Notes on where Istio looked for the token and Gatehouse does not (`alb_access`: the ALB's
/// access-token header is read, by an access-token Issuer).
fn token_locations(rule: &Value, alb_access: bool, notes: &mut Vec<String>) {
    let headers = rule.get("fromHeaders").and_then(Value::as_array);
    let params = rule.get("fromParams").and_then(Value::as_array);
    for h in headers.into_iter().flatten() {
        let name = str_field(h, "name").unwrap_or("");
        let prefix = str_field(h, "prefix").unwrap_or("");
        if alb_access && name.eq_ignore_ascii_case(ALB_ACCESS_HEADER) {
            continue;
        }
        if !(name.eq_ignore_ascii_case("authorization") && prefix == "Bearer ") {
            let prefix = if prefix.is_empty() {
                "no prefix".to_string()
            } else {
                format!("prefix `{prefix}`")
            };
            notes.push(format!("tokens in header `{name}` ({prefix}) are not read: Gatehouse reads `Authorization: Bearer <token>` and the ALB's `x-amzn-oidc-data`"));
        }
    }
    for p in params.into_iter().flatten() {
        notes.push(format!("tokens in query parameter `{}` are not read: send them as `Authorization: Bearer <token>`", p.as_str().unwrap_or("")));
    }
    if headers.is_none() && params.is_none() {
        notes.push("Istio also accepted `?access_token=` by default; Gatehouse reads `Authorization: Bearer <token>` only".into());
    }
    if rule.get("fromCookies").is_some() {
        notes.push("tokens in cookies are not read: Gatehouse reads `Authorization: Bearer <token>` (behind oauth2-proxy, which sets it)".into());
    }
}

/// The command that fetches the keys once into `path` (relative to the Issuer's folder).
pub fn fetch_command(keys: &Keys, issuer: &str, path: &str) -> Option<String> {
    let kubernetes = issuer.contains("kubernetes.default.svc");
    match keys {
        Keys::Inline(_) => None,
        Keys::Fetch(uri) if kubernetes || uri.ends_with("/openid/v1/jwks") => Some(format!(
            "kubectl get --raw /openid/v1/jwks > {path}   (or: curl -fsSL --create-dirs -o {path} '{uri}')"
        )),
        Keys::Fetch(uri) => Some(format!("curl -fsSL --create-dirs -o {path} '{uri}'")),
        Keys::Discover if !issuer.contains("://") => Some(format!(
            "curl -fsSL --create-dirs -o {path} \"$(curl -fsSL '<issuer URL>/.well-known/openid-configuration' | jq -r .jwks_uri)\""
        )),
        Keys::Discover => Some(format!(
            "curl -fsSL --create-dirs -o {path} \"$(curl -fsSL '{}/.well-known/openid-configuration' | jq -r .jwks_uri)\"",
            issuer.trim_end_matches('/')
        )),
    }
}
