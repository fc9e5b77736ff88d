//! How fast changes reach a gateway on its own node (the event-hub issue's benchmark).
//!
//!     cargo build --release -p apim-bin && cargo run --release -p apim-bin --example propagation [RUNS] [APIS]
//!
//! Starts a control plane (SQLite, resident key manager) and a gateway node as separate `apim` processes
//! (`target/release/apim`, or `APIM_BIN`), then measures, RUNS times each (default 100):
//! - deploy: from the publisher's `deploy-revision` call returning to the first 200 through the gateway;
//! - revocation: from `/oauth2/revoke` returning to the gateway's first 401 for that token.
//!   Beside them, in the same run: one HTTP round trip to the gateway (the polling's own resolution).
//!
//! Then loads APIS APIs (default 10,000; each created, revised and deployed through the REST API) and starts a
//! fresh gateway node: time from its start to ready (the snapshot pulled and installed), its RSS, and the size of
//! the snapshot; and 30 deploy propagations at that size.

use std::time::{Duration, Instant};

use apim_test_support::process::{Node, free_offset};
use apim_test_support::{TempDir, http};
use common::{apim_bin, auth, call, ready};
use serde_json::{Value, json};

#[path = "common/mod.rs"]
mod common;

/// Polls `url` until it answers `status`; the time from `since` to that answer.
async fn until(url: &str, token: Option<&str>, status: u16, since: Instant) -> anyhow::Result<Duration> {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = bearer.as_deref().map(|b| vec![("authorization", b)]).unwrap_or_default();
    loop {
        let r = http::request("GET", url, &headers, "").await?;
        if r.status == status {
            return Ok(since.elapsed());
        }
        anyhow::ensure!(since.elapsed() < Duration::from_secs(30), "{url} never answered {status} (last {} {})", r.status, r.body);
    }
}

fn api(name: &str, backend: &str, secured: bool) -> Value {
    let auth_type = if secured { "Application & Application User" } else { "None" };
    json!({"name": name, "context": format!("/{}", name.to_lowercase()), "version": "1.0.0", "policies": ["Unlimited"],
        "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": backend}},
        "operations": [{"target": "/r", "verb": "GET", "authType": auth_type}]})
}

/// Creates and revises an API; returns (id, revision id).
async fn prepare(base: &str, body: Value) -> anyhow::Result<(String, String)> {
    let pb = "/api/am/publisher/v4";
    let id = call(base, "POST", &format!("{pb}/apis"), body).await?["id"].as_str().unwrap_or_default().to_string();
    let rev = call(base, "POST", &format!("{pb}/apis/{id}/revisions"), json!({"description": "bench"})).await?["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    Ok((id, rev))
}

async fn deploy(base: &str, id: &str, rev: &str) -> anyhow::Result<()> {
    call(base, "POST", &format!("/api/am/publisher/v4/apis/{id}/deploy-revision?revisionId={rev}"), json!([{"name": "Default"}]))
        .await
        .map(drop)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn report(what: &str, mut v: Vec<Duration>) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{what:<44} runs {:>4}  p50 {:>8.2} ms  p99 {:>8.2} ms  max {:>8.2} ms",
        v.len(),
        ms(percentile(&v, 0.5)),
        ms(percentile(&v, 0.99)),
        ms(v[v.len() - 1])
    );
}

fn gateway_config(offset: u16, cp_offset: u16) -> String {
    format!(
        "[server]\nhostname = \"localhost\"\noffset = {offset}\n[apim.event_hub]\nenable = true\nusername = \"admin\"\npassword = \"admin\"\n\
         service_url = \"https://localhost:{}/services/\"\nevent_listening_endpoints = [\"tcp://localhost:{}\"]\n\
         [apim.sync_runtime_artifacts.gateway]\ngateway_labels = [\"Default\"]\n",
        9443 + cp_offset,
        5672 + cp_offset
    )
}

fn start_gateway(dir: &std::path::Path, data: &str) -> Node {
    Node::spawn(&apim_bin(), &["gateway", "-c", "gw.toml", "--data-dir", data, "--bind", "127.0.0.1", "--log-level", "warn"], dir)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let runs: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(100);
    let size: usize = std::env::args().nth(2).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    anyhow::ensure!(apim_bin().exists(), "{} not found: cargo build --release -p apim-bin first", apim_bin().display());
    let dir = TempDir::new("apim-propagation");
    let cp_off = free_offset(&[9443, 9763, 5672]);
    std::fs::create_dir_all(dir.path().join("cpdb"))?;
    std::fs::write(
        dir.path().join("cp.toml"),
        format!(
            "[server]\nhostname = \"localhost\"\noffset = {cp_off}\n\
             [database.apim_db]\ntype = \"sqlite\"\nurl = \"jdbc:sqlite:cpdb/apim.db\"\n[database.shared_db]\ntype = \"sqlite\"\nurl = \"jdbc:sqlite:cpdb/shared.db\"\n\
             [apim.event_hub]\nenable = true\nusername = \"admin\"\npassword = \"admin\"\n"
        ),
    )?;
    let mut cp = Node::spawn(
        &apim_bin(),
        &["control-plane", "-c", "cp.toml", "--data-dir", "shared", "--bind", "127.0.0.1", "--log-level", "warn"],
        dir.path(),
    );
    let cp_https = format!("https://127.0.0.1:{}", 9443 + cp_off);
    let mgmt = format!("http://127.0.0.1:{}", 9763 + cp_off);
    ready(&mgmt, Duration::from_secs(30)).await?;
    let gw_off = free_offset(&[9443, 9763, 8280, 8243, 9099, 8099]);
    std::fs::write(dir.path().join("gw.toml"), gateway_config(gw_off, cp_off))?;
    let mut gw = start_gateway(dir.path(), "shared");
    let gw_mgmt = format!("http://127.0.0.1:{}", 9763 + gw_off);
    let traffic = format!("http://127.0.0.1:{}", 8280 + gw_off);
    ready(&gw_mgmt, Duration::from_secs(30)).await?;
    let backend = apim_test_support::backend::spawn("127.0.0.1:0".parse()?).await?;
    let backend_url = format!("http://{backend}/b");
    println!("control plane and gateway node up (SQLite, release build); {runs} runs per figure");

    // The polling's own resolution: one HTTP round trip to the gateway (a 404 for an unknown API).
    let mut rtt = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        http::get(&format!("{traffic}/nothing/here")).await?;
        rtt.push(t.elapsed());
    }

    // Deploy → first 200.
    let mut deploys = Vec::new();
    for i in 0..runs {
        let (id, rev) = prepare(&mgmt, api(&format!("Dep{i}"), &backend_url, false)).await?;
        deploy(&mgmt, &id, &rev).await?;
        let returned = Instant::now();
        deploys.push(until(&format!("{traffic}/dep{i}/1.0.0/r"), None, 200, returned).await?);
    }

    // Revocation → first 401.
    let (sec, rev) = prepare(&mgmt, api("Secured", &backend_url, true)).await?;
    deploy(&mgmt, &sec, &rev).await?;
    call(&mgmt, "POST", &format!("/api/am/publisher/v4/apis/change-lifecycle?action=Publish&apiId={sec}"), Value::Null).await?;
    let app =
        call(&mgmt, "POST", "/api/am/devportal/v3/applications", json!({"name": "BenchApp", "throttlingPolicy": "Unlimited"})).await?;
    let app_id = app["applicationId"].as_str().unwrap_or_default().to_string();
    let keys = call(
        &mgmt,
        "POST",
        &format!("/api/am/devportal/v3/applications/{app_id}/generate-keys"),
        json!({"keyType": "PRODUCTION", "grantTypesToBeSupported": ["client_credentials"]}),
    )
    .await?;
    let (ck, cs) = (keys["consumerKey"].as_str().unwrap_or_default(), keys["consumerSecret"].as_str().unwrap_or_default());
    call(
        &mgmt,
        "POST",
        "/api/am/devportal/v3/subscriptions",
        json!({"apiId": sec, "applicationId": app_id, "throttlingPolicy": "Unlimited"}),
    )
    .await?;
    let basic = {
        use base64::Engine;
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{ck}:{cs}")))
    };
    let form = [("authorization", basic.as_str()), ("content-type", "application/x-www-form-urlencoded")];
    let secured = format!("{traffic}/secured/1.0.0/r");
    let mut revocations = Vec::new();
    for _ in 0..runs {
        let t = http::request("POST", &format!("{cp_https}/oauth2/token"), &form, "grant_type=client_credentials").await?;
        let token = t.json()["access_token"].as_str().unwrap_or_default().to_string();
        until(&secured, Some(&token), 200, Instant::now()).await?;
        let r = http::request("POST", &format!("{cp_https}/oauth2/revoke"), &form, &format!("token={token}")).await?;
        anyhow::ensure!(r.status == 200, "revoke: {} {}", r.status, r.body);
        let returned = Instant::now();
        revocations.push(until(&secured, Some(&token), 401, returned).await?);
    }
    println!();
    report("reference: one HTTP round trip to the gateway", rtt);
    report("deploy-revision returned -> first 200", deploys);
    report("revoke returned -> first 401", revocations);

    // At size: load the APIs with the first gateway stopped, then sync a fresh one.
    gw.terminate();
    let loaded = Instant::now();
    let have = runs + 1;
    let mut next = have;
    while next < size {
        let batch: Vec<usize> = (next..size.min(next + 16)).collect();
        next += batch.len();
        let jobs = batch.into_iter().map(|i| {
            let (mgmt, backend_url) = (mgmt.clone(), backend_url.clone());
            tokio::spawn(async move {
                let (id, rev) = prepare(&mgmt, api(&format!("Size{i}"), &backend_url, false)).await?;
                deploy(&mgmt, &id, &rev).await
            })
        });
        for j in jobs.collect::<Vec<_>>() {
            j.await??;
        }
    }
    println!("\nloaded {size} deployed APIs through the REST API in {:.1} s", loaded.elapsed().as_secs_f64());
    let t = Instant::now();
    let r =
        http::request("GET", &format!("{mgmt}/internal/data/v1/runtime-artifacts?gatewayLabel=Default"), &[("authorization", &auth())], "")
            .await?;
    let pull = t.elapsed();
    println!("reference: one snapshot pull over HTTP: {:.0} ms, {:.1} MB of JSON", pull.as_secs_f64() * 1e3, r.body.len() as f64 / 1e6);
    // Same data directory (it holds the certificate the nodes share), without the saved state: a real first sync.
    std::fs::remove_file(dir.path().join("shared/gateway/runtime-state.json"))?;
    // A new offset: the loader's many client connections may hold one of the old ports.
    let gw_off = free_offset(&[9443, 9763, 8280, 8243, 9099, 8099]);
    std::fs::write(dir.path().join("gw.toml"), gateway_config(gw_off, cp_off))?;
    let (gw_mgmt, traffic) = (format!("http://127.0.0.1:{}", 9763 + gw_off), format!("http://127.0.0.1:{}", 8280 + gw_off));
    let started = Instant::now();
    let mut fresh = start_gateway(dir.path(), "shared");
    if let Err(e) = ready(&gw_mgmt, Duration::from_secs(120)).await {
        anyhow::bail!("{e}\n{}", fresh.stderr());
    }
    let synced = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (rss, hwm) = fresh.memory_kib().unwrap_or((0, 0));
    println!(
        "fresh gateway with {size} APIs: start -> ready {:.0} ms; RSS {:.1} MB (peak {:.1} MB)",
        synced.as_secs_f64() * 1e3,
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
    let mut at_size = Vec::new();
    for i in 0..runs.min(30) {
        let (id, rev) = prepare(&mgmt, api(&format!("Late{i}"), &backend_url, false)).await?;
        deploy(&mgmt, &id, &rev).await?;
        let returned = Instant::now();
        at_size.push(until(&format!("{traffic}/late{i}/1.0.0/r"), None, 200, returned).await?);
    }
    report(&format!("at {size} APIs: deploy -> first 200"), at_size);
    fresh.terminate();
    cp.terminate();
    Ok(())
}
