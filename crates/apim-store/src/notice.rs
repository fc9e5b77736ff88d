//! The key manager's outbox of revocation notices: queued with the revocation, deleted once the listener took
//! the notice. Any key-manager node on the database may deliver any row (a listener takes a notice twice
//! harmlessly: the control plane records a revocation once).

use std::future::Future;

use sqlx::Row;

use crate::db::Db;
use crate::error::StoreError;
use crate::user::{BeginWrite, per_backend, sql};

pub trait NoticeStore: Send + Sync {
    /// Queues one notice per body for `listener`.
    fn enqueue_notices(&self, listener: &str, bodies: &[String], now: i64) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The oldest notices still waiting for `listener`: `(id, body)`.
    fn pending_notices(&self, listener: &str, limit: i64) -> impl Future<Output = Result<Vec<(i64, String)>, StoreError>> + Send;
    /// Removes a delivered notice; false if another node removed it first.
    fn delete_notice(&self, id: i64) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Drops notices queued before `created_before` (a listener removed from the configuration keeps none for ever).
    fn prune_notices(&self, created_before: i64) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

impl NoticeStore for Db {
    async fn enqueue_notices(&self, listener: &str, bodies: &[String], now: i64) -> Result<(), StoreError> {
        let q = sql(
            self,
            "INSERT INTO oauth_notice (listener, body, created_at) VALUES (?, ?, ?)",
            "INSERT INTO oauth_notice (listener, body, created_at) VALUES ($1, $2, $3)",
        );
        per_backend!(self, |p| {
            let mut tx = p.begin_write().await?;
            for b in bodies {
                sqlx::query(q).bind(listener).bind(b).bind(now).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    async fn pending_notices(&self, listener: &str, limit: i64) -> Result<Vec<(i64, String)>, StoreError> {
        let q = sql(
            self,
            "SELECT id, body FROM oauth_notice WHERE listener = ? ORDER BY id LIMIT ?",
            "SELECT id, body FROM oauth_notice WHERE listener = $1 ORDER BY id LIMIT $2",
        );
        per_backend!(self, |p| {
            let mut out = Vec::new();
            for r in sqlx::query(q).bind(listener).bind(limit).fetch_all(p).await? {
                out.push((r.try_get(0)?, r.try_get(1)?));
            }
            Ok(out)
        })
    }

    async fn delete_notice(&self, id: i64) -> Result<bool, StoreError> {
        let q = sql(self, "DELETE FROM oauth_notice WHERE id = ?", "DELETE FROM oauth_notice WHERE id = $1");
        per_backend!(self, |p| { Ok(sqlx::query(q).bind(id).execute(p).await?.rows_affected() > 0) })
    }

    async fn prune_notices(&self, created_before: i64) -> Result<u64, StoreError> {
        let q = sql(self, "DELETE FROM oauth_notice WHERE created_at < ?", "DELETE FROM oauth_notice WHERE created_at < $1");
        per_backend!(self, |p| { Ok(sqlx::query(q).bind(created_before).execute(p).await?.rows_affected()) })
    }
}
