//! Routes mounted after start-up: a role that needs its databases (the key manager, the control plane) mounts
//! its router once they are up. Until every role the wiring expects has mounted, a path no mounted router
//! serves answers 503 with a body naming what is not ready (WSO2's REST error body; RFC 6749's on OAuth2
//! paths), so a peer moves to another node instead of taking a 404 for an answer. Once every role is up,
//! unknown paths are 404.

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::sync::{Arc, RwLock};

use axum::body::Body;
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;

use crate::health::Health;

/// How long a client is asked to wait before trying this node again.
const RETRY_AFTER_SECS: &str = "5";

#[derive(Clone)]
pub struct LateRouter {
    state: Arc<RwLock<State>>,
    health: Arc<Health>,
}

#[derive(Default)]
struct State {
    /// Every route mounted so far, without a fallback (routers with fallbacks cannot be merged).
    routes: Option<axum::Router>,
    /// `routes` with the fallback that tells "not ready" from "no such path"; what requests go through.
    served: Option<axum::Router>,
    /// Roles expected to mount that have not yet (health check names: `key_manager`, `control_plane`).
    pending: BTreeSet<&'static str>,
}

impl LateRouter {
    pub fn new(health: Arc<Health>) -> LateRouter {
        LateRouter { state: Arc::default(), health }
    }

    /// A role that will mount its routes once it is ready; until then paths nobody serves are 503.
    pub fn expect(&self, role: &'static str) {
        if let Ok(mut s) = self.state.write() {
            s.pending.insert(role);
        }
    }

    /// Adds routes that need no role to be ready (`/metrics`), merged with any mounted before.
    pub fn mount(&self, router: axum::Router) {
        self.add(None, router);
    }

    /// Adds a role's routes: the role is ready.
    pub fn mount_role(&self, role: &'static str, router: axum::Router) {
        self.add(Some(role), router);
    }

    fn add(&self, role: Option<&'static str>, router: axum::Router) {
        // Weak: the router lives in the state it consults.
        let (state, health) = (Arc::downgrade(&self.state), self.health.clone());
        if let Ok(mut s) = self.state.write() {
            let merged = match s.routes.take() {
                Some(existing) => existing.merge(router),
                None => router,
            };
            s.served = Some(merged.clone().fallback(move |req: Request<Body>| {
                let answer = match state.upgrade() {
                    Some(state) => unmatched(&state, &health, req.uri().path()),
                    None => StatusCode::NOT_FOUND.into_response(),
                };
                std::future::ready(answer)
            }));
            s.routes = Some(merged);
            if let Some(role) = role {
                s.pending.remove(role);
            }
        }
    }

    /// Drops every mounted router, and with them the roles they hold (on shutdown, once the listeners drained).
    pub fn clear(&self) {
        if let Ok(mut s) = self.state.write() {
            s.routes = None;
            s.served = None;
        }
    }

    /// The fallback service of the management router.
    pub fn service(
        self,
    ) -> impl tower::Service<Request<Body>, Response = Response, Error = Infallible, Future = impl Send> + Clone + Send + 'static {
        tower::service_fn(move |req: Request<Body>| {
            let late = self.clone();
            async move {
                let router = late.state.read().ok().and_then(|s| s.served.clone());
                match router {
                    Some(router) => router.oneshot(req).await,
                    None => Ok(unmatched(&late.state, &late.health, req.uri().path())),
                }
            }
        })
    }
}

/// A path no mounted router serves: 503 while a role is still to come, else 404.
fn unmatched(state: &RwLock<State>, health: &Health, path: &str) -> Response {
    let pending: Vec<&'static str> = state.read().map(|s| s.pending.iter().copied().collect()).unwrap_or_default();
    if pending.is_empty() {
        return (StatusCode::NOT_FOUND, axum::Json(serde_json::json!({"code": 404, "message": "no resource at this path"})))
            .into_response();
    }
    not_ready(path, &health.unready(), &pending)
}

/// 503 naming what is not ready: the health checks that fail (with their reasons), else the roles still to start.
fn not_ready(path: &str, unready: &[(String, String)], pending: &[&str]) -> Response {
    let what = match unready.is_empty() {
        false => unready.iter().map(|(name, reason)| format!("{name}: {reason}")).collect::<Vec<_>>().join("; "),
        true => pending.iter().map(|r| format!("{r}: starting")).collect::<Vec<_>>().join("; "),
    };
    let description = format!("this node is not ready yet ({what}); retry later or on another node");
    let oauth = ["/oauth2", "/.well-known", "/client-registration", "/keymanager-operations"].iter().any(|p| path.starts_with(p));
    let body = match oauth {
        // RFC 6749 §5.2's shape, which OAuth2 clients read.
        true => serde_json::json!({"error": "temporarily_unavailable", "error_description": description}),
        // WSO2's REST error body.
        false => {
            serde_json::json!({"code": 503, "message": "Service Unavailable", "description": description, "moreInfo": "", "error": []})
        }
    };
    let mut resp = (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
    resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECS));
    resp
}
