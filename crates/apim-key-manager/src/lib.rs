//! Key manager role: a standards-compliant OAuth2 server. Token endpoint (client_credentials, password,
//! refresh_token with rotation, authorization_code with PKCE S256), introspection (RFC 7662), revocation
//! (RFC 7009), JWKS (RFC 7517), discovery, userinfo, a login page for the authorization-code flow, and client
//! registration (WSO2's v0.17 and RFC 7591). Everything is persisted through the store's `OAuthStore`, so
//! several key-manager nodes on one database honour each other's tokens and revocations.
//!
//! **Architecture Invariant:** no secret or token appears in a log line; tokens and secrets are stored only as
//! SHA-256 hashes (JWTs by `jti`); secrets are compared in constant time.

#![forbid(unsafe_code)]

mod authorize;
pub use apim_jose::crypto;
mod dcr;
mod error;
mod form;
mod http;
pub use apim_jose::jwt;
pub mod notify;
mod registrar;
mod scope;
mod service;
mod writer;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use apim_config::DeploymentConfig;
use apim_domain::clock::Clock;
use apim_domain::oauth::TokenFormat;
use apim_store::{Db, OAuthStore};

pub use error::OAuthError;
pub use jwt::{Alg, SigningKey};

/// What the key manager reads from `deployment.toml`.
#[derive(Clone, Debug)]
pub struct Config {
    /// `iss` of JWTs and discovery's `issuer`: `[oauth] issuer`, default `{base_url}/oauth2/token`.
    pub issuer: String,
    /// Where clients reach this node, for discovery's endpoints: `[server] hostname` with
    /// `[transport.https.properties] proxyPort` when set (a load balancer's port), else the bound HTTPS port
    /// ([`DeploymentConfig::public_https_base`]).
    pub base_url: String,
    pub access_ttl: i64,
    pub refresh_ttl: i64,
    pub code_ttl: i64,
    /// Token format for clients that do not choose one.
    pub default_format: TokenFormat,
    /// How JWTs are signed (`[oauth.token_generation] signing_algorithm`); the key given to
    /// [`KeyManager::start`] must be for it.
    pub signing_algorithm: jwt::Alg,
    pub listeners: Vec<notify::Listener>,
    /// `--hosts`: names of revocation listeners resolve here first.
    pub hosts: apim_config::HostsFile,
}

impl Config {
    pub fn from_deployment(d: &DeploymentConfig) -> Config {
        let base_url = d.public_https_base();
        let o = &d.oauth;
        Config {
            issuer: o.issuer.clone().unwrap_or_else(|| format!("{base_url}/oauth2/token")),
            base_url,
            access_ttl: o.access_token_ttl,
            refresh_ttl: o.refresh_token_ttl,
            code_ttl: o.authorization_code_ttl,
            default_format: if o.opaque_by_default { TokenFormat::Opaque } else { TokenFormat::Jwt },
            signing_algorithm: match o.signing_algorithm {
                apim_config::TokenSigning::Rs256 => jwt::Alg::Rs256,
                apim_config::TokenSigning::Es256 => jwt::Alg::Es256,
                apim_config::TokenSigning::EdDsa => jwt::Alg::EdDsa,
            },
            listeners: d
                .event_listeners
                .iter()
                .filter(|l| l.id == "token_revocation")
                .filter_map(|l| {
                    Some(notify::Listener {
                        url: l.notification_endpoint.clone()?,
                        username: l.username.clone(),
                        password: l.password.as_ref().map(|p| p.expose().to_string()),
                        headers: l.headers.clone(),
                    })
                })
                .collect(),
            hosts: apim_config::HostsFile::default(),
        }
    }

    pub fn summary(&self) -> String {
        format!(
            "issuer {}, {} revocation listener(s), default token {}, JWTs signed {}",
            self.issuer,
            self.listeners.len(),
            self.default_format.as_str(),
            self.signing_algorithm.name()
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KmError {
    #[error("the key manager's signing key: {0}")]
    Key(#[from] jwt::BadKey),
    #[error("cannot publish the signing key: {0}")]
    Store(#[from] apim_store::StoreError),
}

pub struct KeyManager {
    /// `apim_db`: clients, tokens, codes, keys.
    db: Db,
    /// `shared_db`: the user store, with cached password checks.
    users: apim_store::UserAuth,
    cfg: Config,
    key: SigningKey,
    verify_keys: RwLock<(Instant, Vec<jwt::VerifyKey>)>,
    notifier: notify::Notifier,
    writer: writer::TokenWriter,
    /// Clients seen by the token endpoint, for a few seconds: the token writer re-checks each client in the
    /// transaction that stores its tokens, so a stale entry can never yield a stored token.
    client_cache: RwLock<HashMap<String, (apim_domain::oauth::OAuthClient, Instant)>>,
    /// Decides what has expired: tokens, codes, signing keys.
    clock: Clock,
}

impl KeyManager {
    /// Publishes this node's signing key to the JWKS (older keys retire once their tokens have expired) and
    /// starts the revocation notifier.
    pub async fn start(
        db: Db,
        users: Db,
        cfg: Config,
        signing_key_der: &[u8],
        tls: Arc<rustls::ClientConfig>,
    ) -> Result<Arc<KeyManager>, KmError> {
        KeyManager::start_with_clock(db, users, cfg, signing_key_der, tls, Clock::system()).await
    }

    /// [`KeyManager::start`] deciding expiry (tokens, codes, signing keys, kept notices) by `clock`.
    pub async fn start_with_clock(
        db: Db,
        users: Db,
        cfg: Config,
        signing_key_der: &[u8],
        tls: Arc<rustls::ClientConfig>,
        clock: Clock,
    ) -> Result<Arc<KeyManager>, KmError> {
        let key = SigningKey::from_pkcs8(cfg.signing_algorithm, signing_key_der)?;
        let now = clock.unix_secs();
        db.put_jwk(&key.kid, &key.jwk.to_string(), now).await?;
        db.retire_jwks_except(&key.kid, now + cfg.access_ttl).await?;
        let notifier = notify::Notifier::start(db.clone(), cfg.listeners.clone(), tls, &cfg.hosts, clock.clone());
        let writer = writer::TokenWriter::start(db.clone());
        let km = Arc::new(KeyManager {
            writer,
            db,
            users: apim_store::UserAuth::new(users),
            cfg,
            key,
            verify_keys: RwLock::new((Instant::now() - Duration::from_secs(3600), Vec::new())),
            notifier,
            client_cache: RwLock::new(HashMap::new()),
            clock,
        });
        km.reload_keys().await?;
        Ok(km)
    }

    pub fn router(self: &Arc<Self>) -> axum::Router {
        http::router(self.clone())
    }

    /// Revocations as they happen, for an in-process gateway.
    pub fn revocations(&self) -> tokio::sync::broadcast::Receiver<apim_domain::scopes::RevokedToken> {
        self.notifier.subscribe()
    }

    pub fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    async fn reload_keys(&self) -> Result<Vec<jwt::VerifyKey>, apim_store::StoreError> {
        let rows = self.db.live_jwks(self.clock.unix_secs()).await?;
        let keys: Vec<jwt::VerifyKey> =
            rows.iter().filter_map(|(_, j)| serde_json::from_str(j).ok()).filter_map(|v| jwt::VerifyKey::from_jwk(&v)).collect();
        if let Ok(mut k) = self.verify_keys.write() {
            *k = (Instant::now(), keys.clone());
        }
        Ok(keys)
    }

    /// Verification keys; re-read from the database when a token names a key we do not know (another node's),
    /// at most ten times a second (a stream of made-up kids must not become a stream of queries).
    async fn keys_for(&self, kid: Option<&str>) -> Vec<jwt::VerifyKey> {
        let (fetched, keys) = self.verify_keys.read().map(|k| (k.0, k.1.clone())).unwrap_or((Instant::now(), Vec::new()));
        let known = kid.is_none_or(|kid| keys.iter().any(|k| k.kid == kid));
        if known && fetched.elapsed() < Duration::from_secs(300) {
            return keys;
        }
        if fetched.elapsed() < Duration::from_millis(100) {
            return keys;
        }
        self.reload_keys().await.unwrap_or(keys)
    }
}
