//! Backends: endpoint groups (`http`, `load_balance` round robin, `failover`) with suspension of endpoints
//! that fail to connect, and the pooled keep-alive client that calls them. Endpoints come from the gateway's
//! [`Registry`], keyed by URL and timeout: their connections and suspensions outlive snapshots, and every API,
//! interceptor service and key manager naming one URL shares them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use std::collections::HashMap;
use std::sync::{Mutex, Weak};

use http::Uri;

/// How long an endpoint that refused a connection is skipped (WSO2's initial suspension).
const SUSPEND_MS: u64 = 30_000;
/// Default time to wait for the backend's response headers.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug)]
pub struct Endpoint {
    /// Shared: each traced request's event names it.
    pub url: Arc<str>,
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
    fn new(url: &str, timeout: Duration, connect_timeout: Option<Duration>) -> Result<Endpoint, String> {
        let url = url.trim();
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
        let host = uri.host().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_string();
        let port = uri.port_u16().unwrap_or(if scheme == http::uri::Scheme::HTTPS { 443 } else { 80 });
        Ok(Endpoint {
            url: Arc::from(url),
            host,
            port,
            pool: Arc::new(crate::pool::Pool::with_connect_timeout(connect_timeout)),
            scheme,
            host_header: http::HeaderValue::from_str(authority.as_str()).ok(),
            authority,
            base_path: uri.path().trim_end_matches('/').to_string(),
            suspended_until_ms: AtomicU64::new(0),
            timeout,
        })
    }

    /// An endpoint outside any registry (tests): `url` is http or https, and `timeout` bounds the wait for its
    /// answer's head.
    #[cfg(test)]
    pub fn for_url(url: &str, timeout: Duration) -> Result<Endpoint, String> {
        Endpoint::new(url, timeout, None)
    }

    /// The backend request target (origin form: path and query) for the request's remainder `rest` (starts
    /// with `/` or is empty) and query.
    pub fn uri_for(&self, rest: &str, query: Option<&str>) -> Result<Uri, http::Error> {
        // Exactly the length: `Bytes` takes a buffer as it is only when it is full, and copies it into one more
        // allocation otherwise.
        let path = (self.base_path.len() + rest.len()).max(1);
        let mut pq = String::with_capacity(path + query.map_or(0, |q| q.len() + 1));
        pq.push_str(&self.base_path);
        pq.push_str(rest);
        if pq.is_empty() {
            pq.push('/');
        }
        if let Some(q) = query {
            pq.push('?');
            pq.push_str(q);
        }
        // Straight from the path and query: `Uri::builder` would move its parts through each step.
        let pq = http::uri::PathAndQuery::from_maybe_shared(bytes::Bytes::from(pq))?;
        Ok(Uri::from(pq))
    }

    /// A new connection of its own, able to switch protocols (a WebSocket handshake).
    pub async fn connect_upgradable(
        &self,
        tls: &tokio_rustls::TlsConnector,
    ) -> Result<hyper::client::conn::http1::SendRequest<crate::body::Body>, crate::pool::PoolError> {
        match crate::pool::connect(&self.scheme, &self.host, self.port, tls, true, self.pool.connect_timeout()).await? {
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
        self.send_with(tls, req, from, crate::pool::Sending::PLAIN)
    }

    /// `send`, the answer's headers handed on, and a `traceparent` added, as `sending` says.
    pub fn send_with<'a>(
        &'a self,
        tls: &'a tokio_rustls::TlsConnector,
        req: http::Request<crate::body::Body>,
        from: std::time::Instant,
        sending: crate::pool::Sending<'a>,
    ) -> impl Future<Output = Result<http::Response<crate::body::Body>, crate::pool::PoolError>> + Send + 'a {
        let deadline = tokio::time::Instant::from_std(from) + self.timeout;
        let to = crate::pool::Address { scheme: &self.scheme, authority: &self.authority, host: &self.host, port: self.port };
        self.pool.send(to, tls, req, deadline, sending)
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
    endpoints: Vec<Arc<Endpoint>>,
    next: AtomicUsize,
}

/// The endpoints a gateway calls, by URL and timeouts. It holds them weakly: an endpoint lives while a snapshot
/// (or an in-flight request) holds it, and a later snapshot naming the same URL gets the same one back, with its
/// kept-alive connections and its suspension.
#[derive(Debug, Default)]
pub struct Registry {
    endpoints: Mutex<HashMap<EndpointKey, Weak<Endpoint>>>,
}

/// URL, answer timeout, connect timeout.
type EndpointKey = (String, Duration, Option<Duration>);

impl Registry {
    /// The endpoint for `url` (http or https) with `timeout` for its answer's head.
    pub fn endpoint(&self, url: &str, timeout: Duration) -> Result<Arc<Endpoint>, String> {
        self.endpoint_connecting_within(url, timeout, None)
    }

    /// The endpoint for `url` whose new connections must also be made within `connect_timeout` (an interceptor's
    /// `clusterTimeout`; `None` is the pool's default).
    pub fn endpoint_connecting_within(
        &self,
        url: &str,
        timeout: Duration,
        connect_timeout: Option<Duration>,
    ) -> Result<Arc<Endpoint>, String> {
        let key = (url.trim().to_string(), timeout, connect_timeout);
        let mut map = self.endpoints.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = map.get(&key).and_then(Weak::upgrade) {
            return Ok(e);
        }
        let e = Arc::new(Endpoint::new(url, timeout, connect_timeout)?);
        // Entries of endpoints no snapshot holds any more go when the map has doubled since the last sweep.
        if map.len() >= 64 && map.len().is_power_of_two() {
            map.retain(|_, w| w.strong_count() > 0);
        }
        map.insert(key, Arc::downgrade(&e));
        Ok(e)
    }

    /// Drops the kept connections of every HTTPS endpoint on `host` (lower case) and `port`: what verifies their
    /// backend changed, so connections verified before must not be used again.
    pub fn reset_trust(&self, host: &str, port: u16) {
        let map = self.endpoints.lock().unwrap_or_else(|p| p.into_inner());
        for e in map.values().filter_map(Weak::upgrade) {
            if e.scheme == http::uri::Scheme::HTTPS && e.port == port && e.host.eq_ignore_ascii_case(host) {
                e.pool.reset();
            }
        }
    }

    /// How many endpoints are alive (held by a snapshot or a request).
    pub fn live(&self) -> usize {
        self.endpoints.lock().unwrap_or_else(|p| p.into_inner()).values().filter(|w| w.strong_count() > 0).count()
    }
}

impl EndpointGroup {
    /// The `production` or `sandbox` group of an `endpointConfig`, its endpoints from `registry`. `old` is the
    /// same API's group in the previous snapshot: reused when its endpoints are unchanged, so the round-robin
    /// position survives unrelated changes.
    pub fn from_config(
        ec: &apim_wire::api::EndpointConfig,
        which: apim_wire::api::KeyGroup,
        registry: &Registry,
        old: Option<Arc<EndpointGroup>>,
    ) -> Result<Option<Arc<EndpointGroup>>, String> {
        use apim_wire::api::EndpointType;
        let list = ec.group(which);
        if list.is_empty() {
            return Ok(None);
        }
        let mode = match ec.endpoint_type {
            EndpointType::LoadBalance => Mode::RoundRobin,
            EndpointType::Failover => Mode::Failover,
            EndpointType::Single => Mode::Single,
        };
        let endpoints = list
            .into_iter()
            .map(|e| registry.endpoint(&e.url, e.config.action_duration.map_or(DEFAULT_TIMEOUT, Duration::from_millis)))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(old) = old
            && old.mode == mode
            && old.endpoints.len() == endpoints.len()
            && old.endpoints.iter().zip(&endpoints).all(|(a, b)| Arc::ptr_eq(a, b))
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
        let ordered = move || (0..n).map(move |i| &*self.endpoints[(start + i) % n]);
        ordered().filter(move |e| e.available(now)).chain(ordered().filter(move |e| !e.available(now)))
    }

    pub fn len(&self) -> usize {
        self.endpoints.len()
    }
}

/// TLS for backends that have endpoint certificates (the Publisher's `/endpoint-certificates`): per host and
/// port, connectors trusting the truststore and those certificates. Built once per snapshot; empty (every
/// backend verified by the gateway's one shared connector) unless some certificate is uploaded.
#[derive(Default)]
pub struct EndpointTrust {
    /// Lower-case host → (port, its connectors).
    by_host: HashMap<String, Vec<(u16, Arc<TrustedTls>)>>,
}

/// The connectors for one host and port, and the certificates they add to the truststore.
pub struct TrustedTls {
    /// Offers `h2` and `http/1.1`; `h1` only `http/1.1` (WebSocket handshakes).
    pub both: tokio_rustls::TlsConnector,
    pub h1: tokio_rustls::TlsConnector,
    certificates: Vec<rustls_pki_types::CertificateDer<'static>>,
}

impl EndpointTrust {
    /// Connectors for every https endpoint `certificates` name, trusting `roots` (the truststore) and the
    /// certificates uploaded for that host and port. A certificate that is not PEM, or no usable trust anchor,
    /// is logged and left out. Connectors of `previous` whose certificates are unchanged are kept.
    pub fn build(
        certificates: &[apim_wire::RuntimeEndpointCertificate],
        roots: &[rustls_pki_types::CertificateDer<'static>],
        previous: &EndpointTrust,
    ) -> EndpointTrust {
        use rustls_pki_types::pem::PemObject;
        let mut grouped: HashMap<(String, u16), Vec<rustls_pki_types::CertificateDer<'static>>> = HashMap::new();
        for c in certificates {
            let Ok(uri) = c.endpoint.trim().parse::<Uri>() else {
                tracing::warn!(alias = %c.alias, endpoint = %c.endpoint, "endpoint certificate for an endpoint that is not a URL: left out");
                continue;
            };
            // Only TLS backends use it; an http endpoint's certificate has nothing to verify.
            if uri.scheme() != Some(&http::uri::Scheme::HTTPS) {
                continue;
            }
            let Some(host) = uri.host().map(|h| h.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase()) else { continue };
            let ders: Vec<_> = rustls_pki_types::CertificateDer::pem_slice_iter(c.certificate.as_bytes()).filter_map(Result::ok).collect();
            if ders.is_empty() {
                tracing::warn!(alias = %c.alias, "endpoint certificate is not PEM: left out");
                continue;
            }
            grouped.entry((host, uri.port_u16().unwrap_or(443))).or_default().extend(ders);
        }
        let mut by_host: HashMap<String, Vec<(u16, Arc<TrustedTls>)>> = HashMap::new();
        for ((host, port), certificates) in grouped {
            if let Some(kept) = previous.find(&host, port).filter(|t| t.certificates == certificates) {
                by_host.entry(host).or_default().push((port, kept.clone()));
                continue;
            }
            let mut store = rustls::RootCertStore::empty();
            store.add_parsable_certificates(roots.iter().cloned());
            let (_, ignored) = store.add_parsable_certificates(certificates.iter().cloned());
            if ignored > 0 {
                tracing::debug!(host = %host, port, ignored, "endpoint certificates that are no trust anchor: matched as the server's own only");
            }
            let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
            let webpki = match rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider.clone()).build() {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!(host = %host, port, "endpoint certificates left out: {e}");
                    continue;
                }
            };
            // The validity of each certificate, read once: a pinned one is refused once it has expired.
            let pinned = certificates
                .iter()
                .filter_map(|c| {
                    let info = apim_jose::x509::certificate_der(c.as_ref()).ok()?;
                    Some((c.clone(), info.not_before, info.not_after))
                })
                .collect();
            let verifier = Arc::new(PinnedOrWebPki { pinned, webpki });
            let Ok(builder) = rustls::ClientConfig::builder_with_provider(provider).with_safe_default_protocol_versions() else { continue };
            let config = builder.dangerous().with_custom_certificate_verifier(verifier).with_no_client_auth();
            let mut both = config.clone();
            both.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
            let mut h1 = config;
            h1.alpn_protocols = vec![b"http/1.1".to_vec()];
            let tls = TrustedTls {
                both: tokio_rustls::TlsConnector::from(Arc::new(both)),
                h1: tokio_rustls::TlsConnector::from(Arc::new(h1)),
                certificates,
            };
            by_host.entry(host).or_default().push((port, Arc::new(tls)));
        }
        EndpointTrust { by_host }
    }

    fn find(&self, host: &str, port: u16) -> Option<&Arc<TrustedTls>> {
        self.by_host.get(host)?.iter().find(|(p, _)| *p == port).map(|(_, t)| t)
    }

    pub fn is_empty(&self) -> bool {
        self.by_host.is_empty()
    }

    /// The connectors of an https endpoint that has certificates of its own.
    pub fn of(&self, e: &Endpoint) -> Option<&TrustedTls> {
        if e.scheme != http::uri::Scheme::HTTPS {
            return None;
        }
        let list = match self.by_host.get(e.host.as_str()) {
            Some(l) => l,
            None if e.host.bytes().any(|b| b.is_ascii_uppercase()) => self.by_host.get(&e.host.to_ascii_lowercase())?,
            None => return None,
        };
        list.iter().find(|(p, _)| *p == e.port).map(|(_, t)| &**t)
    }

    /// `(host, port)` whose certificates differ between `self` and `other` (added, removed or replaced).
    pub fn changed_from(&self, other: &EndpointTrust) -> Vec<(String, u16)> {
        let certs = |t: &EndpointTrust, host: &str, port: u16| t.find(host, port).map(|t| t.certificates.clone());
        let mut out = Vec::new();
        for t in [self, other] {
            for (host, list) in &t.by_host {
                for (port, _) in list {
                    if certs(self, host, *port) != certs(other, host, *port) && !out.contains(&(host.clone(), *port)) {
                        out.push((host.clone(), *port));
                    }
                }
            }
        }
        out
    }
}

/// Verifies a backend with endpoint certificates: a chain to the truststore or to one of them (webpki, with the
/// server's name), or else the very certificate uploaded for this host and port while it is valid. The second
/// way takes what webpki refuses but WSO2 (Java's truststore) accepts: a self-signed certificate marked as a CA,
/// as `openssl req -x509` makes them, presented as the server's own.
#[derive(Debug)]
struct PinnedOrWebPki {
    /// Each uploaded certificate with its validity (Unix seconds).
    pinned: Vec<(rustls_pki_types::CertificateDer<'static>, i64, i64)>,
    webpki: Arc<rustls::client::WebPkiServerVerifier>,
}

impl rustls::client::danger::ServerCertVerifier for PinnedOrWebPki {
    fn verify_server_cert(
        &self,
        end_entity: &rustls_pki_types::CertificateDer<'_>,
        intermediates: &[rustls_pki_types::CertificateDer<'_>],
        server_name: &rustls_pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        match self.webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Ok(v) => Ok(v),
            Err(e) => {
                let secs = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
                let pinned =
                    self.pinned.iter().any(|(c, from, until)| c.as_ref() == end_entity.as_ref() && *from <= secs && secs <= *until);
                if pinned { Ok(rustls::client::danger::ServerCertVerified::assertion()) } else { Err(e) }
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(v: serde_json::Value) -> apim_wire::api::EndpointConfig {
        serde_json::from_value(v).expect("an endpointConfig")
    }

    #[test]
    fn groups_from_endpoint_config() {
        use apim_wire::api::KeyGroup::{Production, Sandbox};
        let registry = Registry::default();
        let ec = config(json!({"endpoint_type": "load_balance",
            "production_endpoints": [{"url": "http://a:1/x/"}, {"url": "http://b:2"}],
            "sandbox_endpoints": {"url": "https://s:3/sb"}}));
        let prod = EndpointGroup::from_config(&ec, Production, &registry, None).expect("valid").expect("present");
        let first: Vec<String> = prod.candidates().map(|e| e.url.to_string()).collect();
        let second: Vec<String> = prod.candidates().map(|e| e.url.to_string()).collect();
        assert_ne!(first[0], second[0], "round robin moves on");
        let uri = prod.endpoints[0].uri_for("/menu", Some("a=1")).expect("uri");
        assert_eq!(uri.to_string(), "/x/menu?a=1");
        assert_eq!(prod.endpoints[1].uri_for("", None).expect("uri").to_string(), "/");
        prod.endpoints[0].suspend();
        assert!(prod.candidates().all(|e| &*e.url == "http://b:2" || std::ptr::eq(e, &*prod.endpoints[0])));
        assert_eq!(prod.candidates().next().map(|e| &*e.url).unwrap_or_default(), "http://b:2", "a suspended endpoint goes last");
        let fo = config(
            json!({"endpoint_type": "failover", "production_endpoints": {"url": "http://p:1"}, "production_failovers": [{"url": "http://f:1"}]}),
        );
        let g = EndpointGroup::from_config(&fo, Production, &registry, None).expect("valid").expect("present");
        assert_eq!(g.candidates().map(|e| &*e.url).collect::<Vec<_>>(), ["http://p:1", "http://f:1"]);
        let ftp = config(json!({"production_endpoints": {"url": "ftp://x"}}));
        assert!(EndpointGroup::from_config(&ftp, Production, &registry, None).is_err());
        assert!(EndpointGroup::from_config(&config(json!({})), Sandbox, &registry, None).expect("valid").is_none());

        // One URL, one endpoint: another API naming it shares its connections and suspension, and an unchanged
        // group is kept (with its round-robin position); an endpoint nothing holds any more is gone.
        let again = EndpointGroup::from_config(&ec, Production, &registry, None).expect("valid").expect("present");
        assert!(Arc::ptr_eq(&again.endpoints[0], &prod.endpoints[0]));
        assert!(again.endpoints[0].suspended_until_ms.load(Ordering::Relaxed) != 0, "the suspension is shared");
        let kept = EndpointGroup::from_config(&ec, Production, &registry, Some(prod.clone())).expect("valid").expect("present");
        assert!(Arc::ptr_eq(&kept, &prod));
        let live = registry.live();
        drop((g, fo));
        assert_eq!(registry.live(), live - 2, "the failover group's two endpoints are gone with it");
    }

    /// A self-signed certificate for `backend.test` (openssl, valid until 2126).
    const BACKEND_PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIBnjCCAUSgAwIBAgIUYGI0PplXFR9u6fKgtiJxfAczkEIwCgYIKoZIzj0EAwIw\nFzEVMBMGA1UEAwwMYmFja2VuZC50ZXN0MCAXDTI2MTIwNTExMTYwM1oYDzIxMjYx\nMTExMTExNjAzWjAXMRUwEwYDVQQDDAxiYWNrZW5kLnRlc3QwWTATBgcqhkjOPQIB\nBggqhkjOPQMBBwNCAAQ/pvG5+OkbIGEe163roDZSGNsSneTBRSEQUm3xFKDX7JMb\nJmEBTZ5uhQfnEbStiSypXb75Th4JpdkmA0mg9EBOo2wwajAdBgNVHQ4EFgQUj5rt\nRStE3cEYvg9qPhqggQus2scwHwYDVR0jBBgwFoAUj5rtRStE3cEYvg9qPhqggQus\n2scwDwYDVR0TAQH/BAUwAwEB/zAXBgNVHREEEDAOggxiYWNrZW5kLnRlc3QwCgYI\nKoZIzj0EAwIDSAAwRQIhAI+BMGhKWsujPYdaXW/vzW6OPbuki19GGe+V8wxWqO9e\nAiBmEtZgHvFt5MlCNWtAiLby77Vi5rgQG2jbAg0PmELemg==\n-----END CERTIFICATE-----";

    #[test]
    fn endpoint_certificates_give_their_host_and_port_connectors_of_their_own() {
        let one = |endpoint: &str, pem: &str| apim_wire::RuntimeEndpointCertificate {
            alias: "a".into(),
            endpoint: endpoint.into(),
            certificate: pem.into(),
        };
        let empty = EndpointTrust::default();
        let trust = EndpointTrust::build(
            &[
                one("https://Backend.test:8443/v1", BACKEND_PEM),
                one("https://other.test", "not pem"),
                one("http://plain.test", BACKEND_PEM),
            ],
            &[],
            &empty,
        );
        let registry = Registry::default();
        let at = |url: &str| registry.endpoint(url, DEFAULT_TIMEOUT).expect("endpoint");
        assert!(trust.of(&at("https://backend.test:8443/x")).is_some());
        assert!(trust.of(&at("https://BACKEND.test:8443")).is_some(), "hosts without regard to case");
        assert!(trust.of(&at("https://backend.test:9443")).is_none(), "another port");
        assert!(trust.of(&at("http://backend.test:8443")).is_none(), "plain http");
        assert!(trust.of(&at("https://other.test")).is_none(), "not PEM: left out");
        assert!(trust.of(&at("https://plain.test")).is_none());
        assert_eq!(trust.changed_from(&empty), [("backend.test".to_string(), 8443)]);
        // Unchanged: the same connectors, nothing to reset; removed: its host and port changed.
        let again = EndpointTrust::build(&[one("https://backend.test:8443", BACKEND_PEM)], &[], &trust);
        assert!(Arc::ptr_eq(again.find("backend.test", 8443).expect("kept"), trust.find("backend.test", 8443).expect("first")));
        assert!(again.changed_from(&trust).is_empty());
        assert_eq!(empty.changed_from(&again), [("backend.test".to_string(), 8443)]);
    }
}
