//! Keep-alive HTTP/1.1 connections to one backend endpoint. Leaner than a general-purpose client: one idle
//! list per endpoint, a connection goes back to it when its response body has been read to the end, and a
//! connection whose body was abandoned is closed rather than reused.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use http::uri::Scheme;
use hyper::body::{Body as HttpBody, Frame, Incoming};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;

use crate::proxy::Body;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Idle connections kept per endpoint; more are closed when returned.
const MAX_IDLE: usize = 1024;

#[derive(Debug)]
pub enum PoolError {
    /// No connection could be made: nothing was sent, so the request may go elsewhere.
    Connect(String),
    /// The request was (possibly) sent and failed.
    Request(hyper::Error),
}

impl std::fmt::Display for PoolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PoolError::Connect(e) => write!(f, "connect: {e}"),
            PoolError::Request(e) => write!(f, "{e}"),
        }
    }
}

#[derive(Default, Debug)]
pub struct Pool {
    idle: Mutex<Vec<SendRequest<Body>>>,
}

impl Pool {
    fn take(&self) -> Option<SendRequest<Body>> {
        let mut idle = self.idle.lock().ok()?;
        while let Some(s) = idle.pop() {
            if !s.is_closed() {
                return Some(s);
            }
        }
        None
    }

    fn give_back(&self, s: SendRequest<Body>) {
        if s.is_closed() {
            return;
        }
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < MAX_IDLE
        {
            idle.push(s);
        }
    }

    /// Sends `req` on an idle connection or a new one; the response body returns the connection when done.
    /// (Connecting is boxed: its TLS handshake state would otherwise sit in every request's future.)
    pub async fn send(
        self: &Arc<Self>,
        scheme: &Scheme,
        host: &str,
        port: u16,
        tls: &tokio_rustls::TlsConnector,
        req: http::Request<Body>,
    ) -> Result<http::Response<Body>, PoolError> {
        let mut sender = match self.take() {
            Some(mut s) => {
                // A connection is ready again once its previous response has been read; that is at most a poll away.
                match s.ready().await {
                    Ok(()) => s,
                    Err(_) => Box::pin(connect(scheme, host, port, tls, false)).await?,
                }
            }
            None => Box::pin(connect(scheme, host, port, tls, false)).await?,
        };
        let resp = sender.send_request(req).await.map_err(PoolError::Request)?;
        let (parts, body) = resp.into_parts();
        if body.is_end_stream() {
            self.give_back(sender);
            return Ok(http::Response::from_parts(parts, http_body_util::BodyExt::boxed(body)));
        }
        let body = Returning { inner: body, sender: Some(sender), pool: self.clone() };
        Ok(http::Response::from_parts(parts, http_body_util::BodyExt::boxed(body)))
    }
}

pub(crate) async fn connect(
    scheme: &Scheme,
    host: &str,
    port: u16,
    tls: &tokio_rustls::TlsConnector,
    upgrades: bool,
) -> Result<SendRequest<Body>, PoolError> {
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect((host, port)))
        .await
        .map_err(|_| PoolError::Connect(format!("{host}:{port}: connect timed out")))?
        .map_err(|e| PoolError::Connect(format!("{host}:{port}: {e}")))?;
    let _ = tcp.set_nodelay(true);
    if *scheme == Scheme::HTTPS {
        let name = ServerName::try_from(host.to_string()).map_err(|e| PoolError::Connect(format!("{host}: {e}")))?;
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, tls.connect(name, tcp))
            .await
            .map_err(|_| PoolError::Connect(format!("{host}:{port}: TLS handshake timed out")))?
            .map_err(|e| PoolError::Connect(format!("{host}:{port}: TLS: {e}")))?;
        handshake(TokioIo::new(stream), upgrades).await
    } else {
        handshake(TokioIo::new(tcp), upgrades).await
    }
}

async fn handshake<T>(io: T, upgrades: bool) -> Result<SendRequest<Body>, PoolError>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (sender, conn) = http1::Builder::new().handshake(io).await.map_err(|e| PoolError::Connect(e.to_string()))?;
    if upgrades {
        tokio::spawn(async move {
            if let Err(e) = conn.with_upgrades().await {
                tracing::debug!("backend connection ended: {e}");
            }
        });
    } else {
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!("backend connection ended: {e}");
            }
        });
    }
    Ok(sender)
}

/// A response body that hands its connection back to the pool once read to the end.
struct Returning {
    inner: Incoming,
    sender: Option<SendRequest<Body>>,
    pool: Arc<Pool>,
}

impl HttpBody for Returning {
    type Data = hyper::body::Bytes;
    type Error = hyper::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        // The server stops polling once `is_end_stream` says so, so the end is noticed after the last frame too.
        let done = matches!(polled, Poll::Ready(None)) || (matches!(polled, Poll::Ready(Some(Ok(_)))) && self.inner.is_end_stream());
        if done && let Some(s) = self.sender.take() {
            self.pool.give_back(s);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}
