//! Endpoint certificates in the Publisher through real sockets on SQLite, PostgreSQL and MariaDB: upload, list
//! with filters and paging, details read from the certificate, content, usage by APIs on the endpoint's host,
//! replace, delete, the events and runtime state gateways learn them from, and bad input each naming its field.

use apim_store::Db;
use apim_test_support::TempDir;
use apim_test_support::db::{Backend, TestDb};
use serde_json::Value;

use crate::{Cp, connect, pizza, sqlite, start};

/// A self-signed certificate for `host`, valid from `from` until `until` (year, month, day).
fn certificate(host: &str, cn: &str, from: (i32, u8, u8), until: (i32, u8, u8)) -> String {
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(vec![host.to_string()]).expect("params");
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(rcgen::DnType::CountryName, "LK");
    params.distinguished_name.push(rcgen::DnType::OrganizationName, "wso2");
    params.distinguished_name.push(rcgen::DnType::CommonName, cn);
    params.not_before = rcgen::date_time_ymd(from.0, from.1, from.2);
    params.not_after = rcgen::date_time_ymd(until.0, until.1, until.2);
    params.self_signed(&key).expect("cert").pem()
}

fn valid(host: &str) -> String {
    certificate(host, host, (2020, 1, 1), (2045, 6, 30))
}

async fn upload(cp: &Cp, alias: &str, endpoint: &str, pem: &str) -> apim_test_support::http::Response {
    cp.multipart("POST", "/endpoint-certificates", "creator", &[("certificate", pem), ("alias", alias), ("endpoint", endpoint)]).await
}

fn description(r: &apim_test_support::http::Response) -> String {
    r.json()["description"].as_str().unwrap_or_default().to_string()
}

async fn suite(db: Db) {
    let cp = start(db).await;

    // Upload two, read them back whole.
    let pem = valid("backend.test");
    let r = upload(&cp, "backend", "https://backend.test:8443/pizza", &pem).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json(), serde_json::json!({"alias": "backend", "endpoint": "https://backend.test:8443/pizza"}));
    assert!(r.headers.get("location").is_some_and(|l| l.to_str().unwrap_or("").ends_with("/endpoint-certificates/backend")));
    let other = valid("other.test");
    assert_eq!(upload(&cp, "other", "https://other.test", &other).await.status, 200);

    let r = cp.call("GET", "/endpoint-certificates", "creator", None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let list = r.json();
    assert_eq!(list["count"], 2);
    assert_eq!(list["certificates"][0]["alias"], "backend");
    assert_eq!(list["pagination"]["total"], 2);
    let r = cp.call("GET", "/endpoint-certificates?endpoint=https://other.test", "creator", None).await;
    assert_eq!(r.json()["certificates"].as_array().map(Vec::len), Some(1));
    assert_eq!(r.json()["certificates"][0]["alias"], "other");
    let r = cp.call("GET", "/endpoint-certificates?alias=backend", "creator", None).await;
    assert_eq!(r.json()["count"], 1);
    let r = cp.call("GET", "/endpoint-certificates?limit=1&offset=1", "creator", None).await;
    assert_eq!(r.json()["certificates"][0]["alias"], "other");
    assert_eq!(r.json()["pagination"]["previous"], "/endpoint-certificates?limit=1&offset=0");
    assert_eq!(cp.call("GET", "/endpoint-certificates?limit=-1", "creator", None).await.status, 400);

    let r = cp.call("GET", "/endpoint-certificates/backend", "creator", None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let info = r.json();
    assert_eq!(info["status"], "Active");
    assert_eq!(info["version"], "V3");
    assert_eq!(info["subject"], "CN=backend.test, O=wso2, C=LK");
    assert_eq!(info["validity"]["from"], "01-01-2020");
    assert_eq!(info["validity"]["to"], "30-06-2045");

    let r = cp.call("GET", "/endpoint-certificates/backend/content", "creator", None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, pem);
    assert!(r.headers.get("content-disposition").is_some_and(|d| d.to_str().unwrap_or("").contains("backend.crt")));

    // Usage: APIs with an endpoint on the certificate's host and port, not another port of it.
    let mut api = pizza("CertPizza", "/certpizza");
    api["endpointConfig"]["production_endpoints"]["url"] = "https://backend.test:8443/other/path".into();
    assert_eq!(cp.call("POST", "/apis", "creator", Some(api)).await.status, 201);
    let mut elsewhere = pizza("PortPizza", "/portpizza");
    elsewhere["endpointConfig"]["production_endpoints"]["url"] = "https://backend.test:9443/".into();
    assert_eq!(cp.call("POST", "/apis", "creator", Some(elsewhere)).await.status, 201);
    let r = cp.call("GET", "/endpoint-certificates/backend/usage", "creator", None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let usage = r.json();
    assert_eq!(usage["count"], 1, "{usage}");
    assert_eq!(usage["list"][0]["name"], "CertPizza");
    assert_eq!(usage["list"][0]["context"], "/certpizza");
    assert_eq!(usage["list"][0]["provider"], "creator");

    // Gateways learn them from the runtime state, and from the events written with each change.
    let cfg = crate::config();
    let control = apim_control_plane::ControlPlane::new(cp.db.clone(), cp.db.clone(), cfg, None, None);
    let state = control.runtime_state(&["Default".to_string()]).await.expect("state");
    let aliases: Vec<&str> = state.endpoint_certificates.iter().map(|c| c.alias.as_str()).collect();
    assert_eq!(aliases, ["backend", "other"]);
    assert_eq!(state.endpoint_certificates[0].certificate, pem);

    // Replace, then delete.
    let newer = certificate("backend.test", "backend-2", (2021, 1, 1), (2044, 1, 1));
    let r = cp.multipart("PUT", "/endpoint-certificates/backend", "creator", &[("certificate", &newer)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["endpoint"], "https://backend.test:8443/pizza");
    let r = cp.call("GET", "/endpoint-certificates/backend", "creator", None).await;
    assert_eq!(r.json()["subject"], "CN=backend-2, O=wso2, C=LK");
    assert_eq!(cp.call("DELETE", "/endpoint-certificates/other", "creator", None).await.status, 200);
    assert_eq!(cp.call("GET", "/endpoint-certificates/other", "creator", None).await.status, 404);
    let events: Vec<(String, Value)> = cp.events().await.into_iter().filter(|(kind, _)| kind.starts_with("ENDPOINT_CERTIFICATE")).collect();
    let kinds: Vec<(&str, &str)> = events.iter().map(|(k, p)| (k.as_str(), p["alias"].as_str().unwrap_or(""))).collect();
    assert_eq!(
        kinds,
        [
            ("ENDPOINT_CERTIFICATE_ADD", "backend"),
            ("ENDPOINT_CERTIFICATE_ADD", "other"),
            ("ENDPOINT_CERTIFICATE_ADD", "backend"),
            ("ENDPOINT_CERTIFICATE_REMOVE", "other")
        ]
    );
    assert_eq!(events[3].1["endpoint"], "https://other.test");

    // Bad input, each naming what is wrong.
    let r = upload(&cp, "backend", "https://backend.test", &valid("backend.test")).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(description(&r).contains("`backend`"), "{}", r.body);
    let r = upload(&cp, "notpem", "https://x.test", "hello").await;
    assert_eq!(r.status, 400);
    assert!(description(&r).contains("`notpem`") && r.body.contains("certificate"), "{}", r.body);
    let r = upload(&cp, "old", "https://x.test", &certificate("x.test", "x", (2001, 1, 1), (2002, 1, 1))).await;
    assert_eq!(r.status, 400);
    assert!(description(&r).contains("`old` expired"), "{}", r.body);
    let r = upload(&cp, "early", "https://x.test", &certificate("x.test", "x", (2090, 1, 1), (2095, 1, 1))).await;
    assert_eq!(r.status, 400);
    assert!(description(&r).contains("`early` is not valid before"), "{}", r.body);
    for endpoint in ["ftp://x.test", "x.test", "https://"] {
        let r = upload(&cp, "ep", endpoint, &valid("x.test")).await;
        assert_eq!(r.status, 400, "{endpoint}");
        assert!(r.body.contains("endpoint") && description(&r).contains("`ep`"), "{}", r.body);
    }
    let r = upload(&cp, "an-alias-that-is-far-too-long-for-wso2", "https://x.test", &valid("x.test")).await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("alias"), "{}", r.body);
    let r = cp.multipart("POST", "/endpoint-certificates", "creator", &[("alias", "nocert"), ("endpoint", "https://x.test")]).await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("certificate"), "{}", r.body);
    for (method, path) in [
        ("GET", "/endpoint-certificates/missing"),
        ("DELETE", "/endpoint-certificates/missing"),
        ("GET", "/endpoint-certificates/missing/content"),
        ("GET", "/endpoint-certificates/missing/usage"),
    ] {
        let r = cp.call(method, path, "creator", None).await;
        assert_eq!(r.status, 404, "{method} {path}");
        assert!(description(&r).contains("`missing`"), "{}", r.body);
    }
    let r = cp.multipart("PUT", "/endpoint-certificates/missing", "creator", &[("certificate", &valid("x.test"))]).await;
    assert_eq!(r.status, 404);
    let r = cp.multipart("PUT", "/endpoint-certificates/backend", "creator", &[("certificate", "nope")]).await;
    assert_eq!(r.status, 400);
    assert!(description(&r).contains("`backend`"), "{}", r.body);
    // A subscriber may not see or change them.
    assert_eq!(cp.call("GET", "/endpoint-certificates", "subscriber", None).await.status, 403);
    assert_eq!(cp.call("DELETE", "/endpoint-certificates/backend", "subscriber", None).await.status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_certificates_on_sqlite() {
    let dir = TempDir::new("apim-cp-certs");
    suite(connect(&sqlite(&dir)).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_certificates_on_postgres() {
    let Some(tdb) = TestDb::create(Backend::Postgres).await else { return };
    suite(connect(&tdb.toml_fields()).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_certificates_on_mariadb() {
    let Some(tdb) = TestDb::create(Backend::MySql).await else { return };
    suite(connect(&tdb.toml_fields()).await).await;
}
