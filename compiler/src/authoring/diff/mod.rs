//! `gatehouse diff OLD NEW`: the access that changes between two policies (directories or
//! compiled tables, told apart by what is on disk). Each side's effective access set — every
//! (subject, namespace or `*`, API scope, action) some grant gives, with role action sets taken
//! from the filter's ACL — is computed, and the two are compared; changes to issuers, keys,
//! routes, public paths, roles, namespaces and gateway settings are summarized besides.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use clap::ValueEnum;
use gatehouse_filter::table::{Access, IssuerSpec, RouteSpec};
use gatehouse_filter::Engine;
use serde::Serialize;

use super::access::{access_set, role_actions, AccessKey, Via};
mod render;
use super::source::load_any;
use super::{print, Failure};
use crate::exit::{EXIT_DENIED, EXIT_OK};

/// How `diff` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    /// For people.
    Text,
    /// One JSON object (for a pull-request bot).
    Json,
    /// A Markdown section (for a pull-request comment).
    Markdown,
}

/// Arguments of `gatehouse diff`.
#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// The old policy: a directory or a compiled table (JSON).
    pub old: PathBuf,
    /// The new policy: a directory or a compiled table (JSON).
    pub new: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: DiffFormat,
    /// Exit 3 when anything changed (default: exit 0 either way).
    #[arg(long)]
    pub exit_code: bool,
}

/// One subject gaining or losing actions in one namespace and API scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessChange {
    /// `gained` or `lost`.
    pub change: &'static str,
    /// `user:<name>` or `group:<name>`.
    pub subject: String,
    /// The namespace, or `*` for every namespace.
    pub namespace: String,
    /// `None`: every API; else that API only.
    pub api: Option<String>,
    /// The actions gained or lost, sorted.
    pub actions: Vec<String>,
    /// Roles that give them (new side for gains, old side for losses).
    pub via: Vec<String>,
    /// Sources of those grants.
    pub sources: Vec<String>,
}

/// Everything that differs between two tables.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Diff {
    /// Access gained and lost, sorted by subject, namespace, API.
    pub access: Vec<AccessChange>,
    /// One-line summaries of other changes (issuers, keys, routes, public paths, …).
    pub other: Vec<String>,
}

impl Diff {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.access.is_empty() && self.other.is_empty()
    }
}

type Group = (String, String, Option<String>);

fn changes(
    from: &BTreeMap<AccessKey, Via>,
    to: &BTreeMap<AccessKey, Via>,
    change: &'static str,
) -> Vec<AccessChange> {
    let mut groups: BTreeMap<Group, AccessChange> = BTreeMap::new();
    for (key, via) in from.iter().filter(|(k, _)| !to.contains_key(*k)) {
        let c = groups
            .entry((key.subject.clone(), key.namespace.clone(), key.api.clone()))
            .or_insert_with(|| AccessChange {
                change,
                subject: key.subject.clone(),
                namespace: key.namespace.clone(),
                api: key.api.clone(),
                actions: Vec::new(),
                via: Vec::new(),
                sources: Vec::new(),
            });
        c.actions.push(key.action.clone());
        c.via.extend(via.roles.iter().cloned());
        c.sources.extend(via.sources.iter().cloned());
    }
    groups
        .into_values()
        .map(|mut c| {
            for list in [&mut c.actions, &mut c.via, &mut c.sources] {
                list.sort();
                list.dedup();
            }
            c
        })
        .collect()
}

/// Compares two loaded tables.
pub fn diff(old: &Engine, new: &Engine) -> Diff {
    let (a, b) = (access_set(old), access_set(new));
    let mut access = changes(&b, &a, "gained");
    access.extend(changes(&a, &b, "lost"));
    access.sort_by(|x, y| {
        (&x.subject, &x.namespace, &x.api, x.change).cmp(&(
            &y.subject,
            &y.namespace,
            &y.api,
            y.change,
        ))
    });
    let mut other = Vec::new();
    gateway_changes(old, new, &mut other);
    route_changes(old, new, &mut other);
    issuer_changes(old, new, &mut other);
    role_changes(old, new, &mut other);
    set_changes(
        "namespace",
        &old.table.namespaces.iter().collect(),
        &new.table.namespaces.iter().collect(),
        &mut other,
    );
    Diff { access, other }
}

fn set_changes(
    what: &str,
    old: &BTreeSet<&String>,
    new: &BTreeSet<&String>,
    out: &mut Vec<String>,
) {
    for x in new.difference(old) {
        out.push(format!("{what} added: {x}"));
    }
    for x in old.difference(new) {
        out.push(format!("{what} removed: {x}"));
    }
}

fn gateway_changes(old: &Engine, new: &Engine, out: &mut Vec<String>) {
    let (Ok(serde_json::Value::Object(a)), Ok(serde_json::Value::Object(b))) = (
        serde_json::to_value(&old.table.gateway),
        serde_json::to_value(&new.table.gateway),
    ) else {
        return;
    };
    for (k, v) in &a {
        match b.get(k) {
            Some(w) if w != v => out.push(format!("gateway `{k}` changed: {v} -> {w}")),
            _ => {}
        }
    }
}

fn route_key(r: &RouteSpec) -> String {
    let methods = if r.methods.is_empty() {
        "*".to_string()
    } else {
        r.methods.join(",")
    };
    let mut key = format!("{methods} {}", r.path);
    if let Some(q) = &r.namespace_query {
        key.push_str(&format!(" ?{q}="));
    }
    key
}

fn access_text(r: &RouteSpec) -> String {
    let mut s = match &r.access {
        Access::Public => "public".to_string(),
        Access::Authenticated => "authenticated".to_string(),
        Access::Action(a) => format!("action `{a}`"),
    };
    if let Some(ns) = &r.namespace {
        s.push_str(&format!(" in `{ns}`"));
    }
    if let Some(api) = &r.api {
        s.push_str(&format!(" on api `{api}`"));
    }
    s
}

fn route_changes(old: &Engine, new: &Engine, out: &mut Vec<String>) {
    let public = |e: &Engine| -> BTreeSet<String> {
        e.table
            .routes
            .iter()
            .filter(|r| r.access == Access::Public)
            .map(|r| r.path.clone())
            .collect()
    };
    let (pa, pb) = (public(old), public(new));
    set_changes(
        "public path",
        &pa.iter().collect(),
        &pb.iter().collect(),
        out,
    );
    let routes = |e: &Engine| -> BTreeMap<String, (String, String)> {
        e.table
            .routes
            .iter()
            .filter(|r| r.access != Access::Public)
            .map(|r| (route_key(r), (access_text(r), r.source.clone())))
            .collect()
    };
    let (ra, rb) = (routes(old), routes(new));
    for (k, (access, source)) in &rb {
        match ra.get(k) {
            None => out.push(format!("route added: {k} -> {access} ({source})")),
            Some((was, _)) if was != access => {
                out.push(format!("route changed: {k}: {was} -> {access} ({source})"))
            }
            Some(_) => {}
        }
    }
    for (k, (access, source)) in &ra {
        if !rb.contains_key(k) {
            out.push(format!("route removed: {k} -> {access} ({source})"));
        }
    }
}

fn issuer_changes(old: &Engine, new: &Engine, out: &mut Vec<String>) {
    let issuers = |e: &Engine| -> BTreeMap<String, (serde_json::Value, BTreeSet<String>)> {
        e.table
            .issuers
            .iter()
            .map(|i| {
                let (name, keys) = match i {
                    IssuerSpec::Alb(a) => (a.name.clone(), &a.keys),
                    IssuerSpec::Jwt(j) => (j.name.clone(), &j.keys),
                };
                let kids = keys
                    .iter()
                    .map(|k| k.kid.clone().unwrap_or_else(|| "(no kid)".into()))
                    .collect();
                let mut v = serde_json::to_value(i).unwrap_or_default();
                if let Some(o) = v.as_object_mut() {
                    o.remove("keys");
                }
                (name, (v, kids))
            })
            .collect()
    };
    let (a, b) = (issuers(old), issuers(new));
    for (name, (spec, kids)) in &b {
        let Some((was, old_kids)) = a.get(name) else {
            out.push(format!("issuer added: `{name}`"));
            continue;
        };
        if was != spec {
            out.push(format!("issuer `{name}` settings changed"));
        }
        for kid in kids.difference(old_kids) {
            out.push(format!("issuer `{name}` key added: {kid}"));
        }
        for kid in old_kids.difference(kids) {
            out.push(format!("issuer `{name}` key removed: {kid}"));
        }
    }
    for name in a.keys().filter(|n| !b.contains_key(*n)) {
        out.push(format!("issuer removed: `{name}`"));
    }
}

fn role_changes(old: &Engine, new: &Engine, out: &mut Vec<String>) {
    for name in new.table.roles.keys() {
        let after = role_actions(new, name);
        if !old.table.roles.contains_key(name) {
            out.push(format!("role added: `{name}`"));
            continue;
        }
        let before = role_actions(old, name);
        let gained: Vec<&String> = after.difference(&before).collect();
        let lost: Vec<&String> = before.difference(&after).collect();
        let join = |v: &[&String]| v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
        if !gained.is_empty() {
            out.push(format!("role `{name}` now also grants: {}", join(&gained)));
        }
        if !lost.is_empty() {
            out.push(format!("role `{name}` no longer grants: {}", join(&lost)));
        }
    }
    for name in old.table.roles.keys() {
        if !new.table.roles.contains_key(name) {
            out.push(format!("role removed: `{name}`"));
        }
    }
}

/// Runs `gatehouse diff`: exit 0 (3 with `--exit-code` when anything changed), 1 for bad input.
pub fn run(args: &DiffArgs) -> Result<u8, Failure> {
    let old = load_any(&args.old)?;
    let new = load_any(&args.new)?;
    let d = diff(&old, &new);
    let text = match args.format {
        DiffFormat::Text => render::text(&d),
        DiffFormat::Json => super::json(&d)?,
        DiffFormat::Markdown => render::markdown(&d),
    };
    print(&text)?;
    Ok(if args.exit_code && !d.is_empty() {
        EXIT_DENIED
    } else {
        EXIT_OK
    })
}
