//! The `PolicyTest` assertion file format, read with the policy loader's spanned YAML so that
//! every problem names its file, line and column.
//!
//! ```yaml
//! apiVersion: gatehouse.dev/v1alpha1
//! kind: PolicyTest
//! metadata:
//!   name: contributors
//! spec:
//!   cases:
//!     - name: a viewer cannot delete
//!       user: carol@example.com        # optional: without it the request has no identity
//!       groups: [analysts]             # optional
//!       method: DELETE
//!       path: /jupyter/api/namespaces/alice/notebooks/nb
//!       expect: deny                   # allow | deny
//!       reason: not_permitted          # optional, deny only: the stable reason code
//!       grantedBy: profiles/alice.yaml # optional, allow only: the grant's source starts with it
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use gatehouse_filter::DenyReason;
use serde::Deserialize;

use super::evaluate::Who;
use super::source::check_request;
use crate::diagnostic::{did_you_mean, Diagnostic};
use crate::model::{policy_files, relative, Envelope, GATEHOUSE_API};
use crate::path;
use crate::yaml::{decode, parse_documents, Document, NodeValue, Span};

/// The kind of an assertion document.
pub const KIND: &str = "PolicyTest";

/// What a case expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    /// The request is let through.
    Allow,
    /// The request is refused.
    Deny,
}

/// The spec's shape; cases are decoded one by one so that every bad case is reported.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    cases: Vec<serde::de::IgnoredAny>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CaseIn {
    name: String,
    user: Option<String>,
    #[serde(default)]
    groups: Vec<String>,
    method: String,
    path: String,
    host: Option<String>,
    expect: Expect,
    reason: Option<String>,
    granted_by: Option<String>,
}

/// One test case, checked.
#[derive(Debug, Clone)]
pub struct Case {
    /// File relative to the policy directory.
    pub file: String,
    /// Where the case starts.
    pub span: Span,
    /// Its name (unique in its file).
    pub name: String,
    /// Who makes the request.
    pub who: Who,
    /// Method.
    pub method: String,
    /// Path, with any query.
    pub path: String,
    /// The request's host (`Host` / `:authority`), for routes scoped to hosts.
    pub host: Option<String>,
    /// Allow or deny.
    pub expect: Expect,
    /// The expected deny reason, when given.
    pub reason: Option<DenyReason>,
    /// The expected grant source prefix, when given.
    pub granted_by: Option<String>,
}

/// Every case of every `PolicyTest` document under `root`, or every problem found.
pub fn load(root: &Path) -> Result<Vec<Case>, Vec<Diagnostic>> {
    let mut cases = Vec::new();
    let mut diags = Vec::new();
    let files = policy_files(root).map_err(|e| {
        vec![Diagnostic::error(
            "io",
            &root.display().to_string(),
            Span::default(),
            format!("cannot read policy directory: {e}"),
        )]
    })?;
    for path in files {
        let file = relative(root, &path);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                diags.push(Diagnostic::error(
                    "io",
                    &file,
                    Span::default(),
                    format!("cannot read file: {e}"),
                ));
                continue;
            }
        };
        let before = diags.len();
        match parse_documents(&text) {
            Ok(nodes) => {
                for node in nodes {
                    let is_test = node.get("kind").and_then(|k| k.as_str()) == Some(KIND);
                    if is_test {
                        let doc = Document::new(file.clone(), node);
                        load_doc(&doc, &mut cases, &mut diags);
                    }
                }
            }
            Err(e) => diags.push(e.diagnostic(&file)),
        }
        crate::diagnostic::attach_sources(&mut diags[before..], |_| Some(text.as_str()));
    }
    crate::diagnostic::sort(&mut diags);
    if diags.is_empty() {
        Ok(cases)
    } else {
        Err(diags)
    }
}

fn load_doc(doc: &Document, cases: &mut Vec<Case>, diags: &mut Vec<Diagnostic>) {
    let env: Envelope<Spec> = match doc.decode() {
        Ok(e) => e,
        Err(d) => return diags.push(d),
    };
    if env.api_version != GATEHOUSE_API {
        return diags.push(
            doc.error(
                "unknown-api-version",
                path!["apiVersion"],
                format!("unknown apiVersion `{}` for kind `{KIND}`", env.api_version),
            )
            .with_hint(format!("expected `{GATEHOUSE_API}`")),
        );
    }
    let Some(spec) = env.spec else {
        return diags.push(doc.error("missing-field", path![], "missing field `spec`"));
    };
    if spec.cases.is_empty() {
        diags.push(doc.error(
            "missing-field",
            path!["spec", "cases"],
            "a `PolicyTest` needs at least one case",
        ));
    }
    let items = match doc
        .node()
        .and_then(|n| n.get("spec"))
        .and_then(|s| s.get("cases"))
        .map(|c| &c.value)
    {
        Some(NodeValue::Seq(items)) => items.as_slice(),
        _ => &[],
    };
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    for (i, item) in items.iter().enumerate() {
        let c: CaseIn = match decode(&doc.file, item) {
            Ok(c) => c,
            Err(d) => {
                diags.push(d);
                continue;
            }
        };
        let at = |key: &'static str| path!["spec", "cases", i, key].to_vec();
        let err =
            |code: &'static str, key: &'static str, msg: String| doc.error(code, &at(key), msg);
        let before = diags.len();
        if let Some(first) = names.insert(c.name.clone(), doc.span(&at("name")).line) {
            diags.push(
                err(
                    "duplicate-declaration",
                    "name",
                    format!("duplicate case name `{}`", c.name),
                )
                .with_hint(format!("first declared at {}:{first}", doc.file)),
            );
        }
        if let Err(m) = check_request(&c.method, "/") {
            diags.push(err("invalid-value", "method", m));
        }
        if let Err(m) = check_request("GET", &c.path) {
            diags.push(err("invalid-value", "path", m));
        }
        if c.user.is_none() && !c.groups.is_empty() {
            diags.push(err(
                "invalid-value",
                "groups",
                "`groups` needs a `user`".into(),
            ));
        }
        let reason = match (&c.reason, c.expect) {
            (None, _) => None,
            (Some(_), Expect::Allow) => {
                diags.push(err(
                    "invalid-value",
                    "reason",
                    "`reason` is only for `expect: deny`".into(),
                ));
                None
            }
            (Some(code), Expect::Deny) => match DenyReason::from_code(code) {
                Some(r) => Some(r),
                None => {
                    let hint = did_you_mean(code, DenyReason::ALL.iter().map(|r| r.code()))
                        .unwrap_or_else(|| "see the deny reason codes in docs/authoring.md".into());
                    diags.push(
                        err(
                            "unknown-value",
                            "reason",
                            format!("unknown deny reason `{code}`"),
                        )
                        .with_hint(hint),
                    );
                    None
                }
            },
        };
        if c.granted_by.is_some() && c.expect == Expect::Deny {
            diags.push(err(
                "invalid-value",
                "grantedBy",
                "`grantedBy` is only for `expect: allow`".into(),
            ));
        }
        if diags.len() > before {
            continue;
        }
        cases.push(Case {
            file: doc.file.clone(),
            span: doc.span(path!["spec", "cases", i]),
            name: c.name,
            who: Who::asserted(c.user.as_deref(), &c.groups),
            method: c.method,
            path: c.path,
            host: c.host,
            expect: c.expect,
            reason,
            granted_by: c.granted_by,
        });
    }
}
