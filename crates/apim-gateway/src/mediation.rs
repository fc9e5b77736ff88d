//! Operation policies as the request path runs them: compiled once per snapshot from the checked actions of
//! `apim_domain::policy` (header names and values made once), applied to the request on its way to the backend and
//! to the response on its way back. WSO2's order: on the request the API's policies, then the operation's; on
//! the response the operation's, then the API's.
//!
//! A flow is a list of parts: runs of plain steps (headers, query, method, path) that `request`/`response` apply
//! in place, and the steps that need the whole body or a call out (`jsonToXML`/`xmlToJSON`, interceptor
//! services), which `mediate.rs` drives. Generic over the client an interceptor is called with (the snapshot
//! gives each its endpoint), so this module names nothing else of the crate.

use std::borrow::Cow;
use std::time::Duration;

use apim_domain::policy::{Action, Flows, Includes};
use http::Method;
use http::header::{HeaderMap, HeaderName, HeaderValue};

#[derive(Debug)]
enum Step {
    AddHeader(HeaderName, HeaderValue),
    RemoveHeader(HeaderName),
    AddQuery(String, String),
    RemoveQuery(String),
    Method { to: Method, only_from: Option<Method> },
    Path { path: String, keep_query: bool },
}

impl Step {
    /// Runs a header step on `headers`; says whether it was one (the only steps a response has).
    fn on_headers(&self, headers: &mut HeaderMap) -> bool {
        match self {
            Step::AddHeader(n, v) => {
                headers.insert(n.clone(), v.clone());
            }
            Step::RemoveHeader(n) => {
                headers.remove(n);
            }
            _ => return false,
        }
        true
    }
}

/// Consecutive plain steps, run in place.
#[derive(Debug, Default)]
pub struct Steps(Vec<Step>);

/// A body conversion (`jsonToXML`, `xmlToJSON`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conversion {
    JsonToXml,
    XmlToJson,
}

impl Conversion {
    /// The policy's name, for faults and logs.
    pub fn policy(self) -> &'static str {
        match self {
            Conversion::JsonToXml => "jsonToXML",
            Conversion::XmlToJson => "xmlToJSON",
        }
    }

    /// The `Content-Type` of the converted body.
    pub fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Conversion::JsonToXml => "application/xml",
            Conversion::XmlToJson => "application/json",
        })
    }
}

/// A `callInterceptorService`: its base URL (for logs), what the call carries, how long it may take, and the
/// client that makes it.
#[derive(Debug)]
pub struct Interceptor<C> {
    pub url: String,
    pub includes: Includes,
    pub timeout: Duration,
    pub client: C,
}

#[derive(Debug)]
pub enum Part<C> {
    Plain(Steps),
    Convert(Conversion),
    Intercept(Interceptor<C>),
}

/// One resource's policies, ready to run.
#[derive(Debug)]
pub struct Mediation<C> {
    request: Vec<Part<C>>,
    response: Vec<Part<C>>,
}

impl<C> Mediation<C> {
    /// The API's and the operation's flows together; `client` makes the client of each interceptor service from
    /// its URL, timeout and connect timeout. `Err` names an action a gateway cannot build (the control plane's check makes this
    /// unreachable for APIs it saved).
    pub fn compile(
        api: &Flows,
        operation: &Flows,
        mut client: impl FnMut(&str, Duration, Option<Duration>) -> Result<C, String>,
    ) -> Result<Option<Box<Self>>, String> {
        if api.is_empty() && operation.is_empty() {
            return Ok(None);
        }
        let mut m = Mediation { request: Vec::new(), response: Vec::new() };
        for a in api.request.iter().chain(&operation.request) {
            push(&mut m.request, a, &mut client)?;
        }
        for a in operation.response.iter().chain(&api.response) {
            push(&mut m.response, a, &mut client)?;
        }
        Ok(Some(Box::new(m)))
    }

    pub fn request_parts(&self) -> &[Part<C>] {
        &self.request
    }

    pub fn response_parts(&self) -> &[Part<C>] {
        &self.response
    }

    /// The request flow has only plain steps: `request` is all of it.
    pub fn plain_request(&self) -> bool {
        self.request.iter().all(|p| matches!(p, Part::Plain(_)))
    }

    /// The response flow has only plain steps: `response` is all of it.
    pub fn plain_response(&self) -> bool {
        self.response.iter().all(|p| matches!(p, Part::Plain(_)))
    }

    /// The request body must be read whole: a conversion on the request, or an interceptor (on either flow) that
    /// is sent it.
    pub fn needs_request_body(&self) -> bool {
        self.request.iter().any(|p| matches!(p, Part::Convert(_)))
            || self.interceptors().any(|i| i.includes.request_body || i.includes.request_trailers)
    }

    /// The response body must be read whole.
    pub fn needs_response_body(&self) -> bool {
        self.response.iter().any(|p| match p {
            Part::Convert(_) => true,
            // Trailers come after the body: it is read whole to get to them.
            Part::Intercept(i) => i.includes.response_body || i.includes.response_trailers,
            Part::Plain(_) => false,
        })
    }

    /// A response-flow interceptor is sent the request's headers: they are kept after the request goes.
    pub fn keeps_request_headers(&self) -> bool {
        self.response.iter().any(|p| matches!(p, Part::Intercept(i) if i.includes.request_headers))
    }

    /// Some interceptor is sent the invocation context.
    pub fn wants_invocation_context(&self) -> bool {
        self.interceptors().any(|i| i.includes.invocation_context)
    }

    fn interceptors(&self) -> impl Iterator<Item = &Interceptor<C>> {
        self.request.iter().chain(&self.response).filter_map(|p| match p {
            Part::Intercept(i) => Some(i),
            _ => None,
        })
    }

    /// The plain steps of the request flow (all of it when `plain_request`).
    pub fn request<'a>(&self, headers: &mut HeaderMap, method: &mut Method, path: &mut Cow<'a, str>, query: &mut Option<Cow<'a, str>>) {
        for p in &self.request {
            if let Part::Plain(steps) = p {
                steps.request(headers, method, path, query);
            }
        }
    }

    /// The plain steps of the response flow (all of it when `plain_response`).
    pub fn response(&self, headers: &mut HeaderMap) {
        for p in &self.response {
            if let Part::Plain(steps) = p {
                steps.response(headers);
            }
        }
    }
}

impl Steps {
    /// The request as the backend gets it: headers changed in place, and the method, resource path and query
    /// replaced when a policy says so.
    pub fn request<'a>(&self, headers: &mut HeaderMap, method: &mut Method, path: &mut Cow<'a, str>, query: &mut Option<Cow<'a, str>>) {
        for s in &self.0 {
            if s.on_headers(headers) {
                continue;
            }
            match s {
                Step::AddHeader(..) | Step::RemoveHeader(..) => {}
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
        for s in &self.0 {
            s.on_headers(headers);
        }
    }
}

fn push<C>(
    flow: &mut Vec<Part<C>>,
    a: &Action,
    client: &mut impl FnMut(&str, Duration, Option<Duration>) -> Result<C, String>,
) -> Result<(), String> {
    let name = |n: &str| HeaderName::from_bytes(n.as_bytes()).map_err(|_| format!("`{n}` is not a header name"));
    let step = match a {
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
        Action::JsonToXml => {
            flow.push(Part::Convert(Conversion::JsonToXml));
            return Ok(());
        }
        Action::XmlToJson => {
            flow.push(Part::Convert(Conversion::XmlToJson));
            return Ok(());
        }
        Action::CallInterceptor { url, includes, timeout_secs, connect_timeout_secs } => {
            let timeout = Duration::from_secs(*timeout_secs);
            // A connection can take no longer than the whole call.
            let connect = connect_timeout_secs.map(|s| Duration::from_secs(s).min(timeout));
            let client = client(url, timeout, connect).map_err(|e| format!("interceptor service `{url}`: {e}"))?;
            flow.push(Part::Intercept(Interceptor { url: url.clone(), includes: *includes, timeout, client }));
            return Ok(());
        }
    };
    match flow.last_mut() {
        Some(Part::Plain(steps)) => steps.0.push(step),
        _ => flow.push(Part::Plain(Steps(vec![step]))),
    }
    Ok(())
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
        let m = Mediation::compile(&api, &op, |_, _, _| Ok(())).expect("compiles").expect("some");
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
        assert!(Mediation::compile(&Flows::default(), &Flows::default(), |_, _, _| Ok(())).expect("none").is_none());
        assert!(m.plain_request() && m.plain_response() && !m.needs_request_body() && !m.needs_response_body());
    }

    /// Body policies and interceptors split a flow into parts, in order; each interceptor gets its client once.
    #[test]
    fn body_steps_and_interceptors_split_the_flow() {
        let api = apim_domain::policy::parse_flows(&json!({
            "request": [{"policyName": "addHeader", "parameters": {"headerName": "X-A", "headerValue": "1"}},
                        {"policyName": "jsonToXML"}],
            "response": [{"policyName": "callInterceptorService", "parameters": {"interceptorServiceURL": "http://i:1",
                          "includes": "request_headers,response_body,invocation_context", "requestTimeout": 2}}]
        }))
        .expect("api");
        let op = apim_domain::policy::parse_flows(&json!({
            "request": [{"policyName": "addHeader", "parameters": {"headerName": "X-B", "headerValue": "2"}},
                        {"policyName": "callInterceptorService", "parameters": {"interceptorServiceURL": "http://j:2/", "includes": "request_headers"}},
                        {"policyName": "removeHeader", "parameters": {"headerName": "X-A"}}],
            "response": [{"policyName": "xmlToJSON"}]
        }))
        .expect("operation");
        let mut made = Vec::new();
        let m = Mediation::compile(&api, &op, |url, timeout, _| {
            made.push((url.to_string(), timeout));
            Ok(made.len())
        })
        .expect("compiles")
        .expect("some");
        assert_eq!(made, [("http://j:2".to_string(), Duration::from_secs(5)), ("http://i:1".to_string(), Duration::from_secs(2))]);
        let shape = |parts: &[Part<usize>]| -> Vec<String> {
            parts
                .iter()
                .map(|p| match p {
                    Part::Plain(s) => format!("plain{}", s.0.len()),
                    Part::Convert(c) => c.policy().to_string(),
                    Part::Intercept(i) => format!("intercept{}", i.client),
                })
                .collect()
        };
        assert_eq!(shape(m.request_parts()), ["plain1", "jsonToXML", "plain1", "intercept1", "plain1"]);
        assert_eq!(shape(m.response_parts()), ["xmlToJSON", "intercept2"]);
        assert!(!m.plain_request() && !m.plain_response());
        assert!(m.needs_request_body(), "jsonToXML reads the request body");
        assert!(m.needs_response_body() && m.keeps_request_headers() && m.wants_invocation_context());
        let refused = Mediation::compile(&api, &op, |_, _, _| Err::<(), _>("no".to_string())).expect_err("client refused");
        assert!(refused.contains("http://j:2"), "{refused}");
    }
}
