//! `GET /apis/export` and `POST /apis/import`: an API as apictl's project archive (`project.rs`), WSO2 4.x's
//! import/export. An import is checked whole first (archive bounds, envelopes, the API as `POST /apis` checks it,
//! documents, thumbnail, params, environments), then written in one transaction (`ImportStore::import_api`): the
//! API created or replaced, its documents and thumbnail, and, when the project names deployment environments, a
//! revision deployed to them, with their events; a failure leaves nothing changed.

use std::collections::HashMap;
use std::sync::Arc;

use apim_domain::api::{ApiRecord, ApiStatus, Deployment, LifecycleEntry, Revision};
use apim_store::{ApiFilter, ApiImport, ApiStore, ContentStore, DocContent, ImportStore};
use apim_wire::hub::EventKind;
use axum::Json;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};

use crate::ControlPlane;
use crate::error::{ApiError, Result};
use crate::model::{api_event, normalize};
use crate::project::{self, Format, Project};
use crate::publisher::{DEFINITION, MAX_REVISIONS};

const EXPORT: &[&str] = &["apim:api_view", "apim:api_publish", "apim:api_create", "apim:api_import_export", "apim:api_manage"];
const IMPORT: &[&str] = &["apim:api_import_export", "apim:admin"];
const PRODUCT_IMPORT: &[&str] = &["apim:api_product_import_export", "apim:api_import_export", "apim:admin"];
/// Who may export backend credentials as stored (`preserveCredentials=true`).
const CREDENTIALS: &[&str] = &["apim:api_import_export", "apim:api_create", "apim:api_manage"];
/// The largest import body: an archive and the form around it.
const BODY_MAX: usize = crate::archive::ARCHIVE_MAX + (64 << 10);

pub fn publisher_routes() -> axum::Router<Arc<ControlPlane>> {
    axum::Router::new()
        .route("/apis/export", get(export::<false>))
        .route("/apis/import", post(import).layer(DefaultBodyLimit::max(BODY_MAX)))
        .route("/api-products/export", get(export::<true>))
        .route("/api-products/import", post(import_product).layer(DefaultBodyLimit::max(BODY_MAX)))
}

pub(crate) fn flag(p: &HashMap<String, String>, name: &str, default: bool) -> Result<bool> {
    match p.get(name).map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(default),
        Some(v) if v.is_empty() => Ok(default),
        Some(v) if v == "true" => Ok(true),
        Some(v) if v == "false" => Ok(false),
        Some(v) => Err(ApiError::field(name, format!("`{v}` is not true or false"))),
    }
}

/// The API named by `name`, `version` and (optionally) `providerName`, names compared as WSO2 does (without
/// regard to case).
pub(crate) async fn api_named(cp: &ControlPlane, name: &str, version: &str, provider: Option<&str>) -> Result<Option<ApiRecord>> {
    let filter = ApiFilter { name: Some(name.to_string()), version: Some(version.to_string()), ..ApiFilter::default() };
    let (list, _) = cp.db.list_apis(&filter, 100, 0).await?;
    Ok(list.into_iter().find(|a| a.name.eq_ignore_ascii_case(name) && a.version == version && provider.is_none_or(|p| a.provider == p)))
}

fn image_ext(media_type: &str) -> &'static str {
    match media_type {
        "image/png" => "png",
        "image/jpeg" => "jpg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        "image/svg+xml" => "svg",
        _ => "img",
    }
}

/// `GET /apis/export?apiId=|name=&version=[&providerName=][&format=YAML|JSON][&preserveStatus=]
/// [&latestRevision=|&revisionNumber=][&preserveCredentials=]`: the API's working copy, or one revision, as
/// apictl's project ZIP.
/// `GET /api-products/export` is the same for an API product, with the projects of the APIs it uses under
/// `APIs/<Name>-<version>/`.
async fn export<const PRODUCT: bool>(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Query(p): Query<HashMap<String, String>>,
) -> Result<Response> {
    let noun = if PRODUCT { "API product" } else { "API" };
    let who = cp.principal(&headers).await?;
    who.require(EXPORT)?;
    let format = match p.get("format").map(|f| f.to_ascii_uppercase()) {
        None => Format::Yaml,
        Some(f) if f.is_empty() || f == "YAML" => Format::Yaml,
        Some(f) if f == "JSON" => Format::Json,
        Some(f) => return Err(ApiError::field("format", format!("`{f}` is not YAML or JSON"))),
    };
    let preserve_status = flag(&p, "preserveStatus", true)?;
    let latest = flag(&p, "latestRevision", false)?;
    let credentials = flag(&p, "preserveCredentials", false)?;
    if credentials {
        who.require(CREDENTIALS)?;
    }
    let nonempty = |k: &str| p.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let ours = |a: &ApiRecord| crate::products::is_product(a) == PRODUCT;
    let api = match (nonempty("apiId"), nonempty("name")) {
        (Some(id), _) => cp.db.get_api(id).await?.filter(ours).ok_or_else(|| ApiError::not_found(format!("{noun} {id} not found")))?,
        (None, Some(name)) => {
            let version = nonempty("version").ok_or_else(|| ApiError::field("version", "is required with name"))?;
            let provider = nonempty("providerName");
            api_named(&cp, name, version, provider).await?.filter(ours).ok_or_else(|| {
                ApiError::not_found(format!(
                    "{noun} {name} {version}{} not found",
                    provider.map(|p| format!(" of {p}")).unwrap_or_default()
                ))
            })?
        }
        (None, None) => {
            return Err(ApiError::field(if PRODUCT { "name" } else { "apiId" }, format!("name the {noun}: apiId, or name and version")));
        }
    };
    let revisions = cp.db.list_revisions(&api.id).await?;
    let revision = match nonempty("revisionNumber") {
        Some(n) => {
            let number: i64 = n.parse().map_err(|_| ApiError::field("revisionNumber", format!("`{n}` is not a revision number")))?;
            Some(
                revisions
                    .iter()
                    .find(|r| r.number == number)
                    .ok_or_else(|| ApiError::not_found(format!("revision {number} of {noun} {} not found", api.id)))?,
            )
        }
        None if latest => Some(
            revisions.iter().max_by_key(|r| r.number).ok_or_else(|| ApiError::not_found(format!("{noun} {} has no revision", api.id)))?,
        ),
        None => None,
    };
    // A revision is exported as the API it snapshots; its state is the API's.
    let record = match revision {
        Some(r) => ApiRecord { document: r.document.clone(), ..api.clone() },
        None => api.clone(),
    };
    let kind = if PRODUCT { project::Kind::Product } else { project::Kind::Api };
    let mut files = project_files(&cp, &record, revision, format, (preserve_status, credentials), kind).await?;
    if PRODUCT {
        let doc: Value = serde_json::from_str(&record.document).unwrap_or(Value::Null);
        for id in doc.get("apis").and_then(Value::as_array).into_iter().flatten().filter_map(|a| a.get("apiId").and_then(Value::as_str)) {
            let Some(used) = cp.db.get_api(id).await? else { continue };
            let folder = format!("APIs/{}-{}", project::segment(&used.name), project::segment(&used.version));
            for (path, bytes) in project_files(&cp, &used, None, format, (preserve_status, credentials), project::Kind::Api).await? {
                files.push((format!("{folder}/{path}"), bytes));
            }
        }
    }
    let top = format!("{}-{}", api.name, api.version);
    let zip = tokio::task::spawn_blocking(move || project::write(&top, &files))
        .await
        .map_err(|e| ApiError::unavailable(format!("writing the export archive failed: {e}")))??;
    let file_name = match revision {
        Some(r) => format!("{}_{}_Revision-{}.zip", api.name, api.version, r.number),
        None => format!("{}_{}.zip", api.name, api.version),
    };
    let safe: String = file_name.chars().filter(|c| c.is_ascii_graphic() && *c != '"' && *c != '\\').collect();
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{safe}\"")).unwrap_or(HeaderValue::from_static("attachment"));
    tracing::info!(api_id = %api.id, revision = ?revision.map(|r| r.number), user = %who.username, "{noun} exported");
    Ok(([(header::CONTENT_TYPE, HeaderValue::from_static("application/zip")), (header::CONTENT_DISPOSITION, disposition)], zip)
        .into_response())
}

/// The files of `record`'s project (the API or product as it is, or as `revision` snapshots it): its main file,
/// definition, documents, thumbnail and the environments the revision (or any) is deployed to. `keep` is
/// (preserveStatus, preserveCredentials).
async fn project_files(
    cp: &ControlPlane,
    record: &ApiRecord,
    revision: Option<&Revision>,
    format: Format,
    (preserve_status, credentials): (bool, bool),
    kind: project::Kind,
) -> Result<Vec<(String, Vec<u8>)>> {
    let mut dto = crate::publisher::doc_of(record);
    if !preserve_status {
        dto["lifeCycleStatus"] = json!(ApiStatus::Created);
    }
    if credentials {
        let stored: Value = serde_json::from_str(&record.document).unwrap_or(Value::Null);
        if let Some(ec) = stored.get("endpointConfig") {
            dto["endpointConfig"] = ec.clone();
        }
    }
    let thumbnail = cp.db.thumbnail(&record.id).await?;
    dto["hasThumbnail"] = json!(thumbnail.is_some());
    if kind == project::Kind::Product {
        let status = if preserve_status { record.status.clone() } else { ApiStatus::Created };
        crate::products::shape(&mut dto, &status);
    }
    let ext = format.ext();
    let mut files = vec![(format!("{}.{ext}", kind.envelope()), project::enveloped(kind.envelope(), dto, format)?)];
    files.push((format!("Definitions/swagger.{ext}"), project::text_of(&crate::publisher::served_definition(record), format)?));
    for (rec, content) in cp.db.docs_with_content(&record.id).await? {
        let (mut data, file) = crate::docs::for_project(&rec)?;
        if let Some(o) = data.as_object_mut() {
            for k in ["createdTime", "createdBy", "lastUpdatedTime", "lastUpdatedBy"] {
                o.remove(k);
            }
        }
        let folder = format!("Docs/{}", project::segment(&rec.name));
        files.push((format!("{folder}/document.{ext}"), project::enveloped("document", data, format)?));
        if let (Some(file), Some(content)) = (file, content) {
            let bytes = match content {
                DocContent::Text(t) => t.into_bytes(),
                DocContent::File { bytes, .. } => bytes,
            };
            files.push((format!("{folder}/{}", project::segment(&file)), bytes));
        }
    }
    if let Some((media_type, bytes)) = thumbnail {
        files.push((format!("Image/icon.{}", image_ext(&media_type)), bytes));
    }
    let deployed: Vec<Value> = cp
        .db
        .deployments(&record.id)
        .await?
        .into_iter()
        .filter(|d| revision.is_none_or(|r| r.id == d.revision_id))
        .map(|d| json!({"deploymentEnvironment": d.environment, "deploymentVhost": d.vhost, "displayOnDevportal": d.display_on_devportal}))
        .collect();
    if !deployed.is_empty() {
        files.push((format!("deployment_environments.{ext}"), project::enveloped("deployment_environments", json!(deployed), format)?));
    }
    if kind == project::Kind::Api {
        files.extend(crate::operation_policies::project_files(cp, &record.id).await?);
        files.extend(certificate_files(cp, record, format).await?);
    }
    Ok(files)
}

/// `Endpoint-certificates/` (the environment's endpoint certificates for the API's endpoints' scheme, host and port)
/// and `Client-certificates/` (the API's, or the revision's), each a list beside the `.crt` files it names.
async fn certificate_files(cp: &ControlPlane, record: &ApiRecord, format: Format) -> Result<Vec<(String, Vec<u8>)>> {
    use crate::certificates::{endpoint_key, endpoint_urls};
    let stored: Value = serde_json::from_str(&record.document).unwrap_or(Value::Null);
    let ext = format.ext();
    let mut files = Vec::new();
    let keys: Vec<_> = endpoint_urls(&stored).into_iter().filter_map(endpoint_key).collect();
    let endpoint: Vec<_> = if keys.is_empty() {
        Vec::new()
    } else {
        apim_store::EndpointCertificateStore::endpoint_certificates(&cp.db, None, None)
            .await?
            .into_iter()
            .filter(|c| endpoint_key(&c.endpoint).is_some_and(|k| keys.contains(&k)))
            .collect()
    };
    if !endpoint.is_empty() {
        let list: Vec<Value> = endpoint
            .iter()
            .map(|c| json!({"alias": c.alias, "endpoint": c.endpoint, "certificate": format!("{}.crt", project::segment(&c.alias))}))
            .collect();
        files.push((
            format!("Endpoint-certificates/endpoint_certificates.{ext}"),
            project::enveloped("endpoint_certificates", json!(list), format)?,
        ));
        for c in endpoint {
            files.push((format!("Endpoint-certificates/{}.crt", project::segment(&c.alias)), c.certificate.into_bytes()));
        }
    }
    let client = crate::client_certs::of(&stored);
    if !client.is_empty() {
        let identifier = json!({"providerName": record.provider, "apiName": record.name, "version": record.version});
        let list: Vec<Value> = client
            .iter()
            .map(|c| {
                let alias = c["alias"].as_str().unwrap_or("");
                json!({"alias": alias, "certificate": format!("{}.crt", project::segment(alias)), "tierName": c["tier"],
                       "keyType": c["keyType"], "apiIdentifier": identifier})
            })
            .collect();
        files.push((
            format!("Client-certificates/client_certificates.{ext}"),
            project::enveloped("client_certificates", json!(list), format)?,
        ));
        for c in &client {
            let alias = c["alias"].as_str().unwrap_or("");
            files.push((
                format!("Client-certificates/{}.crt", project::segment(alias)),
                c["certificate"].as_str().unwrap_or("").as_bytes().to_vec(),
            ));
        }
    }
    Ok(files)
}

/// The multipart field `file`'s bytes; a body larger than an archive may be is a 413, refused by its
/// `Content-Length` before it is read.
pub(crate) async fn upload(
    headers: &HeaderMap,
    multipart: std::result::Result<axum::extract::Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<axum::body::Bytes> {
    let too_large = || ApiError::too_large(format!("the archive is larger than {} MiB", crate::archive::ARCHIVE_MAX >> 20));
    let length = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if length.is_some_and(|n| n > BODY_MAX) {
        return Err(too_large());
    }
    let mut m = multipart.map_err(|e| ApiError::bad_request(format!("expected multipart/form-data: {e}")))?;
    loop {
        match m.next_field().await {
            Ok(Some(f)) if f.name() == Some("file") => {
                return f.bytes().await.map_err(|e| {
                    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                        too_large()
                    } else {
                        ApiError::field("file", format!("unreadable: {e}"))
                    }
                });
            }
            Ok(Some(_)) => {}
            Ok(None) => return Err(ApiError::field("file", "is required: the API project archive (ZIP)")),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_large()),
            Err(e) => return Err(ApiError::bad_request(format!("malformed multipart body: {e}"))),
        }
    }
}

/// One deployment target of a project or params file: (environment, vhost, shown in the DevPortal).
type Target = (String, String, bool);

/// `deploymentEnvironments` entries (`{deploymentEnvironment, deploymentVhost, displayOnDevportal}`), each naming a
/// gateway environment this control plane has; `field` names the file in errors.
async fn targets(cp: &ControlPlane, items: &[Value], field: &str) -> Result<Vec<Target>> {
    let envs = cp.environments().await?;
    let mut out: Vec<Target> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = format!("{field}[{i}]");
        let name = item
            .get("deploymentEnvironment")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::field(&format!("{at}.deploymentEnvironment"), "is required"))?;
        let env = envs.iter().find(|e| e.name == name).ok_or_else(|| {
            let known: Vec<&str> = envs.iter().map(|e| e.name.as_str()).collect();
            ApiError::field(
                &format!("{at}.deploymentEnvironment"),
                format!("`{name}` is not a gateway environment (known: {})", known.join(", ")),
            )
        })?;
        let vhost = match item.get("deploymentVhost") {
            None | Some(Value::Null) => env.vhost.clone(),
            Some(Value::String(v)) if v.is_empty() => env.vhost.clone(),
            Some(Value::String(v)) => v.clone(),
            Some(_) => return Err(ApiError::field(&format!("{at}.deploymentVhost"), "must be a host name")),
        };
        let shown = match item.get("displayOnDevportal") {
            None | Some(Value::Null) => true,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(ApiError::field(&format!("{at}.displayOnDevportal"), "must be true or false")),
        };
        out.retain(|t| t.0 != name);
        out.push((name.to_string(), vhost, shown));
    }
    Ok(out)
}

/// apictl's params (`intermediate_params.yaml`: one environment's `configs`) over the API: endpoints, endpoint
/// security and subscription plans; its deployment environments replace the project's (returned).
fn apply_params(api: &mut Map<String, Value>, params: &Value) -> Result<Option<Vec<Value>>> {
    const F: &str = "intermediate_params.yaml";
    let Some(p) = params.as_object() else {
        return if params.is_null() { Ok(None) } else { Err(ApiError::field(F, "must be a mapping of configs")) };
    };
    let mut ec = api.get("endpointConfig").and_then(Value::as_object).cloned().unwrap_or_default();
    let kind = match p.get("endpointType").and_then(Value::as_str) {
        None | Some("rest") | Some("http") => "http",
        Some("soap") | Some("address") => "address",
        Some(other) => return Err(ApiError::field(&format!("{F}.endpointType"), format!("`{other}` is not rest or soap"))),
    };
    let url_of = |v: &Value, at: &str| -> Result<Value> {
        let Some(o) = v.as_object() else { return Err(ApiError::field(at, "must be a mapping with url")) };
        let mut e = Map::new();
        e.insert("url".into(), o.get("url").cloned().ok_or_else(|| ApiError::field(&format!("{at}.url"), "is required"))?);
        if let Some(c) = o.get("config").filter(|c| !c.is_null()) {
            e.insert("config".into(), c.clone());
        }
        Ok(Value::Object(e))
    };
    let mut endpoints_given = false;
    match p.get("endpointRoutingPolicy").and_then(Value::as_str) {
        Some("load_balanced") => {
            let lb = p
                .get("loadBalanceEndpoints")
                .and_then(Value::as_object)
                .ok_or_else(|| ApiError::field(&format!("{F}.loadBalanceEndpoints"), "is required for load_balanced"))?;
            let list = |env: &str| -> Result<Value> {
                let at = format!("{F}.loadBalanceEndpoints.{env}");
                match lb.get(env) {
                    None | Some(Value::Null) => Ok(json!([])),
                    Some(Value::Array(a)) => a
                        .iter()
                        .enumerate()
                        .map(|(i, e)| {
                            let mut e = url_of(e, &format!("{at}[{i}]"))?;
                            e["endpoint_type"] = json!(kind);
                            e["template_not_supported"] = json!(false);
                            Ok(e)
                        })
                        .collect::<Result<Vec<_>>>()
                        .map(Value::Array),
                    Some(_) => Err(ApiError::field(&at, "must be a list of endpoints")),
                }
            };
            let algo = lb.get("algoClassName").cloned().unwrap_or(json!("org.apache.synapse.endpoints.algorithms.RoundRobin"));
            ec = Map::from_iter([
                ("endpoint_type".to_string(), json!("load_balance")),
                ("algoClassName".to_string(), algo.clone()),
                ("algoCombo".to_string(), algo),
                ("sessionManagement".to_string(), lb.get("sessionManagement").cloned().unwrap_or(json!(""))),
                (
                    "sessionTimeOut".to_string(),
                    lb.get("sessionTimeOut").map(|v| json!(v.to_string().trim_matches('"'))).unwrap_or(json!("")),
                ),
                ("production_endpoints".to_string(), list("production")?),
                ("sandbox_endpoints".to_string(), list("sandbox")?),
            ])
            .into_iter()
            .chain(ec.get("endpoint_security").map(|s| ("endpoint_security".to_string(), s.clone())))
            .collect();
            endpoints_given = true;
        }
        Some("failover") => {
            let fo = p
                .get("failoverEndpoints")
                .and_then(Value::as_object)
                .ok_or_else(|| ApiError::field(&format!("{F}.failoverEndpoints"), "is required for failover"))?;
            let mut out = Map::from_iter([("endpoint_type".to_string(), json!("failover")), ("failOver".to_string(), json!("true"))]);
            for (key, target) in [("production", "production_endpoints"), ("sandbox", "sandbox_endpoints")] {
                if let Some(v) = fo.get(key).filter(|v| !v.is_null()) {
                    out.insert(target.into(), url_of(v, &format!("{F}.failoverEndpoints.{key}"))?);
                }
            }
            for (key, target) in [("productionFailovers", "production_failovers"), ("sandboxFailovers", "sandbox_failovers")] {
                let at = format!("{F}.failoverEndpoints.{key}");
                let list = match fo.get(key) {
                    None | Some(Value::Null) => Vec::new(),
                    Some(Value::Array(a)) => a.iter().enumerate().map(|(i, e)| url_of(e, &format!("{at}[{i}]"))).collect::<Result<_>>()?,
                    Some(_) => return Err(ApiError::field(&at, "must be a list of endpoints")),
                };
                out.insert(target.into(), Value::Array(list));
            }
            if let Some(s) = ec.get("endpoint_security") {
                out.insert("endpoint_security".into(), s.clone());
            }
            ec = out;
            endpoints_given = true;
        }
        None => {
            if let Some(eps) = p.get("endpoints").filter(|v| !v.is_null()) {
                let eps = eps.as_object().ok_or_else(|| ApiError::field(&format!("{F}.endpoints"), "must be a mapping"))?;
                let mut out = Map::from_iter([("endpoint_type".to_string(), json!(kind))]);
                for (key, target) in [("production", "production_endpoints"), ("sandbox", "sandbox_endpoints")] {
                    if let Some(v) = eps.get(key).filter(|v| !v.is_null()) {
                        out.insert(target.into(), url_of(v, &format!("{F}.endpoints.{key}"))?);
                    }
                }
                if let Some(s) = ec.get("endpoint_security") {
                    out.insert("endpoint_security".into(), s.clone());
                }
                ec = out;
                endpoints_given = true;
            }
        }
        Some(other) => {
            return Err(ApiError::field(&format!("{F}.endpointRoutingPolicy"), format!("`{other}` is not load_balanced or failover")));
        }
    }
    let mut security_given = false;
    if let Some(sec) = p.get("security").filter(|v| !v.is_null()) {
        let sec = sec.as_object().ok_or_else(|| ApiError::field(&format!("{F}.security"), "must be a mapping"))?;
        let mut out = Map::new();
        for key in ["production", "sandbox"] {
            let Some(s) = sec.get(key).filter(|v| !v.is_null()) else { continue };
            let at = format!("{F}.security.{key}");
            let s = s.as_object().ok_or_else(|| ApiError::field(&at, "must be a mapping"))?;
            let enabled = s.get("enabled").and_then(Value::as_bool).unwrap_or(true);
            let mut e = json!({"enabled": enabled, "customParameters": {}});
            match s.get("type").and_then(Value::as_str).map(str::to_ascii_uppercase) {
                Some(t) if t == "BASIC" || t == "DIGEST" => e["type"] = json!(t),
                Some(t) => return Err(ApiError::field(&format!("{at}.type"), format!("`{t}` is not basic or digest"))),
                // Security turned off needs no type.
                None if !enabled => {}
                None => return Err(ApiError::field(&format!("{at}.type"), "is required (basic or digest)")),
            }
            for f in ["username", "password"] {
                if let Some(v) = s.get(f) {
                    e[f] = v.clone();
                }
            }
            out.insert(key.into(), e);
        }
        ec.insert("endpoint_security".into(), Value::Object(out));
        security_given = true;
    }
    if endpoints_given || security_given {
        api.insert("endpointConfig".into(), Value::Object(ec));
    }
    if let Some(policies) = p.get("policies").filter(|v| !v.is_null()) {
        if !policies.is_array() {
            return Err(ApiError::field(&format!("{F}.policies"), "must be a list of subscription policies"));
        }
        api.insert("policies".into(), policies.clone());
    }
    match p.get("deploymentEnvironments") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => Ok(Some(a.clone())),
        Some(_) => Err(ApiError::field(&format!("{F}.deploymentEnvironments"), "must be a list")),
    }
}

/// How an import treats what is already there.
pub(crate) struct ImportFlags {
    pub preserve_provider: bool,
    pub overwrite: bool,
    pub rotate: bool,
}

/// `POST /apis/import?preserveProvider=&overwrite=&rotateRevision=` (multipart `file`): an API project, plain
/// or in apictl's params form. Answers 200 with WSO2's `ImportAPIResponse` (`{id, revision}`).
async fn import(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Query(p): Query<HashMap<String, String>>,
    multipart: std::result::Result<axum::extract::Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(IMPORT)?;
    let flags = ImportFlags {
        preserve_provider: flag(&p, "preserveProvider", true)?,
        overwrite: flag(&p, "overwrite", false)?,
        rotate: flag(&p, "rotateRevision", false)?,
    };
    flag(&p, "preservePortalConfigurations", false)?;
    let bytes = upload(&headers, multipart).await?;
    let project = tokio::task::spawn_blocking(move || project::read(&bytes, project::Kind::Api))
        .await
        .map_err(|e| ApiError::unavailable(format!("reading the archive failed: {e}")))??;
    let (id, number) = import_api_project(&cp, &who, project, &flags).await?;
    imported(&headers, "API imported successfully.", &id, number)
}

/// WSO2's `ImportAPIResponse`, or its plain words for a client that takes only text.
fn imported(headers: &HeaderMap, words: &'static str, id: &str, number: Option<i64>) -> Result<Response> {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    if accept.contains("text/plain") && !accept.contains("json") {
        return Ok((StatusCode::OK, words).into_response());
    }
    let mut answer = json!({"id": id});
    if let Some(n) = number {
        answer["revision"] = json!(n.to_string());
    }
    Ok((StatusCode::OK, Json(answer)).into_response())
}

/// A version as a project writes it: a string, or a number YAML read from `1.0`.
fn version_of(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(v)) => v.clone(),
        Some(Value::Null) | None => String::new(),
        Some(v) => v.to_string(),
    }
}

/// The lifecycle state a project gives (`field` names it), `CREATED` when none.
fn project_status(data: &Map<String, Value>, field: &str, path: &str) -> Result<ApiStatus> {
    match data.get(field).and_then(Value::as_str) {
        None | Some("") => Ok(ApiStatus::Created),
        Some(s) => {
            let st = ApiStatus::from(s.to_ascii_uppercase());
            if !apim_domain::api::LIFECYCLE.iter().any(|(from, _, to)| *from == st || *to == st) {
                return Err(ApiError::field(&format!("{path}.data.{field}"), format!("`{s}` is not a lifecycle state")));
            }
            Ok(st)
        }
    }
}

/// A project's main-file errors named as the file's fields.
fn in_file(file: &str) -> impl Fn(ApiError) -> ApiError + '_ {
    move |e| match e.fields.first() {
        Some((f, d)) => ApiError::field(&format!("{file}.data.{f}"), d.clone()),
        None => ApiError::field(file, e.description),
    }
}

/// Checks an API project whole and writes it in one transaction: the API's id and the number of the revision
/// deployed, when the project names environments.
pub(crate) async fn import_api_project(
    cp: &ControlPlane,
    who: &crate::auth::Principal,
    project: Project,
    flags: &ImportFlags,
) -> Result<(String, Option<i64>)> {
    let endpoint_listed = project::certificates(&project, "Endpoint-certificates", "endpoint_certificates")?;
    let client_listed = project::certificates(&project, "Client-certificates", "client_certificates")?;
    let Project {
        api: mut data,
        api_file,
        definition,
        docs,
        thumbnail,
        deployments,
        params,
        policies: policy_files,
        params_certificates,
        ..
    } = project;
    let mut deployments = deployments;
    if let Some(params) = &params
        && let Some(d) = apply_params(&mut data, params)?
    {
        deployments = Some(("intermediate_params.yaml.deploymentEnvironments".to_string(), d));
    }
    let targets = match &deployments {
        Some((field, items)) => targets(cp, items, field).await?,
        None => Vec::new(),
    };
    // The state the project gives is applied after the API is written, as WSO2 moves it through its lifecycle.
    let status = project_status(&data, "lifeCycleStatus", &api_file)?;
    for k in ["id", "lifeCycleStatus", "createdTime", "lastUpdatedTime", DEFINITION] {
        data.remove(k);
    }
    // Versions like 1.0 read as numbers from YAML.
    if let Some(v @ Value::Number(_)) = data.get("version") {
        let text = v.to_string();
        data.insert("version".into(), json!(text));
    }
    let name = data.get("name").and_then(Value::as_str).unwrap_or("").to_string();
    let version = data.get("version").and_then(Value::as_str).unwrap_or("").to_string();
    if !flags.preserve_provider {
        data.insert("provider".into(), json!(who.username));
    }
    let existing = api_named(cp, &name, &version, None).await?;
    if existing.as_ref().is_some_and(crate::products::is_product) {
        return Err(ApiError::conflict_field("name", format!("{name} {version} is an API product: import it at /api-products/import")));
    }
    if existing.is_some() && !flags.overwrite {
        return Err(ApiError::conflict_field(
            "name",
            format!("API {name} {version} already exists: import it with overwrite=true to update it"),
        ));
    }
    // As WSO2 imports: the operations are the definition's; api.yaml's entry for the same verb and path is kept
    // (its policies, scopes, tier), in api.yaml's order, and the definition's others follow.
    if let Some((path, def)) = &definition {
        let summary = crate::openapi::summarize(path, def)?;
        let mut from_def = crate::publisher::operations_from(&summary, data.get("operations"));
        let given = data.get("operations").and_then(Value::as_array).cloned().unwrap_or_default();
        let same = |a: &Value, b: &Value| {
            a["target"] == b["target"] && a["verb"].as_str().map(str::to_ascii_uppercase) == b["verb"].as_str().map(str::to_ascii_uppercase)
        };
        let mut operations: Vec<Value> = given.iter().filter(|g| from_def.iter().any(|d| same(d, g))).cloned().collect();
        from_def.retain(|d| !operations.iter().any(|o| same(o, d)));
        operations.extend(from_def);
        data.insert("operations".into(), Value::Array(operations));
    }
    crate::categories::check(cp, data.get("categories")).await?;
    // An overwrite may attach the API's own uploaded operation policies, which it keeps; the project's
    // `Policies/` add those it does not have (attachments find them by name and version: ids differ between
    // environments).
    let mut policies = crate::publisher::policy_names_for(cp, existing.as_ref().map(|e| e.id.as_str())).await?;
    let now = cp.clock.unix_secs();
    let mut own = crate::operation_policies::from_project(&policy_files, "", now)?;
    own.retain(|p| !policies.operation.iter().any(|r| r.api_id.is_some() && r.name == p.name && r.version == p.version));
    policies.operation.extend(own.iter().cloned());
    let (mut doc, id, name, version, context) =
        normalize(Value::Object(data), existing.as_ref(), &who.username, &policies, now * 1000).map_err(in_file(&api_file))?;
    for p in &mut own {
        p.api_id = Some(id.clone());
    }
    if existing.is_none() {
        crate::publisher::check_new_identity(cp, &name, &context).await?;
    }
    // As on `PUT`: credentials left blank (an export without `preserveCredentials`) keep the stored ones.
    if let Some(old) = &existing {
        crate::secrets::keep_stored(&mut doc, &serde_json::from_str(&old.document).unwrap_or(Value::Null));
        crate::client_certs::keep(&mut doc, old);
    }
    doc.insert("lifeCycleStatus".into(), json!(status));
    if let Some((_, def)) = definition {
        doc.insert(DEFINITION.into(), def);
    } else if let Some(d) = existing.as_ref().and_then(crate::publisher::definition_of) {
        doc.insert(DEFINITION.into(), d);
    }
    let certificates =
        ProjectCertificates { endpoint: endpoint_listed, client: client_listed, params: params.as_ref(), files: &params_certificates };
    let (endpoint_certificates, client) = certificates.checked(cp, now).await?;
    // The project's client certificates (and the params' `mutualSslCerts`) are the API's when it names any.
    if !client.is_empty() {
        doc.insert(crate::client_certs::KEY.into(), Value::Array(client));
    }
    let api = imported_record(who, doc, (id.clone(), name, version, context), &status, existing.as_ref(), flags, now);
    let revision_document = api.document.clone();
    let staged = Staged {
        api,
        existing,
        status,
        docs,
        thumbnail,
        targets,
        rotate: flags.rotate,
        revision_document,
        policies: own,
        endpoint_certificates,
    };
    Ok((id, write_import(cp, who, staged).await?))
}

/// The record an import writes: a new one, or the existing one's id, creation time and (unless the provider is
/// taken from the project) provider kept.
fn imported_record(
    who: &crate::auth::Principal,
    doc: Map<String, Value>,
    (id, name, version, context): (String, String, String, String),
    status: &ApiStatus,
    existing: Option<&ApiRecord>,
    flags: &ImportFlags,
    now: i64,
) -> ApiRecord {
    let mut api = crate::publisher::new_record(doc, id, name, version, context, &who.username, now);
    api.status = status.clone();
    if let Some(old) = existing {
        api.created_at = old.created_at;
        api.provider = if flags.preserve_provider { old.provider.clone() } else { who.username.clone() };
    }
    api
}

/// A checked import, ready to be written.
struct Staged {
    api: ApiRecord,
    existing: Option<ApiRecord>,
    status: ApiStatus,
    docs: Vec<project::ProjectDoc>,
    thumbnail: Option<(String, Vec<u8>)>,
    targets: Vec<Target>,
    rotate: bool,
    /// What a revision made by the import holds.
    revision_document: String,
    /// The API's own operation policies the project adds.
    policies: Vec<apim_store::OperationPolicyRecord>,
    /// Endpoint certificates the project brings whose aliases are new here.
    endpoint_certificates: Vec<apim_store::EndpointCertificateRecord>,
}

/// The certificates a project brings: its `Endpoint-certificates/` and `Client-certificates/` lists (entry, PEM,
/// path), and the params' `certs` and `mutualSslCerts` with the files they name.
struct ProjectCertificates<'a> {
    endpoint: Vec<(Value, String, String)>,
    client: Vec<(Value, String, String)>,
    params: Option<&'a Value>,
    files: &'a std::collections::BTreeMap<String, Vec<u8>>,
}

impl ProjectCertificates<'_> {
    /// Each checked as an upload is (400s naming the entry): the endpoint certificates whose aliases are not here
    /// yet (endpoint certificates are the environment's, so an existing alias is kept as it is), and the client
    /// certificates as the API keeps them.
    async fn checked(self, cp: &ControlPlane, now: i64) -> Result<(Vec<apim_store::EndpointCertificateRecord>, Vec<Value>)> {
        use crate::certificates::{check_alias, checked, endpoint_key};
        let named = |at: &str| {
            let at = at.to_string();
            move |e: ApiError| ApiError::field(&at, e.fields.first().map(|f| f.1.clone()).unwrap_or(e.description))
        };
        let text = |item: &Value, key: &str| item.get(key).and_then(Value::as_str).unwrap_or("").trim().to_string();
        let mut endpoint = Vec::new();
        let mut client = Vec::new();
        for (item, pem, at) in self.endpoint {
            endpoint.push((text(&item, "alias"), text(&item, "endpoint"), pem, at));
        }
        for (item, pem, at) in self.client {
            let tier = [text(&item, "tierName"), text(&item, "tier")].into_iter().find(|t| !t.is_empty()).unwrap_or_default();
            let kind = Some(text(&item, "keyType")).filter(|k| !k.is_empty()).unwrap_or_else(|| "PRODUCTION".into());
            client.push((text(&item, "alias"), tier, kind, pem, at));
        }
        const F: &str = "intermediate_params.yaml";
        for (key, is_client) in [("certs", false), ("mutualSslCerts", true)] {
            let Some(list) = self.params.and_then(|p| p.get(key)).filter(|v| !v.is_null()) else { continue };
            let list = list.as_array().ok_or_else(|| ApiError::field(&format!("{F}.{key}"), "must be a list"))?;
            for (i, c) in list.iter().enumerate() {
                let at = format!("{F}.{key}[{i}]");
                let path = text(c, "path");
                let pem = self.files.get(&path).ok_or_else(|| {
                    ApiError::field(&format!("{at}.path"), format!("`{path}` is not in the deployment directory's certificates/"))
                })?;
                let pem = String::from_utf8(pem.clone()).map_err(|_| ApiError::field(&format!("{at}.path"), "is not a PEM certificate"))?;
                if is_client {
                    client.push((text(c, "alias"), text(c, "tierName"), "PRODUCTION".into(), pem, at));
                } else {
                    endpoint.push((text(c, "alias"), text(c, "hostName"), pem, at));
                }
            }
        }
        let mut records: Vec<apim_store::EndpointCertificateRecord> = Vec::new();
        for (alias, url, pem, at) in endpoint {
            check_alias(&alias).map_err(named(&format!("{at}.alias")))?;
            if endpoint_key(&url).is_none() {
                return Err(ApiError::field(
                    &format!("{at}.endpoint"),
                    format!("`{url}` (alias `{alias}`) is not an http or https URL with a host"),
                ));
            }
            checked(&pem, &alias, now).map_err(named(&at))?;
            if records.iter().any(|r| r.alias == alias)
                || apim_store::EndpointCertificateStore::endpoint_certificate(&cp.db, &alias).await?.is_some()
            {
                continue;
            }
            records.push(apim_store::EndpointCertificateRecord { alias, endpoint: url, certificate: pem, created_at: now });
        }
        let mut entries: Vec<Value> = Vec::new();
        for (alias, tier, kind, pem, at) in client {
            check_alias(&alias).map_err(named(&format!("{at}.alias")))?;
            let kind = crate::client_certs::key_type(&kind).map_err(named(&format!("{at}.keyType")))?;
            crate::client_certs::check_tier(cp, &tier).await.map_err(named(&format!("{at}.tierName")))?;
            if entries.iter().any(|e| e["alias"] == alias.as_str()) {
                return Err(ApiError::field(&format!("{at}.alias"), format!("the alias `{alias}` is listed twice")));
            }
            entries.push(crate::client_certs::entry(cp, pem, &alias, &tier, kind).map_err(named(&at))?);
        }
        Ok((records, entries))
    }
}

/// Writes a checked import in one transaction (`ImportStore::import_api`): the API or product, its documents and
/// thumbnail, its state, and a revision deployed to the targets; the revision's number when one was made.
async fn write_import(cp: &ControlPlane, who: &crate::auth::Principal, s: Staged) -> Result<Option<i64>> {
    let Staged { api, existing, status, docs, thumbnail, targets, rotate, revision_document, policies, endpoint_certificates } = s;
    let (id, now) = (api.id.clone(), cp.clock.unix_secs());
    let mut records = Vec::with_capacity(docs.len());
    for d in &docs {
        records.push(crate::docs::from_project(&id, &d.data, d.content.clone(), &who.username, now, &d.path)?);
    }
    let thumbnail = match thumbnail {
        Some((path, bytes)) => {
            if bytes.len() > crate::docs::THUMBNAIL_MAX {
                return Err(ApiError::field(&path, format!("is larger than {} KiB", crate::docs::THUMBNAIL_MAX >> 10)));
            }
            let media = crate::docs::image_type(&bytes)
                .ok_or_else(|| ApiError::field(&path, "is not an image: PNG, JPEG, GIF, WebP or SVG, told by its content, are taken"))?;
            Some((media.to_string(), bytes))
        }
        None => None,
    };
    let prior_status = existing.as_ref().map(|e| e.status.clone()).unwrap_or(ApiStatus::Created);
    let lifecycle = (status != prior_status).then(|| LifecycleEntry {
        previous_state: apim_domain::api::state_display(&prior_status).to_string(),
        new_state: apim_domain::api::state_display(&status).to_string(),
        username: who.username.clone(),
        time: now,
    });
    let mut events = vec![api_event(if existing.is_some() { EventKind::ApiUpdate } else { EventKind::ApiCreate }, &api, json!({}))];
    if lifecycle.is_some() {
        events.push(api_event(EventKind::ApiLifecycleChange, &api, json!({})));
    }
    for c in &endpoint_certificates {
        events.push(crate::model::event(EventKind::EndpointCertificateAdd, json!({"alias": c.alias, "endpoint": c.endpoint})));
    }
    let (revision, drop_revision) = if targets.is_empty() {
        (None, None)
    } else {
        let revisions = match &existing {
            Some(e) => cp.db.list_revisions(&e.id).await?,
            None => Vec::new(),
        };
        let drop = if rotate && revisions.len() as i64 >= MAX_REVISIONS {
            let oldest = revisions.iter().min_by_key(|r| r.number).map(|r| r.id.clone());
            if let Some(old) = &oldest {
                let envs: Vec<String> =
                    cp.db.deployments(&id).await?.into_iter().filter(|d| &d.revision_id == old).map(|d| d.environment).collect();
                if !envs.is_empty() {
                    events.push(api_event(EventKind::RemoveApiFromGateway, &api, json!({"gatewayLabels": envs})));
                }
            }
            oldest
        } else {
            None
        };
        let rev = Revision {
            id: uuid::Uuid::new_v4().to_string(),
            api_id: id.clone(),
            number: 0,
            description: "imported".to_string(),
            document: revision_document,
            created_at: now,
        };
        (Some(rev), drop)
    };
    let deployments: Vec<Deployment> = revision
        .iter()
        .flat_map(|rev| {
            targets.iter().map(|(env, vhost, shown)| Deployment {
                api_id: id.clone(),
                environment: env.clone(),
                revision_id: rev.id.clone(),
                vhost: vhost.clone(),
                display_on_devportal: *shown,
                deployed_at: now,
            })
        })
        .collect();
    if let Some(rev) = &revision {
        let labels: Vec<&str> = targets.iter().map(|t| t.0.as_str()).collect();
        events.push(api_event(EventKind::DeployApiInGateway, &api, json!({"gatewayLabels": labels, "revisionId": rev.id})));
    }
    let plan = ApiImport {
        api: api.clone(),
        replace: existing.is_some(),
        docs: records,
        thumbnail,
        lifecycle,
        revision,
        deployments,
        drop_revision,
        max_revisions: MAX_REVISIONS,
        policies,
        endpoint_certificates,
        events,
    };
    let stored = cp.db.import_api(&plan).await?;
    let number = stored.map(|r| r.number);
    tracing::info!(api_id = %id, name = %api.name, kind = %api.api_type, revision = ?number, user = %who.username, "imported");
    Ok(number)
}

/// `POST /api-products/import?preserveProvider=&rotateRevision=&importAPIs=&overwriteAPIProduct=&overwriteAPIs=`
/// (multipart `file`): an API product project. With `importAPIs` the APIs under `APIs/` are imported first (an
/// existing one only with `overwriteAPIs`), each in its own transaction; the product then names its APIs by name
/// and version, which must exist here (ids differ between environments).
async fn import_product(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Query(p): Query<HashMap<String, String>>,
    multipart: std::result::Result<axum::extract::Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(PRODUCT_IMPORT)?;
    let preserve_provider = flag(&p, "preserveProvider", true)?;
    let rotate = flag(&p, "rotateRevision", false)?;
    let import_apis = flag(&p, "importAPIs", false)?;
    let overwrite = flag(&p, "overwriteAPIProduct", false)?;
    let overwrite_apis = flag(&p, "overwriteAPIs", false)?;
    let bytes = upload(&headers, multipart).await?;
    let mut project = tokio::task::spawn_blocking(move || project::read(&bytes, project::Kind::Product))
        .await
        .map_err(|e| ApiError::unavailable(format!("reading the archive failed: {e}")))??;
    if import_apis {
        let flags = ImportFlags { preserve_provider, overwrite: overwrite_apis, rotate };
        for (folder, used) in std::mem::take(&mut project.apis) {
            let name = used.api.get("name").and_then(Value::as_str).unwrap_or("").to_string();
            let version = version_of(used.api.get("version"));
            if !overwrite_apis && api_named(&cp, &name, &version, None).await?.is_some() {
                continue;
            }
            import_api_project(&cp, &who, used, &flags).await.map_err(|e| match e.fields.first() {
                Some((f, d)) => ApiError::field(&format!("APIs/{folder}/{f}"), d.clone()),
                None => ApiError { description: format!("APIs/{folder}: {}", e.description), ..e },
            })?;
        }
    }
    let Project { api: mut data, api_file, docs, thumbnail, deployments, .. } = project;
    let targets = match &deployments {
        Some((field, items)) => targets(&cp, items, field).await?,
        None => Vec::new(),
    };
    let status = project_status(&data, "state", &api_file)?;
    for k in ["id", "state", "lifeCycleStatus", "createdTime", "lastUpdatedTime", DEFINITION] {
        data.remove(k);
    }
    if let Some(v @ Value::Number(_)) = data.get("version") {
        let text = v.to_string();
        data.insert("version".into(), json!(text));
    }
    // The APIs it uses, found here by name and version.
    if let Some(Value::Array(items)) = data.get_mut("apis") {
        for (i, item) in items.iter_mut().enumerate() {
            let field = format!("{api_file}.data.apis[{i}]");
            let name = item.get("name").and_then(Value::as_str).unwrap_or("").to_string();
            let version = version_of(item.get("version"));
            let found = api_named(&cp, &name, &version, None).await?.filter(|a| !crate::products::is_product(a)).ok_or_else(|| {
                ApiError::field(
                    &field,
                    format!("API `{name}` {version} does not exist here: import it first, or import the product with importAPIs=true"),
                )
            })?;
            item["apiId"] = json!(found.id);
        }
    }
    let name = data.get("name").and_then(Value::as_str).unwrap_or("").to_string();
    let version = data.get("version").and_then(Value::as_str).unwrap_or("1.0.0").to_string();
    if !preserve_provider {
        data.insert("provider".into(), json!(who.username));
    }
    let existing = api_named(&cp, &name, &version, None).await?;
    if existing.as_ref().is_some_and(|e| !crate::products::is_product(e)) {
        return Err(ApiError::conflict_field("name", format!("{name} {version} is an API, not an API product")));
    }
    if existing.is_some() && !overwrite {
        return Err(ApiError::conflict_field(
            "name",
            format!("API product {name} {version} already exists: import it with overwriteAPIProduct=true to update it"),
        ));
    }
    let (mut doc, id, name, version, context) =
        crate::products::normalize(&cp, Value::Object(data), existing.as_ref(), &who.username).await.map_err(in_file(&api_file))?;
    if existing.is_none() {
        crate::publisher::check_new_identity(&cp, &name, &context).await?;
    }
    doc.insert("lifeCycleStatus".into(), json!(status));
    let now = cp.clock.unix_secs();
    let flags = ImportFlags { preserve_provider, overwrite, rotate };
    let api = imported_record(&who, doc, (id.clone(), name, version, context), &status, existing.as_ref(), &flags, now);
    let revision_document = if targets.is_empty() { String::new() } else { crate::products::revision_document(&cp, &api).await? };
    let staged = Staged {
        api,
        existing,
        status,
        docs,
        thumbnail,
        targets,
        rotate,
        revision_document,
        policies: Vec::new(),
        endpoint_certificates: Vec::new(),
    };
    let number = write_import(&cp, &who, staged).await?;
    imported(&headers, "API Product imported successfully.", &id, number)
}
