//! Client registration: WSO2's `POST /client-registration/v0.17/register` and RFC 7591 at
//! `/keymanager-operations/dcr/register` (with GET/PUT/DELETE and secret regeneration). Callers authenticate
//! with HTTP Basic as a user; registering for another owner, and every `keymanager-operations` call, needs the
//! admin role (the control plane calls with the `[apim.key_manager]` credentials).

use std::sync::Arc;

use apim_domain::oauth::{OAuthClient, TokenFormat};
use apim_store::OAuthStore;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::KeyManager;
use crate::error::OAuthError;
use crate::form::basic;
use crate::service::GRANT_TYPES;
use apim_jose::crypto::{random_client_id, random_token, sha256_hex};

struct Caller {
    username: String,
    admin: bool,
}

async fn caller(km: &KeyManager, headers: &HeaderMap) -> Result<Caller, OAuthError> {
    let Some((user, pass)) = basic(headers, false)? else {
        return Err(OAuthError::invalid_client("HTTP Basic authentication with a user is required"));
    };
    match km.authenticate_user(&user, &pass).await? {
        Some(roles) => Ok(Caller { admin: roles.iter().any(|r| r == "admin"), username: user }),
        None => Err(OAuthError::invalid_client("wrong username or password")),
    }
}

fn json_body(body: &Bytes) -> Result<Value, OAuthError> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| OAuthError::invalid_client_metadata(format!("the body is not valid JSON: {e}")))?;
    if !v.is_object() {
        return Err(OAuthError::invalid_client_metadata("the body must be a JSON object"));
    }
    Ok(v)
}

fn str_field<'a>(v: &'a Value, name: &str) -> Result<Option<&'a str>, OAuthError> {
    match v.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(OAuthError::invalid_client_metadata(format!("`{name}` must be a string"))),
    }
}

fn list_field(v: &Value, name: &str) -> Result<Option<Vec<String>>, OAuthError> {
    match v.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => {
            let mut out = Vec::new();
            for i in items {
                out.push(
                    i.as_str()
                        .ok_or_else(|| OAuthError::invalid_client_metadata(format!("`{name}` must be a list of strings")))?
                        .to_string(),
                );
            }
            Ok(Some(out))
        }
        Some(Value::String(s)) => Ok(Some(s.split_whitespace().map(str::to_string).collect())),
        Some(_) => Err(OAuthError::invalid_client_metadata(format!("`{name}` must be a list of strings"))),
    }
}

/// Grant types must be ours; the code flow needs a redirect URI; URIs must be absolute and fragment-free.
pub(crate) fn validate(grants: &[String], uris: &[String]) -> Result<(), OAuthError> {
    if grants.is_empty() {
        return Err(OAuthError::invalid_client_metadata("at least one grant type is required"));
    }
    if let Some(g) = grants.iter().find(|g| !GRANT_TYPES.contains(&g.as_str())) {
        return Err(OAuthError::invalid_client_metadata(format!(
            "grant type `{g}` is not supported (supported: {})",
            GRANT_TYPES.join(", ")
        )));
    }
    for u in uris {
        let ok = (u.starts_with("https://") || u.starts_with("http://") || u.contains(":/"))
            && !u.contains('#')
            && !u.contains(char::is_whitespace);
        if !ok {
            return Err(OAuthError::invalid_redirect_uri(format!("redirect URI `{u}` must be an absolute URI without a fragment")));
        }
    }
    if grants.iter().any(|g| g == "authorization_code") && uris.is_empty() {
        return Err(OAuthError::invalid_redirect_uri("the authorization_code grant needs at least one redirect URI"));
    }
    Ok(())
}

fn token_type(v: &Value, fields: &[&str], default: TokenFormat) -> Result<TokenFormat, OAuthError> {
    for f in fields {
        if let Some(t) = str_field(v, f)? {
            return TokenFormat::parse(t).ok_or_else(|| OAuthError::invalid_client_metadata(format!("`{f}` must be JWT or OPAQUE")));
        }
    }
    Ok(default)
}

pub(crate) async fn create(
    km: &KeyManager,
    name: &str,
    owner: &str,
    grants: Vec<String>,
    uris: Vec<String>,
    format: TokenFormat,
) -> Result<(OAuthClient, String), OAuthError> {
    validate(&grants, &uris)?;
    let secret = random_token();
    let client = OAuthClient {
        client_id: random_client_id(),
        secret_hash: sha256_hex(&secret),
        client_name: name.to_string(),
        owner: owner.to_string(),
        grant_types: grants,
        redirect_uris: uris,
        token_type: format,
        created_at: km.clock.unix_secs(),
    };
    km.db.create_client(&client).await?;
    tracing::info!(client_id = %client.client_id, owner, "oauth client registered");
    Ok((client, secret))
}

fn rfc7591(c: &OAuthClient, secret: Option<&str>) -> Value {
    let mut v = json!({
        "client_id": c.client_id,
        "client_name": c.client_name,
        "grant_types": c.grant_types,
        "redirect_uris": c.redirect_uris,
        "client_id_issued_at": c.created_at,
        "client_secret_expires_at": 0,
        "token_type_extension": c.token_type.as_str(),
        "ext_application_owner": c.owner,
    });
    if let Some(s) = secret {
        v["client_secret"] = Value::String(s.to_string());
    }
    v
}

fn respond(result: Result<(StatusCode, Value), OAuthError>) -> Response {
    match result {
        Ok((status, v)) => (status, Json(v)).into_response(),
        Err(e) => e.into_response(),
    }
}

/// WSO2: `{callbackUrl, clientName, owner, grantType, saasApp}` → `{clientId, clientSecret, ...}`.
pub async fn wso2_register(State(km): State<Arc<KeyManager>>, headers: HeaderMap, body: Bytes) -> Response {
    respond(
        async {
            let who = caller(&km, &headers).await?;
            let v = json_body(&body)?;
            let name = str_field(&v, "clientName")?
                .filter(|s| !s.trim().is_empty())
                .ok_or_else(|| OAuthError::invalid_client_metadata("`clientName` is required"))?;
            let owner = str_field(&v, "owner")?.unwrap_or(&who.username);
            if owner != who.username && !who.admin {
                return Err(OAuthError::forbidden("only an admin may register a client for another owner"));
            }
            let grants: Vec<String> =
                str_field(&v, "grantType")?.unwrap_or("client_credentials").split_whitespace().map(str::to_string).collect();
            // WSO2's clients send a callback even where no redirect happens (apictl: `www.google.lk`, with the
            // password grant); it means something only to a redirecting grant, so elsewhere one that is not an
            // absolute URI is dropped rather than refused. A redirecting grant still needs a valid one.
            let redirecting = grants.iter().any(|g| g == "authorization_code" || g == "implicit");
            let uris: Vec<String> =
                str_field(&v, "callbackUrl")?.filter(|u| redirecting || u.contains("://")).map(|u| vec![u.to_string()]).unwrap_or_default();
            let saas = v.get("saasApp").and_then(Value::as_bool).unwrap_or(false);
            let format = token_type(&v, &["tokenType"], km.cfg.default_format)?;
            let (c, secret) = create(&km, name, owner, grants, uris, format).await?;
            let json_string =
                json!({"grant_types": c.grant_types.join(" "), "redirect_uris": c.redirect_uris.join(" "), "client_name": c.client_name})
                    .to_string();
            Ok((
                StatusCode::OK,
                json!({
                    "clientId": c.client_id,
                    "clientName": c.client_name,
                    "callBackURL": c.redirect_uris.first(),
                    "clientSecret": secret,
                    "isSaasApplication": saas,
                    "appOwner": c.owner,
                    "jsonString": json_string,
                    "jsonAppAttribute": "{}",
                    "tokenType": c.token_type.as_str(),
                }),
            ))
        }
        .await,
    )
}

async fn admin(km: &KeyManager, headers: &HeaderMap) -> Result<Caller, OAuthError> {
    let who = caller(km, headers).await?;
    if !who.admin {
        return Err(OAuthError::forbidden("client management needs the admin role"));
    }
    Ok(who)
}

pub async fn register(State(km): State<Arc<KeyManager>>, headers: HeaderMap, body: Bytes) -> Response {
    respond(
        async {
            let who = admin(&km, &headers).await?;
            let v = json_body(&body)?;
            let name = str_field(&v, "client_name")?
                .filter(|s| !s.trim().is_empty())
                .ok_or_else(|| OAuthError::invalid_client_metadata("`client_name` is required"))?;
            let owner =
                str_field(&v, "ext_application_owner")?.or(str_field(&v, "application_owner")?).unwrap_or(&who.username).to_string();
            let grants = list_field(&v, "grant_types")?.unwrap_or_else(|| vec!["authorization_code".into()]);
            let uris = list_field(&v, "redirect_uris")?.unwrap_or_default();
            let format = token_type(&v, &["token_type_extension", "token_type"], km.cfg.default_format)?;
            let (c, secret) = create(&km, name, &owner, grants, uris, format).await?;
            Ok((StatusCode::CREATED, rfc7591(&c, Some(&secret))))
        }
        .await,
    )
}

pub async fn get(State(km): State<Arc<KeyManager>>, headers: HeaderMap, Path(client_id): Path<String>) -> Response {
    respond(
        async {
            admin(&km, &headers).await?;
            let c =
                km.db.get_client(&client_id).await?.ok_or_else(|| OAuthError::not_found(format!("client `{client_id}` does not exist")))?;
            Ok((StatusCode::OK, rfc7591(&c, None)))
        }
        .await,
    )
}

pub async fn update(State(km): State<Arc<KeyManager>>, headers: HeaderMap, Path(client_id): Path<String>, body: Bytes) -> Response {
    respond(
        async {
            admin(&km, &headers).await?;
            let v = json_body(&body)?;
            let mut c =
                km.db.get_client(&client_id).await?.ok_or_else(|| OAuthError::not_found(format!("client `{client_id}` does not exist")))?;
            if let Some(name) = str_field(&v, "client_name")? {
                if name.trim().is_empty() {
                    return Err(OAuthError::invalid_client_metadata("`client_name` must not be empty"));
                }
                c.client_name = name.to_string();
            }
            if let Some(g) = list_field(&v, "grant_types")? {
                c.grant_types = g;
            }
            if let Some(u) = list_field(&v, "redirect_uris")? {
                c.redirect_uris = u;
            }
            c.token_type = token_type(&v, &["token_type_extension", "token_type"], c.token_type)?;
            validate(&c.grant_types, &c.redirect_uris)?;
            km.db.update_client(&c).await?;
            km.forget_client(&c.client_id);
            Ok((StatusCode::OK, rfc7591(&c, None)))
        }
        .await,
    )
}

pub async fn delete(State(km): State<Arc<KeyManager>>, headers: HeaderMap, Path(client_id): Path<String>) -> Response {
    let result = async {
        admin(&km, &headers).await?;
        km.forget_client(&client_id);
        if !km.db.delete_client(&client_id).await? {
            return Err(OAuthError::not_found(format!("client `{client_id}` does not exist")));
        }
        let n = km.revoke_client(&client_id).await?;
        tracing::info!(client_id, revoked = n, "oauth client deleted");
        Ok(())
    }
    .await;
    match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

/// A new secret; every token issued under the old one is revoked.
pub async fn regenerate(State(km): State<Arc<KeyManager>>, headers: HeaderMap, Path(client_id): Path<String>) -> Response {
    respond(
        async {
            admin(&km, &headers).await?;
            let secret = random_token();
            km.db.set_client_secret(&client_id, &sha256_hex(&secret)).await.map_err(|e| match e {
                apim_store::StoreError::NotFound { .. } => OAuthError::not_found(format!("client `{client_id}` does not exist")),
                other => OAuthError::server(other),
            })?;
            km.revoke_client(&client_id).await?;
            let c =
                km.db.get_client(&client_id).await?.ok_or_else(|| OAuthError::not_found(format!("client `{client_id}` does not exist")))?;
            Ok((StatusCode::OK, rfc7591(&c, Some(&secret))))
        }
        .await,
    )
}
