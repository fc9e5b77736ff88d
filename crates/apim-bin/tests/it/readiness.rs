//! Readiness between nodes: a control plane without its database answers 503 naming it on every path (REST,
//! OAuth2, the internal data service, paths nobody serves) and UNAVAILABLE on its event hub, and a fresh
//! gateway reaches ready through the other control plane, also when both sit behind one load balancer; a frozen
//! control plane behind that balancer delays a deploy only until the gateway notices its silence.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use apim_test_support::db::{Backend, TestDb};
use apim_test_support::process::{Node, free_offset};
use apim_test_support::{TempDir, http};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::gateway::{Mgmt, eventually};
use super::{apim, base64_encode, wait_ready};

const CP1: &str = "127.0.0.6";
const CP2: &str = "127.0.0.7";

/// A TCP load balancer on `on` handing each new connection to the next target in turn, the first to `targets[0]`.
async fn round_robin(on: &str, targets: Vec<SocketAddr>) -> SocketAddr {
    let l = tokio::net::TcpListener::bind(on).await.unwrap_or_else(|e| panic!("bind {on}: {e}"));
    let addr = l.local_addr().expect("addr");
    let next = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        while let Ok((mut client, _)) = l.accept().await {
            let target = targets[next.fetch_add(1, Ordering::Relaxed) % targets.len()];
            tokio::spawn(async move {
                if let Ok(mut upstream) = tokio::net::TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                }
            });
        }
    });
    addr
}

/// A hosts file naming the two control planes and the balancer, and `gw.toml` for a gateway that pulls through
/// the balancer at `lb` and follows both control planes' event hubs (offset `off`), at a free offset of its own.
fn write_gateway_behind(dir: &std::path::Path, lb: SocketAddr, off: u16) {
    std::fs::write(dir.join("hosts"), format!("{CP1} cp1.test\n{CP2} cp2.test\n127.0.0.1 lb.test\n")).expect("hosts");
    let gw_off = free_offset(&[9443, 9763, 8280, 8243, 9099, 8099]);
    std::fs::write(
        dir.join("gw.toml"),
        format!(
            "[server]\nhostname = \"localhost\"\noffset = {gw_off}\n[super_admin]\nusername = \"admin\"\npassword = \"admin\"\n\
             [apim.event_hub]\nenable = true\nusername = \"admin\"\npassword = \"admin\"\nservice_url = \"http://lb.test:{}/services/\"\n\
             event_listening_endpoints = [\"tcp://cp1.test:{}\", \"tcp://cp2.test:{}\"]\n",
            lb.port(),
            5672 + off,
            5672 + off
        ),
    )
    .expect("write");
}

fn control_plane(offset: u16, databases: &str) -> String {
    format!(
        "[server]\nhostname = \"localhost\"\noffset = {offset}\n[super_admin]\nusername = \"admin\"\npassword = \"admin\"\ncreate_admin_account = true\n\
         {databases}[apim.event_hub]\nenable = true\nusername = \"admin\"\npassword = \"admin\"\n"
    )
}

#[tokio::test]
async fn gateway_reaches_ready_through_the_control_plane_that_has_its_database() {
    let dir = TempDir::new("apim-ready");
    let off = (0..200)
        .map(|_| free_offset(&[9443, 9763, 5672]))
        .find(|o| [CP1, CP2].iter().all(|h| [9443u16, 9763, 5672].iter().all(|p| std::net::TcpListener::bind((*h, p + o)).is_ok())))
        .expect("free ports on both hosts");
    // The first control plane's database refuses connections; the second has SQLite.
    let nowhere = "[database.apim_db]\ntype = \"postgre\"\nurl = \"jdbc:postgresql://127.0.0.1:1/apim\"\nusername = \"apim\"\npassword = \"x\"\n\
                   [database.shared_db]\ntype = \"postgre\"\nurl = \"jdbc:postgresql://127.0.0.1:1/shared\"\nusername = \"apim\"\npassword = \"x\"\n";
    let sqlite = "[database.apim_db]\ntype = \"sqlite\"\nurl = \"jdbc:sqlite:cpdb/apim.db\"\n[database.shared_db]\ntype = \"sqlite\"\nurl = \"jdbc:sqlite:cpdb/shared.db\"\n";
    std::fs::create_dir_all(dir.path().join("cpdb")).expect("mkdir");
    std::fs::write(dir.path().join("cp1.toml"), control_plane(off, nowhere)).expect("write");
    std::fs::write(dir.path().join("cp2.toml"), control_plane(off, sqlite)).expect("write");
    let mut cp1 = Node::spawn(&apim(), &["control-plane", "-c", "cp1.toml", "--data-dir", "cp1", "--bind", CP1], dir.path());
    let cp1_http = cp1.url("management-http", Duration::from_secs(20));
    let mut cp2 = Node::spawn(&apim(), &["control-plane", "-c", "cp2.toml", "--data-dir", "cp2", "--bind", CP2], dir.path());
    let cp2_https = cp2.url("management-https", Duration::from_secs(20));
    assert_eq!(wait_ready(&cp2_https, Duration::from_secs(20)).await.status, 200, "{}", cp2.stderr());

    // Every path of the unready control plane is a 503 naming the database, in WSO2's body or OAuth2's.
    let auth = format!("Basic {}", base64_encode("admin:admin"));
    for path in ["/internal/data/v1/runtime-artifacts?gatewayLabel=Default", "/api/am/publisher/v4/apis", "/no/such/path"] {
        let r = http::request("GET", &format!("{cp1_http}{path}"), &[("authorization", &auth)], "").await.expect("get");
        assert_eq!(r.status, 503, "{path}: {}", r.body);
        let body = r.json();
        assert_eq!(body["code"], 503, "{path}: {}", r.body);
        assert!(body["description"].as_str().is_some_and(|d| d.contains("apim_db")), "{path}: {}", r.body);
        assert!(r.headers.contains_key("retry-after"), "{path}");
    }
    let r = http::request("POST", &format!("{cp1_http}/oauth2/token"), &[("content-type", "application/x-www-form-urlencoded")], "")
        .await
        .expect("post");
    assert_eq!((r.status, r.json()["error"].as_str()), (503, Some("temporarily_unavailable")), "{}", r.body);

    // Both control planes behind one balancer that sends the first connection to the unready one; the
    // gateway's other pull addresses (the event hub hosts on the balancer's port and on 9443) lead nowhere, so
    // it gets through only on a new connection to the balancer.
    let lb = round_robin(
        "127.0.0.1:0",
        vec![format!("{CP1}:{}", 9763 + off).parse().expect("addr"), format!("{CP2}:{}", 9763 + off).parse().expect("addr")],
    )
    .await;
    write_gateway_behind(dir.path(), lb, off);

    let m = Mgmt { base: cp2_https.clone(), auth };
    let backend = apim_test_support::backend::spawn("127.0.0.1:0".parse().expect("addr")).await.expect("backend");
    let api = |name: &str| {
        json!({"name": name, "context": format!("/{}", name.to_lowercase()), "version": "1.0.0", "policies": ["Gold", "Unlimited"],
            "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": format!("http://{backend}/b")}},
            "operations": [{"target": "/items", "verb": "GET"}, {"target": "/open", "verb": "GET", "authType": "None"}]})
    };
    let first = m.publish(api("First")).await;
    let (app, ck, cs) = m.app("ReadyApp", "Unlimited", "JWT", "PRODUCTION").await;
    m.subscribe(&first, &app, "Gold").await;
    let jwt = m.token(&ck, &cs, "").await;

    let mut gw =
        Node::spawn(&apim(), &["gateway", "-c", "gw.toml", "--data-dir", "gwdata", "--hosts", "hosts", "--bind", "127.0.0.1"], dir.path());
    let gw_http = gw.url("management-http", Duration::from_secs(20));
    let traffic = gw.url("gateway-http", Duration::from_secs(5));
    let ready = wait_ready(&gw_http, Duration::from_secs(30)).await;
    assert_eq!(ready.status, 200, "{}\n{}", ready.body, gw.stderr());
    let r = eventually(&format!("{traffic}/first/1.0.0/open"), None, 200).await;
    assert_eq!(r.status, 200, "{}\n{}", r.body, gw.stderr());
    // The JWT is checked against the key manager's keys, fetched through the balancer from the ready one.
    let r = eventually(&format!("{traffic}/first/1.0.0/items"), Some(&jwt), 200).await;
    assert_eq!(r.status, 200, "{}\n{}", r.body, gw.stderr());
    // A change after the first snapshot arrives: the event hub stream runs from the ready control plane.
    m.publish(api("Later")).await;
    let r = eventually(&format!("{traffic}/later/1.0.0/open"), None, 200).await;
    assert_eq!(r.status, 200, "{}\n{}", r.body, gw.stderr());

    assert_eq!(wait_ready(&cp1_http, Duration::from_millis(10)).await.status, 503, "cp1 is still without its database");
    for n in [&gw, &cp1, &cp2] {
        assert!(!n.stderr().contains("panicked"), "{}", n.stderr());
    }
    gw.terminate();
    cp1.terminate();
    cp2.terminate();
}

/// A TCP proxy in front of a database that the test can freeze: frozen, it keeps every connection open and reads
/// what the node sends, but passes nothing on either way (a database that hangs). It counts what the node sends:
/// each new connection and each chunk it writes.
struct Freezer {
    addr: SocketAddr,
    frozen: Arc<std::sync::atomic::AtomicBool>,
    sent: Arc<AtomicUsize>,
}

impl Freezer {
    async fn start(target: SocketAddr) -> Freezer {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = l.local_addr().expect("addr");
        let frozen = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let sent = Arc::new(AtomicUsize::new(0));
        let (f, n) = (frozen.clone(), sent.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = l.accept().await {
                n.fetch_add(1, Ordering::Relaxed);
                let Ok(upstream) = tokio::net::TcpStream::connect(target).await else { continue };
                let (mut cr, mut cw) = client.into_split();
                let (mut ur, mut uw) = upstream.into_split();
                let (f1, n1, f2) = (f.clone(), n.clone(), f.clone());
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    while let Ok(k) = cr.read(&mut buf).await {
                        if k == 0 {
                            break;
                        }
                        n1.fetch_add(1, Ordering::Relaxed);
                        if !f1.load(Ordering::Relaxed) && uw.write_all(&buf[..k]).await.is_err() {
                            break;
                        }
                    }
                });
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    while let Ok(k) = ur.read(&mut buf).await {
                        if k == 0 {
                            break;
                        }
                        if !f2.load(Ordering::Relaxed) && cw.write_all(&buf[..k]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        Freezer { addr, frozen, sent }
    }

    fn freeze(&self, on: bool) {
        self.frozen.store(on, Ordering::Relaxed);
    }

    fn sent(&self) -> usize {
        self.sent.load(Ordering::Relaxed)
    }
}

/// `/health/ready` until `done` holds for its body, for at most `limit` (a bound against a hang, not a timing).
async fn ready_until(url: &str, limit: Duration, done: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let body = http::get(&format!("{url}/health/ready")).await.map(|r| r.json()).unwrap_or_default();
        if done(&body) || std::time::Instant::now() > deadline {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Readiness comes from what each pool's own watcher recorded: while the database hangs, `/health/ready` says so
/// (naming the pool and why) without sending the database anything itself, and it is ready again once the
/// database answers.
#[tokio::test]
async fn readiness_is_kept_by_the_pools_not_pinged_per_request() {
    let Some(db) = TestDb::create(Backend::Postgres).await else { return };
    let freezer = Freezer::start(format!("{}:{}", db.host, db.port).parse().expect("database address")).await;
    let dir = TempDir::new("apim-ready-pools");
    let pool = |name: &str| {
        format!(
            "[database.{name}]\ntype = \"postgre\"\nhostname = \"127.0.0.1\"\nport = {}\nname = \"{}\"\nusername = \"{}\"\npassword = \"{}\"\n",
            freezer.addr.port(),
            db.name,
            db.user,
            db.password
        )
    };
    let off = free_offset(&[9443, 9763, 5672]);
    std::fs::write(dir.path().join("cp.toml"), control_plane(off, &(pool("apim_db") + &pool("shared_db")))).expect("write");
    let mut cp = Node::spawn(&apim(), &["control-plane", "-c", "cp.toml", "--data-dir", "data", "--bind", "127.0.0.1"], dir.path());
    let cp_http = cp.url("management-http", Duration::from_secs(20));
    assert_eq!(wait_ready(&cp_http, Duration::from_secs(30)).await.status, 200, "{}", cp.stderr());

    freezer.freeze(true);
    let down = |b: &serde_json::Value| ["apim_db", "shared_db"].iter().all(|p| b["checks"][p]["ready"] == false);
    let body = ready_until(&cp_http, Duration::from_secs(30), down).await;
    assert!(down(&body), "both pools unready while the database hangs: {body}\n{}", cp.stderr());
    assert!(body["checks"]["apim_db"]["reason"].as_str().is_some_and(|r| r.contains("does not answer")), "{body}");

    // Ten readiness requests send the database nothing: they read the watchers' state (a watcher pings at most
    // every half second meanwhile; pinging per request would send at least twenty).
    let before = freezer.sent();
    for _ in 0..10 {
        let r = http::get(&format!("{cp_http}/health/ready")).await.expect("ready");
        assert_eq!(r.status, 503, "{}", r.body);
    }
    let sent = freezer.sent() - before;
    assert!(sent < 10, "readiness requests reached the database ({sent} sends for 10 requests)");

    freezer.freeze(false);
    let up = |b: &serde_json::Value| b["status"] == "ready";
    let body = ready_until(&cp_http, Duration::from_secs(30), up).await;
    assert!(up(&body), "ready again once the database answers: {body}\n{}", cp.stderr());
    assert!(!cp.stderr().contains("panicked"), "{}", cp.stderr());
    cp.terminate();
}

/// A gateway whose control plane presents a certificate it does not trust says so, naming the host and
/// `[truststore]`, in its readiness and its log, instead of `client error (Connect)`.
#[tokio::test]
async fn an_untrusted_control_plane_certificate_is_named() {
    let dir = TempDir::new("apim-ready-tls");
    let off = free_offset(&[9443, 9763, 5672]);
    std::fs::create_dir_all(dir.path().join("cpdb")).expect("mkdir");
    let sqlite = "[database.apim_db]\ntype = \"sqlite\"\nurl = \"jdbc:sqlite:cpdb/apim.db\"\n[database.shared_db]\ntype = \"sqlite\"\nurl = \"jdbc:sqlite:cpdb/shared.db\"\n";
    std::fs::write(dir.path().join("cp.toml"), control_plane(off, sqlite)).expect("write");
    // Each node generates its own self-signed certificate in its own data directory: neither trusts the other.
    let mut cp = Node::spawn(&apim(), &["control-plane", "-c", "cp.toml", "--data-dir", "cpdata", "--bind", "127.0.0.1"], dir.path());
    let cp_https = cp.url("management-https", Duration::from_secs(20));
    assert_eq!(wait_ready(&cp_https, Duration::from_secs(20)).await.status, 200, "{}", cp.stderr());

    std::fs::write(dir.path().join("hosts"), "127.0.0.1 cp.test\n").expect("hosts");
    let gw_off = free_offset(&[9443, 9763, 8280, 8243, 9099, 8099]);
    std::fs::write(
        dir.path().join("gw.toml"),
        format!(
            "[server]\nhostname = \"localhost\"\noffset = {gw_off}\n[super_admin]\nusername = \"admin\"\npassword = \"admin\"\n\
             [apim.event_hub]\nenable = true\nusername = \"admin\"\npassword = \"admin\"\nservice_url = \"https://cp.test:{}/services/\"\n\
             event_listening_endpoints = [\"tcp://cp.test:{}\"]\n",
            9443 + off,
            5672 + off
        ),
    )
    .expect("write");
    let mut gw =
        Node::spawn(&apim(), &["gateway", "-c", "gw.toml", "--data-dir", "gwdata", "--hosts", "hosts", "--bind", "127.0.0.1"], dir.path());
    let gw_http = gw.url("management-http", Duration::from_secs(20));
    let named = |b: &serde_json::Value| {
        b["checks"]["gateway"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("certificate") && r.contains("cp.test") && r.contains("[truststore]"))
    };
    let body = ready_until(&gw_http, Duration::from_secs(20), named).await;
    assert!(named(&body), "{body}\n{}", gw.stderr());
    assert_eq!(body["status"], "unready");
    let logged = gw.stderr().lines().any(|l| l.contains("certificate cp.test presented is not trusted") && l.contains("[truststore]"));
    assert!(logged, "{}", gw.stderr());
    assert!(!gw.stderr().contains("client error (Connect)"), "{}", gw.stderr());
    gw.terminate();
    cp.terminate();
}

/// One of two control planes behind a round-robin balancer freezes (SIGSTOP: its sockets stay open, nothing
/// answers) while the gateway follows its event hub: a deploy made through the other one reaches the gateway
/// once the gateway notices the silence, without waiting on a pooled connection pinned to the frozen one. The
/// delay is printed for the record; the bound only stops a hang.
#[tokio::test]
async fn a_deploy_reaches_the_gateway_while_a_control_plane_is_frozen() {
    // APIM_BIN runs the nodes from another build, for a before/after figure.
    let bin = std::env::var_os("APIM_BIN").map_or_else(apim, std::path::PathBuf::from);
    let dir = TempDir::new("apim-frozen");
    // The control planes on two hosts and the balancer on 127.0.0.1, all on the control planes' HTTP port, so
    // the gateway can also pull from a control plane's host directly (the hosts of its event hub endpoints).
    let off = (0..200)
        .map(|_| free_offset(&[9443, 9763, 5672]))
        .find(|o| {
            [CP1, CP2, "127.0.0.1"].iter().all(|h| [9443u16, 9763, 5672].iter().all(|p| std::net::TcpListener::bind((*h, p + o)).is_ok()))
        })
        .expect("free ports on the three hosts");
    let sqlite = "[database.apim_db]\ntype = \"sqlite\"\nurl = \"jdbc:sqlite:cpdb/apim.db\"\n[database.shared_db]\ntype = \"sqlite\"\nurl = \"jdbc:sqlite:cpdb/shared.db\"\n";
    std::fs::create_dir_all(dir.path().join("cpdb")).expect("mkdir");
    std::fs::write(dir.path().join("cp.toml"), control_plane(off, sqlite)).expect("write");
    let mut cp1 = Node::spawn(&bin, &["control-plane", "-c", "cp.toml", "--data-dir", "cp1", "--bind", CP1], dir.path());
    let cp1_http = cp1.url("management-http", Duration::from_secs(20));
    assert_eq!(wait_ready(&cp1_http, Duration::from_secs(30)).await.status, 200, "{}", cp1.stderr());
    let mut cp2 = Node::spawn(&bin, &["control-plane", "-c", "cp.toml", "--data-dir", "cp2", "--bind", CP2], dir.path());
    let cp2_http = cp2.url("management-http", Duration::from_secs(20));
    assert_eq!(wait_ready(&cp2_http, Duration::from_secs(30)).await.status, 200, "{}", cp2.stderr());

    let port = 9763 + off;
    let lb = round_robin(
        &format!("127.0.0.1:{port}"),
        vec![format!("{CP1}:{port}").parse().expect("addr"), format!("{CP2}:{port}").parse().expect("addr")],
    )
    .await;
    write_gateway_behind(dir.path(), lb, off);
    let mut gw =
        Node::spawn(&bin, &["gateway", "-c", "gw.toml", "--data-dir", "gwdata", "--hosts", "hosts", "--bind", "127.0.0.1"], dir.path());
    let gw_http = gw.url("management-http", Duration::from_secs(20));
    let traffic = gw.url("gateway-http", Duration::from_secs(5));
    assert_eq!(wait_ready(&gw_http, Duration::from_secs(30)).await.status, 200, "{}", gw.stderr());

    let m = Mgmt { base: cp2_http.clone(), auth: format!("Basic {}", base64_encode("admin:admin")) };
    let backend = apim_test_support::backend::spawn("127.0.0.1:0".parse().expect("addr")).await.expect("backend");
    let api = |name: &str| {
        json!({"name": name, "context": format!("/{}", name.to_lowercase()), "version": "1.0.0", "policies": ["Unlimited"],
            "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": format!("http://{backend}/b")}},
            "operations": [{"target": "/open", "verb": "GET", "authType": "None"}]})
    };
    // Deploys before the freeze leave pooled pull connections through the balancer, to either control plane.
    for name in ["Warm1", "Warm2", "Warm3"] {
        m.publish(api(name)).await;
        let r = eventually(&format!("{traffic}/{}/1.0.0/open", name.to_lowercase()), None, 200).await;
        assert_eq!(r.status, 200, "{}\n{}", r.body, gw.stderr());
    }

    // The gateway follows the first endpoint, cp1: freeze it, then deploy through cp2.
    cp1.signal("STOP");
    let frozen = std::time::Instant::now();
    m.publish(api("Moved")).await;
    let deployed = std::time::Instant::now();
    let url = format!("{traffic}/moved/1.0.0/open");
    let arrived = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            if http::get(&url).await.expect("gateway").status == 200 {
                return (frozen.elapsed(), deployed.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    cp1.signal("CONT");
    let (since_freeze, since_deploy) = arrived.unwrap_or_else(|_| panic!("the deploy never reached the gateway\n{}", gw.stderr()));
    eprintln!(
        "with a frozen control plane, the deploy reached the gateway {since_freeze:?} after the freeze ({since_deploy:?} after the deploy answered)"
    );
    for n in [&gw, &cp1, &cp2] {
        assert!(!n.stderr().contains("panicked"), "{}", n.stderr());
    }
    gw.terminate();
    cp1.terminate();
    cp2.terminate();
}
