//! Endpoint certificates uploaded to the Publisher: an alias, the backend endpoint it is for, and the PEM. Every
//! change writes its event in the same transaction: gateways trust these certificates for that endpoint's TLS.

use std::future::Future;

use apim_domain::api::EventDraft;
use sqlx::Row;

use crate::db::Db;
use crate::error::StoreError;
use crate::user::BeginWrite;
use crate::user::{map_unique, per_backend, sql, write_events};

/// An uploaded endpoint certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointCertificateRecord {
    pub alias: String,
    /// The backend URL it is for (gateways match its scheme, host and port).
    pub endpoint: String,
    /// The PEM as uploaded.
    pub certificate: String,
    pub created_at: i64,
}

pub trait EndpointCertificateStore: Send + Sync {
    /// `Conflict` when the alias is taken.
    fn create_endpoint_certificate(
        &self,
        c: &EndpointCertificateRecord,
        events: &[EventDraft],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Replaces the PEM; false when there is no such alias.
    fn update_endpoint_certificate(
        &self,
        alias: &str,
        certificate: &str,
        events: &[EventDraft],
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    fn delete_endpoint_certificate(&self, alias: &str, events: &[EventDraft]) -> impl Future<Output = Result<bool, StoreError>> + Send;
    fn endpoint_certificate(&self, alias: &str) -> impl Future<Output = Result<Option<EndpointCertificateRecord>, StoreError>> + Send;
    /// Every certificate with that alias and that endpoint (`None` matches all), by alias.
    fn endpoint_certificates(
        &self,
        alias: Option<&str>,
        endpoint: Option<&str>,
    ) -> impl Future<Output = Result<Vec<EndpointCertificateRecord>, StoreError>> + Send;
}

/// One statement and the events in a transaction; true when the statement touched a row.
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

/// The statement that adds a certificate (also in an import's transaction).
pub(crate) fn insert_sql(db: &Db) -> &'static str {
    sql(
        db,
        "INSERT INTO am_endpoint_certificate (alias, endpoint, certificate, created_at) VALUES (?, ?, ?, ?)",
        "INSERT INTO am_endpoint_certificate (alias, endpoint, certificate, created_at) VALUES ($1, $2, $3, $4)",
    )
}

impl EndpointCertificateStore for Db {
    async fn create_endpoint_certificate(&self, c: &EndpointCertificateRecord, events: &[EventDraft]) -> Result<(), StoreError> {
        let q = insert_sql(self);
        let made: Result<bool, StoreError> = async {
            exec_with_events!(self, q, [&c.alias, &c.endpoint, &c.certificate, c.created_at], events, || format!(
                "an endpoint certificate with the alias `{}`",
                c.alias
            ))
        }
        .await;
        made.map(drop)
    }

    async fn update_endpoint_certificate(&self, alias: &str, certificate: &str, events: &[EventDraft]) -> Result<bool, StoreError> {
        let q = sql(
            self,
            "UPDATE am_endpoint_certificate SET certificate = ? WHERE alias = ?",
            "UPDATE am_endpoint_certificate SET certificate = $1 WHERE alias = $2",
        );
        exec_with_events!(self, q, [certificate, alias], events, || format!("an endpoint certificate with the alias `{alias}`"))
    }

    async fn delete_endpoint_certificate(&self, alias: &str, events: &[EventDraft]) -> Result<bool, StoreError> {
        let q = sql(self, "DELETE FROM am_endpoint_certificate WHERE alias = ?", "DELETE FROM am_endpoint_certificate WHERE alias = $1");
        exec_with_events!(self, q, [alias], events, || format!("an endpoint certificate with the alias `{alias}`"))
    }

    async fn endpoint_certificate(&self, alias: &str) -> Result<Option<EndpointCertificateRecord>, StoreError> {
        Ok(self.endpoint_certificates(Some(alias), None).await?.into_iter().next())
    }

    async fn endpoint_certificates(
        &self,
        alias: Option<&str>,
        endpoint: Option<&str>,
    ) -> Result<Vec<EndpointCertificateRecord>, StoreError> {
        // A NULL parameter matches every row, so one statement serves each filter.
        let q = sql(
            self,
            "SELECT alias, endpoint, certificate, created_at FROM am_endpoint_certificate \
             WHERE (? IS NULL OR alias = ?) AND (? IS NULL OR endpoint = ?) ORDER BY alias",
            "SELECT alias, endpoint, certificate, created_at FROM am_endpoint_certificate \
             WHERE ($1::TEXT IS NULL OR alias = $1) AND ($2::TEXT IS NULL OR endpoint = $2) ORDER BY alias",
        );
        per_backend!(self, |p| {
            let query = sqlx::query(q);
            let query = if matches!(self, Db::Postgres(_)) {
                query.bind(alias).bind(endpoint)
            } else {
                query.bind(alias).bind(alias).bind(endpoint).bind(endpoint)
            };
            let mut out = Vec::new();
            for r in query.fetch_all(p).await? {
                out.push(EndpointCertificateRecord {
                    alias: r.try_get(0)?,
                    endpoint: r.try_get(1)?,
                    certificate: r.try_get(2)?,
                    created_at: r.try_get(3)?,
                });
            }
            Ok(out)
        })
    }
}
