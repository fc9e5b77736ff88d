//! What the control plane asks of a key manager when applications get keys: register a client, change its grant
//! types and callback, regenerate its secret, delete it, and issue a token with its credentials. The resident key
//! manager implements it in-process; a remote one over HTTP(S) (the event-hub issue).

use std::future::Future;
use std::pin::Pin;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

#[derive(Clone, Debug)]
pub struct ClientRequest {
    pub name: String,
    pub owner: String,
    pub grant_types: Vec<String>,
    pub callback_url: Option<String>,
    /// JWT or OPAQUE.
    pub token_type: String,
}

#[derive(Clone, Debug)]
pub struct ClientKeys {
    pub client_id: String,
    pub client_secret: String,
}

#[derive(Clone, Debug)]
pub struct IssuedToken {
    pub access_token: String,
    pub scope: String,
    pub expires_in: i64,
}

#[derive(Debug)]
pub enum KeyError {
    /// The request was wrong (unsupported grant type, bad callback URL, wrong secret): the caller's 400.
    Invalid(String),
    NotFound(String),
    /// The key manager could not be reached or failed: 503.
    Unavailable(String),
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyError::Invalid(m) | KeyError::NotFound(m) | KeyError::Unavailable(m) => f.write_str(m),
        }
    }
}

pub trait KeyManagerClient: Send + Sync {
    fn register(&self, req: ClientRequest) -> BoxFuture<'_, Result<ClientKeys, KeyError>>;
    fn regenerate_secret<'a>(&'a self, client_id: &'a str) -> BoxFuture<'a, Result<String, KeyError>>;
    fn delete_client<'a>(&'a self, client_id: &'a str) -> BoxFuture<'a, Result<(), KeyError>>;
    /// Replaces the client's grant types and callback URL (none: no redirect URI), as RFC 7592's update does.
    fn update_client<'a>(
        &'a self,
        client_id: &'a str,
        grant_types: &'a [String],
        callback_url: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), KeyError>>;
    /// A client_credentials token; `lifetime`: the seconds it should live, if not the key manager's default (it
    /// may give less).
    fn client_credentials_token<'a>(
        &'a self,
        client_id: &'a str,
        client_secret: &'a str,
        scopes: &'a [String],
        lifetime: Option<i64>,
    ) -> BoxFuture<'a, Result<IssuedToken, KeyError>>;
}

/// How a key manager registered in the Admin API takes client registrations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegistrationProtocol {
    /// WSO2's key-manager operations (type `WSO2-IS`, or another apim key manager): RFC 7591 with WSO2's
    /// extensions (owner, token type), management at `{registration}/{client_id}`, and secret regeneration.
    Wso2,
    /// Plain RFC 7591, managed as RFC 7592 at `{registration}/{client_id}` (the common form of its
    /// `registration_client_uri`); RFC 7592 defines no secret regeneration, so there is none.
    Rfc7591,
}

/// How the control plane authenticates to a registration endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistrationAuth {
    /// Open registration.
    None,
    Basic {
        username: String,
        password: String,
    },
    /// An RFC 7591 initial access token.
    Bearer(String),
}

/// A key manager registered in the Admin API, as the control plane reaches it to make application keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisteredKeyManager {
    pub name: String,
    pub protocol: RegistrationProtocol,
    /// Absolute http(s) URL of the client registration endpoint.
    pub registration_endpoint: String,
    /// Absolute http(s) URL of the token endpoint.
    pub token_endpoint: String,
    pub auth: RegistrationAuth,
}

/// Makes a client for a key manager registered in the Admin API; the transport (HTTP, TLS, host names) is the
/// application's, so the control plane stays free of it.
pub trait KeyManagerConnector: Send + Sync {
    fn connect(&self, km: &RegisteredKeyManager) -> Result<std::sync::Arc<dyn KeyManagerClient>, KeyError>;
}
