//! Cluster-wide throttling with real processes: a control plane, two traffic managers (each forwarding its
//! decisions to the other, `event_duplicate_url`) and two gateways reporting to both (two url_groups). One
//! subscription quota holds across both gateways; it keeps holding when a traffic manager is killed under load;
//! a restarted traffic manager rebuilds its windows from the gateways (no early throttling, no lost quota); with
//! both gone, each gateway follows its fail mode.

use std::time::Duration;

use apim_test_support::load::{Outcome, offer};
use apim_test_support::process::{Node, free_offset};
use apim_test_support::topology::{event_hub_client, node_header, spawn_node, write_control_plane};
use apim_test_support::{TempDir, http};
use serde_json::{Value, json};

use super::gateway::{Mgmt, code, eventually, get};
use super::{apim, base64_encode, wait_ready};

const CP_PORTS: &[u16] = &[9443, 9763, 5672];
const TM_PORTS: &[u16] = &[9443, 9763, 5672, 9611, 9711];
const GW_PORTS: &[u16] = &[9443, 9763, 8280, 8243, 9099, 8099];

fn traffic_manager_config(offset: u16, peer: u16, cp: u16, name: &str) -> String {
    format!(
        "{}[database.shared_db]\ntype = \"sqlite\"\nurl = \"jdbc:sqlite:{name}/shared.db\"\n{}\
         [apim.throttling]\nevent_duplicate_url = [\"tcp://localhost:{}\"]\nthrottle_decision_endpoints = [\"tcp://localhost:{}\"]\n",
        node_header(offset),
        event_hub_client(cp),
        5672 + peer,
        5672 + offset
    )
}

fn gateway_config(offset: u16, cp: u16, tms: [u16; 2], fail_mode: &str) -> String {
    format!(
        "{}{}[apim.sync_runtime_artifacts.gateway]\ngateway_labels = [\"Default\"]\n\
         [apim.throttling]\nfail_mode = \"{fail_mode}\"\nthrottle_decision_endpoints = [\"tcp://localhost:{}\", \"tcp://localhost:{}\"]\n\
         [[apim.throttling.url_group]]\ntraffic_manager_urls = [\"tcp://localhost:{}\"]\ntraffic_manager_auth_urls = [\"ssl://localhost:{}\"]\n\
         [[apim.throttling.url_group]]\ntraffic_manager_urls = [\"tcp://localhost:{}\"]\ntraffic_manager_auth_urls = [\"ssl://localhost:{}\"]\n",
        node_header(offset),
        event_hub_client(cp),
        5672 + tms[0],
        5672 + tms[1],
        9611 + tms[0],
        9711 + tms[0],
        9611 + tms[1],
        9711 + tms[1]
    )
}

fn spawn(dir: &std::path::Path, role: &str, name: &str) -> Node {
    spawn_node(&apim(), dir, role, name, &[])
}

async fn ready(node: &mut Node) -> String {
    let https = node.url("management-https", Duration::from_secs(20));
    let r = wait_ready(&https, Duration::from_secs(30)).await;
    assert_eq!(r.status, 200, "{}\n{}", r.body, node.stderr());
    node.url("management-http", Duration::from_secs(1))
}

/// A figure from `/metrics` (0 when absent or the node does not answer).
async fn metric(mgmt: &str, name: &str) -> i64 {
    let Ok(r) = http::get(&format!("{mgmt}/metrics")).await else { return 0 };
    r.body.lines().find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok())).unwrap_or(0)
}

async fn until(what: &str, timeout: Duration, mut check: impl AsyncFnMut() -> bool) {
    let deadline = std::time::Instant::now() + timeout;
    while !check().await {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Admitted requests must be the quota within 2 %, plus what arrives during one batch interval at the offered
/// rate (and a few requests in flight).
pub(crate) fn assert_quota(what: &str, admitted: u64, quota: u64, out: &Outcome, logs: &dyn Fn() -> String) {
    let slack = (out.rate() * 0.020).ceil() as u64 + 4;
    let (low, high) = (quota - quota / 50, quota + quota / 50 + slack);
    assert!(
        (low..=high).contains(&admitted),
        "{what}: {admitted} admitted for a quota of {quota} (allowed {low}..={high}; offered {:.0}/s: {:?})\n{}",
        out.rate(),
        out.by_status,
        logs()
    );
    eprintln!("{what}: {admitted} admitted for a quota of {quota} at {:.0} requests/s offered ({:?})", out.rate(), out.by_status);
}

/// Waits until at least `needed` of the current window (aligned to `window`) is left.
pub(crate) async fn room_in_window(window: Duration, needed: Duration) {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock");
    let into = Duration::from_millis((now.as_millis() % window.as_millis()) as u64);
    if window - into < needed {
        tokio::time::sleep(window - into + Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn one_quota_across_two_gateways_and_two_traffic_managers() {
    let dir = TempDir::new("apim-tm");
    let d = dir.path();
    let cp_off = free_offset(CP_PORTS);
    write_control_plane(d, cp_off, "").expect("write");
    let mut cp = spawn(d, "control-plane", "cp");
    ready(&mut cp).await;
    let cp_https = cp.url("management-https", Duration::from_secs(1));

    let tm_off = [free_offset(TM_PORTS), free_offset(TM_PORTS)];
    assert_ne!(tm_off[0], tm_off[1]);
    let mut tms = Vec::new();
    for (i, name) in ["tm1", "tm2"].into_iter().enumerate() {
        std::fs::write(d.join(format!("{name}.toml")), traffic_manager_config(tm_off[i], tm_off[1 - i], cp_off, name)).expect("write");
        tms.push(spawn(d, "traffic-manager", name));
    }
    let mut tm_mgmt = Vec::new();
    for tm in tms.iter_mut() {
        tm_mgmt.push(ready(tm).await);
        assert!(tm.url("traffic-manager-usage-tls", Duration::from_secs(1)).starts_with("ssl://"));
    }
    let gw_off = [free_offset(GW_PORTS), free_offset(GW_PORTS)];
    let mut gws = Vec::new();
    let mut traffic = Vec::new();
    let mut gw_mgmt = Vec::new();
    for (i, (name, mode)) in [("gw1", "fail_open"), ("gw2", "fail_closed")].into_iter().enumerate() {
        std::fs::write(d.join(format!("{name}.toml")), gateway_config(gw_off[i], cp_off, tm_off, mode)).expect("write");
        let mut gw = spawn(d, "gateway", name);
        gw_mgmt.push(ready(&mut gw).await);
        traffic.push(gw.url("gateway-http", Duration::from_secs(1)));
        gws.push(gw);
    }

    // One subscription policy per minute for the accuracy check, one per hour for the faults (a phase must not
    // cross its window's end).
    let m = Mgmt { base: cp_https.clone(), auth: format!("Basic {}", base64_encode("admin:admin")) };
    let quota = 300u64;
    for (name, unit) in [("PerMinute300", "min"), ("PerHour300", "hour")] {
        m.ok(
            "POST",
            "/api/am/admin/v4/throttling/policies/subscription",
            json!({"policyName": name, "stopOnQuotaReach": true,
                   "defaultLimit": {"type": "REQUESTCOUNTLIMIT", "requestCount": {"timeUnit": unit, "unitTime": 1, "requestCount": quota}}}),
        )
        .await;
    }
    let backend = apim_test_support::backend::spawn("127.0.0.1:0".parse().expect("addr")).await.expect("backend");
    let api = m
        .publish(json!({"name": "Quota", "context": "/quota", "version": "1.0.0", "policies": ["PerMinute300", "PerHour300"],
            "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": format!("http://{backend}/b")}},
            "operations": [{"target": "/items", "verb": "GET"}]}))
        .await;
    let urls: Vec<String> = traffic.iter().map(|t| format!("{t}/quota/1.0.0/items")).collect();
    let logs = |nodes: &[&Node]| nodes.iter().map(|n| n.stderr()).collect::<Vec<_>>().join("\n----\n");
    let subscriber = async |name: &str, policy: &str| {
        let (app, ck, cs) = m.app(name, "Unlimited", "JWT", "PRODUCTION").await;
        m.subscribe(&api, &app, policy).await;
        let token = m.token(&ck, &cs, "").await;
        for url in &urls {
            assert_eq!(eventually(url, Some(&token), 200).await.status, 200);
        }
        vec![("authorization".to_string(), format!("Bearer {token}"))]
    };

    // Accuracy: ten times the quota offered over both gateways; the check requests above count too.
    let headers = subscriber("Accuracy", "PerMinute300").await;
    room_in_window(Duration::from_secs(60), Duration::from_secs(30)).await;
    let out = offer(&urls, &headers, 10 * quota, 16, None).await;
    let admitted = out.count(200) + urls.len() as u64;
    assert_eq!(out.count(200) + out.count(429), out.total(), "{:?}", out.by_status);
    assert_quota("two gateways, two traffic managers", admitted, quota, &out, &|| logs(&[&gws[0], &gws[1], &tms[0], &tms[1]]));
    // Each traffic manager decided on its own and passed its decisions to the other.
    for mgmt in &tm_mgmt {
        assert!(metric(mgmt, "apim_tm_decisions_total").await >= 1);
        assert!(metric(mgmt, "apim_tm_decisions_forwarded_total{direction=\"in\"}").await >= 1);
        assert_eq!(metric(mgmt, "apim_tm_gateways").await, 2);
    }
    // The Admin API lists both traffic managers, each counting for both gateways, and the decision in force
    // (the minute's window is still open: at least 30 s of it were left when the load began).
    let mut seen = Value::Null;
    until("the traffic managers' reports with the decision in force", Duration::from_secs(15), async || {
        seen = m.ok("GET", "/api/am/admin/v4/traffic-managers", Value::Null).await;
        let list = seen["list"].as_array().cloned().unwrap_or_default();
        let decided = |t: &Value| {
            t["inForce"]
                .as_array()
                .is_some_and(|d| d.iter().any(|d| d["condition"] == "subscription" && d["quota"] == quota && d["forwarded"] == false))
        };
        list.len() == 2 && list.iter().all(|t| t["gateways"] == 2) && list.iter().any(decided)
    })
    .await;
    let names: Vec<&str> = seen["list"].as_array().into_iter().flatten().filter_map(|t| t["nodeId"].as_str()).collect();
    assert_eq!(names.len(), 2, "{seen}");
    let r = m.call("GET", "/api/am/admin/v4/traffic-managers", Value::Null).await;
    assert_eq!(r.status, 200);
    let nobody = Mgmt { base: cp_https.clone(), auth: format!("Basic {}", base64_encode("admin:wrong")) };
    assert_eq!(nobody.call("GET", "/api/am/admin/v4/traffic-managers", Value::Null).await.status, 401);
    // A peer's bad report is refused whole, naming the field.
    let bad = json!({"nodeId": "tm9", "version": "1", "gateways": 0, "keys": 0, "decisionsMade": 0, "inForceTotal": 1,
        "inForce": [{"key": "", "condition": "subscription", "throttledUntilMs": 1, "forwarded": false}]});
    let r = m.internal("/traffic-managers", &bad).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("inForce[0].key"), "{}", r.body);

    // A traffic manager killed under load: the other keeps deciding; the quota holds.
    let headers = subscriber("KillOne", "PerHour300").await;
    room_in_window(Duration::from_secs(3600), Duration::from_secs(90)).await;
    let load = {
        let (urls, headers) = (urls.clone(), headers.clone());
        tokio::spawn(async move { offer(&urls, &headers, 10 * quota, 8, Some(1000.0)).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    tms[0].signal("KILL");
    let out = load.await.expect("load");
    assert_quota("one traffic manager killed under load", out.count(200) + urls.len() as u64, quota, &out, &|| logs(&[&gws[0], &tms[1]]));
    assert_eq!(out.count(200) + out.count(429), out.total(), "{:?}", out.by_status);

    // Half the quota used, then the killed traffic manager restarts, and the other is killed: the restarted one
    // rebuilt its windows from the gateways, so the second half is admitted (no early throttling) and no more
    // (no lost quota).
    let headers = subscriber("Restart", "PerHour300").await;
    let half = quota / 2 - urls.len() as u64;
    let first = offer(&urls, &headers, half, 4, None).await;
    assert_eq!(first.count(200), half, "{:?}", first.by_status);
    tms[0] = spawn(d, "traffic-manager", "tm1");
    ready(&mut tms[0]).await;
    until("both gateways reporting to the restarted traffic manager", Duration::from_secs(15), async || {
        metric(&tm_mgmt[0], "apim_tm_usage_streams").await == 2
    })
    .await;
    for g in &gw_mgmt {
        until("decision streams from both traffic managers", Duration::from_secs(15), async || {
            metric(g, "apim_gateway_decision_streams").await == 2
        })
        .await;
    }
    tms[1].signal("KILL");
    for g in &gw_mgmt {
        until("the gateways noticing the second traffic manager gone", Duration::from_secs(10), async || {
            metric(g, "apim_gateway_decision_streams").await == 1
        })
        .await;
    }
    let rest = offer(&urls, &headers, 10 * quota, 8, None).await;
    let admitted = quota / 2 + rest.count(200);
    assert_quota("after a restart", admitted, quota, &rest, &|| logs(&[&gws[0], &gws[1], &tms[0]]));

    // Both gone: the fail_open gateway admits (its own counts still limit), the fail_closed one answers 503.
    let headers = subscriber("FailModes", "PerHour300").await;
    tms[0].signal("KILL");
    for g in &gw_mgmt {
        until("the gateways noticing no traffic manager", Duration::from_secs(15), async || {
            metric(g, "apim_gateway_throttle_degraded").await == 1
        })
        .await;
    }
    let token = &headers[0].1["Bearer ".len()..];
    let open = get(&urls[0], Some(token)).await;
    assert_eq!(open.status, 200, "fail_open: {}", open.body);
    let closed = get(&urls[1], Some(token)).await;
    assert_eq!((closed.status, code(&closed).as_str()), (503, "900811"), "fail_closed: {}", closed.body);
    assert!(closed.headers.contains_key("retry-after"));
    assert!(gws[0].stderr().contains("fail_open"), "{}", gws[0].stderr());
    assert!(gws[1].stderr().contains("fail_closed"), "{}", gws[1].stderr());

    for n in gws.iter().chain(tms.iter()).chain([&cp]) {
        assert!(!n.stderr().contains("panicked"), "{}", n.stderr());
    }
}

/// An all-in-one node that names traffic managers reports its gateway's usage to them and takes their decisions,
/// so two all-in-one nodes could share quotas.
#[tokio::test]
async fn an_all_in_one_node_reports_to_its_traffic_manager() {
    let dir = TempDir::new("apim-aio-tm");
    let d = dir.path();
    let aio = free_offset(&[9443, 9763, 5672, 8280, 8243, 9099, 8099]);
    let tm = free_offset(TM_PORTS);
    let throttling = format!(
        "[apim.throttling]\nthrottle_decision_endpoints = [\"tcp://localhost:{}\"]\n[[apim.throttling.url_group]]\ntraffic_manager_urls = [\"tcp://localhost:{}\"]\n",
        5672 + tm,
        9611 + tm
    );
    write_control_plane(d, aio, &throttling).expect("write");
    let mut node = spawn_node(&apim(), d, "all-in-one", "cp", &[]);
    ready(&mut node).await;
    let https = node.url("management-https", Duration::from_secs(1));
    let traffic = node.url("gateway-http", Duration::from_secs(1));
    let mgmt = node.url("management-http", Duration::from_secs(1));
    std::fs::write(
        d.join("tm.toml"),
        format!(
            "{}[database.shared_db]\ntype = \"sqlite\"\nurl = \"jdbc:sqlite:tm/shared.db\"\n{}",
            node_header(tm),
            event_hub_client(aio)
        ),
    )
    .expect("write");
    let mut tm_node = spawn(d, "traffic-manager", "tm");
    let tm_mgmt = ready(&mut tm_node).await;

    let m = Mgmt { base: https, auth: format!("Basic {}", base64_encode("admin:admin")) };
    m.ok(
        "POST",
        "/api/am/admin/v4/throttling/policies/subscription",
        json!({"policyName": "Twenty", "defaultLimit": {"type": "REQUESTCOUNTLIMIT", "requestCount": {"timeUnit": "hour", "unitTime": 1, "requestCount": 20}}}),
    )
    .await;
    let backend = apim_test_support::backend::spawn("127.0.0.1:0".parse().expect("addr")).await.expect("backend");
    let api = m
        .publish(json!({"name": "Aio", "context": "/aio", "version": "1.0.0", "policies": ["Twenty"],
            "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": format!("http://{backend}/b")}},
            "operations": [{"target": "/r", "verb": "GET"}]}))
        .await;
    let (app, ck, cs) = m.app("AioApp", "Unlimited", "JWT", "PRODUCTION").await;
    m.subscribe(&api, &app, "Twenty").await;
    let token = m.token(&ck, &cs, "").await;
    let url = format!("{traffic}/aio/1.0.0/r");
    room_in_window(Duration::from_secs(3600), Duration::from_secs(60)).await;
    assert_eq!(eventually(&url, Some(&token), 200).await.status, 200);
    until("the gateway following the traffic manager", Duration::from_secs(15), async || {
        metric(&mgmt, "apim_gateway_decision_streams").await == 1 && metric(&mgmt, "apim_gateway_usage_streams").await == 1
    })
    .await;
    let out = offer(std::slice::from_ref(&url), &[("authorization".into(), format!("Bearer {token}"))], 100, 4, None).await;
    assert_eq!(out.count(200) + 1, 20, "{:?}", out.by_status);
    until("the traffic manager's decision", Duration::from_secs(10), async || metric(&tm_mgmt, "apim_tm_decisions_total").await >= 1).await;
    until("the decision at the gateway", Duration::from_secs(10), async || metric(&mgmt, "apim_gateway_decisions_total").await >= 1).await;
    for n in [&node, &tm_node] {
        assert!(!n.stderr().contains("panicked"), "{}", n.stderr());
    }
}
