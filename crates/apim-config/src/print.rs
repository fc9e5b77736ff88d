//! Prints the effective (resolved) configuration as TOML, with every password and secret masked.

use std::fmt::Write;

use crate::resolve::join;
use crate::tree::{Node, Table, Value};

pub const MASK: &str = "********";

/// Keys whose values are never printed.
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.contains("password") || k.contains("secret") || k.ends_with("_key") || k == "key"
}

/// Renders the tree as TOML: scalars first, then sub-tables, then arrays of tables, in file order.
pub fn to_toml(root: &Table) -> String {
    let mut out = String::new();
    write_table(&mut out, root, "");
    out
}

fn is_table_array(items: &[Node]) -> bool {
    !items.is_empty() && items.iter().all(|n| matches!(n.value, Value::Table(_)))
}

fn write_table(out: &mut String, table: &Table, path: &str) {
    for e in &table.entries {
        match &e.node.value {
            Value::Table(_) => {}
            Value::Array(items) if is_table_array(items) => {}
            v => {
                let key = join("", &e.key);
                let rendered = if is_secret_key(&e.key) { quote(MASK) } else { value(v) };
                let _ = writeln!(out, "{key} = {rendered}");
            }
        }
    }
    for e in &table.entries {
        let sub = join(path, &e.key);
        match &e.node.value {
            Value::Table(t) => {
                let has_scalars = t
                    .entries
                    .iter()
                    .any(|e| !matches!(&e.node.value, Value::Table(_)) && !matches!(&e.node.value, Value::Array(i) if is_table_array(i)));
                if has_scalars || t.entries.is_empty() {
                    let _ = writeln!(out, "\n[{sub}]");
                }
                write_table(out, t, &sub);
            }
            Value::Array(items) if is_table_array(items) => {
                for item in items {
                    if let Value::Table(t) = &item.value {
                        let _ = writeln!(out, "\n[[{sub}]]");
                        write_table(out, t, &sub);
                    }
                }
            }
            _ => {}
        }
    }
}

fn value(v: &Value) -> String {
    match v {
        Value::String(s) => quote(s),
        Value::Integer(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Boolean(b) => b.to_string(),
        Value::Datetime(d) => d.clone(),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(|n| value(&n.value)).collect();
            format!("[{}]", parts.join(", "))
        }
        Value::Table(t) => {
            let parts: Vec<String> = t
                .entries
                .iter()
                .map(|e| format!("{} = {}", join("", &e.key), if is_secret_key(&e.key) { quote(MASK) } else { value(&e.node.value) }))
                .collect();
            format!("{{ {} }}", parts.join(", "))
        }
    }
}

fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
