//! `GET/POST /oauth2/authorize`: the authorization-code flow with a plain login page. Errors about the client
//! or the redirect URI are shown on the page (never redirected to an unverified URI); the rest go back to the
//! client's redirect URI as RFC 6749 §4.1.2.1 says.

use std::sync::Arc;

use apim_domain::oauth::{AuthCode, OAuthClient};
use apim_store::OAuthStore;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::KeyManager;
use crate::form::Form;
use crate::scope;
use apim_jose::crypto::{random_token, sha256_hex};

/// A validated authorization request.
struct AuthRequest {
    client: OAuthClient,
    redirect_uri: String,
    scope: String,
    state: Option<String>,
    code_challenge: String,
}

enum Reject {
    /// Shown on the page: the redirect URI cannot be trusted.
    Page(StatusCode, String),
    /// Sent back to the client.
    Redirect(String, &'static str, String, Option<String>),
}

async fn validate(km: &KeyManager, f: &Form) -> Result<AuthRequest, Reject> {
    let page = |m: &str| Reject::Page(StatusCode::BAD_REQUEST, m.to_string());
    let client_id = f.get("client_id").ok_or_else(|| page("missing parameter client_id"))?;
    let client = match km.db.get_client(client_id).await {
        Ok(Some(c)) => c,
        Ok(None) => return Err(page("unknown client_id")),
        Err(e) => {
            tracing::error!(error = %e, "authorize: storage failure");
            return Err(Reject::Page(StatusCode::SERVICE_UNAVAILABLE, "the server cannot reach its database; retry later".into()));
        }
    };
    let redirect_uri = match f.get("redirect_uri") {
        Some(u) if client.redirect_uris.iter().any(|r| r == u) => u.to_string(),
        Some(_) => return Err(page("redirect_uri is not registered for this client")),
        None if client.redirect_uris.len() == 1 => client.redirect_uris[0].clone(),
        None => return Err(page("redirect_uri is required")),
    };
    let state = f.get("state").map(str::to_string);
    let back = |code: &'static str, d: &str| Reject::Redirect(redirect_uri.clone(), code, d.to_string(), state.clone());
    if f.get("response_type") != Some("code") {
        return Err(back("unsupported_response_type", "response_type must be code"));
    }
    if !client.grant_types.iter().any(|g| g == "authorization_code") {
        return Err(back("unauthorized_client", "the client may not use the authorization_code grant"));
    }
    let code_challenge = match (f.get("code_challenge"), f.get("code_challenge_method")) {
        (None, None) => String::new(),
        (None, Some(_)) => return Err(back("invalid_request", "code_challenge_method without code_challenge")),
        (Some(_), Some(m)) if m != "S256" => return Err(back("invalid_request", "only the S256 code_challenge_method is supported")),
        (Some(_), None) => return Err(back("invalid_request", "code_challenge_method must be S256 (plain is not supported)")),
        (Some(c), Some(_)) => {
            if c.len() != 43 || !c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_') {
                return Err(back("invalid_request", "code_challenge must be a base64url SHA-256 (43 characters)"));
            }
            c.to_string()
        }
    };
    if code_challenge.is_empty() && client.is_public() {
        return Err(back("invalid_request", "a public client must send a code_challenge (PKCE S256)"));
    }
    let scope = match scope::parse(f.get("scope")) {
        Ok(s) => s.join(" "),
        Err(_) => return Err(back("invalid_scope", "the scope is malformed")),
    };
    Ok(AuthRequest { client, redirect_uri, scope, state, code_challenge })
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

fn login_page(f: &Form, req: &AuthRequest, error: Option<&str>) -> Response {
    let hidden: String = ["client_id", "redirect_uri", "response_type", "scope", "state", "code_challenge", "code_challenge_method"]
        .iter()
        .filter_map(|k| f.get(k).map(|v| format!("<input type=\"hidden\" name=\"{k}\" value=\"{}\">", escape(v))))
        .collect();
    let error = error.map(|e| format!("<p class=\"error\">{}</p>", escape(e))).unwrap_or_default();
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Sign in</title></head><body>\
         <h1>Sign in</h1><p>{} asks to access your account{}.</p>{error}\
         <form method=\"post\" action=\"/oauth2/authorize\">{hidden}\
         <label>Username <input name=\"username\" autocomplete=\"username\"></label>\
         <label>Password <input name=\"password\" type=\"password\" autocomplete=\"current-password\"></label>\
         <button type=\"submit\">Sign in</button></form></body></html>",
        escape(&req.client.client_name),
        if req.scope.is_empty() { String::new() } else { format!(" (scope: {})", escape(&req.scope)) }
    );
    let status = if error.is_empty() { StatusCode::OK } else { StatusCode::UNAUTHORIZED };
    let mut r = (status, Html(html)).into_response();
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r.headers_mut().insert("x-frame-options", HeaderValue::from_static("DENY"));
    r
}

fn redirect(uri: &str, params: &[(&str, &str)]) -> Response {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        q.append_pair(k, v);
    }
    let sep = if uri.contains('?') { '&' } else { '?' };
    let location = format!("{uri}{sep}{}", q.finish());
    match HeaderValue::from_str(&location) {
        Ok(v) => {
            let mut r = StatusCode::FOUND.into_response();
            r.headers_mut().insert(header::LOCATION, v);
            r
        }
        Err(_) => (StatusCode::BAD_REQUEST, Html("invalid redirect URI".to_string())).into_response(),
    }
}

fn reject(r: Reject) -> Response {
    match r {
        Reject::Page(status, m) => {
            (status, Html(format!("<!doctype html><html><body><h1>Authorization error</h1><p>{}</p></body></html>", escape(&m))))
                .into_response()
        }
        Reject::Redirect(uri, code, desc, state) => {
            let mut p = vec![("error", code), ("error_description", desc.as_str())];
            if let Some(s) = &state {
                p.push(("state", s));
            }
            redirect(&uri, &p)
        }
    }
}

pub async fn show(State(km): State<Arc<KeyManager>>, RawQuery(q): RawQuery) -> Response {
    let f = match Form::parse(q.unwrap_or_default().as_bytes()) {
        Ok(f) => f,
        Err(e) => return reject(Reject::Page(StatusCode::BAD_REQUEST, e.description)),
    };
    match validate(&km, &f).await {
        Ok(req) => login_page(&f, &req, None),
        Err(r) => reject(r),
    }
}

pub async fn submit(State(km): State<Arc<KeyManager>>, headers: HeaderMap, body: Bytes) -> Response {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !ct.starts_with("application/x-www-form-urlencoded") {
        return reject(Reject::Page(StatusCode::BAD_REQUEST, "the form must be application/x-www-form-urlencoded".into()));
    }
    let f = match Form::parse(&body) {
        Ok(f) => f,
        Err(e) => return reject(Reject::Page(StatusCode::BAD_REQUEST, e.description)),
    };
    let req = match validate(&km, &f).await {
        Ok(r) => r,
        Err(r) => return reject(r),
    };
    let (Some(user), Some(pass)) = (f.get("username"), f.get("password")) else {
        return login_page(&f, &req, Some("enter your username and password"));
    };
    let roles = match km.authenticate_user(user, pass).await {
        Ok(Some(roles)) => roles,
        Ok(None) => return login_page(&f, &req, Some("wrong username or password")),
        Err(e) => return e.into_response(),
    };
    let scopes = scope::allowed_for(req.scope.split(' ').filter(|s| !s.is_empty()).map(str::to_string).collect(), &roles);
    let code = random_token();
    let record = AuthCode {
        code_hash: sha256_hex(&code),
        client_id: req.client.client_id.clone(),
        subject: user.to_string(),
        scope: scope::issued(&scopes),
        redirect_uri: req.redirect_uri.clone(),
        code_challenge: req.code_challenge.clone(),
        family_id: uuid::Uuid::now_v7().to_string(),
        expires_at: km.clock.unix_secs() + km.cfg.code_ttl,
    };
    if let Err(e) = km.db.insert_code(&record).await {
        return crate::error::OAuthError::server(e).into_response();
    }
    let mut p = vec![("code", code.as_str())];
    if let Some(s) = &req.state {
        p.push(("state", s));
    }
    redirect(&req.redirect_uri, &p)
}
