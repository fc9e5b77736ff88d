//! HTTP(S) to an environment: TLS verified against the system's roots (or not at all with `-k`, as apictl), a
//! timeout per request (`http_request_timeout`), and apictl's login: DCR with the user's HTTP Basic credentials,
//! then a password-grant token with apictl's scope list, kept in keys.json and reused by the next commands until a
//! minute before it expires (WSO2's apictl asks for one before every command: a user-store check each time).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use http::{Method, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

use crate::store::{Credential, Environment};

/// The scopes apictl asks for with every token (apictl 4.2's list).
pub const SCOPES: &str = "apim:app_import_export apim:api_import_export apim:api_product_import_export apim:app_manage \
    apim:sub_manage apim:api_view apim:api_delete apim:app_owner_change apim:subscribe apim:api_publish apim:admin \
    apim:policies_import_export";

#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("{url}: {cause}")]
    Transport { url: String, cause: String },
    #[error("{url}: no answer within {} ms", .after.as_millis())]
    Timeout { url: String, after: Duration },
    /// The server's answer: its status and WSO2's message (or the body).
    #[error("{url}: {status} {message}")]
    Status { url: String, status: StatusCode, message: String },
}

/// `--verbose`: each request's method, URL, status and time on stderr (as apictl's `--verbose` logs them).
pub static VERBOSE: AtomicBool = AtomicBool::new(false);

pub struct Http {
    client: Client<apim_net::HttpsConnector, Full<Bytes>>,
    timeout: Duration,
}

/// Accepts any certificate: only with `-k`, as apictl's `--insecure`.
#[derive(Debug)]
struct Insecure(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for Insecure {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

impl Http {
    pub fn new(insecure: bool, timeout: Duration) -> Http {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions();
        let tls = match builder {
            Ok(b) if insecure => b.dangerous().with_custom_certificate_verifier(Arc::new(Insecure(provider))).with_no_client_auth(),
            Ok(b) => {
                let mut roots = rustls::RootCertStore::empty();
                // Certificates the system cannot parse are skipped, as every TLS client does.
                let _ = roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
                b.with_root_certificates(roots).with_no_client_auth()
            }
            Err(_) => rustls::ClientConfig::builder().with_root_certificates(rustls::RootCertStore::empty()).with_no_client_auth(),
        };
        let connector = apim_net::https_connector(&apim_config::HostsFile::default(), &tls);
        Http { client: Client::builder(TokioExecutor::new()).build(connector), timeout }
    }

    /// One request; a 2xx answer's body as JSON (`Null` when empty or not JSON), anything else an error naming
    /// the status and WSO2's message.
    pub async fn call(&self, method: Method, url: &str, auth: Option<&str>, body: Option<(&str, String)>) -> Result<Value, CallError> {
        let bytes = self.raw(method, url, auth, body).await?;
        Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    pub async fn raw(&self, method: Method, url: &str, auth: Option<&str>, body: Option<(&str, String)>) -> Result<Bytes, CallError> {
        self.send(method, url, auth, body.map(|(t, b)| (t, Bytes::from(b)))).await
    }

    pub async fn send(&self, method: Method, url: &str, auth: Option<&str>, body: Option<(&str, Bytes)>) -> Result<Bytes, CallError> {
        let transport = |cause: String| CallError::Transport { url: url.to_string(), cause };
        let mut req = http::Request::builder().method(method).uri(url).header(header::ACCEPT, "application/json");
        if let Some(a) = auth {
            req = req.header(header::AUTHORIZATION, a);
        }
        let payload = match body {
            Some((content_type, bytes)) => {
                req = req.header(header::CONTENT_TYPE, content_type);
                bytes
            }
            None => Bytes::new(),
        };
        let req = req.body(Full::new(payload)).map_err(|e| transport(e.to_string()))?;
        let verbose = VERBOSE.load(Ordering::Relaxed).then(|| (req.method().clone(), Instant::now()));
        let exchange = async {
            let resp = self.client.request(req).await.map_err(|e| transport(describe(&e)))?;
            let status = resp.status();
            let bytes = resp.into_body().collect().await.map_err(|e| transport(e.to_string()))?.to_bytes();
            Ok::<_, CallError>((status, bytes))
        };
        let (status, bytes) = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| CallError::Timeout { url: url.to_string(), after: self.timeout })??;
        if let Some((method, started)) = verbose {
            eprintln!("apictl: {method} {url} -> {} ({} ms)", status.as_u16(), started.elapsed().as_millis());
        }
        if status.is_success() {
            return Ok(bytes);
        }
        let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let message = ["description", "message", "error_description", "error"]
            .iter()
            .find_map(|k| v.get(*k).and_then(Value::as_str))
            .map(str::to_string)
            .unwrap_or_else(|| String::from_utf8_lossy(&bytes).chars().take(200).collect());
        Err(CallError::Status { url: url.to_string(), status, message })
    }
}

/// The cause of a failed request, down to the first error that says something (refused, unknown host…).
fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out = format!("{out}: {s}");
        source = s.source();
    }
    out
}

pub fn basic(user: &str, secret: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}")))
}

/// apictl's login: registers (or re-registers) its client for `user` and checks the password with a token.
pub async fn login(http: &Http, env: &Environment, user: &str, password: &str) -> Result<Credential, CallError> {
    let body = json!({"clientName": format!("rest_api_import_export_{user}"), "callbackUrl": "www.google.lk",
        "grantType": "password refresh_token", "saasApp": true, "owner": user, "tokenScope": "Production"});
    let v =
        http.call(Method::POST, &env.registration(), Some(&basic(user, password)), Some(("application/json", body.to_string()))).await?;
    let text = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let credential = Credential {
        client_id: text("clientId"),
        client_secret: text("clientSecret"),
        username: user.into(),
        password: password.into(),
        access_token: String::new(),
        expires_at: 0,
    };
    let (access_token, expires_in) = token(http, env, &credential).await?;
    Ok(Credential { access_token, expires_at: crate::store::now() + expires_in, ..credential })
}

/// The `exp` (Unix seconds) of a JWT access token; `None` for an opaque token or one that does not say.
pub fn token_expiry(token: &str) -> Option<u64> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice::<Value>(&bytes).ok()?.get("exp")?.as_u64()
}

/// A fresh access token for a stored login and its lifetime in seconds (the password grant with apictl's scopes).
pub async fn token(http: &Http, env: &Environment, c: &Credential) -> Result<(String, u64), CallError> {
    let form = form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "password")
        .append_pair("username", &c.username)
        .append_pair("password", &c.password)
        .append_pair("scope", SCOPES)
        .finish();
    let url = env.token();
    let v = http
        .call(Method::POST, &url, Some(&basic(&c.client_id, &c.client_secret)), Some(("application/x-www-form-urlencoded", form)))
        .await?;
    let expires_in = v.get("expires_in").and_then(Value::as_u64).unwrap_or(0);
    let token = v.get("access_token").and_then(Value::as_str).map(str::to_string).ok_or_else(|| CallError::Status {
        url,
        status: StatusCode::OK,
        message: "the token endpoint answered without an access_token".into(),
    })?;
    Ok((token, expires_in))
}
