//! The user store (`[user_store] type = "database_unique_id"`), kept in `shared_db`.

use std::future::Future;

use apim_domain::{User, UserId};
use sqlx::Row;

use crate::db::Db;
use crate::error::StoreError;

pub struct NewUser<'a> {
    pub username: &'a str,
    /// Argon2id PHC string; hashing happens before the store sees it.
    pub password_hash: &'a str,
    pub roles: &'a [&'a str],
}

/// Users and their roles.
pub trait UserStore: Send + Sync {
    /// Creates a user with the given roles; `Conflict` if the name is taken, `NotFound` for an unknown role.
    fn create_user(&self, user: &NewUser<'_>) -> impl Future<Output = Result<User, StoreError>> + Send;
    fn find_user(&self, username: &str) -> impl Future<Output = Result<Option<User>, StoreError>> + Send;
    fn find_user_by_id(&self, id: &UserId) -> impl Future<Output = Result<Option<User>, StoreError>> + Send;
    fn list_users(&self) -> impl Future<Output = Result<Vec<User>, StoreError>> + Send;
    fn list_roles(&self) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;
    fn set_password_hash(&self, id: &UserId, hash: &str) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn delete_user(&self, id: &UserId) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// Expands the same body once per backend, so each arm is type-checked against its own driver.
/// `$q` is the SQL with `?` placeholders, `$pg` the PostgreSQL text with `$n`.
macro_rules! per_backend {
    ($db:expr, |$pool:ident| $body:block) => {
        match $db {
            Db::Sqlite($pool) => $body,
            Db::Postgres($pool) => $body,
            Db::MySql($pool) => $body,
        }
    };
}

pub(crate) use per_backend;

/// Starts a write transaction. On SQLite it is `BEGIN IMMEDIATE`: a deferred transaction that reads first and
/// writes later cannot wait for another writer (SQLite answers BUSY at once instead of using the busy timeout),
/// so concurrent writers would fail instead of queueing.
pub(crate) trait BeginWrite {
    type Db: sqlx::Database;
    fn begin_write(&self) -> impl Future<Output = Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>> + Send;
}

impl BeginWrite for sqlx::SqlitePool {
    type Db = sqlx::Sqlite;
    fn begin_write(&self) -> impl Future<Output = Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error>> + Send {
        self.begin_with("BEGIN IMMEDIATE")
    }
}

impl BeginWrite for sqlx::PgPool {
    type Db = sqlx::Postgres;
    fn begin_write(&self) -> impl Future<Output = Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error>> + Send {
        self.begin()
    }
}

impl BeginWrite for sqlx::MySqlPool {
    type Db = sqlx::MySql;
    fn begin_write(&self) -> impl Future<Output = Result<sqlx::Transaction<'static, sqlx::MySql>, sqlx::Error>> + Send {
        self.begin()
    }
}

/// Writes events into the outbox inside the caller's transaction `$tx`.
macro_rules! write_events {
    ($tx:expr, $db:expr, $events:expr) => {{
        let q = $crate::user::sql(
            $db,
            "INSERT INTO am_event (event_type, payload, created_at) VALUES (?, ?, ?)",
            "INSERT INTO am_event (event_type, payload, created_at) VALUES ($1, $2, $3)",
        );
        for e in $events {
            sqlx::query(q)
                .bind(&e.event_type)
                .bind(&e.payload)
                .bind(apim_domain::clock::Clock::system().unix_secs())
                .execute(&mut *$tx)
                .await?;
        }
    }};
}
pub(crate) use write_events;

pub(crate) fn sql(db: &Db, qmark: &'static str, dollar: &'static str) -> &'static str {
    if matches!(db, Db::Postgres(_)) { dollar } else { qmark }
}

pub(crate) fn map_unique(e: sqlx::Error, what: impl FnOnce() -> String) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict { what: what() },
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::NotFound { what: "role".into() },
        _ => StoreError::Query(e),
    }
}

impl Db {
    async fn roles_of(&self, id: &str) -> Result<Vec<String>, StoreError> {
        let q = sql(
            self,
            "SELECT role_name FROM um_user_role WHERE user_id = ? ORDER BY role_name",
            "SELECT role_name FROM um_user_role WHERE user_id = $1 ORDER BY role_name",
        );
        per_backend!(self, |p| {
            let rows = sqlx::query(q).bind(id).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(r.try_get::<String, _>(0)?);
            }
            Ok(out)
        })
    }

    async fn user_where(&self, column_is_id: bool, value: &str) -> Result<Option<User>, StoreError> {
        let q = match (column_is_id, matches!(self, Db::Postgres(_))) {
            (true, true) => "SELECT id, username, password_hash FROM um_user WHERE id = $1",
            (true, false) => "SELECT id, username, password_hash FROM um_user WHERE id = ?",
            (false, true) => "SELECT id, username, password_hash FROM um_user WHERE username = $1",
            (false, false) => "SELECT id, username, password_hash FROM um_user WHERE username = ?",
        };
        let row: Option<(String, String, String)> = per_backend!(self, |p| {
            match sqlx::query(q).bind(value).fetch_optional(p).await? {
                Some(r) => Some((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)),
                None => None,
            }
        });
        let Some((id, username, password_hash)) = row else { return Ok(None) };
        let roles = self.roles_of(&id).await?;
        Ok(Some(User { id: UserId(id), username, password_hash, roles }))
    }
}

impl UserStore for Db {
    async fn create_user(&self, user: &NewUser<'_>) -> Result<User, StoreError> {
        if user.username.trim().is_empty() {
            return Err(StoreError::Invalid("username must not be empty".into()));
        }
        let id = UserId::generate();
        let insert_user = sql(
            self,
            "INSERT INTO um_user (id, username, password_hash, created_at) VALUES (?, ?, ?, ?)",
            "INSERT INTO um_user (id, username, password_hash, created_at) VALUES ($1, $2, $3, $4)",
        );
        let insert_role = sql(
            self,
            "INSERT INTO um_user_role (user_id, role_name) VALUES (?, ?)",
            "INSERT INTO um_user_role (user_id, role_name) VALUES ($1, $2)",
        );
        let role_exists = sql(self, "SELECT COUNT(*) FROM um_role WHERE name = ?", "SELECT COUNT(*) FROM um_role WHERE name = $1");
        let username = user.username.to_string();
        per_backend!(self, |p| {
            let mut tx = p.begin_write().await?;
            sqlx::query(insert_user)
                .bind(&id.0)
                .bind(user.username)
                .bind(user.password_hash)
                .bind(apim_domain::clock::Clock::system().unix_secs())
                .execute(&mut *tx)
                .await
                .map_err(|e| map_unique(e, || format!("user `{username}`")))?;
            for role in user.roles {
                // Checked explicitly: SQLite and MySQL report foreign-key failures differently.
                let n: i64 = sqlx::query(role_exists).bind(*role).fetch_one(&mut *tx).await?.try_get(0)?;
                if n == 0 {
                    return Err(StoreError::NotFound { what: format!("role `{role}`") });
                }
                sqlx::query(insert_role).bind(&id.0).bind(*role).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        let mut roles: Vec<String> = user.roles.iter().map(|r| r.to_string()).collect();
        roles.sort();
        roles.dedup();
        Ok(User { id, username, password_hash: user.password_hash.to_string(), roles })
    }

    async fn find_user(&self, username: &str) -> Result<Option<User>, StoreError> {
        self.user_where(false, username).await
    }

    async fn find_user_by_id(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        self.user_where(true, &id.0).await
    }

    async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        let rows: Vec<(String, String, String)> = per_backend!(self, |p| {
            let rows = sqlx::query("SELECT id, username, password_hash FROM um_user ORDER BY username").fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?));
            }
            out
        });
        let mut users = Vec::with_capacity(rows.len());
        for (id, username, password_hash) in rows {
            let roles = self.roles_of(&id).await?;
            users.push(User { id: UserId(id), username, password_hash, roles });
        }
        Ok(users)
    }

    async fn list_roles(&self) -> Result<Vec<String>, StoreError> {
        per_backend!(self, |p| {
            let rows = sqlx::query("SELECT name FROM um_role ORDER BY name").fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(r.try_get::<String, _>(0)?);
            }
            Ok(out)
        })
    }

    async fn set_password_hash(&self, id: &UserId, hash: &str) -> Result<(), StoreError> {
        let q = sql(self, "UPDATE um_user SET password_hash = ? WHERE id = ?", "UPDATE um_user SET password_hash = $1 WHERE id = $2");
        let affected = per_backend!(self, |p| { sqlx::query(q).bind(hash).bind(&id.0).execute(p).await?.rows_affected() });
        if affected == 0 {
            return Err(StoreError::NotFound { what: format!("user id {id}") });
        }
        Ok(())
    }

    async fn delete_user(&self, id: &UserId) -> Result<bool, StoreError> {
        let del_roles = sql(self, "DELETE FROM um_user_role WHERE user_id = ?", "DELETE FROM um_user_role WHERE user_id = $1");
        let del_user = sql(self, "DELETE FROM um_user WHERE id = ?", "DELETE FROM um_user WHERE id = $1");
        per_backend!(self, |p| {
            let mut tx = p.begin_write().await?;
            sqlx::query(del_roles).bind(&id.0).execute(&mut *tx).await?;
            let n = sqlx::query(del_user).bind(&id.0).execute(&mut *tx).await?.rows_affected();
            tx.commit().await?;
            Ok(n > 0)
        })
    }
}
