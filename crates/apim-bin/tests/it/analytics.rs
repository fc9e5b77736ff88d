//! Analytics through real processes: a control plane, a traffic manager and two gateway nodes. The summaries the
//! Publisher, DevPortal and Admin APIs answer add up to the requests sent, per gateway, application, resource and
//! status class; a gateway restarted in the middle counts nothing twice; a subscriber cannot read another's
//! application (403). The gateways' rows go through the traffic manager, and to the control plane directly once
//! it is gone.

use std::time::Duration;

use apim_test_support::process::{Node, free_offset};
use apim_test_support::topology::{event_hub_client, node_header, spawn_node, write_control_plane};
use apim_test_support::{TempDir, http};
use serde_json::{Value, json};

use super::gateway::{Mgmt, get};
use super::{apim, base64_encode, wait_ready};

const CP_PORTS: &[u16] = &[9443, 9763, 5672];
const TM_PORTS: &[u16] = &[9443, 9763, 5672, 9611, 9711];
const GW_PORTS: &[u16] = &[9443, 9763, 8280, 8243, 9099, 8099];

async fn ready(node: &mut Node) -> String {
    let https = node.url("management-https", Duration::from_secs(20));
    let r = wait_ready(&https, Duration::from_secs(30)).await;
    assert_eq!(r.status, 200, "{}\n{}", r.body, node.stderr());
    https
}

/// Polls a summary until `requests` reaches `want` (the gateways send every 5 s).
async fn summary_with(m: &Mgmt, path: &str, want: u64) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let s = m.ok("GET", path, Value::Null).await;
        if s["requests"].as_u64() == Some(want) || std::time::Instant::now() > deadline {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Asks until the answer is 200 (at most 20 s); every status seen, the 200 last.
async fn until_ok(url: &str, token: &str) -> Vec<u16> {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    loop {
        let status = get(url, Some(token)).await.status;
        seen.push(status);
        if status == 200 || std::time::Instant::now() > deadline {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn count_of(list: &Value, key: &str, name: &str) -> u64 {
    list.as_array().into_iter().flatten().find(|x| x[key] == name).and_then(|x| x["requests"].as_u64()).unwrap_or(0)
}

#[tokio::test]
async fn analytics_add_up_across_gateways_and_restarts() {
    let dir = TempDir::new("apim-analytics");
    let d = dir.path();
    let cp_off = free_offset(CP_PORTS);
    write_control_plane(d, cp_off, "").expect("write");
    let mut cp = spawn_node(&apim(), d, "control-plane", "cp", &[]);
    let cp_https = ready(&mut cp).await;

    let tm_off = free_offset(TM_PORTS);
    std::fs::write(
        d.join("tm.toml"),
        format!(
            "{}[database.shared_db]\ntype = \"sqlite\"\nurl = \"jdbc:sqlite:tm/shared.db\"\n{}[apim.throttling]\nthrottle_decision_endpoints = [\"tcp://localhost:{}\"]\n",
            node_header(tm_off),
            event_hub_client(cp_off),
            5672 + tm_off
        ),
    )
    .expect("write");
    let mut tm = spawn_node(&apim(), d, "traffic-manager", "tm", &[]);
    let tm_https = ready(&mut tm).await;

    let mut gws = Vec::new();
    let mut traffic = Vec::new();
    for name in ["gw1", "gw2"] {
        let off = free_offset(GW_PORTS);
        std::fs::write(
            d.join(format!("{name}.toml")),
            format!(
                "{}{}[apim.sync_runtime_artifacts.gateway]\ngateway_labels = [\"Default\"]\n[apim.throttling]\n\
                 throttle_decision_endpoints = [\"tcp://localhost:{}\"]\n[[apim.throttling.url_group]]\n\
                 traffic_manager_urls = [\"tcp://localhost:{}\"]\ntraffic_manager_auth_urls = [\"ssl://localhost:{}\"]\n\
                 [apim.analytics]\ntype = \"elk\"\n",
                node_header(off),
                event_hub_client(cp_off),
                5672 + tm_off,
                9611 + tm_off,
                9711 + tm_off
            ),
        )
        .expect("write");
        let mut gw = spawn_node(&apim(), d, "gateway", name, &[]);
        ready(&mut gw).await;
        traffic.push(gw.url("gateway-http", Duration::from_secs(1)));
        gws.push(gw);
    }

    let m = Mgmt { base: cp_https.clone(), auth: format!("Basic {}", base64_encode("admin:admin")) };
    let backend = apim_test_support::backend::spawn("127.0.0.1:0".parse().expect("addr")).await.expect("backend");
    let api = m
        .publish(json!({"name": "Counted", "context": "/counted", "version": "1.0.0", "policies": ["Unlimited"],
            "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": format!("http://{backend}/b")}},
            "operations": [{"target": "/items", "verb": "GET"}, {"target": "/open", "verb": "GET", "authType": "None"}]}))
        .await;
    let (app, ck, cs) = m.app("Shop", "Unlimited", "JWT", "PRODUCTION").await;
    m.subscribe(&api, &app, "Unlimited").await;
    let jwt = m.token(&ck, &cs, "").await;
    // Until both gateways serve the API with its subscription: what they answered before that counts too when it
    // reached the API (a 403 before the subscription arrived), except 404s from before the API did.
    let mut early = [0u64; 2];
    let mut early_errors = 0;
    for (i, t) in traffic.iter().enumerate() {
        for status in until_ok(&format!("{t}/counted/1.0.0/items"), &jwt).await {
            if status != 404 {
                early[i] += 1;
                early_errors += u64::from(status != 200);
            }
        }
    }
    let send = async |base: &str, path: &str, token: Option<&str>, n: usize, status: u16| {
        for _ in 0..n {
            let r = get(&format!("{base}/counted/1.0.0{path}"), token).await;
            assert_eq!(r.status, status, "{}", r.body);
        }
    };
    send(&traffic[0], "/items", Some(&jwt), 29, 200).await;
    send(&traffic[1], "/items", Some(&jwt), 19, 200).await;
    send(&traffic[0], "/items", None, 5, 401).await;
    send(&traffic[1], "/open", None, 3, 200).await;
    let (gw1, gw2) = (34 + early[0], 22 + early[1]);
    let pb = format!("/api/am/publisher/v4/apis/{api}/analytics?period=15m");
    let total = gw1 + gw2;
    let s = summary_with(&m, &pb, total).await;
    assert_eq!(s["requests"], total, "{s}\n{}", gws[0].stderr());
    assert_eq!(s["byStatusClass"]["2xx"].as_u64(), Some(total - 5 - early_errors), "{s}");
    assert_eq!(s["byStatusClass"]["4xx"].as_u64(), Some(5 + early_errors), "{s}");
    assert_eq!(s["errors"].as_u64(), Some(5 + early_errors), "{s}");
    assert_eq!(s["gatewayErrors"].as_u64(), Some(5 + early_errors), "the 401s (and 403s) were the gateway's own: {s}");
    assert_eq!(count_of(&s["byApplication"], "name", "Shop"), 50, "{s}");
    assert_eq!(count_of(&s["byResource"], "resource", "/items"), total - 3, "{s}");
    assert_eq!(count_of(&s["byResource"], "resource", "/open"), 3, "{s}");
    let nodes: Vec<u64> = s["byGateway"].as_array().expect("by gateway").iter().filter_map(|g| g["requests"].as_u64()).collect();
    assert_eq!(nodes.len(), 2, "{s}");
    assert!(nodes.contains(&gw1) && nodes.contains(&gw2), "{gw1} and {gw2} by gateway: {s}");
    assert!(s["latency"]["p99"].as_f64().is_some_and(|p| p > 0.0), "{s}");
    assert!(s["backendLatency"]["p50"].as_f64().is_some_and(|p| p > 0.0), "{s}");
    assert!(s["latency"]["p50"].as_f64() >= s["backendLatency"]["p50"].as_f64(), "the backend's share is within the whole: {s}");
    assert_eq!(s["series"].as_array().map(Vec::len), Some(15), "{s}");

    // A gateway restarted: its earlier rows stay as they were, its new ones add up; nothing counted twice.
    gws[0].terminate();
    gws[0] = spawn_node(&apim(), d, "gateway", "gw1", &[]);
    ready(&mut gws[0]).await;
    traffic[0] = gws[0].url("gateway-http", Duration::from_secs(1));
    send(&traffic[0], "/items", Some(&jwt), 10, 200).await;
    let s = summary_with(&m, &pb, total + 10).await;
    assert_eq!(s["requests"].as_u64(), Some(total + 10), "{s}");
    tokio::time::sleep(Duration::from_secs(6)).await;
    let s = m.ok("GET", &pb, Value::Null).await;
    assert_eq!(s["requests"].as_u64(), Some(total + 10), "a later batch changes nothing already counted: {s}");

    // The DevPortal shows an application's usage to its owner; another subscriber is refused.
    let dp = format!("/api/am/devportal/v3/applications/{app}/analytics?period=1h");
    let s = summary_with(&m, &dp, 60).await;
    assert_eq!(s["requests"], 60, "{s}");
    assert_eq!(count_of(&s["byApi"], "name", "Counted"), 60, "{s}");
    let bob = m.sign_up("bob", "bob-secret-1").await;
    let r = bob.call("GET", &dp, Value::Null).await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = bob.call("GET", "/api/am/admin/v4/analytics", Value::Null).await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = m.call("GET", &format!("/api/am/publisher/v4/apis/{api}/analytics?period=2y"), Value::Null).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("period"), "{}", r.body);

    // The platform: everything, by API.
    let s = summary_with(&m, "/api/am/admin/v4/analytics?period=15m", total + 10).await;
    assert_eq!(count_of(&s["byApi"], "name", "Counted"), total + 10, "{s}");

    // The internal data service refuses a peer's bad batch whole, naming the field.
    let bad = json!({"gatewayId": "x", "runId": "r", "dropped": 0, "rows": [{"minute": 61, "apiId": "a", "apiName": "", "apiVersion": "",
        "resource": "", "method": "", "applicationId": "", "applicationName": "", "applicationOwner": "", "keyType": "PRODUCTION",
        "statusClass": 2, "requests": 1, "throttled": 0, "gatewayErrors": 0, "latency": {"buckets": [], "sumUs": 0},
        "backendLatency": {"buckets": [], "sumUs": 0}}]});
    let r = m.internal("/analytics", &bad).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("rows[0].minute"), "{}", r.body);
    // The Grafana dashboard reads only what these nodes export.
    let mut exported = String::new();
    for g in &mut gws {
        let mgmt = g.url("management-https", Duration::from_secs(1));
        exported.push_str(&http::get(&format!("{mgmt}/metrics")).await.expect("metrics").body);
    }
    exported.push_str(&http::get(&format!("{tm_https}/metrics")).await.expect("metrics").body);
    dashboard_reads_exported_metrics(&exported);

    // The gateways sent their rows with their usage, to the traffic manager, which passed them on.
    let tm_metrics = http::get(&format!("{tm_https}/metrics")).await.expect("metrics").body;
    let relayed = tm_metrics
        .lines()
        .find_map(|l| l.strip_prefix("apim_tm_analytics_batches_total{outcome=\"relayed\"} "))
        .and_then(|n| n.parse::<u64>().ok());
    assert!(relayed.is_some_and(|n| n >= 3), "{tm_metrics}");
    // Without a traffic manager to take them, a gateway sends its rows to the control plane itself.
    tm.terminate();
    send(&traffic[1], "/items", Some(&jwt), 4, 200).await;
    let s = summary_with(&m, &pb, total + 14).await;
    assert_eq!(s["requests"].as_u64(), Some(total + 14), "{s}\n{}", gws[1].stderr());
    assert!(gws[1].stderr().contains("no traffic manager took analytics"), "{}", gws[1].stderr());
    for n in gws.iter().chain([&cp, &tm]) {
        assert!(!n.stderr().contains("panicked"), "{}", n.stderr());
    }
}

/// Every query of `deploy/grafana/apim-rs.json` names metrics that appear in `exported` (Prometheus text), and
/// every label it groups by is on that metric.
fn dashboard_reads_exported_metrics(exported: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/grafana/apim-rs.json");
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("dashboard")).expect("dashboard JSON");
    let exprs: Vec<&str> = dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .flat_map(|p| p["targets"].as_array().into_iter().flatten())
        .filter_map(|t| t["expr"].as_str())
        .collect();
    assert!(exprs.len() >= 20, "{} queries", exprs.len());
    let lines: Vec<&str> = exported.lines().filter(|l| !l.starts_with('#')).collect();
    let has = |name: &str| lines.iter().any(|l| l.strip_prefix(name).is_some_and(|rest| rest.starts_with(['{', ' '])));
    for expr in exprs {
        let names: Vec<&str> = expr
            .match_indices("apim_")
            .map(|(i, _)| {
                let rest = &expr[i..];
                &rest[..rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len())]
            })
            .collect();
        assert!(!names.is_empty(), "{expr} names no metric");
        for name in &names {
            assert!(has(name), "{name} (in {expr}) is not exported:\n{exported}");
        }
        if let Some(i) = expr.find("by (") {
            let label = &expr[i + 4..i + 4 + expr[i + 4..].find(')').expect("closed")];
            let name = names[0];
            assert!(
                label == "le" || label == "instance" || lines.iter().any(|l| l.starts_with(name) && l.contains(&format!("{label}=\""))),
                "{name} has no label {label} (in {expr})"
            );
        }
    }
}

/// The DevPortal's quota used: a daily subscription plan of 5 requests, used up and then refused (429); the
/// application's Unlimited plan; counted from the gateway's analytics rows through the real all-in-one.
#[tokio::test]
async fn quota_used_counts_the_current_window() {
    let (_dir, mut node, https, _) = super::ready_all_in_one("apim-quota").await;
    let gw = node.url("gateway-http", Duration::from_secs(5));
    let m = Mgmt { base: https.clone(), auth: format!("Basic {}", base64_encode("admin:admin")) };
    m.ok(
        "POST",
        "/api/am/admin/v4/throttling/policies/subscription",
        json!({"policyName": "Daily5", "stopOnQuotaReach": true,
               "defaultLimit": {"type": "REQUESTCOUNTLIMIT", "requestCount": {"timeUnit": "day", "unitTime": 1, "requestCount": 5}}}),
    )
    .await;
    let backend = apim_test_support::backend::spawn("127.0.0.1:0".parse().expect("addr")).await.expect("backend");
    let api = m
        .publish(json!({"name": "Metered", "context": "/metered", "version": "1.0.0", "policies": ["Daily5"],
            "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": format!("http://{backend}/b")}},
            "operations": [{"target": "/items", "verb": "GET"}]}))
        .await;
    let (app, ck, cs) = m.app("Metered app", "Unlimited", "JWT", "PRODUCTION").await;
    let sub = m.subscribe(&api, &app, "Daily5").await;
    let jwt = m.token(&ck, &cs, "").await;
    let url = format!("{gw}/metered/1.0.0/items");
    // Until the gateway serves the subscription (refusals before it are the gateway's own, not quota used).
    let first = super::gateway::eventually(&url, Some(&jwt), 200).await;
    assert_eq!(first.status, 200, "{}\n{}", first.body, node.stderr());
    let statuses: Vec<u16> = statuses_of(&url, &jwt, 6).await;
    assert_eq!(statuses, [200, 200, 200, 200, 429, 429], "five a day, the first included");

    let path = format!("/api/am/devportal/v3/applications/{app}/analytics/quota");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let report = loop {
        let r = m.ok("GET", &path, Value::Null).await;
        let s = &r["subscriptions"][0];
        if (s["used"] == 5 && s["refused"].as_u64() >= Some(2)) || std::time::Instant::now() > deadline {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let s = &report["subscriptions"][0];
    assert_eq!(s["subscriptionId"], sub.as_str(), "{report}");
    assert_eq!((&s["apiName"], &s["apiVersion"], &s["policy"]), (&json!("Metered"), &json!("1.0.0"), &json!("Daily5")), "{report}");
    assert_eq!(s["limit"], json!({"requests": 5, "windowSeconds": 86400}), "{report}");
    assert_eq!(s["used"], 5, "{report}");
    assert!(s["refused"].as_u64() >= Some(2), "the two 429s at least: {report}");
    let day = |t: &Value| t.as_str().map(|t| t.ends_with("T00:00:00Z"));
    assert_eq!((day(&s["windowStart"]), day(&s["windowEnd"])), (Some(true), Some(true)), "the UTC day: {report}");
    let a = &report["application"];
    assert_eq!((&a["policy"], &a["limit"]), (&json!("Unlimited"), &Value::Null), "{report}");
    assert!(a["used"].as_u64().is_some(), "counted over the current minute: {report}");

    // Only the owner reads it; an unknown application is a 404.
    let carol = m.sign_up("carol", "carol-secret-1").await;
    let r = carol.call("GET", &path, Value::Null).await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = m.call("GET", "/api/am/devportal/v3/applications/no-such-app/analytics/quota", Value::Null).await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(!node.stderr().contains("panicked"), "{}", node.stderr());
}

/// `n` requests one after the other; their statuses.
async fn statuses_of(url: &str, token: &str, n: usize) -> Vec<u16> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(get(url, Some(token)).await.status);
    }
    out
}
