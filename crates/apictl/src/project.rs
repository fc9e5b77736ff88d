//! What `import api` posts: the project as a ZIP (a directory is zipped here, a ZIP sent as it is), or, with
//! `--params`, apictl's params form — a ZIP holding `SourceArchive.zip` (the project) and
//! `intermediate_params.yaml` (the target environment's `configs` from the params file).

use std::io::{Read, Write};
use std::path::Path;

use anyhow::{Context, bail};
use serde_norway::Value;

/// The archive to post for `path` (a project directory or a ZIP), with `params` for `environment` when given.
/// With `skip_deployments` (`--skip-deployments`) the project's `deployment_environments` file and the params'
/// `deploymentEnvironments` are left out, so the import updates the working copy and deploys nothing.
pub fn archive(path: &Path, params: Option<&Path>, environment: &str, skip_deployments: bool) -> anyhow::Result<Vec<u8>> {
    let project = if path.is_dir() {
        zip_dir(path)?
    } else {
        let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        if !bytes.starts_with(b"PK") {
            bail!("{} is neither a project directory nor a ZIP archive", path.display());
        }
        bytes
    };
    let project = if skip_deployments { without_deployments(&project)? } else { project };
    let Some(params) = params else { return Ok(project) };
    // A deployment directory (`gen deployment-dir`) holds its params.yaml.
    let params_file = if params.is_dir() { params.join("params.yaml") } else { params.to_path_buf() };
    let params = params_file.as_path();
    let text = std::fs::read_to_string(params).with_context(|| format!("cannot read {}", params.display()))?;
    let doc: Value = serde_norway::from_str(&text).with_context(|| format!("{} is not YAML", params.display()))?;
    let configs = doc
        .get("environments")
        .and_then(Value::as_sequence)
        .with_context(|| format!("{}: no `environments` list", params.display()))?
        .iter()
        .find(|e| e.get("name").and_then(Value::as_str) == Some(environment))
        .with_context(|| format!("{}: no entry for the environment `{environment}`", params.display()))?
        .get("configs")
        .cloned()
        .unwrap_or(Value::Mapping(Default::default()));
    let mut configs = configs;
    if skip_deployments && let Some(m) = configs.as_mapping_mut() {
        m.remove("deploymentEnvironments");
    }
    let intermediate = serde_norway::to_string(&configs).context("cannot write the intermediate params")?;
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    out.start_file("SourceArchive.zip", options)?;
    out.write_all(&project)?;
    out.start_file("intermediate_params.yaml", options)?;
    out.write_all(intermediate.as_bytes())?;
    Ok(out.finish()?.into_inner())
}

/// A project ZIP without its `deployment_environments.yaml` (`.yml`, `.json`) files.
fn without_deployments(zip_bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip_bytes)).context("the project is not a readable ZIP")?;
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for i in 0..archive.len() {
        let entry = archive.by_index_raw(i)?;
        let file = entry.name()?.rsplit('/').next().unwrap_or("").to_string();
        if ["deployment_environments.yaml", "deployment_environments.yml", "deployment_environments.json"].contains(&file.as_str()) {
            continue;
        }
        out.raw_copy_file(entry)?;
    }
    Ok(out.finish()?.into_inner())
}

/// A project directory as a ZIP with its folder name on top, as apictl makes it; links are not followed.
/// `apictl bundle`: a project directory (an API's, a product's or an application's: its main file at the root) as
/// the ZIP an import takes, written as `<destination>/<directory name>.zip`; returns that path.
pub fn bundle(source: &Path, destination: &Path) -> anyhow::Result<std::path::PathBuf> {
    if !source.is_dir() {
        bail!("{} is not a directory (give a project directory with -s)", source.display());
    }
    let main = ["api", "api_product", "application"]
        .iter()
        .flat_map(|stem| ["yaml", "yml", "json"].map(|ext| format!("{stem}.{ext}")))
        .any(|f| source.join(f).is_file());
    if !main {
        bail!("{} is not an apictl project: it has no api.yaml, api_product.yaml or application.yaml", source.display());
    }
    let name = std::fs::canonicalize(source)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "project".into());
    let bytes = zip_dir(source)?;
    std::fs::create_dir_all(destination).with_context(|| format!("cannot create {}", destination.display()))?;
    let path = destination.join(format!("{name}.zip"));
    std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

fn zip_dir(dir: &Path) -> anyhow::Result<Vec<u8>> {
    let top = dir.file_name().and_then(|n| n.to_str()).unwrap_or("project").to_string();
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let mut stack = vec![(dir.to_path_buf(), top)];
    while let Some((path, name)) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&path)
            .with_context(|| format!("cannot read {}", path.display()))?
            .collect::<Result<_, _>>()
            .with_context(|| format!("cannot read {}", path.display()))?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let kind = entry.file_type()?;
            let child = format!("{name}/{}", entry.file_name().to_string_lossy());
            if kind.is_dir() {
                stack.push((entry.path(), child));
            } else if kind.is_file() {
                out.start_file(child, options)?;
                out.write_all(&std::fs::read(entry.path()).with_context(|| format!("cannot read {}", entry.path().display()))?)?;
            }
        }
    }
    Ok(out.finish()?.into_inner())
}

/// A multipart form with one file field: `(content type, body)`.
pub fn multipart(field: &str, file_name: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = "apictl-boundary-7d3a9c1f";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{file_name}\"\r\nContent-Type: application/zip\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// The lifecycle states an initialised project may name.
const STATES: [&str; 6] = ["CREATED", "PRE-RELEASED", "PUBLISHED", "BLOCKED", "DEPRECATED", "RETIRED"];

/// `init`: a project directory as apictl makes one — `api.yaml` in WSO2's `{type, version, data}` envelope with
/// apictl's defaults (name, version and context from the definition's `info` and `x-wso2-basePath`, the
/// production and sandbox endpoint from its first server), `api_meta.yaml`, `Definitions/swagger.yaml`, and
/// empty `Docs/` and `Image/`. Nothing is written unless the whole project can be.
pub fn init(dir: &Path, definition: Option<&str>, state: &str, force: bool) -> anyhow::Result<()> {
    if !STATES.contains(&state) {
        bail!("--initial-state `{state}` is not one of {}", STATES.join(", "));
    }
    if dir.exists() && !force {
        bail!("{} exists: give -f to replace it", dir.display());
    }
    let folder = dir.file_name().and_then(|n| n.to_str()).unwrap_or("API").to_string();
    let doc: Option<Value> = match definition {
        Some(text) => Some(serde_norway::from_str(text).context("the definition is neither JSON nor YAML")?),
        None => None,
    };
    let info = doc.as_ref().and_then(|d| d.get("info"));
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    if let Some(d) = &doc
        && d.get("openapi").is_none()
        && d.get("swagger").is_none()
    {
        bail!("the definition has no `openapi` or `swagger` version: not an OpenAPI document");
    }
    let name: String =
        text(info.and_then(|i| i.get("title"))).unwrap_or_else(|| folder.clone()).chars().filter(|c| !c.is_whitespace()).collect();
    let version = text(info.and_then(|i| i.get("version"))).unwrap_or_else(|| "1.0.0".into());
    let context = text(doc.as_ref().and_then(|d| d.get("x-wso2-basePath"))).unwrap_or_else(|| format!("/{}", name.to_lowercase()));
    let server = doc
        .as_ref()
        .and_then(|d| d.get("servers"))
        .and_then(Value::as_sequence)
        .and_then(|s| s.first())
        .and_then(|s| s.get("url"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| {
            // Swagger 2.0: scheme, host and base path.
            let d = doc.as_ref()?;
            let host = d.get("host")?.as_str()?;
            let scheme = d.get("schemes").and_then(Value::as_sequence).and_then(|s| s.first()).and_then(Value::as_str).unwrap_or("https");
            Some(format!("{scheme}://{host}{}", d.get("basePath").and_then(Value::as_str).unwrap_or("")))
        })
        .unwrap_or_else(|| "http://localhost:8080".into());
    let api = serde_norway::to_string(&serde_json::json!({"type": "api", "version": "v4.2.0", "data": {
        "name": name, "context": context, "version": version, "provider": "admin", "lifeCycleStatus": state, "type": "HTTP",
        "transport": ["http", "https"], "policies": ["Unlimited"], "visibility": "PUBLIC", "endpointImplementationType": "ENDPOINT",
        "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": server}, "sandbox_endpoints": {"url": server}}}}))?;
    let meta = serde_norway::to_string(&serde_json::json!({"name": name, "version": version,
        "deploy": {"import": {"update": false, "preserveProvider": true, "rotateRevision": false}}}))?;
    if force && dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("cannot replace {}", dir.display()))?;
    }
    let write = |rel: &str, content: &str| -> anyhow::Result<()> {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, content).with_context(|| format!("cannot write {}", path.display()))
    };
    write("api.yaml", &api)?;
    write("api_meta.yaml", &meta)?;
    if let Some(d) = definition {
        write("Definitions/swagger.yaml", d)?;
    }
    for empty in ["Docs", "Image"] {
        std::fs::create_dir_all(dir.join(empty)).with_context(|| format!("cannot create {}", dir.join(empty).display()))?;
    }
    Ok(())
}

/// `gen deployment-dir`: `DeploymentArtifacts_<Name>-<version>/` beside the source (or in `destination`), with the
/// project's `api_meta.yaml`, a `params.yaml` holding one entry per environment apictl knows (the project's own
/// endpoints and the Default gateway environment, to be edited per environment) and an empty `certificates/`.
pub fn deployment_dir(source: &Path, destination: Option<&Path>, environments: &[String]) -> anyhow::Result<std::path::PathBuf> {
    let zip = archive(source, None, "", false)?;
    let mut reader = zip::ZipArchive::new(std::io::Cursor::new(zip)).context("not a project archive")?;
    let mut api_yaml = None;
    let mut meta = None;
    for i in 0..reader.len() {
        let mut entry = reader.by_index(i)?;
        let name = String::from_utf8_lossy(entry.name_raw()).to_string();
        let rel = name.split_once('/').map_or(name.as_str(), |(_, r)| r).to_string();
        let mut text = String::new();
        if rel == "api.yaml" || rel == "api.json" || rel == "api_meta.yaml" {
            (&mut entry).take(16 << 20).read_to_string(&mut text).with_context(|| format!("{rel} is not UTF-8"))?;
        }
        match rel.as_str() {
            "api.yaml" | "api.json" => api_yaml = Some(text),
            "api_meta.yaml" => meta = Some(text),
            _ => {}
        }
    }
    let api: Value = serde_norway::from_str(&api_yaml.context("the project has no api.yaml")?).context("api.yaml is not YAML")?;
    let data = api.get("data").context("api.yaml has no `data`")?;
    let text = |k: &str| data.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let (name, version) = (text("name"), text("version"));
    if name.is_empty() || version.is_empty() {
        bail!("api.yaml names no API (name and version)");
    }
    let url = |which: &str| {
        data.get("endpointConfig").and_then(|e| e.get(which)).and_then(|e| e.get("url")).and_then(Value::as_str).unwrap_or("").to_string()
    };
    let entries: Vec<serde_json::Value> = environments
        .iter()
        .map(|env| {
            serde_json::json!({"name": env, "configs": {
                "endpoints": {"production": {"url": url("production_endpoints")}, "sandbox": {"url": url("sandbox_endpoints")}},
                "deploymentEnvironments": [{"deploymentEnvironment": "Default", "displayOnDevportal": true}]}})
        })
        .collect();
    let params = serde_norway::to_string(&serde_json::json!({"environments": entries}))?;
    let base = destination.map(Path::to_path_buf).unwrap_or_else(|| source.parent().map(Path::to_path_buf).unwrap_or_default());
    let dir = base.join(format!("DeploymentArtifacts_{name}-{version}"));
    std::fs::create_dir_all(dir.join("certificates")).with_context(|| format!("cannot create {}", dir.display()))?;
    let meta = match meta {
        Some(m) => m,
        None => serde_norway::to_string(&serde_json::json!({"name": name, "version": version}))?,
    };
    std::fs::write(dir.join("api_meta.yaml"), meta).with_context(|| format!("cannot write in {}", dir.display()))?;
    std::fs::write(dir.join("params.yaml"), params).with_context(|| format!("cannot write in {}", dir.display()))?;
    Ok(dir)
}
