//! The reader every section's reader uses: typed getters over a resolved tree that mark each key they read and
//! report a wrong value at its file position and key path. Whatever no reader marked is reported once per key as
//! unsupported ([`Reader::unread_keys`]).

use std::collections::HashSet;
use std::ops::Range;
use std::path::Path;

use crate::model::{Endpoint, EndpointScheme, Secret};
use crate::resolve::join;
use crate::source::Diagnostic;
use crate::tree::{Entry, Node, Table, Value};

/// What the command line and the file's location add to the file.
pub(crate) struct BuildInputs<'a> {
    pub data_dir: &'a Path,
    pub config_dir: &'a Path,
    pub port_offset_override: Option<u16>,
}

/// Typed getters over the resolved tree: each marks the key it read and records an error for a wrong value.
pub(crate) struct Reader {
    pub diags: Vec<Diagnostic>,
    /// Key spans of the keys read: whatever is not here is reported as unsupported.
    used: HashSet<usize>,
}

/// A table of the tree and where it is named.
#[derive(Clone, Copy)]
pub(crate) struct Tbl<'t> {
    pub(super) table: &'t Table,
    /// The span of the key that names the table (for errors about the table as a whole).
    span: Option<(usize, usize)>,
}

impl<'t> Tbl<'t> {
    /// The root of the file.
    pub(super) fn root(table: &'t Table) -> Tbl<'t> {
        Tbl { table, span: None }
    }

    /// The span of `key`'s value, when the table has the key.
    pub(super) fn value_span(&self, key: &str) -> Option<Range<usize>> {
        self.table.get(key).map(|e| e.node.span.clone())
    }

    /// The span of the key naming this table, for errors about the table as a whole.
    pub(super) fn key_span(&self) -> Option<Range<usize>> {
        self.span.map(|(a, b)| a..b)
    }
}

impl Reader {
    pub(crate) fn new() -> Reader {
        Reader { diags: Vec::new(), used: HashSet::new() }
    }

    pub(super) fn error(&mut self, path: &str, span: Option<Range<usize>>, msg: impl Into<String>) {
        self.diags.push(Diagnostic::error(path, span, msg));
    }

    pub(super) fn entry<'t>(&mut self, t: Tbl<'t>, prefix: &str, keys: &[&str]) -> Option<(&'t Entry, String)> {
        for key in keys {
            if let Some(e) = t.table.get(key) {
                self.used.insert(e.key_span.start);
                return Some((e, join(prefix, &e.key)));
            }
        }
        None
    }

    pub(super) fn str(&mut self, t: Tbl<'_>, prefix: &str, key: &str) -> Option<String> {
        let (e, path) = self.entry(t, prefix, &[key])?;
        match &e.node.value {
            Value::String(s) => Some(s.clone()),
            other => {
                let msg = format!("expected a string, found {}", other.type_name());
                self.error(&path, Some(e.node.span.clone()), msg);
                None
            }
        }
    }

    pub(super) fn secret(&mut self, t: Tbl<'_>, prefix: &str, key: &str) -> Option<Secret> {
        self.str(t, prefix, key).map(Secret::new)
    }

    pub(super) fn bool(&mut self, t: Tbl<'_>, prefix: &str, key: &str, default: bool) -> bool {
        let Some((e, path)) = self.entry(t, prefix, &[key]) else { return default };
        match &e.node.value {
            Value::Boolean(b) => *b,
            Value::String(s) if s.eq_ignore_ascii_case("true") => true,
            Value::String(s) if s.eq_ignore_ascii_case("false") => false,
            other => {
                let msg = format!("expected true or false, found {}", describe(other));
                self.error(&path, Some(e.node.span.clone()), msg);
                default
            }
        }
    }

    /// An integer written as a number or as a numeric string (the seeds write `port = "3306"`).
    pub(super) fn int(&mut self, t: Tbl<'_>, prefix: &str, key: &str) -> Option<(i64, String, Range<usize>)> {
        let (e, path) = self.entry(t, prefix, &[key])?;
        let span = e.node.span.clone();
        let parsed = match &e.node.value {
            Value::Integer(i) => Some(*i),
            Value::String(s) => s.trim().parse::<i64>().ok(),
            _ => None,
        };
        match parsed {
            Some(i) => Some((i, path, span)),
            None => {
                let msg = format!("expected an integer, found {}", describe(&e.node.value));
                self.error(&path, Some(span), msg);
                None
            }
        }
    }

    pub(super) fn port(&mut self, t: Tbl<'_>, prefix: &str, key: &str) -> Option<(u16, String, Range<usize>)> {
        let (i, path, span) = self.int(t, prefix, key)?;
        match u16::try_from(i) {
            Ok(p) => Some((p, path, span)),
            Err(_) => {
                self.error(&path, Some(span), format!("port {i} is out of range (0-65535)"));
                None
            }
        }
    }

    /// A list of strings; a single string is taken as a list of one.
    pub(super) fn strings(&mut self, t: Tbl<'_>, prefix: &str, keys: &[&str]) -> Vec<String> {
        let Some((e, path)) = self.entry(t, prefix, keys) else { return Vec::new() };
        match &e.node.value {
            Value::String(s) => vec![s.clone()],
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    match &item.value {
                        Value::String(s) => out.push(s.clone()),
                        other => {
                            let msg = format!("expected a list of strings, found an element that is {}", describe(other));
                            self.error(&path, Some(item.span.clone()), msg);
                        }
                    }
                }
                out
            }
            other => {
                let msg = format!("expected a list of strings, found {}", describe(other));
                self.error(&path, Some(e.node.span.clone()), msg);
                Vec::new()
            }
        }
    }

    pub(super) fn endpoints(&mut self, t: Tbl<'_>, prefix: &str, key: &str) -> Vec<Endpoint> {
        let Some((e, path)) = self.entry(t, prefix, &[key]) else { return Vec::new() };
        let nodes: Vec<&Node> = match &e.node.value {
            Value::Array(items) => items.iter().collect(),
            _ => vec![&e.node],
        };
        let mut out = Vec::new();
        for node in nodes {
            match &node.value {
                Value::String(s) => match parse_endpoint(s) {
                    Ok(ep) => out.push(ep),
                    Err(e) => self.error(&path, Some(node.span.clone()), e.to_string()),
                },
                other => {
                    let msg = format!("expected an endpoint such as \"tcp://host:5672\", found {}", describe(other));
                    self.error(&path, Some(node.span.clone()), msg);
                }
            }
        }
        out
    }

    pub(super) fn url(&mut self, t: Tbl<'_>, prefix: &str, key: &str, schemes: &[&str]) -> Option<String> {
        let span = t.table.get(key).map(|e| e.node.span.clone());
        let s = self.str(t, prefix, key)?;
        let scheme_ok = schemes.iter().any(|sc| s.len() > sc.len() + 3 && s.starts_with(sc) && s[sc.len()..].starts_with("://"));
        if !scheme_ok {
            let msg = format!("`{s}` is not a URL with scheme {}", schemes.join(" or "));
            self.error(&join(prefix, key), span, msg);
            return None;
        }
        Some(s)
    }

    pub(super) fn table<'t>(&mut self, t: Tbl<'t>, prefix: &str, keys: &[&str]) -> Option<(Tbl<'t>, String)> {
        let (e, path) = self.entry(t, prefix, keys)?;
        match &e.node.value {
            Value::Table(inner) => Some((Tbl { table: inner, span: Some((e.key_span.start, e.key_span.end)) }, path)),
            other => {
                let msg = format!("expected a table, found {}", describe(other));
                self.error(&path, Some(e.node.span.clone()), msg);
                None
            }
        }
    }

    /// The table `key` inside `parent` (itself read with [`Reader::table`]), when both are tables.
    pub(super) fn within<'t>(&mut self, parent: Option<&(Tbl<'t>, String)>, key: &str) -> Option<(Tbl<'t>, String)> {
        let (t, p) = parent?;
        self.table(*t, p, &[key])
    }

    /// `[[x]]` arrays of tables; a plain `[x]` table counts as one element.
    pub(super) fn tables<'t>(&mut self, t: Tbl<'t>, prefix: &str, key: &str) -> Vec<(Tbl<'t>, String)> {
        let Some((e, path)) = self.entry(t, prefix, &[key]) else { return Vec::new() };
        let span = Some((e.key_span.start, e.key_span.end));
        match &e.node.value {
            Value::Table(inner) => vec![(Tbl { table: inner, span }, path)],
            Value::Array(items) => {
                let mut out = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    match &item.value {
                        Value::Table(inner) => {
                            out.push((Tbl { table: inner, span: Some((item.span.start, item.span.end)) }, format!("{path}[{i}]")))
                        }
                        other => {
                            let msg = format!("expected a table, found {}", describe(other));
                            self.error(&path, Some(item.span.clone()), msg);
                        }
                    }
                }
                out
            }
            other => {
                let msg = format!("expected a table or an array of tables, found {}", describe(other));
                self.error(&path, Some(e.node.span.clone()), msg);
                Vec::new()
            }
        }
    }

    /// One warning per key that nothing read, at the outermost unread key.
    pub(crate) fn unread_keys(&self, root: &Table) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        self.collect_unread(root, "", &mut out);
        out
    }

    fn collect_unread(&self, table: &Table, prefix: &str, out: &mut Vec<Diagnostic>) {
        for e in &table.entries {
            let path = join(prefix, &e.key);
            if !self.used.contains(&e.key_span.start) {
                out.push(Diagnostic::warning(
                    &path,
                    Some(e.key_span.clone()),
                    "key is not supported by this version of apim and is ignored",
                ));
                continue;
            }
            match &e.node.value {
                Value::Table(t) => self.collect_unread(t, &path, out),
                Value::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        if let Value::Table(t) = &item.value {
                            self.collect_unread(t, &format!("{path}[{i}]"), out);
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::String(s) => format!("string \"{s}\""),
        Value::Integer(i) => format!("integer {i}"),
        Value::Boolean(b) => format!("boolean {b}"),
        other => other.type_name().to_string(),
    }
}

/// Why text is not a `tcp://host:port` / `ssl://host:port` endpoint.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error("`{0}` is not an endpoint such as \"tcp://host:5672\"")]
    NotAnEndpoint(String),
    #[error("endpoint `{text}` has scheme `{scheme}`; expected tcp or ssl")]
    Scheme { text: String, scheme: String },
    #[error("endpoint `{0}` has no port")]
    NoPort(String),
    #[error("endpoint `{text}` has an invalid port `{port}`")]
    BadPort { text: String, port: String },
    #[error("endpoint `{0}` has no host")]
    NoHost(String),
}

/// Parses `tcp://host:port` / `ssl://host:port`.
pub fn parse_endpoint(s: &str) -> Result<Endpoint, EndpointError> {
    let (scheme, rest) = s.split_once("://").ok_or_else(|| EndpointError::NotAnEndpoint(s.to_string()))?;
    let scheme = match scheme {
        "tcp" => EndpointScheme::Tcp,
        "ssl" => EndpointScheme::Ssl,
        other => return Err(EndpointError::Scheme { text: s.to_string(), scheme: other.to_string() }),
    };
    let authority = rest.trim_end_matches('/');
    let (host, port) = authority.rsplit_once(':').ok_or_else(|| EndpointError::NoPort(s.to_string()))?;
    let port = port.parse::<u16>().map_err(|_| EndpointError::BadPort { text: s.to_string(), port: port.to_string() })?;
    if host.is_empty() {
        return Err(EndpointError::NoHost(s.to_string()));
    }
    Ok(Endpoint { scheme, host: host.to_string(), port })
}
