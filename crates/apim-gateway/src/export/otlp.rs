//! OpenTelemetry over OTLP/HTTP with the JSON encoding (`POST {endpoint}/v1/traces` and `/v1/metrics`, as
//! the OpenTelemetry Collector, Jaeger, Tempo and others take it): a server span per sampled request with child
//! spans for authentication, throttling and the backend call, and the gateway's counters as OTLP metrics.

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

/// Sampled requests' spans waiting to be sent, already written as OTLP JSON span objects (comma-separated): a
/// request's spans are written by hand into one buffer, not built as JSON values.
#[derive(Default)]
pub struct Pending {
    spans: String,
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
        spans(e, &mut self.spans);
    }

    pub fn take(&mut self) -> String {
        self.traces = 0;
        self.since = None;
        std::mem::take(&mut self.spans)
    }
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

/// Attributes of a span, written as OTLP JSON `KeyValue`s.
struct Attributes<'a>(&'a mut String, bool);

impl Attributes<'_> {
    fn key(&mut self, key: &str) {
        if self.1 {
            self.0.push(',');
        }
        self.1 = true;
        self.0.push_str("{\"key\":\"");
        self.0.push_str(key);
        self.0.push_str("\",\"value\":");
    }

    fn str(&mut self, key: &str, value: &str) {
        self.key(key);
        self.0.push_str("{\"stringValue\":");
        push_str(self.0, value);
        self.0.push_str("}}");
    }

    /// OTLP JSON writes 64-bit integers as strings.
    fn int(&mut self, key: &str, value: u64) {
        self.key(key);
        let _ = write!(self.0, "{{\"intValue\":\"{value}\"}}}}");
    }
}

/// One span object: ids in hex, times as decimal strings of nanoseconds, attributes written by `attributes`.
#[allow(clippy::too_many_arguments)]
fn span(
    out: &mut String,
    trace: &str,
    id: [u8; 8],
    parent: Option<[u8; 8]>,
    name: &str,
    kind: u8,
    (start_us, end_us): (u64, u64),
    error: Option<&str>,
    attributes: impl FnOnce(&mut Attributes<'_>),
) {
    if !out.is_empty() {
        out.push(',');
    }
    let _ = write!(out, "{{\"traceId\":\"{trace}\",\"spanId\":\"{}\",", hex(&id));
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
    attributes(&mut Attributes(out, false));
    out.push(']');
    if let Some(message) = error {
        let _ = write!(out, ",\"status\":{{\"code\":{STATUS_ERROR},\"message\":");
        push_str(out, message);
        out.push('}');
    }
    out.push('}');
}

/// The server span and its children for one sampled request.
fn spans(e: &RequestEvent, out: &mut String) {
    let Some(t) = &e.trace else { return };
    let trace = hex(&t.ids.trace);
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
    span(out, &trace, t.ids.server, t.ids.parent, &name, KIND_SERVER, (start, start + e.latency_us), server_error, |a| {
        a.str("http.request.method", e.method.as_str());
        a.str("url.path", e.uri.path());
        a.str("http.route", &route);
        a.int("http.response.status_code", u64::from(e.status));
        a.str("client.address", &e.client_ip.to_string());
        a.str("apim.api.id", &api.id);
        a.str("apim.api.name", &api.name);
        a.str("apim.api.version", &api.version);
        a.str("apim.key_type", e.key_type.as_str());
        if let Some(ua) = e.user_agent.as_ref().and_then(|v| v.to_str().ok()) {
            a.str("user_agent.original", ua);
        }
        if let Some(app) = &e.application {
            a.str("apim.application.id", &app.id);
            a.str("apim.application.name", &app.name);
        }
        if let Some(f) = &e.fault {
            a.int("apim.error.code", u64::from(f.code));
            a.str("apim.error.type", f.error_type);
        }
    });
    let refused = |kind: &str| e.fault.filter(|f| f.error_type == kind).map(|f| f.detail);
    let phase = |(from, to): (u64, u64)| (start + from, start + to);
    if let Some(p) = t.auth {
        span(out, &trace, t.ids.auth, Some(t.ids.server), "authenticate", KIND_INTERNAL, phase(p), refused("AUTH"), |_| {});
    }
    if let Some(p) = t.throttle {
        span(out, &trace, t.ids.throttle, Some(t.ids.server), "throttle", KIND_INTERNAL, phase(p), refused("THROTTLED"), |_| {});
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
        span(out, &trace, t.ids.upstream, Some(t.ids.server), &name, KIND_CLIENT, phase((from, to)), error, |a| {
            a.str("http.request.method", e.method.as_str());
            if let Some(d) = &e.destination {
                a.str("server.address", d);
            }
            if let Some(s) = e.target_status {
                a.int("http.response.status_code", u64::from(s));
            }
        });
    }
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

pub async fn send_traces(gw: &dyn Outlet, o: &apim_config::Otlp, node: &str, spans: String) -> Result<(), String> {
    let head = json!({"resource": resource(&o.service_name, node), "scope": scope()});
    let body = format!(
        "{{\"resourceSpans\":[{{\"resource\":{},\"scopeSpans\":[{{\"scope\":{},\"spans\":[{spans}]}}]}}]}}",
        head["resource"], head["scope"]
    );
    post(gw, &o.endpoint, "/v1/traces", body).await
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
        if let Err(e) = post(&*gw, &o.endpoint, "/v1/metrics", doc.to_string()).await
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
async fn post(gw: &dyn Outlet, base: &str, path: &str, body: String) -> Result<(), String> {
    let endpoint = gw.collector(base, TIMEOUT)?;
    let uri = endpoint.uri_for(path, None).map_err(|e| format!("{base}{path}: {e}"))?;
    let mut req = Request::new(crate::reply::body(Bytes::from(body)));
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
