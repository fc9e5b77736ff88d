//! What the portals read before anything else, and who the caller is: `GET /settings` on the Publisher,
//! DevPortal and Admin APIs (anonymous callers get what a login page needs: the scopes to ask for), the
//! DevPortal's application attributes and password change, and the role checks (`HEAD /roles/{roleId}`,
//! `HEAD /me/roles/{roleId}`). Every field answered is true of this node; fields for features it lacks are
//! either absent or say the feature is off.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, head, post};
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, Result};
use crate::{ControlPlane, Environment, spec};

pub fn publisher_routes() -> axum::Router<Arc<ControlPlane>> {
    axum::Router::new()
        .route("/settings", get(publisher_settings))
        .route("/roles/{role_id}", head(publisher_role_exists))
        .route("/me/roles/{role_id}", head(caller_has_role))
}

pub fn devportal_routes() -> axum::Router<Arc<ControlPlane>> {
    axum::Router::new()
        .route("/settings", get(devportal_settings))
        .route("/settings/application-attributes", get(application_attributes))
        .route("/me/change-password", post(change_password))
}

pub fn admin_routes() -> axum::Router<Arc<ControlPlane>> {
    axum::Router::new().route("/settings", get(admin_settings)).route("/roles/{role_id}", head(admin_role_exists))
}

/// The one gateway type this node's gateways are (WSO2's Synapse gateway is `Regular`).
const GATEWAY_TYPES: [&str; 1] = ["Regular"];
/// WSO2's default `PasswordJavaRegEx`, enforced by `POST /me/change-password`.
const PASSWORD_PATTERN: &str = r"^[\S]{5,30}$";

// === the scopes each API's document declares ===

#[derive(Deserialize)]
struct Document {
    components: Components,
}

#[derive(Deserialize)]
struct Components {
    #[serde(rename = "securitySchemes")]
    security_schemes: BTreeMap<String, Scheme>,
}

#[derive(Deserialize)]
struct Scheme {
    #[serde(default)]
    flows: BTreeMap<String, Flow>,
}

#[derive(Deserialize)]
struct Flow {
    #[serde(default)]
    scopes: BTreeMap<String, String>,
}

/// Every scope of the document's OAuth2 flows, sorted: what WSO2 answers as `scopes` (the login page asks for
/// all of them and the key manager grants what the user's roles allow).
fn scopes_of(doc: &'static str, cell: &'static OnceLock<Vec<String>>) -> &'static [String] {
    cell.get_or_init(|| {
        let Ok(d) = serde_json::from_str::<Document>(doc) else { return Vec::new() };
        let mut all: Vec<String> =
            d.components.security_schemes.into_values().flat_map(|s| s.flows.into_values()).flat_map(|f| f.scopes.into_keys()).collect();
        all.sort();
        all.dedup();
        all
    })
}

static PUBLISHER_SCOPES: OnceLock<Vec<String>> = OnceLock::new();
static DEVPORTAL_SCOPES: OnceLock<Vec<String>> = OnceLock::new();
static ADMIN_SCOPES: OnceLock<Vec<String>> = OnceLock::new();

// === Publisher ===

/// WSO2's Publisher `Settings`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PublisherSettings {
    scopes: &'static [String],
    gateway_types: [&'static str; 1],
    #[serde(flatten)]
    signed_in: Option<PublisherDetails>,
}

/// What only a publisher or creator is told.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PublisherDetails {
    #[serde(skip_serializing_if = "Option::is_none")]
    devportal_url: Option<String>,
    environment: Vec<EnvironmentInfo>,
    monetization_attributes: [(); 0],
    external_stores_enabled: bool,
    doc_visibility_enabled: bool,
    portal_configuration_only_mode_enabled: bool,
    cross_tenant_subscription_enabled: bool,
    default_advance_policy: &'static str,
    default_subscription_policy: &'static str,
    authorization_header: &'static str,
    /// No custom property is configured as mandatory.
    custom_properties: [(); 0],
}

/// WSO2's `Environment` as the Publisher's settings list it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EnvironmentInfo {
    id: String,
    name: String,
    display_name: String,
    #[serde(rename = "type")]
    kind: String,
    gateway_type: &'static str,
    server_url: String,
    provider: &'static str,
    show_in_api_console: bool,
    vhosts: [Vhost; 1],
    #[serde(rename = "endpointURIs")]
    endpoint_uris: Vec<EndpointUri>,
    additional_properties: [(); 0],
}

/// WSO2's `VHost`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Vhost {
    host: String,
    http_context: String,
    http_port: u16,
    https_port: u16,
    ws_port: u16,
    ws_host: String,
    wss_port: u16,
    wss_host: String,
}

/// WSO2's `GatewayEnvironmentProtocolURI`: the URL an API's context is appended to.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EndpointUri {
    protocol: &'static str,
    #[serde(rename = "endpointURI")]
    endpoint_uri: String,
}

impl EnvironmentInfo {
    fn of(e: &Environment) -> EnvironmentInfo {
        let p = &e.ports;
        let url = |scheme: &'static str| EndpointUri { protocol: scheme, endpoint_uri: e.url(scheme, &e.vhost) };
        EnvironmentInfo {
            id: e.id.clone(),
            name: e.name.clone(),
            display_name: e.name.clone(),
            kind: e.kind.clone(),
            gateway_type: GATEWAY_TYPES[0],
            server_url: e.server_url.clone(),
            provider: "wso2",
            show_in_api_console: e.show_in_api_console,
            vhosts: [Vhost {
                host: e.vhost.clone(),
                http_context: p.http_context.clone(),
                http_port: p.http,
                https_port: p.https,
                ws_port: p.ws,
                ws_host: e.vhost.clone(),
                wss_port: p.wss,
                wss_host: e.vhost.clone(),
            }],
            endpoint_uris: vec![url("http"), url("https"), url("ws"), url("wss")],
            additional_properties: [],
        }
    }
}

const PUBLISHER_VIEW: &[&str] = &["apim:api_view", "apim:publisher_settings", "apim:api_create", "apim:api_publish", "apim:api_manage"];

async fn publisher_settings(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap) -> Result<Response> {
    let who = cp.optional_principal(&headers).await?;
    let signed_in = match who {
        Some(p) if PUBLISHER_VIEW.iter().any(|s| p.has(s)) => Some(PublisherDetails {
            devportal_url: cp.cfg.devportal_url.clone(),
            environment: cp.environments().await?.iter().map(EnvironmentInfo::of).collect(),
            monetization_attributes: [],
            external_stores_enabled: false,
            // Documents are OWNER_ONLY, PRIVATE or API_LEVEL in the DevPortal (docs.rs).
            doc_visibility_enabled: true,
            portal_configuration_only_mode_enabled: false,
            cross_tenant_subscription_enabled: false,
            // What an API gets when its document names no policy (model.rs).
            default_advance_policy: "Unlimited",
            default_subscription_policy: "Unlimited",
            authorization_header: "Authorization",
            custom_properties: [],
        }),
        _ => None,
    };
    let settings = PublisherSettings { scopes: scopes_of(spec::PUBLISHER_DOC, &PUBLISHER_SCOPES), gateway_types: GATEWAY_TYPES, signed_in };
    Ok(Json(settings).into_response())
}

// === DevPortal ===

/// WSO2's DevPortal `Settings`; the DevPortal answers it whole to anyone (it renders nothing before it).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DevportalSettings {
    grant_types: &'static [&'static str],
    scopes: &'static [String],
    application_sharing_enabled: bool,
    map_existing_auth_apps: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    api_gateway_endpoint: Option<String>,
    monetization_enabled: bool,
    recommendation_enabled: bool,
    #[serde(rename = "IsUnlimitedTierPaid")]
    is_unlimited_tier_paid: bool,
    identity_provider: IdentityProvider,
    #[serde(rename = "IsAnonymousModeEnabled")]
    is_anonymous_mode_enabled: bool,
    #[serde(rename = "IsPasswordChangeEnabled")]
    is_password_change_enabled: bool,
    user_store_password_pattern: &'static str,
    password_policy_pattern: &'static str,
    /// -1: no password policy beyond the pattern.
    password_policy_min_length: i32,
    password_policy_max_length: i32,
}

#[derive(Serialize)]
struct IdentityProvider {
    external: bool,
}

async fn devportal_settings(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap) -> Result<Response> {
    // Bad credentials are still refused; none are fine.
    cp.optional_principal(&headers).await?;
    // WSO2's `apiGatewayEndpoint`: the first environment's HTTP and HTTPS URLs, comma-separated.
    let gateway = cp.environments().await?.first().map(|e| {
        let p = &e.ports;
        format!("http://{h}:{}{c},https://{h}:{}{c}", p.http, p.https, h = e.vhost, c = p.http_context)
    });
    let settings = DevportalSettings {
        grant_types: &crate::devportal::GRANTS,
        scopes: scopes_of(spec::DEVPORTAL_DOC, &DEVPORTAL_SCOPES),
        application_sharing_enabled: false,
        map_existing_auth_apps: false,
        api_gateway_endpoint: gateway,
        monetization_enabled: false,
        recommendation_enabled: false,
        is_unlimited_tier_paid: false,
        // Users sign in at this deployment's own key manager.
        identity_provider: IdentityProvider { external: false },
        // Public APIs are listed to callers without credentials (devportal.rs `visible`).
        is_anonymous_mode_enabled: true,
        is_password_change_enabled: true,
        user_store_password_pattern: PASSWORD_PATTERN,
        password_policy_pattern: PASSWORD_PATTERN,
        password_policy_min_length: -1,
        password_policy_max_length: -1,
    };
    Ok(Json(settings).into_response())
}

/// No application attributes are configured: WSO2's `ApplicationAttributeList`, empty.
async fn application_attributes(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap) -> Result<Response> {
    cp.principal(&headers).await?.require(&["apim:subscribe", "apim:app_manage"])?;
    Ok(Json(serde_json::json!({"count": 0, "list": []})).into_response())
}

/// WSO2's `CurrentAndNewPasswords`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PasswordChange {
    current_password: Option<String>,
    new_password: Option<String>,
}

/// Whether `p` matches [`PASSWORD_PATTERN`]: 5 to 30 characters, none of them whitespace.
fn password_acceptable(p: &str) -> bool {
    (5..=30).contains(&p.chars().count()) && !p.chars().any(char::is_whitespace)
}

async fn change_password(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, body: Bytes) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(&["apim:subscribe"])?;
    let change: PasswordChange = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("the body is not a CurrentAndNewPasswords object: {e}")))?;
    let current = change.current_password.filter(|p| !p.is_empty()).ok_or_else(|| ApiError::field("currentPassword", "is required"))?;
    let new = change.new_password.filter(|p| !p.is_empty()).ok_or_else(|| ApiError::field("newPassword", "is required"))?;
    if !password_acceptable(&new) {
        return Err(ApiError::field("newPassword", format!("must match {PASSWORD_PATTERN}: 5 to 30 characters, no whitespace")));
    }
    if cp.users.authenticate(&who.username, &current).await?.is_none() {
        return Err(ApiError::field("currentPassword", "is not the user's password"));
    }
    let user = apim_store::UserStore::find_user(cp.users.db(), &who.username)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("user {} not found", who.username)))?;
    let hash = tokio::task::spawn_blocking(move || apim_domain::password::hash(&new))
        .await
        .map_err(ApiError::unavailable)?
        .map_err(ApiError::unavailable)?;
    apim_store::UserStore::set_password_hash(cp.users.db(), &user.id, &hash).await?;
    // The old password must stop working here at once, not when the cache entry expires.
    cp.users.forget(&who.username);
    tracing::info!(user = %who.username, "password changed");
    Ok(StatusCode::OK.into_response())
}

// === Admin ===

/// WSO2's Admin `Settings`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AdminSettings {
    scopes: &'static [String],
    #[serde(flatten)]
    signed_in: Option<AdminDetails>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AdminDetails {
    gateway_types: [&'static str; 1],
    key_manager_configuration: [ConnectorDefinition; 1],
    analytics_enabled: bool,
    transaction_counter_enable: bool,
}

/// A key-manager connector type and the fields its configuration takes.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ConnectorDefinition {
    #[serde(rename = "type")]
    kind: &'static str,
    display_name: &'static str,
    default_consumer_key_claim: &'static str,
    default_scopes_claim: &'static str,
    configurations: [(); 0],
    endpoint_configurations: [(); 0],
}

/// The one connector that issues keys here: the resident key manager (WSO2's type `default`), whose JWTs name
/// the client in `azp` and the scopes in `scope`. It takes no configuration through the Admin API.
const RESIDENT_CONNECTOR: ConnectorDefinition = ConnectorDefinition {
    kind: "default",
    display_name: "Resident Key Manager",
    default_consumer_key_claim: "azp",
    default_scopes_claim: "scope",
    configurations: [],
    endpoint_configurations: [],
};

async fn admin_settings(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap) -> Result<Response> {
    let who = cp.optional_principal(&headers).await?;
    let signed_in = who.filter(|p| p.has("apim:admin") || p.has("apim:admin_settings")).map(|_| AdminDetails {
        gateway_types: GATEWAY_TYPES,
        key_manager_configuration: [RESIDENT_CONNECTOR],
        analytics_enabled: false,
        transaction_counter_enable: false,
    });
    Ok(Json(AdminSettings { scopes: scopes_of(spec::ADMIN_DOC, &ADMIN_SCOPES), signed_in }).into_response())
}

// === roles ===

/// A role name from WSO2's `roleId`: the name, Base64URL-encoded (padding optional).
fn role_name(role_id: &str) -> Result<String> {
    let trimmed = role_id.trim_end_matches('=');
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(trimmed)
        .map_err(|_| ApiError::field("roleId", "must be a role name encoded as Base64URL"))?;
    let name = String::from_utf8(bytes).map_err(|_| ApiError::field("roleId", "must encode a UTF-8 role name"))?;
    // WSO2's own example encodes a trailing tab; no role name ends in whitespace.
    Ok(name.trim().to_string())
}

async fn role_exists(cp: &ControlPlane, role_id: &str) -> Result<Response> {
    let name = role_name(role_id)?;
    let roles = apim_store::UserStore::list_roles(cp.users.db()).await?;
    if roles.contains(&name) {
        return Ok(StatusCode::OK.into_response());
    }
    Err(ApiError::not_found(format!("role `{name}` not found")))
}

async fn publisher_role_exists(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Path(role_id): Path<String>) -> Result<Response> {
    cp.principal(&headers).await?.require(&["apim:api_create", "apim:api_publish", "apim:api_manage"])?;
    role_exists(&cp, &role_id).await
}

async fn admin_role_exists(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Path(role_id): Path<String>) -> Result<Response> {
    cp.principal(&headers).await?.require(&["apim:admin", "apim:role_manage"])?;
    role_exists(&cp, &role_id).await
}

async fn caller_has_role(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Path(role_id): Path<String>) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(&["apim:api_create", "apim:api_manage"])?;
    let name = role_name(&role_id)?;
    if who.roles().contains(&name) {
        return Ok(StatusCode::OK.into_response());
    }
    Err(ApiError::not_found(format!("the user has no role `{name}`")))
}
