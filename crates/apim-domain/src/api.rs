//! APIs as the control plane keeps them, their lifecycle, revisions and deployments.

crate::open_vocabulary! {
    /// An API's lifecycle state as WSO2's DTO spells it (`lifeCycleStatus`), stored in `am_api.status` and sent
    /// to gateways with each deployed revision.
    pub enum ApiStatus {
        Created = "CREATED",
        /// Deployed for trying out; DevPortal lists it, subscriptions wait for `Published`.
        Prototyped = "PROTOTYPED",
        Published = "PUBLISHED",
        /// Gateways answer 503 (900907).
        Blocked = "BLOCKED",
        Deprecated = "DEPRECATED",
        Retired = "RETIRED",
    }
}

crate::open_vocabulary! {
    /// A subscription's state (WSO2's `SubscriptionStatus`).
    pub enum SubscriptionStatus {
        /// Active.
        Unblocked = "UNBLOCKED",
        /// Refused for every key (900907).
        Blocked = "BLOCKED",
        /// Refused for production keys only (900907); sandbox keys pass.
        ProdOnlyBlocked = "PROD_ONLY_BLOCKED",
        /// Waiting for approval (900909).
        OnHold = "ON_HOLD",
        /// Approval refused (900909).
        Rejected = "REJECTED",
        /// A tier change waiting for approval (900909).
        TierUpdatePending = "TIER_UPDATE_PENDING",
    }
}

/// An API: lookup columns plus the full WSO2 publisher document (JSON).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiRecord {
    pub id: String,
    pub name: String,
    pub version: String,
    pub context: String,
    pub provider: String,
    pub status: ApiStatus,
    pub api_type: String,
    pub document: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LifecycleEntry {
    pub previous_state: String,
    pub new_state: String,
    pub username: String,
    pub time: i64,
}

/// An immutable snapshot of an API, deployable to gateway environments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revision {
    pub id: String,
    pub api_id: String,
    pub number: i64,
    pub description: String,
    pub document: String,
    pub created_at: i64,
}

/// Which revision of an API an environment serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deployment {
    pub api_id: String,
    pub environment: String,
    pub revision_id: String,
    pub vhost: String,
    pub display_on_devportal: bool,
    pub deployed_at: i64,
}

/// An event to write in the same transaction as the change it describes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventDraft {
    pub event_type: String,
    /// JSON with WSO2's payload fields.
    pub payload: String,
}

/// A stored event with its sequence number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub seq: i64,
    pub event_type: String,
    pub payload: String,
    pub created_at: i64,
}

/// WSO2's default lifecycle: (state, action, target state).
pub const LIFECYCLE: &[(ApiStatus, &str, ApiStatus)] = &[
    (ApiStatus::Created, "Publish", ApiStatus::Published),
    (ApiStatus::Created, "Deploy as a Prototype", ApiStatus::Prototyped),
    (ApiStatus::Prototyped, "Publish", ApiStatus::Published),
    (ApiStatus::Prototyped, "Demote to Created", ApiStatus::Created),
    (ApiStatus::Published, "Block", ApiStatus::Blocked),
    (ApiStatus::Published, "Deprecate", ApiStatus::Deprecated),
    (ApiStatus::Published, "Demote to Created", ApiStatus::Created),
    (ApiStatus::Published, "Deploy as a Prototype", ApiStatus::Prototyped),
    (ApiStatus::Blocked, "Re-Publish", ApiStatus::Published),
    (ApiStatus::Blocked, "Deprecate", ApiStatus::Deprecated),
    (ApiStatus::Deprecated, "Retire", ApiStatus::Retired),
];

/// `Published` for `PUBLISHED`: the lifecycle endpoints show states capitalised.
pub fn state_display(state: &ApiStatus) -> String {
    let lower = state.as_str().to_ascii_lowercase();
    let mut c = lower.chars();
    match c.next() {
        Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
        None => String::new(),
    }
}

/// A DevPortal application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApplicationRecord {
    pub id: String,
    pub name: String,
    pub owner: String,
    pub throttling_policy: String,
    /// JWT or OPAQUE: the format of tokens issued for its keys.
    pub token_type: String,
    /// WSO2's DevPortal application DTO (JSON).
    pub document: String,
    pub created_at: i64,
}

/// An application's OAuth client for one key type (PRODUCTION or SANDBOX) at one key manager.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyMapping {
    pub id: String,
    pub application_id: String,
    pub key_type: String,
    pub key_manager: String,
    pub consumer_key: String,
    /// Grant types and callback URL (JSON); never the secret.
    pub document: String,
    pub created_at: i64,
}

/// An application's subscription to an API under a subscription policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriptionRecord {
    pub id: String,
    pub api_id: String,
    pub application_id: String,
    pub policy: String,
    pub status: SubscriptionStatus,
    pub created_at: i64,
}

/// RFC 3339 UTC time (`2026-11-22T05:33:00Z`) of a Unix time in seconds, as WSO2's `date-time` fields want.
pub fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, (rem % 3600) / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_dates() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(super::rfc3339(1_795_325_307), "2026-11-22T05:28:27Z");
    }
}
