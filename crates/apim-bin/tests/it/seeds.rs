//! The seeds' own distributed topology: separate `apim` processes started from the seed samples unchanged, each
//! on a host of its own (a 127.0.0.x address named in a hosts file, so every node keeps the sample's ports even
//! though RabbitMQ holds 127.0.0.1:5672), on the MariaDB users and databases the samples name. The key manager
//! and the control plane of seed 001 have different databases, so they work together through HTTP alone; the
//! gateway has no API-management database and learns everything from the control plane.

use std::path::Path;
use std::time::Duration;

use apim_test_support::db::{Backend, admin_exec, admin_url};
use apim_test_support::process::Node;
use apim_test_support::{TempDir, http};
use serde_json::{Value, json};

use super::gateway::{Mgmt, code, eventually};
use super::{apim, base64_encode, oauth_form, seed, shared_keystore, wait_ready};

const CP: &str = "127.0.0.2";
const KM: &str = "127.0.0.3";
const GW: &str = "127.0.0.4";
const TM: &str = "127.0.0.5";

/// Drops the samples' databases when the test ends, however it ends.
struct Cleanup(String, Vec<String>);

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

/// A node's own directory holding its sample, verbatim, and the shared keystore.
fn node_dir(root: &Path, name: &str, sample: &str) -> std::path::PathBuf {
    let d = root.join(name);
    std::fs::create_dir_all(&d).expect("mkdir");
    std::fs::copy(seed(sample), d.join("deployment.toml")).expect("copy sample");
    std::fs::copy(root.join("wso2carbon.jks"), d.join("wso2carbon.jks")).expect("copy keystore");
    d
}

fn start(dir: &Path, role: &str, host: &str) -> Node {
    let hosts = dir.parent().expect("root").join("hosts");
    let hosts = hosts.to_str().expect("utf-8 path");
    Node::spawn(&apim(), &[role, "-c", "deployment.toml", "--hosts", hosts, "--bind", host], dir)
}

fn free(host: &str, ports: &[u16]) -> bool {
    ports.iter().all(|p| std::net::TcpListener::bind((host, *p)).is_ok())
}

fn multipart(fields: &[(&str, &str)]) -> (String, String) {
    let boundary = "apimseedboundary42";
    let mut body = String::new();
    for (name, value) in fields {
        let filename = if *name == "file" { "; filename=\"pizzashack.yaml\"" } else { "" };
        body.push_str(&format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"{filename}\r\n\r\n{value}\r\n"));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[tokio::test]
async fn seed_001_single_node_topology_on_its_own_hosts() {
    let Some(admin) = admin_url(Backend::MySql) else { return };
    let (_, _, db_host, db_port) = apim_test_support::db::parse_url(&admin);
    assert_eq!(db_port, 3306, "the samples name port 3306");
    for host in [CP, KM, GW, TM] {
        assert!(free(host, &[9443, 9763, 8280, 8243, 9099, 8099, 5672]), "{host} has a port of the samples taken");
    }
    let dir = TempDir::new("apim-seed001");
    if !shared_keystore(
        dir.path(),
        "wso2carbon.jks",
        "wso2carbon",
        &["cp.wso2.com", "km.wso2.com", "gw.wso2.com", "tm.wso2.com", "control-plane-host", "localhost"],
    ) {
        assert!(!apim_test_support::under_ci(), "keytool is needed under CI");
        eprintln!("skipping: keytool not available");
        return;
    }
    // The databases and users the samples name (the samples are the only users of these names here).
    let mut setup: Vec<String> = ["apim_db", "shared_db", "apimgt_db"]
        .iter()
        .flat_map(|d| [format!("DROP DATABASE IF EXISTS {d}"), format!("CREATE DATABASE {d}")])
        .collect();
    for (user, pass, dbs) in [
        ("apimadmin", "apimadmin", &["apim_db", "shared_db"][..]),
        ("sharedadmin", "sharedadmin", &["shared_db"]),
        ("apiadmin", "apimadmin", &["apimgt_db"]),
    ] {
        for host in ["%", "localhost"] {
            setup.push(format!("CREATE USER IF NOT EXISTS '{user}'@'{host}' IDENTIFIED BY '{pass}'"));
            for db in dbs {
                setup.push(format!("GRANT ALL ON {db}.* TO '{user}'@'{host}'"));
            }
        }
    }
    admin_exec(Backend::MySql, &admin, &setup).await.expect("create the samples' databases and users");
    let _cleanup =
        Cleanup(admin.clone(), ["apim_db", "shared_db", "apimgt_db"].iter().map(|d| format!("DROP DATABASE IF EXISTS {d}")).collect());
    std::fs::write(
        dir.path().join("hosts"),
        format!("{db_host} db.wso2.com\n{CP} cp.wso2.com control-plane-host\n{KM} km.wso2.com\n{GW} gw.wso2.com\n{TM} tm.wso2.com\n"),
    )
    .expect("hosts");

    let km_dir = node_dir(dir.path(), "km", "001-key-manager-single.toml");
    let cp_dir = node_dir(dir.path(), "cp", "001-control-plane-single.toml");
    let gw_dir = node_dir(dir.path(), "gw", "001-gateway-single.toml");
    let tm_dir = node_dir(dir.path(), "tm", "001-traffic-manager-single.toml");
    let mut km = start(&km_dir, "key-manager", KM);
    let mut cp = start(&cp_dir, "control-plane", CP);
    let mut gw = start(&gw_dir, "gateway", GW);
    let mut tm = start(&tm_dir, "traffic-manager", TM);
    let mut nodes = [&mut km, &mut cp, &mut gw, &mut tm];
    for n in nodes.iter_mut() {
        let https = n.url("management-https", Duration::from_secs(20));
        let ready = wait_ready(&https, Duration::from_secs(40)).await;
        assert_eq!(ready.status, 200, "{https}: {}\n{}", ready.body, n.stderr());
    }
    assert_eq!(cp.url("event-hub", Duration::from_secs(1)), format!("tcp://{CP}:5672"));

    // An API from an OpenAPI file, deployed to Default and published, through the control plane's REST API.
    let backend = apim_test_support::backend::spawn("127.0.0.1:0".parse().expect("addr")).await.expect("backend");
    let m = Mgmt { base: format!("https://{CP}:9443"), auth: format!("Basic {}", base64_encode("admin:admin")) };
    let definition =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/pizzashack.yaml")).expect("example");
    let props = json!({"context": "/pizzashack", "policies": ["Gold", "Unlimited"],
        "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": format!("http://{backend}/pizzashack")}}});
    let (ct, body) = multipart(&[("file", &definition), ("additionalProperties", &props.to_string())]);
    let r = http::request(
        "POST",
        &format!("{}/api/am/publisher/v4/apis/import-openapi", m.base),
        &[("authorization", &m.auth), ("content-type", &ct)],
        &body,
    )
    .await
    .expect("import");
    assert_eq!(r.status, 201, "{}", r.body);
    let api = r.json()["id"].as_str().expect("id").to_string();
    let pb = "/api/am/publisher/v4";
    let rev =
        m.ok("POST", &format!("{pb}/apis/{api}/revisions"), json!({"description": "seed"})).await["id"].as_str().expect("rev").to_string();
    m.ok("POST", &format!("{pb}/apis/{api}/deploy-revision?revisionId={rev}"), json!([{"name": "Default"}])).await;
    m.ok("POST", &format!("{pb}/apis/change-lifecycle?action=Publish&apiId={api}"), Value::Null).await;

    // Keys registered at the key manager through the control plane; tokens from the key manager.
    let km_base = format!("https://{KM}:9443");
    let menu = format!("http://{GW}:8280/pizzashack/1.0.0/menu");
    let mut tokens = Vec::new();
    for (name, token_type) in [("SeedJwt", "JWT"), ("SeedOpaque", "OAUTH")] {
        let app = m
            .ok(
                "POST",
                "/api/am/devportal/v3/applications",
                json!({"name": name, "throttlingPolicy": "Unlimited", "tokenType": token_type}),
            )
            .await;
        let app_id = app["applicationId"].as_str().expect("app").to_string();
        let (ck, cs) = m.keys(&app_id, "PRODUCTION").await;
        m.subscribe(&api, &app_id, "Gold").await;
        let t = oauth_form(&km_base, "token", &ck, &cs, "grant_type=client_credentials").await;
        assert_eq!(t.status, 200, "{}", t.body);
        let token = t.json()["access_token"].as_str().expect("token").to_string();
        let r = eventually(&menu, Some(&token), 200).await;
        assert_eq!(r.status, 200, "{name}: {}\n{}", r.body, gw.stderr());
        assert_eq!(r.json()["path"], "/pizzashack/menu");
        tokens.push((token, ck, cs));
    }
    assert_eq!(tokens[1].0.split('.').count(), 1, "the OAUTH application's token is opaque");

    // A revocation at the key manager reaches the gateway: key manager → control plane /notify → event hub.
    for (token, ck, cs) in &tokens {
        assert_eq!(oauth_form(&km_base, "revoke", ck, cs, &format!("token={token}")).await.status, 200);
        let r = eventually(&menu, Some(token), 401).await;
        assert_eq!((r.status, code(&r).as_str()), (401, "900901"), "{}\n{}", r.body, gw.stderr());
    }

    // Undeployed: the gateway no longer knows the API.
    m.ok("POST", &format!("{pb}/apis/{api}/undeploy-revision?revisionId={rev}"), json!([{"name": "Default"}])).await;
    let r = eventually(&menu, None, 404).await;
    assert_eq!((r.status, code(&r).as_str()), (404, "900906"), "{}", r.body);

    for n in [&km, &cp, &gw, &tm] {
        assert!(!n.stderr().contains("panicked"), "{}", n.stderr());
    }
    for mut n in [km, cp, gw, tm] {
        n.terminate();
    }
}
