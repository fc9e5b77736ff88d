//! The analytics exporters through the real binary: WSO2's `apim_metrics.log` lines, and OpenTelemetry spans and
//! metrics received by a collector over real sockets (the client's trace continued, the backend given the
//! gateway's upstream span as its parent). A full disk and an unreachable collector slow and fail nothing: their
//! events are dropped and counted in `/metrics`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use apim_test_support::http;
use apim_test_support::process::{Node, free_offset};
use http_body_util::BodyExt;
use serde_json::{Value, json};

use super::gateway::Mgmt;
use super::{apim, base64_encode, wait_ready};

/// What an OTLP/HTTP collector received: (path, JSON body).
type Received = Arc<Mutex<Vec<(String, Value)>>>;

/// A collector taking OTLP/HTTP JSON on `/v1/traces` and `/v1/metrics`; it answers the first `unavailable`
/// trace exports 503, as a collector restarting does, without keeping them. It also counts the connections it
/// accepted.
async fn collector(unavailable: usize) -> (std::net::SocketAddr, Received, Arc<std::sync::atomic::AtomicUsize>) {
    let refusals = Arc::new(std::sync::atomic::AtomicUsize::new(unavailable));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let received: Received = Arc::default();
    let store = received.clone();
    let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let accepted = connections.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            accepted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let (store, refusals) = (store.clone(), refusals.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let (store, refusals) = (store.clone(), refusals.clone());
                    async move {
                        let path = req.uri().path().to_string();
                        let refuse = path == "/v1/traces"
                            && refusals
                                .fetch_update(std::sync::atomic::Ordering::SeqCst, std::sync::atomic::Ordering::SeqCst, |n| {
                                    n.checked_sub(1)
                                })
                                .is_ok();
                        if refuse {
                            let _ = req.into_body().collect().await;
                            return Ok::<_, std::convert::Infallible>(
                                hyper::Response::builder().status(503).body(http_body_util::Full::new(bytes_of("{}"))).expect("response"),
                            );
                        }
                        let content_type = req.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                        let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                        let doc: Value = match content_type.as_str() {
                            "application/json" => serde_json::from_slice(&body).unwrap_or(Value::Null),
                            "application/x-protobuf" if path == "/v1/traces" => proto::traces(&body).unwrap_or(Value::Null),
                            _ => Value::Null,
                        };
                        let ok = !doc.is_null();
                        store.lock().expect("lock").push((path, doc));
                        let status = if ok { 200 } else { 400 };
                        Ok::<_, std::convert::Infallible>(
                            hyper::Response::builder().status(status).body(http_body_util::Full::new(bytes_of("{}"))).expect("response"),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(hyper_util::rt::TokioIo::new(tcp), service).await;
            });
        }
    });
    (addr, received, connections)
}

/// OTLP's protobuf export request read back into the shape of its JSON encoding (the fields the tests look at):
/// a reader of our own, independent of the gateway's writer.
mod proto {
    use serde_json::{Value, json};

    /// (field, wire type, varint or fixed value, bytes) of one field of a message.
    type Field<'a> = (u64, u8, u64, &'a [u8]);

    fn fields(mut b: &[u8]) -> Option<Vec<Field<'_>>> {
        fn varint(b: &mut &[u8]) -> Option<u64> {
            let mut n = 0u64;
            for shift in (0..64).step_by(7) {
                let (&byte, rest) = b.split_first()?;
                *b = rest;
                n |= u64::from(byte & 0x7f) << shift;
                if byte < 0x80 {
                    return Some(n);
                }
            }
            None
        }
        let mut out = Vec::new();
        while !b.is_empty() {
            let key = varint(&mut b)?;
            let (field, wire) = (key >> 3, (key & 7) as u8);
            match wire {
                0 => out.push((field, wire, varint(&mut b)?, &b[..0])),
                1 => {
                    let (v, rest) = b.split_at_checked(8)?;
                    b = rest;
                    out.push((field, wire, u64::from_le_bytes(v.try_into().ok()?), &b[..0]));
                }
                2 => {
                    let n = usize::try_from(varint(&mut b)?).ok()?;
                    let (v, rest) = b.split_at_checked(n)?;
                    b = rest;
                    out.push((field, wire, 0, v));
                }
                _ => return None,
            }
        }
        Some(out)
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    fn text(b: &[u8]) -> String {
        String::from_utf8_lossy(b).into_owned()
    }

    fn key_value(b: &[u8]) -> Option<Value> {
        let mut key = String::new();
        let mut value = Value::Null;
        for (f, _, _, v) in fields(b)? {
            match f {
                1 => key = text(v),
                2 => {
                    for (af, _, n, av) in fields(v)? {
                        value = match af {
                            1 => json!({"stringValue": text(av)}),
                            3 => json!({"intValue": n.to_string()}),
                            _ => value,
                        };
                    }
                }
                _ => {}
            }
        }
        Some(json!({"key": key, "value": value}))
    }

    fn span(b: &[u8]) -> Option<Value> {
        let mut s = json!({"attributes": []});
        for (f, _, n, v) in fields(b)? {
            match f {
                1 => s["traceId"] = json!(hex(v)),
                2 => s["spanId"] = json!(hex(v)),
                4 => s["parentSpanId"] = json!(hex(v)),
                5 => s["name"] = json!(text(v)),
                6 => s["kind"] = json!(n),
                7 => s["startTimeUnixNano"] = json!(n.to_string()),
                8 => s["endTimeUnixNano"] = json!(n.to_string()),
                9 => s["attributes"].as_array_mut()?.push(key_value(v)?),
                15 => {
                    let mut status = json!({});
                    for (sf, _, sn, sv) in fields(v)? {
                        match sf {
                            2 => status["message"] = json!(text(sv)),
                            3 => status["code"] = json!(sn),
                            _ => {}
                        }
                    }
                    s["status"] = status;
                }
                _ => {}
            }
        }
        Some(s)
    }

    pub fn traces(b: &[u8]) -> Option<Value> {
        let mut resource_spans = Vec::new();
        for (_, _, _, rs) in fields(b)?.into_iter().filter(|f| f.0 == 1) {
            let mut resource = json!({"attributes": []});
            let mut scope_spans = Vec::new();
            for (f, _, _, v) in fields(rs)? {
                match f {
                    1 => {
                        for (_, _, _, kv) in fields(v)?.into_iter().filter(|f| f.0 == 1) {
                            resource["attributes"].as_array_mut()?.push(key_value(kv)?);
                        }
                    }
                    2 => {
                        let mut spans = Vec::new();
                        for (sf, _, _, sv) in fields(v)? {
                            if sf == 2 {
                                spans.push(span(sv)?);
                            }
                        }
                        scope_spans.push(json!({"spans": spans}));
                    }
                    _ => {}
                }
            }
            resource_spans.push(json!({"resource": resource, "scopeSpans": scope_spans}));
        }
        Some(json!({"resourceSpans": resource_spans}))
    }
}

fn bytes_of(s: &'static str) -> hyper::body::Bytes {
    hyper::body::Bytes::from_static(s.as_bytes())
}

fn config(offset: u16, analytics: &str) -> String {
    format!(
        "[server]\nhostname = \"localhost\"\noffset = {offset}\n[super_admin]\nusername = \"admin\"\npassword = \"admin\"\ncreate_admin_account = true\n\
         [database.apim_db]\ntype = \"sqlite\"\nurl = \"jdbc:sqlite:db/apim.db\"\n[database.shared_db]\ntype = \"sqlite\"\nurl = \"jdbc:sqlite:db/shared.db\"\n\
         {analytics}"
    )
}

/// An all-in-one on `analytics` settings, with an API (`/items` secured, `/open` not) whose backend echoes what it
/// got, and a subscribed application's token: (node, dir, management URL, gateway URL, token).
async fn node_with_api(prefix: &str, analytics: &str) -> (Node, apim_test_support::TempDir, String, String, String) {
    let dir = apim_test_support::TempDir::new(prefix);
    let offset = free_offset(&[9443, 9763, 8280, 8243, 9099, 8099]);
    std::fs::create_dir_all(dir.path().join("db")).expect("mkdir");
    std::fs::write(dir.path().join("deployment.toml"), config(offset, analytics)).expect("write");
    let mut node = Node::spawn(&apim(), &["all-in-one", "-c", "deployment.toml", "--bind", "127.0.0.1"], dir.path());
    let https = node.url("management-https", Duration::from_secs(20));
    let gw = node.url("gateway-http", Duration::from_secs(5));
    assert_eq!(wait_ready(&https, Duration::from_secs(20)).await.status, 200, "{}", node.stderr());
    let m = Mgmt { base: https.clone(), auth: format!("Basic {}", base64_encode("admin:admin")) };
    let backend = apim_test_support::backend::spawn("127.0.0.1:0".parse().expect("addr")).await.expect("backend");
    let api = m
        .publish(json!({"name": "Traced", "context": "/traced", "version": "1.0.0", "policies": ["Unlimited"],
            "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": format!("http://{backend}/b")}},
            "operations": [{"target": "/items", "verb": "GET"}, {"target": "/open", "verb": "GET", "authType": "None"}]}))
        .await;
    let (app, ck, cs) = m.app("Tracer", "Unlimited", "JWT", "PRODUCTION").await;
    m.subscribe(&api, &app, "Unlimited").await;
    let token = m.token(&ck, &cs, "").await;
    // Until the API serves, with a user agent of its own: the test's events are told apart by theirs.
    let deadline = Instant::now() + Duration::from_secs(10);
    let warm_up = [("authorization", format!("Bearer {token}")), ("user-agent", "warm-up".into())];
    let warm_up: Vec<(&str, &str)> = warm_up.iter().map(|(k, v)| (*k, v.as_str())).collect();
    while http::request("GET", &format!("{gw}/traced/1.0.0/items"), &warm_up, "").await.expect("call").status != 200 {
        assert!(Instant::now() < deadline, "the API never served: {}", node.stderr());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (node, dir, https, gw, token)
}

const USER_AGENT: &str = "exporter-test/1.0 (X11; Linux x86_64)";

async fn call(gw: &str, path: &str, token: Option<&str>, traceparent: Option<&str>) -> http::Response {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers: Vec<(&str, &str)> = vec![("user-agent", USER_AGENT)];
    if let Some(a) = &auth {
        headers.push(("authorization", a));
    }
    if let Some(tp) = traceparent {
        headers.push(("traceparent", tp));
    }
    http::request("GET", &format!("{gw}/traced/1.0.0{path}"), &headers, "").await.expect("call")
}

/// Waits until `done` holds for what the collector received (at most 15 s).
async fn received_until(received: &Received, done: impl Fn(&[(String, Value)]) -> bool) -> Vec<(String, Value)> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let now = received.lock().expect("lock").clone();
        if done(&now) || Instant::now() > deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn spans(received: &[(String, Value)]) -> Vec<Value> {
    received
        .iter()
        .filter(|(p, _)| p == "/v1/traces")
        .flat_map(|(_, d)| d["resourceSpans"].as_array().cloned().unwrap_or_default())
        .flat_map(|rs| rs["scopeSpans"].as_array().cloned().unwrap_or_default())
        .flat_map(|ss| ss["spans"].as_array().cloned().unwrap_or_default())
        .collect()
}

/// The server spans of the test's own requests.
fn servers(received: &[(String, Value)]) -> Vec<Value> {
    let ua = json!({"stringValue": USER_AGENT});
    spans(received).into_iter().filter(|s| s["kind"] == 2 && attribute(s, "user_agent.original") == Some(&ua)).collect()
}

fn attribute<'a>(span: &'a Value, key: &str) -> Option<&'a Value> {
    span["attributes"].as_array()?.iter().find(|a| a["key"] == key).map(|a| &a["value"])
}

/// A `/metrics` figure.
async fn metric(https: &str, line_start: &str) -> u64 {
    let text = http::get(&format!("{https}/metrics")).await.expect("metrics").body;
    text.lines()
        .find_map(|l| l.strip_prefix(line_start).and_then(|v| v.trim().parse().ok()))
        .unwrap_or_else(|| panic!("{line_start} missing from /metrics:\n{text}"))
}

/// WSO2's `apim:response` attributes (its ELK analytics reporter, API-M 4.x).
const RESPONSE_FIELDS: [&str; 30] = [
    "apiName",
    "proxyResponseCode",
    "destination",
    "apiCreatorTenantDomain",
    "platform",
    "apiMethod",
    "apiVersion",
    "gatewayType",
    "apiCreator",
    "responseCacheHit",
    "backendLatency",
    "correlationId",
    "requestMediationLatency",
    "keyType",
    "apiId",
    "applicationName",
    "targetResponseCode",
    "requestTimestamp",
    "applicationOwner",
    "userAgent",
    "userName",
    "apiResourceTemplate",
    "regionId",
    "responseLatency",
    "responseMediationLatency",
    "userIp",
    "apiContext",
    "applicationId",
    "apiType",
    "properties",
];

/// One `apim_metrics.log` line as WSO2's appender writes it (`%d{HH:mm:ss,SSS} [%X{ip}-%X{host}] [%t] %5p %c{1}
/// %m%n`): the event type and its properties.
fn parse_line(line: &str) -> (String, Value) {
    let (time, rest) = line.split_at(12);
    let t: Vec<&str> = time.split([':', ',']).collect();
    assert!(t.len() == 4 && t.iter().all(|p| p.chars().all(|c| c.is_ascii_digit())), "time of {line}");
    let rest = rest.strip_prefix(" [-] [").unwrap_or_else(|| panic!("no [ip-host] in {line}"));
    let (_thread, rest) = rest.split_once("] ").unwrap_or_else(|| panic!("no thread in {line}"));
    let rest = rest.strip_prefix(" INFO ELKCounterMetric apimMetrics: ").unwrap_or_else(|| panic!("not WSO2's shape: {line}"));
    let (kind, json) = rest.split_once(", properties :").unwrap_or_else(|| panic!("no properties in {line}"));
    (kind.to_string(), serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn elk_log_and_otlp_spans_and_metrics() {
    let (addr, received, connections) = collector(0).await;
    let settings = format!(
        "[apim.analytics]\ntype = \"elk\"\n[apim.analytics.otlp]\nendpoint = \"http://{addr}\"\nmetrics_interval_seconds = 1\nservice_name = \"gw-test\"\n"
    );
    let (mut node, dir, https, gw, token) = node_with_api("apim-export", &settings).await;

    // The client's trace is continued; the backend gets the gateway's upstream span as the parent.
    let client_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let client_span = "00f067aa0ba902b7";
    let tp = format!("00-{client_trace}-{client_span}-01");
    let echo = call(&gw, "/items", Some(&token), Some(&tp)).await;
    assert_eq!(echo.status, 200, "{}", echo.body);
    let to_backend = echo.json()["headers"]["traceparent"].as_str().expect("traceparent at the backend").to_string();
    let parts: Vec<&str> = to_backend.split('-').collect();
    assert_eq!((parts[0], parts[1], parts[3]), ("00", client_trace, "01"), "{to_backend}");
    assert_ne!(parts[2], client_span, "the backend's parent is the gateway's span, not the client's");
    for _ in 0..4 {
        assert_eq!(call(&gw, "/items", Some(&token), None).await.status, 200);
    }
    for _ in 0..2 {
        assert_eq!(call(&gw, "/items", None, None).await.status, 401);
    }

    // The spans: the server span under the client's, authentication, throttling and the backend call under it.
    let got = received_until(&received, |r| spans(r).iter().any(|s| s["traceId"] == client_trace && s["kind"] == 3)).await;
    let ours: Vec<Value> = spans(&got).into_iter().filter(|s| s["traceId"] == client_trace).collect();
    let server = ours.iter().find(|s| s["kind"] == 2).unwrap_or_else(|| panic!("no server span: {ours:?}"));
    assert_eq!(server["parentSpanId"], client_span, "{server}");
    assert_eq!(server["name"], "GET /traced/1.0.0/items", "{server}");
    assert_eq!(attribute(server, "http.response.status_code"), Some(&json!({"intValue": "200"})), "{server}");
    assert_eq!(attribute(server, "apim.api.name"), Some(&json!({"stringValue": "Traced"})), "{server}");
    assert_eq!(attribute(server, "apim.application.name"), Some(&json!({"stringValue": "Tracer"})), "{server}");
    let server_id = server["spanId"].as_str().expect("span id");
    for name in ["authenticate", "throttle", "GET upstream"] {
        let child = ours.iter().find(|s| s["name"] == name).unwrap_or_else(|| panic!("no {name} span: {ours:?}"));
        assert_eq!(child["parentSpanId"], server_id, "{child}");
        let (start, end) = (child["startTimeUnixNano"].as_str(), child["endTimeUnixNano"].as_str());
        let ns = |s: Option<&str>| s.and_then(|s| s.parse::<u128>().ok()).expect("nanoseconds");
        assert!(ns(start) <= ns(end), "{child}");
        assert!(ns(start) >= ns(server["startTimeUnixNano"].as_str()), "{child} starts within {server}");
    }
    let upstream = ours.iter().find(|s| s["kind"] == 3).expect("client span");
    assert_eq!(upstream["spanId"], parts[2], "the backend's parent is the upstream span");
    assert_eq!(attribute(upstream, "http.response.status_code"), Some(&json!({"intValue": "200"})), "{upstream}");
    let resource = &got.iter().find(|(p, _)| p == "/v1/traces").expect("traces").1["resourceSpans"][0]["resource"];
    assert!(
        resource["attributes"]
            .as_array()
            .is_some_and(|a| a.iter().any(|a| a["key"] == "service.name" && a["value"]["stringValue"] == "gw-test"))
    );
    // Without a traceparent every request starts a sampled trace (ratio 1); the 401s carry their error.
    let got = received_until(&received, |r| servers(r).len() >= 7).await;
    let servers = servers(&got);
    assert_eq!(servers.len(), 7, "{servers:?}");
    let refused: Vec<&Value> =
        servers.iter().filter(|s| attribute(s, "http.response.status_code") == Some(&json!({"intValue": "401"}))).collect();
    assert_eq!(refused.len(), 2, "{servers:?}");
    assert!(refused.iter().all(|s| s["status"]["code"] == 2 && attribute(s, "apim.error.code") == Some(&json!({"intValue": "900902"}))));

    // The metrics: the gateway's counters, under their Prometheus names.
    let got = received_until(&received, |r| r.iter().any(|(p, _)| p == "/v1/metrics")).await;
    let metrics = &got.iter().rev().find(|(p, _)| p == "/v1/metrics").expect("metrics").1;
    let names: Vec<&str> = metrics["resourceMetrics"][0]["scopeMetrics"][0]["metrics"]
        .as_array()
        .expect("metrics")
        .iter()
        .filter_map(|m| m["name"].as_str())
        .collect();
    assert!(names.contains(&"apim_gateway_requests_total") && names.contains(&"apim_gateway_request_duration_seconds"), "{names:?}");
    // The exporters keep their connection to the collector between export requests.
    let got = received_until(&received, |r| r.len() >= 5).await;
    let accepted = connections.load(std::sync::atomic::Ordering::SeqCst);
    assert!(got.len() >= 5 && accepted <= 2, "{accepted} connections for {} export requests", got.len());

    // The ELK log: a line per request in WSO2's shape, responses and faults.
    let log = dir.path().join("data/logs/apim_metrics.log");
    let deadline = Instant::now() + Duration::from_secs(10);
    let lines = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<(String, Value)> = text.lines().map(parse_line).filter(|(_, v)| v["userAgent"] == USER_AGENT).collect();
        if lines.len() >= 7 || Instant::now() > deadline {
            break lines;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let responses: Vec<&Value> = lines.iter().filter(|(k, _)| k == "apim:response").map(|(_, v)| v).collect();
    let faults: Vec<&Value> = lines.iter().filter(|(k, _)| k == "apim:faulty").map(|(_, v)| v).collect();
    assert_eq!((responses.len(), faults.len()), (5, 2), "{lines:?}");
    for r in &responses {
        let keys: Vec<&String> = r.as_object().expect("object").keys().collect();
        for field in RESPONSE_FIELDS {
            assert!(r.get(field).is_some(), "{field} missing from {r}");
        }
        assert_eq!(keys.len(), RESPONSE_FIELDS.len(), "{r}");
        assert_eq!(
            (&r["apiName"], &r["apiVersion"], &r["apiContext"]),
            (&json!("Traced"), &json!("1.0.0"), &json!("/traced/1.0.0")),
            "{r}"
        );
        assert_eq!((&r["proxyResponseCode"], &r["targetResponseCode"]), (&json!(200), &json!(200)), "{r}");
        assert_eq!(
            (&r["applicationName"], &r["keyType"], &r["apiCreator"]),
            (&json!("Tracer"), &json!("PRODUCTION"), &json!("admin")),
            "{r}"
        );
        assert_eq!(
            (&r["apiResourceTemplate"], &r["apiMethod"], &r["userIp"]),
            (&json!("/items"), &json!("GET"), &json!("127.0.0.1")),
            "{r}"
        );
        assert_eq!((&r["platform"], &r["gatewayType"], &r["apiType"]), (&json!("Linux"), &json!("SYNAPSE"), &json!("HTTP")), "{r}");
        assert!(r["destination"].as_str().is_some_and(|d| d.starts_with("http://127.0.0.1:")), "{r}");
        assert!(r["requestTimestamp"].as_str().is_some_and(|t| t.len() == 24 && t.ends_with('Z')), "{r}");
        assert!(r["responseLatency"].as_u64() >= r["backendLatency"].as_u64(), "{r}");
    }
    assert!(
        responses.iter().any(|r| r["correlationId"].as_str().is_some_and(|c| c.replace('-', "") == client_trace)),
        "the trace id correlates"
    );
    for f in &faults {
        assert_eq!((&f["errorType"], &f["errorCode"], &f["proxyResponseCode"]), (&json!("AUTH"), &json!(900902), &json!(401)), "{f}");
        assert_eq!(f["errorMessage"], "AUTHENTICATION_FAILURE", "{f}");
    }
    assert_eq!(metric(&https, "apim_gateway_export_dropped_total{exporter=\"elk\"}").await, 0);
    assert_eq!(metric(&https, "apim_gateway_export_dropped_total{exporter=\"otlp\"}").await, 0);
    node.terminate();
}

/// The log on a full disk (`/dev/full` refuses every write) and a collector nobody listens at: every request is
/// answered as before, and the exporters' losses are counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_and_an_unreachable_collector_fail_no_request() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let settings =
        format!("[apim.analytics]\ntype = \"elk\"\nlog_file = \"/dev/full\"\n[apim.analytics.otlp]\nendpoint = \"http://{closed}\"\n");
    let (mut node, _dir, https, gw, token) = node_with_api("apim-export-down", &settings).await;
    let started = Instant::now();
    for _ in 0..50 {
        assert_eq!(call(&gw, "/items", Some(&token), None).await.status, 200);
    }
    let elapsed = started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (elk, otlp) = (
            metric(&https, "apim_gateway_export_dropped_total{exporter=\"elk\"}").await,
            metric(&https, "apim_gateway_export_dropped_total{exporter=\"otlp\"}").await,
        );
        if elk >= 50 && otlp >= 50 {
            break;
        }
        assert!(Instant::now() < deadline, "dropped events not counted: elk {elk}, otlp {otlp}\n{}", node.stderr());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!("50 requests in {elapsed:?} with a full disk and no collector");
    assert!(node.stderr().contains("cannot write the analytics log"), "{}", node.stderr());
    node.terminate();
}

/// `protocol = "http/json"`: the same spans in OTLP's JSON encoding, for collectors that take only JSON; and a
/// collector that answers 503 once (restarting) loses nothing: the export request is sent again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_spans_in_json() {
    let (addr, received, _) = collector(1).await;
    let settings = format!("[apim.analytics.otlp]\nendpoint = \"http://{addr}\"\nprotocol = \"http/json\"\nmetrics_interval_seconds = 0\n");
    let (mut node, _dir, https, gw, token) = node_with_api("apim-export-json", &settings).await;
    let tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    assert_eq!(call(&gw, "/items", Some(&token), Some(tp)).await.status, 200);
    let got =
        received_until(&received, |r| spans(r).iter().any(|s| s["traceId"] == "0af7651916cd43dd8448eb211c80319c" && s["kind"] == 3)).await;
    assert!(got.iter().all(|(p, d)| p == "/v1/traces" && !d.is_null()), "only JSON trace exports: {got:?}");
    let ours: Vec<Value> = spans(&got).into_iter().filter(|s| s["traceId"] == "0af7651916cd43dd8448eb211c80319c").collect();
    let server = ours.iter().find(|s| s["kind"] == 2).unwrap_or_else(|| panic!("{ours:?}"));
    assert_eq!(server["parentSpanId"], "b7ad6b7169203331");
    assert_eq!(attribute(server, "http.route"), Some(&json!({"stringValue": "/traced/1.0.0/items"})));
    assert_eq!(ours.len(), 4, "server, authenticate, throttle, upstream: {ours:?}");
    assert_eq!(metric(&https, "apim_gateway_export_dropped_total{exporter=\"otlp\"}").await, 0, "{}", node.stderr());
    node.terminate();
}
