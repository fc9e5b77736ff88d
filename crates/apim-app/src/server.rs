//! One accept loop for plain and TLS listeners, with graceful drain: on shutdown it stops accepting and
//! waits for in-flight requests up to a deadline.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// How long a TLS handshake may take before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Listener {
    pub name: &'static str,
    pub listener: TcpListener,
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl Listener {
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }
}

/// Serves `router` until `shutdown` flips to true, then drains for at most `drain`.
pub async fn serve(l: Listener, router: axum::Router, shutdown: watch::Receiver<bool>, drain: Duration) {
    let builder = Builder::new(TokioExecutor::new());
    serve_with(l, builder, move |_| TowerToHyperService::new(router.clone()), shutdown, drain).await
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The accept loop for any hyper service: `make` builds the service for a connection from the peer's address.
pub async fn serve_with<M, S, B>(
    l: Listener,
    builder: Builder<TokioExecutor>,
    make: M,
    mut shutdown: watch::Receiver<bool>,
    drain: Duration,
) where
    M: Fn(SocketAddr) -> S,
    S: hyper::service::Service<http::Request<hyper::body::Incoming>, Response = http::Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let graceful = GracefulShutdown::new();
    let acceptor = l.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    loop {
        let Some((tcp, peer)) = accept(&l, &mut shutdown).await else { break };
        let service = make(peer);
        match &acceptor {
            None => {
                let conn = builder.serve_connection_with_upgrades(TokioIo::new(tcp), service).into_owned();
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let builder = builder.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let Some(stream) = handshake(&acceptor, tcp, peer).await else { return };
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                    let _ = watcher.watch(conn).await;
                });
            }
        }
    }
    drop(l.listener);
    if tokio::time::timeout(drain, graceful.shutdown()).await.is_err() {
        tracing::warn!(listener = l.name, "in-flight requests did not finish within {drain:?}; closing them");
    }
}

/// The accept loop of the gateway's API traffic listeners: HTTP/1.1 connections run the gateway's own server
/// (`apim_gateway::inbound`), which passes a connection to hyper (`builder`) for what it does not take on; TLS
/// connections that chose HTTP/2 by ALPN go to hyper at once. On shutdown idle connections close, requests in
/// flight finish (for at most `drain`).
pub(crate) async fn serve_gateway<M>(
    l: Listener,
    builder: Builder<TokioExecutor>,
    make: M,
    mut shutdown: watch::Receiver<bool>,
    drain: Duration,
) where
    M: Fn(SocketAddr) -> crate::GatewayService,
{
    let acceptor = l.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let Some((tcp, peer)) = accept(&l, &mut shutdown).await else { break };
        while conns.try_join_next().is_some() {}
        let service = make(peer);
        let builder = builder.clone();
        let rx = shutdown.clone();
        match &acceptor {
            None => {
                conns.spawn(gateway_connection(tcp, service, builder, rx));
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                conns.spawn(async move {
                    let Some(stream) = handshake(&acceptor, tcp, peer).await else { return };
                    if stream.get_ref().1.alpn_protocol() == Some(b"h2") {
                        hyper_graceful(builder.serve_connection_with_upgrades(TokioIo::new(stream), service), rx).await;
                    } else {
                        gateway_connection(stream, service, builder, rx).await;
                    }
                });
            }
        }
    }
    drop(l.listener);
    let drained = tokio::time::timeout(drain, async { while conns.join_next().await.is_some() {} });
    if drained.await.is_err() {
        tracing::warn!(listener = l.name, "in-flight requests did not finish within {drain:?}; closing them");
    }
}

/// One traffic connection: the gateway's HTTP/1.1 server, then hyper if it hands the connection over.
async fn gateway_connection<IO>(io: IO, service: crate::GatewayService, builder: Builder<TokioExecutor>, rx: watch::Receiver<bool>)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let chain = service.clone();
    if let Some(rest) = apim_gateway::inbound::serve(io, |req| chain.chain(req), &rx).await {
        hyper_graceful(builder.serve_connection_with_upgrades(TokioIo::new(rest), service), rx).await;
    }
}

/// Runs a hyper connection; on shutdown it finishes what is in flight and closes.
async fn hyper_graceful<C>(conn: C, mut rx: watch::Receiver<bool>)
where
    C: hyper_util::server::graceful::GracefulConnection,
{
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => return,
        () = stopped(&mut rx) => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}

/// The next connection (with Nagle off), or none once shutdown has been requested.
async fn accept(l: &Listener, shutdown: &mut watch::Receiver<bool>) -> Option<(tokio::net::TcpStream, SocketAddr)> {
    loop {
        tokio::select! {
            accepted = l.listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    let _ = tcp.set_nodelay(true);
                    return Some((tcp, peer));
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(listener = l.name, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            () = stopped(shutdown) => return None,
        }
    }
}

/// A TLS handshake within `HANDSHAKE_TIMEOUT`; a failed one is logged at debug level (clients probe and give up).
async fn handshake(
    acceptor: &tokio_rustls::TlsAcceptor,
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
) -> Option<tokio_rustls::server::TlsStream<tokio::net::TcpStream>> {
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(s)) => Some(s),
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "tls handshake failed");
            None
        }
        Err(_) => None,
    }
}

/// Resolves once shutdown has been requested (or the sender is gone).
pub async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await.map(|_| ());
}
