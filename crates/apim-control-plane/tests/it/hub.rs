//! The event hub over real gRPC sockets and the internal data service, on SQLite, PostgreSQL and MariaDB:
//! authentication, backlog then live events in order, heartbeats, resync, a late commit delivered once, and two
//! control planes on one database serving the same log.

use std::sync::Arc;
use std::time::Duration;

use apim_control_plane::{ControlPlane, GATEWAY_SILENCE};
use apim_domain::clock::Clock;
use apim_store::{AdminStore, ApiStore, Db};
use apim_test_support::db::{Backend, TestDb};
use apim_test_support::{TempDir, http};
use apim_wire::hub::{self, HubMessage, SubscribeRequest, hub_message::Kind};
use base64::Engine;
use serde_json::Value;

use super::{config, connect, sqlite};

struct Node {
    cp: Arc<ControlPlane>,
    grpc: String,
    http: String,
}

async fn node(db: &Db) -> Node {
    serve(ControlPlane::new(db.clone(), db.clone(), config(), None, None)).await
}

/// The control plane's event hub and routes on sockets of their own.
async fn serve(cp: Arc<ControlPlane>) -> Node {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let grpc = format!("http://{}", l.local_addr().expect("addr"));
    let svc = cp.event_hub();
    tokio::spawn(async move {
        let incoming = tonic::transport::server::TcpIncoming::from(l);
        let _ = tonic::transport::Server::builder().serve_with_incoming_shutdown(svc, incoming, std::future::pending()).await;
    });
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let http = format!("http://{}", l.local_addr().expect("addr"));
    let router = cp.router();
    tokio::spawn(async move {
        let _ = axum::serve(l, router).await;
    });
    Node { cp, grpc, http }
}

fn basic(user: &str, pass: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}")))
}

type Stream = tonic::Streaming<HubMessage>;

async fn subscribe(url: &str, creds: &str, last_seq: i64, pending: Vec<i64>) -> Result<Stream, tonic::Status> {
    let channel = tonic::transport::Endpoint::from_shared(url.to_string()).expect("url").connect().await.expect("connect");
    let mut client = hub::event_hub_client::EventHubClient::new(channel);
    let mut req = tonic::Request::new(SubscribeRequest {
        node_id: "test-gw".into(),
        role: "gateway".into(),
        labels: vec!["Default".into()],
        last_seq,
        pending,
    });
    req.metadata_mut().insert("authorization", creds.parse().expect("header"));
    client.subscribe(req).await.map(tonic::Response::into_inner)
}

/// The next message that is not a heartbeat (or the heartbeat itself when `heartbeats`), within 3 s.
async fn next(s: &mut Stream, heartbeats: bool) -> Kind {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(3), s.message())
            .await
            .expect("a message within 3 s")
            .expect("stream ok")
            .expect("stream open");
        match m.kind.expect("kind") {
            Kind::Heartbeat(_) if !heartbeats => continue,
            k => return k,
        }
    }
}

async fn next_event(s: &mut Stream) -> hub::Event {
    match next(s, false).await {
        Kind::Event(e) => e,
        other => panic!("expected an event, got {other:?}"),
    }
}

async fn suite(db: Db, late_commits: bool) {
    db.migrate("apim_db").await.expect("migrate");
    let a = node(&db).await;
    let good = basic("hub", "hub-pw");

    // Authentication: the [apim.event_hub] credentials, nothing else.
    for wrong in [basic("hub", "nope"), "Bearer x".into(), String::new()] {
        let err = subscribe(&a.grpc, &wrong, 0, vec![]).await.expect_err("refused");
        assert_eq!(err.code(), tonic::Code::Unauthenticated, "{wrong}");
    }
    let err = subscribe(&a.grpc, &good, -5, vec![]).await.expect_err("refused");
    assert_eq!(err.code(), tonic::Code::InvalidArgument);

    // Backlog, in order, then a heartbeat, then live events.
    for i in 0..3 {
        a.cp.record_revocation(&format!("jti-{i}"), 4_000_000_000).await.expect("record");
    }
    a.cp.record_revocation("jti-0", 4_000_000_000).await.expect("a repeat is no error");
    let head = db.last_event_seq().await.expect("head");
    let mut s = subscribe(&a.grpc, &good, 0, vec![]).await.expect("subscribe");
    let mut seen = Vec::new();
    for _ in 0..3 {
        let e = next_event(&mut s).await;
        assert_eq!(e.kind(), Ok(hub::EventKind::TokenRevocation));
        seen.push(e.seq);
    }
    assert!(seen.windows(2).all(|w| w[0] < w[1]) && seen[2] == head, "{seen:?} up to {head}");
    assert!(matches!(next(&mut s, true).await, Kind::Heartbeat(h) if h.head_seq == head));
    a.cp.record_revocation("jti-live", 4_000_000_000).await.expect("record");
    let live = next_event(&mut s).await;
    assert_eq!(live.seq, head + 1);
    let payload: Value = serde_json::from_str(&live.payload).expect("json");
    assert_eq!(payload["revokedToken"], "jti-live");

    // A second control plane on the same database serves the same log from any position.
    let b = node(&db).await;
    let mut s2 = subscribe(&b.grpc, &good, seen[0], vec![]).await.expect("subscribe");
    assert_eq!(next_event(&mut s2).await.seq, seen[1]);
    assert_eq!(next_event(&mut s2).await.seq, seen[2]);
    assert_eq!(next_event(&mut s2).await.seq, head + 1);

    // A number the subscriber still waits for is delivered when asked for; ahead of the log means resync.
    let mut s3 = subscribe(&b.grpc, &good, head + 1, vec![seen[1]]).await.expect("subscribe");
    assert_eq!(next_event(&mut s3).await.seq, seen[1]);
    let mut ahead = subscribe(&a.grpc, &good, head + 1000, vec![]).await.expect("subscribe");
    assert!(matches!(next(&mut ahead, false).await, Kind::Resync(r) if r.head_seq == head + 1), "ahead of the log");

    // A transaction that took its number first but commits last is still delivered, once, and after it.
    if late_commits {
        let late = open_event_transaction(&db).await;
        a.cp.record_revocation("jti-after", 4_000_000_000).await.expect("record");
        let after = next_event(&mut s).await;
        assert_eq!(serde_json::from_str::<Value>(&after.payload).expect("json")["revokedToken"], "jti-after");
        late.commit().await;
        let e = next_event(&mut s).await;
        assert!(e.seq < after.seq, "the late commit ({}) has the smaller number ({})", e.seq, after.seq);
        assert_eq!(e.event_type, "LATE_TEST");
        a.cp.record_revocation("jti-last", 4_000_000_000).await.expect("record");
        let e = next_event(&mut s).await;
        assert!(e.seq > after.seq, "nothing delivered twice");
    }

    // The internal data service: credentials, bad input, the snapshot with its sequence number.
    let get = |path: &str, creds: &str| {
        let url = format!("{}/internal/data/v1{path}", a.http);
        let creds = creds.to_string();
        async move { http::request("GET", &url, &[("authorization", &creds)], "").await.expect("get") }
    };
    assert_eq!(get("/runtime-artifacts?gatewayLabel=Default", &basic("hub", "x")).await.status, 401);
    let r = get("/runtime-artifacts", &good).await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("gatewayLabel"), "{}", r.body);
    let state = get("/runtime-artifacts?gatewayLabel=Default", &good).await.json();
    assert!(state["seq"].as_i64().expect("seq") > head);
    assert!(state["revokedTokens"].as_array().expect("revoked").iter().any(|r| r["id"] == "jti-live"));
    // Parts of the state: one API's deployments (none here), or everything but the APIs.
    let part = get("/runtime-artifacts?gatewayLabel=Default&apiId=nope,other", &good).await.json();
    assert_eq!(part["partial"]["apiIds"], serde_json::json!(["nope", "other"]));
    assert_eq!(part["apis"].as_array().map(Vec::len), Some(0));
    let rest = get("/runtime-artifacts?gatewayLabel=Default&apis=false", &good).await.json();
    assert_eq!(rest["partial"]["rest"], true);
    assert!(rest["revokedTokens"].as_array().expect("revoked").iter().any(|r| r["id"] == "jti-live"));
    assert!(state.get("partial").is_none(), "a whole state says nothing of parts");
    for (bad, field) in [("&apis=maybe", "apis"), ("&apis=false&apiId=x", "apis")] {
        let r = get(&format!("/runtime-artifacts?gatewayLabel=Default{bad}"), &good).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
        assert!(r.body.contains(field), "{bad}: {}", r.body);
    }
    let many: Vec<String> = (0..1001).map(|i| i.to_string()).collect();
    assert_eq!(get(&format!("/runtime-artifacts?gatewayLabel=Default&apiId={}", many.join(",")), &good).await.status, 400);
    let post = |body: &str| {
        let url = format!("{}/internal/data/v1/notify", a.http);
        let (good, body) = (good.clone(), body.to_string());
        async move {
            http::request(
                "POST",
                &url,
                &[("authorization", &good), ("content-type", "application/json"), ("x-wso2-key-manager", "default")],
                &body,
            )
            .await
            .expect("post")
        }
    };
    for (bad, field) in [("nope", "JSON"), ("{}", "revokedToken"), (r#"{"revokedToken":"t","expiryTime":"soon"}"#, "expiryTime")] {
        let r = post(bad).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
        assert!(r.body.contains(field), "{bad}: {}", r.body);
    }
    assert_eq!(post(r#"{"revokedToken":"opaque-hash","expiryTime":4000000000000,"type":"DEFAULT"}"#).await.status, 200);
    let e = next_event(&mut s).await;
    assert_eq!(serde_json::from_str::<Value>(&e.payload).expect("json")["revokedToken"], "opaque-hash");
    // Behind the retained log (older events pruned): told to resync from a snapshot.
    let head = db.last_event_seq().await.expect("head");
    assert!(db.prune_events(i64::MAX, head - 1).await.expect("prune") > 0);
    let mut behind = subscribe(&b.grpc, &good, 1, vec![]).await.expect("subscribe");
    assert!(matches!(next(&mut behind, false).await, Kind::Resync(r) if r.oldest_seq == head), "behind the retained log");
    let mut current = subscribe(&b.grpc, &good, head - 1, vec![]).await.expect("subscribe");
    assert_eq!(next_event(&mut current).await.seq, head, "one before the oldest retained is still served");
    let revoked = get("/revokedjwt", &good).await.json();
    assert!(
        revoked.as_array().expect("list").iter().any(|r| r["jwt_signature"] == "opaque-hash" && r["expiry_time"] == 4_000_000_000_000i64)
    );
}

/// An uncommitted `am_event` insert on PostgreSQL or MariaDB (SQLite has one writer at a time).
enum Late {
    Pg(sqlx::Transaction<'static, sqlx::Postgres>),
    My(sqlx::Transaction<'static, sqlx::MySql>),
}

impl Late {
    async fn commit(self) {
        match self {
            Late::Pg(t) => t.commit().await.expect("commit"),
            Late::My(t) => t.commit().await.expect("commit"),
        }
    }
}

async fn open_event_transaction(db: &Db) -> Late {
    match db {
        Db::Postgres(p) => {
            let mut t = p.begin().await.expect("begin");
            sqlx::query("INSERT INTO am_event (event_type, payload, created_at) VALUES ('LATE_TEST', '{}', 0)")
                .execute(&mut *t)
                .await
                .expect("insert");
            Late::Pg(t)
        }
        Db::MySql(p) => {
            let mut t = p.begin().await.expect("begin");
            sqlx::query("INSERT INTO am_event (event_type, payload, created_at) VALUES ('LATE_TEST', '{}', 0)")
                .execute(&mut *t)
                .await
                .expect("insert");
            Late::My(t)
        }
        Db::Sqlite(_) => panic!("SQLite has no concurrent writers"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_hub_on_sqlite() {
    let dir = TempDir::new("apim-hub");
    suite(connect(&sqlite(&dir)).await, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_hub_on_postgres() {
    let Some(tdb) = TestDb::create(Backend::Postgres).await else { return };
    suite(connect(&tdb.toml_fields()).await, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_hub_on_mariadb() {
    let Some(tdb) = TestDb::create(Backend::MySql).await else { return };
    suite(connect(&tdb.toml_fields()).await, true).await;
}

/// Retention on the control plane's clock, moved by the test: a revoked token is kept (and sent to gateways) until
/// it expires, then pruned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_are_kept_until_they_expire() {
    let dir = TempDir::new("apim-cp-retention");
    let db = connect(&sqlite(&dir)).await;
    db.migrate("apim_db").await.expect("migrate");
    let clock = Clock::manual(1_800_000_000_000);
    let cp = ControlPlane::with_clock(db.clone(), db.clone(), config(), None, None, None, clock.clone());
    cp.record_revocation("jti-hour", 1_800_003_600).await.expect("record");
    cp.record_revocation("jti-minute", 1_800_000_060).await.expect("record");
    let kept = || async { db.list_objects("revoked_token").await.expect("list").into_iter().map(|(_, name, _)| name).collect::<Vec<_>>() };
    cp.prune().await.expect("prune");
    assert_eq!(kept().await.len(), 2);
    clock.advance(Duration::from_secs(59));
    cp.prune().await.expect("prune");
    assert_eq!(kept().await.len(), 2, "a second before the first expires");
    clock.advance(Duration::from_secs(1));
    cp.prune().await.expect("prune");
    assert_eq!(kept().await, ["jti-hour"]);
    clock.advance(Duration::from_secs(3540));
    cp.prune().await.expect("prune");
    assert!(kept().await.is_empty());
}

/// Gateway nodes gone for good leave the node list once silent for `GATEWAY_SILENCE` (5 minutes) on the control
/// plane's clock, moved by the test: one that only reported is gone; one whose event-hub stream is open stays (its
/// stream notes it as heard from); rows silent for the retention period are deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_gateways_leave_the_node_list() {
    let dir = TempDir::new("apim-cp-nodes");
    let db = connect(&sqlite(&dir)).await;
    db.migrate("apim_db").await.expect("migrate");
    let clock = Clock::manual(1_800_000_000_000);
    let n = serve(ControlPlane::with_clock(db.clone(), db.clone(), config(), None, None, None, clock.clone())).await;
    let good = basic("hub", "hub-pw");
    let url = format!("{}/internal/data/v1/apis/deployed-revisions?gatewayId=gw-reported&gatewayLabel=Default", n.http);
    let r = http::request("PATCH", &url, &[("authorization", &good), ("content-type", "application/json")], "[]").await.expect("patch");
    assert_eq!(r.status, 200, "{}", r.body);
    // A stream open as `test-gw` (role gateway).
    let _stream = subscribe(&n.grpc, &good, 0, vec![]).await.expect("subscribe");
    let listed_as = |want: &'static [&'static str]| {
        let cp = n.cp.clone();
        async move {
            let waited = tokio::time::timeout(Duration::from_secs(5), async {
                loop {
                    let nodes = cp.gateway_nodes().await.expect("nodes");
                    if nodes == want {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
            .await;
            assert!(waited.is_ok(), "the node list never became {want:?}: {:?}", cp.gateway_nodes().await);
        }
    };
    listed_as(&["gw-reported", "test-gw"]).await;
    clock.advance(GATEWAY_SILENCE);
    assert_eq!(n.cp.gateway_nodes().await.expect("nodes"), ["gw-reported", "test-gw"], "silent for exactly the limit");
    clock.advance(Duration::from_secs(1));
    listed_as(&["test-gw"]).await;
    clock.advance(apim_control_plane::hub::RETENTION);
    n.cp.prune().await.expect("prune");
    assert!(db.list_objects("gateway_node").await.expect("list").is_empty(), "the silent node's report is deleted");
    listed_as(&["test-gw"]).await;
}

/// Analytics rollups: a month's summary read from hour and day rows adds up to what the minute rows said, per
/// gateway and status class; rolling up again changes nothing; minute rows older than two days go once rolled,
/// and the month's figures stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analytics_rollups_keep_a_month_exact() {
    use apim_store::{AnalyticsFilter, AnalyticsStore, Granularity};
    use apim_wire::analytics::{AnalyticsBatch, MinuteRow, Sketch};
    let dir = TempDir::new("apim-cp-rollups");
    let db = connect(&sqlite(&dir)).await;
    db.migrate("apim_db").await.expect("migrate");
    let now = 1_800_000_000_i64;
    let clock = Clock::manual(now * 1000);
    let cp = ControlPlane::with_clock(db.clone(), db.clone(), config(), None, None, None, clock.clone());
    let row = |minute: i64, status_class: u16, requests: u64, us: u64| {
        let mut latency = Sketch::default();
        for _ in 0..requests {
            latency.add(us);
        }
        MinuteRow {
            minute,
            api_id: "a1".into(),
            api_name: "Orders".into(),
            api_version: "1.0.0".into(),
            resource: "/orders".into(),
            method: "GET".into(),
            application_id: "app1".into(),
            application_name: "Shop".into(),
            application_owner: "alice".into(),
            key_type: apim_wire::KeyType::Production,
            status_class,
            requests,
            throttled: 0,
            blocked: 0,
            gateway_errors: 0,
            latency,
            backend_latency: Sketch::default(),
        }
    };
    // Twenty days of traffic on two nodes, each with two process runs (a restart): a few minutes an hour.
    for (node, run) in [("gw1", "r1"), ("gw1", "r2"), ("gw2", "r1")] {
        let rows: Vec<MinuteRow> = (1..20 * 24)
            .flat_map(|h| {
                let minute = (now - h * 3600) / 60 * 60;
                [row(minute, 2, 3, 2_000), row(minute - 120, 5, 1, 40_000)]
            })
            .collect();
        cp.record_analytics(&AnalyticsBatch { gateway_id: node.into(), run_id: run.into(), rows, dropped: 0 }).await.expect("record");
    }
    let figures = |s: &Value| {
        let by_gateway: Vec<(String, u64)> = {
            let mut v: Vec<(String, u64)> = s["byGateway"]
                .as_array()
                .expect("by gateway")
                .iter()
                .map(|g| (g["name"].as_str().unwrap_or("").to_string(), g["requests"].as_u64().unwrap_or(0)))
                .collect();
            v.sort();
            v
        };
        (
            s["requests"].as_u64(),
            s["byStatusClass"].clone(),
            by_gateway,
            s["series"].as_array().map(|p| p.iter().filter_map(|x| x["requests"].as_u64()).sum::<u64>()),
        )
    };
    let all = AnalyticsFilter::All;
    let month = cp.analytics_report(&all, "30d").await.expect("report");
    let week = cp.analytics_report(&all, "7d").await.expect("report");
    let day = cp.analytics_report(&all, "24h").await.expect("report");
    assert_eq!(month["requests"].as_u64(), Some(3 * 479 * 4), "{month}");
    assert_eq!(db.analytics_latest(Granularity::Hour).await.expect("latest"), None);

    cp.prune().await.expect("roll up");
    let hours = db.analytics(Granularity::Hour, &all, 0, i64::MAX).await.expect("hours").len();
    let days = db.analytics(Granularity::Day, &all, 0, i64::MAX).await.expect("days").len();
    // Runs merged: one row per node, status class and bucket.
    assert!(hours > 0 && hours <= 2 * 2 * 479, "{hours} hour rows");
    assert!(days > 0 && days <= 2 * 2 * 21, "{days} day rows");
    for (period, before) in [("30d", &month), ("7d", &week), ("24h", &day)] {
        let after = cp.analytics_report(&all, period).await.expect("report");
        assert_eq!(figures(&after), figures(before), "{period}: {after}");
        let p99 = |s: &Value| s["latency"]["p99"].as_f64().unwrap_or(0.0);
        assert!((p99(&after) - p99(before)).abs() < 1e-9, "{period}: merged sketches give the same p99");
        let api_p99 = |s: &Value| s["byApi"][0]["latency"]["p99"].as_f64();
        assert_eq!(api_p99(&after), api_p99(before), "{period}: the top API's latency, read by its index");
        // Asked again, the platform's rolled buckets come from memory: the same figures.
        let again = cp.analytics_report(&all, period).await.expect("report");
        assert_eq!(
            (figures(&again), &again["latency"], &again["byApi"]),
            (figures(&after), &after["latency"], &after["byApi"]),
            "{period}"
        );
    }
    cp.prune().await.expect("roll up again");
    assert_eq!(db.analytics(Granularity::Hour, &all, 0, i64::MAX).await.expect("hours").len(), hours, "rolled once");

    // Three days on: every minute row is older than two days and rolled up, so all are gone; the month (all
    // twenty days still within it) adds up to the same from hours and days alone.
    clock.advance(Duration::from_secs(3 * 86_400));
    cp.prune().await.expect("prune");
    assert!(db.analytics(Granularity::Minute, &all, 0, i64::MAX).await.expect("minutes").is_empty(), "minute rows pruned once rolled");
    let later = cp.analytics_report(&all, "30d").await.expect("report");
    assert_eq!(figures(&later).0, figures(&month).0, "{later}");
    assert_eq!(figures(&later).1, figures(&month).1, "{later}");
    let api = cp.analytics_report(&AnalyticsFilter::Api("a1".into()), "30d").await.expect("report");
    assert_eq!(api["requests"], later["requests"]);
}
