//! Backends for gateway tests and benchmarks, on real sockets: a well-behaved HTTP/1.1 server (echo, fixed-size
//! bodies, a byte counter for streamed uploads) and a misbehaving one (resets, garbage, silence).

use std::convert::Infallible;
use std::net::SocketAddr;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The well-behaved backend over TLS with `pem` (certificate chain and private key), offering HTTP/2 and
/// HTTP/1.1 by ALPN; the echo says which version a request came in (`"version"`).
pub async fn spawn_tls(addr: SocketAddr, pem: &[u8]) -> std::io::Result<SocketAddr> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let bad = |e: String| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(pem).collect::<Result<_, _>>().map_err(|e| bad(e.to_string()))?;
    let key = PrivateKeyDer::from_pem_slice(pem).map_err(|e| bad(e.to_string()))?;
    let mut config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| bad(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { continue };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else { return };
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), hyper::service::service_fn(serve))
                    .await;
            });
        }
    });
    Ok(local)
}

/// Starts the well-behaved backend on `addr` (port 0 for an ephemeral one); returns the bound address.
///
/// - `GET /bytes/{n}`: `n` bytes of `x`;
/// - `POST …/count`, and an OTLP/HTTP collector's `POST …/v1/traces` and `…/v1/metrics`: reads the whole body as a
///   stream and answers `{"bytes": n}` (the benchmark's collector);
/// - `POST …/echo-body`: answers the request's body as it arrived, with its `Content-Type`, and its
///   `Content-Length` (if any) in `x-received-content-length`;
/// - anything else: `{"method", "path", "headers"}` of the request as it arrived.
pub async fn spawn(addr: SocketAddr) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { continue };
            let _ = tcp.set_nodelay(true);
            tokio::spawn(async move {
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tcp), hyper::service::service_fn(serve))
                    .await;
            });
        }
    });
    Ok(local)
}

async fn serve(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    if let Some(n) = path.strip_prefix("/bytes/").and_then(|n| n.parse::<usize>().ok()) {
        return Ok(Response::new(Full::new(Bytes::from(vec![b'x'; n.min(64 << 20)]))));
    }
    if path.ends_with("/count") || path.ends_with("/v1/traces") || path.ends_with("/v1/metrics") {
        let mut body = req.into_body();
        let mut n: u64 = 0;
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(f) => n += f.data_ref().map_or(0, |d| d.len() as u64),
                Err(_) => break,
            }
        }
        return Ok(Response::new(Full::new(Bytes::from(format!("{{\"bytes\":{n}}}")))));
    }
    if path.ends_with("/echo-body") {
        let content_type = req.headers().get(http::header::CONTENT_TYPE).cloned();
        let length = req.headers().get(http::header::CONTENT_LENGTH).cloned();
        let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        let mut resp = Response::new(Full::new(body));
        if let Some(ct) = content_type {
            resp.headers_mut().insert(http::header::CONTENT_TYPE, ct);
        }
        if let Some(cl) = length {
            resp.headers_mut().insert("x-received-content-length", cl);
        }
        return Ok(resp);
    }
    let headers: serde_json::Map<String, serde_json::Value> =
        req.headers().iter().map(|(k, v)| (k.as_str().to_string(), serde_json::json!(v.to_str().unwrap_or("")))).collect();
    let path = req.uri().path_and_query().map(|p| p.to_string()).unwrap_or_default();
    let version = format!("{:?}", req.version());
    let doc = serde_json::json!({"method": req.method().as_str(), "path": path, "headers": headers, "version": version});
    let mut resp = Response::new(Full::new(Bytes::from(doc.to_string())));
    resp.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    Ok(resp)
}

/// Starts a backend that misbehaves by path: `/reset` closes the connection without answering, `/garbage`
/// answers bytes that are not HTTP, `/silent` never answers, `/short` closes 10 bytes into a body of 100,
/// `/badchunk` sends a chunk size that is not hexadecimal. It also answers in the less common framings, written
/// by hand and in pieces: `/chunked` (`hello world` in two chunks, a chunk extension and a trailer), `/untilclose`
/// (no length, ended by closing), `/interim` (a 100 Continue, then `ok`), `/tecl` (chunked `hello` that also
/// claims `content-length: 3`), `/big` (1 MiB of `y` with a
/// Content-Length, in 64 KiB writes), `/http10` (an HTTP/1.0 answer). Returns the bound address.
pub async fn spawn_misbehaving() -> std::io::Result<SocketAddr> {
    spawn_raw(|mut tcp, head| async move {
        // Answers sent in pieces, 5 ms apart, so the gateway sees each framing split across reads.
        const IN_PIECES: [(&str, &[&[u8]]); 3] = [
            (
                " /chunked",
                &[
                    b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5;ext=1\r\nhel",
                    b"lo\r\n6\r\n world\r\n0\r\nx-trailer: t\r\n\r\n",
                ],
            ),
            (" /untilclose", &[b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil ", b"close"]),
            (" /interim", &[b"HTTP/1.1 100 Continue\r\n\r\n", b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"]),
        ];
        if let Some((_, pieces)) = IN_PIECES.iter().find(|(path, _)| head.contains(path)) {
            for (i, piece) in pieces.iter().enumerate() {
                if i > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                }
                let _ = tcp.write_all(piece).await;
            }
        } else if head.contains(" /garbage") {
            let _ = tcp.write_all(b"this is not http at all\r\n\r\n").await;
        } else if head.contains(" /silent") {
            tokio::time::sleep(std::time::Duration::from_secs(120)).await;
        } else if head.contains(" /short") {
            let _ = tcp.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789").await;
        } else if head.contains(" /badchunk") {
            let _ = tcp.write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n").await;
        } else if head.contains(" /big") {
            let _ = tcp.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1048576\r\n\r\n").await;
            for _ in 0..16 {
                if tcp.write_all(&[b'y'; 64 * 1024]).await.is_err() {
                    break;
                }
            }
        } else if head.contains(" /tecl") {
            // Both framings: chunked wins (RFC 9112 §6.3); a proxy passing the Content-Length on cuts the body.
            let _ =
                tcp.write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 3\r\n\r\n5\r\nhello\r\n0\r\n\r\n").await;
        } else if head.contains(" /http10") {
            let _ = tcp.write_all(b"HTTP/1.0 200 OK\r\ncontent-length: 4\r\n\r\nold!").await;
        }
        // `/reset` and everything else: drop the connection without a response.
    })
    .await
}

/// A raw TCP server on an ephemeral loopback port: `handler` gets each connection after its request head has
/// been read (byte by byte, so nothing after the head is consumed).
async fn spawn_raw<F, Fut>(handler: F) -> std::io::Result<SocketAddr>
where
    F: Fn(tokio::net::TcpStream, String) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let local = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((mut tcp, _)) = listener.accept().await else { continue };
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            let complete = loop {
                if head.ends_with(b"\r\n\r\n") {
                    break true;
                }
                match tcp.read(&mut byte).await {
                    Ok(1) => head.push(byte[0]),
                    _ => break false,
                }
            };
            if complete {
                tokio::spawn(handler(tcp, String::from_utf8_lossy(&head).into_owned()));
            }
        }
    });
    Ok(local)
}

/// `Sec-WebSocket-Accept` for a key (RFC 6455 §4.2.2).
pub fn websocket_accept(key: &str) -> String {
    use base64::Engine;
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
        format!("{key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11").as_bytes(),
    );
    base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
}

/// Reads one WebSocket frame: (opcode, payload), unmasking a client's frame.
pub async fn read_frame<R: tokio::io::AsyncRead + Unpin>(r: &mut R) -> std::io::Result<(u8, Vec<u8>)> {
    let mut h = [0u8; 2];
    r.read_exact(&mut h).await?;
    let len = match h[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            r.read_exact(&mut b).await?;
            u64::from(u16::from_be_bytes(b))
        }
        127 => {
            let mut b = [0u8; 8];
            r.read_exact(&mut b).await?;
            u64::from_be_bytes(b)
        }
        n => u64::from(n),
    };
    let mut mask = [0u8; 4];
    if h[1] & 0x80 != 0 {
        r.read_exact(&mut mask).await?;
    }
    let mut payload = vec![0u8; usize::try_from(len).map_err(|_| std::io::Error::other("frame too large"))?];
    r.read_exact(&mut payload).await?;
    if h[1] & 0x80 != 0 {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= mask[i % 4];
        }
    }
    Ok((h[0] & 0x0f, payload))
}

/// Encodes a final frame; `masked` for a client's frame.
pub fn frame(opcode: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mut f = vec![0x80 | opcode];
    let bit = if masked { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => f.push(bit | n as u8),
        n if n <= 0xffff => {
            f.push(bit | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(bit | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if masked {
        let mask = [0x12, 0x34, 0x56, 0x78];
        f.extend_from_slice(&mask);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    } else {
        f.extend_from_slice(payload);
    }
    f
}

/// A WebSocket echo backend: answers any handshake, echoes every data frame (prefixed with the request path
/// for the first frame's benefit: `path|payload`), answers close with close.
pub async fn spawn_websocket_echo() -> std::io::Result<SocketAddr> {
    spawn_raw(|mut tcp, head| async move {
        let path = head.split(' ').nth(1).unwrap_or("/").to_string();
        let Some(key) = head.lines().find_map(|l| {
            l.split_once(':').filter(|(k, _)| k.trim().eq_ignore_ascii_case("sec-websocket-key")).map(|(_, v)| v.trim().to_string())
        }) else {
            let _ = tcp.write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n").await;
            return;
        };
        let answer = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
            websocket_accept(&key)
        );
        if tcp.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
        while let Ok((opcode, payload)) = read_frame(&mut tcp).await {
            let reply = match opcode {
                8 => frame(8, &payload, false),
                9 => frame(10, &payload, false),
                _ => frame(opcode, &[path.as_bytes(), b"|", &payload].concat(), false),
            };
            if tcp.write_all(&reply).await.is_err() || opcode == 8 {
                return;
            }
        }
    })
    .await
}
