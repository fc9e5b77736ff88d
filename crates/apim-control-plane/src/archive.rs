//! OpenAPI definitions uploaded as ZIP archives (`file` of `import-openapi`, `validate-openapi` and `PUT
//! /swagger`), as WSO2 takes them: a definition named `openapi` or `swagger` (`.yaml`, `.yml` or `.json`) at the
//! archive's root or in its one top folder, with the files it `$ref`s beside it. The references to other files
//! are inlined, so what is stored is one self-contained document.
//!
//! An archive is untrusted input, so everything is bounded: its size, its number of entries, the bytes it
//! inflates to (counted as they are read, not as the headers claim: a zip bomb stops at the bound), the number
//! of references resolved and the size they expand the definition to (a small archive whose files reference
//! each other, or one big file, many times cannot expand without end), and their depth. Entry names with `..`, absolute paths, links and encrypted entries are refused, and so
//! is a `$ref` that leaves the archive or names a URL. Each refusal is a 400 naming `file` and the problem.

use std::collections::HashMap;
use std::io::{Cursor, Read};

use serde_json::Value;

use crate::error::{ApiError, Result};

/// The largest archive accepted (the multipart body the routes allow is a little larger).
pub const ARCHIVE_MAX: usize = 10 << 20;
/// The most entries (files and folders) an archive may hold.
const ENTRIES_MAX: usize = 1_000;
/// The most bytes all entries together may inflate to.
const INFLATED_MAX: u64 = 20 << 20;
/// The most `$ref`s to other files (and the local ones inside them) resolved for one definition.
const REFS_MAX: usize = 10_000;
/// The deepest chain of references followed.
const DEPTH_MAX: usize = 64;
/// The largest definition references may expand to (its JSON text, about): a big file referenced many times
/// would otherwise be copied each time.
const EXPANDED_MAX: usize = 20 << 20;
/// The names the definition itself may have, in the order they are looked for.
const MASTER_NAMES: [&str; 6] = ["openapi.yaml", "openapi.yml", "openapi.json", "swagger.yaml", "swagger.yml", "swagger.json"];

const FIELD: &str = "file";

/// Whether an uploaded `file` is meant as a ZIP archive: by its bytes, its name or its content type. One that
/// only claims to be a ZIP is still read as one, so that it is refused as a broken archive rather than parsed as
/// YAML.
pub fn is_zip(file_name: Option<&str>, content_type: Option<&str>, bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04")
        || bytes.starts_with(b"PK\x05\x06")
        || file_name.is_some_and(|n| n.to_ascii_lowercase().ends_with(".zip"))
        || content_type.is_some_and(|t| matches!(t, "application/zip" | "application/x-zip-compressed" | "application/x-zip"))
}

/// The definition an archive holds, with its references to the archive's other files inlined.
pub fn definition(bytes: &[u8]) -> Result<Value> {
    let files = unpack(bytes)?;
    let master = master_of(&files)?;
    let mut bundler = Bundler { files: &files, parsed: HashMap::new(), resolved: 0, size: 0 };
    let doc = bundler.document(&master)?.clone();
    bundler.inline(doc, &master, &mut vec![master.clone()], true)
}

fn refuse(d: impl Into<String>) -> ApiError {
    ApiError::field(FIELD, d)
}

/// Every text file of the archive by its normalised path (`/`-separated, no leading `/`).
fn unpack(bytes: &[u8]) -> Result<HashMap<String, String>> {
    // Only text can be a definition or part of one; other files (images, notes) are left out.
    Ok(files(bytes)?.into_iter().filter_map(|(name, content)| String::from_utf8(content).ok().map(|t| (name, t))).collect())
}

/// Every file of an archive, in the archive's order, by its normalised path (`/`-separated, no leading `/`),
/// with the bounds above: its size, entries and the bytes they inflate to; `..`, absolute names, links and
/// encrypted entries refused (each a 400 naming `file`). Folders are left out.
pub fn files(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>> {
    if bytes.len() > ARCHIVE_MAX {
        return Err(refuse(format!("the archive is larger than {} MiB", ARCHIVE_MAX >> 20)));
    }
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| refuse(format!("not a readable ZIP archive: {e}")))?;
    if archive.len() > ENTRIES_MAX {
        return Err(refuse(format!("the archive holds {} entries, more than the {ENTRIES_MAX} allowed", archive.len())));
    }
    let mut files = Vec::new();
    let mut inflated: u64 = 0;
    for i in 0..archive.len() {
        let entry = archive.by_index(i).map_err(|e| refuse(format!("entry {i} of the archive cannot be read: {e}")))?;
        let raw = entry.name().map_err(|e| refuse(format!("entry {i} of the archive has an unreadable name: {e}")))?.to_string();
        let name = entry_path(&raw)?;
        if entry.is_dir() {
            continue;
        }
        if entry.is_symlink() {
            return Err(refuse(format!("archive entry `{raw}` is a link; only plain files are read")));
        }
        if entry.encrypted() {
            return Err(refuse(format!("archive entry `{raw}` is encrypted")));
        }
        // The headers' sizes refuse an honest bomb at once; the count below stops one whose headers lie.
        if inflated.saturating_add(entry.size()) > INFLATED_MAX {
            return Err(too_big());
        }
        let mut content = Vec::new();
        let room = INFLATED_MAX - inflated;
        entry.take(room + 1).read_to_end(&mut content).map_err(|e| refuse(format!("archive entry `{raw}` cannot be inflated: {e}")))?;
        inflated += content.len() as u64;
        if inflated > INFLATED_MAX {
            return Err(too_big());
        }
        files.push((name, content));
    }
    Ok(files)
}

fn too_big() -> ApiError {
    refuse(format!("the archive inflates to more than {} MiB", INFLATED_MAX >> 20))
}

/// An entry's name as a path inside the archive; `..`, absolute and drive paths are refused.
fn entry_path(raw: &str) -> Result<String> {
    let bad = |why: &str| Err(refuse(format!("archive entry `{raw}` {why}")));
    if raw.contains('\0') {
        return bad("has a NUL character in its name");
    }
    let unified = raw.replace('\\', "/");
    if unified.starts_with('/') || unified.as_bytes().get(1) == Some(&b':') {
        return bad("has an absolute path");
    }
    let mut parts = Vec::new();
    for part in unified.split('/') {
        match part {
            "" | "." => {}
            ".." => return bad("has `..` in its path, which would leave the archive"),
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

/// The definition's path: a master name at the root, else in the one folder everything is in (as WSO2 packs it).
fn master_of(files: &HashMap<String, String>) -> Result<String> {
    let mut roots: Vec<&str> = files.keys().map(|p| p.split_once('/').map_or("", |(top, _)| top)).collect();
    roots.sort_unstable();
    roots.dedup();
    let mut dirs = vec![String::new()];
    if let [top] = roots.as_slice()
        && !top.is_empty()
    {
        dirs.push(format!("{top}/"));
    }
    for dir in &dirs {
        for name in MASTER_NAMES {
            let path = format!("{dir}{name}");
            if files.contains_key(&path) {
                return Ok(path);
            }
        }
    }
    Err(refuse(format!(
        "the archive holds no definition: expected one of {} at its root or in its one top folder",
        MASTER_NAMES.join(", ")
    )))
}

/// Resolves `$ref`s across the archive's files, each file parsed once.
struct Bundler<'a> {
    files: &'a HashMap<String, String>,
    parsed: HashMap<String, Value>,
    resolved: usize,
    /// The bytes of JSON text the definition has expanded to so far (about).
    size: usize,
}

impl Bundler<'_> {
    fn document(&mut self, path: &str) -> Result<&Value> {
        if !self.parsed.contains_key(path) {
            let text = self.files.get(path).ok_or_else(|| refuse(format!("`{path}` is not in the archive")))?;
            let doc = parse_any(path, text)?;
            self.parsed.insert(path.to_string(), doc);
        }
        self.parsed.get(path).ok_or_else(|| refuse(format!("`{path}` is not in the archive")))
    }

    /// `node` (found in file `base`) with its references to other files replaced by what they point at. In the
    /// definition itself (`master`) a local `#/...` reference stays; in another file it points into that file, so
    /// it is inlined too. `chain` holds the references being followed, to refuse a cycle.
    fn inline(&mut self, node: Value, base: &str, chain: &mut Vec<String>, master: bool) -> Result<Value> {
        self.size += match &node {
            Value::String(t) => t.len() + 3,
            Value::Object(o) => 2 + o.keys().map(|k| k.len() + 4).sum::<usize>(),
            _ => 8,
        };
        if self.size > EXPANDED_MAX {
            return Err(refuse(format!("the definition expands to more than {} MiB through its references", EXPANDED_MAX >> 20)));
        }
        match node {
            Value::Object(mut o) => {
                if let Some(Value::String(r)) = o.get("$ref")
                    && !(master && r.starts_with('#'))
                {
                    let r = r.clone();
                    o.remove("$ref");
                    let (target_path, key, target) = self.follow(&r, base, chain)?;
                    chain.push(key);
                    let resolved = self.inline(target, &target_path, chain, false)?;
                    chain.pop();
                    // Sibling keys of a `$ref` (3.1 allows them) are kept over what it points at.
                    return Ok(match resolved {
                        Value::Object(mut t) if !o.is_empty() => {
                            for (k, v) in o {
                                let v = self.inline(v, base, chain, master)?;
                                t.insert(k, v);
                            }
                            Value::Object(t)
                        }
                        other => other,
                    });
                }
                let mut out = serde_json::Map::with_capacity(o.len());
                for (k, v) in o {
                    out.insert(k, self.inline(v, base, chain, master)?);
                }
                Ok(Value::Object(out))
            }
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for v in items {
                    out.push(self.inline(v, base, chain, master)?);
                }
                Ok(Value::Array(out))
            }
            other => Ok(other),
        }
    }

    /// The file a reference in `base` points into, the reference's key in `chain`, and the value it points at.
    fn follow(&mut self, r: &str, base: &str, chain: &[String]) -> Result<(String, String, Value)> {
        self.resolved += 1;
        if self.resolved > REFS_MAX {
            return Err(refuse(format!("the definition expands through more than {REFS_MAX} references")));
        }
        if chain.len() >= DEPTH_MAX {
            return Err(refuse(format!("`$ref` `{r}` in `{base}` is nested more than {DEPTH_MAX} deep")));
        }
        let (file, pointer) = r.split_once('#').unwrap_or((r, ""));
        if file.contains("://") || file.starts_with("//") {
            return Err(refuse(format!("`$ref` `{r}` in `{base}` names a URL; only files in the archive are read")));
        }
        let target_path = if file.is_empty() { base.to_string() } else { join(base, file).ok_or_else(|| leaves(r, base))? };
        let key = format!("{target_path}{}", if pointer.is_empty() { String::new() } else { format!("#{pointer}") });
        if chain.contains(&key) {
            return Err(refuse(format!("`$ref` `{r}` in `{base}` is circular")));
        }
        if !self.files.contains_key(&target_path) {
            return Err(refuse(format!("`$ref` `{r}` in `{base}` names `{target_path}`, which is not in the archive")));
        }
        let doc = self.document(&target_path)?;
        let target = if pointer.is_empty() {
            doc.clone()
        } else {
            doc.pointer(&decode_pointer(pointer))
                .cloned()
                .ok_or_else(|| refuse(format!("`$ref` `{r}` in `{base}` points at nothing in `{target_path}`")))?
        };
        Ok((target_path, key, target))
    }
}

fn leaves(r: &str, base: &str) -> ApiError {
    refuse(format!("`$ref` `{r}` in `{base}` leaves the archive"))
}

/// `file` relative to the folder of `base`, normalised; `None` when it climbs above the archive's root or is
/// absolute.
fn join(base: &str, file: &str) -> Option<String> {
    let file = file.replace('\\', "/");
    if file.starts_with('/') || file.as_bytes().get(1) == Some(&b':') {
        return None;
    }
    let mut parts: Vec<&str> = base.split('/').collect();
    parts.pop();
    for part in file.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

/// A JSON pointer from a `$ref` fragment, whose characters may be percent-encoded (`%7B` for `{`).
fn decode_pointer(p: &str) -> String {
    let bytes = p.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (bytes.get(i + 1).and_then(|b| hex(*b)), bytes.get(i + 2).and_then(|b| hex(*b)))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A file of the archive as JSON or YAML (any value: a referenced file may hold a lone schema or a list).
fn parse_any(path: &str, text: &str) -> Result<Value> {
    if text.trim_start().starts_with(['{', '[']) {
        serde_json::from_str(text)
            .map_err(|e| refuse(format!("`{path}` in the archive is not valid JSON (line {}, column {}): {e}", e.line(), e.column())))
    } else {
        serde_norway::from_str(text).map_err(|e| {
            let at = e.location().map(|l| format!(" (line {}, column {})", l.line(), l.column())).unwrap_or_default();
            refuse(format!("`{path}` in the archive is not valid YAML{at}: {e}"))
        })
    }
}

#[cfg(test)]
mod tests;
