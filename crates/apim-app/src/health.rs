//! Liveness and readiness. Readiness is 200 only when every database the roles need is connected and
//! migrated (checked with a live ping) and the super admin exists.

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

    pub async fn report(&self) -> ReadinessReport {
        let mut checks = self.checks.read().map(|c| c.clone()).unwrap_or_default();
        // A pool that was ready may have lost its server since: ping it.
        for (name, db) in self.pools() {
            let ok = matches!(tokio::time::timeout(Duration::from_secs(2), db.ping()).await, Ok(Ok(())));
            if !ok && checks.get(&name).is_some_and(|c| c.ready) {
                checks.insert(name, Check { ready: false, reason: Some("database does not answer".into()) });
            }
        }
        let ready = checks.values().all(|c| c.ready);
        ReadinessReport {
            status: if ready { "ready" } else { "unready" }.into(),
            roles: self.roles.iter().map(|r| r.to_string()).collect(),
            checks,
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
    let report = health.report().await;
    let status = if report.is_ready() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(report)).into_response()
}
