//! A key manager reached over HTTP(S), for nodes without a resident one: a control plane with
//! `[apim.key_manager] service_url` registers application clients through RFC 7591
//! (`/keymanager-operations/dcr/register`) and validates REST bearer tokens by introspection; a gateway on its own
//! node introspects opaque tokens and fetches the JWKS. Calls authenticate with the `[apim.key_manager]`
//! credentials (HTTP Basic), resolve host names through the node's hosts file first, verify TLS against the
//! truststore, and time out after 10 s. A peer that is silent, refuses the connection or is not ready (503) is
//! passed over for the next one (or, alone, tried once more), on a new connection; a call that may be repeated
//! (introspection, the JWKS, tokens) leaves a peer silent for 3 s when another attempt remains.
//!
//! **Architecture Invariant:** implements the domain's traits (`KeyManagerClient`, `TokenValidator`,
//! `TokenAuthority`) only; no role crate depends on another through it.

#![forbid(unsafe_code)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use apim_config::HostsFile;
use apim_domain::keys::{
    BoxFuture, ClientKeys, ClientRequest, IssuedToken, KeyError, KeyManagerClient, KeyManagerConnector, RegisteredKeyManager,
    RegistrationAuth, RegistrationProtocol,
};
use apim_domain::scopes::{AuthorityError, Introspection, TokenAuthority, TokenInfo, TokenValidator};
use base64::Engine;
use http::{Method, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

const TIMEOUT: Duration = Duration::from_secs(10);
/// How long a peer may take to start answering a call that can be repeated elsewhere, when another attempt
/// remains: a frozen key manager (its sockets open, nothing answering) costs this, not [`TIMEOUT`]. The last
/// attempt keeps [`TIMEOUT`], so a slow key manager still answers in the end.
const ANSWER: Duration = Duration::from_secs(3);

type HttpClient = Client<apim_net::HttpsConnector, Full<Bytes>>;

pub struct RemoteKeyManager {
    /// `https://km.example.com:9443`: scheme, host and port of `service_url` (its `/services/` path is WSO2's
    /// SOAP root, not used).
    base: String,
    /// Where calls go, in order: `base`, then any fallbacks; each with its own HTTP client (connection pool),
    /// replaced when that peer fails or is not ready, so no connection is reused across a failover.
    peers: Vec<Peer>,
    /// Index into `peers` of the one that answered last.
    preferred: AtomicUsize,
    hosts: HostsFile,
    tls: Arc<rustls::ClientConfig>,
    /// The `Authorization` header of the control plane's calls (HTTP Basic as a user; for a key manager registered
    /// in the Admin API whatever it was given, or none).
    basic: Option<String>,
    /// Where clients are registered and managed, and where tokens are asked for: paths on every peer, or (for a
    /// key manager registered in the Admin API) absolute URLs.
    registration: String,
    token: String,
    protocol: RegistrationProtocol,
    /// Names the key manager in errors: its Admin-API name, or its base URL.
    label: String,
    /// The `iss` its JWTs carry: configured, or (when not) what the key manager's discovery document states,
    /// read with each JWKS fetch over the verified `service_url` connection.
    issuer: std::sync::RwLock<String>,
    issuer_configured: bool,
}

struct Peer {
    base: String,
    client: std::sync::Mutex<HttpClient>,
}

/// How a call may be repeated on another peer (or a fresh connection to the same one).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Repeat {
    /// Reads, introspection, tokens: after any failure, including silence once the request was sent.
    Safe,
    /// Registration and deletion: only when the request certainly did nothing (no connection, or 503).
    Once,
}

/// Whether a 404 is the key manager's answer (no such client) or a node that does not serve the path (yet).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Missing {
    Answer,
    NotServed,
}

#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not an http(s) URL with a host")]
pub struct BadServiceUrl(String);

impl RemoteKeyManager {
    /// `issuer`: the `iss` its JWTs carry; `None` assumes the key manager's default, `{base}/oauth2/token`, until
    /// its discovery document says otherwise (a key manager behind a balancer names its own host).
    pub fn new(
        service_url: &str,
        username: &str,
        password: &str,
        issuer: Option<String>,
        hosts: HostsFile,
        tls: Arc<rustls::ClientConfig>,
    ) -> Result<RemoteKeyManager, BadServiceUrl> {
        let uri: http::Uri = service_url.parse().map_err(|_| BadServiceUrl(service_url.into()))?;
        let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else { return Err(BadServiceUrl(service_url.into())) };
        if scheme != "http" && scheme != "https" {
            return Err(BadServiceUrl(service_url.into()));
        }
        let base = format!("{scheme}://{authority}");
        let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}")));
        let peers = vec![Peer { base: base.clone(), client: std::sync::Mutex::new(http_client(&hosts, &tls)) }];
        Ok(RemoteKeyManager {
            issuer_configured: issuer.is_some(),
            issuer: std::sync::RwLock::new(issuer.unwrap_or_else(|| format!("{base}/oauth2/token"))),
            label: base.clone(),
            base,
            peers,
            preferred: AtomicUsize::new(0),
            hosts,
            tls,
            basic: Some(basic),
            registration: "/keymanager-operations/dcr/register".into(),
            token: "/oauth2/token".into(),
            protocol: RegistrationProtocol::Wso2,
        })
    }

    /// A client for a key manager registered in the Admin API: its registration and token endpoints as given
    /// (one peer: the registration endpoint's origin), authenticated as configured.
    pub fn registered(
        km: &RegisteredKeyManager,
        hosts: HostsFile,
        tls: Arc<rustls::ClientConfig>,
    ) -> Result<RemoteKeyManager, BadServiceUrl> {
        let origin = |url: &str| -> Result<String, BadServiceUrl> {
            let uri: http::Uri = url.parse().map_err(|_| BadServiceUrl(url.into()))?;
            match (uri.scheme_str(), uri.authority()) {
                (Some(scheme @ ("http" | "https")), Some(authority)) => Ok(format!("{scheme}://{authority}")),
                _ => Err(BadServiceUrl(url.into())),
            }
        };
        let base = origin(&km.registration_endpoint)?;
        origin(&km.token_endpoint)?;
        let basic = match &km.auth {
            RegistrationAuth::None => None,
            RegistrationAuth::Basic { username, password } => {
                Some(format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))))
            }
            RegistrationAuth::Bearer(token) => Some(format!("Bearer {token}")),
        };
        let peers = vec![Peer { base: base.clone(), client: std::sync::Mutex::new(http_client(&hosts, &tls)) }];
        Ok(RemoteKeyManager {
            issuer_configured: false,
            issuer: std::sync::RwLock::new(String::new()),
            label: format!("`{}` ({base})", km.name),
            base,
            peers,
            preferred: AtomicUsize::new(0),
            hosts,
            tls,
            basic,
            registration: km.registration_endpoint.trim_end_matches('/').to_string(),
            token: km.token_endpoint.clone(),
            protocol: km.protocol,
        })
    }

    /// Other places the same key manager is reached (`scheme://host:port`), tried in order after `service_url`
    /// when it is silent, refuses connections or is not ready: a gateway whose key manager is the control
    /// plane's resident one tries every control plane it syncs from.
    pub fn with_fallbacks(mut self, bases: &[String]) -> RemoteKeyManager {
        for b in bases {
            let b = b.trim_end_matches('/');
            if !self.peers.iter().any(|p| p.base == b) {
                self.peers.push(Peer { base: b.to_string(), client: std::sync::Mutex::new(http_client(&self.hosts, &self.tls)) });
            }
        }
        self
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    fn client(&self, peer: usize) -> HttpClient {
        self.peers[peer].client.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Drops the pooled connections to a peer that failed: the next call opens a new one, which behind a load
    /// balancer may reach another key manager.
    fn forget(&self, peer: usize) {
        *self.peers[peer].client.lock().unwrap_or_else(|p| p.into_inner()) = http_client(&self.hosts, &self.tls);
    }

    /// One call: `(status, JSON body or Null)` from the first peer that answers it. A peer that is silent,
    /// refuses the connection, answers 503 (not ready) or 404 on a path every key manager serves is left for the
    /// next one, on a new connection (with one peer, a second attempt on a new connection: a balancer may send
    /// it elsewhere). Transport failures and timeouts everywhere are `Unavailable`.
    async fn call(
        &self,
        method: Method,
        path: &str,
        auth: Option<&str>,
        body: Option<(&str, String)>,
        repeat: Repeat,
        missing: Missing,
    ) -> Result<(StatusCode, Value), KeyError> {
        let n = self.peers.len();
        let first = self.preferred.load(Ordering::Relaxed) % n;
        let mut errors: Vec<String> = Vec::new();
        let attempts = n.max(2);
        for attempt in 0..attempts {
            let i = (first + attempt) % n;
            let wait = if repeat == Repeat::Safe && attempt + 1 < attempts { ANSWER } else { TIMEOUT };
            let base = &self.peers[i].base;
            // A path is the same on every peer; an absolute URL (a registered key manager's endpoint) is itself.
            let uri = if path.starts_with('/') { format!("{base}{path}") } else { path.to_string() };
            let mut req = http::Request::builder().method(method.clone()).uri(uri);
            if let Some(auth) = auth {
                req = req.header(header::AUTHORIZATION, auth);
            }
            let payload = match &body {
                Some((content_type, text)) => {
                    req = req.header(header::CONTENT_TYPE, *content_type);
                    Bytes::from(text.clone())
                }
                None => Bytes::new(),
            };
            let req = req.body(Full::new(payload)).map_err(|e| KeyError::Unavailable(e.to_string()))?;
            // `sent`: the request may have reached the key manager.
            let (failure, sent) = match tokio::time::timeout(wait, self.client(i).request(req)).await {
                Err(_) => (format!("{base}: no answer within {wait:?}"), true),
                Ok(Err(e)) => (apim_net::describe(&e, base), !e.is_connect()),
                Ok(Ok(resp)) => {
                    let status = resp.status();
                    match tokio::time::timeout(TIMEOUT, resp.into_body().collect()).await {
                        Ok(Ok(bytes)) => {
                            let value = serde_json::from_slice(&bytes.to_bytes()).unwrap_or(Value::Null);
                            let elsewhere = status == StatusCode::SERVICE_UNAVAILABLE
                                || (status == StatusCode::NOT_FOUND && missing == Missing::NotServed)
                                || (status.is_server_error() && repeat == Repeat::Safe);
                            if !elsewhere {
                                self.preferred.store(i, Ordering::Relaxed);
                                return Ok((status, value));
                            }
                            let why = value.get("description").or_else(|| value.get("error_description")).and_then(Value::as_str);
                            let failure = format!("{base} answered {status}{}", why.map(|w| format!(": {w}")).unwrap_or_default());
                            // A 503 (not ready) or a 404 (path not served) did nothing; another 5xx may have.
                            (failure, status != StatusCode::SERVICE_UNAVAILABLE && status != StatusCode::NOT_FOUND)
                        }
                        Ok(Err(e)) => (apim_net::describe(&e, base), true),
                        Err(_) => (format!("{base}: no answer within {TIMEOUT:?} (reading it)"), true),
                    }
                }
            };
            self.forget(i);
            if !errors.contains(&failure) {
                errors.push(failure);
            }
            if sent && repeat == Repeat::Once {
                break;
            }
        }
        Err(KeyError::Unavailable(format!("key manager {} unavailable: {}", self.label, errors.join("; "))))
    }

    /// Maps a non-success answer: 4xx is the caller's mistake (or a missing client), 5xx the key manager's.
    fn refused(&self, status: StatusCode, body: &Value) -> KeyError {
        let what = body
            .get("error_description")
            .or_else(|| body.get("error"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| format!("answered {status}"));
        match status {
            StatusCode::NOT_FOUND => KeyError::NotFound(what),
            s if s.is_client_error() => KeyError::Invalid(what),
            _ => KeyError::Unavailable(format!("key manager {}: {what}", self.label)),
        }
    }

    /// Maps a non-success answer to the control plane's own registration calls: 401/403 there refuse the control
    /// plane's credentials (the key manager's configuration), not the caller's request.
    fn refused_registration(&self, status: StatusCode, body: &Value) -> KeyError {
        match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                KeyError::Unavailable(format!("key manager {} refused the control plane's credentials ({status})", self.label))
            }
            _ => self.refused(status, body),
        }
    }

    async fn introspection(&self, token: &str) -> Result<Option<Introspection>, KeyError> {
        let form = form_urlencoded::Serializer::new(String::new()).append_pair("token", token).finish();
        let (status, body) = self
            .call(
                Method::POST,
                "/oauth2/introspect",
                self.basic.as_deref(),
                Some(("application/x-www-form-urlencoded", form)),
                Repeat::Safe,
                Missing::NotServed,
            )
            .await?;
        if !status.is_success() {
            return Err(self.refused(status, &body));
        }
        if body.get("active").and_then(Value::as_bool) != Some(true)
            || body.get("token_type").and_then(Value::as_str) == Some("refresh_token")
        {
            return Ok(None);
        }
        let s = |f: &str| body.get(f).and_then(Value::as_str).unwrap_or("").to_string();
        Ok(Some(Introspection {
            client_id: s("client_id"),
            subject: body.get("sub").or_else(|| body.get("username")).and_then(Value::as_str).unwrap_or("").to_string(),
            scopes: s("scope").split(' ').filter(|x| !x.is_empty()).map(str::to_string).collect(),
            expires_at: body.get("exp").and_then(Value::as_i64).unwrap_or(0),
            application_token: Introspection::application_token_from(&s("aut")),
        }))
    }
}

fn http_client(hosts: &HostsFile, tls: &rustls::ClientConfig) -> HttpClient {
    Client::builder(TokioExecutor::new()).pool_idle_timeout(Duration::from_secs(60)).build(apim_net::https_connector(hosts, tls))
}

impl KeyManagerClient for RemoteKeyManager {
    fn register(&self, req: ClientRequest) -> BoxFuture<'_, Result<ClientKeys, KeyError>> {
        Box::pin(async move {
            let token_type = if req.token_type.eq_ignore_ascii_case("OPAQUE") || req.token_type.eq_ignore_ascii_case("OAUTH") {
                "OPAQUE"
            } else {
                "JWT"
            };
            let redirect_uris = req.callback_url.into_iter().collect::<Vec<_>>();
            let body = match self.protocol {
                RegistrationProtocol::Wso2 => json!({"client_name": req.name, "ext_application_owner": req.owner,
                    "grant_types": req.grant_types, "redirect_uris": redirect_uris, "token_type_extension": token_type}),
                // Only RFC 7591's own metadata: a server that rejects unknown fields must still take it.
                RegistrationProtocol::Rfc7591 => json!({"client_name": req.name, "grant_types": req.grant_types,
                    "redirect_uris": redirect_uris, "token_endpoint_auth_method": "client_secret_basic"}),
            };
            let (status, v) = self
                .call(
                    Method::POST,
                    &self.registration,
                    self.basic.as_deref(),
                    Some(("application/json", body.to_string())),
                    Repeat::Once,
                    Missing::NotServed,
                )
                .await?;
            if !status.is_success() {
                return Err(self.refused_registration(status, &v));
            }
            match (v.get("client_id").and_then(Value::as_str), v.get("client_secret").and_then(Value::as_str)) {
                (Some(id), Some(secret)) => Ok(ClientKeys { client_id: id.to_string(), client_secret: secret.to_string() }),
                _ => Err(KeyError::Unavailable(format!("key manager {}: registration answer without client_id/client_secret", self.label))),
            }
        })
    }

    fn regenerate_secret<'a>(&'a self, client_id: &'a str) -> BoxFuture<'a, Result<String, KeyError>> {
        Box::pin(async move {
            if self.protocol == RegistrationProtocol::Rfc7591 {
                return Err(KeyError::Invalid(format!(
                    "key manager {} registers clients by RFC 7591, which defines no secret regeneration: clean up the keys and generate new ones",
                    self.label
                )));
            }
            let path = format!("{}/{client_id}/regenerate-consumer-secret", self.registration);
            // A second regeneration after a lost answer leaves the secret the caller is given: safe to repeat.
            let (status, v) = self.call(Method::POST, &path, self.basic.as_deref(), None, Repeat::Safe, Missing::Answer).await?;
            if !status.is_success() {
                return Err(self.refused_registration(status, &v));
            }
            v.get("client_secret")
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| KeyError::Unavailable(format!("key manager {}: no client_secret in the answer", self.label)))
        })
    }

    fn delete_client<'a>(&'a self, client_id: &'a str) -> BoxFuture<'a, Result<(), KeyError>> {
        Box::pin(async move {
            let path = format!("{}/{client_id}", self.registration);
            let (status, v) = self.call(Method::DELETE, &path, self.basic.as_deref(), None, Repeat::Once, Missing::Answer).await?;
            if status.is_success() { Ok(()) } else { Err(self.refused_registration(status, &v)) }
        })
    }

    fn update_client<'a>(
        &'a self,
        client_id: &'a str,
        grant_types: &'a [String],
        callback_url: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), KeyError>> {
        Box::pin(async move {
            let path = format!("{}/{client_id}", self.registration);
            let mut body = json!({"grant_types": grant_types, "redirect_uris": callback_url.into_iter().collect::<Vec<_>>()});
            if self.protocol == RegistrationProtocol::Rfc7591 {
                // RFC 7592 §2.2: the update carries the client's id.
                body["client_id"] = json!(client_id);
            }
            // The same document twice leaves the same client: safe to repeat.
            let (status, v) = self
                .call(
                    Method::PUT,
                    &path,
                    self.basic.as_deref(),
                    Some(("application/json", body.to_string())),
                    Repeat::Safe,
                    Missing::Answer,
                )
                .await?;
            if status.is_success() { Ok(()) } else { Err(self.refused_registration(status, &v)) }
        })
    }

    fn client_credentials_token<'a>(
        &'a self,
        client_id: &'a str,
        client_secret: &'a str,
        scopes: &'a [String],
        lifetime: Option<i64>,
    ) -> BoxFuture<'a, Result<IssuedToken, KeyError>> {
        Box::pin(async move {
            // The serializer is not Send: finish it before the first await.
            let form = {
                let mut form = form_urlencoded::Serializer::new(String::new());
                form.append_pair("grant_type", "client_credentials");
                if !scopes.is_empty() {
                    form.append_pair("scope", &scopes.join(" "));
                }
                // WSO2's parameter for it, which our key manager reads too.
                if let Some(secs) = lifetime {
                    form.append_pair("validity_period", &secs.to_string());
                }
                form.finish()
            };
            let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{client_id}:{client_secret}")));
            let (status, v) = self
                .call(
                    Method::POST,
                    &self.token,
                    Some(&basic),
                    Some(("application/x-www-form-urlencoded", form)),
                    Repeat::Safe,
                    Missing::NotServed,
                )
                .await?;
            if !status.is_success() {
                return Err(self.refused(status, &v));
            }
            Ok(IssuedToken {
                access_token: v.get("access_token").and_then(Value::as_str).unwrap_or("").to_string(),
                scope: v.get("scope").and_then(Value::as_str).unwrap_or("").to_string(),
                expires_in: v.get("expires_in").and_then(Value::as_i64).unwrap_or(0),
            })
        })
    }
}

impl TokenValidator for RemoteKeyManager {
    fn validate<'a>(&'a self, token: &'a str) -> Pin<Box<dyn Future<Output = Option<TokenInfo>> + Send + 'a>> {
        Box::pin(async move {
            match self.introspection(token).await {
                Ok(found) => found.map(|i| TokenInfo { subject: i.subject, client_id: i.client_id, scopes: i.scopes }),
                Err(e) => {
                    tracing::warn!("cannot validate a bearer token: {e}");
                    None
                }
            }
        })
    }
}

impl TokenAuthority for RemoteKeyManager {
    fn introspect<'a>(
        &'a self,
        token: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<Option<Introspection>, AuthorityError>> + Send + 'a>> {
        Box::pin(async move { Ok(self.introspection(token).await?) })
    }

    fn jwks(&self) -> Pin<Box<dyn Future<Output = Result<String, AuthorityError>> + Send + '_>> {
        Box::pin(async move {
            let (status, v) = self.call(Method::GET, "/oauth2/jwks", self.basic.as_deref(), None, Repeat::Safe, Missing::NotServed).await?;
            if !status.is_success() || v.get("keys").is_none() {
                return Err(AuthorityError::Refused(format!("JWKS answered {status}")));
            }
            if !self.issuer_configured {
                let path = "/oauth2/token/.well-known/openid-configuration";
                let found = self.call(Method::GET, path, self.basic.as_deref(), None, Repeat::Safe, Missing::NotServed).await;
                match found {
                    Ok((s, d)) if s.is_success() => {
                        if let Some(iss) = d.get("issuer").and_then(serde_json::Value::as_str).filter(|i| !i.is_empty()) {
                            let mut known = self.issuer.write().unwrap_or_else(|e| e.into_inner());
                            if *known != iss {
                                tracing::info!(issuer = iss, "the key manager's discovery document names its issuer");
                                *known = iss.to_string();
                            }
                        }
                    }
                    Ok((s, _)) => tracing::debug!("the key manager's discovery document answered {s}"),
                    Err(e) => tracing::debug!("cannot read the key manager's discovery document: {e}"),
                }
            }
            Ok(v.to_string())
        })
    }

    fn issuer(&self) -> String {
        self.issuer.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Makes [`RemoteKeyManager`]s for key managers registered in the Admin API, with this node's host names and TLS.
pub struct Connector {
    hosts: HostsFile,
    tls: Arc<rustls::ClientConfig>,
}

impl Connector {
    pub fn new(hosts: HostsFile, tls: Arc<rustls::ClientConfig>) -> Connector {
        Connector { hosts, tls }
    }
}

impl KeyManagerConnector for Connector {
    fn connect(&self, km: &RegisteredKeyManager) -> Result<Arc<dyn KeyManagerClient>, KeyError> {
        RemoteKeyManager::registered(km, self.hosts.clone(), self.tls.clone())
            .map(|c| Arc::new(c) as Arc<dyn KeyManagerClient>)
            .map_err(|e| KeyError::Invalid(format!("key manager `{}`: {e}", km.name)))
    }
}
