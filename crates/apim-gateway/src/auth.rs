//! Token authentication: JWTs verified locally against the key manager's JWKS (cached, refreshed on an unknown
//! `kid`), opaque tokens through the key manager's introspection, both behind caches bounded by the token's
//! expiry. Revoked tokens are remembered until they expire and refused even on a cache hit.
//!
//! Key managers registered in the Admin API issue JWTs too: a token whose `iss` is one of theirs is verified with
//! the keys that key manager's JWKS endpoint publishes (fetched by the gateway, kept per issuer, refreshed on an
//! unknown `kid` at most once a second); the request path checks that the API accepts that key manager and that
//! the token names one of its audiences.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use apim_domain::scopes::TokenAuthority;
use apim_jose::crypto::{hex, sha256};
use apim_jose::jwt::{self, JwtError, VerifyKey};

use crate::keymanager::KeyManager;
use arc_swap::ArcSwap;
use dashmap::DashMap;
use serde_json::Value;

/// Leeway for `exp` and `nbf` against clock skew between nodes.
const SKEW_SECS: i64 = 30;
/// How long "not active" is remembered for an opaque token.
const NEGATIVE_TTL_MS: u64 = 30_000;
/// Positive opaque entries are re-checked at least this often.
const OPAQUE_MAX_TTL_MS: u64 = 300_000;
/// Unknown `kid`s refresh the JWKS at most this often (made-up kids must not hammer the key manager).
const JWKS_REFRESH_MS: u64 = 1_000;
/// Entries per cache; past it, expired entries go, then everything.
const CACHE_MAX: usize = 100_000;
/// JWTs are kept whole (about 1 KiB each), so their cache is smaller.
const JWT_CACHE_MAX: usize = 20_000;

/// Who is calling, as the token says.
#[derive(Debug)]
pub struct Principal {
    pub client_id: String,
    pub subject: String,
    pub scopes: Vec<String>,
    /// Unix seconds.
    pub expires_at: i64,
    /// The revocation key: `jti` for JWTs, SHA-256 hex for opaque tokens.
    pub token_id: String,
    /// The key manager registered in the Admin API that issued it; `None` for the resident one.
    pub key_manager: Option<Arc<str>>,
    /// A JWT's claims (claim-based throttling conditions).
    pub claims: Option<Value>,
    /// From a JWT's `aut` (or an introspection's): `Some(true)` for an application token (client_credentials),
    /// `Some(false)` for a user's; `None` when the token does not say (other issuers, tokens from before).
    pub application_token: Option<bool>,
    /// The application-level throttle key, made on the first request (the token's application does not change).
    app_throttle_key: std::sync::OnceLock<(String, String)>,
}

impl Principal {
    /// WSO2's application throttle key `{appId}:{user}@carbon.super`.
    pub fn app_throttle_key(&self, app_id: &str) -> std::borrow::Cow<'_, str> {
        let make = || format!("{app_id}:{}@carbon.super", self.subject);
        match self.app_throttle_key.get_or_init(|| (app_id.to_string(), make())) {
            (id, key) if id == app_id => std::borrow::Cow::Borrowed(key),
            _ => std::borrow::Cow::Owned(make()),
        }
    }
}

/// A key manager's keys as last fetched.
struct KeySet {
    keys: Arc<Vec<VerifyKey>>,
    fetched_ms: u64,
}

/// Why authentication failed: WSO2's codes (reference §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthError {
    /// 900901
    Invalid,
    /// 900903
    Expired,
    /// 900900 with 503: the key manager could not be asked.
    Unavailable,
}

struct OpaqueEntry {
    principal: Option<Arc<Principal>>,
    until_ms: u64,
}

pub struct Authenticator {
    authority: Arc<dyn TokenAuthority>,
    /// The key manager's issuer, read again with every JWKS refresh (a remote one may learn it by discovery).
    issuer: ArcSwap<String>,
    keys: ArcSwap<Vec<VerifyKey>>,
    keys_fetched_ms: AtomicU64,
    /// Verified JWTs by their full text: a fast hash finds them, and equality of the whole token (not of a
    /// digest) decides, so a cache hit can never stand in for a different token.
    jwts: DashMap<Box<[u8]>, Arc<Principal>, TailHash>,
    /// Verified API keys, by their full text.
    api_keys: DashMap<Box<str>, Arc<Principal>, foldhash::fast::RandomState>,
    opaque: DashMap<[u8; 32], OpaqueEntry, foldhash::fast::RandomState>,
    /// Revocation key → expiry (Unix seconds).
    revoked: DashMap<String, i64, foldhash::fast::RandomState>,
    /// Keys of the key managers registered in the Admin API, by issuer: kept across snapshots.
    external: DashMap<String, KeySet, foldhash::fast::RandomState>,
}

/// Hashes a verified token by its last 32 bytes and its length (the JWT's signature: as good a spread as the
/// whole, at a tenth of the work on every request). Only tokens whose signature verified are stored, so nobody
/// can fill one bucket with tokens that share an ending.
#[derive(Clone, Default)]
pub(crate) struct TailHash(foldhash::fast::RandomState);

impl std::hash::BuildHasher for TailHash {
    type Hasher = TailHasher;
    fn build_hasher(&self) -> TailHasher {
        TailHasher(self.0.build_hasher())
    }
}

pub(crate) struct TailHasher(foldhash::fast::FoldHasher<'static>);

impl std::hash::Hasher for TailHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.write(&bytes[bytes.len().saturating_sub(32)..]);
        self.0.write_usize(bytes.len());
    }
    fn write_u8(&mut self, i: u8) {
        self.0.write_u8(i);
    }
    fn write_usize(&mut self, i: usize) {
        self.0.write_usize(i);
    }
    fn finish(&self) -> u64 {
        self.0.finish()
    }
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

impl Authenticator {
    pub fn new(authority: Arc<dyn TokenAuthority>) -> Authenticator {
        Authenticator {
            issuer: ArcSwap::from_pointee(authority.issuer()),
            authority,
            keys: ArcSwap::from_pointee(Vec::new()),
            keys_fetched_ms: AtomicU64::new(0),
            jwts: DashMap::default(),
            api_keys: DashMap::default(),
            opaque: DashMap::default(),
            revoked: DashMap::default(),
            external: DashMap::default(),
        }
    }

    /// A JWT verified before, found by its bytes: the commonest case, tried before the header is read as text (a
    /// kilobyte checked for UTF-8 on every request). `None` when it is not cached: `authenticate` decides.
    pub fn cached(&self, token: &[u8], now: u64) -> Option<Result<Arc<Principal>, AuthError>> {
        let principal = self.jwts.get(token).map(|p| p.clone())?;
        Some(self.still_valid(principal, now))
    }

    /// `now`: the wall-clock time in milliseconds (the caller reads it once per request). `others`: the key
    /// managers registered in the Admin API (the snapshot's), whose keys are fetched over `tls`; `accepts`: whether
    /// the API accepts one of them by name (an opaque token is shown only to key managers the API accepts).
    pub async fn authenticate(
        &self,
        token: &str,
        now: u64,
        others: &[Arc<KeyManager>],
        accepts: &(dyn Fn(&str) -> bool + Sync),
        tls: &tokio_rustls::TlsConnector,
    ) -> Result<Arc<Principal>, AuthError> {
        // A verified JWT first: the commonest case, and it needs no look at the token's shape.
        let cached = self.jwts.get(token.as_bytes()).map(|p| p.clone());
        let principal = if let Some(p) = cached {
            p
        } else if jwt::looks_like_jwt(token) {
            let issuer = if others.is_empty() { None } else { jwt::unverified_issuer(token) };
            match issuer.and_then(|iss| others.iter().find(|k| k.issuer == iss && k.issuer != **self.issuer.load())) {
                Some(km) => self.external_jwt(token, km, now, tls).await?,
                None => self.jwt(token, now).await?,
            }
        } else {
            self.opaque(token, sha256(token.as_bytes()), now, others, accepts, tls).await?
        };
        self.still_valid(principal, now)
    }

    /// Unexpired (with the clock skew allowed) and not revoked.
    fn still_valid(&self, principal: Arc<Principal>, now: u64) -> Result<Arc<Principal>, AuthError> {
        if (principal.expires_at + SKEW_SECS) * 1000 <= now as i64 {
            return Err(AuthError::Expired);
        }
        if self.revoked.contains_key(&principal.token_id) {
            return Err(AuthError::Invalid);
        }
        Ok(principal)
    }

    /// A JWT not in the cache: verified (fetching the key manager's keys on an unknown `kid`) and cached.
    async fn jwt(&self, token: &str, now: u64) -> Result<Arc<Principal>, AuthError> {
        let kid = jwt::kid_of(token).ok_or(AuthError::Invalid)?;
        if !self.keys.load().iter().any(|k| k.kid == kid) {
            self.refresh_keys(now).await;
        }
        let claims = match jwt::verify(token, &self.keys.load()) {
            Ok(c) => c,
            Err(JwtError::Malformed | JwtError::Rejected | JwtError::BadSignature | JwtError::UnknownKey(_)) => {
                return Err(AuthError::Invalid);
            }
        };
        let s = |f: &str| claims.get(f).and_then(Value::as_str).unwrap_or("").to_string();
        let issuer = self.issuer.load();
        if !issuer.is_empty() && s("iss") != **issuer {
            return Err(AuthError::Invalid);
        }
        let secs = now as i64 / 1000;
        let exp = in_force(&claims, secs)?;
        let client_id = claims.get("azp").or_else(|| claims.get("client_id")).and_then(Value::as_str).unwrap_or("").to_string();
        let principal = Arc::new(Principal {
            client_id,
            subject: s("sub"),
            scopes: s("scope").split(' ').filter(|x| !x.is_empty()).map(str::to_string).collect(),
            expires_at: exp,
            token_id: s("jti"),
            key_manager: None,
            app_throttle_key: Default::default(),
            application_token: match claims.get("aut").and_then(Value::as_str) {
                Some("APPLICATION") => Some(true),
                Some("APPLICATION_USER") => Some(false),
                _ => None,
            },
            claims: Some(claims),
        });
        Ok(self.remember(token, principal, secs))
    }

    /// A JWT whose `iss` is a key manager registered in the Admin API: verified with that key manager's keys,
    /// its audience checked, and cached like the resident key manager's.
    async fn external_jwt(
        &self,
        token: &str,
        km: &KeyManager,
        now: u64,
        tls: &tokio_rustls::TlsConnector,
    ) -> Result<Arc<Principal>, AuthError> {
        let kid = jwt::kid_of(token).ok_or(AuthError::Invalid)?;
        let known = self.external.get(&km.issuer).map(|k| (k.keys.clone(), k.fetched_ms));
        let keys = match known {
            // A PEM certificate is the key manager's one key: nothing to fetch.
            _ if let Some(certificate) = &km.certificate => certificate.clone(),
            Some((keys, _)) if keys.iter().any(|k| k.kid == kid) => keys,
            Some((keys, fetched)) if now.saturating_sub(fetched) < JWKS_REFRESH_MS => keys,
            _ => {
                // Marked as fetched first, so a burst of tokens with an unknown `kid` makes one fetch.
                let stale =
                    self.external.insert(km.issuer.clone(), KeySet { keys: known.map(|k| k.0).unwrap_or_default(), fetched_ms: now });
                match km.fetch_keys(tls).await {
                    Ok(keys) => {
                        tracing::info!(key_manager = %km.name, keys = keys.len(), "JWKS fetched");
                        let keys = Arc::new(keys);
                        self.external.insert(km.issuer.clone(), KeySet { keys: keys.clone(), fetched_ms: now });
                        keys
                    }
                    Err(e) => {
                        tracing::warn!(key_manager = %km.name, "cannot fetch the key manager's JWKS: {e}");
                        if stale.is_none_or(|s| s.keys.is_empty()) {
                            return Err(AuthError::Unavailable);
                        }
                        self.external.get(&km.issuer).map(|k| k.keys.clone()).unwrap_or_default()
                    }
                }
            }
        };
        let claims = jwt::verify(token, &keys).map_err(|_| AuthError::Invalid)?;
        if claims.get("iss").and_then(Value::as_str) != Some(km.issuer.as_str()) {
            return Err(AuthError::Invalid);
        }
        let secs = now as i64 / 1000;
        let exp = in_force(&claims, secs)?;
        let text = |f: &str| claims.get(f).and_then(Value::as_str).unwrap_or("").to_string();
        let client_id = match claims.get(&km.consumer_key_claim).and_then(Value::as_str) {
            Some(c) => c.to_string(),
            None => text("client_id"),
        };
        let scopes = match claims.get(&km.scopes_claim) {
            Some(Value::String(s)) => s.split(' ').filter(|x| !x.is_empty()).map(str::to_string).collect(),
            Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).map(str::to_string).collect(),
            _ => Vec::new(),
        };
        let principal = Arc::new(Principal {
            client_id,
            subject: text("sub"),
            scopes,
            expires_at: exp,
            token_id: text("jti"),
            key_manager: Some(km.name.clone()),
            app_throttle_key: Default::default(),
            application_token: None,
            claims: Some(claims),
        });
        Ok(self.remember(token, principal, secs))
    }

    /// Caches a verified JWT (bounded: expired entries go first, then everything).
    fn remember(&self, token: &str, principal: Arc<Principal>, secs: i64) -> Arc<Principal> {
        if self.jwts.len() >= JWT_CACHE_MAX {
            self.jwts.retain(|_, p| p.expires_at > secs);
            if self.jwts.len() >= JWT_CACHE_MAX {
                self.jwts.clear();
            }
        }
        self.jwts.insert(token.as_bytes().into(), principal.clone());
        principal
    }

    async fn refresh_keys(&self, now: u64) {
        let last = self.keys_fetched_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) < JWKS_REFRESH_MS
            || self.keys_fetched_ms.compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed).is_err()
        {
            return;
        }
        match self.authority.jwks().await {
            Ok(text) => {
                let doc: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                let keys: Vec<VerifyKey> =
                    doc.get("keys").and_then(Value::as_array).into_iter().flatten().filter_map(VerifyKey::from_jwk).collect();
                tracing::info!(keys = keys.len(), "JWKS refreshed from the key manager");
                self.keys.store(Arc::new(keys));
                self.issuer.store(Arc::new(self.authority.issuer()));
            }
            Err(e) => tracing::warn!("cannot fetch the key manager's JWKS: {e}"),
        }
    }

    /// An opaque token: the resident key manager's introspection first, then (when it does not know the token)
    /// each key manager registered in the Admin API that introspects and that the API accepts, in order.
    async fn opaque(
        &self,
        token: &str,
        digest: [u8; 32],
        now: u64,
        others: &[Arc<KeyManager>],
        accepts: &(dyn Fn(&str) -> bool + Sync),
        tls: &tokio_rustls::TlsConnector,
    ) -> Result<Arc<Principal>, AuthError> {
        if let Some(e) = self.opaque.get(&digest)
            && e.until_ms > now
        {
            return e.principal.clone().ok_or(AuthError::Invalid);
        }
        let resident = self.authority.introspect(token).await.map_err(|e| tracing::warn!("token introspection failed: {e}"));
        let mut unavailable = resident.is_err();
        let mut found = resident.ok().flatten().map(|i| (i, None));
        // A negative answer is cached only when every key manager that could know the token was asked.
        let mut asked_all = true;
        if found.is_none() {
            for km in others.iter().filter(|k| k.introspects()) {
                if !accepts(&km.name) {
                    asked_all = false;
                    continue;
                }
                match km.introspect(tls, token).await {
                    Ok(Some(i)) => {
                        let i = apim_domain::scopes::Introspection {
                            client_id: i.client_id,
                            subject: i.subject,
                            scopes: i.scopes,
                            expires_at: i.expires_at,
                            application_token: i.application_token,
                        };
                        found = Some((i, Some(km.name.clone())));
                        break;
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(key_manager = %km.name, "token introspection failed: {e}");
                        unavailable = true;
                    }
                }
            }
        }
        if found.is_none() && unavailable {
            return Err(AuthError::Unavailable);
        }
        let entry = match found {
            Some((i, key_manager)) => {
                let p = Arc::new(Principal {
                    client_id: i.client_id,
                    subject: i.subject,
                    scopes: i.scopes,
                    expires_at: i.expires_at,
                    token_id: hex(&digest),
                    key_manager,
                    claims: None,
                    app_throttle_key: Default::default(),
                    application_token: i.application_token,
                });
                let until = (i.expires_at.max(0) as u64 * 1000).min(now + OPAQUE_MAX_TTL_MS);
                OpaqueEntry { principal: Some(p), until_ms: until }
            }
            None if !asked_all => return Err(AuthError::Invalid),
            None => OpaqueEntry { principal: None, until_ms: now + NEGATIVE_TTL_MS },
        };
        let result = entry.principal.clone().ok_or(AuthError::Invalid);
        bound(&self.opaque, |e| e.until_ms > now);
        self.opaque.insert(digest, entry);
        result
    }

    /// An API key: verified against the control plane's keys (cached like JWTs), refused when revoked or
    /// expired. Returns the caller, its application id and key type.
    pub fn api_key(
        &self,
        key: &str,
        keys: &[VerifyKey],
        revoked: &std::collections::HashSet<String>,
    ) -> Result<(Arc<Principal>, String, crate::snapshot::KeyType), AuthError> {
        let now = now_ms() as i64 / 1000;
        let principal = match self.api_keys.get(key) {
            Some(p) => p.clone(),
            None => {
                let claims = jwt::verify(key, keys).map_err(|_| AuthError::Invalid)?;
                let s = |f: &str| claims.get(f).and_then(Value::as_str).unwrap_or("").to_string();
                let p = Arc::new(Principal {
                    client_id: claims.pointer("/application/uuid").and_then(Value::as_str).unwrap_or("").to_string(),
                    subject: s("sub"),
                    scopes: Vec::new(),
                    // A key without `exp` does not expire.
                    expires_at: claims.get("exp").and_then(Value::as_i64).unwrap_or(i64::MAX / 2000),
                    token_id: s("jti"),
                    key_manager: None,
                    claims: Some(claims),
                    app_throttle_key: Default::default(),
                    application_token: Some(true),
                });
                if self.api_keys.len() >= JWT_CACHE_MAX {
                    self.api_keys.clear();
                }
                self.api_keys.insert(key.into(), p.clone());
                p
            }
        };
        if principal.expires_at + SKEW_SECS <= now {
            return Err(AuthError::Expired);
        }
        if principal.client_id.is_empty() || revoked.contains(&principal.token_id) {
            return Err(AuthError::Invalid);
        }
        let key_type = match principal.claims.as_ref().and_then(|c| c.get("keytype")).and_then(Value::as_str) {
            Some("SANDBOX") => crate::snapshot::KeyType::Sandbox,
            _ => crate::snapshot::KeyType::Production,
        };
        let app = principal.client_id.clone();
        Ok((principal, app, key_type))
    }

    /// A revocation notice: the token is refused from now on, cached or not.
    pub fn revoke(&self, token_id: &str, expires_at: i64) {
        self.revoked.insert(token_id.to_string(), expires_at);
        // Opaque tokens are cached by the digest whose hex is their revocation key.
        if token_id.len() == 64
            && let Some(digest) = unhex(token_id)
        {
            self.opaque.remove(&digest);
        }
        self.jwts.retain(|_, p| p.token_id != token_id);
    }

    /// Forgets expired revocations and cache entries.
    pub fn sweep(&self, now_ms: u64) {
        let secs = now_ms as i64 / 1000;
        self.revoked.retain(|_, exp| *exp + SKEW_SECS > secs);
        self.jwts.retain(|_, p| p.expires_at + SKEW_SECS > secs);
        self.api_keys.retain(|_, p| p.expires_at + SKEW_SECS > secs);
        self.opaque.retain(|_, e| e.until_ms > now_ms);
    }
}

/// A JWT's `exp`, when `exp` and `nbf` hold at `secs` (with the skew allowed).
fn in_force(claims: &Value, secs: i64) -> Result<i64, AuthError> {
    let exp = claims.get("exp").and_then(Value::as_i64).ok_or(AuthError::Invalid)?;
    if exp + SKEW_SECS <= secs {
        return Err(AuthError::Expired);
    }
    if claims.get("nbf").and_then(Value::as_i64).is_some_and(|nbf| nbf > secs + SKEW_SECS) {
        return Err(AuthError::Invalid);
    }
    Ok(exp)
}

/// Keeps a cache under `CACHE_MAX`: first drops entries `keep` rejects, then everything.
fn bound<V>(map: &DashMap<[u8; 32], V, foldhash::fast::RandomState>, keep: impl Fn(&V) -> bool) {
    if map.len() < CACHE_MAX {
        return;
    }
    map.retain(|_, v| keep(v));
    if map.len() >= CACHE_MAX {
        map.clear();
    }
}

fn unhex(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    for (i, chunk) in s.as_bytes().chunks(2).enumerate() {
        let text = std::str::from_utf8(chunk).ok()?;
        *out.get_mut(i)? = u8::from_str_radix(text, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tokens that share their last 32 bytes hash alike but stay distinct entries: the map still compares keys.
    #[test]
    fn the_token_cache_tells_tokens_with_one_ending_apart() {
        let map: DashMap<Box<[u8]>, u32, TailHash> = DashMap::default();
        let tail = "s".repeat(32);
        map.insert(format!("a.b.{tail}").as_bytes().into(), 1);
        map.insert(format!("c.d.{tail}").as_bytes().into(), 2);
        assert_eq!(map.get(format!("a.b.{tail}").as_bytes()).map(|v| *v), Some(1));
        assert_eq!(map.get(format!("c.d.{tail}").as_bytes()).map(|v| *v), Some(2));
        assert!(map.get(format!("e.f.{tail}").as_bytes()).is_none());
        assert!(map.get(&b"short"[..]).is_none(), "shorter than the tail");
    }
}
