//! A public client (a portal in the browser): registered by id with no secret, it signs a user in with the
//! authorization code bound to PKCE, refreshes and revokes by `client_id` alone, and can do nothing else.

use apim_test_support::{TempDir, http};

use crate::{basic, connect, enc, post_form, rsa_key, sqlite_db, start, users};

const REDIRECT: &str = "https://localhost:9443/publisher/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_client_signs_in_with_pkce_and_no_secret() {
    let dir = TempDir::new("apim-km-public");
    let db = connect(&sqlite_db(&dir)).await;
    users(&db).await;
    let n = start(&db, crate::config("http://127.0.0.1:9/notify"), &rsa_key()).await;
    n.km.register_public_client("apim_publisher", "Publisher", "admin", &[REDIRECT.to_string()]).await.expect("register");
    // Again, as a restarted control plane does: nothing changes, nothing fails.
    n.km.register_public_client("apim_publisher", "Publisher", "admin", &[REDIRECT.to_string()]).await.expect("register again");

    let authorize = |challenge: Option<&str>| {
        let mut q =
            format!("response_type=code&client_id=apim_publisher&redirect_uri={}&scope=apim:api_view%20apim:admin&state=s1", enc(REDIRECT));
        if let Some(c) = challenge {
            q.push_str(&format!("&code_challenge={c}&code_challenge_method=S256"));
        }
        q
    };
    // Without PKCE the request goes back to the portal refused.
    let refused =
        post_form(&format!("{}/oauth2/authorize", n.base), None, &format!("{}&username=creator&password=creator-pw", authorize(None)))
            .await;
    let location = refused.headers.get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    assert!(location.starts_with(REDIRECT) && location.contains("error=invalid_request"), "{location}");

    let page = http::get(&format!("{}/oauth2/authorize?{}", n.base, authorize(Some(CHALLENGE)))).await.expect("page");
    assert_eq!(page.status, 200);
    let ok = post_form(
        &format!("{}/oauth2/authorize", n.base),
        None,
        &format!("{}&username=creator&password=creator-pw", authorize(Some(CHALLENGE))),
    )
    .await;
    assert_eq!(ok.status, 302, "{}", ok.body);
    let location = ok.headers.get("location").and_then(|v| v.to_str().ok()).expect("location").to_string();
    let code = location.split("code=").nth(1).and_then(|s| s.split('&').next()).expect("code").to_string();

    let redeem = |verifier: &str| {
        format!(
            "grant_type=authorization_code&code={code}&redirect_uri={}&client_id=apim_publisher&code_verifier={verifier}",
            enc(REDIRECT)
        )
    };
    let issued = post_form(&format!("{}/oauth2/token", n.base), None, &redeem(VERIFIER)).await;
    assert_eq!(issued.status, 200, "{}", issued.body);
    let body = issued.json();
    assert_eq!(body["scope"], "apim:api_view", "the creator's roles bound the scopes");
    let (access, refresh) =
        (body["access_token"].as_str().expect("access").to_string(), body["refresh_token"].as_str().expect("refresh").to_string());

    // A secret never authenticates it, and it may use no other grant nor introspect.
    let with_secret =
        post_form(&format!("{}/oauth2/token", n.base), Some(&basic("apim_publisher", "")), "grant_type=refresh_token&refresh_token=x")
            .await;
    assert_eq!(with_secret.json()["error"], "invalid_client");
    let password = post_form(
        &format!("{}/oauth2/token", n.base),
        None,
        "grant_type=password&username=creator&password=creator-pw&client_id=apim_publisher",
    )
    .await;
    assert_eq!(password.json()["error"], "unauthorized_client");
    let introspect = post_form(&format!("{}/oauth2/introspect", n.base), None, &format!("token={access}&client_id=apim_publisher")).await;
    assert_eq!(introspect.json()["error"], "unauthorized_client");

    let refreshed = post_form(
        &format!("{}/oauth2/token", n.base),
        None,
        &format!("grant_type=refresh_token&refresh_token={refresh}&client_id=apim_publisher"),
    )
    .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    let refresh2 = refreshed.json()["refresh_token"].as_str().expect("rotated").to_string();

    let revoked = post_form(
        &format!("{}/oauth2/revoke", n.base),
        None,
        &format!("token={refresh2}&token_type_hint=refresh_token&client_id=apim_publisher"),
    )
    .await;
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    let after = post_form(
        &format!("{}/oauth2/token", n.base),
        None,
        &format!("grant_type=refresh_token&refresh_token={refresh2}&client_id=apim_publisher"),
    )
    .await;
    assert_eq!(after.json()["error"], "invalid_grant");

    // A confidential client's code still needs its secret.
    let unknown = post_form(&format!("{}/oauth2/token", n.base), None, "grant_type=authorization_code&code=x&client_id=nobody").await;
    assert_eq!(unknown.json()["error"], "invalid_client");
}
