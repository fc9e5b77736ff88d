//! Which user roles hold WSO2's REST API scopes (`apim:*`). Used by the key manager when it issues tokens
//! and by the control plane when a script authenticates with HTTP Basic.

/// Whether `roles` allow `scope`. Scopes outside `apim:` are API scopes, enforced by gateways: allowed here.
/// Admin holds every scope (and alone `apim:api_manage`, which covers both creating and publishing); creators
/// design APIs; publishers publish; subscribers use the DevPortal.
pub fn role_allows(scope: &str, roles: &[String]) -> bool {
    let has = |r: &str| roles.iter().any(|x| x == r);
    let Some(name) = scope.strip_prefix("apim:") else { return true };
    if has("admin") {
        return true;
    }
    // WSO2's role for CI/CD pipelines (apictl): moving APIs, products, applications and policies between
    // environments, and what apictl's commands around that need (list, change lifecycle, delete, plans).
    if has("Internal/devops")
        && matches!(
            name,
            "api_import_export"
                | "api_product_import_export"
                | "app_import_export"
                | "policies_import_export"
                | "api_view"
                | "api_publish"
                | "api_delete"
                | "tier_view"
        )
    {
        return true;
    }
    match name {
        "api_view"
        | "api_create"
        | "api_delete"
        | "api_import_export"
        | "api_product_import_export"
        | "document_create"
        | "document_manage"
        | "mediationPolicyView"
        | "mediation_policy_view"
        | "mediation_policy_create"
        | "mediation_policy_manage"
        | "client_certificates_view"
        | "client_certificates_add"
        | "client_certificates_update"
        | "ep_certificates_view"
        | "ep_certificates_add"
        | "ep_certificates_update"
        | "shared_scope_manage"
        | "api_definition_view"
        | "comment_view"
        | "comment_write"
        | "threat_protection_policy_create"
        | "threat_protection_policy_manage"
        | "common_operation_policy_view" => has("Internal/creator") || (name.ends_with("_view") && has("Internal/publisher")),
        "api_publish" | "subscription_view" | "subscription_block" | "subscription_manage" | "pub_alert_manage" | "tier_view" => {
            has("Internal/publisher") || (name == "tier_view" && has("Internal/creator"))
        }
        "subscribe" | "app_manage" | "sub_manage" | "api_key" | "app_import_export" | "store_settings" | "sub_alert_manage"
        | "admin_tier_view" | "devportal_api_view" => has("Internal/subscriber"),
        _ => false,
    }
}

/// What a verified bearer token says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenInfo {
    pub subject: String,
    pub client_id: String,
    pub scopes: Vec<String>,
}

/// Validates bearer tokens for the REST APIs. The resident key manager implements it in-process; the wiring
/// hands it to the control plane, which never depends on the key manager's crate.
pub trait TokenValidator: Send + Sync {
    fn validate<'a>(&'a self, token: &'a str) -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<TokenInfo>> + Send + 'a>>;
}

type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// What a key manager says of an active access token (RFC 7662), as a gateway needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Introspection {
    pub client_id: String,
    pub subject: String,
    pub scopes: Vec<String>,
    /// Unix seconds.
    pub expires_at: i64,
    /// From WSO2's `aut`: `Some(true)` for an application token (client_credentials), `Some(false)` for a user's,
    /// `None` when the key manager does not say.
    pub application_token: Option<bool>,
}

impl Introspection {
    /// Reads WSO2's `aut` value.
    pub fn application_token_from(aut: &str) -> Option<bool> {
        match aut {
            "APPLICATION" => Some(true),
            "APPLICATION_USER" => Some(false),
            _ => None,
        }
    }
}

/// A revoked access token as gateways key it: a JWT's `jti`, or the SHA-256 (hex) of an opaque token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevokedToken {
    pub id: String,
    /// Unix seconds; after it the token is refused for being expired anyway.
    pub expires_at: i64,
}

/// Why a [`TokenAuthority`] has no answer; the message names the key manager and the cause. A gateway treats
/// both alike (the token cannot be checked now: 503), so the kinds are for logs and for callers that care.
#[derive(Debug, thiserror::Error)]
pub enum AuthorityError {
    /// No key manager could be reached or was ready, or it failed while answering (its database).
    #[error("{0}")]
    Unavailable(String),
    /// A key manager answered, but not with an answer: it refused the call (4xx), or sent a JWKS without keys.
    #[error("{0}")]
    Refused(String),
}

impl From<crate::keys::KeyError> for AuthorityError {
    fn from(e: crate::keys::KeyError) -> AuthorityError {
        match e {
            crate::keys::KeyError::Unavailable(m) => AuthorityError::Unavailable(m),
            crate::keys::KeyError::Invalid(m) | crate::keys::KeyError::NotFound(m) => AuthorityError::Refused(m),
        }
    }
}

/// How a gateway reaches a key manager: introspection for opaque tokens and the JWKS for local JWT
/// verification. The resident key manager implements it in-process; remote ones over HTTP(S).
pub trait TokenAuthority: Send + Sync {
    /// `Ok(None)`: the token is not active (unknown, expired, revoked, or not an access token).
    fn introspect<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<Option<Introspection>, AuthorityError>>;
    /// The JWKS document (RFC 7517) as JSON text.
    fn jwks(&self) -> BoxFuture<'_, Result<String, AuthorityError>>;
    /// The `iss` its JWTs carry.
    fn issuer(&self) -> String;
}
