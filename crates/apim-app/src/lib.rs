//! Wiring: turns a validated configuration into a running node. It loads TLS material, decides the node's
//! [`Topology`] from its roles and configuration, builds each role from its own configuration (`roles.rs`), binds
//! every listener, brings the databases up (with retries), creates the super admin, starts the roles, and stops
//! them in order on shutdown.
//!
//! **Architecture Invariant:** everything that can be wrong in the configuration (including the TLS
//! keystore) is checked in [`App::start`] before the first port is bound.
//!
//! **Architecture Invariant:** `App::start` has no role booleans; each role is built from its own `Config`.

#![forbid(unsafe_code)]

pub mod health;
mod hub;
mod late;
mod proxy_protocol;
mod roles;
pub mod server;
pub mod tls;
pub mod topology;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use apim_config::{Database, DbKind, DbTarget, DeploymentConfig, HostsFile};
use apim_domain::{NodeRole, Role, password};
use apim_store::{NewUser, UserStore};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::health::Health;
use crate::roles::{ControlPlaneRole, GatewayRole, KeyManagerRole, Services, Tasks, TrafficManagerRole};
use crate::server::{Admission, Listener};
use crate::topology::{ListenerKind, ListenerSpec, Topology};

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
    /// Threads serving the API traffic listeners, each with its own current-thread runtime and its own
    /// `SO_REUSEPORT` socket per listener (the kernel spreads connections over them); `None`: they are served on
    /// the caller's runtime.
    pub traffic_workers: Option<std::num::NonZeroU16>,
}
/// A bound listener, as reported on start-up.
#[derive(Clone, Debug)]
pub struct BoundAddr {
    pub name: &'static str,
    pub scheme: &'static str,
    pub kind: ListenerKind,
    pub addr: SocketAddr,
}

pub struct App {
    pub listeners: Vec<BoundAddr>,
    shutdown: watch::Sender<bool>,
    /// The listeners' accept loops, drained first on shutdown.
    serving: Vec<JoinHandle<()>>,
    /// What the roles share: their background tasks, stopped once the listeners have drained, and the pools.
    roles: Services,
}

/// How long shutdown waits for the control plane's event-log tail to end (one poll, 5 ms, when the database
/// answers).
const TAIL_WAIT: Duration = Duration::from_secs(1);

impl App {
    pub async fn start(config: DeploymentConfig, opts: RunOptions) -> Result<App, AppError> {
        // Everything that can fail on configuration happens before binding.
        let identity = tls::load_identity(&config)?;
        let ecdsa = tls::load_ecdsa_identity(&config)?;
        let node_tls = identity.server_config(ecdsa.as_ref(), &config.transport.tls)?;
        // The gateway's HTTPS and WSS listeners pick a vhost's own certificate by SNI (`vhosts/<host>.pem`).
        let (gateway_tls, vhost_certs) = identity.gateway_server_config(ecdsa.as_ref(), &config)?;
        let trust = tls::load_truststore(&config)?;
        warn_default_admin(&config);
        let topology = Topology::of(&opts.roles, &config);
        let pools = databases(&topology, &config);
        let mut pending: Vec<&str> = pools.iter().map(|d| d.pool.as_str()).collect();
        pending.extend(topology.checks(config.super_admin.create_admin_account));
        let health = Health::new(topology.roles.clone(), &pending);
        let (shutdown, rx) = watch::channel(false);
        let (late, client_tls) = (late::LateRouter::new(health.clone()), tls::client_config(&identity, &trust));
        let s = Services {
            hosts: opts.hosts.clone(),
            client_tls,
            trust_roots: trust.iter().chain(identity.chain.iter()).cloned().collect(),
            health,
            late,
            tasks: Tasks::new(),
            shutdown: rx,
            control_plane: Arc::default(),
        };
        let roles = Roles::new(&topology, &config, &identity, &s)?;

        let specs = topology.listeners(&config, roles.gateway.as_ref().map(GatewayRole::config));
        let bound = bind(specs, opts.bind, opts.traffic_workers, &config).await?;
        tracing::info!(origin = %identity.origin, "tls identity loaded");
        if roles.gateway.is_some() && !vhost_certs.is_empty() {
            tracing::info!(hosts = ?vhost_certs, "vhost certificates for the gateway's TLS listeners (by SNI)");
        }
        for role in &topology.roles {
            tracing::info!(role = %role, "{}", roles.summary(*role, &config));
        }
        let listeners: Vec<BoundAddr> =
            bound.iter().map(|b| BoundAddr { name: b.spec.name, scheme: b.spec.kind.scheme(), kind: b.spec.kind, addr: b.addr }).collect();
        let admissions: Vec<Arc<Admission>> = bound.iter().filter_map(|b| b.admission.clone()).collect();
        if topology.serves_metrics() {
            s.late.mount(roles.metrics(admissions).route());
        }
        let ctx = Serving {
            router: health::routes(s.health.clone()).fallback_service(s.late.clone().service()),
            node_tls,
            gateway_tls,
            shutdown: s.shutdown.clone(),
            drain: opts.drain,
            header_read_timeout: config.transport.limits.header_read_timeout,
        };
        let (per_worker, single): (Vec<Bound>, Vec<Bound>) = bound.into_iter().partition(|b| b.siblings.is_some());
        let mut serving: Vec<JoinHandle<()>> = single.into_iter().filter_map(|b| ctx.serve(b, &roles)).collect();
        serving.extend(ctx.start_workers(per_worker, &roles));
        roles.start(config, pools, &s);
        Ok(App { listeners, shutdown, serving, roles: s })
    }

    pub fn addr(&self, name: &str) -> Option<SocketAddr> {
        self.listeners.iter().find(|l| l.name == name).map(|l| l.addr)
    }

    /// Stops the node in order: the listeners stop accepting and drain what is in flight, then the roles'
    /// background tasks stop, then the pools close, so nothing of ours reads a closed pool.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for t in self.serving {
            let _ = t.await;
        }
        let s = self.roles;
        s.tasks.stop().await;
        // The roles' routers went with the listeners; the control plane's event-log tail, which nothing follows
        // any more, ends at its next poll and lets go of it.
        s.late.clear();
        if let Some(cp) = s.control_plane.get() {
            let deadline = tokio::time::Instant::now() + TAIL_WAIT;
            while cp.strong_count() > 0 && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        for (_, db) in s.health.pools() {
            db.close().await;
        }
    }
}

/// The pools the roles open: `[database.apim_db]` and `[database.shared_db]`, else WSO2's H2 defaults.
fn databases(topology: &Topology, config: &DeploymentConfig) -> Vec<Database> {
    let (apim, shared) = topology.databases();
    let mut pools = Vec::new();
    if apim {
        pools.push(config.apim_db.clone().unwrap_or_else(|| wso2_default_db("apim_db", "WSO2AM_DB")));
    }
    if shared {
        pools.push(config.shared_db.clone().unwrap_or_else(|| wso2_default_db("shared_db", "WSO2SHARED_DB")));
    }
    pools
}

/// Every role the node runs, built from its own configuration before anything is bound.
struct Roles {
    key_manager: Option<KeyManagerRole>,
    control_plane: Option<ControlPlaneRole>,
    gateway: Option<GatewayRole>,
    traffic_manager: Option<TrafficManagerRole>,
}

impl Roles {
    fn new(topology: &Topology, config: &DeploymentConfig, identity: &tls::TlsIdentity, s: &Services) -> Result<Roles, AppError> {
        use topology::{Gateway, KeyManager, TrafficManager};
        // The node's RS256 key: the key manager's, and it signs API keys (control plane) and backend JWTs (gateway).
        let signing_der = match topology.key_manager == KeyManager::Local || topology.control_plane || topology.gateway != Gateway::None {
            true => Some(tls::jwt_signing_key(config, identity)?),
            false => None,
        };
        let signer = signing_der.as_deref().and_then(|der| apim_jose::jwt::SigningKey::from_der(der).ok()).map(Arc::new);
        let gateway = match topology.gateway {
            Gateway::None => None,
            Gateway::Resident | Gateway::Remote => Some(GatewayRole::new(config, topology, s, signer.clone())?),
        };
        let traffic_manager = match topology.traffic_manager {
            TrafficManager::Remote => Some(TrafficManagerRole::new(config, s)?),
            TrafficManager::None | TrafficManager::Local => None,
        };
        // The key manager signs with the node's RSA key, or with an ES256 or EdDSA key of its own.
        let key_manager = match (topology.key_manager, signing_der) {
            (KeyManager::Local, Some(der)) => Some(KeyManagerRole::new(config, s, tls::token_signing_key(config, der)?)),
            _ => None,
        };
        let control_plane = match topology.control_plane {
            true => Some(ControlPlaneRole::new(config, topology, s, signer)?),
            false => None,
        };
        Ok(Roles { key_manager, control_plane, gateway, traffic_manager })
    }

    /// The start-up line of a role the node was asked to run.
    fn summary(&self, role: NodeRole, config: &DeploymentConfig) -> String {
        let summary = match role {
            NodeRole::ControlPlane => self.control_plane.as_ref().map(ControlPlaneRole::summary),
            NodeRole::Gateway => self.gateway.as_ref().map(|g| g.summary().to_string()),
            NodeRole::KeyManager => self.key_manager.as_ref().map(KeyManagerRole::summary),
            NodeRole::TrafficManager => self.traffic_manager.as_ref().map(TrafficManagerRole::summary),
        };
        // A traffic manager with a control plane in its process runs nothing: its configuration is still shown.
        summary.unwrap_or_else(|| apim_traffic_manager::Config::from_deployment(config).summary())
    }

    /// Everything `/metrics` shows, gathered from the roles that have it.
    fn metrics(&self, listeners: Vec<Arc<Admission>>) -> Metrics {
        let tm = self.traffic_manager.as_ref();
        Metrics {
            gateway: self.gateway.as_ref().map(|g| g.built.clone()),
            traffic_manager: tm.map(|t| t.tm.clone()),
            // One process, one set of sync figures: the gateway's syncer's, else the traffic manager's.
            sync: self.gateway.as_ref().and_then(GatewayRole::syncer).or(tm.map(|t| &t.syncer)).cloned(),
            link: self.gateway.as_ref().and_then(GatewayRole::link_stats),
            listeners,
        }
    }

    /// Starts what needs no database now (a gateway or a traffic manager on its own), the rest once the databases
    /// are up.
    fn start(self, config: DeploymentConfig, pools: Vec<Database>, s: &Services) {
        let Roles { key_manager, control_plane, gateway, traffic_manager } = self;
        let resident = gateway.and_then(|g| g.start_on_its_own(s));
        if let Some(tm) = traffic_manager {
            tm.start(s);
        }
        s.tasks.spawn(bring_up(config, pools, s.clone(), key_manager, control_plane, resident));
    }
}

/// `/metrics`: the gateway's figures, the traffic manager's, the sync and throttle-link figures and the
/// listeners' counts, for a node with a gateway or a traffic manager of its own.
struct Metrics {
    /// The gateway once it is built (a resident one once the control plane is up).
    gateway: Option<Arc<OnceLock<Arc<apim_gateway::Gateway>>>>,
    traffic_manager: Option<Arc<apim_traffic_manager::TrafficManager>>,
    sync: Option<Arc<apim_sync::Syncer>>,
    link: Option<Arc<apim_sync::throttle::LinkStats>>,
    listeners: Vec<Arc<Admission>>,
}

impl Metrics {
    fn render(&self) -> String {
        let mut out = self.gateway.as_ref().and_then(|g| g.get()).map(|g| g.metrics_text()).unwrap_or_default();
        if let Some(tm) = &self.traffic_manager {
            out += &tm.metrics_text();
        }
        if let Some(sync) = &self.sync {
            out += &sync.stats.render();
        }
        if let Some(link) = &self.link {
            out += &link.render();
        }
        out + &Admission::render(&self.listeners)
    }

    fn route(self) -> axum::Router {
        let metrics = Arc::new(self);
        axum::Router::new().route("/metrics", axum::routing::get(move || std::future::ready(metrics.render())))
    }
}

/// A listener bound for its spec, with its connection limits when it has them (`ListenerKind::admitted`).
struct Bound {
    spec: ListenerSpec,
    listener: TcpListener,
    /// A traffic listener served by traffic workers: the sockets for its other workers, on the same address
    /// (`SO_REUSEPORT`; none with one worker).
    siblings: Option<Vec<TcpListener>>,
    addr: SocketAddr,
    admission: Option<Arc<Admission>>,
}

/// Binds every listener of the node, all before any is served: with traffic workers, one socket per worker for
/// each API traffic listener.
async fn bind(
    specs: Vec<ListenerSpec>,
    ip: IpAddr,
    workers: Option<std::num::NonZeroU16>,
    config: &DeploymentConfig,
) -> Result<Vec<Bound>, AppError> {
    let (limits, trusted) = (config.transport.limits, &config.gateway_request.trusted_proxies);
    let mut bound = Vec::new();
    for spec in specs {
        let addr = SocketAddr::new(ip, spec.port);
        let failed = |source| AppError::Bind { what: spec.name, addr, source };
        let per_worker = match (spec.kind, workers) {
            (ListenerKind::Traffic { .. }, Some(n)) => Some(n.get()),
            _ => None,
        };
        let (listener, addr, siblings) = match per_worker {
            None => {
                let listener = TcpListener::bind(addr).await.map_err(failed)?;
                let addr = listener.local_addr().map_err(failed)?;
                (listener, addr, None)
            }
            Some(n) => {
                // The first socket settles the port (port 0 in tests), the others join it.
                let first = reuse_port(addr).map_err(failed)?;
                let addr = first.local_addr().map_err(failed)?;
                let siblings = (1..n).map(|_| reuse_port(addr)).collect::<Result<Vec<_>, _>>().map_err(failed)?;
                (first, addr, Some(siblings))
            }
        };
        tracing::info!(listener = spec.name, %addr, "listening");
        // `[apim.gateway] proxy_protocol` is for the gateway's listeners.
        let proxy_protocol =
            matches!(spec.kind, ListenerKind::Traffic { .. } | ListenerKind::WebSocket { .. }) && config.gateway_request.proxy_protocol;
        // Every listener is bounded by `[transport.limits]`; the gRPC ones in `hub::incoming`.
        let admission = Some(Admission::new(spec.name, limits, trusted.clone(), proxy_protocol));
        bound.push(Bound { spec, listener, siblings, addr, admission });
    }
    Ok(bound)
}

/// A listening socket on `addr` that others of this process can share (`SO_REUSEPORT`).
fn reuse_port(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.set_reuseport(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// What the accept loops share.
struct Serving {
    /// The management router: health, then whatever the roles mount.
    router: axum::Router,
    node_tls: Arc<rustls::ServerConfig>,
    gateway_tls: Arc<rustls::ServerConfig>,
    shutdown: watch::Receiver<bool>,
    drain: Duration,
    header_read_timeout: Duration,
}

impl Serving {
    /// The traffic workers for the API traffic listeners bound with a socket per worker: worker `i` serves
    /// socket `i` of each. The task ends once every worker has drained.
    fn start_workers(&self, bound: Vec<Bound>, roles: &Roles) -> Option<JoinHandle<()>> {
        let gateway = roles.gateway.as_ref()?;
        let mut per_worker: Vec<Vec<server::TrafficSocket<_>>> = Vec::new();
        for b in bound {
            let (ListenerKind::Traffic { tls }, Some(admission)) = (b.spec.kind, b.admission) else { continue };
            let tls = tls.then(|| self.gateway_tls.clone());
            for (i, socket) in std::iter::once(b.listener).chain(b.siblings.into_iter().flatten()).enumerate() {
                if per_worker.len() <= i {
                    per_worker.push(Vec::new());
                }
                let make = gateway.slot.service_factory(tls.is_some());
                per_worker[i].push(server::TrafficSocket {
                    name: b.spec.name,
                    socket,
                    tls: tls.clone(),
                    admission: admission.clone(),
                    make,
                });
            }
        }
        if per_worker.is_empty() {
            return None;
        }
        let builder = apim_gateway::Gateway::connection_builder(self.header_read_timeout);
        let mut done = Vec::new();
        for (i, sockets) in per_worker.into_iter().enumerate() {
            let index = u16::try_from(i + 1).unwrap_or(u16::MAX);
            match server::start_traffic_worker(index, sockets, builder.clone(), self.shutdown.clone(), self.drain) {
                Ok(d) => done.push(d),
                Err(e) => tracing::error!("cannot start traffic worker {index}: {e}"),
            }
        }
        Some(tokio::spawn(async move {
            for d in done {
                let _ = d.await;
            }
        }))
    }

    /// Serves a bound listener by its kind; the task to drain on shutdown.
    fn serve(&self, b: Bound, roles: &Roles) -> Option<JoinHandle<()>> {
        let Bound { spec, listener, admission, .. } = b;
        let (name, rx, drain) = (spec.name, self.shutdown.clone(), self.drain);
        let http = |listener, tls: Option<&Arc<rustls::ServerConfig>>| {
            Some(Listener { name, listener, tls: tls.cloned(), admission: admission.clone()? })
        };
        let gateway = |tls: bool| roles.gateway.as_ref().map(|g| g.slot.service_factory(tls));
        let builder = apim_gateway::Gateway::connection_builder(self.header_read_timeout);
        let task = match spec.kind {
            ListenerKind::Management { tls } => {
                tokio::spawn(server::serve(http(listener, tls.then_some(&self.node_tls))?, self.router.clone(), rx, drain))
            }
            // The API traffic listeners run the gateway's own HTTP/1.1 server first (on this runtime when the
            // node has no traffic workers: `Serving::start_workers`).
            ListenerKind::Traffic { tls } => {
                let l = http(listener, tls.then_some(&self.gateway_tls))?;
                tokio::spawn(server::serve_gateway(l, builder, gateway(tls)?, rx, drain))
            }
            // WebSocket listeners take only upgrades: hyper's.
            ListenerKind::WebSocket { tls } => {
                let l = http(listener, tls.then_some(&self.gateway_tls))?;
                let make = gateway(tls)?;
                tokio::spawn(server::serve_with(l, builder, move |client, cert| make(client).with_client_certificate(cert), rx, drain))
            }
            ListenerKind::EventHub => {
                // Served from the start: UNAVAILABLE until the control plane is up. Its subscribers' streams end
                // only with the process, so shutdown does not wait for it.
                let hub = tonic::service::Routes::new(roles.control_plane.as_ref()?.hub.clone()?);
                tokio::spawn(serve_grpc(name, hub, listener, self.node_tls.clone(), admission?, rx));
                return None;
            }
            kind @ (ListenerKind::Usage { .. } | ListenerKind::Decisions) => {
                let routes = roles.traffic_manager.as_ref()?.routes(kind)?;
                tokio::spawn(serve_grpc(name, routes, listener, self.node_tls.clone(), admission?, rx))
            }
        };
        Some(task)
    }
}

/// Connects and migrates every pool, creates the super admin, then starts the roles that need the databases:
/// the key manager, the control plane, and the gateway resident with it.
async fn bring_up(
    config: DeploymentConfig,
    pools: Vec<Database>,
    s: Services,
    km: Option<KeyManagerRole>,
    cp: Option<ControlPlaneRole>,
    gw: Option<GatewayRole>,
) {
    let Some((apim, shared)) = bring_up_databases(&config, pools, &s).await else { return };
    let (Some(apim), Some(shared)) = (apim, shared) else { return };
    let km = match km {
        Some(km) => match km.start(&apim, &shared, &s).await {
            Some(k) => Some(k),
            None => return,
        },
        None => None,
    };
    let Some(cp) = cp else { return };
    if let (Some(resident), Some(gw)) = (cp.start(apim, shared, km, &s), gw) {
        gw.start_resident(resident, &s);
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
    /// This connection's service with the certificate its TLS client presented.
    pub(crate) fn with_client_certificate(self, der: Option<&rustls::pki_types::CertificateDer<'_>>) -> GatewayService {
        match der {
            None => self,
            Some(der) => {
                let peer = apim_gateway::Peer::new(self.peer.addr, self.peer.https).with_client_certificate(Some(der.as_ref()));
                GatewayService { slot: self.slot, peer: Arc::new(peer) }
            }
        }
    }

    /// The chain for a request the gateway's own HTTP/1.1 server read; none while the gateway is not loaded.
    pub(crate) fn chain(
        &self,
        req: http::Request<apim_gateway::RequestBody>,
    ) -> Option<impl Future<Output = Result<http::Response<apim_gateway::Body>, std::convert::Infallible>> + Send + '_> {
        self.slot.get().map(|gw| gw.answer_h1(req, &self.peer))
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
/// Serves gRPC services (the event hub, a traffic manager's usage or decisions) over HTTP/2, plain or TLS on the
/// same port, until shutdown. HTTP/2 pings every second notice a dead peer within three.
async fn serve_grpc(
    what: &'static str,
    routes: tonic::service::Routes,
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    admission: Arc<server::Admission>,
    mut shutdown: watch::Receiver<bool>,
) {
    let incoming = hub::incoming(listener, tls, admission);
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
/// Connects and migrates every pool, retrying with backoff, then creates the super admin once.
/// Returns the (apim_db, shared_db) handles, or `None` on shutdown.
async fn bring_up_databases(
    config: &DeploymentConfig,
    pools: Vec<Database>,
    s: &Services,
) -> Option<(Option<apim_store::Db>, Option<apim_store::Db>)> {
    let (hosts, health, mut shutdown) = (&s.hosts, &s.health, s.shutdown.clone());
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
                        () = server::stopped(&mut shutdown) => return None,
                    }
                    delay = (delay * 2).min(Duration::from_secs(15));
                }
            }
        };
        tracing::info!(pool = %db.pool, kind = db.kind.as_str(), address = %db.address(), "database connected and migrated");
        health.add_pool(&db.pool, handle.clone());
        health.set(&db.pool, true, None);
        // From here the pool's readiness is its watcher's to keep.
        s.tasks.spawn(health.clone().watch_pool(db.pool.clone(), db.address(), handle.clone(), shutdown.clone()));
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
                    () = server::stopped(&mut shutdown) => return None,
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
