//! The gateway: its configuration, its state (the snapshot, caches, counters) and what the node does with it
//! (install a state, revoke a token, report usage, render metrics). The request chain is `proxy.rs`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use apim_config::DeploymentConfig;
use apim_domain::scopes::TokenAuthority;
use arc_swap::ArcSwap;

use crate::{auth, metrics, snapshot, target, throttle};

/// What the gateway reads from `deployment.toml`.
#[derive(Clone, Debug)]
pub struct Config {
    /// `[apim.sync_runtime_artifacts.gateway] gateway_labels`: only APIs deployed to these are served.
    pub gateway_labels: Vec<String>,
    /// API traffic ports, offset applied: 8280 (HTTP) and 8243 (HTTPS).
    pub http_port: u16,
    pub https_port: u16,
    /// WebSocket API ports, offset applied: 9099 (WS) and 8099 (WSS).
    pub ws_port: u16,
    pub wss_port: u16,
    /// `[apim.cors]`: applies to every API that has no `corsConfiguration` of its own.
    pub cors: Option<apim_config::Cors>,
    /// `[apim.jwt] enable = true`: the header the backend JWT goes in.
    pub backend_jwt_header: Option<http::HeaderName>,
    /// `[apim.gateway] encoded_slash`, `merge_slashes`: how request paths are put in canonical form.
    pub path_policy: target::PathPolicy,
    /// `[apim.gateway] trusted_proxies`: peers whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<apim_config::IpNet>,
    /// `[transport.limits] idle_timeout`: a silent WebSocket connection is pinged after this, closed after twice.
    pub idle_timeout: Duration,
    /// The certificates backends are verified against (the truststore, as the connector given to
    /// [`Gateway::new`] trusts them): a backend with endpoint certificates is verified against these and its own.
    pub upstream_roots: Vec<rustls_pki_types::CertificateDer<'static>>,
    /// `[apim.analytics] enable`: each request is folded into the per-minute analytics table.
    pub analytics: bool,
    /// The exporters that are on.
    pub exports: crate::export::Settings,
}

impl Config {
    pub fn from_deployment(d: &DeploymentConfig) -> Config {
        let offset = d.server.offset;
        Config {
            gateway_labels: d.gateway_sync.gateway_labels.clone(),
            http_port: 8280u16.saturating_add(offset),
            https_port: 8243u16.saturating_add(offset),
            ws_port: 9099u16.saturating_add(offset),
            wss_port: 8099u16.saturating_add(offset),
            cors: d.cors.clone().filter(|c| c.enable),
            backend_jwt_header: d
                .backend_jwt
                .as_ref()
                .and_then(|j| http::HeaderName::from_bytes(j.header.to_ascii_lowercase().as_bytes()).ok()),
            path_policy: target::PathPolicy {
                encoded_slash: if d.gateway_request.keep_encoded_slash { target::EncodedSlash::Keep } else { target::EncodedSlash::Reject },
                merge_slashes: d.gateway_request.merge_slashes,
            },
            trusted_proxies: d.gateway_request.trusted_proxies.clone(),
            idle_timeout: d.transport.limits.idle_timeout,
            upstream_roots: Vec::new(),
            analytics: d.analytics.enable,
            exports: crate::export::Settings::from_deployment(d),
        }
    }

    /// The gateway's part of its start-up log line (the node adds what it is wired to).
    pub fn summary(&self) -> String {
        format!("gateway labels [{}], traffic on {} (http) and {} (https)", self.gateway_labels.join(", "), self.http_port, self.https_port)
    }
}

pub struct Gateway {
    pub(crate) cfg: Config,
    pub(crate) snapshot: ArcSwap<snapshot::Snapshot>,
    pub(crate) synced: AtomicBool,
    pub(crate) auth: auth::Authenticator,
    pub(crate) counters: throttle::Counters,
    /// Offers `h2` and `http/1.1` by ALPN; `upstream_tls_h1` only `http/1.1`, for WebSocket handshakes.
    pub(crate) upstream_tls: tokio_rustls::TlsConnector,
    pub(crate) upstream_tls_h1: tokio_rustls::TlsConnector,
    /// Signs backend JWTs (`[apim.jwt]`); each is cached per token and API until it expires.
    pub(crate) jwt_signer: Option<Arc<apim_jose::jwt::SigningKey>>,
    pub(crate) backend_jwts: dashmap::DashMap<(String, String), (http::HeaderValue, i64), foldhash::fast::RandomState>,
    pub(crate) metrics: metrics::Metrics,
    /// Every backend, interceptor service and key-manager JWKS endpoint the snapshots name, by URL: their
    /// connections and suspensions outlive snapshots.
    pub(crate) endpoints: crate::upstream::Registry,
    /// Per-minute analytics, when `[apim.analytics]` is on; the node's shipper takes the closed minutes.
    pub(crate) analytics: Option<crate::analytics::Recorder>,
    /// The request events' queue, when an exporter is on (`[apim.analytics] type`, `[apim.analytics.otlp]`).
    pub(crate) exports: Option<crate::export::Exports>,
}

impl crate::export::Outlet for Gateway {
    fn collector(&self, url: &str, timeout: Duration) -> Result<Arc<crate::upstream::Endpoint>, String> {
        self.endpoints.endpoint(url, timeout)
    }

    fn tls(&self) -> &tokio_rustls::TlsConnector {
        &self.upstream_tls
    }

    fn metrics(&self) -> &metrics::Metrics {
        &self.metrics
    }
}

impl Gateway {
    /// `upstream_tls` verifies backends (the truststore); `authority` is the key manager tokens come from.
    /// `jwt_signer` signs backend JWTs when `[apim.jwt]` is enabled (the node's key).
    pub fn new(
        cfg: Config,
        upstream_tls: rustls::ClientConfig,
        authority: Arc<dyn TokenAuthority>,
        jwt_signer: Option<Arc<apim_jose::jwt::SigningKey>>,
    ) -> Arc<Gateway> {
        let gw = Arc::new_cyclic(|weak| Gateway {
            exports: cfg
                .exports
                .any()
                .then(|| crate::export::Exports::start(cfg.exports.clone(), weak.clone() as Weak<dyn crate::export::Outlet>))
                .flatten(),
            snapshot: ArcSwap::from_pointee(snapshot::Snapshot::default()),
            synced: AtomicBool::new(false),
            auth: auth::Authenticator::new(authority),
            counters: throttle::Counters::default(),
            upstream_tls: {
                let mut both = upstream_tls.clone();
                both.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
                tokio_rustls::TlsConnector::from(Arc::new(both))
            },
            upstream_tls_h1: {
                let mut h1 = upstream_tls;
                h1.alpn_protocols = vec![b"http/1.1".to_vec()];
                tokio_rustls::TlsConnector::from(Arc::new(h1))
            },
            jwt_signer,
            backend_jwts: dashmap::DashMap::default(),
            metrics: metrics::Metrics::default(),
            endpoints: crate::upstream::Registry::default(),
            analytics: cfg.analytics.then(crate::analytics::Recorder::default),
            cfg,
        });
        // Expired windows, revocations and cache entries go once a minute; the task ends with the gateway.
        let weak = Arc::downgrade(&gw);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(gw) = weak.upgrade() else { return };
                let now = auth::now_ms();
                gw.counters.sweep(now);
                gw.auth.sweep(now);
                let secs = (now / 1000) as i64;
                gw.backend_jwts.retain(|_, (_, exp)| *exp > secs);
            }
        });
        gw
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Compiles and publishes a new runtime state; requests in flight finish on the old snapshot.
    pub fn install(&self, state: &apim_wire::RuntimeState) {
        let previous = self.snapshot.load();
        let mut next = snapshot::Snapshot::compile(state, Some(&previous), &self.endpoints);
        next.endpoint_trust =
            crate::upstream::EndpointTrust::build(&state.endpoint_certificates, &self.cfg.upstream_roots, &previous.endpoint_trust);
        let changed = next.endpoint_trust.changed_from(&previous.endpoint_trust);
        tracing::debug!(seq = next.seq, apis = next.router.len(), "runtime snapshot installed");
        self.snapshot.store(Arc::new(next));
        // Connections verified under trust that changed go once the new snapshot is served.
        for (host, port) in changed {
            tracing::info!(host = %host, port, "endpoint certificates changed: kept backend connections dropped");
            self.endpoints.reset_trust(&host, port);
        }
        self.synced.store(true, Ordering::Release);
    }

    /// The event sequence number the served snapshot reflects.
    pub fn seq(&self) -> i64 {
        self.snapshot.load().seq
    }

    /// The analytics rows changed since the last call and the requests left unrecorded (see
    /// [`crate::analytics::Recorder::take_changes`]); `None` when `[apim.analytics]` is off.
    pub fn take_analytics(&self, now_ms: u64) -> Option<(Vec<apim_wire::analytics::MinuteRow>, u64)> {
        self.analytics.as_ref().map(|a| a.take_changes(now_ms))
    }

    /// Requests recorded but given up before they reached the control plane.
    pub fn analytics_lost(&self, requests: u64) {
        if let Some(a) = &self.analytics {
            a.note_lost(requests);
        }
    }

    /// Readiness: a first snapshot has been installed.
    pub fn is_synced(&self) -> bool {
        self.synced.load(Ordering::Acquire)
    }

    /// A revocation notice from a key manager (`jti` or the SHA-256 hex of an opaque token).
    pub fn revoke(&self, token_id: &str, expires_at: i64) {
        self.auth.revoke(token_id, expires_at);
    }

    /// Reports usage to traffic managers from now on; `fail_mode` applies while none is reachable.
    /// `node_id` is the id it reports under, to which traffic managers address allowances.
    pub fn link_traffic_managers(&self, fail_mode: apim_config::FailMode, node_id: &str) {
        self.counters.link(fail_mode, node_id, auth::now_ms());
    }

    /// Usage records of the windows changed since the last call.
    pub fn usage_changed(&self) -> Vec<apim_wire::throttle::UsageRecord> {
        self.counters.changed(auth::now_ms())
    }

    /// Every live window's usage record.
    pub fn usage_all(&self) -> Vec<apim_wire::throttle::UsageRecord> {
        self.counters.all(auth::now_ms())
    }

    /// A traffic manager's throttle decisions and allowances.
    pub fn apply_decisions(&self, batch: &apim_wire::throttle::DecisionBatch) {
        self.counters.apply(batch, auth::now_ms());
    }

    /// How many traffic managers' decision and usage streams are live.
    pub fn traffic_managers_live(&self, decision_streams: usize, usage_streams: usize) {
        self.counters.set_live(decision_streams, usage_streams);
    }

    /// Prometheus text exposition for `/metrics`.
    pub fn metrics_text(&self) -> String {
        let mut out = self.metrics.render(self.snapshot.load().router.len(), self.counters.len());
        out.push_str(&format!(
            "# TYPE apim_gateway_throttle_decisions gauge\napim_gateway_throttle_decisions {}\n\
             # TYPE apim_gateway_throttle_degraded gauge\napim_gateway_throttle_degraded {}\n\
             # HELP apim_gateway_endpoints Backends, interceptor services and JWKS endpoints with a connection pool.\n\
             # TYPE apim_gateway_endpoints gauge\napim_gateway_endpoints {}\n",
            self.counters.decisions_in_force(),
            u8::from(self.counters.is_degraded(auth::now_ms())),
            self.endpoints.live()
        ));
        if let Some(e) = &self.exports {
            e.render(&mut out);
        }
        if let Some(a) = &self.analytics {
            out.push_str(&format!(
                "# HELP apim_gateway_analytics_dropped_total Requests left out of analytics: a minute's table was full, or a batch was given up.\n\
                 # TYPE apim_gateway_analytics_dropped_total counter\napim_gateway_analytics_dropped_total {}\n",
                a.dropped_total()
            ));
        }
        out
    }

    /// A hyper connection builder with the traffic listeners' limits: headers must arrive within 10 s
    /// (slow-loris) and fit in 64 KiB (431 otherwise).
    pub fn connection_builder(header_read_timeout: Duration) -> hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor> {
        let mut b = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
        b.http1()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(header_read_timeout)
            .max_buf_size(64 * 1024)
            .keep_alive(true);
        b.http2().timer(hyper_util::rt::TokioTimer::new()).max_header_list_size(64 * 1024).max_concurrent_streams(256);
        b
    }
}
