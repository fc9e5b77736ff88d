//! Storage: one [`Db`] handle over SQLite, PostgreSQL or MariaDB/MySQL, the migrations of every dialect, and
//! the repository traits the roles use.
//!
//! **Architecture Invariant:** SQL is written per dialect (placeholders, upserts and DDL differ); there is no
//! `sqlx::Any`. Every role applies the same complete migration set, so roles can share a database.
//!
//! **API Boundary:** roles see repository traits ([`UserStore`], ...) implemented for [`Db`]; one conformance
//! suite (`tests/it`) runs against every backend.

#![forbid(unsafe_code)]

mod admin;
mod analytics;
mod api;
mod app;
mod auth;
mod certificate;
mod content;
mod db;
mod error;
mod import;
mod migrate;
mod notice;
mod oauth;
mod operation_policy;
mod search;
mod user;

pub use admin::AdminStore;
pub use analytics::{AnalyticsFilter, AnalyticsRecord, AnalyticsStore, Granularity};
pub use api::{ApiFilter, ApiStore};
pub use app::ApplicationStore;
pub use auth::UserAuth;
pub use certificate::{EndpointCertificateRecord, EndpointCertificateStore};
pub use content::{ContentStore, DocContent, DocRecord};
pub use db::{Db, connect};
pub use error::{ConnectCause, StoreError};
pub use import::{ApiImport, ImportStore};
pub use migrate::{PG_MIGRATION_LOCK, migrations_applied, mysql_migration_lock};
pub use notice::NoticeStore;
pub use oauth::{CodeRedemption, OAuthStore};
pub use operation_policy::{OperationPolicyRecord, OperationPolicyStore};
pub use search::{
    ApiIdentity, ApiSearch, ApiTerm, AppSearch, AppSortBy, Audience, DocumentHit, SearchStore, SortBy, SubSearch, SubscriptionRow,
};
pub use user::{NewUser, UserStore};
