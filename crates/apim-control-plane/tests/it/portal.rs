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
    // An environment made in the Admin API: its vhost's ports and context as given, checked as WSO2's document says.
    let bad = json!({"name": "Ctx", "vhosts": [{"host": "gw.example.com", "httpContext": "\u{84}"}]});
    let r = cp.admin("POST", "/environments", "admin", Some(bad)).await;
    assert_eq!((r.status, r.json()["error"][0]["message"].as_str()), (400, Some("vhosts[0].httpContext")), "{}", r.body);
    let r = cp
        .admin(
            "POST",
            "/environments",
            "admin",
            Some(json!({"name": "Ctx", "vhosts": [{"host": "gw.example.com", "httpContext": "/pets", "httpsPort": 9443}]})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let ctx_id = r.json()["id"].as_str().expect("id").to_string();
    let s = cp.call("GET", "/settings", "creator", None).await.json();
    let ctx = s["environment"].as_array().expect("environments").iter().find(|e| e["name"] == "Ctx").expect("Ctx").clone();
    assert_eq!((ctx["vhosts"][0]["httpsPort"].as_i64(), ctx["vhosts"][0]["httpContext"].as_str()), (Some(9443), Some("/pets")));
    assert!(ctx["endpointURIs"].as_array().expect("uris").iter().any(|u| u["endpointURI"] == "https://gw.example.com:9443/pets"), "{ctx}");
    assert_eq!(cp.admin("DELETE", &format!("/environments/{ctx_id}"), "admin", None).await.status, 200);
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

/// Self sign-up (WSO2 Identity Server's `POST /api/identity/user/v1.0/me`): a subscriber account that works at
/// once in the DevPortal and is refused by the Publisher; each mistake named; a taken name is a 409.
pub(crate) async fn self_sign_up(cp: &Cp) {
    let path = "/api/identity/user/v1.0/me";
    let user = format!("self{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    for (body, field) in [
        (json!({"user": {"username": "ab", "password": "good-pw"}}), "user.username"),
        (json!({"user": {"username": "has space", "password": "good-pw"}}), "user.username"),
        (json!({"user": {"username": user, "password": "abc"}}), "user.password"),
        (json!({"properties": []}), "user"),
    ] {
        let r = raw(cp, "POST", path, None, &body.to_string()).await;
        assert_eq!((r.status, r.json()["error"][0]["message"].as_str()), (400, Some(field)), "{body}: {}", r.body);
    }
    assert_eq!(raw(cp, "POST", path, None, "not json").await.status, 400);
    let body = json!({"user": {"username": user, "password": "self-pw-1", "claims": []}, "properties": []}).to_string();
    let r = raw(cp, "POST", path, None, &body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["roles"], json!(["Internal/subscriber"]));
    let r = raw(cp, "POST", path, None, &body).await;
    assert_eq!((r.status, r.json()["error"][0]["message"].as_str()), (409, Some("user.username")), "{}", r.body);
    let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:self-pw-1")));
    assert_eq!(raw(cp, "GET", "/api/am/devportal/v3/applications", Some(&basic), "").await.status, 200);
    let create = raw(cp, "POST", "/api/am/publisher/v4/apis", Some(&basic), &crate::pizza("SelfMade", "/selfmade").to_string()).await;
    assert_eq!(create.status, 403, "a subscriber creates no API: {}", create.body);
}

/// An API of the test's own, published unless `publish` is false.
pub(crate) async fn api(cp: &Cp, name: &str, extra: Value, publish: bool) -> String {
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
    let gamma = api(cp, "SearchGamma", json!({"tags": ["drinks"]}), false).await;

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
    // A changed API is found by what it says now, not by what it said.
    let mut changed = cp.call("GET", &format!("/apis/{gamma}"), "creator", None).await.json();
    changed["description"] = json!("Cold brew");
    let r = cp.call("PUT", &format!("/apis/{gamma}"), "creator", Some(changed.clone())).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(names(&cp.call("GET", &q("content:BREW"), "creator", None).await.json()), vec!["SearchGamma"]);
    changed["description"] = json!("Iced tea");
    assert_eq!(cp.call("PUT", &format!("/apis/{gamma}"), "creator", Some(changed)).await.status, 200);
    assert_eq!(names(&cp.call("GET", &q("content:brew"), "creator", None).await.json()), Vec::<&str>::new());
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
        ("/apis?query=doc:red", "query"),
        ("/apis?query=name:%22open", "query"),
        ("/apis?query=status:sleeping", "query"),
        ("/search?query=doc:red", "query"),
        ("/search?offset=-1", "offset"),
    ] {
        let r = cp.call("GET", path, "creator", None).await;
        assert_eq!((r.status, r.json()["error"][0]["message"].as_str()), (400, Some(field)), "{path}: {}", r.body);
    }
    assert!(
        cp.call("GET", "/apis?query=doc:red", "creator", None).await.json()["description"].as_str().is_some_and(|d| d.contains("doc:red"))
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
    for path in ["/apis?limit=-1", "/apis?offset=-1", "/apis?query=doc:red", "/search?limit=x", "/tags?limit=-1"] {
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

/// One part of a multipart form: (field, Some((file name, content type)) for a file, value).
type FormPart<'a> = (&'a str, Option<(&'a str, &'a str)>, &'a str);

/// A multipart/form-data request to the Publisher API.
async fn form(cp: &Cp, method: &str, path: &str, user: &str, parts: &[FormPart<'_>]) -> http::Response {
    let boundary = "apimportalboundary4f2";
    let mut body = String::new();
    for (name, file, value) in parts {
        body.push_str(&format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\""));
        match file {
            Some((file_name, content_type)) => {
                body.push_str(&format!("; filename=\"{file_name}\"\r\nContent-Type: {content_type}\r\n\r\n"))
            }
            None => body.push_str("\r\n\r\n"),
        }
        body.push_str(value);
        body.push_str("\r\n");
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    let ct = format!("multipart/form-data; boundary={boundary}");
    http::request(
        method,
        &format!("{}/api/am/publisher/v4{path}", cp.base),
        &[("authorization", &auth(user)), ("content-type", &ct)],
        &body,
    )
    .await
    .expect("request")
}

fn header<'a>(r: &'a http::Response, name: &str) -> &'a str {
    r.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

pub(crate) async fn documents_and_thumbnails(cp: &Cp) {
    let id = api(cp, "Docs", json!({"description": "An API with documents"}), true).await;
    let docs = format!("/apis/{id}/documents");
    let docs_path = docs.clone();
    let create = move |body: Value| {
        let path = docs_path.clone();
        async move { cp.call("POST", &path, "creator", Some(body)).await }
    };

    // Each kind of source, each visibility.
    let r = create(json!({"name": "Getting started", "type": "HOWTO", "sourceType": "INLINE", "inlineContent": "Hello, quickstart reader", "visibility": "API_LEVEL"})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let started = r.json()["documentId"].as_str().expect("id").to_string();
    assert_eq!(header(&r, "location"), format!("/api/am/publisher/v4{docs}/{started}"));
    assert_eq!((r.json()["createdBy"].as_str(), r.json()["visibility"].as_str()), (Some("creator"), Some("API_LEVEL")));
    let guide =
        create(json!({"name": "Guide", "type": "SAMPLES", "sourceType": "MARKDOWN", "summary": "How to"})).await.json()["documentId"]
            .as_str()
            .expect("guide")
            .to_string();
    let r = form(cp, "POST", &format!("{docs}/{guide}/content"), "creator", &[("inlineContent", None, "# Guide\nsteps")]).await;
    assert_eq!((r.status, r.json()["name"].as_str()), (200, Some("Guide")), "{}", r.body);
    let site = create(json!({"name": "Website", "type": "PUBLIC_FORUM", "sourceType": "URL", "sourceUrl": "https://example.com/forum"}))
        .await
        .json()["documentId"]
        .as_str()
        .expect("site")
        .to_string();
    let sheet =
        create(json!({"name": "Spec sheet", "type": "OTHER", "otherTypeName": "Sheet", "sourceType": "FILE", "visibility": "PRIVATE"}))
            .await;
    assert_eq!(sheet.status, 201, "{}", sheet.body);
    let sheet = sheet.json()["documentId"].as_str().expect("sheet").to_string();
    let r =
        form(cp, "POST", &format!("{docs}/{sheet}/content"), "creator", &[("file", Some(("sheet.txt", "text/plain")), "file body")]).await;
    assert_eq!((r.status, r.json()["fileName"].as_str()), (200, Some("sheet.txt")), "{}", r.body);
    let notes = create(json!({"name": "Internal notes", "type": "OTHER", "otherTypeName": "Notes", "sourceType": "INLINE", "inlineContent": "owners only", "visibility": "OWNER_ONLY"}))
        .await
        .json()["documentId"]
        .as_str()
        .expect("notes")
        .to_string();

    // Bad input: a 400 naming the field, 409 for a name taken.
    for (body, field) in [
        (json!({"type": "HOWTO", "sourceType": "INLINE"}), "name"),
        (json!({"name": "X", "sourceType": "INLINE"}), "type"),
        (json!({"name": "X", "type": "RECIPE", "sourceType": "INLINE"}), "type"),
        (json!({"name": "X", "type": "HOWTO", "sourceType": "PDF"}), "sourceType"),
        (json!({"name": "X", "type": "HOWTO", "sourceType": "URL"}), "sourceUrl"),
        (json!({"name": "X", "type": "HOWTO", "sourceType": "URL", "sourceUrl": "ftp://files.example.com/x"}), "sourceUrl"),
        (json!({"name": "X", "type": "HOWTO", "sourceType": "URL", "sourceUrl": "javascript:alert(1)"}), "sourceUrl"),
        (json!({"name": "X", "type": "OTHER", "sourceType": "INLINE"}), "otherTypeName"),
        (json!({"name": "X", "type": "HOWTO", "sourceType": "FILE", "inlineContent": "text"}), "inlineContent"),
        (json!({"name": "X", "type": "HOWTO", "sourceType": "INLINE", "visibility": "EVERYONE"}), "visibility"),
        (json!({"name": "X".repeat(256), "type": "HOWTO", "sourceType": "INLINE"}), "name"),
    ] {
        let r = create(body.clone()).await;
        assert_eq!((r.status, r.json()["error"][0]["message"].as_str()), (400, Some(field)), "{body}: {}", r.body);
    }
    assert_eq!(create(json!([1])).await.status, 400);
    assert_eq!(create(json!({"name": "Guide", "type": "HOWTO", "sourceType": "INLINE"})).await.status, 409);
    assert_eq!(
        cp.call("POST", "/apis/no-such-api/documents", "creator", Some(json!({"name": "X", "type": "HOWTO", "sourceType": "INLINE"})))
            .await
            .status,
        404
    );
    assert_eq!(cp.call("POST", &docs, "subscriber", Some(json!({"name": "X", "type": "HOWTO", "sourceType": "INLINE"}))).await.status, 403);

    // Lists, pages, the name check, updates.
    let all = cp.call("GET", &docs, "publisher", None).await.json();
    assert_eq!((all["count"].as_i64(), all["pagination"]["total"].as_i64()), (Some(5), Some(5)), "{all}");
    let page = cp.call("GET", &format!("{docs}?limit=2"), "creator", None).await.json();
    assert_eq!((page["count"].as_i64(), page["pagination"]["next"].as_str()), (Some(2), Some(format!("{docs}?limit=2&offset=2").as_str())));
    assert_eq!(cp.call("GET", &format!("{docs}?offset=-1"), "creator", None).await.status, 400);
    assert_eq!(cp.call("POST", &format!("{docs}/validate?name=Guide"), "creator", None).await.status, 200);
    assert_eq!(cp.call("POST", &format!("{docs}/validate?name=Nope"), "creator", None).await.status, 404);
    assert_eq!(cp.call("POST", &format!("{docs}/validate"), "creator", None).await.json()["error"][0]["message"], "name");
    let r = cp
        .call(
            "PUT",
            &format!("{docs}/{guide}"),
            "creator",
            Some(json!({"name": "Guide", "type": "SAMPLES", "sourceType": "MARKDOWN", "summary": "Updated"})),
        )
        .await;
    assert_eq!((r.status, r.json()["summary"].as_str()), (200, Some("Updated")), "{}", r.body);
    assert_eq!(
        cp.call(
            "PUT",
            &format!("{docs}/{guide}"),
            "creator",
            Some(json!({"name": "Website", "type": "SAMPLES", "sourceType": "MARKDOWN"}))
        )
        .await
        .status,
        409
    );
    assert_eq!(
        cp.call("PUT", &format!("{docs}/no-such-doc"), "creator", Some(json!({"name": "Y", "type": "HOWTO", "sourceType": "INLINE"})))
            .await
            .status,
        404
    );

    // Content: text, markdown, the file, a redirect for URLs; uploads of the wrong kind are refused.
    let r = cp.call("GET", &format!("{docs}/{guide}/content"), "creator", None).await;
    assert_eq!((r.status, r.body.as_str(), header(&r, "content-type")), (200, "# Guide\nsteps", "text/markdown; charset=utf-8"));
    let r = cp.call("GET", &format!("{docs}/{sheet}/content"), "creator", None).await;
    assert_eq!((r.status, r.body.as_str(), header(&r, "content-type")), (200, "file body", "text/plain"));
    assert!(header(&r, "content-disposition").contains("sheet.txt") && header(&r, "x-content-type-options") == "nosniff");
    let r = cp.call("GET", &format!("{docs}/{site}/content"), "creator", None).await;
    assert_eq!((r.status, header(&r, "location")), (303, "https://example.com/forum"));
    assert_eq!(form(cp, "POST", &format!("{docs}/{site}/content"), "creator", &[("inlineContent", None, "x")]).await.status, 400);
    let r = form(cp, "POST", &format!("{docs}/{sheet}/content"), "creator", &[("inlineContent", None, "x")]).await;
    assert_eq!((r.status, r.json()["error"][0]["message"].as_str()), (400, Some("file")));
    assert_eq!(cp.call("POST", &format!("{docs}/{sheet}/content"), "creator", Some(json!({}))).await.status, 400, "not multipart");

    // Content search reaches the Publisher's documents.
    assert!(names(&cp.call("GET", "/apis?query=quickstart", "creator", None).await.json()).contains(&"Docs"));
    // The Publisher's search lists the documents too, after the APIs, paged with them.
    let found = cp.call("GET", "/search?query=quickstart", "creator", None).await.json();
    assert_eq!(found["pagination"]["total"], 2, "{found}");
    let kinds: Vec<(&str, &str)> = found["list"]
        .as_array()
        .expect("list")
        .iter()
        .map(|h| (h["type"].as_str().unwrap_or(""), h["name"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(kinds, vec![("API", "Docs"), ("DOC", "Getting started")]);
    let doc_hit = &found["list"][1];
    assert_eq!(
        (doc_hit["apiName"].as_str(), doc_hit["apiUUID"].as_str(), doc_hit["docType"].as_str()),
        (Some("Docs"), Some(id.as_str()), Some("HOWTO"))
    );
    let second = cp.call("GET", "/search?query=quickstart&limit=1&offset=1", "creator", None).await.json();
    assert_eq!((second["count"].as_i64(), second["list"][0]["type"].as_str()), (Some(1), Some("DOC")));
    assert_eq!(
        cp.call("GET", "/search?query=quickstart%20name:docs", "creator", None).await.json()["pagination"]["total"],
        1,
        "documents only for content words"
    );

    // The DevPortal: API_LEVEL to whoever sees the API, PRIVATE to signed-in callers, OWNER_ONLY to nobody.
    let portal_docs = format!("/api/am/devportal/v3{docs}");
    let anon = raw(cp, "GET", &portal_docs, None, "").await.json();
    let mut seen = names(&anon);
    seen.sort();
    assert_eq!(seen, vec!["Getting started", "Guide", "Website"]);
    let signed_in = cp.portal("GET", &docs, "subscriber", None).await.json();
    assert_eq!(signed_in["pagination"]["total"], 4, "{signed_in}");
    assert_eq!(raw(cp, "GET", &format!("{portal_docs}/{sheet}"), None, "").await.status, 404);
    assert_eq!(cp.portal("GET", &format!("{docs}/{sheet}"), "subscriber", None).await.json()["name"], "Spec sheet");
    assert_eq!(cp.portal("GET", &format!("{docs}/{notes}"), "subscriber", None).await.status, 404);
    assert_eq!(cp.portal("GET", &format!("{docs}/{notes}/content"), "subscriber", None).await.status, 404);
    let r = raw(cp, "GET", &format!("{portal_docs}/{started}/content"), None, "").await;
    assert_eq!((r.status, r.body.as_str()), (200, "Hello, quickstart reader"));
    let draft = api(cp, "DraftDocs", json!({}), false).await;
    cp.call("POST", &format!("/apis/{draft}/documents"), "creator", Some(json!({"name": "D", "type": "HOWTO", "sourceType": "INLINE"})))
        .await;
    assert_eq!(raw(cp, "GET", &format!("/api/am/devportal/v3/apis/{draft}/documents"), None, "").await.status, 404, "unpublished API");

    // Thumbnails: images only, told by their bytes, at most 1 MiB.
    let thumb = format!("/apis/{id}/thumbnail");
    assert_eq!(cp.call("GET", &thumb, "creator", None).await.status, 404);
    let r = form(cp, "PUT", &thumb, "creator", &[("file", Some(("x.png", "image/png")), "not an image at all")]).await;
    assert_eq!((r.status, r.json()["error"][0]["message"].as_str()), (400, Some("file")), "{}", r.body);
    assert!(r.json()["description"].as_str().is_some_and(|d| d.contains("not an image")));
    let svg = r#"<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><rect width="8" height="8"/></svg>"#;
    let r = form(cp, "PUT", &thumb, "creator", &[("file", Some(("icon.svg", "image/svg+xml")), svg)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json(), json!({"relativePath": format!("apis/{id}/thumbnail"), "mediaType": "image/svg+xml"}));
    let r = cp.call("GET", &thumb, "creator", None).await;
    assert_eq!((r.status, r.body.as_str(), header(&r, "content-type")), (200, svg, "image/svg+xml"));
    assert!(header(&r, "content-security-policy").contains("sandbox"));
    let gif = "GIF89a\u{1}\u{0}\u{1}\u{0}\u{0}\u{0}\u{0};";
    let r = form(cp, "PUT", &thumb, "creator", &[("file", Some(("icon.gif", "application/octet-stream")), gif)]).await;
    assert_eq!((r.status, r.json()["mediaType"].as_str()), (200, Some("image/gif")), "{}", r.body);
    // One byte over the limit, read whole; and 50 MB, refused by its Content-Length before a byte of it is read.
    let over = format!("GIF89a{}", "x".repeat(1024 * 1024 + 1 - 6));
    let r = form(cp, "PUT", &thumb, "creator", &[("file", Some(("big.gif", "image/gif")), &over)]).await;
    assert_eq!(r.status, 413, "{}", r.body);
    assert!(r.json()["description"].as_str().is_some_and(|d| d.contains("1024 KiB")), "{}", r.body);
    let (status, body) = declared_only(cp, &format!("/api/am/publisher/v4{thumb}"), 50 * 1024 * 1024).await;
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("1024 KiB"), "{body}");
    assert_eq!(cp.call("GET", &thumb, "creator", None).await.body, gif, "the refused upload changed nothing");
    assert_eq!(form(cp, "PUT", &thumb, "subscriber", &[("file", Some(("icon.gif", "image/gif")), gif)]).await.status, 403);
    assert_eq!(
        form(cp, "PUT", "/apis/no-such-api/thumbnail", "creator", &[("file", Some(("icon.gif", "image/gif")), gif)]).await.status,
        404
    );
    let listed = cp.call("GET", "/apis?query=name:docs", "creator", None).await.json();
    let flags: Vec<(String, bool)> = listed["list"]
        .as_array()
        .expect("list")
        .iter()
        .map(|a| (a["name"].as_str().unwrap_or("").to_string(), a["hasThumbnail"].as_bool().unwrap_or(false)))
        .collect();
    assert!(flags.contains(&("Docs".into(), true)) && flags.contains(&("DraftDocs".into(), false)), "{flags:?}");
    let portal = raw(cp, "GET", "/api/am/devportal/v3/apis?query=name:docs", None, "").await.json();
    assert_eq!(portal["list"][0]["thumbnailUri"], format!("/apis/{id}/thumbnail"));
    let r = raw(cp, "GET", &format!("/api/am/devportal/v3{thumb}"), None, "").await;
    assert_eq!((r.status, r.body.as_str()), (200, gif));

    // The Publisher's content search reads the documents as they are now; the DevPortal's reads the APIs only.
    let found = |word: &'static str| async move {
        let r = cp.call("GET", &format!("/apis?query=content:{word}"), "creator", None).await.json();
        names(&r).into_iter().map(String::from).collect::<Vec<_>>()
    };
    assert_eq!(found("%22owners%20only%22").await, vec!["Docs"]);
    assert_eq!(names(&raw(cp, "GET", "/api/am/devportal/v3/apis?query=content:quickstart", None, "").await.json()), Vec::<&str>::new());
    assert_eq!(found("zebrafish").await, Vec::<String>::new());
    let r = form(cp, "POST", &format!("{docs}/{guide}/content"), "creator", &[("inlineContent", None, "# Guide\nZebrafish care")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(found("zebrafish").await, vec!["Docs"]);

    // Deleting a document, then the API with what is left.
    assert_eq!(cp.call("DELETE", &format!("{docs}/{notes}"), "creator", None).await.status, 200);
    assert_eq!(cp.call("DELETE", &format!("{docs}/{notes}"), "creator", None).await.status, 404);
    assert_eq!(found("%22owners%20only%22").await, Vec::<String>::new(), "a deleted document is not found");
    assert_eq!(cp.call("DELETE", &format!("/apis/{id}"), "admin", None).await.status, 200);
    assert_eq!(found("zebrafish").await, Vec::<String>::new(), "nor are a deleted API's documents");
    assert_eq!(cp.call("GET", &format!("{docs}/{guide}"), "creator", None).await.status, 404);
    assert_eq!(cp.call("GET", &thumb, "creator", None).await.status, 404);
}

/// Sends only the head of a PUT declaring `length` bytes of multipart body (and a few of them), and reads the answer:
/// what a server that refuses by the declared size says before the body arrives.
async fn declared_only(cp: &Cp, path: &str, length: usize) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = cp.base.trim_start_matches("http://").to_string();
    let mut s = tokio::net::TcpStream::connect(&addr).await.expect("connect");
    let head = format!(
        "PUT {path} HTTP/1.1\r\nhost: {addr}\r\nauthorization: {}\r\ncontent-type: multipart/form-data; boundary=b\r\ncontent-length: {length}\r\n\r\n--b\r\n",
        auth("creator")
    );
    s.write_all(head.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let read = async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
            let text = String::from_utf8_lossy(&answer);
            if let Some((h, b)) = text.split_once("\r\n\r\n") {
                let len = h
                    .lines()
                    .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap_or(0)));
                if len.is_some_and(|n| b.len() >= n) {
                    break;
                }
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), read).await.expect("answered before the body was sent");
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, text)
}

pub(crate) async fn application_list(cp: &Cp) {
    let api_id = api(cp, "AppListApi", json!({}), true).await;
    let mut ids = Vec::new();
    for (name, policy) in [("ListB", "10PerMin"), ("ListA", "Unlimited"), ("ListC", "20PerMin")] {
        let r = cp.portal("POST", "/applications", "subscriber", Some(json!({"name": name, "throttlingPolicy": policy}))).await;
        assert_eq!(r.status, 201, "{}", r.body);
        ids.push(r.json()["applicationId"].as_str().expect("id").to_string());
    }
    cp.portal("POST", "/applications", "other", Some(json!({"name": "ListOther"}))).await;
    let r = cp
        .portal("POST", "/subscriptions", "subscriber", Some(json!({"apiId": api_id, "applicationId": ids[1], "throttlingPolicy": "Gold"})))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);

    // The caller's own, paged and sorted, as ApplicationInfo with subscription counts.
    let first = cp.portal("GET", "/applications?query=list&limit=2", "subscriber", None).await.json();
    assert_eq!(names(&first), vec!["ListA", "ListB"]);
    assert_eq!(
        first["pagination"],
        json!({"offset": 0, "limit": 2, "total": 3, "next": "/applications?limit=2&offset=2&query=list", "previous": ""})
    );
    let a = &first["list"][0];
    assert_eq!(
        (a["subscriptionCount"].as_i64(), a["throttlingPolicy"].as_str(), a["status"].as_str()),
        (Some(1), Some("Unlimited"), Some("APPROVED"))
    );
    assert!(a.get("keys").is_none(), "ApplicationInfo, not the whole application: {a}");
    let rest = cp.portal("GET", "/applications?query=LIST&limit=2&offset=2", "subscriber", None).await.json();
    assert_eq!(names(&rest), vec!["ListC"]);
    let by_policy = cp.portal("GET", "/applications?query=list&sortBy=throttlingPolicy&sortOrder=desc", "subscriber", None).await.json();
    assert_eq!(names(&by_policy), vec!["ListA", "ListC", "ListB"]);
    assert_eq!(names(&cp.portal("GET", "/applications?query=listother", "subscriber", None).await.json()), Vec::<&str>::new());
    // Subscriptions: paged in SQL with their APIs; by API, only the caller's own.
    let r = cp
        .portal("POST", "/subscriptions", "subscriber", Some(json!({"apiId": api_id, "applicationId": ids[0], "throttlingPolicy": "Gold"})))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let by_api = cp.portal("GET", &format!("/subscriptions?apiId={api_id}&limit=1"), "subscriber", None).await.json();
    assert_eq!((by_api["count"].as_i64(), by_api["pagination"]["total"].as_i64()), (Some(1), Some(2)), "{by_api}");
    assert_eq!(by_api["pagination"]["next"], format!("/subscriptions?limit=1&offset=1&apiId={api_id}"));
    assert_eq!(by_api["list"][0]["apiInfo"]["name"], "AppListApi");
    assert_eq!(cp.portal("GET", &format!("/subscriptions?apiId={api_id}"), "other", None).await.json()["count"], 0);
    let by_app = cp.portal("GET", &format!("/subscriptions?applicationId={}", ids[1]), "subscriber", None).await.json();
    assert_eq!((by_app["count"].as_i64(), by_app["list"][0]["applicationId"].as_str()), (Some(1), Some(ids[1].as_str())));
    let r = cp.portal("GET", &format!("/subscriptions?applicationId={}&offset=-1", ids[1]), "subscriber", None).await;
    assert_eq!((r.status, r.json()["error"][0]["message"].as_str()), (400, Some("offset")));
    // The Publisher's view of an API's subscriptions, and the Admin API's of every application: paged the same way.
    let r = cp.call("GET", &format!("/subscriptions?apiId={api_id}&limit=1&offset=1"), "publisher", None).await.json();
    assert_eq!((r["count"].as_i64(), r["pagination"]["total"].as_i64()), (Some(1), Some(2)), "{r}");
    assert_eq!(r["list"][0]["applicationInfo"]["subscriber"], "subscriber");
    assert_eq!(cp.call("GET", &format!("/subscriptions?apiId={api_id}&limit=-2"), "publisher", None).await.status, 400);
    let r = cp.admin("GET", "/applications?user=subscriber&name=list&limit=2&sortOrder=desc", "admin", None).await.json();
    assert_eq!((names(&r), r["pagination"]["total"].as_i64()), (vec!["ListC", "ListB"], Some(3)), "{r}");
    assert_eq!(r["pagination"]["next"], "/applications?limit=2&offset=2&user=subscriber&name=list");
    for path in ["/applications?limit=-1", "/applications?sortBy=colour", "/applications?offset=abc"] {
        assert_eq!(cp.admin("GET", path, "admin", None).await.status, 400, "{path}");
    }

    // Small lists read whole are paged the same way.
    let tiers = cp.call("GET", "/throttling-policies/subscription?limit=2&offset=1", "creator", None).await.json();
    assert_eq!((tiers["count"].as_i64(), tiers["pagination"]["offset"].as_i64()), (Some(2), Some(1)), "{tiers}");
    assert!(tiers["pagination"]["total"].as_i64().is_some_and(|t| t >= 5));
    let tiers = cp.portal("GET", "/throttling-policies/application?limit=1", "subscriber", None).await.json();
    assert_eq!(
        (tiers["count"].as_i64(), tiers["pagination"]["next"].as_str()),
        (Some(1), Some("/throttling-policies/application?limit=1&offset=1"))
    );
    let scopes = cp.call("GET", "/scopes?limit=1", "creator", None).await.json();
    assert!(scopes["pagination"]["next"].is_string(), "{scopes}");
    for path in ["/throttling-policies/subscription?limit=-1", "/scopes?offset=-1"] {
        assert_eq!(cp.call("GET", path, "creator", None).await.status, 400, "{path}");
    }
    assert_eq!(cp.portal("GET", "/throttling-policies/subscription?offset=-3", "subscriber", None).await.status, 400);
    for (path, field) in [
        ("/applications?limit=-1", "limit"),
        ("/applications?offset=x", "offset"),
        ("/applications?sortBy=colour", "sortBy"),
        ("/applications?sortOrder=up", "sortOrder"),
    ] {
        let r = cp.portal("GET", path, "subscriber", None).await;
        assert_eq!((r.status, r.json()["error"][0]["message"].as_str()), (400, Some(field)), "{path}: {}", r.body);
    }
}
