//! `gatehouse who-can ACTION NAMESPACE [--api NAME]`: every subject (user, group,
//! ServiceAccount) holding a role with the action in the namespace, including grants for every
//! namespace (`*`), with the role and the source of each grant.

use gatehouse_filter::path::is_namespace_name;
use serde::Serialize;

use super::access::{grants, role_actions, subject_kind};
use super::source::PolicySource;
use super::{json, print, Failure, Format};
use crate::diagnostic::did_you_mean;
use crate::exit::EXIT_OK;

/// Arguments of `gatehouse who-can`.
#[derive(Debug, clap::Args)]
pub struct WhoCanArgs {
    /// The action (`delete`, `deploy`, …).
    pub action: String,
    /// The namespace (`*`: grants that hold in every namespace).
    pub namespace: String,
    /// Only grants that cover this API (grants limited to other APIs are left out).
    #[arg(long)]
    pub api: Option<String>,
    #[command(flatten)]
    pub source: PolicySource,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

/// One subject that can.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Can {
    /// `user`, `group` or `serviceaccount`.
    pub kind: &'static str,
    /// The name (`ci/model-deployer` for a ServiceAccount).
    pub name: String,
    /// The table's subject (`user:…`, `group:…`).
    pub subject: String,
    /// The role that holds the action.
    pub role: String,
    /// The namespace of the grant, or `*`.
    pub namespace: String,
    /// APIs the grant is limited to, when it is.
    pub apis: Option<Vec<String>>,
    /// Where the grant came from.
    pub source: String,
}

#[derive(Serialize)]
struct Answer<'a> {
    action: &'a str,
    namespace: &'a str,
    api: Option<&'a str>,
    subjects: &'a [Can],
}

/// Runs `gatehouse who-can`: exit 0 with the list (possibly empty), 1 for an unknown action or
/// an invalid namespace.
pub fn run(args: &WhoCanArgs) -> Result<u8, Failure> {
    if args.namespace != "*" && !is_namespace_name(&args.namespace) {
        return Err(Failure::Invalid(format!(
            "`{}` is not a valid namespace name (lower-case letters, digits and `-`)",
            args.namespace
        )));
    }
    let engine = args.source.load()?;
    if !engine.acl().actions.contains_key(&args.action) {
        let known = &engine.acl().action_names;
        let hint = did_you_mean(&args.action, known.iter().map(String::as_str))
            .unwrap_or_else(|| format!("known actions: {}", known.join(", ")));
        return Err(Failure::Invalid(format!(
            "unknown action `{}`; {hint}",
            args.action
        )));
    }
    let declared = engine.table.namespaces.contains(&args.namespace);
    let mut found: Vec<Can> = grants(&engine)
        .into_iter()
        .filter(|h| h.namespace == args.namespace || h.namespace == "*")
        .filter(|h| role_actions(&engine, &h.role).contains(&args.action))
        .filter(|h| match (&args.api, &h.apis) {
            (Some(api), Some(apis)) => apis.contains(api),
            _ => true,
        })
        .map(|h| {
            let (kind, name) = subject_kind(&h.subject);
            Can {
                kind,
                name,
                subject: h.subject,
                role: h.role,
                namespace: h.namespace,
                apis: h.apis,
                source: h.source,
            }
        })
        .collect();
    found.sort_by(|a, b| (a.kind, &a.name, &a.role).cmp(&(b.kind, &b.name, &b.role)));
    if !declared && args.namespace != "*" {
        eprintln!(
            "note: namespace `{}` is not declared by any Profile or Namespace",
            args.namespace
        );
    }
    match args.format {
        Format::Json => print(&json(&Answer {
            action: &args.action,
            namespace: &args.namespace,
            api: args.api.as_deref(),
            subjects: &found,
        })?)?,
        Format::Text => print(&render(args, &found))?,
    }
    Ok(EXIT_OK)
}

fn render(args: &WhoCanArgs, found: &[Can]) -> String {
    let mut what = format!("`{}` in `{}`", args.action, args.namespace);
    if let Some(api) = &args.api {
        what.push_str(&format!(" on api `{api}`"));
    }
    if found.is_empty() {
        return format!("nobody can {what}\n");
    }
    let rows: Vec<[String; 6]> = found
        .iter()
        .map(|c| {
            [
                c.kind.to_string(),
                c.name.clone(),
                c.role.clone(),
                c.namespace.clone(),
                c.apis.as_ref().map_or("*".into(), |a| a.join(",")),
                c.source.clone(),
            ]
        })
        .collect();
    let header = ["KIND", "NAME", "ROLE", "NAMESPACE", "APIS", "SOURCE"].map(String::from);
    let mut widths = [0usize; 6];
    for row in std::iter::once(&header).chain(&rows) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = format!("who can {what}:\n");
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
