//! Cluster-wide throttling (the traffic-manager issue's benchmark).
//!
//!     cargo build --release -p apim-bin && cargo run --release -p apim-bin --example throttling [QUOTA] [SECONDS]
//!
//! 1. Capacity: one traffic manager (`apim_traffic_manager`, its real gRPC service on loopback) on a
//!    single-threaded runtime of its own thread, fed by 50 simulated gateways as fast as it acknowledges. Each
//!    gateway stands for 20,000 requests/s over 1,000 subscriptions: every 20 ms batch carries the keys 400
//!    requests touched (uniformly drawn). Prints usage records and batches per second, the traffic manager
//!    thread's CPU time, records per CPU-second, and the gateway requests per second that corresponds to.
//! 2. Accuracy: a control plane, two traffic managers and two gateway nodes (`target/release/apim`), a
//!    subscription limit of QUOTA requests per minute (default 3,000), ten times that offered over both gateways
//!    from 16 keep-alive connections: admitted requests, the overshoot, and the bound the design implies (the
//!    offered rate × one batch interval).
//! 3. Cost on the gateway: requests/s through a gateway that reports usage (limits never reached) and through
//!    one that does not, same control plane, same load tool, rounds alternated, SECONDS each (default 5).

#[path = "common/mod.rs"]
mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use apim_test_support::TempDir;
use apim_test_support::load::offer;
use apim_test_support::process::{Node, free_offset};
use apim_test_support::topology::{event_hub_client, node_header, spawn_node, write_control_plane};
use apim_wire::throttle::{UsageBatch, UsageRecord, usage_client::UsageClient};
use common::{apim_bin, call, ready};
use serde_json::{Value, json};

const GATEWAYS: usize = 50;
const KEYS: usize = 1_000;
const REQUESTS_PER_BATCH: usize = 400;

/// CPU time of the calling thread (utime + stime from /proc, in seconds).
fn thread_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks: f64 =
        fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0) + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

async fn capacity(seconds: u64) -> anyhow::Result<()> {
    let tm = apim_traffic_manager::TrafficManager::new(apim_traffic_manager::Config {
        throttle_decision_endpoints: Vec::new(),
        event_hub_endpoints: Vec::new(),
        duplicate_urls: Vec::new(),
        skip_policies: Vec::new(),
        basic: "Basic YWRtaW46YWRtaW4=".into(),
    });
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    listener.set_nonblocking(true)?;
    let (usage, _) = tm.services();
    let (cpu_tx, cpu_rx) = std::sync::mpsc::channel::<f64>();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(async move {
            let l = tokio::net::TcpListener::from_std(listener).expect("listener");
            let incoming = tokio_stream::wrappers::TcpListenerStream::new(l);
            let start = thread_cpu();
            let _ = tonic::transport::Server::builder()
                .add_service(usage)
                .serve_with_incoming_shutdown(incoming, async {
                    let _ = stop_rx.await;
                })
                .await;
            let _ = cpu_tx.send(thread_cpu() - start);
        });
    });
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut gateways = Vec::new();
    for g in 0..GATEWAYS {
        gateways.push(tokio::spawn(async move {
            let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?.connect().await?;
            let mut client = UsageClient::new(channel);
            let (tx, rx) = tokio::sync::mpsc::channel::<UsageBatch>(8);
            let mut req = tonic::Request::new(tokio_stream::wrappers::ReceiverStream::new(rx));
            req.metadata_mut().insert("authorization", "Basic YWRtaW46YWRtaW4=".parse()?);
            let mut counts = vec![0u64; KEYS];
            let mut seed = 0x9E37_79B9_7F4A_7C15u64 ^ g as u64;
            let window_start =
                (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis() as u64) / 3_600_000 * 3_600_000;
            let mut batch = |seq: u64| {
                let mut touched = std::collections::BTreeSet::new();
                for _ in 0..REQUESTS_PER_BATCH {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let k = (seed % KEYS as u64) as usize;
                    counts[k] += 1;
                    touched.insert(k);
                }
                let records = touched
                    .into_iter()
                    .map(|k| UsageRecord {
                        key: format!("{k}:/shop/1.0.0:{k}"),
                        window_start_ms: window_start,
                        window_ms: 3_600_000,
                        quota: u64::MAX,
                        bytes: false,
                        used: counts[k],
                        condition: "subscription".into(),
                        refused: 0,
                        policy: "Bench".into(),
                    })
                    .collect();
                UsageBatch { gateway_id: format!("sim-{g}"), seq, records }
            };
            let (mut sent, mut acked) = (0u64, 0u64);
            for _ in 0..4 {
                sent += 1;
                tx.send(batch(sent)).await?;
            }
            let mut acks = client.report(req).await?.into_inner();
            while let Some(a) = acks.message().await? {
                acked = a.seq;
                if Instant::now() >= deadline {
                    break;
                }
                sent += 1;
                tx.send(batch(sent)).await?;
            }
            anyhow::Ok(acked)
        }));
    }
    let mut batches = 0u64;
    for g in gateways {
        batches += g.await??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let _ = stop_tx.send(());
    let cpu = cpu_rx.recv_timeout(Duration::from_secs(10)).unwrap_or(0.0);
    let _ = server.join();
    let records = tm.ledger.records.load(Ordering::Relaxed) as f64;
    let requests = batches as f64 * REQUESTS_PER_BATCH as f64;
    println!(
        "\n## Capacity: one traffic manager thread, {GATEWAYS} simulated gateways, {KEYS} keys, {REQUESTS_PER_BATCH} requests per batch"
    );
    println!("| figure | value |\n|---|---|");
    println!("| batches acknowledged | {batches} in {elapsed:.1} s ({:.0}/s) |", batches as f64 / elapsed);
    println!(
        "| usage records ingested | {:.0}/s ({:.0} per CPU-second of the traffic manager's thread) |",
        records / elapsed,
        records / cpu.max(1e-9)
    );
    println!("| traffic manager thread CPU | {cpu:.2} s of {elapsed:.1} s ({:.0} %) |", 100.0 * cpu / elapsed);
    println!(
        "| gateway requests represented | {:.0}/s; per CPU-second: {:.0} (target 1,000,000) |",
        requests / elapsed,
        requests / cpu.max(1e-9)
    );
    Ok(())
}

fn spawn(dir: &std::path::Path, role: &str, name: &str, extra: &[&str]) -> Node {
    let mut args = vec!["--log-level", "warn"];
    args.extend_from_slice(extra);
    spawn_node(&apim_bin(), dir, role, name, &args)
}

async fn token(mgmt: &str, cp_https: &str, api: &str, name: &str, policy: &str) -> anyhow::Result<String> {
    let app = call(mgmt, "POST", "/api/am/devportal/v3/applications", json!({"name": name, "throttlingPolicy": "Unlimited"})).await?;
    let app_id = app["applicationId"].as_str().unwrap_or_default().to_string();
    let keys = call(
        mgmt,
        "POST",
        &format!("/api/am/devportal/v3/applications/{app_id}/generate-keys"),
        json!({"keyType": "PRODUCTION", "grantTypesToBeSupported": ["client_credentials"]}),
    )
    .await?;
    let (ck, cs) = (keys["consumerKey"].as_str().unwrap_or_default(), keys["consumerSecret"].as_str().unwrap_or_default());
    call(mgmt, "POST", "/api/am/devportal/v3/subscriptions", json!({"apiId": api, "applicationId": app_id, "throttlingPolicy": policy}))
        .await?;
    let basic = {
        use base64::Engine;
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{ck}:{cs}")))
    };
    let form = [("authorization", basic.as_str()), ("content-type", "application/x-www-form-urlencoded")];
    let t = apim_test_support::http::request("POST", &format!("{cp_https}/oauth2/token"), &form, "grant_type=client_credentials").await?;
    Ok(t.json()["access_token"].as_str().unwrap_or_default().to_string())
}

async fn until_200(url: &str, token: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let bearer = format!("Bearer {token}");
    while apim_test_support::http::request("GET", url, &[("authorization", &bearer)], "").await?.status != 200 {
        anyhow::ensure!(Instant::now() < deadline, "{url} never answered 200");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

async fn cluster(quota: u64, seconds: u64) -> anyhow::Result<()> {
    anyhow::ensure!(apim_bin().exists(), "{} not found: cargo build --release -p apim-bin first", apim_bin().display());
    let dir = TempDir::new("apim-throttling");
    let d = dir.path();
    let cp_off = free_offset(&[9443, 9763, 5672]);
    write_control_plane(d, cp_off, "")?;
    let mut nodes = vec![spawn(d, "control-plane", "cp", &[])];
    let mgmt = format!("http://127.0.0.1:{}", 9763 + cp_off);
    let cp_https = format!("https://127.0.0.1:{}", 9443 + cp_off);
    ready(&mgmt, Duration::from_secs(30)).await?;
    let tm = [free_offset(&[9443, 9763, 5672, 9611, 9711]), free_offset(&[9443, 9763, 5672, 9611, 9711])];
    for (i, name) in ["tm1", "tm2"].into_iter().enumerate() {
        std::fs::write(
            d.join(format!("{name}.toml")),
            format!(
                "{}[database.shared_db]\ntype = \"sqlite\"\nurl = \"jdbc:sqlite:{name}/shared.db\"\n{}[apim.throttling]\nevent_duplicate_url = [\"tcp://localhost:{}\"]\n",
                node_header(tm[i]),
                event_hub_client(cp_off),
                5672 + tm[1 - i]
            ),
        )?;
        nodes.push(spawn(d, "traffic-manager", name, &[]));
    }
    let linked = format!(
        "[apim.throttling]\nthrottle_decision_endpoints = [\"tcp://localhost:{}\", \"tcp://localhost:{}\"]\n\
         [[apim.throttling.url_group]]\ntraffic_manager_urls = [\"tcp://localhost:{}\"]\n[[apim.throttling.url_group]]\ntraffic_manager_urls = [\"tcp://localhost:{}\"]\n",
        5672 + tm[0],
        5672 + tm[1],
        9611 + tm[0],
        9611 + tm[1]
    );
    let mut traffic = Vec::new();
    for (name, throttling) in [("gw1", linked.as_str()), ("gw2", linked.as_str()), ("gw3", "")] {
        let off = free_offset(&[9443, 9763, 8280, 8243, 9099, 8099]);
        std::fs::write(
            d.join(format!("{name}.toml")),
            format!(
                "{}{}[apim.sync_runtime_artifacts.gateway]\ngateway_labels = [\"Default\"]\n{throttling}",
                node_header(off),
                event_hub_client(cp_off)
            ),
        )?;
        nodes.push(spawn(d, "gateway", name, &["--worker-threads", "1"]));
        traffic.push((format!("http://127.0.0.1:{}", 8280 + off), format!("http://127.0.0.1:{}", 9763 + off)));
    }
    for port in [tm[0], tm[1]] {
        ready(&format!("http://127.0.0.1:{}", 9763 + port), Duration::from_secs(30)).await?;
    }
    for (_, m) in &traffic {
        ready(m, Duration::from_secs(30)).await?;
    }
    for (name, n) in [("PerMinute", quota), ("NeverReached", 1_000_000_000)] {
        call(
            &mgmt,
            "POST",
            "/api/am/admin/v4/throttling/policies/subscription",
            json!({"policyName": name, "stopOnQuotaReach": true,
                   "defaultLimit": {"type": "REQUESTCOUNTLIMIT", "requestCount": {"timeUnit": "min", "unitTime": 1, "requestCount": n}}}),
        )
        .await?;
    }
    let backend = apim_test_support::backend::spawn("127.0.0.1:0".parse()?).await?;
    let api = call(
        &mgmt,
        "POST",
        "/api/am/publisher/v4/apis",
        json!({"name": "Quota", "context": "/quota", "version": "1.0.0", "policies": ["PerMinute", "NeverReached"],
               "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": format!("http://{backend}/bytes/1024")}},
               "operations": [{"target": "/r", "verb": "GET"}]}),
    )
    .await?["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let rev = call(&mgmt, "POST", &format!("/api/am/publisher/v4/apis/{api}/revisions"), json!({})).await?["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    call(&mgmt, "POST", &format!("/api/am/publisher/v4/apis/{api}/deploy-revision?revisionId={rev}"), json!([{"name": "Default"}])).await?;
    call(&mgmt, "POST", &format!("/api/am/publisher/v4/apis/change-lifecycle?action=Publish&apiId={api}"), Value::Null).await?;

    // Accuracy.
    let limited = token(&mgmt, &cp_https, &api, "Accuracy", "PerMinute").await?;
    let urls: Vec<String> = traffic[..2].iter().map(|(t, _)| format!("{t}/quota/1.0.0/r")).collect();
    for u in &urls {
        until_200(u, &limited).await?;
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis() as u64;
    if 60_000 - now % 60_000 < 40_000 {
        tokio::time::sleep(Duration::from_millis(60_000 - now % 60_000 + 50)).await;
    }
    let headers = vec![("authorization".to_string(), format!("Bearer {limited}"))];
    let out = offer(&urls, &headers, 10 * quota, 16, None).await;
    let admitted = out.count(200) + urls.len() as u64;
    let bound = out.rate() * apim_wire::throttle::BATCH_INTERVAL_MS as f64 / 1000.0;
    println!("\n## Accuracy: 2 gateways, 2 traffic managers, {quota} requests per minute, {} offered", 10 * quota);
    println!("| figure | value |\n|---|---|");
    println!("| offered rate | {:.0} requests/s ({:?}) |", out.rate(), out.by_status);
    println!(
        "| admitted | {admitted} ({:+} = {:+.2} % of the quota) |",
        admitted as i64 - quota as i64,
        100.0 * (admitted as f64 - quota as f64) / quota as f64
    );
    println!("| design bound: quota + 2 % + one batch interval at the offered rate | {:.0} |", quota as f64 * 1.02 + bound);

    // Cost on the gateway.
    let free = token(&mgmt, &cp_https, &api, "Cost", "NeverReached").await?;
    let on = format!("{}/quota/1.0.0/r", traffic[0].0);
    let off = format!("{}/quota/1.0.0/r", traffic[2].0);
    until_200(&on, &free).await?;
    until_200(&off, &free).await?;
    let headers = vec![("authorization".to_string(), format!("Bearer {free}"))];
    let (mut with, mut without) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        for (url, into) in [(&on, &mut with), (&off, &mut without)] {
            let started = Instant::now();
            let mut total = 0u64;
            while started.elapsed() < Duration::from_secs(seconds) {
                let o = offer(std::slice::from_ref(url), &headers, 20_000, 32, None).await;
                total += o.count(200);
            }
            into.push(total as f64 / started.elapsed().as_secs_f64());
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    let (w, wo) = (median(&mut with), median(&mut without));
    println!("\n## Cost on the gateway (1 worker thread, 32 keep-alive connections, median of 3 alternated rounds of {seconds} s)");
    println!("| gateway | requests/s |\n|---|---|");
    println!("| reporting usage to two traffic managers | {w:.0} |\n| not reporting | {wo:.0} |\n| ratio on/off | {:.3} |", w / wo);
    for mut n in nodes {
        n.terminate();
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let quota: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(3_000);
    let seconds: u64 = std::env::args().nth(2).and_then(|a| a.parse().ok()).unwrap_or(5);
    capacity(seconds).await?;
    cluster(quota, seconds).await
}
