//! Traffic manager role: gathers usage from every gateway and publishes throttle decisions. So far it follows
//! the control plane's throttling policies and block conditions (fed by the wiring from the event hub) and
//! knows its decision endpoints; the usage and decision streams arrive with the traffic-manager issue.

#![forbid(unsafe_code)]

use std::sync::Arc;

use apim_config::{DeploymentConfig, Endpoint};
use apim_wire::{RuntimeBlockCondition, RuntimePolicy, RuntimeState};
use arc_swap::ArcSwap;

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

/// What the traffic manager evaluates against: every throttling policy and block condition, as of `seq`.
#[derive(Debug, Default)]
pub struct Known {
    pub seq: i64,
    pub policies: Vec<RuntimePolicy>,
    pub block_conditions: Vec<RuntimeBlockCondition>,
}

pub struct TrafficManager {
    cfg: Config,
    known: ArcSwap<Known>,
}

impl TrafficManager {
    pub fn new(cfg: Config) -> Arc<TrafficManager> {
        Arc::new(TrafficManager { cfg, known: ArcSwap::from_pointee(Known::default()) })
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Takes the policies and block conditions of a state from the control plane (the rest is the gateways').
    pub fn install(&self, state: &RuntimeState) {
        self.known.store(Arc::new(Known {
            seq: state.seq,
            policies: state.policies.clone(),
            block_conditions: state.block_conditions.clone(),
        }));
    }

    pub fn known(&self) -> Arc<Known> {
        self.known.load_full()
    }

    /// A policy by level (`application`, `subscription`, `api`, `custom`) and name.
    pub fn policy(&self, level: &str, name: &str) -> Option<RuntimePolicy> {
        self.known.load().policies.iter().find(|p| p.level == level && p.name == name).cloned()
    }

    /// Prometheus text for `/metrics`.
    pub fn metrics_text(&self) -> String {
        let k = self.known.load();
        let mut out = String::from("# TYPE apim_tm_policies gauge\n");
        for level in ["application", "subscription", "api", "custom"] {
            let n = k.policies.iter().filter(|p| p.level == level).count();
            out.push_str(&format!("apim_tm_policies{{level=\"{level}\"}} {n}\n"));
        }
        out.push_str(&format!(
            "# TYPE apim_tm_block_conditions gauge\napim_tm_block_conditions {}\n# TYPE apim_tm_state_seq gauge\napim_tm_state_seq {}\n",
            k.block_conditions.len(),
            k.seq
        ));
        out
    }
}
