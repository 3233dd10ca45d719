//! Declared namespaces: one per Profile, plus `Namespace` objects.

use std::collections::BTreeMap;

use gatehouse_filter::path::is_namespace_name;

use super::{ByKind, Ctx, Seen};
use crate::path;
use crate::yaml::Document;

/// Namespace → where it was declared.
pub(crate) type Namespaces = BTreeMap<String, String>;

pub(crate) fn compile<'a>(objects: &'a ByKind, ctx: &mut Ctx<'_>) -> Namespaces {
    let mut seen = Seen::new();
    let mut out = Namespaces::new();
    let mut declare = |name: &str, doc: &'a Document, what: &str, ctx: &mut Ctx<'_>| {
        let at = path!["metadata", "name"];
        if !is_namespace_name(name) {
            ctx.report(
                doc.error(
                    "invalid-namespace",
                    at,
                    format!("`{name}` is not a valid namespace name"),
                )
                .with_hint(
                    "namespace names are lower-case letters, digits and `-`, at most 63 characters",
                ),
            );
            return;
        }
        let r = seen.declare(name, format_args!("namespace `{name}` ({what})"), doc, at);
        if ctx.ok(r).is_some() {
            out.insert(name.to_string(), doc.source_at(path![]));
        }
    };
    for p in &objects.profiles {
        match &p.value.metadata.name {
            Some(name) => declare(name, &p.doc, "Profile", ctx),
            None => ctx.report(p.doc.error(
                "missing-field",
                path!["metadata"],
                "missing field `name`: a Profile's name is its namespace",
            )),
        }
    }
    for n in &objects.namespaces {
        declare(&n.value.metadata.name, &n.doc, "Namespace", ctx);
    }
    out
}
