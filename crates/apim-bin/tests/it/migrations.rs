//! Migrations under concurrency, through the real binary: four nodes (two control planes, two key managers, as
//! seed 001's HA samples run them) started together on one fresh database migrate it one after another and log
//! no error; a node killed (SIGKILL) while it migrates a fresh database becomes ready when started again, with
//! the whole schema. On MariaDB and on PostgreSQL.

use std::time::{Duration, Instant};

use apim_test_support::TempDir;
use apim_test_support::db::{Backend, TestDb};
use apim_test_support::process::{Node, free_offset};
use apim_test_support::topology::node_header;
use sqlx::Connection;

use super::{apim, base64_encode, wait_ready};

/// Ports a control plane binds (a key manager binds the first two).
const PORTS: [u16; 3] = [9443, 9763, 5672];

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    ControlPlane,
    KeyManager,
}

impl Kind {
    fn role(self) -> &'static str {
        match self {
            Kind::ControlPlane => "control-plane",
            Kind::KeyManager => "key-manager",
        }
    }
}

/// A node's `deployment.toml`: both pools on `db`, the super admin, and for a control plane the event hub.
fn config(kind: Kind, offset: u16, db: &TestDb) -> String {
    let fields = db.toml_fields();
    let mut text = format!("{}[database.apim_db]\n{fields}[database.shared_db]\n{fields}", node_header(offset));
    if kind == Kind::ControlPlane {
        text.push_str("[apim.event_hub]\nenable = true\nusername = \"admin\"\npassword = \"admin\"\n");
    }
    text
}

/// `n` port offsets whose ports are free now and do not overlap each other.
fn distinct_offsets(n: usize) -> Vec<u16> {
    let mut offsets: Vec<u16> = Vec::new();
    let mut taken: Vec<u16> = Vec::new();
    while offsets.len() < n {
        let o = free_offset(&PORTS);
        let ports: Vec<u16> = PORTS.iter().map(|p| p + o).collect();
        if ports.iter().all(|p| !taken.contains(p)) {
            taken.extend(ports);
            offsets.push(o);
        }
    }
    offsets
}

fn start(dir: &std::path::Path, kind: Kind, name: &str) -> Node {
    let config = format!("{name}.toml");
    Node::spawn(&apim(), &[kind.role(), "-c", &config, "--data-dir", name, "--bind", "127.0.0.1"], dir)
}

/// The lines of a node's log at level ERROR.
fn errors(node: &Node) -> Vec<String> {
    node.stderr().lines().filter(|l| l.contains(" ERROR ")).map(str::to_string).collect()
}

fn database_url(db: &TestDb) -> String {
    let scheme = match db.backend {
        Backend::Postgres => "postgres",
        Backend::MySql => "mysql",
    };
    let credentials = if db.password.is_empty() { db.user.clone() } else { format!("{}:{}", db.user, db.password) };
    format!("{scheme}://{credentials}@{}:{}/{}", db.host, db.port, db.name)
}

/// `(applied, dirty)`: rows of `apim_schema_migrations` that succeeded and that a run left unfinished; `None`
/// while the table does not exist yet.
async fn migration_rows(db: &TestDb) -> Option<(i64, i64)> {
    let url = database_url(db);
    let sql = "SELECT COALESCE(SUM(CASE WHEN success THEN 1 ELSE 0 END), 0), COALESCE(SUM(CASE WHEN success THEN 0 ELSE 1 END), 0) \
               FROM apim_schema_migrations";
    match db.backend {
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&url).await.ok()?;
            sqlx::query_as::<_, (i64, i64)>(sql).fetch_one(&mut c).await.ok()
        }
        Backend::MySql => {
            let mut c = sqlx::MySqlConnection::connect(&url).await.ok()?;
            // MariaDB's SUM is DECIMAL: cast it to read it as an integer.
            let sql = "SELECT CAST(COALESCE(SUM(success), 0) AS SIGNED), CAST(COALESCE(SUM(1 - success), 0) AS SIGNED) \
                       FROM apim_schema_migrations";
            sqlx::query_as::<_, (i64, i64)>(sql).fetch_one(&mut c).await.ok()
        }
    }
}

/// How many migrations this build has (one file each per dialect).
fn known_migrations() -> i64 {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../apim-store/migrations/postgres");
    std::fs::read_dir(dir).expect("migrations").flatten().filter(|f| f.path().extension().is_some_and(|e| e == "sql")).count() as i64
}

#[tokio::test]
async fn four_nodes_migrate_one_fresh_database_together() {
    for backend in [Backend::MySql, Backend::Postgres] {
        let Some(db) = TestDb::create(backend).await else { continue };
        four_nodes_at_once(&db).await;
    }
}

async fn four_nodes_at_once(db: &TestDb) {
    let dir = TempDir::new("apim-migrate4");
    let members = [("cp1", Kind::ControlPlane), ("cp2", Kind::ControlPlane), ("km1", Kind::KeyManager), ("km2", Kind::KeyManager)];
    for ((name, kind), offset) in members.iter().zip(distinct_offsets(members.len())) {
        std::fs::write(dir.path().join(format!("{name}.toml")), config(*kind, offset, db)).expect("write config");
    }
    // All four spawned before any is waited on, so their migrations overlap.
    let mut nodes: Vec<Node> = members.iter().map(|(name, kind)| start(dir.path(), *kind, name)).collect();
    for (node, (name, _)) in nodes.iter_mut().zip(members) {
        let https = node.url("management-https", Duration::from_secs(30));
        let ready = wait_ready(&https, Duration::from_secs(90)).await;
        assert_eq!(ready.status, 200, "{:?} {name}: {}\n{}", db.backend, ready.body, node.stderr());
    }
    for (node, (name, _)) in nodes.iter().zip(members) {
        assert!(errors(node).is_empty(), "{:?} {name} logged errors:\n{}", db.backend, node.stderr());
        let log = node.stderr();
        let waited = log.lines().filter(|l| l.contains("waiting for its migration lock")).count();
        // Every node warns about its generated certificate and the default admin password; the rest is news.
        let expected = ["generating a self-signed certificate", "the super admin is admin/admin"];
        let warnings: Vec<&str> = log.lines().filter(|l| l.contains(" WARN ") && !expected.iter().any(|e| l.contains(e))).collect();
        eprintln!("{:?} {name}: waited for the lock {waited} time(s); warnings: {warnings:?}", db.backend);
    }
    assert_eq!(migration_rows(db).await, Some((known_migrations(), 0)), "{:?}", db.backend);
    for node in nodes.iter_mut() {
        node.terminate();
    }
}

#[tokio::test]
async fn a_node_killed_while_migrating_recovers_on_restart() {
    for backend in [Backend::MySql, Backend::Postgres] {
        let Some(db) = TestDb::create(backend).await else { continue };
        killed_while_migrating(&db).await;
    }
}

async fn killed_while_migrating(db: &TestDb) {
    let dir = TempDir::new("apim-migrate-kill");
    let offset = distinct_offsets(1)[0];
    std::fs::write(dir.path().join("cp.toml"), config(Kind::ControlPlane, offset, db)).expect("write config");
    let mut node = start(dir.path(), Kind::ControlPlane, "cp");
    // Killed as soon as the migrations table holds a row (a migration is under way), or after a bounded wait.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = None;
    while Instant::now() < deadline && node.is_running() {
        seen = migration_rows(db).await;
        if seen.is_some_and(|(applied, dirty)| applied + dirty > 0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    node.signal("KILL");
    assert!(node.wait_exit(Duration::from_secs(10)).is_some(), "the node did not die");
    let left = migration_rows(db).await;
    eprintln!("{:?}: killed after seeing {seen:?}; the kill left (applied, dirty) = {left:?}", db.backend);

    let mut node = start(dir.path(), Kind::ControlPlane, "cp");
    let https = node.url("management-https", Duration::from_secs(30));
    let ready = wait_ready(&https, Duration::from_secs(90)).await;
    assert_eq!(ready.status, 200, "{:?}: {}\n{}", db.backend, ready.body, node.stderr());
    assert!(errors(&node).is_empty(), "{:?}: the restarted node logged errors:\n{}", db.backend, node.stderr());
    if left.is_some_and(|(_, dirty)| dirty > 0) {
        assert!(node.stderr().contains("partially applied"), "{:?}: the dirty row was not reported:\n{}", db.backend, node.stderr());
    }
    assert_eq!(migration_rows(db).await, Some((known_migrations(), 0)), "{:?}", db.backend);
    // The whole schema is there: the publisher lists APIs (from tables of the later migrations).
    let auth = format!("Basic {}", base64_encode("admin:admin"));
    let apis = apim_test_support::http::request("GET", &format!("{https}/api/am/publisher/v4/apis"), &[("authorization", &auth)], "")
        .await
        .expect("publisher");
    assert_eq!(apis.status, 200, "{:?}: {}", db.backend, apis.body);
    node.terminate();
}
