//! JSON Schema validation of request and response bodies against the API's OpenAPI document (WSO2's
//! `enableSchemaValidation`): the subset OpenAPI 3.0/3.1 and Swagger 2.0 schemas use — `type` (and `nullable`),
//! `enum`, `const`, `properties`/`required`/`additionalProperties`, `items`, `minItems`/`maxItems`/`uniqueItems`,
//! `minLength`/`maxLength`/`pattern`, `minimum`/`maximum` (and their exclusive forms), `multipleOf`,
//! `allOf`/`anyOf`/`oneOf`/`not`, and local `$ref`s. Compiled once per snapshot (patterns compiled, references
//! resolved); a schema that recurses deeper than `MAX_DEPTH` accepts what is below that depth. Imports nothing
//! else from the crate.

use serde_json::Value;

const MAX_DEPTH: usize = 48;

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

    fn of(v: &Value) -> &'static str {
        match v {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }

    fn holds(self, v: &Value) -> bool {
        match (self, v) {
            (Ty::Null, Value::Null) | (Ty::Boolean, Value::Bool(_)) | (Ty::String, Value::String(_)) => true,
            (Ty::Array, Value::Array(_)) | (Ty::Object, Value::Object(_)) | (Ty::Number, Value::Number(_)) => true,
            (Ty::Integer, Value::Number(n)) => n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0),
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
}

/// A compiled schema.
#[derive(Debug, Default)]
pub struct Schema {
    types: Vec<Ty>,
    allowed: Option<Vec<Value>>,
    properties: Vec<(String, Schema)>,
    required: Vec<String>,
    /// `additionalProperties`: `None` allows any, `Some(None)` none, `Some(Some(s))` those matching `s`.
    additional: Option<Option<Box<Schema>>>,
    items: Option<Box<Schema>>,
    min_items: Option<usize>,
    max_items: Option<usize>,
    unique_items: bool,
    min_length: Option<usize>,
    max_length: Option<usize>,
    pattern: Option<regex::Regex>,
    minimum: Option<(f64, bool)>,
    maximum: Option<(f64, bool)>,
    multiple_of: Option<f64>,
    all_of: Vec<Schema>,
    any_of: Vec<Schema>,
    one_of: Vec<Schema>,
    not: Option<Box<Schema>>,
}

impl Schema {
    /// `schema` as found in `root` (the OpenAPI document its `$ref`s point into).
    pub fn compile(root: &Value, schema: &Value) -> Result<Schema, String> {
        compile(root, schema, 0)
    }

    /// `Err` says where (a JSON pointer into the body) and what.
    pub fn validate(&self, v: &Value) -> Result<(), String> {
        self.check(v).map_err(|f| {
            let mut at = String::from("#");
            for seg in f.path.iter().rev() {
                at.push('/');
                at.push_str(&seg.replace('~', "~0").replace('/', "~1"));
            }
            format!("{at}: {}", f.what)
        })
    }

    /// Nothing is allocated while a body conforms: the path to a failure is gathered on the way back out.
    fn check(&self, v: &Value) -> Result<(), Failure> {
        if !self.types.is_empty() && !self.types.iter().any(|t| t.holds(v)) {
            let want: Vec<String> = self.types.iter().map(|t| format!("{t:?}").to_ascii_lowercase()).collect();
            return Err(Failure::new(format!("expected {}, found {}", want.join(" or "), Ty::of(v))));
        }
        if let Some(allowed) = &self.allowed
            && !allowed.contains(v)
        {
            return Err(Failure::new(format!("{v} is not one of the allowed values")));
        }
        match v {
            Value::Object(o) => {
                for r in &self.required {
                    if !o.contains_key(r) {
                        return Err(Failure::new(format!("`{r}` is required")));
                    }
                }
                for (k, val) in o {
                    let r = match self.properties.iter().find(|(name, _)| name == k) {
                        Some((_, s)) => s.check(val),
                        None => match &self.additional {
                            Some(None) => Err(Failure::new("no such property is allowed".into())),
                            Some(Some(s)) => s.check(val),
                            None => Ok(()),
                        },
                    };
                    r.map_err(|f| f.under(k.clone()))?;
                }
            }
            Value::Array(items) => {
                if self.min_items.is_some_and(|m| items.len() < m) || self.max_items.is_some_and(|m| items.len() > m) {
                    return Err(Failure::new(format!("{} items is out of bounds", items.len())));
                }
                if self.unique_items && items.iter().enumerate().any(|(i, x)| items[..i].contains(x)) {
                    return Err(Failure::new("items must be unique".into()));
                }
                if let Some(s) = &self.items {
                    for (i, x) in items.iter().enumerate() {
                        s.check(x).map_err(|f| f.under(i.to_string()))?;
                    }
                }
            }
            Value::String(s) => {
                let n = s.chars().count();
                if self.min_length.is_some_and(|m| n < m) || self.max_length.is_some_and(|m| n > m) {
                    return Err(Failure::new(format!("a length of {n} is out of bounds")));
                }
                if let Some(p) = &self.pattern
                    && !p.is_match(s)
                {
                    return Err(Failure::new(format!("does not match the pattern `{}`", p.as_str())));
                }
            }
            Value::Number(num) => {
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
            }
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

fn compile(root: &Value, s: &Value, depth: usize) -> Result<Schema, String> {
    if depth > MAX_DEPTH {
        return Ok(Schema::default());
    }
    let s = match s {
        Value::Bool(true) => return Ok(Schema::default()),
        Value::Bool(false) => return Ok(Schema { not: Some(Box::default()), ..Schema::default() }),
        Value::Object(_) => s,
        _ => return Err("a schema must be an object".into()),
    };
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        let target =
            r.strip_prefix('#').and_then(|p| root.pointer(p)).ok_or_else(|| format!("`$ref: {r}` does not point into this document"))?;
        return compile(root, target, depth + 1);
    }
    let sub =
        |key: &str| -> Result<Option<Box<Schema>>, String> { s.get(key).map(|v| compile(root, v, depth + 1).map(Box::new)).transpose() };
    let list = |key: &str| -> Result<Vec<Schema>, String> {
        s.get(key).and_then(Value::as_array).into_iter().flatten().map(|v| compile(root, v, depth + 1)).collect()
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
        Some(p) => Some(regex::Regex::new(p).map_err(|e| format!("pattern `{p}`: {e}"))?),
        None => None,
    };
    let mut allowed = s.get("enum").and_then(Value::as_array).cloned();
    if let Some(c) = s.get("const") {
        allowed = Some(vec![c.clone()]);
    }
    Ok(Schema {
        types,
        allowed,
        properties: s
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(k, v)| compile(root, v, depth + 1).map(|c| (k.clone(), c)))
            .collect::<Result<_, _>>()?,
        required: s.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect(),
        additional: match s.get("additionalProperties") {
            None | Some(Value::Bool(true)) => None,
            Some(Value::Bool(false)) => Some(None),
            Some(other) => Some(Some(Box::new(compile(root, other, depth + 1)?))),
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
    })
}

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
        assert_eq!(order.validate(&json!({"id": 1, "items": [{"sku": "ABC-1", "qty": 2}], "note": null, "status": "new"})), Ok(()));
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
        for (body, want) in bad {
            let e = order.validate(&body).expect_err(&body.to_string());
            assert!(e.starts_with(want), "{body}: {e}");
        }
        // A recursive schema compiles (bounded) and validates.
        let tree = Schema::compile(&doc, &json!({"$ref": "#/components/schemas/Tree"})).expect("recursive");
        assert_eq!(tree.validate(&json!({"children": [{"children": []}]})), Ok(()));
        assert!(Schema::compile(&doc, &json!({"$ref": "#/components/schemas/Missing"})).is_err());
        assert!(Schema::compile(&doc, &json!({"type": "string", "pattern": "("})).is_err());
    }

    #[test]
    fn operations_of_both_openapi_and_swagger() {
        let oas = json!({"paths": {"/orders": {"post": {
            "requestBody": {"content": {"application/json": {"schema": {"type": "object", "required": ["id"]}}}},
            "responses": {"201": {"content": {"application/json": {"schema": {"type": "object"}}}}, "default": {"description": "x"}}}}}});
        let ops = of_operation(&oas, "/orders", "POST").expect("oas");
        assert!(ops.request.expect("request schema").validate(&json!({})).is_err());
        assert_eq!(ops.responses.iter().map(|(s, _)| *s).collect::<Vec<_>>(), vec![201]);
        let swagger = json!({"paths": {"/orders": {"post": {"parameters": [{"in": "body", "name": "b", "schema": {"type": "array"}}],
            "responses": {"200": {"schema": {"type": "string"}}}}}}});
        let ops = of_operation(&swagger, "/orders", "POST").expect("swagger");
        assert!(ops.request.expect("body parameter").validate(&json!({})).is_err());
        assert_eq!(ops.responses.len(), 1);
        assert!(of_operation(&swagger, "/nothing", "GET").expect("none").request.is_none());
    }
}
