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
use http::header;
use http::{Method, Request, Response, StatusCode, Version};
use hyper::body::Body as HttpBody;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::body::{Body, RequestBody};
use crate::http1::{MAX_REQUEST_HEAD as MAX_HEAD, Parsed, VerbatimHead, parse_request};

#[cfg(test)]
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
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
pub async fn serve<IO, S, F>(mut io: IO, mut service: S, shutdown: &watch::Receiver<bool>, head_timeout: Duration) -> Option<Rewind<IO>>
where
    IO: AsyncRead + AsyncWrite + Unpin,
    S: FnMut(Request<RequestBody>) -> Option<F>,
    F: Future<Output = Result<Response<Body>, Infallible>>,
{
    let mut buf = BytesMut::with_capacity(READ_SIZE);
    let mut out: Vec<u8> = Vec::with_capacity(2 * 1024);
    // One timer for the connection's life. It is moved only when it fires: a request's deadline is a plain
    // `Instant`, and a timer that fires before it is set again to it.
    let mut deadline = Instant::now() + head_timeout;
    let mut timer = std::pin::pin!(tokio::time::sleep_until(deadline));
    let mut woken = shutdown.clone();
    let mut stop = std::pin::pin!(woken.changed());
    loop {
        let head = loop {
            match parse_request(&mut buf) {
                Ok(Some(head)) => break head,
                Ok(None) if buf.len() < MAX_HEAD => {}
                Ok(None) | Err(_) => return Some(Rewind { pre: buf.freeze(), io }),
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
        let head = match head {
            Parsed::Request(head) => head,
            // The head stays in the buffer for hyper to read again.
            Parsed::HandOver => return Some(Rewind { pre: buf.freeze(), io }),
        };
        let keep_alive = head.keep_alive;
        let mut req = Request::new(RequestBody::Empty);
        *req.method_mut() = head.method;
        *req.uri_mut() = head.uri;
        *req.version_mut() = head.version;
        *req.headers_mut() = head.headers;
        let method_head = req.method() == Method::HEAD;
        let http10 = req.version() == Version::HTTP_10;
        // Pinned where it is made, then awaited through the pin: `.await` on the value would move the whole
        // request path's future (kilobytes) into this one's state on every request.
        let chain = std::pin::pin!(service(req));
        let resp = match chain.as_pin_mut() {
            Some(chain) => match chain.await {
                Ok(r) => r,
                Err(never) => match never {},
            },
            None => crate::reply::not_ready(),
        };
        let keep_alive = keep_alive && !shutdown.has_changed().unwrap_or(true);
        match write_response(&mut io, &mut out, resp, method_head, http10, keep_alive).await {
            Ok(true) => {}
            Ok(false) | Err(_) => return None,
        }
        deadline = Instant::now() + head_timeout;
    }
}

enum Wait {
    Read(io::Result<usize>),
    TimedOut,
    Stopped,
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
    let bodiless = method_head || status.is_informational() || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED;
    out.clear();
    status_line(out, status);
    // One pass over the headers, reading the ones that frame the answer as it goes (a lookup each would hash the
    // name again). `Connection` is this hop's: dropped. An answer with a body has `Content-Length` and
    // `Transfer-Encoding` written again below for the framing this connection uses; a bodiless one keeps them as
    // they are (a HEAD answer tells what the GET would carry).
    let (mut declared, mut has_length, mut dated, mut length_written) = (None::<Option<u64>>, false, false, false);
    // A backend's head kept as it came: its lines go out as they are (hop-by-hop ones skipped), `Content-Length`
    // included, which the framing below then does not write again.
    if let Some(verbatim) = VerbatimHead::take(&mut parts.extensions) {
        verbatim.write_lines(out);
        dated = verbatim.dated;
        has_length = verbatim.content_length.is_some();
        if has_length && !bodiless {
            declared = Some(verbatim.content_length);
            length_written = true;
        }
    }
    for (name, value) in &parts.headers {
        if name == header::CONNECTION {
            if value.as_bytes().split(|b| *b == b',').any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close")) {
                keep_alive = false;
            }
            continue;
        }
        if name == header::CONTENT_LENGTH {
            has_length = true;
            if !bodiless {
                // The first value decides, as a lookup would find it.
                declared.get_or_insert_with(|| decimal(value.as_bytes()));
                continue;
            }
        } else if name == header::TRANSFER_ENCODING && !bodiless {
            continue;
        }
        dated |= name == header::DATE;
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let framing = if bodiless {
        // A HEAD answer tells the length the GET would have (RFC 9110 §9.3.2) when the gateway knows it.
        if method_head
            && !has_length
            && let Some(n) = body.size_hint().exact()
        {
            content_length(out, n);
        }
        Framing::None
    } else if let Some(n) = declared.flatten().or_else(|| body.size_hint().exact()) {
        if !length_written {
            content_length(out, n);
        }
        Framing::Length(n)
    } else if http10 {
        keep_alive = false;
        Framing::Close
    } else {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
        Framing::Chunked
    };
    if !dated {
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

/// A `Content-Length` value: digits only (`parse` would take a sign), `None` for anything else or too large.
fn decimal(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(v.iter().fold(0, |n, d| n * 10 + u64::from(d - b'0')))
}

/// A `content-length` line, without the formatting machinery.
fn content_length(out: &mut Vec<u8>, n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut n = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(b"content-length: ");
    out.extend_from_slice(&digits[at..]);
    out.extend_from_slice(b"\r\n");
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

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::time::Duration;

    use http_body_util::BodyExt;
    use hyper::body::Frame;
    use tokio::io::{AsyncReadExt, DuplexStream};

    use super::*;
    use http::HeaderValue;

    /// `Content-Length` read as digits only and written back as digits, at the edges of a `u64`.
    #[test]
    fn content_lengths_are_digits_both_ways() {
        for (raw, want) in [("0", Some(0)), ("1024", Some(1024)), ("9999999999999999999", Some(9_999_999_999_999_999_999))] {
            assert_eq!(decimal(raw.as_bytes()), want, "{raw}");
        }
        for raw in ["", "+12", "-1", " 12", "1 2", "0x10", "18446744073709551615"] {
            assert_eq!(decimal(raw.as_bytes()), None, "{raw:?}");
        }
        for n in [0, 7, 10, 1024, u64::MAX] {
            let mut out = Vec::new();
            content_length(&mut out, n);
            assert_eq!(out, format!("content-length: {n}\r\n").into_bytes());
        }
    }

    /// A body from a list of frames; `slow` makes it wait (and wake itself) before each one.
    struct Frames {
        frames: VecDeque<Result<Frame<Bytes>, crate::body::BoxError>>,
        slow: bool,
        waited: bool,
    }

    impl HttpBody for Frames {
        type Data = Bytes;
        type Error = crate::body::BoxError;
        fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, crate::body::BoxError>>> {
            let this = self.get_mut();
            if this.slow && !this.waited {
                this.waited = true;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            this.waited = false;
            Poll::Ready(this.frames.pop_front())
        }
    }

    /// `/chunked` streams two pieces and a trailer (slowly), `/broken` fails after one piece, `/unready` is 503;
    /// everything else gets `hello <path>` with its length.
    fn answer(req: Request<RequestBody>) -> Response<Body> {
        let path = req.uri().path().to_string();
        let frames: Vec<Result<Frame<Bytes>, crate::body::BoxError>> = match path.as_str() {
            "/chunked" => {
                let mut trailers = http::HeaderMap::new();
                trailers.insert("x-sum", HeaderValue::from_static("11"));
                vec![Ok(Frame::data(Bytes::from("hello"))), Ok(Frame::data(Bytes::from(" world"))), Ok(Frame::trailers(trailers))]
            }
            "/broken" => vec![Ok(Frame::data(Bytes::from("part"))), Err("backend went away".into())],
            _ => {
                let mut r = Response::new(crate::reply::body(Bytes::from(format!("hello {path}"))));
                r.headers_mut().insert("x-method", HeaderValue::from_str(req.method().as_str()).expect("method"));
                return r;
            }
        };
        Response::new(Frames { frames: frames.into(), slow: path == "/chunked", waited: false }.boxed())
    }

    /// A connection to a server task; the task yields what it handed to hyper, if anything.
    fn start(shutdown: &watch::Receiver<bool>) -> (DuplexStream, tokio::task::JoinHandle<Option<Vec<u8>>>) {
        let (client, server) = tokio::io::duplex(256 * 1024);
        let rx = shutdown.clone();
        let task = tokio::spawn(async move {
            let rest = serve(
                server,
                |req: Request<RequestBody>| {
                    let unready = req.uri().path() == "/unready";
                    (!unready).then(|| std::future::ready(Ok(answer(req))))
                },
                &rx,
                HEAD_TIMEOUT,
            )
            .await;
            let mut rest = rest?;
            let mut pre = vec![0u8; 64 * 1024];
            let n = rest.read(&mut pre).await.unwrap_or(0);
            pre.truncate(n);
            Some(pre)
        });
        (client, task)
    }

    /// Reads until `end` has been seen (or the peer closes); the text read.
    async fn read_until(c: &mut DuplexStream, end: &str) -> String {
        let mut got = Vec::new();
        let mut b = [0u8; 4096];
        while !String::from_utf8_lossy(&got).contains(end) {
            match tokio::time::timeout(Duration::from_secs(5), c.read(&mut b)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(n)) => got.extend_from_slice(&b[..n]),
                Err(_) => panic!("nothing more within 5 s; so far {:?}", String::from_utf8_lossy(&got)),
            }
        }
        String::from_utf8_lossy(&got).into_owned()
    }

    async fn closed(c: &mut DuplexStream) -> bool {
        let mut b = [0u8; 64];
        matches!(tokio::time::timeout(Duration::from_secs(30), c.read(&mut b)).await, Ok(Ok(0)) | Ok(Err(_)))
    }

    #[tokio::test]
    async fn keeps_connections_alive_and_answers_pipelined_requests_in_order() {
        let (_tx, rx) = watch::channel(false);
        let (mut c, task) = start(&rx);
        c.write_all(b"GET /one HTTP/1.1\r\nhost: x\r\n\r\n").await.expect("write");
        let first = read_until(&mut c, "hello /one").await;
        assert!(first.starts_with("HTTP/1.1 200 OK\r\n"), "{first}");
        assert!(first.contains("content-length: 10\r\n") && first.contains("\r\ndate: "), "{first}");
        assert!(!first.contains("connection:"), "{first}");
        // Two at once, and a third split mid-head.
        c.write_all(b"GET /two HTTP/1.1\r\n\r\nHEAD /three HTTP/1.1\r\ncontent-length: 0\r\n\r\nGET /fo").await.expect("write");
        tokio::time::sleep(Duration::from_millis(20)).await;
        c.write_all(b"ur HTTP/1.1\r\nconnection: close\r\n\r\n").await.expect("write");
        let rest = read_until(&mut c, "hello /four").await;
        let two = rest.find("hello /two").expect("two");
        let three = rest.find("x-method: HEAD").expect("three");
        let four = rest.find("hello /four").expect("four");
        assert!(two < three && three < four, "in order: {rest}");
        assert!(rest[three..four].contains("content-length: 12\r\n"), "HEAD keeps the length: {rest}");
        assert!(!rest.contains("hello /three"), "no body for HEAD: {rest}");
        assert!(rest[three..].contains("connection: close\r\n"), "{rest}");
        assert!(closed(&mut c).await, "closed after connection: close");
        assert_eq!(task.await.expect("task"), None);
    }

    #[tokio::test]
    async fn http_1_0_closes_unless_asked_to_keep_alive() {
        let (_tx, rx) = watch::channel(false);
        let (mut c, _task) = start(&rx);
        c.write_all(b"GET /a HTTP/1.0\r\nconnection: keep-alive\r\n\r\n").await.expect("write");
        let kept = read_until(&mut c, "hello /a").await;
        assert!(kept.contains("connection: keep-alive\r\n"), "{kept}");
        c.write_all(b"GET /chunked HTTP/1.0\r\n\r\n").await.expect("write");
        let streamed = read_until(&mut c, "hello world").await;
        assert!(!streamed.contains("transfer-encoding") && !streamed.contains("content-length"), "until close: {streamed}");
        assert!(closed(&mut c).await, "an HTTP/1.0 answer of unknown length ends with the connection");
    }

    #[tokio::test]
    async fn streams_bodies_of_unknown_length_chunked_with_trailers() {
        let (_tx, rx) = watch::channel(false);
        let (mut c, _task) = start(&rx);
        c.write_all(b"GET /chunked HTTP/1.1\r\n\r\n").await.expect("write");
        let got = read_until(&mut c, "0\r\nx-sum: 11\r\n\r\n").await;
        assert!(got.contains("transfer-encoding: chunked\r\n"), "{got}");
        assert!(got.ends_with("\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\nx-sum: 11\r\n\r\n"), "{got:?}");
        // Still usable afterwards; a body that fails midway ends the connection without the last chunk.
        c.write_all(b"GET /broken HTTP/1.1\r\n\r\n").await.expect("write");
        let broken = read_until(&mut c, "part").await;
        assert!(broken.ends_with("4\r\npart\r\n"), "{broken:?}");
        assert!(closed(&mut c).await, "closed after a body that failed");
    }

    #[tokio::test]
    async fn hands_what_it_does_not_take_on_to_hyper_with_the_bytes_read() {
        let (_tx, rx) = watch::channel(false);
        for (first, expect_answer) in [
            (&b"GET /x HTTP/1.1\r\n\r\nPOST /y HTTP/1.1\r\ncontent-length: 3\r\n\r\nabc"[..], true),
            (b"PUT /y HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", false),
            (b"GET /ws HTTP/1.1\r\nconnection: Upgrade\r\nupgrade: websocket\r\n\r\n", false),
            (b"POST /y HTTP/1.1\r\nexpect: 100-continue\r\ncontent-length: 3\r\n\r\n", false),
            (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", false),
            (b"NOT HTTP AT ALL\r\n\r\n", false),
        ] {
            let (mut c, task) = start(&rx);
            c.write_all(first).await.expect("write");
            if expect_answer {
                read_until(&mut c, "hello /x").await;
            }
            let rest = task.await.expect("task").expect("handed over");
            let expected = match expect_answer {
                true => &first[19..],
                false => first,
            };
            assert_eq!(String::from_utf8_lossy(&rest), String::from_utf8_lossy(expected));
        }
        // A head too large for 64 KiB goes to hyper too (which answers 431).
        let (mut c, task) = start(&rx);
        let big = format!("GET / HTTP/1.1\r\nx-big: {}\r\n", "a".repeat(MAX_HEAD));
        c.write_all(big.as_bytes()).await.expect("write");
        assert!(task.await.expect("task").is_some());
    }

    #[tokio::test]
    async fn answers_503_until_the_gateway_is_loaded() {
        let (_tx, rx) = watch::channel(false);
        let (mut c, _task) = start(&rx);
        c.write_all(b"GET /unready HTTP/1.1\r\n\r\n").await.expect("write");
        let got = read_until(&mut c, "900900").await;
        assert!(got.starts_with("HTTP/1.1 503 Service Unavailable\r\n"), "{got}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_head_must_arrive_within_ten_seconds_of_the_wait() {
        let (_tx, rx) = watch::channel(false);
        // Busy for longer than the timeout in all, each head on time: stays open.
        let (mut c, task) = start(&rx);
        for i in 0..4 {
            tokio::time::sleep(Duration::from_secs(6)).await;
            c.write_all(format!("GET /{i} HTTP/1.1\r\n\r\n").as_bytes()).await.expect("write");
            read_until(&mut c, &format!("hello /{i}")).await;
        }
        // Then a head that never completes: closed 10 s after the last answer.
        c.write_all(b"GET /slow HTTP/1.1\r\nhost: x\r\n").await.expect("write");
        let waited = tokio::time::Instant::now();
        assert!(closed(&mut c).await, "slow loris closed");
        assert!(waited.elapsed() <= HEAD_TIMEOUT + Duration::from_millis(10), "{:?}", waited.elapsed());
        assert_eq!(task.await.expect("task"), None);
    }

    #[tokio::test]
    async fn shutdown_closes_idle_connections() {
        let (tx, rx) = watch::channel(false);
        let (mut c, task) = start(&rx);
        c.write_all(b"GET /a HTTP/1.1\r\n\r\n").await.expect("write");
        read_until(&mut c, "hello /a").await;
        tx.send(true).expect("send");
        assert!(closed(&mut c).await, "idle connection closed on shutdown");
        assert_eq!(task.await.expect("task"), None);
    }
}
