//! The source line shown under a diagnostic: found through a line index built once per file,
//! and cut to a window around the column when it is long, so that neither the memory a
//! diagnostic holds nor its rendering grows with the line (a generated file may put 200 KB and
//! thousands of diagnostics on one line).

use std::collections::HashMap;

use super::Diagnostic;

/// Most characters of a source line shown under a diagnostic, `…` marks included.
const SHOWN_CHARS: usize = 120;

/// Characters kept before the column when a long line is cut.
const SHOWN_BEFORE: usize = 40;

/// The part of a source line shown under a diagnostic: the whole line when it is short, else
/// 120 characters around the column (`…` marks included), cut at char boundaries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLine {
    /// The shown text, without the `…` marks.
    pub text: Box<str>,
    /// The diagnostic's char column (0-based) within `text`.
    pub column: usize,
    /// Whether the line goes on before `text` (shown as `…`).
    pub cut_before: bool,
    /// Whether the line goes on after `text` (shown as `…`).
    pub cut_after: bool,
}

impl SourceLine {
    /// What to show of `line` for a position at char column `column` (0-based).
    pub fn new(line: &str, column: usize) -> Self {
        Self::cut(line, LineFacts::of(line), column)
    }

    fn cut(line: &str, facts: LineFacts, column: usize) -> Self {
        if facts.chars <= SHOWN_CHARS {
            return SourceLine {
                text: line.into(),
                column,
                cut_before: false,
                cut_after: false,
            };
        }
        // Room for the line's text once both `…` marks are in.
        let room = SHOWN_CHARS - 2;
        let column = column.min(facts.chars);
        let end = (column.saturating_sub(SHOWN_BEFORE) + room).min(facts.chars);
        let start = end - room;
        let byte = |chars: usize| {
            if facts.ascii {
                chars
            } else {
                line.char_indices()
                    .nth(chars)
                    .map_or(line.len(), |(i, _)| i)
            }
        };
        SourceLine {
            text: line[byte(start)..byte(end)].into(),
            column: column - start,
            cut_before: start > 0,
            cut_after: end < facts.chars,
        }
    }
}

/// What cutting a line needs to know of all of it; counted once per line.
#[derive(Debug, Clone, Copy)]
struct LineFacts {
    /// Length in chars.
    chars: usize,
    /// Whether every char is one byte.
    ascii: bool,
}

impl LineFacts {
    fn of(line: &str) -> Self {
        LineFacts {
            chars: line.chars().count(),
            ascii: line.is_ascii(),
        }
    }
}

/// Where each line of a text starts, and the facts of each long line asked for so far.
struct Lines<'a> {
    text: &'a str,
    starts: Vec<usize>,
    facts: HashMap<usize, LineFacts>,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Lines {
            text,
            starts,
            facts: HashMap::new(),
        }
    }

    /// Line `n` (1-based), without its line break, as `str::lines` gives it.
    fn get(&self, n: usize) -> Option<&'a str> {
        let start = *self.starts.get(n.checked_sub(1)?)?;
        if start == self.text.len() {
            return None;
        }
        let end = self.starts.get(n).map_or(self.text.len(), |next| next - 1);
        let line = self.text.get(start..end)?;
        Some(line.strip_suffix('\r').unwrap_or(line))
    }

    /// What to show of line `n` for char column `column` (0-based).
    fn show(&mut self, n: usize, column: usize) -> Option<SourceLine> {
        let line = self.get(n)?;
        let facts = *self.facts.entry(n).or_insert_with(|| LineFacts::of(line));
        Some(SourceLine::cut(line, facts, column))
    }
}

/// Attaches to each diagnostic the [`SourceLine`] it points into; `source` gives a file's text
/// (by the file name diagnostics carry). Each file is indexed once, each line measured once.
pub fn attach_sources<'a>(diags: &mut [Diagnostic], source: impl Fn(&str) -> Option<&'a str>) {
    let mut files: HashMap<String, Option<Lines<'a>>> = HashMap::new();
    for d in diags.iter_mut().filter(|d| d.line > 0) {
        if !files.contains_key(&d.file) {
            files.insert(d.file.clone(), source(&d.file).map(Lines::new));
        }
        d.source_line = files
            .get_mut(&d.file)
            .and_then(Option::as_mut)
            .and_then(|lines| lines.show(d.line, d.column.saturating_sub(1)))
            .map(Box::new);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::diagnostic::Span;

    /// The source line and caret line of a rendered diagnostic.
    fn shown(d: &Diagnostic) -> (String, String) {
        let text = d.to_string();
        let lines: Vec<&str> = text.lines().collect();
        (lines[3].to_string(), lines[4].to_string())
    }

    fn at(line: &str, column: usize) -> Diagnostic {
        let span = Span { line: 7, column };
        let mut d = Diagnostic::error("invalid-namespace", "f.yaml", span, "bad");
        d.source_line = Some(Box::new(SourceLine::new(line, column - 1)));
        d
    }

    #[test]
    fn short_lines_are_shown_whole() {
        let (src, caret) = shown(&at("  role: develper # x", 9));
        assert_eq!(src, "7 |   role: develper # x");
        assert_eq!(caret, "  |         ^^^^^^^^");
    }

    #[test]
    fn long_lines_are_cut_around_the_column() {
        // 200 KB on one line, multi-byte characters around the offending value.
        let before = "é".repeat(100_000);
        let line = format!("namespaces: [{before}, BAD_NS, {}]", "ü".repeat(100_000));
        let column = "namespaces: [".len() + 100_000 + 2 + 1;
        let (src, caret) = shown(&at(&line, column));
        assert!(src.chars().count() <= "7 | ".len() + SHOWN_CHARS, "{src}");
        assert!(src.starts_with("7 | …é") && src.ends_with("ü…"), "{src}");
        let offset = caret.chars().position(|c| c == '^').unwrap();
        let under: String = src.chars().skip(offset).take(6).collect();
        assert_eq!(under, "BAD_NS");
        assert_eq!(caret.trim_end().len() - offset, "BAD_NS".len());
        // Near either end, the window keeps to the line.
        let (src, caret) = shown(&at(&line, 14));
        assert!(src.starts_with("7 | namespaces: [ééé") && src.ends_with('…'));
        assert_eq!(caret.find('^'), Some("  | namespaces: [".len()));
        let end = line.chars().count();
        let (src, caret) = shown(&at(&line, end));
        assert!(src.starts_with("7 | …") && src.ends_with("üü]"), "{src}");
        assert_eq!(caret.chars().count(), src.chars().count());
        // A column past the end of the line puts the caret just after it.
        let (src, caret) = shown(&at(&line, end + 50));
        assert_eq!(caret.chars().count(), src.chars().count() + 1);
    }

    #[test]
    fn lines_are_found_as_str_lines_finds_them() {
        let text = "a\r\nbb\n\nccc";
        let lines = Lines::new(text);
        let got: Vec<_> = (1..=5).map(|n| lines.get(n)).collect();
        assert_eq!(got, [Some("a"), Some("bb"), Some(""), Some("ccc"), None]);
        assert_eq!(Lines::new("a\n").get(2), None);
        assert_eq!(lines.get(0), None);
    }

    #[test]
    fn many_diagnostics_on_one_long_line_stay_small() {
        let line = "x, ".repeat(70_000);
        let text = format!("first\n{line}\n");
        let mut diags: Vec<Diagnostic> = (0..20_000)
            .map(|i| {
                let span = Span {
                    line: 2,
                    column: 3 * i + 1,
                };
                Diagnostic::error("invalid-value", "f.yaml", span, "bad")
            })
            .collect();
        attach_sources(&mut diags, |file| {
            (file == "f.yaml").then_some(text.as_str())
        });
        let kept: usize = diags
            .iter()
            .map(|d| d.source_line.as_ref().unwrap().text.len())
            .sum();
        assert!(kept <= 20_000 * SHOWN_CHARS, "{kept}");
        assert!(diags[1].to_string().contains("2 | x, x,"));
    }
}
