//! The gateway's own answers, with WSO2's codes and JSON bodies (reference §4), so existing clients keep working.

use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::BodyExt;
use hyper::body::Bytes;
use serde_json::json;

use crate::body::Body;

pub fn body(bytes: impl Into<Bytes>) -> Body {
    http_body_util::Full::new(bytes.into()).map_err(|never| match never {}).boxed()
}

fn json_reply(status: StatusCode, doc: serde_json::Value) -> Response<Body> {
    let mut r = Response::new(body(doc.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// A failure with WSO2's `{code, message, description}`.
pub fn fault(status: StatusCode, code: u32, message: &str, description: &str) -> Response<Body> {
    let mut r = json_reply(status, json!({"code": code.to_string(), "message": message, "description": description}));
    if status == StatusCode::UNAUTHORIZED {
        let error = if code == 900902 { "invalid_request" } else { "invalid_token" };
        let v = format!("OAuth2 realm=\"WSO2 API Manager\", error=\"{error}\", error_description=\"{message}\"");
        if let Ok(v) = HeaderValue::from_str(&v) {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
    }
    r
}

pub fn no_resource(path: &str, method: &str) -> Response<Body> {
    fault(
        StatusCode::NOT_FOUND,
        900906,
        "No matching resource found for given API Request",
        &format!("No matching resource found in the API for the given request: {method} {path}"),
    )
}

/// A request the gateway cannot take as it is (its target, its `Host`, its body's framing).
pub fn bad_request(description: &str) -> Response<Body> {
    fault(StatusCode::BAD_REQUEST, 900900, "Bad request", description)
}

pub fn missing_credentials() -> Response<Body> {
    fault(
        StatusCode::UNAUTHORIZED,
        900902,
        "Missing Credentials",
        "Invalid Credentials. Make sure your API invocation call has a header: 'Authorization : Bearer ***' or 'apikey: ***'",
    )
}

pub fn invalid_credentials() -> Response<Body> {
    fault(
        StatusCode::UNAUTHORIZED,
        900901,
        "Invalid Credentials",
        "Invalid Credentials. Make sure you have provided the correct security credentials",
    )
}

pub fn expired() -> Response<Body> {
    fault(StatusCode::UNAUTHORIZED, 900903, "Access Token Expired", "Access token has expired. Obtain a new one")
}

pub fn key_manager_unavailable() -> Response<Body> {
    fault(
        StatusCode::SERVICE_UNAVAILABLE,
        900900,
        "Unclassified Authentication Failure",
        "The key manager could not validate the token; try again",
    )
}

pub fn forbidden(description: &str) -> Response<Body> {
    fault(StatusCode::FORBIDDEN, 900908, "Resource forbidden ", description)
}

pub fn subscription_blocked() -> Response<Body> {
    fault(StatusCode::FORBIDDEN, 900907, "The requested API is temporarily blocked", "The subscription to this API is blocked")
}

pub fn subscription_inactive() -> Response<Body> {
    fault(StatusCode::FORBIDDEN, 900909, "The subscription to the API is inactive", "The subscription is on hold or not yet approved")
}

pub fn api_blocked() -> Response<Body> {
    fault(
        StatusCode::SERVICE_UNAVAILABLE,
        900907,
        "API blocked",
        "This API has been blocked temporarily. Please try again later or contact the system administrators.",
    )
}

pub fn bad_scope(required: &[String]) -> Response<Body> {
    fault(
        StatusCode::FORBIDDEN,
        900910,
        "The access token does not allow you to access the requested resource",
        &format!("User is NOT authorized to access the Resource. Scope validation failed: one of [{}] is required", required.join(", ")),
    )
}

pub fn blocked(what: &str) -> Response<Body> {
    fault(StatusCode::FORBIDDEN, 900805, "Message blocked", &format!("You have been blocked from accessing the resource: {what}"))
}

/// 429 with `Retry-After` and `nextAccessTime` (UTC).
pub fn throttled(code: u32, retry_at_ms: u64, now_ms: u64) -> Response<Body> {
    let next = apim_domain::api::rfc3339((retry_at_ms / 1000) as i64);
    let mut r = json_reply(
        StatusCode::TOO_MANY_REQUESTS,
        json!({"code": code.to_string(), "message": "Message throttled out",
               "description": format!("You have exceeded your quota .You can access API after {next}"), "nextAccessTime": next}),
    );
    let secs = retry_at_ms.saturating_sub(now_ms).div_ceil(1000).max(1);
    r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    r
}

/// The API's backend limit (`maxTps`) reached on this node: WSO2's 503 900801.
pub fn hard_limit(retry_at_ms: u64, now_ms: u64) -> Response<Body> {
    let mut r = json_reply(
        StatusCode::SERVICE_UNAVAILABLE,
        json!({"code": "900801", "message": "API Limit Reached", "description": "API not accepting requests"}),
    );
    let secs = retry_at_ms.saturating_sub(now_ms).div_ceil(1000).max(1);
    r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    r
}

/// `fail_mode = "fail_closed"` and no traffic manager reachable: 503 with our code 900811 (WSO2 has no such
/// mode; it fails open silently).
pub fn no_traffic_manager(retry_at_ms: u64, now_ms: u64) -> Response<Body> {
    let mut r = json_reply(
        StatusCode::SERVICE_UNAVAILABLE,
        json!({"code": "900811", "message": "Throttling unavailable",
               "description": "No traffic manager is reachable and this gateway is configured to fail closed (fail_mode = \"fail_closed\")"}),
    );
    let secs = retry_at_ms.saturating_sub(now_ms).div_ceil(1000).max(1);
    r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    r
}

/// Backend failures (WSO2's 1015xx transport codes).
fn upstream(status: StatusCode, code: u32, message: &str, description: &str) -> Response<Body> {
    json_reply(status, json!({"code": code.to_string(), "message": message, "description": description}))
}

/// 502 101503: no connection to a backend could be made (or its URL formed).
pub fn cannot_connect(description: &str) -> Response<Body> {
    upstream(StatusCode::BAD_GATEWAY, 101503, "Error connecting to the back end", description)
}

/// 504 101504: the backend did not answer in time.
pub fn backend_timeout(description: &str) -> Response<Body> {
    upstream(StatusCode::GATEWAY_TIMEOUT, 101504, "Connection timed out", description)
}

/// 502 101505: the backend closed the connection or answered with something that is not HTTP.
pub fn backend_closed(description: &str) -> Response<Body> {
    upstream(StatusCode::BAD_GATEWAY, 101505, "Connection closed by the back end", description)
}

/// The answer of a traffic listener whose gateway has not started yet (databases still coming up).
pub fn not_ready() -> Response<Body> {
    fault(http::StatusCode::SERVICE_UNAVAILABLE, 900900, "Gateway starting", "The gateway has not loaded its APIs yet; try again shortly")
}
