//! One builder per role. Each is made from its own configuration and the node's shared services before anything
//! is bound (so every configuration error comes first) and started when what it needs is up: the key manager and
//! the control plane once their databases are, a resident gateway once the control plane is, the rest at once.
//! Starting a role mounts its routes and hands its background tasks to [`Tasks`].

use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use apim_config::{DeploymentConfig, HostsFile};
use apim_domain::scopes::{RevokedToken, TokenAuthority};
use apim_store::Db;
use apim_wire::analytics::AnalyticsBatch;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use crate::health::Health;
use crate::late::LateRouter;
use crate::topology::{self, Topology};
use crate::{AppError, GatewaySlot, hub, server};

/// What every role is built with besides its own configuration.
#[derive(Clone)]
pub(crate) struct Services {
    pub hosts: HostsFile,
    /// Verifies peers (backends, key managers, control planes, traffic managers): the truststore and the node's
    /// own chain.
    pub client_tls: Arc<rustls::ClientConfig>,
    /// What `client_tls` trusts, for the gateway's connectors of backends with endpoint certificates.
    pub trust_roots: Vec<rustls_pki_types::CertificateDer<'static>>,
    pub health: Arc<Health>,
    pub late: LateRouter,
    pub tasks: Tasks,
    pub shutdown: watch::Receiver<bool>,
    /// The control plane once it runs without an event hub, so shutdown can wait until its own event-log tail
    /// (spawned by `ControlPlane::event_tail`, polling `apim_db` until nobody follows it) has let go of it.
    pub control_plane: Arc<OnceLock<Weak<apim_control_plane::ControlPlane>>>,
}

/// The roles' background tasks, wherever they are started (some only once the databases are up). Stopped on
/// shutdown after the listeners drained and before the pools close; a task handed over after that is stopped at
/// once.
#[derive(Clone)]
pub(crate) struct Tasks(Arc<Mutex<Option<Vec<JoinHandle<()>>>>>);

impl Tasks {
    pub fn new() -> Tasks {
        Tasks(Arc::new(Mutex::new(Some(Vec::new()))))
    }

    pub fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        self.adopt([tokio::spawn(task)]);
    }

    pub fn adopt(&self, handles: impl IntoIterator<Item = JoinHandle<()>>) {
        let mut held = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match held.as_mut() {
            Some(all) => {
                all.retain(|h| !h.is_finished());
                all.extend(handles);
            }
            None => handles.into_iter().for_each(|h| h.abort()),
        }
    }

    /// Stops every task and waits until each is gone (its future dropped, with whatever it held).
    pub async fn stop(&self) {
        let all = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take().unwrap_or_default();
        for h in &all {
            h.abort();
        }
        for h in all {
            let _ = h.await;
        }
    }
}

/// The key manager: its own role, or resident in a control plane with no external one.
pub(crate) struct KeyManagerRole {
    cfg: apim_key_manager::Config,
    signing_der: Vec<u8>,
}

impl KeyManagerRole {
    pub fn new(config: &DeploymentConfig, s: &Services, signing_der: Vec<u8>) -> KeyManagerRole {
        // Until it mounts its routes, paths nobody serves answer 503 naming what is not ready.
        s.late.expect("key_manager");
        KeyManagerRole {
            cfg: apim_key_manager::Config { hosts: s.hosts.clone(), ..apim_key_manager::Config::from_deployment(config) },
            signing_der,
        }
    }

    pub fn summary(&self) -> String {
        self.cfg.summary()
    }

    /// Starts once its databases are up, retrying until it can publish its key, and mounts its routes; `None` on
    /// shutdown.
    pub async fn start(self, apim: &Db, shared: &Db, s: &Services) -> Option<Arc<apim_key_manager::KeyManager>> {
        let summary = self.cfg.summary();
        let mut shutdown = s.shutdown.clone();
        let mut delay = Duration::from_millis(500);
        loop {
            match apim_key_manager::KeyManager::start(
                apim.clone(),
                shared.clone(),
                self.cfg.clone(),
                &self.signing_der,
                s.client_tls.clone(),
            )
            .await
            {
                Ok(k) => {
                    s.late.mount_role("key_manager", k.router());
                    s.health.set("key_manager", true, None);
                    tracing::info!(kid = %k.signing_key().kid, "key manager ready: {summary}");
                    return Some(k);
                }
                Err(e) => {
                    tracing::warn!("cannot start the key manager: {e}; retrying");
                    s.health.set("key_manager", false, Some(e.to_string()));
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        () = server::stopped(&mut shutdown) => return None,
                    }
                    delay = (delay * 2).min(Duration::from_secs(15));
                }
            }
        }
    }
}

/// The control plane, with its event hub when it serves one.
pub(crate) struct ControlPlaneRole {
    cfg: apim_control_plane::Config,
    /// Signs DevPortal API keys: the node's RS256 key (the key manager's, when resident).
    api_key_signer: Option<Arc<apim_jose::jwt::SigningKey>>,
    /// `[apim.key_manager]` over HTTP(S), when no key manager runs in this process: it registers clients and
    /// checks tokens there.
    remote_km: Option<Arc<apim_km_client::RemoteKeyManager>>,
    /// Served from the moment its port is bound: `UNAVAILABLE` until the control plane is up.
    pub hub: Option<hub::LateHub>,
    /// The portals' sign-in callbacks (`https://localhost:9443/publisher/callback`, ...), for their public clients.
    portal_clients: Vec<PortalClient>,
    /// Who owns the portals' clients: the super admin.
    portal_owner: String,
}

/// A portal's public OAuth2 client, registered with the resident key manager at start-up.
#[derive(Clone)]
struct PortalClient {
    client_id: &'static str,
    name: &'static str,
    redirect_uris: Vec<String>,
}

/// The portals' clients, with a callback on every origin the management listeners answer as: `[server]
/// hostname` (also `127.0.0.1` when that is `localhost`) with the HTTPS port (a proxy's when set) and the HTTP port.
fn portal_clients(config: &DeploymentConfig) -> Vec<PortalClient> {
    let t = &config.transport;
    let mut hosts = vec![config.server.hostname.clone()];
    if config.server.hostname == "localhost" {
        hosts.push("127.0.0.1".into());
    }
    let mut origins = Vec::new();
    for h in &hosts {
        origins.push(match t.https_proxy_port.unwrap_or_else(|| t.https_port()) {
            443 => format!("https://{h}"),
            p => format!("https://{h}:{p}"),
        });
        origins.push(match t.http_proxy_port.unwrap_or_else(|| t.http_port()) {
            80 => format!("http://{h}"),
            p => format!("http://{h}:{p}"),
        });
    }
    [("apim_publisher", "Publisher", "publisher"), ("apim_devportal", "Developer Portal", "devportal"), ("apim_admin", "Admin", "admin")]
        .into_iter()
        .map(|(client_id, name, path)| PortalClient {
            client_id,
            name,
            redirect_uris: origins.iter().map(|o| format!("{o}/{path}/callback")).collect(),
        })
        .collect()
}

/// Registers the portals' public clients, retrying until the key manager's database takes them.
async fn register_portal_clients(km: Arc<apim_key_manager::KeyManager>, clients: Vec<PortalClient>, owner: String) {
    for c in clients {
        let mut delay = Duration::from_millis(500);
        while let Err(e) = km.register_public_client(c.client_id, c.name, &owner, &c.redirect_uris).await {
            tracing::warn!(client_id = c.client_id, "cannot register the portal's client: {e}");
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(15));
        }
    }
}

/// What a resident gateway takes from the control plane in its process.
pub(crate) struct Resident {
    cp: Arc<apim_control_plane::ControlPlane>,
    authority: Arc<dyn TokenAuthority>,
    revocations: Option<broadcast::Receiver<RevokedToken>>,
}

impl ControlPlaneRole {
    pub fn new(
        config: &DeploymentConfig,
        topology: &Topology,
        s: &Services,
        signer: Option<Arc<apim_jose::jwt::SigningKey>>,
    ) -> Result<ControlPlaneRole, AppError> {
        let remote_km = match (&config.key_manager, topology.key_manager) {
            (Some(k), topology::KeyManager::Remote) => {
                let user = k.username.clone().unwrap_or_else(|| config.super_admin.username.clone());
                let pass = k.password.as_ref().unwrap_or(&config.super_admin.password).expose().to_string();
                let client =
                    apim_km_client::RemoteKeyManager::new(&k.service_url, &user, &pass, None, s.hosts.clone(), s.client_tls.clone())
                        .map_err(|e| AppError::Config(format!("[apim.key_manager] service_url: {e}")))?;
                Some(Arc::new(client))
            }
            _ => None,
        };
        let mut cfg = apim_control_plane::Config::from_deployment(config);
        cfg.fetch_tls = Some(s.client_tls.clone());
        cfg.key_manager_connector =
            Some(apim_control_plane::Connector(Arc::new(apim_km_client::Connector::new(s.hosts.clone(), s.client_tls.clone()))));
        let hub = topology.event_hub.then(|| hub::LateHub::new(s.health.clone()));
        s.late.expect("control_plane");
        let (portal_clients, portal_owner) = (portal_clients(config), config.super_admin.username.clone());
        Ok(ControlPlaneRole { cfg, api_key_signer: signer, remote_km, hub, portal_clients, portal_owner })
    }

    pub fn summary(&self) -> String {
        self.cfg.summary()
    }

    /// Starts once the databases (and the resident key manager) are up: mounts its routes, hands the event hub
    /// the real service, records the resident key manager's revocations in the event log for gateways on other
    /// nodes and prunes the log hourly. Returns what a resident gateway needs, when there is a key manager.
    pub fn start(self, apim: Db, shared: Db, km: Option<Arc<apim_key_manager::KeyManager>>, s: &Services) -> Option<Resident> {
        let summary = self.cfg.summary();
        // Revocations by the resident key manager go into the event log, for gateways on other nodes.
        let recorded = km.as_ref().map(|k| k.revocations());
        // The portals sign in through the resident key manager as public clients. With a remote key manager
        // (`[apim.key_manager]` elsewhere) they are not registered yet: its registration has no public clients.
        match &km {
            Some(k) => s.tasks.spawn(register_portal_clients(k.clone(), self.portal_clients.clone(), self.portal_owner.clone())),
            None => tracing::warn!("the portals' sign-in needs the resident key manager; with a remote one only anonymous pages work"),
        }
        type Authority = Arc<dyn TokenAuthority>;
        type Revocations = broadcast::Receiver<RevokedToken>;
        let (keys, validator, authority, revocations): (
            Option<apim_control_plane::SharedKeyManager>,
            Option<apim_control_plane::SharedValidator>,
            Option<Authority>,
            Option<Revocations>,
        ) = match (km, self.remote_km) {
            (Some(k), _) => (Some(k.clone()), Some(k.clone()), Some(k.clone()), Some(k.revocations())),
            // Revocations from a remote key manager reach gateways through the control plane's /notify (event hub issue).
            (None, Some(r)) => (Some(r.clone()), Some(r.clone()), Some(r), None),
            (None, None) => (None, None, None, None),
        };
        let cp = apim_control_plane::ControlPlane::with_api_key_signer(apim, shared, self.cfg, validator, keys, self.api_key_signer);
        s.late.mount_role("control_plane", cp.router().merge(apim_portals::router()));
        s.health.set("control_plane", true, None);
        tracing::info!("control plane ready: {summary}");
        if let Some(rx) = recorded {
            s.tasks.spawn(record_revocations(cp.clone(), rx));
        }
        match &self.hub {
            Some(hub) => hub.set(cp.event_hub()),
            // With an event hub, its subscribers hold the control plane until the process ends.
            None => {
                let _ = s.control_plane.set(Arc::downgrade(&cp));
            }
        }
        let pruning = cp.clone();
        s.tasks.spawn(async move {
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
        authority.map(|authority| Resident { cp, authority, revocations })
    }
}

/// Writes the resident key manager's revocations into the event log (once each).
async fn record_revocations(cp: Arc<apim_control_plane::ControlPlane>, mut rx: broadcast::Receiver<RevokedToken>) {
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
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::error!("{n} revocation notices were not recorded for other gateways (queue overflow)");
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// The gateway, resident (fed by the control plane in its process) or on its own (fed by `apim-sync`).
pub(crate) struct GatewayRole {
    cfg: apim_gateway::Config,
    /// The start-up line: the gateway's own summary and what the node wires it to.
    summary: String,
    upstream_tls: rustls::ClientConfig,
    /// Signs backend JWTs (`[apim.jwt]`): the node's RS256 key.
    signer: Option<Arc<apim_jose::jwt::SigningKey>>,
    /// Its link to the traffic managers, when `[apim.throttling]` names them; without one it counts alone.
    link: Option<Arc<apim_sync::throttle::ThrottleLink>>,
    fail_mode: apim_config::FailMode,
    /// Its traffic listeners' service: 503 until the gateway has its first state.
    pub slot: GatewaySlot,
    /// The gateway once built, for `/metrics`.
    pub built: Arc<OnceLock<Arc<apim_gateway::Gateway>>>,
    /// On its own: its syncer and the key manager it checks tokens with.
    remote: Option<(Arc<apim_sync::Syncer>, Arc<dyn TokenAuthority>)>,
    /// The name its analytics rows carry (as the control plane knows the node).
    node_id: String,
}

impl GatewayRole {
    pub fn new(
        config: &DeploymentConfig,
        topology: &Topology,
        s: &Services,
        signer: Option<Arc<apim_jose::jwt::SigningKey>>,
    ) -> Result<GatewayRole, AppError> {
        let remote = match topology.gateway {
            topology::Gateway::Remote => Some(remote_gateway_parts(config, s)?),
            _ => None,
        };
        let mut cfg = apim_gateway::Config::from_deployment(config);
        cfg.upstream_roots = s.trust_roots.clone();
        let summary = format!(
            "{}, {} event hub endpoint(s), {} throttle decision endpoint(s)",
            cfg.summary(),
            config.event_hub.as_ref().map_or(0, |h| h.event_listening_endpoints.len()),
            config.throttling.as_ref().map_or(0, |t| t.throttle_decision_endpoints.len()),
        );
        Ok(GatewayRole {
            cfg,
            summary,
            upstream_tls: (*s.client_tls).clone(),
            signer,
            // An all-in-one node may still share quotas with others through traffic managers it names.
            link: throttle_link(config, s),
            fail_mode: config.throttling.as_ref().map(|t| t.fail_mode).unwrap_or_default(),
            slot: GatewaySlot::default(),
            built: Arc::default(),
            remote,
            node_id: node_id(config),
        })
    }

    pub fn config(&self) -> &apim_gateway::Config {
        &self.cfg
    }

    pub fn summary(&self) -> &str {
        &self.summary
    }

    pub fn syncer(&self) -> Option<&Arc<apim_sync::Syncer>> {
        self.remote.as_ref().map(|(syncer, _)| syncer)
    }

    pub fn link_stats(&self) -> Option<Arc<apim_sync::throttle::LinkStats>> {
        self.link.as_ref().map(|l| l.stats.clone())
    }

    /// A gateway on its own starts now, fed by its syncer; a resident one is handed back, to start once the
    /// control plane is up ([`Self::start_resident`]).
    pub fn start_on_its_own(mut self, s: &Services) -> Option<GatewayRole> {
        let Some((syncer, authority)) = self.remote.take() else { return Some(self) };
        tracing::info!("gateway syncing from the control plane: {}", self.summary);
        let (slot, health) = (self.slot.clone(), s.health.clone());
        let node = self.node_id.clone();
        let to = match &self.link {
            Some(link) => AnalyticsTo::Relayed(link.clone(), syncer.clone()),
            None => AnalyticsTo::Remote(syncer.clone()),
        };
        let gw = self.build(authority, s);
        s.tasks.spawn(ship_analytics(gw.clone(), node, to));
        let sink = Arc::new(RemoteGatewaySink { gw, slot, health });
        s.tasks.spawn(syncer.run(sink));
        None
    }

    /// Starts the in-process gateway: its state follows the control plane's event log, its revocations come
    /// straight from the resident key manager.
    pub fn start_resident(self, resident: Resident, s: &Services) {
        let Resident { cp, authority, revocations } = resident;
        let labels = self.cfg.gateway_labels.clone();
        let (summary, slot, health) = (self.summary.clone(), self.slot.clone(), s.health.clone());
        let node = self.node_id.clone();
        let gw = self.build(authority, s);
        s.tasks.spawn(ship_analytics(gw.clone(), node.clone(), AnalyticsTo::Resident(cp.clone())));
        let _ = slot.0.set(gw.clone());
        if let Some(mut revocations) = revocations {
            let revoking = gw.clone();
            s.tasks.spawn(async move {
                loop {
                    match revocations.recv().await {
                        Ok(r) => revoking.revoke(&r.id, r.expires_at),
                        Err(broadcast::error::RecvError::Lagged(n)) => {
                            tracing::error!("the gateway missed {n} revocation notices (queue overflow)");
                        }
                        Err(broadcast::error::RecvError::Closed) => return,
                    }
                }
            });
        }
        let mut tail = cp.event_tail();
        s.tasks.spawn(async move {
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
                        // What it serves, for the deployments' per-node status and the Admin's gateway nodes,
                        // as a remote gateway reports it; again each minute while nothing changes, so the
                        // node stays listed.
                        let served = state.deployed_revisions();
                        loop {
                            if let Err(e) = cp
                                .record_gateway_report(
                                    &node,
                                    labels.clone(),
                                    &served,
                                    Some(state.seq),
                                    Some(env!("CARGO_PKG_VERSION").into()),
                                )
                                .await
                            {
                                tracing::warn!("cannot record what the gateway serves: {e:?}");
                            }
                            match tokio::time::timeout(RESIDENT_REPORT_EVERY, tail.changed()).await {
                                Ok(Ok(())) => break,
                                Ok(Err(_)) => return,
                                Err(_) => continue,
                            }
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

    /// The gateway itself, linked to the traffic managers when the configuration names them: the one place the
    /// link starts.
    fn build(self, authority: Arc<dyn TokenAuthority>, s: &Services) -> Arc<apim_gateway::Gateway> {
        let gw = apim_gateway::Gateway::new(self.cfg, self.upstream_tls, authority, self.signer);
        if let Some(link) = self.link {
            gw.link_traffic_managers(self.fail_mode, link.node_id());
            s.tasks.adopt(link.start(Arc::new(GatewayUsage(gw.clone()))));
        }
        let _ = self.built.set(gw.clone());
        gw
    }
}

/// Where a gateway's analytics rows go: straight to the control plane in its process; with its usage to a
/// traffic manager, which passes them on; or over the control plane's internal data service, when no traffic
/// manager is configured or none takes them.
enum AnalyticsTo {
    Resident(Arc<apim_control_plane::ControlPlane>),
    Remote(Arc<apim_sync::Syncer>),
    Relayed(Arc<apim_sync::throttle::ThrottleLink>, Arc<apim_sync::Syncer>),
}

impl AnalyticsTo {
    /// One batch, stored by the control plane, or why not.
    async fn send(&self, batch: &AnalyticsBatch, relay_failing: &mut bool) -> Result<(), NotStored> {
        match self {
            AnalyticsTo::Resident(cp) => cp.record_analytics(batch).await.map(drop).map_err(|e| {
                if e.status.is_client_error() { NotStored::Refused(e.description) } else { NotStored::Unreachable(e.description) }
            }),
            AnalyticsTo::Remote(syncer) => Ok(syncer.ship_analytics(batch).await?),
            AnalyticsTo::Relayed(link, syncer) => match link.ship_analytics(batch).await {
                Err(apim_sync::CallError::Unreachable(why)) => {
                    // Said once until a traffic manager takes them again.
                    if !std::mem::replace(relay_failing, true) {
                        tracing::warn!("no traffic manager took analytics ({}); sending them to the control plane", why.join("; "));
                    }
                    Ok(syncer.ship_analytics(batch).await?)
                }
                taken => {
                    *relay_failing = false;
                    Ok(taken?)
                }
            },
        }
    }
}

/// Why an analytics batch was not stored.
#[derive(Debug)]
enum NotStored {
    /// A control plane answered and refused it (it does not convert, or the node's credentials are wrong): sent
    /// again, it would be refused again.
    Refused(String),
    /// None took it: it is kept and sent again.
    Unreachable(String),
}

impl From<apim_sync::CallError> for NotStored {
    fn from(e: apim_sync::CallError) -> NotStored {
        match e {
            apim_sync::CallError::Refused(why) => NotStored::Refused(why),
            apim_sync::CallError::Unreachable(why) => NotStored::Unreachable(why.join("; ")),
        }
    }
}

/// A gateway's analytics batches not yet stored, oldest first, sent in order until one is not taken.
#[derive(Default)]
struct Unsent {
    batches: std::collections::VecDeque<AnalyticsBatch>,
    /// Requests in the batches given up since [`Unsent::trim`] last said.
    lost: u64,
}

impl Unsent {
    /// What became of the oldest batch; whether to send the next one. A refused batch is given up at once: sent
    /// again it would be refused again, and the batches behind it would wait until it aged out.
    fn settle(&mut self, outcome: Result<(), NotStored>) -> bool {
        match outcome {
            Ok(()) => {}
            Err(NotStored::Refused(why)) => {
                let n = self.batches.front().map_or(0, requests);
                tracing::warn!("the control plane refused an analytics batch; its {n} requests are dropped: {why}");
                self.lost += n;
            }
            Err(NotStored::Unreachable(why)) => {
                tracing::warn!("cannot send analytics ({} batches waiting): {why}", self.batches.len());
                return false;
            }
        }
        self.batches.pop_front();
        true
    }

    /// Gives up the oldest batches beyond [`ANALYTICS_PENDING`], and returns the requests in every batch given
    /// up since the last call.
    fn trim(&mut self) -> u64 {
        while self.batches.len() > ANALYTICS_PENDING {
            self.lost += self.batches.pop_front().map_or(0, |old| requests(&old));
        }
        std::mem::take(&mut self.lost)
    }
}

/// The requests a batch counts. Rows are cumulative: a later batch may carry some of a given-up batch's requests
/// again; they are counted as lost all the same.
fn requests(batch: &AnalyticsBatch) -> u64 {
    batch.rows.iter().map(|r| r.requests).sum()
}

/// How often the in-process gateway reports what it serves while nothing changes: well within the control
/// plane's `GATEWAY_SILENCE` (5 minutes).
const RESIDENT_REPORT_EVERY: Duration = Duration::from_secs(60);

/// How often a gateway sends the analytics rows that changed: a minute's traffic shows in the portals this soon.
const ANALYTICS_EVERY: Duration = Duration::from_secs(5);

/// Batches kept while no control plane can be reached (a minute's worth); older ones are dropped, counted.
const ANALYTICS_PENDING: usize = 12;

/// Sends the gateway's changed analytics rows every [`ANALYTICS_EVERY`], in order, keeping the unsent ones; ends
/// at once when `[apim.analytics]` is off.
async fn ship_analytics(gw: Arc<apim_gateway::Gateway>, node: String, to: AnalyticsTo) {
    // A restart starts new rows rather than overwriting what the previous run sent for the same minute.
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let mut unsent = Unsent::default();
    let mut lost = 0u64;
    let mut relay_failing = false;
    let mut tick = tokio::time::interval(ANALYTICS_EVERY);
    loop {
        tick.tick().await;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        let Some((rows, dropped)) = gw.take_analytics(now) else { return };
        if !rows.is_empty() || dropped > 0 || lost > 0 {
            let dropped = dropped + std::mem::take(&mut lost);
            unsent.batches.push_back(AnalyticsBatch { gateway_id: node.clone(), run_id: run_id.clone(), rows, dropped });
        }
        while let Some(batch) = unsent.batches.front() {
            let outcome = to.send(batch, &mut relay_failing).await;
            if !unsent.settle(outcome) {
                break;
            }
        }
        let given_up = unsent.trim();
        if given_up > 0 {
            lost += given_up;
            gw.analytics_lost(given_up);
        }
    }
}

/// What a gateway on its own node needs, checked before anything is bound: its syncer and the key manager it
/// verifies tokens with (`[apim.key_manager]`, else the control plane's resident one at the event hub's
/// `service_url`).
fn remote_gateway_parts(config: &DeploymentConfig, s: &Services) -> Result<(Arc<apim_sync::Syncer>, Arc<dyn TokenAuthority>), AppError> {
    let syncer = syncer_for(config, s, "gateway", true)?;
    let admin = &config.super_admin;
    let (km_url, km_user, km_pass) = match &config.key_manager {
        Some(k) => (
            k.service_url.clone(),
            k.username.clone().unwrap_or_else(|| admin.username.clone()),
            k.password.as_ref().unwrap_or(&admin.password).expose().to_string(),
        ),
        None => (event_hub_service_url(config), admin.username.clone(), admin.password.expose().to_string()),
    };
    let mut km = apim_km_client::RemoteKeyManager::new(&km_url, &km_user, &km_pass, None, s.hosts.clone(), s.client_tls.clone())
        .map_err(|e| AppError::Config(format!("[apim.key_manager] service_url: {e}")))?;
    // The control planes' resident key manager: every control plane the gateway syncs from has one.
    if config.key_manager.is_none() {
        km = km.with_fallbacks(syncer.bases());
    }
    Ok((syncer, Arc::new(km)))
}

/// A gateway's link to the traffic managers, when `[apim.throttling]` names url_groups and decision endpoints
/// and `enable_data_publishing` is on. A url_group's `traffic_manager_urls` (plain) are used when given, else its
/// `traffic_manager_auth_urls` (TLS); credentials are `[apim.throttling]`'s, else the super admin's.
fn throttle_link(config: &DeploymentConfig, s: &Services) -> Option<Arc<apim_sync::throttle::ThrottleLink>> {
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
    Some(apim_sync::throttle::ThrottleLink::new(cfg, s.hosts.clone(), s.client_tls.clone()))
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

/// A traffic manager on its own: follows the control plane's policies and block conditions, takes usage on
/// 9611 and 9711 (+ offset) and serves decisions on 5672 + offset.
/// How often a traffic manager tells the control plane its decisions in force (the Admin portal's view).
const TRAFFIC_MANAGER_REPORT_EVERY: Duration = Duration::from_secs(3);

pub(crate) struct TrafficManagerRole {
    pub tm: Arc<apim_traffic_manager::TrafficManager>,
    pub syncer: Arc<apim_sync::Syncer>,
}

impl TrafficManagerRole {
    pub fn new(config: &DeploymentConfig, s: &Services) -> Result<TrafficManagerRole, AppError> {
        let syncer = syncer_for(config, s, "traffic-manager", false)?;
        Ok(TrafficManagerRole {
            tm: apim_traffic_manager::TrafficManager::new(apim_traffic_manager::Config::from_deployment(config)),
            syncer,
        })
    }

    pub fn summary(&self) -> String {
        self.tm.config().summary()
    }

    /// The gRPC services of its listeners: usage (both ports) and decisions.
    pub fn routes(&self, kind: topology::ListenerKind) -> Option<tonic::service::Routes> {
        let (usage, decisions) = self.tm.services();
        match kind {
            topology::ListenerKind::Usage { .. } => Some(tonic::service::Routes::new(usage)),
            topology::ListenerKind::Decisions => Some(tonic::service::Routes::new(decisions)),
            _ => None,
        }
    }

    /// Sweeps windows, forwards decisions to its peers, follows the control plane and reports to it.
    pub fn start(self, s: &Services) {
        s.tasks.adopt(self.tm.start(s.hosts.clone(), s.client_tls.clone()));
        // Gateways send their analytics rows with their usage; they go on to the control plane it follows.
        self.tm.relay_analytics_to(self.syncer.clone());
        let (tm, syncer) = (self.tm.clone(), self.syncer.clone());
        s.tasks.spawn(async move {
            let mut failing = false;
            loop {
                match syncer.report_traffic_manager(&tm.report(syncer.node_id())).await {
                    Ok(()) => failing = false,
                    // Said once until it works again: the Admin portal misses this node meanwhile, nothing else.
                    Err(e) if !failing => {
                        failing = true;
                        tracing::warn!("cannot report the traffic manager's decisions to the control plane: {e}");
                    }
                    Err(_) => {}
                }
                tokio::time::sleep(TRAFFIC_MANAGER_REPORT_EVERY).await;
            }
        });
        let sink = Arc::new(TrafficManagerSink { tm: self.tm, health: s.health.clone(), synced: Default::default() });
        s.tasks.spawn(self.syncer.run(sink));
    }
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

/// A node's follower of a control plane (`[apim.event_hub]`, with WSO2's defaults when the table or a key is
/// absent: a control plane on this host), checked before anything is bound. `apis`: a gateway (its labels' APIs
/// too) or a traffic manager (policies and the rest only); the state is saved under `<data>/<role>/`.
fn syncer_for(config: &DeploymentConfig, s: &Services, role: &str, apis: bool) -> Result<Arc<apim_sync::Syncer>, AppError> {
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
    let syncer = apim_sync::Syncer::new(sync, s.hosts.clone(), s.client_tls.clone())
        .map_err(|e| AppError::Config(format!("[apim.event_hub]: {e}")))?;
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

#[cfg(test)]
mod tests {
    use apim_wire::analytics::{AnalyticsBatch, MinuteRow, Sketch};

    use super::{ANALYTICS_PENDING, NotStored, Unsent};

    /// A batch of one row of `requests`, told apart by `dropped`.
    fn batch(id: u64, requests: u64) -> AnalyticsBatch {
        let row = MinuteRow {
            minute: 60,
            api_id: "api-1".into(),
            api_name: "Shop".into(),
            api_version: "1.0.0".into(),
            resource: "/orders".into(),
            method: "GET".into(),
            application_id: String::new(),
            application_name: String::new(),
            application_owner: String::new(),
            key_type: apim_wire::KeyType::Production,
            status_class: 2,
            requests,
            throttled: 0,
            blocked: 0,
            gateway_errors: 0,
            latency: Sketch::default(),
            backend_latency: Sketch::default(),
        };
        AnalyticsBatch { gateway_id: "gw".into(), run_id: "run".into(), rows: vec![row], dropped: id }
    }

    /// A refused batch is given up at once and the ones behind it are sent in the same turn; while nothing is
    /// reachable every batch waits, the oldest going beyond the limit, counted.
    #[test]
    fn a_refused_batch_does_not_hold_up_the_ones_behind_it() {
        let mut unsent = Unsent::default();
        unsent.batches.extend([batch(1, 10), batch(2, 20), batch(3, 30)]);
        assert!(unsent.settle(Err(NotStored::Refused("rows[0].statusClass: 9 is no status class".into()))));
        assert_eq!(unsent.batches.front().map(|b| b.dropped), Some(2), "the next one is sent");
        assert!(unsent.settle(Ok(())));
        assert!(!unsent.settle(Err(NotStored::Unreachable("connection refused".into()))), "nothing more is tried");
        assert_eq!((unsent.batches.len(), unsent.trim()), (1, 10));
        assert_eq!(unsent.trim(), 0, "said once");

        unsent.batches.extend((0..ANALYTICS_PENDING as u64 + 1).map(|i| batch(i, 1)));
        assert!(!unsent.settle(Err(NotStored::Unreachable("connection refused".into()))));
        assert_eq!((unsent.trim(), unsent.batches.len()), (30 + 1, ANALYTICS_PENDING), "the oldest two went");
        assert_eq!(unsent.batches.front().map(|b| b.dropped), Some(1));
    }
}
