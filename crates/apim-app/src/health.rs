//! Liveness and readiness. Readiness is 200 only when every database the roles need is connected and
//! migrated and still answers, and the super admin exists. `/health/ready` reads what the start-up tasks and
//! each pool's own watcher ([`Health::watch_pool`]) recorded; it pings nothing, so it answers at once even
//! while a database hangs.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use apim_domain::NodeRole;
use apim_store::Db;
use apim_wire::{Check, LivenessReport, ReadinessReport};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::sync::watch;

/// How often a connected pool is pinged while it answers.
const WATCH_EVERY: Duration = Duration::from_secs(1);
/// A ping that takes longer counts as no answer.
const PING_LIMIT: Duration = Duration::from_secs(2);
/// Pings of a pool that stopped answering back off from 0.5 s to this.
const WATCH_BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Shared between the start-up tasks that make things ready and the health endpoints.
pub struct Health {
    roles: Vec<NodeRole>,
    checks: RwLock<BTreeMap<String, Check>>,
    pools: RwLock<Vec<(String, Db)>>,
}

impl Health {
    pub fn new(roles: Vec<NodeRole>, pending: &[&str]) -> Arc<Health> {
        let checks = pending.iter().map(|name| (name.to_string(), Check { ready: false, reason: Some("starting".into()) })).collect();
        Arc::new(Health { roles, checks: RwLock::new(checks), pools: RwLock::new(Vec::new()) })
    }

    pub fn set(&self, name: &str, ready: bool, reason: Option<String>) {
        if let Ok(mut c) = self.checks.write() {
            c.insert(name.to_string(), Check { ready, reason });
        }
    }

    pub fn add_pool(&self, name: &str, db: Db) {
        if let Ok(mut p) = self.pools.write() {
            p.push((name.to_string(), db));
        }
    }

    /// The checks that fail, with their reasons (as last recorded; nothing is pinged).
    pub fn unready(&self) -> Vec<(String, String)> {
        let checks = self.checks.read().map(|c| c.clone()).unwrap_or_default();
        checks.into_iter().filter(|(_, c)| !c.ready).map(|(name, c)| (name, c.reason.unwrap_or_else(|| "not ready".into()))).collect()
    }

    pub fn pools(&self) -> Vec<(String, Db)> {
        self.pools.read().map(|p| p.clone()).unwrap_or_default()
    }

    /// What the checks last recorded; nothing is pinged here.
    pub fn report(&self) -> ReadinessReport {
        let checks = self.checks.read().map(|c| c.clone()).unwrap_or_default();
        let ready = checks.values().all(|c| c.ready);
        ReadinessReport {
            status: if ready { "ready" } else { "unready" }.into(),
            roles: self.roles.iter().map(|r| r.to_string()).collect(),
            checks,
        }
    }

    /// A connected pool's own retry loop, for the life of the node: pings it every second; a ping that fails or
    /// takes longer than 2 s marks the pool unready with the cause (logged once, with the pool's name), and it
    /// is pinged again with backoff (0.5 s → 5 s) until it answers, which marks it ready again.
    pub async fn watch_pool(self: Arc<Self>, name: String, address: String, db: Db, mut shutdown: watch::Receiver<bool>) {
        let mut delay = WATCH_EVERY;
        let mut down = false;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                () = crate::server::stopped(&mut shutdown) => return,
            }
            let failure = match tokio::time::timeout(PING_LIMIT, db.ping()).await {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(format!("database does not answer: {e}")),
                Err(_) => Some(format!("database does not answer within {PING_LIMIT:?}")),
            };
            match failure {
                None => {
                    if down {
                        tracing::info!(pool = %name, "database answers again");
                        self.set(&name, true, None);
                    }
                    down = false;
                    delay = WATCH_EVERY;
                }
                Some(reason) => {
                    if down {
                        tracing::debug!(pool = %name, "{reason}; retrying in {delay:?}");
                        delay = (delay * 2).min(WATCH_BACKOFF_MAX);
                    } else {
                        tracing::warn!(pool = %name, %address, "{reason}; readiness is 503 until it answers");
                        delay = Duration::from_millis(500);
                    }
                    self.set(&name, false, Some(reason));
                    down = true;
                }
            }
        }
    }
}

pub fn routes(health: Arc<Health>) -> axum::Router {
    axum::Router::new().route("/health/live", get(live)).route("/health/ready", get(ready)).with_state(health)
}

async fn live() -> Json<LivenessReport> {
    Json(LivenessReport { status: "live".into(), version: env!("CARGO_PKG_VERSION").into() })
}

async fn ready(State(health): State<Arc<Health>>) -> Response {
    let report = health.report();
    let status = if report.is_ready() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(report)).into_response()
}
