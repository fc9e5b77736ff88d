//! DevPortal API keys (`/applications/{id}/api-keys/{keyType}/generate|revoke`): self-contained RS256 JWTs signed
//! by the control plane with WSO2's claims (`application`, `keytype`, `subscribedAPIs`, `tierInfo`). Gateways verify
//! them against the control plane's public key (in the runtime state) and check subscriptions against their
//! snapshot; revoked keys are kept by `jti` until they expire and reach gateways as an event.

use std::sync::Arc;

use apim_jose::jwt;
use apim_store::{AdminStore, ApiStore, ApplicationStore};
use apim_wire::KeyType;
use apim_wire::hub::EventKind;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use crate::ControlPlane;
use crate::devportal::own_app;
use crate::error::{ApiError, Result};
use crate::model::event;

const SCOPES: &[&str] = &["apim:api_key", "apim:subscribe", "apim:app_manage"];
/// Keys without an expiry are remembered as revoked for this long (ten years).
const FOREVER: i64 = 10 * 365 * 86_400;
/// Object kind of revoked keys in the admin store.
pub(crate) const REVOKED_KIND: &str = "revoked_api_key";

pub fn routes() -> axum::Router<Arc<ControlPlane>> {
    axum::Router::new()
        .route("/applications/{app_id}/api-keys/{key_type}/generate", post(generate))
        .route("/applications/{app_id}/api-keys/{key_type}/revoke", post(revoke))
}

fn key_type_of(t: &str) -> Result<&'static str> {
    KeyType::from(t).known_str().ok_or_else(|| ApiError::field("keyType", format!("`{t}` is not PRODUCTION or SANDBOX")))
}

fn body_object(body: &Bytes) -> Result<Value> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))?;
    if !v.is_object() {
        return Err(ApiError::bad_request("the body must be a JSON object"));
    }
    Ok(v)
}

fn signer(cp: &ControlPlane) -> Result<&jwt::SigningKey> {
    cp.api_key_signer
        .as_deref()
        .ok_or_else(|| ApiError::unavailable("API keys need the control plane's signing key, which is not configured"))
}

/// What both operations check first: the caller's scopes, that the application is theirs, the key type, the body.
async fn request(
    cp: &ControlPlane,
    headers: &HeaderMap,
    id: &str,
    key_type: &str,
    body: &Bytes,
) -> Result<(apim_domain::api::ApplicationRecord, &'static str, Value)> {
    let who = cp.principal(headers).await?;
    who.require(SCOPES)?;
    let app = own_app(cp, &who, id).await?;
    let key_type = key_type_of(key_type)?;
    Ok((app, key_type, body_object(body)?))
}

async fn generate(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Path((id, key_type)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response> {
    let (app, key_type, v) = request(&cp, &headers, &id, &key_type, &body).await?;
    let validity = match v.get("validityPeriod") {
        None | Some(Value::Null) => -1,
        Some(p) => p
            .as_i64()
            .filter(|n| *n >= -1 && *n <= i64::from(i32::MAX))
            .ok_or_else(|| ApiError::field("validityPeriod", "must be a number of seconds, or -1 for a key that does not expire"))?,
    };
    let signer = signer(&cp)?;
    let mut subscribed = Vec::new();
    let mut tiers = serde_json::Map::new();
    for s in cp.db.list_subscriptions(Some(&app.id), None).await? {
        let Some(api) = cp.db.get_api(&s.api_id).await? else { continue };
        subscribed.push(json!({"name": api.name, "context": format!("{}/{}", api.context.trim_end_matches('/'), api.version),
            "version": api.version, "publisher": api.provider, "uuid": api.id, "subscriptionTier": s.policy}));
        tiers.insert(s.policy.clone(), json!({"stopOnQuotaReach": true, "spikeArrestLimit": 0, "spikeArrestUnit": null}));
    }
    let iat = cp.clock.unix_secs();
    let mut claims = json!({
        "iss": cp.cfg.api_key_issuer, "sub": app.owner, "keytype": key_type, "iat": iat, "jti": uuid::Uuid::new_v4().to_string(),
        "application": {"id": app.id, "uuid": app.id, "name": app.name, "owner": app.owner, "tier": app.throttling_policy},
        "subscribedAPIs": subscribed, "tierInfo": tiers, "token_type": "apiKey",
    });
    if validity > 0 {
        claims["exp"] = json!(iat + validity);
    }
    let apikey = signer.sign(&claims).map_err(ApiError::unavailable)?;
    Ok(Json(json!({"keyName": format!("{}_{key_type}", app.name), "apikey": apikey, "validityTime": validity})).into_response())
}

async fn revoke(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Path((id, key_type)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response> {
    let (app, key_type, v) = request(&cp, &headers, &id, &key_type, &body).await?;
    let apikey =
        v.get("apikey").and_then(Value::as_str).filter(|k| !k.is_empty()).ok_or_else(|| ApiError::field("apikey", "is required"))?;
    let signer = signer(&cp)?;
    let keys: Vec<jwt::VerifyKey> = jwt::VerifyKey::from_jwk(&signer.jwk).into_iter().collect();
    let claims = jwt::verify(apikey, &keys).map_err(|_| ApiError::field("apikey", "is not an API key issued here"))?;
    if claims.pointer("/application/uuid").and_then(Value::as_str) != Some(app.id.as_str())
        || claims.get("keytype").and_then(Value::as_str) != Some(key_type)
    {
        return Err(ApiError::field("apikey", format!("is not a {key_type} API key of application {}", app.id)));
    }
    let jti = claims.get("jti").and_then(Value::as_str).ok_or_else(|| ApiError::field("apikey", "has no jti"))?;
    let expires = claims.get("exp").and_then(Value::as_i64).unwrap_or(cp.clock.unix_secs() + FOREVER);
    if cp.db.list_objects(REVOKED_KIND).await?.iter().any(|(existing, _, _)| existing == jti) {
        return Ok(StatusCode::OK.into_response());
    }
    let doc = json!({"jti": jti, "applicationId": app.id, "keyType": key_type, "expiresAt": expires});
    let ev = event(
        EventKind::ApiKeyRevoke,
        json!({"tokenId": jti, "applicationUUID": app.id, "keyType": key_type, "expiryTime": expires * 1000}),
    );
    cp.db.create_object(REVOKED_KIND, jti, &app.id, &doc.to_string(), &[ev]).await?;
    Ok(StatusCode::OK.into_response())
}

impl ControlPlane {
    /// The public keys API keys are verified with (JWKs), and the `jti`s of revoked keys not yet expired.
    pub(crate) async fn api_key_state(&self) -> std::result::Result<(Vec<Value>, Vec<String>), apim_store::StoreError> {
        let jwks = self.api_key_signer.iter().map(|k| k.jwk.clone()).collect();
        let revoked = self.unexpired(REVOKED_KIND).await?.into_iter().map(|(jti, _, _)| jti).collect();
        Ok((jwks, revoked))
    }
}
