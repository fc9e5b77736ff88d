//! Throttling policies and block conditions as gateways act on them: the parts of the Admin API's DTOs
//! (`ApplicationThrottlePolicy`, `SubscriptionThrottlePolicy`, `AdvancedThrottlePolicy`, `CustomRule`,
//! `BlockingCondition`) that decide requests, as Rust types. The runtime state carries the documents as the
//! Admin API stored them; these read them. Absent and `null` fields take their defaults; a field of the wrong
//! type is an error naming it.

use std::net::IpAddr;

use serde::de::Deserializer;
use serde::{Deserialize, Serialize};
use serde_json::Value;

fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

fn yes() -> bool {
    true
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThrottlePolicy {
    /// Every level's limit (`None`: an unlimited policy, or a custom rule).
    #[serde(default, deserialize_with = "nullable")]
    pub default_limit: Option<ThrottleLimit>,
    /// Advanced policies: the first group whose conditions all hold decides.
    #[serde(default, deserialize_with = "nullable")]
    pub conditional_groups: Vec<ConditionalGroup>,
    /// Subscription policies: burst control, `rateLimitCount` per `rateLimitTimeUnit`.
    #[serde(default, deserialize_with = "nullable")]
    pub rate_limit_count: u64,
    #[serde(default, deserialize_with = "nullable")]
    pub rate_limit_time_unit: String,
    /// Subscription policies: `false` lets requests through over quota.
    #[serde(default = "yes", deserialize_with = "stop_on_quota")]
    pub stop_on_quota_reach: bool,
    /// Custom rules: the key template and the rule text.
    #[serde(default, deserialize_with = "nullable")]
    pub key_template: String,
    #[serde(default, deserialize_with = "nullable")]
    pub siddhi_query: String,
}

fn stop_on_quota<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(d)?.unwrap_or(true))
}

impl ThrottlePolicy {
    pub fn from_value(v: &Value) -> Result<ThrottlePolicy, serde_json::Error> {
        ThrottlePolicy::deserialize(v)
    }
}

/// A limit: its kind says which of the three quantities it counts.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThrottleLimit {
    #[serde(rename = "type")]
    pub kind: LimitType,
    #[serde(default, deserialize_with = "nullable")]
    pub request_count: Option<Quantity>,
    #[serde(default, deserialize_with = "nullable")]
    pub bandwidth: Option<Quantity>,
    #[serde(default, deserialize_with = "nullable")]
    pub event_count: Option<Quantity>,
}

/// What a limit allows in one window: requests (or events), or bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quota {
    Requests(u64),
    Bytes(u64),
}

impl ThrottleLimit {
    /// What the limit allows and its window in milliseconds, as gateways count it (fixed windows from the Unix
    /// epoch); the error names what is missing or not understood.
    pub fn quota(&self) -> Result<(Quota, u64), String> {
        let missing = |what: &str| format!("{what} missing");
        let (q, quota) = match self.kind {
            LimitType::RequestCount => {
                let c = self.request_count.as_ref().ok_or_else(|| missing("requestCount"))?;
                (c, Quota::Requests(c.request_count.ok_or_else(|| missing("requestCount.requestCount"))?))
            }
            LimitType::Bandwidth => {
                let b = self.bandwidth.as_ref().ok_or_else(|| missing("bandwidth"))?;
                let unit = match b.data_unit.as_str() {
                    "KB" => 1u64 << 10,
                    "MB" => 1 << 20,
                    "GB" => 1 << 30,
                    _ => return Err("bandwidth.dataUnit is not KB, MB or GB".into()),
                };
                (b, Quota::Bytes(b.data_amount.ok_or_else(|| missing("bandwidth.dataAmount"))?.saturating_mul(unit)))
            }
            LimitType::EventCount => {
                let c = self.event_count.as_ref().ok_or_else(|| missing("eventCount"))?;
                (c, Quota::Requests(c.event_count.ok_or_else(|| missing("eventCount.eventCount"))?))
            }
        };
        let window_ms = window_ms(&q.time_unit, q.unit_time).ok_or(format!("time unit `{}` not understood", q.time_unit))?;
        Ok((quota, window_ms))
    }
}

/// `n` of a policy's time unit (`sec`, `min`, `hour`, `day`, `week`, `month` of 30 days, `year` of 365) in
/// milliseconds.
pub fn window_ms(unit: &str, n: u64) -> Option<u64> {
    let one = match unit {
        "sec" => 1_000,
        "min" => 60_000,
        "hour" => 3_600_000,
        "day" => 86_400_000,
        "week" => 7 * 86_400_000,
        "month" => 30 * 86_400_000,
        "year" => 365 * 86_400_000,
        _ => return None,
    };
    n.checked_mul(one)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LimitType {
    #[serde(rename = "REQUESTCOUNTLIMIT")]
    RequestCount,
    #[serde(rename = "BANDWIDTHLIMIT")]
    Bandwidth,
    #[serde(rename = "EVENTCOUNTLIMIT")]
    EventCount,
}

/// How much per window: `requestCount`, `dataAmount` in `dataUnit`, or `eventCount`, per `unitTime` `timeUnit`s.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Quantity {
    /// `sec`, `min`, `hour`, `day`, `week`, `month`, `year`.
    #[serde(default, deserialize_with = "nullable")]
    pub time_unit: String,
    #[serde(default = "one", deserialize_with = "unit_time")]
    pub unit_time: u64,
    #[serde(default, deserialize_with = "nullable")]
    pub request_count: Option<u64>,
    #[serde(default, deserialize_with = "nullable")]
    pub event_count: Option<u64>,
    #[serde(default, deserialize_with = "nullable")]
    pub data_amount: Option<u64>,
    /// `KB`, `MB`, `GB`.
    #[serde(default, deserialize_with = "nullable")]
    pub data_unit: String,
}

fn one() -> u64 {
    1
}

fn unit_time<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    Ok(Option::<u64>::deserialize(d)?.unwrap_or(1).max(1))
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConditionalGroup {
    #[serde(default, deserialize_with = "nullable")]
    pub conditions: Vec<ThrottleCondition>,
    #[serde(default, deserialize_with = "nullable")]
    pub limit: Option<ThrottleLimit>,
}

/// One condition of a group; `kind` says which of the parts holds it. A kind this version does not know is
/// kept as text (the group it is in never matches).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThrottleCondition {
    #[serde(rename = "type", default, deserialize_with = "nullable")]
    pub kind: String,
    #[serde(default, deserialize_with = "nullable")]
    pub invert_condition: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub ip_condition: Option<IpCondition>,
    #[serde(default, deserialize_with = "nullable")]
    pub header_condition: Option<HeaderCondition>,
    #[serde(default, deserialize_with = "nullable")]
    pub query_parameter_condition: Option<QueryParameterCondition>,
    #[serde(default, deserialize_with = "nullable")]
    pub jwt_claims_condition: Option<JwtClaimsCondition>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IpCondition {
    /// `IPSPECIFIC` or `IPRANGE`.
    #[serde(default, deserialize_with = "nullable")]
    pub ip_condition_type: String,
    #[serde(rename = "specificIP", default, deserialize_with = "nullable")]
    pub specific_ip: String,
    #[serde(rename = "startingIP", default, deserialize_with = "nullable")]
    pub starting_ip: String,
    #[serde(rename = "endingIP", default, deserialize_with = "nullable")]
    pub ending_ip: String,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeaderCondition {
    pub header_name: String,
    pub header_value: String,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryParameterCondition {
    pub parameter_name: String,
    pub parameter_value: String,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JwtClaimsCondition {
    pub claim_url: String,
    pub attribute: String,
}

/// What a block condition blocks, read from its `conditionValue`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlockTarget {
    /// An API context, an application (`owner:name`), a user, or a subscription key.
    Text(String),
    /// Addresses from `from` to `to` (one address: both equal); `invert` blocks every other address.
    Addresses { from: IpAddr, to: IpAddr, invert: bool },
}

impl BlockTarget {
    /// `IP` values are `{fixedIp, invert}`, `IPRANGE` values `{startingIp, endingIp, invert}`, the others text.
    /// `None`: the value is not one of these shapes, or an address does not parse.
    pub fn read(value: &Value) -> Option<BlockTarget> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Ip {
            fixed_ip: Option<String>,
            starting_ip: Option<String>,
            ending_ip: Option<String>,
            #[serde(default)]
            invert: bool,
        }
        if let Value::String(s) = value {
            return Some(BlockTarget::Text(s.clone()));
        }
        let ip = Ip::deserialize(value).ok()?;
        let parse = |s: &Option<String>| s.as_deref().and_then(|s| s.trim().parse::<IpAddr>().ok());
        let (from, to) = match (parse(&ip.fixed_ip), parse(&ip.starting_ip), parse(&ip.ending_ip)) {
            (Some(a), _, _) => (a, a),
            (None, Some(a), Some(z)) => (a, z),
            _ => return None,
        };
        Some(BlockTarget::Addresses { from, to, invert: ip.invert })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn admin_documents_read_as_policies() {
        let p = ThrottlePolicy::from_value(&json!({
            "policyName": "Gold", "defaultLimit": {"type": "REQUESTCOUNTLIMIT", "requestCount": {"timeUnit": "min", "unitTime": 1, "requestCount": 5000}},
            "rateLimitCount": 10, "rateLimitTimeUnit": "sec", "stopOnQuotaReach": null,
            "conditionalGroups": [{"conditions": [{"type": "IPCONDITION", "invertCondition": true,
                                                   "ipCondition": {"ipConditionType": "IPSPECIFIC", "specificIP": "10.0.0.1"}},
                                                  {"type": "HEADERCONDITION", "headerCondition": {"headerName": "x", "headerValue": "y"}}],
                                   "limit": {"type": "BANDWIDTHLIMIT", "bandwidth": {"timeUnit": "hour", "dataAmount": 1, "dataUnit": "MB"}}}]
        }))
        .expect("reads");
        let l = p.default_limit.expect("a limit");
        assert_eq!((l.kind, l.request_count.expect("count").request_count), (LimitType::RequestCount, Some(5000)));
        assert!(p.stop_on_quota_reach);
        assert_eq!((p.rate_limit_count, p.rate_limit_time_unit.as_str()), (10, "sec"));
        let g = &p.conditional_groups[0];
        assert!(g.conditions[0].invert_condition);
        assert_eq!(g.conditions[0].ip_condition.as_ref().expect("ip").specific_ip, "10.0.0.1");
        assert_eq!(g.limit.as_ref().expect("limit").bandwidth.as_ref().expect("bandwidth").unit_time, 1, "unitTime defaults to 1");
        assert!(ThrottlePolicy::from_value(&json!({"defaultLimit": {"type": "MAGICLIMIT"}})).is_err());
        assert!(ThrottlePolicy::from_value(&json!({"rateLimitCount": "ten"})).is_err());

        assert_eq!(BlockTarget::read(&json!("/pizzashack/1.0.0")), Some(BlockTarget::Text("/pizzashack/1.0.0".into())));
        let one: IpAddr = "192.0.2.1".parse().expect("ip");
        assert_eq!(BlockTarget::read(&json!({"fixedIp": "192.0.2.1"})), Some(BlockTarget::Addresses { from: one, to: one, invert: false }));
        assert!(matches!(
            BlockTarget::read(&json!({"startingIp": "192.0.2.1", "endingIp": "192.0.2.9", "invert": true})),
            Some(BlockTarget::Addresses { invert: true, .. })
        ));
        assert_eq!(BlockTarget::read(&json!({"fixedIp": "nonsense"})), None);
        assert_eq!(BlockTarget::read(&json!(5)), None);
    }
}
