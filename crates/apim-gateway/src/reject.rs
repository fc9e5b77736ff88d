//! Why the gateway answers a request itself instead of with the backend's answer: one type for every phase of
//! the chain, which knows who is to blame, whether another try could succeed, and WSO2's code, and is rendered
//! into WSO2's fault body in one place (`render`).

use std::borrow::Cow;

use http::{Response, StatusCode};

use crate::body::Body;
use crate::reply;

/// Whose fault a refusal is: the access log and metrics tell them apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Blame {
    /// The request, its credentials or its rate: a 4xx.
    Client,
    /// The backend or the key manager: 5xx.
    Upstream,
    /// The gateway's own state (an API blocked, no traffic manager in fail-closed mode).
    Internal,
}

impl Blame {
    pub fn as_str(self) -> &'static str {
        match self {
            Blame::Client => "client",
            Blame::Upstream => "upstream",
            Blame::Internal => "internal",
        }
    }
}

#[derive(Debug)]
pub enum Reject {
    /// The target, `Host` or body framing cannot be taken (900900).
    BadRequest(Cow<'static, str>),
    TooLarge(&'static str),
    NoResource {
        method: String,
        path: String,
    },
    ApiBlocked,
    /// A block condition: what was blocked (IP address, API, application, user).
    Blocked(&'static str),
    MissingCredentials,
    InvalidCredentials,
    Expired,
    KeyManagerUnavailable,
    Forbidden(Cow<'static, str>),
    /// `authType` wants another kind of token (900905).
    WrongTokenType(&'static str),
    SubscriptionBlocked,
    SubscriptionInactive,
    Scope(Vec<String>),
    NotWebSocket,
    /// A throttling limit (WSO2's 90080x), with when the window reopens.
    Throttled {
        code: u32,
        retry_at_ms: u64,
    },
    /// The API's `maxTps` on this node (503 900801).
    HardLimit {
        retry_at_ms: u64,
    },
    /// `fail_mode = "fail_closed"` with no traffic manager (503 900811).
    NoTrafficManager {
        retry_at_ms: u64,
    },
    SchemaRequest(String),
    SchemaResponse(String),
    CannotConnect(&'static str),
    BackendTimeout(&'static str),
    BackendClosed(&'static str),
}

/// WSO2's analytics classification of a fault: `errorType` (AUTH, THROTTLED, TARGET_CONNECTIVITY, OTHER), its
/// sub-category (the event's `errorMessage`) and the error code the client got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    pub code: u32,
    pub error_type: &'static str,
    pub detail: &'static str,
}

impl Reject {
    /// How WSO2's analytics would file this refusal.
    pub fn fault(&self) -> Fault {
        let (error_type, detail) = match self {
            Reject::MissingCredentials | Reject::InvalidCredentials | Reject::Expired | Reject::WrongTokenType(_) => {
                ("AUTH", "AUTHENTICATION_FAILURE")
            }
            Reject::KeyManagerUnavailable => ("AUTH", "AUTHENTICATION_FAILURE"),
            Reject::Forbidden(_) | Reject::Scope(_) => ("AUTH", "AUTHORIZATION_FAILURE"),
            Reject::SubscriptionBlocked | Reject::SubscriptionInactive => ("AUTH", "SUBSCRIPTION_VALIDATION_FAILURE"),
            Reject::Throttled { code, .. } => (
                "THROTTLED",
                match code {
                    900800 => "API_LEVEL_LIMIT_EXCEEDED",
                    900802 => "RESOURCE_LEVEL_LIMIT_EXCEEDED",
                    900803 => "APPLICATION_LEVEL_LIMIT_EXCEEDED",
                    900804 => "SUBSCRIPTION_LIMIT_EXCEEDED",
                    900806 => "CUSTOM_POLICY_LIMIT_EXCEEDED",
                    900807 => "BURST_CONTROL_LIMIT_EXCEEDED",
                    _ => "OTHER",
                },
            ),
            Reject::HardLimit { .. } => ("THROTTLED", "HARD_LIMIT_EXCEEDED"),
            Reject::Blocked(_) => ("THROTTLED", "BLOCKED"),
            Reject::NoTrafficManager { .. } => ("THROTTLED", "OTHER"),
            Reject::CannotConnect(_) => ("TARGET_CONNECTIVITY", "CONNECTION_UNAVAILABLE"),
            Reject::BackendTimeout(_) => ("TARGET_CONNECTIVITY", "CONNECTION_TIMEOUT"),
            Reject::BackendClosed(_) => ("TARGET_CONNECTIVITY", "CONNECTION_ABORTED"),
            Reject::NoResource { .. } => ("OTHER", "RESOURCE_NOT_FOUND"),
            Reject::ApiBlocked => ("OTHER", "API_BLOCKED"),
            Reject::SchemaRequest(_) | Reject::SchemaResponse(_) => ("OTHER", "MEDIATION_ERROR"),
            Reject::BadRequest(_) | Reject::TooLarge(_) | Reject::NotWebSocket => ("OTHER", "OTHER"),
        };
        Fault { code: self.code(), error_type, detail }
    }

    /// WSO2's error code (the body's `code`).
    pub fn code(&self) -> u32 {
        match self {
            Reject::BadRequest(_) | Reject::TooLarge(_) | Reject::NotWebSocket | Reject::KeyManagerUnavailable => 900900,
            Reject::NoResource { .. } => 900906,
            Reject::ApiBlocked | Reject::SubscriptionBlocked => 900907,
            Reject::Blocked(_) => 900805,
            Reject::MissingCredentials => 900902,
            Reject::InvalidCredentials => 900901,
            Reject::Expired => 900903,
            Reject::Forbidden(_) => 900908,
            Reject::WrongTokenType(_) => 900905,
            Reject::SubscriptionInactive => 900909,
            Reject::Scope(_) => 900910,
            Reject::Throttled { code, .. } => *code,
            Reject::HardLimit { .. } => 900801,
            Reject::NoTrafficManager { .. } => 900811,
            Reject::SchemaRequest(_) => 400,
            Reject::SchemaResponse(_) => 500,
            Reject::CannotConnect(_) => 101503,
            Reject::BackendTimeout(_) => 101504,
            Reject::BackendClosed(_) => 101505,
        }
    }

    pub fn blame(&self) -> Blame {
        match self {
            Reject::KeyManagerUnavailable
            | Reject::SchemaResponse(_)
            | Reject::CannotConnect(_)
            | Reject::BackendTimeout(_)
            | Reject::BackendClosed(_)
            | Reject::HardLimit { .. } => Blame::Upstream,
            Reject::ApiBlocked | Reject::NoTrafficManager { .. } => Blame::Internal,
            _ => Blame::Client,
        }
    }

    /// Could the same request succeed if sent again later (as it is)?
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            Reject::KeyManagerUnavailable
                | Reject::Throttled { .. }
                | Reject::HardLimit { .. }
                | Reject::NoTrafficManager { .. }
                | Reject::CannotConnect(_)
                | Reject::BackendTimeout(_)
                | Reject::ApiBlocked
        )
    }

    /// An authentication or authorization refusal (counted by code in `/metrics`).
    pub fn is_access(&self) -> bool {
        matches!(
            self,
            Reject::MissingCredentials
                | Reject::InvalidCredentials
                | Reject::Expired
                | Reject::KeyManagerUnavailable
                | Reject::Forbidden(_)
                | Reject::WrongTokenType(_)
                | Reject::SubscriptionBlocked
                | Reject::SubscriptionInactive
                | Reject::Scope(_)
        )
    }

    /// WSO2's fault body for it.
    pub fn render(&self, now_ms: u64) -> Response<Body> {
        match self {
            Reject::BadRequest(why) => reply::bad_request(why),
            Reject::TooLarge(why) => reply::fault(StatusCode::PAYLOAD_TOO_LARGE, 900900, "Request Entity Too Large", why),
            Reject::NoResource { method, path } => reply::no_resource(path, method),
            Reject::ApiBlocked => reply::api_blocked(),
            Reject::Blocked(what) => reply::blocked(what),
            Reject::MissingCredentials => reply::missing_credentials(),
            Reject::InvalidCredentials => reply::invalid_credentials(),
            Reject::Expired => reply::expired(),
            Reject::KeyManagerUnavailable => reply::key_manager_unavailable(),
            Reject::Forbidden(why) => reply::forbidden(why),
            Reject::WrongTokenType(want) => reply::fault(
                StatusCode::FORBIDDEN,
                900905,
                "Incorrect Access Token Type is provided",
                &format!("this resource needs {want}"),
            ),
            Reject::SubscriptionBlocked => reply::subscription_blocked(),
            Reject::SubscriptionInactive => reply::subscription_inactive(),
            Reject::Scope(required) => reply::bad_scope(required),
            Reject::NotWebSocket => {
                reply::fault(StatusCode::BAD_REQUEST, 900900, "Bad request", "this is a WebSocket API: send a WebSocket handshake")
            }
            Reject::Throttled { code, retry_at_ms } => reply::throttled(*code, *retry_at_ms, now_ms),
            Reject::HardLimit { retry_at_ms } => reply::hard_limit(*retry_at_ms, now_ms),
            Reject::NoTrafficManager { retry_at_ms } => reply::no_traffic_manager(*retry_at_ms, now_ms),
            Reject::SchemaRequest(why) => {
                reply::fault(StatusCode::BAD_REQUEST, 400, "Bad Request", &format!("Schema validation failed in the Request: {why}"))
            }
            Reject::SchemaResponse(why) => reply::fault(
                StatusCode::INTERNAL_SERVER_ERROR,
                500,
                "Internal Server Error",
                &format!("Schema validation failed in the Response: {why}"),
            ),
            Reject::CannotConnect(why) => reply::cannot_connect(why),
            Reject::BackendTimeout(why) => reply::backend_timeout(why),
            Reject::BackendClosed(why) => reply::backend_closed(why),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The code in the body is the one `code()` says, for every kind; blame and status agree.
    #[test]
    fn rendered_codes_and_blame_agree() {
        let all = [
            Reject::BadRequest("x".into()),
            Reject::TooLarge("x"),
            Reject::NoResource { method: "GET".into(), path: "/x".into() },
            Reject::ApiBlocked,
            Reject::Blocked("user"),
            Reject::MissingCredentials,
            Reject::InvalidCredentials,
            Reject::Expired,
            Reject::KeyManagerUnavailable,
            Reject::Forbidden("x".into()),
            Reject::WrongTokenType("x"),
            Reject::SubscriptionBlocked,
            Reject::SubscriptionInactive,
            Reject::Scope(vec!["a".into()]),
            Reject::NotWebSocket,
            Reject::Throttled { code: 900802, retry_at_ms: 2_000 },
            Reject::HardLimit { retry_at_ms: 2_000 },
            Reject::NoTrafficManager { retry_at_ms: 2_000 },
            Reject::SchemaRequest("x".into()),
            Reject::SchemaResponse("x".into()),
            Reject::CannotConnect("x"),
            Reject::BackendTimeout("x"),
            Reject::BackendClosed("x"),
        ];
        for r in &all {
            let resp = r.render(1_000);
            let status = resp.status();
            let body = futures_body(resp);
            let doc: serde_json::Value = serde_json::from_slice(&body).expect("json body");
            assert_eq!(doc["code"], r.code().to_string(), "{r:?}");
            match r.blame() {
                Blame::Client => assert!(status.is_client_error(), "{r:?}: {status}"),
                Blame::Upstream | Blame::Internal => assert!(status.is_server_error(), "{r:?}: {status}"),
            }
        }
    }

    fn futures_body(resp: Response<Body>) -> Vec<u8> {
        use http_body_util::BodyExt;
        let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        rt.block_on(async { resp.into_body().collect().await.map(|c| c.to_bytes().to_vec()).unwrap_or_default() })
    }
}
