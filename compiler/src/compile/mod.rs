//! Compiling a loaded policy directory into the filter's [`Table`].
//!
//! Each step lives in its own file and reports every problem it finds into the shared
//! [`Ctx`]; the table is produced only when no step reported an error.

mod api_scope;
mod claims;
pub mod command;
mod gateway;
mod grants;
mod issuers;
pub(crate) use issuers::iss_key;
mod key_refresh;
mod key_sources;
pub(crate) mod keys;
mod namespaces;
mod roles;
mod routes;
mod sign_in;
mod subjects;
pub mod validate;

use std::collections::HashMap;
use std::path::Path;

use gatehouse_filter::engine::{Provenance, MAX_TABLE_BYTES};
use gatehouse_filter::table::{Table, FORMAT_VERSION};
use gatehouse_filter::Engine;

use crate::diagnostic::{self, Diagnostic};
use crate::model::{self, Located, Object};
use crate::yaml::{Document, Span, Step};

/// Options for a compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileOptions {
    /// "Now" as Unix seconds, for key expiry checks.
    pub now: u64,
}

impl Default for CompileOptions {
    /// `now` is the system time.
    fn default() -> Self {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        CompileOptions { now }
    }
}

/// A successful compile: the table and any warnings (sorted by file and line).
#[derive(Debug, Clone)]
pub struct Compiled {
    /// The table, ready to serialize with [`crate::table_json`].
    pub table: Table,
    /// The table's binary form ([`gatehouse_filter::wire::encode`]), as the compile measured
    /// it against the filter's limit: what `--format binary` writes, without encoding it again.
    pub binary: Result<Vec<u8>, String>,
    /// Warnings.
    pub warnings: Vec<Diagnostic>,
}

/// Shared state of one compile: options, and every diagnostic found so far.
pub(crate) struct Ctx<'a> {
    /// The policy directory.
    pub root: &'a Path,
    /// Now, Unix seconds.
    pub now: u64,
    /// Diagnostics found so far.
    pub diags: Vec<Diagnostic>,
}

impl Ctx<'_> {
    /// Records a diagnostic.
    pub fn report(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// Records the error of a `Result`, returning its value.
    pub fn ok<T>(&mut self, r: Result<T, Diagnostic>) -> Option<T> {
        r.map_err(|d| self.report(d)).ok()
    }
}

/// Tracks names declared so far, to report duplicates with where the first one was (found
/// only when there is a duplicate: a document reads its spans on demand).
pub(crate) struct Seen<'a>(HashMap<String, (&'a Document, Box<[Step]>)>);

impl<'a> Seen<'a> {
    pub fn new() -> Self {
        Seen(HashMap::new())
    }

    /// Records `key` declared at `doc`/`at`; a second declaration is a duplicate error (which
    /// names `what`: written only then).
    pub fn declare(
        &mut self,
        key: impl AsRef<str> + Into<String>,
        what: impl std::fmt::Display,
        doc: &'a Document,
        at: &[Step],
    ) -> Result<(), Diagnostic> {
        match self.0.get(key.as_ref()) {
            Some((first, first_at)) => Err(doc
                .error(
                    "duplicate-declaration",
                    at,
                    format!("duplicate declaration of {what}"),
                )
                .with_hint(format!("first declared at {}", first.source_at(first_at)))),
            None => {
                self.0.insert(key.into(), (doc, at.into()));
                Ok(())
            }
        }
    }
}

/// Objects split by kind.
#[derive(Default)]
pub(crate) struct ByKind {
    pub profiles: Vec<Located<model::profile::Profile>>,
    pub role_bindings: Vec<Located<Box<k8s_openapi::api::rbac::v1::RoleBinding>>>,
    pub gateways: Vec<Located<model::Envelope<model::gateway::GatewaySpec>>>,
    pub issuers: Vec<Located<model::Envelope<model::issuer::IssuerSpecIn>>>,
    pub roles: Vec<Located<model::Envelope<model::role::RoleSpec>>>,
    pub bindings: Vec<Located<model::Envelope<model::binding::BindingSpec>>>,
    pub route_maps: Vec<Located<model::Envelope<model::routemap::RouteMapSpec>>>,
    pub namespaces: Vec<Located<model::Envelope<model::namespace::NamespaceSpec>>>,
}

impl ByKind {
    fn new(objects: Vec<Object>) -> ByKind {
        let mut k = ByKind::default();
        for o in objects {
            match o {
                Object::Profile(x) => k.profiles.push(x),
                Object::RoleBinding(x) => k.role_bindings.push(x),
                Object::Gateway(x) => k.gateways.push(x),
                Object::Issuer(x) => k.issuers.push(x),
                Object::Role(x) => k.roles.push(x),
                Object::Binding(x) => k.bindings.push(x),
                Object::RouteMap(x) => k.route_maps.push(x),
                Object::Namespace(x) => k.namespaces.push(x),
            }
        }
        k
    }
}

/// Compiles the policy directory `root` into a table.
///
/// Reads every `*.yaml` / `*.yml` file under `root` (recursively, in sorted order), validates
/// the whole policy, and returns the table with any warnings; or, when anything is wrong, every
/// diagnostic found (errors and warnings), sorted by file, line and column. Sources in the
/// table and in diagnostics are relative to `root`, so the output does not depend on where
/// the policy directory is.
pub fn compile_dir(root: &Path, options: &CompileOptions) -> Result<Compiled, Vec<Diagnostic>> {
    let loaded = model::load_dir(root);
    let mut ctx = Ctx {
        root,
        now: options.now,
        diags: loaded.diagnostics,
    };
    let objects = ByKind::new(loaded.objects);

    let gw = gateway::compile(&objects, &mut ctx);
    let namespaces = namespaces::compile(&objects, &mut ctx);
    let (actions, roles) = roles::compile(&objects, &mut ctx);
    let routes = routes::compile(&objects, &gw, &actions, &mut ctx);
    let issuers = issuers::compile(&objects, &mut ctx);
    let grants = grants::compile(&objects, &gw, &namespaces, &roles, &mut ctx);
    api_scope::check(&objects, &roles, &routes, &mut ctx);
    for ns in &gw.settings.audit.namespaces {
        if !namespaces.contains_key(ns) {
            if let Some(doc) = &gw.doc {
                ctx.report(doc.warning(
                    "undeclared-namespace",
                    crate::path!["spec", "audit", "namespaces"],
                    format!("audit names namespace `{ns}`, which no Profile or Namespace declares"),
                ));
            }
        }
    }

    let table = Table {
        format_version: FORMAT_VERSION,
        gateway: gw.settings,
        actions: actions.into_iter().collect(),
        roles,
        issuers,
        routes,
        grants,
        namespaces: namespaces.into_keys().collect(),
    };

    sign_in::check_table(
        &table,
        |name| {
            objects
                .issuers
                .iter()
                .find(|i| i.value.metadata.name == name)
                .map(|i| &i.doc)
        },
        &mut ctx,
    );

    // Said only of a policy that compiles (below): it is about what the table does, not a
    // problem to fix alongside errors.
    let mut notes: Vec<Diagnostic> = objects
        .gateways
        .is_empty()
        .then(gateway::no_gateway)
        .into_iter()
        .collect();
    notes.extend(key_sources::no_key_refresh(&objects));
    let mut diags = ctx.diags;
    // The objects are done with: another core frees them while the filter loads the table.
    let table = std::thread::scope(|s| {
        s.spawn(move || drop(objects));
        check(table, &mut diags)
    });
    if !diags.iter().any(Diagnostic::is_error) {
        diags.extend(notes);
    }
    diagnostic::attach_sources(&mut diags, |file| {
        loaded.sources.get(file).map(|text| &**text)
    });
    diagnostic::sort(&mut diags);
    match table {
        Some((table, binary)) if !diags.iter().any(Diagnostic::is_error) => Ok(Compiled {
            table,
            binary,
            warnings: diags,
        }),
        _ => Err(diags),
    }
}

/// The filter must accept what the compiler writes: encodes the table's binary form, whose
/// size it checks, and loads that as a gateway does (the same checks as a JSON table's, and
/// the ACL built in one pass without provenance). `None` when `diags` already hold an error,
/// or the filter refuses the table (said in `diags`).
fn check(table: Table, diags: &mut Vec<Diagnostic>) -> Option<(Table, Result<Vec<u8>, String>)> {
    if diags.iter().any(Diagnostic::is_error) {
        return None;
    }
    let binary = gatehouse_filter::wire::encode(&table);
    let loaded = match &binary {
        Ok(bytes) => match table_size(bytes.len(), MAX_TABLE_BYTES) {
            // Said as the author's error; no gateway would load it.
            Some(too_large) => {
                diags.push(too_large);
                Ok(())
            }
            None => Engine::from_bytes(bytes, Provenance::Drop).map(drop),
        },
        // Not encodable: then the JSON table must load.
        Err(_) => Engine::load(table.clone(), Provenance::Keep).map(drop),
    };
    match loaded {
        Ok(()) => Some((table, binary)),
        Err(e) => {
            diags.push(Diagnostic::error(
                "internal",
                "",
                Span::default(),
                format!("the filter refuses the compiled table: {e}"),
            ));
            None
        }
    }
}

/// The filter loads tables of at most `limit` bytes (`MAX_TABLE_BYTES`): a larger one is the
/// policy's size, an author's problem, said here rather than by a gateway refusing it. Measured
/// in the table's smallest form (binary), which is what a gateway fetches; `compile` refuses a
/// JSON table over the limit itself, pointing at `--format binary`.
fn table_size(size: usize, limit: usize) -> Option<Diagnostic> {
    (size > limit).then(|| {
        Diagnostic::error(
            "table-too-large",
            "",
            Span::default(),
            format!(
                "the compiled table is {size} bytes in its binary form; the filter loads at most {limit}"
            ),
        )
        .with_hint(
            "split the platform across gateways with their own policies, or remove bindings no one uses",
        )
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_table_over_the_filters_limit_is_the_authors_error() {
        let compiled = compile_dir(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies"),
            &CompileOptions::default(),
        )
        .unwrap();
        let size = gatehouse_filter::wire::encode(&compiled.table)
            .unwrap()
            .len();
        assert_eq!(compiled.binary.as_ref().unwrap().len(), size);
        assert!(table_size(size, size).is_none());
        let d = table_size(size, size - 1).unwrap();
        assert_eq!(d.code, "table-too-large");
        assert!(d.is_error());
        assert!(
            d.message.contains(&format!("is {size} bytes")),
            "{}",
            d.message
        );
    }
}
