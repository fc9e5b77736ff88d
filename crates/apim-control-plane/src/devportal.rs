//! Developer Portal REST API `/api/am/devportal/v3`: published APIs, applications, keys, subscriptions.
//! A subscriber sees and changes only its own applications and subscriptions.

use std::collections::HashMap;
use std::sync::Arc;

use apim_domain::api::{ApiRecord, ApiStatus, ApplicationRecord, EventDraft, KeyMapping, SubscriptionRecord};
use apim_store::{AdminStore, ApiStore, ApplicationStore, ContentStore};
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

pub(crate) const APPS: &[&str] = &["apim:app_manage", "apim:subscribe"];
const SUBS: &[&str] = &["apim:subscribe", "apim:sub_manage"];
pub(crate) const RESIDENT: &str = "Resident Key Manager";
pub(crate) const GRANTS: [&str; 4] = ["client_credentials", "password", "refresh_token", "authorization_code"];

pub fn routes() -> axum::Router<Arc<ControlPlane>> {
    axum::Router::new()
        .route("/apis", get(list_apis))
        .route("/apis/{api_id}", get(get_api))
        .route("/apis/{api_id}/swagger", get(get_swagger))
        .route("/apis/{api_id}/subscription-policies", get(subscription_policies))
        .route("/applications", get(list_applications).post(create_application))
        .route("/applications/{app_id}", get(get_application).put(update_application).delete(delete_application))
        .route("/subscriptions", get(list_subscriptions).post(subscribe))
        .route("/subscriptions/multiple", post(subscribe_multiple))
        .route("/subscriptions/{sub_id}", get(get_subscription).put(change_plan).delete(unsubscribe))
        .route("/throttling-policies/{policy_level}", get(crate::throttling::devportal_list))
        .route("/throttling-policies/{policy_level}/{policy_id}", get(crate::throttling::devportal_one))
}

pub(crate) fn json_body(body: &Bytes) -> Result<Value> {
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

/// The DevPortal's `API` (WSO2's devportal schema, not the Publisher's document): where it is invoked
/// (`endpointURLs` of the environments it is deployed to and shown in), its plans with their billing plans, the
/// scopes its operations need, and the additional properties marked for display. A bounded number of reads
/// (plans, deployments, environments, thumbnail, shared scopes when an operation names one the API does not list).
/// Plans the caller is not permitted are left out, as the policy lists leave them out.
async fn portal_api(cp: &ControlPlane, api: &ApiRecord, who: Option<&Principal>) -> Result<Value> {
    let d: Value = serde_json::from_str(&api.document).unwrap_or_else(|_| json!({}));
    let field = |k: &str| d.get(k).cloned().filter(|v| !v.is_null());
    let plans: HashMap<String, Value> =
        cp.db.policies("subscription").await?.into_iter().map(|(n, doc)| (n, serde_json::from_str(&doc).unwrap_or(Value::Null))).collect();
    let tiers: Vec<Value> = d
        .get("policies")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|t| plans.get(*t).is_none_or(|p| crate::throttling::permitted(p, who)))
        .map(|t| {
            let plan = plans.get(t);
            let mut tier = json!({"tierName": t, "tierPlan": plan.map_or("FREE", crate::throttling::tier_plan)});
            if let Some(m) =
                plan.filter(|p| crate::throttling::tier_plan(p) == "COMMERCIAL").and_then(crate::throttling::monetization_attributes)
            {
                tier["monetizationAttributes"] = m;
            }
            tier
        })
        .collect();
    let operations: Vec<Value> = d
        .get("operations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, op)| json!({"id": (i + 1).to_string(), "target": op.get("target"), "verb": op.get("verb")}))
        .collect();
    let endpoints = crate::endpoints::deployed(cp, &api.id).await?;
    let has_thumbnail = !cp.db.with_thumbnails(std::slice::from_ref(&api.id)).await?.is_empty();
    // WSO2 lists the endpoint types the API has a backend for.
    let environments: Vec<&str> = [("production_endpoints", "PRODUCTION"), ("sandbox_endpoints", "SANDBOX")]
        .into_iter()
        .filter(|(k, _)| d.pointer(&format!("/endpointConfig/{k}")).is_some_and(|e| !e.is_null()))
        .map(|(_, name)| name)
        .collect();
    let properties: Vec<Value> = d
        .get("additionalProperties")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|p| p.get("display").and_then(Value::as_bool) == Some(true))
        .cloned()
        .collect();
    let mut answer = json!({
        "id": api.id, "name": api.name, "description": field("description").unwrap_or(json!("")), "context": api.context, "version": api.version,
        "provider": api.provider, "lifeCycleStatus": api.status, "isDefaultVersion": field("isDefaultVersion").unwrap_or(json!(false)),
        "type": api.api_type, "transport": field("transport").unwrap_or(json!([])), "operations": operations,
        "authorizationHeader": field("authorizationHeader").unwrap_or(json!("Authorization")),
        "apiKeyHeader": field("apiKeyHeader").unwrap_or(json!("ApiKey")), "securityScheme": field("securityScheme").unwrap_or(json!([])),
        "tags": field("tags").unwrap_or(json!([])), "tiers": tiers, "hasThumbnail": has_thumbnail, "additionalProperties": properties,
        "endpointURLs": crate::endpoints::endpoint_urls(api, &d, &endpoints), "environmentList": environments,
        "scopes": scopes_of(cp, &d).await?, "isSubscriptionAvailable": api.status == ApiStatus::Published,
        "categories": field("categories").unwrap_or(json!([])), "keyManagers": field("keyManagers").unwrap_or(json!(["all"])),
        "createdTime": (api.created_at * 1000).to_string(), "lastUpdatedTime": (api.updated_at * 1000).to_string(), "gatewayVendor": "wso2",
        // The DevPortal is told only whether the API is monetized (its properties are the publisher's).
        "monetization": {"enabled": d.pointer("/monetization/enabled").and_then(Value::as_bool).unwrap_or(false)},
    });
    for k in ["businessInformation", "advertiseInfo"] {
        if let Some(v) = field(k).filter(Value::is_object) {
            answer[k] = v;
        }
    }
    Ok(answer)
}

/// WSO2's `ScopeInfo` of every scope the API's operations need: those the API declares (`scopes`), then shared
/// scopes it uses without declaring (one read, only then); a name neither knows is answered bare.
async fn scopes_of(cp: &ControlPlane, d: &Value) -> Result<Vec<Value>> {
    let info = |s: &Value| {
        let name = s.get("name").and_then(Value::as_str).unwrap_or("");
        json!({"key": name, "name": s.get("displayName").and_then(Value::as_str).filter(|n| !n.is_empty()).unwrap_or(name),
               "roles": s.get("bindings").cloned().unwrap_or(json!([])), "description": s.get("description").cloned().unwrap_or(json!(""))})
    };
    let mut out: Vec<Value> =
        d.get("scopes").and_then(Value::as_array).into_iter().flatten().filter_map(|s| s.get("scope")).map(info).collect();
    let mut missing: Vec<&str> = Vec::new();
    for op in d.get("operations").and_then(Value::as_array).into_iter().flatten() {
        for name in op.get("scopes").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
            if !missing.contains(&name) && !out.iter().any(|s| s["key"] == name) {
                missing.push(name);
            }
        }
    }
    if missing.is_empty() {
        return Ok(out);
    }
    let shared: Vec<Value> =
        cp.db.list_objects("shared_scope").await?.into_iter().filter_map(|(_, _, doc)| serde_json::from_str(&doc).ok()).collect();
    for name in missing {
        match shared.iter().find(|s| s.get("name").and_then(Value::as_str) == Some(name)) {
            Some(s) => out.push(info(s)),
            None => out.push(json!({"key": name, "name": name, "roles": [], "description": ""})),
        }
    }
    Ok(out)
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
    let api = visible_api(&cp, &id, who.as_ref()).await?;
    Ok(Json(portal_api(&cp, &api, who.as_ref()).await?).into_response())
}

/// `GET /apis/{apiId}/swagger`: the API's definition (the Publisher's) with the gateway URLs of
/// `environmentName` as its servers, or of every environment it is deployed to and shown in when none is named;
/// an environment the API is not deployed to is a 404, like an API the caller may not see.
async fn get_swagger(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(p): Query<HashMap<String, String>>,
) -> Result<Response> {
    let who = cp.optional_principal(&headers).await?;
    let api = visible_api(&cp, &id, who.as_ref()).await?;
    let mut endpoints = crate::endpoints::deployed(&cp, &api.id).await?;
    if let Some(env) = p.get("environmentName").filter(|e| !e.is_empty()) {
        endpoints.retain(|e| &e.env.name == env);
        if endpoints.is_empty() {
            return Err(ApiError::not_found(format!("API {id} is not deployed to gateway environment `{env}`")));
        }
    }
    let doc: Value = serde_json::from_str(&api.document).unwrap_or(Value::Null);
    let definition = crate::publisher::served_definition(&api);
    Ok(Json(crate::endpoints::with_servers(definition, &api, &doc, &endpoints)).into_response())
}

/// `GET /apis/{apiId}/subscription-policies`: the plans of an API the caller may see, as `ThrottlingPolicy`.
async fn subscription_policies(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response> {
    let who = cp.optional_principal(&headers).await?;
    let api = visible_api(&cp, &id, who.as_ref()).await?;
    Ok(Json(crate::throttling::of_api(&cp, crate::throttling::Portal::DevPortal, &api, who.as_ref()).await?).into_response())
}

pub(crate) fn app_json(app: &ApplicationRecord, keys: &[KeyMapping], subscriptions: usize) -> Value {
    let d: Value = serde_json::from_str(&app.document).unwrap_or_else(|_| json!({}));
    json!({
        "applicationId": app.id, "name": app.name, "throttlingPolicy": app.throttling_policy, "description": d.get("description").cloned().unwrap_or(json!("")),
        "tokenType": if app.token_type == "OPAQUE" { "OAUTH" } else { "JWT" }, "status": "APPROVED", "groups": [], "subscriptionCount": subscriptions,
        "keys": keys.iter().map(crate::keys::key_json).collect::<Vec<_>>(), "attributes": d.get("attributes").cloned().unwrap_or(json!({})), "subscriptionScopes": [],
        "owner": app.owner, "hashEnabled": false, "createdTime": (app.created_at * 1000).to_string(),
    })
}

pub(crate) fn app_event(kind: EventKind, app: &ApplicationRecord) -> EventDraft {
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
pub(crate) async fn app_fields(cp: &ControlPlane, v: &Value) -> Result<(String, String, String, Value)> {
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
    remove_application(&cp, &app).await?;
    Ok(StatusCode::OK.into_response())
}

/// Deletes an application with its subscriptions and keys (the DevPortal's and the Admin API's `DELETE`): one
/// event per subscription and the application's, written with the deletion.
pub(crate) async fn remove_application(cp: &ControlPlane, app: &ApplicationRecord) -> Result<()> {
    let id = &app.id;
    let mut events: Vec<EventDraft> =
        cp.db.list_subscriptions(Some(id), None).await?.iter().map(|s| sub_event(EventKind::SubscriptionsDelete, s)).collect();
    events.push(app_event(EventKind::ApplicationDelete, app));
    let Some(keys) = cp.db.delete_application(id, &events).await? else {
        return Err(ApiError::not_found(format!("application {id} not found")));
    };
    // The OAuth clients go too, which revokes their tokens at the key managers.
    crate::keys::delete_clients(cp, id, &keys).await;
    Ok(())
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

/// A plan the caller's roles are not permitted (the policy's `permissions`, as the DevPortal's policy lists hide
/// it) is refused, naming `field`.
async fn check_permitted(cp: &ControlPlane, who: &Principal, field: &str, policy: &str) -> Result<()> {
    let plan = cp.db.policies("subscription").await?.into_iter().find(|(n, _)| n == policy);
    let doc: Value = plan.and_then(|(_, d)| serde_json::from_str(&d).ok()).unwrap_or(Value::Null);
    if crate::throttling::permitted(&doc, Some(who)) {
        Ok(())
    } else {
        Err(ApiError::field(field, format!("`{policy}` is not permitted to user {}", who.username)))
    }
}

pub(crate) async fn subscribe_one(cp: &ControlPlane, who: &Principal, v: &Value) -> Result<(SubscriptionRecord, ApiRecord)> {
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
    check_permitted(cp, who, "throttlingPolicy", policy).await?;
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
    // Each with its application (WSO2's `applicationInfo`), read in the same query: a page needs no lookups per row.
    let list: Vec<Value> = subs
        .iter()
        .map(|row| {
            let mut v = sub_json(&row.subscription, row.api.as_ref());
            v["applicationInfo"] = json!({"applicationId": row.subscription.application_id, "name": row.application_name,
                                          "owner": row.application_owner});
            v
        })
        .collect();
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
    let field = if plan("requestedThrottlingPolicy").is_some() { "requestedThrottlingPolicy" } else { "throttlingPolicy" };
    if !tiers.contains(&policy) {
        return Err(ApiError::field(field, format!("`{policy}` is not offered by this API (offered: {})", tiers.join(", "))));
    }
    check_permitted(cp.as_ref(), &who, field, policy).await?;
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
