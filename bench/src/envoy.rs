//! Envoy bootstraps for the end-to-end comparison (`bench/e2e.sh`): the same listener, route,
//! upstream and admin in every variant; only the HTTP filters differ.
//!
//! - `b0`: no auth filter. `b1`: the no-op wasm filter.
//! - `n` / `n-nocache`: native `jwt_authn` (Dex's JWKS inline, `claim_to_headers`,
//!   payload in metadata, with or without `jwt_cache_config`) + `rbac` allowing
//!   `/notebook/<ns>/` to exactly the users and groups Gatehouse's engine allows there.
//! - `x`: `ext_authz` HTTP call to `gatehouse-authz-service`.
//! - `g`: Gatehouse ([`gatehouse::emit::envoy::wasm_filter`]).

use std::collections::BTreeSet;
use std::net::SocketAddr;

use gatehouse::emit::envoy::{cluster, connection_manager, router_filter, socket, wasm_filter};
use gatehouse_filter::pipeline::{self, asserted, Request};
use gatehouse_filter::table::Subject;
use gatehouse_filter::{Engine, Identity};
use serde_json::{json, Value};

use crate::keys::{DEX_AUDIENCE, DEX_ISSUER};

/// Which filters sit before the router.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// No auth filter.
    B0,
    /// The no-op wasm filter.
    B1,
    /// Native jwt_authn (with its JWT cache) + rbac.
    N,
    /// Native jwt_authn without cache + rbac.
    NNoCache,
    /// ext_authz to a local authorization service.
    X,
    /// Gatehouse.
    G,
}

impl Variant {
    /// Parses `b0`, `b1`, `n`, `n-nocache`, `x`, `g`.
    pub fn from_name(s: &str) -> Option<Variant> {
        Some(match s {
            "b0" => Variant::B0,
            "b1" => Variant::B1,
            "n" => Variant::N,
            "n-nocache" => Variant::NNoCache,
            "x" => Variant::X,
            "g" => Variant::G,
            _ => return None,
        })
    }
}

/// Everything a bootstrap may need.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// Listener.
    pub listen: SocketAddr,
    /// Upstream.
    pub upstream: SocketAddr,
    /// Admin listener.
    pub admin: SocketAddr,
    /// The ext_authz service (variant `x`).
    pub authz: Option<SocketAddr>,
    /// A `.wasm` (Gatehouse for `g`, the no-op for `b1`).
    pub wasm: Option<String>,
    /// The compiled table's JSON (`g`; `n` derives its RBAC rules from it).
    pub table_json: Option<String>,
    /// Dex's JWKS document (`n`).
    pub jwks: Option<String>,
}

fn need<'a, T>(v: &'a Option<T>, what: &str) -> Result<&'a T, String> {
    v.as_ref()
        .ok_or_else(|| format!("this variant needs {what}"))
}

fn jwt_authn(jwks: &str, cache: bool) -> Value {
    let mut provider = json!({
        "issuer": DEX_ISSUER,
        "audiences": [DEX_AUDIENCE],
        "local_jwks": {"inline_string": jwks},
        "forward": true,
        "payload_in_metadata": "jwt_payload",
        "claim_to_headers": [{"header_name": "kubeflow-userid", "claim_name": "email"}],
    });
    if cache {
        provider["jwt_cache_config"] = json!({"jwt_cache_size": 1000});
    }
    json!({
        "name": "envoy.filters.http.jwt_authn",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
            "providers": {"dex": provider},
            "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "dex"}}],
        },
    })
}

fn claim(path: &str, value: Value) -> Value {
    json!({"metadata": {
        "filter": "envoy.filters.http.jwt_authn",
        "path": [{"key": "jwt_payload"}, {"key": path}],
        "value": value,
    }})
}

/// RBAC rules with the decision Gatehouse makes for `GET /notebook/<ns>/<name>/`: for every
/// namespace, the users and groups the engine allows there.
pub fn rbac(table_json: &str) -> Result<Value, String> {
    let engine = Engine::from_json(table_json.as_bytes()).map_err(|e| e.to_string())?;
    let mut users = BTreeSet::new();
    let mut groups = BTreeSet::new();
    for subjects in engine.table.grants.values() {
        for s in subjects.keys() {
            match s {
                Subject::User(u) => users.insert(u.clone()),
                Subject::Group(g) => groups.insert(g.clone()),
            };
        }
    }
    let allowed = |path: &str, user: &str, groups: Vec<String>| {
        let id = Identity {
            user: user.into(),
            groups,
            issuer: "dex".into(),
        };
        pipeline::run(&engine, &Request::new("GET", path), asserted(Some(&id)))
            .decision
            .deny_reason()
            .is_none()
    };
    let mut policies = serde_json::Map::new();
    for ns in &engine.table.namespaces {
        let path = format!("/notebook/{ns}/nb/");
        let mut principals = Vec::new();
        for u in &users {
            if allowed(&path, u, vec![]) {
                principals.push(claim("email", json!({"string_match": {"exact": u}})));
            }
        }
        for g in &groups {
            if allowed(&path, "nobody@bench.invalid", vec![g.clone()]) {
                principals.push(claim(
                    "groups",
                    json!({"list_match": {"one_of": {"string_match": {"exact": g}}}}),
                ));
            }
        }
        if principals.is_empty() {
            continue;
        }
        policies.insert(
            format!("notebooks-{ns}"),
            json!({
                "permissions": [{"url_path": {"path": {"prefix": format!("/notebook/{ns}/")}}}],
                "principals": principals,
            }),
        );
    }
    Ok(json!({
        "name": "envoy.filters.http.rbac",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
            "rules": {"action": "ALLOW", "policies": policies},
        },
    }))
}

fn ext_authz() -> Value {
    let exact = |h: &str| json!({"exact": h});
    json!({
        "name": "envoy.filters.http.ext_authz",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz",
            "failure_mode_allow": false,
            "http_service": {
                "server_uri": {"uri": "http://authz", "cluster": "authz", "timeout": "1s"},
                "authorization_request": {"allowed_headers": {"patterns": [
                    exact("authorization"), exact("x-amzn-oidc-data"),
                ]}},
                "authorization_response": {
                    "allowed_upstream_headers": {"patterns": [
                        exact("kubeflow-userid"), exact("kubeflow-groups"), exact("x-amzn-oidc-data"),
                    ]},
                    "allowed_client_headers": {"patterns": [
                        exact("www-authenticate"), exact("content-type"), exact("cache-control"),
                    ]},
                },
            },
        },
    })
}

/// The bootstrap for `variant`.
pub fn bootstrap(variant: Variant, i: &Inputs) -> Result<Value, String> {
    let mut filters = Vec::new();
    let mut clusters = vec![cluster("upstream", i.upstream)];
    match variant {
        Variant::B0 => {}
        Variant::B1 => filters.push(wasm_filter(need(&i.wasm, "--wasm")?, "")),
        Variant::N | Variant::NNoCache => {
            filters.push(jwt_authn(need(&i.jwks, "--jwks")?, variant == Variant::N));
            filters.push(rbac(need(&i.table_json, "--table")?)?);
        }
        Variant::X => {
            filters.push(ext_authz());
            clusters.push(cluster("authz", *need(&i.authz, "--authz")?));
        }
        Variant::G => filters.push(wasm_filter(
            need(&i.wasm, "--wasm")?,
            need(&i.table_json, "--table")?,
        )),
    }
    filters.push(router_filter());
    let hcm = connection_manager("bench", filters);
    Ok(json!({
        "admin": {"address": socket(i.admin)},
        "static_resources": {
            "listeners": [{
                "name": "bench",
                "address": socket(i.listen),
                "filter_chains": [{"filters": [hcm]}],
            }],
            "clusters": clusters,
        },
    }))
}
