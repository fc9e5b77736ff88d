//! OpenTelemetry over OTLP/HTTP with the JSON encoding (`POST {endpoint}/v1/traces` and `/v1/metrics`, as
//! the OpenTelemetry Collector, Jaeger, Tempo and others take it): a server span per sampled request with child
//! spans for authentication, throttling and the backend call, and the gateway's counters as OTLP metrics.

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

/// Sampled requests' spans waiting to be sent.
#[derive(Default)]
pub struct Pending {
    spans: Vec<Value>,
    traces: usize,
    since: Option<Instant>,
}

impl Pending {
    pub fn traces(&self) -> usize {
        self.traces
    }

    pub fn due(&self) -> bool {
        self.traces >= FLUSH_TRACES || self.since.is_some_and(|t| t.elapsed() >= Duration::from_secs(1))
    }

    pub fn add(&mut self, e: &RequestEvent) {
        self.since.get_or_insert_with(Instant::now);
        self.traces += 1;
        self.spans.extend(spans(e));
    }

    pub fn take(&mut self) -> Vec<Value> {
        self.traces = 0;
        self.since = None;
        std::mem::take(&mut self.spans)
    }
}

fn attr(key: &str, value: impl Into<AttrValue>) -> Value {
    let value = match value.into() {
        AttrValue::Str(s) => json!({"stringValue": s}),
        AttrValue::Int(i) => json!({"intValue": i.to_string()}),
    };
    json!({"key": key, "value": value})
}

enum AttrValue {
    Str(String),
    Int(i64),
}

impl From<&str> for AttrValue {
    fn from(s: &str) -> AttrValue {
        AttrValue::Str(s.to_string())
    }
}

impl From<String> for AttrValue {
    fn from(s: String) -> AttrValue {
        AttrValue::Str(s)
    }
}

impl From<u16> for AttrValue {
    fn from(n: u16) -> AttrValue {
        AttrValue::Int(i64::from(n))
    }
}

impl From<u32> for AttrValue {
    fn from(n: u32) -> AttrValue {
        AttrValue::Int(i64::from(n))
    }
}

/// One span as OTLP JSON: ids in hex, times as decimal strings of nanoseconds.
struct SpanOut<'a> {
    trace: &'a str,
    id: [u8; 8],
    parent: Option<[u8; 8]>,
    name: String,
    kind: u8,
    start_us: u64,
    end_us: u64,
    attributes: Vec<Value>,
    error: Option<String>,
}

impl SpanOut<'_> {
    fn json(self) -> Value {
        let mut span = json!({
            "traceId": self.trace,
            "spanId": hex(&self.id),
            "name": self.name,
            "kind": self.kind,
            "startTimeUnixNano": (u128::from(self.start_us) * 1000).to_string(),
            "endTimeUnixNano": (u128::from(self.end_us.max(self.start_us)) * 1000).to_string(),
            "attributes": self.attributes,
        });
        if let Some(p) = self.parent {
            span["parentSpanId"] = json!(hex(&p));
        }
        if let Some(message) = self.error {
            span["status"] = json!({"code": STATUS_ERROR, "message": message});
        }
        span
    }
}

/// The server span and its children for one sampled request.
fn spans(e: &RequestEvent) -> Vec<Value> {
    let Some(t) = &e.trace else { return Vec::new() };
    let trace = hex(&t.ids.trace);
    let api = &*e.api;
    let resource = e.resource.and_then(|i| api.resources.get(i));
    let route = format!("{}{}", api.context_version, resource.map_or("", |r| r.target.as_str()));
    let start = e.started_unix_us;
    let mut attributes = vec![
        attr("http.request.method", e.method.as_str()),
        attr("url.path", e.uri.path()),
        attr("http.route", route.as_str()),
        attr("http.response.status_code", e.status),
        attr("client.address", e.client_ip.to_string()),
        attr("apim.api.id", api.id.as_str()),
        attr("apim.api.name", api.name.as_str()),
        attr("apim.api.version", api.version.as_str()),
        attr("apim.key_type", e.key_type.as_str()),
    ];
    if let Some(ua) = e.user_agent.as_ref().and_then(|v| v.to_str().ok()) {
        attributes.push(attr("user_agent.original", ua));
    }
    if let Some(a) = &e.application {
        attributes.push(attr("apim.application.id", a.id.as_str()));
        attributes.push(attr("apim.application.name", a.name.as_str()));
    }
    if let Some(f) = &e.fault {
        attributes.push(attr("apim.error.code", f.code));
        attributes.push(attr("apim.error.type", f.error_type));
    }
    let server_error =
        (e.status >= 500 || e.fault.is_some()).then(|| e.fault.map_or_else(|| format!("status {}", e.status), |f| f.detail.to_string()));
    let mut out = vec![
        SpanOut {
            trace: &trace,
            id: t.ids.server,
            parent: t.ids.parent,
            name: format!("{} {route}", e.method),
            kind: KIND_SERVER,
            start_us: start,
            end_us: start + e.latency_us,
            attributes,
            error: server_error,
        }
        .json(),
    ];
    let child = |id: [u8; 8], name: &str, kind: u8, (from, to): (u64, u64), attributes: Vec<Value>, error: Option<String>| {
        SpanOut {
            trace: &trace,
            id,
            parent: Some(t.ids.server),
            name: name.into(),
            kind,
            start_us: start + from,
            end_us: start + to,
            attributes,
            error,
        }
        .json()
    };
    let refused = |kind: &str| e.fault.filter(|f| f.error_type == kind).map(|f| f.detail.to_string());
    if let Some(phase) = t.auth {
        out.push(child(t.ids.auth, "authenticate", KIND_INTERNAL, phase, Vec::new(), refused("AUTH")));
    }
    if let Some(phase) = t.throttle {
        out.push(child(t.ids.throttle, "throttle", KIND_INTERNAL, phase, Vec::new(), refused("THROTTLED")));
    }
    if let Some(from) = e.upstream_from_us {
        let to = e.backend_us.map_or(e.latency_us, |b| from + b);
        let mut attributes = vec![attr("http.request.method", e.method.as_str())];
        if let Some(d) = &e.destination {
            attributes.push(attr("server.address", &**d));
        }
        if let Some(s) = e.target_status {
            attributes.push(attr("http.response.status_code", s));
        }
        let error = match e.target_status {
            Some(s) if s >= 500 => Some(format!("status {s}")),
            Some(_) => None,
            None => Some(refused("TARGET_CONNECTIVITY").unwrap_or_else(|| "no answer".into())),
        };
        out.push(child(t.ids.upstream, &format!("{} upstream", e.method), KIND_CLIENT, (from, to), attributes, error));
    }
    out
}

fn resource(service_name: &str, node: &str) -> Value {
    json!({"attributes": [
        attr("service.name", service_name),
        attr("service.version", env!("CARGO_PKG_VERSION")),
        attr("service.instance.id", node),
    ]})
}

fn scope() -> Value {
    json!({"name": "apim-gateway", "version": env!("CARGO_PKG_VERSION")})
}

pub async fn send_traces(gw: &dyn Outlet, o: &apim_config::Otlp, node: &str, spans: Vec<Value>) -> Result<(), String> {
    let doc = json!({"resourceSpans": [{"resource": resource(&o.service_name, node), "scopeSpans": [{"scope": scope(), "spans": spans}]}]});
    post(gw, &o.endpoint, "/v1/traces", doc).await
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
        if let Err(e) = post(&*gw, &o.endpoint, "/v1/metrics", doc).await
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
async fn post(gw: &dyn Outlet, base: &str, path: &str, doc: Value) -> Result<(), String> {
    let endpoint = gw.collector(base, TIMEOUT)?;
    let uri = endpoint.uri_for(path, None).map_err(|e| format!("{base}{path}: {e}"))?;
    let mut req = Request::new(crate::reply::body(Bytes::from(doc.to_string())));
    *req.method_mut() = Method::POST;
    *req.uri_mut() = uri;
    req.headers_mut().insert(header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    if let Some(v) = endpoint.host_header() {
        req.headers_mut().insert(header::HOST, v.clone());
    }
    let resp = endpoint.send(gw.tls(), req, Instant::now()).await.map_err(|e| format!("{base}{path}: {e}"))?;
    let status = resp.status();
    // Read to the end so the connection goes back to the pool.
    let _ = tokio::time::timeout(TIMEOUT, resp.into_body().collect()).await;
    if status.is_success() { Ok(()) } else { Err(format!("{base}{path} answered {status}")) }
}
