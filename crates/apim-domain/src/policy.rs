//! WSO2 4.x operation policies: what an API's `apiPolicies` and its operations' `operationPolicies`
//! (`{request, response, fault}` lists of `{policyName, policyVersion, policyId, parameters}`) ask the gateway to
//! do. Parsed and checked once — by the control plane when the API is saved (a 400 naming the policy and the
//! parameter), and by gateways when they compile a snapshot — so a request never meets a policy it cannot run.
//!
//! The policies that run are one table, [`COMMON`] (names, flows, attributes with their types and which are
//! required), which the control plane also serves as WSO2's common operation policies. They are the common
//! policies WSO2 ships, by their names (and the Choreo Connect spellings where they differ):
//! `addHeader` / `removeHeader` (`headerName`, `headerValue`), `addQueryParam` / `removeQueryParam` (`paramKey`,
//! `paramValue`), `changeHTTPMethod` or `rewriteMethod` (`updatedMethod`, optional `currentMethod`),
//! `rewriteResourcePath` (`newResourcePath`, optional `includeQueryParams`), `jsonToXML` and `xmlToJSON` (no
//! parameters; the body converted with WSO2's JSON↔XML mapping), and `callInterceptorService` or
//! `ccCallInterceptorService` (Choreo Connect's interceptor contract: `interceptorServiceURL`, an http or https URL
//! without user info, query or fragment; `includes`, a comma-separated subset of `request_headers`,
//! `request_body`, `request_trailers`, `invocation_context` and, on the response flow only, `response_headers`,
//! `response_body`, `response_trailers`; optional `requestTimeout` in seconds, 1 to 60, default 5, and
//! `clusterTimeout`, the seconds to connect, as Choreo Connect's `x-wso2-request-interceptor` extension names them). The body policies and interceptors run on the
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
        /// `clusterTimeout`: seconds to make a connection (TCP and TLS); `None` is the gateway's default.
        connect_timeout_secs: Option<u64>,
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

    fn set(&mut self, name: &str) {
        let slot = match name {
            "request_headers" => &mut self.request_headers,
            "request_body" => &mut self.request_body,
            "request_trailers" => &mut self.request_trailers,
            "invocation_context" => &mut self.invocation_context,
            "response_headers" => &mut self.response_headers,
            "response_body" => &mut self.response_body,
            "response_trailers" => &mut self.response_trailers,
            _ => return,
        };
        *slot = true;
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

// === the common policies ===

/// The version of every policy in [`COMMON`] (WSO2 ships its common policies as `v1`).
pub const COMMON_VERSION: &str = "v1";

/// The type of a policy's attribute; [`AttributeType::wso2_name`] is what WSO2's `policyAttributes[].type` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttributeType {
    String,
    Integer,
    Boolean,
    /// One of `allowed_values` (compared without regard to case, kept as the table spells it).
    Enum,
    /// Names from `allowed_values`, comma-separated or as a list.
    List,
}

impl AttributeType {
    pub fn wso2_name(self) -> &'static str {
        match self {
            AttributeType::String | AttributeType::List => "String",
            AttributeType::Integer => "Integer",
            AttributeType::Boolean => "Boolean",
            AttributeType::Enum => "Enum",
        }
    }
}

/// One parameter of a policy (WSO2's `OperationPolicySpecAttribute`).
#[derive(Clone, Copy, Debug)]
pub struct Attribute {
    pub name: &'static str,
    pub display_name: &'static str,
    pub description: &'static str,
    pub kind: AttributeType,
    pub required: bool,
    pub allowed_values: &'static [&'static str],
    pub default_value: Option<&'static str>,
    /// For forms only: what the parser checks is the parser's.
    pub validation_regex: Option<&'static str>,
}

/// A policy this gateway runs (WSO2's common operation policy specification, category `Mediation`).
#[derive(Clone, Copy, Debug)]
pub struct PolicySpec {
    /// Fixed, so that every node and every restart answers the same `id`.
    pub id: &'static str,
    pub name: &'static str,
    pub display_name: &'static str,
    pub description: &'static str,
    pub flows: &'static [Flow],
    /// WSO2's `supportedGateways`: `Synapse` for its regular gateway's names, `ChoreoConnect` for Choreo Connect's.
    pub gateways: &'static [&'static str],
    pub attributes: &'static [Attribute],
}

/// What [`parse_policy`] accepts, one entry per name: the control plane serves these as WSO2's common operation
/// policies and checks uploaded specifications against them, so what is offered and what runs cannot drift.
pub const COMMON: &[PolicySpec] = &[
    PolicySpec {
        id: "bbe352fb-17e3-49fc-81a5-fdbbd7734f10",
        name: "addHeader",
        display_name: "Add Header",
        description: "This policy allows you to add a new header to the request or the response",
        flows: &ALL_FLOWS,
        gateways: SYNAPSE,
        attributes: &[HEADER_NAME, attr("headerValue", "Header Value", "Value of the header", AttributeType::String, true)],
    },
    PolicySpec {
        id: "124ad89c-c0b8-4019-aca5-89c8205979b7",
        name: "removeHeader",
        display_name: "Remove Header",
        description: "This policy allows you to remove a header from the request or the response",
        flows: &ALL_FLOWS,
        gateways: SYNAPSE,
        attributes: &[HEADER_NAME],
    },
    PolicySpec {
        id: "090bfe45-8355-4c7a-bcad-9297fd28afc1",
        name: "addQueryParam",
        display_name: "Add Query Param",
        description: "This policy allows you to add a query parameter to the request sent to the backend",
        flows: &[Flow::Request],
        gateways: SYNAPSE,
        attributes: &[
            attr("paramKey", "Query Parameter Key", "Name of the query parameter to add", AttributeType::String, true),
            attr("paramValue", "Query Parameter Value", "Value of the query parameter", AttributeType::String, true),
        ],
    },
    PolicySpec {
        id: "2f1641ee-51c0-4b3b-b756-5fa59a890bbd",
        name: "removeQueryParam",
        display_name: "Remove Query Param",
        description: "This policy allows you to remove a query parameter from the request sent to the backend",
        flows: &[Flow::Request],
        gateways: SYNAPSE,
        attributes: &[attr("paramKey", "Query Parameter Key", "Name of the query parameter to remove", AttributeType::String, true)],
    },
    PolicySpec {
        id: "c78ecf0e-7d5f-4a14-869c-8ad21a759342",
        name: "changeHTTPMethod",
        display_name: "Change HTTP Method",
        description: "This policy allows you to change the HTTP method of the request sent to the backend",
        flows: &[Flow::Request],
        gateways: SYNAPSE,
        attributes: &METHOD_ATTRIBUTES,
    },
    PolicySpec {
        id: "22458137-122a-4aea-8000-69bdf6f05065",
        name: "rewriteMethod",
        display_name: "Rewrite HTTP Method",
        description: "This policy allows you to change the HTTP method of the request sent to the backend",
        flows: &[Flow::Request],
        gateways: CHOREO_CONNECT,
        attributes: &METHOD_ATTRIBUTES,
    },
    PolicySpec {
        id: "2b957baf-1420-4b16-a959-734f141d9e05",
        name: "rewriteResourcePath",
        display_name: "Rewrite Resource Path",
        description: "This policy allows you to change the resource path of the request sent to the backend",
        flows: &[Flow::Request],
        gateways: SYNAPSE,
        attributes: &[
            Attribute {
                validation_regex: Some(r"^/[^?#\s]*$"),
                ..attr(
                    "newResourcePath",
                    "New Resource Path",
                    "The resource path sent to the backend, starting with /",
                    AttributeType::String,
                    true,
                )
            },
            Attribute {
                default_value: Some("true"),
                ..attr(
                    "includeQueryParams",
                    "Include Query Parameters",
                    "Whether the request's query goes along",
                    AttributeType::Boolean,
                    false,
                )
            },
        ],
    },
    PolicySpec {
        id: "6432871c-f4b8-46a7-bc31-f4b892a083f0",
        name: "jsonToXML",
        display_name: "JSON to XML",
        description: "This policy converts a JSON body to XML (WSO2's JSON-XML mapping)",
        flows: &[Flow::Request, Flow::Response],
        gateways: SYNAPSE,
        attributes: &[],
    },
    PolicySpec {
        id: "4f809452-4269-4a9e-8d8a-0e7b37fce81b",
        name: "xmlToJSON",
        display_name: "XML to JSON",
        description: "This policy converts an XML body to JSON (WSO2's JSON-XML mapping)",
        flows: &[Flow::Request, Flow::Response],
        gateways: SYNAPSE,
        attributes: &[],
    },
    PolicySpec {
        id: "d771659f-113c-4cba-9a92-12876622ab5e",
        name: "callInterceptorService",
        display_name: "Call Interceptor Service",
        description: "This policy calls an interceptor service (Choreo Connect's contract) that may change the request or the response",
        flows: &[Flow::Request, Flow::Response],
        gateways: SYNAPSE,
        attributes: &INTERCEPTOR_ATTRIBUTES,
    },
    PolicySpec {
        id: "787231c2-4123-41cf-b2a3-4c079fa164c2",
        name: "ccCallInterceptorService",
        display_name: "Call Interceptor Service",
        description: "This policy calls an interceptor service (Choreo Connect's contract) that may change the request or the response",
        flows: &[Flow::Request, Flow::Response],
        gateways: CHOREO_CONNECT,
        attributes: &INTERCEPTOR_ATTRIBUTES,
    },
];

/// The common policy of that name.
pub fn common(name: &str) -> Option<&'static PolicySpec> {
    COMMON.iter().find(|p| p.name == name)
}

/// The names of [`COMMON`], comma-separated, for messages.
pub fn common_names() -> String {
    COMMON.iter().map(|p| p.name).collect::<Vec<_>>().join(", ")
}

const ALL_FLOWS: [Flow; 3] = Flow::ALL;
const SYNAPSE: &[&str] = &["Synapse"];
const CHOREO_CONNECT: &[&str] = &["ChoreoConnect"];
const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];
/// `includes` of an interceptor call ([`Includes::NAMES`], in that order).
const INCLUDE_NAMES: [&str; 7] =
    ["request_headers", "request_body", "request_trailers", "invocation_context", "response_headers", "response_body", "response_trailers"];

const fn attr(name: &'static str, display_name: &'static str, description: &'static str, kind: AttributeType, required: bool) -> Attribute {
    Attribute { name, display_name, description, kind, required, allowed_values: &[], default_value: None, validation_regex: None }
}

const HEADER_NAME: Attribute = Attribute {
    validation_regex: Some(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$"),
    ..attr("headerName", "Header Name", "Name of the header", AttributeType::String, true)
};

const METHOD_ATTRIBUTES: [Attribute; 2] = [
    Attribute {
        allowed_values: &METHODS,
        ..attr("updatedMethod", "Updated Method", "The method sent to the backend", AttributeType::Enum, true)
    },
    Attribute {
        allowed_values: &METHODS,
        ..attr("currentMethod", "Current Method", "Apply only to requests of this method", AttributeType::Enum, false)
    },
];

const INTERCEPTOR_ATTRIBUTES: [Attribute; 4] = [
    attr(
        "interceptorServiceURL",
        "Interceptor Service URL",
        "An http or https URL without user info, query or fragment; /api/v1/handle-request (or handle-response) is appended",
        AttributeType::String,
        true,
    ),
    Attribute {
        allowed_values: &INCLUDE_NAMES,
        ..attr(
            "includes",
            "Includes",
            "What the call carries, comma-separated (response_headers, response_body and response_trailers on the response flow only)",
            AttributeType::List,
            false,
        )
    },
    Attribute {
        default_value: Some("5"),
        ..attr("requestTimeout", "Request Timeout", "Seconds to wait for the interceptor service, 1 to 60", AttributeType::Integer, false)
    },
    attr(
        "clusterTimeout",
        "Cluster Timeout",
        "Seconds to connect to the interceptor service (TCP and TLS), 1 to 60; within the request timeout",
        AttributeType::Integer,
        false,
    ),
];

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

/// One `{policyName, parameters}` for `flow`. The policy must be one of [`COMMON`], on one of its flows, with its
/// attributes' types and required ones as the table says; what a type cannot say (a header name's syntax, a URL,
/// a range) is checked here.
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
    let spec = match common(name) {
        Some(s) => s,
        None if name.is_empty() => return Err(err(format!("{at}.policyName"), "is required")),
        None => return Err(err(format!("{at}.policyName"), format!("`{name}` is not a policy this gateway runs ({})", common_names()))),
    };
    if !spec.flows.contains(&flow) {
        let flows: Vec<&str> = spec.flows.iter().map(|f| f.as_str()).collect();
        let s = if flows.len() == 1 { "" } else { "s" };
        return Err(err(at.to_string(), format!("`{name}` applies to the {} flow{s} only", flows.join(" and "))));
    }
    let v = Checked::of(spec, &params, at)?;
    let action = match name {
        "addHeader" => {
            let (name, value) = (v.text("headerName")?, v.text("headerValue")?);
            check_header_name(&name, &format!("{at}.parameters.headerName"))?;
            if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
                return Err(err(format!("{at}.parameters.headerValue"), "must not hold a line break or NUL"));
            }
            Action::AddHeader { name: name.to_ascii_lowercase(), value }
        }
        "removeHeader" => {
            let name = v.text("headerName")?;
            check_header_name(&name, &format!("{at}.parameters.headerName"))?;
            Action::RemoveHeader { name: name.to_ascii_lowercase() }
        }
        "addQueryParam" => Action::AddQueryParam { key: v.text("paramKey")?, value: v.text("paramValue")? },
        "removeQueryParam" => Action::RemoveQueryParam { key: v.text("paramKey")? },
        "changeHTTPMethod" | "rewriteMethod" => {
            Action::ChangeMethod { to: v.text("updatedMethod")?, only_from: v.optional("currentMethod") }
        }
        "rewriteResourcePath" => {
            let path = v.text("newResourcePath")?;
            if !path.starts_with('/') || path.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control() || b == b'?' || b == b'#') {
                return Err(err(format!("{at}.parameters.newResourcePath"), format!("`{path}` must be a path starting with / (no query)")));
            }
            if path.split('/').any(|s| s == "." || s == "..") {
                return Err(err(format!("{at}.parameters.newResourcePath"), "must not hold . or .. segments"));
            }
            Action::RewritePath { path, keep_query: v.optional("includeQueryParams").is_none_or(|k| k == "true") }
        }
        "jsonToXML" => Action::JsonToXml,
        "xmlToJSON" => Action::XmlToJson,
        "callInterceptorService" | "ccCallInterceptorService" => {
            let url = check_interceptor_url(&v.text("interceptorServiceURL")?, &format!("{at}.parameters.interceptorServiceURL"))?;
            let mut includes = Includes::default();
            for item in v.list("includes") {
                let response_only = Includes::NAMES.iter().any(|(n, r)| *r && *n == item);
                if response_only && flow == Flow::Request {
                    return Err(err(format!("{at}.parameters.includes"), format!("`{item}` is only available on the response flow")));
                }
                includes.set(item);
            }
            let seconds = |name: &str| -> Result<Option<u64>, PolicyError> {
                match v.optional(name) {
                    None => Ok(None),
                    Some(t) => match t.parse::<u64>() {
                        Ok(s @ 1..=60) => Ok(Some(s)),
                        _ => Err(err(format!("{at}.parameters.{name}"), format!("`{t}` is not a number of seconds from 1 to 60"))),
                    },
                }
            };
            let timeout_secs = seconds("requestTimeout")?.unwrap_or(DEFAULT_INTERCEPTOR_TIMEOUT_SECS);
            let connect_timeout_secs = seconds("clusterTimeout")?;
            Action::CallInterceptor { url, includes, timeout_secs, connect_timeout_secs }
        }
        // A name in the table the gateway does not run would be a table without its code: refused, never ignored.
        other => return Err(err(format!("{at}.policyName"), format!("`{other}` has no implementation in this gateway"))),
    };
    Ok(action)
}

/// A policy's parameters, checked against its attributes in [`COMMON`]: text (an enumeration's value as the
/// table spells it) or a list's items.
struct Checked<'a> {
    at: &'a str,
    policy: &'static str,
    text: Vec<(&'static str, String)>,
    lists: Vec<(&'static str, Vec<String>)>,
}

impl<'a> Checked<'a> {
    fn of(spec: &'static PolicySpec, params: &Map<String, Value>, at: &'a str) -> Result<Checked<'a>, PolicyError> {
        let mut out = Checked { at, policy: spec.name, text: Vec::new(), lists: Vec::new() };
        for a in spec.attributes {
            let here = || format!("{at}.parameters.{}", a.name);
            let value = match params.get(a.name) {
                None | Some(Value::Null) => None,
                // An empty text is an attribute left unset (WSO2's forms send optional ones so).
                Some(Value::String(s)) if s.trim().is_empty() => None,
                Some(v) => Some(v),
            };
            let Some(value) = value else {
                if a.required {
                    return Err(err(here(), format!("`{}` needs `{}`", spec.name, a.name)));
                }
                continue;
            };
            let scalar = match value {
                Value::String(s) => Some(s.trim().to_string()),
                Value::Number(n) => Some(n.to_string()),
                Value::Bool(b) => Some(b.to_string()),
                _ => None,
            };
            match a.kind {
                AttributeType::String => match value {
                    // Text as given: a header value's spaces are its own.
                    Value::String(s) => out.text.push((a.name, s.clone())),
                    _ => out.text.push((a.name, scalar.ok_or_else(|| err(here(), "must be a string"))?)),
                },
                AttributeType::Integer => {
                    let t = scalar.ok_or_else(|| err(here(), "must be a whole number"))?;
                    if t.parse::<i64>().is_err() {
                        return Err(err(here(), format!("`{t}` is not a whole number")));
                    }
                    out.text.push((a.name, t));
                }
                AttributeType::Boolean => {
                    let t = scalar.ok_or_else(|| err(here(), "must be true or false"))?.to_ascii_lowercase();
                    if t != "true" && t != "false" {
                        return Err(err(here(), format!("`{t}` is not true or false")));
                    }
                    out.text.push((a.name, t));
                }
                AttributeType::Enum => {
                    let t = scalar.ok_or_else(|| err(here(), "must be a string"))?;
                    let Some(known) = a.allowed_values.iter().find(|k| k.eq_ignore_ascii_case(&t)) else {
                        return Err(err(here(), format!("`{t}` is not one of {}", a.allowed_values.join(", "))));
                    };
                    out.text.push((a.name, (*known).to_string()));
                }
                AttributeType::List => {
                    let items: Vec<String> = match value {
                        Value::String(s) => s.split(',').map(|i| i.trim().to_string()).filter(|i| !i.is_empty()).collect(),
                        Value::Array(l) if l.iter().all(Value::is_string) => {
                            l.iter().filter_map(Value::as_str).map(|i| i.trim().to_string()).filter(|i| !i.is_empty()).collect()
                        }
                        _ => return Err(err(here(), "must be a comma-separated string")),
                    };
                    if let Some(bad) = items.iter().find(|i| !a.allowed_values.contains(&i.as_str())) {
                        return Err(err(here(), format!("`{bad}` is not one of {}", a.allowed_values.join(", "))));
                    }
                    out.lists.push((a.name, items));
                }
            }
        }
        Ok(out)
    }

    /// A required attribute's text (checked present by [`Checked::of`]).
    fn text(&self, key: &str) -> Result<String, PolicyError> {
        self.optional(key).ok_or_else(|| err(format!("{}.parameters.{key}", self.at), format!("`{}` needs `{key}`", self.policy)))
    }

    fn optional(&self, key: &str) -> Option<String> {
        self.text.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone())
    }

    fn list<'s>(&'s self, key: &'s str) -> impl Iterator<Item = &'s str> {
        self.lists.iter().filter(move |(k, _)| *k == key).flat_map(|(_, l)| l.iter().map(String::as_str))
    }
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
    fn the_table_names_what_the_parser_takes() {
        assert_eq!(INCLUDE_NAMES.to_vec(), Includes::NAMES.iter().map(|(n, _)| *n).collect::<Vec<_>>());
        let mut names: Vec<&str> = COMMON.iter().map(|p| p.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), COMMON.len(), "one entry per name");
        // Each policy parses with its required attributes given, on each of its flows, and its flows only.
        for p in COMMON {
            let mut params = Map::new();
            for a in p.attributes.iter().filter(|a| a.required) {
                let v = match a.name {
                    "headerName" => "X-A",
                    "newResourcePath" => "/a",
                    "interceptorServiceURL" => "http://x",
                    _ => a.allowed_values.first().copied().unwrap_or("v"),
                };
                params.insert(a.name.to_string(), json!(v));
            }
            let doc = json!({"policyName": p.name, "parameters": params});
            for flow in Flow::ALL {
                assert_eq!(parse_policy(flow, &doc, "x").is_ok(), p.flows.contains(&flow), "{} on {flow:?}", p.name);
            }
            for a in p.attributes.iter().filter(|a| a.required) {
                let mut without = params.clone();
                without.remove(a.name);
                let e = parse_policy(p.flows[0], &json!({"policyName": p.name, "parameters": without}), "x").expect_err(a.name);
                assert_eq!(e.at, format!("x.parameters.{}", a.name));
            }
        }
    }

    #[test]
    fn a_parameter_of_the_wrong_type_is_named() {
        for (params, at) in [
            (json!({"headerName": {"a": 1}, "headerValue": "v"}), "headerName"),
            (json!({"headerName": "X", "headerValue": ["v"]}), "headerValue"),
        ] {
            let e = parse_policy(Flow::Request, &json!({"policyName": "addHeader", "parameters": params}), "r").expect_err("wrong type");
            assert_eq!(e.at, format!("r.parameters.{at}"), "{e}");
        }
        let e = parse_policy(
            Flow::Request,
            &json!({"policyName": "rewriteResourcePath", "parameters": {"newResourcePath": "/a", "includeQueryParams": "maybe"}}),
            "r",
        )
        .expect_err("not a boolean");
        assert_eq!(e.at, "r.parameters.includeQueryParams");
        let e = parse_policy(
            Flow::Request,
            &json!({"policyName": "callInterceptorService", "parameters": {"interceptorServiceURL": "http://x", "requestTimeout": "1.5"}}),
            "r",
        )
        .expect_err("not an integer");
        assert_eq!(e.at, "r.parameters.requestTimeout");
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
                    "includes": ["response_body", "request_headers"], "requestTimeout": "2", "clusterTimeout": 1}]}
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
                connect_timeout_secs: None,
            }
        );
        assert_eq!(flows.response[0], Action::XmlToJson);
        assert_eq!(
            flows.response[1],
            Action::CallInterceptor {
                url: "http://[::1]:9081".into(),
                includes: Includes { response_body: true, request_headers: true, ..Includes::default() },
                timeout_secs: 2,
                connect_timeout_secs: Some(1),
            }
        );
        let bare = parse_flows(&json!({"request": [{"policyName": "callInterceptorService", "parameters": {"interceptorServiceURL": "http://x", "includes": ""}}]}))
            .expect("no includes");
        assert_eq!(
            bare.request[0],
            Action::CallInterceptor { url: "http://x".into(), includes: Includes::default(), timeout_secs: 5, connect_timeout_secs: None }
        );
    }
}
