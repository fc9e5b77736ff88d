//! Key managers seen from the three APIs, through real sockets on SQLite, PostgreSQL and MariaDB: the Admin API's
//! discovery from a well-known URL (behind the outbound guard) and the create that follows it, the DevPortal's
//! and Publisher's lists (without the credentials a key manager holds), and the key requests a key manager
//! cannot take. Keys made at a second key-manager process are tested end to end in apim-bin.

use apim_test_support::TempDir;
use apim_test_support::db::{Backend, TestDb};
use apim_test_support::http;
use serde_json::{Value, json};

use crate::{Cp, auth, config, connect, sqlite, start, start_with};

/// A discovery server on 127.0.0.2 (allowed by the test configuration).
async fn discovery_server() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.2:0").await.expect("bind 127.0.0.2");
    let addr = listener.local_addr().expect("addr");
    let doc = json!({"issuer": format!("http://{addr}/realms/partner"), "jwks_uri": format!("http://{addr}/certs"),
        "token_endpoint": format!("http://{addr}/token"), "registration_endpoint": format!("http://{addr}/register"),
        "introspection_endpoint": format!("http://{addr}/introspect"), "revocation_endpoint": "not a url",
        "grant_types_supported": ["client_credentials", "authorization_code"]});
    let site = axum::Router::new()
        .route("/.well-known/openid-configuration", axum::routing::get(move || std::future::ready(axum::Json(doc.clone()))))
        .route("/notjson", axum::routing::get(|| std::future::ready("<html>hello</html>")));
    tokio::spawn(async move {
        let _ = axum::serve(listener, site).await;
    });
    addr
}

async fn discover(cp: &Cp, user: &str, fields: &[(&str, &str)]) -> http::Response {
    let boundary = "apimkmboundary";
    let mut body = String::new();
    for (name, value) in fields {
        body.push_str(&format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    let ct = format!("multipart/form-data; boundary={boundary}");
    http::request(
        "POST",
        &format!("{}/api/am/admin/v4/key-managers/discover", cp.base),
        &[("authorization", &auth(user)), ("content-type", &ct)],
        &body,
    )
    .await
    .expect("request")
}

async fn suite(cp: Cp) {
    let site = discovery_server().await;
    let well_known = format!("http://{site}/.well-known/openid-configuration");

    // Discovery, then the create an admin makes from what it found.
    let found = discover(&cp, "admin", &[("url", &well_known), ("type", "KeyCloak")]).await;
    assert_eq!(found.status, 200, "{}", found.body);
    let found = found.json();
    assert_eq!(found["valid"], true);
    let value = &found["value"];
    assert_eq!(value["issuer"], format!("http://{site}/realms/partner"));
    assert_eq!(value["type"], "KeyCloak");
    assert_eq!(value["clientRegistrationEndpoint"], format!("http://{site}/register"));
    assert_eq!(value["certificates"], json!({"type": "JWKS", "value": format!("http://{site}/certs")}));
    assert_eq!(value["revokeEndpoint"], Value::Null, "a value that is not a URL is not passed on");
    assert_eq!(value["availableGrantTypes"], json!(["client_credentials", "authorization_code"]));
    let mut km = value.clone();
    km["name"] = json!("partner");
    km["additionalProperties"] = json!({"Username": "svc", "Password": "s3cret"});
    let created = cp.admin("POST", "/key-managers", "admin", Some(km)).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let closed_km = json!({"name": "tokens-only", "type": "custom", "issuer": "https://tokens.example/",
                           "tokenEndpoint": "https://tokens.example/token"});
    assert_eq!(cp.admin("POST", "/key-managers", "admin", Some(closed_km)).await.status, 201);

    // What discovery refuses: each a clear answer naming the problem.
    let closed = std::net::TcpListener::bind("127.0.0.2:0").expect("bind").local_addr().expect("addr");
    for (fields, status, says) in [
        (vec![("type", "KeyCloak")], 400, "url"),
        (vec![("url", "http://127.0.0.1:1/.well-known/openid-configuration")], 400, "loopback"),
        (vec![("url", "http://169.254.169.254/latest/meta-data")], 400, "link-local"),
        (vec![("url", "file:///etc/passwd")], 400, "not an http or https URL"),
        (vec![("url", &*format!("http://{site}/notjson"))], 502, "JSON"),
        (vec![("url", &*format!("http://{closed}/x"))], 502, "cannot connect"),
    ] {
        let r = discover(&cp, "admin", &fields).await;
        assert_eq!(r.status, status, "{fields:?}: {}", r.body);
        assert!(r.body.contains(says), "{fields:?}: {}", r.body);
    }
    assert_eq!(discover(&cp, "subscriber", &[("url", &well_known)]).await.status, 403);

    // The DevPortal lists enabled key managers without their credentials; the Publisher names them for APIs.
    let listed = cp.portal("GET", "/key-managers", "subscriber", None).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    let list = listed.json();
    let names: Vec<&str> = list["list"].as_array().expect("list").iter().filter_map(|k| k["name"].as_str()).collect();
    // This control plane runs no resident key manager (none was given): it is disabled, so not listed.
    assert_eq!(names, ["partner", "tokens-only"]);
    assert!(!listed.body.contains("s3cret") && !listed.body.contains("additionalProperties"), "{}", listed.body);
    assert_eq!(list["list"][0]["enableOAuthAppCreation"], true);
    assert_eq!(list["list"][1]["enableOAuthAppCreation"], false, "no registration endpoint");
    let published = cp.call("GET", "/key-managers", "creator", None).await;
    assert_eq!((published.status, published.json()["count"].as_i64()), (200, Some(3)), "{}", published.body);
    assert!(!published.body.contains("s3cret"));
    assert_eq!(cp.call("GET", "/key-managers", "subscriber", None).await.status, 403);

    // Keys from a key manager that cannot make them: named, and nothing made.
    let app = cp.portal("POST", "/applications", "subscriber", Some(json!({"name": "KmApp", "throttlingPolicy": "Unlimited"}))).await;
    let app_id = app.json()["applicationId"].as_str().expect("id").to_string();
    let generate = format!("/applications/{app_id}/generate-keys");
    for (km, status, says) in [
        ("tokens-only", 400, "map-keys"),
        ("nobody", 400, "no key manager is named `nobody`"),
        // This node was given no connector: it says so rather than half-making keys.
        ("partner", 503, "`partner`"),
    ] {
        let r = cp.portal("POST", &generate, "subscriber", Some(json!({"keyType": "PRODUCTION", "keyManager": km}))).await;
        assert_eq!(r.status, status, "{km}: {}", r.body);
        assert!(r.body.contains(says), "{km}: {}", r.body);
    }
    let keys = cp.portal("GET", &format!("/applications/{app_id}/oauth-keys"), "subscriber", None).await;
    assert_eq!(keys.json()["count"], 0, "{}", keys.body);
}

/// A control plane that can reach registered key managers (the application's connector): one that is not
/// there is a 503 naming it, and nothing is stored.
async fn unreachable(db: apim_store::Db) {
    let mut cfg = config();
    let tls = rustls::ClientConfig::builder().with_root_certificates(rustls::RootCertStore::empty()).with_no_client_auth();
    cfg.key_manager_connector = Some(apim_control_plane::Connector(std::sync::Arc::new(apim_km_client::Connector::new(
        apim_config::HostsFile::default(),
        std::sync::Arc::new(tls),
    ))));
    let cp = start_with(db, cfg).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr");
    let km = json!({"name": "gone", "type": "custom", "issuer": "https://gone.example/",
                    "clientRegistrationEndpoint": format!("http://{closed}/register"), "tokenEndpoint": format!("http://{closed}/token")});
    assert_eq!(cp.admin("POST", "/key-managers", "admin", Some(km)).await.status, 201);
    let app = cp.portal("POST", "/applications", "subscriber", Some(json!({"name": "GoneApp", "throttlingPolicy": "Unlimited"}))).await;
    let app_id = app.json()["applicationId"].as_str().expect("id").to_string();
    let r = cp
        .portal(
            "POST",
            &format!("/applications/{app_id}/generate-keys"),
            "subscriber",
            Some(json!({"keyType": "PRODUCTION", "keyManager": "gone"})),
        )
        .await;
    assert!(r.status == 503 && r.body.contains("`gone`"), "{}", r.body);
    let keys = cp.portal("GET", &format!("/applications/{app_id}/oauth-keys"), "subscriber", None).await;
    assert_eq!(keys.json()["count"], 0, "{}", keys.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_managers_on_sqlite() {
    let dir = TempDir::new("apim-cp-kms");
    suite(start(connect(&sqlite(&dir)).await).await).await;
    let other = TempDir::new("apim-cp-kms-gone");
    unreachable(connect(&sqlite(&other)).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_managers_on_postgres() {
    let Some(tdb) = TestDb::create(Backend::Postgres).await else { return };
    suite(start(connect(&tdb.toml_fields()).await).await).await;
    let Some(other) = TestDb::create(Backend::Postgres).await else { return };
    unreachable(connect(&other.toml_fields()).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_managers_on_mariadb() {
    let Some(tdb) = TestDb::create(Backend::MySql).await else { return };
    suite(start(connect(&tdb.toml_fields()).await).await).await;
    let Some(other) = TestDb::create(Backend::MySql).await else { return };
    unreachable(connect(&other.toml_fields()).await).await;
}
