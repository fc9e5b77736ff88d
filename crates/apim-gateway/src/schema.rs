//! JSON Schema validation of request and response bodies against the API's OpenAPI document (WSO2's
//! `enableSchemaValidation`): the subset OpenAPI 3.0/3.1 and Swagger 2.0 schemas use — `type` (and `nullable`),
//! `enum`, `const`, `properties`/`required`/`additionalProperties`, `items`, `minItems`/`maxItems`/`uniqueItems`,
//! `minLength`/`maxLength`/`pattern`, `minimum`/`maximum` (and their exclusive forms), `multipleOf`,
//! `allOf`/`anyOf`/`oneOf`/`not`, and local `$ref`s. Compiled once per snapshot (patterns compiled, references
//! resolved); a schema that recurses deeper than `MAX_DEPTH` accepts what is below that depth. A schema without
//! combinators is checked while `stream` reads the body; others parse it into [`Doc`], a tree that borrows its
//! strings from the body and keeps objects as lists: no hashing and no copy of an unescaped string, which is most
//! of what a parse into `serde_json::Value` costs. Imports nothing else from the crate.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

mod pattern;
mod stream;

const MAX_DEPTH: usize = 48;
/// Subschemas compiled for one body schema, `$ref`s expanded (a large real document stays in the hundreds).
const MAX_SUBSCHEMAS: usize = 20_000;

/// A parsed JSON body. Objects keep their members in order, duplicates included (each is validated).
#[derive(Debug, PartialEq)]
pub enum Doc<'a> {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(Cow<'a, str>),
    Array(Vec<Doc<'a>>),
    Object(Vec<(Cow<'a, str>, Doc<'a>)>),
}

impl<'a> Doc<'a> {
    /// `bytes` as JSON (serde_json's grammar and nesting limit).
    pub fn parse(bytes: &'a [u8]) -> Result<Doc<'a>, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    fn as_f64(&self) -> Option<f64> {
        match *self {
            Doc::Int(i) => Some(i as f64),
            Doc::UInt(u) => Some(u as f64),
            Doc::Float(f) => Some(f),
            _ => None,
        }
    }

    fn kind(&self) -> u8 {
        match self {
            Doc::Null => kind::NULL,
            Doc::Bool(_) => kind::BOOLEAN,
            Doc::Int(_) | Doc::UInt(_) => kind::WHOLE,
            Doc::Float(_) => kind::FLOAT,
            Doc::Str(_) => kind::STRING,
            Doc::Array(_) => kind::ARRAY,
            Doc::Object(_) => kind::OBJECT,
        }
    }

    fn get(&self, key: &str) -> Option<&Doc<'a>> {
        match self {
            Doc::Object(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// A value's kind as a bit, for a schema's `refused` kinds: one test where the streaming check meets a value.
mod kind {
    pub const NULL: u8 = 1;
    pub const BOOLEAN: u8 = 1 << 1;
    /// A number without fraction or exponent that fits 64 bits: `integer` and `number` both hold it.
    pub const WHOLE: u8 = 1 << 2;
    /// Any other number: `number` holds it, `integer` only if its value is whole, which needs a look.
    pub const FLOAT: u8 = 1 << 3;
    pub const STRING: u8 = 1 << 4;
    pub const ARRAY: u8 = 1 << 5;
    pub const OBJECT: u8 = 1 << 6;
}

/// JSON equality as JSON Schema means it: numbers by value (`1` equals `1.0`), objects regardless of order.
fn same(a: &Doc<'_>, b: &Doc<'_>) -> bool {
    match (a, b) {
        (Doc::Null, Doc::Null) => true,
        (Doc::Bool(x), Doc::Bool(y)) => x == y,
        (Doc::Str(x), Doc::Str(y)) => x == y,
        (Doc::Array(x), Doc::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q)),
        (Doc::Object(x), Doc::Object(y)) => x.len() == y.len() && x.iter().all(|(k, v)| b.get(k).is_some_and(|w| same(v, w))),
        (Doc::Int(x), Doc::Int(y)) => x == y,
        (Doc::UInt(x), Doc::UInt(y)) => x == y,
        (Doc::Int(x), Doc::UInt(y)) | (Doc::UInt(y), Doc::Int(x)) => u64::try_from(*x).is_ok_and(|x| x == *y),
        _ => matches!((a.as_f64(), b.as_f64()), (Some(x), Some(y)) if x == y),
    }
}

/// A schema's `enum`/`const` value as a document of its own.
fn owned(v: &Value) -> Doc<'static> {
    match v {
        Value::Null => Doc::Null,
        Value::Bool(b) => Doc::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Doc::Int(i),
            (None, Some(u)) => Doc::UInt(u),
            _ => Doc::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Doc::Str(Cow::Owned(s.clone())),
        Value::Array(items) => Doc::Array(items.iter().map(owned).collect()),
        Value::Object(o) => Doc::Object(o.iter().map(|(k, v)| (Cow::Owned(k.clone()), owned(v))).collect()),
    }
}

impl fmt::Display for Doc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = |f: &mut fmt::Formatter<'_>, s: &str| match serde_json::to_string(s) {
            Ok(quoted) => f.write_str(&quoted),
            Err(_) => write!(f, "{s:?}"),
        };
        match self {
            Doc::Null => f.write_str("null"),
            Doc::Bool(b) => write!(f, "{b}"),
            Doc::Int(i) => write!(f, "{i}"),
            Doc::UInt(u) => write!(f, "{u}"),
            Doc::Float(x) => write!(f, "{x}"),
            Doc::Str(s) => text(f, s),
            Doc::Array(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            Doc::Object(members) => {
                f.write_str("{")?;
                for (i, (k, v)) in members.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    text(f, k)?;
                    write!(f, ":{v}")?;
                }
                f.write_str("}")
            }
        }
    }
}

/// A string that borrows from the input when it has no escapes.
struct Text<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E>(self, s: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(s)))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de> Deserialize<'de> for Doc<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Doc<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E>(self) -> Result<Doc<'de>, E> {
                Ok(Doc::Null)
            }
            fn visit_bool<E>(self, b: bool) -> Result<Doc<'de>, E> {
                Ok(Doc::Bool(b))
            }
            fn visit_i64<E>(self, i: i64) -> Result<Doc<'de>, E> {
                Ok(Doc::Int(i))
            }
            fn visit_u64<E>(self, u: u64) -> Result<Doc<'de>, E> {
                Ok(match i64::try_from(u) {
                    Ok(i) => Doc::Int(i),
                    Err(_) => Doc::UInt(u),
                })
            }
            fn visit_f64<E>(self, f: f64) -> Result<Doc<'de>, E> {
                Ok(Doc::Float(f))
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Doc<'de>, E> {
                Ok(Doc::Str(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Doc<'de>, E> {
                Ok(Doc::Str(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E>(self, s: String) -> Result<Doc<'de>, E> {
                Ok(Doc::Str(Cow::Owned(s)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Doc<'de>, A::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Doc::Array(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Doc<'de>, A::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
                while let Some(Text(key)) = map.next_key()? {
                    members.push((key, map.next_value()?));
                }
                Ok(Doc::Object(members))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ty {
    Null,
    Boolean,
    Integer,
    Number,
    String,
    Array,
    Object,
}

impl Ty {
    fn parse(s: &str) -> Option<Ty> {
        Some(match s {
            "null" => Ty::Null,
            "boolean" => Ty::Boolean,
            "integer" => Ty::Integer,
            "number" => Ty::Number,
            "string" => Ty::String,
            "array" => Ty::Array,
            "object" => Ty::Object,
            _ => return None,
        })
    }

    fn of(v: &Doc<'_>) -> &'static str {
        match v {
            Doc::Null => "null",
            Doc::Bool(_) => "boolean",
            Doc::Int(_) | Doc::UInt(_) => "integer",
            Doc::Float(_) => "number",
            Doc::Str(_) => "string",
            Doc::Array(_) => "array",
            Doc::Object(_) => "object",
        }
    }

    fn holds(self, v: &Doc<'_>) -> bool {
        match (self, v) {
            (Ty::Null, Doc::Null) | (Ty::Boolean, Doc::Bool(_)) | (Ty::String, Doc::Str(_)) => true,
            (Ty::Array, Doc::Array(_)) | (Ty::Object, Doc::Object(_)) => true,
            (Ty::Number | Ty::Integer, Doc::Int(_) | Doc::UInt(_)) | (Ty::Number, Doc::Float(_)) => true,
            // Not `fract()`: on baseline x86-64 that is a call to libm's `trunc`, which the compiler hoisted
            // above the match and paid for every number.
            (Ty::Integer, Doc::Float(f)) => f.is_finite() && (f.abs() >= 9_007_199_254_740_992.0 || *f == (*f as i64) as f64),
            _ => false,
        }
    }
}

/// Where validation failed (path segments innermost first) and what.
struct Failure {
    path: Vec<String>,
    what: String,
}

impl Failure {
    fn new(what: String) -> Failure {
        Failure { path: Vec::new(), what }
    }

    fn under(mut self, segment: String) -> Failure {
        self.path.push(segment);
        self
    }

    /// `#/a/0/b: what`, the path as a JSON pointer.
    fn render(&self) -> String {
        let mut at = String::from("#");
        for seg in self.path.iter().rev() {
            at.push('/');
            at.push_str(&seg.replace('~', "~0").replace('/', "~1"));
        }
        format!("{at}: {}", self.what)
    }
}

/// A compiled schema.
#[derive(Debug, Default)]
pub struct Schema {
    types: Vec<Ty>,
    allowed: Option<Vec<Doc<'static>>>,
    properties: Vec<(String, Schema)>,
    required: Vec<String>,
    /// For each of `properties`, its index in `required`: the streaming check finds both with one look-up.
    property_required: Vec<Option<usize>>,
    /// Some required member is not among `properties`, so a member not found there is looked up in `required`.
    required_elsewhere: bool,
    /// `additionalProperties`: `None` allows any, `Some(None)` none, `Some(Some(s))` those matching `s`.
    additional: Option<Option<Box<Schema>>>,
    items: Option<Box<Schema>>,
    min_items: Option<usize>,
    max_items: Option<usize>,
    unique_items: bool,
    min_length: Option<usize>,
    max_length: Option<usize>,
    pattern: Option<pattern::Pattern>,
    minimum: Option<(f64, bool)>,
    maximum: Option<(f64, bool)>,
    multiple_of: Option<f64>,
    /// Checkable while the body is parsed, without building a `Doc`: no combinators, no `uniqueItems`, no
    /// `enum`/`const` with an array or object among its values — here and in every schema below.
    streamable: bool,
    /// The kinds (`kind::*`) that `types` does not plainly allow: a value of one of them gets the whole check.
    refused: u8,
    /// Constrains nothing: every value is accepted without a look (set where compiled; `false` is only slower).
    open: bool,
    all_of: Vec<Schema>,
    any_of: Vec<Schema>,
    one_of: Vec<Schema>,
    not: Option<Box<Schema>>,
}

impl Schema {
    /// `schema` as found in `root` (the OpenAPI document its `$ref`s point into).
    pub fn compile(root: &Value, schema: &Value) -> Result<Schema, String> {
        compile(root, schema, 0, &std::cell::Cell::new(MAX_SUBSCHEMAS))
    }

    /// A body against this schema. `Err` says where (a JSON pointer into the body) and what, or that the body
    /// is not JSON.
    pub fn validate(&self, body: &[u8]) -> Result<(), String> {
        if self.streamable {
            return stream::check(self, body);
        }
        let doc = Doc::parse(body).map_err(|e| format!("the body is not JSON: {e}"))?;
        self.validate_doc(&doc)
    }

    /// `Err` says where (a JSON pointer into the body) and what.
    pub fn validate_doc(&self, v: &Doc<'_>) -> Result<(), String> {
        self.check(v).map_err(|f| f.render())
    }

    /// The type check alone, for a value of kind `found` (an array or object met while streaming).
    fn check_type(&self, holds: impl Fn(Ty) -> bool, found: &str) -> Result<(), Failure> {
        if !self.types.is_empty() && !self.types.iter().any(|t| holds(*t)) {
            let want: Vec<String> = self.types.iter().map(|t| format!("{t:?}").to_ascii_lowercase()).collect();
            return Err(Failure::new(format!("expected {}, found {found}", want.join(" or "))));
        }
        Ok(())
    }

    /// Nothing is allocated while a body conforms: the path to a failure is gathered on the way back out.
    fn check(&self, v: &Doc<'_>) -> Result<(), Failure> {
        if !self.types.is_empty() && !self.types.iter().any(|t| t.holds(v)) {
            let want: Vec<String> = self.types.iter().map(|t| format!("{t:?}").to_ascii_lowercase()).collect();
            return Err(Failure::new(format!("expected {}, found {}", want.join(" or "), Ty::of(v))));
        }
        if let Some(allowed) = &self.allowed
            && !allowed.iter().any(|a| same(a, v))
        {
            return Err(Failure::new(format!("{v} is not one of the allowed values")));
        }
        match v {
            Doc::Object(o) => {
                // Members first, then what is missing: the order the streaming check finds them in.
                for (k, val) in o {
                    let r = match self.properties.iter().find(|(name, _)| name == k) {
                        Some((_, s)) => s.check(val),
                        None => match &self.additional {
                            Some(None) => Err(Failure::new("no such property is allowed".into())),
                            Some(Some(s)) => s.check(val),
                            None => Ok(()),
                        },
                    };
                    r.map_err(|f| f.under(k.to_string()))?;
                }
                for r in &self.required {
                    if !o.iter().any(|(k, _)| k == r) {
                        return Err(Failure::new(format!("`{r}` is required")));
                    }
                }
            }
            Doc::Array(items) => {
                if self.unique_items && items.iter().enumerate().any(|(i, x)| items[..i].iter().any(|y| same(x, y))) {
                    return Err(Failure::new("items must be unique".into()));
                }
                if let Some(s) = &self.items {
                    for (i, x) in items.iter().enumerate() {
                        s.check(x).map_err(|f| f.under(i.to_string()))?;
                    }
                }
                // After the items: the order the streaming check finds them in.
                if self.min_items.is_some_and(|m| items.len() < m) || self.max_items.is_some_and(|m| items.len() > m) {
                    return Err(Failure::new(format!("{} items is out of bounds", items.len())));
                }
            }
            Doc::Str(s) => self.string_rules(s)?,
            num @ (Doc::Int(_) | Doc::UInt(_) | Doc::Float(_)) => self.number_rules(num)?,
            _ => {}
        }
        for s in &self.all_of {
            s.check(v)?;
        }
        if !self.any_of.is_empty() && !self.any_of.iter().any(|s| s.check(v).is_ok()) {
            return Err(Failure::new("matches none of anyOf".into()));
        }
        if !self.one_of.is_empty() {
            let n = self.one_of.iter().filter(|s| s.check(v).is_ok()).count();
            if n != 1 {
                return Err(Failure::new(format!("matches {n} of oneOf, not exactly one")));
            }
        }
        if let Some(s) = &self.not
            && s.check(v).is_ok()
        {
            return Err(Failure::new("matches a schema it must not".into()));
        }
        Ok(())
    }
}

impl Schema {
    /// `minLength`, `maxLength` and `pattern`.
    fn string_rules(&self, s: &str) -> Result<(), Failure> {
        if self.min_length.is_some() || self.max_length.is_some() {
            let n = s.chars().count();
            if self.min_length.is_some_and(|m| n < m) || self.max_length.is_some_and(|m| n > m) {
                return Err(Failure::new(format!("a length of {n} is out of bounds")));
            }
        }
        if let Some(p) = &self.pattern
            && !p.is_match(s)
        {
            return Err(Failure::new(format!("does not match the pattern `{}`", p.as_str())));
        }
        Ok(())
    }

    /// `minimum`, `maximum` (and their exclusive forms) and `multipleOf`, for a number.
    fn number_rules(&self, num: &Doc<'_>) -> Result<(), Failure> {
        if self.minimum.is_none() && self.maximum.is_none() && self.multiple_of.is_none() {
            return Ok(());
        }
        let f = num.as_f64().unwrap_or(f64::NAN);
        if let Some((m, exclusive)) = self.minimum
            && (f < m || (exclusive && f == m))
        {
            return Err(Failure::new(format!("{num} is below the minimum {m}")));
        }
        if let Some((m, exclusive)) = self.maximum
            && (f > m || (exclusive && f == m))
        {
            return Err(Failure::new(format!("{num} is above the maximum {m}")));
        }
        if let Some(d) = self.multiple_of
            && d > 0.0
            && ((f / d) - (f / d).round()).abs() > 1e-9
        {
            return Err(Failure::new(format!("{num} is not a multiple of {d}")));
        }
        Ok(())
    }
}

/// `left` counts down the subschemas still allowed: references are expanded, not shared, so a schema that
/// refers to itself twice over would otherwise grow to 2^`MAX_DEPTH` of them.
fn compile(root: &Value, s: &Value, depth: usize, left: &std::cell::Cell<usize>) -> Result<Schema, String> {
    if left.get() == 0 {
        return Err(format!("the schema expands to more than {MAX_SUBSCHEMAS} subschemas (references that recurse more than once?)"));
    }
    left.set(left.get() - 1);
    let accept_all = || Schema { streamable: true, open: true, ..Schema::default() };
    if depth > MAX_DEPTH {
        return Ok(accept_all());
    }
    let s = match s {
        Value::Bool(true) => return Ok(accept_all()),
        Value::Bool(false) => return Ok(Schema { not: Some(Box::default()), ..Schema::default() }),
        Value::Object(_) => s,
        _ => return Err("a schema must be an object".into()),
    };
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        let target =
            r.strip_prefix('#').and_then(|p| root.pointer(p)).ok_or_else(|| format!("`$ref: {r}` does not point into this document"))?;
        return compile(root, target, depth + 1, left);
    }
    let sub = |key: &str| -> Result<Option<Box<Schema>>, String> {
        s.get(key).map(|v| compile(root, v, depth + 1, left).map(Box::new)).transpose()
    };
    let list = |key: &str| -> Result<Vec<Schema>, String> {
        s.get(key).and_then(Value::as_array).into_iter().flatten().map(|v| compile(root, v, depth + 1, left)).collect()
    };
    let usize_of = |key: &str| s.get(key).and_then(Value::as_u64).map(|n| usize::try_from(n).unwrap_or(usize::MAX));
    let mut types: Vec<Ty> = match s.get("type") {
        Some(Value::String(t)) => Ty::parse(t).into_iter().collect(),
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).filter_map(Ty::parse).collect(),
        _ => Vec::new(),
    };
    if !types.is_empty() && s.get("nullable").and_then(Value::as_bool) == Some(true) {
        types.push(Ty::Null);
    }
    // OpenAPI 3.0 and Swagger 2.0: `exclusiveMinimum: true` beside `minimum`; 3.1: a number of its own.
    let bound = |key: &str, exclusive: &str| match (s.get(key).and_then(Value::as_f64), s.get(exclusive)) {
        (_, Some(Value::Number(n))) => n.as_f64().map(|f| (f, true)),
        (Some(m), Some(Value::Bool(e))) => Some((m, *e)),
        (Some(m), _) => Some((m, false)),
        (None, _) => None,
    };
    let pattern = match s.get("pattern").and_then(Value::as_str) {
        Some(p) => Some(pattern::Pattern::new(p).map_err(|e| format!("pattern `{p}`: {e}"))?),
        None => None,
    };
    let mut allowed = s.get("enum").and_then(Value::as_array).map(|values| values.iter().map(owned).collect());
    if let Some(c) = s.get("const") {
        allowed = Some(vec![owned(c)]);
    }
    let mut compiled = Schema {
        types,
        allowed,
        properties: s
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(k, v)| compile(root, v, depth + 1, left).map(|c| (k.clone(), c)))
            .collect::<Result<_, _>>()?,
        required: s.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect(),
        additional: match s.get("additionalProperties") {
            None | Some(Value::Bool(true)) => None,
            Some(Value::Bool(false)) => Some(None),
            Some(other) => Some(Some(Box::new(compile(root, other, depth + 1, left)?))),
        },
        items: sub("items")?,
        min_items: usize_of("minItems"),
        max_items: usize_of("maxItems"),
        unique_items: s.get("uniqueItems").and_then(Value::as_bool).unwrap_or(false),
        min_length: usize_of("minLength"),
        max_length: usize_of("maxLength"),
        pattern,
        minimum: bound("minimum", "exclusiveMinimum"),
        maximum: bound("maximum", "exclusiveMaximum"),
        multiple_of: s.get("multipleOf").and_then(Value::as_f64),
        all_of: list("allOf")?,
        any_of: list("anyOf")?,
        one_of: list("oneOf")?,
        not: sub("not")?,
        streamable: false,
        open: false,
        refused: 0,
        property_required: Vec::new(),
        required_elsewhere: false,
    };
    if !compiled.types.is_empty() {
        let allows = |t: Ty| compiled.types.contains(&t);
        let plainly = [
            (kind::NULL, allows(Ty::Null)),
            (kind::BOOLEAN, allows(Ty::Boolean)),
            (kind::WHOLE, allows(Ty::Integer) || allows(Ty::Number)),
            (kind::FLOAT, allows(Ty::Number)),
            (kind::STRING, allows(Ty::String)),
            (kind::ARRAY, allows(Ty::Array)),
            (kind::OBJECT, allows(Ty::Object)),
        ];
        compiled.refused = plainly.iter().filter(|(_, allowed)| !allowed).fold(0, |bits, (k, _)| bits | k);
    }
    compiled.property_required = compiled.properties.iter().map(|(name, _)| compiled.required.iter().position(|r| r == name)).collect();
    compiled.required_elsewhere = compiled.required.iter().any(|r| !compiled.properties.iter().any(|(name, _)| name == r));
    let c = &compiled;
    compiled.streamable = c.all_of.is_empty()
        && c.any_of.is_empty()
        && c.one_of.is_empty()
        && c.not.is_none()
        && !c.unique_items
        && c.allowed.as_ref().is_none_or(|a| a.iter().all(|v| !matches!(v, Doc::Array(_) | Doc::Object(_))))
        && c.properties.iter().all(|(_, p)| p.streamable)
        && c.items.as_ref().is_none_or(|i| i.streamable)
        && !matches!(&c.additional, Some(Some(a)) if !a.streamable);
    let c = &compiled;
    compiled.open = c.streamable
        && c.types.is_empty()
        && c.allowed.is_none()
        && c.properties.is_empty()
        && c.required.is_empty()
        && c.additional.is_none()
        && c.items.is_none()
        && (c.min_items, c.max_items, c.min_length, c.max_length) == (None, None, None, None)
        && c.pattern.is_none()
        && c.minimum.is_none()
        && c.maximum.is_none()
        && c.multiple_of.is_none();
    Ok(compiled)
}

/// Accepts any JSON value below a schema that constrains nothing.
static ANY: std::sync::LazyLock<Schema> = std::sync::LazyLock::new(|| Schema { streamable: true, open: true, ..Schema::default() });

/// The JSON schemas of one operation: its request body's, and its responses' by status (`default` as 0).
#[derive(Debug, Default)]
pub struct OperationSchemas {
    pub request: Option<Schema>,
    pub responses: Vec<(u16, Schema)>,
}

impl OperationSchemas {
    /// The schema for a response status: its own, else `default`.
    pub fn response(&self, status: u16) -> Option<&Schema> {
        let by = |s: u16| self.responses.iter().find(|(code, _)| *code == s).map(|(_, schema)| schema);
        by(status).or_else(|| by(0))
    }
}

/// The schemas of one operation of an OpenAPI 3.x or Swagger 2.0 document, for JSON bodies.
pub fn of_operation(doc: &Value, target: &str, verb: &str) -> Result<OperationSchemas, String> {
    let Some(op) = doc.get("paths").and_then(|p| p.get(target)).and_then(|p| p.get(verb.to_ascii_lowercase())) else {
        return Ok(OperationSchemas::default());
    };
    fn json_schema(content: Option<&Value>) -> Option<&Value> {
        let content = content?.as_object()?;
        content
            .iter()
            .find(|(media, _)| media.starts_with("application/json") || media.ends_with("+json"))
            .and_then(|(_, m)| m.get("schema"))
    }
    let request = match op.get("requestBody") {
        Some(body) => {
            let body = match body.get("$ref").and_then(Value::as_str) {
                Some(r) => r.strip_prefix('#').and_then(|p| doc.pointer(p)).unwrap_or(body),
                None => body,
            };
            json_schema(body.get("content"))
        }
        // Swagger 2.0: a body parameter.
        None => op
            .get("parameters")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|p| p.get("in").and_then(Value::as_str) == Some("body"))
            .and_then(|p| p.get("schema")),
    };
    let request = request.map(|s| Schema::compile(doc, s)).transpose()?;
    let mut responses = Vec::new();
    for (code, r) in op.get("responses").and_then(Value::as_object).into_iter().flatten() {
        let status = if code == "default" { 0 } else { code.parse::<u16>().unwrap_or(u16::MAX) };
        let schema = json_schema(r.get("content")).or_else(|| r.get("schema"));
        if let Some(s) = schema
            && status != u16::MAX
        {
            responses.push((status, Schema::compile(doc, s)?));
        }
    }
    Ok(OperationSchemas { request, responses })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn openapi_schemas_validate() {
        let doc = json!({"components": {"schemas": {
            "Order": {"type": "object", "required": ["id", "items"], "additionalProperties": false,
                      "properties": {"id": {"type": "integer", "minimum": 1},
                                     "note": {"type": "string", "maxLength": 5, "nullable": true},
                                     "status": {"enum": ["new", "paid"]},
                                     "items": {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/Item"}}}},
            "Item": {"type": "object", "required": ["sku"], "properties": {"sku": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]+$"}, "qty": {"type": "number", "exclusiveMinimum": true, "minimum": 0}}},
            "Tree": {"type": "object", "properties": {"children": {"type": "array", "items": {"$ref": "#/components/schemas/Tree"}}}}
        }}});
        let order = Schema::compile(&doc, &json!({"$ref": "#/components/schemas/Order"})).expect("compiles");
        let check = |schema: &Schema, body: &Value| schema.validate(body.to_string().as_bytes());
        assert_eq!(check(&order, &json!({"id": 1, "items": [{"sku": "ABC-1", "qty": 2}], "note": null, "status": "new"})), Ok(()));
        let bad = [
            (json!({"items": [{"sku": "ABC-1"}]}), "#: `id` is required"),
            (json!({"id": "1", "items": [{"sku": "ABC-1"}]}), "#/id: expected integer, found string"),
            (json!({"id": 0, "items": [{"sku": "ABC-1"}]}), "#/id: 0 is below the minimum 1"),
            (json!({"id": 1, "items": []}), "#/items: 0 items is out of bounds"),
            (json!({"id": 1, "items": [{"sku": "abc"}]}), "#/items/0/sku: does not match"),
            (json!({"id": 1, "items": [{"sku": "ABC-1", "qty": 0}]}), "#/items/0/qty: 0 is below"),
            (json!({"id": 1, "items": [{"sku": "ABC-1"}], "extra": 1}), "#/extra: no such property"),
            (json!({"id": 1, "items": [{"sku": "ABC-1"}], "status": "lost"}), "#/status: \"lost\" is not one of"),
            (json!({"id": 1, "items": [{"sku": "ABC-1"}], "note": "too long"}), "#/note: a length of 8"),
            (json!([1]), "#: expected object, found array"),
        ];
        assert!(order.streamable, "checked while parsing");
        for (body, want) in bad {
            let e = check(&order, &body).expect_err(&body.to_string());
            assert!(e.starts_with(want), "{body}: {e}");
            // The tree's verdict and message are the streaming check's.
            let text = body.to_string();
            assert_eq!(order.validate_doc(&Doc::parse(text.as_bytes()).expect("json")), Err(e), "{body}");
        }
        // More required members than the streaming check keeps bits for.
        let names: Vec<String> = (0..130).map(|i| format!("m{i}")).collect();
        let many = Schema::compile(&doc, &json!({"type": "object", "required": names})).expect("compiles");
        let mut all: serde_json::Map<String, Value> = names.iter().map(|n| (n.clone(), json!(1))).collect();
        assert_eq!(check(&many, &Value::Object(all.clone())), Ok(()));
        all.remove("m129");
        assert_eq!(check(&many, &Value::Object(all.clone())), Err("#: `m129` is required".into()));
        all.insert("m129".into(), json!(1));
        all.remove("m5");
        assert_eq!(check(&many, &Value::Object(all)), Err("#: `m5` is required".into()));
        let either =
            Schema::compile(&doc, &json!({"anyOf": [{"type": "string"}, {"$ref": "#/components/schemas/Order"}]})).expect("compiles");
        assert!(!either.streamable, "combinators need the whole value");
        assert_eq!(either.validate(br#""s""#), Ok(()));
        assert!(either.validate(b"[1]").is_err());
        assert!(
            order
                .validate(br#"{"id": 1, "items": [{"sku": "ABC-1"}]} trailing"#)
                .expect_err("trailing")
                .starts_with("the body is not JSON")
        );
        assert!(order.validate(br#"{"id": 1, "items": [{"sku": "ABC-1"}"#).expect_err("cut").starts_with("the body is not JSON"));
        // A recursive schema compiles (bounded) and validates.
        let tree = Schema::compile(&doc, &json!({"$ref": "#/components/schemas/Tree"})).expect("recursive");
        assert_eq!(check(&tree, &json!({"children": [{"children": []}]})), Ok(()));
        assert!(Schema::compile(&doc, &json!({"$ref": "#/components/schemas/Missing"})).is_err());
        // Recursing twice over would expand to 2^48 subschemas: refused by count, not by exhaustion.
        let twice = json!({"components": {"schemas": {"Node": {"type": "object", "properties": {
            "left": {"$ref": "#/components/schemas/Node"}, "right": {"$ref": "#/components/schemas/Node"}}}}}});
        let e = Schema::compile(&twice, &json!({"$ref": "#/components/schemas/Node"})).expect_err("too large");
        assert!(e.contains("more than 20000 subschemas"), "{e}");
        assert!(tree.streamable, "a recursive schema is checked while reading");
        assert!(Schema::compile(&doc, &json!({"type": "string", "pattern": "("})).is_err());
    }

    #[test]
    fn operations_of_both_openapi_and_swagger() {
        let oas = json!({"paths": {"/orders": {"post": {
            "requestBody": {"content": {"application/json": {"schema": {"type": "object", "required": ["id"]}}}},
            "responses": {"201": {"content": {"application/json": {"schema": {"type": "object"}}}}, "default": {"description": "x"}}}}}});
        let ops = of_operation(&oas, "/orders", "POST").expect("oas");
        assert!(ops.request.expect("request schema").validate(b"{}").is_err());
        assert_eq!(ops.responses.iter().map(|(s, _)| *s).collect::<Vec<_>>(), vec![201]);
        let swagger = json!({"paths": {"/orders": {"post": {"parameters": [{"in": "body", "name": "b", "schema": {"type": "array"}}],
            "responses": {"200": {"schema": {"type": "string"}}}}}}});
        let ops = of_operation(&swagger, "/orders", "POST").expect("swagger");
        assert!(ops.request.expect("body parameter").validate(b"{}").is_err());
        assert_eq!(ops.responses.len(), 1);
        assert!(of_operation(&swagger, "/nothing", "GET").expect("none").request.is_none());
    }

    #[test]
    fn documents_borrow_compare_by_value_and_refuse_what_is_not_json() {
        let body = br#"{"plain": "abc", "escaped": "a\nb", "n": [1, 1.0, -2, 18446744073709551615], "plain": true}"#;
        let doc = Doc::parse(body).expect("parses");
        let Doc::Object(members) = &doc else { panic!("an object: {doc:?}") };
        assert!(matches!(members[0].1, Doc::Str(Cow::Borrowed("abc"))), "unescaped strings borrow from the body");
        assert_eq!(members[1].1, Doc::Str(Cow::Owned("a\nb".into())));
        assert_eq!(members.len(), 4, "duplicate members are kept, so each is validated");
        let Doc::Array(n) = &members[2].1 else { panic!("an array") };
        assert!(same(&n[0], &n[1]), "1 equals 1.0");
        assert!(!same(&n[0], &n[2]));
        assert_eq!(n[3], Doc::UInt(u64::MAX));
        let (x, y) = (br#"{"a": "abc", "n": [1, -2.5]}"#, br#"{"n": [1.0, -2.5], "a": "abc"}"#);
        assert!(same(&Doc::parse(x).expect("parses"), &Doc::parse(y).expect("parses")), "objects compare regardless of order");

        let doc = serde_json::json!({"components": {}});
        let one = Schema::compile(&doc, &serde_json::json!({"enum": [1, "x", {"a": [true]}]})).expect("compiles");
        for ok in [&b"1.0"[..], b"\"x\"", br#"{"a": [true]}"#] {
            assert_eq!(one.validate(ok), Ok(()), "{}", String::from_utf8_lossy(ok));
        }
        assert_eq!(one.validate(b"2"), Err("#: 2 is not one of the allowed values".into()));
        let unique = Schema::compile(&doc, &serde_json::json!({"uniqueItems": true})).expect("compiles");
        assert!(unique.validate(b"[1, 1.0]").is_err());
        assert_eq!(unique.validate(br#"[{"a": 1, "b": 2}, {"b": 2, "a": 3}]"#), Ok(()));

        for bad in [&b""[..], b"{", b"{\"a\": 1} x", b"[1,]", b"\"\\x\""] {
            let e = one.validate(bad).expect_err("not JSON");
            assert!(e.starts_with("the body is not JSON: "), "{e}");
        }
        // Nesting past serde_json's limit is an error, not a stack overflow.
        let deep = "[".repeat(100_000);
        assert!(one.validate(deep.as_bytes()).expect_err("too deep").starts_with("the body is not JSON: "));
    }
}

#[cfg(test)]
mod agreement {
    use super::*;
    use serde_json::json;

    /// The streaming reader and the tree (serde_json) agree on what is JSON and on what the schema says, over
    /// bodies mutated byte by byte from a corpus of valid and tricky ones.
    #[test]
    fn the_streaming_check_agrees_with_the_tree() {
        let doc = json!({"components": {"schemas": {
            "Order": {"type": "object", "required": ["id"], "properties": {
                "id": {"type": "integer", "minimum": 1}, "name": {"type": "string", "maxLength": 8, "pattern": "^[a-z\\u00e9 ]*$"},
                "tags": {"type": "array", "maxItems": 3, "items": {"type": "string"}}, "price": {"type": "number", "maximum": 100},
                "flag": {"type": ["boolean", "null"]}, "sub": {"$ref": "#/components/schemas/Order"}}}}}});
        let schemas = [
            Schema::compile(&doc, &json!({"$ref": "#/components/schemas/Order"})).expect("schema"),
            Schema::compile(&doc, &json!({})).expect("schema"),
            Schema::compile(&doc, &json!({"type": "array", "items": {"type": "integer"}})).expect("schema"),
        ];
        assert!(schemas.iter().all(|s| s.streamable));
        assert!(schemas[1].open && !schemas[0].open);
        // Strings longer than eight bytes, with their escapes and ends at every offset the eight-byte reader
        // may meet them: the mutations below move them about.
        let corpus: [&[u8]; 14] = [
            br#"{"name": "abcdefghijklmno", "tags": ["0123456789abcdef\n", "0123456\"89abcdefg", "\u00e9\u00e9\u00e9\u00e9x"], "id": 3}"#,
            "{\"tags\": [\"0123456789\u{e9}abcdefghi\\t0123456789abcdefghi\", \"\u{1F600}0123456\"], \"id\": 4}".as_bytes(),
            br#"{"id": 1, "name": "ab\u00e9", "tags": ["a", "b\n"], "price": 1.5e1, "flag": null, "sub": {"id": 2}}"#,
            br#"{"id": 18446744073709551615, "price": -0.0, "name": "\ud83d\ude00"}"#,
            br#"[1, -9223372036854775808, 9223372036854775808, 2E-3, 0, -0]"#,
            br#"  {"a": [true, false, null, {"b": []}], "\"k\\": "\/\b\f\r\t"}  "#,
            br#"{"id": 1e400}"#,
            br#"{"id": 01}"#,
            b"[\"\xc3\xa9\", \"\x7f\"]",
            br#""\ud800""#,
            br#"{"id": 1, "id": "x"}"#,
            br#"[[[[[[[[[[]]]]]]]]]]"#,
            br#"{"id": 2, "tags": ["a", "b", "c", "d"]}"#,
            br#"12.5"#,
        ];
        let alphabet = b"{}[]\":,.-+eE0123456789 tfnul\\/\"ab\n\x01\xc3\xa9\xff";
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut seen = [0usize; 3];
        for round in 0..20_000 {
            let mut body = corpus[round % corpus.len()].to_vec();
            for _ in 0..=(next() % 3) {
                let at = (next() as usize) % (body.len() + 1);
                let byte = alphabet[(next() as usize) % alphabet.len()];
                match next() % 4 {
                    0 if at < body.len() => body[at] = byte,
                    1 => body.insert(at, byte),
                    2 if at < body.len() => drop(body.remove(at)),
                    _ => body.truncate(at),
                }
            }
            for schema in &schemas {
                let streamed = schema.validate(&body);
                let tree = match Doc::parse(&body) {
                    Ok(d) => schema.validate_doc(&d),
                    Err(e) => Err(format!("the body is not JSON: {e}")),
                };
                let not_json = |r: &Result<(), String>| r.as_ref().is_err_and(|e| e.starts_with("the body is not JSON"));
                let shown = String::from_utf8_lossy(&body);
                if not_json(&tree) {
                    // The stream may stop first at a schema failure before the syntax error.
                    assert!(streamed.is_err(), "{shown}: streamed {streamed:?}, tree {tree:?}");
                } else {
                    assert_eq!(streamed, tree, "{shown}");
                }
                if not_json(&streamed) {
                    assert!(not_json(&tree), "{shown}: streamed {streamed:?}, tree {tree:?}");
                }
                seen[match &tree {
                    Ok(()) => 0,
                    Err(_) if not_json(&tree) => 2,
                    Err(_) => 1,
                }] += 1;
            }
        }
        // Each verdict is well represented: accepted, refused by the schema, not JSON.
        assert!(seen.iter().all(|&n| n > 2_000), "{seen:?}");
        let deep = "[".repeat(129) + &"]".repeat(129);
        assert!(schemas[1].validate(deep.as_bytes()).expect_err("too deep").contains("nested too deeply"));
        let ok = "[".repeat(128) + &"]".repeat(128);
        assert_eq!(schemas[1].validate(ok.as_bytes()), Ok(()));
        assert_eq!(
            schemas[0].validate(b"{\n  \"id\": 1,\n  x}"),
            Err("the body is not JSON: expected a member name at line 3 column 3".into())
        );
    }
}

#[cfg(test)]
mod timing {
    use super::*;
    use serde_json::json;

    #[test]
    #[ignore = "a measurement, not a test: cargo test --release -p apim-gateway schema::timing -- --ignored --nocapture"]
    fn bench_body() {
        let doc = json!({"components": {"schemas": {
            "Order": {"type": "object", "required": ["items"], "properties": {
                "items": {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/Item"}},
                "note": {"type": "string", "maxLength": 200}}},
            "Item": {"type": "object", "required": ["sku", "qty"], "additionalProperties": false, "properties": {
                "sku": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]+$"}, "qty": {"type": "integer", "minimum": 1}}}}}});
        let with = Schema::compile(&doc, &json!({"$ref": "#/components/schemas/Order"})).expect("schema");
        let mut no_pattern = doc.clone();
        no_pattern["components"]["schemas"]["Item"]["properties"]["sku"] = json!({"type": "string"});
        let without = Schema::compile(&no_pattern, &json!({"$ref": "#/components/schemas/Order"})).expect("schema");
        let items: Vec<serde_json::Value> = (0..36).map(|i| json!({"sku": format!("ABC-{i}"), "qty": i + 1})).collect();
        let body = json!({"note": "bench", "items": items}).to_string();
        let nothing = Schema::compile(&doc, &json!({})).expect("schema");
        // The best of 10 batches: this host's neighbours make single batches vary by a third. APIM_TIMING_N=1000
        // makes one short batch of each, for counting instructions under `valgrind --tool=callgrind`, which does
        // not vary.
        let short: Option<u32> = std::env::var("APIM_TIMING_N").ok().and_then(|n| n.parse().ok());
        let (n, batches) = short.map_or((20_000, 10), |n| (n, 1));
        for (name, s) in [("with pattern", &with), ("without", &without), ("constraining nothing", &nothing)] {
            let best = (0..batches)
                .map(|_| {
                    let t = std::time::Instant::now();
                    for _ in 0..n {
                        s.validate(body.as_bytes()).expect("valid");
                    }
                    t.elapsed() / n
                })
                .min()
                .unwrap_or_default();
            println!("{name}: {best:?} per body of {} bytes", body.len());
        }
        // The same body again and again lets the branch predictor learn it whole, which a gateway's request path,
        // between two bodies, does not: 64 bodies that differ in their numbers and string lengths, in turn.
        let bodies: Vec<String> = (0..64u64)
            .map(|k| {
                let items: Vec<serde_json::Value> =
                    (0..36u64).map(|i| json!({"sku": format!("ABC-{}", (i * 7919 + k * 104_729) % 10u64.pow(1 + ((i + k) % 5) as u32)), "qty": 1 + (i * k) % 997})).collect();
                json!({"note": "bench".repeat(1 + (k % 3) as usize), "items": items}).to_string()
            })
            .collect();
        let best = (0..batches)
            .map(|_| {
                let t = std::time::Instant::now();
                for i in 0..n as usize {
                    with.validate(bodies[i % bodies.len()].as_bytes()).expect("valid");
                }
                t.elapsed() / n
            })
            .min()
            .unwrap_or_default();
        println!("with pattern, 64 bodies in turn: {best:?} per body");
        let n = n * 10;
        let t = std::time::Instant::now();
        for _ in 0..n {
            std::hint::black_box(serde_json::from_slice::<serde::de::IgnoredAny>(body.as_bytes()).expect("json"));
        }
        println!("parse alone: {:?}", t.elapsed() / n);
        let t = std::time::Instant::now();
        for _ in 0..n {
            std::hint::black_box(Doc::parse(body.as_bytes()).expect("json"));
        }
        println!("parse into Doc: {:?}", t.elapsed() / n);
    }
}
