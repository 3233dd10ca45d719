//! The `cortex` built-in route map: a Cortex-style model serving API under `/serving`.

use gatehouse_filter::table::RouteSpec;

use super::{act, specs, R};

/// Where routes of this map say they came from.
pub const SOURCE: &str = "builtin:cortex";

const APIS: &str = "/serving/v1/namespaces/{namespace}/apis";
const API: &str = "/serving/v1/namespaces/{namespace}/apis/{api}";

const ROUTES: &[R] = &[
    act(&["GET"], APIS, "list"),
    act(&["GET"], API, "get"),
    act(&["PUT", "POST"], API, "deploy"),
    act(&["DELETE"], API, "delete"),
    act(
        &["GET"],
        "/serving/v1/namespaces/{namespace}/apis/{api}/logs",
        "logs",
    ),
    act(
        &["POST"],
        "/serving/v1/namespaces/{namespace}/apis/{api}/predict",
        "predict",
    ),
];

/// The routes, in declaration order.
pub fn routes() -> Vec<RouteSpec> {
    specs(ROUTES, SOURCE)
}
