//! `GET /apis/export` and `POST /apis/import` (apictl's project archive) through real sockets on SQLite, PostgreSQL
//! and MariaDB: WSO2's apictl fixtures import unchanged (plain, zipped, and in both `--params` wire forms); export →
//! delete → import gives the same API back (documents, thumbnail, scopes, operation policies, two deployments); bad
//! archives and projects are refused with nothing changed, an import failing half way included.

use std::io::{Read, Write};
use std::path::Path;

use apim_store::{ApiStore, Db};
use apim_test_support::TempDir;
use apim_test_support::db::{Backend, TestDb};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{Cp, auth, connect, sqlite};

/// One HTTP/1.1 exchange with raw bytes either way: (status, content type, body).
async fn exchange(cp: &Cp, method: &str, path: &str, content_type: &str, body: &[u8]) -> (u16, String, Vec<u8>) {
    exchange_as(cp, "admin", method, path, content_type, body).await
}

async fn exchange_as(cp: &Cp, user: &str, method: &str, path: &str, content_type: &str, body: &[u8]) -> (u16, String, Vec<u8>) {
    exchange_at(cp, user, method, &format!("/api/am/publisher/v4{path}"), content_type, body).await
}

/// [`exchange_as`] at a path of any of the REST APIs.
async fn exchange_at(cp: &Cp, user: &str, method: &str, path: &str, content_type: &str, body: &[u8]) -> (u16, String, Vec<u8>) {
    let addr = cp.base.trim_start_matches("http://");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nauthorization: {}\r\ncontent-type: {content_type}\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n",
        auth(user),
        body.len()
    );
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(head.as_bytes()).await.expect("write");
    s.write_all(body).await.expect("write");
    let mut answer = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(30), s.read_to_end(&mut answer)).await.expect("in time").expect("read");
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n").expect("head");
    let head = String::from_utf8_lossy(&answer[..split]).to_string();
    let mut body = answer[split + 4..].to_vec();
    let status = head.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let header = |name: &str| {
        head.lines()
            .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim().to_string()))
            .unwrap_or_default()
    };
    if header("transfer-encoding").eq_ignore_ascii_case("chunked") {
        let mut out = Vec::new();
        let mut rest = body.as_slice();
        loop {
            let line_end = rest.windows(2).position(|w| w == b"\r\n").expect("chunk size");
            let size = usize::from_str_radix(String::from_utf8_lossy(&rest[..line_end]).trim(), 16).expect("hex");
            rest = &rest[line_end + 2..];
            if size == 0 {
                break;
            }
            out.extend_from_slice(&rest[..size]);
            rest = &rest[size + 2..];
        }
        body = out;
    }
    (status, header("content-type"), body)
}

async fn import(cp: &Cp, query: &str, zip: &[u8]) -> (u16, Value) {
    import_as(cp, "admin", query, zip).await
}

async fn import_as(cp: &Cp, user: &str, query: &str, zip: &[u8]) -> (u16, Value) {
    post_archive(cp, user, &format!("/api/am/publisher/v4/apis/import{query}"), zip).await
}

/// POSTs `zip` as the multipart field `file` to `path` (of any REST API): the status and the JSON answer.
async fn post_archive(cp: &Cp, user: &str, path: &str, zip: &[u8]) -> (u16, Value) {
    let boundary = "apimprojectboundary51";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"project.zip\"\r\nContent-Type: application/zip\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(zip);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let (status, _, body) = exchange_at(cp, user, "POST", path, &format!("multipart/form-data; boundary={boundary}"), &body).await;
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

async fn export(cp: &Cp, query: &str) -> (u16, Vec<u8>) {
    let (status, content_type, body) = exchange(cp, "GET", &format!("/apis/export{query}"), "application/json", b"").await;
    if status == 200 {
        assert_eq!(content_type, "application/zip");
    }
    (status, body)
}

async fn get(cp: &Cp, path: &str) -> Value {
    let r = cp.call("GET", path, "admin", None).await;
    assert_eq!(r.status, 200, "{path}: {}", r.body);
    r.json()
}

/// A ZIP of `(name, content)` entries.
fn zip_of(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated).large_file(true);
    for (name, content) in entries {
        w.start_file(name.as_str(), options).expect("start");
        w.write_all(content).expect("write");
    }
    w.finish().expect("finish").into_inner()
}

/// A project directory zipped as apictl zips it (under its own name).
fn zip_dir(dir: &Path) -> Vec<u8> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir).expect("dir").map(|e| e.expect("entry").path()).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                let rel = p.strip_prefix(base).expect("rel").to_string_lossy().replace('\\', "/");
                out.push((rel, std::fs::read(&p).expect("read")));
            }
        }
    }
    let mut files = Vec::new();
    let top = dir.parent().expect("parent");
    walk(top, dir, &mut files);
    zip_of(&files)
}

/// The entries of a ZIP, by name.
fn unzip(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut a = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("zip");
    (0..a.len())
        .map(|i| {
            let mut e = a.by_index(i).expect("entry");
            let mut b = Vec::new();
            e.read_to_end(&mut b).expect("inflate");
            (e.name().expect("name").to_string(), b)
        })
        .collect()
}

fn apictl() -> std::path::PathBuf {
    apim_test_support::fixtures_dir().join("apictl")
}

async fn api_id(cp: &Cp, name: &str) -> Option<String> {
    let list = get(cp, &format!("/apis?query=name:{name}")).await;
    list["list"].as_array().and_then(|l| l.iter().find(|a| a["name"] == name)).and_then(|a| a["id"].as_str()).map(str::to_string)
}

/// Every fixture project of apictl imports unchanged: each archive, then the same project as a directory zipped
/// over it (`overwrite`), then PizzaShackAPI in both `--params` wire forms.
async fn fixtures(cp: &Cp) {
    // (archive, name, context, state, operations, documents, deployed environments)
    let cases = [
        ("PizzaShackAPI_1.0.0.zip", "PizzaShackAPI-1.0.0", "PizzaShackAPI", "/pizzashack", 5, 4),
        ("SwaggerPetstore_1.0.5.zip", "SwaggerPetstore-1.0.5", "SwaggerPetstore", "/v2", 20, 3),
        ("SwaggerPetstoreNew_1.0.0.zip", "SwaggerPetstoreNew-1.0.0", "SwaggerPetstoreNew", "/test", 3, 3),
    ];
    for (archive, dir, name, context, ops, docs) in cases {
        let bytes = std::fs::read(apictl().join("archives").join(archive)).expect("fixture");
        let (status, answer) = import(cp, "?preserveProvider=true", &bytes).await;
        assert_eq!(status, 200, "{archive}: {answer}");
        let id = answer["id"].as_str().expect("id").to_string();
        let api = get(cp, &format!("/apis/{id}")).await;
        assert_eq!((api["name"].as_str(), api["context"].as_str()), (Some(name), Some(context)), "{archive}");
        assert_eq!((api["lifeCycleStatus"].as_str(), api["provider"].as_str()), (Some("PUBLISHED"), Some("admin")), "{archive}");
        assert_eq!(api["operations"].as_array().map(Vec::len), Some(ops), "{archive}");
        assert_eq!(api["hasThumbnail"], true, "{archive}");
        assert_eq!(get(cp, &format!("/apis/{id}/documents")).await["count"], docs, "{archive}");
        let deps = get(cp, &format!("/apis/{id}/deployments")).await;
        assert_eq!(deps["list"][0]["name"], "Default", "{archive}: {deps}");
        let revs = get(cp, &format!("/apis/{id}/revisions")).await;
        assert_eq!(revs["count"], 1, "{archive}");

        // The same project again, as the directory apictl would zip: a 409 unless overwriting, then a second
        // revision of the same API.
        let again = zip_dir(&apictl().join("projects").join(dir));
        let (status, answer) = import(cp, "", &again).await;
        assert_eq!((status, answer["error"][0]["message"].as_str()), (409, Some("name")), "{dir}: {answer}");
        let (status, answer) = import(cp, "?overwrite=true&preserveProvider=true&rotateRevision=true", &again).await;
        assert_eq!((status, answer["id"].as_str()), (200, Some(id.as_str())), "{dir}: {answer}");
        assert_eq!(get(cp, &format!("/apis/{id}/revisions")).await["count"], 2, "{dir}");
        assert_eq!(get(cp, &format!("/apis/{id}/documents")).await["count"], docs, "{dir}: documents replaced, not doubled");
    }
    let pizza = api_id(cp, "PizzaShackAPI").await.expect("PizzaShackAPI");
    let pizza_api = get(cp, &format!("/apis/{pizza}")).await;
    assert_eq!(pizza_api["endpointConfig"]["endpoint_type"], "load_balance");
    assert_eq!(pizza_api["endpointConfig"]["endpoint_security"]["production"]["type"], "BASIC");
    assert_eq!(pizza_api["endpointConfig"]["endpoint_security"]["production"]["password"], "", "credentials are never answered");
    // A FILE document keeps its file, an INLINE one its text.
    let docs = get(cp, &format!("/apis/{pizza}/documents")).await;
    let doc_id = |name: &str| {
        docs["list"]
            .as_array()
            .expect("docs")
            .iter()
            .find(|d| d["name"] == name)
            .and_then(|d| d["documentId"].as_str())
            .expect(name)
            .to_string()
    };
    let pdf = std::fs::read(apictl().join("projects/PizzaShackAPI-1.0.0/Docs/Doc1/testDoc.pdf")).expect("pdf");
    let (_, _, content) = exchange(cp, "GET", &format!("/apis/{pizza}/documents/{}/content", doc_id("Doc1")), "text/plain", b"").await;
    assert!(content == pdf, "the PDF comes back byte for byte");
    let usage = std::fs::read(apictl().join("projects/PizzaShackAPI-1.0.0/Docs/PizzaShack Usage/PizzaShack Usage")).expect("usage");
    let (_, _, content) =
        exchange(cp, "GET", &format!("/apis/{pizza}/documents/{}/content", doc_id("PizzaShack Usage")), "text/plain", b"").await;
    assert_eq!(content, usage);

    // apictl's params forms: a params file's load-balanced endpoints, a deployment directory's endpoints,
    // security and plans, each over the project's.
    let wire = |f: &str| std::fs::read(apictl().join("wire").join(f)).expect("wire fixture");
    let (status, answer) = import(cp, "?overwrite=true&rotateRevision=true", &wire("PizzaShackAPI-1.0.0_with-params-file.zip")).await;
    assert_eq!(status, 200, "{answer}");
    let ec = &get(cp, &format!("/apis/{pizza}")).await["endpointConfig"];
    assert_eq!(
        (ec["endpoint_type"].as_str(), ec["production_endpoints"][1]["url"].as_str()),
        (Some("load_balance"), Some("https://prod2.wso2.com"))
    );
    let (status, answer) = import(cp, "?overwrite=true&rotateRevision=true", &wire("PizzaShackAPI-1.0.0_with-deployment-dir.zip")).await;
    assert_eq!(status, 200, "{answer}");
    let api = get(cp, &format!("/apis/{pizza}")).await;
    let ec = &api["endpointConfig"];
    assert_eq!((ec["endpoint_type"].as_str(), ec["production_endpoints"]["url"].as_str()), (Some("http"), Some("https://prod.wso2.com")));
    assert_eq!(ec["endpoint_security"]["sandbox"]["type"], "DIGEST");
    assert_eq!(api["policies"], json!(["Gold", "Silver"]));
    // The deployment directory's certificates: `certs` for the endpoint (environment-wide), `mutualSslCerts` the
    // API's client certificates with their tiers.
    assert_eq!(get(cp, "/endpoint-certificates/alice").await["status"], "Active");
    let client = get(cp, &format!("/apis/{pizza}/client-certificates")).await;
    assert_eq!(
        client["certificates"],
        json!([{"alias": "bob", "apiId": pizza, "tier": "Gold"}, {"alias": "carol", "apiId": pizza, "tier": "Silver"}]),
        "{client}"
    );
    // Four imports of PizzaShackAPI with environments: four revisions. A fifth is the limit; a sixth is a 409
    // unless the oldest may go (`rotateRevision`).
    assert_eq!(get(cp, &format!("/apis/{pizza}/revisions")).await["count"], 4);
    let params_file = wire("PizzaShackAPI-1.0.0_with-params-file.zip");
    assert_eq!(import(cp, "?overwrite=true", &params_file).await.0, 200);
    let (status, answer) = import(cp, "?overwrite=true", &params_file).await;
    assert_eq!(status, 409, "{answer}");
    assert!(answer["description"].as_str().unwrap_or("").contains("rotateRevision"), "{answer}");
    let (status, answer) = import(cp, "?overwrite=true&rotateRevision=true", &params_file).await;
    assert_eq!((status, answer["revision"].as_str()), (200, Some("6")), "{answer}");
    let revs = get(cp, &format!("/apis/{pizza}/revisions")).await;
    let names: Vec<&str> = revs["list"].as_array().expect("revisions").iter().filter_map(|r| r["displayName"].as_str()).collect();
    assert_eq!(names, ["Revision 2", "Revision 3", "Revision 4", "Revision 5", "Revision 6"]);

    // The APIs an API product project carries are API projects of their own (another export of the same APIs).
    // Its SwaggerPetstore is the 4.0 export whose endpoint has no scheme (`petstore.swagger.io`), which no gateway
    // can call: refused as `POST /apis` refuses it, naming the field.
    let zip = zip_dir(&apictl().join("projects/MyProduct-1.0.0/APIs/PizzaShackAPI-1.0.0"));
    let (status, answer) = import(cp, "?overwrite=true", &zip).await;
    assert_eq!(status, 200, "MyProduct's PizzaShackAPI: {answer}");
    let zip = zip_dir(&apictl().join("projects/MyProduct-1.0.0/APIs/SwaggerPetstore-1.0.5"));
    let (status, answer) = import(cp, "?overwrite=true", &zip).await;
    assert_eq!(
        (status, answer["error"][0]["message"].as_str()),
        (400, Some("api.yaml.data.endpointConfig.production_endpoints")),
        "{answer}"
    );
    // An API product is not an API project.
    let product = std::fs::read(apictl().join("archives/MyProduct_1.0.0.zip")).expect("product");
    let (status, answer) = import(cp, "", &product).await;
    assert_eq!((status, answer["error"][0]["message"].as_str()), (400, Some("file")), "{answer}");
    // At /api-products/import it imports unchanged, its APIs found here by name and version (their own fixture
    // projects, imported above) and a revision deployed where it says.
    let products = "/api/am/publisher/v4/api-products/import";
    let (status, answer) = post_archive(cp, "admin", products, &product).await;
    assert_eq!((status, answer["revision"].as_str()), (200, Some("1")), "MyProduct: {answer}");
    let my = get(cp, &format!("/api-products/{}", answer["id"].as_str().expect("id"))).await;
    assert_eq!(
        (my["name"].as_str(), my["state"].as_str(), my["context"].as_str()),
        (Some("MyProduct"), Some("PUBLISHED"), Some("/myproduct"))
    );
    let used: Vec<&str> = my["apis"].as_array().expect("apis").iter().filter_map(|a| a["name"].as_str()).collect();
    assert!(used.contains(&"SwaggerPetstore") && used.contains(&"PizzaShackAPI"), "{my}");
    // With its own copies of the APIs (importAPIs, overwriteAPIs), the SwaggerPetstore without an endpoint scheme is
    // refused, named by its folder and field.
    let (status, answer) =
        post_archive(cp, "admin", &format!("{products}?importAPIs=true&overwriteAPIs=true&overwriteAPIProduct=true"), &product).await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer["error"][0]["message"].as_str().is_some_and(|m| m.starts_with("APIs/SwaggerPetstore-1.0.5/")), "{answer}");
}

/// What `GET` answers of an API, without what differs between two copies of it: ids and times.
fn comparable(mut api: Value) -> Value {
    if let Some(o) = api.as_object_mut() {
        for k in ["id", "createdTime", "lastUpdatedTime", "lastUpdatedTimestamp"] {
            o.remove(k);
        }
    }
    api
}

fn comparable_docs(docs: &Value) -> Vec<Value> {
    let mut list: Vec<Value> = docs["list"]
        .as_array()
        .expect("docs")
        .iter()
        .map(|d| {
            let mut d = d.clone();
            for k in ["documentId", "createdTime", "lastUpdatedTime"] {
                d.as_object_mut().expect("doc").remove(k);
            }
            d
        })
        .collect();
    list.sort_by_key(|d| d["name"].as_str().unwrap_or("").to_string());
    list
}

/// Export → delete → import: the same API, documents, thumbnail, scopes, operation policies and two deployments.
async fn round_trip(cp: &Cp) {
    let body = json!({
        "name": "RoundTrip", "context": "/roundtrip", "version": "2.1.0", "policies": ["Gold", "Unlimited"],
        "description": "An API that goes out and comes back",
        "tags": ["trip"],
        "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": "http://backend.test:8080/trip"},
            "endpoint_security": {"production": {"enabled": true, "type": "BASIC", "username": "u", "password": "p"}}},
        "scopes": [{"scope": {"name": "trip:read", "displayName": "Read trips", "description": "reads", "bindings": ["admin"]}, "shared": false}],
        "operations": [
            {"target": "/trips", "verb": "GET", "scopes": ["trip:read"],
             "operationPolicies": {"request": [{"policyName": "addHeader", "policyVersion": "v1", "parameters": {"headerName": "X-Trip", "headerValue": "1"}}], "response": [], "fault": []}},
            {"target": "/trips", "verb": "POST", "throttlingPolicy": "10KPerMin"}
        ],
        "apiPolicies": {"request": [{"policyName": "addHeader", "policyVersion": "v1", "parameters": {"headerName": "X-All", "headerValue": "a"}}], "response": [], "fault": []},
    });
    let r = cp.call("POST", "/apis", "admin", Some(body)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.json()["id"].as_str().expect("id").to_string();
    for doc in [
        json!({"name": "Guide", "type": "HOWTO", "sourceType": "INLINE", "inlineContent": "<p>How to travel</p>", "visibility": "API_LEVEL"}),
        json!({"name": "Notes", "type": "OTHER", "otherTypeName": "Notes", "sourceType": "MARKDOWN", "inlineContent": "# Notes", "visibility": "PRIVATE"}),
        json!({"name": "Site", "type": "PUBLIC_FORUM", "sourceType": "URL", "sourceUrl": "https://trip.example/forum", "visibility": "API_LEVEL"}),
        json!({"name": "Spec", "type": "SAMPLES", "sourceType": "FILE", "visibility": "OWNER_ONLY"}),
    ] {
        let r = cp.call("POST", &format!("/apis/{id}/documents"), "admin", Some(doc)).await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let spec_doc = api_doc(cp, &id, "Spec").await;
    let pdf = b"%PDF-1.4 a small file\n\x00\x01\x02".to_vec();
    upload(cp, &format!("/apis/{id}/documents/{spec_doc}/content"), "spec.pdf", &pdf).await;
    let png = std::fs::read(apictl().join("projects/PizzaShackAPI-1.0.0/Image/icon.png")).expect("png");
    upload(cp, &format!("/apis/{id}/thumbnail"), "icon.png", &png).await;
    // Certificates: the environment's for the API's endpoint, and the API's own for mutual TLS (before the
    // revisions, which carry it).
    let pem =
        std::fs::read_to_string(apictl().join("deployment/DeploymentArtifacts_PizzaShackAPI-1.0.0/certificates/alice.crt")).expect("crt");
    let (status, _, body) = form_post(
        cp,
        "/endpoint-certificates",
        &[("alias", "trip-backend"), ("endpoint", "http://backend.test:8080"), ("certificate", &pem)],
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let (status, _, body) = form_post(
        cp,
        &format!("/apis/{id}/client-certs/production"),
        &[("alias", "trip-partner"), ("tier", "Gold"), ("certificate", &pem)],
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    // Two deployments: revision 1 on Default, revision 2 on Edge; then published.
    for (n, env) in [(1, "Default"), (2, "Edge")] {
        let rev = cp.call("POST", &format!("/apis/{id}/revisions"), "admin", Some(json!({}))).await.json();
        assert_eq!(rev["displayName"], format!("Revision {n}"));
        let rid = rev["id"].as_str().expect("rid");
        let r = cp
            .call(
                "POST",
                &format!("/apis/{id}/deploy-revision?revisionId={rid}"),
                "admin",
                Some(json!([{"name": env, "displayOnDevportal": n == 1}])),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    assert_eq!(cp.call("POST", &format!("/apis/change-lifecycle?action=Publish&apiId={id}"), "admin", None).await.status, 200);

    let before = get(cp, &format!("/apis/{id}")).await;
    let docs_before = get(cp, &format!("/apis/{id}/documents")).await;
    let deps_of = |v: &Value| {
        let mut d: Vec<(String, String, bool)> = v["list"]
            .as_array()
            .expect("deployments")
            .iter()
            .map(|d| (d["name"].as_str().unwrap_or("").into(), d["vhost"].as_str().unwrap_or("").into(), d["displayOnDevportal"] == true))
            .collect();
        d.sort();
        d
    };
    let deps_before = deps_of(&get(cp, &format!("/apis/{id}/deployments")).await);
    assert_eq!(deps_before.len(), 2);

    // Export by name (YAML), as apictl does; the archive is apictl's layout.
    let (status, zip) =
        export(cp, "?name=RoundTrip&version=2.1.0&providerName=admin&format=YAML&preserveStatus=true&preserveCredentials=true").await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&zip));
    let entries = unzip(&zip);
    let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
    for expected in [
        "RoundTrip-2.1.0/api.yaml",
        "RoundTrip-2.1.0/Definitions/swagger.yaml",
        "RoundTrip-2.1.0/Docs/Guide/document.yaml",
        "RoundTrip-2.1.0/Docs/Guide/Guide",
        "RoundTrip-2.1.0/Docs/Spec/spec.pdf",
        "RoundTrip-2.1.0/Docs/Site/document.yaml",
        "RoundTrip-2.1.0/Image/icon.png",
        "RoundTrip-2.1.0/deployment_environments.yaml",
        "RoundTrip-2.1.0/Endpoint-certificates/endpoint_certificates.yaml",
        "RoundTrip-2.1.0/Endpoint-certificates/trip-backend.crt",
        "RoundTrip-2.1.0/Client-certificates/client_certificates.yaml",
        "RoundTrip-2.1.0/Client-certificates/trip-partner.crt",
    ] {
        assert!(names.contains(&expected), "{expected} not in {names:?}");
    }
    let api_yaml: Value =
        serde_norway::from_slice(&entries.iter().find(|(n, _)| n.ends_with("/api.yaml")).expect("api.yaml").1).expect("yaml");
    assert_eq!((api_yaml["type"].as_str(), api_yaml["version"].as_str()), (Some("api"), Some("v4.2.0")));
    assert_eq!(api_yaml["data"]["name"], "RoundTrip");

    assert_eq!(cp.call("DELETE", &format!("/apis/{id}"), "admin", None).await.status, 200);
    assert_eq!(cp.call("DELETE", "/endpoint-certificates/trip-backend", "admin", None).await.status, 200);
    let events = cp.db.events_after(0, 100_000).await.expect("events").len();
    let (status, answer) = import(cp, "?preserveProvider=true&rotateRevision=true", &zip).await;
    assert_eq!(status, 200, "{answer}");
    let new_id = answer["id"].as_str().expect("id").to_string();
    // One event per change, written with it: created, published, deployed to both environments.
    let written: Vec<(String, Value)> = cp
        .db
        .events_after(0, 100_000)
        .await
        .expect("events")
        .into_iter()
        .skip(events)
        .map(|e| (e.event_type, serde_json::from_str(&e.payload).expect("payload")))
        .collect();
    let types: Vec<&str> = written.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(types, ["API_CREATE", "API_LIFECYCLE_CHANGE", "ENDPOINT_CERTIFICATE_ADD", "DEPLOY_API_IN_GATEWAY"]);
    assert_eq!(written[3].1["gatewayLabels"], json!(["Default", "Edge"]));
    assert_eq!(written[3].1["apiId"], json!(new_id));
    // The certificates came back: the endpoint's (gone before the import) and the API's client certificate.
    let endpoint = get(cp, "/endpoint-certificates/trip-backend").await;
    assert_eq!(endpoint["status"], "Active", "{endpoint}");
    let client = get(cp, &format!("/apis/{new_id}/client-certs/production")).await;
    assert_eq!(client["certificates"], json!([{"alias": "trip-partner", "apiId": new_id, "tier": "Gold"}]), "{client}");
    assert_ne!(new_id, id);
    let after = get(cp, &format!("/apis/{new_id}")).await;
    assert_eq!(comparable(after), comparable(before.clone()));
    let docs_after = get(cp, &format!("/apis/{new_id}/documents")).await;
    assert_eq!(comparable_docs(&docs_after), comparable_docs(&docs_before));
    assert_eq!(deps_of(&get(cp, &format!("/apis/{new_id}/deployments")).await), deps_before);
    let spec_doc = api_doc(cp, &new_id, "Spec").await;
    let (_, _, content) = exchange(cp, "GET", &format!("/apis/{new_id}/documents/{spec_doc}/content"), "text/plain", b"").await;
    assert_eq!(content, pdf);
    let guide = api_doc(cp, &new_id, "Guide").await;
    let (_, _, content) = exchange(cp, "GET", &format!("/apis/{new_id}/documents/{guide}/content"), "text/plain", b"").await;
    assert_eq!(content, b"<p>How to travel</p>");
    let (_, content_type, thumb) = exchange(cp, "GET", &format!("/apis/{new_id}/thumbnail"), "text/plain", b"").await;
    assert_eq!((content_type.as_str(), thumb), ("image/png", png));
    let hist = get(cp, &format!("/apis/{new_id}/lifecycle-history")).await;
    assert_eq!(hist["list"][0]["postState"], "Published");

    // JSON, a revision by number, the latest revision; a state not preserved is CREATED.
    let (status, zip) = export(cp, &format!("?apiId={new_id}&format=JSON&latestRevision=true&preserveStatus=false")).await;
    assert_eq!(status, 200);
    let entries = unzip(&zip);
    let api_json: Value =
        serde_json::from_slice(&entries.iter().find(|(n, _)| n.ends_with("/api.json")).expect("api.json").1).expect("json");
    assert_eq!((api_json["type"].as_str(), api_json["data"]["lifeCycleStatus"].as_str()), (Some("api"), Some("CREATED")));
    assert!(entries.iter().any(|(n, _)| n.ends_with("/Definitions/swagger.json")));
    let (status, answer) = import(cp, "?overwrite=true", &zip).await;
    assert_eq!((status, answer["id"].as_str(), answer["revision"].as_str()), (200, Some(new_id.as_str()), Some("2")), "{answer}");
    assert_eq!(get(cp, &format!("/apis/{new_id}")).await["lifeCycleStatus"], "CREATED");
    // A client that takes only text gets WSO2's words instead of ImportAPIResponse.
    let boundary = "apimtextboundary";
    let mut form = format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"p.zip\"\r\n\r\n").into_bytes();
    form.extend_from_slice(&zip);
    form.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let addr = cp.base.trim_start_matches("http://");
    let head = format!(
        "POST /api/am/publisher/v4/apis/import?overwrite=true HTTP/1.1\r\nhost: {addr}\r\nauthorization: {}\r\naccept: text/plain\r\n\
         content-type: multipart/form-data; boundary={boundary}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        auth("admin"),
        form.len()
    );
    let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
    conn.write_all(head.as_bytes()).await.expect("write");
    conn.write_all(&form).await.expect("write");
    let mut answer = Vec::new();
    conn.read_to_end(&mut answer).await.expect("read");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("API imported successfully."), "{answer}");
    assert_eq!(export(cp, &format!("?apiId={new_id}&revisionNumber=1")).await.0, 200);
    assert_eq!(export(cp, &format!("?apiId={new_id}&revisionNumber=9")).await.0, 404);
    for (query, field) in [
        ("?name=RoundTrip", "version"),
        ("", "apiId"),
        (&format!("?apiId={new_id}&format=XML") as &str, "format"),
        (&format!("?apiId={new_id}&preserveStatus=maybe"), "preserveStatus"),
        (&format!("?apiId={new_id}&revisionNumber=x"), "revisionNumber"),
    ] {
        let (status, body) = export(cp, query).await;
        let e: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        assert_eq!((status, e["error"][0]["message"].as_str()), (400, Some(field)), "{query}: {e}");
    }
    assert_eq!(export(cp, "?name=Nope&version=1").await.0, 404);
    // Importing needs apim:api_import_export; exporting a viewing scope, and its credentials as stored a creating one.
    assert_eq!(import_as(cp, "subscriber", "?overwrite=true", &zip).await.0, 403);
    assert_eq!(exchange_as(cp, "subscriber", "GET", &format!("/apis/export?apiId={new_id}"), "text/plain", b"").await.0, 403);
    let (status, _, zip) = exchange_as(cp, "publisher", "GET", &format!("/apis/export?apiId={new_id}"), "text/plain", b"").await;
    assert_eq!(status, 200);
    let masked: Value =
        serde_norway::from_slice(&unzip(&zip).into_iter().find(|(n, _)| n.ends_with("/api.yaml")).expect("api.yaml").1).expect("yaml");
    assert_eq!(masked["data"]["endpointConfig"]["endpoint_security"]["production"]["password"], "");
    let (status, _, zip) =
        exchange_as(cp, "creator", "GET", &format!("/apis/export?apiId={new_id}&preserveCredentials=true"), "text/plain", b"").await;
    assert_eq!(status, 200);
    let kept: Value =
        serde_norway::from_slice(&unzip(&zip).into_iter().find(|(n, _)| n.ends_with("/api.yaml")).expect("api.yaml").1).expect("yaml");
    assert_eq!(kept["data"]["endpointConfig"]["endpoint_security"]["production"]["password"], "p");
    assert_eq!(
        exchange_as(cp, "publisher", "GET", &format!("/apis/export?apiId={new_id}&preserveCredentials=true"), "text/plain", b"").await.0,
        403
    );
    assert_eq!(export(cp, "?apiId=nope").await.0, 404);
}

/// An API's own uploaded operation policy stays attached through an overwriting import (the API keeps it);
/// a project's `Policies/` are not read yet, so after a delete the attachment names a policy that is gone.
async fn own_policies(cp: &Cp) {
    let body = json!({"name": "OwnPolicy", "context": "/ownpolicy", "version": "1.0.0",
        "operations": [{"target": "/items", "verb": "GET"}]});
    let r = cp.call("POST", "/apis", "admin", Some(body)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.json()["id"].as_str().expect("id").to_string();
    let boundary = "apimpolicyboundary3";
    let mut form = Vec::new();
    for (field, file, content) in [
        ("policySpecFile", "spec.yaml", "name: rewriteResourcePath\nversion: v5\napplicableFlows: [request]\n"),
        ("ccPolicyDefinitionFile", "p.gotmpl", "{{ .x }}"),
    ] {
        form.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{file}\"\r\n\r\n{content}\r\n")
                .as_bytes(),
        );
    }
    form.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let (status, _, answer) =
        exchange(cp, "POST", &format!("/apis/{id}/operation-policies"), &format!("multipart/form-data; boundary={boundary}"), &form).await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&answer));
    let policy: Value = serde_json::from_slice(&answer).expect("policy");
    let policy_id = policy["id"].as_str().expect("policy id").to_string();
    let mut doc = get(cp, &format!("/apis/{id}")).await;
    doc["operations"][0]["operationPolicies"]["request"] =
        json!([{"policyName": "rewriteResourcePath", "policyId": policy_id, "parameters": {"newResourcePath": "/v2/items"}}]);
    let r = cp.call("PUT", &format!("/apis/{id}"), "admin", Some(doc)).await;
    assert_eq!(r.status, 200, "{}", r.body);

    let (status, zip) = export(cp, &format!("?apiId={id}")).await;
    assert_eq!(status, 200);
    let (status, answer) = import(cp, "?overwrite=true", &zip).await;
    assert_eq!(status, 200, "{answer}");
    let api = get(cp, &format!("/apis/{id}")).await;
    assert_eq!(api["operations"][0]["operationPolicies"]["request"][0]["policyId"], json!(policy_id));

    // The project carries the API's own policy: after the API is gone, an import makes it again (a new id in this
    // environment) and attaches it by name and version.
    let files = unzip(&zip);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        names.contains(&"OwnPolicy-1.0.0/Policies/rewriteResourcePath_v5.yaml")
            && names.contains(&"OwnPolicy-1.0.0/Policies/rewriteResourcePath_v5.gotmpl"),
        "{names:?}"
    );
    assert_eq!(cp.call("DELETE", &format!("/apis/{id}"), "admin", None).await.status, 200);
    let (status, answer) = import(cp, "", &zip).await;
    assert_eq!(status, 200, "{answer}");
    let new_id = answer["id"].as_str().expect("id").to_string();
    let own = get(cp, &format!("/apis/{new_id}/operation-policies")).await;
    assert_eq!(
        (own["count"].as_u64(), own["list"][0]["name"].as_str(), own["list"][0]["version"].as_str()),
        (Some(1), Some("rewriteResourcePath"), Some("v5")),
        "{own}"
    );
    let new_policy = own["list"][0]["id"].as_str().expect("policy id");
    assert_ne!(new_policy, policy_id);
    let api = get(cp, &format!("/apis/{new_id}")).await;
    assert_eq!(api["operations"][0]["operationPolicies"]["request"][0]["policyId"], json!(new_policy));
    // A policy file that is not a policy the gateway runs is refused, naming the file; nothing is imported.
    assert_eq!(cp.call("DELETE", &format!("/apis/{new_id}"), "admin", None).await.status, 200);
    let mut bad: Vec<(String, Vec<u8>)> = files.into_iter().filter(|(n, _)| !n.contains("/Policies/")).collect();
    bad.push((
        "OwnPolicy-1.0.0/Policies/custom_v1.yaml".into(),
        b"name: customMediation\nversion: v1\napplicableFlows: [request]\n".to_vec(),
    ));
    let (status, answer) = import(cp, "", &zip_of(&bad)).await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer["error"][0]["message"].as_str().is_some_and(|m| m.starts_with("Policies/custom_v1.yaml")), "{answer}");
    assert!(api_id(cp, "OwnPolicy").await.is_none(), "a refused import makes nothing");
}

/// POSTs a multipart form of text fields (a `certificate` field as a file) to a Publisher path.
async fn form_post(cp: &Cp, path: &str, fields: &[(&str, &str)]) -> (u16, String, Vec<u8>) {
    let boundary = "apimformboundary7";
    let mut body = String::new();
    for (name, value) in fields {
        let file = if *name == "certificate" { "; filename=\"c.crt\"" } else { "" };
        body.push_str(&format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"{file}\r\n\r\n{value}\r\n"));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    exchange(cp, "POST", path, &format!("multipart/form-data; boundary={boundary}"), body.as_bytes()).await
}

async fn api_doc(cp: &Cp, api: &str, name: &str) -> String {
    let docs = get(cp, &format!("/apis/{api}/documents")).await;
    docs["list"]
        .as_array()
        .expect("docs")
        .iter()
        .find(|d| d["name"] == name)
        .and_then(|d| d["documentId"].as_str())
        .expect(name)
        .to_string()
}

async fn upload(cp: &Cp, path: &str, file_name: &str, bytes: &[u8]) {
    let boundary = "apimuploadboundary77";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let method = if path.ends_with("thumbnail") { "PUT" } else { "POST" };
    let (status, _, answer) = exchange(cp, method, path, &format!("multipart/form-data; boundary={boundary}"), &body).await;
    assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&answer));
}

/// A minimal valid project under `top/`, with `extra` files and `api.yaml` replaced when given.
fn project(top: &str, api_yaml: Option<&str>, extra: &[(&str, &[u8])]) -> Vec<(String, Vec<u8>)> {
    let api = api_yaml.map(str::to_string).unwrap_or_else(|| {
        "type: api\nversion: v4.2.0\ndata:\n  name: Broken\n  context: /broken\n  version: 1.0.0\n  operations:\n   - target: /a\n     verb: GET\n"
            .to_string()
    });
    let mut files = vec![(format!("{top}/api.yaml"), api.into_bytes())];
    files.push((
        format!("{top}/deployment_environments.yaml"),
        b"type: deployment_environments\nversion: v4.2.0\ndata:\n -\n  deploymentEnvironment: Default\n  displayOnDevportal: true\n"
            .to_vec(),
    ));
    for (name, content) in extra {
        files.push((format!("{top}/{name}"), content.to_vec()));
    }
    files
}

/// Bad archives and projects: a 400 (or 409) naming the problem, and nothing changed.
async fn bad_input(cp: &Cp) {
    let events = cp.db.events_after(0, 100_000).await.expect("events").len();
    let apis = cp.db.list_apis(&apim_store::ApiFilter::default(), 1000, 0).await.expect("apis").1;
    let deployments = cp.db.deployed_revisions().await.expect("deployed").len();

    // A zip bomb: 30 MiB of zeros deflate to a few KiB.
    let bomb = zip_of(&project("Broken-1.0.0", None, &[("Docs/Big/Big", &vec![0u8; 30 << 20])]));
    assert!(bomb.len() < 1 << 20);
    // A path leaving the archive, and a link.
    let traversal = zip_of(&[("Broken-1.0.0/../x".to_string(), b"x".to_vec())]);
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, content) in project("Broken-1.0.0", None, &[]) {
        w.start_file(name, zip::write::SimpleFileOptions::default()).expect("start");
        w.write_all(&content).expect("write");
    }
    w.add_symlink("Broken-1.0.0/Image/icon.png", "/etc/passwd", zip::write::SimpleFileOptions::default()).expect("link");
    let link = w.finish().expect("finish").into_inner();
    // Over the size limit: incompressible bytes, stored.
    let mut noise = Vec::with_capacity(10 << 20 | 4096);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    while noise.len() < (10 << 20) + 4096 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        noise.extend_from_slice(&x.to_le_bytes());
    }
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file("Broken-1.0.0/noise.bin", zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored))
        .expect("start");
    w.write_all(&noise).expect("write");
    let oversized = w.finish().expect("finish").into_inner();
    let v3 = "type: api\nversion: v3.2.0\ndata:\n  name: Broken\n  context: /broken\n  version: 1.0.0\n";
    let wrong_type = "type: api_product\nversion: v4.2.0\ndata:\n  name: Broken\n  context: /broken\n  version: 1.0.0\n";
    let unknown_env = {
        let inner = zip_of(&project("SourceArchive", None, &[]));
        zip_of(&[
            ("Broken-1.0.0/SourceArchive.zip".to_string(), inner),
            (
                "Broken-1.0.0/intermediate_params.yaml".to_string(),
                b"deploymentEnvironments:\n- deploymentEnvironment: Mars\n  displayOnDevportal: true\n".to_vec(),
            ),
        ])
    };
    let bad_doc = zip_of(&project(
        "Broken-1.0.0",
        None,
        &[("Docs/X/document.yaml", b"type: document\nversion: v4.2.0\ndata:\n  name: X\n  type: HOWTO\n  sourceType: TELEPATHY\n")],
    ));
    let bad_field = zip_of(&project(
        "Broken-1.0.0",
        Some("type: api\nversion: v4.2.0\ndata:\n  name: Broken\n  context: /broken\n  version: 1.0.0\n  policies: [Platinum]\n"),
        &[],
    ));
    let unknown_project_env = zip_of(&[
        ("Broken-1.0.0/api.yaml".to_string(), project("Broken-1.0.0", None, &[]).remove(0).1),
        (
            "Broken-1.0.0/deployment_environments.yaml".to_string(),
            b"type: deployment_environments\nversion: v4.2.0\ndata:\n -\n  deploymentEnvironment: Moon\n".to_vec(),
        ),
    ]);
    let bad_state = "type: api\nversion: v4.2.0\ndata:\n  name: Broken\n  context: /broken\n  version: 1.0.0\n  lifeCycleStatus: ASLEEP\n";
    let cases: Vec<(&str, Vec<u8>, u16, &str, &str)> = vec![
        ("zip bomb", bomb, 400, "file", "inflates to more than"),
        ("path traversal", traversal, 400, "file", ".."),
        ("symlink", link, 400, "file", "link"),
        ("over the size limit", oversized, 400, "file", "larger than"),
        ("envelope version", zip_of(&project("Broken-1.0.0", Some(v3), &[])), 400, "api.yaml", "v3.2.0"),
        ("envelope type", zip_of(&project("Broken-1.0.0", Some(wrong_type), &[])), 400, "api.yaml", "api_product"),
        (
            "unknown environment in params",
            unknown_env,
            400,
            "intermediate_params.yaml.deploymentEnvironments[0].deploymentEnvironment",
            "Mars",
        ),
        ("bad document", bad_doc, 400, "Broken-1.0.0/Docs/X/document.yaml", "sourceType"),
        ("bad API field", bad_field, 400, "api.yaml.data.policies", "Platinum"),
        ("not a zip", b"hello".to_vec(), 400, "file", "ZIP"),
        ("unknown environment in the project", unknown_project_env, 400, "deployment_environments.yaml[0].deploymentEnvironment", "Moon"),
        ("bad lifecycle state", zip_of(&project("Broken-1.0.0", Some(bad_state), &[])), 400, "api.yaml.data.lifeCycleStatus", "ASLEEP"),
    ];
    for (what, zip, status, field, words) in cases {
        let (s, answer) = import(cp, "", &zip).await;
        let (f, d) = (answer["error"][0]["message"].as_str().unwrap_or(""), answer["description"].as_str().unwrap_or(""));
        assert_eq!(s, status, "{what}: {answer}");
        assert!(f == field || f == field.trim_start_matches("Broken-1.0.0/"), "{what}: field {f}, not {field}: {answer}");
        assert!(d.contains(words), "{what}: {d}");
    }
    // A body larger than any archive taken: 413, refused by its length before it is sent.
    let addr = cp.base.trim_start_matches("http://");
    let head = format!(
        "POST /api/am/publisher/v4/apis/import HTTP/1.1\r\nhost: {addr}\r\nauthorization: {}\r\n\
         content-type: multipart/form-data; boundary=b\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        auth("admin"),
        12 << 20
    );
    let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
    conn.write_all(head.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(10), conn.read_to_end(&mut answer)).await.expect("in time").expect("read");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413") && answer.contains("larger than 10 MiB"), "{answer}");
    let (s, answer) = import(cp, "?overwrite=perhaps", &zip_of(&project("Broken-1.0.0", None, &[]))).await;
    assert_eq!((s, answer["error"][0]["message"].as_str()), (400, Some("overwrite")));

    // Half way: the API and the first document are written, the second (of the same name) fails. Nothing stays.
    let doc = b"type: document\nversion: v4.2.0\ndata:\n  name: Twice\n  type: HOWTO\n  sourceType: INLINE\n".as_slice();
    let twice = zip_of(&project("Broken-1.0.0", None, &[("Docs/A/document.yaml", doc), ("Docs/B/document.yaml", doc)]));
    let (s, answer) = import(cp, "", &twice).await;
    assert_eq!(s, 409, "{answer}");
    assert!(answer["description"].as_str().unwrap_or("").contains("Twice"), "{answer}");

    assert_eq!(api_id(cp, "Broken").await, None, "no API");
    assert_eq!(cp.db.list_apis(&apim_store::ApiFilter::default(), 1000, 0).await.expect("apis").1, apis);
    assert_eq!(cp.db.events_after(0, 100_000).await.expect("events").len(), events, "no event, so no revision deployed");
    assert_eq!(cp.db.deployed_revisions().await.expect("deployed").len(), deployments, "no deployment");

    // The same project without the repeated document imports: the check above was about the failure alone.
    let fine = zip_of(&project("Broken-1.0.0", None, &[("Docs/A/document.yaml", doc)]));
    let (s, answer) = import(cp, "", &fine).await;
    assert_eq!(s, 200, "{answer}");
    let id = answer["id"].as_str().expect("id");
    assert_eq!(get(cp, &format!("/apis/{id}/revisions")).await["count"], 1);

    // The operations are the definition's, api.yaml's entries kept where they match (as WSO2 imports).
    let api = "type: api\nversion: v4.2.0\ndata:\n  name: FromDefinition\n  context: /fromdef\n  version: 1.0.0\n  operations:\n   - target: /gone\n     verb: GET\n   - target: /a\n     verb: GET\n     throttlingPolicy: 10KPerMin\n";
    let definition = "openapi: 3.0.1\ninfo: {title: FromDefinition, version: 1.0.0}\npaths:\n  /a:\n    get:\n      responses: {'200': {description: ok}}\n  /b:\n    post:\n      responses: {'200': {description: ok}}\n";
    let zip = zip_of(&project("FromDefinition-1.0.0", Some(api), &[("Definitions/swagger.yaml", definition.as_bytes())]));
    let (s, answer) = import(cp, "", &zip).await;
    assert_eq!(s, 200, "{answer}");
    let api = get(cp, &format!("/apis/{}", answer["id"].as_str().expect("id"))).await;
    let ops: Vec<(String, String, String)> = api["operations"]
        .as_array()
        .expect("operations")
        .iter()
        .map(|o| {
            (
                o["verb"].as_str().unwrap_or("").into(),
                o["target"].as_str().unwrap_or("").into(),
                o["throttlingPolicy"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    assert_eq!(ops, vec![("GET".into(), "/a".into(), "10KPerMin".into()), ("POST".into(), "/b".into(), "Unlimited".into())]);
}

/// The DevPortal's application export and import: an application and its subscriptions leave as apictl's
/// application project and come back; what the environment cannot subscribe to is skipped and listed (207).
async fn applications(cp: &Cp) {
    let api = crate::portal::api(cp, "AppMove", json!({}), true).await;
    let r = cp
        .portal(
            "POST",
            "/applications",
            "subscriber",
            Some(json!({"name": "Mover", "throttlingPolicy": "10PerMin", "description": "moves"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let app = r.json()["applicationId"].as_str().expect("id").to_string();
    let r = cp
        .portal("POST", "/subscriptions", "subscriber", Some(json!({"apiId": api, "applicationId": app, "throttlingPolicy": "Gold"})))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let dp = "/api/am/devportal/v3";
    let export = |user: &'static str, query: &'static str| async move {
        let (status, content_type, body) = exchange_at(cp, user, "GET", &format!("{dp}/applications/export{query}"), "", b"").await;
        (status, content_type, body)
    };
    let (status, content_type, zip) = export("subscriber", "?appName=Mover&appOwner=subscriber").await;
    assert_eq!((status, content_type.as_str()), (200, "application/zip"), "{}", String::from_utf8_lossy(&zip));
    let files = unzip(&zip);
    assert_eq!(files.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), vec!["subscriber_Mover/application.yaml"]);
    let doc: Value = serde_norway::from_slice(&files[0].1).expect("yaml");
    assert_eq!(
        (doc["type"].as_str(), doc["data"]["applicationInfo"]["throttlingPolicy"].as_str()),
        (Some("application"), Some("10PerMin"))
    );
    assert_eq!(
        doc["data"]["subscribedAPIs"],
        json!([{"apiId": {"providerName": "admin", "apiName": "AppMove", "version": "1.0.0"}, "throttlingPolicy": "Gold", "subscriptionStatus": "UNBLOCKED"}])
    );
    let (status, _, json_zip) = export("subscriber", "?appName=Mover&appOwner=subscriber&format=JSON").await;
    assert_eq!((status, unzip(&json_zip)[0].0.as_str()), (200, "subscriber_Mover/application.json"));
    for (user, query, expected) in [
        ("creator", "?appName=Mover&appOwner=subscriber", 403),
        ("subscriber", "?appName=Nope&appOwner=subscriber", 404),
        ("subscriber", "?appOwner=subscriber", 400),
        ("subscriber", "?appName=Mover&appOwner=subscriber&format=XML", 400),
        ("subscriber", "?appName=Mover&appOwner=subscriber&withKeys=maybe", 400),
    ] {
        assert_eq!(export(user, query).await.0, expected, "{user} {query}");
    }

    // Deleted and imported back: the same application with the same subscription.
    assert_eq!(cp.portal("DELETE", &format!("/applications/{app}"), "subscriber", None).await.status, 200);
    let (status, answer) = post_archive(cp, "subscriber", &format!("{dp}/applications/import"), &zip).await;
    assert_eq!((status, answer["name"].as_str(), answer["subscriptionCount"].as_i64()), (200, Some("Mover"), Some(1)), "{answer}");
    let back = answer["applicationId"].as_str().expect("id").to_string();
    let subs = cp.portal("GET", &format!("/subscriptions?applicationId={back}"), "subscriber", None).await.json();
    assert_eq!((subs["list"][0]["apiId"].as_str(), subs["list"][0]["throttlingPolicy"].as_str()), (Some(api.as_str()), Some("Gold")));
    assert_eq!(subs["list"][0]["applicationInfo"], json!({"applicationId": back, "name": "Mover", "owner": "subscriber"}));
    let (status, answer) = post_archive(cp, "subscriber", &format!("{dp}/applications/import"), &zip).await;
    assert_eq!(status, 409, "already there: {answer}");
    let (status, answer) = post_archive(cp, "subscriber", &format!("{dp}/applications/import?update=true"), &zip).await;
    assert_eq!((status, answer["applicationId"].as_str()), (200, Some(back.as_str())), "{answer}");

    // An API this environment lacks: the application is made, that subscription skipped and listed.
    let text = String::from_utf8_lossy(&files[0].1).replace("AppMove", "NotHere").replace("name: Mover", "name: Mover2");
    let (status, answer) =
        post_archive(cp, "subscriber", &format!("{dp}/applications/import"), &zip_of(&[("x/application.yaml".into(), text.into_bytes())]))
            .await;
    assert_eq!((status, answer["count"].as_i64(), answer["list"][0]["name"].as_str()), (207, Some(1), Some("NotHere")), "{answer}");

    // Bad archives and parameters: a 400 or 403 naming the problem, nothing made.
    let yaml = String::from_utf8_lossy(&files[0].1).to_string();
    let one = |text: String| zip_of(&[("x/application.yaml".into(), text.into_bytes())]);
    for (user, query, archive, status, needle) in [
        ("subscriber", "", zip_of(&[("x/api.yaml".into(), b"type: api".to_vec())]), 400, "application.yaml"),
        ("subscriber", "", one(yaml.replace("type: application", "type: api")), 400, "not `application`"),
        ("subscriber", "", one(yaml.replace("name: Mover", "name: Mover3").replace("10PerMin", "NoSuchPlan")), 400, "NoSuchPlan"),
        ("subscriber", "", one("data: [".into()), 400, "line"),
        ("subscriber", "?appOwner=creator", zip.clone(), 403, "admin"),
        ("admin", "?appOwner=nobody-here", zip.clone(), 400, "nobody-here"),
        ("subscriber", "?update=perhaps", zip.clone(), 400, "update"),
    ] {
        let (got, answer) = post_archive(cp, user, &format!("{dp}/applications/import{query}"), &archive).await;
        assert_eq!(got, status, "{query}: {answer}");
        assert!(answer.to_string().contains(needle), "{query}: {answer} should name {needle}");
    }
    let names: Vec<String> = cp.portal("GET", "/applications", "subscriber", None).await.json()["list"]
        .as_array()
        .map(|l| l.iter().filter_map(|a| a["name"].as_str().map(String::from)).collect())
        .unwrap_or_default();
    assert!(!names.contains(&"Mover3".to_string()), "a refused import makes nothing: {names:?}");
}

/// The Admin API's rate-limiting policy export and import: WSO2's `{type: rate-limiting policy, subtype, data}`
/// document, JSON or YAML, checked as `POST` checks a policy.
async fn throttling_policies(cp: &Cp) {
    let admin = "/api/am/admin/v4";
    let export = |user: &'static str, query: String| async move {
        let (status, _, body) = exchange_at(cp, user, "GET", &format!("{admin}/throttling/policies/export{query}"), "", b"").await;
        (status, serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null))
    };
    let (status, gold) = export("admin", "?name=Gold&type=sub".into()).await;
    assert_eq!(
        (status, gold["type"].as_str(), gold["subtype"].as_str()),
        (200, Some("rate-limiting policy"), Some("subscription")),
        "{gold}"
    );
    assert_eq!(gold["data"]["policyName"], "Gold");
    let gold_id = gold["data"]["policyId"].as_str().expect("policyId").to_string();
    assert_eq!(export("admin", format!("?policyId={gold_id}")).await.1, gold, "by id, whatever its level");
    for (user, query, expected) in [
        ("admin", "?name=NoSuchPolicy&type=sub", 404),
        ("admin", "", 400),
        ("admin", "?name=Gold&type=bogus", 400),
        ("subscriber", "?name=Gold&type=sub", 403),
    ] {
        assert_eq!(export(user, query.into()).await.0, expected, "{user} {query}");
    }

    // Imported under another name: a new policy with this environment's own id; again: 409, unless overwrite.
    let import = |query: &'static str, file: Vec<u8>| async move {
        post_archive(cp, "admin", &format!("{admin}/throttling/policies/import{query}"), &file).await
    };
    let mut copy = gold.clone();
    copy["data"]["policyName"] = json!("GoldCopy");
    let (status, _) = import("", copy.to_string().into_bytes()).await;
    assert_eq!(status, 200);
    let listed = cp.admin("GET", "/throttling/policies/subscription", "admin", None).await.json();
    let made = listed["list"].as_array().and_then(|l| l.iter().find(|p| p["policyName"] == "GoldCopy")).cloned().expect("GoldCopy listed");
    assert_ne!(made["policyId"].as_str(), Some(gold_id.as_str()));
    assert_eq!(made["defaultLimit"], gold["data"]["defaultLimit"]);
    let (status, answer) = import("", copy.to_string().into_bytes()).await;
    assert_eq!(status, 409, "{answer}");
    copy["data"]["description"] = json!("replaced");
    assert_eq!(import("?overwrite=true", copy.to_string().into_bytes()).await.0, 200);
    let (_, again) = export("admin", "?name=GoldCopy&type=sub".into()).await;
    assert_eq!((again["data"]["description"].as_str(), again["data"]["policyId"].clone()), (Some("replaced"), made["policyId"].clone()));
    let mut yaml = gold.clone();
    yaml["data"]["policyName"] = json!("GoldYaml");
    assert_eq!(import("", serde_norway::to_string(&yaml).expect("yaml").into_bytes()).await.0, 200, "YAML as well");

    // Bad files: a 400 naming the problem, nothing made.
    let with = |f: &dyn Fn(&mut Value)| {
        let mut v = gold.clone();
        v["data"]["policyName"] = json!("Refused");
        f(&mut v);
        v.to_string().into_bytes()
    };
    for (file, needle) in [
        (with(&|v| v["subtype"] = json!("weird")), "subtype"),
        (with(&|v| v["type"] = json!("api")), "rate-limiting policy"),
        (with(&|v| v["version"] = json!("v3.2.0")), "v3.2.0"),
        (with(&|v| v["data"]["defaultLimit"]["requestCount"]["unitTime"] = json!(-5)), "unitTime"),
        (with(&|v| v["data"] = json!("text")), "data"),
        (b"{\"type\": ".to_vec(), "line"),
    ] {
        let (status, answer) = import("", file).await;
        assert_eq!(status, 400, "{needle}: {answer}");
        assert!(answer.to_string().contains(needle), "{answer} should name {needle}");
    }
    let (status, answer) = import("?overwrite=sometimes", copy.to_string().into_bytes()).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(export("admin", "?name=Refused&type=sub".into()).await.0, 404, "a refused import makes nothing");
}

/// An API product's project: exported with the projects of its APIs under `APIs/`, deleted with them, imported
/// back (its APIs first, with `importAPIs`), deployed again; the APIs found by name and version.
async fn products(cp: &Cp) {
    let starters = crate::portal::api(cp, "ProdStarters", json!({}), true).await;
    let mains = crate::portal::api(cp, "ProdMains", json!({"operations": [{"target": "/dishes", "verb": "GET"}]}), true).await;
    let body = json!({"name": "Dinner", "context": "/dinner", "description": "Two courses", "policies": ["Gold"],
        "apis": [{"apiId": starters, "operations": [{"target": "/menu", "verb": "GET"}]},
                 {"apiId": mains, "operations": [{"target": "/dishes", "verb": "GET"}]}]});
    let r = cp.call("POST", "/api-products", "admin", Some(body)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.json()["id"].as_str().expect("id").to_string();
    let rev = get_json(cp, "POST", &format!("/api-products/{id}/revisions"), json!({})).await;
    let rid = rev["id"].as_str().expect("revision");
    get_json(cp, "POST", &format!("/api-products/{id}/deploy-revision?revisionId={rid}"), json!([{"name": "Default"}])).await;
    get_json(cp, "POST", &format!("/api-products/change-lifecycle?action=Publish&apiProductId={id}"), Value::Null).await;
    let before = get(cp, &format!("/api-products/{id}")).await;

    let (status, _, zip) = exchange(cp, "GET", "/api-products/export?name=Dinner&version=1.0.0", "", b"").await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&zip));
    let files = unzip(&zip);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    for expected in [
        "Dinner-1.0.0/api_product.yaml",
        "Dinner-1.0.0/Definitions/swagger.yaml",
        "Dinner-1.0.0/deployment_environments.yaml",
        "Dinner-1.0.0/APIs/ProdStarters-1.0.0/api.yaml",
        "Dinner-1.0.0/APIs/ProdMains-1.0.0/api.yaml",
    ] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }
    let main: Value =
        serde_norway::from_slice(&files.iter().find(|(n, _)| n.ends_with("/api_product.yaml")).expect("main").1).expect("yaml");
    assert_eq!((main["type"].as_str(), main["data"]["state"].as_str()), (Some("api_product"), Some("PUBLISHED")), "{main}");
    // An API's export is not a product's, nor the other way round.
    assert_eq!(exchange(cp, "GET", "/apis/export?name=Dinner&version=1.0.0", "", b"").await.0, 404);
    assert_eq!(exchange(cp, "GET", "/api-products/export?name=ProdMains&version=1.0.0", "", b"").await.0, 404);
    let (status, answer) = import(cp, "", &zip).await;
    assert_eq!(status, 400, "{answer}");
    let products = "/api/am/publisher/v4/api-products/import";
    let (status, answer) = post_archive(cp, "admin", products, &zip).await;
    assert_eq!(status, 409, "exists without overwriteAPIProduct: {answer}");

    // Gone, and back from the archive.
    for path in [format!("/api-products/{id}"), format!("/apis/{starters}"), format!("/apis/{mains}")] {
        let r = cp.call("DELETE", &path, "admin", None).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
    }
    let (status, answer) = post_archive(cp, "admin", products, &zip).await;
    assert_eq!(status, 400, "the APIs are not here: {answer}");
    assert!(answer["error"][0]["message"].as_str().is_some_and(|m| m.contains("api_product.yaml.data.apis[")), "{answer}");
    let (status, answer) = post_archive(cp, "admin", &format!("{products}?importAPIs=true"), &zip).await;
    assert_eq!((status, answer["revision"].as_str()), (200, Some("1")), "{answer}");
    let new_id = answer["id"].as_str().expect("id").to_string();
    let after = get(cp, &format!("/api-products/{new_id}")).await;
    let strip = |mut v: Value| {
        for k in ["id", "createdTime", "lastUpdatedTime", "lastUpdatedTimestamp"] {
            v.as_object_mut().expect("object").remove(k);
        }
        for a in v["apis"].as_array_mut().expect("apis") {
            a.as_object_mut().expect("api").remove("apiId");
        }
        v
    };
    assert_eq!(strip(after.clone()), strip(before), "the product as it was, ids and times aside");
    let used = after["apis"][0]["apiId"].as_str().expect("api id");
    assert_ne!(used, starters, "the API imported anew");
    let deployed = get(cp, &format!("/api-products/{new_id}/deployments")).await;
    assert_eq!(deployed["list"][0]["name"], "Default", "{deployed}");
    // Imported again over itself.
    let (status, answer) = post_archive(cp, "admin", &format!("{products}?overwriteAPIProduct=true&rotateRevision=true"), &zip).await;
    assert_eq!((status, answer["id"].as_str()), (200, Some(new_id.as_str())), "{answer}");
    let not_product = zip_of(&[("X-1.0.0/api.yaml".into(), b"type: api\nversion: v4.2.0\ndata: {name: X}\n".to_vec())]);
    let (status, answer) = post_archive(cp, "admin", products, &not_product).await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer.to_string().contains("/apis/import"), "{answer}");
}

async fn get_json(cp: &Cp, method: &str, path: &str, body: Value) -> Value {
    let r = cp.call(method, path, "admin", if body.is_null() { None } else { Some(body) }).await;
    assert!((200..300).contains(&r.status), "{method} {path}: {} {}", r.status, r.body);
    r.json()
}

async fn suite(db: Db) {
    let cp = crate::start(db).await;
    products(&cp).await;
    fixtures(&cp).await;
    round_trip(&cp).await;
    own_policies(&cp).await;
    bad_input(&cp).await;
    applications(&cp).await;
    throttling_policies(&cp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_export_on_sqlite() {
    let dir = TempDir::new("apim-cp-import-export");
    suite(connect(&sqlite(&dir)).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_export_on_postgres() {
    let Some(tdb) = TestDb::create(Backend::Postgres).await else { return };
    suite(connect(&tdb.toml_fields()).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_export_on_mariadb() {
    let Some(tdb) = TestDb::create(Backend::MySql).await else { return };
    suite(connect(&tdb.toml_fields()).await).await;
}

/// The apictl fixtures are still the project's reference copies, where those sit beside the checkout
/// (`../shared/fixtures/apictl`, as in CI).
#[test]
fn apictl_fixtures_are_the_reference_copies() {
    let reference = apim_test_support::fixtures_dir().join("../../shared/fixtures/apictl");
    if !reference.is_dir() {
        return;
    }
    fn files(dir: &Path, base: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).expect("dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                files(&p, base, out);
            } else {
                out.push(p.strip_prefix(base).expect("rel").to_string_lossy().into_owned());
            }
        }
    }
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    files(&apictl(), &apictl(), &mut ours);
    files(&reference, &reference, &mut theirs);
    ours.sort();
    theirs.sort();
    assert_eq!(ours, theirs, "fixtures/apictl lists other files than ../shared/fixtures/apictl");
    for f in ours {
        assert!(
            std::fs::read(apictl().join(&f)).expect("ours") == std::fs::read(reference.join(&f)).expect("theirs"),
            "fixtures/apictl/{f} differs"
        );
    }
}
