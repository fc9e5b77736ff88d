//! The four node roles of a distributed deployment.

use std::fmt;

/// A role a node plays; `apim all-in-one` runs all of them in one process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NodeRole {
    ControlPlane,
    Gateway,
    KeyManager,
    TrafficManager,
}

impl NodeRole {
    pub const ALL: [NodeRole; 4] = [NodeRole::ControlPlane, NodeRole::KeyManager, NodeRole::TrafficManager, NodeRole::Gateway];

    pub fn as_str(self) -> &'static str {
        match self {
            NodeRole::ControlPlane => "control-plane",
            NodeRole::Gateway => "gateway",
            NodeRole::KeyManager => "key-manager",
            NodeRole::TrafficManager => "traffic-manager",
        }
    }

    /// Which databases a role needs: (apim_db, shared_db).
    ///
    /// Gateways keep no data of their own: they learn it from the control plane (and serve a saved copy while
    /// it is away), so a gateway starts without any database. Traffic managers still open `shared_db`, as in
    /// the seeds.
    pub fn needs_databases(self) -> (bool, bool) {
        match self {
            NodeRole::ControlPlane | NodeRole::KeyManager => (true, true),
            NodeRole::Gateway => (false, false),
            NodeRole::TrafficManager => (false, true),
        }
    }
}

impl fmt::Display for NodeRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
