//! The words only the wire carries, in the runtime state: key types, block-condition types and policy levels.
//! Each is an open vocabulary (`apim_domain::vocab`): a value outside the table is kept as `Unknown(text)` and
//! written back unchanged, so a state from a newer control plane parses, is saved and reloaded byte for byte,
//! and each reader decides, where it matches, what an unknown value means. The domain's own words (the API's
//! lifecycle status, the subscription status) are defined in `apim_domain::api` and re-exported at the crate root.

apim_domain::open_vocabulary! {
    /// Which of an application's two key sets a consumer key belongs to.
    pub enum KeyType {
        Production = "PRODUCTION",
        Sandbox = "SANDBOX",
    }
}

apim_domain::open_vocabulary! {
    /// What a block condition (the admin API's deny policy) matches.
    pub enum BlockConditionType {
        /// An API's `/{context}/{version}`.
        Api = "API",
        /// `{owner}:{application name}`.
        Application = "APPLICATION",
        /// `{"fixedIp", "invert"}`.
        Ip = "IP",
        /// `{"startingIp", "endingIp", "invert"}`.
        IpRange = "IPRANGE",
        /// A user name.
        User = "USER",
        /// `/{context}/{version}:{owner}-{application name}:{key type}`.
        Subscription = "SUBSCRIPTION",
    }
}

apim_domain::open_vocabulary! {
    /// A throttling policy's level as the control plane stores it (the admin API's `advanced` is `api`).
    pub enum PolicyLevel {
        Application = "application",
        Subscription = "subscription",
        /// Advanced (API and resource) policies.
        Api = "api",
        /// Custom rules (`apim_domain::custom`).
        Custom = "custom",
    }
}
