//! The HTTP/1.1 codec (RFC 9112), both directions, over httparse: request heads for the gateway's own server,
//! response heads and body framing for its own client. Pure functions over byte buffers: imports nothing else
//! from the crate and does no I/O, so it is tested and fuzzed alone (`fuzz/`), and checked against hyper's
//! decisions on the same bytes.

use bytes::{Buf, Bytes, BytesMut};
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode, Uri, Version};

/// A request head larger than this is not read (hyper answers 431).
pub const MAX_REQUEST_HEAD: usize = 64 * 1024;
const MAX_REQUEST_HEADERS: usize = 100;
/// A response head larger than this is refused (the traffic listeners' own limit).
pub const MAX_HEAD: usize = 64 * 1024;
/// Headers a response head may have.
const MAX_HEADERS: usize = 128;
/// Chunk-size lines and trailers are short; anything longer is not HTTP.
const MAX_LINE: usize = 4096;
const MAX_TRAILERS: usize = 64 * 1024;

/// Why bytes are not an HTTP/1.1 message this codec takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub String);

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Invalid {}

fn bad(what: impl Into<String>) -> Invalid {
    Invalid(what.into())
}

/// A request head the gateway's own server serves: bodiless, no upgrade, no `Expect`.
#[derive(Debug)]
pub struct RequestHead {
    pub method: Method,
    pub uri: Uri,
    pub version: Version,
    pub headers: HeaderMap,
    pub keep_alive: bool,
}

/// What the front of a read buffer holds.
// Not boxed: the request head is the common case, and a box would be an allocation per request.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Parsed {
    /// A complete head, consumed from the buffer.
    Request(RequestHead),
    /// A request for hyper (a body, an upgrade, `Expect`, `CONNECT`); nothing consumed.
    HandOver,
}

/// One request head from the front of `buf` (consumed), `Ok(None)` while incomplete, `Err` when it is not
/// HTTP/1.x this server can read (hyper then answers it).
pub fn parse_request(buf: &mut BytesMut) -> Result<Option<Parsed>, Invalid> {
    if buf.is_empty() {
        return Ok(None);
    }
    let mut slots = [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_REQUEST_HEADERS];
    let mut r = httparse::Request::new(&mut []);
    let len = match r.parse_with_uninit_headers(buf, &mut slots) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(bad(format!("not an HTTP/1.x request head: {e}"))),
    };
    let (Some(method), Some(path), Some(version)) = (r.method, r.path, r.version) else { return Err(bad("an incomplete request line")) };
    let at = |s: &[u8]| (s.as_ptr() as usize - buf.as_ptr() as usize, s.len());
    let fallback = || Ok(Some(Parsed::HandOver));
    let method = match method {
        "GET" => Method::GET,
        "HEAD" => Method::HEAD,
        "DELETE" => Method::DELETE,
        "OPTIONS" => Method::OPTIONS,
        "CONNECT" => return fallback(),
        m => match Method::from_bytes(m.as_bytes()) {
            Ok(m) => m,
            Err(_) => return Err(bad("a method that is not a token")),
        },
    };
    let path = at(path.as_bytes());
    let mut spans = Spans::new(buf);
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
        spans.push(name, h.value);
    }
    let head = buf.split_to(len).freeze();
    let Ok(uri) = Uri::from_maybe_shared(head.slice(path.0..path.0 + path.1)) else {
        return Err(bad("a request target that is not a URI"));
    };
    // Room for the X-Forwarded-* headers the gateway adds: growing the map would reallocate it.
    let headers = spans.into_map(&head, 3).map_err(|e| bad(format!("a header that is not valid: {e}")))?;
    let version = if version == 1 { Version::HTTP_11 } else { Version::HTTP_10 };
    Ok(Some(Parsed::Request(RequestHead { method, uri, version, headers, keep_alive })))
}

/// Where each header's name and value lie in a head. The parsed headers borrow the read buffer; the `HeaderMap`
/// is built once the head is split off it, its values sharing the head's bytes (nothing copied). Room for a
/// typical head's headers is on the stack, set up in a few stores (a full-size array would cost a 3 KiB memset
/// per request).
pub struct Spans {
    base: usize,
    few: [[u32; 4]; 16],
    n: usize,
    more: Vec<[u32; 4]>,
}

impl Spans {
    /// `buf` is the buffer the headers are parsed from.
    pub fn new(buf: &[u8]) -> Spans {
        Spans { base: buf.as_ptr() as usize, few: [[0; 4]; 16], n: 0, more: Vec::new() }
    }

    /// Records one header; its slices point into the buffer given to `new` (a head is at most 64 KiB + a read).
    pub fn push(&mut self, name: &[u8], value: &[u8]) {
        let at = |s: &[u8]| (s.as_ptr() as usize).wrapping_sub(self.base) as u32;
        let span = [at(name), name.len() as u32, at(value), value.len() as u32];
        if self.n < self.few.len() {
            self.few[self.n] = span;
        } else {
            self.more.push(span);
        }
        self.n += 1;
    }

    /// The headers as a map over `head` (the buffer's first bytes), with room for `extra` more; `Err` names a
    /// header that is not valid.
    pub fn into_map(self, head: &Bytes, extra: usize) -> Result<HeaderMap, String> {
        let mut map = HeaderMap::with_capacity(self.n + extra);
        let few = &self.few[..self.n.min(self.few.len())];
        for &[no, nl, vo, vl] in few.iter().chain(&self.more) {
            let (no, nl, vo, vl) = (no as usize, nl as usize, vo as usize, vl as usize);
            let raw_name = head.get(no..no + nl).ok_or("a header outside the head")?;
            let name = HeaderName::from_bytes(raw_name).map_err(|_| format!("header name `{}`", String::from_utf8_lossy(raw_name)))?;
            if vo + vl > head.len() {
                return Err("a header outside the head".into());
            }
            let value = HeaderValue::from_maybe_shared(head.slice(vo..vo + vl)).map_err(|_| format!("the value of `{name}`"))?;
            map.append(name, value);
        }
        Ok(map)
    }
}

/// How a response body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Framing {
    Empty,
    Length(u64),
    Chunked(Chunk),
    UntilClose,
}

/// Where a chunked body's decoder is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Chunk {
    Size,
    Data(u64),
    DataEnd,
    Trailers(usize),
}

/// How a response head's headers are handed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseHeaders {
    /// In the head's `HeaderMap`.
    Map,
    /// As a [`VerbatimHead`] in the head's extensions, the `HeaderMap` left empty, when the head has nothing a
    /// proxy must change (else in the map): for an answer nothing reads before the gateway's own HTTP/1.1 server
    /// writes it out.
    VerbatimWhenPlain,
}

/// Hop-by-hop header lines a verbatim head may skip; a head with more goes into a map.
const MAX_SKIPPED: usize = 4;

/// A backend's response head kept as it came, for the gateway's own HTTP/1.1 server to write its header lines
/// out again as they are (`inbound::write_response`): building a `HeaderMap` from a head and writing it out again
/// cost more than the rest of an answer's handling. Only a plain head is kept so: CRLF line ends, no transfer
/// coding, at most one `Content-Length`, a `Connection` naming no other header, and at most [`MAX_SKIPPED`]
/// hop-by-hop lines, which are not written.
#[derive(Clone, Debug)]
pub struct VerbatimHead {
    head: Bytes,
    /// Where the header lines (`name: value\r\n` each) lie in `head`.
    lines: (u32, u32),
    /// Hop-by-hop lines within `lines`, in order: not passed on.
    skipped: [(u32, u32); MAX_SKIPPED],
    n_skipped: u8,
    /// The one `Content-Length`, whose line is among the lines.
    pub content_length: Option<u64>,
    /// Whether a `Date` line is among the lines.
    pub dated: bool,
}

std::thread_local! {
    /// An emptied extensions map, kept for this thread's next verbatim head: a new one costs two allocations and
    /// a table set-up, and as much again to drop (together 3 % of a proxied request's instructions).
    static SPARE_EXTENSIONS: std::cell::Cell<Option<http::Extensions>> = const { std::cell::Cell::new(None) };
}

impl VerbatimHead {
    /// An answer's head as it came, in a (recycled) extensions map.
    fn into_extensions(self) -> http::Extensions {
        let mut extensions = SPARE_EXTENSIONS.take().unwrap_or_default();
        extensions.insert(self);
        extensions
    }

    /// Takes the verbatim head out of an answer's extensions, keeping the map, if that leaves it empty, for the
    /// next answer on this thread.
    pub fn take(extensions: &mut http::Extensions) -> Option<VerbatimHead> {
        let head = extensions.remove::<VerbatimHead>()?;
        if extensions.is_empty() {
            SPARE_EXTENSIONS.set(Some(std::mem::take(extensions)));
        }
        Some(head)
    }

    /// Appends the header lines a proxy passes on.
    pub fn write_lines(&self, out: &mut Vec<u8>) {
        let mut from = self.lines.0 as usize;
        for &(start, end) in &self.skipped[..usize::from(self.n_skipped)] {
            out.extend_from_slice(&self.head[from..start as usize]);
            from = end as usize;
        }
        out.extend_from_slice(&self.head[from..self.lines.1 as usize]);
    }
}

/// RFC 9110 §7.6.1's hop-by-hop headers, with `Keep-Alive`, `Proxy-Connection` and `Upgrade`, by their bytes in
/// any case: the one list, for verbatim heads here and for header maps in the proxy.
pub fn is_hop_by_hop_name(name: &[u8]) -> bool {
    const NAMES: [&[u8]; 9] = [
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    ];
    NAMES.iter().any(|n| n.eq_ignore_ascii_case(name))
}

/// Parses one complete response head off the front of `buf` (skipping 1xx interim responses): `None` when more
/// bytes are needed.
/// `(head, framing, reusable)`: whether the connection may carry another exchange after this body.
pub fn parse_response(
    buf: &mut BytesMut,
    method: &Method,
    form: ResponseHeaders,
) -> Result<Option<(http::response::Parts, Framing, bool)>, Invalid> {
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
        let mut spans = Spans::new(buf);
        let (mut length, mut chunked, mut coded, mut close, mut keep_alive) = (None::<u64>, false, false, false, false);
        // What a verbatim head needs, found on the way.
        let mut plain = form == ResponseHeaders::VerbatimWhenPlain;
        let (mut skipped, mut n_skipped, mut skipping, mut lengths, mut dated) = ([(0u32, 0u32); MAX_SKIPPED], 0, None::<u32>, 0, false);
        let lines_start = res.headers.first().map_or(len - 2, |h| h.name.as_ptr() as usize - buf.as_ptr() as usize);
        for h in res.headers.iter() {
            let name = h.name.as_bytes();
            if plain {
                let start = name.as_ptr() as usize - buf.as_ptr() as usize;
                // Every line ends in CRLF (httparse also takes a bare LF, which another reader may not).
                plain = start == lines_start || buf.get(start - 2..start) == Some(b"\r\n");
                if let Some(from) = skipping.take() {
                    // `skipping` is only set while there is room.
                    skipped[n_skipped] = (from, start as u32);
                    n_skipped += 1;
                }
                if is_hop_by_hop_name(name) {
                    if n_skipped < MAX_SKIPPED {
                        skipping = Some(start as u32);
                    } else {
                        plain = false;
                    }
                }
                dated |= name.eq_ignore_ascii_case(b"date");
            }
            if name.eq_ignore_ascii_case(b"content-length") {
                lengths += 1;
                let n = std::str::from_utf8(h.value)
                    .ok()
                    .map(str::trim)
                    // Digits only: `parse` would take a sign (`+5`), which other parsers on the path may not.
                    .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|v| v.parse::<u64>().ok())
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
                    let (c, k) = (token.eq_ignore_ascii_case(b"close"), token.eq_ignore_ascii_case(b"keep-alive"));
                    close |= c;
                    keep_alive |= k;
                    // A header `Connection` names is hop-by-hop too: the map's path removes it.
                    plain &= c || k || token.is_empty();
                }
            }
            spans.push(name, h.value);
        }
        let lines_end = len - 2;
        if let Some(from) = skipping.take() {
            skipped[n_skipped] = (from, lines_end as u32);
            n_skipped += 1;
        }
        plain &= !coded
            && lengths <= 1
            && buf.get(lines_end..len) == Some(b"\r\n")
            && (lines_start == lines_end || buf.get(lines_end - 2..lines_end) == Some(b"\r\n"));
        let head = buf.split_to(len).freeze();
        if plain {
            let framing = response_framing(method, status, false, false, length);
            let reusable = !close && (!http10 || keep_alive) && framing != Framing::UntilClose;
            let (mut parts, ()) = http::Response::new(()).into_parts();
            parts.status = status;
            parts.version = if http10 { http::Version::HTTP_10 } else { http::Version::HTTP_11 };
            let lines = (lines_start as u32, lines_end as u32);
            parts.extensions =
                VerbatimHead { head, lines, skipped, n_skipped: n_skipped as u8, content_length: length, dated }.into_extensions();
            return Ok(Some((parts, framing, reusable)));
        }
        // The values share the head's bytes. Room for what the gateway may add (CORS, content-length).
        let mut headers = spans.into_map(&head, 2).map_err(bad)?;
        // Both framings at once (RFC 9112 §6.3 ¶3): Transfer-Encoding wins, the Content-Length must not go on to
        // the client (its body would be cut there), and the connection is not reused (the backend or something
        // before it may have framed it the other way).
        let conflicting = coded && length.is_some();
        if conflicting {
            headers.remove(http::header::CONTENT_LENGTH);
        }
        let framing = response_framing(method, status, coded, chunked, length);
        let reusable = !close && !conflicting && (!http10 || keep_alive) && framing != Framing::UntilClose;
        let (mut parts, ()) = http::Response::new(()).into_parts();
        parts.status = status;
        parts.version = if http10 { http::Version::HTTP_10 } else { http::Version::HTTP_11 };
        parts.headers = headers;
        return Ok(Some((parts, framing, reusable)));
    }
}

/// How a response body is delimited (RFC 9112 §6.3), from the request's method, the status and the framing headers.
fn response_framing(method: &Method, status: StatusCode, coded: bool, chunked: bool, length: Option<u64>) -> Framing {
    if *method == Method::HEAD || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
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
    }
}

/// One piece of a body.
#[derive(Debug)]
pub enum Step {
    Data(Bytes),
    More,
    Done,
}

/// The next piece of the body from `buf`, for `framing`.
pub fn step(framing: &mut Framing, buf: &mut BytesMut, eof: bool) -> Result<Step, Invalid> {
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
                    return if eof { Err(Invalid("the backend closed the connection mid-body".into())) } else { Ok(Step::More) };
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
                    let line = std::str::from_utf8(&buf[..end]).map_err(|_| Invalid("a chunk size that is not text".into()))?;
                    let digits = line.split(';').next().unwrap_or("").trim();
                    // Hex digits only: `from_str_radix` would take a sign (`+5`), which is not HTTP (RFC 9112 §7.1).
                    let size = Some(digits)
                        .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_hexdigit()))
                        .and_then(|d| u64::from_str_radix(d, 16).ok())
                        .ok_or_else(|| Invalid(format!("chunk size `{digits}`")))?;
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
                        return Err(Invalid("a chunk longer than its size".into()));
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

fn more(too_long: bool, eof: bool, what: &str) -> Result<Step, Invalid> {
    if too_long {
        Err(Invalid(format!("{what} is too long")))
    } else if eof {
        Err(Invalid(format!("the backend closed the connection in {what}")))
    } else {
        Ok(Step::More)
    }
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).take(MAX_LINE.max(MAX_TRAILERS)).position(|w| w == b"\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(raw: &str, method: Method) -> Result<Option<(http::response::Parts, Framing, bool)>, Invalid> {
        parse_response(&mut BytesMut::from(raw.as_bytes()), &method, ResponseHeaders::Map)
    }

    fn framing(raw: &str) -> (Framing, bool) {
        let (_, f, reusable) = head(raw, Method::GET).ok().flatten().expect("a complete head");
        (f, reusable)
    }

    #[test]
    fn framing_follows_rfc_9112() {
        assert_eq!(framing("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n"), (Framing::Length(5), true));
        for signed in ["+5", "-5", "5 5", "0x5", ""] {
            let raw = format!("HTTP/1.1 200 OK\r\ncontent-length: {signed}\r\n\r\n");
            assert!(head(&raw, Method::GET).is_err(), "Content-Length `{signed}` must be refused");
        }
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

    /// `(lower-case name, value)` of each header line in `lines` (`name: value\r\n` each).
    fn header_lines(lines: &[u8]) -> Vec<(String, Vec<u8>)> {
        let mut head = b"HTTP/1.1 200 OK\r\n".to_vec();
        head.extend_from_slice(lines);
        head.extend_from_slice(b"\r\n");
        let mut slots = [httparse::EMPTY_HEADER; 200];
        let mut res = httparse::Response::new(&mut slots);
        assert!(matches!(res.parse(&head), Ok(httparse::Status::Complete(_))), "{:?}", String::from_utf8_lossy(lines));
        res.headers.iter().map(|h| (h.name.to_ascii_lowercase(), h.value.to_vec())).collect()
    }

    fn hop_by_hop(name: &str) -> bool {
        is_hop_by_hop_name(name.as_bytes())
    }

    /// A head kept verbatim writes the headers the map would hold, hop-by-hop ones left out (as the proxy strips
    /// them from the map), in the same order, with the same framing; a head that is not plain goes into the map.
    #[test]
    fn verbatim_heads_pass_on_what_the_map_would() {
        let seeds: [&[u8]; 6] = [
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nDate: Mon, 07 Dec 2026 10:00:00 GMT\r\nX-A: 1\r\n\r\nabc",
            b"HTTP/1.1 200 OK\r\nconnection: keep-alive\r\nkeep-alive: timeout=5\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nhi",
            b"HTTP/1.0 404 Not Found\r\nConnection: close\r\nX-Trail:  v  \r\n\r\n",
            b"HTTP/1.1 204 No Content\r\nTE: x\r\nUpgrade: y\r\nTrailer: z\r\nProxy-Connection: w\r\nX: 1\r\n\r\n",
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nx-b: \xff\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\n\r\n",
        ];
        let (mut verbatim, mut mapped) = (0, 0);
        for raw in mangle(&seeds, 20_000).iter().map(Vec::as_slice).chain(seeds) {
            for method in [Method::GET, Method::HEAD] {
                let as_map = parse_response(&mut BytesMut::from(raw), &method, ResponseHeaders::Map);
                let mut buf = BytesMut::from(raw);
                let kept = parse_response(&mut buf, &method, ResponseHeaders::VerbatimWhenPlain);
                let (Ok(Some((map, map_framing, map_reuse))), Ok(Some((parts, framing, reuse)))) = (as_map, kept) else { continue };
                assert_eq!((framing, reuse, parts.status), (map_framing, map_reuse, map.status), "{:?}", String::from_utf8_lossy(raw));
                let Some(v) = parts.extensions.get::<VerbatimHead>() else {
                    assert!(!parts.headers.is_empty() || map.headers.is_empty(), "a head not kept verbatim is in the map");
                    mapped += 1;
                    continue;
                };
                verbatim += 1;
                assert!(parts.headers.is_empty());
                let mut out = Vec::new();
                v.write_lines(&mut out);
                let want: Vec<(String, Vec<u8>)> = map
                    .headers
                    .iter()
                    .filter(|(n, _)| !hop_by_hop(n.as_str()))
                    .map(|(n, v)| (n.as_str().to_string(), v.as_bytes().to_vec()))
                    .collect();
                assert_eq!(header_lines(&out), want, "{:?}", String::from_utf8_lossy(raw));
                let length = map.headers.get(http::header::CONTENT_LENGTH).map(|l| l.to_str().unwrap_or("").parse::<u64>().ok());
                assert_eq!(v.content_length, length.flatten());
                assert_eq!(v.dated, map.headers.contains_key(http::header::DATE));
            }
        }
        assert!(verbatim > 1000 && mapped > 100, "both paths taken: {verbatim} verbatim, {mapped} in a map");
        for not_plain in [
            "HTTP/1.1 200 OK\r\nx: 1\ncontent-length: 0\r\n\r\n",
            "HTTP/1.1 200 OK\r\nx: 1\r\n\n",
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n",
            "HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 1\r\n\r\n",
            "HTTP/1.1 200 OK\r\nconnection: x-secret\r\nx-secret: 1\r\ncontent-length: 0\r\n\r\n",
            "HTTP/1.1 200 OK\r\nte: 1\r\nte: 2\r\nte: 3\r\nte: 4\r\nte: 5\r\ncontent-length: 0\r\n\r\n",
        ] {
            let (parts, _, _) = parse_response(&mut BytesMut::from(not_plain), &Method::GET, ResponseHeaders::VerbatimWhenPlain)
                .ok()
                .flatten()
                .expect("a head");
            assert!(parts.extensions.get::<VerbatimHead>().is_none(), "{not_plain:?} must go into a map");
        }
    }

    fn decode(mut framing: Framing, wire: &[&[u8]]) -> Result<(Vec<u8>, BytesMut), Invalid> {
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
        assert!(decode(Framing::Chunked(Chunk::Size), &[b"+5\r\nhello\r\n0\r\n\r\n"]).is_err(), "a size with a sign");
        assert!(decode(Framing::Chunked(Chunk::Size), &[b"\r\n"]).is_err(), "an empty size");
        assert!(decode(Framing::Chunked(Chunk::Size), &[b"2\r\nabc\r\n"]).is_err(), "a chunk longer than its size");
        assert!(decode(Framing::Chunked(Chunk::Size), &[b"5\r\nhe"]).is_err(), "closed mid-chunk");
        assert!(decode(Framing::Length(10), &[b"0123"]).is_err(), "closed before the length");
        assert_eq!(decode(Framing::Length(4), &[b"01", b"23rest"]).expect("length").0, b"0123");
        assert_eq!(decode(Framing::UntilClose, &[b"ab", b"cd"]).expect("until close").0, b"abcd");
    }

    /// `n` heads from `seeds`, cut, flipped and spliced (a fixed-seed generator: the same cases every run).
    fn mangle(seeds: &[&[u8]], n: usize) -> Vec<Vec<u8>> {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        (0..n)
            .map(|i| {
                let mut bytes = seeds[i % seeds.len()].to_vec();
                for _ in 0..(next() % 4) {
                    let at = (next() as usize) % bytes.len().max(1);
                    match next() % 4 {
                        0 => bytes.truncate(at),
                        1 => bytes.insert(at, (next() % 256) as u8),
                        2 if at < bytes.len() => bytes[at] = (next() % 256) as u8,
                        _ => {
                            let other = seeds[(next() as usize) % seeds.len()];
                            bytes.extend_from_slice(&other[..(next() as usize) % other.len()]);
                        }
                    }
                }
                bytes
            })
            .collect()
    }

    /// Bytes cut, flipped and spliced from valid heads never panic the parser: each gives a request, "more",
    /// or a hand-over to hyper, and a request's parts lie within what was read.
    #[test]
    fn mangled_heads_never_panic() {
        let seeds: [&[u8]; 4] = [
            b"GET /shop/1.0.0/items?x=1 HTTP/1.1\r\nhost: x\r\nauthorization: Bearer a.b.c\r\n\r\n",
            b"HEAD / HTTP/1.0\r\nconnection: keep-alive\r\ncontent-length: 0\r\n\r\nGET / HTTP/1.1\r\n\r\n",
            b"OPTIONS * HTTP/1.1\r\norigin: http://a\r\naccess-control-request-method: GET\r\n\r\n",
            b"GET http://h:1/p HTTP/1.1\r\nx-a: \xff\xfe\r\nx-b:\t v \r\n\r\n",
        ];
        for bytes in mangle(&seeds, 20_000) {
            let mut buf = BytesMut::from(&bytes[..]);
            let before = buf.len();
            if let Ok(Some(Parsed::Request(head))) = parse_request(&mut buf) {
                assert!(buf.len() < before, "a request consumes its head");
                assert!(head.uri.to_string().len() <= before);
            }
        }
    }

    /// Heads the differential test feeds to both parsers.
    fn mangled_requests(n: usize) -> Vec<Vec<u8>> {
        let seeds: [&[u8]; 8] = [
            b"GET /a/b?c=d HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n",
            b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
            b"DELETE /x HTTP/1.1\r\nhost: y\r\ncontent-length: 0\r\nx-a: 1\r\nx-a: 2\r\n\r\n",
            b"OPTIONS * HTTP/1.1\r\nHost: z\r\n\r\n",
            b"PATCH /p HTTP/1.1\r\nHost: z\r\nContent-Length: 00\r\n\r\n",
            b"GET /%2e%2e/x HTTP/1.1\r\nHost: h\r\nX-Empty:\r\n\r\n",
            b"HEAD /h HTTP/1.1\r\nHost: h\r\nConnection: close, foo\r\n\r\n",
            b"GET http://h/abs HTTP/1.1\r\nHost: h\r\n\r\n",
        ];
        mangle(&seeds, n)
    }

    /// What hyper's server makes of `raw`: the request it hands its service, if any.
    async fn hyper_reads(raw: &[u8]) -> Option<(Method, String, Version, Vec<(String, Vec<u8>)>)> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut client, server) = tokio::io::duplex(128 * 1024);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let service = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
            let headers = req.headers().iter().map(|(k, v)| (k.as_str().to_string(), v.as_bytes().to_vec())).collect();
            let _ = tx.send((req.method().clone(), req.uri().to_string(), req.version(), headers));
            std::future::ready(Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Empty::<Bytes>::new())))
        });
        let conn = hyper::server::conn::http1::Builder::new().serve_connection(hyper_util::rt::TokioIo::new(server), service);
        let task = tokio::spawn(conn);
        let _ = client.write_all(raw).await;
        let _ = client.shutdown().await;
        let mut sink = Vec::new();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), client.read_to_end(&mut sink)).await;
        task.abort();
        rx.try_recv().ok()
    }

    /// Differential: every head this codec serves itself, hyper reads the same way (method, target, version and
    /// every header value, in order). Heads it hands over or refuses go to hyper anyway.
    #[tokio::test]
    async fn what_the_codec_serves_hyper_reads_alike() {
        let (mut ours, mut agreed) = (0, 0);
        for raw in mangled_requests(3000) {
            let mut buf = BytesMut::from(&raw[..]);
            let Ok(Some(Parsed::Request(head))) = parse_request(&mut buf) else { continue };
            ours += 1;
            let Some((method, uri, version, headers)) = hyper_reads(&raw).await else {
                panic!("hyper refused a head the codec served: {:?}", String::from_utf8_lossy(&raw));
            };
            let mine: Vec<(String, Vec<u8>)> = head.headers.iter().map(|(k, v)| (k.as_str().to_string(), v.as_bytes().to_vec())).collect();
            assert_eq!(
                (&head.method, head.uri.to_string(), head.version, &mine),
                (&method, uri, version, &headers),
                "{:?}",
                String::from_utf8_lossy(&raw)
            );
            agreed += 1;
        }
        assert!(ours > 500, "the generator must reach the codec's own path ({ours} of 3000)");
        assert_eq!(ours, agreed);
    }
}
