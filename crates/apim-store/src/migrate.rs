//! Applying the migrations: one node at a time, and again after a crash cut one short.
//!
//! sqlx's own migration lock is switched off (`Migrator { locking: false, .. }`) because on MariaDB it does
//! nothing: sqlx calls `GET_LOCK(name, -1)`, which MariaDB refuses (warning 1411, result NULL), so nodes started
//! together ran the same migrations at once and failed on each other's half-done work. Instead every dialect takes
//! a lock of ours on one connection of its own, runs sqlx's migrator on that same connection, and lets go:
//!
//! - MariaDB/MySQL: `GET_LOCK(name, 0)` tried every 200 ms (no statement waits on the server, so none is logged
//!   as slow), with a log line every 5 s while another session holds the lock, then `RELEASE_LOCK`. The name is
//!   per database, since these locks are per server.
//! - PostgreSQL: `pg_advisory_lock` (advisory locks are per database), repeated under a 5-second `lock_timeout`
//!   with a log line while another session holds it, then `pg_advisory_unlock`.
//! - SQLite: the whole run is one `BEGIN IMMEDIATE` transaction (each migration a savepoint in it), so a second
//!   process waits on the database's write lock, retried with a log line after each 5-second busy timeout.
//!
//! On MariaDB and PostgreSQL the lock's connection is detached from the pool: were the future dropped while
//! holding the lock, the connection closes (and the server releases the lock) instead of going back to the pool
//! still holding it. SQLite's transaction rolls back when dropped.
//!
//! A crash in the middle of a migration is harmless on PostgreSQL and SQLite, whose DDL is transactional: the
//! migration and its row in `apim_schema_migrations` commit together or not at all. MariaDB commits each DDL
//! statement on its own, and sqlx records a migration as `success = FALSE` before running it; a crash leaves that
//! "dirty" row and part of the statements applied. The MariaDB migrations are therefore written to be run again
//! (`CREATE TABLE IF NOT EXISTS`, `CREATE INDEX IF NOT EXISTS`, `ADD COLUMN IF NOT EXISTS`,
//! `INSERT ... ON DUPLICATE KEY UPDATE`), and under the lock a dirty row of a known migration is deleted, with a
//! warning, so that sqlx runs the migration again whole. Their earlier texts' checksums stay accepted
//! ([`MYSQL_SUPERSEDED`]). A new MariaDB migration must be written the same way: `tests/it/migrate.rs` cuts each
//! one short after some of its statements and runs it again.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use apim_config::DbKind;
use sqlx::migrate::{Migrate, MigrateError, Migration, MigrationType, Migrator};
use sqlx::mysql::MySqlPool;
use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;
use sqlx::{Connection, MySqlConnection, SqlStr};

use crate::error::StoreError;

/// The table sqlx records applied migrations in.
pub(crate) const TABLE: &str = "apim_schema_migrations";

/// How often a node waiting for the lock says so.
const LOCK_ROUND: Duration = Duration::from_secs(5);
/// MariaDB/MySQL: how long between tries at the lock. Each `GET_LOCK` returns at once (a timeout of 0), so no
/// statement waits on the server and none is logged as slow while another node migrates.
const LOCK_POLL: Duration = Duration::from_millis(200);

/// The key pair of the PostgreSQL advisory lock (`pg_advisory_lock(int, int)`) that serialises migrations. Advisory
/// locks are scoped to the current database, so nodes on different databases of one server do not wait for each
/// other. The first key spells "apim".
pub const PG_MIGRATION_LOCK: (i32, i32) = (0x6170_696d, 1);

/// The name of the MariaDB/MySQL user lock (`GET_LOCK`) that serialises migrations of `database`. User locks are
/// per server, so the name carries the database's; names are limited to 64 characters, so a long one is hashed.
pub fn mysql_migration_lock(database: &str) -> String {
    let name = format!("apim_schema_migrations.{database}");
    if name.len() <= 64 {
        return name;
    }
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, database.as_bytes());
    format!("apim_schema_migrations.{}", &hex(digest.as_ref())[..32])
}

macro_rules! migration_set {
    ($dir:literal) => {
        [
            (1_i64, "user store", include_str!(concat!("../migrations/", $dir, "/0001_user_store.sql"))),
            (2_i64, "oauth", include_str!(concat!("../migrations/", $dir, "/0002_oauth.sql"))),
            (3_i64, "control plane", include_str!(concat!("../migrations/", $dir, "/0003_control_plane.sql"))),
            (4_i64, "devportal", include_str!(concat!("../migrations/", $dir, "/0004_devportal.sql"))),
            (5_i64, "admin", include_str!(concat!("../migrations/", $dir, "/0005_admin.sql"))),
            (6_i64, "notice", include_str!(concat!("../migrations/", $dir, "/0006_notice.sql"))),
            (7_i64, "token grant kind", include_str!(concat!("../migrations/", $dir, "/0007_token_aut.sql"))),
            (8_i64, "api labels", include_str!(concat!("../migrations/", $dir, "/0008_api_label.sql"))),
            (9_i64, "api content", include_str!(concat!("../migrations/", $dir, "/0009_api_content.sql"))),
            (10_i64, "devops role", include_str!(concat!("../migrations/", $dir, "/0010_devops_role.sql"))),
            (11_i64, "operation policies", include_str!(concat!("../migrations/", $dir, "/0011_operation_policy.sql"))),
            (12_i64, "list indexes", include_str!(concat!("../migrations/", $dir, "/0012_list_indexes.sql"))),
            (13_i64, "endpoint certificates", include_str!(concat!("../migrations/", $dir, "/0013_endpoint_certificate.sql"))),
            (14_i64, "search indexes", include_str!(concat!("../migrations/", $dir, "/0014_search_indexes.sql"))),
            (15_i64, "trigram search", include_str!(concat!("../migrations/", $dir, "/0015_trigram_search.sql"))),
            (16_i64, "document text", include_str!(concat!("../migrations/", $dir, "/0016_document_text.sql"))),
            (17_i64, "analytics", include_str!(concat!("../migrations/", $dir, "/0017_analytics.sql"))),
            (18_i64, "analytics rollups", include_str!(concat!("../migrations/", $dir, "/0018_analytics_rollups.sql"))),
        ]
    };
}

/// Migrations whose SQL changed after they were released, with the SHA-384 (what sqlx stores as the checksum) of
/// the earlier text.
///
/// sqlx refuses a database whose recorded checksum differs from the migration's ("previously applied but has been
/// modified"). The MariaDB texts were rewritten to be re-runnable; the schema and rows they leave are the same as
/// before. A migration recorded with its earlier text's checksum is therefore accepted as applied: the checksum
/// sqlx compares with is, for this run only, the recorded one. The database is not rewritten, so nodes of the
/// previous release still accept it during a rolling upgrade. A checksum that is neither stays an error. The
/// PostgreSQL and SQLite texts are unchanged: their DDL is transactional, so a crash never leaves them half done,
/// and rewriting them would only add entries here.
const MYSQL_SUPERSEDED: &[(i64, &str)] = &[
    (1, "41522ac8e6bad4028a34da0eb08c42920b9071c0170e63f5d4863d48c4cddb6d96349765a57a6f37a1f1bff881ff1030"),
    (2, "a134f0e00eafb98088d1d956128b75de54898720426e1a039fe69fde7310c9416819d34f2a1ca65bdc1158ad51225590"),
    (3, "0e62cf617831f8d0dde270b09d633d9c91edefde0a358fd21336d6ebef72a7b02c83a0d3ee4b388c522ee50f6f119cad"),
    (4, "d667136eea94740a1fbfe8c5849f91942e97e15a44cfe4f462eb38cdd9b5132e3c796426fcff5f6c362e03cc41a33e63"),
    (5, "19a971d57439db1f0657a697aeec17b44994fb96ccc224a641121c3cb0f956bb1bb7fcbdbe03b34fad80881e3bf5d0cc"),
    (6, "26d685d555a44faacfee6762570a842bbbfd73e76776dd55d660b7bffd4a5d8d76c02e16a099de7ebca44a9bdbe1bf74"),
    (7, "c7da566d82b1154d1c0bc4f015799bc4d8d786e2206f034a88e72f4f82a967e7c23438cfacae698e03ba0de459d2d0c8"),
];

pub(crate) fn migrator(kind: DbKind) -> Migrator {
    let set = match kind {
        DbKind::Sqlite => migration_set!("sqlite"),
        DbKind::Postgres => migration_set!("postgres"),
        DbKind::MySql => migration_set!("mysql"),
    };
    let migrations: Vec<Migration> = set
        .into_iter()
        .map(|(version, desc, sql)| Migration::new(version, Cow::Borrowed(desc), MigrationType::Simple, SqlStr::from_static(sql), false))
        .collect();
    let mut m = Migrator { migrations: Cow::Owned(migrations), table_name: Cow::Borrowed(TABLE), ..Migrator::DEFAULT };
    // Our own lock is held around the run (see the module's documentation).
    m.set_locking(false);
    m
}

/// sqlx's migrator on the connection that holds the lock. `run_direct` is what `Migrator::run` calls; `run`'s
/// `Acquire` bound makes the future fail to prove `Send` ("implementation of `Acquire` is not general enough"),
/// which callers that spawn `migrate()` need, and `run_direct` is sqlx's own way around that.
async fn run<C: Migrate>(m: &Migrator, conn: &mut C, pool_name: &str) -> Result<(), StoreError> {
    m.run_direct(None, conn, false).await.map_err(|e| migrate_error(m, pool_name, e))
}

/// The description of one of this build's migrations.
fn description(m: &Migrator, version: i64) -> String {
    m.iter().find(|x| x.version == version).map_or_else(|| "unknown to this build".to_string(), |x| x.description.to_string())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn migrate_error(m: &Migrator, pool: &str, e: MigrateError) -> StoreError {
    let pool = pool.to_string();
    match e {
        MigrateError::ExecuteMigration(source, version) => {
            StoreError::MigrationFailed { pool, version, description: description(m, version), source }
        }
        MigrateError::VersionMismatch(version) => StoreError::MigrationChanged { pool, version, description: description(m, version) },
        MigrateError::VersionMissing(version) => StoreError::MigrationUnknown { pool, version },
        MigrateError::Dirty(version) => StoreError::MigrationDirty { pool, version, description: description(m, version) },
        other => StoreError::Migrate { pool, message: other.to_string() },
    }
}

fn lock_error(pool: &str, lock: &str, reason: impl std::fmt::Display) -> StoreError {
    StoreError::MigrationLock { pool: pool.to_string(), lock: lock.to_string(), reason: reason.to_string() }
}

fn bookkeeping_error(pool: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Migrate { pool: pool.to_string(), message: format!("reading or repairing {TABLE}: {e}") }
}

fn sql_state(e: &sqlx::Error) -> Option<String> {
    match e {
        sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
        _ => None,
    }
}

/// MariaDB/MySQL: `GET_LOCK` on a detached connection, prepare (dirty rows, earlier checksums), run, `RELEASE_LOCK`.
pub(crate) async fn mysql(pool: &MySqlPool, pool_name: &str) -> Result<(), StoreError> {
    let mut conn = pool.acquire().await.map_err(|e| lock_error(pool_name, "for this database", e))?.detach();
    let database: Option<String> =
        sqlx::query_scalar("SELECT DATABASE()").fetch_one(&mut conn).await.map_err(|e| lock_error(pool_name, "for this database", e))?;
    let lock = mysql_migration_lock(database.as_deref().unwrap_or_default());
    let started = Instant::now();
    // When this node last said it is waiting (a node that has to wait says so at once, then every LOCK_ROUND).
    let mut said: Option<Instant> = None;
    loop {
        // 1: taken; 0: another session holds it; NULL: an error (e.g. the session was killed).
        let got: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(?, 0)")
            .bind(&lock)
            .fetch_one(&mut conn)
            .await
            .map_err(|e| lock_error(pool_name, &lock, e))?;
        match got {
            Some(1) => break,
            Some(_) if said.is_some_and(|t| t.elapsed() < LOCK_ROUND) => tokio::time::sleep(LOCK_POLL).await,
            Some(_) => {
                let holder: Option<i64> = sqlx::query_scalar("SELECT IS_USED_LOCK(?)")
                    .bind(&lock)
                    .fetch_one(&mut conn)
                    .await
                    .map_err(|e| lock_error(pool_name, &lock, e))?;
                tracing::info!(
                    pool = pool_name,
                    lock = %lock,
                    holder_connection_id = holder,
                    waited_s = started.elapsed().as_secs(),
                    "another node is migrating this database; waiting for its migration lock"
                );
                said = Some(Instant::now());
                tokio::time::sleep(LOCK_POLL).await;
            }
            None => return Err(lock_error(pool_name, &lock, "GET_LOCK returned NULL")),
        }
    }
    if said.is_some() {
        tracing::info!(pool = pool_name, lock = %lock, waited_s = started.elapsed().as_secs(), "took the migration lock");
    }
    let mut m = migrator(DbKind::MySql);
    let result = match prepare_mysql(&mut m, &mut conn, pool_name).await {
        Ok(()) => run(&m, &mut conn, pool_name).await,
        Err(e) => Err(e),
    };
    let released: Result<Option<i64>, _> = sqlx::query_scalar("SELECT RELEASE_LOCK(?)").bind(&lock).fetch_one(&mut conn).await;
    if !matches!(released, Ok(Some(1))) {
        // Closing the session below releases it all the same.
        tracing::warn!(pool = pool_name, lock = %lock, result = ?released, "RELEASE_LOCK did not release the migration lock; closing its connection");
    }
    let _ = conn.close().await;
    result
}

/// Under the lock, before sqlx looks: a row a crash left dirty is deleted so the migration runs again, and a
/// migration recorded with a superseded text's checksum (see [`MYSQL_SUPERSEDED`]) is accepted as applied.
async fn prepare_mysql(m: &mut Migrator, conn: &mut MySqlConnection, pool_name: &str) -> Result<(), StoreError> {
    conn.ensure_migrations_table(TABLE).await.map_err(|e| bookkeeping_error(pool_name, e))?;
    let rows: Vec<(i64, bool, Vec<u8>)> = sqlx::query_as("SELECT version, success, checksum FROM apim_schema_migrations ORDER BY version")
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| bookkeeping_error(pool_name, e))?;
    for (version, success, checksum) in rows {
        let Some(current) = m.migrations.to_mut().iter_mut().find(|x| x.version == version) else {
            // A newer build's migration: sqlx reports it (dirty, or unknown to this build).
            continue;
        };
        let superseded = MYSQL_SUPERSEDED.iter().any(|(v, old)| *v == version && old.eq_ignore_ascii_case(&hex(&checksum)));
        if !success && (superseded || checksum.as_slice() == current.checksum.as_ref()) {
            tracing::warn!(
                pool = pool_name,
                migration = version,
                description = %current.description,
                "migration {version} ({}) was left partially applied by a node that stopped during it; its statements can run again, so it runs again",
                current.description
            );
            sqlx::query("DELETE FROM apim_schema_migrations WHERE version = ? AND success = FALSE")
                .bind(version)
                .execute(&mut *conn)
                .await
                .map_err(|e| bookkeeping_error(pool_name, e))?;
        } else if success && superseded {
            tracing::debug!(pool = pool_name, migration = version, "applied from its earlier text; accepted");
            current.checksum = Cow::Owned(checksum);
        }
        // Anything else (a dirty row from SQL this build does not know, a foreign checksum) is left for sqlx to
        // report as an error naming the migration.
    }
    Ok(())
}

/// PostgreSQL: `pg_advisory_lock` on a detached connection, run, `pg_advisory_unlock`.
pub(crate) async fn postgres(pool: &PgPool, pool_name: &str) -> Result<(), StoreError> {
    let (k1, k2) = PG_MIGRATION_LOCK;
    let lock = format!("pg_advisory_lock({k1}, {k2})");
    let mut conn = pool.acquire().await.map_err(|e| lock_error(pool_name, &lock, e))?.detach();
    let started = Instant::now();
    let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, $2)")
        .bind(k1)
        .bind(k2)
        .fetch_one(&mut conn)
        .await
        .map_err(|e| lock_error(pool_name, &lock, e))?;
    if !taken {
        // Wait in rounds: lock_timeout ends each, so the log keeps saying why this node is not ready.
        let set = format!("SET lock_timeout = '{}s'", LOCK_ROUND.as_secs());
        sqlx::raw_sql(sqlx::AssertSqlSafe(set)).execute(&mut conn).await.map_err(|e| lock_error(pool_name, &lock, e))?;
        loop {
            let holder: Option<i32> = sqlx::query_scalar(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = $1::oid AND objid = $2::oid \
                 AND objsubid = 2 AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) LIMIT 1",
            )
            .bind(k1)
            .bind(k2)
            .fetch_optional(&mut conn)
            .await
            .map_err(|e| lock_error(pool_name, &lock, e))?
            .flatten();
            tracing::info!(
                pool = pool_name,
                lock = %lock,
                holder_pid = holder,
                waited_s = started.elapsed().as_secs(),
                "another node is migrating this database; waiting for its migration lock"
            );
            match sqlx::query("SELECT pg_advisory_lock($1, $2)").bind(k1).bind(k2).execute(&mut conn).await {
                Ok(_) => break,
                // lock_not_available: the round ended.
                Err(e) if sql_state(&e).as_deref() == Some("55P03") => {}
                Err(e) => return Err(lock_error(pool_name, &lock, e)),
            }
        }
        // The migrations themselves run without that timeout.
        sqlx::raw_sql("RESET lock_timeout").execute(&mut conn).await.map_err(|e| lock_error(pool_name, &lock, e))?;
        tracing::info!(pool = pool_name, lock = %lock, waited_s = started.elapsed().as_secs(), "took the migration lock");
    }
    let m = migrator(DbKind::Postgres);
    let result = run(&m, &mut conn, pool_name).await;
    let released: Result<bool, _> = sqlx::query_scalar("SELECT pg_advisory_unlock($1, $2)").bind(k1).bind(k2).fetch_one(&mut conn).await;
    if !matches!(released, Ok(true)) {
        tracing::warn!(pool = pool_name, lock = %lock, result = ?released, "pg_advisory_unlock did not release the migration lock; closing its connection");
    }
    let _ = conn.close().await;
    result
}

/// SQLite: every migration inside one `BEGIN IMMEDIATE` transaction, which holds the database's write lock.
pub(crate) async fn sqlite(pool: &SqlitePool, pool_name: &str) -> Result<(), StoreError> {
    let lock = "BEGIN IMMEDIATE";
    let mut conn = pool.acquire().await.map_err(|e| lock_error(pool_name, lock, e))?;
    let started = Instant::now();
    let mut tx = loop {
        match conn.begin_with(lock).await {
            Ok(tx) => break tx,
            // SQLITE_BUSY after the connection's busy timeout: another connection is writing (migrating).
            Err(e) if sql_state(&e).and_then(|c| c.parse::<i32>().ok()).is_some_and(|c| c & 0xff == 5) => {
                tracing::info!(
                    pool = pool_name,
                    waited_s = started.elapsed().as_secs(),
                    "another process holds this database's write lock; waiting to migrate"
                );
            }
            Err(e) => return Err(lock_error(pool_name, lock, e)),
        }
    };
    let m = migrator(DbKind::Sqlite);
    // Each migration is a savepoint inside the transaction; an error rolls everything back with it.
    run(&m, &mut *tx, pool_name).await?;
    tx.commit().await.map_err(|e| StoreError::Migrate { pool: pool_name.to_string(), message: format!("commit: {e}") })
}

/// How many migrations this build knows; readiness reports it.
pub fn migrations_applied() -> usize {
    migrator(DbKind::Sqlite).migrations.len()
}
