//! The Admin API's `GET /throttling/policies/export` and `POST /throttling/policies/import`: one rate-limiting policy
//! as WSO2 4.x moves it between environments (apictl's `export/import policy rate-limiting`): WSO2's
//! `{type: rate-limiting policy, subtype, version, data}` document, JSON or YAML, whose `data` is the policy as
//! `GET /throttling/policies/{level}/{policyId}` answers it. An import is checked as `POST` checks a policy.

use std::collections::HashMap;
use std::sync::Arc;

use apim_store::{AdminStore, ApiStore};
use apim_wire::hub::EventKind;
use axum::Json;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::ControlPlane;
use crate::admin::{level_of, policy_event, validate_policy, with_subscriber_counts};
use crate::error::{ApiError, Result};
use crate::import_export::{flag, upload};
use crate::project::{self, ENVELOPE_VERSION};

const IMPORT_EXPORT: &[&str] = &["apim:admin", "apim:tier_manage", "apim:admin_tier_manage", "apim:policies_import_export"];
const KIND: &str = "rate-limiting policy";
/// A policy file is small: a policy with its condition groups.
const FILE_MAX: usize = 1 << 20;

pub fn routes() -> axum::Router<Arc<ControlPlane>> {
    axum::Router::new()
        .route("/throttling/policies/export", get(export))
        .route("/throttling/policies/import", post(import).layer(DefaultBodyLimit::max(FILE_MAX + (64 << 10))))
}

/// Export's `type` (WSO2's short names) → the stored level.
fn stored_level(short: &str) -> Result<&'static str> {
    match short {
        "app" => Ok("application"),
        "sub" => Ok("subscription"),
        "api" => Ok("api"),
        "global" => Ok("custom"),
        other => Err(ApiError::field("type", format!("`{other}` is not sub, app, api or global"))),
    }
}

/// The stored level → the envelope's `subtype` and the URL level of the Admin API.
fn subtype(level: &str) -> &'static str {
    match level {
        "application" => "application",
        "subscription" => "subscription",
        "api" => "advanced",
        _ => "custom",
    }
}

/// `GET /throttling/policies/export?policyId=|name=[&type=sub|app|api|global]`.
async fn export(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Query(p): Query<HashMap<String, String>>) -> Result<Response> {
    cp.principal(&headers).await?.require(IMPORT_EXPORT)?;
    let id = p.get("policyId").map(|s| s.trim()).filter(|s| !s.is_empty());
    let name = p.get("name").map(|s| s.trim()).filter(|s| !s.is_empty());
    if id.is_none() && name.is_none() {
        return Err(ApiError::field("policyId", "policyId or name is required"));
    }
    let levels: Vec<&str> = match p.get("type").map(|t| t.trim()).filter(|t| !t.is_empty()) {
        Some(t) => vec![stored_level(t)?],
        None => vec!["application", "subscription", "api", "custom"],
    };
    for level in levels {
        for (stored_name, doc) in cp.db.policies(level).await? {
            let mut doc: Value = serde_json::from_str(&doc).unwrap_or(Value::Null);
            let id_matches = id.is_none_or(|i| doc.get("policyId").and_then(Value::as_str) == Some(i));
            if id_matches && name.is_none_or(|n| n == stored_name) {
                with_subscriber_counts(&cp, level, std::slice::from_mut(&mut doc)).await?;
                return Ok(Json(json!({"type": KIND, "subtype": subtype(level), "version": ENVELOPE_VERSION, "data": doc})).into_response());
            }
        }
    }
    let what = name.map_or_else(|| format!("policy {}", id.unwrap_or("")), |n| format!("policy `{n}`"));
    Err(ApiError::not_found(format!("{what} not found")))
}

/// `POST /throttling/policies/import[?overwrite=true]` with the policy file as the multipart field `file`: a new
/// policy (409 if one of that name and level exists, unless `overwrite`, which replaces it and keeps its id).
async fn import(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Query(p): Query<HashMap<String, String>>,
    multipart: std::result::Result<axum::extract::Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response> {
    cp.principal(&headers).await?.require(IMPORT_EXPORT)?;
    let overwrite = flag(&p, "overwrite", false)?;
    let bytes = upload(&headers, multipart).await?;
    if bytes.len() > FILE_MAX {
        return Err(ApiError::too_large(format!("a policy file is at most {} KiB", FILE_MAX >> 10)));
    }
    let mut whole = project::envelope_whole("file", &bytes, KIND)?;
    let sub = whole.get("subtype").and_then(Value::as_str).unwrap_or("").to_string();
    let level =
        level_of(&sub).map_err(|_| ApiError::field("subtype", format!("`{sub}` is not application, subscription, advanced or custom")))?;
    let Some(Value::Object(mut o)) = whole.remove("data") else {
        return Err(ApiError::field("data", "must be an object (a throttling policy)"));
    };
    let name = validate_policy(level, &mut o)?;
    let existing = cp.db.policies(level).await?.into_iter().find(|(n, _)| *n == name);
    match existing {
        Some(_) if !overwrite => {
            return Err(ApiError::conflict(format!(
                "{} policy `{name}` already exists: import it with overwrite=true to replace it",
                subtype(level)
            )));
        }
        Some((_, stored)) => {
            let stored: Value = serde_json::from_str(&stored).unwrap_or(Value::Null);
            // The policy keeps this environment's id, whatever id the file carries.
            let id = stored.get("policyId").cloned().unwrap_or_else(|| json!(uuid::Uuid::new_v4().to_string()));
            o.insert("policyId".into(), id);
            let doc = Value::Object(o);
            cp.db.update_policy(level, &name, &doc.to_string(), &[policy_event(EventKind::PolicyUpdate, level, &doc)]).await?;
        }
        None => {
            o.insert("policyId".into(), json!(uuid::Uuid::new_v4().to_string()));
            let doc = Value::Object(o);
            cp.db.create_policy(level, &name, &doc.to_string(), &[policy_event(EventKind::PolicyCreate, level, &doc)]).await?;
        }
    }
    let message = format!("Successfully imported {} Throttling Policy : {name}", subtype(level));
    Ok((StatusCode::OK, [(axum::http::header::CONTENT_TYPE, "text/plain; charset=utf-8")], message).into_response())
}
