//! Key managers registered in the Admin API, through real sockets: a second key-manager process of ours under
//! its own issuer issues tokens; an application maps that key manager's client (`map-keys`); the gateway verifies
//! those tokens with the keys the second key manager publishes, only for APIs whose `keyManagers` allow it, and
//! checks `aud` where the key manager or the API asks.

use std::time::Duration;

use apim_test_support::TempDir;
use apim_test_support::http;
use apim_test_support::process::{Node, free_offset};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::gateway::{Mgmt, eventually, get};
use super::{apim, base64_encode, oauth_form, ready_all_in_one, wait_ready};

fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("claims")
}

/// The WSO2 error code of a gateway answer.
fn code(r: &http::Response) -> i64 {
    let c = &r.json()["code"];
    c.as_i64().or_else(|| c.as_str().and_then(|s| s.parse().ok())).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_accepts_tokens_of_registered_key_managers_where_apis_allow_them() {
    let (dir, mut node, https, _) = ready_all_in_one("apim-kms").await;
    let gw = node.url("gateway-http", Duration::from_secs(5));
    let admin = format!("Basic {}", base64_encode("admin:admin"));
    let m = Mgmt { base: https.clone(), auth: admin.clone() };
    let backend = apim_test_support::backend::spawn("127.0.0.1:0".parse().expect("addr")).await.expect("backend");

    // A second key manager: its own process, database and signing key, so its own issuer.
    let idp_dir = TempDir::new("apim-idp");
    let off = free_offset(&[9443, 9763]);
    let mut idp =
        Node::spawn(&apim(), &["key-manager", "--data-dir", "idp", &format!("-DportOffset={off}"), "--bind", "127.0.0.1"], idp_dir.path());
    let idp_https = idp.url("management-https", Duration::from_secs(20));
    let idp_http = idp.url("management-http", Duration::from_secs(5));
    assert_eq!(wait_ready(&idp_https, Duration::from_secs(20)).await.status, 200, "{}", idp.stderr());
    let client = http::request(
        "POST",
        &format!("{idp_https}/client-registration/v0.17/register"),
        &[("authorization", &admin), ("content-type", "application/json")],
        r#"{"clientName": "partner", "grantType": "client_credentials", "owner": "admin"}"#,
    )
    .await
    .expect("register");
    assert_eq!(client.status, 200, "{}", client.body);
    let (ck, cs) =
        (client.json()["clientId"].as_str().expect("id").to_string(), client.json()["clientSecret"].as_str().expect("secret").to_string());
    let idp_token = || async {
        let r = oauth_form(&idp_https, "token", &ck, &cs, "grant_type=client_credentials").await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()["access_token"].as_str().expect("token").to_string()
    };
    let token = idp_token().await;
    let issuer = claims_of(&token)["iss"].as_str().expect("iss").to_string();

    // Registered in the Admin API with its JWKS.
    let km = m
        .ok(
            "POST",
            "/api/am/admin/v4/key-managers",
            json!({"name": "partner-idp", "type": "WSO2-IS", "issuer": issuer,
                   "certificates": {"type": "JWKS", "value": format!("{idp_http}/oauth2/jwks")}}),
        )
        .await;
    let km_id = km["id"].as_str().expect("km id").to_string();

    let endpoint = json!({"endpoint_type": "http", "production_endpoints": {"url": format!("http://{backend}")}});
    let op = json!([{"target": "/*", "verb": "GET"}]);
    let partner = m
        .publish(json!({"name": "PartnerOnly", "context": "/partner", "version": "1.0.0", "policies": ["Unlimited"],
            "keyManagers": ["partner-idp"], "endpointConfig": endpoint, "operations": op}))
        .await;
    let any = m
        .publish(json!({"name": "AnyKm", "context": "/anykm", "version": "1.0.0", "policies": ["Unlimited"],
            "endpointConfig": endpoint, "operations": op}))
        .await;
    let resident = m
        .publish(json!({"name": "ResidentOnly", "context": "/resident", "version": "1.0.0", "policies": ["Unlimited"],
            "keyManagers": ["Resident Key Manager"], "endpointConfig": endpoint, "operations": op}))
        .await;
    let narrow = m
        .publish(json!({"name": "Narrow", "context": "/narrow", "version": "1.0.0", "policies": ["Unlimited"],
            "audiences": ["billing"], "endpointConfig": endpoint, "operations": op}))
        .await;

    // The application maps the partner's client; wrong mappings are refused and change nothing.
    let dp = "/api/am/devportal/v3";
    let app = m.ok("POST", &format!("{dp}/applications"), json!({"name": "PartnerApp", "throttlingPolicy": "Unlimited"})).await;
    let app_id = app["applicationId"].as_str().expect("app").to_string();
    let map = format!("{dp}/applications/{app_id}/map-keys");
    for (body, status, says) in [
        (json!({"keyType": "PRODUCTION", "keyManager": "partner-idp"}), 400, "consumerKey"),
        (json!({"consumerKey": ck, "keyType": "LIVE", "keyManager": "partner-idp"}), 400, "keyType"),
        (json!({"consumerKey": ck, "keyType": "PRODUCTION", "keyManager": "nobody"}), 400, "no key manager is named `nobody`"),
        (json!({"consumerKey": ck, "keyType": "PRODUCTION"}), 400, "generate-keys"),
    ] {
        let r = m.call("POST", &map, body.clone()).await;
        assert_eq!(r.status, status, "{body}: {}", r.body);
        assert!(r.body.contains(says), "{body}: {}", r.body);
    }
    let mapped = m.ok("POST", &map, json!({"consumerKey": ck, "keyType": "PRODUCTION", "keyManager": "partner-idp"})).await;
    assert_eq!(mapped["mode"], "MAPPED");
    assert_eq!(mapped["keyManager"], "partner-idp");
    let again = m.call("POST", &map, json!({"consumerKey": ck, "keyType": "PRODUCTION", "keyManager": "partner-idp"})).await;
    assert_eq!(again.status, 409, "{}", again.body);
    let key_id = mapped["keyMappingId"].as_str().expect("mapping id");
    let no_token = m.call("POST", &format!("{dp}/applications/{app_id}/oauth-keys/{key_id}/generate-token"), json!({})).await;
    assert_eq!(no_token.status, 400, "the resident key manager does not make tokens for another's client: {}", no_token.body);
    let keys = m.ok("GET", &format!("{dp}/applications/{app_id}/oauth-keys"), Value::Null).await;
    assert_eq!(keys["count"], 1, "{keys}");
    for api in [&partner, &any, &resident, &narrow] {
        m.subscribe(api, &app_id, "Unlimited").await;
    }

    // The partner's token: accepted where the API allows its key manager, refused where it does not.
    let ok = eventually(&format!("{gw}/partner/1.0.0/x"), Some(&token), 200).await;
    assert_eq!(ok.status, 200, "{}\n{}", ok.body, node.stderr());
    assert_eq!(get(&format!("{gw}/anykm/1.0.0/x"), Some(&token)).await.status, 200);
    let refused = get(&format!("{gw}/resident/1.0.0/x"), Some(&token)).await;
    let stored = m.ok("GET", &format!("/api/am/publisher/v4/apis/{resident}"), Value::Null).await;
    assert_eq!(stored["keyManagers"], json!(["Resident Key Manager"]), "the publisher keeps `keyManagers`");
    assert_eq!((refused.status, code(&refused)), (401, 900901), "{}", refused.body);
    // The API's audiences: the partner's tokens name the client, not `billing`.
    let narrowed = get(&format!("{gw}/narrow/1.0.0/x"), Some(&token)).await;
    assert_eq!((narrowed.status, code(&narrowed)), (401, 900901), "{}", narrowed.body);

    // A token made with another key and the partner's issuer and key id does not pass for the partner's.
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').next().expect("header")).expect("b64")).expect("json");
    let forged = super::gateway::sign_rs256(&super::gateway::node_key(dir.path()), &header, &claims_of(&token));
    let r = get(&format!("{gw}/partner/1.0.0/x"), Some(&forged)).await;
    assert_eq!((r.status, code(&r)), (401, 900901), "{}", r.body);

    // The resident key manager's tokens are refused where only the partner's are allowed.
    let (own_app, own_ck, own_cs) = m.app("ResidentApp", "Unlimited", "JWT", "PRODUCTION").await;
    m.subscribe(&partner, &own_app, "Unlimited").await;
    m.subscribe(&any, &own_app, "Unlimited").await;
    let own = m.token(&own_ck, &own_cs, "").await;
    assert_eq!(eventually(&format!("{gw}/anykm/1.0.0/x"), Some(&own), 200).await.status, 200);
    let r = get(&format!("{gw}/partner/1.0.0/x"), Some(&own)).await;
    assert_eq!((r.status, code(&r)), (401, 900901), "{}", r.body);

    // The key manager's own audiences: a token must name one of them.
    let update = |props: Value| {
        json!({"name": "partner-idp", "type": "WSO2-IS", "issuer": issuer, "additionalProperties": props,
               "certificates": {"type": "JWKS", "value": format!("{idp_http}/oauth2/jwks")}})
    };
    m.ok("PUT", &format!("/api/am/admin/v4/key-managers/{km_id}"), update(json!({"audiences": ["payments"]}))).await;
    let fresh = idp_token().await;
    let r = eventually(&format!("{gw}/anykm/1.0.0/x"), Some(&fresh), 401).await;
    assert_eq!((r.status, code(&r)), (401, 900901), "{}", r.body);
    m.ok("PUT", &format!("/api/am/admin/v4/key-managers/{km_id}"), update(json!({"audiences": ["payments", ck]}))).await;
    let fresh = idp_token().await;
    assert_eq!(eventually(&format!("{gw}/anykm/1.0.0/x"), Some(&fresh), 200).await.status, 200);

    // Disabled: its tokens stop working at once, cached or not.
    let mut disabled = update(json!({}));
    disabled["enabled"] = json!(false);
    m.ok("PUT", &format!("/api/am/admin/v4/key-managers/{km_id}"), disabled).await;
    let r = eventually(&format!("{gw}/partner/1.0.0/x"), Some(&token), 401).await;
    assert_eq!((r.status, code(&r)), (401, 900901), "{}", r.body);

    // A key manager whose keys cannot be fetched: 503 naming the key manager as the cause, not 401 or 500.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr");
    m.ok(
        "POST",
        "/api/am/admin/v4/key-managers",
        json!({"name": "ghost", "type": "WSO2-IS", "issuer": "https://ghost.example/oauth2/token",
               "certificates": {"type": "JWKS", "value": format!("http://{closed}/jwks")}}),
    )
    .await;
    let mut claims = claims_of(&token);
    claims["iss"] = json!("https://ghost.example/oauth2/token");
    let ghostly = super::gateway::sign_rs256(&super::gateway::node_key(dir.path()), &header, &claims);
    let r = eventually(&format!("{gw}/anykm/1.0.0/x"), Some(&ghostly), 503).await;
    assert_eq!((r.status, code(&r)), (503, 900900), "{}", r.body);

    // A key manager that publishes a PEM certificate instead of a JWKS (WSO2's `certificates: {type: PEM}`, the
    // file's content base64-encoded as the Admin portal sends it): its key verifies its tokens whatever `kid`.
    let node_pem = std::fs::read_to_string(dir.path().join("data/tls/localhost.pem")).expect("node certificate");
    let cert = node_pem
        .split_once("-----BEGIN CERTIFICATE-----")
        .and_then(|(_, rest)| rest.split_once("-----END CERTIFICATE-----"))
        .map(|(body, _)| format!("-----BEGIN CERTIFICATE-----{body}-----END CERTIFICATE-----\n"))
        .expect("a certificate in the node's PEM");
    let bad = m
        .call(
            "POST",
            "/api/am/admin/v4/key-managers",
            json!({"name": "pem-bad", "type": "custom", "issuer": "https://pem-bad.example/",
                   "certificates": {"type": "PEM", "value": base64_encode("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----")}}),
        )
        .await;
    assert!(bad.status == 400 && bad.body.contains("certificates.value"), "{}", bad.body);
    m.ok(
        "POST",
        "/api/am/admin/v4/key-managers",
        json!({"name": "pem-idp", "type": "custom", "issuer": "https://pem.example/token",
               "certificates": {"type": "PEM", "value": base64_encode(&cert)}}),
    )
    .await;
    m.ok(
        "POST",
        &format!("{dp}/applications/{app_id}/map-keys"),
        json!({"consumerKey": "pem-client", "keyType": "PRODUCTION", "keyManager": "pem-idp"}),
    )
    .await;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
    let pem_claims = json!({"iss": "https://pem.example/token", "sub": "partner-user", "azp": "pem-client", "iat": now, "exp": now + 600,
                            "jti": "pem-1", "scope": "default"});
    let pem_header = json!({"alg": "RS256", "typ": "JWT", "kid": "not-in-any-jwks"});
    let pem_token = super::gateway::sign_rs256(&super::gateway::node_key(dir.path()), &pem_header, &pem_claims);
    let r = eventually(&format!("{gw}/anykm/1.0.0/x"), Some(&pem_token), 200).await;
    assert_eq!(r.status, 200, "{}\n{}", r.body, node.stderr());
    // Its payload changed after signing: refused.
    let mut parts: Vec<String> = pem_token.split('.').map(str::to_string).collect();
    let mut altered = pem_claims.clone();
    altered["azp"] = json!("pem-client ");
    parts[1] = URL_SAFE_NO_PAD.encode(altered.to_string());
    let r = get(&format!("{gw}/anykm/1.0.0/x"), Some(&parts.join("."))).await;
    assert_eq!((r.status, code(&r)), (401, 900901), "{}", r.body);

    assert!(!node.stderr().contains("panicked") && !idp.stderr().contains("panicked"));
    idp.terminate();
    node.terminate();
}

/// A second key-manager process of ours, with its own database and signing key: `(dir, node, https, http)`.
async fn partner_key_manager() -> (TempDir, Node, String, String) {
    let dir = TempDir::new("apim-idp");
    let off = free_offset(&[9443, 9763]);
    let mut idp =
        Node::spawn(&apim(), &["key-manager", "--data-dir", "idp", &format!("-DportOffset={off}"), "--bind", "127.0.0.1"], dir.path());
    let https = idp.url("management-https", Duration::from_secs(20));
    let plain = idp.url("management-http", Duration::from_secs(5));
    assert_eq!(wait_ready(&https, Duration::from_secs(20)).await.status, 200, "{}", idp.stderr());
    (dir, idp, https, plain)
}

/// Application keys generated at key managers registered in the Admin API — WSO2's key-manager operations
/// (`WSO2-IS`) and plain RFC 7591 (`custom`) — both against a second key-manager process of ours: the client is
/// made there, its token passes the gateway, and updates, secrets, clean-up and application deletion reach it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applications_get_keys_from_registered_key_managers() {
    let (_dir, mut node, https, _) = ready_all_in_one("apim-kmkeys").await;
    let gw = node.url("gateway-http", Duration::from_secs(5));
    let admin = format!("Basic {}", base64_encode("admin:admin"));
    let m = Mgmt { base: https.clone(), auth: admin.clone() };
    let backend = apim_test_support::backend::spawn("127.0.0.1:0".parse().expect("addr")).await.expect("backend");
    let (_idp_dir, mut idp, _idp_https, idp_http) = partner_key_manager().await;
    let discovery = http::request("GET", &format!("{idp_http}/.well-known/openid-configuration"), &[], "").await.expect("discovery");
    let issuer = discovery.json()["issuer"].as_str().expect("issuer").to_string();
    let at_idp = |path: String| {
        let admin = admin.clone();
        let idp_http = idp_http.clone();
        async move {
            http::request("GET", &format!("{idp_http}/keymanager-operations/dcr/register/{path}"), &[("authorization", &admin)], "")
                .await
                .expect("idp")
        }
    };
    let km_doc = |kind: &str, password: &str| {
        json!({"name": "partner", "type": kind, "issuer": issuer,
               "clientRegistrationEndpoint": format!("{idp_http}/keymanager-operations/dcr/register"),
               "tokenEndpoint": format!("{idp_http}/oauth2/token"),
               "introspectionEndpoint": format!("{idp_http}/oauth2/introspect"),
               "additionalProperties": {"Username": "admin", "Password": password},
               "certificates": {"type": "JWKS", "value": format!("{idp_http}/oauth2/jwks")}})
    };
    let km_id = m.ok("POST", "/api/am/admin/v4/key-managers", km_doc("WSO2-IS", "admin")).await["id"].as_str().expect("id").to_string();

    // Both portals list it beside the resident one, without the credentials it holds.
    let dp = "/api/am/devportal/v3";
    let listed = m.call("GET", &format!("{dp}/key-managers"), Value::Null).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    let list = listed.json();
    let names: Vec<&str> = list["list"].as_array().expect("list").iter().filter_map(|k| k["name"].as_str()).collect();
    assert_eq!(names, ["Resident Key Manager", "partner"]);
    assert!(!listed.body.contains("\"Password\""), "{}", listed.body);
    let published = m.ok("GET", "/api/am/publisher/v4/key-managers", Value::Null).await;
    assert_eq!(published["count"], 2, "{published}");

    let endpoint = json!({"endpoint_type": "http", "production_endpoints": {"url": format!("http://{backend}")}});
    let api = m
        .publish(json!({"name": "PartnerKeys", "context": "/pkeys", "version": "1.0.0", "policies": ["Unlimited"],
            "keyManagers": ["partner"], "endpointConfig": endpoint, "operations": [{"target": "/*", "verb": "GET"}]}))
        .await;
    let app = m.ok("POST", &format!("{dp}/applications"), json!({"name": "PartnerKeysApp", "throttlingPolicy": "Unlimited"})).await;
    let app_id = app["applicationId"].as_str().expect("app").to_string();
    m.subscribe(&api, &app_id, "Unlimited").await;
    let generate = format!("{dp}/applications/{app_id}/generate-keys");
    let gen_body = |key_type: &str| {
        json!({"keyType": key_type, "keyManager": "partner", "grantTypesToBeSupported": ["client_credentials"],
               "additionalProperties": {"application_access_token_expiry_time": "3600"}})
    };

    // WSO2's key-manager operations: the client is made at the partner, and its token passes the gateway.
    let keys = m.ok("POST", &generate, gen_body("PRODUCTION")).await;
    assert_eq!((keys["keyManager"].as_str(), keys["mode"].as_str()), (Some("partner"), Some("CREATED")), "{keys}");
    assert_eq!(keys["additionalProperties"]["application_access_token_expiry_time"], "3600");
    let ck = keys["consumerKey"].as_str().expect("consumerKey").to_string();
    let token = keys["token"]["accessToken"].as_str().expect("a token from the partner").to_string();
    assert_eq!(claims_of(&token)["iss"], json!(issuer));
    assert_eq!(at_idp(ck.clone()).await.status, 200, "the client exists at the partner");
    let twice = m.call("POST", &generate, gen_body("PRODUCTION")).await;
    assert_eq!(twice.status, 409, "{}", twice.body);
    let ok = eventually(&format!("{gw}/pkeys/1.0.0/x"), Some(&token), 200).await;
    assert_eq!(ok.status, 200, "{}\n{}", ok.body, node.stderr());

    // An opaque token of the partner's: the gateway asks the partner's introspection endpoint (RFC 7662).
    let opaque_app = m
        .ok("POST", &format!("{dp}/applications"), json!({"name": "PartnerOpaque", "throttlingPolicy": "Unlimited", "tokenType": "OAUTH"}))
        .await;
    let opaque_id = opaque_app["applicationId"].as_str().expect("app").to_string();
    m.subscribe(&api, &opaque_id, "Unlimited").await;
    let opaque_keys = m.ok("POST", &format!("{dp}/applications/{opaque_id}/generate-keys"), gen_body("PRODUCTION")).await;
    let opaque = opaque_keys["token"]["accessToken"].as_str().expect("a token").to_string();
    assert!(!opaque.contains('.'), "an opaque token: {opaque}");
    let r = eventually(&format!("{gw}/pkeys/1.0.0/x"), Some(&opaque), 200).await;
    assert_eq!(r.status, 200, "{}\n{}", r.body, node.stderr());
    let r = get(&format!("{gw}/pkeys/1.0.0/x"), Some("an-opaque-token-nobody-issued")).await;
    assert_eq!((r.status, code(&r)), (401, 900901), "{}", r.body);

    // Updates and secrets reach the partner.
    let key_id = keys["keyMappingId"].as_str().expect("mapping");
    let keys_url = format!("{dp}/applications/{app_id}/oauth-keys/{key_id}");
    m.ok("PUT", &keys_url, json!({"supportedGrantTypes": ["client_credentials", "password"]})).await;
    let there = at_idp(ck.clone()).await;
    assert!(there.json()["grant_types"].as_array().is_some_and(|g| g.contains(&json!("password"))), "{}", there.body);
    let secret = m.ok("POST", &format!("{keys_url}/regenerate-secret"), Value::Null).await;
    let fresh =
        oauth_form(&idp_http, "token", &ck, secret["consumerSecret"].as_str().expect("secret"), "grant_type=client_credentials").await;
    assert_eq!(fresh.status, 200, "the regenerated secret works at the partner: {}", fresh.body);
    let token2 = m
        .ok("POST", &format!("{keys_url}/generate-token"), json!({"consumerSecret": secret["consumerSecret"], "validityPeriod": 300}))
        .await;
    assert!(token2["accessToken"].as_str().is_some_and(|t| !t.is_empty()), "{token2}");
    assert_eq!(token2["validityTime"], 300, "the asked validity reaches the partner: {token2}");

    // Plain RFC 7591: the same server, standard metadata only; RFC 7592 has no secret regeneration.
    m.ok("PUT", &format!("/api/am/admin/v4/key-managers/{km_id}"), km_doc("custom", "admin")).await;
    let sandbox = m.ok("POST", &generate, gen_body("SANDBOX")).await;
    let sandbox_ck = sandbox["consumerKey"].as_str().expect("consumerKey").to_string();
    assert_eq!(at_idp(sandbox_ck.clone()).await.status, 200);
    assert!(sandbox["token"]["accessToken"].is_string(), "{sandbox}");
    let sandbox_url = format!("{dp}/applications/{app_id}/oauth-keys/{}", sandbox["keyMappingId"].as_str().expect("id"));
    let r = m.call("POST", &format!("{sandbox_url}/regenerate-secret"), Value::Null).await;
    assert!(r.status == 400 && r.body.contains("RFC 7591"), "{}", r.body);
    m.ok("POST", &format!("{sandbox_url}/clean-up"), Value::Null).await;
    assert_eq!(at_idp(sandbox_ck).await.status, 404, "clean-up deletes the client at the partner");

    // The control plane's credentials refused, and a key manager that is not there: 503 naming it, nothing made.
    m.ok("PUT", &format!("/api/am/admin/v4/key-managers/{km_id}"), km_doc("WSO2-IS", "wrong")).await;
    let r = m.call("POST", &generate, gen_body("SANDBOX")).await;
    assert!(r.status == 503 && r.body.contains("`partner`") && r.body.contains("credentials"), "{}", r.body);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr");
    m.ok(
        "POST",
        "/api/am/admin/v4/key-managers",
        json!({"name": "gone", "type": "custom", "issuer": "https://gone.example/token",
               "clientRegistrationEndpoint": format!("http://{closed}/register"), "tokenEndpoint": format!("http://{closed}/token")}),
    )
    .await;
    let r = m.call("POST", &generate, json!({"keyType": "SANDBOX", "keyManager": "gone"})).await;
    assert!(r.status == 503 && r.body.contains("`gone`"), "{}", r.body);
    let r = m.call("POST", &generate, json!({"keyType": "SANDBOX", "keyManager": "nobody"})).await;
    assert!(r.status == 400 && r.body.contains("nobody"), "{}", r.body);
    let r = m.call("POST", &generate, json!({"keyType": "SANDBOX", "keyManager": "partner", "additionalProperties": [1]})).await;
    assert!(r.status == 400 && r.body.contains("additionalProperties"), "{}", r.body);
    let listed = m.ok("GET", &format!("{dp}/applications/{app_id}/oauth-keys"), Value::Null).await;
    assert_eq!(listed["count"], 1, "only the PRODUCTION keys: {listed}");

    // Deleting the application deletes its client at the partner.
    m.ok("PUT", &format!("/api/am/admin/v4/key-managers/{km_id}"), km_doc("WSO2-IS", "admin")).await;
    m.ok("DELETE", &format!("{dp}/applications/{app_id}"), Value::Null).await;
    assert_eq!(at_idp(ck).await.status, 404, "the application's client is gone at the partner");

    assert!(!node.stderr().contains("panicked") && !idp.stderr().contains("panicked"));
    idp.terminate();
    node.terminate();
}
