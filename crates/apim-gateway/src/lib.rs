//! Gateway role: the API traffic path. So far it knows which gateway labels it serves and where its peers
//! are; the request chain (authentication, throttling, proxying) arrives with the gateway issue.
//!
//! **Architecture Invariant:** the gateway links neither axum nor sqlx: it learns state from the event hub
//! and the control plane's internal data service, never from the database.

#![forbid(unsafe_code)]

use apim_config::{DeploymentConfig, Endpoint};

/// What the gateway reads from `deployment.toml`.
#[derive(Clone, Debug)]
pub struct Config {
    /// `[apim.sync_runtime_artifacts.gateway] gateway_labels`: only APIs deployed to these are served.
    pub gateway_labels: Vec<String>,
    pub event_hub_endpoints: Vec<Endpoint>,
    pub throttle_decision_endpoints: Vec<Endpoint>,
    pub key_manager_url: Option<String>,
}

impl Config {
    pub fn from_deployment(d: &DeploymentConfig) -> Config {
        Config {
            gateway_labels: d.gateway_sync.gateway_labels.clone(),
            event_hub_endpoints: d.event_hub.as_ref().map(|h| h.event_listening_endpoints.clone()).unwrap_or_default(),
            throttle_decision_endpoints: d.throttling.as_ref().map(|t| t.throttle_decision_endpoints.clone()).unwrap_or_default(),
            key_manager_url: d.key_manager.as_ref().map(|k| k.service_url.clone()),
        }
    }

    /// One start-up log line.
    pub fn summary(&self) -> String {
        format!(
            "gateway labels [{}], {} event hub endpoint(s), {} throttle decision endpoint(s)",
            self.gateway_labels.join(", "),
            self.event_hub_endpoints.len(),
            self.throttle_decision_endpoints.len()
        )
    }
}
