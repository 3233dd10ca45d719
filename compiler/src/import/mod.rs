//! `gatehouse import`: existing Istio `RequestAuthentication` resources (their `jwtRules`)
//! turned into Gatehouse `Issuer` declarations. Inline `jwks` become key files beside the
//! YAML; a `jwksUri` becomes a note with the command that fetches the keys once into `keys/`
//! (Gatehouse never fetches keys at request time). Whatever Gatehouse does differently from
//! Istio is a note: a comment in the output and a line on standard error. An input file that
//! cannot be read or imported is reported and skipped; the others are imported as usual, and
//! the command exits 1 with a summary naming the skipped files.

pub mod jwks;
pub mod rule;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::Serialize;
use serde_json::Value;

use crate::compile::iss_key;
use crate::exit::{EXIT_FAILURE, EXIT_INVALID, EXIT_OK};
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

/// What [`import`] made of its inputs. An input file imports whole or not at all: a file that
/// cannot be read, or holds a rule that cannot become an Issuer, is skipped, and the others
/// are imported as if it were not there.
#[derive(Debug, Clone, Default)]
pub struct Import {
    /// The imported RequestAuthentications, one file each, in input order.
    pub files: Vec<ImportedFile>,
    /// Every problem, one line each: `` `file[:line:column]`: why ``.
    pub errors: Vec<String>,
    /// The inputs left out because of a problem, as given.
    pub skipped: Vec<String>,
}

/// Names the imported files and issuers have taken so far, and each issuer URL's Issuer.
#[derive(Debug, Clone, Default)]
struct Taken {
    issuer_names: BTreeSet<String>,
    file_names: BTreeSet<String>,
    issuers: BTreeMap<String, String>,
}

/// Reads every RequestAuthentication under `inputs` and translates its rules, skipping (and
/// reporting) each file that cannot be read or translated.
pub fn import(inputs: &[PathBuf]) -> Import {
    let mut out = Import::default();
    let mut taken = Taken::default();
    let mut found = false;
    for path in yaml_files(inputs, &mut out) {
        let file = path.display().to_string();
        let resources: Vec<Value> = match crate::crd::read_documents(&path) {
            Ok(docs) => docs
                .into_iter()
                .flat_map(list_items)
                .filter(|d| d.get("kind").and_then(Value::as_str) == Some("RequestAuthentication"))
                .collect(),
            Err(e) => {
                out.errors.push(e);
                out.skipped.push(file);
                continue;
            }
        };
        found |= !resources.is_empty();
        // The names a skipped file would have taken stay free for the files after it.
        let mut tentative = taken.clone();
        match import_file(&file, &resources, &mut tentative) {
            Ok(files) => {
                taken = tentative;
                out.files.extend(files);
            }
            Err(errors) => {
                out.errors.extend(errors);
                out.skipped.push(file);
            }
        }
    }
    if !found && out.errors.is_empty() {
        out.errors
            .push("no RequestAuthentication found in the inputs".into());
    }
    out
}

/// The RequestAuthentications of one input file; the error lists every rule that cannot be
/// imported.
fn import_file(
    file: &str,
    resources: &[Value],
    taken: &mut Taken,
) -> Result<Vec<ImportedFile>, Vec<String>> {
    let mut errors = Vec::new();
    let mut files = Vec::new();
    for doc in resources {
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
            let name = unique(&mut taken.issuer_names, &dns_label(&base));
            let origin = Origin {
                file: file.to_string(),
                resource: format!("{ns}/{ra_name}"),
                index: i,
                selector: selector.clone(),
            };
            match translate(r, &name, origin) {
                Ok(imp) => {
                    // As `compile`: one issuer per `iss` for bearer tokens, one for access tokens.
                    let key = iss_key(&imp.jwt.issuer, imp.jwt.bearer);
                    match taken.issuers.get(&key) {
                        Some(first) => errors.push(format!(
                            "`{file}`: {ns}/{ra_name} jwtRules[{i}]: issuer `{}` is already imported as `{first}`; Gatehouse issuers are unique: merge their audiences there",
                            imp.jwt.issuer
                        )),
                        None => {
                            taken.issuers.insert(key, name);
                            issuers.push(imp);
                        }
                    }
                }
                Err(e) => errors.push(format!("`{file}`: {ns}/{ra_name} jwtRules[{i}]: {e}")),
            }
        }
        if issuers.is_empty() {
            continue;
        }
        let file_name = unique(&mut taken.file_names, &dns_label(ra_name)) + ".yaml";
        files.push(render(file_name, file, &issuers));
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

/// The YAML files of `inputs`, directories searched in name order; a directory that cannot be
/// read is an error and a skipped input.
fn yaml_files(inputs: &[PathBuf], import: &mut Import) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>, import: &mut Import) {
        let mut entries: Vec<PathBuf> = match std::fs::read_dir(dir) {
            Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
            Err(e) => {
                import.errors.push(format!("`{}`: {e}", dir.display()));
                import.skipped.push(dir.display().to_string());
                return;
            }
        };
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out, import);
            } else if p.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    for input in inputs {
        if input.is_dir() {
            walk(input, &mut out, import);
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

/// Runs `gatehouse import`: the issuers of every file that imports, written as without
/// errors; then, when a file was skipped, a summary naming it and exit 1.
pub fn run(args: &ImportArgs) -> ExitCode {
    let Import {
        files,
        errors,
        skipped,
    } = import(&args.inputs);
    for e in &errors {
        eprintln!("error: {e}");
    }
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
        return finish(&errors, &skipped, files.len());
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
    finish(&errors, &skipped, files.len())
}

/// The exit code, after a summary of the skipped inputs when the output is partial (when
/// nothing was imported, the errors above say all there is).
fn finish(errors: &[String], skipped: &[String], imported: usize) -> ExitCode {
    if !skipped.is_empty() && imported > 0 {
        let list: Vec<String> = skipped.iter().map(|s| format!("`{s}`")).collect();
        let plural = if skipped.len() == 1 { "" } else { "s" };
        eprintln!(
            "error: skipped {} input{plural}: {}; the output holds the issuers of the other inputs only; fix these and import again",
            skipped.len(),
            list.join(", ")
        );
    }
    ExitCode::from(if errors.is_empty() {
        EXIT_OK
    } else {
        EXIT_INVALID
    })
}
