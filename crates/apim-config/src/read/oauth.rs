//! The key manager's sections: `[oauth]` (issuer, token lifetimes, token type, in WSO2 Identity Server's key
//! names) and `[[event_listener]]` (where revocation notices go).

use super::reader::{Reader, Tbl};
use crate::model::{EventListener, OAuthSettings, TokenSigning};
use crate::resolve::join;

/// `[[event_listener]]`, with `properties` (`'header.X-Name'` keys become headers).
pub(super) fn event_listeners(r: &mut Reader, top: Tbl<'_>) -> Vec<EventListener> {
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
    event_listeners
}

/// `[oauth]`: `issuer`, `[oauth.token_validity.<kind>] validity_period` (the access-token kinds share one value:
/// the larger wins) and `[oauth.token_generation] access_token_type`.
pub(super) fn oauth(r: &mut Reader, top: Tbl<'_>) -> OAuthSettings {
    let mut oauth = OAuthSettings::default();
    let Some((ot, op)) = r.table(top, "", &["oauth"]) else { return oauth };
    oauth.issuer = r.url(ot, &op, "issuer", &["https", "http"]);
    if let Some((vt, vp)) = r.table(ot, &op, &["token_validity"]) {
        token_validity(r, vt, &vp, &mut oauth);
    }
    if let Some((gt, gp)) = r.table(ot, &op, &["token_generation"]) {
        token_generation(r, gt, &gp, &mut oauth);
    }
    oauth
}

/// `[oauth.token_validity.<kind>] validity_period`, 1 second to 10 years.
fn token_validity(r: &mut Reader, vt: Tbl<'_>, vp: &str, oauth: &mut OAuthSettings) {
    let mut access = None;
    for (kind, slot) in [("application_access_token", 0), ("user_access_token", 0), ("refresh_token", 1), ("authorization_code", 2)] {
        let Some((kt, kp)) = r.table(vt, vp, &[kind]) else { continue };
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

/// `[oauth.token_generation] access_token_type`: `self_contained`/`jwt` (default) or `default`/`opaque`; and
/// `signing_algorithm`: `RS256` (default), `ES256` or `EdDSA`.
fn token_generation(r: &mut Reader, gt: Tbl<'_>, gp: &str, oauth: &mut OAuthSettings) {
    let alg_span = gt.value_span("signing_algorithm");
    if let Some(alg) = r.str(gt, gp, "signing_algorithm") {
        match TokenSigning::ALL.into_iter().find(|a| a.name().eq_ignore_ascii_case(&alg)) {
            Some(a) => oauth.signing_algorithm = a,
            None => {
                r.error(&join(gp, "signing_algorithm"), alg_span, format!("signing_algorithm `{alg}` is not one of RS256, ES256, EdDSA"))
            }
        }
    }
    let span = gt.value_span("access_token_type");
    let Some(kind) = r.str(gt, gp, "access_token_type") else { return };
    match kind.to_ascii_lowercase().as_str() {
        "self_contained" | "jwt" => oauth.opaque_by_default = false,
        "default" | "opaque" => oauth.opaque_by_default = true,
        other => r.error(
            &join(gp, "access_token_type"),
            span,
            format!("access_token_type `{other}` is not one of self_contained, jwt, default, opaque"),
        ),
    }
}
