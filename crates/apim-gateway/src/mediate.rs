//! The operation policies that need more than header changes, run in their place in a resource's flows:
//! `jsonToXML` / `xmlToJSON` over a body read whole (`convert.rs`), and calls to interceptor services on
//! WSO2 Choreo Connect's contract (`POST {url}/api/v1/handle-request` before the backend,
//! `/api/v1/handle-response` after it, with what `includes` names; bodies in base64). An interceptor's answer
//! may add, replace and remove headers (`headersToAdd` appends, `headersToReplace` sets, `headersToRemove`
//! removes; framing headers stay the gateway's), replace the body (`body`), answer the client at once on the
//! request (`directRespond` with `responseCode`), set the status on the response (`responseCode`), and pass an
//! `interceptorContext` from the request's interceptor to the response's. Trailer fields are sent as the body
//! carried them (`requestTrailers`, `responseTrailers`; a body is read whole for them) and changed the same way
//! (`trailersToAdd`, `trailersToReplace`, `trailersToRemove`); a message that has trailers after that goes on
//! chunked, with a `Trailer` header naming them. A request interceptor's `dynamicEndpoint` names one of the API's
//! `x-wso2-endpoints` to send the request to instead of its own endpoints (the last such answer counts).
//!
//! Failures are WSO2's: a body that does not convert is 400 on the request, 500 on the response; an interceptor
//! that cannot be reached is 502 101503, one that does not answer within its timeout (`requestTimeout`, default
//! 5 s, covering connect, head and body) 504 101504, one that closes or answers anything but a 200 with its JSON
//! 502 101505.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Bytes;
use serde_json::{Map, Value, json};

use crate::body::{Body, MAX_VALIDATED_BODY, ReadWhole, RequestBody, read_up_to, read_with_trailers};
use crate::convert::ConvertError;
use crate::mediation::{Conversion, Interceptor, Part};
use crate::reply;
use crate::snapshot::{Api, Mediation, Resource};
use crate::upstream::Endpoint;

/// A converted body may be this long (an XML form is seldom twice its JSON).
const MAX_CONVERTED: usize = 4 * MAX_VALIDATED_BODY;
/// An interceptor's answer: a body of `MAX_VALIDATED_BODY` in base64, and headers.
const MAX_ANSWER: usize = MAX_VALIDATED_BODY * 3 / 2;

/// Headers that frame the message or the connection: the gateway sets them, an interceptor does not.
const FRAMING: [&str; 9] =
    ["content-length", "transfer-encoding", "connection", "keep-alive", "proxy-connection", "upgrade", "te", "trailer", "host"];

/// What the request flow hands to the response flow's interceptors.
#[derive(Default)]
pub struct Carry {
    request_headers: Option<HeaderMap>,
    request_body: Option<Bytes>,
    request_trailers: Option<HeaderMap>,
    interceptor_context: Option<Map<String, Value>>,
    dynamic_endpoint: Option<String>,
}

impl Carry {
    /// The endpoint a request interceptor chose by name (`dynamicEndpoint.endpointName`), if one did.
    pub fn dynamic_endpoint(&self) -> Option<&str> {
        self.dynamic_endpoint.as_deref()
    }
}

/// The request as the request flow may change it, on its way to the backend.
pub struct Outbound<'r, 'a> {
    pub headers: &'r mut HeaderMap,
    pub method: &'r mut Method,
    pub path: &'r mut Cow<'a, str>,
    pub query: &'r mut Option<Cow<'a, str>>,
    pub body: &'r mut RequestBody,
}

/// Runs the request flow: `Ok` with what the response flow needs, or `Err` with the answer to give the client
/// instead of calling the backend (a fault, or an interceptor's direct response). A body read whole is put back
/// as `RequestBody::Read` with its `Content-Length`.
pub async fn request(
    m: &Mediation,
    out: Outbound<'_, '_>,
    tls: &tokio_rustls::TlsConnector,
    invocation: Option<&Value>,
) -> Result<Carry, Response<Body>> {
    let Outbound { headers, method, path, query, body } = out;
    let mut carry = Carry::default();
    let mut whole: Option<Bytes> = None;
    let mut trailers: Option<HeaderMap> = None;
    // Trailer changes asked for while the body was still streaming: made once it has been read (below).
    let mut late: Vec<TrailerChanges> = Vec::new();
    if m.needs_request_body() {
        whole = Some(match read_with_trailers(body, MAX_VALIDATED_BODY).await {
            Ok((b, t)) => {
                trailers = t;
                b
            }
            Err(e) => return Err(request_body_failed(&e)),
        });
    }
    let mut changed = false;
    for part in m.request_parts() {
        match part {
            Part::Plain(steps) => steps.request(headers, method, path, query),
            Part::Convert(c) => {
                let Some(b) = whole.as_ref().filter(|b| !b.is_empty()) else { continue };
                let converted = convert(*c, b).map_err(|e| conversion_failed(*c, &e, true))?;
                headers.insert(header::CONTENT_TYPE, c.content_type());
                whole = Some(converted);
                changed = true;
            }
            Part::Intercept(i) => {
                let inc = i.includes;
                let mut payload = Map::new();
                if inc.request_headers {
                    payload.insert("requestHeaders".into(), headers_json(headers));
                }
                if inc.request_trailers {
                    payload.insert("requestTrailers".into(), trailers_json(trailers.as_ref()));
                }
                if inc.request_body {
                    payload.insert("requestBody".into(), base64_json(whole.as_deref().unwrap_or_default()));
                }
                if inc.invocation_context {
                    payload.insert("invocationContext".into(), invocation.cloned().unwrap_or(Value::Null));
                }
                let answer = call(i, tls, "/api/v1/handle-request", payload).await?;
                if answer.direct_respond {
                    return Err(answer.direct());
                }
                answer.apply(headers);
                if whole.is_some() {
                    answer.trailers.apply_to(&mut trailers);
                } else if answer.trailers.changes() {
                    late.push(answer.trailers);
                }
                if let Some(b) = answer.body {
                    whole = Some(b);
                    changed = true;
                }
                if answer.context.is_some() {
                    carry.interceptor_context = answer.context;
                }
                if answer.dynamic_endpoint.is_some() {
                    carry.dynamic_endpoint = answer.dynamic_endpoint;
                }
            }
        }
    }
    if !late.is_empty() && whole.is_none() {
        let (b, t) = read_with_trailers(body, MAX_VALIDATED_BODY).await.map_err(|e| request_body_failed(&e))?;
        trailers = t;
        late.iter().for_each(|c| c.apply_to(&mut trailers));
        whole = Some(b);
    }
    if let Some(b) = whole {
        if m.response_parts().iter().any(|p| matches!(p, Part::Intercept(i) if i.includes.request_body)) {
            carry.request_body = Some(b.clone());
        }
        let trailers = trailers.filter(|t| !t.is_empty());
        if m.response_parts().iter().any(|p| matches!(p, Part::Intercept(i) if i.includes.request_trailers)) {
            carry.request_trailers.clone_from(&trailers);
        }
        headers.remove(header::TRANSFER_ENCODING);
        match trailers {
            // With trailers the body goes chunked (hyper's client sends the trailers the `Trailer` header names).
            Some(t) => {
                headers.remove(header::CONTENT_LENGTH);
                headers.insert(header::TRAILER, trailer_names(&t));
                *body = RequestBody::ReadWithTrailers(Some(b), Some(t));
            }
            None => {
                // Read whole, the body goes with its length (a chunked one too); an empty body that was never sent
                // stays without one.
                if changed || !b.is_empty() {
                    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(b.len()));
                }
                headers.remove(header::TRAILER);
                *body = RequestBody::Read(Some(b));
            }
        }
    }
    if m.keeps_request_headers() {
        carry.request_headers = Some(headers.clone());
    }
    Ok(carry)
}

/// A client's body that cannot be read whole: too long (413) or malformed (400).
fn request_body_failed(e: &ReadWhole) -> Response<Body> {
    match e {
        ReadWhole::TooLong => {
            reply::fault(StatusCode::PAYLOAD_TOO_LARGE, 900900, "Request Entity Too Large", "a mediated request body is at most 10 MiB")
        }
        ReadWhole::Failed(_) => reply::bad_request("the request body is malformed (its chunked framing or length is wrong)"),
    }
}

/// A backend's body that cannot be read whole: too long (500) or cut (502 101505).
fn response_body_failed(e: ReadWhole) -> Response<Body> {
    match e {
        ReadWhole::TooLong => {
            reply::fault(StatusCode::INTERNAL_SERVER_ERROR, 500, "Internal Server Error", "the backend's body is over 10 MiB")
        }
        ReadWhole::Failed(e) => {
            tracing::warn!("the backend's body could not be read whole: {e}");
            reply::backend_closed("the backend closed the connection or sent an invalid response")
        }
    }
}

/// Runs the response flow over the backend's answer: `Ok` with the body to send on (the backend's own when it was
/// not read), `Err` with a fault to answer instead.
pub async fn response(
    m: &Mediation,
    parts: &mut http::response::Parts,
    body: Body,
    tls: &tokio_rustls::TlsConnector,
    invocation: Option<&Value>,
    carry: Carry,
) -> Result<Body, Response<Body>> {
    let mut streaming = Some(body);
    let mut whole: Option<Bytes> = None;
    let mut trailers: Option<HeaderMap> = None;
    let mut late: Vec<TrailerChanges> = Vec::new();
    if m.needs_response_body()
        && let Some(mut b) = streaming.take()
    {
        whole = Some(match read_with_trailers(&mut b, MAX_VALIDATED_BODY).await {
            Ok((b, t)) => {
                trailers = t;
                b
            }
            Err(e) => return Err(response_body_failed(e)),
        });
    }
    let mut changed = false;
    for part in m.response_parts() {
        match part {
            Part::Plain(steps) => steps.response(&mut parts.headers),
            Part::Convert(c) => {
                let Some(b) = whole.as_ref().filter(|b| !b.is_empty()) else { continue };
                let converted = convert(*c, b).map_err(|e| conversion_failed(*c, &e, false))?;
                parts.headers.insert(header::CONTENT_TYPE, c.content_type());
                whole = Some(converted);
                changed = true;
            }
            Part::Intercept(i) => {
                let inc = i.includes;
                let mut payload = Map::new();
                payload.insert("responseCode".into(), json!(parts.status.as_u16()));
                if inc.request_headers {
                    payload.insert("requestHeaders".into(), carry.request_headers.as_ref().map_or_else(|| json!({}), headers_json));
                }
                if inc.request_trailers {
                    payload.insert("requestTrailers".into(), trailers_json(carry.request_trailers.as_ref()));
                }
                if inc.request_body {
                    payload.insert("requestBody".into(), base64_json(carry.request_body.as_deref().unwrap_or_default()));
                }
                if inc.response_headers {
                    payload.insert("responseHeaders".into(), headers_json(&parts.headers));
                }
                if inc.response_trailers {
                    payload.insert("responseTrailers".into(), trailers_json(trailers.as_ref()));
                }
                if inc.response_body {
                    payload.insert("responseBody".into(), base64_json(whole.as_deref().unwrap_or_default()));
                }
                if inc.invocation_context {
                    payload.insert("invocationContext".into(), invocation.cloned().unwrap_or(Value::Null));
                }
                if let Some(ctx) = &carry.interceptor_context {
                    payload.insert("interceptorContext".into(), Value::Object(ctx.clone()));
                }
                let answer = call(i, tls, "/api/v1/handle-response", payload).await?;
                answer.apply(&mut parts.headers);
                if whole.is_some() {
                    answer.trailers.apply_to(&mut trailers);
                } else if answer.trailers.changes() {
                    late.push(answer.trailers);
                }
                if let Some(status) = answer.response_code {
                    parts.status = status;
                }
                if let Some(b) = answer.body {
                    // The backend's body, if still unread, is dropped (its connection is not reused).
                    streaming = None;
                    whole = Some(b);
                    changed = true;
                }
            }
        }
    }
    if !late.is_empty()
        && whole.is_none()
        && let Some(mut b) = streaming.take()
    {
        let (b, t) = read_with_trailers(&mut b, MAX_VALIDATED_BODY).await.map_err(response_body_failed)?;
        trailers = t;
        late.iter().for_each(|c| c.apply_to(&mut trailers));
        whole = Some(b);
    }
    let trailers = trailers.filter(|t| !t.is_empty());
    if let (Some(b), Some(t)) = (&whole, trailers) {
        // Trailers the backend sent, or an interceptor made, go on after the body: chunked, without a length.
        parts.headers.remove(header::CONTENT_LENGTH);
        parts.headers.remove(header::TRANSFER_ENCODING);
        parts.headers.insert(header::TRAILER, trailer_names(&t));
        return Ok(crate::body::with_trailers(b.clone(), t));
    }
    if changed && let Some(b) = &whole {
        parts.headers.insert(header::CONTENT_LENGTH, HeaderValue::from(b.len()));
        parts.headers.remove(header::TRANSFER_ENCODING);
    }
    match (whole, streaming) {
        (Some(b), _) => Ok(reply::body(b)),
        (None, Some(b)) => Ok(b),
        (None, None) => Ok(reply::body(Bytes::new())),
    }
}

fn convert(c: Conversion, b: &[u8]) -> Result<Bytes, ConvertError> {
    let out = match c {
        Conversion::JsonToXml => crate::convert::json_to_xml(b, MAX_CONVERTED)?,
        Conversion::XmlToJson => crate::convert::xml_to_json(b, MAX_CONVERTED)?,
    };
    Ok(Bytes::from(out))
}

/// A body that does not convert: the client's fault on the request (400; 413 when the result would be too
/// long), the backend's on the response (500).
fn conversion_failed(c: Conversion, e: &ConvertError, on_request: bool) -> Response<Body> {
    let policy = c.policy();
    if on_request {
        if let ConvertError::TooLarge(_) = e {
            return reply::fault(StatusCode::PAYLOAD_TOO_LARGE, 900900, "Request Entity Too Large", &format!("{policy}: {e}"));
        }
        return reply::fault(StatusCode::BAD_REQUEST, 400, "Bad Request", &format!("{policy}: {e}"));
    }
    tracing::warn!("{policy} could not convert the backend's answer: {e}");
    reply::fault(
        StatusCode::INTERNAL_SERVER_ERROR,
        500,
        "Internal Server Error",
        &format!("{policy}: the backend's answer cannot be converted: {e}"),
    )
}

/// Headers as an interceptor sees them: one string per name (repeated values joined with `, `).
fn headers_json(h: &HeaderMap) -> Value {
    let mut o = Map::new();
    for name in h.keys() {
        let joined = h.get_all(name).iter().map(|v| String::from_utf8_lossy(v.as_bytes())).collect::<Vec<_>>().join(", ");
        o.insert(name.as_str().to_string(), Value::String(joined));
    }
    Value::Object(o)
}

/// Trailer fields as an interceptor sees them (`{}` when there are none).
fn trailers_json(t: Option<&HeaderMap>) -> Value {
    t.map_or_else(|| json!({}), headers_json)
}

/// The `Trailer` header for `t`: its field names, comma-separated.
fn trailer_names(t: &HeaderMap) -> HeaderValue {
    let names: Vec<&str> = t.keys().map(HeaderName::as_str).collect();
    HeaderValue::from_str(&names.join(", ")).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn base64_json(b: &[u8]) -> Value {
    Value::String(base64::engine::general_purpose::STANDARD.encode(b))
}

/// Why an interceptor call failed.
#[derive(Debug, PartialEq, Eq)]
enum Failure {
    Connect(String),
    Timeout,
    Invalid(String),
}

impl Failure {
    fn reply<C>(&self, i: &Interceptor<C>) -> Response<Body> {
        match self {
            Failure::Connect(e) => {
                tracing::warn!(interceptor = %i.url, "cannot connect to the interceptor service: {e}");
                reply::cannot_connect("the interceptor service refused or did not accept the connection")
            }
            Failure::Timeout => {
                tracing::warn!(interceptor = %i.url, "the interceptor service did not answer within {:?}", i.timeout);
                reply::backend_timeout("the interceptor service did not answer in time")
            }
            Failure::Invalid(e) => {
                tracing::warn!(interceptor = %i.url, "the interceptor service failed: {e}");
                reply::backend_closed("the interceptor service closed the connection or sent an invalid response")
            }
        }
    }
}

/// An interceptor's answer, checked.
#[derive(Debug, Default)]
struct Answer {
    direct_respond: bool,
    response_code: Option<StatusCode>,
    add: Vec<(HeaderName, HeaderValue)>,
    replace: Vec<(HeaderName, HeaderValue)>,
    remove: Vec<HeaderName>,
    body: Option<Bytes>,
    context: Option<Map<String, Value>>,
    trailers: TrailerChanges,
    dynamic_endpoint: Option<String>,
}

/// `trailersToAdd`, `trailersToReplace`, `trailersToRemove`: changes to the message's trailer fields.
#[derive(Debug, Default)]
struct TrailerChanges {
    add: Vec<(HeaderName, HeaderValue)>,
    replace: Vec<(HeaderName, HeaderValue)>,
    remove: Vec<HeaderName>,
}

impl TrailerChanges {
    fn changes(&self) -> bool {
        !(self.add.is_empty() && self.replace.is_empty() && self.remove.is_empty())
    }

    fn apply_to(&self, trailers: &mut Option<HeaderMap>) {
        if !self.changes() {
            return;
        }
        let t = trailers.get_or_insert_with(HeaderMap::new);
        for n in &self.remove {
            t.remove(n);
        }
        for (n, v) in &self.replace {
            t.insert(n.clone(), v.clone());
        }
        for (n, v) in &self.add {
            t.append(n.clone(), v.clone());
        }
    }
}

impl Answer {
    /// Choreo Connect's response body (`RequestHandlerResponseBody` / `ResponseHandlerResponseBody`).
    fn parse(bytes: &[u8]) -> Result<Answer, String> {
        let doc: Value = serde_json::from_slice(bytes).map_err(|e| format!("the answer is not JSON: {e}"))?;
        let o = doc.as_object().ok_or("the answer is not a JSON object")?;
        let field = |k: &str| o.get(k).filter(|v| !v.is_null());
        let mut a = Answer::default();
        if let Some(v) = field("directRespond") {
            a.direct_respond = v.as_bool().ok_or("directRespond is not a boolean")?;
        }
        if let Some(v) = field("responseCode") {
            let code = v.as_u64().and_then(|c| u16::try_from(c).ok()).and_then(|c| StatusCode::from_u16(c).ok());
            a.response_code =
                Some(code.filter(|c| (200..600).contains(&c.as_u16())).ok_or(format!("responseCode {v} is not a status from 200 to 599"))?);
        }
        let pairs = |k: &str| -> Result<Vec<(HeaderName, HeaderValue)>, String> {
            let Some(v) = field(k) else { return Ok(Vec::new()) };
            let m = v.as_object().ok_or(format!("{k} is not an object"))?;
            let mut out = Vec::with_capacity(m.len());
            for (name, value) in m {
                let value = value.as_str().ok_or(format!("{k}.{name} is not a string"))?;
                let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("{k}: `{name}` is not a header name"))?;
                let value = HeaderValue::from_str(value).map_err(|_| format!("{k}.{name} is not a header value"))?;
                if !FRAMING.contains(&name.as_str()) {
                    out.push((name, value));
                }
            }
            Ok(out)
        };
        let names = |k: &str| -> Result<Vec<HeaderName>, String> {
            let Some(v) = field(k) else { return Ok(Vec::new()) };
            let mut out = Vec::new();
            for n in v.as_array().ok_or(format!("{k} is not a list"))? {
                let n = n.as_str().ok_or(format!("{k} holds something that is not a string"))?;
                let name = HeaderName::from_bytes(n.as_bytes()).map_err(|_| format!("{k}: `{n}` is not a header name"))?;
                if !FRAMING.contains(&name.as_str()) {
                    out.push(name);
                }
            }
            Ok(out)
        };
        a.add = pairs("headersToAdd")?;
        a.replace = pairs("headersToReplace")?;
        a.remove = names("headersToRemove")?;
        if let Some(v) = field("dynamicEndpoint") {
            let name = v.get("endpointName").and_then(Value::as_str).map(str::trim).filter(|n| !n.is_empty());
            a.dynamic_endpoint = Some(name.ok_or("dynamicEndpoint.endpointName is not a name")?.to_string());
        }
        a.trailers =
            TrailerChanges { add: pairs("trailersToAdd")?, replace: pairs("trailersToReplace")?, remove: names("trailersToRemove")? };
        if let Some(v) = field("body") {
            let text = v.as_str().ok_or("body is not a string")?;
            let engine = base64::engine::GeneralPurpose::new(
                &base64::alphabet::STANDARD,
                base64::engine::GeneralPurposeConfig::new().with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
            );
            a.body = Some(Bytes::from(engine.decode(text.trim()).map_err(|e| format!("body is not base64: {e}"))?));
        }
        if let Some(v) = field("interceptorContext") {
            let m = v.as_object().ok_or("interceptorContext is not an object")?;
            if m.values().any(|v| !v.is_string()) {
                return Err("interceptorContext holds a value that is not a string".into());
            }
            a.context = Some(m.clone());
        }
        Ok(a)
    }

    fn apply(&self, h: &mut HeaderMap) {
        for n in &self.remove {
            h.remove(n);
        }
        for (n, v) in &self.replace {
            h.insert(n.clone(), v.clone());
        }
        for (n, v) in &self.add {
            h.append(n.clone(), v.clone());
        }
    }

    /// `directRespond`: the answer the client gets instead of the backend's.
    fn direct(self) -> Response<Body> {
        let body = self.body.clone().unwrap_or_default();
        let mut resp = Response::new(reply::body(body.clone()));
        *resp.status_mut() = self.response_code.unwrap_or(StatusCode::OK);
        self.apply(resp.headers_mut());
        resp.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        resp
    }
}

/// One call to an interceptor service: the whole exchange (connect, head, body) within its timeout.
async fn call(
    i: &Interceptor<Arc<Endpoint>>,
    tls: &tokio_rustls::TlsConnector,
    route: &str,
    payload: Map<String, Value>,
) -> Result<Answer, Response<Body>> {
    exchange(&i.client, tls, route, payload).await.map_err(|f| f.reply(i))
}

async fn exchange(
    endpoint: &Endpoint,
    tls: &tokio_rustls::TlsConnector,
    route: &str,
    payload: Map<String, Value>,
) -> Result<Answer, Failure> {
    let uri = endpoint.uri_for(route, None).map_err(|e| Failure::Connect(format!("the URL could not be formed: {e}")))?;
    let json = Bytes::from(Value::Object(payload).to_string());
    let mut req = Request::new(reply::body(json.clone()));
    *req.method_mut() = Method::POST;
    *req.uri_mut() = uri;
    let h = req.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(json.len()));
    if let Some(host) = endpoint.host_header() {
        h.insert(header::HOST, host.clone());
    }
    let started = std::time::Instant::now();
    let deadline = tokio::time::Instant::from_std(started) + endpoint.timeout;
    let resp = endpoint.send(tls, req, started).await.map_err(|e| match e {
        crate::pool::PoolError::Connect(e) => Failure::Connect(e),
        crate::pool::PoolError::Timeout => Failure::Timeout,
        other => Failure::Invalid(other.to_string()),
    })?;
    if resp.status() != StatusCode::OK {
        return Err(Failure::Invalid(format!("it answered {}", resp.status())));
    }
    let mut body = resp.into_body();
    let bytes = match tokio::time::timeout_at(deadline, read_up_to(&mut body, MAX_ANSWER)).await {
        Err(_) => return Err(Failure::Timeout),
        Ok(Err(ReadWhole::TooLong)) => return Err(Failure::Invalid(format!("its answer is over {MAX_ANSWER} bytes"))),
        Ok(Err(ReadWhole::Failed(e))) => return Err(Failure::Invalid(format!("its answer could not be read: {e}"))),
        Ok(Ok(b)) => b,
    };
    Answer::parse(&bytes).map_err(Failure::Invalid)
}

/// Choreo Connect's `invocationContext` for a request (without the caller's token, which stays at the gateway).
pub fn invocation_context<B>(api: &Api, resource: &Resource, req: &Request<B>, source: &str, https: bool, key_type: &str) -> Value {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    static BOOT: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let boot =
        *BOOT.get_or_init(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0));
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let host = req.headers().get(header::HOST).and_then(|v| v.to_str().ok()).or_else(|| req.uri().host()).unwrap_or("");
    let vhost = match host.rsplit_once(':') {
        Some((h, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && (!h.contains(':') || h.ends_with(']')) => h,
        _ => host,
    };
    let supported: Vec<&str> = api.resources.iter().filter(|r| r.target == resource.target).map(|r| r.verb.as_str()).collect();
    json!({
        "requestId": format!("{boot:016x}-{n:08x}"),
        "protocol": format!("{:?}", req.version()),
        "scheme": if https { "https" } else { "http" },
        "apiName": api.name,
        "apiVersion": api.version,
        "vhost": vhost,
        "basePath": api.context_version,
        "supportedMethods": supported.join(" "),
        "method": req.method().as_str(),
        "path": req.uri().path(),
        "pathTemplate": resource.target,
        "source": source,
        "authenticationContext": {"keyType": key_type},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_checked_before_anything_is_applied() {
        let a = Answer::parse(
            br#"{"directRespond": false, "responseCode": 201, "headersToAdd": {"x-new": "1", "content-length": "9"},
                "headersToReplace": {"x-old": "2"}, "headersToRemove": ["x-gone", "host"], "body": "aGVsbG8",
                "interceptorContext": {"k": "v"}, "dynamicEndpoint": {"endpointName": "eu"}, "trailersToAdd": {"t": "1"}}"#,
        )
        .expect("valid");
        assert_eq!(a.response_code, Some(StatusCode::CREATED));
        assert_eq!(a.dynamic_endpoint.as_deref(), Some("eu"));
        assert_eq!(a.body.as_deref(), Some(&b"hello"[..]), "padding may be left out");
        let mut h = HeaderMap::new();
        h.insert("x-gone", HeaderValue::from_static("g"));
        h.insert("x-old", HeaderValue::from_static("o"));
        h.insert("x-new", HeaderValue::from_static("0"));
        h.insert(header::HOST, HeaderValue::from_static("backend"));
        a.apply(&mut h);
        assert!(h.get("x-gone").is_none());
        assert_eq!(h.get("x-old").map(HeaderValue::as_bytes), Some(&b"2"[..]));
        assert_eq!(h.get_all("x-new").iter().count(), 2, "headersToAdd appends");
        assert!(h.get(header::CONTENT_LENGTH).is_none() && h.get(header::HOST).is_some(), "framing headers stay the gateway's");
        let mut trailers = None;
        a.trailers.apply_to(&mut trailers);
        assert_eq!(trailers.as_ref().and_then(|t| t.get("t")).map(HeaderValue::as_bytes), Some(&b"1"[..]), "trailersToAdd");
        let t = Answer::parse(br#"{"trailersToReplace": {"t": "2"}, "trailersToRemove": ["u", "transfer-encoding"]}"#).expect("valid");
        let mut kept = Some(HeaderMap::from_iter([
            (HeaderName::from_static("t"), HeaderValue::from_static("1")),
            (HeaderName::from_static("u"), HeaderValue::from_static("x")),
        ]));
        t.trailers.apply_to(&mut kept);
        assert_eq!(kept.as_ref().map(|k| (k.len(), k.get("t").map(HeaderValue::as_bytes))), Some((1, Some(&b"2"[..]))));
        assert!(Answer::parse(b"{}").is_ok_and(|a| !a.direct_respond && a.body.is_none() && !a.trailers.changes()));
        for garbage in [
            &b"not json"[..],
            b"[1]",
            br#"{"directRespond": "yes"}"#,
            br#"{"responseCode": 99}"#,
            br#"{"trailersToAdd": {"x": 1}}"#,
            br#"{"trailersToRemove": "x"}"#,
            br#"{"dynamicEndpoint": {"endpointName": ""}}"#,
            br#"{"dynamicEndpoint": "eu"}"#,
            br#"{"responseCode": "200"}"#,
            br#"{"headersToAdd": {"bad name": "v"}}"#,
            br#"{"headersToAdd": {"x": "a\r\nb"}}"#,
            br#"{"headersToAdd": {"x": 1}}"#,
            br#"{"headersToRemove": "x"}"#,
            br#"{"body": "%%%"}"#,
            br#"{"interceptorContext": {"k": 1}}"#,
        ] {
            assert!(Answer::parse(garbage).is_err(), "{}", String::from_utf8_lossy(garbage));
        }
    }

    #[test]
    fn a_direct_response_carries_its_status_headers_and_body() {
        let a = Answer::parse(br#"{"directRespond": true, "responseCode": 403, "headersToAdd": {"content-type": "application/json"}, "body": "eyJ4IjoxfQ=="}"#)
            .expect("valid");
        let resp = a.direct();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        assert_eq!(resp.headers().get(header::CONTENT_TYPE).map(HeaderValue::as_bytes), Some(&b"application/json"[..]));
        assert_eq!(resp.headers().get(header::CONTENT_LENGTH).map(HeaderValue::as_bytes), Some(&b"7"[..]));
    }

    /// Down, silent and garbage interceptors become WSO2's transport faults, within the timeout.
    #[tokio::test]
    async fn failing_interceptors_map_to_transport_faults() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let tls = crate::pool::trusting_nobody();
        let timeout = std::time::Duration::from_millis(300);
        // Down: a port nobody listens on.
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let down = closed.local_addr().expect("addr");
        drop(closed);
        let e = Endpoint::for_url(&format!("http://{down}"), timeout).expect("endpoint");
        assert!(matches!(exchange(&e, &tls, "/api/v1/handle-request", Map::new()).await, Err(Failure::Connect(_))));
        // Silent and garbage: a server that reads the request and then, by its port, says nothing or nonsense.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let silent = listener.local_addr().expect("addr");
        let garbage_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let garbage = garbage_listener.local_addr().expect("addr");
        for (l, answer) in [(listener, None), (garbage_listener, Some(&b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nnot json!"[..]))] {
            tokio::spawn(async move {
                while let Ok((mut tcp, _)) = l.accept().await {
                    tokio::spawn(async move {
                        let mut buf = [0u8; 4096];
                        let _ = tcp.read(&mut buf).await;
                        match answer {
                            Some(a) => {
                                let _ = tcp.write_all(a).await;
                            }
                            None => tokio::time::sleep(std::time::Duration::from_secs(30)).await,
                        }
                    });
                }
            });
        }
        // The silent interceptor sleeps 30 s: a `Timeout` here is the call's own deadline.
        let e = Endpoint::for_url(&format!("http://{silent}"), timeout).expect("endpoint");
        assert_eq!(exchange(&e, &tls, "/api/v1/handle-request", Map::new()).await.expect_err("silent"), Failure::Timeout);
        let e = Endpoint::for_url(&format!("http://{garbage}"), timeout).expect("endpoint");
        assert!(matches!(exchange(&e, &tls, "/api/v1/handle-request", Map::new()).await, Err(Failure::Invalid(_))));
    }
}
