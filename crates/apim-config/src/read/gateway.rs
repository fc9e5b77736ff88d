//! The gateway's `[apim.*]` tables: `[apim.gateway]` (WSO2's `[[apim.gateway.environment]]` and our request
//! settings), `[apim.sync_runtime_artifacts.gateway]`, `[apim.cors]` and `[apim.jwt]`. Each reader takes the
//! `[apim]` table, read once by the caller.

use super::reader::{Reader, Tbl};
use crate::model::{BackendJwt, Cors, GatewayEnvironment, GatewayRequest, GatewaySync, IpNet};
use crate::resolve::join;

/// `[apim.gateway]`: its own keys (how requests are read) and the environments it lists.
pub(super) fn gateway(r: &mut Reader, apim: Option<&(Tbl<'_>, String)>) -> (GatewayRequest, Vec<GatewayEnvironment>) {
    let Some((gt, gp)) = r.within(apim, "gateway") else { return (GatewayRequest::default(), Vec::new()) };
    let request = gateway_request(r, gt, &gp);
    let mut environments = Vec::new();
    for (t, p) in r.tables(gt, &gp, "environment") {
        environments.push(environment(r, t, &p));
    }
    (request, environments)
}

/// One `[[apim.gateway.environment]]`: a `name` is required, `type` is hybrid (default), production or sandbox.
fn environment(r: &mut Reader, t: Tbl<'_>, p: &str) -> GatewayEnvironment {
    let name = r.str(t, p, "name");
    if name.is_none() {
        r.error(p, t.key_span(), "gateway environment needs a `name`");
    }
    let kind = r.str(t, p, "type").unwrap_or_else(|| "hybrid".into());
    if !matches!(kind.as_str(), "hybrid" | "production" | "sandbox") {
        r.error(
            &join(p, "type"),
            t.value_span("type"),
            format!("gateway environment type `{kind}` is not one of hybrid, production, sandbox"),
        );
    }
    GatewayEnvironment {
        name: name.unwrap_or_default(),
        kind,
        display_in_api_console: r.bool(t, p, "display_in_api_console", true),
        description: r.str(t, p, "description"),
        show_as_token_endpoint_url: r.bool(t, p, "show_as_token_endpoint_url", true),
        service_url: r.url(t, p, "service_url", &["https", "http"]),
        username: r.str(t, p, "username"),
        password: r.secret(t, p, "password"),
        ws_endpoint: r.url(t, p, "ws_endpoint", &["ws", "wss"]),
        wss_endpoint: r.url(t, p, "wss_endpoint", &["wss", "ws"]),
        http_endpoint: r.url(t, p, "http_endpoint", &["http", "https"]),
        https_endpoint: r.url(t, p, "https_endpoint", &["https", "http"]),
    }
}

/// `[apim.gateway]`'s own keys (beside WSO2's `[[apim.gateway.environment]]`).
fn gateway_request(r: &mut Reader, t: Tbl<'_>, p: &str) -> GatewayRequest {
    let mut g = GatewayRequest {
        merge_slashes: r.bool(t, p, "merge_slashes", false),
        proxy_protocol: r.bool(t, p, "proxy_protocol", false),
        ..GatewayRequest::default()
    };
    let span = t.value_span("encoded_slash");
    match r.str(t, p, "encoded_slash").as_deref() {
        None | Some("reject") => {}
        Some("keep") => g.keep_encoded_slash = true,
        Some(other) => r.error(&join(p, "encoded_slash"), span, format!("encoded_slash `{other}` is not reject or keep")),
    }
    let span = t.value_span("trusted_proxies");
    for s in r.strings(t, p, &["trusted_proxies"]) {
        match s.parse::<IpNet>() {
            Ok(n) => g.trusted_proxies.push(n),
            Err(e) => r.error(&join(p, "trusted_proxies"), span.clone(), e.to_string()),
        }
    }
    g
}

/// `[apim.sync_runtime_artifacts.gateway]`: the labels a gateway serves (`Default` when none) and WSO2's
/// skip list.
pub(super) fn gateway_sync(r: &mut Reader, apim: Option<&(Tbl<'_>, String)>) -> GatewaySync {
    let mut sync = GatewaySync::default();
    if let Some(st) = r.within(apim, "sync_runtime_artifacts")
        && let Some((t, p)) = r.within(Some(&st), "gateway")
    {
        sync.gateway_labels = r.strings(t, &p, &["gateway_labels"]);
        if let Some((kt, kp)) = r.table(t, &p, &["skip_list"]) {
            sync.skip_apis = r.strings(kt, &kp, &["apis"]);
            sync.skip_endpoints = r.strings(kt, &kp, &["endpoints"]);
            sync.skip_sequences = r.strings(kt, &kp, &["sequences"]);
            // The seeds spell it both ways.
            sync.skip_local_entries = r.strings(kt, &kp, &["local_entries", "local-entries"]);
        }
    }
    if sync.gateway_labels.is_empty() {
        sync.gateway_labels = vec!["Default".into()];
    }
    sync
}

/// `[apim.cors]`: CORS headers added at the gateway (`enable` defaults to true when the table is present).
pub(super) fn cors(r: &mut Reader, apim: Option<&(Tbl<'_>, String)>) -> Option<Cors> {
    let (t, p) = r.within(apim, "cors")?;
    Some(Cors {
        enable: r.bool(t, &p, "enable", true),
        allow_origins: r.strings(t, &p, &["allow_origins"]),
        allow_methods: r.strings(t, &p, &["allow_methods"]),
        allow_headers: r.strings(t, &p, &["allow_headers"]),
        allow_credentials: r.bool(t, &p, "allow_credentials", false),
    })
}

/// `[apim.jwt]` with `enable = true`: the header of the JWT gateways send to backends (`header` is read only
/// then).
pub(super) fn backend_jwt(r: &mut Reader, apim: Option<&(Tbl<'_>, String)>) -> Option<BackendJwt> {
    let (t, p) = r.within(apim, "jwt")?;
    if !r.bool(t, &p, "enable", false) {
        return None;
    }
    Some(BackendJwt { header: r.str(t, &p, "header").unwrap_or_else(|| "X-JWT-Assertion".into()) })
}
