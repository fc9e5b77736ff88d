//! A spanned, owned TOML tree: what placeholders are resolved on and typed configuration is read from.

use std::ops::Range;

use toml::de::{DeTable, DeValue};

/// A value with the byte range it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub value: Value,
    pub span: Range<usize>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    String(String),
    Integer(i64),
    Float(f64),
    Boolean(bool),
    Datetime(String),
    Array(Vec<Node>),
    Table(Table),
}

/// A table keeps its entries in file order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    pub entries: Vec<Entry>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_span: Range<usize>,
    pub node: Node,
}

impl Table {
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key == key)
    }

    /// Looks a dotted path of table keys up.
    pub fn lookup(&self, path: &[&str]) -> Option<&Node> {
        let (first, rest) = path.split_first()?;
        let entry = self.get(first)?;
        if rest.is_empty() {
            return Some(&entry.node);
        }
        match &entry.node.value {
            Value::Table(t) => t.lookup(rest),
            _ => None,
        }
    }
}

impl Value {
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::String(_) => "string",
            Value::Integer(_) => "integer",
            Value::Float(_) => "float",
            Value::Boolean(_) => "boolean",
            Value::Datetime(_) => "datetime",
            Value::Array(_) => "array",
            Value::Table(_) => "table",
        }
    }
}

/// Converts the parser's borrowed tree into ours. Integers that do not fit i64 become an error later,
/// when they are read as a typed value; here they are kept as their text.
pub fn from_toml(table: &DeTable<'_>) -> Table {
    let mut entries = Vec::with_capacity(table.len());
    for (key, value) in table.iter() {
        entries.push(Entry { key: key.get_ref().to_string(), key_span: key.span(), node: node_from(value.get_ref(), value.span()) });
    }
    Table { entries }
}

fn node_from(value: &DeValue<'_>, span: Range<usize>) -> Node {
    let value = match value {
        DeValue::String(s) => Value::String(s.to_string()),
        DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
            Ok(n) => Value::Integer(n),
            Err(_) => Value::String(i.as_str().to_string()),
        },
        DeValue::Float(f) => Value::Float(f.as_str().parse().unwrap_or(f64::NAN)),
        DeValue::Boolean(b) => Value::Boolean(*b),
        DeValue::Datetime(d) => Value::Datetime(d.to_string()),
        DeValue::Array(items) => Value::Array(items.iter().map(|v| node_from(v.get_ref(), v.span())).collect()),
        DeValue::Table(t) => Value::Table(from_toml(t)),
    };
    Node { value, span }
}
