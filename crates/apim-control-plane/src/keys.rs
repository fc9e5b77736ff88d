//! DevPortal application keys: OAuth clients generated at a key manager (the resident one or one registered in the
//! Admin API) or mapped from one, their grant types and callback, tokens, secrets and clean-up.

use std::sync::Arc;

use apim_domain::api::KeyMapping;
use apim_domain::keys::{ClientRequest, KeyError, KeyManagerClient, RegisteredKeyManager, RegistrationAuth, RegistrationProtocol};
use apim_store::{AdminStore, ApplicationStore};
use apim_wire::hub::EventKind;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::ControlPlane;
use crate::auth::Principal;
use crate::devportal::{APPS, GRANTS, RESIDENT, json_body, own_app};
use crate::error::{ApiError, Result};
use crate::model::event;

pub fn routes() -> axum::Router<Arc<ControlPlane>> {
    axum::Router::new()
        .route("/applications/{app_id}/generate-keys", post(generate_keys))
        .route("/applications/{app_id}/map-keys", post(map_keys))
        .route("/applications/{app_id}/oauth-keys", get(oauth_keys))
        .route("/applications/{app_id}/oauth-keys/{key_id}", get(get_keys).put(update_keys))
        .route("/applications/{app_id}/oauth-keys/{key_id}/clean-up", post(clean_up_keys))
        .route("/applications/{app_id}/oauth-keys/{key_id}/generate-token", post(generate_token))
        .route("/applications/{app_id}/oauth-keys/{key_id}/regenerate-secret", post(regenerate_secret))
        .route("/key-managers", get(devportal_key_managers))
}

pub fn admin_routes() -> axum::Router<Arc<ControlPlane>> {
    axum::Router::new().route("/key-managers/discover", post(discover))
}

/// Admin `POST /key-managers/discover` (multipart `url`, `type`): reads an OpenID Connect discovery document
/// (through the same guard as every user-given URL: no private or metadata addresses unless allowed, 10 s,
/// 10 MiB) and answers the key manager it describes, ready to be created: `valid` is whether it names an issuer.
async fn discover(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    multipart: std::result::Result<axum::extract::Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response> {
    cp.principal(&headers).await?.require(&["apim:admin", "apim:admin_operations", "apim:keymanagers_manage"])?;
    let mut form = multipart.map_err(|e| ApiError::bad_request(format!("expected multipart/form-data: {e}")))?;
    let (mut url, mut kind) = (None, None);
    while let Some(field) = form.next_field().await.map_err(|e| ApiError::bad_request(format!("malformed multipart body: {e}")))? {
        let name = field.name().unwrap_or("").to_string();
        let text = field.text().await.map_err(|e| ApiError::bad_request(format!("malformed multipart field `{name}`: {e}")))?;
        match name.as_str() {
            "url" => url = Some(text.trim().to_string()),
            "type" => kind = Some(text.trim().to_string()),
            _ => {}
        }
    }
    let url = url.filter(|u| !u.is_empty()).ok_or_else(|| ApiError::field("url", "is required: the discovery (well-known) URL"))?;
    let text = match cp.outbound().definition(&url).await {
        Ok(t) => t,
        Err(e) if e.is_refusal() => return Err(ApiError::field("url", e.to_string())),
        Err(e @ crate::fetch::OutboundError::NoTls) => return Err(ApiError::unavailable(e)),
        Err(e) => return Err(ApiError::bad_gateway(e.to_string())),
    };
    let Ok(Value::Object(d)) = serde_json::from_str::<Value>(&text) else {
        return Err(ApiError::bad_gateway(format!("`{url}` did not answer a JSON object (an OpenID Connect discovery document)")));
    };
    let s = |k: &str| d.get(k).and_then(Value::as_str).filter(|v| crate::model::valid_url(v)).map(str::to_string);
    let issuer = d.get("issuer").and_then(Value::as_str).filter(|i| !i.is_empty());
    let mut value = json!({"type": kind.filter(|k| !k.is_empty() && k != "false").unwrap_or_else(|| "custom".into()),
        "wellKnownEndpoint": url, "issuer": issuer, "tokenEndpoint": s("token_endpoint"), "revokeEndpoint": s("revocation_endpoint"),
        "introspectionEndpoint": s("introspection_endpoint"), "clientRegistrationEndpoint": s("registration_endpoint"),
        "userInfoEndpoint": s("userinfo_endpoint"), "authorizeEndpoint": s("authorization_endpoint"),
        "scopeManagementEndpoint": Value::Null, "enabled": true});
    if let Some(jwks) = s("jwks_uri") {
        value["certificates"] = json!({"type": "JWKS", "value": jwks});
    }
    let grants: Vec<&str> =
        d.get("grant_types_supported").and_then(Value::as_array).map(|g| g.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    if !grants.is_empty() {
        value["availableGrantTypes"] = json!(grants);
    }
    Ok(Json(json!({"valid": issuer.is_some(), "value": value})).into_response())
}

pub fn publisher_routes() -> axum::Router<Arc<ControlPlane>> {
    axum::Router::new().route("/key-managers", get(publisher_key_managers))
}

/// Every key manager, resident first, as its Admin-API document (the resident one's made up).
async fn all_key_managers(cp: &ControlPlane) -> Result<Vec<Value>> {
    let token_endpoint = match &cp.cfg.external_key_manager {
        Some(url) => format!("{}/oauth2/token", url.split('/').take(3).collect::<Vec<_>>().join("/")),
        None => cp.cfg.api_key_issuer.clone(),
    };
    let mut list = vec![json!({"id": "resident", "name": RESIDENT, "type": "default", "displayName": RESIDENT,
        "description": "This is the resident key manager", "enabled": cp.keys.is_some(), "tokenEndpoint": token_endpoint,
        "revokeEndpoint": token_endpoint.replace("/oauth2/token", "/oauth2/revoke"), "enableMapOAuthConsumerApps": false,
        "enableOAuthAppCreation": true, "clientRegistrationEndpoint": "resident",
        // Its client secrets are kept hashed: shown once, when made or regenerated.
        "enableTokenHashing": true})];
    let mut registered: Vec<Value> =
        cp.db.list_objects("key_manager").await?.into_iter().filter_map(|(_, _, d)| serde_json::from_str(&d).ok()).collect();
    registered.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    list.extend(registered);
    Ok(list)
}

/// DevPortal `GET /key-managers`: the enabled key managers an application can have keys of, in WSO2's
/// `KeyManagerInfo` shape, without their `additionalProperties` (they hold the control plane's credentials).
async fn devportal_key_managers(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(APPS)?;
    let list: Vec<Value> = all_key_managers(&cp)
        .await?
        .into_iter()
        .filter(|d| d["enabled"] != json!(false))
        .map(|d| {
            let flag = |f: &str, default: bool| d.get(f).and_then(Value::as_bool).unwrap_or(default);
            let can_create = flag("enableOAuthAppCreation", true) && d.get("clientRegistrationEndpoint").and_then(Value::as_str).is_some();
            json!({"id": d["id"], "name": d["name"], "type": d["type"], "displayName": d.get("displayName").unwrap_or(&d["name"]),
                "description": d.get("description").cloned().unwrap_or(json!("")), "enabled": true,
                "availableGrantTypes": d.get("availableGrantTypes").cloned().unwrap_or_else(|| json!(GRANTS)),
                "tokenEndpoint": d.get("tokenEndpoint"), "revokeEndpoint": d.get("revokeEndpoint"), "userInfoEndpoint": d.get("userInfoEndpoint"),
                "enableTokenGeneration": flag("enableTokenGeneration", true), "enableTokenEncryption": flag("enableTokenEncryption", false),
                "enableTokenHashing": flag("enableTokenHashing", false), "enableOAuthAppCreation": can_create,
                "enableMapOAuthConsumerApps": flag("enableMapOAuthConsumerApps", true), "applicationConfiguration": [],
                "alias": d.get("alias"), "tokenType": d.get("tokenType").cloned().unwrap_or(json!("DIRECT"))})
        })
        // WSO2's schema has no nullable fields here: what a key manager does not have is left out.
        .map(|mut info: Value| {
            if let Some(o) = info.as_object_mut() {
                o.retain(|_, v| !v.is_null());
            }
            info
        })
        .collect();
    Ok(Json(json!({"count": list.len(), "list": list})).into_response())
}

/// Publisher `GET /key-managers`: what an API's `keyManagers` may name.
async fn publisher_key_managers(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(crate::publisher::VIEW)?;
    let list: Vec<Value> = all_key_managers(&cp)
        .await?
        .into_iter()
        .map(|d| {
            json!({"id": d["id"], "name": d["name"], "type": d["type"], "displayName": d.get("displayName").unwrap_or(&d["name"]),
                   "description": d.get("description").cloned().unwrap_or(json!("")), "enabled": d["enabled"] != json!(false)})
        })
        .collect();
    Ok(Json(json!({"count": list.len(), "list": list})).into_response())
}

pub(crate) fn key_json(k: &KeyMapping) -> Value {
    let d: Value = serde_json::from_str(&k.document).unwrap_or_else(|_| json!({}));
    json!({
        "keyMappingId": k.id, "keyManager": k.key_manager, "consumerKey": k.consumer_key, "supportedGrantTypes": d.get("supportedGrantTypes"),
        "callbackUrl": d.get("callbackUrl").filter(|c| !c.is_null()).cloned().unwrap_or(json!("")), "keyState": "COMPLETED", "keyType": k.key_type,
        "mode": d.get("mode").and_then(Value::as_str).unwrap_or("CREATED"),
        "additionalProperties": d.get("additionalProperties").cloned().unwrap_or(json!({})),
    })
}

fn is_resident(km_name: &str) -> bool {
    km_name == RESIDENT || km_name == "default"
}

/// Whether the keys were mapped from a client made elsewhere (else this control plane made the client).
fn mapped(k: &KeyMapping) -> bool {
    serde_json::from_str::<Value>(&k.document).ok().and_then(|d| d.get("mode").cloned()) == Some(json!("MAPPED"))
}

/// A key manager registered in the Admin API, by name: 400 when there is none or it is disabled.
pub(crate) async fn registered_key_manager(cp: &ControlPlane, km_name: &str) -> Result<Value> {
    let km = cp
        .db
        .list_objects("key_manager")
        .await?
        .into_iter()
        .find(|(_, name, _)| name == km_name)
        .and_then(|(_, _, doc)| serde_json::from_str::<Value>(&doc).ok())
        .ok_or_else(|| ApiError::field("keyManager", format!("no key manager is named `{km_name}`")))?;
    if km.get("enabled").and_then(Value::as_bool) == Some(false) {
        return Err(ApiError::field("keyManager", format!("the key manager `{km_name}` is disabled")));
    }
    Ok(km)
}

/// How the control plane registers clients at a key manager from its Admin-API document: WSO2's connector
/// fields (`clientRegistrationEndpoint`, `tokenEndpoint`, `additionalProperties.Username`/`Password`), and an
/// RFC 7591 initial access token as `additionalProperties.initialAccessToken`.
fn registration_of(km_name: &str, doc: &Value) -> Result<RegisteredKeyManager> {
    let url = |field: &str| {
        doc.get(field).and_then(Value::as_str).filter(|u| !u.is_empty()).map(str::to_string).ok_or_else(|| {
            ApiError::field(
                "keyManager",
                format!("the key manager `{km_name}` has no {field}: map an existing client with map-keys instead"),
            )
        })
    };
    let extra = |k: &str| doc.pointer(&format!("/additionalProperties/{k}")).and_then(Value::as_str).filter(|v| !v.is_empty());
    let auth = match (extra("Username"), extra("Password"), extra("initialAccessToken")) {
        (_, _, Some(token)) => RegistrationAuth::Bearer(token.to_string()),
        (Some(u), Some(p), None) => RegistrationAuth::Basic { username: u.to_string(), password: p.to_string() },
        _ => RegistrationAuth::None,
    };
    let protocol = match doc.get("type").and_then(Value::as_str).unwrap_or("") {
        "WSO2-IS" | "WSO2-IS-7" | "default" => RegistrationProtocol::Wso2,
        _ => RegistrationProtocol::Rfc7591,
    };
    Ok(RegisteredKeyManager {
        name: km_name.to_string(),
        protocol,
        registration_endpoint: url("clientRegistrationEndpoint")?,
        token_endpoint: url("tokenEndpoint")?,
        auth,
    })
}

/// The key manager that makes (or made) clients under `km_name`: the resident one, or one registered in the
/// Admin API, reached through the application's connector.
async fn client_of(cp: &ControlPlane, km_name: &str) -> Result<Arc<dyn KeyManagerClient>> {
    if is_resident(km_name) {
        return key_manager(cp).cloned();
    }
    let doc = registered_key_manager(cp, km_name).await?;
    if doc.get("enableOAuthAppCreation").and_then(Value::as_bool) == Some(false) {
        return Err(ApiError::field("keyManager", format!("the key manager `{km_name}` does not allow creating clients: use map-keys")));
    }
    let registered = registration_of(km_name, &doc)?;
    let connector =
        cp.cfg.key_manager_connector.as_ref().ok_or_else(|| {
            ApiError::unavailable(format!("this node cannot reach key managers registered in the Admin API (`{km_name}`)"))
        })?;
    connector.0.connect(&registered).map_err(key_error)
}

/// Deletes the OAuth clients this control plane made for keys that are gone (a deleted application's), each at
/// the key manager that made it, which revokes their tokens; a failure is logged, not fatal: the keys are gone.
pub(crate) async fn delete_clients(cp: &ControlPlane, app_id: &str, keys: &[KeyMapping]) {
    for k in keys.iter().filter(|k| !mapped(k)) {
        let result = match client_of(cp, &k.key_manager).await {
            Ok(km) => km.delete_client(&k.consumer_key).await.map_err(|e| e.to_string()),
            Err(e) => Err(e.description),
        };
        if let Err(e) = result {
            tracing::warn!(application = %app_id, consumer_key = %k.consumer_key, key_manager = %k.key_manager,
                "could not delete the OAuth client of a deleted application: {e}");
        }
    }
}

fn key_error(e: KeyError) -> ApiError {
    match e {
        KeyError::Invalid(m) => ApiError::bad_request(m),
        KeyError::NotFound(m) => ApiError::not_found(m),
        KeyError::Unavailable(m) => ApiError::unavailable(m),
    }
}

fn key_manager(cp: &ControlPlane) -> Result<&crate::SharedKeyManager> {
    cp.keys.as_ref().ok_or_else(|| {
        ApiError::unavailable("no key manager is configured for this node: run one in-process or set [apim.key_manager] service_url")
    })
}

/// WSO2's `map-keys`: an OAuth client that a key manager registered in the Admin API already issued becomes this
/// application's keys, so gateways accept that key manager's tokens for it. The resident key manager's clients are
/// made with `generate-keys` instead.
async fn map_keys(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Path(id): Path<String>, body: Bytes) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(APPS)?;
    own_app(&cp, &who, &id).await?;
    let v = json_body(&body)?;
    let text = |f: &str| v.get(f).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty());
    let key_type = text("keyType").unwrap_or("");
    if !apim_wire::KeyType::from(key_type).is_known() {
        return Err(ApiError::field("keyType", "must be PRODUCTION or SANDBOX"));
    }
    let Some(consumer_key) = text("consumerKey").filter(|k| k.len() <= 255) else {
        return Err(ApiError::field("consumerKey", "is required: the client id the key manager issued (at most 255 characters)"));
    };
    let km_name = text("keyManager").unwrap_or(RESIDENT);
    if km_name == RESIDENT || km_name == "default" {
        return Err(ApiError::field("keyManager", "the resident key manager's keys are made with generate-keys, not mapped"));
    }
    let km = registered_key_manager(&cp, km_name).await?;
    if km.get("enableMapOAuthConsumerApps").and_then(Value::as_bool) == Some(false) {
        return Err(ApiError::field("keyManager", format!("the key manager `{km_name}` does not allow mapping existing clients")));
    }
    let mappings = cp.db.all_key_mappings().await?;
    if mappings.iter().any(|k| k.application_id == id && k.key_type == key_type && k.key_manager == km_name) {
        return Err(ApiError::conflict(format!("the application already has {key_type} keys of `{km_name}`")));
    }
    if mappings.iter().any(|k| k.consumer_key == consumer_key && k.key_manager == km_name) {
        return Err(ApiError::conflict(format!("the client `{consumer_key}` of `{km_name}` is mapped to an application already")));
    }
    let mapping = KeyMapping {
        id: uuid::Uuid::new_v4().to_string(),
        application_id: id.clone(),
        key_type: key_type.to_string(),
        key_manager: km_name.to_string(),
        consumer_key: consumer_key.to_string(),
        document: json!({"supportedGrantTypes": [], "callbackUrl": null, "mode": "MAPPED"}).to_string(),
        created_at: cp.clock.unix_secs(),
    };
    let ev = event(
        EventKind::ApplicationRegistrationCreate,
        json!({"applicationId": id, "applicationUUID": id, "consumerKey": consumer_key, "keyType": key_type, "keyManager": km_name}),
    );
    cp.db.add_key_mapping(&mapping, &[ev]).await?;
    Ok(Json(key_json(&mapping)).into_response())
}

async fn generate_keys(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Path(id): Path<String>, body: Bytes) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(APPS)?;
    let app = own_app(&cp, &who, &id).await?;
    let v = json_body(&body)?;
    let key_type = v.get("keyType").and_then(Value::as_str).unwrap_or("");
    if !apim_wire::KeyType::from(key_type).is_known() {
        return Err(ApiError::field("keyType", "must be PRODUCTION or SANDBOX"));
    }
    let km_name = match v.get("keyManager").and_then(Value::as_str).map(str::trim) {
        None | Some("") => RESIDENT,
        Some(n) if is_resident(n) => RESIDENT,
        Some(n) => n,
    };
    let additional = match v.get("additionalProperties") {
        None | Some(Value::Null) => json!({}),
        Some(Value::Object(o)) => Value::Object(o.clone()),
        Some(_) => return Err(ApiError::field("additionalProperties", "must be an object")),
    };
    let grants: Vec<String> = match v.get("grantTypesToBeSupported") {
        None | Some(Value::Null) => vec!["client_credentials".into()],
        Some(Value::Array(a)) => a
            .iter()
            .map(|g| g.as_str().map(str::to_string).ok_or_else(|| ApiError::field("grantTypesToBeSupported", "must be a list of strings")))
            .collect::<Result<_>>()?,
        Some(_) => return Err(ApiError::field("grantTypesToBeSupported", "must be a list of strings")),
    };
    if let Some(g) = grants.iter().find(|g| !GRANTS.contains(&g.as_str())) {
        return Err(ApiError::field("grantTypesToBeSupported", format!("`{g}` is not one of {}", GRANTS.join(", "))));
    }
    let callback = v.get("callbackUrl").and_then(Value::as_str).filter(|c| !c.is_empty()).map(str::to_string);
    if let Some(c) = &callback
        && !crate::model::valid_url(c)
    {
        return Err(ApiError::field("callbackUrl", format!("`{c}` is not an http or https URL")));
    }
    let scopes: Vec<String> = v
        .get("scopes")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default();
    let same_km = |k: &KeyMapping| if is_resident(km_name) { is_resident(&k.key_manager) } else { k.key_manager == km_name };
    if cp.db.key_mappings(&id).await?.iter().any(|k| k.key_type == key_type && same_km(k)) {
        return Err(ApiError::conflict(format!("the application already has {key_type} keys of `{km_name}`")));
    }
    let km = client_of(&cp, km_name).await?;
    let keys = km
        .register(ClientRequest {
            name: format!("{}_{}_{}", app.owner, app.name, key_type),
            owner: app.owner.clone(),
            grant_types: grants.clone(),
            callback_url: callback.clone(),
            token_type: app.token_type.clone(),
        })
        .await
        .map_err(key_error)?;
    let mapping = KeyMapping {
        id: uuid::Uuid::new_v4().to_string(),
        application_id: id.clone(),
        key_type: key_type.to_string(),
        key_manager: km_name.into(),
        consumer_key: keys.client_id.clone(),
        document: json!({"supportedGrantTypes": grants, "callbackUrl": callback, "mode": "CREATED", "additionalProperties": additional})
            .to_string(),
        created_at: cp.clock.unix_secs(),
    };
    let ev = event(
        EventKind::ApplicationRegistrationCreate,
        json!({"applicationId": id, "applicationUUID": id, "consumerKey": keys.client_id, "keyType": key_type, "keyManager": km_name}),
    );
    if let Err(e) = cp.db.add_key_mapping(&mapping, &[ev]).await {
        // Do not leave an orphan client at the key manager.
        let _ = km.delete_client(&keys.client_id).await;
        return Err(e.into());
    }
    let mut out = key_json(&mapping);
    out["consumerSecret"] = json!(keys.client_secret);
    if grants.iter().any(|g| g == "client_credentials") {
        let t = km.client_credentials_token(&keys.client_id, &keys.client_secret, &scopes, None).await.map_err(key_error)?;
        out["token"] =
            json!({"accessToken": t.access_token, "tokenScopes": t.scope.split(' ').collect::<Vec<_>>(), "validityTime": t.expires_in});
    }
    Ok(Json(out).into_response())
}

async fn oauth_keys(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(APPS)?;
    own_app(&cp, &who, &id).await?;
    let list: Vec<Value> = cp.db.key_mappings(&id).await?.iter().map(key_json).collect();
    Ok(Json(json!({"count": list.len(), "list": list})).into_response())
}

/// Keys whose client this control plane made, with the key manager that made it (tokens and secrets of mapped
/// keys are their own key manager's business).
async fn made_mapping(cp: &ControlPlane, who: &Principal, app_id: &str, key_id: &str) -> Result<(KeyMapping, Arc<dyn KeyManagerClient>)> {
    let k = own_mapping(cp, who, app_id, key_id).await?;
    if mapped(&k) {
        return Err(ApiError::bad_request(format!(
            "keys {key_id} are a client mapped from the key manager `{}`: ask it for tokens and secrets",
            k.key_manager
        )));
    }
    let km = client_of(cp, &k.key_manager).await?;
    Ok((k, km))
}

/// One of the application's key mappings, whichever key manager made it.
async fn own_mapping(cp: &ControlPlane, who: &Principal, app_id: &str, key_id: &str) -> Result<KeyMapping> {
    own_app(cp, who, app_id).await?;
    cp.db
        .key_mappings(app_id)
        .await?
        .into_iter()
        .find(|k| k.id == key_id)
        .ok_or_else(|| ApiError::not_found(format!("keys {key_id} of application {app_id} not found")))
}

async fn get_keys(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Path((id, key_id)): Path<(String, String)>) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(APPS)?;
    Ok(Json(key_json(&own_mapping(&cp, &who, &id, &key_id).await?)).into_response())
}

/// `PUT …/oauth-keys/{keyMappingId}`: the keys' grant types (`supportedGrantTypes`) and callback URL
/// (`callbackUrl`; empty: none), each kept when absent, changed at the key manager that made them (the resident
/// one, through its DCR update) and then in the mapping. WSO2 writes no event for it: gateways read neither.
async fn update_keys(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Path((id, key_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(APPS)?;
    let (k, km) = made_mapping(&cp, &who, &id, &key_id).await?;
    let v = json_body(&body)?;
    let mut doc: Value = serde_json::from_str(&k.document).unwrap_or_else(|_| json!({}));
    let grants: Vec<String> = match v.get("supportedGrantTypes") {
        None | Some(Value::Null) => doc
            .get("supportedGrantTypes")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|g| g.as_str().map(str::to_string).ok_or_else(|| ApiError::field("supportedGrantTypes", "must be a list of strings")))
            .collect::<Result<_>>()?,
        Some(_) => return Err(ApiError::field("supportedGrantTypes", "must be a list of strings")),
    };
    if grants.is_empty() {
        return Err(ApiError::field("supportedGrantTypes", "name at least one grant type"));
    }
    if let Some(g) = grants.iter().find(|g| !GRANTS.contains(&g.as_str())) {
        return Err(ApiError::field("supportedGrantTypes", format!("`{g}` is not one of {}", GRANTS.join(", "))));
    }
    let callback: Option<String> = match v.get("callbackUrl") {
        None | Some(Value::Null) => doc.get("callbackUrl").and_then(Value::as_str).filter(|c| !c.is_empty()).map(str::to_string),
        Some(Value::String(c)) if c.is_empty() => None,
        Some(Value::String(c)) if crate::model::valid_url(c) => Some(c.clone()),
        Some(Value::String(c)) => return Err(ApiError::field("callbackUrl", format!("`{c}` is not an http or https URL"))),
        Some(_) => return Err(ApiError::field("callbackUrl", "must be a string")),
    };
    if callback.is_none() && grants.iter().any(|g| g == "authorization_code") {
        return Err(ApiError::field("callbackUrl", "the authorization_code grant needs a callback URL"));
    }
    km.update_client(&k.consumer_key, &grants, callback.as_deref()).await.map_err(key_error)?;
    doc["supportedGrantTypes"] = json!(grants);
    doc["callbackUrl"] = json!(callback);
    let updated = KeyMapping { document: doc.to_string(), ..k };
    if !cp.db.set_key_mapping_document(&updated.id, &updated.document).await? {
        return Err(ApiError::not_found(format!("keys {key_id} of application {id} not found")));
    }
    Ok(Json(key_json(&updated)).into_response())
}

/// `POST …/oauth-keys/{keyMappingId}/clean-up`: the keys go (WSO2 offers it to clear a generation that failed
/// half way; here none is left half made, so it removes whole keys). A client the resident key manager made is
/// deleted there first (gone already is fine, so a retry finishes the job), then the mapping, with WSO2's
/// `REMOVE_APPLICATION_KEYMAPPING` event; mapped clients of other key managers stay theirs.
async fn clean_up_keys(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Path((id, key_id)): Path<(String, String)>,
) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(APPS)?;
    let k = own_mapping(&cp, &who, &id, &key_id).await?;
    if !mapped(&k) {
        match client_of(&cp, &k.key_manager).await?.delete_client(&k.consumer_key).await {
            Ok(()) | Err(KeyError::NotFound(_)) => {}
            Err(e) => return Err(key_error(e)),
        }
    }
    let ev = event(
        EventKind::RemoveApplicationKeymapping,
        json!({"applicationId": id, "applicationUUID": id, "consumerKey": k.consumer_key, "keyType": k.key_type, "keyManager": k.key_manager}),
    );
    if !cp.db.remove_key_mapping(&k.id, &[ev]).await? {
        return Err(ApiError::not_found(format!("keys {key_id} of application {id} not found")));
    }
    tracing::info!(application_id = %id, key_mapping = %key_id, user = %who.username, "application keys cleaned up");
    Ok(StatusCode::OK.into_response())
}

async fn generate_token(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Path((id, key_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(APPS)?;
    let (k, km) = made_mapping(&cp, &who, &id, &key_id).await?;
    let v = json_body(&body)?;
    let secret = v
        .get("consumerSecret")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::field("consumerSecret", "is required"))?;
    let scopes: Vec<String> = v
        .get("scopes")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default();
    // WSO2's `validityPeriod`: seconds; the key manager may give less (ours: at most its configured lifetime).
    let lifetime = match v.get("validityPeriod") {
        None | Some(Value::Null) => None,
        Some(p) => match p.as_i64() {
            Some(secs) if (1..=315_360_000).contains(&secs) => Some(secs),
            _ => return Err(ApiError::field("validityPeriod", format!("`{p}` is not a number of seconds from 1 to 315360000"))),
        },
    };
    let t = km.client_credentials_token(&k.consumer_key, secret, &scopes, lifetime).await.map_err(key_error)?;
    Ok(Json(json!({"accessToken": t.access_token, "tokenScopes": t.scope.split(' ').collect::<Vec<_>>(), "validityTime": t.expires_in}))
        .into_response())
}

async fn regenerate_secret(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Path((id, key_id)): Path<(String, String)>,
) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(APPS)?;
    let (k, km) = made_mapping(&cp, &who, &id, &key_id).await?;
    let secret = km.regenerate_secret(&k.consumer_key).await.map_err(key_error)?;
    Ok(Json(json!({"consumerKey": k.consumer_key, "consumerSecret": secret})).into_response())
}
