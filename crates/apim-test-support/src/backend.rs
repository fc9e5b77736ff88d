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

/// Starts the well-behaved backend on `addr` (port 0 for an ephemeral one); returns the bound address.
///
/// - `GET /bytes/{n}`: `n` bytes of `x`;
/// - `POST /count`: reads the whole body as a stream and answers `{"bytes": n}`;
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
    if path == "/count" {
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
    let headers: serde_json::Map<String, serde_json::Value> =
        req.headers().iter().map(|(k, v)| (k.as_str().to_string(), serde_json::json!(v.to_str().unwrap_or("")))).collect();
    let doc = serde_json::json!({"method": req.method().as_str(), "path": req.uri().to_string(), "headers": headers});
    let mut resp = Response::new(Full::new(Bytes::from(doc.to_string())));
    resp.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    Ok(resp)
}

/// Starts a backend that misbehaves by path: `/reset` closes the connection without answering, `/garbage`
/// answers bytes that are not HTTP, `/silent` never answers. Returns the bound address.
pub async fn spawn_misbehaving() -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let local = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((mut tcp, _)) = listener.accept().await else { continue };
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tcp.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf);
                if head.contains(" /garbage") {
                    let _ = tcp.write_all(b"this is not http at all\r\n\r\n").await;
                } else if head.contains(" /silent") {
                    tokio::time::sleep(std::time::Duration::from_secs(120)).await;
                }
                // `/reset` and everything else: drop the connection without a response.
            });
        }
    });
    Ok(local)
}
