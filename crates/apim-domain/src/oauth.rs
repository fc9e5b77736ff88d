//! OAuth2 records kept by the key manager.

/// A registered OAuth2 client (an application's consumer key and secret).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthClient {
    pub client_id: String,
    /// SHA-256 (hex) of the secret; empty for a public client (RFC 6749 §2.1: a browser app that cannot keep a
    /// secret), which no presented secret can match: it authenticates by `client_id` alone, only to redeem a
    /// PKCE-bound code, refresh and revoke ([`OAuthClient::is_public`]).
    pub secret_hash: String,
    pub client_name: String,
    pub owner: String,
    pub grant_types: Vec<String>,
    pub redirect_uris: Vec<String>,
    pub token_type: TokenFormat,
    pub created_at: i64,
}

impl OAuthClient {
    /// A public client: no secret (the portals' clients, registered by the control plane).
    pub fn is_public(&self) -> bool {
        self.secret_hash.is_empty()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenFormat {
    Jwt,
    Opaque,
}

impl TokenFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenFormat::Jwt => "JWT",
            TokenFormat::Opaque => "OPAQUE",
        }
    }
    /// `JWT`, or `OPAQUE` / WSO2's `DEFAULT` / `REFERENCE`.
    pub fn parse(s: &str) -> Option<TokenFormat> {
        match s.to_ascii_uppercase().as_str() {
            "JWT" => Some(TokenFormat::Jwt),
            "OPAQUE" | "DEFAULT" | "REFERENCE" => Some(TokenFormat::Opaque),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    Access,
    Refresh,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Access => "access",
            TokenKind::Refresh => "refresh",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenState {
    Active,
    /// A refresh token that was exchanged; presenting it again revokes its family.
    Rotated,
    Revoked,
}

impl TokenState {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenState::Active => "active",
            TokenState::Rotated => "rotated",
            TokenState::Revoked => "revoked",
        }
    }
    pub fn parse(s: &str) -> TokenState {
        match s {
            "active" => TokenState::Active,
            "rotated" => TokenState::Rotated,
            _ => TokenState::Revoked,
        }
    }
}

/// An issued token as persisted: `key` is the SHA-256 of an opaque/refresh token or `jti:<jti>` of a JWT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRecord {
    pub key: String,
    pub kind: TokenKind,
    pub format: TokenFormat,
    pub client_id: String,
    pub subject: String,
    pub scope: String,
    /// Every token descending from one grant shares a family; reuse of a rotated refresh token revokes it.
    pub family_id: String,
    pub issued_at: i64,
    pub expires_at: i64,
    pub state: TokenState,
    /// WSO2's `aut`: `APPLICATION` (client_credentials) or `APPLICATION_USER`; empty for tokens stored before it
    /// was kept.
    pub aut: String,
}

/// An authorization code (stored as a hash), bound to its client, redirect URI and PKCE challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthCode {
    pub code_hash: String,
    pub client_id: String,
    pub subject: String,
    pub scope: String,
    pub redirect_uri: String,
    /// S256 challenge, empty when the client sent none.
    pub code_challenge: String,
    pub family_id: String,
    pub expires_at: i64,
}
