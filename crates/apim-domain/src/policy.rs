//! WSO2 4.x operation policies: what an API's `apiPolicies` and its operations' `operationPolicies`
//! (`{request, response, fault}` lists of `{policyName, policyVersion, policyId, parameters}`) ask the gateway to
//! do. Parsed and checked once — by the control plane when the API is saved (a 400 naming the policy and the
//! parameter), and by gateways when they compile a snapshot — so a request never meets a policy it cannot run.
//!
//! The common policies WSO2 ships, by their names (and the Choreo Connect spellings where they differ):
//! `addHeader` / `removeHeader` (`headerName`, `headerValue`), `addQueryParam` / `removeQueryParam` (`paramKey`,
//! `paramValue`), `changeHTTPMethod` or `rewriteMethod` (`updatedMethod`, optional `currentMethod`),
//! `rewriteResourcePath` (`newResourcePath`, optional `includeQueryParams`), `jsonToXML` and `xmlToJSON` (no
//! parameters; the body converted with WSO2's JSON↔XML mapping), and `callInterceptorService` or
//! `ccCallInterceptorService` (Choreo Connect's interceptor contract: `interceptorServiceURL`, an http or https URL
//! without user info, query or fragment; `includes`, a comma-separated subset of `request_headers`,
//! `request_body`, `request_trailers`, `invocation_context` and, on the response flow only, `response_headers`,
//! `response_body`, `response_trailers`; optional `requestTimeout` in seconds, 1 to 60, default 5, as Choreo
//! Connect's `x-wso2-request-interceptor` extension names it). The body policies and interceptors run on the
//! request and response flows, not on the fault flow: a policy the gateway would not run is never accepted.
//! JSON schema validation is WSO2's API field `enableSchemaValidation`, not a policy.
//! `parameters` may be an object or, as WSO2's Choreo Connect documents write it, a list holding one object.

use serde_json::{Map, Value};

/// Which flow a policy is attached to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    Request,
    Response,
    Fault,
}

impl Flow {
    pub const ALL: [Flow; 3] = [Flow::Request, Flow::Response, Flow::Fault];

    pub fn as_str(self) -> &'static str {
        match self {
            Flow::Request => "request",
            Flow::Response => "response",
            Flow::Fault => "fault",
        }
    }
}

/// One policy, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    AddHeader {
        name: String,
        value: String,
    },
    RemoveHeader {
        name: String,
    },
    AddQueryParam {
        key: String,
        value: String,
    },
    RemoveQueryParam {
        key: String,
    },
    /// `only_from`: applies only when the request's method is this one (`currentMethod`).
    ChangeMethod {
        to: String,
        only_from: Option<String>,
    },
    /// The resource path sent to the backend (after the endpoint's base path); the query goes along or not.
    RewritePath {
        path: String,
        keep_query: bool,
    },
    /// `jsonToXML`: the body, read whole, converted from JSON to XML.
    JsonToXml,
    /// `xmlToJSON`: the body, read whole, converted from XML to JSON.
    XmlToJson,
    /// `callInterceptorService`: `POST {url}/api/v1/handle-request` (or `handle-response`) with what `includes`
    /// names; `url` has no trailing `/`.
    CallInterceptor {
        url: String,
        includes: Includes,
        timeout_secs: u64,
    },
}

/// What a call to an interceptor service carries (`includes`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Includes {
    pub request_headers: bool,
    pub request_body: bool,
    pub request_trailers: bool,
    pub response_headers: bool,
    pub response_body: bool,
    pub response_trailers: bool,
    pub invocation_context: bool,
}

impl Includes {
    /// The names as WSO2 writes them, with whether each is only for the response flow.
    pub const NAMES: [(&'static str, bool); 7] = [
        ("request_headers", false),
        ("request_body", false),
        ("request_trailers", false),
        ("invocation_context", false),
        ("response_headers", true),
        ("response_body", true),
        ("response_trailers", true),
    ];

    fn set(&mut self, name: &str) -> bool {
        let slot = match name {
            "request_headers" => &mut self.request_headers,
            "request_body" => &mut self.request_body,
            "request_trailers" => &mut self.request_trailers,
            "invocation_context" => &mut self.invocation_context,
            "response_headers" => &mut self.response_headers,
            "response_body" => &mut self.response_body,
            "response_trailers" => &mut self.response_trailers,
            _ => return false,
        };
        *slot = true;
        true
    }
}

/// `requestTimeout` when a `callInterceptorService` does not give one, in seconds.
pub const DEFAULT_INTERCEPTOR_TIMEOUT_SECS: u64 = 5;

/// The policies of one attachment point (the API, or one operation), per flow, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Flows {
    pub request: Vec<Action>,
    pub response: Vec<Action>,
    pub fault: Vec<Action>,
}

impl Flows {
    pub fn is_empty(&self) -> bool {
        self.request.is_empty() && self.response.is_empty() && self.fault.is_empty()
    }
}

/// A policy that cannot run: where it is (`request[0]`, `request[0].parameters.headerName`) and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{at}: {message}")]
pub struct PolicyError {
    pub at: String,
    pub message: String,
}

fn err(at: String, message: impl Into<String>) -> PolicyError {
    PolicyError { at, message: message.into() }
}

/// `{request, response, fault}` as WSO2's DTO has it (`null` or absent is no policy).
pub fn parse_flows(v: &Value) -> Result<Flows, PolicyError> {
    let mut flows = Flows::default();
    let Some(o) = v.as_object() else {
        return if v.is_null() { Ok(flows) } else { Err(err(String::new(), "must be an object with request, response and fault lists")) };
    };
    for flow in Flow::ALL {
        let list = match o.get(flow.as_str()) {
            None | Some(Value::Null) => continue,
            Some(Value::Array(l)) => l,
            Some(_) => return Err(err(flow.as_str().to_string(), "must be a list of policies")),
        };
        let out = match flow {
            Flow::Request => &mut flows.request,
            Flow::Response => &mut flows.response,
            Flow::Fault => &mut flows.fault,
        };
        for (i, p) in list.iter().enumerate() {
            out.push(parse_policy(flow, p, &format!("{}[{i}]", flow.as_str()))?);
        }
    }
    Ok(flows)
}

/// One `{policyName, parameters}` for `flow`.
pub fn parse_policy(flow: Flow, p: &Value, at: &str) -> Result<Action, PolicyError> {
    let Some(o) = p.as_object() else { return Err(err(at.to_string(), "must be an object with policyName and parameters")) };
    let name = o.get("policyName").and_then(Value::as_str).unwrap_or("");
    let params = match o.get("parameters") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        // Choreo Connect's documents write a list holding one object.
        Some(Value::Array(l)) if l.len() <= 1 => match l.first() {
            None => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => return Err(err(format!("{at}.parameters"), "must be an object")),
        },
        Some(_) => return Err(err(format!("{at}.parameters"), "must be an object")),
    };
    let param = |key: &str| -> Result<String, PolicyError> {
        match params.get(key) {
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
            Some(Value::Number(n)) => Ok(n.to_string()),
            Some(Value::Bool(b)) => Ok(b.to_string()),
            Some(Value::String(_)) | None | Some(Value::Null) => {
                Err(err(format!("{at}.parameters.{key}"), format!("`{name}` needs `{key}`")))
            }
            Some(_) => Err(err(format!("{at}.parameters.{key}"), "must be a string")),
        }
    };
    let optional = |key: &str| params.get(key).filter(|v| !v.is_null()).map(|_| param(key)).transpose();
    let request_only = |action: Action| -> Result<Action, PolicyError> {
        if flow == Flow::Request { Ok(action) } else { Err(err(at.to_string(), format!("`{name}` applies to the request flow only"))) }
    };
    let not_on_fault = || -> Result<(), PolicyError> {
        if flow == Flow::Fault {
            Err(err(at.to_string(), format!("`{name}` applies to the request and response flows only")))
        } else {
            Ok(())
        }
    };
    let action = match name {
        "addHeader" => {
            let (name, value) = (param("headerName")?, param("headerValue")?);
            check_header_name(&name, &format!("{at}.parameters.headerName"))?;
            if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
                return Err(err(format!("{at}.parameters.headerValue"), "must not hold a line break or NUL"));
            }
            Action::AddHeader { name: name.to_ascii_lowercase(), value }
        }
        "removeHeader" => {
            let name = param("headerName")?;
            check_header_name(&name, &format!("{at}.parameters.headerName"))?;
            Action::RemoveHeader { name: name.to_ascii_lowercase() }
        }
        "addQueryParam" => request_only(Action::AddQueryParam { key: param("paramKey")?, value: param("paramValue")? })?,
        "removeQueryParam" => request_only(Action::RemoveQueryParam { key: param("paramKey")? })?,
        "changeHTTPMethod" | "rewriteMethod" => {
            let to = param("updatedMethod")?.to_ascii_uppercase();
            let only_from = optional("currentMethod")?.map(|m| m.to_ascii_uppercase());
            for (key, m) in [("updatedMethod", Some(&to)), ("currentMethod", only_from.as_ref())] {
                if let Some(m) = m
                    && !METHODS.contains(&m.as_str())
                {
                    return Err(err(format!("{at}.parameters.{key}"), format!("`{m}` is not one of {}", METHODS.join(", "))));
                }
            }
            request_only(Action::ChangeMethod { to, only_from })?
        }
        "rewriteResourcePath" => {
            let path = param("newResourcePath")?;
            if !path.starts_with('/') || path.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control() || b == b'?' || b == b'#') {
                return Err(err(format!("{at}.parameters.newResourcePath"), format!("`{path}` must be a path starting with / (no query)")));
            }
            if path.split('/').any(|s| s == "." || s == "..") {
                return Err(err(format!("{at}.parameters.newResourcePath"), "must not hold . or .. segments"));
            }
            let keep_query = match optional("includeQueryParams")?.as_deref() {
                None | Some("true") => true,
                Some("false") => false,
                Some(other) => return Err(err(format!("{at}.parameters.includeQueryParams"), format!("`{other}` is not true or false"))),
            };
            request_only(Action::RewritePath { path, keep_query })?
        }
        "jsonToXML" | "xmlToJSON" => {
            not_on_fault()?;
            if name == "jsonToXML" { Action::JsonToXml } else { Action::XmlToJson }
        }
        "callInterceptorService" | "ccCallInterceptorService" => {
            not_on_fault()?;
            let url = check_interceptor_url(&param("interceptorServiceURL")?, &format!("{at}.parameters.interceptorServiceURL"))?;
            let mut includes = Includes::default();
            // A comma-separated string as WSO2 writes it (empty: nothing), or a list of names.
            let listed: Vec<String> = match params.get("includes") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::String(s)) => s.split(',').map(|i| i.trim().to_string()).filter(|i| !i.is_empty()).collect(),
                Some(Value::Array(l)) if l.iter().all(Value::is_string) => {
                    l.iter().filter_map(Value::as_str).map(|i| i.trim().to_string()).filter(|i| !i.is_empty()).collect()
                }
                Some(_) => return Err(err(format!("{at}.parameters.includes"), "must be a comma-separated string")),
            };
            for item in listed.iter().map(String::as_str) {
                let response_only = Includes::NAMES.iter().find(|(n, _)| *n == item).map(|(_, r)| *r);
                match response_only {
                    None => {
                        let known: Vec<&str> = Includes::NAMES.iter().map(|(n, _)| *n).collect();
                        return Err(err(format!("{at}.parameters.includes"), format!("`{item}` is not one of {}", known.join(", "))));
                    }
                    Some(true) if flow == Flow::Request => {
                        return Err(err(format!("{at}.parameters.includes"), format!("`{item}` is only available on the response flow")));
                    }
                    Some(_) => {
                        includes.set(item);
                    }
                }
            }
            let timeout_secs = match optional("requestTimeout")? {
                None => DEFAULT_INTERCEPTOR_TIMEOUT_SECS,
                Some(t) => match t.trim().parse::<u64>() {
                    Ok(s @ 1..=60) => s,
                    _ => {
                        return Err(err(
                            format!("{at}.parameters.requestTimeout"),
                            format!("`{t}` is not a number of seconds from 1 to 60"),
                        ));
                    }
                },
            };
            Action::CallInterceptor { url, includes, timeout_secs }
        }
        "" => return Err(err(format!("{at}.policyName"), "is required")),
        other => {
            return Err(err(
                format!("{at}.policyName"),
                format!(
                    "`{other}` is not a policy this gateway runs (addHeader, removeHeader, addQueryParam, removeQueryParam, changeHTTPMethod, rewriteMethod, rewriteResourcePath, jsonToXML, xmlToJSON, callInterceptorService)"
                ),
            ));
        }
    };
    Ok(action)
}

/// An interceptor service's base URL: `http` or `https`, a host (a name, an IPv4 address or a bracketed IPv6 one),
/// an optional port and path; no user info, query or fragment (the gateway appends `/api/v1/handle-request`).
/// Returned without a trailing `/`.
fn check_interceptor_url(url: &str, at: &str) -> Result<String, PolicyError> {
    let bad = |why: &str| err(at.to_string(), format!("`{url}` {why}"));
    let trimmed = url.trim();
    let rest =
        trimmed.strip_prefix("http://").or_else(|| trimmed.strip_prefix("https://")).ok_or_else(|| bad("is not an http or https URL"))?;
    if rest.bytes().any(|b| b.is_ascii_control() || b.is_ascii_whitespace() || !b.is_ascii()) {
        return Err(bad("must not hold spaces, control or non-ASCII characters"));
    }
    if rest.contains(['?', '#']) {
        return Err(bad("must not have a query or fragment"));
    }
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if authority.contains('@') {
        return Err(bad("must not carry user info"));
    }
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (addr, after) = v6.split_once(']').ok_or_else(|| bad("has an unclosed IPv6 address"))?;
            if addr.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(bad("has an invalid IPv6 address"));
            }
            (addr, after.strip_prefix(':'))
        }
        None => match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        },
    };
    let label_ok =
        |l: &str| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') && !l.starts_with('-') && !l.ends_with('-');
    if !authority.starts_with('[') && (host.is_empty() || !host.split('.').all(label_ok)) {
        return Err(bad("has no valid host"));
    }
    if let Some(p) = port
        && !matches!(p.parse::<u16>(), Ok(1..))
    {
        return Err(bad("has an invalid port"));
    }
    const PATH: &[u8] = b"-._~!$&'()*+,;=:@/%";
    if !path.bytes().all(|b| b.is_ascii_alphanumeric() || PATH.contains(&b)) || path.split('/').any(|s| s == "." || s == "..") {
        return Err(bad("has an invalid path"));
    }
    Ok(trimmed.trim_end_matches('/').to_string())
}

const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

fn check_header_name(name: &str, at: &str) -> Result<(), PolicyError> {
    const TCHAR: &[u8] = b"!#$%&'*+-.^_`|~";
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || TCHAR.contains(&b)) {
        return Err(err(at.to_string(), format!("`{name}` is not a header name")));
    }
    // Framing and hop-by-hop headers belong to the gateway, not to a policy.
    const OWN: [&str; 8] = ["host", "content-length", "transfer-encoding", "connection", "upgrade", "te", "trailer", "keep-alive"];
    if OWN.contains(&name.to_ascii_lowercase().as_str()) {
        return Err(err(at.to_string(), format!("`{name}` is set by the gateway and cannot be changed by a policy")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wso2_shapes_parse() {
        let flows = parse_flows(&json!({
            "request": [
                {"policyName": "addHeader", "policyVersion": "v1", "parameters": {"headerName": "X-A", "headerValue": "1"}},
                {"policyName": "removeHeader", "parameters": [{"headerName": "x-b"}]},
                {"policyName": "addQueryParam", "parameters": {"paramKey": "k", "paramValue": "v"}},
                {"policyName": "changeHTTPMethod", "parameters": {"updatedMethod": "post", "currentMethod": "GET"}},
                {"policyName": "rewriteResourcePath", "parameters": {"newResourcePath": "/v2/items", "includeQueryParams": false}}
            ],
            "response": [{"policyName": "addHeader", "parameters": {"headerName": "X-R", "headerValue": "r"}}],
            "fault": null
        }))
        .expect("parses");
        assert_eq!(flows.request.len(), 5);
        assert_eq!(flows.request[0], Action::AddHeader { name: "x-a".into(), value: "1".into() });
        assert_eq!(flows.request[3], Action::ChangeMethod { to: "POST".into(), only_from: Some("GET".into()) });
        assert_eq!(flows.request[4], Action::RewritePath { path: "/v2/items".into(), keep_query: false });
        assert_eq!(flows.response.len(), 1);
        assert!(parse_flows(&Value::Null).expect("none").is_empty());
    }

    #[test]
    fn wrong_parameters_name_the_policy_and_the_parameter() {
        let cases = [
            (json!({"request": [{"policyName": "addHeader", "parameters": {"headerName": "X-A"}}]}), "request[0].parameters.headerValue"),
            (
                json!({"request": [{"policyName": "addHeader", "parameters": {"headerName": "bad name", "headerValue": "v"}}]}),
                "request[0].parameters.headerName",
            ),
            (
                json!({"request": [{"policyName": "addHeader", "parameters": {"headerName": "X", "headerValue": "a\r\nb: c"}}]}),
                "request[0].parameters.headerValue",
            ),
            (
                json!({"request": [{"policyName": "removeHeader", "parameters": {"headerName": "Content-Length"}}]}),
                "request[0].parameters.headerName",
            ),
            (
                json!({"request": [{"policyName": "changeHTTPMethod", "parameters": {"updatedMethod": "FETCH"}}]}),
                "request[0].parameters.updatedMethod",
            ),
            (
                json!({"request": [{"policyName": "rewriteResourcePath", "parameters": {"newResourcePath": "../admin"}}]}),
                "request[0].parameters.newResourcePath",
            ),
            (
                json!({"request": [{"policyName": "rewriteResourcePath", "parameters": {"newResourcePath": "/a/../admin"}}]}),
                "request[0].parameters.newResourcePath",
            ),
            (json!({"response": [{"policyName": "addQueryParam", "parameters": {"paramKey": "k", "paramValue": "v"}}]}), "response[0]"),
            (json!({"request": [{"policyName": "noSuchPolicy"}]}), "request[0].policyName"),
            (json!({"request": [{"parameters": {}}]}), "request[0].policyName"),
            (json!({"request": {"policyName": "addHeader"}}), "request"),
            (json!({"request": ["addHeader"]}), "request[0]"),
            (json!({"fault": [{"policyName": "jsonToXML"}]}), "fault[0]"),
            (
                json!({"request": [{"policyName": "callInterceptorService", "parameters": {"includes": "request_body"}}]}),
                "request[0].parameters.interceptorServiceURL",
            ),
            (
                json!({"request": [{"policyName": "callInterceptorService", "parameters": {"interceptorServiceURL": "ftp://x"}}]}),
                "request[0].parameters.interceptorServiceURL",
            ),
            (
                json!({"request": [{"policyName": "callInterceptorService", "parameters": {"interceptorServiceURL": "http://u:p@x"}}]}),
                "request[0].parameters.interceptorServiceURL",
            ),
            (
                json!({"request": [{"policyName": "callInterceptorService", "parameters": {"interceptorServiceURL": "http://x/a?b=1"}}]}),
                "request[0].parameters.interceptorServiceURL",
            ),
            (
                json!({"request": [{"policyName": "callInterceptorService", "parameters": {"interceptorServiceURL": "http://x:99999"}}]}),
                "request[0].parameters.interceptorServiceURL",
            ),
            (
                json!({"request": [{"policyName": "callInterceptorService", "parameters": {"interceptorServiceURL": "http:///path"}}]}),
                "request[0].parameters.interceptorServiceURL",
            ),
            (
                json!({"request": [{"policyName": "callInterceptorService", "parameters": {"interceptorServiceURL": "http://x", "includes": "request_body,headers"}}]}),
                "request[0].parameters.includes",
            ),
            (
                json!({"request": [{"policyName": "callInterceptorService", "parameters": {"interceptorServiceURL": "http://x", "includes": "response_body"}}]}),
                "request[0].parameters.includes",
            ),
            (
                json!({"request": [{"policyName": "callInterceptorService", "parameters": {"interceptorServiceURL": "http://x", "requestTimeout": "0"}}]}),
                "request[0].parameters.requestTimeout",
            ),
            (
                json!({"response": [{"policyName": "callInterceptorService", "parameters": {"interceptorServiceURL": "http://x", "requestTimeout": 600}}]}),
                "response[0].parameters.requestTimeout",
            ),
        ];
        for (doc, at) in cases {
            let e = parse_flows(&doc).expect_err(&doc.to_string());
            assert_eq!(e.at, at, "{doc}: {e}");
        }
    }

    #[test]
    fn body_policies_and_interceptors_parse() {
        let flows = parse_flows(&json!({
            "request": [
                {"policyName": "jsonToXML", "policyVersion": "v1"},
                {"policyName": "callInterceptorService", "parameters": {"interceptorServiceURL": "https://interceptor.local:8443/base/",
                    "includes": "request_headers, request_body,invocation_context"}}
            ],
            "response": [
                {"policyName": "xmlToJSON", "parameters": {}},
                {"policyName": "ccCallInterceptorService", "parameters": [{"interceptorServiceURL": "http://[::1]:9081",
                    "includes": ["response_body", "request_headers"], "requestTimeout": "2"}]}
            ]
        }))
        .expect("parses");
        assert_eq!(flows.request[0], Action::JsonToXml);
        assert_eq!(
            flows.request[1],
            Action::CallInterceptor {
                url: "https://interceptor.local:8443/base".into(),
                includes: Includes { request_headers: true, request_body: true, invocation_context: true, ..Includes::default() },
                timeout_secs: DEFAULT_INTERCEPTOR_TIMEOUT_SECS,
            }
        );
        assert_eq!(flows.response[0], Action::XmlToJson);
        assert_eq!(
            flows.response[1],
            Action::CallInterceptor {
                url: "http://[::1]:9081".into(),
                includes: Includes { response_body: true, request_headers: true, ..Includes::default() },
                timeout_secs: 2,
            }
        );
        let bare = parse_flows(&json!({"request": [{"policyName": "callInterceptorService", "parameters": {"interceptorServiceURL": "http://x", "includes": ""}}]}))
            .expect("no includes");
        assert_eq!(bare.request[0], Action::CallInterceptor { url: "http://x".into(), includes: Includes::default(), timeout_secs: 5 });
    }
}
