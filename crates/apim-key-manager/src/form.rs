//! Request parsing shared by the endpoints: form bodies that reject duplicated parameters (RFC 6749 §3.2), and
//! HTTP Basic credentials.

use std::collections::HashMap;

use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::error::OAuthError;

pub struct Form(HashMap<String, String>);

impl Form {
    pub fn parse(body: &[u8]) -> Result<Form, OAuthError> {
        let mut map = HashMap::new();
        for (k, v) in form_urlencoded::parse(body) {
            if map.insert(k.to_string(), v.to_string()).is_some() {
                return Err(OAuthError::invalid_request(format!("parameter `{k}` is repeated")));
            }
        }
        Ok(Form(map))
    }

    /// A parameter; an empty value counts as absent (RFC 6749 §3.1).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }

    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name).ok_or_else(|| OAuthError::invalid_request(format!("missing parameter `{name}`")))
    }
}

/// `Authorization: Basic`, decoded: Ok(None) when absent; Err when present but malformed.
/// Client credentials are form-urlencoded inside Basic (RFC 6749 §2.3.1).
pub fn basic(headers: &HeaderMap, url_decode: bool) -> Result<Option<(String, String)>, OAuthError> {
    let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else { return Ok(None) };
    let value = value.to_str().map_err(|_| OAuthError::invalid_client("malformed Authorization header"))?;
    let Some(encoded) = value.strip_prefix("Basic ").or_else(|| value.strip_prefix("basic ")) else {
        return Err(OAuthError::invalid_client("the Authorization header must use the Basic scheme"));
    };
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| OAuthError::invalid_client("malformed Basic credentials: not base64"))?;
    let text = String::from_utf8(decoded).map_err(|_| OAuthError::invalid_client("malformed Basic credentials: not UTF-8"))?;
    let (user, pass) = text.split_once(':').ok_or_else(|| OAuthError::invalid_client("malformed Basic credentials: no `:`"))?;
    if url_decode {
        let dec = |s: &str| form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.to_string()).unwrap_or_default();
        return Ok(Some((dec(user), dec(pass))));
    }
    Ok(Some((user.to_string(), pass.to_string())))
}

/// `Authorization: Bearer`.
pub fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    v.strip_prefix("Bearer ").map(|t| t.trim().to_string())
}
