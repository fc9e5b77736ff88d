//! Admin objects: throttling policies (beside the seeded defaults) and documents kept by kind (block
//! conditions, environments, key managers). Mutations write their events in the same transaction.

use std::future::Future;

use apim_domain::api::EventDraft;
use sqlx::Row;

use crate::db::Db;
use crate::error::StoreError;
use crate::user::BeginWrite;
use crate::user::{map_unique, per_backend, sql, write_events};

pub trait AdminStore: Send + Sync {
    /// `Conflict` when a policy of that level and name exists.
    fn create_policy(
        &self,
        level: &str,
        name: &str,
        document: &str,
        events: &[EventDraft],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn update_policy(
        &self,
        level: &str,
        name: &str,
        document: &str,
        events: &[EventDraft],
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    fn delete_policy(&self, level: &str, name: &str, events: &[EventDraft]) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// `Conflict` when an object of that kind and name exists.
    fn create_object(
        &self,
        kind: &str,
        id: &str,
        name: &str,
        document: &str,
        events: &[EventDraft],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn update_object(
        &self,
        kind: &str,
        id: &str,
        name: &str,
        document: &str,
        events: &[EventDraft],
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    fn delete_object(&self, kind: &str, id: &str, events: &[EventDraft]) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// `(id, name, document)` of every object of a kind, by name.
    fn list_objects(&self, kind: &str) -> impl Future<Output = Result<Vec<(String, String, String)>, StoreError>> + Send;
}

/// Runs one statement and the events in a transaction; true if the statement touched a row.
macro_rules! exec_with_events {
    ($db:expr, $q:expr, [$($b:expr),*], $events:expr, $what:expr) => {{
        per_backend!($db, |p| {
            let mut tx = p.begin_write().await?;
            let n = sqlx::query($q)$(.bind($b))*.execute(&mut *tx).await.map_err(|e| map_unique(e, $what))?.rows_affected();
            if n == 0 {
                return Ok(false);
            }
            write_events!(tx, $db, $events);
            tx.commit().await?;
            Ok(true)
        })
    }};
}

impl AdminStore for Db {
    async fn create_policy(&self, level: &str, name: &str, document: &str, events: &[EventDraft]) -> Result<(), StoreError> {
        let q = sql(
            self,
            "INSERT INTO am_throttle_policy (level, name, document) VALUES (?, ?, ?)",
            "INSERT INTO am_throttle_policy (level, name, document) VALUES ($1, $2, $3)",
        );
        let made: Result<bool, StoreError> =
            async { exec_with_events!(self, q, [level, name, document], events, || format!("a {level} policy named `{name}`")) }.await;
        made.map(drop)
    }

    async fn update_policy(&self, level: &str, name: &str, document: &str, events: &[EventDraft]) -> Result<bool, StoreError> {
        let q = sql(
            self,
            "UPDATE am_throttle_policy SET document = ? WHERE level = ? AND name = ?",
            "UPDATE am_throttle_policy SET document = $1 WHERE level = $2 AND name = $3",
        );
        exec_with_events!(self, q, [document, level, name], events, || format!("a {level} policy named `{name}`"))
    }

    async fn delete_policy(&self, level: &str, name: &str, events: &[EventDraft]) -> Result<bool, StoreError> {
        let q = sql(
            self,
            "DELETE FROM am_throttle_policy WHERE level = ? AND name = ?",
            "DELETE FROM am_throttle_policy WHERE level = $1 AND name = $2",
        );
        exec_with_events!(self, q, [level, name], events, || format!("a {level} policy named `{name}`"))
    }

    async fn create_object(&self, kind: &str, id: &str, name: &str, document: &str, events: &[EventDraft]) -> Result<(), StoreError> {
        let q = sql(
            self,
            "INSERT INTO am_admin_object (kind, id, name, document, created_at) VALUES (?, ?, ?, ?, ?)",
            "INSERT INTO am_admin_object (kind, id, name, document, created_at) VALUES ($1, $2, $3, $4, $5)",
        );
        let created_at = apim_domain::clock::Clock::system().unix_secs();
        let made: Result<bool, StoreError> = async {
            exec_with_events!(self, q, [kind, id, name, document, created_at], events, || format!(
                "a {} named `{name}`",
                kind.replace('_', " ")
            ))
        }
        .await;
        made.map(drop)
    }

    async fn update_object(&self, kind: &str, id: &str, name: &str, document: &str, events: &[EventDraft]) -> Result<bool, StoreError> {
        let q = sql(
            self,
            "UPDATE am_admin_object SET name = ?, document = ? WHERE kind = ? AND id = ?",
            "UPDATE am_admin_object SET name = $1, document = $2 WHERE kind = $3 AND id = $4",
        );
        exec_with_events!(self, q, [name, document, kind, id], events, || format!("a {} named `{name}`", kind.replace('_', " ")))
    }

    async fn delete_object(&self, kind: &str, id: &str, events: &[EventDraft]) -> Result<bool, StoreError> {
        let q =
            sql(self, "DELETE FROM am_admin_object WHERE kind = ? AND id = ?", "DELETE FROM am_admin_object WHERE kind = $1 AND id = $2");
        exec_with_events!(self, q, [kind, id], events, || "object".to_string())
    }

    async fn list_objects(&self, kind: &str) -> Result<Vec<(String, String, String)>, StoreError> {
        let q = sql(
            self,
            "SELECT id, name, document FROM am_admin_object WHERE kind = ? ORDER BY name",
            "SELECT id, name, document FROM am_admin_object WHERE kind = $1 ORDER BY name",
        );
        per_backend!(self, |p| {
            let mut out = Vec::new();
            for r in sqlx::query(q).bind(kind).fetch_all(p).await? {
                out.push((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?));
            }
            Ok(out)
        })
    }
}
