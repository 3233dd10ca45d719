//! Route matching: precedence, captures, methods, hosts and query namespaces.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use super::*;
use crate::path::normalize;

fn spec(methods: &[&str], path: &str, q: Option<&str>, access: Access) -> RouteSpec {
    RouteSpec {
        methods: methods.iter().map(|m| m.to_string()).collect(),
        path: path.into(),
        namespace_query: q.map(Into::into),
        namespace: None,
        api: None,
        access,
        source: format!("test:{path}"),
        hosts: Vec::new(),
    }
}

fn act(a: &str) -> Access {
    Access::Action(a.into())
}

fn table() -> RouteTable {
    RouteTable::new(&[
        spec(&[], "/**", None, Access::Authenticated),
        spec(&[], "/notebook/{namespace}/{api}/**", None, act("connect")),
        spec(&["GET"], "/apis/{namespace}/{api}", None, act("get")),
        spec(&["PUT"], "/apis/{namespace}/{api}", None, act("deploy")),
        spec(&["GET"], "/apis/{namespace}/{api}/logs", None, act("logs")),
        spec(&["GET"], "/pipeline/**", Some("namespace"), act("list")),
        spec(&[], "/dex/**", None, Access::Public),
    ])
    .unwrap()
}

fn resolve(m: &str, p: &str) -> Result<Option<Target>, DenyReason> {
    table().resolve(m, None, &normalize(p).unwrap())
}

#[test]
fn most_specific_route_wins() {
    let t = resolve("GET", "/apis/team-a/fraud/logs").unwrap().unwrap();
    assert_eq!(t.access, act("logs"));
    assert_eq!(t.namespace.as_deref(), Some("team-a"));
    assert_eq!(t.api.as_deref(), Some("fraud"));
    let t = resolve("PUT", "/apis/team-a/fraud").unwrap().unwrap();
    assert_eq!(t.access, act("deploy"));
    // HEAD is judged as GET.
    let t = resolve("HEAD", "/apis/team-a/fraud/logs").unwrap().unwrap();
    assert_eq!(t.access, act("logs"));
    // DELETE has no route on a namespaced path: it never falls to the catch-all.
    for m in ["DELETE", "PATCH", "PROPFIND", "TRACE"] {
        assert_eq!(
            resolve(m, "/apis/team-a/fraud").unwrap_err(),
            DenyReason::MethodNotAllowed,
            "{m}"
        );
    }
    let path = normalize("/apis/team-a/fraud").unwrap();
    assert_eq!(
        table().allowed_methods(None, &path),
        vec!["GET", "HEAD", "PUT"]
    );
    // A path no namespaced route matches still falls to the catch-all, whatever the method.
    let t = resolve("PATCH", "/apis/team-a").unwrap().unwrap();
    assert_eq!(t.access, Access::Authenticated);
}

#[test]
fn a_route_naming_the_method_still_wins() {
    let t = RouteTable::new(&[
        spec(&[], "/**", None, Access::Authenticated),
        spec(&["GET"], "/apis/{namespace}/{api}", None, act("get")),
        spec(&[], "/apis/{namespace}/**", None, act("admin")),
        spec(&["HEAD"], "/probe/{namespace}", None, act("probe")),
        spec(&["POST"], "/probe/{namespace}", None, act("get")),
    ])
    .unwrap();
    let r = |m: &str, p: &str| t.resolve(m, None, &normalize(p).unwrap());
    // A less specific namespaced route for every method judges PATCH, in its namespace.
    let got = r("PATCH", "/apis/a/b").unwrap().unwrap();
    assert_eq!(
        (got.access, got.namespace.as_deref()),
        (act("admin"), Some("a"))
    );
    // A route that lists HEAD itself takes HEAD.
    assert_eq!(r("HEAD", "/probe/a").unwrap().unwrap().access, act("probe"));
    // Beside a GET route of the same path it is ambiguous: HEAD is judged as GET there.
    let errs = RouteTable::new(&[
        spec(&["HEAD"], "/probe/{namespace}", None, act("probe")),
        spec(&["GET"], "/probe/{namespace}", None, act("get")),
    ])
    .unwrap_err();
    assert!(errs[0].message.contains("ambiguous"), "{}", errs[0].message);
}

#[test]
fn host_scoped_routes_match_their_hosts_first() {
    let scoped = |mut r: RouteSpec, hosts: &[&str]| {
        r.hosts = hosts.iter().map(|h| h.to_string()).collect();
        r
    };
    let t = RouteTable::new(&[
        spec(&[], "/**", None, Access::Authenticated),
        scoped(
            spec(&[], "/dex/**", None, Access::Public),
            &["dex.example.com"],
        ),
        spec(&[], "/notebook/{namespace}/{api}/**", None, act("connect")),
        scoped(
            RouteSpec {
                namespace: Some("models".into()),
                ..spec(&["POST"], "/v1/models/{api}", None, act("predict"))
            },
            &["*.models.example.com"],
        ),
    ])
    .unwrap();
    let r = |host: Option<&str>, m: &str, p: &str| {
        t.resolve(m, host, &normalize(p).unwrap())
            .unwrap()
            .map(|t| t.access)
    };
    assert_eq!(
        r(Some("dex.example.com"), "GET", "/dex/auth"),
        Some(Access::Public)
    );
    // The same path on another host (or none) is not public.
    assert_eq!(
        r(Some("kubeflow.example.com"), "GET", "/dex/auth"),
        Some(Access::Authenticated)
    );
    assert_eq!(r(None, "GET", "/dex/auth"), Some(Access::Authenticated));
    assert_eq!(
        r(Some("fraud.models.example.com"), "POST", "/v1/models/fraud"),
        Some(act("predict"))
    );
    // Routes for every host still answer on a scoped host.
    assert_eq!(
        r(Some("dex.example.com"), "GET", "/notebook/a/nb/"),
        Some(act("connect"))
    );
    // Overlapping host sets on the same template are ambiguous; disjoint ones are not.
    let errs = RouteTable::new(&[
        scoped(spec(&[], "/a/**", None, Access::Public), &["*.example.com"]),
        scoped(
            spec(&[], "/a/**", None, Access::Authenticated),
            &["x.example.com"],
        ),
    ])
    .unwrap_err();
    assert!(errs[0].message.contains("ambiguous"), "{}", errs[0].message);
    RouteTable::new(&[
        scoped(spec(&[], "/a/**", None, Access::Public), &["a.example.com"]),
        scoped(
            spec(&[], "/a/**", None, Access::Authenticated),
            &["b.example.com"],
        ),
    ])
    .unwrap();
    assert!(
        RouteTable::new(&[scoped(spec(&[], "/a", None, Access::Public), &["Bad_Host"])]).is_err()
    );
}

#[test]
fn query_routes_shadow_only_when_their_parameter_is_there() {
    let t = table();
    let r = |m: &str, p: &str| t.resolve(m, None, &normalize(p).unwrap());
    assert_eq!(
        r("DELETE", "/pipeline/x?namespace=a").unwrap_err(),
        DenyReason::MethodNotAllowed
    );
    assert_eq!(
        r("DELETE", "/pipeline/x").unwrap().unwrap().access,
        Access::Authenticated
    );
    for q in ["namespace[]=b", "x=1;namespace=b&namespace=a"] {
        assert_eq!(
            r("GET", &format!("/pipeline/x?{q}")).unwrap_err(),
            DenyReason::AmbiguousNamespace,
            "{q}"
        );
    }
}

#[test]
fn query_namespace_routes_need_the_parameter_once() {
    let t = resolve("GET", "/pipeline/apis/v1?namespace=team-a")
        .unwrap()
        .unwrap();
    assert_eq!(t.namespace.as_deref(), Some("team-a"));
    let t = resolve("GET", "/pipeline/apis/v1").unwrap().unwrap();
    assert_eq!(t.access, Access::Authenticated);
    assert_eq!(
        resolve("GET", "/pipeline/x?namespace=a&namespace=b").unwrap_err(),
        DenyReason::AmbiguousNamespace
    );
    assert_eq!(
        resolve("GET", "/pipeline/x?namespace=A_B").unwrap_err(),
        DenyReason::BadNamespace
    );
}

#[test]
fn captured_namespaces_must_be_dns_labels() {
    assert_eq!(
        resolve("GET", "/notebook/Team_A/nb/").unwrap_err(),
        DenyReason::BadNamespace
    );
    let t = resolve("GET", "/notebook/a/../b/nb/").unwrap().unwrap();
    assert_eq!(t.namespace.as_deref(), Some("b"));
}

#[test]
fn rest_matches_empty_and_exact_templates_need_exact_length() {
    assert_eq!(
        resolve("GET", "/dex").unwrap().unwrap().access,
        Access::Public
    );
    assert_eq!(
        resolve("GET", "/dex/auth/x").unwrap().unwrap().access,
        Access::Public
    );
    // `/apis/{ns}/{api}` must not match a longer path.
    let t = resolve("GET", "/apis/a/b/c").unwrap().unwrap();
    assert_eq!(t.access, Access::Authenticated);
}

#[test]
fn no_catch_all_means_route_unknown() {
    let t = RouteTable::new(&[spec(&[], "/a", None, Access::Authenticated)]).unwrap();
    assert_eq!(
        t.resolve("GET", None, &normalize("/b").unwrap()).unwrap(),
        None
    );
}

#[test]
fn ambiguous_routes_are_refused() {
    let errs = RouteTable::new(&[
        spec(&["GET"], "/apis/{namespace}/{api}", None, act("get")),
        spec(&["GET", "POST"], "/apis/{namespace}/*", None, act("deploy")),
    ])
    .unwrap_err();
    assert_eq!(errs.len(), 1);
    assert!(errs[0].message.contains("ambiguous"), "{}", errs[0].message);
    // Different literals or disjoint methods do not overlap.
    RouteTable::new(&[
        spec(&["GET"], "/apis/{namespace}/{api}", None, act("get")),
        spec(&["PUT"], "/apis/{namespace}/{api}", None, act("deploy")),
        spec(&["GET"], "/other/{namespace}/{api}", None, act("get")),
    ])
    .unwrap();
}

#[test]
fn a_suffix_segment_beats_any_segment_and_loses_to_a_literal() {
    let t = RouteTable::new(&[
        spec(&["POST"], "/{namespace}/v1/models/*", None, act("predict")),
        spec(
            &["POST"],
            "/{namespace}/v1/models/*:explain",
            None,
            act("explain"),
        ),
        spec(
            &["POST"],
            "/{namespace}/v1/models/audit:explain",
            None,
            act("manage"),
        ),
    ])
    .unwrap();
    let at = |p: &str| {
        t.resolve("POST", None, &normalize(p).unwrap())
            .unwrap()
            .map(|t| t.access)
    };
    assert_eq!(at("/team-a/v1/models/fraud:explain"), Some(act("explain")));
    // Routes match the decoded segment, so the escaped `:` an upstream decodes is judged alike.
    assert_eq!(
        at("/team-a/v1/models/fraud%3Aexplain"),
        Some(act("explain"))
    );
    assert_eq!(at("/team-a/v1/models/fraud:predict"), Some(act("predict")));
    assert_eq!(at("/team-a/v1/models/audit:explain"), Some(act("manage")));
    // The suffix alone is not a segment ending in it: something must come before.
    assert_eq!(at("/team-a/v1/models/:explain"), Some(act("predict")));
    assert_eq!(at("/team-a/v1/models/fraud:explainx"), Some(act("predict")));
    assert_eq!(at("/team-a/v1/models/a/b:explain"), None);
}

#[test]
fn a_prefix_segment_matches_what_starts_so() {
    let t = RouteTable::new(&[
        spec(&[], "/{namespace}/svc/*", None, act("manage")),
        spec(&[], "/{namespace}/svc/Get*", None, Access::Authenticated),
    ])
    .unwrap();
    let at = |p: &str| {
        t.resolve("POST", None, &normalize(p).unwrap())
            .unwrap()
            .map(|t| t.access)
    };
    assert_eq!(at("/team-a/svc/GetArtifacts"), Some(Access::Authenticated));
    assert_eq!(at("/team-a/svc/PutArtifacts"), Some(act("manage")));
    assert_eq!(at("/team-a/svc/Get"), Some(act("manage")));
    assert_eq!(at("/team-a/svc/getArtifacts"), Some(act("manage")));
}

#[test]
fn suffixes_one_segment_could_end_in_both_are_ambiguous() {
    let errs = RouteTable::new(&[
        spec(&["POST"], "/{namespace}/m/*:explain", None, act("explain")),
        spec(&["POST"], "/{namespace}/m/*explain", None, act("predict")),
    ])
    .unwrap_err();
    assert_eq!(errs.len(), 1);
    assert!(errs[0].message.contains("ambiguous"), "{}", errs[0].message);
    // A prefix and a suffix meet (`Get:explain` starts and ends so); two prefixes meet when
    // one starts the other.
    for other in ["Get*", "G*n", "*n"] {
        let errs = RouteTable::new(&[
            spec(&["POST"], "/{namespace}/m/*:explain", None, act("explain")),
            spec(
                &["POST"],
                &format!("/{{namespace}}/m/{other}"),
                None,
                act("x"),
            ),
        ])
        .unwrap_err();
        assert!(errs[0].message.contains("ambiguous"), "{other}");
    }
    RouteTable::new(&[
        spec(&["POST"], "/{namespace}/m/*:explain", None, act("explain")),
        spec(&["POST"], "/{namespace}/m/*:predict", None, act("predict")),
        spec(&["POST"], "/{namespace}/x/Get*", None, act("get")),
        spec(&["POST"], "/{namespace}/x/Put*", None, act("update")),
        spec(&["POST"], "/{namespace}/x/P*s", None, act("update")),
    ])
    .unwrap_err();
    RouteTable::new(&[
        spec(&["POST"], "/{namespace}/m/*:explain", None, act("explain")),
        spec(&["POST"], "/{namespace}/m/*:predict", None, act("predict")),
        spec(&["POST"], "/{namespace}/x/Get*", None, act("get")),
        spec(&["POST"], "/{namespace}/x/Put*", None, act("update")),
    ])
    .unwrap();
}

#[test]
fn bad_templates_are_refused() {
    for p in [
        "/a/*{api}",
        "/a/*b*",
        "/a/*%3A",
        "/a/x*y*z",
        "/a/{namespace}*",
    ] {
        let e = parse_template(p).unwrap_err();
        assert!(e.contains("neither a literal"), "{p}: {e}");
    }
    for (p, q) in [
        ("/a/**/b", None),
        ("a/b", None),
        ("/a/{namespace}/{namespace}", None),
        ("/a/{ns}", None),
        ("/a/{namespace}", Some("namespace")),
    ] {
        assert!(
            RouteTable::new(&[spec(&[], p, q, act("x"))]).is_err(),
            "{p}"
        );
    }
    assert!(RouteTable::new(&[spec(&[], "/a", None, act("x"))]).is_err());
    assert!(RouteTable::new(&[spec(&["get"], "/a", None, Access::Public)]).is_err());
}

fn hosted(methods: &[&str], path: &str, hosts: &[&str], access: Access) -> RouteSpec {
    RouteSpec {
        hosts: hosts.iter().map(|h| h.to_string()).collect(),
        ..spec(methods, path, None, access)
    }
}

#[test]
fn host_templates_give_the_namespace_and_the_api() {
    let t = RouteTable::new(&[
        spec(&[], "/**", None, Access::Authenticated),
        hosted(
            &["POST"],
            "/v1/models/*",
            &[
                "{api}.{namespace}.models.example.com",
                "{api}-predictor.{namespace}.svc.cluster.local",
            ],
            act("predict"),
        ),
        hosted(
            &["GET"],
            "/v1/models/*",
            &["{api}.{namespace}.models.example.com"],
            act("get"),
        ),
    ])
    .unwrap();
    let path = normalize("/v1/models/churn:predict").unwrap();
    for host in [
        "churn.team-a.models.example.com",
        "churn-predictor.team-a.svc.cluster.local",
    ] {
        let got = t.resolve("POST", Some(host), &path).unwrap().unwrap();
        assert_eq!(got.access, act("predict"), "{host}");
        assert_eq!(got.namespace.as_deref(), Some("team-a"), "{host}");
        assert_eq!(got.api.as_deref(), Some("churn"), "{host}");
    }
    let got = t
        .resolve("GET", Some("churn.team-b.models.example.com"), &path)
        .unwrap()
        .unwrap();
    assert_eq!(
        (got.access, got.namespace.as_deref()),
        (act("get"), Some("team-b"))
    );
    // Another host, or none, is not a model host: the catch-all judges it.
    for host in [
        None,
        Some("models.example.com"),
        Some("a.b.c.models.example.com"),
    ] {
        let got = t.resolve("POST", host, &path).unwrap().unwrap();
        assert_eq!(got.access, Access::Authenticated, "{host:?}");
    }
    // A captured namespace must be a namespace name.
    assert_eq!(
        t.resolve("POST", Some("churn.-x.models.example.com"), &path)
            .unwrap_err(),
        DenyReason::BadNamespace
    );
}

#[test]
fn a_namespace_or_api_from_two_places_or_from_some_hosts_only_is_refused() {
    let ns_twice = hosted(
        &[],
        "/x/{namespace}",
        &["{namespace}.example.com"],
        act("get"),
    );
    let api_twice = hosted(
        &[],
        "/x/{api}",
        &["{api}.{namespace}.example.com"],
        act("get"),
    );
    let some_hosts = hosted(
        &[],
        "/x",
        &["{namespace}.example.com", "static.example.com"],
        act("get"),
    );
    for (bad, why) in [
        (ns_twice, "more than one place"),
        (api_twice, "api from more than one place"),
        (some_hosts, "some of its hosts capture"),
    ] {
        let e = RouteTable::new(&[bad]).unwrap_err();
        assert!(e.iter().any(|e| e.message.contains(why)), "{e:?}");
    }
    // A host that captures the namespace satisfies an action route.
    assert!(
        RouteTable::new(&[hosted(&[], "/x", &["{namespace}.example.com"], act("get"))]).is_ok()
    );
}
