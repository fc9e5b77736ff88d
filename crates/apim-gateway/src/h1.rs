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

use bytes::{Buf, Bytes, BytesMut};
use http::{Method, StatusCode};
use hyper::body::{Body as HttpBody, Frame};
use tokio::io::AsyncWrite;
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

use crate::pool::{Pool, PoolError};
use crate::proxy::{Body, BoxError};

/// A response head larger than this is refused (the traffic listeners' own limit).
const MAX_HEAD: usize = 64 * 1024;
/// Headers a response head may have.
const MAX_HEADERS: usize = 128;
/// Chunk-size lines and trailers are short; anything longer is not HTTP.
const MAX_LINE: usize = 4096;
const MAX_TRAILERS: usize = 64 * 1024;
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
        match parse_head(&mut conn.buf, req.method())? {
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

#[derive(Debug, Clone, Copy, PartialEq)]
enum Framing {
    Empty,
    Length(u64),
    Chunked(Chunk),
    UntilClose,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Chunk {
    Size,
    Data(u64),
    DataEnd,
    Trailers(usize),
}

/// Parses one complete response head off the front of `buf` (skipping 1xx interim responses): `None` when more
/// bytes are needed.
fn parse_head(buf: &mut BytesMut, method: &Method) -> Result<Option<(http::response::Parts, Framing, bool)>, PoolError> {
    loop {
        // Uninitialised slots: setting up an array of empty headers would cost as much as parsing a small head.
        let mut slots = [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
        let mut res = httparse::Response::new(&mut []);
        let len = match httparse::ParserConfig::default().parse_response_with_uninit_headers(&mut res, buf, &mut slots) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(e) => return Err(bad(format!("the backend's response is not HTTP/1.1: {e}"))),
        };
        let code = res.code.unwrap_or(0);
        let status = StatusCode::from_u16(code).map_err(|_| bad(format!("status {code}")))?;
        if status.is_informational() {
            if status == StatusCode::SWITCHING_PROTOCOLS {
                return Err(bad("the backend switched protocols on a plain request"));
            }
            buf.advance(len);
            continue;
        }
        let http10 = res.version == Some(0);
        let mut spans = crate::inbound::Spans::new(buf);
        let (mut length, mut chunked, mut coded, mut close, mut keep_alive) = (None::<u64>, false, false, false, false);
        for h in res.headers.iter() {
            let name = h.name.as_bytes();
            if name.eq_ignore_ascii_case(b"content-length") {
                let n = std::str::from_utf8(h.value)
                    .ok()
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .ok_or_else(|| bad("an invalid Content-Length"))?;
                if length.is_some_and(|l| l != n) {
                    return Err(bad("differing Content-Length values"));
                }
                length = Some(n);
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                coded = true;
                chunked = h.value.rsplit(|b| *b == b',').next().is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
            } else if name.eq_ignore_ascii_case(b"connection") {
                for token in h.value.split(|b| *b == b',').map(<[u8]>::trim_ascii) {
                    close |= token.eq_ignore_ascii_case(b"close");
                    keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
                }
            }
            spans.push(name, h.value);
        }
        // The values share the head's bytes. Room for what the gateway may add (CORS, content-length).
        let head = buf.split_to(len).freeze();
        let mut headers = spans.into_map(&head, 2).map_err(bad)?;
        // Both framings at once (RFC 9112 §6.3 ¶3): Transfer-Encoding wins, the Content-Length must not go on to
        // the client (its body would be cut there), and the connection is not reused (the backend or something
        // before it may have framed it the other way).
        let conflicting = coded && length.is_some();
        if conflicting {
            headers.remove(http::header::CONTENT_LENGTH);
        }
        let framing = if *method == Method::HEAD || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
            Framing::Empty
        } else if coded {
            // A transfer coding overrides Content-Length (RFC 9112 §6.3); without chunked last, the body runs to the close.
            if chunked { Framing::Chunked(Chunk::Size) } else { Framing::UntilClose }
        } else {
            match length {
                Some(0) => Framing::Empty,
                Some(n) => Framing::Length(n),
                None => Framing::UntilClose,
            }
        };
        let reusable = !close && !conflicting && (!http10 || keep_alive) && framing != Framing::UntilClose;
        let (mut parts, ()) = http::Response::new(()).into_parts();
        parts.status = status;
        parts.version = if http10 { http::Version::HTTP_10 } else { http::Version::HTTP_11 };
        parts.headers = headers;
        return Ok(Some((parts, framing, reusable)));
    }
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

enum Step {
    Data(Bytes),
    More,
    Done,
}

/// The next piece of the body from `buf`, for `framing`.
fn step(framing: &mut Framing, buf: &mut BytesMut, eof: bool) -> Result<Step, H1Error> {
    loop {
        match framing {
            Framing::Empty => return Ok(Step::Done),
            Framing::UntilClose => {
                return Ok(if !buf.is_empty() {
                    Step::Data(buf.split().freeze())
                } else if eof {
                    Step::Done
                } else {
                    Step::More
                });
            }
            Framing::Length(left) => {
                if *left == 0 {
                    return Ok(Step::Done);
                }
                if buf.is_empty() {
                    return if eof { Err(H1Error("the backend closed the connection mid-body".into())) } else { Ok(Step::More) };
                }
                let take = (*left).min(buf.len() as u64);
                *left -= take;
                return Ok(Step::Data(buf.split_to(take as usize).freeze()));
            }
            Framing::Chunked(state) => match *state {
                Chunk::Size => {
                    let Some(end) = find_crlf(buf) else {
                        return more(buf.len() > MAX_LINE, eof, "a chunk size line");
                    };
                    let line = std::str::from_utf8(&buf[..end]).map_err(|_| H1Error("a chunk size that is not text".into()))?;
                    let digits = line.split(';').next().unwrap_or("").trim();
                    let size = u64::from_str_radix(digits, 16).map_err(|_| H1Error(format!("chunk size `{digits}`")))?;
                    buf.advance(end + 2);
                    *state = if size == 0 { Chunk::Trailers(0) } else { Chunk::Data(size) };
                }
                Chunk::Data(left) => {
                    if buf.is_empty() {
                        return more(false, eof, "a chunk");
                    }
                    let take = left.min(buf.len() as u64);
                    *state = if take == left { Chunk::DataEnd } else { Chunk::Data(left - take) };
                    return Ok(Step::Data(buf.split_to(take as usize).freeze()));
                }
                Chunk::DataEnd => {
                    if buf.len() < 2 {
                        return more(false, eof, "a chunk's end");
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err(H1Error("a chunk longer than its size".into()));
                    }
                    buf.advance(2);
                    *state = Chunk::Size;
                }
                Chunk::Trailers(seen) => {
                    let Some(end) = find_crlf(buf) else {
                        return more(seen + buf.len() > MAX_TRAILERS, eof, "the trailers");
                    };
                    buf.advance(end + 2);
                    if end == 0 {
                        *framing = Framing::Length(0);
                        return Ok(Step::Done);
                    }
                    *state = Chunk::Trailers(seen + end + 2);
                }
            },
        }
    }
}

fn more(too_long: bool, eof: bool, what: &str) -> Result<Step, H1Error> {
    if too_long {
        Err(H1Error(format!("{what} is too long")))
    } else if eof {
        Err(H1Error(format!("the backend closed the connection in {what}")))
    } else {
        Ok(Step::More)
    }
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).take(MAX_LINE.max(MAX_TRAILERS)).position(|w| w == b"\r\n")
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

#[cfg(test)]
mod tests {
    use super::*;

    fn head(raw: &str, method: Method) -> Result<Option<(http::response::Parts, Framing, bool)>, PoolError> {
        parse_head(&mut BytesMut::from(raw.as_bytes()), &method)
    }

    fn framing(raw: &str) -> (Framing, bool) {
        let (_, f, reusable) = head(raw, Method::GET).ok().flatten().expect("a complete head");
        (f, reusable)
    }

    #[test]
    fn framing_follows_rfc_9112() {
        assert_eq!(framing("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n"), (Framing::Length(5), true));
        // Both framings: chunked wins, the Content-Length is dropped and the connection not reused (RFC 9112 §6.3).
        let both = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\ncontent-length: 5\r\n\r\n";
        assert_eq!(framing(both), (Framing::Chunked(Chunk::Size), false));
        let (parts, _, _) = head(both, Method::GET).ok().flatten().expect("a complete head");
        assert!(parts.headers.get(http::header::CONTENT_LENGTH).is_none());
        assert_eq!(framing("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), (Framing::Chunked(Chunk::Size), true));
        assert_eq!(framing("HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\n"), (Framing::UntilClose, false));
        assert_eq!(framing("HTTP/1.1 200 OK\r\n\r\n"), (Framing::UntilClose, false));
        assert_eq!(framing("HTTP/1.1 204 No Content\r\ncontent-length: 5\r\n\r\n"), (Framing::Empty, true));
        assert_eq!(framing("HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\n"), (Framing::Length(5), false));
        assert_eq!(framing("HTTP/1.0 200 OK\r\ncontent-length: 5\r\n\r\n"), (Framing::Length(5), false));
        assert_eq!(framing("HTTP/1.0 200 OK\r\ncontent-length: 5\r\nconnection: keep-alive\r\n\r\n"), (Framing::Length(5), true));
        assert_eq!(framing("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"), (Framing::Length(2), true));
        let many: String = (0..40).map(|i| format!("x-h{i}: {i}\r\n")).collect();
        let (parts, f, _) =
            head(&format!("HTTP/1.1 200 OK\r\n{many}content-length: 1\r\n\r\n"), Method::GET).ok().flatten().expect("40 headers");
        assert_eq!((parts.headers.len(), f), (41, Framing::Length(1)), "more headers than the first try holds");
        let (_, f, _) = head("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n", Method::HEAD).ok().flatten().expect("head");
        assert_eq!(f, Framing::Empty, "a HEAD answer has no body whatever its length says");
        assert!(matches!(head("HTTP/1.1 200 OK\r\ncontent-le", Method::GET), Ok(None)), "a partial head waits for more");
        for bad in [
            "HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\n",
            "HTTP/1.1 200 OK\r\ncontent-length: five\r\n\r\n",
            "this is not http\r\n\r\n",
            "HTTP/1.1 101 Switching Protocols\r\n\r\n",
        ] {
            assert!(head(bad, Method::GET).is_err(), "{bad:?} should be refused");
        }
    }

    fn decode(mut framing: Framing, wire: &[&[u8]]) -> Result<(Vec<u8>, BytesMut), H1Error> {
        let (mut buf, mut out, mut pieces) = (BytesMut::new(), Vec::new(), wire.iter());
        loop {
            match step(&mut framing, &mut buf, false)? {
                Step::Data(b) => out.extend_from_slice(&b),
                Step::Done => return Ok((out, buf)),
                Step::More => match pieces.next() {
                    Some(p) => buf.extend_from_slice(p),
                    None => return step(&mut framing, &mut buf, true).map(|_| (out, buf)),
                },
            }
        }
    }

    #[test]
    fn chunked_bodies_decode_across_reads() {
        let wire: [&[u8]; 5] = [b"5;ext=1\r\nhel", b"lo\r", b"\n6\r\n world\r\n0\r\n", b"x-trailer: t\r\n", b"\r\nNEXT"];
        let (body, rest) = decode(Framing::Chunked(Chunk::Size), &wire).expect("decodes");
        assert_eq!(body, b"hello world");
        assert_eq!(&rest[..], b"NEXT", "what follows the body stays for the next response");
        assert!(decode(Framing::Chunked(Chunk::Size), &[b"zz\r\n"]).is_err(), "a size that is not hexadecimal");
        assert!(decode(Framing::Chunked(Chunk::Size), &[b"2\r\nabc\r\n"]).is_err(), "a chunk longer than its size");
        assert!(decode(Framing::Chunked(Chunk::Size), &[b"5\r\nhe"]).is_err(), "closed mid-chunk");
        assert!(decode(Framing::Length(10), &[b"0123"]).is_err(), "closed before the length");
        assert_eq!(decode(Framing::Length(4), &[b"01", b"23rest"]).expect("length").0, b"0123");
        assert_eq!(decode(Framing::UntilClose, &[b"ab", b"cd"]).expect("until close").0, b"abcd");
    }
}
