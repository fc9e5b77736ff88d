//! Quota used (`GET /applications/{applicationId}/analytics/quota`, DevPortal, the owner only): for the
//! application's own policy and each of its subscriptions, the limit and how much of it the current window has
//! used, counted from the gateways' analytics rows. Windows are the gateways' own: fixed, from the Unix epoch, as
//! long as the policy's unit (`10PerMin`: the current minute; a daily policy: the UTC day). Requests the gateway
//! refused itself (a 4xx of its own: authentication, throttling, block conditions, schema validation) are counted
//! apart, not as used; a gateway's own counter counts a request refused by schema validation, so the two may differ
//! by those. The rows arrive every few
//! seconds, so the figure trails the gateways' counters by that much; with several traffic managers and gateways
//! it is the cluster's whole, as the limit is.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;

use apim_domain::api::rfc3339;
use apim_store::{AnalyticsFilter, AnalyticsRecord, ApiStore, ApplicationStore};
use apim_wire::policy::{Quota, ThrottlePolicy};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;

use crate::ControlPlane;
use crate::error::{ApiError, Result};

pub fn devportal_routes() -> axum::Router<Arc<ControlPlane>> {
    axum::Router::new().route("/applications/{application_id}/analytics/quota", get(of_application))
}

/// The finest window analytics rows can count: a minute. A policy with a shorter one is counted over the
/// current minute (said by `windowStart`/`windowEnd`).
const MINUTE_MS: u64 = 60_000;

#[derive(Serialize, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
struct Limit {
    /// Requests (or events) a window allows; absent for a bandwidth limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    requests: Option<u64>,
    /// Bytes a window allows; absent for a request limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    bytes: Option<u64>,
    window_seconds: u64,
}

/// One policy's limit and what its current window has used.
#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
struct Usage {
    policy: String,
    /// `null`: the policy sets no limit (Unlimited), or it is no longer defined.
    limit: Option<Limit>,
    /// The window counted: the limit's current one, or the current minute with no limit.
    window_start: String,
    window_end: String,
    /// Requests let through in the window; `null` for a bandwidth limit (analytics count requests, not bytes).
    used: Option<u64>,
    /// Refused in the window by the gateway itself with a 4xx: throttling (429), block conditions, authentication,
    /// schema validation.
    refused: u64,
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
struct SubscriptionUsage {
    subscription_id: String,
    api_id: String,
    api_name: String,
    api_version: String,
    status: String,
    #[serde(flatten)]
    usage: Usage,
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
struct QuotaReport {
    application_id: String,
    at: String,
    application: Usage,
    subscriptions: Vec<SubscriptionUsage>,
}

/// WSO2's `Unlimited` policies allow this many requests a minute (`Integer.MAX_VALUE`): no limit to show.
const UNLIMITED: u64 = i32::MAX as u64;

/// A policy's document read as gateways read it: its limit and window (ms), or none.
fn limit_of(document: Option<&str>) -> Option<(Quota, u64)> {
    let doc: serde_json::Value = serde_json::from_str(document?).ok()?;
    let limit = ThrottlePolicy::from_value(&doc).ok()?.default_limit?.quota().ok()?;
    (limit.0 != Quota::Requests(UNLIMITED)).then_some(limit)
}

/// `[start, end)` in Unix seconds of the window of `window_ms` holding `now_ms` (at least the current minute).
fn window(now_ms: u64, window_ms: u64) -> (i64, i64) {
    let w = window_ms.max(MINUTE_MS);
    let start = now_ms - now_ms % w;
    let secs = |ms: u64| i64::try_from(ms / 1000).unwrap_or(i64::MAX);
    (secs(start), secs(start.saturating_add(w)))
}

/// Used and refused, of `rows`. Refused: what the gateway itself answered with a 4xx (authentication, subscription,
/// throttling, block conditions, schema validation), which never reached the backend; throttling and block
/// conditions are among those. Used: the rest.
fn tally<'a>(rows: impl Iterator<Item = &'a AnalyticsRecord>) -> (u64, u64) {
    rows.fold((0, 0), |(used, refused), r| {
        let requests = u64::try_from(r.requests).unwrap_or(0);
        let refusals = if r.status_class == 4 { u64::try_from(r.gateway_errors).unwrap_or(0).min(requests) } else { 0 };
        (used + requests - refusals, refused + refusals)
    })
}

fn usage(policy: &str, limit: Option<(Quota, u64)>, (start, end): (i64, i64), rows: &[AnalyticsRecord], api: Option<&str>) -> Usage {
    let (used, refused) = tally(rows.iter().filter(|r| api.is_none_or(|a| r.api_id == a)));
    let bandwidth = matches!(limit, Some((Quota::Bytes(_), _)));
    Usage {
        policy: policy.to_string(),
        limit: limit.map(|(quota, window_ms)| Limit {
            requests: match quota {
                Quota::Requests(n) => Some(n),
                Quota::Bytes(_) => None,
            },
            bytes: match quota {
                Quota::Bytes(n) => Some(n),
                Quota::Requests(_) => None,
            },
            window_seconds: window_ms / 1000,
        }),
        window_start: rfc3339(start),
        window_end: rfc3339(end),
        used: (!bandwidth).then_some(used),
        refused,
    }
}

impl ControlPlane {
    async fn quota_report(&self, application_id: &str, now_ms: u64) -> Result<QuotaReport> {
        let app = self
            .db
            .get_application(application_id)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("application {application_id} not found")))?;
        let documents: HashMap<String, String> =
            self.db.policies("application").await?.into_iter().chain(self.db.policies("subscription").await?).collect();
        let app_limit = limit_of(documents.get(&app.throttling_policy).map(String::as_str));
        let subscriptions = self.db.list_subscriptions(Some(application_id), None).await?;
        let app_window = window(now_ms, app_limit.map_or(MINUTE_MS, |l| l.1));
        let lines: Vec<_> = subscriptions
            .iter()
            .map(|s| {
                let limit = limit_of(documents.get(&s.policy).map(String::as_str));
                (s, limit, window(now_ms, limit.map_or(MINUTE_MS, |l| l.1)))
            })
            .collect();
        // Each window's rows are read once: most policies of one application share a unit.
        let filter = AnalyticsFilter::Application(application_id.to_string());
        let mut rows_of: HashMap<(i64, i64), Vec<AnalyticsRecord>> = HashMap::new();
        for w in std::iter::once(app_window).chain(lines.iter().map(|l| l.2)) {
            if let Entry::Vacant(e) = rows_of.entry(w) {
                e.insert(self.rows_over(&filter, w.0, w.1).await?);
            }
        }
        let mut out = Vec::with_capacity(lines.len());
        for (s, limit, w) in lines {
            let api = self.db.get_api(&s.api_id).await?;
            let rows = rows_of.get(&w).map_or(&[][..], Vec::as_slice);
            out.push(SubscriptionUsage {
                subscription_id: s.id.clone(),
                api_id: s.api_id.clone(),
                api_name: api.as_ref().map(|a| a.name.clone()).unwrap_or_default(),
                api_version: api.as_ref().map(|a| a.version.clone()).unwrap_or_default(),
                status: s.status.to_string(),
                usage: usage(&s.policy, limit, w, rows, Some(&s.api_id)),
            });
        }
        let rows = rows_of.get(&app_window).map_or(&[][..], Vec::as_slice);
        Ok(QuotaReport {
            application_id: application_id.to_string(),
            at: rfc3339(i64::try_from(now_ms / 1000).unwrap_or(i64::MAX)),
            application: usage(&app.throttling_policy, app_limit, app_window, rows, None),
            subscriptions: out,
        })
    }
}

async fn of_application(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response> {
    cp.owned_application(&headers, &id).await?;
    let now_ms = u64::try_from(cp.clock.unix_ms()).unwrap_or(0);
    Ok(Json(cp.quota_report(&id, now_ms).await?).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(api: &str, status_class: i16, requests: i64, gateway_errors: i64) -> AnalyticsRecord {
        AnalyticsRecord {
            row_key: String::new(),
            minute: 0,
            node: "gw".into(),
            api_id: api.into(),
            api_name: String::new(),
            api_version: String::new(),
            resource: String::new(),
            method: String::new(),
            app_id: "app".into(),
            app_name: String::new(),
            app_owner: String::new(),
            key_type: "PRODUCTION".into(),
            status_class,
            requests,
            throttled: 0,
            blocked: 0,
            gateway_errors,
            latency: String::new(),
            backend_latency: String::new(),
        }
    }

    #[test]
    fn windows_are_the_gateways_and_refusals_are_apart() {
        // 10:17:42.5 UTC on day 20,000.
        let now = (20_000 * 86_400 + 10 * 3600 + 17 * 60 + 42) * 1000 + 500;
        assert_eq!(window(now, 60_000), ((now / 1000 - 42) as i64, (now / 1000 + 18) as i64));
        assert_eq!(window(now, 10_000), window(now, 60_000), "shorter than a minute: the current minute");
        assert_eq!(window(now, 86_400_000), ((20_000 * 86_400) as i64, (20_001 * 86_400) as i64));

        let doc =
            r#"{"defaultLimit": {"type": "REQUESTCOUNTLIMIT", "requestCount": {"timeUnit": "min", "unitTime": 1, "requestCount": 10}}}"#;
        let limit = limit_of(Some(doc));
        assert_eq!(limit, Some((Quota::Requests(10), 60_000)));
        assert_eq!(limit_of(Some(r#"{"defaultLimit": null}"#)), None, "no limit");
        let unlimited = r#"{"defaultLimit": {"type": "REQUESTCOUNTLIMIT", "requestCount": {"timeUnit": "min", "unitTime": 1, "requestCount": 2147483647}}}"#;
        assert_eq!(limit_of(Some(unlimited)), None, "WSO2's Unlimited");
        assert_eq!(limit_of(Some("not json")), None);
        assert_eq!(limit_of(None), None, "a policy no longer defined");

        // 4 answered by the backend with 2xx, 2 with 4xx; 3 refused by the gateway (4xx); 2 backend failures (5xx).
        let rows = [row("a", 2, 4, 0), row("a", 4, 5, 3), row("a", 5, 2, 2), row("b", 2, 5, 0)];
        let u = usage("10PerMin", limit, window(now, 60_000), &rows, None);
        assert_eq!((u.used, u.refused), (Some(13), 3));
        assert_eq!(u.limit, Some(Limit { requests: Some(10), bytes: None, window_seconds: 60 }));
        let u = usage("Gold", None, window(now, 60_000), &rows, Some("b"));
        assert_eq!((u.used, u.refused, u.limit), (Some(5), 0, None));
        let bandwidth = r#"{"defaultLimit": {"type": "BANDWIDTHLIMIT", "bandwidth": {"timeUnit": "hour", "unitTime": 1, "dataAmount": 2, "dataUnit": "MB"}}}"#;
        let u = usage("Bytes", limit_of(Some(bandwidth)), window(now, 3_600_000), &rows, None);
        assert_eq!(u.used, None, "analytics count requests, not bytes");
        assert_eq!(u.limit.map(|l| (l.bytes, l.window_seconds)), Some((Some(2 << 20), 3600)));
    }
}
