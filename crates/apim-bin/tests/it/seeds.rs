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
use super::{Cleanup, apim, base64_encode, oauth_form, seed, shared_keystore, wait_ready};

const CP: &str = "127.0.0.2";
const KM: &str = "127.0.0.3";
const GW: &str = "127.0.0.4";
const TM: &str = "127.0.0.5";
const GW2: &str = "127.0.0.6";
const TM2: &str = "127.0.0.7";

/// A node's own directory holding its sample (as `edit` leaves it) and the shared keystore.
fn node_dir(root: &Path, name: &str, sample: &str, edit: &dyn Fn(String) -> String) -> std::path::PathBuf {
    let d = root.join(name);
    std::fs::create_dir_all(&d).expect("mkdir");
    let text = std::fs::read_to_string(seed(sample)).expect("sample");
    std::fs::write(d.join("deployment.toml"), edit(text)).expect("write sample");
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

pub(crate) fn multipart(fields: &[(&str, &str)]) -> (String, String) {
    let boundary = "apimseedboundary42";
    let mut body = String::new();
    for (name, value) in fields {
        let filename = if *name == "file" { "; filename=\"pizzashack.yaml\"" } else { "" };
        body.push_str(&format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"{filename}\r\n\r\n{value}\r\n"));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// One node of a topology: its directory name, sample, role subcommand and address.
struct Member {
    name: &'static str,
    sample: &'static str,
    role: &'static str,
    host: &'static str,
}

const SEED_001: [Member; 4] = [
    Member { name: "km", sample: "001-key-manager-single.toml", role: "key-manager", host: KM },
    Member { name: "cp", sample: "001-control-plane-single.toml", role: "control-plane", host: CP },
    Member { name: "gw", sample: "001-gateway-single.toml", role: "gateway", host: GW },
    Member { name: "tm", sample: "001-traffic-manager-single.toml", role: "traffic-manager", host: TM },
];

/// Seed 000 names its roles in `server_role`, so `apim run` picks them.
const SEED_000: [Member; 4] = [
    Member { name: "km", sample: "000-key-manager.toml", role: "run", host: KM },
    Member { name: "cp", sample: "000-control-plane.toml", role: "run", host: CP },
    Member { name: "gw", sample: "000-gateway.toml", role: "run", host: GW },
    Member { name: "tm", sample: "000-traffic-manager.toml", role: "run", host: TM },
];

/// Both seed sets, one after the other (they use the same hosts, ports and database names).
#[tokio::test]
async fn seed_topologies_on_their_own_hosts() {
    seed_001().await;
    seed_001_ha().await;
    seed_000().await;
}

fn seed_001_users() -> Vec<String> {
    let mut users = Vec::new();
    for (user, pass, dbs) in [
        ("apimadmin", "apimadmin", &["apim_db", "shared_db"][..]),
        ("sharedadmin", "sharedadmin", &["shared_db"]),
        ("apiadmin", "apimadmin", &["apimgt_db"]),
    ] {
        for host in ["%", "localhost"] {
            users.push(format!("CREATE USER IF NOT EXISTS '{user}'@'{host}' IDENTIFIED BY '{pass}'"));
            for db in dbs {
                users.push(format!("GRANT ALL ON {db}.* TO '{user}'@'{host}'"));
            }
        }
    }
    users
}

/// Seed 001: the key manager and the control plane have databases of their own (`apimgt_db`, `apim_db`) and
/// share `shared_db`, each with the users the samples name.
async fn seed_001() {
    topology("apim-seed001", &SEED_001, &["apim_db", "shared_db", "apimgt_db"], seed_001_users(), &|t| t).await;
}

/// Seed 001's HA samples for gateways and traffic managers: two of each (the second traffic manager's
/// `event_duplicate_url` pointed back at the first; otherwise unchanged), with the single key manager and
/// control plane, and a TCP "load balancer" on 443 in front of each of those, where the HA samples' service
/// URLs point. An application's quota holds across both gateways.
async fn seed_001_ha() {
    let Some(admin) = admin_url(Backend::MySql) else { return };
    let (_, _, db_host, _) = apim_test_support::db::parse_url(&admin);
    for host in [CP, KM, GW, TM, GW2, TM2] {
        assert!(free(host, &[9443, 9763, 8280, 8243, 9099, 8099, 5672, 9611, 9711, 443]), "{host} has a port of the samples taken");
    }
    let dir = TempDir::new("apim-seed001ha");
    let names = [
        "cp.wso2.com",
        "km.wso2.com",
        "control-plane-host",
        "apim-cp-1",
        "apim-cp-2",
        "cp.am.wso2.com",
        "api.am.wso2.com",
        "km.am.wso2.com",
        "traffic-manager-1",
        "traffic-manager-2",
        "localhost",
    ];
    if !shared_keystore(dir.path(), "wso2carbon.jks", "wso2carbon", &names) {
        assert!(!apim_test_support::under_ci(), "keytool is needed under CI");
        return;
    }
    let databases = ["apim_db", "shared_db", "apimgt_db"];
    let mut setup: Vec<String> =
        databases.iter().flat_map(|d| [format!("DROP DATABASE IF EXISTS {d}"), format!("CREATE DATABASE {d}")]).collect();
    setup.extend(seed_001_users());
    admin_exec(Backend::MySql, &admin, &setup).await.expect("create the samples' databases and users");
    let _cleanup = Cleanup(admin.clone(), databases.iter().map(|d| format!("DROP DATABASE IF EXISTS {d}")).collect());
    std::fs::write(
        dir.path().join("hosts"),
        format!(
            "{db_host} db.wso2.com\n{CP} cp.wso2.com control-plane-host apim-cp-1 apim-cp-2 cp.am.wso2.com api.am.wso2.com\n\
             {KM} km.wso2.com km.am.wso2.com\n{GW} gw.wso2.com\n{TM} tm.wso2.com tm.am.wso2.com traffic-manager-1\n{TM2} traffic-manager-2\n"
        ),
    )
    .expect("hosts");
    let balancers = [
        super::cluster::Proxy::listen(format!("{CP}:443").parse().expect("addr"), format!("{CP}:9443").parse().expect("addr")).await,
        super::cluster::Proxy::listen(format!("{KM}:443").parse().expect("addr"), format!("{KM}:9443").parse().expect("addr")).await,
    ];
    let to_first = |t: String| {
        t.replace("event_duplicate_url = [\"tcp://traffic-manager-2:5672\"]", "event_duplicate_url = [\"tcp://traffic-manager-1:5672\"]")
    };
    type Edit<'a> = &'a dyn Fn(String) -> String;
    let plan: [(&str, &str, &str, &str, Edit<'_>); 6] = [
        ("km", "001-key-manager-single.toml", "key-manager", KM, &|t| t),
        ("cp", "001-control-plane-single.toml", "control-plane", CP, &|t| t),
        ("tm1", "001-traffic-manager-ha.toml", "traffic-manager", TM, &|t| t),
        ("tm2", "001-traffic-manager-ha.toml", "traffic-manager", TM2, &to_first),
        ("gw1", "001-gateway-ha.toml", "gateway", GW, &|t| t),
        ("gw2", "001-gateway-ha.toml", "gateway", GW2, &|t| t),
    ];
    let mut nodes = Vec::new();
    for (name, sample, role, host, edit) in plan {
        nodes.push(start(&node_dir(dir.path(), name, sample, edit), role, host));
    }
    for n in nodes.iter_mut() {
        let https = n.url("management-https", Duration::from_secs(20));
        let ready = wait_ready(&https, Duration::from_secs(40)).await;
        assert_eq!(ready.status, 200, "{https}: {}\n{}", ready.body, n.stderr());
    }
    let logs = |nodes: &[Node]| nodes[2..].iter().map(|n| n.stderr()).collect::<Vec<_>>().join("\n----\n");
    let m = Mgmt { base: format!("https://{CP}:9443"), auth: format!("Basic {}", base64_encode("admin:admin")) };
    let quota = 60u64;
    m.ok(
        "POST",
        "/api/am/admin/v4/throttling/policies/application",
        json!({"policyName": "SeedSixty", "defaultLimit": {"type": "REQUESTCOUNTLIMIT", "requestCount": {"timeUnit": "hour", "unitTime": 1, "requestCount": quota}}}),
    )
    .await;
    let backend = apim_test_support::backend::spawn("127.0.0.1:0".parse().expect("addr")).await.expect("backend");
    let api = m
        .publish(json!({"name": "SeedHa", "context": "/seedha", "version": "1.0.0", "policies": ["Unlimited"],
            "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": format!("http://{backend}/b")}},
            "operations": [{"target": "/items", "verb": "GET"}]}))
        .await;
    let app = m
        .ok("POST", "/api/am/devportal/v3/applications", json!({"name": "SeedHaApp", "throttlingPolicy": "SeedSixty", "tokenType": "JWT"}))
        .await["applicationId"]
        .as_str()
        .expect("app")
        .to_string();
    let (ck, cs) = m.keys(&app, "PRODUCTION").await;
    m.subscribe(&api, &app, "Unlimited").await;
    let t = oauth_form(&format!("https://{KM}:9443"), "token", &ck, &cs, "grant_type=client_credentials").await;
    assert_eq!(t.status, 200, "{}", t.body);
    let token = t.json()["access_token"].as_str().expect("token").to_string();
    let urls: Vec<String> = [GW, GW2].iter().map(|h| format!("http://{h}:8280/seedha/1.0.0/items")).collect();
    for url in &urls {
        let r = eventually(url, Some(&token), 200).await;
        assert_eq!(r.status, 200, "{url}: {}\n{}", r.body, logs(&nodes));
    }
    super::throttle::room_in_window(Duration::from_secs(3600), Duration::from_secs(60)).await;
    let headers = [("authorization".to_string(), format!("Bearer {token}"))];
    let out = apim_test_support::load::offer(&urls, &headers, 10 * quota, 8, None).await;
    assert_eq!(out.count(200) + out.count(429), out.total(), "{:?}", out.by_status);
    super::throttle::assert_quota("seed 001 HA: one application across both gateways", out.count(200) + 2, quota, &out, &|| logs(&nodes));
    for n in &nodes {
        assert!(!n.stderr().contains("panicked"), "{}", n.stderr());
    }
    for mut n in nodes {
        n.terminate();
    }
    drop(balancers);
}

/// Seed 000: the key manager and the control plane share `apim_db` and `shared_db`. The samples name MySQL's
/// root/root; only that password is changed, to this machine's root's.
async fn seed_000() {
    let Some(admin) = admin_url(Backend::MySql) else { return };
    let (_, root_password, _, _) = apim_test_support::db::parse_url(&admin);
    let edit = move |t: String| {
        t.replace("username = \"root\"\npassword = \"root\"", &format!("username = \"root\"\npassword = \"{root_password}\""))
    };
    topology("apim-seed000", &SEED_000, &["apim_db", "shared_db"], Vec::new(), &edit).await;
}

/// Starts the members from their samples on their own hosts, then runs the whole flow through them: an API
/// from an OpenAPI file deployed to Default and published, JWT and opaque tokens from the key manager, calls
/// through the gateway, revocations at the key manager refused by the gateway, and an undeployment (404).
async fn topology(prefix: &str, members: &[Member], databases: &[&str], users: Vec<String>, edit: &dyn Fn(String) -> String) {
    let Some(admin) = admin_url(Backend::MySql) else { return };
    let (_, _, db_host, db_port) = apim_test_support::db::parse_url(&admin);
    assert_eq!(db_port, 3306, "the samples name port 3306");
    for m in members {
        assert!(free(m.host, &[9443, 9763, 8280, 8243, 9099, 8099, 5672]), "{} has a port of the samples taken", m.host);
    }
    let dir = TempDir::new(prefix);
    let names = ["cp.wso2.com", "km.wso2.com", "gw.wso2.com", "tm.wso2.com", "control-plane-host", "localhost"];
    if !shared_keystore(dir.path(), "wso2carbon.jks", "wso2carbon", &names) {
        assert!(!apim_test_support::under_ci(), "keytool is needed under CI");
        eprintln!("skipping: keytool not available");
        return;
    }
    // The databases the samples name (the samples are the only users of these names here).
    let mut setup: Vec<String> =
        databases.iter().flat_map(|d| [format!("DROP DATABASE IF EXISTS {d}"), format!("CREATE DATABASE {d}")]).collect();
    setup.extend(users);
    admin_exec(Backend::MySql, &admin, &setup).await.expect("create the samples' databases and users");
    let _cleanup = Cleanup(admin.clone(), databases.iter().map(|d| format!("DROP DATABASE IF EXISTS {d}")).collect());
    std::fs::write(
        dir.path().join("hosts"),
        format!("{db_host} db.wso2.com\n{CP} cp.wso2.com control-plane-host\n{KM} km.wso2.com\n{GW} gw.wso2.com\n{TM} tm.wso2.com\n"),
    )
    .expect("hosts");

    let mut nodes: Vec<Node> = members.iter().map(|m| start(&node_dir(dir.path(), m.name, m.sample, edit), m.role, m.host)).collect();
    for n in nodes.iter_mut() {
        let https = n.url("management-https", Duration::from_secs(20));
        let ready = wait_ready(&https, Duration::from_secs(40)).await;
        assert_eq!(ready.status, 200, "{https}: {}\n{}", ready.body, n.stderr());
    }
    let gw_log = |nodes: &[Node]| nodes[2].stderr();
    assert_eq!(nodes[1].url("event-hub", Duration::from_secs(1)), format!("tcp://{CP}:5672"));
    // An API from an OpenAPI file, deployed to Default and published, through the control plane's REST API.
    let backend = apim_test_support::backend::spawn("127.0.0.1:0".parse().expect("addr")).await.expect("backend");
    let m = Mgmt { base: format!("https://{CP}:9443"), auth: format!("Basic {}", base64_encode("admin:admin")) };
    let definition =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/pizzashack.yaml")).expect("example");
    let props = json!({"context": "/pizzashack", "policies": ["Gold", "Unlimited"],
        "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": format!("http://{backend}/pizzashack")}}});
    let r = m.import_openapi(&definition, &props).await;
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
        assert_eq!(r.status, 200, "{name}: {}\n{}", r.body, gw_log(&nodes));
        assert_eq!(r.json()["path"], "/pizzashack/menu");
        tokens.push((token, ck, cs));
    }
    assert_eq!(tokens[1].0.split('.').count(), 1, "the OAUTH application's token is opaque");

    // A revocation at the key manager reaches the gateway: key manager → control plane /notify → event hub.
    for (token, ck, cs) in &tokens {
        assert_eq!(oauth_form(&km_base, "revoke", ck, cs, &format!("token={token}")).await.status, 200);
        let r = eventually(&menu, Some(token), 401).await;
        assert_eq!((r.status, code(&r).as_str()), (401, "900901"), "{}\n{}", r.body, gw_log(&nodes));
    }

    // Undeployed: the gateway no longer knows the API.
    m.ok("POST", &format!("{pb}/apis/{api}/undeploy-revision?revisionId={rev}"), json!([{"name": "Default"}])).await;
    let r = eventually(&menu, None, 404).await;
    assert_eq!((r.status, code(&r).as_str()), (404, "900906"), "{}", r.body);

    // The traffic manager follows the control plane's throttling policies.
    let tm_metrics = format!("http://{TM}:9763/metrics");
    let advanced = || async {
        let text = http::get(&tm_metrics).await.expect("metrics").body;
        text.lines().find_map(|l| l.strip_prefix("apim_tm_policies{level=\"api\"} ")?.trim().parse::<usize>().ok()).unwrap_or(0)
    };
    let before = advanced().await;
    assert!(before >= 4, "WSO2's default advanced policies: {before}");
    let limit = json!({"type": "REQUESTCOUNTLIMIT", "requestCount": {"timeUnit": "min", "unitTime": 1, "requestCount": 10}});
    m.ok("POST", "/api/am/admin/v4/throttling/policies/advanced", json!({"policyName": "SeedTen", "defaultLimit": limit})).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while advanced().await != before + 1 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(advanced().await, before + 1, "{}", nodes[3].stderr());

    for n in &nodes {
        assert!(!n.stderr().contains("panicked"), "{}", n.stderr());
    }
    for mut n in nodes {
        n.terminate();
    }
}
