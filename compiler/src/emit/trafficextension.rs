//! `gatehouse emit trafficextension`: an Istio `TrafficExtension`
//! (`extensions.istio.io/v1alpha1`, Istio 1.30 and later), the successor of `WasmPlugin`
//! (istiod already turns every `WasmPlugin` into one). It deploys the same plugin as
//! `emit wasmplugin`, from the same checks: first in the AUTHN phase, failing closed, pinned,
//! the table (or where to fetch it) as `pluginConfig`. The module and what it is given sit
//! under `spec.wasm`; the gateway is chosen by `selector` or by `targetRefs`, never both.

use std::fmt;

use serde_json::{json, Map, Value};

use super::wasmplugin::{module, object, options, place, WasmPluginOptions};

/// Arguments of `gatehouse emit trafficextension`.
#[derive(Debug, clap::Args)]
pub struct TrafficExtensionArgs {
    /// Names, selector, table.
    #[command(flatten)]
    pub istio: super::IstioArgs,
    /// The module and its priority.
    #[command(flatten)]
    pub plugin: super::PluginArgs,
    /// Attach to this resource instead of selecting pods (`spec.targetRefs`; repeatable, at
    /// most 16): `Gateway/NAME` (a Gateway API gateway), `Service/NAME` or
    /// `ServiceEntry/NAME` (the waypoint in front of it), in `--namespace`.
    #[arg(
        long = "target-ref",
        value_name = "KIND/NAME",
        value_parser = TargetRef::parse,
        conflicts_with = "selector"
    )]
    pub target_refs: Vec<TargetRef>,
}

/// The most `targetRefs` the CRD allows (`maxItems`).
pub const MAX_TARGET_REFS: usize = 16;

/// A kind Istio attaches a `TrafficExtension` to from the extension's own namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TargetKind {
    /// A Gateway API `Gateway`: the gateway Istio deploys for it.
    Gateway,
    /// A `Service`: its waypoint (ambient mode).
    Service,
    /// An Istio `ServiceEntry`: its waypoint (ambient mode).
    ServiceEntry,
}

impl TargetKind {
    const ALL: [TargetKind; 3] = [
        TargetKind::Gateway,
        TargetKind::Service,
        TargetKind::ServiceEntry,
    ];

    /// The kind's name, as `targetRefs[].kind` spells it.
    pub fn name(self) -> &'static str {
        match self {
            TargetKind::Gateway => "Gateway",
            TargetKind::Service => "Service",
            TargetKind::ServiceEntry => "ServiceEntry",
        }
    }

    /// The kind's API group, as `targetRefs[].group` spells it (`""`: the core group).
    pub fn group(self) -> &'static str {
        match self {
            TargetKind::Gateway => "gateway.networking.k8s.io",
            TargetKind::Service => "",
            TargetKind::ServiceEntry => "networking.istio.io",
        }
    }
}

/// One `--target-ref KIND/NAME`: a resource in the extension's namespace.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TargetRef {
    /// What it is.
    pub kind: TargetKind,
    /// Its `metadata.name`.
    pub name: String,
}

impl fmt::Display for TargetRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind.name(), self.name)
    }
}

impl TargetRef {
    /// Parses `KIND/NAME`. Only the kinds Istio attaches to from the extension's namespace
    /// are taken: the CRD accepts any kind, and an extension attached to nothing leaves the
    /// gateway without authorization.
    pub fn parse(s: &str) -> Result<TargetRef, String> {
        let kinds = TargetKind::ALL.map(TargetKind::name).join("`, `");
        let Some((kind, name)) = s.split_once('/') else {
            return Err(format!(
                "expected `KIND/NAME` (kind `{kinds}`), e.g. `Gateway/kubeflow-gateway`"
            ));
        };
        let Some(k) = TargetKind::ALL.into_iter().find(|k| k.name() == kind) else {
            if kind == "GatewayClass" {
                return Err("a GatewayClass reaches gateways in every namespace, and Istio attaches to one only from its root namespace, while the key hosts' ServiceEntries are exported to `--namespace` alone: name each `Gateway/NAME`".into());
            }
            let hint = match TargetKind::ALL
                .into_iter()
                .find(|k| k.name().eq_ignore_ascii_case(kind))
            {
                Some(k) => format!("; did you mean `{}`?", k.name()),
                None => String::new(),
            };
            return Err(format!(
                "kind `{kind}` is not one Istio attaches a TrafficExtension to: expected `{kinds}`{hint}"
            ));
        };
        if !crate::crd::is_subdomain(name) {
            return Err(format!("name `{name}`: must be lower-case alphanumerics, `-` and `.`, alphanumeric at both ends, at most 253 characters"));
        }
        Ok(TargetRef {
            kind: k,
            name: name.to_string(),
        })
    }

    /// The `targetRefs` item.
    pub fn to_json(&self) -> Value {
        json!({"group": self.kind.group(), "kind": self.kind.name(), "name": self.name})
    }
}

/// What the manifest needs.
#[derive(Debug, Clone)]
pub struct TrafficExtensionOptions {
    /// The plugin, as `emit wasmplugin` deploys it.
    pub plugin: WasmPluginOptions,
    /// `spec.targetRefs`; none: `spec.selector` from `plugin.selector`.
    pub target_refs: Vec<TargetRef>,
}

/// Builds the `TrafficExtension` as a JSON value (serialized to YAML by the caller).
pub fn manifest(o: &TrafficExtensionOptions) -> Value {
    let mut spec = Map::new();
    spec.insert("wasm".into(), Value::Object(module(&o.plugin)));
    if o.target_refs.is_empty() {
        spec.insert("selector".into(), json!({"matchLabels": o.plugin.selector}));
    } else {
        let refs: Vec<Value> = o.target_refs.iter().map(TargetRef::to_json).collect();
        spec.insert("targetRefs".into(), Value::Array(refs));
    }
    place(&o.plugin, &mut spec);
    object("TrafficExtension", &o.plugin, spec)
}

/// Runs `gatehouse emit trafficextension`: the manifest as YAML, or every reason it cannot
/// be made.
pub fn emit(args: &TrafficExtensionArgs) -> Result<String, Vec<String>> {
    let refs = check_target_refs(&args.target_refs);
    let (plugin, egress) = match (options(&args.istio, &args.plugin), refs) {
        (Ok(o), Ok(())) => o,
        (o, refs) => {
            let mut errors: Vec<String> = o.err().into_iter().flatten().collect();
            errors.extend(refs.err());
            return Err(errors);
        }
    };
    let m = manifest(&TrafficExtensionOptions {
        plugin,
        target_refs: args.target_refs.clone(),
    });
    super::finish(m, egress, &args.istio)
}

/// At most [`MAX_TARGET_REFS`], each once.
fn check_target_refs(refs: &[TargetRef]) -> Result<(), String> {
    if refs.len() > MAX_TARGET_REFS {
        return Err(format!(
            "--target-ref: {} given; a TrafficExtension names at most {MAX_TARGET_REFS}",
            refs.len()
        ));
    }
    for (i, r) in refs.iter().enumerate() {
        if refs[..i].contains(r) {
            return Err(format!("--target-ref `{r}` given twice"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn target_refs_name_a_kind_istio_attaches_to() {
        let e = |s: &str| TargetRef::parse(s).unwrap_err();
        assert!(e("kubeflow-gateway").contains("expected `KIND/NAME`"));
        assert!(e("gateway/x").contains("did you mean `Gateway`?"));
        assert!(e("HTTPRoute/x").contains("`Gateway`, `Service`, `ServiceEntry`"));
        assert!(e("GatewayClass/istio").contains("name each `Gateway/NAME`"));
        assert!(e("Gateway/Kubeflow").contains("name `Kubeflow`"));
        assert!(e("Gateway/").contains("name ``"));
        let r = TargetRef::parse("ServiceEntry/dex.example").unwrap();
        assert_eq!(r.to_string(), "ServiceEntry/dex.example");
        assert_eq!(r.to_json()["group"], "networking.istio.io");

        let g = TargetRef::parse("Gateway/a").unwrap();
        assert!(check_target_refs(&[g.clone(), g.clone()])
            .unwrap_err()
            .contains("`Gateway/a` given twice"));
        let many: Vec<TargetRef> = (0..17)
            .map(|i| TargetRef::parse(&format!("Gateway/g{i}")).unwrap())
            .collect();
        assert!(check_target_refs(&many).unwrap_err().contains("at most 16"));
        assert!(check_target_refs(&many[..16]).is_ok());
    }
}
