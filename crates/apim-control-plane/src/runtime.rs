//! The runtime state gateways serve, built from the database, and the tail of the event log that tells when
//! to rebuild it. An all-in-one node hands both to its gateway in-process; the event hub serves them remotely.

use std::sync::Arc;
use std::time::Duration;

use apim_store::{AdminStore, ApiStore, ApplicationStore, EndpointCertificateStore, StoreError};
use apim_wire::{
    DeployedApi, PolicyLevel, RuntimeApplication, RuntimeBlockCondition, RuntimeKeyManager, RuntimeKeyMapping, RuntimePolicy, RuntimeState,
    RuntimeSubscription,
};
use base64::Engine;
use serde_json::Value;

use crate::ControlPlane;

/// How often the log is polled: every [`POLL_BUSY`] while events come, backing off (doubling) to [`POLL_IDLE`]
/// once polls find nothing new, and at once after a REST write on this node (`ControlPlane::written`). Polling
/// the indexed `seq` column sees events committed by any control plane on the same database, not only this one;
/// it bounds how long another node's change waits before this node's event hub sends it. At a steady 5 ms it was
/// 200 queries a second for each tail, idle or not (about 3 % of a core of an all-in-one under load, in the sqlx
/// workers and the runtime waking them); idle it is 20 a second.
const POLL_BUSY: Duration = Duration::from_millis(5);
const POLL_IDLE: Duration = Duration::from_millis(50);
/// How far below the newest number a snapshot looks for numbers still missing.
const PENDING_WINDOW: i64 = 256;

/// Which APIs a runtime state holds.
#[derive(Clone, Copy, Debug)]
pub enum ApiScope<'a> {
    All,
    /// These (an empty list: none).
    Only(&'a [String]),
}

impl ControlPlane {
    /// Everything deployed to one of `labels` (environment names), with the applications, subscriptions,
    /// policies and block conditions a gateway checks requests against. `seq` is read first, so the state is
    /// at least as new as it says.
    pub async fn runtime_state(&self, labels: &[String]) -> Result<RuntimeState, StoreError> {
        self.runtime_part(labels, ApiScope::All, true).await
    }

    /// A part of [`ControlPlane::runtime_state`]: the APIs in `apis`, and everything else when `rest`. A part
    /// carries `partial`; the whole state does not.
    pub async fn runtime_part(&self, labels: &[String], apis: ApiScope<'_>, rest: bool) -> Result<RuntimeState, StoreError> {
        let seq = self.db.last_event_seq().await?;
        let serves = |env: &str| labels.iter().any(|l| l.eq_ignore_ascii_case(env));
        let (rows, partial) = match apis {
            ApiScope::All => (self.db.deployed_revisions().await?, None),
            ApiScope::Only(ids) => {
                let mut rows = Vec::new();
                for id in ids {
                    rows.extend(self.db.deployed_revisions_of(id).await?);
                }
                (rows, Some(apim_wire::Partial { api_ids: ids.to_vec(), rest }))
            }
        };
        let apis = rows
            .into_iter()
            .filter(|(d, _, _)| serves(&d.environment))
            .map(|(d, status, document)| DeployedApi {
                id: d.api_id,
                status,
                environment: d.environment,
                vhost: d.vhost,
                revision_id: d.revision_id,
                definition: apim_wire::Definition::from_json(&document),
            })
            .collect();
        let window = (seq - PENDING_WINDOW).max(0);
        let present: std::collections::HashSet<i64> =
            self.db.events_after(window, PENDING_WINDOW).await?.into_iter().map(|e| e.seq).collect();
        let pending = ((window + 1)..=seq).filter(|s| !present.contains(s)).collect();
        let mut state = RuntimeState { seq, labels: labels.to_vec(), apis, pending, partial, ..RuntimeState::default() };
        if rest {
            self.fill_rest(&mut state).await?;
        }
        Ok(state)
    }

    /// Applications, keys, subscriptions, policies, block conditions, API keys and revoked tokens.
    async fn fill_rest(&self, state: &mut RuntimeState) -> Result<(), StoreError> {
        let applications = self
            .db
            .list_applications(None)
            .await?
            .into_iter()
            .map(|a| RuntimeApplication { id: a.id, name: a.name, owner: a.owner, policy: a.throttling_policy })
            .collect();
        let key_mappings = self
            .db
            .all_key_mappings()
            .await?
            .into_iter()
            .map(|k| RuntimeKeyMapping {
                consumer_key: k.consumer_key,
                application_id: k.application_id,
                key_type: k.key_type.into(),
                key_manager: k.key_manager,
            })
            .collect();
        let subscriptions = self
            .db
            .list_subscriptions(None, None)
            .await?
            .into_iter()
            .map(|s| RuntimeSubscription {
                id: s.id,
                api_id: s.api_id,
                application_id: s.application_id,
                policy: s.policy,
                status: s.status,
            })
            .collect();
        let mut policies = Vec::new();
        for level in PolicyLevel::KNOWN {
            for (name, document) in self.db.policies(level.as_str()).await? {
                policies.push(RuntimePolicy {
                    level: level.clone(),
                    name,
                    document: serde_json::from_str(&document).unwrap_or(Value::Null),
                });
            }
        }
        let block_conditions = self
            .db
            .list_objects("block_condition")
            .await?
            .into_iter()
            .filter_map(|(id, _, doc)| {
                let d: Value = serde_json::from_str(&doc).ok()?;
                Some(RuntimeBlockCondition {
                    id,
                    condition_type: d.get("conditionType")?.as_str()?.into(),
                    value: d.get("conditionValue").cloned().unwrap_or(Value::Null),
                    enabled: d.get("conditionStatus").and_then(Value::as_bool).unwrap_or(true),
                })
            })
            .collect();
        let (api_key_jwks, revoked_api_keys) = self.api_key_state().await?;
        state.applications = applications;
        state.key_mappings = key_mappings;
        state.subscriptions = subscriptions;
        state.policies = policies;
        state.block_conditions = block_conditions;
        state.api_key_jwks = api_key_jwks;
        state.revoked_api_keys = revoked_api_keys;
        state.revoked_tokens = self.revoked_tokens().await?;
        state.key_managers = self.db.list_objects("key_manager").await?.iter().filter_map(|(_, _, doc)| runtime_key_manager(doc)).collect();
        state.endpoint_certificates = self
            .db
            .endpoint_certificates(None, None)
            .await?
            .into_iter()
            .map(|c| apim_wire::RuntimeEndpointCertificate { alias: c.alias, endpoint: c.endpoint, certificate: c.certificate })
            .collect();
        Ok(())
    }

    /// One [`ControlPlane::event_tail`] shared by every caller on this node.
    pub fn shared_tail(self: &Arc<Self>) -> tokio::sync::watch::Receiver<i64> {
        self.tail.get_or_init(|| self.event_tail()).clone()
    }

    /// The newest event sequence number, kept current by a task that tails the log. Receivers wake on every
    /// change; they rebuild what they serve at their own pace (a burst of events costs one rebuild).
    pub fn event_tail(self: &Arc<Self>) -> tokio::sync::watch::Receiver<i64> {
        let (tx, rx) = tokio::sync::watch::channel(0);
        let cp = self.clone();
        tokio::spawn(async move {
            let mut failing = false;
            let mut poll = POLL_BUSY;
            let mut written = cp.written.subscribe();
            loop {
                match cp.db.last_event_seq().await {
                    Ok(seq) => {
                        failing = false;
                        let changed = tx.send_if_modified(|cur| std::mem::replace(cur, seq) != seq);
                        poll = next_poll(poll, changed);
                    }
                    Err(e) if !failing => {
                        failing = true;
                        tracing::warn!("cannot read the event log: {e}; retrying");
                    }
                    Err(_) => {}
                }
                if tx.is_closed() {
                    return;
                }
                tokio::select! {
                    _ = tokio::time::sleep(if failing { Duration::from_secs(1) } else { poll }) => {}
                    Ok(()) = written.changed() => poll = POLL_BUSY,
                }
            }
        });
        rx
    }
}

/// The wait before the next poll of the event log: [`POLL_BUSY`] after a poll that found new events, else the
/// last wait doubled, up to [`POLL_IDLE`] (a burst of changes is followed closely; a quiet log costs little).
fn next_poll(last: Duration, changed: bool) -> Duration {
    if changed { POLL_BUSY } else { (last * 2).min(POLL_IDLE) }
}

/// What gateways need of a stored `KeyManagerDTO`. The audiences a token must name: the `alias` when the key
/// manager's tokens are exchanged ones (WSO2's rule), and `additionalProperties.audiences` (a list, or text
/// separated by commas as the Admin portal stores properties) for any key manager. One without an issuer
/// is left out: no token could be told to be its.
fn runtime_key_manager(doc: &str) -> Option<RuntimeKeyManager> {
    let d: Value = serde_json::from_str(doc).ok()?;
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
    let issuer = text(d.get("issuer"))?;
    let certificates = d.get("certificates");
    let kind = certificates.and_then(|c| c.get("type")).and_then(Value::as_str).unwrap_or("");
    let value = text(certificates.and_then(|c| c.get("value")));
    let jwks_url = value.clone().filter(|_| kind.eq_ignore_ascii_case("JWKS"));
    let certificate = value.filter(|_| kind.eq_ignore_ascii_case("PEM"));
    // The credentials the Admin API holds for it: a user's (WSO2-IS) or a client's.
    let prop = |k: &str| text(d.pointer(&format!("/additionalProperties/{k}")));
    let authorization = match (prop("Username").or_else(|| prop("client_id")), prop("Password").or_else(|| prop("client_secret"))) {
        (Some(u), Some(p)) => format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))),
        _ => String::new(),
    };
    let introspection = text(d.get("introspectionEndpoint")).map(|url| apim_wire::RuntimeIntrospection { url, authorization });
    let mut audiences: Vec<String> = match d.pointer("/additionalProperties/audiences") {
        Some(Value::Array(list)) => list.iter().filter_map(|v| text(Some(v))).collect(),
        Some(Value::String(s)) => s.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect(),
        _ => Vec::new(),
    };
    if d.get("tokenType").and_then(Value::as_str) == Some("EXCHANGED")
        && let Some(alias) = text(d.get("alias"))
    {
        audiences.push(alias);
    }
    Some(RuntimeKeyManager {
        name: text(d.get("name"))?,
        issuer,
        enabled: d.get("enabled").and_then(Value::as_bool).unwrap_or(true),
        jwks_url,
        certificate,
        introspection,
        audiences,
        consumer_key_claim: text(d.get("consumerKeyClaim")),
        scopes_claim: text(d.get("scopesClaim")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_event_log_is_polled_closely_after_a_change_and_seldom_when_quiet() {
        assert_eq!(next_poll(POLL_IDLE, true), POLL_BUSY);
        let mut waits = vec![POLL_BUSY];
        for _ in 0..6 {
            waits.push(next_poll(*waits.last().expect("a wait"), false));
        }
        let ms: Vec<u128> = waits.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [5, 10, 20, 40, 50, 50, 50]);
    }

    #[test]
    fn key_managers_reach_gateways_with_what_they_check() {
        let km = runtime_key_manager(
            r#"{"name": "idp", "issuer": "https://idp/", "enabled": false, "tokenType": "EXCHANGED", "alias": "apim",
                "certificates": {"type": "JWKS", "value": "https://idp/jwks"}, "consumerKeyClaim": "cid",
                "additionalProperties": {"audiences": "a, b,"}}"#,
        )
        .expect("a key manager");
        assert_eq!(km.jwks_url.as_deref(), Some("https://idp/jwks"));
        assert_eq!(km.audiences, ["a", "b", "apim"]);
        assert!(!km.enabled);
        assert_eq!(km.consumer_key_claim.as_deref(), Some("cid"));
        let direct =
            runtime_key_manager(r#"{"name": "d", "issuer": "i", "alias": "x", "certificates": {"type": "PEM", "value": "-----"}}"#)
                .expect("a key manager");
        assert!(direct.audiences.is_empty() && direct.jwks_url.is_none() && direct.enabled);
        assert_eq!(direct.certificate.as_deref(), Some("-----"));
        assert_eq!(direct.introspection, None);
        let opaque = runtime_key_manager(
            r#"{"name": "o", "issuer": "i", "introspectionEndpoint": "https://idp/introspect",
                "additionalProperties": {"Username": "gw", "Password": "pw"}}"#,
        )
        .expect("a key manager");
        let i = opaque.introspection.expect("introspection");
        assert_eq!((i.url.as_str(), i.authorization.as_str()), ("https://idp/introspect", "Basic Z3c6cHc="));
        assert!(runtime_key_manager(r#"{"name": "n"}"#).is_none(), "no issuer");
        assert!(runtime_key_manager("not json").is_none());
    }
}
