//! `[server]` and `[transport]` (with `[transport.limits]`): who the node is, which roles it runs and the ports
//! it binds.

use std::ops::Range;

use apim_domain::NodeRole;

use super::reader::{BuildInputs, Reader, Tbl};
use crate::model::{KxGroup, ListenerLimits, Server, TlsSettings, Transport, ports};
use crate::resolve::join;
use crate::tree::Table;

/// `[server]`, with where its offset came from, for the port check in [`transport`].
pub(super) struct ServerSection {
    pub server: Server,
    /// The key the offset is reported at: `server.offset`, or `-DportOffset` when that overrides it.
    offset_key: String,
    /// `[server] offset`'s value in the file, when written.
    offset_span: Option<Range<usize>>,
}

/// `[server]`: hostname, node_ip, server_role (and the roles it stands for), offset (`-DportOffset` wins),
/// base_path. An absent table reads as every default.
pub(super) fn server(r: &mut Reader, top: Tbl<'_>, inputs: &BuildInputs<'_>) -> ServerSection {
    let server_tbl = r.table(top, "", &["server"]);
    let empty = Table::default();
    let (st, sp) = server_tbl.unwrap_or((Tbl::root(&empty), "server".into()));
    let hostname = r.str(st, &sp, "hostname").unwrap_or_else(|| "localhost".into());
    let node_ip = r.str(st, &sp, "node_ip");
    let server_role = r.str(st, &sp, "server_role").unwrap_or_else(|| "default".into());
    let roles = match server_roles(&server_role) {
        Some(roles) => roles,
        None => {
            r.error(&join(&sp, "server_role"), st.value_span("server_role"), format!("unknown server_role `{server_role}`; expected default, control-plane, gateway-worker, traffic-manager, key-manager or api-key-manager-deprecated"));
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
    let offset_key = if inputs.port_offset_override.is_some() { "-DportOffset".to_string() } else { join(&sp, "offset") };
    ServerSection { server: Server { hostname, node_ip, server_role, roles, offset, base_path }, offset_key, offset_span }
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

/// `[transport.https|http.properties]` port and proxyPort, and `[transport.limits]`; then every port a role may
/// bind must stay in range after `[server]`'s offset.
pub(super) fn transport(r: &mut Reader, top: Tbl<'_>, server: &ServerSection) -> Transport {
    let mut transport = Transport {
        https_port: ports::MGT_HTTPS,
        http_port: ports::MGT_HTTP,
        https_proxy_port: None,
        http_proxy_port: None,
        offset: server.server.offset,
        limits: ListenerLimits::default(),
        tls: TlsSettings::default(),
    };
    if let Some((tt, tp)) = r.table(top, "", &["transport"]) {
        for (scheme, default) in [("https", ports::MGT_HTTPS), ("http", ports::MGT_HTTP)] {
            let Some((st, sp)) = r.table(tt, &tp, &[scheme]) else { continue };
            let Some((pt, pp)) = r.table(st, &sp, &["properties"]) else { continue };
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
        if let Some((lt, lp)) = r.table(tt, &tp, &["tls"]) {
            transport.tls = tls_settings(r, lt, &lp);
        }
    }
    check_ports(r, &transport, server);
    transport
}

/// Every port a role may bind must stay in range after the offset: one error, at the offset, for the first that
/// does not.
fn check_ports(r: &mut Reader, transport: &Transport, server: &ServerSection) {
    let offset = transport.offset;
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
                &server.offset_key,
                server.offset_span.clone(),
                format!("offset {offset} puts {name} at {}, beyond 65535", u32::from(port) + u32::from(offset)),
            );
            break;
        }
    }
}

/// `[transport.tls]`: known group names, at least one, none twice; a cache size within reason.
fn tls_settings(r: &mut Reader, t: Tbl<'_>, p: &str) -> TlsSettings {
    let mut tls = TlsSettings { session_tickets: r.bool(t, p, "session_tickets", true), ..TlsSettings::default() };
    if t.value_span("key_exchange_groups").is_some() {
        let path = join(p, "key_exchange_groups");
        let span = t.value_span("key_exchange_groups");
        let mut groups = Vec::new();
        for name in r.strings(t, p, &["key_exchange_groups"]) {
            match KxGroup::parse(&name) {
                Some(g) if groups.contains(&g) => r.error(&path, span.clone(), format!("key exchange group `{name}` is listed twice")),
                Some(g) => groups.push(g),
                None => {
                    let known: Vec<&str> = KxGroup::ALL.iter().map(|g| g.name()).collect();
                    r.error(&path, span.clone(), format!("unknown key exchange group `{name}`; expected some of {}", known.join(", ")));
                }
            }
        }
        if groups.is_empty() {
            r.error(&path, span, "key_exchange_groups must name at least one group (X25519 is the fastest)");
        } else {
            tls.key_exchange_groups = groups;
        }
    }
    if let Some((v, path, span)) = r.int(t, p, "session_cache_size") {
        match usize::try_from(v) {
            Ok(n) if n <= 1_000_000 => tls.session_cache_size = n,
            _ => r.error(&path, Some(span), format!("session_cache_size {v} must be between 0 and 1000000")),
        }
    }
    tls
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
