//! Wire contracts between nodes and towards tools. For now: the health documents every role serves on its
//! management port. Inter-node streams (event hub, usage, decisions) join here as their issues land.
//!
//! **Architecture Invariant:** only plain data types with serde; no IO, no dependency on any role.

#![forbid(unsafe_code)]

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Body of `GET /health/ready`: 200 with `status = "ready"`, or 503 with `status = "unready"` and the reasons.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReadinessReport {
    pub status: String,
    pub roles: Vec<String>,
    /// One check per dependency: `apim_db`, `shared_db`, `super_admin`, ...
    pub checks: BTreeMap<String, Check>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub ready: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
}

impl ReadinessReport {
    pub fn is_ready(&self) -> bool {
        self.checks.values().all(|c| c.ready)
    }
}

/// Body of `GET /health/live`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LivenessReport {
    pub status: String,
    pub version: String,
}
