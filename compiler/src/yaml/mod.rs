//! Spanned YAML loading: policy files → documents whose every value knows its file, line and
//! column, and serde decoding whose errors point at the offending value. Loading is bounded:
//! no aliases, and at most [`MAX_NODES`] nodes and [`MAX_DEPTH`] levels per document;
//! [`check_bounds`] holds YAML that another reader parses (serde_yaml, for manifests) to the
//! same bounds.

mod document;
mod error;
mod limits;
mod load;
mod node;

use serde::de::DeserializeOwned;

pub use document::Document;
pub use error::SyntaxError;
pub use limits::{MAX_DEPTH, MAX_NODES};
pub use load::{check_bounds, parse_documents};
pub use node::{IntoStep, Node, NodeValue, Span, Step};

use crate::diagnostic::{did_you_mean, Diagnostic};

/// Decodes `node` into `T` with serde; a failure becomes a diagnostic at the offending value,
/// with a did-you-mean hint for unknown fields and values.
pub fn decode<T: DeserializeOwned>(file: &str, node: &Node) -> Result<T, Diagnostic> {
    serde_path_to_error::deserialize(node.to_json()).map_err(|e| {
        let path: Vec<Step> = e
            .path()
            .iter()
            .filter_map(|seg| match seg {
                serde_path_to_error::Segment::Map { key } => Some(Step::Key(key.clone().into())),
                serde_path_to_error::Segment::Seq { index } => Some(Step::Index(*index)),
                _ => None,
            })
            .collect();
        serde_error(file, node, &path, &e.inner().to_string())
    })
}

/// Words in backticks after `expected` in a serde message.
fn expected_words(msg: &str) -> Vec<&str> {
    let Some(i) = msg.find("expected") else {
        return Vec::new();
    };
    msg[i..].split('`').skip(1).step_by(2).collect()
}

/// The backticked input at the start of a serde message (`unknown field `x`, …`).
fn first_word(msg: &str) -> &str {
    msg.split('`').nth(1).unwrap_or_default()
}

fn serde_error(file: &str, node: &Node, path: &[Step], msg: &str) -> Diagnostic {
    let expected = expected_words(msg);
    let list = expected
        .iter()
        .map(|w| format!("`{w}`"))
        .collect::<Vec<_>>()
        .join(", ");
    if msg.starts_with("unknown field") {
        let word = first_word(msg);
        let span = node.find(path, true).span;
        let hint = did_you_mean(word, expected.iter().copied())
            .or_else(|| (!list.is_empty()).then(|| format!("expected one of {list}")));
        Diagnostic::error(
            "unknown-field",
            file,
            span,
            format!("unknown field `{word}`"),
        )
        .with_hint_opt(hint)
    } else if msg.starts_with("unknown variant") {
        let word = first_word(msg);
        let never =
            word.eq_ignore_ascii_case("none") || word.to_ascii_uppercase().starts_with("HS");
        let hint = if never {
            Some(format!(
                "`{word}` is never accepted: tokens are verified with public keys only; expected one of {list}"
            ))
        } else {
            did_you_mean(word, expected.iter().copied())
                .or_else(|| (!list.is_empty()).then(|| format!("expected one of {list}")))
        };
        Diagnostic::error(
            "unknown-value",
            file,
            node.span_at(path),
            format!("unknown value `{word}`"),
        )
        .with_hint_opt(hint)
    } else if msg.starts_with("missing field") {
        Diagnostic::error("missing-field", file, node.span_at(path), msg.to_string())
    } else {
        let at = path
            .iter()
            .map(|s| match s {
                Step::Key(k) => format!(".{k}"),
                Step::Index(i) => format!("[{i}]"),
            })
            .collect::<String>();
        let msg = if at.is_empty() {
            msg.to_string()
        } else {
            format!("{msg} at `{}`", at.trim_start_matches('.'))
        };
        Diagnostic::error("invalid-value", file, node.span_at(path), msg)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Spec {
        user_header: Option<String>,
        items: Option<Vec<Item>>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Item {
        name: String,
    }

    #[test]
    fn unknown_fields_point_at_the_key_with_a_suggestion() {
        let docs = parse_documents("items:\n  - name: a\n  - nme: b\n").unwrap();
        let e = decode::<Spec>("f.yaml", &docs[0]).unwrap_err();
        assert_eq!((e.line, e.column), (3, 5));
        assert_eq!(e.message, "unknown field `nme`");
        assert_eq!(e.hint.as_deref(), Some("did you mean `name`?"));
        let docs = parse_documents("userHeadr: x\n").unwrap();
        let e = decode::<Spec>("f.yaml", &docs[0]).unwrap_err();
        assert_eq!(e.hint.as_deref(), Some("did you mean `userHeader`?"));
    }

    #[test]
    fn type_errors_point_at_the_value() {
        let docs = parse_documents("items:\n  - name: [1]\n").unwrap();
        let e = decode::<Spec>("f.yaml", &docs[0]).unwrap_err();
        assert_eq!((e.line, e.column), (2, 11));
        assert_eq!(e.code, "invalid-value");
    }
}
