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
