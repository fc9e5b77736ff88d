//! API products (Publisher `/api-products…`): operations of several APIs behind one context, one lifecycle and one
//! subscription. A product is stored as an API of type `APIPRODUCT` (as WSO2 stores it), so revisions, deployments,
//! lifecycle, documents, thumbnails, search and subscriptions are the APIs' own code, each path finding only its
//! own kind (`publisher::of_kind`). What is a product's alone: its `apis` (which operations of which API), and
//! its revisions, which carry each operation with the endpoints and policies of the API it comes from, so a
//! gateway serves a product like any API.

use std::collections::HashMap;
use std::sync::Arc;

use apim_domain::api::{ApiRecord, ApiStatus};
use apim_store::{ApiSearch, ApiStore, ApiTerm, Audience, SearchStore, SortBy};
use apim_wire::hub::EventKind;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use serde_json::{Map, Value, json};

use crate::ControlPlane;
use crate::error::{ApiError, Result};
use crate::model::api_event;
use crate::publisher::{self, of_kind, tagged};

/// The type an API product is stored with.
pub(crate) const PRODUCT_TYPE: &str = "APIPRODUCT";

const CREATE: &[&str] = &["apim:api_create", "apim:api_manage", "apim:api_product_import_export"];

pub(crate) fn is_product(api: &ApiRecord) -> bool {
    api.api_type == PRODUCT_TYPE
}

pub fn routes() -> axum::Router<Arc<ControlPlane>> {
    axum::Router::new()
        .route("/api-products", get(list).post(create))
        .route("/api-products/change-lifecycle", post(publisher::change_lifecycle::<true>))
        .route("/api-products/{api_product_id}", get(read).put(update).delete(publisher::delete_api::<true>))
        .route("/api-products/{api_product_id}/swagger", get(swagger))
        .route("/api-products/{api_product_id}/is-outdated", get(is_outdated))
        .route("/api-products/{api_product_id}/lifecycle-history", get(publisher::lifecycle_history::<true>))
        .route("/api-products/{api_product_id}/lifecycle-state", get(publisher::lifecycle_state::<true>))
        .route("/api-products/{api_product_id}/revisions", get(publisher::list_revisions::<true>).post(publisher::create_revision::<true>))
        .route(
            "/api-products/{api_product_id}/revisions/{revision_id}",
            get(publisher::get_revision::<true>).delete(publisher::delete_revision::<true>),
        )
        .route("/api-products/{api_product_id}/deploy-revision", post(publisher::deploy_revision::<true>))
        .route("/api-products/{api_product_id}/undeploy-revision", post(publisher::undeploy_revision::<true>))
        .route("/api-products/{api_product_id}/restore-revision", post(publisher::restore_revision::<true>))
        .route("/api-products/{api_product_id}/deployments", get(publisher::deployments::<true>))
        .route("/api-products/{api_product_id}/deployments/{deployment_id}", put(publisher::update_deployment::<true>))
        .route("/api-products/{api_product_id}/lifecycle-state/pending-tasks", delete(publisher::delete_pending_tasks::<true>))
        .route("/api-products/copy-api-products", post(copy))
}

/// The product as WSO2's `APIProduct`: the API's DTO fields it shares, `state` for the lifecycle status, and
/// `apis` (each API's name, id, version and the operations taken from it).
async fn answer(cp: &ControlPlane, product: &ApiRecord) -> Result<Value> {
    let mut doc = publisher::answer_of(cp, product).await?;
    shape(&mut doc, &product.status);
    Ok(doc)
}

/// An API-shaped DTO (`publisher::doc_of`) of a product as WSO2's `APIProduct`.
pub(crate) fn shape(doc: &mut Value, status: &ApiStatus) {
    if let Some(o) = doc.as_object_mut() {
        for api_only in ["operations", "lifeCycleStatus", "type", "endpointConfig"] {
            o.remove(api_only);
        }
        o.insert("state".into(), json!(status));
        o.insert("apiType".into(), json!(PRODUCT_TYPE));
    }
}

fn json_body(body: &Bytes) -> Result<Value> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))
}

/// An API a product may take operations from: an HTTP API (not a product) that is published, prototyped or
/// deployed somewhere, as WSO2 requires.
async fn usable_api(cp: &ControlPlane, id: &str, field: &str) -> Result<ApiRecord> {
    let api = match cp.db.get_api(id).await? {
        Some(a) if !is_product(&a) => a,
        _ => return Err(ApiError::field(field, format!("API {id} not found"))),
    };
    if !api.api_type.eq_ignore_ascii_case("HTTP") {
        return Err(ApiError::field(
            field,
            format!("API `{}` is a {} API; a product takes operations of HTTP APIs", api.name, api.api_type),
        ));
    }
    let live = matches!(api.status, ApiStatus::Published | ApiStatus::Prototyped) || !cp.db.deployments(id).await?.is_empty();
    if !live || matches!(api.status, ApiStatus::Retired | ApiStatus::Deprecated | ApiStatus::Blocked) {
        return Err(ApiError::field(
            field,
            format!(
                "API `{}` {} is {} and deployed nowhere: publish or deploy it before adding it to a product",
                api.name, api.version, api.status
            ),
        ));
    }
    Ok(api)
}

fn operations_of(doc: &Value) -> &[Value] {
    doc.get("operations").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

fn op_key(op: &Value) -> (String, String) {
    let s = |k: &str| op.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    (s("verb").to_ascii_uppercase(), s("target"))
}

/// A product's body read into an API-shaped document (its operations flattened from `apis`, each as the API it
/// comes from defines it), validated by the API rules (`model::normalize`), with `apis` kept as given.
pub(crate) async fn normalize(
    cp: &ControlPlane,
    body: Value,
    existing: Option<&ApiRecord>,
    provider: &str,
) -> Result<crate::model::Normalized> {
    let Value::Object(mut o) = body else { return Err(ApiError::bad_request("the body must be a JSON object (an API product)")) };
    o.retain(|_, v| !v.is_null());
    let items = match o.remove("apis") {
        Some(Value::Array(items)) if !items.is_empty() => items,
        Some(Value::Array(_)) | None => return Err(ApiError::field("apis", "name at least one API and the operations taken from it")),
        Some(_) => return Err(ApiError::field("apis", "must be a list of {apiId, operations}")),
    };
    let mut apis = Vec::with_capacity(items.len());
    let mut operations: Vec<Value> = Vec::new();
    // Which API each (verb, target) came from: a product serves each once.
    let mut taken: HashMap<(String, String), String> = HashMap::new();
    for (i, item) in items.iter().enumerate() {
        let at = format!("apis[{i}]");
        let api_id = item
            .get("apiId")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ApiError::field(&format!("{at}.apiId"), "is required"))?;
        let api = usable_api(cp, api_id, &format!("{at}.apiId")).await?;
        let doc: Value = serde_json::from_str(&api.document).unwrap_or(Value::Null);
        let wanted = match item.get("operations") {
            Some(Value::Array(ops)) if !ops.is_empty() => ops,
            _ => return Err(ApiError::field(&format!("{at}.operations"), format!("name at least one operation of API `{}`", api.name))),
        };
        let mut chosen = Vec::with_capacity(wanted.len());
        for (j, w) in wanted.iter().enumerate() {
            let field = format!("{at}.operations[{j}]");
            if !w.is_object() || w.get("target").and_then(Value::as_str).is_none() || w.get("verb").and_then(Value::as_str).is_none() {
                return Err(ApiError::field(&field, "must be an object with a target and a verb"));
            }
            let key = op_key(w);
            let Some(op) = operations_of(&doc).iter().find(|o| op_key(o) == key) else {
                return Err(ApiError::field(
                    &field,
                    format!("`{} {}` is not an operation of API `{}` {}", key.0, key.1, api.name, api.version),
                ));
            };
            if let Some(other) = taken.insert(key.clone(), api.name.clone()) {
                return Err(ApiError::field(
                    &field,
                    format!(
                        "`{} {}` comes from both `{other}` and `{}`: a product serves each method and path once",
                        key.0, key.1, api.name
                    ),
                ));
            }
            // The API's own definition of it; its policies are taken with its endpoints when a revision is made.
            let mut op = op.clone();
            if let Some(m) = op.as_object_mut() {
                m.remove("operationPolicies");
            }
            chosen.push(op.clone());
            operations.push(op);
        }
        apis.push(json!({"name": api.name, "apiId": api.id, "version": api.version, "operations": chosen}));
    }
    for product_only in ["state", "apiType", "endpointConfig", "apiPolicies"] {
        o.remove(product_only);
    }
    o.entry("version").or_insert(json!("1.0.0"));
    o.insert("type".into(), json!("HTTP"));
    o.insert("operations".into(), Value::Array(operations));
    let policies = publisher::policy_names(cp).await?;
    let (mut doc, id, name, version, context) =
        crate::model::normalize(Value::Object(o), existing, provider, &policies, cp.clock.unix_secs() * 1000)?;
    doc.insert("apis".into(), Value::Array(apis));
    doc.insert("type".into(), json!(PRODUCT_TYPE));
    doc.remove("endpointConfig");
    Ok((doc, id, name, version, context))
}

async fn list(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Query(p): Query<HashMap<String, String>>) -> Result<Response> {
    crate::search::publisher_products(&cp, &headers, &p).await
}

async fn create(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, body: Bytes) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(CREATE)?;
    crate::categories::check_body(&cp, &body).await?;
    let (doc, id, name, version, context) = normalize(&cp, json_body(&body)?, None, &who.username).await?;
    publisher::check_new_identity(&cp, &name, &context).await?;
    let product = publisher::new_record(doc, id.clone(), name, version, context, &who.username, cp.clock.unix_secs());
    cp.db.create_api(&product, &[api_event(EventKind::ApiCreate, &product, json!({}))]).await?;
    tracing::info!(api_product_id = %id, name = %product.name, user = %who.username, "API product created");
    let mut resp = tagged(StatusCode::CREATED, answer(&cp, &product).await?);
    if let Ok(v) = HeaderValue::from_str(&format!("/api/am/publisher/v4/api-products/{id}")) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

async fn read(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response> {
    cp.principal(&headers).await?.require(publisher::VIEW)?;
    let product = of_kind(&cp, &id, true).await?;
    Ok(tagged(StatusCode::OK, answer(&cp, &product).await?))
}

async fn update(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Path(id): Path<String>, body: Bytes) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(CREATE)?;
    let old = of_kind(&cp, &id, true).await?;
    if let Some(expected) = headers.get(header::IF_MATCH).map(|v| v.to_str().unwrap_or("").to_string()) {
        let current = crate::model::etag(&answer(&cp, &old).await?);
        if !crate::model::if_match_allows(&expected, &current) {
            return Err(ApiError::precondition(format!(
                "API product {id} changed since it was read (If-Match {expected}, now {current}): read it again and reapply the change"
            )));
        }
    }
    crate::categories::check_body(&cp, &body).await?;
    let (doc, ..) = normalize(&cp, json_body(&body)?, Some(&old), &who.username).await?;
    let product = ApiRecord { document: Value::Object(doc).to_string(), updated_at: cp.clock.unix_secs(), ..old };
    cp.db.update_api(&product, &[api_event(EventKind::ApiUpdate, &product, json!({}))]).await?;
    Ok(tagged(StatusCode::OK, answer(&cp, &product).await?))
}

/// `POST /api-products/copy-api-products?apiProductId=&newVersion=[&defaultVersion=]`: a new version of a product
/// (state CREATED), taking the same operations of the same APIs.
async fn copy(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Query(p): Query<HashMap<String, String>>) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(&["apim:api_publish", "apim:api_manage", "apim:api_create"])?;
    let nonempty = |k: &str| p.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let id = nonempty("apiProductId").ok_or_else(|| ApiError::field("apiProductId", "is required"))?;
    let version = nonempty("newVersion").ok_or_else(|| ApiError::field("newVersion", "is required"))?;
    let default = crate::import_export::flag(&p, "defaultVersion", false)?;
    let old = of_kind(&cp, id, true).await?;
    let mut body = answer(&cp, &old).await?;
    if let Some(o) = body.as_object_mut() {
        for k in ["id", "state", "createdTime", "lastUpdatedTime", "lastUpdatedTimestamp", "hasThumbnail"] {
            o.remove(k);
        }
        o.insert("version".into(), json!(version));
        o.insert("isDefaultVersion".into(), json!(default));
    }
    let (doc, new_id, name, version, context) = normalize(&cp, body, None, &who.username).await.map_err(|e| match e.fields.first() {
        Some((f, d)) if f == "version" => ApiError::field("newVersion", d.clone()),
        _ => e,
    })?;
    publisher::check_new_identity(&cp, &name, &context).await?;
    let product = publisher::new_record(doc, new_id.clone(), name, version, context, &old.provider, cp.clock.unix_secs());
    cp.db.create_api(&product, &[api_event(EventKind::ApiCreate, &product, json!({}))]).await?;
    tracing::info!(api_product_id = %new_id, from = %id, version = %product.version, user = %who.username, "API product copied");
    let mut resp = tagged(StatusCode::CREATED, answer(&cp, &product).await?);
    if let Ok(v) = HeaderValue::from_str(&format!("/api/am/publisher/v4/api-products/{new_id}")) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

async fn swagger(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response> {
    cp.principal(&headers).await?.require(publisher::VIEW)?;
    let product = of_kind(&cp, &id, true).await?;
    Ok(Json(publisher::served_definition(&product)).into_response())
}

/// Whether an API the product takes operations from changed after the product's newest revision (or, without
/// one, after the product itself), or no longer has one of those operations: the product's next revision would
/// differ from what gateways run.
async fn is_outdated(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response> {
    cp.principal(&headers).await?.require(publisher::VIEW)?;
    let product = of_kind(&cp, &id, true).await?;
    let since = cp.db.list_revisions(&id).await?.iter().map(|r| r.created_at).max().unwrap_or(product.updated_at);
    let doc: Value = serde_json::from_str(&product.document).unwrap_or(Value::Null);
    let mut outdated = false;
    for item in doc.get("apis").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]) {
        let api_id = item.get("apiId").and_then(Value::as_str).unwrap_or("");
        let Some(api) = cp.db.get_api(api_id).await? else {
            outdated = true;
            break;
        };
        let api_doc: Value = serde_json::from_str(&api.document).unwrap_or(Value::Null);
        let missing = operations_of(item).iter().any(|o| !operations_of(&api_doc).iter().any(|a| op_key(a) == op_key(o)));
        if api.updated_at > since || missing {
            outdated = true;
            break;
        }
    }
    Ok(Json(json!({"isOutdated": outdated})).into_response())
}

/// A product revision's document: the product with each operation as the API it comes from runs it now — that
/// API's endpoints (`x-apim-endpoint-config`, which the gateway uses in place of the product's) and its API-level
/// and operation policies. 409 when an API no longer has an operation the product takes, or has no endpoints.
pub(crate) async fn revision_document(cp: &ControlPlane, product: &ApiRecord) -> Result<String> {
    let mut doc: Value =
        serde_json::from_str(&product.document).map_err(|e| ApiError::conflict(format!("the product's document is unreadable: {e}")))?;
    let items: Vec<Value> = doc.get("apis").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut resolved = Vec::new();
    for item in &items {
        let api_id = item.get("apiId").and_then(Value::as_str).unwrap_or("");
        let Some(api) = cp.db.get_api(api_id).await?.filter(|a| !is_product(a)) else {
            return Err(ApiError::conflict(format!("API {api_id}, which this product takes operations from, no longer exists")));
        };
        let api_doc: Value = serde_json::from_str(&api.document).unwrap_or(Value::Null);
        let Some(endpoints) = api_doc.get("endpointConfig").filter(|e| e.is_object()) else {
            return Err(ApiError::conflict(format!("API `{}` {} has no endpoints for the product's operations", api.name, api.version)));
        };
        for wanted in operations_of(item) {
            let key = op_key(wanted);
            let Some(op) = operations_of(&api_doc).iter().find(|o| op_key(o) == key) else {
                return Err(ApiError::conflict(format!(
                    "`{} {}` is no longer an operation of API `{}`: update the product before making a revision",
                    key.0, key.1, api.name
                )));
            };
            let mut op = op.clone();
            op["operationPolicies"] = merged_flows(api_doc.get("apiPolicies"), op.get("operationPolicies"));
            op["x-apim-endpoint-config"] = endpoints.clone();
            resolved.push(op);
        }
    }
    doc["operations"] = Value::Array(resolved);
    Ok(doc.to_string())
}

/// An API's `apiPolicies` then an operation's `operationPolicies`, flow by flow (the order a gateway runs them).
fn merged_flows(api: Option<&Value>, op: Option<&Value>) -> Value {
    let mut out = Map::new();
    for flow in ["request", "response", "fault"] {
        let list: Vec<Value> =
            [api, op].into_iter().flatten().filter_map(|f| f.get(flow).and_then(Value::as_array)).flatten().cloned().collect();
        out.insert(flow.into(), Value::Array(list));
    }
    Value::Object(out)
}

/// The names of the products that take operations from API `api_id` (deleting it is refused while any does).
pub(crate) async fn products_using(cp: &ControlPlane, api_id: &str) -> Result<Vec<String>> {
    let search = ApiSearch {
        terms: vec![ApiTerm::Type(PRODUCT_TYPE.into())],
        audience: Audience::Publisher,
        sort_by: SortBy::Name,
        descending: false,
    };
    let (products, _) = cp.db.search_apis(&search, i64::MAX, 0).await?;
    Ok(products
        .into_iter()
        .filter(|p| {
            let doc: Value = serde_json::from_str(&p.document).unwrap_or(Value::Null);
            doc.get("apis")
                .and_then(Value::as_array)
                .is_some_and(|a| a.iter().any(|i| i.get("apiId").and_then(Value::as_str) == Some(api_id)))
        })
        .map(|p| p.name)
        .collect())
}
