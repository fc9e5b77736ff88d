//! The internal data service `/internal/data/v1` (reference §2), for other nodes: the runtime state of a
//! gateway label, revoked tokens, key managers, and `POST /notify`, where key managers report revocations
//! (which become `TOKEN_REVOCATION` events for every gateway). HTTP Basic with the `[apim.event_hub]`
//! credentials, as in WSO2.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use apim_store::AdminStore;
use apim_wire::{RevokedJwt, RevokedTokenEntry, RuntimeState};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::ControlPlane;
use crate::error::{ApiError, Result};
use crate::model::event;

/// Admin-object kind holding revoked tokens until they expire (`name` is the token id).
const REVOKED: &str = "revoked_token";

pub(crate) fn routes() -> Router<Arc<ControlPlane>> {
    Router::new()
        .route("/runtime-artifacts", get(runtime_artifacts))
        .route("/revokedjwt", get(revoked_jwt))
        .route("/keymanagers", get(key_managers))
        .route("/notify", post(notify))
        .route("/apis/deployed-revisions", axum::routing::patch(deployed_revisions))
        .route("/analytics", post(crate::analytics::ingest))
        .route("/traffic-managers", post(crate::traffic_managers::ingest))
}

/// Admin-object kind holding what each gateway node last reported it serves (`name` is the node id).
pub(crate) const GATEWAY_NODE: &str = "gateway_node";

/// Admin-object kind holding when a gateway node was last heard on an event-hub stream (`name` is the node id):
/// a gateway reports its revisions only when they change, so its stream is what says it is still there.
const GATEWAY_SEEN: &str = "gateway_seen";

/// A gateway node heard from neither by a report nor on an event-hub stream (of any control plane on the database)
/// for this long, 5 minutes, is gone: it leaves the node list. Its rows are deleted once it has been silent for
/// [`crate::hub::RETENTION`].
pub const GATEWAY_SILENCE: Duration = Duration::from_secs(5 * 60);

/// How often a control plane notes the gateways subscribed to its event hub as heard from; well within
/// [`GATEWAY_SILENCE`].
pub(crate) const GATEWAY_SEEN_EVERY: Duration = Duration::from_secs(60);

/// One gateway's report, as stored.
#[derive(serde::Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GatewayReport {
    pub labels: Vec<String>,
    pub reported_at: i64,
    /// (api id, revision id, environment) with the time the node first reported it.
    pub revisions: Vec<ServedRevision>,
    /// The event-hub sequence number the node's installed state reflects (absent from nodes of before it was
    /// reported).
    #[serde(default)]
    pub applied_sequence: Option<i64>,
    /// The node's apim version.
    #[serde(default)]
    pub version: Option<String>,
}

#[derive(serde::Serialize, serde::Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ServedRevision {
    pub api_id: String,
    pub revision_id: String,
    pub environment: String,
    pub since: i64,
}

impl ControlPlane {
    /// The last report of every gateway node not gone (heard from within [`GATEWAY_SILENCE`]).
    pub(crate) async fn gateway_reports(&self) -> std::result::Result<Vec<(String, GatewayReport)>, apim_store::StoreError> {
        let heard = self.gateways_heard().await?;
        let since = self.clock.unix_secs() - GATEWAY_SILENCE.as_secs() as i64;
        Ok(self
            .db
            .list_objects(GATEWAY_NODE)
            .await?
            .into_iter()
            .filter_map(|(_, name, doc)| Some((name, serde_json::from_str::<GatewayReport>(&doc).ok()?)))
            .filter(|(name, r)| r.reported_at.max(heard.get(name).copied().unwrap_or(0)) >= since)
            .collect())
    }

    /// The gateway nodes the control plane knows, by id: those heard from, by a report or on an event-hub stream,
    /// within [`GATEWAY_SILENCE`].
    pub async fn gateway_nodes(&self) -> std::result::Result<Vec<String>, apim_store::StoreError> {
        let since = self.clock.unix_secs() - GATEWAY_SILENCE.as_secs() as i64;
        let mut heard = self.gateways_heard().await?;
        for (_, name, doc) in self.db.list_objects(GATEWAY_NODE).await? {
            let reported = serde_json::from_str::<GatewayReport>(&doc).map(|r| r.reported_at).unwrap_or(0);
            let last = heard.entry(name).or_insert(reported);
            *last = (*last).max(reported);
        }
        let mut nodes: Vec<String> = heard.into_iter().filter(|(_, last)| *last >= since).map(|(name, _)| name).collect();
        nodes.sort();
        Ok(nodes)
    }

    /// Notes a gateway node subscribed to this event hub as heard from now.
    pub(crate) async fn gateway_heard(&self, node: &str) -> std::result::Result<(), apim_store::StoreError> {
        let doc = json!({"seenAt": self.clock.unix_secs()}).to_string();
        match self.db.list_objects(GATEWAY_SEEN).await?.into_iter().find(|(_, name, _)| name == node) {
            Some((id, _, _)) => {
                self.db.update_object(GATEWAY_SEEN, &id, node, &doc, &[]).await?;
            }
            None => match self.db.create_object(GATEWAY_SEEN, &uuid::Uuid::new_v4().to_string(), node, &doc, &[]).await {
                // Another control plane noted it at the same moment.
                Ok(()) | Err(apim_store::StoreError::Conflict { .. }) => {}
                Err(e) => return Err(e),
            },
        }
        Ok(())
    }

    /// When each gateway node was last heard on an event-hub stream (Unix seconds).
    pub(crate) async fn gateways_heard(&self) -> std::result::Result<HashMap<String, i64>, apim_store::StoreError> {
        Ok(self
            .db
            .list_objects(GATEWAY_SEEN)
            .await?
            .into_iter()
            .map(|(_, name, doc)| {
                let seen = serde_json::from_str::<Value>(&doc).ok().and_then(|d| d.get("seenAt")?.as_i64()).unwrap_or(0);
                (name, seen)
            })
            .collect())
    }

    /// Deletes the rows of gateway nodes silent for [`crate::hub::RETENTION`].
    pub(crate) async fn prune_gateways(&self) -> std::result::Result<(), apim_store::StoreError> {
        let before = self.clock.unix_secs() - crate::hub::RETENTION.as_secs() as i64;
        let heard = self.gateways_heard().await?;
        for (id, name, doc) in self.db.list_objects(GATEWAY_NODE).await? {
            let reported = serde_json::from_str::<GatewayReport>(&doc).map(|r| r.reported_at).unwrap_or(0);
            if reported.max(heard.get(&name).copied().unwrap_or(0)) < before {
                self.db.delete_object(GATEWAY_NODE, &id, &[]).await?;
            }
        }
        for (id, name, _) in self.db.list_objects(GATEWAY_SEEN).await? {
            if heard.get(&name).copied().unwrap_or(0) < before {
                self.db.delete_object(GATEWAY_SEEN, &id, &[]).await?;
            }
        }
        Ok(())
    }
}

/// A gateway reports the revisions it serves now (the whole list for its labels), as WSO2's gateways acknowledge
/// deployments: `?gatewayId=<node>&gatewayLabel=<label>[,...]`, body `[{apiId, revisionId, envInfo:[{name, vhost}]}]`.
async fn deployed_revisions(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Query(q): Query<Vec<(String, String)>>,
    body: axum::body::Bytes,
) -> Result<Json<Value>> {
    cp.check_node(&headers)?;
    let Some(node) =
        q.iter().find(|(k, _)| k == "gatewayId").map(|(_, v)| v.trim().to_string()).filter(|v| !v.is_empty() && v.len() <= 255)
    else {
        return Err(ApiError::field("gatewayId", "name the reporting gateway (1 to 255 characters)"));
    };
    let labels: Vec<String> = q
        .iter()
        .filter(|(k, _)| k == "gatewayLabel")
        .flat_map(|(_, v)| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string))
        .collect();
    let applied_sequence = match q.iter().find(|(k, _)| k == "appliedSequence") {
        None => None,
        Some((_, v)) => Some(
            v.parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| ApiError::field("appliedSequence", "an event sequence number (0 or more)"))?,
        ),
    };
    let version = match q.iter().find(|(k, _)| k == "version") {
        None => None,
        Some((_, v)) if (1..=64).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_graphic()) => Some(v.clone()),
        Some(_) => return Err(ApiError::field("version", "1 to 64 printable characters, no spaces")),
    };
    let acks: Vec<apim_wire::DeployedRevisionAck> =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("the body is not a list of deployed revisions: {e}")))?;
    let revisions = cp.record_gateway_report(&node, labels, &acks, applied_sequence, version).await?;
    Ok(Json(json!({"gatewayId": node, "revisions": revisions})))
}

impl ControlPlane {
    /// Stores a gateway node's report of what it serves (`revisions` keep the time each was first reported);
    /// answers how many (API, revision, environment) it serves. The in-process gateway of an all-in-one reports
    /// here directly.
    pub async fn record_gateway_report(
        &self,
        node: &str,
        labels: Vec<String>,
        acks: &[apim_wire::DeployedRevisionAck],
        applied_sequence: Option<i64>,
        version: Option<String>,
    ) -> Result<usize> {
        let now = self.clock.unix_secs();
        let existing = self.db.list_objects(GATEWAY_NODE).await?.into_iter().find(|(_, name, _)| name == node);
        let before: GatewayReport = existing.as_ref().and_then(|(_, _, doc)| serde_json::from_str(doc).ok()).unwrap_or_default();
        let known: std::collections::HashMap<(&str, &str, &str), i64> =
            before.revisions.iter().map(|r| ((r.api_id.as_str(), r.revision_id.as_str(), r.environment.as_str()), r.since)).collect();
        let mut revisions = Vec::new();
        for a in acks {
            for env in &a.env_info {
                let since = known.get(&(a.api_id.as_str(), a.revision_id.as_str(), env.name.as_str())).copied().unwrap_or(now);
                revisions.push(ServedRevision {
                    api_id: a.api_id.clone(),
                    revision_id: a.revision_id.clone(),
                    environment: env.name.clone(),
                    since,
                });
            }
        }
        let served = revisions.len();
        let report = GatewayReport { labels, reported_at: now, revisions, applied_sequence, version };
        let doc = serde_json::to_string(&report).map_err(ApiError::unavailable)?;
        match existing {
            Some((id, _, _)) => {
                self.db.update_object(GATEWAY_NODE, &id, node, &doc, &[]).await?;
            }
            None => match self.db.create_object(GATEWAY_NODE, &uuid::Uuid::new_v4().to_string(), node, &doc, &[]).await {
                // Another control plane stored this node's first report at the same moment; the next one updates it.
                Ok(()) | Err(apim_store::StoreError::Conflict { .. }) => {}
                Err(e) => return Err(e.into()),
            },
        }
        Ok(served)
    }
}

impl ControlPlane {
    pub(crate) fn check_node(&self, headers: &HeaderMap) -> Result<()> {
        let given = headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("");
        if apim_jose::crypto::ct_eq(given, &self.cfg.event_hub_basic()) {
            Ok(())
        } else {
            Err(ApiError::unauthorized("the internal data service needs the [apim.event_hub] credentials (HTTP Basic)"))
        }
    }

    /// Records a revoked access token (a JWT's `jti` or an opaque token's SHA-256) with its event, once.
    pub async fn record_revocation(&self, id: &str, expires_at: i64) -> std::result::Result<(), apim_store::StoreError> {
        let doc = json!({"expiresAt": expires_at}).to_string();
        let ev = event(apim_wire::hub::EventKind::TokenRevocation, json!({"revokedToken": id, "expiryTime": expires_at * 1000}));
        match self.db.create_object(REVOKED, &uuid::Uuid::new_v4().to_string(), id, &doc, &[ev]).await {
            Ok(()) => {
                // Not a REST call (the resident key manager's revocations come this way): the tails are told here.
                self.wrote_events();
                Ok(())
            }
            Err(apim_store::StoreError::Conflict { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Admin objects of `kind` whose document's `expiresAt` (Unix seconds) is still ahead: `(id, name, expiresAt)`.
    pub(crate) async fn unexpired(&self, kind: &str) -> std::result::Result<Vec<(String, String, i64)>, apim_store::StoreError> {
        let now = self.clock.unix_secs();
        Ok(self
            .db
            .list_objects(kind)
            .await?
            .into_iter()
            .filter_map(|(id, name, doc)| {
                let exp = serde_json::from_str::<Value>(&doc).ok()?.get("expiresAt")?.as_i64()?;
                (exp > now).then_some((id, name, exp))
            })
            .collect())
    }

    /// Revoked tokens that have not expired.
    pub(crate) async fn revoked_tokens(&self) -> std::result::Result<Vec<RevokedTokenEntry>, apim_store::StoreError> {
        Ok(self.unexpired(REVOKED).await?.into_iter().map(|(_, id, expires_at)| RevokedTokenEntry { id, expires_at }).collect())
    }

    pub(crate) async fn prune_revocations(&self) -> std::result::Result<(), apim_store::StoreError> {
        let now = self.clock.unix_secs();
        for (id, _, doc) in self.db.list_objects(REVOKED).await? {
            let exp = serde_json::from_str::<Value>(&doc).ok().and_then(|d| d.get("expiresAt")?.as_i64()).unwrap_or(0);
            if exp <= now {
                self.db.delete_object(REVOKED, &id, &[]).await?;
            }
        }
        Ok(())
    }
}

/// `?gatewayLabel=Default` (repeated or comma-separated): everything deployed there, as of a sequence number.
async fn runtime_artifacts(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Json<RuntimeState>> {
    cp.check_node(&headers)?;
    let labels: Vec<String> = q
        .iter()
        .filter(|(k, _)| k == "gatewayLabel")
        .flat_map(|(_, v)| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string))
        .collect();
    // `apiId=` (repeated or comma-separated): only those APIs; `apis=false`: everything but the APIs.
    let ids: Vec<String> = q
        .iter()
        .filter(|(k, _)| k == "apiId")
        .flat_map(|(_, v)| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string))
        .collect();
    if ids.len() > 1000 {
        return Err(ApiError::field("apiId", "at most 1000 APIs at a time"));
    }
    let apis = match q.iter().rev().find(|(k, _)| k == "apis").map(|(_, v)| v.as_str()) {
        None | Some("true") => true,
        Some("false") => false,
        Some(other) => return Err(ApiError::field("apis", format!("`{other}` is not true or false"))),
    };
    if labels.is_empty() && apis {
        return Err(ApiError::field("gatewayLabel", "name at least one gateway label (or ask for apis=false)"));
    }
    let state = match (ids.is_empty(), apis) {
        (true, true) => cp.runtime_state(&labels).await?,
        (true, false) => cp.runtime_part(&labels, crate::runtime::ApiScope::Only(&[]), true).await?,
        (false, true) => cp.runtime_part(&labels, crate::runtime::ApiScope::Only(&ids), false).await?,
        (false, false) => return Err(ApiError::field("apis", "apis=false leaves nothing of the apiId list")),
    };
    Ok(Json(state))
}

async fn revoked_jwt(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap) -> Result<Json<Vec<RevokedJwt>>> {
    cp.check_node(&headers)?;
    let list = cp.revoked_tokens().await?;
    Ok(Json(list.into_iter().map(|r| RevokedJwt { jwt_signature: r.id, expiry_time: r.expires_at * 1000 }).collect()))
}

async fn key_managers(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap) -> Result<Json<Vec<Value>>> {
    cp.check_node(&headers)?;
    let mut out = Vec::new();
    for (_, _, doc) in cp.db.list_objects("key_manager").await? {
        if let Ok(v) = serde_json::from_str::<Value>(&doc) {
            out.push(v);
        }
    }
    Ok(Json(out))
}

/// A key manager's revocation notice: `{"revokedToken": "...", "expiryTime": <ms>, "type": "JWT"|"DEFAULT", ...}`.
async fn notify(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, body: axum::body::Bytes) -> Result<Json<Value>> {
    cp.check_node(&headers)?;
    let v: Value = serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("the notice is not JSON: {e}")))?;
    let Some(token) = v.get("revokedToken").and_then(Value::as_str).filter(|t| !t.is_empty() && t.len() <= 255) else {
        return Err(ApiError::field("revokedToken", "a non-empty string of at most 255 characters is required"));
    };
    let expiry_ms = match v.get("expiryTime") {
        Some(Value::Number(n)) => n.as_i64().ok_or_else(|| ApiError::field("expiryTime", "must be an integer (Unix milliseconds)"))?,
        Some(Value::String(s)) => s.parse().map_err(|_| ApiError::field("expiryTime", "must be an integer (Unix milliseconds)"))?,
        // Unknown expiry: remember it for a day (longer than any default token lifetime).
        _ => cp.clock.unix_ms() + 86_400_000,
    };
    let km = headers.get("x-wso2-key-manager").and_then(|v| v.to_str().ok()).unwrap_or("default");
    tracing::info!(key_manager = km, "revocation notice");
    cp.record_revocation(token, expiry_ms / 1000).await?;
    Ok(Json(json!({"status": "recorded"})))
}
