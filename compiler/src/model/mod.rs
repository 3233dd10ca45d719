//! The policy model: one file per kind, and loading a policy directory into typed objects.

pub mod binding;
pub mod gateway;
pub mod issuer;
pub mod namespace;
pub mod profile;
pub mod role;
pub mod routemap;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use k8s_openapi::api::rbac::v1::RoleBinding;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::diagnostic::{did_you_mean, Diagnostic};
use crate::path;
use crate::yaml::{parse_documents, Document, NodeValue, Span};

/// The API version of Gatehouse's own kinds.
pub const GATEHOUSE_API: &str = "gatehouse.dev/v1alpha1";

/// Metadata of a Gatehouse object.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Meta {
    /// Name.
    pub name: String,
    /// Labels (free-form, ignored).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Annotations (free-form, ignored).
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// A Gatehouse object: `apiVersion`, `kind`, `metadata`, `spec`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Envelope<S> {
    /// Always [`GATEHOUSE_API`].
    pub api_version: String,
    /// The kind.
    pub kind: String,
    /// Metadata.
    pub metadata: Meta,
    /// The spec (optional for `Gateway` and `Namespace`).
    pub spec: Option<S>,
}

/// A decoded object and the document it came from.
#[derive(Debug, Clone)]
pub struct Located<T> {
    /// Where it was written.
    pub doc: Document,
    /// What it says.
    pub value: T,
}

/// One policy object of any kind.
#[derive(Debug, Clone)]
pub enum Object {
    /// Kubeflow Profile.
    Profile(Located<profile::Profile>),
    /// Kubernetes RoleBinding (as KFAM writes them).
    RoleBinding(Located<Box<RoleBinding>>),
    /// Gateway settings.
    Gateway(Located<Envelope<gateway::GatewaySpec>>),
    /// Token issuer.
    Issuer(Located<Envelope<issuer::IssuerSpecIn>>),
    /// Role.
    Role(Located<Envelope<role::RoleSpec>>),
    /// Binding.
    Binding(Located<Envelope<binding::BindingSpec>>),
    /// Route map.
    RouteMap(Located<Envelope<routemap::RouteMapSpec>>),
    /// Namespace declaration.
    Namespace(Located<Envelope<namespace::NamespaceSpec>>),
}

/// A kind this compiler reads. Decoding matches on it exhaustively: a kind added here cannot
/// be read as another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Profile,
    RoleBinding,
    Gateway,
    Issuer,
    Role,
    Binding,
    RouteMap,
    Namespace,
    /// Assertions for `gatehouse test`: checked here like any kind, then left to `test`.
    PolicyTest,
    List,
}

/// Every kind this compiler reads, by name, with its accepted API versions.
const KINDS: &[(&str, Kind, &[&str])] = &[
    (
        "Profile",
        Kind::Profile,
        &["kubeflow.org/v1", "kubeflow.org/v1beta1"],
    ),
    (
        "RoleBinding",
        Kind::RoleBinding,
        &["rbac.authorization.k8s.io/v1"],
    ),
    ("Gateway", Kind::Gateway, &[GATEHOUSE_API]),
    ("Issuer", Kind::Issuer, &[GATEHOUSE_API]),
    ("Role", Kind::Role, &[GATEHOUSE_API]),
    ("Binding", Kind::Binding, &[GATEHOUSE_API]),
    ("RouteMap", Kind::RouteMap, &[GATEHOUSE_API]),
    ("Namespace", Kind::Namespace, &[GATEHOUSE_API]),
    ("PolicyTest", Kind::PolicyTest, &[GATEHOUSE_API]),
    ("List", Kind::List, &["v1"]),
];

/// What a policy directory holds.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Objects, in file order then document order.
    pub objects: Vec<Object>,
    /// Problems found while loading.
    pub diagnostics: Vec<Diagnostic>,
    /// Text of every file read, by relative path (for rendering diagnostics; the objects'
    /// documents read their spans from it).
    pub sources: BTreeMap<String, Arc<str>>,
}

/// Every `*.yaml` / `*.yml` file under `root`, recursively, sorted.
pub fn policy_files(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml")
            ) {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// `path` relative to `root`, `/`-separated.
pub fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Loads every policy file under `root`: the files are read and parsed in parallel, and their
/// objects and diagnostics kept in file order.
pub fn load_dir(root: &Path) -> Loaded {
    let mut loaded = Loaded::default();
    let files = match policy_files(root) {
        Ok(f) => f,
        Err(e) => {
            loaded.diagnostics.push(Diagnostic::error(
                "io",
                &root.display().to_string(),
                Span::default(),
                format!("cannot read policy directory: {e}"),
            ));
            return loaded;
        }
    };
    for one in crate::parallel::map(&files, |path| load_file(root, path)) {
        loaded.objects.extend(one.objects);
        loaded.diagnostics.extend(one.diagnostics);
        if let Some(text) = one.text {
            loaded.sources.insert(one.file, text);
        }
    }
    loaded
}

/// What one policy file holds (`text` is `None` when it could not be read).
struct FileLoad {
    file: String,
    text: Option<Arc<str>>,
    objects: Vec<Object>,
    diagnostics: Vec<Diagnostic>,
}

fn load_file(root: &Path, path: &Path) -> FileLoad {
    let file = relative(root, path);
    let mut loaded = Loaded::default();
    let text: Arc<str> = match std::fs::read_to_string(path) {
        Ok(t) => t.into(),
        Err(e) => {
            let d = Diagnostic::error(
                "io",
                &file,
                Span::default(),
                format!("cannot read file: {e}"),
            );
            return FileLoad {
                file,
                text: None,
                objects: Vec::new(),
                diagnostics: vec![d],
            };
        }
    };
    match parse_documents(&text) {
        Ok(docs) => {
            for (i, node) in docs.into_iter().enumerate() {
                let doc = Document::in_text(file.clone(), node, Arc::clone(&text), i);
                load_document(doc, &mut loaded);
            }
        }
        Err(e) => loaded.diagnostics.push(e.diagnostic(&file)),
    }
    FileLoad {
        file,
        text: Some(text),
        objects: loaded.objects,
        diagnostics: loaded.diagnostics,
    }
}

fn load_document(doc: Document, loaded: &mut Loaded) {
    let Some(node) = doc.node() else {
        return;
    };
    if !matches!(node.value, NodeValue::Map(_)) {
        loaded.diagnostics.push(doc.error(
            "invalid-value",
            path![],
            "expected a mapping with `apiVersion`, `kind`, `metadata` and `spec`",
        ));
        return;
    }
    let Some(kind) = node.get("kind").and_then(|k| k.as_str()) else {
        loaded
            .diagnostics
            .push(doc.error("missing-field", path![], "missing field `kind`"));
        return;
    };
    let kind = kind.to_string();
    let Some(&(_, known, versions)) = KINDS.iter().find(|(k, _, _)| *k == kind) else {
        let hint = did_you_mean(&kind, KINDS.iter().map(|(k, _, _)| *k)).unwrap_or_else(|| {
            let names: Vec<String> = KINDS.iter().map(|(k, _, _)| format!("`{k}`")).collect();
            format!("expected one of {}", names.join(", "))
        });
        loaded.diagnostics.push(
            doc.error(
                "unknown-kind",
                path!["kind"],
                format!("unknown kind `{kind}`"),
            )
            .with_hint(hint),
        );
        return;
    };
    let api = node.get("apiVersion").and_then(|a| a.as_str());
    if known == Kind::List {
        let items = match node.get("items").map(|i| &i.value) {
            Some(NodeValue::Seq(items)) => items.clone(),
            _ => {
                loaded.diagnostics.push(doc.error(
                    "missing-field",
                    path!["items"],
                    "a `List` needs `items`: a sequence of objects",
                ));
                return;
            }
        };
        for (i, node) in items.into_iter().enumerate() {
            load_document(doc.item(node, i), loaded);
        }
        return;
    }
    if !api.is_some_and(|a| versions.contains(&a)) {
        let expected: Vec<String> = versions.iter().map(|v| format!("`{v}`")).collect();
        loaded.diagnostics.push(
            doc.error(
                "unknown-api-version",
                path!["apiVersion"],
                format!(
                    "unknown apiVersion `{}` for kind `{kind}`",
                    api.unwrap_or_default()
                ),
            )
            .with_hint(format!("expected {}", expected.join(" or "))),
        );
        return;
    }
    let object = match known {
        Kind::Profile => decode(doc, Object::Profile),
        Kind::RoleBinding => decode(doc, |l: Located<RoleBinding>| {
            Object::RoleBinding(Located {
                doc: l.doc,
                value: Box::new(l.value),
            })
        }),
        Kind::Gateway => decode(doc, Object::Gateway),
        Kind::Issuer => decode(doc, Object::Issuer),
        Kind::Role => decode(doc, Object::Role),
        Kind::Binding => decode(doc, Object::Binding),
        Kind::RouteMap => decode(doc, Object::RouteMap),
        Kind::Namespace => decode(doc, Object::Namespace),
        Kind::PolicyTest | Kind::List => return,
    };
    match object {
        Ok(o) => loaded.objects.push(o),
        Err(d) => loaded.diagnostics.push(d),
    }
}

fn decode<T: DeserializeOwned>(
    mut doc: Document,
    wrap: impl FnOnce(Located<T>) -> Object,
) -> Result<Object, Diagnostic> {
    let value = doc.decode::<T>()?;
    // Decoded: the object keeps its spans, not its tree.
    doc.release();
    Ok(wrap(Located { doc, value }))
}

impl<S> Located<Envelope<S>> {
    /// The spec, or a "missing field `spec`" error.
    pub fn spec(&self) -> Result<&S, Diagnostic> {
        self.value.spec.as_ref().ok_or_else(|| {
            self.doc
                .error("missing-field", path![], "missing field `spec`")
        })
    }

    /// `<file>:<line> (<Kind> <name>)`, the source of what this object grants or declares.
    pub fn source(&self) -> String {
        format!(
            "{} ({} {})",
            self.doc.source_at(path![]),
            self.value.kind,
            self.value.metadata.name
        )
    }
}
