//! Key manager role: the OAuth2 server. So far it knows where revocation notices go; the token endpoints
//! arrive with the key-manager issue.

#![forbid(unsafe_code)]

use apim_config::DeploymentConfig;

#[derive(Clone, Debug)]
pub struct Config {
    /// `notification_endpoint` of every `[[event_listener]]` with `id = "token_revocation"`.
    pub revocation_listeners: Vec<String>,
}

impl Config {
    pub fn from_deployment(d: &DeploymentConfig) -> Config {
        Config {
            revocation_listeners: d
                .event_listeners
                .iter()
                .filter(|l| l.id == "token_revocation")
                .filter_map(|l| l.notification_endpoint.clone())
                .collect(),
        }
    }

    pub fn summary(&self) -> String {
        format!("{} revocation listener(s)", self.revocation_listeners.len())
    }
}
