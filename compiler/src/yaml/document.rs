//! One policy object's YAML ([`Document`]) and where it came from. A document holds its tree of
//! [`Node`]s while it is being decoded; a decoded object's document can [`Document::release`]
//! the tree and read it again from the file's text when a diagnostic needs a span, so a policy
//! of a million objects does not keep a million trees for the few diagnostics it may have.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use super::node::{Node, NodeValue, Span, Step};
use super::{decode, parse_documents};
use crate::diagnostic::Diagnostic;

/// One policy object: a YAML document (or one item of a `kind: List`) and where it came from.
#[derive(Debug, Clone)]
pub struct Document {
    /// File relative to the policy directory, `/`-separated.
    pub file: String,
    /// Where the object starts.
    start: Span,
    /// The object's tree, until it is released.
    node: Option<Node>,
    /// Where to read the tree again, when it can be.
    origin: Option<Origin>,
}

/// Where a document's tree is read again: the file's text, the document's position among the
/// text's (non-empty) documents, then the position in each `List`'s `items` that leads to it.
#[derive(Debug, Clone)]
struct Origin {
    text: Arc<str>,
    at: Vec<usize>,
}

impl Document {
    /// A document that holds its tree.
    pub fn new(file: String, node: Node) -> Document {
        Document {
            file,
            start: node.span,
            node: Some(node),
            origin: None,
        }
    }

    /// Document number `index` of `text` (as [`parse_documents`] numbers them): it can release
    /// its tree.
    pub fn in_text(file: String, node: Node, text: Arc<str>, index: usize) -> Document {
        Document {
            origin: Some(Origin {
                text,
                at: vec![index],
            }),
            ..Document::new(file, node)
        }
    }

    /// Item `index` of this document's `items` (a `List`), which is `node`.
    pub fn item(&self, node: Node, index: usize) -> Document {
        let origin = self.origin.as_ref().map(|o| Origin {
            text: Arc::clone(&o.text),
            at: o.at.iter().copied().chain([index]).collect(),
        });
        Document {
            origin,
            ..Document::new(self.file.clone(), node)
        }
    }

    /// The tree, while the document holds it.
    pub fn node(&self) -> Option<&Node> {
        self.node.as_ref()
    }

    /// Drops the tree when it can be read again from the file's text; spans are then found
    /// there (the same text parsed the same way: the same spans).
    pub fn release(&mut self) {
        if self.origin.is_some() {
            self.node = None;
        }
    }

    /// `f` of the tree: the one held, or the one read again from the text (`None` only if
    /// the text no longer parses, which a text that parsed once cannot do).
    fn with_node<R>(&self, f: impl FnOnce(Option<&Node>) -> R) -> R {
        match (&self.node, &self.origin) {
            (Some(node), _) => f(Some(node)),
            (None, Some(origin)) => {
                let docs = reread(&origin.text);
                let mut at = origin.at.iter();
                let first = at.next().and_then(|&i| docs.as_deref()?.get(i));
                f(at.fold(first, |node, &i| node?.get("items")?.index(i)))
            }
            (None, None) => f(None),
        }
    }

    /// Span of the value at `path`.
    pub fn span(&self, path: &[Step]) -> Span {
        if path.is_empty() {
            return self.start;
        }
        self.with_node(|node| node.map_or(self.start, |n| n.span_at(path)))
    }

    /// An error at the value at `path`.
    pub fn error(&self, code: &'static str, path: &[Step], msg: impl Into<String>) -> Diagnostic {
        Diagnostic::error(code, &self.file, self.span(path), msg)
    }

    /// A warning at the value at `path`.
    pub fn warning(&self, code: &'static str, path: &[Step], msg: impl Into<String>) -> Diagnostic {
        Diagnostic::warning(code, &self.file, self.span(path), msg)
    }

    /// `<file>:<line>`, the form grant and route sources take.
    pub fn source_at(&self, path: &[Step]) -> String {
        format!("{}:{}", self.file, self.span(path).line)
    }

    /// Decodes the whole object into `T`; errors point at the offending value.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, Diagnostic> {
        let empty = Node {
            value: NodeValue::Null,
            span: self.start,
        };
        self.with_node(|node| decode(&self.file, node.unwrap_or(&empty)))
    }
}

/// A text read again, and its documents.
type Reread = (Arc<str>, Rc<Vec<Node>>);

thread_local! {
    /// The last text read again and its documents: the diagnostics of one file's objects come
    /// one after another, and read it once.
    static LAST_READ: RefCell<Option<Reread>> = const { RefCell::new(None) };
}

/// The documents of `text`, parsed again (or found in the last one read).
fn reread(text: &Arc<str>) -> Option<Rc<Vec<Node>>> {
    LAST_READ.with(|last| {
        let mut last = last.borrow_mut();
        if let Some((t, docs)) = last.as_ref() {
            if Arc::ptr_eq(t, text) {
                return Some(Rc::clone(docs));
            }
        }
        let docs = Rc::new(parse_documents(text).ok()?);
        *last = Some((Arc::clone(text), Rc::clone(&docs)));
        Some(docs)
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::path;

    #[test]
    fn a_released_document_finds_the_same_spans_in_its_text() {
        let text: Arc<str> =
            "a: 1\n---\nkind: List\nitems:\n  - x: 1\n  - kind: K\n    y:\n      - z\n".into();
        let docs = parse_documents(&text).unwrap();
        let list = Document::in_text("f.yaml".into(), docs[1].clone(), Arc::clone(&text), 1);
        let item = list.item(docs[1].get("items").unwrap().index(1).unwrap().clone(), 1);
        let paths = [
            path![],
            path!["y"],
            path!["y", 0],
            path!["kind"],
            path!["nope"],
        ];
        let held: Vec<Span> = paths.iter().map(|p| item.span(p)).collect();
        let mut released = item.clone();
        released.release();
        assert!(released.node().is_none());
        let again: Vec<Span> = paths.iter().map(|p| released.span(p)).collect();
        assert_eq!(held, again);
        assert_eq!(again[2], Span { line: 8, column: 9 });
        // Without a text to read again, a document keeps its tree.
        let mut own = Document::new("f.yaml".into(), docs[0].clone());
        own.release();
        assert!(own.node().is_some());
    }
}
