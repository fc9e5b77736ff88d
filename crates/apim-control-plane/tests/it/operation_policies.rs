//! Operation policies in the Publisher through real sockets on SQLite, PostgreSQL and MariaDB: the gateway's
//! common policies served from its table, uploads (common and an API's own) refused unless the gateway runs the
//! policy they name, downloads, export and import, attachments resolved and checked on API save, and deletes
//! refused while an API attaches the policy.

use std::io::{Cursor, Read, Write};

use apim_store::{Db, OperationPolicyStore};
use apim_test_support::TempDir;
use apim_test_support::db::{Backend, TestDb};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{Cp, auth, connect, sqlite, start};

/// One request with a raw body, answered as (status, head, body bytes): downloads are ZIP archives.
async fn raw(cp: &Cp, method: &str, path: &str, user: &str, content_type: Option<&str>, body: &[u8]) -> (u16, String, Vec<u8>) {
    let addr = cp.base.trim_start_matches("http://");
    let ct = content_type.map(|c| format!("content-type: {c}\r\n")).unwrap_or_default();
    let head = format!(
        "{method} /api/am/publisher/v4{path} HTTP/1.1\r\nhost: {addr}\r\nauthorization: {}\r\n{ct}content-length: {}\r\nconnection: close\r\n\r\n",
        auth(user),
        body.len()
    );
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(head.as_bytes()).await.expect("write");
    s.write_all(body).await.expect("write");
    let mut answer = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(10), s.read_to_end(&mut answer)).await.expect("in time").expect("read");
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n").expect("head");
    let head = String::from_utf8_lossy(&answer[..split]).to_string();
    let status = head.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, head, answer[split + 4..].to_vec())
}

/// A multipart form of `(field, file name, content)` files.
async fn upload(cp: &Cp, path: &str, user: &str, files: &[(&str, &str, &[u8])]) -> (u16, String, Value) {
    let boundary = "apimpolicyboundary51";
    let mut body = Vec::new();
    for (name, file, content) in files {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{file}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let (status, head, bytes) = raw(cp, "POST", path, user, Some(&format!("multipart/form-data; boundary={boundary}")), &body).await;
    (status, head, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// The files of a ZIP archive, by name.
fn unzip(bytes: &[u8]) -> Vec<(String, String)> {
    let mut z = zip::ZipArchive::new(Cursor::new(bytes)).expect("a zip");
    let mut out = Vec::new();
    for i in 0..z.len() {
        let mut e = z.by_index(i).expect("entry");
        let mut text = String::new();
        e.read_to_string(&mut text).expect("text");
        out.push((e.name().expect("name").to_string(), text));
    }
    out.sort();
    out
}

fn zip_of(entries: &[(&str, &str)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, content) in entries {
        w.start_file(*name, options).expect("start");
        w.write_all(content.as_bytes()).expect("write");
    }
    w.finish().expect("finish").into_inner()
}

fn field_of(v: &Value) -> &str {
    v["error"][0]["message"].as_str().unwrap_or("")
}

const ADD_HEADER_V2: &str = "category: Mediation\nname: addHeader\nversion: v2\ndisplayName: Add Header (tenant)\n\
description: adds a header\napplicableFlows: [request, response, fault]\nsupportedGateways: [Synapse]\nsupportedApiTypes: [HTTP]\n\
policyAttributes:\n  - {name: headerName, displayName: Header Name, type: String, required: true}\n  - {name: headerValue, type: String, required: true}\n";
const SYNAPSE_BODY: &str = "<property name=\"{{headerName}}\" value=\"{{headerValue}}\" scope=\"transport\"/>";

/// The common list, one policy and its content: the gateway's own table.
async fn common_policies(cp: &Cp) -> String {
    let r = cp.call("GET", "/operation-policies?limit=100", "creator", None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let list = r.json()["list"].as_array().cloned().unwrap_or_default();
    let names: Vec<&str> = list.iter().filter_map(|p| p["name"].as_str()).collect();
    for name in [
        "addHeader",
        "removeHeader",
        "addQueryParam",
        "removeQueryParam",
        "changeHTTPMethod",
        "rewriteResourcePath",
        "jsonToXML",
        "xmlToJSON",
        "callInterceptorService",
    ] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
    let add = list.iter().find(|p| p["name"] == "addHeader").expect("addHeader");
    assert_eq!(
        (add["category"].as_str(), add["version"].as_str(), add["isAPISpecific"].as_bool()),
        (Some("Mediation"), Some("v1"), Some(false))
    );
    assert_eq!(add["applicableFlows"], json!(["request", "response", "fault"]));
    assert_eq!(add["supportedGateways"], json!(["Synapse"]));
    let attrs: Vec<(&str, &str, bool)> = add["policyAttributes"]
        .as_array()
        .expect("attributes")
        .iter()
        .map(|a| (a["name"].as_str().unwrap_or(""), a["type"].as_str().unwrap_or(""), a["required"].as_bool().unwrap_or(false)))
        .collect();
    assert_eq!(attrs, [("headerName", "String", true), ("headerValue", "String", true)]);
    let method = list.iter().find(|p| p["name"] == "changeHTTPMethod").expect("changeHTTPMethod");
    assert_eq!(method["applicableFlows"], json!(["request"]));
    assert_eq!(method["policyAttributes"][0]["type"], "Enum");
    assert!(method["policyAttributes"][0]["allowedValues"].as_array().is_some_and(|v| v.contains(&json!("POST"))));
    let id = add["id"].as_str().expect("id").to_string();

    let r = cp.call("GET", "/operation-policies?query=name:addHeader%26version:v1", "publisher", None).await;
    assert_eq!((r.status, r.json()["count"].as_i64()), (200, Some(1)), "{}", r.body);
    let r = cp.call("GET", "/operation-policies?limit=2&offset=1", "creator", None).await;
    assert_eq!(r.json()["count"], 2);
    assert!(r.json()["pagination"]["total"].as_i64().is_some_and(|t| t >= 11), "{}", r.body);
    let r = cp.call("GET", "/operation-policies?query=kind:x", "creator", None).await;
    assert_eq!((r.status, field_of(&r.json())), (400, "query"), "{}", r.body);
    let r = cp.call("GET", "/operation-policies", "subscriber", None).await;
    assert_eq!(r.status, 403, "{}", r.body);

    let r = cp.call("GET", &format!("/operation-policies/{id}"), "creator", None).await;
    assert_eq!((r.status, r.json()["name"].as_str()), (200, Some("addHeader")), "{}", r.body);
    let r = cp.call("GET", "/operation-policies/no-such-policy", "creator", None).await;
    assert_eq!(r.status, 404, "{}", r.body);
    let (status, head, bytes) = raw(cp, "GET", &format!("/operation-policies/{id}/content"), "creator", None, b"").await;
    assert_eq!(status, 200, "{head}");
    assert!(head.to_ascii_lowercase().contains("content-type: application/zip"), "{head}");
    let files = unzip(&bytes);
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0].0, "addHeader_v1/addHeader_v1.yaml");
    assert!(files[0].1.contains("type: operation_policy_specification") && files[0].1.contains("headerValue"), "{}", files[0].1);
    // Built in: not deletable.
    let r = cp.call("DELETE", &format!("/operation-policies/{id}"), "admin", None).await;
    assert_eq!(r.status, 403, "{}", r.body);
    id
}

/// Uploads of common policies, their export and import.
async fn uploaded_common(cp: &Cp) -> String {
    let spec = |text: &'static str| ("policySpecFile", "spec.yaml", text.as_bytes());
    let body = ("synapsePolicyDefinitionFile", "policy.j2", SYNAPSE_BODY.as_bytes());
    // A custom policy: its Synapse body cannot run here.
    let custom = "name: setCustomHeader\nversion: v1\ncategory: Mediation\napplicableFlows: [request]\n";
    let (status, _, v) = upload(cp, "/operation-policies", "admin", &[spec(custom), body]).await;
    assert_eq!((status, field_of(&v)), (400, "policySpecFile.name"), "{v}");
    let d = v["description"].as_str().unwrap_or("");
    assert!(d.contains("setCustomHeader") && d.contains("custom policies cannot run here") && d.contains(".j2"), "{d}");
    // An attribute of the wrong type, one the policy does not take, a flow it does not run on.
    for (text, field) in [
        (
            "name: addHeader\nversion: v9\npolicyAttributes: [{name: headerName, type: Integer}, {name: headerValue}]\n",
            "policySpecFile.policyAttributes[0].type",
        ),
        (
            "name: addHeader\nversion: v9\npolicyAttributes: [{name: headerName}, {name: headerValue}, {name: script}]\n",
            "policySpecFile.policyAttributes[2].name",
        ),
        ("name: rewriteResourcePath\nversion: v9\napplicableFlows: [response]\n", "policySpecFile.applicableFlows[0]"),
    ] {
        let (status, _, v) = upload(cp, "/operation-policies", "admin", &[("policySpecFile", "spec.yaml", text.as_bytes())]).await;
        assert_eq!((status, field_of(&v)), (400, field), "{text}: {v}");
    }
    let (status, _, v) = upload(cp, "/operation-policies", "admin", &[body]).await;
    assert_eq!((status, field_of(&v)), (400, "policySpecFile"), "{v}");
    // The built-in name and version are taken.
    let (status, _, v) = upload(cp, "/operation-policies", "admin", &[spec("name: addHeader\nversion: v1\n")]).await;
    assert_eq!(status, 409, "{v}");
    // Only common_operation_policy_manage adds common policies.
    let (status, _, v) = upload(cp, "/operation-policies", "creator", &[spec(ADD_HEADER_V2)]).await;
    assert_eq!(status, 403, "{v}");

    let (status, head, v) = upload(cp, "/operation-policies", "admin", &[spec(ADD_HEADER_V2), body]).await;
    assert_eq!(status, 201, "{v}");
    let id = v["id"].as_str().expect("id").to_string();
    assert!(head.contains(&format!("/api/am/publisher/v4/operation-policies/{id}")), "{head}");
    assert_eq!(
        (v["version"].as_str(), v["displayName"].as_str(), v["isAPISpecific"].as_bool()),
        (Some("v2"), Some("Add Header (tenant)"), Some(false))
    );
    let (status, _, v) = upload(cp, "/operation-policies", "admin", &[spec(ADD_HEADER_V2)]).await;
    assert_eq!(status, 409, "{v}");
    let r = cp.call("GET", "/operation-policies?query=name:addHeader", "creator", None).await;
    let listed = r.json();
    let versions: Vec<&str> =
        listed["list"].as_array().map(|l| l.iter().filter_map(|p| p["version"].as_str()).collect()).unwrap_or_default();
    assert_eq!(versions, ["v1", "v2"], "{}", r.body);

    // Export (JSON), then import it back as another version.
    let (status, _, bytes) = raw(cp, "GET", "/operation-policies/export?name=addHeader&version=v2&format=JSON", "admin", None, b"").await;
    assert_eq!(status, 200);
    let files = unzip(&bytes);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["addHeader_v2/addHeader_v2.j2", "addHeader_v2/addHeader_v2.json"]);
    assert_eq!(files[0].1, SYNAPSE_BODY);
    let exported: Value = serde_json::from_str(&files[1].1).expect("json spec");
    assert_eq!(exported["data"]["displayName"], "Add Header (tenant)");
    for (query, status, field) in [
        ("name=addHeader&version=v2&format=XML", 400, Some("format")),
        ("version=v2", 400, Some("name")),
        ("name=addHeader&version=v7", 404, None),
    ] {
        let r = cp.call("GET", &format!("/operation-policies/export?{query}"), "admin", None).await;
        assert_eq!(r.status, status, "{query}: {}", r.body);
        if let Some(f) = field {
            assert_eq!(field_of(&r.json()), f, "{}", r.body);
        }
    }
    let r = cp.call("GET", "/operation-policies/export?name=addHeader", "creator", None).await;
    assert_eq!(r.status, 403, "only policies_import_export exports");

    let (status, _, v) = upload(cp, "/operation-policies/import", "admin", &[("file", "addHeader_v2.zip", &bytes)]).await;
    assert_eq!(status, 409, "the same name and version: {v}");
    let v3 = files[1].1.replace("\"v2\"", "\"v3\"");
    let archive = zip_of(&[("addHeader_v3/addHeader_v3.json", &v3), ("addHeader_v3/addHeader_v3.j2", SYNAPSE_BODY)]);
    let (status, _, v) = upload(cp, "/operation-policies/import", "admin", &[("file", "addHeader_v3.zip", &archive)]).await;
    assert_eq!((status, v["version"].as_str()), (200, Some("v3")), "{v}");
    let imported = v["id"].as_str().expect("id").to_string();
    let custom = zip_of(&[("x/x.yaml", "name: setCustomHeader\n"), ("x/x.j2", "<log/>")]);
    let (status, _, v) = upload(cp, "/operation-policies/import", "admin", &[("file", "x.zip", &custom)]).await;
    assert_eq!((status, field_of(&v)), (400, "file.name"), "{v}");
    let (status, _, v) = upload(cp, "/operation-policies/import", "admin", &[("file", "x.zip", b"not a zip")]).await;
    assert_eq!((status, field_of(&v)), (400, "file"), "{v}");
    let (status, _, bytes) = raw(cp, "GET", &format!("/operation-policies/{imported}/content"), "creator", None, b"").await;
    assert_eq!(status, 200);
    assert_eq!(unzip(&bytes).len(), 2);
    let r = cp.call("DELETE", &format!("/operation-policies/{imported}"), "admin", None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = cp.call("GET", &format!("/operation-policies/{imported}"), "admin", None).await;
    assert_eq!(r.status, 404, "{}", r.body);
    id
}

fn api_with(name: &str, context: &str, api_policies: Value, op_policies: Value) -> Value {
    json!({"name": name, "context": context, "version": "1.0.0", "policies": ["Unlimited"],
           "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": "http://backend.test:8080/"}},
           "apiPolicies": api_policies,
           "operations": [{"target": "/items", "verb": "GET", "operationPolicies": op_policies}]})
}

/// Attachments on API save, an API's own policies, and deletes refused while in use.
async fn attachments(cp: &Cp, builtin_id: &str, common_v2: &str) {
    let header = |version: &str| json!({"policyName": "addHeader", "policyVersion": version, "parameters": {"headerName": "X-Tenant", "headerValue": "t1"}});
    // A parameter of the wrong type, a version that does not exist: 400 naming them.
    let mut wrong = header("v2");
    wrong["parameters"]["headerName"] = json!({"name": "X"});
    let r = cp.call("POST", "/apis", "creator", Some(api_with("Wrong", "/wrong", json!({}), json!({"request": [wrong]})))).await;
    assert_eq!((r.status, field_of(&r.json())), (400, "operations[0].operationPolicies.request[0].parameters.headerName"), "{}", r.body);
    let r = cp.call("POST", "/apis", "creator", Some(api_with("Wrong", "/wrong", json!({"response": [header("v9")]}), json!({})))).await;
    assert_eq!((r.status, field_of(&r.json())), (400, "apiPolicies.response[0].policyVersion"), "{}", r.body);

    let r = cp
        .call(
            "POST",
            "/apis",
            "creator",
            Some(api_with("Tenant", "/tenant", json!({"request": [header("v2")]}), json!({"response": [header("v1")]}))),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let api = r.json();
    let api_id = api["id"].as_str().expect("id").to_string();
    assert_eq!(api["apiPolicies"]["request"][0]["policyId"], common_v2);
    assert_eq!(api["operations"][0]["operationPolicies"]["response"][0]["policyId"], builtin_id);
    let r = cp.call("DELETE", &format!("/operation-policies/{common_v2}"), "admin", None).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.json()["description"].as_str().is_some_and(|d| d.contains("Tenant 1.0.0")), "{}", r.body);

    // The API's own policies: only names the gateway runs.
    let rewrite = "name: rewriteResourcePath\nversion: v5\napplicableFlows: [request]\n";
    let own = |text: &'static str| {
        [("policySpecFile", "spec.yaml", text.as_bytes()), ("ccPolicyDefinitionFile", "p.gotmpl", b"{{ .x }}".as_slice())]
    };
    let (status, _, v) = upload(cp, &format!("/apis/{api_id}/operation-policies"), "creator", &own("name: myLuaFilter\n")).await;
    assert_eq!((status, field_of(&v)), (400, "policySpecFile.name"), "{v}");
    assert!(v["description"].as_str().is_some_and(|d| d.contains("custom policies cannot run here")), "{v}");
    let (status, _, v) = upload(cp, "/apis/no-such-api/operation-policies", "creator", &own(rewrite)).await;
    assert_eq!(status, 404, "{v}");
    let (status, _, v) = upload(cp, &format!("/apis/{api_id}/operation-policies"), "subscriber", &own(rewrite)).await;
    assert_eq!(status, 403, "{v}");
    let (status, head, v) = upload(cp, &format!("/apis/{api_id}/operation-policies"), "creator", &own(rewrite)).await;
    assert_eq!((status, v["isAPISpecific"].as_bool()), (201, Some(true)), "{v}");
    let own_id = v["id"].as_str().expect("id").to_string();
    assert!(head.contains(&format!("/apis/{api_id}/operation-policies/{own_id}")), "{head}");
    let r = cp.call("GET", &format!("/apis/{api_id}/operation-policies"), "publisher", None).await;
    assert_eq!((r.status, r.json()["count"].as_i64()), (200, Some(1)), "{}", r.body);
    let r = cp.call("GET", &format!("/apis/{api_id}/operation-policies/{own_id}"), "creator", None).await;
    assert_eq!((r.status, r.json()["version"].as_str()), (200, Some("v5")), "{}", r.body);
    let r = cp.call("GET", &format!("/apis/{api_id}/operation-policies/{common_v2}"), "creator", None).await;
    assert_eq!(r.status, 404, "a common policy is not the API's own: {}", r.body);
    let (status, _, bytes) = raw(cp, "GET", &format!("/apis/{api_id}/operation-policies/{own_id}/content"), "creator", None, b"").await;
    assert_eq!(status, 200);
    let names: Vec<String> = unzip(&bytes).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["rewriteResourcePath_v5/rewriteResourcePath_v5.gotmpl", "rewriteResourcePath_v5/rewriteResourcePath_v5.yaml"]);

    // Attached by id on update; another API may not attach it.
    let mut doc = cp.call("GET", &format!("/apis/{api_id}"), "creator", None).await.json();
    let rewrite_attachment =
        json!({"policyName": "rewriteResourcePath", "policyId": own_id, "parameters": {"newResourcePath": "/v2/items"}});
    doc["operations"][0]["operationPolicies"]["request"] = json!([rewrite_attachment]);
    let r = cp.call("PUT", &format!("/apis/{api_id}"), "creator", Some(doc.clone())).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["operations"][0]["operationPolicies"]["request"][0]["policyVersion"], "v5");
    // A new version has its own copies of the API's own policies.
    let r = cp.call("POST", &format!("/apis/copy-api?apiId={api_id}&newVersion=2.0.0"), "creator", None).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let copy = r.json();
    let copy_id = copy["id"].as_str().expect("id").to_string();
    let attached = copy["operations"][0]["operationPolicies"]["request"][0]["policyId"].as_str().unwrap_or("").to_string();
    assert_ne!(attached, own_id);
    let r = cp.call("GET", &format!("/apis/{copy_id}/operation-policies"), "creator", None).await;
    assert_eq!(r.json()["list"][0]["id"], attached.as_str(), "{}", r.body);
    assert_eq!(r.json()["list"][0]["version"], "v5", "{}", r.body);
    let r = cp.call("DELETE", &format!("/apis/{copy_id}"), "admin", None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Another API may not attach it: its id is not one of that API's, nor is its name and version.
    let mut elsewhere = rewrite_attachment.clone();
    elsewhere["policyVersion"] = json!("v5");
    let r = cp.call("POST", "/apis", "creator", Some(api_with("Other", "/other", json!({}), json!({"request": [elsewhere]})))).await;
    assert_eq!((r.status, field_of(&r.json())), (400, "operations[0].operationPolicies.request[0].policyId"), "{}", r.body);
    let mut misnamed = doc.clone();
    misnamed["operations"][0]["operationPolicies"]["request"][0]["policyName"] = json!("addQueryParam");
    misnamed["operations"][0]["operationPolicies"]["request"][0]["parameters"] = json!({"paramKey": "a", "paramValue": "b"});
    let r = cp.call("PUT", &format!("/apis/{api_id}"), "creator", Some(misnamed)).await;
    assert_eq!((r.status, field_of(&r.json())), (400, "operations[0].operationPolicies.request[0].policyName"), "{}", r.body);

    let r = cp.call("DELETE", &format!("/apis/{api_id}/operation-policies/{own_id}"), "creator", None).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.json()["description"].as_str().is_some_and(|d| d.contains("Tenant 1.0.0")), "{}", r.body);
    doc["operations"][0]["operationPolicies"]["request"] = json!([]);
    let r = cp.call("PUT", &format!("/apis/{api_id}"), "creator", Some(doc)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = cp.call("DELETE", &format!("/apis/{api_id}/operation-policies/{own_id}"), "creator", None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = cp.call("GET", &format!("/apis/{api_id}/operation-policies/{own_id}"), "creator", None).await;
    assert_eq!(r.status, 404, "{}", r.body);

    // An API's policies go with it.
    let (status, _, v) = upload(cp, &format!("/apis/{api_id}/operation-policies"), "creator", &own(rewrite)).await;
    assert_eq!(status, 201, "{v}");
    let r = cp.call("DELETE", &format!("/apis/{api_id}"), "admin", None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(cp.db.operation_policies(Some(&api_id), false).await.expect("list").is_empty());
    // With the API gone, the common policy it attached can go too.
    let r = cp.call("DELETE", &format!("/operation-policies/{common_v2}"), "admin", None).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

async fn suite(db: Db) {
    let cp = start(db).await;
    let builtin = common_policies(&cp).await;
    let v2 = uploaded_common(&cp).await;
    attachments(&cp, &builtin, &v2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operation_policies_on_sqlite() {
    let dir = TempDir::new("apim-cp-op-policies");
    suite(connect(&sqlite(&dir)).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operation_policies_on_postgres() {
    let Some(tdb) = TestDb::create(Backend::Postgres).await else { return };
    suite(connect(&tdb.toml_fields()).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operation_policies_on_mariadb() {
    let Some(tdb) = TestDb::create(Backend::MySql).await else { return };
    suite(connect(&tdb.toml_fields()).await).await;
}
