//! Analytics rows from the gateways: per minute (`analytics_minute`), one per row key, holding the latest of the
//! cumulative values its gateway sent (a batch sent again changes nothing); and the control plane's rollups of them
//! per hour and per day (`analytics_hour`, `analytics_day`, same columns, `minute` the bucket's start), so a month
//! reads hundreds of rows where it would read tens of thousands. Read back by API, by application or for the whole
//! platform over a time range, deleted after the retention period.

use std::future::Future;

use sqlx::Row;

use crate::db::Db;
use crate::error::StoreError;
use crate::user::{BeginWrite, per_backend};

/// One stored row; the latency sketches are kept as the JSON text the control plane wrote.
#[derive(Clone, Debug, PartialEq)]
pub struct AnalyticsRecord {
    /// SHA-256 (hex) of the gateway node, its run and the row's key: what makes a row unique.
    pub row_key: String,
    pub minute: i64,
    pub node: String,
    pub api_id: String,
    pub api_name: String,
    pub api_version: String,
    pub resource: String,
    pub method: String,
    pub app_id: String,
    pub app_name: String,
    pub app_owner: String,
    pub key_type: String,
    pub status_class: i16,
    pub requests: i64,
    pub throttled: i64,
    /// Refused by a block condition.
    pub blocked: i64,
    pub gateway_errors: i64,
    pub latency: String,
    pub backend_latency: String,
}

/// The rows' time bucket, and so their table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Granularity {
    Minute,
    Hour,
    Day,
}

impl Granularity {
    pub fn seconds(self) -> i64 {
        match self {
            Granularity::Minute => 60,
            Granularity::Hour => 3600,
            Granularity::Day => 86_400,
        }
    }

    fn table(self) -> &'static str {
        match self {
            Granularity::Minute => "analytics_minute",
            Granularity::Hour => "analytics_hour",
            Granularity::Day => "analytics_day",
        }
    }
}

/// Which rows to read: minutes in `[from, to)` (Unix seconds), of one API or one application, or all.
#[derive(Clone, Debug)]
pub enum AnalyticsFilter {
    Api(String),
    Application(String),
    All,
}

pub trait AnalyticsStore: Send + Sync {
    /// Stores rows, each replacing the earlier value of its key (a minute's rows are cumulative; a rollup is
    /// computed again whole).
    fn add_analytics(&self, at: Granularity, rows: &[AnalyticsRecord]) -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// Rows whose bucket starts in `[from, to)`.
    fn analytics(
        &self,
        at: Granularity,
        filter: &AnalyticsFilter,
        from: i64,
        to: i64,
    ) -> impl Future<Output = Result<Vec<AnalyticsRecord>, StoreError>> + Send;
    /// The latest bucket start stored, if any.
    fn analytics_latest(&self, at: Granularity) -> impl Future<Output = Result<Option<i64>, StoreError>> + Send;
    /// Deletes rows of buckets before `before`; returns how many.
    fn prune_analytics(&self, at: Granularity, before: i64) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

const COLUMNS: &str = "row_key, minute, node, api_id, api_name, api_version, resource, method, app_id, app_name, app_owner, \
                       key_type, status_class, requests, throttled, gateway_errors, latency, backend_latency, blocked";

impl AnalyticsStore for Db {
    async fn add_analytics(&self, at: Granularity, rows: &[AnalyticsRecord]) -> Result<u64, StoreError> {
        let table = at.table();
        let q = match self {
            Db::Sqlite(_) => format!(
                "INSERT INTO {table} ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
                 ON CONFLICT (row_key) DO UPDATE SET requests = excluded.requests, throttled = excluded.throttled, blocked = excluded.blocked, \
                 gateway_errors = excluded.gateway_errors, latency = excluded.latency, backend_latency = excluded.backend_latency"
            ),
            Db::Postgres(_) => format!(
                "INSERT INTO {table} ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) \
                 ON CONFLICT (row_key) DO UPDATE SET requests = EXCLUDED.requests, throttled = EXCLUDED.throttled, blocked = EXCLUDED.blocked, \
                 gateway_errors = EXCLUDED.gateway_errors, latency = EXCLUDED.latency, backend_latency = EXCLUDED.backend_latency"
            ),
            Db::MySql(_) => format!(
                "INSERT INTO {table} ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
                 ON DUPLICATE KEY UPDATE requests = VALUES(requests), throttled = VALUES(throttled), blocked = VALUES(blocked), \
                 gateway_errors = VALUES(gateway_errors), latency = VALUES(latency), backend_latency = VALUES(backend_latency)"
            ),
        };
        per_backend!(self, |p| {
            let mut tx = p.begin_write().await?;
            let mut written = 0;
            for r in rows {
                written += sqlx::query(sqlx::AssertSqlSafe(q.as_str()))
                    .bind(&r.row_key)
                    .bind(r.minute)
                    .bind(&r.node)
                    .bind(&r.api_id)
                    .bind(&r.api_name)
                    .bind(&r.api_version)
                    .bind(&r.resource)
                    .bind(&r.method)
                    .bind(&r.app_id)
                    .bind(&r.app_name)
                    .bind(&r.app_owner)
                    .bind(&r.key_type)
                    .bind(r.status_class)
                    .bind(r.requests)
                    .bind(r.throttled)
                    .bind(r.gateway_errors)
                    .bind(&r.latency)
                    .bind(&r.backend_latency)
                    .bind(r.blocked)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            }
            tx.commit().await?;
            Ok(written)
        })
    }

    async fn analytics(&self, at: Granularity, filter: &AnalyticsFilter, from: i64, to: i64) -> Result<Vec<AnalyticsRecord>, StoreError> {
        let pg = matches!(self, Db::Postgres(_));
        let table = at.table();
        let (column, value) = match filter {
            AnalyticsFilter::Api(id) => (Some("api_id"), id.as_str()),
            AnalyticsFilter::Application(id) => (Some("app_id"), id.as_str()),
            AnalyticsFilter::All => (None, ""),
        };
        let q = match (column, pg) {
            (Some(c), false) => format!("SELECT {COLUMNS} FROM {table} WHERE {c} = ? AND minute >= ? AND minute < ?"),
            (Some(c), true) => format!("SELECT {COLUMNS} FROM {table} WHERE {c} = $1 AND minute >= $2 AND minute < $3"),
            (None, false) => format!("SELECT {COLUMNS} FROM {table} WHERE minute >= ? AND minute < ?"),
            (None, true) => format!("SELECT {COLUMNS} FROM {table} WHERE minute >= $1 AND minute < $2"),
        };
        per_backend!(self, |p| {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(q.as_str()));
            if column.is_some() {
                query = query.bind(value);
            }
            let mut out = Vec::new();
            for r in query.bind(from).bind(to).fetch_all(p).await? {
                out.push(AnalyticsRecord {
                    row_key: r.try_get(0)?,
                    minute: r.try_get(1)?,
                    node: r.try_get(2)?,
                    api_id: r.try_get(3)?,
                    api_name: r.try_get(4)?,
                    api_version: r.try_get(5)?,
                    resource: r.try_get(6)?,
                    method: r.try_get(7)?,
                    app_id: r.try_get(8)?,
                    app_name: r.try_get(9)?,
                    app_owner: r.try_get(10)?,
                    key_type: r.try_get(11)?,
                    status_class: r.try_get(12)?,
                    requests: r.try_get(13)?,
                    throttled: r.try_get(14)?,
                    gateway_errors: r.try_get(15)?,
                    latency: r.try_get(16)?,
                    backend_latency: r.try_get(17)?,
                    blocked: r.try_get(18)?,
                });
            }
            Ok(out)
        })
    }

    async fn analytics_latest(&self, at: Granularity) -> Result<Option<i64>, StoreError> {
        let q = format!("SELECT MAX(minute) FROM {}", at.table());
        per_backend!(self, |p| { Ok(sqlx::query(sqlx::AssertSqlSafe(q.as_str())).fetch_one(p).await?.try_get::<Option<i64>, _>(0)?) })
    }

    async fn prune_analytics(&self, at: Granularity, before: i64) -> Result<u64, StoreError> {
        let q = match self {
            Db::Postgres(_) => format!("DELETE FROM {} WHERE minute < $1", at.table()),
            _ => format!("DELETE FROM {} WHERE minute < ?", at.table()),
        };
        per_backend!(self, |p| { Ok(sqlx::query(sqlx::AssertSqlSafe(q.as_str())).bind(before).execute(p).await?.rows_affected()) })
    }
}
