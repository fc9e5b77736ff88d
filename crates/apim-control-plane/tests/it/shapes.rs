//! Answers in WSO2's shapes, through real sockets on SQLite, PostgreSQL and MariaDB: a DevPortal API's gateway
//! URLs per environment it is deployed to (a custom vhost and context included) and its definition's `servers`,
//! throttling policies of every limit type with their real billing plans, an API's plans and resource paths, a
//! shared scope's users, and the subscriber count of a subscription policy as subscriptions come and go.

use apim_store::Db;
use apim_test_support::db::{Backend, TestDb};
use apim_test_support::{TempDir, http};
use serde_json::{Value, json};

use crate::{Cp, connect, sqlite, start};

/// A DevPortal request without credentials.
async fn anonymous(cp: &Cp, path: &str) -> http::Response {
    http::request("GET", &format!("{}/api/am/devportal/v3{path}", cp.base), &[], "").await.expect("request")
}

fn urls(v: &Value) -> Vec<String> {
    v.as_array().expect("list").iter().filter_map(|s| s["url"].as_str().map(str::to_string)).collect()
}

fn by_name<'a>(list: &'a Value, key: &str, name: &str) -> &'a Value {
    list.as_array().expect("list").iter().find(|x| x[key] == name).unwrap_or_else(|| panic!("no {key} {name} in {list}"))
}

async fn suite(db: Db) {
    let cp = start(db).await;

    // An environment of its own vhost, ports and context, and another the API will not be deployed to.
    let env = json!({"name": "Shapes", "displayName": "Shapes", "type": "production",
        "vhosts": [{"host": "api.shapes.test", "httpContext": "/gw", "httpPort": 8080, "httpsPort": 8443, "wsPort": 9099, "wssPort": 8099}]});
    assert_eq!(cp.admin("POST", "/environments", "admin", Some(env)).await.status, 201);
    for (name, host) in [("Idle", "idle.shapes.test"), ("Hidden", "hidden.shapes.test")] {
        let env = json!({"name": name, "vhosts": [{"host": host}]});
        assert_eq!(cp.admin("POST", "/environments", "admin", Some(env)).await.status, 201);
    }

    // A commercial plan (a client's subscriberCount is not taken as truth) and a bandwidth one.
    let premium = json!({"policyName": "Premium", "billingPlan": "COMMERCIAL", "subscriberCount": 99, "rateLimitCount": 5, "rateLimitTimeUnit": "sec",
        "defaultLimit": {"type": "REQUESTCOUNTLIMIT", "requestCount": {"timeUnit": "min", "unitTime": 1, "requestCount": 100}},
        "monetization": {"monetizationPlan": "FIXEDRATE", "properties": {"fixedPrice": "10", "currencyType": "USD", "billingCycle": "month"}},
        "customAttributes": [{"name": "tier", "value": "top"}]});
    let r = cp.admin("POST", "/throttling/policies/subscription", "admin", Some(premium)).await;
    assert_eq!((r.status, &r.json()["subscriberCount"]), (201, &json!(0)), "{}", r.body);
    let premium_id = r.json()["policyId"].as_str().expect("policy id").to_string();
    let bulk = json!({"policyName": "Bulk", "description": "50 MB a minute",
        "defaultLimit": {"type": "BANDWIDTHLIMIT", "bandwidth": {"timeUnit": "min", "unitTime": 1, "dataAmount": 50, "dataUnit": "MB"}}});
    assert_eq!(cp.admin("POST", "/throttling/policies/subscription", "admin", Some(bulk)).await.status, 201);

    // A shared scope one operation needs.
    let r = cp
        .call("POST", "/scopes", "admin", Some(json!({"name": "shapes:read", "displayName": "Read shapes", "bindings": ["admin"]})))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let scope_id = r.json()["id"].as_str().expect("scope id").to_string();

    // The API: default version, three operations, one display property of two, deployed to three environments
    // (Edge on a vhost of the deployment's own), then published.
    let body = json!({"name": "Shapes", "context": "/shapes", "version": "1.0.0", "isDefaultVersion": true, "transport": ["http", "https"],
        "policies": ["Premium", "Bulk", "Unlimited"],
        "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": "http://backend.test:8080/shapes"}},
        "additionalProperties": [{"name": "team", "value": "core", "display": true}, {"name": "cost-centre", "value": "42", "display": false}],
        "businessInformation": {"businessOwner": "Ann", "businessOwnerEmail": "ann@shapes.test"},
        "operations": [{"target": "/menu", "verb": "GET", "scopes": ["shapes:read"]}, {"target": "/order", "verb": "POST"}, {"target": "/order/{id}", "verb": "DELETE"}]});
    let r = cp.call("POST", "/apis", "admin", Some(body)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let api = r.json()["id"].as_str().expect("id").to_string();
    let rev = cp.call("POST", &format!("/apis/{api}/revisions"), "admin", Some(json!({}))).await.json();
    let rid = rev["id"].as_str().expect("revision");
    let targets = json!([{"name": "Default"}, {"name": "Shapes"}, {"name": "Edge", "vhost": "alt.edge.local"},
        {"name": "Hidden", "displayOnDevportal": false}]);
    let r = cp.call("POST", &format!("/apis/{api}/deploy-revision?revisionId={rid}"), "admin", Some(targets)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let svg = r#"<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>"#;
    assert_eq!(cp.multipart("PUT", &format!("/apis/{api}/thumbnail"), "admin", &[("file", svg)]).await.status, 200);
    assert_eq!(cp.call("POST", &format!("/apis/change-lifecycle?action=Publish&apiId={api}"), "admin", None).await.status, 200);

    // DevPortal GET /apis/{apiId}: the devportal `API`, with each environment's real URLs.
    let r = anonymous(&cp, &format!("/apis/{api}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let a = r.json();
    let endpoints = &a["endpointURLs"];
    assert_eq!(endpoints.as_array().map(Vec::len), Some(3), "not Hidden, deployed with displayOnDevportal false: {endpoints}");
    assert_eq!(
        by_name(endpoints, "environmentName", "Shapes"),
        &json!({"environmentName": "Shapes", "environmentDisplayName": "Shapes", "environmentType": "production",
            "URLs": {"http": "http://api.shapes.test:8080/gw/shapes/1.0.0", "https": "https://api.shapes.test:8443/gw/shapes/1.0.0"},
            "defaultVersionURLs": {"http": "http://api.shapes.test:8080/gw/shapes", "https": "https://api.shapes.test:8443/gw/shapes"}})
    );
    assert_eq!(by_name(endpoints, "environmentName", "Default")["URLs"]["https"], "https://localhost:8243/shapes/1.0.0");
    assert_eq!(by_name(endpoints, "environmentName", "Edge")["URLs"]["https"], "https://alt.edge.local:443/edge/shapes/1.0.0");
    assert_eq!(a["environmentList"], json!(["PRODUCTION"]));
    let tiers = &a["tiers"];
    assert_eq!(
        by_name(tiers, "tierName", "Premium"),
        &json!({"tierName": "Premium", "tierPlan": "COMMERCIAL",
            "monetizationAttributes": {"billingType": "fixedPrice", "fixedPrice": "10", "currencyType": "USD", "billingCycle": "month"}})
    );
    assert_eq!(by_name(tiers, "tierName", "Unlimited")["tierPlan"], "FREE");
    assert_eq!(a["operations"][2], json!({"id": "3", "target": "/order/{id}", "verb": "DELETE"}));
    assert_eq!(a["additionalProperties"], json!([{"name": "team", "value": "core", "display": true}]));
    assert_eq!(a["scopes"], json!([{"key": "shapes:read", "name": "Read shapes", "roles": ["admin"], "description": ""}]));
    assert_eq!(a["businessInformation"]["businessOwner"], "Ann");
    for (field, expected) in [
        ("authorizationHeader", json!("Authorization")),
        ("apiKeyHeader", json!("ApiKey")),
        ("isSubscriptionAvailable", json!(true)),
        ("hasThumbnail", json!(true)),
        ("keyManagers", json!(["all"])),
        ("categories", json!([])),
        ("isDefaultVersion", json!(true)),
        ("monetization", json!({"enabled": false})),
    ] {
        assert_eq!(a[field], expected, "{field}");
    }
    assert!(a["createdTime"].as_str().is_some_and(|t| t.parse::<i64>().is_ok()) && a["lastUpdatedTime"].is_string(), "{a}");

    // DevPortal GET /apis: `APIInfo` items.
    let listed = anonymous(&cp, "/apis").await.json();
    let info = by_name(&listed["list"], "name", "Shapes");
    assert_eq!(info["throttlingPolicies"], json!(["Premium", "Bulk", "Unlimited"]));
    assert_eq!(
        (info["thumbnailUri"].as_str(), info["isSubscriptionAvailable"].as_bool()),
        (Some(&*format!("/apis/{api}/thumbnail")), Some(true))
    );
    assert!(info["createdTime"].is_string() && info.get("operations").is_none() && info.get("endpointURLs").is_none(), "{info}");

    // DevPortal GET /apis/{apiId}/swagger: servers of the environment named, or of all.
    let r = anonymous(&cp, &format!("/apis/{api}/swagger?environmentName=Shapes")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let def = r.json();
    assert_eq!(urls(&def["servers"]), ["https://api.shapes.test:8443/gw/shapes/1.0.0", "http://api.shapes.test:8080/gw/shapes/1.0.0"]);
    assert!(def["paths"]["/order/{id}"]["delete"].is_object(), "{def}");
    let all = urls(&anonymous(&cp, &format!("/apis/{api}/swagger")).await.json()["servers"]);
    assert_eq!(all.len(), 6, "{all:?}");
    assert!(all.contains(&"https://localhost:8243/shapes/1.0.0".to_string()), "{all:?}");
    for env in ["Idle", "Hidden", "Nowhere"] {
        let r = anonymous(&cp, &format!("/apis/{api}/swagger?environmentName={env}")).await;
        assert_eq!((r.status, r.json()["code"].as_i64()), (404, Some(404)), "{env}: {}", r.body);
    }
    assert_eq!(anonymous(&cp, "/apis/no-such-api/swagger").await.status, 404);
    // A Swagger 2.0 definition names one environment's gateway as its host, base path and schemes.
    let legacy = json!({"swagger": "2.0", "info": {"title": "Legacy", "version": "2.0.0"}, "host": "backend.test", "basePath": "/api",
        "paths": {"/items": {"get": {"responses": {"200": {"description": "ok"}}}}}});
    let r = cp
        .multipart(
            "POST",
            "/apis/import-openapi",
            "admin",
            &[("file", &legacy.to_string()), ("additionalProperties", r#"{"context":"/legacy"}"#)],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let legacy_id = r.json()["id"].as_str().expect("id").to_string();
    let rev = cp.call("POST", &format!("/apis/{legacy_id}/revisions"), "admin", Some(json!({}))).await.json();
    let path = format!("/apis/{legacy_id}/deploy-revision?revisionId={}", rev["id"].as_str().expect("revision"));
    assert_eq!(cp.call("POST", &path, "admin", Some(json!([{"name": "Shapes"}]))).await.status, 201);
    assert_eq!(cp.call("POST", &format!("/apis/change-lifecycle?action=Publish&apiId={legacy_id}"), "admin", None).await.status, 200);
    let def = anonymous(&cp, &format!("/apis/{legacy_id}/swagger?environmentName=Shapes")).await.json();
    assert_eq!(
        (&def["host"], &def["basePath"], &def["schemes"]),
        (&json!("api.shapes.test:8443"), &json!("/gw/legacy/2.0.0"), &json!(["https", "http"])),
        "{def}"
    );
    assert!(def.get("servers").is_none() && def["paths"]["/items"]["get"].is_object(), "{def}");
    let r = cp.call("POST", "/apis", "admin", Some(crate::pizza("Draft", "/draft"))).await;
    let draft = r.json()["id"].as_str().expect("id").to_string();
    assert_eq!(cp.portal("GET", &format!("/apis/{draft}/swagger"), "subscriber", None).await.status, 404, "unpublished");
    assert_eq!(cp.portal("GET", &format!("/apis/{draft}/subscription-policies"), "subscriber", None).await.status, 404, "unpublished");

    // Throttling policies: a bandwidth limit answered in WSO2's shape, real billing plans, in both portals.
    let list = cp.portal("GET", "/throttling-policies/subscription", "subscriber", None).await.json();
    let b = by_name(&list["list"], "name", "Bulk");
    assert_eq!(
        (&b["quotaPolicyType"], &b["dataUnit"], &b["requestCount"], &b["unitTime"], &b["timeUnit"], &b["tierPlan"]),
        (&json!("BANDWIDTHVOLUME"), &json!("MB"), &json!(50), &json!(1), &json!("min"), &json!("FREE"))
    );
    let p = by_name(&list["list"], "name", "Premium");
    assert_eq!((&p["tierPlan"], &p["quotaPolicyType"], &p["requestCount"]), (&json!("COMMERCIAL"), &json!("REQUESTCOUNT"), &json!(100)));
    assert_eq!((&p["rateLimitCount"], &p["rateLimitTimeUnit"], &p["attributes"]), (&json!(5), &json!("sec"), &json!({"tier": "top"})));
    let one = cp.portal("GET", "/throttling-policies/subscription/Bulk", "subscriber", None).await;
    assert_eq!((one.status, &one.json()), (200, b), "the single policy is the list's item");
    let publisher = cp.call("GET", "/throttling-policies/subscription", "creator", None).await.json();
    let pp = by_name(&publisher["list"], "name", "Premium");
    assert_eq!(
        (&pp["tierPlan"], &pp["displayName"], &pp["monetizationProperties"]["fixedPrice"]),
        (&json!("COMMERCIAL"), &json!("Premium"), &json!("10"))
    );
    let r = cp.call("GET", "/throttling-policies/subscription/Premium", "creator", None).await;
    assert_eq!((r.status, &r.json()), (200, pp));
    for (path, status) in [
        ("/throttling-policies/galaxy/Bulk", 400),
        ("/throttling-policies/subscription/Nope", 404),
        ("/throttling-policies/application/Unlimited", 200),
    ] {
        let r = cp.portal("GET", path, "subscriber", None).await;
        assert_eq!(r.status, status, "devportal {path}: {}", r.body);
    }
    for (path, status) in [("/throttling-policies/application/Unlimited", 400), ("/throttling-policies/api/Nope", 404)] {
        let r = cp.call("GET", path, "creator", None).await;
        assert_eq!(r.status, status, "publisher {path}: {}", r.body);
    }
    let r = cp.portal("GET", "/throttling-policies/galaxy/Bulk", "subscriber", None).await;
    assert_eq!(r.json()["error"][0]["message"], "policyLevel", "{}", r.body);

    // An API's plans, as full policies, in its order.
    for r in [
        cp.call("GET", &format!("/apis/{api}/subscription-policies"), "creator", None).await,
        anonymous(&cp, &format!("/apis/{api}/subscription-policies")).await,
    ] {
        assert_eq!(r.status, 200, "{}", r.body);
        let plans = r.json();
        let names: Vec<&str> = plans.as_array().expect("list").iter().filter_map(|p| p["name"].as_str()).collect();
        assert_eq!(names, ["Premium", "Bulk", "Unlimited"]);
        assert_eq!(plans[1]["dataUnit"], "MB");
    }
    assert_eq!(cp.call("GET", "/apis/no-such-api/subscription-policies", "creator", None).await.status, 404);

    // Resource paths, paged.
    let r = cp.call("GET", &format!("/apis/{api}/resource-paths?limit=1&offset=1"), "creator", None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["list"], json!([{"id": 2, "resourcePath": "/order", "httpVerb": "POST"}]));
    assert_eq!((&r.json()["count"], &r.json()["pagination"]["total"]), (&json!(1), &json!(3)));
    assert_eq!(r.json()["pagination"]["next"], format!("/apis/{api}/resource-paths?limit=1&offset=2"));
    let r = cp.call("GET", &format!("/apis/{api}/resource-paths?limit=-1"), "creator", None).await;
    assert_eq!((r.status, r.json()["error"][0]["message"].as_str()), (400, Some("limit")), "{}", r.body);
    assert_eq!(cp.call("GET", "/apis/no-such-api/resource-paths", "creator", None).await.status, 404);

    // Who uses the shared scope.
    let r = cp.call("GET", &format!("/scopes/{scope_id}/usage"), "creator", None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json(),
        json!({"id": scope_id, "name": "shapes:read", "usedApiList": [{"name": "Shapes", "context": "/shapes", "version": "1.0.0", "provider": "admin",
            "usedResourceList": [{"target": "/menu", "verb": "GET"}]}]})
    );
    assert_eq!(cp.call("GET", "/scopes/no-such-scope/usage", "creator", None).await.status, 404);

    // subscriberCount follows the subscriptions: 0, 1 while subscribed, 0 again.
    let count = |list: &Value| by_name(&list["list"], "policyName", "Premium")["subscriberCount"].clone();
    let one_policy = format!("/throttling/policies/subscription/{premium_id}");
    assert_eq!(count(&cp.admin("GET", "/throttling/policies/subscription", "admin", None).await.json()), 0);
    let app = cp.portal("POST", "/applications", "subscriber", Some(json!({"name": "ShapesApp"}))).await.json();
    let app = app["applicationId"].as_str().expect("application id").to_string();
    let r = cp
        .portal("POST", "/subscriptions", "subscriber", Some(json!({"apiId": api, "applicationId": app, "throttlingPolicy": "Premium"})))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let sub = r.json()["subscriptionId"].as_str().expect("subscription").to_string();
    assert_eq!(count(&cp.admin("GET", "/throttling/policies/subscription", "admin", None).await.json()), 1);
    assert_eq!(cp.admin("GET", &one_policy, "admin", None).await.json()["subscriberCount"], 1);
    assert_eq!(
        by_name(&cp.admin("GET", "/throttling/policies/subscription", "admin", None).await.json()["list"], "policyName", "Bulk")["subscriberCount"],
        0
    );
    // An update naming another count keeps the real one.
    let mut doc = cp.admin("GET", &one_policy, "admin", None).await.json();
    doc["subscriberCount"] = json!(7);
    let r = cp.admin("PUT", &one_policy, "admin", Some(doc)).await;
    assert_eq!((r.status, &r.json()["subscriberCount"]), (200, &json!(1)), "{}", r.body);
    assert_eq!(cp.portal("DELETE", &format!("/subscriptions/{sub}"), "subscriber", None).await.status, 200);
    assert_eq!(cp.admin("GET", &one_policy, "admin", None).await.json()["subscriberCount"], 0);
    assert_eq!(count(&cp.admin("GET", "/throttling/policies/subscription", "admin", None).await.json()), 0);

    // A plan denied to a role: the DevPortal neither shows it to that role's users nor takes it from them.
    let staff = json!({"policyName": "Staff", "permissions": {"permissionType": "DENY", "roles": ["Internal/subscriber"]},
        "defaultLimit": {"type": "EVENTCOUNTLIMIT", "eventCount": {"timeUnit": "hour", "unitTime": 2, "eventCount": 30}}});
    assert_eq!(cp.admin("POST", "/throttling/policies/subscription", "admin", Some(staff)).await.status, 201);
    let mut body = crate::pizza("Staffed", "/staffed");
    body["policies"] = json!(["Staff", "Unlimited"]);
    let staffed = cp.call("POST", "/apis", "admin", Some(body)).await.json()["id"].as_str().expect("id").to_string();
    let rev = cp.call("POST", &format!("/apis/{staffed}/revisions"), "admin", Some(json!({}))).await.json();
    let path = format!("/apis/{staffed}/deploy-revision?revisionId={}", rev["id"].as_str().expect("revision"));
    assert_eq!(cp.call("POST", &path, "admin", Some(json!([{"name": "Default"}]))).await.status, 201);
    assert_eq!(cp.call("POST", &format!("/apis/change-lifecycle?action=Publish&apiId={staffed}"), "admin", None).await.status, 200);
    let names = |v: Value| -> Vec<String> {
        let list = if v.is_array() { v } else { v["list"].clone() };
        list.as_array().expect("list").iter().filter_map(|p| p["name"].as_str().map(str::to_string)).collect()
    };
    assert!(!names(cp.portal("GET", "/throttling-policies/subscription", "subscriber", None).await.json()).contains(&"Staff".into()));
    let seen = cp.portal("GET", "/throttling-policies/subscription", "admin", None).await.json();
    let s = by_name(&seen["list"], "name", "Staff");
    assert_eq!(
        (&s["throttlingPolicyPermissions"], &s["quotaPolicyType"], &s["requestCount"], &s["unitTime"], &s["timeUnit"]),
        (&json!({"type": "deny", "roles": ["Internal/subscriber"]}), &json!("REQUESTCOUNT"), &json!(30), &json!(2), &json!("hour"))
    );
    assert_eq!(cp.portal("GET", "/throttling-policies/subscription/Staff", "subscriber", None).await.status, 404);
    assert_eq!(cp.portal("GET", "/throttling-policies/subscription/Staff", "admin", None).await.status, 200);
    assert!(names(cp.call("GET", "/throttling-policies/subscription", "creator", None).await.json()).contains(&"Staff".into()));
    let plans = format!("/apis/{staffed}/subscription-policies");
    assert_eq!(names(cp.portal("GET", &plans, "subscriber", None).await.json()), ["Unlimited"]);
    assert_eq!(names(cp.portal("GET", &plans, "admin", None).await.json()), ["Staff", "Unlimited"]);
    let tiers = |v: Value| -> Vec<String> {
        v["tiers"].as_array().expect("tiers").iter().filter_map(|t| t["tierName"].as_str().map(str::to_string)).collect()
    };
    assert_eq!(tiers(cp.portal("GET", &format!("/apis/{staffed}"), "subscriber", None).await.json()), ["Unlimited"]);
    assert_eq!(tiers(cp.portal("GET", &format!("/apis/{staffed}"), "admin", None).await.json()), ["Staff", "Unlimited"]);
    let r = cp
        .portal("POST", "/subscriptions", "subscriber", Some(json!({"apiId": staffed, "applicationId": app, "throttlingPolicy": "Staff"})))
        .await;
    assert_eq!((r.status, r.json()["error"][0]["message"].as_str()), (400, Some("throttlingPolicy")), "{}", r.body);
    let r = cp
        .portal(
            "POST",
            "/subscriptions",
            "subscriber",
            Some(json!({"apiId": staffed, "applicationId": app, "throttlingPolicy": "Unlimited"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let sub = r.json()["subscriptionId"].as_str().expect("subscription").to_string();
    let change = json!({"applicationId": app, "requestedThrottlingPolicy": "Staff"});
    let r = cp.portal("PUT", &format!("/subscriptions/{sub}"), "subscriber", Some(change)).await;
    assert_eq!((r.status, r.json()["error"][0]["message"].as_str()), (400, Some("requestedThrottlingPolicy")), "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shapes_on_sqlite() {
    let dir = TempDir::new("apim-cp-shapes");
    suite(connect(&sqlite(&dir)).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shapes_on_postgres() {
    let Some(tdb) = TestDb::create(Backend::Postgres).await else { return };
    suite(connect(&tdb.toml_fields()).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shapes_on_mariadb() {
    let Some(tdb) = TestDb::create(Backend::MySql).await else { return };
    suite(connect(&tdb.toml_fields()).await).await;
}
