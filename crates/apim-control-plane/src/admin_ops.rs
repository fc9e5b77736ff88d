//! Admin API operations across owners (`/api/am/admin/v4`): any user's application (`GET`, `DELETE
//! /applications/{applicationId}`), every API (`GET /apis`) and its provider (`POST /apis/{apiId}/change-provider`),
//! the throttling-policy search (`GET /throttling/policies/search`), and what uses a key manager
//! (`GET /key-managers/{keyManagerId}/api-usages`, `/app-usages`). Lists are filtered and paged in SQL.

use std::collections::HashMap;
use std::sync::Arc;

use apim_domain::api::ApiRecord;
use apim_store::{AdminStore, ApiSearch, ApiStore, ApiTerm, ApplicationStore, Audience, SearchStore, SortBy, UserStore};
use apim_wire::hub::EventKind;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::ControlPlane;
use crate::error::{ApiError, Result};
use crate::search::{Listing, Page};

/// WSO2's scopes of each operation (`apim:admin` holds them all). WSO2 also lets `apim:app_import_export` reach
/// any application here, but subscribers hold that scope for their own applications' export, and none may see or
/// delete another's: it is left out.
const APP_VIEW: &[&str] = &["apim:admin", "apim:admin_application_view"];
const APP_DELETE: &[&str] = &["apim:admin"];
const PROVIDER_CHANGE: &[&str] = &["apim:admin", "apim:api_provider_change"];
const POLICY_VIEW: &[&str] = &["apim:admin", "apim:tier_view", "apim:admin_tier_view", "apim:policies_import_export"];
const OPERATIONS: &[&str] = &["apim:admin", "apim:admin_operations"];

/// The resident key manager's id and the names its keys are recorded under.
const RESIDENT_ID: &str = "resident";
const RESIDENT_NAMES: [&str; 2] = ["Resident Key Manager", "default"];

pub fn routes() -> axum::Router<Arc<ControlPlane>> {
    axum::Router::new()
        .route("/applications/{app_id}", get(get_application).delete(delete_application))
        .route("/apis", get(list_apis))
        .route("/apis/{api_id}/change-provider", post(change_provider))
        .route("/throttling/policies/search", get(search_policies))
        .route("/key-managers/{km_id}/api-usages", get(api_usages))
        .route("/key-managers/{km_id}/app-usages", get(app_usages))
}

// === applications ===

async fn application_or_404(cp: &ControlPlane, id: &str) -> Result<apim_domain::api::ApplicationRecord> {
    cp.db.get_application(id).await?.ok_or_else(|| ApiError::not_found(format!("application {id} not found")))
}

/// `GET /applications/{applicationId}`: WSO2's Admin `Application`, whoever owns it.
async fn get_application(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response> {
    cp.principal(&headers).await?.require(APP_VIEW)?;
    let app = application_or_404(&cp, &id).await?;
    let subscriptions = cp.db.list_subscriptions(Some(&app.id), None).await?.len();
    let d: Value = serde_json::from_str(&app.document).unwrap_or_else(|_| json!({}));
    Ok(Json(json!({
        "applicationId": app.id, "name": app.name, "throttlingPolicy": app.throttling_policy,
        "description": d.get("description").cloned().unwrap_or(json!("")),
        "tokenType": if app.token_type == "OPAQUE" { "OAUTH" } else { "JWT" },
        // No approval workflow: an application is usable once created.
        "status": "APPROVED", "groups": [], "subscriptionCount": subscriptions,
        "attributes": d.get("attributes").cloned().unwrap_or(json!({})), "subscriptionScopes": [], "owner": app.owner,
    }))
    .into_response())
}

/// `DELETE /applications/{applicationId}`: as its owner deletes it in the DevPortal (subscriptions, keys and
/// their OAuth clients go with it, each with its event).
async fn delete_application(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(APP_DELETE)?;
    let app = application_or_404(&cp, &id).await?;
    crate::devportal::remove_application(&cp, &app).await?;
    tracing::info!(application = %id, owner = %app.owner, user = %who.username, "application deleted through the Admin API");
    Ok(StatusCode::OK.into_response())
}

// === APIs ===

/// `GET /apis?query=&limit=&offset=`: every API (WSO2's `SearchResultList` of `ApiResult`), by name; `query` is the
/// Publisher's search syntax.
async fn list_apis(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Query(p): Query<HashMap<String, String>>) -> Result<Response> {
    cp.principal(&headers).await?.require(PROVIDER_CHANGE)?;
    let page = Page::of(&p)?;
    let query = p.get("query").map(String::as_str).filter(|q| !q.trim().is_empty());
    let terms = crate::search::parse_query(query.unwrap_or(""))?;
    let search = ApiSearch { terms, audience: Audience::Publisher, sort_by: SortBy::Name, descending: false };
    let (apis, total) = cp.db.search_apis(&search, page.limit, page.offset).await?;
    let list: Vec<Value> = apis.iter().map(|a| json!({"provider": a.provider, "name": a.name, "version": a.version, "id": a.id})).collect();
    let pagination = page.pagination("/apis", &[("query", query)], total);
    // WSO2 names the list `apis` here.
    let mut body = serde_json::to_value(Listing::new(list, pagination)).unwrap_or_else(|_| json!({}));
    if let Some(o) = body.as_object_mut()
        && let Some(list) = o.remove("list")
    {
        o.insert("apis".into(), list);
    }
    Ok(Json(body).into_response())
}

/// `POST /apis/{apiId}/change-provider?provider=`: the API now belongs to `provider`, an existing user (400
/// otherwise). An `API_UPDATE` event tells gateways and the other nodes.
async fn change_provider(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(p): Query<HashMap<String, String>>,
) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(PROVIDER_CHANGE)?;
    let provider =
        p.get("provider").map(|v| v.trim()).filter(|v| !v.is_empty()).ok_or_else(|| ApiError::field("provider", "is required"))?;
    if cp.users.db().find_user(provider).await?.is_none() {
        return Err(ApiError::field("provider", format!("user `{provider}` does not exist")));
    }
    let old = cp.db.get_api(&id).await?.ok_or_else(|| ApiError::not_found(format!("API {id} not found")))?;
    let mut doc: Value = serde_json::from_str(&old.document).unwrap_or_else(|_| json!({}));
    if let Some(o) = doc.as_object_mut() {
        o.insert("provider".into(), json!(provider));
    }
    let api = ApiRecord { provider: provider.to_string(), document: doc.to_string(), updated_at: cp.clock.unix_secs(), ..old.clone() };
    let events = [crate::model::api_event(EventKind::ApiUpdate, &api, json!({}))];
    // Only over the API as read: a change made meanwhile is not overwritten.
    if !cp.db.update_api_if(&api, &old, &events).await? {
        return Err(ApiError::conflict(format!("API {id} changed while its provider was being changed: try again")));
    }
    tracing::info!(api_id = %id, from = %old.provider, to = %provider, user = %who.username, "API provider changed");
    Ok(StatusCode::OK.into_response())
}

// === throttling policy search ===

/// A policy level as the search names it (WSO2's `app`, `sub`, `api`, `global`, or the level's name in the
/// policy paths): the stored level and WSO2's type word.
fn policy_level(word: &str) -> Option<(&'static str, &'static str)> {
    match word.to_ascii_lowercase().as_str() {
        "app" | "application" => Some(("application", "app")),
        "sub" | "subscription" => Some(("subscription", "sub")),
        "api" | "advanced" => Some(("api", "api")),
        "global" | "custom" => Some(("custom", "global")),
        _ => None,
    }
}

/// `GET /throttling/policies/search?query=type:sub name:gold`: WSO2's `ThrottlePolicyDetailsList` of the
/// policies of that level (every level without `type:`) whose name holds `name:` (without regard to case; a bare
/// word is a name too). An unknown term or level is a 400 naming it.
async fn search_policies(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Query(p): Query<HashMap<String, String>>,
) -> Result<Response> {
    cp.principal(&headers).await?.require(POLICY_VIEW)?;
    let mut levels: Vec<(&str, &str)> = Vec::new();
    let mut name: Option<String> = None;
    for token in p.get("query").map(String::as_str).unwrap_or("").split_whitespace() {
        let (key, value) = token.split_once(':').unwrap_or(("name", token));
        let value = value.trim_matches('"');
        if value.is_empty() {
            return Err(ApiError::field("query", format!("`{token}` has no value")));
        }
        match key.to_ascii_lowercase().as_str() {
            "type" => {
                let level = policy_level(value).ok_or_else(|| {
                    ApiError::field("query", format!("`{token}`: `{value}` is not a policy type (app, sub, api or global)"))
                })?;
                if !levels.contains(&level) {
                    levels.push(level);
                }
            }
            "name" => name = Some(value.to_lowercase()),
            _ => return Err(ApiError::field("query", format!("unknown search term `{token}`: use type: or name:"))),
        }
    }
    if levels.is_empty() {
        levels = ["app", "sub", "api", "global"].into_iter().filter_map(policy_level).collect();
    }
    let mut list = Vec::new();
    // One query per level: at most four.
    for (level, kind) in levels {
        for (policy, doc) in cp.db.policies(level).await? {
            if name.as_deref().is_some_and(|n| !policy.to_lowercase().contains(n)) {
                continue;
            }
            let d: Value = serde_json::from_str(&doc).unwrap_or_else(|_| json!({}));
            list.push(json!({
                "uuid": d.get("policyId"), "policyName": policy,
                "displayName": d.get("displayName").cloned().unwrap_or_else(|| json!(policy)),
                "description": d.get("description").cloned().unwrap_or(json!("")),
                "isDeployed": d.get("isDeployed").cloned().unwrap_or(json!(true)), "type": kind,
            }));
        }
    }
    Ok(Json(json!({"count": list.len(), "list": list})).into_response())
}

// === key manager usages ===

/// The names a key manager's keys and APIs know it by; 404 for an unknown id.
async fn key_manager_names(cp: &ControlPlane, id: &str) -> Result<Vec<String>> {
    if id == RESIDENT_ID {
        return Ok(RESIDENT_NAMES.iter().map(|n| n.to_string()).collect());
    }
    match cp.db.list_objects("key_manager").await?.into_iter().find(|(kid, _, _)| kid == id) {
        Some((_, name, _)) => Ok(vec![name]),
        None => Err(ApiError::not_found(format!("key manager {id} not found"))),
    }
}

/// `GET /key-managers/{keyManagerId}/api-usages`: the APIs that name the key manager in their `keyManagers`
/// (those left at `all` do not depend on it), WSO2's `KeyManagerAPIUsages`, paged by `limit` and `offset`.
async fn api_usages(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(p): Query<HashMap<String, String>>,
) -> Result<Response> {
    cp.principal(&headers).await?.require(OPERATIONS)?;
    let page = Page::of(&p)?;
    let names = key_manager_names(&cp, &id).await?;
    // The first name is the one APIs are told to use.
    let name = names.first().cloned().unwrap_or_default();
    let search = ApiSearch {
        terms: vec![ApiTerm::KeyManager(name.clone())],
        audience: Audience::Publisher,
        sort_by: SortBy::Name,
        descending: false,
    };
    let (apis, total) = cp.db.search_apis(&search, page.limit, page.offset).await?;
    let list: Vec<Value> = apis
        .iter()
        .map(|a| {
            let d: Value = serde_json::from_str(&a.document).unwrap_or_else(|_| json!({}));
            json!({
                "id": a.id, "type": "API", "name": a.name, "transportType": a.api_type, "description": d.get("description"),
                "context": a.context, "version": a.version, "provider": a.provider, "status": a.status,
                "thumbnailUri": null, "advertiseOnly": d.pointer("/advertiseInfo/advertised").and_then(Value::as_bool).unwrap_or(false),
                "keyManagerEntry": name,
            })
        })
        .collect();
    Ok(Json(json!({"apiCount": total, "apis": list})).into_response())
}

/// `GET /key-managers/{keyManagerId}/app-usages`: the applications holding keys from the key manager, WSO2's
/// `KeyManagerAppUsages`, paged by `limit` and `offset`.
async fn app_usages(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(p): Query<HashMap<String, String>>,
) -> Result<Response> {
    cp.principal(&headers).await?.require(OPERATIONS)?;
    let page = Page::of(&p)?;
    let names = key_manager_names(&cp, &id).await?;
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let (apps, total) = cp.db.applications_with_keys_from(&names, page.limit, page.offset).await?;
    let list: Vec<Value> = apps
        .iter()
        .map(|a| json!({"name": a.name, "uuid": a.id, "organizationId": null, "owner": a.owner, "organization": "carbon.super"}))
        .collect();
    Ok(Json(json!({"applicationCount": total, "applications": list})).into_response())
}
