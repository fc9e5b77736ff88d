//! Who is calling: a bearer token (validated by the key manager) or HTTP Basic (the user store, scopes from
//! roles). Each endpoint names the scopes that let a caller in.

use apim_domain::scopes::{TokenValidator, role_allows};
use axum::http::HeaderMap;
use base64::Engine;

use crate::ControlPlane;
use crate::error::{ApiError, Result};

pub struct Principal {
    pub username: String,
    /// Granted scopes (bearer), or `None` for Basic, where roles decide.
    scopes: Option<Vec<String>>,
    roles: Vec<String>,
}

impl Principal {
    pub fn roles(&self) -> &[String] {
        &self.roles
    }

    pub fn is_admin(&self) -> bool {
        self.roles.iter().any(|r| r == "admin")
    }

    pub fn has(&self, scope: &str) -> bool {
        match &self.scopes {
            Some(s) => s.iter().any(|x| x == scope),
            None => role_allows(scope, &self.roles),
        }
    }

    /// 403 unless the caller holds one of `scopes`.
    pub fn require(&self, scopes: &[&str]) -> Result<()> {
        if scopes.iter().any(|s| self.has(s)) {
            return Ok(());
        }
        Err(ApiError::forbidden(format!("this operation needs one of the scopes {}", scopes.join(", "))))
    }
}

impl ControlPlane {
    /// Like [`ControlPlane::principal`], but an anonymous caller is `None` (the DevPortal lists public APIs to
    /// anyone); bad credentials are still an error.
    pub(crate) async fn optional_principal(&self, headers: &HeaderMap) -> Result<Option<Principal>> {
        if headers.get(axum::http::header::AUTHORIZATION).is_none() {
            return Ok(None);
        }
        self.principal(headers).await.map(Some)
    }

    pub(crate) async fn principal(&self, headers: &HeaderMap) -> Result<Principal> {
        let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
            return Err(ApiError::unauthorized("authentication is required: a Bearer token or HTTP Basic"));
        };
        let value = value.to_str().map_err(|_| ApiError::unauthorized("malformed Authorization header"))?;
        if let Some(token) = value.strip_prefix("Bearer ") {
            let Some(validator) = &self.validator else {
                return Err(ApiError::unauthorized("bearer tokens need the resident key manager; this node has none, use HTTP Basic"));
            };
            let Some(info) = validator.validate(token.trim()).await else {
                return Err(ApiError::unauthorized("the access token is invalid, expired or revoked"));
            };
            // Roles still matter for API visibility; the token carries only scopes.
            let roles = apim_store::UserStore::find_user(self.users.db(), &info.subject).await?.map(|u| u.roles).unwrap_or_default();
            return Ok(Principal { username: info.subject, scopes: Some(info.scopes), roles });
        }
        if let Some(encoded) = value.strip_prefix("Basic ") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .map_err(|_| ApiError::unauthorized("malformed Basic credentials"))?;
            let text = String::from_utf8(decoded).map_err(|_| ApiError::unauthorized("malformed Basic credentials"))?;
            let (user, pass) = text.split_once(':').ok_or_else(|| ApiError::unauthorized("malformed Basic credentials"))?;
            return match self.users.authenticate(user, pass).await? {
                Some(roles) => Ok(Principal { username: user.to_string(), scopes: None, roles }),
                None => Err(ApiError::unauthorized("wrong username or password")),
            };
        }
        Err(ApiError::unauthorized("the Authorization header must be Bearer or Basic"))
    }
}

/// For the type checker: a validator is shared between threads.
pub type SharedValidator = std::sync::Arc<dyn TokenValidator>;
