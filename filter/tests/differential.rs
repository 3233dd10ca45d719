//! Differential test: the engine against a small, obviously-correct reference evaluator, on
//! random policies, identities and requests. The reference scans every grant linearly and
//! knows each route by hand; the engine uses its indexed ACL and ordered route table.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use gatehouse_filter::engine::Provenance;
use gatehouse_filter::pipeline::{self, asserted, Request};
use gatehouse_filter::table::*;
use gatehouse_filter::{wire, DenyReason, Engine, Identity, Verdict};
use proptest::prelude::*;

const NAMESPACES: [&str; 3] = ["team-a", "team-b", "models"];
const USERS: [&str; 3] = ["alice@x.io", "bob@x.io", "carol@x.io"];
const GROUPS: [&str; 2] = ["ops", "ml"];
const APIS: [&str; 3] = ["fraud", "churn", "rank"];
const ROLES: [(&str, &[&str]); 3] = [
    ("read_only", &["get", "list", "logs"]),
    ("developer", &["get", "list", "logs", "deploy", "delete"]),
    ("deployer", &["deploy"]),
];

/// One random grant: (namespace or `*`, subject, role, apis).
#[derive(Debug, Clone)]
struct G {
    ns: Option<usize>,
    group: bool,
    who: usize,
    role: usize,
    apis: Option<Vec<usize>>,
}

fn grant() -> impl Strategy<Value = G> {
    (
        proptest::option::weighted(0.85, 0..NAMESPACES.len()),
        any::<bool>(),
        0..USERS.len(),
        0..ROLES.len(),
        proptest::option::of(proptest::collection::vec(0..APIS.len(), 0..3)),
    )
        .prop_map(|(ns, group, who, role, apis)| G {
            ns,
            group,
            who: if group { who % GROUPS.len() } else { who },
            role,
            apis,
        })
}

fn subject(g: &G) -> Subject {
    if g.group {
        Subject::Group(GROUPS[g.who].into())
    } else {
        Subject::User(USERS[g.who].into())
    }
}

fn table(grants: &[G]) -> Table {
    let route = |m: &str, p: &str, a: Access| RouteSpec {
        methods: vec![m.into()],
        path: p.into(),
        namespace_query: None,
        namespace: None,
        api: None,
        access: a,
        source: "t".into(),
        hosts: Vec::new(),
    };
    let act = |a: &str| Access::Action(a.into());
    let mut map: BTreeMap<Scope, BTreeMap<Subject, Vec<GrantSpec>>> = BTreeMap::new();
    for g in grants {
        let ns = g.ns.map_or("*", |i| NAMESPACES[i]);
        map.entry(ns.into())
            .or_default()
            .entry(subject(g))
            .or_default()
            .push(GrantSpec {
                role: ROLES[g.role].0.into(),
                apis: g
                    .apis
                    .as_ref()
                    .map(|a| a.iter().map(|i| APIS[*i].to_string()).collect()),
                source: "t".into(),
            });
    }
    Table {
        format_version: FORMAT_VERSION,
        gateway: GatewaySettings {
            key_refresh: Default::default(),
            user_header: "kubeflow-userid".into(),
            groups_header: "kubeflow-groups".into(),
            user_prefix: String::new(),
            groups_separator: ",".into(),
            leeway_seconds: 0,
            precedence: Precedence::AlbFirst,
            audit: AuditSpec::default(),
            token_cache_size: 1,
        },
        actions: ["delete", "deploy", "get", "list", "logs"]
            .map(String::from)
            .to_vec(),
        roles: ROLES
            .iter()
            .map(|(n, a)| (n.to_string(), a.iter().map(|s| s.to_string()).collect()))
            .collect(),
        issuers: vec![],
        routes: vec![
            route("GET", "/s/{namespace}/apis", act("list")),
            route("GET", "/s/{namespace}/apis/{api}", act("get")),
            route("PUT", "/s/{namespace}/apis/{api}", act("deploy")),
            route("DELETE", "/s/{namespace}/apis/{api}", act("delete")),
            route("GET", "/s/{namespace}/apis/{api}/logs", act("logs")),
            route("POST", "/s/{namespace}/jobs/*", act("list")),
            route("POST", "/s/{namespace}/jobs/*:delete", act("delete")),
        ],
        grants: map,
        namespaces: NAMESPACES.map(String::from).to_vec(),
    }
}

/// The reference: which action a request needs, then a linear scan of every grant.
fn reference(
    grants: &[G],
    user: usize,
    groups: &[usize],
    method: &str,
    ns: usize,
    api: Option<usize>,
) -> bool {
    let action = match (method, api) {
        ("GET" | "POST", None) => "list",
        ("POST:delete", None) => "delete",
        ("GET", Some(_)) => "get",
        ("PUT", Some(_)) => "deploy",
        ("DELETE", Some(_)) => "delete",
        _ => unreachable!(),
    };
    grants.iter().any(|g| {
        let ns_ok = g.ns.is_none() || g.ns == Some(ns);
        let who_ok = if g.group {
            groups.contains(&g.who)
        } else {
            g.who == user
        };
        let role_ok = ROLES[g.role].1.contains(&action);
        let api_ok = match (&g.apis, api) {
            (None, _) => true,
            (Some(list), Some(a)) => list.contains(&a),
            (Some(_), None) => false,
        };
        ns_ok && who_ok && role_ok && api_ok
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn engine_agrees_with_reference(
        grants in proptest::collection::vec(grant(), 0..12),
        user in 0..USERS.len(),
        groups in proptest::collection::btree_set(0..GROUPS.len(), 0..=2),
        request in (0..6usize, 0..NAMESPACES.len(), 0..APIS.len()),
    ) {
        let engine = Engine::new(table(&grants)).unwrap();
        // The gateway's form of the same table: grants only in the ACL, without sources.
        let gateway = Engine::load(table(&grants), Provenance::Drop).unwrap();
        // And from the binary form, whose grants go straight into the ACL.
        let binary = wire::encode(&table(&grants)).unwrap();
        let from_binary = Engine::from_bytes(&binary, Provenance::Drop).unwrap();
        let groups: Vec<usize> = groups.into_iter().collect();
        let (kind, ns, api) = request;
        let (method, path, api) = match kind {
            0 => ("GET", format!("/s/{}/apis", NAMESPACES[ns]), None),
            1 => ("GET", format!("/s/{}/apis/{}", NAMESPACES[ns], APIS[api]), Some(api)),
            2 => ("PUT", format!("/s/{}/apis/{}", NAMESPACES[ns], APIS[api]), Some(api)),
            3 => ("DELETE", format!("/s/{}/apis/{}", NAMESPACES[ns], APIS[api]), Some(api)),
            // A job's `:delete` (a `*:delete` segment) and any other call on it (`*`).
            4 => ("POST:delete", format!("/s/{}/jobs/{}:delete", NAMESPACES[ns], APIS[api]), None),
            _ => ("POST", format!("/s/{}/jobs/{}:start", NAMESPACES[ns], APIS[api]), None),
        };
        let judged = method.split(':').next().unwrap_or(method);
        let id = Identity {
            user: USERS[user].into(),
            groups: groups.iter().map(|g| GROUPS[*g].to_string()).collect(),
            issuer: "t".into(),
        };
        let expected = reference(&grants, user, &groups, method, ns, api);
        let got = pipeline::run(&engine, &Request::new(judged, &path), asserted(Some(&id))).decision.verdict;
        let want = if expected { Verdict::Allow } else { Verdict::Deny(DenyReason::NotPermitted) };
        prop_assert_eq!(&got, &want);
        let at_gateway = pipeline::run(&gateway, &Request::new(judged, &path), asserted(Some(&id))).decision;
        prop_assert_eq!(&at_gateway.verdict, &want);
        prop_assert!(at_gateway.granted_by.is_none());
        prop_assert!(gateway.table.grants.is_empty());
        let at_gateway = pipeline::run(&from_binary, &Request::new(judged, &path), asserted(Some(&id))).decision;
        prop_assert_eq!(at_gateway.verdict, want);
        prop_assert!(from_binary.table.grants.is_empty());
    }
}
