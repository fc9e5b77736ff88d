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
        Harness::with_config(state, |_| {})
    }

    /// A gateway serving `state`, its configuration (the embedded default's) changed by `tune` first.
    pub fn with_config(state: Value, tune: impl FnOnce(&mut Config)) -> Harness {
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
        let mut cfg = Config::from_deployment(&loaded.config);
        tune(&mut cfg);
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

    /// A verified JWT is found again by its bytes (however the `Bearer` prefix is spelt and spaced), and a
    /// revocation reaches it there: the cache never outlives the revocation list.
    #[tokio::test]
    async fn a_cached_token_is_found_by_its_bytes_and_refused_once_revoked() {
        use base64::Engine;
        let h = Harness::new(shop_state());
        let token = h.token("ck-1", "default");
        let claims = token.split('.').nth(1).and_then(|p| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(p).ok());
        let claims: Value = claims.and_then(|c| serde_json::from_slice(&c).ok()).expect("the token's claims");
        let call = |authorization: String| {
            let req = Request::get("/shop/1.0.0/admin").header("host", "gw.test").header("authorization", authorization);
            h.call(req.body(RequestBody::Empty).expect("request"))
        };
        // Authenticated each time (the backend's port has no listener: WSO2's 101503 comes after the chain).
        for authorization in [format!("Bearer {token}"), format!("Bearer {token}"), format!("bearer   {token}  ")] {
            let (resp, body) = call(authorization.clone()).await;
            assert_eq!((resp.status().as_u16(), code(&body).as_str()), (502, "101503"), "{authorization:.20}");
        }
        // A signature character well before the end (the last one carries padding bits too).
        let at = token.len() - 10;
        let other = if token.as_bytes()[at] == b'A' { "B" } else { "A" };
        let (resp, body) = call(format!("Bearer {}{other}{}", &token[..at], &token[at + 1..])).await;
        assert_eq!((resp.status().as_u16(), code(&body).as_str()), (401, "900901"), "a changed signature is not a cache hit");
        h.gw.auth.revoke(claims["jti"].as_str().expect("jti"), claims["exp"].as_i64().expect("exp"));
        let (resp, body) = call(format!("Bearer {token}")).await;
        assert_eq!((resp.status().as_u16(), code(&body).as_str()), (401, "900901"), "revoked");
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

/// The request path as `bench/gateway.sh`'s (c) drives it, in one process and one thread: a client on a kept-alive
/// connection, the gateway's own HTTP/1.1 server and chain (JWT, subscription, application and subscription
/// throttling never reached, analytics), and a backend answering 1 KiB, all over loopback sockets. For counting
/// the gateway's instructions per request under callgrind, which does not vary as the host's speed does:
/// `APIM_TIMING_N=2000 valgrind --tool=callgrind --toggle-collect='apim_gateway::inbound::serve*' <test binary>
/// harness::timing --ignored --nocapture`.
#[cfg(test)]
mod timing {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    /// A backend like the bench's (hyper's answer: `content-length`, `date`, 1 KiB), for any request without a body.
    async fn backend() -> std::net::SocketAddr {
        let mut answer = b"HTTP/1.1 200 OK\r\ncontent-length: 1024\r\ndate: Mon, 07 Dec 2026 12:00:00 GMT\r\n\r\n".to_vec();
        answer.resize(answer.len() + 1024, b'x');
        backend_answering(answer).await
    }

    /// A backend giving `answer` to every request without a body.
    async fn backend_answering(answer: Vec<u8>) -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let answer: &'static [u8] = answer.leak();
        tokio::spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = Vec::with_capacity(8192);
                    loop {
                        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            buf.drain(..end + 4);
                            if tcp.write_all(answer).await.is_err() {
                                return;
                            }
                        }
                        match tcp.read_buf(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(_) => {}
                        }
                    }
                });
            }
        });
        addr
    }

    fn bench_state(backend: std::net::SocketAddr) -> Value {
        let limit = |name: &str| {
            json!({"policyName": name, "defaultLimit": {"type": "REQUESTCOUNTLIMIT",
            "requestCount": {"timeUnit": "min", "unitTime": 1, "requestCount": 1_000_000_000u64}}})
        };
        let api = json!({"id": "api-1", "name": "Bench", "context": "/bench", "version": "1.0.0", "lifeCycleStatus": "PUBLISHED",
            "securityScheme": ["oauth2"], "policies": ["BenchSub"],
            "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": format!("http://{backend}/bytes/1024")}},
            "operations": [{"target": "/*", "verb": "GET"}]});
        json!({"seq": 1, "labels": ["Default"],
            "apis": [{"id": "api-1", "status": "PUBLISHED", "environment": "Default", "vhost": "localhost", "revisionId": "rev-1", "definition": api}],
            "applications": [{"id": "app-1", "name": "BenchApp", "owner": "admin", "policy": "BenchApp"}],
            "keyMappings": [{"consumerKey": "ck-1", "applicationId": "app-1", "keyType": "PRODUCTION", "keyManager": "Resident Key Manager"}],
            "subscriptions": [{"id": "sub-1", "apiId": "api-1", "applicationId": "app-1", "policy": "BenchSub", "status": "UNBLOCKED"}],
            "policies": [{"level": "application", "name": "BenchApp", "document": limit("BenchApp")},
                         {"level": "subscription", "name": "BenchSub", "document": limit("BenchSub")}],
            "blockConditions": []})
    }

    /// The gateway's own server on a loopback port, answering with `answer_h1` (as `apim`'s traffic listeners do).
    async fn own_server(h: &Harness) -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let gw = h.gw.clone();
        tokio::spawn(async move {
            let (_stop, stopped) = tokio::sync::watch::channel(false);
            while let Ok((tcp, _)) = listener.accept().await {
                let (gw, peer, stopped) = (gw.clone(), Peer::new("198.51.100.20:40000".parse().expect("addr"), false), stopped.clone());
                tokio::spawn(async move {
                    let serve =
                        crate::inbound::serve(tcp, |req| Some(gw.answer_h1(req, &peer)), &stopped, std::time::Duration::from_secs(10));
                    Box::pin(serve).await;
                });
            }
        });
        addr
    }

    /// A backend's head passes through the gateway's own server line for line (names as the backend wrote them),
    /// without its hop-by-hop lines, with one `Content-Length` and one `Date`; a cross-origin request's answer
    /// goes through the map and gets the API's CORS headers.
    #[tokio::test]
    async fn a_backends_head_goes_out_as_it_came_less_its_hop_by_hop_lines() {
        let backend = backend_answering(
            b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nX-Custom: Kept  As-Is\r\nContent-Length: 2\r\nDate: Mon, 07 Dec 2026 12:00:00 GMT\r\n\r\nhi".to_vec(),
        )
        .await;
        let mut state = bench_state(backend);
        state["apis"][0]["definition"]["operations"] = json!([{"target": "/*", "verb": "GET"}, {"target": "/*", "verb": "HEAD"}]);
        state["apis"][0]["definition"]["corsConfiguration"] =
            json!({"corsConfigurationEnabled": true, "accessControlAllowOrigins": ["*"], "accessControlAllowMethods": ["GET"]});
        let h = Harness::new(state);
        let token = h.token("ck-1", "default");
        let mut client = TcpStream::connect(own_server(&h).await).await.expect("connect");
        let mut read_answer = async |request: String| {
            client.write_all(request.as_bytes()).await.expect("send");
            let mut buf = Vec::new();
            loop {
                if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                    let body_len = if request.starts_with("HEAD") { 0 } else { 2 };
                    if buf.len() >= end + 4 + body_len {
                        return (head, buf[end + 4..].to_vec());
                    }
                }
                assert!(client.read_buf(&mut buf).await.expect("read") > 0, "closed");
            }
        };
        let count = |head: &str, name: &str| head.lines().filter(|l| l.to_ascii_lowercase().starts_with(name)).count();
        for method in ["GET", "HEAD"] {
            let (head, body) =
                read_answer(format!("{method} /bench/1.0.0 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n")).await;
            assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
            assert!(head.contains("\r\nX-Custom: Kept  As-Is\r\n"), "{head}");
            assert_eq!(count(&head, "keep-alive:") + count(&head, "connection:"), 0, "{head}");
            assert_eq!((count(&head, "content-length: 2"), count(&head, "date:")), (1, 1), "{head}");
            assert_eq!(body, if method == "GET" { b"hi".to_vec() } else { Vec::new() }, "{method}");
        }
        let request =
            format!("GET /bench/1.0.0 HTTP/1.1\r\nHost: x\r\nOrigin: http://portal.example\r\nAuthorization: Bearer {token}\r\n\r\n");
        let (head, body) = read_answer(request).await;
        assert_eq!(count(&head, "access-control-allow-origin:"), 1, "{head}");
        assert_eq!((count(&head, "content-length: 2"), count(&head, "keep-alive:"), &body[..]), (1, 0, &b"hi"[..]), "{head}");
    }

    #[test]
    #[ignore = "a measurement, not a test: cargo test --release -p apim-gateway harness::timing -- --ignored --nocapture"]
    fn request_path() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(async {
            // APIM_TIMING_ANALYTICS=off: without the embedded analytics (bench (i0)); APIM_TIMING_OTLP=1: with
            // OpenTelemetry traces of every request, to a collector that is not there (bench (j)).
            let analytics = std::env::var("APIM_TIMING_ANALYTICS").map_or(true, |v| v != "off");
            let otlp = std::env::var("APIM_TIMING_OTLP").is_ok_and(|v| v == "1");
            let h = Harness::with_config(bench_state(backend().await), |cfg| {
                cfg.analytics = analytics;
                if otlp {
                    cfg.exports.otlp = Some(apim_config::Otlp {
                        endpoint: "http://127.0.0.1:9".into(),
                        json: false,
                        sampling_ratio: 1.0,
                        service_name: "apim-gateway".into(),
                        metrics_interval_secs: 0,
                    });
                }
            });
            let token = h.token("ck-1", "default");
            let addr = own_server(&h).await;
            let mut client = TcpStream::connect(addr).await.expect("connect");
            let request = format!("GET /bench/1.0.0 HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\r\n");
            let mut buf = Vec::with_capacity(8192);
            let mut exchange = async || {
                client.write_all(request.as_bytes()).await.expect("send");
                loop {
                    if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                        assert!(head.starts_with("http/1.1 200"), "{head}");
                        let length: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse().ok())
                            .expect("content-length");
                        if buf.len() >= end + 4 + length {
                            buf.drain(..end + 4 + length);
                            return;
                        }
                    }
                    assert!(client.read_buf(&mut buf).await.expect("read") > 0, "closed");
                }
            };
            for _ in 0..2000 {
                exchange().await;
            }
            let short: Option<u32> = std::env::var("APIM_TIMING_N").ok().and_then(|n| n.parse().ok());
            let (n, batches) = short.map_or((20_000, 5), |n| (n, 1));
            let mut best = std::time::Duration::MAX;
            for _ in 0..batches {
                let t = std::time::Instant::now();
                for _ in 0..n {
                    exchange().await;
                }
                best = best.min(t.elapsed() / n);
            }
            println!("client, gateway and backend on one thread: {best:?} per request");
        });
    }
}
