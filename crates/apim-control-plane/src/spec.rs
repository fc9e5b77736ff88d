//! Our OpenAPI documents: WSO2's own, cut down to the operations this control plane implements. The lists
//! below are the contract; a test regenerates the committed documents from `../shared/specs` and fails if they
//! are stale, and another calls every listed operation to prove the router serves it.

use std::collections::BTreeSet;

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
    ("get", "/throttling-policies/{policyLevel}"),
    ("post", "/apis/import-openapi"),
    ("post", "/apis/validate-openapi"),
    ("post", "/apis/copy-api"),
    ("get", "/apis/{apiId}/swagger"),
    ("put", "/apis/{apiId}/swagger"),
    ("get", "/subscriptions"),
    ("post", "/subscriptions/block-subscription"),
    ("post", "/subscriptions/unblock-subscription"),
];

pub const DEVPORTAL: &[(&str, &str)] = &[
    ("get", "/apis"),
    ("get", "/apis/{apiId}"),
    ("get", "/applications"),
    ("post", "/applications"),
    ("get", "/applications/{applicationId}"),
    ("put", "/applications/{applicationId}"),
    ("delete", "/applications/{applicationId}"),
    ("post", "/applications/{applicationId}/generate-keys"),
    ("get", "/applications/{applicationId}/oauth-keys"),
    ("post", "/applications/{applicationId}/oauth-keys/{keyMappingId}/generate-token"),
    ("post", "/applications/{applicationId}/oauth-keys/{keyMappingId}/regenerate-secret"),
    ("get", "/subscriptions"),
    ("post", "/subscriptions"),
    ("post", "/subscriptions/multiple"),
    ("get", "/subscriptions/{subscriptionId}"),
    ("delete", "/subscriptions/{subscriptionId}"),
    ("get", "/throttling-policies/{policyLevel}"),
];

pub const ADMIN: &[(&str, &str)] = &[
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
    ("get", "/applications"),
    ("post", "/applications/{applicationId}/change-owner"),
];

/// The committed documents, served at each API's `/swagger.yaml` (JSON is YAML).
pub const PUBLISHER_DOC: &str = include_str!("../openapi/publisher-v4.json");
pub const DEVPORTAL_DOC: &str = include_str!("../openapi/devportal-v3.json");
pub const ADMIN_DOC: &str = include_str!("../openapi/admin-v4.json");

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
pub fn subset(wso2: &Value, operations: &[(&str, &str)], base: &str) -> Result<Value, String> {
    let paths = wso2.get("paths").and_then(Value::as_object).ok_or("the document has no paths")?;
    let mut out_paths = Map::new();
    for (method, path) in operations {
        let item = paths.get(*path).and_then(Value::as_object).ok_or_else(|| format!("{path} is not in WSO2's document"))?;
        let op = item.get(*method).ok_or_else(|| format!("{} {path} is not in WSO2's document", method.to_uppercase()))?;
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
        let Some(target) = all.get(kind).and_then(|k| k.get(name)) else { return Err(format!("{r} is referenced but not defined")) };
        collect_refs(target, &mut pending);
        let section = kept.entry(kind.to_string()).or_insert_with(|| Value::Object(Map::new()));
        section[name] = target.clone();
    }
    if let Some(schemes) = all.get("securitySchemes") {
        kept.insert("securitySchemes".into(), schemes.clone());
    }
    doc.insert("components".into(), Value::Object(kept));
    Ok(Value::Object(doc))
}
