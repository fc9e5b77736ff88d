//! Wire contracts between nodes and towards tools: the health documents every role serves on its management
//! port, the runtime state gateways pull from `/internal/data/v1`, and the event hub's gRPC messages and stubs
//! (`hub`, generated from `proto/eventhub.proto`) with the gap-aware log cursor both ends of the stream share.
//! The words with a fixed meaning in them are enums with one string table each (`vocab`): the event kinds
//! ([`hub::EventKind`]), and in the runtime state API lifecycle statuses, subscription statuses, key types,
//! block-condition types and policy levels (the first two are the domain's, from `apim_domain::api`).
//! `tests/golden/` holds what they serialize to, byte for byte.
//!
//! **Compatibility rule** (a newer control plane, an older gateway or traffic manager): unknown JSON fields are
//! ignored and unknown protobuf fields skipped; an unknown event kind is counted by the subscriber (`apim_sync`'s
//! `apim_sync_events_unknown_total`) and never fails the stream; an unknown value of a state's vocabulary is kept
//! as `Unknown(text)`, written back unchanged, and each reader says what it means where it matches. So a field
//! or a word may be added; renaming or removing one is a breaking change, which the golden tests catch.
//!
//! **Architecture Invariant:** plain data types and pure logic; no IO, no dependency on any role.

#![forbid(unsafe_code)]

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub mod analytics;
pub mod api;
pub mod hub;
pub mod policy;
pub mod throttle;
mod vocab;

pub use api::ApiDefinition;
pub use apim_domain::api::{ApiStatus, SubscriptionStatus};
pub use apim_domain::vocab::UnknownWord;
pub use vocab::{BlockConditionType, KeyType, PolicyLevel};

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

/// Everything a gateway needs for the labels it serves, as of event sequence number `seq`. The control plane
/// builds it (in-process for an all-in-one node; over `/internal/data/v1` for a remote gateway); the gateway
/// compiles it into its immutable runtime snapshot. Documents keep WSO2's DTO shapes (JSON).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeState {
    pub seq: i64,
    pub labels: Vec<String>,
    pub apis: Vec<DeployedApi>,
    pub applications: Vec<RuntimeApplication>,
    pub key_mappings: Vec<RuntimeKeyMapping>,
    pub subscriptions: Vec<RuntimeSubscription>,
    /// Throttling policies by level: `application`, `subscription`, `api` (advanced), `custom`.
    pub policies: Vec<RuntimePolicy>,
    pub block_conditions: Vec<RuntimeBlockCondition>,
    /// Public keys (JWKs) API keys are signed with: the control plane's.
    #[serde(default)]
    pub api_key_jwks: Vec<serde_json::Value>,
    /// `jti`s of revoked API keys that have not expired yet.
    #[serde(default)]
    pub revoked_api_keys: Vec<String>,
    /// Revoked OAuth2 access tokens that have not expired yet (`jti`, or the SHA-256 of an opaque token).
    #[serde(default)]
    pub revoked_tokens: Vec<RevokedTokenEntry>,
    /// The key managers registered in the Admin API (the resident one is not among them: every gateway knows it).
    #[serde(default)]
    pub key_managers: Vec<RuntimeKeyManager>,
    /// Certificates the Publisher uploaded for backend endpoints: trusted for TLS to their endpoint's host and
    /// port, beside the truststore.
    #[serde(default)]
    pub endpoint_certificates: Vec<RuntimeEndpointCertificate>,
    /// Sequence numbers at or below `seq` missing from the log when the state was read: transactions that may
    /// still commit. A subscriber passes them on so their events still reach it (see `hub::Cursor`).
    #[serde(default)]
    pub pending: Vec<i64>,
    /// Absent for a whole state. Present for a part of one (`?apiId=` or `?apis=false`): which sections it holds;
    /// the others are empty and mean nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial: Option<Partial>,
}

/// What a partial runtime state holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Partial {
    /// These APIs' deployments to the labels (none: not deployed there any more).
    pub api_ids: Vec<String>,
    /// Everything but the APIs: applications, keys, subscriptions, policies, block conditions, API keys, revoked
    /// tokens, key managers, endpoint certificates.
    pub rest: bool,
}

impl RuntimeState {
    /// The revisions this state deploys, one entry per API revision with its environments: what a gateway
    /// reports it serves.
    pub fn deployed_revisions(&self) -> Vec<DeployedRevisionAck> {
        let mut out: Vec<DeployedRevisionAck> = Vec::new();
        let mut index: std::collections::HashMap<(&str, &str), usize> = std::collections::HashMap::new();
        for a in &self.apis {
            let env = EnvInfo { name: a.environment.clone(), vhost: a.vhost.clone() };
            match index.get(&(a.id.as_str(), a.revision_id.as_str())) {
                Some(&i) => out[i].env_info.push(env),
                None => {
                    index.insert((a.id.as_str(), a.revision_id.as_str()), out.len());
                    out.push(DeployedRevisionAck { api_id: a.id.clone(), revision_id: a.revision_id.clone(), env_info: vec![env] });
                }
            }
        }
        out
    }

    /// Applies a partial state on top of this whole one: the sections it holds replace these. The result is as
    /// new as the older of the two sequence numbers says (the caller knows better when it pulled every part
    /// that changed).
    pub fn patch(&mut self, part: RuntimeState) {
        let Some(p) = part.partial else {
            *self = part;
            return;
        };
        if !p.api_ids.is_empty() {
            self.apis.retain(|a| !p.api_ids.contains(&a.id));
            self.apis.extend(part.apis);
        }
        if p.rest {
            self.applications = part.applications;
            self.key_mappings = part.key_mappings;
            self.subscriptions = part.subscriptions;
            self.policies = part.policies;
            self.block_conditions = part.block_conditions;
            self.api_key_jwks = part.api_key_jwks;
            self.revoked_api_keys = part.revoked_api_keys;
            self.revoked_tokens = part.revoked_tokens;
            self.key_managers = part.key_managers;
            self.endpoint_certificates = part.endpoint_certificates;
        }
        self.pending = part.pending;
    }
}

/// An endpoint certificate (`/endpoint-certificates` in the Publisher).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeEndpointCertificate {
    pub alias: String,
    /// The backend URL it was uploaded for: its host and port are what it is trusted for.
    pub endpoint: String,
    /// The certificate in PEM.
    pub certificate: String,
}

/// A revoked access token as gateways key it, until it would have expired anyway (Unix seconds).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RevokedTokenEntry {
    pub id: String,
    pub expires_at: i64,
}

/// WSO2's `/internal/data/v1/revokedjwt` element.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokedJwt {
    pub jwt_signature: String,
    /// Unix milliseconds.
    pub expiry_time: i64,
}

/// One element of `PATCH /internal/data/v1/apis/deployed-revisions`: a gateway reports what it serves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeployedRevisionAck {
    pub api_id: String,
    pub revision_id: String,
    pub env_info: Vec<EnvInfo>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvInfo {
    pub name: String,
    pub vhost: String,
}

/// One revision of an API deployed to one of the labels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeployedApi {
    pub id: String,
    /// The API's current lifecycle state (BLOCKED APIs answer 503 at the gateway).
    pub status: ApiStatus,
    pub environment: String,
    pub vhost: String,
    pub revision_id: String,
    /// The publisher DTO as the revision froze it.
    pub definition: Definition,
}

/// A revision's API document kept as its JSON text: the control plane sends it as stored and a gateway parses
/// it only when it compiles that revision (revisions never change), so a state with thousands of APIs stays
/// cheap to copy.
#[derive(Clone, Debug)]
pub struct Definition(std::sync::Arc<serde_json::value::RawValue>);

impl Definition {
    /// From stored JSON text; text that is not JSON becomes `null` (the gateway then leaves the API out, saying why).
    pub fn from_json(text: &str) -> Definition {
        // `Box<RawValue>`'s default is `null`.
        Definition(serde_json::value::RawValue::from_string(text.to_string()).unwrap_or_default().into())
    }

    /// The JSON text.
    pub fn text(&self) -> &str {
        self.0.get()
    }

    pub fn parse(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_str(self.text())
    }

    /// What a gateway runs of it.
    pub fn definition(&self) -> Result<api::ApiDefinition, serde_json::Error> {
        api::ApiDefinition::from_json(self.text())
    }
}

impl Serialize for Definition {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Definition {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Definition(Box::<serde_json::value::RawValue>::deserialize(deserializer)?.into()))
    }
}

impl PartialEq for Definition {
    fn eq(&self, other: &Definition) -> bool {
        self.text() == other.text()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeApplication {
    pub id: String,
    pub name: String,
    pub owner: String,
    pub policy: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeKeyMapping {
    pub consumer_key: String,
    pub application_id: String,
    pub key_type: KeyType,
    pub key_manager: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeSubscription {
    pub id: String,
    pub api_id: String,
    pub application_id: String,
    pub policy: String,
    pub status: SubscriptionStatus,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimePolicy {
    pub level: PolicyLevel,
    pub name: String,
    /// The admin API's policy DTO.
    pub document: serde_json::Value,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeBlockCondition {
    pub id: String,
    pub condition_type: BlockConditionType,
    pub value: serde_json::Value,
    pub enabled: bool,
}

/// A key manager registered in the Admin API, as far as a gateway needs it to accept its tokens: WSO2's
/// A key manager's RFC 7662 endpoint and the `Authorization` a gateway presents there (HTTP Basic with the
/// credentials the Admin API holds for it; empty: none).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeIntrospection {
    pub url: String,
    #[serde(default)]
    pub authorization: String,
}

/// `KeyManagerDTO` read once in the control plane.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeKeyManager {
    pub name: String,
    /// The `iss` of its JWTs: how a gateway tells whose a token is.
    pub issuer: String,
    pub enabled: bool,
    /// Where its signing keys are published (`certificates` of type `JWKS`); none: its JWTs cannot be verified.
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// Its signing certificate in PEM (`certificates` of type `PEM`), for key managers that publish no JWKS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    /// Where its opaque tokens are introspected (RFC 7662), for APIs that accept it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introspection: Option<RuntimeIntrospection>,
    /// `aud` values of which its tokens must carry one; empty: not checked.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// The claim that names the OAuth client (`consumerKeyClaim`); `azp` when absent.
    #[serde(default)]
    pub consumer_key_claim: Option<String>,
    /// The claim that holds the scopes (`scopesClaim`); `scope` when absent.
    #[serde(default)]
    pub scopes_claim: Option<String>,
}

#[cfg(test)]
mod tests;
