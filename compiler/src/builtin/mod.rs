//! What Gatehouse ships: built-in actions, roles and route maps.

pub mod cortex;
pub mod kserve;
pub mod kubeflow;
pub mod roles;

use gatehouse_filter::table::{Access, RouteSpec};

/// A compact way to write a built-in route.
pub(crate) struct R {
    pub methods: &'static [&'static str],
    pub path: &'static str,
    pub namespace_query: Option<&'static str>,
    pub namespace: Option<&'static str>,
    pub access: Option<&'static str>,
}

/// `methods path -> action`, namespace from the path.
pub(crate) const fn act(
    methods: &'static [&'static str],
    path: &'static str,
    action: &'static str,
) -> R {
    R {
        methods,
        path,
        namespace_query: None,
        namespace: None,
        access: Some(action),
    }
}

/// `methods path -> action` in a fixed namespace.
pub(crate) const fn act_in(
    methods: &'static [&'static str],
    path: &'static str,
    namespace: &'static str,
    action: &'static str,
) -> R {
    R {
        namespace: Some(namespace),
        ..act(methods, path, action)
    }
}

/// `methods path?<parameter>= -> action`.
pub(crate) const fn act_param(
    methods: &'static [&'static str],
    path: &'static str,
    parameter: &'static str,
    action: &'static str,
) -> R {
    R {
        namespace_query: Some(parameter),
        ..act(methods, path, action)
    }
}

/// `methods path?namespace= -> action`.
pub(crate) const fn act_q(
    methods: &'static [&'static str],
    path: &'static str,
    action: &'static str,
) -> R {
    act_param(methods, path, "namespace", action)
}

/// `path -> authenticated`, any method.
pub(crate) const fn authn(path: &'static str) -> R {
    R {
        methods: &[],
        path,
        namespace_query: None,
        namespace: None,
        access: None,
    }
}

pub(crate) fn specs(routes: &[R], source: &str) -> Vec<RouteSpec> {
    routes
        .iter()
        .map(|r| RouteSpec {
            methods: r.methods.iter().map(|m| m.to_string()).collect(),
            path: r.path.to_string(),
            namespace_query: r.namespace_query.map(str::to_string),
            namespace: r.namespace.map(str::to_string),
            api: None,
            access: r
                .access
                .map_or(Access::Authenticated, |a| Access::Action(a.to_string())),
            source: source.to_string(),
            hosts: Vec::new(),
        })
        .collect()
}
