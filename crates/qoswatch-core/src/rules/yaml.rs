//! A YAML document as a tree of nodes that remember where they were written.
//!
//! The rules compiler walks this tree itself instead of deriving `Deserialize`
//! for its schema: that way it reports *every* problem of a file in one pass
//! (unknown keys with a did-you-mean, wrong units, unknown channels, ...),
//! each with the line and column of the offending node.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use super::diag::{Diagnostic, Pos};

/// One YAML node and its position.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub value: Value,
    pub pos: Pos,
}

/// The value of a node. Mapping entries keep the order of the file.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Value {
    /// What a user would call this kind of value, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "nothing",
            Value::Bool(_) => "a boolean",
            Value::Int(_) | Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

impl Node {
    /// The scalar as text (numbers and booleans too, as written).
    pub fn as_text(&self) -> Option<String> {
        match &self.value {
            Value::Str(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<Value>::deserialize(deserializer)?;
        let location = spanned.referenced;
        Ok(Node {
            value: spanned.value,
            pos: Pos {
                line: u32::try_from(location.line()).unwrap_or(u32::MAX),
                column: u32::try_from(location.column()).unwrap_or(u32::MAX),
            },
        })
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or(Value::Float(v as f64), Value::Int))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or(Value::Float(v as f64), Value::Int))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or(Value::Float(v as f64), Value::Int))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Value, E> {
        Ok(Value::Str(String::from_utf8_lossy(v).into_owned()))
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        Value::deserialize(deserializer)
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Value, D::Error> {
        Value::deserialize(deserializer)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Value::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::new();
        while let Some((key, value)) = map.next_entry::<Node, Node>()? {
            entries.push((key, value));
        }
        Ok(Value::Map(entries))
    }
}

/// Parses YAML bytes into a node tree, or the problems that prevent it
/// (not UTF-8, not YAML, duplicate keys).
pub(crate) fn parse(bytes: &[u8]) -> Result<Node, Vec<Diagnostic>> {
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => {
            let valid = &bytes[..error.valid_up_to()];
            let line = valid.iter().filter(|b| **b == b'\n').count() + 1;
            let line_start = valid.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
            // Valid prefix: count characters, not bytes, for the column.
            let column = String::from_utf8_lossy(&valid[line_start..])
                .chars()
                .count()
                + 1;
            return Err(vec![Diagnostic::new(
                Pos {
                    line: u32::try_from(line).unwrap_or(u32::MAX),
                    column: u32::try_from(column).unwrap_or(u32::MAX),
                },
                "the file is not valid UTF-8; expected a UTF-8 encoded YAML document",
            )]);
        }
    };
    if text.trim().is_empty() {
        return Ok(Node {
            value: Value::Null,
            pos: Pos { line: 1, column: 1 },
        });
    }
    match serde_saphyr::from_str::<Node>(text) {
        Ok(node) => Ok(node),
        Err(error) => {
            let pos = error
                .location()
                .map_or(Pos { line: 1, column: 1 }, |l| Pos {
                    line: u32::try_from(l.line()).unwrap_or(u32::MAX).max(1),
                    column: u32::try_from(l.column()).unwrap_or(u32::MAX).max(1),
                });
            let message = error.without_snippet().to_string();
            Err(vec![Diagnostic::new(
                pos,
                format!("invalid YAML: {}", strip_location(&message)),
            )])
        }
    }
}

/// serde-saphyr's messages end with " at line L, column C"; the diagnostic
/// prefix already says where.
fn strip_location(message: &str) -> String {
    let first_line = message.lines().next().unwrap_or(message);
    let message = match first_line.rfind(" at line ") {
        Some(index) => &first_line[..index],
        None => first_line,
    };
    // Advice meant for programmers using serde-saphyr, not for rule authors.
    match message.find(", set DuplicateKeyPolicy") {
        Some(index) => format!("{}; each key may appear once", &message[..index]),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_remember_positions() {
        let node = parse(b"rules:\n  - name: a\n    metric: x\n").expect("parses");
        let Value::Map(entries) = &node.value else {
            panic!("map expected: {node:?}")
        };
        let (key, value) = &entries[0];
        assert_eq!(key.pos, Pos { line: 1, column: 1 });
        let Value::Seq(items) = &value.value else {
            panic!("seq expected")
        };
        let Value::Map(rule) = &items[0].value else {
            panic!("map expected")
        };
        assert_eq!(rule[1].0.pos, Pos { line: 3, column: 5 });
        assert_eq!(
            rule[1].1.pos,
            Pos {
                line: 3,
                column: 13
            }
        );
        assert_eq!(rule[1].1.value, Value::Str("x".into()));
    }

    #[test]
    fn broken_yaml_and_bytes_are_diagnostics() {
        let errors = parse(b"a: [1, 2\nb: 3\n").expect_err("unterminated");
        assert!(errors[0].message.starts_with("invalid YAML"), "{errors:?}");
        let errors = parse(b"a: 1\nb: \xff\n").expect_err("not utf-8");
        assert_eq!(errors[0].pos, Pos { line: 2, column: 4 });
        let errors = parse(b"a: 1\na: 2\n").expect_err("duplicate");
        assert_eq!(errors[0].pos.line, 2, "{errors:?}");
    }
}
