//! What `import api` posts: the project as a ZIP (a directory is zipped here, a ZIP sent as it is), or, with
//! `--params`, apictl's params form — a ZIP holding `SourceArchive.zip` (the project) and
//! `intermediate_params.yaml` (the target environment's `configs` from the params file).

use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};
use serde_norway::Value;

/// The archive to post for `path` (a project directory or a ZIP), with `params` for `environment` when given.
pub fn archive(path: &Path, params: Option<&Path>, environment: &str) -> anyhow::Result<Vec<u8>> {
    let project = if path.is_dir() {
        zip_dir(path)?
    } else {
        let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        if !bytes.starts_with(b"PK") {
            bail!("{} is neither a project directory nor a ZIP archive", path.display());
        }
        bytes
    };
    let Some(params) = params else { return Ok(project) };
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
    let intermediate = serde_norway::to_string(&configs).context("cannot write the intermediate params")?;
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    out.start_file("SourceArchive.zip", options)?;
    out.write_all(&project)?;
    out.start_file("intermediate_params.yaml", options)?;
    out.write_all(intermediate.as_bytes())?;
    Ok(out.finish()?.into_inner())
}

/// A project directory as a ZIP with its folder name on top, as apictl makes it; links are not followed.
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
