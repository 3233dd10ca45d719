//! Key files beside the policy: reading them, their expiry, and which algorithms a key fits.

use std::path::{Component, Path, PathBuf};

use gatehouse_filter::table::PublicJwk;
use gatehouse_filter::token::encoding::shown;

use super::validate::format_time;
use super::Ctx;
use crate::diagnostic::Diagnostic;
use crate::model::issuer::Algorithm;
use crate::yaml::{Document, Step};

/// Keys that expire within this many seconds get a warning.
pub const EXPIRY_WARNING: u64 = 30 * 24 * 60 * 60;

/// A key file's text and its path relative to the policy directory.
pub(crate) struct KeyFile {
    pub text: String,
    pub source: String,
}

/// `value` (relative to the YAML file `doc.file`) as a lexically normalized path relative to
/// the policy directory (`../` kept where it leaves it).
pub(crate) fn relative_to_root(doc_file: &str, value: &str) -> String {
    let mut parts: Vec<String> = Vec::new();
    let base = Path::new(doc_file)
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    for c in base.join(value).components() {
        match c {
            Component::ParentDir => {
                if parts.last().is_some_and(|p| p != "..") {
                    parts.pop();
                } else {
                    parts.push("..".into());
                }
            }
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    parts.join("/")
}

/// Reads the key file named at `at` in `doc`; a missing file is reported there.
pub(crate) fn read(ctx: &mut Ctx<'_>, doc: &Document, at: &[Step], value: &str) -> Option<KeyFile> {
    let source = relative_to_root(&doc.file, value);
    let path: PathBuf = if Path::new(value).is_absolute() {
        PathBuf::from(value)
    } else {
        ctx.root.join(&source)
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(KeyFile { text, source }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            ctx.report(
                doc.error("missing-key-file", at, format!("key file `{value}` not found"))
                    .with_hint(format!(
                        "the path is relative to `{}`; it resolves to `{source}` in the policy directory",
                        doc.file
                    )),
            );
            None
        }
        Err(e) => {
            ctx.report(doc.error(
                "missing-key-file",
                at,
                format!("cannot read key file `{value}`: {e}"),
            ));
            None
        }
    }
}

/// The label of a PEM document (`PUBLIC KEY`, `RSA PRIVATE KEY`), when `text` is one.
pub(crate) fn pem_label(text: &str) -> Option<&str> {
    let rest = text.trim_start().strip_prefix("-----BEGIN ")?;
    rest.split_once("-----").map(|(label, _)| label)
}

/// Whether a PEM label is a private key's (`PRIVATE KEY`, `EC PRIVATE KEY`, `ENCRYPTED
/// PRIVATE KEY`, `OPENSSH PRIVATE KEY`).
pub(crate) fn is_private(label: &str) -> bool {
    label.contains("PRIVATE KEY")
}

/// The error for a private key named at `at`: refused whatever else is wrong, and never read
/// further.
pub(crate) fn private_key(
    doc: &Document,
    at: &[Step],
    value: &str,
    label: &str,
    fix: &str,
) -> Diagnostic {
    doc.error(
        "private-key",
        at,
        format!(
            "`{value}` is a PRIVATE key (`-----BEGIN {}-----`): never put a private key in a policy",
            shown(label)
        ),
    )
    .with_hint(format!(
        "{fix}, and replace this key if it was ever committed or shared"
    ))
}

/// The error for a PEM document given as `jwksFile`, which must be a JWKS.
fn pem_as_jwks(doc: &Document, at: &[Step], value: &str, label: &str) -> Diagnostic {
    let what = match label {
        "PUBLIC KEY" | "RSA PUBLIC KEY" => "a PEM public key".to_string(),
        "CERTIFICATE" => "a PEM certificate".to_string(),
        other => format!("a PEM document (`-----BEGIN {}-----`)", shown(other)),
    };
    doc.error(
        "malformed-key",
        at,
        format!("`jwksFile` must be a JWKS (JSON); `{value}` is {what}"),
    )
    .with_hint(
        "point `jwksFile` at the issuer's JWKS, saved from its `jwks_uri` (named in `<issuer>/.well-known/openid-configuration`); a lone key must be written as a JWK in `{\"keys\": [...]}`, with its `kid`",
    )
}

/// Reads the `jwksFile` named at `at`. A PEM there is reported for what it is (a private key
/// above all), rather than as JSON that fails on its first line.
pub(crate) fn read_jwks(
    ctx: &mut Ctx<'_>,
    doc: &Document,
    at: &[Step],
    value: &str,
) -> Option<KeyFile> {
    let file = read(ctx, doc, at, value)?;
    match pem_label(&file.text) {
        Some(label) if is_private(label) => {
            let fix = "give the issuer's public JWKS (from its `jwks_uri`)";
            ctx.report(private_key(doc, at, value, label, fix));
            None
        }
        Some(label) => {
            ctx.report(pem_as_jwks(doc, at, value, label));
            None
        }
        None => Some(file),
    }
}

/// Reports a key that has expired (error) or expires within 30 days (warning).
pub(crate) fn check_expiry(
    ctx: &mut Ctx<'_>,
    doc: &Document,
    at: &[Step],
    kid: &str,
    not_after: u64,
) {
    if not_after <= ctx.now {
        ctx.report(
            doc.error(
                "expired-key",
                at,
                format!("key `{kid}` expired at {}", format_time(not_after)),
            )
            .with_hint("remove the key, or replace it with its successor"),
        );
    } else if not_after - ctx.now < EXPIRY_WARNING {
        ctx.report(doc.warning(
            "expiring-key",
            at,
            format!(
                "key `{kid}` expires at {}, within 30 days",
                format_time(not_after)
            ),
        ));
    }
}

/// Whether a key can verify signatures of algorithm `alg`.
pub(crate) fn fits(jwk: &PublicJwk, alg: Algorithm) -> bool {
    match jwk {
        PublicJwk::Rsa { .. } => alg.fits_jwk("RSA", None),
        PublicJwk::Ec { crv, .. } => alg.fits_jwk("EC", Some(crv)),
        PublicJwk::Okp { crv, .. } => alg.fits_jwk("OKP", Some(crv)),
    }
}

/// A short description of a key's type, for messages.
pub(crate) fn describe(jwk: &PublicJwk) -> String {
    match jwk {
        PublicJwk::Rsa { .. } => "RSA".into(),
        PublicJwk::Ec { crv, .. } => format!("EC {crv}"),
        PublicJwk::Okp { crv, .. } => format!("OKP {crv}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_paths_are_relative_to_the_policy_dir() {
        assert_eq!(
            relative_to_root("issuers.yaml", "../testdata/keys/a.json"),
            "../testdata/keys/a.json"
        );
        assert_eq!(
            relative_to_root("sub/issuers.yaml", "../keys/a.pem"),
            "keys/a.pem"
        );
        assert_eq!(
            relative_to_root("sub/issuers.yaml", "./k/a.pem"),
            "sub/k/a.pem"
        );
    }
}
