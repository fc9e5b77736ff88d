//! What the portals need around the core flow, through real sockets: settings (anonymous and signed in), role
//! checks and the password change.

use apim_test_support::http;
use base64::Engine;
use serde_json::{Value, json};

use crate::{Cp, auth};

fn role_id(name: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(name)
}

/// A call with no credentials, or with the `Authorization` value given.
async fn raw(cp: &Cp, method: &str, path: &str, authorization: Option<&str>, body: &str) -> http::Response {
    let mut headers = vec![("content-type", "application/json")];
    if let Some(a) = authorization {
        headers.push(("authorization", a));
    }
    http::request(method, &format!("{}{path}", cp.base), &headers, body).await.expect("request")
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default()
}

pub(crate) async fn settings_and_identity(cp: &Cp) {
    // Publisher: scopes for the login page to anyone; environments only to publishers and creators.
    let anon = raw(cp, "GET", "/api/am/publisher/v4/settings", None, "").await;
    assert_eq!(anon.status, 200, "{}", anon.body);
    let s = anon.json();
    assert!(strings(&s["scopes"]).contains(&"apim:api_create"), "{s}");
    assert!(strings(&s["scopes"]).contains(&"apim:publisher_settings"), "{s}");
    assert_eq!(s["gatewayTypes"], json!(["Regular"]));
    assert!(s.get("environment").is_none(), "anonymous callers see no environments: {s}");
    let bad = raw(cp, "GET", "/api/am/publisher/v4/settings", Some("Basic bm9ib2R5Om5vcGU="), "").await;
    assert_eq!(bad.status, 401, "wrong credentials are refused, not taken as anonymous");
    let s = cp.call("GET", "/settings", "creator", None).await.json();
    let envs = s["environment"].as_array().expect("environments");
    assert_eq!(envs.len(), 2, "{s}");
    assert_eq!((envs[0]["name"].as_str(), envs[0]["showInApiConsole"].as_bool()), (Some("Default"), Some(true)));
    assert_eq!(
        envs[0]["vhosts"][0],
        json!({"host": "localhost", "httpContext": "", "httpPort": 8280, "httpsPort": 8243, "wsPort": 9099,
        "wsHost": "localhost", "wssPort": 8099, "wssHost": "localhost"})
    );
    assert_eq!(
        (envs[1]["serverUrl"].as_str(), envs[1]["showInApiConsole"].as_bool()),
        (Some("https://edge.local:9443/services/"), Some(false))
    );
    let uris: Vec<&str> = envs[1]["endpointURIs"].as_array().expect("uris").iter().filter_map(|u| u["endpointURI"].as_str()).collect();
    assert!(uris.contains(&"https://edge.local:443/edge") && uris.contains(&"http://edge.local:8280/edge"), "{uris:?}");
    assert_eq!(s["defaultSubscriptionPolicy"], "Unlimited");
    // A subscriber is told only what anyone is.
    assert!(cp.call("GET", "/settings", "subscriber", None).await.json().get("environment").is_none());

    // DevPortal: the whole document to anyone.
    let s = raw(cp, "GET", "/api/am/devportal/v3/settings", None, "").await.json();
    assert!(strings(&s["grantTypes"]).contains(&"client_credentials"), "{s}");
    assert!(strings(&s["scopes"]).contains(&"apim:subscribe"), "{s}");
    assert_eq!((s["IsAnonymousModeEnabled"].as_bool(), s["applicationSharingEnabled"].as_bool()), (Some(true), Some(false)));
    assert_eq!(s["apiGatewayEndpoint"], "http://localhost:8280,https://localhost:8243");
    let attrs = cp.portal("GET", "/settings/application-attributes", "subscriber", None).await;
    assert_eq!((attrs.status, attrs.json()), (200, json!({"count": 0, "list": []})));
    assert_eq!(raw(cp, "GET", "/api/am/devportal/v3/settings/application-attributes", None, "").await.status, 401);

    // Admin: scopes to anyone, connector definitions to admins.
    let s = raw(cp, "GET", "/api/am/admin/v4/settings", None, "").await.json();
    assert!(strings(&s["scopes"]).contains(&"apim:admin"), "{s}");
    assert!(s.get("keyManagerConfiguration").is_none(), "{s}");
    let s = cp.admin("GET", "/settings", "admin", None).await.json();
    assert_eq!((s["keyManagerConfiguration"][0]["type"].as_str(), s["analyticsEnabled"].as_bool()), (Some("default"), Some(false)));

    // Roles: the role exists; the caller holds it.
    let publisher_role = role_id("Internal/publisher");
    assert_eq!(cp.call("HEAD", &format!("/roles/{publisher_role}"), "creator", None).await.status, 200);
    // WSO2's own example: padding and a trailing tab in the encoded name.
    assert_eq!(cp.call("HEAD", "/roles/SW50ZXJuYWwvcHVibGlzaGVyCQ", "creator", None).await.status, 200);
    assert_eq!(cp.call("HEAD", &format!("/roles/{}", role_id("Internal/nobody")), "creator", None).await.status, 404);
    assert_eq!(cp.call("HEAD", "/roles/not*base64", "creator", None).await.status, 400);
    assert_eq!(cp.call("HEAD", &format!("/roles/{publisher_role}"), "subscriber", None).await.status, 403);
    assert_eq!(cp.call("HEAD", &format!("/me/roles/{}", role_id("Internal/creator")), "creator", None).await.status, 200);
    assert_eq!(cp.call("HEAD", &format!("/me/roles/{publisher_role}"), "creator", None).await.status, 404);
    assert_eq!(cp.admin("HEAD", &format!("/roles/{}", role_id("admin")), "admin", None).await.status, 200);
    assert_eq!(cp.admin("HEAD", &format!("/roles/{}", role_id("admin")), "creator", None).await.status, 403);

    // Password change: each mistake named, then the new password works at once and the old one does not.
    for (body, field) in [
        (json!({"newPassword": "fresh-pw-1"}), "currentPassword"),
        (json!({"currentPassword": "other-pw"}), "newPassword"),
        (json!({"currentPassword": "other-pw", "newPassword": "abc"}), "newPassword"),
        (json!({"currentPassword": "other-pw", "newPassword": "has space"}), "newPassword"),
        (json!({"currentPassword": "wrong", "newPassword": "fresh-pw-1"}), "currentPassword"),
    ] {
        let r = cp.portal("POST", "/me/change-password", "other", Some(body.clone())).await;
        assert_eq!((r.status, r.json()["error"][0]["message"].as_str()), (400, Some(field)), "{body}: {}", r.body);
    }
    assert_eq!(cp.portal("POST", "/me/change-password", "other", Some(json!([1]))).await.status, 400);
    let r =
        cp.portal("POST", "/me/change-password", "other", Some(json!({"currentPassword": "other-pw", "newPassword": "fresh-pw-1"}))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(cp.portal("GET", "/applications", "other", None).await.status, 401, "the old password stops working at once");
    let fresh = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("other:fresh-pw-1"));
    let back = raw(
        cp,
        "POST",
        "/api/am/devportal/v3/me/change-password",
        Some(&fresh),
        r#"{"currentPassword":"fresh-pw-1","newPassword":"other-pw"}"#,
    )
    .await;
    assert_eq!(back.status, 200, "{}", back.body);
    assert_eq!(raw(cp, "GET", "/api/am/devportal/v3/applications", Some(&auth("other")), "").await.status, 200);
}
