//! Errors in WSO2's REST body: `{code, message, description, moreInfo, error: [{code, message}]}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: &'static str,
    pub description: String,
    /// Per-field problems: (field, what is wrong).
    pub fields: Vec<(String, String)>,
}

impl ApiError {
    fn new(status: StatusCode, message: &'static str, description: impl Into<String>) -> ApiError {
        ApiError { status, message, description: description.into(), fields: Vec::new() }
    }
    pub fn bad_request(d: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Bad Request", d)
    }
    /// 400 naming the field.
    pub fn field(field: &str, d: impl Into<String>) -> Self {
        let d = d.into();
        let mut e = Self::new(StatusCode::BAD_REQUEST, "Bad Request", format!("{field}: {d}"));
        e.fields.push((field.to_string(), d));
        e
    }
    pub fn unauthorized(d: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Unauthenticated", d)
    }
    pub fn forbidden(d: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "Forbidden", d)
    }
    pub fn not_found(d: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "Not Found", d)
    }
    pub fn conflict(d: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "Conflict", d)
    }
    /// 409 naming the field whose value is taken.
    pub fn conflict_field(field: &str, d: impl Into<String>) -> Self {
        let d = d.into();
        let mut e = Self::new(StatusCode::CONFLICT, "Conflict", d.clone());
        e.fields.push((field.to_string(), d));
        e
    }
    /// 413: the body (an upload) is larger than the operation takes; the description says the limit.
    pub fn too_large(d: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "Payload Too Large", d)
    }
    pub fn precondition(d: impl Into<String>) -> Self {
        Self::new(StatusCode::PRECONDITION_FAILED, "Precondition Failed", d)
    }
    /// The database failed: logged in full, answered without internals.
    pub fn storage(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "control plane storage failure");
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable", "the control plane cannot reach its database; retry later")
    }
    /// Another service (a key manager, a signing key) is missing or failed; the description says which.
    /// 502: a server the control plane called on the caller's behalf failed or answered nonsense.
    pub fn bad_gateway(d: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_GATEWAY, "Bad Gateway", d)
    }
    pub fn unavailable(e: impl std::fmt::Display) -> Self {
        tracing::warn!(error = %e, "service unavailable");
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable", e.to_string())
    }
}

impl From<apim_store::StoreError> for ApiError {
    fn from(e: apim_store::StoreError) -> Self {
        match e {
            apim_store::StoreError::Conflict { what } => ApiError::conflict(format!("{what} already exists")),
            apim_store::StoreError::NotFound { what } => ApiError::not_found(format!("{what} not found")),
            apim_store::StoreError::Invalid(d) => ApiError::bad_request(d),
            other => ApiError::storage(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = self.status.as_u16();
        // WSO2's ErrorListItem.code is a string; Error.code an integer.
        let errors: Vec<_> = self.fields.iter().map(|(f, m)| json!({"code": code.to_string(), "message": f, "description": m})).collect();
        let mut resp = (
            self.status,
            Json(json!({"code": code, "message": self.message, "description": self.description, "moreInfo": "", "error": errors})),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(axum::http::header::WWW_AUTHENTICATE, axum::http::HeaderValue::from_static("Bearer, Basic realm=\"apim\""));
        }
        resp
    }
}

pub type Result<T> = std::result::Result<T, ApiError>;
