//! A reference for the gateway benchmark (`bench/gateway.sh`): the least a reverse proxy on the gateway's HTTP
//! stack (hyper 1.x, one tokio thread) does — HTTP/1.1 in, a keep-alive pool of HTTP/1.1 connections out, no
//! chain, no timeouts. `bare_proxy LISTEN BACKEND_ADDR PATH`; every request goes to PATH on the backend.

use std::sync::{Arc, Mutex};

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

type Body = http_body_util::combinators::BoxBody<hyper::body::Bytes, hyper::Error>;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:0".into());
    let backend = args.next().unwrap_or_else(|| "127.0.0.1:8080".into());
    let path: http::uri::PathAndQuery = args.next().unwrap_or_else(|| "/".into()).parse().map_err(std::io::Error::other)?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&listen).await?;
        println!("listening {}", listener.local_addr()?);
        let pool: Arc<Mutex<Vec<SendRequest<Body>>>> = Arc::default();
        loop {
            let (tcp, _) = listener.accept().await?;
            let _ = tcp.set_nodelay(true);
            let pool = pool.clone();
            let backend = backend.clone();
            let path = path.clone();
            let service = hyper::service::service_fn(move |req: http::Request<Incoming>| {
                let pool = pool.clone();
                let backend = backend.clone();
                let path = path.clone();
                async move {
                    let taken = pool.lock().map_err(|_| std::io::Error::other("poisoned"))?.pop();
                    let mut sender = match taken {
                        Some(s) => s,
                        None => {
                            let tcp = tokio::net::TcpStream::connect(&backend).await?;
                            let _ = tcp.set_nodelay(true);
                            let (s, conn) =
                                hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.map_err(std::io::Error::other)?;
                            tokio::spawn(conn);
                            s
                        }
                    };
                    sender.ready().await.map_err(std::io::Error::other)?;
                    let (mut parts, body) = req.into_parts();
                    parts.uri = http::Uri::from(path);
                    let resp = sender.send_request(http::Request::from_parts(parts, body.boxed())).await.map_err(std::io::Error::other)?;
                    let (parts, body) = resp.into_parts();
                    let bytes = body.collect().await.map_err(std::io::Error::other)?.to_bytes();
                    if let Ok(mut p) = pool.lock() {
                        p.push(sender);
                    }
                    let body: Body = http_body_util::Full::new(bytes).map_err(|n| match n {}).boxed();
                    Ok::<_, std::io::Error>(http::Response::from_parts(parts, body))
                }
            });
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tcp), service).await;
            });
        }
    })
}
