//! `gatehouse import`: existing Istio `RequestAuthentication` resources (their `jwtRules`)
//! turned into Gatehouse `Issuer` declarations. Inline `jwks` become key files beside the
//! YAML; a `jwksUri` becomes a note with the command that fetches the keys once into `keys/`
//! (Gatehouse never fetches keys at request time). Whatever Gatehouse does differently from
//! Istio is a note: a comment in the output and a line on standard error.

pub mod jwks;
pub mod rule;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::Serialize;
use serde_json::Value;

use crate::cli::{EXIT_FAILURE, EXIT_INVALID, EXIT_OK};
use rule::{fetch_command, translate, Imported, JwtSpec, Keys, Origin};

/// Arguments of `gatehouse import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// RequestAuthentication YAML files, or directories searched for `*.yaml` / `*.yml`.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Write `<name>.yaml` per RequestAuthentication, and key files, into this directory
    /// (default: the YAML on standard output, no key files).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

/// The Issuers of one RequestAuthentication, rendered as one YAML file.
#[derive(Debug, Clone)]
pub struct ImportedFile {
    /// File name, `<RequestAuthentication name>.yaml`.
    pub name: String,
    /// The YAML, with the notes as comments.
    pub yaml: String,
    /// Key files to write beside it: `(file name, JWKS JSON)`.
    pub key_files: Vec<(String, String)>,
    /// The issuers, for the notes on standard error.
    pub issuers: Vec<Imported>,
}

/// Reads every RequestAuthentication under `inputs` and translates its rules; the error lists
/// every input or rule that could not be read.
pub fn import(inputs: &[PathBuf]) -> Result<Vec<ImportedFile>, Vec<String>> {
    let mut errors = Vec::new();
    let mut resources = Vec::new();
    for file in yaml_files(inputs, &mut errors) {
        match crate::crd::read_documents(&file) {
            Ok(docs) => {
                for doc in docs.into_iter().flat_map(list_items) {
                    if doc.get("kind").and_then(Value::as_str) == Some("RequestAuthentication") {
                        resources.push((file.display().to_string(), doc));
                    }
                }
            }
            Err(e) => errors.push(e),
        }
    }
    if resources.is_empty() && errors.is_empty() {
        errors.push("no RequestAuthentication found in the inputs".into());
    }
    let mut names = BTreeSet::new();
    let mut file_names = BTreeSet::new();
    let mut issuers_seen: BTreeMap<String, String> = BTreeMap::new();
    let mut files = Vec::new();
    for (file, doc) in resources {
        let ra_name = doc
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("imported");
        let ns = doc
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("default");
        let selector = doc
            .pointer("/spec/selector/matchLabels")
            .and_then(|v| serde_json::from_value(v.clone()).ok());
        let rules = doc
            .pointer("/spec/jwtRules")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut issuers = Vec::new();
        for (i, r) in rules.iter().enumerate() {
            let base = if rules.len() > 1 {
                format!("{ra_name}-{}", i + 1)
            } else {
                ra_name.to_string()
            };
            let name = unique(&mut names, &dns_label(&base));
            let origin = Origin {
                file: file.clone(),
                resource: format!("{ns}/{ra_name}"),
                index: i,
                selector: selector.clone(),
            };
            match translate(r, &name, origin) {
                Ok(imp) => match issuers_seen.get(&imp.jwt.issuer) {
                    Some(first) => errors.push(format!(
                        "`{file}`: {ns}/{ra_name} jwtRules[{i}]: issuer `{}` is already imported as `{first}`; Gatehouse issuers are unique: merge their audiences there",
                        imp.jwt.issuer
                    )),
                    None => {
                        issuers_seen.insert(imp.jwt.issuer.clone(), name);
                        issuers.push(imp);
                    }
                },
                Err(e) => errors.push(format!("`{file}`: {ns}/{ra_name} jwtRules[{i}]: {e}")),
            }
        }
        if issuers.is_empty() {
            continue;
        }
        let file_name = unique(&mut file_names, &dns_label(ra_name)) + ".yaml";
        files.push(render(file_name, &file, &issuers));
    }
    if errors.is_empty() {
        Ok(files)
    } else {
        Err(errors)
    }
}

fn list_items(doc: Value) -> Vec<Value> {
    match doc.get("items").and_then(Value::as_array) {
        Some(items) if doc.get("kind").and_then(Value::as_str) == Some("List") => items.clone(),
        _ => vec![doc],
    }
}

fn yaml_files(inputs: &[PathBuf], errors: &mut Vec<String>) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>, errors: &mut Vec<String>) {
        let mut entries: Vec<PathBuf> = match std::fs::read_dir(dir) {
            Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
            Err(e) => return errors.push(format!("`{}`: {e}", dir.display())),
        };
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out, errors);
            } else if p.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    for input in inputs {
        if input.is_dir() {
            walk(input, &mut out, errors);
        } else {
            out.push(input.clone());
        }
    }
    out
}

/// A DNS label from `s`: lower-case alphanumerics and `-`, at most 63 characters.
fn dns_label(s: &str) -> String {
    let mapped: String = s
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let trimmed: String = mapped.trim_matches('-').chars().take(60).collect();
    if trimmed.is_empty() {
        "imported".into()
    } else {
        trimmed.trim_end_matches('-').to_string()
    }
}

fn unique(taken: &mut BTreeSet<String>, base: &str) -> String {
    let mut name = base.to_string();
    let mut n = 2;
    while !taken.insert(name.clone()) {
        name = format!("{base}-{n}");
        n += 1;
    }
    name
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IssuerDoc<'a> {
    api_version: &'static str,
    kind: &'static str,
    metadata: BTreeMap<&'static str, &'a str>,
    spec: BTreeMap<&'static str, &'a JwtSpec>,
}

fn render(name: String, source: &str, issuers: &[Imported]) -> ImportedFile {
    let mut yaml = String::new();
    let mut key_files = Vec::new();
    let resource = issuers.first().map_or("", |i| i.origin.resource.as_str());
    let _ = writeln!(
        yaml,
        "# Imported by `gatehouse import` from `{source}` (RequestAuthentication {resource})."
    );
    for (n, imp) in issuers.iter().enumerate() {
        if n > 0 {
            yaml.push_str("---\n");
        }
        let _ = writeln!(yaml, "# jwtRules[{}]", imp.origin.index);
        for note in &imp.notes {
            let _ = writeln!(yaml, "# note: {note}");
        }
        if let Some(cmd) = fetch_command(&imp.keys, &imp.jwt.issuer, &imp.jwt.jwks_file) {
            let _ = writeln!(yaml, "# keys: Gatehouse never fetches keys at request time; fetch them once, from this file's folder:\n#   {cmd}");
        }
        if let Keys::Inline(json) = &imp.keys {
            key_files.push((imp.jwt.jwks_file.clone(), json.clone()));
        }
        let doc = IssuerDoc {
            api_version: "gatehouse.dev/v1alpha1",
            kind: "Issuer",
            metadata: BTreeMap::from([("name", imp.name.as_str())]),
            spec: BTreeMap::from([("jwt", &imp.jwt)]),
        };
        yaml.push_str(&serde_yaml::to_string(&doc).unwrap_or_default());
    }
    ImportedFile {
        name,
        yaml,
        key_files,
        issuers: issuers.to_vec(),
    }
}

/// Runs `gatehouse import`.
pub fn run(args: &ImportArgs) -> ExitCode {
    let files = match import(&args.inputs) {
        Ok(f) => f,
        Err(errors) => {
            for e in errors {
                eprintln!("error: {e}");
            }
            return ExitCode::from(EXIT_INVALID);
        }
    };
    let prefix = args
        .output
        .as_ref()
        .map_or_else(String::new, |d| format!("{}/", d.display()));
    for f in &files {
        for imp in &f.issuers {
            for note in &imp.notes {
                eprintln!("note: issuer `{}`: {note}", imp.name);
            }
            let path = format!("{prefix}{}", imp.jwt.jwks_file);
            if let Some(cmd) = fetch_command(&imp.keys, &imp.jwt.issuer, &path) {
                eprintln!("note: issuer `{}`: fetch its keys once: {cmd}", imp.name);
            }
            if matches!(imp.keys, Keys::Inline(_)) && args.output.is_none() {
                eprintln!(
                    "note: issuer `{}`: its inline jwks is written to `{}` only with -o DIR",
                    imp.name, imp.jwt.jwks_file
                );
            }
        }
    }
    let Some(dir) = &args.output else {
        let all: Vec<&str> = files.iter().map(|f| f.yaml.as_str()).collect();
        print!("{}", all.join("---\n"));
        return ExitCode::from(EXIT_OK);
    };
    let write = |rel: &str, text: &str| -> Result<(), String> {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create `{}`: {e}", parent.display()))?;
        }
        std::fs::write(&path, text)
            .map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
        eprintln!("wrote {}", path.display());
        Ok(())
    };
    for f in &files {
        let written = write(&f.name, &f.yaml)
            .and_then(|()| f.key_files.iter().try_for_each(|(n, j)| write(n, j)));
        if let Err(e) = written {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    }
    ExitCode::from(EXIT_OK)
}
