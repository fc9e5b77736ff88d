//! Our OpenAPI documents: WSO2's own, cut down to the operations this control plane implements. The lists
//! below are the contract; a test regenerates the committed documents from `fixtures/specs` and fails if they
//! are stale, and another calls every listed operation to prove the router serves it.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use serde_json::{Map, Value};

pub const PUBLISHER: &[(&str, &str)] = &[
    ("get", "/apis"),
    ("post", "/apis"),
    ("get", "/apis/{apiId}"),
    ("put", "/apis/{apiId}"),
    ("delete", "/apis/{apiId}"),
    ("post", "/apis/change-lifecycle"),
    ("get", "/apis/{apiId}/lifecycle-history"),
    ("get", "/apis/{apiId}/lifecycle-state"),
    ("get", "/apis/{apiId}/revisions"),
    ("post", "/apis/{apiId}/revisions"),
    ("get", "/apis/{apiId}/revisions/{revisionId}"),
    ("delete", "/apis/{apiId}/revisions/{revisionId}"),
    ("post", "/apis/{apiId}/deploy-revision"),
    ("post", "/apis/{apiId}/undeploy-revision"),
    ("post", "/apis/{apiId}/restore-revision"),
    ("get", "/apis/{apiId}/deployments"),
    ("get", "/apis/{apiId}/client-certificates"),
    ("post", "/apis/{apiId}/client-certificates"),
    ("get", "/apis/{apiId}/client-certificates/{alias}"),
    ("put", "/apis/{apiId}/client-certificates/{alias}"),
    ("delete", "/apis/{apiId}/client-certificates/{alias}"),
    ("get", "/apis/{apiId}/client-certificates/{alias}/content"),
    ("get", "/apis/{apiId}/client-certs/{keyType}"),
    ("post", "/apis/{apiId}/client-certs/{keyType}"),
    ("get", "/apis/{apiId}/client-certs/{keyType}/{alias}"),
    ("put", "/apis/{apiId}/client-certs/{keyType}/{alias}"),
    ("delete", "/apis/{apiId}/client-certs/{keyType}/{alias}"),
    ("get", "/apis/{apiId}/client-certs/{keyType}/{alias}/content"),
    ("get", "/api-products"),
    ("post", "/api-products"),
    ("get", "/api-products/{apiProductId}"),
    ("put", "/api-products/{apiProductId}"),
    ("delete", "/api-products/{apiProductId}"),
    ("get", "/api-products/{apiProductId}/swagger"),
    ("get", "/api-products/{apiProductId}/is-outdated"),
    ("get", "/api-products/{apiProductId}/thumbnail"),
    ("put", "/api-products/{apiProductId}/thumbnail"),
    ("get", "/api-products/{apiProductId}/documents"),
    ("post", "/api-products/{apiProductId}/documents"),
    ("get", "/api-products/{apiProductId}/documents/{documentId}"),
    ("put", "/api-products/{apiProductId}/documents/{documentId}"),
    ("delete", "/api-products/{apiProductId}/documents/{documentId}"),
    ("get", "/api-products/{apiProductId}/documents/{documentId}/content"),
    ("post", "/api-products/{apiProductId}/documents/{documentId}/content"),
    ("get", "/api-products/{apiProductId}/revisions"),
    ("post", "/api-products/{apiProductId}/revisions"),
    ("get", "/api-products/{apiProductId}/revisions/{revisionId}"),
    ("delete", "/api-products/{apiProductId}/revisions/{revisionId}"),
    ("get", "/api-products/{apiProductId}/deployments"),
    ("post", "/api-products/{apiProductId}/deploy-revision"),
    ("post", "/api-products/{apiProductId}/undeploy-revision"),
    ("post", "/api-products/{apiProductId}/restore-revision"),
    ("post", "/api-products/change-lifecycle"),
    ("put", "/api-products/{apiProductId}/deployments/{deploymentId}"),
    ("delete", "/api-products/{apiProductId}/lifecycle-state/pending-tasks"),
    ("post", "/api-products/copy-api-products"),
    ("put", "/apis/{apiId}/deployments/{deploymentId}"),
    ("delete", "/apis/{apiId}/lifecycle-state/pending-tasks"),
    ("get", "/api-products/export"),
    ("post", "/api-products/import"),
    ("get", "/api-products/{apiProductId}/lifecycle-history"),
    ("get", "/api-products/{apiProductId}/lifecycle-state"),
    ("get", "/throttling-policies/{policyLevel}"),
    ("get", "/throttling-policies/{policyLevel}/{policyName}"),
    ("get", "/apis/{apiId}/subscription-policies"),
    ("get", "/apis/{apiId}/resource-paths"),
    ("get", "/scopes/{scopeId}/usage"),
    ("post", "/apis/import-openapi"),
    ("post", "/apis/validate-openapi"),
    ("post", "/apis/validate"),
    ("post", "/apis/validate-endpoint"),
    ("post", "/apis/copy-api"),
    ("get", "/apis/export"),
    ("post", "/apis/import"),
    ("get", "/apis/{apiId}/swagger"),
    ("put", "/apis/{apiId}/swagger"),
    ("get", "/subscriptions"),
    ("post", "/subscriptions/block-subscription"),
    ("post", "/subscriptions/unblock-subscription"),
    ("get", "/subscriptions/{subscriptionId}/subscriber-info"),
    ("get", "/scopes"),
    ("post", "/scopes"),
    ("get", "/scopes/{scopeId}"),
    ("put", "/scopes/{scopeId}"),
    ("delete", "/scopes/{scopeId}"),
    ("head", "/scopes/{scopeId}"),
    ("get", "/settings"),
    ("head", "/roles/{roleId}"),
    ("head", "/me/roles/{roleId}"),
    ("get", "/search"),
    ("get", "/api-categories"),
    ("get", "/apis/{apiId}/documents"),
    ("post", "/apis/{apiId}/documents"),
    ("get", "/apis/{apiId}/documents/{documentId}"),
    ("put", "/apis/{apiId}/documents/{documentId}"),
    ("delete", "/apis/{apiId}/documents/{documentId}"),
    ("get", "/apis/{apiId}/documents/{documentId}/content"),
    ("post", "/apis/{apiId}/documents/{documentId}/content"),
    ("post", "/apis/{apiId}/documents/validate"),
    ("get", "/apis/{apiId}/thumbnail"),
    ("put", "/apis/{apiId}/thumbnail"),
    ("get", "/key-managers"),
    ("get", "/endpoint-certificates"),
    ("post", "/endpoint-certificates"),
    ("get", "/endpoint-certificates/{alias}"),
    ("put", "/endpoint-certificates/{alias}"),
    ("delete", "/endpoint-certificates/{alias}"),
    ("get", "/endpoint-certificates/{alias}/content"),
    ("get", "/endpoint-certificates/{alias}/usage"),
    ("get", "/operation-policies"),
    ("post", "/operation-policies"),
    ("get", "/operation-policies/export"),
    ("post", "/operation-policies/import"),
    ("get", "/operation-policies/{operationPolicyId}"),
    ("delete", "/operation-policies/{operationPolicyId}"),
    ("get", "/operation-policies/{operationPolicyId}/content"),
    ("get", "/apis/{apiId}/operation-policies"),
    ("post", "/apis/{apiId}/operation-policies"),
    ("get", "/apis/{apiId}/operation-policies/{operationPolicyId}"),
    ("delete", "/apis/{apiId}/operation-policies/{operationPolicyId}"),
    ("get", "/apis/{apiId}/operation-policies/{operationPolicyId}/content"),
];

pub const DEVPORTAL: &[(&str, &str)] = &[
    ("get", "/apis"),
    ("get", "/apis/{apiId}"),
    ("get", "/apis/{apiId}/swagger"),
    ("get", "/apis/{apiId}/subscription-policies"),
    ("get", "/throttling-policies/{policyLevel}/{policyId}"),
    ("get", "/applications"),
    ("post", "/applications"),
    ("get", "/applications/{applicationId}"),
    ("put", "/applications/{applicationId}"),
    ("delete", "/applications/{applicationId}"),
    ("get", "/applications/export"),
    ("post", "/applications/import"),
    ("post", "/applications/{applicationId}/generate-keys"),
    ("post", "/applications/{applicationId}/map-keys"),
    ("get", "/applications/{applicationId}/oauth-keys"),
    ("get", "/applications/{applicationId}/oauth-keys/{keyMappingId}"),
    ("put", "/applications/{applicationId}/oauth-keys/{keyMappingId}"),
    ("post", "/applications/{applicationId}/oauth-keys/{keyMappingId}/clean-up"),
    ("post", "/applications/{applicationId}/oauth-keys/{keyMappingId}/generate-token"),
    ("post", "/applications/{applicationId}/oauth-keys/{keyMappingId}/regenerate-secret"),
    ("post", "/applications/{applicationId}/api-keys/{keyType}/generate"),
    ("post", "/applications/{applicationId}/api-keys/{keyType}/revoke"),
    ("get", "/subscriptions"),
    ("post", "/subscriptions"),
    ("post", "/subscriptions/multiple"),
    ("get", "/subscriptions/{subscriptionId}"),
    ("put", "/subscriptions/{subscriptionId}"),
    ("delete", "/subscriptions/{subscriptionId}"),
    ("get", "/throttling-policies/{policyLevel}"),
    ("get", "/settings"),
    ("get", "/settings/application-attributes"),
    ("post", "/me/change-password"),
    ("get", "/search"),
    ("get", "/tags"),
    ("get", "/api-categories"),
    ("get", "/apis/{apiId}/documents"),
    ("get", "/apis/{apiId}/documents/{documentId}"),
    ("get", "/apis/{apiId}/documents/{documentId}/content"),
    ("get", "/apis/{apiId}/thumbnail"),
    ("get", "/key-managers"),
];

pub const ADMIN: &[(&str, &str)] = &[
    ("get", "/throttling/policies/export"),
    ("post", "/throttling/policies/import"),
    ("get", "/throttling/policies/application"),
    ("post", "/throttling/policies/application"),
    ("get", "/throttling/policies/application/{policyId}"),
    ("put", "/throttling/policies/application/{policyId}"),
    ("delete", "/throttling/policies/application/{policyId}"),
    ("get", "/throttling/policies/subscription"),
    ("post", "/throttling/policies/subscription"),
    ("get", "/throttling/policies/subscription/{policyId}"),
    ("put", "/throttling/policies/subscription/{policyId}"),
    ("delete", "/throttling/policies/subscription/{policyId}"),
    ("get", "/throttling/policies/advanced"),
    ("post", "/throttling/policies/advanced"),
    ("get", "/throttling/policies/advanced/{policyId}"),
    ("put", "/throttling/policies/advanced/{policyId}"),
    ("delete", "/throttling/policies/advanced/{policyId}"),
    ("get", "/throttling/policies/custom"),
    ("post", "/throttling/policies/custom"),
    ("get", "/throttling/policies/custom/{ruleId}"),
    ("put", "/throttling/policies/custom/{ruleId}"),
    ("delete", "/throttling/policies/custom/{ruleId}"),
    ("get", "/throttling/deny-policies"),
    ("post", "/throttling/deny-policies"),
    ("get", "/throttling/deny-policy/{conditionId}"),
    ("patch", "/throttling/deny-policy/{conditionId}"),
    ("delete", "/throttling/deny-policy/{conditionId}"),
    ("get", "/environments"),
    ("post", "/environments"),
    ("put", "/environments/{environmentId}"),
    ("delete", "/environments/{environmentId}"),
    ("get", "/key-managers"),
    ("post", "/key-managers"),
    ("get", "/key-managers/{keyManagerId}"),
    ("put", "/key-managers/{keyManagerId}"),
    ("delete", "/key-managers/{keyManagerId}"),
    ("post", "/key-managers/discover"),
    ("get", "/applications"),
    ("post", "/applications/{applicationId}/change-owner"),
    ("get", "/applications/{applicationId}"),
    ("delete", "/applications/{applicationId}"),
    ("get", "/apis"),
    ("post", "/apis/{apiId}/change-provider"),
    ("get", "/throttling/policies/search"),
    ("get", "/key-managers/{keyManagerId}/api-usages"),
    ("get", "/key-managers/{keyManagerId}/app-usages"),
    ("get", "/settings"),
    ("head", "/roles/{roleId}"),
    ("get", "/api-categories"),
    ("post", "/api-categories"),
    ("put", "/api-categories/{apiCategoryId}"),
    ("delete", "/api-categories/{apiCategoryId}"),
];

/// The committed documents, served at each API's `/swagger.yaml` (JSON is YAML).
pub const PUBLISHER_DOC: &str = include_str!("../openapi/publisher-v4.json");
pub const DEVPORTAL_DOC: &str = include_str!("../openapi/devportal-v3.json");
pub const ADMIN_DOC: &str = include_str!("../openapi/admin-v4.json");
/// Our own document (not cut from WSO2's: WSO2 has no analytics API of its own), for the three analytics
/// operations under the Publisher, DevPortal and Admin prefixes (`src/analytics.rs`).
pub const ANALYTICS_DOC: &str = include_str!("../openapi/analytics-v1.json");

/// Our own document for the Admin API's gateway nodes (`src/gateway_nodes.rs`), which WSO2 does not have.
pub const PLATFORM_DOC: &str = include_str!("../openapi/platform-v1.json");

fn collect_refs(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(o) => {
            if let Some(Value::String(r)) = o.get("$ref") {
                out.insert(r.clone());
            }
            for x in o.values() {
                collect_refs(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}

/// WSO2's document with only `operations`, the components they reach, and `base` as the server URL. An
/// operation missing from WSO2's document is an error: we implement nothing WSO2 does not define.
/// Where WSO2's document contradicts WSO2's server, ours follows the server, and says so in the schema's
/// description: `GET`/`PUT /apis/{apiId}/swagger` declare a string but answer the definition as a JSON document;
/// `API.keyManagers` is declared a read-only object, but WSO2's publisher sets it and answers a list of names;
/// `GET /apis/{apiId}/subscription-policies` declares one policy but answers the API's plans as a list.
fn errata(doc: &mut Map<String, Value>) {
    let plans = "/~1apis~1{apiId}~1subscription-policies/get/responses/200/content/application~1json/schema";
    if let Some(schema) = doc.get_mut("paths").and_then(|p| p.pointer_mut(plans))
        && schema.get("$ref").is_some()
    {
        let one = schema.clone();
        *schema = serde_json::json!({"type": "array", "items": one,
            "description": "The API's subscription plans. WSO2's document declares one policy; its server, like this one, answers a list."});
    }
    if let Some(schema) = doc.get_mut("components").and_then(|c| c.pointer_mut("/schemas/API/properties/keyManagers")) {
        *schema = serde_json::json!({"type": "array", "items": {"type": "string"}, "example": ["all"],
            "description": "The key managers whose tokens the API accepts: names from the Admin API, `Resident Key Manager`, or `all` (the default). WSO2's document declares a read-only object; its server, like this one, takes and answers a list."});
    }
    for method in ["get", "put"] {
        let pointer = format!("/paths/~1apis~1{{apiId}}~1swagger/{method}/responses/200/content/application~1json/schema");
        if let Some(schema) = doc.get_mut("paths").and_then(|p| p.pointer_mut(&pointer.replacen("/paths", "", 1))) {
            *schema = serde_json::json!({"type": "object",
                "description": "The OpenAPI definition as a JSON document (WSO2's document says `string`; its server, like this one, answers the document itself)."});
        }
    }
}

/// Why WSO2's document cannot be cut to the listed operations.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SubsetError {
    #[error("the document has no paths")]
    NoPaths,
    #[error("{0} is not in WSO2's document")]
    NoPath(String),
    #[error("{method} {path} is not in WSO2's document")]
    NoOperation { method: String, path: String },
    #[error("{0} is referenced but not defined")]
    Undefined(String),
}

/// WSO2's document `wso2` cut to `operations` (method, path) and the components they reach, served at `base`.
pub fn subset(wso2: &Value, operations: &[(&str, &str)], base: &str) -> Result<Value, SubsetError> {
    let paths = wso2.get("paths").and_then(Value::as_object).ok_or(SubsetError::NoPaths)?;
    let mut out_paths = Map::new();
    for (method, path) in operations {
        let item = paths.get(*path).and_then(Value::as_object).ok_or_else(|| SubsetError::NoPath(path.to_string()))?;
        let op = item.get(*method).ok_or_else(|| SubsetError::NoOperation { method: method.to_uppercase(), path: path.to_string() })?;
        let entry = out_paths.entry(path.to_string()).or_insert_with(|| Value::Object(Map::new()));
        if let (Some(e), Some(params)) = (entry.as_object_mut(), item.get("parameters")) {
            e.insert("parameters".into(), params.clone());
        }
        entry[*method] = op.clone();
    }
    let mut doc = Map::new();
    for k in ["openapi", "info", "security"] {
        if let Some(v) = wso2.get(k) {
            doc.insert(k.into(), v.clone());
        }
    }
    doc.insert("servers".into(), serde_json::json!([{"url": base}]));
    doc.insert("paths".into(), Value::Object(out_paths));
    // Components reachable from the kept paths, transitively.
    let all = wso2.get("components").cloned().unwrap_or(Value::Null);
    let mut kept: Map<String, Value> = Map::new();
    let mut pending = BTreeSet::new();
    collect_refs(&Value::Object(doc.clone()), &mut pending);
    let mut seen = BTreeSet::new();
    while let Some(r) = pending.pop_first() {
        if !seen.insert(r.clone()) {
            continue;
        }
        let Some(rest) = r.strip_prefix("#/components/") else { continue };
        let Some((kind, name)) = rest.split_once('/') else { continue };
        let Some(target) = all.get(kind).and_then(|k| k.get(name)) else { return Err(SubsetError::Undefined(r)) };
        collect_refs(target, &mut pending);
        let section = kept.entry(kind.to_string()).or_insert_with(|| Value::Object(Map::new()));
        section[name] = target.clone();
    }
    if let Some(schemes) = all.get("securitySchemes") {
        kept.insert("securitySchemes".into(), schemes.clone());
    }
    doc.insert("components".into(), Value::Object(kept));
    errata(&mut doc);
    Ok(Value::Object(doc))
}

fn parsed(doc: &'static str, cell: &'static OnceLock<Value>) -> &'static Value {
    cell.get_or_init(|| serde_json::from_str(doc).unwrap_or(Value::Null))
}

static PUBLISHER_PARSED: OnceLock<Value> = OnceLock::new();
static ADMIN_PARSED: OnceLock<Value> = OnceLock::new();

/// The top-level properties of a component schema, following `$ref` and `allOf`.
fn properties(doc: &Value, schema: &Value, out: &mut Map<String, Value>) {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str)
        && let Some(target) = r.strip_prefix("#/components/schemas/").and_then(|n| doc.pointer(&format!("/components/schemas/{n}")))
    {
        properties(doc, target, out);
    }
    for part in schema.get("allOf").and_then(Value::as_array).into_iter().flatten() {
        properties(doc, part, out);
    }
    for (k, v) in schema.get("properties").and_then(Value::as_object).into_iter().flatten() {
        out.insert(k.clone(), v.clone());
    }
}

/// Checks `v` against `schema` (type, and recursively the declared properties and items); the path of the
/// first mismatch and the type wanted there.
/// WSO2's "none of these characters" patterns, `(^[^…]*$)` and `^[^…]+$`: the characters, whether `\s` is among
/// them, and whether the value must be non-empty. Other patterns are `None` (checked where the field is handled).
fn forbidden_chars(pattern: &str) -> Option<(Vec<char>, bool, bool)> {
    let p = pattern.strip_prefix('(').and_then(|p| p.strip_suffix(')')).unwrap_or(pattern);
    let mut it = p.strip_prefix("^[^")?.chars();
    let (mut chars, mut space) = (Vec::new(), false);
    loop {
        match it.next()? {
            ']' => break,
            '\\' => match it.next()? {
                's' => space = true,
                c => chars.push(c),
            },
            c => chars.push(c),
        }
    }
    match it.as_str() {
        "*$" => Some((chars, space, false)),
        "+$" => Some((chars, space, true)),
        _ => None,
    }
}

fn type_mismatch(doc: &Value, schema: &Value, v: &Value, path: &str, depth: usize) -> Option<(String, String)> {
    if depth > 12 {
        return None;
    }
    let mut resolved = Map::new();
    properties(doc, schema, &mut resolved);
    let target = match schema.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix("#/components/schemas/")) {
        Some(n) => doc.pointer(&format!("/components/schemas/{n}")).unwrap_or(schema),
        None => schema,
    };
    let t = target.get("type").and_then(Value::as_str).or(if resolved.is_empty() { None } else { Some("object") });
    let ok = match (t, v) {
        (None, _) => true,
        (_, Value::Null) => target.get("nullable").and_then(Value::as_bool).unwrap_or(false),
        (Some("string"), Value::String(_))
        | (Some("boolean"), Value::Bool(_))
        | (Some("array"), Value::Array(_))
        | (Some("object"), Value::Object(_)) => true,
        (Some("integer"), Value::Number(n)) => n.is_i64() || n.is_u64(),
        (Some("number"), Value::Number(_)) => true,
        _ => false,
    };
    if !ok {
        return Some((path.to_string(), format!("must be of type {}", t.unwrap_or("value"))));
    }
    if let Value::String(text) = v {
        let len = text.chars().count() as u64;
        if let Some(max) = target.get("maxLength").and_then(Value::as_u64).filter(|m| len > *m) {
            return Some((path.to_string(), format!("must be at most {max} characters")));
        }
        if let Some(min) = target.get("minLength").and_then(Value::as_u64).filter(|m| len < *m) {
            return Some((path.to_string(), format!("must be at least {min} characters")));
        }
        if let Some((chars, space, nonempty)) = target.get("pattern").and_then(Value::as_str).and_then(forbidden_chars) {
            let bad = text.chars().any(|c| chars.contains(&c) || (space && c.is_whitespace()));
            if bad || (nonempty && text.is_empty()) {
                let list: String = chars.iter().collect();
                let space = if space { " or whitespace" } else { "" };
                return Some((path.to_string(), format!("must not contain any of {list}{space}")));
            }
        }
    }
    if let Some(allowed) = target.get("enum").and_then(Value::as_array)
        && !allowed.contains(v)
    {
        let names: Vec<String> = allowed.iter().map(|a| a.to_string()).collect();
        return Some((path.to_string(), format!("must be one of {}", names.join(", "))));
    }
    match v {
        Value::Object(o) => {
            for req in target.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
                if !o.contains_key(req) {
                    return Some((format!("{path}.{req}"), "is required".into()));
                }
            }
            let extra = target.get("additionalProperties").filter(|a| a.is_object());
            for (k, sub) in o {
                // A property that is null is unset, as WSO2's Jackson reads it (WSO2's own answers carry them).
                if sub.is_null() {
                    continue;
                }
                let Some(ps) = resolved.get(k).or(extra) else { continue };
                if let Some(m) = type_mismatch(doc, ps, sub, &format!("{path}.{k}"), depth + 1) {
                    return Some(m);
                }
            }
            None
        }
        Value::Array(items) => {
            let item_schema = target.get("items")?;
            items.iter().enumerate().find_map(|(i, it)| type_mismatch(doc, item_schema, it, &format!("{path}[{i}]"), depth + 1))
        }
        _ => None,
    }
}

/// Fields the client sent that this version does not act on: kept when WSO2's schema `schema` (in the
/// publisher or admin document) defines them with the type given, a 400 naming the field when the type is
/// wrong, dropped when WSO2 does not define them. Fields in `handled` are the caller's business.
pub fn pass_through(admin: bool, schema: &str, o: &mut Map<String, Value>, handled: &[&str]) -> Result<(), (String, String)> {
    let doc = if admin { parsed(ADMIN_DOC, &ADMIN_PARSED) } else { parsed(PUBLISHER_DOC, &PUBLISHER_PARSED) };
    let mut props = Map::new();
    if let Some(s) = doc.pointer(&format!("/components/schemas/{schema}")) {
        properties(doc, s, &mut props);
    }
    let keys: Vec<String> = o.keys().filter(|k| !handled.contains(&k.as_str())).cloned().collect();
    for k in keys {
        match props.get(&k) {
            None => {
                o.remove(&k);
            }
            Some(p) if p.get("readOnly").and_then(Value::as_bool) == Some(true) => {
                o.remove(&k);
            }
            Some(p) => {
                if o[&k].is_null() {
                    o.remove(&k);
                    continue;
                }
                // Nulls inside go first: a required member given as null is then missing (400 naming it).
                if let Some(v) = o.get_mut(&k) {
                    drop_nulls(v);
                }
                if let Some(m) = type_mismatch(doc, p, &o[&k], &k, 0) {
                    return Err(m);
                }
            }
        }
    }
    Ok(())
}

/// Removes members that are `null` at any depth: they mean unset (as WSO2's Jackson reads them), and answering
/// them back would give a `null` where WSO2's schema wants a value.
fn drop_nulls(v: &mut Value) {
    match v {
        Value::Object(o) => {
            o.retain(|_, x| !x.is_null());
            o.values_mut().for_each(drop_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::forbidden_chars;

    #[test]
    fn wso2_forbidden_character_patterns_are_read() {
        let (chars, space, nonempty) = forbidden_chars(r#"(^[^~!@#;:%^*()+={}|\\<>"',&$\s+]*$)"#).expect("pattern");
        assert!(chars.contains(&'^') && chars.contains(&'\\') && chars.contains(&'+') && chars.contains(&'"'));
        assert!(space && !nonempty);
        let (chars, _, nonempty) = forbidden_chars(r#"^[^~!@#;:%^*()+={}|\\<>"',&/$\[\]\s+\/]+$"#).expect("pattern");
        assert!(chars.contains(&'[') && chars.contains(&']') && chars.contains(&'/') && nonempty);
        assert_eq!(forbidden_chars("^[a-zA-Z0-9_-]+$"), None);
        assert_eq!(forbidden_chars(r"^(([a-zA-Z0-9])\.)*$"), None);
    }
}
