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
        Ok(KeyManager {
            name: km.name.as_str().into(),
            issuer: km.issuer.clone(),
            jwks,
            certificate,
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

/// Whether `aud` (a string or a list) names one of `wanted`.
pub fn names_audience(claims: Option<&Value>, wanted: &[String]) -> bool {
    match claims.and_then(|c| c.get("aud")) {
        Some(Value::String(a)) => wanted.iter().any(|w| w == a),
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).any(|a| wanted.iter().any(|w| w == a)),
        _ => false,
    }
}
