//! The `kubeflow` built-in route map: Kubeflow's web apps and APIs behind the ingress gateway.

use gatehouse_filter::table::RouteSpec;

use super::{act, act_in, act_param, act_q, authn, specs, R};

const GET: &[&str] = &["GET"];
const POST: &[&str] = &["POST"];
const PUT_PATCH: &[&str] = &["PUT", "PATCH"];
const POST_PUT_PATCH: &[&str] = &["POST", "PUT", "PATCH"];
const DELETE: &[&str] = &["DELETE"];
const POST_DELETE: &[&str] = &["POST", "DELETE"];

/// Where routes of this map say they came from.
pub const SOURCE: &str = "builtin:kubeflow";

/// The namespace Kubeflow's shared services live in: what no tenant namespace names (ML
/// Metadata writes, every namespace's contributors) needs an action here, which only platform
/// administrators (a grant in every namespace, or in this one) have.
pub const PLATFORM_NAMESPACE: &str = "kubeflow";

/// Every method: the app answers the same whatever the method (Go's `http.HandleFunc`,
/// Express's `.all`), so the method cannot tell a read from a write.
const ANY: &[&str] = &[];

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
    // The models web app's server-sent events (kserve/models-web-app
    // `backend/apps/common/sse/routes.py`: `/api/sse/namespaces/<namespace>/inferenceservices…`).
    act(
        GET,
        "/kserve-endpoints/api/sse/namespaces/{namespace}/**",
        "list",
    ),
    act(ANY, "/notebook/{namespace}/{api}/**", "connect"),
    // The KFP UI server's pod views name the pod's namespace as `podnamespace`
    // (kubeflow/pipelines `frontend/server/app.ts`: `/k8s/pod/logs`, `/k8s/pod`,
    // `/k8s/pod/events`, under `/pipeline` too; `frontend/src/lib/Apis.ts`:
    // `k8s/pod/logs?podname=…&podnamespace=…`).
    act_param(GET, "/pipeline/k8s/pod/logs", "podnamespace", "logs"),
    act_param(GET, "/pipeline/k8s/pod/**", "podnamespace", "list"),
    act_q(GET, "/pipeline/**", "list"),
    act_q(POST, "/pipeline/**", "create"),
    act_q(DELETE, "/pipeline/**", "delete"),
    authn("/pipeline/**"),
    // Katib's UI backend answers every method on every route (kubeflow/katib
    // `cmd/ui/v1beta1/main.go`: `http.HandleFunc`), so its routes are judged by name:
    // `delete_experiment` deletes whatever the method (the UI sends DELETE, the removed React
    // UI sent GET: `frontend/src/app/services/backend.service.ts`), `fetch_trial_logs` reads
    // logs, the other `fetch_*` read. `create_experiment` carries its namespace in the body
    // (`{"postData": <Experiment>}`): judged only when `?namespace=` names one too, else Katib's
    // own check (`pkg/ui/v1beta1/authzn.go`, on in Kubeflow) is the one that counts.
    act_q(ANY, "/katib/delete_experiment", "delete"),
    act_q(ANY, "/katib/create_experiment", "create"),
    act_q(ANY, "/katib/fetch_trial_logs", "logs"),
    act_q(ANY, "/katib/fetch_*", "list"),
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
    // KFAM's profile deletion names the profile (kubeflow/dashboard
    // `components/access-management/kfam/routers.go`: `DELETE /kfam/v1/profiles/{profile}`).
    act(ANY, "/kfam/v1/profiles/{namespace}", "manage"),
    authn("/kfam/**"),
    // The central dashboard (kubeflow/dashboard `components/centraldashboard/app/api.ts`,
    // `api_workgroup.ts`, mounted at `/api` and `/api/workgroup`): a namespace's events, its
    // contributors, and adding or removing one are that namespace's; every namespace with its
    // contributors (`get-all-namespaces`, which the dashboard itself never checks) is the
    // platform's.
    act(GET, "/api/activities/{namespace}", "list"),
    act(ANY, "/api/workgroup/get-contributors/{namespace}", "list"),
    act(ANY, "/api/workgroup/add-contributor/{namespace}", "manage"),
    act(
        ANY,
        "/api/workgroup/remove-contributor/{namespace}",
        "manage",
    ),
    act_in(
        ANY,
        "/api/workgroup/get-all-namespaces",
        PLATFORM_NAMESPACE,
        "manage",
    ),
    // The model registry's REST API names no namespace (kubeflow/model-registry
    // `api/openapi/model-registry.yaml`: `/api/model_registry/v1alpha3/…`, GET POST PATCH).
    authn("/api/model_registry/**"),
    authn("/api/model_catalog/**"),
    // ML Metadata, as the KFP UI calls it: gRPC-web POSTs at the root, all reads
    // (kubeflow/pipelines `frontend/src/mlmd/Api.ts`: a client with an empty host;
    // `…/metadata_store_service_grpc_web_pb.js`: `'/ml_metadata.MetadataStoreService/GetArtifacts'`),
    // which the `/ml_metadata` prefix of Kubeflow's VirtualService sends to ML Metadata. It has
    // no namespaces: any verified user reads, and writes (`Put*`, never sent by the UI; runs
    // write in the cluster) are the platform's.
    authn("/ml_metadata.MetadataStoreService/Get*"),
    act_in(
        ANY,
        "/ml_metadata.MetadataStoreService/*",
        PLATFORM_NAMESPACE,
        "manage",
    ),
    authn("/**"),
];

/// The routes, in declaration order.
pub fn routes() -> Vec<RouteSpec> {
    specs(ROUTES, SOURCE)
}
