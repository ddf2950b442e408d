//! The one place that knows the YAML crates: parsing to values, (de)serializing configs, and
//! finding the line and column of a key path in the source text (serde_yaml values keep no
//! positions, so errors found after merging are located again in the text).

use serde::{de::DeserializeOwned, Serialize};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

pub use serde_yaml::{Mapping, Value};

/// A position in the source, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

/// One step of a key path: a mapping key or a sequence index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

pub fn parse_value(src: &str) -> Result<Value, (String, Option<Pos>)> {
    serde_yaml::from_str(src).map_err(|e| split_error(&e))
}

pub fn from_str<T: DeserializeOwned>(src: &str) -> Result<T, (String, Option<Pos>)> {
    serde_yaml::from_str(src).map_err(|e| split_error(&e))
}

pub fn to_string<T: Serialize>(value: &T) -> String {
    serde_yaml::to_string(value).expect("config types always serialize to YAML")
}

pub fn to_value<T: Serialize>(value: &T) -> Value {
    serde_yaml::to_value(value).expect("config types always serialize to a YAML value")
}

/// A scalar given on the command line (`--set key=VALUE`), typed as YAML would type it.
pub fn parse_scalar(text: &str) -> Result<Value, String> {
    serde_yaml::from_str(text).map_err(|e| e.to_string())
}

fn split_error(e: &serde_yaml::Error) -> (String, Option<Pos>) {
    let pos = e.location().map(|l| Pos {
        line: l.line(),
        col: l.column(),
    });
    // serde_yaml appends " at line X column Y"; the position is reported separately.
    let text = e.to_string();
    let text = match text.find(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    };
    (text, pos)
}

/// A YAML node with the position of its first character.
#[derive(Debug)]
enum Node {
    Scalar(String, Pos),
    Seq(Vec<Node>, Pos),
    Map(Vec<(Node, Node)>, Pos),
}

impl Node {
    fn pos(&self) -> Pos {
        match self {
            Node::Scalar(_, p) | Node::Seq(_, p) | Node::Map(_, p) => *p,
        }
    }
}

/// A collection being read: a mapping keeps its key until the value arrives.
enum Frame {
    Seq(Vec<Node>, Pos),
    Map(Vec<(Node, Node)>, Option<Node>, Pos),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    root: Option<Node>,
}

fn pos_of(mark: Marker) -> Pos {
    Pos {
        line: mark.line(),
        col: mark.col() + 1,
    }
}

impl Builder {
    fn push_done(&mut self, node: Node) {
        match self.stack.last_mut() {
            Some(Frame::Seq(items, _)) => items.push(node),
            Some(Frame::Map(entries, pending, _)) => match pending.take() {
                Some(key) => entries.push((key, node)),
                None => *pending = Some(node),
            },
            None => self.root = Some(node),
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::Scalar(s, ..) => self.push_done(Node::Scalar(s, pos_of(mark))),
            Event::SequenceStart(..) => self.stack.push(Frame::Seq(Vec::new(), pos_of(mark))),
            Event::MappingStart(..) => self.stack.push(Frame::Map(Vec::new(), None, pos_of(mark))),
            Event::SequenceEnd | Event::MappingEnd => {
                let node = match self.stack.pop() {
                    Some(Frame::Seq(items, p)) => Node::Seq(items, p),
                    Some(Frame::Map(entries, _, p)) => Node::Map(entries, p),
                    None => return,
                };
                self.push_done(node)
            }
            Event::Alias(_) => self.push_done(Node::Scalar(String::new(), pos_of(mark))),
            _ => {}
        }
    }
}

/// Positions of key paths in one YAML document.
pub struct Locator {
    root: Option<Node>,
}

impl Locator {
    pub fn new(src: &str) -> Locator {
        let mut builder = Builder::default();
        let mut parser = Parser::new_from_str(src);
        // A document that does not parse has been reported by serde_yaml already.
        let _ = parser.load(&mut builder, false);
        Locator { root: builder.root }
    }

    /// The position of the deepest node on `path` that exists: the key itself for a mapping
    /// entry (where an unknown key is reported), the element for a sequence index.
    pub fn locate(&self, path: &[Seg]) -> Option<Pos> {
        let mut node = self.root.as_ref()?;
        let mut pos = node.pos();
        for seg in path {
            let next = match (node, seg) {
                (Node::Map(entries, _), Seg::Key(k)) => entries
                    .iter()
                    .find(|(key, _)| matches!(key, Node::Scalar(s, _) if s == k))
                    .map(|(key, value)| (key.pos(), value)),
                (Node::Seq(items, _), Seg::Index(i)) => items.get(*i).map(|n| (n.pos(), n)),
                _ => None,
            };
            match next {
                Some((p, child)) => {
                    pos = p;
                    node = child;
                }
                None => break,
            }
        }
        Some(pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> Seg {
        Seg::Key(s.into())
    }

    #[test]
    fn locates_nested_keys_and_indices() {
        let src = "name: x\nbase:\n  train: {iterations: 5}\nvariants:\n  - name: a\n    set:\n      loss.reg: {kind: l2}\n";
        let loc = Locator::new(src);
        assert_eq!(loc.locate(&[key("base")]), Some(Pos { line: 2, col: 1 }));
        assert_eq!(
            loc.locate(&[key("base"), key("train"), key("iterations")]),
            Some(Pos { line: 3, col: 11 })
        );
        assert_eq!(
            loc.locate(&[
                key("variants"),
                Seg::Index(0),
                key("set"),
                key("loss.reg"),
                key("kind")
            ]),
            Some(Pos { line: 7, col: 18 })
        );
        // A missing key falls back to its deepest existing ancestor.
        assert_eq!(
            loc.locate(&[key("base"), key("train"), key("nope")]),
            Some(Pos { line: 3, col: 3 })
        );
    }
}
