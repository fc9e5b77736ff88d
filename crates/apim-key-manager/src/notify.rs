//! Revocation notices: every revoked access token is POSTed to each `[[event_listener]]` with
//! `id = "token_revocation"`. The revoking request never waits: notices go through a bounded queue into the
//! database's outbox (`oauth_notice`), and a worker per listener delivers them in order, retrying each until the
//! listener takes it (backoff up to 10 s) and deleting it then. So a control plane that is away for a while,
//! or a key manager restarted meanwhile, loses no revocation; one listener never holds up another. Only a full
//! queue (10,000 notices not yet written) loses notices, and says so.

use std::sync::Arc;
use std::time::Duration;

use apim_domain::clock::Clock;
use apim_domain::oauth::{TokenFormat, TokenRecord};
use apim_store::{Db, NoticeStore};
use base64::Engine;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::json;
use tokio::sync::{Notify, mpsc};

/// Where notices go.
#[derive(Clone, Debug)]
pub struct Listener {
    pub url: String,
    pub username: Option<String>,
    pub password: Option<String>,
    pub headers: Vec<(String, String)>,
}

/// Queue depth: a burst of revocations (a deleted client with many tokens) waits here to be written.
const QUEUE: usize = 10_000;
/// Notices older than this are dropped (a listener removed from the configuration keeps none for ever).
const KEEP: i64 = 7 * 24 * 3600;

#[derive(Clone)]
pub struct Notifier {
    /// Notice bodies on their way into the outbox; `None` without listeners.
    tx: Option<mpsc::Sender<Vec<String>>>,
    /// In-process subscribers (the resident gateway of an all-in-one node). A lagging receiver loses notices
    /// and is told so by `broadcast`; it then refreshes from its snapshot.
    local: tokio::sync::broadcast::Sender<apim_domain::scopes::RevokedToken>,
}

impl Notifier {
    /// Starts the outbox writer and a worker per listener; `tls` verifies https listeners; `clock` dates the
    /// notices and decides which are old enough to prune.
    pub fn start(
        db: Db,
        listeners: Vec<Listener>,
        tls: Arc<rustls::ClientConfig>,
        hosts: &apim_config::HostsFile,
        clock: Clock,
    ) -> Notifier {
        let local = tokio::sync::broadcast::channel(4096).0;
        if listeners.is_empty() {
            return Notifier { tx: None, local };
        }
        let connector = apim_net::https_connector(hosts, &tls);
        let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(connector);
        let mut wakers = Vec::new();
        for l in listeners {
            let wake = Arc::new(Notify::new());
            wakers.push((l.url.clone(), wake.clone()));
            tokio::spawn(worker(db.clone(), l, client.clone(), wake, clock.clone()));
        }
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(writer(db, rx, wakers, clock));
        Notifier { tx: Some(tx), local }
    }

    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<apim_domain::scopes::RevokedToken> {
        self.local.subscribe()
    }

    /// Queues one notice per revoked access token. Never blocks; a full queue is logged.
    pub fn revoked(&self, tokens: &[TokenRecord]) {
        let mut bodies = Vec::new();
        for t in tokens.iter().filter(|t| t.kind == apim_domain::oauth::TokenKind::Access) {
            // For a JWT the gateways know the jti; for an opaque token, its SHA-256 (they cache by hash).
            let (revoked, kind) = match t.format {
                TokenFormat::Jwt => (t.key.strip_prefix("jti:").unwrap_or(&t.key).to_string(), "JWT"),
                TokenFormat::Opaque => (t.key.clone(), "DEFAULT"),
            };
            // No receiver is not an error: a key manager without a resident gateway.
            let _ = self.local.send(apim_domain::scopes::RevokedToken { id: revoked.clone(), expires_at: t.expires_at });
            bodies.push(
                json!({
                    "eventId": uuid::Uuid::new_v4().to_string(),
                    "revokedToken": revoked,
                    "ttl": 5000,
                    "expiryTime": t.expires_at * 1000,
                    "type": kind,
                    "tenantId": -1234,
                })
                .to_string(),
            );
        }
        let Some(tx) = &self.tx else { return };
        if !bodies.is_empty() && tx.try_send(bodies).is_err() {
            tracing::error!(tokens = tokens.len(), "revocation notice queue is full; notices for these tokens not sent");
        }
    }
}

/// Writes queued notices into the outbox, one row per listener, then wakes the listeners' workers.
async fn writer(db: Db, mut rx: mpsc::Receiver<Vec<String>>, wakers: Vec<(String, Arc<Notify>)>, clock: Clock) {
    while let Some(bodies) = rx.recv().await {
        for (url, wake) in &wakers {
            let mut delay = Duration::from_millis(200);
            while let Err(e) = db.enqueue_notices(url, &bodies, clock.unix_secs()).await {
                tracing::warn!(listener = %url, "cannot queue revocation notices in the database: {e}; retrying in {delay:?}");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
            wake.notify_one();
        }
    }
}

/// Delivers a listener's notices from the outbox in order. Looks again every 5 s even unwoken: rows queued
/// before a restart, or by another key-manager node on the same database.
async fn worker<C>(db: Db, l: Listener, client: Client<C, Full<Bytes>>, wake: Arc<Notify>, clock: Clock)
where
    C: hyper_util::client::legacy::connect::Connect + Clone + Send + Sync + 'static,
{
    let mut pruned = tokio::time::Instant::now() - Duration::from_secs(3600);
    loop {
        if pruned.elapsed() >= Duration::from_secs(3600) {
            pruned = tokio::time::Instant::now();
            if let Err(e) = db.prune_notices(clock.unix_secs() - KEEP).await {
                tracing::warn!("cannot prune old revocation notices: {e}");
            }
        }
        let pending = match db.pending_notices(&l.url, 100).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(listener = %l.url, "cannot read revocation notices: {e}; retrying in 1s");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if pending.is_empty() {
            let _ = tokio::time::timeout(Duration::from_secs(5), wake.notified()).await;
            continue;
        }
        for (id, body) in pending {
            deliver(&client, &l, &body).await;
            if let Err(e) = db.delete_notice(id).await {
                // Sent but still queued: it goes again later, which the listener takes as a repeat.
                tracing::warn!(listener = %l.url, "cannot remove a delivered revocation notice: {e}");
            }
        }
    }
}

/// Sends one notice until the listener takes it.
async fn deliver<C>(client: &Client<C, Full<Bytes>>, l: &Listener, body: &str)
where
    C: hyper_util::client::legacy::connect::Connect + Clone + Send + Sync + 'static,
{
    let mut delay = Duration::from_millis(200);
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        match send(client, l, body).await {
            Ok(()) => {
                if attempt > 1 {
                    tracing::info!(listener = %l.url, attempt, "revocation notice delivered");
                }
                return;
            }
            Err(e) => {
                // Loud at first, then about once a minute while the listener stays away.
                if attempt == 1 || attempt.is_multiple_of(6) {
                    tracing::warn!(listener = %l.url, attempt, "revocation notice failed: {e}; retrying in {delay:?}");
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }
    }
}

/// Why a listener did not take a notice.
#[derive(Debug, thiserror::Error)]
enum SendError {
    #[error("{0}")]
    Request(#[from] http::Error),
    #[error("timed out")]
    TimedOut,
    /// No answer, in words that name the cause.
    #[error("{0}")]
    Unreachable(String),
    #[error("listener answered {0}")]
    Refused(http::StatusCode),
}

async fn send<C>(client: &Client<C, Full<Bytes>>, l: &Listener, body: &str) -> Result<(), SendError>
where
    C: hyper_util::client::legacy::connect::Connect + Clone + Send + Sync + 'static,
{
    let mut req = http::Request::post(&l.url).header("content-type", "application/json");
    if let Some(user) = &l.username {
        let creds = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{}", l.password.as_deref().unwrap_or("")));
        req = req.header("authorization", format!("Basic {creds}"));
    }
    for (k, v) in &l.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let req = req.body(Full::new(Bytes::from(body.to_string())))?;
    let resp = tokio::time::timeout(Duration::from_secs(10), client.request(req))
        .await
        .map_err(|_| SendError::TimedOut)?
        .map_err(|e| SendError::Unreachable(apim_net::describe(&e, &l.url)))?;
    if resp.status().is_success() { Ok(()) } else { Err(SendError::Refused(resp.status())) }
}
