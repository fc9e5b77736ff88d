//! Separate processes: a control plane (with its resident key manager) and a gateway node that syncs from it
//! over the internal data service and the event hub. Changes, revocations and undeployments reach the gateway;
//! a gateway restarted while the control plane is down serves what it saved.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use apim_test_support::process::{Node, free_offset};
use apim_test_support::{TempDir, http};
use serde_json::{Value, json};

use super::gateway::{Mgmt, code, eventually, get};
use super::{apim, base64_encode, oauth_form, shared_keystore, wait_ready};

fn control_plane_config(offset: u16) -> String {
    format!(
        "[server]\nhostname = \"localhost\"\noffset = {offset}\n[super_admin]\nusername = \"admin\"\npassword = \"admin\"\ncreate_admin_account = true\n\
         [database.apim_db]\ntype = \"sqlite\"\nurl = \"jdbc:sqlite:cpdb/apim.db\"\n[database.shared_db]\ntype = \"sqlite\"\nurl = \"jdbc:sqlite:cpdb/shared.db\"\n\
         [apim.event_hub]\nenable = true\nusername = \"$ref{{super_admin.username}}\"\npassword = \"$ref{{super_admin.password}}\"\n"
    )
}

fn gateway_config(offset: u16, cp_offset: u16) -> String {
    gateway_config_with(offset, &format!("localhost:{}", 9443 + cp_offset), &[format!("tcp://localhost:{}", 5672 + cp_offset)], "")
}

/// A gateway node syncing from `service` (host:port) over the event hub `endpoints` (tcp:// or ssl:// URLs).
fn gateway_config_with(offset: u16, service: &str, endpoints: &[String], extra: &str) -> String {
    let endpoints: Vec<String> = endpoints.iter().map(|e| format!("\"{e}\"")).collect();
    format!(
        "[server]\nhostname = \"localhost\"\noffset = {offset}\n[super_admin]\nusername = \"admin\"\npassword = \"admin\"\n\
         [apim.event_hub]\nenable = true\nusername = \"admin\"\npassword = \"admin\"\nservice_url = \"https://{service}/services/\"\n\
         event_listening_endpoints = [{}]\n[apim.sync_runtime_artifacts.gateway]\ngateway_labels = [\"Default\"]\n{extra}",
        endpoints.join(", ")
    )
}

fn start_gateway(dir: &std::path::Path) -> Node {
    Node::spawn(&apim(), &["gateway", "-c", "gw.toml", "--data-dir", "shared", "--bind", "127.0.0.1"], dir)
}

#[tokio::test]
async fn gateway_node_follows_the_control_plane() {
    let dir = TempDir::new("apim-hub");
    let cp_off = free_offset(&[9443, 9763, 5672]);
    std::fs::create_dir_all(dir.path().join("cpdb")).expect("mkdir");
    std::fs::write(dir.path().join("cp.toml"), control_plane_config(cp_off)).expect("write");
    let mut cp = Node::spawn(&apim(), &["control-plane", "-c", "cp.toml", "--data-dir", "shared", "--bind", "127.0.0.1"], dir.path());
    let cp_https = cp.url("management-https", Duration::from_secs(20));
    assert!(cp.url("event-hub", Duration::from_secs(5)).starts_with("tcp://"));
    assert_eq!(wait_ready(&cp_https, Duration::from_secs(20)).await.status, 200, "{}", cp.stderr());

    let gw_off = free_offset(&[9443, 9763, 8280, 8243, 9099, 8099]);
    std::fs::write(dir.path().join("gw.toml"), gateway_config(gw_off, cp_off)).expect("write");
    let mut gw = start_gateway(dir.path());
    let gw_https = gw.url("management-https", Duration::from_secs(20));
    let traffic = gw.url("gateway-http", Duration::from_secs(5));
    let ready = wait_ready(&gw_https, Duration::from_secs(20)).await;
    assert_eq!(ready.status, 200, "{}\n{}", ready.body, gw.stderr());

    // The internal data service wants the event hub's credentials.
    let denied =
        http::request("GET", &format!("{cp_https}/internal/data/v1/runtime-artifacts?gatewayLabel=Default"), &[], "").await.expect("get");
    assert_eq!(denied.status, 401, "{}", denied.body);

    let m = Mgmt { base: cp_https.clone(), auth: format!("Basic {}", base64_encode("admin:admin")) };
    let backend = apim_test_support::backend::spawn("127.0.0.1:0".parse().expect("addr")).await.expect("backend");
    let api = m
        .publish(json!({"name": "Hub", "context": "/hub", "version": "1.0.0", "policies": ["Gold", "Unlimited"],
            "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": format!("http://{backend}/b")}},
            "operations": [{"target": "/items", "verb": "GET"}, {"target": "/open", "verb": "GET", "authType": "None"}]}))
        .await;
    let (app, ck, cs) = m.app("HubApp", "Unlimited", "JWT", "PRODUCTION").await;
    m.subscribe(&api, &app, "Gold").await;
    let jwt = m.token(&ck, &cs, "").await;
    let items = format!("{traffic}/hub/1.0.0/items");
    let r = eventually(&items, Some(&jwt), 200).await;
    assert_eq!(r.status, 200, "{}\n{}", r.body, gw.stderr());
    assert_eq!(r.json()["path"], "/b/items");

    // An API deployed only to another gateway environment never reaches this gateway (labels [Default]).
    m.ok("POST", "/api/am/admin/v4/environments", json!({"name": "Europe", "type": "hybrid", "vhosts": [{"host": "eu.gw.test"}]})).await;
    let pb = "/api/am/publisher/v4";
    let eu = m
        .ok(
            "POST",
            &format!("{pb}/apis"),
            json!({"name": "EuOnly", "context": "/euonly", "version": "1.0.0", "policies": ["Unlimited"],
            "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": format!("http://{backend}/b")}},
            "operations": [{"target": "/open", "verb": "GET", "authType": "None"}]}),
        )
        .await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let eu_rev = m.ok("POST", &format!("{pb}/apis/{eu}/revisions"), json!({})).await["id"].as_str().expect("rev").to_string();
    m.ok("POST", &format!("{pb}/apis/{eu}/deploy-revision?revisionId={eu_rev}"), json!([{"name": "Europe"}])).await;
    // A later change to Default arriving proves the Europe deployment was seen and left out.
    let marker = m
        .publish(json!({"name": "Marker", "context": "/marker", "version": "1.0.0", "policies": ["Unlimited"],
        "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": format!("http://{backend}/b")}},
        "operations": [{"target": "/open", "verb": "GET", "authType": "None"}]}))
        .await;
    assert!(!marker.is_empty());
    assert_eq!(eventually(&format!("{traffic}/marker/1.0.0/open"), None, 200).await.status, 200);
    let r = get(&format!("{traffic}/euonly/1.0.0/open"), None).await;
    assert_eq!((r.status, code(&r).as_str()), (404, "900906"), "{}", r.body);

    // Changes after the first snapshot arrive as patches of the parts they touched, not whole snapshots.
    let gw_http = gw.url("management-http", Duration::from_secs(1));
    assert!(metric(&gw_http, "apim_sync_patches_total").await >= 1);

    // The gateway reported what it serves: the publisher shows the deployment per gateway.
    let deadline = Instant::now() + Duration::from_secs(5);
    let deployment = loop {
        let d = m.ok("GET", &format!("/api/am/publisher/v4/apis/{api}/deployments"), Value::Null).await["list"][0].clone();
        if d["gatewayDeployments"][0]["status"] == "DEPLOYED" || Instant::now() > deadline {
            break d;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(deployment["gatewayDeployments"][0]["status"], "DEPLOYED", "{deployment}");
    let gateway_id = deployment["gatewayDeployments"][0]["gatewayId"].as_str().unwrap_or_default().to_string();
    assert!(gateway_id.starts_with(&format!("localhost:{}#", 9443 + gw_off)), "{gateway_id}");
    assert!(deployment["successDeployedTime"].is_string(), "{deployment}");

    // The Admin API's gateway nodes: the node serves what is deployed to its label, at the log's position (a
    // position-only report may trail by up to 2 s), and not the Europe API.
    let deadline = Instant::now() + Duration::from_secs(8);
    let node = loop {
        let nodes = m.ok("GET", "/api/am/admin/v4/gateway-nodes", Value::Null).await;
        let n = nodes["list"].as_array().and_then(|l| l.iter().find(|n| n["gatewayId"] == gateway_id.as_str())).cloned();
        if let Some(n) = n.filter(|n| n["inSync"] == true && n["eventsBehind"] == 0) {
            break n;
        }
        assert!(Instant::now() < deadline, "the node never showed in sync: {nodes}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(node["labels"], json!(["Default"]), "{node}");
    assert_eq!(node["version"], env!("CARGO_PKG_VERSION"), "{node}");
    assert_eq!((node["servedRevisions"].as_u64(), node["pendingRevisions"].as_u64()), (Some(2), Some(0)), "Hub and Marker: {node}");
    assert_eq!(node["appliedSequence"], node["latestSequence"], "{node}");
    let enc: String =
        gateway_id.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect();
    let detail = m.ok("GET", &format!("/api/am/admin/v4/gateway-nodes/{enc}"), Value::Null).await;
    let served: Vec<(&str, &str)> = detail["revisions"]
        .as_array()
        .map(|l| l.iter().map(|r| (r["apiName"].as_str().unwrap_or(""), r["status"].as_str().unwrap_or(""))).collect())
        .unwrap_or_default();
    assert_eq!(served, [("Hub", "CURRENT"), ("Marker", "CURRENT")], "{detail}");
    let missing = http::request("GET", &format!("{}/api/am/admin/v4/gateway-nodes/nobody", m.base), &[("authorization", &m.auth)], "")
        .await
        .expect("get");
    assert_eq!(missing.status, 404, "{}", missing.body);
    // A report naming a negative position is refused, naming the field; the node's last good report stays.
    let bad = http::request(
        "PATCH",
        &format!("{}/internal/data/v1/apis/deployed-revisions?gatewayId=x&appliedSequence=-4", m.base),
        &[("authorization", &m.auth), ("content-type", "application/json")],
        "[]",
    )
    .await
    .expect("patch");
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body.contains("appliedSequence"), "{}", bad.body);

    // Between pulls the node keeps its state only in the saved file, and patches what it reads back from there.
    // With the file gone it pulls a whole snapshot instead, and patches again once that is saved.
    let saved = dir.path().join("shared/gateway/runtime-state.json");
    let saved_with = |context: &'static str| {
        let saved = saved.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(10);
            while !std::fs::read_to_string(&saved).unwrap_or_default().contains(context) {
                assert!(Instant::now() < deadline, "the node never saved a state with {context}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            // The keeper lets go of the state right after writing it.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    let publish_open = |name: &'static str, context: &'static str| {
        json!({"name": name, "context": context, "version": "1.0.0", "policies": ["Unlimited"],
            "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": format!("http://{backend}/b")}},
            "operations": [{"target": "/open", "verb": "GET", "authType": "None"}]})
    };
    saved_with("/marker").await;
    std::fs::remove_file(&saved).expect("remove the saved state");
    let snapshots = metric(&gw_http, "apim_sync_snapshots_total").await;
    m.publish(publish_open("Unsaved", "/unsaved")).await;
    assert_eq!(eventually(&format!("{traffic}/unsaved/1.0.0/open"), None, 200).await.status, 200, "{}", gw.stderr());
    assert!(metric(&gw_http, "apim_sync_snapshots_total").await > snapshots, "no whole snapshot replaced the missing file");
    saved_with("/unsaved").await;
    let patches = metric(&gw_http, "apim_sync_patches_total").await;
    m.publish(publish_open("Resaved", "/resaved")).await;
    assert_eq!(eventually(&format!("{traffic}/resaved/1.0.0/open"), None, 200).await.status, 200, "{}", gw.stderr());
    assert!(metric(&gw_http, "apim_sync_patches_total").await > patches, "the saved state was not patched");
    for context in ["/hub/1.0.0/items", "/marker/1.0.0/open", "/unsaved/1.0.0/open"] {
        let r = get(&format!("{traffic}{context}"), Some(&jwt)).await;
        assert_eq!(r.status, 200, "{context} after the patches: {}", r.body);
    }

    // Opaque tokens are introspected at the control plane's resident key manager.
    let (oapp, ock, ocs) = m.app("HubOpaque", "Unlimited", "OAUTH", "PRODUCTION").await;
    m.subscribe(&api, &oapp, "Gold").await;
    let opaque = m.token(&ock, &ocs, "").await;
    assert_eq!(eventually(&items, Some(&opaque), 200).await.status, 200);

    // Revocations reach the gateway through the event log.
    for (t, c, s) in [(&jwt, &ck, &cs), (&opaque, &ock, &ocs)] {
        assert_eq!(oauth_form(&cp_https, "revoke", c, s, &format!("token={t}")).await.status, 200);
        let r = eventually(&items, Some(t), 401).await;
        assert_eq!((r.status, code(&r).as_str()), (401, "900901"), "revoked: {}", r.body);
    }
    let revoked = internal(&cp_https, "/revokedjwt").await;
    assert_eq!(revoked.as_array().map(Vec::len), Some(2), "{revoked}");

    // The gateway restarts while the control plane is down: it serves the saved state.
    let open = format!("{traffic}/hub/1.0.0/open");
    assert_eq!(eventually(&open, None, 200).await.status, 200);
    gw.terminate();
    cp.terminate();
    let mut gw = start_gateway(dir.path());
    let gw_https = gw.url("management-https", Duration::from_secs(20));
    let traffic = gw.url("gateway-http", Duration::from_secs(5));
    assert_eq!(wait_ready(&gw_https, Duration::from_secs(10)).await.status, 200, "{}", gw.stderr());
    let r = get(&format!("{traffic}/hub/1.0.0/open"), None).await;
    assert_eq!(r.status, 200, "served from the saved state: {}\n{}", r.body, gw.stderr());

    // The control plane comes back; the gateway catches up with what changed: the API is undeployed.
    let mut cp = Node::spawn(&apim(), &["control-plane", "-c", "cp.toml", "--data-dir", "shared", "--bind", "127.0.0.1"], dir.path());
    let cp_https = cp.url("management-https", Duration::from_secs(20));
    assert_eq!(wait_ready(&cp_https, Duration::from_secs(20)).await.status, 200, "{}", cp.stderr());
    let m = Mgmt { base: cp_https, auth: m.auth };
    let revisions = m.ok("GET", &format!("/api/am/publisher/v4/apis/{api}/deployments"), Value::Null).await;
    let rev = revisions["list"].as_array().and_then(|l| l.first()).and_then(|d| d["revisionUuid"].as_str()).expect("revision").to_string();
    m.ok("POST", &format!("/api/am/publisher/v4/apis/{api}/undeploy-revision?revisionId={rev}"), json!([{"name": "Default"}])).await;
    let r = eventually(&format!("{traffic}/hub/1.0.0/open"), None, 404).await;
    assert_eq!((r.status, code(&r).as_str()), (404, "900906"), "{}\n{}", r.body, gw.stderr());
    for n in [&gw, &cp] {
        assert!(!n.stderr().contains("panicked"), "{}", n.stderr());
    }
    gw.terminate();
    cp.terminate();
}

/// A TCP proxy (in front of the event hub, or a node's load balancer) whose connections the test can cut.
pub(crate) struct Proxy {
    addr: SocketAddr,
    conns: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(target: SocketAddr) -> Proxy {
        Proxy::listen("127.0.0.1:0".parse().expect("addr"), target).await
    }

    /// A proxy on a given address.
    pub(crate) async fn listen(on: SocketAddr, target: SocketAddr) -> Proxy {
        let l = tokio::net::TcpListener::bind(on).await.unwrap_or_else(|e| panic!("bind {on}: {e}"));
        let addr = l.local_addr().expect("addr");
        let conns: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let tracked = conns.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = l.accept().await {
                let task = tokio::spawn(async move {
                    if let Ok(mut upstream) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                    }
                });
                tracked.lock().expect("lock").push(task);
            }
        });
        Proxy { addr, conns }
    }

    /// Drops every open connection (both sockets close at once, mid-stream).
    /// Connections open through the proxy now.
    fn open(&self) -> usize {
        self.conns.lock().expect("lock").iter().filter(|t| !t.is_finished()).count()
    }

    fn cut(&self) -> usize {
        let conns: Vec<_> = self.conns.lock().expect("lock").drain(..).collect();
        let open = conns.iter().filter(|t| !t.is_finished()).count();
        conns.iter().for_each(|t| t.abort());
        open
    }
}

/// A document of the control plane's internal data service, read with the event hub credentials.
async fn internal(cp: &str, path: &str) -> Value {
    let auth = format!("Basic {}", base64_encode("admin:admin"));
    http::request("GET", &format!("{cp}/internal/data/v1{path}"), &[("authorization", &auth)], "").await.expect("internal data").json()
}

/// A figure from the gateway's `/metrics`.
async fn metric(mgmt: &str, name: &str) -> i64 {
    let text = http::get(&format!("{mgmt}/metrics")).await.expect("metrics").body;
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
        .unwrap_or_else(|| panic!("{name} missing from /metrics: {text}"))
}

async fn start_control_plane(dir: &std::path::Path, config: &str, bind: &str) -> (Node, String) {
    let mut cp = Node::spawn(&apim(), &["control-plane", "-c", config, "--data-dir", "shared", "--bind", bind], dir);
    let https = cp.url("management-https", Duration::from_secs(20));
    assert_eq!(wait_ready(&https, Duration::from_secs(20)).await.status, 200, "{}", cp.stderr());
    (cp, https)
}

/// POSTs until the control plane takes it (it may be restarting); a 409 means an earlier attempt went through.
async fn create_app(base: &str, auth: &str, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let body = json!({"name": name, "throttlingPolicy": "Unlimited"}).to_string();
        let r = http::request(
            "POST",
            &format!("{base}/api/am/devportal/v3/applications"),
            &[("authorization", auth), ("content-type", "application/json")],
            &body,
        )
        .await;
        match r {
            Ok(r) if r.status == 201 || r.status == 409 => return,
            _ if Instant::now() > deadline => panic!("the control plane did not take {name}"),
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// 1,000 changes while the control plane restarts five times and the stream is cut once: the gateway ends in
/// the control plane's state, every event applied exactly once.
#[tokio::test]
async fn gateway_survives_restarts_and_cut_streams() {
    let dir = TempDir::new("apim-hubfault");
    let cp_off = free_offset(&[9443, 9763, 5672]);
    std::fs::create_dir_all(dir.path().join("cpdb")).expect("mkdir");
    std::fs::write(dir.path().join("cp.toml"), control_plane_config(cp_off)).expect("write");
    let (mut cp, cp_https) = start_control_plane(dir.path(), "cp.toml", "127.0.0.1").await;
    let proxy = Proxy::start(format!("127.0.0.1:{}", 5672 + cp_off).parse().expect("addr")).await;

    let gw_off = free_offset(&[9443, 9763, 8280, 8243, 9099, 8099]);
    let cfg = gateway_config_with(gw_off, &format!("localhost:{}", 9443 + cp_off), &[format!("tcp://{}", proxy.addr)], "");
    std::fs::write(dir.path().join("gw.toml"), cfg).expect("write");
    let mut gw = start_gateway(dir.path());
    let gw_http = gw.url("management-http", Duration::from_secs(20));
    assert_eq!(wait_ready(&gw_http, Duration::from_secs(20)).await.status, 200, "{}", gw.stderr());
    // The stream is open once the first snapshot is in.
    let deadline = Instant::now() + Duration::from_secs(10);
    while metric(&gw_http, "apim_sync_streams_total").await < 1 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let start_seq = metric(&gw_http, "apim_sync_snapshot_seq").await.max(metric(&gw_http, "apim_sync_stream_seq").await);
    let applied_before = metric(&gw_http, "apim_sync_events_applied_total").await;

    let auth = format!("Basic {}", base64_encode("admin:admin"));
    let mut cut = 0;
    for i in 0..1000 {
        if i % 200 == 100 {
            let (status, _) = cp.terminate();
            assert_eq!(status.and_then(|s| s.code()), Some(0));
            cp = start_control_plane(dir.path(), "cp.toml", "127.0.0.1").await.0;
        }
        if i == 650 {
            // After the last restart the gateway reconnects with a backoff: cut the stream once it is up again.
            let deadline = Instant::now() + Duration::from_secs(15);
            while proxy.open() == 0 && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            cut = proxy.cut();
        }
        create_app(&cp_https, &auth, &format!("Churn{i}")).await;
    }
    assert!(cut >= 1, "the stream ran through the proxy when it was cut");

    let state = |path: &'static str| internal(&cp_https, path);
    let head = state("/runtime-artifacts?gatewayLabel=Default").await["seq"].as_i64().expect("seq");
    let deadline = Instant::now() + Duration::from_secs(15);
    while metric(&gw_http, "apim_sync_snapshot_seq").await < head && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    while metric(&gw_http, "apim_sync_stream_seq").await < head && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let all = http::get(&format!("{gw_http}/metrics")).await.expect("metrics").body;
    let sync: Vec<&str> = all.lines().filter(|l| l.starts_with("apim_sync")).collect();
    assert_eq!(metric(&gw_http, "apim_sync_stream_seq").await, head, "{sync:?} {}", gw.stderr());
    assert_eq!(metric(&gw_http, "apim_sync_snapshot_seq").await, head);
    let applied = metric(&gw_http, "apim_sync_events_applied_total").await - applied_before;
    let dup = metric(&gw_http, "apim_sync_events_duplicate_total").await;
    assert_eq!(applied, head - start_seq, "every event applied once: none skipped, none twice (duplicates {dup}, from {start_seq})");
    assert_eq!(metric(&gw_http, "apim_sync_events_duplicate_total").await, 0);
    assert!(metric(&gw_http, "apim_sync_streams_total").await >= 4, "the stream reconnected after restarts and the cut: {sync:?}");

    // What the gateway saved is what the control plane serves.
    let served = state("/runtime-artifacts?gatewayLabel=Default").await;
    // Saving runs beside the installs: wait for the newest state to reach the disk.
    let deadline = Instant::now() + Duration::from_secs(10);
    let saved = loop {
        let saved: Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("shared/gateway/runtime-state.json")).expect("saved state"))
                .expect("json");
        if saved["seq"] == served["seq"] || Instant::now() > deadline {
            break saved;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let names = |v: &Value| {
        let mut n: Vec<String> =
            v["applications"].as_array().expect("apps").iter().map(|a| a["name"].as_str().unwrap_or("").to_string()).collect();
        n.sort();
        n
    };
    assert_eq!(saved["seq"], served["seq"]);
    assert_eq!(names(&saved), names(&served));
    assert_eq!(names(&saved).iter().filter(|n| n.starts_with("Churn")).count(), 1000);
    for n in [&gw, &cp] {
        assert!(!n.stderr().contains("panicked"), "{}", n.stderr());
    }
    gw.terminate();
    cp.terminate();
}

/// Two control planes on one database, each on a host of its own: killing the one the gateway follows (over
/// TLS) and pulls from moves it to the other (plain) without losing a change; a change made through one is
/// visible through the other's REST API at once.
#[tokio::test]
async fn gateway_moves_to_the_other_control_plane() {
    const CP1: &str = "127.0.0.6";
    const CP2: &str = "127.0.0.7";
    let dir = TempDir::new("apim-hubha");
    if !shared_keystore(dir.path(), "ks.p12", "changeit", &["cp1.test", "cp2.test", "localhost"]) {
        assert!(!apim_test_support::under_ci(), "keytool is needed under CI");
        return;
    }
    let off = (0..200)
        .map(|_| free_offset(&[9443, 9763, 5672]))
        .find(|o| [CP1, CP2].iter().all(|h| [9443u16, 9763, 5672].iter().all(|p| std::net::TcpListener::bind((*h, p + o)).is_ok())))
        .expect("free ports on both hosts");
    let keystore = "[keystore.tls]\nfile_name = \"ks.p12\"\ntype = \"PKCS12\"\npassword = \"changeit\"\nalias = \"changeit\"\n";
    std::fs::create_dir_all(dir.path().join("cpdb")).expect("mkdir");
    std::fs::write(dir.path().join("cp.toml"), control_plane_config(off) + keystore).expect("write");
    std::fs::write(dir.path().join("hosts"), format!("{CP1} cp1.test\n{CP2} cp2.test\n")).expect("hosts");
    let (mut cp1, cp1_https) = start_control_plane(dir.path(), "cp.toml", CP1).await;
    let (mut cp2, cp2_https) = start_control_plane(dir.path(), "cp.toml", CP2).await;

    let gw_off = free_offset(&[9443, 9763, 8280, 8243, 9099, 8099]);
    // One subscribes over TLS, the other in plain text: the hub's port serves both.
    let endpoints = [format!("ssl://cp1.test:{}", 5672 + off), format!("tcp://cp2.test:{}", 5672 + off)];
    let cfg = gateway_config_with(gw_off, &format!("cp1.test:{}", 9443 + off), &endpoints, keystore);
    std::fs::write(dir.path().join("gw.toml"), cfg).expect("write");
    let mut gw =
        Node::spawn(&apim(), &["gateway", "-c", "gw.toml", "--data-dir", "gwdata", "--hosts", "hosts", "--bind", "127.0.0.1"], dir.path());
    let gw_http = gw.url("management-http", Duration::from_secs(20));
    let traffic = gw.url("gateway-http", Duration::from_secs(5));
    assert_eq!(wait_ready(&gw_http, Duration::from_secs(20)).await.status, 200, "{}", gw.stderr());

    let backend = apim_test_support::backend::spawn("127.0.0.1:0".parse().expect("addr")).await.expect("backend");
    let api = |name: &str| {
        json!({"name": name, "context": format!("/{}", name.to_lowercase()), "version": "1.0.0", "policies": ["Unlimited"],
            "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": format!("http://{backend}/b")}},
            "operations": [{"target": "/open", "verb": "GET", "authType": "None"}]})
    };
    let auth = format!("Basic {}", base64_encode("admin:admin"));
    let one = Mgmt { base: cp1_https.clone(), auth: auth.clone() }.publish(api("One")).await;
    let seen =
        Mgmt { base: cp2_https.clone(), auth: auth.clone() }.ok("GET", &format!("/api/am/publisher/v4/apis/{one}"), Value::Null).await;
    assert_eq!(seen["lifeCycleStatus"], "PUBLISHED", "the other control plane serves the change at once");
    assert_eq!(eventually(&format!("{traffic}/one/1.0.0/open"), None, 200).await.status, 200, "{}", gw.stderr());

    // The followed control plane hangs (frozen with its sockets open): the gateway notices the silence and moves
    // to the other one, for the stream and for pulls.
    cp1.signal("STOP");
    let hung = Instant::now();
    Mgmt { base: cp2_https.clone(), auth: auth.clone() }.publish(api("Two")).await;
    let r = within(&format!("{traffic}/two/1.0.0/open"), 200, Duration::from_secs(20)).await;
    assert_eq!(r.status, 200, "a change made on the other control plane arrives: {}\n{}", r.body, gw.stderr());
    eprintln!("moved away from a hung control plane in {:?}", hung.elapsed());
    // The first one comes back and the second is killed: the gateway moves back without losing a change.
    cp1.signal("CONT");
    cp2.terminate();
    Mgmt { base: cp1_https, auth }.publish(api("Three")).await;
    let r = within(&format!("{traffic}/three/1.0.0/open"), 200, Duration::from_secs(20)).await;
    assert_eq!(r.status, 200, "{}\n{}", r.body, gw.stderr());
    for path in ["one", "two"] {
        assert_eq!(get(&format!("{traffic}/{path}/1.0.0/open"), None).await.status, 200);
    }
    assert!(metric(&gw_http, "apim_sync_streams_total").await >= 3);
    for n in [&gw, &cp1] {
        assert!(!n.stderr().contains("panicked"), "{}", n.stderr());
    }
    gw.terminate();
    cp1.terminate();
}

/// Polls until `url` answers `status` or `limit` passes.
async fn within(url: &str, status: u16, limit: Duration) -> http::Response {
    let deadline = Instant::now() + limit;
    loop {
        let r = get(url, None).await;
        if r.status == status || Instant::now() > deadline {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A token revoked at a key manager while the control plane is down, with the key manager restarted meanwhile,
/// still reaches the control plane (and so every gateway) once it is back: notices wait in the key manager's
/// database, not in its memory.
#[tokio::test]
async fn revocations_survive_a_control_plane_outage_and_a_key_manager_restart() {
    let dir = TempDir::new("apim-notice");
    let km_off = free_offset(&[9443, 9763]);
    let cp_off = free_offset(&[9443, 9763, 5672]);
    std::fs::create_dir_all(dir.path().join("kmdb")).expect("mkdir");
    std::fs::create_dir_all(dir.path().join("cpdb")).expect("mkdir");
    std::fs::write(
        dir.path().join("km.toml"),
        format!(
            "[server]\nhostname = \"localhost\"\noffset = {km_off}\n[super_admin]\nusername = \"admin\"\npassword = \"admin\"\n\
             [database.apim_db]\ntype = \"sqlite\"\nurl = \"jdbc:sqlite:kmdb/apim.db\"\n[database.shared_db]\ntype = \"sqlite\"\nurl = \"jdbc:sqlite:kmdb/shared.db\"\n\
             [[event_listener]]\nid = \"token_revocation\"\ntype = \"org.wso2.carbon.identity.core.handler.AbstractIdentityHandler\"\n\
             name = \"org.wso2.is.notification.ApimOauthEventInterceptor\"\norder = 1\n[event_listener.properties]\n\
             notification_endpoint = \"https://localhost:{}/internal/data/v1/notify\"\nusername = \"admin\"\npassword = \"admin\"\n\
             'header.X-WSO2-KEY-MANAGER' = \"default\"\n",
            9443 + cp_off
        ),
    )
    .expect("write");
    let cp_cfg = control_plane_config(cp_off)
        + &format!(
            "[apim.key_manager]\nservice_url = \"https://localhost:{}/services/\"\nusername = \"admin\"\npassword = \"admin\"\n",
            9443 + km_off
        );
    std::fs::write(dir.path().join("cp.toml"), cp_cfg).expect("write");
    let start_km = || {
        let mut km = Node::spawn(&apim(), &["key-manager", "-c", "km.toml", "--data-dir", "shared", "--bind", "127.0.0.1"], dir.path());
        let url = km.url("management-https", Duration::from_secs(20));
        (km, url)
    };
    let (mut km, km_https) = start_km();
    assert_eq!(wait_ready(&km_https, Duration::from_secs(20)).await.status, 200, "{}", km.stderr());
    let (mut cp, cp_https) = start_control_plane(dir.path(), "cp.toml", "127.0.0.1").await;

    let m = Mgmt { base: cp_https.clone(), auth: format!("Basic {}", base64_encode("admin:admin")) };
    let app = m.ok("POST", "/api/am/devportal/v3/applications", json!({"name": "Outage", "throttlingPolicy": "Unlimited"})).await;
    let (ck, cs) = m.keys(app["applicationId"].as_str().expect("app"), "PRODUCTION").await;
    let t = oauth_form(&km_https, "token", &ck, &cs, "grant_type=client_credentials").await;
    let jwt = t.json()["access_token"].as_str().expect("token").to_string();
    let payload = jwt.split('.').nth(1).expect("payload");
    use base64::Engine;
    let claims: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).expect("b64")).expect("claims");
    let jti = claims["jti"].as_str().expect("jti").to_string();

    cp.terminate();
    assert_eq!(oauth_form(&km_https, "revoke", &ck, &cs, &format!("token={jwt}")).await.status, 200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    km.terminate();
    let (mut km, km_https) = start_km();
    assert_eq!(wait_ready(&km_https, Duration::from_secs(20)).await.status, 200, "{}", km.stderr());
    let (mut cp, cp_https) = start_control_plane(dir.path(), "cp.toml", "127.0.0.1").await;

    let deadline = Instant::now() + Duration::from_secs(30);
    let revoked = loop {
        let list = internal(&cp_https, "/revokedjwt").await;
        let found = list.as_array().is_some_and(|l| l.iter().any(|r| r["jwt_signature"] == jti.as_str()));
        if found || Instant::now() > deadline {
            break found;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(revoked, "the revocation reached the control plane after both restarts\n{}", km.stderr());
    for n in [&km, &cp] {
        assert!(!n.stderr().contains("panicked"), "{}", n.stderr());
    }
    km.terminate();
    cp.terminate();
}
