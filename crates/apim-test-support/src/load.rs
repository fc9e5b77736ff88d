//! Offered load for throttling tests and benchmarks: a fixed number of plain-HTTP GETs spread round robin over
//! several URLs (one per gateway), from `concurrency` keep-alive connections, optionally paced to a rate.
//! Counts answers by status.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;

#[derive(Debug, Default)]
pub struct Outcome {
    /// Status → count; 0 counts requests that got no answer (connection refused or broken).
    pub by_status: BTreeMap<u16, u64>,
    pub elapsed: Duration,
}

impl Outcome {
    pub fn count(&self, status: u16) -> u64 {
        self.by_status.get(&status).copied().unwrap_or(0)
    }
    pub fn total(&self) -> u64 {
        self.by_status.values().sum()
    }
    /// Requests per second offered.
    pub fn rate(&self) -> f64 {
        self.total() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Sends `total` GETs, request `i` to `urls[i % urls.len()]`, with `headers`; at most `per_second` when given.
pub async fn offer(urls: &[String], headers: &[(String, String)], total: u64, concurrency: usize, per_second: Option<f64>) -> Outcome {
    let next = Arc::new(AtomicU64::new(0));
    let urls: Arc<Vec<http::Uri>> = Arc::new(urls.iter().filter_map(|u| u.parse().ok()).collect());
    let headers = Arc::new(headers.to_vec());
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (next, urls, headers) = (next.clone(), urls.clone(), headers.clone());
        workers.push(tokio::spawn(async move {
            let mut counts: BTreeMap<u16, u64> = BTreeMap::new();
            let mut conns: Vec<Option<hyper::client::conn::http1::SendRequest<Empty<Bytes>>>> = (0..urls.len()).map(|_| None).collect();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total || urls.is_empty() {
                    return counts;
                }
                if let Some(rate) = per_second {
                    let due = started + Duration::from_secs_f64(i as f64 / rate);
                    tokio::time::sleep_until(due.into()).await;
                }
                let n = (i % urls.len() as u64) as usize;
                let status = request(&mut conns[n], &urls[n], &headers).await.unwrap_or(0);
                *counts.entry(status).or_default() += 1;
            }
        }));
    }
    let mut out = Outcome::default();
    for w in workers {
        if let Ok(counts) = w.await {
            for (s, n) in counts {
                *out.by_status.entry(s).or_default() += n;
            }
        }
    }
    out.elapsed = started.elapsed();
    out
}

async fn request(
    conn: &mut Option<hyper::client::conn::http1::SendRequest<Empty<Bytes>>>,
    uri: &http::Uri,
    headers: &[(String, String)],
) -> Option<u16> {
    if conn.as_ref().is_none_or(|c| c.is_closed()) {
        let host = uri.host()?;
        let port = uri.port_u16().unwrap_or(80);
        let tcp = tokio::net::TcpStream::connect((host, port)).await.ok()?;
        let _ = tcp.set_nodelay(true);
        let (sender, driver) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp)).await.ok()?;
        tokio::spawn(async move {
            let _ = driver.await;
        });
        *conn = Some(sender);
    }
    let sender = conn.as_mut()?;
    let mut req = http::Request::builder().method("GET").uri(uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"));
    req = req.header("host", uri.authority().map(|a| a.as_str()).unwrap_or("localhost"));
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let req = req.body(Empty::new()).ok()?;
    if sender.ready().await.is_err() {
        *conn = None;
        return None;
    }
    match sender.send_request(req).await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let _ = resp.into_body().collect().await;
            Some(status)
        }
        Err(_) => {
            *conn = None;
            None
        }
    }
}
