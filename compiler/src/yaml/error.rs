//! What the YAML loader refuses, and how it is reported.

use super::node::Span;
use crate::diagnostic::Diagnostic;

/// A YAML text the loader refuses: a syntax error, a duplicate key, an alias, or a document
/// over [`MAX_NODES`](super::MAX_NODES) nodes or [`MAX_DEPTH`](super::MAX_DEPTH) levels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// Diagnostic code: `yaml-syntax`, `yaml-alias` or `yaml-limit`.
    pub code: &'static str,
    /// Where.
    pub span: Span,
    /// What (lowercase).
    pub message: String,
    /// The fix, when it is obvious.
    pub hint: Option<String>,
}

impl SyntaxError {
    /// The error as a diagnostic in `file`.
    pub fn diagnostic(&self, file: &str) -> Diagnostic {
        Diagnostic::error(self.code, file, self.span, self.message.clone())
            .with_hint_opt(self.hint.clone())
    }

    pub(super) fn syntax(span: Span, message: String) -> Self {
        let hint = if message.contains("anchor or alias") {
            "`*` and `&` start a yaml alias or anchor: quote a literal one, e.g. `\"*\"`"
        } else {
            "check the indentation and quoting around this position"
        };
        SyntaxError {
            code: "yaml-syntax",
            span,
            message,
            hint: Some(hint.to_string()),
        }
    }
}
