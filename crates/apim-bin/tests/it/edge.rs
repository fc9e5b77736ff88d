//! The node at the edge, through the real binary: traffic workers (a thread and a socket per core, the cores the
//! process may use), TLS session resumption, the key-exchange groups `[transport.tls]` names, and an ECDSA
//! certificate beside the RSA one, each client getting the one it can check; and the bad configurations.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use apim_test_support::TempDir;
use apim_test_support::http::{self, TlsProbe};
use apim_test_support::process::{Node, free_offset};
use apim_test_support::topology::{spawn_node, write_control_plane};
use rustls::SignatureScheme;
use rustls::crypto::aws_lc_rs::kx_group;

use super::{apim, wait_ready};

const PORTS: [u16; 7] = [9443, 9763, 8280, 8243, 9099, 8099, 5672];

fn addr_of(url: &str) -> SocketAddr {
    url.split("://").nth(1).unwrap_or(url).parse().expect("listener address")
}

/// Runs the all-in-one node of `dir/cp.toml`, which must refuse its configuration (exit 64); its stderr.
fn refused(dir: &Path) -> String {
    let out = std::process::Command::new(apim())
        .args(["all-in-one", "-c", "cp.toml", "--data-dir", "cp", "--bind", "127.0.0.1"])
        .current_dir(dir)
        .output()
        .expect("run apim");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    stderr
}

/// The names of the process's threads.
fn threads(node: &Node) -> Vec<String> {
    let dir = format!("/proc/{}/task", node.pid());
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("task dir")
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
        .map(|s| s.trim().to_string())
        .collect();
    names.sort();
    names
}

fn traffic_workers(node: &Node) -> usize {
    threads(node).iter().filter(|n| n.starts_with("apim-traffic-")).count()
}

/// A self-signed P-256 certificate and key in one PEM file at `path`, made with openssl.
fn ecdsa_pem(dir: &Path, path: &Path) -> Vec<u8> {
    let (cert, key) = (dir.join("ec.crt"), dir.join("ec.key"));
    let out = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", "/CN=localhost"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl (needed for this test)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (c, k) = (std::fs::read(&cert).expect("cert"), std::fs::read(&key).expect("key"));
    std::fs::write(path, [c.as_slice(), k.as_slice()].concat()).expect("pem");
    let pem = String::from_utf8(c).expect("pem text");
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64).expect("DER")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_workers_follow_the_cores_the_process_may_use() {
    let dir = TempDir::new("apim-workers");
    let offset = free_offset(&PORTS);
    write_control_plane(dir.path(), offset, "").expect("config");
    // Pinned to one core, with default settings: one traffic worker (std reads the affinity mask).
    let taskset = std::process::Command::new("taskset").arg("-V").output().is_ok_and(|o| o.status.success());
    let mut node = if taskset {
        let bin = apim();
        let args = ["-c", "0", bin.to_str().expect("utf8"), "all-in-one", "-c", "cp.toml", "--data-dir", "cp", "--bind", "127.0.0.1"];
        Node::spawn(Path::new("taskset"), &args, dir.path())
    } else {
        assert!(!apim_test_support::under_ci(), "taskset (util-linux) is needed under CI");
        spawn_node(&apim(), dir.path(), "all-in-one", "cp", &[])
    };
    let https = node.url("management-https", Duration::from_secs(20));
    let gateway = node.url("gateway-http", Duration::from_secs(5));
    assert_eq!(wait_ready(&https, Duration::from_secs(30)).await.status, 200, "{}", node.stderr());
    if taskset {
        assert_eq!(traffic_workers(&node), 1, "threads: {:?}", threads(&node));
    }
    node.terminate();

    // `--worker-threads 3`: three workers, each with its own socket on the same traffic port; connections
    // spread over them all get answers.
    let mut node = spawn_node(&apim(), dir.path(), "all-in-one", "cp", &["--worker-threads", "3"]);
    let https = node.url("management-https", Duration::from_secs(20));
    let gateway = {
        let g = node.url("gateway-http", Duration::from_secs(5));
        assert_eq!(addr_of(&g).port(), addr_of(&gateway).port(), "the same configured port");
        g
    };
    assert_eq!(wait_ready(&https, Duration::from_secs(30)).await.status, 200, "{}", node.stderr());
    assert_eq!(traffic_workers(&node), 3, "threads: {:?}", threads(&node));
    let mut answered = 0;
    for _ in 0..60 {
        // No API at this path: the gateway's own 404, from whichever worker the kernel chose.
        let r = http::get(&format!("{gateway}/nothing/here")).await.expect("gateway answers");
        assert_eq!(r.status, 404, "{}", r.body);
        answered += 1;
    }
    assert_eq!(answered, 60);
    // A bad value is refused before anything starts.
    let out = std::process::Command::new(apim()).args(["all-in-one", "--worker-threads", "0"]).output().expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("worker-threads"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_resumes_sessions_offers_the_configured_groups_and_picks_the_certificate_a_client_can_check() {
    let dir = TempDir::new("apim-tls-edge");
    let offset = free_offset(&PORTS);
    std::fs::create_dir_all(dir.path().join("cp")).expect("dir");
    let ecdsa = ecdsa_pem(dir.path(), &dir.path().join("ec.pem"));
    let extra = "[keystore.tls_ecdsa]\nfile_name = \"ec.pem\"\n[transport.tls]\nkey_exchange_groups = [\"X25519\", \"secp256r1\"]\n";
    write_control_plane(dir.path(), offset, extra).expect("config");
    let mut node = spawn_node(&apim(), dir.path(), "all-in-one", "cp", &[]);
    let https = node.url("management-https", Duration::from_secs(20));
    let gateway = node.url("gateway-https", Duration::from_secs(5));
    assert_eq!(wait_ready(&https, Duration::from_secs(30)).await.status, 200, "{}", node.stderr());

    let rsa_only = TlsProbe::new(Some(&[SignatureScheme::RSA_PSS_SHA256, SignatureScheme::RSA_PKCS1_SHA256]), None);
    let any = TlsProbe::new(None, None);
    let p384_only = TlsProbe::new(None, Some(&[kx_group::SECP384R1]));
    let post_quantum_only = TlsProbe::new(None, Some(&[kx_group::X25519MLKEM768]));
    for listener in [&https, &gateway] {
        let addr = addr_of(listener);
        let first = any.handshake(addr, "localhost").await.expect("handshake");
        assert_eq!(first.certificate, ecdsa, "{listener}: a client that checks ECDSA gets the ECDSA certificate");
        assert!(!first.resumed);
        assert_eq!(first.group, Some(rustls::NamedGroup::X25519), "{listener}: X25519 first");
        let again = any.handshake(addr, "localhost").await.expect("second handshake");
        assert!(again.resumed, "{listener}: the second connection resumes the session");
        let rsa = rsa_only.handshake(addr, "localhost").await.expect("RSA handshake");
        assert_ne!(rsa.certificate, ecdsa, "{listener}: an RSA-only client gets the RSA certificate");
        assert!(!rsa.certificate.is_empty());
        // Groups left out of key_exchange_groups are not negotiated.
        assert!(p384_only.handshake(addr, "localhost").await.is_err(), "{listener}: secp384r1 is not configured");
        assert!(post_quantum_only.handshake(addr, "localhost").await.is_err(), "{listener}: X25519MLKEM768 is not configured");
    }
    node.terminate();

    // With the defaults, the post-quantum hybrid is offered (last), and a client asking only for it gets it.
    write_control_plane(dir.path(), offset, "").expect("config");
    let mut node = spawn_node(&apim(), dir.path(), "all-in-one", "cp", &[]);
    let gateway = node.url("gateway-https", Duration::from_secs(20));
    let https = node.url("management-https", Duration::from_secs(5));
    assert_eq!(wait_ready(&https, Duration::from_secs(30)).await.status, 200, "{}", node.stderr());
    let pq = post_quantum_only.handshake(addr_of(&gateway), "localhost").await.expect("post-quantum handshake");
    assert_eq!(pq.group, Some(rustls::NamedGroup::X25519MLKEM768));
    let classic = any.handshake(addr_of(&gateway), "localhost").await.expect("handshake");
    assert_eq!(classic.group, Some(rustls::NamedGroup::X25519), "a client sending an X25519 share keeps X25519");
    node.terminate();

    // Bad configurations: each refused before a port is bound, naming the problem.
    let rsa_pem = std::fs::read_dir(dir.path().join("cp/tls")).expect("tls dir").flatten().next().expect("generated pem").path();
    std::fs::copy(&rsa_pem, dir.path().join("rsa.pem")).expect("copy");
    for (extra, expected) in [
        ("[keystore.tls_ecdsa]\nfile_name = \"rsa.pem\"\n", "needs an ECDSA key on the P-256 curve"),
        ("[keystore.tls_ecdsa]\nfile_name = \"missing.pem\"\n", "missing.pem"),
        ("[keystore.tls_ecdsa]\ntype = \"PEM\"\n", "needs file_name"),
        ("[transport.tls]\nkey_exchange_groups = [\"X448\"]\n", "unknown key exchange group `X448`"),
        ("[transport.tls]\nkey_exchange_groups = []\n", "at least one group"),
        ("[transport.tls]\nsession_cache_size = -1\n", "session_cache_size -1"),
    ] {
        write_control_plane(dir.path(), offset, extra).expect("config");
        let stderr = refused(dir.path());
        assert!(stderr.contains(expected), "{extra}: expected `{expected}` in:\n{stderr}");
    }
}

/// The header of a JWT, decoded.
fn jwt_header(token: &str) -> serde_json::Value {
    let h = token.split('.').next().expect("header");
    let bytes = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, h).expect("base64url");
    serde_json::from_slice(&bytes).expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_manager_signs_es256_or_eddsa_and_the_gateway_checks_them() {
    use super::gateway::{Mgmt, eventually};
    use serde_json::json;
    let backend = apim_test_support::backend::spawn("127.0.0.1:0".parse().expect("addr")).await.expect("backend");
    for (alg, kty) in [("ES256", "EC"), ("EdDSA", "OKP")] {
        let dir = TempDir::new("apim-signing");
        let offset = free_offset(&PORTS);
        write_control_plane(dir.path(), offset, &format!("[oauth.token_generation]\nsigning_algorithm = \"{alg}\"\n")).expect("config");
        let mut node = spawn_node(&apim(), dir.path(), "all-in-one", "cp", &[]);
        let https = node.url("management-https", Duration::from_secs(20));
        let gateway = node.url("gateway-http", Duration::from_secs(5));
        assert_eq!(wait_ready(&https, Duration::from_secs(30)).await.status, 200, "{}", node.stderr());
        let m = Mgmt { base: https.clone(), auth: format!("Basic {}", super::base64_encode("admin:admin")) };
        let api = json!({"name": "Signed", "context": "/signed", "version": "1.0.0", "policies": ["Unlimited"],
            "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": format!("http://{backend}/signed")}},
            "operations": [{"target": "/*", "verb": "GET"}]});
        let api_id = m.publish(api).await;
        let (app_id, ck, cs) = m.app("SignedApp", "Unlimited", "JWT", "PRODUCTION").await;
        m.subscribe(&api_id, &app_id, "Unlimited").await;
        let token = m.token(&ck, &cs, "").await;
        let header = jwt_header(&token);
        assert_eq!(header["alg"], alg, "{header}");
        // The JWKS publishes a key of the right type under the token's kid; discovery names the algorithm.
        let jwks = http::get(&format!("{https}/oauth2/jwks")).await.expect("jwks").json();
        let key = jwks["keys"].as_array().expect("keys").iter().find(|k| k["kid"] == header["kid"]).expect("the token's key").clone();
        assert_eq!(key["kty"], kty, "{key}");
        assert_eq!(key["alg"], alg);
        let discovery = http::get(&format!("{https}/oauth2/token/.well-known/openid-configuration")).await.expect("discovery");
        assert_eq!(discovery.status, 200, "{}", discovery.body);
        assert_eq!(discovery.json()["id_token_signing_alg_values_supported"][0], alg);
        // The gateway takes the token, and refuses it with one signature byte changed.
        let ok = eventually(&format!("{gateway}/signed/1.0.0/x"), Some(&token), 200).await;
        assert_eq!(ok.status, 200, "{}", ok.body);
        let mut forged = token.clone().into_bytes();
        let i = forged.len() - 3;
        forged[i] = if forged[i] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).expect("utf8");
        let forged = super::gateway::get(&format!("{gateway}/signed/1.0.0/x"), Some(&forged)).await;
        assert_eq!(forged.status, 401, "{}", forged.body);
        // Restarted, the key manager keeps its key: the token still passes.
        node.terminate();
        let key_file = dir.path().join(format!("cp/keys/jwt-{}.pk8", alg.to_ascii_lowercase()));
        assert!(key_file.exists(), "{}", key_file.display());
        let mut node = spawn_node(&apim(), dir.path(), "all-in-one", "cp", &[]);
        let https = node.url("management-https", Duration::from_secs(20));
        let gateway = node.url("gateway-http", Duration::from_secs(5));
        assert_eq!(wait_ready(&https, Duration::from_secs(30)).await.status, 200, "{}", node.stderr());
        let again = eventually(&format!("{gateway}/signed/1.0.0/x"), Some(&token), 200).await;
        assert_eq!(again.status, 200, "{}", again.body);
        node.terminate();
        // A key file of the wrong kind, and an unknown algorithm, are refused before anything is bound.
        std::fs::write(&key_file, b"not a key").expect("write");
        let stderr = refused(dir.path());
        assert!(stderr.contains(&format!("jwt-{}.pk8", alg.to_ascii_lowercase())) && stderr.contains(alg), "{stderr}");
    }
    let dir = TempDir::new("apim-signing");
    write_control_plane(dir.path(), free_offset(&PORTS), "[oauth.token_generation]\nsigning_algorithm = \"HS256\"\n").expect("config");
    let stderr = refused(dir.path());
    assert!(stderr.contains("signing_algorithm `HS256` is not one of RS256, ES256, EdDSA"), "{stderr}");
}
