//! API categories (WSO2's `APICategory`): admins make them (Admin API), APIs name them in `categories`, both
//! portals list them and `api-category:` searches by them. A category an API names can be neither deleted nor
//! renamed: APIs refer to it by name. WSO2 raises no event for categories and gateways do not use them, so
//! none is written.

use std::collections::HashMap;
use std::sync::Arc;

use apim_store::{AdminStore, SearchStore};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ControlPlane;
use crate::error::{ApiError, Result};

/// Kept as admin objects of this kind.
const KIND: &str = "api_category";
const ADMIN: &[&str] = &["apim:admin", "apim:admin_operations", "apim:api_category"];

pub fn admin_routes() -> axum::Router<Arc<ControlPlane>> {
    axum::Router::new()
        .route("/api-categories", get(admin_list).post(create))
        .route("/api-categories/{category_id}", axum::routing::put(update).delete(delete))
}

pub fn publisher_routes() -> axum::Router<Arc<ControlPlane>> {
    axum::Router::new().route("/api-categories", get(publisher_list))
}

pub fn devportal_routes() -> axum::Router<Arc<ControlPlane>> {
    axum::Router::new().route("/api-categories", get(devportal_list))
}

/// A category as stored and as the portals show it.
#[derive(Clone, Deserialize, Serialize)]
struct Category {
    id: String,
    name: String,
    #[serde(default)]
    description: String,
}

/// The Admin API's view: with how many APIs name it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AdminCategory {
    #[serde(flatten)]
    category: Category,
    #[serde(rename = "numberOfAPIs")]
    number_of_apis: i64,
}

#[derive(Serialize)]
struct CategoryList<T> {
    count: usize,
    list: Vec<T>,
}

impl<T> CategoryList<T> {
    fn of(list: Vec<T>) -> CategoryList<T> {
        CategoryList { count: list.len(), list }
    }
}

async fn all(cp: &ControlPlane) -> Result<Vec<Category>> {
    let mut out = Vec::new();
    for (id, name, doc) in cp.db.list_objects(KIND).await? {
        let description = serde_json::from_str::<Category>(&doc).map(|c| c.description).unwrap_or_default();
        out.push(Category { id, name, description });
    }
    Ok(out)
}

/// How many APIs name each category, by lower-cased name.
async fn usage(cp: &ControlPlane) -> Result<HashMap<String, i64>> {
    Ok(cp.db.category_usage().await?.into_iter().collect())
}

/// An API document's `categories` (as sent): each must be a category that exists (matched without regard to
/// case), or a 400 naming the field.
pub(crate) async fn check(cp: &ControlPlane, categories: Option<&Value>) -> Result<()> {
    let names: Vec<&str> = match categories {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| v.as_str().ok_or_else(|| ApiError::field("categories", "must be an array of strings")))
            .collect::<Result<_>>()?,
        Some(_) => return Err(ApiError::field("categories", "must be an array of strings")),
    };
    if names.is_empty() {
        return Ok(());
    }
    let known = all(cp).await?;
    for n in names {
        if !known.iter().any(|c| c.name.eq_ignore_ascii_case(n.trim())) {
            let list: Vec<&str> = known.iter().map(|c| c.name.as_str()).collect();
            return Err(ApiError::field(
                "categories",
                format!(
                    "`{n}` is not an API category (known: {}); an admin creates it first",
                    if list.is_empty() { "none".into() } else { list.join(", ") }
                ),
            ));
        }
    }
    Ok(())
}

/// [`check`] for a request body that is an API document.
pub(crate) async fn check_body(cp: &ControlPlane, body: &Bytes) -> Result<()> {
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => check(cp, v.get("categories")).await,
        // The document's own validation names what is wrong with it.
        Err(_) => Ok(()),
    }
}

/// The name and description of a category from WSO2's `APICategory`, or a 400 naming the field.
fn fields(body: &Bytes) -> Result<(String, String)> {
    let o: Map<String, Value> = match serde_json::from_slice(body) {
        Ok(Value::Object(o)) => o,
        Ok(_) => return Err(ApiError::bad_request("the body must be a JSON object (an APICategory)")),
        Err(e) => return Err(ApiError::bad_request(format!("the body is not valid JSON: {e}"))),
    };
    let name = match o.get("name") {
        Some(Value::String(n)) => n.trim().to_string(),
        None | Some(Value::Null) => return Err(ApiError::field("name", "is required")),
        Some(_) => return Err(ApiError::field("name", "must be a string")),
    };
    if name.is_empty() || name.chars().count() > 255 || name.chars().any(char::is_control) {
        return Err(ApiError::field("name", "must be 1 to 255 characters, none of them control characters"));
    }
    let description = match o.get("description") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(d)) if d.chars().count() <= 1024 => d.clone(),
        Some(Value::String(_)) => return Err(ApiError::field("description", "must be at most 1024 characters")),
        Some(_) => return Err(ApiError::field("description", "must be a string")),
    };
    Ok((name, description))
}

async fn admin_list(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap) -> Result<Response> {
    cp.principal(&headers).await?.require(ADMIN)?;
    let used = usage(&cp).await?;
    let list: Vec<AdminCategory> = all(&cp)
        .await?
        .into_iter()
        .map(|c| {
            let n = used.get(&c.name.to_lowercase()).copied().unwrap_or(0);
            AdminCategory { category: c, number_of_apis: n }
        })
        .collect();
    Ok(Json(CategoryList::of(list)).into_response())
}

async fn create(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, body: Bytes) -> Result<Response> {
    cp.principal(&headers).await?.require(ADMIN)?;
    let (name, description) = fields(&body)?;
    // MariaDB's collation would refuse a second spelling, PostgreSQL and SQLite not: refused everywhere.
    if all(&cp).await?.iter().any(|c| c.name.to_lowercase() == name.to_lowercase()) {
        return Err(ApiError::conflict(format!("API category `{name}` already exists")));
    }
    let category = Category { id: uuid::Uuid::new_v4().to_string(), name, description };
    let doc = serde_json::to_string(&category).map_err(ApiError::storage)?;
    cp.db.create_object(KIND, &category.id, &category.name, &doc, &[]).await?;
    tracing::info!(category = %category.name, "API category created");
    let mut resp = (StatusCode::CREATED, Json(AdminCategory { category: category.clone(), number_of_apis: 0 })).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("/api/am/admin/v4/api-categories/{}", category.id)) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

async fn find(cp: &ControlPlane, id: &str) -> Result<(Category, Vec<Category>)> {
    let categories = all(cp).await?;
    let found =
        categories.iter().find(|c| c.id == id).cloned().ok_or_else(|| ApiError::not_found(format!("API category {id} not found")))?;
    Ok((found, categories))
}

async fn update(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Path(id): Path<String>, body: Bytes) -> Result<Response> {
    cp.principal(&headers).await?.require(ADMIN)?;
    let (old, others) = find(&cp, &id).await?;
    let (name, description) = fields(&body)?;
    if others.iter().any(|c| c.id != id && c.name.to_lowercase() == name.to_lowercase()) {
        return Err(ApiError::conflict(format!("API category `{name}` already exists")));
    }
    let used = usage(&cp).await?.get(&old.name.to_lowercase()).copied().unwrap_or(0);
    if name != old.name && used > 0 {
        return Err(ApiError::conflict(format!(
            "API category `{}` is named by {used} API(s), which refer to it by name; it cannot be renamed while they do",
            old.name
        )));
    }
    let category = Category { id: id.clone(), name, description };
    let doc = serde_json::to_string(&category).map_err(ApiError::storage)?;
    if !cp.db.update_object(KIND, &id, &category.name, &doc, &[]).await? {
        return Err(ApiError::not_found(format!("API category {id} not found")));
    }
    Ok(Json(AdminCategory { category, number_of_apis: used }).into_response())
}

async fn delete(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response> {
    cp.principal(&headers).await?.require(ADMIN)?;
    let (category, _) = find(&cp, &id).await?;
    let used = usage(&cp).await?.get(&category.name.to_lowercase()).copied().unwrap_or(0);
    if used > 0 {
        return Err(ApiError::conflict(format!(
            "API category `{}` is named by {used} API(s); remove it from them before deleting it",
            category.name
        )));
    }
    if !cp.db.delete_object(KIND, &id, &[]).await? {
        return Err(ApiError::not_found(format!("API category {id} not found")));
    }
    tracing::info!(category = %category.name, "API category deleted");
    Ok(StatusCode::OK.into_response())
}

async fn publisher_list(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap) -> Result<Response> {
    cp.principal(&headers).await?.require(crate::publisher::VIEW)?;
    Ok(Json(CategoryList::of(all(&cp).await?)).into_response())
}

/// Anyone may list them: the DevPortal shows them signed out.
async fn devportal_list(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap) -> Result<Response> {
    cp.optional_principal(&headers).await?;
    Ok(Json(CategoryList::of(all(&cp).await?)).into_response())
}
