//! Analytics queries over a month (issue #21's measure: 30 days, 1,000 APIs, p99 under 100 ms on SQLite).
//!
//!     cargo run --release -p apim-control-plane --example analytics_bench -- [APIS] [DAYS] [QUERIES]
//!
//! A control plane over an SQLite file in a temporary directory is given, through the path gateways use
//! (`record_analytics`: checked, keyed, upserted), one minute row per API per hour for DAYS days (1,000 APIs,
//! 30 days: 720,000 rows), spread over 10 applications and two status classes, each with its latency sketches.
//! Then the summaries the portals read (`analytics_report`: rows read, sketches merged, percentiles, series and
//! breakdowns) are timed QUERIES times each:
//!
//! * before rollups, the Admin's month read from minute rows (the reference: what a month cost without them);
//! * after `prune` rolled the rows up into hours and days (and read the platform's rolled buckets into memory, as
//!   a control plane does at start and every hour): the Admin's month (every API), the Publisher's month for one
//!   API, the DevPortal's month for one application, and the Admin's week.
//!
//! Printed: rows loaded, load and rollup times, and the first, p50 and p99 of each query.
//!
//! With `ANALYTICS_BENCH_DB=<dir>`, the database is kept in that directory and, when it already holds one, reused
//! as it is (no loading, no reference query): for timing a change to the queries alone.

use std::time::{Duration, Instant};

use apim_config::{HostsFile, LoadOptions, Source};
use apim_control_plane::{Config, ControlPlane};
use apim_store::{AnalyticsFilter, Db};
use apim_wire::analytics::{AnalyticsBatch, MinuteRow, Sketch};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn time(cp: &ControlPlane, name: &str, filter: &AnalyticsFilter, period: &str, queries: usize) {
    let mut took = Vec::with_capacity(queries);
    let mut requests = 0;
    for _ in 0..queries {
        let t = Instant::now();
        let report = cp.analytics_report(filter, period).await.expect("report");
        took.push(t.elapsed());
        requests = report["requests"].as_u64().unwrap_or(0);
    }
    let first = took[0];
    took.sort();
    println!(
        "{name:<58} first {:>8.1} ms   p50 {:>8.1} ms   p99 {:>8.1} ms   ({requests} requests summed)",
        ms(first),
        ms(percentile(&took, 0.5)),
        ms(percentile(&took, 0.99))
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (apis, days, queries) = (arg(0, 1000), arg(1, 30) as i64, arg(2, 20));

    let temp = apim_test_support::TempDir::new("apim-analytics-bench");
    let kept = std::env::var_os("ANALYTICS_BENCH_DB").map(std::path::PathBuf::from);
    let dir = kept.clone().unwrap_or_else(|| temp.path().to_path_buf());
    std::fs::create_dir_all(&dir).expect("the database directory");
    let reuse = kept.is_some() && dir.join("cp.db").exists();
    let toml = format!("[database.apim_db]\ntype = \"sqlite\"\nurl = \"jdbc:sqlite:{}/cp.db\"\n", dir.display());
    let loaded = apim_config::load_str(Source::new("bench.toml", toml), &LoadOptions::default(), &|_: &str| None).expect("config");
    let db: Db = apim_store::connect(&loaded.config.apim_db.expect("db"), &HostsFile::default()).await.expect("connect");
    db.migrate("apim_db").await.expect("migrate");
    let cfg = Config {
        environments: Vec::new(),
        devportal_url: None,
        external_key_manager: None,
        api_key_issuer: "https://localhost:9443/oauth2/token".into(),
        fetch_tls: None,
        key_manager_connector: None,
        allowed_private_hosts: Vec::new(),
        event_hub_user: "hub".into(),
        event_hub_password: apim_config::Secret::new("hub-pw"),
        self_sign_up: true,
        analytics_retention_days: 30,
    };
    let cp = ControlPlane::new(db.clone(), db.clone(), cfg, None, None);
    let all = AnalyticsFilter::All;
    if !reuse {
        load(&cp, apis, days).await;
        time(&cp, "reference: Admin, 30 days, from minute rows (no rollups)", &all, "30d", queries.min(5)).await;
    }
    // What a control plane does at start and every hour: roll up what settled, and read the rolled buckets'
    // tallies for the platform's summaries into memory.
    let t = Instant::now();
    cp.prune().await.expect("roll up");
    println!("rolled up and read into memory in {:.1} s", t.elapsed().as_secs_f64());
    time(&cp, "Admin, 30 days, every API", &all, "30d", queries).await;
    time(&cp, "Publisher, 30 days, one API", &AnalyticsFilter::Api("api-0007".into()), "30d", queries).await;
    time(&cp, "DevPortal, 30 days, one application (a tenth of the APIs)", &AnalyticsFilter::Application("app-3".into()), "30d", queries)
        .await;
    time(&cp, "Admin, 7 days, every API", &all, "7d", queries).await;
}

/// One row per API per hour, from `days` days ago to three hours ago (settled, so all of it rolls up).
async fn load(cp: &ControlPlane, apis: usize, days: i64) {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    let first_hour = (now - days * 86_400) / 3600 * 3600 + 3600;
    let last_hour = (now - 3 * 3600) / 3600 * 3600;
    let t = Instant::now();
    let mut loaded_rows = 0;
    let mut batch = Vec::with_capacity(20_000);
    let mut hour = first_hour;
    while hour < last_hour {
        for a in 0..apis {
            let mut latency = Sketch::default();
            let mut backend = Sketch::default();
            for k in 0..5 {
                latency.add(1_000 + (a as u64 * 37 + k * 911) % 20_000);
                backend.add(700 + (a as u64 * 17 + k * 577) % 15_000);
            }
            batch.push(MinuteRow {
                minute: hour + (a as i64 % 60) * 60,
                api_id: format!("api-{a:04}"),
                api_name: format!("Service{a}"),
                api_version: "1.0.0".into(),
                resource: "/items/{id}".into(),
                method: "GET".into(),
                application_id: format!("app-{}", a % 10),
                application_name: format!("App{}", a % 10),
                application_owner: "alice".into(),
                key_type: apim_wire::KeyType::Production,
                status_class: if a % 17 == 0 { 5 } else { 2 },
                requests: 5,
                throttled: 0,
                blocked: 0,
                gateway_errors: 0,
                latency,
                backend_latency: backend,
            });
        }
        if batch.len() >= 10_000 {
            loaded_rows += batch.len();
            let rows = std::mem::take(&mut batch);
            cp.record_analytics(&AnalyticsBatch { gateway_id: "gw1".into(), run_id: "r1".into(), rows, dropped: 0 }).await.expect("record");
        }
        hour += 3600;
    }
    if !batch.is_empty() {
        loaded_rows += batch.len();
        cp.record_analytics(&AnalyticsBatch { gateway_id: "gw1".into(), run_id: "r1".into(), rows: batch, dropped: 0 })
            .await
            .expect("record");
    }
    println!("{loaded_rows} minute rows ({apis} APIs × {days} days, an hour each) loaded in {:.1} s", t.elapsed().as_secs_f64());
}
