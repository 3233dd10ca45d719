//! The `Gateway` object → [`GatewaySettings`], the built-in route maps to include and the
//! public paths.

use gatehouse_filter::path::is_namespace_name;
use gatehouse_filter::table::{AuditSpec, GatewaySettings, Precedence};

use super::{ByKind, Ctx};
use crate::diagnostic::Diagnostic;
use crate::model::gateway::{BuiltinRouteMap, GatewaySpec, PrecedenceName, PublicPathIn};
use crate::path;
use crate::yaml::{Document, Span};

/// Largest accepted `leewaySeconds`.
pub const MAX_LEEWAY: u64 = 300;
/// Largest accepted `tokenCacheSize`.
pub const MAX_TOKEN_CACHE: u64 = 1_000_000;

/// What the gateway object decides.
pub(crate) struct Gateway {
    /// Settings written to the table.
    pub settings: GatewaySettings,
    /// Built-in route maps to include.
    pub builtin: Vec<BuiltinRouteMap>,
    /// Whether Profile namespaces get the `default-editor` / `default-viewer` grants.
    pub profile_service_accounts: bool,
    /// Host templates of the `kserve` route map, as written (or its defaults).
    pub kserve_hosts: Vec<String>,
    /// Public path prefixes, as written.
    pub public_paths: Vec<PublicPathIn>,
    /// The Gateway document, when there is one.
    pub doc: Option<Document>,
}

pub(crate) fn compile(objects: &ByKind, ctx: &mut Ctx<'_>) -> Gateway {
    for extra in objects.gateways.iter().skip(1) {
        let first = &objects.gateways[0].doc;
        ctx.report(
            extra
                .doc
                .error(
                    "duplicate-declaration",
                    path!["kind"],
                    "duplicate declaration of Gateway: at most one is allowed",
                )
                .with_hint(format!("first declared at {}", first.source_at(path![]))),
        );
    }
    let (spec, doc) = match objects.gateways.first() {
        Some(g) => (
            g.value.spec.clone().unwrap_or_default(),
            Some(g.doc.clone()),
        ),
        None => (GatewaySpec::default(), None),
    };
    if let Some(doc) = &doc {
        check(&spec, doc, ctx);
    }
    let audit = AuditSpec {
        all: spec.audit.all,
        namespaces: {
            let mut n = spec.audit.namespaces.clone();
            n.sort();
            n.dedup();
            n
        },
    };
    let mut builtin = spec
        .builtin_routes
        .clone()
        .unwrap_or_else(|| vec![BuiltinRouteMap::Kubeflow, BuiltinRouteMap::Cortex]);
    builtin.sort();
    builtin.dedup();
    let key_refresh = super::key_refresh::settings(&spec.key_refresh, doc.as_ref(), ctx);
    Gateway {
        settings: GatewaySettings {
            key_refresh,
            user_header: spec
                .user_header
                .clone()
                .unwrap_or_else(|| "kubeflow-userid".into()),
            groups_header: spec
                .groups_header
                .clone()
                .unwrap_or_else(|| "kubeflow-groups".into()),
            user_prefix: spec.user_prefix.clone().unwrap_or_default(),
            groups_separator: spec.groups_separator.clone().unwrap_or_else(|| ",".into()),
            leeway_seconds: spec.leeway_seconds.unwrap_or(30).min(MAX_LEEWAY),
            precedence: match spec.precedence {
                Some(PrecedenceName::BearerFirst) => Precedence::BearerFirst,
                Some(PrecedenceName::AlbFirst) | None => Precedence::AlbFirst,
            },
            audit,
            token_cache_size: spec
                .token_cache_size
                .unwrap_or(10_000)
                .clamp(1, MAX_TOKEN_CACHE) as usize,
        },
        builtin,
        profile_service_accounts: spec.profile_service_accounts.unwrap_or(true),
        kserve_hosts: spec.kserve_hosts.clone().unwrap_or_else(|| {
            crate::builtin::kserve::DEFAULT_HOSTS
                .iter()
                .map(|h| h.to_string())
                .collect()
        }),
        public_paths: spec.public_paths,
        doc,
    }
}

fn check(spec: &GatewaySpec, doc: &Document, ctx: &mut Ctx<'_>) {
    for (field, value) in [
        ("userHeader", &spec.user_header),
        ("groupsHeader", &spec.groups_header),
    ] {
        if let Some(h) = value {
            let ok = !h.is_empty()
                && h.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                });
            if !ok {
                ctx.report(doc.error(
                    "invalid-value",
                    path!["spec", field],
                    format!("`{h}` is not a lower-case HTTP header name"),
                ));
            }
        }
    }
    if spec.groups_separator.as_deref() == Some("") {
        ctx.report(doc.error(
            "invalid-value",
            path!["spec", "groupsSeparator"],
            "`groupsSeparator` must not be empty",
        ));
    }
    if let Some(l) = spec.leeway_seconds.filter(|l| *l > MAX_LEEWAY) {
        ctx.report(doc.error(
            "invalid-value",
            path!["spec", "leewaySeconds"],
            format!("`leewaySeconds` is {l}; expected at most {MAX_LEEWAY}"),
        ));
    }
    if let Some(c) = spec
        .token_cache_size
        .filter(|c| !(1..=MAX_TOKEN_CACHE).contains(c))
    {
        ctx.report(doc.error(
            "invalid-value",
            path!["spec", "tokenCacheSize"],
            format!("`tokenCacheSize` is {c}; expected 1 to {MAX_TOKEN_CACHE}"),
        ));
    }
    for (i, ns) in spec.audit.namespaces.iter().enumerate() {
        if !is_namespace_name(ns) {
            ctx.report(doc.error(
                "invalid-namespace",
                path!["spec", "audit", "namespaces", i],
                format!("`{ns}` is not a valid namespace name"),
            ));
        }
    }
    for (i, public) in spec.public_paths.iter().enumerate() {
        let p = public.path();
        if !p.starts_with('/') || p.contains(['?', '#', '*', '{', '}']) {
            ctx.report(
                doc.error(
                    "invalid-value",
                    path!["spec", "publicPaths", i],
                    format!("public path `{p}` must be a plain path prefix starting with `/`"),
                )
                .with_hint("write a prefix such as `/dex/`; it covers everything below it"),
            );
        }
    }
}

/// The warning for a policy directory without a `Gateway`: every default applies, and with
/// no public paths the sign-in paths need the token they exist to hand out. It has no file:
/// what is missing is the whole object.
pub(crate) fn no_gateway() -> Diagnostic {
    Diagnostic::warning(
        "no-gateway",
        "",
        Span::default(),
        "no `Gateway` in the policy directory, so the defaults apply: no public paths \
         (`/dex/` and `/oauth2/` need a token, so nobody can sign in through them), identity \
         headers `kubeflow-userid` and `kubeflow-groups`, built-in route maps `kubeflow` and \
         `cortex`",
    )
    .with_hint(
        "add a Gateway such as `{apiVersion: gatehouse.dev/v1alpha1, kind: Gateway, \
         metadata: {name: gateway}, spec: {publicPaths: [/dex/, /oauth2/]}}`; a Gateway \
         without `spec` keeps every default, on purpose",
    )
}

/// The route template for a public path prefix: `/dex/` → `/dex/**`.
pub(crate) fn public_template(prefix: &str) -> String {
    format!("{}/**", prefix.trim_end_matches('/'))
}
