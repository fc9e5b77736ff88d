//! The `[apim.*]` tables that name other nodes: `[apim.key_manager]`, `[apim.event_hub]` (with
//! `[[apim.event_hub.publish.url_group]]`), `[apim.throttling]` (with `[[apim.throttling.url_group]]`) and
//! `[apim.devportal]` and `[apim.publisher]`. Each reader takes the `[apim]` table, read once by the caller.

use super::reader::{Reader, Tbl};
use crate::model::{Analytics, EventHub, FailMode, IpNetError, PrivateHost, ServiceRef, Throttling, UrlGroup};
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
/// needed) and how many days of per-minute rows the control plane keeps (`retention_days`, 1 to 3650, default 30).
pub(super) fn analytics(r: &mut Reader, apim: Option<&(Tbl<'_>, String)>) -> Analytics {
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
    Analytics { enable, retention_days }
}
