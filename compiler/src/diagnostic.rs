//! Diagnostics a policy author sees: what is wrong, where (file, line, column of the offending
//! value), and the fix where it is obvious. Rendered for humans (rustc style, with the source
//! line) or as JSON (`--error-format json`).

mod source;

use std::fmt::{self, Write as _};

use serde::Serialize;

pub use source::{attach_sources, SourceLine};

/// A position in a source file (1-based line and column; 0 when unknown).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The policy does not compile.
    Error,
    /// The policy compiles, but something is probably not what the author meant.
    Warning,
}

/// One problem found in a policy directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Stable kebab-case code (`unknown-role`, `duplicate-declaration`, …).
    pub code: &'static str,
    /// Lowercase, no trailing period, user input in backticks.
    pub message: String,
    /// File relative to the policy directory (empty when the problem has no file).
    pub file: String,
    /// 1-based line (0 when unknown).
    pub line: usize,
    /// 1-based column (0 when unknown).
    pub column: usize,
    /// One-line suggestion, when the fix is obvious.
    pub hint: Option<Box<str>>,
    /// The source line the position points into (cut around the column when long), for the
    /// human rendering; see [`attach_sources`].
    #[serde(skip)]
    pub source_line: Option<Box<SourceLine>>,
}

impl Diagnostic {
    /// An error at `span` in `file`.
    pub fn error(code: &'static str, file: &str, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            file: file.to_string(),
            line: span.line,
            column: span.column,
            hint: None,
            source_line: None,
        }
    }

    /// A warning at `span` in `file`.
    pub fn warning(code: &'static str, file: &str, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, file, span, message)
        }
    }

    /// Adds a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into().into_boxed_str());
        self
    }

    /// Adds a hint when there is one.
    pub fn with_hint_opt(mut self, hint: Option<String>) -> Self {
        self.hint = hint.map(String::into_boxed_str);
        self
    }

    /// Whether this is an error.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// `file:line:column`, or the parts of it that are known.
    pub fn location(&self) -> String {
        match (self.file.is_empty(), self.line) {
            (true, _) => String::new(),
            (false, 0) => self.file.clone(),
            (false, l) => format!("{}:{l}:{}", self.file, self.column),
        }
    }
}

impl fmt::Display for Diagnostic {
    /// The human rendering:
    ///
    /// ```text
    /// error[unknown-role]: unknown role `develper`
    ///  --> bindings/models.yaml:7:9
    ///   |
    /// 7 |   role: develper
    ///   |         ^^^^^^^^
    ///   = hint: did you mean `developer`?
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        writeln!(f, "{sev}[{}]: {}", self.code, self.message)?;
        let gutter = " ".repeat(self.line.to_string().len());
        let loc = self.location();
        if !loc.is_empty() {
            writeln!(f, "{gutter}--> {loc}")?;
        }
        if let (Some(shown), true) = (&self.source_line, self.line > 0 && self.column > 0) {
            let width = token_width(&shown.text, shown.column);
            let (before, after) = (
                if shown.cut_before { "…" } else { "" },
                if shown.cut_after { "…" } else { "" },
            );
            writeln!(f, "{gutter} |")?;
            writeln!(f, "{} | {before}{}{after}", self.line, shown.text)?;
            let pad: String = before
                .chars()
                .chain(shown.text.chars().take(shown.column))
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            writeln!(f, "{gutter} | {pad}{}", "^".repeat(width))?;
        }
        if let Some(h) = &self.hint {
            writeln!(f, "{gutter} = hint: {h}")?;
        }
        Ok(())
    }
}

/// Width of the token starting at char column `col`: a quoted scalar up to its closing quote,
/// else up to the next whitespace, `#`, `,`, `]` or `}` (a key up to its `:`).
fn token_width(line: &str, col: usize) -> usize {
    let rest: Vec<char> = line.chars().skip(col).collect();
    let n = match rest.first() {
        Some(q @ ('"' | '\'')) => rest[1..]
            .iter()
            .position(|c| c == q)
            .map_or(rest.len(), |p| p + 2),
        _ => rest
            .iter()
            .position(|c| c.is_whitespace() || matches!(c, '#' | ',' | ']' | '}'))
            .unwrap_or(rest.len()),
    };
    let n = if rest.get(n.saturating_sub(1)) == Some(&':') && n > 1 {
        n - 1
    } else {
        n
    };
    n.max(1)
}

/// Renders diagnostics for humans, followed by a summary line.
pub fn render_human(diags: &[Diagnostic]) -> String {
    let mut out = String::new();
    for d in diags {
        let _ = writeln!(out, "{d}");
    }
    let errors = diags.iter().filter(|d| d.is_error()).count();
    let warnings = diags.len() - errors;
    let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    if errors > 0 {
        let _ = writeln!(
            out,
            "error: policy does not compile: {}, {}",
            plural(errors, "error"),
            plural(warnings, "warning")
        );
    } else if warnings > 0 {
        let _ = writeln!(out, "warning: {}", plural(warnings, "warning"));
    }
    out
}

/// Renders the warnings of a policy that `--deny-warnings` fails, for humans: each warning,
/// then `error: 2 warnings, and --deny-warnings is set`.
pub fn render_denied_warnings(warnings: &[Diagnostic]) -> String {
    let mut out = String::new();
    for d in warnings {
        let _ = writeln!(out, "{d}");
    }
    let n = warnings.len();
    let s = if n == 1 { "" } else { "s" };
    let _ = writeln!(out, "error: {n} warning{s}, and --deny-warnings is set");
    out
}

/// Renders diagnostics as a JSON array of `{severity, code, message, file, line, column, hint}`.
pub fn render_json(diags: &[Diagnostic]) -> String {
    serde_json::to_string_pretty(diags).unwrap_or_else(|_| "[]".to_string()) + "\n"
}

/// Sorts diagnostics by file, line, column, then severity and message.
pub fn sort(diags: &mut [Diagnostic]) {
    diags.sort_by(|a, b| {
        (&a.file, a.line, a.column, a.severity, &a.message)
            .cmp(&(&b.file, b.line, b.column, b.severity, &b.message))
    });
}

/// Edit distance between two strings (optimal string alignment: insertions, deletions,
/// substitutions and transpositions of neighbours each cost 1).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

/// The closest candidate to `input`, when one is close enough to be a typo
/// (distance at most a third of the input's length, and at least 1).
pub fn closest<'a, I>(input: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let limit = (input.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (edit_distance(&input.to_lowercase(), &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, c)| c)
}

/// The hint "did you mean `x`?" for the closest candidate, if any.
pub fn did_you_mean<'a, I>(input: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = &'a str>,
{
    closest(input, candidates).map(|c| format!("did you mean `{c}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_get_suggestions() {
        assert_eq!(edit_distance("develper", "developer"), 1);
        assert_eq!(edit_distance("lsit", "list"), 1);
        assert_eq!(
            closest("develper", ["admin", "developer", "read_only"]),
            Some("developer")
        );
        assert_eq!(closest("zzz", ["admin", "developer"]), None);
    }

    #[test]
    fn token_width_stops_at_the_token_end() {
        assert_eq!(token_width("  role: develper # x", 8), 8);
        assert_eq!(token_width("  role: \"a b\"", 8), 5);
        assert_eq!(token_width("  rol: x", 2), 3);
    }

    #[test]
    fn json_carries_no_source_line() {
        let line = "x".repeat(200_000);
        let mut d = Diagnostic::error("invalid-value", "f.yaml", Span { line: 1, column: 9 }, "x");
        d.source_line = Some(Box::new(SourceLine::new(&line, 8)));
        let json = render_json(&[d]);
        assert!(json.len() < 300, "{json}");
    }
}
