//! What one YAML document may hold, and the errors for what it may not: no aliases, at most
//! [`MAX_NODES`] nodes, at most [`MAX_DEPTH`] levels of nesting. [`Bounds`] checks these on the
//! parser's event stream, before anything is built from an event, so hostile YAML costs time
//! and memory in proportion to its length. Every YAML text the compiler reads passes it: policy
//! files through the loader, imported and validated manifests before serde_yaml sees them.

use std::collections::HashMap;

use yaml_rust2::parser::Event;

use super::error::SyntaxError;
use super::node::Span;

/// Most nodes one document may hold: every scalar (mapping keys included), sequence and mapping
/// counts one. A `kubectl get -o yaml` export is about 70 nodes per RoleBinding and 120 per
/// Profile (with `managedFields`): one `kind: List` of 10,000 Profiles (1.2 million) fits three
/// times over, one of 50,000 RoleBindings (3.5 million) once; bigger exports are split over
/// files, as `bench/` writes them (1,000 objects a file). Reading a document at the limit takes
/// about 500 MB.
pub const MAX_NODES: usize = 4_000_000;

/// Deepest nesting of sequences and mappings in one document: serde_json's own recursion limit,
/// several times deeper than Kubernetes objects nest (`managedFields` rarely pass 20). It bounds
/// the recursion of everything that walks a node (conversion to JSON, decoding, drop).
pub const MAX_DEPTH: usize = 128;

/// Longest anchor name quoted in a message.
const MAX_NAME: usize = 64;

/// The limits one document is read under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Limits {
    /// Most nodes one document may hold.
    pub(super) max_nodes: usize,
    /// Deepest nesting of sequences and mappings.
    pub(super) max_depth: usize,
}

impl Limits {
    /// The limits every YAML text the compiler reads is held to.
    pub(super) const DEFAULT: Limits = Limits {
        max_nodes: MAX_NODES,
        max_depth: MAX_DEPTH,
    };
}

/// One YAML text's events checked against [`Limits`] as the parser hands them over: aliases
/// refused, nodes and nesting counted per document.
pub(super) struct Bounds<'a> {
    text: &'a str,
    limits: Limits,
    /// Nodes in the current document.
    nodes: usize,
    /// Sequences and mappings open around the current event.
    depth: usize,
    /// Where each anchored value starts, for the message when an alias names it.
    anchors: HashMap<usize, Span>,
}

impl<'a> Bounds<'a> {
    /// Bounds for the events of `text`.
    pub(super) fn new(text: &'a str, limits: Limits) -> Self {
        Bounds {
            text,
            limits,
            nodes: 0,
            depth: 0,
            anchors: HashMap::new(),
        }
    }

    /// Checks the event `ev`, which starts at `span`, before anything is built from it.
    pub(super) fn check(&mut self, ev: &Event, span: Span) -> Result<(), SyntaxError> {
        match ev {
            Event::Scalar(_, _, anchor, _) => {
                self.count(span)?;
                self.anchor(*anchor, span);
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                self.count(span)?;
                if self.depth >= self.limits.max_depth {
                    return Err(too_deep(span, self.limits.max_depth));
                }
                self.depth += 1;
                self.anchor(*anchor, span);
            }
            Event::SequenceEnd | Event::MappingEnd => self.depth = self.depth.saturating_sub(1),
            // INVARIANT: an alias is never expanded, so a document's nodes are never more than
            // the nodes written in it (the "billion laughs" shape cannot grow).
            Event::Alias(id) => {
                return Err(alias_refused(
                    self.text,
                    span,
                    self.anchors.get(id).copied(),
                ))
            }
            Event::DocumentStart => {
                self.nodes = 0;
                self.depth = 0;
                self.anchors.clear();
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
        }
        Ok(())
    }

    /// Counts one more node of the document, starting at `span`.
    fn count(&mut self, span: Span) -> Result<(), SyntaxError> {
        self.nodes += 1;
        if self.nodes > self.limits.max_nodes {
            return Err(too_many_nodes(span, self.limits.max_nodes));
        }
        Ok(())
    }

    fn anchor(&mut self, anchor: usize, span: Span) {
        if anchor > 0 {
            self.anchors.insert(anchor, span);
        }
    }
}

/// An alias (`*name`) at `span` of `text`; `anchored` is where the value it names starts.
fn alias_refused(text: &str, span: Span, anchored: Option<Span>) -> SyntaxError {
    let name = alias_name(text, span);
    let anchor = match anchored {
        Some(at) => format!(" at line {}", at.line),
        None => String::new(),
    };
    SyntaxError {
        code: "yaml-alias",
        span,
        message: format!("yaml alias `*{name}` is not accepted"),
        hint: Some(format!(
            "Gatehouse reads no yaml aliases (`kubectl` never writes them): write out in full the value anchored as `&{name}`{anchor}"
        )),
    }
}

/// The node at `span` is one more than `max` in its document.
fn too_many_nodes(span: Span, max: usize) -> SyntaxError {
    SyntaxError {
        code: "yaml-limit",
        span,
        message: format!("yaml document holds more than {max} nodes"),
        hint: Some(format!(
            "a document may hold at most {max} nodes (keys, values and items): split it over several documents or files"
        )),
    }
}

/// The sequence or mapping at `span` is nested one level deeper than `max`.
fn too_deep(span: Span, max: usize) -> SyntaxError {
    SyntaxError {
        code: "yaml-limit",
        span,
        message: format!("yaml nested deeper than {max} levels"),
        hint: Some(format!(
            "a document may nest at most {max} sequences and mappings"
        )),
    }
}

/// The name of the alias written at `span` (after its `*`), cut to [`MAX_NAME`] characters.
fn alias_name(text: &str, span: Span) -> String {
    let line = text.lines().nth(span.line.saturating_sub(1)).unwrap_or("");
    let mut rest = line.chars().skip(span.column.saturating_sub(1));
    if rest.clone().next() == Some('*') {
        rest.next();
    }
    // Anchor names end at whitespace or a flow indicator, as the scanner reads them.
    let mut name: String = rest
        .take_while(|c| !c.is_whitespace() && !matches!(c, ',' | '[' | ']' | '{' | '}'))
        .take(MAX_NAME + 1)
        .collect();
    if name.chars().count() > MAX_NAME {
        name = name.chars().take(MAX_NAME).collect::<String>() + "…";
    }
    name
}
