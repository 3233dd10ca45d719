//! Routes: the gateway's public paths, the built-in route maps, then every `RouteMap`, checked
//! together by the filter's own [`RouteTable::new`] (templates and ambiguity).

use std::collections::BTreeSet;

use gatehouse_filter::host::HostPattern;
use gatehouse_filter::path::is_namespace_name;
use gatehouse_filter::route::RouteTable;
use gatehouse_filter::table::{Access, RouteSpec};

use super::gateway::{public_template, Gateway};
use super::{ByKind, Ctx};
use crate::builtin;
use crate::diagnostic::{did_you_mean, Diagnostic};
use crate::model::gateway::BuiltinRouteMap;
use crate::model::routemap::{AccessIn, RouteIn};
use crate::path;
use crate::yaml::{Document, Span, Step};

/// Where a route was written, for mapping the filter's route errors back to the policy.
struct Origin {
    file: String,
    span: Span,
}

pub(crate) fn compile(
    objects: &ByKind,
    gw: &Gateway,
    actions: &BTreeSet<String>,
    ctx: &mut Ctx<'_>,
) -> Vec<RouteSpec> {
    let mut specs = Vec::new();
    let mut origins = Vec::new();
    for (i, public) in gw.public_paths.iter().enumerate() {
        let hosts = match &gw.doc {
            Some(doc) => check_hosts(
                doc,
                path!["spec", "publicPaths", i, "hosts"],
                public.hosts(),
                ctx,
            ),
            None => Vec::new(),
        };
        let (source, origin) = match &gw.doc {
            Some(doc) => {
                let at = path!["spec", "publicPaths", i];
                (
                    doc.source_at(at),
                    Origin {
                        file: doc.file.clone(),
                        span: doc.span(at),
                    },
                )
            }
            None => (
                "gateway".to_string(),
                Origin {
                    file: String::new(),
                    span: Span::default(),
                },
            ),
        };
        specs.push(RouteSpec {
            methods: Vec::new(),
            path: public_template(public.path()),
            namespace_query: None,
            namespace: None,
            api: None,
            access: Access::Public,
            source,
            hosts,
        });
        origins.push(origin);
    }
    for map in &gw.builtin {
        let (routes, name) = match map {
            BuiltinRouteMap::Kubeflow => (builtin::kubeflow::routes(), builtin::kubeflow::SOURCE),
            BuiltinRouteMap::Cortex => (builtin::cortex::routes(), builtin::cortex::SOURCE),
            BuiltinRouteMap::Kserve => {
                let hosts = match &gw.doc {
                    Some(doc) => {
                        check_hosts(doc, path!["spec", "kserveHosts"], &gw.kserve_hosts, ctx)
                    }
                    None => gw.kserve_hosts.clone(),
                };
                (builtin::kserve::routes(&hosts), builtin::kserve::SOURCE)
            }
        };
        for r in routes {
            let origin = match &gw.doc {
                Some(doc) => Origin {
                    file: doc.file.clone(),
                    span: doc.span(path!["spec", "builtinRoutes"]),
                },
                None => Origin {
                    file: name.to_string(),
                    span: Span::default(),
                },
            };
            specs.push(r);
            origins.push(origin);
        }
    }
    for rm in &objects.route_maps {
        let Some(spec) = ctx.ok(rm.spec()) else {
            continue;
        };
        let map_hosts = check_hosts(&rm.doc, path!["spec", "hosts"], &spec.hosts, ctx);
        for (i, r) in spec.routes.iter().enumerate() {
            if let Some(mut s) = user_route(&rm.doc, i, r, actions, ctx) {
                s.hosts = match &r.hosts {
                    Some(own) => {
                        check_hosts(&rm.doc, path!["spec", "routes", i, "hosts"], own, ctx)
                    }
                    None => map_hosts.clone(),
                };
                specs.push(s);
                origins.push(Origin {
                    file: rm.doc.file.clone(),
                    span: rm.doc.span(path!["spec", "routes", i, "path"]),
                });
            }
        }
    }
    if let Err(errors) = RouteTable::new(&specs) {
        for e in errors {
            let (file, span) = origins
                .get(e.index)
                .map_or((String::new(), Span::default()), |o| {
                    (o.file.clone(), o.span)
                });
            let code = if e.message.contains("ambiguous") {
                "ambiguous-route"
            } else {
                "invalid-route"
            };
            let d = Diagnostic::error(code, &file, span, e.message);
            ctx.report(if code == "ambiguous-route" {
                d.with_hint(
                    "make one route more specific: a literal segment, methods, or `namespaceQuery`",
                )
            } else {
                d
            });
        }
    }
    specs
}

fn user_route(
    doc: &Document,
    i: usize,
    r: &RouteIn,
    actions: &BTreeSet<String>,
    ctx: &mut Ctx<'_>,
) -> Option<RouteSpec> {
    let before = ctx.diags.len();
    let at = |f: &'static str| path!["spec", "routes", i, f].to_vec();
    for (j, m) in r.methods.iter().enumerate() {
        if m.is_empty() || !m.bytes().all(|b| b.is_ascii_uppercase()) {
            let d = doc.error(
                "invalid-value",
                path!["spec", "routes", i, "methods", j],
                format!("`{m}` is not an upper-case HTTP method"),
            );
            ctx.report(
                if m.bytes().all(|b| b.is_ascii_alphabetic()) && !m.is_empty() {
                    d.with_hint(format!("write `{}`", m.to_ascii_uppercase()))
                } else {
                    d
                },
            );
        }
    }
    let access = match (&r.action, r.access) {
        (Some(a), None) => {
            if !actions.contains(a) {
                ctx.report(
                    doc.error(
                        "unknown-action",
                        &at("action"),
                        format!("unknown action `{a}`"),
                    )
                    .with_hint_opt(
                        did_you_mean(a, actions.iter().map(String::as_str)).or_else(|| {
                            Some("declare it in this RouteMap's `actions`".to_string())
                        }),
                    ),
                );
            }
            Access::Action(a.clone())
        }
        (None, Some(AccessIn::Authenticated)) => Access::Authenticated,
        (None, Some(AccessIn::Public)) => Access::Public,
        _ => {
            ctx.report(
                doc.error(
                    "invalid-value",
                    path!["spec", "routes", i],
                    "a route needs exactly one of `action` and `access`",
                )
                .with_hint("write `action: <name>`, or `access: authenticated` / `access: public`"),
            );
            return None;
        }
    };
    if let Some(ns) = &r.namespace {
        if !is_namespace_name(ns) {
            ctx.report(doc.error(
                "invalid-namespace",
                &at("namespace"),
                format!("`{ns}` is not a valid namespace name"),
            ));
        }
    }
    if r.namespace_query.as_deref() == Some("") {
        ctx.report(doc.error(
            "invalid-value",
            &at("namespaceQuery"),
            "`namespaceQuery` must name a query parameter",
        ));
    }
    if ctx.diags.len() > before {
        return None;
    }
    Some(RouteSpec {
        methods: r.methods.clone(),
        path: r.path.clone(),
        namespace_query: r.namespace_query.clone(),
        namespace: r.namespace.clone(),
        api: r.api.clone(),
        access,
        source: doc.source_at(path!["spec", "routes", i]),
        hosts: Vec::new(),
    })
}

/// Host patterns as written, checked: each an error where it is not a lower-case DNS name or
/// `*.` and one. Returns the good ones, sorted.
fn check_hosts(doc: &Document, at: &[Step], hosts: &[String], ctx: &mut Ctx<'_>) -> Vec<String> {
    let mut out = Vec::with_capacity(hosts.len());
    for (j, h) in hosts.iter().enumerate() {
        let mut here = at.to_vec();
        here.push(Step::Index(j));
        match HostPattern::parse(h) {
            Ok(_) => out.push(h.clone()),
            Err(e) => ctx.report(
                doc.error("invalid-host", &here, e).with_hint_opt(
                    (h.to_ascii_lowercase() != *h)
                        .then(|| format!("write `{}`", h.to_ascii_lowercase())),
                ),
            ),
        }
    }
    out.sort();
    out.dedup();
    out
}
