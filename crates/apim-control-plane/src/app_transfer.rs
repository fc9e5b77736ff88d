//! The DevPortal's `GET /applications/export` and `POST /applications/import`: an application and its subscriptions
//! as apictl's application project (`<owner>_<name>/application.yaml`, WSO2's `{type: application, version, data}`
//! envelope whose `data` holds `applicationInfo` and `subscribedAPIs`). Key secrets are never exported (the key
//! manager keeps only their hashes), so keys are listed with `withKeys=true` but not imported: the importer
//! generates new ones.

use std::collections::HashMap;
use std::sync::Arc;

use apim_domain::api::ApplicationRecord;
use apim_store::{ApiStore, ApplicationStore, UserStore};
use apim_wire::hub::EventKind;
use axum::Json;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::ControlPlane;
use crate::auth::Principal;
use crate::devportal::{app_event, app_fields, app_json, subscribe_one};
use crate::error::{ApiError, Result};
use crate::import_export::{api_named, flag, upload};
use crate::project::{self, Format};

const IMPORT_EXPORT: &[&str] = &["apim:app_import_export", "apim:admin"];

pub fn routes() -> axum::Router<Arc<ControlPlane>> {
    axum::Router::new()
        .route("/applications/export", get(export))
        .route("/applications/import", post(import).layer(DefaultBodyLimit::max(crate::archive::ARCHIVE_MAX + (64 << 10))))
}

/// The owner the caller acts for: themselves, or (admins only) another user, who must exist.
async fn owner_for(cp: &ControlPlane, who: &Principal, asked: Option<&str>, field: &str) -> Result<String> {
    match asked.map(str::trim).filter(|o| !o.is_empty()) {
        None => Ok(who.username.clone()),
        Some(o) if o == who.username => Ok(o.to_string()),
        Some(o) if !who.is_admin() => Err(ApiError::forbidden(format!("only an admin may act for {field} `{o}`"))),
        Some(o) => match cp.db.find_user(o).await? {
            Some(_) => Ok(o.to_string()),
            None => Err(ApiError::field(field, format!("user `{o}` does not exist"))),
        },
    }
}

async fn named_app(cp: &ControlPlane, owner: &str, name: &str) -> Result<Option<ApplicationRecord>> {
    Ok(cp.db.list_applications(Some(owner)).await?.into_iter().find(|a| a.name == name))
}

/// `GET /applications/export?appName=&appOwner=[&withKeys=][&format=YAML|JSON]`.
async fn export(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Query(p): Query<HashMap<String, String>>) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(IMPORT_EXPORT)?;
    let name = p.get("appName").map(|n| n.trim()).filter(|n| !n.is_empty()).ok_or_else(|| ApiError::field("appName", "is required"))?;
    let owner = p.get("appOwner").map(|n| n.trim()).filter(|n| !n.is_empty()).ok_or_else(|| ApiError::field("appOwner", "is required"))?;
    let with_keys = flag(&p, "withKeys", false)?;
    let format = match p.get("format").map(|f| f.to_ascii_uppercase()).as_deref() {
        None | Some("") | Some("YAML") => Format::Yaml,
        Some("JSON") => Format::Json,
        Some(other) => return Err(ApiError::field("format", format!("`{other}` is not YAML or JSON"))),
    };
    // Someone else's application is as absent as one that does not exist, unless the caller is an admin.
    let app = match named_app(&cp, owner, name).await? {
        Some(a) if a.owner == who.username || who.is_admin() => a,
        _ => return Err(ApiError::not_found(format!("application `{name}` of `{owner}` not found"))),
    };
    let subscriptions = cp.db.list_subscriptions(Some(&app.id), None).await?;
    let mut subscribed = Vec::new();
    for s in &subscriptions {
        if let Some(api) = cp.db.get_api(&s.api_id).await? {
            subscribed.push(json!({
                "apiId": {"providerName": api.provider, "apiName": api.name, "version": api.version},
                "throttlingPolicy": s.policy, "subscriptionStatus": s.status,
            }));
        }
    }
    let keys = if with_keys { cp.db.key_mappings(&app.id).await? } else { Vec::new() };
    let info = app_json(&app, &keys, subscriptions.len());
    let data = json!({"applicationInfo": info, "subscribedAPIs": subscribed});
    let top = project::segment(&format!("{}_{}", app.owner, app.name));
    let file = format!("application.{}", format.ext());
    let zip = project::write(&top, &[(file, project::enveloped("application", data, format)?)])?;
    let disposition = format!("attachment; filename=\"{}.zip\"", top.replace(['"', '\\'], "_"));
    let mut resp = (StatusCode::OK, zip).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/zip"));
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        resp.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

/// `POST /applications/import?[preserveOwner=][&appOwner=][&skipSubscriptions=][&skipApplicationKeys=][&update=]`
/// with the project archive as the multipart field `file`. The application is checked as `POST /applications`
/// checks one, then created (or, with `update=true`, updated); each subscription is made as `POST /subscriptions`
/// makes one. Subscriptions that cannot be made (the API is missing or not published here, or does not offer the
/// plan) are skipped and listed in a 207 answer (WSO2's `APIInfoList`); otherwise the answer is the application.
async fn import(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Query(p): Query<HashMap<String, String>>,
    multipart: std::result::Result<axum::extract::Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(IMPORT_EXPORT)?;
    let preserve_owner = flag(&p, "preserveOwner", false)?;
    let skip_subscriptions = flag(&p, "skipSubscriptions", false)?;
    flag(&p, "skipApplicationKeys", false)?;
    let update = flag(&p, "update", false)?;
    let bytes = upload(&headers, multipart).await?;
    let (path, data) = project::read_application(&bytes)?;
    let info = data.get("applicationInfo").filter(|i| i.is_object()).ok_or_else(|| {
        ApiError::field(&path, "`data.applicationInfo` is required: the application as GET /applications/{applicationId} answers it")
    })?;
    let exported_owner = info.get("owner").and_then(Value::as_str);
    let owner = if preserve_owner {
        let o = exported_owner.ok_or_else(|| ApiError::field(&path, "`applicationInfo.owner` is required with preserveOwner=true"))?;
        owner_for(&cp, &who, Some(o), "applicationInfo.owner").await?
    } else {
        owner_for(&cp, &who, p.get("appOwner").map(String::as_str), "appOwner").await?
    };
    let subscribed = match data.get("subscribedAPIs") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => return Err(ApiError::field(&path, "`data.subscribedAPIs` must be a list")),
    };
    let (name, policy, token_type, document) = app_fields(&cp, info).await?;
    let app = match named_app(&cp, &owner, &name).await? {
        Some(_) if !update => {
            return Err(ApiError::conflict(format!(
                "application `{name}` of `{owner}` already exists: import it with update=true to replace it"
            )));
        }
        Some(old) => {
            let app = ApplicationRecord { throttling_policy: policy, token_type, document: document.to_string(), ..old };
            cp.db.update_application(&app, &[app_event(EventKind::ApplicationUpdate, &app)]).await?;
            app
        }
        None => {
            let app = ApplicationRecord {
                id: uuid::Uuid::new_v4().to_string(),
                name,
                owner: owner.clone(),
                throttling_policy: policy,
                token_type,
                document: document.to_string(),
                created_at: cp.clock.unix_secs(),
            };
            cp.db.create_application(&app, &[app_event(EventKind::ApplicationCreate, &app)]).await?;
            app
        }
    };
    let mut skipped = Vec::new();
    if !skip_subscriptions {
        let existing = cp.db.list_subscriptions(Some(&app.id), None).await?;
        for s in &subscribed {
            let id = s.get("apiId").unwrap_or(&Value::Null);
            let (api_name, version) = (id.get("apiName").and_then(Value::as_str), id.get("version").and_then(Value::as_str));
            let provider = id.get("providerName").and_then(Value::as_str);
            let plan = s.get("throttlingPolicy").and_then(Value::as_str).unwrap_or("Unlimited");
            let found = match (api_name, version) {
                (Some(n), Some(v)) => api_named(&cp, n, v, provider).await?,
                _ => None,
            };
            let made = match &found {
                Some(api) if existing.iter().any(|e| e.api_id == api.id) => true,
                Some(api) => {
                    let req = json!({"apiId": api.id, "applicationId": app.id, "throttlingPolicy": plan});
                    match subscribe_one(&cp, &who, &req).await {
                        Ok(_) => true,
                        // What this environment refuses (plan not offered or not permitted, API not visible)
                        // is skipped; a failing database is not.
                        Err(e) if e.status.is_client_error() => false,
                        Err(e) => return Err(e),
                    }
                }
                None => false,
            };
            if !made {
                skipped.push(json!({
                    "id": found.as_ref().map(|a| a.id.clone()), "name": api_name, "version": version, "provider": provider,
                    "throttlingPolicies": [plan],
                }));
            }
        }
    }
    tracing::info!(application = %app.id, owner = %app.owner, user = %who.username, skipped = skipped.len(), "application imported");
    if skipped.is_empty() {
        let subs = cp.db.list_subscriptions(Some(&app.id), None).await?.len();
        let info = app_json(&app, &cp.db.key_mappings(&app.id).await?, subs);
        let summary = json!({
            "applicationId": info["applicationId"], "name": info["name"], "throttlingPolicy": info["throttlingPolicy"],
            "description": info["description"], "status": info["status"], "groups": info["groups"],
            "subscriptionCount": info["subscriptionCount"], "attributes": info["attributes"], "owner": info["owner"],
            "createdTime": info["createdTime"],
        });
        Ok(Json(summary).into_response())
    } else {
        Ok((StatusCode::MULTI_STATUS, Json(json!({"count": skipped.len(), "list": skipped}))).into_response())
    }
}
