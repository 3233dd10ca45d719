//! Route matching: method + normalized path (+ query) → what the request needs.
//!
//! Routes that name hosts are tried before routes for every host; among those, from the most
//! specific to the least: segment by segment a literal beats a
//! capture, a capture beats the end of the template, and the end beats `**`; a route with a
//! query condition beats one without, and one naming methods beats one for every method. Two
//! routes that tie on all of these and can match the same request are ambiguous, and a table
//! holding them is refused.

use std::cmp::Ordering;

use crate::host::{HostCapture, HostCaptures, HostPattern};
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
    /// Matches any one segment that starts with `prefix` and ends with `suffix`, with at least
    /// one character between (`*:explain`: KServe's `<model>:explain`; `Get*`: ML Metadata's
    /// read methods). One of the two is not empty.
    Glob {
        /// Text the segment starts with.
        prefix: String,
        /// Text the segment ends with.
        suffix: String,
    },
    /// Matches any one segment.
    Any,
    /// Matches any rest, including none (only last).
    Rest,
}

impl Segment {
    fn rank(&self) -> u8 {
        match self {
            Segment::Literal(_) => 0,
            Segment::Glob { .. } => 1,
            Segment::Namespace | Segment::Api | Segment::Any => 2,
            Segment::Rest => REST_RANK,
        }
    }

    /// Whether this segment matches `s`.
    fn matches(&self, s: &str) -> bool {
        match self {
            Segment::Literal(l) => l == s,
            Segment::Glob { prefix, suffix } => {
                s.len() > prefix.len() + suffix.len()
                    && s.starts_with(prefix.as_str())
                    && s.ends_with(suffix.as_str())
            }
            Segment::Namespace | Segment::Api | Segment::Any | Segment::Rest => true,
        }
    }

    /// Whether one segment can match both templates' segments (they rank alike).
    fn meets(&self, other: &Segment) -> bool {
        match (self, other) {
            (Segment::Literal(x), Segment::Literal(y)) => x == y,
            (
                Segment::Glob { prefix, suffix },
                Segment::Glob {
                    prefix: p,
                    suffix: x,
                },
            ) => {
                // A long enough segment starting with the longer prefix and ending with the
                // longer suffix matches both, when the prefixes and the suffixes agree.
                (prefix.starts_with(p.as_str()) || p.starts_with(prefix.as_str()))
                    && (suffix.ends_with(x.as_str()) || x.ends_with(suffix.as_str()))
            }
            _ => true,
        }
    }
}

/// Rank of the end of a template, between captures and `**`.
const END_RANK: u8 = 3;
/// Rank of `**`.
const REST_RANK: u8 = 4;

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
            p if p == "." || p == ".." => {
                return Err(format!("path template `{path}` holds a dot segment"))
            }
            p if is_literal(p) => Segment::Literal(p.to_string()),
            p => match p.split_once('*') {
                Some((prefix, suffix))
                    if [prefix, suffix].iter().all(|x| x.is_empty() || is_literal(x)) =>
                {
                    Segment::Glob {
                        prefix: prefix.to_string(),
                        suffix: suffix.to_string(),
                    }
                }
                _ => {
                    return Err(format!(
                        "segment `{p}` of `{path}` is neither a literal nor one of `{{namespace}}`, `{{api}}`, `*`, `PREFIX*SUFFIX` (one `*` among literal text), `**`"
                    ))
                }
            },
        };
        out.push(seg);
    }
    Ok(out)
}

/// Whether a template segment (or a suffix's text) is literal text a decoded path segment can
/// hold: not empty, no pattern or escape characters.
fn is_literal(p: &str) -> bool {
    !p.is_empty() && !p.contains(['{', '}', '*', '?', '%', ';', '\\'])
}

impl Route {
    /// Builds a route from its table form.
    pub fn from_spec(index: usize, spec: &RouteSpec) -> Result<Route, RouteError> {
        let err = |message: String| RouteError { index, message };
        let segments = parse_template(&spec.path).map_err(err)?;
        let mut hosts = spec
            .hosts
            .iter()
            .map(|h| HostPattern::parse(h))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| err(format!("route `{}`: {e}", spec.path)))?;
        hosts.sort();
        hosts.dedup();
        // A capture in the host is a source like one in the path; every host of the route
        // must then give it, or some requests would have none.
        let host_gives = |c: HostCapture| -> Result<bool, RouteError> {
            let n = hosts.iter().filter(|h| h.captures_kind(c)).count();
            if n > 0 && n < hosts.len() {
                return Err(err(format!(
                    "route `{}`: some of its hosts capture `{{{}}}` and some do not",
                    spec.path,
                    if c == HostCapture::Namespace {
                        "namespace"
                    } else {
                        "api"
                    }
                )));
            }
            Ok(n > 0)
        };
        let host_ns = host_gives(HostCapture::Namespace)?;
        let host_api = host_gives(HostCapture::Api)?;
        let captures_ns = segments.contains(&Segment::Namespace) || host_ns;
        let ns_sources = usize::from(captures_ns)
            + usize::from(spec.namespace_query.is_some())
            + usize::from(spec.namespace.is_some());
        if ns_sources > 1 {
            return Err(err(format!(
                "route `{}` takes its namespace from more than one place",
                spec.path
            )));
        }
        if segments.contains(&Segment::Namespace) && host_ns {
            return Err(err(format!(
                "route `{}` takes its namespace from more than one place",
                spec.path
            )));
        }
        let api_sources = usize::from(segments.contains(&Segment::Api))
            + usize::from(host_api)
            + usize::from(spec.api.is_some());
        if api_sources > 1 {
            return Err(err(format!(
                "route `{}` takes its api from more than one place",
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

    /// The namespaces the path's query gives this route: `None` when the route takes none from
    /// the query, else every value of its parameter (none when it is absent).
    ///
    /// INVARIANT: the namespace judged is the one every framework reads: a second spelling of
    /// the parameter (`namespace[]=`, after a `;`) makes the request ambiguous, never ignored.
    fn query_namespaces(&self, path: &NormalizedPath) -> Result<Option<Vec<String>>, DenyReason> {
        let Some(param) = &self.namespace_query else {
            return Ok(None);
        };
        let query = path.query.as_deref().unwrap_or_default();
        if query_has_other_spelling(query, param) {
            return Err(DenyReason::AmbiguousNamespace);
        }
        Ok(Some(query_values(query, param)))
    }

    /// Whether the route's query condition (if any) is met: its parameter is present.
    fn query_met(&self, path: &NormalizedPath) -> Result<bool, DenyReason> {
        Ok(self.query_namespaces(path)?.is_none_or(|v| !v.is_empty()))
    }

    /// Whether the route answers for a request's host (normalized; `None`: no usable host).
    fn host_matches(&self, host: Option<&str>) -> bool {
        self.host_match(host).is_some()
    }

    /// What the request's host gives the route, when the route answers for it.
    fn host_match<'h>(&self, host: Option<&'h str>) -> Option<HostCaptures<'h>> {
        if self.hosts.is_empty() {
            return Some(HostCaptures::default());
        }
        let host = host?;
        self.hosts.iter().find_map(|p| p.captures(host))
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
                Ordering::Equal if a == END_RANK || a == REST_RANK => break,
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
            && self
                .segments
                .iter()
                .zip(&other.segments)
                .all(|(a, b)| a.rank() == b.rank() && a.meets(b))
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
            let Some(from_host) = route.host_match(host) else {
                continue;
            };
            let Some((ns_cap, api_cap)) = match_segments(&route.segments, &path.segments) else {
                continue;
            };
            let (ns_cap, api_cap) = (ns_cap.or(from_host.namespace), api_cap.or(from_host.api));
            let namespaced = matches!(route.access, Access::Action(_));
            if !route.method_matches(method) {
                shadowed |= namespaced && route.query_met(path)?;
                continue;
            }
            let namespace = match route.query_namespaces(path)? {
                None => ns_cap
                    .map(str::to_string)
                    .or_else(|| route.namespace.clone()),
                // The route's query parameter is absent: it does not match.
                Some(values) if values.is_empty() => continue,
                Some(mut values) if values.len() == 1 => values.pop(),
                Some(_) => return Err(DenyReason::AmbiguousNamespace),
            };
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
                || !route.query_met(path).unwrap_or(true)
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

type Captures<'a> = (Option<&'a str>, Option<&'a str>);

fn match_segments<'a>(template: &[Segment], segs: &'a [String]) -> Option<Captures<'a>> {
    let (mut ns, mut api) = (None, None);
    for (i, t) in template.iter().enumerate() {
        if *t == Segment::Rest {
            return Some((ns, api));
        }
        let s = segs.get(i)?;
        match t {
            Segment::Namespace => ns = Some(s.as_str()),
            Segment::Api => api = Some(s.as_str()),
            t if t.matches(s) => {}
            _ => return None,
        }
    }
    (segs.len() == template.len()).then_some((ns, api))
}

#[cfg(test)]
mod tests;
