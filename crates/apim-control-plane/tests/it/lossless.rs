//! A lossless API object, through real sockets on SQLite, PostgreSQL and MariaDB: WSO2's API DTO with every field
//! populated from the examples in WSO2's document goes through POST, GET, PUT and GET and comes back as it was
//! sent (but for the fields the server computes, and the backend credentials, which are answered blank as WSO2
//! does and kept when the blank comes back); and two editors cannot overwrite each other (`ETag`, `If-Match`).

use apim_store::{ApiStore, Db};
use apim_test_support::TempDir;
use apim_test_support::db::{Backend, TestDb};
use serde_json::{Value, json};

use crate::{Cp, auth, connect, sqlite, start};

/// What the server answers of its own, whatever the client sent.
const COMPUTED: [&str; 10] = [
    "id",
    "hasThumbnail",
    "isRevision",
    "revisionId",
    "revisionedApiId",
    "workflowStatus",
    "createdTime",
    "lastUpdatedTime",
    "lastUpdatedTimestamp",
    "wsdlUrl",
];

/// WSO2's `API` schema, every property set, values from its examples (fixtures/specs/wso2-publisher-v4.yaml);
/// `name`, `context` and the endpoint configuration vary per call.
fn full_api(name: &str, context: &str, endpoint_config: Value) -> Value {
    let api = json!({
        "id": "01234567-0123-0123-0123-012345678901",
        "name": name,
        "description": "This is a simple API for Pizza Shack online pizza delivery store.",
        "context": context,
        "version": "1.0.0",
        "provider": "admin",
        "lifeCycleStatus": "CREATED",
        "wsdlInfo": {"type": "WSDL"},
        "wsdlUrl": "/apimgt/applicationdata/wsdls/admin--soap1.wsdl",
        "responseCachingEnabled": true,
        "cacheTimeout": 300,
        "hasThumbnail": true,
        "isDefaultVersion": false,
        "isRevision": true,
        "revisionedApiId": "01234567-0123-0123-0123-012345678901",
        "revisionId": 1,
        "enableSchemaValidation": false,
        "enableSubscriberVerification": false,
        "type": "HTTP",
        "audience": "PUBLIC",
        "audiences": ["aud1", "aud2", "aud3"],
        "transport": ["http", "https"],
        "tags": ["pizza", "food"],
        "policies": ["Unlimited", "Gold"],
        "apiThrottlingPolicy": "Unlimited",
        "authorizationHeader": "Authorization",
        "apiKeyHeader": "apiKey",
        "securityScheme": ["oauth2", "api_key"],
        "maxTps": {"production": 1000, "productionTimeUnit": "SECOND", "sandbox": 1000, "sandboxTimeUnit": "MINUTE",
            "tokenBasedThrottlingConfiguration": {"isTokenBasedThrottlingEnabled": false, "productionMaxPromptTokenCount": 100}},
        "visibility": "RESTRICTED",
        "visibleRoles": ["Internal/subscriber"],
        "visibleTenants": [],
        "mediationPolicies": [
            {"name": "json_to_xml_in_message", "type": "in"},
            {"name": "xml_to_json_out_message", "type": "out"},
            {"name": "json_fault", "type": "fault", "shared": true, "id": "5d2a2c3e-0000-0000-0000-000000000001"}
        ],
        "apiPolicies": {"request": [], "response": [], "fault": []},
        "subscriptionAvailability": "CURRENT_TENANT",
        "subscriptionAvailableTenants": [],
    });
    // Two halves: one json! of it all is past the macro recursion limit.
    let rest = json!({
        "additionalProperties": [{"name": "region", "value": "eu", "display": true}, {"name": "team", "value": "pizza", "display": false}],
        "additionalPropertiesMap": {
            "region": {"name": "region", "value": "eu", "display": true},
            "team": {"name": "team", "value": "pizza", "display": false}
        },
        "monetization": {"enabled": true, "properties": {"fixedPrice": "10", "pricePerRequest": "0.01", "currencyType": "USD"}},
        "accessControl": "RESTRICTED",
        "accessControlRoles": ["Internal/publisher", "Internal/creator"],
        "businessInformation": {"businessOwner": "Ann Owner", "businessOwnerEmail": "ann@pizza.example",
            "technicalOwner": "Tom Tech", "technicalOwnerEmail": "tom@pizza.example"},
        "corsConfiguration": {"corsConfigurationEnabled": true, "accessControlAllowOrigins": ["https://pizza.example"],
            "accessControlAllowCredentials": true, "accessControlAllowHeaders": ["authorization", "Content-Type", "apikey"],
            "accessControlAllowMethods": ["GET", "POST", "PUT", "DELETE", "OPTIONS"]},
        "websubSubscriptionConfiguration": {"enable": false, "secret": "whsec", "signingAlgorithm": "SHA1", "signatureHeader": "x-hub-signature"},
        "workflowStatus": "CREATED",
        "createdTime": "1",
        "lastUpdatedTimestamp": "2",
        "lastUpdatedTime": "2",
        "endpointConfig": endpoint_config,
        "endpointImplementationType": "ENDPOINT",
        "subtypeConfiguration": {"subtype": "DEFAULT", "configuration": {"model": "none"}},
        "scopes": [{"scope": {"name": "order_pizza", "displayName": "Order pizza", "description": "Place orders",
            "bindings": ["Internal/subscriber"]}, "shared": false}],
        "operations": [
            {"id": "op-1", "target": "/order/{orderId}", "verb": "POST", "authType": "Application & Application User",
             "throttlingPolicy": "Unlimited", "scopes": ["order_pizza"], "usedProductIds": [], "amznResourceName": "",
             "amznResourceTimeout": 0, "amznResourceContentEncode": false, "payloadSchema": "", "uriMapping": "",
             "operationPolicies": {"request": [], "response": [], "fault": []}},
            {"target": "/menu", "verb": "GET", "authType": "Application & Application User", "throttlingPolicy": "Unlimited",
             "scopes": []}
        ],
        "threatProtectionPolicies": {"list": [{"policyId": "json-threat", "priority": 1}]},
        "categories": ["Food"],
        "keyManagers": ["all"],
        "serviceInfo": {"key": "PetStore-1.0.0", "name": "PetStore", "version": "1.0.0", "outdated": false},
        "advertiseInfo": {"advertised": false, "apiExternalProductionEndpoint": "https://pizza.example/prod",
            "apiExternalSandboxEndpoint": "https://pizza.example/sand", "originalDevPortalUrl": "https://portal.example",
            "apiOwner": "admin", "vendor": "WSO2"},
        "gatewayVendor": "wso2",
        "gatewayType": "wso2/synapse",
        "asyncTransportProtocols": ["http", "https"],
        "egress": true
    });
    let mut api = api;
    if let (Some(a), Value::Object(r)) = (api.as_object_mut(), rest) {
        a.extend(r);
    }
    api
}

/// Load balancing with session affinity, per-endpoint advanced configuration and Basic/OAuth2 backend security
/// (WSO2's description of `endpointConfig`; nulls as WSO2's portal writes them).
fn load_balanced() -> Value {
    let advanced = json!({"actionDuration": "30000", "actionSelect": "fault", "retryTimeOut": "3", "retryDelay": "0",
        "suspendDuration": "0", "suspendMaxDuration": "0", "factor": "1.0", "retryErroCode": [], "suspendErrorCode": []});
    json!({
        "endpoint_type": "load_balance",
        "algoCombo": "org.apache.synapse.endpoints.algorithms.RoundRobin",
        "algoClassName": "org.apache.synapse.endpoints.algorithms.RoundRobin",
        "sessionManagement": "http",
        "sessionTimeOut": "30000",
        "failOver": false,
        "production_endpoints": [
            {"url": "https://localhost:9443/am/sample/pizzashack/v3/api/3", "config": advanced},
            {"endpoint_type": "http", "template_not_supported": false, "url": "https://localhost:9443/am/sample/pizzashack/v3/api/4", "config": null}
        ],
        "sandbox_endpoints": [
            {"url": "https://localhost:9443/am/sample/pizzashack/v3/api/1"},
            {"endpoint_type": "http", "template_not_supported": false, "url": "https://localhost:9443/am/sample/pizzashack/v3/api/2"}
        ],
        "endpoint_security": {
            "production": {"enabled": true, "type": "BASIC", "username": "pizza", "password": "s3cret", "grantType": "",
                "tokenUrl": "", "clientId": null, "clientSecret": null, "customParameters": {}, "additionalProperties": {},
                "uniqueIdentifier": null},
            "sandbox": {"enabled": true, "type": "OAUTH", "grantType": "CLIENT_CREDENTIALS", "tokenUrl": "https://idp.example/token",
                "clientId": "cid", "clientSecret": "csecret", "customParameters": {"audience": "pizza"}, "username": "", "password": "",
                "proxyConfigs": {"proxyEnabled": false}}
        }
    })
}

/// Failover with `production_failovers`/`sandbox_failovers` and Digest backend security.
fn failover() -> Value {
    json!({
        "endpoint_type": "failover",
        "production_endpoints": {"url": "https://localhost:9443/am/sample/pizzashack/v3/api/3", "config": {"actionDuration": 5000}},
        "production_failovers": [{"endpoint_type": "http", "template_not_supported": false, "url": "https://localhost:9443/am/sample/pizzashack/v3/api/1"}],
        "sandbox_endpoints": {"url": "https://localhost:9443/am/sample/pizzashack/v3/api/2"},
        "sandbox_failovers": [{"endpoint_type": "http", "template_not_supported": false, "url": "https://localhost:9443/am/sample/pizzashack/v3/api/4"}],
        "endpoint_security": {"production": {"enabled": true, "type": "DIGEST", "username": "pizza", "password": "digest-pw"}}
    })
}

fn etag_of(r: &apim_test_support::http::Response) -> String {
    r.headers.get("etag").and_then(|v| v.to_str().ok()).expect("ETag header").to_string()
}

/// `got` holds every field of `sent` unchanged (but the computed ones) and nothing else of its own.
fn assert_kept(sent: &Value, got: &Value) {
    let (sent, got) = (sent.as_object().expect("object"), got.as_object().expect("object"));
    for (k, v) in sent {
        if !COMPUTED.contains(&k.as_str()) {
            assert_eq!(got.get(k), Some(v), "field `{k}` changed or dropped");
        }
    }
    for k in got.keys() {
        assert!(sent.contains_key(k) || COMPUTED.contains(&k.as_str()), "field `{k}` added");
    }
}

/// Equal but for the update times.
fn assert_same_but_time(a: &Value, b: &Value) {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(o) = v.as_object_mut() {
            o.remove("lastUpdatedTime");
            o.remove("lastUpdatedTimestamp");
        }
        v
    };
    assert_eq!(strip(a), strip(b));
}

/// `sent` as WSO2 answers it: the backend credentials of `endpointConfig.endpoint_security` blanked.
fn answered(sent: &Value) -> Value {
    let mut v = sent.clone();
    if let Some(sec) = v["endpointConfig"]["endpoint_security"].as_object_mut() {
        for section in sec.values_mut().filter_map(Value::as_object_mut) {
            for field in ["password", "clientSecret"] {
                if section.get(field).is_some_and(|x| !x.is_null()) {
                    section.insert(field.into(), json!(""));
                }
            }
        }
    }
    v
}

/// The API's document as stored (what revisions, and so gateways, get).
async fn stored(cp: &Cp, id: &str) -> Value {
    let api = cp.db.get_api(id).await.expect("store").expect("API");
    serde_json::from_str(&api.document).expect("document")
}

async fn round_trip(cp: &Cp, name: &str, context: &str, endpoint_config: Value) -> String {
    let sent = full_api(name, context, endpoint_config);
    let r = cp.call("POST", "/apis", "admin", Some(sent.clone())).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let created = r.json();
    assert_kept(&answered(&sent), &created);
    let id = created["id"].as_str().expect("id").to_string();
    assert_ne!(id, sent["id"], "the server names the API");
    // Computed fields answered truly, whatever the client claimed.
    assert_eq!(
        (&created["hasThumbnail"], &created["isRevision"], &created["revisionId"], &created["workflowStatus"]),
        (&json!(false), &json!(false), &json!(0), &json!("APPROVED"))
    );
    assert!(created.get("revisionedApiId").is_none() && created.get("wsdlUrl").is_none(), "{created}");
    assert_ne!(created["createdTime"], "1");
    assert_eq!(created["lastUpdatedTime"], created["lastUpdatedTimestamp"]);

    let r = cp.call("GET", &format!("/apis/{id}"), "publisher", None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json(), created, "GET answers what POST did");
    let tag = etag_of(&r);

    // A portal PUTs back what it read, computed fields and all.
    let r = http_put(cp, &format!("/apis/{id}"), &r.json(), Some(&tag)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let updated = r.json();
    assert_same_but_time(&updated, &created);
    let r = cp.call("GET", &format!("/apis/{id}"), "publisher", None).await;
    assert_eq!(r.json(), updated, "GET answers what PUT did");
    assert_kept(&answered(&sent), &updated);
    // The blanks sent back left the credentials as they were.
    assert_eq!(stored(cp, &id).await["endpointConfig"], sent["endpointConfig"]);
    id
}

/// Backend credentials (WSO2 4.x): a publisher's GET does not show them, a PUT of what it read keeps them for
/// the gateways (revision and runtime state), a new value replaces them.
async fn backend_credentials(cp: &Cp) {
    let security = json!({
        "production": {"enabled": true, "type": "BASIC", "username": "pizza", "password": "real-pw"},
        "sandbox": {"enabled": true, "type": "OAUTH", "grantType": "CLIENT_CREDENTIALS", "tokenUrl": "https://idp.example/token",
            "clientId": "cid", "clientSecret": "real-cs",
            "proxyConfigs": {"proxyEnabled": true, "proxyHost": "proxy.example", "proxyPort": "3128", "proxyUsername": "pu",
                "proxyPassword": "real-proxy", "proxyProtocol": "http"},
            "customParameters": {"audience": {"value": "pizza", "secured": false}, "key": {"value": "real-param", "secured": true}}}
    });
    let mut api = crate::pizza("Vault", "/vault");
    api["endpointConfig"]["endpoint_security"] = security.clone();
    let r = cp.call("POST", "/apis", "admin", Some(api)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.json()["id"].as_str().expect("id").to_string();
    for secret in ["real-pw", "real-cs", "real-param", "real-proxy"] {
        assert!(!r.body.contains(secret), "{}", r.body);
    }

    let r = cp.call("GET", &format!("/apis/{id}"), "publisher", None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    for secret in ["real-pw", "real-cs", "real-param", "real-proxy"] {
        assert!(!r.body.contains(secret), "a publisher reads {secret}: {}", r.body);
    }
    // Nor does a content search tell whether a guess is in there.
    for query in ["content:real-pw", "real-cs", "content:real-param", "real-proxy", "content:%22password%22"] {
        let r = cp.call("GET", &format!("/apis?query={query}"), "publisher", None).await;
        assert_eq!((r.status, r.json()["count"].as_i64()), (200, Some(0)), "{query}: {}", r.body);
    }
    let read = r.json();
    let sec = &read["endpointConfig"]["endpoint_security"];
    assert_eq!((&sec["production"]["password"], &sec["production"]["username"]), (&json!(""), &json!("pizza")));
    assert_eq!((&sec["sandbox"]["clientSecret"], &sec["sandbox"]["clientId"]), (&json!(""), &json!("cid")));
    assert_eq!(
        (&sec["sandbox"]["proxyConfigs"]["proxyPassword"], &sec["sandbox"]["proxyConfigs"]["proxyUsername"]),
        (&json!(""), &json!("pu"))
    );
    assert_eq!(
        sec["sandbox"]["customParameters"],
        json!({"audience": {"value": "pizza", "secured": false}, "key": {"value": "", "secured": true}})
    );

    // The portal's GET-edit-PUT: the credentials stay, in the API and in what gateways are sent.
    let mut edited = read.clone();
    edited["description"] = json!("edited");
    let r =
        http_put(cp, &format!("/apis/{id}"), &edited, Some(&etag_of(&cp.call("GET", &format!("/apis/{id}"), "admin", None).await))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!r.body.contains("real-pw"), "{}", r.body);
    assert_eq!(stored(cp, &id).await["endpointConfig"]["endpoint_security"], security);
    let rev = cp.call("POST", &format!("/apis/{id}/revisions"), "admin", Some(json!({}))).await.json();
    let rev = rev["id"].as_str().expect("revision id").to_string();
    let revision = cp.db.get_revision(&id, &rev).await.expect("store").expect("revision");
    let revision: Value = serde_json::from_str(&revision.document).expect("document");
    assert_eq!(revision["endpointConfig"]["endpoint_security"], security);
    let r = cp.call("POST", &format!("/apis/{id}/deploy-revision?revisionId={rev}"), "admin", Some(json!([{"name": "Default"}]))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let hub = format!("Basic {}", base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "hub:hub-pw"));
    let r = apim_test_support::http::request(
        "GET",
        &format!("{}/internal/data/v1/runtime-artifacts?gatewayLabel=Default&apiId={id}", cp.base),
        &[("authorization", hub.as_str())],
        "",
    )
    .await
    .expect("request");
    assert_eq!(r.status, 200, "{}", r.body);
    let runtime = r.json();
    let deployed = runtime["apis"].as_array().and_then(|a| a.iter().find(|x| x["id"] == id.as_str())).expect("deployed API");
    assert_eq!(deployed["definition"]["endpointConfig"]["endpoint_security"], security, "gateways get the real credentials");

    // A new value replaces the stored one; the blank one beside it still keeps its own.
    let mut changed = cp.call("GET", &format!("/apis/{id}"), "publisher", None).await.json();
    changed["endpointConfig"]["endpoint_security"]["production"]["password"] = json!("new-pw");
    let r = http_put(cp, &format!("/apis/{id}"), &changed, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["endpointConfig"]["endpoint_security"]["production"]["password"], "");
    let now = stored(cp, &id).await;
    let sec = &now["endpointConfig"]["endpoint_security"];
    assert_eq!((&sec["production"]["password"], &sec["sandbox"]["clientSecret"]), (&json!("new-pw"), &json!("real-cs")));
    assert_eq!(sec["sandbox"]["customParameters"]["key"]["value"], "real-param");
}

async fn http_put(cp: &Cp, path: &str, body: &Value, if_match: Option<&str>) -> apim_test_support::http::Response {
    let a = auth("admin");
    let mut headers = vec![("authorization", a.as_str()), ("content-type", "application/json")];
    if let Some(t) = if_match {
        headers.push(("if-match", t));
    }
    apim_test_support::http::request("PUT", &format!("{}/api/am/publisher/v4{path}", cp.base), &headers, &body.to_string())
        .await
        .expect("request")
}

async fn suite(db: Db) {
    let cp = start(db).await;
    let r = cp.admin("POST", "/api-categories", "admin", Some(json!({"name": "Food", "description": "Things to eat"}))).await;
    assert_eq!(r.status, 201, "{}", r.body);

    backend_credentials(&cp).await;
    round_trip(&cp, "PizzaShackLB", "/pizzashack-lb", load_balanced()).await;
    let id = round_trip(&cp, "PizzaShackFO", "/pizzashack-fo", failover()).await;

    // Only the form of the custom properties given is sent: the other is derived.
    let mut only_list = full_api("Props", "/props", failover());
    only_list.as_object_mut().expect("object").remove("additionalPropertiesMap");
    let r = cp.call("POST", "/apis", "admin", Some(only_list.clone())).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["additionalPropertiesMap"], full_api("", "", json!({}))["additionalPropertiesMap"]);
    let props_id = r.json()["id"].as_str().expect("id").to_string();
    let mut only_map = r.json();
    only_map.as_object_mut().expect("object").remove("additionalProperties");
    let r = http_put(&cp, &format!("/apis/{props_id}"), &only_map, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["additionalProperties"], only_list["additionalProperties"]);

    // WSO2's answers carry nulls for unset nested fields; they read as unset, and are kept.
    let mut with_nulls = cp.call("GET", &format!("/apis/{id}"), "admin", None).await.json();
    with_nulls["businessInformation"]["technicalOwner"] = Value::Null;
    with_nulls["corsConfiguration"]["accessControlAllowOrigins"] = Value::Null;
    let r = http_put(&cp, &format!("/apis/{id}"), &with_nulls, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["businessInformation"]["technicalOwner"], Value::Null);

    // A thumbnail shows in `hasThumbnail` (and in the ETag: the answer changed).
    let before = etag_of(&cp.call("GET", &format!("/apis/{id}"), "admin", None).await);
    let r =
        cp.multipart("PUT", &format!("/apis/{id}/thumbnail"), "admin", &[("file", "<svg xmlns=\"http://www.w3.org/2000/svg\"/>")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = cp.call("GET", &format!("/apis/{id}"), "admin", None).await;
    assert_eq!(r.json()["hasThumbnail"], true);
    assert_ne!(etag_of(&r), before);

    // The OpenAPI definition is the server's: a PUT and a lifecycle change keep it, a client's field never sets it.
    let r = cp.multipart("POST", "/apis/import-openapi", "admin", &[("file", crate::PETSTORE_YAML)]).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let pets = r.json()["id"].as_str().expect("id").to_string();
    let imported = cp.call("GET", &format!("/apis/{pets}/swagger"), "admin", None).await.json();
    assert!(imported["paths"].as_object().is_some_and(|p| !p.is_empty()), "{imported}");
    let mut read = cp.call("GET", &format!("/apis/{pets}"), "admin", None).await.json();
    read["x-apim-definition"] = json!({"openapi": "3.0.1", "info": {"title": "injected", "version": "1"}, "paths": {}});
    assert_eq!(http_put(&cp, &format!("/apis/{pets}"), &read, None).await.status, 200);
    let rev = cp.call("POST", &format!("/apis/{pets}/revisions"), "admin", Some(json!({}))).await.json();
    let rev = rev["id"].as_str().expect("revision id");
    let r = cp.call("POST", &format!("/apis/{pets}/deploy-revision?revisionId={rev}"), "admin", Some(json!([{"name": "Default"}]))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = cp.call("POST", &format!("/apis/change-lifecycle?apiId={pets}&action=Publish"), "admin", None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(cp.call("GET", &format!("/apis/{pets}/swagger"), "admin", None).await.json(), imported);
    // apictl undeploys by revision number (`undeploy api --rev 1`).
    let undeploy = |n: &str| format!("/apis/{pets}/undeploy-revision?revisionNumber={n}");
    let r = cp.call("POST", &undeploy("9"), "admin", Some(json!([{"name": "Default"}]))).await;
    assert_eq!((r.status, r.json()["error"][0]["message"].as_str()), (400, Some("revisionNumber")), "{}", r.body);
    let r = cp.call("POST", &undeploy("1"), "admin", Some(json!([{"name": "Default"}]))).await;
    assert_eq!((r.status, r.json()), (201, json!([])), "{}", r.body);

    // Two editors read the API; the first saves, the second's save is refused with WSO2's error body.
    let read = cp.call("GET", &format!("/apis/{id}"), "admin", None).await;
    let (tag, mut first) = (etag_of(&read), read.json());
    let mut second = first.clone();
    first["description"] = json!("first editor");
    second["description"] = json!("second editor");
    let r = http_put(&cp, &format!("/apis/{id}"), &first, Some(&tag)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let new_tag = etag_of(&r);
    assert_ne!(new_tag, tag);
    let r = http_put(&cp, &format!("/apis/{id}"), &second, Some(&tag)).await;
    assert_eq!(r.status, 412, "{}", r.body);
    let e = r.json();
    assert_eq!((e["code"].as_i64(), e["message"].as_str()), (Some(412), Some("Precondition Failed")), "{e}");
    assert!(e["description"].as_str().is_some_and(|d| d.contains(&id)), "{e}");
    let r = cp.call("GET", &format!("/apis/{id}"), "admin", None).await;
    assert_eq!((r.json()["description"].as_str(), etag_of(&r)), (Some("first editor"), new_tag.clone()));
    // A list of tags, `*`, and no header at all (the last writer wins, as in WSO2) get through; a weak tag never does.
    assert_eq!(http_put(&cp, &format!("/apis/{id}"), &second, Some(&format!("W/{new_tag}"))).await.status, 412);
    assert_eq!(http_put(&cp, &format!("/apis/{id}"), &second, Some(&format!("\"x\", {new_tag}"))).await.status, 200);
    assert_eq!(http_put(&cp, &format!("/apis/{id}"), &first, Some("*")).await.status, 200);
    assert_eq!(http_put(&cp, &format!("/apis/{id}"), &second, None).await.status, 200);
    assert_eq!(http_put(&cp, "/apis/no-such-api", &second, Some("*")).await.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lossless_api_on_sqlite() {
    let dir = TempDir::new("apim-cp-lossless");
    suite(connect(&sqlite(&dir)).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lossless_api_on_postgres() {
    let Some(tdb) = TestDb::create(Backend::Postgres).await else { return };
    suite(connect(&tdb.toml_fields()).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lossless_api_on_mariadb() {
    let Some(tdb) = TestDb::create(Backend::MySql).await else { return };
    suite(connect(&tdb.toml_fields()).await).await;
}
