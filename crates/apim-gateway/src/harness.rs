//! An in-process harness for the request chain (linkerd's style): a real `Gateway` with a runtime state given as
//! the JSON the control plane serves, a key authority holding a real RSA key (tokens are real RS256 JWTs, checked
//! by the real verifier), and requests handed to `Gateway::answer` without a socket. The chain's phases can be
//! tested in milliseconds; the end-to-end tests through the binary stay the proof that the pieces meet.

use std::sync::Arc;

use apim_domain::scopes::{AuthorityError, Introspection, TokenAuthority};
use apim_jose::jwt::SigningKey;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::BodyExt;
use serde_json::{Value, json};

use crate::body::{Body, RequestBody};
use crate::gateway::{Config, Gateway};
use crate::proxy::Peer;

pub(crate) const ISSUER: &str = "https://km.harness.test/oauth2/token";

type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// A key manager in memory: its JWKS is the harness key's; it knows no opaque tokens.
struct InMemoryAuthority {
    jwks: String,
}

impl TokenAuthority for InMemoryAuthority {
    fn introspect<'a>(&'a self, _token: &'a str) -> BoxFuture<'a, Result<Option<Introspection>, AuthorityError>> {
        Box::pin(async { Ok(None) })
    }
    fn jwks(&self) -> BoxFuture<'_, Result<String, AuthorityError>> {
        let jwks = self.jwks.clone();
        Box::pin(async move { Ok(jwks) })
    }
    fn issuer(&self) -> String {
        ISSUER.to_string()
    }
}

pub(crate) struct Harness {
    pub gw: Arc<Gateway>,
    key: SigningKey,
    peer: Peer,
}

impl Harness {
    /// A gateway serving `state` (the JSON of a `RuntimeState`).
    pub fn new(state: Value) -> Harness {
        let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("RSA key");
        let der = aws_lc_rs::encoding::AsDer::<aws_lc_rs::encoding::Pkcs8V1Der<'_>>::as_der(&pair).expect("PKCS#8");
        let key = SigningKey::from_der(der.as_ref()).expect("signing key");
        let authority = Arc::new(InMemoryAuthority { jwks: json!({"keys": [key.jwk.clone()]}).to_string() });
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("protocols")
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        let loaded = apim_config::embedded_default(&apim_config::LoadOptions::default()).expect("the embedded default configuration");
        let cfg = Config::from_deployment(&loaded.config);
        let gw = Gateway::new(cfg, tls, authority, None);
        gw.install(&serde_json::from_value(state).expect("a runtime state"));
        Harness { gw, key, peer: Peer::new("198.51.100.20:40000".parse().expect("addr"), false) }
    }

    /// A JWT for `client_id` with `scopes`, valid for an hour.
    pub fn token(&self, client_id: &str, scopes: &str) -> String {
        let now = crate::auth::now_ms() / 1000;
        self.key
            .sign(&json!({"iss": ISSUER, "sub": "admin", "azp": client_id, "client_id": client_id, "scope": scopes,
                          "aut": "APPLICATION", "iat": now, "exp": now + 3600, "jti": format!("jti-{now}-{client_id}")}))
            .expect("signed")
    }

    /// The chain's answer, with its body read.
    pub async fn call(&self, req: Request<RequestBody>) -> (Response<()>, Bytes) {
        let resp: Response<Body> = match self.gw.answer(req, &self.peer).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        let (parts, body) = resp.into_parts();
        let bytes = body.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
        (Response::from_parts(parts, ()), bytes)
    }
}

/// A GET with `Host` and, when given, a bearer token.
pub(crate) fn get(path: &str, token: Option<&str>) -> Request<RequestBody> {
    let mut b = Request::get(path).header("host", "gw.test");
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    b.body(RequestBody::Empty).expect("request")
}

/// A state with one published API, `/shop/1.0.0` (an open `/*`, a secured `/admin`, a scoped `/orders`), an
/// application `app-1` subscribed to it with the consumer key `ck-1`, and a backend that is never called.
pub(crate) fn shop_state() -> Value {
    let api = json!({"id": "api-1", "name": "Shop", "context": "/shop", "version": "1.0.0", "lifeCycleStatus": "PUBLISHED",
        "securityScheme": ["oauth2"], "policies": ["Unlimited"],
        "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": "http://127.0.0.1:9/base"}},
        "corsConfiguration": {"corsConfigurationEnabled": true, "accessControlAllowOrigins": ["https://portal.test"],
            "accessControlAllowHeaders": ["authorization"], "accessControlAllowMethods": ["GET"], "accessControlAllowCredentials": false},
        "operations": [{"target": "/*", "verb": "GET", "authType": "None"}, {"target": "/admin", "verb": "GET"},
                       {"target": "/orders", "verb": "GET", "scopes": ["orders_read"]}]});
    json!({"seq": 1, "labels": ["Default"],
        "apis": [{"id": "api-1", "status": "PUBLISHED", "environment": "Default", "vhost": "localhost", "revisionId": "rev-1", "definition": api}],
        "applications": [{"id": "app-1", "name": "App", "owner": "admin", "policy": "Unlimited"}],
        "keyMappings": [{"consumerKey": "ck-1", "applicationId": "app-1", "keyType": "PRODUCTION", "keyManager": "Resident Key Manager"}],
        "subscriptions": [{"id": "sub-1", "apiId": "api-1", "applicationId": "app-1", "policy": "Unlimited", "status": "UNBLOCKED"}],
        "policies": [], "blockConditions": []})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(body: &Bytes) -> String {
        serde_json::from_slice::<Value>(body).ok().and_then(|v| v["code"].as_str().map(str::to_string)).unwrap_or_default()
    }

    /// The chain's refusals, without a socket: canonical paths authorized as what they name, credentials,
    /// scopes, and the backend that cannot be reached (a port nothing listens on) after everything passed.
    #[tokio::test]
    async fn the_chain_refuses_with_wso2_codes() {
        let h = Harness::new(shop_state());
        let token = h.token("ck-1", "default");
        let scoped = h.token("ck-1", "orders_read");
        let cases: &[(&str, Option<&str>, u16, &str)] = &[
            ("/shop/1.0.0/admin", None, 401, "900902"),
            ("/shop/1.0.0/x/../admin", None, 401, "900902"),
            ("/shop/1.0.0/x/%2e%2e/admin", None, 401, "900902"),
            ("/shop/1.0.0/x/%2F../admin", None, 400, "900900"),
            ("/shop/1.0.0/admin", Some("not.a.jwt"), 401, "900901"),
            ("/shop/1.0.0/orders", Some(&token), 403, "900910"),
            ("/nothing/here", None, 404, "900906"),
            // Everything passes; the backend's port has no listener: WSO2's 101503.
            ("/shop/1.0.0/orders", Some(&scoped), 502, "101503"),
            ("/shop/1.0.0/open", None, 502, "101503"),
        ];
        for (path, token, status, want) in cases {
            let (resp, body) = h.call(get(path, *token)).await;
            assert_eq!((resp.status().as_u16(), code(&body).as_str()), (*status, *want), "{path}: {}", String::from_utf8_lossy(&body));
        }
        // A token whose application this gateway does not know.
        let stranger = h.token("ck-unknown", "default");
        let (resp, body) = h.call(get("/shop/1.0.0/admin", Some(&stranger))).await;
        assert_eq!((resp.status().as_u16(), code(&body).as_str()), (403, "900908"));
    }

    #[tokio::test]
    async fn preflights_and_faults_carry_cors() {
        let h = Harness::new(shop_state());
        let preflight = Request::options("/shop/1.0.0/admin")
            .header("host", "gw.test")
            .header("origin", "https://portal.test")
            .header("access-control-request-method", "GET")
            .body(RequestBody::Empty)
            .expect("request");
        let (resp, body) = h.call(preflight).await;
        assert_eq!((resp.status().as_u16(), body.len()), (200, 0));
        assert_eq!(resp.headers().get("access-control-allow-origin").and_then(|v| v.to_str().ok()), Some("https://portal.test"));
        let fault =
            Request::get("/shop/1.0.0/admin").header("host", "gw.test").header("origin", "https://portal.test").body(RequestBody::Empty);
        let (resp, _) = h.call(fault.expect("request")).await;
        assert_eq!(resp.status().as_u16(), 401);
        assert!(resp.headers().contains_key("access-control-allow-origin"), "a 401 a browser can read");
    }
}
