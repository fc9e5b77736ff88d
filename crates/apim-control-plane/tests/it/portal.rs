//! What the portals need around the core flow, through real sockets: settings (anonymous and signed in), role
//! checks and the password change.

use apim_test_support::http;
use base64::Engine;
use serde_json::{Value, json};

use crate::{Cp, auth};

fn role_id(name: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(name)
}

/// A call with no credentials, or with the `Authorization` value given.
async fn raw(cp: &Cp, method: &str, path: &str, authorization: Option<&str>, body: &str) -> http::Response {
    let mut headers = vec![("content-type", "application/json")];
    if let Some(a) = authorization {
        headers.push(("authorization", a));
    }
    http::request(method, &format!("{}{path}", cp.base), &headers, body).await.expect("request")
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default()
}

pub(crate) async fn settings_and_identity(cp: &Cp) {
    // Publisher: scopes for the login page to anyone; environments only to publishers and creators.
    let anon = raw(cp, "GET", "/api/am/publisher/v4/settings", None, "").await;
    assert_eq!(anon.status, 200, "{}", anon.body);
    let s = anon.json();
    assert!(strings(&s["scopes"]).contains(&"apim:api_create"), "{s}");
    assert!(strings(&s["scopes"]).contains(&"apim:publisher_settings"), "{s}");
    assert_eq!(s["gatewayTypes"], json!(["Regular"]));
    assert!(s.get("environment").is_none(), "anonymous callers see no environments: {s}");
    let bad = raw(cp, "GET", "/api/am/publisher/v4/settings", Some("Basic bm9ib2R5Om5vcGU="), "").await;
    assert_eq!(bad.status, 401, "wrong credentials are refused, not taken as anonymous");
    let s = cp.call("GET", "/settings", "creator", None).await.json();
    let envs = s["environment"].as_array().expect("environments");
    assert_eq!(envs.len(), 2, "{s}");
    assert_eq!((envs[0]["name"].as_str(), envs[0]["showInApiConsole"].as_bool()), (Some("Default"), Some(true)));
    assert_eq!(
        envs[0]["vhosts"][0],
        json!({"host": "localhost", "httpContext": "", "httpPort": 8280, "httpsPort": 8243, "wsPort": 9099,
        "wsHost": "localhost", "wssPort": 8099, "wssHost": "localhost"})
    );
    assert_eq!(
        (envs[1]["serverUrl"].as_str(), envs[1]["showInApiConsole"].as_bool()),
        (Some("https://edge.local:9443/services/"), Some(false))
    );
    let uris: Vec<&str> = envs[1]["endpointURIs"].as_array().expect("uris").iter().filter_map(|u| u["endpointURI"].as_str()).collect();
    assert!(uris.contains(&"https://edge.local:443/edge") && uris.contains(&"http://edge.local:8280/edge"), "{uris:?}");
    assert_eq!(s["defaultSubscriptionPolicy"], "Unlimited");
    // A subscriber is told only what anyone is.
    assert!(cp.call("GET", "/settings", "subscriber", None).await.json().get("environment").is_none());

    // DevPortal: the whole document to anyone.
    let s = raw(cp, "GET", "/api/am/devportal/v3/settings", None, "").await.json();
    assert!(strings(&s["grantTypes"]).contains(&"client_credentials"), "{s}");
    assert!(strings(&s["scopes"]).contains(&"apim:subscribe"), "{s}");
    assert_eq!((s["IsAnonymousModeEnabled"].as_bool(), s["applicationSharingEnabled"].as_bool()), (Some(true), Some(false)));
    assert_eq!(s["apiGatewayEndpoint"], "http://localhost:8280,https://localhost:8243");
    let attrs = cp.portal("GET", "/settings/application-attributes", "subscriber", None).await;
    assert_eq!((attrs.status, attrs.json()), (200, json!({"count": 0, "list": []})));
    assert_eq!(raw(cp, "GET", "/api/am/devportal/v3/settings/application-attributes", None, "").await.status, 401);

    // Admin: scopes to anyone, connector definitions to admins.
    let s = raw(cp, "GET", "/api/am/admin/v4/settings", None, "").await.json();
    assert!(strings(&s["scopes"]).contains(&"apim:admin"), "{s}");
    assert!(s.get("keyManagerConfiguration").is_none(), "{s}");
    let s = cp.admin("GET", "/settings", "admin", None).await.json();
    assert_eq!((s["keyManagerConfiguration"][0]["type"].as_str(), s["analyticsEnabled"].as_bool()), (Some("default"), Some(false)));

    // Roles: the role exists; the caller holds it.
    let publisher_role = role_id("Internal/publisher");
    assert_eq!(cp.call("HEAD", &format!("/roles/{publisher_role}"), "creator", None).await.status, 200);
    // WSO2's own example: padding and a trailing tab in the encoded name.
    assert_eq!(cp.call("HEAD", "/roles/SW50ZXJuYWwvcHVibGlzaGVyCQ", "creator", None).await.status, 200);
    assert_eq!(cp.call("HEAD", &format!("/roles/{}", role_id("Internal/nobody")), "creator", None).await.status, 404);
    assert_eq!(cp.call("HEAD", "/roles/not*base64", "creator", None).await.status, 400);
    assert_eq!(cp.call("HEAD", &format!("/roles/{publisher_role}"), "subscriber", None).await.status, 403);
    assert_eq!(cp.call("HEAD", &format!("/me/roles/{}", role_id("Internal/creator")), "creator", None).await.status, 200);
    assert_eq!(cp.call("HEAD", &format!("/me/roles/{publisher_role}"), "creator", None).await.status, 404);
    assert_eq!(cp.admin("HEAD", &format!("/roles/{}", role_id("admin")), "admin", None).await.status, 200);
    assert_eq!(cp.admin("HEAD", &format!("/roles/{}", role_id("admin")), "creator", None).await.status, 403);

    // Password change: each mistake named, then the new password works at once and the old one does not.
    for (body, field) in [
        (json!({"newPassword": "fresh-pw-1"}), "currentPassword"),
        (json!({"currentPassword": "other-pw"}), "newPassword"),
        (json!({"currentPassword": "other-pw", "newPassword": "abc"}), "newPassword"),
        (json!({"currentPassword": "other-pw", "newPassword": "has space"}), "newPassword"),
        (json!({"currentPassword": "wrong", "newPassword": "fresh-pw-1"}), "currentPassword"),
    ] {
        let r = cp.portal("POST", "/me/change-password", "other", Some(body.clone())).await;
        assert_eq!((r.status, r.json()["error"][0]["message"].as_str()), (400, Some(field)), "{body}: {}", r.body);
    }
    assert_eq!(cp.portal("POST", "/me/change-password", "other", Some(json!([1]))).await.status, 400);
    let r =
        cp.portal("POST", "/me/change-password", "other", Some(json!({"currentPassword": "other-pw", "newPassword": "fresh-pw-1"}))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(cp.portal("GET", "/applications", "other", None).await.status, 401, "the old password stops working at once");
    let fresh = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("other:fresh-pw-1"));
    let back = raw(
        cp,
        "POST",
        "/api/am/devportal/v3/me/change-password",
        Some(&fresh),
        r#"{"currentPassword":"fresh-pw-1","newPassword":"other-pw"}"#,
    )
    .await;
    assert_eq!(back.status, 200, "{}", back.body);
    assert_eq!(raw(cp, "GET", "/api/am/devportal/v3/applications", Some(&auth("other")), "").await.status, 200);
}

/// An API of the test's own, published unless `publish` is false.
async fn api(cp: &Cp, name: &str, extra: Value, publish: bool) -> String {
    let mut body = crate::pizza(name, &format!("/{}", name.to_lowercase()));
    for (k, v) in extra.as_object().expect("object") {
        body[k] = v.clone();
    }
    let r = cp.call("POST", "/apis", "admin", Some(body)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.json()["id"].as_str().expect("id").to_string();
    if publish {
        let rev = cp.call("POST", &format!("/apis/{id}/revisions"), "admin", Some(json!({}))).await.json();
        let rid = rev["id"].as_str().expect("revision");
        cp.call("POST", &format!("/apis/{id}/deploy-revision?revisionId={rid}"), "admin", Some(json!([{"name": "Default"}]))).await;
        assert_eq!(cp.call("POST", &format!("/apis/change-lifecycle?action=Publish&apiId={id}"), "admin", None).await.status, 200);
    }
    id
}

fn names(v: &Value) -> Vec<&str> {
    v["list"].as_array().map(|l| l.iter().filter_map(|a| a["name"].as_str()).collect()).unwrap_or_default()
}

pub(crate) async fn search_and_lists(cp: &Cp) {
    let r = cp.admin("POST", "/api-categories", "admin", Some(json!({"name": "Retail", "description": "Shops"}))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    api(cp, "SearchAlpha", json!({"tags": ["food", "Retail"], "categories": ["Retail"], "description": "Hot pizza ovens"}), true).await;
    api(cp, "SearchBeta", json!({"tags": ["Food"], "visibility": "RESTRICTED", "visibleRoles": ["Internal/creator"]}), true).await;
    api(cp, "SearchGamma", json!({"tags": ["drinks"]}), false).await;

    // The Publisher sees every API; terms are ANDed, values matched without regard to case.
    let q = |query: &str| format!("/apis?query={query}&sortBy=apiName&sortOrder=asc");
    for (query, expected) in [
        ("tag:food", vec!["SearchAlpha", "SearchBeta"]),
        ("tag:FOOD%20context:beta", vec!["SearchBeta"]),
        ("api-category:retail", vec!["SearchAlpha"]),
        ("%22hot%20pizza%22", vec!["SearchAlpha"]),
        ("content:OVENS", vec!["SearchAlpha"]),
        ("status:published%20name:search", vec!["SearchAlpha", "SearchBeta"]),
        ("status:created%20status:PUBLISHED%20name:search", vec!["SearchAlpha", "SearchBeta", "SearchGamma"]),
        ("name:search%20version:1.0.0%20provider:ADMIN%20type:http", vec!["SearchAlpha", "SearchBeta", "SearchGamma"]),
        ("name:%22search%20%22", vec![]),
        ("type:WS%20name:search", vec![]),
        // Pattern characters are searched for, not obeyed.
        ("name:%25", vec![]),
        ("name:search_", vec![]),
    ] {
        let r = cp.call("GET", &q(query), "creator", None).await;
        assert_eq!(r.status, 200, "{query}: {}", r.body);
        assert_eq!(names(&r.json()), expected, "{query}");
        assert_eq!(r.json()["pagination"]["total"], expected.len(), "{query}");
    }
    let first = cp.call("GET", "/apis?query=name:search&limit=2&sortBy=apiName&sortOrder=asc", "creator", None).await.json();
    assert_eq!(names(&first), vec!["SearchAlpha", "SearchBeta"]);
    assert_eq!(
        first["pagination"],
        json!({"offset": 0, "limit": 2, "total": 3, "next": "/apis?limit=2&offset=2&query=name%3Asearch", "previous": ""})
    );
    assert_eq!(first["list"][0]["tags"], Value::Null, "lists answer APIInfo, not the whole API");
    assert_eq!(first["list"][0]["lifeCycleStatus"], "PUBLISHED");
    let last = cp.call("GET", "/apis?query=name:search&limit=2&offset=2&sortBy=apiName&sortOrder=asc", "creator", None).await.json();
    assert_eq!(
        (names(&last), last["pagination"]["previous"].as_str()),
        (vec!["SearchGamma"], Some("/apis?limit=2&offset=0&query=name%3Asearch"))
    );
    let newest = cp.call("GET", "/apis?query=name:search", "creator", None).await.json();
    assert_eq!(newest["count"], 3, "the default sort is the newest first: {newest}");

    // Bad input: a 400 naming the parameter (and the term).
    for (path, field) in [
        ("/apis?limit=-1", "limit"),
        ("/apis?offset=-5", "offset"),
        ("/apis?limit=abc", "limit"),
        ("/apis?limit=10001", "limit"),
        ("/apis?sortBy=colour", "sortBy"),
        ("/apis?sortOrder=sideways", "sortOrder"),
        ("/apis?query=colour:red", "query"),
        ("/apis?query=name:%22open", "query"),
        ("/apis?query=status:sleeping", "query"),
        ("/search?query=colour:red", "query"),
        ("/search?offset=-1", "offset"),
    ] {
        let r = cp.call("GET", path, "creator", None).await;
        assert_eq!((r.status, r.json()["error"][0]["message"].as_str()), (400, Some(field)), "{path}: {}", r.body);
    }
    assert!(
        cp.call("GET", "/apis?query=colour:red", "creator", None).await.json()["description"]
            .as_str()
            .is_some_and(|d| d.contains("colour:red"))
    );
    assert_eq!(cp.call("GET", "/search?query=tag:food", "subscriber", None).await.status, 403);

    // Publisher search: WSO2's APISearchResult.
    let r = cp.call("GET", "/search?query=name:searchalpha", "creator", None).await.json();
    assert_eq!(r["count"], 1);
    let hit = &r["list"][0];
    assert_eq!(
        (hit["type"].as_str(), hit["transportType"].as_str(), hit["status"].as_str()),
        (Some("API"), Some("HTTP"), Some("PUBLISHED"))
    );
    assert_eq!(hit["contextTemplate"], "/searchalpha/{version}");

    // The DevPortal: published and prototyped APIs the caller may see, paged in SQL.
    let anon = raw(cp, "GET", "/api/am/devportal/v3/apis?query=tag:food", None, "").await.json();
    assert_eq!((names(&anon), anon["pagination"]["total"].as_i64()), (vec!["SearchAlpha"], Some(1)));
    let info = &anon["list"][0];
    assert_eq!((info["throttlingPolicies"].clone(), info["isSubscriptionAvailable"].as_bool()), (json!(["Gold", "Unlimited"]), Some(true)));
    assert!(info.get("operations").is_none(), "APIInfo, not the whole API: {info}");
    assert_eq!(names(&cp.portal("GET", "/apis?query=tag:food", "subscriber", None).await.json()), vec!["SearchAlpha"]);
    let mut seen =
        names(&cp.portal("GET", "/apis?query=tag:food", "creator", None).await.json()).into_iter().map(String::from).collect::<Vec<_>>();
    seen.sort();
    assert_eq!(seen, vec!["SearchAlpha", "SearchBeta"], "RESTRICTED to a role the caller holds");
    assert_eq!(names(&cp.portal("GET", "/apis?query=name:searchgamma", "admin", None).await.json()), Vec::<&str>::new(), "not published");
    let page = raw(cp, "GET", "/api/am/devportal/v3/apis?limit=1", None, "").await.json();
    assert_eq!(page["count"], 1);
    assert!(page["pagination"]["total"].as_i64().is_some_and(|t| t >= 2), "{page}");
    for path in ["/apis?limit=-1", "/apis?offset=-1", "/apis?query=colour:red", "/search?limit=x", "/tags?limit=-1"] {
        let r = raw(cp, "GET", &format!("/api/am/devportal/v3{path}"), None, "").await;
        assert_eq!(r.status, 400, "{path}: {}", r.body);
    }
    let s = raw(cp, "GET", "/api/am/devportal/v3/search?query=ovens", None, "").await.json();
    assert_eq!((names(&s), s["list"][0]["type"].as_str()), (vec!["SearchAlpha"], Some("API")));
    assert_eq!(raw(cp, "GET", "/api/am/devportal/v3/search?query=name:searchbeta", None, "").await.json()["count"], 0);

    // Tags: of what the caller may see, each counted once per API whatever its spelling.
    let tags = raw(cp, "GET", "/api/am/devportal/v3/tags", None, "").await.json();
    let list = tags["list"].as_array().expect("tags");
    assert!(list.contains(&json!({"value": "food", "count": 1})) && list.contains(&json!({"value": "Retail", "count": 1})), "{tags}");
    assert!(!list.iter().any(|t| t["value"] == "drinks"), "unpublished APIs' tags are not listed: {tags}");
    let tags = cp.portal("GET", "/tags", "creator", None).await.json();
    assert!(
        tags["list"]
            .as_array()
            .expect("tags")
            .iter()
            .any(|t| t["value"].as_str().is_some_and(|v| v.eq_ignore_ascii_case("food")) && t["count"] == 2),
        "{tags}"
    );
    let one = raw(cp, "GET", "/api/am/devportal/v3/tags?limit=1&offset=1", None, "").await.json();
    assert_eq!((one["count"].as_i64(), one["pagination"]["offset"].as_i64()), (Some(1), Some(1)));
}

pub(crate) async fn categories(cp: &Cp) {
    // Made by admins; APIs name them; a category in use stays.
    let list = cp.admin("GET", "/api-categories", "admin", None).await.json();
    let retail = list["list"].as_array().expect("list").iter().find(|c| c["name"] == "Retail").expect("Retail").clone();
    assert_eq!((retail["numberOfAPIs"].as_i64(), retail["description"].as_str()), (Some(1), Some("Shops")));
    let retail_id = retail["id"].as_str().expect("id").to_string();
    assert_eq!(cp.admin("POST", "/api-categories", "admin", Some(json!({"name": "retail"}))).await.status, 409);
    for (body, field) in [
        (json!({}), "name"),
        (json!({"name": ""}), "name"),
        (json!({"name": "x".repeat(256)}), "name"),
        (json!({"name": 7}), "name"),
        (json!({"name": "Ok", "description": 5}), "description"),
        (json!({"name": "Ok", "description": "d".repeat(1025)}), "description"),
    ] {
        let r = cp.admin("POST", "/api-categories", "admin", Some(body.clone())).await;
        assert_eq!((r.status, r.json()["error"][0]["message"].as_str()), (400, Some(field)), "{body}");
    }
    assert_eq!(cp.admin("POST", "/api-categories", "admin", Some(json!([1]))).await.status, 400);
    assert_eq!(cp.admin("POST", "/api-categories", "creator", Some(json!({"name": "Nope"}))).await.status, 403);
    let r = cp.admin("POST", "/api-categories", "admin", Some(json!({"name": "Finance"}))).await;
    assert_eq!((r.status, r.json()["numberOfAPIs"].as_i64()), (201, Some(0)), "{}", r.body);
    let finance_id = r.json()["id"].as_str().expect("id").to_string();
    assert_eq!(
        r.headers.get("location").and_then(|v| v.to_str().ok()),
        Some(format!("/api/am/admin/v4/api-categories/{finance_id}").as_str())
    );

    // Both portals list them (the DevPortal to anyone).
    let names = |v: Value| -> Vec<String> {
        v["list"].as_array().map(|l| l.iter().filter_map(|c| c["name"].as_str().map(String::from)).collect()).unwrap_or_default()
    };
    assert!(names(cp.call("GET", "/api-categories", "creator", None).await.json()).contains(&"Finance".to_string()));
    let anon = raw(cp, "GET", "/api/am/devportal/v3/api-categories", None, "").await;
    assert_eq!(anon.status, 200);
    assert!(names(anon.json()).contains(&"Retail".to_string()));

    // An API may name only categories that exist (without regard to case), and is found by them.
    let mut body = crate::pizza("Ledger", "/ledger");
    body["categories"] = json!(["Nope"]);
    let r = cp.call("POST", "/apis", "creator", Some(body.clone())).await;
    assert_eq!((r.status, r.json()["error"][0]["message"].as_str()), (400, Some("categories")), "{}", r.body);
    body["categories"] = json!("Finance");
    assert_eq!(cp.call("POST", "/apis", "creator", Some(body.clone())).await.status, 400);
    body["categories"] = json!(["finance"]);
    let r = cp.call("POST", "/apis", "creator", Some(body.clone())).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let ledger = r.json()["id"].as_str().expect("id").to_string();
    let found = cp.call("GET", "/apis?query=api-category:Finance", "creator", None).await.json();
    assert_eq!(found["list"][0]["name"], "Ledger");
    body["categories"] = json!(["Finance", "Gone"]);
    assert_eq!(cp.call("PUT", &format!("/apis/{ledger}"), "creator", Some(body)).await.status, 400);

    // In use: neither deleted nor renamed; its description may change.
    let r = cp.admin("DELETE", &format!("/api-categories/{finance_id}"), "admin", None).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.json()["description"].as_str().is_some_and(|d| d.contains("Finance") && d.contains("1 API")), "{}", r.body);
    assert_eq!(cp.admin("PUT", &format!("/api-categories/{retail_id}"), "admin", Some(json!({"name": "Shops"}))).await.status, 409);
    let r =
        cp.admin("PUT", &format!("/api-categories/{retail_id}"), "admin", Some(json!({"name": "Retail", "description": "Stores"}))).await;
    assert_eq!((r.status, r.json()["description"].as_str()), (200, Some("Stores")), "{}", r.body);
    assert_eq!(cp.admin("PUT", &format!("/api-categories/{retail_id}"), "admin", Some(json!({"name": "finance"}))).await.status, 409);
    assert_eq!(cp.admin("PUT", "/api-categories/no-such-id", "admin", Some(json!({"name": "X"}))).await.status, 404);
    cp.call("DELETE", &format!("/apis/{ledger}"), "admin", None).await;
    assert_eq!(cp.admin("DELETE", &format!("/api-categories/{finance_id}"), "admin", None).await.status, 200);
    assert_eq!(cp.admin("DELETE", &format!("/api-categories/{finance_id}"), "admin", None).await.status, 404);
}
