//! The CustomResourceDefinitions of one or more `--crd` files (a single CRD, a `List`, or an
//! all-in-one file such as Istio's with many CRDs and other kinds between them), and the
//! choice of the one that defines a resource: by API group and kind, as the API server does.

use std::cell::OnceCell;
use std::path::Path;

use serde_json::Value;

use super::{read_documents, Crd};

/// One CRD document, read in full only when a resource needs it.
#[derive(Debug)]
struct Entry {
    /// The `--crd` file it came from, as given.
    file: String,
    /// `spec.group`.
    group: String,
    /// `spec.names.kind`.
    kind: String,
    /// The CRD document.
    doc: Value,
    /// The document read as a [`Crd`], once.
    crd: OnceCell<Result<Crd, String>>,
}

/// The CRDs of every `--crd` file given, each group and kind defined once.
#[derive(Debug, Default)]
pub struct CrdSet {
    files: Vec<String>,
    entries: Vec<Entry>,
}

impl CrdSet {
    /// Reads the CRDs of each file in `paths`; every error names its file.
    pub fn read<P: AsRef<Path>>(paths: impl IntoIterator<Item = P>) -> Result<CrdSet, String> {
        let mut set = CrdSet::default();
        for path in paths {
            let path = path.as_ref();
            let file = path.display().to_string();
            let docs = read_documents(path)?;
            set.add(&file, docs)?;
        }
        Ok(set)
    }

    /// Adds the CRDs among `docs` (items of a `List` included; other kinds are skipped),
    /// read from `file`. A file without any CRD, a CRD without `spec.group` or
    /// `spec.names.kind`, and a group and kind already defined are errors.
    pub fn add(&mut self, file: &str, docs: Vec<Value>) -> Result<(), String> {
        let before = self.entries.len();
        for doc in docs.into_iter().flat_map(list_items) {
            if doc.get("kind").and_then(Value::as_str) != Some("CustomResourceDefinition") {
                continue;
            }
            let text = |p: &str| doc.pointer(p).and_then(Value::as_str).map(str::to_string);
            let (Some(group), Some(kind)) = (text("/spec/group"), text("/spec/names/kind")) else {
                let name = text("/metadata/name").unwrap_or_default();
                return Err(format!(
                    "`{file}`: CustomResourceDefinition `{name}` has no `spec.group` or `spec.names.kind`"
                ));
            };
            if let Some(first) = self.find(&group, &kind) {
                return Err(format!(
                    "`{file}`: `{kind}` (group `{group}`) is defined in `{}` already; give one CustomResourceDefinition per kind",
                    first.file
                ));
            }
            self.entries.push(Entry {
                file: file.to_string(),
                group,
                kind,
                doc,
                crd: OnceCell::new(),
            });
        }
        if self.entries.len() == before {
            return Err(format!("`{file}`: no CustomResourceDefinition in the file"));
        }
        self.files.push(file.to_string());
        Ok(())
    }

    fn find(&self, group: &str, kind: &str) -> Option<&Entry> {
        self.entries
            .iter()
            .find(|e| e.group == group && e.kind == kind)
    }

    /// The kinds defined, in file order: `` `Kind` ``, with its group where another group
    /// defines `kind` (the one a resource asked for).
    fn kinds(&self, kind: &str) -> String {
        let kinds: Vec<String> = self
            .entries
            .iter()
            .map(|e| {
                if e.kind == kind {
                    format!("`{}` (group `{}`)", e.kind, e.group)
                } else {
                    format!("`{}`", e.kind)
                }
            })
            .collect();
        kinds.join(", ")
    }

    /// The CRD that defines `resource`: the one whose `spec.group` is the group of the
    /// resource's `apiVersion` and whose `spec.names.kind` is its `kind`. The error says
    /// which kinds the files define instead.
    pub fn crd_for(&self, resource: &Value) -> Result<&Crd, String> {
        let files: Vec<String> = self.files.iter().map(|f| format!("`{f}`")).collect();
        let files = files.join(", ");
        let kind = resource.get("kind").and_then(Value::as_str).unwrap_or("");
        let Some(api_version) = resource.get("apiVersion").and_then(Value::as_str) else {
            return Err("the resource has no `apiVersion`".into());
        };
        if kind.is_empty() {
            return Err("the resource has no `kind`".into());
        }
        // `group/version`; the core group (`v1`) has no group part.
        let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
        let Some(entry) = self.find(group, kind) else {
            let verb = if self.files.len() == 1 {
                "defines"
            } else {
                "define"
            };
            return Err(format!(
                "--crd {files} {verb} {}, not `{kind}` (group `{group}`); pass the CustomResourceDefinition of `{kind}` with --crd",
                self.kinds(kind)
            ));
        };
        entry
            .crd
            .get_or_init(|| Crd::from_value(&entry.doc))
            .as_ref()
            .map_err(|e| {
                format!(
                    "--crd `{}`: the CustomResourceDefinition of `{kind}`: {e}",
                    entry.file
                )
            })
    }
}

/// The items of a `List` (as `kubectl get crd a b -o yaml` prints), or the document itself.
fn list_items(doc: Value) -> Vec<Value> {
    let is_list = doc
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k == "List" || k.ends_with("List"));
    match doc.get("items").and_then(Value::as_array) {
        Some(items) if is_list => items.clone(),
        _ => vec![doc],
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn crd(group: &str, kind: &str) -> Value {
        json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": format!("{}s.{group}", kind.to_lowercase())},
            "spec": {"group": group, "names": {"kind": kind},
                     "versions": [{"name": "v1", "schema": {"openAPIV3Schema": {
                         "type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}
        })
    }

    fn resource(api_version: &str, kind: &str) -> Value {
        json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}})
    }

    #[test]
    fn picks_by_group_and_kind_whatever_the_order() {
        let mut set = CrdSet::default();
        let other = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}});
        let list = json!({"apiVersion": "v1", "kind": "List",
                          "items": [crd("b.example.com", "Thing"), crd("c.example.com", "Other")]});
        set.add("all.yaml", vec![other, crd("a.example.com", "Thing"), list])
            .unwrap();
        for group in ["a.example.com", "b.example.com"] {
            let crd = set
                .crd_for(&resource(&format!("{group}/v1"), "Thing"))
                .unwrap();
            assert_eq!((crd.group.as_str(), crd.kind.as_str()), (group, "Thing"));
        }
        let e = set
            .crd_for(&resource("d.example.com/v1", "Thing"))
            .unwrap_err();
        assert_eq!(e, "--crd `all.yaml` defines `Thing` (group `a.example.com`), `Thing` (group `b.example.com`), `Other`, not `Thing` (group `d.example.com`); pass the CustomResourceDefinition of `Thing` with --crd");
        assert!(set
            .crd_for(&json!({"kind": "Thing"}))
            .unwrap_err()
            .contains("no `apiVersion`"));
    }

    #[test]
    fn refuses_a_file_without_crds_and_a_kind_defined_twice() {
        let mut set = CrdSet::default();
        let e = set.add("none.yaml", vec![resource("v1", "Namespace")]);
        assert_eq!(
            e.unwrap_err(),
            "`none.yaml`: no CustomResourceDefinition in the file"
        );
        set.add("a.yaml", vec![crd("a.example.com", "Thing")])
            .unwrap();
        let e = set.add("b.yaml", vec![crd("a.example.com", "Thing")]);
        assert!(e.unwrap_err().contains("defined in `a.yaml` already"));
    }
}
