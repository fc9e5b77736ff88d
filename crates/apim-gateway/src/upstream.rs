//! Backends: endpoint groups (`http`, `load_balance` round robin, `failover`) with suspension of endpoints
//! that fail to connect, and the pooled keep-alive client that calls them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use http::Uri;
use serde_json::Value;

/// How long an endpoint that refused a connection is skipped (WSO2's initial suspension).
const SUSPEND_MS: u64 = 30_000;
/// Default time to wait for the backend's response headers.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug)]
pub struct Endpoint {
    pub url: String,
    scheme: http::uri::Scheme,
    authority: http::uri::Authority,
    /// `Host` for requests to it, made once.
    host_header: Option<http::HeaderValue>,
    /// Path of the endpoint URL without a trailing `/` (`""` for the root).
    base_path: String,
    suspended_until_ms: AtomicU64,
    pub timeout: Duration,
    host: String,
    port: u16,
    pool: Arc<crate::pool::Pool>,
}

impl Endpoint {
    fn parse(v: &Value) -> Result<Endpoint, String> {
        let url = v.get("url").and_then(Value::as_str).ok_or("an endpoint without a url")?.trim();
        // WebSocket endpoints connect like HTTP ones; the handshake is an HTTP/1.1 request.
        let as_http = match (url.strip_prefix("ws://"), url.strip_prefix("wss://")) {
            (Some(rest), _) => format!("http://{rest}"),
            (_, Some(rest)) => format!("https://{rest}"),
            _ => url.to_string(),
        };
        let uri: Uri = as_http.parse().map_err(|e| format!("endpoint `{url}`: {e}"))?;
        let scheme = uri.scheme().cloned().ok_or(format!("endpoint `{url}` has no scheme"))?;
        if scheme != http::uri::Scheme::HTTP && scheme != http::uri::Scheme::HTTPS {
            return Err(format!("endpoint `{url}` is not http or https"));
        }
        let authority = uri.authority().cloned().ok_or(format!("endpoint `{url}` has no host"))?;
        let timeout = v
            .pointer("/config/actionDuration")
            .and_then(|d| d.as_u64().or_else(|| d.as_str().and_then(|s| s.parse().ok())))
            .map(Duration::from_millis)
            .unwrap_or(DEFAULT_TIMEOUT);
        let host = uri.host().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_string();
        let port = uri.port_u16().unwrap_or(if scheme == http::uri::Scheme::HTTPS { 443 } else { 80 });
        Ok(Endpoint {
            url: url.to_string(),
            host,
            port,
            pool: Arc::default(),
            scheme,
            host_header: http::HeaderValue::from_str(authority.as_str()).ok(),
            authority,
            base_path: uri.path().trim_end_matches('/').to_string(),
            suspended_until_ms: AtomicU64::new(0),
            timeout,
        })
    }

    /// An endpoint of its own for a service the gateway calls itself (an interceptor service): `url` is http or
    /// https, and `timeout` bounds the wait for its answer's head.
    pub fn for_url(url: &str, timeout: Duration) -> Result<Endpoint, String> {
        let mut e = Endpoint::parse(&serde_json::json!({ "url": url }))?;
        e.timeout = timeout;
        Ok(e)
    }

    /// The backend request target (origin form: path and query) for the request's remainder `rest` (starts
    /// with `/` or is empty) and query.
    pub fn uri_for(&self, rest: &str, query: Option<&str>) -> Result<Uri, http::Error> {
        let mut pq = String::with_capacity(self.base_path.len() + rest.len() + query.map_or(0, |q| q.len() + 1) + 1);
        pq.push_str(&self.base_path);
        pq.push_str(rest);
        if pq.is_empty() {
            pq.push('/');
        }
        if let Some(q) = query {
            pq.push('?');
            pq.push_str(q);
        }
        Uri::builder().path_and_query(pq).build()
    }

    /// A new connection of its own, able to switch protocols (a WebSocket handshake).
    pub async fn connect_upgradable(
        &self,
        tls: &tokio_rustls::TlsConnector,
    ) -> Result<hyper::client::conn::http1::SendRequest<crate::body::Body>, crate::pool::PoolError> {
        match crate::pool::connect(&self.scheme, &self.host, self.port, tls, true).await? {
            crate::pool::Conn::H1(s) => Ok(s),
            crate::pool::Conn::H2(_) => Err(crate::pool::PoolError::Connect("the backend chose HTTP/2 for a WebSocket handshake".into())),
        }
    }

    /// Sends a request on one of this endpoint's kept-alive connections; its response head must come within the
    /// endpoint's timeout (`PoolError::Timeout`). The pool's own future, not one wrapped around it: a level of
    /// `async` more would copy it once more per request.
    /// `from`: when the timeout starts.
    pub fn send<'a>(
        &'a self,
        tls: &'a tokio_rustls::TlsConnector,
        req: http::Request<crate::body::Body>,
        from: std::time::Instant,
    ) -> impl Future<Output = Result<http::Response<crate::body::Body>, crate::pool::PoolError>> + Send + 'a {
        let deadline = tokio::time::Instant::from_std(from) + self.timeout;
        self.pool.send(&self.scheme, &self.authority, (&self.host, self.port), tls, req, deadline)
    }

    pub fn host_header(&self) -> Option<&http::HeaderValue> {
        self.host_header.as_ref()
    }

    fn available(&self, now_ms: u64) -> bool {
        self.suspended_until_ms.load(Ordering::Relaxed) <= now_ms
    }

    pub fn suspend(&self) {
        self.suspended_until_ms.store(now_ms() + SUSPEND_MS, Ordering::Relaxed);
    }

    pub fn recovered(&self) {
        if self.suspended_until_ms.load(Ordering::Relaxed) != 0 {
            self.suspended_until_ms.store(0, Ordering::Relaxed);
        }
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Single,
    RoundRobin,
    Failover,
}

#[derive(Debug)]
pub struct EndpointGroup {
    mode: Mode,
    endpoints: Vec<Endpoint>,
    next: AtomicUsize,
}

fn endpoint_list(v: Option<&Value>) -> Vec<&Value> {
    match v {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(o @ Value::Object(_)) => vec![o],
        _ => Vec::new(),
    }
}

impl EndpointGroup {
    /// The `production` or `sandbox` group of an `endpointConfig`. `old` is the same API's group in the
    /// previous snapshot: reused when its URLs are unchanged, so suspensions and the round-robin position
    /// survive unrelated changes.
    pub fn from_config(ec: &Value, which: &str, old: Option<Arc<EndpointGroup>>) -> Result<Option<Arc<EndpointGroup>>, String> {
        let kind = ec.get("endpoint_type").and_then(Value::as_str).unwrap_or("http");
        let mut list: Vec<&Value> = endpoint_list(ec.get(format!("{which}_endpoints")));
        let mode = match kind {
            "load_balance" => Mode::RoundRobin,
            "failover" => {
                list.truncate(1);
                list.extend(endpoint_list(ec.get(format!("{which}_failovers"))));
                Mode::Failover
            }
            _ => {
                list.truncate(1);
                Mode::Single
            }
        };
        if list.is_empty() {
            return Ok(None);
        }
        let endpoints = list.into_iter().map(Endpoint::parse).collect::<Result<Vec<_>, _>>()?;
        if let Some(old) = old
            && old.mode == mode
            && old.endpoints.len() == endpoints.len()
            && old.endpoints.iter().zip(&endpoints).all(|(a, b)| a.url == b.url && a.timeout == b.timeout)
        {
            return Ok(Some(old));
        }
        Ok(Some(Arc::new(EndpointGroup { mode, endpoints, next: AtomicUsize::new(0) })))
    }

    /// Endpoints in the order to try them: available ones first (round robin starts at the next in turn;
    /// failover at the primary), then suspended ones as a last resort.
    pub fn candidates(&self) -> impl Iterator<Item = &Endpoint> + '_ {
        let n = self.endpoints.len();
        let start = match self.mode {
            Mode::RoundRobin if n > 1 => self.next.fetch_add(1, Ordering::Relaxed) % n,
            _ => 0,
        };
        // The clock is read only when some endpoint is suspended (rare); 0 makes every endpoint available.
        let now = if self.endpoints.iter().any(|e| e.suspended_until_ms.load(Ordering::Relaxed) != 0) { now_ms() } else { 0 };
        let ordered = move || (0..n).map(move |i| &self.endpoints[(start + i) % n]);
        ordered().filter(move |e| e.available(now)).chain(ordered().filter(move |e| !e.available(now)))
    }

    pub fn len(&self) -> usize {
        self.endpoints.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn groups_from_endpoint_config() {
        let ec = json!({"endpoint_type": "load_balance",
            "production_endpoints": [{"url": "http://a:1/x/"}, {"url": "http://b:2"}],
            "sandbox_endpoints": {"url": "https://s:3/sb"}});
        let prod = EndpointGroup::from_config(&ec, "production", None).expect("valid").expect("present");
        let first: Vec<String> = prod.candidates().map(|e| e.url.clone()).collect();
        let second: Vec<String> = prod.candidates().map(|e| e.url.clone()).collect();
        assert_ne!(first[0], second[0], "round robin moves on");
        let uri = prod.endpoints[0].uri_for("/menu", Some("a=1")).expect("uri");
        assert_eq!(uri.to_string(), "/x/menu?a=1");
        assert_eq!(prod.endpoints[1].uri_for("", None).expect("uri").to_string(), "/");
        prod.endpoints[0].suspend();
        assert!(prod.candidates().all(|e| e.url == "http://b:2" || std::ptr::eq(e, &prod.endpoints[0])));
        assert_eq!(prod.candidates().next().map(|e| e.url.as_str()).unwrap_or_default(), "http://b:2", "a suspended endpoint goes last");
        let fo = json!({"endpoint_type": "failover", "production_endpoints": {"url": "http://p:1"}, "production_failovers": [{"url": "http://f:1"}]});
        let g = EndpointGroup::from_config(&fo, "production", None).expect("valid").expect("present");
        assert_eq!(g.candidates().map(|e| e.url.as_str()).collect::<Vec<_>>(), ["http://p:1", "http://f:1"]);
        assert!(EndpointGroup::from_config(&json!({"production_endpoints": {"url": "ftp://x"}}), "production", None).is_err());
        assert!(EndpointGroup::from_config(&json!({}), "sandbox", None).expect("valid").is_none());
    }
}
