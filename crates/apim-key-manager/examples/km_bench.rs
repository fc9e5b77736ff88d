//! Key-manager benchmark: `client_credentials` tokens per second over keep-alive HTTP (JWT and opaque) and
//! introspections per second, beside the raw RS256 signing rate of the same key measured in the same run (the
//! ceiling for JWT issuance). The key manager runs in this process on a temporary SQLite database; clients are
//! plain HTTP/1.1 keep-alive connections on loopback.
//!
//! Run: `cargo run --release -p apim-key-manager --example km_bench [SECONDS] [CONNECTIONS]` (defaults 5 and 32)

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use apim_config::{HostsFile, LoadOptions, Source};
use apim_key_manager::{Config, KeyManager};
use apim_store::{NewUser, UserStore};
use base64::Engine;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde_json::Value;

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let secs: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(5);
    let conns: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(32);
    let dir = std::env::temp_dir().join(format!("apim-km-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let text = format!("[database.apim_db]\ntype = \"sqlite\"\nurl = \"jdbc:sqlite:{}/km.db\"\n", dir.display());
    let env = |_: &str| None;
    let loaded =
        apim_config::load_str(Source::new("bench.toml", text), &LoadOptions::default(), &env).map_err(|e| anyhow::anyhow!("{e}"))?;
    let db = apim_store::connect(&loaded.config.apim_db.ok_or_else(|| anyhow::anyhow!("no db"))?, &HostsFile::default()).await?;
    db.migrate("apim_db").await?;
    let hash = apim_domain::password::hash("admin")?;
    db.create_user(&NewUser { username: "admin", password_hash: &hash, roles: &["admin"] }).await?;

    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256)?.serialize_der();
    let cfg = Config {
        issuer: "https://km.bench/oauth2/token".into(),
        base_url: "https://km.bench".into(),
        access_ttl: 3600,
        refresh_ttl: 86400,
        code_ttl: 300,
        default_format: apim_domain::oauth::TokenFormat::Jwt,
        signing_algorithm: apim_jose::jwt::Alg::Rs256,
        listeners: Vec::new(),
        hosts: Default::default(),
    };
    let tls = Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth(),
    );
    let km = KeyManager::start(db.clone(), db.clone(), cfg, &key, tls).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let router = km.router();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });

    // Ceiling: raw RS256 signatures with the same key, same runtime, same number of workers.
    let ceiling = {
        let count = Arc::new(AtomicU64::new(0));
        let deadline = Instant::now() + Duration::from_secs(secs);
        let mut tasks = Vec::new();
        for _ in 0..std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2) {
            let (km, count) = (km.clone(), count.clone());
            tasks.push(tokio::task::spawn_blocking(move || {
                let msg = b"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJiZW5jaCJ9";
                while Instant::now() < deadline {
                    std::hint::black_box(km.sign_raw(msg));
                    count.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        for t in tasks {
            t.await?;
        }
        count.load(Ordering::Relaxed) as f64 / secs as f64
    };

    let admin = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("admin:admin"));
    let mut results = Vec::new();
    for token_type in ["JWT", "OPAQUE"] {
        let reg = call(
            addr,
            "POST",
            "/client-registration/v0.17/register",
            &admin,
            "application/json",
            &format!(r#"{{"clientName":"bench","grantType":"client_credentials","tokenType":"{token_type}"}}"#),
        )
        .await?;
        let v: Value = serde_json::from_str(&reg)?;
        let id = v["clientId"].as_str().unwrap_or_default().to_string();
        let secret = v["clientSecret"].as_str().unwrap_or_default().to_string();
        let auth = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}")));
        let rate = load(addr, secs, conns, "/oauth2/token", &auth, "grant_type=client_credentials").await?;
        results.push((token_type, rate));
        if token_type == "JWT" {
            let t: Value = serde_json::from_str(
                &call(addr, "POST", "/oauth2/token", &auth, "application/x-www-form-urlencoded", "grant_type=client_credentials").await?,
            )?;
            let body = format!("token={}", t["access_token"].as_str().unwrap_or_default());
            let rate = load(addr, secs, conns, "/oauth2/introspect", &auth, &body).await?;
            results.push(("introspect(JWT)", rate));
        }
    }
    println!(
        "key manager benchmark: {secs} s per figure, {conns} keep-alive connections, SQLite, {} cores",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
    println!("ceiling: raw RS256 signatures, same key:      {ceiling:>9.0} /s");
    for (what, rate) in &results {
        match *what {
            "JWT" => {
                println!("JWT client_credentials tokens over HTTP:     {rate:>9.0} /s  ({:.0} % of the ceiling)", rate / ceiling * 100.0)
            }
            "OPAQUE" => println!("opaque client_credentials tokens over HTTP:  {rate:>9.0} /s"),
            _ => println!("introspections of a JWT over HTTP:          {rate:>9.0} /s"),
        }
    }
    println!("anchors: Keycloak sizes 120 client-credential grants/s per vCPU; Ory Hydra 87/s on 2 vCPU, 21k introspections/s in memory");
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

async fn call(addr: std::net::SocketAddr, method: &str, path: &str, auth: &str, ct: &str, body: &str) -> anyhow::Result<String> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let (mut tx, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp)).await?;
    tokio::spawn(conn);
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "km")
        .header("authorization", auth)
        .header("content-type", ct)
        .body(Full::new(Bytes::from(body.to_string())))?;
    let resp = tx.send_request(req).await?;
    Ok(String::from_utf8_lossy(&resp.into_body().collect().await?.to_bytes()).into_owned())
}

/// `conns` keep-alive connections send `body` to `path` back to back for `secs`; returns successes per second.
async fn load(addr: std::net::SocketAddr, secs: u64, conns: usize, path: &str, auth: &str, body: &str) -> anyhow::Result<f64> {
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let (ok, failed, path, auth, body) = (ok.clone(), failed.clone(), path.to_string(), auth.to_string(), body.to_string());
        tasks.push(tokio::spawn(async move {
            let Ok(tcp) = tokio::net::TcpStream::connect(addr).await else { return };
            let Ok((mut tx, conn)) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp)).await else { return };
            tokio::spawn(conn);
            while Instant::now() < deadline {
                let Ok(req) = http::Request::post(path.as_str())
                    .header("host", "km")
                    .header("authorization", auth.as_str())
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(Full::new(Bytes::from(body.clone())))
                else {
                    return;
                };
                match tx.send_request(req).await {
                    Ok(resp) => {
                        let good = resp.status().is_success();
                        let _ = resp.into_body().collect().await;
                        if good {
                            ok.fetch_add(1, Ordering::Relaxed)
                        } else {
                            failed.fetch_add(1, Ordering::Relaxed)
                        };
                    }
                    Err(_) => return,
                }
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let f = failed.load(Ordering::Relaxed);
    if f > 0 {
        eprintln!("{path}: {f} requests failed");
    }
    Ok(ok.load(Ordering::Relaxed) as f64 / secs as f64)
}
