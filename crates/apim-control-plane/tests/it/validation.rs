//! The Publisher's validation helpers and issue 17's bad-input table, through real sockets on SQLite, PostgreSQL
//! and MariaDB: `POST /apis/validate`, `POST /apis/validate-endpoint` and URL imports behind the outbound guard
//! (loopback, private, shared, link-local and metadata addresses refused; the allowed 127.0.0.2 reached),
//! contexts with dot segments, a context another API uses, absurd throttling windows and negative paging.

use apim_control_plane::ControlPlane;
use apim_test_support::TempDir;
use apim_test_support::db::{Backend, TestDb};
use apim_test_support::http;
use serde_json::{Value, json};

use crate::{Cp, connect, pizza, sqlite, start};

fn named(r: &http::Response) -> String {
    r.json()["error"][0]["message"].as_str().unwrap_or("").to_string()
}

/// A server of the test's on 127.0.0.2, which the test configuration allows: `/up` answers 200, `/spec.yaml` a
/// definition, anything else 404.
async fn allowed_server() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.2:0").await.expect("bind 127.0.0.2");
    let addr = listener.local_addr().expect("addr");
    let spec = "openapi: 3.0.1\ninfo: {title: Registry Store, version: 1.0.0}\npaths:\n  /items:\n    get:\n      responses:\n        '200': {description: ok}\n";
    let site = axum::Router::new()
        .route("/up", axum::routing::get(|| std::future::ready("up")))
        .route("/spec.yaml", axum::routing::get(move || std::future::ready(spec)));
    tokio::spawn(async move {
        let _ = axum::serve(listener, site).await;
    });
    addr
}

async fn validate_api(cp: &Cp) {
    let r = cp.call("POST", "/apis", "creator", Some(pizza("Pizza", "/pizza"))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    for (query, status) in [
        ("name:Pizza", 200),
        ("name:pIZZA", 200),
        ("Pizza", 200),
        ("name:Pasta", 404),
        ("context:/pizza", 200),
        ("context:pizza", 200),
        ("context:/PIZZA/", 200),
        ("context:/pasta", 404),
        ("context:/pizza/1.0.0", 200),
        ("context:/pizza/9.9", 404),
        ("version:1.0.0", 200),
        ("version:9.9", 404),
    ] {
        let r = cp.call("POST", &format!("/apis/validate?query={query}"), "creator", None).await;
        assert_eq!(r.status, status, "{query}: {}", r.body);
    }
    for bad in ["/apis/validate", "/apis/validate?query=", "/apis/validate?query=colour:red"] {
        let r = cp.call("POST", bad, "creator", None).await;
        assert_eq!((r.status, named(&r).as_str()), (400, "query"), "{bad}: {}", r.body);
    }
    assert_eq!(cp.call("POST", "/apis/validate?query=name:Pizza", "subscriber", None).await.status, 403);
}

async fn duplicate_contexts(cp: &Cp) {
    // WSO2: a context belongs to one API name (any version); context + version and name + version are unique.
    let mut other = pizza("Other", "/pizza");
    other["version"] = json!("2.0.0");
    let r = cp.call("POST", "/apis", "creator", Some(other)).await;
    assert_eq!((r.status, named(&r).as_str()), (409, "context"), "{}", r.body);
    assert!(r.json()["description"].as_str().is_some_and(|d| d.contains("A duplicate API context already exists")), "{}", r.body);
    let r = cp.call("POST", "/apis", "creator", Some(pizza("Other", "/PIZZA"))).await;
    assert_eq!((r.status, named(&r).as_str()), (409, "context"), "contexts compare without case: {}", r.body);
    let r = cp.call("POST", "/apis", "creator", Some(pizza("PIZZA", "/elsewhere"))).await;
    assert_eq!((r.status, named(&r).as_str()), (409, "name"), "a name differing only in case: {}", r.body);
    let mut next = pizza("Pizza", "/pizza");
    next["version"] = json!("2.0.0");
    let r = cp.call("POST", "/apis", "creator", Some(next)).await;
    assert_eq!(r.status, 201, "a new version keeps its context: {}", r.body);
    assert_eq!(cp.call("POST", "/apis", "creator", Some(pizza("Pizza", "/pizza"))).await.status, 409, "same version again");
    let spec = "openapi: 3.0.1\ninfo: {title: Other, version: 3.0.0}\npaths:\n  /x:\n    get:\n      responses:\n        '200': {description: ok}\n";
    let r = cp
        .multipart("POST", "/apis/import-openapi", "creator", &[("file", spec), ("additionalProperties", r#"{"context":"/pizza"}"#)])
        .await;
    assert_eq!((r.status, named(&r).as_str()), (409, "context"), "{}", r.body);

    // Creators racing for one context under different names: one gets it, whatever the database.
    let mut racers = tokio::task::JoinSet::new();
    for i in 0..6 {
        let mut body = pizza(&format!("Racer{i}"), "/race");
        body["version"] = json!(format!("{i}.0"));
        let url = format!("{}/api/am/publisher/v4/apis", cp.base);
        racers.spawn(async move {
            let headers = [("authorization", crate::auth("creator")), ("content-type", "application/json".to_string())];
            let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            http::request("POST", &url, &headers, &body.to_string()).await.expect("request").status
        });
    }
    let mut statuses = racers.join_all().await;
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 409, 409, 409, 409, 409]);

    // Dot segments: a gateway would serve `/a/../b` at `/b`.
    for context in ["/a/../b", "/./x", "/x/..", "a/./b", "/.."] {
        let r = cp.call("POST", "/apis", "creator", Some(pizza("Dots", context))).await;
        assert_eq!((r.status, named(&r).as_str()), (400, "context"), "{context}: {}", r.body);
    }
    let r = cp.call("POST", "/apis", "creator", Some(pizza("Dots", "/v1.2/a..b"))).await;
    assert_eq!(r.status, 201, "dots inside a segment are fine: {}", r.body);
}

async fn outbound_guard(cp: &Cp) {
    let ok = allowed_server().await;
    let closed = std::net::TcpListener::bind("127.0.0.2:0").expect("bind").local_addr().expect("addr");

    // An endpoint probe answers what the endpoint said, or the error when it said nothing.
    let probe = |url: String| async move { cp.call("POST", &format!("/apis/validate-endpoint?endpointUrl={url}"), "creator", None).await };
    let r = probe(format!("http://{ok}/up")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json(), json!({"statusCode": 200, "statusMessage": "OK", "error": null}));
    let r = probe(format!("http://{ok}/nothing-here")).await;
    assert_eq!((r.status, r.json()["statusCode"].as_u64()), (200, Some(404)), "{}", r.body);
    let r = probe(format!("http://{closed}/")).await;
    let v = r.json();
    assert_eq!((r.status, v["statusMessage"].as_str()), (200, Some("Connection error")), "{}", r.body);
    assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
    let r = probe("http://no-such-host.invalid/".into()).await;
    assert_eq!((r.status, r.json()["statusMessage"].as_str()), (200, Some("Unknown Host")), "{}", r.body);

    // Refused before anything is sent, whether named by address or by a name that resolves there.
    let port = ok.port();
    let refused = [
        format!("http://127.0.0.1:{port}/up"),
        format!("http://localhost:{port}/up"),
        format!("http://[::1]:{port}/up"),
        format!("http://[::ffff:127.0.0.1]:{port}/up"),
        format!("http://2130706433:{port}/up"),
        "http://10.1.2.3/".to_string(),
        "http://192.168.0.1/".to_string(),
        "http://100.64.0.1/".to_string(),
        "http://169.254.169.254/latest/meta-data/".to_string(),
        "http://0.0.0.0/".to_string(),
        "http://[fd00:ec2::254]/".to_string(),
    ];
    for url in &refused {
        let r = probe(url.clone()).await;
        assert_eq!((r.status, named(&r).as_str()), (400, "endpointUrl"), "{url}: {}", r.body);
        for op in ["/apis/import-openapi", "/apis/validate-openapi"] {
            let r = cp.multipart("POST", op, "creator", &[("url", url)]).await;
            assert_eq!((r.status, named(&r).as_str()), (400, "url"), "{op} {url}: {}", r.body);
            assert!(r.json()["description"].as_str().is_some_and(|d| d.contains("address")), "{op} {url}: {}", r.body);
        }
    }
    for bad in ["/apis/validate-endpoint", "/apis/validate-endpoint?endpointUrl=ftp://example.test/x"] {
        let r = cp.call("POST", bad, "creator", None).await;
        assert_eq!((r.status, named(&r).as_str()), (400, "endpointUrl"), "{bad}: {}", r.body);
    }
    assert_eq!(cp.call("POST", "/apis/validate-endpoint?endpointUrl=http://10.0.0.1/&apiId=nope", "creator", None).await.status, 404);
    assert_eq!(probe(format!("http://{ok}/up")).await.status, 200);
    assert_eq!(cp.call("POST", &format!("/apis/validate-endpoint?endpointUrl=http://{ok}/up"), "subscriber", None).await.status, 403);

    // The allowed registry serves a definition to import.
    let url = format!("http://{ok}/spec.yaml");
    let v = cp.multipart("POST", "/apis/validate-openapi", "creator", &[("url", &url)]).await.json();
    assert_eq!((v["isValid"].as_bool(), v["info"]["name"].as_str()), (Some(true), Some("Registry Store")), "{v}");
    let r = cp
        .multipart("POST", "/apis/import-openapi", "creator", &[("url", &url), ("additionalProperties", r#"{"context":"/registry"}"#)])
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
}

/// An HTTPS endpoint on the allowed address: verified against the truststore by the address it is reached at.
async fn https_probe(cp: &Cp) {
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.2".to_string()]).expect("params").self_signed(&key).expect("cert");
    let pem = format!("{}{}", cert.pem(), key.serialize_pem());
    let tls = apim_test_support::backend::spawn_tls("127.0.0.2:0".parse().expect("addr"), pem.as_bytes()).await.expect("tls endpoint");
    let url = format!("/apis/validate-endpoint?endpointUrl=https://{tls}/up");
    // The shared configuration's truststore is empty: the handshake fails and says so.
    let v = cp.call("POST", &url, "creator", None).await.json();
    assert_eq!((v["statusCode"].as_u64(), v["statusMessage"].as_str()), (Some(0), Some("Connection error")), "{v}");
    assert!(v["error"].as_str().is_some_and(|e| e.contains("TLS")), "{v}");
    // A control plane on the same database whose truststore holds the certificate reaches it.
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.der().clone()).expect("root");
    let mut cfg = crate::config();
    cfg.fetch_tls = Some(std::sync::Arc::new(
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("tls")
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ));
    let trusting = ControlPlane::new(cp.db.clone(), cp.db.clone(), cfg, None, None);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let other = Cp { base: format!("http://{}", listener.local_addr().expect("addr")), db: cp.db.clone() };
    let router = trusting.router();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let r = other.call("POST", &url, "creator", None).await;
    assert_eq!((r.status, r.json()), (200, json!({"statusCode": 200, "statusMessage": "OK", "error": null})), "{}", r.body);
    let r = other.call("POST", &format!("/apis/validate-endpoint?endpointUrl=https://127.0.0.1:{}/up", tls.port()), "creator", None).await;
    assert_eq!((r.status, named(&r).as_str()), (400, "endpointUrl"), "trust does not lift the guard: {}", r.body);
}

async fn throttling_windows(cp: &Cp) {
    let count =
        |unit: &str, n: Value| json!({"type": "REQUESTCOUNTLIMIT", "requestCount": {"timeUnit": unit, "unitTime": n, "requestCount": 5}});
    let absurd = [
        (count("day", json!(300_000_000_000_i64)), "requestCount"),
        (count("month", json!(13)), "requestCount"),
        (count("year", json!(i64::MAX)), "requestCount"),
        (
            json!({"type": "BANDWIDTHLIMIT", "bandwidth": {"timeUnit": "year", "unitTime": 2, "dataAmount": 1, "dataUnit": "MB"}}),
            "bandwidth",
        ),
        (json!({"type": "EVENTCOUNTLIMIT", "eventCount": {"timeUnit": "day", "unitTime": 367, "eventCount": 1}}), "eventCount"),
    ];
    for level in ["subscription", "application", "advanced"] {
        for (i, (limit, key)) in absurd.iter().enumerate() {
            let body = json!({"policyName": format!("Absurd{level}{i}"), "defaultLimit": limit});
            let r = cp.admin("POST", &format!("/throttling/policies/{level}"), "admin", Some(body)).await;
            assert_eq!((r.status, named(&r)), (400, format!("defaultLimit.{key}.unitTime")), "{level} {limit}: {}", r.body);
        }
    }
    let group = json!({"policyName": "AbsurdGroup", "defaultLimit": count("min", json!(1)), "conditionalGroups": [{
        "conditions": [{"type": "HEADERCONDITION", "headerCondition": {"headerName": "x", "headerValue": "y"}}],
        "limit": count("day", json!(300_000_000_000_i64))}]});
    let r = cp.admin("POST", "/throttling/policies/advanced", "admin", Some(group)).await;
    assert_eq!((r.status, named(&r).as_str()), (400, "conditionalGroups[0].limit.requestCount.unitTime"), "{}", r.body);
    let custom = json!({"policyName": "AbsurdCustom", "keyTemplate": "$userId", "siddhiQuery": "limit 5 per 400 day"});
    let r = cp.admin("POST", "/throttling/policies/custom", "admin", Some(custom)).await;
    assert_eq!((r.status, named(&r).as_str()), (400, "siddhiQuery"), "{}", r.body);
    // A year is the longest window, in any unit.
    for (name, limit) in
        [("Yearly", count("year", json!(1))), ("TwelveMonths", count("month", json!(12))), ("Days", count("day", json!(366)))]
    {
        let r =
            cp.admin("POST", "/throttling/policies/subscription", "admin", Some(json!({"policyName": name, "defaultLimit": limit}))).await;
        assert_eq!(r.status, 201, "{name}: {}", r.body);
    }
}

async fn negative_paging(cp: &Cp) {
    let api = cp.call("GET", "/apis?query=name:Pizza", "creator", None).await.json()["list"][0]["id"].as_str().expect("id").to_string();
    let publisher = [
        "/apis".to_string(),
        "/throttling-policies/subscription".into(),
        format!("/subscriptions?apiId={api}"),
        "/scopes".into(),
        "/search".into(),
        format!("/apis/{api}/documents"),
    ];
    let devportal = [
        "/apis".to_string(),
        "/applications".into(),
        "/subscriptions?applicationId=any".into(),
        "/throttling-policies/application".into(),
        "/search".into(),
        "/tags".into(),
        format!("/apis/{api}/documents"),
    ];
    for param in ["limit", "offset"] {
        let q = |path: &str| format!("{path}{}{param}=-1", if path.contains('?') { "&" } else { "?" });
        for path in &publisher {
            let r = cp.call("GET", &q(path), "admin", None).await;
            assert_eq!((r.status, named(&r).as_str()), (400, param), "publisher {}: {}", q(path), r.body);
        }
        for path in &devportal {
            let r = cp.portal("GET", &q(path), "subscriber", None).await;
            assert_eq!((r.status, named(&r).as_str()), (400, param), "devportal {}: {}", q(path), r.body);
        }
        let r = cp.admin("GET", &q("/applications"), "admin", None).await;
        assert_eq!((r.status, named(&r).as_str()), (400, param), "admin {}: {}", q("/applications"), r.body);
    }
}

async fn suite(cp: Cp) {
    validate_api(&cp).await;
    duplicate_contexts(&cp).await;
    outbound_guard(&cp).await;
    https_probe(&cp).await;
    throttling_windows(&cp).await;
    negative_paging(&cp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_on_sqlite() {
    let dir = TempDir::new("apim-cp-validation");
    suite(start(connect(&sqlite(&dir)).await).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_on_postgres() {
    let Some(tdb) = TestDb::create(Backend::Postgres).await else { return };
    suite(start(connect(&tdb.toml_fields()).await).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_on_mariadb() {
    let Some(tdb) = TestDb::create(Backend::MySql).await else { return };
    suite(start(connect(&tdb.toml_fields()).await).await).await;
}
