//! Self sign-up: WSO2 Identity Server's `POST /api/identity/user/v1.0/me`, which WSO2 API-M's Developer Portal
//! uses to let a visitor make their own account. The account gets the `Internal/subscriber` role only (the
//! DevPortal's scopes, nothing of the Publisher's or Admin's). Off with `[identity_mgt.user_self_registration]
//! allow_self_registration = false`. Usernames follow WSO2's default `^[\S]{3,30}$`, passwords
//! `^[\S]{5,30}$`; a taken name is a 409. The password is hashed off the async threads.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;
use serde_json::json;

use crate::ControlPlane;
use crate::error::{ApiError, Result};

pub fn routes() -> axum::Router<Arc<ControlPlane>> {
    axum::Router::new().route("/api/identity/user/v1.0/me", post(sign_up))
}

/// WSO2's `SelfUserRegistrationRequest`: `{user: {username, password, claims}, properties}`.
#[derive(Deserialize)]
struct Registration {
    user: Option<NewAccount>,
}

#[derive(Deserialize)]
struct NewAccount {
    username: Option<String>,
    password: Option<String>,
}

fn acceptable(value: &str, min: usize) -> bool {
    (min..=30).contains(&value.chars().count()) && !value.chars().any(char::is_whitespace)
}

async fn sign_up(State(cp): State<Arc<ControlPlane>>, body: Bytes) -> Result<Response> {
    if !cp.cfg.self_sign_up {
        return Err(ApiError::forbidden(
            "self sign-up is off on this server ([identity_mgt.user_self_registration] allow_self_registration = false)",
        ));
    }
    let r: Registration =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("the body is not a SelfUserRegistrationRequest: {e}")))?;
    let account = r.user.ok_or_else(|| ApiError::field("user", "is required"))?;
    let username = account.username.map(|u| u.trim().to_string()).unwrap_or_default();
    if !acceptable(&username, 3) || username.contains('/') {
        return Err(ApiError::field("user.username", "must be 3 to 30 characters without whitespace or /"));
    }
    let password = account.password.unwrap_or_default();
    if !acceptable(&password, 5) {
        return Err(ApiError::field("user.password", "must be 5 to 30 characters without whitespace"));
    }
    if apim_store::UserStore::find_user(cp.users.db(), &username).await?.is_some() {
        return Err(ApiError::conflict_field("user.username", format!("user {username} already exists: choose another name")));
    }
    let hash = tokio::task::spawn_blocking(move || apim_domain::password::hash(&password))
        .await
        .map_err(ApiError::unavailable)?
        .map_err(ApiError::unavailable)?;
    let roles = [apim_domain::user::Role::Subscriber.name()];
    match apim_store::UserStore::create_user(
        cp.users.db(),
        &apim_store::NewUser { username: &username, password_hash: &hash, roles: &roles },
    )
    .await
    {
        Ok(_) => {}
        // Someone took the name between the check and the insert.
        Err(apim_store::StoreError::Conflict { .. }) => {
            return Err(ApiError::conflict_field("user.username", format!("user {username} already exists: choose another name")));
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(user = %username, "self sign-up");
    Ok((StatusCode::CREATED, Json(json!({"username": username, "roles": roles}))).into_response())
}
