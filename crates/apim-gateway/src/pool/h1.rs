//! An HTTP/1.1 client driven on the request's own task, for the gateway's commonest upstream calls: a request
//! with no body, or a body of known length up to `MAX_INLINE_BODY`, to a plain-HTTP backend. hyper's client runs
//! every connection as a task of its own reached through channels (the request in, the response head back, the
//! body in a third), about four task switches per request; doing the exchange here instead took the gateway's CPU
//! time per proxied request from about 20 µs to about 17.5 µs in `bench/gateway.sh`, and what a 1 KiB POST costs
//! beyond a GET from 6–7 µs to 3–4. A short body is read whole before a connection is taken (as nginx buffers
//! request bodies) and goes in the same write as the head. Everything else (longer or chunked request bodies, TLS,
//! HTTP/2, WebSocket) stays on hyper (`pool.rs`).
//!
//! Framing follows RFC 9112 §6.3: no body for HEAD, 1xx, 204 and 304; chunked when it is the last transfer
//! coding; `Content-Length` (differing values are refused); otherwise until the backend closes. A connection goes
//! back to its pool only after a complete response that did not ask to close it.

use std::future::Future;
use std::io::Write as _;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http::{HeaderValue, Method};
use hyper::body::{Body as HttpBody, Frame};
use tokio::io::AsyncWrite;
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

use super::{Pool, PoolError};
use crate::body::{Body, BoxError};
use crate::http1::{Framing, MAX_HEAD, Step, parse_response, step};
use crate::trace::Traceparent;

const READ_SIZE: usize = 16 * 1024;

/// A kept-alive connection and what was read past the last response (nothing, from a well-behaved backend).
#[derive(Debug)]
pub(crate) struct Conn {
    tcp: TcpStream,
    buf: BytesMut,
    /// The request head being written, kept for the next request.
    head: Vec<u8>,
    /// One timer for the connection's life, for the requests' deadlines. It is moved only when it fires before
    /// the deadline of the request then waiting, so a request costs no timer registration of its own.
    timer: Pin<Box<Sleep>>,
}

impl Conn {
    pub(crate) fn new(tcp: TcpStream, deadline: Instant) -> Conn {
        Conn {
            tcp,
            buf: BytesMut::with_capacity(READ_SIZE),
            head: Vec::with_capacity(512),
            timer: Box::pin(tokio::time::sleep_until(deadline)),
        }
    }

    /// Polls `io` on this connection until it is ready or `deadline` has passed (`PoolError::Timeout`).
    async fn within<T>(
        &mut self,
        deadline: Instant,
        mut io: impl FnMut(&mut TcpStream, &mut BytesMut, &mut Context<'_>) -> Poll<T>,
    ) -> Result<T, PoolError> {
        std::future::poll_fn(|cx| {
            if let Poll::Ready(r) = io(&mut self.tcp, &mut self.buf, cx) {
                return Poll::Ready(Ok(r));
            }
            // Set for an earlier request, it may be later than this deadline only if the timeouts differ.
            if self.timer.deadline() > deadline {
                self.timer.as_mut().reset(deadline);
            }
            while self.timer.as_mut().poll(cx).is_ready() {
                if Instant::now() >= deadline {
                    return Poll::Ready(Err(PoolError::Timeout));
                }
                self.timer.as_mut().reset(deadline);
            }
            Poll::Pending
        })
        .await
    }

    /// Whether the backend closed (or wrote to) the connection while it sat idle. Looks at the readiness epoll
    /// already reported, so a healthy idle connection costs no system call.
    pub(crate) fn is_usable(&self) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        let mut cx = Context::from_waker(std::task::Waker::noop());
        match self.tcp.poll_read_ready(&mut cx) {
            Poll::Pending => true,
            Poll::Ready(Err(_)) => false,
            Poll::Ready(Ok(())) => {
                let mut probe = [0u8; 1];
                matches!(self.tcp.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
            }
        }
    }
}

#[derive(Debug)]
pub(crate) struct H1Error(String);

impl std::fmt::Display for H1Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for H1Error {}

fn bad(what: impl Into<String>) -> PoolError {
    PoolError::Backend(what.into())
}

/// Request bodies up to this long, of a length known in advance, go on this client.
pub(crate) const MAX_INLINE_BODY: u64 = 64 * 1024;

/// Whether `send` can carry this request: no body, or one of known length up to `MAX_INLINE_BODY` (read whole by
/// `read_body` first, so nothing is lost if it must be sent again).
pub(crate) fn suits(req: &http::Request<Body>) -> bool {
    let body = req.body();
    body.is_end_stream() || body.size_hint().exact().is_some_and(|n| n <= MAX_INLINE_BODY)
}

/// A body `suits` accepted, read whole before `deadline`. Trailer fields are dropped: HTTP/1.1 carries them only
/// in a chunked body, and a body of known length is not sent chunked (hyper's client drops them too).
pub(crate) async fn read_body(body: &mut Body, deadline: Instant) -> Result<Bytes, PoolError> {
    let mut first: Option<Bytes> = None;
    let mut more = BytesMut::new();
    loop {
        // Most short bodies are already here: the timer only for one that is not.
        let frame = match std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *body).poll_frame(cx))).await {
            Poll::Ready(frame) => frame,
            Poll::Pending => match tokio::time::timeout_at(deadline, http_body_util::BodyExt::frame(body)).await {
                Ok(frame) => frame,
                Err(_) => return Err(PoolError::Timeout),
            },
        };
        let Some(frame) = frame else { break };
        let Ok(data) = frame.map_err(PoolError::Body)?.into_data() else { continue };
        let have = first.as_ref().map_or(more.len(), Bytes::len);
        if (have + data.len()) as u64 > MAX_INLINE_BODY {
            // The length was known in advance: a body longer than it said is its own fault.
            return Err(PoolError::Body("the body is longer than its length".into()));
        }
        match first.take() {
            None if more.is_empty() => first = Some(data),
            None => more.extend_from_slice(&data),
            Some(f) => {
                more.extend_from_slice(&f);
                more.extend_from_slice(&data);
            }
        }
    }
    Ok(first.unwrap_or_else(|| more.freeze()))
}

/// Sends a request and its (whole, perhaps empty) body on `conn` and reads the response head; the response's
/// body follows as the response's body, and the connection returns to `pool` once it has been read.
pub(crate) async fn send(
    pool: &Arc<Pool>,
    mut conn: Conn,
    req: &http::request::Parts,
    body: &[u8],
    deadline: Instant,
    sending: super::Sending<'_>,
) -> Result<http::Response<Body>, PoolError> {
    let mut head = std::mem::take(&mut conn.head);
    head.clear();
    encode(req, body, &sending, &mut head);
    let mut written = 0;
    while written < head.len() {
        let n = conn
            .within(deadline, |tcp, _, cx| Pin::new(&mut *tcp).poll_write(cx, &head[written..]))
            .await?
            .map_err(|e| bad(format!("write: {e}")))?;
        if n == 0 {
            return Err(bad("write: the backend connection is closed"));
        }
        written += n;
    }
    conn.head = head;
    loop {
        match parse_response(&mut conn.buf, &req.method, sending.answer).map_err(|e| bad(e.0))? {
            Some((parts, framing, keep_alive)) => return Ok(respond(pool, conn, parts, framing, keep_alive)),
            None => {
                if conn.buf.len() >= MAX_HEAD {
                    return Err(bad("the backend's response head is larger than 64 KiB"));
                }
                conn.buf.reserve(READ_SIZE);
                let n = conn
                    .within(deadline, |tcp, buf, cx| {
                        // tokio's `read_buf` future holds only the two borrows, so polling a fresh one each time is fine.
                        std::pin::pin!(tokio::io::AsyncReadExt::read_buf(tcp, buf)).poll(cx)
                    })
                    .await?
                    .map_err(|e| bad(format!("read: {e}")))?;
                if n == 0 {
                    return Err(bad("the backend closed the connection before a complete response head"));
                }
            }
        }
    }
}

/// The request line, headers (origin form; names as `http` keeps them, lower case) and body. The framing is ours:
/// the body's own length, whatever `Content-Length` or `Transfer-Encoding` the request arrived with, and no
/// `Expect` (the body is here already). The headers `sending` sets replace the request's, as
/// [`super::Forwarded::apply`] and hyper's path do in the map.
fn encode(req: &http::request::Parts, body: &[u8], sending: &super::Sending<'_>, out: &mut Vec<u8>) {
    use super::{X_FORWARDED_FOR, X_FORWARDED_HOST, X_FORWARDED_PROTO};
    use http::header::{CONTENT_LENGTH, EXPECT, HOST, TRANSFER_ENCODING};
    let line = |out: &mut Vec<u8>, name: &[u8], value: &[u8]| {
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    };
    out.extend_from_slice(req.method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(req.uri.path_and_query().map_or("/", |p| p.as_str()).as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let (mut client_host, mut prior_for) = (None, None);
    for (name, value) in &req.headers {
        if name == CONTENT_LENGTH || name == TRANSFER_ENCODING || name == EXPECT {
            continue;
        }
        if sending.traceparent.is_some() && name == Traceparent::NAME {
            continue;
        }
        if sending.forwarded.is_some() {
            if name == HOST {
                client_host.get_or_insert(value);
                continue;
            }
            if name == X_FORWARDED_FOR {
                prior_for.get_or_insert(value);
                continue;
            }
            if name == X_FORWARDED_PROTO || name == X_FORWARDED_HOST {
                continue;
            }
        }
        if sending.host.is_some() && name == HOST {
            continue;
        }
        line(out, name.as_str().as_bytes(), value.as_bytes());
    }
    if let Some(tp) = sending.traceparent {
        line(out, b"traceparent", tp.as_bytes());
    }
    if let Some(host) = sending.host {
        line(out, b"host", host.as_bytes());
    }
    if let Some(f) = sending.forwarded {
        out.extend_from_slice(b"x-forwarded-for: ");
        if let Some(prior) = prior_for {
            out.extend_from_slice(prior.as_bytes());
            out.extend_from_slice(b", ");
        }
        out.extend_from_slice(f.peer.as_bytes());
        out.extend_from_slice(b"\r\n");
        line(out, b"x-forwarded-proto", f.proto().as_bytes());
        if let Some(host) = client_host.map(HeaderValue::as_bytes).or_else(|| f.authority.map(|a| a.as_str().as_bytes())) {
            line(out, b"x-forwarded-host", host);
        }
    }
    // A method whose requests usually carry a body says when it has none.
    let bodiless_method = matches!(req.method, Method::GET | Method::HEAD | Method::DELETE | Method::OPTIONS | Method::TRACE);
    if !body.is_empty() || !bodiless_method {
        // Writing to a `Vec` cannot fail.
        let _ = write!(out, "content-length: {}\r\n", body.len());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

/// The response with its body: whole when it is already read (the connection goes back at once), else read as
/// the client takes it.
fn respond(pool: &Arc<Pool>, mut conn: Conn, parts: http::response::Parts, framing: Framing, reusable: bool) -> http::Response<Body> {
    use http_body_util::BodyExt;
    let whole = match framing {
        Framing::Empty => Some(Bytes::new()),
        Framing::Length(n) if conn.buf.len() as u64 >= n => Some(conn.buf.split_to(n as usize).freeze()),
        _ => None,
    };
    if let Some(bytes) = whole {
        if reusable {
            pool.give_back_inline(conn);
        }
        let body = http_body_util::Full::new(bytes).map_err(|never| match never {}).boxed();
        return http::Response::from_parts(parts, body);
    }
    let body = Streaming { conn: Some(conn), framing, reusable, pool: pool.clone(), eof: false };
    http::Response::from_parts(parts, body.boxed())
}

/// A response body read from its connection as the client takes it.
struct Streaming {
    conn: Option<Conn>,
    framing: Framing,
    reusable: bool,
    pool: Arc<Pool>,
    eof: bool,
}

impl Streaming {
    /// The body has been read to its end: the connection goes back to its pool when it may be used again.
    fn finish(&mut self) {
        if let Some(conn) = self.conn.take()
            && self.reusable
            && !self.eof
        {
            self.pool.give_back_inline(conn);
        }
    }
}

impl HttpBody for Streaming {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        loop {
            let Some(conn) = this.conn.as_mut() else { return Poll::Ready(None) };
            match step(&mut this.framing, &mut conn.buf, this.eof) {
                Err(e) => {
                    this.conn = None;
                    return Poll::Ready(Some(Err(Box::new(e))));
                }
                Ok(Step::Data(b)) => {
                    // The last bytes of a sized body: hyper polls no further once `is_end_stream` says so, so the
                    // connection goes back now rather than at a `Done` that would never be asked for.
                    if this.framing == Framing::Length(0) {
                        this.finish();
                    }
                    return Poll::Ready(Some(Ok(Frame::data(b))));
                }
                Ok(Step::Done) => {
                    this.finish();
                    return Poll::Ready(None);
                }
                Ok(Step::More) => {
                    conn.buf.reserve(READ_SIZE);
                    // tokio's `read_buf` future holds only the two borrows, so polling a fresh one each time is fine.
                    let read = std::pin::pin!(tokio::io::AsyncReadExt::read_buf(&mut conn.tcp, &mut conn.buf));
                    let n = match read.poll(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Err(e)) => {
                            this.conn = None;
                            return Poll::Ready(Some(Err(Box::new(H1Error(format!("read: {e}"))))));
                        }
                        Poll::Ready(Ok(n)) => n,
                    };
                    if n == 0 {
                        this.eof = true;
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.conn.is_none() || matches!(self.framing, Framing::Empty | Framing::Length(0))
    }
}
