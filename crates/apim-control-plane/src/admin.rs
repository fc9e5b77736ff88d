//! Admin REST API `/api/am/admin/v4`: throttling policies, deny policies (block conditions), gateway
//! environments, key managers, and applications across owners. Admin role only.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use apim_domain::api::EventDraft;
use apim_store::{AdminStore, ApiFilter, ApiStore, ApplicationStore};
use apim_wire::BlockConditionType;
use apim_wire::hub::EventKind;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};

use crate::ControlPlane;
use crate::error::{ApiError, Result};
use crate::model::event;

pub(crate) const ADMIN: &[&str] = &["apim:admin", "apim:tier_manage"];
const TIME_UNITS: [&str; 6] = ["sec", "min", "hour", "day", "month", "year"];
/// The longest throttling window, `unitTime` × `timeUnit`: a year (366 days, so `1 year` and `12 month` pass).
const MAX_WINDOW_SECS: i64 = 366 * 86_400;

pub fn routes() -> axum::Router<Arc<ControlPlane>> {
    axum::Router::new()
        .route("/throttling/policies/{level}", get(list_policies).post(create_policy))
        .route("/throttling/policies/{level}/{policy_id}", get(get_policy).put(update_policy).delete(delete_policy))
        .route("/throttling/deny-policies", get(list_deny).post(create_deny))
        .route("/throttling/deny-policy/{condition_id}", get(get_deny).patch(patch_deny).delete(delete_deny))
        .route("/environments", get(list_environments).post(create_environment))
        .route("/environments/{env_id}", axum::routing::put(update_environment).delete(delete_environment))
        .route("/key-managers", get(list_key_managers).post(create_key_manager))
        .route("/key-managers/{km_id}", get(get_key_manager).put(update_key_manager).delete(delete_key_manager))
        .route("/applications", get(list_applications))
        .route("/applications/{app_id}/change-owner", post(change_owner))
}

fn json_object(body: &Bytes) -> Result<Map<String, Value>> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(o)) => Ok(o),
        Ok(_) => Err(ApiError::bad_request("the body must be a JSON object")),
        Err(e) => Err(ApiError::bad_request(format!("the body is not valid JSON: {e}"))),
    }
}

async fn admin(cp: &ControlPlane, headers: &HeaderMap) -> Result<()> {
    cp.principal(headers).await?.require(ADMIN)
}

// === throttling policies ===

/// URL level → stored level.
pub(crate) fn level_of(level: &str) -> Result<&'static str> {
    match level {
        "application" => Ok("application"),
        "subscription" => Ok("subscription"),
        "advanced" => Ok("api"),
        "custom" => Ok("custom"),
        other => Err(ApiError::field("policyLevel", format!("`{other}` is not application, subscription, advanced or custom"))),
    }
}

fn int_field(o: &Value, field: &str, path: &str, min: i64) -> Result<i64> {
    match o.get(field).and_then(Value::as_i64) {
        Some(n) if n >= min => Ok(n),
        _ => Err(ApiError::field(&format!("{path}.{field}"), format!("must be an integer of at least {min}"))),
    }
}

/// `{type: REQUESTCOUNTLIMIT|BANDWIDTHLIMIT|EVENTCOUNTLIMIT, requestCount|bandwidth|eventCount: {...}}`.
fn validate_limit(v: Option<&mut Value>, path: &str) -> Result<()> {
    let l = v.and_then(Value::as_object_mut).ok_or_else(|| ApiError::field(path, "is required: {type, requestCount|bandwidth}"))?;
    let kind = l.get("type").and_then(Value::as_str).unwrap_or("");
    let (inner, key) = match kind {
        "REQUESTCOUNTLIMIT" => (l.get("requestCount"), "requestCount"),
        "BANDWIDTHLIMIT" => (l.get("bandwidth"), "bandwidth"),
        "EVENTCOUNTLIMIT" => (l.get("eventCount"), "eventCount"),
        other => {
            return Err(ApiError::field(
                &format!("{path}.type"),
                format!("`{other}` is not REQUESTCOUNTLIMIT, BANDWIDTHLIMIT or EVENTCOUNTLIMIT"),
            ));
        }
    };
    let inner = inner.cloned().ok_or_else(|| ApiError::field(&format!("{path}.{key}"), "is required"))?;
    // Only the limit the type names is kept.
    l.retain(|k, _| k == "type" || k == key);
    let inner = &inner;
    let ipath = format!("{path}.{key}");
    let unit = inner.get("timeUnit").and_then(Value::as_str).unwrap_or("");
    if !TIME_UNITS.contains(&unit) {
        return Err(ApiError::field(&format!("{ipath}.timeUnit"), format!("`{unit}` is not one of {}", TIME_UNITS.join(", "))));
    }
    let unit_time = int_field(inner, "unitTime", &ipath, 1)?;
    // Gateways count in windows of milliseconds; one longer than a year (or that overflows) would never close.
    let unit_secs: i64 = match unit {
        "sec" => 1,
        "min" => 60,
        "hour" => 3_600,
        "day" => 86_400,
        "month" => 30 * 86_400,
        _ => 365 * 86_400,
    };
    if unit_time.checked_mul(unit_secs).is_none_or(|secs| secs > MAX_WINDOW_SECS) {
        return Err(ApiError::field(
            &format!("{ipath}.unitTime"),
            format!("{unit_time} {unit} is longer than a year, the longest window a policy may have"),
        ));
    }
    match key {
        "requestCount" => int_field(inner, "requestCount", &ipath, 1).map(drop)?,
        "eventCount" => int_field(inner, "eventCount", &ipath, 1).map(drop)?,
        _ => {
            int_field(inner, "dataAmount", &ipath, 1)?;
            let du = inner.get("dataUnit").and_then(Value::as_str).unwrap_or("");
            if !["KB", "MB", "GB"].contains(&du) {
                return Err(ApiError::field(&format!("{ipath}.dataUnit"), "must be KB, MB or GB"));
            }
        }
    }
    Ok(())
}

fn validate_condition(c: &Value, path: &str) -> Result<()> {
    let kind = c.get("type").and_then(Value::as_str).unwrap_or("");
    let need = |f: &str, sub: &str| -> Result<()> {
        c.get(f)
            .and_then(|o| o.get(sub))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(drop)
            .ok_or_else(|| ApiError::field(&format!("{path}.{f}.{sub}"), "is required"))
    };
    match kind {
        "HEADERCONDITION" => need("headerCondition", "headerName").and(need("headerCondition", "headerValue")),
        "QUERYPARAMETERCONDITION" => {
            need("queryParameterCondition", "parameterName").and(need("queryParameterCondition", "parameterValue"))
        }
        "JWTCLAIMSCONDITION" => need("jwtClaimsCondition", "claimUrl").and(need("jwtClaimsCondition", "attribute")),
        "IPCONDITION" => {
            let ip = c.get("ipCondition").ok_or_else(|| ApiError::field(&format!("{path}.ipCondition"), "is required"))?;
            let valid = |f: &str| ip.get(f).and_then(Value::as_str).is_some_and(|s| s.parse::<IpAddr>().is_ok());
            match ip.get("ipConditionType").and_then(Value::as_str) {
                Some("IPSPECIFIC") if valid("specificIP") => Ok(()),
                Some("IPRANGE") if valid("startingIP") && valid("endingIP") => Ok(()),
                _ => Err(ApiError::field(
                    &format!("{path}.ipCondition"),
                    "needs ipConditionType IPSPECIFIC with specificIP, or IPRANGE with startingIP and endingIP (IP addresses)",
                )),
            }
        }
        other => Err(ApiError::field(
            &format!("{path}.type"),
            format!("`{other}` is not HEADERCONDITION, IPCONDITION, QUERYPARAMETERCONDITION or JWTCLAIMSCONDITION"),
        )),
    }
}

/// Validates a policy body of a level and fills WSO2's defaults.
pub(crate) fn validate_policy(level: &str, o: &mut Map<String, Value>) -> Result<String> {
    crate::model::max_lengths(o, &[("displayName", 512), ("description", 1024)])?;
    let name = o.get("policyName").and_then(Value::as_str).map(str::trim).unwrap_or("").to_string();
    if name.is_empty() || name.len() > 60 || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return Err(ApiError::field("policyName", "is required: 1 to 60 letters, digits, _ or -"));
    }
    o.entry("displayName").or_insert(json!(name));
    o.entry("description").or_insert(json!(""));
    match level {
        "custom" => {
            for f in ["keyTemplate", "siddhiQuery"] {
                if o.get(f).and_then(Value::as_str).is_none_or(|s| s.trim().is_empty()) {
                    return Err(ApiError::field(f, "is required for a custom policy"));
                }
            }
            // Our rule language in place of Siddhi (apim_domain::custom); a rule gateways could not apply is refused here.
            let (template, rule) = (
                o.get("keyTemplate").and_then(Value::as_str).unwrap_or_default(),
                o.get("siddhiQuery").and_then(Value::as_str).unwrap_or_default(),
            );
            match apim_domain::custom::CustomRule::parse(template, rule) {
                Err(e) => {
                    let field = if e.in_key_template() { "keyTemplate" } else { "siddhiQuery" };
                    return Err(ApiError::field(
                        field,
                        format!("{e}; custom rules are written `limit 5 per 1 min when $userId == 'admin@carbon.super'`"),
                    ));
                }
                Ok(parsed) if parsed.window_ms > MAX_WINDOW_SECS.unsigned_abs() * 1000 => {
                    return Err(ApiError::field("siddhiQuery", "the time window is longer than a year, the longest a policy may have"));
                }
                Ok(_) => {}
            }
            o.insert("type".into(), json!("CustomRule"));
        }
        _ => {
            validate_limit(o.get_mut("defaultLimit"), "defaultLimit")?;
        }
    }
    if level == "subscription" {
        // Computed from the subscriptions on every answer (`with_subscriber_counts`), never a client's to set.
        o.remove("subscriberCount");
        let rate = o
            .get("rateLimitCount")
            .map(|v| v.as_i64().filter(|n| *n >= 0).ok_or_else(|| ApiError::field("rateLimitCount", "must be a non-negative integer")))
            .transpose()?
            .unwrap_or(0);
        if rate > 0 && !matches!(o.get("rateLimitTimeUnit").and_then(Value::as_str), Some("sec" | "min")) {
            return Err(ApiError::field("rateLimitTimeUnit", "must be sec or min when rateLimitCount is set"));
        }
        if let Some(v) = o.get("stopOnQuotaReach")
            && !v.is_boolean()
        {
            return Err(ApiError::field("stopOnQuotaReach", "must be true or false"));
        }
        o.entry("stopOnQuotaReach").or_insert(json!(true));
        o.entry("billingPlan").or_insert(json!("FREE"));
        o.entry("rateLimitCount").or_insert(json!(rate));
        o.insert("type".into(), json!("SubscriptionThrottlePolicy"));
    }
    if level == "application" {
        o.insert("type".into(), json!("ApplicationThrottlePolicy"));
    }
    if level == "api" {
        let mut groups = match o.get("conditionalGroups") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(g)) => g.clone(),
            Some(_) => return Err(ApiError::field("conditionalGroups", "must be a list")),
        };
        for (i, g) in groups.iter_mut().enumerate() {
            let path = format!("conditionalGroups[{i}]");
            let conds = g
                .get("conditions")
                .and_then(Value::as_array)
                .filter(|c| !c.is_empty())
                .ok_or_else(|| ApiError::field(&format!("{path}.conditions"), "needs at least one condition"))?;
            for (j, c) in conds.iter().enumerate() {
                validate_condition(c, &format!("{path}.conditions[{j}]"))?;
            }
            validate_limit(g.get_mut("limit"), &format!("{path}.limit"))?;
        }
        o.insert("conditionalGroups".into(), Value::Array(groups));
        o.insert("type".into(), json!("AdvancedThrottlePolicy"));
    }
    o.entry("isDeployed").or_insert(json!(true));
    let schema = match level {
        "application" => "ApplicationThrottlePolicy",
        "subscription" => "SubscriptionThrottlePolicy",
        "api" => "AdvancedThrottlePolicy",
        _ => "CustomRule",
    };
    let handled = [
        "policyName",
        "displayName",
        "description",
        "defaultLimit",
        "conditionalGroups",
        "keyTemplate",
        "siddhiQuery",
        "type",
        "isDeployed",
        "policyId",
        "rateLimitCount",
        "rateLimitTimeUnit",
        "stopOnQuotaReach",
    ];
    crate::spec::pass_through(true, schema, o, &handled).map_err(|(f, m)| ApiError::field(&f, m))?;
    if o.get("rateLimitTimeUnit").is_some_and(Value::is_null) {
        o.remove("rateLimitTimeUnit");
    }
    Ok(name)
}

pub(crate) fn policy_event(kind: EventKind, level: &str, doc: &Value) -> EventDraft {
    let quota = doc
        .pointer("/defaultLimit/type")
        .and_then(Value::as_str)
        .map(|t| if t == "BANDWIDTHLIMIT" { "bandwidthVolume" } else { "requestCount" });
    let policy_type = match level {
        "application" => "APPLICATION",
        "subscription" => "SUBSCRIPTION",
        "api" => "API",
        _ => "GLOBAL",
    };
    let mut fields =
        json!({"policyId": doc.get("policyId"), "policyName": doc.get("policyName"), "quotaType": quota, "policyType": policy_type});
    if level == "subscription" {
        for k in ["rateLimitCount", "rateLimitTimeUnit", "stopOnQuotaReach"] {
            fields[k] = doc.get(k).cloned().unwrap_or(Value::Null);
        }
    }
    event(kind, fields)
}

async fn find_policy(cp: &ControlPlane, level: &str, id: &str) -> Result<(String, Value)> {
    for (name, doc) in cp.db.policies(level).await? {
        let v: Value = serde_json::from_str(&doc).unwrap_or(Value::Null);
        if v.get("policyId").and_then(Value::as_str) == Some(id) {
            return Ok((name, v));
        }
    }
    Err(ApiError::not_found(format!("policy {id} not found")))
}

/// Subscription policies get WSO2's `subscriberCount`: how many subscriptions are in force on each, counted in
/// one query however many policies are answered. Other levels are left as they are.
pub(crate) async fn with_subscriber_counts(cp: &ControlPlane, level: &str, docs: &mut [Value]) -> Result<()> {
    if level != "subscription" {
        return Ok(());
    }
    let counts: HashMap<String, i64> = cp.db.subscription_counts_by_policy().await?.into_iter().collect();
    for d in docs {
        let used = d.get("policyName").and_then(Value::as_str).and_then(|n| counts.get(n)).copied().unwrap_or(0);
        if let Some(o) = d.as_object_mut() {
            o.insert("subscriberCount".into(), json!(used));
        }
    }
    Ok(())
}

async fn list_policies(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Path(level): Path<String>) -> Result<Response> {
    admin(&cp, &headers).await?;
    let level = level_of(&level)?;
    let mut list: Vec<Value> = cp.db.policies(level).await?.into_iter().filter_map(|(_, d)| serde_json::from_str(&d).ok()).collect();
    with_subscriber_counts(&cp, level, &mut list).await?;
    Ok(Json(json!({"count": list.len(), "list": list})).into_response())
}

async fn create_policy(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Path(level): Path<String>,
    body: Bytes,
) -> Result<Response> {
    admin(&cp, &headers).await?;
    let level = level_of(&level)?;
    let mut o = json_object(&body)?;
    let name = validate_policy(level, &mut o)?;
    o.insert("policyId".into(), json!(uuid::Uuid::new_v4().to_string()));
    let mut doc = Value::Object(o);
    cp.db.create_policy(level, &name, &doc.to_string(), &[policy_event(EventKind::PolicyCreate, level, &doc)]).await?;
    with_subscriber_counts(&cp, level, std::slice::from_mut(&mut doc)).await?;
    Ok((StatusCode::CREATED, Json(doc)).into_response())
}

async fn get_policy(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Path((level, id)): Path<(String, String)>,
) -> Result<Response> {
    admin(&cp, &headers).await?;
    let level = level_of(&level)?;
    let mut doc = find_policy(&cp, level, &id).await?.1;
    with_subscriber_counts(&cp, level, std::slice::from_mut(&mut doc)).await?;
    Ok(Json(doc).into_response())
}

async fn update_policy(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Path((level, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response> {
    admin(&cp, &headers).await?;
    let level = level_of(&level)?;
    let (name, _) = find_policy(&cp, level, &id).await?;
    let mut o = json_object(&body)?;
    o.entry("policyName").or_insert(json!(name));
    if validate_policy(level, &mut o)? != name {
        return Err(ApiError::field("policyName", format!("cannot change (is `{name}`)")));
    }
    o.insert("policyId".into(), json!(id));
    let mut doc = Value::Object(o);
    cp.db.update_policy(level, &name, &doc.to_string(), &[policy_event(EventKind::PolicyUpdate, level, &doc)]).await?;
    with_subscriber_counts(&cp, level, std::slice::from_mut(&mut doc)).await?;
    Ok(Json(doc).into_response())
}

/// A policy in use by an API or an application stays (409), and so do the `Unlimited` defaults.
async fn policy_in_use(cp: &ControlPlane, level: &str, name: &str) -> Result<Option<String>> {
    if name == "Unlimited" {
        return Ok(Some("the default `Unlimited` policy".into()));
    }
    match level {
        "application" => Ok(cp
            .db
            .list_applications(None)
            .await?
            .into_iter()
            .find(|a| a.throttling_policy == name)
            .map(|a| format!("application `{}`", a.name))),
        "subscription" | "api" => {
            let (apis, _) = cp.db.list_apis(&ApiFilter::default(), 1_000_000, 0).await?;
            for a in apis {
                let d: Value = serde_json::from_str(&a.document).unwrap_or(Value::Null);
                let uses = if level == "subscription" {
                    d.get("policies").and_then(Value::as_array).is_some_and(|p| p.iter().any(|x| x == name))
                } else {
                    d.get("apiThrottlingPolicy") == Some(&json!(name))
                        || d.get("operations")
                            .and_then(Value::as_array)
                            .is_some_and(|ops| ops.iter().any(|o| o.get("throttlingPolicy") == Some(&json!(name))))
                };
                if uses {
                    return Ok(Some(format!("API `{}` {}", a.name, a.version)));
                }
            }
            Ok(None)
        }
        _ => Ok(None),
    }
}

async fn delete_policy(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Path((level, id)): Path<(String, String)>,
) -> Result<Response> {
    admin(&cp, &headers).await?;
    let level = level_of(&level)?;
    let (name, doc) = find_policy(&cp, level, &id).await?;
    if let Some(user) = policy_in_use(&cp, level, &name).await? {
        return Err(ApiError::conflict(format!("policy `{name}` cannot be deleted: used by {user}")));
    }
    cp.db.delete_policy(level, &name, &[policy_event(EventKind::PolicyDelete, level, &doc)]).await?;
    Ok(StatusCode::OK.into_response())
}

// === deny policies (block conditions) ===

fn validate_deny(o: &Map<String, Value>) -> Result<(String, Value)> {
    let kind = BlockConditionType::from(o.get("conditionType").and_then(Value::as_str).unwrap_or(""));
    let value = o.get("conditionValue").cloned().unwrap_or(Value::Null);
    let text = |v: &Value| v.as_str().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
    let ip = |v: &Value, f: &str| v.get(f).and_then(Value::as_str).is_some_and(|s| s.parse::<IpAddr>().is_ok());
    let ok = match &kind {
        BlockConditionType::Api => text(&value).is_some_and(|c| c.starts_with('/')),
        BlockConditionType::Application => text(&value).is_some_and(|c| c.contains(':')),
        BlockConditionType::User | BlockConditionType::Subscription => text(&value).is_some(),
        BlockConditionType::Ip => ip(&value, "fixedIp"),
        BlockConditionType::IpRange => ip(&value, "startingIp") && ip(&value, "endingIp"),
        BlockConditionType::Unknown(other) => {
            return Err(ApiError::field("conditionType", format!("`{other}` is not API, APPLICATION, IP, IPRANGE, USER or SUBSCRIPTION")));
        }
    };
    if !ok {
        let want = match kind {
            BlockConditionType::Api => "an API context such as /pizzashack/1.0.0",
            BlockConditionType::Application => "owner:application",
            BlockConditionType::Ip => "{\"fixedIp\": \"<address>\", \"invert\": false}",
            BlockConditionType::IpRange => "{\"startingIp\": \"<address>\", \"endingIp\": \"<address>\", \"invert\": false}",
            _ => "a non-empty value",
        };
        return Err(ApiError::field("conditionValue", format!("must be {want}")));
    }
    Ok((kind.as_str().to_string(), value))
}

fn deny_event(kind: EventKind, doc: &Value) -> EventDraft {
    event(
        kind,
        json!({"conditionId": doc.get("conditionId"), "conditionType": doc.get("conditionType"), "conditionValue": doc.get("conditionValue"), "state": doc.get("conditionStatus")}),
    )
}

async fn find_object(cp: &ControlPlane, kind: &str, id: &str) -> Result<(String, Value)> {
    cp.db
        .list_objects(kind)
        .await?
        .into_iter()
        .find(|(i, _, _)| i == id)
        .map(|(_, name, doc)| (name, serde_json::from_str(&doc).unwrap_or(Value::Null)))
        .ok_or_else(|| ApiError::not_found(format!("{} {id} not found", kind.replace('_', " "))))
}

async fn list_deny(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap) -> Result<Response> {
    admin(&cp, &headers).await?;
    let list: Vec<Value> =
        cp.db.list_objects("block_condition").await?.into_iter().filter_map(|(_, _, d)| serde_json::from_str(&d).ok()).collect();
    Ok(Json(json!({"count": list.len(), "list": list})).into_response())
}

async fn create_deny(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, body: Bytes) -> Result<Response> {
    admin(&cp, &headers).await?;
    let o = json_object(&body)?;
    let (kind, value) = validate_deny(&o)?;
    let status = o.get("conditionStatus").and_then(Value::as_bool).unwrap_or(true);
    let id = uuid::Uuid::new_v4().to_string();
    let doc = json!({"conditionId": id, "conditionType": kind, "conditionValue": value, "conditionStatus": status});
    // The name makes a condition unique: one rule per type and value.
    let name = format!("{kind}:{value}");
    cp.db.create_object("block_condition", &id, &name, &doc.to_string(), &[deny_event(EventKind::BlockConditionAdd, &doc)]).await?;
    Ok((StatusCode::CREATED, Json(doc)).into_response())
}

async fn get_deny(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response> {
    admin(&cp, &headers).await?;
    Ok(Json(find_object(&cp, "block_condition", &id).await?.1).into_response())
}

async fn patch_deny(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Path(id): Path<String>, body: Bytes) -> Result<Response> {
    admin(&cp, &headers).await?;
    let (name, mut doc) = find_object(&cp, "block_condition", &id).await?;
    let status = json_object(&body)?
        .get("conditionStatus")
        .and_then(Value::as_bool)
        .ok_or_else(|| ApiError::field("conditionStatus", "must be true or false"))?;
    doc["conditionStatus"] = json!(status);
    cp.db.update_object("block_condition", &id, &name, &doc.to_string(), &[deny_event(EventKind::BlockConditionUpdate, &doc)]).await?;
    Ok(Json(doc).into_response())
}

async fn delete_deny(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response> {
    admin(&cp, &headers).await?;
    let (_, doc) = find_object(&cp, "block_condition", &id).await?;
    cp.db.delete_object("block_condition", &id, &[deny_event(EventKind::BlockConditionDelete, &doc)]).await?;
    Ok(StatusCode::OK.into_response())
}

// === environments ===

fn env_json(e: &crate::Environment, read_only: bool) -> Value {
    let p = &e.ports;
    json!({"id": e.id, "name": e.name, "displayName": e.name, "type": e.kind, "description": "", "isReadOnly": read_only,
           "vhosts": [{"host": e.vhost, "httpContext": p.http_context, "httpsPort": p.https, "httpPort": p.http, "wssPort": p.wss, "wsPort": p.ws}]})
}

async fn list_environments(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap) -> Result<Response> {
    admin(&cp, &headers).await?;
    let mut list: Vec<Value> = cp.cfg.environments.iter().map(|e| env_json(e, true)).collect();
    list.extend(cp.db_environments().await?.iter().map(|e| env_json(e, false)));
    Ok(Json(json!({"count": list.len(), "list": list})).into_response())
}

fn env_fields(o: &Map<String, Value>) -> Result<(String, String, String, crate::GatewayPorts)> {
    crate::model::max_lengths(o, &[("name", 255), ("displayName", 255), ("description", 1023)])?;
    let name = o.get("name").and_then(Value::as_str).map(str::trim).unwrap_or("");
    if name.is_empty() || name.len() > 255 || !name.chars().all(|c| c.is_ascii_alphanumeric() || "_-. ".contains(c)) {
        return Err(ApiError::field("name", "is required: letters, digits, space, _ - ."));
    }
    let kind = o.get("type").and_then(Value::as_str).unwrap_or("hybrid").to_ascii_lowercase();
    if !["hybrid", "production", "sandbox"].contains(&kind.as_str()) {
        return Err(ApiError::field("type", format!("`{kind}` is not hybrid, production or sandbox")));
    }
    let host =
        o.get("vhosts").and_then(Value::as_array).and_then(|v| v.first()).and_then(|v| v.get("host")).and_then(Value::as_str).unwrap_or("");
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if host.is_empty() || host.len() > 255 || !host.split('.').all(label_ok) {
        return Err(ApiError::field("vhosts[0].host", "is required: a host name (letters, digits, dashes, dots)"));
    }
    let vhost: crate::StoredVhost = o
        .get("vhosts")
        .and_then(|v| v.get(0))
        .map(|v| serde_json::from_value(v.clone()))
        .transpose()
        .map_err(|e| ApiError::field("vhosts[0]", format!("ports must be integers from 0 to 65535: {e}")))?
        .unwrap_or_default();
    let ports = vhost.ports();
    if !http_context_ok(&ports.http_context) {
        return Err(ApiError::field(
            "vhosts[0].httpContext",
            "must be an optional `/` and letters, digits and inner dashes (WSO2's pattern)",
        ));
    }
    Ok((name.to_string(), kind, host.to_string(), ports))
}

/// WSO2's `VHost.httpContext` pattern, `^\/?([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9])*$`, at most 255
/// characters: it is put into gateway URLs.
fn http_context_ok(c: &str) -> bool {
    let rest = c.strip_prefix('/').unwrap_or(c);
    c.len() <= 255 && rest.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-') && !rest.starts_with('-') && !rest.ends_with('-')
}

async fn create_environment(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, body: Bytes) -> Result<Response> {
    admin(&cp, &headers).await?;
    let (name, kind, host, ports) = env_fields(&json_object(&body)?)?;
    if cp.cfg.environments.iter().any(|e| e.name == name) {
        return Err(ApiError::conflict(format!("environment `{name}` already exists (from deployment.toml)")));
    }
    let env =
        crate::Environment { id: uuid::Uuid::new_v4().to_string(), name: name.clone(), kind, vhost: host, ports, ..Default::default() };
    let doc = env_json(&env, false);
    cp.db
        .create_object(
            "environment",
            &env.id,
            &name,
            &doc.to_string(),
            &[event(EventKind::EnvironmentCreate, json!({"name": name, "id": env.id}))],
        )
        .await?;
    Ok((StatusCode::CREATED, Json(doc)).into_response())
}

async fn update_environment(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    admin(&cp, &headers).await?;
    if cp.cfg.environments.iter().any(|e| e.id == id) {
        return Err(ApiError::forbidden("environments from deployment.toml are read-only"));
    }
    let (old_name, _) = find_object(&cp, "environment", &id).await?;
    let (name, kind, host, ports) = env_fields(&json_object(&body)?)?;
    if name != old_name {
        return Err(ApiError::field("name", format!("cannot change (is `{old_name}`)")));
    }
    let doc = env_json(&crate::Environment { id: id.clone(), name: name.clone(), kind, vhost: host, ports, ..Default::default() }, false);
    cp.db
        .update_object("environment", &id, &name, &doc.to_string(), &[event(EventKind::EnvironmentUpdate, json!({"name": name, "id": id}))])
        .await?;
    Ok(Json(doc).into_response())
}

async fn delete_environment(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response> {
    admin(&cp, &headers).await?;
    if cp.cfg.environments.iter().any(|e| e.id == id) {
        return Err(ApiError::forbidden("environments from deployment.toml are read-only"));
    }
    let (name, _) = find_object(&cp, "environment", &id).await?;
    let (apis, _) = cp.db.list_apis(&ApiFilter::default(), 1_000_000, 0).await?;
    for a in apis {
        if cp.db.deployments(&a.id).await?.iter().any(|d| d.environment == name) {
            return Err(ApiError::conflict(format!("environment `{name}` still serves API `{}` {}; undeploy it first", a.name, a.version)));
        }
    }
    cp.db.delete_object("environment", &id, &[event(EventKind::EnvironmentDelete, json!({"name": name, "id": id}))]).await?;
    Ok(StatusCode::OK.into_response())
}

// === key managers ===

fn resident_km(cp: &ControlPlane) -> Value {
    json!({"id": "resident", "name": "Resident Key Manager", "type": "default", "displayName": "Resident Key Manager", "enabled": cp.keys.is_some(),
           "description": "This is the resident key manager", "isReadOnly": true})
}

fn km_fields(o: &Map<String, Value>) -> Result<(String, Value)> {
    crate::model::max_lengths(o, &[("name", 100), ("displayName", 100), ("type", 45), ("description", 256)])?;
    let name = o.get("name").and_then(Value::as_str).map(str::trim).unwrap_or("");
    if name.is_empty() || name.len() > 100 || name == "Resident Key Manager" {
        return Err(ApiError::field("name", "is required: at most 100 characters, not `Resident Key Manager`"));
    }
    let kind = o.get("type").and_then(Value::as_str).unwrap_or("");
    if kind.is_empty() {
        return Err(ApiError::field("type", "is required (for example WSO2-IS, Keycloak, Okta)"));
    }
    for f in ["issuer"] {
        if o.get(f).and_then(Value::as_str).is_none_or(|s| s.is_empty()) {
            return Err(ApiError::field(f, "is required"));
        }
    }
    for f in ["jwksEndpoint", "introspectionEndpoint", "tokenEndpoint", "revokeEndpoint", "clientRegistrationEndpoint"] {
        if let Some(u) = o.get(f).and_then(Value::as_str).filter(|u| !u.is_empty())
            && !crate::model::valid_url(u)
        {
            return Err(ApiError::field(f, format!("`{u}` is not an http or https URL")));
        }
    }
    if let Some(c) = o.get("certificates").filter(|c| !c.is_null()) {
        let value = c.get("value").and_then(Value::as_str).unwrap_or("");
        match c.get("type").and_then(Value::as_str).unwrap_or("") {
            "JWKS" if crate::model::valid_url(value) => {}
            "JWKS" => return Err(ApiError::field("certificates.value", format!("`{value}` is not an http or https URL"))),
            // Checked here as gateways will read it: an RSA key in a PEM certificate (or its base64).
            "PEM" => {
                apim_jose::jwt::VerifyKey::from_pem(value)
                    .map_err(|e| ApiError::field("certificates.value", format!("not a usable certificate: {e}")))?;
            }
            other => return Err(ApiError::field("certificates.type", format!("`{other}` is not JWKS or PEM"))),
        }
    }
    let mut doc = o.clone();
    crate::spec::pass_through(true, "KeyManager", &mut doc, &["id"]).map_err(|(f, m)| ApiError::field(&f, m))?;
    doc.entry("enabled").or_insert(json!(true));
    doc.entry("displayName").or_insert(json!(name));
    Ok((name.to_string(), Value::Object(doc)))
}

fn km_event(action: &str, doc: &Value) -> EventDraft {
    event(
        EventKind::KeyManagerConfiguration,
        json!({"name": doc.get("name"), "enabled": doc.get("enabled"), "action": action, "keyManagerType": doc.get("type"), "tokenType": doc.get("tokenType").cloned().unwrap_or(json!("DIRECT"))}),
    )
}

async fn list_key_managers(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap) -> Result<Response> {
    admin(&cp, &headers).await?;
    let mut list = vec![resident_km(&cp)];
    list.extend(cp.db.list_objects("key_manager").await?.into_iter().filter_map(|(_, _, d)| serde_json::from_str::<Value>(&d).ok()));
    Ok(Json(json!({"count": list.len(), "list": list})).into_response())
}

async fn create_key_manager(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, body: Bytes) -> Result<Response> {
    admin(&cp, &headers).await?;
    let (name, mut doc) = km_fields(&json_object(&body)?)?;
    let id = uuid::Uuid::new_v4().to_string();
    doc["id"] = json!(id);
    cp.db.create_object("key_manager", &id, &name, &doc.to_string(), &[km_event("add", &doc)]).await?;
    Ok((StatusCode::CREATED, Json(doc)).into_response())
}

async fn get_key_manager(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response> {
    admin(&cp, &headers).await?;
    if id == "resident" {
        return Ok(Json(resident_km(&cp)).into_response());
    }
    Ok(Json(find_object(&cp, "key_manager", &id).await?.1).into_response())
}

async fn update_key_manager(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    admin(&cp, &headers).await?;
    if id == "resident" {
        return Err(ApiError::forbidden("the resident key manager is configured in deployment.toml"));
    }
    find_object(&cp, "key_manager", &id).await?;
    let (name, mut doc) = km_fields(&json_object(&body)?)?;
    doc["id"] = json!(id);
    cp.db.update_object("key_manager", &id, &name, &doc.to_string(), &[km_event("update", &doc)]).await?;
    Ok(Json(doc).into_response())
}

async fn delete_key_manager(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response> {
    admin(&cp, &headers).await?;
    if id == "resident" {
        return Err(ApiError::forbidden("the resident key manager cannot be deleted"));
    }
    let (_, doc) = find_object(&cp, "key_manager", &id).await?;
    cp.db.delete_object("key_manager", &id, &[km_event("delete", &doc)]).await?;
    Ok(StatusCode::OK.into_response())
}

// === applications ===

async fn list_applications(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Query(p): Query<HashMap<String, String>>,
) -> Result<Response> {
    cp.principal(&headers).await?.require(&["apim:admin", "apim:app_owner_change"])?;
    let page = crate::search::Page::of(&p)?;
    let user = p.get("user").map(|u| u.trim()).filter(|u| !u.is_empty());
    let name = p.get("name").map(|n| n.trim()).filter(|n| !n.is_empty());
    let sort_by = match p.get("sortBy").map(String::as_str) {
        None | Some("name") => apim_store::AppSortBy::Name,
        Some("owner") => apim_store::AppSortBy::Owner,
        Some(other) => return Err(ApiError::field("sortBy", format!("`{other}` is not name or owner"))),
    };
    let descending = match p.get("sortOrder").map(String::as_str) {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(other) => return Err(ApiError::field("sortOrder", format!("`{other}` is not asc or desc"))),
    };
    let search = apim_store::AppSearch { owner: user, name, sort_by, descending };
    let (apps, total) = apim_store::SearchStore::search_applications(&cp.db, &search, page.limit, page.offset).await?;
    let list: Vec<Value> = apps
        .into_iter()
        .map(|(a, _)| json!({"applicationId": a.id, "name": a.name, "owner": a.owner, "status": "APPROVED", "groupId": ""}))
        .collect();
    let pagination = page.pagination("/applications", &[("user", user), ("name", name)], total);
    Ok(Json(crate::search::Listing::new(list, pagination)).into_response())
}

async fn change_owner(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(p): Query<HashMap<String, String>>,
) -> Result<Response> {
    cp.principal(&headers).await?.require(&["apim:admin", "apim:app_owner_change"])?;
    let owner = p.get("owner").filter(|o| !o.is_empty()).ok_or_else(|| ApiError::field("owner", "is required"))?;
    if apim_store::UserStore::find_user(cp.users.db(), owner).await?.is_none() {
        return Err(ApiError::field("owner", format!("user `{owner}` does not exist")));
    }
    let app = cp.db.get_application(&id).await?.ok_or_else(|| ApiError::not_found(format!("application {id} not found")))?;
    let changed = apim_domain::api::ApplicationRecord { owner: owner.clone(), ..app };
    let ev = event(
        EventKind::ApplicationUpdate,
        json!({"uuid": changed.id, "applicationId": changed.id, "applicationName": changed.name, "subscriber": changed.owner, "applicationPolicy": changed.throttling_policy, "tokenType": changed.token_type}),
    );
    cp.db.change_application_owner(&changed, &[ev]).await?;
    Ok(StatusCode::OK.into_response())
}
