//! End-to-end: the real `apim` binary, real sockets, real databases.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use apim_test_support::db::{Backend, admin_exec, admin_url};
use apim_test_support::process::{Node, free_offset};
use apim_test_support::{TempDir, fixtures_dir, http, unique};

mod analytics;
mod cluster;
mod edge;
mod endpoint_certificates;
mod exporters;
mod gateway;
mod hardening;
mod keymanagers;
mod migrations;
mod mtls;
mod products;
mod readiness;
mod seeds;
mod shutdown;
mod throttle;

pub(crate) fn apim() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_apim"))
}

/// A PKCS#12 keystore shared by several nodes (alias and passwords `password`) with every host name they are
/// reached by: what an operator converts WSO2's shared keystore into. False when keytool is missing.
pub(crate) fn shared_keystore(dir: &Path, file: &str, password: &str, hosts: &[&str]) -> bool {
    let san = format!("SAN={}", hosts.iter().map(|h| format!("dns:{h}")).collect::<Vec<_>>().join(","));
    std::process::Command::new("keytool")
        .args(["-genkeypair", "-alias", password, "-keyalg", "RSA", "-keysize", "2048", "-storetype", "PKCS12", "-keystore", file])
        .args(["-storepass", password, "-keypass", password, "-dname", "CN=apim.test", "-validity", "2", "-ext", &san])
        .current_dir(dir)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs statements as the MariaDB admin when dropped (the test's databases go however the test ends).
pub(crate) struct Cleanup(pub(crate) String, pub(crate) Vec<String>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let (url, stmts) = (self.0.clone(), self.1.clone());
        let _ = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map(|rt| rt.block_on(admin_exec(Backend::MySql, &url, &stmts)))
        })
        .join();
    }
}

pub(crate) fn seed(name: &str) -> PathBuf {
    fixtures_dir().join("seed-configs").join(name)
}

fn run(args: &[&str], cwd: &Path) -> std::process::Output {
    std::process::Command::new(apim()).args(args).current_dir(cwd).output().expect("run apim")
}

pub(crate) async fn wait_ready(url: &str, timeout: Duration) -> http::Response {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(r) = http::get(&format!("{url}/health/ready")).await {
            if r.status == 200 || Instant::now() > deadline {
                return r;
            }
        } else if Instant::now() > deadline {
            panic!("{url} never answered");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A ready `apim all-in-one` (embedded default) in a fresh directory on a free port offset: the directory, the
/// process, and the management HTTPS and HTTP base URLs.
async fn ready_all_in_one(prefix: &str) -> (TempDir, Node, String, String) {
    let dir = TempDir::new(prefix);
    let offset = free_offset(&[9443, 9763, 8280, 8243, 9099, 8099]);
    let mut node = Node::spawn(&apim(), &["all-in-one", &format!("-DportOffset={offset}"), "--bind", "127.0.0.1"], dir.path());
    let https = node.url("management-https", Duration::from_secs(20));
    let http_url = node.url("management-http", Duration::from_secs(5));
    let ready = wait_ready(&https, Duration::from_secs(20)).await;
    assert_eq!(ready.status, 200, "{}\n{}", ready.body, node.stderr());
    (dir, node, https, http_url)
}

/// A node starts itself again with mimalloc's purge delay at 10 ms, so what a sync frees goes back to the system;
/// an operator's own setting stands.
#[tokio::test]
async fn a_node_restarts_itself_to_give_freed_memory_back_unless_told_otherwise() {
    let environ = |node: &Node| std::fs::read(format!("/proc/{}/environ", node.pid())).expect("environ");
    let delay = |environ: &[u8]| {
        environ.split(|b| *b == 0).find_map(|v| v.strip_prefix(b"MIMALLOC_PURGE_DELAY=")).map(|v| String::from_utf8_lossy(v).into_owned())
    };
    let (_dir, node, _, _) = ready_all_in_one("apim-purge").await;
    assert_eq!(delay(&environ(&node)).as_deref(), Some("10"), "{}", node.stderr());
    assert!(!node.stderr().contains("could not restart"), "{}", node.stderr());

    let dir = TempDir::new("apim-purge-set");
    let offset = free_offset(&[9443, 9763, 8280, 8243, 9099, 8099]);
    let port_offset = format!("-DportOffset={offset}");
    let args = ["all-in-one", &port_offset, "--bind", "127.0.0.1"];
    let mut node = Node::spawn_with_env(&apim(), &args, dir.path(), &[("MIMALLOC_PURGE_DELAY", "25")]);
    node.url("management-http", Duration::from_secs(20));
    assert_eq!(delay(&environ(&node)).as_deref(), Some("25"), "{}", node.stderr());
    node.terminate();
}

#[test]
fn config_check_accepts_every_seed_and_masks_secrets() {
    let dir = TempDir::new("apim-check");
    let mut count = 0;
    for entry in std::fs::read_dir(fixtures_dir().join("seed-configs")).expect("seed dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        count += 1;
        let out = run(&["config", "check", "-c", path.to_str().expect("utf8")], dir.path());
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
        for line in stdout.lines().filter(|l| l.to_ascii_lowercase().contains("password =")) {
            assert!(line.ends_with("\"********\""), "{}: unmasked `{line}`", path.display());
        }
    }
    assert!(count >= 12);
    let out = run(&["config", "check", "-c", seed("001-control-plane-ha.toml").to_str().expect("utf8")], dir.path());
    assert!(String::from_utf8_lossy(&out.stdout).contains("base_path = \"https://api.am.wso2.com:9443\""));
}

#[test]
fn config_check_rejects_broken_variants_with_line_and_key() {
    let dir = TempDir::new("apim-check");
    let base = std::fs::read_to_string(seed("001-control-plane-single.toml")).expect("seed");
    let cases = [
        (base.replace("offset=0", "offset = \"x\""), "deployment.toml:6:10", "server.offset"),
        (base.replace("[keystore.tls]", "[keystore.tls"), "deployment.toml:32:14", "malformed TOML"),
        (base.replacen("type = \"mysql\"", "type = \"db2\"", 1), "deployment.toml:17:", "database.apim_db.type"),
        (base.replace("offset=0", "offset=60000"), "deployment.toml:6:", "beyond 65535"),
        (base.replace("$ref{super_admin.password}", "$ref{super_admin.secret}"), "deployment.toml:", "apim.key_manager.password"),
    ];
    for (text, location, key) in cases {
        std::fs::write(dir.path().join("deployment.toml"), &text).expect("write");
        let out = run(&["config", "check", "-c", "deployment.toml"], dir.path());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{stderr}");
        assert!(stderr.contains(location) && stderr.contains(key), "expected {location} and {key} in:\n{stderr}");
        assert!(out.stdout.is_empty());
    }
    // --strict turns unsupported keys into errors; without it they are warnings with a line.
    let km = seed("000-key-manager.toml");
    let out = run(&["config", "check", "-c", km.to_str().expect("utf8")], dir.path());
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("000-key-manager.toml:48:2: key `service_provider` is not supported"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["config", "check", "--strict", "-c", km.to_str().expect("utf8")], dir.path());
    assert_eq!(out.status.code(), Some(64));
}

/// A keystore or truststore file that does not exist is a configuration error at the key that names it, for
/// `config check` as for start-up; the default names may be absent (a certificate is generated, no truststore).
#[test]
fn config_check_reports_missing_keystore_and_truststore_files() {
    let dir = TempDir::new("apim-check-files");
    let text = "[server]\nhostname = \"localhost\"\n\n[keystore.tls]\nfile_name = \"tls/missing.p12\"\ntype = \"PKCS12\"\npassword = \"x\"\n\n\
                [truststore]\nfile_name =   \"gone.pem\"\npassword = \"x\"\n";
    std::fs::write(dir.path().join("deployment.toml"), text).expect("write");
    let out = run(&["config", "check", "-c", "deployment.toml"], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert!(out.stdout.is_empty());
    for (location, file, key) in [
        ("deployment.toml:5:13", "tls/missing.p12", "keystore.tls.file_name"),
        ("deployment.toml:10:15", "gone.pem", "truststore.file_name"),
    ] {
        assert!(
            stderr.contains(location) && stderr.contains(&format!("file `{file}` not found")) && stderr.contains(&format!("(key `{key}`)")),
            "expected {location}, {file} and {key} in:\n{stderr}"
        );
    }

    // Present (beside the configuration file) or the defaults: accepted.
    std::fs::create_dir_all(dir.path().join("tls")).expect("mkdir");
    std::fs::write(dir.path().join("tls/missing.p12"), b"not checked here").expect("write");
    std::fs::write(dir.path().join("gone.pem"), b"not checked here").expect("write");
    let out = run(&["config", "check", "-c", "deployment.toml"], dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let defaults = "[keystore.tls]\nfile_name = \"wso2carbon.jks\"\n[truststore]\nfile_name = \"client-truststore.jks\"\n";
    std::fs::write(dir.path().join("defaults.toml"), defaults).expect("write");
    let out = run(&["config", "check", "-c", "defaults.toml"], dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test]
async fn all_in_one_embedded_default_starts_serves_and_stops() {
    let dir = TempDir::new("apim-aio");
    let offset = free_offset(&[9443, 9763, 8280, 8243, 9099, 8099]);
    let mut node = Node::spawn(&apim(), &["all-in-one", &format!("-DportOffset={offset}"), "--bind", "127.0.0.1"], dir.path());
    let https = node.url("management-https", Duration::from_secs(20));
    let http_url = node.url("management-http", Duration::from_secs(5));
    assert_eq!(https, format!("https://127.0.0.1:{}", 9443 + offset));
    assert_eq!(http_url, format!("http://127.0.0.1:{}", 9763 + offset));
    let ready = wait_ready(&https, Duration::from_secs(20)).await;
    assert_eq!(ready.status, 200, "{}", ready.body);
    let report = ready.json();
    assert_eq!(report["status"], "ready");
    assert_eq!(report["roles"].as_array().map(|a| a.len()), Some(4));
    assert!(ready.peer_certificate.is_some(), "served over TLS with the generated certificate");
    assert_eq!(http::get(&format!("{http_url}/health/live")).await.expect("live").status, 200);
    assert!(dir.path().join("data/apim_db.db").exists() && dir.path().join("data/tls/localhost.pem").exists());
    assert!(node.stderr().contains("SECURITY WARNING: the super admin is admin/admin"));
    // SIGTERM: exit code 0 within terminate()'s bounded wait (a hang fails here; nothing is timed).
    let (status, _) = node.terminate();
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{}", node.stderr());

    // A restart reuses the certificate and the admin.
    let mut node = Node::spawn(&apim(), &["all-in-one", &format!("-DportOffset={offset}"), "--bind", "127.0.0.1"], dir.path());
    let https2 = node.url("management-https", Duration::from_secs(20));
    let again = wait_ready(&https2, Duration::from_secs(20)).await;
    assert_eq!(again.peer_certificate, ready.peer_certificate);
    let (status, _) = node.terminate();
    assert_eq!(status.and_then(|s| s.code()), Some(0));
}

#[test]
fn jks_keystore_is_refused_with_the_keytool_command() {
    let dir = TempDir::new("apim-jks");
    // A real JKS when keytool is there; its magic number otherwise.
    let made = std::process::Command::new("keytool")
        .args([
            "-genkeypair",
            "-keystore",
            "wso2carbon.jks",
            "-storetype",
            "JKS",
            "-storepass",
            "wso2carbon",
            "-keypass",
            "wso2carbon",
            "-alias",
            "wso2carbon",
            "-keyalg",
            "RSA",
            "-dname",
            "CN=localhost",
            "-validity",
            "30",
        ])
        .current_dir(dir.path())
        .output()
        .is_ok_and(|o| o.status.success());
    if !made {
        std::fs::write(dir.path().join("wso2carbon.jks"), [0xFE, 0xED, 0xFE, 0xED, 0, 0, 0, 2]).expect("write");
    }
    let cfg = "[server]\nhostname = \"localhost\"\noffset = 7\n[keystore.tls]\nfile_name = \"wso2carbon.jks\"\ntype = \"JKS\"\npassword = \"wso2carbon\"\n[database.apim_db]\ntype = \"h2\"\n[database.shared_db]\ntype = \"h2\"\n";
    std::fs::write(dir.path().join("deployment.toml"), cfg).expect("write");
    let out = run(&["key-manager", "-c", "deployment.toml"], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert!(stderr.contains("keytool -importkeystore") && stderr.contains("-deststoretype PKCS12"), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("listening"), "no port may be bound");
}

#[tokio::test]
async fn pkcs12_keystore_is_served() {
    let dir = TempDir::new("apim-p12");
    let made = std::process::Command::new("keytool")
        .args([
            "-genkeypair",
            "-keystore",
            "tls.p12",
            "-storetype",
            "PKCS12",
            "-storepass",
            "changeit",
            "-alias",
            "tls",
            "-keyalg",
            "RSA",
            "-dname",
            "CN=gw.example.test",
            "-validity",
            "30",
        ])
        .current_dir(dir.path())
        .output()
        .is_ok_and(|o| o.status.success());
    if !made {
        assert!(!apim_test_support::under_ci(), "keytool is needed under CI");
        eprintln!("skipping: keytool not available");
        return;
    }
    let offset = free_offset(&[9443, 9763, 8280, 8243, 9099, 8099]);
    let cfg = format!(
        "[server]\nhostname = \"gw.example.test\"\noffset = {offset}\n[keystore.tls]\nfile_name = \"tls.p12\"\ntype = \"PKCS12\"\npassword = \"changeit\"\nalias = \"tls\"\n[database.shared_db]\ntype = \"h2\"\nurl = \"jdbc:h2:./db/SHARED\"\n"
    );
    std::fs::write(dir.path().join("deployment.toml"), cfg).expect("write");
    let mut node = Node::spawn(&apim(), &["gateway", "-c", "deployment.toml", "--bind", "127.0.0.1"], dir.path());
    let https = node.url("management-https", Duration::from_secs(20));
    // No control plane answers at WSO2's default event hub (localhost): live, not ready, saying why.
    let ready = wait_ready(&https, Duration::from_secs(3)).await;
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert!(ready.body.contains("waiting for the control plane"), "{}", ready.body);
    let exported = std::process::Command::new("keytool")
        .args(["-exportcert", "-keystore", "tls.p12", "-storepass", "changeit", "-alias", "tls"])
        .current_dir(dir.path())
        .output()
        .expect("export");
    assert_eq!(ready.peer_certificate.as_deref(), Some(exported.stdout.as_slice()), "the served certificate is the keystore's");
    assert_eq!(ready.json()["roles"], serde_json::json!(["gateway"]));
    node.terminate();
}

/// Seed 001's single-node control plane, verbatim but for unique database names, on the machine's MariaDB.
#[tokio::test]
async fn seed_control_plane_on_mariadb_with_hosts_file() {
    let Some(admin) = admin_url(Backend::MySql) else { return };
    let dir = TempDir::new("apim-cp");
    let (apim_db, shared_db) = (unique("apim_db"), unique("shared_db"));
    let setup = vec![
        format!("CREATE DATABASE {apim_db}"),
        format!("CREATE DATABASE {shared_db}"),
        "CREATE USER IF NOT EXISTS 'apimadmin'@'%' IDENTIFIED BY 'apimadmin'".to_string(),
        "CREATE USER IF NOT EXISTS 'sharedadmin'@'%' IDENTIFIED BY 'sharedadmin'".to_string(),
        "CREATE USER IF NOT EXISTS 'apimadmin'@'localhost' IDENTIFIED BY 'apimadmin'".to_string(),
        "CREATE USER IF NOT EXISTS 'sharedadmin'@'localhost' IDENTIFIED BY 'sharedadmin'".to_string(),
        format!("GRANT ALL ON {apim_db}.* TO 'apimadmin'@'%'"),
        format!("GRANT ALL ON {apim_db}.* TO 'apimadmin'@'localhost'"),
        format!("GRANT ALL ON {shared_db}.* TO 'sharedadmin'@'%'"),
        format!("GRANT ALL ON {shared_db}.* TO 'sharedadmin'@'localhost'"),
    ];
    admin_exec(Backend::MySql, &admin, &setup).await.expect("create databases and users");
    let _cleanup =
        Cleanup(admin.clone(), vec![format!("DROP DATABASE IF EXISTS {apim_db}"), format!("DROP DATABASE IF EXISTS {shared_db}")]);

    let text = std::fs::read_to_string(seed("001-control-plane-single.toml")).expect("seed");
    let text = text
        .replace("name = \"apim_db\"", &format!("name = \"{apim_db}\""))
        .replace("name = \"shared_db\"", &format!("name = \"{shared_db}\""));
    std::fs::write(dir.path().join("deployment.toml"), text).expect("write");
    let (_, _, db_host, db_port) = apim_test_support::db::parse_url(&admin);
    assert_eq!(db_port, 3306, "the seed names port 3306");
    std::fs::write(dir.path().join("hosts"), format!("{db_host} db.wso2.com\n127.0.0.1 cp.wso2.com km.wso2.com gw.wso2.com\n"))
        .expect("hosts");
    let offset = free_offset(&[9443, 9763, 8280, 8243, 9099, 8099]);
    let args = ["control-plane", "-c", "deployment.toml", "--hosts", "hosts", "--bind", "127.0.0.1"];
    let offset_arg = format!("-DportOffset={offset}");

    let mut node = Node::spawn(&apim(), &[&args[..], &[offset_arg.as_str()]].concat(), dir.path());
    let https = node.url("management-https", Duration::from_secs(20));
    let ready = wait_ready(&https, Duration::from_secs(30)).await;
    assert_eq!(ready.status, 200, "{}\n{}", ready.body, node.stderr());
    let (status, _) = node.terminate();
    assert_eq!(status.and_then(|s| s.code()), Some(0), "exits cleanly on SIGTERM within terminate()'s bounded wait");

    let admin_row = || async {
        let url = format!("mysql://sharedadmin:sharedadmin@{db_host}:3306/{shared_db}");
        let mut c = <sqlx::MySqlConnection as sqlx::Connection>::connect(&url).await.expect("connect shared_db");
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT id, password_hash FROM um_user WHERE username = 'admin'").fetch_all(&mut c).await.expect("query");
        rows
    };
    let first = admin_row().await;
    assert_eq!(first.len(), 1);

    // Restart: the admin is neither duplicated nor reset.
    let mut node = Node::spawn(&apim(), &[&args[..], &[offset_arg.as_str()]].concat(), dir.path());
    let https = node.url("management-https", Duration::from_secs(20));
    assert_eq!(wait_ready(&https, Duration::from_secs(30)).await.status, 200);
    node.terminate();
    assert_eq!(admin_row().await, first);

    // Without the hosts file: a clear error naming db.wso2.com:3306, unready, no panic.
    let offset2 = free_offset(&[9443, 9763, 8280, 8243, 9099, 8099]);
    let mut node = Node::spawn(
        &apim(),
        &["control-plane", "-c", "deployment.toml", "--bind", "127.0.0.1", &format!("-DportOffset={offset2}")],
        dir.path(),
    );
    let https = node.url("management-https", Duration::from_secs(20));
    let deadline = Instant::now() + Duration::from_secs(20);
    while !node.stderr().contains("db.wso2.com:3306") && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let resp = http::get(&format!("{https}/health/ready")).await.expect("ready answers");
    assert_eq!(resp.status, 503);
    let reason = resp.json()["checks"]["apim_db"]["reason"].as_str().unwrap_or_default().to_string();
    assert!(reason.contains("db.wso2.com:3306") && reason.contains("not resolved"), "{reason}");
    let log = node.stderr();
    assert!(log.contains("apim_db: cannot connect to db.wso2.com:3306: host name not resolved"), "{log}");
    assert!(!log.contains("panicked"));
    assert!(node.is_running());
    let (status, _) = node.terminate();
    assert_eq!(status.and_then(|s| s.code()), Some(0));
}

#[test]
fn missing_keystore_and_bad_hosts_file_fail_before_binding() {
    let dir = TempDir::new("apim-missing");
    std::fs::write(
        dir.path().join("deployment.toml"),
        "[keystore.tls]\nfile_name = \"missing.p12\"\ntype = \"PKCS12\"\npassword = \"x\"\n",
    )
    .expect("write");
    let out = run(&["gateway", "-c", "deployment.toml", "-DportOffset=3"], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert!(stderr.contains("keystore file `missing.p12` not found") && stderr.contains("(key `keystore.tls.file_name`)"), "{stderr}");
    assert!(stderr.contains("deployment.toml:2:13"), "the key that names it: {stderr}");
    assert!(out.stdout.is_empty());

    std::fs::write(dir.path().join("hosts"), "127.0.0.1 ok.example\nnot-an-address db.wso2.com\n").expect("write");
    let out = run(&["all-in-one", "--hosts", "hosts"], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert!(stderr.contains("hosts:2: `not-an-address` is not an IP address"), "{stderr}");
}

/// A third-party OAuth2 client (Authlib, from PyPI) drives every grant against the real binary and verifies our
/// JWTs from `/oauth2/jwks` alone. `.ci/run` provides the interpreter in `APIM_PYTHON`.
#[tokio::test]
async fn third_party_oauth2_client_and_jwt_verifier() {
    let python = match std::env::var("APIM_PYTHON") {
        Ok(p) if !p.is_empty() => p,
        _ if apim_test_support::under_ci() => panic!("APIM_PYTHON must point at a Python with authlib and requests under CI"),
        _ => {
            eprintln!("skipping: APIM_PYTHON is not set (bash .ci/run sets it up)");
            return;
        }
    };
    let (dir, mut node, https, _) = ready_all_in_one("apim-interop").await;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/oauth_interop.py");
    // The client verifies TLS against the generated certificate (its PEM holds the key too: keep the cert only).
    let pem = std::fs::read_to_string(dir.path().join("data/tls/localhost.pem")).expect("generated certificate");
    let cert_end = pem.find("-----END CERTIFICATE-----").expect("certificate block") + "-----END CERTIFICATE-----".len();
    std::fs::write(dir.path().join("ca.pem"), format!("{}\n", &pem[..cert_end])).expect("write ca");
    let out = tokio::process::Command::new(&python)
        .arg(&script)
        .arg(&https)
        .arg("admin")
        .arg("admin")
        .env("REQUESTS_CA_BUNDLE", dir.path().join("ca.pem"))
        .output()
        .await
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}\n{}", String::from_utf8_lossy(&out.stderr), node.stderr());
    assert!(stdout.contains("interop: all checks passed"), "{stdout}");
    node.terminate();
}

/// The publisher API with bearer tokens from the resident key manager, through the real binary.
#[tokio::test]
async fn publisher_api_with_tokens_from_the_resident_key_manager() {
    let (_dir, mut node, https, _) = ready_all_in_one("apim-pub").await;
    let admin = "Basic YWRtaW46YWRtaW4="; // admin:admin
    let reg = http::request(
        "POST",
        &format!("{https}/client-registration/v0.17/register"),
        &[("authorization", admin), ("content-type", "application/json")],
        r#"{"clientName":"publisher-script","owner":"admin","grantType":"password client_credentials","saasApp":true}"#,
    )
    .await
    .expect("register");
    assert_eq!(reg.status, 200, "{}", reg.body);
    let (id, secret) =
        (reg.json()["clientId"].as_str().expect("id").to_string(), reg.json()["clientSecret"].as_str().expect("secret").to_string());
    let basic = format!("Basic {}", base64_encode(&format!("{id}:{secret}")));
    let token = |scope: &'static str| {
        let basic = basic.clone();
        let https = https.clone();
        async move {
            let r = http::request(
                "POST",
                &format!("{https}/oauth2/token"),
                &[("authorization", &basic), ("content-type", "application/x-www-form-urlencoded")],
                &format!("grant_type=password&username=admin&password=admin&scope={scope}"),
            )
            .await
            .expect("token");
            r.json()["access_token"].as_str().expect("token").to_string()
        }
    };
    let create_token = token("apim:api_create%20apim:api_view").await;
    let view_only = token("apim:api_view").await;
    let body = r#"{"name":"Echo","context":"/echo","version":"v1","endpointConfig":{"endpoint_type":"http","production_endpoints":{"url":"http://127.0.0.1:1/"}}}"#;
    let post = |t: String| {
        let url = format!("{https}/api/am/publisher/v4/apis");
        async move {
            http::request("POST", &url, &[("authorization", &format!("Bearer {t}")), ("content-type", "application/json")], body)
                .await
                .expect("post")
        }
    };
    assert_eq!(post(view_only.clone()).await.status, 403, "the token lacks apim:api_create");
    let created = post(create_token.clone()).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let list = http::request("GET", &format!("{https}/api/am/publisher/v4/apis"), &[("authorization", &format!("Bearer {view_only}"))], "")
        .await
        .expect("list");
    assert_eq!(list.json()["count"], 1);
    let bogus = http::request("GET", &format!("{https}/api/am/publisher/v4/apis"), &[("authorization", "Bearer not-a-token")], "")
        .await
        .expect("list");
    assert_eq!(bogus.status, 401);
    node.terminate();
}

/// A form POST to the key manager's `/oauth2/{endpoint}` with the client's credentials (HTTP Basic).
pub(crate) async fn oauth_form(base: &str, endpoint: &str, client_id: &str, secret: &str, body: &str) -> http::Response {
    let basic = format!("Basic {}", base64_encode(&format!("{client_id}:{secret}")));
    http::request(
        "POST",
        &format!("{base}/oauth2/{endpoint}"),
        &[("authorization", &basic), ("content-type", "application/x-www-form-urlencoded")],
        body,
    )
    .await
    .expect("oauth2 request")
}

pub(crate) fn base64_encode(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// The management flow of the README's quickstart, through the real binary: create an API, revise, deploy to
/// Default, publish; create an application, generate keys (resident key manager), get a token, subscribe with Gold.
#[tokio::test]
async fn publish_subscribe_and_get_keys_through_the_binary() {
    let (_dir, mut node, https, _) = ready_all_in_one("apim-flow").await;
    let admin = format!("Basic {}", base64_encode("admin:admin"));
    let call = |method: &'static str, path: String, body: String| {
        let (https, admin) = (https.clone(), admin.clone());
        async move {
            http::request(method, &format!("{https}{path}"), &[("authorization", &admin), ("content-type", "application/json")], &body)
                .await
                .expect("request")
        }
    };
    let pb = "/api/am/publisher/v4";
    let dp = "/api/am/devportal/v3";
    let api = call("POST", format!("{pb}/apis"), r#"{"name":"PizzaShack","context":"/pizzashack","version":"1.0.0","policies":["Gold","Bronze"],"endpointConfig":{"endpoint_type":"http","production_endpoints":{"url":"http://127.0.0.1:1/pizza"}},"operations":[{"target":"/menu","verb":"GET"}]}"#.into()).await;
    assert_eq!(api.status, 201, "{}", api.body);
    let api_id = api.json()["id"].as_str().expect("id").to_string();
    let rev = call("POST", format!("{pb}/apis/{api_id}/revisions"), r#"{"description":"first"}"#.into()).await.json()["id"]
        .as_str()
        .expect("rev")
        .to_string();
    let dep = call(
        "POST",
        format!("{pb}/apis/{api_id}/deploy-revision?revisionId={rev}"),
        r#"[{"name":"Default","displayOnDevportal":true}]"#.into(),
    )
    .await;
    assert_eq!(dep.status, 201, "{}", dep.body);
    assert_eq!(call("POST", format!("{pb}/apis/change-lifecycle?action=Publish&apiId={api_id}"), String::new()).await.status, 200);

    // The portal lists it, even to anonymous visitors.
    let anon = http::get(&format!("{https}{dp}/apis")).await.expect("portal");
    assert_eq!(anon.json()["list"][0]["name"], "PizzaShack");
    let app = call(
        "POST",
        format!("{dp}/applications"),
        r#"{"name":"PizzaApp","throttlingPolicy":"10PerMin","description":"orders pizza","tokenType":"JWT"}"#.into(),
    )
    .await;
    assert_eq!(app.status, 201, "{}", app.body);
    let app_id = app.json()["applicationId"].as_str().expect("app").to_string();
    let keys = call(
        "POST",
        format!("{dp}/applications/{app_id}/generate-keys"),
        r#"{"keyType":"PRODUCTION","grantTypesToBeSupported":["client_credentials","password"],"callbackUrl":""}"#.into(),
    )
    .await;
    assert_eq!(keys.status, 200, "{}", keys.body);
    let k = keys.json();
    let (ck, cs) = (k["consumerKey"].as_str().expect("ck").to_string(), k["consumerSecret"].as_str().expect("cs").to_string());
    assert!(k["token"]["accessToken"].as_str().is_some_and(|t| t.split('.').count() == 3), "a JWT comes with the keys");
    // The keys work at the token endpoint, and through the portal's generate-token.
    let t = oauth_form(&https, "token", &ck, &cs, "grant_type=client_credentials").await;
    assert_eq!(t.status, 200, "{}", t.body);
    let key_id = k["keyMappingId"].as_str().expect("mapping").to_string();
    let gt = call(
        "POST",
        format!("{dp}/applications/{app_id}/oauth-keys/{key_id}/generate-token"),
        format!(r#"{{"consumerSecret":"{cs}","scopes":[],"validityPeriod":600}}"#),
    )
    .await;
    assert_eq!((gt.status, gt.json()["validityTime"].as_i64()), (200, Some(600)), "the asked validity: {}", gt.body);
    let exp = |token: &str| {
        use base64::Engine;
        let claims = token.split('.').nth(1).and_then(|c| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(c).ok());
        let claims: serde_json::Value = claims.and_then(|c| serde_json::from_slice(&c).ok()).unwrap_or_default();
        claims["exp"].as_i64().unwrap_or(0) - claims["iat"].as_i64().unwrap_or(0)
    };
    assert_eq!(exp(gt.json()["accessToken"].as_str().unwrap_or("")), 600, "the JWT lives as long as it says");
    // Longer than the key manager's configured lifetime: the configured one (signing keys outlive no token).
    let long = format!(r#"{{"consumerSecret":"{cs}","validityPeriod":99999999}}"#);
    let gt = call("POST", format!("{dp}/applications/{app_id}/oauth-keys/{key_id}/generate-token"), long).await;
    assert_eq!((gt.status, gt.json()["validityTime"].as_i64()), (200, Some(3600)), "{}", gt.body);
    for bad in ["0", "-1", "\"soon\"", "1e99"] {
        let body = format!(r#"{{"consumerSecret":"{cs}","validityPeriod":{bad}}}"#);
        let r = call("POST", format!("{dp}/applications/{app_id}/oauth-keys/{key_id}/generate-token"), body).await;
        assert_eq!((r.status, r.json()["error"][0]["message"].as_str()), (400, Some("validityPeriod")), "{bad}: {}", r.body);
    }
    // WSO2's `validity_period` at the token endpoint itself.
    let t = oauth_form(&https, "token", &ck, &cs, "grant_type=client_credentials&validity_period=120").await;
    assert_eq!((t.status, t.json()["expires_in"].as_i64()), (200, Some(120)), "{}", t.body);
    let t = oauth_form(&https, "token", &ck, &cs, "grant_type=client_credentials&validity_period=soon").await;
    assert_eq!((t.status, t.json()["error"].as_str()), (400, Some("invalid_request")), "{}", t.body);
    assert_eq!(call("POST", format!("{dp}/applications/{app_id}/generate-keys"), r#"{"keyType":"PRODUCTION"}"#.into()).await.status, 409);

    // The keys' grant types and callback change at the resident key manager: without client_credentials the
    // token endpoint refuses that grant, and gives it again once it is back.
    let keys_path = format!("{dp}/applications/{app_id}/oauth-keys/{key_id}");
    let r = call("PUT", keys_path.clone(), r#"{"supportedGrantTypes":["password"],"callbackUrl":"https://app.example/cb"}"#.into()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (r.json()["supportedGrantTypes"].clone(), r.json()["callbackUrl"].clone()),
        (serde_json::json!(["password"]), serde_json::json!("https://app.example/cb"))
    );
    assert_eq!(call("GET", keys_path.clone(), String::new()).await.json(), r.json());
    let t = oauth_form(&https, "token", &ck, &cs, "grant_type=client_credentials").await;
    assert_eq!(t.status, 400, "{}", t.body);
    for (body, field) in [
        (r#"{"supportedGrantTypes":["implicit"]}"#, "supportedGrantTypes"),
        (r#"{"supportedGrantTypes":["authorization_code"],"callbackUrl":""}"#, "callbackUrl"),
        (r#"{"callbackUrl":"not a url"}"#, "callbackUrl"),
    ] {
        let r = call("PUT", keys_path.clone(), body.into()).await;
        assert_eq!((r.status, r.json()["error"][0]["message"].as_str()), (400, Some(field)), "{body}: {}", r.body);
    }
    let r = call("PUT", keys_path.clone(), r#"{"supportedGrantTypes":["client_credentials","password"]}"#.into()).await;
    assert_eq!((r.status, r.json()["callbackUrl"].as_str()), (200, Some("https://app.example/cb")), "{}", r.body);
    assert_eq!(oauth_form(&https, "token", &ck, &cs, "grant_type=client_credentials").await.status, 200);

    // Clean-up removes keys whole: the client is gone at the key manager, and keys of that type can be made again.
    let sandbox = call("POST", format!("{dp}/applications/{app_id}/generate-keys"), r#"{"keyType":"SANDBOX"}"#.into()).await.json();
    let (sck, scs, sid) = (
        sandbox["consumerKey"].as_str().expect("ck").to_string(),
        sandbox["consumerSecret"].as_str().expect("cs").to_string(),
        sandbox["keyMappingId"].as_str().expect("mapping").to_string(),
    );
    let r = call("POST", format!("{dp}/applications/{app_id}/oauth-keys/{sid}/clean-up"), String::new()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(oauth_form(&https, "token", &sck, &scs, "grant_type=client_credentials").await.status, 401);
    let listed = call("GET", format!("{dp}/applications/{app_id}/oauth-keys"), String::new()).await.json();
    assert_eq!(listed["count"], 1, "{listed}");
    assert_eq!(call("POST", format!("{dp}/applications/{app_id}/oauth-keys/{sid}/clean-up"), String::new()).await.status, 404);
    assert_eq!(call("POST", format!("{dp}/applications/{app_id}/generate-keys"), r#"{"keyType":"SANDBOX"}"#.into()).await.status, 200);

    let sub = call(
        "POST",
        format!("{dp}/subscriptions"),
        format!(r#"{{"apiId":"{api_id}","applicationId":"{app_id}","throttlingPolicy":"Gold"}}"#),
    )
    .await;
    assert_eq!(sub.status, 201, "{}", sub.body);
    assert_eq!(sub.json()["status"], "UNBLOCKED");
    let again = call(
        "POST",
        format!("{dp}/subscriptions"),
        format!(r#"{{"apiId":"{api_id}","applicationId":"{app_id}","throttlingPolicy":"Gold"}}"#),
    )
    .await;
    assert_eq!(again.status, 409);
    let wrong_tier = call(
        "POST",
        format!("{dp}/subscriptions"),
        format!(r#"{{"apiId":"{api_id}","applicationId":"{app_id}","throttlingPolicy":"Silver"}}"#),
    )
    .await;
    assert_eq!(wrong_tier.status, 400, "{}", wrong_tier.body);
    let subs = call("GET", format!("{dp}/subscriptions?applicationId={app_id}"), String::new()).await.json();
    assert_eq!(subs["list"][0]["apiInfo"]["name"], "PizzaShack");

    // Deleting the application deletes its client at the key manager: the keys stop working.
    assert_eq!(call("DELETE", format!("{dp}/applications/{app_id}"), String::new()).await.status, 200);
    let t = oauth_form(&https, "token", &ck, &cs, "grant_type=client_credentials").await;
    assert_eq!(t.status, 401);
    node.terminate();
}

/// Schemathesis (PyPI) fuzzes the three REST APIs of a running control plane from our OpenAPI documents: no
/// request may produce a 5xx, and every response must conform to the document's schema.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_errors_and_responses_conform() {
    let st = match std::env::var("APIM_SCHEMATHESIS") {
        Ok(p) if !p.is_empty() => p,
        _ if apim_test_support::under_ci() => panic!("APIM_SCHEMATHESIS must point at schemathesis under CI"),
        _ => {
            eprintln!("skipping: APIM_SCHEMATHESIS is not set (bash .ci/run sets it up)");
            return;
        }
    };
    let (dir, mut node, _, http_url) = ready_all_in_one("apim-st").await;
    for api in ["publisher/v4", "devportal/v3", "admin/v4"] {
        let base = format!("{http_url}/api/am/{api}");
        // Schemathesis keeps a cache in its working directory: keep it out of the source tree.
        let out = tokio::process::Command::new(&st)
            .current_dir(dir.path())
            .args(["run", &format!("{base}/swagger.yaml"), "--url", &base, "-a", "admin:admin"])
            .args(["--checks", "not_a_server_error,response_schema_conformance"])
            .args(["-n", "5", "--max-time", "40", "--seed", "1", "--no-color", "--phases", "coverage,fuzzing", "-w", "2"])
            .output()
            .await
            .expect("run schemathesis");
        let text = String::from_utf8_lossy(&out.stdout);
        // Exit codes also cover schemathesis' own occasional "inconsistent results" errors; what matters is
        // that no check failed.
        assert!(text.contains("generated"), "schemathesis did not run for {api}:\n{text}\n{}", String::from_utf8_lossy(&out.stderr));
        for failure in ["Server error", "Response violates schema"] {
            assert!(!text.contains(failure), "{api}: {failure}\n{text}");
        }
    }
    assert!(!node.stderr().contains("panicked"));
    node.terminate();
}

/// The README's quickstart script runs as written against the real binary.
#[tokio::test]
async fn readme_quickstart_script_runs() {
    let (dir, mut node, https, _) = ready_all_in_one("apim-qs").await;
    let gateway = node.url("gateway-http", Duration::from_secs(5));
    // The example's backend URL, pointed at a real backend of the test.
    let backend = apim_test_support::backend::spawn("127.0.0.1:0".parse().expect("addr")).await.expect("backend");
    let examples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let spec = std::fs::read_to_string(examples.join("pizzashack.yaml")).expect("example").replace("localhost:8080", &backend.to_string());
    let spec_file = dir.path().join("pizzashack.yaml");
    std::fs::write(&spec_file, spec).expect("write spec");
    let run = || {
        tokio::process::Command::new("bash")
            .arg(examples.join("quickstart.sh"))
            .args([&https, "admin:admin", &gateway])
            .arg(&spec_file)
            .output()
    };
    let out = run().await.expect("run quickstart");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}\n{}", String::from_utf8_lossy(&out.stderr), node.stderr());
    assert!(stdout.contains("state:        Published") && stdout.contains("subscription: Gold, UNBLOCKED"), "{stdout}");
    assert!(stdout.contains("through the gateway: 200") && stdout.contains("\"path\":\"/pizzashack/menu\""), "{stdout}");
    let counted = stdout.lines().find_map(|l| l.strip_prefix("analytics:")).and_then(|l| l.split_whitespace().next()?.parse::<u64>().ok());
    assert!(counted.is_some_and(|n| n >= 1), "the call shows in the API's analytics: {stdout}");
    // A second run uses the API the first made, with an application of its own.
    let again = run().await.expect("run quickstart again");
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(again.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&again.stderr));
    assert!(stdout.contains("there from an earlier run") && stdout.contains("through the gateway: 200"), "{stdout}");
    node.terminate();
    // With the node gone, the script says so in one line instead of a traceback.
    let gone = run().await.expect("run quickstart without a node");
    let stderr = String::from_utf8_lossy(&gone.stderr);
    assert!(!gone.status.success() && stderr.contains("cannot reach") && !stderr.contains("Traceback"), "{stderr}");
}

/// A control plane without a resident key manager registers application clients at `[apim.key_manager]` over
/// HTTPS (TLS verified: both nodes share the keystore, as the seeds do) and validates REST bearer tokens there; the
/// two nodes have separate databases, so they meet only through HTTP. With the key manager gone, key generation
/// is a 503 that names it.
#[tokio::test]
async fn control_plane_uses_a_remote_key_manager() {
    let dir = TempDir::new("apim-rkm");
    let km_off = free_offset(&[9443, 9763]);
    let mut km = Node::spawn(
        &apim(),
        &["key-manager", "--data-dir", "shared", &format!("-DportOffset={km_off}"), "--bind", "127.0.0.1"],
        dir.path(),
    );
    let km_https = km.url("management-https", Duration::from_secs(20));
    assert_eq!(wait_ready(&km_https, Duration::from_secs(20)).await.status, 200, "{}", km.stderr());
    let cp_off = free_offset(&[9443, 9763]);
    std::fs::write(dir.path().join("hosts"), "127.0.0.1 km.apim.test localhost\n").expect("hosts");
    let cfg = format!(
        "[server]\nhostname = \"localhost\"\noffset = {cp_off}\n[super_admin]\nusername = \"admin\"\npassword = \"admin\"\ncreate_admin_account = true\n\
         [database.apim_db]\ntype = \"sqlite\"\nurl = \"jdbc:sqlite:cpdb/apim.db\"\n[database.shared_db]\ntype = \"sqlite\"\nurl = \"jdbc:sqlite:cpdb/shared.db\"\n\
         [apim.key_manager]\nservice_url = \"https://localhost:{}/services/\"\nusername = \"$ref{{super_admin.username}}\"\npassword = \"$ref{{super_admin.password}}\"\n",
        9443 + km_off
    );
    std::fs::create_dir_all(dir.path().join("cpdb")).expect("mkdir");
    std::fs::write(dir.path().join("cp.toml"), cfg).expect("write");
    let mut cp = Node::spawn(
        &apim(),
        &["control-plane", "-c", "cp.toml", "--data-dir", "shared", "--hosts", "hosts", "--bind", "127.0.0.1"],
        dir.path(),
    );
    let cp_https = cp.url("management-https", Duration::from_secs(20));
    assert_eq!(wait_ready(&cp_https, Duration::from_secs(20)).await.status, 200, "{}", cp.stderr());
    let admin = format!("Basic {}", base64_encode("admin:admin"));
    let call = |method: &'static str, path: String, auth: String, body: String| {
        let base = cp_https.clone();
        async move {
            http::request(method, &format!("{base}{path}"), &[("authorization", &auth), ("content-type", "application/json")], &body)
                .await
                .expect("request")
        }
    };
    let app = call(
        "POST",
        "/api/am/devportal/v3/applications".into(),
        admin.clone(),
        r#"{"name":"Remote","throttlingPolicy":"Unlimited"}"#.into(),
    )
    .await;
    assert_eq!(app.status, 201, "{}\n{}", app.body, cp.stderr());
    let app_id = app.json()["applicationId"].as_str().expect("id").to_string();
    let keys = call(
        "POST",
        format!("/api/am/devportal/v3/applications/{app_id}/generate-keys"),
        admin.clone(),
        r#"{"keyType":"PRODUCTION","grantTypesToBeSupported":["client_credentials","password"]}"#.into(),
    )
    .await;
    assert_eq!(keys.status, 200, "{}\n{}", keys.body, cp.stderr());
    let k = keys.json();
    let (ck, cs) = (k["consumerKey"].as_str().expect("ck").to_string(), k["consumerSecret"].as_str().expect("cs").to_string());
    // The client exists at the key manager: its token endpoint accepts the keys.
    let token =
        oauth_form(&km_https, "token", &ck, &cs, "grant_type=password&username=admin&password=admin&scope=apim:subscribe apim:app_manage")
            .await;
    assert_eq!(token.status, 200, "{}", token.body);
    let bearer = format!("Bearer {}", token.json()["access_token"].as_str().expect("token"));
    // The control plane checks the bearer token at the key manager.
    let listed = call("GET", "/api/am/devportal/v3/applications".into(), bearer.clone(), String::new()).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(call("GET", "/api/am/devportal/v3/applications".into(), "Bearer forged".into(), String::new()).await.status, 401);
    // Grant types change at the remote key manager (its DCR update): without password, that grant is refused.
    let key_id = k["keyMappingId"].as_str().expect("mapping").to_string();
    let r = call(
        "PUT",
        format!("/api/am/devportal/v3/applications/{app_id}/oauth-keys/{key_id}"),
        admin.clone(),
        r#"{"supportedGrantTypes":["client_credentials"]}"#.into(),
    )
    .await;
    assert_eq!(r.status, 200, "{}\n{}", r.body, cp.stderr());
    assert_eq!(oauth_form(&km_https, "token", &ck, &cs, "grant_type=password&username=admin&password=admin").await.status, 400);
    assert_eq!(oauth_form(&km_https, "token", &ck, &cs, "grant_type=client_credentials").await.status, 200);

    km.terminate();
    let other = call(
        "POST",
        "/api/am/devportal/v3/applications".into(),
        admin.clone(),
        r#"{"name":"Later","throttlingPolicy":"Unlimited"}"#.into(),
    )
    .await;
    let other_id = other.json()["applicationId"].as_str().expect("id").to_string();
    let down =
        call("POST", format!("/api/am/devportal/v3/applications/{other_id}/generate-keys"), admin, r#"{"keyType":"PRODUCTION"}"#.into())
            .await;
    assert_eq!(down.status, 503, "{}", down.body);
    assert!(
        down.body.contains("key manager https://localhost") && down.body.contains("unavailable") && down.body.contains("refused"),
        "{}",
        down.body
    );
    assert!(!cp.stderr().contains("panicked") && !km.stderr().contains("panicked"));
    cp.terminate();
}
