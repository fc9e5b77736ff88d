//! The OAuth2 flows, independent of HTTP framing.

use apim_domain::oauth::{OAuthClient, TokenFormat, TokenKind, TokenRecord, TokenState};
use apim_domain::scopes::AuthorityError;
use apim_store::{CodeRedemption, OAuthStore, UserStore};
use axum::http::HeaderMap;
use serde_json::{Value, json};

use crate::KeyManager;
use crate::error::OAuthError;
use crate::form::{Form, basic};
use crate::scope;
use crate::writer::WriteError;
use apim_jose::crypto::{ct_eq, random_token, sha256_b64url, sha256_hex};
use apim_jose::jwt::{self, JwtError};

const CLIENT_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(5);

pub const GRANT_TYPES: [&str; 4] = ["client_credentials", "password", "refresh_token", "authorization_code"];

/// What an access token is issued for.
pub(crate) struct Grant<'a> {
    pub subject: &'a str,
    pub scope: &'a str,
    /// The grant the token belongs to: its refresh tokens' chain, revoked together.
    pub family: &'a str,
    /// Whether a refresh token comes with it.
    pub refresh: bool,
    /// A client_credentials token (`aut: APPLICATION` in a JWT, as WSO2 marks it), else a token a user holds
    /// (`APPLICATION_USER`); gateways check resources' `authType` with it.
    pub application: bool,
    /// The seconds the client asked the access token to live (WSO2's `validity_period`); at most the configured.
    pub lifetime: Option<i64>,
}

impl<'a> Grant<'a> {
    pub(crate) fn user(subject: &'a str, scope: &'a str, family: &'a str) -> Self {
        Grant { subject, scope, family, refresh: false, application: false, lifetime: None }
    }

    pub(crate) fn application(owner: &'a str, scope: &'a str, family: &'a str, lifetime: Option<i64>) -> Self {
        Grant { subject: owner, scope, family, refresh: false, application: true, lifetime }
    }
}

/// The token request's `validity_period` (WSO2's parameter): a whole number of seconds, at least 1.
fn lifetime(form: &Form) -> Result<Option<i64>, OAuthError> {
    let Some(v) = form.get("validity_period") else { return Ok(None) };
    match v.parse::<i64>() {
        Ok(secs) if secs >= 1 => Ok(Some(secs)),
        _ => Err(OAuthError::invalid_request(format!("validity_period `{v}` is not a whole number of seconds of at least 1"))),
    }
}

/// A presented token, resolved to its record.
pub struct Resolved {
    pub record: TokenRecord,
    pub claims: Option<Value>,
}

impl KeyManager {
    /// Client authentication by HTTP Basic or form fields (not both), secrets compared in constant time.
    pub(crate) async fn authenticate_client(&self, headers: &HeaderMap, form: &Form) -> Result<OAuthClient, OAuthError> {
        self.authenticate_client_with(headers, form, false).await
    }

    /// `cached`: the token endpoint may use the client cache (its writes are re-checked at commit).
    async fn authenticate_client_with(&self, headers: &HeaderMap, form: &Form, cached: bool) -> Result<OAuthClient, OAuthError> {
        let from_header = basic(headers, true)?;
        let from_form = form.get("client_id").map(|id| (id.to_string(), form.get("client_secret").map(str::to_string)));
        let (id, secret) = match (from_header, from_form) {
            (Some(_), Some((_, Some(_)))) => {
                return Err(OAuthError::invalid_request("client credentials sent both in the Authorization header and in the body"));
            }
            (Some((id, _)), Some((form_id, None))) if form_id != id => {
                return Err(OAuthError::invalid_request("client_id in the body does not match the Authorization header"));
            }
            (Some((id, secret)), _) => (id, secret),
            (None, Some((id, Some(secret)))) => (id, secret),
            // A public client names itself only (RFC 6749 §2.3): it holds no secret.
            (None, Some((id, None))) => {
                return match self.db.get_client(&id).await? {
                    Some(client) if client.is_public() => Ok(client),
                    _ => Err(OAuthError::invalid_client("client_secret is missing")),
                };
            }
            (None, None) => {
                return Err(OAuthError::invalid_client("client authentication is required (HTTP Basic or client_id and client_secret)"));
            }
        };
        let secret_hash = sha256_hex(&secret);
        if cached {
            let hit = self
                .client_cache
                .read()
                .ok()
                .and_then(|c| c.get(&id).filter(|(_, at)| at.elapsed() < CLIENT_CACHE_TTL).map(|(c, _)| c.clone()));
            if let Some(client) = hit.filter(|c| ct_eq(&secret_hash, &c.secret_hash)) {
                return Ok(client);
            }
        }
        let Some(client) = self.db.get_client(&id).await? else {
            return Err(OAuthError::invalid_client("unknown client or wrong secret"));
        };
        if !ct_eq(&secret_hash, &client.secret_hash) {
            return Err(OAuthError::invalid_client("unknown client or wrong secret"));
        }
        if cached && let Ok(mut c) = self.client_cache.write() {
            if c.len() > 100_000 {
                c.clear();
            }
            c.insert(id, (client.clone(), std::time::Instant::now()));
        }
        Ok(client)
    }

    /// A user's credentials against the user store; returns the roles.
    pub(crate) async fn authenticate_user(&self, username: &str, password: &str) -> Result<Option<Vec<String>>, OAuthError> {
        Ok(self.users.authenticate(username, password).await?)
    }

    /// `POST /oauth2/token`.
    pub(crate) async fn token(&self, headers: &HeaderMap, form: &Form) -> Result<Value, OAuthError> {
        let grant = form.require("grant_type")?.to_string();
        if !GRANT_TYPES.contains(&grant.as_str()) {
            return Err(OAuthError::unsupported_grant_type(format!("grant_type `{grant}` is not supported")));
        }
        let client = self.authenticate_client_with(headers, form, true).await?;
        if client.is_public() && grant != "authorization_code" && grant != "refresh_token" {
            return Err(OAuthError::unauthorized_client(format!("a public client may not use the `{grant}` grant")));
        }
        if !client.grant_types.iter().any(|g| g == &grant) {
            return Err(OAuthError::unauthorized_client(format!("client is not allowed the `{grant}` grant")));
        }
        match grant.as_str() {
            "client_credentials" => {
                let requested = scope::parse(form.get("scope"))?;
                // The application acts for its owner: the owner's roles bound the REST API scopes (looked up
                // only when such a scope is asked for; API scopes need no lookup).
                let roles = if requested.iter().any(|s| s.starts_with("apim:")) {
                    self.users.db().find_user(&client.owner).await?.map(|u| u.roles).unwrap_or_default()
                } else {
                    Vec::new()
                };
                let scopes = scope::allowed_for(requested, &roles);
                let lifetime = lifetime(form)?;
                let family = uuid::Uuid::now_v7().to_string();
                self.issue(&client, Grant::application(&client.owner, &scope::issued(&scopes), &family, lifetime)).await
            }
            "password" => {
                let username = form.require("username")?;
                let password = form.require("password")?;
                let requested = scope::parse(form.get("scope"))?;
                let Some(roles) = self.authenticate_user(username, password).await? else {
                    return Err(OAuthError::invalid_grant("wrong username or password"));
                };
                let scopes = scope::allowed_for(requested, &roles);
                let refresh = client.grant_types.iter().any(|g| g == "refresh_token");
                let lifetime = lifetime(form)?;
                let family = uuid::Uuid::now_v7().to_string();
                self.issue(&client, Grant { refresh, lifetime, ..Grant::user(username, &scope::issued(&scopes), &family) }).await
            }
            "refresh_token" => self.refresh(&client, form).await,
            _ => self.redeem_code(&client, form).await,
        }
    }

    async fn refresh(&self, client: &OAuthClient, form: &Form) -> Result<Value, OAuthError> {
        let presented = form.require("refresh_token")?;
        let key = sha256_hex(presented);
        let Some(rec) = self.db.get_token(&key).await?.filter(|r| r.kind == TokenKind::Refresh) else {
            return Err(OAuthError::invalid_grant("unknown refresh token"));
        };
        if rec.client_id != client.client_id {
            return Err(OAuthError::invalid_grant("refresh token was issued to another client"));
        }
        if rec.expires_at <= self.clock.unix_secs() {
            return Err(OAuthError::invalid_grant("refresh token has expired"));
        }
        match rec.state {
            TokenState::Revoked => return Err(OAuthError::invalid_grant("refresh token has been revoked")),
            TokenState::Rotated => {
                self.revoke_family(&rec.family_id).await?;
                return Err(OAuthError::invalid_grant("refresh token was already used; every token of its grant is now revoked"));
            }
            TokenState::Active => {}
        }
        let original: Vec<String> = rec.scope.split(' ').map(str::to_string).collect();
        let requested = scope::parse(form.get("scope"))?;
        let scopes = if requested.is_empty() {
            rec.scope.clone()
        } else {
            if let Some(extra) = requested.iter().find(|s| !original.contains(s)) {
                return Err(OAuthError::invalid_scope(format!("scope `{extra}` was not granted originally")));
            }
            requested.join(" ")
        };
        // Compare-and-set: if another request (or node) rotated it first, this one is a reuse.
        if !self.db.transition_token(&key, TokenState::Active, TokenState::Rotated).await? {
            self.revoke_family(&rec.family_id).await?;
            return Err(OAuthError::invalid_grant("refresh token was already used; every token of its grant is now revoked"));
        }
        self.issue(client, Grant { refresh: true, ..Grant::user(&rec.subject, &scopes, &rec.family_id) }).await
    }

    async fn redeem_code(&self, client: &OAuthClient, form: &Form) -> Result<Value, OAuthError> {
        let code = form.require("code")?;
        let code = match self.db.redeem_code(&sha256_hex(code)).await? {
            CodeRedemption::Unknown => return Err(OAuthError::invalid_grant("unknown authorization code")),
            CodeRedemption::Reused(c) => {
                self.revoke_family(&c.family_id).await?;
                return Err(OAuthError::invalid_grant("authorization code was already used; the tokens it issued are revoked"));
            }
            CodeRedemption::Fresh(c) => c,
        };
        if code.client_id != client.client_id {
            return Err(OAuthError::invalid_grant("authorization code was issued to another client"));
        }
        if code.expires_at <= self.clock.unix_secs() {
            return Err(OAuthError::invalid_grant("authorization code has expired"));
        }
        if form.get("redirect_uri").unwrap_or(&code.redirect_uri) != code.redirect_uri {
            return Err(OAuthError::invalid_grant("redirect_uri does not match the authorization request"));
        }
        if code.code_challenge.is_empty() && client.is_public() {
            return Err(OAuthError::invalid_grant("a public client's code must be bound to a code_challenge (PKCE)"));
        }
        if !code.code_challenge.is_empty() {
            let Some(verifier) = form.get("code_verifier") else {
                return Err(OAuthError::invalid_grant("code_verifier is required (PKCE)"));
            };
            let well_formed =
                (43..=128).contains(&verifier.len()) && verifier.chars().all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c));
            if !well_formed || !ct_eq(&sha256_b64url(verifier), &code.code_challenge) {
                return Err(OAuthError::invalid_grant("code_verifier does not match the code_challenge"));
            }
        }
        let refresh = client.grant_types.iter().any(|g| g == "refresh_token");
        self.issue(client, Grant { refresh, ..Grant::user(&code.subject, &code.scope, &code.family_id) }).await
    }

    /// Issues an access token (JWT or opaque, per client) and optionally a refresh token, both persisted.
    pub(crate) async fn issue(&self, client: &OAuthClient, grant: Grant<'_>) -> Result<Value, OAuthError> {
        let Grant { subject, scope, family, refresh, application, lifetime } = grant;
        // Never longer than configured: signing keys are retired `access_ttl` after their last use (lib.rs).
        let ttl = lifetime.map_or(self.cfg.access_ttl, |l| l.clamp(1, self.cfg.access_ttl));
        let iat = self.clock.unix_secs();
        let exp = iat + ttl;
        let (access_token, key) = match client.token_type {
            TokenFormat::Jwt => {
                // Time-ordered ids (UUIDv7, 74 random bits): each token's row goes at the right edge of the key
                // and family indexes, where the pages are already in cache and dirty, not on a random page.
                let jti = uuid::Uuid::now_v7().to_string();
                let claims = json!({
                    "iss": self.cfg.issuer, "sub": subject, "aud": client.client_id, "azp": client.client_id,
                    "client_id": client.client_id, "scope": scope, "iat": iat, "nbf": iat, "exp": exp, "jti": jti,
                    "aut": if application { "APPLICATION" } else { "APPLICATION_USER" },
                });
                let jwt = self.key.sign(&claims).map_err(OAuthError::server)?;
                (jwt, format!("jti:{jti}"))
            }
            TokenFormat::Opaque => {
                let t = random_token();
                let k = sha256_hex(&t);
                (t, k)
            }
        };
        let record = TokenRecord {
            key,
            kind: TokenKind::Access,
            format: client.token_type,
            client_id: client.client_id.clone(),
            subject: subject.to_string(),
            scope: scope.to_string(),
            family_id: family.to_string(),
            issued_at: iat,
            expires_at: exp,
            state: TokenState::Active,
            aut: if application { "APPLICATION" } else { "APPLICATION_USER" }.to_string(),
        };
        let mut body = json!({"access_token": access_token, "token_type": "Bearer", "expires_in": ttl, "scope": scope});
        let mut records = vec![record.clone()];
        if refresh {
            let r = random_token();
            records.push(TokenRecord {
                key: sha256_hex(&r),
                kind: TokenKind::Refresh,
                format: TokenFormat::Opaque,
                expires_at: iat + self.cfg.refresh_ttl,
                ..record
            });
            body["refresh_token"] = Value::String(r);
        }
        match self.writer.write(records, client.secret_hash.clone()).await {
            Ok(()) => Ok(body),
            Err(WriteError::StaleClient) => {
                self.forget_client(&client.client_id);
                Err(OAuthError::invalid_client("unknown client or wrong secret"))
            }
            Err(WriteError::Store(e)) => Err(OAuthError::server(e)),
        }
    }

    /// Drops a client from the token endpoint's cache (after a change on this node, or a stale hit).
    pub(crate) fn forget_client(&self, client_id: &str) {
        if let Ok(mut c) = self.client_cache.write() {
            c.remove(client_id);
        }
    }

    pub(crate) async fn revoke_family(&self, family: &str) -> Result<(), OAuthError> {
        let revoked = self.db.revoke_family(family).await?;
        tracing::info!(family, tokens = revoked.len(), "token family revoked");
        self.notifier.revoked(&revoked);
        Ok(())
    }

    pub(crate) async fn revoke_client(&self, client_id: &str) -> Result<usize, OAuthError> {
        let revoked = self.db.revoke_client_tokens(client_id).await?;
        self.notifier.revoked(&revoked);
        Ok(revoked.len())
    }

    /// Finds the record of a presented token (JWT by signature and jti, others by hash). `None` for anything
    /// unknown, forged or malformed.
    pub(crate) async fn resolve(&self, token: &str) -> Result<Option<Resolved>, OAuthError> {
        if jwt::looks_like_jwt(token) {
            let kid = jwt::kid_of(token);
            let keys = self.keys_for(kid.as_deref()).await;
            let claims = match jwt::verify(token, &keys) {
                Ok(c) => c,
                Err(JwtError::Malformed) => return self.resolve_hashed(token).await,
                Err(_) => return Ok(None),
            };
            let Some(jti) = claims.get("jti").and_then(Value::as_str) else { return Ok(None) };
            let record = self.db.get_token(&format!("jti:{jti}")).await?;
            return Ok(record.map(|record| Resolved { record, claims: Some(claims) }));
        }
        self.resolve_hashed(token).await
    }

    async fn resolve_hashed(&self, token: &str) -> Result<Option<Resolved>, OAuthError> {
        Ok(self.db.get_token(&sha256_hex(token)).await?.map(|record| Resolved { record, claims: None }))
    }

    /// `POST /oauth2/introspect` (RFC 7662). The caller is a client or an admin user.
    pub(crate) async fn introspect(&self, headers: &HeaderMap, form: &Form) -> Result<Value, OAuthError> {
        self.authenticate_resource_server(headers, form).await?;
        let token = form.require("token")?;
        let Some(Resolved { record, claims }) = self.resolve(token).await? else { return Ok(json!({"active": false})) };
        if record.state != TokenState::Active || record.expires_at <= self.clock.unix_secs() {
            return Ok(json!({"active": false}));
        }
        let mut body = json!({
            "active": true,
            "scope": record.scope,
            "client_id": record.client_id,
            "username": record.subject,
            "sub": record.subject,
            "token_type": if record.kind == TokenKind::Refresh { "refresh_token" } else { "Bearer" },
            "exp": record.expires_at,
            "iat": record.issued_at,
            "nbf": record.issued_at,
            "aud": record.client_id,
            "iss": self.cfg.issuer,
        });
        if let Some(jti) = claims.as_ref().and_then(|c| c.get("jti")) {
            body["jti"] = jti.clone();
        }
        // WSO2's grant kind, as a JWT carries it, so gateways can check `authType` for opaque tokens too.
        if !record.aut.is_empty() {
            body["aut"] = json!(record.aut);
        }
        Ok(body)
    }

    /// Introspection callers: a registered client (Basic or form), or a user with the admin role.
    async fn authenticate_resource_server(&self, headers: &HeaderMap, form: &Form) -> Result<(), OAuthError> {
        if let Some((user, pass)) = basic(headers, false)?
            && self.db.get_client(&user).await?.is_none()
        {
            return match self.authenticate_user(&user, &pass).await? {
                Some(roles) if roles.iter().any(|r| r == "admin") => Ok(()),
                Some(_) => Err(OAuthError::forbidden("introspection needs a client or an admin user")),
                None => Err(OAuthError::invalid_client("wrong credentials")),
            };
        }
        match self.authenticate_client(headers, form).await? {
            c if c.is_public() => Err(OAuthError::unauthorized_client("a public client may not introspect tokens")),
            _ => Ok(()),
        }
    }

    /// `POST /oauth2/revoke` (RFC 7009): unknown tokens are not an error; a refresh token takes its family.
    pub(crate) async fn revoke(&self, headers: &HeaderMap, form: &Form) -> Result<(), OAuthError> {
        let client = self.authenticate_client(headers, form).await?;
        let token = form.require("token")?;
        if let Some(hint) = form.get("token_type_hint")
            && hint != "access_token"
            && hint != "refresh_token"
        {
            return Err(OAuthError::new_unsupported_token_type(hint));
        }
        let Some(Resolved { record, .. }) = self.resolve(token).await? else { return Ok(()) };
        if record.client_id != client.client_id {
            return Err(OAuthError::unauthorized_client("the token was issued to another client"));
        }
        match record.kind {
            TokenKind::Refresh => self.revoke_family(&record.family_id).await?,
            TokenKind::Access => {
                if self.db.transition_token(&record.key, TokenState::Active, TokenState::Revoked).await? {
                    self.notifier.revoked(std::slice::from_ref(&record));
                }
            }
        }
        Ok(())
    }

    /// `GET /oauth2/userinfo`: the subject of an active token that carries `openid`.
    pub(crate) async fn userinfo(&self, token: &str) -> Result<Value, (u16, &'static str)> {
        let resolved = self.resolve(token).await.map_err(|_| (503, "temporarily_unavailable"))?;
        let Some(Resolved { record, .. }) = resolved else { return Err((401, "invalid_token")) };
        if record.state != TokenState::Active || record.expires_at <= self.clock.unix_secs() || record.kind != TokenKind::Access {
            return Err((401, "invalid_token"));
        }
        if !record.scope.split(' ').any(|s| s == "openid") {
            return Err((403, "insufficient_scope"));
        }
        let user = self.users.db().find_user(&record.subject).await.map_err(|_| (503, "temporarily_unavailable"))?;
        let roles = user.map(|u| u.roles).unwrap_or_default();
        Ok(json!({"sub": record.subject, "preferred_username": record.subject, "groups": roles}))
    }

    /// `/oauth2/jwks`: every key not retired.
    pub(crate) async fn jwks(&self) -> Result<Value, OAuthError> {
        let rows = self.db.live_jwks(self.clock.unix_secs()).await?;
        let keys: Vec<Value> = rows.iter().filter_map(|(_, j)| serde_json::from_str(j).ok()).collect();
        Ok(json!({"keys": keys}))
    }

    pub(crate) fn discovery(&self) -> Value {
        let b = &self.cfg.base_url;
        json!({
            "issuer": self.cfg.issuer,
            "authorization_endpoint": format!("{b}/oauth2/authorize"),
            "token_endpoint": format!("{b}/oauth2/token"),
            "introspection_endpoint": format!("{b}/oauth2/introspect"),
            "revocation_endpoint": format!("{b}/oauth2/revoke"),
            "userinfo_endpoint": format!("{b}/oauth2/userinfo"),
            "jwks_uri": format!("{b}/oauth2/jwks"),
            "registration_endpoint": format!("{b}/keymanager-operations/dcr/register"),
            "grant_types_supported": GRANT_TYPES,
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "id_token_signing_alg_values_supported": [self.key.alg().name()],
            "subject_types_supported": ["public"],
            "scopes_supported": ["openid", "default"],
        })
    }

    /// For the benchmark: the raw signing rate of the same key (empty if aws-lc refuses).
    pub fn sign_raw(&self, msg: &[u8]) -> Vec<u8> {
        self.key.sign_raw(msg).unwrap_or_default()
    }
}

impl OAuthError {
    fn new_unsupported_token_type(hint: &str) -> OAuthError {
        OAuthError {
            status: axum::http::StatusCode::BAD_REQUEST,
            code: "unsupported_token_type",
            description: format!("token_type_hint `{hint}` is not supported"),
        }
    }
}

impl apim_domain::scopes::TokenValidator for KeyManager {
    fn validate<'a>(
        &'a self,
        token: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<apim_domain::scopes::TokenInfo>> + Send + 'a>> {
        Box::pin(async move {
            let Resolved { record, .. } = self.resolve(token).await.ok()??;
            if record.state != TokenState::Active || record.expires_at <= self.clock.unix_secs() || record.kind != TokenKind::Access {
                return None;
            }
            Some(apim_domain::scopes::TokenInfo {
                subject: record.subject,
                client_id: record.client_id,
                scopes: record.scope.split(' ').map(str::to_string).collect(),
            })
        })
    }
}

/// The resident key manager serves the in-process gateway directly: introspection without HTTP or client
/// authentication (the caller is this process), and the JWKS from the database.
impl apim_domain::scopes::TokenAuthority for KeyManager {
    fn introspect<'a>(
        &'a self,
        token: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Option<apim_domain::scopes::Introspection>, AuthorityError>> + Send + 'a>>
    {
        Box::pin(async move {
            let Some(Resolved { record, .. }) = self.resolve(token).await.map_err(|e| AuthorityError::Unavailable(e.description))? else {
                return Ok(None);
            };
            if record.state != TokenState::Active || record.expires_at <= self.clock.unix_secs() || record.kind != TokenKind::Access {
                return Ok(None);
            }
            Ok(Some(apim_domain::scopes::Introspection {
                client_id: record.client_id,
                subject: record.subject,
                scopes: record.scope.split(' ').filter(|s| !s.is_empty()).map(str::to_string).collect(),
                expires_at: record.expires_at,
                application_token: apim_domain::scopes::Introspection::application_token_from(&record.aut),
            }))
        })
    }

    fn jwks(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<String, AuthorityError>> + Send + '_>> {
        Box::pin(async move { KeyManager::jwks(self).await.map(|v| v.to_string()).map_err(|e| AuthorityError::Unavailable(e.description)) })
    }

    fn issuer(&self) -> String {
        self.cfg.issuer.clone()
    }
}
