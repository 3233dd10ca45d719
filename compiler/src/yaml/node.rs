//! A YAML value that remembers where each of its parts was written.

use std::borrow::Cow;

use serde_json::{Map, Number, Value};

pub use crate::diagnostic::Span;

/// A YAML value.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeValue {
    /// `null`, `~` or nothing.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float (kept as written).
    Float(f64),
    /// A string.
    Str(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in source order: (key, value).
    Map(Vec<(Node, Node)>),
}

/// A YAML value with the position where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The value.
    pub value: NodeValue,
    /// Where it starts.
    pub span: Span,
}

/// One step of a path into a [`Node`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A mapping key (borrowed when written in the code, as most are).
    Key(Cow<'static, str>),
    /// A sequence index.
    Index(usize),
}

impl Node {
    /// The string, if this is a string scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            NodeValue::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value of key `key`, if this is a mapping holding it.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.get_entry(key).map(|(_, v)| v)
    }

    /// The (key, value) entry for `key`.
    pub fn get_entry(&self, key: &str) -> Option<(&Node, &Node)> {
        match &self.value {
            NodeValue::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.is_key(key))
                .map(|(k, v)| (k, v)),
            _ => None,
        }
    }

    /// Item `i`, if this is a sequence.
    pub fn index(&self, i: usize) -> Option<&Node> {
        match &self.value {
            NodeValue::Seq(items) => items.get(i),
            _ => None,
        }
    }

    /// The text of a scalar used as a mapping key.
    pub fn key_text(&self) -> Option<String> {
        match &self.value {
            NodeValue::Str(s) => Some(s.clone()),
            NodeValue::Int(i) => Some(i.to_string()),
            NodeValue::Float(f) => Some(f.to_string()),
            NodeValue::Bool(b) => Some(b.to_string()),
            NodeValue::Null => Some("null".to_string()),
            NodeValue::Seq(_) | NodeValue::Map(_) => None,
        }
    }

    /// Whether this scalar, as a mapping key, reads `key` (as [`Node::key_text`] writes it).
    pub fn is_key(&self, key: &str) -> bool {
        match &self.value {
            NodeValue::Str(s) => s == key,
            _ => self.key_text().as_deref() == Some(key),
        }
    }

    /// Whether two mapping keys read the same (their [`Node::key_text`]s are equal).
    pub fn same_key(&self, other: &Node) -> bool {
        match &other.value {
            NodeValue::Str(s) => self.is_key(s),
            _ => other.key_text().is_some_and(|k| self.is_key(&k)),
        }
    }

    /// Follows `path` as far as it goes; returns the deepest node reached.
    /// With `key_of_last`, a final mapping step points at the key instead of the value.
    pub fn find(&self, path: &[Step], key_of_last: bool) -> &Node {
        let mut cur = self;
        for (i, step) in path.iter().enumerate() {
            let last = i + 1 == path.len();
            let next = match step {
                Step::Key(k) => cur
                    .get_entry(k)
                    .map(|(key, value)| if last && key_of_last { key } else { value }),
                Step::Index(n) => cur.index(*n),
            };
            match next {
                Some(n) => cur = n,
                None => break,
            }
        }
        cur
    }

    /// Span of the value at `path` (or the deepest part of it that exists).
    pub fn span_at(&self, path: &[Step]) -> Span {
        self.find(path, false).span
    }

    /// The plain JSON form, for serde.
    pub fn to_json(&self) -> Value {
        match &self.value {
            NodeValue::Null => Value::Null,
            NodeValue::Bool(b) => Value::Bool(*b),
            NodeValue::Int(i) => Value::Number((*i).into()),
            NodeValue::Float(f) => Number::from_f64(*f).map_or(Value::Null, Value::Number),
            NodeValue::Str(s) => Value::String(s.clone()),
            NodeValue::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeValue::Map(entries) => {
                let mut m = Map::new();
                for (k, v) in entries {
                    m.insert(k.key_text().unwrap_or_default(), v.to_json());
                }
                Value::Object(m)
            }
        }
    }
}

/// Builds a path from `a.b[2].c`-like steps.
#[macro_export]
macro_rules! path {
    ($($s:expr),* $(,)?) => {
        &[$($crate::yaml::IntoStep::into_step($s)),*][..]
    };
}

/// Anything that can be a path step (`&str` keys, `usize` indexes).
pub trait IntoStep {
    /// The step.
    fn into_step(self) -> Step;
}

impl IntoStep for &'static str {
    fn into_step(self) -> Step {
        Step::Key(Cow::Borrowed(self))
    }
}

impl IntoStep for &String {
    fn into_step(self) -> Step {
        Step::Key(Cow::Owned(self.clone()))
    }
}

impl IntoStep for usize {
    fn into_step(self) -> Step {
        Step::Index(self)
    }
}
