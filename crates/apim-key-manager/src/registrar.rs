//! The resident key manager as the control plane's `KeyManagerClient`: the same registration, secret and token
//! logic as the HTTP endpoints, called in-process.

use apim_domain::keys::{BoxFuture, ClientKeys, ClientRequest, IssuedToken, KeyError, KeyManagerClient};
use apim_domain::oauth::{OAuthClient, TokenFormat};
use apim_store::{OAuthStore, UserStore};

use crate::KeyManager;
use crate::error::OAuthError;
use crate::service::Grant;
use apim_jose::crypto::{ct_eq, random_token, sha256_hex};

impl KeyManager {
    /// Registers (or brings up to date) a public client with a fixed id: a browser app signing users in with
    /// the authorization code and PKCE, as the control plane's portals do (`apim_publisher`, ...). A client of
    /// that id that had a secret loses it. Safe to call from several nodes at once.
    pub async fn register_public_client(&self, client_id: &str, name: &str, owner: &str, redirect_uris: &[String]) -> Result<(), KeyError> {
        let grants = vec!["authorization_code".to_string(), "refresh_token".to_string()];
        crate::dcr::validate(&grants, redirect_uris).map_err(key_error)?;
        let unavailable = |e: apim_store::StoreError| KeyError::Unavailable(e.to_string());
        let wanted = OAuthClient {
            client_id: client_id.to_string(),
            secret_hash: String::new(),
            client_name: name.to_string(),
            owner: owner.to_string(),
            grant_types: grants,
            redirect_uris: redirect_uris.to_vec(),
            token_type: TokenFormat::Jwt,
            created_at: self.clock.unix_secs(),
        };
        let existing = match self.db.get_client(client_id).await.map_err(unavailable)? {
            Some(c) => c,
            None => match self.db.create_client(&wanted).await {
                Ok(()) => {
                    tracing::info!(client_id, "public client registered");
                    return Ok(());
                }
                // Another node registered it first: bring that one up to date below.
                Err(apim_store::StoreError::Conflict { .. }) => self
                    .db
                    .get_client(client_id)
                    .await
                    .map_err(unavailable)?
                    .ok_or_else(|| KeyError::Unavailable(format!("client {client_id} vanished")))?,
                Err(e) => return Err(unavailable(e)),
            },
        };
        if !existing.is_public() {
            self.db.set_client_secret(client_id, "").await.map_err(unavailable)?;
            self.revoke_client(client_id).await.map_err(key_error)?;
        }
        let same = existing.is_public()
            && existing.client_name == wanted.client_name
            && existing.grant_types == wanted.grant_types
            && existing.redirect_uris == wanted.redirect_uris
            && existing.token_type == wanted.token_type;
        if !same {
            self.db.update_client(&wanted).await.map_err(unavailable)?;
            tracing::info!(client_id, "public client updated");
        }
        self.forget_client(client_id);
        Ok(())
    }
}

fn key_error(e: OAuthError) -> KeyError {
    if e.status.is_client_error() { KeyError::Invalid(e.description) } else { KeyError::Unavailable(e.description) }
}

impl KeyManagerClient for KeyManager {
    fn register(&self, req: ClientRequest) -> BoxFuture<'_, Result<ClientKeys, KeyError>> {
        Box::pin(async move {
            let format = TokenFormat::parse(&req.token_type)
                .ok_or_else(|| KeyError::Invalid(format!("token type `{}` is not JWT or OPAQUE", req.token_type)))?;
            let uris = req.callback_url.into_iter().filter(|u| !u.is_empty()).collect();
            let (client, secret) =
                crate::dcr::create(self, &req.name, &req.owner, req.grant_types, uris, format).await.map_err(key_error)?;
            Ok(ClientKeys { client_id: client.client_id, client_secret: secret })
        })
    }

    fn regenerate_secret<'a>(&'a self, client_id: &'a str) -> BoxFuture<'a, Result<String, KeyError>> {
        Box::pin(async move {
            let secret = random_token();
            self.db.set_client_secret(client_id, &sha256_hex(&secret)).await.map_err(|e| match e {
                apim_store::StoreError::NotFound { .. } => KeyError::NotFound(format!("client {client_id} not found")),
                other => KeyError::Unavailable(other.to_string()),
            })?;
            self.forget_client(client_id);
            self.revoke_client(client_id).await.map_err(key_error)?;
            Ok(secret)
        })
    }

    fn delete_client<'a>(&'a self, client_id: &'a str) -> BoxFuture<'a, Result<(), KeyError>> {
        Box::pin(async move {
            self.forget_client(client_id);
            self.db.delete_client(client_id).await.map_err(|e| KeyError::Unavailable(e.to_string()))?;
            self.revoke_client(client_id).await.map_err(key_error)?;
            Ok(())
        })
    }

    fn update_client<'a>(
        &'a self,
        client_id: &'a str,
        grant_types: &'a [String],
        callback_url: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), KeyError>> {
        Box::pin(async move {
            // The same checks and write as the DCR endpoint's update.
            let mut client = self
                .db
                .get_client(client_id)
                .await
                .map_err(|e| KeyError::Unavailable(e.to_string()))?
                .ok_or_else(|| KeyError::NotFound(format!("client {client_id} not found")))?;
            client.grant_types = grant_types.to_vec();
            client.redirect_uris = callback_url.into_iter().filter(|u| !u.is_empty()).map(str::to_string).collect();
            crate::dcr::validate(&client.grant_types, &client.redirect_uris).map_err(key_error)?;
            self.db.update_client(&client).await.map_err(|e| KeyError::Unavailable(e.to_string()))?;
            self.forget_client(client_id);
            Ok(())
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
            let client = self
                .db
                .get_client(client_id)
                .await
                .map_err(|e| KeyError::Unavailable(e.to_string()))?
                .ok_or_else(|| KeyError::NotFound(format!("client {client_id} not found")))?;
            if !ct_eq(&sha256_hex(client_secret), &client.secret_hash) {
                return Err(KeyError::Invalid("the consumer secret is wrong".into()));
            }
            if !client.grant_types.iter().any(|g| g == "client_credentials") {
                return Err(KeyError::Invalid("the keys do not allow the client_credentials grant".into()));
            }
            let roles = if scopes.iter().any(|s| s.starts_with("apim:")) {
                self.users
                    .db()
                    .find_user(&client.owner)
                    .await
                    .map_err(|e| KeyError::Unavailable(e.to_string()))?
                    .map(|u| u.roles)
                    .unwrap_or_default()
            } else {
                Vec::new()
            };
            let allowed = crate::scope::allowed_for(scopes.to_vec(), &roles);
            let family = uuid::Uuid::now_v7().to_string();
            let body = self
                .issue(&client, Grant::application(&client.owner, &crate::scope::issued(&allowed), &family, lifetime))
                .await
                .map_err(key_error)?;
            Ok(IssuedToken {
                access_token: body["access_token"].as_str().unwrap_or_default().to_string(),
                scope: body["scope"].as_str().unwrap_or_default().to_string(),
                expires_in: body["expires_in"].as_i64().unwrap_or(0),
            })
        })
    }
}
