//! The runtime snapshot: what a gateway serves, compiled from the control plane's `RuntimeState` into the
//! lookup structures the request path needs. Built off the request path, published with arc-swap, never
//! mutated after that.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

use apim_wire::{BlockConditionType, PolicyLevel, RuntimeState};

use crate::router::Template;
use apim_wire::api::KeyGroup;
pub use apim_wire::policy::Quota;
use apim_wire::policy::{BlockTarget, ThrottleCondition, ThrottleLimit, ThrottlePolicy, window_ms};

use crate::upstream::{Endpoint, EndpointGroup, Registry};

/// A resource's operation policies, each interceptor service with its endpoint (and its pooled connections).
pub type Mediation = crate::mediation::Mediation<Arc<Endpoint>>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyType {
    Production,
    Sandbox,
}

impl KeyType {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Production => "PRODUCTION",
            KeyType::Sandbox => "SANDBOX",
        }
    }
}

pub use apim_wire::api::AuthType;

#[derive(Debug)]
pub struct Resource {
    pub template: Template,
    /// The URI template as the definition writes it (`/orders/{id}`).
    pub target: String,
    /// Upper-case HTTP method.
    pub verb: String,
    pub auth: AuthType,
    pub policy: Option<String>,
    pub scopes: Vec<String>,
    /// WSO2's resource throttle key `{context}/{version}{target}:{VERB}` with `_default`, and the key's stem for
    /// condition groups.
    pub throttle_default: String,
    pub throttle_stem: String,
    /// The API's and this operation's operation policies (`apiPolicies`, `operationPolicies`), when it has any.
    pub mediation: Option<Box<Mediation>>,
    /// `enableSchemaValidation`: this operation's JSON schemas from the API's OpenAPI document, when it has any.
    pub validation: Option<Box<crate::schema::OperationSchemas>>,
    /// An API product's operation: the endpoints of the API it comes from, in place of the product's.
    pub backends: Option<Box<Backends>>,
    /// A mocked API (`endpointImplementationType` MOCKED_OAS or INLINE): the answer made from its OpenAPI
    /// document; no backend is called.
    pub mock: Option<Box<crate::mock::MockResponse>>,
}

/// An API's production and sandbox endpoint groups.
#[derive(Debug, Default)]
pub struct Backends {
    pub production: Option<Arc<EndpointGroup>>,
    pub sandbox: Option<Arc<EndpointGroup>>,
}

#[derive(Debug, Default)]
pub struct Cors {
    pub enabled: bool,
    pub origins: Vec<String>,
    pub methods: Vec<String>,
    pub headers: Vec<String>,
    pub credentials: bool,
}

/// One deployed API.
#[derive(Debug)]
pub struct Api {
    pub id: String,
    pub name: String,
    /// The publisher DTO's `provider`, and its `type` (`HTTP`, `WS`…), for analytics events.
    pub provider: String,
    pub api_type: String,
    pub context: String,
    pub version: String,
    /// `isDefaultVersion`: also served at `/{context}/…`.
    pub default_version: bool,
    /// `type: WS`: a WebSocket API; only handshakes are accepted.
    pub websocket: bool,
    /// BLOCKED APIs answer 503 (900907).
    pub blocked: bool,
    /// `/pizzashack/1.0.0`: API block conditions and throttle keys use it.
    pub context_version: String,
    /// WSO2's API-level throttle key stem `{context}/{version}:{version}`, and with `_default`.
    pub throttle_stem: String,
    pub throttle_default: String,
    pub resources: Vec<Resource>,
    /// API-level advanced policy: when set it replaces resource-level ones (as in WSO2).
    pub api_policy: Option<String>,
    pub oauth2: bool,
    /// `api_key` in `securityScheme`: API keys are accepted.
    pub api_key: bool,
    pub production: Option<Arc<EndpointGroup>>,
    pub sandbox: Option<Arc<EndpointGroup>>,
    pub cors: Option<Cors>,
    /// The request header carrying the token (`authorizationHeader`, default `authorization`); `None` when the
    /// definition names something that is not a header name (no request can carry it).
    pub auth_header: Option<http::HeaderName>,
    /// `maxTps`: the backend's limit per node for production and sandbox traffic, with their throttle keys.
    pub hard_production: Option<(Limit, String)>,
    pub hard_sandbox: Option<(Limit, String)>,
    /// `keyManagers`: whose tokens it accepts; `None` for every key manager (`all`, the default).
    pub key_managers: Option<Vec<String>>,
    /// `audiences`: a JWT must name one of these in `aud`; empty: not checked.
    pub audiences: Vec<String>,
    /// Mutual TLS: whether a client certificate is required (`mutualssl_mandatory`, or `mutualssl` alone) and
    /// whether a token or key is required beside it; the certificates it takes by the SHA-256 of their DER.
    pub mutual_tls: Option<MutualTls>,
    /// `x-wso2-endpoints` by name: where an interceptor's `dynamicEndpoint` may send a request instead.
    pub named_endpoints: Vec<(String, Arc<EndpointGroup>)>,
    /// What it was compiled from: (revision id, lifecycle status, environment). A later state with the same
    /// reuses this compiled API instead of reading the definition again (revisions never change).
    pub origin: (String, apim_wire::ApiStatus, String),
}

impl Api {
    /// Whether `keyManagers` lets tokens of the key manager named so in (`Resident Key Manager` for the
    /// resident one, which WSO2 also calls `default`).
    pub fn accepts_key_manager(&self, name: &str) -> bool {
        match &self.key_managers {
            None => true,
            Some(names) => names.iter().any(|n| n == name || (crate::keymanager::is_resident(n) && crate::keymanager::is_resident(name))),
        }
    }
}

/// An API's mutual TLS.
#[derive(Debug)]
pub struct MutualTls {
    /// No request passes without one of the certificates.
    pub certificate_required: bool,
    /// A request with a certificate still needs a token or API key (both mandatory).
    pub token_required: bool,
    pub certificates: HashMap<[u8; 32], ClientCertificate>,
}

/// A client certificate an API takes: who it stands for in throttling and routing.
#[derive(Debug)]
pub struct ClientCertificate {
    pub key_type: KeyType,
    /// Unix seconds: expired, it is refused.
    pub not_after: i64,
    /// As a subscription of its tier (WSO2 throttles a mutual-TLS caller by the certificate's tier).
    pub subscription: Subscription,
}

#[derive(Debug)]
pub struct Application {
    pub id: String,
    pub name: String,
    pub owner: String,
    pub policy: String,
}

#[derive(Debug)]
pub struct Subscription {
    pub policy: String,
    pub status: apim_wire::SubscriptionStatus,
    /// WSO2's subscription throttle key `{appId}:{context}/{version}:{version}`, and its burst-control key.
    pub throttle_key: String,
    pub burst_key: String,
}

#[derive(Clone, Debug)]
pub struct Limit {
    pub quota: Quota,
    pub window_ms: u64,
    /// The policy it belongs to (in usage records; empty for a backend's `maxTps`).
    pub policy: Arc<str>,
}

#[derive(Clone, Debug)]
pub enum Condition {
    Ip { from: IpAddr, to: IpAddr, invert: bool },
    Header { name: String, value: Pattern, invert: bool },
    Query { name: String, value: Pattern, invert: bool },
    Claim { name: String, value: Pattern, invert: bool },
}

/// A condition's value. WSO2 evaluates header, query-parameter and JWT-claim conditions with Siddhi's
/// `regex:find`: the value is a regular expression found anywhere in the request's value. A value that is not a
/// valid expression (or too large to compile) is looked for literally.
#[derive(Clone, Debug)]
pub struct Pattern {
    pub text: String,
    regex: Option<regex::Regex>,
}

impl Pattern {
    pub fn new(text: String) -> Pattern {
        let regex = regex::RegexBuilder::new(&text).size_limit(1 << 20).build().ok();
        Pattern { text, regex }
    }

    pub fn found_in(&self, s: &str) -> bool {
        match &self.regex {
            Some(r) => r.is_match(s),
            None => s.contains(self.text.as_str()),
        }
    }
}

#[derive(Clone, Debug)]
pub struct ConditionGroup {
    pub conditions: Vec<Condition>,
    pub limit: Limit,
}

#[derive(Clone, Debug)]
pub struct Policy {
    /// `None`: Unlimited.
    pub limit: Option<Limit>,
    pub groups: Vec<ConditionGroup>,
    /// Subscription policies: burst control.
    pub burst: Option<Limit>,
    /// Subscription policies: `false` lets requests through over quota.
    pub stop_on_quota_reach: bool,
}

/// A custom policy: our rule language in place of WSO2's Siddhi (`apim_domain::custom`).
#[derive(Clone, Debug)]
pub struct CustomPolicy {
    pub name: String,
    pub rule: apim_domain::custom::CustomRule,
    pub limit: Limit,
}

#[derive(Debug, Default)]
pub struct Blocks {
    pub apis: HashSet<String>,
    /// `owner:application`.
    pub applications: HashSet<String>,
    pub users: HashSet<String>,
    pub subscriptions: HashSet<String>,
    pub ips: Vec<(IpAddr, IpAddr, bool)>,
}

impl Blocks {
    pub fn ip_blocked(&self, ip: IpAddr) -> bool {
        self.ips.iter().any(|(from, to, invert)| in_range(ip, *from, *to) != *invert)
    }

    pub fn is_empty(&self) -> bool {
        self.apis.is_empty()
            && self.applications.is_empty()
            && self.users.is_empty()
            && self.subscriptions.is_empty()
            && self.ips.is_empty()
    }
}

pub fn in_range(ip: IpAddr, from: IpAddr, to: IpAddr) -> bool {
    match (ip, from, to) {
        (IpAddr::V4(ip), IpAddr::V4(a), IpAddr::V4(b)) => (a..=b).contains(&ip),
        (IpAddr::V6(ip), IpAddr::V6(a), IpAddr::V6(b)) => (a..=b).contains(&ip),
        (IpAddr::V6(ip), IpAddr::V4(a), IpAddr::V4(b)) => ip.to_ipv4_mapped().is_some_and(|ip| (a..=b).contains(&ip)),
        _ => false,
    }
}

/// Maps the request path reads, keyed by ids and names; foldhash is several times faster than SipHash here.
pub type Map<V> = HashMap<String, V, foldhash::fast::RandomState>;

/// Everything the request path reads.
#[derive(Default)]
pub struct Snapshot {
    pub seq: i64,
    pub router: Router,
    pub applications: Map<Application>,
    /// Consumer key → (application id, key type), for the resident key manager's clients.
    pub keys: Map<(String, KeyType)>,
    /// The same for the clients of key managers registered in the Admin API, keyed `{key manager}\0{consumer key}`
    /// (two key managers may issue one client id).
    pub external_keys: Map<(String, KeyType)>,
    /// Enabled key managers registered in the Admin API, whose JWTs are accepted where an API allows them.
    pub key_managers: Vec<Arc<crate::keymanager::KeyManager>>,
    /// (application id, API id) → subscription.
    /// Application id → API id → subscription: looked up by `&str`, without building a key.
    pub subscriptions: Map<Map<Subscription>>,
    pub app_policies: Map<Policy>,
    pub sub_policies: Map<Policy>,
    pub api_policies: Map<Policy>,
    pub custom: Vec<CustomPolicy>,
    pub blocks: Blocks,
    /// The control plane's keys API keys are verified with, and revoked API keys' `jti`s.
    pub api_key_keys: Vec<apim_jose::jwt::VerifyKey>,
    pub revoked_api_keys: HashSet<String>,
    /// TLS for backends with endpoint certificates of their own; empty for most gateways.
    pub endpoint_trust: crate::upstream::EndpointTrust,
}

/// `s` holding no more than its text: `format!` leaves up to twice the length reserved, and a gateway keeps
/// several such keys for each of thousands of APIs and subscriptions.
fn fitted(mut s: String) -> String {
    s.shrink_to_fit();
    s
}

/// The key of [`Snapshot::external_keys`].
pub fn external_key(key_manager: &str, consumer_key: &str) -> String {
    format!("{key_manager}\0{consumer_key}")
}

impl Snapshot {
    /// An enabled key manager registered in the Admin API, by name.
    pub fn key_manager(&self, name: &str) -> Option<&Arc<crate::keymanager::KeyManager>> {
        self.key_managers.iter().find(|k| &*k.name == name)
    }

    /// Compiles a state. Malformed parts (a policy with an unknown unit, an endpoint that is not a URL) are
    /// logged and left out; they never fail the whole snapshot.
    pub fn compile(state: &RuntimeState, previous: Option<&Snapshot>, registry: &Registry) -> Snapshot {
        let mut apis = Vec::new();
        for d in &state.apis {
            let same = previous.and_then(|p| p.router.api_by_id(&d.id)).filter(|a| {
                let (revision, status, environment) = &a.origin;
                *revision == d.revision_id && *status == d.status && *environment == d.environment
            });
            if let Some(api) = same {
                apis.push(api.clone());
                continue;
            }
            match compile_api(d, previous, registry) {
                Ok(api) => apis.push(Arc::new(api)),
                Err(e) => tracing::warn!(api = %d.id, "API left out of the gateway: {e}"),
            }
        }
        let mut snap = Snapshot { seq: state.seq, router: Router::build(apis), ..Snapshot::default() };
        for a in &state.applications {
            snap.applications.insert(
                a.id.clone(),
                Application { id: a.id.clone(), name: a.name.clone(), owner: a.owner.clone(), policy: a.policy.clone() },
            );
        }
        for k in &state.key_mappings {
            let kt = if k.key_type == apim_wire::KeyType::Sandbox { KeyType::Sandbox } else { KeyType::Production };
            if crate::keymanager::is_resident(&k.key_manager) {
                snap.keys.insert(k.consumer_key.clone(), (k.application_id.clone(), kt));
            } else {
                snap.external_keys.insert(external_key(&k.key_manager, &k.consumer_key), (k.application_id.clone(), kt));
            }
        }
        for km in state.key_managers.iter().filter(|k| k.enabled) {
            let reused = previous.and_then(|p| p.key_managers.iter().find(|old| old.origin == *km));
            match reused.cloned().map(Ok).unwrap_or_else(|| crate::keymanager::KeyManager::compile(km, registry).map(Arc::new)) {
                Ok(k) => snap.key_managers.push(k),
                Err(e) => tracing::warn!(key_manager = %km.name, "key manager left out: {e}"),
            }
        }
        for s in &state.subscriptions {
            // Subscriptions to APIs not deployed here are never looked up.
            let Some(api) = snap.router.api_by_id(&s.api_id) else { continue };
            let throttle_key = fitted(format!("{}:{}:{}", s.application_id, api.context_version, api.version));
            snap.subscriptions.entry(s.application_id.clone()).or_default().insert(
                s.api_id.clone(),
                Subscription {
                    policy: s.policy.clone(),
                    status: s.status.clone(),
                    burst_key: fitted(format!("{throttle_key}_burst")),
                    throttle_key,
                },
            );
        }
        for p in &state.policies {
            let doc = match ThrottlePolicy::from_value(&p.document) {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(policy = %p.name, level = %p.level, "policy left out: {e}");
                    continue;
                }
            };
            if p.level == PolicyLevel::Custom {
                match apim_domain::custom::CustomRule::parse(&doc.key_template, &doc.siddhi_query) {
                    Ok(rule) => {
                        let quota = if rule.bytes { Quota::Bytes(rule.quota) } else { Quota::Requests(rule.quota) };
                        let limit = Limit { quota, window_ms: rule.window_ms, policy: p.name.as_str().into() };
                        snap.custom.push(CustomPolicy { name: p.name.clone(), rule, limit });
                    }
                    Err(e) => tracing::warn!(policy = %p.name, "custom policy left out: {e}"),
                }
                continue;
            }
            let compiled = match compile_policy(&p.name, &doc) {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(policy = %p.name, level = %p.level, "policy left out: {e}");
                    continue;
                }
            };
            let map = match &p.level {
                PolicyLevel::Application => &mut snap.app_policies,
                PolicyLevel::Subscription => &mut snap.sub_policies,
                PolicyLevel::Api => &mut snap.api_policies,
                PolicyLevel::Unknown(level) if level == "advanced" => &mut snap.api_policies,
                PolicyLevel::Custom | PolicyLevel::Unknown(_) => continue,
            };
            map.insert(p.name.clone(), compiled);
        }
        snap.api_key_keys = state.api_key_jwks.iter().filter_map(apim_jose::jwt::VerifyKey::from_jwk).collect();
        snap.revoked_api_keys = state.revoked_api_keys.iter().cloned().collect();
        for b in state.block_conditions.iter().filter(|b| b.enabled) {
            match (&b.condition_type, BlockTarget::read(&b.value)) {
                (BlockConditionType::Api, Some(BlockTarget::Text(t))) => drop(snap.blocks.apis.insert(t)),
                (BlockConditionType::Application, Some(BlockTarget::Text(t))) => drop(snap.blocks.applications.insert(t)),
                (BlockConditionType::User, Some(BlockTarget::Text(t))) => drop(snap.blocks.users.insert(t)),
                (BlockConditionType::Subscription, Some(BlockTarget::Text(t))) => drop(snap.blocks.subscriptions.insert(t)),
                (BlockConditionType::Ip | BlockConditionType::IpRange, Some(BlockTarget::Addresses { from, to, invert })) => {
                    snap.blocks.ips.push((from, to, invert));
                }
                _ => tracing::warn!(condition = %b.id, "block condition not understood; ignored"),
            }
        }
        snap
    }
}

fn compile_api(d: &apim_wire::DeployedApi, previous: Option<&Snapshot>, registry: &Registry) -> Result<Api, String> {
    let def = d.definition.definition().map_err(|e| format!("the definition cannot be run: {e}"))?;
    let (context, version) = (def.context.clone(), def.version.clone());
    if !context.starts_with('/') || version.is_empty() {
        return Err("the definition has no context or version".into());
    }
    // Sized exactly: a gateway holds thousands of APIs, most with a few operations.
    let mut resources = Vec::with_capacity(def.operations.len());
    // One endpoint per interceptor service URL and timeout (the registry shares its connections).
    let mut interceptor = |url: &str, timeout: std::time::Duration, connect: Option<std::time::Duration>| {
        registry.endpoint_connecting_within(url, timeout, connect)
    };
    // WSO2's `enableSchemaValidation`: bodies checked against the OpenAPI document the API was made from.
    let openapi = def.openapi.as_ref().filter(|_| def.enable_schema_validation);
    for op in &def.operations {
        let (target, verb) = (op.target.as_str(), op.verb.clone());
        let stem = fitted(format!("{}/{}{target}:{verb}", context.trim_end_matches('/'), version));
        let at = format!("operations {verb} {target}: operationPolicies");
        let mediation =
            Mediation::compile(&def.api_policies, &op.operation_policies, &mut interceptor).map_err(|e| format!("{at}: {e}"))?;
        let validation = match openapi {
            Some(doc) => {
                let schemas =
                    crate::schema::of_operation(doc, target, &verb).map_err(|e| format!("the OpenAPI schema of {verb} {target}: {e}"))?;
                (schemas.request.is_some() || !schemas.responses.is_empty()).then(|| Box::new(schemas))
            }
            None => None,
        };
        let backends = match &op.endpoint_config {
            Some(ec) => {
                let group = |which| EndpointGroup::from_config(ec, which, registry, None).map_err(|e| format!("{verb} {target}: {e}"));
                Some(Box::new(Backends { production: group(KeyGroup::Production)?, sandbox: group(KeyGroup::Sandbox)? }))
            }
            None => None,
        };
        let mock = match (&def.openapi, def.endpoint_implementation_type.is_mocked()) {
            (Some(doc), true) => Some(Box::new(crate::mock::of_operation(doc, target, &verb))),
            (None, true) => Some(Box::new(crate::mock::of_operation(&serde_json::Value::Null, target, &verb))),
            (_, false) => None,
        };
        resources.push(Resource {
            mock,
            backends,
            template: Template::parse(target),
            target: target.to_string(),
            throttle_default: fitted(format!("{stem}_default")),
            throttle_stem: stem,
            verb,
            auth: op.auth_type,
            policy: Some(op.throttling_policy.clone()).filter(|p| !p.is_empty()),
            scopes: op.scopes.clone(),
            mediation,
            validation,
        });
    }
    let websocket = def.is_websocket();
    if websocket {
        // A WebSocket API is one channel: the handshake (a GET on any path under the API) is what gets checked.
        // Its topics' security follows the strictest one: unsecured only when every topic is.
        let open = !resources.is_empty() && resources.iter().all(|r| r.auth == AuthType::None);
        let stem = format!("{}/{}/*:GET", context.trim_end_matches('/'), version);
        resources = vec![Resource {
            template: Template::parse("/*"),
            target: "/*".into(),
            verb: "GET".into(),
            auth: if open { AuthType::None } else { AuthType::Any },
            policy: None,
            scopes: Vec::new(),
            throttle_default: format!("{stem}_default"),
            throttle_stem: stem,
            mediation: None,
            validation: None,
            backends: None,
            mock: None,
        }];
    }
    let security = &def.security_scheme;
    let oauth2 = security.is_empty() || security.iter().any(|s| s == "oauth2");
    let api_key = security.iter().any(|s| s == "api_key");
    // Endpoint groups keep their round-robin position across snapshots when their endpoints did not change.
    let old = previous.and_then(|p| p.router.api_by_id(&d.id));
    let no_endpoints = apim_wire::api::EndpointConfig::default();
    let ec = def.endpoint_config.as_ref().unwrap_or(&no_endpoints);
    let production = EndpointGroup::from_config(ec, KeyGroup::Production, registry, old.and_then(|a| a.production.clone()))?;
    let sandbox = EndpointGroup::from_config(ec, KeyGroup::Sandbox, registry, old.and_then(|a| a.sandbox.clone()))?;
    let cors = def.cors_configuration.as_ref().map(|c| Cors {
        enabled: c.cors_configuration_enabled,
        origins: c.access_control_allow_origins.clone(),
        methods: c.access_control_allow_methods.clone(),
        headers: c.access_control_allow_headers.clone(),
        credentials: c.access_control_allow_credentials,
    });
    let context_version = fitted(format!("{}/{}", context.trim_end_matches('/'), version));
    let throttle_stem = fitted(format!("{context_version}:{version}"));
    let hard = |which: KeyGroup| -> Option<(Limit, String)> {
        let m = def.max_tps.as_ref()?;
        let (n, unit, kind) = match which {
            KeyGroup::Production => (m.production, m.production_time_unit, "production"),
            KeyGroup::Sandbox => (m.sandbox, m.sandbox_time_unit, "sandbox"),
        };
        let n = n.filter(|n| *n > 0)?;
        let window_ms = unit.unwrap_or_default().millis();
        Some((Limit { quota: Quota::Requests(n as u64), window_ms, policy: "".into() }, format!("{context_version}:hard:{kind}")))
    };
    let header = def.authorization_header.trim();
    let mutual_tls = security.iter().any(|s| s == "mutualssl").then(|| {
        let tokens = oauth2 || api_key;
        let certificates = def
            .client_certificates
            .iter()
            .filter_map(|c| {
                let fingerprint = hex32(&c.sha256)?;
                let throttle_key = format!("{}:{context_version}:{version}", c.alias);
                let subscription = Subscription {
                    policy: c.tier.clone(),
                    status: apim_wire::SubscriptionStatus::Unblocked,
                    burst_key: format!("{throttle_key}_burst"),
                    throttle_key,
                };
                let key_type = if c.key_type.eq_ignore_ascii_case("SANDBOX") { KeyType::Sandbox } else { KeyType::Production };
                Some((fingerprint, ClientCertificate { key_type, not_after: c.not_after, subscription }))
            })
            .collect();
        MutualTls {
            certificate_required: security.iter().any(|s| s == "mutualssl_mandatory") || !tokens,
            token_required: tokens && security.iter().any(|s| s == "oauth_basic_auth_api_key_mandatory"),
            certificates,
        }
    });
    let mut named_endpoints = Vec::with_capacity(def.named_endpoints.len());
    for n in &def.named_endpoints {
        let group = EndpointGroup::from_config(&n.config, KeyGroup::Production, registry, None)
            .map_err(|e| format!("x-wso2-endpoints `{}`: {e}", n.name))?
            .ok_or_else(|| format!("x-wso2-endpoints `{}` has no URL", n.name))?;
        named_endpoints.push((n.name.clone(), group));
    }
    Ok(Api {
        mutual_tls,
        named_endpoints,
        throttle_default: fitted(format!("{throttle_stem}_default")),
        throttle_stem,
        id: d.id.clone(),
        origin: (d.revision_id.clone(), d.status.clone(), d.environment.clone()),
        hard_production: hard(KeyGroup::Production),
        hard_sandbox: hard(KeyGroup::Sandbox),
        key_managers: (!def.key_managers.is_empty() && !def.key_managers.iter().any(|n| n.eq_ignore_ascii_case("all")))
            .then(|| def.key_managers.clone()),
        audiences: def.audiences.iter().filter(|a| !a.is_empty()).cloned().collect(),
        name: def.name.clone(),
        provider: def.provider.clone(),
        api_type: if def.api_type.is_empty() { "HTTP".into() } else { def.api_type.clone() },
        default_version: def.is_default_version,
        websocket,
        blocked: d.status == apim_wire::ApiStatus::Blocked,
        context_version,
        context,
        version,
        resources,
        api_policy: Some(def.api_throttling_policy.clone()).filter(|p| !p.is_empty()),
        oauth2,
        api_key,
        production,
        sandbox,
        cors,
        // A name that is not a header name: no request can carry the token.
        auth_header: if header.is_empty() {
            Some(http::header::AUTHORIZATION)
        } else {
            http::HeaderName::from_bytes(header.as_bytes()).ok()
        },
    })
}

/// 32 bytes from 64 hex digits.
fn hex32(text: &str) -> Option<[u8; 32]> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks(2).enumerate() {
        let digit = |b: u8| (b as char).to_digit(16);
        out[i] = u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).ok()?;
    }
    Some(out)
}

/// Milliseconds in `unitTime` × `timeUnit`.
fn compile_limit(l: &ThrottleLimit, policy: &Arc<str>) -> Result<Limit, String> {
    let (quota, window_ms) = l.quota()?;
    Ok(Limit { quota, window_ms, policy: policy.clone() })
}

fn compile_condition(c: &ThrottleCondition) -> Option<Condition> {
    let invert = c.invert_condition;
    match c.kind.as_str() {
        "IPCONDITION" => {
            let ip = c.ip_condition.as_ref()?;
            let get = |s: &str| s.trim().parse::<IpAddr>().ok();
            let (from, to) = match ip.ip_condition_type.as_str() {
                "IPSPECIFIC" => (get(&ip.specific_ip)?, get(&ip.specific_ip)?),
                _ => (get(&ip.starting_ip)?, get(&ip.ending_ip)?),
            };
            Some(Condition::Ip { from, to, invert })
        }
        "HEADERCONDITION" => {
            let h = c.header_condition.as_ref()?;
            Some(Condition::Header { name: h.header_name.to_ascii_lowercase(), value: Pattern::new(h.header_value.clone()), invert })
        }
        "QUERYPARAMETERCONDITION" => {
            let q = c.query_parameter_condition.as_ref()?;
            Some(Condition::Query { name: q.parameter_name.clone(), value: Pattern::new(q.parameter_value.clone()), invert })
        }
        "JWTCLAIMSCONDITION" => {
            let j = c.jwt_claims_condition.as_ref()?;
            Some(Condition::Claim { name: j.claim_url.clone(), value: Pattern::new(j.attribute.clone()), invert })
        }
        _ => None,
    }
}

fn compile_policy(name: &str, doc: &ThrottlePolicy) -> Result<Policy, String> {
    let unlimited = name == "Unlimited";
    let policy: Arc<str> = name.into();
    let limit = if unlimited { None } else { Some(compile_limit(doc.default_limit.as_ref().ok_or("defaultLimit missing")?, &policy)?) };
    let mut groups = Vec::new();
    for g in &doc.conditional_groups {
        let conditions: Vec<Condition> = g.conditions.iter().filter_map(compile_condition).collect();
        if conditions.is_empty() {
            continue;
        }
        let limit = compile_limit(g.limit.as_ref().ok_or("conditional group without limit")?, &policy)?;
        groups.push(ConditionGroup { conditions, limit });
    }
    let burst = match (doc.rate_limit_count, doc.rate_limit_time_unit.as_str()) {
        (n, unit) if n > 0 && !unit.is_empty() => {
            Some(Limit { quota: Quota::Requests(n), window_ms: window_ms(unit, 1).ok_or("rateLimitTimeUnit")?, policy: policy.clone() })
        }
        _ => None,
    };
    Ok(Policy { limit, groups, burst, stop_on_quota_reach: doc.stop_on_quota_reach })
}

/// Routing: `/{context}/{version}/…` (and `/{context}/…` for the default version) to an API, then the remainder
/// to one of its resources. The API lookup is one hash probe per `/` in the path, so its cost grows with the
/// path's length, not with the number of APIs.
/// The result of routing a request path.
pub enum Route<'a> {
    /// No API has this prefix.
    NoApi,
    /// The API exists but none of its resources matches the path and method.
    NoResource(&'a Arc<Api>),
    Found {
        api: &'a Arc<Api>,
        resource: &'a Resource,
        prefix_len: usize,
    },
}

#[derive(Default)]
pub struct Router {
    /// `/ctx/ver` and, for default versions, `/ctx` → API.
    by_prefix: HashMap<String, Arc<Api>, foldhash::fast::RandomState>,
    by_id: HashMap<String, Arc<Api>, foldhash::fast::RandomState>,
}

impl Router {
    pub fn build(apis: Vec<Arc<Api>>) -> Router {
        let mut r = Router::default();
        // Default versions first, so an explicit `/ctx/ver` of another API always wins over them.
        for api in &apis {
            if !api.default_version || api.context.contains("{version}") {
                continue;
            }
            let ctx = api.context.trim_end_matches('/');
            r.by_prefix.entry(ctx.to_string()).or_insert_with(|| api.clone());
        }
        for api in apis {
            let key = if api.context.contains("{version}") {
                api.context.replace("{version}", &api.version)
            } else {
                format!("{}/{}", api.context.trim_end_matches('/'), api.version)
            };
            r.by_prefix.insert(key, api.clone());
            r.by_id.insert(api.id.clone(), api);
        }
        r
    }

    pub fn api_by_id(&self, id: &str) -> Option<&Arc<Api>> {
        self.by_id.get(id)
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Longest API prefix of `path` (no query), then the most specific resource for `method`.
    pub fn route<'a>(&'a self, path: &str, method: &str) -> Route<'a> {
        let mut end = path.len();
        loop {
            let candidate = &path[..end];
            if let Some(api) = self.by_prefix.get(candidate) {
                let rest = &path[end..];
                let best =
                    api.resources.iter().filter(|r| r.verb == method && r.template.matches(rest)).max_by_key(|r| r.template.specificity());
                return match best {
                    Some(resource) => Route::Found { api, resource, prefix_len: end },
                    None => Route::NoResource(api),
                };
            }
            match candidate.rfind('/') {
                Some(0) | None => return Route::NoApi,
                Some(i) => end = i,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn compile_policy(name: &str, doc: &serde_json::Value) -> Result<Policy, String> {
        super::compile_policy(name, &ThrottlePolicy::from_value(doc).map_err(|e| e.to_string())?)
    }

    #[test]
    fn policies_compile_with_their_windows() {
        let gold = json!({"defaultLimit":{"type":"REQUESTCOUNTLIMIT","requestCount":{"timeUnit":"min","unitTime":1,"requestCount":5000}},
            "rateLimitCount": 10, "rateLimitTimeUnit": "sec", "stopOnQuotaReach": false});
        let p = compile_policy("Gold", &gold).expect("compiles");
        assert_eq!(p.limit.as_ref().map(|l| (l.quota, l.window_ms)), Some((Quota::Requests(5000), 60_000)));
        assert_eq!(p.burst.map(|l| (l.quota, l.window_ms)), Some((Quota::Requests(10), 1000)));
        assert!(!p.stop_on_quota_reach);
        let bw =
            json!({"defaultLimit":{"type":"BANDWIDTHLIMIT","bandwidth":{"timeUnit":"hour","unitTime":2,"dataAmount":3,"dataUnit":"MB"}}});
        let p = compile_policy("bw", &bw).expect("compiles");
        assert_eq!(p.limit.map(|l| (l.quota, l.window_ms)), Some((Quota::Bytes(3 << 20), 7_200_000)));
        assert!(
            compile_policy(
                "x",
                &json!({"defaultLimit":{"type":"REQUESTCOUNTLIMIT","requestCount":{"timeUnit":"fortnight","requestCount":1}}})
            )
            .is_err()
        );
        assert!(compile_policy("Unlimited", &json!({})).expect("unlimited").limit.is_none());
    }

    #[test]
    fn ip_ranges_include_both_ends() {
        let a: IpAddr = "10.0.0.1".parse().expect("ip");
        let z: IpAddr = "10.0.0.9".parse().expect("ip");
        assert!(in_range("10.0.0.1".parse().expect("ip"), a, z));
        assert!(in_range("10.0.0.9".parse().expect("ip"), a, z));
        assert!(!in_range("10.0.1.0".parse().expect("ip"), a, z));
        assert!(in_range("::ffff:10.0.0.5".parse().expect("ip"), a, z));
    }

    #[test]
    fn condition_values_are_found_as_regular_expressions() {
        let p = Pattern::new("^Mozilla/5\\.0.*Firefox".into());
        assert!(p.found_in("Mozilla/5.0 (X11) Gecko Firefox/118"));
        assert!(!p.found_in("curl/8.0 Mozilla/5.0 Firefox"));
        assert!(Pattern::new("gold".into()).found_in("tier-gold-1"), "found anywhere, as regex:find");
        let literal = Pattern::new("a(b".into());
        assert!(literal.found_in("xa(by"), "an invalid expression is looked for literally");
        assert!(!literal.found_in("ab"));
    }
}
