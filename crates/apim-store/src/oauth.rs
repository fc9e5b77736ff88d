//! The key manager's records: clients, tokens, authorization codes, public signing keys.

use std::future::Future;

use apim_domain::oauth::{AuthCode, OAuthClient, TokenFormat, TokenKind, TokenRecord, TokenState};
use sqlx::Row;

use crate::db::Db;
use crate::error::StoreError;
use crate::user::BeginWrite;
use crate::user::{map_unique, per_backend, sql};

/// Outcome of redeeming an authorization code.
#[derive(Debug)]
pub enum CodeRedemption {
    /// First use: the code is now spent.
    Fresh(AuthCode),
    /// The code was already used: the caller must revoke what it issued.
    Reused(AuthCode),
    Unknown,
}

pub trait OAuthStore: Send + Sync {
    fn create_client(&self, c: &OAuthClient) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn get_client(&self, client_id: &str) -> impl Future<Output = Result<Option<OAuthClient>, StoreError>> + Send;
    /// Replaces name, grant types, redirect URIs and token type; `NotFound` if absent.
    fn update_client(&self, c: &OAuthClient) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn set_client_secret(&self, client_id: &str, secret_hash: &str) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn delete_client(&self, client_id: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;

    fn insert_token(&self, t: &TokenRecord) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Inserts many tokens in one statement (group commit under load).
    fn insert_tokens(&self, tokens: &[TokenRecord]) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Inserts the tokens whose client still exists with the secret hash they were issued under, in one
    /// transaction that holds those client rows (so a concurrent delete or secret change waits for it, and then
    /// revokes these tokens too). Returns the client ids that no longer match; their tokens are not stored.
    fn insert_tokens_checked(&self, tokens: &[(TokenRecord, String)]) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;
    fn get_token(&self, key: &str) -> impl Future<Output = Result<Option<TokenRecord>, StoreError>> + Send;
    /// Compare-and-set on the state; true if this call made the change (safe across nodes).
    fn transition_token(&self, key: &str, from: TokenState, to: TokenState) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Revokes every not-yet-revoked token of a family; returns those it revoked.
    fn revoke_family(&self, family_id: &str) -> impl Future<Output = Result<Vec<TokenRecord>, StoreError>> + Send;
    /// Revokes every not-yet-revoked token of a client; returns those it revoked.
    fn revoke_client_tokens(&self, client_id: &str) -> impl Future<Output = Result<Vec<TokenRecord>, StoreError>> + Send;

    fn insert_code(&self, c: &AuthCode) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn redeem_code(&self, code_hash: &str) -> impl Future<Output = Result<CodeRedemption, StoreError>> + Send;

    /// Records a public key (JWK JSON); the current key of a node has no retirement time.
    fn put_jwk(&self, kid: &str, jwk: &str, now: i64) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Gives every other key without a retirement time one: `retire_at`.
    fn retire_jwks_except(&self, kid: &str, retire_at: i64) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// JWK JSON of every key not retired by `now`.
    fn live_jwks(&self, now: i64) -> impl Future<Output = Result<Vec<(String, String)>, StoreError>> + Send;
}

/// Binds a token's eleven columns, in `insert_statement`'s order.
macro_rules! bind_token {
    ($q:expr, $t:expr) => {
        $q.bind($t.key.as_str())
            .bind($t.kind.as_str())
            .bind($t.format.as_str())
            .bind($t.client_id.as_str())
            .bind($t.subject.as_str())
            .bind($t.scope.as_str())
            .bind($t.family_id.as_str())
            .bind($t.issued_at)
            .bind($t.expires_at)
            .bind($t.state.as_str())
            .bind($t.aut.as_str())
    };
}

/// SQLite's token write (`tokens` not empty): one statement that inserts each token whose client still has the secret it authenticated
/// with, and returns the keys it inserted. SQLite runs a statement under its write lock, so the check and the insert
/// are atomic without `BEGIN IMMEDIATE` and `COMMIT`, two round trips more to the connection's thread (and
/// `sqlite3_exec` calls) that took as long as the insert itself.
async fn insert_tokens_checked_sqlite(pool: &sqlx::SqlitePool, tokens: &[(TokenRecord, String)]) -> Result<Vec<String>, StoreError> {
    let mut text = String::from(
        "INSERT INTO oauth_token (token_key, kind, format, client_id, subject, scope, family_id, issued_at, expires_at, state, aut) ",
    );
    for i in 0..tokens.len() {
        if i > 0 {
            text.push_str(" UNION ALL ");
        }
        text.push_str("SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM oauth_client WHERE client_id = ? AND secret_hash = ?");
    }
    text.push_str(" RETURNING token_key");
    let mut q = sqlx::query(sqlx::AssertSqlSafe(text));
    for (t, secret_hash) in tokens {
        q = bind_token!(q, t).bind(t.client_id.as_str()).bind(secret_hash.as_str());
    }
    let rows = q.fetch_all(pool).await.map_err(|e| map_unique(e, || "token".to_string()))?;
    if rows.len() == tokens.len() {
        return Ok(Vec::new());
    }
    let mut inserted = Vec::with_capacity(rows.len());
    for r in &rows {
        inserted.push(r.try_get::<String, _>(0)?);
    }
    let mut stale: Vec<String> = tokens.iter().filter(|(t, _)| !inserted.contains(&t.key)).map(|(t, _)| t.client_id.clone()).collect();
    stale.sort_unstable();
    stale.dedup();
    Ok(stale)
}

/// A multi-row token INSERT with `rows` rows of placeholders.
fn insert_statement(rows: usize, pg: bool) -> String {
    let mut text = String::from(
        "INSERT INTO oauth_token (token_key, kind, format, client_id, subject, scope, family_id, issued_at, expires_at, state, aut) VALUES ",
    );
    for i in 0..rows {
        if i > 0 {
            text.push_str(", ");
        }
        if pg {
            let b = i * 11;
            text.push_str(&format!(
                "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                b + 1,
                b + 2,
                b + 3,
                b + 4,
                b + 5,
                b + 6,
                b + 7,
                b + 8,
                b + 9,
                b + 10,
                b + 11
            ));
        } else {
            text.push_str("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
        }
    }
    text
}

fn split(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

macro_rules! client_from_row {
    ($r:expr) => {{
        let r = $r;
        OAuthClient {
            client_id: r.try_get(0)?,
            secret_hash: r.try_get(1)?,
            client_name: r.try_get(2)?,
            owner: r.try_get(3)?,
            grant_types: split(&r.try_get::<String, _>(4)?),
            redirect_uris: split(&r.try_get::<String, _>(5)?),
            token_type: TokenFormat::parse(&r.try_get::<String, _>(6)?).unwrap_or(TokenFormat::Jwt),
            created_at: r.try_get(7)?,
        }
    }};
}

macro_rules! token_from_row {
    ($r:expr) => {{
        let r = $r;
        TokenRecord {
            key: r.try_get(0)?,
            kind: if r.try_get::<String, _>(1)? == "refresh" { TokenKind::Refresh } else { TokenKind::Access },
            format: TokenFormat::parse(&r.try_get::<String, _>(2)?).unwrap_or(TokenFormat::Opaque),
            client_id: r.try_get(3)?,
            subject: r.try_get(4)?,
            scope: r.try_get(5)?,
            family_id: r.try_get(6)?,
            issued_at: r.try_get(7)?,
            expires_at: r.try_get(8)?,
            state: TokenState::parse(&r.try_get::<String, _>(9)?),
            aut: r.try_get(10)?,
        }
    }};
}

impl Db {
    async fn tokens_where(&self, column: &'static str, value: &str) -> Result<Vec<TokenRecord>, StoreError> {
        let q = match (column, matches!(self, Db::Postgres(_))) {
            ("family_id", true) => {
                "SELECT token_key, kind, format, client_id, subject, scope, family_id, issued_at, expires_at, state, aut FROM oauth_token WHERE family_id = $1 AND state <> 'revoked'"
            }
            ("family_id", false) => {
                "SELECT token_key, kind, format, client_id, subject, scope, family_id, issued_at, expires_at, state, aut FROM oauth_token WHERE family_id = ? AND state <> 'revoked'"
            }
            (_, true) => {
                "SELECT token_key, kind, format, client_id, subject, scope, family_id, issued_at, expires_at, state, aut FROM oauth_token WHERE client_id = $1 AND state <> 'revoked'"
            }
            (_, false) => {
                "SELECT token_key, kind, format, client_id, subject, scope, family_id, issued_at, expires_at, state, aut FROM oauth_token WHERE client_id = ? AND state <> 'revoked'"
            }
        };
        per_backend!(self, |p| {
            let rows = sqlx::query(q).bind(value).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(token_from_row!(r));
            }
            Ok(out)
        })
    }

    async fn revoke_listed(&self, tokens: Vec<TokenRecord>) -> Result<Vec<TokenRecord>, StoreError> {
        let mut revoked = Vec::with_capacity(tokens.len());
        for t in tokens {
            // Per row, compare-and-set, so two nodes revoking at once report each token once.
            if self.transition_token(&t.key, t.state, TokenState::Revoked).await? {
                revoked.push(t);
            }
        }
        Ok(revoked)
    }
}

impl OAuthStore for Db {
    async fn create_client(&self, c: &OAuthClient) -> Result<(), StoreError> {
        let q = sql(
            self,
            "INSERT INTO oauth_client (client_id, secret_hash, client_name, owner, grant_types, redirect_uris, token_type, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            "INSERT INTO oauth_client (client_id, secret_hash, client_name, owner, grant_types, redirect_uris, token_type, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        );
        let (grants, uris) = (c.grant_types.join(" "), c.redirect_uris.join(" "));
        per_backend!(self, |p| {
            sqlx::query(q)
                .bind(&c.client_id)
                .bind(&c.secret_hash)
                .bind(&c.client_name)
                .bind(&c.owner)
                .bind(&grants)
                .bind(&uris)
                .bind(c.token_type.as_str())
                .bind(c.created_at)
                .execute(p)
                .await
                .map_err(|e| map_unique(e, || format!("client `{}`", c.client_id)))?;
        });
        Ok(())
    }

    async fn get_client(&self, client_id: &str) -> Result<Option<OAuthClient>, StoreError> {
        let q = sql(
            self,
            "SELECT client_id, secret_hash, client_name, owner, grant_types, redirect_uris, token_type, created_at FROM oauth_client WHERE client_id = ?",
            "SELECT client_id, secret_hash, client_name, owner, grant_types, redirect_uris, token_type, created_at FROM oauth_client WHERE client_id = $1",
        );
        per_backend!(self, |p| {
            match sqlx::query(q).bind(client_id).fetch_optional(p).await? {
                Some(r) => Ok(Some(client_from_row!(r))),
                None => Ok(None),
            }
        })
    }

    async fn update_client(&self, c: &OAuthClient) -> Result<(), StoreError> {
        let q = sql(
            self,
            "UPDATE oauth_client SET client_name = ?, grant_types = ?, redirect_uris = ?, token_type = ? WHERE client_id = ?",
            "UPDATE oauth_client SET client_name = $1, grant_types = $2, redirect_uris = $3, token_type = $4 WHERE client_id = $5",
        );
        let (grants, uris) = (c.grant_types.join(" "), c.redirect_uris.join(" "));
        let n = per_backend!(self, |p| {
            sqlx::query(q)
                .bind(&c.client_name)
                .bind(&grants)
                .bind(&uris)
                .bind(c.token_type.as_str())
                .bind(&c.client_id)
                .execute(p)
                .await?
                .rows_affected()
        });
        if n == 0 && self.get_client(&c.client_id).await?.is_none() {
            return Err(StoreError::NotFound { what: format!("client `{}`", c.client_id) });
        }
        Ok(())
    }

    async fn set_client_secret(&self, client_id: &str, secret_hash: &str) -> Result<(), StoreError> {
        let q = sql(
            self,
            "UPDATE oauth_client SET secret_hash = ? WHERE client_id = ?",
            "UPDATE oauth_client SET secret_hash = $1 WHERE client_id = $2",
        );
        let n = per_backend!(self, |p| { sqlx::query(q).bind(secret_hash).bind(client_id).execute(p).await?.rows_affected() });
        if n == 0 {
            return Err(StoreError::NotFound { what: format!("client `{client_id}`") });
        }
        Ok(())
    }

    async fn delete_client(&self, client_id: &str) -> Result<bool, StoreError> {
        let q = sql(self, "DELETE FROM oauth_client WHERE client_id = ?", "DELETE FROM oauth_client WHERE client_id = $1");
        let n = per_backend!(self, |p| { sqlx::query(q).bind(client_id).execute(p).await?.rows_affected() });
        Ok(n > 0)
    }

    async fn insert_token(&self, t: &TokenRecord) -> Result<(), StoreError> {
        let q = sql(
            self,
            "INSERT INTO oauth_token (token_key, kind, format, client_id, subject, scope, family_id, issued_at, expires_at, state, aut) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            "INSERT INTO oauth_token (token_key, kind, format, client_id, subject, scope, family_id, issued_at, expires_at, state, aut) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        );
        per_backend!(self, |p| {
            sqlx::query(q)
                .bind(&t.key)
                .bind(t.kind.as_str())
                .bind(t.format.as_str())
                .bind(&t.client_id)
                .bind(&t.subject)
                .bind(&t.scope)
                .bind(&t.family_id)
                .bind(t.issued_at)
                .bind(t.expires_at)
                .bind(t.state.as_str())
                .bind(&t.aut)
                .execute(p)
                .await
                .map_err(|e| map_unique(e, || "token".to_string()))?;
        });
        Ok(())
    }

    async fn insert_tokens(&self, tokens: &[TokenRecord]) -> Result<(), StoreError> {
        if tokens.is_empty() {
            return Ok(());
        }
        let text = insert_statement(tokens.len(), matches!(self, Db::Postgres(_)));
        // The statement text is built from placeholders only; every value is bound.
        per_backend!(self, |p| {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(text.clone()));
            for t in tokens {
                q = bind_token!(q, t);
            }
            q.execute(p).await.map_err(|e| map_unique(e, || "token".to_string()))?;
        });
        Ok(())
    }

    async fn insert_tokens_checked(&self, tokens: &[(TokenRecord, String)]) -> Result<Vec<String>, StoreError> {
        if tokens.is_empty() {
            // (`IN ()` is not SQL.)
            return Ok(Vec::new());
        }
        if let Db::Sqlite(p) = self {
            return insert_tokens_checked_sqlite(p, tokens).await;
        }
        let mut ids: Vec<&str> = tokens.iter().map(|(t, _)| t.client_id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        let pg = matches!(self, Db::Postgres(_));
        let mut select = String::from("SELECT client_id, secret_hash FROM oauth_client WHERE client_id IN (");
        for i in 0..ids.len() {
            if i > 0 {
                select.push_str(", ");
            }
            if pg { select.push_str(&format!("${}", i + 1)) } else { select.push('?') }
        }
        select.push(')');
        match self {
            Db::Postgres(_) => select.push_str(" FOR SHARE"),
            Db::MySql(_) => select.push_str(" LOCK IN SHARE MODE"),
            Db::Sqlite(_) => {}
        }
        let insert = insert_statement(tokens.len(), pg);
        per_backend!(self, |p| {
            let mut tx = p.begin_write().await?;
            let mut q = sqlx::query(sqlx::AssertSqlSafe(select.clone()));
            for id in &ids {
                q = q.bind(id.to_string());
            }
            let mut current: Vec<(String, String)> = Vec::new();
            for r in q.fetch_all(&mut *tx).await? {
                current.push((r.try_get(0)?, r.try_get(1)?));
            }
            let valid = |t: &(TokenRecord, String)| current.iter().any(|(id, h)| id == &t.0.client_id && h == &t.1);
            let keep: Vec<&TokenRecord> = tokens.iter().filter(|t| valid(t)).map(|(t, _)| t).collect();
            let mut stale: Vec<String> = tokens.iter().filter(|t| !valid(t)).map(|(t, _)| t.client_id.clone()).collect();
            stale.dedup();
            if !keep.is_empty() {
                let text = if keep.len() == tokens.len() { insert.clone() } else { insert_statement(keep.len(), pg) };
                let mut q = sqlx::query(sqlx::AssertSqlSafe(text));
                for t in keep {
                    q = bind_token!(q, t);
                }
                q.execute(&mut *tx).await.map_err(|e| map_unique(e, || "token".to_string()))?;
            }
            tx.commit().await?;
            Ok(stale)
        })
    }

    async fn get_token(&self, key: &str) -> Result<Option<TokenRecord>, StoreError> {
        let q = sql(
            self,
            "SELECT token_key, kind, format, client_id, subject, scope, family_id, issued_at, expires_at, state, aut FROM oauth_token WHERE token_key = ?",
            "SELECT token_key, kind, format, client_id, subject, scope, family_id, issued_at, expires_at, state, aut FROM oauth_token WHERE token_key = $1",
        );
        per_backend!(self, |p| {
            match sqlx::query(q).bind(key).fetch_optional(p).await? {
                Some(r) => Ok(Some(token_from_row!(r))),
                None => Ok(None),
            }
        })
    }

    async fn transition_token(&self, key: &str, from: TokenState, to: TokenState) -> Result<bool, StoreError> {
        let q = sql(
            self,
            "UPDATE oauth_token SET state = ? WHERE token_key = ? AND state = ?",
            "UPDATE oauth_token SET state = $1 WHERE token_key = $2 AND state = $3",
        );
        let n =
            per_backend!(self, |p| { sqlx::query(q).bind(to.as_str()).bind(key).bind(from.as_str()).execute(p).await?.rows_affected() });
        Ok(n == 1)
    }

    async fn revoke_family(&self, family_id: &str) -> Result<Vec<TokenRecord>, StoreError> {
        let listed = self.tokens_where("family_id", family_id).await?;
        self.revoke_listed(listed).await
    }

    async fn revoke_client_tokens(&self, client_id: &str) -> Result<Vec<TokenRecord>, StoreError> {
        let listed = self.tokens_where("client_id", client_id).await?;
        self.revoke_listed(listed).await
    }

    async fn insert_code(&self, c: &AuthCode) -> Result<(), StoreError> {
        let q = sql(
            self,
            "INSERT INTO oauth_code (code_hash, client_id, subject, scope, redirect_uri, code_challenge, family_id, expires_at, used) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)",
            "INSERT INTO oauth_code (code_hash, client_id, subject, scope, redirect_uri, code_challenge, family_id, expires_at, used) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0)",
        );
        per_backend!(self, |p| {
            sqlx::query(q)
                .bind(&c.code_hash)
                .bind(&c.client_id)
                .bind(&c.subject)
                .bind(&c.scope)
                .bind(&c.redirect_uri)
                .bind(&c.code_challenge)
                .bind(&c.family_id)
                .bind(c.expires_at)
                .execute(p)
                .await?;
        });
        Ok(())
    }

    async fn redeem_code(&self, code_hash: &str) -> Result<CodeRedemption, StoreError> {
        let spend = sql(
            self,
            "UPDATE oauth_code SET used = 1 WHERE code_hash = ? AND used = 0",
            "UPDATE oauth_code SET used = 1 WHERE code_hash = $1 AND used = 0",
        );
        let fetch = sql(
            self,
            "SELECT code_hash, client_id, subject, scope, redirect_uri, code_challenge, family_id, expires_at FROM oauth_code WHERE code_hash = ?",
            "SELECT code_hash, client_id, subject, scope, redirect_uri, code_challenge, family_id, expires_at FROM oauth_code WHERE code_hash = $1",
        );
        let spent_now = per_backend!(self, |p| { sqlx::query(spend).bind(code_hash).execute(p).await?.rows_affected() == 1 });
        let code = per_backend!(self, |p| {
            match sqlx::query(fetch).bind(code_hash).fetch_optional(p).await? {
                Some(r) => Some(AuthCode {
                    code_hash: r.try_get(0)?,
                    client_id: r.try_get(1)?,
                    subject: r.try_get(2)?,
                    scope: r.try_get(3)?,
                    redirect_uri: r.try_get(4)?,
                    code_challenge: r.try_get(5)?,
                    family_id: r.try_get(6)?,
                    expires_at: r.try_get(7)?,
                }),
                None => None,
            }
        });
        Ok(match (code, spent_now) {
            (Some(c), true) => CodeRedemption::Fresh(c),
            (Some(c), false) => CodeRedemption::Reused(c),
            (None, _) => CodeRedemption::Unknown,
        })
    }

    async fn put_jwk(&self, kid: &str, jwk: &str, now: i64) -> Result<(), StoreError> {
        let upsert = match self {
            Db::Sqlite(_) => {
                "INSERT INTO oauth_jwk (kid, jwk, created_at, retire_at) VALUES (?, ?, ?, NULL) ON CONFLICT (kid) DO UPDATE SET retire_at = NULL"
            }
            Db::Postgres(_) => {
                "INSERT INTO oauth_jwk (kid, jwk, created_at, retire_at) VALUES ($1, $2, $3, NULL) ON CONFLICT (kid) DO UPDATE SET retire_at = NULL"
            }
            Db::MySql(_) => {
                "INSERT INTO oauth_jwk (kid, jwk, created_at, retire_at) VALUES (?, ?, ?, NULL) ON DUPLICATE KEY UPDATE retire_at = NULL"
            }
        };
        per_backend!(self, |p| {
            sqlx::query(upsert).bind(kid).bind(jwk).bind(now).execute(p).await?;
        });
        Ok(())
    }

    async fn retire_jwks_except(&self, kid: &str, retire_at: i64) -> Result<(), StoreError> {
        let q = sql(
            self,
            "UPDATE oauth_jwk SET retire_at = ? WHERE kid <> ? AND retire_at IS NULL",
            "UPDATE oauth_jwk SET retire_at = $1 WHERE kid <> $2 AND retire_at IS NULL",
        );
        per_backend!(self, |p| {
            sqlx::query(q).bind(retire_at).bind(kid).execute(p).await?;
        });
        Ok(())
    }

    async fn live_jwks(&self, now: i64) -> Result<Vec<(String, String)>, StoreError> {
        let q = sql(
            self,
            "SELECT kid, jwk FROM oauth_jwk WHERE retire_at IS NULL OR retire_at > ? ORDER BY created_at DESC",
            "SELECT kid, jwk FROM oauth_jwk WHERE retire_at IS NULL OR retire_at > $1 ORDER BY created_at DESC",
        );
        per_backend!(self, |p| {
            let rows = sqlx::query(q).bind(now).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push((r.try_get(0)?, r.try_get(1)?));
            }
            Ok(out)
        })
    }
}
