//! Routes mounted after start-up: a role that needs its databases (the key manager) mounts its router once they
//! are up. Until then its paths answer 503; unknown paths 404.

use std::convert::Infallible;
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;

#[derive(Clone, Default)]
pub struct LateRouter(Arc<OnceLock<axum::Router>>);

impl LateRouter {
    pub fn new() -> LateRouter {
        LateRouter::default()
    }

    pub fn mount(&self, router: axum::Router) {
        let _ = self.0.set(router);
    }

    /// The fallback service of the management router.
    pub fn service(
        self,
    ) -> impl tower::Service<Request<Body>, Response = Response, Error = Infallible, Future = impl Send> + Clone + Send + 'static {
        let cell = self.0.clone();
        tower::service_fn(move |req: Request<Body>| {
            let cell = cell.clone();
            async move {
                match cell.get() {
                    Some(router) => router.clone().oneshot(req).await,
                    None => Ok(not_yet(req.uri().path())),
                }
            }
        })
    }
}

fn not_yet(path: &str) -> Response {
    let role_path = ["/oauth2", "/.well-known", "/client-registration", "/keymanager-operations"].iter().any(|p| path.starts_with(p));
    if role_path {
        let body = axum::Json(
            serde_json::json!({"error": "temporarily_unavailable", "error_description": "starting: the databases are not ready yet"}),
        );
        (StatusCode::SERVICE_UNAVAILABLE, body).into_response()
    } else {
        (StatusCode::NOT_FOUND, axum::Json(serde_json::json!({"code": 404, "message": "no resource at this path"}))).into_response()
    }
}
