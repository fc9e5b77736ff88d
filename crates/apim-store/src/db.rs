//! Connecting, classifying connection failures, and the entry to migrating (`migrate.rs`).

use std::net::SocketAddr;
use std::time::Duration;

use apim_config::{Database, DbKind, DbTarget, HostsFile};
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

use crate::error::{ConnectCause, StoreError};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A connected pool of one of the three supported databases.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
    MySql(MySqlPool),
}

/// Connects one configured pool. Host names go through `hosts` first, then DNS, so a failure says which.
pub async fn connect(db: &Database, hosts: &HostsFile) -> Result<Db, StoreError> {
    let fail = |cause: ConnectCause| StoreError::Connect { pool: db.pool.clone(), address: db.address(), cause };
    match (&db.target, db.kind) {
        (DbTarget::File(path), _) => {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)
                    .map_err(|e| fail(ConnectCause::Other(format!("cannot create directory {}: {e}", parent.display()))))?;
            }
            let opts = SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // WAL with NORMAL: a crash of the process loses nothing; only a power cut may lose the last commits.
                .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(5))
                .foreign_keys(true);
            // Switching a new file to WAL takes an exclusive lock, and SQLite answers "database is locked" at once
            // (without its busy handler) while another process does the same: nodes started together on one fresh
            // file try again for a little while.
            let mut tries = 0;
            let pool = loop {
                let opened = SqlitePoolOptions::new().max_connections(4).acquire_timeout(CONNECT_TIMEOUT).connect_with(opts.clone()).await;
                match opened {
                    Ok(pool) => break pool,
                    Err(e) if tries < 50 && is_locked(&e) => {
                        tries += 1;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Err(e) => return Err(fail(classify(&e))),
                }
            };
            Ok(Db::Sqlite(pool))
        }
        (DbTarget::Server { host, port, name }, kind) => {
            let addr = resolve(host, *port, hosts).await.map_err(fail)?;
            let ip = addr.ip().to_string();
            let user = db.username.clone().unwrap_or_else(|| "root".into());
            let password = db.password.as_ref().map(|p| p.expose().to_string()).unwrap_or_default();
            match kind {
                DbKind::MySql => {
                    let mut opts = MySqlConnectOptions::new().host(&ip).port(*port).username(&user).database(name);
                    if !password.is_empty() {
                        opts = opts.password(&password);
                    }
                    probe::<sqlx::MySqlConnection>(&opts).await.map_err(fail)?;
                    let pool = MySqlPoolOptions::new()
                        .max_connections(8)
                        .acquire_timeout(CONNECT_TIMEOUT)
                        .connect_with(opts)
                        .await
                        .map_err(|e| fail(classify(&e)))?;
                    Ok(Db::MySql(pool))
                }
                _ => {
                    let mut opts = PgConnectOptions::new().host(&ip).port(*port).username(&user).database(name);
                    if !password.is_empty() {
                        opts = opts.password(&password);
                    }
                    probe::<sqlx::PgConnection>(&opts).await.map_err(fail)?;
                    let pool = PgPoolOptions::new()
                        .max_connections(8)
                        .acquire_timeout(CONNECT_TIMEOUT)
                        .connect_with(opts)
                        .await
                        .map_err(|e| fail(classify(&e)))?;
                    Ok(Db::Postgres(pool))
                }
            }
        }
    }
}

/// One direct connection first: the pool would retry until its timeout and report only that, losing
/// whether the server refused, denied access or lacks the database.
async fn probe<C: sqlx::Connection>(opts: &C::Options) -> Result<(), ConnectCause> {
    match tokio::time::timeout(CONNECT_TIMEOUT, C::connect_with(opts)).await {
        Err(_) => Err(ConnectCause::TimedOut),
        Ok(Err(e)) => Err(classify(&e)),
        Ok(Ok(conn)) => {
            let _ = conn.close().await;
            Ok(())
        }
    }
}

async fn resolve(host: &str, port: u16, hosts: &HostsFile) -> Result<SocketAddr, ConnectCause> {
    if let Some(ip) = hosts.lookup(host) {
        return Ok(SocketAddr::new(ip, port));
    }
    if let Ok(ip) = host.parse() {
        return Ok(SocketAddr::new(ip, port));
    }
    match tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::lookup_host((host, port))).await {
        Err(_) => Err(ConnectCause::NameNotResolved("lookup timed out".into())),
        Ok(Err(e)) => Err(ConnectCause::NameNotResolved(e.to_string())),
        Ok(Ok(mut addrs)) => addrs.next().ok_or_else(|| ConnectCause::NameNotResolved("no address".into())),
    }
}

fn classify(e: &sqlx::Error) -> ConnectCause {
    match e {
        sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => ConnectCause::Refused,
        sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => ConnectCause::TimedOut,
        sqlx::Error::PoolTimedOut => ConnectCause::TimedOut,
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.to_string()).unwrap_or_default();
            match code.as_str() {
                // MySQL: 1045 bad password, 1044 no access to db; PostgreSQL: 28P01, 28000.
                "1045" | "1044" | "28000" | "28P01" => ConnectCause::AccessDenied(db.message().to_string()),
                "1049" | "3D000" => ConnectCause::UnknownDatabase(db.message().to_string()),
                _ => ConnectCause::Other(db.message().to_string()),
            }
        }
        other => {
            // sqlx wraps some refusals in other variants; look at the text as a last resort.
            let text = other.to_string();
            if text.contains("Connection refused") { ConnectCause::Refused } else { ConnectCause::Other(text) }
        }
    }
}

impl Db {
    pub fn kind(&self) -> DbKind {
        match self {
            Db::Sqlite(_) => DbKind::Sqlite,
            Db::Postgres(_) => DbKind::Postgres,
            Db::MySql(_) => DbKind::MySql,
        }
    }

    /// Applies every migration of this dialect. Safe to run from several nodes at once, and again after a node
    /// died halfway through: see `migrate.rs` for the lock each database takes and how MariaDB recovers.
    pub async fn migrate(&self, pool_name: &str) -> Result<(), StoreError> {
        match self {
            Db::Sqlite(p) => crate::migrate::sqlite(p, pool_name).await,
            Db::Postgres(p) => crate::migrate::postgres(p, pool_name).await,
            Db::MySql(p) => crate::migrate::mysql(p, pool_name).await,
        }
    }

    /// A cheap round trip, for readiness.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Db::Sqlite(p) => sqlx::query("SELECT 1").execute(p).await.map(drop)?,
            Db::Postgres(p) => sqlx::query("SELECT 1").execute(p).await.map(drop)?,
            Db::MySql(p) => sqlx::query("SELECT 1").execute(p).await.map(drop)?,
        }
        Ok(())
    }

    pub async fn close(&self) {
        match self {
            Db::Sqlite(p) => p.close().await,
            Db::Postgres(p) => p.close().await,
            Db::MySql(p) => p.close().await,
        }
    }
}

/// SQLITE_BUSY (5) or SQLITE_LOCKED (6), by code or, where a driver gives none, by SQLite's message.
fn is_locked(e: &sqlx::Error) -> bool {
    e.as_database_error().and_then(|d| d.code()).is_some_and(|c| c == "5" || c == "6") || e.to_string().contains("database is locked")
}
