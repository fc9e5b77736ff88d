//! Developer Portal REST API `/api/am/devportal/v3`: published APIs, applications, keys, subscriptions.
//! A subscriber sees and changes only its own applications and subscriptions.

use std::collections::HashMap;
use std::sync::Arc;

use apim_domain::api::{ApiRecord, ApiStatus, ApplicationRecord, EventDraft, KeyMapping, SubscriptionRecord};
use apim_domain::keys::{ClientRequest, KeyError};
use apim_store::{AdminStore, ApiStore, ApplicationStore};
use apim_wire::SubscriptionStatus;
use apim_wire::hub::EventKind;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::ControlPlane;
use crate::auth::Principal;
use crate::error::{ApiError, Result};
use crate::model::event;

const APPS: &[&str] = &["apim:app_manage", "apim:subscribe"];
const SUBS: &[&str] = &["apim:subscribe", "apim:sub_manage"];
const RESIDENT: &str = "Resident Key Manager";
pub(crate) const GRANTS: [&str; 4] = ["client_credentials", "password", "refresh_token", "authorization_code"];

pub fn routes() -> axum::Router<Arc<ControlPlane>> {
    axum::Router::new()
        .route("/apis", get(list_apis))
        .route("/apis/{api_id}", get(get_api))
        .route("/applications", get(list_applications).post(create_application))
        .route("/applications/{app_id}", get(get_application).put(update_application).delete(delete_application))
        .route("/applications/{app_id}/generate-keys", post(generate_keys))
        .route("/applications/{app_id}/map-keys", post(map_keys))
        .route("/applications/{app_id}/oauth-keys", get(oauth_keys))
        .route("/applications/{app_id}/oauth-keys/{key_id}", get(get_keys).put(update_keys))
        .route("/applications/{app_id}/oauth-keys/{key_id}/clean-up", post(clean_up_keys))
        .route("/applications/{app_id}/oauth-keys/{key_id}/generate-token", post(generate_token))
        .route("/applications/{app_id}/oauth-keys/{key_id}/regenerate-secret", post(regenerate_secret))
        .route("/subscriptions", get(list_subscriptions).post(subscribe))
        .route("/subscriptions/multiple", post(subscribe_multiple))
        .route("/subscriptions/{sub_id}", get(get_subscription).put(change_plan).delete(unsubscribe))
        .route("/throttling-policies/{policy_level}", get(throttling_policies))
}

fn json_body(body: &Bytes) -> Result<Value> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))
}

/// Who may see an API in the portal: published or prototyped; PUBLIC to anyone, PRIVATE to signed-in users,
/// RESTRICTED to the listed roles (and admins).
fn visible(api: &ApiRecord, who: Option<&Principal>) -> bool {
    if !matches!(api.status, ApiStatus::Published | ApiStatus::Prototyped) {
        return false;
    }
    let doc: Value = serde_json::from_str(&api.document).unwrap_or(Value::Null);
    match doc.get("visibility").and_then(Value::as_str).unwrap_or("PUBLIC") {
        "PUBLIC" => true,
        "PRIVATE" => who.is_some(),
        _ => who.is_some_and(|p| {
            p.is_admin()
                || doc
                    .get("visibleRoles")
                    .and_then(Value::as_array)
                    .is_some_and(|roles| roles.iter().filter_map(Value::as_str).any(|r| p.roles().iter().any(|x| x == r)))
        }),
    }
}

fn portal_api(api: &ApiRecord) -> Value {
    let d: Value = serde_json::from_str(&api.document).unwrap_or_else(|_| json!({}));
    json!({
        "id": api.id, "name": api.name, "description": d.get("description").cloned().unwrap_or(json!("")), "context": api.context, "version": api.version,
        "provider": api.provider, "type": api.api_type, "lifeCycleStatus": api.status, "transport": d.get("transport"),
        "tiers": d.get("policies").and_then(Value::as_array).map(|p| p.iter().map(|t| json!({"tierName": t, "tierPlan": "FREE"})).collect::<Vec<_>>()),
        "securityScheme": d.get("securityScheme"), "operations": d.get("operations"), "tags": d.get("tags"), "isDefaultVersion": d.get("isDefaultVersion"),
    })
}

async fn list_apis(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Query(p): Query<HashMap<String, String>>) -> Result<Response> {
    crate::search::devportal_apis(&cp, &headers, &p).await
}

pub(crate) async fn visible_api(cp: &ControlPlane, id: &str, who: Option<&Principal>) -> Result<ApiRecord> {
    match cp.db.get_api(id).await? {
        Some(a) if visible(&a, who) => Ok(a),
        _ => Err(ApiError::not_found(format!("API {id} not found"))),
    }
}

async fn get_api(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response> {
    let who = cp.optional_principal(&headers).await?;
    Ok(Json(portal_api(&visible_api(&cp, &id, who.as_ref()).await?)).into_response())
}

fn app_json(app: &ApplicationRecord, keys: &[KeyMapping], subscriptions: usize) -> Value {
    let d: Value = serde_json::from_str(&app.document).unwrap_or_else(|_| json!({}));
    json!({
        "applicationId": app.id, "name": app.name, "throttlingPolicy": app.throttling_policy, "description": d.get("description").cloned().unwrap_or(json!("")),
        "tokenType": if app.token_type == "OPAQUE" { "OAUTH" } else { "JWT" }, "status": "APPROVED", "groups": [], "subscriptionCount": subscriptions,
        "keys": keys.iter().map(key_json).collect::<Vec<_>>(), "attributes": d.get("attributes").cloned().unwrap_or(json!({})), "subscriptionScopes": [],
        "owner": app.owner, "hashEnabled": false, "createdTime": (app.created_at * 1000).to_string(),
    })
}

fn key_json(k: &KeyMapping) -> Value {
    let d: Value = serde_json::from_str(&k.document).unwrap_or_else(|_| json!({}));
    json!({
        "keyMappingId": k.id, "keyManager": k.key_manager, "consumerKey": k.consumer_key, "supportedGrantTypes": d.get("supportedGrantTypes"),
        "callbackUrl": d.get("callbackUrl").filter(|c| !c.is_null()).cloned().unwrap_or(json!("")), "keyState": "COMPLETED", "keyType": k.key_type,
        "mode": d.get("mode").and_then(Value::as_str).unwrap_or("CREATED"),
    })
}

fn app_event(kind: EventKind, app: &ApplicationRecord) -> EventDraft {
    let d: Value = serde_json::from_str(&app.document).unwrap_or_else(|_| json!({}));
    event(
        kind,
        json!({"uuid": app.id, "applicationId": app.id, "applicationName": app.name, "tokenType": app.token_type, "applicationPolicy": app.throttling_policy,
               "attributes": d.get("attributes").cloned().unwrap_or(json!({})), "subscriber": app.owner, "groupIds": []}),
    )
}

/// The caller's own application (admins may reach any); someone else's is 404, as if it did not exist.
pub(crate) async fn own_app(cp: &ControlPlane, who: &Principal, id: &str) -> Result<ApplicationRecord> {
    match cp.db.get_application(id).await? {
        Some(a) if a.owner == who.username || who.is_admin() => Ok(a),
        _ => Err(ApiError::not_found(format!("application {id} not found"))),
    }
}

/// Validates the application fields shared by create and update.
async fn app_fields(cp: &ControlPlane, v: &Value) -> Result<(String, String, String, Value)> {
    let o = v.as_object().ok_or_else(|| ApiError::bad_request("the body must be a JSON object (an application)"))?;
    let name = o.get("name").and_then(Value::as_str).map(str::trim).unwrap_or("");
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::field("name", "is required: 1 to 100 characters"));
    }
    let policy = match o.get("throttlingPolicy") {
        None | Some(Value::Null) => "Unlimited".to_string(),
        Some(Value::String(p)) => p.clone(),
        Some(_) => return Err(ApiError::field("throttlingPolicy", "must be a string")),
    };
    let known: Vec<String> = cp.db.policies("application").await?.into_iter().map(|(n, _)| n).collect();
    if !known.contains(&policy) {
        return Err(ApiError::field(
            "throttlingPolicy",
            format!("`{policy}` is not an application throttling policy (known: {})", known.join(", ")),
        ));
    }
    let token_type = match o.get("tokenType").and_then(Value::as_str).unwrap_or("JWT") {
        "JWT" => "JWT",
        "OAUTH" | "OPAQUE" | "DEFAULT" => "OPAQUE",
        other => return Err(ApiError::field("tokenType", format!("`{other}` is not JWT or OAUTH"))),
    };
    crate::model::max_lengths(o, &[("name", 100), ("description", 512)])?;
    let description = match o.get("description") {
        None | Some(Value::Null) => "",
        Some(Value::String(d)) => d.as_str(),
        Some(_) => return Err(ApiError::field("description", "must be a string")),
    };
    let attributes = match o.get("attributes") {
        None | Some(Value::Null) => json!({}),
        Some(Value::Object(a)) if a.values().all(Value::is_string) => Value::Object(a.clone()),
        Some(_) => return Err(ApiError::field("attributes", "must be an object of strings")),
    };
    Ok((name.to_string(), policy, token_type.to_string(), json!({"description": description, "attributes": attributes})))
}

async fn list_applications(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Query(p): Query<HashMap<String, String>>,
) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(APPS)?;
    crate::search::devportal_applications(&cp, &who, &p).await
}

async fn create_application(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, body: Bytes) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(APPS)?;
    let (name, policy, token_type, document) = app_fields(&cp, &json_body(&body)?).await?;
    let app = ApplicationRecord {
        id: uuid::Uuid::new_v4().to_string(),
        name,
        owner: who.username.clone(),
        throttling_policy: policy,
        token_type,
        document: document.to_string(),
        created_at: cp.clock.unix_secs(),
    };
    cp.db.create_application(&app, &[app_event(EventKind::ApplicationCreate, &app)]).await?;
    Ok((StatusCode::CREATED, Json(app_json(&app, &[], 0))).into_response())
}

async fn get_application(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(APPS)?;
    let app = own_app(&cp, &who, &id).await?;
    Ok(tagged(app_answer(&cp, &app).await?))
}

/// The application as answered (with its keys and subscription count).
async fn app_answer(cp: &ControlPlane, app: &ApplicationRecord) -> Result<Value> {
    let subs = cp.db.list_subscriptions(Some(&app.id), None).await?.len();
    Ok(app_json(app, &cp.db.key_mappings(&app.id).await?, subs))
}

/// An answer with its `ETag`, which `PUT` takes back in `If-Match`.
fn tagged(answer: Value) -> Response {
    let tag = crate::model::etag(&answer);
    let mut resp = Json(answer).into_response();
    if let Ok(v) = axum::http::HeaderValue::from_str(&tag) {
        resp.headers_mut().insert(axum::http::header::ETAG, v);
    }
    resp
}

async fn update_application(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(APPS)?;
    let old = own_app(&cp, &who, &id).await?;
    // As for APIs: an If-Match the application no longer matches is a 412, checked again in the write.
    let if_match = headers.get(axum::http::header::IF_MATCH).map(|v| v.to_str().unwrap_or("").to_string());
    if let Some(expected) = &if_match {
        let current = crate::model::etag(&app_answer(&cp, &old).await?);
        if !crate::model::if_match_allows(expected, &current) {
            return Err(ApiError::precondition(format!(
                "application {id} changed since it was read (If-Match {expected}, now {current}): read it again and reapply the change"
            )));
        }
    }
    let (name, policy, token_type, document) = app_fields(&cp, &json_body(&body)?).await?;
    let app = ApplicationRecord { name, throttling_policy: policy, token_type, document: document.to_string(), ..old.clone() };
    let events = [app_event(EventKind::ApplicationUpdate, &app)];
    if let Some(expected) = &if_match {
        if !cp.db.update_application_if(&app, &old, &events).await? {
            return Err(ApiError::precondition(format!(
                "application {id} changed while this update was made (If-Match {expected}): read it again and reapply the change"
            )));
        }
    } else {
        cp.db.update_application(&app, &events).await?;
    }
    Ok(tagged(app_answer(&cp, &app).await?))
}

async fn delete_application(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(APPS)?;
    let app = own_app(&cp, &who, &id).await?;
    let mut events: Vec<EventDraft> =
        cp.db.list_subscriptions(Some(&id), None).await?.iter().map(|s| sub_event(EventKind::SubscriptionsDelete, s)).collect();
    events.push(app_event(EventKind::ApplicationDelete, &app));
    let Some(keys) = cp.db.delete_application(&id, &events).await? else {
        return Err(ApiError::not_found(format!("application {id} not found")));
    };
    // The OAuth clients go too, which revokes their tokens at the key manager.
    if let Some(km) = &cp.keys {
        for k in keys {
            if let Err(e) = km.delete_client(&k.consumer_key).await {
                tracing::warn!(application = %id, consumer_key = %k.consumer_key, "could not delete the OAuth client of a deleted application: {e}");
            }
        }
    }
    Ok(StatusCode::OK.into_response())
}

fn key_error(e: KeyError) -> ApiError {
    match e {
        KeyError::Invalid(m) => ApiError::bad_request(m),
        KeyError::NotFound(m) => ApiError::not_found(m),
        KeyError::Unavailable(m) => ApiError::unavailable(m),
    }
}

fn key_manager(cp: &ControlPlane) -> Result<&crate::SharedKeyManager> {
    cp.keys.as_ref().ok_or_else(|| {
        ApiError::unavailable("no key manager is configured for this node: run one in-process or set [apim.key_manager] service_url")
    })
}

/// WSO2's `map-keys`: an OAuth client that a key manager registered in the Admin API already issued becomes this
/// application's keys, so gateways accept that key manager's tokens for it. The resident key manager's clients are
/// made with `generate-keys` instead.
async fn map_keys(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Path(id): Path<String>, body: Bytes) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(APPS)?;
    own_app(&cp, &who, &id).await?;
    let v = json_body(&body)?;
    let text = |f: &str| v.get(f).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty());
    let key_type = text("keyType").unwrap_or("");
    if !apim_wire::KeyType::from(key_type).is_known() {
        return Err(ApiError::field("keyType", "must be PRODUCTION or SANDBOX"));
    }
    let Some(consumer_key) = text("consumerKey").filter(|k| k.len() <= 255) else {
        return Err(ApiError::field("consumerKey", "is required: the client id the key manager issued (at most 255 characters)"));
    };
    let km_name = text("keyManager").unwrap_or(RESIDENT);
    if km_name == RESIDENT || km_name == "default" {
        return Err(ApiError::field("keyManager", "the resident key manager's keys are made with generate-keys, not mapped"));
    }
    let km = cp
        .db
        .list_objects("key_manager")
        .await?
        .into_iter()
        .find(|(_, name, _)| name == km_name)
        .and_then(|(_, _, doc)| serde_json::from_str::<Value>(&doc).ok())
        .ok_or_else(|| ApiError::field("keyManager", format!("no key manager is named `{km_name}`")))?;
    if km.get("enabled").and_then(Value::as_bool) == Some(false) {
        return Err(ApiError::field("keyManager", format!("the key manager `{km_name}` is disabled")));
    }
    if km.get("enableMapOAuthConsumerApps").and_then(Value::as_bool) == Some(false) {
        return Err(ApiError::field("keyManager", format!("the key manager `{km_name}` does not allow mapping existing clients")));
    }
    let mappings = cp.db.all_key_mappings().await?;
    if mappings.iter().any(|k| k.application_id == id && k.key_type == key_type && k.key_manager == km_name) {
        return Err(ApiError::conflict(format!("the application already has {key_type} keys of `{km_name}`")));
    }
    if mappings.iter().any(|k| k.consumer_key == consumer_key && k.key_manager == km_name) {
        return Err(ApiError::conflict(format!("the client `{consumer_key}` of `{km_name}` is mapped to an application already")));
    }
    let mapping = KeyMapping {
        id: uuid::Uuid::new_v4().to_string(),
        application_id: id.clone(),
        key_type: key_type.to_string(),
        key_manager: km_name.to_string(),
        consumer_key: consumer_key.to_string(),
        document: json!({"supportedGrantTypes": [], "callbackUrl": null, "mode": "MAPPED"}).to_string(),
        created_at: cp.clock.unix_secs(),
    };
    let ev = event(
        EventKind::ApplicationRegistrationCreate,
        json!({"applicationId": id, "applicationUUID": id, "consumerKey": consumer_key, "keyType": key_type, "keyManager": km_name}),
    );
    cp.db.add_key_mapping(&mapping, &[ev]).await?;
    Ok(Json(key_json(&mapping)).into_response())
}

async fn generate_keys(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Path(id): Path<String>, body: Bytes) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(APPS)?;
    let app = own_app(&cp, &who, &id).await?;
    let v = json_body(&body)?;
    let key_type = v.get("keyType").and_then(Value::as_str).unwrap_or("");
    if !apim_wire::KeyType::from(key_type).is_known() {
        return Err(ApiError::field("keyType", "must be PRODUCTION or SANDBOX"));
    }
    let km_name = v.get("keyManager").and_then(Value::as_str).unwrap_or(RESIDENT);
    if km_name != RESIDENT && km_name != "default" {
        return Err(ApiError::field("keyManager", format!("`{km_name}` is not a key manager here ({RESIDENT})")));
    }
    let grants: Vec<String> = match v.get("grantTypesToBeSupported") {
        None | Some(Value::Null) => vec!["client_credentials".into()],
        Some(Value::Array(a)) => a
            .iter()
            .map(|g| g.as_str().map(str::to_string).ok_or_else(|| ApiError::field("grantTypesToBeSupported", "must be a list of strings")))
            .collect::<Result<_>>()?,
        Some(_) => return Err(ApiError::field("grantTypesToBeSupported", "must be a list of strings")),
    };
    if let Some(g) = grants.iter().find(|g| !GRANTS.contains(&g.as_str())) {
        return Err(ApiError::field("grantTypesToBeSupported", format!("`{g}` is not one of {}", GRANTS.join(", "))));
    }
    let callback = v.get("callbackUrl").and_then(Value::as_str).filter(|c| !c.is_empty()).map(str::to_string);
    if let Some(c) = &callback
        && !crate::model::valid_url(c)
    {
        return Err(ApiError::field("callbackUrl", format!("`{c}` is not an http or https URL")));
    }
    let scopes: Vec<String> = v
        .get("scopes")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default();
    if cp.db.key_mappings(&id).await?.iter().any(|k| k.key_type == key_type && (k.key_manager == RESIDENT || k.key_manager == "default")) {
        return Err(ApiError::conflict(format!("the application already has {key_type} keys")));
    }
    let km = key_manager(&cp)?;
    let keys = km
        .register(ClientRequest {
            name: format!("{}_{}_{}", app.owner, app.name, key_type),
            owner: app.owner.clone(),
            grant_types: grants.clone(),
            callback_url: callback.clone(),
            token_type: app.token_type.clone(),
        })
        .await
        .map_err(key_error)?;
    let mapping = KeyMapping {
        id: uuid::Uuid::new_v4().to_string(),
        application_id: id.clone(),
        key_type: key_type.to_string(),
        key_manager: RESIDENT.into(),
        consumer_key: keys.client_id.clone(),
        document: json!({"supportedGrantTypes": grants, "callbackUrl": callback}).to_string(),
        created_at: cp.clock.unix_secs(),
    };
    let ev = event(
        EventKind::ApplicationRegistrationCreate,
        json!({"applicationId": id, "applicationUUID": id, "consumerKey": keys.client_id, "keyType": key_type, "keyManager": RESIDENT}),
    );
    if let Err(e) = cp.db.add_key_mapping(&mapping, &[ev]).await {
        // Do not leave an orphan client at the key manager.
        let _ = km.delete_client(&keys.client_id).await;
        return Err(e.into());
    }
    let mut out = key_json(&mapping);
    out["consumerSecret"] = json!(keys.client_secret);
    if grants.iter().any(|g| g == "client_credentials") {
        let t = km.client_credentials_token(&keys.client_id, &keys.client_secret, &scopes).await.map_err(key_error)?;
        out["token"] =
            json!({"accessToken": t.access_token, "tokenScopes": t.scope.split(' ').collect::<Vec<_>>(), "validityTime": t.expires_in});
    }
    Ok(Json(out).into_response())
}

async fn oauth_keys(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(APPS)?;
    own_app(&cp, &who, &id).await?;
    let list: Vec<Value> = cp.db.key_mappings(&id).await?.iter().map(key_json).collect();
    Ok(Json(json!({"count": list.len(), "list": list})).into_response())
}

/// Keys the resident key manager made (tokens and secrets of mapped keys are their own key manager's business).
async fn resident_mapping(cp: &ControlPlane, who: &Principal, app_id: &str, key_id: &str) -> Result<KeyMapping> {
    own_app(cp, who, app_id).await?;
    let k = cp
        .db
        .key_mappings(app_id)
        .await?
        .into_iter()
        .find(|k| k.id == key_id)
        .ok_or_else(|| ApiError::not_found(format!("keys {key_id} of application {app_id} not found")))?;
    if k.key_manager != RESIDENT && k.key_manager != "default" {
        return Err(ApiError::bad_request(format!(
            "keys {key_id} belong to the key manager `{}`: ask it for tokens and secrets",
            k.key_manager
        )));
    }
    Ok(k)
}

/// One of the application's key mappings, whichever key manager made it.
async fn own_mapping(cp: &ControlPlane, who: &Principal, app_id: &str, key_id: &str) -> Result<KeyMapping> {
    own_app(cp, who, app_id).await?;
    cp.db
        .key_mappings(app_id)
        .await?
        .into_iter()
        .find(|k| k.id == key_id)
        .ok_or_else(|| ApiError::not_found(format!("keys {key_id} of application {app_id} not found")))
}

async fn get_keys(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Path((id, key_id)): Path<(String, String)>) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(APPS)?;
    Ok(Json(key_json(&own_mapping(&cp, &who, &id, &key_id).await?)).into_response())
}

/// `PUT …/oauth-keys/{keyMappingId}`: the keys' grant types (`supportedGrantTypes`) and callback URL
/// (`callbackUrl`; empty: none), each kept when absent, changed at the key manager that made them (the resident
/// one, through its DCR update) and then in the mapping. WSO2 writes no event for it: gateways read neither.
async fn update_keys(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Path((id, key_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(APPS)?;
    let k = resident_mapping(&cp, &who, &id, &key_id).await?;
    let v = json_body(&body)?;
    let mut doc: Value = serde_json::from_str(&k.document).unwrap_or_else(|_| json!({}));
    let grants: Vec<String> = match v.get("supportedGrantTypes") {
        None | Some(Value::Null) => doc
            .get("supportedGrantTypes")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|g| g.as_str().map(str::to_string).ok_or_else(|| ApiError::field("supportedGrantTypes", "must be a list of strings")))
            .collect::<Result<_>>()?,
        Some(_) => return Err(ApiError::field("supportedGrantTypes", "must be a list of strings")),
    };
    if grants.is_empty() {
        return Err(ApiError::field("supportedGrantTypes", "name at least one grant type"));
    }
    if let Some(g) = grants.iter().find(|g| !GRANTS.contains(&g.as_str())) {
        return Err(ApiError::field("supportedGrantTypes", format!("`{g}` is not one of {}", GRANTS.join(", "))));
    }
    let callback: Option<String> = match v.get("callbackUrl") {
        None | Some(Value::Null) => doc.get("callbackUrl").and_then(Value::as_str).filter(|c| !c.is_empty()).map(str::to_string),
        Some(Value::String(c)) if c.is_empty() => None,
        Some(Value::String(c)) if crate::model::valid_url(c) => Some(c.clone()),
        Some(Value::String(c)) => return Err(ApiError::field("callbackUrl", format!("`{c}` is not an http or https URL"))),
        Some(_) => return Err(ApiError::field("callbackUrl", "must be a string")),
    };
    if callback.is_none() && grants.iter().any(|g| g == "authorization_code") {
        return Err(ApiError::field("callbackUrl", "the authorization_code grant needs a callback URL"));
    }
    key_manager(&cp)?.update_client(&k.consumer_key, &grants, callback.as_deref()).await.map_err(key_error)?;
    doc["supportedGrantTypes"] = json!(grants);
    doc["callbackUrl"] = json!(callback);
    let updated = KeyMapping { document: doc.to_string(), ..k };
    if !cp.db.set_key_mapping_document(&updated.id, &updated.document).await? {
        return Err(ApiError::not_found(format!("keys {key_id} of application {id} not found")));
    }
    Ok(Json(key_json(&updated)).into_response())
}

/// `POST …/oauth-keys/{keyMappingId}/clean-up`: the keys go (WSO2 offers it to clear a generation that failed
/// half way; here none is left half made, so it removes whole keys). A client the resident key manager made is
/// deleted there first (gone already is fine, so a retry finishes the job), then the mapping, with WSO2's
/// `REMOVE_APPLICATION_KEYMAPPING` event; mapped clients of other key managers stay theirs.
async fn clean_up_keys(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Path((id, key_id)): Path<(String, String)>,
) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(APPS)?;
    let k = own_mapping(&cp, &who, &id, &key_id).await?;
    let resident = (k.key_manager == RESIDENT || k.key_manager == "default")
        && serde_json::from_str::<Value>(&k.document).ok().and_then(|d| d.get("mode").cloned()) != Some(json!("MAPPED"));
    if resident {
        match key_manager(&cp)?.delete_client(&k.consumer_key).await {
            Ok(()) | Err(KeyError::NotFound(_)) => {}
            Err(e) => return Err(key_error(e)),
        }
    }
    let ev = event(
        EventKind::RemoveApplicationKeymapping,
        json!({"applicationId": id, "applicationUUID": id, "consumerKey": k.consumer_key, "keyType": k.key_type, "keyManager": k.key_manager}),
    );
    if !cp.db.remove_key_mapping(&k.id, &[ev]).await? {
        return Err(ApiError::not_found(format!("keys {key_id} of application {id} not found")));
    }
    tracing::info!(application_id = %id, key_mapping = %key_id, user = %who.username, "application keys cleaned up");
    Ok(StatusCode::OK.into_response())
}

async fn generate_token(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Path((id, key_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(APPS)?;
    let k = resident_mapping(&cp, &who, &id, &key_id).await?;
    let v = json_body(&body)?;
    let secret = v
        .get("consumerSecret")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::field("consumerSecret", "is required"))?;
    let scopes: Vec<String> = v
        .get("scopes")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default();
    let t = key_manager(&cp)?.client_credentials_token(&k.consumer_key, secret, &scopes).await.map_err(key_error)?;
    Ok(Json(json!({"accessToken": t.access_token, "tokenScopes": t.scope.split(' ').collect::<Vec<_>>(), "validityTime": t.expires_in}))
        .into_response())
}

async fn regenerate_secret(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Path((id, key_id)): Path<(String, String)>,
) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(APPS)?;
    let k = resident_mapping(&cp, &who, &id, &key_id).await?;
    let secret = key_manager(&cp)?.regenerate_secret(&k.consumer_key).await.map_err(key_error)?;
    Ok(Json(json!({"consumerKey": k.consumer_key, "consumerSecret": secret})).into_response())
}

fn sub_json(s: &SubscriptionRecord, api: Option<&ApiRecord>) -> Value {
    json!({"subscriptionId": s.id, "applicationId": s.application_id, "apiId": s.api_id, "throttlingPolicy": s.policy, "status": s.status,
           "apiInfo": api.map(|a| json!({"id": a.id, "name": a.name, "context": a.context, "version": a.version, "provider": a.provider}))})
}

fn sub_event(kind: EventKind, s: &SubscriptionRecord) -> EventDraft {
    event(
        kind,
        json!({"subscriptionId": s.id, "subscriptionUUID": s.id, "apiId": s.api_id, "apiUUID": s.api_id, "applicationId": s.application_id,
               "applicationUUID": s.application_id, "policyId": s.policy, "subscriptionState": s.status}),
    )
}

async fn subscribe_one(cp: &ControlPlane, who: &Principal, v: &Value) -> Result<(SubscriptionRecord, ApiRecord)> {
    let o = v.as_object().ok_or_else(|| ApiError::bad_request("a subscription must be a JSON object"))?;
    let api_id = o.get("apiId").and_then(Value::as_str).filter(|s| !s.is_empty()).ok_or_else(|| ApiError::field("apiId", "is required"))?;
    let app_id = o
        .get("applicationId")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::field("applicationId", "is required"))?;
    let policy = o
        .get("throttlingPolicy")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::field("throttlingPolicy", "is required"))?;
    let app = own_app(cp, who, app_id).await?;
    let api = visible_api(cp, api_id, Some(who)).await?;
    if api.status != ApiStatus::Published {
        return Err(ApiError::field("apiId", format!("API {api_id} is {}; only published APIs take subscriptions", api.status)));
    }
    let doc: Value = serde_json::from_str(&api.document).unwrap_or(Value::Null);
    let tiers: Vec<&str> =
        doc.get("policies").and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    if !tiers.contains(&policy) {
        return Err(ApiError::field("throttlingPolicy", format!("`{policy}` is not offered by this API (offered: {})", tiers.join(", "))));
    }
    let sub = SubscriptionRecord {
        id: uuid::Uuid::new_v4().to_string(),
        api_id: api.id.clone(),
        application_id: app.id,
        policy: policy.to_string(),
        status: SubscriptionStatus::Unblocked,
        created_at: cp.clock.unix_secs(),
    };
    cp.db.create_subscription(&sub, &[sub_event(EventKind::SubscriptionsCreate, &sub)]).await?;
    Ok((sub, api))
}

async fn subscribe(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, body: Bytes) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(SUBS)?;
    let (sub, api) = subscribe_one(&cp, &who, &json_body(&body)?).await?;
    Ok((StatusCode::CREATED, Json(sub_json(&sub, Some(&api)))).into_response())
}

async fn subscribe_multiple(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, body: Bytes) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(SUBS)?;
    let Value::Array(items) = json_body(&body)? else { return Err(ApiError::bad_request("the body must be a list of subscriptions")) };
    let mut out = Vec::new();
    for item in &items {
        let (sub, api) = subscribe_one(&cp, &who, item).await?;
        out.push(sub_json(&sub, Some(&api)));
    }
    Ok(Json(out).into_response())
}

async fn list_subscriptions(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Query(p): Query<HashMap<String, String>>,
) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(SUBS)?;
    let app_id = p.get("applicationId").filter(|s| !s.is_empty());
    let api_id = p.get("apiId").filter(|s| !s.is_empty());
    if app_id.is_none() && api_id.is_none() {
        return Err(ApiError::field("applicationId", "applicationId or apiId is required"));
    }
    let page = crate::search::Page::of(&p)?;
    if let Some(a) = app_id {
        own_app(&cp, &who, a).await?;
    }
    // Listing by API shows only the caller's own applications' subscriptions.
    let owner = if app_id.is_none() { Some(who.username.as_str()) } else { None };
    let search = apim_store::SubSearch { application_id: app_id.map(String::as_str), api_id: api_id.map(String::as_str), owner };
    let (subs, total) = apim_store::SearchStore::search_subscriptions(&cp.db, &search, page.limit, page.offset).await?;
    let list: Vec<Value> = subs.iter().map(|row| sub_json(&row.subscription, row.api.as_ref())).collect();
    let filters = [("applicationId", app_id.map(String::as_str)), ("apiId", api_id.map(String::as_str))];
    Ok(Json(crate::search::Listing::new(list, page.pagination("/subscriptions", &filters, total))).into_response())
}

async fn own_subscription(cp: &ControlPlane, who: &Principal, id: &str) -> Result<SubscriptionRecord> {
    let s = cp.db.get_subscription(id).await?.ok_or_else(|| ApiError::not_found(format!("subscription {id} not found")))?;
    own_app(cp, who, &s.application_id).await.map_err(|_| ApiError::not_found(format!("subscription {id} not found")))?;
    Ok(s)
}

async fn get_subscription(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(SUBS)?;
    let s = own_subscription(&cp, &who, &id).await?;
    let api = cp.db.get_api(&s.api_id).await?;
    Ok(Json(sub_json(&s, api.as_ref())).into_response())
}

/// `PUT /subscriptions/{subscriptionId}`: another business plan for the subscription, one the API offers
/// (`requestedThrottlingPolicy`, or `throttlingPolicy` when that is absent, as WSO2's portal sends either). No
/// approval workflow runs, so the change is made at once (200, never 202 with `TIER_UPDATE_PENDING`).
async fn change_plan(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Path(id): Path<String>, body: Bytes) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(SUBS)?;
    let s = own_subscription(&cp, &who, &id).await?;
    let v = json_body(&body)?;
    let o = v.as_object().ok_or_else(|| ApiError::bad_request("the body must be a subscription object"))?;
    for (field, current) in [("applicationId", &s.application_id), ("apiId", &s.api_id)] {
        match o.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::String(x)) if x == current => {}
            Some(_) => return Err(ApiError::field(field, format!("is {current} for subscription {id}; it cannot change"))),
        }
    }
    let plan = |f: &str| o.get(f).and_then(Value::as_str).filter(|p| !p.is_empty());
    let policy = plan("requestedThrottlingPolicy")
        .or_else(|| plan("throttlingPolicy"))
        .ok_or_else(|| ApiError::field("throttlingPolicy", "is required"))?;
    let api = cp.db.get_api(&s.api_id).await?.ok_or_else(|| ApiError::not_found(format!("API {} not found", s.api_id)))?;
    let doc: Value = serde_json::from_str(&api.document).unwrap_or(Value::Null);
    let tiers: Vec<&str> =
        doc.get("policies").and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    if !tiers.contains(&policy) {
        let field = if plan("requestedThrottlingPolicy").is_some() { "requestedThrottlingPolicy" } else { "throttlingPolicy" };
        return Err(ApiError::field(field, format!("`{policy}` is not offered by this API (offered: {})", tiers.join(", "))));
    }
    let changed = SubscriptionRecord { policy: policy.to_string(), ..s };
    if !cp.db.set_subscription_policy(&id, policy, &[sub_event(EventKind::SubscriptionsUpdate, &changed)]).await? {
        return Err(ApiError::not_found(format!("subscription {id} not found")));
    }
    Ok(Json(sub_json(&changed, Some(&api))).into_response())
}

async fn unsubscribe(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(SUBS)?;
    let s = own_subscription(&cp, &who, &id).await?;
    if !cp.db.delete_subscription(&id, &[sub_event(EventKind::SubscriptionsDelete, &s)]).await? {
        return Err(ApiError::not_found(format!("subscription {id} not found")));
    }
    Ok(StatusCode::OK.into_response())
}

async fn throttling_policies(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Path(level): Path<String>,
    Query(p): Query<HashMap<String, String>>,
) -> Result<Response> {
    cp.principal(&headers).await?;
    if level != "application" && level != "subscription" {
        return Err(ApiError::field("policyLevel", format!("`{level}` is not application or subscription")));
    }
    let page = crate::search::Page::of(&p)?;
    let all = cp.db.policies(&level).await?;
    let total = all.len() as i64;
    let mut list = Vec::new();
    for (name, doc) in page.slice(all) {
        let d: Value = serde_json::from_str(&doc).unwrap_or_else(|_| json!({}));
        let rc = &d["defaultLimit"]["requestCount"];
        list.push(json!({"name": name, "description": d.get("description"), "policyLevel": level, "requestCount": rc.get("requestCount"),
                         "unitTime": rc.get("unitTime"), "timeUnit": rc.get("timeUnit"), "tierPlan": "FREE", "stopOnQuotaReach": d.get("stopOnQuotaReach").cloned().unwrap_or(json!(true))}));
    }
    Ok(Json(crate::search::Listing::new(list, page.pagination(&format!("/throttling-policies/{level}"), &[], total))).into_response())
}
