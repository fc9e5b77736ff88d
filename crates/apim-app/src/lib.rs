//! Wiring: turns a validated configuration into a running node. It loads TLS material, binds the management
//! listeners, brings the databases up (with retries), creates the super admin, starts the configured roles,
//! and drains everything on shutdown.
//!
//! **Architecture Invariant:** everything that can be wrong in the configuration (including the TLS
//! keystore) is checked in [`App::start`] before the first port is bound.

#![forbid(unsafe_code)]

pub mod health;
mod hub;
mod late;
mod proxy_protocol;
pub mod server;
pub mod tls;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use apim_config::{Database, DbKind, DbTarget, DeploymentConfig, HostsFile};
use apim_domain::{NodeRole, Role, password};
use apim_store::{NewUser, UserStore};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::health::Health;
use crate::server::Listener;

pub use tls::TlsError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("cannot listen on {addr} ({what}): {source}")]
    Bind { what: &'static str, addr: SocketAddr, source: std::io::Error },
    #[error("{0}")]
    Config(String),
}

impl AppError {
    /// Process exit code: 64 (EX_USAGE) for configuration problems, 69 (EX_UNAVAILABLE) for ports.
    pub fn exit_code(&self) -> i32 {
        match self {
            AppError::Tls(_) | AppError::Config(_) => 64,
            AppError::Bind { .. } => 69,
        }
    }
}

pub struct RunOptions {
    pub roles: Vec<NodeRole>,
    /// `--bind`: the address every listener binds.
    pub bind: IpAddr,
    pub hosts: HostsFile,
    /// How long shutdown waits for in-flight requests.
    pub drain: Duration,
}

/// A bound listener, as reported on start-up.
#[derive(Clone, Debug)]
pub struct BoundAddr {
    pub name: &'static str,
    pub scheme: &'static str,
    pub addr: SocketAddr,
}

pub struct App {
    pub listeners: Vec<BoundAddr>,
    health: Arc<Health>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    background: Vec<JoinHandle<()>>,
}

impl App {
    pub async fn start(config: DeploymentConfig, opts: RunOptions) -> Result<App, AppError> {
        // Everything that can fail on configuration happens before binding.
        let identity = tls::load_identity(&config)?;
        let tls_config = identity.server_config()?;
        // The gateway's HTTPS and WSS listeners pick a vhost's own certificate by SNI (`vhosts/<host>.pem`).
        let (gateway_tls, vhost_certs) = identity.gateway_server_config(&config)?;
        tls::load_truststore(&config)?;
        warn_default_admin(&config);

        let mut roles = opts.roles.clone();
        roles.sort();
        roles.dedup();
        let (need_apim, need_shared) = roles.iter().fold((false, false), |acc, r| {
            let (a, s) = r.needs_databases();
            (acc.0 || a, acc.1 || s)
        });
        let mut pools: Vec<Database> = Vec::new();
        if need_apim {
            pools.push(config.apim_db.clone().unwrap_or_else(|| wso2_default_db("apim_db", "WSO2AM_DB")));
        }
        if need_shared {
            pools.push(config.shared_db.clone().unwrap_or_else(|| wso2_default_db("shared_db", "WSO2SHARED_DB")));
        }
        let mut pending: Vec<&str> = pools.iter().map(|d| d.pool.as_str()).collect();
        if need_shared && config.super_admin.create_admin_account {
            pending.push("super_admin");
        }
        // The key manager runs here as its own role, or resident in a control plane with no external one.
        let run_km = roles.contains(&NodeRole::KeyManager) || (roles.contains(&NodeRole::ControlPlane) && config.key_manager.is_none());
        if run_km {
            pending.push("key_manager");
        }
        let run_cp = roles.contains(&NodeRole::ControlPlane);
        if run_cp {
            pending.push("control_plane");
        }
        // A gateway in the same process as a control plane takes its state in-process (all-in-one), and checks
        // tokens with the resident key manager or the configured remote one. A gateway on its own syncs from a
        // control plane over the internal data service and the event hub.
        let run_gw = roles.contains(&NodeRole::Gateway) && run_cp;
        let remote_gw = roles.contains(&NodeRole::Gateway) && !run_cp;
        if run_gw || remote_gw {
            pending.push("gateway");
        }
        let trust = tls::load_truststore(&config)?;
        let remote_gw_parts = match remote_gw {
            true => Some(remote_gateway_parts(&config, &opts, &identity, &trust)?),
            false => None,
        };
        // A traffic manager on its own follows the control plane's policies and block conditions.
        let remote_tm = roles.contains(&NodeRole::TrafficManager) && !run_cp;
        let tm_syncer = match remote_tm {
            true => {
                pending.push("event_hub");
                Some(syncer_for(&config, &opts, tls::client_config(&identity, &trust), "traffic-manager", false)?)
            }
            false => None,
        };
        // Other nodes follow a control plane's event log on its event-hub port (5672 + offset). In all-in-one
        // it is served only when `[apim.event_hub]` is enabled: the embedded default binds no fixed internal port.
        let serve_hub = run_cp && (config.event_hub.as_ref().is_some_and(|h| h.enable) || !roles.contains(&NodeRole::Gateway));
        let km_start = if run_km {
            Some(KmStart {
                cfg: apim_key_manager::Config { hosts: opts.hosts.clone(), ..apim_key_manager::Config::from_deployment(&config) },
                signing_der: tls::jwt_signing_key(&config, &identity)?,
                tls: tls::client_config(&identity, &trust),
            })
        } else {
            None
        };
        let health = Health::new(roles.clone(), &pending);

        let https_addr = SocketAddr::new(opts.bind, config.transport.https_port());
        let http_addr = SocketAddr::new(opts.bind, config.transport.http_port());
        let https =
            TcpListener::bind(https_addr).await.map_err(|source| AppError::Bind { what: "management https", addr: https_addr, source })?;
        let http =
            TcpListener::bind(http_addr).await.map_err(|source| AppError::Bind { what: "management http", addr: http_addr, source })?;

        let (shutdown, rx) = watch::channel(false);
        // Roles that need their databases mount their routes once those are up; until then every path nobody
        // serves yet answers 503 naming what is not ready.
        let late = late::LateRouter::new(health.clone());
        if run_km {
            late.expect("key_manager");
        }
        if run_cp {
            late.expect("control_plane");
        }
        let router = health::routes(health.clone()).fallback_service(late.clone().service());
        let mut listeners = Vec::new();
        let mut tasks = Vec::new();
        let limits = config.transport.limits;
        let trusted = config.gateway_request.trusted_proxies.clone();
        let admission = |name| server::Admission::new(name, limits, trusted.clone(), false);
        let mut admissions = Vec::new();
        for l in [
            Listener { name: "management https", listener: https, tls: Some(tls_config.clone()), admission: admission("management https") },
            Listener { name: "management http", listener: http, tls: None, admission: admission("management http") },
        ] {
            admissions.push(l.admission.clone());
            let addr = l.local_addr().map_err(|source| AppError::Bind { what: l.name, addr: https_addr, source })?;
            tracing::info!(listener = l.name, %addr, "listening");
            listeners.push(BoundAddr { name: l.name, scheme: l.scheme(), addr });
            tasks.push(tokio::spawn(server::serve(l, router.clone(), rx.clone(), opts.drain)));
        }
        let hub_listener = match serve_hub {
            true => {
                let addr = SocketAddr::new(opts.bind, config.transport.effective(apim_config::ports::EVENT_HUB));
                let l = TcpListener::bind(addr).await.map_err(|source| AppError::Bind { what: "event hub", addr, source })?;
                let addr = l.local_addr().map_err(|source| AppError::Bind { what: "event hub", addr, source })?;
                tracing::info!(listener = "event hub", %addr, "listening");
                listeners.push(BoundAddr { name: "event hub", scheme: "tcp", addr });
                Some(l)
            }
            false => None,
        };
        // A traffic manager on its own takes usage on 9611 and 9711 (+ offset; plain and TLS are told apart by the
        // first byte on both) and serves decisions on 5672 + offset. In all-in-one the one gateway counts alone.
        let mut tm_listeners = Vec::new();
        if remote_tm {
            for (name, port) in [
                ("traffic manager usage", apim_config::ports::TM_INGEST),
                ("traffic manager usage tls", apim_config::ports::TM_INGEST_TLS),
                ("traffic manager decisions", apim_config::ports::EVENT_HUB),
            ] {
                let addr = SocketAddr::new(opts.bind, config.transport.effective(port));
                let l = TcpListener::bind(addr).await.map_err(|source| AppError::Bind { what: name, addr, source })?;
                let addr = l.local_addr().map_err(|source| AppError::Bind { what: name, addr, source })?;
                tracing::info!(listener = name, %addr, "listening");
                listeners.push(BoundAddr { name, scheme: if port == apim_config::ports::TM_INGEST_TLS { "ssl" } else { "tcp" }, addr });
                tm_listeners.push(l);
            }
        }
        let gateway = GatewaySlot::default();
        if run_gw || remote_gw {
            let gw_cfg = apim_gateway::Config::from_deployment(&config);
            for (name, port, tls) in [
                ("gateway http", gw_cfg.http_port, None),
                ("gateway https", gw_cfg.https_port, Some(gateway_tls.clone())),
                ("gateway ws", gw_cfg.ws_port, None),
                ("gateway wss", gw_cfg.wss_port, Some(gateway_tls.clone())),
            ] {
                let addr = SocketAddr::new(opts.bind, port);
                let listener = TcpListener::bind(addr).await.map_err(|source| AppError::Bind { what: name, addr, source })?;
                let websocket = port == gw_cfg.ws_port || port == gw_cfg.wss_port;
                let proxy_protocol = config.gateway_request.proxy_protocol;
                let l = Listener { name, listener, tls, admission: server::Admission::new(name, limits, trusted.clone(), proxy_protocol) };
                admissions.push(l.admission.clone());
                let addr = l.local_addr().map_err(|source| AppError::Bind { what: name, addr, source })?;
                tracing::info!(listener = name, %addr, "listening");
                listeners.push(BoundAddr { name, scheme: l.scheme(), addr });
                let make = gateway.service_factory(l.tls.is_some());
                let builder = apim_gateway::Gateway::connection_builder(limits.header_read_timeout);
                // WebSocket listeners take only upgrades: hyper's. The API traffic listeners run the gateway's own
                // HTTP/1.1 server first.
                match websocket {
                    true => tasks.push(tokio::spawn(server::serve_with(l, builder, make, rx.clone(), opts.drain))),
                    false => tasks.push(tokio::spawn(server::serve_gateway(l, builder, make, rx.clone(), opts.drain))),
                }
            }
        }
        let admissions = Arc::new(admissions);
        tracing::info!(origin = %identity.origin, "tls identity loaded");
        if (run_gw || remote_gw) && !vhost_certs.is_empty() {
            tracing::info!(hosts = ?vhost_certs, "vhost certificates for the gateway's TLS listeners (by SNI)");
        }

        for role in &roles {
            let summary = match role {
                NodeRole::ControlPlane => apim_control_plane::Config::from_deployment(&config).summary(),
                NodeRole::Gateway => apim_gateway::Config::from_deployment(&config).summary(),
                NodeRole::KeyManager => apim_key_manager::Config::from_deployment(&config).summary(),
                NodeRole::TrafficManager => apim_traffic_manager::Config::from_deployment(&config).summary(),
            };
            tracing::info!(role = %role, "{summary}");
        }

        let config = Arc::new(config);
        // The control plane signs DevPortal API keys with the node's RS256 key (the key manager's, when resident);
        // without a resident key manager it registers clients and checks tokens at `[apim.key_manager]` over HTTP(S).
        // The node's RS256 key signs API keys (control plane) and backend JWTs (gateway).
        let node_signer = match run_cp || run_gw || remote_gw {
            true => apim_jose::jwt::SigningKey::from_der(&tls::jwt_signing_key(&config, &identity)?).ok().map(Arc::new),
            false => None,
        };
        let cp_start = match run_cp {
            true => {
                let signer = node_signer.clone();
                let remote = match (&config.key_manager, run_km) {
                    (Some(k), false) => {
                        let user = k.username.clone().unwrap_or_else(|| config.super_admin.username.clone());
                        let pass = k
                            .password
                            .as_ref()
                            .map(|p| p.expose().to_string())
                            .unwrap_or_else(|| config.super_admin.password.expose().to_string());
                        let client = apim_km_client::RemoteKeyManager::new(
                            &k.service_url,
                            &user,
                            &pass,
                            None,
                            opts.hosts.clone(),
                            tls::client_config(&identity, &trust),
                        )
                        .map_err(|e| AppError::Config(format!("[apim.key_manager] service_url: {e}")))?;
                        Some(Arc::new(client))
                    }
                    _ => None,
                };
                let mut cfg = apim_control_plane::Config::from_deployment(&config);
                cfg.fetch_tls = Some(tls::client_config(&identity, &trust));
                Some(CpStart { cfg, api_key_signer: signer, remote_km: remote })
            }
            false => None,
        };
        let gw_start = run_gw.then(|| GwStart {
            cfg: apim_gateway::Config::from_deployment(&config),
            upstream_tls: (*tls::client_config(&identity, &trust)).clone(),
            slot: gateway.clone(),
            jwt_signer: node_signer.clone(),
            listeners: admissions.clone(),
            // An all-in-one node may still share quotas with others through traffic managers it names.
            link: throttle_link(&config, &opts, tls::client_config(&identity, &trust))
                .map(|l| (l, config.throttling.as_ref().map(|t| t.fail_mode).unwrap_or_default())),
        });
        let mut background = Vec::new();
        if let Some((syncer, authority)) = remote_gw_parts {
            let cfg = apim_gateway::Config::from_deployment(&config);
            tracing::info!("gateway syncing from the control plane: {}", cfg.summary());
            let gw = apim_gateway::Gateway::new(cfg, (*tls::client_config(&identity, &trust)).clone(), authority, node_signer.clone());
            let link = throttle_link(&config, &opts, tls::client_config(&identity, &trust));
            if let Some(link) = &link {
                gw.link_traffic_managers(config.throttling.as_ref().map(|t| t.fail_mode).unwrap_or_default(), link.node_id());
                background.extend(link.start(Arc::new(GatewayUsage(gw.clone()))));
            }
            let (metrics, sync, listeners) = (gw.clone(), syncer.clone(), admissions.clone());
            let link_stats = link.map(|l| l.stats.clone());
            late.mount(axum::Router::new().route(
                "/metrics",
                axum::routing::get(move || {
                    let link = link_stats.as_ref().map(|s| s.render()).unwrap_or_default();
                    std::future::ready(metrics.metrics_text() + &sync.stats.render() + &link + &server::Admission::render(&listeners))
                }),
            ));
            let sink = Arc::new(RemoteGatewaySink { gw, slot: gateway, health: health.clone() });
            background.push(tokio::spawn(syncer.run(sink)));
        }
        if let Some(syncer) = tm_syncer {
            let tm = apim_traffic_manager::TrafficManager::new(apim_traffic_manager::Config::from_deployment(&config));
            let (metrics, sync, listeners) = (tm.clone(), syncer.clone(), admissions.clone());
            let route = "/metrics";
            // A gateway and a traffic manager in one process without a control plane share the route.
            if !remote_gw {
                late.mount(axum::Router::new().route(
                    route,
                    axum::routing::get(move || {
                        std::future::ready(metrics.metrics_text() + &sync.stats.render() + &server::Admission::render(&listeners))
                    }),
                ));
            }
            background.extend(tm.start(opts.hosts.clone(), tls::client_config(&identity, &trust)));
            let (usage, decisions) = tm.services();
            let mut ports = tm_listeners.into_iter();
            for (what, routes) in [
                ("traffic manager usage", tonic::service::Routes::new(usage.clone())),
                ("traffic manager usage tls", tonic::service::Routes::new(usage)),
                ("traffic manager decisions", tonic::service::Routes::new(decisions)),
            ] {
                if let Some(l) = ports.next() {
                    tasks.push(tokio::spawn(serve_grpc(what, routes, l, tls_config.clone(), rx.clone())));
                }
            }
            let sink = Arc::new(TrafficManagerSink { tm, health: health.clone(), synced: Default::default() });
            background.push(tokio::spawn(syncer.run(sink)));
        }
        // The event hub is served from the start: UNAVAILABLE until the control plane is up.
        let hub = hub_listener.map(|l| {
            let hub = hub::LateHub::new(health.clone());
            tokio::spawn(serve_grpc("event hub", tonic::service::Routes::new(hub.clone()), l, tls_config.clone(), rx.clone()));
            hub
        });
        background.push(tokio::spawn(bring_up(config, pools, opts.hosts, health.clone(), rx, km_start, cp_start, gw_start, late, hub)));
        Ok(App { listeners, health, shutdown, tasks, background })
    }

    pub fn addr(&self, name: &str) -> Option<SocketAddr> {
        self.listeners.iter().find(|l| l.name == name).map(|l| l.addr)
    }

    /// Stops accepting, drains in-flight requests, closes the pools.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for t in self.background {
            t.abort();
        }
        for t in self.tasks {
            let _ = t.await;
        }
        for (_, db) in self.health.pools() {
            db.close().await;
        }
    }
}

/// WSO2's defaults when a role needs a database the file does not configure: H2 under `repository/database`.
fn wso2_default_db(pool: &str, file: &str) -> Database {
    Database {
        pool: pool.into(),
        kind: DbKind::Sqlite,
        declared_type: "h2".into(),
        target: DbTarget::File(PathBuf::from(format!("./repository/database/{file}.db"))),
        username: None,
        password: None,
    }
}

fn warn_default_admin(config: &DeploymentConfig) {
    let a = &config.super_admin;
    if a.username == "admin" && a.password.expose() == "admin" {
        tracing::warn!(
            "SECURITY WARNING: the super admin is admin/admin. Change [super_admin] password (and username) before production; see the production hardening step of the deployment guide"
        );
    }
}

/// What the key manager needs once its databases are up.
struct KmStart {
    cfg: apim_key_manager::Config,
    signing_der: Vec<u8>,
    tls: Arc<rustls::ClientConfig>,
}

/// What the control plane needs once its databases are up.
struct CpStart {
    cfg: apim_control_plane::Config,
    api_key_signer: Option<Arc<apim_jose::jwt::SigningKey>>,
    /// `[apim.key_manager]` over HTTP(S), when no key manager runs in this process.
    remote_km: Option<Arc<apim_km_client::RemoteKeyManager>>,
}

/// The gateway of this process, once it exists. Traffic listeners are bound at start and answer 503 until then.
#[derive(Clone, Default)]
struct GatewaySlot(Arc<std::sync::OnceLock<Arc<apim_gateway::Gateway>>>);

impl GatewaySlot {
    fn service_factory(&self, https: bool) -> impl Fn(SocketAddr) -> GatewayService + use<> {
        let slot = self.0.clone();
        move |peer| GatewayService { slot: slot.clone(), peer: Arc::new(apim_gateway::Peer::new(peer, https)) }
    }
}

#[derive(Clone)]
pub(crate) struct GatewayService {
    slot: Arc<std::sync::OnceLock<Arc<apim_gateway::Gateway>>>,
    peer: Arc<apim_gateway::Peer>,
}

impl GatewayService {
    /// The chain for a request the gateway's own HTTP/1.1 server read; none while the gateway is not loaded.
    pub(crate) fn chain(
        &self,
        req: http::Request<apim_gateway::RequestBody>,
    ) -> Option<impl Future<Output = Result<http::Response<apim_gateway::Body>, std::convert::Infallible>> + Send + '_> {
        self.slot.get().map(|gw| gw.answer(req, &self.peer))
    }
}

impl hyper::service::Service<http::Request<hyper::body::Incoming>> for GatewayService {
    type Response = http::Response<apim_gateway::Body>;
    type Error = std::convert::Infallible;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn call(&self, req: http::Request<hyper::body::Incoming>) -> Self::Future {
        match self.slot.get() {
            Some(gw) => Box::pin(gw.clone().serve(req.map(apim_gateway::RequestBody::Hyper), self.peer.clone())),
            None => Box::pin(std::future::ready(Ok(apim_gateway::not_ready()))),
        }
    }
}

/// What the in-process gateway needs once the control plane and key manager run.
struct GwStart {
    cfg: apim_gateway::Config,
    upstream_tls: rustls::ClientConfig,
    slot: GatewaySlot,
    jwt_signer: Option<Arc<apim_jose::jwt::SigningKey>>,
    link: Option<(Arc<apim_sync::throttle::ThrottleLink>, apim_config::FailMode)>,
    /// The node's listeners, for `/metrics`.
    listeners: Arc<Vec<Arc<server::Admission>>>,
}

/// Connects and migrates every pool, creates the super admin, then starts the roles that need the databases.
#[allow(clippy::too_many_arguments)]
async fn bring_up(
    config: Arc<DeploymentConfig>,
    pools: Vec<Database>,
    hosts: HostsFile,
    health: Arc<Health>,
    mut shutdown: watch::Receiver<bool>,
    km: Option<KmStart>,
    cp: Option<CpStart>,
    gw: Option<GwStart>,
    late: late::LateRouter,
    hub: Option<hub::LateHub>,
) {
    let Some((apim, shared)) = bring_up_databases(&config, pools, &hosts, &health, &mut shutdown).await else { return };
    let (Some(apim), Some(shared)) = (apim, shared) else { return };
    let validator = match km {
        Some(km) => match start_key_manager(km, &apim, &shared, &health, &late, &mut shutdown).await {
            Some(v) => Some(v),
            None => return,
        },
        None => None,
    };
    if let Some(CpStart { cfg, api_key_signer, remote_km }) = cp {
        let summary = cfg.summary();
        type Authority = Arc<dyn apim_domain::scopes::TokenAuthority>;
        type Revocations = tokio::sync::broadcast::Receiver<apim_domain::scopes::RevokedToken>;
        // Revocations by the resident key manager go into the event log, for gateways on other nodes.
        let recorded = validator.as_ref().map(|k| k.revocations());
        let (keys, validator, authority, revocations): (
            Option<apim_control_plane::SharedKeyManager>,
            Option<apim_control_plane::SharedValidator>,
            Option<Authority>,
            Option<Revocations>,
        ) = match (validator, remote_km) {
            (Some(k), _) => (Some(k.clone()), Some(k.clone()), Some(k.clone()), Some(k.revocations())),
            // Revocations from a remote key manager reach gateways through the control plane's /notify (event hub issue).
            (None, Some(r)) => (Some(r.clone()), Some(r.clone()), Some(r), None),
            (None, None) => (None, None, None, None),
        };
        let cp = apim_control_plane::ControlPlane::with_api_key_signer(apim, shared, cfg, validator, keys, api_key_signer);
        late.mount_role("control_plane", cp.router());
        health.set("control_plane", true, None);
        tracing::info!("control plane ready: {summary}");
        if let Some(rx) = recorded {
            tokio::spawn(record_revocations(cp.clone(), rx));
        }
        if let Some(hub) = hub {
            hub.set(cp.event_hub());
        }
        let pruning = cp.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(3600));
            loop {
                tick.tick().await;
                match pruning.prune().await {
                    Ok(n) if n > 0 => tracing::info!(events = n, "old events pruned from the log"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!("cannot prune the event log: {e}"),
                }
            }
        });
        if let (Some(gw), Some(authority)) = (gw, authority) {
            start_resident_gateway(gw, cp, authority, revocations, health, late);
        }
    }
}

/// Serves gRPC services (the event hub, a traffic manager's usage or decisions) over HTTP/2, plain or TLS on the
/// same port, until shutdown. HTTP/2 pings every second notice a dead peer within three.
async fn serve_grpc(
    what: &'static str,
    routes: tonic::service::Routes,
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    mut shutdown: watch::Receiver<bool>,
) {
    let incoming = hub::incoming(listener, tls);
    let result = tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(1)))
        .http2_keepalive_timeout(Some(Duration::from_secs(2)))
        .add_routes(routes)
        .serve_with_incoming_shutdown(incoming, async move { server::stopped(&mut shutdown).await })
        .await;
    if let Err(e) = result {
        tracing::error!("the {what} listener stopped: {e}");
    }
}

/// A gateway's link to the traffic managers, when `[apim.throttling]` names url_groups and decision endpoints
/// and `enable_data_publishing` is on. A url_group's `traffic_manager_urls` (plain) are used when given, else its
/// `traffic_manager_auth_urls` (TLS); credentials are `[apim.throttling]`'s, else the super admin's.
fn throttle_link(
    config: &DeploymentConfig,
    opts: &RunOptions,
    tls: Arc<rustls::ClientConfig>,
) -> Option<Arc<apim_sync::throttle::ThrottleLink>> {
    let t = config.throttling.as_ref().filter(|t| t.enable_data_publishing)?;
    let groups: Vec<Vec<apim_config::Endpoint>> = t
        .url_groups
        .iter()
        .map(|g| if g.urls.is_empty() { g.auth_urls.clone() } else { g.urls.clone() })
        .filter(|g| !g.is_empty())
        .collect();
    if groups.is_empty() {
        return None;
    }
    if t.throttle_decision_endpoints.is_empty() {
        tracing::warn!("[apim.throttling] has url_groups but no throttle_decision_endpoints: throttling stays local to this node");
        return None;
    }
    let (user, password) = config.throttling_credentials();
    let cfg = apim_sync::throttle::LinkConfig {
        // A boot id of its own: a restarted gateway counts from zero, so its reports must not be taken for the
        // ones it sent before (a traffic manager keeps each reporter's highest count in a window).
        node_id: format!("{}@{}", node_id(config), &uuid::Uuid::new_v4().simple().to_string()[..8]),
        groups,
        decision_endpoints: t.throttle_decision_endpoints.clone(),
        basic: apim_sync::basic(&user, &password),
    };
    tracing::info!(url_groups = cfg.groups.len(), decision_endpoints = cfg.decision_endpoints.len(), fail_mode = ?t.fail_mode, "reporting usage to traffic managers");
    Some(apim_sync::throttle::ThrottleLink::new(cfg, opts.hosts.clone(), tls))
}

/// Lends a gateway's counters to its traffic-manager link.
struct GatewayUsage(Arc<apim_gateway::Gateway>);

impl apim_sync::throttle::UsageSource for GatewayUsage {
    fn changed(&self, _now_ms: u64) -> Vec<apim_wire::throttle::UsageRecord> {
        self.0.usage_changed()
    }
    fn all(&self, _now_ms: u64) -> Vec<apim_wire::throttle::UsageRecord> {
        self.0.usage_all()
    }
    fn apply(&self, batch: &apim_wire::throttle::DecisionBatch) {
        self.0.apply_decisions(batch);
    }
    fn reachable(&self, decision_streams: usize, usage_streams: usize) {
        self.0.traffic_managers_live(decision_streams, usage_streams);
    }
}

/// Writes the resident key manager's revocations into the event log (once each).
async fn record_revocations(
    cp: Arc<apim_control_plane::ControlPlane>,
    mut rx: tokio::sync::broadcast::Receiver<apim_domain::scopes::RevokedToken>,
) {
    loop {
        match rx.recv().await {
            Ok(r) => {
                let mut delay = Duration::from_millis(200);
                while let Err(e) = cp.record_revocation(&r.id, r.expires_at).await {
                    tracing::warn!("cannot record a revocation in the event log: {e}; retrying in {delay:?}");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(10));
                }
            }
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                tracing::error!("{n} revocation notices were not recorded for other gateways (queue overflow)");
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// A node's follower of a control plane (`[apim.event_hub]`, with WSO2's defaults when the table or a key is
/// absent: a control plane on this host), checked before anything is bound. `apis`: a gateway (its labels' APIs
/// too) or a traffic manager (policies and the rest only); the state is saved under `<data>/<role>/`.
fn syncer_for(
    config: &DeploymentConfig,
    opts: &RunOptions,
    tls: Arc<rustls::ClientConfig>,
    role: &str,
    apis: bool,
) -> Result<Arc<apim_sync::Syncer>, AppError> {
    let hub = config.event_hub.as_ref();
    if hub.is_some_and(|h| !h.enable) {
        return Err(AppError::Config(format!(
            "[apim.event_hub] enable = false: a {role} without a control plane in its process needs the event hub"
        )));
    }
    let service_url = event_hub_service_url(config);
    let endpoints = match hub.map(|h| h.event_listening_endpoints.clone()).unwrap_or_default() {
        e if e.is_empty() => vec![apim_config::Endpoint {
            scheme: apim_config::EndpointScheme::Tcp,
            host: "localhost".into(),
            port: apim_config::ports::EVENT_HUB,
        }],
        e => e,
    };
    let admin = &config.super_admin;
    let labels = match (apis, config.gateway_sync.gateway_labels.is_empty()) {
        (false, _) => Vec::new(),
        (true, true) => vec!["Default".to_string()],
        (true, false) => config.gateway_sync.gateway_labels.clone(),
    };
    let sync = apim_sync::SyncConfig {
        service_url,
        endpoints,
        username: hub.and_then(|h| h.username.clone()).unwrap_or_else(|| admin.username.clone()),
        password: hub.and_then(|h| h.password.as_ref()).unwrap_or(&admin.password).expose().to_string(),
        node_id: node_id(config),
        role: role.into(),
        labels,
        apis,
        saved: config.data_dir.join(role).join("runtime-state.json"),
    };
    let syncer = apim_sync::Syncer::new(sync, opts.hosts.clone(), tls).map_err(|e| AppError::Config(format!("[apim.event_hub]: {e}")))?;
    Ok(Arc::new(syncer))
}

/// This node's name towards the control plane: `host:port#id`, where `id` is made once and kept under the data
/// directory, so nodes behind one balancer (same host name and port) stay apart and a restart keeps its name.
fn node_id(config: &DeploymentConfig) -> String {
    let base = format!("{}:{}", config.server.hostname, config.transport.https_port());
    let file = config.data_dir.join("node-id");
    let id = match std::fs::read_to_string(&file) {
        Ok(s) if !s.trim().is_empty() => s.trim().to_string(),
        _ => {
            let fresh = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
            let saved = std::fs::create_dir_all(&config.data_dir).and_then(|()| std::fs::write(&file, &fresh));
            if let Err(e) = saved {
                tracing::warn!(file = %file.display(), "cannot keep this node's id ({e}); a restart will report under a new one");
            }
            fresh
        }
    };
    format!("{base}#{id}")
}

fn event_hub_service_url(config: &DeploymentConfig) -> String {
    config
        .event_hub
        .as_ref()
        .and_then(|h| h.service_url.clone())
        .unwrap_or_else(|| format!("https://localhost:{}/services/", apim_config::ports::MGT_HTTPS))
}

/// What a gateway on its own node needs, checked before anything is bound: its syncer and the key manager it
/// verifies tokens with (`[apim.key_manager]`, else the control plane's resident one at the event hub's
/// `service_url`).
fn remote_gateway_parts(
    config: &DeploymentConfig,
    opts: &RunOptions,
    identity: &tls::TlsIdentity,
    trust: &[rustls_pki_types::CertificateDer<'static>],
) -> Result<(Arc<apim_sync::Syncer>, Arc<dyn apim_domain::scopes::TokenAuthority>), AppError> {
    let tls = tls::client_config(identity, trust);
    let syncer = syncer_for(config, opts, tls.clone(), "gateway", true)?;
    let admin = &config.super_admin;
    let (km_url, km_user, km_pass) = match &config.key_manager {
        Some(k) => (
            k.service_url.clone(),
            k.username.clone().unwrap_or_else(|| admin.username.clone()),
            k.password.as_ref().unwrap_or(&admin.password).expose().to_string(),
        ),
        None => (event_hub_service_url(config), admin.username.clone(), admin.password.expose().to_string()),
    };
    let mut km = apim_km_client::RemoteKeyManager::new(&km_url, &km_user, &km_pass, None, opts.hosts.clone(), tls)
        .map_err(|e| AppError::Config(format!("[apim.key_manager] service_url: {e}")))?;
    // The control planes' resident key manager: every control plane the gateway syncs from has one.
    if config.key_manager.is_none() {
        km = km.with_fallbacks(syncer.bases());
    }
    Ok((syncer, Arc::new(km)))
}

/// Gives a traffic manager on its own node the control plane's policies and block conditions.
struct TrafficManagerSink {
    tm: Arc<apim_traffic_manager::TrafficManager>,
    health: Arc<Health>,
    synced: std::sync::atomic::AtomicBool,
}

impl apim_sync::StateSink for TrafficManagerSink {
    fn install(&self, state: &apim_wire::RuntimeState) {
        self.tm.install(state);
        if !self.synced.swap(true, std::sync::atomic::Ordering::AcqRel) {
            self.health.set("event_hub", true, None);
            tracing::info!(policies = state.policies.len(), seq = state.seq, "traffic manager has the control plane's policies");
        }
    }

    fn revoke(&self, _id: &str, _expires_at: i64) {}

    fn waiting(&self, reason: &str) {
        if !self.synced.load(std::sync::atomic::Ordering::Acquire) {
            self.health.set("event_hub", false, Some(reason.to_string()));
        }
    }
}

/// Installs what the syncer pulls into a gateway on its own node; the first state opens the traffic ports.
struct RemoteGatewaySink {
    gw: Arc<apim_gateway::Gateway>,
    slot: GatewaySlot,
    health: Arc<Health>,
}

impl apim_sync::StateSink for RemoteGatewaySink {
    fn install(&self, state: &apim_wire::RuntimeState) {
        self.gw.install(state);
        if self.slot.0.set(self.gw.clone()).is_ok() {
            self.health.set("gateway", true, None);
            tracing::info!(apis = state.apis.len(), seq = state.seq, "gateway ready");
        }
    }

    fn revoke(&self, id: &str, expires_at: i64) {
        self.gw.revoke(id, expires_at);
    }

    fn waiting(&self, reason: &str) {
        if self.slot.0.get().is_none() {
            self.health.set("gateway", false, Some(reason.to_string()));
        }
    }
}

/// Starts the in-process gateway: its state follows the control plane's event log, its revocations come
/// straight from the resident key manager.
fn start_resident_gateway(
    start: GwStart,
    cp: Arc<apim_control_plane::ControlPlane>,
    authority: Arc<dyn apim_domain::scopes::TokenAuthority>,
    revocations: Option<tokio::sync::broadcast::Receiver<apim_domain::scopes::RevokedToken>>,
    health: Arc<Health>,
    late: late::LateRouter,
) {
    let labels = start.cfg.gateway_labels.clone();
    let summary = start.cfg.summary();
    let gw = apim_gateway::Gateway::new(start.cfg, start.upstream_tls, authority, start.jwt_signer);
    let link_stats = start.link.as_ref().map(|(l, _)| l.stats.clone());
    if let Some((link, fail_mode)) = start.link {
        gw.link_traffic_managers(fail_mode, link.node_id());
        // The link's tasks run for the life of the process, like the gateway's.
        drop(link.start(Arc::new(GatewayUsage(gw.clone()))));
    }
    let metrics = gw.clone();
    let listeners = start.listeners;
    late.mount(axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let link = link_stats.as_ref().map(|s| s.render()).unwrap_or_default();
            std::future::ready(metrics.metrics_text() + &link + &server::Admission::render(&listeners))
        }),
    ));
    let _ = start.slot.0.set(gw.clone());
    let revoking = gw.clone();
    tokio::spawn(async move {
        let Some(mut revocations) = revocations else { return };
        loop {
            match revocations.recv().await {
                Ok(r) => revoking.revoke(&r.id, r.expires_at),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    tracing::error!("the gateway missed {n} revocation notices (queue overflow)");
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    });
    let mut tail = cp.event_tail();
    tokio::spawn(async move {
        let mut delay = Duration::from_millis(200);
        loop {
            match cp.runtime_state(&labels).await {
                Ok(state) => {
                    let first = !gw.is_synced();
                    gw.install(&state);
                    if first {
                        health.set("gateway", true, None);
                        tracing::info!(apis = state.apis.len(), seq = state.seq, "gateway ready: {summary}");
                    }
                    delay = Duration::from_millis(200);
                    if tail.changed().await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!("cannot build the gateway's runtime state: {e}; retrying in {delay:?}");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(10));
                }
            }
        }
    });
}

/// Starts the key manager, retrying until it can publish its key; `None` on shutdown.
async fn start_key_manager(
    km: KmStart,
    apim: &apim_store::Db,
    shared: &apim_store::Db,
    health: &Health,
    late: &late::LateRouter,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<Arc<apim_key_manager::KeyManager>> {
    let summary = km.cfg.summary();
    let mut delay = Duration::from_millis(500);
    loop {
        match apim_key_manager::KeyManager::start(apim.clone(), shared.clone(), km.cfg.clone(), &km.signing_der, km.tls.clone()).await {
            Ok(k) => {
                late.mount_role("key_manager", k.router());
                health.set("key_manager", true, None);
                tracing::info!(kid = %k.signing_key().kid, "key manager ready: {summary}");
                return Some(k);
            }
            Err(e) => {
                tracing::warn!("cannot start the key manager: {e}; retrying");
                health.set("key_manager", false, Some(e.to_string()));
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    () = server::stopped(shutdown) => return None,
                }
                delay = (delay * 2).min(Duration::from_secs(15));
            }
        }
    }
}

/// Connects and migrates every pool, retrying with backoff, then creates the super admin once.
/// Returns the (apim_db, shared_db) handles, or `None` on shutdown.
async fn bring_up_databases(
    config: &DeploymentConfig,
    pools: Vec<Database>,
    hosts: &HostsFile,
    health: &Arc<Health>,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<(Option<apim_store::Db>, Option<apim_store::Db>)> {
    let mut shared = None;
    let mut apim = None;
    for db in pools {
        let mut delay = Duration::from_millis(500);
        let mut attempt = 0u32;
        let handle = loop {
            attempt += 1;
            let result = match apim_store::connect(&db, hosts).await {
                Ok(handle) => handle.migrate(&db.pool).await.map(|()| handle),
                Err(e) => Err(e),
            };
            match result {
                Ok(handle) => break handle,
                Err(e) => {
                    let reason = e.to_string();
                    if attempt == 1 {
                        tracing::error!(pool = %db.pool, address = %db.address(), "{reason}; retrying");
                    } else {
                        tracing::warn!(pool = %db.pool, attempt, "{reason}; retrying in {delay:?}");
                    }
                    health.set(&db.pool, false, Some(reason));
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        () = server::stopped(shutdown) => return None,
                    }
                    delay = (delay * 2).min(Duration::from_secs(15));
                }
            }
        };
        tracing::info!(pool = %db.pool, kind = db.kind.as_str(), address = %db.address(), "database connected and migrated");
        health.add_pool(&db.pool, handle.clone());
        health.set(&db.pool, true, None);
        // From here the pool's readiness is its watcher's to keep.
        tokio::spawn(health.clone().watch_pool(db.pool.clone(), db.address(), handle.clone(), shutdown.clone()));
        if db.pool == "shared_db" {
            shared = Some(handle);
        } else {
            apim = Some(handle);
        }
    }
    let Some(shared_db) = &shared else { return Some((apim, shared)) };
    if !config.super_admin.create_admin_account {
        return Some((apim, shared));
    }
    let mut delay = Duration::from_millis(500);
    loop {
        match ensure_super_admin(shared_db, config).await {
            Ok(()) => {
                health.set("super_admin", true, None);
                return Some((apim, shared));
            }
            Err(e) => {
                tracing::warn!("cannot create the super admin: {e}; retrying");
                health.set("super_admin", false, Some(e.to_string()));
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    () = server::stopped(shutdown) => return None,
                }
                delay = (delay * 2).min(Duration::from_secs(15));
            }
        }
    }
}

/// Creates `[super_admin]` with the admin role if absent. An existing admin is left as it is: a restart never
/// resets a password someone changed.
async fn ensure_super_admin(db: &apim_store::Db, config: &DeploymentConfig) -> Result<(), apim_store::StoreError> {
    let admin = &config.super_admin;
    if db.find_user(&admin.username).await?.is_some() {
        return Ok(());
    }
    let password = admin.password.expose().to_string();
    let hash = tokio::task::spawn_blocking(move || password::hash(&password))
        .await
        .map_err(|e| apim_store::StoreError::Invalid(e.to_string()))?
        .map_err(|e| apim_store::StoreError::Invalid(e.to_string()))?;
    let roles: Vec<&str> = Role::BUILT_IN.iter().map(|r| r.name()).collect();
    match db.create_user(&NewUser { username: &admin.username, password_hash: &hash, roles: &roles }).await {
        // Another node created it at the same moment.
        Ok(_) | Err(apim_store::StoreError::Conflict { .. }) => {
            tracing::info!(username = %admin.username, "super admin ready");
            Ok(())
        }
        Err(e) => Err(e),
    }
}
