//! A load generator for new connections (`bench/gateway.sh`'s handshake rows): every request on a connection of
//! its own — TCP connect, TLS handshake for https, one `GET` with `Connection: close`, read to the end, close —
//! from CONNS concurrent clients on one thread for SECS seconds. For https, `full` makes every handshake a full
//! one; `resume` resumes sessions (TLS 1.3 tickets, shared by the clients) as a browser or SDK does. The server's
//! certificate is not checked against a CA (the benchmark's are self-signed), but its handshake signature is.
//!
//! Prints `requests/s p50_ms p99_ms resumed_share`; exits 1 when any answer is not 200 (with
//! `CONNLOAD_ANY_STATUS` set, when any is not HTTP/1.1).
//! Usage: `connload URL SECS CONNS full|resume ["Name: value"]...`

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, secs, conns, mode, headers @ ..] = args.as_slice() else {
        anyhow::bail!("usage: connload URL SECS CONNS full|resume [\"Name: value\"]...");
    };
    let url: http::Uri = url.parse()?;
    let secs: u64 = secs.parse()?;
    let conns: usize = conns.parse()?;
    let resume = match mode.as_str() {
        "full" => false,
        "resume" => true,
        other => anyhow::bail!("mode `{other}`: expected full or resume"),
    };
    let https = url.scheme_str() == Some("https");
    let host = url.host().ok_or_else(|| anyhow::anyhow!("no host in {url}"))?.to_string();
    let port = url.port_u16().unwrap_or(if https { 443 } else { 80 });
    let path = url.path_and_query().map_or("/", |p| p.as_str()).to_string();
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n");
    for h in headers {
        request.push_str(h);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let run = Run {
        stop: AtomicBool::new(false),
        resumed: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        tickets_received: AtomicU64::new(0),
        tickets_wanted: AtomicU64::new(0),
        tickets_found: AtomicU64::new(0),
    };
    let run = Arc::new(run);
    let started = Instant::now();
    let latencies: Vec<Vec<u32>> = rt.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..conns {
            // Each client keeps its own sessions, as separate clients (apps, functions) do.
            let tls = https.then(|| tokio_rustls::TlsConnector::from(client_config(resume, run.clone())));
            let (run, host, request) = (run.clone(), host.clone(), request.clone());
            tasks.push(tokio::spawn(async move {
                let mut took = Vec::new();
                while !run.stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    match one(&host, port, tls.as_ref(), request.as_bytes()).await {
                        Ok(resumed) => {
                            took.push(u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX));
                            run.resumed.fetch_add(u64::from(resumed), Ordering::Relaxed);
                        }
                        Err(e) => {
                            if run.failed.fetch_add(1, Ordering::Relaxed) == 0 {
                                eprintln!("connload: {e}");
                            }
                        }
                    }
                }
                took
            }));
        }
        tokio::time::sleep(Duration::from_secs(secs)).await;
        run.stop.store(true, Ordering::Relaxed);
        let mut all = Vec::new();
        for t in tasks {
            all.push(t.await.unwrap_or_default());
        }
        all
    });
    let elapsed = started.elapsed().as_secs_f64();
    let mut all: Vec<u32> = latencies.into_iter().flatten().collect();
    all.sort_unstable();
    let n = all.len();
    let at = |q: f64| all.get(((n as f64 * q) as usize).min(n.saturating_sub(1))).map_or(0.0, |us| f64::from(*us) / 1000.0);
    let resumed = run.resumed.load(Ordering::Relaxed) as f64 / n.max(1) as f64;
    println!("{:.0} {:.2} {:.2} {:.2}", n as f64 / elapsed, at(0.5), at(0.99), resumed);
    if https && resume {
        let (r, w, f) = (
            run.tickets_received.load(Ordering::Relaxed),
            run.tickets_wanted.load(Ordering::Relaxed),
            run.tickets_found.load(Ordering::Relaxed),
        );
        eprintln!("connload: TLS 1.3 tickets received {r}, wanted {w}, found {f}");
    }
    let failed = run.failed.load(Ordering::Relaxed);
    if failed > 0 {
        eprintln!("connload: {failed} requests failed");
        std::process::exit(1);
    }
    Ok(())
}

#[derive(Debug)]
struct Run {
    stop: AtomicBool,
    resumed: AtomicU64,
    failed: AtomicU64,
    tickets_received: AtomicU64,
    tickets_wanted: AtomicU64,
    tickets_found: AtomicU64,
}

/// One request on a new connection; whether its TLS session was resumed.
async fn one(host: &str, port: u16, tls: Option<&tokio_rustls::TlsConnector>, request: &[u8]) -> anyhow::Result<bool> {
    let tcp = tokio::net::TcpStream::connect((host, port)).await?;
    tcp.set_nodelay(true)?;
    let mut answer = Vec::with_capacity(2048);
    let resumed = match tls {
        None => {
            let mut tcp = tcp;
            tcp.write_all(request).await?;
            tcp.read_to_end(&mut answer).await?;
            false
        }
        Some(tls) => {
            let name = rustls::pki_types::ServerName::try_from(host.to_string())?;
            let mut s = tls.connect(name, tcp).await?;
            let resumed = s.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
            s.write_all(request).await?;
            // A server may close without close_notify after `Connection: close`: the answer is what counts.
            match s.read_to_end(&mut answer).await {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !answer.is_empty() => {}
                Err(e) => return Err(e.into()),
            }
            resumed
        }
    };
    if !answer.starts_with(b"HTTP/1.1 ") || (!answer.starts_with(b"HTTP/1.1 200") && std::env::var_os("CONNLOAD_ANY_STATUS").is_none()) {
        let head = String::from_utf8_lossy(&answer[..answer.len().min(80)]).into_owned();
        anyhow::bail!("not a 200: {head:?}");
    }
    Ok(resumed)
}

fn client_config(resume: bool, run: Arc<Run>) -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = Arc::new(apim_test_support::http::Offering::all());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap_or_else(|e| panic!("rustls defaults: {e}"))
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    cfg.resumption = match resume {
        true => rustls::client::Resumption::store(Arc::new(Tickets { inner: rustls::client::ClientSessionMemoryCache::new(8), run })),
        false => rustls::client::Resumption::disabled(),
    };
    Arc::new(cfg)
}

/// rustls's in-memory session store (one server's tickets), counting the TLS 1.3 tickets received and those
/// found when wanted.
#[derive(Debug)]
struct Tickets {
    inner: rustls::client::ClientSessionMemoryCache,
    run: Arc<Run>,
}

impl rustls::client::ClientSessionStore for Tickets {
    fn set_kx_hint(&self, server_name: rustls::pki_types::ServerName<'static>, group: rustls::NamedGroup) {
        self.inner.set_kx_hint(server_name, group);
    }
    fn kx_hint(&self, server_name: &rustls::pki_types::ServerName<'_>) -> Option<rustls::NamedGroup> {
        self.inner.kx_hint(server_name)
    }
    fn set_tls12_session(&self, server_name: rustls::pki_types::ServerName<'static>, value: rustls::client::Tls12ClientSessionValue) {
        self.inner.set_tls12_session(server_name, value);
    }
    fn tls12_session(&self, server_name: &rustls::pki_types::ServerName<'_>) -> Option<rustls::client::Tls12ClientSessionValue> {
        self.inner.tls12_session(server_name)
    }
    fn remove_tls12_session(&self, server_name: &rustls::pki_types::ServerName<'static>) {
        self.inner.remove_tls12_session(server_name);
    }
    fn insert_tls13_ticket(&self, server_name: rustls::pki_types::ServerName<'static>, value: rustls::client::Tls13ClientSessionValue) {
        self.run.tickets_received.fetch_add(1, Ordering::Relaxed);
        self.inner.insert_tls13_ticket(server_name, value);
    }
    fn take_tls13_ticket(&self, server_name: &rustls::pki_types::ServerName<'static>) -> Option<rustls::client::Tls13ClientSessionValue> {
        self.run.tickets_wanted.fetch_add(1, Ordering::Relaxed);
        let t = self.inner.take_tls13_ticket(server_name);
        self.run.tickets_found.fetch_add(u64::from(t.is_some()), Ordering::Relaxed);
        t
    }
}
