//! The `kubeflow` built-in route map: Kubeflow's web apps and APIs behind the ingress gateway.

use gatehouse_filter::table::RouteSpec;

use super::{act, act_q, authn, specs, R};

const GET: &[&str] = &["GET"];
const POST: &[&str] = &["POST"];
const PUT_PATCH: &[&str] = &["PUT", "PATCH"];
const POST_PUT_PATCH: &[&str] = &["POST", "PUT", "PATCH"];
const DELETE: &[&str] = &["DELETE"];
const POST_DELETE: &[&str] = &["POST", "DELETE"];

/// Where routes of this map say they came from.
pub const SOURCE: &str = "builtin:kubeflow";

const ROUTES: &[R] = &[
    act(GET, "/jupyter/api/namespaces/{namespace}/**", "list"),
    act(POST, "/jupyter/api/namespaces/{namespace}/**", "create"),
    act(
        PUT_PATCH,
        "/jupyter/api/namespaces/{namespace}/**",
        "update",
    ),
    act(DELETE, "/jupyter/api/namespaces/{namespace}/**", "delete"),
    act(GET, "/volumes/api/namespaces/{namespace}/**", "list"),
    act(POST, "/volumes/api/namespaces/{namespace}/**", "create"),
    act(
        PUT_PATCH,
        "/volumes/api/namespaces/{namespace}/**",
        "update",
    ),
    act(DELETE, "/volumes/api/namespaces/{namespace}/**", "delete"),
    act(GET, "/tensorboards/api/namespaces/{namespace}/**", "list"),
    act(
        POST,
        "/tensorboards/api/namespaces/{namespace}/**",
        "create",
    ),
    act(
        PUT_PATCH,
        "/tensorboards/api/namespaces/{namespace}/**",
        "update",
    ),
    act(
        DELETE,
        "/tensorboards/api/namespaces/{namespace}/**",
        "delete",
    ),
    act(
        GET,
        "/kserve-endpoints/api/namespaces/{namespace}/**",
        "list",
    ),
    act(
        POST,
        "/kserve-endpoints/api/namespaces/{namespace}/**",
        "create",
    ),
    act(
        PUT_PATCH,
        "/kserve-endpoints/api/namespaces/{namespace}/**",
        "update",
    ),
    act(
        DELETE,
        "/kserve-endpoints/api/namespaces/{namespace}/**",
        "delete",
    ),
    act(&[], "/notebook/{namespace}/{api}/**", "connect"),
    act_q(GET, "/pipeline/**", "list"),
    act_q(POST, "/pipeline/**", "create"),
    act_q(DELETE, "/pipeline/**", "delete"),
    authn("/pipeline/**"),
    act_q(GET, "/katib/**", "list"),
    act_q(POST, "/katib/**", "create"),
    act_q(DELETE, "/katib/**", "delete"),
    authn("/katib/**"),
    act_q(GET, "/model-registry/**", "list"),
    act_q(POST_PUT_PATCH, "/model-registry/**", "update"),
    act_q(DELETE, "/model-registry/**", "delete"),
    authn("/model-registry/**"),
    act_q(GET, "/kfam/v1/bindings", "list"),
    act_q(POST_DELETE, "/kfam/v1/bindings", "manage"),
    authn("/kfam/**"),
    // The central dashboard's namespace events (centraldashboard `app/api.ts`:
    // `.get('/activities/:namespace', …)` under `/api`): the namespace's, so `list` there.
    act(GET, "/api/activities/{namespace}", "list"),
    authn("/api/model_registry/**"),
    authn("/api/model_catalog/**"),
    authn("/ml_metadata/**"),
    authn("/**"),
];

/// The routes, in declaration order.
pub fn routes() -> Vec<RouteSpec> {
    specs(ROUTES, SOURCE)
}
