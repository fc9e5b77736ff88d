//! WSO2's operation policies in the Publisher: the common ones (`/operation-policies…`) and an API's own
//! (`/apis/{apiId}/operation-policies…`), listed, read, downloaded, uploaded, deleted, exported and imported; and
//! the check that every policy an API attaches (`apiPolicies`, `operations[].operationPolicies`) is one of them.
//!
//! The common policies served are the gateway's own table, `apim_domain::policy::COMMON` (built in, read-only,
//! version `v1`, fixed ids), which is also what parses attachments: what is offered is what runs. An uploaded
//! policy (common or an API's) is kept with its definitions, but only when its name is one of that table: the
//! gateway runs its own implementation of the name, never a Synapse `.j2` or Choreo Connect template, so a
//! custom policy is refused (400) rather than stored to do nothing. Its attributes must be ones the gateway's
//! policy takes, with the same types, and its flows ones it runs on.

use std::collections::HashMap;
use std::io::{Cursor, Read, Write};
use std::sync::Arc;

use apim_domain::policy::{COMMON, COMMON_VERSION, PolicySpec};
use apim_store::{ApiStore, OperationPolicyRecord, OperationPolicyStore};
use axum::Json;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};

use crate::ControlPlane;
use crate::error::{ApiError, Result};
use crate::search::{Listing, Page};

const COMMON_VIEW: &[&str] = &["apim:common_operation_policy_view", "apim:common_operation_policy_manage", "apim:policies_import_export"];
const COMMON_CONTENT: &[&str] = &["apim:common_operation_policy_view", "apim:common_operation_policy_manage"];
const COMMON_ADD: &[&str] = &["apim:common_operation_policy_manage"];
const COMMON_DELETE: &[&str] = &["apim:common_operation_policy_manage", "apim:policies_import_export"];
const IMPORT_EXPORT: &[&str] = &["apim:policies_import_export"];
const API_VIEW: &[&str] =
    &["apim:api_view", "apim:api_manage", "apim:mediation_policy_view", "apim:mediation_policy_manage", "apim:api_mediation_policy_manage"];
const API_MANAGE: &[&str] =
    &["apim:api_manage", "apim:mediation_policy_create", "apim:mediation_policy_manage", "apim:api_mediation_policy_manage"];

/// The largest specification file taken.
const SPEC_MAX: usize = 256 << 10;
/// The largest policy definition (`.j2`, `.gotmpl`) taken.
const DEFINITION_MAX: usize = 1 << 20;
/// The largest export archive imported, and the most its entries may inflate to.
const ARCHIVE_MAX: usize = 4 << 20;
const ARCHIVE_ENTRIES_MAX: usize = 16;
/// Room for a multipart body: a specification, two definitions and the form around them.
const FORM_MAX: usize = SPEC_MAX + 2 * DEFINITION_MAX + (64 << 10);
/// The `version` of the specification files WSO2 4.2 exports.
const SPEC_FILE_VERSION: &str = "v4.2.0";
const GATEWAYS: [&str; 2] = ["Synapse", "ChoreoConnect"];

pub fn publisher_routes() -> axum::Router<Arc<ControlPlane>> {
    axum::Router::new()
        .route("/operation-policies", get(list_common).post(add_common).layer(DefaultBodyLimit::max(FORM_MAX)))
        .route("/operation-policies/export", get(export))
        .route("/operation-policies/import", post(import).layer(DefaultBodyLimit::max(ARCHIVE_MAX + (64 << 10))))
        .route("/operation-policies/{policy_id}", get(get_common).delete(delete_common))
        .route("/operation-policies/{policy_id}/content", get(common_content))
        .route("/apis/{api_id}/operation-policies", get(list_of_api).post(add_to_api).layer(DefaultBodyLimit::max(FORM_MAX)))
        .route("/apis/{api_id}/operation-policies/{policy_id}", get(get_of_api).delete(delete_of_api))
        .route("/apis/{api_id}/operation-policies/{policy_id}/content", get(content_of_api))
}

// === attachments, when an API is saved ===

/// Resolves each policy attached in `flows` (`{request, response, fault}`, already parsed by
/// `apim_domain::policy`) to a common policy or one of the API's own (`stored`: the uploaded common policies and
/// the API's, none of another API), by `policyId` or else (no id, or one given elsewhere) by `policyName` and `policyVersion` (default `v1`;
/// the API's own first), and
/// writes the `policyId` and `policyVersion` found into the attachment, so a policy in use can be told by its id.
pub(crate) fn resolve_attachments(flows: &mut Value, at: &str, stored: &[OperationPolicyRecord]) -> Result<()> {
    let Some(o) = flows.as_object_mut() else { return Ok(()) };
    for flow in ["request", "response", "fault"] {
        let Some(Value::Array(list)) = o.get_mut(flow) else { continue };
        for (i, p) in list.iter_mut().enumerate() {
            let Some(p) = p.as_object_mut() else { continue };
            let here = format!("{at}.{flow}[{i}]");
            let name = p.get("policyName").and_then(Value::as_str).unwrap_or("").to_string();
            let version = match p.get("policyVersion") {
                None | Some(Value::Null) => None,
                Some(Value::String(v)) if v.trim().is_empty() => None,
                Some(Value::String(v)) => Some(v.trim().to_string()),
                Some(_) => return Err(ApiError::field(&format!("{here}.policyVersion"), "must be a string")),
            };
            let id = match p.get("policyId") {
                None | Some(Value::Null) => None,
                Some(Value::String(v)) if v.trim().is_empty() => None,
                Some(Value::String(v)) => Some(v.trim().to_string()),
                Some(_) => return Err(ApiError::field(&format!("{here}.policyId"), "must be a string")),
            };
            let by_id = id.as_deref().and_then(|id| {
                COMMON
                    .iter()
                    .find(|c| c.id == id)
                    .map(|c| (c.name.to_string(), COMMON_VERSION.to_string()))
                    .or_else(|| stored.iter().find(|r| r.id == id).map(|r| (r.name.clone(), r.version.clone())))
            });
            let (found_id, found_version) = match (id, by_id) {
                (Some(id), Some((n, v))) => {
                    if n != name {
                        return Err(ApiError::field(
                            &format!("{here}.policyName"),
                            format!("`{name}` is not the name of policy `{id}` (`{n}`)"),
                        ));
                    }
                    if let Some(given) = &version
                        && *given != v
                    {
                        return Err(ApiError::field(
                            &format!("{here}.policyVersion"),
                            format!("policy `{id}` is version `{v}`, not `{given}`"),
                        ));
                    }
                    (id, v)
                }
                // An id this control plane never gave (an API exported from another WSO2) is looked up by name and
                // version, as WSO2's import does.
                (unknown, _) => {
                    let v = version.unwrap_or_else(|| COMMON_VERSION.to_string());
                    let own = stored.iter().find(|r| r.api_id.is_some() && r.name == name && r.version == v);
                    let common = stored.iter().find(|r| r.api_id.is_none() && r.name == name && r.version == v);
                    let found = own
                        .or(common)
                        .map(|r| r.id.clone())
                        .or_else(|| COMMON.iter().find(|c| c.name == name && v == COMMON_VERSION).map(|c| c.id.to_string()));
                    let Some(found) = found else {
                        if let Some(id) = unknown {
                            return Err(ApiError::field(
                                &format!("{here}.policyId"),
                                format!("`{id}` is neither a common operation policy nor one of this API's, and neither is `{name}` {v}"),
                            ));
                        }
                        let mut known: Vec<&str> = stored.iter().filter(|r| r.name == name).map(|r| r.version.as_str()).collect();
                        if apim_domain::policy::common(&name).is_some() {
                            known.push(COMMON_VERSION);
                        }
                        known.sort_unstable();
                        known.dedup();
                        return Err(ApiError::field(
                            &format!("{here}.policyVersion"),
                            format!("there is no operation policy `{name}` version `{v}` (versions: {})", known.join(", ")),
                        ));
                    };
                    (found, v)
                }
            };
            p.insert("policyId".into(), json!(found_id));
            p.insert("policyVersion".into(), json!(found_version));
        }
    }
    Ok(())
}

/// For a copy of the API `from` (a new version, as WSO2 makes one): its own policies under new ids, as
/// `(old id, copy)`, with the document's attachments pointed at the copies. The copies' `api_id` is the source's
/// until the new API has its id.
pub(crate) async fn copies_of(cp: &ControlPlane, from: &str, doc: &mut Value) -> Result<Vec<(String, OperationPolicyRecord)>> {
    let mut out = Vec::new();
    for r in cp.db.operation_policies(Some(from), false).await? {
        out.push((r.id.clone(), OperationPolicyRecord { id: uuid::Uuid::new_v4().to_string(), ..r }));
    }
    let renamed = |flows: &mut Value| {
        for flow in ["request", "response", "fault"] {
            for p in flows.get_mut(flow).and_then(Value::as_array_mut).into_iter().flatten() {
                let Some(id) = p.get("policyId").and_then(Value::as_str) else { continue };
                if let Some((_, copy)) = out.iter().find(|(old, _)| old == id) {
                    p["policyId"] = json!(copy.id);
                }
            }
        }
    };
    if let Some(flows) = doc.get_mut("apiPolicies") {
        renamed(flows);
    }
    for op in doc.get_mut("operations").and_then(Value::as_array_mut).into_iter().flatten() {
        if let Some(flows) = op.get_mut("operationPolicies") {
            renamed(flows);
        }
    }
    Ok(out)
}

/// An API's own policies as apictl's project holds them: `Policies/{name}_{version}.yaml` (the specification in
/// its envelope) with the `.j2` and `.gotmpl` definitions beside it.
pub(crate) async fn project_files(cp: &ControlPlane, api_id: &str) -> Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    for listed in cp.db.operation_policies(Some(api_id), false).await? {
        let Some(r) = cp.db.operation_policy(Some(api_id), &listed.id).await? else { continue };
        let stem = format!("Policies/{}_{}", crate::project::segment(&r.name), crate::project::segment(&r.version));
        let spec = json!({"type": "operation_policy_specification", "version": SPEC_FILE_VERSION, "data": stored_spec(&r)});
        out.push((format!("{stem}.yaml"), serde_norway::to_string(&spec).map_err(ApiError::unavailable)?.into_bytes()));
        if let Some(d) = &r.synapse_definition {
            out.push((format!("{stem}.j2"), d.clone().into_bytes()));
        }
        if let Some(d) = &r.cc_definition {
            out.push((format!("{stem}.gotmpl"), d.clone().into_bytes()));
        }
    }
    Ok(out)
}

/// The policies of a project's `Policies/` folder (file names relative to it), each checked as an upload is
/// (errors name `Policies/<file>`), for the API `api_id`.
pub(crate) fn from_project(
    files: &std::collections::BTreeMap<String, Vec<u8>>,
    api_id: &str,
    now: i64,
) -> Result<Vec<OperationPolicyRecord>> {
    let mut uploads: std::collections::BTreeMap<String, (String, Upload)> = std::collections::BTreeMap::new();
    for (file, bytes) in files {
        let field = format!("Policies/{file}");
        let Some((stem, ext)) = file.rsplit_once('.') else { continue };
        let max = if matches!(ext, "yaml" | "yml" | "json") { SPEC_MAX } else { DEFINITION_MAX };
        if bytes.len() > max {
            return Err(ApiError::field(&field, format!("is larger than {} KiB", max >> 10)));
        }
        let text = || String::from_utf8(bytes.clone()).map_err(|_| ApiError::field(&field, "is not UTF-8 text"));
        let entry = uploads.entry(stem.to_string()).or_insert_with(|| (format!("Policies/{stem}"), Upload::default()));
        match ext {
            "yaml" | "yml" | "json" => {
                entry.0 = field.clone();
                entry.1.spec = Some(text()?);
            }
            "j2" => entry.1.synapse = Some(text()?),
            "gotmpl" => entry.1.cc = Some(text()?),
            _ => {}
        }
    }
    uploads.into_values().map(|(field, up)| record_of(up, Some(api_id), &field, now)).collect()
}

/// Whether the API document attaches the policy `id` anywhere.
fn attaches(doc: &Value, id: &str) -> bool {
    let in_flows = |flows: &Value| {
        ["request", "response", "fault"].iter().any(|f| {
            flows.get(*f).and_then(Value::as_array).is_some_and(|l| l.iter().any(|p| p.get("policyId").and_then(Value::as_str) == Some(id)))
        })
    };
    doc.get("apiPolicies").is_some_and(in_flows)
        || doc
            .get("operations")
            .and_then(Value::as_array)
            .is_some_and(|ops| ops.iter().any(|op| op.get("operationPolicies").is_some_and(in_flows)))
}

// === the OperationPolicyData DTO ===

/// A built-in policy's specification as WSO2 writes one (`OperationPolicyData` without `id` and
/// `isAPISpecific`).
fn builtin_spec(p: &PolicySpec) -> Map<String, Value> {
    let attributes: Vec<Value> = p
        .attributes
        .iter()
        .map(|a| {
            let mut o = Map::new();
            o.insert("name".into(), json!(a.name));
            o.insert("displayName".into(), json!(a.display_name));
            o.insert("description".into(), json!(a.description));
            if let Some(r) = a.validation_regex {
                o.insert("validationRegex".into(), json!(r));
            }
            o.insert("type".into(), json!(a.kind.wso2_name()));
            o.insert("required".into(), json!(a.required));
            if let Some(d) = a.default_value {
                o.insert("defaultValue".into(), json!(d));
            }
            o.insert("allowedValues".into(), json!(a.allowed_values));
            Value::Object(o)
        })
        .collect();
    let flows: Vec<&str> = p.flows.iter().map(|f| f.as_str()).collect();
    let Value::Object(o) = json!({
        "category": "Mediation",
        "name": p.name,
        "version": COMMON_VERSION,
        "displayName": p.display_name,
        "description": p.description,
        "applicableFlows": flows,
        "supportedGateways": p.gateways,
        "supportedApiTypes": ["HTTP"],
        "policyAttributes": attributes,
    }) else {
        return Map::new();
    };
    o
}

/// WSO2's `OperationPolicyData`: the specification with `id` (after `category`, as WSO2 orders it) and
/// `isAPISpecific`.
fn data(id: &str, spec: &Map<String, Value>, api_specific: bool) -> Value {
    let mut o = Map::new();
    o.insert("category".into(), spec.get("category").cloned().unwrap_or_else(|| json!("Mediation")));
    o.insert("id".into(), json!(id));
    for (k, v) in spec {
        if k != "category" {
            o.insert(k.clone(), v.clone());
        }
    }
    o.insert("isAPISpecific".into(), json!(api_specific));
    Value::Object(o)
}

fn stored_spec(r: &OperationPolicyRecord) -> Map<String, Value> {
    match serde_json::from_str(&r.specification) {
        Ok(Value::Object(o)) => o,
        // Written by `check_spec`: unreadable only if the row was edited by hand; its columns still say what it is.
        _ => {
            let mut o = Map::new();
            o.insert("name".into(), json!(r.name));
            o.insert("version".into(), json!(r.version));
            o
        }
    }
}

fn stored_data(r: &OperationPolicyRecord) -> Value {
    data(&r.id, &stored_spec(r), r.api_id.is_some())
}

fn builtin_data(p: &PolicySpec) -> Value {
    data(p.id, &builtin_spec(p), false)
}

// === uploads ===

/// What an upload form (or an import archive) carries.
#[derive(Default)]
struct Upload {
    spec: Option<String>,
    synapse: Option<String>,
    cc: Option<String>,
}

async fn form(multipart: std::result::Result<Multipart, MultipartRejection>) -> Result<(Upload, Option<Vec<u8>>)> {
    let mut m = multipart.map_err(|e| ApiError::bad_request(format!("expected multipart/form-data: {e}")))?;
    let mut up = Upload::default();
    let mut archive = None;
    loop {
        let field = match m.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Err(ApiError::bad_request(format!("malformed multipart body: {e}"))),
        };
        let name = field.name().unwrap_or("").to_string();
        let max = match name.as_str() {
            "policySpecFile" => SPEC_MAX,
            "synapsePolicyDefinitionFile" | "ccPolicyDefinitionFile" => DEFINITION_MAX,
            "file" => ARCHIVE_MAX,
            // WSO2's form declares `type`; nothing else is read.
            _ => continue,
        };
        let bytes = field.bytes().await.map_err(|e| ApiError::field(&name, format!("unreadable: {e}")))?;
        if bytes.len() > max {
            return Err(ApiError::too_large(format!("{name} is larger than the {} KiB allowed", max >> 10)));
        }
        if name == "file" {
            archive = Some(bytes.to_vec());
            continue;
        }
        let text = String::from_utf8(bytes.to_vec()).map_err(|_| ApiError::field(&name, "is not UTF-8 text"))?;
        match name.as_str() {
            "policySpecFile" => up.spec = Some(text),
            "synapsePolicyDefinitionFile" => up.synapse = Some(text),
            _ => up.cc = Some(text),
        }
    }
    Ok((up, archive))
}

/// The uploaded specification, checked against the gateway's policy of its name and written in full (defaults
/// from that policy), as `OperationPolicyData` without `id` and `isAPISpecific`.
fn check_spec(text: &str, field: &str) -> Result<Map<String, Value>> {
    let f = |k: &str| format!("{field}.{k}");
    let v: Value = serde_norway::from_str(text).map_err(|e| ApiError::field(field, format!("is not JSON or YAML: {e}")))?;
    let Value::Object(mut o) = v else { return Err(ApiError::field(field, "must be an object (a policy specification)")) };
    // WSO2's exported files wrap it: {type: operation_policy_specification, version, data}.
    if o.get("type").and_then(Value::as_str) == Some("operation_policy_specification") {
        o = match o.remove("data") {
            Some(Value::Object(d)) => d,
            _ => return Err(ApiError::field(&f("data"), "must be an object (the policy specification)")),
        };
    }
    let text_of = |o: &Map<String, Value>, k: &str| -> Result<Option<String>> {
        match o.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
            Some(_) => Err(ApiError::field(&f(k), "must be a string")),
        }
    };
    let list_of = |o: &Map<String, Value>, k: &str| -> Result<Option<Vec<String>>> {
        match o.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(l)) => {
                let mut out = Vec::new();
                for (i, x) in l.iter().enumerate() {
                    out.push(x.as_str().ok_or_else(|| ApiError::field(&format!("{field}.{k}[{i}]"), "must be a string"))?.to_string());
                }
                Ok(Some(out))
            }
            Some(_) => Err(ApiError::field(&f(k), "must be a list of strings")),
        }
    };
    let name = text_of(&o, "name")?.filter(|n| !n.is_empty()).ok_or_else(|| ApiError::field(&f("name"), "is required"))?;
    let Some(builtin) = apim_domain::policy::common(&name) else {
        return Err(ApiError::field(
            &f("name"),
            format!(
                "`{name}` is not a policy this gateway runs: custom policies cannot run here (their Synapse .j2 or Choreo Connect \
                 definitions are not executed); a specification must name one of {}, whose implementation the gateway runs",
                apim_domain::policy::common_names()
            ),
        ));
    };
    let version = text_of(&o, "version")?.filter(|v| !v.is_empty()).unwrap_or_else(|| COMMON_VERSION.to_string());
    if version.len() > 30 || !version.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) {
        return Err(ApiError::field(&f("version"), format!("`{version}` must be 1 to 30 letters, digits, dots, dashes or underscores")));
    }
    let category = text_of(&o, "category")?.filter(|c| !c.is_empty()).unwrap_or_else(|| "Mediation".into());
    let display_name = text_of(&o, "displayName")?.filter(|c| !c.is_empty()).unwrap_or_else(|| builtin.display_name.into());
    let description = text_of(&o, "description")?.unwrap_or_else(|| builtin.description.into());
    let own_flows: Vec<&str> = builtin.flows.iter().map(|f| f.as_str()).collect();
    let flows = list_of(&o, "applicableFlows")?.unwrap_or_else(|| own_flows.iter().map(|s| s.to_string()).collect());
    for (i, fl) in flows.iter().enumerate() {
        if !own_flows.contains(&fl.as_str()) {
            return Err(ApiError::field(
                &format!("{field}.applicableFlows[{i}]"),
                format!("`{fl}` is not a flow `{name}` runs on ({})", own_flows.join(", ")),
            ));
        }
    }
    let gateways = list_of(&o, "supportedGateways")?.unwrap_or_else(|| builtin.gateways.iter().map(|s| s.to_string()).collect());
    for (i, g) in gateways.iter().enumerate() {
        if !GATEWAYS.contains(&g.as_str()) {
            return Err(ApiError::field(
                &format!("{field}.supportedGateways[{i}]"),
                format!("`{g}` is not one of {}", GATEWAYS.join(", ")),
            ));
        }
    }
    let api_types = list_of(&o, "supportedApiTypes")?.unwrap_or_else(|| vec!["HTTP".into()]);
    let attributes = match o.get("policyAttributes") {
        None | Some(Value::Null) => {
            builtin_spec(builtin).remove("policyAttributes").and_then(|a| a.as_array().cloned()).unwrap_or_default()
        }
        Some(Value::Array(l)) => check_attributes(l, builtin, field)?,
        Some(_) => return Err(ApiError::field(&f("policyAttributes"), "must be a list")),
    };
    let Value::Object(out) = json!({
        "category": category,
        "name": name,
        "version": version,
        "displayName": display_name,
        "description": description,
        "applicableFlows": flows,
        "supportedGateways": gateways,
        "supportedApiTypes": api_types,
        "policyAttributes": attributes,
    }) else {
        return Ok(Map::new());
    };
    Ok(out)
}

/// `policyAttributes` of an uploaded specification: each one the gateway's policy takes, of its type, and every
/// one it needs declared as required.
fn check_attributes(list: &[Value], builtin: &PolicySpec, field: &str) -> Result<Vec<Value>> {
    let takes = || builtin.attributes.iter().map(|a| a.name).collect::<Vec<_>>().join(", ");
    let mut out = Vec::with_capacity(list.len());
    for (i, a) in list.iter().enumerate() {
        let at = |k: &str| format!("{field}.policyAttributes[{i}].{k}");
        let Some(a) = a.as_object() else { return Err(ApiError::field(&format!("{field}.policyAttributes[{i}]"), "must be an object")) };
        let name = a.get("name").and_then(Value::as_str).unwrap_or("");
        let Some(own) = builtin.attributes.iter().find(|x| x.name == name) else {
            return Err(ApiError::field(
                &at("name"),
                format!(
                    "`{name}` is not a parameter `{}` takes ({})",
                    builtin.name,
                    if builtin.attributes.is_empty() { "none".into() } else { takes() }
                ),
            ));
        };
        if out.iter().any(|o: &Value| o["name"] == name) {
            return Err(ApiError::field(&at("name"), format!("`{name}` is declared twice")));
        }
        let kind = match a.get("type") {
            None | Some(Value::Null) => own.kind.wso2_name().to_string(),
            Some(Value::String(t)) if t.eq_ignore_ascii_case(own.kind.wso2_name()) => own.kind.wso2_name().to_string(),
            Some(Value::String(t)) => {
                return Err(ApiError::field(&at("type"), format!("`{t}`: `{name}` of `{}` is a {}", builtin.name, own.kind.wso2_name())));
            }
            Some(_) => return Err(ApiError::field(&at("type"), "must be a string")),
        };
        let required = match a.get("required") {
            None | Some(Value::Null) => own.required,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(ApiError::field(&at("required"), "must be true or false")),
        };
        if own.required && !required {
            return Err(ApiError::field(&at("required"), format!("`{}` needs `{name}`: it cannot be optional", builtin.name)));
        }
        let mut o = Map::new();
        o.insert("name".into(), json!(name));
        for k in ["displayName", "description", "validationRegex"] {
            match a.get(k) {
                None | Some(Value::Null) => {}
                Some(Value::String(s)) => {
                    o.insert(k.into(), json!(s));
                }
                Some(_) => return Err(ApiError::field(&at(k), "must be a string")),
            }
        }
        o.insert("type".into(), json!(kind));
        o.insert("required".into(), json!(required));
        match a.get("defaultValue") {
            None | Some(Value::Null) => {}
            Some(v @ (Value::String(_) | Value::Number(_) | Value::Bool(_))) => {
                o.insert("defaultValue".into(), json!(v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())));
            }
            Some(_) => return Err(ApiError::field(&at("defaultValue"), "must be a string")),
        }
        match a.get("allowedValues") {
            None | Some(Value::Null) => {
                o.insert("allowedValues".into(), json!(own.allowed_values));
            }
            Some(Value::Array(l)) if l.iter().all(Value::is_string) => {
                if let Some(bad) =
                    l.iter().filter_map(Value::as_str).find(|v| !own.allowed_values.iter().any(|k| k.eq_ignore_ascii_case(v)))
                    && !own.allowed_values.is_empty()
                {
                    return Err(ApiError::field(&at("allowedValues"), format!("`{bad}` is not one of {}", own.allowed_values.join(", "))));
                }
                o.insert("allowedValues".into(), Value::Array(l.clone()));
            }
            Some(_) => return Err(ApiError::field(&at("allowedValues"), "must be a list of strings")),
        }
        out.push(Value::Object(o));
    }
    if let Some(missing) = builtin.attributes.iter().find(|a| a.required && !out.iter().any(|o| o["name"] == a.name)) {
        return Err(ApiError::field(
            &format!("{field}.policyAttributes"),
            format!("does not declare `{}`, which `{}` needs", missing.name, builtin.name),
        ));
    }
    Ok(out)
}

/// A record of the upload for `api_id` (`None`: common). A common policy may not take a built-in one's name and
/// version.
fn record_of(up: Upload, api_id: Option<&str>, field: &str, now: i64) -> Result<OperationPolicyRecord> {
    let text = up.spec.filter(|s| !s.trim().is_empty()).ok_or_else(|| ApiError::field(field, "is required (the policy specification)"))?;
    let spec = check_spec(&text, field)?;
    let name = spec.get("name").and_then(Value::as_str).unwrap_or("").to_string();
    let version = spec.get("version").and_then(Value::as_str).unwrap_or(COMMON_VERSION).to_string();
    if api_id.is_none() && version == COMMON_VERSION && apim_domain::policy::common(&name).is_some() {
        return Err(ApiError::conflict_field(
            &format!("{field}.version"),
            format!("`{name}` {version} is a built-in common operation policy; give the upload another version"),
        ));
    }
    Ok(OperationPolicyRecord {
        id: uuid::Uuid::new_v4().to_string(),
        api_id: api_id.map(str::to_string),
        name,
        version,
        specification: Value::Object(spec).to_string(),
        synapse_definition: up.synapse,
        cc_definition: up.cc,
        created_at: now,
    })
}

fn created(location: String, body: Value) -> Response {
    let mut resp = (StatusCode::CREATED, Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

// === archives ===

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Yaml,
    Json,
}

/// WSO2's export of a policy: a folder `{name}_{version}` holding the specification (wrapped as its files are)
/// and the definitions it has.
fn archive(spec: &Map<String, Value>, synapse: Option<&str>, cc: Option<&str>, format: Format) -> Result<(String, Vec<u8>)> {
    let name = spec.get("name").and_then(Value::as_str).unwrap_or("policy");
    let version = spec.get("version").and_then(Value::as_str).unwrap_or(COMMON_VERSION);
    let base = format!("{name}_{version}");
    let wrapped = json!({"type": "operation_policy_specification", "version": SPEC_FILE_VERSION, "data": spec});
    let (ext, spec_text) = match format {
        Format::Json => ("json", serde_json::to_string_pretty(&wrapped).map_err(ApiError::unavailable)?),
        Format::Yaml => ("yaml", serde_norway::to_string(&wrapped).map_err(ApiError::unavailable)?),
    };
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let mut files = vec![(format!("{base}/{base}.{ext}"), spec_text.as_str())];
    if let Some(s) = synapse {
        files.push((format!("{base}/{base}.j2"), s));
    }
    if let Some(c) = cc {
        files.push((format!("{base}/{base}.gotmpl"), c));
    }
    for (path, text) in files {
        w.start_file(path, options).map_err(ApiError::unavailable)?;
        w.write_all(text.as_bytes()).map_err(ApiError::unavailable)?;
    }
    let bytes = w.finish().map_err(ApiError::unavailable)?.into_inner();
    Ok((format!("{base}.zip"), bytes))
}

fn zip_response(file_name: &str, bytes: Vec<u8>) -> Response {
    let mut resp = ([(header::CONTENT_TYPE, "application/zip")], bytes).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\"")) {
        resp.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}

/// The specification (`.yaml`, `.yml` or `.json`) and definitions (`.j2`, `.gotmpl`) of an exported policy, at
/// the archive's root or in its one folder. Bounded as any uploaded archive: entries, inflated bytes (counted as
/// read), no links, no encryption.
fn unpack(bytes: &[u8]) -> Result<Upload> {
    let refuse = |d: String| ApiError::field("file", d);
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| refuse(format!("not a readable ZIP archive: {e}")))?;
    if zip.len() > ARCHIVE_ENTRIES_MAX {
        return Err(refuse(format!("the archive holds {} entries; an exported policy has at most {ARCHIVE_ENTRIES_MAX}", zip.len())));
    }
    let mut up = Upload::default();
    let mut left = ARCHIVE_MAX as u64;
    for i in 0..zip.len() {
        let entry = zip.by_index(i).map_err(|e| refuse(format!("entry {i} cannot be read: {e}")))?;
        if entry.is_dir() {
            continue;
        }
        let raw = entry.name().map_err(|e| refuse(format!("entry {i} has an unreadable name: {e}")))?.to_string();
        if entry.is_symlink() || entry.encrypted() {
            return Err(refuse(format!("entry `{raw}` is a link or encrypted; only plain files are read")));
        }
        let file = raw.rsplit('/').next().unwrap_or("").to_ascii_lowercase();
        let slot = if file.ends_with(".yaml") || file.ends_with(".yml") || file.ends_with(".json") {
            &mut up.spec
        } else if file.ends_with(".j2") {
            &mut up.synapse
        } else if file.ends_with(".gotmpl") {
            &mut up.cc
        } else {
            continue;
        };
        if slot.is_some() {
            return Err(refuse(format!("the archive holds more than one file like `{raw}`")));
        }
        let mut text = String::new();
        let read = entry.take(left + 1).read_to_string(&mut text).map_err(|e| refuse(format!("entry `{raw}` is not UTF-8 text: {e}")))?;
        left =
            left.checked_sub(read as u64).ok_or_else(|| refuse(format!("the archive inflates to more than {} MiB", ARCHIVE_MAX >> 20)))?;
        *slot = Some(text);
    }
    if up.spec.is_none() {
        return Err(refuse("the archive holds no policy specification (.yaml, .yml or .json)".into()));
    }
    Ok(up)
}

// === handlers: common policies ===

/// Built-in and uploaded common policies, by name and version; `query` is WSO2's `name:x` and `version:y`
/// (joined by `&` or spaces), matched exactly.
async fn list_common(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Query(p): Query<HashMap<String, String>>,
) -> Result<Response> {
    cp.principal(&headers).await?.require(COMMON_VIEW)?;
    let page = Page::of(&p)?;
    let query = p.get("query").map(String::as_str).filter(|q| !q.trim().is_empty());
    let (mut name, mut version) = (None, None);
    for term in query.unwrap_or("").split(['&', ' ']).filter(|t| !t.is_empty()) {
        match term.split_once(':') {
            Some(("name", v)) => name = Some(v.trim_matches('"')),
            Some(("version", v)) => version = Some(v.trim_matches('"')),
            _ => return Err(ApiError::field("query", format!("`{term}` is not name:… or version:…"))),
        }
    }
    let mut all: Vec<(String, String, Value)> =
        COMMON.iter().map(|c| (c.name.to_string(), COMMON_VERSION.to_string(), builtin_data(c))).collect();
    for r in cp.db.operation_policies(None, true).await? {
        all.push((r.name.clone(), r.version.clone(), stored_data(&r)));
    }
    all.retain(|(n, v, _)| name.is_none_or(|x| x == n) && version.is_none_or(|x| x == v));
    all.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    let total = i64::try_from(all.len()).unwrap_or(i64::MAX);
    let list: Vec<Value> = page.slice(all).map(|(_, _, d)| d).collect();
    Ok(Json(Listing::new(list, page.pagination("/operation-policies", &[("query", query)], total))).into_response())
}

async fn common_or_404(cp: &ControlPlane, id: &str) -> Result<std::result::Result<&'static PolicySpec, OperationPolicyRecord>> {
    if let Some(c) = COMMON.iter().find(|c| c.id == id) {
        return Ok(Ok(c));
    }
    match cp.db.operation_policy(None, id).await? {
        Some(r) => Ok(Err(r)),
        None => Err(ApiError::not_found(format!("no common operation policy has the id `{id}`"))),
    }
}

async fn get_common(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response> {
    cp.principal(&headers).await?.require(COMMON_VIEW)?;
    let body = match common_or_404(&cp, &id).await? {
        Ok(c) => builtin_data(c),
        Err(r) => stored_data(&r),
    };
    Ok(Json(body).into_response())
}

async fn common_content(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response> {
    cp.principal(&headers).await?.require(COMMON_CONTENT)?;
    let (file, bytes) = match common_or_404(&cp, &id).await? {
        Ok(c) => archive(&builtin_spec(c), None, None, Format::Yaml)?,
        Err(r) => archive(&stored_spec(&r), r.synapse_definition.as_deref(), r.cc_definition.as_deref(), Format::Yaml)?,
    };
    Ok(zip_response(&file, bytes))
}

async fn add_common(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    multipart: std::result::Result<Multipart, MultipartRejection>,
) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(COMMON_ADD)?;
    let (up, _) = form(multipart).await?;
    let rec = record_of(up, None, "policySpecFile", cp.clock.unix_secs())?;
    cp.db.create_operation_policy(&rec).await?;
    tracing::info!(policy_id = %rec.id, name = %rec.name, version = %rec.version, user = %who.username, "common operation policy added");
    Ok(created(format!("/api/am/publisher/v4/operation-policies/{}", rec.id), stored_data(&rec)))
}

/// The APIs attaching the policy, as "name version" for a 409.
async fn users_of(cp: &ControlPlane, id: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for (_, name, version, doc) in cp.db.apis_holding(id).await? {
        let doc: Value = serde_json::from_str(&doc).unwrap_or(Value::Null);
        if attaches(&doc, id) {
            out.push(format!("{name} {version}"));
        }
    }
    Ok(out)
}

async fn delete_common(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(COMMON_DELETE)?;
    let r = match common_or_404(&cp, &id).await? {
        Ok(c) => return Err(ApiError::forbidden(format!("`{}` {COMMON_VERSION} is built into the gateway and cannot be deleted", c.name))),
        Err(r) => r,
    };
    let users = users_of(&cp, &id).await?;
    if !users.is_empty() {
        return Err(ApiError::conflict(format!(
            "operation policy `{}` {} is attached to API {}: detach it first",
            r.name,
            r.version,
            users.join(", ")
        )));
    }
    if !cp.db.delete_operation_policy(None, &id).await? {
        return Err(ApiError::not_found(format!("no common operation policy has the id `{id}`")));
    }
    tracing::info!(policy_id = %id, name = %r.name, user = %who.username, "common operation policy deleted");
    Ok(StatusCode::OK.into_response())
}

/// `GET /operation-policies/export?name=&version=&format=`: a common policy as WSO2 exports it.
async fn export(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Query(p): Query<HashMap<String, String>>) -> Result<Response> {
    cp.principal(&headers).await?.require(IMPORT_EXPORT)?;
    let name = p.get("name").map(|n| n.trim()).filter(|n| !n.is_empty()).ok_or_else(|| ApiError::field("name", "is required"))?;
    let version = p.get("version").map(|v| v.trim()).filter(|v| !v.is_empty()).unwrap_or(COMMON_VERSION);
    let format = match p.get("format").map(|f| f.trim().to_ascii_uppercase()).as_deref() {
        None | Some("") | Some("YAML") => Format::Yaml,
        Some("JSON") => Format::Json,
        Some(other) => return Err(ApiError::field("format", format!("`{other}` is not YAML or JSON"))),
    };
    let builtin = COMMON.iter().find(|c| c.name == name && version == COMMON_VERSION);
    let (file, bytes) = match builtin {
        Some(c) => archive(&builtin_spec(c), None, None, format)?,
        None => {
            let found = cp.db.operation_policies(None, true).await?.into_iter().find(|r| r.name == name && r.version == version);
            let Some(r) = found else {
                return Err(ApiError::not_found(format!("there is no common operation policy `{name}` version `{version}`")));
            };
            let r = cp
                .db
                .operation_policy(None, &r.id)
                .await?
                .ok_or_else(|| ApiError::not_found(format!("there is no common operation policy `{name}` version `{version}`")))?;
            archive(&stored_spec(&r), r.synapse_definition.as_deref(), r.cc_definition.as_deref(), format)?
        }
    };
    Ok(zip_response(&file, bytes))
}

/// `POST /operation-policies/import` (`file`: an export archive): a new common policy.
async fn import(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    multipart: std::result::Result<Multipart, MultipartRejection>,
) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(IMPORT_EXPORT)?;
    let (_, archive) = form(multipart).await?;
    let bytes = archive.ok_or_else(|| ApiError::field("file", "is required (a policy export archive)"))?;
    let up = tokio::task::spawn_blocking(move || unpack(&bytes))
        .await
        .map_err(|e| ApiError::unavailable(format!("reading the archive failed: {e}")))??;
    let rec = record_of(up, None, "file", cp.clock.unix_secs())?;
    cp.db.create_operation_policy(&rec).await?;
    tracing::info!(policy_id = %rec.id, name = %rec.name, version = %rec.version, user = %who.username, "common operation policy imported");
    Ok(Json(stored_data(&rec)).into_response())
}

// === handlers: an API's own policies ===

async fn api_exists(cp: &ControlPlane, api_id: &str) -> Result<apim_domain::api::ApiRecord> {
    cp.db.get_api(api_id).await?.ok_or_else(|| ApiError::not_found(format!("API {api_id} not found")))
}

async fn own_or_404(cp: &ControlPlane, api_id: &str, id: &str) -> Result<OperationPolicyRecord> {
    cp.db
        .operation_policy(Some(api_id), id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("API {api_id} has no operation policy `{id}`")))
}

async fn list_of_api(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Path(api_id): Path<String>,
    Query(p): Query<HashMap<String, String>>,
) -> Result<Response> {
    cp.principal(&headers).await?.require(API_VIEW)?;
    let page = Page::of(&p)?;
    api_exists(&cp, &api_id).await?;
    let all = cp.db.operation_policies(Some(&api_id), false).await?;
    let total = i64::try_from(all.len()).unwrap_or(i64::MAX);
    let list: Vec<Value> = page.slice(all).map(|r| stored_data(&r)).collect();
    Ok(Json(Listing::new(list, page.pagination(&format!("/apis/{api_id}/operation-policies"), &[], total))).into_response())
}

async fn get_of_api(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Path((api_id, id)): Path<(String, String)>,
) -> Result<Response> {
    cp.principal(&headers).await?.require(API_VIEW)?;
    Ok(Json(stored_data(&own_or_404(&cp, &api_id, &id).await?)).into_response())
}

async fn content_of_api(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Path((api_id, id)): Path<(String, String)>,
) -> Result<Response> {
    cp.principal(&headers).await?.require(API_VIEW)?;
    let r = own_or_404(&cp, &api_id, &id).await?;
    let (file, bytes) = archive(&stored_spec(&r), r.synapse_definition.as_deref(), r.cc_definition.as_deref(), Format::Yaml)?;
    Ok(zip_response(&file, bytes))
}

async fn add_to_api(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Path(api_id): Path<String>,
    multipart: std::result::Result<Multipart, MultipartRejection>,
) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(API_MANAGE)?;
    api_exists(&cp, &api_id).await?;
    let (up, _) = form(multipart).await?;
    let rec = record_of(up, Some(&api_id), "policySpecFile", cp.clock.unix_secs())?;
    cp.db.create_operation_policy(&rec).await?;
    tracing::info!(api_id = %api_id, policy_id = %rec.id, name = %rec.name, user = %who.username, "API operation policy added");
    Ok(created(format!("/api/am/publisher/v4/apis/{api_id}/operation-policies/{}", rec.id), stored_data(&rec)))
}

async fn delete_of_api(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Path((api_id, id)): Path<(String, String)>,
) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(API_MANAGE)?;
    let api = api_exists(&cp, &api_id).await?;
    let r = own_or_404(&cp, &api_id, &id).await?;
    let doc: Value = serde_json::from_str(&api.document).unwrap_or(Value::Null);
    if attaches(&doc, &id) {
        return Err(ApiError::conflict(format!(
            "operation policy `{}` {} is attached to API {} {}: detach it first",
            r.name, r.version, api.name, api.version
        )));
    }
    if !cp.db.delete_operation_policy(Some(&api_id), &id).await? {
        return Err(ApiError::not_found(format!("API {api_id} has no operation policy `{id}`")));
    }
    tracing::info!(api_id = %api_id, policy_id = %id, user = %who.username, "API operation policy deleted");
    Ok(StatusCode::OK.into_response())
}

#[cfg(test)]
mod tests;
