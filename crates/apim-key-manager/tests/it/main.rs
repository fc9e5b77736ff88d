//! The key manager through real sockets on SQLite, PostgreSQL and MariaDB: every grant, introspection,
//! revocation with notices to a listening HTTP server, registration, the bad-input table, and two nodes on one
//! database.

use std::sync::{Arc, Mutex};

use apim_config::{HostsFile, LoadOptions, Source};
use apim_domain::clock::Clock;
use apim_domain::password;
use apim_key_manager::{Config, KeyManager, notify};
use apim_store::{Db, NewUser, UserStore};
use apim_test_support::db::{Backend, TestDb};
use apim_test_support::{TempDir, http};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

mod public_client;

type Notices = Arc<Mutex<Vec<(String, String, Value)>>>;

struct Node {
    base: String,
    km: Arc<KeyManager>,
}

fn rsa_key() -> Vec<u8> {
    rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("rsa").serialize_der()
}

fn config(listener: &str) -> Config {
    Config {
        issuer: "https://km.test/oauth2/token".into(),
        base_url: "https://km.test".into(),
        access_ttl: 3600,
        refresh_ttl: 86400,
        code_ttl: 300,
        default_format: apim_domain::oauth::TokenFormat::Jwt,
        signing_algorithm: apim_jose::jwt::Alg::Rs256,
        listeners: vec![notify::Listener {
            url: listener.into(),
            username: Some("admin".into()),
            password: Some("admin".into()),
            headers: vec![("X-WSO2-KEY-MANAGER".into(), "default".into())],
        }],
        hosts: Default::default(),
    }
}

async fn start(db: &Db, cfg: Config, key: &[u8]) -> Node {
    start_with_clock(db, cfg, key, Clock::system()).await
}

async fn start_with_clock(db: &Db, cfg: Config, key: &[u8], clock: Clock) -> Node {
    let tls = Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("tls")
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth(),
    );
    let km = KeyManager::start_with_clock(db.clone(), db.clone(), cfg, key, tls, clock).await.expect("start key manager");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let router = km.router();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Node { base, km }
}

/// A real HTTP server that records revocation notices.
async fn notice_listener() -> (String, Notices) {
    notice_listener_on("127.0.0.1:0").await
}

/// [`notice_listener`] on a given address.
async fn notice_listener_on(addr: &str) -> (String, Notices) {
    let notices: Notices = Arc::new(Mutex::new(Vec::new()));
    let sink = notices.clone();
    let app = axum::Router::new().route(
        "/internal/data/v1/notify",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let sink = sink.clone();
            async move {
                let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                sink.lock().expect("lock").push((h("authorization"), h("x-wso2-key-manager"), v));
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
    let url = format!("http://{}/internal/data/v1/notify", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, notices)
}

fn basic(user: &str, pass: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{pass}")))
}

async fn post_form(url: &str, auth: Option<&str>, body: &str) -> http::Response {
    let mut h = vec![("content-type", "application/x-www-form-urlencoded")];
    if let Some(a) = auth {
        h.push(("authorization", a));
    }
    http::request("POST", url, &h, body).await.expect("request")
}

async fn post_json(url: &str, auth: &str, body: &Value) -> http::Response {
    http::request("POST", url, &[("content-type", "application/json"), ("authorization", auth)], &body.to_string()).await.expect("request")
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn users(db: &Db) {
    db.migrate("apim_db").await.expect("migrate");
    for (name, roles) in [
        ("admin", vec!["admin"]),
        ("creator", vec!["Internal/creator"]),
        ("subscriber", vec!["Internal/subscriber"]),
        ("devops", vec!["Internal/devops"]),
    ] {
        let hash = password::hash(&format!("{name}-pw")).expect("hash");
        db.create_user(&NewUser { username: name, password_hash: &hash, roles: &roles }).await.expect("user");
    }
}

/// apictl's login as its source makes it: DCR with the user's own HTTP Basic credentials and apictl's body (its
/// `callbackUrl` is not a URL), then the password grant with apictl's scope list before every command, refresh,
/// and revocation at logout. An `Internal/devops` user gets the import/export scopes, not the admin's.
async fn apictl_login(n: &Node) {
    let r = post_json(
        &format!("{}/client-registration/v0.17/register", n.base),
        &basic("devops", "devops-pw"),
        &json!({"clientName": "rest_api_import_export_devops", "callbackUrl": "www.google.lk", "grantType": "password refresh_token",
                "saasApp": true, "owner": "devops", "tokenScope": "Production"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let (id, secret) =
        (r.json()["clientId"].as_str().expect("id").to_string(), r.json()["clientSecret"].as_str().expect("secret").to_string());
    let scopes = "apim:app_import_export apim:api_import_export apim:api_product_import_export apim:app_manage apim:sub_manage \
                  apim:api_view apim:api_delete apim:app_owner_change apim:subscribe apim:api_publish apim:admin apim:policies_import_export";
    let body = format!("grant_type=password&username=devops&password=devops-pw&scope={}", enc(scopes));
    let r = token(n, &id, &secret, &body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let t = r.json();
    let mut granted: Vec<&str> = t["scope"].as_str().expect("scope").split(' ').collect();
    granted.sort_unstable();
    assert_eq!(
        granted,
        [
            "apim:api_delete",
            "apim:api_import_export",
            "apim:api_product_import_export",
            "apim:api_publish",
            "apim:api_view",
            "apim:app_import_export",
            "apim:policies_import_export"
        ]
    );
    let refresh = t["refresh_token"].as_str().expect("a refresh token");
    let r = token(n, &id, &secret, &format!("grant_type=refresh_token&refresh_token={}", enc(refresh))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let access = r.json()["access_token"].as_str().expect("token").to_string();
    let r = post_form(&format!("{}/oauth2/revoke", n.base), Some(&basic(&id, &secret)), &format!("token={}", enc(&access))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(introspect(n, &id, &secret, &access).await["active"], false, "logged out");
    // Another user's password does not register a client for the devops user.
    let r = post_json(
        &format!("{}/client-registration/v0.17/register", n.base),
        &basic("subscriber", "subscriber-pw"),
        &json!({"clientName": "x", "callbackUrl": "www.google.lk", "grantType": "password refresh_token", "saasApp": true, "owner": "devops"}),
    )
    .await;
    assert!(r.status == 400 || r.status == 401 || r.status == 403, "{}", r.body);
}

/// Registers a client through WSO2's endpoint; returns (id, secret).
async fn register(n: &Node, grants: &str, token_type: &str) -> (String, String) {
    let r = post_json(
        &format!("{}/client-registration/v0.17/register", n.base),
        &basic("admin", "admin-pw"),
        &json!({"clientName": "app", "owner": "subscriber", "grantType": grants, "callbackUrl": "https://app.test/cb", "saasApp": true, "tokenType": token_type}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    (v["clientId"].as_str().expect("id").to_string(), v["clientSecret"].as_str().expect("secret").to_string())
}

async fn token(n: &Node, id: &str, secret: &str, body: &str) -> http::Response {
    post_form(&format!("{}/oauth2/token", n.base), Some(&basic(id, secret)), body).await
}

async fn introspect(n: &Node, id: &str, secret: &str, t: &str) -> Value {
    let r = post_form(&format!("{}/oauth2/introspect", n.base), Some(&basic(id, secret)), &format!("token={}", enc(t))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

async fn wait_notices(notices: &Notices, n: usize) -> Vec<(String, String, Value)> {
    for _ in 0..200 {
        let got = notices.lock().expect("lock").clone();
        if got.len() >= n {
            return got;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    notices.lock().expect("lock").clone()
}

fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("b64")).expect("json")
}

async fn suite(db: Db) {
    users(&db).await;
    let (listener, notices) = notice_listener().await;
    let key = rsa_key();
    let a = start(&db, config(&listener), &key).await;

    // Discovery and JWKS.
    let d = http::get(&format!("{}/.well-known/openid-configuration", a.base)).await.expect("discovery").json();
    assert_eq!(d["token_endpoint"], "https://km.test/oauth2/token");
    assert_eq!(http::get(&format!("{}/oauth2/token/.well-known/openid-configuration", a.base)).await.expect("d2").status, 200);
    let jwks = http::get(&format!("{}/oauth2/jwks", a.base)).await.expect("jwks").json();
    assert_eq!(jwks["keys"][0]["kid"], a.km.signing_key().kid.as_str());

    // client_credentials, JWT: claims as specified.
    let (id, secret) = register(&a, "client_credentials password refresh_token", "JWT").await;
    let r = token(&a, &id, &secret, "grant_type=client_credentials&scope=read%20apim:admin").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.headers.get("cache-control").and_then(|v| v.to_str().ok()), Some("no-store"));
    let t = r.json();
    let jwt = t["access_token"].as_str().expect("token").to_string();
    let c = claims(&jwt);
    for k in ["iss", "sub", "aud", "azp", "client_id", "scope", "iat", "nbf", "exp", "jti"] {
        assert!(c.get(k).is_some(), "claim {k} missing in {c}");
    }
    assert_eq!(c["sub"], "subscriber");
    assert_eq!(c["scope"], "read", "a subscriber-owned app gets no admin scope");
    assert!(t.get("refresh_token").is_none());
    let i = introspect(&a, &id, &secret, &jwt).await;
    assert_eq!(i["active"], true);
    assert_eq!(i["client_id"], id.as_str());

    // Password grant: roles bound REST API scopes; refresh token issued.
    let r = token(&a, &id, &secret, "grant_type=password&username=creator&password=creator-pw&scope=apim:api_create%20apim:admin%20openid")
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let t = r.json();
    assert_eq!(t["scope"], "apim:api_create openid");
    let refresh1 = t["refresh_token"].as_str().expect("refresh").to_string();
    let access1 = t["access_token"].as_str().expect("access").to_string();
    let ui = http::request("GET", &format!("{}/oauth2/userinfo", a.base), &[("authorization", &format!("Bearer {access1}"))], "")
        .await
        .expect("userinfo");
    assert_eq!(ui.status, 200, "{}", ui.body);
    assert_eq!(ui.json()["sub"], "creator");
    let bad = token(&a, &id, &secret, "grant_type=password&username=creator&password=nope").await;
    assert_eq!((bad.status, bad.json()["error"].as_str()), (400, Some("invalid_grant")));

    // Refresh rotates; presenting the rotated one revokes the whole family and notifies.
    let r = token(&a, &id, &secret, &format!("grant_type=refresh_token&refresh_token={}", enc(&refresh1))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let t2 = r.json();
    let access2 = t2["access_token"].as_str().expect("access").to_string();
    let refresh2 = t2["refresh_token"].as_str().expect("refresh").to_string();
    assert_ne!(refresh1, refresh2);
    let reuse = token(&a, &id, &secret, &format!("grant_type=refresh_token&refresh_token={}", enc(&refresh1))).await;
    assert_eq!(reuse.json()["error"], "invalid_grant");
    assert_eq!(introspect(&a, &id, &secret, &access2).await["active"], false);
    assert_eq!(introspect(&a, &id, &secret, &access1).await["active"], false);
    assert_eq!(
        token(&a, &id, &secret, &format!("grant_type=refresh_token&refresh_token={}", enc(&refresh2))).await.json()["error"],
        "invalid_grant"
    );
    let got = wait_notices(&notices, 2).await;
    assert!(got.len() >= 2, "{got:?}");
    let (auth, header, body) = &got[0];
    assert_eq!(auth, &basic("admin", "admin"));
    assert_eq!(header, "default");
    for k in ["eventId", "revokedToken", "ttl", "expiryTime", "type", "tenantId"] {
        assert!(body.get(k).is_some(), "{k} missing in {body}");
    }
    let jtis: Vec<&str> = got.iter().filter_map(|(_, _, b)| b["revokedToken"].as_str()).collect();
    assert!(jtis.contains(&claims(&access2)["jti"].as_str().expect("jti")));

    // Explicit revocation (RFC 7009) of an access token; unknown tokens are fine.
    let before = notices.lock().expect("lock").len();
    let r = post_form(&format!("{}/oauth2/revoke", a.base), Some(&basic(&id, &secret)), &format!("token={}", enc(&jwt))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(introspect(&a, &id, &secret, &jwt).await["active"], false);
    assert_eq!(post_form(&format!("{}/oauth2/revoke", a.base), Some(&basic(&id, &secret)), "token=nonsense").await.status, 200);
    assert!(wait_notices(&notices, before + 1).await.len() > before);

    // Opaque tokens: stored only as a hash.
    let (oid, osecret) = register(&a, "client_credentials", "OPAQUE").await;
    let ot = token(&a, &oid, &osecret, "grant_type=client_credentials").await.json()["access_token"].as_str().expect("opaque").to_string();
    assert!(!ot.contains('.'));
    assert_eq!(introspect(&a, &oid, &osecret, &ot).await["active"], true);
    assert!(matches!(apim_store::OAuthStore::get_token(&db, &ot).await, Ok(None)), "the token itself is not a key");

    // Authorization code with PKCE S256, through the login page.
    let (cid, csecret) = register(&a, "authorization_code refresh_token", "JWT").await;
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let q = format!(
        "response_type=code&client_id={cid}&redirect_uri={}&scope=openid&state=xyz&code_challenge={challenge}&code_challenge_method=S256",
        enc("https://app.test/cb")
    );
    let page = http::get(&format!("{}/oauth2/authorize?{q}", a.base)).await.expect("page");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<form") && page.body.contains("name=\"password\""));
    let wrong = post_form(&format!("{}/oauth2/authorize", a.base), None, &format!("{q}&username=creator&password=bad")).await;
    assert_eq!(wrong.status, 401);
    let ok = post_form(&format!("{}/oauth2/authorize", a.base), None, &format!("{q}&username=creator&password=creator-pw")).await;
    assert_eq!(ok.status, 302, "{}", ok.body);
    let location = ok.headers.get("location").and_then(|v| v.to_str().ok()).expect("location").to_string();
    assert!(location.starts_with("https://app.test/cb?code=") && location.ends_with("&state=xyz"), "{location}");
    let code = location.split("code=").nth(1).and_then(|s| s.split('&').next()).expect("code").to_string();
    let redeem =
        |v: &str, redirect: &str| format!("grant_type=authorization_code&code={code}&redirect_uri={}&code_verifier={v}", enc(redirect));
    let mismatch = token(&a, &cid, &csecret, &redeem("x".repeat(43).as_str(), "https://app.test/cb")).await;
    assert_eq!(mismatch.json()["error"], "invalid_grant", "PKCE mismatch");
    // The failed attempt spent the code: using it again counts as reuse.
    let reuse = token(&a, &cid, &csecret, &redeem(verifier, "https://app.test/cb")).await;
    assert_eq!(reuse.json()["error"], "invalid_grant");
    // A fresh code, redeemed correctly, then reused: the reuse revokes what it issued.
    let ok = post_form(&format!("{}/oauth2/authorize", a.base), None, &format!("{q}&username=creator&password=creator-pw")).await;
    let location = ok.headers.get("location").and_then(|v| v.to_str().ok()).expect("location").to_string();
    let code2 = location.split("code=").nth(1).and_then(|s| s.split('&').next()).expect("code").to_string();
    let body = format!("grant_type=authorization_code&code={code2}&redirect_uri={}&code_verifier={verifier}", enc("https://app.test/cb"));
    let wrong_redirect =
        format!("grant_type=authorization_code&code={code2}&redirect_uri={}&code_verifier={verifier}", enc("https://evil.test/cb"));
    assert_eq!(token(&a, &cid, &csecret, &wrong_redirect).await.json()["error"], "invalid_grant", "redirect mismatch");
    let ok = post_form(&format!("{}/oauth2/authorize", a.base), None, &format!("{q}&username=creator&password=creator-pw")).await;
    let location = ok.headers.get("location").and_then(|v| v.to_str().ok()).expect("location").to_string();
    let code3 = location.split("code=").nth(1).and_then(|s| s.split('&').next()).expect("code").to_string();
    let body3 = body.replace(&code2, &code3);
    let issued = token(&a, &cid, &csecret, &body3).await;
    assert_eq!(issued.status, 200, "{}", issued.body);
    let code_access = issued.json()["access_token"].as_str().expect("access").to_string();
    assert_eq!(introspect(&a, &cid, &csecret, &code_access).await["active"], true);
    assert_eq!(token(&a, &cid, &csecret, &body3).await.json()["error"], "invalid_grant");
    assert_eq!(introspect(&a, &cid, &csecret, &code_access).await["active"], false, "code reuse revokes its tokens");
    // Redirect URI not registered: shown on the page, not redirected.
    let evil =
        http::get(&format!("{}/oauth2/authorize?response_type=code&client_id={cid}&redirect_uri={}", a.base, enc("https://evil.test/")))
            .await
            .expect("page");
    assert_eq!(evil.status, 400);
    let plain = http::get(&format!(
        "{}/oauth2/authorize?response_type=code&client_id={cid}&code_challenge={challenge}&code_challenge_method=plain",
        a.base
    ))
    .await
    .expect("page");
    assert!(plain.headers.get("location").and_then(|v| v.to_str().ok()).is_some_and(|l| l.contains("error=invalid_request")));

    // The bad-input table of the token endpoint.
    let ep = format!("{}/oauth2/token", a.base);
    let cases: Vec<(Option<String>, String, u16, &str)> = vec![
        (Some(basic(&id, &secret)), "scope=x".into(), 400, "invalid_request"),
        (Some(basic(&id, &secret)), "grant_type=client_credentials&grant_type=password".into(), 400, "invalid_request"),
        (Some(basic(&id, &secret)), "grant_type=implicit".into(), 400, "unsupported_grant_type"),
        (Some(basic("nobody", "x")), "grant_type=client_credentials".into(), 401, "invalid_client"),
        (Some(basic(&id, "wrong")), "grant_type=client_credentials".into(), 401, "invalid_client"),
        (None, "grant_type=client_credentials".into(), 401, "invalid_client"),
        (Some("Basic !!!".into()), "grant_type=client_credentials".into(), 401, "invalid_client"),
        (Some(basic(&id, &secret)), format!("grant_type=client_credentials&client_id={id}&client_secret={secret}"), 400, "invalid_request"),
        (Some(basic(&cid, &csecret)), "grant_type=client_credentials".into(), 400, "unauthorized_client"),
        (Some(basic(&id, &secret)), "grant_type=client_credentials&scope=a%22b".into(), 400, "invalid_scope"),
        (Some(basic(&id, &secret)), "grant_type=password&username=creator".into(), 400, "invalid_request"),
        (Some(basic(&id, &secret)), "grant_type=refresh_token&refresh_token=unknown".into(), 400, "invalid_grant"),
        (None, format!("grant_type=client_credentials&client_id={id}&client_secret={secret}"), 200, ""),
    ];
    for (auth, body, status, error) in cases {
        let r = post_form(&ep, auth.as_deref(), &body).await;
        assert_eq!(r.status, status, "{body}: {}", r.body);
        if !error.is_empty() {
            assert_eq!(r.json()["error"], error, "{body}");
        }
        if status == 401 {
            assert!(r.headers.get("www-authenticate").is_some());
        }
    }
    let not_form = http::request("POST", &ep, &[("content-type", "application/json"), ("authorization", &basic(&id, &secret))], "{}")
        .await
        .expect("req");
    assert_eq!(not_form.json()["error"], "invalid_request");

    // Forged tokens: alg none, HS256 keyed with the public key, a tampered payload.
    let parts: Vec<&str> = jwt.split('.').collect();
    let none = format!("{}.{}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#), parts[1]);
    let hs_header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"HS256","typ":"JWT","kid":"{}"}}"#, a.km.signing_key().kid));
    let hs_input = format!("{hs_header}.{}", parts[1]);
    let n = a.km.signing_key().jwk["n"].as_str().expect("n").to_string();
    let tag = aws_lc_rs::hmac::sign(&aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, n.as_bytes()), hs_input.as_bytes());
    let hs = format!("{hs_input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()));
    let tampered = format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(r#"{"jti":"x","sub":"root"}"#), parts[2]);
    for forged in [none, hs, tampered, "a.b.c".into(), "".into()] {
        if forged.is_empty() {
            let r = post_form(&format!("{}/oauth2/introspect", a.base), Some(&basic(&id, &secret)), "token=").await;
            assert_eq!(r.json()["error"], "invalid_request");
            continue;
        }
        assert_eq!(introspect(&a, &id, &secret, &forged).await["active"], false, "{forged}");
    }

    // Expiry, on a node whose clock the test moves: a token lives `access_ttl` (3600 s), a code `code_ttl` (300 s).
    let clock = Clock::manual_at_system_time();
    let timed = start_with_clock(&db, config(&listener), &key, clock.clone()).await;
    let expiring =
        token(&timed, &id, &secret, "grant_type=client_credentials").await.json()["access_token"].as_str().expect("t").to_string();
    let ok = post_form(&format!("{}/oauth2/authorize", timed.base), None, &format!("{q}&username=creator&password=creator-pw")).await;
    let location = ok.headers.get("location").and_then(|v| v.to_str().ok()).expect("location").to_string();
    let code4 = location.split("code=").nth(1).and_then(|s| s.split('&').next()).expect("code").to_string();
    clock.advance(std::time::Duration::from_secs(299));
    assert_eq!(introspect(&timed, &id, &secret, &expiring).await["active"], true);
    clock.advance(std::time::Duration::from_secs(1));
    let r = token(&timed, &cid, &csecret, &body.replace(&code2, &code4)).await;
    assert_eq!(r.json()["error"], "invalid_grant", "a code 300 s old has expired");
    clock.advance(std::time::Duration::from_secs(3299));
    assert_eq!(introspect(&timed, &id, &secret, &expiring).await["active"], true, "one second before expiry");
    clock.advance(std::time::Duration::from_secs(1));
    assert_eq!(introspect(&timed, &id, &secret, &expiring).await["active"], false, "expired at 3600 s");

    // A second node on the same database with another key: it honours the first node's tokens and
    // revocations, and both keys are in the JWKS.
    let b = start(&db, config(&listener), &rsa_key()).await;
    let from_a = token(&a, &id, &secret, "grant_type=client_credentials").await.json()["access_token"].as_str().expect("t").to_string();
    let from_b = token(&b, &id, &secret, "grant_type=client_credentials").await.json()["access_token"].as_str().expect("t").to_string();
    assert_eq!(introspect(&b, &id, &secret, &from_a).await["active"], true);
    assert_eq!(introspect(&a, &id, &secret, &from_b).await["active"], true, "node a learns node b's key from the database");
    let r = post_form(&format!("{}/oauth2/revoke", b.base), Some(&basic(&id, &secret)), &format!("token={}", enc(&from_a))).await;
    assert_eq!(r.status, 200);
    assert_eq!(introspect(&a, &id, &secret, &from_a).await["active"], false);
    let kids = http::get(&format!("{}/oauth2/jwks", a.base)).await.expect("jwks").json()["keys"].as_array().map(|k| k.len());
    assert_eq!(kids, Some(2));

    // Registration: RFC 7591 with GET/PUT/DELETE, secret regeneration, and its bad input.
    let dcr = format!("{}/keymanager-operations/dcr/register", a.base);
    let admin = basic("admin", "admin-pw");
    let r =
        post_json(&dcr, &admin, &json!({"client_name": "rfc", "grant_types": ["client_credentials"], "token_type_extension": "JWT"})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let v = r.json();
    let (rid, rsecret) = (v["client_id"].as_str().expect("id").to_string(), v["client_secret"].as_str().expect("s").to_string());
    let got = http::request("GET", &format!("{dcr}/{rid}"), &[("authorization", &admin)], "").await.expect("get");
    assert_eq!((got.status, got.json()["client_name"].as_str()), (200, Some("rfc")));
    assert!(got.json().get("client_secret").is_none());
    let put = http::request(
        "PUT",
        &format!("{dcr}/{rid}"),
        &[("authorization", &admin), ("content-type", "application/json")],
        &json!({"client_name": "rfc2", "grant_types": ["client_credentials", "password"]}).to_string(),
    )
    .await
    .expect("put");
    assert_eq!((put.status, put.json()["client_name"].as_str()), (200, Some("rfc2")));
    let live = token(&a, &rid, &rsecret, "grant_type=client_credentials").await.json()["access_token"].as_str().expect("t").to_string();
    let before = notices.lock().expect("lock").len();
    let regen = post_json(&format!("{dcr}/{rid}/regenerate-consumer-secret"), &admin, &json!({})).await;
    assert_eq!(regen.status, 200, "{}", regen.body);
    let new_secret = regen.json()["client_secret"].as_str().expect("s").to_string();
    assert_eq!(token(&a, &rid, &rsecret, "grant_type=client_credentials").await.status, 401, "old secret dead");
    assert_eq!(introspect(&a, &rid, &new_secret, &live).await["active"], false, "regeneration revokes tokens");
    assert!(wait_notices(&notices, before + 1).await.len() > before);
    let del = http::request("DELETE", &format!("{dcr}/{rid}"), &[("authorization", &admin)], "").await.expect("delete");
    assert_eq!(del.status, 204);
    assert_eq!(http::request("DELETE", &format!("{dcr}/{rid}"), &[("authorization", &admin)], "").await.expect("delete").status, 404);
    assert_eq!(token(&a, &rid, &new_secret, "grant_type=client_credentials").await.status, 401);
    for (auth, body, status) in [
        (basic("admin", "wrong"), json!({"client_name": "x"}), 401),
        (basic("creator", "creator-pw"), json!({"client_name": "x", "grant_types": ["client_credentials"]}), 403),
        (admin.clone(), json!({"grant_types": ["client_credentials"]}), 400),
        (admin.clone(), json!({"client_name": "x", "grant_types": ["implicit"]}), 400),
        (admin.clone(), json!({"client_name": "x", "grant_types": ["authorization_code"]}), 400),
        (admin.clone(), json!({"client_name": "x", "grant_types": "client_credentials", "redirect_uris": ["not a uri"]}), 400),
        (admin.clone(), json!({"client_name": 5}), 400),
    ] {
        let r = post_json(&dcr, &auth, &body).await;
        assert_eq!(r.status, status, "{body}: {}", r.body);
    }
    let r =
        http::request("POST", &dcr, &[("content-type", "application/json"), ("authorization", &admin)], "{not json").await.expect("req");
    assert_eq!((r.status, r.json()["error"].as_str()), (400, Some("invalid_client_metadata")));
    // Last: its revocation notice must not count among the ones awaited above.
    apictl_login(&a).await;
}

fn sqlite_db(dir: &TempDir) -> String {
    format!("type = \"sqlite\"\nurl = \"jdbc:sqlite:{}/km.db\"\n", dir.path().display())
}

async fn connect(fields: &str) -> Db {
    let text = format!("[database.apim_db]\n{fields}");
    let env = |_: &str| None;
    let loaded = apim_config::load_str(Source::new("t.toml", text), &LoadOptions::default(), &env).expect("config");
    apim_store::connect(&loaded.config.apim_db.expect("db"), &HostsFile::default()).await.expect("connect")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_manager_on_sqlite() {
    let dir = TempDir::new("apim-km");
    suite(connect(&sqlite_db(&dir)).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_manager_on_postgres() {
    let Some(tdb) = TestDb::create(Backend::Postgres).await else { return };
    suite(connect(&tdb.toml_fields()).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_manager_on_mariadb() {
    let Some(tdb) = TestDb::create(Backend::MySql).await else { return };
    suite(connect(&tdb.toml_fields()).await).await;
}

/// Discovery advertises the address clients use: `[server] hostname` with `[transport.https.properties] proxyPort`
/// (a node behind a load balancer on 443), not the port the node binds; `[oauth] issuer` names the issuer only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_advertises_the_public_address() {
    let dir = TempDir::new("apim-km-discovery");
    let public = "[server]\nhostname = \"api.example.test\"\noffset = 3\n[transport.https.properties]\nproxyPort = 443\n";
    let cases = [
        (public.to_string(), "https://api.example.test", "https://api.example.test/oauth2/token"),
        (
            format!("{public}[oauth]\nissuer = \"https://idp.example.test/oauth2/token\"\n"),
            "https://api.example.test",
            "https://idp.example.test/oauth2/token",
        ),
        // Without a proxyPort: the port the node binds, offset included.
        (
            "[server]\nhostname = \"km.example.test\"\noffset = 3\n".to_string(),
            "https://km.example.test:9446",
            "https://km.example.test:9446/oauth2/token",
        ),
        (
            "[server]\nhostname = \"km.example.test\"\n[transport.https.properties]\nport = 9443\nproxyPort = 8443\n".to_string(),
            "https://km.example.test:8443",
            "https://km.example.test:8443/oauth2/token",
        ),
    ];
    for (i, (text, base, issuer)) in cases.into_iter().enumerate() {
        let text = format!("{text}[database.apim_db]\n{}", sqlite_db(&dir).replace("km.db", &format!("km{i}.db")));
        let env = |_: &str| None;
        let loaded = apim_config::load_str(Source::new("deployment.toml", text), &LoadOptions::default(), &env).expect("config");
        let db = apim_store::connect(loaded.config.apim_db.as_ref().expect("db"), &HostsFile::default()).await.expect("connect");
        users(&db).await;
        let node = start(&db, Config::from_deployment(&loaded.config), &rsa_key()).await;

        for path in ["/.well-known/openid-configuration", "/oauth2/token/.well-known/openid-configuration"] {
            let d = http::get(&format!("{}{path}", node.base)).await.expect("discovery").json();
            assert_eq!(d["issuer"], issuer, "{d}");
            for (key, endpoint) in [
                ("authorization_endpoint", "/oauth2/authorize"),
                ("token_endpoint", "/oauth2/token"),
                ("introspection_endpoint", "/oauth2/introspect"),
                ("revocation_endpoint", "/oauth2/revoke"),
                ("userinfo_endpoint", "/oauth2/userinfo"),
                ("jwks_uri", "/oauth2/jwks"),
                ("registration_endpoint", "/keymanager-operations/dcr/register"),
            ] {
                assert_eq!(d[key], format!("{base}{endpoint}"), "{key} in {d}");
            }
        }
        // The tokens' `iss` is the advertised issuer.
        let (id, secret) = register(&node, "client_credentials", "JWT").await;
        let r = token(&node, &id, &secret, "grant_type=client_credentials").await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(claims(r.json()["access_token"].as_str().expect("token"))["iss"], issuer);
    }
}

/// A listener (a control plane) that is down when a token is revoked still gets the notice once it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_wait_for_a_listener_that_is_down() {
    let dir = TempDir::new("apim-km-notice");
    let db = connect(&sqlite_db(&dir)).await;
    users(&db).await;
    let addr = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind").local_addr().expect("addr");
    let url = format!("http://{addr}/internal/data/v1/notify");
    let km = start(&db, config(&url), &rsa_key()).await;
    let (id, secret) = register(&km, "client_credentials", "JWT").await;
    let jwt = token(&km, &id, &secret, "grant_type=client_credentials").await.json()["access_token"].as_str().expect("jwt").to_string();
    let r = post_form(&format!("{}/oauth2/revoke", km.base), Some(&basic(&id, &secret)), &format!("token={}", enc(&jwt))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Several attempts fail while nothing listens.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let (_, notices) = notice_listener_on(&addr.to_string()).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while notices.lock().expect("lock").is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let got = notices.lock().expect("lock").clone();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].2["revokedToken"], claims(&jwt)["jti"]);
}
