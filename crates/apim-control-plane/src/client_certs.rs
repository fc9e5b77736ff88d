//! WSO2's client certificates for mutual TLS (`/apis/{apiId}/client-certs/{keyType}…`, and the older
//! `/apis/{apiId}/client-certificates…` for production keys): PEM certificates an API takes from its TLS clients,
//! each under an alias with the subscription tier its requests are throttled by. They are kept in the API's
//! document (`x-apim-client-certificates`, never shown in the API's DTO), so a revision carries them to gateways,
//! as WSO2 4.x deploys client certificates with revisions; each holds the SHA-256 of its DER, which a gateway
//! matches the certificate a client presents against.

use std::collections::HashMap;
use std::sync::Arc;

use apim_domain::api::ApiRecord;
use apim_store::ApiStore;
use apim_wire::hub::EventKind;
use axum::Json;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};

use crate::ControlPlane;
use crate::certificates::{certificate_file, certificate_info, check_alias, checked, encode};
use crate::error::{ApiError, Result};
use crate::model::api_event;
use crate::search::{Listing, Page};

/// Where an API keeps its client certificates inside its stored document.
pub(crate) const KEY: &str = "x-apim-client-certificates";

const VIEW: &[&str] = &["apim:api_view", "apim:api_create", "apim:api_manage", "apim:client_certificates_view"];
const ADD: &[&str] = &["apim:api_create", "apim:api_manage", "apim:client_certificates_add"];
const UPDATE: &[&str] = &["apim:api_create", "apim:api_manage", "apim:client_certificates_update"];

pub fn publisher_routes() -> axum::Router<Arc<ControlPlane>> {
    let limit = DefaultBodyLimit::max(crate::certificates::CERT_MAX + (16 << 10));
    axum::Router::new()
        .route("/apis/{api_id}/client-certificates", get(old_list).post(old_add).layer(limit))
        .route("/apis/{api_id}/client-certificates/{alias}", get(old_info).put(old_update).delete(old_remove).layer(limit))
        .route("/apis/{api_id}/client-certificates/{alias}/content", get(old_content))
        .route("/apis/{api_id}/client-certs/{key_type}", get(list).post(add).layer(limit))
        .route("/apis/{api_id}/client-certs/{key_type}/{alias}", get(info).put(update).delete(remove).layer(limit))
        .route("/apis/{api_id}/client-certs/{key_type}/{alias}/content", get(content))
}

/// The client certificates stored in an API's document.
pub(crate) fn of(doc: &Value) -> Vec<Value> {
    doc.get(KEY).and_then(Value::as_array).cloned().unwrap_or_default()
}

pub(crate) fn key_type(raw: &str) -> Result<&'static str> {
    match raw.to_ascii_uppercase().as_str() {
        "PRODUCTION" => Ok("PRODUCTION"),
        "SANDBOX" => Ok("SANDBOX"),
        _ => Err(ApiError::field("keyType", format!("`{raw}` is not PRODUCTION or SANDBOX"))),
    }
}

async fn api_of(cp: &ControlPlane, id: &str) -> Result<(ApiRecord, Value)> {
    let api = cp
        .db
        .get_api(id)
        .await?
        .filter(|a| !crate::products::is_product(a))
        .ok_or_else(|| ApiError::not_found(format!("API {id} not found")))?;
    let doc = serde_json::from_str(&api.document).map_err(|e| ApiError::unavailable(format!("API {id}'s stored document: {e}")))?;
    Ok((api, doc))
}

fn find<'a>(list: &'a [Value], alias: &str, kind: &str) -> Option<&'a Value> {
    list.iter().find(|c| c["alias"] == alias && c["keyType"] == kind)
}

fn metadata(api_id: &str, c: &Value) -> Value {
    json!({"alias": c["alias"], "apiId": api_id, "tier": c["tier"]})
}

/// Writes the API's certificates if the API is still as read (a concurrent change is a 409 to retry).
async fn save(cp: &ControlPlane, api: &ApiRecord, mut doc: Value, list: Vec<Value>) -> Result<()> {
    if let Some(o) = doc.as_object_mut() {
        o.insert(KEY.into(), Value::Array(list));
    }
    let changed = ApiRecord { document: doc.to_string(), updated_at: cp.clock.unix_secs(), ..api.clone() };
    if !cp.db.update_api_if(&changed, api, &[api_event(EventKind::ApiUpdate, &changed, json!({}))]).await? {
        return Err(ApiError::conflict("the API changed while its client certificates were being changed; retry"));
    }
    Ok(())
}

struct Form {
    certificate: Option<String>,
    alias: Option<String>,
    tier: Option<String>,
}

async fn form(multipart: std::result::Result<Multipart, MultipartRejection>) -> Result<Form> {
    let mut f = crate::certificates::text_fields(multipart, &["certificate", "alias", "tier"]).await?;
    Ok(Form {
        certificate: f.remove("certificate"),
        alias: f.remove("alias").map(|a| a.trim().to_string()),
        tier: f.remove("tier").map(|t| t.trim().to_string()).filter(|t| !t.is_empty()),
    })
}

/// A certificate entry from a checked PEM: what gateways match and throttle by, and the PEM itself.
pub(crate) fn entry(cp: &ControlPlane, pem: String, alias: &str, tier: &str, kind: &str) -> Result<Value> {
    let c = checked(&pem, alias, cp.clock.unix_secs())?;
    Ok(json!({"alias": alias, "tier": tier, "keyType": kind, "sha256": apim_jose::crypto::hex(&apim_jose::crypto::sha256(&c.der)),
              "notAfter": c.not_after, "certificate": pem}))
}

/// A tier must be a subscription policy.
pub(crate) async fn check_tier(cp: &ControlPlane, tier: &str) -> Result<()> {
    let known: Vec<String> = apim_store::ApiStore::policies(&cp.db, "subscription").await?.into_iter().map(|(n, _)| n).collect();
    if !known.iter().any(|k| k == tier) {
        return Err(ApiError::field("tier", format!("`{tier}` is not a subscription throttling policy (known: {})", known.join(", "))));
    }
    Ok(())
}

async fn list_of(cp: &ControlPlane, headers: &HeaderMap, api_id: &str, kind: &str, p: &HashMap<String, String>) -> Result<Response> {
    cp.principal(headers).await?.require(VIEW)?;
    let page = Page::of(p)?;
    let alias = p.get("alias").map(|a| a.trim()).filter(|a| !a.is_empty());
    let (_, doc) = api_of(cp, api_id).await?;
    let all: Vec<Value> = of(&doc).into_iter().filter(|c| c["keyType"] == kind && alias.is_none_or(|a| c["alias"] == a)).collect();
    let total = i64::try_from(all.len()).unwrap_or(i64::MAX);
    let certificates: Vec<Value> = page.slice(all).map(|c| metadata(api_id, &c)).collect();
    let path = format!("/apis/{api_id}/client-certs/{}", kind.to_ascii_lowercase());
    let mut body = serde_json::to_value(Listing::new(certificates, page.pagination(&path, &[("alias", alias)], total)))
        .map_err(ApiError::unavailable)?;
    // WSO2's `ClientCertificates` names its list `certificates`.
    if let Some(o) = body.as_object_mut()
        && let Some(list) = o.remove("list")
    {
        o.insert("certificates".into(), list);
    }
    Ok(Json(body).into_response())
}

async fn add_to(
    cp: &ControlPlane,
    headers: &HeaderMap,
    api_id: &str,
    kind: &str,
    multipart: std::result::Result<Multipart, MultipartRejection>,
) -> Result<Response> {
    let who = cp.principal(headers).await?;
    who.require(ADD)?;
    let f = form(multipart).await?;
    let alias = f.alias.ok_or_else(|| ApiError::field("alias", "is required"))?;
    check_alias(&alias)?;
    let tier = f.tier.ok_or_else(|| ApiError::field("tier", "is required (the subscription policy its requests are throttled by)"))?;
    check_tier(cp, &tier).await?;
    let pem = f.certificate.ok_or_else(|| ApiError::field("certificate", "is required"))?;
    let (api, doc) = api_of(cp, api_id).await?;
    let mut list = of(&doc);
    if list.iter().any(|c| c["alias"] == alias.as_str()) {
        return Err(ApiError::conflict_field("alias", format!("the alias `{alias}` is already used by a client certificate of this API")));
    }
    let new = entry(cp, pem, &alias, &tier, kind)?;
    if list.iter().any(|c| c["sha256"] == new["sha256"] && c["keyType"] == kind) {
        return Err(ApiError::conflict_field("certificate", format!("the certificate for alias `{alias}` is already one of this API's")));
    }
    let answer = metadata(api_id, &new);
    list.push(new);
    save(cp, &api, doc, list).await?;
    tracing::info!(api_id = %api_id, alias = %alias, key_type = %kind, user = %who.username, "client certificate added");
    let mut resp = Json(answer).into_response();
    let location = format!("/api/am/publisher/v4/apis/{api_id}/client-certs/{}/{}", kind.to_ascii_lowercase(), encode(&alias));
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

async fn info_of(cp: &ControlPlane, headers: &HeaderMap, api_id: &str, kind: &str, alias: &str) -> Result<Response> {
    cp.principal(headers).await?.require(VIEW)?;
    let (_, doc) = api_of(cp, api_id).await?;
    let list = of(&doc);
    let c = find(&list, alias, kind).ok_or_else(|| not_found(api_id, alias))?;
    Ok(Json(certificate_info(c["certificate"].as_str().unwrap_or(""), alias, cp.clock.unix_secs())?).into_response())
}

fn not_found(api_id: &str, alias: &str) -> ApiError {
    ApiError::not_found(format!("API {api_id} has no client certificate with the alias `{alias}`"))
}

async fn update_of(
    cp: &ControlPlane,
    headers: &HeaderMap,
    api_id: &str,
    kind: &str,
    alias: &str,
    multipart: std::result::Result<Multipart, MultipartRejection>,
) -> Result<Response> {
    let who = cp.principal(headers).await?;
    who.require(UPDATE)?;
    let f = form(multipart).await?;
    let (api, doc) = api_of(cp, api_id).await?;
    let mut list = of(&doc);
    let at = list.iter().position(|c| c["alias"] == alias && c["keyType"] == kind).ok_or_else(|| not_found(api_id, alias))?;
    let tier = match f.tier {
        Some(t) => {
            check_tier(cp, &t).await?;
            t
        }
        None => list[at]["tier"].as_str().unwrap_or("").to_string(),
    };
    let pem = f.certificate.unwrap_or_else(|| list[at]["certificate"].as_str().unwrap_or("").to_string());
    list[at] = entry(cp, pem, alias, &tier, kind)?;
    let answer = metadata(api_id, &list[at]);
    save(cp, &api, doc, list).await?;
    tracing::info!(api_id = %api_id, alias = %alias, user = %who.username, "client certificate updated");
    Ok(Json(answer).into_response())
}

async fn remove_of(cp: &ControlPlane, headers: &HeaderMap, api_id: &str, kind: &str, alias: &str) -> Result<Response> {
    let who = cp.principal(headers).await?;
    who.require(UPDATE)?;
    let (api, doc) = api_of(cp, api_id).await?;
    let mut list = of(&doc);
    let before = list.len();
    list.retain(|c| !(c["alias"] == alias && c["keyType"] == kind));
    if list.len() == before {
        return Err(not_found(api_id, alias));
    }
    save(cp, &api, doc, list).await?;
    tracing::info!(api_id = %api_id, alias = %alias, user = %who.username, "client certificate deleted");
    Ok(Json(json!({})).into_response())
}

async fn content_of(cp: &ControlPlane, headers: &HeaderMap, api_id: &str, kind: &str, alias: &str) -> Result<Response> {
    cp.principal(headers).await?.require(VIEW)?;
    let (_, doc) = api_of(cp, api_id).await?;
    let list = of(&doc);
    let c = find(&list, alias, kind).ok_or_else(|| not_found(api_id, alias))?;
    Ok(certificate_file(c["certificate"].as_str().unwrap_or("").to_string(), alias))
}

// === `/client-certs/{keyType}…` ===

type Cp = State<Arc<ControlPlane>>;
type Parts = std::result::Result<Multipart, MultipartRejection>;

async fn list(
    State(cp): Cp,
    headers: HeaderMap,
    Path((id, kind)): Path<(String, String)>,
    Query(p): Query<HashMap<String, String>>,
) -> Result<Response> {
    list_of(&cp, &headers, &id, key_type(&kind)?, &p).await
}
async fn add(State(cp): Cp, headers: HeaderMap, Path((id, kind)): Path<(String, String)>, m: Parts) -> Result<Response> {
    add_to(&cp, &headers, &id, key_type(&kind)?, m).await
}
async fn info(State(cp): Cp, headers: HeaderMap, Path((id, kind, alias)): Path<(String, String, String)>) -> Result<Response> {
    info_of(&cp, &headers, &id, key_type(&kind)?, &alias).await
}
async fn update(State(cp): Cp, headers: HeaderMap, Path((id, kind, alias)): Path<(String, String, String)>, m: Parts) -> Result<Response> {
    update_of(&cp, &headers, &id, key_type(&kind)?, &alias, m).await
}
async fn remove(State(cp): Cp, headers: HeaderMap, Path((id, kind, alias)): Path<(String, String, String)>) -> Result<Response> {
    remove_of(&cp, &headers, &id, key_type(&kind)?, &alias).await
}
async fn content(State(cp): Cp, headers: HeaderMap, Path((id, kind, alias)): Path<(String, String, String)>) -> Result<Response> {
    content_of(&cp, &headers, &id, key_type(&kind)?, &alias).await
}

// === `/client-certificates…`: production keys ===

const PRODUCTION: &str = "PRODUCTION";

async fn old_list(State(cp): Cp, headers: HeaderMap, Path(id): Path<String>, Query(p): Query<HashMap<String, String>>) -> Result<Response> {
    list_of(&cp, &headers, &id, PRODUCTION, &p).await
}
async fn old_add(State(cp): Cp, headers: HeaderMap, Path(id): Path<String>, m: Parts) -> Result<Response> {
    add_to(&cp, &headers, &id, PRODUCTION, m).await
}
async fn old_info(State(cp): Cp, headers: HeaderMap, Path((id, alias)): Path<(String, String)>) -> Result<Response> {
    info_of(&cp, &headers, &id, PRODUCTION, &alias).await
}
async fn old_update(State(cp): Cp, headers: HeaderMap, Path((id, alias)): Path<(String, String)>, m: Parts) -> Result<Response> {
    update_of(&cp, &headers, &id, PRODUCTION, &alias, m).await
}
async fn old_remove(State(cp): Cp, headers: HeaderMap, Path((id, alias)): Path<(String, String)>) -> Result<Response> {
    remove_of(&cp, &headers, &id, PRODUCTION, &alias).await
}
async fn old_content(State(cp): Cp, headers: HeaderMap, Path((id, alias)): Path<(String, String)>) -> Result<Response> {
    content_of(&cp, &headers, &id, PRODUCTION, &alias).await
}

/// The stored certificates of `old` carried into a document rebuilt from a client's body (`PUT`, an import over it).
pub(crate) fn keep(doc: &mut Map<String, Value>, old: &ApiRecord) {
    let stored: Value = serde_json::from_str(&old.document).unwrap_or(Value::Null);
    if let Some(list) = stored.get(KEY).filter(|l| l.as_array().is_some_and(|a| !a.is_empty())) {
        doc.insert(KEY.into(), list.clone());
    }
}
