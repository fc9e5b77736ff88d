//! The traffic listeners' own HTTP/1.1 server, for the commonest request an API gateway sees: one without a body.
//!
//! hyper's server is general (bodies both ways, upgrades, HTTP/2, pipelining through one state machine, a timer
//! armed and cleared for every request); here a connection is one loop on its own task: read a head, run the
//! chain, write the answer, with one timer per connection that is moved only when it fires. Anything this loop
//! does not take on — a request with a body, `Expect`, an upgrade, `CONNECT`, the HTTP/2 preface, a head it cannot
//! parse (hyper answers 400 or 431 for it) — hands the connection, with every byte it has read and not used, to
//! hyper for the rest of its life (`Fallback`).
//!
//! Limits match the hyper listeners': a head must arrive within 10 s of the wait for it (slow loris; an idle
//! kept-alive connection closes then too) and fit in 64 KiB.

use std::convert::Infallible;
use std::future::{Future, poll_fn};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri, Version};
use hyper::body::Body as HttpBody;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::proxy::{Body, RequestBody};

const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_HEAD: usize = 64 * 1024;
const MAX_HEADERS: usize = 100;
const READ_SIZE: usize = 8 * 1024;
/// Body frames up to this size are copied beside the head into one write; larger ones are written as they are.
const COPY_LIMIT: usize = 16 * 1024;

/// The rest of a connection for hyper: the bytes already read (not yet used) come first, then the socket.
pub struct Rewind<IO> {
    pre: Bytes,
    io: IO,
}

impl<IO> Rewind<IO> {
    pub fn get_ref(&self) -> &IO {
        &self.io
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Rewind<IO> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.pre.is_empty() {
            let n = this.pre.len().min(buf.remaining());
            buf.put_slice(&this.pre[..n]);
            this.pre.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Rewind<IO> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }
    fn poll_write_vectored(self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// Serves requests on `io` until the client closes, an error, a timeout or `shutdown`; returns the connection
/// when the rest of it is hyper's to serve. `service` gives the chain's future (`Gateway::serve`), or none while
/// the gateway is not loaded yet (503).
pub async fn serve<IO, S, F>(mut io: IO, mut service: S, shutdown: &watch::Receiver<bool>) -> Option<Rewind<IO>>
where
    IO: AsyncRead + AsyncWrite + Unpin,
    S: FnMut(Request<RequestBody>) -> Option<F>,
    F: Future<Output = Result<Response<Body>, Infallible>>,
{
    let mut buf = BytesMut::with_capacity(READ_SIZE);
    let mut out: Vec<u8> = Vec::with_capacity(2 * 1024);
    // One timer for the connection's life. It is moved only when it fires: a request's deadline is a plain
    // `Instant`, and a timer that fires before it is set again to it.
    let mut deadline = Instant::now() + HEAD_TIMEOUT;
    let mut timer = std::pin::pin!(tokio::time::sleep_until(deadline));
    let mut woken = shutdown.clone();
    let mut stop = std::pin::pin!(woken.changed());
    loop {
        let head = loop {
            match parse(&mut buf) {
                Ok(Some(head)) => break head,
                Ok(None) if buf.len() < MAX_HEAD => {}
                Ok(None) | Err(()) => return Some(Rewind { pre: buf.freeze(), io }),
            }
            if shutdown.has_changed().unwrap_or(true) && buf.is_empty() {
                return None;
            }
            buf.reserve(READ_SIZE);
            let read = poll_fn(|cx| {
                let read = std::pin::pin!(tokio::io::AsyncReadExt::read_buf(&mut io, &mut buf));
                if let Poll::Ready(r) = read.poll(cx) {
                    return Poll::Ready(Wait::Read(r));
                }
                while timer.as_mut().poll(cx).is_ready() {
                    if Instant::now() >= deadline {
                        return Poll::Ready(Wait::TimedOut);
                    }
                    timer.as_mut().reset(deadline);
                }
                if stop.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Wait::Stopped);
                }
                Poll::Pending
            })
            .await;
            match read {
                Wait::Read(Ok(0)) | Wait::Read(Err(_)) | Wait::TimedOut | Wait::Stopped => return None,
                Wait::Read(Ok(_)) => {}
            }
        };
        let Head { req, keep_alive, fallback } = head;
        let Some(req) = req else {
            // `fallback`: the head stays in the buffer for hyper to read again.
            debug_assert!(fallback);
            return Some(Rewind { pre: buf.freeze(), io });
        };
        let method_head = req.method() == Method::HEAD;
        let http10 = req.version() == Version::HTTP_10;
        let resp = match service(req) {
            Some(chain) => match chain.await {
                Ok(r) => r,
                Err(never) => match never {},
            },
            None => crate::not_ready(),
        };
        let keep_alive = keep_alive && !shutdown.has_changed().unwrap_or(true);
        match write_response(&mut io, &mut out, resp, method_head, http10, keep_alive).await {
            Ok(true) => {}
            Ok(false) | Err(_) => return None,
        }
        deadline = Instant::now() + HEAD_TIMEOUT;
    }
}

enum Wait {
    Read(io::Result<usize>),
    TimedOut,
    Stopped,
}

struct Head {
    /// None when the request is hyper's to serve (`fallback`).
    req: Option<Request<RequestBody>>,
    keep_alive: bool,
    fallback: bool,
}

/// One request head from the front of `buf` (consumed), `Ok(None)` while incomplete, `Err` when it is not
/// HTTP/1.x this server can read (hyper then answers it).
fn parse(buf: &mut BytesMut) -> Result<Option<Head>, ()> {
    if buf.is_empty() {
        return Ok(None);
    }
    let mut slots = [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut r = httparse::Request::new(&mut []);
    let len = match r.parse_with_uninit_headers(buf, &mut slots) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(()),
    };
    let (Some(method), Some(path), Some(version)) = (r.method, r.path, r.version) else { return Err(()) };
    let base = buf.as_ptr() as usize;
    let at = |s: &[u8]| (s.as_ptr() as usize - base, s.len());
    let fallback = || Ok(Some(Head { req: None, keep_alive: false, fallback: true }));
    let method = match method {
        "GET" => Method::GET,
        "HEAD" => Method::HEAD,
        "DELETE" => Method::DELETE,
        "OPTIONS" => Method::OPTIONS,
        "CONNECT" => return fallback(),
        m => match Method::from_bytes(m.as_bytes()) {
            Ok(m) => m,
            Err(_) => return Err(()),
        },
    };
    let path = at(path.as_bytes());
    let mut idx: [(usize, usize, usize, usize); MAX_HEADERS] = [(0, 0, 0, 0); MAX_HEADERS];
    let mut n = 0;
    let mut keep_alive = version == 1;
    for h in r.headers.iter() {
        let name = h.name.as_bytes();
        if name.eq_ignore_ascii_case(b"content-length") {
            if h.value.iter().any(|b| *b != b'0') || h.value.is_empty() {
                return fallback();
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding")
            || name.eq_ignore_ascii_case(b"upgrade")
            || name.eq_ignore_ascii_case(b"expect")
        {
            return fallback();
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in h.value.split(|b| *b == b',').map(<[u8]>::trim_ascii) {
                if token.eq_ignore_ascii_case(b"close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case(b"keep-alive") && version == 0 {
                    keep_alive = true;
                } else if token.eq_ignore_ascii_case(b"upgrade") {
                    return fallback();
                }
            }
        }
        let (no, nl) = at(name);
        let (vo, vl) = at(h.value);
        idx[n] = (no, nl, vo, vl);
        n += 1;
    }
    let head = buf.split_to(len).freeze();
    let Ok(uri) = Uri::from_maybe_shared(head.slice(path.0..path.0 + path.1)) else { return Err(()) };
    let mut headers = HeaderMap::with_capacity(n);
    for &(no, nl, vo, vl) in &idx[..n] {
        let (Ok(name), Ok(value)) = (HeaderName::from_bytes(&head[no..no + nl]), HeaderValue::from_maybe_shared(head.slice(vo..vo + vl)))
        else {
            return Err(());
        };
        headers.append(name, value);
    }
    let mut req = Request::new(RequestBody::Empty);
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    *req.version_mut() = if version == 1 { Version::HTTP_11 } else { Version::HTTP_10 };
    *req.headers_mut() = headers;
    Ok(Some(Head { req: Some(req), keep_alive, fallback: false }))
}

/// How the answer's body is delimited on the wire.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Framing {
    None,
    Length(u64),
    Chunked,
    Close,
}

/// Writes one answer; `Ok(true)` when the connection may carry another request.
async fn write_response<IO: AsyncWrite + Unpin>(
    io: &mut IO,
    out: &mut Vec<u8>,
    resp: Response<Body>,
    method_head: bool,
    http10: bool,
    mut keep_alive: bool,
) -> io::Result<bool> {
    let (mut parts, mut body) = resp.into_parts();
    let status = parts.status;
    if let Some(v) = parts.headers.remove(header::CONNECTION)
        && v.as_bytes().split(|b| *b == b',').any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"))
    {
        keep_alive = false;
    }
    let bodiless = method_head || status.is_informational() || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED;
    let framing = if bodiless {
        Framing::None
    } else if let Some(n) = parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()) {
        parts.headers.remove(header::TRANSFER_ENCODING);
        Framing::Length(n)
    } else if let Some(n) = body.size_hint().exact() {
        parts.headers.remove(header::TRANSFER_ENCODING);
        parts.headers.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
        Framing::Length(n)
    } else if http10 {
        parts.headers.remove(header::CONTENT_LENGTH);
        keep_alive = false;
        Framing::Close
    } else {
        parts.headers.remove(header::CONTENT_LENGTH);
        parts.headers.insert(header::TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        Framing::Chunked
    };
    out.clear();
    status_line(out, status);
    for (name, value) in &parts.headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !parts.headers.contains_key(header::DATE) {
        date::put(out);
    }
    match (keep_alive, http10) {
        (false, false) => out.extend_from_slice(b"connection: close\r\n"),
        (true, true) => out.extend_from_slice(b"connection: keep-alive\r\n"),
        _ => {}
    }
    out.extend_from_slice(b"\r\n");
    if framing == Framing::None {
        send(io, out).await?;
        io.flush().await?;
        return Ok(keep_alive);
    }
    // `out` holds the head; small frames are added to it, so a body that is already there leaves in the same write.
    // It is written out when a frame is large, when the body has to wait, and at the end.
    let mut sent: u64 = 0;
    let mut trailers_sent = false;
    loop {
        let ready = poll_fn(|cx| {
            Poll::Ready(match Pin::new(&mut body).poll_frame(cx) {
                Poll::Ready(f) => Some(f),
                Poll::Pending => None,
            })
        })
        .await;
        let frame = match ready {
            Some(f) => f,
            None => {
                send(io, out).await?;
                poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
            }
        };
        let frame = match frame {
            None => break,
            Some(Ok(f)) => f,
            Some(Err(e)) => {
                // Cut short: what was sent stands, and the close tells the client the body is incomplete.
                tracing::debug!(error = %e, "response body failed; closing the client connection");
                send(io, out).await?;
                return Ok(false);
            }
        };
        match frame.into_data() {
            Ok(data) if data.is_empty() => {}
            Ok(data) => {
                sent += data.len() as u64;
                if let Framing::Length(n) = framing
                    && sent > n
                {
                    tracing::debug!(declared = n, "response body longer than its content-length; closing the client connection");
                    send(io, out).await?;
                    return Ok(false);
                }
                if framing == Framing::Chunked {
                    out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
                }
                if data.len() <= COPY_LIMIT {
                    out.extend_from_slice(&data);
                } else {
                    send(io, out).await?;
                    io.write_all(&data).await?;
                }
                if framing == Framing::Chunked {
                    out.extend_from_slice(b"\r\n");
                }
            }
            Err(frame) => {
                if let (Ok(trailers), Framing::Chunked) = (frame.into_trailers(), framing) {
                    out.extend_from_slice(b"0\r\n");
                    for (name, value) in &trailers {
                        out.extend_from_slice(name.as_str().as_bytes());
                        out.extend_from_slice(b": ");
                        out.extend_from_slice(value.as_bytes());
                        out.extend_from_slice(b"\r\n");
                    }
                    out.extend_from_slice(b"\r\n");
                    trailers_sent = true;
                }
            }
        }
        if body.is_end_stream() {
            break;
        }
    }
    match framing {
        Framing::Chunked if !trailers_sent => out.extend_from_slice(b"0\r\n\r\n"),
        Framing::Length(n) if sent != n => {
            tracing::debug!(declared = n, sent, "response body shorter than its content-length; closing the client connection");
            keep_alive = false;
        }
        Framing::Close => keep_alive = false,
        _ => {}
    }
    send(io, out).await?;
    io.flush().await?;
    Ok(keep_alive)
}

/// Writes what `out` holds and empties it.
async fn send<IO: AsyncWrite + Unpin>(io: &mut IO, out: &mut Vec<u8>) -> io::Result<()> {
    if !out.is_empty() {
        io.write_all(out).await?;
        out.clear();
    }
    Ok(())
}

fn status_line(out: &mut Vec<u8>, status: StatusCode) {
    if status == StatusCode::OK {
        out.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
        return;
    }
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// The `Date` header's value, formatted once a second per thread.
mod date {
    use std::cell::RefCell;
    use std::time::{SystemTime, UNIX_EPOCH};

    thread_local! {
        static CACHED: RefCell<(u64, Vec<u8>)> = const { RefCell::new((0, Vec::new())) };
    }

    pub(super) fn put(out: &mut Vec<u8>) {
        let now = SystemTime::now();
        let secs = now.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        CACHED.with_borrow_mut(|(at, line)| {
            if *at != secs || line.is_empty() {
                *at = secs;
                line.clear();
                line.extend_from_slice(b"date: ");
                line.extend_from_slice(httpdate::fmt_http_date(now).as_bytes());
                line.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(line);
        });
    }
}
