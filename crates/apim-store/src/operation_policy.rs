//! Operation policies uploaded to the Publisher: common ones (`api_id` empty) and those of one API, with the
//! definitions they were uploaded with. Gateways run policies by name from the API's document, so nothing here
//! reaches them and no event is written.

use std::future::Future;

use sqlx::Row;

use crate::db::Db;
use crate::error::StoreError;
use crate::user::BeginWrite;
use crate::user::{map_unique, per_backend, sql};

/// An uploaded operation policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperationPolicyRecord {
    pub id: String,
    /// `None` for a common policy.
    pub api_id: Option<String>,
    pub name: String,
    pub version: String,
    /// WSO2's `OperationPolicyData` (JSON) without `id` and `isAPISpecific`.
    pub specification: String,
    /// The Synapse (`.j2`) and Choreo Connect (`.gotmpl`) definitions as uploaded; `None` in lists.
    pub synapse_definition: Option<String>,
    pub cc_definition: Option<String>,
    pub created_at: i64,
}

pub trait OperationPolicyStore: Send + Sync {
    /// `Conflict` when the API (or the common set) already has a policy of that name and version.
    fn create_operation_policy(&self, p: &OperationPolicyRecord) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The policy with its definitions: a common one (`api_id` `None`) or one of that API.
    fn operation_policy(
        &self,
        api_id: Option<&str>,
        id: &str,
    ) -> impl Future<Output = Result<Option<OperationPolicyRecord>, StoreError>> + Send;
    /// The common policies and, with `api_id`, that API's, by name and version (without definitions).
    fn operation_policies(
        &self,
        api_id: Option<&str>,
        with_common: bool,
    ) -> impl Future<Output = Result<Vec<OperationPolicyRecord>, StoreError>> + Send;
    fn delete_operation_policy(&self, api_id: Option<&str>, id: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Copies policies, with their definitions, to the API `to_api`: each `(id, new id)` in one transaction.
    fn copy_operation_policies(
        &self,
        to_api: &str,
        ids: &[(String, String)],
        now: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// `(id, name, version, document)` of the APIs whose document holds `text` (a policy's id), by name and
    /// version: candidates the caller confirms.
    fn apis_holding(&self, text: &str) -> impl Future<Output = Result<Vec<(String, String, String, String)>, StoreError>> + Send;
}

macro_rules! record_from_row {
    ($r:expr, $with_definitions:expr) => {{
        let r = $r;
        let api_id: String = r.try_get(1)?;
        OperationPolicyRecord {
            id: r.try_get(0)?,
            api_id: Some(api_id).filter(|a| !a.is_empty()),
            name: r.try_get(2)?,
            version: r.try_get(3)?,
            specification: r.try_get(4)?,
            created_at: r.try_get(5)?,
            synapse_definition: if $with_definitions { r.try_get(6)? } else { None },
            cc_definition: if $with_definitions { r.try_get(7)? } else { None },
        }
    }};
}

/// The statement that adds a policy (also in an import's transaction).
pub(crate) fn insert_sql(db: &Db) -> &'static str {
    sql(
        db,
        "INSERT INTO am_operation_policy (id, api_id, name, version, specification, synapse_definition, cc_definition, created_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        "INSERT INTO am_operation_policy (id, api_id, name, version, specification, synapse_definition, cc_definition, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
}

impl OperationPolicyStore for Db {
    async fn create_operation_policy(&self, p: &OperationPolicyRecord) -> Result<(), StoreError> {
        let q = insert_sql(self);
        let api_id = p.api_id.as_deref().unwrap_or("");
        per_backend!(self, |pool| {
            sqlx::query(q)
                .bind(&p.id)
                .bind(api_id)
                .bind(&p.name)
                .bind(&p.version)
                .bind(&p.specification)
                .bind(&p.synapse_definition)
                .bind(&p.cc_definition)
                .bind(p.created_at)
                .execute(pool)
                .await
                .map_err(|e| {
                    map_unique(e, || {
                        let owner = if p.api_id.is_some() { "this API" } else { "the common policies" };
                        format!("an operation policy `{}` version `{}` of {owner}", p.name, p.version)
                    })
                })?;
        });
        Ok(())
    }

    async fn operation_policy(&self, api_id: Option<&str>, id: &str) -> Result<Option<OperationPolicyRecord>, StoreError> {
        let q = sql(
            self,
            "SELECT id, api_id, name, version, specification, created_at, synapse_definition, cc_definition \
             FROM am_operation_policy WHERE api_id = ? AND id = ?",
            "SELECT id, api_id, name, version, specification, created_at, synapse_definition, cc_definition \
             FROM am_operation_policy WHERE api_id = $1 AND id = $2",
        );
        let api_id = api_id.unwrap_or("");
        per_backend!(self, |p| {
            match sqlx::query(q).bind(api_id).bind(id).fetch_optional(p).await? {
                Some(r) => Ok(Some(record_from_row!(r, true))),
                None => Ok(None),
            }
        })
    }

    async fn operation_policies(&self, api_id: Option<&str>, with_common: bool) -> Result<Vec<OperationPolicyRecord>, StoreError> {
        // '' is the common policies' api_id: asking for them is asking for it too.
        let (first, second) = match (api_id, with_common) {
            (Some(a), true) => ("", a),
            (Some(a), false) => (a, a),
            (None, _) => ("", ""),
        };
        let q = sql(
            self,
            "SELECT id, api_id, name, version, specification, created_at FROM am_operation_policy \
             WHERE api_id IN (?, ?) ORDER BY name, version, id",
            "SELECT id, api_id, name, version, specification, created_at FROM am_operation_policy \
             WHERE api_id IN ($1, $2) ORDER BY name, version, id",
        );
        per_backend!(self, |p| {
            let mut out = Vec::new();
            for r in sqlx::query(q).bind(first).bind(second).fetch_all(p).await? {
                out.push(record_from_row!(r, false));
            }
            Ok(out)
        })
    }

    async fn delete_operation_policy(&self, api_id: Option<&str>, id: &str) -> Result<bool, StoreError> {
        let q = sql(
            self,
            "DELETE FROM am_operation_policy WHERE api_id = ? AND id = ?",
            "DELETE FROM am_operation_policy WHERE api_id = $1 AND id = $2",
        );
        let api_id = api_id.unwrap_or("");
        per_backend!(self, |p| { Ok(sqlx::query(q).bind(api_id).bind(id).execute(p).await?.rows_affected() > 0) })
    }

    async fn copy_operation_policies(&self, to_api: &str, ids: &[(String, String)], now: i64) -> Result<(), StoreError> {
        let q = sql(
            self,
            "INSERT INTO am_operation_policy (id, api_id, name, version, specification, synapse_definition, cc_definition, created_at) \
             SELECT ?, ?, name, version, specification, synapse_definition, cc_definition, ? FROM am_operation_policy WHERE id = ?",
            "INSERT INTO am_operation_policy (id, api_id, name, version, specification, synapse_definition, cc_definition, created_at) \
             SELECT $1, $2, name, version, specification, synapse_definition, cc_definition, $3 FROM am_operation_policy WHERE id = $4",
        );
        per_backend!(self, |p| {
            let mut tx = p.begin_write().await?;
            for (from, to) in ids {
                sqlx::query(q)
                    .bind(to)
                    .bind(to_api)
                    .bind(now)
                    .bind(from)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| map_unique(e, || format!("an operation policy copied from `{from}`")))?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    async fn apis_holding(&self, text: &str) -> Result<Vec<(String, String, String, String)>, StoreError> {
        // A policy id is a UUID: no LIKE wildcard or escape in it, and the same bytes in every collation.
        if text.contains(['%', '_', '\\']) {
            return Err(StoreError::Invalid(format!("`{text}` cannot be searched for")));
        }
        let q = sql(
            self,
            "SELECT id, name, version, document FROM am_api WHERE document LIKE ? ORDER BY name, version",
            "SELECT id, name, version, document FROM am_api WHERE document LIKE $1 ORDER BY name, version",
        );
        let pattern = format!("%{text}%");
        per_backend!(self, |p| {
            let mut out = Vec::new();
            for r in sqlx::query(q).bind(&pattern).fetch_all(p).await? {
                out.push((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?));
            }
            Ok(out)
        })
    }
}
