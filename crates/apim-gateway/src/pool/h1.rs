//! An HTTP/1.1 client driven on the request's own task, for the gateway's commonest upstream call: a request
//! without a body to a plain-HTTP backend. hyper's client runs every connection as a task of its own reached
//! through channels (the request in, the response head back, the body in a third), about four task switches per
//! request; doing the exchange here instead took the gateway's CPU time per proxied request from about 20 µs to
//! about 17.5 µs in `bench/gateway.sh`. Everything else (request bodies, TLS, HTTP/2, WebSocket) stays on hyper
//! (`pool.rs`).
//!
//! Framing follows RFC 9112 §6.3: no body for HEAD, 1xx, 204 and 304; chunked when it is the last transfer
//! coding; `Content-Length` (differing values are refused); otherwise until the backend closes. A connection goes
//! back to its pool only after a complete response that did not ask to close it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http::Method;
use hyper::body::{Body as HttpBody, Frame};
use tokio::io::AsyncWrite;
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

use super::{Pool, PoolError};
use crate::body::{Body, BoxError};
use crate::http1::{Framing, MAX_HEAD, Step, parse_response, step};

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

/// Whether `send` can carry this request: no body (and so nothing lost if it must be sent again).
pub(crate) fn suits(req: &http::Request<Body>) -> bool {
    req.body().is_end_stream()
}

/// Sends a request without a body on `conn` and reads the response head; the body follows as the response's
/// body, and the connection returns to `pool` once it has been read.
pub(crate) async fn send(
    pool: &Arc<Pool>,
    mut conn: Conn,
    req: &http::Request<Body>,
    deadline: Instant,
) -> Result<http::Response<Body>, PoolError> {
    let mut head = std::mem::take(&mut conn.head);
    head.clear();
    encode(req, &mut head);
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
        match parse_response(&mut conn.buf, req.method()).map_err(|e| bad(e.0))? {
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

/// The request line and headers (origin form; names as `http` keeps them, lower case).
fn encode(req: &http::Request<Body>, out: &mut Vec<u8>) {
    out.extend_from_slice(req.method().as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(req.uri().path_and_query().map_or("/", |p| p.as_str()).as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in req.headers() {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    // A method whose requests usually carry a body says it has none.
    let bodiless_method = matches!(*req.method(), Method::GET | Method::HEAD | Method::DELETE | Method::OPTIONS | Method::TRACE);
    if !bodiless_method && !req.headers().contains_key(http::header::CONTENT_LENGTH) {
        out.extend_from_slice(b"content-length: 0\r\n");
    }
    out.extend_from_slice(b"\r\n");
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
