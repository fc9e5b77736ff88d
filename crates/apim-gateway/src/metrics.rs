//! Prometheus counters for the traffic path: plain atomics, labels from small fixed sets only (status class,
//! throttle level, error code, upstream failure kind), so cardinality never grows with traffic. What every
//! request counts is counted per thread ([`crate::shard`]) and added up when read.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::shard::Sharded;

const BUCKETS_MS: [f64; 12] = [0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 5000.0];
pub const AUTH_CODES: [u32; 9] = [900900, 900901, 900902, 900903, 900905, 900907, 900908, 900909, 900910];
pub const THROTTLE_LEVELS: [&str; 6] = ["api", "resource", "subscription", "burst", "application", "blocked"];
pub const UPSTREAM_KINDS: [&str; 4] = ["connect", "timeout", "closed", "no_endpoint"];

/// The counters every request writes.
#[derive(Default)]
struct Requests {
    /// 1xx..5xx.
    by_class: [AtomicU64; 5],
    buckets: [AtomicU64; BUCKETS_MS.len()],
    latency_count: AtomicU64,
    latency_sum_us: AtomicU64,
}

#[derive(Default)]
pub struct Metrics {
    requests: Sharded<Requests>,
    auth: [AtomicU64; AUTH_CODES.len()],
    throttled: [AtomicU64; THROTTLE_LEVELS.len()],
    upstream: [AtomicU64; UPSTREAM_KINDS.len()],
    ws_idle_closed: AtomicU64,
}

impl Metrics {
    pub fn request(&self, status: u16, elapsed: Duration) {
        let mine = self.requests.mine();
        if let Some(c) = mine.by_class.get(usize::from(status / 100).wrapping_sub(1)) {
            c.fetch_add(1, Relaxed);
        }
        let ms = elapsed.as_secs_f64() * 1000.0;
        if let Some(i) = BUCKETS_MS.iter().position(|b| ms <= *b) {
            mine.buckets[i].fetch_add(1, Relaxed);
        }
        mine.latency_count.fetch_add(1, Relaxed);
        mine.latency_sum_us.fetch_add(elapsed.as_micros() as u64, Relaxed);
    }

    /// One request counter, every thread's added up.
    fn total(&self, counter: impl Fn(&Requests) -> &AtomicU64) -> u64 {
        self.requests.all().map(|r| counter(r).load(Relaxed)).sum()
    }

    fn by_class(&self) -> [u64; 5] {
        std::array::from_fn(|i| self.total(|r| &r.by_class[i]))
    }

    fn buckets(&self) -> [u64; BUCKETS_MS.len()] {
        std::array::from_fn(|i| self.total(|r| &r.buckets[i]))
    }

    pub fn auth_failure(&self, code: u32) {
        if let Some(i) = AUTH_CODES.iter().position(|c| *c == code) {
            self.auth[i].fetch_add(1, Relaxed);
        }
    }

    pub fn throttled(&self, level: &str) {
        if let Some(i) = THROTTLE_LEVELS.iter().position(|l| *l == level) {
            self.throttled[i].fetch_add(1, Relaxed);
        }
    }

    pub fn upstream_error(&self, kind: &str) {
        if let Some(i) = UPSTREAM_KINDS.iter().position(|k| *k == kind) {
            self.upstream[i].fetch_add(1, Relaxed);
        }
    }

    /// A WebSocket connection closed after an unanswered idle ping.
    pub fn idle_closed(&self) {
        self.ws_idle_closed.fetch_add(1, Relaxed);
    }

    /// The same counters as OTLP JSON metrics (cumulative since `start_ns`), under the Prometheus names so one
    /// dashboard reads either.
    pub fn otlp(&self, start_ns: u128, now_ns: u128) -> Vec<serde_json::Value> {
        use serde_json::json;
        let (start, now) = (start_ns.to_string(), now_ns.to_string());
        let point = |label: &str, value: &str, n: u64| json!({"attributes": [{"key": label, "value": {"stringValue": value}}], "startTimeUnixNano": start, "timeUnixNano": now, "asInt": n.to_string()});
        let sum = |name: &str, points: Vec<serde_json::Value>| json!({"name": name, "sum": {"aggregationTemporality": 2, "isMonotonic": true, "dataPoints": points}});
        let classes = self.by_class().iter().enumerate().map(|(i, c)| point("class", &format!("{}xx", i + 1), *c)).collect();
        let auth = AUTH_CODES.iter().zip(&self.auth).map(|(code, c)| point("code", &code.to_string(), c.load(Relaxed))).collect();
        let throttled = THROTTLE_LEVELS.iter().zip(&self.throttled).map(|(l, c)| point("level", l, c.load(Relaxed))).collect();
        let upstream = UPSTREAM_KINDS.iter().zip(&self.upstream).map(|(k, c)| point("kind", k, c.load(Relaxed))).collect();
        let count = self.total(|r| &r.latency_count);
        let mut buckets: Vec<u64> = self.buckets().to_vec();
        buckets.push(count.saturating_sub(buckets.iter().sum()));
        vec![
            sum("apim_gateway_requests_total", classes),
            json!({"name": "apim_gateway_request_duration_seconds", "unit": "s", "histogram": {"aggregationTemporality": 2, "dataPoints": [{
                "startTimeUnixNano": start, "timeUnixNano": now, "count": count.to_string(),
                "sum": self.total(|r| &r.latency_sum_us) as f64 / 1e6,
                "bucketCounts": buckets.iter().map(u64::to_string).collect::<Vec<_>>(),
                "explicitBounds": BUCKETS_MS.iter().map(|b| b / 1000.0).collect::<Vec<_>>(),
            }]}}),
            sum("apim_gateway_auth_failures_total", auth),
            sum("apim_gateway_throttled_total", throttled),
            sum("apim_gateway_upstream_errors_total", upstream),
        ]
    }

    pub fn render(&self, apis: usize, throttle_keys: usize) -> String {
        let mut out = String::with_capacity(4096);
        let _ = writeln!(
            out,
            "# HELP apim_gateway_requests_total Requests answered, by status class.\n# TYPE apim_gateway_requests_total counter"
        );
        for (i, c) in self.by_class().iter().enumerate() {
            let _ = writeln!(out, "apim_gateway_requests_total{{class=\"{}xx\"}} {c}", i + 1);
        }
        let _ = writeln!(
            out,
            "# HELP apim_gateway_request_duration_seconds Time from request to response headers.\n# TYPE apim_gateway_request_duration_seconds histogram"
        );
        let mut cumulative = 0;
        for (b, c) in BUCKETS_MS.iter().zip(self.buckets()) {
            cumulative += c;
            let _ = writeln!(out, "apim_gateway_request_duration_seconds_bucket{{le=\"{}\"}} {cumulative}", b / 1000.0);
        }
        let count = self.total(|r| &r.latency_count);
        let _ = writeln!(out, "apim_gateway_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "apim_gateway_request_duration_seconds_sum {}", self.total(|r| &r.latency_sum_us) as f64 / 1e6);
        let _ = writeln!(out, "apim_gateway_request_duration_seconds_count {count}");
        let _ = writeln!(
            out,
            "# HELP apim_gateway_auth_failures_total Authentication and authorization refusals, by WSO2 code.\n# TYPE apim_gateway_auth_failures_total counter"
        );
        for (code, c) in AUTH_CODES.iter().zip(&self.auth) {
            let _ = writeln!(out, "apim_gateway_auth_failures_total{{code=\"{code}\"}} {}", c.load(Relaxed));
        }
        let _ = writeln!(
            out,
            "# HELP apim_gateway_throttled_total Requests refused by throttling or blocking, by level.\n# TYPE apim_gateway_throttled_total counter"
        );
        for (level, c) in THROTTLE_LEVELS.iter().zip(&self.throttled) {
            let _ = writeln!(out, "apim_gateway_throttled_total{{level=\"{level}\"}} {}", c.load(Relaxed));
        }
        let _ = writeln!(
            out,
            "# HELP apim_gateway_upstream_errors_total Backend failures, by kind.\n# TYPE apim_gateway_upstream_errors_total counter"
        );
        for (kind, c) in UPSTREAM_KINDS.iter().zip(&self.upstream) {
            let _ = writeln!(out, "apim_gateway_upstream_errors_total{{kind=\"{kind}\"}} {}", c.load(Relaxed));
        }
        let _ = writeln!(
            out,
            "# HELP apim_gateway_websocket_idle_closed_total WebSocket connections closed after an unanswered idle ping.\n# TYPE apim_gateway_websocket_idle_closed_total counter\napim_gateway_websocket_idle_closed_total {}",
            self.ws_idle_closed.load(Relaxed)
        );
        let _ = writeln!(out, "# TYPE apim_gateway_apis gauge\napim_gateway_apis {apis}");
        let _ = writeln!(out, "# TYPE apim_gateway_throttle_keys gauge\napim_gateway_throttle_keys {throttle_keys}");
        out
    }
}
