//! The HTTP key-manager client against a real key manager on an ephemeral port (SQLite): registration, tokens,
//! introspection, JWKS, secret regeneration, deletion, hosts-file resolution, and an unreachable key manager.

use std::sync::Arc;
use std::time::Duration;

use apim_config::{HostsFile, LoadOptions, Source};
use apim_domain::keys::{ClientRequest, KeyError, KeyManagerClient};
use apim_domain::password;
use apim_domain::scopes::{TokenAuthority, TokenValidator};
use apim_km_client::RemoteKeyManager;
use apim_store::{NewUser, UserStore};
use apim_test_support::TempDir;

fn tls() -> Arc<rustls::ClientConfig> {
    Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("tls")
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth(),
    )
}

async fn key_manager(dir: &TempDir) -> String {
    let text = format!("[database.apim_db]\ntype = \"sqlite\"\nurl = \"jdbc:sqlite:{}/km.db\"\n", dir.path().display());
    let loaded = apim_config::load_str(Source::new("t.toml", text), &LoadOptions::default(), &|_: &str| None).expect("config");
    let db = apim_store::connect(&loaded.config.apim_db.expect("db"), &HostsFile::default()).await.expect("connect");
    db.migrate("apim_db").await.expect("migrate");
    let hash = password::hash("admin-pw").expect("hash");
    db.create_user(&NewUser { username: "admin", password_hash: &hash, roles: &["admin"] }).await.expect("admin");
    let cfg = apim_key_manager::Config {
        issuer: "https://km.test/oauth2/token".into(),
        base_url: "https://km.test".into(),
        access_ttl: 3600,
        refresh_ttl: 86400,
        code_ttl: 300,
        default_format: apim_domain::oauth::TokenFormat::Jwt,
        signing_algorithm: apim_key_manager::Alg::Rs256,
        listeners: Vec::new(),
        hosts: Default::default(),
    };
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("rsa").serialize_der();
    let km = apim_key_manager::KeyManager::start(db.clone(), db, cfg, &key, tls()).await.expect("key manager");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let router = km.router();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://127.0.0.1:{port}")
}

#[tokio::test]
async fn remote_key_manager_over_http() {
    let dir = TempDir::new("apim-kmc");
    let base = key_manager(&dir).await;
    let km = RemoteKeyManager::new(
        &format!("{base}/services/"),
        "admin",
        "admin-pw",
        Some("https://km.test/oauth2/token".into()),
        HostsFile::default(),
        tls(),
    )
    .expect("client");
    assert_eq!(km.base(), base);

    let req = |token_type: &str| ClientRequest {
        name: format!("app-{token_type}"),
        owner: "alice".into(),
        grant_types: vec!["client_credentials".into()],
        callback_url: None,
        token_type: token_type.into(),
    };
    let keys = km.register(req("JWT")).await.expect("register");
    let token = km.client_credentials_token(&keys.client_id, &keys.client_secret, &[], None).await.expect("token");
    assert_eq!(token.access_token.split('.').count(), 3, "a JWT");
    let seen = km.introspect(&token.access_token).await.expect("introspect").expect("active");
    assert_eq!(seen.client_id, keys.client_id);
    assert!(seen.expires_at > 0);
    assert_eq!(km.validate(&token.access_token).await.map(|t| t.client_id), Some(keys.client_id.clone()));
    assert!(km.introspect("not-a-token").await.expect("introspect").is_none());
    let jwks: serde_json::Value = serde_json::from_str(&km.jwks().await.expect("jwks")).expect("json");
    assert!(jwks["keys"].as_array().is_some_and(|k| !k.is_empty()));
    assert_eq!(km.issuer(), "https://km.test/oauth2/token");

    let opaque = km.register(req("OPAQUE")).await.expect("register opaque");
    let t = km.client_credentials_token(&opaque.client_id, &opaque.client_secret, &[], None).await.expect("token");
    assert_eq!(t.access_token.split('.').count(), 1, "an opaque token");

    // A new secret: the old one stops working, the new one works.
    let secret = km.regenerate_secret(&keys.client_id).await.expect("regenerate");
    assert!(matches!(km.client_credentials_token(&keys.client_id, &keys.client_secret, &[], None).await, Err(KeyError::Invalid(_))));
    km.client_credentials_token(&keys.client_id, &secret, &[], None).await.expect("new secret");
    km.delete_client(&keys.client_id).await.expect("delete");
    assert!(matches!(km.delete_client(&keys.client_id).await, Err(KeyError::NotFound(_))));
    assert!(matches!(km.register(ClientRequest { grant_types: vec!["bogus".into()], ..req("JWT") }).await, Err(KeyError::Invalid(_))));

    // Wrong credentials are the control plane's configuration, not the caller's request: unavailable, saying so.
    let wrong = RemoteKeyManager::new(&base, "admin", "nope", None, HostsFile::default(), tls()).expect("client");
    assert!(matches!(wrong.register(req("JWT")).await, Err(KeyError::Unavailable(m)) if m.contains("credentials")));

    // Host names resolve through the node's hosts file first.
    let port = base.rsplit(':').next().expect("port");
    let hosts = HostsFile::parse("hosts", "127.0.0.1 km.wso2.test\n").expect("hosts");
    let named =
        RemoteKeyManager::new(&format!("http://km.wso2.test:{port}/services/"), "admin", "admin-pw", None, hosts, tls()).expect("client");
    named.register(req("JWT")).await.expect("register through the hosts file");

    // Nobody listening: unavailable, quickly.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr");
    let gone = RemoteKeyManager::new(&format!("http://{closed}/services/"), "admin", "admin-pw", None, HostsFile::default(), tls())
        .expect("client");
    assert!(matches!(gone.register(req("JWT")).await, Err(KeyError::Unavailable(_))));
    assert!(gone.introspect("x").await.is_err());
    assert!(RemoteKeyManager::new("ftp://x/", "a", "b", None, HostsFile::default(), tls()).is_err());
}

/// A node that is up but not ready: 503 on every path, as a key manager waiting for its database answers.
async fn unready_node() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let router = axum::Router::new().fallback(|| async {
        (axum::http::StatusCode::SERVICE_UNAVAILABLE, axum::Json(serde_json::json!({"error": "temporarily_unavailable"})))
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    addr
}

/// A TCP balancer handing each new connection to the next target in turn, the first to `targets[0]`.
async fn round_robin(targets: Vec<std::net::SocketAddr>) -> std::net::SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    tokio::spawn(async move {
        while let Ok((mut client, _)) = l.accept().await {
            let target = targets[next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % targets.len()];
            tokio::spawn(async move {
                if let Ok(mut upstream) = tokio::net::TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn unready_key_managers_are_passed_over() {
    let dir = TempDir::new("apim-kmc-failover");
    let ready = key_manager(&dir).await;
    let unready = unready_node().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr");
    let req = ClientRequest {
        name: "failover".into(),
        owner: "alice".into(),
        grant_types: vec!["client_credentials".into()],
        callback_url: None,
        token_type: "JWT".into(),
    };

    // Configured first: one that is not ready, one nobody listens on; the ready one last.
    let km = RemoteKeyManager::new(&format!("http://{unready}/services/"), "admin", "admin-pw", None, HostsFile::default(), tls())
        .expect("client")
        .with_fallbacks(&[format!("http://{closed}"), ready.clone()]);
    let keys = km.register(req.clone()).await.expect("register through the ready one");
    let token = km.client_credentials_token(&keys.client_id, &keys.client_secret, &[], None).await.expect("token");
    assert!(km.introspect(&token.access_token).await.expect("introspect").is_some());
    assert!(km.jwks().await.is_ok());

    // One service_url, a balancer in front of an unready and a ready key manager: a 503 is not final, and the
    // next attempt goes on a new connection, which the balancer sends to the other one.
    let port: u16 = ready.rsplit(':').next().and_then(|p| p.parse().ok()).expect("port");
    let lb = round_robin(vec![unready, ([127, 0, 0, 1], port).into()]).await;
    let behind =
        RemoteKeyManager::new(&format!("http://{lb}/services/"), "admin", "admin-pw", None, HostsFile::default(), tls()).expect("client");
    for _ in 0..4 {
        assert!(behind.jwks().await.is_ok(), "every call reaches the ready key manager");
        behind.register(req.clone()).await.expect("register behind the balancer");
    }

    // Nobody ready anywhere: unavailable, naming each peer and why.
    let nobody = RemoteKeyManager::new(&format!("http://{unready}/services/"), "admin", "admin-pw", None, HostsFile::default(), tls())
        .expect("client")
        .with_fallbacks(&[format!("http://{closed}")]);
    match nobody.register(req).await {
        Err(KeyError::Unavailable(e)) => {
            assert!(e.contains(&unready.to_string()) && e.contains("503") && e.contains(&closed.to_string()), "{e}")
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

/// A node that accepts connections and never answers (a frozen process: the kernel still accepts for it).
async fn frozen_node() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    addr
}

/// A frozen key manager configured first is left for the next one: calls that can be repeated (JWKS,
/// introspection) leave it after a short wait, not the full timeout. The time taken is printed; the bound only
/// stops a hang.
#[tokio::test]
async fn a_frozen_key_manager_is_passed_over() {
    let dir = TempDir::new("apim-kmc-frozen");
    let ready = key_manager(&dir).await;
    let frozen = frozen_node().await;
    let km = RemoteKeyManager::new(&format!("http://{frozen}/services/"), "admin", "admin-pw", None, HostsFile::default(), tls())
        .expect("client")
        .with_fallbacks(std::slice::from_ref(&ready));
    let started = std::time::Instant::now();
    let jwks = tokio::time::timeout(Duration::from_secs(60), km.jwks()).await.expect("no hang");
    assert!(jwks.is_ok(), "{jwks:?}");
    eprintln!("JWKS through a frozen key manager's fallback in {:?}", started.elapsed());
    // The one that answered is asked first from now on.
    let started = std::time::Instant::now();
    assert!(tokio::time::timeout(Duration::from_secs(60), km.jwks()).await.expect("no hang").is_ok());
    eprintln!("and next time in {:?}", started.elapsed());
}

/// A self-signed certificate (and its key, PEM) for `names`, valid from `from` to `until`.
fn certificate(names: &[&str], from: (i32, u8, u8), until: (i32, u8, u8)) -> (Vec<u8>, rustls::pki_types::CertificateDer<'static>) {
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).expect("params");
    params.not_before = rcgen::date_time_ymd(from.0, from.1, from.2);
    params.not_after = rcgen::date_time_ymd(until.0, until.1, until.2);
    let cert = params.self_signed(&key).expect("self-signed");
    (format!("{}{}", cert.pem(), key.serialize_pem()).into_bytes(), cert.der().clone())
}

fn trusting(cert: rustls::pki_types::CertificateDer<'static>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).expect("root");
    Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("tls")
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// A TLS failure between nodes says what is wrong with the certificate, names the host and what to configure,
/// instead of `client error (Connect)`.
#[tokio::test]
async fn tls_failures_name_the_certificate_problem_and_the_host() {
    let hosts = HostsFile::parse("hosts", "127.0.0.1 peer.test other.test\n").expect("hosts");
    let (pem, der) = certificate(&["peer.test"], (2020, 1, 1), (2999, 1, 1));
    let peer = apim_test_support::backend::spawn_tls("127.0.0.1:0".parse().expect("addr"), &pem).await.expect("tls peer");
    let km = |host: &str, tls: Arc<rustls::ClientConfig>| {
        RemoteKeyManager::new(&format!("https://{host}:{}/services/", peer.port()), "admin", "pw", None, hosts.clone(), tls)
            .expect("client")
    };

    // Self-signed and not in the truststore.
    let e = km("peer.test", tls()).jwks().await.expect_err("untrusted").to_string();
    assert!(e.contains("certificate") && e.contains("peer.test") && e.contains("[truststore]") && e.contains("unknown issuer"), "{e}");

    // Trusted, but reached by a name it does not hold.
    let e = km("other.test", trusting(der.clone())).jwks().await.expect_err("wrong name").to_string();
    assert!(e.contains("certificate") && e.contains("`other.test`") && e.contains("(it names peer.test)"), "{e}");

    // Trusted and named, but expired.
    let (old_pem, old_der) = certificate(&["peer.test"], (2000, 1, 1), (2001, 1, 1));
    let old = apim_test_support::backend::spawn_tls("127.0.0.1:0".parse().expect("addr"), &old_pem).await.expect("tls peer");
    let expired =
        RemoteKeyManager::new(&format!("https://peer.test:{}/", old.port()), "admin", "pw", None, hosts.clone(), trusting(old_der))
            .expect("client");
    let e = expired.jwks().await.expect_err("expired").to_string();
    assert!(e.contains("certificate") && e.contains("peer.test") && e.contains("expired on 2001-01-01"), "{e}");
}
