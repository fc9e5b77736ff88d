//! The exporters a team switches on (`[apim.analytics] type = "elk"`, `[apim.analytics.otlp]`): each request's
//! event is queued where it was answered, into a bounded outbox of the thread's ([`crate::shard`]), its strings
//! copied into the outbox's one buffer and its API pinned once for each run of events for it; one thread of the
//! exporters' own takes the outboxes every [`TICK`], encodes the events (WSO2's `apim_metrics.log` lines,
//! OpenTelemetry spans), writes the log and sends the spans, on CPU time the requests leave ([`Share`]).
//! Queueing costs the request thread a copy of a few hundred bytes; encoding there cost it 0.4 µs a request more for OTLP and 1.5 µs for the ELK line
//! (`bench/gateway.md`, session 24). A full outbox, a full disk or an unreachable collector drops events and
//! counts them (`apim_gateway_export_dropped_total`); a request never waits for an exporter.

pub mod elk;
pub mod otlp;

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering::Acquire, Ordering::Relaxed, Ordering::Release};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use crate::shard::Sharded;
use crate::snapshot::{Api, Application, KeyType};
use crate::trace::TraceIds;

/// Events one outbox holds between two of the exporters' turns (every [`TICK`]: 320,000 a second from one
/// thread), and their strings in bytes; beyond, events are dropped and counted.
const MAX_EVENTS: usize = 32_768;
const MAX_TEXT: usize = 8 << 20;

/// The most one export request carries, in bytes (under the OpenTelemetry Collector's and Jaeger's request
/// limits); a chunk is closed before it would grow beyond.
const MAX_CHUNK: usize = 8 << 20;

/// Encoded spans waiting for the collector, in bytes (about 24,000 traces: half a second of a busy worker, or a
/// turn that came late); beyond, traces are dropped and counted.
const MAX_PENDING: usize = 24 << 20;

/// How often the exporters' thread takes the outbox. It is not woken per event: a wake-up per request (a futex
/// and a context switch) cost more than writing the event.
const TICK: Duration = Duration::from_millis(100);

/// Spans are sent once this many traces wait, or once the oldest has waited [`FLUSH_AFTER`].
const FLUSH_TRACES: usize = 512;
const FLUSH_AFTER: Duration = Duration::from_secs(1);

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
    /// `exporters_yield`: the exporters' thread runs on the CPU time requests leave ([`Share`]).
    pub yield_cpu: bool,
}

impl Settings {
    pub fn from_deployment(d: &apim_config::DeploymentConfig) -> Settings {
        Settings {
            elk: d.analytics.elk_log.clone(),
            otlp: d.analytics.otlp.clone(),
            node: d.server.hostname.clone(),
            yield_cpu: d.analytics.exporters_yield,
        }
    }

    pub fn any(&self) -> bool {
        self.elk.is_some() || self.otlp.is_some()
    }
}

/// One request answered for an API, as the exporters encode it: borrowed from the request path when it is
/// queued, and from the outbox when the exporters' thread encodes it.
pub struct RequestEvent<'a> {
    /// When it arrived (Unix microseconds).
    pub started_unix_us: u64,
    pub api: &'a Arc<Api>,
    /// The resource's template (`/orders/{id}`), when one matched.
    pub resource: Option<&'a str>,
    pub application: Option<AppNames<'a>>,
    pub key_type: KeyType,
    /// The token's subject, for a user's token.
    pub user: Option<&'a str>,
    pub client_ip: IpAddr,
    pub user_agent: Option<&'a str>,
    pub method: &'a str,
    /// The canonical path.
    pub path: &'a str,
    /// The status the client got, and the backend's when it answered.
    pub status: u16,
    pub target_status: Option<u16>,
    /// The backend's URL (scheme, authority and base path), when one was called.
    pub destination: Option<&'a str>,
    pub latency_us: u64,
    /// From arrival to the backend call, and the backend's time to its answer's head.
    pub upstream_from_us: Option<u64>,
    pub backend_us: Option<u64>,
    /// A refusal or failure made at the gateway.
    pub fault: Option<Fault>,
    /// The span ids and phase times, when the request's trace is sampled.
    pub trace: Option<Spans>,
}

/// The application a request came with.
#[derive(Clone, Copy)]
pub struct AppNames<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub owner: &'a str,
}

impl<'a> From<&'a Application> for AppNames<'a> {
    fn from(a: &'a Application) -> AppNames<'a> {
        AppNames { id: &a.id, name: &a.name, owner: &a.owner }
    }
}

pub use crate::reject::Fault;

/// A sampled request's spans: its ids, and each phase's start and end in microseconds from arrival.
#[derive(Clone, Copy)]
pub struct Spans {
    pub ids: TraceIds,
    pub auth: Option<(u64, u64)>,
    pub throttle: Option<(u64, u64)>,
}

#[derive(Default)]
pub struct Dropped {
    pub elk: AtomicU64,
    pub otlp: AtomicU64,
    /// Times the exporters' thread fell behind on `SCHED_IDLE` and took a normal share to catch up ([`Share`]).
    pub catch_ups: AtomicU64,
}

/// A string of a queued event: where it sits in its outbox's text.
#[derive(Clone, Copy)]
struct Text {
    at: u32,
    len: u32,
}

/// An event as it waits in an outbox: [`RequestEvent`] with its strings copied into the outbox's text and its
/// API pinned there.
struct Queued {
    started_unix_us: u64,
    /// In [`Outbox::apis`].
    api: u32,
    resource: Option<Text>,
    /// Id, name, owner.
    application: Option<[Text; 3]>,
    key_type: KeyType,
    user: Option<Text>,
    client_ip: IpAddr,
    user_agent: Option<Text>,
    method: Text,
    path: Text,
    status: u16,
    target_status: Option<u16>,
    destination: Option<Text>,
    latency_us: u64,
    upstream_from_us: Option<u64>,
    backend_us: Option<u64>,
    fault: Option<Fault>,
    trace: Option<Spans>,
    /// Its spans are exported (OTLP is on and the trace sampled).
    traced: bool,
}

/// Events waiting for the exporters' thread.
#[derive(Default)]
struct Outbox {
    events: Vec<Queued>,
    /// A `String`, so that reading a string back checks two boundaries rather than validating its UTF-8 (5 % of
    /// the exporters' thread's time with OTLP on).
    text: String,
    /// The APIs the events are for: one entry for each run of events for the same API, so that queueing an
    /// event rarely touches an `Arc`'s count.
    apis: Vec<Arc<Api>>,
}

impl Outbox {
    fn put(&mut self, s: &str) -> Text {
        let at = self.text.len() as u32;
        self.text.push_str(s);
        Text { at, len: s.len() as u32 }
    }

    fn get(&self, t: Text) -> &str {
        // Pushed as whole `&str`s: always on boundaries.
        self.text.get(t.at as usize..(t.at + t.len) as usize).unwrap_or_default()
    }

    /// The queued event, borrowed from this outbox; `None` if its API is not pinned here (it always is).
    fn event(&self, q: &Queued) -> Option<RequestEvent<'_>> {
        let text = |t: Option<Text>| t.map(|t| self.get(t));
        Some(RequestEvent {
            started_unix_us: q.started_unix_us,
            api: self.apis.get(q.api as usize)?,
            resource: text(q.resource),
            application: q.application.map(|[id, name, owner]| AppNames { id: self.get(id), name: self.get(name), owner: self.get(owner) }),
            key_type: q.key_type,
            user: text(q.user),
            client_ip: q.client_ip,
            user_agent: text(q.user_agent),
            method: self.get(q.method),
            path: self.get(q.path),
            status: q.status,
            target_status: q.target_status,
            destination: text(q.destination),
            latency_us: q.latency_us,
            upstream_from_us: q.upstream_from_us,
            backend_us: q.backend_us,
            fault: q.fault,
            trace: q.trace,
        })
    }

    fn clear(&mut self) {
        self.events.clear();
        self.text.clear();
        self.apis.clear();
    }
}

/// The request path's side: the outboxes and what it needs to decide per request.
pub struct Exports {
    outbox: Arc<Sharded<Mutex<Outbox>>>,
    /// `Some(ratio)` when traces are exported.
    pub sampling: Option<f64>,
    elk: bool,
    pub dropped: Arc<Dropped>,
    pace: Arc<Pace>,
}

/// The exporters' thread's [`Share`] where the request path sees it: a worker whose outbox reaches half full hurries
/// the thread itself, since on `SCHED_IDLE` at full load the thread may not get a turn to notice.
#[derive(Default)]
struct Pace {
    /// The thread's `pthread_t`, once it runs.
    thread: AtomicU64,
    /// Its `Share as u8`.
    share: AtomicU8,
}

impl Pace {
    fn share(&self) -> Share {
        // Acquire: a share other than `Normal` was stored after `thread`.
        Share::from_u8(self.share.load(Acquire))
    }

    /// Moves the thread from `from` to `to` unless another has moved it meanwhile; counts a catch-up.
    fn set(&self, from: Share, to: Share, dropped: &Dropped) {
        if self.share.compare_exchange(from as u8, to as u8, Relaxed, Relaxed).is_err() {
            return;
        }
        let thread = self.thread.load(Relaxed);
        if thread == 0 {
            return;
        }
        let now = to.apply(from, thread);
        self.share.store(now as u8, Relaxed);
        if now == Share::CatchingUp {
            dropped.catch_ups.fetch_add(1, Relaxed);
        }
    }
}

impl Exports {
    /// The outboxes, and a thread of its own for the exporters (with its own single-threaded runtime): encoding
    /// events, writing the log and posting spans never take a turn from the request path's runtime. `None` if
    /// the thread cannot start (the caller runs without exporters and says so).
    pub fn start(settings: Settings, gateway: Weak<dyn Outlet>) -> Option<Exports> {
        let outbox = Arc::new(Sharded::<Mutex<Outbox>>::default());
        let taken = outbox.clone();
        let dropped = Arc::new(Dropped::default());
        let pace = Arc::new(Pace::default());
        let exports = Exports {
            outbox,
            sampling: settings.otlp.as_ref().map(|o| o.sampling_ratio),
            elk: settings.elk.is_some(),
            dropped: dropped.clone(),
            pace: pace.clone(),
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
                run(taken, settings, gateway, dropped, pace).await;
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

    /// Whether a request with this trace has anything to export: always with the ELK log, else when sampled.
    pub fn wants(&self, trace: Option<&TraceIds>) -> bool {
        self.elk || (self.sampling.is_some() && trace.is_some_and(|t| t.sampled))
    }

    /// Queues the event for the exporters that are on; never waits (a full outbox drops the event, counted
    /// against each exporter it was for).
    pub fn send(&self, e: &RequestEvent<'_>) {
        let traced = self.sampling.is_some() && e.trace.as_ref().is_some_and(|t| t.ids.sampled);
        if !self.elk && !traced {
            return;
        }
        let mut outbox = self.outbox.mine().lock().unwrap_or_else(PoisonError::into_inner);
        if outbox.events.len() >= MAX_EVENTS || outbox.text.len() >= MAX_TEXT {
            drop(outbox);
            if self.elk {
                self.dropped.elk.fetch_add(1, Relaxed);
            }
            if traced {
                self.dropped.otlp.fetch_add(1, Relaxed);
            }
            return;
        }
        let o = &mut *outbox;
        if o.events.len() == MAX_EVENTS / 2 && self.pace.share() == Share::Spare {
            self.pace.set(Share::Spare, Share::CatchingUp, &self.dropped);
        }
        if !o.apis.last().is_some_and(|a| Arc::ptr_eq(a, e.api)) {
            o.apis.push(e.api.clone());
        }
        let queued = Queued {
            started_unix_us: e.started_unix_us,
            api: (o.apis.len() - 1) as u32,
            resource: e.resource.map(|r| o.put(r)),
            application: e.application.map(|a| [o.put(a.id), o.put(a.name), o.put(a.owner)]),
            key_type: e.key_type,
            user: e.user.map(|u| o.put(u)),
            client_ip: e.client_ip,
            user_agent: e.user_agent.map(|ua| o.put(ua)),
            method: o.put(e.method),
            path: o.put(e.path),
            status: e.status,
            target_status: e.target_status,
            destination: e.destination.map(|d| o.put(d)),
            latency_us: e.latency_us,
            upstream_from_us: e.upstream_from_us,
            backend_us: e.backend_us,
            fault: e.fault,
            trace: e.trace,
            traced,
        };
        o.events.push(queued);
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
        out.push_str(&format!(
            "# HELP apim_gateway_export_catch_ups_total Times the exporters' thread, which runs on CPU time requests leave, fell behind and took a normal share to catch up.\n\
             # TYPE apim_gateway_export_catch_ups_total counter\n\
             apim_gateway_export_catch_ups_total {}\n",
            self.dropped.catch_ups.load(Relaxed)
        ));
    }
}

/// An address as text without allocating; IPv4, the usual case, without the formatting machinery.
pub(crate) fn ip_text(ip: IpAddr, buf: &mut [u8; 45]) -> &str {
    let n = match ip {
        IpAddr::V4(v4) => {
            let mut n = 0;
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    buf[n] = b'.';
                    n += 1;
                }
                if octet >= 100 {
                    buf[n] = b'0' + octet / 100;
                    n += 1;
                }
                if octet >= 10 {
                    buf[n] = b'0' + octet / 10 % 10;
                    n += 1;
                }
                buf[n] = b'0' + octet % 10;
                n += 1;
            }
            n
        }
        IpAddr::V6(_) => {
            let mut cursor = std::io::Cursor::new(&mut buf[..]);
            let _ = std::io::Write::write_fmt(&mut cursor, format_args!("{ip}"));
            cursor.position() as usize
        }
    };
    std::str::from_utf8(&buf[..n]).unwrap_or("")
}

/// The exporters' thread's share of the CPU. With a normal share it competed with the request path for a core:
/// with one traffic worker, OTLP tracing of every request took a fifth of the node's throughput although its
/// thread used only a tenth of that in CPU, since a worker that woke behind it on its core waited there while the
/// other core idled (`bench/gateway.md`, session 25). On `SCHED_IDLE` it runs only on time no request wants: a
/// worker waking on its core preempts it at once, and the scheduler counts that core as free. An outbox half full
/// means it has fallen behind: the worker that fills it to half, or a turn that finds it so, gives the thread a
/// normal share until its turns find the outboxes under an eighth; leaving `SCHED_IDLE` needs CAP_SYS_NICE, and
/// without it the thread stays and what it cannot keep up with is dropped and counted, as a full outbox always is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Share {
    /// A normal share, by configuration (`exporters_yield = false`) or because the system refused `SCHED_IDLE`.
    Normal,
    Spare,
    /// Catching up with a normal share.
    CatchingUp,
    /// Behind, and not allowed to leave `SCHED_IDLE`.
    SpareOnly,
}

impl Share {
    fn from_u8(n: u8) -> Share {
        [Share::Normal, Share::Spare, Share::CatchingUp, Share::SpareOnly].get(usize::from(n)).copied().unwrap_or(Share::Normal)
    }

    /// `fullest`: the fullest outbox this turn took, in thousandths of its capacity.
    fn next(self, fullest: usize) -> Share {
        match self {
            Share::Spare if fullest > 500 => Share::CatchingUp,
            Share::CatchingUp if fullest < 125 => Share::Spare,
            same => same,
        }
    }

    /// Sets `thread`'s policy for a move from `from`, and says where it ended.
    fn apply(self, from: Share, thread: thread_priority::ThreadId) -> Share {
        use thread_priority::{NormalThreadSchedulePolicy as Policy, ThreadPriority, ThreadPriorityValue, ThreadSchedulePolicy};
        // Nice 0 either way: the policy decides. The crate maps 0..=99 onto nice 19..=-20 for SCHED_OTHER, where 48
        // is 0; SCHED_IDLE takes only 0, its `Min`.
        let (policy, nice) = match self {
            Share::Spare | Share::SpareOnly => (Policy::Idle, ThreadPriority::Min),
            Share::CatchingUp | Share::Normal => {
                (Policy::Other, ThreadPriority::Crossplatform(ThreadPriorityValue::try_from(48u8).unwrap_or_default()))
            }
        };
        match thread_priority::set_thread_priority_and_policy(thread, nice, ThreadSchedulePolicy::Normal(policy)) {
            Ok(()) => self,
            Err(e) if from == Share::Spare => {
                tracing::warn!(
                    "the analytics exporters fell behind and may not leave SCHED_IDLE ({e:?}; it needs CAP_SYS_NICE): events they cannot keep up with are dropped and counted"
                );
                Share::SpareOnly
            }
            Err(e) => {
                tracing::warn!("the analytics exporters' thread runs with a normal CPU share: SCHED_IDLE was refused ({e:?})");
                Share::Normal
            }
        }
    }
}

struct Leaving(Arc<Pace>);

impl Drop for Leaving {
    fn drop(&mut self) {
        self.0.share.store(Share::Normal as u8, Release);
    }
}

/// Spans taken from the outbox and not yet sent: export requests' worth, oldest first.
struct Chunk {
    spans: Vec<u8>,
    traces: u64,
    since: Instant,
}

/// The chunks waiting for the collector, bounded by [`MAX_PENDING`] bytes.
#[derive(Default)]
struct Pending {
    chunks: VecDeque<Chunk>,
    bytes: usize,
    /// Sent chunks' buffers, for the next ones.
    spare: Vec<Vec<u8>>,
}

impl Pending {
    /// Takes `spans` (`traces` of them; left empty): into the newest chunk while it has room, else into a chunk of
    /// their own. Beyond [`MAX_PENDING`] they are refused, and the count to drop is returned.
    fn add(&mut self, spans: &mut Vec<u8>, traces: u64) -> u64 {
        if traces == 0 {
            return 0;
        }
        let dropped = if self.bytes + spans.len() > MAX_PENDING {
            traces
        } else {
            self.bytes += spans.len();
            match self.chunks.back_mut() {
                // The newest chunk takes more while it fits in a request: a quiet gateway sends few requests, and a
                // busy one few round trips (each is a wait for this thread's turn on a core).
                Some(last) if last.spans.len() + spans.len() <= MAX_CHUNK => {
                    last.spans.extend_from_slice(spans);
                    last.traces += traces;
                }
                _ => {
                    let chunk = std::mem::replace(spans, self.spare.pop().unwrap_or_default());
                    self.chunks.push_back(Chunk { spans: chunk, traces, since: Instant::now() });
                }
            }
            0
        };
        spans.clear();
        dropped
    }

    /// The oldest chunk, if it is due: full, old enough, or the exporters are closing.
    fn due(&mut self, closing: bool) -> Option<Chunk> {
        let first = self.chunks.front()?;
        if first.traces < FLUSH_TRACES as u64 && first.since.elapsed() < FLUSH_AFTER && !closing {
            return None;
        }
        let chunk = self.chunks.pop_front()?;
        self.bytes -= chunk.spans.len();
        Some(chunk)
    }

    /// Keeps a sent chunk's buffer for a next one; a few, so that a burst's buffers are not all held.
    fn recycle(&mut self, mut buffer: Vec<u8>) {
        if self.spare.len() < 4 {
            buffer.clear();
            self.spare.push(buffer);
        }
    }
}

/// The exporters' loop: every [`TICK`] it takes what the outbox holds, writes the log lines, and sends spans at
/// most [`FLUSH_AFTER`] after they were queued; it ends, after a last round, once its gateway is gone (with the
/// `Exports` that shares the outbox).
async fn run(outbox: Arc<Sharded<Mutex<Outbox>>>, settings: Settings, gateway: Weak<dyn Outlet>, dropped: Arc<Dropped>, pace: Arc<Pace>) {
    let mut log = settings.elk.clone().map(elk::LogFile::new);
    let json = settings.otlp.as_ref().is_some_and(|o| o.json);
    let mut taken = Outbox::default();
    // This turn's log lines, each ending with a newline, and how many.
    let mut lines = Vec::new();
    let mut line_count = 0;
    // This turn's spans in the encoder's framing (see [`otlp::encode`]), how many traces they hold, and the
    // encoder's scratch.
    let mut spans = Vec::new();
    let mut traces = 0;
    let mut span = Vec::new();
    let mut pending = Pending::default();
    // The export request's buffer.
    let mut request = Vec::new();
    let mut collector = otlp::Collector::default();
    let mut warned = elk::Warned::default();
    let me = thread_priority::thread_native_id();
    pace.thread.store(me, Relaxed);
    let first = if settings.yield_cpu { Share::Spare.apply(Share::Normal, me) } else { Share::Normal };
    pace.share.store(first as u8, Release);
    // Once this thread is gone no one may name it: `Normal` is never moved.
    let _leaving = Leaving(pace.clone());
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let mut fullest = 0;
        // Closed once the request path's side is dropped. Not `gateway.strong_count() == 0`: the gateway starts this
        // thread from inside `Arc::new_cyclic`, when its count is still 0, and a first tick that came before the
        // constructor returned ended the exporters for the node's whole life.
        let closed = Arc::strong_count(&outbox) == 1;
        for shard in outbox.all() {
            // The emptied buffers go back, so neither side allocates once both have grown.
            std::mem::swap(&mut taken, &mut *shard.lock().unwrap_or_else(PoisonError::into_inner));
            fullest = fullest.max(taken.events.len() * 1000 / MAX_EVENTS).max(taken.text.len() * 1000 / MAX_TEXT);
            for q in &taken.events {
                let Some(event) = taken.event(q) else { continue };
                if log.is_some() {
                    elk::line(&event, &mut lines);
                    line_count += 1;
                }
                if q.traced {
                    let before = spans.len();
                    otlp::encode(&event, json, &mut spans, &mut span);
                    if spans.len() > MAX_CHUNK {
                        spans.truncate(before);
                        dropped.otlp.fetch_add(1, Relaxed);
                    } else {
                        traces += 1;
                    }
                    // Half a chunk goes to the pending ones now (a turn that came late holds many); the rest at the
                    // turn's end, where it becomes a chunk of its own (moved, not copied) once the last one was sent.
                    if spans.len() > MAX_CHUNK / 2 {
                        dropped.otlp.fetch_add(pending.add(&mut spans, traces), Relaxed);
                        traces = 0;
                    }
                }
            }
            taken.clear();
        }
        let share = pace.share();
        let wanted = share.next(fullest);
        if wanted != share {
            pace.set(share, wanted, &dropped);
        }
        // The exporters' own thread: the file is written in place.
        if let Some(file) = log.as_mut()
            && line_count > 0
            && let Err(e) = file.write(&lines)
        {
            dropped.elk.fetch_add(line_count, Relaxed);
            warned.warn(&e);
        }
        lines.clear();
        line_count = 0;
        if let Some(o) = &settings.otlp {
            dropped.otlp.fetch_add(pending.add(&mut spans, traces), Relaxed);
            traces = 0;
            while let Some(chunk) = pending.due(closed) {
                let Some(gw) = gateway.upgrade() else { return };
                if let Err(e) = otlp::send_traces(&*gw, &mut collector, o, &settings.node, json, &chunk.spans, &mut request).await {
                    dropped.otlp.fetch_add(chunk.traces, Relaxed);
                    warned.warn_otlp(&e);
                }
                pending.recycle(chunk.spans);
            }
        }
        if closed {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    use std::sync::{Arc, Weak};
    use std::time::{Duration, Instant};

    /// A gateway that never comes to be: its `Weak` is what the exporters hold while the gateway is still being
    /// built.
    struct Unborn;

    impl super::Outlet for Unborn {
        fn collector(&self, _: &str, _: Duration) -> Result<Arc<crate::upstream::Endpoint>, String> {
            Err("no gateway".into())
        }
        fn tls(&self) -> &tokio_rustls::TlsConnector {
            unreachable!("a Weak that was never alive is never upgraded")
        }
        fn metrics(&self) -> &crate::metrics::Metrics {
            unreachable!("a Weak that was never alive is never upgraded")
        }
    }

    /// The exporters run for as long as their outbox does, whether or not their gateway has finished being built
    /// (it starts them from inside `Arc::new_cyclic`); they stop once the outbox is dropped.
    #[test]
    fn exporters_outlive_the_gateways_construction_and_stop_with_their_outbox() {
        let dir = std::env::temp_dir().join(format!("apim-export-unit-{}", std::process::id()));
        let file = dir.join("apim_metrics.log");
        let settings = super::Settings {
            elk: Some(apim_config::ElkLog { file: file.clone(), max_bytes: 1 << 20, max_files: 1 }),
            otlp: None,
            node: "unit".into(),
            yield_cpu: true,
        };
        let exports = super::Exports::start(settings, Weak::<Unborn>::new()).expect("the exporters' thread starts");
        // Past the first ticks, as a slow constructor would be.
        std::thread::sleep(Duration::from_millis(350));
        // It runs on the time requests leave: SCHED_IDLE is policy 5 (`/proc/<tid>/stat`'s 41st field).
        let policies: Vec<String> = std::fs::read_dir("/proc/self/task")
            .expect("the process's threads")
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("stat")).ok())
            .filter(|stat| stat.contains("(apim-export)"))
            .filter_map(|stat| stat.rsplit_once(") ").and_then(|(_, rest)| rest.split(' ').nth(38).map(str::to_string)))
            .collect();
        assert!(!policies.is_empty() && policies.iter().all(|p| p == "5"), "the exporters' threads' policies: {policies:?}");
        // A gateway starts its tasks on the runtime it is made in.
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        let _in_runtime = rt.enter();
        let shop = crate::harness::Harness::new(crate::harness::shop_state());
        let api = shop.gw.snapshot.load().router.api_by_id("api-1").expect("the shop API").clone();
        let event = super::RequestEvent {
            started_unix_us: 1_700_000_000_000_000,
            api: &api,
            resource: Some("/orders"),
            application: Some(super::AppNames { id: "app-1", name: "App", owner: "alice" }),
            key_type: crate::snapshot::KeyType::Production,
            user: None,
            client_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            user_agent: Some("curl/8"),
            method: "GET",
            path: "/shop/1.0.0/orders",
            status: 200,
            target_status: Some(200),
            destination: None,
            latency_us: 1500,
            upstream_from_us: None,
            backend_us: None,
            fault: None,
            trace: None,
        };
        exports.send(&event);
        let deadline = Instant::now() + Duration::from_secs(10);
        let written = loop {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            if !text.is_empty() {
                break text;
            }
            assert!(Instant::now() < deadline, "the exporters stopped before their gateway was built");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(written.lines().count(), 1, "{written}");
        assert!(written.contains("apimMetrics: apim:response") && written.contains("\"apiResourceTemplate\":\"/orders\""), "{written}");
        assert!(written.contains("\"applicationOwner\":\"alice\"") && written.contains("\"userAgent\":\"curl/8\""), "{written}");
        // A worker that fills its outbox to half hurries the thread to a normal share (or, without the privilege,
        // learns it cannot); the thread may take the outbox between, so it is filled until that happens.
        let deadline = Instant::now() + Duration::from_secs(20);
        while exports.dropped.catch_ups.load(std::sync::atomic::Ordering::Relaxed) == 0 && exports.pace.share() != super::Share::SpareOnly {
            assert!(Instant::now() < deadline, "half-full outboxes never hurried the exporters");
            for _ in 0..super::MAX_EVENTS / 2 {
                exports.send(&event);
            }
        }
        let outbox = Arc::downgrade(&exports.outbox);
        drop(exports);
        let deadline = Instant::now() + Duration::from_secs(10);
        while outbox.strong_count() > 0 {
            assert!(Instant::now() < deadline, "the exporters' thread kept its outbox after the gateway dropped it");
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Behind (an outbox over half full) it asks for a normal share, and gives it back once under an eighth; a
    /// configured or refused share does not move.
    #[test]
    fn the_exporters_share_follows_their_backlog() {
        use super::Share::*;
        assert_eq!(Spare.next(500), Spare);
        assert_eq!(Spare.next(501), CatchingUp);
        assert_eq!(CatchingUp.next(125), CatchingUp);
        assert_eq!(CatchingUp.next(124), Spare);
        for fixed in [Normal, SpareOnly] {
            assert_eq!(fixed.next(1000), fixed);
            assert_eq!(fixed.next(0), fixed);
        }
    }

    /// Chunks are an export request's worth; a small one takes the next spans; beyond the bound spans are refused
    /// and counted, and sending makes room again.
    #[test]
    fn pending_spans_are_bounded_and_sent_a_chunk_at_a_time() {
        let mut pending = super::Pending::default();
        let trace = vec![7u8; 1000];
        let mut spans = trace.repeat(300);
        assert_eq!(pending.add(&mut spans, 300), 0);
        assert!(spans.is_empty(), "taken");
        assert!(pending.due(false).is_none(), "300 traces wait for more, or for their time");
        let mut spans = trace.repeat(200);
        assert_eq!(pending.add(&mut spans, 200), 0);
        assert_eq!(pending.chunks.iter().map(|c| c.traces).collect::<Vec<_>>(), [500], "a chunk takes what fits in a request");
        let mut spans = trace.repeat(8000);
        assert_eq!(pending.add(&mut spans, 8000), 0);
        assert_eq!(pending.chunks.iter().map(|c| c.traces).collect::<Vec<_>>(), [500, 8000], "and no more");
        // Up to the bound, then refused whole.
        let mut refused = 0;
        for _ in 0..60 {
            let mut spans = trace.repeat(512);
            refused += pending.add(&mut spans, 512);
        }
        assert!(pending.bytes <= super::MAX_PENDING, "{} bytes wait", pending.bytes);
        assert_eq!(pending.bytes, pending.chunks.iter().map(|c| c.spans.len()).sum::<usize>());
        assert!(refused > 0 && refused % 512 == 0, "{refused}");
        let waiting: u64 = pending.chunks.iter().map(|c| c.traces).sum();
        assert_eq!(waiting + refused, 8500 + 60 * 512, "every trace waits or is counted");
        // The oldest is neither full nor old, and chunks go in order: nothing is due until the exporters close.
        assert!(pending.due(false).is_none());
        let first = pending.due(true).expect("due when closing");
        assert_eq!(first.traces, 500);
        pending.recycle(first.spans);
        assert_eq!(pending.due(false).map(|c| c.traces), Some(8000), "a full one is due");
        let mut spans = trace.repeat(512);
        assert_eq!(pending.add(&mut spans, 512), 0, "room again");
    }

    #[test]
    fn addresses_as_text() {
        let mut buf = [0u8; 45];
        for ip in [
            IpAddr::V4(Ipv4Addr::new(0, 0, 0, 0)),
            IpAddr::V4(Ipv4Addr::new(127, 0, 10, 1)),
            IpAddr::V4(Ipv4Addr::new(255, 199, 100, 9)),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::new(0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff)),
        ] {
            assert_eq!(super::ip_text(ip, &mut buf), ip.to_string());
        }
    }
}
