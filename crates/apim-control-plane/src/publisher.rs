//! Publisher REST API `/api/am/publisher/v4`: APIs, lifecycle, revisions, deployments, policies.

use std::collections::HashMap;
use std::sync::Arc;

use apim_domain::api::{ApiRecord, ApiStatus, Deployment, LIFECYCLE, LifecycleEntry, Revision, state_display};
use apim_store::{ApiStore, ContentStore, OperationPolicyStore, SearchStore};
use apim_wire::SubscriptionStatus;
use apim_wire::hub::EventKind;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use serde_json::{Value, json};

use crate::ControlPlane;
use crate::error::{ApiError, Result};
use crate::model::{PolicyNames, api_event, normalize};

pub(crate) const VIEW: &[&str] = &["apim:api_view", "apim:api_create", "apim:api_publish", "apim:api_manage"];
pub(crate) const CREATE: &[&str] = &["apim:api_create", "apim:api_manage"];
const PUBLISH: &[&str] = &["apim:api_publish", "apim:api_manage"];
const DEPLOY: &[&str] = &["apim:api_create", "apim:api_publish", "apim:api_manage"];
/// WSO2 keeps at most five revisions per API.
pub(crate) const MAX_REVISIONS: i64 = 5;

pub fn routes() -> axum::Router<Arc<ControlPlane>> {
    axum::Router::new()
        .route("/apis", get(list_apis).post(create_api))
        .route("/apis/change-lifecycle", post(change_lifecycle::<false>))
        .route("/apis/{api_id}", get(get_api).put(update_api).delete(delete_api::<false>))
        .route("/apis/{api_id}/lifecycle-history", get(lifecycle_history::<false>))
        .route("/apis/{api_id}/lifecycle-state", get(lifecycle_state::<false>))
        .route("/apis/{api_id}/revisions", get(list_revisions::<false>).post(create_revision::<false>))
        .route("/apis/{api_id}/revisions/{revision_id}", get(get_revision::<false>).delete(delete_revision::<false>))
        .route("/apis/{api_id}/deploy-revision", post(deploy_revision::<false>))
        .route("/apis/{api_id}/undeploy-revision", post(undeploy_revision::<false>))
        .route("/apis/{api_id}/restore-revision", post(restore_revision::<false>))
        .route("/apis/{api_id}/deployments", get(deployments::<false>))
        .route("/apis/{api_id}/deployments/{deployment_id}", put(update_deployment::<false>))
        .route("/apis/{api_id}/lifecycle-state/pending-tasks", delete(delete_pending_tasks::<false>))
        .route("/throttling-policies/{policy_level}", get(crate::throttling::publisher_list))
        .route("/throttling-policies/{policy_level}/{policy_name}", get(crate::throttling::publisher_one))
        .route("/apis/{api_id}/subscription-policies", get(subscription_policies))
        .route("/apis/{api_id}/resource-paths", get(resource_paths))
        // Room for a definition archive (`archive::ARCHIVE_MAX`) and the form around it.
        .route("/apis/import-openapi", post(import_openapi).layer(DefaultBodyLimit::max(crate::archive::ARCHIVE_MAX + (64 << 10))))
        .route("/apis/validate-openapi", post(validate_openapi).layer(DefaultBodyLimit::max(crate::archive::ARCHIVE_MAX + (64 << 10))))
        .route("/apis/validate", post(validate_api))
        .route("/apis/validate-endpoint", post(validate_endpoint))
        .route("/apis/copy-api", post(copy_api))
        .route(
            "/apis/{api_id}/swagger",
            get(get_swagger).put(put_swagger).layer(DefaultBodyLimit::max(crate::archive::ARCHIVE_MAX + (64 << 10))),
        )
        .route("/subscriptions", get(list_subscriptions))
        .route("/subscriptions/block-subscription", post(block_subscription))
        .route("/subscriptions/unblock-subscription", post(unblock_subscription))
        .route("/subscriptions/{subscription_id}/subscriber-info", get(subscriber_info))
}

/// Where an API keeps its OpenAPI definition inside its stored document; never shown as a DTO field.
pub(crate) const DEFINITION: &str = "x-apim-definition";

fn json_body(body: &Bytes) -> Result<Value> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))
}

/// The API as WSO2's DTO: the stored document with the fields the server computes (`model::COMPUTED`) and its
/// backend credentials blanked (`secrets::mask`). A working copy is no revision; every lifecycle change is
/// approved at once (no approval workflows), so none is pending; `hasThumbnail` is false here and answered truly
/// by [`answer_of`].
pub(crate) fn doc_of(api: &ApiRecord) -> Value {
    let mut v: Value = serde_json::from_str(&api.document).unwrap_or_else(|_| json!({}));
    if let Some(o) = v.as_object_mut() {
        o.remove(DEFINITION);
        o.remove(crate::client_certs::KEY);
        crate::secrets::mask(o);
        let (created, updated) = ((api.created_at * 1000).to_string(), (api.updated_at * 1000).to_string());
        for (k, x) in [
            ("lifeCycleStatus", json!(api.status)),
            ("createdTime", json!(created)),
            ("lastUpdatedTime", json!(updated)),
            ("lastUpdatedTimestamp", json!(updated)),
            ("isRevision", json!(false)),
            ("revisionId", json!(0)),
            ("workflowStatus", json!("APPROVED")),
            ("hasThumbnail", json!(false)),
        ] {
            o.insert(k.into(), x);
        }
    }
    v
}

/// [`doc_of`] with `hasThumbnail` looked up.
pub(crate) async fn answer_of(cp: &ControlPlane, api: &ApiRecord) -> Result<Value> {
    let mut doc = doc_of(api);
    doc["hasThumbnail"] = json!(!cp.db.with_thumbnails(std::slice::from_ref(&api.id)).await?.is_empty());
    Ok(doc)
}

/// An API answered with its `ETag`, which `PUT` takes back in `If-Match`.
pub(crate) fn tagged(status: StatusCode, answer: Value) -> Response {
    let tag = crate::model::etag(&answer);
    let mut resp = (status, Json(answer)).into_response();
    if let Ok(v) = HeaderValue::from_str(&tag) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp
}

/// The API's OpenAPI definition as both portals serve it: the stored one, or one made from its operations when
/// none was imported.
pub(crate) fn served_definition(api: &ApiRecord) -> Value {
    let stored: Value = serde_json::from_str(&api.document).unwrap_or_else(|_| json!({}));
    stored.get(DEFINITION).cloned().unwrap_or_else(|| crate::openapi::generate(&stored))
}

/// The stored OpenAPI definition, which only import and `PUT /swagger` change.
pub(crate) fn definition_of(api: &ApiRecord) -> Option<Value> {
    let mut v: Value = serde_json::from_str(&api.document).ok()?;
    v.as_object_mut()?.remove(DEFINITION)
}

fn ok<T: serde::Serialize>(v: T) -> Response {
    Json(v).into_response()
}

/// A new API record (state CREATED) from a normalised document.
pub(crate) fn new_record(
    doc: serde_json::Map<String, Value>,
    id: String,
    name: String,
    version: String,
    context: String,
    provider: &str,
    now: i64,
) -> ApiRecord {
    ApiRecord {
        id,
        name,
        version,
        context,
        provider: doc.get("provider").and_then(Value::as_str).unwrap_or(provider).to_string(),
        status: ApiStatus::Created,
        api_type: doc.get("type").and_then(Value::as_str).unwrap_or("HTTP").to_string(),
        document: Value::Object(doc).to_string(),
        created_at: now,
        updated_at: now,
    }
}

/// WSO2's rules for a new API's name and context: a name that differs from another API's only in case is taken,
/// and so is a context another API of another name uses (WSO2's "A duplicate API context already exists"); a new
/// version of an API may keep its context. The same name and version, or context and version, is the store's
/// unique key (409 there).
pub(crate) async fn check_new_identity(cp: &ControlPlane, name: &str, context: &str) -> Result<()> {
    for other in cp.db.apis_named_or_at(Some(name), Some(context)).await? {
        if other.name != name && other.name.eq_ignore_ascii_case(name) {
            return Err(ApiError::conflict_field("name", format!("An API with name `{}` already exists", other.name)));
        }
        if other.name != name && other.context.eq_ignore_ascii_case(context) {
            return Err(ApiError::conflict_field(
                "context",
                format!("A duplicate API context already exists for `{context}`: API `{}` {} uses it", other.name, other.version),
            ));
        }
    }
    Ok(())
}

pub(crate) async fn policy_names(cp: &ControlPlane) -> Result<PolicyNames> {
    policy_names_for(cp, None).await
}

/// With the operation policies of the API `api_id` (an existing one's save) besides the common ones.
pub(crate) async fn policy_names_for(cp: &ControlPlane, api_id: Option<&str>) -> Result<PolicyNames> {
    Ok(PolicyNames {
        subscription: cp.db.policies("subscription").await?.into_iter().map(|(n, _)| n).collect(),
        api: cp.db.policies("api").await?.into_iter().map(|(n, _)| n).collect(),
        operation: cp.db.operation_policies(api_id, true).await?,
    })
}

async fn api_or_404(cp: &ControlPlane, id: &str) -> Result<ApiRecord> {
    of_kind(cp, id, false).await
}

/// The API (`product` false) or API product (true) `id`. Both are stored as APIs, told apart by their type; each
/// path finds only its own kind.
pub(crate) async fn of_kind(cp: &ControlPlane, id: &str, product: bool) -> Result<ApiRecord> {
    match cp.db.get_api(id).await? {
        Some(a) if crate::products::is_product(&a) == product => Ok(a),
        _ => Err(ApiError::not_found(format!("{} {id} not found", if product { "API product" } else { "API" }))),
    }
}

async fn list_apis(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Query(p): Query<HashMap<String, String>>) -> Result<Response> {
    crate::search::publisher_apis(&cp, &headers, &p).await
}

async fn create_api(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, body: Bytes) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(CREATE)?;
    crate::categories::check_body(&cp, &body).await?;
    let policies = policy_names(&cp).await?;
    let mut body = json_body(&body)?;
    // The definition is the server's (import, `PUT /swagger`), never a client's field.
    if let Some(o) = body.as_object_mut() {
        o.remove(DEFINITION);
    }
    let (doc, id, name, version, context) = normalize(body, None, &who.username, &policies, cp.clock.unix_secs() * 1000)?;
    check_new_identity(&cp, &name, &context).await?;
    let api = new_record(doc, id.clone(), name, version, context, &who.username, cp.clock.unix_secs());
    cp.db.create_api(&api, &[api_event(EventKind::ApiCreate, &api, json!({}))]).await?;
    tracing::info!(api_id = %id, name = %api.name, user = %who.username, "API created");
    let mut resp = tagged(StatusCode::CREATED, doc_of(&api));
    if let Ok(v) = HeaderValue::from_str(&format!("/api/am/publisher/v4/apis/{id}")) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

async fn get_api(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response> {
    cp.principal(&headers).await?.require(VIEW)?;
    let api = match api_or_404(&cp, &id).await {
        Ok(api) => api,
        // As WSO2: a revision's id reads the API as it was in that revision.
        Err(not_found) => match cp.db.revision_by_id(&id).await? {
            Some(rev) => return Ok(ok(revision_as_api(&api_or_404(&cp, &rev.api_id).await?, &rev))),
            None => return Err(not_found),
        },
    };
    Ok(tagged(StatusCode::OK, answer_of(&cp, &api).await?))
}

/// WSO2's API DTO of a revision: the API's document as revised, under the revision's id, with `isRevision`,
/// `revisionedApiId` and `revisionId` (its number); the lifecycle state is the API's now.
fn revision_as_api(api: &ApiRecord, rev: &Revision) -> Value {
    let as_then = ApiRecord { id: rev.id.clone(), document: rev.document.clone(), updated_at: rev.created_at, ..api.clone() };
    let mut v = doc_of(&as_then);
    if let Some(o) = v.as_object_mut() {
        o.insert("id".into(), json!(rev.id));
        o.insert("isRevision".into(), json!(true));
        o.insert("revisionedApiId".into(), json!(api.id));
        o.insert("revisionId".into(), json!(rev.number));
    }
    v
}

async fn update_api(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Path(id): Path<String>, body: Bytes) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(CREATE)?;
    let old = api_or_404(&cp, &id).await?;
    // An editor who read the API sends its ETag back: a change made since is a 412, never overwritten.
    let if_match = headers.get(header::IF_MATCH).map(|v| v.to_str().unwrap_or("")).map(str::to_string);
    if let Some(expected) = &if_match {
        let current = crate::model::etag(&answer_of(&cp, &old).await?);
        if !crate::model::if_match_allows(expected, &current) {
            return Err(stale(&id, expected, &current));
        }
    }
    crate::categories::check_body(&cp, &body).await?;
    let policies = policy_names_for(&cp, Some(&id)).await?;
    let mut body = json_body(&body)?;
    if let Some(o) = body.as_object_mut() {
        o.remove(DEFINITION);
    }
    let (mut doc, ..) = normalize(body, Some(&old), &who.username, &policies, cp.clock.unix_secs() * 1000)?;
    // The blanked credentials of a GET sent back mean "unchanged": the stored ones stay.
    crate::secrets::keep_stored(&mut doc, &serde_json::from_str(&old.document).unwrap_or(Value::Null));
    if let Some(d) = definition_of(&old) {
        doc.insert(DEFINITION.into(), d);
    }
    crate::client_certs::keep(&mut doc, &old);
    let api = ApiRecord {
        document: Value::Object(doc).to_string(),
        updated_at: cp.clock.unix_secs(),
        api_type: old.api_type.clone(),
        ..old.clone()
    };
    let events = [api_event(EventKind::ApiUpdate, &api, json!({}))];
    if let Some(expected) = &if_match {
        // Checked again in the write itself: two editors with the same ETag cannot both get through.
        if !cp.db.update_api_if(&api, &old, &events).await? {
            return Err(ApiError::precondition(format!(
                "API {id} changed while this update was made (If-Match {expected}): read it again and reapply the change"
            )));
        }
    } else {
        cp.db.update_api(&api, &events).await?;
    }
    Ok(tagged(StatusCode::OK, answer_of(&cp, &api).await?))
}

/// 412 for an `If-Match` the API no longer matches.
fn stale(id: &str, expected: &str, current: &str) -> ApiError {
    ApiError::precondition(format!(
        "API {id} changed since it was read (If-Match {expected}, now {current}): read it again and reapply the change"
    ))
}

pub(crate) async fn delete_api<const PRODUCT: bool>(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(&["apim:api_delete", "apim:api_create", "apim:api_manage"])?;
    let api = of_kind(&cp, &id, PRODUCT).await?;
    // As WSO2: an API stays while a product serves its operations.
    let users = if PRODUCT { Vec::new() } else { crate::products::products_using(&cp, &id).await? };
    if !users.is_empty() {
        return Err(ApiError::conflict(format!(
            "API `{}` {} cannot be deleted: API products use its operations ({}); remove them from the products first",
            api.name,
            api.version,
            users.join(", ")
        )));
    }
    let envs: Vec<String> = cp.db.deployments(&id).await?.into_iter().map(|d| d.environment).collect();
    let mut events = Vec::new();
    if !envs.is_empty() {
        events.push(api_event(EventKind::RemoveApiFromGateway, &api, json!({"gatewayLabels": envs})));
    }
    events.push(api_event(EventKind::ApiDelete, &api, json!({})));
    if !cp.db.delete_api(&id, &events).await? {
        return Err(ApiError::not_found(format!("API {id} not found")));
    }
    tracing::info!(api_id = %id, user = %who.username, "API deleted");
    Ok(StatusCode::OK.into_response())
}

fn lifecycle_state_of(status: &ApiStatus) -> Value {
    let transitions: Vec<Value> = LIFECYCLE
        .iter()
        .filter(|(from, _, _)| from == status)
        .map(|(_, event, to)| json!({"event": event, "targetState": state_display(to)}))
        .collect();
    json!({"state": state_display(status), "checkItems": [], "availableTransitions": transitions})
}

pub(crate) async fn change_lifecycle<const PRODUCT: bool>(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Query(p): Query<HashMap<String, String>>,
) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(PUBLISH)?;
    let action = p.get("action").filter(|a| !a.is_empty()).ok_or_else(|| ApiError::field("action", "is required"))?;
    let id_param = if PRODUCT { "apiProductId" } else { "apiId" };
    let id = p.get(id_param).filter(|a| !a.is_empty()).ok_or_else(|| ApiError::field(id_param, "is required"))?;
    if !LIFECYCLE.iter().any(|(_, a, _)| a == action) {
        let known: Vec<&str> = LIFECYCLE.iter().map(|(_, a, _)| *a).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
        return Err(ApiError::field("action", format!("`{action}` is not a lifecycle action ({})", known.join(", "))));
    }
    let api = of_kind(&cp, id, PRODUCT).await?;
    let Some((_, _, target)) = LIFECYCLE.iter().find(|(from, a, _)| *from == api.status && a == action) else {
        return Err(ApiError::precondition(format!("`{action}` is not allowed from state {}", state_display(&api.status))));
    };
    if matches!(target, ApiStatus::Published | ApiStatus::Prototyped) && cp.db.deployments(id).await?.is_empty() {
        return Err(ApiError::precondition("deploy a revision to at least one gateway environment before publishing"));
    }
    // The stored document, definition included (doc_of would leave it and add computed fields).
    let mut doc: Value = serde_json::from_str(&api.document).unwrap_or_else(|_| json!({}));
    doc["lifeCycleStatus"] = json!(target);
    let changed = ApiRecord { status: target.clone(), document: doc.to_string(), updated_at: cp.clock.unix_secs(), ..api.clone() };
    let entry = LifecycleEntry {
        previous_state: state_display(&api.status),
        new_state: state_display(target),
        username: who.username.clone(),
        time: cp.clock.unix_secs(),
    };
    let event = api_event(EventKind::ApiLifecycleChange, &changed, json!({"lifecycleEvent": action, "currentStatus": api.status}));
    if !cp.db.change_status(&changed, &api.status, &entry, &[event]).await? {
        return Err(ApiError::conflict("the API changed state meanwhile; reload and retry"));
    }
    tracing::info!(api_id = %id, from = %api.status, to = %target, user = %who.username, "API lifecycle changed");
    Ok(ok(json!({"workflowStatus": "APPROVED", "lifecycleState": lifecycle_state_of(target)})))
}

pub(crate) async fn lifecycle_history<const PRODUCT: bool>(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response> {
    cp.principal(&headers).await?.require(VIEW)?;
    of_kind(&cp, &id, PRODUCT).await?;
    let list: Vec<Value> = cp
        .db
        .lifecycle_history(&id)
        .await?
        .into_iter()
        .map(|e| json!({"previousState": e.previous_state, "postState": e.new_state, "user": e.username, "updatedTime": apim_domain::api::rfc3339(e.time)}))
        .collect();
    Ok(ok(json!({"count": list.len(), "list": list})))
}

pub(crate) async fn lifecycle_state<const PRODUCT: bool>(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response> {
    cp.principal(&headers).await?.require(VIEW)?;
    Ok(ok(lifecycle_state_of(&of_kind(&cp, &id, PRODUCT).await?.status)))
}

fn deployment_json(d: &Deployment) -> Value {
    json!({"revisionUuid": d.revision_id, "name": d.environment, "status": "APPROVED", "vhost": d.vhost, "displayOnDevportal": d.display_on_devportal,
           "deployedTime": apim_domain::api::rfc3339(d.deployed_at), "successDeployedTime": apim_domain::api::rfc3339(d.deployed_at)})
}

fn revision_json(r: &Revision, deployments: &[Deployment]) -> Value {
    let info: Vec<Value> = deployments.iter().filter(|d| d.revision_id == r.id).map(deployment_json).collect();
    json!({"displayName": format!("Revision {}", r.number), "id": r.id, "description": r.description, "createdTime": apim_domain::api::rfc3339(r.created_at),
           "apiInfo": {"id": r.api_id}, "deploymentInfo": info})
}

pub(crate) async fn list_revisions<const PRODUCT: bool>(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(p): Query<HashMap<String, String>>,
) -> Result<Response> {
    cp.principal(&headers).await?.require(VIEW)?;
    of_kind(&cp, &id, PRODUCT).await?;
    let deployed_only = match p.get("query").map(String::as_str) {
        None | Some("") => false,
        Some("deployed:true") => true,
        Some("deployed:false") => false,
        Some(other) => return Err(ApiError::field("query", format!("`{other}`: only deployed:true or deployed:false"))),
    };
    let deps = cp.db.deployments(&id).await?;
    let list: Vec<Value> = cp
        .db
        .list_revisions(&id)
        .await?
        .iter()
        .filter(|r| !deployed_only || deps.iter().any(|d| d.revision_id == r.id))
        .map(|r| revision_json(r, &deps))
        .collect();
    Ok(ok(json!({"count": list.len(), "list": list})))
}

pub(crate) async fn create_revision<const PRODUCT: bool>(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    cp.principal(&headers).await?.require(DEPLOY)?;
    let api = of_kind(&cp, &id, PRODUCT).await?;
    let description = if body.is_empty() {
        String::new()
    } else {
        match json_body(&body)?.get("description") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) if s.chars().count() <= 255 => s.clone(),
            Some(_) => return Err(ApiError::field("description", "must be a string of at most 255 characters")),
        }
    };
    let rev = Revision {
        id: uuid::Uuid::new_v4().to_string(),
        api_id: id.clone(),
        number: 0,
        description,
        // A product's revision holds what its operations run: each with its API's endpoints and policies as now.
        document: if PRODUCT { crate::products::revision_document(&cp, &api).await? } else { api.document.clone() },
        created_at: cp.clock.unix_secs(),
    };
    let rev = cp.db.create_revision(&rev, MAX_REVISIONS).await?;
    Ok((StatusCode::CREATED, Json(revision_json(&rev, &[]))).into_response())
}

pub(crate) async fn get_revision<const PRODUCT: bool>(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Path((id, rid)): Path<(String, String)>,
) -> Result<Response> {
    cp.principal(&headers).await?.require(VIEW)?;
    of_kind(&cp, &id, PRODUCT).await?;
    let rev = cp.db.get_revision(&id, &rid).await?.ok_or_else(|| ApiError::not_found(format!("revision {rid} of API {id} not found")))?;
    Ok(ok(revision_json(&rev, &cp.db.deployments(&id).await?)))
}

pub(crate) async fn delete_revision<const PRODUCT: bool>(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Path((id, rid)): Path<(String, String)>,
) -> Result<Response> {
    cp.principal(&headers).await?.require(DEPLOY)?;
    of_kind(&cp, &id, PRODUCT).await?;
    if !cp.db.delete_revision(&id, &rid).await? {
        return Err(ApiError::not_found(format!("revision {rid} of API {id} not found")));
    }
    let deps = cp.db.deployments(&id).await?;
    let list: Vec<Value> = cp.db.list_revisions(&id).await?.iter().map(|r| revision_json(r, &deps)).collect();
    Ok(ok(json!({"count": list.len(), "list": list})))
}

/// `[{name, vhost, displayOnDevportal}]`, each naming a known gateway environment.
async fn deployment_targets(cp: &ControlPlane, body: &Bytes, required: bool) -> Result<Vec<(String, String, bool)>> {
    let envs = cp.environments().await?;
    if body.is_empty() && !required {
        return Ok(Vec::new());
    }
    let Value::Array(items) = json_body(body)? else {
        return Err(ApiError::bad_request("the body must be a list of deployments [{\"name\": \"Default\"}]"));
    };
    if items.is_empty() && required {
        return Err(ApiError::bad_request("name at least one gateway environment"));
    }
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let name = item.get("name").and_then(Value::as_str).ok_or_else(|| ApiError::field(&format!("[{i}].name"), "is required"))?;
        let env = envs.iter().find(|e| e.name == name).ok_or_else(|| {
            let known: Vec<&str> = envs.iter().map(|e| e.name.as_str()).collect();
            ApiError::field(&format!("[{i}].name"), format!("`{name}` is not a gateway environment (known: {})", known.join(", ")))
        })?;
        let vhost = match item.get("vhost") {
            None | Some(Value::Null) => env.vhost.clone(),
            Some(Value::String(v)) if !v.is_empty() => v.clone(),
            Some(_) => return Err(ApiError::field(&format!("[{i}].vhost"), "must be a host name")),
        };
        let shown = item.get("displayOnDevportal").and_then(Value::as_bool).unwrap_or(true);
        out.push((name.to_string(), vhost, shown));
    }
    Ok(out)
}

pub(crate) async fn deploy_revision<const PRODUCT: bool>(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(p): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(DEPLOY)?;
    let rid = p.get("revisionId").filter(|r| !r.is_empty()).ok_or_else(|| ApiError::field("revisionId", "is required"))?;
    let api = of_kind(&cp, &id, PRODUCT).await?;
    let rev = cp.db.get_revision(&id, rid).await?.ok_or_else(|| ApiError::not_found(format!("revision {rid} of API {id} not found")))?;
    let targets = deployment_targets(&cp, &body, true).await?;
    let deployments: Vec<Deployment> = targets
        .iter()
        .map(|(env, vhost, shown)| Deployment {
            api_id: id.clone(),
            environment: env.clone(),
            revision_id: rev.id.clone(),
            vhost: vhost.clone(),
            display_on_devportal: *shown,
            deployed_at: cp.clock.unix_secs(),
        })
        .collect();
    let labels: Vec<&str> = targets.iter().map(|t| t.0.as_str()).collect();
    let event = api_event(EventKind::DeployApiInGateway, &api, json!({"gatewayLabels": labels, "revisionId": rev.id}));
    cp.db.deploy(&deployments, &[event]).await?;
    tracing::info!(api_id = %id, revision = rev.number, environments = ?labels, user = %who.username, "revision deployed");
    Ok((StatusCode::CREATED, Json(deployments.iter().map(deployment_json).collect::<Vec<_>>())).into_response())
}

pub(crate) async fn undeploy_revision<const PRODUCT: bool>(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(p): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Response> {
    cp.principal(&headers).await?.require(DEPLOY)?;
    let api = of_kind(&cp, &id, PRODUCT).await?;
    let current = cp.db.deployments(&id).await?;
    let all = p.get("allEnvironments").is_some_and(|v| v == "true");
    let mut rid = p.get("revisionId").filter(|r| !r.is_empty()).cloned();
    // apictl names the revision by its number (`undeploy api --rev N`), as WSO2's document allows.
    if let (None, Some(n)) = (&rid, p.get("revisionNumber").filter(|n| !n.is_empty())) {
        let number: i64 = n.parse().map_err(|_| ApiError::field("revisionNumber", format!("`{n}` is not a revision number")))?;
        let rev = cp.db.list_revisions(&id).await?.into_iter().find(|r| r.number == number);
        rid = Some(rev.ok_or_else(|| ApiError::field("revisionNumber", format!("API {id} has no revision {number}")))?.id);
    }
    let mut envs: Vec<String> = if all {
        current.iter().map(|d| d.environment.clone()).collect()
    } else {
        deployment_targets(&cp, &body, true).await?.into_iter().map(|t| t.0).collect()
    };
    if let Some(rid) = &rid {
        envs.retain(|e| current.iter().any(|d| &d.environment == e && &d.revision_id == rid));
    }
    let event = api_event(EventKind::RemoveApiFromGateway, &api, json!({"gatewayLabels": envs}));
    let removed = cp.db.undeploy(&id, &envs, &[event]).await?;
    let remaining = cp.db.deployments(&id).await?;
    tracing::info!(api_id = %id, environments = ?removed, "revision undeployed");
    Ok((StatusCode::CREATED, Json(remaining.iter().map(deployment_json).collect::<Vec<_>>())).into_response())
}

pub(crate) async fn restore_revision<const PRODUCT: bool>(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(p): Query<HashMap<String, String>>,
) -> Result<Response> {
    cp.principal(&headers).await?.require(CREATE)?;
    let rid = p.get("revisionId").filter(|r| !r.is_empty()).ok_or_else(|| ApiError::field("revisionId", "is required"))?;
    let api = of_kind(&cp, &id, PRODUCT).await?;
    let rev = cp.db.get_revision(&id, rid).await?.ok_or_else(|| ApiError::not_found(format!("revision {rid} of API {id} not found")))?;
    // The working copy takes the revision's definition; the lifecycle state stays.
    let mut doc: Value = serde_json::from_str(&rev.document).unwrap_or_else(|_| json!({}));
    doc["lifeCycleStatus"] = json!(api.status);
    let restored = ApiRecord { document: doc.to_string(), updated_at: cp.clock.unix_secs(), ..api };
    cp.db.update_api(&restored, &[api_event(EventKind::ApiUpdate, &restored, json!({}))]).await?;
    Ok(tagged(StatusCode::CREATED, answer_of(&cp, &restored).await?))
}

pub(crate) async fn deployments<const PRODUCT: bool>(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response> {
    cp.principal(&headers).await?.require(VIEW)?;
    of_kind(&cp, &id, PRODUCT).await?;
    let reports = cp.gateway_reports().await?;
    let list: Vec<Value> = cp
        .db
        .deployments(&id)
        .await?
        .iter()
        .map(|d| {
            let mut v = deployment_json(d);
            // Per gateway node serving the environment: DEPLOYED once it reported this revision, else PENDING.
            let mut first: Option<i64> = None;
            let gateways: Vec<Value> = reports
                .iter()
                .filter(|(_, r)| r.labels.iter().any(|l| l.eq_ignore_ascii_case(&d.environment)))
                .map(|(node, r)| {
                    let served = r
                        .revisions
                        .iter()
                        .find(|s| s.api_id == d.api_id && s.revision_id == d.revision_id && s.environment == d.environment);
                    if let Some(s) = served {
                        first = Some(first.map_or(s.since, |f| f.min(s.since)));
                    }
                    json!({"gatewayId": node, "status": if served.is_some() { "DEPLOYED" } else { "PENDING" },
                           "reportedTime": apim_domain::api::rfc3339(r.reported_at)})
                })
                .collect();
            if !reports.is_empty() {
                match first {
                    Some(t) => v["successDeployedTime"] = json!(apim_domain::api::rfc3339(t)),
                    None => {
                        if let Some(o) = v.as_object_mut() {
                            o.remove("successDeployedTime");
                        }
                    }
                }
                v["gatewayDeployments"] = json!(gateways);
            }
            v
        })
        .collect();
    Ok(ok(json!({"count": list.len(), "list": list})))
}

/// `PUT …/deployments/{deploymentId}` (the environment's name, base64url-encoded, as WSO2 names a deployment):
/// whether the DevPortal shows it, and its vhost; the revision it runs is changed only by deploying another.
pub(crate) async fn update_deployment<const PRODUCT: bool>(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Path((id, deployment)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(DEPLOY)?;
    let api = of_kind(&cp, &id, PRODUCT).await?;
    let padded = deployment.trim_end_matches('=');
    let environment = apim_jose::crypto::b64url_decode(padded).and_then(|b| String::from_utf8(b).ok());
    let current = match &environment {
        Some(env) => cp.db.deployments(&id).await?.into_iter().find(|d| &d.environment == env),
        None => None,
    };
    let current = current.ok_or_else(|| {
        ApiError::not_found(format!(
            "deployment `{deployment}` ({}) of {id} not found: it is the base64url-encoded name of an environment the revision is deployed to",
            environment.as_deref().unwrap_or("not base64url")
        ))
    })?;
    let body = if body.is_empty() { json!({}) } else { json_body(&body)? };
    if !body.is_object() {
        return Err(ApiError::bad_request("the body must be an APIRevisionDeployment object"));
    }
    let shown = match body.get("displayOnDevportal") {
        None | Some(Value::Null) => current.display_on_devportal,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(ApiError::field("displayOnDevportal", "must be true or false")),
    };
    let vhost = match body.get("vhost") {
        None | Some(Value::Null) => current.vhost.clone(),
        Some(Value::String(v)) if v.is_empty() => current.vhost.clone(),
        Some(Value::String(v)) => v.clone(),
        Some(_) => return Err(ApiError::field("vhost", "must be a host name")),
    };
    if let Some(r) = body.get("revisionUuid").and_then(Value::as_str).filter(|r| !r.is_empty() && *r != current.revision_id) {
        return Err(ApiError::field(
            "revisionUuid",
            format!("`{r}` is not the revision deployed there ({}); deploy it with deploy-revision", current.revision_id),
        ));
    }
    let updated = Deployment { display_on_devportal: shown, vhost, ..current };
    let event =
        api_event(EventKind::DeployApiInGateway, &api, json!({"gatewayLabels": [updated.environment], "revisionId": updated.revision_id}));
    cp.db.deploy(std::slice::from_ref(&updated), &[event]).await?;
    tracing::info!(api_id = %id, environment = %updated.environment, shown, user = %who.username, "deployment updated");
    Ok(ok(deployment_json(&updated)))
}

/// `DELETE …/lifecycle-state/pending-tasks`: a lifecycle change is approved at once here (no approval workflow), so
/// none is ever pending: 200 for one that exists, as WSO2 answers when there is nothing to remove.
pub(crate) async fn delete_pending_tasks<const PRODUCT: bool>(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response> {
    cp.principal(&headers).await?.require(PUBLISH)?;
    of_kind(&cp, &id, PRODUCT).await?;
    Ok(StatusCode::OK.into_response())
}

/// `GET /apis/{apiId}/subscription-policies`: the API's plans as `ThrottlingPolicy` objects (a list, as WSO2
/// answers, though its document names one object).
async fn subscription_policies(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response> {
    cp.principal(&headers).await?.require(VIEW)?;
    let api = api_or_404(&cp, &id).await?;
    Ok(ok(crate::throttling::of_api(&cp, crate::throttling::Portal::Publisher, &api, None).await?))
}

/// `GET /apis/{apiId}/resource-paths`: one page of the API's operations as WSO2's `ResourcePathList`; an
/// operation's `id` is its position in the API's list (from 1), as stable as that list.
async fn resource_paths(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(p): Query<HashMap<String, String>>,
) -> Result<Response> {
    cp.principal(&headers).await?.require(VIEW)?;
    let page = crate::search::Page::of(&p)?;
    let api = api_or_404(&cp, &id).await?;
    let doc: Value = serde_json::from_str(&api.document).unwrap_or(Value::Null);
    let ops: Vec<(usize, &Value)> = doc.get("operations").and_then(Value::as_array).into_iter().flatten().enumerate().collect();
    let total = ops.len() as i64;
    let list: Vec<Value> =
        page.slice(ops).map(|(i, op)| json!({"id": i + 1, "resourcePath": op.get("target"), "httpVerb": op.get("verb")})).collect();
    Ok(ok(crate::search::Listing::new(list, page.pagination(&format!("/apis/{id}/resource-paths"), &[], total))))
}

/// The text fields and files of a multipart form, by name.
async fn form_fields(
    multipart: std::result::Result<axum::extract::Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<HashMap<String, String>> {
    let mut m = multipart.map_err(|e| ApiError::bad_request(format!("expected multipart/form-data: {e}")))?;
    let mut out = HashMap::new();
    loop {
        let field = match m.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Err(ApiError::bad_request(format!("malformed multipart body: {e}"))),
        };
        let name = field.name().unwrap_or("").to_string();
        let (file_name, content_type) = (field.file_name().map(str::to_string), field.content_type().map(str::to_string));
        let bytes = field.bytes().await.map_err(|e| ApiError::field(&name, format!("unreadable: {e}")))?;
        // A definition may come as a ZIP archive with the files it references; it is unpacked into one document.
        if name == "file" && crate::archive::is_zip(file_name.as_deref(), content_type.as_deref(), &bytes) {
            let doc = tokio::task::spawn_blocking(move || crate::archive::definition(&bytes))
                .await
                .map_err(|e| ApiError::unavailable(format!("unpacking the archive failed: {e}")))??;
            out.insert(name, doc.to_string());
            continue;
        }
        let text = String::from_utf8(bytes.to_vec())
            .map_err(|_| ApiError::field(&name, "is not UTF-8 text (a definition is JSON or YAML, or a ZIP archive holding one)"))?;
        out.insert(name, text);
    }
    Ok(out)
}

/// The definition from the multipart fields: uploaded (`file`, `inlineAPIDefinition`, `apiDefinition`) or fetched
/// from `url`.
async fn definition_text(cp: &ControlPlane, fields: &HashMap<String, String>) -> Result<(&'static str, String)> {
    for name in ["file", "inlineAPIDefinition", "apiDefinition"] {
        if let Some(t) = fields.get(name).filter(|t| !t.trim().is_empty()) {
            return Ok((
                match name {
                    "file" => "file",
                    "inlineAPIDefinition" => "inlineAPIDefinition",
                    _ => "apiDefinition",
                },
                t.clone(),
            ));
        }
    }
    if let Some(url) = fields.get("url").map(|u| u.trim()).filter(|u| !u.is_empty()) {
        return match cp.outbound().definition(url).await {
            Ok(text) => Ok(("url", text)),
            Err(e @ crate::fetch::OutboundError::NoTls) => Err(ApiError::unavailable(e)),
            Err(e) => Err(ApiError::field("url", e.to_string())),
        };
    }
    Err(ApiError::field("file", "an OpenAPI definition is required (multipart field `file`)"))
}

/// Operations from a definition, keeping the policies of operations that already existed.
pub(crate) fn operations_from(summary: &crate::openapi::Summary, existing: Option<&Value>) -> Vec<Value> {
    summary
        .operations
        .iter()
        .zip(summary.scopes.iter())
        .zip(summary.extensions.iter())
        .map(|(((verb, target), scopes), (auth, tier))| {
            let old = existing
                .and_then(|e| e.as_array())
                .and_then(|ops| ops.iter().find(|o| o["verb"] == verb.as_str() && o["target"] == target.as_str()));
            match old {
                Some(o) => o.clone(),
                None => {
                    let mut op = json!({"target": target, "verb": verb, "scopes": scopes});
                    // An unknown value is refused by `normalize`, naming the operation.
                    if let Some(a) = auth {
                        op["authType"] = json!(a);
                    }
                    if let Some(t) = tier {
                        op["throttlingPolicy"] = json!(t);
                    }
                    op
                }
            }
        })
        .collect()
}

/// `POST /apis/validate?query=name:X|context:/x|version:v` (a bare word is a name): 200 when an API has it, 404
/// when none does, as WSO2 answers the Publisher's as-you-type checks. Names and contexts match without regard to
/// case, since creating one that differs only in case is refused too.
async fn validate_api(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Query(p): Query<HashMap<String, String>>,
) -> Result<Response> {
    cp.principal(&headers).await?.require(CREATE)?;
    let query = p
        .get("query")
        .map(|q| q.trim())
        .filter(|q| !q.is_empty())
        .ok_or_else(|| ApiError::field("query", "The query should not be empty"))?;
    let (term, value) = match query.split_once(':') {
        Some((t, v)) => (t.trim(), v.trim().trim_matches('"')),
        None => ("name", query),
    };
    let found = match term {
        "name" => cp.db.apis_named_or_at(Some(value), None).await?.iter().any(|a| a.name.eq_ignore_ascii_case(value)),
        "context" => {
            let context = if value.starts_with('/') { value.to_string() } else { format!("/{value}") };
            let context = context.trim_end_matches('/');
            // WSO2 matches the context as written (`/pizza`) or with the version it is served at (`/pizza/1.0.0`).
            let written = cp.db.apis_named_or_at(None, Some(context)).await?.iter().any(|a| a.context.eq_ignore_ascii_case(context));
            let served = match context.rsplit_once('/') {
                Some((template, version)) if !written && !template.is_empty() => cp
                    .db
                    .apis_named_or_at(None, Some(template))
                    .await?
                    .iter()
                    .any(|a| a.context.eq_ignore_ascii_case(template) && a.version == version),
                _ => false,
            };
            written || served
        }
        "version" => {
            let filter = apim_store::ApiFilter { version: Some(value.to_string()), ..Default::default() };
            cp.db.list_apis(&filter, 1, 0).await?.1 > 0
        }
        other => return Err(ApiError::field("query", format!("`{other}:` is not one of name:, context:, version:"))),
    };
    if found { Ok(StatusCode::OK.into_response()) } else { Err(ApiError::not_found(format!("no API has {term} `{value}`"))) }
}

/// `POST /apis/validate-endpoint?endpointUrl=`: a HEAD to the URL (5 s) through the outbound guard, answered as
/// WSO2's `ApiEndpointValidationResponse`: the status the endpoint gave, or `error` when it gave none. A URL the
/// guard refuses (not http(s), a private or metadata address) is a 400 naming `endpointUrl`.
async fn validate_endpoint(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Query(p): Query<HashMap<String, String>>,
) -> Result<Response> {
    cp.principal(&headers).await?.require(CREATE)?;
    let url =
        p.get("endpointUrl").map(|u| u.trim()).filter(|u| !u.is_empty()).ok_or_else(|| ApiError::field("endpointUrl", "is required"))?;
    if let Some(id) = p.get("apiId").filter(|id| !id.is_empty()) {
        api_or_404(&cp, id).await?;
    }
    let (code, message, error) = match cp.outbound().probe(url).await {
        Ok(probe) => (probe.status.as_u16(), probe.status.canonical_reason().unwrap_or("").to_string(), None),
        Err(e) if e.is_refusal() => return Err(ApiError::field("endpointUrl", e.to_string())),
        Err(e @ crate::fetch::OutboundError::NoTls) => return Err(ApiError::unavailable(e)),
        // WSO2's words for a target that gave no status, with the cause.
        Err(e @ crate::fetch::OutboundError::UnknownHost(_)) => (0, "Unknown Host".to_string(), Some(e.to_string())),
        Err(e) => (0, "Connection error".to_string(), Some(e.to_string())),
    };
    Ok(Json(json!({"statusCode": code, "statusMessage": message, "error": error})).into_response())
}

/// `POST /apis/validate-openapi[?returnContent=true]`: WSO2's `OpenAPIDefinitionValidationResponse`; with
/// `returnContent`, the definition as read (fetched from `url`, or an archive's definition with its references
/// inlined) comes back in `content`, which the Publisher shows before importing.
async fn validate_openapi(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Query(p): Query<HashMap<String, String>>,
    multipart: std::result::Result<axum::extract::Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response> {
    cp.principal(&headers).await?.require(CREATE)?;
    let return_content = match p.get("returnContent").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => return Err(ApiError::field("returnContent", format!("`{other}` is not true or false"))),
    };
    let fields = form_fields(multipart).await?;
    let (field, text) = definition_text(&cp, &fields).await?;
    let content = return_content.then(|| text.clone());
    let text = text.as_str();
    let summary = match crate::openapi::parse(field, text).and_then(|doc| crate::openapi::summarize(field, &doc)) {
        Ok(s) => s,
        Err(e) => {
            return Ok(Json(json!({"isValid": false, "errors": [{"code": "400", "message": field, "description": e.description}]}))
                .into_response());
        }
    };
    let ops: Vec<Value> = summary.operations.iter().map(|(v, t)| json!({"target": t, "verb": v})).collect();
    let mut answer = json!({"isValid": true, "info": {"name": summary.title, "version": summary.version, "description": summary.description, "openAPIVersion": summary.spec_version,
        "endpoints": summary.endpoint.into_iter().collect::<Vec<_>>(), "operations": ops}});
    if let Some(c) = content {
        answer["content"] = json!(c);
    }
    Ok(Json(answer).into_response())
}

async fn import_openapi(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    multipart: std::result::Result<axum::extract::Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(CREATE)?;
    let fields = form_fields(multipart).await?;
    let (field, text) = definition_text(&cp, &fields).await?;
    let text = text.as_str();
    let definition = crate::openapi::parse(field, text)?;
    let summary = crate::openapi::summarize(field, &definition)?;
    let mut props = match fields.get("additionalProperties").filter(|p| !p.trim().is_empty()) {
        Some(p) => match serde_json::from_str::<Value>(p) {
            Ok(Value::Object(o)) => o,
            Ok(_) => return Err(ApiError::field("additionalProperties", "must be a JSON object")),
            Err(e) => return Err(ApiError::field("additionalProperties", format!("invalid JSON: {e}"))),
        },
        None => serde_json::Map::new(),
    };
    // The definition fills what the client left out.
    let name = props.get("name").and_then(Value::as_str).map(str::to_string).or(summary.title.clone()).unwrap_or_default();
    props.entry("name").or_insert(json!(name));
    if let Some(v) = &summary.version {
        props.entry("version").or_insert(json!(v));
    }
    if !props.contains_key("context") {
        let slug: String = name.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_ascii_lowercase();
        props.insert("context".into(), json!(format!("/{slug}")));
    }
    if let Some(d) = &summary.description {
        props.entry("description").or_insert(json!(d));
    }
    if let Some(ep) = &summary.endpoint {
        props
            .entry("endpointConfig")
            .or_insert(json!({"endpoint_type": "http", "production_endpoints": {"url": ep}, "sandbox_endpoints": {"url": ep}}));
    }
    if !props.contains_key("operations") {
        props.insert("operations".into(), Value::Array(operations_from(&summary, None)));
    }
    crate::categories::check(&cp, props.get("categories")).await?;
    let policies = policy_names(&cp).await?;
    let (mut doc, id, name, version, context) =
        normalize(Value::Object(props), None, &who.username, &policies, cp.clock.unix_secs() * 1000)?;
    check_new_identity(&cp, &name, &context).await?;
    doc.insert(DEFINITION.into(), definition);
    let api = new_record(doc, id.clone(), name, version, context, &who.username, cp.clock.unix_secs());
    cp.db.create_api(&api, &[api_event(EventKind::ApiCreate, &api, json!({}))]).await?;
    tracing::info!(api_id = %id, name = %api.name, user = %who.username, "API imported from an OpenAPI definition");
    Ok((StatusCode::CREATED, Json(doc_of(&api))).into_response())
}

async fn get_swagger(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response> {
    cp.principal(&headers).await?.require(VIEW)?;
    let api = api_or_404(&cp, &id).await?;
    Ok(Json(served_definition(&api)).into_response())
}

async fn put_swagger(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    multipart: std::result::Result<axum::extract::Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(CREATE)?;
    let api = api_or_404(&cp, &id).await?;
    let fields = form_fields(multipart).await?;
    let (field, text) = definition_text(&cp, &fields).await?;
    let text = text.as_str();
    let definition = crate::openapi::parse(field, text)?;
    let summary = crate::openapi::summarize(field, &definition)?;
    let mut stored: Value = serde_json::from_str(&api.document).unwrap_or_else(|_| json!({}));
    stored["operations"] = Value::Array(operations_from(&summary, stored.get("operations")));
    if let Some(o) = stored.as_object_mut() {
        o.remove(DEFINITION);
    }
    let policies = policy_names_for(&cp, Some(&api.id)).await?;
    let (mut doc, ..) = normalize(stored, Some(&api), &who.username, &policies, cp.clock.unix_secs() * 1000)?;
    doc.insert(DEFINITION.into(), definition.clone());
    let updated = ApiRecord { document: Value::Object(doc).to_string(), updated_at: cp.clock.unix_secs(), ..api };
    cp.db.update_api(&updated, &[api_event(EventKind::ApiUpdate, &updated, json!({}))]).await?;
    Ok(Json(definition).into_response())
}

async fn copy_api(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Query(p): Query<HashMap<String, String>>) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(CREATE)?;
    let id = p.get("apiId").filter(|s| !s.is_empty()).ok_or_else(|| ApiError::field("apiId", "is required"))?;
    let new_version = p.get("newVersion").filter(|s| !s.is_empty()).ok_or_else(|| ApiError::field("newVersion", "is required"))?;
    let old = api_or_404(&cp, id).await?;
    let mut body: Value = serde_json::from_str(&old.document).unwrap_or_else(|_| json!({}));
    let definition = body.as_object_mut().and_then(|o| o.remove(DEFINITION));
    body["version"] = json!(new_version);
    body["isDefaultVersion"] = json!(p.get("defaultVersion").is_some_and(|v| v == "true"));
    if let Some(o) = body.as_object_mut() {
        o.remove("id");
    }
    // The copy has its own copies of the API's own operation policies, as in WSO2.
    let copies = crate::operation_policies::copies_of(&cp, &old.id, &mut body).await?;
    let mut policies = policy_names(&cp).await?;
    policies.operation.extend(copies.iter().map(|(_, c)| c.clone()));
    let (mut doc, new_id, name, version, context) = normalize(body, None, &old.provider, &policies, cp.clock.unix_secs() * 1000)?;
    if let Some(d) = definition {
        doc.insert(DEFINITION.into(), d);
    }
    // A copy keeps its provider and type whatever the document says.
    doc.insert("provider".into(), json!(old.provider));
    doc.insert("type".into(), json!(old.api_type));
    let api = new_record(doc, new_id.clone(), name, version, context, &old.provider, cp.clock.unix_secs());
    // The policies first: the new API never names one that is not there.
    let pairs: Vec<(String, String)> = copies.into_iter().map(|(from, c)| (from, c.id)).collect();
    cp.db.copy_operation_policies(&new_id, &pairs, cp.clock.unix_secs()).await?;
    if let Err(e) = cp.db.create_api(&api, &[api_event(EventKind::ApiCreate, &api, json!({}))]).await {
        for (_, copy) in &pairs {
            // Best effort: a copy left behind belongs to no API and is never listed.
            let _ = cp.db.delete_operation_policy(Some(&new_id), copy).await;
        }
        return Err(e.into());
    }
    Ok((StatusCode::CREATED, Json(doc_of(&api))).into_response())
}

async fn list_subscriptions(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Query(p): Query<HashMap<String, String>>,
) -> Result<Response> {
    cp.principal(&headers).await?.require(&["apim:subscription_view", "apim:api_view", "apim:api_publish"])?;
    // Without `apiId`: every API's subscriptions (WSO2's Publisher lists all it may see; its roles see every API).
    let api_id = p.get("apiId").filter(|s| !s.is_empty());
    let page = crate::search::Page::of(&p)?;
    if let Some(id) = api_id {
        api_or_404(&cp, id).await?;
    }
    let search = apim_store::SubSearch { api_id: api_id.map(String::as_str), ..Default::default() };
    let (rows, total) = apim_store::SearchStore::search_subscriptions(&cp.db, &search, page.limit, page.offset).await?;
    let list: Vec<Value> = rows
        .iter()
        .map(|r| {
            let s = &r.subscription;
            json!({"subscriptionId": s.id, "applicationInfo": {"applicationId": s.application_id, "name": r.application_name, "subscriber": r.application_owner},
                   "throttlingPolicy": s.policy, "subscriptionStatus": s.status})
        })
        .collect();
    let pagination = page.pagination("/subscriptions", &[("apiId", api_id.map(String::as_str))], total);
    Ok(Json(crate::search::Listing::new(list, pagination)).into_response())
}

/// `GET /subscriptions/{subscriptionId}/subscriber-info`: who subscribed (the application's owner). The user
/// store keeps no claims, so `claims` is empty. The subscription list already names each row's subscriber, so a
/// portal needs no call per row.
async fn subscriber_info(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response> {
    cp.principal(&headers).await?.require(&["apim:subscription_view", "apim:subscription_manage", "apim:api_view", "apim:api_publish"])?;
    let not_found = || ApiError::not_found(format!("subscription {id} not found"));
    let sub = apim_store::ApplicationStore::get_subscription(&cp.db, &id).await?.ok_or_else(not_found)?;
    let app = apim_store::ApplicationStore::get_application(&cp.db, &sub.application_id).await?.ok_or_else(not_found)?;
    Ok(Json(json!({"name": app.owner, "claims": []})).into_response())
}

async fn set_subscription_state(
    cp: &ControlPlane,
    headers: &HeaderMap,
    id: Option<&String>,
    state: &SubscriptionStatus,
) -> Result<Response> {
    cp.principal(headers).await?.require(&["apim:subscription_block", "apim:api_publish"])?;
    let id = id.filter(|s| !s.is_empty()).ok_or_else(|| ApiError::field("subscriptionId", "is required"))?;
    let sub = apim_store::ApplicationStore::get_subscription(&cp.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("subscription {id} not found")))?;
    let ev = crate::model::event(
        EventKind::SubscriptionsUpdate,
        json!({"subscriptionId": sub.id, "subscriptionUUID": sub.id, "apiId": sub.api_id, "apiUUID": sub.api_id, "applicationId": sub.application_id,
            "applicationUUID": sub.application_id, "policyId": sub.policy, "subscriptionState": state}),
    );
    if !apim_store::ApplicationStore::set_subscription_status(&cp.db, id, state, &[ev]).await? {
        return Err(ApiError::not_found(format!("subscription {id} not found")));
    }
    Ok(StatusCode::OK.into_response())
}

async fn block_subscription(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Query(p): Query<HashMap<String, String>>,
) -> Result<Response> {
    let state = SubscriptionStatus::from(p.get("blockState").map(String::as_str).unwrap_or(""));
    if !matches!(state, SubscriptionStatus::Blocked | SubscriptionStatus::ProdOnlyBlocked) {
        return Err(ApiError::field("blockState", "must be BLOCKED or PROD_ONLY_BLOCKED"));
    }
    set_subscription_state(&cp, &headers, p.get("subscriptionId"), &state).await
}

async fn unblock_subscription(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Query(p): Query<HashMap<String, String>>,
) -> Result<Response> {
    set_subscription_state(&cp, &headers, p.get("subscriptionId"), &SubscriptionStatus::Unblocked).await
}
