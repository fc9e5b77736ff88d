//! Key managers registered in the Admin API, compiled for the request path: whose tokens a JWT's issuer says it
//! is, where that key manager's keys are fetched from, and what a token of it must carry.

use std::sync::Arc;

use apim_jose::jwt::VerifyKey;
use serde_json::Value;

/// The names WSO2 gives the key manager every node has.
pub fn is_resident(name: &str) -> bool {
    name.is_empty() || name == RESIDENT || name == "default"
}

pub const RESIDENT: &str = "Resident Key Manager";

/// A key manager registered in the Admin API, compiled for the request path.
#[derive(Debug)]
pub struct KeyManager {
    pub name: Arc<str>,
    pub issuer: String,
    /// Where its keys are published; `None`: only `certificate` (if any) verifies its JWTs.
    jwks: Option<Arc<crate::upstream::Endpoint>>,
    /// The key of its PEM signing certificate: verifies its JWTs whatever `kid` they name, with no fetch.
    pub(crate) certificate: Option<Arc<Vec<VerifyKey>>>,
    /// Its RFC 7662 endpoint and the `Authorization` sent there: opaque tokens the resident key manager does not
    /// know are asked here, for APIs that accept this key manager.
    introspection: Option<(Arc<crate::upstream::Endpoint>, Option<http::HeaderValue>)>,
    /// `aud` values of which its tokens must carry one (checked per request: a cached token outlives a change).
    pub audiences: Vec<String>,
    pub(crate) consumer_key_claim: String,
    pub(crate) scopes_claim: String,
    /// What it was compiled from: a later snapshot with the same reuses it (and its connections).
    pub origin: apim_wire::RuntimeKeyManager,
}

/// How long the gateway waits for a key manager's JWKS.
const JWKS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// A JWKS larger than this is refused.
const JWKS_MAX: usize = 1 << 20;

impl KeyManager {
    pub fn compile(km: &apim_wire::RuntimeKeyManager, registry: &crate::upstream::Registry) -> Result<KeyManager, String> {
        let jwks = match &km.jwks_url {
            Some(url) => Some(registry.endpoint(url, JWKS_TIMEOUT).map_err(|e| format!("its JWKS URL: {e}"))?),
            None => None,
        };
        let certificate = match &km.certificate {
            Some(pem) => Some(Arc::new(vec![VerifyKey::from_pem(pem).map_err(|e| format!("its PEM certificate: {e}"))?])),
            None => None,
        };
        let introspection = match &km.introspection {
            Some(i) => {
                let endpoint = registry.endpoint(&i.url, JWKS_TIMEOUT).map_err(|e| format!("its introspection URL: {e}"))?;
                let auth = match i.authorization.as_str() {
                    "" => None,
                    a => Some(
                        http::HeaderValue::from_str(a).map_err(|_| "its introspection credentials are not a header value".to_string())?,
                    ),
                };
                Some((endpoint, auth))
            }
            None => None,
        };
        Ok(KeyManager {
            name: km.name.as_str().into(),
            issuer: km.issuer.clone(),
            jwks,
            certificate,
            introspection,
            audiences: km.audiences.clone(),
            consumer_key_claim: km.consumer_key_claim.clone().unwrap_or_else(|| "azp".into()),
            scopes_claim: km.scopes_claim.clone().unwrap_or_else(|| "scope".into()),
            origin: km.clone(),
        })
    }

    pub(crate) async fn fetch_keys(&self, tls: &tokio_rustls::TlsConnector) -> Result<Vec<VerifyKey>, String> {
        let Some(endpoint) = &self.jwks else { return Err("it publishes no JWKS".into()) };
        let mut req = http::Request::get(endpoint.uri_for("", None).map_err(|e| e.to_string())?)
            .header(http::header::ACCEPT, "application/json")
            .body(crate::reply::body(bytes::Bytes::new()))
            .map_err(|e| e.to_string())?;
        if let Some(host) = endpoint.host_header() {
            req.headers_mut().insert(http::header::HOST, host.clone());
        }
        let resp = endpoint.send(tls, req, std::time::Instant::now()).await.map_err(|e| e.to_string())?;
        if !resp.status().is_success() {
            return Err(format!("its JWKS endpoint answered {}", resp.status()));
        }
        let mut body = resp.into_body();
        let text = match crate::body::read_up_to(&mut body, JWKS_MAX).await {
            Ok(b) => b,
            Err(crate::body::ReadWhole::TooLong) => return Err("its JWKS is over 1 MiB".into()),
            Err(crate::body::ReadWhole::Failed(e)) => return Err(format!("its JWKS could not be read: {e}")),
        };
        let doc: Value = serde_json::from_slice(&text).map_err(|e| format!("its JWKS is not JSON: {e}"))?;
        Ok(doc.get("keys").and_then(Value::as_array).into_iter().flatten().filter_map(VerifyKey::from_jwk).collect())
    }
}

/// What a key manager's RFC 7662 endpoint says of an active token.
pub(crate) struct Introspected {
    pub client_id: String,
    pub subject: String,
    pub scopes: Vec<String>,
    pub expires_at: i64,
    pub application_token: Option<bool>,
}

/// An introspection answer is small; anything larger is refused.
const INTROSPECTION_MAX: usize = 64 << 10;

impl KeyManager {
    pub(crate) fn introspects(&self) -> bool {
        self.introspection.is_some() && self.origin.enabled
    }

    /// Asks this key manager about an opaque token: `Ok(None)` when it says inactive (or has no endpoint).
    pub(crate) async fn introspect(&self, tls: &tokio_rustls::TlsConnector, token: &str) -> Result<Option<Introspected>, String> {
        let Some((endpoint, auth)) = &self.introspection else { return Ok(None) };
        let form = form_urlencoded::Serializer::new(String::new()).append_pair("token", token).finish();
        let mut req = http::Request::post(endpoint.uri_for("", None).map_err(|e| e.to_string())?)
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(crate::reply::body(bytes::Bytes::from(form)))
            .map_err(|e| e.to_string())?;
        if let Some(host) = endpoint.host_header() {
            req.headers_mut().insert(http::header::HOST, host.clone());
        }
        if let Some(a) = auth {
            req.headers_mut().insert(http::header::AUTHORIZATION, a.clone());
        }
        let resp = endpoint.send(tls, req, std::time::Instant::now()).await.map_err(|e| e.to_string())?;
        if !resp.status().is_success() {
            return Err(format!("its introspection endpoint answered {}", resp.status()));
        }
        let mut body = resp.into_body();
        let text = match crate::body::read_up_to(&mut body, INTROSPECTION_MAX).await {
            Ok(b) => b,
            Err(crate::body::ReadWhole::TooLong) => return Err("its introspection answer is over 64 KiB".into()),
            Err(crate::body::ReadWhole::Failed(e)) => return Err(format!("its introspection answer could not be read: {e}")),
        };
        let doc: Value = serde_json::from_slice(&text).map_err(|e| format!("its introspection answer is not JSON: {e}"))?;
        // RFC 7662: only `active: true` means anything; a refresh token is not an access token.
        if doc.get("active").and_then(Value::as_bool) != Some(true)
            || doc.get("token_type").and_then(Value::as_str) == Some("refresh_token")
        {
            return Ok(None);
        }
        let s = |f: &str| doc.get(f).and_then(Value::as_str).unwrap_or("").to_string();
        Ok(Some(Introspected {
            client_id: s("client_id"),
            subject: doc.get("sub").or_else(|| doc.get("username")).and_then(Value::as_str).unwrap_or("").to_string(),
            scopes: s("scope").split(' ').filter(|x| !x.is_empty()).map(str::to_string).collect(),
            expires_at: doc.get("exp").and_then(Value::as_i64).unwrap_or(0),
            application_token: apim_domain::scopes::Introspection::application_token_from(&s("aut")),
        }))
    }
}

/// Whether `aud` (a string or a list) names one of `wanted`.
pub fn names_audience(claims: Option<&Value>, wanted: &[String]) -> bool {
    match claims.and_then(|c| c.get("aud")) {
        Some(Value::String(a)) => wanted.iter().any(|w| w == a),
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).any(|a| wanted.iter().any(|w| w == a)),
        _ => false,
    }
}
