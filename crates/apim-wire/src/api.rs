//! The API definition a gateway runs: the part of WSO2's API DTO that gateways act on, as Rust types. The control
//! plane stores and sends the whole DTO (a revision's document, [`crate::Definition`]); it checks that a document
//! reads as an [`ApiDefinition`] when the API is saved, and a gateway reads each revision once into one, so the
//! request path never looks a field up by name.
//!
//! Reading is lenient where WSO2's clients are: a field that is absent or `null` takes its default, one endpoint
//! may stand where a list is expected, `actionDuration` may be a number or a numeric string, and fields not named
//! here are ignored (they are the control plane's). A field of the wrong type is an error naming it.

use std::fmt;

use apim_domain::policy::Flows;
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Absent or `null`: the default.
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiDefinition {
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub context: String,
    #[serde(default, deserialize_with = "nullable")]
    pub version: String,
    /// `HTTP`, `WS`, … (`type`).
    #[serde(rename = "type", default, deserialize_with = "nullable")]
    pub api_type: String,
    /// The API's creator (analytics events name it).
    #[serde(default, deserialize_with = "nullable")]
    pub provider: String,
    #[serde(default, deserialize_with = "nullable")]
    pub is_default_version: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub operations: Vec<Operation>,
    /// `oauth2`, `api_key`, … (none: OAuth2).
    #[serde(default, deserialize_with = "nullable")]
    pub security_scheme: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub endpoint_config: Option<EndpointConfig>,
    /// `endpointImplementationType`: whether a backend answers, or the gateway from the OpenAPI document.
    #[serde(default, deserialize_with = "nullable")]
    pub endpoint_implementation_type: ImplementationType,
    #[serde(default, deserialize_with = "nullable")]
    pub cors_configuration: Option<CorsConfiguration>,
    #[serde(default, deserialize_with = "nullable")]
    pub max_tps: Option<MaxTps>,
    /// The API-level advanced throttling policy; replaces the operations' when set.
    #[serde(default, deserialize_with = "nullable")]
    pub api_throttling_policy: String,
    /// The request header carrying the token (empty: `Authorization`).
    #[serde(default, deserialize_with = "nullable")]
    pub authorization_header: String,
    /// Names of the key managers whose tokens it accepts; empty or `all`: every one.
    #[serde(default, deserialize_with = "nullable")]
    pub key_managers: Vec<String>,
    /// A JWT must name one of these in `aud`; empty: not checked.
    #[serde(default, deserialize_with = "nullable")]
    pub audiences: Vec<String>,
    #[serde(default, deserialize_with = "flows")]
    pub api_policies: Flows,
    #[serde(default, deserialize_with = "nullable")]
    pub enable_schema_validation: bool,
    /// The OpenAPI document the API was made from (schema validation reads it).
    #[serde(rename = "x-apim-definition", default)]
    pub openapi: Option<Value>,
    /// Mutual TLS (`mutualssl` in `securityScheme`): the client certificates the API takes, as the control plane
    /// writes them into the API (and so into its revisions, as WSO2 4.x deploys them).
    #[serde(rename = "x-apim-client-certificates", default, deserialize_with = "nullable")]
    pub client_certificates: Vec<ClientCertificate>,
    /// Choreo Connect's `x-wso2-endpoints` of the OpenAPI document: endpoints by name, which an interceptor's
    /// `dynamicEndpoint` may send a request to instead of the API's own. Read from `openapi` by
    /// [`ApiDefinition::from_json`] and [`ApiDefinition::from_value`].
    #[serde(skip)]
    pub named_endpoints: Vec<NamedEndpoint>,
}

/// One of `x-wso2-endpoints`: `{<name>: {urls: [..], type: http|loadbalance|failover, advanceEndpointConfig:
/// {timeoutInMillis}}}`, read as the production group of an [`EndpointConfig`].
#[derive(Clone, Debug, PartialEq)]
pub struct NamedEndpoint {
    pub name: String,
    pub config: EndpointConfig,
}

/// `x-wso2-endpoints` of `openapi` (absent: none); an entry that is not `{name: {urls: [...]}}` with http(s)
/// URLs is an error naming it. The control plane checks a definition with it when one is uploaded.
pub fn named_endpoints(openapi: Option<&Value>) -> Result<Vec<NamedEndpoint>, String> {
    let Some(list) = openapi.and_then(|d| d.get("x-wso2-endpoints")).filter(|v| !v.is_null()) else { return Ok(Vec::new()) };
    let list = list.as_array().ok_or("x-wso2-endpoints must be a list of {name: {urls: [...]}}")?;
    let mut out: Vec<NamedEndpoint> = Vec::new();
    for (i, entry) in list.iter().enumerate() {
        let at = format!("x-wso2-endpoints[{i}]");
        let (name, body) = match entry.as_object().map(|o| o.iter().collect::<Vec<_>>()).as_deref() {
            Some([(name, body)]) => ((*name).clone(), *body),
            _ => return Err(format!("{at} must be one {{name: {{urls: [...]}}}}")),
        };
        if name.trim().is_empty() || out.iter().any(|n| n.name == name) {
            return Err(format!("{at}: the name `{name}` is empty or given twice"));
        }
        let urls: Vec<&str> = match body.get("urls") {
            Some(Value::Array(u)) => {
                u.iter().map(|u| u.as_str().ok_or(format!("{at}.{name}.urls holds something not a URL"))).collect::<Result<_, _>>()?
            }
            Some(Value::String(u)) => vec![u.as_str()],
            _ => return Err(format!("{at}.{name}.urls must list the endpoint's URLs")),
        };
        if urls.is_empty() || urls.iter().any(|u| !(u.starts_with("http://") || u.starts_with("https://"))) {
            return Err(format!("{at}.{name}.urls must hold http or https URLs"));
        }
        let kind = match body.get("type").and_then(Value::as_str).unwrap_or("http") {
            "loadbalance" | "load_balance" => EndpointType::LoadBalance,
            "failover" => EndpointType::Failover,
            "http" | "https" => EndpointType::Single,
            other => return Err(format!("{at}.{name}.type `{other}` is not http, loadbalance or failover")),
        };
        let timeout = match body.pointer("/advanceEndpointConfig/timeoutInMillis") {
            None | Some(Value::Null) => None,
            Some(t) => Some(
                t.as_u64()
                    .filter(|t| *t > 0)
                    .ok_or(format!("{at}.{name}.advanceEndpointConfig.timeoutInMillis must be a positive number"))?,
            ),
        };
        let endpoint = |u: &str| Endpoint { url: u.to_string(), config: EndpointTuning { action_duration: timeout } };
        let (first, rest) = urls.split_first().ok_or(format!("{at}.{name}.urls is empty"))?;
        let config = match kind {
            EndpointType::Failover => EndpointConfig {
                endpoint_type: kind,
                production_endpoints: vec![endpoint(first)],
                production_failovers: rest.iter().map(|u| endpoint(u)).collect(),
                ..EndpointConfig::default()
            },
            _ => EndpointConfig {
                endpoint_type: kind,
                production_endpoints: urls.iter().map(|u| endpoint(u)).collect(),
                ..EndpointConfig::default()
            },
        };
        out.push(NamedEndpoint { name, config });
    }
    Ok(out)
}

/// A client certificate an API takes for mutual TLS.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientCertificate {
    pub alias: String,
    /// The subscription policy requests made with it are throttled by.
    #[serde(default, deserialize_with = "nullable")]
    pub tier: String,
    /// `PRODUCTION` or `SANDBOX`: the endpoints its requests go to.
    #[serde(default, deserialize_with = "nullable")]
    pub key_type: String,
    /// SHA-256 of the certificate's DER, lower-case hex: what a TLS client's certificate is matched by.
    pub sha256: String,
    /// Its validity's end, Unix seconds.
    #[serde(default, deserialize_with = "nullable")]
    pub not_after: i64,
}

impl ApiDefinition {
    /// A revision's document.
    pub fn from_json(text: &str) -> Result<ApiDefinition, serde_json::Error> {
        serde_json::from_str::<ApiDefinition>(text)?.with_named_endpoints()
    }

    pub fn from_value(v: &Value) -> Result<ApiDefinition, serde_json::Error> {
        ApiDefinition::deserialize(v)?.with_named_endpoints()
    }

    fn with_named_endpoints(mut self) -> Result<ApiDefinition, serde_json::Error> {
        self.named_endpoints = named_endpoints(self.openapi.as_ref()).map_err(de::Error::custom)?;
        Ok(self)
    }

    /// Whether it is a WebSocket API (one channel: only handshakes are accepted).
    pub fn is_websocket(&self) -> bool {
        self.api_type.eq_ignore_ascii_case("WS")
    }
}

fn flows<'de, D: Deserializer<'de>>(d: D) -> Result<Flows, D::Error> {
    let v = Value::deserialize(d)?;
    apim_domain::policy::parse_flows(&v).map_err(|e| de::Error::custom(format!("operation policies: {e}")))
}

/// An operation's `authType`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AuthType {
    /// `None`: unsecured.
    None,
    /// `Application`: application tokens only (client_credentials).
    Application,
    /// `Application User`: only tokens a user holds.
    ApplicationUser,
    /// `Any`, `Application & Application User`, or a word this version does not know.
    #[default]
    Any,
}

impl<'de> Deserialize<'de> for AuthType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Option::<String>::deserialize(d)?.as_deref() {
            Some("None") => AuthType::None,
            Some("Application") => AuthType::Application,
            Some("Application User") => AuthType::ApplicationUser,
            _ => AuthType::Any,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    #[serde(default = "any_path", deserialize_with = "target")]
    pub target: String,
    #[serde(default = "get", deserialize_with = "verb")]
    pub verb: String,
    #[serde(default)]
    pub auth_type: AuthType,
    /// Its advanced throttling policy (empty: none).
    #[serde(default, deserialize_with = "nullable")]
    pub throttling_policy: String,
    #[serde(default, deserialize_with = "scopes")]
    pub scopes: Vec<String>,
    #[serde(default, deserialize_with = "flows")]
    pub operation_policies: Flows,
    /// An API product's operation: the endpoints of the API it comes from, which serve it instead of the
    /// definition's own (a product has none). The control plane writes it into a product's revisions.
    #[serde(rename = "x-apim-endpoint-config", default, deserialize_with = "nullable")]
    pub endpoint_config: Option<EndpointConfig>,
}

fn any_path() -> String {
    "/*".into()
}

fn get() -> String {
    "GET".into()
}

fn target<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_else(any_path))
}

/// Upper case, as the router compares it.
fn verb<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.map(|v| v.to_ascii_uppercase()).unwrap_or_else(get))
}

/// Scopes as names, or as WSO2's scope objects (`{"name": …}`).
fn scopes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scope {
        Name(String),
        Object { name: String },
        Other(serde::de::IgnoredAny),
    }
    let list = Option::<Vec<Scope>>::deserialize(d)?.unwrap_or_default();
    Ok(list
        .into_iter()
        .filter_map(|s| match s {
            Scope::Name(n) | Scope::Object { name: n } => Some(n),
            Scope::Other(_) => None,
        })
        .collect())
}

/// Who answers an API's requests (WSO2's `endpointImplementationType`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ImplementationType {
    /// The endpoints of `endpointConfig`.
    #[default]
    Endpoint,
    /// WSO2's prototype with inline mock scripts, which WSO2 generates from the OpenAPI examples: answered here
    /// from those examples (the scripts themselves are not run).
    Inline,
    /// WSO2's mock from the OpenAPI document: the gateway answers each operation from its examples.
    MockedOas,
}

impl ImplementationType {
    /// The gateway answers from the OpenAPI document; no backend is called.
    pub fn is_mocked(self) -> bool {
        matches!(self, ImplementationType::Inline | ImplementationType::MockedOas)
    }
}

/// How requests are spread over endpoints (`endpoint_type`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EndpointType {
    /// `http` (and any other kind): the first endpoint only.
    #[default]
    Single,
    /// `load_balance`: round robin.
    LoadBalance,
    /// `failover`: the endpoint, then its `*_failovers` in order.
    Failover,
}

impl<'de> Deserialize<'de> for EndpointType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Option::<String>::deserialize(d)?.as_deref() {
            Some("load_balance") => EndpointType::LoadBalance,
            Some("failover") => EndpointType::Failover,
            _ => EndpointType::Single,
        })
    }
}

/// WSO2's `endpointConfig` (snake case, as WSO2 writes it).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct EndpointConfig {
    #[serde(default)]
    pub endpoint_type: EndpointType,
    #[serde(default, deserialize_with = "one_or_many")]
    pub production_endpoints: Vec<Endpoint>,
    #[serde(default, deserialize_with = "one_or_many")]
    pub sandbox_endpoints: Vec<Endpoint>,
    #[serde(default, deserialize_with = "one_or_many")]
    pub production_failovers: Vec<Endpoint>,
    #[serde(default, deserialize_with = "one_or_many")]
    pub sandbox_failovers: Vec<Endpoint>,
}

/// Which of an API's endpoint groups.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyGroup {
    Production,
    Sandbox,
}

impl EndpointConfig {
    /// The endpoints of one group in the order its type uses them: every listed one for load balancing, the
    /// first and then the failovers for failover, the first alone otherwise.
    pub fn group(&self, which: KeyGroup) -> Vec<&Endpoint> {
        let (list, failovers) = match which {
            KeyGroup::Production => (&self.production_endpoints, &self.production_failovers),
            KeyGroup::Sandbox => (&self.sandbox_endpoints, &self.sandbox_failovers),
        };
        match self.endpoint_type {
            EndpointType::LoadBalance => list.iter().collect(),
            EndpointType::Failover => list.iter().take(1).chain(failovers).collect(),
            EndpointType::Single => list.iter().take(1).collect(),
        }
    }
}

/// One endpoint object, or a list of them.
fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Endpoint>, D::Error> {
    let one = |v: Value| Endpoint::deserialize(v).map_err(|e| de::Error::custom(format!("an endpoint: {e}")));
    match Value::deserialize(d)? {
        Value::Null => Ok(Vec::new()),
        Value::Array(list) => list.into_iter().map(one).collect(),
        v @ Value::Object(_) => Ok(vec![one(v)?]),
        other => Err(de::Error::custom(format!("endpoints must be an object or a list of them, not {other}"))),
    }
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Endpoint {
    pub url: String,
    #[serde(default, deserialize_with = "nullable")]
    pub config: EndpointTuning,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointTuning {
    /// How long to wait for the backend's answer, in milliseconds.
    #[serde(default, deserialize_with = "millis")]
    pub action_duration: Option<u64>,
}

/// A number, or a string holding one (WSO2's portal writes strings).
fn millis<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    struct V;
    impl<'de> de::Visitor<'de> for V {
        type Value = Option<u64>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("milliseconds, as a number or a numeric string")
        }
        fn visit_unit<E: de::Error>(self) -> Result<Option<u64>, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Option<u64>, E> {
            Ok(None)
        }
        fn visit_u64<E: de::Error>(self, n: u64) -> Result<Option<u64>, E> {
            Ok(Some(n))
        }
        fn visit_i64<E: de::Error>(self, n: i64) -> Result<Option<u64>, E> {
            u64::try_from(n).map(Some).map_err(|_| E::custom("actionDuration must not be negative"))
        }
        fn visit_f64<E: de::Error>(self, n: f64) -> Result<Option<u64>, E> {
            if n.is_finite() && n >= 0.0 { Ok(Some(n as u64)) } else { Err(E::custom("actionDuration must be a number of milliseconds")) }
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<Option<u64>, E> {
            match s.trim() {
                "" => Ok(None),
                t => t.parse().map(Some).map_err(|_| E::custom(format!("actionDuration `{s}` is not a number of milliseconds"))),
            }
        }
    }
    d.deserialize_any(V)
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CorsConfiguration {
    #[serde(default, deserialize_with = "nullable")]
    pub cors_configuration_enabled: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub access_control_allow_origins: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub access_control_allow_methods: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub access_control_allow_headers: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub access_control_allow_credentials: bool,
}

/// `maxTps`: a backend's limit per gateway node.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MaxTps {
    #[serde(default, deserialize_with = "nullable")]
    pub production: Option<i64>,
    #[serde(default, deserialize_with = "nullable")]
    pub sandbox: Option<i64>,
    #[serde(default, deserialize_with = "nullable")]
    pub production_time_unit: Option<TimeUnit>,
    #[serde(default, deserialize_with = "nullable")]
    pub sandbox_time_unit: Option<TimeUnit>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum TimeUnit {
    #[default]
    Second,
    Minute,
    Hour,
}

impl TimeUnit {
    pub fn millis(self) -> u64 {
        match self {
            TimeUnit::Second => 1_000,
            TimeUnit::Minute => 60_000,
            TimeUnit::Hour => 3_600_000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wso2_documents_read_as_definitions() {
        let d = ApiDefinition::from_value(&json!({
            "name": "Shop", "context": "/shop", "version": "1.0.0", "type": "HTTP", "isDefaultVersion": null,
            "operations": [{"target": "/items/{id}", "verb": "get", "authType": "Application User", "scopes": ["read", {"name": "write"}],
                            "operationPolicies": {"request": [{"policyName": "addHeader", "policyVersion": "v1", "parameters": {"headerName": "x", "headerValue": "1"}}]}},
                           {"verb": null, "authType": "Application & Application User"}],
            "endpointConfig": {"endpoint_type": "failover", "production_endpoints": {"url": "http://p", "config": {"actionDuration": "1500"}},
                               "production_failovers": [{"url": "http://f"}], "sandbox_endpoints": null},
            "corsConfiguration": {"corsConfigurationEnabled": true, "accessControlAllowOrigins": ["*"]},
            "maxTps": {"production": 10, "productionTimeUnit": "MINUTE"},
            "keyManagers": ["all"], "unknownField": {"kept": "by the control plane"}
        }))
        .expect("reads");
        assert_eq!((d.name.as_str(), d.is_default_version, d.is_websocket()), ("Shop", false, false));
        assert_eq!(d.operations[0].verb, "GET");
        assert_eq!(d.operations[0].auth_type, AuthType::ApplicationUser);
        assert_eq!(d.operations[0].scopes, ["read", "write"]);
        assert_eq!(d.operations[0].operation_policies.request.len(), 1);
        assert_eq!(
            (d.operations[1].target.as_str(), d.operations[1].verb.as_str(), d.operations[1].auth_type),
            ("/*", "GET", AuthType::Any)
        );
        let ec = d.endpoint_config.expect("endpoints");
        let prod: Vec<&str> = ec.group(KeyGroup::Production).iter().map(|e| e.url.as_str()).collect();
        assert_eq!(prod, ["http://p", "http://f"]);
        assert_eq!(ec.production_endpoints[0].config.action_duration, Some(1500));
        assert!(ec.group(KeyGroup::Sandbox).is_empty());
        assert!(d.cors_configuration.expect("cors").cors_configuration_enabled);
        assert_eq!(d.max_tps.expect("maxTps").production_time_unit.map(TimeUnit::millis), Some(60_000));

        for (bad, says) in [
            (json!({"operations": {"target": "/x"}}), "invalid type"),
            (
                json!({"endpointConfig": {"production_endpoints": {"url": "http://p", "config": {"actionDuration": "soon"}}}}),
                "actionDuration",
            ),
            (json!({"apiPolicies": {"request": [{"policyName": "addHeader"}]}}), "operation policies"),
            (json!({"maxTps": {"production": 5, "productionTimeUnit": "WEEK"}}), "unknown variant"),
        ] {
            let e = ApiDefinition::from_value(&bad).expect_err(&bad.to_string()).to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn named_endpoints_come_from_the_openapi_document() {
        let d = ApiDefinition::from_value(&json!({"x-apim-definition": {"x-wso2-endpoints": [
            {"eu": {"urls": ["http://eu.invalid/v1"], "advanceEndpointConfig": {"timeoutInMillis": 700}}},
            {"spread": {"type": "loadbalance", "urls": ["http://a.invalid", "http://b.invalid"]}},
            {"safe": {"type": "failover", "urls": ["http://main.invalid", "http://spare.invalid"]}}
        ]}}))
        .expect("reads");
        let names: Vec<&str> = d.named_endpoints.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["eu", "spread", "safe"]);
        assert_eq!(d.named_endpoints[0].config.production_endpoints[0].config.action_duration, Some(700));
        assert_eq!(d.named_endpoints[1].config.group(KeyGroup::Production).len(), 2);
        let safe = d.named_endpoints[2].config.group(KeyGroup::Production);
        assert_eq!(safe.iter().map(|e| e.url.as_str()).collect::<Vec<_>>(), ["http://main.invalid", "http://spare.invalid"]);
        assert!(ApiDefinition::from_value(&json!({})).expect("none").named_endpoints.is_empty());
        for bad in [
            json!({"eu": {"urls": ["http://x"]}}),
            json!([{"eu": {"urls": []}}]),
            json!([{"eu": {"urls": ["ftp://x"]}}]),
            json!([{"eu": {"urls": ["http://x"]}, "us": {"urls": ["http://y"]}}]),
            json!([{"eu": {"urls": ["http://x"]}}, {"eu": {"urls": ["http://y"]}}]),
            json!([{"eu": {"urls": ["http://x"], "type": "random"}}]),
            json!([{"eu": {"urls": ["http://x"], "advanceEndpointConfig": {"timeoutInMillis": -1}}}]),
        ] {
            let e = ApiDefinition::from_value(&json!({"x-apim-definition": {"x-wso2-endpoints": bad}})).expect_err(&bad.to_string());
            assert!(e.to_string().contains("x-wso2-endpoints"), "{e}");
        }
    }
}
