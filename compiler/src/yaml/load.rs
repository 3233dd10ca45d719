//! Parsing YAML text into [`Node`]s with positions, from `yaml-rust2`'s marked events.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};
use yaml_rust2::Yaml;

use super::node::{Node, NodeValue, Span};

/// A YAML syntax error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// Where.
    pub span: Span,
    /// What (lowercase).
    pub message: String,
}

enum Frame {
    Seq(Vec<Node>, Span, usize),
    Map(Vec<(Node, Node)>, Option<Node>, Span, usize),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    docs: Vec<Node>,
    anchors: HashMap<usize, Node>,
    error: Option<SyntaxError>,
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
    fn push(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some(Frame::Seq(items, _, _)) => items.push(node),
            Some(Frame::Map(entries, pending, _, _)) => match pending.take() {
                None => *pending = Some(node),
                Some(key) => {
                    let text = key.key_text();
                    if text.is_some() && entries.iter().any(|(k, _)| k.key_text() == text) {
                        if self.error.is_none() {
                            self.error = Some(SyntaxError {
                                span: key.span,
                                message: format!(
                                    "duplicate key `{}` in mapping",
                                    text.unwrap_or_default()
                                ),
                            });
                        }
                    } else {
                        entries.push((key, node));
                    }
                }
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let span = span_of(mark);
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                let tagged_str = tag.is_some_and(|t| t.suffix == "str");
                let value = scalar(text, style, tagged_str);
                self.push(Node { value, span }, anchor);
            }
            Event::SequenceStart(anchor, _) => {
                self.stack.push(Frame::Seq(Vec::new(), span, anchor))
            }
            Event::MappingStart(anchor, _) => {
                self.stack.push(Frame::Map(Vec::new(), None, span, anchor));
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (value, span, anchor) = match self.stack.pop() {
                    Some(Frame::Seq(items, span, a)) => (NodeValue::Seq(items), span, a),
                    Some(Frame::Map(entries, _, span, a)) => (NodeValue::Map(entries), span, a),
                    None => return,
                };
                self.push(Node { value, span }, anchor);
            }
            Event::Alias(id) => {
                let value = self
                    .anchors
                    .get(&id)
                    .map_or(NodeValue::Null, |n| n.value.clone());
                self.push(Node { value, span }, 0);
            }
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
        }
    }
}

/// Parses every document of a YAML text. Empty documents are left out.
pub fn parse_documents(text: &str) -> Result<Vec<Node>, SyntaxError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut builder, true) {
        let m = e.marker();
        return Err(SyntaxError {
            span: span_of(*m),
            message: format!("invalid yaml: {}", e.info()),
        });
    }
    if let Some(e) = builder.error {
        return Err(e);
    }
    Ok(builder
        .docs
        .into_iter()
        .filter(|d| d.value != NodeValue::Null)
        .collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
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
}
