//! A gateway's link to the traffic managers (DESIGN §5): its usage goes to every `[[apim.throttling.url_group]]`
//! in batches, and decisions come from every `throttle_decision_endpoints` entry;
//! its analytics rows go with it to one traffic manager, which passes them on to the control plane.
//!
//! Usage leaves the request path through [`UsageSource::changed`] every [`BATCH_INTERVAL_MS`]: one bounded queue
//! per url_group, so a slow or dead traffic manager never slows a request; what does not fit is dropped, counted,
//! and made good on the next connect, when the whole of what the gateway holds is sent again (records are
//! cumulative counts per window, so sending them twice is harmless). Decision streams carry a heartbeat every
//! second; how many are live is told to the gateway, which applies its fail mode when none is.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use apim_config::{Endpoint, HostsFile};
use apim_wire::throttle::{
    BATCH_INTERVAL_MS, DECISION_SILENCE_MS, DecisionBatch, DecisionSubscription, MAX_BATCH_RECORDS, UsageBatch, UsageRecord,
    decisions_client::DecisionsClient, usage_client::UsageClient,
};
use tokio::sync::mpsc;

use crate::{CallError, connect, now_ms, show};

/// What the gateway lends the link.
pub trait UsageSource: Send + Sync + 'static {
    /// Records of the windows that changed since the last call.
    fn changed(&self, now_ms: u64) -> Vec<UsageRecord>;
    /// Every live window: sent first on each new usage stream.
    fn all(&self, now_ms: u64) -> Vec<UsageRecord>;
    /// Decisions, and allowances (the gateway keeps those addressed to it).
    fn apply(&self, batch: &DecisionBatch);
    /// How many decision streams and usage streams are live now.
    fn reachable(&self, decision_streams: usize, usage_streams: usize);
}

#[derive(Clone, Debug)]
pub struct LinkConfig {
    pub node_id: String,
    /// One entry per url_group: its endpoints, tried in turn.
    pub groups: Vec<Vec<Endpoint>>,
    pub decision_endpoints: Vec<Endpoint>,
    /// `Authorization` value (HTTP Basic of `[apim.throttling]` credentials).
    pub basic: String,
}

/// Batches waiting per url_group (one batch interval each): about five seconds.
const QUEUE: usize = 256;

/// A traffic manager gets this long to pass an analytics batch on (it waits for the control plane, which gets 10 s).
const ANALYTICS_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Default)]
pub struct LinkStats {
    pub batches_sent: AtomicU64,
    pub records_sent: AtomicU64,
    pub records_dropped: AtomicU64,
    pub usage_connects: AtomicU64,
    pub usage_streams_live: AtomicUsize,
    pub decision_batches: AtomicU64,
    pub decisions: AtomicU64,
    pub decision_streams_live: AtomicUsize,
}

impl LinkStats {
    pub fn render(&self) -> String {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let u = |a: &AtomicUsize| a.load(Ordering::Relaxed);
        format!(
            "# TYPE apim_gateway_usage_batches_total counter\napim_gateway_usage_batches_total {}\n\
             # TYPE apim_gateway_usage_records_total counter\napim_gateway_usage_records_total {}\n\
             # TYPE apim_gateway_usage_records_dropped_total counter\napim_gateway_usage_records_dropped_total {}\n\
             # TYPE apim_gateway_usage_connects_total counter\napim_gateway_usage_connects_total {}\n\
             # TYPE apim_gateway_usage_streams gauge\napim_gateway_usage_streams {}\n\
             # TYPE apim_gateway_decisions_total counter\napim_gateway_decisions_total {}\n\
             # TYPE apim_gateway_decision_streams gauge\napim_gateway_decision_streams {}\n",
            g(&self.batches_sent),
            g(&self.records_sent),
            g(&self.records_dropped),
            g(&self.usage_connects),
            u(&self.usage_streams_live),
            g(&self.decisions),
            u(&self.decision_streams_live),
        )
    }
}

pub struct ThrottleLink {
    /// Held while a stream count changes and the gateway is told, so it never hears an older count last.
    live: std::sync::Mutex<()>,
    cfg: LinkConfig,
    hosts: HostsFile,
    tls: Arc<rustls::ClientConfig>,
    pub stats: Arc<LinkStats>,
    /// The traffic manager that took the last analytics batch (its index among every url_group's endpoints) and
    /// the channel to it.
    analytics: tokio::sync::Mutex<Option<(usize, tonic::transport::Channel)>>,
}

struct Group {
    tx: mpsc::Sender<Arc<Vec<UsageRecord>>>,
    /// Set when a batch was dropped: the next stream starts with everything anyway, so this only logs.
    dropped: AtomicBool,
}

impl ThrottleLink {
    pub fn new(cfg: LinkConfig, hosts: HostsFile, tls: Arc<rustls::ClientConfig>) -> Arc<ThrottleLink> {
        Arc::new(ThrottleLink {
            live: std::sync::Mutex::new(()),
            cfg,
            hosts,
            tls,
            stats: Arc::default(),
            analytics: tokio::sync::Mutex::new(None),
        })
    }

    /// The id this gateway reports under (allowances are addressed to it).
    pub fn node_id(&self) -> &str {
        &self.cfg.node_id
    }

    /// Changes a live-stream count by `delta` and tells the gateway both counts.
    fn bump(&self, src: &dyn UsageSource, usage: bool, delta: isize) {
        let _held = self.live.lock().unwrap_or_else(|e| e.into_inner());
        let counter = if usage { &self.stats.usage_streams_live } else { &self.stats.decision_streams_live };
        if delta >= 0 {
            counter.fetch_add(delta as usize, Ordering::Relaxed);
        } else {
            counter.fetch_sub(delta.unsigned_abs(), Ordering::Relaxed);
        }
        src.reachable(self.stats.decision_streams_live.load(Ordering::Relaxed), self.stats.usage_streams_live.load(Ordering::Relaxed));
    }

    /// Starts the batcher, one task per url_group and one per decision endpoint.
    pub fn start(self: &Arc<Self>, src: Arc<dyn UsageSource>) -> Vec<tokio::task::JoinHandle<()>> {
        let mut tasks = Vec::new();
        let mut groups = Vec::new();
        for endpoints in self.cfg.groups.iter().filter(|g| !g.is_empty()) {
            let (tx, rx) = mpsc::channel(QUEUE);
            let group = Arc::new(Group { tx, dropped: AtomicBool::new(false) });
            groups.push(group.clone());
            tasks.push(tokio::spawn(self.clone().usage_loop(endpoints.clone(), rx, group, src.clone())));
        }
        if !groups.is_empty() {
            tasks.push(tokio::spawn(self.clone().batcher(groups, src.clone())));
        }
        for (i, endpoint) in self.cfg.decision_endpoints.iter().enumerate() {
            tasks.push(tokio::spawn(self.clone().decision_loop(i, endpoint.clone(), src.clone())));
        }
        tasks
    }

    async fn batcher(self: Arc<Self>, groups: Vec<Arc<Group>>, src: Arc<dyn UsageSource>) {
        let mut tick = tokio::time::interval(Duration::from_millis(BATCH_INTERVAL_MS));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let records = src.changed(now_ms());
            if records.is_empty() {
                continue;
            }
            for chunk in records.chunks(MAX_BATCH_RECORDS) {
                let batch = Arc::new(chunk.to_vec());
                for g in &groups {
                    if g.tx.try_send(batch.clone()).is_err() {
                        self.stats.records_dropped.fetch_add(batch.len() as u64, Ordering::Relaxed);
                        if !g.dropped.swap(true, Ordering::Relaxed) {
                            tracing::warn!("a traffic manager is not taking usage; batches are dropped until it reconnects");
                        }
                    }
                }
            }
        }
    }

    async fn usage_loop(
        self: Arc<Self>,
        endpoints: Vec<Endpoint>,
        mut rx: mpsc::Receiver<Arc<Vec<UsageRecord>>>,
        group: Arc<Group>,
        src: Arc<dyn UsageSource>,
    ) {
        let mut delay = Duration::from_millis(100);
        for i in 0.. {
            let endpoint = &endpoints[i % endpoints.len()];
            let started = tokio::time::Instant::now();
            let result = self.report(endpoint, &mut rx, &group, src.as_ref()).await;
            if let Err(e) = result {
                tracing::warn!(endpoint = %show(endpoint), "usage stream to the traffic manager ended: {e}");
            }
            if started.elapsed() > Duration::from_secs(5) {
                delay = Duration::from_millis(100);
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(2));
        }
    }

    async fn report(
        &self,
        endpoint: &Endpoint,
        rx: &mut mpsc::Receiver<Arc<Vec<UsageRecord>>>,
        group: &Group,
        src: &dyn UsageSource,
    ) -> Result<(), String> {
        let channel = connect(endpoint, &self.hosts, &self.tls).await.map_err(|e| e.to_string())?;
        let mut client = UsageClient::new(channel);
        // What waited in the queue is older than what the gateway holds now: the whole of that goes first.
        while rx.try_recv().is_ok() {}
        group.dropped.store(false, Ordering::Relaxed);
        let (tx, out) = mpsc::channel::<UsageBatch>(64);
        let req = self.authorized(tokio_stream::wrappers::ReceiverStream::new(out))?;
        let gateway_id = self.cfg.node_id.clone();
        let mut seq = 0u64;
        let first: Vec<UsageRecord> = src.all(now_ms());
        let mut pending: std::collections::VecDeque<Vec<UsageRecord>> = first.chunks(MAX_BATCH_RECORDS).map(<[_]>::to_vec).collect();
        let silence = Duration::from_millis(DECISION_SILENCE_MS);
        let mut acks = answered(client.report(req)).await?;
        tracing::info!(endpoint = %show(endpoint), records = first.len(), "reporting usage to the traffic manager");
        self.stats.usage_connects.fetch_add(1, Ordering::Relaxed);
        self.bump(src, true, 1);
        let _live = Live { link: self, src, usage: true };
        let (mut acked, mut waiting_since) = (0u64, None::<tokio::time::Instant>);
        let mut check = tokio::time::interval(Duration::from_millis(500));
        loop {
            // Batches were dropped while this stream was up: send everything again (cumulative, so harmless).
            if group.dropped.swap(false, Ordering::Relaxed) {
                pending.extend(src.all(now_ms()).chunks(MAX_BATCH_RECORDS).map(<[_]>::to_vec));
            }
            while let Some(records) = pending.pop_front() {
                seq += 1;
                let n = records.len() as u64;
                tx.send(UsageBatch { gateway_id: gateway_id.clone(), seq, records }).await.map_err(|_| "stream closed")?;
                self.stats.batches_sent.fetch_add(1, Ordering::Relaxed);
                self.stats.records_sent.fetch_add(n, Ordering::Relaxed);
                waiting_since.get_or_insert_with(tokio::time::Instant::now);
            }
            tokio::select! {
                batch = rx.recv() => match batch {
                    Some(b) => pending.push_back((*b).clone()),
                    None => return Ok(()),
                },
                ack = acks.message() => match ack {
                    Ok(Some(a)) => {
                        acked = acked.max(a.seq);
                        if acked >= seq {
                            waiting_since = None;
                        } else {
                            waiting_since = Some(tokio::time::Instant::now());
                        }
                    }
                    Ok(None) => return Err("closed by the traffic manager".into()),
                    Err(s) => return Err(format!("broken: {} ({:?})", s.message(), s.code())),
                },
                _ = check.tick() => {
                    if waiting_since.is_some_and(|t| t.elapsed() > silence) {
                        return Err(format!("no acknowledgement for {silence:?}"));
                    }
                }
            }
        }
    }

    async fn decision_loop(self: Arc<Self>, _index: usize, endpoint: Endpoint, src: Arc<dyn UsageSource>) {
        let mut delay = Duration::from_millis(100);
        loop {
            let started = tokio::time::Instant::now();
            if let Err(e) = self.follow_decisions(&endpoint, src.as_ref()).await {
                tracing::warn!(endpoint = %show(&endpoint), "decision stream from the traffic manager ended: {e}");
                self.bump(src.as_ref(), false, 0);
            }
            if started.elapsed() > Duration::from_secs(5) {
                delay = Duration::from_millis(100);
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(2));
        }
    }

    async fn follow_decisions(&self, endpoint: &Endpoint, src: &dyn UsageSource) -> Result<(), String> {
        let channel = connect(endpoint, &self.hosts, &self.tls).await.map_err(|e| e.to_string())?;
        let mut client = DecisionsClient::new(channel).max_decoding_message_size(64 * 1024 * 1024);
        let req = self.authorized(DecisionSubscription { node_id: self.cfg.node_id.clone() })?;
        let silence = Duration::from_millis(DECISION_SILENCE_MS);
        let mut stream = answered(client.subscribe(req)).await?;
        self.bump(src, false, 1);
        let _live = Live { link: self, src, usage: false };
        tracing::info!(endpoint = %show(endpoint), "following the traffic manager's decisions");
        loop {
            match tokio::time::timeout(silence, stream.message()).await {
                Err(_) => return Err(format!("silent for {silence:?}")),
                Ok(Err(s)) => return Err(format!("broken: {} ({:?})", s.message(), s.code())),
                Ok(Ok(None)) => return Err("closed by the traffic manager".into()),
                Ok(Ok(Some(b))) => {
                    if !b.decisions.is_empty() || !b.allowances.is_empty() {
                        self.stats.decision_batches.fetch_add(1, Ordering::Relaxed);
                        self.stats.decisions.fetch_add(b.decisions.len() as u64, Ordering::Relaxed);
                        src.apply(&b);
                    }
                }
            }
        }
    }
}

impl ThrottleLink {
    /// Sends a gateway's analytics rows with its usage, to a traffic manager that passes them on to the control
    /// plane (`Usage.Analytics`): every url_group's endpoints in turn, starting with the one that took the last
    /// batch, until one answers that the control plane stored them. One that says the batch is bad (the control
    /// plane refused it) is not tried past; a traffic manager without the call (an older one) is passed over.
    pub async fn ship_analytics(&self, batch: &apim_wire::analytics::AnalyticsBatch) -> Result<(), CallError> {
        let endpoints: Vec<&Endpoint> = self.cfg.groups.iter().flatten().collect();
        let wire = apim_wire::throttle::AnalyticsBatch::from(batch);
        let mut held = self.analytics.lock().await;
        let first = held.as_ref().map_or(0, |(i, _)| *i);
        let mut errors = Vec::new();
        for i in (0..endpoints.len()).map(|k| (first + k) % endpoints.len().max(1)) {
            let endpoint = endpoints[i];
            let channel = match held.take() {
                Some((j, channel)) if j == i => channel,
                _ => match connect(endpoint, &self.hosts, &self.tls).await {
                    Ok(channel) => channel,
                    Err(e) => {
                        errors.push(format!("{}: {e}", show(endpoint)));
                        continue;
                    }
                },
            };
            let req = self.authorized(wire.clone()).map_err(CallError::Refused)?;
            match tokio::time::timeout(ANALYTICS_TIMEOUT, UsageClient::new(channel.clone()).analytics(req)).await {
                Ok(Ok(_)) => {
                    *held = Some((i, channel));
                    return Ok(());
                }
                Ok(Err(s)) if s.code() == tonic::Code::InvalidArgument => {
                    *held = Some((i, channel));
                    return Err(CallError::Refused(format!("{}: {}", show(endpoint), s.message())));
                }
                Ok(Err(s)) => errors.push(format!("{}: {} ({:?})", show(endpoint), s.message(), s.code())),
                Err(_) => errors.push(format!("{}: no answer in {ANALYTICS_TIMEOUT:?}", show(endpoint))),
            }
        }
        if errors.is_empty() {
            errors.push("no traffic manager is configured".into());
        }
        Err(CallError::Unreachable(errors))
    }

    /// A request carrying the link's credentials.
    fn authorized<T>(&self, message: T) -> Result<tonic::Request<T>, String> {
        let mut req = tonic::Request::new(message);
        req.metadata_mut().insert("authorization", self.cfg.basic.parse().map_err(|_| "the credentials are not a header value")?);
        Ok(req)
    }
}

/// The stream a call opens, or why not: no answer within the silence a stream may keep, or a refusal.
async fn answered<T>(call: impl std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>) -> Result<T, String> {
    tokio::time::timeout(Duration::from_millis(DECISION_SILENCE_MS), call)
        .await
        .map_err(|_| "no answer".to_string())?
        .map(tonic::Response::into_inner)
        .map_err(|s| format!("refused: {} ({:?})", s.message(), s.code()))
}

/// Counts a live stream down when it ends, however it ends.
struct Live<'a> {
    link: &'a ThrottleLink,
    src: &'a dyn UsageSource,
    usage: bool,
}

impl Drop for Live<'_> {
    fn drop(&mut self) {
        self.link.bump(self.src, self.usage, -1);
    }
}
