//! OpenAPI 3.0/3.1 and Swagger 2.0 definitions: parsed from JSON or YAML (errors carry the parser's line and
//! column), summarised into WSO2's API fields, and generated from an API's operations when it has none.

use serde_json::{Map, Value, json};

use crate::error::{ApiError, Result};

const VERBS: [&str; 7] = ["get", "post", "put", "delete", "patch", "head", "options"];

/// What a definition says about the API.
pub struct Summary {
    pub spec_version: String,
    pub title: Option<String>,
    pub version: Option<String>,
    pub description: Option<String>,
    /// (VERB, path)
    pub operations: Vec<(String, String)>,
    /// Operation scopes from the security requirements, by (VERB, path).
    pub scopes: Vec<Vec<String>>,
    /// WSO2's `x-auth-type` and `x-throttling-tier` of each operation, by (VERB, path).
    pub extensions: Vec<(Option<String>, Option<String>)>,
    pub endpoint: Option<String>,
}

/// Parses JSON or YAML. The field name is what the client sent (`file`, `apiDefinition`).
pub fn parse(field: &str, text: &str) -> Result<Value> {
    let trimmed = text.trim_start();
    let doc: Value = if trimmed.starts_with('{') {
        serde_json::from_str(text)
            .map_err(|e| ApiError::field(field, format!("invalid JSON at line {}, column {}: {e}", e.line(), e.column())))?
    } else {
        serde_norway::from_str(text).map_err(|e| {
            let at = e.location().map(|l| format!(" at line {}, column {}", l.line(), l.column())).unwrap_or_default();
            ApiError::field(field, format!("invalid YAML{at}: {e}"))
        })?
    };
    if !doc.is_object() {
        return Err(ApiError::field(field, "an OpenAPI definition must be an object"));
    }
    // What gateways read of it (the named endpoints an interceptor may choose) must be runnable.
    apim_wire::api::named_endpoints(Some(&doc)).map_err(|e| ApiError::field(field, e))?;
    Ok(doc)
}

/// Validates the shape and extracts WSO2's fields.
pub fn summarize(field: &str, doc: &Value) -> Result<Summary> {
    let spec_version = match (doc.get("openapi").and_then(Value::as_str), doc.get("swagger").and_then(Value::as_str)) {
        (Some(v), _) if v.starts_with("3.0") || v.starts_with("3.1") => v.to_string(),
        (None, Some("2.0")) => "2.0".to_string(),
        (Some(v), _) => return Err(ApiError::field(field, format!("openapi version `{v}` is not supported (3.0, 3.1, or swagger 2.0)"))),
        _ => return Err(ApiError::field(field, "neither `openapi: 3.x` nor `swagger: \"2.0\"` is declared")),
    };
    let info =
        doc.get("info").and_then(Value::as_object).ok_or_else(|| ApiError::field(field, "`info` (with title and version) is required"))?;
    let paths = match doc.get("paths") {
        Some(Value::Object(p)) => p.clone(),
        None if spec_version.starts_with("3.1") => Map::new(),
        _ => return Err(ApiError::field(field, "`paths` must be an object")),
    };
    let mut operations = Vec::new();
    let mut scopes = Vec::new();
    let mut extensions = Vec::new();
    for (path, item) in &paths {
        if !path.starts_with('/') {
            return Err(ApiError::field(field, format!("path `{path}` must start with /")));
        }
        let Some(item) = item.as_object() else { return Err(ApiError::field(field, format!("path `{path}` must be an object"))) };
        for (method, op) in item {
            if !VERBS.contains(&method.as_str()) {
                continue;
            }
            operations.push((method.to_ascii_uppercase(), path.clone()));
            let mut s = Vec::new();
            for req in op.get("security").and_then(Value::as_array).into_iter().flatten() {
                for (_, list) in req.as_object().into_iter().flatten() {
                    s.extend(list.as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_string));
                }
            }
            scopes.push(s);
            // WSO2 writes these on export and reads them on import; `Any` is its old name for the default.
            let auth = op.get("x-auth-type").and_then(Value::as_str).map(|a| match a {
                "Any" => "Application & Application User".to_string(),
                other => other.to_string(),
            });
            let tier = op.get("x-throttling-tier").and_then(Value::as_str).filter(|t| !t.is_empty()).map(str::to_string);
            extensions.push((auth, tier));
        }
    }
    let endpoint = if spec_version == "2.0" {
        doc.get("host").and_then(Value::as_str).map(|h| {
            let scheme = doc.get("schemes").and_then(Value::as_array).and_then(|s| s.first()).and_then(Value::as_str).unwrap_or("https");
            format!("{scheme}://{h}{}", doc.get("basePath").and_then(Value::as_str).unwrap_or(""))
        })
    } else {
        doc.get("servers")
            .and_then(Value::as_array)
            .and_then(|s| s.first())
            .and_then(|s| s.get("url"))
            .and_then(Value::as_str)
            .filter(|u| u.starts_with("http"))
            .map(str::to_string)
    };
    Ok(Summary {
        spec_version,
        title: info.get("title").and_then(Value::as_str).map(str::to_string),
        version: info.get("version").and_then(Value::as_str).map(str::to_string),
        description: info.get("description").and_then(Value::as_str).map(str::to_string),
        operations,
        scopes,
        extensions,
        endpoint,
    })
}

/// An OpenAPI 3.0 document for an API defined only by its operations.
pub fn generate(api: &Value) -> Value {
    let mut paths = Map::new();
    for op in api.get("operations").and_then(Value::as_array).into_iter().flatten() {
        let (Some(target), Some(verb)) = (op.get("target").and_then(Value::as_str), op.get("verb").and_then(Value::as_str)) else {
            continue;
        };
        let entry = paths.entry(target.to_string()).or_insert_with(|| json!({}));
        entry[verb.to_ascii_lowercase()] = json!({"responses": {"200": {"description": "OK"}}, "x-auth-type": op.get("authType"), "x-throttling-tier": op.get("throttlingPolicy")});
    }
    json!({
        "openapi": "3.0.1",
        "info": {"title": api.get("name"), "version": api.get("version"), "description": api.get("description").cloned().unwrap_or(json!(""))},
        "servers": [{"url": "/"}],
        "paths": paths,
    })
}
