//! Reads the typed [`DeploymentConfig`] out of a resolved tree. Every key read is marked; whatever is
//! left unmarked is a key this version does not implement, reported once each.

use std::collections::HashSet;
use std::ops::Range;
use std::path::{Path, PathBuf};

use apim_domain::NodeRole;

use crate::model::*;
use crate::resolve::join;
use crate::source::Diagnostic;
use crate::tree::{Entry, Node, Table, Value};

pub(crate) struct Reader {
    pub diags: Vec<Diagnostic>,
    used: HashSet<usize>,
}

#[derive(Clone, Copy)]
pub(crate) struct Tbl<'t> {
    table: &'t Table,
    span: Option<(usize, usize)>,
}

impl Reader {
    pub fn new() -> Reader {
        Reader { diags: Vec::new(), used: HashSet::new() }
    }

    fn error(&mut self, path: &str, span: Option<Range<usize>>, msg: impl Into<String>) {
        self.diags.push(Diagnostic::error(path, span, msg));
    }

    fn entry<'t>(&mut self, t: Tbl<'t>, prefix: &str, keys: &[&str]) -> Option<(&'t Entry, String)> {
        for key in keys {
            if let Some(e) = t.table.get(key) {
                self.used.insert(e.key_span.start);
                return Some((e, join(prefix, &e.key)));
            }
        }
        None
    }

    fn str(&mut self, t: Tbl<'_>, prefix: &str, key: &str) -> Option<String> {
        let (e, path) = self.entry(t, prefix, &[key])?;
        match &e.node.value {
            Value::String(s) => Some(s.clone()),
            other => {
                let msg = format!("expected a string, found {}", other.type_name());
                self.error(&path, Some(e.node.span.clone()), msg);
                None
            }
        }
    }

    fn secret(&mut self, t: Tbl<'_>, prefix: &str, key: &str) -> Option<Secret> {
        self.str(t, prefix, key).map(Secret::new)
    }

    fn bool(&mut self, t: Tbl<'_>, prefix: &str, key: &str, default: bool) -> bool {
        let Some((e, path)) = self.entry(t, prefix, &[key]) else { return default };
        match &e.node.value {
            Value::Boolean(b) => *b,
            Value::String(s) if s.eq_ignore_ascii_case("true") => true,
            Value::String(s) if s.eq_ignore_ascii_case("false") => false,
            other => {
                let msg = format!("expected true or false, found {}", describe(other));
                self.error(&path, Some(e.node.span.clone()), msg);
                default
            }
        }
    }

    /// An integer written as a number or as a numeric string (the seeds write `port = "3306"`).
    fn int(&mut self, t: Tbl<'_>, prefix: &str, key: &str) -> Option<(i64, String, Range<usize>)> {
        let (e, path) = self.entry(t, prefix, &[key])?;
        let span = e.node.span.clone();
        let parsed = match &e.node.value {
            Value::Integer(i) => Some(*i),
            Value::String(s) => s.trim().parse::<i64>().ok(),
            _ => None,
        };
        match parsed {
            Some(i) => Some((i, path, span)),
            None => {
                let msg = format!("expected an integer, found {}", describe(&e.node.value));
                self.error(&path, Some(span), msg);
                None
            }
        }
    }

    fn port(&mut self, t: Tbl<'_>, prefix: &str, key: &str) -> Option<(u16, String, Range<usize>)> {
        let (i, path, span) = self.int(t, prefix, key)?;
        match u16::try_from(i) {
            Ok(p) => Some((p, path, span)),
            Err(_) => {
                self.error(&path, Some(span), format!("port {i} is out of range (0-65535)"));
                None
            }
        }
    }

    /// A list of strings; a single string is taken as a list of one.
    fn strings(&mut self, t: Tbl<'_>, prefix: &str, keys: &[&str]) -> Vec<String> {
        let Some((e, path)) = self.entry(t, prefix, keys) else { return Vec::new() };
        match &e.node.value {
            Value::String(s) => vec![s.clone()],
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    match &item.value {
                        Value::String(s) => out.push(s.clone()),
                        other => {
                            let msg = format!("expected a list of strings, found an element that is {}", describe(other));
                            self.error(&path, Some(item.span.clone()), msg);
                        }
                    }
                }
                out
            }
            other => {
                let msg = format!("expected a list of strings, found {}", describe(other));
                self.error(&path, Some(e.node.span.clone()), msg);
                Vec::new()
            }
        }
    }

    fn endpoints(&mut self, t: Tbl<'_>, prefix: &str, key: &str) -> Vec<Endpoint> {
        let Some((e, path)) = self.entry(t, prefix, &[key]) else { return Vec::new() };
        let nodes: Vec<&Node> = match &e.node.value {
            Value::Array(items) => items.iter().collect(),
            _ => vec![&e.node],
        };
        let mut out = Vec::new();
        for node in nodes {
            match &node.value {
                Value::String(s) => match parse_endpoint(s) {
                    Ok(ep) => out.push(ep),
                    Err(msg) => self.error(&path, Some(node.span.clone()), msg),
                },
                other => {
                    let msg = format!("expected an endpoint such as \"tcp://host:5672\", found {}", describe(other));
                    self.error(&path, Some(node.span.clone()), msg);
                }
            }
        }
        out
    }

    fn url(&mut self, t: Tbl<'_>, prefix: &str, key: &str, schemes: &[&str]) -> Option<String> {
        let span = t.table.get(key).map(|e| e.node.span.clone());
        let s = self.str(t, prefix, key)?;
        let scheme_ok = schemes.iter().any(|sc| s.len() > sc.len() + 3 && s.starts_with(sc) && s[sc.len()..].starts_with("://"));
        if !scheme_ok {
            let msg = format!("`{s}` is not a URL with scheme {}", schemes.join(" or "));
            self.error(&join(prefix, key), span, msg);
            return None;
        }
        Some(s)
    }

    fn table<'t>(&mut self, t: Tbl<'t>, prefix: &str, keys: &[&str]) -> Option<(Tbl<'t>, String)> {
        let (e, path) = self.entry(t, prefix, keys)?;
        match &e.node.value {
            Value::Table(inner) => Some((Tbl { table: inner, span: Some((e.key_span.start, e.key_span.end)) }, path)),
            other => {
                let msg = format!("expected a table, found {}", describe(other));
                self.error(&path, Some(e.node.span.clone()), msg);
                None
            }
        }
    }

    /// `[[x]]` arrays of tables; a plain `[x]` table counts as one element.
    fn tables<'t>(&mut self, t: Tbl<'t>, prefix: &str, key: &str) -> Vec<(Tbl<'t>, String)> {
        let Some((e, path)) = self.entry(t, prefix, &[key]) else { return Vec::new() };
        let span = Some((e.key_span.start, e.key_span.end));
        match &e.node.value {
            Value::Table(inner) => vec![(Tbl { table: inner, span }, path)],
            Value::Array(items) => {
                let mut out = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    match &item.value {
                        Value::Table(inner) => {
                            out.push((Tbl { table: inner, span: Some((item.span.start, item.span.end)) }, format!("{path}[{i}]")))
                        }
                        other => {
                            let msg = format!("expected a table, found {}", describe(other));
                            self.error(&path, Some(item.span.clone()), msg);
                        }
                    }
                }
                out
            }
            other => {
                let msg = format!("expected a table or an array of tables, found {}", describe(other));
                self.error(&path, Some(e.node.span.clone()), msg);
                Vec::new()
            }
        }
    }

    /// One warning per key that nothing read, at the outermost unread key.
    pub fn unread_keys(&self, root: &Table) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        self.collect_unread(root, "", &mut out);
        out
    }

    fn collect_unread(&self, table: &Table, prefix: &str, out: &mut Vec<Diagnostic>) {
        for e in &table.entries {
            let path = join(prefix, &e.key);
            if !self.used.contains(&e.key_span.start) {
                out.push(Diagnostic::warning(
                    &path,
                    Some(e.key_span.clone()),
                    "key is not supported by this version of apim and is ignored",
                ));
                continue;
            }
            match &e.node.value {
                Value::Table(t) => self.collect_unread(t, &path, out),
                Value::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        if let Value::Table(t) = &item.value {
                            self.collect_unread(t, &format!("{path}[{i}]"), out);
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::String(s) => format!("string \"{s}\""),
        Value::Integer(i) => format!("integer {i}"),
        Value::Boolean(b) => format!("boolean {b}"),
        other => other.type_name().to_string(),
    }
}

/// Parses `tcp://host:port` / `ssl://host:port`.
pub fn parse_endpoint(s: &str) -> Result<Endpoint, String> {
    let (scheme, rest) = s.split_once("://").ok_or_else(|| format!("`{s}` is not an endpoint such as \"tcp://host:5672\""))?;
    let scheme = match scheme {
        "tcp" => EndpointScheme::Tcp,
        "ssl" => EndpointScheme::Ssl,
        other => return Err(format!("endpoint `{s}` has scheme `{other}`; expected tcp or ssl")),
    };
    let authority = rest.trim_end_matches('/');
    let (host, port) = authority.rsplit_once(':').ok_or_else(|| format!("endpoint `{s}` has no port"))?;
    let port = port.parse::<u16>().map_err(|_| format!("endpoint `{s}` has an invalid port `{port}`"))?;
    if host.is_empty() {
        return Err(format!("endpoint `{s}` has no host"));
    }
    Ok(Endpoint { scheme, host: host.to_string(), port })
}

fn server_roles(role: &str) -> Option<Vec<NodeRole>> {
    Some(match role {
        "default" | "all-in-one" => NodeRole::ALL.to_vec(),
        "control-plane" => vec![NodeRole::ControlPlane],
        "gateway-worker" | "gateway" => vec![NodeRole::Gateway],
        "traffic-manager" => vec![NodeRole::TrafficManager],
        "api-key-manager-deprecated" | "key-manager" => vec![NodeRole::KeyManager],
        _ => return None,
    })
}

pub(crate) struct BuildInputs<'a> {
    pub data_dir: &'a Path,
    pub config_dir: &'a Path,
    pub port_offset_override: Option<u16>,
}

/// Reads every implemented key. Errors and the typed value come back together so all errors are reported
/// at once; the caller discards the value if there are errors.
pub(crate) fn build(root: &Table, inputs: &BuildInputs<'_>, r: &mut Reader) -> DeploymentConfig {
    let top = Tbl { table: root, span: None };

    // [server]
    let server_tbl = r.table(top, "", &["server"]);
    let empty = Table::default();
    let (st, sp) = server_tbl.unwrap_or((Tbl { table: &empty, span: None }, "server".into()));
    let hostname = r.str(st, &sp, "hostname").unwrap_or_else(|| "localhost".into());
    let node_ip = r.str(st, &sp, "node_ip");
    let server_role = r.str(st, &sp, "server_role").unwrap_or_else(|| "default".into());
    let roles = match server_roles(&server_role) {
        Some(roles) => roles,
        None => {
            let span = st.table.get("server_role").map(|e| e.node.span.clone());
            r.error(&join(&sp, "server_role"), span, format!("unknown server_role `{server_role}`; expected default, control-plane, gateway-worker, traffic-manager, key-manager or api-key-manager-deprecated"));
            NodeRole::ALL.to_vec()
        }
    };
    let mut offset_span = None;
    let mut offset: u16 = match r.int(st, &sp, "offset") {
        Some((i, path, span)) => {
            offset_span = Some(span.clone());
            match u16::try_from(i) {
                Ok(o) => o,
                Err(_) => {
                    r.error(&path, Some(span), format!("offset {i} is out of range (0-65535)"));
                    0
                }
            }
        }
        None => 0,
    };
    if let Some(o) = inputs.port_offset_override {
        offset = o;
    }
    let base_path = r.str(st, &sp, "base_path");

    // [transport.http|https] properties.port / proxyPort
    let mut transport = Transport {
        https_port: ports::MGT_HTTPS,
        http_port: ports::MGT_HTTP,
        https_proxy_port: None,
        http_proxy_port: None,
        offset,
        limits: ListenerLimits::default(),
    };
    if let Some((tt, tp)) = r.table(top, "", &["transport"]) {
        for (scheme, default) in [("https", ports::MGT_HTTPS), ("http", ports::MGT_HTTP)] {
            let Some((st2, sp2)) = r.table(tt, &tp, &[scheme]) else { continue };
            let Some((pt, pp)) = r.table(st2, &sp2, &["properties"]) else { continue };
            let port = r.port(pt, &pp, "port").map(|p| p.0).unwrap_or(default);
            let proxy = r.port(pt, &pp, "proxyPort").map(|p| p.0);
            if scheme == "https" {
                transport.https_port = port;
                transport.https_proxy_port = proxy;
            } else {
                transport.http_port = port;
                transport.http_proxy_port = proxy;
            }
        }
        if let Some((lt, lp)) = r.table(tt, &tp, &["limits"]) {
            transport.limits = listener_limits(r, lt, &lp);
        }
    }
    // Every port a role may bind must stay in range after the offset.
    let offset_key = if inputs.port_offset_override.is_some() { "-DportOffset".to_string() } else { join(&sp, "offset") };
    for (name, port) in [
        ("transport.https.properties.port", transport.https_port),
        ("transport.http.properties.port", transport.http_port),
        ("gateway http (8280)", ports::GW_HTTP),
        ("gateway https (8243)", ports::GW_HTTPS),
        ("gateway ws (9099)", ports::GW_WS),
        ("gateway wss (8099)", ports::GW_WSS),
        ("event hub (5672)", ports::EVENT_HUB),
        ("traffic manager ingest (9611)", ports::TM_INGEST),
        ("traffic manager ingest tls (9711)", ports::TM_INGEST_TLS),
    ] {
        if port != 0 && u32::from(port) + u32::from(offset) > 65535 {
            r.error(
                &offset_key,
                offset_span.clone(),
                format!("offset {offset} puts {name} at {}, beyond 65535", u32::from(port) + u32::from(offset)),
            );
            break;
        }
    }

    // [super_admin]
    let (username, password, create_admin_account) = match r.table(top, "", &["super_admin"]) {
        Some((t, p)) => (
            r.str(t, &p, "username").unwrap_or_else(|| "admin".into()),
            r.secret(t, &p, "password").unwrap_or_else(|| Secret::new("admin")),
            r.bool(t, &p, "create_admin_account", true),
        ),
        None => ("admin".into(), Secret::new("admin"), true),
    };
    if username.trim().is_empty() {
        r.error("super_admin.username", None, "the admin username must not be empty");
    }

    // [user_store]
    let user_store = UserStoreKind::DatabaseUniqueId;
    if let Some((t, p)) = r.table(top, "", &["user_store"])
        && let Some(kind) = r.str(t, &p, "type")
        && kind != "database_unique_id"
    {
        let span = t.table.get("type").map(|e| e.node.span.clone());
        r.error(&join(&p, "type"), span, format!("user store type `{kind}` is not supported; use database_unique_id"));
    }

    // [database.*]
    let (mut apim_db, mut shared_db) = (None, None);
    if let Some((dt, dp)) = r.table(top, "", &["database"]) {
        apim_db = r.table(dt, &dp, &["apim_db"]).and_then(|(t, p)| database(r, t, &p, "apim_db", inputs));
        shared_db = r.table(dt, &dp, &["shared_db"]).and_then(|(t, p)| database(r, t, &p, "shared_db", inputs));
    }

    // [keystore.tls], [truststore]
    let keystore_tls = r
        .table(top, "", &["keystore"])
        .and_then(|(kt, kp)| r.table(kt, &kp, &["tls"]))
        .map(|(t, p)| keystore(r, t, &p, Keystore::DEFAULT_FILE))
        .unwrap_or_else(|| Keystore {
            file_name: Keystore::DEFAULT_FILE.into(),
            kind: KeystoreType::Jks,
            password: Secret::new("wso2carbon"),
            alias: Some("wso2carbon".into()),
            key_password: Some(Secret::new("wso2carbon")),
        });
    let truststore = r.table(top, "", &["truststore"]).map(|(t, p)| keystore(r, t, &p, Keystore::DEFAULT_TRUSTSTORE));

    // [apim.*]
    let mut key_manager = None;
    let mut event_hub = None;
    let mut throttling = None;
    let mut gateway_environments = Vec::new();
    let mut gateway_sync = GatewaySync::default();
    let mut devportal_url = None;
    let mut cors = None;
    let mut gateway_request = GatewayRequest::default();
    let mut backend_jwt = None;
    if let Some((at, ap)) = r.table(top, "", &["apim"]) {
        if let Some((t, p)) = r.table(at, &ap, &["jwt"])
            && r.bool(t, &p, "enable", false)
        {
            backend_jwt = Some(BackendJwt { header: r.str(t, &p, "header").unwrap_or_else(|| "X-JWT-Assertion".into()) });
        }
        if let Some((t, p)) = r.table(at, &ap, &["key_manager"]) {
            key_manager = Some(ServiceRef {
                service_url: r.url(t, &p, "service_url", &["https", "http"]).unwrap_or_default(),
                username: r.str(t, &p, "username"),
                password: r.secret(t, &p, "password"),
            });
        }
        if let Some((t, p)) = r.table(at, &ap, &["event_hub"]) {
            let mut groups = Vec::new();
            if let Some((pt, pp)) = r.table(t, &p, &["publish"]) {
                for (gt, gp) in r.tables(pt, &pp, "url_group") {
                    groups.push(UrlGroup { urls: r.endpoints(gt, &gp, "urls"), auth_urls: r.endpoints(gt, &gp, "auth_urls") });
                }
            }
            event_hub = Some(EventHub {
                enable: r.bool(t, &p, "enable", false),
                username: r.str(t, &p, "username"),
                password: r.secret(t, &p, "password"),
                service_url: r.url(t, &p, "service_url", &["https", "http"]),
                event_listening_endpoints: r.endpoints(t, &p, "event_listening_endpoints"),
                event_duplicate_url: r.endpoints(t, &p, "event_duplicate_url"),
                publish_url_groups: groups,
            });
        }
        if let Some((t, p)) = r.table(at, &ap, &["throttling"]) {
            let mut groups = Vec::new();
            for (gt, gp) in r.tables(t, &p, "url_group") {
                groups.push(UrlGroup {
                    urls: r.endpoints(gt, &gp, "traffic_manager_urls"),
                    auth_urls: r.endpoints(gt, &gp, "traffic_manager_auth_urls"),
                });
            }
            throttling = Some(Throttling {
                service_url: r.url(t, &p, "service_url", &["https", "http"]),
                username: r.str(t, &p, "username"),
                password: r.secret(t, &p, "password"),
                enable_data_publishing: r.bool(t, &p, "enable_data_publishing", true),
                throttle_decision_endpoints: r.endpoints(t, &p, "throttle_decision_endpoints"),
                event_duplicate_url: r.endpoints(t, &p, "event_duplicate_url"),
                url_groups: groups,
                skip_redeploying_policies: r.strings(t, &p, &["skip_redeploying_policies"]),
                fail_mode: match r.str(t, &p, "fail_mode").as_deref() {
                    None | Some("fail_open") => FailMode::Open,
                    Some("fail_closed") => FailMode::Closed,
                    Some(other) => {
                        let span = t.table.get("fail_mode").map(|e| e.node.span.clone());
                        r.error(&join(&p, "fail_mode"), span, format!("fail_mode `{other}` is not fail_open or fail_closed"));
                        FailMode::Open
                    }
                },
            });
        }
        if let Some((gt, gp)) = r.table(at, &ap, &["gateway"]) {
            gateway_request = read_gateway_request(r, gt, &gp);
            for (t, p) in r.tables(gt, &gp, "environment") {
                let name = r.str(t, &p, "name");
                if name.is_none() {
                    r.error(&p, t.span.map(|(a, b)| a..b), "gateway environment needs a `name`");
                }
                let kind = r.str(t, &p, "type").unwrap_or_else(|| "hybrid".into());
                if !matches!(kind.as_str(), "hybrid" | "production" | "sandbox") {
                    let span = t.table.get("type").map(|e| e.node.span.clone());
                    r.error(
                        &join(&p, "type"),
                        span,
                        format!("gateway environment type `{kind}` is not one of hybrid, production, sandbox"),
                    );
                }
                gateway_environments.push(GatewayEnvironment {
                    name: name.unwrap_or_default(),
                    kind,
                    display_in_api_console: r.bool(t, &p, "display_in_api_console", true),
                    description: r.str(t, &p, "description"),
                    show_as_token_endpoint_url: r.bool(t, &p, "show_as_token_endpoint_url", true),
                    service_url: r.url(t, &p, "service_url", &["https", "http"]),
                    username: r.str(t, &p, "username"),
                    password: r.secret(t, &p, "password"),
                    ws_endpoint: r.url(t, &p, "ws_endpoint", &["ws", "wss"]),
                    wss_endpoint: r.url(t, &p, "wss_endpoint", &["wss", "ws"]),
                    http_endpoint: r.url(t, &p, "http_endpoint", &["http", "https"]),
                    https_endpoint: r.url(t, &p, "https_endpoint", &["https", "http"]),
                });
            }
        }
        if let Some((st3, sp3)) = r.table(at, &ap, &["sync_runtime_artifacts"])
            && let Some((t, p)) = r.table(st3, &sp3, &["gateway"])
        {
            gateway_sync.gateway_labels = r.strings(t, &p, &["gateway_labels"]);
            if let Some((kt, kp)) = r.table(t, &p, &["skip_list"]) {
                gateway_sync.skip_apis = r.strings(kt, &kp, &["apis"]);
                gateway_sync.skip_endpoints = r.strings(kt, &kp, &["endpoints"]);
                gateway_sync.skip_sequences = r.strings(kt, &kp, &["sequences"]);
                // The seeds spell it both ways.
                gateway_sync.skip_local_entries = r.strings(kt, &kp, &["local_entries", "local-entries"]);
            }
        }
        if let Some((t, p)) = r.table(at, &ap, &["devportal"]) {
            devportal_url = r.url(t, &p, "url", &["https", "http"]);
        }
        if let Some((t, p)) = r.table(at, &ap, &["cors"]) {
            cors = Some(Cors {
                enable: r.bool(t, &p, "enable", true),
                allow_origins: r.strings(t, &p, &["allow_origins"]),
                allow_methods: r.strings(t, &p, &["allow_methods"]),
                allow_headers: r.strings(t, &p, &["allow_headers"]),
                allow_credentials: r.bool(t, &p, "allow_credentials", false),
            });
        }
    }
    if gateway_sync.gateway_labels.is_empty() {
        gateway_sync.gateway_labels = vec!["Default".into()];
    }

    // [[event_listener]]
    let mut event_listeners = Vec::new();
    for (t, p) in r.tables(top, "", "event_listener") {
        let id = r.str(t, &p, "id").unwrap_or_default();
        let kind = r.str(t, &p, "type");
        let name = r.str(t, &p, "name");
        let order = r.int(t, &p, "order").map(|o| o.0).unwrap_or(0);
        let mut listener =
            EventListener { id, kind, name, order, notification_endpoint: None, username: None, password: None, headers: Vec::new() };
        if let Some((pt, pp)) = r.table(t, &p, &["properties"]) {
            listener.notification_endpoint = r.url(pt, &pp, "notification_endpoint", &["https", "http"]);
            listener.username = r.str(pt, &pp, "username");
            listener.password = r.secret(pt, &pp, "password");
            for e in &pt.table.entries {
                if let Some(header) = e.key.strip_prefix("header.")
                    && let Some(v) = r.str(pt, &pp, &e.key)
                {
                    listener.headers.push((header.to_string(), v));
                }
            }
        }
        event_listeners.push(listener);
    }

    // [oauth]
    let mut oauth = OAuthSettings::default();
    if let Some((ot, op)) = r.table(top, "", &["oauth"]) {
        oauth.issuer = r.url(ot, &op, "issuer", &["https", "http"]);
        if let Some((vt, vp)) = r.table(ot, &op, &["token_validity"]) {
            let mut access = None;
            for (kind, slot) in [("application_access_token", 0), ("user_access_token", 0), ("refresh_token", 1), ("authorization_code", 2)]
            {
                let Some((kt, kp)) = r.table(vt, &vp, &[kind]) else { continue };
                let Some((secs, path, span)) = r.int(kt, &kp, "validity_period") else { continue };
                if secs <= 0 || secs > 10 * 365 * 86400 {
                    r.error(&path, Some(span), format!("validity_period {secs} must be between 1 and 315360000 seconds"));
                    continue;
                }
                match slot {
                    0 => access = Some(access.map_or(secs, |a: i64| a.max(secs))),
                    1 => oauth.refresh_token_ttl = secs,
                    _ => oauth.authorization_code_ttl = secs,
                }
            }
            if let Some(a) = access {
                oauth.access_token_ttl = a;
            }
        }
        if let Some((gt, gp)) = r.table(ot, &op, &["token_generation"]) {
            let span = gt.table.get("access_token_type").map(|e| e.node.span.clone());
            if let Some(kind) = r.str(gt, &gp, "access_token_type") {
                match kind.to_ascii_lowercase().as_str() {
                    "self_contained" | "jwt" => oauth.opaque_by_default = false,
                    "default" | "opaque" => oauth.opaque_by_default = true,
                    other => r.error(
                        &join(&gp, "access_token_type"),
                        span,
                        format!("access_token_type `{other}` is not one of self_contained, jwt, default, opaque"),
                    ),
                }
            }
        }
    }

    DeploymentConfig {
        server: Server { hostname, node_ip, server_role, roles, offset, base_path },
        transport,
        super_admin: SuperAdmin { username, password, create_admin_account },
        user_store,
        apim_db,
        shared_db,
        keystore_tls,
        truststore,
        key_manager,
        event_hub,
        throttling,
        gateway_environments,
        gateway_sync,
        devportal_url,
        cors,
        gateway_request,
        backend_jwt,
        event_listeners,
        oauth,
        data_dir: inputs.data_dir.to_path_buf(),
        config_dir: inputs.config_dir.to_path_buf(),
    }
}

/// `[transport.limits]`: every value must be positive (a zero limit would refuse every connection).
fn listener_limits(r: &mut Reader, t: Tbl<'_>, p: &str) -> ListenerLimits {
    let mut limits = ListenerLimits::default();
    let positive = |r: &mut Reader, key: &str, max: i64| -> Option<i64> {
        let (v, path, span) = r.int(t, p, key)?;
        if v <= 0 || v > max {
            r.error(&path, Some(span), format!("{key} {v} must be between 1 and {max}"));
            return None;
        }
        Some(v)
    };
    if let Some(v) = positive(r, "header_read_timeout", 3600) {
        limits.header_read_timeout = std::time::Duration::from_secs(v.unsigned_abs());
    }
    if let Some(v) = positive(r, "idle_timeout", 86_400) {
        limits.idle_timeout = std::time::Duration::from_secs(v.unsigned_abs());
    }
    if let Some(v) = positive(r, "max_connections", 10_000_000) {
        limits.max_connections = usize::try_from(v).unwrap_or(usize::MAX);
    }
    if let Some(v) = positive(r, "max_connections_per_client", 10_000_000) {
        limits.max_connections_per_client = usize::try_from(v).unwrap_or(usize::MAX);
    }
    limits
}

/// `[apim.gateway]`'s own keys (beside WSO2's `[[apim.gateway.environment]]`).
fn read_gateway_request(r: &mut Reader, t: Tbl<'_>, p: &str) -> GatewayRequest {
    let mut g = GatewayRequest {
        merge_slashes: r.bool(t, p, "merge_slashes", false),
        proxy_protocol: r.bool(t, p, "proxy_protocol", false),
        ..GatewayRequest::default()
    };
    let span = t.table.get("encoded_slash").map(|e| e.node.span.clone());
    match r.str(t, p, "encoded_slash").as_deref() {
        None | Some("reject") => {}
        Some("keep") => g.keep_encoded_slash = true,
        Some(other) => r.error(&join(p, "encoded_slash"), span, format!("encoded_slash `{other}` is not reject or keep")),
    }
    let span = t.table.get("trusted_proxies").map(|e| e.node.span.clone());
    for s in r.strings(t, p, &["trusted_proxies"]) {
        match s.parse::<IpNet>() {
            Ok(n) => g.trusted_proxies.push(n),
            Err(e) => r.error(&join(p, "trusted_proxies"), span.clone(), e),
        }
    }
    g
}

fn keystore(r: &mut Reader, t: Tbl<'_>, p: &str, default_file: &str) -> Keystore {
    let file_name = PathBuf::from(r.str(t, p, "file_name").unwrap_or_else(|| default_file.into()));
    let kind = match r.str(t, p, "type").map(|s| s.to_ascii_uppercase()) {
        None => guess_keystore_type(&file_name),
        Some(k) if k == "JKS" => KeystoreType::Jks,
        Some(k) if k == "PKCS12" || k == "P12" || k == "PFX" => KeystoreType::Pkcs12,
        Some(k) if k == "PEM" => KeystoreType::Pem,
        Some(other) => {
            let span = t.table.get("type").map(|e| e.node.span.clone());
            r.error(&join(p, "type"), span, format!("keystore type `{other}` is not supported; use PKCS12, PEM or JKS"));
            KeystoreType::Pkcs12
        }
    };
    Keystore {
        file_name,
        kind,
        password: r.secret(t, p, "password").unwrap_or_else(|| Secret::new("")),
        alias: r.str(t, p, "alias"),
        key_password: r.secret(t, p, "key_password"),
    }
}

fn guess_keystore_type(file: &Path) -> KeystoreType {
    match file.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("jks") => KeystoreType::Jks,
        Some("pem") | Some("crt") | Some("cer") => KeystoreType::Pem,
        _ => KeystoreType::Pkcs12,
    }
}

fn database(r: &mut Reader, t: Tbl<'_>, p: &str, pool: &str, inputs: &BuildInputs<'_>) -> Option<Database> {
    let type_span = t.table.get("type").map(|e| e.node.span.clone());
    let url_span = t.table.get("url").map(|e| e.node.span.clone());
    let declared = r.str(t, p, "type");
    let url = r.str(t, p, "url");
    let hostname = r.str(t, p, "hostname");
    let port = r.port(t, p, "port").map(|x| x.0);
    let name = r.str(t, p, "name");
    let username = r.str(t, p, "username");
    let password = r.secret(t, p, "password");
    let type_path = join(p, "type");
    let Some(declared) = declared else {
        r.error(&type_path, t.span.map(|(a, b)| a..b), format!("database `{pool}` needs a `type` (mysql, postgre, h2 or sqlite)"));
        return None;
    };
    let kind = match declared.to_ascii_lowercase().as_str() {
        "h2" | "sqlite" => DbKind::Sqlite,
        "postgre" | "postgres" | "postgresql" => DbKind::Postgres,
        "mysql" | "mariadb" => DbKind::MySql,
        other => {
            r.error(&type_path, type_span, format!("unknown database type `{other}`; expected mysql, postgre, h2 or sqlite"));
            return None;
        }
    };
    let url_path = join(p, "url");
    let target = if let Some(url) = url {
        match parse_db_url(&url, kind, inputs.config_dir) {
            Ok(t) => t,
            Err(msg) => {
                r.error(&url_path, url_span, msg);
                return None;
            }
        }
    } else if kind == DbKind::Sqlite {
        let default = if pool == "apim_db" { "WSO2AM_DB" } else { "WSO2SHARED_DB" };
        let file = name.unwrap_or_else(|| format!("./repository/database/{default}"));
        DbTarget::File(sqlite_path(&file))
    } else {
        let Some(host) = hostname else {
            r.error(p, t.span.map(|(a, b)| a..b), format!("database `{pool}` needs `hostname` and `name`, or a `url`"));
            return None;
        };
        let Some(name) = name else {
            r.error(p, t.span.map(|(a, b)| a..b), format!("database `{pool}` needs a `name`"));
            return None;
        };
        let port = port.unwrap_or(if kind == DbKind::MySql { 3306 } else { 5432 });
        DbTarget::Server { host, port, name }
    };
    Some(Database { pool: pool.to_string(), kind, declared_type: declared, target, username, password })
}

/// H2 names a database without extension; the SQLite file gets `.db` appended.
fn sqlite_path(s: &str) -> PathBuf {
    let p = PathBuf::from(s);
    if p.extension().is_some() { p } else { PathBuf::from(format!("{s}.db")) }
}

/// `jdbc:h2:./path;OPTS`, `jdbc:sqlite:path`, `jdbc:mysql://h:p/db?x`, `jdbc:postgresql://h:p/db`, and the same
/// without `jdbc:`.
fn parse_db_url(url: &str, kind: DbKind, _config_dir: &Path) -> Result<DbTarget, String> {
    let u = url.strip_prefix("jdbc:").unwrap_or(url);
    if kind == DbKind::Sqlite {
        let rest = u
            .strip_prefix("h2:")
            .or_else(|| u.strip_prefix("sqlite:"))
            .ok_or_else(|| format!("`{url}` is not an h2 or sqlite URL (expected jdbc:h2:./path or jdbc:sqlite:path)"))?;
        let rest = rest.strip_prefix("file:").unwrap_or(rest).trim_start_matches("//");
        let path = rest.split(';').next().unwrap_or("").split('?').next().unwrap_or("");
        if path.is_empty() {
            return Err(format!("`{url}` names no database file"));
        }
        return Ok(DbTarget::File(sqlite_path(path)));
    }
    let (scheme, rest) = u.split_once("://").ok_or_else(|| format!("`{url}` is not a database URL such as jdbc:mysql://host:3306/name"))?;
    let expected: &[&str] = if kind == DbKind::MySql { &["mysql", "mariadb"] } else { &["postgresql", "postgres"] };
    if !expected.contains(&scheme) {
        return Err(format!("URL scheme `{scheme}` does not match database type {}", kind.as_str()));
    }
    let (authority, path) = rest.split_once('/').ok_or_else(|| format!("`{url}` names no database"))?;
    let authority = authority.rsplit_once('@').map(|(_, a)| a).unwrap_or(authority);
    let name = path.split(['?', ';']).next().unwrap_or("").to_string();
    if name.is_empty() {
        return Err(format!("`{url}` names no database"));
    }
    let default_port = if kind == DbKind::MySql { 3306 } else { 5432 };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h.to_string(), p.parse::<u16>().map_err(|_| format!("`{url}` has an invalid port `{p}`"))?),
        None => (authority.to_string(), default_port),
    };
    if host.is_empty() {
        return Err(format!("`{url}` names no host"));
    }
    Ok(DbTarget::Server { host, port, name })
}
