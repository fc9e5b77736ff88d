//! The traffic manager's gRPC services on a real socket (port 0): credentials, bad batches from a peer, decisions
//! and allowances reaching a subscriber, forwarded decisions passed on once.

use std::time::Duration;

use apim_traffic_manager::{Config, TrafficManager};
use apim_wire::throttle::{
    Decision, DecisionBatch, DecisionSubscription, UsageBatch, UsageRecord, decisions_client::DecisionsClient, usage_client::UsageClient,
};
use tonic::transport::Channel;

const BASIC: &str = "Basic YWRtaW46YWRtaW4=";

async fn serve() -> (std::sync::Arc<TrafficManager>, Channel) {
    let tm = TrafficManager::new(Config {
        throttle_decision_endpoints: Vec::new(),
        event_hub_endpoints: Vec::new(),
        duplicate_urls: Vec::new(),
        skip_policies: Vec::new(),
        basic: BASIC.into(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (usage, decisions) = tm.services();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(usage)
            .add_service(decisions)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}")).expect("endpoint").connect().await.expect("connect");
    (tm, channel)
}

fn authorized<T>(message: T, auth: &str) -> tonic::Request<T> {
    let mut req = tonic::Request::new(message);
    req.metadata_mut().insert("authorization", auth.parse().expect("header"));
    req
}

fn now_ms() -> u64 {
    apim_domain::clock::Clock::system().unix_ms() as u64
}

fn record(key: &str, used: u64, quota: u64) -> UsageRecord {
    let now = now_ms();
    UsageRecord {
        key: key.into(),
        window_start_ms: now - now % 3_600_000,
        window_ms: 3_600_000,
        quota,
        bytes: false,
        used,
        condition: "subscription".into(),
        refused: 0,
        policy: "Gold".into(),
    }
}

/// Sends batches on one usage stream and returns the acknowledged sequence numbers (or the error that ended it).
async fn report(channel: &Channel, auth: &str, batches: Vec<UsageBatch>) -> Result<Vec<u64>, tonic::Status> {
    let n = batches.len();
    let stream = tokio_stream::iter(batches);
    let mut acks = UsageClient::new(channel.clone()).report(authorized(stream, auth)).await?.into_inner();
    let mut seen = Vec::new();
    while seen.len() < n {
        match tokio::time::timeout(Duration::from_secs(5), acks.message()).await {
            Ok(Ok(Some(a))) => seen.push(a.seq),
            Ok(Ok(None)) => break,
            Ok(Err(s)) => return Err(s),
            Err(_) => panic!("no acknowledgement"),
        }
    }
    Ok(seen)
}

#[tokio::test]
async fn credentials_are_required() {
    let (tm, channel) = serve().await;
    let wrong = "Basic d3Jvbmc6d3Jvbmc=";
    let refused = report(&channel, wrong, vec![UsageBatch { gateway_id: "gw".into(), seq: 1, records: vec![record("k", 1, 10)] }]).await;
    assert_eq!(refused.map_err(|s| s.code()), Err(tonic::Code::Unauthenticated));
    let refused = DecisionsClient::new(channel.clone()).subscribe(authorized(DecisionSubscription { node_id: "gw".into() }, wrong)).await;
    assert_eq!(refused.map(|_| ()).map_err(|s| s.code()), Err(tonic::Code::Unauthenticated));
    assert_eq!(tm.ledger.keys(), 0, "nothing counted");
    assert!(tm.metrics_text().contains("apim_tm_unauthenticated_total 2"), "{}", tm.metrics_text());
}

#[tokio::test]
async fn bad_batches_and_records_from_a_peer_are_refused_by_name() {
    let (tm, channel) = serve().await;
    let anonymous =
        report(&channel, BASIC, vec![UsageBatch { gateway_id: String::new(), seq: 1, records: vec![record("k", 1, 10)] }]).await;
    let status = anonymous.expect_err("a batch without a gateway id ends the stream");
    assert_eq!((status.code(), status.message()), (tonic::Code::InvalidArgument, "gateway_id is empty"));
    // Bad records are dropped one by one and counted; the good one in the same batch counts.
    let mut misaligned = record("k2", 1, 10);
    misaligned.window_start_ms += 7;
    let batch = UsageBatch { gateway_id: "gw".into(), seq: 1, records: vec![record("", 1, 10), misaligned, record("good", 3, 10)] };
    assert_eq!(report(&channel, BASIC, vec![batch]).await.expect("acknowledged"), [1]);
    assert_eq!(tm.ledger.total("good", now_ms()), 3);
    let metrics = tm.metrics_text();
    assert!(metrics.contains("apim_tm_usage_records_rejected_total{reason=\"empty_key\"} 1"), "{metrics}");
    assert!(metrics.contains("apim_tm_usage_records_rejected_total{reason=\"bad_window\"} 1"), "{metrics}");
}

#[tokio::test]
async fn decisions_and_allowances_reach_subscribers_and_forwarded_ones_pass_once() {
    let (_tm, channel) = serve().await;
    let mut decisions = DecisionsClient::new(channel.clone())
        .subscribe(authorized(DecisionSubscription { node_id: "gw-a".into() }, BASIC))
        .await
        .expect("subscribed")
        .into_inner();
    let first = decisions.message().await.expect("stream").expect("first message");
    assert!(first.decisions.is_empty(), "nothing in force yet");
    // Two gateways, quota 10: past half, allowances; at the quota, the decision.
    let batches = vec![
        UsageBatch { gateway_id: "gw-a".into(), seq: 1, records: vec![record("sub", 4, 10)] },
        UsageBatch { gateway_id: "gw-a".into(), seq: 2, records: vec![record("sub", 6, 10)] },
    ];
    assert_eq!(report(&channel, BASIC, batches).await.expect("acks"), [1, 2]);
    assert_eq!(
        report(&channel, BASIC, vec![UsageBatch { gateway_id: "gw-b".into(), seq: 1, records: vec![record("sub", 4, 10)] }])
            .await
            .expect("acks"),
        [1]
    );
    let mut got = DecisionBatch::default();
    while got.decisions.is_empty() {
        let b =
            tokio::time::timeout(Duration::from_secs(5), decisions.message()).await.expect("in time").expect("stream").expect("message");
        got.allowances.extend(b.allowances);
        got.decisions.extend(b.decisions);
    }
    assert!(got.allowances.iter().any(|a| a.gateway_id == "gw-a" && a.key == "sub" && a.cap >= 6), "{:?}", got.allowances);
    assert_eq!(got.decisions[0].key, "sub");
    // A peer's decision is passed on, marked as forwarded.
    let until = now_ms() + 60_000;
    let forwarded = DecisionBatch {
        decisions: vec![Decision { key: "peer-key".into(), throttled_until_ms: until, condition: "application".into() }],
        forwarded: true,
        allowances: Vec::new(),
    };
    DecisionsClient::new(channel.clone()).forward(authorized(tokio_stream::iter(vec![forwarded]), BASIC)).await.expect("forwarded");
    loop {
        let b =
            tokio::time::timeout(Duration::from_secs(5), decisions.message()).await.expect("in time").expect("stream").expect("message");
        if let Some(d) = b.decisions.iter().find(|d| d.key == "peer-key") {
            assert!(b.forwarded);
            assert_eq!(d.throttled_until_ms, until);
            break;
        }
    }
}

/// Takes what the traffic manager passes on, answering as the control plane would: stored, refused, or none
/// reached.
struct ControlPlaneStandIn {
    taken: std::sync::Mutex<Vec<apim_wire::analytics::AnalyticsBatch>>,
    answer: fn() -> Result<(), apim_sync::CallError>,
}

impl apim_traffic_manager::AnalyticsRelay for ControlPlaneStandIn {
    fn relay<'a>(
        &'a self,
        batch: &'a apim_wire::analytics::AnalyticsBatch,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), apim_sync::CallError>> + Send + 'a>> {
        Box::pin(async move {
            let answer = (self.answer)();
            if answer.is_ok() {
                self.taken.lock().expect("lock").push(batch.clone());
            }
            answer
        })
    }
}

fn analytics_batch(gateway: &str) -> apim_wire::analytics::AnalyticsBatch {
    let mut latency = apim_wire::analytics::Sketch::default();
    latency.add(420);
    apim_wire::analytics::AnalyticsBatch {
        gateway_id: gateway.into(),
        run_id: "run".into(),
        rows: vec![apim_wire::analytics::MinuteRow {
            minute: 1_700_000_040,
            api_id: "a".into(),
            api_name: "Orders".into(),
            api_version: "1.0.0".into(),
            resource: "/orders".into(),
            method: "GET".into(),
            application_id: String::new(),
            application_name: String::new(),
            application_owner: String::new(),
            key_type: apim_wire::KeyType::Production,
            status_class: 2,
            requests: 1,
            throttled: 0,
            blocked: 0,
            gateway_errors: 0,
            latency,
            backend_latency: apim_wire::analytics::Sketch::default(),
        }],
        dropped: 0,
    }
}

#[tokio::test]
async fn analytics_batches_pass_on_to_the_control_plane_or_say_why_not() {
    use apim_wire::throttle::AnalyticsBatch as Wire;
    let (tm, channel) = serve().await;
    let call = |batch: Wire, auth: &'static str| {
        let mut client = UsageClient::new(channel.clone());
        async move { client.analytics(authorized(batch, auth)).await.map(drop).map_err(|s| (s.code(), s.message().to_string())) }
    };
    let good = Wire::from(&analytics_batch("gw1"));
    let (code, _) = call(good.clone(), BASIC).await.expect_err("no control plane to pass it to yet");
    assert_eq!(code, tonic::Code::Unavailable);
    let (code, _) = call(good.clone(), "Basic d3Jvbmc6d3Jvbmc=").await.expect_err("wrong credentials");
    assert_eq!(code, tonic::Code::Unauthenticated);

    let cp = std::sync::Arc::new(ControlPlaneStandIn { taken: Default::default(), answer: || Ok(()) });
    tm.relay_analytics_to(cp.clone());
    call(good.clone(), BASIC).await.expect("passed on");
    assert_eq!(*cp.taken.lock().expect("lock"), [analytics_batch("gw1")], "the batch as the gateway had it");

    // A malformed batch is refused here, naming the field, and goes no further.
    let mut bad = good.clone();
    if let Some(s) = bad.rows[0].latency.as_mut() {
        s.counts.clear();
    }
    let (code, message) = call(bad, BASIC).await.expect_err("malformed");
    assert_eq!(code, tonic::Code::InvalidArgument);
    assert!(message.contains("rows[0].latency.counts"), "{message}");
    let (code, message) = call(Wire::from(&analytics_batch("")), BASIC).await.expect_err("no gateway id");
    assert_eq!((code, message.as_str()), (tonic::Code::InvalidArgument, "analytics batch: gatewayId is empty"));
    assert_eq!(cp.taken.lock().expect("lock").len(), 1);

    let metrics = tm.metrics_text();
    assert!(metrics.contains("apim_tm_analytics_batches_total{outcome=\"relayed\"} 1"), "{metrics}");
    assert!(metrics.contains("apim_tm_analytics_batches_total{outcome=\"refused\"} 2"), "{metrics}");
    assert!(metrics.contains("apim_tm_analytics_batches_total{outcome=\"unrelayed\"} 1"), "{metrics}");
}

#[tokio::test]
async fn a_control_plane_s_refusal_or_absence_reaches_the_gateway() {
    use apim_wire::throttle::AnalyticsBatch as Wire;
    for (answer, want) in [
        (
            (|| Err(apim_sync::CallError::Refused("https://cp:9443 answered 400 Bad Request: rows[0].minute".into())))
                as fn() -> Result<(), apim_sync::CallError>,
            tonic::Code::InvalidArgument,
        ),
        (|| Err(apim_sync::CallError::Unreachable(vec!["https://cp:9443: connection refused".into()])), tonic::Code::Unavailable),
    ] {
        let (tm, channel) = serve().await;
        tm.relay_analytics_to(std::sync::Arc::new(ControlPlaneStandIn { taken: Default::default(), answer }));
        let status = UsageClient::new(channel.clone())
            .analytics(authorized(Wire::from(&analytics_batch("gw1")), BASIC))
            .await
            .expect_err("not stored");
        assert_eq!(status.code(), want, "{}", status.message());
        assert!(status.message().contains("cp:9443"), "the control plane's words reach the gateway: {}", status.message());
    }
}
