//! WSO2's endpoint certificates in the Publisher (`/endpoint-certificates…`): a backend's certificate uploaded
//! under an alias for one endpoint URL, so gateways trust it for TLS to that endpoint's host and port beside the
//! truststore (the runtime state carries them; every change writes `ENDPOINT_CERTIFICATE_ADD` or `_REMOVE`).
//! A certificate is checked when it is uploaded (PEM, an X.509 certificate, valid now) and its details are read
//! from the stored PEM when it is shown.

use std::collections::HashMap;
use std::sync::Arc;

use apim_jose::x509;
use apim_store::{EndpointCertificateRecord, EndpointCertificateStore, OperationPolicyStore};
use apim_wire::hub::EventKind;
use axum::Json;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use crate::ControlPlane;
use crate::error::{ApiError, Result};
use crate::model::event;
use crate::search::{Listing, Page};

const VIEW: &[&str] = &["apim:api_view", "apim:api_manage", "apim:ep_certificates_view", "apim:ep_certificates_manage"];
const ADD: &[&str] = &["apim:api_create", "apim:api_manage", "apim:ep_certificates_add", "apim:ep_certificates_manage"];
const UPDATE: &[&str] = &["apim:api_create", "apim:api_manage", "apim:ep_certificates_update", "apim:ep_certificates_manage"];

/// The largest certificate file taken (a PEM chain is a few KiB).
pub(crate) const CERT_MAX: usize = 64 << 10;
/// WSO2's `maxLength` of an alias.
const ALIAS_MAX: usize = 30;

pub fn publisher_routes() -> axum::Router<Arc<ControlPlane>> {
    axum::Router::new()
        .route("/endpoint-certificates", get(list).post(add).layer(DefaultBodyLimit::max(CERT_MAX + (16 << 10))))
        .route("/endpoint-certificates/{alias}", get(info).put(update).delete(remove).layer(DefaultBodyLimit::max(CERT_MAX + (16 << 10))))
        .route("/endpoint-certificates/{alias}/content", get(content))
        .route("/endpoint-certificates/{alias}/usage", get(usage))
}

/// The form of `POST` and `PUT`: `certificate` (a file), `alias`, `endpoint`.
#[derive(Default)]
struct Form {
    certificate: Option<String>,
    alias: Option<String>,
    endpoint: Option<String>,
}

async fn form(multipart: std::result::Result<Multipart, MultipartRejection>) -> Result<Form> {
    let mut f = text_fields(multipart, &["certificate", "alias", "endpoint"]).await?;
    Ok(Form {
        certificate: f.remove("certificate"),
        alias: f.remove("alias").map(|a| a.trim().to_string()),
        endpoint: f.remove("endpoint").map(|e| e.trim().to_string()),
    })
}

/// The multipart fields named in `names`, as UTF-8 text of at most `CERT_MAX` bytes each (a certificate form).
pub(crate) async fn text_fields(
    multipart: std::result::Result<Multipart, MultipartRejection>,
    names: &[&str],
) -> Result<HashMap<String, String>> {
    let mut m = multipart.map_err(|e| ApiError::bad_request(format!("expected multipart/form-data: {e}")))?;
    let mut out = HashMap::new();
    loop {
        let field = match m.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Err(ApiError::bad_request(format!("malformed multipart body: {e}"))),
        };
        let name = field.name().unwrap_or("").to_string();
        if !names.contains(&name.as_str()) {
            continue;
        }
        let bytes = field.bytes().await.map_err(|e| ApiError::field(&name, format!("unreadable: {e}")))?;
        if bytes.len() > CERT_MAX {
            return Err(ApiError::too_large(format!("{name} is larger than the {} KiB allowed", CERT_MAX >> 10)));
        }
        let text = String::from_utf8(bytes.to_vec()).map_err(|_| ApiError::field(&name, "is not UTF-8 text"))?;
        out.insert(name, text);
    }
    Ok(out)
}

/// The certificate as read, refused unless it is PEM holding an X.509 certificate valid at `now`.
pub(crate) fn checked(pem: &str, alias: &str, now: i64) -> Result<x509::Certificate> {
    let c = x509::certificate(pem)
        .map_err(|e| ApiError::field("certificate", format!("the certificate for alias `{alias}` is not a PEM X.509 certificate: {e}")))?;
    if c.not_after < now {
        return Err(ApiError::field("certificate", format!("the certificate for alias `{alias}` expired on {}", day(c.not_after))));
    }
    if c.not_before > now {
        return Err(ApiError::field(
            "certificate",
            format!("the certificate for alias `{alias}` is not valid before {}", day(c.not_before)),
        ));
    }
    Ok(c)
}

pub(crate) fn check_alias(alias: &str) -> Result<()> {
    if alias.is_empty() || alias.chars().count() > ALIAS_MAX || alias.contains(['/', '\\']) || alias.chars().any(char::is_control) {
        return Err(ApiError::field(
            "alias",
            format!("`{alias}` must be 1 to {ALIAS_MAX} characters, without `/`, `\\` or control characters"),
        ));
    }
    Ok(())
}

/// `(scheme, host, port)` of an http(s) URL, the host in lower case and the port made explicit.
pub(crate) fn endpoint_key(url: &str) -> Option<(String, String, u16)> {
    let uri: axum::http::Uri = url.trim().parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let default = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let host = uri.host().filter(|h| !h.is_empty())?.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
    Some((scheme, host, uri.port_u16().unwrap_or(default)))
}

/// A day as WSO2's `CertificateValidity` example writes one (`dd-MM-yyyy`), in UTC.
fn day(unix: i64) -> String {
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = unix.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{d:02}-{m:02}-{y:04}")
}

/// An alias in a URL path: every byte but the unreserved ones percent-encoded.
pub(crate) fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') { (b as char).to_string() } else { format!("%{b:02X}") }
        })
        .collect()
}

fn metadata(r: &EndpointCertificateRecord) -> Value {
    json!({"alias": r.alias, "endpoint": r.endpoint})
}

fn cert_event(kind: EventKind, alias: &str, endpoint: &str) -> apim_domain::api::EventDraft {
    event(kind, json!({"alias": alias, "endpoint": endpoint}))
}

fn located(alias: &str, body: Value) -> Response {
    let mut resp = (StatusCode::OK, Json(body)).into_response();
    let location = format!("/api/am/publisher/v4/endpoint-certificates/{}", encode(alias));
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

async fn stored(cp: &ControlPlane, alias: &str) -> Result<EndpointCertificateRecord> {
    cp.db
        .endpoint_certificate(alias)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("there is no endpoint certificate with the alias `{alias}`")))
}

async fn list(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Query(p): Query<HashMap<String, String>>) -> Result<Response> {
    cp.principal(&headers).await?.require(VIEW)?;
    let page = Page::of(&p)?;
    let alias = p.get("alias").map(|a| a.trim()).filter(|a| !a.is_empty());
    let endpoint = p.get("endpoint").map(|e| e.trim()).filter(|e| !e.is_empty());
    let all = cp.db.endpoint_certificates(alias, endpoint).await?;
    let total = i64::try_from(all.len()).unwrap_or(i64::MAX);
    let certificates: Vec<Value> = page.slice(all).map(|r| metadata(&r)).collect();
    let pagination = page.pagination("/endpoint-certificates", &[("alias", alias), ("endpoint", endpoint)], total);
    // WSO2's `Certificates` names its list `certificates`, not `list`.
    let mut body = serde_json::to_value(Listing::new(certificates, pagination)).map_err(ApiError::unavailable)?;
    if let Some(o) = body.as_object_mut()
        && let Some(list) = o.remove("list")
    {
        o.insert("certificates".into(), list);
    }
    Ok(Json(body).into_response())
}

async fn add(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    multipart: std::result::Result<Multipart, MultipartRejection>,
) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(ADD)?;
    let f = form(multipart).await?;
    let alias = f.alias.ok_or_else(|| ApiError::field("alias", "is required"))?;
    check_alias(&alias)?;
    let endpoint = f.endpoint.filter(|e| !e.is_empty()).ok_or_else(|| ApiError::field("endpoint", "is required"))?;
    if endpoint_key(&endpoint).is_none() {
        return Err(ApiError::field("endpoint", format!("`{endpoint}` (alias `{alias}`) is not an http or https URL with a host")));
    }
    let pem = f.certificate.ok_or_else(|| ApiError::field("certificate", "is required"))?;
    checked(&pem, &alias, cp.clock.unix_secs())?;
    let rec =
        EndpointCertificateRecord { alias: alias.clone(), endpoint: endpoint.clone(), certificate: pem, created_at: cp.clock.unix_secs() };
    cp.db.create_endpoint_certificate(&rec, &[cert_event(EventKind::EndpointCertificateAdd, &alias, &endpoint)]).await.map_err(
        |e| match e {
            apim_store::StoreError::Conflict { .. } => {
                ApiError::conflict_field("alias", format!("the alias `{alias}` is already used by another certificate"))
            }
            other => other.into(),
        },
    )?;
    tracing::info!(alias = %alias, endpoint = %endpoint, user = %who.username, "endpoint certificate added");
    Ok(located(&alias, metadata(&rec)))
}

async fn info(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Path(alias): Path<String>) -> Result<Response> {
    cp.principal(&headers).await?.require(VIEW)?;
    let r = stored(&cp, &alias).await?;
    Ok(Json(certificate_info(&r.certificate, &alias, cp.clock.unix_secs())?).into_response())
}

/// WSO2's `CertificateInfo` of a stored PEM certificate.
pub(crate) fn certificate_info(pem: &str, alias: &str, now: i64) -> Result<Value> {
    let c = x509::certificate(pem).map_err(|e| ApiError::unavailable(format!("stored certificate `{alias}`: {e}")))?;
    let status = if c.not_after < now {
        "Expired"
    } else if c.not_before > now {
        "Inactive"
    } else {
        "Active"
    };
    Ok(json!({
        "status": status,
        "validity": {"from": day(c.not_before), "to": day(c.not_after)},
        "version": format!("V{}", c.version),
        "subject": c.subject,
    }))
}

async fn update(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Path(alias): Path<String>,
    multipart: std::result::Result<Multipart, MultipartRejection>,
) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(UPDATE)?;
    let r = stored(&cp, &alias).await?;
    let f = form(multipart).await?;
    let pem = f.certificate.ok_or_else(|| ApiError::field("certificate", "is required"))?;
    checked(&pem, &alias, cp.clock.unix_secs())?;
    if !cp.db.update_endpoint_certificate(&alias, &pem, &[cert_event(EventKind::EndpointCertificateAdd, &alias, &r.endpoint)]).await? {
        return Err(ApiError::not_found(format!("there is no endpoint certificate with the alias `{alias}`")));
    }
    tracing::info!(alias = %alias, user = %who.username, "endpoint certificate replaced");
    Ok(located(&alias, metadata(&r)))
}

async fn remove(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Path(alias): Path<String>) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(UPDATE)?;
    let r = stored(&cp, &alias).await?;
    if !cp.db.delete_endpoint_certificate(&alias, &[cert_event(EventKind::EndpointCertificateRemove, &alias, &r.endpoint)]).await? {
        return Err(ApiError::not_found(format!("there is no endpoint certificate with the alias `{alias}`")));
    }
    tracing::info!(alias = %alias, user = %who.username, "endpoint certificate deleted");
    Ok(StatusCode::OK.into_response())
}

async fn content(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Path(alias): Path<String>) -> Result<Response> {
    cp.principal(&headers).await?.require(VIEW)?;
    let r = stored(&cp, &alias).await?;
    Ok(certificate_file(r.certificate, &alias))
}

/// A PEM certificate as a download named after its alias.
pub(crate) fn certificate_file(pem: String, alias: &str) -> Response {
    let mut resp = pem.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    let file: String = alias.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')).collect();
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file}.crt\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    resp
}

/// Every backend URL an API document names (production and sandbox endpoints and their failovers, one or a list).
pub(crate) fn endpoint_urls(doc: &Value) -> Vec<&str> {
    let mut out = Vec::new();
    let Some(ec) = doc.get("endpointConfig").and_then(Value::as_object) else { return out };
    for (key, v) in ec {
        if !key.ends_with("_endpoints") && !key.ends_with("_failovers") {
            continue;
        }
        let items: Vec<&Value> = match v {
            Value::Array(a) => a.iter().collect(),
            other => vec![other],
        };
        out.extend(items.into_iter().filter_map(|i| i.get("url").and_then(Value::as_str)));
    }
    out
}

/// `GET /endpoint-certificates/{alias}/usage`: the APIs with an endpoint on the certificate's host and port.
async fn usage(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Path(alias): Path<String>,
    Query(p): Query<HashMap<String, String>>,
) -> Result<Response> {
    cp.principal(&headers).await?.require(VIEW)?;
    let page = Page::of(&p)?;
    let r = stored(&cp, &alias).await?;
    let key = endpoint_key(&r.endpoint);
    let mut apis = Vec::new();
    if let Some((_, host, _)) = &key
        && !host.contains(['%', '_', '\\'])
    {
        // The host narrows the APIs in SQL; each candidate's endpoints are then compared in full.
        for (id, name, version, doc) in cp.db.apis_holding(host).await? {
            let doc: Value = serde_json::from_str(&doc).unwrap_or(Value::Null);
            if endpoint_urls(&doc).into_iter().any(|u| endpoint_key(u) == key) {
                apis.push(json!({
                    "id": id, "name": name, "version": version,
                    "context": doc.get("context").cloned().unwrap_or(Value::Null),
                    "provider": doc.get("provider").cloned().unwrap_or(Value::Null),
                }));
            }
        }
    }
    let total = i64::try_from(apis.len()).unwrap_or(i64::MAX);
    let path = format!("/endpoint-certificates/{}/usage", encode(&alias));
    let list: Vec<Value> = page.slice(apis).collect();
    Ok(Json(Listing::new(list, page.pagination(&path, &[], total))).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_and_days() {
        assert_eq!(endpoint_key("https://Backend.example.com/v1"), Some(("https".into(), "backend.example.com".into(), 443)));
        assert_eq!(endpoint_key("http://[::1]:8080"), Some(("http".into(), "::1".into(), 8080)));
        assert_eq!(endpoint_key("ftp://x"), None);
        assert_eq!(endpoint_key("backend.example.com"), None);
        assert_eq!(day(0), "01-01-1970");
        assert_eq!(day(2_524_607_999), "31-12-2049");
        let doc = json!({"endpointConfig": {"production_endpoints": {"url": "https://a:1"}, "sandbox_failovers": [{"url": "https://b"}]}});
        let mut urls = endpoint_urls(&doc);
        urls.sort();
        assert_eq!(urls, ["https://a:1", "https://b"]);
    }
}
