//! Traffic manager role: gathers usage from every gateway and publishes throttle decisions. So far it knows
//! its decision endpoints; the streams arrive with the traffic-manager issue.

#![forbid(unsafe_code)]

use apim_config::{DeploymentConfig, Endpoint};

#[derive(Clone, Debug)]
pub struct Config {
    pub throttle_decision_endpoints: Vec<Endpoint>,
    pub event_hub_endpoints: Vec<Endpoint>,
}

impl Config {
    pub fn from_deployment(d: &DeploymentConfig) -> Config {
        Config {
            throttle_decision_endpoints: d.throttling.as_ref().map(|t| t.throttle_decision_endpoints.clone()).unwrap_or_default(),
            event_hub_endpoints: d.event_hub.as_ref().map(|h| h.event_listening_endpoints.clone()).unwrap_or_default(),
        }
    }

    pub fn summary(&self) -> String {
        format!("{} decision endpoint(s), {} event hub endpoint(s)", self.throttle_decision_endpoints.len(), self.event_hub_endpoints.len())
    }
}
