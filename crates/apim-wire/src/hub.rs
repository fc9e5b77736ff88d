//! The event hub's messages and gRPC stubs (generated from `proto/eventhub.proto`), the event kinds that
//! nodes act on ([`EventKind`], with the payload's common [`EventHeader`]), and [`Cursor`]: which log entries a
//! subscriber has seen.

use std::collections::BTreeMap;

#[allow(clippy::all, rust_2018_idioms)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/apim.eventhub.v1.rs"));
}
pub use generated::*;

apim_domain::closed_vocabulary! {
    /// An event's type: [`Event::event_type`] and the payload's `type`. Every kind the control plane writes
    /// into its log is here, and only here: the control plane writes `as_str`, subscribers parse with
    /// `FromStr`. A subscriber meeting a type it does not know (a newer control plane's) counts it and does not
    /// fail; WSO2's names unless noted.
    pub enum EventKind ("event kind") {
        ApiCreate = "API_CREATE",
        ApiUpdate = "API_UPDATE",
        ApiDelete = "API_DELETE",
        ApiLifecycleChange = "API_LIFECYCLE_CHANGE",
        /// With `gatewayLabels` and `revisionId`.
        DeployApiInGateway = "DEPLOY_API_IN_GATEWAY",
        /// With `gatewayLabels`.
        RemoveApiFromGateway = "REMOVE_API_FROM_GATEWAY",
        ApplicationCreate = "APPLICATION_CREATE",
        ApplicationUpdate = "APPLICATION_UPDATE",
        ApplicationDelete = "APPLICATION_DELETE",
        ApplicationRegistrationCreate = "APPLICATION_REGISTRATION_CREATE",
        /// WSO2's; this control plane does not write it yet (keys are never removed one by one).
        RemoveApplicationKeymapping = "REMOVE_APPLICATION_KEYMAPPING",
        SubscriptionsCreate = "SUBSCRIPTIONS_CREATE",
        SubscriptionsUpdate = "SUBSCRIPTIONS_UPDATE",
        SubscriptionsDelete = "SUBSCRIPTIONS_DELETE",
        PolicyCreate = "POLICY_CREATE",
        PolicyUpdate = "POLICY_UPDATE",
        PolicyDelete = "POLICY_DELETE",
        /// Ours (WSO2's type strings for block conditions are unconfirmed), as are the two below.
        BlockConditionAdd = "BLOCK_CONDITION_ADD",
        BlockConditionUpdate = "BLOCK_CONDITION_UPDATE",
        BlockConditionDelete = "BLOCK_CONDITION_DELETE",
        /// Admin-created environments (ours).
        EnvironmentCreate = "ENVIRONMENT_CREATE",
        EnvironmentUpdate = "ENVIRONMENT_UPDATE",
        EnvironmentDelete = "ENVIRONMENT_DELETE",
        /// With `action`: `add`, `update` or `delete`.
        KeyManagerConfiguration = "KEY_MANAGER_CONFIGURATION",
        /// A revoked DevPortal API key (ours).
        ApiKeyRevoke = "API_KEY_REVOKE",
        ScopeCreate = "SCOPE_CREATE",
        ScopeUpdate = "SCOPE_UPDATE",
        ScopeDelete = "SCOPE_DELETE",
        /// A revoked OAuth2 access token (ours; WSO2 carries these on its `tokenRevocation` topic rather than as
        /// a notification type), with `revokedToken` and `expiryTime`.
        TokenRevocation = "TOKEN_REVOCATION",
        /// An endpoint certificate uploaded or replaced, with `alias` and `endpoint`.
        EndpointCertificateAdd = "ENDPOINT_CERTIFICATE_ADD",
        /// An endpoint certificate deleted, with `alias` and `endpoint`.
        EndpointCertificateRemove = "ENDPOINT_CERTIFICATE_REMOVE",
    }
}

/// The fields every event's JSON payload starts with (WSO2's `Event`), in this order; the control plane adds
/// the kind's own fields after them. Subscribers read the fields they need from the payload and ignore the
/// rest.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventHeader {
    /// A random UUID.
    pub event_id: String,
    /// Unix milliseconds.
    pub time_stamp: i64,
    #[serde(rename = "type")]
    pub kind: EventKind,
    pub tenant_id: i32,
    pub tenant_domain: String,
}

impl EventHeader {
    /// WSO2's super tenant, the only one.
    pub const TENANT_ID: i32 = -1234;
    pub const TENANT_DOMAIN: &'static str = "carbon.super";

    /// A header for the super tenant.
    pub fn new(kind: EventKind, event_id: String, time_stamp: i64) -> EventHeader {
        EventHeader { event_id, time_stamp, kind, tenant_id: Self::TENANT_ID, tenant_domain: Self::TENANT_DOMAIN.to_string() }
    }
}

impl Event {
    /// The kind, when this version knows it.
    pub fn kind(&self) -> Result<EventKind, crate::UnknownWord> {
        self.event_type.parse()
    }
}

/// How long a missing sequence number is waited for. Sequence numbers are taken when a transaction inserts its
/// event and become visible when it commits, so a later number can be read first; a number still missing after
/// this long belonged to a transaction that rolled back.
pub const GAP_TTL_MS: u64 = 30_000;

/// At most this many missing numbers are remembered (the oldest go first); a log with more holes than this
/// within [`GAP_TTL_MS`] is not one we write.
pub const MAX_GAPS: usize = 100_000;

/// A position in the event log that tolerates out-of-order commits: the highest sequence number seen, plus the
/// numbers below it not seen yet with the time they stop being waited for. Both ends of a stream keep one: the
/// server to deliver a late commit exactly once, the subscriber to say on reconnect what it still waits for
/// and to drop duplicates.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cursor {
    high: i64,
    gaps: BTreeMap<i64, u64>,
}

impl Cursor {
    /// At `high`, still waiting for `pending` (numbers above `high` or below 1 are ignored).
    pub fn new(high: i64, pending: &[i64], now_ms: u64) -> Cursor {
        let mut c = Cursor { high: high.max(0), gaps: BTreeMap::new() };
        for &p in pending.iter().filter(|&&p| p >= 1 && p <= c.high).take(MAX_GAPS) {
            c.gaps.insert(p, now_ms + GAP_TTL_MS);
        }
        c
    }

    pub fn high(&self) -> i64 {
        self.high
    }

    /// The numbers below [`Cursor::high`] still waited for.
    pub fn pending(&self) -> Vec<i64> {
        self.gaps.keys().copied().collect()
    }

    /// Whether numbers below the high mark are still waited for.
    pub fn waiting(&self) -> bool {
        !self.gaps.is_empty()
    }

    /// Read the log after this number: just below the oldest gap, or at the high mark.
    pub fn floor(&self) -> i64 {
        self.gaps.keys().next().map_or(self.high, |g| g - 1)
    }

    /// Records `seq`; true when it had not been seen (deliver or apply it), false for a duplicate.
    pub fn observe(&mut self, seq: i64, now_ms: u64) -> bool {
        if seq > self.high {
            // Numbers skipped over may still commit; a jump larger than MAX_GAPS keeps only the newest holes.
            let from = (self.high + 1).max(seq - MAX_GAPS as i64);
            for s in from..seq {
                self.gaps.insert(s, now_ms + GAP_TTL_MS);
            }
            self.high = seq;
            while self.gaps.len() > MAX_GAPS {
                self.gaps.pop_first();
            }
            true
        } else {
            self.gaps.remove(&seq).is_some()
        }
    }

    /// Stops waiting for numbers whose time is up; returns how many were given up.
    pub fn expire(&mut self, now_ms: u64) -> usize {
        let before = self.gaps.len();
        self.gaps.retain(|_, deadline| *deadline > now_ms);
        before - self.gaps.len()
    }
}

#[cfg(test)]
mod tests;
