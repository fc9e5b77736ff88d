//! Mutual TLS through the real binary: client certificates uploaded to an API in the Publisher, deployed with a
//! revision, and checked by the gateway's HTTPS listener against the certificate a client presents (and proves it
//! holds the key of); the certificate alone, or with a token when both are mandatory; the bad input.

use std::path::Path;
use std::time::{Duration, Instant};

use apim_test_support::http;
use serde_json::{Value, json};

use super::gateway::{Mgmt, Steps, code};
use super::{base64_encode, ready_all_in_one};

const PB: &str = "/api/am/publisher/v4";

/// A self-signed P-256 certificate and its key (PEM), made with openssl; `None` without openssl outside CI.
fn certificate(dir: &Path, name: &str) -> Option<(String, String)> {
    let (cert, key) = (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")));
    let made = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj"])
        .arg(format!("/CN={name}"))
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output();
    if !made.as_ref().is_ok_and(|o| o.status.success()) {
        assert!(!apim_test_support::under_ci(), "openssl is needed under CI: {made:?}");
        return None;
    }
    Some((std::fs::read_to_string(cert).ok()?, std::fs::read_to_string(key).ok()?))
}

/// A multipart form of text fields, as the Publisher's certificate operations take it.
async fn upload(m: &Mgmt, method: &str, path: &str, fields: &[(&str, &str)]) -> http::Response {
    let boundary = "apimclientcertboundary";
    let mut body = String::new();
    for (name, value) in fields {
        let file = if *name == "certificate" { "; filename=\"client.crt\"" } else { "" };
        body.push_str(&format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"{file}\r\n\r\n{value}\r\n"));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    let content_type = format!("multipart/form-data; boundary={boundary}");
    http::request(method, &format!("{}{path}", m.base), &[("authorization", &m.auth), ("content-type", &content_type)], &body)
        .await
        .expect("upload")
}

async fn create(m: &Mgmt, name: &str, backend: std::net::SocketAddr, security: Value) -> String {
    let api = json!({"name": name, "context": format!("/{}", name.to_lowercase()), "version": "1.0.0", "policies": ["Gold", "Unlimited"],
        "securityScheme": security,
        "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": format!("http://{backend}/{}", name.to_lowercase())}},
        "operations": [{"target": "/*", "verb": "GET"}]});
    m.ok("POST", &format!("{PB}/apis"), api).await["id"].as_str().expect("id").to_string()
}

async fn deploy_and_publish(m: &Mgmt, id: &str) {
    let rev = m.ok("POST", &format!("{PB}/apis/{id}/revisions"), json!({})).await["id"].as_str().expect("revision").to_string();
    m.ok("POST", &format!("{PB}/apis/{id}/deploy-revision?revisionId={rev}"), json!([{"name": "Default"}])).await;
    m.ok("POST", &format!("{PB}/apis/change-lifecycle?action=Publish&apiId={id}"), Value::Null).await;
}

async fn call(url: &str, client: Option<(&str, &str)>, token: Option<&str>) -> http::Response {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = bearer.as_deref().map(|b| vec![("authorization", b)]).unwrap_or_default();
    match client {
        Some(c) => http::request_with_client_certificate("GET", url, &headers, "", c).await.expect("mTLS call"),
        None => http::request("GET", url, &headers, "").await.expect("call"),
    }
}

/// Polls until `url` answers `status` with the client certificate (a deployment reaches the gateway in ms).
async fn eventually(url: &str, client: (&str, &str), status: u16) -> http::Response {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = call(url, Some(client), None).await;
        if r.status == status || Instant::now() > deadline {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_with_client_certificates_through_the_gateway() {
    let (dir, mut node, https, _) = ready_all_in_one("apim-mtls").await;
    let Some(partner) = certificate(dir.path(), "partner") else { return };
    let Some(stranger) = certificate(dir.path(), "stranger") else { return };
    let gws = node.url("gateway-https", Duration::from_secs(5));
    let gw = node.url("gateway-http", Duration::from_secs(5));
    let m = Mgmt { base: https.clone(), auth: format!("Basic {}", base64_encode("admin:admin")) };
    let backend = apim_test_support::backend::spawn("127.0.0.1:0".parse().expect("addr")).await.expect("backend");
    let partner_tls = (partner.0.as_str(), partner.1.as_str());
    let stranger_tls = (stranger.0.as_str(), stranger.1.as_str());

    let mut step = Steps::new("certificates in the Publisher");
    let id = create(&m, "Partner", backend, json!(["mutualssl"])).await;
    let certs = format!("{PB}/apis/{id}/client-certs/production");
    for (fields, status, says) in [
        (vec![("alias", "a"), ("tier", "Gold"), ("certificate", "not a certificate")], 400, "alias `a` is not a PEM"),
        (vec![("alias", "a"), ("tier", "Nope"), ("certificate", partner.0.as_str())], 400, "`Nope` is not a subscription"),
        (vec![("tier", "Gold"), ("certificate", partner.0.as_str())], 400, "alias"),
        (vec![("alias", "a/b"), ("tier", "Gold"), ("certificate", partner.0.as_str())], 400, "alias"),
    ] {
        let r = upload(&m, "POST", &certs, &fields).await;
        assert_eq!(r.status, status, "{fields:?}: {}", r.body);
        assert!(r.body.contains(says), "{fields:?}: {}", r.body);
    }
    let r = upload(
        &m,
        "POST",
        &format!("{PB}/apis/{id}/client-certs/staging"),
        &[("alias", "a"), ("tier", "Gold"), ("certificate", &partner.0)],
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = upload(&m, "POST", &certs, &[("alias", "partnerA"), ("tier", "Gold"), ("certificate", &partner.0)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json(), json!({"alias": "partnerA", "apiId": id, "tier": "Gold"}));
    let r = upload(&m, "POST", &certs, &[("alias", "partnerA"), ("tier", "Gold"), ("certificate", &stranger.0)]).await;
    assert_eq!(r.status, 409, "the alias is taken: {}", r.body);
    let listed = m.ok("GET", &format!("{PB}/apis/{id}/client-certificates"), Value::Null).await;
    assert_eq!((listed["count"].as_u64(), listed["certificates"][0]["alias"].as_str()), (Some(1), Some("partnerA")), "{listed}");
    let info = m.ok("GET", &format!("{certs}/partnerA"), Value::Null).await;
    assert_eq!((info["status"].as_str(), info["subject"].as_str()), (Some("Active"), Some("CN=partner")), "{info}");
    let content = m.call("GET", &format!("{certs}/partnerA/content"), Value::Null).await;
    assert_eq!(content.body.trim(), partner.0.trim());
    let api = m.ok("GET", &format!("{PB}/apis/{id}"), Value::Null).await;
    assert!(api.get("x-apim-client-certificates").is_none(), "never in the API's DTO: {api}");
    // A PUT of the API as read keeps its certificates.
    m.ok("PUT", &format!("{PB}/apis/{id}"), api).await;
    assert_eq!(m.ok("GET", &format!("{PB}/apis/{id}/client-certificates"), Value::Null).await["count"], 1);
    deploy_and_publish(&m, &id).await;

    step.next("the certificate alone");
    let url = format!("{gws}/partner/1.0.0/orders");
    let r = eventually(&url, partner_tls, 200).await;
    assert_eq!(r.status, 200, "{}\n{}", r.body, node.stderr());
    assert_eq!(r.json()["path"], "/partner/orders");
    let r = call(&url, Some(stranger_tls), None).await;
    assert_eq!((r.status, code(&r).as_str()), (401, "900901"), "a certificate the API does not have: {}", r.body);
    let r = call(&url, None, None).await;
    assert_eq!((r.status, code(&r).as_str()), (401, "900901"), "no certificate: {}", r.body);
    let r = call(&format!("{gw}/partner/1.0.0/orders"), None, None).await;
    assert_eq!(r.status, 401, "plain HTTP carries no certificate: {}", r.body);

    step.next("certificate and token, both mandatory");
    let both =
        create(&m, "Both", backend, json!(["mutualssl", "mutualssl_mandatory", "oauth2", "oauth_basic_auth_api_key_mandatory"])).await;
    let r = upload(
        &m,
        "POST",
        &format!("{PB}/apis/{both}/client-certificates"),
        &[("alias", "partnerB"), ("tier", "Gold"), ("certificate", &partner.0)],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    deploy_and_publish(&m, &both).await;
    let (app, ck, cs) = m.app("PartnerApp", "Unlimited", "JWT", "PRODUCTION").await;
    m.subscribe(&both, &app, "Gold").await;
    let token = m.token(&ck, &cs, "").await;
    let url = format!("{gws}/both/1.0.0/x");
    let deadline = Instant::now() + Duration::from_secs(5);
    let r = loop {
        let r = call(&url, Some(partner_tls), Some(&token)).await;
        if r.status == 200 || Instant::now() > deadline {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(r.status, 200, "certificate and token: {}", r.body);
    let r = call(&url, Some(partner_tls), None).await;
    assert_eq!((r.status, code(&r).as_str()), (401, "900902"), "the certificate without the token: {}", r.body);
    let r = call(&url, Some(stranger_tls), Some(&token)).await;
    assert_eq!((r.status, code(&r).as_str()), (401, "900901"), "the token with another certificate: {}", r.body);
    let r = call(&url, None, Some(&token)).await;
    assert_eq!((r.status, code(&r).as_str()), (401, "900901"), "the token alone: {}", r.body);

    step.next("the WebSocket listener over TLS");
    let echo = apim_test_support::backend::spawn_websocket_echo().await.expect("echo backend");
    let ws_api = json!({"name": "PartnerWs", "context": "/partnerws", "version": "1.0.0", "type": "WS", "policies": ["Gold"],
        "securityScheme": ["mutualssl"],
        "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": format!("ws://{echo}/echo")}},
        "operations": [{"target": "/*", "verb": "GET"}]});
    let ws_id = m.ok("POST", &format!("{PB}/apis"), ws_api).await["id"].as_str().expect("id").to_string();
    let r = upload(
        &m,
        "POST",
        &format!("{PB}/apis/{ws_id}/client-certificates"),
        &[("alias", "partnerWs"), ("tier", "Gold"), ("certificate", &partner.0)],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    deploy_and_publish(&m, &ws_id).await;
    let wss = node.url("gateway-wss", Duration::from_secs(5));
    // Past authentication, a plain GET is told it is not a WebSocket handshake (400 900900).
    let url = format!("{wss}/partnerws/1.0.0/");
    let r = eventually(&url, partner_tls, 400).await;
    assert_eq!((r.status, code(&r).as_str()), (400, "900900"), "{}", r.body);
    let r = call(&url, Some(stranger_tls), None).await;
    assert_eq!((r.status, code(&r).as_str()), (401, "900901"), "{}", r.body);

    step.next("removed, and gone from the gateway with the next revision");
    let r = m.call("DELETE", &format!("{certs}/partnerA"), Value::Null).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(m.call("DELETE", &format!("{certs}/partnerA"), Value::Null).await.status, 404);
    assert_eq!(m.ok("GET", &certs, Value::Null).await["count"], 0);
    let rev = m.ok("POST", &format!("{PB}/apis/{id}/revisions"), json!({})).await["id"].as_str().expect("revision").to_string();
    m.ok("POST", &format!("{PB}/apis/{id}/deploy-revision?revisionId={rev}"), json!([{"name": "Default"}])).await;
    let r = eventually(&format!("{gws}/partner/1.0.0/orders"), partner_tls, 401).await;
    assert_eq!(r.status, 401, "{}", r.body);
    drop(step);
    node.terminate();
}
