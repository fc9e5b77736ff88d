//! API lists and search with WSO2's query syntax: `GET /apis` and `GET /search` on the Publisher and the
//! DevPortal, the DevPortal's `GET /tags`, and its application list (`ApplicationInfo`, paged the same way). A query is terms separated by spaces, `key:value` (`name:`,
//! `context:`, `version:`, `provider:`, `status:`, `tag:`, `api-category:`, `type:`, `content:`, or any other
//! name for an additional property, `environment:preprod`, as WSO2 reads it) or a bare word (content search); a
//! value may be quoted to hold spaces. Everything is filtered and paged in SQL
//! (`apim_store::SearchStore`), so a page costs two queries whatever the number of APIs.

use std::collections::HashMap;
use std::sync::Arc;

use apim_domain::api::{ApiRecord, ApiStatus};
use apim_store::{ApiSearch, ApiTerm, AppSearch, AppSortBy, Audience, ContentStore, SearchStore, SortBy};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ControlPlane;
use crate::auth::Principal;
use crate::error::{ApiError, Result};

pub fn publisher_routes() -> axum::Router<Arc<ControlPlane>> {
    axum::Router::new().route("/search", get(publisher_search))
}

pub fn devportal_routes() -> axum::Router<Arc<ControlPlane>> {
    axum::Router::new().route("/search", get(devportal_search)).route("/tags", get(tags))
}

/// The largest page a list answers.
const MAX_LIMIT: i64 = 10_000;
/// The largest offset a list takes (beyond any real catalogue; keeps SQL's OFFSET in range everywhere).
const MAX_OFFSET: i64 = 1_000_000_000;
const KEYS: &str = "name:, context:, version:, provider:, status:, tag:, api-category:, type: or content:";

// === query syntax ===

/// The terms of a WSO2 search query; a 400 naming the term that is unknown or malformed.
pub(crate) fn parse_query(q: &str) -> Result<Vec<ApiTerm>> {
    // Control characters name nothing an API holds, and a NUL would end the full-text index's query early.
    if let Some(c) = q.chars().find(|c| c.is_control() && !c.is_whitespace()) {
        return Err(ApiError::field("query", format!("must not contain control characters (found U+{:04X})", u32::from(c))));
    }
    let mut terms = Vec::new();
    let mut states: Vec<String> = Vec::new();
    for token in tokens(q)? {
        let (key, value) = match token.split_once(':') {
            Some((k, v)) if !token.starts_with('"') => (k.to_ascii_lowercase(), unquote(v)),
            _ => ("content".to_string(), unquote(&token)),
        };
        if value.trim().is_empty() {
            return Err(ApiError::field("query", format!("`{token}` has no value")));
        }
        let term = match key.as_str() {
            "name" => ApiTerm::Name(value),
            "context" => ApiTerm::Context(value),
            "version" => ApiTerm::Version(value),
            "provider" => ApiTerm::Provider(value),
            "tag" => ApiTerm::Tag(value),
            "api-category" => ApiTerm::Category(value),
            "type" => ApiTerm::Type(value),
            "content" => ApiTerm::Content(value),
            "status" => {
                let state = ApiStatus::from(value.to_ascii_uppercase());
                if !state.is_known() {
                    return Err(ApiError::field(
                        "query",
                        format!(
                            "`{token}`: {value} is not a lifecycle state (CREATED, PROTOTYPED, PUBLISHED, BLOCKED, DEPRECATED, RETIRED)"
                        ),
                    ));
                }
                // Several states: any of them.
                states.push(state.as_str().to_string());
                continue;
            }
            // Words WSO2 reserves (no property may be named so) whose searches this server does not offer.
            "description" | "subcontext" | "doc" | "lcstate" | "tags" => {
                return Err(ApiError::field("query", format!("unknown search term `{token}`: use {KEYS}, or property:value")));
            }
            // Any other `key:value` is WSO2's search by an additional property (`environment:preprod`).
            _ if property_name(&key) => ApiTerm::Property { name: key, value },
            _ => {
                return Err(ApiError::field(
                    "query",
                    format!("unknown search term `{token}`: use {KEYS}, or property:value with a property's name"),
                ));
            }
        };
        terms.push(term);
    }
    if !states.is_empty() {
        terms.push(ApiTerm::Status(states));
    }
    Ok(terms)
}

/// Whether `key` can be an additional property's name: not empty, and no quote, wildcard or control character.
fn property_name(key: &str) -> bool {
    !key.is_empty() && key.chars().count() <= 255 && !key.chars().any(|c| c.is_control() || matches!(c, '"' | '*' | '%'))
}

/// The query split at spaces outside double quotes.
fn tokens(q: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in q.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            c if c.is_whitespace() && !quoted => {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if quoted {
        return Err(ApiError::field("query", format!("`{current}` has an unclosed quote")));
    }
    if !current.is_empty() {
        out.push(current);
    }
    Ok(out)
}

fn unquote(v: &str) -> String {
    v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v).to_string()
}

// === paging ===

/// `limit` and `offset` of a list: whole numbers in range, or a 400 naming the parameter.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Page {
    pub limit: i64,
    pub offset: i64,
}

impl Page {
    pub(crate) fn of(p: &HashMap<String, String>) -> Result<Page> {
        let num = |k: &str, default: i64, max: i64| -> Result<i64> {
            match p.get(k) {
                None => Ok(default),
                Some(v) => match v.trim().parse::<i64>() {
                    Ok(n) if (0..=max).contains(&n) => Ok(n),
                    _ => Err(ApiError::field(k, format!("`{v}` must be a whole number from 0 to {max}"))),
                },
            }
        };
        Ok(Page { limit: num("limit", 25, MAX_LIMIT)?, offset: num("offset", 0, MAX_OFFSET)? })
    }

    /// This page of `all` (a list small enough to read whole).
    pub(crate) fn slice<T>(self, all: Vec<T>) -> impl Iterator<Item = T> {
        all.into_iter().skip(usize::try_from(self.offset).unwrap_or(usize::MAX)).take(usize::try_from(self.limit).unwrap_or(0))
    }

    /// WSO2's `Pagination` of a list at `path` (relative to the API's base), with links to the pages around that
    /// keep the list's other parameters (`params`; `None` values left out).
    pub(crate) fn pagination(self, path: &str, params: &[(&str, Option<&str>)], total: i64) -> Pagination {
        let link = |offset: i64| {
            let rest: String = params.iter().filter_map(|(k, v)| v.map(|v| format!("&{k}={}", encode(v)))).collect();
            format!("{path}?limit={}&offset={offset}{rest}", self.limit)
        };
        Pagination {
            offset: self.offset,
            limit: self.limit,
            total,
            next: if self.offset.saturating_add(self.limit) < total && self.limit > 0 {
                link(self.offset + self.limit)
            } else {
                String::new()
            },
            previous: if self.offset > 0 { link((self.offset - self.limit).max(0)) } else { String::new() },
        }
    }
}

/// WSO2's `Pagination`.
#[derive(Serialize)]
pub(crate) struct Pagination {
    offset: i64,
    limit: i64,
    total: i64,
    next: String,
    previous: String,
}

/// A list in WSO2's shape: `{count, list, pagination}`.
#[derive(Serialize)]
pub(crate) struct Listing<T> {
    count: usize,
    list: Vec<T>,
    pagination: Pagination,
}

impl<T> Listing<T> {
    pub(crate) fn new(list: Vec<T>, pagination: Pagination) -> Listing<T> {
        Listing { count: list.len(), list, pagination }
    }
}

/// Percent-encodes a query parameter's value (everything but RFC 3986's unreserved characters).
fn encode(v: &str) -> String {
    let mut out = String::new();
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// WSO2's `sortBy` and `sortOrder` (by default the newest first).
fn sorting(p: &HashMap<String, String>) -> Result<(SortBy, bool)> {
    let by = match p.get("sortBy").map(String::as_str) {
        None | Some("createdTime") => SortBy::CreatedTime,
        Some("apiName") => SortBy::Name,
        Some("version") => SortBy::Version,
        Some("status") => SortBy::Status,
        Some(other) => return Err(ApiError::field("sortBy", format!("`{other}` is not apiName, version, createdTime or status"))),
    };
    let descending = match p.get("sortOrder").map(String::as_str) {
        None | Some("desc") => true,
        Some("asc") => false,
        Some(other) => return Err(ApiError::field("sortOrder", format!("`{other}` is not asc or desc"))),
    };
    Ok((by, descending))
}

// === what lists show of an API ===

/// The fields of an API's stored document (WSO2's API DTO) that its summaries show.
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Summary {
    description: Option<String>,
    #[serde(default)]
    security_scheme: Vec<String>,
    #[serde(default)]
    policies: Vec<String>,
    created_time: Option<String>,
    last_updated_time: Option<String>,
    #[serde(default)]
    additional_properties: Vec<Property>,
    business_information: Option<Value>,
}

/// WSO2's additional property; `display` ones are shown in the DevPortal.
#[derive(Clone, Deserialize, Serialize)]
struct Property {
    name: Option<String>,
    value: Option<String>,
    #[serde(default)]
    display: bool,
}

fn summary(api: &ApiRecord) -> Summary {
    serde_json::from_str(&api.document).unwrap_or_default()
}

/// The Publisher's `APIInfo`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PublisherApiInfo {
    id: String,
    name: String,
    description: String,
    context: String,
    version: String,
    provider: String,
    #[serde(rename = "type")]
    api_type: String,
    life_cycle_status: String,
    has_thumbnail: bool,
    security_scheme: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    created_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    updated_time: Option<String>,
    additional_properties: Vec<Property>,
    gateway_vendor: &'static str,
    gateway_type: &'static str,
}

impl PublisherApiInfo {
    fn of(api: &ApiRecord, has_thumbnail: bool) -> PublisherApiInfo {
        let s = summary(api);
        PublisherApiInfo {
            id: api.id.clone(),
            name: api.name.clone(),
            description: s.description.unwrap_or_default(),
            context: api.context.clone(),
            version: api.version.clone(),
            provider: api.provider.clone(),
            api_type: api.api_type.clone(),
            life_cycle_status: api.status.as_str().to_string(),
            has_thumbnail,
            security_scheme: s.security_scheme,
            created_time: s.created_time,
            updated_time: s.last_updated_time,
            additional_properties: s.additional_properties,
            gateway_vendor: "wso2",
            gateway_type: "wso2/synapse",
        }
    }
}

/// The DevPortal's `APIInfo`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PortalApiInfo {
    id: String,
    name: String,
    description: String,
    context: String,
    version: String,
    #[serde(rename = "type")]
    api_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    created_time: Option<String>,
    provider: String,
    life_cycle_status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    thumbnail_uri: Option<String>,
    throttling_policies: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    business_information: Option<Value>,
    is_subscription_available: bool,
    gateway_vendor: &'static str,
    additional_properties: Vec<Property>,
    monetized_info: bool,
}

/// WSO2's `thumbnailUri`: where the portal fetches the API's thumbnail, relative to the API's base.
fn thumbnail_uri(api: &ApiRecord, has_thumbnail: bool) -> Option<String> {
    has_thumbnail.then(|| format!("/apis/{}/thumbnail", api.id))
}

impl PortalApiInfo {
    fn of(api: &ApiRecord, has_thumbnail: bool) -> PortalApiInfo {
        let s = summary(api);
        PortalApiInfo {
            id: api.id.clone(),
            name: api.name.clone(),
            description: s.description.unwrap_or_default(),
            context: api.context.clone(),
            version: api.version.clone(),
            api_type: api.api_type.clone(),
            created_time: s.created_time,
            provider: api.provider.clone(),
            life_cycle_status: api.status.as_str().to_string(),
            thumbnail_uri: thumbnail_uri(api, has_thumbnail),
            throttling_policies: s.policies,
            business_information: s.business_information.filter(Value::is_object),
            // Prototyped APIs are tried without subscribing.
            is_subscription_available: api.status == ApiStatus::Published,
            gateway_vendor: "wso2",
            additional_properties: s.additional_properties.into_iter().filter(|p| p.display).collect(),
            monetized_info: false,
        }
    }
}

/// WSO2's `APISearchResult` (both APIs' fields; the DevPortal's document has no `contextTemplate`, extra fields
/// are allowed).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ApiSearchResult {
    id: String,
    name: String,
    #[serde(rename = "type")]
    kind: &'static str,
    transport_type: String,
    context: String,
    context_template: String,
    version: String,
    provider: String,
    status: String,
    has_thumbnail: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    thumbnail_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    business_information: Option<Value>,
    monetized_info: bool,
}

impl ApiSearchResult {
    fn of(api: &ApiRecord, has_thumbnail: bool) -> ApiSearchResult {
        let s = summary(api);
        ApiSearchResult {
            id: api.id.clone(),
            name: api.name.clone(),
            kind: if crate::products::is_product(api) { crate::products::PRODUCT_TYPE } else { "API" },
            transport_type: api.api_type.clone(),
            context: api.context.clone(),
            context_template: if api.context.contains("{version}") { api.context.clone() } else { format!("{}/{{version}}", api.context) },
            version: api.version.clone(),
            provider: api.provider.clone(),
            status: api.status.as_str().to_string(),
            has_thumbnail,
            thumbnail_uri: thumbnail_uri(api, has_thumbnail),
            business_information: s.business_information.filter(Value::is_object),
            monetized_info: false,
        }
    }
}

// === handlers ===

fn audience_of(who: Option<&Principal>) -> Audience<'_> {
    match who {
        None => Audience::Anonymous,
        Some(p) if p.is_admin() => Audience::Admin,
        Some(p) => Audience::SignedIn { roles: p.roles() },
    }
}

/// One page of the APIs a query matches, as `info` shows them (told whether each has a thumbnail: one query a
/// page).
async fn page_of<T>(
    cp: &ControlPlane,
    p: &HashMap<String, String>,
    path: &str,
    audience: Audience<'_>,
    (sort_by, descending): (SortBy, bool),
    info: fn(&ApiRecord, bool) -> T,
    kind: Option<ApiTerm>,
) -> Result<Listing<T>> {
    let page = Page::of(p)?;
    let query = p.get("query").map(String::as_str).filter(|q| !q.trim().is_empty());
    let mut terms = parse_query(query.unwrap_or(""))?;
    terms.extend(kind);
    let search = ApiSearch { terms, audience, sort_by, descending };
    let (apis, total) = cp.db.search_apis(&search, page.limit, page.offset).await?;
    let ids: Vec<String> = apis.iter().map(|a| a.id.clone()).collect();
    let with_thumbnail = cp.db.with_thumbnails(&ids).await?;
    let list = apis.iter().map(|a| info(a, with_thumbnail.contains(&a.id))).collect();
    Ok(Listing::new(list, page.pagination(path, &[("query", query)], total)))
}

/// Publisher `GET /apis`.
pub(crate) async fn publisher_apis(cp: &ControlPlane, headers: &HeaderMap, p: &HashMap<String, String>) -> Result<Response> {
    cp.principal(headers).await?.require(crate::publisher::VIEW)?;
    let sort = sorting(p)?;
    // The Publisher lists API products on their own (`GET /api-products`).
    let apis = Some(ApiTerm::NotType(crate::products::PRODUCT_TYPE.into()));
    Ok(Json(page_of(cp, p, "/apis", Audience::Publisher, sort, PublisherApiInfo::of, apis).await?).into_response())
}

/// Publisher `GET /api-products`.
pub(crate) async fn publisher_products(cp: &ControlPlane, headers: &HeaderMap, p: &HashMap<String, String>) -> Result<Response> {
    cp.principal(headers).await?.require(crate::publisher::VIEW)?;
    let products = Some(ApiTerm::Type(crate::products::PRODUCT_TYPE.into()));
    let sort = sorting(p)?;
    Ok(Json(page_of(cp, p, "/api-products", Audience::Publisher, sort, ProductInfo::of, products).await?).into_response())
}

/// The Publisher's `APIProductInfo`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProductInfo {
    id: String,
    name: String,
    context: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    provider: String,
    version: String,
    has_thumbnail: bool,
    state: String,
    security_scheme: Vec<String>,
    gateway_vendor: &'static str,
    monetized_info: bool,
    egress: bool,
}

impl ProductInfo {
    fn of(api: &ApiRecord, has_thumbnail: bool) -> ProductInfo {
        let s = summary(api);
        ProductInfo {
            id: api.id.clone(),
            name: api.name.clone(),
            context: api.context.clone(),
            description: s.description,
            provider: api.provider.clone(),
            version: api.version.clone(),
            has_thumbnail,
            state: api.status.as_str().to_string(),
            security_scheme: s.security_scheme,
            gateway_vendor: "wso2",
            monetized_info: false,
            egress: false,
        }
    }
}

/// DevPortal `GET /apis`: what the caller may see, newest first.
pub(crate) async fn devportal_apis(cp: &ControlPlane, headers: &HeaderMap, p: &HashMap<String, String>) -> Result<Response> {
    let who = cp.optional_principal(headers).await?;
    let listing = page_of(cp, p, "/apis", audience_of(who.as_ref()), (SortBy::CreatedTime, true), PortalApiInfo::of, None).await?;
    Ok(Json(listing).into_response())
}

/// What the Publisher's search finds: APIs, then (for a content search) documents.
#[derive(Serialize)]
#[serde(untagged)]
enum SearchHit {
    Api(ApiSearchResult),
    Document(crate::docs::DocumentSearchResult),
}

/// Publisher `GET /search`: the APIs the query matches; a query of content words only (bare or `content:`) also
/// finds the documents holding them all, listed after the APIs and paged with them.
async fn publisher_search(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Query(p): Query<HashMap<String, String>>,
) -> Result<Response> {
    cp.principal(&headers).await?.require(crate::publisher::VIEW)?;
    let page = Page::of(&p)?;
    let query = p.get("query").map(String::as_str).filter(|q| !q.trim().is_empty());
    let terms = parse_query(query.unwrap_or(""))?;
    let words: Vec<String> =
        terms.iter().map(|t| if let ApiTerm::Content(w) = t { Some(w.clone()) } else { None }).collect::<Option<_>>().unwrap_or_default();
    let search = ApiSearch { terms, audience: Audience::Publisher, sort_by: SortBy::Name, descending: false };
    let (apis, api_total) = cp.db.search_apis(&search, page.limit, page.offset).await?;
    let ids: Vec<String> = apis.iter().map(|a| a.id.clone()).collect();
    let with_thumbnail = cp.db.with_thumbnails(&ids).await?;
    let mut list: Vec<SearchHit> = apis.iter().map(|a| SearchHit::Api(ApiSearchResult::of(a, with_thumbnail.contains(&a.id)))).collect();
    let mut total = api_total;
    if !words.is_empty() {
        // The documents' part of the page starts where the APIs end.
        let room = page.limit - list.len() as i64;
        let doc_offset = (page.offset - api_total).max(0);
        let (docs, doc_total) = cp.db.search_documents(&words, room, doc_offset).await?;
        for d in &docs {
            list.push(SearchHit::Document(crate::docs::DocumentSearchResult::of(d)?));
        }
        total += doc_total;
    }
    Ok(Json(Listing::new(list, page.pagination("/search", &[("query", query)], total))).into_response())
}

async fn devportal_search(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Query(p): Query<HashMap<String, String>>,
) -> Result<Response> {
    let who = cp.optional_principal(&headers).await?;
    let listing = page_of(&cp, &p, "/search", audience_of(who.as_ref()), (SortBy::Name, false), ApiSearchResult::of, None).await?;
    Ok(Json(listing).into_response())
}

/// WSO2's `Tag`.
#[derive(Serialize)]
struct Tag {
    value: String,
    count: i64,
}

/// DevPortal `GET /tags`: the tags of the APIs the caller may see, each with how many carry it.
async fn tags(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Query(p): Query<HashMap<String, String>>) -> Result<Response> {
    let who = cp.optional_principal(&headers).await?;
    let page = Page::of(&p)?;
    let all = cp.db.tags(audience_of(who.as_ref())).await?;
    let total = all.len() as i64;
    let list: Vec<Tag> = page.slice(all).map(|(value, count)| Tag { value, count }).collect();
    Ok(Json(Listing::new(list, page.pagination("/tags", &[], total))).into_response())
}

// === the DevPortal's applications ===

/// The fields of an application's stored document (WSO2's DevPortal application DTO) that its summary shows.
#[derive(Default, Deserialize)]
struct AppSummary {
    description: Option<String>,
    #[serde(default)]
    attributes: serde_json::Map<String, Value>,
}

/// WSO2's `ApplicationInfo`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ApplicationInfo {
    application_id: String,
    name: String,
    throttling_policy: String,
    description: String,
    status: &'static str,
    groups: [(); 0],
    subscription_count: i64,
    attributes: serde_json::Map<String, Value>,
    owner: String,
    token_type: &'static str,
    created_time: String,
}

impl ApplicationInfo {
    fn of(app: &apim_domain::api::ApplicationRecord, subscriptions: i64) -> ApplicationInfo {
        let d: AppSummary = serde_json::from_str(&app.document).unwrap_or_default();
        ApplicationInfo {
            application_id: app.id.clone(),
            name: app.name.clone(),
            throttling_policy: app.throttling_policy.clone(),
            description: d.description.unwrap_or_default(),
            // No approval workflow: an application is usable once created.
            status: "APPROVED",
            groups: [],
            subscription_count: subscriptions,
            attributes: d.attributes,
            owner: app.owner.clone(),
            token_type: if app.token_type == "OPAQUE" { "OAUTH" } else { "JWT" },
            created_time: (app.created_at * 1000).to_string(),
        }
    }
}

/// DevPortal `GET /applications`: one page of the caller's own applications; `query` is a part of the name.
pub(crate) async fn devportal_applications(cp: &ControlPlane, who: &Principal, p: &HashMap<String, String>) -> Result<Response> {
    let page = Page::of(p)?;
    let sort_by = match p.get("sortBy").map(String::as_str) {
        None | Some("name") => AppSortBy::Name,
        Some("throttlingPolicy") => AppSortBy::ThrottlingPolicy,
        // Every application is APPROVED: by status is by creation.
        Some("status") => AppSortBy::CreatedTime,
        Some(other) => return Err(ApiError::field("sortBy", format!("`{other}` is not name, throttlingPolicy or status"))),
    };
    let descending = match p.get("sortOrder").map(String::as_str) {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(other) => return Err(ApiError::field("sortOrder", format!("`{other}` is not asc or desc"))),
    };
    let query = p.get("query").map(|q| q.trim()).filter(|q| !q.is_empty());
    let search = AppSearch { owner: Some(&who.username), name: query, sort_by, descending };
    let (apps, total) = cp.db.search_applications(&search, page.limit, page.offset).await?;
    let list: Vec<ApplicationInfo> = apps.iter().map(|(a, n)| ApplicationInfo::of(a, *n)).collect();
    Ok(Json(Listing::new(list, page.pagination("/applications", &[("query", query)], total))).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wso2_query_syntax_is_read() {
        let terms = parse_query(r#"name:"Pizza Shack" tag:food status:published status:CREATED menu api-category:Retail"#).expect("query");
        assert_eq!(
            terms,
            vec![
                ApiTerm::Name("Pizza Shack".into()),
                ApiTerm::Tag("food".into()),
                ApiTerm::Content("menu".into()),
                ApiTerm::Category("Retail".into()),
                ApiTerm::Status(vec!["PUBLISHED".into(), "CREATED".into()]),
            ]
        );
        assert_eq!(parse_query(r#""two words""#).expect("quoted"), vec![ApiTerm::Content("two words".into())]);
        assert_eq!(parse_query("   ").expect("blank"), vec![]);
        // WSO2's property search: any other key names a property (compared without regard to case).
        assert_eq!(
            parse_query("Environment:PreProd name:x").expect("property"),
            vec![ApiTerm::Property { name: "environment".into(), value: "PreProd".into() }, ApiTerm::Name("x".into())]
        );
        for bad in
            ["doc:red", "name:", r#"name:"open"#, "status:sleeping", r#"name:"""#, ":red", "col*r:red", "colour:", "w\u{0}x", "a\u{95}"]
        {
            let e = parse_query(bad).expect_err(bad);
            assert_eq!(e.fields[0].0, "query", "{bad}");
        }
        assert!(parse_query("subcontext:/x").expect_err("unknown").description.contains("subcontext:/x"));
    }

    #[test]
    fn pagination_links_the_pages_around() {
        let p = Page { limit: 10, offset: 10 };
        let v = serde_json::to_value(p.pagination("/apis", &[("query", Some("name:a b"))], 25)).expect("json");
        assert_eq!(v["next"], "/apis?limit=10&offset=20&query=name%3Aa%20b");
        assert_eq!(v["previous"], "/apis?limit=10&offset=0&query=name%3Aa%20b");
        let last = serde_json::to_value(Page { limit: 10, offset: 20 }.pagination("/apis", &[], 25)).expect("json");
        assert_eq!((last["next"].as_str(), last["previous"].as_str()), (Some(""), Some("/apis?limit=10&offset=10")));
    }
}
