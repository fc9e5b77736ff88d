//! One accept loop for plain and TLS listeners, with graceful drain: on shutdown it stops accepting and
//! waits for in-flight requests up to a deadline. Every listener is bounded (`[transport.limits]`): connections
//! per listener and per client address are admitted or closed at once, a connection silent both ways for the idle
//! timeout is closed, HTTP/1.1 heads (and the wait between kept-alive requests) have a deadline, and running out
//! of file descriptors backs off without spinning, logged once a second and counted.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use apim_config::{IpNet, ListenerLimits};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

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
    /// Who may hold a connection, and the counts `/metrics` shows.
    pub admission: Arc<Admission>,
}

/// A listener's connection limits and counters.
pub struct Admission {
    name: &'static str,
    limits: ListenerLimits,
    /// Load balancers: exempt from the per-client limit (they carry many clients).
    trusted: Vec<IpNet>,
    /// `[apim.gateway] proxy_protocol`: connections from `trusted` peers start with a PROXY protocol header.
    proxy_protocol: bool,
    proxy_refused: AtomicU64,
    open: AtomicUsize,
    per_client: Mutex<HashMap<IpAddr, usize>>,
    refused_full: AtomicU64,
    refused_client: AtomicU64,
    accept_errors: AtomicU64,
    idle_closed: AtomicU64,
    /// When an accept error was last logged, in seconds since `born` (one line a second at most).
    last_error_log: AtomicU64,
    born: std::time::Instant,
}

impl Admission {
    pub fn new(name: &'static str, limits: ListenerLimits, trusted: Vec<IpNet>, proxy_protocol: bool) -> Arc<Admission> {
        Arc::new(Admission {
            name,
            limits,
            trusted,
            proxy_protocol,
            proxy_refused: AtomicU64::new(0),
            open: AtomicUsize::new(0),
            per_client: Mutex::new(HashMap::new()),
            refused_full: AtomicU64::new(0),
            refused_client: AtomicU64::new(0),
            accept_errors: AtomicU64::new(0),
            idle_closed: AtomicU64::new(0),
            last_error_log: AtomicU64::new(u64::MAX),
            born: std::time::Instant::now(),
        })
    }

    /// A permit for a connection from `ip`, or none when the listener or this client is at its limit.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Permit> {
        if self.open.fetch_add(1, Ordering::AcqRel) >= self.limits.max_connections {
            self.open.fetch_sub(1, Ordering::AcqRel);
            self.refused_full.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let counted = !self.trusted.iter().any(|n| n.contains(ip));
        if counted {
            let mut map = self.per_client.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let n = map.entry(ip).or_insert(0);
            if *n >= self.limits.max_connections_per_client {
                drop(map);
                self.open.fetch_sub(1, Ordering::AcqRel);
                self.refused_client.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            *n += 1;
        }
        Some(Permit { admission: self.clone(), ip: counted.then_some(ip) })
    }

    /// The client's address: from a PROXY protocol header when this listener takes them and the peer is a
    /// trusted balancer, else the peer's. `None`: a balancer's header that cannot be read (the connection closes).
    async fn client_of<IO: AsyncRead + Unpin>(&self, io: &mut IO, peer: SocketAddr) -> Option<SocketAddr> {
        if !self.proxy_protocol || !self.trusted.iter().any(|n| n.contains(peer.ip())) {
            return Some(peer);
        }
        match crate::proxy_protocol::read(io, self.limits.header_read_timeout).await {
            Ok(crate::proxy_protocol::Source::Client(a)) => Some(a),
            Ok(crate::proxy_protocol::Source::Own) => Some(peer),
            Err(e) => {
                self.proxy_refused.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(listener = self.name, %peer, "{e}");
                None
            }
        }
    }

    pub(crate) fn accept_failed(&self, e: &std::io::Error) {
        self.accept_errors.fetch_add(1, Ordering::Relaxed);
        let now = self.born.elapsed().as_secs();
        let last = self.last_error_log.swap(now, Ordering::Relaxed);
        if last != now {
            tracing::warn!(listener = self.name, error = %e, total = self.accept_errors.load(Ordering::Relaxed), "accept failed; backing off");
        }
    }

    /// Prometheus text for every listener of a node.
    pub fn render(all: &[Arc<Admission>]) -> String {
        let mut out = String::new();
        // (name, type, help, reading)
        type Metric = (&'static str, &'static str, &'static str, fn(&Admission) -> u64);
        let metrics: [Metric; 6] = [
            ("apim_listener_connections", "gauge", "Open connections.", |a| a.open.load(Ordering::Relaxed) as u64),
            ("apim_listener_refused_total", "counter", "Connections closed at once: the listener was full.", |a| {
                a.refused_full.load(Ordering::Relaxed)
            }),
            ("apim_listener_refused_per_client_total", "counter", "Connections closed at once: their client held its limit.", |a| {
                a.refused_client.load(Ordering::Relaxed)
            }),
            ("apim_listener_accept_errors_total", "counter", "Failed accepts (out of file descriptors and the like).", |a| {
                a.accept_errors.load(Ordering::Relaxed)
            }),
            ("apim_listener_idle_closed_total", "counter", "Connections closed for moving no byte within the idle timeout.", |a| {
                a.idle_closed.load(Ordering::Relaxed)
            }),
            ("apim_listener_proxy_protocol_refused_total", "counter", "Balancer connections whose PROXY header could not be read.", |a| {
                a.proxy_refused.load(Ordering::Relaxed)
            }),
        ];
        for (name, kind, help, read) in metrics {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for a in all {
                let _ = writeln!(out, "{name}{{listener=\"{}\"}} {}", a.name, read(a));
            }
        }
        out
    }
}

/// One admitted connection; gives its place back when dropped.
pub(crate) struct Permit {
    admission: Arc<Admission>,
    ip: Option<IpAddr>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.admission.open.fetch_sub(1, Ordering::AcqRel);
        if let Some(ip) = self.ip {
            let mut map = self.admission.per_client.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(n) = map.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    map.remove(&ip);
                }
            }
        }
    }
}

/// A connection's IO that notes when bytes move, for the idle watchdog: one relaxed store per read or write.
pub struct Idle<IO> {
    io: IO,
    moved: Arc<AtomicBool>,
}

impl<IO: AsyncRead + Unpin> AsyncRead for Idle<IO> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() != before {
            self.moved.store(true, Ordering::Relaxed);
        }
        r
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Idle<IO> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write(cx, data);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.moved.store(true, Ordering::Relaxed);
        }
        r
    }
    fn poll_write_vectored(mut self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[std::io::IoSlice<'_>]) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.moved.store(true, Ordering::Relaxed);
        }
        r
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// An admitted connection: its IO (watched for idleness) and what it holds of the listener.
struct Admitted {
    tcp: Idle<tokio::net::TcpStream>,
    peer: SocketAddr,
    guard: ConnGuard,
}

/// Lives as long as the connection's task: its place in the listener's counts.
struct ConnGuard {
    _permit: Permit,
    moved: Arc<AtomicBool>,
    admission: Arc<Admission>,
}

impl ConnGuard {
    /// The watchdog for this connection, to start once its task is spawned.
    fn watchdog(&self) -> Watchdog {
        Watchdog { moved: self.moved.clone(), admission: self.admission.clone() }
    }
}

/// Closes a connection that moves no byte: one that has sent nothing by the head deadline (hyper's version
/// detection would wait for its first bytes forever, and its head timer only starts after them), and one silent
/// either way for a whole idle period (checked once a period: closed after one to two periods of silence). A task
/// of its own beside the connection's, waking once a period: the connection's task polls nothing extra per
/// request.
struct Watchdog {
    moved: Arc<AtomicBool>,
    admission: Arc<Admission>,
}

impl Watchdog {
    fn start(self, conn: tokio::task::AbortHandle) {
        let period = self.admission.limits.idle_timeout;
        let first = self.admission.limits.header_read_timeout.min(period);
        tokio::spawn(async move {
            tokio::time::sleep(first).await;
            loop {
                if conn.is_finished() {
                    return;
                }
                if !self.moved.swap(false, Ordering::Relaxed) {
                    self.admission.idle_closed.fetch_add(1, Ordering::Relaxed);
                    conn.abort();
                    return;
                }
                tokio::time::sleep(period).await;
            }
        });
    }
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
    let builder = management_builder(l.admission.limits.header_read_timeout);
    let make = move |_, _: Option<&rustls::pki_types::CertificateDer<'_>>| {
        let svc = TowerToHyperService::new(router.clone());
        hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
            hyper::service::Service::call(&svc, req.map(|b| DrainOnDrop(Some(b))))
        })
    };
    serve_with(l, builder, make, shutdown, drain).await
}

/// How much of an HTTP/2 request body nobody read is still taken in (and dropped), and for how long.
const DRAIN_BYTES: usize = 1 << 20;
const DRAIN_TIME: Duration = Duration::from_secs(10);

/// A request body that, dropped unread (a 404 or 401 answered before the upload ended), is read to its end in
/// the background, up to `DRAIN_BYTES`: otherwise HTTP/2 resets the stream after the answer and some clients
/// report the reset instead of the answer, where HTTP/1.1 gives them the answer. Every answer is then the same
/// on both.
pub struct DrainOnDrop(Option<hyper::body::Incoming>);

impl hyper::body::Body for DrainOnDrop {
    type Data = hyper::body::Bytes;
    type Error = hyper::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        match self.0.as_mut() {
            Some(b) => Pin::new(b).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.0.as_ref().is_none_or(hyper::body::Body::is_end_stream)
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.0.as_ref().map(hyper::body::Body::size_hint).unwrap_or_default()
    }
}

impl Drop for DrainOnDrop {
    fn drop(&mut self) {
        let Some(mut body) = self.0.take() else { return };
        if hyper::body::Body::is_end_stream(&body) || tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        tokio::spawn(async move {
            let drain = async {
                let mut taken = 0usize;
                while let Some(Ok(frame)) = http_body_util::BodyExt::frame(&mut body).await {
                    taken += frame.data_ref().map_or(0, |d| d.len());
                    if taken > DRAIN_BYTES {
                        return;
                    }
                }
            };
            let _ = tokio::time::timeout(DRAIN_TIME, drain).await;
        });
    }
}

/// hyper for the management listeners: a deadline for every HTTP/1.1 head (and so for the wait between
/// kept-alive requests), bounded heads and HTTP/2 streams.
pub fn management_builder(header_read_timeout: Duration) -> Builder<TokioExecutor> {
    let mut b = Builder::new(TokioExecutor::new());
    b.http1().timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(header_read_timeout).max_buf_size(64 * 1024);
    b.http2().timer(hyper_util::rt::TokioTimer::new()).max_header_list_size(64 * 1024).max_concurrent_streams(128);
    b
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
    M: Fn(SocketAddr, Option<&rustls::pki_types::CertificateDer<'_>>) -> S + Send + Sync + 'static,
    S: hyper::service::Service<http::Request<hyper::body::Incoming>, Response = http::Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let graceful = GracefulShutdown::new();
    let acceptor = l.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    let make = Arc::new(make);
    loop {
        let Some(Admitted { mut tcp, peer, guard }) = accept(&l, &mut shutdown).await else { break };
        let (make, builder, watcher, acceptor, admission) =
            (make.clone(), builder.clone(), graceful.watcher(), acceptor.clone(), l.admission.clone());
        let watchdog = guard.watchdog();
        let task = tokio::spawn(async move {
            let _guard = guard;
            let Some(client) = admission.client_of(&mut tcp, peer).await else { return };
            match acceptor {
                None => {
                    let service = make(client, None);
                    let _ = watcher.watch(builder.serve_connection_with_upgrades(TokioIo::new(tcp), service)).await;
                }
                Some(acceptor) => {
                    let Some(stream) = handshake(&acceptor, tcp, peer).await else { return };
                    // The certificate a TLS client presented, for a gateway listener's mutual TLS.
                    let service = make(client, stream.get_ref().1.peer_certificates().and_then(|c| c.first()));
                    let _ = watcher.watch(builder.serve_connection_with_upgrades(TokioIo::new(stream), service)).await;
                }
            }
        });
        watchdog.start(task.abort_handle());
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
    M: Fn(SocketAddr) -> crate::GatewayService + Send + Sync + 'static,
{
    let acceptor = l.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    let head_timeout = l.admission.limits.header_read_timeout;
    let mut conns = tokio::task::JoinSet::new();
    let make = Arc::new(make);
    loop {
        let Some(Admitted { mut tcp, peer, guard }) = accept(&l, &mut shutdown).await else { break };
        while conns.try_join_next().is_some() {}
        let (make, builder, rx, acceptor, admission) =
            (make.clone(), builder.clone(), shutdown.clone(), acceptor.clone(), l.admission.clone());
        let watchdog = guard.watchdog();
        // The connection's work is boxed: the task then holds a pointer, not the whole request path's state, so
        // spawning it copies a few hundred bytes instead of kilobytes (a new connection per request pays that).
        let task = conns.spawn(async move {
            let _guard = guard;
            let Some(client) = admission.client_of(&mut tcp, peer).await else { return };
            let service = make(client);
            let Some(acceptor) = acceptor else {
                return Box::pin(gateway_connection(tcp, service, builder, rx, head_timeout)).await;
            };
            let Some(stream) = Box::pin(handshake(&acceptor, tcp, peer)).await else { return };
            // Mutual TLS: the certificate the client presented goes with each of its requests.
            let service = service.with_client_certificate(stream.get_ref().1.peer_certificates().and_then(|c| c.first()));
            if stream.get_ref().1.alpn_protocol() == Some(b"h2") {
                Box::pin(hyper_graceful(builder.serve_connection_with_upgrades(TokioIo::new(stream), service), rx)).await;
            } else {
                Box::pin(gateway_connection(stream, service, builder, rx, head_timeout)).await;
            }
        });
        watchdog.start(task);
    }
    drop(l.listener);
    let drained = tokio::time::timeout(drain, async { while conns.join_next().await.is_some() {} });
    if drained.await.is_err() {
        tracing::warn!(listener = l.name, "in-flight requests did not finish within {drain:?}; closing them");
    }
}

/// One socket of an API traffic listener, for a traffic worker.
pub(crate) struct TrafficSocket<M, S = TcpListener> {
    pub name: &'static str,
    pub socket: S,
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub admission: Arc<Admission>,
    pub make: M,
}

/// A thread serving one socket of each API traffic listener on a current-thread runtime of its own: no work
/// stealing, no cross-thread wake-ups on the request path. The listeners' other sockets (`SO_REUSEPORT`) have
/// their own workers; the kernel spreads new connections over them, and they share the gateway, its snapshot and
/// its counters, and each listener's connection limits.
///
/// Starts the worker (`index` from 1, for its thread name and [`apim_gateway::worker`]); the receiver hears
/// once it has stopped accepting and drained. Sockets whose worker cannot start are closed, so the kernel sends
/// them no connection.
pub(crate) fn start_traffic_worker<M>(
    index: u16,
    sockets: Vec<TrafficSocket<M>>,
    builder: Builder<TokioExecutor>,
    shutdown: watch::Receiver<bool>,
    drain: Duration,
) -> std::io::Result<tokio::sync::oneshot::Receiver<()>>
where
    M: Fn(SocketAddr) -> crate::GatewayService + Send + Sync + 'static,
{
    // Taken off this runtime's reactor, to join the worker's.
    let sockets = sockets
        .into_iter()
        .map(|s| Ok(TrafficSocket { socket: s.socket.into_std()?, name: s.name, tls: s.tls, admission: s.admission, make: s.make }))
        .collect::<std::io::Result<Vec<TrafficSocket<M, std::net::TcpListener>>>>()?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let (done, stopped) = tokio::sync::oneshot::channel();
    std::thread::Builder::new().name(format!("apim-traffic-{index}")).spawn(move || {
        apim_gateway::worker::enter(index);
        runtime.block_on(async move {
            let mut serving = tokio::task::JoinSet::new();
            for TrafficSocket { name, socket, tls, admission, make } in sockets {
                match TcpListener::from_std(socket) {
                    Ok(listener) => {
                        let l = Listener { name, listener, tls, admission };
                        serving.spawn(serve_gateway(l, builder.clone(), make, shutdown.clone(), drain));
                    }
                    Err(e) => tracing::error!(listener = name, worker = index, "cannot serve: {e}"),
                }
            }
            while serving.join_next().await.is_some() {}
        });
        // Connections' leftover tasks (idle watchdogs, backend connections) end with the runtime.
        drop(runtime);
        let _ = done.send(());
    })?;
    Ok(stopped)
}

/// One traffic connection: the gateway's HTTP/1.1 server, then hyper if it hands the connection over.
async fn gateway_connection<IO>(
    io: IO,
    service: crate::GatewayService,
    builder: Builder<TokioExecutor>,
    rx: watch::Receiver<bool>,
    head_timeout: Duration,
) where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let chain = service.clone();
    if let Some(rest) = apim_gateway::inbound::serve(io, |req| chain.chain(req), &rx, head_timeout).await {
        // Rare (upgrades, what the gateway's own server does not take on), and large: boxed.
        Box::pin(hyper_graceful(builder.serve_connection_with_upgrades(TokioIo::new(rest), service), rx)).await;
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

/// The next admitted connection (with Nagle off), or none once shutdown has been requested. A connection over a
/// limit is closed at once (the client sees the close, and the backlog drains); an accept error (out of file
/// descriptors) backs off 50 ms, so other listeners and the connections in flight keep running.
async fn accept(l: &Listener, shutdown: &mut watch::Receiver<bool>) -> Option<Admitted> {
    loop {
        tokio::select! {
            accepted = l.listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    let Some(permit) = l.admission.admit(peer.ip()) else { continue };
                    let _ = tcp.set_nodelay(true);
                    let moved = Arc::new(AtomicBool::new(false));
                    let guard = ConnGuard { _permit: permit, moved: moved.clone(), admission: l.admission.clone() };
                    return Some(Admitted { tcp: Idle { io: tcp, moved }, peer, guard });
                }
                Err(e) => {
                    l.admission.accept_failed(&e);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            () = stopped(shutdown) => return None,
        }
    }
}

/// A TLS handshake within `HANDSHAKE_TIMEOUT`; a failed one is logged at debug level (clients probe and give up).
async fn handshake<IO: AsyncRead + AsyncWrite + Unpin>(
    acceptor: &tokio_rustls::TlsAcceptor,
    tcp: IO,
    peer: SocketAddr,
) -> Option<tokio_rustls::server::TlsStream<IO>> {
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
