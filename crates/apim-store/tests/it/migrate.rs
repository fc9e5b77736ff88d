//! Migrations under concurrency and after crashes: several nodes migrating one fresh database at once, a node
//! that died halfway through a MariaDB migration, databases migrated by the previous release, and the lock that
//! serialises it all (held from a test connection while `migrate()` waits for it).

use std::sync::{Arc, Mutex};

use apim_config::HostsFile;
use apim_store::Db;
use apim_test_support::TempDir;
use apim_test_support::db::{Backend, TestDb};

use super::database_config;

const POOL: &str = "apim_db";

macro_rules! texts {
    ($dir:literal) => {
        [
            (1_i64, "user store", include_str!(concat!($dir, "/0001_user_store.sql"))),
            (2_i64, "oauth", include_str!(concat!($dir, "/0002_oauth.sql"))),
            (3_i64, "control plane", include_str!(concat!($dir, "/0003_control_plane.sql"))),
            (4_i64, "devportal", include_str!(concat!($dir, "/0004_devportal.sql"))),
            (5_i64, "admin", include_str!(concat!($dir, "/0005_admin.sql"))),
            (6_i64, "notice", include_str!(concat!($dir, "/0006_notice.sql"))),
            (7_i64, "token grant kind", include_str!(concat!($dir, "/0007_token_aut.sql"))),
            (8_i64, "api labels", include_str!(concat!($dir, "/0008_api_label.sql"))),
            (9_i64, "api content", include_str!(concat!($dir, "/0009_api_content.sql"))),
            (10_i64, "devops role", include_str!(concat!($dir, "/0010_devops_role.sql"))),
            (11_i64, "operation policies", include_str!(concat!($dir, "/0011_operation_policy.sql"))),
            (12_i64, "list indexes", include_str!(concat!($dir, "/0012_list_indexes.sql"))),
            (13_i64, "endpoint certificates", include_str!(concat!($dir, "/0013_endpoint_certificate.sql"))),
            (14_i64, "search indexes", include_str!(concat!($dir, "/0014_search_indexes.sql"))),
            (15_i64, "trigram search", include_str!(concat!($dir, "/0015_trigram_search.sql"))),
            (16_i64, "document text", include_str!(concat!($dir, "/0016_document_text.sql"))),
            (17_i64, "analytics", include_str!(concat!($dir, "/0017_analytics.sql"))),
            (18_i64, "analytics rollups", include_str!(concat!($dir, "/0018_analytics_rollups.sql"))),
        ]
    };
}

type Texts = [(i64, &'static str, &'static str); 18];
const MYSQL: Texts = texts!("../../migrations/mysql");
const POSTGRES: Texts = texts!("../../migrations/postgres");
const SQLITE: Texts = texts!("../../migrations/sqlite");

fn sha384(text: &str) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA384, text.as_bytes()).as_ref().to_vec()
}

/// Every event at INFO or above logged on this thread while the guard lives, as "LEVEL message field=value ...".
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<String>>>);

impl Capture {
    fn start() -> (Capture, tracing::subscriber::DefaultGuard) {
        let c = Capture::default();
        let guard = tracing::subscriber::set_default(c.clone());
        (c, guard)
    }
    fn lines(&self) -> Vec<String> {
        self.0.lock().expect("capture").clone()
    }
    fn contains(&self, level: &str, text: &str) -> bool {
        self.lines().iter().any(|l| l.starts_with(level) && l.contains(text))
    }
    fn assert_clean(&self) {
        for line in self.lines() {
            assert!(!line.starts_with("ERROR") && !line.contains("partially applied"), "unexpected log line: {line}");
        }
    }
}

struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0.push_str(&format!(" {value:?}"));
        } else {
            self.0.push_str(&format!(" {}={value:?}", field.name()));
        }
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, meta: &tracing::Metadata<'_>) -> bool {
        *meta.level() <= tracing::Level::INFO
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = Fields(event.metadata().level().to_string());
        event.record(&mut fields);
        self.0.lock().expect("capture").push(fields.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

async fn open(fields: &str) -> Db {
    apim_store::connect(&database_config(fields), &HostsFile::default()).await.expect("connect")
}

fn server_url(tdb: &TestDb) -> String {
    let scheme = match tdb.backend {
        Backend::Postgres => "postgres",
        Backend::MySql => "mysql",
    };
    let creds = if tdb.password.is_empty() { tdb.user.clone() } else { format!("{}:{}", tdb.user, tdb.password) };
    format!("{scheme}://{creds}@{}:{}/{}", tdb.host, tdb.port, tdb.name)
}

/// (version, success, checksum) of every row of the schema table.
async fn schema_rows(db: &Db) -> Vec<(i64, bool, Vec<u8>)> {
    let q = "SELECT version, success, checksum FROM apim_schema_migrations ORDER BY version";
    match db {
        Db::Sqlite(p) => sqlx::query_as(q).fetch_all(p).await,
        Db::Postgres(p) => sqlx::query_as(q).fetch_all(p).await,
        Db::MySql(p) => sqlx::query_as(q).fetch_all(p).await,
    }
    .expect("schema rows")
}

/// The schema table records exactly this build's migrations, each applied and with this build's checksum.
async fn assert_fully_migrated(db: &Db, texts: &Texts) {
    assert_recorded(db, texts, 1, texts).await;
}

/// Every migration recorded as applied, those before `from` with the checksums of `before`'s texts, the others
/// with those of `texts`.
async fn assert_recorded(db: &Db, before: &Texts, from: i64, texts: &Texts) {
    let rows = schema_rows(db).await;
    let expected: Vec<(i64, bool, Vec<u8>)> =
        before.iter().zip(texts).map(|((v, _, old), (_, _, new))| (*v, true, sha384(if *v < from { old } else { new }))).collect();
    assert_eq!(rows, expected, "apim_schema_migrations rows (version, success, checksum)");
}

/// Four nodes start at once on a fresh database: every `migrate()` succeeds and nothing logs an error.
async fn four_at_once(fields: &str, texts: &Texts) {
    let (a, b, c, d) = tokio::join!(open(fields), open(fields), open(fields), open(fields));
    let (log, _guard) = Capture::start();
    let (ra, rb, rc, rd) = tokio::join!(a.migrate(POOL), b.migrate(POOL), c.migrate(POOL), d.migrate(POOL));
    for (i, r) in [ra, rb, rc, rd].into_iter().enumerate() {
        if let Err(e) = r {
            panic!("node {i}: {e}\nlog:\n{}", log.lines().join("\n"));
        }
    }
    log.assert_clean();
    assert_fully_migrated(&a, texts).await;
    for db in [a, b, c, d] {
        db.close().await;
    }
}

#[tokio::test]
async fn four_nodes_migrate_a_fresh_mariadb_at_once() {
    let Some(tdb) = TestDb::create(Backend::MySql).await else { return };
    four_at_once(&tdb.toml_fields(), &MYSQL).await;
}

#[tokio::test]
async fn four_nodes_migrate_a_fresh_postgres_at_once() {
    let Some(tdb) = TestDb::create(Backend::Postgres).await else { return };
    four_at_once(&tdb.toml_fields(), &POSTGRES).await;
}

#[tokio::test]
async fn four_nodes_migrate_a_fresh_sqlite_file_at_once() {
    let dir = TempDir::new("apim-store-migrate");
    let fields = format!("type = \"sqlite\"\nurl = \"jdbc:sqlite:{}\"\n", dir.path().join("apim.db").display());
    four_at_once(&fields, &SQLITE).await;
}

// ---- MariaDB: a migration cut short by a crash, and databases migrated by the previous release ----

/// The MariaDB texts as released before they were made re-runnable (their checksums are in old databases); 0008
/// and later were re-runnable from the start, so their texts are this build's.
const LEGACY_MYSQL: Texts = texts!("legacy_mysql");

/// sqlx's migrator as the previous release ran it (no lock of ours, no repair), on a raw connection.
fn plain_migrator(texts: &Texts) -> sqlx::migrate::Migrator {
    use sqlx::migrate::{Migration, MigrationType, Migrator};
    let migrations = texts
        .iter()
        .map(|(v, d, sql)| Migration::new(*v, (*d).into(), MigrationType::Simple, sqlx::SqlStr::from_static(sql), false))
        .collect::<Vec<_>>();
    Migrator { migrations: migrations.into(), table_name: "apim_schema_migrations".into(), locking: false, ..Migrator::DEFAULT }
}

/// The statements of a migration file (none of them contains ";\n").
fn statements(sql: &str) -> Vec<&str> {
    sql.split(";\n").filter(|s| s.lines().any(|l| !l.trim().is_empty() && !l.trim_start().starts_with("--"))).collect()
}

async fn mysql_raw(tdb: &TestDb) -> sqlx::MySqlConnection {
    use sqlx::Connection;
    sqlx::MySqlConnection::connect(&server_url(tdb)).await.expect("raw connection")
}

/// Tables, columns, indexes, foreign keys and seeded rows: what the migrations leave behind.
async fn mysql_schema(conn: &mut sqlx::MySqlConnection, database: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let queries = [
        "SELECT CONCAT_WS(' ', TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, IFNULL(COLUMN_DEFAULT, '-'), EXTRA) \
         FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME, ORDINAL_POSITION",
        "SELECT CONCAT_WS(' ', TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX, COLUMN_NAME, NON_UNIQUE) \
         FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX",
        "SELECT CONCAT_WS(' ', TABLE_NAME, CONSTRAINT_NAME, COLUMN_NAME, IFNULL(REFERENCED_TABLE_NAME, '-'), \
         IFNULL(REFERENCED_COLUMN_NAME, '-')) FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = ? \
         ORDER BY TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION",
    ];
    for q in queries {
        let rows: Vec<String> = sqlx::query_scalar(q).bind(database).fetch_all(&mut *conn).await.expect("schema");
        out.extend(rows);
    }
    for q in [
        "SELECT CONCAT('role ', name) FROM um_role ORDER BY name",
        "SELECT CONCAT_WS(' ', 'policy', level, name, MD5(document)) FROM am_throttle_policy ORDER BY level, name",
    ] {
        let rows: Vec<String> = sqlx::query_scalar(q).fetch_all(&mut *conn).await.expect("seeded rows");
        out.extend(rows);
    }
    out
}

/// The schema a clean migration leaves, to compare repaired databases with.
async fn reference_mysql_schema() -> Option<Vec<String>> {
    let tdb = TestDb::create(Backend::MySql).await?;
    let db = open(&tdb.toml_fields()).await;
    db.migrate(POOL).await.expect("clean migrate");
    db.close().await;
    Some(mysql_schema(&mut mysql_raw(&tdb).await, &tdb.name).await)
}

/// Migrations before `version` applied, then migration `version` (from `texts`) started the way sqlx starts it on
/// MariaDB (its row inserted with success = FALSE, committed by the first DDL statement) and cut short after
/// `run` of its statements. `migrate()` must then finish the job: the same schema as a clean run, every row
/// successful (from `version` on with this build's checksums), and a warning naming the migration.
async fn crash_then_migrate(reference: &[String], texts: &Texts, version: i64, run: impl Fn(usize) -> usize) {
    let tdb = TestDb::create(Backend::MySql).await.expect("MariaDB configured");
    let mut raw = mysql_raw(&tdb).await;
    plain_migrator(texts).run_to(version - 1, &mut raw).await.expect("earlier migrations");
    let (_, description, sql) = texts[(version - 1) as usize];
    sqlx::query("INSERT INTO apim_schema_migrations (version, description, success, checksum, execution_time) VALUES (?, ?, FALSE, ?, -1)")
        .bind(version)
        .bind(description)
        .bind(sha384(sql))
        .execute(&mut raw)
        .await
        .expect("dirty row");
    let all = statements(sql);
    let n = run(all.len());
    for s in &all[..n] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(s.to_string())).execute(&mut raw).await.expect("statement before the crash");
    }

    let db = open(&tdb.toml_fields()).await;
    let (log, guard) = Capture::start();
    if let Err(e) = db.migrate(POOL).await {
        panic!("migration {version} cut after {n} of {} statements: {e}\nlog:\n{}", all.len(), log.lines().join("\n"));
    }
    drop(guard);
    assert!(
        log.contains("WARN", &format!("migration {version} ({description}) was left partially applied")),
        "no warning naming migration {version}: {:?}",
        log.lines()
    );
    assert_recorded(&db, texts, version, &MYSQL).await;
    assert_eq!(mysql_schema(&mut raw, &tdb.name).await, reference, "schema after migration {version} ran again");
    // And it stays put.
    db.migrate(POOL).await.expect("again");
    assert_recorded(&db, texts, version, &MYSQL).await;
    db.close().await;
}

#[tokio::test]
async fn mariadb_migration_cut_short_runs_again() {
    let Some(reference) = reference_mysql_schema().await else { return };
    for version in 1..=MYSQL.len() as i64 {
        // Half its statements (at least one), then all of them but not the final `success = TRUE`.
        crash_then_migrate(&reference, &MYSQL, version, |len| len.div_ceil(2)).await;
        crash_then_migrate(&reference, &MYSQL, version, |len| len).await;
    }
}

#[tokio::test]
async fn mariadb_migration_of_the_previous_release_cut_short_runs_again() {
    let Some(reference) = reference_mysql_schema().await else { return };
    // 0002 had both its tables created but not their indexes; 0001 had two of its four roles.
    crash_then_migrate(&reference, &LEGACY_MYSQL, 2, |_| 2).await;
    crash_then_migrate(&reference, &LEGACY_MYSQL, 1, |len| len - 2).await;
    crash_then_migrate(&reference, &LEGACY_MYSQL, 7, |_| 1).await;
}

#[tokio::test]
async fn mariadb_database_of_the_previous_release_is_accepted() {
    let Some(reference) = reference_mysql_schema().await else { return };
    let tdb = TestDb::create(Backend::MySql).await.expect("MariaDB configured");
    let mut raw = mysql_raw(&tdb).await;
    plain_migrator(&LEGACY_MYSQL).run(&mut raw).await.expect("previous release's migrations");
    let db = open(&tdb.toml_fields()).await;
    let (log, guard) = Capture::start();
    db.migrate(POOL).await.expect("migrate a database of the previous release");
    db.migrate(POOL).await.expect("and again");
    drop(guard);
    log.assert_clean();
    // Accepted as it is: the earlier texts' checksums stay recorded, so the previous release's nodes still accept
    // the database during a rolling upgrade.
    assert_fully_migrated(&db, &LEGACY_MYSQL).await;
    plain_migrator(&LEGACY_MYSQL).run(&mut raw).await.expect("the previous release still accepts the database");
    assert_eq!(mysql_schema(&mut raw, &tdb.name).await, reference);
    db.close().await;
}

#[tokio::test]
async fn mariadb_foreign_migration_rows_are_errors_naming_the_migration() {
    let Some(tdb) = TestDb::create(Backend::MySql).await else { return };
    let db = open(&tdb.toml_fields()).await;
    db.migrate(POOL).await.expect("migrate");
    let mut raw = mysql_raw(&tdb).await;
    // Applied from SQL this build does not know.
    sqlx::query("UPDATE apim_schema_migrations SET checksum = X'00' WHERE version = 5").execute(&mut raw).await.expect("update");
    let e = db.migrate(POOL).await.expect_err("foreign checksum");
    assert!(matches!(&e, apim_store::StoreError::MigrationChanged { version: 5, .. }), "{e:?}");
    assert!(e.to_string().starts_with("apim_db: migration 5 (admin) was applied from different SQL"), "{e}");
    // Left dirty by SQL this build does not know: not run again blindly.
    sqlx::query("UPDATE apim_schema_migrations SET success = FALSE WHERE version = 5").execute(&mut raw).await.expect("update");
    let e = db.migrate(POOL).await.expect_err("foreign dirty row");
    assert!(matches!(&e, apim_store::StoreError::MigrationDirty { version: 5, .. }), "{e:?}");
    assert!(e.to_string().starts_with("apim_db: migration 5 (admin) is marked partially applied"), "{e}");
    // A newer build's migration.
    sqlx::query("UPDATE apim_schema_migrations SET success = TRUE, checksum = ? WHERE version = 5")
        .bind(sha384(MYSQL[4].2))
        .execute(&mut raw)
        .await
        .expect("update");
    sqlx::query(
        "INSERT INTO apim_schema_migrations (version, description, success, checksum, execution_time) VALUES (99, 'future', TRUE, X'00', 1)",
    )
    .execute(&mut raw)
    .await
    .expect("insert");
    let e = db.migrate(POOL).await.expect_err("unknown migration");
    assert!(matches!(&e, apim_store::StoreError::MigrationUnknown { version: 99, .. }), "{e:?}");
    assert!(e.to_string().starts_with("apim_db: the database records migration 99"), "{e}");
    db.close().await;
}

// ---- The lock: held from a test connection, `migrate()` waits for it and then finishes ----

/// Generous bounds on waiting for things that take milliseconds; they only keep a broken build from hanging.
const BOUND: std::time::Duration = std::time::Duration::from_secs(120);

async fn until(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let polled = tokio::time::timeout(BOUND, async {
        while !check().await {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(polled.is_ok(), "never saw: {what}");
}

#[tokio::test]
async fn mariadb_migrate_waits_for_the_lock() {
    let Some(tdb) = TestDb::create(Backend::MySql).await else { return };
    let mut holder = mysql_raw(&tdb).await;
    let lock = apim_store::mysql_migration_lock(&tdb.name);
    let got: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(?, 0)").bind(&lock).fetch_one(&mut holder).await.expect("lock");
    assert_eq!(got, Some(1));

    let db = open(&tdb.toml_fields()).await;
    let (log, _guard) = Capture::start();
    let task = tokio::spawn({
        let db = db.clone();
        async move { db.migrate(POOL).await }
    });
    // migrate() tries GET_LOCK without waiting on the server (so no statement of its is slow) and says it waits.
    until("migrate() refused the lock on this database, having said so", async || log.contains("INFO", "waiting for its migration lock"))
        .await;
    assert!(!task.is_finished(), "migrate() finished while the lock was held");
    let tables: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'apim_schema_migrations'",
    )
    .bind(&tdb.name)
    .fetch_one(&mut holder)
    .await
    .expect("tables");
    assert_eq!(tables, 0, "nothing may be migrated while another node holds the lock");

    let released: Option<i64> = sqlx::query_scalar("SELECT RELEASE_LOCK(?)").bind(&lock).fetch_one(&mut holder).await.expect("release");
    assert_eq!(released, Some(1));
    tokio::time::timeout(BOUND, task).await.expect("migrate() finishes once the lock is free").expect("join").expect("migrate");
    assert!(log.contains("INFO", "took the migration lock"), "{:?}", log.lines());
    log.assert_clean();
    assert_fully_migrated(&db, &MYSQL).await;
    // migrate() let go of its own lock: it is free again.
    let free: Option<i64> = sqlx::query_scalar("SELECT IS_FREE_LOCK(?)").bind(&lock).fetch_one(&mut holder).await.expect("free");
    assert_eq!(free, Some(1));
    db.close().await;
}

#[tokio::test]
async fn postgres_migrate_waits_for_the_lock() {
    use sqlx::Connection;
    let Some(tdb) = TestDb::create(Backend::Postgres).await else { return };
    let mut holder = sqlx::PgConnection::connect(&server_url(&tdb)).await.expect("raw connection");
    let (k1, k2) = apim_store::PG_MIGRATION_LOCK;
    sqlx::query("SELECT pg_advisory_lock($1, $2)").bind(k1).bind(k2).execute(&mut holder).await.expect("lock");

    let db = open(&tdb.toml_fields()).await;
    let (log, _guard) = Capture::start();
    let task = tokio::spawn({
        let db = db.clone();
        async move { db.migrate(POOL).await }
    });
    until("migrate() queued on the advisory lock, having said so", async || {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND classid = $1::oid \
             AND objid = $2::oid AND objsubid = 2 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        )
        .bind(k1)
        .bind(k2)
        .fetch_one(&mut holder)
        .await
        .expect("pg_locks");
        waiting > 0 && log.contains("INFO", "waiting for its migration lock")
    })
    .await;
    assert!(!task.is_finished(), "migrate() finished while the lock was held");
    let table: Option<String> =
        sqlx::query_scalar("SELECT to_regclass('apim_schema_migrations')::text").fetch_one(&mut holder).await.expect("regclass");
    assert_eq!(table, None, "nothing may be migrated while another node holds the lock");

    let released: bool =
        sqlx::query_scalar("SELECT pg_advisory_unlock($1, $2)").bind(k1).bind(k2).fetch_one(&mut holder).await.expect("unlock");
    assert!(released);
    tokio::time::timeout(BOUND, task).await.expect("migrate() finishes once the lock is free").expect("join").expect("migrate");
    assert!(log.contains("INFO", "took the migration lock"), "{:?}", log.lines());
    log.assert_clean();
    assert_fully_migrated(&db, &POSTGRES).await;
    let free: bool =
        sqlx::query_scalar("SELECT pg_try_advisory_lock($1, $2)").bind(k1).bind(k2).fetch_one(&mut holder).await.expect("try lock");
    assert!(free, "migrate() let go of the lock");
    db.close().await;
}

#[tokio::test]
async fn sqlite_migrate_waits_for_the_write_lock() {
    use sqlx::Connection;
    let dir = TempDir::new("apim-store-migrate");
    let path = dir.path().join("apim.db");
    let fields = format!("type = \"sqlite\"\nurl = \"jdbc:sqlite:{}\"\n", path.display());
    // The pool first: it puts the file in WAL mode.
    let db = open(&fields).await;
    let mut holder =
        sqlx::SqliteConnection::connect_with(&sqlx::sqlite::SqliteConnectOptions::new().filename(&path)).await.expect("raw connection");
    let mut tx = holder.begin_with("BEGIN IMMEDIATE").await.expect("write lock");

    let (log, _guard) = Capture::start();
    let task = tokio::spawn({
        let db = db.clone();
        async move { db.migrate(POOL).await }
    });
    // SQLite has no lock table to look at: the log line after the first busy timeout is the sign.
    until("migrate() waiting for the write lock, having said so", async || {
        log.contains("INFO", "holds this database's write lock; waiting to migrate")
    })
    .await;
    assert!(!task.is_finished(), "migrate() finished while the write lock was held");
    let tables: i64 = sqlx::query_scalar("SELECT count(*) FROM sqlite_master WHERE name = 'apim_schema_migrations'")
        .fetch_one(&mut *tx)
        .await
        .expect("sqlite_master");
    assert_eq!(tables, 0, "nothing may be migrated while another process holds the write lock");

    tx.commit().await.expect("release");
    tokio::time::timeout(BOUND, task).await.expect("migrate() finishes once the lock is free").expect("join").expect("migrate");
    log.assert_clean();
    assert_fully_migrated(&db, &SQLITE).await;
    db.close().await;
}
