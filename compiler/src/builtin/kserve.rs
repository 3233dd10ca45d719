//! The `kserve` built-in route map (opt-in): KServe inference as Kubeflow exposes it through
//! the ingress gateway, by path (`/serving/<namespace>/<model>/…`) and by host (the Gateway's
//! `kserveHosts`, by default `{api}.{namespace}.example.com`, KServe's default domain, and the
//! in-cluster `{api}-predictor.{namespace}.svc.cluster.local`). The model is the API:
//! `predict` for inference (`:predict`, v2 `infer`), `explain` for `:explain`, `get` for model
//! metadata, readiness and health.

use gatehouse_filter::table::RouteSpec;

use super::{act, specs, R};

/// Where routes of this map say they came from.
pub const SOURCE: &str = "builtin:kserve";

/// The host templates used when the Gateway sets no `kserveHosts`.
pub const DEFAULT_HOSTS: &[&str] = &[
    "{api}.{namespace}.example.com",
    "{api}-predictor.{namespace}.svc.cluster.local",
];

/// By path: the namespace and the model are the two segments after `/serving`. The model
/// server's other calls (versioned v2 paths, OpenAI-style `/openai/v1/…`, time series) are
/// judged by the model's catch-alls: a read is `get`, a POST `predict`; loading and unloading
/// models (`/v2/repository/…`) is `deploy` (kserve/kserve `python/kserve/kserve/protocol/rest/`
/// `v1_endpoints.py`, `v2_endpoints.py`, `openai/endpoints.py`).
const BY_PATH: &[R] = &[
    act(&["GET"], "/serving/{namespace}/{api}/**", "get"),
    act(&["POST"], "/serving/{namespace}/{api}/**", "predict"),
    act(
        &["POST"],
        "/serving/{namespace}/{api}/v2/repository/**",
        "deploy",
    ),
    act(
        &["POST"],
        "/serving/{namespace}/{api}/v1/models/*",
        "predict",
    ),
    act(
        &["POST"],
        "/serving/{namespace}/{api}/v1/models/*:explain",
        "explain",
    ),
    act(
        &["POST"],
        "/serving/{namespace}/{api}/v2/models/*/infer",
        "predict",
    ),
    act(&["GET"], "/serving/{namespace}/{api}/v1/models/*", "get"),
    act(&["GET"], "/serving/{namespace}/{api}/v2/models/*", "get"),
    act(
        &["GET"],
        "/serving/{namespace}/{api}/v2/models/*/ready",
        "get",
    ),
    act(&["GET"], "/serving/{namespace}/{api}/v2/health/*", "get"),
];

/// By host: the host gives the namespace and the model; every path on it is the model's.
const BY_HOST: &[R] = &[
    act(&["GET"], "/**", "get"),
    act(&["POST"], "/**", "predict"),
    act(&["POST"], "/v2/repository/**", "deploy"),
    act(&["POST"], "/v1/models/*", "predict"),
    act(&["POST"], "/v1/models/*:explain", "explain"),
    act(&["POST"], "/v2/models/*/infer", "predict"),
    act(&["GET"], "/v1/models/*", "get"),
    act(&["GET"], "/v2/models/*", "get"),
    act(&["GET"], "/v2/models/*/ready", "get"),
    act(&["GET"], "/v2/health/*", "get"),
];

/// The routes, in declaration order; the host routes answer for `hosts` only, and there are
/// none without hosts (`kserveHosts: []`: by path only).
pub fn routes(hosts: &[String]) -> Vec<RouteSpec> {
    let mut out = specs(BY_PATH, SOURCE);
    if hosts.is_empty() {
        return out;
    }
    out.extend(specs(BY_HOST, SOURCE).into_iter().map(|mut r| {
        r.hosts = hosts.to_vec();
        r
    }));
    out
}
