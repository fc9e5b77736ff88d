//! Subscriptions after they are made, through real sockets on SQLite, PostgreSQL and MariaDB: a subscriber changes
//! its plan (DevPortal `PUT /subscriptions/{id}`), a publisher asks who subscribed (`subscriber-info`).

use apim_store::Db;
use apim_test_support::TempDir;
use apim_test_support::db::{Backend, TestDb};
use serde_json::{Value, json};

use crate::{connect, sqlite, start};

fn etag_of(r: &apim_test_support::http::Response) -> String {
    r.headers.get("etag").and_then(|v| v.to_str().ok()).expect("ETag header").to_string()
}

async fn suite(db: Db) {
    let cp = start(db).await;
    // A published API offering Gold and Unlimited, and a subscriber's application subscribed on Gold.
    let r = cp.call("POST", "/apis", "admin", Some(crate::pizza("Plans", "/plans"))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let api = r.json()["id"].as_str().expect("id").to_string();
    let rev = cp.call("POST", &format!("/apis/{api}/revisions"), "admin", Some(json!({}))).await.json();
    let rid = rev["id"].as_str().expect("revision");
    cp.call("POST", &format!("/apis/{api}/deploy-revision?revisionId={rid}"), "admin", Some(json!([{"name": "Default"}]))).await;
    assert_eq!(cp.call("POST", &format!("/apis/change-lifecycle?action=Publish&apiId={api}"), "admin", None).await.status, 200);
    let r = cp.portal("POST", "/applications", "subscriber", Some(json!({"name": "PlanApp"}))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let app = r.json()["applicationId"].as_str().expect("application id").to_string();
    let r = cp
        .portal("POST", "/subscriptions", "subscriber", Some(json!({"apiId": api, "applicationId": app, "throttlingPolicy": "Gold"})))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let sub = r.json()["subscriptionId"].as_str().expect("subscription id").to_string();
    let path = format!("/subscriptions/{sub}");

    // The plan changes at once (no approval workflow), with its event.
    let before = cp.events().await.len();
    let change = json!({"subscriptionId": sub, "apiId": api, "applicationId": app, "throttlingPolicy": "Gold",
        "requestedThrottlingPolicy": "Unlimited", "status": "UNBLOCKED"});
    let r = cp.portal("PUT", &path, "subscriber", Some(change)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!((r.json()["throttlingPolicy"].as_str(), r.json()["apiInfo"]["id"].as_str()), (Some("Unlimited"), Some(api.as_str())));
    assert_eq!(cp.portal("GET", &path, "subscriber", None).await.json()["throttlingPolicy"], "Unlimited");
    let events = cp.events().await;
    assert_eq!(events.len(), before + 1);
    let (kind, payload) = &events[before];
    assert_eq!(
        (kind.as_str(), payload["policyId"].as_str(), payload["subscriptionId"].as_str()),
        ("SUBSCRIPTIONS_UPDATE", Some("Unlimited"), Some(sub.as_str()))
    );
    // `throttlingPolicy` alone names the new plan too.
    let r = cp.portal("PUT", &path, "subscriber", Some(json!({"applicationId": app, "throttlingPolicy": "Gold"}))).await;
    assert_eq!((r.status, r.json()["throttlingPolicy"].as_str()), (200, Some("Gold")), "{}", r.body);

    // Bad input: a plan the API does not offer, another application or API, no plan; someone else's is a 404.
    let cases: Vec<(Value, &str)> = vec![
        (json!({"applicationId": app, "throttlingPolicy": "Gold", "requestedThrottlingPolicy": "Platinum"}), "requestedThrottlingPolicy"),
        (json!({"applicationId": app, "throttlingPolicy": "Bronze"}), "throttlingPolicy"),
        (json!({"applicationId": "another", "throttlingPolicy": "Gold"}), "applicationId"),
        (json!({"applicationId": app, "apiId": "another", "throttlingPolicy": "Gold"}), "apiId"),
        (json!({"applicationId": app}), "throttlingPolicy"),
    ];
    for (body, field) in cases {
        let r = cp.portal("PUT", &path, "subscriber", Some(body.clone())).await;
        assert_eq!((r.status, r.json()["error"][0]["message"].as_str()), (400, Some(field)), "{body}: {}", r.body);
    }
    let r = cp.portal("PUT", &path, "other", Some(json!({"applicationId": app, "throttlingPolicy": "Unlimited"}))).await;
    assert_eq!(r.status, 404, "{}", r.body);
    let r =
        cp.portal("PUT", "/subscriptions/no-such-sub", "subscriber", Some(json!({"applicationId": app, "throttlingPolicy": "Gold"}))).await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(cp.portal("GET", &path, "subscriber", None).await.json()["throttlingPolicy"], "Gold", "no bad change went through");

    // Two editors of the application: the second one's stale If-Match is a 412 with WSO2's error body.
    let read = cp.portal("GET", &format!("/applications/{app}"), "subscriber", None).await;
    assert_eq!(read.status, 200, "{}", read.body);
    let tag = etag_of(&read);
    let put = |body: Value, if_match: Option<String>| {
        let url = format!("{}/api/am/devportal/v3/applications/{app}", cp.base);
        async move {
            let a = crate::auth("subscriber");
            let mut headers = vec![("authorization", a.as_str()), ("content-type", "application/json")];
            if let Some(t) = &if_match {
                headers.push(("if-match", t.as_str()));
            }
            apim_test_support::http::request("PUT", &url, &headers, &body.to_string()).await.expect("request")
        }
    };
    let r = put(json!({"name": "PlanApp", "throttlingPolicy": "Unlimited", "description": "first"}), Some(tag.clone())).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_ne!(etag_of(&r), tag);
    let r = put(json!({"name": "PlanApp", "throttlingPolicy": "Unlimited", "description": "second"}), Some(tag.clone())).await;
    assert_eq!((r.status, r.json()["message"].as_str()), (412, Some("Precondition Failed")), "{}", r.body);
    let r = put(json!({"name": "PlanApp", "throttlingPolicy": "Unlimited", "description": "second"}), Some("*".into())).await;
    assert_eq!(r.status, 200, "{}", r.body);

    // Publisher: who subscribed.
    let r = cp.call("GET", &format!("{path}/subscriber-info"), "publisher", None).await;
    assert_eq!((r.status, r.json()), (200, json!({"name": "subscriber", "claims": []})), "{}", r.body);
    assert_eq!(cp.call("GET", "/subscriptions/no-such-sub/subscriber-info", "publisher", None).await.status, 404);
    assert_eq!(cp.call("GET", &format!("{path}/subscriber-info"), "subscriber", None).await.status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_on_sqlite() {
    let dir = TempDir::new("apim-cp-subscriptions");
    suite(connect(&sqlite(&dir)).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_on_postgres() {
    let Some(tdb) = TestDb::create(Backend::Postgres).await else { return };
    suite(connect(&tdb.toml_fields()).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_on_mariadb() {
    let Some(tdb) = TestDb::create(Backend::MySql).await else { return };
    suite(connect(&tdb.toml_fields()).await).await;
}
