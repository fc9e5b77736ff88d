//! Keep-alive connections to one backend endpoint. Leaner than a general-purpose client: one idle list of
//! HTTP/1.1 connections per endpoint, a connection goes back to it when its response body has been read to the
//! end, and a connection whose body was abandoned is closed rather than reused. An HTTPS backend that picks
//! HTTP/2 by ALPN gets one multiplexed connection instead, shared by every request until it closes. Requests
//! without a body to plain-HTTP backends take `h1.rs` instead, with an idle list of its own.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

use http::uri::Scheme;
use http::{HeaderName, HeaderValue};
use hyper::body::{Body as HttpBody, Frame, Incoming};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::client::conn::http2;
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;

use crate::body::{Body, BoxError};
use crate::http1::ResponseHeaders;
use crate::trace::Traceparent;
use crate::worker::IdleList;

/// The inline HTTP/1.1 client for requests with no body or a short one: a child of the pool, which owns its
/// connections.
mod h1;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Idle connections kept per endpoint; more are closed when returned.
const MAX_IDLE: usize = 1024;

#[derive(Debug)]
pub enum PoolError {
    /// No connection could be made: nothing was sent, so the request may go elsewhere.
    Connect(String),
    /// The request was (possibly) sent and failed.
    Request(hyper::Error),
    /// The backend's answer was not HTTP/1.1, or the connection failed during the exchange (`h1.rs`).
    Backend(String),
    /// No response head before the deadline.
    Timeout,
    /// The request's own body failed while the gateway read it to send it (`h1.rs`): in the proxy, the client's.
    Body(BoxError),
}

impl std::fmt::Display for PoolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PoolError::Connect(e) => write!(f, "connect: {e}"),
            PoolError::Request(e) => write!(f, "{e}"),
            PoolError::Backend(e) => f.write_str(e),
            PoolError::Timeout => f.write_str("no response before the deadline"),
            PoolError::Body(e) => write!(f, "reading the request's body: {e}"),
        }
    }
}

#[derive(Debug)]
pub struct Pool {
    idle: IdleList<SendRequest<Body>>,
    /// The endpoint's HTTP/2 connection, when it negotiated one.
    h2: Mutex<Option<http2::SendRequest<Body>>>,
    /// Idle connections of the inline HTTP/1.1 client (`h1.rs`), for requests with no body or a short one to plain
    /// HTTP.
    inline: IdleList<h1::Conn>,
    /// Moves when the endpoint's TLS trust changes ([`Pool::reset`]): a TLS connection made before is not kept.
    epoch: std::sync::atomic::AtomicU64,
    /// How long a new connection (TCP, then TLS) may take; `None`: [`CONNECT_TIMEOUT`].
    connect_timeout: Option<Duration>,
}

/// A new connection: HTTP/1.1, or HTTP/2 when the TLS handshake chose `h2`.
pub(crate) enum Conn {
    H1(SendRequest<Body>),
    H2(http2::SendRequest<Body>),
}

impl Default for Pool {
    fn default() -> Pool {
        Pool {
            idle: IdleList::new(MAX_IDLE),
            h2: Mutex::default(),
            inline: IdleList::new(MAX_IDLE),
            epoch: std::sync::atomic::AtomicU64::default(),
            connect_timeout: None,
        }
    }
}

impl Pool {
    /// A pool whose new connections must be made within `connect_timeout` (an interceptor's `clusterTimeout`).
    pub(crate) fn with_connect_timeout(connect_timeout: Option<Duration>) -> Pool {
        Pool { connect_timeout, ..Pool::default() }
    }

    pub(crate) fn connect_timeout(&self) -> Duration {
        self.connect_timeout.unwrap_or(CONNECT_TIMEOUT)
    }

    fn h2(&self) -> Option<http2::SendRequest<Body>> {
        let mut slot = self.h2.lock().ok()?;
        match slot.as_ref() {
            Some(s) if !s.is_closed() => Some(s.clone()),
            Some(_) => {
                *slot = None;
                None
            }
            None => None,
        }
    }

    fn take(&self) -> Option<SendRequest<Body>> {
        self.idle.take(|s| !s.is_closed())
    }

    /// Drops every kept connection: the endpoint's trust changed (an endpoint certificate came or went), so a
    /// connection verified under the old one must not serve another request. One in flight is not kept either.
    pub(crate) fn reset(&self) {
        self.epoch.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.idle.clear();
        if let Ok(mut h2) = self.h2.lock() {
            *h2 = None;
        }
        self.inline.clear();
    }

    fn give_back(&self, s: SendRequest<Body>, epoch: u64) {
        if s.is_closed() || epoch != self.epoch.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        self.idle.put(s);
    }

    pub(crate) fn give_back_inline(&self, c: h1::Conn) {
        self.inline.put(c);
    }

    fn take_inline(&self) -> Option<h1::Conn> {
        self.inline.take(h1::Conn::is_usable)
    }

    /// A request with no body or a short one to a plain-HTTP backend, on this task (`h1.rs`); the body is read
    /// whole first. A kept-alive connection the backend closed meanwhile fails before any answer; an idempotent
    /// request then goes once more on a new one.
    async fn send_inline(
        self: &Arc<Self>,
        host: &str,
        port: u16,
        req: http::Request<Body>,
        deadline: Instant,
        sending: Sending<'_>,
    ) -> Result<http::Response<Body>, PoolError> {
        let (req, mut body) = req.into_parts();
        let body = if body.is_end_stream() { bytes::Bytes::new() } else { h1::read_body(&mut body, deadline).await? };
        // One call site of `h1::send` (each would take its own room in every request's future), and connecting
        // boxed with its timer: rare, and large.
        let mut kept = self.take_inline();
        loop {
            let fresh = kept.is_none();
            let conn = match kept.take() {
                Some(conn) => conn,
                None => {
                    let tcp = Box::pin(tokio::time::timeout_at(deadline, tcp_connect(host, port, self.connect_timeout())))
                        .await
                        .map_err(|_| PoolError::Timeout)??;
                    h1::Conn::new(tcp, deadline)
                }
            };
            match h1::send(self, conn, &req, &body, deadline, sending).await {
                Ok(resp) => return Ok(resp),
                Err(e @ PoolError::Timeout) => return Err(e),
                Err(e) if fresh || !req.method.is_idempotent() => return Err(e),
                Err(e) => tracing::debug!("kept-alive backend connection failed ({e}); trying a new one"),
            }
        }
    }

    /// Sends `req` on the HTTP/2 connection, an idle connection or a new one; an HTTP/1.1 response body
    /// returns its connection when done. `PoolError::Timeout` when no response head came before `deadline`.
    pub async fn send(
        self: &Arc<Self>,
        to: Address<'_>,
        tls: &tokio_rustls::TlsConnector,
        mut req: http::Request<Body>,
        deadline: Instant,
        sending: Sending<'_>,
    ) -> Result<http::Response<Body>, PoolError> {
        let Address { scheme, authority, host, port } = to;
        // (HTTP/2 is only ever chosen by a TLS handshake.)
        if *scheme == Scheme::HTTP && h1::suits(&req) {
            // The inline client keeps its deadline with one timer per connection (`h1.rs`); hyper's client and
            // HTTP/2 always give a map.
            return self.send_inline(host, port, req, deadline, sending).await;
        }
        if let Some(tp) = sending.traceparent {
            req.headers_mut().insert(Traceparent::NAME, tp.header_value());
        }
        if let Some(f) = sending.forwarded {
            f.apply(req.headers_mut());
        }
        if let Some(host) = sending.host {
            req.headers_mut().insert(http::header::HOST, host.clone());
        }
        // Everything else is boxed: its state would otherwise sit in (and be copied with) every request's future.
        match Box::pin(tokio::time::timeout_at(deadline, self.send_hyper(scheme, authority, (host, port), tls, req))).await {
            Ok(r) => r,
            Err(_) => Err(PoolError::Timeout),
        }
    }

    async fn send_hyper(
        self: &Arc<Self>,
        scheme: &Scheme,
        authority: &http::uri::Authority,
        (host, port): (&str, u16),
        tls: &tokio_rustls::TlsConnector,
        req: http::Request<Body>,
    ) -> Result<http::Response<Body>, PoolError> {
        if let Some(h2) = self.h2() {
            return send_h2(h2, scheme, authority, req).await;
        }
        let epoch = self.epoch.load(std::sync::atomic::Ordering::Relaxed);
        let mut sender = match self.take() {
            Some(mut s) => {
                // A connection is ready again once its previous response has been read; that is at most a poll away.
                match s.ready().await {
                    Ok(()) => s,
                    Err(_) => match connect(scheme, host, port, tls, false, self.connect_timeout()).await? {
                        Conn::H1(s) => s,
                        Conn::H2(s) => return self.first_h2(s, scheme, authority, req, epoch).await,
                    },
                }
            }
            None => match connect(scheme, host, port, tls, false, self.connect_timeout()).await? {
                Conn::H1(s) => s,
                Conn::H2(s) => return self.first_h2(s, scheme, authority, req, epoch).await,
            },
        };
        let resp = sender.send_request(req).await.map_err(PoolError::Request)?;
        let (parts, body) = resp.into_parts();
        if body.is_end_stream() {
            self.give_back(sender, epoch);
            return Ok(http::Response::from_parts(
                parts,
                http_body_util::BodyExt::boxed(http_body_util::BodyExt::map_err(body, Into::into)),
            ));
        }
        let body = Returning { inner: body, sender: Some(sender), pool: self.clone(), epoch };
        Ok(http::Response::from_parts(parts, http_body_util::BodyExt::boxed(body)))
    }

    /// Keeps a new HTTP/2 connection for the requests after this one.
    async fn first_h2(
        &self,
        s: http2::SendRequest<Body>,
        scheme: &Scheme,
        authority: &http::uri::Authority,
        req: http::Request<Body>,
        epoch: u64,
    ) -> Result<http::Response<Body>, PoolError> {
        if let Ok(mut slot) = self.h2.lock()
            && epoch == self.epoch.load(std::sync::atomic::Ordering::Relaxed)
        {
            *slot = Some(s.clone());
        }
        send_h2(s, scheme, authority, req).await
    }
}

/// HTTP/2 wants the target in absolute form (`:scheme`, `:authority`) and no `Host` header.
async fn send_h2(
    mut s: http2::SendRequest<Body>,
    scheme: &Scheme,
    authority: &http::uri::Authority,
    mut req: http::Request<Body>,
) -> Result<http::Response<Body>, PoolError> {
    let pq = req.uri().path_and_query().cloned();
    let mut uri = http::Uri::builder().scheme(scheme.clone()).authority(authority.clone());
    if let Some(pq) = pq {
        uri = uri.path_and_query(pq);
    }
    *req.uri_mut() = uri.build().map_err(|e| PoolError::Connect(format!("request target: {e}")))?;
    *req.version_mut() = http::Version::HTTP_2;
    req.headers_mut().remove(http::header::HOST);
    s.ready().await.map_err(PoolError::Request)?;
    let resp = s.send_request(req).await.map_err(PoolError::Request)?;
    Ok(resp.map(|b| http_body_util::BodyExt::boxed(http_body_util::BodyExt::map_err(b, Into::into))))
}

async fn tcp_connect(host: &str, port: u16, within: Duration) -> Result<tokio::net::TcpStream, PoolError> {
    let tcp = tokio::time::timeout(within, tokio::net::TcpStream::connect((host, port)))
        .await
        .map_err(|_| PoolError::Connect(format!("{host}:{port}: connect timed out")))?
        .map_err(|e| PoolError::Connect(format!("{host}:{port}: {e}")))?;
    let _ = tcp.set_nodelay(true);
    Ok(tcp)
}

/// Where a pool's requests go: its endpoint's scheme, authority (HTTP/2's `:authority`), host and port.
#[derive(Clone, Copy)]
pub(crate) struct Address<'a> {
    pub scheme: &'a Scheme,
    pub authority: &'a http::uri::Authority,
    pub host: &'a str,
    pub port: u16,
}

/// How a request goes: what its answer's headers come back as, and the headers the gateway sets in place of the
/// client's, which the inline client writes into the head as it copies the others and hyper's path puts in the
/// map (inserting into a map and removing from it was a twentieth of a request's instructions).
#[derive(Clone, Copy)]
pub struct Sending<'a> {
    pub answer: ResponseHeaders,
    pub traceparent: Option<&'a Traceparent>,
    /// The backend's `Host`.
    pub host: Option<&'a HeaderValue>,
    /// When the request's headers do not have them yet.
    pub forwarded: Option<Forwarded<'a>>,
}

impl Sending<'_> {
    /// The answer's headers in a map, the request's headers as they are.
    pub const PLAIN: Sending<'static> = Sending { answer: ResponseHeaders::Map, traceparent: None, host: None, forwarded: None };
}

pub(crate) const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// What the gateway tells a backend of its client, in place of what the client says: `X-Forwarded-For` (the
/// client's first value, if any, with this hop appended), `X-Forwarded-Proto`, and `X-Forwarded-Host` (the
/// client's `Host`, which does not go on, or else its `:authority`).
#[derive(Clone, Copy)]
pub struct Forwarded<'a> {
    /// This hop's client, as `X-Forwarded-For` names it.
    pub peer: &'a HeaderValue,
    pub https: bool,
    /// The request's `:authority` (HTTP/2 has no `Host`).
    pub authority: Option<&'a http::uri::Authority>,
}

impl Forwarded<'_> {
    fn proto(&self) -> &'static str {
        if self.https { "https" } else { "http" }
    }

    /// Puts them in `headers`, as the inline client writes them.
    pub fn apply(&self, headers: &mut http::HeaderMap) {
        let host = headers.remove(http::header::HOST).or_else(|| self.authority.and_then(|a| HeaderValue::from_str(a.as_str()).ok()));
        let xff = match headers.get(X_FORWARDED_FOR) {
            Some(prior) => {
                let mut v = Vec::with_capacity(prior.len() + 2 + self.peer.len());
                v.extend_from_slice(prior.as_bytes());
                v.extend_from_slice(b", ");
                v.extend_from_slice(self.peer.as_bytes());
                HeaderValue::from_bytes(&v).unwrap_or_else(|_| self.peer.clone())
            }
            None => self.peer.clone(),
        };
        headers.insert(X_FORWARDED_FOR, xff);
        headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(self.proto()));
        match host {
            Some(h) => drop(headers.insert(X_FORWARDED_HOST, h)),
            None => drop(headers.remove(X_FORWARDED_HOST)),
        }
    }
}

/// A new connection within `within`; `upgrades`: HTTP/1.1 able to switch protocols (the caller's TLS connector
/// then offers no `h2`), else HTTP/2 when the backend's TLS handshake picks it.
pub(crate) async fn connect(
    scheme: &Scheme,
    host: &str,
    port: u16,
    tls: &tokio_rustls::TlsConnector,
    upgrades: bool,
    within: Duration,
) -> Result<Conn, PoolError> {
    // `within` covers both steps: the TCP connection, then the TLS handshake.
    let started = tokio::time::Instant::now();
    let tcp = tcp_connect(host, port, within).await?;
    if *scheme == Scheme::HTTPS {
        let name = ServerName::try_from(host.to_string()).map_err(|e| PoolError::Connect(format!("{host}: {e}")))?;
        let stream = tokio::time::timeout_at(started + within, tls.connect(name, tcp))
            .await
            .map_err(|_| PoolError::Connect(format!("{host}:{port}: TLS handshake timed out")))?
            .map_err(|e| PoolError::Connect(format!("{host}:{port}: TLS: {e}")))?;
        if !upgrades && stream.get_ref().1.alpn_protocol() == Some(b"h2") {
            let (sender, conn) = http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                .timer(hyper_util::rt::TokioTimer::new())
                .keep_alive_interval(Duration::from_secs(30))
                .handshake(TokioIo::new(stream))
                .await
                .map_err(|e| PoolError::Connect(e.to_string()))?;
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!("backend HTTP/2 connection ended: {e}");
                }
            });
            return Ok(Conn::H2(sender));
        }
        handshake(TokioIo::new(stream), upgrades).await.map(Conn::H1)
    } else {
        handshake(TokioIo::new(tcp), upgrades).await.map(Conn::H1)
    }
}

async fn handshake<T>(io: T, upgrades: bool) -> Result<SendRequest<Body>, PoolError>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (sender, conn) = http1::Builder::new().handshake(io).await.map_err(|e| PoolError::Connect(e.to_string()))?;
    if upgrades {
        tokio::spawn(async move {
            if let Err(e) = conn.with_upgrades().await {
                tracing::debug!("backend connection ended: {e}");
            }
        });
    } else {
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!("backend connection ended: {e}");
            }
        });
    }
    Ok(sender)
}

/// A response body that hands its connection back to the pool once read to the end.
struct Returning {
    inner: Incoming,
    sender: Option<SendRequest<Body>>,
    pool: Arc<Pool>,
    /// The pool's epoch when the connection was taken or made.
    epoch: u64,
}

impl HttpBody for Returning {
    type Data = hyper::body::Bytes;
    type Error = crate::body::BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        // The server stops polling once `is_end_stream` says so, so the end is noticed after the last frame too.
        let done = matches!(polled, Poll::Ready(None)) || (matches!(polled, Poll::Ready(Some(Ok(_)))) && self.inner.is_end_stream());
        if done && let Some(s) = self.sender.take() {
            self.pool.give_back(s, self.epoch);
        }
        polled.map(|frame| frame.map(|r| r.map_err(Into::into)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// A TLS connector that trusts no certificate: for tests whose backends speak plain HTTP.
#[cfg(test)]
pub(crate) fn trusting_nobody() -> tokio_rustls::TlsConnector {
    tokio_rustls::TlsConnector::from(Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth(),
    ))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use http_body_util::BodyExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A backend that answers `GET /wait/<ms>` after that many milliseconds, counting the connections it accepts.
    async fn slow_backend() -> (std::net::SocketAddr, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    loop {
                        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                            match tcp.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                            continue;
                        };
                        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                        buf.drain(..end + 4);
                        let ms: u64 =
                            head.split(' ').nth(1).and_then(|p| p.strip_prefix("/wait/")).and_then(|m| m.parse().ok()).unwrap_or(0);
                        tokio::time::sleep(Duration::from_millis(ms)).await;
                        if tcp.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (addr, accepted)
    }

    /// A backend that answers each request with the request it read (head and `Content-Length` body) as its
    /// body, then closes the connection without saying so: a kept-alive connection gone stale.
    async fn echo_once_backend() -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    let end = loop {
                        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break end + 4;
                        }
                        match tcp.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                    let length: usize =
                        head.lines().find_map(|l| l.strip_prefix("content-length: ")).and_then(|n| n.trim().parse().ok()).unwrap_or(0);
                    while buf.len() < end + length {
                        match tcp.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let mut answer = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", buf.len()).into_bytes();
                    answer.extend_from_slice(&buf);
                    let _ = tcp.write_all(&answer).await;
                });
            }
        });
        addr
    }

    fn with_body(method: http::Method, body: Body) -> http::Request<Body> {
        let mut req = http::Request::new(body);
        *req.method_mut() = method;
        *req.uri_mut() = "/echo".parse().expect("path");
        req
    }

    /// A body that gives a part and then fails, or one that never comes.
    enum TestBody {
        CutShort(bool),
        Silent,
    }

    impl HttpBody for TestBody {
        type Data = bytes::Bytes;
        type Error = BoxError;
        fn poll_frame(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<bytes::Bytes>, BoxError>>> {
            match self.get_mut() {
                TestBody::CutShort(sent) if !*sent => {
                    *sent = true;
                    Poll::Ready(Some(Ok(Frame::data(bytes::Bytes::from_static(b"part")))))
                }
                TestBody::CutShort(_) => Poll::Ready(Some(Err("cut short".into()))),
                TestBody::Silent => Poll::Pending,
            }
        }
    }

    fn full(bytes: Vec<u8>) -> Body {
        http_body_util::Full::new(bytes::Bytes::from(bytes)).map_err(|never| match never {}).boxed()
    }

    /// Short bodies of known length go on the inline client, whole and in one piece with their own length
    /// (whatever framing the request came with, and no `Expect`), again on a new connection when a kept-alive one
    /// was gone; longer ones and those of unknown length stay on hyper's; a body that fails is the body's error.
    #[tokio::test]
    async fn short_bodies_go_inline_with_their_own_framing() {
        let addr = echo_once_backend().await;
        let pool = Arc::new(Pool::default());
        let deadline = || Instant::now() + Duration::from_secs(5);
        let body: Vec<u8> = (0..1024u32).map(|i| b'a' + (i % 26) as u8).collect();
        assert!(h1::suits(&with_body(http::Method::POST, full(body.clone()))));
        assert!(h1::suits(&with_body(http::Method::POST, full(vec![b'x'; 64 * 1024]))));
        assert!(!h1::suits(&with_body(http::Method::POST, full(vec![b'x'; 64 * 1024 + 1]))));
        let unknown = crate::body::with_trailers(bytes::Bytes::from_static(b"x"), http::HeaderMap::new());
        assert!(!h1::suits(&with_body(http::Method::POST, unknown)));
        for method in [http::Method::POST, http::Method::PUT, http::Method::PUT] {
            let mut req = with_body(method.clone(), full(body.clone()));
            req.headers_mut().insert(http::header::CONTENT_LENGTH, http::HeaderValue::from_static("7"));
            req.headers_mut().insert(http::header::EXPECT, http::HeaderValue::from_static("100-continue"));
            req.headers_mut().insert(http::header::TRANSFER_ENCODING, http::HeaderValue::from_static("chunked"));
            let resp = pool.send_inline("127.0.0.1", addr.port(), req, deadline(), Sending::PLAIN).await.expect("answered");
            let seen = resp.into_body().collect().await.expect("body").to_bytes();
            let text = String::from_utf8_lossy(&seen).to_ascii_lowercase();
            assert!(text.starts_with(&format!("{method} /echo http/1.1\r\n").to_ascii_lowercase()), "{text}");
            assert!(text.contains("content-length: 1024\r\n") && !text.contains("content-length: 7"), "{text}");
            assert!(!text.contains("expect:") && !text.contains("transfer-encoding:"), "{text}");
            assert!(seen.ends_with(&body), "the body whole, after the head");
        }
        // A body that fails while it is read: the request's body is to blame, not the backend.
        let mut body = TestBody::CutShort(false).boxed();
        let e = h1::read_body(&mut body, deadline()).await.expect_err("cut short");
        assert!(matches!(&e, PoolError::Body(b) if b.to_string() == "cut short"), "{e:?}");
        // A body that does not come in time: the deadline's.
        let mut silent = TestBody::Silent.boxed();
        let late = h1::read_body(&mut silent, Instant::now() + Duration::from_millis(50)).await;
        assert!(matches!(late, Err(PoolError::Timeout)), "{late:?}");
    }

    /// A pool in front of a backend that answers with the request it got, as it got it.
    struct Echo {
        pool: Arc<Pool>,
        tls: tokio_rustls::TlsConnector,
        authority: http::uri::Authority,
    }

    impl Echo {
        async fn new() -> Echo {
            let addr = echo_once_backend().await;
            Echo { pool: Arc::new(Pool::default()), tls: trusting_nobody(), authority: addr.to_string().parse().expect("authority") }
        }

        /// What the backend got, in lower case.
        async fn send(&self, req: http::Request<Body>, sending: Sending<'_>) -> String {
            let port = self.authority.port_u16().unwrap_or(80);
            let to = Address { scheme: &Scheme::HTTP, authority: &self.authority, host: "127.0.0.1", port };
            let resp = self.pool.send(to, &self.tls, req, Instant::now() + Duration::from_secs(5), sending).await.expect("answered");
            let seen = resp.into_body().collect().await.expect("body").to_bytes();
            String::from_utf8_lossy(&seen).to_ascii_lowercase()
        }
    }

    /// The gateway's `traceparent` replaces the client's on both clients: written into the inline client's head
    /// as it is, put in the map on hyper's path (a body longer than the inline client takes). Without one, the
    /// client's goes on.
    #[tokio::test]
    async fn the_gateways_traceparent_replaces_the_clients() {
        let echo = Echo::new().await;
        let ids = crate::trace::TraceIds::for_request(Some(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), 1.0);
        let ours = ids.upstream_traceparent();
        let ours_text = String::from_utf8_lossy(ours.as_bytes()).into_owned();
        let client = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        for (body, traceparent, want) in [
            (Vec::new(), Some(&ours), ours_text.as_str()),
            (vec![b'x'; 64 * 1024 + 1], Some(&ours), ours_text.as_str()),
            (Vec::new(), None, client),
        ] {
            let long = body.len() > 64 * 1024;
            let mut req = with_body(if long { http::Method::POST } else { http::Method::GET }, full(body));
            req.headers_mut().insert("traceparent", http::HeaderValue::from_static(client));
            req.headers_mut().insert("x-kept", http::HeaderValue::from_static("yes"));
            assert_eq!(h1::suits(&req), !long);
            let text = echo.send(req, Sending { traceparent, ..Sending::PLAIN }).await;
            let lines: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("traceparent: ")).collect();
            assert_eq!(lines, [want], "long body: {long}; {text}");
            assert!(text.contains("x-kept: yes\r\n"), "{text}");
        }
    }

    /// `Host` and `X-Forwarded-*` are the gateway's on both clients, whatever the client sent: the inline client
    /// writes them into the head, hyper's path puts them in the map, and the backend hears the same from each.
    #[tokio::test]
    async fn the_gateways_host_and_forwarded_headers_replace_the_clients() {
        let echo = Echo::new().await;
        let (backend, peer) = (http::HeaderValue::from_static("backend.internal"), http::HeaderValue::from_static("192.0.2.9"));
        let client_authority: http::uri::Authority = "shop.example:8243".parse().expect("authority");
        // What the client sends, over HTTPS?, its :authority, and the lines the backend must get.
        type Case<'a> = (&'static [(&'static str, &'static str)], bool, Option<&'a http::uri::Authority>, &'static [&'static str]);
        let cases: [Case<'_>; 4] = [
            (
                &[
                    ("host", "shop.example"),
                    ("x-forwarded-for", "203.0.113.7"),
                    ("x-forwarded-proto", "https"),
                    ("x-forwarded-host", "evil"),
                ],
                false,
                None,
                &[
                    "host: backend.internal",
                    "x-forwarded-for: 203.0.113.7, 192.0.2.9",
                    "x-forwarded-proto: http",
                    "x-forwarded-host: shop.example",
                ],
            ),
            // Two X-Forwarded-For lines: the first goes on, with this hop.
            (
                &[("host", "shop.example"), ("x-forwarded-for", "203.0.113.7"), ("x-forwarded-for", "10.0.0.1")],
                true,
                None,
                &[
                    "host: backend.internal",
                    "x-forwarded-for: 203.0.113.7, 192.0.2.9",
                    "x-forwarded-proto: https",
                    "x-forwarded-host: shop.example",
                ],
            ),
            // HTTP/2: no Host, an :authority.
            (
                &[],
                false,
                Some(&client_authority),
                &["host: backend.internal", "x-forwarded-for: 192.0.2.9", "x-forwarded-proto: http", "x-forwarded-host: shop.example:8243"],
            ),
            // Neither: a client's X-Forwarded-Host does not pass for one.
            (
                &[("x-forwarded-host", "evil")],
                false,
                None,
                &["host: backend.internal", "x-forwarded-for: 192.0.2.9", "x-forwarded-proto: http"],
            ),
        ];
        for (sent, https, authority, want) in cases {
            for long in [false, true] {
                let body = if long { vec![b'x'; 64 * 1024 + 1] } else { Vec::new() };
                let mut req = with_body(if long { http::Method::POST } else { http::Method::GET }, full(body));
                for (name, value) in sent {
                    req.headers_mut().append(*name, http::HeaderValue::from_static(value));
                }
                req.headers_mut().insert("x-kept", http::HeaderValue::from_static("yes"));
                assert_eq!(h1::suits(&req), !long);
                let forwarded = Forwarded { peer: &peer, https, authority };
                let sending = Sending { host: Some(&backend), forwarded: Some(forwarded), ..Sending::PLAIN };
                let text = echo.send(req, sending).await;
                let head = text.split("\r\n\r\n").next().unwrap_or_default();
                let mut got: Vec<&str> = head.lines().filter(|l| l.starts_with("host:") || l.starts_with("x-forwarded-")).collect();
                got.sort_unstable();
                let mut want = want.to_vec();
                want.sort_unstable();
                assert_eq!(got, want, "long body: {long}; {text}");
                assert!(head.contains("x-kept: yes"), "{text}");
            }
        }
    }

    fn get(path: &str) -> http::Request<Body> {
        let mut req = http::Request::new(http_body_util::Empty::new().map_err(|never| match never {}).boxed());
        *req.uri_mut() = path.parse().expect("path");
        req
    }

    /// One timer per connection: requests on one kept-alive connection that take longer than the timeout in all,
    /// each within it, all succeed; one slower than its deadline fails with `Timeout` at about the deadline.
    #[tokio::test]
    async fn the_inline_client_keeps_each_requests_deadline() {
        let (addr, accepted) = slow_backend().await;
        let pool = Arc::new(Pool::default());
        let timeout = Duration::from_millis(300);
        for _ in 0..4 {
            let resp = pool
                .send_inline("127.0.0.1", addr.port(), get("/wait/150"), Instant::now() + timeout, Sending::PLAIN)
                .await
                .expect("in time");
            let body = resp.into_body().collect().await.expect("body").to_bytes();
            assert_eq!(&body[..], b"ok");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1, "one kept-alive connection");
        // The backend answers after 1 s: a `Timeout` is the deadline's doing, and it never fires early.
        let started = Instant::now();
        let late = pool.send_inline("127.0.0.1", addr.port(), get("/wait/1000"), Instant::now() + timeout, Sending::PLAIN).await;
        assert!(matches!(late, Err(PoolError::Timeout)), "{late:?}");
        assert!(started.elapsed() >= timeout, "{:?}", started.elapsed());
        // The timed-out connection is not reused: the next request gets a new one and its own deadline.
        let resp = pool
            .send_inline("127.0.0.1", addr.port(), get("/wait/0"), Instant::now() + timeout, Sending::PLAIN)
            .await
            .expect("new connection");
        assert_eq!(resp.status(), 200);
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }
}
