//! WSO2's mocked implementation (`endpointImplementationType: MOCKED_OAS`): the gateway answers each operation
//! from the API's OpenAPI document, so a prototype needs no backend. The answer is the operation's first success
//! response (lowest 2xx, else `default`): its example (`example`, the first of `examples`, Swagger 2.0's
//! `examples`), else one made from its schema. Compiled once per snapshot; a request costs a clone of the bytes.

use bytes::Bytes;
use http::{HeaderValue, StatusCode};
use serde_json::{Map, Value, json};

/// One operation's canned answer.
#[derive(Debug, Clone)]
pub struct MockResponse {
    pub status: StatusCode,
    /// `None` for an answer without a body (a 204, or a response that declares no content).
    pub content_type: Option<HeaderValue>,
    pub body: Bytes,
}

/// `$ref`s followed at most this deep (a document that refers to itself in a loop still ends).
const MAX_REFS: usize = 16;
/// Schemas nested deeper than this are left out of a made-up example.
const MAX_DEPTH: usize = 8;

/// `#/components/schemas/X` (or Swagger's `#/definitions/X`) followed until a value that is not a reference.
fn resolve<'a>(doc: &'a Value, mut v: &'a Value) -> &'a Value {
    for _ in 0..MAX_REFS {
        let Some(pointer) = v.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix('#')) else { return v };
        match doc.pointer(pointer) {
            Some(target) => v = target,
            None => return v,
        }
    }
    v
}

/// The answer for `verb target` of `doc` (OpenAPI 3.x or Swagger 2.0); a 200 with an empty JSON object when the
/// document does not describe the operation's responses.
pub fn of_operation(doc: &Value, target: &str, verb: &str) -> MockResponse {
    let op = doc.get("paths").and_then(|p| p.get(target)).and_then(|p| p.get(verb.to_ascii_lowercase())).map(|o| resolve(doc, o));
    let responses = op.and_then(|o| o.get("responses")).and_then(Value::as_object);
    let chosen = responses.and_then(|r| {
        let mut codes: Vec<(u16, &Value)> =
            r.iter().filter_map(|(code, v)| code.parse::<u16>().ok().filter(|c| (200..300).contains(c)).map(|c| (c, v))).collect();
        codes.sort_by_key(|(c, _)| *c);
        codes.first().map(|(c, v)| (*c, *v)).or_else(|| r.get("default").map(|v| (200, v)))
    });
    let Some((code, response)) = chosen else {
        return json_answer(StatusCode::OK, &json!({}));
    };
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
    let response = resolve(doc, response);
    if status == StatusCode::NO_CONTENT {
        return MockResponse { status, content_type: None, body: Bytes::new() };
    }
    // OpenAPI 3.x: `content` by media type, JSON preferred.
    if let Some(content) = response.get("content").and_then(Value::as_object) {
        let (media, m) = match content.iter().find(|(media, _)| is_json(media)).or_else(|| content.iter().next()) {
            Some(found) => found,
            None => return MockResponse { status, content_type: None, body: Bytes::new() },
        };
        let example = m
            .get("example")
            .cloned()
            .or_else(|| {
                m.get("examples")
                    .and_then(Value::as_object)
                    .and_then(|e| e.values().next())
                    .map(|e| resolve(doc, e))
                    .and_then(|e| e.get("value").cloned())
            })
            .or_else(|| m.get("schema").map(|s| from_schema(doc, s, 0)));
        return answer(status, media, example.unwrap_or(Value::Null));
    }
    // Swagger 2.0: `examples` by media type, or the response's `schema`.
    if let Some((media, example)) =
        response.get("examples").and_then(Value::as_object).and_then(|e| e.iter().find(|(m, _)| is_json(m)).or_else(|| e.iter().next()))
    {
        return answer(status, media, example.clone());
    }
    match response.get("schema") {
        Some(schema) => json_answer(status, &from_schema(doc, schema, 0)),
        None => MockResponse { status, content_type: None, body: Bytes::new() },
    }
}

fn is_json(media: &str) -> bool {
    media.starts_with("application/json") || media.ends_with("+json")
}

fn json_answer(status: StatusCode, v: &Value) -> MockResponse {
    MockResponse { status, content_type: Some(HeaderValue::from_static("application/json")), body: Bytes::from(v.to_string()) }
}

/// JSON media types get the example as JSON; others a string example as it is written.
fn answer(status: StatusCode, media: &str, example: Value) -> MockResponse {
    if is_json(media) {
        let mut a = json_answer(status, &example);
        a.content_type = HeaderValue::from_str(media).ok().or(a.content_type);
        return a;
    }
    let body = match example {
        Value::String(s) => Bytes::from(s),
        Value::Null => Bytes::new(),
        other => Bytes::from(other.to_string()),
    };
    MockResponse { status, content_type: HeaderValue::from_str(media).ok(), body }
}

/// A value the schema accepts: its own `example`, `default` or first `enum` value where it has one, else made up
/// by type (objects from their properties, arrays of one item).
fn from_schema(doc: &Value, schema: &Value, depth: usize) -> Value {
    let s = resolve(doc, schema);
    if depth > MAX_DEPTH {
        return Value::Null;
    }
    if let Some(v) = s.get("example").or_else(|| s.get("default")).or_else(|| s.get("enum").and_then(|e| e.get(0))) {
        return v.clone();
    }
    if let Some(all) = s.get("allOf").and_then(Value::as_array) {
        let mut merged = Map::new();
        for part in all {
            if let Value::Object(o) = from_schema(doc, part, depth + 1) {
                merged.extend(o);
            }
        }
        return Value::Object(merged);
    }
    if let Some(first) = ["oneOf", "anyOf"].iter().find_map(|k| s.get(*k).and_then(Value::as_array).and_then(|a| a.first())) {
        return from_schema(doc, first, depth + 1);
    }
    let kind = match s.get("type") {
        Some(Value::String(t)) => t.as_str(),
        // OpenAPI 3.1's list of types: the first that is not null.
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).find(|t| *t != "null").unwrap_or("null"),
        _ if s.get("properties").is_some() => "object",
        _ if s.get("items").is_some() => "array",
        _ => "object",
    };
    match kind {
        "object" => {
            let mut o = Map::new();
            if let Some(props) = s.get("properties").and_then(Value::as_object) {
                for (name, p) in props {
                    o.insert(name.clone(), from_schema(doc, p, depth + 1));
                }
            }
            Value::Object(o)
        }
        "array" => match s.get("items") {
            Some(items) => Value::Array(vec![from_schema(doc, items, depth + 1)]),
            None => Value::Array(Vec::new()),
        },
        "integer" => json!(0),
        "number" => json!(0.0),
        "boolean" => json!(true),
        "string" => json!(match s.get("format").and_then(Value::as_str) {
            Some("date-time") => "2026-01-01T00:00:00Z",
            Some("date") => "2026-01-01",
            Some("uuid") => "3fa85f64-5717-4562-b3fc-2c963f66afa6",
            Some("email") => "user@example.com",
            Some("uri" | "url") => "https://example.com",
            _ => "string",
        }),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(m: &MockResponse) -> Value {
        serde_json::from_slice(&m.body).expect("json body")
    }

    #[test]
    fn answers_from_examples_then_schemas_in_both_dialects() {
        let doc = json!({
            "openapi": "3.0.1",
            "paths": {
                "/menu": {"get": {"responses": {
                    "404": {"description": "none"},
                    "200": {"content": {"application/json": {"example": [{"name": "Margherita"}]}}}}}},
                "/order": {"post": {"responses": {"201": {"$ref": "#/components/responses/Made"}}}},
                "/order/{id}": {"delete": {"responses": {"204": {"description": "gone"}}}},
                "/named": {"get": {"responses": {"200": {"content": {"application/json": {"examples": {"one": {"value": {"n": 1}}}}}}}}},
                "/text": {"get": {"responses": {"default": {"content": {"text/plain": {"example": "hello"}}}}}}
            },
            "components": {
                "responses": {"Made": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Order"}}}}},
                "schemas": {"Order": {"type": "object", "properties": {
                    "id": {"type": "string", "format": "uuid"},
                    "size": {"type": "string", "enum": ["small", "large"]},
                    "count": {"type": "integer"},
                    "items": {"type": "array", "items": {"$ref": "#/components/schemas/Order"}}}}}
            }
        });
        let menu = of_operation(&doc, "/menu", "GET");
        assert_eq!((menu.status, body(&menu)), (StatusCode::OK, json!([{"name": "Margherita"}])));
        let order = of_operation(&doc, "/order", "POST");
        assert_eq!(order.status, StatusCode::CREATED);
        let made = body(&order);
        assert_eq!((made["size"].clone(), made["count"].clone()), (json!("small"), json!(0)));
        assert_eq!(made["id"], "3fa85f64-5717-4562-b3fc-2c963f66afa6");
        // The schema refers to itself: made up to a bounded depth.
        assert!(made["items"][0]["items"].is_array());
        let gone = of_operation(&doc, "/order/{id}", "DELETE");
        assert_eq!((gone.status, gone.body.len(), gone.content_type.is_none()), (StatusCode::NO_CONTENT, 0, true));
        assert_eq!(body(&of_operation(&doc, "/named", "GET")), json!({"n": 1}));
        let text = of_operation(&doc, "/text", "GET");
        assert_eq!((text.body.as_ref(), text.content_type), (&b"hello"[..], Some(HeaderValue::from_static("text/plain"))));
        // An operation the document does not describe: an empty object.
        assert_eq!(body(&of_operation(&doc, "/nowhere", "GET")), json!({}));

        let swagger = json!({"swagger": "2.0", "paths": {"/pets": {"get": {"responses": {
            "200": {"examples": {"application/json": {"pets": ["rex"]}}}}}},
            "/pet": {"get": {"responses": {"200": {"schema": {"$ref": "#/definitions/Pet"}}}}}},
            "definitions": {"Pet": {"properties": {"name": {"type": "string", "example": "rex"}, "ok": {"type": "boolean"}}}}});
        assert_eq!(body(&of_operation(&swagger, "/pets", "GET")), json!({"pets": ["rex"]}));
        assert_eq!(body(&of_operation(&swagger, "/pet", "GET")), json!({"name": "rex", "ok": true}));
    }

    #[test]
    fn a_reference_loop_ends() {
        let doc = json!({"paths": {"/x": {"get": {"responses": {"200": {"$ref": "#/a"}}}}}, "a": {"$ref": "#/a"}});
        // The loop is left after MAX_REFS hops; the response has no content: an empty 200.
        let m = of_operation(&doc, "/x", "GET");
        assert_eq!((m.status, m.body.len()), (StatusCode::OK, 0));
    }
}
