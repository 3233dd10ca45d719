//! Inputs for Gatehouse's benchmarks: synthetic tables of any size, built the way the compiler
//! lays them out, so the benches measure the engine the filter runs; policy directories of any
//! size ([`policy`]); the test keys as issuers and signers ([`keys`]).

/// Whether criterion runs the benchmarks for real (`cargo bench`), rather than once each as
/// a smoke test (`cargo test --all-targets`, which should stay quick: small inputs then).
pub fn measuring() -> bool {
    std::env::args().any(|a| a == "--bench")
}

pub mod envoy;
pub mod keys;
pub mod policy;

use std::collections::BTreeMap;

use gatehouse_filter::table::{
    Access, AuditSpec, GatewaySettings, GrantSpec, Precedence, RouteSpec, Scope, Subject, Table,
    FORMAT_VERSION,
};

fn route(methods: &[&str], path: &str, access: Access) -> RouteSpec {
    RouteSpec {
        methods: methods.iter().map(|m| m.to_string()).collect(),
        path: path.into(),
        namespace_query: None,
        namespace: None,
        api: None,
        access,
        source: "bench".into(),
        hosts: Vec::new(),
    }
}

/// A table with `bindings` user grants spread over `bindings / 10` namespaces (at least one),
/// Kubeflow-like routes and a Cortex-like serving API. User `u<i>@example.com` holds
/// `developer` in namespace `ns-<i / 10>`.
pub fn synthetic_table(bindings: usize) -> Table {
    let act = |a: &str| Access::Action(a.into());
    let mut grants: BTreeMap<Scope, BTreeMap<Subject, Vec<GrantSpec>>> = BTreeMap::new();
    for i in 0..bindings {
        grants
            .entry(Scope::from(format!("ns-{}", i / 10)))
            .or_default()
            .insert(
                Subject::User(format!("u{i}@example.com")),
                vec![GrantSpec {
                    role: "developer".into(),
                    apis: None,
                    source: "bench".into(),
                }],
            );
    }
    let namespaces = grants.keys().map(Scope::to_string).collect();
    let mut pipeline = route(&["GET"], "/pipeline/**", act("list"));
    pipeline.namespace_query = Some("namespace".into());
    Table {
        format_version: FORMAT_VERSION,
        gateway: GatewaySettings {
            key_refresh: Default::default(),
            user_header: "kubeflow-userid".into(),
            groups_header: "kubeflow-groups".into(),
            user_prefix: String::new(),
            groups_separator: ",".into(),
            leeway_seconds: 30,
            precedence: Precedence::AlbFirst,
            audit: AuditSpec::default(),
            token_cache_size: 10_000,
        },
        actions: ["delete", "deploy", "get", "list", "logs", "predict"]
            .map(String::from)
            .to_vec(),
        roles: BTreeMap::from([(
            "developer".to_string(),
            ["delete", "deploy", "get", "list", "logs", "predict"]
                .map(String::from)
                .to_vec(),
        )]),
        issuers: vec![],
        routes: vec![
            route(&[], "/dex/**", Access::Public),
            route(&[], "/**", Access::Authenticated),
            route(&[], "/notebook/{namespace}/{api}/**", act("get")),
            route(
                &["GET"],
                "/serving/v1/namespaces/{namespace}/apis",
                act("list"),
            ),
            route(
                &["GET"],
                "/serving/v1/namespaces/{namespace}/apis/{api}",
                act("get"),
            ),
            route(
                &["PUT", "POST"],
                "/serving/v1/namespaces/{namespace}/apis/{api}",
                act("deploy"),
            ),
            route(
                &["DELETE"],
                "/serving/v1/namespaces/{namespace}/apis/{api}",
                act("delete"),
            ),
            route(
                &["GET"],
                "/serving/v1/namespaces/{namespace}/apis/{api}/logs",
                act("logs"),
            ),
            pipeline,
        ],
        grants,
        namespaces,
    }
}
