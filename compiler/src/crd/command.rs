//! `gatehouse validate-manifest --crd CRD.yaml FILE.yaml...`: checks Kubernetes resources
//! against the CRDs that define them, offline, as the API server would on create.

use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::Value;

use super::{read_documents, CrdSet};
use crate::exit::{EXIT_INVALID, EXIT_OK};

/// Arguments of `gatehouse validate-manifest`.
#[derive(Debug, clap::Args)]
pub struct ValidateManifestArgs {
    /// A file of CustomResourceDefinitions (e.g. `kubectl get crd wasmplugins.extensions.istio.io
    /// -o yaml`, or Istio's all-in-one CRD file); repeat for more files. Each resource is checked
    /// against the CRD of its group and kind.
    #[arg(long, required = true)]
    pub crd: Vec<PathBuf>,
    /// YAML files of resources (several documents each allowed).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// Runs `gatehouse validate-manifest`: 0 when every resource passes, 1 otherwise.
pub fn run(args: &ValidateManifestArgs) -> ExitCode {
    let crds = match CrdSet::read(&args.crd) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: --crd {e}");
            return ExitCode::from(EXIT_INVALID);
        }
    };
    let (mut checked, mut failed) = (0usize, 0usize);
    for file in &args.files {
        let docs = match read_documents(file) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("error: {e}");
                failed += 1;
                continue;
            }
        };
        for doc in docs {
            checked += 1;
            let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("");
            let name = doc
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("");
            let at = format!("{}: {kind} `{name}`", file.display());
            let crd = match crds.crd_for(&doc) {
                Ok(crd) => crd,
                Err(e) => {
                    eprintln!("error: {at}: {e}");
                    failed += 1;
                    continue;
                }
            };
            let violations = crd.validate(&doc);
            if !violations.is_empty() {
                failed += 1;
            }
            for v in violations {
                eprintln!("error: {at}: {v}");
            }
        }
    }
    let plural = if checked == 1 { "" } else { "s" };
    eprintln!("{checked} resource{plural} checked, {failed} refused");
    ExitCode::from(if failed == 0 { EXIT_OK } else { EXIT_INVALID })
}
