//! The gateway through real sockets: an all-in-one node, APIs deployed with the publisher's REST calls, tokens
//! from the resident key manager, and real backends (one of them misbehaving). Asserts WSO2's codes.

use std::time::{Duration, Instant};

use apim_test_support::http;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, KeyPair, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{base64_encode, oauth_form, ready_all_in_one};

/// Management REST calls as admin (HTTP Basic).
#[derive(Clone)]
pub(crate) struct Mgmt {
    pub(crate) base: String,
    pub(crate) auth: String,
}

impl Mgmt {
    pub(crate) async fn call(&self, method: &str, path: &str, body: Value) -> http::Response {
        let body = if body.is_null() { String::new() } else { body.to_string() };
        http::request(
            method,
            &format!("{}{path}", self.base),
            &[("authorization", &self.auth), ("content-type", "application/json")],
            &body,
        )
        .await
        .expect("management request")
    }

    pub(crate) async fn ok(&self, method: &str, path: &str, body: Value) -> Value {
        let r = self.call(method, path, body).await;
        assert!((200..300).contains(&r.status), "{method} {path}: {} {}", r.status, r.body);
        r.json()
    }

    /// `POST …/apis/import-openapi` with an OpenAPI document (JSON or YAML text) and the API's other fields.
    pub(crate) async fn import_openapi(&self, definition: &str, props: &Value) -> http::Response {
        let (ct, body) = super::seeds::multipart(&[("file", definition), ("additionalProperties", &props.to_string())]);
        http::request(
            "POST",
            &format!("{}/api/am/publisher/v4/apis/import-openapi", self.base),
            &[("authorization", &self.auth), ("content-type", &ct)],
            &body,
        )
        .await
        .expect("import")
    }

    /// A new subscriber, through self sign-up, calling as themselves.
    pub(crate) async fn sign_up(&self, username: &str, password: &str) -> Mgmt {
        let r = http::request(
            "POST",
            &format!("{}/api/identity/user/v1.0/me", self.base),
            &[("content-type", "application/json")],
            &json!({"user": {"username": username, "password": password, "claims": []}}).to_string(),
        )
        .await
        .expect("sign up");
        assert!((200..300).contains(&r.status), "{}", r.body);
        Mgmt { base: self.base.clone(), auth: format!("Basic {}", base64_encode(&format!("{username}:{password}"))) }
    }

    /// A POST to the internal data service (`/internal/data/v1/…`) with the event hub's credentials (admin/admin
    /// here), as a peer node sends it.
    pub(crate) async fn internal(&self, path: &str, body: &Value) -> http::Response {
        http::request(
            "POST",
            &format!("{}/internal/data/v1{path}", self.base),
            &[("authorization", &format!("Basic {}", base64_encode("admin:admin"))), ("content-type", "application/json")],
            &body.to_string(),
        )
        .await
        .expect("internal data service")
    }

    /// Creates, revises, deploys to Default and publishes an API; returns its id.
    pub(crate) async fn publish(&self, api: Value) -> String {
        let pb = "/api/am/publisher/v4";
        let id = self.ok("POST", &format!("{pb}/apis"), api).await["id"].as_str().expect("id").to_string();
        let rev = self.ok("POST", &format!("{pb}/apis/{id}/revisions"), json!({"description": "r1"})).await["id"]
            .as_str()
            .expect("rev")
            .to_string();
        self.ok(
            "POST",
            &format!("{pb}/apis/{id}/deploy-revision?revisionId={rev}"),
            json!([{"name": "Default", "displayOnDevportal": true}]),
        )
        .await;
        self.ok("POST", &format!("{pb}/apis/change-lifecycle?action=Publish&apiId={id}"), Value::Null).await;
        id
    }

    /// An application with keys of `key_type`; returns (application id, consumer key, consumer secret).
    pub(crate) async fn app(&self, name: &str, policy: &str, token_type: &str, key_type: &str) -> (String, String, String) {
        let dp = "/api/am/devportal/v3";
        let app = self
            .ok("POST", &format!("{dp}/applications"), json!({"name": name, "throttlingPolicy": policy, "tokenType": token_type}))
            .await;
        let app_id = app["applicationId"].as_str().expect("app").to_string();
        let keys = self.keys(&app_id, key_type).await;
        (app_id, keys.0, keys.1)
    }

    pub(crate) async fn keys(&self, app_id: &str, key_type: &str) -> (String, String) {
        let k = self
            .ok(
                "POST",
                &format!("/api/am/devportal/v3/applications/{app_id}/generate-keys"),
                json!({"keyType": key_type, "grantTypesToBeSupported": ["client_credentials", "password"]}),
            )
            .await;
        (k["consumerKey"].as_str().expect("ck").to_string(), k["consumerSecret"].as_str().expect("cs").to_string())
    }

    pub(crate) async fn subscribe(&self, api_id: &str, app_id: &str, policy: &str) -> String {
        let s = self
            .ok("POST", "/api/am/devportal/v3/subscriptions", json!({"apiId": api_id, "applicationId": app_id, "throttlingPolicy": policy}))
            .await;
        s["subscriptionId"].as_str().expect("subscription").to_string()
    }

    pub(crate) async fn token(&self, ck: &str, cs: &str, scope: &str) -> String {
        let body = if scope.is_empty() {
            "grant_type=client_credentials".to_string()
        } else {
            format!("grant_type=client_credentials&scope={scope}")
        };
        self.token_with(ck, cs, &body).await
    }

    /// A token the admin user holds (password grant).
    pub(crate) async fn user_token(&self, ck: &str, cs: &str) -> String {
        self.token_with(ck, cs, "grant_type=password&username=admin&password=admin").await
    }

    pub(crate) async fn token_with(&self, ck: &str, cs: &str, body: &str) -> String {
        let r = oauth_form(&self.base, "token", ck, cs, body).await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()["access_token"].as_str().expect("access_token").to_string()
    }
}

pub(crate) async fn get(url: &str, token: Option<&str>) -> http::Response {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = bearer.as_deref().map(|b| vec![("authorization", b)]).unwrap_or_default();
    http::request("GET", url, &headers, "").await.expect("gateway request")
}

/// Polls until the gateway answers `status` (changes reach it through the event log within milliseconds).
pub(crate) async fn eventually(url: &str, token: Option<&str>, status: u16) -> http::Response {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = get(url, token).await;
        if r.status == status || Instant::now() > deadline {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Names the step a long scenario is in: when an assertion fails, the step is said beside the panic.
pub(crate) struct Steps(&'static str);

impl Steps {
    pub(crate) fn new(first: &'static str) -> Steps {
        Steps(first)
    }
    pub(crate) fn next(&mut self, name: &'static str) {
        self.0 = name;
    }
}

impl Drop for Steps {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("the scenario failed in step `{}`", self.0);
        }
    }
}

pub(crate) fn code(r: &http::Response) -> String {
    r.json()["code"].as_str().unwrap_or_default().to_string()
}

fn b64(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

pub(crate) fn sign_rs256(key: &RsaKeyPair, header: &Value, claims: &Value) -> String {
    let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
    let mut sig = vec![0u8; key.public_modulus_len()];
    key.sign(&signature::RSA_PKCS1_SHA256, &SystemRandom::new(), input.as_bytes(), &mut sig).expect("sign");
    format!("{input}.{}", b64(&sig))
}

/// The node's own signing key: the private key of the generated TLS certificate.
pub(crate) fn node_key(dir: &std::path::Path) -> RsaKeyPair {
    let pem = std::fs::read_to_string(dir.join("data/tls/localhost.pem")).expect("generated certificate");
    let body: String = pem
        .split("-----BEGIN PRIVATE KEY-----")
        .nth(1)
        .and_then(|s| s.split("-----END PRIVATE KEY-----").next())
        .expect("a PKCS#8 key in the PEM")
        .lines()
        .collect();
    let der = base64::engine::general_purpose::STANDARD.decode(body.trim()).expect("base64");
    RsaKeyPair::from_pkcs8(&der).expect("rsa key")
}

/// Every refusal of the bad-input table through real sockets, plus the happy path, forwarding headers,
/// unsecured resources, opaque tokens, revocation, throttling, blocking and backend failures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_enforces_wso2_codes_through_real_sockets() {
    let (dir, mut node, https, _) = ready_all_in_one("apim-gw").await;
    let gw = node.url("gateway-http", Duration::from_secs(5));
    let gws = node.url("gateway-https", Duration::from_secs(5));
    let m = Mgmt { base: https.clone(), auth: format!("Basic {}", base64_encode("admin:admin")) };
    let backend = apim_test_support::backend::spawn("127.0.0.1:0".parse().expect("addr")).await.expect("backend");
    let broken = apim_test_support::backend::spawn_misbehaving().await.expect("broken backend");

    m.ok(
        "POST",
        "/api/am/admin/v4/throttling/policies/application",
        json!({"policyName": "ThreePerMin", "defaultLimit": {"type": "REQUESTCOUNTLIMIT", "requestCount": {"timeUnit": "min", "unitTime": 1, "requestCount": 3}}}),
    )
    .await;
    let shop = m
        .publish(json!({"name": "Shop", "context": "/shop", "version": "1.0.0", "policies": ["Gold", "Unlimited"], "securityScheme": ["oauth2", "api_key"],
            "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": format!("http://{backend}/backend")}},
            "operations": [{"target": "/items", "verb": "GET"}, {"target": "/items/{id}", "verb": "GET", "scopes": ["shop_read"]},
                           {"target": "/open", "verb": "GET", "authType": "None"}, {"target": "/*", "verb": "POST"},
                           {"target": "/count", "verb": "GET"},
                           {"target": "/apponly", "verb": "GET", "authType": "Application"},
                           {"target": "/useronly", "verb": "GET", "authType": "Application User"}]}))
        .await;
    let flaky = m
        .publish(json!({"name": "Flaky", "context": "/flaky", "version": "1.0.0", "policies": ["Unlimited"],
            "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": format!("http://{broken}"), "config": {"actionDuration": 1000}}},
            "operations": [{"target": "/*", "verb": "GET", "authType": "None"}]}))
        .await;

    let (app, ck, cs) = m.app("ShopApp", "Unlimited", "JWT", "PRODUCTION").await;
    let sub = m.subscribe(&shop, &app, "Gold").await;
    let token = m.token(&ck, &cs, "").await;
    let items = format!("{gw}/shop/1.0.0/items");

    let mut step = Steps::new("happy path");
    // The happy path: forwarded to the backend's base path, client identity added, the token not forwarded.
    let ok = eventually(&items, Some(&token), 200).await;
    assert_eq!(ok.status, 200, "{}\n{}", ok.body, node.stderr());
    let echo = ok.json();
    assert_eq!(echo["path"], "/backend/items");
    assert_eq!(echo["headers"]["x-forwarded-for"], "127.0.0.1");
    assert_eq!(echo["headers"]["x-forwarded-proto"], "http");
    assert!(echo["headers"].get("authorization").is_none(), "the client's token must not reach the backend");
    assert_eq!(get(&format!("{gws}/shop/1.0.0/items?x=1"), Some(&token)).await.json()["headers"]["x-forwarded-proto"], "https");
    step.next("chunked GET body");
    // A GET that carries a chunked body keeps it: framing is read before hop-by-hop headers are dropped.
    let mut tcp = tokio::net::TcpStream::connect(gw.trim_start_matches("http://")).await.expect("connect");
    let raw = format!(
        "GET /shop/1.0.0/count HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    );
    tcp.write_all(raw.as_bytes()).await.expect("chunked GET");
    let mut answer = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_string(&mut answer)).await;
    assert!(answer.starts_with("HTTP/1.1 200") && answer.contains(r#"{"bytes":5}"#), "{answer}");
    step.next("one connection, both servers");
    // One kept-alive connection: a bodiless GET (the gateway's own HTTP/1.1 server), a POST with a body (handed
    // to hyper with the bytes already read), then another GET (hyper's from then on).
    let mut tcp = tokio::net::TcpStream::connect(gw.trim_start_matches("http://")).await.expect("connect");
    let auth = format!("authorization: Bearer {token}\r\n");
    tcp.write_all(format!("GET /shop/1.0.0/items HTTP/1.1\r\nhost: x\r\n{auth}\r\n").as_bytes()).await.expect("GET");
    let (head, body) = read_response(&mut tcp).await;
    assert!(head.starts_with("HTTP/1.1 200") && body.contains("/backend/items"), "{head}{body}");
    tcp.write_all(format!("POST /shop/1.0.0/count HTTP/1.1\r\nhost: x\r\n{auth}content-length: 3\r\n\r\nabc").as_bytes())
        .await
        .expect("POST");
    let (head, body) = read_response(&mut tcp).await;
    assert!(head.starts_with("HTTP/1.1 200") && body.contains(r#"{"bytes":3}"#), "{head}{body}");
    tcp.write_all(format!("GET /shop/1.0.0/items HTTP/1.1\r\nhost: x\r\n{auth}\r\n").as_bytes()).await.expect("GET again");
    let (head, body) = read_response(&mut tcp).await;
    assert!(head.starts_with("HTTP/1.1 200") && body.contains("/backend/items"), "{head}{body}");
    step.next("h2c");
    // HTTP/2 without TLS (prior knowledge) on the same port: the preface goes to hyper.
    let h2 = tokio::net::TcpStream::connect(gw.trim_start_matches("http://")).await.expect("connect h2c");
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), hyper_util::rt::TokioIo::new(h2)).await.expect("h2c");
    tokio::spawn(conn);
    let req = hyper::Request::get(format!("{gw}/shop/1.0.0/items"))
        .header("authorization", format!("Bearer {token}"))
        .body(http_body_util::Empty::<hyper::body::Bytes>::new())
        .expect("request");
    let resp = sender.send_request(req).await.expect("h2c answer");
    assert_eq!((resp.version(), resp.status().as_u16()), (hyper::Version::HTTP_2, 200));
    step.next("X-Forwarded-For");
    // A client's own X-Forwarded-For is kept, with this hop appended.
    let bearer = format!("Bearer {token}");
    let r = http::request("GET", &items, &[("authorization", &bearer), ("x-forwarded-for", "203.0.113.7")], "").await.expect("xff");
    assert_eq!(r.json()["headers"]["x-forwarded-for"], "203.0.113.7, 127.0.0.1", "{}", r.body);
    step.next("authorizationHeader");
    // An API whose token comes in a header of its own (`authorizationHeader`): that header, not Authorization.
    let custom = m
        .publish(json!({"name": "CustomHeader", "context": "/custom", "version": "1.0.0", "policies": ["Unlimited"],
            "authorizationHeader": "X-Api-Token",
            "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": format!("http://{backend}/backend")}},
            "operations": [{"target": "/*", "verb": "GET"}]}))
        .await;
    m.subscribe(&custom, &app, "Unlimited").await;
    let custom_url = format!("{gw}/custom/1.0.0/x");
    let deadline = Instant::now() + Duration::from_secs(5);
    let r = loop {
        let r = http::request("GET", &custom_url, &[("x-api-token", &bearer)], "").await.expect("custom header");
        if r.status == 200 || Instant::now() > deadline {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.json()["headers"].get("x-api-token").is_none(), "the token's header must not reach the backend");
    let r = get(&custom_url, Some(&token)).await;
    assert_eq!((r.status, code(&r).as_str()), (401, "900902"), "Authorization is not this API's header: {}", r.body);
    step.next("unsecured resource");
    // Unsecured resource, no token.
    assert_eq!(get(&format!("{gw}/shop/1.0.0/open"), None).await.status, 200);

    step.next("missing and forged credentials");
    // Missing, malformed and forged credentials.
    let r = get(&items, None).await;
    assert_eq!((r.status, code(&r).as_str()), (401, "900902"), "{}", r.body);
    assert!(r.headers.contains_key("www-authenticate"));
    for bad in ["not-a-token", "a.b.c", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", &format!("{token}x")] {
        let r = get(&items, Some(bad)).await;
        assert_eq!((r.status, code(&r).as_str()), (401, "900901"), "{bad}: {}", r.body);
    }
    let key = node_key(dir.path());
    let jwks = http::get(&format!("{https}/oauth2/jwks")).await.expect("jwks").json();
    let kid = jwks["keys"][0]["kid"].as_str().expect("kid").to_string();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64;
    let issued: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').nth(1).expect("payload")).expect("b64")).expect("claims");
    let issuer = issued["iss"].as_str().expect("iss").to_string();
    let claims = |exp: i64| json!({"iss": issuer, "sub": "admin", "azp": ck, "client_id": ck, "scope": "", "exp": exp, "iat": now - 7200, "jti": format!("t{exp}")});
    // Signed by the node's own key but expired: 900903. Same claims, live: accepted (so the forgery checks below
    // fail for the reason they test, not for the claims).
    let expired = sign_rs256(&key, &json!({"alg": "RS256", "typ": "JWT", "kid": kid}), &claims(now - 3600));
    let r = get(&items, Some(&expired)).await;
    assert_eq!((r.status, code(&r).as_str()), (401, "900903"), "{}", r.body);
    let live = sign_rs256(&key, &json!({"alg": "RS256", "typ": "JWT", "kid": kid}), &claims(now + 600));
    assert_eq!(get(&items, Some(&live)).await.status, 200);
    // Signed by another key under the node's kid; `alg: none`; HS256 keyed with the public key.
    let other = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("key");
    let forged = sign_rs256(&other, &json!({"alg": "RS256", "typ": "JWT", "kid": kid}), &claims(now + 600));
    let none =
        format!("{}.{}.", b64(json!({"alg": "none", "kid": kid}).to_string().as_bytes()), b64(claims(now + 600).to_string().as_bytes()));
    let hs_input =
        format!("{}.{}", b64(json!({"alg": "HS256", "kid": kid}).to_string().as_bytes()), b64(claims(now + 600).to_string().as_bytes()));
    let hmac_key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key.public_key().as_ref());
    let hs256 = format!("{hs_input}.{}", b64(aws_lc_rs::hmac::sign(&hmac_key, hs_input.as_bytes()).as_ref()));
    for (name, t) in [("wrong key", forged), ("alg none", none), ("HS256 with the public key", hs256)] {
        let r = get(&items, Some(&t)).await;
        assert_eq!((r.status, code(&r).as_str()), (401, "900901"), "{name}: {}", r.body);
    }

    step.next("scopes");
    // Scopes: the resource wants shop_read.
    let r = get(&format!("{gw}/shop/1.0.0/items/7"), Some(&token)).await;
    assert_eq!((r.status, code(&r).as_str()), (403, "900910"), "{}", r.body);
    let scoped = m.token(&ck, &cs, "shop_read").await;
    assert_eq!(get(&format!("{gw}/shop/1.0.0/items/7"), Some(&scoped)).await.status, 200);

    step.next("authType");
    // authType: Application resources refuse a user's token, Application User resources an application's (900905).
    let user_token = m.user_token(&ck, &cs).await;
    assert_eq!(get(&format!("{gw}/shop/1.0.0/apponly"), Some(&token)).await.status, 200);
    assert_eq!(get(&format!("{gw}/shop/1.0.0/useronly"), Some(&user_token)).await.status, 200);
    for (path, t) in [("apponly", &user_token), ("useronly", &token)] {
        let r = get(&format!("{gw}/shop/1.0.0/{path}"), Some(t)).await;
        assert_eq!((r.status, code(&r).as_str()), (403, "900905"), "{path}: {}", r.body);
    }

    step.next("subscription and key type");
    // No subscription; a sandbox key on an API with production endpoints only.
    let (_, ck2, cs2) = m.app("Unsubscribed", "Unlimited", "JWT", "PRODUCTION").await;
    let r = get(&items, Some(&m.token(&ck2, &cs2, "").await)).await;
    assert_eq!((r.status, code(&r).as_str()), (403, "900908"), "{}", r.body);
    let (sck, scs) = m.keys(&app, "SANDBOX").await;
    let sandbox = m.token(&sck, &scs, "").await;
    let r = eventually(&items, Some(&sandbox), 403).await;
    assert_eq!(r.status, 403, "{}", r.body);

    step.next("opaque tokens and revocation");
    // Opaque tokens go through introspection; revoking one (and a JWT) is honoured at once.
    let (oapp, ock, ocs) = m.app("OpaqueApp", "Unlimited", "OAUTH", "PRODUCTION").await;
    m.subscribe(&shop, &oapp, "Gold").await;
    let opaque = m.token(&ock, &ocs, "").await;
    assert_eq!(opaque.split('.').count(), 1, "an opaque token");
    assert_eq!(eventually(&items, Some(&opaque), 200).await.status, 200);
    // Introspection tells the grant kind (`aut`), so authType holds for opaque tokens too.
    let opaque_user = m.user_token(&ock, &ocs).await;
    assert_eq!(get(&format!("{gw}/shop/1.0.0/apponly"), Some(&opaque)).await.status, 200);
    assert_eq!(get(&format!("{gw}/shop/1.0.0/useronly"), Some(&opaque_user)).await.status, 200);
    for (path, t) in [("apponly", &opaque_user), ("useronly", &opaque)] {
        let r = get(&format!("{gw}/shop/1.0.0/{path}"), Some(t)).await;
        assert_eq!((r.status, code(&r).as_str()), (403, "900905"), "opaque, {path}: {}", r.body);
    }
    for (t, c, s) in [(&opaque, &ock, &ocs), (&token, &ck, &cs)] {
        let r = oauth_form(&https, "revoke", c, s, &format!("token={t}")).await;
        assert_eq!(r.status, 200);
        let r = eventually(&items, Some(t), 401).await;
        assert_eq!((r.status, code(&r).as_str()), (401, "900901"), "revoked: {}", r.body);
    }
    let token = m.token(&ck, &cs, "").await;

    step.next("API keys");
    // API keys: JWTs the control plane signs, in the `apikey` header or query parameter; revocation reaches the
    // gateway as an event.
    let generated = m
        .ok("POST", &format!("/api/am/devportal/v3/applications/{app}/api-keys/PRODUCTION/generate"), json!({"validityPeriod": 3600}))
        .await;
    let apikey = generated["apikey"].as_str().expect("apikey").to_string();
    assert_eq!(generated["validityTime"], 3600);
    let with_key = |k: String| {
        let items = items.clone();
        async move { http::request("GET", &items, &[("apikey", &k)], "").await.expect("api key request") }
    };
    assert_eq!(with_key(apikey.clone()).await.status, 200);
    assert_eq!(get(&format!("{items}?apikey={apikey}"), None).await.status, 200);
    let r = with_key(format!("{apikey}x")).await;
    assert_eq!((r.status, code(&r).as_str()), (401, "900901"), "a tampered API key: {}", r.body);
    let bad = m.call("POST", &format!("/api/am/devportal/v3/applications/{app}/api-keys/SANDBOX/revoke"), json!({"apikey": apikey})).await;
    assert_eq!(bad.status, 400, "a PRODUCTION key is not revoked as SANDBOX: {}", bad.body);
    m.ok("POST", &format!("/api/am/devportal/v3/applications/{app}/api-keys/PRODUCTION/revoke"), json!({"apikey": apikey})).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    let r = loop {
        let r = with_key(apikey.clone()).await;
        if r.status == 401 || Instant::now() > deadline {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!((r.status, code(&r).as_str()), (401, "900901"), "a revoked API key: {}", r.body);

    step.next("blocked subscription");
    // A blocked subscription.
    m.ok("POST", &format!("/api/am/publisher/v4/subscriptions/block-subscription?subscriptionId={sub}&blockState=BLOCKED"), Value::Null)
        .await;
    let r = eventually(&items, Some(&token), 403).await;
    assert_eq!((r.status, code(&r).as_str()), (403, "900907"), "{}", r.body);
    m.ok("POST", &format!("/api/am/publisher/v4/subscriptions/unblock-subscription?subscriptionId={sub}"), Value::Null).await;
    assert_eq!(eventually(&items, Some(&token), 200).await.status, 200);

    step.next("application throttling");
    // Application throttling: three a minute, then 429 with Retry-After.
    let (tapp, tck, tcs) = m.app("Throttled", "ThreePerMin", "JWT", "PRODUCTION").await;
    m.subscribe(&shop, &tapp, "Gold").await;
    let ttoken = m.token(&tck, &tcs, "").await;
    assert_eq!(eventually(&items, Some(&ttoken), 200).await.status, 200);
    assert_eq!(get(&items, Some(&ttoken)).await.status, 200);
    assert_eq!(get(&items, Some(&ttoken)).await.status, 200);
    let r = get(&items, Some(&ttoken)).await;
    assert_eq!((r.status, code(&r).as_str()), (429, "900803"), "{}", r.body);
    assert!(r.headers.get("retry-after").is_some() && r.json()["nextAccessTime"].is_string(), "{:?}", r.headers);

    step.next("backend limit maxTps");
    // The backend's own limit (`maxTps`): two an hour on this node, then 503 900801 (429 is for policies).
    let capped = m
        .publish(json!({"name": "Capped", "context": "/capped", "version": "1.0.0", "policies": ["Unlimited"],
            "maxTps": {"production": 2, "productionTimeUnit": "HOUR"},
            "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": format!("http://{backend}/backend")}},
            "operations": [{"target": "/*", "verb": "GET", "authType": "None"}]}))
        .await;
    assert!(!capped.is_empty());
    let capped_url = format!("{gw}/capped/1.0.0/x");
    assert_eq!(eventually(&capped_url, None, 200).await.status, 200);
    let mut answers = Vec::new();
    for _ in 0..4 {
        answers.push(get(&capped_url, None).await);
    }
    // An hour boundary between two calls can reopen the window once, no more.
    let refused = answers.iter().position(|r| r.status == 503).expect("the third call within the hour is refused");
    assert!(refused <= 2, "{:?}", answers.iter().map(|r| r.status).collect::<Vec<_>>());
    let r = &answers[refused];
    assert_eq!(code(r), "900801", "{}", r.body);
    assert!(r.headers.get("retry-after").is_some(), "{:?}", r.headers);

    step.next("blocked IP");
    // A blocked IP.
    let cond = m
        .ok(
            "POST",
            "/api/am/admin/v4/throttling/deny-policies",
            json!({"conditionType": "IP", "conditionValue": {"fixedIp": "127.0.0.1", "invert": false}}),
        )
        .await;
    let r = eventually(&items, Some(&token), 403).await;
    assert_eq!((r.status, code(&r).as_str()), (403, "900805"), "{}", r.body);
    let cond_id = cond["conditionId"].as_str().expect("condition");
    assert_eq!(m.call("DELETE", &format!("/api/am/admin/v4/throttling/deny-policy/{cond_id}"), Value::Null).await.status, 200);
    assert_eq!(eventually(&items, Some(&token), 200).await.status, 200);

    step.next("no such API or resource");
    // No such API or resource.
    let r = get(&format!("{gw}/nothing/here"), Some(&token)).await;
    assert_eq!((r.status, code(&r).as_str()), (404, "900906"));
    let r = http::request("DELETE", &items, &[("authorization", &format!("Bearer {token}"))], "").await.expect("delete");
    assert_eq!((r.status, code(&r).as_str()), (404, "900906"));

    step.next("oversized headers");
    // Oversized headers: 431 from the HTTP layer. The server closes with bytes of the head unread, so the kernel
    // may reset the connection before the answer is read: a few tries, and at least one must read the 431 (any
    // other status fails at once).
    let huge = "x".repeat(100 * 1024);
    let mut answered = None;
    for _ in 0..5 {
        let mut tcp = tokio::net::TcpStream::connect(gw.trim_start_matches("http://")).await.expect("connect");
        let head = format!("GET /shop/1.0.0/items HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\nx-huge: {huge}\r\n\r\n");
        let _ = tcp.write_all(head.as_bytes()).await;
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut answer)).await;
        let answer = String::from_utf8_lossy(&answer).into_owned();
        if !answer.is_empty() {
            assert!(answer.starts_with("HTTP/1.1 431"), "oversized headers: {answer}");
            answered = Some(answer);
            break;
        }
    }
    assert!(answered.is_some(), "no answer to an oversized head in five tries");

    step.next("misbehaving backends");
    // Backends that reset, send garbage or stay silent: 502/504 with WSO2's bodies, never a hang.
    for (path, status, wso2) in [("reset", 502, "101505"), ("garbage", 502, "101505"), ("silent", 504, "101504")] {
        // Bounded so a hang fails the test; the endpoint's own timeout (1 s) is what answers `silent`.
        let r = tokio::time::timeout(Duration::from_secs(30), get(&format!("{gw}/flaky/1.0.0/{path}"), None)).await.expect("not a hang");
        assert_eq!((r.status, code(&r).as_str()), (status, wso2), "{path}: {}", r.body);
    }
    step.next("hand-framed answers");
    // Answers framed by hand and written in pieces come through whole.
    for (path, body) in [
        ("chunked", "hello world".to_string()),
        ("untilclose", "until close".into()),
        ("interim", "ok".into()),
        ("big", "y".repeat(1 << 20)),
        ("http10", "old!".into()),
    ] {
        let r = get(&format!("{gw}/flaky/1.0.0/{path}"), None).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        assert!(r.body == body, "{path}: {} bytes, {:?}…", r.body.len(), r.body.get(..40));
    }
    step.next("bodies cut short");
    // A body cut short or garbled after a 200 head: the client must not take it as complete.
    for path in ["short", "badchunk"] {
        let r = http::request("GET", &format!("{gw}/flaky/1.0.0/{path}"), &[], "").await;
        assert!(r.is_err(), "{path}: a broken body reached the client as complete: {:?}", r.map(|r| (r.status, r.body)));
    }
    let _ = flaky;

    step.next("slow loris");
    // A slow-loris client: the header never completes; the gateway closes the connection after 10 s.
    let addr = gw.trim_start_matches("http://").to_string();
    let mut tcp = tokio::net::TcpStream::connect(&addr).await.expect("connect");
    tcp.write_all(b"GET /shop/1.0.0/items HTTP/1.1\r\nHost: x\r\n").await.expect("partial header");
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return true,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert_eq!(closed, Ok(true), "a slow-loris connection is closed");

    let metrics = http::get(&format!("{https}/metrics")).await.expect("metrics");
    assert!(metrics.body.contains("apim_gateway_throttled_total{level=\"application\"} 1"), "{}", metrics.body);
    assert!(metrics.body.contains("apim_gateway_upstream_errors_total{kind=\"timeout\"} 1"), "{}", metrics.body);
    assert!(!node.stderr().contains("panicked"));
    node.terminate();
}

/// Reads one response with a `content-length` body from a raw stream: its head and body.
async fn read_response(tcp: &mut tokio::net::TcpStream) -> (String, String) {
    let head = read_head(tcp).await;
    let len: usize = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().expect("length")))
        .expect("content-length");
    let mut body = vec![0u8; len];
    tokio::time::timeout(Duration::from_secs(5), tcp.read_exact(&mut body)).await.expect("body in time").expect("body");
    (head, String::from_utf8_lossy(&body).into_owned())
}

/// Reads an HTTP response head from a raw stream.
async fn read_head(tcp: &mut tokio::net::TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut byte)).await {
            Ok(Ok(1)) => head.push(byte[0]),
            other => panic!("no response head: {other:?} after {:?}", String::from_utf8_lossy(&head)),
        }
    }
    String::from_utf8_lossy(&head).to_string()
}

/// A WebSocket API through the gateway's WS port: the handshake is authenticated (token in the query, as
/// browsers send it), frames are echoed both ways, and each client frame counts against the application's quota.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_echo_through_the_gateway() {
    use apim_test_support::backend::{frame, read_frame, spawn_websocket_echo, websocket_accept};
    let (_dir, mut node, https, _) = ready_all_in_one("apim-ws").await;
    let ws = node.url("gateway-ws", Duration::from_secs(5));
    let m = Mgmt { base: https.clone(), auth: format!("Basic {}", base64_encode("admin:admin")) };
    let echo = spawn_websocket_echo().await.expect("echo backend");
    m.ok(
        "POST",
        "/api/am/admin/v4/throttling/policies/application",
        json!({"policyName": "FourPerMin", "defaultLimit": {"type": "REQUESTCOUNTLIMIT", "requestCount": {"timeUnit": "min", "unitTime": 1, "requestCount": 4}}}),
    )
    .await;
    let chat = m
        .publish(json!({"name": "Chat", "context": "/chat", "version": "1.0.0", "type": "WS", "policies": ["Unlimited"],
            "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": format!("ws://{echo}/echo")}},
            "operations": [{"target": "/*", "verb": "GET"}]}))
        .await;
    let (app, ck, cs) = m.app("ChatApp", "FourPerMin", "JWT", "PRODUCTION").await;
    m.subscribe(&chat, &app, "Unlimited").await;
    let token = m.token(&ck, &cs, "").await;
    let addr = ws.trim_start_matches("http://").to_string();
    let key = "dGhlIHNhbXBsZSBub25jZQ==";
    let handshake = |query: &str| {
        format!(
            "GET /chat/1.0.0/room{query} HTTP/1.1\r\nHost: gw\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
    };

    // Without a token: refused before any upgrade.
    let deadline = Instant::now() + Duration::from_secs(5);
    let head = loop {
        let mut tcp = tokio::net::TcpStream::connect(&addr).await.expect("connect");
        tcp.write_all(handshake("").as_bytes()).await.expect("handshake");
        let head = read_head(&mut tcp).await;
        if !head.contains(" 404 ") || Instant::now() > deadline {
            break head;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");

    // The subscription reaches the gateway within milliseconds; until then the handshake is a 403.
    let deadline = Instant::now() + Duration::from_secs(5);
    let (mut tcp, head) = loop {
        let mut tcp = tokio::net::TcpStream::connect(&addr).await.expect("connect");
        tcp.write_all(handshake(&format!("?access_token={token}")).as_bytes()).await.expect("handshake");
        let head = read_head(&mut tcp).await;
        if !head.starts_with("HTTP/1.1 403") || Instant::now() > deadline {
            break (tcp, head);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(head.to_ascii_lowercase().contains(&format!("sec-websocket-accept: {}", websocket_accept(key)).to_ascii_lowercase()), "{head}");
    // The handshake used one of four; three frames pass, echoed from the backend's path (the token stayed here).
    for text in ["hello", "again", "third"] {
        tcp.write_all(&frame(1, text.as_bytes(), true)).await.expect("send frame");
        let (opcode, payload) =
            tokio::time::timeout(Duration::from_secs(5), read_frame(&mut tcp)).await.expect("echo in time").expect("echo");
        assert_eq!((opcode, String::from_utf8_lossy(&payload).to_string()), (1, format!("/echo/room|{text}")));
    }
    // The fourth is over the quota: the gateway closes with 1008.
    tcp.write_all(&frame(1, b"too many", true)).await.expect("send frame");
    let (opcode, payload) =
        tokio::time::timeout(Duration::from_secs(5), read_frame(&mut tcp)).await.expect("close in time").expect("close");
    assert_eq!(opcode, 8, "{}", String::from_utf8_lossy(&payload));
    assert_eq!(&payload[..2], &1008u16.to_be_bytes());
    assert!(!node.stderr().contains("panicked"));
    node.terminate();
}

/// A 1 GiB upload streams through the gateway to the backend: every byte arrives, and the gateway's peak memory
/// grows by far less than the body (bodies are never buffered).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_gib_upload_streams_with_flat_memory() {
    const SIZE: u64 = 1 << 30;
    let (_dir, mut node, https, _) = ready_all_in_one("apim-big").await;
    let gw = node.url("gateway-http", Duration::from_secs(5));
    let m = Mgmt { base: https.clone(), auth: format!("Basic {}", base64_encode("admin:admin")) };
    let backend = apim_test_support::backend::spawn("127.0.0.1:0".parse().expect("addr")).await.expect("backend");
    let api = m
        .publish(json!({"name": "Upload", "context": "/upload", "version": "1.0.0", "policies": ["Unlimited"],
            "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": format!("http://{backend}")}},
            "operations": [{"target": "/*", "verb": "POST"}]}))
        .await;
    let (app, ck, cs) = m.app("Uploader", "Unlimited", "JWT", "PRODUCTION").await;
    m.subscribe(&api, &app, "Unlimited").await;
    let token = m.token(&ck, &cs, "").await;
    // Wait for the gateway to serve it (a small upload).
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = http::request("POST", &format!("{gw}/upload/1.0.0/count"), &[("authorization", &format!("Bearer {token}"))], "x")
            .await
            .expect("post");
        if r.status == 200 || Instant::now() > deadline {
            assert_eq!(r.body, r#"{"bytes":1}"#);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (_, before_peak) = node.memory_kib().expect("memory");

    let addr = gw.trim_start_matches("http://").to_string();
    let mut tcp = tokio::net::TcpStream::connect(&addr).await.expect("connect");
    let head = format!("POST /upload/1.0.0/count HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {token}\r\nContent-Length: {SIZE}\r\n\r\n");
    tcp.write_all(head.as_bytes()).await.expect("head");
    let chunk = vec![b'z'; 1 << 20];
    let started = Instant::now();
    let (mut rd, mut wr) = tcp.into_split();
    let writer = tokio::spawn(async move {
        for _ in 0..(SIZE >> 20) {
            wr.write_all(&chunk).await.expect("body chunk");
        }
        wr
    });
    let mut response = Vec::new();
    let _wr = writer.await.expect("writer");
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&response).contains("}") {
        let n = tokio::time::timeout(Duration::from_secs(30), rd.read(&mut buf)).await.expect("response in time").expect("read");
        assert!(n > 0, "connection closed: {}", String::from_utf8_lossy(&response));
        response.extend_from_slice(&buf[..n]);
    }
    let elapsed = started.elapsed();
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 200") && text.contains(&format!("{{\"bytes\":{SIZE}}}")), "{text}");
    let (_, after_peak) = node.memory_kib().expect("memory");
    let growth_mib = after_peak.saturating_sub(before_peak) / 1024;
    println!("1 GiB through the gateway in {elapsed:?}; peak RSS {} MiB before, {} MiB after", before_peak / 1024, after_peak / 1024);
    assert!(growth_mib < 32, "peak memory grew by {growth_mib} MiB for a 1 GiB body");
    node.terminate();
}

/// `[apim.jwt] enable = true`: the backend receives `X-JWT-Assertion`, an RS256 JWT about the caller with WSO2's
/// claim names, verifiable with the node's JWKS; whatever the client sent in that header is dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_jwt_reaches_the_backend() {
    let dir = apim_test_support::TempDir::new("apim-bjwt");
    let offset = apim_test_support::process::free_offset(&[9443, 9763, 8280, 8243, 9099, 8099]);
    std::fs::create_dir_all(dir.path().join("db")).expect("mkdir");
    let cfg = format!(
        "[server]\nhostname = \"localhost\"\noffset = {offset}\n[super_admin]\nusername = \"admin\"\npassword = \"admin\"\ncreate_admin_account = true\n\
         [database.apim_db]\ntype = \"sqlite\"\nurl = \"jdbc:sqlite:db/apim.db\"\n[database.shared_db]\ntype = \"sqlite\"\nurl = \"jdbc:sqlite:db/shared.db\"\n\
         [apim.jwt]\nenable = true\n"
    );
    std::fs::write(dir.path().join("deployment.toml"), cfg).expect("write");
    let mut node = apim_test_support::process::Node::spawn(
        &super::apim(),
        &["all-in-one", "-c", "deployment.toml", "--bind", "127.0.0.1"],
        dir.path(),
    );
    let https = node.url("management-https", Duration::from_secs(20));
    let gw = node.url("gateway-http", Duration::from_secs(5));
    assert_eq!(super::wait_ready(&https, Duration::from_secs(20)).await.status, 200, "{}", node.stderr());
    let m = Mgmt { base: https.clone(), auth: format!("Basic {}", base64_encode("admin:admin")) };
    let backend = apim_test_support::backend::spawn("127.0.0.1:0".parse().expect("addr")).await.expect("backend");
    let api = m
        .publish(json!({"name": "Echo", "context": "/echo", "version": "2.0", "policies": ["Gold"],
            "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": format!("http://{backend}")}},
            "operations": [{"target": "/*", "verb": "GET"}]}))
        .await;
    let (app, ck, cs) = m.app("EchoApp", "Unlimited", "JWT", "PRODUCTION").await;
    m.subscribe(&api, &app, "Gold").await;
    let token = m.token(&ck, &cs, "").await;
    let url = format!("{gw}/echo/2.0/hello");
    let deadline = Instant::now() + Duration::from_secs(5);
    let echo = loop {
        let r = http::request("GET", &url, &[("authorization", &format!("Bearer {token}")), ("x-jwt-assertion", "forged")], "")
            .await
            .expect("call");
        if r.status == 200 || Instant::now() > deadline {
            assert_eq!(r.status, 200, "{}", r.body);
            break r.json();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let assertion = echo["headers"]["x-jwt-assertion"].as_str().expect("a backend JWT").to_string();
    assert_ne!(assertion, "forged");
    let jwks = http::get(&format!("{https}/oauth2/jwks")).await.expect("jwks").json();
    let keys: Vec<apim_jose::jwt::VerifyKey> =
        jwks["keys"].as_array().expect("keys").iter().filter_map(apim_jose::jwt::VerifyKey::from_jwk).collect();
    let claims = apim_jose::jwt::verify(&assertion, &keys).expect("signed by the node's key");
    assert_eq!(claims["http://wso2.org/claims/apiname"], "Echo");
    assert_eq!(claims["http://wso2.org/claims/apicontext"], "/echo/2.0");
    assert_eq!(claims["http://wso2.org/claims/applicationname"], "EchoApp");
    assert_eq!(claims["http://wso2.org/claims/keytype"], "PRODUCTION");
    assert_eq!(claims["http://wso2.org/claims/tier"], "Gold");
    assert_eq!(claims["http://wso2.org/claims/subscriber"], "admin");
    assert!(claims["exp"].as_i64().is_some_and(|e| e > claims["iat"].as_i64().unwrap_or(i64::MAX)));
    node.terminate();
}

/// A custom policy in our rule language: counted per rendered key template, only where its condition holds;
/// over quota: 429 900806. An advanced policy's header condition matches as a regular expression.
#[tokio::test]
async fn custom_and_conditional_policies() {
    let (_dir, mut node, https, _) = ready_all_in_one("apim-custom").await;
    let gw = node.url("gateway-http", Duration::from_secs(5));
    let m = Mgmt { base: https.clone(), auth: format!("Basic {}", base64_encode("admin:admin")) };
    let rule = "limit 3 per 1 hour when $apiContext == '/limited/1.0.0'";
    m.ok(
        "POST",
        "/api/am/admin/v4/throttling/policies/custom",
        json!({"policyName": "ThreePerUserApi", "keyTemplate": "$userId:$apiContext", "siddhiQuery": rule}),
    )
    .await;
    let backend = apim_test_support::backend::spawn("127.0.0.1:0".parse().expect("addr")).await.expect("backend");
    let mut urls = Vec::new();
    let (app, ck, cs) = m.app("CustomApp", "Unlimited", "JWT", "PRODUCTION").await;
    for name in ["Limited", "Free"] {
        let api = m
            .publish(json!({"name": name, "context": format!("/{}", name.to_lowercase()), "version": "1.0.0", "policies": ["Unlimited"],
                "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": format!("http://{backend}/b")}},
                "operations": [{"target": "/r", "verb": "GET"}]}))
            .await;
        m.subscribe(&api, &app, "Unlimited").await;
        urls.push(format!("{gw}/{}/1.0.0/r", name.to_lowercase()));
    }
    let token = m.token(&ck, &cs, "").await;
    assert_eq!(eventually(&urls[0], Some(&token), 200).await.status, 200);
    for _ in 0..2 {
        assert_eq!(get(&urls[0], Some(&token)).await.status, 200);
    }
    let r = get(&urls[0], Some(&token)).await;
    assert_eq!((r.status, code(&r).as_str()), (429, "900806"), "{}", r.body);
    assert!(r.headers.contains_key("retry-after"));
    for _ in 0..5 {
        assert_eq!(eventually(&urls[1], Some(&token), 200).await.status, 200, "the condition does not hold for another API");
    }

    // An advanced policy's header condition is a regular expression found in the header (WSO2's regex:find).
    let one = json!({"type": "REQUESTCOUNTLIMIT", "requestCount": {"timeUnit": "hour", "unitTime": 1, "requestCount": 1}});
    let many = json!({"type": "REQUESTCOUNTLIMIT", "requestCount": {"timeUnit": "hour", "unitTime": 1, "requestCount": 1000}});
    m.ok(
        "POST",
        "/api/am/admin/v4/throttling/policies/advanced",
        json!({"policyName": "BotsOnce", "defaultLimit": many, "conditionalGroups": [{"limit": one, "conditions": [
            {"type": "HEADERCONDITION", "invertCondition": false, "headerCondition": {"headerName": "User-Agent", "headerValue": "^bot-[0-9]+"}}]}]}),
    )
    .await;
    let api = m
        .publish(json!({"name": "Bots", "context": "/bots", "version": "1.0.0", "policies": ["Unlimited"],
            "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": format!("http://{backend}/b")}},
            "operations": [{"target": "/r", "verb": "GET", "throttlingPolicy": "BotsOnce"}]}))
        .await;
    m.subscribe(&api, &app, "Unlimited").await;
    let bots = format!("{gw}/bots/1.0.0/r");
    assert_eq!(eventually(&bots, Some(&token), 200).await.status, 200);
    let bearer = format!("Bearer {token}");
    let call = |agent: &'static str| {
        let (url, bearer) = (bots.clone(), bearer.clone());
        async move { http::request("GET", &url, &[("authorization", &bearer), ("user-agent", agent)], "").await.expect("call") }
    };
    assert_eq!(call("bot-42 crawler").await.status, 200);
    let r = call("bot-7").await;
    assert_eq!((r.status, code(&r).as_str()), (429, "900802"), "the second request of the bot group: {}", r.body);
    for agent in ["robot-7", "human bot-x", "Mozilla/5.0"] {
        assert_eq!(call(agent).await.status, 200, "{agent} is not in the bot group");
    }
    node.terminate();
}

/// An HTTPS backend that picks HTTP/2 by ALPN is called over HTTP/2 (one multiplexed connection), verified
/// against the node's trust (here its own certificate); WebSocket handshakes keep HTTP/1.1.
#[tokio::test]
async fn https_backends_get_http2_when_they_offer_it() {
    let (dir, mut node, https, _) = ready_all_in_one("apim-h2").await;
    let gw = node.url("gateway-http", Duration::from_secs(5));
    let m = Mgmt { base: https.clone(), auth: format!("Basic {}", base64_encode("admin:admin")) };
    let pem = std::fs::read(dir.path().join("data/tls/localhost.pem")).expect("the node's generated certificate");
    let backend = apim_test_support::backend::spawn_tls("127.0.0.1:0".parse().expect("addr"), &pem).await.expect("tls backend");
    let api = m
        .publish(json!({"name": "TwoApi", "context": "/two", "version": "1.0.0", "policies": ["Unlimited"],
            "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": format!("https://localhost:{}/b", backend.port())}},
            "operations": [{"target": "/*", "verb": "GET"}, {"target": "/*", "verb": "POST"}]}))
        .await;
    let (app, ck, cs) = m.app("TwoApp", "Unlimited", "JWT", "PRODUCTION").await;
    m.subscribe(&api, &app, "Unlimited").await;
    let token = m.token(&ck, &cs, "").await;
    let r = eventually(&format!("{gw}/two/1.0.0/items?x=1"), Some(&token), 200).await;
    assert_eq!(r.status, 200, "{}\n{}", r.body, node.stderr());
    let echo = r.json();
    assert_eq!(echo["version"], "HTTP/2.0", "{echo}");
    assert_eq!(echo["path"], "/b/items?x=1", "{echo}");
    assert_eq!(echo["headers"][":authority"], serde_json::Value::Null);
    // Many requests at once share the connection; a body goes through too.
    let urls = vec![format!("{gw}/two/1.0.0/r")];
    let out = apim_test_support::load::offer(&urls, &[("authorization".into(), format!("Bearer {token}"))], 200, 16, None).await;
    assert_eq!(out.count(200), 200, "{:?}", out.by_status);
    let bearer = format!("Bearer {token}");
    let posted =
        http::request("POST", &format!("{gw}/two/1.0.0/count"), &[("authorization", &bearer)], &"y".repeat(100_000)).await.expect("post");
    assert_eq!((posted.status, posted.json()["bytes"].as_u64()), (200, Some(100_000)), "{}", posted.body);
    node.terminate();
}

/// SNI per environment vhost: `vhosts/<host>.pem` beside the configuration file is what the gateway's HTTPS
/// listener presents to a client naming that host; any other name gets the `[keystore.tls]` certificate. A
/// vhost file that is not a certificate and key stops the node before it binds, naming the file.
#[tokio::test]
async fn gateway_picks_vhost_certificates_by_sni() {
    let dir = apim_test_support::TempDir::new("apim-sni");
    let vhosts = dir.path().join("vhosts");
    std::fs::create_dir_all(&vhosts).expect("mkdir");
    let made = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=eu.gw.test", "-keyout"])
        .arg(vhosts.join("key.tmp"))
        .arg("-out")
        .arg(vhosts.join("cert.tmp"))
        .output();
    if !made.as_ref().is_ok_and(|o| o.status.success()) {
        assert!(!apim_test_support::under_ci(), "openssl is needed under CI: {made:?}");
        return;
    }
    let cert = std::fs::read_to_string(vhosts.join("cert.tmp")).expect("cert");
    let key = std::fs::read_to_string(vhosts.join("key.tmp")).expect("key");
    std::fs::write(vhosts.join("eu.gw.test.pem"), format!("{cert}{key}")).expect("write");
    for f in ["key.tmp", "cert.tmp"] {
        std::fs::remove_file(vhosts.join(f)).expect("rm");
    }
    let offset = apim_test_support::process::free_offset(&[9443, 9763, 8280, 8243, 9099, 8099]);
    std::fs::create_dir_all(dir.path().join("db")).expect("mkdir");
    let cfg = format!(
        "[server]\nhostname = \"localhost\"\noffset = {offset}\n[super_admin]\nusername = \"admin\"\npassword = \"admin\"\ncreate_admin_account = true\n\
         [database.apim_db]\ntype = \"sqlite\"\nurl = \"jdbc:sqlite:db/apim.db\"\n[database.shared_db]\ntype = \"sqlite\"\nurl = \"jdbc:sqlite:db/shared.db\"\n"
    );
    std::fs::write(dir.path().join("deployment.toml"), &cfg).expect("write");
    let mut node = apim_test_support::process::Node::spawn(
        &super::apim(),
        &["all-in-one", "-c", "deployment.toml", "--bind", "127.0.0.1"],
        dir.path(),
    );
    let https = node.url("gateway-https", Duration::from_secs(20));
    let addr: std::net::SocketAddr = https.trim_start_matches("https://").parse().expect("addr");
    let expected = rustls_pem_der(&cert);
    let eu = http::peer_certificate(addr, "eu.gw.test").await.expect("tls");
    assert_eq!(eu, expected, "the vhost's own certificate");
    let other = http::peer_certificate(addr, "EU.gw.test").await.expect("tls");
    assert_eq!(other, expected, "host names compare case-insensitively");
    let default = http::peer_certificate(addr, "localhost").await.expect("tls");
    assert_ne!(default, expected, "another name gets the keystore's certificate");
    node.terminate();

    // A broken vhost file: exit 64 naming it, nothing bound.
    std::fs::write(vhosts.join("bad.gw.test.pem"), "not a certificate").expect("write");
    let mut node = apim_test_support::process::Node::spawn(
        &super::apim(),
        &["all-in-one", "-c", "deployment.toml", "--bind", "127.0.0.1"],
        dir.path(),
    );
    let status = node.wait_exit(Duration::from_secs(20)).expect("exits");
    assert_eq!(status.code(), Some(64), "{}", node.stderr());
    assert!(node.stderr().contains("bad.gw.test.pem"), "{}", node.stderr());
}

/// The DER bytes of the first certificate in a PEM text.
fn rustls_pem_der(pem: &str) -> Vec<u8> {
    use base64::Engine;
    let body: String =
        pem.lines().skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE")).skip(1).take_while(|l| !l.starts_with("-----END")).collect();
    base64::engine::general_purpose::STANDARD.decode(body).expect("base64")
}

/// WSO2's mocked implementation (`endpointImplementationType: MOCKED_OAS`): an API imported from an OpenAPI file
/// with examples and no endpoint answers at the gateway from the file, after authentication as any API; a
/// secured operation still wants a token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mocked_api_answers_from_its_openapi_examples() {
    let (_dir, mut node, https, _) = ready_all_in_one("apim-mock").await;
    let gw = node.url("gateway-http", Duration::from_secs(5));
    let m = Mgmt { base: https.clone(), auth: format!("Basic {}", base64_encode("admin:admin")) };
    let definition = json!({
        "openapi": "3.0.1", "info": {"title": "Kitchen", "version": "1.0.0"},
        "paths": {
            "/menu": {"get": {"x-auth-type": "None", "responses": {"200": {"description": "the menu",
                "content": {"application/json": {"example": [{"name": "Margherita", "price": "9.50"}]}}}}}},
            "/order": {"post": {"x-auth-type": "None", "responses": {"201": {"description": "made",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Order"}}}}}}},
            "/order/{id}": {"delete": {"x-auth-type": "None", "responses": {"204": {"description": "gone"}}}},
            "/secret": {"get": {"responses": {"200": {"description": "ok", "content": {"application/json": {"example": {"k": 1}}}}}}}
        },
        "components": {"schemas": {"Order": {"type": "object", "properties": {
            "orderId": {"type": "string", "example": "o-1"}, "quantity": {"type": "integer"}}}}}
    });
    let props = json!({"name": "Kitchen", "context": "/kitchen", "version": "1.0.0", "policies": ["Unlimited"],
        "endpointImplementationType": "MOCKED_OAS"});
    let r = m.import_openapi(&definition.to_string(), &props).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["endpointImplementationType"], "MOCKED_OAS", "{}", r.body);
    let api = r.json()["id"].as_str().expect("id").to_string();
    let pb = "/api/am/publisher/v4";
    let rev = m.ok("POST", &format!("{pb}/apis/{api}/revisions"), json!({})).await["id"].as_str().expect("rev").to_string();
    m.ok("POST", &format!("{pb}/apis/{api}/deploy-revision?revisionId={rev}"), json!([{"name": "Default"}])).await;

    let menu = eventually(&format!("{gw}/kitchen/1.0.0/menu"), None, 200).await;
    assert_eq!(menu.status, 200, "{}\n{}", menu.body, node.stderr());
    assert_eq!(menu.json(), json!([{"name": "Margherita", "price": "9.50"}]));
    let order =
        http::request("POST", &format!("{gw}/kitchen/1.0.0/order"), &[("content-type", "application/json")], "{}").await.expect("post");
    assert_eq!((order.status, order.json()), (201, json!({"orderId": "o-1", "quantity": 0})), "{}", order.body);
    let gone = http::request("DELETE", &format!("{gw}/kitchen/1.0.0/order/7"), &[], "").await.expect("delete");
    assert_eq!((gone.status, gone.body.as_str()), (204, ""));
    let secret = get(&format!("{gw}/kitchen/1.0.0/secret"), None).await;
    assert_eq!(secret.status, 401, "a mocked operation is secured as any: {}", secret.body);
    // An unknown implementation type is refused when saved, naming the field and the choices.
    let mut doc = m.ok("GET", &format!("{pb}/apis/{api}"), Value::Null).await;
    doc["endpointImplementationType"] = json!("SCRIPTED");
    let bad = m.call("PUT", &format!("{pb}/apis/{api}"), doc).await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body.contains("endpointImplementationType") && bad.body.contains("MOCKED_OAS"), "{}", bad.body);
    assert!(!node.stderr().contains("panicked"), "{}", node.stderr());
    node.terminate();
}
