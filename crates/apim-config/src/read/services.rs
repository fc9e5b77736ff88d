//! The `[apim.*]` tables that name other nodes: `[apim.key_manager]`, `[apim.event_hub]` (with
//! `[[apim.event_hub.publish.url_group]]`), `[apim.throttling]` (with `[[apim.throttling.url_group]]`) and
//! `[apim.devportal]` and `[apim.publisher]`. Each reader takes the `[apim]` table, read once by the caller.

use super::reader::{Reader, Tbl};
use crate::tree::Value;
use std::path::PathBuf;

use crate::model::{Analytics, ElkLog, EventHub, FailMode, IpNetError, Otlp, PrivateHost, ServiceRef, Throttling, UrlGroup};
use crate::resolve::join;

/// `[apim.key_manager]`: where the key manager is, when it is not in this process.
pub(super) fn key_manager(r: &mut Reader, apim: Option<&(Tbl<'_>, String)>) -> Option<ServiceRef> {
    let (t, p) = r.within(apim, "key_manager")?;
    Some(ServiceRef {
        service_url: r.url(t, &p, "service_url", &["https", "http"]).unwrap_or_default(),
        username: r.str(t, &p, "username"),
        password: r.secret(t, &p, "password"),
    })
}

/// `[apim.event_hub]`: the control planes' event stream.
pub(super) fn event_hub(r: &mut Reader, apim: Option<&(Tbl<'_>, String)>) -> Option<EventHub> {
    let (t, p) = r.within(apim, "event_hub")?;
    let mut groups = Vec::new();
    if let Some((pt, pp)) = r.table(t, &p, &["publish"]) {
        for (gt, gp) in r.tables(pt, &pp, "url_group") {
            groups.push(UrlGroup { urls: r.endpoints(gt, &gp, "urls"), auth_urls: r.endpoints(gt, &gp, "auth_urls") });
        }
    }
    Some(EventHub {
        enable: r.bool(t, &p, "enable", false),
        username: r.str(t, &p, "username"),
        password: r.secret(t, &p, "password"),
        service_url: r.url(t, &p, "service_url", &["https", "http"]),
        event_listening_endpoints: r.endpoints(t, &p, "event_listening_endpoints"),
        event_duplicate_url: r.endpoints(t, &p, "event_duplicate_url"),
        publish_url_groups: groups,
    })
}

/// `[apim.throttling]`: the traffic managers and what a gateway does without them.
pub(super) fn throttling(r: &mut Reader, apim: Option<&(Tbl<'_>, String)>) -> Option<Throttling> {
    let (t, p) = r.within(apim, "throttling")?;
    let mut groups = Vec::new();
    for (gt, gp) in r.tables(t, &p, "url_group") {
        groups.push(UrlGroup {
            urls: r.endpoints(gt, &gp, "traffic_manager_urls"),
            auth_urls: r.endpoints(gt, &gp, "traffic_manager_auth_urls"),
        });
    }
    Some(Throttling {
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
                r.error(&join(&p, "fail_mode"), t.value_span("fail_mode"), format!("fail_mode `{other}` is not fail_open or fail_closed"));
                FailMode::Open
            }
        },
    })
}

/// `[apim.devportal] url`.
pub(super) fn devportal_url(r: &mut Reader, apim: Option<&(Tbl<'_>, String)>) -> Option<String> {
    let (t, p) = r.within(apim, "devportal")?;
    r.url(t, &p, "url", &["https", "http"])
}

/// `[apim.publisher] allowed_private_hosts`: names and ranges the Publisher may fetch from although they are private.
pub(super) fn publisher_private_hosts(r: &mut Reader, apim: Option<&(Tbl<'_>, String)>) -> Vec<PrivateHost> {
    let Some((t, p)) = r.within(apim, "publisher") else { return Vec::new() };
    let mut out = Vec::new();
    for entry in r.strings(t, &p, &["allowed_private_hosts"]) {
        match PrivateHost::parse(&entry) {
            Ok(h) => out.push(h),
            Err(e) => {
                let msg = match e {
                    IpNetError::NotAnAddress(_) => format!("`{entry}` is not a host name, an address or a CIDR range"),
                    bad_prefix => bad_prefix.to_string(),
                };
                r.error(&join(&p, "allowed_private_hosts"), t.value_span("allowed_private_hosts"), msg)
            }
        }
    }
    out
}

/// `[apim.analytics]`: the embedded analytics pipeline (WSO2's `enable`, on by default here: nothing external is
/// needed), how many days of per-minute rows the control plane keeps (`retention_days`, 1 to 3650, default 30),
/// and the exporters, off unless named: WSO2's ELK log (`type = "elk"`) and OpenTelemetry (`[apim.analytics.otlp]`).
pub(super) fn analytics(r: &mut Reader, apim: Option<&(Tbl<'_>, String)>, data_dir: &std::path::Path) -> Analytics {
    let Some((t, p)) = r.within(apim, "analytics") else { return Analytics::default() };
    let enable = r.bool(t, &p, "enable", true);
    let retention_days = match r.int(t, &p, "retention_days") {
        None => Analytics::default().retention_days,
        Some((n, _, _)) if (1..=3650).contains(&n) => n as u32,
        Some((n, path, span)) => {
            r.error(&path, Some(span), format!("retention_days {n} is out of range; give 1 to 3650"));
            Analytics::default().retention_days
        }
    };
    let elk_log = match r.str(t, &p, "type").as_deref() {
        None => None,
        Some("elk" | "opensearch") => Some(elk_log(r, t, &p, data_dir)),
        Some(other) => {
            let span = t.value_span("type");
            let msg = format!(
                "type `{other}` is not an exporter here; `elk` (or `opensearch`) writes WSO2's apim_metrics.log, and the \
                 embedded pipeline needs no type (Choreo and Moesif are hosted services this build does not call)"
            );
            r.error(&format!("{p}.type"), span, msg);
            None
        }
    };
    let otlp = r.within(Some(&(t, p.clone())), "otlp").map(|(o, op)| otlp(r, o, &op));
    let exporters_yield = r.bool(t, &p, "exporters_yield", true);
    Analytics { enable, retention_days, elk_log, otlp, exporters_yield }
}

fn elk_log(r: &mut Reader, t: Tbl<'_>, p: &str, data_dir: &std::path::Path) -> ElkLog {
    // A relative `log_file` is under the data directory, beside the node's other generated files.
    let file = data_dir.join(r.str(t, p, "log_file").map_or_else(|| PathBuf::from("logs/apim_metrics.log"), PathBuf::from));
    let mut bounded = |key: &str, default: u64, max: u64| match r.int(t, p, key) {
        None => default,
        Some((n, _, _)) if (1..=max as i64).contains(&n) => n as u64,
        Some((n, path, span)) => {
            r.error(&path, Some(span), format!("{key} {n} is out of range; give 1 to {max}"));
            default
        }
    };
    let max_bytes = bounded("log_max_size_mb", 1000, 1 << 20) << 20;
    let max_files = bounded("log_max_files", 10, 1000) as u32;
    ElkLog { file, max_bytes, max_files }
}

fn otlp(r: &mut Reader, t: Tbl<'_>, p: &str) -> Otlp {
    let endpoint = match r.url(t, p, "endpoint", &["http", "https"]) {
        Some(e) => e.trim_end_matches('/').to_string(),
        None => {
            if t.value_span("endpoint").is_none() {
                r.error(p, t.key_span(), "[apim.analytics.otlp] needs `endpoint`, the collector's OTLP/HTTP URL (http://host:4318)");
            }
            String::new()
        }
    };
    let sampling_ratio = match t.table.get("sampling_ratio").map(|e| (&e.node.value, e.node.span.clone())) {
        None => 1.0,
        Some((value, span)) => {
            r.entry(t, p, &["sampling_ratio"]);
            let ratio = match value {
                Value::Float(f) => Some(*f),
                Value::Integer(i) => Some(*i as f64),
                _ => None,
            };
            match ratio {
                Some(f) if (0.0..=1.0).contains(&f) => f,
                _ => {
                    r.error(&format!("{p}.sampling_ratio"), Some(span), "sampling_ratio must be a number from 0 to 1");
                    1.0
                }
            }
        }
    };
    let service_name = r.str(t, p, "service_name").unwrap_or_else(|| "apim-gateway".into());
    let json = match r.str(t, p, "protocol").as_deref() {
        None | Some("http/protobuf") => false,
        Some("http/json") => true,
        Some(other) => {
            let span = t.value_span("protocol");
            let msg = format!("protocol `{other}` is not one of http/protobuf, http/json (OTLP over gRPC is not offered)");
            r.error(&format!("{p}.protocol"), span, msg);
            false
        }
    };
    let metrics_interval_secs = match r.int(t, p, "metrics_interval_seconds") {
        None => 60,
        Some((n, _, _)) if (0..=3600).contains(&n) => n as u32,
        Some((n, path, span)) => {
            r.error(&path, Some(span), format!("metrics_interval_seconds {n} is out of range; give 0 to 3600"));
            60
        }
    };
    Otlp { endpoint, json, sampling_ratio, service_name, metrics_interval_secs }
}
