//! What an attacker tries, through real sockets against the binary: path forms that could reach a resource the
//! gateway did not authorize, framing a proxy must not pass on, credentials that must stay at the gateway,
//! spoofed client addresses, and thousands of idle connections on every listener.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use apim_test_support::TempDir;
use apim_test_support::http;
use apim_test_support::process::{Node, free_offset};
use apim_test_support::topology::{spawn_node, write_control_plane};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::gateway::{Mgmt, code, eventually, get};
use super::{apim, base64_encode, wait_ready};

/// An all-in-one node from `cp.toml` with `extra` appended; returns it with its management HTTPS base.
async fn node_with(prefix: &str, extra: &str) -> (TempDir, Node, String) {
    let dir = TempDir::new(prefix);
    let offset = free_offset(&[9443, 9763, 8280, 8243, 9099, 8099, 5672]);
    write_control_plane(dir.path(), offset, extra).expect("config");
    let mut node = spawn_node(&apim(), dir.path(), "all-in-one", "cp", &[]);
    let https = node.url("management-https", Duration::from_secs(20));
    let ready = wait_ready(&https, Duration::from_secs(30)).await;
    assert_eq!(ready.status, 200, "{}\n{}", ready.body, node.stderr());
    (dir, node, https)
}

fn host_port(url: &str) -> SocketAddr {
    url.split("://").nth(1).unwrap_or(url).parse().expect("listener address")
}

/// Connects from `from` (a loopback address of the test's choosing) to `to`.
async fn connect_from(from: IpAddr, to: SocketAddr) -> std::io::Result<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from, 0))?;
    socket.connect(to).await
}

/// Sends `raw` (which should say `connection: close`) and returns everything the server sends back.
async fn exchange(to: SocketAddr, from: IpAddr, raw: &str) -> String {
    let mut tcp = connect_from(from, to).await.expect("connect");
    tcp.write_all(raw.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

fn status_of(answer: &str) -> u16 {
    answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

fn body_of(answer: &str) -> &str {
    answer.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_targets_are_canonical_and_framing_is_checked() {
    // 127.0.0.2 stands for a load balancer in front of the gateway.
    let (_dir, mut node, https) = node_with("apim-hard", "[apim.gateway]\ntrusted_proxies = [\"127.0.0.2\"]\n").await;
    let gw = node.url("gateway-http", Duration::from_secs(5));
    let gw_addr = host_port(&gw);
    let m = Mgmt { base: https.clone(), auth: format!("Basic {}", base64_encode("admin:admin")) };
    let backend = apim_test_support::backend::spawn("127.0.0.1:0".parse().expect("addr")).await.expect("backend");
    let broken = apim_test_support::backend::spawn_misbehaving().await.expect("misbehaving backend");

    // `/*` is open, `/admin` needs a token: the shape of the bypass.
    let api = m
        .publish(json!({"name": "Paths", "context": "/paths", "version": "1.0.0", "policies": ["Unlimited"], "securityScheme": ["oauth2", "api_key"],
            "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": format!("http://{backend}/base")}},
            "corsConfiguration": {"corsConfigurationEnabled": true, "accessControlAllowOrigins": ["https://portal.example"],
                "accessControlAllowHeaders": ["authorization"], "accessControlAllowMethods": ["GET"], "accessControlAllowCredentials": false},
            "operations": [{"target": "/*", "verb": "GET", "authType": "None"}, {"target": "/admin", "verb": "GET"},
                           {"target": "/*", "verb": "POST"}, {"target": "/count", "verb": "POST", "authType": "None"}]}))
        .await;
    m.publish(json!({"name": "Framing", "context": "/framing", "version": "1.0.0", "policies": ["Unlimited"],
        "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": format!("http://{broken}")}},
        "operations": [{"target": "/*", "verb": "GET", "authType": "None"}]}))
        .await;
    let (app, ck, cs) = m.app("PathsApp", "Unlimited", "JWT", "PRODUCTION").await;
    m.subscribe(&api, &app, "Unlimited").await;
    let token = m.token(&ck, &cs, "").await;
    let open = eventually(&format!("{gw}/paths/1.0.0/open"), None, 200).await;
    assert_eq!(open.json()["path"], "/base/open", "{}", open.body);

    // Every spelling of `/admin` without a token: the secured resource's 401, or a 400 for forms the gateway
    // refuses; never the backend.
    let table: &[(&str, u16, &str)] = &[
        ("/paths/1.0.0/admin", 401, "900902"),
        ("/paths/1.0.0/x/../admin", 401, "900902"),
        ("/paths/1.0.0/x/./../admin", 401, "900902"),
        ("/paths/1.0.0/x/%2e%2e/admin", 401, "900902"),
        ("/paths/1.0.0/x/%2E%2E/admin", 401, "900902"),
        ("/paths/1.0.0/x/.%2e/admin", 401, "900902"),
        ("/paths/1.0.0/./admin", 401, "900902"),
        ("/paths/1.0.0/%61dmin", 401, "900902"),
        ("/paths/1.0.0/x/%2F../admin", 400, "900900"),
        ("/paths/1.0.0/x%2F..%2Fadmin", 400, "900900"),
        ("/paths/1.0.0/x/%5C..%5Cadmin", 400, "900900"),
        ("/paths/1.0.0/x/..;/admin", 400, "900900"),
        ("/paths/1.0.0/x/%2e%2e;/admin", 400, "900900"),
        ("/paths/1.0.0/x/%zz", 400, "900900"),
        ("/paths/1.0.0/x/%00/admin", 400, "900900"),
        // Climbing above the context leaves the API: nothing of it matches, nothing is forwarded.
        ("/paths/1.0.0/../../base/admin", 404, "900906"),
        ("/paths/1.0.0/%2e%2e/%2e%2e/admin", 404, "900906"),
    ];
    for (path, status, want) in table {
        let answer = exchange(gw_addr, LOCAL, &format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")).await;
        let body: Value = serde_json::from_str(body_of(&answer)).unwrap_or(Value::Null);
        assert_eq!((status_of(&answer), body["code"].as_str().unwrap_or("")), (*status, *want), "{path}: {answer}");
    }
    // With a token the canonical path is what reaches the backend, under its base path.
    let bearer = format!("authorization: Bearer {token}\r\n");
    let answer = exchange(
        gw_addr,
        LOCAL,
        &format!("GET /paths/1.0.0/x/%2e%2e/admin?q=%2e HTTP/1.1\r\nhost: x\r\n{bearer}connection: close\r\n\r\n"),
    )
    .await;
    assert_eq!(status_of(&answer), 200, "{answer}");
    assert_eq!(serde_json::from_str::<Value>(body_of(&answer)).expect("echo")["path"], "/base/admin?q=%2e", "{answer}");
    let answer = exchange(gw_addr, LOCAL, "GET /paths/1.0.0/open/./a/../b HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").await;
    assert_eq!(serde_json::from_str::<Value>(body_of(&answer)).expect("echo")["path"], "/base/open/b", "{answer}");

    // The same forms over HTTP/2 (h2c with prior knowledge).
    let h2 = tokio::net::TcpStream::connect(gw_addr).await.expect("connect h2c");
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), hyper_util::rt::TokioIo::new(h2)).await.expect("h2c");
    tokio::spawn(conn);
    for (path, status, _) in table {
        let req = hyper::Request::get(format!("{gw}{path}")).body(http_body_util::Empty::<hyper::body::Bytes>::new());
        let Ok(req) = req else { continue }; // a form `http::Uri` itself refuses cannot be sent over HTTP/2
        let resp = sender.send_request(req).await.expect("h2 answer");
        assert_eq!((resp.version(), resp.status().as_u16()), (hyper::Version::HTTP_2, *status), "h2 {path}");
    }

    // HTTP/1.1 needs exactly one Host.
    for raw in [
        "GET /paths/1.0.0/open HTTP/1.1\r\nconnection: close\r\n\r\n",
        "GET /paths/1.0.0/open HTTP/1.1\r\nhost: a\r\nhost: b\r\nconnection: close\r\n\r\n",
    ] {
        let answer = exchange(gw_addr, LOCAL, raw).await;
        assert_eq!(status_of(&answer), 400, "{raw:?}: {answer}");
    }
    // HTTP/1.0 may leave it out.
    assert_eq!(status_of(&exchange(gw_addr, LOCAL, "GET /paths/1.0.0/open HTTP/1.0\r\n\r\n").await), 200);

    // A malformed chunked body is the client's error (400), not the backend's (502).
    let answer = exchange(
        gw_addr,
        LOCAL,
        "POST /paths/1.0.0/count HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n5\r\nhello\r\nzz\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&answer), 400, "{answer}");

    // A backend answer with both framings: chunked wins, the Content-Length does not reach the client.
    let r = get(&format!("{gw}/framing/1.0.0/tecl"), None).await;
    assert_eq!((r.status, r.body.as_str()), (200, "hello"), "{:?}", r.headers);
    assert!(r.headers.get("content-length").is_none_or(|v| v == "5"), "{:?}", r.headers);

    // API keys stay at the gateway, in the header and in the query.
    let generated = m
        .ok("POST", &format!("/api/am/devportal/v3/applications/{app}/api-keys/PRODUCTION/generate"), json!({"validityPeriod": 3600}))
        .await;
    let apikey = generated["apikey"].as_str().expect("apikey");
    let r = http::request("GET", &format!("{gw}/paths/1.0.0/admin"), &[("apikey", apikey)], "").await.expect("api key");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.json()["headers"].get("apikey").is_none(), "{}", r.body);
    let r = get(&format!("{gw}/paths/1.0.0/admin?a=1&apikey={apikey}&b=2"), None).await;
    assert_eq!((r.status, r.json()["path"].as_str()), (200, Some("/base/admin?a=1&b=2")), "{}", r.body);

    // A preflight is answered at the gateway from the API's CORS policy (the backend would echo a body).
    let preflight = [("origin", "https://portal.example"), ("access-control-request-method", "GET")];
    let r = http::request("OPTIONS", &format!("{gw}/paths/1.0.0/admin"), &preflight, "").await.expect("preflight");
    assert_eq!((r.status, r.body.as_str()), (200, ""));
    assert_eq!(r.headers.get("access-control-allow-origin").and_then(|v| v.to_str().ok()), Some("https://portal.example"));
    let r = http::request("OPTIONS", &format!("{gw}/paths/1.0.0/admin"), &[("origin", "https://evil.example"), preflight[1]], "")
        .await
        .expect("preflight");
    assert_eq!((r.status, r.body.as_str()), (200, ""));
    assert!(r.headers.get("access-control-allow-origin").is_none());
    // The gateway's own faults carry the CORS headers, so a browser can read them.
    let r = http::request("GET", &format!("{gw}/paths/1.0.0/admin"), &[preflight[0]], "").await.expect("cors 401");
    assert_eq!((r.status, code(&r).as_str()), (401, "900902"));
    assert_eq!(r.headers.get("access-control-allow-origin").and_then(|v| v.to_str().ok()), Some("https://portal.example"));

    // The client address behind a trusted proxy: the right-most untrusted X-Forwarded-For hop; anyone else's
    // X-Forwarded-For is ignored. A deny policy on that address holds through the load balancer.
    let deny = m
        .ok(
            "POST",
            "/api/am/admin/v4/throttling/deny-policies",
            json!({"conditionType": "IP", "conditionValue": {"fixedIp": "203.0.113.9", "invert": false}}),
        )
        .await;
    let via = |from: IpAddr, xff: &'static str| {
        let raw = format!("GET /paths/1.0.0/open HTTP/1.1\r\nhost: x\r\nx-forwarded-for: {xff}\r\nconnection: close\r\n\r\n");
        async move { status_of(&exchange(gw_addr, from, &raw).await) }
    };
    let lb: IpAddr = "127.0.0.2".parse().expect("ip");
    let deadline = Instant::now() + Duration::from_secs(5);
    while via(lb, "203.0.113.9").await != 403 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(via(lb, "203.0.113.9").await, 403, "through the load balancer");
    assert_eq!(via(lb, "203.0.113.9, 127.0.0.2").await, 403, "trusted hops are skipped");
    assert_eq!(via(lb, "203.0.113.9, 198.51.100.1").await, 200, "the right-most untrusted hop is the client");
    assert_eq!(via(LOCAL, "203.0.113.9").await, 200, "an untrusted peer cannot choose its address");
    let deny_id = deny["conditionId"].as_str().expect("condition");
    m.ok("DELETE", &format!("/api/am/admin/v4/throttling/deny-policy/{deny_id}"), Value::Null).await;
    drop(node);
}

/// Connections held open and silent on `to` from `from`; returns those the server kept (it closes the rest at
/// once).
async fn hold(to: SocketAddr, sources: &[IpAddr], per_source: usize) -> Vec<tokio::net::TcpStream> {
    let mut held = Vec::new();
    for from in sources {
        for _ in 0..per_source {
            match connect_from(*from, to).await {
                Ok(tcp) => held.push(tcp),
                Err(e) => panic!("connect {from} → {to}: {e}"),
            }
        }
    }
    // Give the accept loop time to see them all before counting what it closed.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut kept = Vec::new();
    for tcp in held {
        let mut b = [0u8; 1];
        match tcp.try_read(&mut b) {
            Ok(0) => {}
            Err(e) if e.kind() != std::io::ErrorKind::WouldBlock => {}
            _ => kept.push(tcp),
        }
    }
    kept
}

/// Waits until the server has closed every connection in `held` (bounded by `within`, so a hang fails).
async fn all_closed(held: Vec<tokio::net::TcpStream>, within: Duration) -> usize {
    let mut open = 0;
    let deadline = tokio::time::Instant::now() + within;
    for mut tcp in held {
        let mut b = [0u8; 64];
        match tokio::time::timeout_at(deadline, tcp.read(&mut b)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {}
            _ => open += 1,
        }
    }
    open
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listeners_stay_bounded_under_thousands_of_idle_connections() {
    let limits =
        "[transport.limits]\nmax_connections = 1000\nmax_connections_per_client = 300\nheader_read_timeout = 8\nidle_timeout = 8\n";
    let (_dir, mut node, https) = node_with("apim-limits", limits).await;
    let mgmt_http = host_port(&node.url("management-http", Duration::from_secs(5)));
    let gw_http = host_port(&node.url("gateway-http", Duration::from_secs(5)));
    let gw_ws = host_port(&node.url("gateway-ws", Duration::from_secs(5)));
    let gws = node.url("gateway-https", Duration::from_secs(5));
    let m = Mgmt { base: https.clone(), auth: format!("Basic {}", base64_encode("admin:admin")) };
    let backend = apim_test_support::backend::spawn("127.0.0.1:0".parse().expect("addr")).await.expect("backend");
    m.publish(json!({"name": "Open", "context": "/open", "version": "1.0.0", "policies": ["Unlimited"],
        "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": format!("http://{backend}")}},
        "operations": [{"target": "/*", "verb": "GET", "authType": "None"}]}))
        .await;
    assert_eq!(eventually(&format!("{gws}/open/1.0.0/x"), None, 200).await.status, 200);

    // One client holds only its share of a listener: management, and the event hub's gRPC port alike.
    let one = hold(mgmt_http, &[LOCAL], 400).await;
    assert_eq!(one.len(), 300, "per-client limit on management http");
    drop(one);
    let hub = host_port(&node.url("event-hub", Duration::from_secs(5)));
    let one = hold(hub, &[LOCAL], 400).await;
    assert_eq!(one.len(), 300, "per-client limit on the event hub");
    drop(one);
    tokio::time::sleep(Duration::from_millis(300)).await;

    // 1,500 silent connections from five addresses on each of three listeners: each keeps 1,000.
    let sources: Vec<IpAddr> = (10..15).map(|i| IpAddr::from([127, 0, 0, i])).collect();
    let mut held = Vec::new();
    for to in [mgmt_http, gw_http, gw_ws] {
        let kept = hold(to, &sources, 300).await;
        assert_eq!(kept.len(), 1000, "listener limit on {to}");
        held.push(kept);
    }
    // The node's other listeners still answer.
    let bound = Duration::from_secs(10);
    let ready = tokio::time::timeout(bound, http::get(&format!("{https}/health/ready"))).await.expect("health in time").expect("health");
    assert_eq!(ready.status, 200);
    let r = tokio::time::timeout(bound, get(&format!("{gws}/open/1.0.0/x"), None)).await.expect("gateway https in time");
    assert_eq!(r.status, 200);
    let metrics = tokio::time::timeout(bound, http::get(&format!("{https}/metrics"))).await.expect("metrics in time").expect("metrics");
    assert!(metrics.body.contains("apim_listener_refused_total{listener=\"management http\"} 500"), "{}", metrics.body);
    assert!(metrics.body.contains("apim_listener_refused_per_client_total{listener=\"management http\"} 100"), "{}", metrics.body);

    // Silent connections are closed by the head deadline (then the idle watchdog), and the listeners answer again.
    for (kept, to) in held.into_iter().zip([mgmt_http, gw_http, gw_ws]) {
        assert_eq!(all_closed(kept, Duration::from_secs(30)).await, 0, "every silent connection to {to} closed");
    }
    let again =
        tokio::time::timeout(bound, http::get(&format!("http://{mgmt_http}/health/ready"))).await.expect("in time").expect("health");
    assert_eq!(again.status, 200);
    let r = tokio::time::timeout(bound, get(&format!("http://{gw_http}/open/1.0.0/x"), None)).await.expect("in time");
    assert_eq!(r.status, 200);

    // A kept-alive HTTP/2 connection that goes quiet is closed by the idle watchdog (no head deadline there).
    let h2 = tokio::net::TcpStream::connect(mgmt_http).await.expect("connect h2c");
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), hyper_util::rt::TokioIo::new(h2)).await.expect("h2c");
    let conn = tokio::spawn(conn);
    let req = hyper::Request::get(format!("http://{mgmt_http}/health/live")).body(http_body_util::Empty::<hyper::body::Bytes>::new());
    let resp = sender.send_request(req.expect("request")).await.expect("h2 answer");
    assert_eq!(resp.status().as_u16(), 200);
    let ended = tokio::time::timeout(Duration::from_secs(30), conn).await;
    assert!(ended.is_ok(), "an idle HTTP/2 connection is closed");
    drop(node);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operation_policies_change_what_the_backend_and_the_client_see() {
    let (_dir, mut node, https) = node_with("apim-policies", "").await;
    let gw = node.url("gateway-http", Duration::from_secs(5));
    let m = Mgmt { base: https.clone(), auth: format!("Basic {}", base64_encode("admin:admin")) };
    let backend = apim_test_support::backend::spawn("127.0.0.1:0".parse().expect("addr")).await.expect("backend");
    let add = |name: &str, value: &str| json!({"policyName": "addHeader", "policyVersion": "v1", "parameters": {"headerName": name, "headerValue": value}});
    let api = json!({"name": "Mediated", "context": "/mediated", "version": "1.0.0", "policies": ["Unlimited"],
        "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": format!("http://{backend}/base")}},
        "apiPolicies": {"request": [add("X-Api-Level", "api"), add("X-Order", "api")], "response": [add("X-Served-By", "api")]},
        "operations": [
            {"target": "/orders/{id}", "verb": "GET", "authType": "None", "operationPolicies": {
                "request": [add("X-Order", "operation"),
                            {"policyName": "removeHeader", "parameters": [{"headerName": "X-Internal"}]},
                            {"policyName": "addQueryParam", "parameters": {"paramKey": "source", "paramValue": "gateway"}},
                            {"policyName": "removeQueryParam", "parameters": {"paramKey": "debug"}},
                            {"policyName": "changeHTTPMethod", "parameters": {"updatedMethod": "POST"}},
                            {"policyName": "rewriteResourcePath", "parameters": {"newResourcePath": "/v2/orders"}}],
                "response": [{"policyName": "removeHeader", "parameters": {"headerName": "Content-Type"}}, add("X-Served-By", "operation")]}},
            {"target": "/plain", "verb": "GET", "authType": "None"}]});

    // Wrong parameters are refused when the API is saved, naming the policy and the parameter.
    let mut broken = api.clone();
    broken["operations"][0]["operationPolicies"]["request"][0]["parameters"] = json!({"headerName": "X-Order"});
    let r = m.call("POST", "/api/am/publisher/v4/apis", broken).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("operations[0].operationPolicies.request[0].parameters.headerValue"), "{}", r.body);
    let mut broken = api.clone();
    broken["apiPolicies"]["request"][0]["policyName"] = json!("noSuchPolicy");
    let r = m.call("POST", "/api/am/publisher/v4/apis", broken).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("apiPolicies.request[0].policyName"), "{}", r.body);

    m.publish(api).await;
    let url = format!("{gw}/mediated/1.0.0/orders/7?debug=1&keep=yes");
    eventually(&format!("{gw}/mediated/1.0.0/plain"), None, 200).await;
    let r = http::request("GET", &url, &[("x-internal", "secret")], "").await.expect("mediated");
    assert_eq!(r.status, 200, "{}", r.body);
    let seen = r.json();
    assert_eq!(seen["method"], "POST", "{}", r.body);
    assert_eq!(seen["path"], "/base/v2/orders?keep=yes&source=gateway", "{}", r.body);
    assert_eq!(seen["headers"]["x-api-level"], "api");
    assert_eq!(seen["headers"]["x-order"], "operation", "the operation's policies run after the API's");
    assert!(seen["headers"].get("x-internal").is_none(), "{}", r.body);
    assert_eq!(r.headers.get("x-served-by").and_then(|v| v.to_str().ok()), Some("api"), "on the response the API's run last");
    assert!(r.headers.get("content-type").is_none(), "{:?}", r.headers);
    // Another operation gets only the API's policies.
    let r = get(&format!("{gw}/mediated/1.0.0/plain"), None).await;
    assert_eq!((r.json()["method"].as_str(), r.json()["path"].as_str()), (Some("GET"), Some("/base/plain")));
    assert_eq!(r.json()["headers"]["x-order"], "api");
    drop(node);
}

/// An interceptor service on Choreo Connect's contract, for `body_policies_convert_and_call_interceptor_services`.
/// Under `/rewrite` the request handler tells what it was sent in headers it adds, rewrites the body and passes an
/// interceptor context on; the response handler answers 201 with what it was sent. Under `/direct` it answers the
/// client itself.
/// A chunked message body from `data` (which starts after the head): the body and its trailer fields, or `None`
/// while it is incomplete.
fn chunked(data: &[u8]) -> Option<(Vec<u8>, Vec<String>)> {
    let mut body = Vec::new();
    let mut at = 0;
    loop {
        let line_end = at + data.get(at..)?.windows(2).position(|w| w == b"\r\n")?;
        let size = usize::from_str_radix(std::str::from_utf8(&data[at..line_end]).ok()?.trim(), 16).ok()?;
        at = line_end + 2;
        if size == 0 {
            let mut trailers = Vec::new();
            loop {
                let end = at + data.get(at..)?.windows(2).position(|w| w == b"\r\n")?;
                if end == at {
                    return Some((body, trailers));
                }
                trailers.push(String::from_utf8_lossy(&data[at..end]).to_lowercase());
                at = end + 2;
            }
        }
        body.extend_from_slice(data.get(at..at + size)?);
        at += size + 2;
    }
}

/// A backend speaking chunked HTTP/1.1 by hand, with trailers both ways: it answers with what it got (the body and
/// its trailer fields) and a trailer of its own, `x-backend-trailer: original`.
async fn spawn_trailer_backend() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let (body, trailers) = loop {
                    let Ok(n) = tcp.read(&mut chunk).await else { return };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n")
                        && let Some(parsed) = chunked(&buf[head_end + 4..])
                    {
                        break parsed;
                    }
                };
                let got = format!("body={};trailers={}", String::from_utf8_lossy(&body), trailers.join(","));
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\ntrailer: x-backend-trailer\r\nconnection: close\r\n\r\n{:x}\r\n{got}\r\n0\r\nx-backend-trailer: original\r\n\r\n",
                    got.len()
                );
                let _ = tcp.write_all(answer.as_bytes()).await;
            });
        }
    });
    addr
}

async fn spawn_interceptor() -> SocketAddr {
    use base64::Engine;
    use http_body_util::BodyExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|req: hyper::Request<hyper::body::Incoming>| async move {
                    let b64 = &base64::engine::general_purpose::STANDARD;
                    let path = req.uri().path().to_string();
                    let sent: Value = match req.into_body().collect().await {
                        Ok(b) => serde_json::from_slice(&b.to_bytes()).unwrap_or(Value::Null),
                        Err(_) => Value::Null,
                    };
                    let decode =
                        |v: &Value| String::from_utf8(b64.decode(v.as_str().unwrap_or("")).unwrap_or_default()).unwrap_or_default();
                    let answer = match path.as_str() {
                        "/rewrite/api/v1/handle-request" => json!({
                            "headersToAdd": {"x-intercepted": "request", "x-seen-body": decode(&sent["requestBody"]),
                                             "x-seen-template": sent["invocationContext"]["pathTemplate"],
                                             "x-seen-api": sent["invocationContext"]["apiName"]},
                            "headersToRemove": ["x-drop-me"],
                            "body": b64.encode(format!("rewritten:{}", decode(&sent["requestBody"]))),
                            "interceptorContext": {"trace": "t-1"},
                        }),
                        "/rewrite/api/v1/handle-response" => json!({
                            "responseCode": 201,
                            "headersToAdd": {"x-response-intercepted": sent["interceptorContext"]["trace"],
                                             "x-backend-status": sent["responseCode"].to_string()},
                            "body": b64.encode(json!({"backend": decode(&sent["responseBody"]), "requestHeaders": sent["requestHeaders"]}).to_string()),
                        }),
                        "/trailers/api/v1/handle-request" => json!({
                            "trailersToAdd": {"x-added-trailer": format!("saw-{}", sent["requestTrailers"]["x-client-trailer"].as_str().unwrap_or("nothing"))},
                        }),
                        "/trailers/api/v1/handle-response" => json!({
                            "headersToAdd": {"x-seen-response-trailer": sent["responseTrailers"]["x-backend-trailer"]},
                            "trailersToReplace": {"x-backend-trailer": "replaced"},
                        }),
                        "/dynamic/api/v1/handle-request" => match sent["requestHeaders"]["x-route"].as_str() {
                            Some(name) => json!({"dynamicEndpoint": {"endpointName": name}}),
                            None => json!({}),
                        },
                        "/direct/api/v1/handle-request" => json!({
                            "directRespond": true, "responseCode": 403, "headersToAdd": {"content-type": "application/json"},
                            "body": b64.encode(r#"{"denied":"by the interceptor"}"#),
                        }),
                        _ => json!({}),
                    };
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(http_body_util::Full::new(hyper::body::Bytes::from(
                        answer.to_string(),
                    ))))
                });
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(hyper_util::rt::TokioIo::new(tcp), service).await;
            });
        }
    });
    addr
}

/// WSO2's `jsonToXML` and `xmlToJSON` (Synapse's JSON↔XML mapping) and `callInterceptorService` (Choreo
/// Connect's interceptor contract): bodies converted on the way to the backend and back, with their
/// `Content-Type` and `Content-Length`; an interceptor that adds headers and rewrites bodies on both flows, one
/// that answers the client itself, and ones that are silent, down or talk nonsense (WSO2's 101504, 101503, 101505).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_policies_convert_and_call_interceptor_services() {
    let (_dir, mut node, https) = node_with("apim-body-policies", "").await;
    let gw = node.url("gateway-http", Duration::from_secs(5));
    let m = Mgmt { base: https.clone(), auth: format!("Basic {}", base64_encode("admin:admin")) };
    let backend = apim_test_support::backend::spawn("127.0.0.1:0".parse().expect("addr")).await.expect("backend");
    let misbehaving = apim_test_support::backend::spawn_misbehaving().await.expect("misbehaving");
    let interceptor = spawn_interceptor().await;
    let trailer_backend = spawn_trailer_backend().await;
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let down = closed.local_addr().expect("addr");
    drop(closed);
    // Accepts connections and says nothing: a TLS handshake with it never ends.
    let holder = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let hold = holder.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = holder.accept().await {
            held.push(s);
        }
    });
    let policy = |name: &str| json!({"policyName": name, "policyVersion": "v1"});
    let intercept = |url: String, includes: &str| {
        json!({"policyName": "callInterceptorService", "policyVersion": "v1",
               "parameters": {"interceptorServiceURL": url, "includes": includes, "requestTimeout": 1}})
    };
    let op = |target: &str, verb: &str, policies: Value| json!({"target": target, "verb": verb, "authType": "None", "operationPolicies": policies});
    let api = json!({"name": "BodyPolicies", "context": "/bodies", "version": "1.0.0", "policies": ["Unlimited"],
        "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": format!("http://{backend}")}},
        "operations": [
            op("/to-xml/echo-body", "POST", json!({"request": [policy("jsonToXML")]})),
            op("/to-json/echo-body", "POST", json!({"response": [policy("xmlToJSON")]})),
            op("/both/echo-body", "POST", json!({"request": [policy("jsonToXML")], "response": [policy("xmlToJSON")]})),
            op("/intercepted/echo-body", "POST", json!({
                "request": [intercept(format!("http://{interceptor}/rewrite"), "request_headers,request_body,invocation_context")],
                "response": [intercept(format!("http://{interceptor}/rewrite/"), "request_headers,response_headers,response_body")]})),
            op("/direct/echo-body", "POST", json!({"request": [intercept(format!("http://{interceptor}/direct"), "request_headers")]})),
            op("/silent", "GET", json!({"request": [intercept(format!("http://{misbehaving}/silent"), "")]})),
            op("/down", "GET", json!({"request": [intercept(format!("http://{down}"), "")]})),
            op("/garbage", "GET", json!({"request": [intercept(format!("http://{misbehaving}/garbage"), "")]})),
            op("/slow-connect", "GET", json!({"request": [{"policyName": "callInterceptorService", "policyVersion": "v1",
                "parameters": {"interceptorServiceURL": format!("https://{hold}"), "requestTimeout": 20, "clusterTimeout": 1}}]})),
            {"target": "/plain", "verb": "GET", "authType": "None"}]});
    // Trailers both ways, through an interceptor that reads and changes them (an API of its own: its backend).
    let trailers_api = json!({"name": "Trailers", "context": "/trailers", "version": "1.0.0", "policies": ["Unlimited"],
        "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": format!("http://{trailer_backend}")}},
        "operations": [op("/echo", "POST", json!({
            "request": [intercept(format!("http://{interceptor}/trailers"), "request_trailers")],
            "response": [intercept(format!("http://{interceptor}/trailers"), "response_trailers")]}))]});

    // Parameters are checked when the API is saved, naming the policy and the parameter.
    for (at, param, bad) in [
        (3, "interceptorServiceURL", json!("ftp://interceptor")),
        (3, "includes", json!("request_body,response_body")),
        (3, "requestTimeout", json!(0)),
        (3, "clusterTimeout", json!(61)),
    ] {
        let mut broken = api.clone();
        broken["operations"][at]["operationPolicies"]["request"][0]["parameters"][param] = bad;
        let r = m.call("POST", "/api/am/publisher/v4/apis", broken).await;
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(r.body.contains(&format!("operations[{at}].operationPolicies.request[0].parameters.{param}")), "{}", r.body);
    }
    m.publish(api).await;
    m.publish(trailers_api).await;
    eventually(&format!("{gw}/bodies/1.0.0/plain"), None, 200).await;
    let post = |path: &str, content_type: &'static str, body: &'static str| {
        let url = format!("{gw}/bodies/1.0.0{path}");
        async move { http::request("POST", &url, &[("content-type", content_type), ("x-drop-me", "1")], body).await.expect("post") }
    };
    let header = |r: &http::Response, name: &str| r.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);

    // jsonToXML: the backend gets WSO2's XML form, with its type and length.
    let r = post("/to-xml/echo-body", "application/json", r#"{"order": {"id": "o-1", "lines": [{"sku": "a", "qty": 2}]}}"#).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let xml = "<jsonObject><order><id>o-1</id><?xml-multiple lines?><lines><sku>a</sku><qty>2</qty></lines></order></jsonObject>";
    assert_eq!(r.body, xml);
    assert_eq!(header(&r, "content-type").as_deref(), Some("application/xml"));
    assert_eq!(header(&r, "x-received-content-length"), Some(xml.len().to_string()));
    let r = post("/to-xml/echo-body", "application/json", "{\"order\": ").await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["code"], "400", "{}", r.body);
    assert!(r.json()["description"].as_str().is_some_and(|d| d.starts_with("jsonToXML: the body is not JSON")), "{}", r.body);

    // xmlToJSON: the backend's XML answer reaches the client as JSON.
    let r = post("/to-json/echo-body", "application/xml", "<order><id>o-1</id><qty>2</qty><qty>3</qty><note/></order>").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json(), json!({"order": {"id": "o-1", "qty": [2, 3], "note": null}}));
    assert_eq!(header(&r, "content-type").as_deref(), Some("application/json"));
    assert_eq!(header(&r, "content-length"), Some(r.body.len().to_string()));
    let r = post("/to-json/echo-body", "text/plain", "this is not xml").await;
    assert_eq!(r.status, 500, "{}", r.body);
    assert!(r.json()["description"].as_str().is_some_and(|d| d.contains("xmlToJSON") && d.contains("not XML")), "{}", r.body);
    // Both ways: the client's JSON comes back as it went.
    let doc = r#"{"id":"o-1","qty":2,"price":9.50,"tags":["a"],"none":[],"deep":{"x":{"y":false}}}"#;
    let r = post("/both/echo-body", "application/json", doc).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json(), serde_json::from_str::<Value>(doc).expect("doc"));

    // An interceptor on both flows: it is sent what `includes` names, and its answers change what the backend and
    // the client see; the request interceptor's context reaches the response interceptor.
    let r = post("/intercepted/echo-body", "text/plain", "hello").await;
    assert_eq!(r.status, 201, "the response interceptor's responseCode: {}", r.body);
    assert_eq!(header(&r, "x-response-intercepted").as_deref(), Some("t-1"));
    assert_eq!(header(&r, "x-backend-status").as_deref(), Some("200"));
    let seen = r.json();
    assert_eq!(seen["backend"], "rewritten:hello", "the backend got the rewritten body: {seen}");
    let sent = &seen["requestHeaders"];
    assert_eq!((&sent["x-intercepted"], &sent["x-seen-body"]), (&json!("request"), &json!("hello")), "{seen}");
    assert_eq!((&sent["x-seen-template"], &sent["x-seen-api"]), (&json!("/intercepted/echo-body"), &json!("BodyPolicies")), "{seen}");
    assert_eq!(sent["content-length"], "15", "{seen}");
    assert!(sent.get("x-drop-me").is_none(), "headersToRemove: {seen}");
    assert_eq!(header(&r, "content-length"), Some(r.body.len().to_string()));

    // directRespond: the client gets the interceptor's answer; the backend is not called.
    let r = post("/direct/echo-body", "application/json", "{}").await;
    assert_eq!((r.status, r.body.as_str()), (403, r#"{"denied":"by the interceptor"}"#));
    assert_eq!(header(&r, "content-type").as_deref(), Some("application/json"));

    // Interceptors that fail: WSO2's transport faults, within the interceptor's timeout (1 s here).
    let r = tokio::time::timeout(Duration::from_secs(30), get(&format!("{gw}/bodies/1.0.0/silent"), None)).await.expect("not a hang");
    assert_eq!((r.status, r.json()["code"].as_str()), (504, Some("101504")), "{}", r.body);
    let r = get(&format!("{gw}/bodies/1.0.0/down"), None).await;
    assert_eq!((r.status, r.json()["code"].as_str()), (502, Some("101503")), "{}", r.body);
    let r = get(&format!("{gw}/bodies/1.0.0/garbage"), None).await;
    assert_eq!((r.status, r.json()["code"].as_str()), (502, Some("101505")), "{}", r.body);
    // Trailers: the interceptor sees the client's and the backend's, the backend gets the client's plus the one the
    // interceptor added (naming what it saw), and the client gets the backend's as the interceptor replaced it
    // (chunked, named in `Trailer`).
    let mut answer = String::new();
    for _ in 0..100 {
        answer = exchange(
            host_port(&gw),
            LOCAL,
            "POST /trailers/1.0.0/echo HTTP/1.1\r\nhost: x\r\nte: trailers\r\ntransfer-encoding: chunked\r\ntrailer: x-client-trailer\r\nconnection: close\r\n\r\n5\r\nhello\r\n0\r\nx-client-trailer: c-1\r\n\r\n",
        )
        .await;
        if status_of(&answer) != 404 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status_of(&answer), 200, "{answer}");
    let (head, rest) = answer.split_once("\r\n\r\n").expect("a head");
    let head = head.to_lowercase();
    assert!(head.contains("x-seen-response-trailer: original"), "{answer}");
    assert!(head.contains("transfer-encoding: chunked") && head.contains("trailer: x-backend-trailer"), "{answer}");
    let (got, trailers) = chunked(rest.as_bytes()).expect("a complete chunked body");
    let got = String::from_utf8_lossy(&got);
    assert!(got.starts_with("body=hello;") && got.contains("x-client-trailer: c-1") && got.contains("x-added-trailer: saw-c-1"), "{got}");
    assert_eq!(trailers, ["x-backend-trailer: replaced"], "{answer}");

    // clusterTimeout (1 s) bounds the connection, TLS handshake included, well before the request timeout (20 s)
    // or the gateway's own connect timeout (5 s): a connection not made is WSO2's 101503.
    let started = std::time::Instant::now();
    let r = get(&format!("{gw}/bodies/1.0.0/slow-connect"), None).await;
    assert_eq!((r.status, r.json()["code"].as_str()), (502, Some("101503")), "{}", r.body);
    assert!(started.elapsed() < Duration::from_secs(4), "the connection was given up after {:?}", started.elapsed());
    drop(node);
}

/// A 200 KB POST to a path nobody serves: over HTTP/1.1 and over HTTP/2 alike a 404, never a reset stream (the
/// unread body is taken in after the answer instead of the stream being reset).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_answers_unread_bodies_as_http1_does() {
    use http_body_util::BodyExt;
    let (dir, mut node, _https) = node_with("apim-h2", "").await;
    let mgmt_http = host_port(&node.url("management-http", Duration::from_secs(5)));
    let body = "a".repeat(200_000);
    let r = http::request(
        "POST",
        &format!("http://{mgmt_http}/api/am/admin/v4/nowhere"),
        &[("authorization", "Basic YWRtaW46YWRtaW4=")],
        &body,
    )
    .await
    .expect("http/1.1");
    assert_eq!(r.status, 404);
    let h2 = tokio::net::TcpStream::connect(mgmt_http).await.expect("connect h2c");
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), hyper_util::rt::TokioIo::new(h2)).await.expect("h2c");
    tokio::spawn(conn);
    for i in 0..20 {
        let req = hyper::Request::post(format!("http://{mgmt_http}/api/am/admin/v4/nowhere"))
            .header("authorization", "Basic YWRtaW46YWRtaW4=")
            .body(http_body_util::Full::new(hyper::body::Bytes::from(body.clone())))
            .expect("request");
        let resp = sender.send_request(req).await.unwrap_or_else(|e| panic!("request {i}: {e}"));
        assert_eq!(resp.status().as_u16(), 404, "request {i}");
        resp.into_body().collect().await.unwrap_or_else(|e| panic!("request {i}'s body: {e}"));
    }
    // curl reports a reset that follows the answer as an error (exit 92), where hyper's client does not.
    let file = dir.path().join("body.txt");
    std::fs::write(&file, &body).expect("body file");
    for i in 0..20 {
        let out = std::process::Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--http2-prior-knowledge", "-u", "admin:admin", "--data-binary"])
            .arg(format!("@{}", file.display()))
            .arg(format!("http://{mgmt_http}/api/am/admin/v4/nowhere"))
            .output()
            .expect("curl runs");
        assert_eq!((out.status.code(), String::from_utf8_lossy(&out.stdout).as_ref()), (Some(0), "404"), "curl {i}");
    }
    drop(node);
}

/// WSO2's `enableSchemaValidation`: a JSON body that fails its operation's schema gets 400 and never reaches the
/// backend; a backend answer that fails the response schema becomes a 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_validation_checks_bodies_against_the_openapi_document() {
    let (_dir, mut node, https) = node_with("apim-schema", "").await;
    let gw = node.url("gateway-http", Duration::from_secs(5));
    let m = Mgmt { base: https.clone(), auth: format!("Basic {}", base64_encode("admin:admin")) };
    let backend = apim_test_support::backend::spawn("127.0.0.1:0".parse().expect("addr")).await.expect("backend");
    let definition = json!({"openapi": "3.0.1", "info": {"title": "Orders", "version": "1.0.0"},
        "paths": {
            "/orders/count": {"post": {"x-auth-type": "None",
                "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Order"}}}},
                "responses": {"200": {"content": {"application/json": {"schema": {"type": "object", "required": ["bytes"]}}}}}}},
            "/echo": {"get": {"x-auth-type": "None",
                "responses": {"200": {"content": {"application/json": {"schema": {"type": "object", "required": ["nothing"]}}}}}}}},
        "components": {"schemas": {"Order": {"type": "object", "required": ["id", "qty"], "additionalProperties": false,
            "properties": {"id": {"type": "string", "pattern": "^o-[0-9]+$"}, "qty": {"type": "integer", "minimum": 1}}}}}});
    let props = json!({"context": "/orders", "policies": ["Unlimited"], "enableSchemaValidation": true,
        "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": format!("http://{backend}")}}});
    let r = m.import_openapi(&definition.to_string(), &props).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.json()["id"].as_str().expect("id").to_string();
    let pb = "/api/am/publisher/v4";
    let rev =
        m.ok("POST", &format!("{pb}/apis/{id}/revisions"), json!({"description": "r1"})).await["id"].as_str().expect("rev").to_string();
    m.ok("POST", &format!("{pb}/apis/{id}/deploy-revision?revisionId={rev}"), json!([{"name": "Default"}])).await;
    m.ok("POST", &format!("{pb}/apis/change-lifecycle?action=Publish&apiId={id}"), Value::Null).await;

    let url = format!("{gw}/orders/1.0.0/orders/count");
    let post = |body: &'static str| {
        let url = url.clone();
        async move { http::request("POST", &url, &[("content-type", "application/json")], body).await.expect("post") }
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    let ok = loop {
        let r = post(r#"{"id": "o-1", "qty": 2}"#).await;
        if r.status != 404 || Instant::now() > deadline {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!((ok.status, ok.body.as_str()), (200, r#"{"bytes":23}"#), "a valid body reaches the backend whole");
    for (bad, why) in [
        (r#"{"id": "o-1"}"#, "`qty` is required"),
        (r#"{"id": "x-1", "qty": 2}"#, "#/id: does not match"),
        (r#"{"id": "o-1", "qty": 0}"#, "#/qty: 0 is below the minimum"),
        (r#"{"id": "o-1", "qty": 2, "admin": true}"#, "#/admin: no such property"),
        (r#"{"id": "o-1", "#, "not JSON"),
    ] {
        let r = post(bad).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
        assert!(r.body.contains("Schema validation failed in the Request") && r.body.contains(why), "{bad}: {}", r.body);
    }
    // The echo backend's answer lacks what the response schema requires.
    let r = get(&format!("{gw}/orders/1.0.0/echo"), None).await;
    assert_eq!(r.status, 500, "{}", r.body);
    assert!(r.body.contains("Schema validation failed in the Response") && r.body.contains("`nothing` is required"), "{}", r.body);
    drop(node);
}

/// Behind a balancer that speaks the PROXY protocol: the client's address comes from the header, only from a
/// trusted peer; a trusted peer without a header is closed, and anyone else's header is not read as one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_protocol_from_trusted_balancers() {
    let (_dir, mut node, https) =
        node_with("apim-proxyproto", "[apim.gateway]\ntrusted_proxies = [\"127.0.0.3\"]\nproxy_protocol = true\n").await;
    let gw = node.url("gateway-http", Duration::from_secs(5));
    let gw_addr = host_port(&gw);
    let m = Mgmt { base: https.clone(), auth: format!("Basic {}", base64_encode("admin:admin")) };
    let backend = apim_test_support::backend::spawn("127.0.0.1:0".parse().expect("addr")).await.expect("backend");
    m.publish(json!({"name": "Behind", "context": "/behind", "version": "1.0.0", "policies": ["Unlimited"],
        "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": format!("http://{backend}")}},
        "operations": [{"target": "/*", "verb": "GET", "authType": "None"}]}))
        .await;
    assert_eq!(eventually(&format!("{gw}/behind/1.0.0/x"), None, 200).await.status, 200);
    m.ok(
        "POST",
        "/api/am/admin/v4/throttling/deny-policies",
        json!({"conditionType": "IP", "conditionValue": {"fixedIp": "203.0.113.50", "invert": false}}),
    )
    .await;
    let lb: IpAddr = "127.0.0.3".parse().expect("ip");
    let request = "GET /behind/1.0.0/x HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n";
    let via = |from: IpAddr, header: String| {
        let raw = format!("{header}{request}");
        async move { exchange(gw_addr, from, &raw).await }
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while status_of(&via(lb, "PROXY TCP4 203.0.113.50 10.0.0.1 40000 8280\r\n".into()).await) != 403 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status_of(&via(lb, "PROXY TCP4 203.0.113.50 10.0.0.1 40000 8280\r\n".into()).await), 403, "the header's client is denied");
    let answer = via(lb, "PROXY TCP4 198.51.100.7 10.0.0.1 40000 8280\r\n".into()).await;
    assert_eq!(status_of(&answer), 200, "{answer}");
    assert!(body_of(&answer).contains("\"x-forwarded-for\":\"198.51.100.7\""), "the backend hears of the client: {answer}");
    let mut v2 = b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c".to_vec();
    v2.extend_from_slice(&[203, 0, 113, 50, 10, 0, 0, 1, 0x9c, 0x40, 0x20, 0x58]);
    let mut tcp = connect_from(lb, gw_addr).await.expect("connect");
    tcp.write_all(&v2).await.expect("v2 header");
    tcp.write_all(request.as_bytes()).await.expect("request");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut answer)).await;
    assert_eq!(status_of(&String::from_utf8_lossy(&answer)), 403, "version 2 alike");
    assert_eq!(via(lb, String::new()).await, "", "a trusted balancer without a header is closed");
    assert_eq!(
        status_of(&via(LOCAL, "PROXY TCP4 198.51.100.7 10.0.0.1 1 2\r\n".into()).await),
        400,
        "an untrusted peer's header is not one"
    );
    drop(node);
}

/// Out of file descriptors: a node limited to 256 descriptors is flooded on one listener until accepting fails;
/// the failures are counted, the accept loop backs off instead of spinning or dying, and once the flood's
/// connections close (the head deadline) every listener answers again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_out_of_descriptors_is_survived() {
    let dir = TempDir::new("apim-emfile");
    let offset = free_offset(&[9443, 9763, 8280, 8243, 9099, 8099, 5672]);
    write_control_plane(dir.path(), offset, "[transport.limits]\nheader_read_timeout = 3\n").expect("config");
    let _ = std::fs::create_dir_all(dir.path().join("cp").join("tls"));
    let apim = apim();
    let script = format!("ulimit -n 256 && exec '{}' all-in-one -c cp.toml --data-dir cp --bind 127.0.0.1", apim.display());
    let mut node = Node::spawn(std::path::Path::new("/bin/sh"), &["-c", &script], dir.path());
    let https = node.url("management-https", Duration::from_secs(20));
    let mgmt_http = host_port(&node.url("management-http", Duration::from_secs(5)));
    let ready = wait_ready(&https, Duration::from_secs(30)).await;
    assert_eq!(ready.status, 200, "{}\n{}", ready.body, node.stderr());

    // Far more connections than the node has descriptors; the kernel's backlog holds the ones it cannot accept.
    let sources: Vec<IpAddr> = (20..23).map(|i| IpAddr::from([127, 0, 0, i])).collect();
    let mut flood = Vec::new();
    for from in &sources {
        for _ in 0..150 {
            if let Ok(tcp) = connect_from(*from, mgmt_http).await {
                flood.push(tcp);
            }
        }
    }
    let metric = |body: &str| {
        body.lines()
            .find(|l| l.starts_with("apim_listener_accept_errors_total{listener=\"management http\"}"))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // The flood's connections time out (3 s head deadline) and free their descriptors: the node recovers.
    drop(flood);
    let deadline = Instant::now() + Duration::from_secs(30);
    let metrics = loop {
        if let Ok(Ok(r)) = tokio::time::timeout(Duration::from_secs(5), http::get(&format!("{https}/metrics"))).await
            && r.status == 200
        {
            break r;
        }
        assert!(Instant::now() < deadline, "the node did not recover\n{}", node.stderr());
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(metric(&metrics.body) > 0, "accept failures are counted: {}", metrics.body);
    let again = tokio::time::timeout(Duration::from_secs(10), http::get(&format!("http://{mgmt_http}/health/ready"))).await;
    assert_eq!(again.expect("in time").expect("health").status, 200);
    let warnings = node.stderr().lines().filter(|l| l.contains("accept failed")).count();
    assert!(warnings >= 1, "logged: {}", node.stderr());
    drop(node);
}

/// Choreo Connect's dynamic endpoints: an interceptor names one of the API's `x-wso2-endpoints` and the request
/// goes there instead of to the API's own endpoint; a name the API does not define is a 500 naming it; a
/// definition whose `x-wso2-endpoints` cannot be run is refused when it is uploaded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interceptor_sends_a_request_to_a_named_endpoint() {
    let (_dir, mut node, https) = node_with("apim-dynamic", "").await;
    let gw = node.url("gateway-http", Duration::from_secs(5));
    let m = Mgmt { base: https.clone(), auth: format!("Basic {}", base64_encode("admin:admin")) };
    let backend = apim_test_support::backend::spawn("127.0.0.1:0".parse().expect("addr")).await.expect("backend");
    let interceptor = spawn_interceptor().await;
    let definition = |endpoints: Value| {
        json!({"openapi": "3.0.1", "info": {"title": "Dynamic", "version": "1.0.0"}, "x-wso2-endpoints": endpoints,
            "paths": {"/who": {"get": {"x-auth-type": "None", "responses": {"200": {"description": "ok"}}}}}})
    };
    let props = json!({"context": "/dynamic", "policies": ["Unlimited"],
        "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": format!("http://{backend}/main")}},
        "apiPolicies": {"request": [{"policyName": "callInterceptorService", "policyVersion": "v1",
            "parameters": {"interceptorServiceURL": format!("http://{interceptor}/dynamic"), "includes": "request_headers"}}]}});
    let import = |definition: Value| {
        let (m, props) = (&m, &props);
        async move { m.import_openapi(&definition.to_string(), props).await }
    };
    let refused = import(definition(json!([{"second": {"urls": ["ftp://nowhere"]}}]))).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.body.contains("x-wso2-endpoints[0].second.urls"), "{}", refused.body);
    let made = import(definition(json!([{"second": {"urls": [format!("http://{backend}/alt")]}}]))).await;
    assert_eq!(made.status, 201, "{}", made.body);
    let id = made.json()["id"].as_str().expect("id").to_string();
    let pb = "/api/am/publisher/v4";
    let rev = m.ok("POST", &format!("{pb}/apis/{id}/revisions"), json!({})).await["id"].as_str().expect("rev").to_string();
    m.ok("POST", &format!("{pb}/apis/{id}/deploy-revision?revisionId={rev}"), json!([{"name": "Default"}])).await;
    m.ok("POST", &format!("{pb}/apis/change-lifecycle?action=Publish&apiId={id}"), Value::Null).await;

    let url = format!("{gw}/dynamic/1.0.0/who");
    eventually(&url, None, 200).await;
    let call = |route: Option<&'static str>| {
        let url = url.clone();
        async move {
            let headers: Vec<(&str, &str)> = route.map(|r| vec![("x-route", r)]).unwrap_or_default();
            http::request("GET", &url, &headers, "").await.expect("call")
        }
    };
    let r = call(None).await;
    assert_eq!((r.status, r.json()["path"].as_str()), (200, Some("/main/who")), "{}", r.body);
    let r = call(Some("second")).await;
    assert_eq!((r.status, r.json()["path"].as_str()), (200, Some("/alt/who")), "{}", r.body);
    let r = call(Some("nowhere")).await;
    assert_eq!(r.status, 500, "{}", r.body);
    assert!(r.json()["description"].as_str().is_some_and(|d| d.contains("`nowhere`")), "{}", r.body);
    drop(node);
}
