//! API products through the real binary: a product made of operations of two APIs is revised, deployed and
//! published like an API, subscribed to in the DevPortal, and called through the gateway at its own context, each
//! operation reaching its own API's backend with that API's policies; the bad input a publisher can send.

use std::time::Duration;

use apim_test_support::http;
use serde_json::{Value, json};

use super::gateway::{Mgmt, Steps, code, eventually, get};
use super::{base64_encode, ready_all_in_one};

const PB: &str = "/api/am/publisher/v4";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_product_is_published_subscribed_and_called_through_the_gateway() {
    let (_dir, mut node, https, _) = ready_all_in_one("apim-products").await;
    let gw = node.url("gateway-http", Duration::from_secs(5));
    let m = Mgmt { base: https.clone(), auth: format!("Basic {}", base64_encode("admin:admin")) };
    let backend = apim_test_support::backend::spawn("127.0.0.1:0".parse().expect("addr")).await.expect("backend");
    let add = |name: &str, value: &str| json!({"policyName": "addHeader", "policyVersion": "v1", "parameters": {"headerName": name, "headerValue": value}});

    let mut step = Steps::new("two APIs");
    let menu = m
        .publish(json!({"name": "Menu", "context": "/menu", "version": "1.0.0", "policies": ["Unlimited"],
            "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": format!("http://{backend}/menu-backend")}},
            "apiPolicies": {"request": [add("X-Menu-Api", "m")], "response": [], "fault": []},
            "operations": [{"target": "/items", "verb": "GET"}, {"target": "/items/{id}", "verb": "GET"}, {"target": "/secret", "verb": "GET"}]}))
        .await;
    let orders = m
        .publish(json!({"name": "Orders", "context": "/orders", "version": "2.0.0", "policies": ["Unlimited"],
            "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": format!("http://{backend}/orders-backend")}},
            "operations": [{"target": "/orders", "verb": "POST",
                            "operationPolicies": {"request": [add("X-Order-Op", "o")], "response": [], "fault": []}},
                           {"target": "/items", "verb": "PUT"}]}))
        .await;
    // Created only: not usable in a product.
    let draft = m
        .ok(
            "POST",
            &format!("{PB}/apis"),
            json!({"name": "Draft", "context": "/draft", "version": "1.0.0",
            "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": format!("http://{backend}/d")}},
            "operations": [{"target": "/x", "verb": "GET"}]}),
        )
        .await["id"]
        .as_str()
        .expect("id")
        .to_string();

    step.next("bad products");
    let product = |apis: Value| json!({"name": "Shop", "context": "shopproduct", "policies": ["Gold", "Unlimited"], "apis": apis});
    for (body, field, says) in [
        (json!({"name": "Shop", "context": "/s"}), "apis", "at least one API"),
        (product(json!([{"apiId": "nope", "operations": [{"target": "/x", "verb": "GET"}]}])), "apis[0].apiId", "API nope not found"),
        (product(json!([{"apiId": draft, "operations": [{"target": "/x", "verb": "GET"}]}])), "apis[0].apiId", "publish or deploy it"),
        (
            product(json!([{"apiId": menu, "operations": [{"target": "/nothing", "verb": "GET"}]}])),
            "apis[0].operations[0]",
            "not an operation of API `Menu`",
        ),
        (product(json!([{"apiId": menu, "operations": []}])), "apis[0].operations", "at least one operation"),
        (
            product(json!([{"apiId": menu, "operations": [{"target": "/items", "verb": "GET"}]},
                           {"apiId": menu, "operations": [{"target": "/items", "verb": "get"}]}])),
            "apis[1].operations[0]",
            "comes from both",
        ),
        (product(json!([{"apiId": menu, "operations": [{"target": "/items", "verb": "GET"}]}])).tap_context("/menu"), "context", "context"),
    ] {
        let r = m.call("POST", &format!("{PB}/api-products"), body.clone()).await;
        assert!(r.status == 400 || r.status == 409, "{body}: {} {}", r.status, r.body);
        let err = r.json();
        let text = format!("{} {}", err["description"], err["error"]);
        assert!(text.contains(says) && (r.status == 409 || text.contains(field)), "{body}: {}", r.body);
    }

    step.next("create, revise, deploy, publish");
    let created = m
        .call(
            "POST",
            &format!("{PB}/api-products"),
            product(json!([{"apiId": menu, "operations": [{"target": "/items", "verb": "GET"}, {"target": "/items/{id}", "verb": "GET"}]},
                           {"apiId": orders, "operations": [{"target": "/orders", "verb": "POST"}]}])),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let p = created.json();
    let id = p["id"].as_str().expect("id").to_string();
    assert_eq!((p["context"].as_str(), p["version"].as_str(), p["state"].as_str()), (Some("/shopproduct"), Some("1.0.0"), Some("CREATED")));
    assert_eq!(p["apis"][1]["name"], "Orders");
    assert_eq!(p["apis"][0]["operations"][1]["target"], "/items/{id}");
    assert!(p.get("operations").is_none() && p.get("endpointConfig").is_none(), "{p}");
    // Each kind at its own path.
    assert_eq!(m.call("GET", &format!("{PB}/apis/{id}"), Value::Null).await.status, 404);
    assert_eq!(m.call("GET", &format!("{PB}/api-products/{menu}"), Value::Null).await.status, 404);
    let listed = m.ok("GET", &format!("{PB}/api-products"), Value::Null).await;
    assert_eq!((listed["count"].as_u64(), listed["list"][0]["name"].as_str()), (Some(1), Some("Shop")), "{listed}");
    let apis = m.ok("GET", &format!("{PB}/apis?limit=100"), Value::Null).await;
    assert!(apis["list"].as_array().expect("list").iter().all(|a| a["id"] != id.as_str()), "products are not in the API list: {apis}");
    let swagger = m.ok("GET", &format!("{PB}/api-products/{id}/swagger"), Value::Null).await;
    assert!(swagger["paths"]["/items/{id}"]["get"].is_object() && swagger["paths"]["/orders"]["post"].is_object(), "{swagger}");
    let r = m.call("POST", &format!("{PB}/api-products/change-lifecycle?action=Publish&apiProductId={id}"), Value::Null).await;
    assert_eq!(r.status, 412, "publishing before deploying: {}", r.body);
    let rev = m.ok("POST", &format!("{PB}/api-products/{id}/revisions"), json!({"description": "first"})).await;
    let rid = rev["id"].as_str().expect("revision").to_string();
    m.ok("POST", &format!("{PB}/api-products/{id}/deploy-revision?revisionId={rid}"), json!([{"name": "Default"}])).await;
    let deployed = m.ok("GET", &format!("{PB}/api-products/{id}/deployments"), Value::Null).await;
    assert_eq!(deployed["list"][0]["revisionUuid"], rid.as_str());
    m.ok("POST", &format!("{PB}/api-products/change-lifecycle?action=Publish&apiProductId={id}"), Value::Null).await;
    let history = m.ok("GET", &format!("{PB}/api-products/{id}/lifecycle-history"), Value::Null).await;
    assert_eq!(history["list"][0]["postState"], "Published");
    assert_eq!(m.ok("GET", &format!("{PB}/api-products/{id}/is-outdated"), Value::Null).await["isOutdated"], false);
    // A deployment is named by its environment's name in base64url ("Default": RGVmYXVsdA); its DevPortal
    // visibility changes, its revision does not.
    let shown = m.ok("PUT", &format!("{PB}/api-products/{id}/deployments/RGVmYXVsdA"), json!({"displayOnDevportal": false})).await;
    assert_eq!((shown["name"].as_str(), shown["displayOnDevportal"].as_bool()), (Some("Default"), Some(false)), "{shown}");
    assert_eq!(m.ok("GET", &format!("{PB}/api-products/{id}/deployments"), Value::Null).await["list"][0]["displayOnDevportal"], false);
    let r = m.call("PUT", &format!("{PB}/api-products/{id}/deployments/RWRnZQ"), json!({"displayOnDevportal": true})).await;
    assert_eq!(r.status, 404, "not deployed to Edge: {}", r.body);
    let r = m.call("PUT", &format!("{PB}/api-products/{id}/deployments/RGVmYXVsdA"), json!({"revisionUuid": "other"})).await;
    assert_eq!(r.status, 400, "{}", r.body);
    m.ok("PUT", &format!("{PB}/api-products/{id}/deployments/RGVmYXVsdA"), json!({"displayOnDevportal": true})).await;
    assert_eq!(m.call("DELETE", &format!("{PB}/api-products/{id}/lifecycle-state/pending-tasks"), Value::Null).await.status, 200);
    // A new version of the product: CREATED, the same operations of the same APIs.
    let copied = m.call("POST", &format!("{PB}/api-products/copy-api-products?apiProductId={id}&newVersion=2.0.0"), Value::Null).await;
    assert_eq!(copied.status, 201, "{}", copied.body);
    let copy = copied.json();
    assert_eq!(
        (copy["version"].as_str(), copy["state"].as_str(), copy["context"].as_str()),
        (Some("2.0.0"), Some("CREATED"), Some("/shopproduct"))
    );
    assert_eq!(copy["apis"], p["apis"]);
    let again = m.call("POST", &format!("{PB}/api-products/copy-api-products?apiProductId={id}&newVersion=2.0.0"), Value::Null).await;
    assert_eq!(again.status, 409, "{}", again.body);
    let bad = m.call("POST", &format!("{PB}/api-products/copy-api-products?apiProductId={id}&newVersion=a%2Fb"), Value::Null).await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    m.ok("DELETE", &format!("{PB}/api-products/{}", copy["id"].as_str().expect("id")), Value::Null).await;

    step.next("the DevPortal lists it and takes a subscription");
    let portal = m.ok("GET", "/api/am/devportal/v3/apis?limit=100", Value::Null).await;
    let listed = portal["list"].as_array().expect("list").iter().find(|a| a["id"] == id.as_str()).cloned().expect("the product listed");
    assert_eq!(listed["type"], "APIPRODUCT", "{listed}");
    let (app, ck, cs) = m.app("ShopApp", "Unlimited", "JWT", "PRODUCTION").await;
    let token = m.token(&ck, &cs, "").await;
    let items = format!("{gw}/shopproduct/1.0.0/items");
    let r = eventually(&items, Some(&token), 403).await;
    assert_eq!((r.status, code(&r).as_str()), (403, "900908"), "no product subscription yet: {}\n{}", r.body, node.stderr());
    m.subscribe(&id, &app, "Gold").await;

    step.next("each operation reaches its own API's backend with its policies");
    let r = eventually(&items, Some(&token), 200).await;
    assert_eq!(r.status, 200, "{}\n{}", r.body, node.stderr());
    let echo = r.json();
    assert_eq!(echo["path"], "/menu-backend/items");
    assert_eq!(echo["headers"]["x-menu-api"], "m", "the API's own policies apply: {echo}");
    let echo = get(&format!("{gw}/shopproduct/1.0.0/items/7"), Some(&token)).await.json();
    assert_eq!(echo["path"], "/menu-backend/items/7");
    let bearer = format!("Bearer {token}");
    let r = http::request("POST", &format!("{gw}/shopproduct/1.0.0/orders"), &[("authorization", &bearer)], "{}").await.expect("post");
    assert_eq!(r.status, 200, "{}", r.body);
    let echo = r.json();
    assert_eq!(echo["path"], "/orders-backend/orders");
    assert_eq!(echo["headers"]["x-order-op"], "o", "{echo}");
    assert!(echo["headers"].get("x-menu-api").is_none(), "{echo}");
    // Operations the product does not take are not served at its context.
    let r = get(&format!("{gw}/shopproduct/1.0.0/secret"), Some(&token)).await;
    assert_eq!((r.status, code(&r).as_str()), (404, "900906"), "{}", r.body);
    // A product subscription is not a subscription to the APIs it uses.
    let r = get(&format!("{gw}/menu/1.0.0/items"), Some(&token)).await;
    assert_eq!((r.status, code(&r).as_str()), (403, "900908"), "{}", r.body);

    step.next("the APIs it uses stay while it does");
    let r = m.call("DELETE", &format!("{PB}/apis/{menu}"), Value::Null).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("Shop"), "{}", r.body);
    // A changed API makes the product outdated until its next revision.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut api = m.ok("GET", &format!("{PB}/apis/{orders}"), Value::Null).await;
    api["description"] = json!("changed");
    m.ok("PUT", &format!("{PB}/apis/{orders}"), api).await;
    assert_eq!(m.ok("GET", &format!("{PB}/api-products/{id}/is-outdated"), Value::Null).await["isOutdated"], true);

    step.next("update and delete");
    let mut body = m.ok("GET", &format!("{PB}/api-products/{id}"), Value::Null).await;
    body["description"] = json!("Menu and orders");
    body["apis"] = json!([{"apiId": menu, "operations": [{"target": "/items", "verb": "GET"}]}]);
    let updated = m.ok("PUT", &format!("{PB}/api-products/{id}"), body.clone()).await;
    assert_eq!((updated["description"].as_str(), updated["apis"].as_array().map(Vec::len)), (Some("Menu and orders"), Some(1)));
    body["context"] = json!("/elsewhere");
    assert_eq!(m.call("PUT", &format!("{PB}/api-products/{id}"), body).await.status, 400);
    let r = m.call("DELETE", &format!("{PB}/apis/{id}"), Value::Null).await;
    assert_eq!(r.status, 404, "a product is not deleted at /apis: {}", r.body);
    m.ok("DELETE", &format!("{PB}/api-products/{id}"), Value::Null).await;
    let r = eventually(&items, Some(&token), 404).await;
    assert_eq!(r.status, 404, "the deleted product leaves the gateway: {}", r.body);
    m.ok("DELETE", &format!("{PB}/apis/{menu}"), Value::Null).await;
    drop(step);
}

/// `json!` with one field replaced, for the table above.
trait TapContext {
    fn tap_context(self, context: &str) -> Value;
}

impl TapContext for Value {
    fn tap_context(mut self, context: &str) -> Value {
        self["context"] = json!(context);
        self
    }
}
