//! The web portals — Publisher at `/publisher`, Developer Portal at `/devportal`, Admin at `/admin`, WSO2's
//! paths — served from files embedded in the binary at build time (`build.rs` builds `portals/` with npm and
//! Vite, or takes `APIM_PORTALS_DIST`). Hashed assets (`assets/…`) are immutable for a year; `index.html` is
//! revalidated on every load (`no-cache`, ETag); any other path without a file extension is a deep link into the
//! single-page app and gets its `index.html`. A gzip form, made at build time, is sent to clients that accept it.
//!
//! It knows nothing of the REST APIs or of sign-in: the portals call the same `/api/am/…` and `/oauth2/…`
//! endpoints scripts do. The control plane's wiring mounts [`router`]; a node without a control plane serves
//! no portal.

#![forbid(unsafe_code)]

use axum::extract::{Path, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// One embedded file.
pub(crate) struct Asset {
    portal: &'static str,
    /// Relative to the portal's root: `index.html`, `assets/index-1a2b3c.js`.
    path: &'static str,
    content_type: &'static str,
    etag: &'static str,
    body: &'static [u8],
    /// Present when smaller than `body`.
    gzip: Option<&'static [u8]>,
    /// Present when smaller than `body`.
    brotli: Option<&'static [u8]>,
}

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// The portals' paths, as WSO2 names them.
pub const PORTALS: [&str; 3] = ["publisher", "devportal", "admin"];

/// Only this origin's scripts, styles, images and connections; no framing. Inline `style` attributes are allowed:
/// the component library sets CSS variables through them (no script can run from a style attribute).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; \
     form-action 'self'; frame-ancestors 'none'";

/// The Developer Portal's: the same, but its Try it console calls the gateways, on hosts the admins name at run
/// time (environments' vhosts), so connections may go to any http(s) origin. Scripts still come only from here.
pub const DEVPORTAL_CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; font-src 'self'; connect-src 'self' https: http:; object-src 'none'; base-uri 'self'; \
     form-action 'self'; frame-ancestors 'none'";

/// Routes for the three portals.
pub fn router() -> axum::Router {
    let mut r = axum::Router::new();
    for portal in PORTALS {
        r = r
            .route(&format!("/{portal}"), get(move || async move { redirect_to_root(portal) }))
            .route(&format!("/{portal}/"), get(move |req: Request| async move { serve(portal, "", req.headers()) }))
            .route(
                &format!("/{portal}/{{*path}}"),
                get(move |Path(path): Path<String>, req: Request| async move { serve(portal, &path, req.headers()) }),
            );
    }
    r
}

/// Bytes of what a browser downloads on a first visit to a portal: `index.html` and every script and style it
/// links, compressed as sent to a browser that accepts brotli. For the size figures in tests.
pub fn first_load_bytes(portal: &str) -> Option<usize> {
    let index = find(portal, "index.html")?;
    let html = std::str::from_utf8(index.body).ok()?;
    let mut total = sent_len(index);
    for a in ASSETS.iter().filter(|a| a.portal == portal && a.path.starts_with("assets/")) {
        if html.contains(a.path) {
            total += sent_len(a);
        }
    }
    Some(total)
}

// === serving ===

fn sent_len(a: &Asset) -> usize {
    a.brotli.or(a.gzip).map_or(a.body.len(), <[u8]>::len)
}

fn find(portal: &str, path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.portal == portal && a.path == path)
}

fn redirect_to_root(portal: &str) -> Response {
    let mut r = StatusCode::PERMANENT_REDIRECT.into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("/{portal}/")) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

fn serve(portal: &str, path: &str, req: &HeaderMap) -> Response {
    let (asset, immutable) = match find(portal, path) {
        Some(a) if a.path != "index.html" => (a, a.path.starts_with("assets/")),
        // A deep link (`/publisher/apis/123`) is a route of the app; a missing file (`.js`, `assets/…`) is not.
        None if path.starts_with("assets/") || path.rsplit('/').next().is_some_and(|last| last.contains('.')) => {
            return not_found();
        }
        _ => match find(portal, "index.html") {
            Some(index) => (index, false),
            None => return not_found(),
        },
    };
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if immutable { "public, max-age=31536000, immutable" } else { "no-cache" }),
    );
    headers.insert(header::ETAG, HeaderValue::from_static(asset.etag));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if asset.content_type.starts_with("text/html") {
        let csp = if asset.portal == "devportal" { DEVPORTAL_CONTENT_SECURITY_POLICY } else { CONTENT_SECURITY_POLICY };
        headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(csp));
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    }
    if asset.gzip.is_some() || asset.brotli.is_some() {
        headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    if req.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| v.split(',').any(|t| t.trim() == asset.etag)) {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    let (encoding, body) = match (asset.brotli, asset.gzip) {
        (Some(br), _) if accepts(req, "br") => (Some("br"), br),
        (_, Some(gz)) if accepts(req, "gzip") => (Some("gzip"), gz),
        _ => (None, asset.body),
    };
    if let Some(e) = encoding {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(e));
    }
    (headers, body).into_response()
}

/// `Accept-Encoding` names `coding` (or `*`) without `q=0`.
fn accepts(req: &HeaderMap, coding: &str) -> bool {
    req.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(|item| {
        let mut parts = item.split(';');
        let named = parts.next().unwrap_or("").trim();
        let zero = parts.any(|p| matches!(p.trim().strip_prefix("q=").map(str::trim), Some("0" | "0.0" | "0.00" | "0.000")));
        (named.eq_ignore_ascii_case(coding) || named == "*") && !zero
    })
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "not found").into_response()
}

#[cfg(test)]
mod tests;
