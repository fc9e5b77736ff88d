//! Helpers the benchmark programs share: the release binary, and the control plane's REST API over its plain
//! management port.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use apim_test_support::http;
use serde_json::Value;

pub fn apim_bin() -> PathBuf {
    std::env::var_os("APIM_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/release/apim"))
}

pub fn auth() -> String {
    use base64::Engine;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("admin:admin"))
}

pub async fn call(base: &str, method: &str, path: &str, body: Value) -> anyhow::Result<Value> {
    let body = if body.is_null() { String::new() } else { body.to_string() };
    let a = auth();
    let r = http::request(method, &format!("{base}{path}"), &[("authorization", &a), ("content-type", "application/json")], &body).await?;
    anyhow::ensure!((200..300).contains(&r.status), "{method} {path}: {} {}", r.status, r.body);
    Ok(if r.body.is_empty() { Value::Null } else { r.json() })
}

pub async fn ready(url: &str, within: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    loop {
        if let Ok(r) = http::get(&format!("{url}/health/ready")).await
            && r.status == 200
        {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "{url} not ready within {within:?}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}
