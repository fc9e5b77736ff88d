//! The exporters a team switches on (`[apim.analytics] type = "elk"`, `[apim.analytics.otlp]`): one event per
//! request, built only then from what the request path holds, and handed over a bounded queue to one task that
//! writes WSO2's `apim_metrics.log` lines and sends OpenTelemetry spans. A full queue, a full disk or an
//! unreachable collector drops events and counts them (`apim_gateway_export_dropped_total`); a request never
//! waits for an exporter.

pub mod elk;
pub mod otlp;

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use crate::snapshot::{Api, KeyType};
use crate::trace::TraceIds;

/// Events waiting for the exporters' thread; beyond, they are dropped and counted.
const QUEUE: usize = 16_384;

/// How often the exporters' thread takes the queue. It is not woken per event: a wake-up per request (a futex
/// and a context switch) cost more than writing the event.
const TICK: Duration = Duration::from_millis(100);

/// Sampled traces waiting for the collector; beyond, they are dropped and counted.
const MAX_PENDING_TRACES: usize = 4096;

/// What the exporter task needs of its gateway: named by a trait, so that this module sits below `gateway`.
pub trait Outlet: Send + Sync + 'static {
    /// The collector's endpoint, with its connection pool.
    fn collector(&self, url: &str, timeout: Duration) -> Result<Arc<crate::upstream::Endpoint>, String>;
    fn tls(&self) -> &tokio_rustls::TlsConnector;
    fn metrics(&self) -> &crate::metrics::Metrics;
}

/// Which exporters run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Settings {
    pub elk: Option<apim_config::ElkLog>,
    pub otlp: Option<apim_config::Otlp>,
    /// The node's id: OTLP's `service.instance.id` (set by the node once it knows it).
    pub node: String,
}

impl Settings {
    pub fn from_deployment(d: &apim_config::DeploymentConfig) -> Settings {
        Settings { elk: d.analytics.elk_log.clone(), otlp: d.analytics.otlp.clone(), node: d.server.hostname.clone() }
    }

    pub fn any(&self) -> bool {
        self.elk.is_some() || self.otlp.is_some()
    }
}

/// One request answered for an API.
pub struct RequestEvent {
    /// When it arrived (Unix microseconds).
    pub started_unix_us: u64,
    pub api: Arc<Api>,
    /// Its index in `api.resources`.
    pub resource: Option<usize>,
    pub application: Option<ApplicationRef>,
    pub key_type: KeyType,
    /// The token's subject, for a user's token.
    pub user: Option<String>,
    pub client_ip: IpAddr,
    pub user_agent: Option<http::HeaderValue>,
    pub method: http::Method,
    pub uri: http::Uri,
    /// The status the client got, and the backend's when it answered.
    pub status: u16,
    pub target_status: Option<u16>,
    /// The backend's URL (scheme, authority and base path), when one was called.
    pub destination: Option<Arc<str>>,
    pub latency_us: u64,
    /// From arrival to the backend call, and the backend's time to its answer's head.
    pub upstream_from_us: Option<u64>,
    pub backend_us: Option<u64>,
    /// A refusal or failure made at the gateway.
    pub fault: Option<Fault>,
    /// The span ids and phase times, when the request's trace is sampled.
    pub trace: Option<Box<Spans>>,
}

pub struct ApplicationRef {
    pub id: String,
    pub name: String,
    pub owner: String,
}

pub use crate::reject::Fault;

/// A sampled request's spans: its ids, and each phase's start and end in microseconds from arrival.
pub struct Spans {
    pub ids: TraceIds,
    pub auth: Option<(u64, u64)>,
    pub throttle: Option<(u64, u64)>,
}

#[derive(Default)]
pub struct Dropped {
    pub elk: AtomicU64,
    pub otlp: AtomicU64,
}

/// The request path's side: the queue and what it needs to decide per request.
pub struct Exports {
    queue: Arc<Mutex<Vec<RequestEvent>>>,
    /// `Some(ratio)` when traces are exported.
    pub sampling: Option<f64>,
    elk: bool,
    pub dropped: Arc<Dropped>,
}

impl Exports {
    /// The queue, and a thread of its own for the exporters (with its own single-threaded runtime): formatting
    /// lines and spans never takes a turn from the request path's runtime. `None` if the thread cannot start
    /// (the caller runs without exporters and says so).
    pub fn start(settings: Settings, gateway: Weak<dyn Outlet>) -> Option<Exports> {
        let queue = Arc::new(Mutex::new(Vec::with_capacity(1024)));
        let taken = queue.clone();
        let dropped = Arc::new(Dropped::default());
        let exports = Exports {
            queue,
            sampling: settings.otlp.as_ref().map(|o| o.sampling_ratio),
            elk: settings.elk.is_some(),
            dropped: dropped.clone(),
        };
        let thread = std::thread::Builder::new().name("apim-export".into()).spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!("the analytics exporters cannot start their runtime: {e}");
                    return;
                }
            };
            rt.block_on(async move {
                if let Some(o) = settings.otlp.clone().filter(|o| o.metrics_interval_secs > 0) {
                    tokio::spawn(otlp::push_metrics(gateway.clone(), o, settings.node.clone()));
                }
                run(taken, settings, gateway, dropped).await;
            });
        });
        match thread {
            Ok(_) => Some(exports),
            Err(e) => {
                tracing::error!("the analytics exporters cannot start their thread: {e}");
                None
            }
        }
    }

    /// Never waits: a full queue drops the event, counted against each exporter it was for.
    pub fn send(&self, event: RequestEvent) {
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        if queue.len() < QUEUE {
            queue.push(event);
        } else {
            drop(queue);
            self.lost(std::slice::from_ref(&event));
        }
    }

    fn lost(&self, events: &[RequestEvent]) {
        lost(&self.dropped, self.elk, self.sampling.is_some(), events);
    }

    /// `/metrics` lines.
    pub fn render(&self, out: &mut String) {
        out.push_str(
            "# HELP apim_gateway_export_dropped_total Request events an exporter lost: its queue was full, the disk refused the write, or the collector did not take them.\n\
             # TYPE apim_gateway_export_dropped_total counter\n",
        );
        if self.elk {
            out.push_str(&format!("apim_gateway_export_dropped_total{{exporter=\"elk\"}} {}\n", self.dropped.elk.load(Relaxed)));
        }
        if self.sampling.is_some() {
            out.push_str(&format!("apim_gateway_export_dropped_total{{exporter=\"otlp\"}} {}\n", self.dropped.otlp.load(Relaxed)));
        }
    }
}

fn lost(dropped: &Dropped, elk: bool, otlp: bool, events: &[RequestEvent]) {
    if elk {
        dropped.elk.fetch_add(events.len() as u64, Relaxed);
    }
    if otlp {
        let traced = events.iter().filter(|e| e.trace.as_ref().is_some_and(|t| t.ids.sampled)).count();
        dropped.otlp.fetch_add(traced as u64, Relaxed);
    }
}

/// The exporters' loop: every [`TICK`] it takes what the queue holds, writes the log lines, and sends spans at
/// most a second after they were queued; it ends, after a last round, once its gateway is gone.
async fn run(queue: Arc<Mutex<Vec<RequestEvent>>>, settings: Settings, gateway: Weak<dyn Outlet>, dropped: Arc<Dropped>) {
    let mut log = settings.elk.clone().map(elk::LogFile::new);
    let mut pending = otlp::Pending::new(settings.otlp.as_ref().is_some_and(|o| o.json));
    let mut batch = Vec::with_capacity(1024);
    let mut warned = elk::Warned::default();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let closed = gateway.strong_count() == 0;
        // The emptied buffer goes back, so neither side allocates once both have grown.
        std::mem::swap(&mut batch, &mut *queue.lock().unwrap_or_else(PoisonError::into_inner));
        // The exporters' own thread: the file is written in place.
        if let Some(file) = log.as_mut()
            && !batch.is_empty()
            && let Err(e) = file.write(&elk::lines(&batch))
        {
            dropped.elk.fetch_add(batch.len() as u64, Relaxed);
            warned.warn(&e);
        }
        if let Some(o) = &settings.otlp {
            let spans = batch.iter().filter(|e| e.trace.as_ref().is_some_and(|t| t.ids.sampled));
            for event in spans {
                if pending.traces() >= MAX_PENDING_TRACES {
                    dropped.otlp.fetch_add(1, Relaxed);
                } else {
                    pending.add(event);
                }
            }
            if pending.due() || (closed && pending.traces() > 0) {
                let Some(gw) = gateway.upgrade() else { return };
                let sent = pending.traces() as u64;
                if let Err(e) = otlp::send_traces(&*gw, o, &settings.node, &mut pending).await {
                    dropped.otlp.fetch_add(sent, Relaxed);
                    warned.warn_otlp(&e);
                }
            }
        }
        batch.clear();
        if closed {
            return;
        }
    }
}
