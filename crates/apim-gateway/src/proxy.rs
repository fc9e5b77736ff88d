//! The request chain and the upstream call.

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use apim_wire::SubscriptionStatus;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Bytes;

use crate::auth::{AuthError, Principal, now_ms};
use crate::body::{Body, BoxError, ReadWhole, RequestBody, read_whole};
use crate::gateway::Gateway;
use crate::http1::ResponseHeaders;
use crate::reject::{Blame, Reject};
use crate::reply;
use crate::snapshot::{Api, AuthType, Condition, KeyType, Policy, Resource, Route, Snapshot};
use crate::throttle::{Check, Level};
use crate::upstream::EndpointGroup;

/// Hop-by-hop headers (RFC 9110 §7.6.1, with `Keep-Alive`, `Proxy-Connection` and `Upgrade`), which a proxy does
/// not pass on: the codec's one list, which its verbatim heads skip too.
fn is_hop_by_hop(name: &HeaderName) -> bool {
    crate::http1::is_hop_by_hop_name(name.as_str().as_bytes())
}

const APIKEY: HeaderName = HeaderName::from_static("apikey");
/// W3C Trace Context.
const TRACEPARENT: HeaderName = crate::trace::Traceparent::NAME;

/// The client end of a traffic connection. Its address is formatted for `X-Forwarded-For` once per connection,
/// not once per request.
pub struct Peer {
    pub addr: SocketAddr,
    pub https: bool,
    forwarded_for: HeaderValue,
    /// The SHA-256 of the certificate the TLS client presented (and proved it holds the key of), if any.
    client_certificate: Option<[u8; 32]>,
}

impl Peer {
    pub fn new(addr: SocketAddr, https: bool) -> Peer {
        let forwarded_for = HeaderValue::from_str(&addr.ip().to_string()).unwrap_or_else(|_| HeaderValue::from_static("unknown"));
        Peer { addr, https, forwarded_for, client_certificate: None }
    }

    /// What a backend is told of this client for a request to `uri`.
    fn forwarded<'a>(&'a self, uri: &'a http::Uri) -> crate::pool::Forwarded<'a> {
        crate::pool::Forwarded { peer: &self.forwarded_for, https: self.https, authority: uri.authority() }
    }

    /// With the DER of the certificate the client presented in the TLS handshake.
    pub fn with_client_certificate(mut self, der: Option<&[u8]>) -> Peer {
        self.client_certificate = der.map(apim_jose::crypto::sha256);
        self
    }
}

fn strip_hop_by_hop(h: &mut HeaderMap) {
    // Most messages carry none: one pass over the names is cheaper than nine hashed removals.
    let hop: Vec<HeaderName> = h.keys().filter(|k| is_hop_by_hop(k)).cloned().collect();
    if hop.is_empty() {
        return;
    }
    let listed: Vec<HeaderName> = h
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for n in hop.iter().chain(&listed) {
        h.remove(n);
    }
}

/// What the chain learned about the caller, for throttling, routing and the access log.
/// One request's way through the chain: what it came with (the snapshot it is served from, the peer, the client's
/// address, when it arrived and the wall-clock time read once, which serves every later step: token expiry,
/// throttle windows, the upstream deadline) and what the phases learn on the way (its API, its caller's
/// application), which the access log reads at the end. Every phase takes it and refuses with a `Reject`.
struct Exchange<'s> {
    snap: &'s Snapshot,
    peer: &'s Peer,
    client_ip: IpAddr,
    started: Instant,
    now: u64,
    api: Option<Arc<Api>>,
    application: Option<&'s crate::snapshot::Application>,
    /// For analytics: the resource matched, the caller's key type, the backend's time to response headers
    /// (`u64::MAX` until the backend answered; atomic because `forward` reads the exchange shared).
    resource: Option<&'s Resource>,
    key_type: KeyType,
    backend_us: std::sync::atomic::AtomicU64,
    /// For the exporters, only when one is on: the trace's ids, the token's principal, the phases' times (µs
    /// from arrival; set for sampled traces), when the backend was called, its status and URL.
    trace: Option<crate::trace::TraceIds>,
    principal: Option<Arc<crate::auth::Principal>>,
    auth_us: Option<(u64, u64)>,
    throttle_us: Option<(u64, u64)>,
    upstream_from_us: std::sync::atomic::AtomicU64,
    target_status: std::sync::atomic::AtomicU16,
    destination: std::sync::OnceLock<Arc<str>>,
    /// How the backend's answer may come back: verbatim only for the gateway's own HTTP/1.1 server, which writes
    /// such a head out, and only when nothing on the way changes the answer's headers.
    answer_headers: ResponseHeaders,
}

impl Exchange<'_> {
    /// Now, when the request's trace is recorded (a phase's span needs its times).
    fn mark(&self) -> Option<Instant> {
        self.trace.filter(|t| t.sampled).map(|_| Instant::now())
    }

    /// A phase that began at `from` and ends now, in µs from arrival.
    fn phase(&self, from: Option<Instant>) -> Option<(u64, u64)> {
        let from = from?;
        Some((self.since_start(from), self.since_start(Instant::now())))
    }

    /// A phase that begins where `after` (a phase's start and end, µs from arrival) ended and ends now: one clock
    /// read and one subtraction fewer than [`Exchange::phase`].
    fn next_phase(&self, after: Option<(u64, u64)>) -> Option<(u64, u64)> {
        let (_, from_us) = after?;
        Some((from_us, self.since_start(Instant::now())))
    }

    fn since_start(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.started).as_micros() as u64
    }
}

struct Caller<'s> {
    principal: Option<Arc<Principal>>,
    application: Option<&'s crate::snapshot::Application>,
    key_type: KeyType,
    subscription: Option<&'s crate::snapshot::Subscription>,
}

impl Gateway {
    /// `answer` for a hyper service, whose future must own what it uses.
    pub async fn serve(self: Arc<Self>, req: Request<RequestBody>, peer: Arc<Peer>) -> Result<Response<Body>, std::convert::Infallible> {
        self.answer(req, &peer).await
    }

    /// `answer` for the gateway's own HTTP/1.1 server (`inbound::serve`): the answer may carry the backend's head
    /// as an [`http1::VerbatimHead`](crate::http1::VerbatimHead) in its extensions, its `HeaderMap` empty, which
    /// only that server writes out.
    pub async fn answer_h1(self: &Arc<Self>, req: Request<RequestBody>, peer: &Peer) -> Result<Response<Body>, std::convert::Infallible> {
        self.respond(req, peer, ResponseHeaders::VerbatimWhenPlain).await
    }

    /// Runs one request through the chain; always answers (failures are WSO2 error bodies, never a panic).
    /// Borrows the gateway and the peer (the gateway's own HTTP/1.1 server holds both for the connection), so a
    /// request clones neither `Arc`.
    pub async fn answer(self: &Arc<Self>, req: Request<RequestBody>, peer: &Peer) -> Result<Response<Body>, std::convert::Infallible> {
        self.respond(req, peer, ResponseHeaders::Map).await
    }

    async fn respond(
        self: &Arc<Self>,
        mut req: Request<RequestBody>,
        peer: &Peer,
        answer_headers: ResponseHeaders,
    ) -> Result<Response<Body>, std::convert::Infallible> {
        let started = Instant::now();
        let snap = self.snapshot.load_full();
        let client_ip = self.client_ip(peer, req.headers());
        let mut ex = Exchange {
            snap: &snap,
            peer,
            client_ip,
            started,
            now: now_ms(),
            api: None,
            application: None,
            resource: None,
            key_type: KeyType::Production,
            backend_us: std::sync::atomic::AtomicU64::new(u64::MAX),
            trace: None,
            principal: None,
            auth_us: None,
            throttle_us: None,
            upstream_from_us: std::sync::atomic::AtomicU64::new(u64::MAX),
            target_status: std::sync::atomic::AtomicU16::new(0),
            destination: std::sync::OnceLock::new(),
            // A cross-origin answer gets CORS headers below.
            answer_headers: if req.headers().contains_key(header::ORIGIN) { ResponseHeaders::Map } else { answer_headers },
        };
        let mut seen = None;
        let mut fault = None;
        let mut blocked = false;
        let (resp, request_line, by_gateway) = match self.canonical(&mut req) {
            Ok(()) => {
                // The access log's strings are only built when it is on; the path is the canonical one.
                let log = tracing::enabled!(target: "apim::access", tracing::Level::INFO);
                let request_line = log.then(|| (req.method().clone(), req.uri().path().to_string()));
                let origin = req.headers().get(header::ORIGIN).cloned();
                if let Some(exports) = &self.exports {
                    let h = req.headers();
                    ex.trace =
                        exports.sampling.map(|ratio| crate::trace::TraceIds::for_request(h.get(TRACEPARENT).map(|v| v.as_bytes()), ratio));
                    if exports.wants(ex.trace.as_ref()) {
                        seen = Some((req.method().clone(), req.uri().clone(), h.get(header::USER_AGENT).cloned()));
                    }
                }
                let outcome = self.chain(&mut ex, req).await;
                let (mut resp, blame) = match outcome {
                    Ok(resp) => (resp, None),
                    Err(rejected) => {
                        fault = Some(rejected.fault());
                        blocked = matches!(rejected, Reject::Blocked(_));
                        (self.rejected(&rejected), Some(rejected.blame()))
                    }
                };
                // Every answer for an API with CORS carries its headers, the gateway's own faults included, so a
                // browser can read a 401 or a 429 (a preflight answer has them already).
                if let (Some(origin), Some(api)) = (origin, &ex.api)
                    && !resp.headers().contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
                {
                    self.cors_headers(api, &origin, resp.headers_mut());
                }
                (resp, request_line.map(|l| (l, blame)), blame.is_some())
            }
            Err(refused) => (self.rejected(&Reject::BadRequest(refused.to_string().into())), None, true),
        };
        let status = resp.status().as_u16();
        let elapsed = started.elapsed();
        self.metrics.request(status, elapsed);
        if let (Some(recorder), Some(api)) = (&self.analytics, &ex.api) {
            let backend_us = ex.backend_us.load(std::sync::atomic::Ordering::Relaxed);
            recorder.record(crate::analytics::Record {
                now_ms: ex.now + elapsed.as_millis() as u64,
                api,
                resource: ex.resource,
                application: ex.application,
                key_type: ex.key_type,
                status,
                latency_us: elapsed.as_micros() as u64,
                backend_us: (backend_us != u64::MAX).then_some(backend_us),
                by_gateway,
                blocked,
            });
        }
        if let (Some(exports), Some(api), Some((method, uri, user_agent))) = (&self.exports, &ex.api, seen) {
            self.export(exports, &ex, api, (method, uri, user_agent), status, elapsed, fault);
        }
        if let Some(((method, path), blame)) = request_line {
            let (api, app_name) = (ex.api.as_ref(), ex.application.map(|a| a.name.as_str()));
            tracing::info!(
                target: "apim::access",
                "{}",
                serde_json::json!({"method": method.as_str(), "path": path, "status": status, "api": api.as_ref().map(|a| a.name.as_str()),
                    "application": app_name, "client": client_ip.to_string(), "latency_ms": elapsed.as_secs_f64() * 1000.0,
                    "fault": blame.map(Blame::as_str)})
            );
        }
        Ok(resp)
    }

    /// The request's event for the exporters that are on.
    #[allow(clippy::too_many_arguments)]
    fn export(
        &self,
        exports: &crate::export::Exports,
        ex: &Exchange<'_>,
        api: &Arc<Api>,
        (method, uri, user_agent): (Method, http::Uri, Option<HeaderValue>),
        status: u16,
        elapsed: std::time::Duration,
        fault: Option<crate::reject::Fault>,
    ) {
        use std::sync::atomic::Ordering::Relaxed;
        let known = |us: u64| (us != u64::MAX).then_some(us);
        // Arrival to the millisecond (the clock read the chain already made), offsets to the microsecond.
        let started_unix_us = ex.now * 1000;
        exports.send(&crate::export::RequestEvent {
            started_unix_us,
            api,
            resource: ex.resource.map(|r| r.target.as_str()),
            application: ex.application.map(crate::export::AppNames::from),
            key_type: ex.key_type,
            user: ex.principal.as_ref().map(|p| p.subject.as_str()),
            client_ip: ex.client_ip,
            user_agent: user_agent.as_ref().and_then(|v| v.to_str().ok()),
            method: method.as_str(),
            path: uri.path(),
            status,
            target_status: Some(ex.target_status.load(Relaxed)).filter(|s| *s != 0),
            destination: ex.destination.get().map(|d| &**d),
            latency_us: elapsed.as_micros() as u64,
            upstream_from_us: known(ex.upstream_from_us.load(Relaxed)),
            backend_us: known(ex.backend_us.load(Relaxed)),
            fault,
            trace: ex.trace.filter(|t| t.sampled).map(|ids| crate::export::Spans { ids, auth: ex.auth_us, throttle: ex.throttle_us }),
        });
    }

    /// A refusal rendered, and counted when it is about access.
    fn rejected(&self, r: &Reject) -> Response<Body> {
        if r.is_access() {
            self.metrics.auth_failure(r.code());
        }
        r.render(now_ms())
    }

    /// The request with its canonical target (`target::canonical`), or why it is refused (a 400). HTTP/1.1 needs
    /// exactly one `Host` (RFC 9112 §3.2); a request with two could be routed by one and read by the backend by
    /// the other.
    // By reference: a request moved in and out costs two copies of it.
    fn canonical(&self, req: &mut Request<RequestBody>) -> Result<(), BadRequest> {
        match req.headers().get_all(header::HOST).iter().count() {
            0 if req.version() == http::Version::HTTP_11 => return Err(BadRequest::Host("no Host header")),
            0 | 1 => {}
            _ => return Err(BadRequest::Host("more than one Host header")),
        }
        let mut target = match crate::target::canonical(req.uri().path(), self.cfg.path_policy).map_err(BadRequest::Target)? {
            Cow::Borrowed(_) => return Ok(()),
            Cow::Owned(p) => p,
        };
        if let Some(q) = req.uri().query() {
            target.push('?');
            target.push_str(q);
        }
        let mut parts = req.uri().clone().into_parts();
        parts.path_and_query = http::uri::PathAndQuery::from_maybe_shared(Bytes::from(target)).ok();
        *req.uri_mut() = http::Uri::from_parts(parts).map_err(|_| BadRequest::Unbuildable)?;
        Ok(())
    }

    /// The client's address: the peer's, or behind a trusted proxy the right-most `X-Forwarded-For` hop that is
    /// not itself a trusted proxy (hops to its left could be written by the client).
    fn client_ip(&self, peer: &Peer, headers: &HeaderMap) -> IpAddr {
        let ip = peer.addr.ip();
        if self.cfg.trusted_proxies.is_empty() || !self.cfg.trusted_proxies.iter().any(|n| n.contains(ip)) {
            return ip;
        }
        let mut client = ip;
        let hops = headers.get_all(crate::pool::X_FORWARDED_FOR).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(','));
        let hops: Vec<&str> = hops.collect();
        for hop in hops.iter().rev() {
            let Some(addr) = parse_hop(hop) else { break };
            client = addr;
            if !self.cfg.trusted_proxies.iter().any(|n| n.contains(addr)) {
                break;
            }
        }
        client
    }

    /// The phases in WSO2's order; `ex` learns the API and the application as they are found.
    async fn chain<'s>(self: &Arc<Self>, ex: &mut Exchange<'s>, mut req: Request<RequestBody>) -> Result<Response<Body>, Reject> {
        let snap = ex.snap;
        let path = req.uri().path();
        let preflight = req.method() == Method::OPTIONS
            && req.headers().contains_key(header::ORIGIN)
            && req.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
        let route_method: Cow<'_, str> = if preflight {
            Cow::Owned(
                req.headers()
                    .get(header::ACCESS_CONTROL_REQUEST_METHOD)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("GET")
                    .to_ascii_uppercase(),
            )
        } else {
            Cow::Borrowed(req.method().as_str())
        };
        let (api, resource, prefix_len) = match snap.router.route(path, &route_method) {
            Route::Found { api, resource, prefix_len } => (api, resource, prefix_len),
            Route::NoResource(api) => {
                ex.api = Some(api.clone());
                return if preflight { Ok(self.preflight(api, &req)) } else { Err(no_resource(&req)) };
            }
            Route::NoApi => return Err(no_resource(&req)),
        };
        ex.api = Some(api.clone());
        ex.resource = Some(resource);
        // A preflight is answered here from the API's CORS policy, never sent to the backend: it carries no
        // credentials, so forwarding it would let anyone reach the backend unauthenticated.
        if preflight {
            return Ok(self.preflight(api, &req));
        }
        if api.blocked {
            return Err(Reject::ApiBlocked);
        }
        let client_ip = ex.client_ip;
        if snap.blocks.apis.contains(&api.context_version) || snap.blocks.ip_blocked(client_ip) {
            self.metrics.throttled("blocked");
            return Err(Reject::Blocked(if snap.blocks.ip_blocked(client_ip) { "IP address" } else { "API" }));
        }
        let mark = ex.mark();
        let caller = self.authorize(ex, api, resource, &req).await;
        ex.auth_us = ex.phase(mark);
        let caller = caller?;
        ex.application = caller.application;
        ex.key_type = caller.key_type;
        if self.exports.is_some() {
            ex.principal = caller.principal.clone();
        }
        let throttled = self.throttle(ex, api, resource, &caller, &req);
        ex.throttle_us = ex.next_phase(ex.auth_us);
        throttled?;
        // A mocked API answers here, after authentication and throttling, as its backend would.
        if let Some(mock) = resource.mock.as_deref() {
            let mut resp = Response::new(crate::reply::body(mock.body.clone()));
            *resp.status_mut() = mock.status;
            if let Some(ct) = &mock.content_type {
                resp.headers_mut().insert(header::CONTENT_TYPE, ct.clone());
            }
            return Ok(resp);
        }
        // An API product's operation goes to the endpoints of the API it comes from.
        let (production, sandbox) = match &resource.backends {
            Some(b) => (&b.production, &b.sandbox),
            None => (&api.production, &api.sandbox),
        };
        let group = match caller.key_type {
            KeyType::Production => production.clone(),
            KeyType::Sandbox => sandbox.clone(),
        };
        let Some(group) = group else {
            self.metrics.upstream_error("no_endpoint");
            let what = caller.key_type.as_str().to_ascii_lowercase();
            return Err(Reject::Forbidden(format!("this API has no {what} endpoint; use keys of the other type").into()));
        };
        if api.websocket {
            if !is_websocket_upgrade(&req) {
                return Err(Reject::NotWebSocket);
            }
            // The backend continues the trace from the gateway's upstream span.
            if let Some(t) = &ex.trace {
                req.headers_mut().insert(TRACEPARENT, t.upstream_traceparent().header_value());
            }
            let checks = self
                .checks(ex, api, resource, &caller, &req)
                .into_iter()
                .map(|c| OwnedCheck { key: c.key.into_owned(), limit: c.limit.clone(), level: c.level, enforce: c.enforce })
                .collect();
            // Boxed: the rare WebSocket path should not size every request's future.
            return Box::pin(self.forward_ws(ex, req, api, &group, prefix_len, checks)).await;
        }
        let validation = resource.validation.as_deref();
        // Reassigned only when validated: a `match` giving back the request would copy it on every request.
        if let Some(schema) = validation.and_then(|v| v.request.as_ref()) {
            // Boxed: the rare validating path should not size every request's future.
            req = Box::pin(validate_request(req, schema)).await?;
        }
        let backend_jwt = self.backend_jwt(api, &caller);
        // Choreo Connect's invocation context, made only for a resource whose interceptors are sent it.
        let peer = ex.peer;
        let invocation = resource.mediation.as_deref().filter(|m| m.wants_invocation_context()).map(|_| {
            let source = if client_ip == peer.addr.ip() { peer.addr.to_string() } else { client_ip.to_string() };
            crate::mediate::invocation_context(api, resource, &req, &source, peer.https, caller.key_type.as_str())
        });
        let mediation = resource.mediation.as_deref();
        let route = Upstream { api, group: &group, prefix_len, mediation, validation, invocation: invocation.as_ref() };
        self.forward(ex, req, route, backend_jwt).await
    }

    /// Authentication, subscription, scopes and the caller-specific block conditions.
    async fn authorize<'s>(
        &self,
        ex: &Exchange<'s>,
        api: &'s Api,
        resource: &Resource,
        req: &Request<RequestBody>,
    ) -> Result<Caller<'s>, Reject> {
        let (snap, now) = (ex.snap, ex.now);
        let anonymous = Caller { principal: None, application: None, key_type: KeyType::Production, subscription: None };
        if resource.auth == AuthType::None {
            return Ok(anonymous);
        }
        // Mutual TLS: one of the API's certificates, unexpired, stands for a subscription of its tier.
        if let Some(mtls) = &api.mutual_tls {
            let certificate = ex
                .peer
                .client_certificate
                .as_ref()
                .and_then(|fingerprint| mtls.certificates.get(fingerprint))
                .filter(|c| c.not_after * 1000 > now as i64);
            match certificate {
                None if mtls.certificate_required => return Err(Reject::InvalidCredentials),
                Some(c) if !mtls.token_required => {
                    return Ok(Caller { principal: None, application: None, key_type: c.key_type, subscription: Some(&c.subscription) });
                }
                _ => {}
            }
        }
        // A bearer token, as bytes: a JWT verified before is found without reading the header as text.
        let bearer = api
            .auth_header
            .as_ref()
            .and_then(|h| req.headers().get(h))
            .map(HeaderValue::as_bytes)
            .and_then(|v| v.strip_prefix(b"Bearer ").or_else(|| v.strip_prefix(b"bearer ")))
            .map(<[u8]>::trim_ascii)
            .filter(|t| !t.is_empty() && api.oauth2);
        let map_err = |e| match e {
            AuthError::Invalid => Reject::InvalidCredentials,
            AuthError::Expired => Reject::Expired,
            AuthError::Unavailable => Reject::KeyManagerUnavailable,
        };
        let principal = match bearer.and_then(|t| self.auth.cached(t, now)) {
            Some(found) => Some(found.map_err(map_err)?),
            None => {
                // `from_utf8` (checked word by word) rather than `to_str` (byte by byte): a JWT is about a kilobyte;
                // a token with bytes `to_str` refuses cannot verify either.
                let token = api
                    .auth_header
                    .as_ref()
                    .and_then(|h| req.headers().get(h))
                    .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
                    .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
                    .map(str::trim)
                    .filter(|t| !t.is_empty() && api.oauth2);
                // WebSocket clients (browsers) cannot set headers: the handshake may carry `access_token` in the query.
                let from_query =
                    if token.is_none() && api.websocket && api.oauth2 { query_param(req.uri().query(), "access_token") } else { None };
                match token.or(from_query.as_deref()) {
                    Some(token) => {
                        let accepts = |name: &str| api.accepts_key_manager(name);
                        Some(self.auth.authenticate(token, now, &snap.key_managers, &accepts, &self.upstream_tls).await.map_err(map_err)?)
                    }
                    None => None,
                }
            }
        };
        let (principal, app_id, key_type) = match principal {
            Some(principal) => {
                // The key manager must be one the API accepts, and (for one registered in the Admin API) still
                // enabled: a cached token outlives a snapshot.
                let mapping = match principal.key_manager.as_deref() {
                    None if api.accepts_key_manager(crate::keymanager::RESIDENT) => snap.keys.get(&principal.client_id),
                    Some(name) if api.accepts_key_manager(name) => match snap.key_manager(name) {
                        Some(km)
                            if km.audiences.is_empty() || crate::keymanager::names_audience(principal.claims.as_ref(), &km.audiences) =>
                        {
                            snap.external_keys.get(&crate::snapshot::external_key(name, &principal.client_id))
                        }
                        _ => return Err(Reject::InvalidCredentials),
                    },
                    _ => return Err(Reject::InvalidCredentials),
                };
                if !api.audiences.is_empty() && !crate::keymanager::names_audience(principal.claims.as_ref(), &api.audiences) {
                    return Err(Reject::InvalidCredentials);
                }
                let Some((app_id, key_type)) = mapping else {
                    return Err(Reject::Forbidden(
                        "User is NOT authorized to access the Resource. The token's application is not known here.".into(),
                    ));
                };
                (principal, app_id.clone(), *key_type)
            }
            None => {
                // An API key (a JWT the control plane signed), in the `apikey` header or query parameter.
                let header = req.headers().get(APIKEY).and_then(|v| v.to_str().ok()).map(str::to_string);
                let Some(key) = header.or_else(|| query_param(req.uri().query(), "apikey")).filter(|_| api.api_key) else {
                    return Err(Reject::MissingCredentials);
                };
                let (principal, app_id, key_type) = self.auth.api_key(&key, &snap.api_key_keys, &snap.revoked_api_keys).map_err(map_err)?;
                (principal, app_id, key_type)
            }
        };
        let app_id = &app_id;
        // `authType`: Application resources take application tokens only, Application User resources a user's.
        let wrong_type = match (resource.auth, principal.application_token) {
            (AuthType::Application, Some(false)) => Some("an application token (client_credentials)"),
            (AuthType::ApplicationUser, Some(true)) => Some("a token a user holds (password or authorization code grant)"),
            _ => None,
        };
        if let Some(want) = wrong_type {
            return Err(Reject::WrongTokenType(want));
        }
        let application = snap.applications.get(app_id);
        let Some(sub) = snap.subscriptions.get(app_id.as_str()).and_then(|subs| subs.get(&api.id)) else {
            return Err(Reject::Forbidden("User is NOT authorized to access the Resource. API Subscription validation failed.".into()));
        };
        match sub.status {
            SubscriptionStatus::Blocked => return Err(Reject::SubscriptionBlocked),
            SubscriptionStatus::ProdOnlyBlocked if key_type == KeyType::Production => return Err(Reject::SubscriptionBlocked),
            SubscriptionStatus::OnHold | SubscriptionStatus::Rejected | SubscriptionStatus::TierUpdatePending => {
                return Err(Reject::SubscriptionInactive);
            }
            // A status this version does not know (a newer control plane's) passes.
            SubscriptionStatus::Unblocked | SubscriptionStatus::ProdOnlyBlocked | SubscriptionStatus::Unknown(_) => {}
        }
        if !resource.scopes.is_empty() && !resource.scopes.iter().any(|s| principal.scopes.contains(s)) {
            return Err(Reject::Scope(resource.scopes.clone()));
        }
        if !snap.blocks.is_empty() {
            let app_key = application.map(|a| format!("{}:{}", a.owner, a.name)).unwrap_or_default();
            let sub_key = format!("{}:{}:{}", api.context_version, app_key.replace(':', "-"), key_type.as_str());
            if snap.blocks.applications.contains(&app_key) || snap.blocks.subscriptions.contains(&sub_key) {
                return Err(Reject::Blocked("application"));
            }
            if snap.blocks.users.contains(&principal.subject) {
                return Err(Reject::Blocked("user"));
            }
        }
        Ok(Caller { principal: Some(principal), application, key_type, subscription: Some(sub) })
    }

    /// The limits a request falls under: advanced (API or resource, with its condition groups), subscription
    /// with burst control, application.
    fn checks<'a>(
        &self,
        ex: &Exchange<'a>,
        api: &'a Api,
        resource: &'a Resource,
        caller: &'a Caller<'a>,
        req: &Request<RequestBody>,
    ) -> Checks<'a> {
        let (snap, client_ip) = (ex.snap, ex.client_ip);
        let mut checks = Checks::new();
        let (advanced, level, stem, default) = match &api.api_policy {
            Some(p) => (snap.api_policies.get(p), Level::Api, &api.throttle_stem, &api.throttle_default),
            None => (
                resource.policy.as_ref().and_then(|p| snap.api_policies.get(p)),
                Level::Resource,
                &resource.throttle_stem,
                &resource.throttle_default,
            ),
        };
        if let Some(policy) = advanced.filter(|p| p.limit.is_some() || !p.groups.is_empty()) {
            let matched = policy.groups.iter().position(|g| g.conditions.iter().all(|c| condition_holds(c, req, client_ip, caller)));
            match matched {
                Some(n) => checks.push(Check {
                    key: Cow::Owned(format!("{stem}_condition_{n}")),
                    limit: &policy.groups[n].limit,
                    level,
                    enforce: true,
                }),
                None => {
                    if let Some(l) = &policy.limit {
                        checks.push(Check { key: Cow::Borrowed(default), limit: l, level, enforce: true });
                    }
                }
            }
        }
        if let (Some(app), Some(sub)) = (caller.application, caller.subscription) {
            if let Some(p) = snap.sub_policies.get(&sub.policy) {
                if let Some(b) = &p.burst {
                    checks.push(Check { key: Cow::Borrowed(&sub.burst_key), limit: b, level: Level::Burst, enforce: true });
                }
                push_limit(&mut checks, p, Cow::Borrowed(&sub.throttle_key), Level::Subscription, p.stop_on_quota_reach);
            }
            if let Some(p) = snap.app_policies.get(&app.policy).filter(|p| p.limit.is_some()) {
                let key = match &caller.principal {
                    Some(principal) => principal.app_throttle_key(&app.id),
                    None => Cow::Owned(format!("{}:@carbon.super", app.id)),
                };
                push_limit(&mut checks, p, key, Level::Application, true);
            }
        }
        if !snap.custom.is_empty() {
            use apim_domain::custom::Var;
            let user = caller.principal.as_ref().map(|p| p.subject.as_str()).unwrap_or("");
            let attr = |v: Var| -> String {
                match v {
                    Var::UserId => format!("{user}@carbon.super"),
                    Var::ApiContext => api.context_version.clone(),
                    Var::ApiVersion => api.version.clone(),
                    Var::ResourceKey => resource.throttle_stem.clone(),
                    Var::AppId => caller.application.map(|a| a.id.clone()).unwrap_or_default(),
                    Var::AppTenant | Var::ApiTenant => "carbon.super".into(),
                    Var::ClientIp => client_ip.to_string(),
                }
            };
            for c in snap.custom.iter().filter(|c| c.rule.applies(&attr)) {
                checks.push(Check { key: Cow::Owned(c.rule.key(&c.name, &attr)), limit: &c.limit, level: Level::Custom, enforce: true });
            }
        }
        // The backend's own limit last: a request refused by a policy does not use it up.
        let hard = match caller.key_type {
            KeyType::Production => api.hard_production.as_ref(),
            KeyType::Sandbox => api.hard_sandbox.as_ref(),
        };
        if let Some((limit, key)) = hard {
            checks.push(Check { key: Cow::Borrowed(key), limit, level: Level::Hard, enforce: true });
        }
        checks
    }

    /// Admits the request against its limits, or answers 429.
    fn throttle(
        &self,
        ex: &Exchange<'_>,
        api: &Api,
        resource: &Resource,
        caller: &Caller<'_>,
        req: &Request<RequestBody>,
    ) -> Result<(), Reject> {
        let now = ex.now;
        let checks = self.checks(ex, api, resource, caller, req);
        if checks.is_empty() {
            return Ok(());
        }
        let bytes = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).unwrap_or(0);
        self.counters.admit(&checks, bytes, now).map_err(|refused| {
            self.metrics.throttled(refused.level.as_str());
            let retry_at_ms = refused.retry_at_ms;
            match refused.level {
                Level::Hard => Reject::HardLimit { retry_at_ms },
                Level::NoTrafficManager => Reject::NoTrafficManager { retry_at_ms },
                level => Reject::Throttled { code: level.code(), retry_at_ms },
            }
        })
    }

    /// The backend JWT for this caller and API (`[apim.jwt]`), with WSO2's claim names; signed once per token and
    /// API and cached until it expires (at most 15 minutes, never past the token). `None`: disabled or
    /// anonymous. The header is always cleared of whatever the client sent (`forward`).
    fn backend_jwt(&self, api: &Api, caller: &Caller<'_>) -> Option<(HeaderName, HeaderValue)> {
        let name = self.cfg.backend_jwt_header.clone()?;
        let (signer, principal, app) = (self.jwt_signer.as_ref()?, caller.principal.as_ref()?, caller.application?);
        let key = (principal.token_id.clone(), api.id.clone());
        let now = now_ms() as i64 / 1000;
        if let Some(hit) = self.backend_jwts.get(&key).filter(|e| e.1 > now) {
            return Some((name, hit.0.clone()));
        }
        let exp = principal.expires_at.min(now + 900);
        let claims = serde_json::json!({
            "iss": "wso2.org/products/am", "iat": now, "exp": exp,
            "http://wso2.org/claims/apiname": api.name, "http://wso2.org/claims/apicontext": api.context_version,
            "http://wso2.org/claims/version": api.version, "http://wso2.org/claims/tier": caller.subscription.map(|s| s.policy.as_str()),
            "http://wso2.org/claims/keytype": caller.key_type.as_str(), "http://wso2.org/claims/subscriber": app.owner,
            "http://wso2.org/claims/applicationid": app.id, "http://wso2.org/claims/applicationUUId": app.id,
            "http://wso2.org/claims/applicationname": app.name, "http://wso2.org/claims/applicationtier": app.policy,
            "http://wso2.org/claims/enduser": format!("{}@carbon.super", principal.subject), "http://wso2.org/claims/enduserTenantId": "-1234",
            "http://wso2.org/claims/usertype": "APPLICATION_USER",
        });
        let jwt = match signer.sign(&claims) {
            Ok(j) => j,
            Err(e) => {
                tracing::error!("cannot sign the backend JWT: {e}");
                return None;
            }
        };
        let value = HeaderValue::from_str(&jwt).ok()?;
        self.backend_jwts.insert(key, (value.clone(), exp));
        Some((name, value))
    }

    /// Streams the request to a backend and its response back. A request without a body is retried on the
    /// next endpoint when a connection cannot be made (nothing was sent); others are never replayed.
    async fn forward(
        &self,
        ex: &Exchange<'_>,
        req: Request<RequestBody>,
        route: Upstream<'_>,
        backend_jwt: Option<(HeaderName, HeaderValue)>,
    ) -> Result<Response<Body>, Reject> {
        let (peer, started) = (ex.peer, ex.started);
        let Upstream { api, group, prefix_len, mediation, validation, invocation } = route;
        let (parts, mut body) = req.into_parts();
        let rest = parts.uri.path().get(prefix_len..).unwrap_or("");
        // An API key stays at the gateway, like a bearer token: it would land in the backend's logs.
        let stripped = if api.api_key { without_params(parts.uri.query(), &["apikey"]) } else { None };
        let query = stripped.as_ref().map_or(parts.uri.query(), |q| q.as_deref());
        let mut method = parts.method;
        let (mut path, mut query) = (Cow::Borrowed(rest), query.map(Cow::Borrowed));
        // Decided on the client's own framing headers, before the hop-by-hop ones (Transfer-Encoding) go.
        let replayable = body_is_empty(&parts.headers, &method);
        let chunked = !replayable && !parts.headers.contains_key(header::CONTENT_LENGTH);
        let mut headers = parts.headers;
        keep_at_gateway(&mut headers, api);
        let mut forwarded = Some(peer.forwarded(&parts.uri));
        if chunked {
            // Said again after the hop-by-hop headers went: hyper sends no body of unknown length with a GET unless
            // the request says it is chunked.
            headers.insert(header::TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        }
        // A client must not pass a backend JWT of its own making.
        if let Some(name) = &self.cfg.backend_jwt_header {
            headers.remove(name);
        }
        if let Some((name, value)) = backend_jwt {
            headers.insert(name, value);
        }
        // The backend continues the trace from the gateway's upstream span: in the headers when policies or an
        // interceptor see them; else the pool adds it (the inline client writes it as it is, no `HeaderValue`).
        let mut traceparent = ex.trace.map(|t| t.upstream_traceparent());
        if mediation.is_some() {
            if let Some(tp) = traceparent.take() {
                headers.insert(TRACEPARENT, tp.header_value());
            }
            // Policies see (and may change) what the backend is told of the client.
            if let Some(f) = forwarded.take() {
                f.apply(&mut headers);
            }
        }
        let mut carry = crate::mediate::Carry::default();
        if let Some(m) = mediation {
            if m.plain_request() {
                m.request(&mut headers, &mut method, &mut path, &mut query);
            } else {
                // Body policies and interceptor calls: rare, so boxed (they would size every request's future).
                let out = crate::mediate::Outbound {
                    headers: &mut headers,
                    method: &mut method,
                    path: &mut path,
                    query: &mut query,
                    body: &mut body,
                };
                match Box::pin(crate::mediate::request(m, out, &self.upstream_tls, invocation)).await {
                    Ok(c) => carry = c,
                    Err(answer) => return Ok(answer),
                }
            }
        }
        // A request interceptor may send the request to another of the API's endpoints, by name.
        let group = match carry.dynamic_endpoint() {
            None => group,
            Some(name) => match api.named_endpoints.iter().find(|(n, _)| n == name) {
                Some((_, g)) => g.as_ref(),
                None => {
                    tracing::warn!(api = %api.name, endpoint = %name, "an interceptor chose an endpoint the API does not define");
                    let why =
                        format!("the interceptor service chose the endpoint `{name}`, which the API's x-wso2-endpoints do not define");
                    return Ok(crate::reply::fault(StatusCode::INTERNAL_SERVER_ERROR, 500, "Internal Server Error", &why));
                }
            },
        };
        // A body a policy read whole goes with its own length (and can be sent again when it is empty).
        let replayable = if matches!(body, RequestBody::Read(_)) { body_is_empty(&headers, &method) } else { replayable };
        // The client's body errors are told apart from the backend's: a malformed chunk is the client's 400.
        let mut body = Some(body.map_err(|e| -> BoxError { Box::new(ClientBodyError(e)) }).boxed());
        let last = group.len().saturating_sub(1);
        for (i, endpoint) in group.candidates().enumerate() {
            let Ok(uri) = endpoint.uri_for(&path, query.as_deref()) else {
                return Err(Reject::CannotConnect("the backend URL could not be formed"));
            };
            let b = match (replayable, body.take()) {
                (true, _) => http_body_util::Empty::new().map_err(|never| match never {}).boxed(),
                (false, Some(b)) => b,
                (false, None) => break,
            };
            let mut up = Request::new(b);
            *up.method_mut() = method.clone();
            *up.uri_mut() = uri;
            // Only a replayable request can need the headers again.
            *up.headers_mut() = if replayable && i < last { headers.clone() } else { std::mem::take(&mut headers) };
            // The first endpoint's deadline counts from the request's arrival (one clock read fewer); a next one,
            // after a failed connection, gets its whole timeout.
            let from = if i == 0 { started } else { Instant::now() };
            // One shared connector unless some backend has endpoint certificates of its own.
            let tls = if ex.snap.endpoint_trust.is_empty() {
                &self.upstream_tls
            } else {
                ex.snap.endpoint_trust.of(endpoint).map_or(&self.upstream_tls, |t| &t.both)
            };
            let sent = Instant::now();
            if self.exports.is_some() {
                ex.upstream_from_us.store(sent.saturating_duration_since(started).as_micros() as u64, std::sync::atomic::Ordering::Relaxed);
                let _ = ex.destination.set(endpoint.url.clone());
            }
            // Policies and response validation read or change the answer's headers.
            let form = if mediation.is_none() && validation.is_none() { ex.answer_headers } else { ResponseHeaders::Map };
            let sending = crate::pool::Sending { answer: form, traceparent: traceparent.as_ref(), host: endpoint.host_header(), forwarded };
            match endpoint.send_with(tls, up, from, sending).await {
                Ok(resp) => {
                    ex.backend_us.store(sent.elapsed().as_micros() as u64, std::sync::atomic::Ordering::Relaxed);
                    ex.target_status.store(resp.status().as_u16(), std::sync::atomic::Ordering::Relaxed);
                    endpoint.recovered();
                    let (mut p, mut b) = resp.into_parts();
                    // RFC 9112 §6.3: with a transfer coding the Content-Length is wrong; it must not reach the client.
                    if p.headers.contains_key(header::TRANSFER_ENCODING) {
                        p.headers.remove(header::CONTENT_LENGTH);
                    }
                    strip_hop_by_hop(&mut p.headers);
                    if let Some(m) = mediation {
                        if m.plain_response() {
                            m.response(&mut p.headers);
                        } else {
                            let carried = std::mem::take(&mut carry);
                            match Box::pin(crate::mediate::response(m, &mut p, b, &self.upstream_tls, invocation, carried)).await {
                                Ok(body) => b = body,
                                Err(answer) => return Ok(answer),
                            }
                        }
                    }
                    if let Some(schema) = validation.and_then(|v| v.response(p.status.as_u16()))
                        && is_json(&p.headers)
                    {
                        return Ok(Box::pin(validate_response(p, b, schema)).await);
                    }
                    return Ok(Response::from_parts(p, b));
                }
                Err(e @ crate::pool::PoolError::Connect(_)) => {
                    endpoint.suspend();
                    self.metrics.upstream_error("connect");
                    tracing::warn!(api = %api.name, endpoint = %endpoint.url, "cannot connect to the backend: {e}");
                    let rejected = Reject::CannotConnect("the backend refused or did not accept the connection");
                    // Nothing was sent: a request that can be sent again goes to the next endpoint.
                    if rejected.retryable() && replayable && i < last {
                        continue;
                    }
                    return Err(rejected);
                }
                Err(crate::pool::PoolError::Timeout) => {
                    self.metrics.upstream_error("timeout");
                    tracing::warn!(api = %api.name, endpoint = %endpoint.url, "backend did not answer within {:?}", endpoint.timeout);
                    return Err(Reject::BackendTimeout("the backend did not answer in time"));
                }
                Err(e) if from_client_body(&e) => {
                    tracing::debug!(api = %api.name, "the client's request body was malformed: {e}");
                    return Err(Reject::BadRequest("the request body is malformed (its chunked framing or length is wrong)".into()));
                }
                Err(e) => {
                    self.metrics.upstream_error("closed");
                    tracing::warn!(api = %api.name, endpoint = %endpoint.url, "backend failed: {e}");
                    return Err(Reject::BackendClosed("the backend closed the connection or sent an invalid response"));
                }
            }
        }
        Err(Reject::CannotConnect("no backend endpoint could be reached"))
    }

    /// A WebSocket handshake: forwarded on a connection of its own; on the backend's 101 both sides are upgraded
    /// and relayed (`ws::relay`), counting and throttling the client's frames.
    #[allow(clippy::too_many_arguments)]
    async fn forward_ws(
        self: &Arc<Self>,
        ex: &Exchange<'_>,
        mut req: Request<RequestBody>,
        api: &Api,
        group: &EndpointGroup,
        prefix_len: usize,
        checks: Vec<OwnedCheck>,
    ) -> Result<Response<Body>, Reject> {
        let peer = ex.peer;
        let client_upgrade = hyper::upgrade::on(&mut req);
        let (parts, _) = req.into_parts();
        let rest = parts.uri.path().get(prefix_len..).unwrap_or("");
        let query = without_params(parts.uri.query(), &["access_token", "apikey"]).unwrap_or_else(|| parts.uri.query().map(str::to_string));
        let mut headers = parts.headers;
        keep_at_gateway(&mut headers, api);
        peer.forwarded(&parts.uri).apply(&mut headers);
        headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        for endpoint in group.candidates() {
            let Ok(uri) = endpoint.uri_for(rest, query.as_deref()) else { break };
            let tls = ex.snap.endpoint_trust.of(endpoint).map_or(&self.upstream_tls_h1, |t| &t.h1);
            let mut sender = match endpoint.connect_upgradable(tls).await {
                Ok(s) => s,
                Err(e) => {
                    endpoint.suspend();
                    self.metrics.upstream_error("connect");
                    tracing::warn!(api = %api.name, endpoint = %endpoint.url, "cannot connect to the WebSocket backend: {e}");
                    continue;
                }
            };
            let mut up = Request::new(http_body_util::Empty::new().map_err(|never| match never {}).boxed());
            *up.uri_mut() = uri;
            *up.headers_mut() = headers.clone();
            if let Some(v) = endpoint.host_header() {
                up.headers_mut().insert(header::HOST, v.clone());
            }
            let mut resp = match tokio::time::timeout(endpoint.timeout, sender.send_request(up)).await {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => {
                    self.metrics.upstream_error("closed");
                    tracing::warn!(api = %api.name, endpoint = %endpoint.url, "WebSocket handshake failed: {e}");
                    return Err(Reject::BackendClosed("the WebSocket handshake failed"));
                }
                Err(_) => {
                    self.metrics.upstream_error("timeout");
                    return Err(Reject::BackendTimeout("the backend did not answer the handshake in time"));
                }
            };
            endpoint.recovered();
            if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
                let (p, b) = resp.into_parts();
                return Ok(Response::from_parts(p, b.map_err(Into::into).boxed()));
            }
            let backend_upgrade = hyper::upgrade::on(&mut resp);
            let mut answer = Response::new(reply::body(Bytes::new()));
            *answer.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
            *answer.headers_mut() = resp.headers().clone();
            let gw = self.clone();
            tokio::spawn(async move {
                match tokio::join!(client_upgrade, backend_upgrade) {
                    (Ok(c), Ok(b)) => {
                        let (c, b) = (hyper_util::rt::TokioIo::new(c), hyper_util::rt::TokioIo::new(b));
                        let admit = || {
                            let borrowed: Vec<Check<'_>> = checks
                                .iter()
                                .map(|c| Check { key: Cow::Borrowed(&c.key), limit: &c.limit, level: c.level, enforce: c.enforce })
                                .collect();
                            let refused = gw.counters.admit(&borrowed, 0, now_ms()).err()?;
                            gw.metrics.throttled(refused.level.as_str());
                            Some(refused.level.code())
                        };
                        crate::ws::relay(c, b, gw.cfg.idle_timeout, admit, || gw.metrics.idle_closed()).await;
                    }
                    (c, b) => tracing::debug!(client = c.is_ok(), backend = b.is_ok(), "WebSocket upgrade did not complete"),
                }
            });
            return Ok(answer);
        }
        Err(Reject::CannotConnect("no WebSocket backend endpoint could be reached"))
    }

    /// Answers a CORS preflight: 200 with the API's CORS headers (its own configuration, else `[apim.cors]`) when
    /// the origin is allowed; without them otherwise, which the browser takes as a refusal.
    fn preflight(&self, api: &Api, req: &Request<RequestBody>) -> Response<Body> {
        let mut resp = Response::new(reply::body(Bytes::new()));
        if let Some(origin) = req.headers().get(header::ORIGIN) {
            self.cors_headers(api, origin, resp.headers_mut());
        }
        resp
    }

    /// Adds `Access-Control-*` headers when CORS is on for `api` and `origin` is allowed; says whether it did.
    fn cors_headers(&self, api: &Api, origin: &HeaderValue, h: &mut HeaderMap) -> bool {
        let (origins, methods, headers, credentials) = match (&api.cors, &self.cfg.cors) {
            (Some(c), _) if c.enabled => (&c.origins, &c.methods, &c.headers, c.credentials),
            (Some(_), _) => return false,
            (None, Some(g)) => (&g.allow_origins, &g.allow_methods, &g.allow_headers, g.allow_credentials),
            (None, None) => return false,
        };
        let Ok(o) = origin.to_str() else { return false };
        let allowed = origins.iter().any(|x| x == "*" || x == o);
        if !allowed {
            return false;
        }
        let value = if origins.iter().any(|x| x == "*") && !credentials { HeaderValue::from_static("*") } else { origin.clone() };
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        if let Ok(v) = HeaderValue::from_str(&methods.join(",")) {
            h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, v);
        }
        if let Ok(v) = HeaderValue::from_str(&headers.join(",")) {
            h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v);
        }
        if credentials {
            h.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
        }
        h.append(header::VARY, HeaderValue::from_static("Origin"));
        true
    }
}

/// Removes what never reaches a backend: hop-by-hop headers and the caller's credentials (the client's address,
/// scheme and host are added later: `pool::Forwarded`).
fn keep_at_gateway(headers: &mut HeaderMap, api: &Api) {
    strip_hop_by_hop(headers);
    if let Some(name) = &api.auth_header {
        headers.remove(name);
    }
    if api.api_key {
        headers.remove(APIKEY);
    }
}

fn is_websocket_upgrade(req: &Request<RequestBody>) -> bool {
    req.method() == Method::GET
        && req.headers().get(header::UPGRADE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned()).filter(|v| !v.is_empty())
}

/// The query without the named parameters (credentials that stay at the gateway): `None` when it has none of
/// them (the query goes on as it is), `Some(None)` when nothing else is left.
fn without_params(query: Option<&str>, names: &[&str]) -> Option<Option<String>> {
    let q = query?;
    // Most queries carry no credential: a substring test spares the parse.
    if !names.iter().any(|n| q.contains(n)) {
        return None;
    }
    let pairs = || form_urlencoded::parse(q.as_bytes());
    if !pairs().any(|(k, _)| names.contains(&k.as_ref())) {
        return None;
    }
    let kept: Vec<(String, String)> =
        pairs().filter(|(k, _)| !names.contains(&k.as_ref())).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    if kept.is_empty() {
        return Some(None);
    }
    Some(Some(form_urlencoded::Serializer::new(String::new()).extend_pairs(kept).finish()))
}

/// An `X-Forwarded-For` hop: an address, possibly with a port (`1.2.3.4:5`, `[::1]:5`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>().ok().or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

/// A request's throttle checks: the usual ones (burst, subscription, application, the backend's) fit on the stack.
type Checks<'a> = smallvec::SmallVec<[Check<'a>; 4]>;

/// A throttle check the relay task owns.
struct OwnedCheck {
    key: String,
    limit: crate::snapshot::Limit,
    level: Level,
    enforce: bool,
}

/// Where a request goes: its API, the endpoints for its key type, where the resource path starts, and the
/// operation policies that change it on the way.
#[derive(Clone, Copy)]
struct Upstream<'a> {
    api: &'a Api,
    group: &'a EndpointGroup,
    prefix_len: usize,
    mediation: Option<&'a crate::snapshot::Mediation>,
    validation: Option<&'a crate::schema::OperationSchemas>,
    /// What interceptor services are told of the request (`invocation_context` in their `includes`).
    invocation: Option<&'a serde_json::Value>,
}

fn no_resource(req: &Request<RequestBody>) -> Reject {
    Reject::NoResource { method: req.method().as_str().to_string(), path: req.uri().path().to_string() }
}

fn is_json(h: &HeaderMap) -> bool {
    h.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|ct| {
        let media = ct.split(';').next().unwrap_or("").trim().as_bytes();
        media.eq_ignore_ascii_case(b"application/json") || (media.len() >= 5 && media[media.len() - 5..].eq_ignore_ascii_case(b"+json"))
    })
}

/// A JSON request body checked against its operation's schema before the backend sees it (WSO2: 400). A body
/// that is not JSON by its content type is left to the backend, as WSO2's validator does.
async fn validate_request(req: Request<RequestBody>, schema: &crate::schema::Schema) -> Result<Request<RequestBody>, Reject> {
    if !is_json(req.headers()) {
        return Ok(req);
    }
    let (parts, mut body) = req.into_parts();
    let bytes = match read_whole(&mut body).await {
        Ok(b) => b,
        Err(ReadWhole::TooLong) => return Err(Reject::TooLarge("a validated request body is at most 10 MiB")),
        Err(ReadWhole::Failed(_)) => {
            return Err(Reject::BadRequest("the request body is malformed (its chunked framing or length is wrong)".into()));
        }
    };
    schema.validate(&bytes).map_err(Reject::SchemaRequest)?;
    Ok(Request::from_parts(parts, RequestBody::Read(Some(bytes))))
}

/// A backend's JSON answer checked against the operation's schema for its status (WSO2: 500 when it fails).
async fn validate_response(parts: http::response::Parts, body: Body, schema: &crate::schema::Schema) -> Response<Body> {
    let fail = |why: String| Reject::SchemaResponse(why).render(now_ms());
    let mut body = body;
    let bytes = match read_whole(&mut body).await {
        Ok(b) => b,
        Err(ReadWhole::TooLong) => return fail("the backend's body is over 10 MiB".into()),
        Err(ReadWhole::Failed(e)) => return fail(format!("the backend's body could not be read whole: {e}")),
    };
    match schema.validate(&bytes) {
        Err(e) => fail(e),
        Ok(()) => Response::from_parts(parts, reply::body(bytes)),
    }
}

/// Why a request is refused before routing.
#[derive(Debug, thiserror::Error)]
enum BadRequest {
    #[error("the request has {0}; HTTP/1.1 needs exactly one")]
    Host(&'static str),
    #[error(transparent)]
    Target(crate::target::TargetError),
    #[error("the request target cannot be put in canonical form")]
    Unbuildable,
}

/// An error reading the client's request body (bad chunked framing, a body cut short).
#[derive(Debug)]
struct ClientBodyError(hyper::Error);

impl std::fmt::Display for ClientBodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "reading the client's body: {}", self.0)
    }
}

impl std::error::Error for ClientBodyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// Did the upstream call fail because the client's body did?
fn from_client_body(e: &crate::pool::PoolError) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = match e {
        crate::pool::PoolError::Request(e) => Some(e),
        crate::pool::PoolError::Body(e) => Some(&**e),
        _ => None,
    };
    while let Some(c) = cause {
        if c.is::<ClientBodyError>() {
            return true;
        }
        cause = c.source();
    }
    false
}

fn push_limit<'a>(checks: &mut Checks<'a>, p: &'a Policy, key: Cow<'a, str>, level: Level, enforce: bool) {
    if let Some(l) = &p.limit {
        checks.push(Check { key, limit: l, level, enforce });
    }
}

/// Does a request carry no body (so it can be sent again to another endpoint)?
fn body_is_empty(h: &HeaderMap, method: &Method) -> bool {
    let length = h.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).map(str::trim);
    !h.contains_key(header::TRANSFER_ENCODING)
        && (length == Some("0") || (length.is_none() && matches!(*method, Method::GET | Method::HEAD | Method::DELETE | Method::OPTIONS)))
}

fn condition_holds(c: &Condition, req: &Request<RequestBody>, ip: IpAddr, caller: &Caller<'_>) -> bool {
    let (hit, invert) = match c {
        Condition::Ip { from, to, invert } => (crate::snapshot::in_range(ip, *from, *to), *invert),
        Condition::Header { name, value, invert } => {
            (req.headers().get_all(name.as_str()).iter().filter_map(|v| v.to_str().ok()).any(|v| value.found_in(v)), *invert)
        }
        Condition::Query { name, value, invert } => {
            let q = req.uri().query().unwrap_or("");
            (form_urlencoded::parse(q.as_bytes()).any(|(k, v)| k == name.as_str() && value.found_in(&v)), *invert)
        }
        Condition::Claim { name, value, invert } => {
            let claim = caller.principal.as_ref().and_then(|p| p.claims.as_ref()).and_then(|c| c.get(name.as_str()));
            // A string claim is searched as text; a number or boolean claim as its JSON text.
            let hit = claim.is_some_and(|v| v.as_str().map_or_else(|| value.found_in(&v.to_string()), |s| value.found_in(s)));
            (hit, *invert)
        }
    };
    hit != invert
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 9110 §7.6.1: the hop-by-hop headers and those the `Connection` header names go; the others stay.
    #[test]
    fn hop_by_hop_headers_are_not_passed_on() {
        let mut h = HeaderMap::new();
        for (name, value) in [
            ("connection", "close, x-session"),
            ("keep-alive", "timeout=5"),
            ("proxy-connection", "keep-alive"),
            ("proxy-authorization", "Basic eA=="),
            ("te", "trailers"),
            ("trailer", "x-sum"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
            ("x-session", "1"),
            ("accept", "*/*"),
            ("x-keep", "2"),
        ] {
            h.append(HeaderName::from_static(name), HeaderValue::from_static(value));
        }
        strip_hop_by_hop(&mut h);
        let mut left: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        left.sort_unstable();
        assert_eq!(left, ["accept", "x-keep"]);
        let mut plain = HeaderMap::new();
        plain.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        strip_hop_by_hop(&mut plain);
        assert_eq!(plain.len(), 1);
    }
}
