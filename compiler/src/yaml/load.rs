//! Parsing YAML text into [`Node`]s with positions, from `yaml-rust2`'s marked events, under
//! the [`Limits`] of one document: aliases are refused and nodes and depth are counted as the
//! events arrive, before anything is built from them. [`check_bounds`] runs the same checks
//! alone, for text another reader then parses.

use std::collections::HashSet;

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};
use yaml_rust2::Yaml;

use super::error::SyntaxError;
use super::limits::{Bounds, Limits};
use super::node::{Node, NodeValue, Span};

enum Frame {
    Seq(Vec<Node>, Span),
    Map(MapFrame),
}

struct MapFrame {
    entries: Vec<(Node, Node)>,
    /// Text of every scalar key so far, once the mapping holds more than [`SCAN_KEYS`] entries,
    /// to find duplicates without a quadratic scan (and without a set for every small mapping).
    keys: Option<HashSet<String>>,
    pending: Option<Node>,
    span: Span,
}

/// Up to this many entries, a mapping's keys are compared one by one.
const SCAN_KEYS: usize = 16;

impl MapFrame {
    /// Whether `key` repeats a key already in the mapping (then it is not added).
    fn repeats(&mut self, key: &Node) -> bool {
        if self.keys.is_none() && self.entries.len() < SCAN_KEYS {
            return self.entries.iter().any(|(k, _)| k.same_key(key));
        }
        let Some(text) = key.key_text() else {
            return false;
        };
        let keys = self.keys.get_or_insert_with(|| {
            self.entries
                .iter()
                .filter_map(|(k, _)| k.key_text())
                .collect()
        });
        !keys.insert(text)
    }
}

/// Builds nodes from events that [`Bounds`] has already let through.
struct Builder {
    stack: Vec<Frame>,
    docs: Vec<Node>,
}

fn span_of(m: Marker) -> Span {
    Span {
        line: m.line(),
        column: m.col() + 1,
    }
}

fn scalar(text: String, style: TScalarStyle, tagged_str: bool) -> NodeValue {
    if style != TScalarStyle::Plain || tagged_str {
        return NodeValue::Str(text);
    }
    match Yaml::from_str(&text) {
        Yaml::Integer(i) => NodeValue::Int(i),
        Yaml::Real(r) => r
            .parse::<f64>()
            .map_or(NodeValue::Str(text), NodeValue::Float),
        Yaml::Boolean(b) => NodeValue::Bool(b),
        Yaml::Null => NodeValue::Null,
        _ => NodeValue::Str(text),
    }
}

impl Builder {
    fn push(&mut self, node: Node) -> Result<(), SyntaxError> {
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some(Frame::Seq(items, _)) => items.push(node),
            Some(Frame::Map(map)) => match map.pending.take() {
                None => map.pending = Some(node),
                Some(key) => {
                    if map.repeats(&key) {
                        return Err(SyntaxError::syntax(
                            key.span,
                            format!(
                                "duplicate key `{}` in mapping",
                                key.key_text().unwrap_or_default()
                            ),
                        ));
                    }
                    map.entries.push((key, node));
                }
            },
        }
        Ok(())
    }

    fn on_event(&mut self, ev: Event, span: Span) -> Result<(), SyntaxError> {
        match ev {
            Event::Scalar(text, style, _, tag) => {
                let tagged_str = tag.is_some_and(|t| t.suffix == "str");
                let value = scalar(text, style, tagged_str);
                self.push(Node { value, span })
            }
            Event::SequenceStart(..) => {
                self.stack.push(Frame::Seq(Vec::new(), span));
                Ok(())
            }
            Event::MappingStart(..) => {
                self.stack.push(Frame::Map(MapFrame {
                    entries: Vec::new(),
                    keys: None,
                    pending: None,
                    span,
                }));
                Ok(())
            }
            Event::SequenceEnd | Event::MappingEnd => {
                // Documents stay in memory for their spans: no spare capacity.
                let (value, span) = match self.stack.pop() {
                    Some(Frame::Seq(mut items, span)) => {
                        items.shrink_to_fit();
                        (NodeValue::Seq(items), span)
                    }
                    Some(Frame::Map(mut m)) => {
                        m.entries.shrink_to_fit();
                        (NodeValue::Map(m.entries), m.span)
                    }
                    None => return Ok(()),
                };
                self.push(Node { value, span })
            }
            // Aliases never get here: `Bounds` refuses them.
            Event::Alias(_)
            | Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => Ok(()),
        }
    }
}

/// Parses every document of a YAML text, refusing aliases and documents over
/// [`MAX_NODES`](super::MAX_NODES) nodes or [`MAX_DEPTH`](super::MAX_DEPTH) levels. Empty
/// documents are left out. Stops at the first error.
pub fn parse_documents(text: &str) -> Result<Vec<Node>, SyntaxError> {
    parse_with(text, Limits::DEFAULT)
}

/// Reads every document of a YAML text under the limits of [`parse_documents`] without
/// building anything: `Ok` when it holds no alias, no document over
/// [`MAX_NODES`](super::MAX_NODES) nodes or [`MAX_DEPTH`](super::MAX_DEPTH) levels, and no
/// syntax error. Text that passes is safe to hand to a reader that expands aliases (serde_yaml):
/// it has none, and its size is bounded by its length. Duplicate keys are left to that reader.
pub fn check_bounds(text: &str) -> Result<(), SyntaxError> {
    walk(text, Limits::DEFAULT, |_, _| Ok(()))
}

fn parse_with(text: &str, limits: Limits) -> Result<Vec<Node>, SyntaxError> {
    let mut builder = Builder {
        stack: Vec::new(),
        docs: Vec::new(),
    };
    walk(text, limits, |ev, span| builder.on_event(ev, span))?;
    Ok(builder
        .docs
        .into_iter()
        .filter(|d| d.value != NodeValue::Null)
        .collect())
}

/// Pulls the events of `text` one by one, checks each against `limits`, then hands it to
/// `then`. (Not `Parser::load`: it recurses once per nesting level before any depth could be
/// checked.)
fn walk(
    text: &str,
    limits: Limits,
    mut then: impl FnMut(Event, Span) -> Result<(), SyntaxError>,
) -> Result<(), SyntaxError> {
    let mut bounds = Bounds::new(text, limits);
    let mut parser = Parser::new_from_str(text);
    loop {
        let (ev, mark) = parser.next_token().map_err(|e| {
            SyntaxError::syntax(span_of(*e.marker()), format!("invalid yaml: {}", e.info()))
        })?;
        if ev == Event::StreamEnd {
            return Ok(());
        }
        let span = span_of(mark);
        bounds.check(&ev, span)?;
        then(ev, span)?;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::super::limits::MAX_DEPTH;
    use super::*;

    #[test]
    fn positions_and_types() {
        let docs = parse_documents("a: 1\nb:\n  - x\n  - 'true'\n---\nc: true\n").unwrap();
        assert_eq!(docs.len(), 2);
        let b = docs[0].get("b").unwrap();
        assert_eq!(b.index(1).unwrap().span, Span { line: 4, column: 5 });
        assert_eq!(b.index(1).unwrap().as_str(), Some("true"));
        assert_eq!(docs[0].get("a").unwrap().value, NodeValue::Int(1));
        assert_eq!(docs[1].get("c").unwrap().value, NodeValue::Bool(true));
    }

    #[test]
    fn syntax_errors_and_duplicate_keys_have_positions() {
        let e = parse_documents("a: [1\nb: 2\n").unwrap_err();
        assert!(e.span.line >= 1, "{e:?}");
        let e = parse_documents("a: 1\na: 2\n").unwrap_err();
        assert_eq!(e.span, Span { line: 2, column: 1 });
        assert!(e.message.contains("duplicate key `a`"));
    }

    #[test]
    fn duplicate_keys_are_found_in_large_mappings() {
        let mut text: String = (0..50_000).map(|i| format!("k{i}: {i}\n")).collect();
        text.push_str("k49999: again\n");
        let e = parse_documents(&text).unwrap_err();
        assert_eq!(e.span.line, 50_001);
        assert_eq!(e.message, "duplicate key `k49999` in mapping");
    }

    #[test]
    fn aliases_are_refused_where_they_are_written() {
        let e = parse_documents("a: &x [1, 2]\nb:\n  - 3\n  - *x\n").unwrap_err();
        assert_eq!(e.code, "yaml-alias");
        assert_eq!(e.span, Span { line: 4, column: 5 });
        assert_eq!(e.message, "yaml alias `*x` is not accepted");
        assert!(
            e.hint.as_deref().unwrap().contains("`&x` at line 1"),
            "{e:?}"
        );
        // A merge key is an alias too.
        let e = parse_documents("base: &base {a: 1}\nc:\n  <<: *base\n").unwrap_err();
        assert_eq!((e.code, e.span.line, e.span.column), ("yaml-alias", 3, 7));
        // A long alias name is cut in the message.
        let name = "n".repeat(10_000);
        let e = parse_documents(&format!("a: &{name} 1\nb: *{name}\n")).unwrap_err();
        assert!(e.message.len() < 100, "{}", e.message);
    }

    #[test]
    fn anchors_without_aliases_and_stars_in_scalars_are_plain_values() {
        let text = "\
a: &one 1
namespaces: [\"*\", '*', \"&x\"]
list:
  - '*'
  - \"*\"
  - a*b
  - x &y *z
path: /api/*/v1/**
";
        let docs = parse_documents(text).unwrap();
        let d = &docs[0];
        assert_eq!(d.get("a").unwrap().value, NodeValue::Int(1));
        let ns = d.get("namespaces").unwrap();
        assert_eq!(ns.index(0).unwrap().as_str(), Some("*"));
        assert_eq!(ns.index(1).unwrap().as_str(), Some("*"));
        assert_eq!(ns.index(2).unwrap().as_str(), Some("&x"));
        let list = d.get("list").unwrap();
        let items: Vec<_> = (0..4).map(|i| list.index(i).unwrap().as_str()).collect();
        assert_eq!(items, [Some("*"), Some("*"), Some("a*b"), Some("x &y *z")]);
        assert_eq!(d.get("path").unwrap().as_str(), Some("/api/*/v1/**"));
    }

    #[test]
    fn an_unquoted_star_gets_a_quoting_hint() {
        let e = parse_documents("namespaces: [*]\n").unwrap_err();
        assert_eq!(e.code, "yaml-syntax");
        assert!(e.hint.unwrap().contains("`\"*\"`"));
    }

    #[test]
    fn check_bounds_refuses_what_the_loader_refuses_and_builds_nothing() {
        let alias = "a: &x [1, 2]\nb: [*x]\n";
        assert_eq!(
            check_bounds(alias).unwrap_err(),
            parse_documents(alias).unwrap_err()
        );
        let deep = "- ".repeat(MAX_DEPTH + 1) + "x\n";
        assert_eq!(
            check_bounds(&deep).unwrap_err(),
            parse_documents(&deep).unwrap_err()
        );
        assert_eq!(check_bounds("a: [1\n").unwrap_err().code, "yaml-syntax");
        // Depth starts again in each document.
        let two = "- ".repeat(MAX_DEPTH) + "x\n---\n" + &"- ".repeat(MAX_DEPTH) + "x\n";
        assert!(check_bounds(&two).is_ok());
        // Duplicate keys are the other reader's to judge.
        assert!(check_bounds("a: 1\na: 2\n").is_ok());
    }

    #[test]
    fn nodes_are_counted_per_document() {
        let limits = Limits {
            max_nodes: 8,
            max_depth: 8,
        };
        // The mapping, 2 keys, a scalar, a sequence and its 3 items: 8 nodes, at the limit.
        let eight = "a: 1\nb: [1, 2, 3]\n";
        assert_eq!(parse_with(eight, limits).unwrap().len(), 1);
        // The limit is per document.
        assert_eq!(
            parse_with(&format!("{eight}---\n{eight}"), limits)
                .unwrap()
                .len(),
            2
        );
        let e = parse_with("a: 1\nb: [1, 2, 3, 4]\n", limits).unwrap_err();
        assert_eq!(e.code, "yaml-limit");
        assert_eq!(
            e.span,
            Span {
                line: 2,
                column: 14
            }
        );
        assert_eq!(e.message, "yaml document holds more than 8 nodes");
    }

    #[test]
    fn nesting_is_bounded_before_the_parser_recurses() {
        let limits = Limits {
            max_nodes: 1_000,
            max_depth: 3,
        };
        assert!(parse_with("a:\n  b: [1]\n", limits).is_ok());
        let e = parse_with("a:\n  b: [[1]]\n", limits).unwrap_err();
        assert_eq!(
            (e.code, e.span),
            ("yaml-limit", Span { line: 2, column: 7 })
        );
        assert_eq!(e.message, "yaml nested deeper than 3 levels");
        // Block sequences nest two characters a level: 200,000 levels in 400 KB, far past what
        // `Parser::load` could recurse through.
        let deep = "- ".repeat(200_000) + "x\n";
        let e = parse_documents(&deep).unwrap_err();
        assert_eq!(e.code, "yaml-limit");
        assert_eq!(e.span.column, 2 * MAX_DEPTH + 1);
    }
}
