//! Issue 17's control-plane parts through real sockets on SQLite, PostgreSQL and MariaDB: OpenAPI definitions from
//! a URL (through the outbound guard) and from ZIP archives, search by additional properties, and the Admin API's
//! operations across owners (applications, APIs and their providers, the policy search, key-manager usages).

use std::io::Write;

use apim_config::PrivateHost;
use apim_control_plane::ControlPlane;
use apim_domain::api::KeyMapping;
use apim_domain::password;
use apim_store::{ApplicationStore, Db, NewUser, UserStore};
use apim_test_support::TempDir;
use apim_test_support::db::{Backend, TestDb};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{Cp, USERS, auth, connect, sqlite};

const PETS: &str = "openapi: 3.0.1\ninfo: {title: Zipped Pets, version: '2.0'}\npaths:\n  /pets:\n    get:\n      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema: {$ref: 'schemas/pet.yaml#/Pet'}\n";
const PET: &str = "Pet:\n  type: object\n  properties:\n    name: {type: string, maxLength: 64}\n";

/// The control plane of `crate::start`, but allowing URL imports from 127.0.0.1 only.
async fn start(db: Db) -> Cp {
    db.migrate("apim_db").await.expect("migrate");
    for (name, role) in USERS {
        let hash = password::hash(&format!("{name}-pw")).expect("hash");
        db.create_user(&NewUser { username: name, password_hash: &hash, roles: &[role] }).await.expect("user");
    }
    let mut cfg = crate::config();
    cfg.allowed_private_hosts = vec![PrivateHost::parse("127.0.0.1/32").expect("range")];
    let cp = ControlPlane::new(db.clone(), db.clone(), cfg, None, None);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let router = cp.router();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Cp { base, db }
}

/// A ZIP of `(name, content)` entries, deflated.
fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated).large_file(true);
    for (name, content) in entries {
        w.start_file(*name, options).expect("start");
        w.write_all(content).expect("write");
    }
    w.finish().expect("finish").into_inner()
}

/// A multipart POST to the Publisher API with one uploaded `file` (any bytes) and text fields; (status, JSON body).
async fn upload(cp: &Cp, path: &str, file_name: &str, file: &[u8], fields: &[(&str, &str)]) -> (u16, Value) {
    send_file(cp, "POST", path, file_name, file, fields).await
}

async fn send_file(cp: &Cp, method: &str, path: &str, file_name: &str, file: &[u8], fields: &[(&str, &str)]) -> (u16, Value) {
    let boundary = "apimzipboundary93c";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes());
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let addr = cp.base.trim_start_matches("http://");
    let head = format!(
        "{method} /api/am/publisher/v4{path} HTTP/1.1\r\nhost: {addr}\r\nauthorization: {}\r\ncontent-type: multipart/form-data; boundary={boundary}\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n",
        auth("creator"),
        body.len()
    );
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(head.as_bytes()).await.expect("write");
    s.write_all(&body).await.expect("write");
    let mut answer = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(10), s.read_to_end(&mut answer)).await.expect("in time").expect("read");
    let text = String::from_utf8_lossy(&answer);
    let status = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let json = text.split_once("\r\n\r\n").and_then(|(_, b)| serde_json::from_str(b).ok()).unwrap_or(Value::Null);
    (status, json)
}

fn error_of(v: &Value) -> (&str, &str) {
    (v["error"][0]["message"].as_str().unwrap_or(""), v["description"].as_str().unwrap_or(""))
}

/// Definitions fetched from a URL: allowed hosts only, metadata and other private addresses refused.
async fn from_urls(cp: &Cp) {
    let served = crate::PETSTORE_YAML.replace("title: Pet Store", "title: Served Pets");
    let site = axum::Router::new()
        .route("/petstore.yaml", axum::routing::get(move || std::future::ready(served.clone())))
        // Beyond the 10 MiB a fetched definition may have.
        .route("/huge.yaml", axum::routing::get(|| std::future::ready("#".repeat(11 << 20))));
    let allowed = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let refused = tokio::net::TcpListener::bind("127.0.0.2:0").await.expect("bind");
    let (allowed_addr, refused_addr) = (allowed.local_addr().expect("addr"), refused.local_addr().expect("addr"));
    for listener in [allowed, refused] {
        let site = site.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, site).await;
        });
    }
    let url = format!("http://{allowed_addr}/petstore.yaml");
    let r = cp.multipart("POST", "/apis/validate-openapi", "creator", &[("url", &url)]).await;
    assert_eq!(
        (r.status, r.json()["isValid"].as_bool(), r.json()["info"]["name"].as_str()),
        (200, Some(true), Some("Served Pets")),
        "{}",
        r.body
    );
    assert!(r.json().get("content").is_none(), "content only when asked for: {}", r.body);
    let r = cp.multipart("POST", "/apis/validate-openapi?returnContent=true", "creator", &[("url", &url)]).await;
    assert!(r.json()["content"].as_str().is_some_and(|c| c.contains("title: Served Pets")), "{}", r.body);
    let r = cp.multipart("POST", "/apis/validate-openapi?returnContent=maybe", "creator", &[("url", &url)]).await;
    assert_eq!((r.status, error_of(&r.json()).0), (400, "returnContent"), "{}", r.body);
    let r = cp
        .multipart("POST", "/apis/import-openapi", "creator", &[("url", &url), ("additionalProperties", r#"{"context":"/served"}"#)])
        .await;
    assert_eq!((r.status, r.json()["name"].as_str()), (201, Some("Served Pets")), "{}", r.body);

    for (bad, needle) in [
        (format!("http://{refused_addr}/petstore.yaml"), "loopback"),
        ("http://169.254.169.254/latest/meta-data/".to_string(), "link-local"),
        ("http://[::ffff:169.254.169.254]/latest".to_string(), "link-local"),
        ("http://10.1.2.3/openapi.yaml".to_string(), "private"),
        ("file:///etc/passwd".to_string(), "not an http"),
        (format!("http://{allowed_addr}/huge.yaml"), "10 MiB at most"),
    ] {
        for op in ["/apis/import-openapi", "/apis/validate-openapi"] {
            let r = cp.multipart("POST", op, "creator", &[("url", &bad)]).await;
            let e = r.json();
            assert_eq!((r.status, error_of(&e).0), (400, "url"), "{op} {bad}: {}", r.body);
            assert!(error_of(&e).1.contains(needle), "{op} {bad}: {}", r.body);
        }
    }
}

/// Definitions in ZIP archives: references across files resolved, unsafe archives refused.
async fn from_archives(cp: &Cp) {
    let good = zip_of(&[("pets/openapi.yaml", PETS.as_bytes()), ("pets/schemas/pet.yaml", PET.as_bytes())]);
    let (status, v) = upload(cp, "/apis/validate-openapi", "pets.zip", &good, &[]).await;
    assert_eq!((status, v["isValid"].as_bool(), v["info"]["name"].as_str()), (200, Some(true), Some("Zipped Pets")), "{v}");
    let (status, api) =
        upload(cp, "/apis/import-openapi", "pets.zip", &good, &[("additionalProperties", r#"{"context":"/zipped"}"#)]).await;
    assert_eq!((status, api["name"].as_str(), api["version"].as_str()), (201, Some("Zipped Pets"), Some("2.0")), "{api}");
    let id = api["id"].as_str().expect("id");
    let swagger = cp.call("GET", &format!("/apis/{id}/swagger"), "creator", None).await.json();
    let schema = &swagger["paths"]["/pets"]["get"]["responses"]["200"]["content"]["application/json"]["schema"];
    assert_eq!(schema["properties"]["name"]["maxLength"], 64, "the referenced file is inlined: {swagger}");
    // A new definition for the API, from an archive too.
    let longer = PET.replace("maxLength: 64", "maxLength: 128");
    let next = zip_of(&[
        ("openapi.json", serde_json::to_string(&serde_norway::from_str::<Value>(PETS).expect("yaml")).expect("json").as_bytes()),
        ("schemas/pet.yaml", longer.as_bytes()),
    ]);
    let (status, put) = send_file(cp, "PUT", &format!("/apis/{id}/swagger"), "next.zip", &next, &[]).await;
    assert_eq!(status, 200, "{put}");
    let swagger = cp.call("GET", &format!("/apis/{id}/swagger"), "creator", None).await.json();
    let schema = &swagger["paths"]["/pets"]["get"]["responses"]["200"]["content"]["application/json"]["schema"];
    assert_eq!(schema["properties"]["name"]["maxLength"], 128, "{swagger}");

    let bomb = zip_of(&[("openapi.yaml", PETS.as_bytes()), ("zeros.bin", &vec![0u8; 21 << 20])]);
    assert!(bomb.len() < 200_000, "a small archive: {}", bomb.len());
    let escaping = PETS.replace("schemas/pet.yaml", "../pet.yaml");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("escape.zip", zip_of(&[("openapi.yaml", PETS.as_bytes()), ("../x", b"x: 1")]), "`..`"),
        ("bomb.zip", bomb, "inflates to more than"),
        ("api.zip", b"this is not an archive".to_vec(), "not a readable ZIP"),
        ("ref.zip", zip_of(&[("openapi.yaml", escaping.as_bytes()), ("pet.yaml", PET.as_bytes())]), "leaves the archive"),
        ("none.zip", zip_of(&[("readme.md", b"# nothing here")]), "no definition"),
    ];
    for (name, bytes, needle) in cases {
        for op in ["/apis/import-openapi", "/apis/validate-openapi"] {
            let (status, e) = upload(cp, op, name, &bytes, &[("additionalProperties", r#"{"context":"/refused"}"#)]).await;
            assert_eq!((status, error_of(&e).0), (400, "file"), "{op} {name}: {e}");
            assert!(error_of(&e).1.contains(needle), "{op} {name}: {e}");
        }
    }
    // Binary that is not an archive is not a definition either.
    let (status, e) = upload(cp, "/apis/import-openapi", "api.bin", b"\xff\xfe\x00binary", &[]).await;
    assert_eq!((status, error_of(&e).0), (400, "file"), "{e}");
    let list = cp.call("GET", "/apis?query=context:refused", "creator", None).await.json();
    assert_eq!(list["count"], 0, "nothing refused was created: {list}");
}

/// Publishes API `id` (a revision deployed to Default, then Publish).
async fn publish(cp: &Cp, id: &str) {
    let rev = cp.call("POST", &format!("/apis/{id}/revisions"), "admin", Some(json!({}))).await.json();
    let rid = rev["id"].as_str().expect("revision");
    let r = cp.call("POST", &format!("/apis/{id}/deploy-revision?revisionId={rid}"), "admin", Some(json!([{"name": "Default"}]))).await;
    assert!(r.status < 300, "{}", r.body);
    assert_eq!(cp.call("POST", &format!("/apis/change-lifecycle?action=Publish&apiId={id}"), "admin", None).await.status, 200);
}

fn names(v: &Value, list: &str) -> Vec<String> {
    v[list].as_array().map(|l| l.iter().filter_map(|a| a["name"].as_str().map(str::to_string)).collect()).unwrap_or_default()
}

/// WSO2's `property:value` search; the DevPortal matches only properties it shows (`display`).
async fn property_search(cp: &Cp) -> String {
    let mut body = crate::pizza("Props", "/props");
    body["additionalProperties"] = json!([
        {"name": "environment", "value": "PreProd", "display": true},
        {"name": "costCentre", "value": "cc-42", "display": false}
    ]);
    let r = cp.call("POST", "/apis", "admin", Some(body)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.json()["id"].as_str().expect("id").to_string();
    publish(cp, &id).await;
    // The map form only: the list is derived from it.
    let mut other = crate::pizza("MapProps", "/mapprops");
    other["additionalPropertiesMap"] = json!({"environment": {"name": "environment", "value": "prod", "display": true}});
    assert_eq!(cp.call("POST", "/apis", "admin", Some(other)).await.status, 201);

    for (path, hits) in [
        ("/apis?query=environment:preprod", vec!["Props"]),
        ("/apis?query=Environment:PREPROD%20name:props", vec!["Props"]),
        ("/apis?query=environment:prod", vec!["MapProps"]),
        ("/apis?query=environment:staging", vec![]),
        ("/apis?query=costCentre:cc-42", vec!["Props"]),
        ("/search?query=costcentre:CC-42", vec!["Props"]),
        ("/apis?query=nosuchproperty:preprod", vec![]),
    ] {
        let v = cp.call("GET", path, "creator", None).await.json();
        assert_eq!(names(&v, "list"), hits, "{path}: {v}");
        assert_eq!(v["pagination"]["total"], hits.len(), "{path}: {v}");
    }
    // The DevPortal: shown properties match, hidden ones do not.
    for (path, hits) in [
        ("/apis?query=environment:preprod", vec!["Props"]),
        ("/search?query=environment:preprod", vec!["Props"]),
        ("/apis?query=costCentre:cc-42", vec![]),
        ("/search?query=costCentre:cc-42", vec![]),
    ] {
        let v = cp.portal("GET", path, "subscriber", None).await.json();
        assert_eq!(names(&v, "list"), hits, "devportal {path}: {v}");
    }
    for path in ["/apis?query=doc:x", "/apis?query=col*r:red", "/apis?query=:red", "/apis?query=environment:"] {
        let r = cp.call("GET", path, "creator", None).await;
        assert_eq!((r.status, error_of(&r.json()).0), (400, "query"), "{path}: {}", r.body);
        let r = cp.portal("GET", path, "subscriber", None).await;
        assert_eq!((r.status, error_of(&r.json()).0), (400, "query"), "devportal {path}: {}", r.body);
    }
    id
}

/// The Admin API across owners.
/// `props`: a published API of admin's.
async fn admin_operations(cp: &Cp, props: &str) {
    // Applications: any owner's, read and deleted (with its subscriptions, each with its event).
    let r = cp
        .portal(
            "POST",
            "/applications",
            "subscriber",
            Some(json!({"name": "Ledger", "description": "books", "attributes": {"team": "ops"}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let app = r.json()["applicationId"].as_str().expect("id").to_string();
    let r = cp
        .portal("POST", "/subscriptions", "subscriber", Some(json!({"applicationId": app, "apiId": props, "throttlingPolicy": "Gold"})))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let v = cp.admin("GET", &format!("/applications/{app}"), "admin", None).await.json();
    assert_eq!(
        (
            v["name"].as_str(),
            v["owner"].as_str(),
            v["subscriptionCount"].as_i64(),
            v["attributes"]["team"].as_str(),
            v["description"].as_str()
        ),
        (Some("Ledger"), Some("subscriber"), Some(1), Some("ops"), Some("books")),
        "{v}"
    );
    assert_eq!(cp.admin("GET", &format!("/applications/{app}"), "subscriber", None).await.status, 403);
    assert_eq!(cp.admin("GET", "/applications/no-such-app", "admin", None).await.status, 404);
    assert_eq!(cp.admin("DELETE", "/applications/no-such-app", "admin", None).await.status, 404);
    assert_eq!(cp.admin("DELETE", &format!("/applications/{app}"), "subscriber", None).await.status, 403);
    let before = cp.events().await.len();
    assert_eq!(cp.admin("DELETE", &format!("/applications/{app}"), "admin", None).await.status, 200);
    let kinds: Vec<String> = cp.events().await.into_iter().skip(before).map(|(k, _)| k).collect();
    assert_eq!(kinds, ["SUBSCRIPTIONS_DELETE", "APPLICATION_DELETE"]);
    assert_eq!(cp.admin("GET", &format!("/applications/{app}"), "admin", None).await.status, 404);
    assert_eq!(cp.portal("GET", &format!("/applications/{app}"), "subscriber", None).await.status, 404);

    // Every API, paged, with the Publisher's query syntax.
    let all = cp.admin("GET", "/apis?limit=100", "admin", None).await.json();
    let total = all["pagination"]["total"].as_i64().expect("total");
    assert!(total >= 4, "{all}");
    assert_eq!(all["count"].as_i64(), Some(total), "{all}");
    let page = cp.admin("GET", "/apis?limit=1&offset=1", "admin", None).await.json();
    assert_eq!(
        (page["count"].as_i64(), page["apis"][0]["name"].clone(), page["pagination"]["limit"].as_i64()),
        (Some(1), all["apis"][1]["name"].clone(), Some(1)),
        "{page}"
    );
    let found = cp.admin("GET", "/apis?query=name:props%20environment:preprod", "admin", None).await.json();
    assert_eq!((names(&found, "apis"), found["apis"][0]["provider"].as_str()), (vec!["Props".to_string()], Some("admin")), "{found}");
    for (path, field) in [("/apis?limit=-1", "limit"), ("/apis?offset=-3", "offset"), ("/apis?query=doc:x", "query")] {
        let r = cp.admin("GET", path, "admin", None).await;
        assert_eq!((r.status, error_of(&r.json()).0), (400, field), "{path}: {}", r.body);
    }
    assert_eq!(cp.admin("GET", "/apis", "creator", None).await.status, 403);

    // Change provider: to an existing user, with an API_UPDATE event.
    let before = cp.events().await.len();
    let r = cp.admin("POST", &format!("/apis/{props}/change-provider?provider=creator"), "admin", None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(cp.call("GET", &format!("/apis/{props}"), "creator", None).await.json()["provider"], "creator");
    assert_eq!(cp.call("GET", "/apis?query=provider:creator%20name:props", "creator", None).await.json()["count"], 1);
    let events = cp.events().await;
    assert_eq!(
        (events.len(), events.last().map(|(k, p)| (k.as_str(), p["apiProvider"].as_str()))),
        (before + 1, Some(("API_UPDATE", Some("creator"))))
    );
    for (path, status, field) in [
        (format!("/apis/{props}/change-provider?provider=nobody"), 400, "provider"),
        (format!("/apis/{props}/change-provider"), 400, "provider"),
        ("/apis/no-such-api/change-provider?provider=creator".to_string(), 404, ""),
    ] {
        let r = cp.admin("POST", &path, "admin", None).await;
        assert_eq!((r.status, error_of(&r.json()).0), (status, field), "{path}: {}", r.body);
    }
    assert_eq!(cp.admin("POST", &format!("/apis/{props}/change-provider?provider=other"), "creator", None).await.status, 403);

    // The throttling-policy search: `type:` (WSO2's app, sub, api, global) and `name:`.
    let subs = cp.admin("GET", "/throttling/policies/search?query=type:sub", "admin", None).await.json();
    let sub_names: Vec<&str> = subs["list"].as_array().expect("list").iter().filter_map(|p| p["policyName"].as_str()).collect();
    assert!(sub_names.contains(&"Gold") && sub_names.contains(&"Unlimited"), "{subs}");
    assert!(subs["list"].as_array().expect("list").iter().all(|p| p["type"] == "sub" && p["uuid"].is_string()), "{subs}");
    assert_eq!(subs["count"].as_u64(), Some(sub_names.len() as u64));
    let gold = cp.admin("GET", "/throttling/policies/search?query=type:sub%20name:gol", "admin", None).await.json();
    assert_eq!(
        gold["list"].as_array().map(|l| l.iter().filter_map(|p| p["policyName"].as_str()).collect::<Vec<_>>()),
        Some(vec!["Gold"]),
        "{gold}"
    );
    let every = cp.admin("GET", "/throttling/policies/search", "admin", None).await.json();
    let types: std::collections::BTreeSet<&str> =
        every["list"].as_array().expect("list").iter().filter_map(|p| p["type"].as_str()).collect();
    assert!(types.contains("app") && types.contains("sub"), "{every}");
    for q in ["type:bogus", "colour:red", "type:"] {
        let r = cp.admin("GET", &format!("/throttling/policies/search?query={q}"), "admin", None).await;
        assert_eq!((r.status, error_of(&r.json()).0), (400, "query"), "{q}: {}", r.body);
        assert!(error_of(&r.json()).1.contains(q), "{q}: {}", r.body);
    }

    // Key-manager usages: APIs naming it, applications with keys from it.
    let km = json!({"name": "Corp IdP", "type": "Keycloak", "issuer": "https://idp.corp.test/realms/apim", "jwksEndpoint": "https://idp.corp.test/certs"});
    let r = cp.admin("POST", "/key-managers", "admin", Some(km)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let km_id = r.json()["id"].as_str().expect("id").to_string();
    let mut bound = crate::pizza("Bound", "/bound");
    bound["keyManagers"] = json!(["Corp IdP"]);
    assert_eq!(cp.call("POST", "/apis", "admin", Some(bound)).await.status, 201);
    let mut everywhere = crate::pizza("Everywhere", "/everywhere");
    everywhere["keyManagers"] = json!(["all"]);
    assert_eq!(cp.call("POST", "/apis", "admin", Some(everywhere)).await.status, 201);
    let v = cp.admin("GET", &format!("/key-managers/{km_id}/api-usages"), "admin", None).await.json();
    assert_eq!((v["apiCount"].as_i64(), names(&v, "apis")), (Some(1), vec!["Bound".to_string()]), "{v}");
    assert_eq!(v["apis"][0]["keyManagerEntry"], "Corp IdP", "{v}");
    let empty = cp.admin("GET", &format!("/key-managers/{km_id}/api-usages?offset=5"), "admin", None).await.json();
    assert_eq!((empty["apiCount"].as_i64(), empty["apis"].as_array().map(Vec::len)), (Some(1), Some(0)), "{empty}");

    let r = cp.portal("POST", "/applications", "other", Some(json!({"name": "Keyed"}))).await;
    let keyed = r.json()["applicationId"].as_str().expect("id").to_string();
    let r = cp.portal("POST", "/applications", "subscriber", Some(json!({"name": "Unkeyed"}))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    // Keys as the DevPortal records them (mapping a client of that key manager).
    let mapping = KeyMapping {
        id: uuid::Uuid::new_v4().to_string(),
        application_id: keyed.clone(),
        key_type: "PRODUCTION".into(),
        key_manager: "Corp IdP".into(),
        consumer_key: "corp-client-1".into(),
        document: "{}".into(),
        created_at: 0,
    };
    cp.db.add_key_mapping(&mapping, &[]).await.expect("mapping");
    let v = cp.admin("GET", &format!("/key-managers/{km_id}/app-usages"), "admin", None).await.json();
    assert_eq!((v["applicationCount"].as_i64(), names(&v, "applications")), (Some(1), vec!["Keyed".to_string()]), "{v}");
    assert_eq!(
        (v["applications"][0]["uuid"].as_str(), v["applications"][0]["owner"].as_str()),
        (Some(keyed.as_str()), Some("other")),
        "{v}"
    );
    let resident = cp.admin("GET", "/key-managers/resident/app-usages", "admin", None).await.json();
    assert_eq!(resident["applicationCount"], 0, "{resident}");
    for path in ["/key-managers/no-such-km/api-usages", "/key-managers/no-such-km/app-usages"] {
        assert_eq!(cp.admin("GET", path, "admin", None).await.status, 404, "{path}");
    }
    for path in [format!("/key-managers/{km_id}/api-usages?limit=-1"), format!("/key-managers/{km_id}/app-usages?offset=x")] {
        let r = cp.admin("GET", &path, "admin", None).await;
        assert_eq!(r.status, 400, "{path}: {}", r.body);
    }
    assert_eq!(cp.admin("GET", &format!("/key-managers/{km_id}/app-usages"), "creator", None).await.status, 403);
}

async fn suite(db: Db) {
    let cp = start(db).await;
    from_urls(&cp).await;
    from_archives(&cp).await;
    let props = property_search(&cp).await;
    admin_operations(&cp, &props).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_search_and_admin_on_sqlite() {
    let dir = TempDir::new("apim-cp-imports");
    suite(connect(&sqlite(&dir)).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_search_and_admin_on_postgres() {
    let Some(tdb) = TestDb::create(Backend::Postgres).await else { return };
    suite(connect(&tdb.toml_fields()).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_search_and_admin_on_mariadb() {
    let Some(tdb) = TestDb::create(Backend::MySql).await else { return };
    suite(connect(&tdb.toml_fields()).await).await;
}
