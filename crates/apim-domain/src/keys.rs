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
    fn client_credentials_token<'a>(
        &'a self,
        client_id: &'a str,
        client_secret: &'a str,
        scopes: &'a [String],
    ) -> BoxFuture<'a, Result<IssuedToken, KeyError>>;
}
