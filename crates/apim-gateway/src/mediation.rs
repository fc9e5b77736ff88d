//! Operation policies as the request path runs them: compiled once per snapshot from the checked actions of
//! `apim_domain::policy` (header names and values made once), applied to the request on its way to the backend and
//! to the response on its way back. WSO2's order: on the request the API's policies, then the operation's; on
//! the response the operation's, then the API's.

use std::borrow::Cow;

use apim_domain::policy::{Action, Flows};
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::Method;

#[derive(Debug)]
enum Step {
    AddHeader(HeaderName, HeaderValue),
    RemoveHeader(HeaderName),
    AddQuery(String, String),
    RemoveQuery(String),
    Method { to: Method, only_from: Option<Method> },
    Path { path: String, keep_query: bool },
}

/// One resource's policies, ready to run.
#[derive(Debug, Default)]
pub struct Mediation {
    request: Vec<Step>,
    response: Vec<Step>,
}

impl Mediation {
    /// The API's and the operation's flows together; `Err` names an action a gateway cannot build (the control
    /// plane's check makes this unreachable for APIs it saved).
    pub fn compile(api: &Flows, operation: &Flows) -> Result<Option<Box<Mediation>>, String> {
        if api.is_empty() && operation.is_empty() {
            return Ok(None);
        }
        let mut m = Mediation::default();
        for a in api.request.iter().chain(&operation.request) {
            m.request.push(step(a)?);
        }
        for a in operation.response.iter().chain(&api.response) {
            m.response.push(step(a)?);
        }
        Ok(Some(Box::new(m)))
    }

    /// The request as the backend gets it: headers changed in place, and the method, resource path and query
    /// replaced when a policy says so.
    pub fn request<'a>(&self, headers: &mut HeaderMap, method: &mut Method, path: &mut Cow<'a, str>, query: &mut Option<Cow<'a, str>>) {
        for s in &self.request {
            match s {
                Step::AddHeader(n, v) => {
                    headers.insert(n.clone(), v.clone());
                }
                Step::RemoveHeader(n) => {
                    headers.remove(n);
                }
                Step::AddQuery(k, v) => {
                    let mut q = form_urlencoded::Serializer::new(query.as_deref().map(str::to_string).unwrap_or_default());
                    q.append_pair(k, v);
                    *query = Some(Cow::Owned(q.finish()));
                }
                Step::RemoveQuery(k) => {
                    if let Some(q) = query.as_deref() {
                        let kept: Vec<(String, String)> = form_urlencoded::parse(q.as_bytes())
                            .filter(|(name, _)| name != k)
                            .map(|(name, v)| (name.into_owned(), v.into_owned()))
                            .collect();
                        *query = (!kept.is_empty())
                            .then(|| Cow::Owned(form_urlencoded::Serializer::new(String::new()).extend_pairs(kept).finish()));
                    }
                }
                Step::Method { to, only_from } => {
                    if only_from.as_ref().is_none_or(|from| from == method) {
                        *method = to.clone();
                    }
                }
                Step::Path { path: p, keep_query } => {
                    *path = Cow::Owned(p.clone());
                    if !keep_query {
                        *query = None;
                    }
                }
            }
        }
    }

    /// The backend's response headers as the client gets them.
    pub fn response(&self, headers: &mut HeaderMap) {
        for s in &self.response {
            match s {
                Step::AddHeader(n, v) => {
                    headers.insert(n.clone(), v.clone());
                }
                Step::RemoveHeader(n) => {
                    headers.remove(n);
                }
                _ => {}
            }
        }
    }
}

fn step(a: &Action) -> Result<Step, String> {
    let name = |n: &str| HeaderName::from_bytes(n.as_bytes()).map_err(|_| format!("`{n}` is not a header name"));
    Ok(match a {
        Action::AddHeader { name: n, value } => {
            Step::AddHeader(name(n)?, HeaderValue::from_str(value).map_err(|_| format!("the value of `{n}` is not a header value"))?)
        }
        Action::RemoveHeader { name: n } => Step::RemoveHeader(name(n)?),
        Action::AddQueryParam { key, value } => Step::AddQuery(key.clone(), value.clone()),
        Action::RemoveQueryParam { key } => Step::RemoveQuery(key.clone()),
        Action::ChangeMethod { to, only_from } => {
            let m = |s: &str| Method::from_bytes(s.as_bytes()).map_err(|_| format!("`{s}` is not a method"));
            Step::Method { to: m(to)?, only_from: only_from.as_deref().map(m).transpose()? }
        }
        Action::RewritePath { path, keep_query } => Step::Path { path: path.clone(), keep_query: *keep_query },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn request_and_response_steps_run_in_wso2_order() {
        let api = apim_domain::policy::parse_flows(&json!({
            "request": [{"policyName": "addHeader", "parameters": {"headerName": "X-Order", "headerValue": "api"}}],
            "response": [{"policyName": "addHeader", "parameters": {"headerName": "X-Last", "headerValue": "api"}}]
        }))
        .expect("api");
        let op = apim_domain::policy::parse_flows(&json!({
            "request": [
                {"policyName": "addHeader", "parameters": {"headerName": "X-Order", "headerValue": "operation"}},
                {"policyName": "removeHeader", "parameters": {"headerName": "X-Secret"}},
                {"policyName": "addQueryParam", "parameters": {"paramKey": "added", "paramValue": "a b"}},
                {"policyName": "removeQueryParam", "parameters": {"paramKey": "drop"}},
                {"policyName": "changeHTTPMethod", "parameters": {"updatedMethod": "POST", "currentMethod": "GET"}},
                {"policyName": "rewriteResourcePath", "parameters": {"newResourcePath": "/v2/orders"}}
            ],
            "response": [{"policyName": "addHeader", "parameters": {"headerName": "X-Last", "headerValue": "operation"}}]
        }))
        .expect("operation");
        let m = Mediation::compile(&api, &op).expect("compiles").expect("some");
        let mut headers = HeaderMap::new();
        headers.insert("x-secret", HeaderValue::from_static("s"));
        let (mut method, mut path, mut query) = (Method::GET, Cow::Borrowed("/orders/1"), Some(Cow::Borrowed("drop=1&keep=2")));
        m.request(&mut headers, &mut method, &mut path, &mut query);
        assert_eq!(headers.get("x-order").map(HeaderValue::as_bytes), Some(&b"operation"[..]), "the operation's runs last");
        assert!(headers.get("x-secret").is_none());
        assert_eq!((method, path.as_ref(), query.as_deref()), (Method::POST, "/v2/orders", Some("keep=2&added=a+b")));
        let mut resp = HeaderMap::new();
        m.response(&mut resp);
        assert_eq!(resp.get("x-last").map(HeaderValue::as_bytes), Some(&b"api"[..]), "on the way back the API's runs last");
        assert!(Mediation::compile(&Flows::default(), &Flows::default()).expect("none").is_none());
    }
}
