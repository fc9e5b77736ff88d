//! The event hub's listener: one port (5672 + offset) serves `tcp://` and `ssl://` subscribers alike. The first
//! byte of a connection decides: a TLS handshake record (0x16) is answered with the node's certificate, anything
//! else is taken as plain HTTP/2. So a control plane needs no second port, and each subscriber picks the scheme
//! its configuration names.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// How long a new connection may take to send its first byte and finish a TLS handshake.
const HANDSHAKE: Duration = Duration::from_secs(10);

enum HubIo {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

/// An admitted subscriber connection; its place in the listener's counts goes with it.
pub struct HubConn {
    io: HubIo,
    _permit: crate::server::Permit,
}

impl AsyncRead for HubConn {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            HubIo::Plain(s) => Pin::new(s).poll_read(cx, buf),
            HubIo::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for HubConn {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            HubIo::Plain(s) => Pin::new(s).poll_write(cx, buf),
            HubIo::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            HubIo::Plain(s) => Pin::new(s).poll_flush(cx),
            HubIo::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            HubIo::Plain(s) => Pin::new(s).poll_shutdown(cx),
            HubIo::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

impl tonic::transport::server::Connected for HubConn {
    type ConnectInfo = ();
    fn connect_info(&self) -> Self::ConnectInfo {}
}

/// Accepted connections, plain or TLS, for tonic; ends when the server drops it.
/// Connections over the listener's limits (`[transport.limits]`, as on every listener) are closed at once.
pub fn incoming(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    admission: Arc<crate::server::Admission>,
) -> tokio_stream::wrappers::ReceiverStream<io::Result<HubConn>> {
    let mut cfg = (*tls).clone();
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        admission.accept_failed(&e);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = tx.closed() => return,
            };
            let Some(permit) = admission.admit(peer.ip()) else { continue };
            let _ = stream.set_nodelay(true);
            let (tx, acceptor) = (tx.clone(), acceptor.clone());
            tokio::spawn(async move {
                let conn = tokio::time::timeout(HANDSHAKE, async {
                    let mut first = [0u8; 1];
                    stream.peek(&mut first).await?;
                    let io = if first[0] == 0x16 { HubIo::Tls(Box::new(acceptor.accept(stream).await?)) } else { HubIo::Plain(stream) };
                    Ok::<_, io::Error>(HubConn { io, _permit: permit })
                })
                .await;
                match conn {
                    Ok(Ok(c)) => {
                        let _ = tx.send(Ok(c)).await;
                    }
                    Ok(Err(e)) => tracing::debug!(%peer, "event hub connection dropped before it started: {e}"),
                    Err(_) => tracing::debug!(%peer, "event hub connection sent nothing for {HANDSHAKE:?}; closed"),
                }
            });
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

type EventHub = apim_wire::hub::event_hub_server::EventHubServer<apim_control_plane::hub::HubService>;

/// The event hub's gRPC service from the moment the port is bound: `UNAVAILABLE`, naming what is not ready,
/// until the control plane is up and [`LateHub::set`] hands it the real service. A subscriber then moves to its
/// next endpoint at once instead of waiting out a connection nobody answers.
#[derive(Clone)]
pub struct LateHub {
    hub: Arc<std::sync::OnceLock<EventHub>>,
    health: Arc<crate::health::Health>,
}

impl LateHub {
    pub fn new(health: Arc<crate::health::Health>) -> LateHub {
        LateHub { hub: Arc::default(), health }
    }

    pub fn set(&self, hub: EventHub) {
        let _ = self.hub.set(hub);
    }
}

impl tonic::server::NamedService for LateHub {
    const NAME: &'static str = <EventHub as tonic::server::NamedService>::NAME;
}

impl tower::Service<http::Request<tonic::body::Body>> for LateHub {
    type Response = http::Response<tonic::body::Body>;
    type Error = std::convert::Infallible;
    type Future = Pin<Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        match self.hub.get() {
            Some(hub) => {
                let mut hub = hub.clone();
                Box::pin(async move { tower::Service::call(&mut hub, req).await })
            }
            None => {
                let what: Vec<String> = self.health.unready().into_iter().map(|(name, reason)| format!("{name}: {reason}")).collect();
                let status = tonic::Status::unavailable(format!("the control plane is not ready yet ({})", what.join("; ")));
                Box::pin(std::future::ready(Ok(status.into_http())))
            }
        }
    }
}
