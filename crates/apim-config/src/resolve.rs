//! Placeholder resolution, per value, keeping spans: `$ref{section.key}`, `${built-in}`, `$env{VAR}`,
//! `$sys{name}`. `$secret{alias}` is recognised and refused until a secure vault exists.

use std::collections::{BTreeMap, HashMap};

use crate::source::Diagnostic;
use crate::tree::{Node, Table, Value};

/// What placeholders may read besides the file itself.
pub struct Inputs<'a> {
    /// `-Dname=value` pairs from the command line (`$sys{}` and `${}` fall back to them).
    pub sys: &'a BTreeMap<String, String>,
    /// Environment lookup; injected so tests never touch the process environment.
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// Value of `${carbon.home}`.
    pub home: String,
}

/// The WSO2 built-ins the seeds use, and their defaults.
pub const BUILT_INS: &[&str] = &[
    "admin.username",
    "admin.password",
    "carbon.protocol",
    "carbon.host",
    "carbon.home",
    "carbon.management.port",
    "mgt.transport.https.port",
    "mgt.transport.http.port",
    "http.nio.port",
    "https.nio.port",
];

/// Resolves every placeholder in `tree` in place. Returns one diagnostic per value that cannot be resolved.
pub fn resolve(tree: &mut Table, inputs: &Inputs<'_>) -> Vec<Diagnostic> {
    let original = tree.clone();
    let mut resolver = Resolver { root: &original, inputs, memo: HashMap::new(), stack: Vec::new() };
    let mut diags = Vec::new();
    resolve_table(tree, "", &mut resolver, &mut diags);
    diags
}

fn resolve_table(table: &mut Table, prefix: &str, r: &mut Resolver<'_>, diags: &mut Vec<Diagnostic>) {
    for entry in &mut table.entries {
        let path = join(prefix, &entry.key);
        resolve_in_place(&mut entry.node, &path, r, diags);
    }
}

fn resolve_in_place(node: &mut Node, path: &str, r: &mut Resolver<'_>, diags: &mut Vec<Diagnostic>) {
    match &mut node.value {
        Value::String(s) if s.contains('$') => match r.resolve_string(&s.clone(), node.span.clone(), path) {
            Ok(v) => node.value = v,
            Err(d) => diags.push(d),
        },
        Value::Table(t) => resolve_table(t, path, r, diags),
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                let item_path = match item.value {
                    Value::Table(_) => format!("{path}[{i}]"),
                    _ => path.to_string(),
                };
                resolve_in_place(item, &item_path, r, diags);
            }
        }
        _ => {}
    }
}

/// Dotted key path; keys that contain dots or spaces are quoted as TOML does.
pub fn join(prefix: &str, key: &str) -> String {
    let key = if key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') && !key.is_empty() {
        key.to_string()
    } else {
        format!("'{key}'")
    };
    if prefix.is_empty() { key } else { format!("{prefix}.{key}") }
}

/// Why a placeholder cannot be resolved; the resolver turns it into a diagnostic at the value's span.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum PlaceholderError {
    #[error("unterminated placeholder `{0}`")]
    Unterminated(String),
    #[error("empty placeholder `{0}}}`")]
    Empty(&'static str),
    #[error("placeholder cycle: {}", .0.join(" -> "))]
    Cycle(Vec<String>),
    #[error("`$ref{{{0}}}` names no key in this file")]
    NoSuchKey(String),
    #[error("`$ref{{{target}}}` is a {kind} and cannot be embedded in a string")]
    NotEmbeddable { target: String, kind: &'static str },
    #[error("`{0}` must be a single value")]
    NotSingleValue(String),
    #[error("port offset `{0}` is not a non-negative integer")]
    BadOffset(String),
    #[error("`{key}` = `{raw}` is not a port number")]
    BadPort { key: String, raw: String },
    #[error("unknown built-in `${{{0}}}` (known: {known}; or pass -D{0}=VALUE)", known = BUILT_INS.join(", "))]
    UnknownBuiltIn(String),
    #[error("environment variable `{0}` is not set")]
    EnvNotSet(String),
    #[error("system property `{0}` is not set (pass -D{0}=VALUE)")]
    SysNotSet(String),
    #[error("`$secret{{{0}}}` needs a secure vault, which this version does not support")]
    Secret(String),
    /// What a referenced value's own resolution failed with, as its diagnostic said it.
    #[error("{0}")]
    InReference(String),
}

struct Resolver<'a> {
    root: &'a Table,
    inputs: &'a Inputs<'a>,
    memo: HashMap<String, Value>,
    stack: Vec<String>,
}

enum Segment<'s> {
    Text(&'s str),
    Ref(&'s str),
    BuiltIn(&'s str),
    Env(&'s str),
    Sys(&'s str),
    Secret(&'s str),
}

fn parse_segments(s: &str) -> Result<Vec<Segment<'_>>, PlaceholderError> {
    const OPENERS: [(&str, u8); 5] = [("$ref{", 0), ("${", 1), ("$env{", 2), ("$sys{", 3), ("$secret{", 4)];
    let mut out = Vec::new();
    let mut rest = s;
    'outer: while !rest.is_empty() {
        let mut search_from = 0;
        while let Some(pos) = rest[search_from..].find('$').map(|p| p + search_from) {
            for (opener, kind) in OPENERS {
                if rest[pos..].starts_with(opener) {
                    let body_start = pos + opener.len();
                    let Some(close) = rest[body_start..].find('}') else {
                        return Err(PlaceholderError::Unterminated(rest[pos..].to_string()));
                    };
                    let body = rest[body_start..body_start + close].trim();
                    if body.is_empty() {
                        return Err(PlaceholderError::Empty(opener));
                    }
                    if pos > 0 {
                        out.push(Segment::Text(&rest[..pos]));
                    }
                    out.push(match kind {
                        0 => Segment::Ref(body),
                        1 => Segment::BuiltIn(body),
                        2 => Segment::Env(body),
                        3 => Segment::Sys(body),
                        _ => Segment::Secret(body),
                    });
                    rest = &rest[body_start + close + 1..];
                    continue 'outer;
                }
            }
            search_from = pos + 1;
        }
        out.push(Segment::Text(rest));
        break;
    }
    Ok(out)
}

fn value_to_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Integer(i) => Some(i.to_string()),
        Value::Float(f) => Some(f.to_string()),
        Value::Boolean(b) => Some(b.to_string()),
        Value::Datetime(d) => Some(d.clone()),
        Value::Array(_) | Value::Table(_) => None,
    }
}

impl Resolver<'_> {
    fn resolve_string(&mut self, s: &str, span: std::ops::Range<usize>, path: &str) -> Result<Value, Diagnostic> {
        let err = |e: PlaceholderError| Diagnostic::error(path, Some(span.clone()), e.to_string());
        let segments = parse_segments(s).map_err(err)?;
        // A value that is exactly one `$ref{}` takes the referenced value whole, arrays included.
        if let [Segment::Ref(target)] = segments.as_slice() {
            return self.reference(target).map_err(err);
        }
        let mut out = String::new();
        for seg in segments {
            let piece = match seg {
                Segment::Text(t) => t.to_string(),
                Segment::Ref(target) => {
                    let v = self.reference(target).map_err(err)?;
                    value_to_text(&v)
                        .ok_or_else(|| err(PlaceholderError::NotEmbeddable { target: target.to_string(), kind: v.type_name() }))?
                }
                Segment::BuiltIn(name) => self.built_in(name).map_err(err)?,
                Segment::Env(var) => (self.inputs.env)(var).ok_or_else(|| err(PlaceholderError::EnvNotSet(var.to_string())))?,
                Segment::Sys(name) => {
                    self.inputs.sys.get(name).cloned().ok_or_else(|| err(PlaceholderError::SysNotSet(name.to_string())))?
                }
                Segment::Secret(alias) => {
                    return Err(err(PlaceholderError::Secret(alias.to_string())));
                }
            };
            out.push_str(&piece);
        }
        Ok(Value::String(out))
    }

    /// Resolves `$ref{a.b}` to the (resolved) value of key `a.b`.
    fn reference(&mut self, target: &str) -> Result<Value, PlaceholderError> {
        if let Some(v) = self.memo.get(target) {
            return Ok(v.clone());
        }
        if let Some(pos) = self.stack.iter().position(|p| p == target) {
            let mut chain: Vec<String> = self.stack[pos..].to_vec();
            chain.push(target.to_string());
            return Err(PlaceholderError::Cycle(chain));
        }
        let parts: Vec<&str> = target.split('.').map(str::trim).collect();
        let Some(node) = self.root.lookup(&parts) else {
            return Err(PlaceholderError::NoSuchKey(target.to_string()));
        };
        let node = node.clone();
        self.stack.push(target.to_string());
        let result = self.resolve_value(&node, target);
        self.stack.pop();
        let v = result?;
        self.memo.insert(target.to_string(), v.clone());
        Ok(v)
    }

    fn resolve_value(&mut self, node: &Node, path: &str) -> Result<Value, PlaceholderError> {
        match &node.value {
            Value::String(s) if s.contains('$') => {
                self.resolve_string(s, node.span.clone(), path).map_err(|d| PlaceholderError::InReference(d.message))
            }
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    out.push(Node { value: self.resolve_value(item, path)?, span: item.span.clone() });
                }
                Ok(Value::Array(out))
            }
            other => Ok(other.clone()),
        }
    }

    fn key_or(&mut self, path: &str, default: &str) -> Result<String, PlaceholderError> {
        let parts: Vec<&str> = path.split('.').collect();
        if self.root.lookup(&parts).is_none() {
            return Ok(default.to_string());
        }
        let v = self.reference(path)?;
        value_to_text(&v).ok_or_else(|| PlaceholderError::NotSingleValue(path.to_string()))
    }

    fn offset(&mut self) -> Result<u32, PlaceholderError> {
        let raw = match self.inputs.sys.get("portOffset") {
            Some(v) => v.clone(),
            None => self.key_or("server.offset", "0")?,
        };
        raw.trim().parse::<u32>().map_err(|_| PlaceholderError::BadOffset(raw.clone()))
    }

    fn port(&mut self, key: Option<&str>, default: u32) -> Result<String, PlaceholderError> {
        let base = match key {
            Some(key) => {
                let raw = self.key_or(key, &default.to_string())?;
                raw.trim().parse::<u32>().map_err(|_| PlaceholderError::BadPort { key: key.to_string(), raw: raw.clone() })?
            }
            None => default,
        };
        Ok((base + self.offset()?).to_string())
    }

    fn built_in(&mut self, name: &str) -> Result<String, PlaceholderError> {
        match name {
            "admin.username" => self.key_or("super_admin.username", "admin"),
            "admin.password" => self.key_or("super_admin.password", "admin"),
            "carbon.protocol" => Ok("https".into()),
            "carbon.host" => self.key_or("server.hostname", "localhost"),
            "carbon.home" => Ok(self.inputs.home.clone()),
            "carbon.management.port" | "mgt.transport.https.port" => self.port(Some("transport.https.properties.port"), 9443),
            "mgt.transport.http.port" => self.port(Some("transport.http.properties.port"), 9763),
            "http.nio.port" => self.port(None, 8280),
            "https.nio.port" => self.port(None, 8243),
            other => match self.inputs.sys.get(other) {
                Some(v) => Ok(v.clone()),
                None => Err(PlaceholderError::UnknownBuiltIn(other.to_string())),
            },
        }
    }
}

#[cfg(test)]
mod tests;
