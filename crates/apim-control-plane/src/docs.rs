//! An API's documents and thumbnail. Publisher: documents' CRUD (WSO2's `Document`: inline text, markdown, a URL
//! (http or https) or an uploaded file, each with a visibility), their content, a name check, and the thumbnail
//! (an image, at most [`THUMBNAIL_MAX`]). DevPortal: the same read-only, for APIs the caller may see; documents
//! `OWNER_ONLY` are never shown there and `PRIVATE` ones only to signed-in callers.

use std::collections::HashMap;
use std::sync::Arc;

use apim_store::{ContentStore, DocContent, DocRecord, DocumentHit};
use axum::Json;
use axum::body::Bytes;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ControlPlane;
use crate::auth::Principal;
use crate::error::{ApiError, Result};
use crate::search::{Listing, Page};

/// The largest thumbnail taken.
pub const THUMBNAIL_MAX: usize = 1024 * 1024;
/// The largest document file taken.
pub const FILE_MAX: usize = 10 * 1024 * 1024;
/// The largest inline or markdown text taken.
pub const TEXT_MAX: usize = 1024 * 1024;
/// Room for a multipart body's boundaries and headers beyond its content.
const FORM_SLACK: usize = 64 * 1024;

const READ: &[&str] = &["apim:api_view", "apim:api_create", "apim:api_publish", "apim:api_manage", "apim:document_manage"];
const WRITE: &[&str] = &["apim:api_create", "apim:api_manage", "apim:document_create", "apim:document_manage"];
const EDIT: &[&str] = &["apim:api_create", "apim:api_manage", "apim:document_manage"];

pub fn publisher_routes() -> axum::Router<Arc<ControlPlane>> {
    axum::Router::new()
        .route("/apis/{api_id}/documents/validate", post(validate_name))
        .merge(publisher_routes_under("/apis"))
        .merge(publisher_routes_under("/api-products"))
}

/// Documents and thumbnail of an API (`/apis`) or of an API product (`/api-products`), stored alike.
fn publisher_routes_under(prefix: &str) -> axum::Router<Arc<ControlPlane>> {
    axum::Router::new()
        .route(&format!("{prefix}/{{api_id}}/documents"), get(list).post(create))
        .route(&format!("{prefix}/{{api_id}}/documents/{{doc_id}}"), get(read).put(update).delete(delete))
        .route(
            &format!("{prefix}/{{api_id}}/documents/{{doc_id}}/content"),
            get(content).post(upload_content).layer(DefaultBodyLimit::max(FILE_MAX + FORM_SLACK)),
        )
        .route(
            &format!("{prefix}/{{api_id}}/thumbnail"),
            get(thumbnail).put(upload_thumbnail).layer(DefaultBodyLimit::max(THUMBNAIL_MAX + FORM_SLACK)),
        )
}

pub fn devportal_routes() -> axum::Router<Arc<ControlPlane>> {
    axum::Router::new()
        .route("/apis/{api_id}/documents", get(portal_list))
        .route("/apis/{api_id}/documents/{doc_id}", get(portal_read))
        .route("/apis/{api_id}/documents/{doc_id}/content", get(portal_content))
        .route("/apis/{api_id}/thumbnail", get(portal_thumbnail))
}

// === the Document DTO ===

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum DocType {
    Howto,
    Samples,
    PublicForum,
    SupportForum,
    ApiMessageFormat,
    SwaggerDoc,
    Other,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum SourceType {
    Inline,
    Markdown,
    Url,
    File,
}

/// Who sees a document in the DevPortal: nobody (`OWNER_ONLY`), signed-in callers (`PRIVATE`), or whoever sees
/// the API (`API_LEVEL`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum Visibility {
    OwnerOnly,
    Private,
    ApiLevel,
}

/// WSO2's `Document`, as stored and answered (its content is not part of it).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Document {
    document_id: String,
    name: String,
    #[serde(rename = "type")]
    doc_type: DocType,
    #[serde(skip_serializing_if = "Option::is_none")]
    summary: Option<String>,
    source_type: SourceType,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    other_type_name: Option<String>,
    visibility: Visibility,
    created_time: String,
    created_by: String,
    last_updated_time: String,
    last_updated_by: String,
}

/// What a client sets of a document, checked field by field.
struct DocumentFields {
    name: String,
    doc_type: DocType,
    summary: Option<String>,
    source_type: SourceType,
    source_url: Option<String>,
    other_type_name: Option<String>,
    visibility: Visibility,
    inline_content: Option<String>,
}

fn optional_string(o: &Map<String, Value>, field: &str, max: usize) -> Result<Option<String>> {
    match o.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().count() > max => Err(ApiError::field(field, format!("must be at most {max} characters"))),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::field(field, "must be a string")),
    }
}

fn one_of<T: serde::de::DeserializeOwned>(o: &Map<String, Value>, field: &str, allowed: &str) -> Result<Option<T>> {
    match o.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => serde_json::from_value(v.clone()).map(Some).map_err(|_| ApiError::field(field, format!("must be one of {allowed}"))),
    }
}

impl DocumentFields {
    fn of(body: &Bytes) -> Result<DocumentFields> {
        let o: Map<String, Value> = match serde_json::from_slice(body) {
            Ok(Value::Object(o)) => o,
            Ok(_) => return Err(ApiError::bad_request("the body must be a JSON object (a Document)")),
            Err(e) => return Err(ApiError::bad_request(format!("the body is not valid JSON: {e}"))),
        };
        let name = optional_string(&o, "name", 255)?.map(|n| n.trim().to_string()).ok_or_else(|| ApiError::field("name", "is required"))?;
        if name.chars().any(char::is_control) {
            return Err(ApiError::field("name", "must not contain control characters"));
        }
        let doc_type = one_of(&o, "type", "HOWTO, SAMPLES, PUBLIC_FORUM, SUPPORT_FORUM, API_MESSAGE_FORMAT, SWAGGER_DOC, OTHER")?
            .ok_or_else(|| ApiError::field("type", "is required"))?;
        let source_type =
            one_of(&o, "sourceType", "INLINE, MARKDOWN, URL, FILE")?.ok_or_else(|| ApiError::field("sourceType", "is required"))?;
        let visibility = one_of(&o, "visibility", "OWNER_ONLY, PRIVATE, API_LEVEL")?.unwrap_or(Visibility::ApiLevel);
        let summary = optional_string(&o, "summary", 32766)?;
        let source_url = match (source_type, optional_string(&o, "sourceUrl", 2048)?) {
            (SourceType::Url, Some(u)) if crate::model::valid_url(u.trim()) => Some(u.trim().to_string()),
            (SourceType::Url, Some(u)) => return Err(ApiError::field("sourceUrl", format!("`{u}` is not an http or https URL"))),
            (SourceType::Url, None) => return Err(ApiError::field("sourceUrl", "is required for a URL document")),
            _ => None,
        };
        let other_type_name = match (doc_type, optional_string(&o, "otherTypeName", 255)?) {
            (DocType::Other, Some(n)) => Some(n),
            (DocType::Other, None) => return Err(ApiError::field("otherTypeName", "is required for a document of type OTHER")),
            _ => None,
        };
        let inline_content = match (source_type, optional_string(&o, "inlineContent", TEXT_MAX)?) {
            (SourceType::Inline | SourceType::Markdown, c) => c,
            (_, None) => None,
            (_, Some(_)) => return Err(ApiError::field("inlineContent", "only INLINE and MARKDOWN documents have inline content")),
        };
        Ok(DocumentFields { name, doc_type, summary, source_type, source_url, other_type_name, visibility, inline_content })
    }
}

fn parse(doc: &DocRecord) -> Result<Document> {
    serde_json::from_str(&doc.document).map_err(|e| ApiError::storage(format!("document {} is not readable: {e}", doc.id)))
}

fn record(api_id: &str, d: &Document, created_at: i64, updated_at: i64) -> Result<DocRecord> {
    Ok(DocRecord {
        id: d.document_id.clone(),
        api_id: api_id.to_string(),
        name: d.name.clone(),
        document: serde_json::to_string(d).map_err(ApiError::storage)?,
        created_at,
        updated_at,
    })
}

/// A document of an API project (`Docs/<name>/document.yaml`'s `data`, with the file beside it): checked as a
/// `POST …/documents` body is, for API `api_id`, under a new id. `field` names the file in errors.
pub(crate) fn from_project(
    api_id: &str,
    data: &Value,
    content: Option<(String, Vec<u8>)>,
    user: &str,
    now: i64,
    field: &str,
) -> Result<(DocRecord, Option<DocContent>)> {
    let body = Bytes::from(serde_json::to_vec(data).map_err(|e| ApiError::field(field, e.to_string()))?);
    let f = DocumentFields::of(&body).map_err(|e| ApiError::field(field, e.description))?;
    let time = apim_domain::api::rfc3339(now);
    let mut doc = Document {
        document_id: uuid::Uuid::new_v4().to_string(),
        name: f.name,
        doc_type: f.doc_type,
        summary: f.summary,
        source_type: f.source_type,
        source_url: f.source_url,
        file_name: None,
        other_type_name: f.other_type_name,
        visibility: f.visibility,
        created_time: time.clone(),
        created_by: user.to_string(),
        last_updated_time: time,
        last_updated_by: user.to_string(),
    };
    let content = match (doc.source_type, content, f.inline_content) {
        (SourceType::Url, ..) => None,
        (SourceType::Inline | SourceType::Markdown, Some((_, bytes)), _) => {
            if bytes.len() > TEXT_MAX {
                return Err(ApiError::field(field, format!("its content is larger than {} KiB", TEXT_MAX >> 10)));
            }
            Some(DocContent::Text(String::from_utf8(bytes).map_err(|_| ApiError::field(field, "its content is not UTF-8 text"))?))
        }
        (SourceType::Inline | SourceType::Markdown, None, text) => text.map(DocContent::Text),
        (SourceType::File, Some((file_name, bytes)), _) => {
            if bytes.len() > FILE_MAX {
                return Err(ApiError::field(field, format!("its file is larger than {} MiB", FILE_MAX >> 20)));
            }
            doc.file_name = Some(file_name.clone());
            Some(DocContent::File { media_type: media_type_of(&file_name).to_string(), file_name, bytes })
        }
        (SourceType::File, None, _) => None,
    };
    Ok((record(api_id, &doc, now, now)?, content))
}

/// A document for an API project: its DTO (as `document.yaml`'s `data`) and the content file's name, when it has one.
pub(crate) fn for_project(rec: &DocRecord) -> Result<(Value, Option<String>)> {
    let doc = parse(rec)?;
    let file = match doc.source_type {
        SourceType::Url => None,
        SourceType::File => Some(doc.file_name.clone().unwrap_or_else(|| doc.name.clone())),
        // WSO2 keeps inline and markdown text in a file named as the document.
        SourceType::Inline | SourceType::Markdown => Some(doc.name.clone()),
    };
    Ok((serde_json::to_value(&doc).map_err(ApiError::storage)?, file))
}

/// A media type by a file's extension, for files that came without one (in an archive).
fn media_type_of(file_name: &str) -> &'static str {
    let ext = file_name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        "md" => "text/markdown",
        "html" | "htm" => "text/html",
        "json" => "application/json",
        "yaml" | "yml" => "application/yaml",
        "xml" => "application/xml",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "zip" => "application/zip",
        _ => "application/octet-stream",
    }
}

/// WSO2's `DocumentSearchResult`: a document the Publisher's content search found.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DocumentSearchResult {
    id: String,
    name: String,
    #[serde(rename = "type")]
    kind: &'static str,
    doc_type: DocType,
    #[serde(skip_serializing_if = "Option::is_none")]
    summary: Option<String>,
    source_type: SourceType,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    other_type_name: Option<String>,
    visibility: Visibility,
    api_name: String,
    api_version: String,
    api_provider: String,
    #[serde(rename = "apiUUID")]
    api_uuid: String,
    associated_type: &'static str,
}

impl DocumentSearchResult {
    pub(crate) fn of(hit: &DocumentHit) -> Result<DocumentSearchResult> {
        let d = parse(&hit.document)?;
        Ok(DocumentSearchResult {
            id: d.document_id,
            name: d.name,
            kind: "DOC",
            doc_type: d.doc_type,
            summary: d.summary,
            source_type: d.source_type,
            source_url: d.source_url,
            other_type_name: d.other_type_name,
            visibility: d.visibility,
            api_name: hit.api_name.clone(),
            api_version: hit.api_version.clone(),
            api_provider: hit.api_provider.clone(),
            api_uuid: hit.document.api_id.clone(),
            associated_type: "API",
        })
    }
}

// === Publisher ===

async fn api_exists(cp: &ControlPlane, api_id: &str) -> Result<()> {
    match apim_store::ApiStore::get_api(&cp.db, api_id).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::not_found(format!("API {api_id} not found"))),
    }
}

async fn doc_or_404(cp: &ControlPlane, api_id: &str, doc_id: &str) -> Result<DocRecord> {
    cp.db.get_doc(api_id, doc_id).await?.ok_or_else(|| ApiError::not_found(format!("document {doc_id} of API {api_id} not found")))
}

async fn list(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Path(api_id): Path<String>,
    Query(p): Query<HashMap<String, String>>,
) -> Result<Response> {
    cp.principal(&headers).await?.require(READ)?;
    let page = Page::of(&p)?;
    api_exists(&cp, &api_id).await?;
    let (docs, total) = cp.db.list_docs(&api_id, page.limit, page.offset).await?;
    let list = docs.iter().map(parse).collect::<Result<Vec<_>>>()?;
    Ok(Json(Listing::new(list, page.pagination(&format!("/apis/{api_id}/documents"), &[], total))).into_response())
}

async fn create(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Path(api_id): Path<String>, body: Bytes) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(WRITE)?;
    api_exists(&cp, &api_id).await?;
    let f = DocumentFields::of(&body)?;
    let now = cp.clock.unix_secs();
    let time = apim_domain::api::rfc3339(now);
    let doc = Document {
        document_id: uuid::Uuid::new_v4().to_string(),
        name: f.name,
        doc_type: f.doc_type,
        summary: f.summary,
        source_type: f.source_type,
        source_url: f.source_url,
        file_name: None,
        other_type_name: f.other_type_name,
        visibility: f.visibility,
        created_time: time.clone(),
        created_by: who.username.clone(),
        last_updated_time: time,
        last_updated_by: who.username.clone(),
    };
    let content = f.inline_content.map(DocContent::Text);
    cp.db.create_doc(&record(&api_id, &doc, now, now)?, content.as_ref()).await?;
    tracing::info!(api_id = %api_id, document = %doc.name, user = %who.username, "API document created");
    let mut resp = (StatusCode::CREATED, Json(&doc)).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("/api/am/publisher/v4/apis/{api_id}/documents/{}", doc.document_id)) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

async fn read(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Path((api_id, doc_id)): Path<(String, String)>) -> Result<Response> {
    cp.principal(&headers).await?.require(READ)?;
    Ok(Json(parse(&doc_or_404(&cp, &api_id, &doc_id).await?)?).into_response())
}

async fn update(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Path((api_id, doc_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(EDIT)?;
    let old_record = doc_or_404(&cp, &api_id, &doc_id).await?;
    let old = parse(&old_record)?;
    let f = DocumentFields::of(&body)?;
    let now = cp.clock.unix_secs();
    // Content of another kind of source no longer applies; new inline text replaces the old.
    let content: Option<Option<DocContent>> = match (f.inline_content, f.source_type == old.source_type) {
        (Some(text), _) => Some(Some(DocContent::Text(text))),
        (None, true) => None,
        (None, false) => Some(None),
    };
    let doc = Document {
        name: f.name,
        doc_type: f.doc_type,
        summary: f.summary,
        file_name: if f.source_type == SourceType::File && old.source_type == SourceType::File { old.file_name.clone() } else { None },
        source_type: f.source_type,
        source_url: f.source_url,
        other_type_name: f.other_type_name,
        visibility: f.visibility,
        last_updated_time: apim_domain::api::rfc3339(now),
        last_updated_by: who.username.clone(),
        ..old
    };
    let rec = record(&api_id, &doc, old_record.created_at, now)?;
    if !cp.db.update_doc(&rec, content.as_ref().map(Option::as_ref)).await? {
        return Err(ApiError::not_found(format!("document {doc_id} of API {api_id} not found")));
    }
    Ok(Json(doc).into_response())
}

async fn delete(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Path((api_id, doc_id)): Path<(String, String)>,
) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(EDIT)?;
    if !cp.db.delete_doc(&api_id, &doc_id).await? {
        return Err(ApiError::not_found(format!("document {doc_id} of API {api_id} not found")));
    }
    tracing::info!(api_id = %api_id, document = %doc_id, user = %who.username, "API document deleted");
    Ok(StatusCode::OK.into_response())
}

/// `POST .../documents/validate?name=`: 200 when the API has a document of that name, 404 when not.
async fn validate_name(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Path(api_id): Path<String>,
    Query(p): Query<HashMap<String, String>>,
) -> Result<Response> {
    cp.principal(&headers).await?.require(WRITE)?;
    let name = p.get("name").map(|n| n.trim()).filter(|n| !n.is_empty()).ok_or_else(|| ApiError::field("name", "is required"))?;
    api_exists(&cp, &api_id).await?;
    match cp.db.doc_named(&api_id, name).await? {
        Some(_) => Ok(StatusCode::OK.into_response()),
        None => Err(ApiError::not_found(format!("API {api_id} has no document named `{name}`"))),
    }
}

/// A part of a multipart form: its bytes, declared media type and file name.
struct Part {
    bytes: Bytes,
    media_type: Option<String>,
    file_name: Option<String>,
}

fn too_large(what: &str, max: usize) -> ApiError {
    ApiError::too_large(format!("{what} may be at most {} KiB", max / 1024))
}

/// Refuses a body that says it is larger than `max` before reading it.
fn declared_size(headers: &HeaderMap, what: &str, max: usize) -> Result<()> {
    let length = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    match length {
        Some(n) if n > max + FORM_SLACK => Err(too_large(what, max)),
        _ => Ok(()),
    }
}

/// The parts of a multipart form, by name; a part larger than `max` is a 413 naming `what`.
async fn parts(multipart: std::result::Result<Multipart, MultipartRejection>, what: &str, max: usize) -> Result<HashMap<String, Part>> {
    let mut m = multipart.map_err(|e| ApiError::bad_request(format!("expected multipart/form-data: {e}")))?;
    let mut out = HashMap::new();
    loop {
        let field = match m.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_large(what, max)),
            Err(e) => return Err(ApiError::bad_request(format!("malformed multipart body: {e}"))),
        };
        let name = field.name().unwrap_or("").to_string();
        let media_type = field.content_type().map(str::to_string);
        let file_name = field.file_name().map(str::to_string);
        let bytes = match field.bytes().await {
            Ok(b) => b,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_large(what, max)),
            Err(e) => return Err(ApiError::field(&name, format!("unreadable: {e}"))),
        };
        if bytes.len() > max {
            return Err(too_large(what, max));
        }
        out.insert(name, Part { bytes, media_type, file_name });
    }
    Ok(out)
}

async fn upload_content(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Path((api_id, doc_id)): Path<(String, String)>,
    multipart: std::result::Result<Multipart, MultipartRejection>,
) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(WRITE)?;
    declared_size(&headers, "a document file", FILE_MAX)?;
    let old_record = doc_or_404(&cp, &api_id, &doc_id).await?;
    let mut doc = parse(&old_record)?;
    let mut form = parts(multipart, "a document file", FILE_MAX).await?;
    let content = match doc.source_type {
        SourceType::File => {
            let part = form.remove("file").ok_or_else(|| ApiError::field("file", "is required: the document is a FILE"))?;
            if part.bytes.is_empty() {
                return Err(ApiError::field("file", "is empty"));
            }
            let file_name = part.file_name.filter(|n| !n.trim().is_empty()).unwrap_or_else(|| doc.name.clone());
            doc.file_name = Some(file_name.clone());
            let media_type = part.media_type.unwrap_or_else(|| "application/octet-stream".into());
            DocContent::File { media_type, file_name, bytes: part.bytes.to_vec() }
        }
        SourceType::Inline | SourceType::Markdown => {
            let part =
                form.remove("inlineContent").ok_or_else(|| ApiError::field("inlineContent", "is required: the document is inline text"))?;
            if part.bytes.len() > TEXT_MAX {
                return Err(too_large("inline content", TEXT_MAX));
            }
            let text = String::from_utf8(part.bytes.to_vec()).map_err(|_| ApiError::field("inlineContent", "must be UTF-8 text"))?;
            DocContent::Text(text)
        }
        SourceType::Url => return Err(ApiError::bad_request(format!("document `{}` is a URL; it has no content to upload", doc.name))),
    };
    let now = cp.clock.unix_secs();
    doc.last_updated_time = apim_domain::api::rfc3339(now);
    doc.last_updated_by = who.username.clone();
    let rec = record(&api_id, &doc, old_record.created_at, now)?;
    if !cp.db.update_doc(&rec, Some(Some(&content))).await? {
        return Err(ApiError::not_found(format!("document {doc_id} of API {api_id} not found")));
    }
    Ok(Json(doc).into_response())
}

/// Headers for content users uploaded: never sniffed, never run as a page of this origin.
fn untrusted(resp: &mut Response) {
    let h = resp.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; sandbox"));
}

/// A document's content: the file, the text, or a 303 to its URL.
async fn content_of(cp: &ControlPlane, record: &DocRecord) -> Result<Response> {
    let doc = parse(record)?;
    if doc.source_type == SourceType::Url {
        let url = doc.source_url.unwrap_or_default();
        let location =
            HeaderValue::from_str(&url).map_err(|_| ApiError::not_found(format!("document `{}` has no usable URL", doc.name)))?;
        return Ok((StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response());
    }
    let mut resp = match cp.db.doc_content(&record.api_id, &record.id).await? {
        Some(DocContent::Text(text)) => {
            let media = if doc.source_type == SourceType::Markdown { "text/markdown; charset=utf-8" } else { "text/plain; charset=utf-8" };
            ([(header::CONTENT_TYPE, HeaderValue::from_static(media))], text).into_response()
        }
        Some(DocContent::File { media_type, file_name, bytes }) => {
            let media = HeaderValue::from_str(&media_type).unwrap_or(HeaderValue::from_static("application/octet-stream"));
            // A file name is sent only as printable ASCII without quotes.
            let safe: String =
                file_name.chars().filter(|c| c.is_ascii_graphic() || *c == ' ').filter(|c| *c != '"' && *c != '\\').collect();
            let disposition =
                HeaderValue::from_str(&format!("attachment; filename=\"{safe}\"")).unwrap_or(HeaderValue::from_static("attachment"));
            ([(header::CONTENT_TYPE, media), (header::CONTENT_DISPOSITION, disposition)], bytes).into_response()
        }
        None => return Err(ApiError::not_found(format!("document `{}` has no content yet", doc.name))),
    };
    untrusted(&mut resp);
    Ok(resp)
}

async fn content(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Path((api_id, doc_id)): Path<(String, String)>,
) -> Result<Response> {
    cp.principal(&headers).await?.require(READ)?;
    content_of(&cp, &doc_or_404(&cp, &api_id, &doc_id).await?).await
}

// === thumbnails ===

/// The media type of an image, told by its first bytes; `None` for anything that is not an image we take.
pub(crate) fn image_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Some("image/png");
    }
    if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        return Some("image/jpeg");
    }
    if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        return Some("image/gif");
    }
    if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        return Some("image/webp");
    }
    // SVG: XML text whose root element is <svg> (served sandboxed, see `untrusted`).
    let head = std::str::from_utf8(&bytes[..bytes.len().min(4096)]).ok()?;
    let head = head.trim_start_matches('\u{feff}').trim_start();
    let looks_xml = head.starts_with("<svg") || head.starts_with("<?xml") || head.starts_with("<!--");
    (looks_xml && head.contains("<svg")).then_some("image/svg+xml")
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FileInfo {
    relative_path: String,
    media_type: &'static str,
}

async fn upload_thumbnail(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Path(api_id): Path<String>,
    multipart: std::result::Result<Multipart, MultipartRejection>,
) -> Result<Response> {
    let who = cp.principal(&headers).await?;
    who.require(&["apim:api_create", "apim:api_manage", "apim:api_publish"])?;
    declared_size(&headers, "a thumbnail", THUMBNAIL_MAX)?;
    api_exists(&cp, &api_id).await?;
    let mut form = parts(multipart, "a thumbnail", THUMBNAIL_MAX).await?;
    let part = form.remove("file").ok_or_else(|| ApiError::field("file", "is required: the image"))?;
    let media_type = image_type(&part.bytes)
        .ok_or_else(|| ApiError::field("file", "is not an image: PNG, JPEG, GIF, WebP or SVG, told by its content, are taken"))?;
    cp.db.set_thumbnail(&api_id, media_type, &part.bytes, cp.clock.unix_secs()).await?;
    tracing::info!(api_id = %api_id, media_type, bytes = part.bytes.len(), user = %who.username, "API thumbnail set");
    Ok(Json(FileInfo { relative_path: format!("apis/{api_id}/thumbnail"), media_type }).into_response())
}

async fn thumbnail_of(cp: &ControlPlane, api_id: &str) -> Result<Response> {
    let Some((media_type, bytes)) = cp.db.thumbnail(api_id).await? else {
        return Err(ApiError::not_found(format!("API {api_id} has no thumbnail")));
    };
    let media = HeaderValue::from_str(&media_type).unwrap_or(HeaderValue::from_static("application/octet-stream"));
    let mut resp = ([(header::CONTENT_TYPE, media)], bytes).into_response();
    untrusted(&mut resp);
    Ok(resp)
}

async fn thumbnail(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Path(api_id): Path<String>) -> Result<Response> {
    cp.principal(&headers).await?.require(&["apim:api_view", "apim:api_create", "apim:api_publish", "apim:api_manage"])?;
    api_exists(&cp, &api_id).await?;
    thumbnail_of(&cp, &api_id).await
}

// === DevPortal ===

/// Whether a caller who may see the API may see this document too.
fn portal_visible(doc: &Document, who: Option<&Principal>) -> bool {
    match doc.visibility {
        Visibility::OwnerOnly => false,
        Visibility::Private => who.is_some(),
        Visibility::ApiLevel => true,
    }
}

/// The document if the caller may see its API and it; 404 otherwise, as if it did not exist.
async fn portal_doc(cp: &ControlPlane, headers: &HeaderMap, api_id: &str, doc_id: &str) -> Result<(DocRecord, Document)> {
    let who = cp.optional_principal(headers).await?;
    crate::devportal::visible_api(cp, api_id, who.as_ref()).await?;
    let record = doc_or_404(cp, api_id, doc_id).await?;
    let doc = parse(&record)?;
    if !portal_visible(&doc, who.as_ref()) {
        return Err(ApiError::not_found(format!("document {doc_id} of API {api_id} not found")));
    }
    Ok((record, doc))
}

/// An API's documents are few: those the caller may see are picked from all of them, then paged.
const PORTAL_DOCS_MAX: i64 = 10_000;

async fn portal_list(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Path(api_id): Path<String>,
    Query(p): Query<HashMap<String, String>>,
) -> Result<Response> {
    let page = Page::of(&p)?;
    let who = cp.optional_principal(&headers).await?;
    crate::devportal::visible_api(&cp, &api_id, who.as_ref()).await?;
    let (docs, _) = cp.db.list_docs(&api_id, PORTAL_DOCS_MAX, 0).await?;
    let mut shown = Vec::new();
    for d in &docs {
        let doc = parse(d)?;
        if portal_visible(&doc, who.as_ref()) {
            shown.push(doc);
        }
    }
    let total = shown.len() as i64;
    let list: Vec<Document> = page.slice(shown).collect();
    Ok(Json(Listing::new(list, page.pagination(&format!("/apis/{api_id}/documents"), &[], total))).into_response())
}

async fn portal_read(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Path((api_id, doc_id)): Path<(String, String)>,
) -> Result<Response> {
    Ok(Json(portal_doc(&cp, &headers, &api_id, &doc_id).await?.1).into_response())
}

async fn portal_content(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Path((api_id, doc_id)): Path<(String, String)>,
) -> Result<Response> {
    let (record, _) = portal_doc(&cp, &headers, &api_id, &doc_id).await?;
    content_of(&cp, &record).await
}

async fn portal_thumbnail(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Path(api_id): Path<String>) -> Result<Response> {
    let who = cp.optional_principal(&headers).await?;
    crate::devportal::visible_api(&cp, &api_id, who.as_ref()).await?;
    thumbnail_of(&cp, &api_id).await
}

#[cfg(test)]
mod tests {
    use super::image_type;

    #[test]
    fn images_are_told_by_their_first_bytes() {
        assert_eq!(image_type(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(image_type(&[0xff, 0xd8, 0xff, 0xe0]), Some("image/jpeg"));
        assert_eq!(image_type(b"GIF89a\x01\x00"), Some("image/gif"));
        assert_eq!(image_type(b"RIFF\x10\x00\x00\x00WEBPVP8 "), Some("image/webp"));
        assert_eq!(image_type(b"\xef\xbb\xbf <?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\"/>"), Some("image/svg+xml"));
        assert_eq!(image_type(b"<svg></svg>"), Some("image/svg+xml"));
        for not_image in [&b"%PDF-1.7"[..], b"<html><body>svg</body></html>", b"", b"\x00\x01", b"hello svg"] {
            assert_eq!(image_type(not_image), None, "{not_image:?}");
        }
    }
}
