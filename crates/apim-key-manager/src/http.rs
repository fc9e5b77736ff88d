//! Routes of the key manager on the management port.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::KeyManager;
use crate::error::OAuthError;
use crate::form::{Form, bearer};

pub fn router(km: Arc<KeyManager>) -> axum::Router {
    axum::Router::new()
        .route("/oauth2/token", post(token))
        .route("/oauth2/introspect", post(introspect))
        .route("/oauth2/revoke", post(revoke))
        .route("/oauth2/jwks", get(jwks))
        .route("/oauth2/userinfo", get(userinfo).post(userinfo))
        .route("/oauth2/token/.well-known/openid-configuration", get(discovery))
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/oauth2/authorize", get(crate::authorize::show).post(crate::authorize::submit))
        .route("/client-registration/v0.17/register", post(crate::dcr::wso2_register))
        .route("/keymanager-operations/dcr/register", post(crate::dcr::register))
        .route("/keymanager-operations/dcr/register/{client_id}", get(crate::dcr::get).put(crate::dcr::update).delete(crate::dcr::delete))
        .route("/keymanager-operations/dcr/register/{client_id}/regenerate-consumer-secret", post(crate::dcr::regenerate))
        .with_state(km)
}

/// A form-encoded POST body; anything else is `invalid_request`.
fn form_of(headers: &HeaderMap, body: &Bytes) -> Result<Form, OAuthError> {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !ct.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded") {
        return Err(OAuthError::invalid_request("the body must be application/x-www-form-urlencoded"));
    }
    Form::parse(body)
}

fn no_store(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    resp
}

async fn token(State(km): State<Arc<KeyManager>>, headers: HeaderMap, body: Bytes) -> Response {
    let result = async { km.token(&headers, &form_of(&headers, &body)?).await }.await;
    match result {
        Ok(v) => no_store(Json(v).into_response()),
        Err(e) => e.into_response(),
    }
}

async fn introspect(State(km): State<Arc<KeyManager>>, headers: HeaderMap, body: Bytes) -> Response {
    let result = async { km.introspect(&headers, &form_of(&headers, &body)?).await }.await;
    match result {
        Ok(v) => no_store(Json(v).into_response()),
        Err(e) => e.into_response(),
    }
}

async fn revoke(State(km): State<Arc<KeyManager>>, headers: HeaderMap, body: Bytes) -> Response {
    let result = async { km.revoke(&headers, &form_of(&headers, &body)?).await }.await;
    match result {
        Ok(()) => no_store(StatusCode::OK.into_response()),
        Err(e) => e.into_response(),
    }
}

async fn jwks(State(km): State<Arc<KeyManager>>) -> Response {
    match km.jwks().await {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn discovery(State(km): State<Arc<KeyManager>>) -> Response {
    Json(km.discovery()).into_response()
}

async fn userinfo(State(km): State<Arc<KeyManager>>, headers: HeaderMap) -> Response {
    let Some(token) = bearer(&headers) else {
        let mut r =
            (StatusCode::UNAUTHORIZED, Json(json!({"error": "invalid_request", "error_description": "a Bearer token is required"})))
                .into_response();
        r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return r;
    };
    match km.userinfo(&token).await {
        Ok(v) => no_store(Json(v).into_response()),
        Err((status, code)) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::UNAUTHORIZED);
            let mut r = (status, Json(json!({"error": code}))).into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("Bearer error=\"{code}\"")) {
                r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
            }
            r
        }
    }
}
