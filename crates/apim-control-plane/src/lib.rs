//! Control plane role: Publisher, DevPortal and Admin REST APIs, the event hub, and the internal data
//! service other nodes pull from. So far it knows its gateway environments; the APIs arrive with their issues.
//!
//! **Architecture Invariant:** depends on the store's repository traits, never on another role's crate.

#![forbid(unsafe_code)]

use apim_config::{DeploymentConfig, GatewayEnvironment};

#[derive(Clone, Debug)]
pub struct Config {
    pub gateway_environments: Vec<GatewayEnvironment>,
    pub devportal_url: Option<String>,
    /// `[apim.key_manager] service_url`; `None` means the key manager runs in this process (resident).
    pub external_key_manager: Option<String>,
}

impl Config {
    pub fn from_deployment(d: &DeploymentConfig) -> Config {
        Config {
            gateway_environments: d.gateway_environments.clone(),
            devportal_url: d.devportal_url.clone(),
            external_key_manager: d.key_manager.as_ref().map(|k| k.service_url.clone()),
        }
    }

    pub fn summary(&self) -> String {
        let envs: Vec<&str> = self.gateway_environments.iter().map(|e| e.name.as_str()).collect();
        format!("gateway environments [{}], key manager {}", envs.join(", "), self.external_key_manager.as_deref().unwrap_or("resident"))
    }
}
