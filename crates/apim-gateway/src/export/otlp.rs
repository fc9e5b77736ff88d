//! OpenTelemetry over OTLP/HTTP (`POST {endpoint}/v1/traces` and `/v1/metrics`, as the OpenTelemetry Collector,
//! Jaeger, Tempo and others take it): a server span per sampled request with child spans for authentication,
//! throttling and the backend call, in protobuf (OTLP's default, about half JSON's bytes) or JSON; and the
//! gateway's counters as OTLP metrics (JSON).

use std::fmt::Write;
use std::sync::Weak;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Method, Request, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};

use super::Outlet;
use super::RequestEvent;
use crate::trace::hex;

/// A collector gets this long to answer.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Spans are sent when this many traces wait, or when the oldest has waited a second.
const FLUSH_TRACES: usize = 512;

/// Span kinds and status codes of OTLP's trace.proto.
const KIND_INTERNAL: u8 = 1;
const KIND_SERVER: u8 = 2;
const KIND_CLIENT: u8 = 3;
const STATUS_ERROR: u8 = 2;

/// Sampled requests' spans waiting to be sent, already encoded (written by hand into one buffer, not built as
/// values): protobuf `Span` fields of a `ScopeSpans`, or JSON span objects separated by commas.
pub struct Pending {
    encoder: Encoder,
    traces: usize,
    since: Option<Instant>,
}

impl Pending {
    pub fn new(json: bool) -> Pending {
        let encoder = if json { Encoder::Json(Json::default()) } else { Encoder::Proto(Proto::default()) };
        Pending { encoder, traces: 0, since: None }
    }

    pub fn traces(&self) -> usize {
        self.traces
    }

    pub fn due(&self) -> bool {
        self.traces >= FLUSH_TRACES || self.since.is_some_and(|t| t.elapsed() >= Duration::from_secs(1))
    }

    pub fn add(&mut self, e: &RequestEvent) {
        self.since.get_or_insert_with(Instant::now);
        self.traces += 1;
        match &mut self.encoder {
            Encoder::Json(j) => spans(e, j),
            Encoder::Proto(p) => spans(e, p),
        }
    }

    /// The export request's body and its content type.
    fn take(&mut self, resource: &[(&str, &str)]) -> (Vec<u8>, &'static str) {
        self.traces = 0;
        self.since = None;
        match &mut self.encoder {
            Encoder::Json(j) => (j.request(resource).into_bytes(), "application/json"),
            Encoder::Proto(p) => (p.request(resource), "application/x-protobuf"),
        }
    }
}

enum Encoder {
    Json(Json),
    Proto(Proto),
}

/// Writes spans in one encoding: a span's head, its attributes, its end.
trait Spans {
    #[allow(clippy::too_many_arguments)]
    fn begin(&mut self, trace: &[u8; 16], id: [u8; 8], parent: Option<[u8; 8]>, name: &str, kind: u8, start_us: u64, end_us: u64);
    fn str(&mut self, key: &str, value: &str);
    fn int(&mut self, key: &str, value: u64);
    fn end(&mut self, error: Option<&str>);
}

/// OTLP's JSON encoding: ids in hex, 64-bit integers as decimal strings.
#[derive(Default)]
struct Json {
    spans: String,
    first_attribute: bool,
}

/// `s` as a JSON string.
fn push_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

impl Json {
    fn key(&mut self, key: &str) {
        if !std::mem::replace(&mut self.first_attribute, false) {
            self.spans.push(',');
        }
        self.spans.push_str("{\"key\":");
        push_str(&mut self.spans, key);
        self.spans.push_str(",\"value\":");
    }

    fn request(&mut self, resource: &[(&str, &str)]) -> String {
        let mut out = String::from("{\"resourceSpans\":[{\"resource\":{\"attributes\":[");
        for (i, (k, v)) in resource.iter().enumerate() {
            out.push_str(if i == 0 { "{\"key\":" } else { ",{\"key\":" });
            push_str(&mut out, k);
            out.push_str(",\"value\":{\"stringValue\":");
            push_str(&mut out, v);
            out.push_str("}}");
        }
        let _ = write!(
            out,
            "]}},\"scopeSpans\":[{{\"scope\":{{\"name\":\"apim-gateway\",\"version\":\"{}\"}},\"spans\":[",
            env!("CARGO_PKG_VERSION")
        );
        out.push_str(&self.spans);
        out.push_str("]}]}]}");
        self.spans.clear();
        out
    }
}

impl Spans for Json {
    fn begin(&mut self, trace: &[u8; 16], id: [u8; 8], parent: Option<[u8; 8]>, name: &str, kind: u8, start_us: u64, end_us: u64) {
        let out = &mut self.spans;
        if !out.is_empty() {
            out.push(',');
        }
        let _ = write!(out, "{{\"traceId\":\"{}\",\"spanId\":\"{}\",", hex(trace), hex(&id));
        if let Some(p) = parent {
            let _ = write!(out, "\"parentSpanId\":\"{}\",", hex(&p));
        }
        out.push_str("\"name\":");
        push_str(out, name);
        let _ = write!(
            out,
            ",\"kind\":{kind},\"startTimeUnixNano\":\"{}\",\"endTimeUnixNano\":\"{}\",\"attributes\":[",
            u128::from(start_us) * 1000,
            u128::from(end_us.max(start_us)) * 1000
        );
        self.first_attribute = true;
    }

    fn str(&mut self, key: &str, value: &str) {
        self.key(key);
        self.spans.push_str("{\"stringValue\":");
        push_str(&mut self.spans, value);
        self.spans.push_str("}}");
    }

    fn int(&mut self, key: &str, value: u64) {
        self.key(key);
        let _ = write!(self.spans, "{{\"intValue\":\"{value}\"}}}}");
    }

    fn end(&mut self, error: Option<&str>) {
        self.spans.push(']');
        if let Some(message) = error {
            let _ = write!(self.spans, ",\"status\":{{\"code\":{STATUS_ERROR},\"message\":");
            push_str(&mut self.spans, message);
            self.spans.push('}');
        }
        self.spans.push('}');
    }
}

/// OTLP's protobuf encoding (`opentelemetry/proto/trace/v1/trace.proto`), by hand: the few fields written here
/// need no generated code. `spans` holds `ScopeSpans.spans` entries (field 2); `span` the span being written.
#[derive(Default)]
struct Proto {
    spans: Vec<u8>,
    span: Vec<u8>,
}

/// Protobuf wire types.
const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;

fn varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn varint_len(n: u64) -> usize {
    (64 - n.max(1).leading_zeros() as usize).div_ceil(7)
}

fn tag(out: &mut Vec<u8>, field: u32, wire: u8) {
    varint(out, u64::from(field << 3 | u32::from(wire)));
}

fn bytes_field(out: &mut Vec<u8>, field: u32, b: &[u8]) {
    tag(out, field, LEN);
    varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// The length of a `bytes`/`string`/message field whose content is `n` bytes (tag of one byte).
fn field_len(n: usize) -> usize {
    1 + varint_len(n as u64) + n
}

/// `KeyValue { key = 1; AnyValue value = 2 }` as `field` of the enclosing message, with `AnyValue`'s
/// `string_value` (1) or `int_value` (3).
fn key_value(out: &mut Vec<u8>, field: u32, key: &str, value: Result<&str, u64>) {
    let any = match value {
        Ok(s) => field_len(s.len()),
        Err(i) => 1 + varint_len(i),
    };
    let kv = field_len(key.len()) + field_len(any);
    tag(out, field, LEN);
    varint(out, kv as u64);
    bytes_field(out, 1, key.as_bytes());
    tag(out, 2, LEN);
    varint(out, any as u64);
    match value {
        Ok(s) => bytes_field(out, 1, s.as_bytes()),
        Err(i) => {
            tag(out, 3, VARINT);
            varint(out, i);
        }
    }
}

impl Proto {
    fn request(&mut self, resource: &[(&str, &str)]) -> Vec<u8> {
        let mut res = Vec::new();
        for (k, v) in resource {
            key_value(&mut res, 1, k, Ok(v));
        }
        let mut scope = Vec::new();
        bytes_field(&mut scope, 1, b"apim-gateway");
        bytes_field(&mut scope, 2, env!("CARGO_PKG_VERSION").as_bytes());
        // ScopeSpans { scope = 1; spans = 2 }
        let mut scope_spans = Vec::with_capacity(self.spans.len() + scope.len() + 8);
        bytes_field(&mut scope_spans, 1, &scope);
        scope_spans.extend_from_slice(&self.spans);
        // ResourceSpans { resource = 1; scope_spans = 2 }
        let mut resource_spans = Vec::with_capacity(scope_spans.len() + res.len() + 16);
        bytes_field(&mut resource_spans, 1, &res);
        bytes_field(&mut resource_spans, 2, &scope_spans);
        // ExportTraceServiceRequest { resource_spans = 1 }
        let mut out = Vec::with_capacity(resource_spans.len() + 8);
        bytes_field(&mut out, 1, &resource_spans);
        self.spans.clear();
        out
    }
}

impl Spans for Proto {
    fn begin(&mut self, trace: &[u8; 16], id: [u8; 8], parent: Option<[u8; 8]>, name: &str, kind: u8, start_us: u64, end_us: u64) {
        let s = &mut self.span;
        s.clear();
        bytes_field(s, 1, trace);
        bytes_field(s, 2, &id);
        if let Some(p) = parent {
            bytes_field(s, 4, &p);
        }
        bytes_field(s, 5, name.as_bytes());
        tag(s, 6, VARINT);
        varint(s, u64::from(kind));
        tag(s, 7, FIXED64);
        s.extend_from_slice(&(start_us * 1000).to_le_bytes());
        tag(s, 8, FIXED64);
        s.extend_from_slice(&(end_us.max(start_us) * 1000).to_le_bytes());
    }

    fn str(&mut self, key: &str, value: &str) {
        key_value(&mut self.span, 9, key, Ok(value));
    }

    fn int(&mut self, key: &str, value: u64) {
        key_value(&mut self.span, 9, key, Err(value));
    }

    fn end(&mut self, error: Option<&str>) {
        if let Some(message) = error {
            // Status { message = 2; code = 3 }
            let len = field_len(message.len()) + 2;
            tag(&mut self.span, 15, LEN);
            varint(&mut self.span, len as u64);
            bytes_field(&mut self.span, 2, message.as_bytes());
            tag(&mut self.span, 3, VARINT);
            varint(&mut self.span, u64::from(STATUS_ERROR));
        }
        let span = std::mem::take(&mut self.span);
        bytes_field(&mut self.spans, 2, &span);
        self.span = span;
    }
}

/// The server span and its children for one sampled request.
fn spans(e: &RequestEvent, out: &mut impl Spans) {
    let Some(t) = &e.trace else { return };
    let trace = &t.ids.trace;
    let api = &*e.api;
    let resource = e.resource.and_then(|i| api.resources.get(i));
    let route = format!("{}{}", api.context_version, resource.map_or("", |r| r.target.as_str()));
    let start = e.started_unix_us;
    let status_text;
    let server_error = if let Some(f) = &e.fault {
        Some(f.detail)
    } else if e.status >= 500 {
        status_text = format!("status {}", e.status);
        Some(status_text.as_str())
    } else {
        None
    };
    let name = format!("{} {route}", e.method);
    out.begin(trace, t.ids.server, t.ids.parent, &name, KIND_SERVER, start, start + e.latency_us);
    out.str("http.request.method", e.method.as_str());
    out.str("url.path", e.uri.path());
    out.str("http.route", &route);
    out.int("http.response.status_code", u64::from(e.status));
    let mut ip = [0u8; 45];
    out.str("client.address", ip_text(e.client_ip, &mut ip));
    out.str("apim.api.id", &api.id);
    out.str("apim.api.name", &api.name);
    out.str("apim.api.version", &api.version);
    out.str("apim.key_type", e.key_type.as_str());
    if let Some(ua) = e.user_agent.as_ref().and_then(|v| v.to_str().ok()) {
        out.str("user_agent.original", ua);
    }
    if let Some(app) = &e.application {
        out.str("apim.application.id", &app.id);
        out.str("apim.application.name", &app.name);
    }
    if let Some(f) = &e.fault {
        out.int("apim.error.code", u64::from(f.code));
        out.str("apim.error.type", f.error_type);
    }
    out.end(server_error);
    let refused = |kind: &str| e.fault.filter(|f| f.error_type == kind).map(|f| f.detail);
    if let Some((from, to)) = t.auth {
        out.begin(trace, t.ids.auth, Some(t.ids.server), "authenticate", KIND_INTERNAL, start + from, start + to);
        out.end(refused("AUTH"));
    }
    if let Some((from, to)) = t.throttle {
        out.begin(trace, t.ids.throttle, Some(t.ids.server), "throttle", KIND_INTERNAL, start + from, start + to);
        out.end(refused("THROTTLED"));
    }
    if let Some(from) = e.upstream_from_us {
        let to = e.backend_us.map_or(e.latency_us, |b| from + b);
        let status_text;
        let error = match e.target_status {
            Some(s) if s >= 500 => {
                status_text = format!("status {s}");
                Some(status_text.as_str())
            }
            Some(_) => None,
            None => Some(refused("TARGET_CONNECTIVITY").unwrap_or("no answer")),
        };
        let name = format!("{} upstream", e.method);
        out.begin(trace, t.ids.upstream, Some(t.ids.server), &name, KIND_CLIENT, start + from, start + to);
        out.str("http.request.method", e.method.as_str());
        if let Some(d) = &e.destination {
            out.str("server.address", d);
        }
        if let Some(s) = e.target_status {
            out.int("http.response.status_code", u64::from(s));
        }
        out.end(error);
    }
}

/// An address as text without allocating.
fn ip_text(ip: std::net::IpAddr, buf: &mut [u8; 45]) -> &str {
    let mut cursor = std::io::Cursor::new(&mut buf[..]);
    let _ = std::io::Write::write_fmt(&mut cursor, format_args!("{ip}"));
    let n = cursor.position() as usize;
    std::str::from_utf8(&buf[..n]).unwrap_or("")
}

fn resource(service_name: &str, node: &str) -> Value {
    let attr = |key: &str, value: &str| json!({"key": key, "value": {"stringValue": value}});
    json!({"attributes": [
        attr("service.name", service_name),
        attr("service.version", env!("CARGO_PKG_VERSION")),
        attr("service.instance.id", node),
    ]})
}

fn scope() -> Value {
    json!({"name": "apim-gateway", "version": env!("CARGO_PKG_VERSION")})
}

pub async fn send_traces(gw: &dyn Outlet, o: &apim_config::Otlp, node: &str, pending: &mut Pending) -> Result<(), String> {
    let resource =
        [("service.name", o.service_name.as_str()), ("service.version", env!("CARGO_PKG_VERSION")), ("service.instance.id", node)];
    let (body, content_type) = pending.take(&resource);
    post(gw, &o.endpoint, "/v1/traces", body, content_type).await
}

/// The gateway's counters every `metrics_interval_seconds`, cumulative from the task's start.
pub async fn push_metrics(gateway: Weak<dyn Outlet>, o: apim_config::Otlp, node: String) {
    let start_ns = unix_ns();
    let mut tick = tokio::time::interval(Duration::from_secs(u64::from(o.metrics_interval_secs)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    let mut warned: Option<Instant> = None;
    loop {
        tick.tick().await;
        let Some(gw) = gateway.upgrade() else { return };
        let metrics = gw.metrics().otlp(start_ns, unix_ns());
        let doc = json!({"resourceMetrics": [{"resource": resource(&o.service_name, &node), "scopeMetrics": [{"scope": scope(), "metrics": metrics}]}]});
        if let Err(e) = post(&*gw, &o.endpoint, "/v1/metrics", doc.to_string().into_bytes(), "application/json").await
            && warned.is_none_or(|t| t.elapsed().as_secs() >= 60)
        {
            warned = Some(Instant::now());
            tracing::warn!("the OpenTelemetry collector did not take the gateway's metrics: {e}");
        }
    }
}

fn unix_ns() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}

/// One POST to the collector; anything but a 2xx within [`TIMEOUT`] is a failure, named.
async fn post(gw: &dyn Outlet, base: &str, path: &str, body: Vec<u8>, content_type: &'static str) -> Result<(), String> {
    let endpoint = gw.collector(base, TIMEOUT)?;
    let uri = endpoint.uri_for(path, None).map_err(|e| format!("{base}{path}: {e}"))?;
    let mut req = Request::new(crate::reply::body(Bytes::from(body)));
    *req.method_mut() = Method::POST;
    *req.uri_mut() = uri;
    req.headers_mut().insert(header::CONTENT_TYPE, http::HeaderValue::from_static(content_type));
    if let Some(v) = endpoint.host_header() {
        req.headers_mut().insert(header::HOST, v.clone());
    }
    let resp = endpoint.send(gw.tls(), req, Instant::now()).await.map_err(|e| format!("{base}{path}: {e}"))?;
    let status = resp.status();
    // Read to the end so the connection goes back to the pool.
    let _ = tokio::time::timeout(TIMEOUT, resp.into_body().collect()).await;
    if status.is_success() { Ok(()) } else { Err(format!("{base}{path} answered {status}")) }
}
