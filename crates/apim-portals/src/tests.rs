use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use tower::ServiceExt;

use super::*;

async fn get(path: &str, headers: &[(&str, &str)]) -> (StatusCode, HeaderMap, Vec<u8>) {
    let mut req = Request::get(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = router().oneshot(req.body(Body::empty()).expect("request")).await.expect("response");
    let (parts, body) = resp.into_parts();
    (parts.status, parts.headers, body.collect().await.expect("body").to_bytes().to_vec())
}

/// The portal's largest script: its main bundle (the pages it loads on first use are chunks of their own, some too
/// small to compress well).
fn script_of(portal: &str) -> &'static Asset {
    ASSETS
        .iter()
        .filter(|a| a.portal == portal && a.path.starts_with("assets/") && a.path.ends_with(".js"))
        .max_by_key(|a| a.body.len())
        .expect("a script")
}

#[tokio::test]
async fn every_portal_serves_its_index_with_the_csp_and_no_cache() {
    for portal in PORTALS {
        let (status, h, body) = get(&format!("/{portal}/"), &[]).await;
        assert_eq!(status, StatusCode::OK, "{portal}");
        assert_eq!(h[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(h[header::CACHE_CONTROL], "no-cache");
        let csp = if portal == "devportal" { DEVPORTAL_CONTENT_SECURITY_POLICY } else { CONTENT_SECURITY_POLICY };
        assert_eq!(h[header::CONTENT_SECURITY_POLICY], csp);
        let html = String::from_utf8(body).expect("utf-8");
        assert!(html.contains(&format!("/{portal}/assets/")), "{portal}'s index links its assets under its base path");
        let (status, h, _) = get(&format!("/{portal}"), &[]).await;
        assert_eq!(
            (status, h[header::LOCATION].to_str().expect("location")),
            (StatusCode::PERMANENT_REDIRECT, format!("/{portal}/").as_str())
        );
    }
}

#[tokio::test]
async fn deep_links_get_the_index_and_missing_files_do_not() {
    let (_, _, index) = get("/publisher/", &[]).await;
    let (status, h, body) = get("/publisher/apis/0b7a1c/overview?x=1", &[]).await;
    assert_eq!((status, &h[header::CACHE_CONTROL]), (StatusCode::OK, &"no-cache".parse::<HeaderValue>().expect("value")));
    assert_eq!(body, index);
    assert_eq!(get("/publisher/assets/missing-123.js", &[]).await.0, StatusCode::NOT_FOUND);
    assert_eq!(get("/devportal/favicon.ico", &[]).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn hashed_assets_are_immutable_and_precompressed_as_accepted() {
    let a = script_of("devportal");
    let path = format!("/devportal/{}", a.path);
    let (status, h, body) = get(&path, &[("accept-encoding", "gzip, deflate")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h[header::CONTENT_TYPE], "text/javascript; charset=utf-8");
    assert_eq!(h[header::CACHE_CONTROL], "public, max-age=31536000, immutable");
    assert_eq!(h[header::CONTENT_ENCODING], "gzip");
    assert!(body.len() < a.body.len() / 2, "a bundle compresses well");
    gzip_of_same_size(&body, a.body.len());
    let (_, h, br) = get(&path, &[("accept-encoding", "gzip, deflate, br, zstd")]).await;
    assert_eq!(h[header::CONTENT_ENCODING], "br", "brotli first, as Chromium asks");
    assert!(br.len() < body.len(), "brotli is smaller than gzip");
    assert_eq!(Some(br.as_slice()), a.brotli);
    let (_, h, body) = get(&path, &[("accept-encoding", "gzip;q=0, identity")]).await;
    assert!(h.get(header::CONTENT_ENCODING).is_none());
    assert_eq!(body, a.body);
    let etag = h[header::ETAG].to_str().expect("etag").to_string();
    assert_eq!(get(&path, &[("if-none-match", &etag)]).await.0, StatusCode::NOT_MODIFIED);
}

/// The gzip member's trailer holds the uncompressed size (RFC 1952): enough to tell it is the same file.
fn gzip_of_same_size(gz: &[u8], len: usize) {
    assert_eq!(&gz[..2], &[0x1f, 0x8b]);
    let n = gz.len();
    assert_eq!(u32::from_le_bytes([gz[n - 4], gz[n - 3], gz[n - 2], gz[n - 1]]) as usize, len);
}

#[test]
fn first_load_is_under_300_kb_compressed() {
    for portal in PORTALS {
        let bytes = first_load_bytes(portal).expect("index");
        assert!(bytes < 300 * 1024, "{portal}: {bytes} bytes");
    }
}
