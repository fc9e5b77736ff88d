//! Traffic managers as the Admin portal shows them (`GET /traffic-managers`, an apim-rs operation WSO2 does not
//! have): each traffic manager node heard from in the last five minutes, the gateways it counts for and the
//! throttle decisions in force. Every traffic manager reports every few seconds on the internal data service
//! (`POST /internal/data/v1/traffic-managers`); a report is stored as an admin object (kind
//! [`TRAFFIC_MANAGER_NODE`], named by the node), so every control plane on the database answers the same.
//! Documented in `openapi/platform-v1.json`.

use std::collections::HashMap;
use std::sync::Arc;

use apim_domain::api::rfc3339;
use apim_store::{AdminStore, ApplicationStore};
use apim_wire::throttle::{MAX_REPORTED_DECISIONS, TrafficManagerReport};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::ControlPlane;
use crate::error::{ApiError, Result};

/// Admin-object kind holding each traffic manager's last report (`name` is the node id).
const TRAFFIC_MANAGER_NODE: &str = "traffic_manager_node";

/// A traffic manager not heard from for this long is not listed, and its row is deleted with the hourly pruning.
const SILENCE_SECS: i64 = 5 * 60;

pub(crate) fn admin_routes() -> Router<Arc<ControlPlane>> {
    Router::new().route("/traffic-managers", get(list))
}

/// A report as stored: what the node sent and when it arrived.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stored {
    reported_at: i64,
    report: TrafficManagerReport,
}

/// A peer's report, checked whole before it is stored; the error names the field.
fn check(r: &TrafficManagerReport) -> Result<()> {
    let printable = |v: &str| v.bytes().all(|b| b.is_ascii_graphic());
    if r.node_id.is_empty() || r.node_id.len() > 255 || r.node_id.chars().any(char::is_control) {
        return Err(ApiError::field("nodeId", "name the traffic manager (1 to 255 characters, no control characters)"));
    }
    if r.version.len() > 64 || !printable(&r.version) {
        return Err(ApiError::field("version", "at most 64 printable characters, no spaces"));
    }
    if r.in_force.len() > MAX_REPORTED_DECISIONS {
        return Err(ApiError::field("inForce", format!("at most {MAX_REPORTED_DECISIONS} decisions")));
    }
    for (i, d) in r.in_force.iter().enumerate() {
        if d.key.is_empty() || d.key.len() > 1024 || d.key.chars().any(char::is_control) {
            return Err(ApiError::field(&format!("inForce[{i}].key"), "1 to 1,024 characters, no control characters"));
        }
        if d.condition.len() > 32 || !printable(&d.condition) {
            return Err(ApiError::field(&format!("inForce[{i}].condition"), "at most 32 printable characters"));
        }
    }
    Ok(())
}

impl ControlPlane {
    /// Stores a traffic manager's report in place of its last one.
    pub async fn record_traffic_manager_report(&self, report: TrafficManagerReport) -> Result<()> {
        check(&report)?;
        let node = report.node_id.clone();
        let doc = serde_json::to_string(&Stored { reported_at: self.clock.unix_secs(), report }).map_err(ApiError::unavailable)?;
        match self.db.list_objects(TRAFFIC_MANAGER_NODE).await?.into_iter().find(|(_, name, _)| *name == node) {
            Some((id, _, _)) => {
                self.db.update_object(TRAFFIC_MANAGER_NODE, &id, &node, &doc, &[]).await?;
            }
            None => match self.db.create_object(TRAFFIC_MANAGER_NODE, &uuid::Uuid::new_v4().to_string(), &node, &doc, &[]).await {
                // Another control plane stored this node's first report at the same moment; the next one updates it.
                Ok(()) | Err(apim_store::StoreError::Conflict { .. }) => {}
                Err(e) => return Err(e.into()),
            },
        }
        Ok(())
    }

    /// Deletes the rows of traffic managers silent past [`SILENCE_SECS`].
    pub(crate) async fn prune_traffic_managers(&self) -> std::result::Result<(), apim_store::StoreError> {
        let before = self.clock.unix_secs() - SILENCE_SECS;
        for (id, _, doc) in self.db.list_objects(TRAFFIC_MANAGER_NODE).await? {
            if serde_json::from_str::<Stored>(&doc).map_or(0, |s| s.reported_at) < before {
                self.db.delete_object(TRAFFIC_MANAGER_NODE, &id, &[]).await?;
            }
        }
        Ok(())
    }
}

pub(crate) async fn ingest(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<serde_json::Value>> {
    cp.check_node(&headers)?;
    let report: TrafficManagerReport =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("the traffic manager's report does not parse: {e}")))?;
    let listed = report.in_force.len();
    cp.record_traffic_manager_report(report).await?;
    Ok(Json(serde_json::json!({"decisions": listed})))
}

/// The application a throttle key starts with (WSO2's application, subscription and burst keys do).
#[derive(Serialize, Clone)]
#[serde(rename_all = "camelCase")]
struct KeyApplication {
    id: String,
    name: String,
    owner: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Decision {
    key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    application: Option<KeyApplication>,
    condition: String,
    throttled_until: String,
    forwarded: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    quota: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    used: Option<u64>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Node {
    node_id: String,
    version: String,
    last_seen: String,
    gateways: u64,
    keys: u64,
    decisions_made: u64,
    in_force_total: u64,
    in_force: Vec<Decision>,
}

/// `GET /traffic-managers`: every traffic manager heard from lately, by node id, with its decisions still in force.
async fn list(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap) -> Result<Json<serde_json::Value>> {
    cp.principal(&headers).await?.require(crate::admin::ADMIN)?;
    let now = cp.clock.unix_secs();
    let now_ms = u64::try_from(cp.clock.unix_ms()).unwrap_or(0);
    let stored: Vec<Stored> = cp
        .db
        .list_objects(TRAFFIC_MANAGER_NODE)
        .await?
        .into_iter()
        .filter_map(|(_, _, doc)| serde_json::from_str::<Stored>(&doc).ok())
        .filter(|s| s.reported_at >= now - SILENCE_SECS)
        .collect();
    // Each application a key names, looked up once.
    let mut applications: HashMap<String, Option<KeyApplication>> = HashMap::new();
    for d in stored.iter().flat_map(|s| &s.report.in_force) {
        let Some(id) = d.key.split(':').next().filter(|id| id.len() == 36) else { continue };
        if !applications.contains_key(id) {
            let app = cp.db.get_application(id).await?.map(|a| KeyApplication { id: a.id, name: a.name, owner: a.owner });
            applications.insert(id.to_string(), app);
        }
    }
    let mut nodes: Vec<Node> = stored
        .into_iter()
        .map(|s| {
            let r = s.report;
            let listed = r.in_force.len() as u64;
            // A decision may have ended since the report: it is not shown.
            let in_force: Vec<Decision> = r
                .in_force
                .into_iter()
                .filter(|d| d.throttled_until_ms > now_ms)
                .map(|d| Decision {
                    application: d.key.split(':').next().and_then(|id| applications.get(id).cloned().flatten()),
                    key: d.key,
                    condition: d.condition,
                    throttled_until: rfc3339(i64::try_from(d.throttled_until_ms / 1000).unwrap_or(i64::MAX)),
                    forwarded: d.forwarded,
                    quota: d.quota,
                    used: d.used,
                })
                .collect();
            let ended = listed - in_force.len() as u64;
            Node {
                node_id: r.node_id,
                version: r.version,
                last_seen: rfc3339(s.reported_at),
                gateways: r.gateways,
                keys: r.keys,
                decisions_made: r.decisions_made,
                in_force_total: r.in_force_total.saturating_sub(ended),
                in_force,
            }
        })
        .collect();
    nodes.sort_by(|a, b| a.node_id.cmp(&b.node_id));
    Ok(Json(serde_json::json!({"count": nodes.len(), "list": nodes})))
}

#[cfg(test)]
mod tests {
    use super::*;
    use apim_wire::throttle::DecisionInForce;

    #[test]
    fn reports_are_checked_field_by_field() {
        let good = TrafficManagerReport {
            node_id: "tm1".into(),
            version: "0.1.0".into(),
            in_force: vec![DecisionInForce {
                key: "/orders:1.0.0:alice:Shop:PRODUCTION".into(),
                condition: "subscription".into(),
                ..Default::default()
            }],
            in_force_total: 1,
            ..Default::default()
        };
        assert!(check(&good).is_ok());
        let bad = |f: &dyn Fn(&mut TrafficManagerReport), want: &str| {
            let mut r = good.clone();
            f(&mut r);
            let e = check(&r).expect_err(want);
            assert!(format!("{e:?}").contains(want), "{e:?}");
        };
        bad(&|r| r.node_id.clear(), "nodeId");
        bad(&|r| r.version = "1 0".into(), "version");
        bad(&|r| r.in_force[0].key = "a\nb".into(), "inForce[0].key");
        bad(&|r| r.in_force[0].condition = "x".repeat(33), "inForce[0].condition");
        bad(&|r| r.in_force = vec![DecisionInForce { key: "k".into(), ..Default::default() }; MAX_REPORTED_DECISIONS + 1], "inForce");
    }
}
