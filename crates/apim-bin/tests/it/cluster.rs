//! Separate processes: a control plane (with its resident key manager) and a gateway node that syncs from it
//! over the internal data service and the event hub. Changes, revocations and undeployments reach the gateway;
//! a gateway restarted while the control plane is down serves what it saved.

use std::time::Duration;

use apim_test_support::process::{Node, free_offset};
use apim_test_support::{TempDir, http};
use serde_json::{Value, json};

use super::gateway::{Mgmt, code, eventually, get};
use super::{apim, base64_encode, oauth_form, wait_ready};

fn control_plane_config(offset: u16) -> String {
    format!(
        "[server]\nhostname = \"localhost\"\noffset = {offset}\n[super_admin]\nusername = \"admin\"\npassword = \"admin\"\ncreate_admin_account = true\n\
         [database.apim_db]\ntype = \"sqlite\"\nurl = \"jdbc:sqlite:cpdb/apim.db\"\n[database.shared_db]\ntype = \"sqlite\"\nurl = \"jdbc:sqlite:cpdb/shared.db\"\n\
         [apim.event_hub]\nenable = true\nusername = \"$ref{{super_admin.username}}\"\npassword = \"$ref{{super_admin.password}}\"\n"
    )
}

fn gateway_config(offset: u16, cp_offset: u16) -> String {
    format!(
        "[server]\nhostname = \"localhost\"\noffset = {offset}\n[super_admin]\nusername = \"admin\"\npassword = \"admin\"\n\
         [apim.event_hub]\nenable = true\nusername = \"admin\"\npassword = \"admin\"\nservice_url = \"https://localhost:{}/services/\"\n\
         event_listening_endpoints = [\"tcp://localhost:{}\"]\n[apim.sync_runtime_artifacts.gateway]\ngateway_labels = [\"Default\"]\n",
        9443 + cp_offset,
        5672 + cp_offset
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
    let revoked: Value = http::request(
        "GET",
        &format!("{cp_https}/internal/data/v1/revokedjwt"),
        &[("authorization", &format!("Basic {}", base64_encode("admin:admin")))],
        "",
    )
    .await
    .expect("revokedjwt")
    .json();
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
