//! Engine decisions over a small hand-written table.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use gatehouse_filter::engine::LoadError;
use gatehouse_filter::pipeline::{self, asserted, Request};
use gatehouse_filter::table::*;
use gatehouse_filter::{DenyReason, Engine, Identity, Verdict};

fn route(methods: &[&str], path: &str, access: Access) -> RouteSpec {
    RouteSpec {
        methods: methods.iter().map(|m| m.to_string()).collect(),
        path: path.into(),
        namespace_query: None,
        namespace: None,
        api: None,
        access,
        source: "test".into(),
        hosts: Vec::new(),
    }
}

fn grant(role: &str, apis: Option<&[&str]>) -> GrantSpec {
    GrantSpec {
        role: role.into(),
        apis: apis.map(|a| a.iter().map(|s| s.to_string()).collect()),
        source: format!("test ({role})"),
    }
}

fn table() -> Table {
    let act = |a: &str| Access::Action(a.into());
    let mut pipeline = route(&["GET"], "/pipeline/**", act("list"));
    pipeline.namespace_query = Some("namespace".into());
    let mut grants: BTreeMap<Scope, BTreeMap<Subject, Vec<GrantSpec>>> = BTreeMap::new();
    let mut put = |ns: &str, subject: &str, g: GrantSpec| {
        grants
            .entry(ns.into())
            .or_default()
            .entry(Subject::parse(subject).unwrap())
            .or_default()
            .push(g)
    };
    put("team-a", "user:alice@example.com", grant("edit", None));
    put("team-a", "user:bob@example.com", grant("view", None));
    put(
        "models",
        "user:carol@example.com",
        grant("developer", Some(&["fraud-model"])),
    );
    put("models", "group:ml-ops", grant("developer", None));
    put("*", "group:platform", grant("view", None));
    Table {
        format_version: FORMAT_VERSION,
        gateway: GatewaySettings {
            key_refresh: Default::default(),
            user_header: "kubeflow-userid".into(),
            groups_header: "kubeflow-groups".into(),
            user_prefix: "accounts.google.com:".into(),
            groups_separator: ",".into(),
            leeway_seconds: 30,
            precedence: Precedence::AlbFirst,
            audit: AuditSpec::default(),
            token_cache_size: 100,
        },
        actions: ["connect", "deploy", "get", "list", "logs"]
            .map(String::from)
            .to_vec(),
        roles: BTreeMap::from([
            (
                "view".into(),
                vec!["get".into(), "list".into(), "logs".into()],
            ),
            (
                "edit".into(),
                ["get", "list", "logs", "connect"]
                    .map(String::from)
                    .to_vec(),
            ),
            (
                "developer".into(),
                ["get", "list", "logs", "deploy"].map(String::from).to_vec(),
            ),
        ]),
        issuers: vec![],
        routes: vec![
            route(&[], "/dex/**", Access::Public),
            route(&[], "/**", Access::Authenticated),
            route(&[], "/notebook/{namespace}/{api}/**", act("connect")),
            route(&["GET"], "/serving/{namespace}/{api}", act("get")),
            route(&["PUT"], "/serving/{namespace}/{api}", act("deploy")),
            route(&["GET"], "/serving/{namespace}/{api}/logs", act("logs")),
            pipeline,
        ],
        grants,
        namespaces: vec!["models".into(), "team-a".into()],
    }
}

fn engine() -> Engine {
    Engine::new(table()).unwrap()
}

fn who(user: &str, groups: &[&str]) -> Identity {
    Identity {
        user: user.into(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        issuer: "test".into(),
    }
}

fn decide(e: &Engine, m: &str, p: &str, id: Option<&Identity>) -> Result<(), DenyReason> {
    match pipeline::run(e, &Request::new(m, p), asserted(id))
        .decision
        .verdict
    {
        Verdict::Allow => Ok(()),
        Verdict::Deny(r) => Err(r),
    }
}

#[test]
fn owners_and_contributors_get_their_actions() {
    let e = engine();
    let alice = who("alice@example.com", &[]);
    let bob = who("bob@example.com", &[]);
    assert_eq!(
        decide(&e, "GET", "/notebook/team-a/nb/lab", Some(&alice)),
        Ok(())
    );
    assert_eq!(
        decide(&e, "GET", "/notebook/team-a/nb/lab", Some(&bob)),
        Err(DenyReason::NotPermitted)
    );
    assert_eq!(
        decide(&e, "GET", "/pipeline/apis/v1?namespace=team-a", Some(&bob)),
        Ok(())
    );
    assert_eq!(
        decide(&e, "GET", "/pipeline/apis/v1?namespace=models", Some(&bob)),
        Err(DenyReason::NotPermitted)
    );
}

#[test]
fn api_scoped_grants_cover_only_their_apis() {
    let e = engine();
    let carol = who("carol@example.com", &[]);
    assert_eq!(
        decide(&e, "PUT", "/serving/models/fraud-model", Some(&carol)),
        Ok(())
    );
    assert_eq!(
        decide(&e, "PUT", "/serving/models/churn-model", Some(&carol)),
        Err(DenyReason::NotPermitted)
    );
    // Group grants are unscoped.
    let ops = who("dave@example.com", &["ml-ops"]);
    assert_eq!(
        decide(&e, "PUT", "/serving/models/churn-model", Some(&ops)),
        Ok(())
    );
    // A grant in all namespaces.
    let plat = who("erin@example.com", &["platform"]);
    assert_eq!(
        decide(&e, "GET", "/serving/models/x/logs", Some(&plat)),
        Ok(())
    );
    assert_eq!(
        decide(&e, "PUT", "/serving/models/x", Some(&plat)),
        Err(DenyReason::NotPermitted)
    );
}

#[test]
fn identity_is_required_except_on_public_routes() {
    let e = engine();
    assert_eq!(decide(&e, "GET", "/dex/auth", None), Ok(()));
    assert_eq!(decide(&e, "GET", "/", None), Err(DenyReason::NoIdentity));
    assert_eq!(
        decide(&e, "GET", "/notebook/team-a/nb/", None),
        Err(DenyReason::NoIdentity)
    );
    // A dot segment cannot climb from a public prefix into a protected one.
    assert_eq!(
        decide(&e, "GET", "/dex/../notebook/team-a/nb/", None),
        Err(DenyReason::NoIdentity)
    );
}

#[test]
fn hostile_paths_are_never_judged_against_another_namespace() {
    let e = engine();
    let alice = who("alice@example.com", &[]);
    // `a/../models` is namespace `models`, where alice holds nothing.
    assert_eq!(
        decide(&e, "GET", "/notebook/team-a/../models/nb/", Some(&alice)),
        Err(DenyReason::NotPermitted)
    );
    assert_eq!(
        decide(
            &e,
            "GET",
            "/notebook/team-a%2f..%2fmodels/nb/",
            Some(&alice)
        ),
        Err(DenyReason::BadPath)
    );
    assert_eq!(
        decide(
            &e,
            "GET",
            "/pipeline/x?namespace=team-a&namespace=models",
            Some(&alice)
        ),
        Err(DenyReason::AmbiguousNamespace)
    );
    assert_eq!(
        decide(&e, "GET", "/notebook/Team-A/nb/", Some(&alice)),
        Err(DenyReason::BadNamespace)
    );
}

#[test]
fn allow_emits_identity_headers_with_prefix_and_groups() {
    let e = engine();
    let id = who("dave@example.com", &["ml-ops", "analysts"]);
    let d = pipeline::run(
        &e,
        &Request::new("GET", "/serving/models/x"),
        asserted(Some(&id)),
    )
    .decision;
    assert_eq!(d.verdict, Verdict::Allow);
    assert_eq!(
        d.headers,
        vec![
            (
                "kubeflow-userid".into(),
                "accounts.google.com:dave@example.com".into()
            ),
            ("kubeflow-groups".into(), "ml-ops,analysts".into()),
        ]
    );
    assert!(d.granted_by.unwrap().contains("developer"));
}

#[test]
fn audit_mode_lets_authorization_denials_through_but_never_missing_identity() {
    let mut t = table();
    t.gateway.audit.namespaces = vec!["team-a".into()];
    let e = Engine::new(t).unwrap();
    let bob = who("bob@example.com", &[]);
    let d = pipeline::run(
        &e,
        &Request::new("GET", "/notebook/team-a/nb/"),
        asserted(Some(&bob)),
    )
    .decision;
    assert_eq!(d.verdict, Verdict::Allow);
    assert_eq!(d.audited, Some(DenyReason::NotPermitted));
    // Other namespaces are enforced.
    let d = pipeline::run(
        &e,
        &Request::new("PUT", "/serving/models/x"),
        asserted(Some(&bob)),
    )
    .decision;
    assert_eq!(d.verdict, Verdict::Deny(DenyReason::NotPermitted));
    // No identity is never audited through.
    let d = pipeline::run(
        &e,
        &Request::new("GET", "/notebook/team-a/nb/"),
        asserted(None),
    )
    .decision;
    assert_eq!(d.verdict, Verdict::Deny(DenyReason::NoIdentity));
}

#[test]
fn route_unknown_without_catch_all() {
    let mut t = table();
    t.routes.retain(|r| r.path != "/**");
    let e = Engine::new(t).unwrap();
    let alice = who("alice@example.com", &[]);
    assert_eq!(
        decide(&e, "GET", "/somewhere", Some(&alice)),
        Err(DenyReason::RouteUnknown)
    );
}

#[test]
fn bad_tables_are_refused_with_a_reason() {
    let mut t = table();
    t.format_version = 99;
    let err = Engine::new(t).unwrap_err();
    assert_eq!(err, LoadError::Version(Some(99)));
    assert!(err.to_string().contains("format_version"), "{err}");
    let mut t = table();
    t.roles.insert("x".into(), vec!["nope".into()]);
    let err = Engine::new(t).unwrap_err();
    assert!(matches!(err, LoadError::Acl(_)), "{err:?}");
    assert!(err.to_string().contains("unknown action `nope`"), "{err}");
    let mut t = table();
    t.gateway.user_header = "Kubeflow UserId".into();
    assert_eq!(
        Engine::new(t).unwrap_err(),
        LoadError::HeaderName("Kubeflow UserId".into())
    );
    let err = Engine::from_json(b"{\"format_version\": 2}").unwrap_err();
    assert_eq!(err, LoadError::Version(Some(2)));
    assert!(err.to_string().contains("not supported"), "{err}");
    assert!(matches!(
        Engine::from_json(b"not json"),
        Err(LoadError::NotJson(_))
    ));
    assert_eq!(
        Engine::from_json(b"{}").unwrap_err(),
        LoadError::Version(None)
    );
    assert!(Engine::from_json(b"not json").is_err());
    let json = serde_json::to_vec(&table()).unwrap();
    Engine::from_json(&json).unwrap();
}

#[test]
fn lookup_cost_does_not_depend_on_namespace_count() {
    // Not a timing test: the ACL is keyed by namespace, so a table with many namespaces still
    // answers from the one namespace's map. Checked by behaviour with 10k namespaces.
    let mut t = table();
    for i in 0..10_000 {
        t.grants
            .entry(format!("ns-{i}").into())
            .or_default()
            .insert(
                Subject::User(format!("u{i}@example.com")),
                vec![grant("view", None)],
            );
    }
    let e = Engine::new(t).unwrap();
    let u = who("u9999@example.com", &[]);
    assert_eq!(
        decide(&e, "GET", "/pipeline/x?namespace=ns-9999", Some(&u)),
        Ok(())
    );
    assert_eq!(
        decide(&e, "GET", "/pipeline/x?namespace=ns-9998", Some(&u)),
        Err(DenyReason::NotPermitted)
    );
}

#[test]
fn a_group_holding_the_separator_is_never_split_upstream() {
    let e = engine();
    let id = who("dave@example.com", &["ml-ops", "x,kubeflow-admins", ""]);
    let d = pipeline::run(
        &e,
        &Request::new("GET", "/serving/models/x"),
        asserted(Some(&id)),
    )
    .decision;
    assert_eq!(d.verdict, Verdict::Allow);
    assert_eq!(d.headers[1], ("kubeflow-groups".into(), "ml-ops".into()));
}

#[test]
fn lower_case_methods_and_query_names_cannot_dodge_a_route() {
    let e = engine();
    let bob = who("bob@example.com", &[]);
    // bob holds `view` in team-a: PUT needs `deploy`, whatever the method's case.
    assert_eq!(
        decide(&e, "put", "/serving/team-a/x", Some(&bob)),
        Err(DenyReason::NotPermitted)
    );
    assert_eq!(
        decide(&e, "GET", "/pipeline/x?NAMESPACE=models", Some(&bob)),
        Err(DenyReason::NotPermitted)
    );
    assert_eq!(
        decide(
            &e,
            "GET",
            "/pipeline/x?namespace=team-a&Namespace=models",
            Some(&bob)
        ),
        Err(DenyReason::AmbiguousNamespace)
    );
}
