//! OpenTelemetry over OTLP/HTTP (`POST {endpoint}/v1/traces` and `/v1/metrics`, as the OpenTelemetry Collector,
//! Jaeger, Tempo and others take it): a server span per sampled request with child spans for authentication,
//! throttling and the backend call, in protobuf (OTLP's default, about half JSON's bytes) or JSON; and the
//! gateway's counters as OTLP metrics (JSON).

use std::io::Write;
use std::sync::Weak;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Method, Request, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};

use super::Outlet;
use super::RequestEvent;

/// A collector gets this long to answer.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Span kinds and status codes of OTLP's trace.proto.
const KIND_INTERNAL: u8 = 1;
const KIND_SERVER: u8 = 2;
const KIND_CLIENT: u8 = 3;
const STATUS_ERROR: u8 = 2;

/// Appends one sampled request's spans to `out`, written by hand rather than built as values: in protobuf,
/// `ScopeSpans.spans` fields (each self-delimited, so requests' spans concatenate into one `ScopeSpans`); in
/// JSON, span objects each followed by a comma. `span` is scratch.
pub fn encode(e: &RequestEvent<'_>, json: bool, out: &mut Vec<u8>, span: &mut Vec<u8>) {
    if json {
        spans(e, &mut Json { out, first_attribute: true });
    } else {
        spans(e, &mut Proto { out, span });
    }
}

/// Writes spans in one encoding: a span's head, its attributes, its end. Names and values come in parts, so
/// that a route or a span's name is never put together in a string of its own.
trait Spans {
    #[allow(clippy::too_many_arguments)]
    fn begin(&mut self, trace: &[u8; 16], id: [u8; 8], parent: Option<[u8; 8]>, name: &[&str], kind: u8, start_us: u64, end_us: u64);
    fn str(&mut self, key: &str, value: &[&str]);
    fn int(&mut self, key: &str, value: u64);
    fn end(&mut self, error: Option<&str>);
}

/// OTLP's JSON encoding: ids in hex, 64-bit integers as decimal strings.
struct Json<'a> {
    out: &'a mut Vec<u8>,
    first_attribute: bool,
}

/// `parts` as one JSON string.
fn push_str(out: &mut Vec<u8>, parts: &[&str]) {
    out.push(b'"');
    for part in parts {
        for &b in part.as_bytes() {
            match b {
                b'"' => out.extend_from_slice(b"\\\""),
                b'\\' => out.extend_from_slice(b"\\\\"),
                b if b < 0x20 => {
                    let _ = write!(out, "\\u{:04x}", b);
                }
                // UTF-8's other bytes, multi-byte sequences included, as they are.
                b => out.push(b),
            }
        }
    }
    out.push(b'"');
}

fn push_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)]);
        out.push(DIGITS[usize::from(b & 15)]);
    }
}

impl Json<'_> {
    fn key(&mut self, key: &str) {
        if !std::mem::replace(&mut self.first_attribute, false) {
            self.out.push(b',');
        }
        self.out.extend_from_slice(b"{\"key\":");
        push_str(self.out, &[key]);
        self.out.extend_from_slice(b",\"value\":");
    }
}

/// The export request around `spans` (span objects each followed by a comma), into `out` (cleared first).
fn json_request(resource: &[(&str, &str)], spans: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.reserve(spans.len() + 512);
    out.extend_from_slice(b"{\"resourceSpans\":[{\"resource\":{\"attributes\":[");
    for (i, (k, v)) in resource.iter().enumerate() {
        out.extend_from_slice(if i == 0 { &b"{\"key\":"[..] } else { &b",{\"key\":"[..] });
        push_str(out, &[k]);
        out.extend_from_slice(b",\"value\":{\"stringValue\":");
        push_str(out, &[v]);
        out.extend_from_slice(b"}}");
    }
    let _ = write!(
        out,
        "]}},\"scopeSpans\":[{{\"scope\":{{\"name\":\"apim-gateway\",\"version\":\"{}\"}},\"spans\":[",
        env!("CARGO_PKG_VERSION")
    );
    out.extend_from_slice(spans.strip_suffix(b",").unwrap_or(spans));
    out.extend_from_slice(b"]}]}]}");
}

impl Spans for Json<'_> {
    fn begin(&mut self, trace: &[u8; 16], id: [u8; 8], parent: Option<[u8; 8]>, name: &[&str], kind: u8, start_us: u64, end_us: u64) {
        let out = &mut *self.out;
        out.extend_from_slice(b"{\"traceId\":\"");
        push_hex(out, trace);
        out.extend_from_slice(b"\",\"spanId\":\"");
        push_hex(out, &id);
        out.extend_from_slice(b"\",");
        if let Some(p) = parent {
            out.extend_from_slice(b"\"parentSpanId\":\"");
            push_hex(out, &p);
            out.extend_from_slice(b"\",");
        }
        out.extend_from_slice(b"\"name\":");
        push_str(out, name);
        let _ = write!(
            out,
            ",\"kind\":{kind},\"startTimeUnixNano\":\"{}\",\"endTimeUnixNano\":\"{}\",\"attributes\":[",
            u128::from(start_us) * 1000,
            u128::from(end_us.max(start_us)) * 1000
        );
        self.first_attribute = true;
    }

    fn str(&mut self, key: &str, value: &[&str]) {
        self.key(key);
        self.out.extend_from_slice(b"{\"stringValue\":");
        push_str(self.out, value);
        self.out.extend_from_slice(b"}}");
    }

    fn int(&mut self, key: &str, value: u64) {
        self.key(key);
        let _ = write!(self.out, "{{\"intValue\":\"{value}\"}}}}");
    }

    fn end(&mut self, error: Option<&str>) {
        self.out.push(b']');
        if let Some(message) = error {
            let _ = write!(self.out, ",\"status\":{{\"code\":{STATUS_ERROR},\"message\":");
            push_str(self.out, &[message]);
            self.out.push(b'}');
        }
        self.out.extend_from_slice(b"},");
    }
}

/// OTLP's protobuf encoding (`opentelemetry/proto/trace/v1/trace.proto`), by hand: the few fields written here
/// need no generated code. `out` takes `ScopeSpans.spans` entries (field 2); `span` holds the span being written.
struct Proto<'a> {
    out: &'a mut Vec<u8>,
    span: &'a mut Vec<u8>,
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

/// A `string` field written from parts.
fn parts_field(out: &mut Vec<u8>, field: u32, parts: &[&str]) {
    tag(out, field, LEN);
    varint(out, parts.iter().map(|p| p.len()).sum::<usize>() as u64);
    for p in parts {
        out.extend_from_slice(p.as_bytes());
    }
}

/// The length of a `bytes`/`string`/message field whose content is `n` bytes (tag of one byte).
fn field_len(n: usize) -> usize {
    1 + varint_len(n as u64) + n
}

/// `KeyValue { key = 1; AnyValue value = 2 }` as `field` of the enclosing message, with `AnyValue`'s
/// `string_value` (1) or `int_value` (3).
fn key_value(out: &mut Vec<u8>, field: u32, key: &str, value: Result<&[&str], u64>) {
    let any = match value {
        Ok(parts) => field_len(parts.iter().map(|p| p.len()).sum()),
        Err(i) => 1 + varint_len(i),
    };
    let kv = field_len(key.len()) + field_len(any);
    tag(out, field, LEN);
    varint(out, kv as u64);
    bytes_field(out, 1, key.as_bytes());
    tag(out, 2, LEN);
    varint(out, any as u64);
    match value {
        Ok(parts) => parts_field(out, 1, parts),
        Err(i) => {
            tag(out, 3, VARINT);
            varint(out, i);
        }
    }
}

/// The export request around `spans` (`ScopeSpans.spans` fields), which are copied once, into `out` (cleared
/// first).
fn proto_request(resource: &[(&str, &str)], spans: &[u8], out: &mut Vec<u8>) {
    let mut res = Vec::new();
    for (k, v) in resource {
        key_value(&mut res, 1, k, Ok(&[v]));
    }
    let mut scope = Vec::new();
    bytes_field(&mut scope, 1, b"apim-gateway");
    bytes_field(&mut scope, 2, env!("CARGO_PKG_VERSION").as_bytes());
    // ExportTraceServiceRequest { resource_spans = 1 }, ResourceSpans { resource = 1; scope_spans = 2 },
    // ScopeSpans { scope = 1; spans = 2 }: lengths first, then the spans as they are.
    let scope_spans = field_len(scope.len()) + spans.len();
    let resource_spans = field_len(res.len()) + field_len(scope_spans);
    out.clear();
    out.reserve(field_len(resource_spans));
    tag(out, 1, LEN);
    varint(out, resource_spans as u64);
    bytes_field(out, 1, &res);
    tag(out, 2, LEN);
    varint(out, scope_spans as u64);
    bytes_field(out, 1, &scope);
    out.extend_from_slice(spans);
}

impl Spans for Proto<'_> {
    fn begin(&mut self, trace: &[u8; 16], id: [u8; 8], parent: Option<[u8; 8]>, name: &[&str], kind: u8, start_us: u64, end_us: u64) {
        let s = &mut *self.span;
        s.clear();
        bytes_field(s, 1, trace);
        bytes_field(s, 2, &id);
        if let Some(p) = parent {
            bytes_field(s, 4, &p);
        }
        parts_field(s, 5, name);
        tag(s, 6, VARINT);
        varint(s, u64::from(kind));
        tag(s, 7, FIXED64);
        s.extend_from_slice(&(start_us * 1000).to_le_bytes());
        tag(s, 8, FIXED64);
        s.extend_from_slice(&(end_us.max(start_us) * 1000).to_le_bytes());
    }

    fn str(&mut self, key: &str, value: &[&str]) {
        key_value(self.span, 9, key, Ok(value));
    }

    fn int(&mut self, key: &str, value: u64) {
        key_value(self.span, 9, key, Err(value));
    }

    fn end(&mut self, error: Option<&str>) {
        if let Some(message) = error {
            // Status { message = 2; code = 3 }
            let len = field_len(message.len()) + 2;
            tag(self.span, 15, LEN);
            varint(self.span, len as u64);
            bytes_field(self.span, 2, message.as_bytes());
            tag(self.span, 3, VARINT);
            varint(self.span, u64::from(STATUS_ERROR));
        }
        bytes_field(self.out, 2, self.span);
    }
}

/// The server span and its children for one sampled request.
fn spans(e: &RequestEvent<'_>, out: &mut impl Spans) {
    let Some(t) = &e.trace else { return };
    let trace = &t.ids.trace;
    let api = e.api;
    let route: &[&str] = &[&api.context_version, e.resource.unwrap_or("")];
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
    let method = e.method;
    out.begin(trace, t.ids.server, t.ids.parent, &[method, " ", route[0], route[1]], KIND_SERVER, start, start + e.latency_us);
    out.str("http.request.method", &[method]);
    out.str("url.path", &[e.path]);
    out.str("http.route", route);
    out.int("http.response.status_code", u64::from(e.status));
    let mut ip = [0u8; 45];
    out.str("client.address", &[super::ip_text(e.client_ip, &mut ip)]);
    out.str("apim.api.id", &[&api.id]);
    out.str("apim.api.name", &[&api.name]);
    out.str("apim.api.version", &[&api.version]);
    out.str("apim.key_type", &[e.key_type.as_str()]);
    if let Some(ua) = e.user_agent {
        out.str("user_agent.original", &[ua]);
    }
    if let Some(app) = e.application {
        out.str("apim.application.id", &[app.id]);
        out.str("apim.application.name", &[app.name]);
    }
    if let Some(f) = &e.fault {
        out.int("apim.error.code", u64::from(f.code));
        out.str("apim.error.type", &[f.error_type]);
    }
    out.end(server_error);
    let refused = |kind: &str| e.fault.filter(|f| f.error_type == kind).map(|f| f.detail);
    if let Some((from, to)) = t.auth {
        out.begin(trace, t.ids.auth, Some(t.ids.server), &["authenticate"], KIND_INTERNAL, start + from, start + to);
        out.end(refused("AUTH"));
    }
    if let Some((from, to)) = t.throttle {
        out.begin(trace, t.ids.throttle, Some(t.ids.server), &["throttle"], KIND_INTERNAL, start + from, start + to);
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
        out.begin(trace, t.ids.upstream, Some(t.ids.server), &[method, " upstream"], KIND_CLIENT, start + from, start + to);
        out.str("http.request.method", &[method]);
        if let Some(d) = e.destination {
            out.str("server.address", &[d]);
        }
        if let Some(s) = e.target_status {
            out.int("http.response.status_code", u64::from(s));
        }
        out.end(error);
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

/// The collector's endpoint, kept by each exporter task for as long as it runs. The gateway's registry holds
/// endpoints weakly: one looked up for each export request went, with its pooled connection, as soon as the
/// request ended, and the next one connected again.
#[derive(Default)]
pub struct Collector(Option<std::sync::Arc<crate::upstream::Endpoint>>);

impl Collector {
    fn endpoint(&mut self, gw: &dyn Outlet, base: &str) -> Result<std::sync::Arc<crate::upstream::Endpoint>, String> {
        if let Some(e) = &self.0 {
            return Ok(e.clone());
        }
        let e = gw.collector(base, TIMEOUT)?;
        self.0 = Some(e.clone());
        Ok(e)
    }
}

/// One export request holding `spans`, encoded by [`encode`] (JSON when `json`), written into `request`, which
/// is handed back for the next one once the connection has let go of it: a new buffer of megabytes per request
/// would be faulted in page by page each time (a node gives freed memory back after 10 ms).
pub async fn send_traces(
    gw: &dyn Outlet,
    collector: &mut Collector,
    o: &apim_config::Otlp,
    node: &str,
    json: bool,
    spans: &[u8],
    request: &mut Vec<u8>,
) -> Result<(), String> {
    let resource =
        [("service.name", o.service_name.as_str()), ("service.version", env!("CARGO_PKG_VERSION")), ("service.instance.id", node)];
    let content_type = if json {
        json_request(&resource, spans, request);
        "application/json"
    } else {
        proto_request(&resource, spans, request);
        "application/x-protobuf"
    };
    let body = Bytes::from(std::mem::take(request));
    let sent = post(gw, collector, &Export { base: &o.endpoint, path: "/v1/traces", body: body.clone(), content_type }).await;
    if let Ok(buffer) = body.try_into_mut() {
        *request = buffer.into();
    }
    sent
}

/// The gateway's counters every `metrics_interval_seconds`, cumulative from the task's start.
pub async fn push_metrics(gateway: Weak<dyn Outlet>, o: apim_config::Otlp, node: String) {
    let start_ns = unix_ns();
    let mut tick = tokio::time::interval(Duration::from_secs(u64::from(o.metrics_interval_secs)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    let mut warned: Option<Instant> = None;
    let mut collector = Collector::default();
    loop {
        tick.tick().await;
        // This task ends with the exporters' runtime; a gateway not there (yet, or any more) skips a tick.
        let Some(gw) = gateway.upgrade() else { continue };
        let metrics = gw.metrics().otlp(start_ns, unix_ns());
        let doc = json!({"resourceMetrics": [{"resource": resource(&o.service_name, &node), "scopeMetrics": [{"scope": scope(), "metrics": metrics}]}]});
        let export =
            Export { base: &o.endpoint, path: "/v1/metrics", body: Bytes::from(doc.to_string()), content_type: "application/json" };
        if let Err(e) = post(&*gw, &mut collector, &export).await
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

/// A collector's refusal or a transport failure, named; `retry` when OTLP/HTTP says to try again (a connection
/// that failed or timed out, 429, 502, 503, 504).
struct Failed {
    message: String,
    retry: bool,
}

/// One export request: the collector's base URL, the signal's path under it, and the body.
struct Export<'a> {
    base: &'a str,
    path: &'static str,
    body: Bytes,
    content_type: &'static str,
}

/// One POST to the collector, tried again once, after [`RETRY_AFTER`], when the failure is a passing one (a
/// pooled connection the collector had just closed, a collector restarting); anything but a 2xx within
/// [`TIMEOUT`] is a failure, named.
async fn post(gw: &dyn Outlet, collector: &mut Collector, export: &Export<'_>) -> Result<(), String> {
    match post_once(gw, collector, export).await {
        Err(Failed { retry: true, .. }) => {
            tokio::time::sleep(RETRY_AFTER).await;
            post_once(gw, collector, export).await.map_err(|f| f.message)
        }
        done => done.map_err(|f| f.message),
    }
}

/// A failed export request waits this long before its one retry.
const RETRY_AFTER: Duration = Duration::from_millis(250);

async fn post_once(gw: &dyn Outlet, collector: &mut Collector, export: &Export<'_>) -> Result<(), Failed> {
    let Export { base, path, content_type, .. } = *export;
    let refused = |message: String| Failed { message, retry: false };
    let endpoint = collector.endpoint(gw, base).map_err(refused)?;
    let uri = endpoint.uri_for(path, None).map_err(|e| refused(format!("{base}{path}: {e}")))?;
    // `Bytes`: the retry's copy shares the first one's buffer.
    let mut req = Request::new(crate::reply::body(export.body.clone()));
    *req.method_mut() = Method::POST;
    *req.uri_mut() = uri;
    req.headers_mut().insert(header::CONTENT_TYPE, http::HeaderValue::from_static(content_type));
    if let Some(v) = endpoint.host_header() {
        req.headers_mut().insert(header::HOST, v.clone());
    }
    let resp =
        endpoint.send(gw.tls(), req, Instant::now()).await.map_err(|e| Failed { message: format!("{base}{path}: {e}"), retry: true })?;
    let status = resp.status();
    // Read to the end so the connection goes back to the pool.
    let _ = tokio::time::timeout(TIMEOUT, resp.into_body().collect()).await;
    if status.is_success() {
        Ok(())
    } else {
        Err(Failed { message: format!("{base}{path} answered {status}"), retry: matches!(status.as_u16(), 429 | 502 | 503 | 504) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One request's server span, as `spans` writes it, through either encoding.
    fn one_span(out: &mut impl Spans, id: u8, name: &str) {
        out.begin(&[7; 16], [id; 8], None, &["GET ", name], KIND_SERVER, 1_000, 2_000);
        out.str("http.route", &["/ctx/1.0.0", "/items"]);
        out.str("user_agent.original", &["a \"quoted\" \\ agent\u{1}é"]);
        out.int("http.response.status_code", 200);
        out.end(if id == 2 { Some("status 502") } else { None });
    }

    #[test]
    fn requests_spans_concatenate_into_one_json_export() {
        let mut spans = Vec::new();
        for id in 1..=2 {
            // Each request's spans are written on their own, then appended, as the outbox does.
            let mut own = Vec::new();
            one_span(&mut Json { out: &mut own, first_attribute: true }, id, "/items");
            spans.extend_from_slice(&own);
        }
        let mut body = Vec::new();
        json_request(&[("service.name", "gw")], &spans, &mut body);
        let doc: serde_json::Value = serde_json::from_slice(&body).expect("one JSON document");
        let sent = &doc["resourceSpans"][0]["scopeSpans"][0]["spans"];
        assert_eq!(sent.as_array().map(Vec::len), Some(2));
        assert_eq!(sent[0]["name"], "GET /items");
        assert_eq!(sent[0]["spanId"], "0101010101010101");
        assert_eq!(sent[0]["attributes"][0]["value"]["stringValue"], "/ctx/1.0.0/items");
        assert_eq!(sent[0]["attributes"][1]["value"]["stringValue"], "a \"quoted\" \\ agent\u{1}é");
        assert_eq!(sent[0]["attributes"][2]["value"]["intValue"], "200");
        assert_eq!(sent[1]["status"]["message"], "status 502");
        assert_eq!(doc["resourceSpans"][0]["resource"]["attributes"][0]["value"]["stringValue"], "gw");
        // No span at all still makes a valid request.
        json_request(&[], b"", &mut body);
        assert!(serde_json::from_slice::<serde_json::Value>(&body).is_ok());
    }

    /// A protobuf message's fields: (number, wire type, varint value or length-delimited bytes).
    fn fields(mut b: &[u8]) -> Vec<(u64, u8, u64, &[u8])> {
        fn varint(b: &mut &[u8]) -> u64 {
            let (mut n, mut shift) = (0u64, 0);
            loop {
                let (first, rest) = b.split_first().expect("a varint");
                *b = rest;
                n |= u64::from(first & 0x7f) << shift;
                shift += 7;
                if first & 0x80 == 0 {
                    return n;
                }
            }
        }
        let mut out = Vec::new();
        while !b.is_empty() {
            let key = varint(&mut b);
            let wire = (key & 7) as u8;
            match wire {
                VARINT => out.push((key >> 3, wire, varint(&mut b), &b[..0])),
                FIXED64 => {
                    out.push((key >> 3, wire, u64::from_le_bytes(b[..8].try_into().expect("8 bytes")), &b[..0]));
                    b = &b[8..];
                }
                LEN => {
                    let n = varint(&mut b) as usize;
                    out.push((key >> 3, wire, n as u64, &b[..n]));
                    b = &b[n..];
                }
                other => panic!("wire type {other}"),
            }
        }
        out
    }

    #[test]
    fn requests_spans_concatenate_into_one_protobuf_export() {
        let (mut spans, mut scratch) = (Vec::new(), Vec::new());
        for id in 1..=2 {
            let mut own = Vec::new();
            one_span(&mut Proto { out: &mut own, span: &mut scratch }, id, "/items");
            spans.extend_from_slice(&own);
        }
        let mut body = vec![9; 3];
        proto_request(&[("service.name", "gw")], &spans, &mut body);
        // Every length on the way down matches what it frames.
        let top = fields(&body);
        assert_eq!(top.len(), 1);
        let resource_spans = fields(top[0].3);
        assert_eq!((resource_spans[0].0, resource_spans[1].0), (1, 2));
        let scope_spans = fields(resource_spans[1].3);
        let sent: Vec<_> = scope_spans.iter().filter(|f| f.0 == 2).map(|f| fields(f.3)).collect();
        assert_eq!(sent.len(), 2);
        let name = sent[0].iter().find(|f| f.0 == 5).map(|f| f.3);
        assert_eq!(name, Some(&b"GET /items"[..]));
        let times: Vec<u64> = sent[0].iter().filter(|f| f.1 == FIXED64).map(|f| f.2).collect();
        assert_eq!(times, [1_000_000, 2_000_000]);
        let route = sent[0].iter().find(|f| f.0 == 9).map(|f| fields(f.3)).expect("an attribute");
        assert_eq!(route[0].3, b"http.route");
        assert_eq!(fields(route[1].3)[0].3, b"/ctx/1.0.0/items");
        let status = sent[1].iter().find(|f| f.0 == 15).map(|f| fields(f.3)).expect("an error status");
        assert_eq!(status[0].3, b"status 502");
    }
}
