//! The typed configuration: what the roles read. Built only from a fully resolved and validated tree.

use std::fmt;
use std::path::PathBuf;

use apim_domain::NodeRole;

/// A secret value (password, client secret). Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(********)")
    }
}

/// Port defaults of WSO2 API-M; `[server] offset` is added to every one.
pub mod ports {
    pub const MGT_HTTPS: u16 = 9443;
    pub const MGT_HTTP: u16 = 9763;
    pub const GW_HTTP: u16 = 8280;
    pub const GW_HTTPS: u16 = 8243;
    pub const GW_WS: u16 = 9099;
    pub const GW_WSS: u16 = 8099;
    pub const EVENT_HUB: u16 = 5672;
    pub const TM_INGEST: u16 = 9611;
    pub const TM_INGEST_TLS: u16 = 9711;
}

#[derive(Clone, Debug)]
pub struct DeploymentConfig {
    pub server: Server,
    pub transport: Transport,
    pub super_admin: SuperAdmin,
    pub user_store: UserStoreKind,
    /// `[identity_mgt.user_self_registration] allow_self_registration`: visitors of the DevPortal may make their own
    /// subscriber accounts (WSO2's default: yes).
    pub self_sign_up: bool,
    /// `[apim.analytics]`: the embedded pipeline's switch and retention.
    pub analytics: Analytics,
    pub apim_db: Option<Database>,
    pub shared_db: Option<Database>,
    pub keystore_tls: Keystore,
    /// `[keystore.tls_ecdsa]`: an ECDSA identity beside `[keystore.tls]` (usually RSA); a TLS client that can
    /// check ECDSA signatures gets it, the others the first.
    pub keystore_tls_ecdsa: Option<Keystore>,
    pub truststore: Option<Keystore>,
    /// `[apim.key_manager]`: where the key manager is, when it is not in this process.
    pub key_manager: Option<ServiceRef>,
    pub event_hub: Option<EventHub>,
    pub throttling: Option<Throttling>,
    pub gateway_environments: Vec<GatewayEnvironment>,
    pub gateway_sync: GatewaySync,
    /// `[apim.devportal] url`.
    pub devportal_url: Option<String>,
    /// `[apim.publisher] allowed_private_hosts`: the hosts and address ranges on private, loopback or link-local
    /// addresses the Publisher may still reach when it fetches or probes a URL (a private registry); none by default.
    pub publisher_private_hosts: Vec<PrivateHost>,
    pub cors: Option<Cors>,
    /// `[apim.gateway]` request-path settings of apim-rs's own: path canonicalisation and trusted proxies.
    pub gateway_request: GatewayRequest,
    /// `[apim.jwt]` with `enable = true`: gateways send a signed JWT about the caller to backends.
    pub backend_jwt: Option<BackendJwt>,
    pub event_listeners: Vec<EventListener>,
    /// `[oauth]`: the key manager's token settings.
    pub oauth: OAuthSettings,
    /// Where generated files (certificates, embedded databases) live: `--data-dir`, default `./data`.
    pub data_dir: PathBuf,
    /// Directory of the configuration file; relative keystore paths are looked up there first.
    pub config_dir: PathBuf,
}

/// `[apim.analytics]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Analytics {
    /// `enable`: gateways record per-minute aggregates and ship them to the control plane (default true).
    pub enable: bool,
    /// `retention_days`: the control plane deletes rows older than this (default 30).
    pub retention_days: u32,
    /// `type = "elk"` (or `"opensearch"`): gateways also write WSO2's `apim_metrics.log`, one line per request.
    pub elk_log: Option<ElkLog>,
    /// `[apim.analytics.otlp]`: gateways send OpenTelemetry traces and metrics to a collector.
    pub otlp: Option<Otlp>,
    /// `exporters_yield` (default true): the exporters' thread runs on CPU time the request path leaves
    /// (`SCHED_IDLE`), taking a normal share only while it has fallen behind and may (CAP_SYS_NICE); false gives it
    /// a normal share always.
    pub exporters_yield: bool,
}

impl Default for Analytics {
    fn default() -> Analytics {
        Analytics { enable: true, retention_days: 30, elk_log: None, otlp: None, exporters_yield: true }
    }
}

/// WSO2's ELK analytics log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElkLog {
    /// `log_file`: default `<data dir>/logs/apim_metrics.log`.
    pub file: PathBuf,
    /// `log_max_size_mb`: rolled over beyond this (WSO2's appender: 1000), keeping `log_max_files` old ones (10).
    pub max_bytes: u64,
    pub max_files: u32,
}

/// OpenTelemetry over OTLP/HTTP.
#[derive(Clone, Debug, PartialEq)]
pub struct Otlp {
    /// `endpoint`: the collector's OTLP/HTTP base URL; traces go to `/v1/traces`, metrics to `/v1/metrics`.
    pub endpoint: String,
    /// `protocol = "http/json"` (else `"http/protobuf"`, OTLP's default): how spans are encoded.
    pub json: bool,
    /// `sampling_ratio` (0 to 1, default 1): the share of traces a gateway starts that it records; a client's
    /// `traceparent` decides for its own trace.
    pub sampling_ratio: f64,
    /// `service_name`: the `service.name` resource attribute (default `apim-gateway`).
    pub service_name: String,
    /// `metrics_interval_seconds`: how often the gateway's counters are sent (default 60; 0 sends none).
    pub metrics_interval_secs: u32,
}

impl DeploymentConfig {
    /// `https://<hostname>:<port>` as clients see this node: `proxyPort` when set, else the bound HTTPS port.
    pub fn public_https_base(&self) -> String {
        let port = self.transport.https_proxy_port.unwrap_or_else(|| self.transport.https_port());
        if port == 443 { format!("https://{}", self.server.hostname) } else { format!("https://{}:{port}", self.server.hostname) }
    }

    /// The credentials gateways and traffic managers present to each other: `[apim.throttling]` username and
    /// password, else the super admin's (WSO2's defaults).
    pub fn throttling_credentials(&self) -> (String, String) {
        let t = self.throttling.as_ref();
        (
            t.and_then(|t| t.username.clone()).unwrap_or_else(|| self.super_admin.username.clone()),
            t.and_then(|t| t.password.as_ref()).unwrap_or(&self.super_admin.password).expose().to_string(),
        )
    }
}

/// `[oauth]` with WSO2 Identity Server's key names: `[oauth] issuer`,
/// `[oauth.token_validity.<kind>] validity_period`, `[oauth.token_generation] access_token_type`.
#[derive(Clone, Debug)]
pub struct OAuthSettings {
    pub issuer: Option<String>,
    /// Seconds; `application_access_token` / `user_access_token` (one value: the larger wins).
    pub access_token_ttl: i64,
    pub refresh_token_ttl: i64,
    pub authorization_code_ttl: i64,
    /// `access_token_type = "opaque"` (WSO2's `default`) instead of `self_contained` JWTs.
    pub opaque_by_default: bool,
    /// `[oauth.token_generation] signing_algorithm`: how the key manager signs its JWTs.
    pub signing_algorithm: TokenSigning,
}

/// A key manager's JWT signature algorithm (`RS256`, `ES256` or `EdDSA`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TokenSigning {
    /// With the node's RSA key (`[keystore.tls]`'s, as WSO2 signs with wso2carbon).
    #[default]
    Rs256,
    /// With a P-256 key of the key manager's own, kept under the data directory.
    Es256,
    /// With an Ed25519 key of the key manager's own, kept under the data directory.
    EdDsa,
}

impl TokenSigning {
    pub const ALL: [TokenSigning; 3] = [TokenSigning::Rs256, TokenSigning::Es256, TokenSigning::EdDsa];

    /// The JOSE name.
    pub fn name(self) -> &'static str {
        match self {
            TokenSigning::Rs256 => "RS256",
            TokenSigning::Es256 => "ES256",
            TokenSigning::EdDsa => "EdDSA",
        }
    }
}

impl Default for OAuthSettings {
    fn default() -> Self {
        OAuthSettings {
            issuer: None,
            access_token_ttl: 3600,
            refresh_token_ttl: 86400,
            authorization_code_ttl: 300,
            opaque_by_default: false,
            signing_algorithm: TokenSigning::Rs256,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Server {
    pub hostname: String,
    pub node_ip: Option<String>,
    /// `server_role` as written (`default`, `control-plane`, `gateway-worker`, ...).
    pub server_role: String,
    /// The roles `server_role` stands for; `default` is all of them.
    pub roles: Vec<NodeRole>,
    pub offset: u16,
    pub base_path: Option<String>,
}

/// Management listeners. Ports here are as configured; use [`Transport::https_port`] for the bound one.
#[derive(Clone, Debug)]
pub struct Transport {
    pub https_port: u16,
    pub http_port: u16,
    pub https_proxy_port: Option<u16>,
    pub http_proxy_port: Option<u16>,
    pub offset: u16,
    /// `[transport.limits]`: bounds every listener of the node (management, gateway traffic, WebSocket).
    pub limits: ListenerLimits,
    /// `[transport.tls]`: handshakes on every TLS listener of the node.
    pub tls: TlsSettings,
}

/// `[transport.tls]` (apim-rs's own keys): how TLS handshakes are made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsSettings {
    /// `key_exchange_groups`, in the server's order of preference.
    pub key_exchange_groups: Vec<KxGroup>,
    /// `session_tickets`: resumption by stateless tickets (keys rotated every 6 hours, shared by the node's
    /// workers).
    pub session_tickets: bool,
    /// `session_cache_size`: sessions kept for resumption by id (TLS 1.2 clients without tickets); 0 keeps none.
    pub session_cache_size: usize,
}

impl Default for TlsSettings {
    fn default() -> Self {
        TlsSettings { key_exchange_groups: KxGroup::DEFAULT.to_vec(), session_tickets: true, session_cache_size: 8192 }
    }
}

/// A TLS key-exchange group, as `key_exchange_groups` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KxGroup {
    X25519,
    Secp256r1,
    Secp384r1,
    /// The post-quantum hybrid (ML-KEM-768 with X25519): offered last by default, so only a client that sends
    /// nothing else gets it; put it first to prefer it.
    X25519MlKem768,
}

impl KxGroup {
    /// The fastest first (X25519), the post-quantum hybrid offered but not forced.
    pub const DEFAULT: [KxGroup; 4] = [KxGroup::X25519, KxGroup::Secp256r1, KxGroup::Secp384r1, KxGroup::X25519MlKem768];
    pub const ALL: [KxGroup; 4] = KxGroup::DEFAULT;

    /// The IANA name, as written in the configuration.
    pub fn name(self) -> &'static str {
        match self {
            KxGroup::X25519 => "X25519",
            KxGroup::Secp256r1 => "secp256r1",
            KxGroup::Secp384r1 => "secp384r1",
            KxGroup::X25519MlKem768 => "X25519MLKEM768",
        }
    }

    pub fn parse(s: &str) -> Option<KxGroup> {
        KxGroup::ALL.into_iter().find(|g| g.name().eq_ignore_ascii_case(s))
    }
}

/// `[transport.limits]` (apim-rs's own keys): what one client can hold of a listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListenerLimits {
    /// `header_read_timeout` (seconds): a request head must arrive within this; on HTTP/1.1 it is also how long
    /// a kept-alive connection may wait for its next request.
    pub header_read_timeout: std::time::Duration,
    /// `idle_timeout` (seconds): a connection that moves no byte either way for this long is closed; a WebSocket
    /// connection is pinged first and closed when the ping goes unanswered as long again.
    pub idle_timeout: std::time::Duration,
    /// `max_connections`: open connections per listener; more are closed at once, after accept.
    pub max_connections: usize,
    /// `max_connections_per_client`: open connections per client address and listener (trusted proxies are
    /// exempt: a load balancer carries many clients).
    pub max_connections_per_client: usize,
}

impl Default for ListenerLimits {
    fn default() -> Self {
        ListenerLimits {
            header_read_timeout: std::time::Duration::from_secs(10),
            idle_timeout: std::time::Duration::from_secs(120),
            max_connections: 10_000,
            max_connections_per_client: 512,
        }
    }
}

impl Transport {
    /// The port to bind: configured + offset, except that 0 (ephemeral) stays 0.
    pub fn effective(&self, port: u16) -> u16 {
        if port == 0 { 0 } else { port.saturating_add(self.offset) }
    }
    pub fn https_port(&self) -> u16 {
        self.effective(self.https_port)
    }
    pub fn http_port(&self) -> u16 {
        self.effective(self.http_port)
    }
}

#[derive(Clone, Debug)]
pub struct SuperAdmin {
    pub username: String,
    pub password: Secret,
    pub create_admin_account: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserStoreKind {
    /// WSO2's `database_unique_id`: users with immutable unique ids in `shared_db`.
    DatabaseUniqueId,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DbKind {
    Sqlite,
    Postgres,
    MySql,
}

impl DbKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DbKind::Sqlite => "sqlite",
            DbKind::Postgres => "postgres",
            DbKind::MySql => "mysql",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DbTarget {
    File(PathBuf),
    Server { host: String, port: u16, name: String },
}

/// `[database.apim_db]` or `[database.shared_db]`.
#[derive(Clone, Debug)]
pub struct Database {
    /// `apim_db` or `shared_db`: named in every log line about this pool.
    pub pool: String,
    pub kind: DbKind,
    /// The `type` as written (`h2`, `mysql`, `postgre`, ...).
    pub declared_type: String,
    pub target: DbTarget,
    pub username: Option<String>,
    pub password: Option<Secret>,
}

impl Database {
    /// `host:port` or the file path, for messages.
    pub fn address(&self) -> String {
        match &self.target {
            DbTarget::File(p) => p.display().to_string(),
            DbTarget::Server { host, port, .. } => format!("{host}:{port}"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeystoreType {
    Jks,
    Pkcs12,
    Pem,
}

/// `[keystore.tls]` or `[truststore]`.
#[derive(Clone, Debug)]
pub struct Keystore {
    pub file_name: PathBuf,
    pub kind: KeystoreType,
    pub password: Secret,
    pub alias: Option<String>,
    pub key_password: Option<Secret>,
}

impl Keystore {
    /// The seeds' default keystore; when it does not exist a certificate is generated instead.
    pub const DEFAULT_FILE: &'static str = "wso2carbon.jks";
    pub const DEFAULT_TRUSTSTORE: &'static str = "client-truststore.jks";
    /// Where a relative `file_name` is looked for, after the configuration file's directory.
    pub const SEARCHED: &'static str = "beside the configuration file, under repository/resources/security/, and in the working directory";

    /// Finds the file: as given if absolute; otherwise beside the configuration file, then under
    /// `repository/resources/security/` (where WSO2 keeps it), then in the working directory.
    pub fn locate(&self, config_dir: &std::path::Path) -> Option<PathBuf> {
        let file = &self.file_name;
        if file.is_absolute() {
            return file.exists().then(|| file.to_path_buf());
        }
        [config_dir.join(file), PathBuf::from("repository/resources/security").join(file), file.to_path_buf()]
            .into_iter()
            .find(|p| p.exists())
    }
}

/// A `service_url` with the credentials used against it.
#[derive(Clone, Debug)]
pub struct ServiceRef {
    pub service_url: String,
    pub username: Option<String>,
    pub password: Option<Secret>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndpointScheme {
    /// `tcp://`: plain.
    Tcp,
    /// `ssl://`: TLS.
    Ssl,
}

/// A node-to-node stream endpoint such as `tcp://cp.wso2.com:5672`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub scheme: EndpointScheme,
    pub host: String,
    pub port: u16,
}

#[derive(Clone, Debug, Default)]
pub struct UrlGroup {
    pub urls: Vec<Endpoint>,
    pub auth_urls: Vec<Endpoint>,
}

#[derive(Clone, Debug)]
pub struct EventHub {
    pub enable: bool,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub service_url: Option<String>,
    pub event_listening_endpoints: Vec<Endpoint>,
    pub event_duplicate_url: Vec<Endpoint>,
    pub publish_url_groups: Vec<UrlGroup>,
}

#[derive(Clone, Debug)]
pub struct Throttling {
    pub service_url: Option<String>,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub enable_data_publishing: bool,
    pub throttle_decision_endpoints: Vec<Endpoint>,
    pub event_duplicate_url: Vec<Endpoint>,
    pub url_groups: Vec<UrlGroup>,
    /// `skip_redeploying_policies`: policies a traffic manager does not enforce across gateways (each gateway
    /// still counts them on its own), as WSO2's traffic manager does not deploy them.
    pub skip_redeploying_policies: Vec<String>,
    /// What a gateway does while no traffic manager's decision stream is live (ours; WSO2 has no such key and
    /// silently fails open).
    pub fail_mode: FailMode,
}

/// `[apim.throttling] fail_mode`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FailMode {
    /// `fail_open` (default): node-local limits only, logged and shown by `apim_gateway_throttle_degraded`.
    #[default]
    Open,
    /// `fail_closed`: requests under any cluster-wide limit are refused with 503 until a traffic manager is back.
    Closed,
}

#[derive(Clone, Debug)]
pub struct GatewayEnvironment {
    pub name: String,
    /// `hybrid`, `production` or `sandbox`.
    pub kind: String,
    pub display_in_api_console: bool,
    pub description: Option<String>,
    pub show_as_token_endpoint_url: bool,
    pub service_url: Option<String>,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub ws_endpoint: Option<String>,
    pub wss_endpoint: Option<String>,
    pub http_endpoint: Option<String>,
    pub https_endpoint: Option<String>,
}

/// `[apim.sync_runtime_artifacts.gateway]`.
#[derive(Clone, Debug, Default)]
pub struct GatewaySync {
    pub gateway_labels: Vec<String>,
    pub skip_apis: Vec<String>,
    pub skip_endpoints: Vec<String>,
    pub skip_sequences: Vec<String>,
    pub skip_local_entries: Vec<String>,
}

/// How the gateway reads a request's path and client address (`[apim.gateway]`; not WSO2 keys).
#[derive(Clone, Debug, Default)]
pub struct GatewayRequest {
    /// `encoded_slash = "keep"`: `%2F`/`%5C` in a path stay encoded instead of a 400 (`"reject"`, the default).
    pub keep_encoded_slash: bool,
    /// `merge_slashes = true`: `//` in a path is read as `/`.
    pub merge_slashes: bool,
    /// `trusted_proxies`: addresses or CIDR ranges of load balancers. From these the client address is the
    /// right-most `X-Forwarded-For` hop that is not itself trusted; other peers' `X-Forwarded-For` is ignored.
    pub trusted_proxies: Vec<IpNet>,
    /// `proxy_protocol = true`: connections to the traffic listeners from `trusted_proxies` start with a PROXY
    /// protocol header (HAProxy's v1 or v2), whose source address is the client's.
    pub proxy_protocol: bool,
}

impl GatewayRequest {
    pub fn trusts(&self, ip: std::net::IpAddr) -> bool {
        self.trusted_proxies.iter().any(|n| n.contains(ip))
    }
}

/// An address range written as `10.0.0.0/8`, `::1/128` or a single address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpNet {
    pub addr: std::net::IpAddr,
    pub prefix: u8,
}

impl IpNet {
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        use std::net::IpAddr;
        // An IPv4 client on a dual-stack socket arrives as `::ffff:a.b.c.d`.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// Why a `trusted_proxies` entry is not an address or range.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IpNetError {
    #[error("`{0}` is not an IP address or CIDR range")]
    NotAnAddress(String),
    #[error("`{text}`: the prefix length must be 0-{max}")]
    BadPrefix { text: String, max: u8 },
}

impl std::str::FromStr for IpNet {
    type Err = IpNetError;
    fn from_str(s: &str) -> Result<IpNet, IpNetError> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: std::net::IpAddr = a.trim().parse().map_err(|_| IpNetError::NotAnAddress(s.to_string()))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            None => max,
            Some(p) => match p.trim().parse::<u8>() {
                Ok(n) if n <= max => n,
                _ => return Err(IpNetError::BadPrefix { text: s.to_string(), max }),
            },
        };
        Ok(IpNet { addr, prefix })
    }
}

/// An entry of `[apim.publisher] allowed_private_hosts`: a host name (matched without regard to case) or an
/// address range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PrivateHost {
    Name(String),
    Net(IpNet),
}

impl PrivateHost {
    /// A name is letters, digits, `-`, `_` and `.`; anything else must read as an address or a range.
    pub fn parse(s: &str) -> Result<PrivateHost, IpNetError> {
        let s = s.trim();
        let name_like = !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        match s.parse::<IpNet>() {
            Ok(net) => Ok(PrivateHost::Net(net)),
            Err(_) if name_like && s.chars().any(|c| c.is_ascii_alphabetic()) => Ok(PrivateHost::Name(s.to_ascii_lowercase())),
            Err(e) => Err(e),
        }
    }
}

#[derive(Clone, Debug)]
pub struct BackendJwt {
    /// `header`, default `X-JWT-Assertion`.
    pub header: String,
}

#[derive(Clone, Debug)]
pub struct Cors {
    /// `enable`: CORS headers are added at the gateway (default true when the table is present).
    pub enable: bool,
    pub allow_origins: Vec<String>,
    pub allow_methods: Vec<String>,
    pub allow_headers: Vec<String>,
    pub allow_credentials: bool,
}

/// `[[event_listener]]`; the one with `id = "token_revocation"` receives revocation notices.
#[derive(Clone, Debug)]
pub struct EventListener {
    pub id: String,
    pub kind: Option<String>,
    pub name: Option<String>,
    pub order: i64,
    pub notification_endpoint: Option<String>,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// `'header.X-Name' = "value"` properties.
    pub headers: Vec<(String, String)>,
}
