//! The control plane's APIs, lifecycle history, revisions, deployments, policies and event log. Every
//! mutation writes its events in the same transaction (an outbox): a failed change leaves no event.

use std::future::Future;

use apim_domain::api::{ApiRecord, ApiStatus, Deployment, Event, EventDraft, LifecycleEntry, Revision};
use sqlx::Row;

use crate::db::Db;
use crate::error::StoreError;
use crate::search::write_labels;
use crate::user::BeginWrite;
use crate::user::{map_unique, per_backend, sql, write_events};

/// Filter for listing APIs; `None` matches all.
#[derive(Clone, Debug, Default)]
pub struct ApiFilter {
    pub name: Option<String>,
    pub status: Vec<ApiStatus>,
    pub provider: Option<String>,
    pub context: Option<String>,
    pub version: Option<String>,
}

pub trait ApiStore: Send + Sync {
    /// `Conflict` when the name and version, or the context and version, are taken, when another API's name differs
    /// from this one's only in case, or when an API of another name uses the context (as WSO2 decides).
    fn create_api(&self, api: &ApiRecord, events: &[EventDraft]) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Replaces the API's document and columns; `Conflict` on name/context clashes, `NotFound` if absent.
    fn update_api(&self, api: &ApiRecord, events: &[EventDraft]) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// [`ApiStore::update_api`] only if the stored row is still `prior` (state, document and update time):
    /// false when another change came first, so an editor holding an old copy cannot overwrite it.
    fn update_api_if(
        &self,
        api: &ApiRecord,
        prior: &ApiRecord,
        events: &[EventDraft],
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Deletes the API with its revisions, deployments and history.
    fn delete_api(&self, id: &str, events: &[EventDraft]) -> impl Future<Output = Result<bool, StoreError>> + Send;
    fn get_api(&self, id: &str) -> impl Future<Output = Result<Option<ApiRecord>, StoreError>> + Send;
    /// APIs matching `filter`, by name then version, with the total count.
    fn list_apis(
        &self,
        filter: &ApiFilter,
        limit: i64,
        offset: i64,
    ) -> impl Future<Output = Result<(Vec<ApiRecord>, i64), StoreError>> + Send;
    /// Moves the API from `from` to `to` if it is still in `from` (compare-and-set), records history, writes
    /// the new document. False when the state changed meanwhile.
    fn change_status(
        &self,
        api: &ApiRecord,
        from: &ApiStatus,
        entry: &LifecycleEntry,
        events: &[EventDraft],
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    fn lifecycle_history(&self, api_id: &str) -> impl Future<Output = Result<Vec<LifecycleEntry>, StoreError>> + Send;

    /// Adds a revision numbered after the highest so far; `Conflict` when the API already has `max`.
    fn create_revision(&self, rev: &Revision, max: i64) -> impl Future<Output = Result<Revision, StoreError>> + Send;
    fn list_revisions(&self, api_id: &str) -> impl Future<Output = Result<Vec<Revision>, StoreError>> + Send;
    fn get_revision(&self, api_id: &str, revision_id: &str) -> impl Future<Output = Result<Option<Revision>, StoreError>> + Send;
    /// A revision by its id alone (WSO2 answers `GET /apis/{revisionId}` with the API as in that revision).
    fn revision_by_id(&self, revision_id: &str) -> impl Future<Output = Result<Option<Revision>, StoreError>> + Send;
    /// `Conflict` while the revision is deployed.
    fn delete_revision(&self, api_id: &str, revision_id: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Points each environment at the revision (replacing what it served).
    fn deploy(&self, deployments: &[Deployment], events: &[EventDraft]) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Removes the API from the environments; returns those it was deployed to.
    fn undeploy(
        &self,
        api_id: &str,
        environments: &[String],
        events: &[EventDraft],
    ) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;
    fn deployments(&self, api_id: &str) -> impl Future<Output = Result<Vec<Deployment>, StoreError>> + Send;

    /// `(name, document)` of the policies of a level (`subscription`, `application`, `api`).
    fn policies(&self, level: &str) -> impl Future<Output = Result<Vec<(String, String)>, StoreError>> + Send;
    /// Events after `seq`, in order, at most `limit`.
    fn events_after(&self, seq: i64, limit: i64) -> impl Future<Output = Result<Vec<Event>, StoreError>> + Send;
    /// The newest event's sequence number (0 when the log is empty).
    fn last_event_seq(&self) -> impl Future<Output = Result<i64, StoreError>> + Send;
    /// The oldest retained event's sequence number (0 when the log is empty).
    fn first_event_seq(&self) -> impl Future<Output = Result<i64, StoreError>> + Send;
    /// Deletes events created before `created_before` (Unix seconds) whose sequence number is at most
    /// `max_seq`; returns how many went.
    fn prune_events(&self, created_before: i64, max_seq: i64) -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// Every deployment with the API's lifecycle state and the deployed revision's document: what gateways serve.
    fn deployed_revisions(&self) -> impl Future<Output = Result<Vec<(Deployment, ApiStatus, String)>, StoreError>> + Send;
    /// [`ApiStore::deployed_revisions`] of one API.
    fn deployed_revisions_of(&self, api_id: &str) -> impl Future<Output = Result<Vec<(Deployment, ApiStatus, String)>, StoreError>> + Send;
}

const API_COLUMNS: &str = "id, name, version, context, provider, status, api_type, document, created_at, updated_at";

macro_rules! api_from_row {
    ($r:expr) => {{
        let r = $r;
        ApiRecord {
            id: r.try_get(0)?,
            name: r.try_get(1)?,
            version: r.try_get(2)?,
            context: r.try_get(3)?,
            provider: r.try_get(4)?,
            status: r.try_get::<String, _>(5)?.into(),
            api_type: r.try_get(6)?,
            document: r.try_get(7)?,
            created_at: r.try_get(8)?,
            updated_at: r.try_get(9)?,
        }
    }};
}

pub(crate) fn conflict_name(e: sqlx::Error, api: &ApiRecord) -> StoreError {
    map_unique(e, || format!("an API with name `{}` or context `{}` and version `{}`", api.name, api.context, api.version))
}

/// How a new API is added, in the caller's transaction (`insert_new_api!`): `create_api` and an import alike.
pub(crate) struct NewApiSql {
    pub insert: &'static str,
    pub lock: Option<&'static str>,
    pub check: &'static str,
}

pub(crate) fn new_api_sql(db: &Db) -> NewApiSql {
    let insert = sql(
        db,
        "INSERT INTO am_api (id, name, version, context, provider, status, api_type, document, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        "INSERT INTO am_api (id, name, version, context, provider, status, api_type, document, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    );
    // A context belongs to one API name (any version of it), and names are unique without regard to case. The
    // check and the insert are one step for creations racing each other: SQLite's write transaction is
    // exclusive, PostgreSQL waits on a transaction-scoped advisory lock, MariaDB on the row lock of the
    // migration that made am_api (a row that always exists; a record lock is held to commit at any isolation
    // level, where locking what the check reads would not be under READ COMMITTED). MariaDB's default
    // collation ignores case, hence BINARY for "another name".
    let (lock, check) = match db {
        Db::Sqlite(_) => (None, "SELECT name, context FROM am_api WHERE (LOWER(name) = ? OR LOWER(context) = ?) AND name <> ? LIMIT 1"),
        Db::Postgres(_) => (
            Some("SELECT pg_advisory_xact_lock(7217017)"),
            "SELECT name, context FROM am_api WHERE (LOWER(name) = $1 OR LOWER(context) = $2) AND name <> $3 LIMIT 1",
        ),
        Db::MySql(_) => (
            Some("SELECT version FROM apim_schema_migrations WHERE version = 3 FOR UPDATE"),
            "SELECT name, context FROM am_api WHERE (LOWER(name) = ? OR LOWER(context) = ?) AND BINARY name <> BINARY ?",
        ),
    };
    NewApiSql { insert, lock, check }
}

/// Inserts API `$api` in transaction `$tx` with the statements of [`new_api_sql`]: the lock, then a 409 naming the
/// API whose name or context the new one would take, then the row.
macro_rules! insert_new_api {
    ($tx:ident, $sql:expr, $api:expr) => {{
        if let Some(lock) = $sql.lock {
            sqlx::query(lock).execute(&mut *$tx).await?;
        }
        let clash = sqlx::query($sql.check)
            .bind($api.name.to_lowercase())
            .bind($api.context.to_lowercase())
            .bind(&$api.name)
            .fetch_all(&mut *$tx)
            .await?;
        if let Some(r) = clash.first() {
            let (name, context): (String, String) = (r.try_get(0)?, r.try_get(1)?);
            let what = if name.eq_ignore_ascii_case(&$api.name) {
                format!("an API named `{name}`")
            } else {
                format!("context `{context}` (API `{name}`)")
            };
            return Err(StoreError::Conflict { what });
        }
        sqlx::query($sql.insert)
            .bind(&$api.id)
            .bind(&$api.name)
            .bind(&$api.version)
            .bind(&$api.context)
            .bind(&$api.provider)
            .bind($api.status.as_str())
            .bind(&$api.api_type)
            .bind(&$api.document)
            .bind($api.created_at)
            .bind($api.updated_at)
            .execute(&mut *$tx)
            .await
            .map_err(|e| $crate::api::conflict_name(e, $api))?;
    }};
}
pub(crate) use insert_new_api;

impl ApiStore for Db {
    async fn create_api(&self, api: &ApiRecord, events: &[EventDraft]) -> Result<(), StoreError> {
        let new = new_api_sql(self);
        per_backend!(self, |p| {
            let mut tx = p.begin_write().await?;
            insert_new_api!(tx, new, api);
            write_labels!(tx, self, &api.id);
            write_events!(tx, self, events);
            tx.commit().await?;
        });
        Ok(())
    }

    async fn update_api(&self, api: &ApiRecord, events: &[EventDraft]) -> Result<(), StoreError> {
        let q = sql(
            self,
            "UPDATE am_api SET name = ?, version = ?, context = ?, provider = ?, status = ?, api_type = ?, document = ?, updated_at = ? WHERE id = ?",
            "UPDATE am_api SET name = $1, version = $2, context = $3, provider = $4, status = $5, api_type = $6, document = $7, updated_at = $8 WHERE id = $9",
        );
        per_backend!(self, |p| {
            let mut tx = p.begin_write().await?;
            let n = sqlx::query(q)
                .bind(&api.name)
                .bind(&api.version)
                .bind(&api.context)
                .bind(&api.provider)
                .bind(api.status.as_str())
                .bind(&api.api_type)
                .bind(&api.document)
                .bind(api.updated_at)
                .bind(&api.id)
                .execute(&mut *tx)
                .await
                .map_err(|e| conflict_name(e, api))?
                .rows_affected();
            if n == 0 {
                return Err(StoreError::NotFound { what: format!("API {}", api.id) });
            }
            write_labels!(tx, self, &api.id);
            write_events!(tx, self, events);
            tx.commit().await?;
        });
        Ok(())
    }

    async fn update_api_if(&self, api: &ApiRecord, prior: &ApiRecord, events: &[EventDraft]) -> Result<bool, StoreError> {
        let q = sql(
            self,
            "UPDATE am_api SET name = ?, version = ?, context = ?, provider = ?, status = ?, api_type = ?, document = ?, updated_at = ? \
             WHERE id = ? AND status = ? AND document = ? AND updated_at = ?",
            "UPDATE am_api SET name = $1, version = $2, context = $3, provider = $4, status = $5, api_type = $6, document = $7, updated_at = $8 \
             WHERE id = $9 AND status = $10 AND document = $11 AND updated_at = $12",
        );
        per_backend!(self, |p| {
            let mut tx = p.begin_write().await?;
            let n = sqlx::query(q)
                .bind(&api.name)
                .bind(&api.version)
                .bind(&api.context)
                .bind(&api.provider)
                .bind(api.status.as_str())
                .bind(&api.api_type)
                .bind(&api.document)
                .bind(api.updated_at)
                .bind(&api.id)
                .bind(prior.status.as_str())
                .bind(&prior.document)
                .bind(prior.updated_at)
                .execute(&mut *tx)
                .await
                .map_err(|e| conflict_name(e, api))?
                .rows_affected();
            if n == 0 {
                return Ok(false);
            }
            write_labels!(tx, self, &api.id);
            write_events!(tx, self, events);
            tx.commit().await?;
            Ok(true)
        })
    }

    async fn delete_api(&self, id: &str, events: &[EventDraft]) -> Result<bool, StoreError> {
        // The API's own row last: whether it existed is what the last statement says.
        let stmts: [&str; 8] = if matches!(self, Db::Postgres(_)) {
            [
                "DELETE FROM am_api_doc WHERE api_id = $1",
                "DELETE FROM am_operation_policy WHERE api_id = $1",
                "DELETE FROM am_api_thumbnail WHERE api_id = $1",
                "DELETE FROM am_api_label WHERE api_id = $1",
                "DELETE FROM am_deployment WHERE api_id = $1",
                "DELETE FROM am_revision WHERE api_id = $1",
                "DELETE FROM am_api_lc_event WHERE api_id = $1",
                "DELETE FROM am_api WHERE id = $1",
            ]
        } else {
            [
                "DELETE FROM am_api_doc WHERE api_id = ?",
                "DELETE FROM am_operation_policy WHERE api_id = ?",
                "DELETE FROM am_api_thumbnail WHERE api_id = ?",
                "DELETE FROM am_api_label WHERE api_id = ?",
                "DELETE FROM am_deployment WHERE api_id = ?",
                "DELETE FROM am_revision WHERE api_id = ?",
                "DELETE FROM am_api_lc_event WHERE api_id = ?",
                "DELETE FROM am_api WHERE id = ?",
            ]
        };
        per_backend!(self, |p| {
            let mut tx = p.begin_write().await?;
            let mut n = 0;
            for s in stmts.iter().filter(|s| !s.is_empty()) {
                n = sqlx::query(*s).bind(id).execute(&mut *tx).await?.rows_affected();
            }
            if n == 0 {
                return Ok(false);
            }
            write_events!(tx, self, events);
            tx.commit().await?;
            Ok(true)
        })
    }

    async fn get_api(&self, id: &str) -> Result<Option<ApiRecord>, StoreError> {
        let q = sql(
            self,
            "SELECT id, name, version, context, provider, status, api_type, document, created_at, updated_at FROM am_api WHERE id = ?",
            "SELECT id, name, version, context, provider, status, api_type, document, created_at, updated_at FROM am_api WHERE id = $1",
        );
        per_backend!(self, |p| {
            match sqlx::query(q).bind(id).fetch_optional(p).await? {
                Some(r) => Ok(Some(api_from_row!(r))),
                None => Ok(None),
            }
        })
    }

    async fn list_apis(&self, filter: &ApiFilter, limit: i64, offset: i64) -> Result<(Vec<ApiRecord>, i64), StoreError> {
        let pg = matches!(self, Db::Postgres(_));
        let mut n = 0;
        let mut ph = || {
            n += 1;
            if pg { format!("${n}") } else { "?".to_string() }
        };
        let mut clauses: Vec<String> = Vec::new();
        let mut binds: Vec<String> = Vec::new();
        // Name and context match case-insensitively as substrings, as WSO2's search does.
        if let Some(v) = &filter.name {
            clauses.push(format!("LOWER(name) LIKE {}", ph()));
            binds.push(format!("%{}%", v.to_lowercase()));
        }
        if let Some(v) = &filter.context {
            clauses.push(format!("LOWER(context) LIKE {}", ph()));
            binds.push(format!("%{}%", v.to_lowercase()));
        }
        if let Some(v) = &filter.provider {
            clauses.push(format!("provider = {}", ph()));
            binds.push(v.clone());
        }
        if let Some(v) = &filter.version {
            clauses.push(format!("version = {}", ph()));
            binds.push(v.clone());
        }
        if !filter.status.is_empty() {
            let list: Vec<String> = filter.status.iter().map(|_| ph()).collect();
            clauses.push(format!("status IN ({})", list.join(", ")));
            binds.extend(filter.status.iter().map(|s| s.as_str().to_string()));
        }
        let where_ = if clauses.is_empty() { String::new() } else { format!(" WHERE {}", clauses.join(" AND ")) };
        let count_sql = format!("SELECT COUNT(*) FROM am_api{where_}");
        let page_sql =
            format!("SELECT {API_COLUMNS} FROM am_api{where_} ORDER BY name, version LIMIT {} OFFSET {}", limit.max(0), offset.max(0));
        per_backend!(self, |p| {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(count_sql.clone()));
            for b in &binds {
                q = q.bind(b.clone());
            }
            let total: i64 = q.fetch_one(p).await?.try_get(0)?;
            let mut q = sqlx::query(sqlx::AssertSqlSafe(page_sql.clone()));
            for b in &binds {
                q = q.bind(b.clone());
            }
            let mut out = Vec::new();
            for r in q.fetch_all(p).await? {
                out.push(api_from_row!(r));
            }
            Ok((out, total))
        })
    }

    async fn change_status(
        &self,
        api: &ApiRecord,
        from: &ApiStatus,
        entry: &LifecycleEntry,
        events: &[EventDraft],
    ) -> Result<bool, StoreError> {
        let upd = sql(
            self,
            "UPDATE am_api SET status = ?, document = ?, updated_at = ? WHERE id = ? AND status = ?",
            "UPDATE am_api SET status = $1, document = $2, updated_at = $3 WHERE id = $4 AND status = $5",
        );
        let hist = sql(
            self,
            "INSERT INTO am_api_lc_event (api_id, previous_state, new_state, username, event_time) VALUES (?, ?, ?, ?, ?)",
            "INSERT INTO am_api_lc_event (api_id, previous_state, new_state, username, event_time) VALUES ($1, $2, $3, $4, $5)",
        );
        per_backend!(self, |p| {
            let mut tx = p.begin_write().await?;
            let n = sqlx::query(upd)
                .bind(api.status.as_str())
                .bind(&api.document)
                .bind(api.updated_at)
                .bind(&api.id)
                .bind(from.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 0 {
                return Ok(false);
            }
            sqlx::query(hist)
                .bind(&api.id)
                .bind(&entry.previous_state)
                .bind(&entry.new_state)
                .bind(&entry.username)
                .bind(entry.time)
                .execute(&mut *tx)
                .await?;
            write_events!(tx, self, events);
            tx.commit().await?;
            Ok(true)
        })
    }

    async fn lifecycle_history(&self, api_id: &str) -> Result<Vec<LifecycleEntry>, StoreError> {
        let q = sql(
            self,
            "SELECT previous_state, new_state, username, event_time FROM am_api_lc_event WHERE api_id = ? ORDER BY id",
            "SELECT previous_state, new_state, username, event_time FROM am_api_lc_event WHERE api_id = $1 ORDER BY id",
        );
        per_backend!(self, |p| {
            let mut out = Vec::new();
            for r in sqlx::query(q).bind(api_id).fetch_all(p).await? {
                out.push(LifecycleEntry {
                    previous_state: r.try_get(0)?,
                    new_state: r.try_get(1)?,
                    username: r.try_get(2)?,
                    time: r.try_get(3)?,
                });
            }
            Ok(out)
        })
    }

    async fn create_revision(&self, rev: &Revision, max: i64) -> Result<Revision, StoreError> {
        let count = sql(
            self,
            "SELECT COUNT(*), COALESCE(MAX(number), 0) FROM am_revision WHERE api_id = ?",
            "SELECT COUNT(*), COALESCE(MAX(number), 0) FROM am_revision WHERE api_id = $1",
        );
        let ins = sql(
            self,
            "INSERT INTO am_revision (id, api_id, number, description, document, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            "INSERT INTO am_revision (id, api_id, number, description, document, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        );
        per_backend!(self, |p| {
            let mut tx = p.begin_write().await?;
            let row = sqlx::query(count).bind(&rev.api_id).fetch_one(&mut *tx).await?;
            let (n, highest): (i64, i64) =
                (row.try_get(0)?, row.try_get::<i64, _>(1).or_else(|_| row.try_get::<i32, _>(1).map(i64::from))?);
            if n >= max {
                return Err(StoreError::Conflict {
                    what: format!("the maximum of {max} revisions for this API (delete one first); a revision"),
                });
            }
            let mut out = rev.clone();
            out.number = highest + 1;
            // Two nodes racing for the same number: the unique key turns the loser into a conflict.
            sqlx::query(ins)
                .bind(&out.id)
                .bind(&out.api_id)
                .bind(out.number)
                .bind(&out.description)
                .bind(&out.document)
                .bind(out.created_at)
                .execute(&mut *tx)
                .await
                .map_err(|e| map_unique(e, || "a revision with this number".to_string()))?;
            tx.commit().await?;
            Ok(out)
        })
    }

    async fn list_revisions(&self, api_id: &str) -> Result<Vec<Revision>, StoreError> {
        let q = sql(
            self,
            "SELECT id, api_id, number, description, document, created_at FROM am_revision WHERE api_id = ? ORDER BY number",
            "SELECT id, api_id, number, description, document, created_at FROM am_revision WHERE api_id = $1 ORDER BY number",
        );
        per_backend!(self, |p| {
            let mut out = Vec::new();
            for r in sqlx::query(q).bind(api_id).fetch_all(p).await? {
                out.push(revision_from(&r)?);
            }
            Ok(out)
        })
    }

    async fn get_revision(&self, api_id: &str, revision_id: &str) -> Result<Option<Revision>, StoreError> {
        Ok(self.list_revisions(api_id).await?.into_iter().find(|r| r.id == revision_id))
    }

    async fn revision_by_id(&self, revision_id: &str) -> Result<Option<Revision>, StoreError> {
        let q = sql(
            self,
            "SELECT id, api_id, number, description, document, created_at FROM am_revision WHERE id = ?",
            "SELECT id, api_id, number, description, document, created_at FROM am_revision WHERE id = $1",
        );
        per_backend!(self, |p| {
            match sqlx::query(q).bind(revision_id).fetch_optional(p).await? {
                Some(r) => Ok(Some(revision_from(&r)?)),
                None => Ok(None),
            }
        })
    }

    async fn delete_revision(&self, api_id: &str, revision_id: &str) -> Result<bool, StoreError> {
        let deployed = sql(
            self,
            "SELECT COUNT(*) FROM am_deployment WHERE api_id = ? AND revision_id = ?",
            "SELECT COUNT(*) FROM am_deployment WHERE api_id = $1 AND revision_id = $2",
        );
        let del = sql(self, "DELETE FROM am_revision WHERE api_id = ? AND id = ?", "DELETE FROM am_revision WHERE api_id = $1 AND id = $2");
        per_backend!(self, |p| {
            let mut tx = p.begin_write().await?;
            let n: i64 = sqlx::query(deployed).bind(api_id).bind(revision_id).fetch_one(&mut *tx).await?.try_get(0)?;
            if n > 0 {
                return Err(StoreError::Conflict { what: "a deployment of this revision (undeploy it first); the revision".to_string() });
            }
            let gone = sqlx::query(del).bind(api_id).bind(revision_id).execute(&mut *tx).await?.rows_affected() > 0;
            tx.commit().await?;
            Ok(gone)
        })
    }

    async fn deploy(&self, deployments: &[Deployment], events: &[EventDraft]) -> Result<(), StoreError> {
        let del = sql(
            self,
            "DELETE FROM am_deployment WHERE api_id = ? AND environment = ?",
            "DELETE FROM am_deployment WHERE api_id = $1 AND environment = $2",
        );
        let ins = sql(
            self,
            "INSERT INTO am_deployment (api_id, environment, revision_id, vhost, display_on_devportal, deployed_at) VALUES (?, ?, ?, ?, ?, ?)",
            "INSERT INTO am_deployment (api_id, environment, revision_id, vhost, display_on_devportal, deployed_at) VALUES ($1, $2, $3, $4, $5, $6)",
        );
        per_backend!(self, |p| {
            let mut tx = p.begin_write().await?;
            for d in deployments {
                sqlx::query(del).bind(&d.api_id).bind(&d.environment).execute(&mut *tx).await?;
                sqlx::query(ins)
                    .bind(&d.api_id)
                    .bind(&d.environment)
                    .bind(&d.revision_id)
                    .bind(&d.vhost)
                    .bind(i32::from(d.display_on_devportal))
                    .bind(d.deployed_at)
                    .execute(&mut *tx)
                    .await?;
            }
            write_events!(tx, self, events);
            tx.commit().await?;
        });
        Ok(())
    }

    async fn undeploy(&self, api_id: &str, environments: &[String], events: &[EventDraft]) -> Result<Vec<String>, StoreError> {
        let del = sql(
            self,
            "DELETE FROM am_deployment WHERE api_id = ? AND environment = ?",
            "DELETE FROM am_deployment WHERE api_id = $1 AND environment = $2",
        );
        per_backend!(self, |p| {
            let mut tx = p.begin_write().await?;
            let mut removed = Vec::new();
            for env in environments {
                if sqlx::query(del).bind(api_id).bind(env).execute(&mut *tx).await?.rows_affected() > 0 {
                    removed.push(env.clone());
                }
            }
            if !removed.is_empty() {
                write_events!(tx, self, events);
            }
            tx.commit().await?;
            Ok(removed)
        })
    }

    async fn deployments(&self, api_id: &str) -> Result<Vec<Deployment>, StoreError> {
        let q = sql(
            self,
            "SELECT api_id, environment, revision_id, vhost, display_on_devportal, deployed_at FROM am_deployment WHERE api_id = ? ORDER BY environment",
            "SELECT api_id, environment, revision_id, vhost, display_on_devportal, deployed_at FROM am_deployment WHERE api_id = $1 ORDER BY environment",
        );
        per_backend!(self, |p| {
            let mut out = Vec::new();
            for r in sqlx::query(q).bind(api_id).fetch_all(p).await? {
                out.push(deployment_from(&r)?);
            }
            Ok(out)
        })
    }

    async fn policies(&self, level: &str) -> Result<Vec<(String, String)>, StoreError> {
        let q = sql(
            self,
            "SELECT name, document FROM am_throttle_policy WHERE level = ? ORDER BY name",
            "SELECT name, document FROM am_throttle_policy WHERE level = $1 ORDER BY name",
        );
        per_backend!(self, |p| {
            let mut out = Vec::new();
            for r in sqlx::query(q).bind(level).fetch_all(p).await? {
                out.push((r.try_get(0)?, r.try_get(1)?));
            }
            Ok(out)
        })
    }

    async fn last_event_seq(&self) -> Result<i64, StoreError> {
        self.last_event_seq_impl().await
    }

    async fn first_event_seq(&self) -> Result<i64, StoreError> {
        let q = "SELECT COALESCE(MIN(seq), 0) FROM am_event";
        per_backend!(self, |p| {
            let r = sqlx::query(q).fetch_one(p).await?;
            Ok(r.try_get::<i64, _>(0).or_else(|_| r.try_get::<i32, _>(0).map(i64::from))?)
        })
    }

    async fn prune_events(&self, created_before: i64, max_seq: i64) -> Result<u64, StoreError> {
        let q =
            sql(self, "DELETE FROM am_event WHERE created_at < ? AND seq <= ?", "DELETE FROM am_event WHERE created_at < $1 AND seq <= $2");
        per_backend!(self, |p| { Ok(sqlx::query(q).bind(created_before).bind(max_seq).execute(p).await?.rows_affected()) })
    }

    async fn deployed_revisions(&self) -> Result<Vec<(Deployment, ApiStatus, String)>, StoreError> {
        let q = "SELECT d.api_id, d.environment, d.revision_id, d.vhost, d.display_on_devportal, d.deployed_at, a.status, r.document \
                 FROM am_deployment d JOIN am_api a ON a.id = d.api_id JOIN am_revision r ON r.id = d.revision_id ORDER BY d.api_id, d.environment";
        per_backend!(self, |p| {
            let mut out = Vec::new();
            for r in sqlx::query(q).fetch_all(p).await? {
                out.push((deployment_from(&r)?, r.try_get::<String, _>(6)?.into(), r.try_get(7)?));
            }
            Ok(out)
        })
    }

    async fn deployed_revisions_of(&self, api_id: &str) -> Result<Vec<(Deployment, ApiStatus, String)>, StoreError> {
        let q = sql(
            self,
            "SELECT d.api_id, d.environment, d.revision_id, d.vhost, d.display_on_devportal, d.deployed_at, a.status, r.document \
             FROM am_deployment d JOIN am_api a ON a.id = d.api_id JOIN am_revision r ON r.id = d.revision_id WHERE d.api_id = ? ORDER BY d.environment",
            "SELECT d.api_id, d.environment, d.revision_id, d.vhost, d.display_on_devportal, d.deployed_at, a.status, r.document \
             FROM am_deployment d JOIN am_api a ON a.id = d.api_id JOIN am_revision r ON r.id = d.revision_id WHERE d.api_id = $1 ORDER BY d.environment",
        );
        per_backend!(self, |p| {
            let mut out = Vec::new();
            for r in sqlx::query(q).bind(api_id).fetch_all(p).await? {
                out.push((deployment_from(&r)?, r.try_get::<String, _>(6)?.into(), r.try_get(7)?));
            }
            Ok(out)
        })
    }

    async fn events_after(&self, seq: i64, limit: i64) -> Result<Vec<Event>, StoreError> {
        let q = sql(
            self,
            "SELECT seq, event_type, payload, created_at FROM am_event WHERE seq > ? ORDER BY seq LIMIT ?",
            "SELECT seq, event_type, payload, created_at FROM am_event WHERE seq > $1 ORDER BY seq LIMIT $2",
        );
        per_backend!(self, |p| {
            let mut out = Vec::new();
            for r in sqlx::query(q).bind(seq).bind(limit).fetch_all(p).await? {
                out.push(Event { seq: r.try_get(0)?, event_type: r.try_get(1)?, payload: r.try_get(2)?, created_at: r.try_get(3)? });
            }
            Ok(out)
        })
    }
}

impl Db {
    async fn last_event_seq_impl(&self) -> Result<i64, StoreError> {
        let q = "SELECT COALESCE(MAX(seq), 0) FROM am_event";
        per_backend!(self, |p| {
            let r = sqlx::query(q).fetch_one(p).await?;
            Ok(r.try_get::<i64, _>(0).or_else(|_| r.try_get::<i32, _>(0).map(i64::from))?)
        })
    }
}

/// A deployment from the first six columns: api_id, environment, revision_id, vhost, display_on_devportal,
/// deployed_at.
fn deployment_from<R: Row>(r: &R) -> Result<Deployment, sqlx::Error>
where
    usize: sqlx::ColumnIndex<R>,
    String: for<'a> sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    i64: for<'a> sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    i32: for<'a> sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let shown: i32 = r.try_get(4)?;
    Ok(Deployment {
        api_id: r.try_get(0)?,
        environment: r.try_get(1)?,
        revision_id: r.try_get(2)?,
        vhost: r.try_get(3)?,
        display_on_devportal: shown != 0,
        deployed_at: r.try_get(5)?,
    })
}

fn revision_from<R: Row>(r: &R) -> Result<Revision, sqlx::Error>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    usize: sqlx::ColumnIndex<R>,
    String: for<'a> sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    i64: for<'a> sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    i32: for<'a> sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let number: i64 = r.try_get::<i64, _>(2).or_else(|_| r.try_get::<i32, _>(2).map(i64::from))?;
    Ok(Revision {
        id: r.try_get(0)?,
        api_id: r.try_get(1)?,
        number,
        description: r.try_get(3)?,
        document: r.try_get(4)?,
        created_at: r.try_get(5)?,
    })
}
