//! Cluster-wide throttling's messages and gRPC stubs (generated from `proto/throttle.proto`): usage from
//! gateways to traffic managers, decisions back.

#[allow(clippy::all, rust_2018_idioms)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/apim.throttle.v1.rs"));
}
pub use generated::*;

/// Gateways send a batch at least this often while they have usage to report.
pub const BATCH_INTERVAL_MS: u64 = 20;

/// A batch is sent early when it holds this many records.
pub const MAX_BATCH_RECORDS: usize = 4096;

/// Decision streams carry a heartbeat every quiet second; a subscriber that hears nothing for this long
/// takes the traffic manager as gone.
pub const DECISION_SILENCE_MS: u64 = 3_000;

/// What a traffic manager tells the control plane every few seconds (`POST /internal/data/v1/traffic-managers`),
/// for the Admin portal: the gateways it counts for, and the decisions in force.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrafficManagerReport {
    pub node_id: String,
    pub version: String,
    /// Gateways with a usage stream open here, or heard from in the last five minutes.
    pub gateways: u64,
    /// Throttle keys with an open window.
    pub keys: u64,
    /// Decisions made here since the process started.
    pub decisions_made: u64,
    /// Decisions in force (at most [`MAX_REPORTED_DECISIONS`], the latest to end first).
    pub in_force: Vec<DecisionInForce>,
    /// How many are in force, listed or not.
    pub in_force_total: u64,
}

/// A report lists at most this many decisions.
pub const MAX_REPORTED_DECISIONS: usize = 1000;

/// One throttle decision in force.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DecisionInForce {
    /// The throttle key (WSO2's: the API's context and version, the application, the key type, …).
    pub key: String,
    /// The level it was decided at: `subscription`, `application`, `api`, `resource`, `burst`, `custom`.
    pub condition: String,
    /// Unix ms when the window ends and requests pass again.
    pub throttled_until_ms: u64,
    /// Decided by a peer traffic manager and forwarded here.
    pub forwarded: bool,
    /// For a decision made here: the window's quota, and what the gateways used of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used: Option<u64>,
}
