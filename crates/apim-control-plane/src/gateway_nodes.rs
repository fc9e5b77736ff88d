//! The Admin API's gateway nodes (`GET /gateway-nodes`, `GET /gateway-nodes/{gatewayId}`), an apim-rs operation
//! WSO2 does not have: every gateway node that reports to the event hub, what it serves against what is deployed
//! to its labels, and how far its state is behind the event log. Read from the nodes' own reports
//! (`PATCH /internal/data/v1/apis/deployed-revisions`) and the deployments table; documented in
//! `openapi/platform-v1.json`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use apim_store::ApiStore;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::ControlPlane;
use crate::error::{ApiError, Result};
use crate::internal::GatewayReport;

pub(crate) fn admin_routes() -> Router<Arc<ControlPlane>> {
    Router::new().route("/gateway-nodes", get(list)).route("/gateway-nodes/{gateway_id}", get(one))
}

/// A deployed revision as a node should serve it: the environment is one of its labels.
struct Expected {
    api_id: String,
    api_name: String,
    api_version: String,
    revision_id: String,
    environment: String,
}

/// What a node's report is compared with: every deployment, the event log's head, and when each node was heard.
struct Reference {
    deployed: Vec<Expected>,
    head: i64,
    heard: HashMap<String, i64>,
}

async fn reference(cp: &ControlPlane) -> Result<Reference> {
    #[derive(serde::Deserialize, Default)]
    struct Named {
        #[serde(default)]
        name: String,
        #[serde(default)]
        version: String,
    }
    let deployed = cp
        .db
        .deployed_revisions()
        .await?
        .into_iter()
        .map(|(d, _, doc)| {
            let n: Named = serde_json::from_str(&doc).unwrap_or_default();
            Expected { api_id: d.api_id, api_name: n.name, api_version: n.version, revision_id: d.revision_id, environment: d.environment }
        })
        .collect();
    Ok(Reference { deployed, head: cp.db.last_event_seq().await?, heard: cp.gateways_heard().await? })
}

/// One node as the Admin API answers it; `revisions` only when asked for one node.
fn node_json(id: &str, r: &GatewayReport, reference: &Reference, with_revisions: bool) -> Value {
    let serves = |e: &str| r.labels.iter().any(|l| l.eq_ignore_ascii_case(e));
    let served: HashSet<(&str, &str, &str)> =
        r.revisions.iter().map(|s| (s.api_id.as_str(), s.revision_id.as_str(), s.environment.as_str())).collect();
    let expected: Vec<&Expected> = reference.deployed.iter().filter(|d| serves(&d.environment)).collect();
    let pending =
        expected.iter().filter(|d| !served.contains(&(d.api_id.as_str(), d.revision_id.as_str(), d.environment.as_str()))).count();
    let last_seen = r.reported_at.max(reference.heard.get(id).copied().unwrap_or(0));
    let mut v = json!({
        "gatewayId": id,
        "labels": r.labels,
        "version": r.version,
        "lastSeen": apim_domain::api::rfc3339(last_seen),
        "reportedTime": apim_domain::api::rfc3339(r.reported_at),
        "appliedSequence": r.applied_sequence,
        "latestSequence": reference.head,
        "eventsBehind": r.applied_sequence.map(|a| (reference.head - a).max(0)),
        "servedRevisions": r.revisions.len(),
        "deployedRevisions": expected.len(),
        "pendingRevisions": pending,
        "inSync": pending == 0 && r.revisions.len() == expected.len(),
    });
    if with_revisions {
        let names: HashMap<&str, (&str, &str)> =
            reference.deployed.iter().map(|d| (d.api_id.as_str(), (d.api_name.as_str(), d.api_version.as_str()))).collect();
        let current: HashMap<(&str, &str), &str> =
            expected.iter().map(|d| ((d.api_id.as_str(), d.environment.as_str()), d.revision_id.as_str())).collect();
        let mut rows: Vec<Value> = r
            .revisions
            .iter()
            .map(|s| {
                let (name, version) = names.get(s.api_id.as_str()).copied().unwrap_or(("", ""));
                let deployed = current.get(&(s.api_id.as_str(), s.environment.as_str())).copied();
                json!({"apiId": s.api_id, "apiName": name, "apiVersion": version, "environment": s.environment,
                       "revisionId": s.revision_id, "since": apim_domain::api::rfc3339(s.since),
                       "status": match deployed { Some(d) if d == s.revision_id => "CURRENT", Some(_) => "OUTDATED", None => "UNDEPLOYED" }})
            })
            .collect();
        // Deployed here but not served yet.
        for d in &expected {
            if !served.contains(&(d.api_id.as_str(), d.revision_id.as_str(), d.environment.as_str())) {
                rows.push(json!({"apiId": d.api_id, "apiName": d.api_name, "apiVersion": d.api_version,
                                 "environment": d.environment, "revisionId": d.revision_id, "status": "PENDING"}));
            }
        }
        rows.sort_by(|a, b| {
            let k = |v: &Value| (v["apiName"].as_str().unwrap_or("").to_lowercase(), v["environment"].as_str().unwrap_or("").to_string());
            k(a).cmp(&k(b))
        });
        v["revisions"] = json!(rows);
    }
    v
}

/// `GET /gateway-nodes`: every node heard from within `GATEWAY_SILENCE`, by id.
async fn list(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap) -> Result<Json<Value>> {
    cp.principal(&headers).await?.require(crate::admin::ADMIN)?;
    let mut reports = cp.gateway_reports().await?;
    reports.sort_by(|a, b| a.0.cmp(&b.0));
    let reference = reference(&cp).await?;
    let list: Vec<Value> = reports.iter().map(|(id, r)| node_json(id, r, &reference, false)).collect();
    Ok(Json(json!({"count": list.len(), "list": list})))
}

/// `GET /gateway-nodes/{gatewayId}`: one node with each revision it serves or should serve.
async fn one(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Path(id): Path<String>) -> Result<Json<Value>> {
    cp.principal(&headers).await?.require(crate::admin::ADMIN)?;
    let reports = cp.gateway_reports().await?;
    let Some((_, report)) = reports.iter().find(|(n, _)| *n == id) else {
        return Err(ApiError::not_found(format!("no gateway node `{id}` has reported within the last 5 minutes")));
    };
    Ok(Json(node_json(&id, report, &reference(&cp).await?, true)))
}
