//! Routes mounted after start-up: a role that needs its databases (the key manager) mounts its router once they
//! are up. Until then its paths answer 503; unknown paths 404.

use std::convert::Infallible;
use std::sync::{Arc, RwLock};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;

#[derive(Clone, Default)]
pub struct LateRouter(Arc<RwLock<Option<axum::Router>>>);

impl LateRouter {
    pub fn new() -> LateRouter {
        LateRouter::default()
    }

    /// Adds a role's routes (merged with any mounted before).
    pub fn mount(&self, router: axum::Router) {
        if let Ok(mut slot) = self.0.write() {
            let merged = match slot.take() {
                Some(existing) => existing.merge(router),
                None => router,
            };
            *slot = Some(merged);
        }
    }

    /// The fallback service of the management router.
    pub fn service(
        self,
    ) -> impl tower::Service<Request<Body>, Response = Response, Error = Infallible, Future = impl Send> + Clone + Send + 'static {
        let cell = self.0.clone();
        tower::service_fn(move |req: Request<Body>| {
            let cell = cell.clone();
            async move {
                let router = cell.read().ok().and_then(|r| r.clone());
                match router {
                    Some(router) => router.oneshot(req).await,
                    None => Ok(not_yet(req.uri().path())),
                }
            }
        })
    }
}

fn not_yet(path: &str) -> Response {
    let role_path =
        ["/oauth2", "/.well-known", "/client-registration", "/keymanager-operations", "/api/am"].iter().any(|p| path.starts_with(p));
    if role_path {
        let body = axum::Json(
            serde_json::json!({"error": "temporarily_unavailable", "error_description": "starting: the databases are not ready yet"}),
        );
        (StatusCode::SERVICE_UNAVAILABLE, body).into_response()
    } else {
        (StatusCode::NOT_FOUND, axum::Json(serde_json::json!({"code": 404, "message": "no resource at this path"}))).into_response()
    }
}
