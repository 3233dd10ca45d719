//! Checks on the manifests Gatehouse prints, before they are printed: Kubernetes names and
//! label selectors as given on the command line, the size limit of one object, and, when the
//! cluster's CRD is at hand (`--crd`), the full API-server validation of [`super::Crd`].

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

use super::{is_subdomain, CrdSet};

/// The largest object etcd stores by default (`--max-request-bytes`, 1.5 MiB).
pub const MAX_OBJECT_BYTES: usize = 1_572_864;

/// `--selector key=value` arguments as labels; none given: `istio=ingressgateway`.
pub fn parse_selector(args: &[String]) -> Result<BTreeMap<String, String>, Vec<String>> {
    if args.is_empty() {
        return Ok(BTreeMap::from([("istio".into(), "ingressgateway".into())]));
    }
    let mut labels = BTreeMap::new();
    let mut errors = Vec::new();
    for a in args {
        let Some((k, v)) = a.split_once('=') else {
            errors.push(format!("--selector `{a}`: expected `key=value`"));
            continue;
        };
        if let Err(e) = check_label_key(k).and_then(|()| check_label_value(v)) {
            errors.push(format!("--selector `{a}`: {e}"));
        } else if labels.insert(k.to_string(), v.to_string()).is_some() {
            errors.push(format!("--selector `{a}`: key `{k}` given twice"));
        }
    }
    if errors.is_empty() {
        Ok(labels)
    } else {
        Err(errors)
    }
}

fn is_label_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(c))
}

/// A label key: `[prefix/]name`, prefix a DNS subdomain, name at most 63 characters of
/// `[A-Za-z0-9-_.]` starting and ending alphanumeric (so no `*`).
pub fn check_label_key(k: &str) -> Result<(), String> {
    let (prefix, name) = match k.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    if prefix.is_some_and(|p| !is_subdomain(p)) || !is_label_name(name) {
        return Err(format!(
            "label key `{k}` is not valid: `[dns-prefix/]name`, name up to 63 characters of `A-Za-z0-9-_.`, alphanumeric at both ends, no wildcards"
        ));
    }
    Ok(())
}

/// A label value: empty, or a label name (at most 63 characters, no `*`).
pub fn check_label_value(v: &str) -> Result<(), String> {
    if v.is_empty() || is_label_name(v) {
        Ok(())
    } else {
        Err(format!(
            "label value `{v}` is not valid: up to 63 characters of `A-Za-z0-9-_.`, alphanumeric at both ends, no wildcards"
        ))
    }
}

/// `--name`: a DNS-1123 subdomain.
pub fn check_name(flag: &str, name: &str) -> Result<(), String> {
    if is_subdomain(name) {
        Ok(())
    } else {
        Err(format!("{flag} `{name}`: must be lower-case alphanumerics, `-` and `.`, alphanumeric at both ends, at most 253 characters"))
    }
}

/// `--namespace`: a DNS-1123 label.
pub fn check_namespace(ns: &str) -> Result<(), String> {
    if is_subdomain(ns) && !ns.contains('.') && ns.len() <= 63 {
        Ok(())
    } else {
        Err(format!("--namespace `{ns}`: must be lower-case alphanumerics and `-`, alphanumeric at both ends, at most 63 characters"))
    }
}

/// Validates each of `manifests` against the CRD of its group and kind in the files
/// `crd_paths` (one CRD each, or many, as in Istio's all-in-one file), which must hold it.
pub fn check_against(crd_paths: &[PathBuf], manifests: &[Value]) -> Result<(), Vec<String>> {
    let crds = CrdSet::read(crd_paths).map_err(|e| vec![format!("--crd {e}")])?;
    let mut errors = Vec::new();
    for manifest in manifests {
        let crd = match crds.crd_for(manifest) {
            Ok(crd) => crd,
            Err(e) => {
                // Once per missing kind, however many objects of it there are.
                if !errors.contains(&e) {
                    errors.push(e);
                }
                continue;
            }
        };
        let kind = &crd.kind;
        let name = manifest
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        errors.extend(
            crd.validate(manifest)
                .iter()
                .map(|v| format!("the {kind} `{name}` would be refused: {v}")),
        );
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Renders a manifest as YAML and refuses one larger than an object may be. Keys come in
/// the order people read manifests: `apiVersion`, `kind`, `metadata`, `spec`, then
/// alphabetically, with bulky `pluginConfig` last.
pub fn render(manifest: &Value) -> Result<String, Vec<String>> {
    let yaml = serde_yaml::to_string(&ordered(manifest))
        .map_err(|e| vec![format!("cannot render YAML: {e}")])?;
    if yaml.len() > MAX_OBJECT_BYTES {
        return Err(vec![format!(
            "the manifest is {} bytes; Kubernetes stores objects up to {MAX_OBJECT_BYTES} bytes",
            yaml.len()
        )]);
    }
    Ok(yaml)
}

fn ordered(v: &Value) -> serde_yaml::Value {
    fn rank(k: &str) -> u8 {
        match k {
            "apiVersion" => 0,
            "kind" => 1,
            "metadata" => 2,
            "name" => 3,
            "spec" => 4,
            "pluginConfig" => 9,
            _ => 5,
        }
    }
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort_by_key(|k| (rank(k), k.as_str()));
            let mut out = serde_yaml::Mapping::new();
            for k in keys {
                out.insert(
                    serde_yaml::Value::String(k.clone()),
                    ordered(&m[k.as_str()]),
                );
            }
            serde_yaml::Value::Mapping(out)
        }
        Value::Array(items) => serde_yaml::Value::Sequence(items.iter().map(ordered).collect()),
        other => serde_yaml::to_value(other).unwrap_or(serde_yaml::Value::Null),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn selectors_default_and_refuse_wildcards() {
        assert_eq!(parse_selector(&[]).unwrap()["istio"], "ingressgateway");
        let l = parse_selector(&["app=gw".into(), "example.com/tier=edge".into()]).unwrap();
        assert_eq!(l.len(), 2);
        for bad in ["istio=bar*", "istio*=bar", "=x", "novalue", "a=b=c", "a/=b"] {
            assert!(parse_selector(&[bad.into()]).is_err(), "{bad}");
        }
        assert!(parse_selector(&["a=1".into(), "a=2".into()]).is_err());
        assert!(check_name("--name", "gatehouse").is_ok());
        assert!(check_name("--name", "Gatehouse").is_err());
        assert!(check_namespace("istio-system").is_ok());
        assert!(check_namespace("a.b").is_err());
    }
}
