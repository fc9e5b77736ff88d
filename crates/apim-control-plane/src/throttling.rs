//! Throttling policies as the Publisher and the DevPortal answer them (WSO2's `ThrottlingPolicy`): the lists of
//! a level, one policy by name, and an API's subscription tiers all shape the stored Admin document here.

use std::collections::HashMap;
use std::sync::Arc;

use apim_domain::api::ApiRecord;
use apim_store::ApiStore;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::ControlPlane;
use crate::auth::Principal;
use crate::error::{ApiError, Result};

/// Which API answers: the two `ThrottlingPolicy` schemas differ in a few fields and in the levels they list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Portal {
    Publisher,
    DevPortal,
}

impl Portal {
    /// The levels WSO2's document lets this API list; a URL level outside them is a 400 naming `policyLevel`.
    fn level(self, level: &str) -> Result<&str> {
        let known: &[&str] = match self {
            Portal::Publisher => &["subscription", "api"],
            Portal::DevPortal => &["application", "subscription"],
        };
        if known.contains(&level) {
            Ok(level)
        } else {
            Err(ApiError::field("policyLevel", format!("`{level}` is not {}", known.join(" or "))))
        }
    }
}

/// A stored policy document (Admin's DTO) as WSO2's `ThrottlingPolicy` of `portal`. The required integers are
/// filled from whichever limit the policy's type names, as WSO2 does: `requestCount` is the request count, the
/// data amount of a `BANDWIDTHLIMIT` (with its `dataUnit`) or the event count of an `EVENTCOUNTLIMIT`.
pub(crate) fn policy_json(portal: Portal, level: &str, name: &str, d: &Value) -> Value {
    let limit = &d["defaultLimit"];
    let (inner, count, quota) = match limit.get("type").and_then(Value::as_str) {
        Some("BANDWIDTHLIMIT") => (&limit["bandwidth"], "dataAmount", "BANDWIDTHVOLUME"),
        // WSO2's enum has no event-count value: an event is counted as a request.
        Some("EVENTCOUNTLIMIT") => (&limit["eventCount"], "eventCount", "REQUESTCOUNT"),
        _ => (&limit["requestCount"], "requestCount", "REQUESTCOUNT"),
    };
    let int = |v: &Value| v.as_i64().unwrap_or(0);
    let mut o = Map::new();
    o.insert("name".into(), json!(name));
    o.insert("description".into(), d.get("description").cloned().unwrap_or(json!("")));
    o.insert("policyLevel".into(), json!(level));
    if portal == Portal::Publisher {
        o.insert("displayName".into(), d.get("displayName").cloned().unwrap_or(json!(name)));
    }
    o.insert("attributes".into(), Value::Object(attributes(d)));
    o.insert("requestCount".into(), json!(int(&inner[count])));
    if let Some(unit) = inner.get("dataUnit").filter(|u| u.is_string()) {
        o.insert("dataUnit".into(), unit.clone());
    }
    o.insert("unitTime".into(), json!(int(&inner["unitTime"])));
    o.insert("timeUnit".into(), inner.get("timeUnit").cloned().unwrap_or(json!("min")));
    o.insert("rateLimitCount".into(), json!(int(&d["rateLimitCount"])));
    if let Some(unit) = d.get("rateLimitTimeUnit").filter(|u| u.is_string()) {
        o.insert("rateLimitTimeUnit".into(), unit.clone());
    }
    o.insert("quotaPolicyType".into(), json!(quota));
    o.insert("tierPlan".into(), json!(tier_plan(d)));
    o.insert("stopOnQuotaReach".into(), d.get("stopOnQuotaReach").cloned().unwrap_or(json!(true)));
    let monetization = d.pointer("/monetization/properties").and_then(Value::as_object);
    match portal {
        Portal::Publisher => {
            if let Some(props) = monetization {
                o.insert("monetizationProperties".into(), Value::Object(strings_only(props)));
            }
        }
        Portal::DevPortal => {
            if let Some(m) = monetization_attributes(d) {
                o.insert("monetizationAttributes".into(), m);
            }
            if let Some(p) = d.get("permissions").filter(|p| p.is_object()) {
                let kind = p.get("permissionType").and_then(Value::as_str).unwrap_or("ALLOW").to_ascii_lowercase();
                o.insert(
                    "throttlingPolicyPermissions".into(),
                    json!({"type": kind, "roles": p.get("roles").cloned().unwrap_or(json!([]))}),
                );
            }
        }
    }
    Value::Object(o)
}

/// Whether a policy's `permissions` (Admin's `SubscriptionThrottlePolicyPermission`) let the caller see and
/// subscribe with it, as WSO2's tier permissions do: `ALLOW` names the only roles that may, `DENY` roles that may
/// not; no roles, or no permissions, let everyone.
pub(crate) fn permitted(d: &Value, who: Option<&Principal>) -> bool {
    let Some(p) = d.get("permissions").filter(|p| p.is_object()) else { return true };
    let roles: Vec<&str> = p.get("roles").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
    if roles.is_empty() {
        return true;
    }
    let holds = who.is_some_and(|w| w.roles().iter().any(|r| roles.contains(&r.as_str())));
    let deny = p.get("permissionType").and_then(Value::as_str).is_some_and(|t| t.eq_ignore_ascii_case("DENY"));
    if deny { !holds } else { holds }
}

/// `FREE` or `COMMERCIAL`: the policy's billing plan (only subscription policies have one).
pub(crate) fn tier_plan(d: &Value) -> &str {
    d.get("billingPlan").and_then(Value::as_str).unwrap_or("FREE")
}

/// The DevPortal's `MonetizationInfo` of a commercial policy, from the Admin document's `monetization`.
pub(crate) fn monetization_attributes(d: &Value) -> Option<Value> {
    let m = d.get("monetization").filter(|m| m.is_object())?;
    let props = m.get("properties").and_then(Value::as_object).map(strings_only).unwrap_or_default();
    let mut out = Map::new();
    let billing = match m.get("monetizationPlan").and_then(Value::as_str) {
        Some("DYNAMICRATE") => "dynamicRate",
        _ => "fixedPrice",
    };
    out.insert("billingType".into(), json!(billing));
    for key in ["billingCycle", "fixedPrice", "pricePerRequest", "currencyType"] {
        if let Some(v) = props.get(key) {
            out.insert(key.into(), v.clone());
        }
    }
    Some(Value::Object(out))
}

fn strings_only(props: &Map<String, Value>) -> Map<String, Value> {
    props.iter().filter(|(_, v)| v.is_string()).map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// Admin's `customAttributes` (`[{name, value}]`) as the portals' `attributes` map.
fn attributes(d: &Value) -> Map<String, Value> {
    let mut out = Map::new();
    for a in d.get("customAttributes").and_then(Value::as_array).into_iter().flatten() {
        if let (Some(n), Some(v)) = (a.get("name").and_then(Value::as_str), a.get("value").and_then(Value::as_str)) {
            out.insert(n.into(), json!(v));
        }
    }
    out
}

/// The stored policies of a level, parsed.
async fn stored(cp: &ControlPlane, level: &str) -> Result<Vec<(String, Value)>> {
    Ok(cp.db.policies(level).await?.into_iter().map(|(n, d)| (n, serde_json::from_str(&d).unwrap_or_else(|_| json!({})))).collect())
}

/// [`stored`], less what the DevPortal's caller is not permitted (the Publisher shows every policy).
async fn shown(cp: &ControlPlane, portal: Portal, level: &str, who: Option<&Principal>) -> Result<Vec<(String, Value)>> {
    let mut all = stored(cp, level).await?;
    if portal == Portal::DevPortal {
        all.retain(|(_, d)| permitted(d, who));
    }
    Ok(all)
}

/// `GET /throttling-policies/{policyLevel}` of either portal: one page, in WSO2's list shape.
pub(crate) async fn list(
    cp: &ControlPlane,
    portal: Portal,
    level: &str,
    p: &HashMap<String, String>,
    who: Option<&Principal>,
) -> Result<Response> {
    let level = portal.level(level)?;
    let page = crate::search::Page::of(p)?;
    let all = shown(cp, portal, level, who).await?;
    let total = all.len() as i64;
    let list: Vec<Value> = page.slice(all).map(|(name, d)| policy_json(portal, level, &name, &d)).collect();
    Ok(Json(crate::search::Listing::new(list, page.pagination(&format!("/throttling-policies/{level}"), &[], total))).into_response())
}

/// `GET /throttling-policies/{policyLevel}/{policyName}` of either portal (the DevPortal calls the name
/// `policyId`).
pub(crate) async fn one(cp: &ControlPlane, portal: Portal, level: &str, name: &str, who: Option<&Principal>) -> Result<Response> {
    let level = portal.level(level)?;
    let found = shown(cp, portal, level, who).await?.into_iter().find(|(n, _)| n == name);
    let (name, d) = found.ok_or_else(|| ApiError::not_found(format!("{level} throttling policy `{name}` not found")))?;
    Ok(Json(policy_json(portal, level, &name, &d)).into_response())
}

/// The subscription policies an API offers (its `policies`), in the API's order, as full `ThrottlingPolicy`
/// objects; a name no policy has any more, or one the DevPortal's caller is not permitted, is left out.
pub(crate) async fn of_api(cp: &ControlPlane, portal: Portal, api: &ApiRecord, who: Option<&Principal>) -> Result<Vec<Value>> {
    let doc: Value = serde_json::from_str(&api.document).unwrap_or(Value::Null);
    let all = shown(cp, portal, "subscription", who).await?;
    let mut out = Vec::new();
    for tier in doc.get("policies").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
        if let Some((name, d)) = all.iter().find(|(n, _)| n == tier) {
            out.push(policy_json(portal, "subscription", name, d));
        }
    }
    Ok(out)
}

// === handlers ===

pub(crate) async fn publisher_list(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Path(level): Path<String>,
    Query(p): Query<HashMap<String, String>>,
) -> Result<Response> {
    cp.principal(&headers).await?.require(crate::publisher::VIEW)?;
    list(&cp, Portal::Publisher, &level, &p, None).await
}

pub(crate) async fn publisher_one(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Path((level, name)): Path<(String, String)>,
) -> Result<Response> {
    cp.principal(&headers).await?.require(crate::publisher::VIEW)?;
    one(&cp, Portal::Publisher, &level, &name, None).await
}

pub(crate) async fn devportal_list(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Path(level): Path<String>,
    Query(p): Query<HashMap<String, String>>,
) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    list(&cp, Portal::DevPortal, &level, &p, Some(&who)).await
}

pub(crate) async fn devportal_one(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Path((level, name)): Path<(String, String)>,
) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    one(&cp, Portal::DevPortal, &level, &name, Some(&who)).await
}
