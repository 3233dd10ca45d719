//! Route matching: method + normalized path (+ query) → what the request needs.
//!
//! Routes that name hosts are tried before routes for every host; among those, from the most
//! specific to the least: segment by segment a literal beats a
//! capture, a capture beats the end of the template, and the end beats `**`; a route with a
//! query condition beats one without, and one naming methods beats one for every method. Two
//! routes that tie on all of these and can match the same request are ambiguous, and a table
//! holding them is refused.

use std::cmp::Ordering;

use crate::host::HostPattern;
use crate::path::{is_namespace_name, query_has_other_spelling, query_values, NormalizedPath};
use crate::reason::DenyReason;
use crate::table::{Access, RouteSpec};

/// One template segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Matches exactly this text.
    Literal(String),
    /// Captures the namespace.
    Namespace,
    /// Captures the API name.
    Api,
    /// Matches any one segment.
    Any,
    /// Matches any rest, including none (only last).
    Rest,
}

impl Segment {
    fn rank(&self) -> u8 {
        match self {
            Segment::Literal(_) => 0,
            Segment::Namespace | Segment::Api | Segment::Any => 1,
            Segment::Rest => 3,
        }
    }
}

/// Rank of the end of a template, between captures and `**`.
const END_RANK: u8 = 2;

/// A route ready for matching.
#[derive(Debug, Clone)]
pub struct Route {
    /// Index in the table's route list.
    pub index: usize,
    /// Upper-case methods; empty = every method.
    pub methods: Vec<String>,
    /// Parsed template.
    pub segments: Vec<Segment>,
    /// Query parameter the namespace comes from (route matches only when present).
    pub namespace_query: Option<String>,
    /// Fixed namespace.
    pub namespace: Option<String>,
    /// Fixed API name.
    pub api: Option<String>,
    /// What the route requires.
    pub access: Access,
    /// Where it was declared.
    pub source: String,
    /// Hosts it answers for; empty: every host.
    pub hosts: Vec<HostPattern>,
}

/// An error in a route template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteError {
    /// Index of the route in the table.
    pub index: usize,
    /// What is wrong.
    pub message: String,
}

/// Parses a path template (`/notebook/{namespace}/{api}/**`).
pub fn parse_template(path: &str) -> Result<Vec<Segment>, String> {
    if !path.starts_with('/') {
        return Err(format!("path template `{path}` must start with `/`"));
    }
    let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let mut out = Vec::with_capacity(parts.len());
    let (mut has_ns, mut has_api) = (false, false);
    for (i, part) in parts.iter().enumerate() {
        let seg = match *part {
            "{namespace}" if !has_ns => {
                has_ns = true;
                Segment::Namespace
            }
            "{api}" if !has_api => {
                has_api = true;
                Segment::Api
            }
            "{namespace}" | "{api}" => {
                return Err(format!("path template `{path}` captures `{part}` twice"))
            }
            "*" => Segment::Any,
            "**" if i + 1 == parts.len() => Segment::Rest,
            "**" => return Err(format!("`**` must be the last segment of `{path}`")),
            p if p.contains(['{', '}', '*', '?', '%', ';', '\\']) => {
                return Err(format!(
                    "segment `{p}` of `{path}` is neither a literal nor one of `{{namespace}}`, `{{api}}`, `*`, `**`"
                ))
            }
            p if p == "." || p == ".." => {
                return Err(format!("path template `{path}` holds a dot segment"))
            }
            p => Segment::Literal(p.to_string()),
        };
        out.push(seg);
    }
    Ok(out)
}

impl Route {
    /// Builds a route from its table form.
    pub fn from_spec(index: usize, spec: &RouteSpec) -> Result<Route, RouteError> {
        let err = |message: String| RouteError { index, message };
        let segments = parse_template(&spec.path).map_err(err)?;
        let captures_ns = segments.contains(&Segment::Namespace);
        let ns_sources = usize::from(captures_ns)
            + usize::from(spec.namespace_query.is_some())
            + usize::from(spec.namespace.is_some());
        if ns_sources > 1 {
            return Err(err(format!(
                "route `{}` takes its namespace from more than one place",
                spec.path
            )));
        }
        if segments.contains(&Segment::Api) && spec.api.is_some() {
            return Err(err(format!(
                "route `{}` both captures `{{api}}` and names a fixed api",
                spec.path
            )));
        }
        if matches!(spec.access, Access::Action(_)) && ns_sources == 0 {
            return Err(err(format!(
                "route `{}` needs an action but names no namespace: capture `{{namespace}}`, set `namespaceQuery`, or a fixed `namespace`",
                spec.path
            )));
        }
        if let Some(ns) = &spec.namespace {
            if !is_namespace_name(ns) {
                return Err(err(format!("`{ns}` is not a valid namespace name")));
            }
        }
        for m in &spec.methods {
            if m.is_empty() || !m.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(err(format!(
                    "method `{m}` must be an upper-case HTTP method"
                )));
            }
        }
        let mut methods = spec.methods.clone();
        methods.sort();
        methods.dedup();
        let mut hosts = spec
            .hosts
            .iter()
            .map(|h| HostPattern::parse(h))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| err(format!("route `{}`: {e}", spec.path)))?;
        hosts.sort();
        hosts.dedup();
        Ok(Route {
            hosts,
            index,
            methods,
            segments,
            namespace_query: spec.namespace_query.clone(),
            namespace: spec.namespace.clone(),
            api: spec.api.clone(),
            access: spec.access.clone(),
            source: spec.source.clone(),
        })
    }

    /// Whether the route takes `method`. `HEAD` is judged as `GET` (a `GET` without its
    /// body) by a route that lists `GET`.
    fn method_matches(&self, method: &str) -> bool {
        self.methods.is_empty()
            || self
                .methods
                .iter()
                .any(|m| m == method || (method == "HEAD" && m == "GET"))
    }

    /// Whether the route answers for a request's host (normalized; `None`: no usable host).
    fn host_matches(&self, host: Option<&str>) -> bool {
        self.hosts.is_empty() || host.is_some_and(|h| self.hosts.iter().any(|p| p.matches(h)))
    }

    /// Precedence order: `Less` means `self` is tried first.
    fn precedence(&self, other: &Route) -> Ordering {
        let any_host = |r: &Route| u8::from(r.hosts.is_empty());
        let by_host = any_host(self).cmp(&any_host(other));
        if by_host != Ordering::Equal {
            return by_host;
        }
        let n = self.segments.len().max(other.segments.len());
        for i in 0..=n {
            let a = self.segments.get(i).map_or(END_RANK, Segment::rank);
            let b = other.segments.get(i).map_or(END_RANK, Segment::rank);
            match a.cmp(&b) {
                Ordering::Equal if a == END_RANK || a == 3 => break,
                Ordering::Equal => {}
                o => return o,
            }
        }
        let q = |r: &Route| u8::from(r.namespace_query.is_none());
        let m = |r: &Route| u8::from(r.methods.is_empty());
        q(self)
            .cmp(&q(other))
            .then(m(self).cmp(&m(other)))
            .then(self.index.cmp(&other.index))
    }

    /// Whether two routes tie on precedence and can match one request.
    fn overlaps(&self, other: &Route) -> bool {
        let hosts_meet = (self.hosts.is_empty() && other.hosts.is_empty())
            || self
                .hosts
                .iter()
                .any(|a| other.hosts.iter().any(|b| a.meets(b)));
        if !hosts_meet
            || self.segments.len() != other.segments.len()
            || self.namespace_query != other.namespace_query
            || self.methods.is_empty() != other.methods.is_empty()
        {
            return false;
        }
        let methods_meet = self.methods.is_empty()
            || self
                .methods
                .iter()
                .any(|m| other.method_matches(m) || (m == "GET" && other.method_matches("HEAD")));
        methods_meet
            && self.segments.iter().zip(&other.segments).all(|(a, b)| {
                a.rank() == b.rank()
                    && match (a, b) {
                        (Segment::Literal(x), Segment::Literal(y)) => x == y,
                        _ => true,
                    }
            })
    }
}

/// What a matched route says about a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Index of the matched route in the table.
    pub route: usize,
    /// What it requires.
    pub access: Access,
    /// The namespace the request acts in, when the route names one (validated).
    pub namespace: Option<String>,
    /// The API the request acts on, when the route names one.
    pub api: Option<String>,
}

/// All routes, in precedence order.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    routes: Vec<Route>,
}

impl RouteTable {
    /// Builds the table; refuses bad templates and ambiguous pairs (all of them, reported).
    pub fn new(specs: &[RouteSpec]) -> Result<RouteTable, Vec<RouteError>> {
        let mut errors = Vec::new();
        let mut routes = Vec::with_capacity(specs.len());
        for (i, spec) in specs.iter().enumerate() {
            match Route::from_spec(i, spec) {
                Ok(r) => routes.push(r),
                Err(e) => errors.push(e),
            }
        }
        routes.sort_by(|a, b| a.precedence(b));
        for (i, a) in routes.iter().enumerate() {
            for b in &routes[i + 1..] {
                if a.overlaps(b) {
                    errors.push(RouteError {
                        index: b.index,
                        message: format!(
                            "route `{}` ({}) is ambiguous with `{}` ({}): both match the same requests",
                            specs[b.index].path, b.source, specs[a.index].path, a.source
                        ),
                    });
                }
            }
        }
        if errors.is_empty() {
            Ok(RouteTable { routes })
        } else {
            errors.sort_by_key(|e| e.index);
            Err(errors)
        }
    }

    /// The routes in the order they are tried.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// Finds the route for a request; `Ok(None)` when nothing matches.
    ///
    /// A path that a namespaced route (one that needs an action) matches is never judged by a
    /// less specific route that judges no namespace just because the method is not listed:
    /// `PATCH` on a path whose namespaced routes name only `GET` and `PUT` is
    /// `method_not_allowed`, not the `authenticated` catch-all.
    ///
    /// `host` is the request's normalized host ([`crate::host::normalize_authority`]); routes
    /// that name hosts match only theirs.
    pub fn resolve(
        &self,
        method: &str,
        host: Option<&str>,
        path: &NormalizedPath,
    ) -> Result<Option<Target>, DenyReason> {
        let mut shadowed = false;
        for route in &self.routes {
            if !route.host_matches(host) {
                continue;
            }
            let Some((ns_cap, api_cap)) = match_segments(&route.segments, &path.segments) else {
                continue;
            };
            let namespaced = matches!(route.access, Access::Action(_));
            if !route.method_matches(method) {
                shadowed |= namespaced && route.query_allows(path)?;
                continue;
            }
            let mut namespace = ns_cap
                .map(str::to_string)
                .or_else(|| route.namespace.clone());
            if let Some(param) = &route.namespace_query {
                let query = path.query.as_deref().unwrap_or_default();
                // INVARIANT: the namespace judged is the one every framework reads: a second
                // spelling of the parameter makes the request ambiguous, never ignored.
                if query_has_other_spelling(query, param) {
                    return Err(DenyReason::AmbiguousNamespace);
                }
                let values = query_values(query, param);
                match values.len() {
                    0 => continue,
                    1 => namespace = values.into_iter().next(),
                    _ => return Err(DenyReason::AmbiguousNamespace),
                }
            }
            // INVARIANT: a method no route of a namespaced path names never falls through to
            // a route that judges no namespace.
            if shadowed && !namespaced {
                return Err(DenyReason::MethodNotAllowed);
            }
            if let Some(ns) = &namespace {
                if !is_namespace_name(ns) {
                    return Err(DenyReason::BadNamespace);
                }
            }
            let api = api_cap.map(str::to_string).or_else(|| route.api.clone());
            return Ok(Some(Target {
                route: route.index,
                access: route.access.clone(),
                namespace,
                api,
            }));
        }
        if shadowed {
            return Err(DenyReason::MethodNotAllowed);
        }
        Ok(None)
    }

    /// The methods the namespaced routes of a path name (with `HEAD` where `GET` is named),
    /// sorted: the `Allow` header of a `method_not_allowed` answer.
    pub fn allowed_methods(&self, host: Option<&str>, path: &NormalizedPath) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for route in &self.routes {
            if !matches!(route.access, Access::Action(_))
                || !route.host_matches(host)
                || match_segments(&route.segments, &path.segments).is_none()
                || !route.query_allows(path).unwrap_or(true)
            {
                continue;
            }
            for m in &route.methods {
                out.push(m);
                if m == "GET" {
                    out.push("HEAD");
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

impl Route {
    /// Whether the route's query condition (if any) is met by the path's query: the parameter
    /// is present, in any spelling.
    fn query_allows(&self, path: &NormalizedPath) -> Result<bool, DenyReason> {
        let Some(param) = &self.namespace_query else {
            return Ok(true);
        };
        let query = path.query.as_deref().unwrap_or_default();
        if query_has_other_spelling(query, param) {
            return Err(DenyReason::AmbiguousNamespace);
        }
        Ok(!query_values(query, param).is_empty())
    }
}

type Captures<'a> = (Option<&'a str>, Option<&'a str>);

fn match_segments<'a>(template: &[Segment], segs: &'a [String]) -> Option<Captures<'a>> {
    let (mut ns, mut api) = (None, None);
    for (i, t) in template.iter().enumerate() {
        if *t == Segment::Rest {
            return Some((ns, api));
        }
        let s = segs.get(i)?;
        match t {
            Segment::Literal(l) if l == s => {}
            Segment::Literal(_) => return None,
            Segment::Namespace => ns = Some(s.as_str()),
            Segment::Api => api = Some(s.as_str()),
            Segment::Any | Segment::Rest => {}
        }
    }
    (segs.len() == template.len()).then_some((ns, api))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
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
            RouteTable::new(&[scoped(spec(&[], "/a", None, Access::Public), &["Bad_Host"])])
                .is_err()
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
    fn bad_templates_are_refused() {
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
}
