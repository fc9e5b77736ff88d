//! Control plane role: the Publisher, DevPortal and Admin REST APIs, the event hub (`hub`: the event log as a
//! gRPC stream) and the internal data service (`/internal/data/v1`) other nodes sync from. Every mutation writes
//! its WSO2 event into the store's outbox in the same transaction.
//!
//! **Architecture Invariant:** depends on the store's repository traits, never on another role's crate. Bearer
//! tokens are checked through `apim_domain::scopes::TokenValidator`, which the wiring provides.

#![forbid(unsafe_code)]

mod admin;
mod admin_ops;
mod analytics;
mod apikeys;
mod app_transfer;
mod archive;
mod auth;
mod categories;
mod certificates;
mod client_certs;
mod devportal;
mod docs;
mod endpoints;
mod error;
mod fetch;
mod gateway_nodes;
pub mod hub;
mod import_export;
mod internal;
mod keys;
mod model;
mod openapi;
mod operation_policies;
mod policy_transfer;
mod products;
mod project;
mod publisher;
mod quota;
mod runtime;
mod scopes;
mod search;
mod secrets;
mod settings;
mod signup;
pub mod spec;
mod throttling;
mod traffic_managers;

use std::sync::Arc;

use apim_config::DeploymentConfig;
use apim_domain::clock::Clock;
use apim_store::{Db, UserAuth};

pub use auth::SharedValidator;
pub use error::ApiError;
pub use internal::GATEWAY_SILENCE;
pub use runtime::ApiScope;

/// A gateway environment deployments can target.
#[derive(Clone, Debug, Default)]
pub struct Environment {
    /// For environments from deployment.toml, the name (they cannot change).
    pub id: String,
    pub name: String,
    pub kind: String,
    pub vhost: String,
    /// Where the environment's gateways take API traffic on `vhost`.
    pub ports: GatewayPorts,
    /// The gateways' management URL (`service_url`), as WSO2's `serverUrl`; empty when unknown.
    pub server_url: String,
    /// `display_in_api_console`: the API consoles may send requests to it.
    pub show_in_api_console: bool,
}

impl Environment {
    /// Where the environment's gateways take `scheme` (http, https, ws, wss) traffic on `host` (its vhost or the
    /// one a deployment named): the base an API's path is appended to. Every gateway URL answered (settings,
    /// an API's `endpointURLs`, a definition's `servers`) is made here.
    pub(crate) fn url(&self, scheme: &str, host: &str) -> String {
        let p = &self.ports;
        let port = match scheme {
            "http" => p.http,
            "ws" => p.ws,
            "wss" => p.wss,
            _ => p.https,
        };
        format!("{scheme}://{host}:{port}{}", p.http_context)
    }
}

/// A virtual host's traffic ports and context (WSO2's `VHost`), as clients reach the gateways.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayPorts {
    pub http_context: String,
    pub http: u16,
    pub https: u16,
    pub ws: u16,
    pub wss: u16,
}

impl Default for GatewayPorts {
    /// WSO2's gateway ports without an offset.
    fn default() -> Self {
        use apim_config::ports;
        GatewayPorts { http_context: String::new(), http: ports::GW_HTTP, https: ports::GW_HTTPS, ws: ports::GW_WS, wss: ports::GW_WSS }
    }
}

impl GatewayPorts {
    /// WSO2's defaults moved by `[server] offset`, overridden by the ports (and the path, as the context) of the
    /// endpoint URLs deployment.toml gives.
    fn of(e: &apim_config::GatewayEnvironment, offset: u16) -> GatewayPorts {
        let d = GatewayPorts::default();
        let from = |url: Option<&str>, default: u16| url.and_then(url_port).unwrap_or(default.saturating_add(offset));
        let context = e.https_endpoint.as_deref().or(e.http_endpoint.as_deref()).map(url_path).unwrap_or_default();
        GatewayPorts {
            http_context: context,
            http: from(e.http_endpoint.as_deref(), d.http),
            https: from(e.https_endpoint.as_deref(), d.https),
            ws: from(e.ws_endpoint.as_deref(), d.ws),
            wss: from(e.wss_endpoint.as_deref(), d.wss),
        }
    }

    fn offset(offset: u16) -> GatewayPorts {
        let d = GatewayPorts::default();
        GatewayPorts {
            http: d.http.saturating_add(offset),
            https: d.https.saturating_add(offset),
            ws: d.ws.saturating_add(offset),
            wss: d.wss.saturating_add(offset),
            ..d
        }
    }
}

/// The port of `scheme://host[:port]/...`: the explicit one, else the scheme's.
fn url_port(url: &str) -> Option<u16> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split('/').next().unwrap_or("");
    match authority.rsplit_once(':') {
        Some((_, p)) if !p.contains(']') => p.parse().ok(),
        _ => match scheme {
            "http" | "ws" => Some(80),
            "https" | "wss" => Some(443),
            _ => None,
        },
    }
}

/// The path of `scheme://host[:port]/path`, without a trailing `/` (`""` for none).
fn url_path(url: &str) -> String {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    rest.find('/').map(|i| rest[i..].trim_end_matches('/').to_string()).unwrap_or_default()
}

/// The application's [`KeyManagerConnector`], in the configuration.
#[derive(Clone)]
pub struct Connector(pub Arc<dyn apim_domain::keys::KeyManagerConnector>);

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Connector")
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    /// `[[apim.gateway.environment]]`; `Default` (hybrid, localhost) when the file declares none.
    pub environments: Vec<Environment>,
    pub devportal_url: Option<String>,
    /// `[apim.key_manager] service_url`; `None` means the key manager runs in this process (resident).
    pub external_key_manager: Option<String>,
    /// `iss` of the API keys this control plane signs: its own token endpoint URL, as in WSO2.
    pub api_key_issuer: String,
    /// TLS for fetching definitions from a URL (the truststore); `None`: URL imports answer 503.
    pub fetch_tls: Option<Arc<rustls::ClientConfig>>,
    /// Reaches key managers registered in the Admin API to make application keys there; `None`: only the
    /// resident key manager makes keys (others' clients can still be mapped).
    pub key_manager_connector: Option<Connector>,
    /// `[apim.publisher] allowed_private_hosts`: private hosts and ranges URL imports and endpoint probes may reach.
    pub allowed_private_hosts: Vec<apim_config::PrivateHost>,
    /// `[apim.event_hub] username` / `password` (default: the super admin's): what other nodes present to the
    /// event hub and the internal data service.
    pub event_hub_user: String,
    pub event_hub_password: apim_config::Secret,
    /// `[identity_mgt.user_self_registration] allow_self_registration`: `POST /api/identity/user/v1.0/me` makes
    /// subscriber accounts.
    pub self_sign_up: bool,
    /// `[apim.analytics] retention_days`: per-minute analytics rows older than this are deleted.
    pub analytics_retention_days: u32,
}

impl Config {
    pub fn from_deployment(d: &DeploymentConfig) -> Config {
        // WSO2's default service URL: this node's management port.
        let own_services = format!("{}/services/", d.public_https_base());
        let mut environments: Vec<Environment> = d
            .gateway_environments
            .iter()
            .map(|e| Environment {
                id: e.name.clone(),
                name: e.name.clone(),
                kind: e.kind.clone(),
                vhost: vhost_of(e.https_endpoint.as_deref().or(e.http_endpoint.as_deref()), &d.server.hostname),
                ports: GatewayPorts::of(e, d.transport.offset),
                server_url: e.service_url.clone().unwrap_or_else(|| own_services.clone()),
                show_in_api_console: e.display_in_api_console,
            })
            .collect();
        if environments.is_empty() {
            environments.push(Environment {
                id: "Default".into(),
                name: "Default".into(),
                kind: "hybrid".into(),
                vhost: d.server.hostname.clone(),
                ports: GatewayPorts::offset(d.transport.offset),
                server_url: own_services,
                show_in_api_console: true,
            });
        }
        Config {
            environments,
            devportal_url: d.devportal_url.clone(),
            external_key_manager: d.key_manager.as_ref().map(|k| k.service_url.clone()),
            api_key_issuer: format!("{}/oauth2/token", d.public_https_base()),
            fetch_tls: None,
            key_manager_connector: None,
            allowed_private_hosts: d.publisher_private_hosts.clone(),
            event_hub_user: d.event_hub.as_ref().and_then(|h| h.username.clone()).unwrap_or_else(|| d.super_admin.username.clone()),
            event_hub_password: d.event_hub.as_ref().and_then(|h| h.password.clone()).unwrap_or_else(|| d.super_admin.password.clone()),
            self_sign_up: d.self_sign_up,
            analytics_retention_days: d.analytics.retention_days,
        }
    }

    /// The `Authorization` value nodes present: HTTP Basic of the event hub credentials.
    pub fn event_hub_basic(&self) -> String {
        use base64::Engine;
        let pair = format!("{}:{}", self.event_hub_user, self.event_hub_password.expose());
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair))
    }

    pub fn summary(&self) -> String {
        let envs: Vec<&str> = self.environments.iter().map(|e| e.name.as_str()).collect();
        format!("gateway environments [{}], key manager {}", envs.join(", "), self.external_key_manager.as_deref().unwrap_or("resident"))
    }
}

/// A committed OpenAPI document (JSON, which is valid YAML).
fn yaml(doc: &'static str) -> axum::response::Response {
    use axum::response::IntoResponse;
    ([(axum::http::header::CONTENT_TYPE, "application/yaml")], doc).into_response()
}

/// The host of an endpoint URL such as `https://gw.wso2.com:8243`.
fn vhost_of(url: Option<&str>, fallback: &str) -> String {
    url.and_then(|u| u.split_once("://"))
        .map(|(_, rest)| rest.split(['/', ':']).next().unwrap_or("").to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| fallback.to_string())
}

/// An environment created through the Admin API, as stored (WSO2's `Environment` DTO).
#[derive(Default, serde::Deserialize)]
struct StoredEnvironment {
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    vhosts: Vec<StoredVhost>,
}

/// WSO2's `VHost`; a port left out is WSO2's default.
#[derive(Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StoredVhost {
    host: Option<String>,
    http_context: Option<String>,
    http_port: Option<u16>,
    https_port: Option<u16>,
    ws_port: Option<u16>,
    wss_port: Option<u16>,
}

impl StoredVhost {
    pub(crate) fn ports(&self) -> GatewayPorts {
        let d = GatewayPorts::default();
        GatewayPorts {
            http_context: self.http_context.clone().unwrap_or_default(),
            http: self.http_port.unwrap_or(d.http),
            https: self.https_port.unwrap_or(d.https),
            ws: self.ws_port.unwrap_or(d.ws),
            wss: self.wss_port.unwrap_or(d.wss),
        }
    }
}

/// The key manager applications get their keys from.
pub type SharedKeyManager = Arc<dyn apim_domain::keys::KeyManagerClient>;

pub struct ControlPlane {
    db: Db,
    users: UserAuth,
    validator: Option<SharedValidator>,
    keys: Option<SharedKeyManager>,
    cfg: Config,
    /// Signs DevPortal API keys; `None`: API keys cannot be generated (503).
    api_key_signer: Option<Arc<apim_jose::jwt::SigningKey>>,
    /// One tail of the event log for every event-hub subscriber of this node.
    tail: std::sync::OnceLock<tokio::sync::watch::Receiver<i64>>,
    /// Told when a REST call may have written events (a write that succeeded), so that the tails read the log
    /// at once rather than at their next poll.
    written: Arc<tokio::sync::watch::Sender<()>>,
    /// Decides retention (events, revocations, API keys) and which gateway nodes are gone.
    clock: Clock,
    /// The platform's rolled analytics buckets, added up (month-long summaries merge these).
    rolled: analytics::RolledTallies,
}

impl ControlPlane {
    /// `db` is `apim_db`, `users` is `shared_db`; `validator` checks bearer tokens and `keys` registers
    /// application keys (both the resident key manager, when there is one).
    pub fn new(db: Db, users: Db, cfg: Config, validator: Option<SharedValidator>, keys: Option<SharedKeyManager>) -> Arc<ControlPlane> {
        Self::with_api_key_signer(db, users, cfg, validator, keys, None)
    }

    /// Like [`ControlPlane::new`], with the key DevPortal API keys are signed with.
    pub fn with_api_key_signer(
        db: Db,
        users: Db,
        cfg: Config,
        validator: Option<SharedValidator>,
        keys: Option<SharedKeyManager>,
        api_key_signer: Option<Arc<apim_jose::jwt::SigningKey>>,
    ) -> Arc<ControlPlane> {
        Self::with_clock(db, users, cfg, validator, keys, api_key_signer, Clock::system())
    }

    /// Like [`ControlPlane::with_api_key_signer`], deciding by `clock` what has expired.
    pub fn with_clock(
        db: Db,
        users: Db,
        cfg: Config,
        validator: Option<SharedValidator>,
        keys: Option<SharedKeyManager>,
        api_key_signer: Option<Arc<apim_jose::jwt::SigningKey>>,
        clock: Clock,
    ) -> Arc<ControlPlane> {
        Arc::new(ControlPlane {
            db,
            users: UserAuth::new(users),
            validator,
            keys,
            cfg,
            api_key_signer,
            tail: Default::default(),
            written: Arc::new(tokio::sync::watch::Sender::new(())),
            clock,
            rolled: Default::default(),
        })
    }

    /// The client for URLs users give (definitions to import, endpoints to probe).
    pub(crate) fn outbound(&self) -> fetch::Outbound {
        fetch::Outbound { tls: self.cfg.fetch_tls.clone(), allowed: self.cfg.allowed_private_hosts.clone() }
    }

    /// The clock's Unix milliseconds, as the event log's cursors count them.
    pub(crate) fn now_ms(&self) -> u64 {
        u64::try_from(self.clock.unix_ms()).unwrap_or(0)
    }

    /// Tells the event log's tails that events were written here, so they read the log now.
    pub(crate) fn wrote_events(&self) {
        self.written.send_replace(());
    }

    pub fn router(self: &Arc<Self>) -> axum::Router {
        let written = self.written.clone();
        axum::Router::new()
            .nest(
                "/api/am/publisher/v4",
                publisher::routes()
                    .merge(scopes::routes())
                    .merge(settings::publisher_routes())
                    .merge(search::publisher_routes())
                    .merge(categories::publisher_routes())
                    .merge(docs::publisher_routes())
                    .merge(products::routes())
                    .merge(client_certs::publisher_routes())
                    .merge(import_export::publisher_routes())
                    .merge(operation_policies::publisher_routes())
                    .merge(certificates::publisher_routes())
                    .merge(keys::publisher_routes())
                    .merge(analytics::publisher_routes()),
            )
            .nest(
                "/api/am/devportal/v3",
                devportal::routes()
                    .merge(app_transfer::routes())
                    .merge(keys::routes())
                    .merge(apikeys::routes())
                    .merge(settings::devportal_routes())
                    .merge(search::devportal_routes())
                    .merge(categories::devportal_routes())
                    .merge(docs::devportal_routes())
                    .merge(analytics::devportal_routes())
                    .merge(quota::devportal_routes()),
            )
            .nest(
                "/api/am/admin/v4",
                admin::routes()
                    .merge(admin_ops::routes())
                    .merge(policy_transfer::routes())
                    .merge(keys::admin_routes())
                    .merge(settings::admin_routes())
                    .merge(categories::admin_routes())
                    .merge(analytics::admin_routes())
                    .merge(gateway_nodes::admin_routes())
                    .merge(traffic_managers::admin_routes()),
            )
            .nest("/internal/data/v1", internal::routes())
            .merge(signup::routes())
            .route("/api/am/publisher/v4/swagger.yaml", axum::routing::get(|| async { yaml(spec::PUBLISHER_DOC) }))
            .route("/api/am/devportal/v3/swagger.yaml", axum::routing::get(|| async { yaml(spec::DEVPORTAL_DOC) }))
            .route("/api/am/admin/v4/swagger.yaml", axum::routing::get(|| async { yaml(spec::ADMIN_DOC) }))
            .route("/api/am/analytics/v1/swagger.yaml", axum::routing::get(|| async { yaml(spec::ANALYTICS_DOC) }))
            .route("/api/am/platform/v1/swagger.yaml", axum::routing::get(|| async { yaml(spec::PLATFORM_DOC) }))
            .with_state(self.clone())
            .layer(axum::middleware::from_fn(move |req: axum::extract::Request, next: axum::middleware::Next| {
                let written = written.clone();
                async move {
                    let reads = matches!(*req.method(), http::Method::GET | http::Method::HEAD | http::Method::OPTIONS);
                    let resp = next.run(req).await;
                    if !reads && resp.status().is_success() {
                        written.send_replace(());
                    }
                    resp
                }
            }))
    }

    /// Environments created through the Admin API.
    async fn db_environments(&self) -> Result<Vec<Environment>, apim_store::StoreError> {
        let mut out = Vec::new();
        for (id, name, doc) in apim_store::AdminStore::list_objects(&self.db, "environment").await? {
            let d: StoredEnvironment = serde_json::from_str(&doc).unwrap_or_default();
            let vhost = d.vhosts.into_iter().next().unwrap_or_default();
            let ports = vhost.ports();
            out.push(Environment {
                id,
                name,
                kind: d.kind.unwrap_or_else(|| "hybrid".into()),
                vhost: vhost.host.unwrap_or_else(|| "localhost".into()),
                ports,
                // Gateways of an environment made here are not this node's to name.
                server_url: String::new(),
                show_in_api_console: true,
            });
        }
        Ok(out)
    }

    /// Every environment deployments may target: deployment.toml's and the Admin API's.
    async fn environments(&self) -> Result<Vec<Environment>, apim_store::StoreError> {
        let mut all = self.cfg.environments.clone();
        all.extend(self.db_environments().await?);
        Ok(all)
    }
}
