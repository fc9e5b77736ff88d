//! The repository conformance suite: the same checks on SQLite (always), PostgreSQL and MariaDB (when
//! `APIM_TEST_PG_URL` / `APIM_TEST_MYSQL_URL` are set; required under CI).

use apim_config::{HostsFile, LoadOptions, Source};
use apim_domain::{Role, UserId, password};
use apim_store::{Db, NewUser, StoreError, UserStore};
use apim_test_support::TempDir;
use apim_test_support::db::{Backend, TestDb};

mod migrate;

fn database_config(fields: &str) -> apim_config::Database {
    let text = format!("[database.shared_db]\n{fields}");
    let env = |_: &str| None;
    let loaded = apim_config::load_str(Source::new("test.toml", text), &LoadOptions::default(), &env).expect("valid config");
    loaded.config.shared_db.expect("shared_db")
}

async fn connect(fields: &str) -> Db {
    let db = apim_store::connect(&database_config(fields), &HostsFile::default()).await.expect("connect");
    db.migrate("shared_db").await.expect("migrate");
    db
}

async fn conformance(fields: &str) {
    let db = connect(fields).await;
    // Migrating again, and from a second pool at the same time, is harmless.
    let db2 = apim_store::connect(&database_config(fields), &HostsFile::default()).await.expect("connect 2");
    let (a, b) = tokio::join!(db.migrate("shared_db"), db2.migrate("shared_db"));
    a.expect("re-migrate");
    b.expect("concurrent migrate");

    let roles = db.list_roles().await.expect("roles");
    for r in Role::BUILT_IN {
        assert!(roles.iter().any(|x| x == r.name()), "missing role {} in {roles:?}", r.name());
    }

    let hash = password::hash("pw").expect("hash");
    let alice = db
        .create_user(&NewUser { username: "alice", password_hash: &hash, roles: &["Internal/creator", "Internal/subscriber"] })
        .await
        .expect("create");
    assert_eq!(alice.roles, vec!["Internal/creator".to_string(), "Internal/subscriber".to_string()]);
    let found = db.find_user("alice").await.expect("find").expect("exists");
    assert_eq!(found, alice);
    assert_eq!(db.find_user_by_id(&alice.id).await.expect("by id").expect("exists").username, "alice");
    assert!(db.find_user("nobody").await.expect("find").is_none());
    // The second node sees the first node's writes.
    assert_eq!(db2.find_user("alice").await.expect("find").expect("exists").id, alice.id);

    let dup = db.create_user(&NewUser { username: "alice", password_hash: &hash, roles: &[] }).await;
    assert!(matches!(dup, Err(StoreError::Conflict { .. })), "{dup:?}");

    let bad_role = db.create_user(&NewUser { username: "bob", password_hash: &hash, roles: &["Internal/nope"] }).await;
    assert!(matches!(bad_role, Err(StoreError::NotFound { .. })), "{bad_role:?}");
    assert!(db.find_user("bob").await.expect("find").is_none(), "a failed create leaves nothing behind");

    let empty = db.create_user(&NewUser { username: " ", password_hash: &hash, roles: &[] }).await;
    assert!(matches!(empty, Err(StoreError::Invalid(_))));

    let new_hash = password::hash("pw2").expect("hash");
    db.set_password_hash(&alice.id, &new_hash).await.expect("set password");
    let after = db.find_user("alice").await.expect("find").expect("exists");
    assert!(password::verify("pw2", &after.password_hash).expect("verify"));
    let missing = db.set_password_hash(&UserId("no-such-id".into()), &new_hash).await;
    assert!(matches!(missing, Err(StoreError::NotFound { .. })));

    db.create_user(&NewUser { username: "carol", password_hash: &hash, roles: &["admin"] }).await.expect("create carol");
    let names: Vec<String> = db.list_users().await.expect("list").into_iter().map(|u| u.username).collect();
    assert_eq!(names, vec!["alice".to_string(), "carol".to_string()]);

    oauth_conformance(&db, &db2).await;
    api_conformance(&db, &db2).await;
    application_conformance(&db, &db2).await;
    notice_conformance(&db, &db2).await;
    analytics_conformance(&db, &db2).await;

    assert!(db.delete_user(&alice.id).await.expect("delete"));
    assert!(!db.delete_user(&alice.id).await.expect("delete again"));
    assert!(db.find_user("alice").await.expect("find").is_none());
    db.ping().await.expect("ping");
    db.close().await;
    db2.close().await;
}

async fn api_conformance(db: &Db, other_node: &Db) {
    use apim_domain::api::*;
    use apim_store::{ApiFilter, ApiStore, SearchStore};
    let ev = |t: &str| EventDraft { event_type: t.into(), payload: format!("{{\"type\":\"{t}\"}}") };
    let api = |id: &str, name: &str, ctx: &str| ApiRecord {
        id: id.into(),
        name: name.into(),
        version: "1.0.0".into(),
        context: ctx.into(),
        provider: "alice".into(),
        status: "CREATED".into(),
        api_type: "HTTP".into(),
        document: "{}".into(),
        created_at: 1,
        updated_at: 1,
    };
    let start = db.events_after(0, 1000).await.expect("events").last().map(|e| e.seq).unwrap_or(0);
    db.create_api(&api("a1", "Pizza", "/pizza"), &[ev("API_CREATE")]).await.expect("create");
    db.create_api(&api("a2", "Pasta", "/pasta"), &[ev("API_CREATE")]).await.expect("create");
    // A clash writes neither the API nor its event.
    assert!(matches!(db.create_api(&api("a3", "Pizza", "/other"), &[ev("API_CREATE")]).await, Err(StoreError::Conflict { .. })));
    assert!(matches!(db.create_api(&api("a3", "Other", "/pizza"), &[ev("API_CREATE")]).await, Err(StoreError::Conflict { .. })));
    // WSO2's rules beyond the unique keys: a context belongs to one name, names are unique without regard to case.
    let versioned = |id: &str, name: &str, ctx: &str| ApiRecord { version: "2.0.0".into(), ..api(id, name, ctx) };
    for (name, ctx) in [("Other", "/PIZZA"), ("PIZZA", "/elsewhere")] {
        let r = db.create_api(&versioned("a3", name, ctx), &[ev("API_CREATE")]).await;
        assert!(matches!(r, Err(StoreError::Conflict { .. })), "{name} at {ctx}: {r:?}");
    }
    let events = other_node.events_after(start, 100).await.expect("events");
    assert_eq!(events.iter().map(|e| e.event_type.as_str()).collect::<Vec<_>>(), vec!["API_CREATE", "API_CREATE"]);
    assert!(events[0].seq < events[1].seq);

    let (list, total) = db.list_apis(&ApiFilter { name: Some("piz".into()), ..Default::default() }, 10, 0).await.expect("list");
    assert_eq!((list.len(), total, list[0].id.as_str()), (1, 1, "a1"));
    let (page, total) = db.list_apis(&ApiFilter::default(), 1, 1).await.expect("page");
    assert_eq!((page.len(), total, page[0].name.as_str()), (1, 2, "Pizza"));
    // Uniqueness checks match names and contexts whole, without regard to case.
    let ids = |found: Vec<apim_store::ApiIdentity>| found.into_iter().map(|a| a.id).collect::<Vec<_>>();
    assert_eq!(ids(db.apis_named_or_at(Some("PIZZA"), None).await.expect("named")), ["a1"]);
    assert_eq!(ids(db.apis_named_or_at(Some("Pizz"), Some("/PASTA")).await.expect("named or at")), ["a2"]);
    assert_eq!(ids(db.apis_named_or_at(Some("pasta"), Some("/pizza")).await.expect("both")), ["a2", "a1"]);
    assert!(db.apis_named_or_at(None, None).await.expect("neither").is_empty());
    let mut changed = api("a1", "Pizza", "/pizza2");
    changed.document = "{\"x\":1}".into();
    db.update_api(&changed, &[ev("API_UPDATE")]).await.expect("update");
    assert_eq!(other_node.get_api("a1").await.expect("get").expect("exists").context, "/pizza2");
    assert!(matches!(db.update_api(&api("nope", "N", "/n"), &[ev("API_UPDATE")]).await, Err(StoreError::NotFound { .. })));
    // A conditional update goes through only while the row is what its writer read; a refused one writes no event.
    let mut edited = changed.clone();
    edited.document = "{\"x\":2}".into();
    assert!(db.update_api_if(&edited, &changed, &[ev("API_UPDATE")]).await.expect("if"));
    assert!(!other_node.update_api_if(&changed, &changed, &[ev("API_UPDATE")]).await.expect("stale"), "the row moved on");
    assert_eq!(other_node.get_api("a1").await.expect("get").expect("exists").document, "{\"x\":2}");
    let changed = edited;

    let mut published = changed.clone();
    published.status = "PUBLISHED".into();
    let entry = LifecycleEntry { previous_state: "Created".into(), new_state: "Published".into(), username: "alice".into(), time: 5 };
    assert!(db.change_status(&published, &ApiStatus::Created, &entry, &[ev("API_LIFECYCLE_CHANGE")]).await.expect("cas"));
    assert!(
        !other_node.change_status(&published, &ApiStatus::Created, &entry, &[ev("API_LIFECYCLE_CHANGE")]).await.expect("cas"),
        "state moved on"
    );
    assert_eq!(db.lifecycle_history("a1").await.expect("history"), vec![entry]);
    let (pubs, _) = db.list_apis(&ApiFilter { status: vec![ApiStatus::Published], ..Default::default() }, 10, 0).await.expect("list");
    assert_eq!(pubs.len(), 1);

    let rev = |id: &str| Revision {
        id: id.into(),
        api_id: "a1".into(),
        number: 0,
        description: "d".into(),
        document: "{}".into(),
        created_at: 2,
    };
    for i in 1..=3 {
        assert_eq!(db.create_revision(&rev(&format!("r{i}")), 3).await.expect("revision").number, i);
    }
    assert!(matches!(other_node.create_revision(&rev("r4"), 3).await, Err(StoreError::Conflict { .. })), "at most max revisions");
    let found = other_node.revision_by_id("r2").await.expect("by id").expect("r2 exists");
    assert_eq!((found.api_id.as_str(), found.number), ("a1", 2));
    assert!(other_node.revision_by_id("nope").await.expect("by id").is_none());
    let dep = Deployment {
        api_id: "a1".into(),
        environment: "Default".into(),
        revision_id: "r2".into(),
        vhost: "localhost".into(),
        display_on_devportal: true,
        deployed_at: 3,
    };
    db.deploy(std::slice::from_ref(&dep), &[ev("DEPLOY_API_IN_GATEWAY")]).await.expect("deploy");
    db.deploy(&[Deployment { revision_id: "r3".into(), ..dep.clone() }], &[ev("DEPLOY_API_IN_GATEWAY")]).await.expect("redeploy");
    assert_eq!(
        other_node.deployments("a1").await.expect("deployments").iter().map(|d| d.revision_id.as_str()).collect::<Vec<_>>(),
        vec!["r3"]
    );
    // What gateways are built from: every deployment with the API's state and the revision's document.
    let deployed = other_node.deployed_revisions().await.expect("deployed revisions");
    assert!(
        deployed
            .iter()
            .any(|(d, status, doc)| d.api_id == "a1" && d.revision_id == "r3" && *status == ApiStatus::Published && !doc.is_empty()),
        "{deployed:?}"
    );
    let one = other_node.deployed_revisions_of("a1").await.expect("deployed revisions of a1");
    assert_eq!(one, deployed.iter().filter(|(d, _, _)| d.api_id == "a1").cloned().collect::<Vec<_>>());
    assert!(other_node.deployed_revisions_of("nope").await.expect("none").is_empty());
    let newest = db.events_after(0, 100_000).await.expect("events").last().map(|e| e.seq).unwrap_or(0);
    assert_eq!(other_node.last_event_seq().await.expect("last seq"), newest);

    assert!(matches!(db.delete_revision("a1", "r3").await, Err(StoreError::Conflict { .. })), "deployed revisions stay");
    assert!(db.delete_revision("a1", "r1").await.expect("delete"));
    assert_eq!(db.create_revision(&rev("r5"), 3).await.expect("revision").number, 4, "numbers keep growing");
    assert_eq!(
        db.undeploy("a1", &["Default".into(), "Other".into()], &[ev("REMOVE_API_FROM_GATEWAY")]).await.expect("undeploy"),
        vec!["Default".to_string()]
    );
    assert!(db.undeploy("a1", &["Default".into()], &[ev("REMOVE_API_FROM_GATEWAY")]).await.expect("undeploy").is_empty());

    let subs: Vec<String> = db.policies("subscription").await.expect("policies").into_iter().map(|(n, _)| n).collect();
    for p in ["Gold", "Silver", "Bronze", "Unauthenticated", "Unlimited"] {
        assert!(subs.iter().any(|s| s == p), "{p} missing");
    }
    assert_eq!(db.policies("application").await.expect("app").len(), 4);
    assert_eq!(db.policies("api").await.expect("api").len(), 4);

    assert!(db.delete_api("a1", &[ev("API_DELETE")]).await.expect("delete"));
    assert!(!db.delete_api("a1", &[ev("API_DELETE")]).await.expect("delete"));
    assert!(db.list_revisions("a1").await.expect("revisions").is_empty());
    let types: Vec<String> = db.events_after(start, 100).await.expect("events").into_iter().map(|e| e.event_type).collect();
    assert_eq!(
        types,
        vec![
            "API_CREATE",
            "API_CREATE",
            "API_UPDATE",
            "API_UPDATE",
            "API_LIFECYCLE_CHANGE",
            "DEPLOY_API_IN_GATEWAY",
            "DEPLOY_API_IN_GATEWAY",
            "REMOVE_API_FROM_GATEWAY",
            "API_DELETE"
        ]
    );
    // The retained log: its first number, and pruning by age and number.
    let newest = db.last_event_seq().await.expect("last seq");
    let first = other_node.first_event_seq().await.expect("first seq");
    assert!(first >= 1 && first <= newest);
    assert_eq!(db.prune_events(0, newest).await.expect("prune by age"), 0, "nothing is older than the epoch");
    assert_eq!(db.prune_events(i64::MAX, first).await.expect("prune"), 1);
    assert!(other_node.first_event_seq().await.expect("first seq") > first);
    assert!(db.delete_api("a2", &[]).await.expect("delete"));
}

async fn application_conformance(db: &Db, other_node: &Db) {
    use apim_domain::api::*;
    use apim_store::ApplicationStore;
    let ev = |t: &str| EventDraft { event_type: t.into(), payload: "{}".into() };
    let app = |id: &str, name: &str, owner: &str| ApplicationRecord {
        id: id.into(),
        name: name.into(),
        owner: owner.into(),
        throttling_policy: "Unlimited".into(),
        token_type: "JWT".into(),
        document: "{}".into(),
        created_at: 1,
    };
    db.create_application(&app("p1", "Shop", "alice"), &[ev("APPLICATION_CREATE")]).await.expect("create");
    db.create_application(&app("p2", "Shop", "bob"), &[ev("APPLICATION_CREATE")]).await.expect("same name, other owner");
    assert!(matches!(
        db.create_application(&app("p3", "Shop", "alice"), &[ev("APPLICATION_CREATE")]).await,
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(other_node.list_applications(Some("alice")).await.expect("list").len(), 1);
    assert_eq!(db.list_applications(None).await.expect("all").len(), 2);
    let mut renamed = app("p1", "Store", "alice");
    renamed.throttling_policy = "10PerMin".into();
    db.update_application(&renamed, &[ev("APPLICATION_UPDATE")]).await.expect("update");
    assert_eq!(other_node.get_application("p1").await.expect("get").expect("exists").throttling_policy, "10PerMin");
    assert!(matches!(db.update_application(&app("zz", "X", "alice"), &[]).await, Err(StoreError::NotFound { .. })));
    let mut reworded = renamed.clone();
    reworded.document = "{\"description\":\"x\"}".into();
    assert!(db.update_application_if(&reworded, &renamed, &[ev("APPLICATION_UPDATE")]).await.expect("if"));
    assert!(!other_node.update_application_if(&renamed, &renamed, &[]).await.expect("stale"), "the row moved on");

    let km = KeyMapping {
        id: "k1".into(),
        application_id: "p1".into(),
        key_type: "PRODUCTION".into(),
        key_manager: "Resident Key Manager".into(),
        consumer_key: "ck".into(),
        document: "{}".into(),
        created_at: 1,
    };
    db.add_key_mapping(&km, &[ev("APPLICATION_REGISTRATION_CREATE")]).await.expect("keys");
    assert!(matches!(db.add_key_mapping(&KeyMapping { id: "k2".into(), ..km.clone() }, &[]).await, Err(StoreError::Conflict { .. })));
    db.add_key_mapping(&KeyMapping { id: "k3".into(), key_type: "SANDBOX".into(), ..km.clone() }, &[]).await.expect("sandbox keys");
    assert_eq!(db.key_mappings("p1").await.expect("keys").len(), 2);
    assert_eq!(db.all_key_mappings().await.expect("all keys").iter().filter(|k| k.application_id == "p1").count(), 2);
    assert!(db.set_key_mapping_document("k3", "{\"callbackUrl\":\"https://cb\"}").await.expect("document"));
    let k3 = other_node.key_mappings("p1").await.expect("keys").into_iter().find(|k| k.id == "k3").expect("k3");
    assert_eq!(k3.document, "{\"callbackUrl\":\"https://cb\"}");
    assert!(!db.set_key_mapping_document("zz", "{}").await.expect("document"));
    // Removed keys free their key type.
    assert!(db.remove_key_mapping("k3", &[ev("REMOVE_APPLICATION_KEYMAPPING")]).await.expect("remove"));
    assert!(!other_node.remove_key_mapping("k3", &[]).await.expect("remove again"));
    db.add_key_mapping(&KeyMapping { id: "k3".into(), key_type: "SANDBOX".into(), ..km.clone() }, &[]).await.expect("sandbox keys again");

    let sub = SubscriptionRecord {
        id: "s1".into(),
        api_id: "api-x".into(),
        application_id: "p1".into(),
        policy: "Gold".into(),
        status: "UNBLOCKED".into(),
        created_at: 1,
    };
    db.create_subscription(&sub, &[ev("SUBSCRIPTIONS_CREATE")]).await.expect("subscribe");
    assert!(matches!(
        db.create_subscription(&SubscriptionRecord { id: "s2".into(), ..sub.clone() }, &[]).await,
        Err(StoreError::Conflict { .. })
    ));
    db.create_subscription(&SubscriptionRecord { id: "s3".into(), application_id: "p2".into(), ..sub.clone() }, &[])
        .await
        .expect("other app");
    assert_eq!(other_node.list_subscriptions(Some("p1"), None).await.expect("by app").len(), 1);
    assert_eq!(db.list_subscriptions(None, Some("api-x")).await.expect("by api").len(), 2);
    assert!(db.set_subscription_status("s1", &SubscriptionStatus::Blocked, &[ev("SUBSCRIPTIONS_UPDATE")]).await.expect("block"));
    assert_eq!(db.get_subscription("s1").await.expect("get").expect("exists").status, SubscriptionStatus::Blocked);
    assert!(db.set_subscription_policy("s1", "Silver", &[ev("SUBSCRIPTIONS_UPDATE")]).await.expect("plan"));
    assert_eq!(other_node.get_subscription("s1").await.expect("get").expect("exists").policy, "Silver");
    assert!(!db.set_subscription_policy("zz", "Gold", &[]).await.expect("plan"));
    assert!(db.delete_subscription("s3", &[ev("SUBSCRIPTIONS_DELETE")]).await.expect("delete"));
    assert!(!db.delete_subscription("s3", &[]).await.expect("delete again"));
    let removed = db.delete_application("p1", &[ev("APPLICATION_DELETE")]).await.expect("delete").expect("existed");
    assert_eq!(removed.len(), 2, "its key mappings come back for clean-up");
    assert!(db.get_subscription("s1").await.expect("get").is_none(), "subscriptions go with the application");
    assert!(db.delete_application("p1", &[]).await.expect("delete").is_none());
    db.delete_application("p2", &[]).await.expect("delete");
}

/// The revocation-notice outbox: per listener, in order, deleted once delivered (by any node), pruned by age.
/// Analytics rows: a key's latest value replaces the earlier one (retries change nothing), reads filter by API,
/// application and minute range, pruning drops what is older than the cut.
async fn analytics_conformance(db: &Db, other_node: &Db) {
    use apim_store::{AnalyticsFilter, AnalyticsRecord, AnalyticsStore, Granularity::*};
    let row = |key: &str, minute: i64, api: &str, app: &str, requests: i64| AnalyticsRecord {
        row_key: format!("{key:0>64}"),
        minute,
        node: "gw1".into(),
        api_id: api.into(),
        api_name: "Orders".into(),
        api_version: "1.0.0".into(),
        resource: "/orders/{id}".into(),
        method: "GET".into(),
        app_id: app.into(),
        app_name: "Shop".into(),
        app_owner: "alice".into(),
        key_type: "PRODUCTION".into(),
        status_class: 2,
        requests,
        throttled: 0,
        blocked: 1,
        gateway_errors: 0,
        latency: r#"{"buckets":[[10,3]],"sumUs":30}"#.into(),
        backend_latency: r#"{"buckets":[],"sumUs":0}"#.into(),
    };
    assert_eq!(db.analytics_latest(Minute).await.expect("latest"), None);
    db.add_analytics(Minute, &[row("a", 600, "api1", "app1", 3), row("b", 660, "api1", "app2", 4), row("c", 60, "api2", "app1", 5)])
        .await
        .expect("add");
    // The same key again, with a later cumulative value, from another node of the control plane.
    other_node.add_analytics(Minute, &[row("a", 600, "api1", "app1", 7)]).await.expect("upsert");
    assert_eq!(db.analytics_latest(Minute).await.expect("latest"), Some(660));
    let api1 = db.analytics(Minute, &AnalyticsFilter::Api("api1".into()), 0, 10_000).await.expect("read");
    let mut requests: Vec<i64> = api1.iter().map(|r| r.requests).collect();
    requests.sort_unstable();
    assert_eq!(requests, vec![4, 7]);
    assert_eq!(db.analytics(Minute, &AnalyticsFilter::Application("app1".into()), 0, 10_000).await.expect("read").len(), 2);
    assert_eq!(db.analytics(Minute, &AnalyticsFilter::All, 600, 660).await.expect("read").len(), 1, "to is exclusive");
    assert_eq!(api1.iter().find(|r| r.requests == 7).map(|r| r.resource.as_str()), Some("/orders/{id}"));
    // Rollups live in tables of their own, with the same shape.
    db.add_analytics(Hour, &[row("h", 3600, "api1", "app1", 11)]).await.expect("hour");
    db.add_analytics(Day, &[row("d", 86_400, "api1", "app1", 13)]).await.expect("day");
    assert_eq!(db.analytics(Hour, &AnalyticsFilter::Api("api1".into()), 0, 100_000).await.expect("read")[0].requests, 11);
    assert_eq!(db.analytics(Day, &AnalyticsFilter::All, 0, 100_000).await.expect("read")[0].requests, 13);
    assert_eq!(db.analytics(Minute, &AnalyticsFilter::All, 0, 100_000).await.expect("read").len(), 3, "minutes apart");
    assert_eq!(
        (db.analytics_latest(Hour).await.expect("latest"), db.analytics_latest(Day).await.expect("latest")),
        (Some(3600), Some(86_400))
    );
    assert_eq!(db.prune_analytics(Minute, 600).await.expect("prune"), 1);
    assert_eq!(db.analytics(Minute, &AnalyticsFilter::All, 0, 10_000).await.expect("read").len(), 2);
    assert_eq!(db.prune_analytics(Day, 100_000).await.expect("prune"), 1);
    assert_eq!(db.analytics(Hour, &AnalyticsFilter::All, 0, 100_000).await.expect("read").len(), 1, "pruning days left hours");
}

async fn notice_conformance(db: &Db, other_node: &Db) {
    use apim_store::NoticeStore;
    let (a, b) = ("https://cp.test/internal/data/v1/notify", "https://other.test/notify");
    db.enqueue_notices(a, &["one".into(), "two".into()], 100).await.expect("enqueue");
    db.enqueue_notices(b, &["three".into()], 200).await.expect("enqueue");
    let pending = other_node.pending_notices(a, 10).await.expect("pending");
    assert_eq!(pending.iter().map(|(_, body)| body.as_str()).collect::<Vec<_>>(), vec!["one", "two"]);
    assert!(pending[0].0 < pending[1].0);
    assert_eq!(other_node.pending_notices(a, 1).await.expect("limit").len(), 1);
    assert!(other_node.delete_notice(pending[0].0).await.expect("delete"));
    assert!(!db.delete_notice(pending[0].0).await.expect("deleted by the other node"));
    assert_eq!(db.pending_notices(a, 10).await.expect("pending").len(), 1);
    assert_eq!(db.prune_notices(150).await.expect("prune"), 1, "only the older listener's row");
    assert!(db.pending_notices(a, 10).await.expect("pending").is_empty());
    assert_eq!(db.pending_notices(b, 10).await.expect("pending").len(), 1);
    assert_eq!(db.prune_notices(i64::MAX).await.expect("prune"), 1);
}

async fn oauth_conformance(db: &Db, other_node: &Db) {
    use apim_domain::oauth::*;
    use apim_store::{CodeRedemption, OAuthStore};
    let client = OAuthClient {
        client_id: "cid".into(),
        secret_hash: "h1".into(),
        client_name: "app".into(),
        owner: "alice".into(),
        grant_types: vec!["client_credentials".into(), "refresh_token".into()],
        redirect_uris: vec!["https://app/cb".into()],
        token_type: TokenFormat::Jwt,
        created_at: 1,
    };
    db.create_client(&client).await.expect("create client");
    assert!(matches!(db.create_client(&client).await, Err(StoreError::Conflict { .. })));
    assert_eq!(other_node.get_client("cid").await.expect("get").expect("exists"), client);
    let mut changed = client.clone();
    changed.grant_types = vec!["password".into()];
    changed.token_type = TokenFormat::Opaque;
    db.update_client(&changed).await.expect("update");
    db.set_client_secret("cid", "h2").await.expect("secret");
    let got = db.get_client("cid").await.expect("get").expect("exists");
    assert_eq!(
        (got.grant_types.clone(), got.token_type, got.secret_hash.as_str()),
        (vec!["password".to_string()], TokenFormat::Opaque, "h2")
    );
    assert!(matches!(db.set_client_secret("nope", "x").await, Err(StoreError::NotFound { .. })));

    let token = |key: &str, kind: TokenKind| TokenRecord {
        key: key.into(),
        kind,
        format: TokenFormat::Opaque,
        client_id: "cid".into(),
        subject: "alice".into(),
        scope: "default".into(),
        family_id: "fam".into(),
        issued_at: 10,
        expires_at: 20,
        state: TokenState::Active,
        aut: "APPLICATION_USER".into(),
    };
    db.insert_token(&token("a1", TokenKind::Access)).await.expect("insert");
    db.insert_token(&token("r1", TokenKind::Refresh)).await.expect("insert");
    db.insert_tokens(&[token("b1", TokenKind::Access), TokenRecord { family_id: "other".into(), ..token("b2", TokenKind::Refresh) }])
        .await
        .expect("batch");
    assert_eq!(other_node.get_token("b2").await.expect("get").expect("exists").family_id, "other");
    assert_eq!(other_node.get_token("b1").await.expect("get").expect("exists").aut, "APPLICATION_USER", "the grant kind is kept");
    assert!(
        db.insert_tokens(&[token("b3", TokenKind::Access), token("b1", TokenKind::Access)]).await.is_err(),
        "a duplicate fails the batch"
    );
    assert!(db.get_token("b3").await.expect("get").is_none(), "and nothing of it is kept");
    db.insert_tokens(&[]).await.expect("empty batch");
    let stale = db
        .insert_tokens_checked(&[
            (token("c1", TokenKind::Access), "h2".into()),
            (TokenRecord { client_id: "ghost".into(), ..token("c2", TokenKind::Access) }, "h".into()),
        ])
        .await
        .expect("checked");
    assert_eq!(stale, vec!["ghost".to_string()]);
    assert!(db.get_token("c1").await.expect("get").is_some() && db.get_token("c2").await.expect("get").is_none());
    assert_eq!(
        db.insert_tokens_checked(&[(token("c3", TokenKind::Access), "old-secret".into())]).await.expect("checked"),
        vec!["cid".to_string()]
    );
    assert!(
        db.insert_tokens_checked(&[(token("c4", TokenKind::Access), "h2".into()), (token("c1", TokenKind::Access), "h2".into())])
            .await
            .is_err(),
        "a duplicate fails the checked batch"
    );
    assert!(db.get_token("c4").await.expect("get").is_none(), "and nothing of it is kept");
    assert!(db.insert_tokens_checked(&[]).await.expect("empty checked batch").is_empty());
    assert_eq!(other_node.get_token("r1").await.expect("get").expect("exists").kind, TokenKind::Refresh);
    // Rotation is a compare-and-set: only one of two racing nodes wins.
    assert!(db.transition_token("r1", TokenState::Active, TokenState::Rotated).await.expect("cas"));
    assert!(!other_node.transition_token("r1", TokenState::Active, TokenState::Rotated).await.expect("cas"));
    let revoked = other_node.revoke_family("fam").await.expect("family");
    assert_eq!(revoked.len(), 4);
    assert!(db.revoke_family("fam").await.expect("again").is_empty());
    assert_eq!(db.get_token("a1").await.expect("get").expect("exists").state, TokenState::Revoked);
    db.insert_token(&TokenRecord { family_id: "fam2".into(), ..token("a2", TokenKind::Access) }).await.expect("insert");
    assert_eq!(db.revoke_client_tokens("cid").await.expect("client").len(), 2, "a2 and b2");

    let code = AuthCode {
        code_hash: "c1".into(),
        client_id: "cid".into(),
        subject: "alice".into(),
        scope: "openid".into(),
        redirect_uri: "https://app/cb".into(),
        code_challenge: "abc".into(),
        family_id: "fam3".into(),
        expires_at: 99,
    };
    db.insert_code(&code).await.expect("code");
    assert!(matches!(db.redeem_code("c1").await.expect("redeem"), CodeRedemption::Fresh(c) if c == code));
    assert!(matches!(other_node.redeem_code("c1").await.expect("redeem"), CodeRedemption::Reused(_)));
    assert!(matches!(db.redeem_code("zz").await.expect("redeem"), CodeRedemption::Unknown));

    db.put_jwk("k1", "{\"kid\":\"k1\"}", 1).await.expect("jwk");
    db.put_jwk("k2", "{\"kid\":\"k2\"}", 2).await.expect("jwk");
    db.retire_jwks_except("k2", 100).await.expect("retire");
    db.put_jwk("k2", "{\"kid\":\"k2\"}", 3).await.expect("idempotent");
    let kids: Vec<String> = db.live_jwks(50).await.expect("live").into_iter().map(|(k, _)| k).collect();
    assert_eq!(kids, vec!["k2".to_string(), "k1".to_string()]);
    let kids: Vec<String> = db.live_jwks(150).await.expect("live").into_iter().map(|(k, _)| k).collect();
    assert_eq!(kids, vec!["k2".to_string()]);
    assert!(db.delete_client("cid").await.expect("delete"));
    assert!(!db.delete_client("cid").await.expect("delete"));
}

#[tokio::test]
async fn conformance_sqlite() {
    let dir = TempDir::new("apim-store");
    let path = dir.path().join("nested/shared.db");
    conformance(&format!("type = \"sqlite\"\nurl = \"jdbc:sqlite:{}\"\n", path.display())).await;
}

#[tokio::test]
async fn conformance_h2_maps_to_sqlite() {
    let dir = TempDir::new("apim-store");
    conformance(&format!("type = \"h2\"\nurl = \"jdbc:h2:{}/WSO2SHARED_DB;DB_CLOSE_ON_EXIT=FALSE\"\n", dir.path().display())).await;
    assert!(dir.path().join("WSO2SHARED_DB.db").exists());
}

#[tokio::test]
async fn conformance_postgres() {
    let Some(tdb) = TestDb::create(Backend::Postgres).await else { return };
    conformance(&tdb.toml_fields()).await;
}

#[tokio::test]
async fn conformance_mariadb() {
    let Some(tdb) = TestDb::create(Backend::MySql).await else { return };
    conformance(&tdb.toml_fields()).await;
}

#[tokio::test]
async fn connection_failures_are_classified() {
    let hosts = HostsFile::parse("hosts", "127.0.0.1 db.example.test\n").expect("hosts");
    // Unresolvable name.
    let cfg = database_config("type = \"mysql\"\nhostname = \"db.invalid\"\nname = \"x\"\n");
    let e = apim_store::connect(&cfg, &HostsFile::default()).await.expect_err("must fail");
    let text = e.to_string();
    assert!(text.starts_with("shared_db: cannot connect to db.invalid:3306: host name not resolved"), "{text}");
    // A port nobody listens on: refused (the hosts file maps the name).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let cfg = database_config(&format!("type = \"postgre\"\nhostname = \"db.example.test\"\nport = {port}\nname = \"x\"\n"));
    let e = apim_store::connect(&cfg, &hosts).await.expect_err("must fail");
    assert!(e.to_string().contains("connection refused"), "{e}");
}

#[tokio::test]
async fn wrong_password_is_access_denied() {
    let Some(tdb) = TestDb::create(Backend::MySql).await else { return };
    let fields = tdb.toml_fields().replace(&format!("password = \"{}\"", tdb.password), "password = \"definitely-wrong\"");
    let e = apim_store::connect(&database_config(&fields), &HostsFile::default()).await.expect_err("must fail");
    assert!(e.to_string().contains("access denied"), "{e}");
}
