//! Revocation notices: every revoked access token is POSTed to each `[[event_listener]]` with
//! `id = "token_revocation"`. The revoking request never waits: notices go through a bounded queue per listener
//! to a worker that retries each notice until the listener takes it (backoff up to 10 s), so a control plane that
//! is down for a while still learns every revocation when it is back; one listener never holds up another. Only
//! a full queue (10,000 notices waiting) loses notices, and says so.

use std::sync::Arc;
use std::time::Duration;

use apim_domain::oauth::{TokenFormat, TokenRecord};
use base64::Engine;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::json;
use tokio::sync::mpsc;

/// Where notices go.
#[derive(Clone, Debug)]
pub struct Listener {
    pub url: String,
    pub username: Option<String>,
    pub password: Option<String>,
    pub headers: Vec<(String, String)>,
}

/// Queue depth: a burst of revocations (a deleted client with many tokens) waits here.
const QUEUE: usize = 10_000;

#[derive(Clone)]
pub struct Notifier {
    /// One queue per listener.
    tx: Vec<(String, mpsc::Sender<serde_json::Value>)>,
    /// In-process subscribers (the resident gateway of an all-in-one node). A lagging receiver loses notices
    /// and is told so by `broadcast`; it then refreshes from its snapshot.
    local: tokio::sync::broadcast::Sender<apim_domain::scopes::RevokedToken>,
}

impl Notifier {
    /// Starts the worker; `roots` are the certificates trusted for https listeners.
    pub fn start(listeners: Vec<Listener>, tls: Arc<rustls::ClientConfig>, hosts: &apim_config::HostsFile) -> Notifier {
        let local = tokio::sync::broadcast::channel(4096).0;
        let connector = apim_net::https_connector(hosts, &tls);
        let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(connector);
        let tx = listeners
            .into_iter()
            .map(|l| {
                let (tx, rx) = mpsc::channel(QUEUE);
                let url = l.url.clone();
                tokio::spawn(worker(rx, l, client.clone()));
                (url, tx)
            })
            .collect();
        Notifier { tx, local }
    }

    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<apim_domain::scopes::RevokedToken> {
        self.local.subscribe()
    }

    /// Queues one notice per revoked access token. Never blocks; a full queue is logged.
    pub fn revoked(&self, tokens: &[TokenRecord]) {
        for t in tokens.iter().filter(|t| t.kind == apim_domain::oauth::TokenKind::Access) {
            // For a JWT the gateways know the jti; for an opaque token, its SHA-256 (they cache by hash).
            let (revoked, kind) = match t.format {
                TokenFormat::Jwt => (t.key.strip_prefix("jti:").unwrap_or(&t.key).to_string(), "JWT"),
                TokenFormat::Opaque => (t.key.clone(), "DEFAULT"),
            };
            // No receiver is not an error: a key manager without a resident gateway.
            let _ = self.local.send(apim_domain::scopes::RevokedToken { id: revoked.clone(), expires_at: t.expires_at });
            if self.tx.is_empty() {
                continue;
            }
            let body = json!({
                "eventId": uuid::Uuid::new_v4().to_string(),
                "revokedToken": revoked,
                "ttl": 5000,
                "expiryTime": t.expires_at * 1000,
                "type": kind,
                "tenantId": -1234,
            });
            for (url, tx) in &self.tx {
                if tx.try_send(body.clone()).is_err() {
                    tracing::error!(listener = %url, token_family = %t.family_id, "revocation notice queue is full; notice for one token not sent");
                }
            }
        }
    }
}

async fn worker<C>(mut rx: mpsc::Receiver<serde_json::Value>, l: Listener, client: Client<C, Full<Bytes>>)
where
    C: hyper_util::client::legacy::connect::Connect + Clone + Send + Sync + 'static,
{
    while let Some(body) = rx.recv().await {
        let text = body.to_string();
        let mut delay = Duration::from_millis(200);
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            match send(&client, &l, &text).await {
                Ok(()) => {
                    if attempt > 1 {
                        tracing::info!(listener = %l.url, event = %body["eventId"], attempt, "revocation notice delivered");
                    }
                    break;
                }
                Err(e) => {
                    // Loud at first, then once a minute or so while the listener stays away.
                    if attempt == 1 || attempt % 6 == 0 {
                        tracing::warn!(listener = %l.url, attempt, waiting = rx.len(), "revocation notice failed: {e}; retrying in {delay:?}");
                    }
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(10));
                }
            }
        }
    }
}

async fn send<C>(client: &Client<C, Full<Bytes>>, l: &Listener, body: &str) -> Result<(), String>
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
    let req = req.body(Full::new(Bytes::from(body.to_string()))).map_err(|e| e.to_string())?;
    let resp = tokio::time::timeout(Duration::from_secs(10), client.request(req))
        .await
        .map_err(|_| "timed out".to_string())?
        .map_err(|e| e.to_string())?;
    if resp.status().is_success() { Ok(()) } else { Err(format!("listener answered {}", resp.status())) }
}
