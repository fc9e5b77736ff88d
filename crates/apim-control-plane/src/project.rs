//! apictl's API project archive (WSO2 API-M 4.x `import/export` format), read and written: `api.yaml` in WSO2's
//! `{type, version, data}` envelope, `Definitions/swagger.yaml`, `Docs/<name>/document.yaml` with the content file
//! beside it, `Image/icon.<ext>`, `deployment_environments.yaml` and `Policies/`; YAML or JSON (`api.json`, …).
//! apictl's `--params` form is a ZIP holding `SourceArchive.zip` (the project) and `intermediate_params.yaml` (one
//! environment's `configs`), beside it or under `Deployment/`.
//!
//! Reading goes through `archive::files`, so the archive (and the project inside a params archive) is bounded as
//! every uploaded archive is. Each refusal is a 400 naming the project file at fault.

use std::collections::BTreeMap;
use std::io::Write;

use serde_json::{Map, Value, json};

use crate::error::{ApiError, Result};

/// The envelope version written; any `v4…` is read.
pub const ENVELOPE_VERSION: &str = "v4.2.0";

/// The files of a project that are read; the others (`api_meta.yaml`, certificates, interceptors) are not.
#[derive(Debug, Default)]
pub struct Project {
    /// `api.yaml`'s `data`, and the file's name (`api.yaml`, `api.json`) for errors.
    pub api: Map<String, Value>,
    pub api_file: String,
    /// `Definitions/swagger.yaml` (or `.json`), parsed, with its path.
    pub definition: Option<(String, Value)>,
    pub docs: Vec<ProjectDoc>,
    /// `Image/icon.<ext>`: the path and bytes.
    pub thumbnail: Option<(String, Vec<u8>)>,
    /// `deployment_environments.yaml`'s `data` and the file's name; `None` when the project has no such file.
    pub deployments: Option<(String, Vec<Value>)>,
    /// `intermediate_params.yaml`: the chosen environment's `configs` of apictl's params file.
    pub params: Option<Value>,
    /// `Policies/` files by name.
    pub policies: BTreeMap<String, Vec<u8>>,
    /// An API product's project: the projects of the APIs it uses (`APIs/<Name>-<version>/`), by folder.
    pub apis: Vec<(String, Project)>,
    /// `Endpoint-certificates/` and `Client-certificates/` files, by their path in the project.
    pub certificates: BTreeMap<String, Vec<u8>>,
    /// The params form's certificates (`certificates/<file>` beside `intermediate_params.yaml`), by file name.
    pub params_certificates: BTreeMap<String, Vec<u8>>,
}

/// The certificates a project lists in `<folder>/<kind>.yaml` (`Endpoint-certificates`, `endpoint_certificates`;
/// `Client-certificates`, `client_certificates`): each entry with the PEM of the file it names beside the list, and
/// the entry's path for errors.
pub fn certificates(p: &Project, folder: &str, kind: &str) -> Result<Vec<(Value, String, String)>> {
    let Some((path, bytes)) = [".yaml", ".yml", ".json"]
        .iter()
        .map(|e| format!("{folder}/{kind}{e}"))
        .find_map(|path| p.certificates.get(&path).map(|b| (path, b)))
    else {
        return Ok(Vec::new());
    };
    let items = match envelope(&path, bytes, kind)? {
        Value::Array(items) => items,
        Value::Null => Vec::new(),
        _ => return Err(bad(&path, "`data` must be a list of certificates")),
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let at = format!("{path}.data[{i}]");
        let file = item
            .get("certificate")
            .and_then(Value::as_str)
            .ok_or_else(|| bad(&format!("{at}.certificate"), "is required (the .crt file beside the list)"))?;
        let pem = p
            .certificates
            .get(&format!("{folder}/{file}"))
            .ok_or_else(|| bad(&format!("{at}.certificate"), format!("`{file}` is not in {folder}/")))?;
        let pem = String::from_utf8(pem.clone()).map_err(|_| bad(&format!("{folder}/{file}"), "is not UTF-8 text (a PEM certificate)"))?;
        out.push((item, pem, at));
    }
    Ok(out)
}

/// What a project archive holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `api.yaml`.
    Api,
    /// `api_product.yaml`, with the APIs it uses under `APIs/`.
    Product,
}

impl Kind {
    /// The envelope's `type` and the main file's stem.
    pub fn envelope(self) -> &'static str {
        match self {
            Kind::Api => "api",
            Kind::Product => "api_product",
        }
    }
}

#[derive(Debug)]
pub struct ProjectDoc {
    /// The path of its `document.yaml`, for errors.
    pub path: String,
    pub data: Value,
    /// The content file beside it: (file name, bytes).
    pub content: Option<(String, Vec<u8>)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
}

impl Format {
    pub fn ext(self) -> &'static str {
        match self {
            Format::Yaml => "yaml",
            Format::Json => "json",
        }
    }
}

fn bad(path: &str, d: impl Into<String>) -> ApiError {
    ApiError::field(path, d)
}

/// The files of a ZIP with the one folder they all sit in (apictl's `<Name>-<version>/`) taken off.
fn unpack(bytes: &[u8]) -> Result<BTreeMap<String, Vec<u8>>> {
    let files = crate::archive::files(bytes)?;
    let top = files.first().and_then(|(p, _)| p.split_once('/')).map(|(t, _)| format!("{t}/"));
    let strip = top.filter(|t| files.iter().all(|(p, _)| p.starts_with(t.as_str())));
    Ok(files
        .into_iter()
        .map(|(p, b)| match &strip {
            Some(t) => (p[t.len()..].to_string(), b),
            None => (p, b),
        })
        .collect())
}

/// Reads an uploaded project of `kind`: a plain project ZIP or apictl's params form.
pub fn read(bytes: &[u8], kind: Kind) -> Result<Project> {
    let mut files = unpack(bytes)?;
    let mut params = None;
    let mut params_certificates = BTreeMap::new();
    if let Some(source) = files.remove("SourceArchive.zip") {
        for path in ["intermediate_params.yaml", "Deployment/intermediate_params.yaml"] {
            if let Some(text) = files.get(path) {
                params = Some(parse(path, text)?);
                break;
            }
        }
        for (path, b) in &files {
            if let Some(name) = path.strip_prefix("Deployment/certificates/").or_else(|| path.strip_prefix("certificates/")) {
                params_certificates.insert(name.to_string(), b.clone());
            }
        }
        files = unpack(&source).map_err(|e| bad("SourceArchive.zip", e.description))?;
    }
    let mut project = from_files(&files, kind)?;
    project.params = params;
    project.params_certificates = params_certificates;
    if kind == Kind::Product {
        // Each `APIs/<folder>/` is an API's own project.
        let mut folders: BTreeMap<String, BTreeMap<String, Vec<u8>>> = BTreeMap::new();
        for (path, b) in &files {
            if let Some((folder, rest)) = path.strip_prefix("APIs/").and_then(|r| r.split_once('/')) {
                folders.entry(folder.to_string()).or_default().insert(rest.to_string(), b.clone());
            }
        }
        for (folder, files) in folders {
            let api = from_files(&files, Kind::Api).map_err(|e| match e.fields.first() {
                Some((f, d)) => bad(&format!("APIs/{folder}/{f}"), d.clone()),
                None => bad(&format!("APIs/{folder}"), e.description),
            })?;
            project.apis.push((folder, api));
        }
    }
    Ok(project)
}

/// A project from its files (paths relative to its root).
fn from_files(files: &BTreeMap<String, Vec<u8>>, kind: Kind) -> Result<Project> {
    let mut project = Project::default();
    let (other, stem) = match kind {
        Kind::Api => ("api_product", "api"),
        Kind::Product => ("api", "api_product"),
    };
    if [".yaml", ".yml", ".json"].iter().any(|ext| files.contains_key(&format!("{other}{ext}"))) {
        return Err(bad(
            "file",
            match kind {
                Kind::Api => "the archive is an API product project; import it at /api-products/import",
                Kind::Product => "the archive is an API project; import it at /apis/import",
            },
        ));
    }
    let (api_path, api_text) =
        [".yaml", ".yml", ".json"].iter().map(|ext| format!("{stem}{ext}")).find_map(|p| files.get(&p).map(|t| (p, t))).ok_or_else(
            || bad("file", format!("the archive holds no {stem}.yaml (or {stem}.json) at its root or in its one top folder")),
        )?;
    project.api = match envelope(&api_path, api_text, kind.envelope())? {
        Value::Object(o) => o,
        _ => {
            return Err(bad(&api_path, format!("`data` must be an object (an {})", if kind == Kind::Api { "API" } else { "API product" })));
        }
    };
    project.api_file = api_path;
    for path in ["Definitions/swagger.yaml", "Definitions/swagger.yml", "Definitions/swagger.json"] {
        if let Some(b) = files.get(path) {
            let text = std::str::from_utf8(b).map_err(|_| bad(path, "is not UTF-8 text"))?;
            project.definition = Some((path.to_string(), crate::openapi::parse(path, text)?));
            break;
        }
    }
    if project.definition.is_none()
        && let Some(other) = files.keys().find(|p| p.starts_with("Definitions/"))
    {
        return Err(bad(other, "only REST (OpenAPI) projects are imported: expected Definitions/swagger.yaml"));
    }
    for path in ["deployment_environments.yaml", "deployment_environments.yml", "deployment_environments.json"] {
        if let Some(b) = files.get(path) {
            project.deployments = match envelope(path, b, "deployment_environments")? {
                Value::Array(a) => Some((path.to_string(), a)),
                Value::Null => Some((path.to_string(), Vec::new())),
                _ => return Err(bad(path, "`data` must be a list of deployment environments")),
            };
            break;
        }
    }
    if let Some((path, b)) = files.iter().find(|(p, _)| p.starts_with("Image/") && !p[6..].contains('/')) {
        project.thumbnail = Some((path.clone(), b.clone()));
    }
    for (path, b) in files.iter().filter(|(p, _)| p.starts_with("Policies/")) {
        project.policies.insert(path["Policies/".len()..].to_string(), b.clone());
    }
    for (path, b) in files.iter().filter(|(p, _)| p.starts_with("Endpoint-certificates/") || p.starts_with("Client-certificates/")) {
        project.certificates.insert(path.clone(), b.clone());
    }
    project.docs = docs(files)?;
    Ok(project)
}

/// Reads an uploaded application project (`application.yaml`, `.yml` or `.json` at the root or in the one top
/// folder, as `GET /applications/export` writes it): the file's path and the envelope's `data`.
pub fn read_application(bytes: &[u8]) -> Result<(String, Value)> {
    let files = unpack(bytes)?;
    let (path, text) = ["application.yaml", "application.yml", "application.json"]
        .iter()
        .find_map(|p| files.get(*p).map(|t| (p.to_string(), t)))
        .ok_or_else(|| bad("file", "the archive holds no application.yaml (or application.json) at its root or in its one top folder"))?;
    let data = envelope(&path, text, "application")?;
    if !data.is_object() {
        return Err(bad(&path, "`data` must be an object (an exported application)"));
    }
    Ok((path, data))
}

/// `Docs/<folder>/document.yaml` (or `.json`) with the one content file in its folder: the file named by
/// `fileName` or after the document, else the only other file there.
fn docs(files: &BTreeMap<String, Vec<u8>>) -> Result<Vec<ProjectDoc>> {
    let mut out = Vec::new();
    for (path, b) in files {
        let Some(rest) = path.strip_prefix("Docs/") else { continue };
        let Some((folder, file)) = rest.split_once('/') else { continue };
        if !matches!(file, "document.yaml" | "document.yml" | "document.json") {
            continue;
        }
        let data = envelope(path, b, "document")?;
        if !data.is_object() {
            return Err(bad(path, "`data` must be an object (a Document)"));
        }
        let prefix = format!("Docs/{folder}/");
        let siblings: Vec<(&str, &Vec<u8>)> = files
            .iter()
            .filter_map(|(p, b)| p.strip_prefix(prefix.as_str()).map(|n| (n, b)))
            .filter(|(n, _)| !n.contains('/') && !n.starts_with("document."))
            .collect();
        let wanted = [data.get("fileName").and_then(Value::as_str), data.get("name").and_then(Value::as_str), Some(folder)];
        let content = wanted
            .iter()
            .flatten()
            .find_map(|w| siblings.iter().find(|(n, _)| n == w))
            .or_else(|| if siblings.len() == 1 { siblings.first() } else { None })
            .map(|(n, b)| (n.to_string(), (*b).clone()));
        out.push(ProjectDoc { path: path.clone(), data, content });
    }
    Ok(out)
}

/// A project file as YAML or JSON.
fn parse(path: &str, bytes: &[u8]) -> Result<Value> {
    let text = std::str::from_utf8(bytes).map_err(|_| bad(path, "is not UTF-8 text"))?;
    if text.trim_start().starts_with('{') {
        serde_json::from_str(text).map_err(|e| bad(path, format!("invalid JSON at line {}, column {}: {e}", e.line(), e.column())))
    } else {
        serde_norway::from_str(text).map_err(|e| {
            let at = e.location().map(|l| format!(" at line {}, column {}", l.line(), l.column())).unwrap_or_default();
            bad(path, format!("invalid YAML{at}: {e}"))
        })
    }
}

/// The `data` of a file in WSO2's `{type, version, data}` envelope, which must be of `kind` and a 4.x version.
fn envelope(path: &str, bytes: &[u8], kind: &str) -> Result<Value> {
    Ok(envelope_whole(path, bytes, kind)?.remove("data").unwrap_or(Value::Null))
}

/// A file in WSO2's envelope of `kind` and a 4.x version, whole (with any other fields, such as a policy's
/// `subtype`).
pub fn envelope_whole(path: &str, bytes: &[u8], kind: &str) -> Result<Map<String, Value>> {
    let Value::Object(o) = parse(path, bytes)? else {
        return Err(bad(path, "must be a {type, version, data} document"));
    };
    match o.get("type").and_then(Value::as_str) {
        Some(t) if t == kind => {}
        Some(t) => return Err(bad(path, format!("type `{t}` is not `{kind}`"))),
        None => return Err(bad(path, format!("type is required (`{kind}`)"))),
    }
    match o.get("version") {
        Some(Value::String(v)) if v == "v4" || v.starts_with("v4.") => {}
        Some(v) => {
            let v = v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string());
            return Err(bad(path, format!("envelope version `{v}` is not supported: this server reads v4.x projects (apictl 4.x)")));
        }
        None => return Err(bad(path, "version is required (v4.x)")),
    }
    Ok(o)
}

/// A project file's text: `{type, version, data}` in the format asked for.
pub fn enveloped(kind: &str, data: Value, format: Format) -> Result<Vec<u8>> {
    let doc = json!({"type": kind, "version": ENVELOPE_VERSION, "data": data});
    text_of(&doc, format)
}

pub fn text_of(doc: &Value, format: Format) -> Result<Vec<u8>> {
    match format {
        Format::Json => serde_json::to_vec_pretty(doc).map_err(ApiError::storage),
        Format::Yaml => serde_norway::to_string(doc).map(String::into_bytes).map_err(ApiError::storage),
    }
}

/// Writes a project ZIP: every `(path, bytes)` under the one top folder apictl expects (`<Name>-<version>/`).
pub fn write(top: &str, files: &[(String, Vec<u8>)]) -> Result<Vec<u8>> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let fail = |e: &dyn std::fmt::Display| ApiError::storage(format!("writing the export archive: {e}"));
    for (path, bytes) in files {
        w.start_file(format!("{top}/{path}"), options).map_err(|e| fail(&e))?;
        w.write_all(bytes).map_err(|e| fail(&e))?;
    }
    Ok(w.finish().map_err(|e| fail(&e))?.into_inner())
}

/// A name safe as one path segment of an archive (a document's folder): no separators, no dot segments.
pub fn segment(name: &str) -> String {
    let s: String = name.chars().map(|c| if c == '/' || c == '\\' || c.is_control() { '_' } else { c }).collect();
    if s.is_empty() || s == "." || s == ".." { "_".to_string() } else { s }
}

#[cfg(test)]
mod tests;
