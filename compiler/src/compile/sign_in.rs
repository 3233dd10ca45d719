//! A JWT issuer's `signIn`: browser sign-in at the gateway. Checks what a gateway could not
//! run (a token endpoint it cannot fetch, a client the issuer's tokens are not for, cookies a
//! browser would refuse) and fills in Kubeflow's defaults; warns when the page a browser signs
//! in at is not public (it would be asked to sign in to sign in).

use gatehouse_filter::engine::Provenance;
use gatehouse_filter::live::FetchUrl;
use gatehouse_filter::table::{IssuerSpec, KeyFetchSpec, SignInSpec, Table};
use gatehouse_filter::Engine;

use super::Ctx;
use crate::diagnostic::Diagnostic;
use crate::model::issuer::JwtIn;
use crate::path;
use crate::yaml::{Document, Step};

/// The client secret's environment variable when none is named.
pub const DEFAULT_SECRET_ENV: &str = "GATEHOUSE_CLIENT_SECRET";
/// The cookie keys' environment variable when none is named.
pub const DEFAULT_COOKIE_KEYS_ENV: &str = "GATEHOUSE_COOKIE_KEYS";

/// The sign-in of a JWT issuer, checked; `None` when it has none or it has errors (reported).
pub(crate) fn compile(jwt: &JwtIn, doc: &Document, ctx: &mut Ctx<'_>) -> Option<Box<SignInSpec>> {
    let s = jwt.sign_in.as_ref()?;
    let before = ctx.diags.len();
    let at = |f: &'static str| path!["spec", "jwt", "signIn", f].to_vec();
    let error = |ctx: &mut Ctx<'_>, f: &'static str, msg: String, hint: &str| {
        let d = doc.error("invalid-sign-in", &at(f), msg);
        ctx.report(if hint.is_empty() {
            d
        } else {
            d.with_hint(hint)
        });
    };
    if jwt.bearer == Some(false) {
        error(ctx, "clientId", "an issuer with `signIn` must take bearer tokens: its ID tokens are verified as they are".into(), "remove `bearer: false`");
    }
    if s.client_id.is_empty() {
        error(ctx, "clientId", "`clientId` must not be empty".into(), "");
    } else if !jwt.audiences.is_empty() && !jwt.audiences.contains(&s.client_id) {
        error(
            ctx,
            "clientId",
            format!("the issuer's `audiences` do not hold the sign-in's client `{}`: its ID tokens would be refused", s.client_id),
            &format!("add `{}` to `audiences`", s.client_id),
        );
    }
    let secret_env = s
        .client_secret_env
        .clone()
        .unwrap_or_else(|| DEFAULT_SECRET_ENV.into());
    let keys_env = s
        .cookie_keys_env
        .clone()
        .unwrap_or_else(|| DEFAULT_COOKIE_KEYS_ENV.into());
    for (f, name) in [
        ("clientSecretEnv", &secret_env),
        ("cookieKeysEnv", &keys_env),
    ] {
        let ok = name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_uppercase() || b == b'_')
            && name
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        if !ok {
            error(
                ctx,
                f,
                format!("`{name}` is not an environment variable name"),
                "upper-case letters, digits and `_`, e.g. `GATEHOUSE_COOKIE_KEYS`",
            );
        }
    }
    if let Some(a) = &s.authorization_endpoint {
        if let Err(why) = browser_url(a) {
            error(
                ctx,
                "authorizationEndpoint",
                format!("`{a}` {why}"),
                "Kubeflow's Dex behind the gateway: `/dex/auth`",
            );
        }
    }
    if let Some(end) = &s.end_session_endpoint {
        if let Err(why) = browser_url(end) {
            error(ctx, "endSessionEndpoint", format!("`{end}` {why}"), "");
        }
    }
    let fetch = |ctx: &mut Ctx<'_>, field: &'static str, url: &str, hint: &str| {
        match FetchUrl::parse(url) {
            Ok(u) => Some(KeyFetchSpec {
                cluster: u.cluster_name(),
                url: url.to_owned(),
            }),
            Err(why) => {
                error(
                    ctx,
                    field,
                    format!("`{url}` is not a URL the gateway can fetch: {why}"),
                    hint,
                );
                None
            }
        }
    };
    let token = s.token_endpoint.as_deref().map(|t| {
        fetch(
            ctx,
            "tokenEndpoint",
            t,
            "Kubeflow's Dex: `http://dex.auth.svc.cluster.local:5556/dex/token`",
        )
    });
    // The endpoints the policy does not name come from the issuer's discovery document.
    let wants_discovery = s.discovery_uri.is_some()
        || s.authorization_endpoint.is_none()
        || s.token_endpoint.is_none();
    let discovery = wants_discovery.then(|| {
        let url = s.discovery_uri.clone().unwrap_or_else(|| {
            format!("{}/.well-known/openid-configuration", jwt.issuer.trim_end_matches('/'))
        });
        fetch(ctx, "discoveryUri", &url, "name `tokenEndpoint` and `authorizationEndpoint`, or a `discoveryUri` the gateway can fetch")
    });
    let redirect_path = s
        .redirect_path
        .clone()
        .unwrap_or_else(|| "/oauth2/callback".into());
    let sign_out_path = s
        .sign_out_path
        .clone()
        .unwrap_or_else(|| "/oauth2/sign_out".into());
    for (f, p) in [
        ("redirectPath", &redirect_path),
        ("signOutPath", &sign_out_path),
    ] {
        if !plain_path(p) {
            error(
                ctx,
                f,
                format!("`{p}` is not a plain path (`/…`, no query, `//`, `.` or `..`)"),
                "",
            );
        }
    }
    if redirect_path == sign_out_path {
        error(
            ctx,
            "signOutPath",
            "the sign-out path is the callback path".into(),
            "",
        );
    }
    let post_sign_out = s.post_sign_out.clone().unwrap_or_else(|| "/".into());
    if !(plain_path(&post_sign_out) || post_sign_out.starts_with("https://")) {
        error(
            ctx,
            "postSignOut",
            format!("`{post_sign_out}` is neither a path on the gateway nor an `https://` URL"),
            "",
        );
    }
    let scopes = s.scopes.clone().unwrap_or_else(|| {
        ["openid", "email", "profile", "groups"]
            .map(String::from)
            .to_vec()
    });
    if !scopes.iter().any(|x| x == "openid") {
        error(
            ctx,
            "scopes",
            "`scopes` must hold `openid` (no ID token without it)".into(),
            "",
        );
    }
    if let Some(bad) = scopes.iter().find(|x| {
        x.is_empty()
            || x.bytes()
                .any(|b| !b.is_ascii_graphic() || b == b'"' || b == b'\\')
    }) {
        error(
            ctx,
            "scopes",
            format!("scope `{bad}` is not a scope token"),
            "",
        );
    }
    let secure = s.cookie_secure.unwrap_or(true);
    if !secure {
        ctx.report(doc.warning(
            "insecure-cookie",
            &at("cookieSecure"),
            "`cookieSecure: false` sends the session cookie over plain HTTP: only for a local test",
        ));
    }
    let default_name = if secure && s.cookie_domain.is_none() {
        "__Host-gatehouse"
    } else {
        "gatehouse"
    };
    let cookie_name = s.cookie_name.clone().unwrap_or_else(|| default_name.into());
    let token_ok = !cookie_name.is_empty()
        && cookie_name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if !token_ok {
        error(
            ctx,
            "cookieName",
            format!("`{cookie_name}` is not a cookie name (letters, digits, `-`, `_`, `.`)"),
            "",
        );
    } else if cookie_name.starts_with("__Host-") && (!secure || s.cookie_domain.is_some()) {
        error(ctx, "cookieName", format!("browsers keep a `__Host-` cookie only when it is `Secure` and has no `Domain`; `{cookie_name}` would be dropped"), "name it without `__Host-`");
    }
    if let Some(d) = &s.cookie_domain {
        if !gatehouse_filter::host::is_dns_name(d.trim_start_matches('.')) {
            error(
                ctx,
                "cookieDomain",
                format!("`{d}` is not a lower-case DNS name"),
                "",
            );
        }
    }
    let browser_paths = s.browser_paths.clone().unwrap_or_else(|| vec!["/".into()]);
    if let Some(bad) = browser_paths.iter().find(|p| !p.starts_with('/')) {
        error(ctx, "browserPaths", format!("`{bad}` is not a path"), "");
    }
    if ctx.diags[before..].iter().any(Diagnostic::is_error) {
        return None;
    }
    Some(Box::new(SignInSpec {
        client_id: s.client_id.clone(),
        client_secret_env: secret_env,
        cookie_keys_env: keys_env,
        authorization_endpoint: s.authorization_endpoint.clone(),
        token_endpoint: token.flatten(),
        discovery: discovery.flatten(),
        end_session_endpoint: s.end_session_endpoint.clone(),
        redirect_path,
        sign_out_path,
        post_sign_out,
        scopes,
        cookie_name,
        cookie_domain: s.cookie_domain.clone(),
        cookie_secure: secure,
        browser_paths,
    }))
}

/// Where a browser is sent: `https://…` or a path on the gateway.
fn browser_url(u: &str) -> Result<(), &'static str> {
    if plain_path(u.split('?').next().unwrap_or_default()) || u.starts_with("https://") {
        return Ok(());
    }
    if u.starts_with("http://") {
        return Err("is plain HTTP: a browser is sent there with its sign-in; use `https://`, or a path on the gateway");
    }
    Err("is neither an `https://` URL nor a path on the gateway")
}

fn plain_path(p: &str) -> bool {
    p.starts_with('/')
        && !p.starts_with("//")
        && !p.contains(['?', '#', '\\', ' '])
        && !p.split('/').any(|s| s == "." || s == "..")
}

/// Table-wide checks: one issuer signs browsers in; the page they sign in at (a path on the
/// gateway) must be public. `doc_of` finds the issuer's document for the diagnostic.
pub(crate) fn check_table<'d>(
    table: &Table,
    doc_of: impl Fn(&str) -> Option<&'d Document>,
    ctx: &mut Ctx<'_>,
) {
    let with: Vec<(&str, &SignInSpec)> = table
        .issuers
        .iter()
        .filter_map(|i| match i {
            IssuerSpec::Jwt(j) => j.sign_in.as_deref().map(|s| (j.name.as_str(), s)),
            IssuerSpec::Alb(_) => None,
        })
        .collect();
    let at: &[Step] = path!["spec", "jwt", "signIn"];
    if let [_, second, ..] = with.as_slice() {
        if let Some(doc) = doc_of(second.0) {
            ctx.report(doc.error("invalid-sign-in", at, format!("issuers `{}` and `{}` both have `signIn`; a gateway signs browsers in with one", with[0].0, second.0)));
        }
    }
    let Some((name, s)) = with.first() else {
        return;
    };
    let Some(doc) = doc_of(name) else { return };
    // The filter's own routing decides (a table without grants loads in no time).
    let bare = Table {
        grants: Default::default(),
        ..table.clone()
    };
    let Ok(engine) = Engine::load(bare, Provenance::Drop) else {
        return;
    };
    let mut pages: Vec<(&'static str, &str)> = Vec::new();
    pages.extend(
        s.authorization_endpoint
            .as_deref()
            .map(|a| ("authorizationEndpoint", a)),
    );
    pages.extend(
        s.end_session_endpoint
            .as_deref()
            .map(|e| ("endSessionEndpoint", e)),
    );
    for (field, page) in pages {
        if !page.starts_with('/') {
            continue;
        }
        let public = engine
            .preflight_at("GET", None, page)
            .is_ok_and(|p| p.is_public());
        if !public {
            let dir = page.rsplit_once('/').map_or(page, |(d, _)| d);
            ctx.report(
                doc.warning(
                    "sign-in-page-not-public",
                    &[at, path![field]].concat(),
                    format!("browsers sign in at `{page}`, which is not a public path: they would be sent to sign in to sign in"),
                )
                .with_hint(format!("add `{dir}/` to the Gateway's `publicPaths` (Kubeflow: `/dex/`)")),
            );
        }
    }
}
