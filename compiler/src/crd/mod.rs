//! Validation of Kubernetes custom resources against a CustomResourceDefinition, the way the
//! API server does it on create: the version's structural OpenAPI v3 schema (types, required,
//! enum, limits, patterns, formats, list types, unknown fields, `oneOf`/`anyOf`/`allOf`/`not`)
//! and its CEL rules (`x-kubernetes-validations`). `gatehouse emit` uses it so that what it
//! prints is what Istio accepts.
//!
//! ```no_run
//! use gatehouse::crd::{parse_documents, Crd};
//! let crd = Crd::from_yaml(&std::fs::read_to_string("wasmplugin-crd.yaml")?)?;
//! for doc in parse_documents(&std::fs::read_to_string("plugin.yaml")?)? {
//!     for v in crd.validate(&doc) {
//!         eprintln!("{v}");
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod cel;
pub mod command;
pub mod manifest;
pub mod schema;
pub mod set;
pub mod url;
mod validate;

pub use set::CrdSet;

use std::fmt;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use schema::Schema;
use validate::{field, validate, Mode};

/// One reason a resource would be refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The offending field, e.g. `spec.vmConfig.env[0].name` (empty: the whole resource).
    pub path: String,
    /// The full message, naming the path, in the API server's wording.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A CustomResourceDefinition: its group, kind, and the schema of each version.
#[derive(Debug, Clone)]
pub struct Crd {
    /// API group, e.g. `extensions.istio.io`.
    pub group: String,
    /// Kind, e.g. `WasmPlugin`.
    pub kind: String,
    /// `(version name, schema)` for every version that has a schema.
    pub versions: Vec<(String, Schema)>,
}

#[derive(Deserialize)]
struct CrdIn {
    kind: String,
    spec: CrdSpecIn,
}

#[derive(Deserialize)]
struct CrdSpecIn {
    group: String,
    names: NamesIn,
    versions: Vec<VersionIn>,
}

#[derive(Deserialize)]
struct NamesIn {
    kind: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VersionIn {
    name: String,
    schema: Option<SchemaIn>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SchemaIn {
    #[serde(rename = "openAPIV3Schema")]
    open_api_v3_schema: Value,
}

/// A YAML text [`parse_documents`] refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum YamlError {
    /// An alias, a document over the node or depth limits of [`crate::yaml`], or a syntax
    /// error, found before anything was expanded or built.
    Refused(crate::yaml::SyntaxError),
    /// A document serde_yaml could not read.
    Document {
        /// Which document of the text (1-based).
        index: usize,
        /// What is wrong, without the position.
        message: String,
        /// `(line, column)` in the text, 1-based, when serde_yaml knows it.
        at: Option<(usize, usize)>,
    },
}

impl YamlError {
    /// The error in `file`, in one line: `` `file:line:column`: message; hint ``.
    pub fn in_file(&self, file: &str) -> String {
        match self {
            YamlError::Refused(e) => format!(
                "`{file}:{}:{}`: {}",
                e.span.line,
                e.span.column,
                with_hint(e)
            ),
            YamlError::Document {
                index,
                message,
                at: Some((line, column)),
            } => format!("`{file}:{line}:{column}`: document {index}: {message}"),
            YamlError::Document {
                index,
                message,
                at: None,
            } => format!("`{file}`: document {index}: {message}"),
        }
    }
}

fn with_hint(e: &crate::yaml::SyntaxError) -> String {
    match &e.hint {
        Some(h) => format!("{}; {h}", e.message),
        None => e.message.clone(),
    }
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            YamlError::Refused(e) => write!(
                f,
                "line {}, column {}: {}",
                e.span.line,
                e.span.column,
                with_hint(e)
            ),
            YamlError::Document {
                index,
                message,
                at: Some((line, column)),
            } => write!(
                f,
                "line {line}, column {column}: document {index}: {message}"
            ),
            YamlError::Document {
                index,
                message,
                at: None,
            } => write!(f, "document {index}: {message}"),
        }
    }
}

impl std::error::Error for YamlError {}

/// Every non-empty YAML document of `text` (`---`-separated), as JSON values. Text with an
/// alias, or a document over the node or depth limits of [`crate::yaml`], is refused before
/// serde_yaml reads it.
pub fn parse_documents(text: &str) -> Result<Vec<Value>, YamlError> {
    // INVARIANT: serde_yaml expands every alias it reads (its repetition limit bounds how many
    // aliases are used, not how big each copy is), so text reaches it only once the bounded
    // reader has found in it no alias and no document over the node or depth limits.
    crate::yaml::check_bounds(text).map_err(YamlError::Refused)?;
    let mut docs = Vec::new();
    for (i, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let v = Value::deserialize(doc).map_err(|e| document_error(i + 1, &e))?;
        if !v.is_null() {
            docs.push(v);
        }
    }
    Ok(docs)
}

/// serde_yaml's error as a [`YamlError::Document`], its position apart from its message.
fn document_error(index: usize, e: &serde_yaml::Error) -> YamlError {
    let at = e.location().map(|l| (l.line(), l.column()));
    let full = e.to_string();
    let message = match at {
        Some((line, column)) => full.replacen(&format!(" at line {line} column {column}"), "", 1),
        None => full,
    };
    YamlError::Document { index, message, at }
}

/// The documents of the YAML file at `path`, as [`parse_documents`] reads them; the error
/// names the file (`` `file:line:column` `` where the position is known), with a hint when the
/// file is a template (`{{ ... }}`) rather than YAML.
pub fn read_documents(path: &Path) -> Result<Vec<Value>, String> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| format!("`{file}`: {e}"))?;
    parse_documents(&text).map_err(|e| {
        let mut msg = e.in_file(&file);
        if text.contains("{{") {
            msg.push_str("; the file looks like a Helm or Go template (`{{ ... }}`): render it first (`helm template`) and pass the rendered YAML");
        }
        msg
    })
}

impl Crd {
    /// Reads the first CustomResourceDefinition in a YAML (or JSON) text, e.g. the output of
    /// `kubectl get crd wasmplugins.extensions.istio.io -o yaml`.
    pub fn from_yaml(text: &str) -> Result<Crd, String> {
        let docs = parse_documents(text).map_err(|e| e.to_string())?;
        Crd::from_documents(&docs)
    }

    /// Reads the first CustomResourceDefinition among `docs`.
    pub fn from_documents(docs: &[Value]) -> Result<Crd, String> {
        let doc = docs
            .iter()
            .find(|d| d.get("kind").and_then(Value::as_str) == Some("CustomResourceDefinition"))
            .ok_or("no CustomResourceDefinition in the file")?;
        Crd::from_value(doc)
    }

    /// Reads a CustomResourceDefinition from its JSON form.
    pub fn from_value(doc: &Value) -> Result<Crd, String> {
        let crd: CrdIn = serde_path_to_error::deserialize(doc).map_err(|e| {
            format!(
                "not a CustomResourceDefinition: `{}`: {}",
                e.path(),
                e.inner()
            )
        })?;
        if crd.kind != "CustomResourceDefinition" {
            return Err(format!(
                "kind is `{}`, not CustomResourceDefinition",
                crd.kind
            ));
        }
        let mut versions = Vec::new();
        for v in crd.spec.versions {
            if let Some(s) = v.schema {
                let schema = Schema::from_value(&s.open_api_v3_schema)
                    .map_err(|e| format!("version `{}`: {e}", v.name))?;
                versions.push((v.name, schema));
            }
        }
        Ok(Crd {
            group: crd.spec.group,
            kind: crd.spec.names.kind,
            versions,
        })
    }

    /// The `apiVersion`s this CRD serves with a schema (`group/version`).
    pub fn api_versions(&self) -> Vec<String> {
        self.versions
            .iter()
            .map(|(v, _)| format!("{}/{v}", self.group))
            .collect()
    }

    /// Every reason the API server would refuse `resource` on create; empty when it passes.
    pub fn validate(&self, resource: &Value) -> Vec<Violation> {
        let mut out = Vec::new();
        let Some(obj) = resource.as_object() else {
            out.push(Violation {
                path: String::new(),
                message: format!(
                    "the resource must be an object, not {}",
                    cel::type_name(resource)
                ),
            });
            return out;
        };
        let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
        if kind != self.kind {
            out.push(Violation {
                path: "kind".into(),
                message: format!(
                    "kind: Invalid value: \"{kind}\": this CRD defines `{}`",
                    self.kind
                ),
            });
        }
        let schema = self
            .versions
            .iter()
            .find(|(v, _)| format!("{}/{v}", self.group) == api_version)
            .map(|(_, s)| s);
        let Some(schema) = schema else {
            out.push(Violation {
                path: "apiVersion".into(),
                message: format!(
                    "apiVersion: Unsupported value: \"{api_version}\": supported values: {}",
                    self.api_versions().join(", ")
                ),
            });
            return out;
        };
        check_metadata(obj.get("metadata"), &mut out);
        // apiVersion, kind and metadata are implicit at the root of every custom resource.
        let body: serde_json::Map<String, Value> = obj
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "apiVersion" | "kind" | "metadata"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        validate(schema, &Value::Object(body), "", Mode::Structural, &mut out);
        out
    }
}

/// `metadata.name` (or `generateName`) must be a DNS-1123 subdomain; `namespace` a label.
fn check_metadata(meta: Option<&Value>, out: &mut Vec<Violation>) {
    let mut bad = |path: &str, message: String| {
        out.push(Violation {
            path: path.into(),
            message,
        })
    };
    let Some(meta) = meta.and_then(Value::as_object) else {
        bad(
            "metadata",
            "metadata: Required value: an object with `name`".into(),
        );
        return;
    };
    match (meta.get("name"), meta.get("generateName")) {
        (Some(Value::String(n)), _) if !is_subdomain(n) => bad(
            "metadata.name",
            format!("metadata.name: Invalid value: \"{n}\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"),
        ),
        (Some(Value::String(_)), _) | (None, Some(Value::String(_))) => {}
        _ => bad("metadata.name", "metadata.name: Required value: name or generateName is required".into()),
    }
    if let Some(ns) = meta.get("namespace") {
        let ok = ns
            .as_str()
            .is_some_and(|s| s.len() <= 63 && is_subdomain(s) && !s.contains('.'));
        if !ok {
            let at = field("metadata", "namespace");
            bad(
                &at,
                format!("{at}: Invalid value: {ns}: must be an RFC 1123 label"),
            );
        }
    }
}

/// A DNS-1123 subdomain: dot-separated lower-case labels, at most 253 characters.
pub(crate) fn is_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}
