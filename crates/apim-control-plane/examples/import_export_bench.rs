//! Export and import of an API project (issue #18's measure).
//!
//!     bench/import_export.sh [ROUNDS]
//!     cargo run --release -p apim-control-plane --example import_export_bench -- [ROUNDS] [OPERATIONS] [DOCUMENTS]
//!
//! A control plane (its real router) runs in this process on 127.0.0.1:0 over an SQLite file in a temporary
//! directory. One API is made through the REST API: OPERATIONS operations (200), DOCUMENTS markdown documents (10) of
//! 16 KiB of words each, a thumbnail, an endpoint and a client certificate, a revision deployed to the `Default` environment. Then, in rounds that alternate them
//! (this machine's speed drifts from minute to minute):
//!
//! * `export`: `GET /apis/export?apiId=` over HTTP/1.1, the whole ZIP read;
//! * `import`: `POST /apis/import?overwrite=true&rotateRevision=true` of that ZIP: the archive read and checked, the
//!   API, documents, thumbnail and certificates replaced, a revision made and deployed, in one transaction;
//! * `zip read+write`, the reference: the same ZIP's entries inflated and written to a new deflated ZIP in memory,
//!   with the `zip` crate the control plane uses, and no HTTP, checks or database.
//!
//! Printed: p50 and p90 of each, and p50 of export and import over p50 of the reference.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use apim_config::{HostsFile, LoadOptions, Source};
use apim_control_plane::{Config, ControlPlane, Environment};
use apim_store::{Db, NewUser, UserStore};
use base64::Engine;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const AUTH_USER: &str = "admin";
const AUTH_PASSWORD: &str = "admin-bench-pw";

/// One HTTP/1.1 exchange on a new connection: (status, body).
async fn exchange(addr: &str, method: &str, path: &str, content_type: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{AUTH_USER}:{AUTH_PASSWORD}"));
    let head = format!(
        "{method} /api/am/publisher/v4{path} HTTP/1.1\r\nhost: {addr}\r\nauthorization: Basic {basic}\r\ncontent-type: {content_type}\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(head.as_bytes()).await.expect("write");
    s.write_all(body).await.expect("write");
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).await.expect("read");
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n").expect("head");
    let status = std::str::from_utf8(&answer[9..12]).ok().and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, answer[split + 4..].to_vec())
}

async fn json_call(addr: &str, method: &str, path: &str, body: Value) -> Value {
    let (status, answer) = exchange(addr, method, path, "application/json", body.to_string().as_bytes()).await;
    assert!((200..300).contains(&status), "{method} {path}: {status} {}", String::from_utf8_lossy(&answer));
    serde_json::from_slice(&answer).unwrap_or(Value::Null)
}

fn multipart(file_name: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = "apimbenchboundary41";
    let mut body = format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n\r\n").into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// The reference: every entry inflated, then written to a new deflated archive.
fn zip_read_write(bytes: &[u8]) -> usize {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("zip");
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for i in 0..archive.len() {
        let mut e = archive.by_index(i).expect("entry");
        let mut content = Vec::new();
        e.read_to_end(&mut content).expect("inflate");
        w.start_file(e.name().expect("name").to_string(), options).expect("start");
        w.write_all(&content).expect("write");
    }
    w.finish().expect("finish").into_inner().len()
}

/// `len` bytes of words in a pseudo-random order (seeded), so documents compress as prose does, not as a
/// repeated line.
fn prose(seed: u64, len: usize) -> String {
    const WORDS: [&str; 16] = [
        "order", "pizza", "delivery", "the", "customer", "menu", "returns", "a", "list", "of", "items", "with", "prices", "and", "status",
        "token",
    ];
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = String::with_capacity(len + 16);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push_str(WORDS[(x % 16) as usize]);
        out.push(if x.is_multiple_of(11) { '\n' } else { ' ' });
    }
    out
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (rounds, operations, documents) = (arg(0, 30), arg(1, 200), arg(2, 10));

    let dir = apim_test_support::TempDir::new("apim-import-export-bench");
    let toml = format!("[database.apim_db]\ntype = \"sqlite\"\nurl = \"jdbc:sqlite:{}/cp.db\"\n", dir.path().display());
    let loaded = apim_config::load_str(Source::new("bench.toml", toml), &LoadOptions::default(), &|_: &str| None).expect("config");
    let db: Db = apim_store::connect(&loaded.config.apim_db.expect("db"), &HostsFile::default()).await.expect("connect");
    db.migrate("apim_db").await.expect("migrate");
    let hash = apim_domain::password::hash(AUTH_PASSWORD).expect("hash");
    db.create_user(&NewUser { username: AUTH_USER, password_hash: &hash, roles: &["admin"] }).await.expect("user");
    let cfg = Config {
        environments: vec![Environment {
            id: "Default".into(),
            name: "Default".into(),
            kind: "hybrid".into(),
            vhost: "localhost".into(),
            show_in_api_console: true,
            ..Environment::default()
        }],
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
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let router = cp.router();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });

    // The API: operations, documents, thumbnail, a deployed revision.
    let ops: Vec<Value> = (0..operations)
        .map(|i| {
            let verb = ["GET", "POST", "PUT", "DELETE"][i % 4];
            json!({"target": format!("/resources/{}/items/{{itemId}}", i / 4), "verb": verb})
        })
        .collect();
    let api = json!({"name": "BenchApi", "context": "/bench", "version": "1.0.0", "operations": ops,
        "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": "http://backend.test:8080/bench"}}});
    let id = json_call(&addr, "POST", "/apis", api).await["id"].as_str().expect("id").to_string();
    for d in 0..documents {
        let text = prose(d as u64, 16 << 10);
        json_call(
            &addr,
            "POST",
            &format!("/apis/{id}/documents"),
            json!({"name": format!("Guide {d}"), "type": "HOWTO", "sourceType": "MARKDOWN", "inlineContent": text, "visibility": "API_LEVEL"}),
        )
        .await;
    }
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\rIDATx\x9cc\xf8\x0f\0\0\x01\x01\0\x05\x18\xd8N\0\0\0\0IEND\xaeB`\x82";
    let (ct, body) = multipart("icon.png", png);
    let (status, _) = exchange(&addr, "PUT", &format!("/apis/{id}/thumbnail"), &ct, &body).await;
    assert_eq!(status, 200, "thumbnail");
    // Two certificates: the endpoint's (the environment's, exported with the API) and one for mutual TLS.
    let client_certs = format!("/apis/{id}/client-certs/production");
    for (path, fields) in [
        ("/endpoint-certificates", [("alias", "bench-backend"), ("endpoint", "http://backend.test:8080")]),
        (client_certs.as_str(), [("alias", "bench-client"), ("tier", "Gold")]),
    ] {
        let pem = rcgen::generate_simple_self_signed(vec!["bench.test".to_string()]).expect("certificate").cert.pem();
        let boundary = "apimbenchcertboundary";
        let mut body = String::new();
        for (name, value) in fields.iter().chain([("certificate", pem.as_str())].iter()) {
            let file = if *name == "certificate" { "; filename=\"c.crt\"" } else { "" };
            body.push_str(&format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"{file}\r\n\r\n{value}\r\n"));
        }
        body.push_str(&format!("--{boundary}--\r\n"));
        let (status, answer) = exchange(&addr, "POST", path, &format!("multipart/form-data; boundary={boundary}"), body.as_bytes()).await;
        assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&answer));
    }
    let rev = json_call(&addr, "POST", &format!("/apis/{id}/revisions"), json!({})).await;
    let rid = rev["id"].as_str().expect("revision");
    json_call(&addr, "POST", &format!("/apis/{id}/deploy-revision?revisionId={rid}"), json!([{"name": "Default"}])).await;

    let (status, archive) = exchange(&addr, "GET", &format!("/apis/export?apiId={id}"), "text/plain", b"").await;
    assert_eq!(status, 200, "export");
    let entries = zip::ZipArchive::new(std::io::Cursor::new(archive.as_slice())).expect("zip").len();
    println!(
        "API project: {operations} operations, {documents} documents of {} KiB, a thumbnail, two certificates, one deployment; archive {} KiB, {entries} entries",
        16,
        archive.len() >> 10
    );

    let (mut export, mut import, mut plain) = (Vec::new(), Vec::new(), Vec::new());
    let (ct, form) = multipart("BenchApi_1.0.0.zip", &archive);
    for _ in 0..rounds {
        let t = Instant::now();
        let (status, body) = exchange(&addr, "GET", &format!("/apis/export?apiId={id}"), "text/plain", b"").await;
        export.push(t.elapsed());
        assert!(status == 200 && !body.is_empty(), "export: {status}");

        let t = Instant::now();
        let (status, body) = exchange(&addr, "POST", "/apis/import?overwrite=true&rotateRevision=true", &ct, &form).await;
        import.push(t.elapsed());
        assert_eq!(status, 200, "import: {}", String::from_utf8_lossy(&body));

        let t = Instant::now();
        let n = tokio::task::spawn_blocking({
            let archive = archive.clone();
            move || zip_read_write(&archive)
        })
        .await
        .expect("zip");
        plain.push(t.elapsed());
        assert!(n > 0);
    }
    for v in [&mut export, &mut import, &mut plain] {
        v.sort();
    }
    let p50 = |v: &[Duration]| percentile(v, 0.5);
    println!("{rounds} rounds, alternating; milliseconds");
    println!("{:<32} {:>9} {:>9} {:>12}", "", "p50", "p90", "p50 / zip");
    for (name, v) in
        [("export (GET /apis/export)", &export), ("import (POST /apis/import)", &import), ("zip read+write (reference)", &plain)]
    {
        println!(
            "{name:<32} {:>9.2} {:>9.2} {:>11.1}x",
            ms(p50(v)),
            ms(percentile(v, 0.9)),
            p50(v).as_secs_f64() / p50(&plain).as_secs_f64()
        );
    }
    // One process holds all three, so this is their peak together (the archive is tens of KiB).
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let hwm_kib: u64 =
        status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.split_whitespace().next()?.parse().ok()).unwrap_or(0);
    println!("peak RSS of this process (control plane, SQLite, every round): {:.1} MiB", hwm_kib as f64 / 1024.0);
}
