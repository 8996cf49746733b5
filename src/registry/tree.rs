//! A small YAML document tree that remembers where every node came from (line
//! and column), built from yaml-rust2's parser events. The registry validator
//! walks it so that every error can point at the exact spot; serde_yaml alone
//! loses positions. Runs inside `registry::load` on the caller's thread.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};

use crate::model::text;
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A position in the source, both 1-based (the way editors count).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

impl From<Marker> for Pos {
    fn from(m: Marker) -> Self {
        // yaml-rust2 counts lines from 1 and columns from 0.
        Pos {
            line: m.line().max(1),
            col: m.col() + 1,
        }
    }
}

/// A resolved YAML value (YAML 1.2 core schema for plain scalars).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    /// A float, kept as written (the registry has no float fields).
    Float(String),
    Str(String),
    Seq(Vec<Node>),
    /// Entries in file order; keys are nodes so that they keep positions.
    Map(Vec<(Node, Node)>),
}

/// A value and where it starts.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub value: Value,
    pub pos: Pos,
}

impl Node {
    /// How the value's type reads in an error message ("found a list").
    pub fn type_name(&self) -> &'static str {
        match self.value {
            Value::Null => "nothing (null)",
            Value::Bool(_) => "a boolean",
            Value::Int(_) | Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a map",
        }
    }

    /// The text of a scalar that can stand for a string: strings and numbers
    /// (`dockerfile: 2` is a file name), not booleans or null.
    pub fn as_text(&self) -> Option<String> {
        match &self.value {
            Value::Str(s) | Value::Float(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            _ => None,
        }
    }
}

/// Why a document could not be parsed: the scanner's message, where, and the
/// key path that was open at that point (`api.image`).
#[derive(Clone, Debug, PartialEq)]
pub struct SyntaxError {
    pub pos: Pos,
    pub path: String,
    pub message: String,
}

/// At most this many values in a document, counting each alias as the
/// values it stands for: a registry of 300 services is about 6,000, and an
/// alias bomb ("billion laughs") is refused long before it costs anything.
pub const MAX_VALUES: usize = 100_000;
/// At most this many bytes of scalar text, aliases counted as expanded.
pub const MAX_TEXT: usize = 8 << 20;
/// At most this deep (maps and lists inside each other).
pub const MAX_DEPTH: usize = 64;

/// Parse `text` into a positioned tree. `Ok(None)` for an empty document.
/// Only the first document of a stream is read. Bounded: a document past
/// [`MAX_VALUES`], [`MAX_TEXT`] or [`MAX_DEPTH`] is refused where it
/// crosses the bound, before the work it asks for is done.
pub fn parse(text: &str) -> Result<Option<Node>, SyntaxError> {
    if text.len() > MAX_TEXT {
        return Err(SyntaxError {
            pos: Pos { line: 1, col: 1 },
            path: String::new(),
            message: format!(
                "the file is {} bytes; at most {MAX_TEXT} are read",
                text.len()
            ),
        });
    }
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    // Events are pulled one at a time (yaml-rust2's own `load` recurses per
    // nesting level), so that the first bound crossed ends the parse.
    loop {
        let (ev, mark) = match parser.next_token() {
            Ok(next) => next,
            Err(err) => {
                return Err(SyntaxError {
                    pos: Pos::from(*err.marker()),
                    path: builder.open_path(),
                    message: err.info().to_string(),
                })
            }
        };
        let end = matches!(ev, Event::DocumentEnd | Event::StreamEnd);
        builder.on_event(ev, mark);
        if let Some(err) = builder.error.take() {
            return Err(err);
        }
        if end {
            break;
        }
    }
    Ok(builder.root.filter(|n| n.value != Value::Null))
}

/// A container being built.
enum Frame {
    Seq {
        items: Vec<Node>,
        pos: Pos,
        anchor: usize,
        size: Size,
    },
    Map {
        entries: Vec<(Node, Node)>,
        key: Option<Node>,
        pos: Pos,
        anchor: usize,
        size: Size,
    },
}

/// What a subtree costs: values and scalar bytes, aliases expanded.
#[derive(Clone, Copy, Default)]
struct Size {
    values: usize,
    bytes: usize,
}

impl Frame {
    fn size_mut(&mut self) -> &mut Size {
        match self {
            Frame::Seq { size, .. } | Frame::Map { size, .. } => size,
        }
    }
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    anchors: HashMap<usize, (Node, Size)>,
    root: Option<Node>,
    error: Option<SyntaxError>,
    /// Everything built so far, aliases expanded.
    total: Size,
}

impl Builder {
    /// The key path of the value being parsed: map keys, and list indices of
    /// the lists that hold an unfinished container.
    fn open_path(&self) -> String {
        let mut path = String::new();
        let last = self.stack.len().saturating_sub(1);
        for (i, frame) in self.stack.iter().enumerate() {
            match frame {
                Frame::Map { key: Some(k), .. } => {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    // A key is untrusted text like any other.
                    path.push_str(&text::line(&k.as_text().unwrap_or_else(|| "?".into())));
                }
                Frame::Seq { items, .. } if i < last => {
                    path.push_str(&format!("[{}]", items.len()));
                }
                _ => {}
            }
        }
        path
    }

    /// Count `add` against the document's bounds; false (with the error
    /// set) when it crosses one.
    fn spend(&mut self, add: Size, pos: Pos, what: &str) -> bool {
        self.total.values += add.values;
        self.total.bytes += add.bytes;
        let over = if self.total.values > MAX_VALUES {
            Some(format!("more than {MAX_VALUES} values"))
        } else if self.total.bytes > MAX_TEXT {
            Some(format!("more than {MAX_TEXT} bytes of text"))
        } else {
            None
        };
        match over {
            None => true,
            Some(over) => {
                self.fail(
                    pos,
                    format!(
                        "{what} makes the document hold {over}; \
                         is it an alias bomb? Write the values out, or alias less"
                    ),
                );
                false
            }
        }
    }

    fn fail(&mut self, pos: Pos, message: String) {
        if self.error.is_none() {
            self.error = Some(SyntaxError {
                pos,
                path: self.open_path(),
                message,
            });
        }
    }

    fn finish(&mut self, node: Node, anchor: usize, size: Size) {
        if anchor != 0 {
            self.anchors.insert(anchor, (node.clone(), size));
        }
        if let Some(frame) = self.stack.last_mut() {
            let s = frame.size_mut();
            s.values += size.values;
            s.bytes += size.bytes;
        }
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => *key = Some(node),
                Some(k) => entries.push((k, node)),
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let pos = Pos::from(mark);
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                let size = Size {
                    values: 1,
                    bytes: text.len(),
                };
                if !self.spend(size, pos, "this value") {
                    return;
                }
                let is_str_tag = tag.as_ref().is_some_and(|t| t.suffix == "str");
                let value = if style == TScalarStyle::Plain && !is_str_tag {
                    resolve_plain(text)
                } else {
                    Value::Str(text)
                };
                self.finish(Node { value, pos }, anchor, size);
            }
            Event::SequenceStart(..) | Event::MappingStart(..) if self.stack.len() >= MAX_DEPTH => {
                self.fail(
                    pos,
                    format!("nested more than {MAX_DEPTH} levels deep; a registry needs a handful"),
                );
            }
            Event::SequenceStart(anchor, _) => {
                if self.spend(
                    Size {
                        values: 1,
                        bytes: 0,
                    },
                    pos,
                    "this list",
                ) {
                    self.stack.push(Frame::Seq {
                        items: Vec::new(),
                        pos,
                        anchor,
                        size: Size {
                            values: 1,
                            bytes: 0,
                        },
                    })
                }
            }
            Event::MappingStart(anchor, _) => {
                if self.spend(
                    Size {
                        values: 1,
                        bytes: 0,
                    },
                    pos,
                    "this map",
                ) {
                    self.stack.push(Frame::Map {
                        entries: Vec::new(),
                        key: None,
                        pos,
                        anchor,
                        size: Size {
                            values: 1,
                            bytes: 0,
                        },
                    })
                }
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor, size) = match self.stack.pop() {
                    Some(Frame::Seq {
                        items,
                        pos,
                        anchor,
                        size,
                    }) => (
                        Node {
                            value: Value::Seq(items),
                            pos,
                        },
                        anchor,
                        size,
                    ),
                    Some(Frame::Map {
                        entries,
                        pos,
                        anchor,
                        size,
                        ..
                    }) => (
                        Node {
                            value: Value::Map(entries),
                            pos,
                        },
                        anchor,
                        size,
                    ),
                    None => return,
                };
                self.finish(node, anchor, size);
            }
            Event::Alias(id) => match self.anchors.get(&id).map(|(_, size)| *size) {
                Some(size) => {
                    // Counted before it is copied: a bomb is never built.
                    if !self.spend(size, pos, "this alias") {
                        return;
                    }
                    // The alias stands where it is written, for error positions.
                    let node = Node {
                        value: self.anchors[&id].0.value.clone(),
                        pos,
                    };
                    self.finish(node, 0, size);
                }
                None => self.fail(pos, "alias to an unknown anchor".into()),
            },
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
        }
    }
}

/// Resolve a plain (unquoted) scalar the way YAML 1.2's core schema does.
fn resolve_plain(text: String) -> Value {
    match text.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Ok(i) = text.parse::<i64>() {
        return Value::Int(i);
    }
    if let Some(hex) = text.strip_prefix("0x") {
        if let Ok(i) = i64::from_str_radix(hex, 16) {
            return Value::Int(i);
        }
    }
    if let Some(oct) = text.strip_prefix("0o") {
        if let Ok(i) = i64::from_str_radix(oct, 8) {
            return Value::Int(i);
        }
    }
    let is_special_float = matches!(
        text.as_str(),
        ".inf" | "+.inf" | "-.inf" | ".Inf" | ".INF" | ".nan" | ".NaN" | ".NAN"
    );
    // Rust accepts "inf"/"nan" as floats; YAML does not, so require a digit.
    if is_special_float || (text.bytes().any(|b| b.is_ascii_digit()) && text.parse::<f64>().is_ok())
    {
        return Value::Float(text);
    }
    Value::Str(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(node: &Node) -> &Vec<(Node, Node)> {
        match &node.value {
            Value::Map(m) => m,
            other => panic!("not a map: {other:?}"),
        }
    }

    #[test]
    fn positions_are_one_based() {
        let root = parse("api:\n   image: x\n").unwrap().unwrap();
        let (k, v) = &map(&root)[0];
        assert_eq!(k.pos, Pos { line: 1, col: 1 });
        let (ik, iv) = &map(v)[0];
        assert_eq!(ik.pos, Pos { line: 2, col: 4 });
        assert_eq!(iv.pos, Pos { line: 2, col: 11 });
        assert_eq!(iv.value, Value::Str("x".into()));
    }

    #[test]
    fn scalars_resolve_by_core_schema() {
        let root = parse("a: true\nb: 12\nc: '12'\nd:\ne: 1.5\nf: no\ng: !!str 3\n")
            .unwrap()
            .unwrap();
        let values: Vec<Value> = map(&root).iter().map(|(_, v)| v.value.clone()).collect();
        assert_eq!(
            values,
            vec![
                Value::Bool(true),
                Value::Int(12),
                Value::Str("12".into()),
                Value::Null,
                Value::Float("1.5".into()),
                Value::Str("no".into()),
                Value::Str("3".into()),
            ]
        );
    }

    #[test]
    fn aliases_copy_their_anchor() {
        let root = parse("a: &x {n: 1}\nb: *x\n").unwrap().unwrap();
        assert_eq!(map(&root)[0].1.value, map(&root)[1].1.value);
    }

    #[test]
    fn syntax_error_names_open_path() {
        let err = parse("api:\n  image: [unclosed\n").unwrap_err();
        assert_eq!(err.path, "api.image");
        assert!(err.pos.line >= 2, "{err:?}");
    }

    fn laughs(levels: usize) -> String {
        let names: Vec<String> = (0..=levels).map(|i| format!("l{i}")).collect();
        let mut doc = format!("{}: &{} [x, x, x, x, x, x, x, x, x]\n", names[0], names[0]);
        for w in names.windows(2) {
            let refs = vec![format!("*{}", w[0]); 9].join(", ");
            doc.push_str(&format!("{}: &{} [{refs}]\n", w[1], w[1]));
        }
        doc
    }

    #[test]
    fn an_alias_bomb_is_refused_where_it_crosses_the_bound() {
        let started = std::time::Instant::now();
        let err = parse(&laughs(9)).unwrap_err();
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        assert!(err.message.contains("alias bomb"), "{err:?}");
        // 9^5 values cross 100,000 at the sixth line's aliases.
        assert_eq!(err.pos.line, 6, "{err:?}");
        assert_eq!(err.path, "l5");
        // Small alias use is fine.
        assert!(parse(&laughs(3)).is_ok());
    }

    #[test]
    fn deep_nesting_and_huge_files_are_refused() {
        let nested = |n: usize| format!("a: {}1{}\n", "[".repeat(n), "]".repeat(n));
        assert!(parse(&nested(60)).is_ok());
        let err = parse(&nested(70)).unwrap_err();
        assert!(err.message.contains("nested more than 64"), "{err:?}");
        // Far deeper: yaml-rust2's own limit answers first; still located.
        let err = parse(&nested(100_000)).unwrap_err();
        assert_eq!(err.pos.line, 1, "{err:?}");
        let huge = format!("a: \"{}\"\n", "x".repeat(MAX_TEXT));
        assert!(parse(&huge).unwrap_err().message.contains("at most"));
    }

    #[test]
    fn empty_document_is_none() {
        assert_eq!(parse("").unwrap(), None);
        assert_eq!(parse("# only a comment\n").unwrap(), None);
    }
}
