//! The exporters a team switches on (`[apim.analytics] type = "elk"`, `[apim.analytics.otlp]`): each request's
//! event is encoded where it was answered (WSO2's `apim_metrics.log` line, OpenTelemetry spans), into a scratch
//! buffer of the thread's, and appended to a bounded outbox; one thread of the exporters' own takes the outbox's
//! bytes every [`TICK`], writes the log and sends the spans. Encoding where the request's data is at hand costs
//! less than handing an owned event to another thread: no copies of its strings, no frees across threads, and
//! the exporters' thread, which competes for the same cores, has little left to do. A full outbox, a full disk or
//! an unreachable collector drops events and counts them (`apim_gateway_export_dropped_total`); a request never
//! waits for an exporter.

pub mod elk;
pub mod otlp;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use crate::snapshot::{Api, Application, KeyType, Resource};
use crate::trace::TraceIds;

/// Log lines waiting for the exporters' thread, in bytes (about 18,000 lines); beyond, they are dropped and
/// counted.
const MAX_LINES: usize = 16 << 20;

/// Encoded spans waiting to be taken, and the most one export request carries, in bytes (about 13,000 traces:
/// under the OpenTelemetry Collector's and Jaeger's request limits).
const MAX_CHUNK: usize = 8 << 20;

/// Export requests' worth of spans waiting for the collector; beyond, they are dropped and counted.
const MAX_PENDING_CHUNKS: usize = 3;

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
}

impl Settings {
    pub fn from_deployment(d: &apim_config::DeploymentConfig) -> Settings {
        Settings { elk: d.analytics.elk_log.clone(), otlp: d.analytics.otlp.clone(), node: d.server.hostname.clone() }
    }

    pub fn any(&self) -> bool {
        self.elk.is_some() || self.otlp.is_some()
    }
}

/// One request answered for an API, borrowed from the request path while the exporters encode it.
pub struct RequestEvent<'a> {
    /// When it arrived (Unix microseconds).
    pub started_unix_us: u64,
    pub api: &'a Api,
    pub resource: Option<&'a Resource>,
    pub application: Option<&'a Application>,
    pub key_type: KeyType,
    /// The token's subject, for a user's token.
    pub user: Option<&'a str>,
    pub client_ip: IpAddr,
    pub user_agent: Option<&'a http::HeaderValue>,
    pub method: &'a http::Method,
    pub uri: &'a http::Uri,
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
}

/// Encoded events waiting for the exporters' thread.
#[derive(Default)]
struct Outbox {
    /// ELK lines, each ending with a newline, and how many.
    lines: Vec<u8>,
    line_count: u64,
    /// Spans in the encoder's framing (see [`otlp::encode`]), and how many traces they hold.
    spans: Vec<u8>,
    traces: u64,
}

/// A thread's buffers for encoding one event before the outbox's lock is taken.
#[derive(Default)]
struct Scratch {
    line: Vec<u8>,
    spans: Vec<u8>,
    span: Vec<u8>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::default();
}

/// The request path's side: the outbox and what it needs to decide per request.
pub struct Exports {
    outbox: Arc<Mutex<Outbox>>,
    /// `Some(ratio)` when traces are exported.
    pub sampling: Option<f64>,
    /// Spans in OTLP's JSON rather than protobuf.
    json: bool,
    elk: bool,
    pub dropped: Arc<Dropped>,
}

impl Exports {
    /// The outbox, and a thread of its own for the exporters (with its own single-threaded runtime): writing the
    /// log and posting spans never takes a turn from the request path's runtime. `None` if the thread cannot
    /// start (the caller runs without exporters and says so).
    pub fn start(settings: Settings, gateway: Weak<dyn Outlet>) -> Option<Exports> {
        let outbox = Arc::new(Mutex::new(Outbox::default()));
        let taken = outbox.clone();
        let dropped = Arc::new(Dropped::default());
        let exports = Exports {
            outbox,
            sampling: settings.otlp.as_ref().map(|o| o.sampling_ratio),
            json: settings.otlp.as_ref().is_some_and(|o| o.json),
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

    /// Whether a request with this trace has anything to export: always with the ELK log, else when sampled.
    pub fn wants(&self, trace: Option<&TraceIds>) -> bool {
        self.elk || (self.sampling.is_some() && trace.is_some_and(|t| t.sampled))
    }

    /// Encodes the event for each exporter that is on and queues it; never waits (a full outbox drops the
    /// event, counted against the exporter it was for).
    pub fn send(&self, event: &RequestEvent<'_>) {
        let traced = self.sampling.is_some() && event.trace.as_ref().is_some_and(|t| t.ids.sampled);
        if !self.elk && !traced {
            return;
        }
        SCRATCH.with_borrow_mut(|s| {
            s.line.clear();
            s.spans.clear();
            if self.elk {
                elk::line(event, &mut s.line);
            }
            if traced {
                otlp::encode(event, self.json, &mut s.spans, &mut s.span);
            }
            let mut outbox = self.outbox.lock().unwrap_or_else(PoisonError::into_inner);
            let Outbox { lines, line_count, spans, traces } = &mut *outbox;
            append((lines, line_count), &s.line, MAX_LINES, &self.dropped.elk);
            append((spans, traces), &s.spans, MAX_CHUNK, &self.dropped.otlp);
        });
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

/// One event's encoded bytes onto an outbox buffer and its count, or counted as dropped when they would take it
/// past `max`; nothing for an exporter the event was not encoded for.
fn append((buffer, count): (&mut Vec<u8>, &mut u64), bytes: &[u8], max: usize, dropped: &AtomicU64) {
    if bytes.is_empty() {
        return;
    }
    if buffer.len() + bytes.len() <= max {
        buffer.extend_from_slice(bytes);
        *count += 1;
    } else {
        dropped.fetch_add(1, Relaxed);
    }
}

/// Spans taken from the outbox and not yet sent: export requests' worth, oldest first.
struct Chunk {
    spans: Vec<u8>,
    traces: u64,
    since: Instant,
}

/// The exporters' loop: every [`TICK`] it takes what the outbox holds, writes the log lines, and sends spans at
/// most [`FLUSH_AFTER`] after they were queued; it ends, after a last round, once its gateway is gone (with the
/// `Exports` that shares the outbox).
async fn run(outbox: Arc<Mutex<Outbox>>, settings: Settings, gateway: Weak<dyn Outlet>, dropped: Arc<Dropped>) {
    let mut log = settings.elk.clone().map(elk::LogFile::new);
    let json = settings.otlp.as_ref().is_some_and(|o| o.json);
    let mut taken = Outbox::default();
    let mut pending: VecDeque<Chunk> = VecDeque::new();
    // Sent chunks' buffers, for the next ones; and the export request's.
    let mut spare: Vec<Vec<u8>> = Vec::new();
    let mut request = Vec::new();
    let mut collector = otlp::Collector::default();
    let mut warned = elk::Warned::default();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        // Closed once the request path's side is dropped. Not `gateway.strong_count() == 0`: the gateway starts this
        // thread from inside `Arc::new_cyclic`, when its count is still 0, and a first tick that came before the
        // constructor returned ended the exporters for the node's whole life.
        let closed = Arc::strong_count(&outbox) == 1;
        // The emptied buffers go back, so neither side allocates once both have grown.
        std::mem::swap(&mut taken, &mut *outbox.lock().unwrap_or_else(PoisonError::into_inner));
        // The exporters' own thread: the file is written in place.
        if let Some(file) = log.as_mut()
            && taken.line_count > 0
            && let Err(e) = file.write(&taken.lines)
        {
            dropped.elk.fetch_add(taken.line_count, Relaxed);
            warned.warn(&e);
        }
        taken.lines.clear();
        taken.line_count = 0;
        if let Some(o) = &settings.otlp {
            if taken.traces > 0 {
                let full = pending.len() >= MAX_PENDING_CHUNKS;
                match pending.back_mut() {
                    // A small chunk takes more, so that a quiet gateway sends few requests.
                    Some(last) if last.traces < FLUSH_TRACES as u64 && last.spans.len() + taken.spans.len() <= MAX_CHUNK => {
                        last.spans.extend_from_slice(&taken.spans);
                        last.traces += taken.traces;
                    }
                    _ if full => {
                        dropped.otlp.fetch_add(taken.traces, Relaxed);
                    }
                    _ => {
                        let spans = std::mem::replace(&mut taken.spans, spare.pop().unwrap_or_default());
                        pending.push_back(Chunk { spans, traces: taken.traces, since: Instant::now() });
                    }
                }
            }
            taken.spans.clear();
            taken.traces = 0;
            while let Some(chunk) = pending.front()
                && (chunk.traces >= FLUSH_TRACES as u64 || chunk.since.elapsed() >= FLUSH_AFTER || closed)
            {
                let Some(gw) = gateway.upgrade() else { return };
                let Some(chunk) = pending.pop_front() else { break };
                if let Err(e) = otlp::send_traces(&*gw, &mut collector, o, &settings.node, json, &chunk.spans, &mut request).await {
                    dropped.otlp.fetch_add(chunk.traces, Relaxed);
                    warned.warn_otlp(&e);
                }
                let mut buffer = chunk.spans;
                buffer.clear();
                spare.push(buffer);
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
    use std::sync::{Arc, PoisonError, Weak};
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
        };
        let exports = super::Exports::start(settings, Weak::<Unborn>::new()).expect("the exporters' thread starts");
        // Past the first ticks, as a slow constructor would be.
        std::thread::sleep(Duration::from_millis(350));
        {
            let mut outbox = exports.outbox.lock().unwrap_or_else(PoisonError::into_inner);
            outbox.lines.extend_from_slice(b"one line\n");
            outbox.line_count += 1;
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::fs::read_to_string(&file).unwrap_or_default() != "one line\n" {
            assert!(Instant::now() < deadline, "the exporters stopped before their gateway was built");
            std::thread::sleep(Duration::from_millis(20));
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
