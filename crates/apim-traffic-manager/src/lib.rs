//! Traffic manager role: adds up the usage every gateway reports and publishes throttle decisions (DESIGN §5).
//!
//! Gateways decide which limits a request falls under (they hold the request: its token, headers, IP, the
//! advanced policy's matching condition group) and report, per WSO2 throttle key and window, how much they
//! admitted and under which limit. The [`ledger::Ledger`] sums the gateways and, when a key's sum reaches its
//! quota, sends `{key, throttled until the window ends, condition}` once to every subscribed gateway and to the
//! peer traffic managers named in `event_duplicate_url`. It also follows the control plane's policies and block
//! conditions (fed by the wiring from the event hub), for its metrics and readiness.
//!
//! **Architecture Invariant:** the ledger holds only what gateways reported; a restarted traffic manager starts
//! empty and is exact again as soon as every gateway has reconnected and sent its windows.

#![forbid(unsafe_code)]

pub mod ledger;
mod service;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use apim_config::{DeploymentConfig, Endpoint, HostsFile};
use apim_domain::clock::Clock;
use apim_wire::analytics::AnalyticsBatch;
use apim_wire::throttle::{
    Decision, DecisionBatch, DecisionInForce, MAX_REPORTED_DECISIONS, TrafficManagerReport, UsageBatch, decisions_client::DecisionsClient,
    decisions_server, usage_server,
};
use apim_wire::{PolicyLevel, RuntimeBlockCondition, RuntimePolicy, RuntimeState};
use arc_swap::ArcSwap;
use dashmap::DashMap;
use tokio::sync::broadcast;

pub use service::Service;

#[derive(Clone, Debug)]
pub struct Config {
    pub throttle_decision_endpoints: Vec<Endpoint>,
    pub event_hub_endpoints: Vec<Endpoint>,
    /// Peers this traffic manager forwards its decisions to.
    pub duplicate_urls: Vec<Endpoint>,
    /// `skip_redeploying_policies`: usage under these policies is not added up here.
    pub skip_policies: Vec<String>,
    /// The `Authorization` value gateways and peers must send: HTTP Basic of `[apim.throttling]` username and
    /// password (WSO2's defaults: the super admin's).
    pub basic: String,
}

impl Config {
    pub fn from_deployment(d: &DeploymentConfig) -> Config {
        Config {
            throttle_decision_endpoints: d.throttling.as_ref().map(|t| t.throttle_decision_endpoints.clone()).unwrap_or_default(),
            event_hub_endpoints: d.event_hub.as_ref().map(|h| h.event_listening_endpoints.clone()).unwrap_or_default(),
            duplicate_urls: d.throttling.as_ref().map(|t| t.event_duplicate_url.clone()).unwrap_or_default(),
            skip_policies: d.throttling.as_ref().map(|t| t.skip_redeploying_policies.clone()).unwrap_or_default(),
            basic: {
                let (user, password) = d.throttling_credentials();
                apim_sync::basic(&user, &password)
            },
        }
    }

    pub fn summary(&self) -> String {
        format!(
            "{} decision endpoint(s), {} peer(s) for duplicate decisions, {} event hub endpoint(s)",
            self.throttle_decision_endpoints.len(),
            self.duplicate_urls.len(),
            self.event_hub_endpoints.len()
        )
    }
}

/// Why forwarding decisions to a peer traffic manager stopped.
#[derive(Debug, thiserror::Error)]
enum ForwardError {
    #[error(transparent)]
    Connect(#[from] apim_sync::ConnectError),
    #[error("the credentials are not a header value")]
    Credentials,
    #[error("{} ({:?})", .0.message(), .0.code())]
    Refused(tonic::Status),
    #[error("stopped")]
    Stopped,
}

/// What the traffic manager evaluates against: every throttling policy and block condition, as of `seq`.
#[derive(Debug, Default)]
pub struct Known {
    pub seq: i64,
    pub policies: Vec<RuntimePolicy>,
    pub block_conditions: Vec<RuntimeBlockCondition>,
}

#[derive(Default)]
pub struct Stats {
    pub usage_streams: AtomicU64,
    pub batches: AtomicU64,
    pub bad_batches: AtomicU64,
    pub unauthenticated: AtomicU64,
    pub forwarded_in: AtomicU64,
    pub forwarded_out: AtomicU64,
    /// Records under `skip_redeploying_policies`.
    pub skipped: AtomicU64,
    /// Gateways' analytics batches passed on to the control plane, refused (by the control plane, or as
    /// malformed here) and not passed on (no control plane took them).
    pub analytics_relayed: AtomicU64,
    pub analytics_refused: AtomicU64,
    pub analytics_unrelayed: AtomicU64,
}

/// Where a traffic manager passes gateways' analytics batches on: the control plane, through the node's syncer.
pub trait AnalyticsRelay: Send + Sync + 'static {
    fn relay<'a>(&'a self, batch: &'a AnalyticsBatch) -> Pin<Box<dyn Future<Output = Result<(), apim_sync::CallError>> + Send + 'a>>;
}

impl AnalyticsRelay for apim_sync::Syncer {
    fn relay<'a>(&'a self, batch: &'a AnalyticsBatch) -> Pin<Box<dyn Future<Output = Result<(), apim_sync::CallError>> + Send + 'a>> {
        Box::pin(self.ship_analytics(batch))
    }
}

pub struct TrafficManager {
    cfg: Config,
    known: ArcSwap<Known>,
    pub ledger: ledger::Ledger,
    /// New decisions, made here or forwarded by a peer, for every decision stream.
    decisions: broadcast::Sender<Arc<DecisionBatch>>,
    /// A peer's decisions still in force, for new subscribers.
    forwarded: DashMap<String, (u64, String), foldhash::fast::RandomState>,
    pub stats: Stats,
    /// Decides which windows are open and which decisions are in force.
    clock: Clock,
    /// Set once by the wiring; until then a gateway's analytics batch is answered UNAVAILABLE.
    analytics: OnceLock<Arc<dyn AnalyticsRelay>>,
}

impl TrafficManager {
    pub fn new(cfg: Config) -> Arc<TrafficManager> {
        TrafficManager::with_clock(cfg, Clock::system())
    }

    /// A traffic manager whose windows open and close by `clock`.
    pub fn with_clock(cfg: Config, clock: Clock) -> Arc<TrafficManager> {
        Arc::new(TrafficManager {
            clock,
            cfg,
            known: ArcSwap::from_pointee(Known::default()),
            ledger: ledger::Ledger::default(),
            decisions: broadcast::channel(4096).0,
            forwarded: DashMap::default(),
            stats: Stats::default(),
            analytics: OnceLock::new(),
        })
    }

    /// Passes gateways' analytics batches on to `relay` from now on (the first relay set stays).
    pub fn relay_analytics_to(&self, relay: Arc<dyn AnalyticsRelay>) {
        let _ = self.analytics.set(relay);
    }

    /// The usage and decision services, for the wiring to serve on 9611/9711 and 5672 (+ offset).
    pub fn services(self: &Arc<Self>) -> (usage_server::UsageServer<Service>, decisions_server::DecisionsServer<Service>) {
        let svc = Service { tm: self.clone() };
        (
            usage_server::UsageServer::new(svc.clone()).max_decoding_message_size(16 * 1024 * 1024),
            decisions_server::DecisionsServer::new(svc),
        )
    }

    /// Adds a gateway's batch to the ledger and sends the decisions it led to.
    pub fn ingest(&self, gateway: u32, batch: &UsageBatch) {
        self.stats.batches.fetch_add(1, Ordering::Relaxed);
        let now = self.now_ms();
        self.ledger.seen(gateway, now);
        let mut out = DecisionBatch::default();
        for r in &batch.records {
            if !self.cfg.skip_policies.is_empty() && self.cfg.skip_policies.contains(&r.policy) {
                self.stats.skipped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            if let Ok(o) = self.ledger.record(gateway, r, now) {
                out.decisions.extend(o.decision);
                out.allowances.extend(o.allowances);
            }
        }
        if !out.decisions.is_empty() || !out.allowances.is_empty() {
            tracing::debug!(decisions = out.decisions.len(), allowances = out.allowances.len(), "throttle decisions");
            let _ = self.decisions.send(Arc::new(out));
        }
    }

    /// Decisions in force: this one's and its peers'.
    pub fn in_force(&self, now_ms: u64) -> Vec<Decision> {
        let mut all = self.ledger.in_force(now_ms);
        all.extend(self.forwarded.iter().filter(|e| e.value().0 > now_ms).map(|e| Decision {
            key: e.key().clone(),
            throttled_until_ms: e.value().0,
            condition: e.value().1.clone(),
        }));
        all
    }

    /// What the Admin portal shows of this traffic manager: the gateways it counts for and the decisions in force
    /// (made here, or forwarded by a peer), the latest to end first.
    pub fn report(&self, node_id: &str) -> TrafficManagerReport {
        let now_ms = u64::try_from(self.clock.unix_ms()).unwrap_or(0);
        let mut in_force = self.ledger.in_force_detail(now_ms);
        in_force.extend(self.forwarded.iter().filter(|e| e.value().0 > now_ms).map(|e| DecisionInForce {
            key: e.key().clone(),
            condition: e.value().1.clone(),
            throttled_until_ms: e.value().0,
            forwarded: true,
            quota: None,
            used: None,
        }));
        in_force.sort_by(|a, b| b.throttled_until_ms.cmp(&a.throttled_until_ms).then_with(|| a.key.cmp(&b.key)));
        let in_force_total = in_force.len() as u64;
        in_force.truncate(MAX_REPORTED_DECISIONS);
        TrafficManagerReport {
            node_id: node_id.to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            gateways: self.ledger.gateway_count(now_ms) as u64,
            keys: self.ledger.keys() as u64,
            decisions_made: self.ledger.decisions.load(std::sync::atomic::Ordering::Relaxed),
            in_force,
            in_force_total,
        }
    }

    /// Background work: ended windows swept every second, and one forwarding task per `event_duplicate_url`.
    pub fn start(self: &Arc<Self>, hosts: HostsFile, tls: Arc<rustls::ClientConfig>) -> Vec<tokio::task::JoinHandle<()>> {
        let mut tasks = Vec::new();
        let tm = self.clone();
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                let now = tm.now_ms();
                tm.ledger.sweep(now);
                tm.forwarded.retain(|_, v| v.0 > now);
            }
        }));
        for peer in self.cfg.duplicate_urls.clone() {
            tasks.push(tokio::spawn(self.clone().forward_to(peer, hosts.clone(), tls.clone())));
        }
        tasks
    }

    /// Sends this traffic manager's own decisions to a peer, for the gateways that follow only the peer.
    async fn forward_to(self: Arc<Self>, peer: Endpoint, hosts: HostsFile, tls: Arc<rustls::ClientConfig>) {
        let mut delay = Duration::from_millis(200);
        loop {
            let started = tokio::time::Instant::now();
            if let Err(e) = self.forward_once(&peer, &hosts, &tls).await {
                tracing::warn!(peer = %format!("{}:{}", peer.host, peer.port), "forwarding decisions to the peer traffic manager stopped: {e}");
            }
            if started.elapsed() > Duration::from_secs(5) {
                delay = Duration::from_millis(200);
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    }

    async fn forward_once(&self, peer: &Endpoint, hosts: &HostsFile, tls: &Arc<rustls::ClientConfig>) -> Result<(), ForwardError> {
        let channel = apim_sync::connect(peer, hosts, tls).await?;
        let mut live = self.decisions.subscribe();
        let (tx, rx) = tokio::sync::mpsc::channel::<DecisionBatch>(256);
        for chunk in self.ledger.in_force(self.now_ms()).chunks(4096) {
            let _ = tx.try_send(DecisionBatch { decisions: chunk.to_vec(), forwarded: true, allowances: Vec::new() });
        }
        let stats = &self.stats;
        let pump = async move {
            loop {
                let batch = match tokio::time::timeout(Duration::from_secs(1), live.recv()).await {
                    Err(_) => DecisionBatch { forwarded: true, ..Default::default() },
                    Ok(Ok(b)) if b.forwarded || b.decisions.is_empty() => continue,
                    Ok(Ok(b)) => DecisionBatch { decisions: b.decisions.clone(), forwarded: true, allowances: Vec::new() },
                    Ok(Err(broadcast::error::RecvError::Lagged(_))) => {
                        DecisionBatch { decisions: self.ledger.in_force(self.now_ms()), forwarded: true, allowances: Vec::new() }
                    }
                    Ok(Err(broadcast::error::RecvError::Closed)) => return,
                };
                stats.forwarded_out.fetch_add(batch.decisions.len() as u64, Ordering::Relaxed);
                if tx.send(batch).await.is_err() {
                    return;
                }
            }
        };
        let mut req = tonic::Request::new(tokio_stream::wrappers::ReceiverStream::new(rx));
        req.metadata_mut().insert("authorization", self.cfg.basic.parse().map_err(|_| ForwardError::Credentials)?);
        let mut client = DecisionsClient::new(channel);
        tokio::select! {
            r = client.forward(req) => r.map(|_| ()).map_err(ForwardError::Refused),
            () = pump => Err(ForwardError::Stopped),
        }
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Takes the policies and block conditions of a state from the control plane (the rest is the gateways').
    pub fn install(&self, state: &RuntimeState) {
        self.known.store(Arc::new(Known {
            seq: state.seq,
            policies: state.policies.clone(),
            block_conditions: state.block_conditions.clone(),
        }));
    }

    pub fn known(&self) -> Arc<Known> {
        self.known.load_full()
    }

    /// A policy by level and name.
    pub fn policy(&self, level: &PolicyLevel, name: &str) -> Option<RuntimePolicy> {
        self.known.load().policies.iter().find(|p| p.level == *level && p.name == name).cloned()
    }

    /// Prometheus text for `/metrics`.
    pub fn metrics_text(&self) -> String {
        let k = self.known.load();
        let mut out = String::from("# TYPE apim_tm_policies gauge\n");
        for level in PolicyLevel::KNOWN {
            let n = k.policies.iter().filter(|p| p.level == *level).count();
            out.push_str(&format!("apim_tm_policies{{level=\"{level}\"}} {n}\n"));
        }
        out.push_str(&format!(
            "# TYPE apim_tm_block_conditions gauge\napim_tm_block_conditions {}\n# TYPE apim_tm_state_seq gauge\napim_tm_state_seq {}\n",
            k.block_conditions.len(),
            k.seq
        ));
        let l = &self.ledger;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        out.push_str(&format!(
            "# TYPE apim_tm_usage_streams gauge\napim_tm_usage_streams {}\n\
             # TYPE apim_tm_gateways gauge\napim_tm_gateways {}\n\
             # TYPE apim_tm_usage_batches_total counter\napim_tm_usage_batches_total {}\n\
             # TYPE apim_tm_usage_records_total counter\napim_tm_usage_records_total {}\n\
             # TYPE apim_tm_usage_records_stale_total counter\napim_tm_usage_records_stale_total {}\n\
             # TYPE apim_tm_usage_batches_refused_total counter\napim_tm_usage_batches_refused_total {}\n\
             # TYPE apim_tm_unauthenticated_total counter\napim_tm_unauthenticated_total {}\n\
             # TYPE apim_tm_usage_records_skipped_total counter\napim_tm_usage_records_skipped_total {}\n\
             # TYPE apim_tm_throttle_keys gauge\napim_tm_throttle_keys {}\n\
             # TYPE apim_tm_decisions_total counter\napim_tm_decisions_total {}\n\
             # TYPE apim_tm_allowances_total counter\napim_tm_allowances_total {}\n\
             # TYPE apim_tm_decisions_forwarded_total counter\napim_tm_decisions_forwarded_total{{direction=\"in\"}} {}\n\
             apim_tm_decisions_forwarded_total{{direction=\"out\"}} {}\n\
             # TYPE apim_tm_analytics_batches_total counter\napim_tm_analytics_batches_total{{outcome=\"relayed\"}} {}\n\
             apim_tm_analytics_batches_total{{outcome=\"refused\"}} {}\napim_tm_analytics_batches_total{{outcome=\"unrelayed\"}} {}\n\
             # TYPE apim_tm_usage_records_rejected_total counter\n",
            g(&self.stats.usage_streams),
            l.gateway_count(self.now_ms()),
            g(&self.stats.batches),
            g(&l.records),
            g(&l.stale),
            g(&self.stats.bad_batches),
            g(&self.stats.unauthenticated),
            g(&self.stats.skipped),
            l.keys(),
            g(&l.decisions),
            g(&l.allowances),
            g(&self.stats.forwarded_in),
            g(&self.stats.forwarded_out),
            g(&self.stats.analytics_relayed),
            g(&self.stats.analytics_refused),
            g(&self.stats.analytics_unrelayed),
        ));
        for (reason, n) in l.rejected() {
            out.push_str(&format!("apim_tm_usage_records_rejected_total{{reason=\"{reason}\"}} {n}\n"));
        }
        out
    }
}

// === impl TrafficManager: time ===

impl TrafficManager {
    /// The clock's Unix milliseconds, as the wire's windows count them.
    pub(crate) fn now_ms(&self) -> u64 {
        u64::try_from(self.clock.unix_ms()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use apim_wire::throttle::UsageRecord;

    #[test]
    fn skipped_policies_are_not_added_up_and_decisions_end_with_their_window() {
        // 30 s into a minute, on a clock the test moves.
        let clock = Clock::manual(1_800_000_030_000);
        let tm = TrafficManager::with_clock(
            Config {
                throttle_decision_endpoints: Vec::new(),
                event_hub_endpoints: Vec::new(),
                duplicate_urls: Vec::new(),
                skip_policies: vec!["LocalOnly".into()],
                basic: String::new(),
            },
            clock.clone(),
        );
        let window_start_ms = 1_800_000_000_000;
        let record = |policy: &str, key: &str| UsageRecord {
            key: key.into(),
            window_start_ms,
            window_ms: 60_000,
            quota: 1,
            bytes: false,
            used: 5,
            condition: "subscription".into(),
            refused: 0,
            policy: policy.into(),
        };
        let mut decisions = tm.decisions.subscribe();
        let gw = tm.ledger.gateway("gw");
        tm.ingest(gw, &UsageBatch { gateway_id: "gw".into(), seq: 1, records: vec![record("LocalOnly", "a"), record("Gold", "b")] });
        assert_eq!(tm.stats.skipped.load(Ordering::Relaxed), 1);
        assert_eq!(tm.ledger.keys(), 1);
        let batch = decisions.try_recv().expect("a decision for the policy that is not skipped");
        assert_eq!(batch.decisions.iter().map(|d| d.key.as_str()).collect::<Vec<_>>(), ["b"]);
        assert_eq!(batch.decisions[0].throttled_until_ms, window_start_ms + 60_000, "until the window ends");

        clock.advance(Duration::from_millis(29_999));
        assert_eq!(tm.in_force(tm.now_ms()).len(), 1, "in force to the window's last millisecond");
        clock.advance(Duration::from_millis(1));
        assert!(tm.in_force(tm.now_ms()).is_empty(), "the window has ended");
        // A record for the ended window decides nothing.
        tm.ingest(gw, &UsageBatch { gateway_id: "gw".into(), seq: 2, records: vec![record("Gold", "c")] });
        assert!(decisions.try_recv().is_err());
        assert_eq!(tm.ledger.stale.load(Ordering::Relaxed), 1);
    }

    /// Gateways gone for good leave `apim_tm_gateways` after `GATEWAY_SILENCE_MS` (5 minutes) without a usage stream,
    /// on a clock the test moves; one with a stream open stays however quiet it is.
    #[test]
    fn silent_gateways_leave_the_gauge_and_the_ledger() {
        let clock = Clock::manual(1_800_000_000_000);
        let tm = TrafficManager::with_clock(
            Config {
                throttle_decision_endpoints: Vec::new(),
                event_hub_endpoints: Vec::new(),
                duplicate_urls: Vec::new(),
                skip_policies: Vec::new(),
                basic: String::new(),
            },
            clock.clone(),
        );
        let gauge = |tm: &TrafficManager| {
            let text = tm.metrics_text();
            text.lines().find_map(|l| l.strip_prefix("apim_tm_gateways ")).map(str::to_string).expect("apim_tm_gateways")
        };
        let (busy, quiet, idle) =
            (tm.ledger.attach("gw-busy", tm.now_ms()), tm.ledger.attach("gw-quiet", tm.now_ms()), tm.ledger.attach("gw-idle", tm.now_ms()));
        // gw-busy used a key whose window lasts an hour; gw-quiet used nothing; gw-idle keeps its stream open.
        let record = UsageRecord {
            key: "k".into(),
            // The clock's start is on an hour boundary: the window is open for the whole test.
            window_start_ms: 1_800_000_000_000,
            window_ms: 3_600_000,
            quota: 100,
            bytes: false,
            used: 1,
            condition: "subscription".into(),
            refused: 0,
            policy: "Gold".into(),
        };
        tm.ingest(busy, &UsageBatch { gateway_id: "gw-busy".into(), seq: 1, records: vec![record] });
        tm.ledger.detach(busy, tm.now_ms());
        tm.ledger.detach(quiet, tm.now_ms());
        assert_eq!(gauge(&tm), "3");

        clock.advance(Duration::from_millis(ledger::GATEWAY_SILENCE_MS));
        tm.ledger.sweep(tm.now_ms());
        assert_eq!(gauge(&tm), "3", "silent for exactly the limit: not gone yet");
        clock.advance(Duration::from_millis(1));
        tm.ledger.sweep(tm.now_ms());
        assert_eq!(gauge(&tm), "1", "only the gateway with a stream open is left");
        assert_ne!(tm.ledger.gateway("gw-quiet"), quiet, "forgotten: it comes back under a new number");
        assert_eq!(tm.ledger.gateway("gw-busy"), busy, "remembered while an open window holds its count");
        assert_eq!(tm.ledger.total("k", tm.now_ms()), 1);
        assert_eq!(tm.ledger.attach("gw-idle", tm.now_ms()), idle);
    }
}
