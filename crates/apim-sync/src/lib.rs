//! A node's view of the control plane, for gateways and traffic managers on their own hosts: the
//! runtime state of its gateway labels pulled from `/internal/data/v1/runtime-artifacts`, saved under the
//! data directory, then kept current by the event hub's stream (DESIGN §5).
//!
//! At start the saved copy is served at once (so a gateway restarts while every control plane is down), then a
//! fresh snapshot replaces it. Events arrive in order with a gap-aware cursor; a revocation applies directly,
//! any other event marks the part of the state it changes (one API, or "the rest": applications, keys,
//! subscriptions, policies, block conditions), and the puller fetches just those parts and patches its copy
//! (bursts cost one pull). A stream silent for two seconds, closed, or refused moves to the next
//! `event_listening_endpoints` entry with backoff; a "resync" answer pulls a whole snapshot first. A pull moves
//! to the next control plane on silence, a refused connection, 5xx or 404 (a node that is not ready), on a new
//! connection: the failed peer's pooled connections are dropped. When a stream goes silent or breaks, every
//! pooled pull connection is dropped (behind a balancer one may be pinned to the control plane that went silent)
//! and a pull still waiting for an answer tries the next control plane; pulls start at the control plane the
//! new stream reached, which has just shown it is alive.
//!
//! Event kinds are `apim_wire::hub::EventKind`, the control plane's own table; an event of a kind this version
//! does not know (a newer control plane's) is counted (`apim_sync_events_unknown_total`), never fatal.
//!
//! **Architecture Invariant:** what a node serves is built only from what the control plane sent: a whole
//! snapshot, patched by parts that events named; an event this node cannot place (an unknown kind included)
//! asks for a whole snapshot.

#![forbid(unsafe_code)]

pub mod throttle;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use apim_config::{Endpoint, EndpointScheme, HostsFile};
use apim_wire::RuntimeState;
use apim_wire::hub::{self, Cursor, EventKind, SubscribeRequest, hub_message::Kind};
use base64::Engine;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::sync::Notify;

/// A subscriber that hears nothing (not even a heartbeat, sent each quiet second) for this long reconnects: two
/// heartbeats missed. A reconnect that was not needed costs a resubscription from the same position.
pub const SILENCE: Duration = Duration::from_secs(2);
const PULL_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a control plane may take to start answering a pull.
const ANSWER: Duration = Duration::from_secs(5);

/// Where the synchronised state goes: the gateway, in the wiring.
pub trait StateSink: Send + Sync + 'static {
    /// A whole runtime state (saved or fresh) to serve.
    fn install(&self, state: &RuntimeState);
    /// A revoked access token (`jti`, or SHA-256 of an opaque token), until `expires_at` (Unix seconds).
    fn revoke(&self, id: &str, expires_at: i64);
    /// Nothing to serve yet, and why (for readiness).
    fn waiting(&self, _reason: &str) {}
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("`{0}` is not an http(s) URL with a host")]
    BadServiceUrl(String),
    #[error("no event_listening_endpoints are configured")]
    NoEndpoints,
}

/// Settings of one synchronising node.
pub struct SyncConfig {
    /// `[apim.event_hub] service_url`: scheme, host and port are used (`/services/` is WSO2's SOAP root).
    pub service_url: String,
    pub endpoints: Vec<Endpoint>,
    pub username: String,
    pub password: String,
    pub node_id: String,
    pub role: String,
    pub labels: Vec<String>,
    /// Whether this node serves APIs (a gateway) or only needs the rest: policies, block conditions,
    /// applications, subscriptions (a traffic manager).
    pub apis: bool,
    /// Where the last snapshot is saved (`<data>/gateway/runtime-state.json`).
    pub saved: PathBuf,
}

/// How often a gateway reports a state that changed only its event-hub position (see `keep`).
const POSITION_REPORT_EVERY: Duration = Duration::from_secs(2);

type HttpClient = Client<apim_net::HttpsConnector, Full<Bytes>>;

/// Counters for `/metrics`: what the stream delivered and what was done with it.
#[derive(Default)]
pub struct SyncStats {
    /// Events taken from the stream and acted on (each sequence number at most once).
    pub events_applied: AtomicU64,
    /// Events dropped because their number had been seen (should stay 0).
    pub events_duplicate: AtomicU64,
    /// Events of a kind this version does not know (from a newer control plane); each pulls the whole state.
    pub events_unknown: AtomicU64,
    /// States installed: whole snapshots, and patches of the parts events named.
    pub snapshots: AtomicU64,
    pub patches: AtomicU64,
    /// Streams opened (the first, then every reconnect).
    pub streams: AtomicU64,
    /// The highest sequence number seen on the stream, and the installed snapshot's.
    pub stream_seq: AtomicI64,
    pub snapshot_seq: AtomicI64,
}

impl SyncStats {
    pub fn render(&self) -> String {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        format!(
            "# TYPE apim_sync_events_applied_total counter\napim_sync_events_applied_total {}\n\
             # TYPE apim_sync_events_duplicate_total counter\napim_sync_events_duplicate_total {}\n\
             # TYPE apim_sync_events_unknown_total counter\napim_sync_events_unknown_total {}\n\
             # TYPE apim_sync_snapshots_total counter\napim_sync_snapshots_total {}\n\
             # TYPE apim_sync_patches_total counter\napim_sync_patches_total {}\n\
             # TYPE apim_sync_streams_total counter\napim_sync_streams_total {}\n\
             # TYPE apim_sync_stream_seq gauge\napim_sync_stream_seq {}\n\
             # TYPE apim_sync_snapshot_seq gauge\napim_sync_snapshot_seq {}\n",
            g(&self.events_applied),
            g(&self.events_duplicate),
            g(&self.events_unknown),
            g(&self.snapshots),
            g(&self.patches),
            g(&self.streams),
            self.stream_seq.load(Ordering::Relaxed),
            self.snapshot_seq.load(Ordering::Relaxed),
        )
    }
}

impl SyncStats {
    /// Counts an event of an unknown kind; the first is logged as a warning, the others at debug level.
    fn unknown_kind(&self, seq: i64, unknown: &apim_wire::UnknownWord) {
        if self.events_unknown.fetch_add(1, Ordering::Relaxed) == 0 {
            tracing::warn!(seq, "{unknown} (a newer control plane?): pulling the whole state; counted in apim_sync_events_unknown_total");
        } else {
            tracing::debug!(seq, "{unknown}: pulling the whole state");
        }
    }
}

pub struct Syncer {
    cfg: SyncConfig,
    pub stats: SyncStats,
    /// Index into `bases` of the control plane that answered last.
    preferred: std::sync::atomic::AtomicUsize,
    /// Where snapshots are pulled from, in order: `service_url` (in HA, a load balancer), then each event hub
    /// host on that port and on WSO2's management port, so a gateway still syncs when the balancer is gone.
    bases: Vec<String>,
    /// One HTTP client (and so one connection pool) per entry of `bases`, replaced when that peer fails.
    clients: Vec<std::sync::Mutex<HttpClient>>,
    basic: String,
    hosts: HostsFile,
    /// For `https://` pulls and `ssl://` event hub endpoints.
    tls: Arc<rustls::ClientConfig>,
    /// The host of the event hub endpoint the stream last left, until a stream reaches it again: pulls try its
    /// bases last.
    silent_host: std::sync::Mutex<Option<String>>,
    /// Wakes pulls in flight when the stream leaves a control plane: one may be waiting on it.
    stream_moved: Notify,
}

impl Syncer {
    pub fn new(cfg: SyncConfig, hosts: HostsFile, tls: Arc<rustls::ClientConfig>) -> Result<Syncer, SyncError> {
        let uri: http::Uri = cfg.service_url.parse().map_err(|_| SyncError::BadServiceUrl(cfg.service_url.clone()))?;
        let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
            return Err(SyncError::BadServiceUrl(cfg.service_url.clone()));
        };
        if scheme != "http" && scheme != "https" {
            return Err(SyncError::BadServiceUrl(cfg.service_url.clone()));
        }
        if cfg.endpoints.is_empty() {
            return Err(SyncError::NoEndpoints);
        }
        let mut bases = vec![format!("{scheme}://{authority}")];
        let port = uri.port_u16().unwrap_or(if scheme == "https" { 443 } else { 80 });
        for e in &cfg.endpoints {
            for p in [port, apim_config::ports::MGT_HTTPS] {
                let b = format!("{scheme}://{}:{p}", e.host);
                if !bases.contains(&b) {
                    bases.push(b);
                }
            }
        }
        let clients = bases.iter().map(|_| std::sync::Mutex::new(http_client(&hosts, &tls))).collect();
        let basic = basic(&cfg.username, &cfg.password);
        Ok(Syncer {
            cfg,
            stats: SyncStats::default(),
            preferred: Default::default(),
            bases,
            clients,
            basic,
            hosts,
            tls,
            silent_host: Default::default(),
            stream_moved: Notify::new(),
        })
    }

    /// The control planes this node pulls from, in the order it tries them (`scheme://host:port`).
    pub fn bases(&self) -> &[String] {
        &self.bases
    }

    fn client(&self, peer: usize) -> HttpClient {
        self.clients[peer].lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Drops the pooled connections to a peer that failed or is not ready: the next request opens a new one,
    /// which behind a load balancer may reach another control plane.
    fn forget(&self, peer: usize) {
        *self.clients[peer].lock().unwrap_or_else(|p| p.into_inner()) = http_client(&self.hosts, &self.tls);
    }

    /// A stream to the control plane on `host` went silent or broke: no pooled connection is reused across
    /// that, since one to `service_url` may lead through a balancer to that control plane; a pull still waiting
    /// for an answer gives up its attempt and goes on to the next control plane, with `host`'s last.
    fn left_host(&self, host: &str) {
        self.suspect_host(host);
        for peer in 0..self.clients.len() {
            self.forget(peer);
        }
        self.stream_moved.notify_waiters();
    }

    /// The control plane on `host` could not be subscribed to, or left: pulls try its bases last.
    fn suspect_host(&self, host: &str) {
        *self.silent_host.lock().unwrap_or_else(|p| p.into_inner()) = Some(host.to_string());
    }

    /// The stream reached the control plane on `host`, which has just shown it is alive: after a failover, pulls
    /// start there, if it is among the bases.
    fn reached_host(&self, host: &str, moved: bool) {
        let mut silent = self.silent_host.lock().unwrap_or_else(|p| p.into_inner());
        if silent.as_deref() == Some(host) {
            *silent = None;
        }
        if !moved {
            return;
        }
        if let Some(i) = self.bases.iter().position(|b| host_of(b) == Some(host)) {
            self.preferred.store(i, Ordering::Relaxed);
        }
    }

    /// The order to try the bases in: from the one that answered last, those on the host the stream left last.
    fn pull_order(&self) -> Vec<usize> {
        let n = self.bases.len();
        let first = self.preferred.load(Ordering::Relaxed) % n;
        let silent = self.silent_host.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let (mut order, suspect): (Vec<usize>, Vec<usize>) =
            (0..n).map(|k| (first + k) % n).partition(|i| silent.is_none() || host_of(&self.bases[*i]) != silent.as_deref());
        order.extend(suspect);
        order
    }

    /// The saved snapshot, if there is a readable one.
    pub fn load_saved(&self) -> Option<RuntimeState> {
        let text = std::fs::read(&self.cfg.saved).ok()?;
        match serde_json::from_slice::<RuntimeState>(&text) {
            Ok(s) if labels_match(&s.labels, &self.cfg.labels) => Some(s),
            Ok(_) => {
                tracing::warn!(path = %self.cfg.saved.display(), "the saved runtime state is for other gateway labels; ignored");
                None
            }
            Err(e) => {
                tracing::warn!(path = %self.cfg.saved.display(), "the saved runtime state is unreadable ({e}); ignored");
                None
            }
        }
    }

    /// Writes the snapshot next to its final name, then renames it over: a crash leaves the old or the new one.
    /// Whether it was written.
    fn save(&self, state: &RuntimeState) -> bool {
        let write = || -> std::io::Result<()> {
            if let Some(dir) = self.cfg.saved.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let tmp = self.cfg.saved.with_extension("json.tmp");
            std::fs::write(&tmp, serde_json::to_vec(state).map_err(std::io::Error::other)?)?;
            std::fs::rename(&tmp, &self.cfg.saved)
        };
        match write() {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(path = %self.cfg.saved.display(), "cannot save the runtime state: {e}");
                false
            }
        }
    }

    /// The last installed state, to patch: the keeper's copy while it still has one, else the saved file, if the
    /// keeper saved that very state. `None` (a save failed, or the file no longer reads back as it): the caller
    /// pulls a whole snapshot.
    async fn recall(self: &Arc<Self>, held: &Held, outbox: &Outbox) -> Option<Arc<RuntimeState>> {
        if let Some(s) = held.state.upgrade() {
            return Some(s);
        }
        if outbox.saved.load(Ordering::SeqCst) != held.generation {
            return None;
        }
        let me = self.clone();
        let started = std::time::Instant::now();
        let saved = tokio::task::spawn_blocking(move || me.load_saved()).await.ok().flatten()?;
        tracing::debug!(apis = saved.apis.len(), ms = started.elapsed().as_millis() as u64, "runtime state read back to patch");
        (saved.seq == held.seq).then(|| Arc::new(saved))
    }

    /// Pulls the whole runtime state of this node's labels from the first control plane that answers.
    pub async fn pull(&self) -> Result<RuntimeState, CallError> {
        let mut s = self.pull_query(if self.cfg.apis { "" } else { "&apis=false" }).await?;
        // For a node without APIs the rest is the whole state.
        s.partial = None;
        Ok(s)
    }

    /// Pulls `runtime-artifacts` with `extra` query parameters (a part of the state) from the first control
    /// plane that answers.
    async fn pull_query(&self, extra: &str) -> Result<RuntimeState, CallError> {
        let mut errors = Vec::new();
        // Start with the control plane that answered last: a hung one costs its timeout once, not every pull.
        for i in self.pull_order() {
            match self.pull_from(i, extra).await {
                Ok(s) => {
                    self.preferred.store(i, Ordering::Relaxed);
                    return Ok(s);
                }
                // A control plane that answered (401, 400, bad JSON) is not skipped over: the problem is ours.
                Err((true, e)) => return Err(CallError::Refused(e)),
                // Silent, refused, not ready (503) or not serving the data service (404): the next one.
                Err((false, e)) => {
                    self.forget(i);
                    errors.push(e);
                }
            }
        }
        Err(CallError::Unreachable(errors))
    }

    /// `Err((final, message))`: final when the control plane answered and the problem is ours.
    async fn pull_from(&self, peer: usize, extra: &str) -> Result<RuntimeState, (bool, String)> {
        let base = &self.bases[peer];
        let http = self.client(peer);
        let labels: Vec<String> = self.cfg.labels.iter().map(|l| form_urlencoded_label(l)).collect();
        let url = format!("{base}/internal/data/v1/runtime-artifacts?gatewayLabel={}{extra}", labels.join(","));
        let req = http::Request::get(&url)
            .header(http::header::AUTHORIZATION, &self.basic)
            .body(Full::default())
            .map_err(|e| (true, e.to_string()))?;
        let fetch = async {
            // A control plane that accepts but never answers (hung) is left after ANSWER, or as soon as the stream
            // leaves a silent control plane (which may be this one, behind a balancer); a big snapshot may take
            // longer to arrive once it has begun.
            let moved = self.stream_moved.notified();
            let resp = tokio::select! {
                answer = tokio::time::timeout(ANSWER, http.request(req)) => answer
                    .map_err(|_| (false, format!("{base}: no answer within {ANSWER:?}")))?
                    .map_err(|e| (false, apim_net::describe(&e, base)))?,
                () = moved => return Err((false, format!("{base}: no answer yet when the event hub stream left a control plane"))),
            };
            let status = resp.status();
            let body = resp.into_body().collect().await.map_err(|e| (false, apim_net::describe(&e, base)))?.to_bytes();
            if !answered(status) {
                return Err((false, format!("{base} answered {status}{}", reason(&body))));
            }
            if !status.is_success() {
                return Err((true, format!("{base} answered {status}: {}", String::from_utf8_lossy(&body[..body.len().min(300)]))));
            }
            serde_json::from_slice::<RuntimeState>(&body)
                .map_err(|e| (true, format!("{base} sent a runtime state that does not parse: {e}")))
        };
        tokio::time::timeout(PULL_TIMEOUT, fetch).await.map_err(|_| (false, format!("{base}: timed out")))?
    }

    /// Tells the control plane which revisions this node serves (`PATCH .../apis/deployed-revisions`), with the
    /// event-hub position its state reflects and its version, for the Admin portal's gateway nodes page.
    async fn report(&self, served: &[apim_wire::DeployedRevisionAck], applied_seq: i64) -> Result<(), CallError> {
        let body = serde_json::to_vec(served).map_err(|e| CallError::Refused(e.to_string()))?;
        let labels: Vec<String> = self.cfg.labels.iter().map(|l| form_urlencoded_label(l)).collect();
        let query = format!(
            "gatewayId={}&gatewayLabel={}&appliedSequence={applied_seq}&version={}",
            form_urlencoded_label(&self.cfg.node_id),
            labels.join(","),
            env!("CARGO_PKG_VERSION")
        );
        self.send(http::Method::PATCH, &format!("/internal/data/v1/apis/deployed-revisions?{query}"), body).await
    }

    /// Sends this gateway's analytics rows to a control plane (`POST /internal/data/v1/analytics`).
    pub async fn ship_analytics(&self, batch: &apim_wire::analytics::AnalyticsBatch) -> Result<(), CallError> {
        let body = serde_json::to_vec(batch).map_err(|e| CallError::Refused(e.to_string()))?;
        self.send(http::Method::POST, "/internal/data/v1/analytics", body).await
    }

    /// Tells a control plane what this traffic manager holds (`POST /internal/data/v1/traffic-managers`), for the
    /// Admin portal.
    pub async fn report_traffic_manager(&self, report: &apim_wire::throttle::TrafficManagerReport) -> Result<(), CallError> {
        let body = serde_json::to_vec(report).map_err(|e| CallError::Refused(e.to_string()))?;
        self.send(http::Method::POST, "/internal/data/v1/traffic-managers", body).await
    }

    /// The node id this follower names itself by.
    pub fn node_id(&self) -> &str {
        &self.cfg.node_id
    }

    /// A JSON body to the first control plane that takes it, starting with the one that answered last; one that
    /// answered and refused (4xx) is not tried past, as the problem is ours.
    async fn send(&self, method: http::Method, path_and_query: &str, body: Vec<u8>) -> Result<(), CallError> {
        let body = Bytes::from(body);
        let mut errors = Vec::new();
        let first = self.preferred.load(Ordering::Relaxed) % self.bases.len();
        for i in (0..self.bases.len()).map(|k| (first + k) % self.bases.len()) {
            let base = &self.bases[i];
            let req = http::Request::builder()
                .method(method.clone())
                .uri(format!("{base}{path_and_query}"))
                .header(http::header::AUTHORIZATION, &self.basic)
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(Full::new(body.clone()))
                .map_err(|e| CallError::Refused(e.to_string()))?;
            let failed = match tokio::time::timeout(Duration::from_secs(10), self.client(i).request(req)).await {
                Ok(Ok(r)) if r.status().is_success() => return Ok(()),
                Ok(Ok(r)) if answered(r.status()) => {
                    let status = r.status();
                    let body = r.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                    return Err(CallError::Refused(format!("{base} answered {status}{}", reason(&body))));
                }
                Ok(Ok(r)) => format!("{base} answered {}", r.status()),
                Ok(Err(e)) => apim_net::describe(&e, base),
                Err(_) => format!("{base}: timed out"),
            };
            self.forget(i);
            errors.push(failed);
        }
        Err(CallError::Unreachable(errors))
    }

    /// Runs until the process ends: serves the saved state, pulls, follows the stream, pulls again on change.
    pub async fn run(self: Arc<Self>, sink: Arc<dyn StateSink>) {
        let state = Arc::new(Shared::default());
        if let Some(saved) = self.load_saved() {
            tracing::info!(seq = saved.seq, apis = saved.apis.len(), "serving the saved runtime state until the control plane answers");
            apply(&*sink, &saved);
            state.set_cursor(Cursor::new(saved.seq, &saved.pending, now_ms()));
        }
        let puller = tokio::spawn(self.clone().pull_loop(sink.clone(), state.clone()));
        self.stream_loop(sink, state).await;
        puller.abort();
    }

    /// Brings the served state up to date whenever asked (and first of all), retrying with backoff: a whole
    /// snapshot first and after a resync, then only the parts events marked as changed. Saving the state and
    /// reporting what it deploys happen beside it, so the next change is not kept waiting.
    async fn pull_loop(self: Arc<Self>, sink: Arc<dyn StateSink>, state: Arc<Shared>) {
        let mut delay = Duration::from_millis(200);
        let mut current: Option<Held> = None;
        let mut generation = 0u64;
        let outbox = Arc::new(Outbox::default());
        let keeper = tokio::spawn(self.clone().keep(outbox.clone(), state.clone()));
        loop {
            let work = state.take_work(current.is_none());
            if work.is_empty() {
                state.wake.notified().await;
                continue;
            }
            let base = match &current {
                Some(held) if !work.full => {
                    let recalled = self.recall(held, &outbox).await;
                    if recalled.is_none() {
                        current = None;
                    }
                    recalled
                }
                _ => None,
            };
            let patch = base.is_some();
            let updated = match base {
                Some(mut c) => self.pull_parts(&work, c.seq).await.map(|(parts, seq)| {
                    // Copies the state only if the keeper is still writing it.
                    let st = Arc::make_mut(&mut c);
                    for part in parts {
                        st.patch(part);
                    }
                    st.seq = seq;
                    st.pending = work.pending.clone();
                    st.partial = None;
                    c
                }),
                None => self.pull().await.map(Arc::new),
            };
            match updated {
                Ok(s) => {
                    delay = Duration::from_millis(200);
                    apply(&*sink, &s);
                    match patch {
                        true => self.stats.patches.fetch_add(1, Ordering::Relaxed),
                        false => self.stats.snapshots.fetch_add(1, Ordering::Relaxed),
                    };
                    self.stats.snapshot_seq.store(s.seq, Ordering::Relaxed);
                    tracing::debug!(seq = s.seq, apis = s.apis.len(), patch, "runtime state installed");
                    state.pulled(&s);
                    generation += 1;
                    current = Some(Held { state: Arc::downgrade(&s), generation, seq: s.seq });
                    outbox.put(s, generation);
                }
                Err(e) => {
                    state.restore(work);
                    sink.waiting(&format!("waiting for the control plane: {e}"));
                    tracing::warn!("cannot pull the runtime state: {e}; retrying in {delay:?}");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(3));
                }
            }
            if keeper.is_finished() {
                tracing::error!("the runtime-state keeper stopped; saved state and deployment reports are no longer updated");
            }
        }
    }

    /// Saves the newest installed state and reports its deployments, skipping states superseded meanwhile. A
    /// change of the revisions served is reported at once; a state that only moved the event-hub position at most
    /// every [`POSITION_REPORT_EVERY`], so a burst of events costs the control plane few writes. Events that
    /// change nothing here install no state; once none is waiting, the stream's position is reported as reached.
    async fn keep(self: Arc<Self>, outbox: Arc<Outbox>, shared: Arc<Shared>) {
        let mut reported: Option<(Vec<apim_wire::DeployedRevisionAck>, i64)> = None;
        let mut last_report: Option<tokio::time::Instant> = None;
        loop {
            let taken = tokio::select! {
                s = outbox.take() => s,
                () = tokio::time::sleep(POSITION_REPORT_EVERY) => {
                    if let (Some((served, seq)), Some(reached)) = (&reported, shared.settled_position())
                        && reached > *seq
                        && self.cfg.apis
                    {
                        let served = served.clone();
                        last_report = Some(tokio::time::Instant::now());
                        match self.report(&served, reached).await {
                            Ok(()) => reported = Some((served, reached)),
                            Err(e) => tracing::warn!("cannot report the event-hub position: {e}"),
                        }
                    }
                    continue;
                }
            };
            let Some((s, generation)) = taken else { continue };
            let (me, state) = (self.clone(), s.clone());
            match tokio::task::spawn_blocking(move || me.save(&state)).await {
                Ok(true) => outbox.saved.store(generation, Ordering::SeqCst),
                Ok(false) => {}
                Err(e) => tracing::warn!("saving the runtime state failed: {e}"),
            }
            if !self.cfg.apis {
                continue;
            }
            let served = s.deployed_revisions();
            let seq = s.seq;
            drop(s);
            let same_revisions = reported.as_ref().is_some_and(|(r, _)| *r == served);
            if same_revisions && reported.as_ref().is_some_and(|(_, q)| *q == seq) {
                continue;
            }
            if same_revisions && let Some(at) = last_report {
                // A newer state put meanwhile is taken on the next turn.
                tokio::time::sleep(POSITION_REPORT_EVERY.saturating_sub(at.elapsed())).await;
            }
            last_report = Some(tokio::time::Instant::now());
            match self.report(&served, seq).await {
                Ok(()) => reported = Some((served, seq)),
                Err(e) => tracing::warn!("cannot report the deployed revisions: {e}; reporting with the next change"),
            }
        }
    }

    /// The parts `work` names, and the sequence number the patched state will reflect: the stream position the
    /// work was taken at (every change up to there marked its part), never older than `now`.
    async fn pull_parts(&self, work: &Work, now: i64) -> Result<(Vec<RuntimeState>, i64), CallError> {
        let mut parts = Vec::new();
        let mut oldest = i64::MAX;
        if work.rest {
            let part = self.pull_query("&apis=false").await?;
            oldest = oldest.min(part.seq);
            parts.push(part);
        }
        let ids: Vec<&String> = work.apis.iter().collect();
        for chunk in ids.chunks(100) {
            let list: Vec<String> = chunk.iter().map(|id| form_urlencoded_label(id)).collect();
            let part = self.pull_query(&format!("&apiId={}", list.join(","))).await?;
            oldest = oldest.min(part.seq);
            parts.push(part);
        }
        Ok((parts, work.high.min(oldest).max(now)))
    }

    /// Follows the event hub, moving between endpoints; never returns.
    async fn stream_loop(&self, sink: Arc<dyn StateSink>, state: Arc<Shared>) {
        let mut delay = Duration::from_millis(100);
        let mut index = 0usize;
        // Whether the last stream ended other than by a resync: the next one is a failover.
        let mut moved = false;
        loop {
            // Subscribing needs a position: the saved or first pulled snapshot's.
            let Some(cursor) = state.cursor() else {
                state.ready.notified().await;
                continue;
            };
            let endpoint = &self.cfg.endpoints[index % self.cfg.endpoints.len()];
            let began = tokio::time::Instant::now();
            let result = self.follow(endpoint, cursor, &*sink, &state, moved).await;
            // A stream that ran for a while was healthy: reconnect quickly after it ends.
            if began.elapsed() > SILENCE {
                delay = Duration::from_millis(100);
            }
            match result {
                Ok(Ended::Resync(reason)) => {
                    tracing::info!(endpoint = %show(endpoint), "event hub asks for a resync: {reason}");
                    state.clear_cursor();
                    moved = false;
                    continue;
                }
                Ok(Ended::Silent) => {
                    tracing::warn!(endpoint = %show(endpoint), "event hub silent for {SILENCE:?}; reconnecting");
                    self.left_host(&endpoint.host);
                    delay = Duration::from_millis(100);
                }
                Ok(Ended::Broken(e)) => {
                    tracing::warn!(endpoint = %show(endpoint), "event hub: {e}; trying the next endpoint in {delay:?}");
                    self.left_host(&endpoint.host);
                }
                // Not subscribed: nothing was pinned there by this stream, and pulls in flight are left alone (a
                // control plane whose event hub is unreachable may still be sending a big snapshot).
                Err(e) => {
                    tracing::warn!(endpoint = %show(endpoint), "event hub: {e}; trying the next endpoint in {delay:?}");
                    self.suspect_host(&endpoint.host);
                }
            }
            moved = true;
            index += 1;
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(2));
        }
    }

    /// `moved`: the previous stream failed, so pulls move to the control plane this one reaches.
    async fn follow(
        &self,
        endpoint: &Endpoint,
        cursor: Cursor,
        sink: &dyn StateSink,
        state: &Shared,
        moved: bool,
    ) -> Result<Ended, String> {
        let channel = connect(endpoint, &self.hosts, &self.tls).await.map_err(|e| e.to_string())?;
        let mut client = hub::event_hub_client::EventHubClient::new(channel).max_decoding_message_size(64 * 1024 * 1024);
        let mut req = tonic::Request::new(SubscribeRequest {
            node_id: self.cfg.node_id.clone(),
            role: self.cfg.role.clone(),
            labels: self.cfg.labels.clone(),
            last_seq: cursor.high(),
            pending: cursor.pending(),
        });
        let auth = self.basic.parse().map_err(|_| "the event hub credentials are not a valid header value".to_string())?;
        req.metadata_mut().insert("authorization", auth);
        let mut stream = tokio::time::timeout(SILENCE, client.subscribe(req))
            .await
            .map_err(|_| "no answer to the subscription".to_string())?
            .map_err(|s| format!("subscription refused: {} ({:?})", s.message(), s.code()))?
            .into_inner();
        tracing::info!(endpoint = %show(endpoint), from = cursor.high(), "following the event hub");
        self.reached_host(&endpoint.host, moved);
        self.stats.streams.fetch_add(1, Ordering::Relaxed);
        loop {
            let msg = match tokio::time::timeout(SILENCE, stream.message()).await {
                Err(_) => return Ok(Ended::Silent),
                Ok(Err(s)) => return Ok(Ended::Broken(format!("stream broken: {} ({:?})", s.message(), s.code()))),
                Ok(Ok(None)) => return Ok(Ended::Broken("stream closed by the control plane".into())),
                Ok(Ok(Some(m))) => m,
            };
            match msg.kind {
                Some(Kind::Event(e)) => {
                    let (change, kind) = place(&e, self.cfg.apis, &self.cfg.labels);
                    let revoked = change == Change::Revocation;
                    if !state.accept(e.seq, change) {
                        self.stats.events_duplicate.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    self.stats.events_applied.fetch_add(1, Ordering::Relaxed);
                    if let Err(unknown) = kind {
                        self.stats.unknown_kind(e.seq, &unknown);
                    }
                    self.stats.stream_seq.fetch_max(e.seq, Ordering::Relaxed);
                    if revoked {
                        match revocation(&e.payload) {
                            Some((id, exp)) => sink.revoke(&id, exp),
                            None => tracing::warn!(seq = e.seq, "a revocation event without revokedToken/expiryTime; ignored"),
                        }
                    }
                }
                Some(Kind::Resync(r)) => return Ok(Ended::Resync(r.reason)),
                Some(Kind::Heartbeat(_)) | None => {}
            }
        }
    }
}

/// How a subscribed stream ended; `follow`'s `Err` is a stream that never began.
enum Ended {
    Resync(String),
    Silent,
    /// Broken or closed by the control plane.
    Broken(String),
}

/// The newest installed state waiting to be saved and reported (older ones are dropped unsaved), with its
/// generation (the how-manieth installed); and the generation last saved.
#[derive(Default)]
struct Outbox {
    slot: std::sync::Mutex<Option<(Arc<RuntimeState>, u64)>>,
    ready: Notify,
    saved: AtomicU64,
}

impl Outbox {
    fn put(&self, s: Arc<RuntimeState>, generation: u64) {
        *self.slot.lock().unwrap_or_else(|p| p.into_inner()) = Some((s, generation));
        self.ready.notify_one();
    }
    async fn take(&self) -> Option<(Arc<RuntimeState>, u64)> {
        self.ready.notified().await;
        self.slot.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// The last installed state, between pulls. Only the keeper holds it, until it is saved; from then on it is only
/// in the saved file, read back for the next patch. A gateway serving 10,000 APIs would otherwise keep about
/// 8 MB in memory for nothing but that patch.
struct Held {
    state: std::sync::Weak<RuntimeState>,
    generation: u64,
    seq: i64,
}

/// What the stream and the puller share: the cursor, and the parts of the state that changed since the last
/// pull.
#[derive(Default)]
struct Shared {
    inner: std::sync::Mutex<SharedInner>,
    /// Wakes the puller.
    wake: Notify,
    /// Wakes the stream once there is a position to subscribe from.
    ready: Notify,
}

#[derive(Default)]
struct SharedInner {
    cursor: Option<Cursor>,
    dirty: Work,
    /// Work taken by a pull not yet installed or given back.
    pulling: bool,
}

/// Parts of the state to pull again, and the stream position they were collected up to.
#[derive(Default)]
struct Work {
    full: bool,
    rest: bool,
    apis: std::collections::BTreeSet<String>,
    high: i64,
    pending: Vec<i64>,
}

impl Work {
    fn is_empty(&self) -> bool {
        !self.full && !self.rest && self.apis.is_empty()
    }
}

/// What an event changes in the state this node serves.
#[derive(Debug, PartialEq, Eq)]
pub enum Change {
    None,
    Revocation,
    /// One API's deployments or definition.
    Api(String),
    /// Applications, keys, subscriptions, policies, block conditions or API keys.
    Rest,
    /// Anything this node cannot place: pull everything.
    Full,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, SharedInner> {
        // A panic while holding this lock cannot leave it inconsistent (plain assignments); keep going.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn cursor(&self) -> Option<Cursor> {
        self.lock().cursor.clone()
    }
    fn set_cursor(&self, c: Cursor) {
        self.lock().cursor = Some(c);
        self.ready.notify_one();
    }
    /// After a resync: no position until a whole snapshot gives one.
    fn clear_cursor(&self) {
        let mut g = self.lock();
        g.cursor = None;
        g.dirty.full = true;
        drop(g);
        self.wake.notify_one();
    }
    /// Records an event's number and what it changes, under one lock, so a pull that sees the new position also
    /// sees the change; false for a number seen before.
    fn accept(&self, seq: i64, change: Change) -> bool {
        let mut g = self.lock();
        let now = now_ms();
        if let Some(c) = &mut g.cursor {
            c.expire(now);
            if !c.observe(seq, now) {
                return false;
            }
        }
        match change {
            Change::Api(id) => {
                g.dirty.apis.insert(id);
            }
            Change::Rest => g.dirty.rest = true,
            Change::Full => g.dirty.full = true,
            Change::None | Change::Revocation => return true,
        }
        drop(g);
        self.wake.notify_one();
        true
    }
    /// The changes collected so far (a whole pull when `full`), with the stream position they reach.
    fn take_work(&self, full: bool) -> Work {
        let mut g = self.lock();
        let mut w = std::mem::take(&mut g.dirty);
        w.full |= full;
        g.pulling = !w.is_empty();
        if let Some(c) = &g.cursor {
            w.high = c.high();
            w.pending = c.pending();
        }
        w
    }
    /// The stream position every event up to which is installed: none waiting, none being pulled.
    fn settled_position(&self) -> Option<i64> {
        let g = self.lock();
        (g.dirty.is_empty() && !g.pulling).then_some(g.cursor.as_ref()?.high())
    }
    /// A failed pull: its work is still to do.
    fn restore(&self, w: Work) {
        let mut g = self.lock();
        g.pulling = false;
        g.dirty.full |= w.full;
        g.dirty.rest |= w.rest;
        g.dirty.apis.extend(w.apis);
    }
    /// A pulled snapshot: the first one (or one after a resync) gives the stream its position.
    fn pulled(&self, s: &RuntimeState) {
        let mut g = self.lock();
        g.pulling = false;
        if g.cursor.is_none() {
            g.cursor = Some(Cursor::new(s.seq, &s.pending, now_ms()));
            drop(g);
            self.ready.notify_one();
        }
    }
}

fn apply(sink: &dyn StateSink, s: &RuntimeState) {
    sink.install(s);
    for r in &s.revoked_tokens {
        sink.revoke(&r.id, r.expires_at);
    }
}

fn revocation(payload: &str) -> Option<(String, i64)> {
    let v: serde_json::Value = serde_json::from_str(payload).ok()?;
    Some((v.get("revokedToken")?.as_str()?.to_string(), v.get("expiryTime")?.as_i64()? / 1000))
}

/// What an event from the stream changes for this node, with its kind: [`classify`] for a kind this version
/// knows; one it does not know (a newer control plane's) may change anything, so the whole state is pulled
/// again (the caller counts it). A node that serves no APIs takes API changes as none and "everything" as the
/// rest.
fn place(e: &hub::Event, apis: bool, labels: &[String]) -> (Change, Result<EventKind, apim_wire::UnknownWord>) {
    let kind = e.kind();
    let change = kind.as_ref().map_or(Change::Full, |k| classify(*k, &e.payload, labels));
    let change = match (apis, change) {
        (false, Change::Api(_)) => Change::None,
        (false, Change::Full) => Change::Rest,
        (_, change) => change,
    };
    (change, kind)
}

/// What an event changes for a node serving `labels`. Deployments name their labels; API events name their API;
/// the events of applications, keys, subscriptions, policies, block conditions and scopes change the rest;
/// environments, and an API event whose payload does not name its API, ask for everything. (A kind this
/// version does not know never gets here: the stream counts it and asks for everything.)
pub fn classify(kind: EventKind, payload: &str, labels: &[String]) -> Change {
    use EventKind as K;
    match kind {
        K::TokenRevocation => return Change::Revocation,
        K::ApplicationCreate
        | K::ApplicationUpdate
        | K::ApplicationDelete
        | K::ApplicationRegistrationCreate
        | K::RemoveApplicationKeymapping
        | K::SubscriptionsCreate
        | K::SubscriptionsUpdate
        | K::SubscriptionsDelete
        | K::PolicyCreate
        | K::PolicyUpdate
        | K::PolicyDelete
        | K::BlockConditionAdd
        | K::BlockConditionUpdate
        | K::BlockConditionDelete
        | K::KeyManagerConfiguration
        | K::ApiKeyRevoke
        | K::ScopeCreate
        | K::ScopeUpdate
        | K::ScopeDelete
        | K::EndpointCertificateAdd
        | K::EndpointCertificateRemove => return Change::Rest,
        K::EnvironmentCreate | K::EnvironmentUpdate | K::EnvironmentDelete => return Change::Full,
        K::ApiCreate | K::ApiUpdate | K::ApiDelete | K::ApiLifecycleChange | K::DeployApiInGateway | K::RemoveApiFromGateway => {}
    }
    let Ok(v) = serde_json::from_str::<serde_json::Value>(payload) else { return Change::Full };
    let api = v.get("apiId").or_else(|| v.get("uuid")).and_then(|a| a.as_str()).filter(|a| !a.is_empty()).map(str::to_string);
    match (kind, api) {
        (K::DeployApiInGateway | K::RemoveApiFromGateway, Some(id)) => match v.get("gatewayLabels").and_then(|l| l.as_array()) {
            Some(names) if !names.iter().filter_map(|n| n.as_str()).any(|n| labels.iter().any(|l| l.eq_ignore_ascii_case(n))) => {
                Change::None
            }
            _ => Change::Api(id),
        },
        // A new API is deployed nowhere yet.
        (K::ApiCreate, Some(_)) => Change::None,
        (K::ApiUpdate | K::ApiDelete | K::ApiLifecycleChange, Some(id)) => Change::Api(id),
        _ => Change::Full,
    }
}

fn labels_match(a: &[String], b: &[String]) -> bool {
    let norm = |v: &[String]| {
        let mut v: Vec<String> = v.iter().map(|s| s.to_ascii_lowercase()).collect();
        v.sort();
        v
    };
    norm(a) == norm(b)
}

/// The host of a base (`scheme://host:port`).
fn host_of(base: &str) -> Option<&str> {
    base.split_once("://").and_then(|(_, authority)| authority.rsplit_once(':')).map(|(host, _)| host)
}

fn form_urlencoded_label(l: &str) -> String {
    l.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A gRPC channel to a node's stream endpoint: through the hosts file; `ssl://` verified against the truststore
/// with HTTP/2 by ALPN; HTTP/2 pings every second, so a dead peer is noticed within three.
pub async fn connect(
    endpoint: &Endpoint,
    hosts: &HostsFile,
    tls: &Arc<rustls::ClientConfig>,
) -> Result<tonic::transport::Channel, ConnectError> {
    let scheme = if endpoint.scheme == EndpointScheme::Ssl { "https" } else { "http" };
    let settings = tonic::transport::Endpoint::from_shared(format!("{scheme}://{}:{}", endpoint.host, endpoint.port))
        .map_err(|e| ConnectError::Address(e.to_string()))?
        .connect_timeout(Duration::from_secs(3))
        .http2_keep_alive_interval(Duration::from_secs(1))
        .keep_alive_timeout(Duration::from_secs(2))
        .keep_alive_while_idle(true);
    let tcp = apim_net::http_connector(hosts);
    match endpoint.scheme {
        EndpointScheme::Tcp => settings.connect_with_connector(tcp).await,
        // TLS verified against the truststore, HTTP/2 by ALPN.
        EndpointScheme::Ssl => {
            let tls =
                hyper_rustls::HttpsConnectorBuilder::new().with_tls_config((**tls).clone()).https_only().enable_http2().wrap_connector(tcp);
            settings.connect_with_connector(tls).await
        }
    }
    .map_err(|e| ConnectError::Unreachable(apim_net::describe(&e, &show(endpoint))))
}

/// Why [`connect`] has no channel.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The endpoint does not make a URI.
    #[error("{0}")]
    Address(String),
    /// No connection (refused, silent, TLS), in words that name the cause.
    #[error("cannot connect: {0}")]
    Unreachable(String),
}

/// Why no control plane took a call: gave this node its runtime state, or took its report.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// A control plane answered and refused (400, 401, a state that does not parse): ours to fix, so no other one
    /// is asked.
    #[error("{0}")]
    Refused(String),
    /// None answered (silent, refused, 503 or 404): what each one's attempt met.
    #[error("{}", .0.join("; "))]
    Unreachable(Vec<String>),
}

/// A client for pulls and reports: through the hosts file, TLS verified with `tls`.
fn http_client(hosts: &HostsFile, tls: &rustls::ClientConfig) -> HttpClient {
    Client::builder(TokioExecutor::new()).pool_idle_timeout(Duration::from_secs(60)).build(apim_net::https_connector(hosts, tls))
}

/// Whether an answer from a control plane is its word on the request (success, or a refusal that is ours to
/// fix: 400, 401, 403), rather than a node that cannot serve it now: 5xx (503 while it starts), or 404 (the
/// internal data service not mounted, on a node that is not a ready control plane). Those move to the next one.
fn answered(status: http::StatusCode) -> bool {
    !(status.is_server_error() || status == http::StatusCode::NOT_FOUND)
}

/// `: <description>` from a WSO2 error body, for the log.
fn reason(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("description").and_then(|d| d.as_str()).map(|d| format!(": {d}")))
        .unwrap_or_default()
}

/// An HTTP Basic `Authorization` value.
pub fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

pub(crate) fn show(e: &Endpoint) -> String {
    let scheme = if e.scheme == EndpointScheme::Ssl { "ssl" } else { "tcp" };
    format!("{scheme}://{}:{}", e.host, e.port)
}

/// Unix milliseconds, as cursors and usage windows count them.
fn now_ms() -> u64 {
    u64::try_from(apim_domain::clock::Clock::system().unix_ms()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_mark_the_part_they_change() {
        use EventKind as K;
        let labels = vec!["Default".to_string()];
        assert_eq!(classify(K::DeployApiInGateway, r#"{"apiId":"a","gatewayLabels":["Sandbox"]}"#, &labels), Change::None);
        assert_eq!(classify(K::DeployApiInGateway, r#"{"apiId":"a","gatewayLabels":["default"]}"#, &labels), Change::Api("a".into()));
        assert_eq!(classify(K::RemoveApiFromGateway, "not json", &labels), Change::Full);
        assert_eq!(classify(K::ApiLifecycleChange, r#"{"uuid":"b"}"#, &labels), Change::Api("b".into()));
        assert_eq!(classify(K::ApiUpdate, r#"{}"#, &labels), Change::Full);
        assert_eq!(classify(K::ApiCreate, r#"{"apiId":"c"}"#, &labels), Change::None);
        assert_eq!(classify(K::SubscriptionsCreate, "{}", &labels), Change::Rest);
        assert_eq!(classify(K::EnvironmentUpdate, "{}", &labels), Change::Full);
        assert_eq!(classify(K::TokenRevocation, "{}", &labels), Change::Revocation);
        // Every kind is placed without a payload to read, or from its payload; none panics on any payload.
        for kind in K::ALL {
            for payload in ["", "null", "[]", r#"{"apiId":7}"#, r#"{"apiId":"x","gatewayLabels":"Default"}"#] {
                let _ = classify(*kind, payload, &labels);
            }
        }
    }

    #[test]
    fn an_unknown_kind_is_counted_not_fatal() {
        let stats = SyncStats::default();
        let event = hub::Event { seq: 9, event_type: "SOMETHING_NEW".into(), payload: r#"{"apiId":"d"}"#.into(), created_at: 0 };
        let labels = vec!["Default".to_string()];
        let (change, kind) = place(&event, true, &labels);
        assert_eq!(change, Change::Full, "a gateway pulls everything");
        assert_eq!(place(&event, false, &labels).0, Change::Rest, "a traffic manager pulls all it holds");
        let unknown = kind.expect_err("unknown");
        assert_eq!(unknown.text, "SOMETHING_NEW");
        stats.unknown_kind(event.seq, &unknown);
        stats.unknown_kind(event.seq + 1, &unknown);
        assert_eq!(stats.events_unknown.load(Ordering::Relaxed), 2);
        assert!(stats.render().contains("apim_sync_events_unknown_total 2\n"), "{}", stats.render());
    }

    #[test]
    fn revocation_payloads_parse_or_are_refused() {
        assert_eq!(revocation(r#"{"revokedToken":"abc","expiryTime":5000}"#), Some(("abc".into(), 5)));
        assert_eq!(revocation(r#"{"revokedToken":7}"#), None);
    }

    /// Behind a balancer, pulls start at the balancer; after the stream moved to a control plane, at that one.
    #[test]
    fn pulls_start_where_the_stream_moved() {
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("tls")
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        let endpoint = |host: &str| Endpoint { scheme: EndpointScheme::Tcp, host: host.into(), port: 5672 };
        let cfg = SyncConfig {
            service_url: "https://lb.test:9443/services/".into(),
            endpoints: vec![endpoint("cp1.test"), endpoint("cp2.test")],
            username: "admin".into(),
            password: "admin".into(),
            node_id: "gw".into(),
            role: "gateway".into(),
            labels: vec!["Default".into()],
            apis: true,
            saved: PathBuf::from("unused.json"),
        };
        let syncer = Syncer::new(cfg, HostsFile::default(), Arc::new(tls)).expect("syncer");
        assert_eq!(syncer.bases(), ["https://lb.test:9443", "https://cp1.test:9443", "https://cp2.test:9443"]);
        assert_eq!(syncer.preferred.load(Ordering::Relaxed), 0);
        assert_eq!(syncer.pull_order(), [0, 1, 2]);
        // The stream leaves cp1: pulls try it last; it reaches cp2 and pulls start there.
        syncer.left_host("cp1.test");
        assert_eq!(syncer.pull_order(), [0, 2, 1]);
        syncer.reached_host("cp2.test", true);
        assert_eq!(syncer.pull_order(), [2, 0, 1]);
        // A stream back on cp1 clears the suspicion; a first stream (no failover) moves nothing.
        syncer.reached_host("cp1.test", false);
        assert_eq!(syncer.pull_order(), [2, 0, 1]);
        syncer.reached_host("elsewhere.test", true);
        assert_eq!(syncer.pull_order(), [2, 0, 1], "a host that is not a base changes nothing");
    }

    #[test]
    fn labels_are_escaped_in_the_query() {
        assert_eq!(form_urlencoded_label("My Env&x"), "My%20Env%26x");
    }
}
