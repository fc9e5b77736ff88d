//! Where an API is invoked: its gateway URLs in each environment a revision of it is deployed to (on the vhost
//! the deployment named, with the environment's ports and context). The DevPortal answers them as an API's
//! `endpointURLs` and as the `servers` of the definition it serves; the URLs themselves come from
//! [`crate::Environment::url`], as the Publisher's settings do.

use apim_domain::api::ApiRecord;
use apim_store::ApiStore;
use serde_json::{Map, Value, json};

use crate::error::Result;
use crate::{ControlPlane, Environment};

/// One environment an API is deployed to, with the host its deployment serves it on.
pub(crate) struct Endpoint {
    pub env: Environment,
    pub vhost: String,
}

/// The environments the API is deployed to and shown in the DevPortal (`displayOnDevportal`), in deployment
/// order: two reads, the deployments and the environments. A deployment to an environment no longer configured
/// is left out (no URL can be given for it).
pub(crate) async fn deployed(cp: &ControlPlane, api_id: &str) -> Result<Vec<Endpoint>> {
    let deployments = cp.db.deployments(api_id).await?;
    if deployments.is_empty() {
        return Ok(Vec::new());
    }
    let envs = cp.environments().await?;
    let mut out = Vec::new();
    for d in deployments.into_iter().filter(|d| d.display_on_devportal) {
        if let Some(env) = envs.iter().find(|e| e.name == d.environment) {
            out.push(Endpoint { env: env.clone(), vhost: d.vhost });
        }
    }
    Ok(out)
}

/// The URL schemes clients reach the API with: ws and wss for a WebSocket API, else http and https as its
/// `transport` allows (both when it names neither).
fn schemes(api: &ApiRecord, doc: &Value) -> Vec<&'static str> {
    if api.api_type.eq_ignore_ascii_case("WS") {
        return vec!["ws", "wss"];
    }
    let transports: Vec<&str> = doc.get("transport").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
    let allowed: Vec<&'static str> = ["http", "https"].into_iter().filter(|s| transports.contains(s)).collect();
    if allowed.is_empty() { vec!["http", "https"] } else { allowed }
}

/// The API's path on a gateway: its context with the version (in place of `{version}`, or appended).
pub(crate) fn versioned_path(api: &ApiRecord) -> String {
    if api.context.contains("{version}") {
        api.context.replace("{version}", &api.version)
    } else {
        format!("{}/{}", api.context.trim_end_matches('/'), api.version)
    }
}

/// The path the default version of an API is also served at: its context without the version.
fn default_path(api: &ApiRecord) -> String {
    let path = api.context.replace("/{version}", "").replace("{version}", "");
    let path = path.trim_end_matches('/');
    if path.is_empty() { "/".into() } else { path.to_string() }
}

/// WSO2's DevPortal `endpointURLs`: per environment its name, display name, type and URLs by scheme, plus the
/// version-less URLs when the API is the default version.
pub(crate) fn endpoint_urls(api: &ApiRecord, doc: &Value, endpoints: &[Endpoint]) -> Vec<Value> {
    let schemes = schemes(api, doc);
    let is_default = doc.get("isDefaultVersion").and_then(Value::as_bool).unwrap_or(false);
    let urls = |e: &Endpoint, path: &str| -> Value {
        let mut m = Map::new();
        for s in &schemes {
            m.insert((*s).into(), json!(format!("{}{path}", e.env.url(s, &e.vhost))));
        }
        Value::Object(m)
    };
    endpoints
        .iter()
        .map(|e| {
            let mut v = json!({"environmentName": e.env.name, "environmentDisplayName": e.env.name, "environmentType": e.env.kind,
                               "URLs": urls(e, &versioned_path(api))});
            if is_default {
                v["defaultVersionURLs"] = urls(e, &default_path(api));
            }
            v
        })
        .collect()
}

/// The definition with the API's gateway URLs in `endpoints` as where it is served: OpenAPI 3's `servers`
/// (https first, as WSO2 lists them), or Swagger 2.0's `host`, `basePath` and `schemes` (from the first
/// environment, the only one Swagger 2.0 can name).
pub(crate) fn with_servers(mut definition: Value, api: &ApiRecord, doc: &Value, endpoints: &[Endpoint]) -> Value {
    let mut schemes = schemes(api, doc);
    schemes.reverse();
    let path = versioned_path(api);
    let Some(o) = definition.as_object_mut() else { return definition };
    if o.contains_key("swagger") {
        if let Some(e) = endpoints.first() {
            let base = e.env.url(schemes[0], &e.vhost);
            let host = base.split_once("://").map(|(_, rest)| rest.split('/').next().unwrap_or("")).unwrap_or("");
            o.insert("host".into(), json!(host));
            o.insert("basePath".into(), json!(format!("{}{path}", e.env.ports.http_context)));
            o.insert("schemes".into(), json!(schemes));
        }
        return definition;
    }
    let mut servers = Vec::new();
    for e in endpoints {
        for s in &schemes {
            servers.push(json!({"url": format!("{}{path}", e.env.url(s, &e.vhost))}));
        }
    }
    o.insert("servers".into(), Value::Array(servers));
    definition
}
