//! Publisher shared scopes `/api/am/publisher/v4/scopes`: scopes defined once and used by many APIs'
//! operations, bound to roles.

use std::collections::HashMap;
use std::sync::Arc;

use apim_store::{AdminStore, ApiFilter, ApiStore, UserStore};
use apim_wire::hub::EventKind;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::ControlPlane;
use crate::error::{ApiError, Result};
use crate::model::event;

const KIND: &str = "shared_scope";
const VIEW: &[&str] = &["apim:api_view", "apim:shared_scope_manage", "apim:api_create"];
const MANAGE: &[&str] = &["apim:shared_scope_manage"];

pub fn routes() -> axum::Router<Arc<ControlPlane>> {
    use axum::routing::get;
    axum::Router::new()
        .route("/scopes", get(list).post(create))
        .route("/scopes/{scope_id}", get(get_one).put(update).delete(delete).head(exists))
        .route("/scopes/{scope_id}/usage", get(usage_of))
}

/// How many APIs use the scope in an operation.
async fn usage(cp: &ControlPlane, name: &str) -> Result<usize> {
    Ok(usages(cp, &[name]).await?.first().copied().unwrap_or(0))
}

/// How many APIs use each of the scopes `names` in an operation, in their order: the APIs are read once, however
/// many scopes are counted.
async fn usages(cp: &ControlPlane, names: &[&str]) -> Result<Vec<usize>> {
    let (apis, _) = cp.db.list_apis(&ApiFilter::default(), 1_000_000, 0).await?;
    let mut counts = vec![0; names.len()];
    for a in &apis {
        let d: Value = serde_json::from_str(&a.document).unwrap_or(Value::Null);
        let ops = d.get("operations").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        for (count, name) in counts.iter_mut().zip(names) {
            if ops.iter().any(|o| o.get("scopes").and_then(Value::as_array).is_some_and(|s| s.iter().any(|x| x == *name))) {
                *count += 1;
            }
        }
    }
    Ok(counts)
}

/// `GET /scopes/{scopeId}/usage`: the APIs whose operations use the shared scope, each with those operations
/// (WSO2's `SharedScopeUsage`); the APIs are read once. WSO2 also lists revisions; a revision here is a frozen copy
/// of the API, so the working copies are listed.
async fn usage_of(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response> {
    cp.principal(&headers).await?.require(VIEW)?;
    let (id, name, _) = find(&cp, &id).await?;
    let (apis, _) = cp.db.list_apis(&ApiFilter::default(), 1_000_000, 0).await?;
    let mut used = Vec::new();
    for a in &apis {
        let d: Value = serde_json::from_str(&a.document).unwrap_or(Value::Null);
        let resources: Vec<Value> = d
            .get("operations")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|o| o.get("scopes").and_then(Value::as_array).is_some_and(|s| s.iter().any(|x| x == name.as_str())))
            .map(|o| json!({"target": o.get("target"), "verb": o.get("verb")}))
            .collect();
        if !resources.is_empty() {
            used.push(
                json!({"name": a.name, "context": a.context, "version": a.version, "provider": a.provider, "usedResourceList": resources}),
            );
        }
    }
    Ok(Json(json!({"id": id, "name": name, "usedApiList": used})).into_response())
}

async fn validated(cp: &ControlPlane, body: &Bytes) -> Result<(String, Value)> {
    let v: Value = serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))?;
    let o = v.as_object().ok_or_else(|| ApiError::bad_request("the body must be a JSON object (a scope)"))?;
    let name = o.get("name").and_then(Value::as_str).map(str::trim).unwrap_or("");
    if name.is_empty() || name.len() > 255 || !name.chars().all(|c| c.is_ascii_alphanumeric() || ":_.-".contains(c)) {
        return Err(ApiError::field("name", "is required: letters, digits and : _ . -"));
    }
    // WSO2's limits: displayName 255 characters, description 512.
    let text = |f: &str, max: usize| -> Result<String> {
        match o.get(f) {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(s)) if s.chars().count() <= max => Ok(s.clone()),
            Some(_) => Err(ApiError::field(f, format!("must be a string of at most {max} characters"))),
        }
    };
    let (display, description) = (text("displayName", 255)?, text("description", 512)?);
    let bindings: Vec<String> = match o.get("bindings") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|b| b.as_str().map(str::to_string).ok_or_else(|| ApiError::field("bindings", "must be a list of role names")))
            .collect::<Result<_>>()?,
        Some(_) => return Err(ApiError::field("bindings", "must be a list of role names")),
    };
    let roles = cp.users.db().list_roles().await?;
    if let Some(r) = bindings.iter().find(|r| !roles.contains(r)) {
        return Err(ApiError::field("bindings", format!("`{r}` is not a role (known: {})", roles.join(", "))));
    }
    let display = if display.is_empty() { name.to_string() } else { display };
    Ok((name.to_string(), json!({"name": name, "displayName": display, "description": description, "bindings": bindings})))
}

async fn find(cp: &ControlPlane, id: &str) -> Result<(String, String, Value)> {
    cp.db
        .list_objects(KIND)
        .await?
        .into_iter()
        .find(|(i, n, _)| i == id || n == id)
        .map(|(i, n, d)| (i, n, serde_json::from_str(&d).unwrap_or(Value::Null)))
        .ok_or_else(|| ApiError::not_found(format!("scope {id} not found")))
}

async fn with_usage(cp: &ControlPlane, id: &str, mut doc: Value) -> Result<Value> {
    let name = doc.get("name").and_then(Value::as_str).unwrap_or("").to_string();
    doc["id"] = json!(id);
    doc["usageCount"] = json!(usage(cp, &name).await?);
    Ok(doc)
}

async fn list(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Query(p): Query<HashMap<String, String>>) -> Result<Response> {
    cp.principal(&headers).await?.require(VIEW)?;
    let page = crate::search::Page::of(&p)?;
    let all = cp.db.list_objects(KIND).await?;
    let shown: Vec<&(String, String, String)> = page.slice(all.iter().collect()).collect();
    let names: Vec<&str> = shown.iter().map(|(_, name, _)| name.as_str()).collect();
    let mut list = Vec::new();
    for ((id, _, doc), used) in shown.iter().zip(usages(&cp, &names).await?) {
        let mut doc: Value = serde_json::from_str(doc).unwrap_or(Value::Null);
        doc["id"] = json!(id);
        doc["usageCount"] = json!(used);
        list.push(doc);
    }
    Ok(Json(crate::search::Listing::new(list, page.pagination("/scopes", &[], all.len() as i64))).into_response())
}

async fn create(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, body: Bytes) -> Result<Response> {
    cp.principal(&headers).await?.require(MANAGE)?;
    let (name, doc) = validated(&cp, &body).await?;
    let id = uuid::Uuid::new_v4().to_string();
    let ev = event(EventKind::ScopeCreate, json!({"name": name, "displayName": doc["displayName"], "description": doc["description"]}));
    cp.db.create_object(KIND, &id, &name, &doc.to_string(), &[ev]).await?;
    Ok((StatusCode::CREATED, Json(with_usage(&cp, &id, doc).await?)).into_response())
}

async fn get_one(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response> {
    cp.principal(&headers).await?.require(VIEW)?;
    let (id, _, doc) = find(&cp, &id).await?;
    Ok(Json(with_usage(&cp, &id, doc).await?).into_response())
}

/// `HEAD /scopes/{name}`: does a scope of that name (or id) exist.
async fn exists(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response> {
    cp.principal(&headers).await?.require(VIEW)?;
    find(&cp, &id).await?;
    Ok(StatusCode::OK.into_response())
}

async fn update(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Path(id): Path<String>, body: Bytes) -> Result<Response> {
    cp.principal(&headers).await?.require(MANAGE)?;
    let (id, old_name, _) = find(&cp, &id).await?;
    let (name, doc) = validated(&cp, &body).await?;
    if name != old_name {
        return Err(ApiError::field("name", format!("cannot change (is `{old_name}`)")));
    }
    let ev = event(EventKind::ScopeUpdate, json!({"name": name, "displayName": doc["displayName"], "description": doc["description"]}));
    cp.db.update_object(KIND, &id, &name, &doc.to_string(), &[ev]).await?;
    Ok(Json(with_usage(&cp, &id, doc).await?).into_response())
}

async fn delete(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response> {
    cp.principal(&headers).await?.require(MANAGE)?;
    let (id, name, doc) = find(&cp, &id).await?;
    let used = usage(&cp, &name).await?;
    if used > 0 {
        return Err(ApiError::conflict(format!("scope `{name}` is used by {used} API(s); remove it from their operations first")));
    }
    let ev = event(EventKind::ScopeDelete, json!({"name": name, "displayName": doc["displayName"], "description": doc["description"]}));
    cp.db.delete_object(KIND, &id, &[ev]).await?;
    Ok(StatusCode::OK.into_response())
}
