//! WSO2 4.x operation policies: what an API's `apiPolicies` and its operations' `operationPolicies`
//! (`{request, response, fault}` lists of `{policyName, policyVersion, policyId, parameters}`) ask the gateway to
//! do. Parsed and checked once — by the control plane when the API is saved (a 400 naming the policy and the
//! parameter), and by gateways when they compile a snapshot — so a request never meets a policy it cannot run.
//!
//! The common policies WSO2 ships, by their names (and the Choreo Connect spellings where they differ):
//! `addHeader` / `removeHeader` (`headerName`, `headerValue`), `addQueryParam` / `removeQueryParam` (`paramKey`,
//! `paramValue`), `changeHTTPMethod` or `rewriteMethod` (`updatedMethod`, optional `currentMethod`),
//! `rewriteResourcePath` (`newResourcePath`, optional `includeQueryParams`). `jsonToXML`, `xmlToJSON` and
//! `callInterceptorService` are refused by name for now: a policy the gateway would not run is never accepted.
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
    AddHeader { name: String, value: String },
    RemoveHeader { name: String },
    AddQueryParam { key: String, value: String },
    RemoveQueryParam { key: String },
    /// `only_from`: applies only when the request's method is this one (`currentMethod`).
    ChangeMethod { to: String, only_from: Option<String> },
    /// The resource path sent to the backend (after the endpoint's base path); the query goes along or not.
    RewritePath { path: String, keep_query: bool },
}

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
            Some(Value::String(_)) | None | Some(Value::Null) => Err(err(format!("{at}.parameters.{key}"), format!("`{name}` needs `{key}`"))),
            Some(_) => Err(err(format!("{at}.parameters.{key}"), "must be a string")),
        }
    };
    let optional = |key: &str| params.get(key).filter(|v| !v.is_null()).map(|_| param(key)).transpose();
    let request_only = |action: Action| -> Result<Action, PolicyError> {
        if flow == Flow::Request { Ok(action) } else { Err(err(at.to_string(), format!("`{name}` applies to the request flow only"))) }
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
        "jsonToXML" | "xmlToJSON" | "callInterceptorService" => {
            return Err(err(format!("{at}.policyName"), format!("`{name}` is not supported by this gateway yet")));
        }
        "" => return Err(err(format!("{at}.policyName"), "is required")),
        other => {
            return Err(err(
                format!("{at}.policyName"),
                format!(
                    "`{other}` is not a policy this gateway runs (addHeader, removeHeader, addQueryParam, removeQueryParam, changeHTTPMethod, rewriteMethod, rewriteResourcePath)"
                ),
            ));
        }
    };
    Ok(action)
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
            (json!({"request": [{"policyName": "addHeader", "parameters": {"headerName": "bad name", "headerValue": "v"}}]}), "request[0].parameters.headerName"),
            (json!({"request": [{"policyName": "addHeader", "parameters": {"headerName": "X", "headerValue": "a\r\nb: c"}}]}), "request[0].parameters.headerValue"),
            (json!({"request": [{"policyName": "removeHeader", "parameters": {"headerName": "Content-Length"}}]}), "request[0].parameters.headerName"),
            (json!({"request": [{"policyName": "changeHTTPMethod", "parameters": {"updatedMethod": "FETCH"}}]}), "request[0].parameters.updatedMethod"),
            (json!({"request": [{"policyName": "rewriteResourcePath", "parameters": {"newResourcePath": "../admin"}}]}), "request[0].parameters.newResourcePath"),
            (json!({"request": [{"policyName": "rewriteResourcePath", "parameters": {"newResourcePath": "/a/../admin"}}]}), "request[0].parameters.newResourcePath"),
            (json!({"response": [{"policyName": "addQueryParam", "parameters": {"paramKey": "k", "paramValue": "v"}}]}), "response[0]"),
            (json!({"request": [{"policyName": "noSuchPolicy"}]}), "request[0].policyName"),
            (json!({"request": [{"parameters": {}}]}), "request[0].policyName"),
            (json!({"request": {"policyName": "addHeader"}}), "request"),
            (json!({"request": ["addHeader"]}), "request[0]"),
        ];
        for (doc, at) in cases {
            let e = parse_flows(&doc).expect_err(&doc.to_string());
            assert_eq!(e.at, at, "{doc}: {e}");
        }
    }
}
