-- OAuth2 server (key manager): clients, tokens, authorization codes, signing keys.
CREATE TABLE oauth_client (
    client_id VARCHAR(64) NOT NULL PRIMARY KEY,
    -- SHA-256 (hex) of a 256-bit random secret; the secret itself is never stored.
    secret_hash VARCHAR(64) NOT NULL,
    client_name VARCHAR(255) NOT NULL,
    owner VARCHAR(255) NOT NULL,
    -- space-separated, as in OAuth2
    grant_types VARCHAR(512) NOT NULL,
    redirect_uris TEXT NOT NULL,
    token_type VARCHAR(16) NOT NULL,
    created_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Access and refresh tokens. token_key is the SHA-256 (hex) of an opaque or refresh token, or "jti:<jti>" for a
-- JWT access token, so revocation and introspection work across key-manager nodes.
CREATE TABLE oauth_token (
    token_key VARCHAR(80) NOT NULL PRIMARY KEY,
    kind VARCHAR(16) NOT NULL,
    format VARCHAR(16) NOT NULL,
    client_id VARCHAR(64) NOT NULL,
    subject VARCHAR(255) NOT NULL,
    scope TEXT NOT NULL,
    family_id VARCHAR(64) NOT NULL,
    issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    -- active | rotated | revoked
    state VARCHAR(16) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE INDEX oauth_token_family ON oauth_token (family_id);
CREATE INDEX oauth_token_client ON oauth_token (client_id);

CREATE TABLE oauth_code (
    code_hash VARCHAR(64) NOT NULL PRIMARY KEY,
    client_id VARCHAR(64) NOT NULL,
    subject VARCHAR(255) NOT NULL,
    scope TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    code_challenge VARCHAR(128) NOT NULL,
    family_id VARCHAR(64) NOT NULL,
    expires_at BIGINT NOT NULL,
    used INTEGER NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Public signing keys: they stay in the JWKS until the tokens they signed have expired.
CREATE TABLE oauth_jwk (
    kid VARCHAR(128) NOT NULL PRIMARY KEY,
    jwk TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    retire_at BIGINT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
