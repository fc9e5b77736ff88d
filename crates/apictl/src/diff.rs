//! `diff api`: what importing a project would change — the API's fields, its resources (verb and path, from the
//! definition), documents and deployment environments — read from the project and from the environment's own
//! export of the same API, compared field by field. Fields the server makes (ids, times, revision flags) are left
//! out: they would differ on every import.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

use anyhow::{Context, bail};
use serde_json::Value;

/// The server's own fields, never the user's to change.
const MADE_BY_SERVER: [&str; 12] = [
    "id",
    "createdTime",
    "lastUpdatedTime",
    "lastUpdatedTimestamp",
    "lastUpdatedTimeStamp",
    "workflowStatus",
    "isRevision",
    "revisionId",
    "revisionedApiId",
    "hasThumbnail",
    "gatewayVendor",
    "categories",
];

/// The limits a project read here stays within (an export or a user's directory: small).
const MAX_ENTRIES: usize = 2_000;
const MAX_BYTES: u64 = 64 << 20;

pub struct Project {
    pub name: String,
    pub version: String,
    api: Value,
    resources: BTreeSet<String>,
    documents: BTreeSet<String>,
    deployments: BTreeSet<String>,
}

impl Project {
    /// Reads a project ZIP (one top folder, as apictl and the export make them).
    pub fn read(zip: &[u8]) -> anyhow::Result<Project> {
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).context("not a ZIP archive")?;
        if archive.len() > MAX_ENTRIES {
            bail!("more than {MAX_ENTRIES} entries");
        }
        let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        let mut total = 0u64;
        for i in 0..archive.len() {
            let mut entry = archive.by_index(i)?;
            if entry.is_dir() {
                continue;
            }
            let Some(path) = entry.enclosed_name() else {
                bail!("an entry leaves the archive: {}", String::from_utf8_lossy(entry.name_raw()))
            };
            // Without the top folder: `api.yaml`, `Definitions/swagger.yaml`…
            let rel: String = path.components().skip(1).map(|c| c.as_os_str().to_string_lossy().to_string()).collect::<Vec<_>>().join("/");
            let mut bytes = Vec::new();
            (&mut entry).take(MAX_BYTES - total + 1).read_to_end(&mut bytes)?;
            total += bytes.len() as u64;
            if total > MAX_BYTES {
                bail!("more than {} MiB uncompressed", MAX_BYTES >> 20);
            }
            files.insert(rel, bytes);
        }
        let doc = |names: &[&str]| -> anyhow::Result<Option<Value>> {
            for n in names {
                if let Some(b) = files.get(*n) {
                    let text = std::str::from_utf8(b).with_context(|| format!("{n} is not UTF-8"))?;
                    return Ok(Some(serde_norway::from_str(text).with_context(|| format!("{n} is neither YAML nor JSON"))?));
                }
            }
            Ok(None)
        };
        let api = doc(&["api.yaml", "api.json"])?.context("no api.yaml or api.json")?;
        let data = api.get("data").cloned().context("api.yaml has no `data`")?;
        let text = |k: &str| data.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let mut resources = BTreeSet::new();
        if let Some(def) = doc(&["Definitions/swagger.yaml", "Definitions/swagger.json"])? {
            for (path, ops) in def.get("paths").and_then(Value::as_object).into_iter().flatten() {
                for verb in ops.as_object().into_iter().flat_map(|o| o.keys()) {
                    if ["get", "put", "post", "delete", "patch", "head", "options"].contains(&verb.as_str()) {
                        resources.insert(format!("{} {path}", verb.to_uppercase()));
                    }
                }
            }
        }
        let documents = files
            .keys()
            .filter_map(|k| k.strip_prefix("Docs/").and_then(|d| d.split('/').next()).filter(|d| !d.contains('.')).map(str::to_string))
            .collect();
        let deployments = doc(&["deployment_environments.yaml", "deployment_environments.json"])?
            .and_then(|d| d.get("data").and_then(Value::as_array).cloned())
            .into_iter()
            .flatten()
            .filter_map(|d| d.get("deploymentEnvironment").and_then(Value::as_str).map(str::to_string))
            .collect();
        Ok(Project { name: text("name"), version: text("version"), api: data, resources, documents, deployments })
    }
}

/// Lines of a readable diff from `remote` (what the environment has; none: the API is new) to `local`.
pub fn compare(remote: Option<&Project>, local: &Project) -> Vec<String> {
    let mut out = Vec::new();
    let empty = Value::Object(Default::default());
    let (before, resources, documents, deployments) = match remote {
        Some(r) => (&r.api, &r.resources, &r.documents, &r.deployments),
        None => {
            out.push(format!("+ the API {} {} (new in this environment)", local.name, local.version));
            (&empty, &BTreeSet::new(), &BTreeSet::new(), &BTreeSet::new())
        }
    };
    fields("", before, &local.api, &mut out);
    sets("resource", resources, &local.resources, &mut out);
    sets("document", documents, &local.documents, &mut out);
    sets("deployment", deployments, &local.deployments, &mut out);
    out
}

fn sets(what: &str, before: &BTreeSet<String>, after: &BTreeSet<String>, out: &mut Vec<String>) {
    for gone in before.difference(after) {
        out.push(format!("- {what} {gone}"));
    }
    for new in after.difference(before) {
        out.push(format!("+ {what} {new}"));
    }
}

/// Field by field; a field absent on one side and null or empty on the other is no change.
fn fields(at: &str, before: &Value, after: &Value, out: &mut Vec<String>) {
    let blank = |v: Option<&Value>| match v {
        None | Some(Value::Null) => true,
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::Object(o)) => o.is_empty(),
        Some(Value::String(s)) => s.is_empty(),
        _ => false,
    };
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            let keys: BTreeSet<&String> = b.keys().chain(a.keys()).collect();
            for k in keys {
                if at.is_empty() && MADE_BY_SERVER.contains(&k.as_str()) {
                    continue;
                }
                let path = if at.is_empty() { k.clone() } else { format!("{at}.{k}") };
                match (b.get(k), a.get(k)) {
                    (x, y) if blank(x) && blank(y) => {}
                    (Some(x), Some(y)) => fields(&path, x, y, out),
                    (Some(x), None) => out.push(format!("- {path}: {}", short(x))),
                    (None, Some(y)) => out.push(format!("+ {path}: {}", short(y))),
                    (None, None) => {}
                }
            }
        }
        (b, a) if b != a => {
            out.push(format!("- {at}: {}", short(b)));
            out.push(format!("+ {at}: {}", short(a)));
        }
        _ => {}
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 120 { format!("{}…", s.chars().take(120).collect::<String>()) } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn project(api: Value, resources: &[&str]) -> Project {
        Project {
            name: "A".into(),
            version: "1".into(),
            api,
            resources: resources.iter().map(|r| r.to_string()).collect(),
            documents: BTreeSet::new(),
            deployments: BTreeSet::new(),
        }
    }

    #[test]
    fn shows_exactly_what_changed() {
        let before = project(
            json!({"id": "x", "name": "A", "tags": ["a"], "endpointConfig": {"production_endpoints": {"url": "http://one"}}}),
            &["GET /a"],
        );
        let after = project(
            json!({"id": "y", "name": "A", "tags": [], "endpointConfig": {"production_endpoints": {"url": "http://two"}}}),
            &["GET /a", "POST /b"],
        );
        assert_eq!(
            compare(Some(&before), &after),
            [
                "- endpointConfig.production_endpoints.url: \"http://one\"",
                "+ endpointConfig.production_endpoints.url: \"http://two\"",
                "- tags: [\"a\"]",
                "+ tags: []",
                "+ resource POST /b"
            ]
        );
        assert!(compare(Some(&before), &before).is_empty());
        assert_eq!(compare(None, &after)[0], "+ the API A 1 (new in this environment)");
    }
}
