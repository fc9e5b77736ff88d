//! The API document: WSO2's publisher DTO, validated field by field (a bad field is a 400 naming it) and
//! normalised (defaults filled in). Unknown fields are kept as they are: WSO2's DTO has many we do not act on.

use apim_domain::api::{ApiRecord, ApiStatus, EventDraft};
use apim_wire::hub::{EventHeader, EventKind};
use serde_json::{Map, Value, json};

use crate::error::{ApiError, Result};

const VERBS: [&str; 7] = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"];
const AUTH_TYPES: [&str; 5] = ["Application & Application User", "Application", "Application User", "None", "Any"];
const SECURITY: [&str; 6] = ["oauth2", "api_key", "basic_auth", "mutualssl", "oauth_basic_auth_api_key_mandatory", "mutualssl_mandatory"];
/// Paths the management port itself serves; an API context may not shadow them.
const RESERVED: [&str; 6] = ["/api/am", "/oauth2", "/health", "/internal", "/client-registration", "/keymanager-operations"];

/// API fields `normalize` validates itself (the rest go through `spec::pass_through`).
const HANDLED: &[&str] = &[
    "id",
    "name",
    "version",
    "context",
    "provider",
    "lifeCycleStatus",
    "type",
    "transport",
    "policies",
    "apiThrottlingPolicy",
    "securityScheme",
    "visibility",
    "visibleRoles",
    "tags",
    "description",
    "isDefaultVersion",
    "endpointConfig",
    "operations",
    "createdTime",
    "lastUpdatedTime",
    "gatewayVendor",
    "x-apim-definition",
    // Checked by `apim_domain::policy` (WSO2's document types `parameters` values as objects; clients send strings).
    "apiPolicies",
];

/// Fields the server answers and never stores as given: a client's value (a portal PUTs back what it read) is
/// dropped, and `publisher::doc_of` answers them from the record (`createdTime` and `lastUpdatedTime` are stored
/// for revisions' sake, but answered from the columns too).
pub const COMPUTED: &[&str] =
    &["hasThumbnail", "isRevision", "revisionId", "revisionedApiId", "workflowStatus", "lastUpdatedTimestamp", "wsdlUrl"];

/// Policy names that exist, by level, for validation.
pub struct PolicyNames {
    pub subscription: Vec<String>,
    pub api: Vec<String>,
    /// Uploaded operation policies an attachment may name: the common ones and the API's own (no other API's).
    pub operation: Vec<apim_store::OperationPolicyRecord>,
}

fn str_of<'a>(o: &'a Map<String, Value>, field: &str) -> Result<Option<&'a str>> {
    match o.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::field(field, "must be a string")),
    }
}

fn strings_of(o: &Map<String, Value>, field: &str) -> Result<Option<Vec<String>>> {
    match o.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for i in items {
                out.push(i.as_str().ok_or_else(|| ApiError::field(field, "must be a list of strings"))?.to_string());
            }
            Ok(Some(out))
        }
        Some(_) => Err(ApiError::field(field, "must be a list of strings")),
    }
}

fn bool_of(o: &Map<String, Value>, field: &str, default: bool) -> Result<bool> {
    match o.get(field) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(ApiError::field(field, "must be true or false")),
    }
}

/// An `http(s)://host[:port][/path]` URL.
pub fn valid_url(u: &str) -> bool {
    let Some(rest) = u.strip_prefix("http://").or_else(|| u.strip_prefix("https://")) else { return false };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = if authority.starts_with('[') {
        authority.split(']').next().unwrap_or("")
    } else {
        authority.rsplit_once(':').map(|(h, _)| h).unwrap_or(authority)
    };
    if let Some((_, port)) = authority.rsplit_once(':').filter(|_| !authority.ends_with(']'))
        && !authority.starts_with('[')
        && port.parse::<u16>().is_err()
    {
        return false;
    }
    !host.is_empty() && !u.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// `ws`: a WebSocket API, whose endpoints are `ws://` or `wss://` URLs.
fn endpoint_urls(v: &Value, field: &str, ws: bool) -> Result<()> {
    let items: Vec<&Value> = match v {
        Value::Array(a) => a.iter().collect(),
        Value::Object(_) => vec![v],
        Value::Null => return Ok(()),
        _ => return Err(ApiError::field(field, "must be an endpoint object {\"url\": ...} or a list of them")),
    };
    for item in items {
        let url = item.get("url").and_then(Value::as_str).ok_or_else(|| ApiError::field(field, "each endpoint needs a `url`"))?;
        if ws {
            let as_http = url
                .strip_prefix("ws://")
                .map(|r| format!("http://{r}"))
                .or_else(|| url.strip_prefix("wss://").map(|r| format!("https://{r}")));
            if !as_http.is_some_and(|u| valid_url(&u)) {
                return Err(ApiError::field(field, format!("`{url}` is not a ws or wss URL")));
            }
        } else if !valid_url(url) {
            return Err(ApiError::field(field, format!("`{url}` is not an http or https URL")));
        }
    }
    Ok(())
}

fn validate_endpoint_config(v: &Value, ws: bool) -> Result<()> {
    let o = v.as_object().ok_or_else(|| ApiError::field("endpointConfig", "must be an object"))?;
    let kind = o.get("endpoint_type").and_then(Value::as_str).unwrap_or("http");
    if !["http", "load_balance", "failover", "address"].contains(&kind) {
        return Err(ApiError::field(
            "endpointConfig.endpoint_type",
            format!("`{kind}` is not one of http, load_balance, failover, address"),
        ));
    }
    for f in ["production_endpoints", "sandbox_endpoints", "production_failovers", "sandbox_failovers"] {
        if let Some(e) = o.get(f) {
            endpoint_urls(e, &format!("endpointConfig.{f}"), ws)?;
        }
    }
    if let Some(sec) = o.get("endpoint_security")
        && !sec.is_object()
        && !sec.is_null()
    {
        return Err(ApiError::field("endpointConfig.endpoint_security", "must be an object"));
    }
    Ok(())
}

/// Validates `body` and returns the normalised document plus the columns. `existing` is the stored API on
/// update: name, version and context cannot change there.
/// WSO2's `maxLength`s: a longer string field is a 400 naming it (WSO2's documents promise the limits in responses,
/// so they hold on the way in).
pub fn max_lengths(o: &Map<String, Value>, limits: &[(&str, usize)]) -> Result<()> {
    for (field, max) in limits {
        if let Some(Value::String(s)) = o.get(*field)
            && s.chars().count() > *max
        {
            return Err(ApiError::field(field, format!("must be at most {max} characters")));
        }
    }
    Ok(())
}

/// A normalised API document with its id, name, version and context.
pub type Normalized = (Map<String, Value>, String, String, String, String);

pub fn normalize(body: Value, existing: Option<&ApiRecord>, provider: &str, policies: &PolicyNames, now_ms: i64) -> Result<Normalized> {
    let Value::Object(mut o) = body else { return Err(ApiError::bad_request("the body must be a JSON object (an API)")) };
    // null means absent, as in WSO2's DTOs.
    o.retain(|k, v| !v.is_null() && !COMPUTED.contains(&k.as_str()));
    max_lengths(&o, &[("description", 32766), ("context", 232), ("version", 30), ("provider", 200)])?;
    let name = str_of(&o, "name")?.map(str::trim).unwrap_or("").to_string();
    if name.is_empty() {
        return Err(ApiError::field("name", "is required"));
    }
    if name.chars().count() > 60 || name.chars().any(|c| "~!@#;:%^*()+={}|\\<>\"',&$[]/".contains(c) || c.is_control()) {
        return Err(ApiError::field("name", "must be at most 60 characters without ~!@#;:%^*()+={}|\\<>\"',&$[]/"));
    }
    let version = str_of(&o, "version")?.map(str::trim).unwrap_or("").to_string();
    if version.is_empty() || version.len() > 30 || !version.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) {
        return Err(ApiError::field("version", "is required: 1 to 30 letters, digits, dots, dashes or underscores"));
    }
    let raw_context = str_of(&o, "context")?.map(str::trim).unwrap_or("");
    if raw_context.is_empty() {
        return Err(ApiError::field("context", "is required"));
    }
    let mut context = if raw_context.starts_with('/') { raw_context.to_string() } else { format!("/{raw_context}") };
    while context.len() > 1 && context.ends_with('/') {
        context.pop();
    }
    if context == "/" || context.contains("//") || !context.chars().all(|c| c.is_ascii_alphanumeric() || "/_.-{}".contains(c)) {
        return Err(ApiError::field(
            "context",
            format!("`{raw_context}` is not a valid context (letters, digits, / _ . - and {{version}})"),
        ));
    }
    // Gateways route on the canonical path (dot segments removed), so `/a/../b` would be served at `/b`.
    if context.split('/').any(|seg| seg == "." || seg == "..") {
        return Err(ApiError::field("context", format!("`{raw_context}` has a `.` or `..` segment")));
    }
    if RESERVED.iter().any(|r| context == *r || context.starts_with(&format!("{r}/"))) {
        return Err(ApiError::field("context", format!("`{context}` is reserved by the management API")));
    }
    if let Some(old) = existing {
        for (field, new, old) in [("name", &name, &old.name), ("version", &version, &old.version), ("context", &context, &old.context)] {
            if new != old {
                return Err(ApiError::field(
                    field,
                    format!("cannot change after creation (is `{old}`); copy the API to a new version instead"),
                ));
            }
        }
    }
    let api_type = str_of(&o, "type")?.unwrap_or("HTTP").to_ascii_uppercase();
    if api_type != "HTTP" && api_type != "WS" {
        return Err(ApiError::field("type", format!("`{api_type}` is not supported (HTTP or WS)")));
    }
    let transport = strings_of(&o, "transport")?
        .unwrap_or_else(|| if api_type == "WS" { vec!["ws".into(), "wss".into()] } else { vec!["http".into(), "https".into()] });
    if let Some(t) = transport.iter().find(|t| !["http", "https", "ws", "wss"].contains(&t.as_str())) {
        return Err(ApiError::field("transport", format!("`{t}` is not one of http, https, ws, wss")));
    }
    let tiers = strings_of(&o, "policies")?.unwrap_or_else(|| vec!["Unlimited".into()]);
    if let Some(t) = tiers.iter().find(|t| !policies.subscription.contains(t)) {
        return Err(ApiError::field(
            "policies",
            format!("`{t}` is not a subscription throttling policy (known: {})", policies.subscription.join(", ")),
        ));
    }
    if let Some(p) = str_of(&o, "apiThrottlingPolicy")?
        && !policies.api.iter().any(|x| x == p)
    {
        return Err(ApiError::field(
            "apiThrottlingPolicy",
            format!("`{p}` is not an advanced throttling policy (known: {})", policies.api.join(", ")),
        ));
    }
    let security = strings_of(&o, "securityScheme")?.unwrap_or_else(|| vec!["oauth2".into(), "oauth_basic_auth_api_key_mandatory".into()]);
    if let Some(s) = security.iter().find(|s| !SECURITY.contains(&s.as_str())) {
        return Err(ApiError::field("securityScheme", format!("`{s}` is not one of {}", SECURITY.join(", "))));
    }
    let visibility = str_of(&o, "visibility")?.unwrap_or("PUBLIC").to_ascii_uppercase();
    if !["PUBLIC", "PRIVATE", "RESTRICTED"].contains(&visibility.as_str()) {
        return Err(ApiError::field("visibility", format!("`{visibility}` is not one of PUBLIC, PRIVATE, RESTRICTED")));
    }
    let visible_roles = strings_of(&o, "visibleRoles")?.unwrap_or_default();
    if visibility == "RESTRICTED" && visible_roles.is_empty() {
        return Err(ApiError::field("visibleRoles", "RESTRICTED visibility needs at least one role"));
    }
    let tags = strings_of(&o, "tags")?.unwrap_or_default();
    let description = str_of(&o, "description")?.map(str::to_string);
    let is_default = bool_of(&o, "isDefaultVersion", false)?;
    if let Some(ec) = o.get("endpointConfig").filter(|v| !v.is_null()) {
        validate_endpoint_config(ec, api_type == "WS")?;
    }
    if let Some(c) = o.get("corsConfiguration").filter(|v| !v.is_null())
        && !c.is_object()
    {
        return Err(ApiError::field("corsConfiguration", "must be an object"));
    }
    let ops = match o.get("operations") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => return Err(ApiError::field("operations", "must be a list")),
    };
    let mut operations = Vec::with_capacity(ops.len());
    for (i, op) in ops.into_iter().enumerate() {
        let field = format!("operations[{i}]");
        let Value::Object(mut op) = op else { return Err(ApiError::field(&field, "must be an object")) };
        let target = str_of(&op, "target").map_err(|_| ApiError::field(&format!("{field}.target"), "must be a string"))?.unwrap_or("");
        if !target.starts_with('/') || target.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ApiError::field(&format!("{field}.target"), format!("`{target}` must be a path starting with /")));
        }
        let verb = str_of(&op, "verb")
            .map_err(|_| ApiError::field(&format!("{field}.verb"), "must be a string"))?
            .unwrap_or("")
            .to_ascii_uppercase();
        if !VERBS.contains(&verb.as_str()) {
            return Err(ApiError::field(&format!("{field}.verb"), format!("`{verb}` is not one of {}", VERBS.join(", "))));
        }
        let auth = str_of(&op, "authType")
            .map_err(|_| ApiError::field(&format!("{field}.authType"), "must be a string"))?
            .unwrap_or("Application & Application User")
            .to_string();
        if !AUTH_TYPES.contains(&auth.as_str()) {
            return Err(ApiError::field(&format!("{field}.authType"), format!("`{auth}` is not one of {}", AUTH_TYPES.join(", "))));
        }
        let tp = str_of(&op, "throttlingPolicy")
            .map_err(|_| ApiError::field(&format!("{field}.throttlingPolicy"), "must be a string"))?
            .unwrap_or("Unlimited")
            .to_string();
        if !policies.api.contains(&tp) {
            return Err(ApiError::field(&format!("{field}.throttlingPolicy"), format!("`{tp}` is not an advanced throttling policy")));
        }
        let scopes = strings_of(&op, "scopes")
            .map_err(|_| ApiError::field(&format!("{field}.scopes"), "must be a list of strings"))?
            .unwrap_or_default();
        if operations.iter().any(|o: &Value| o["target"] == target && o["verb"] == verb.as_str()) {
            return Err(ApiError::field(&field, format!("{verb} {target} is listed twice")));
        }
        let target = target.to_string();
        // Policies are checked here, so gateways never meet one they cannot run.
        if let Some(p) = op.get_mut("operationPolicies") {
            apim_domain::policy::parse_flows(p).map_err(|e| ApiError::field(&format!("{field}.operationPolicies.{}", e.at), e.message))?;
            crate::operation_policies::resolve_attachments(p, &format!("{field}.operationPolicies"), &policies.operation)?;
        }
        crate::spec::pass_through(
            false,
            "APIOperations",
            &mut op,
            &["target", "verb", "authType", "throttlingPolicy", "scopes", "operationPolicies"],
        )
        .map_err(|(f, m)| ApiError::field(&format!("{field}.{f}"), m))?;
        op.insert("target".into(), json!(target));
        op.insert("verb".into(), json!(verb));
        op.insert("authType".into(), json!(auth));
        op.insert("throttlingPolicy".into(), json!(tp));
        op.insert("scopes".into(), json!(scopes));
        operations.push(Value::Object(op));
    }
    // The gateway reads these header names: HTTP token characters WSO2's pattern also allows; empty means the
    // default.
    for key in ["authorizationHeader", "apiKeyHeader"] {
        match o.get(key) {
            Some(Value::String(h)) if h.is_empty() => {
                o.remove(key);
            }
            Some(Value::String(h)) if !h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.') => {
                return Err(ApiError::field(key, format!("`{h}` is not a header name (letters, digits, '-', '_' and '.')")));
            }
            _ => {}
        }
    }
    if let Some(p) = o.get_mut("apiPolicies") {
        apim_domain::policy::parse_flows(p).map_err(|e| ApiError::field(&format!("apiPolicies.{}", e.at), e.message))?;
        crate::operation_policies::resolve_attachments(p, "apiPolicies", &policies.operation)?;
    }
    // Fields WSO2 defines that this version only stores: the right type, or a 400; others are dropped.
    crate::spec::pass_through(false, "API", &mut o, HANDLED).map_err(|(f, m)| ApiError::field(&f, m))?;
    derive_property_forms(&mut o);
    let provider = existing
        .map(|e| e.provider.clone())
        .or_else(|| str_of(&o, "provider").ok().flatten().map(str::to_string))
        .unwrap_or_else(|| provider.to_string());
    let id = existing.map(|e| e.id.clone()).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let status = existing.map(|e| e.status.clone()).unwrap_or(ApiStatus::Created);
    let created = existing.map(|e| e.created_at * 1000).unwrap_or(now_ms);
    for (k, v) in [
        ("id", json!(id)),
        ("name", json!(name)),
        ("version", json!(version)),
        ("context", json!(context)),
        ("provider", json!(provider)),
        ("lifeCycleStatus", json!(status)),
        ("type", json!(api_type)),
        ("transport", json!(transport)),
        ("policies", json!(tiers)),
        ("securityScheme", json!(security)),
        ("visibility", json!(visibility)),
        ("visibleRoles", json!(visible_roles)),
        ("tags", json!(tags)),
        ("isDefaultVersion", json!(is_default)),
        ("operations", Value::Array(operations)),
        ("createdTime", json!(created.to_string())),
        ("lastUpdatedTime", json!(now_ms.to_string())),
        ("gatewayVendor", json!("wso2")),
    ] {
        o.insert(k.into(), v);
    }
    if let Some(d) = description {
        o.insert("description".into(), json!(d));
    }
    o.entry("authorizationHeader").or_insert(json!("Authorization"));
    o.entry("apiKeyHeader").or_insert(json!("ApiKey"));
    // What gateways will run of it must read as their typed definition: checked here, once, so a revision
    // never reaches a gateway that would have to leave it out.
    if let Err(e) = apim_wire::ApiDefinition::from_value(&Value::Object(o.clone())) {
        return Err(ApiError::bad_request(format!("gateways cannot run this API: {e}")));
    }
    Ok((o, id, name, version, context))
}

/// WSO2 answers an API's custom properties both as a list (`additionalProperties`) and as a map by name
/// (`additionalPropertiesMap`); clients send either. The form left out is derived from the other; both given
/// are kept as given.
fn derive_property_forms(o: &mut Map<String, Value>) {
    match (o.get("additionalProperties"), o.get("additionalPropertiesMap")) {
        (Some(Value::Array(list)), None) => {
            let mut map = Map::new();
            for p in list {
                if let Some(name) = p.get("name").and_then(Value::as_str) {
                    map.insert(name.to_string(), p.clone());
                }
            }
            o.insert("additionalPropertiesMap".into(), Value::Object(map));
        }
        (None, Some(Value::Object(map))) => {
            let mut list = Vec::with_capacity(map.len());
            for (name, p) in map {
                let mut p = p.clone();
                if let Some(po) = p.as_object_mut() {
                    po.entry("name").or_insert_with(|| json!(name));
                }
                list.push(p);
            }
            o.insert("additionalProperties".into(), Value::Array(list));
        }
        _ => {}
    }
}

/// A strong entity tag for an answered representation (FNV-1a over its JSON text): equal bodies, equal tags.
pub fn etag(answer: &Value) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in answer.to_string().bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("\"{h:016x}\"")
}

/// Whether an `If-Match` header value lets a change to the representation tagged `current` through: `*`, or
/// one of the listed tags, compared strongly (RFC 9110: a weak tag never matches).
pub fn if_match_allows(header: &str, current: &str) -> bool {
    header.split(',').map(str::trim).any(|t| t == "*" || t == current)
}

/// WSO2's APIEvent payload, plus `gatewayLabels` for deployment events.
pub fn api_event(kind: EventKind, api: &ApiRecord, extra: Value) -> EventDraft {
    let doc: Value = serde_json::from_str(&api.document).unwrap_or(Value::Null);
    let fields = json!({
        "apiId": api.id,
        "uuid": api.id,
        "apiName": api.name,
        "apiVersion": api.version,
        "apiContext": api.context,
        "apiProvider": api.provider,
        "apiType": api.api_type,
        "apiStatus": api.status,
        "securityScheme": doc.get("securityScheme").cloned().unwrap_or(Value::Null),
        "apiVisibility": doc.get("visibility").cloned().unwrap_or(Value::Null),
    });
    draft(kind, [fields, extra])
}

/// A WSO2 event: the header every event carries, plus `fields`.
pub fn event(kind: EventKind, fields: Value) -> EventDraft {
    draft(kind, [fields])
}

/// The header (`apim_wire::hub::EventHeader`: id, time, type, tenant) followed by each object of `parts`.
fn draft<const N: usize>(kind: EventKind, parts: [Value; N]) -> EventDraft {
    // The event's own time stamp, not a decision: the system clock.
    let now_ms = apim_domain::clock::Clock::system().unix_ms();
    let mut payload = serde_json::to_value(EventHeader::new(kind, uuid::Uuid::new_v4().to_string(), now_ms)).unwrap_or(Value::Null);
    if let Value::Object(p) = &mut payload {
        for part in parts {
            if let Value::Object(f) = part {
                p.extend(f);
            }
        }
    }
    EventDraft { event_type: kind.as_str().to_string(), payload: payload.to_string() }
}
