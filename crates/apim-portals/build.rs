//! Builds the portals (`portals/` at the repository root: `npm ci` when its lock file changed, then the Vite
//! build) and writes `$OUT_DIR/assets.rs`: every file of every portal as `include_bytes!`, with its gzip and
//! brotli forms when they are smaller, its content type and an ETag. `APIM_PORTALS_DIST=DIR` embeds a prebuilt copy instead (a
//! directory holding `publisher/`, `devportal/` and `admin/`, as `npm run build` leaves `portals/dist/`).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

const PORTALS: [&str; 3] = ["publisher", "devportal", "admin"];

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    println!("cargo:rerun-if-env-changed=APIM_PORTALS_DIST");
    let dist = match std::env::var_os("APIM_PORTALS_DIST") {
        Some(d) => {
            let d = PathBuf::from(d);
            println!("cargo:rerun-if-changed={}", d.display());
            d
        }
        None => build_portals(&manifest.join("../../portals"), &out.join("portals")),
    };
    for p in PORTALS {
        if !dist.join(p).join("index.html").is_file() {
            fail(&format!("{} has no {p}/index.html: it is not a build of the portals", dist.display()));
        }
    }
    write_assets(&dist, &out);
}

fn fail(msg: &str) -> ! {
    eprintln!("\nerror: apim-portals: {msg}\n");
    std::process::exit(1);
}

/// `npm ci` (when `package-lock.json` differs from the one installed) and `npm run build` into `dest`.
fn build_portals(src: &Path, dest: &Path) -> PathBuf {
    let src = src.canonicalize().unwrap_or_else(|e| fail(&format!("cannot find the portals' sources at {}: {e}", src.display())));
    for f in ["package.json", "package-lock.json", "tsconfig.json", "vite.portal.ts", "shared/src"] {
        println!("cargo:rerun-if-changed={}", src.join(f).display());
    }
    for p in PORTALS {
        for f in ["src", "index.html", "vite.config.ts", "package.json"] {
            println!("cargo:rerun-if-changed={}", src.join(p).join(f).display());
        }
    }
    // The REST APIs' documents the portals' types are generated from.
    for doc in ["publisher-v4.json", "devportal-v3.json", "admin-v4.json", "analytics-v1.json", "platform-v1.json"] {
        println!("cargo:rerun-if-changed={}", src.join("../crates/apim-control-plane/openapi").join(doc).display());
    }
    check_node();
    let lock = std::fs::read(src.join("package-lock.json")).unwrap_or_else(|e| fail(&format!("portals/package-lock.json: {e}")));
    let installed = src.join("node_modules/.apim-installed-lock.json");
    if std::fs::read(&installed).ok().as_deref() != Some(lock.as_slice()) {
        npm(&src, &["ci", "--no-audit", "--no-fund"], &[]);
        std::fs::write(&installed, &lock).unwrap_or_else(|e| fail(&format!("{}: {e}", installed.display())));
    }
    npm(&src, &["run", "build"], &[("APIM_PORTALS_OUT", dest)]);
    dest.to_path_buf()
}

fn check_node() {
    let hint = "building the web portals needs Node.js 20 or newer with npm on PATH (https://nodejs.org), \
                or APIM_PORTALS_DIST=DIR naming a prebuilt copy of portals/dist";
    let version = Command::new("node").arg("--version").output();
    let Ok(version) = version.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()) else {
        fail(&format!("`node` was not found: {hint}"));
    };
    let major: u32 = version.trim_start_matches('v').split('.').next().and_then(|m| m.parse().ok()).unwrap_or(0);
    if major < 20 {
        fail(&format!("Node.js {version} is too old: {hint}"));
    }
    if Command::new("npm").arg("--version").output().is_err() {
        fail(&format!("`npm` was not found: {hint}"));
    }
}

fn npm(dir: &Path, args: &[&str], env: &[(&str, &Path)]) {
    let mut cmd = Command::new("npm");
    cmd.args(args).current_dir(dir).env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    // npm's output goes to cargo's build log (shown on failure); stdout lines starting with `cargo:` would be
    // taken as instructions, so both go to stderr.
    let status = cmd
        .stdout(std::process::Stdio::from(std::io::stderr()))
        .status()
        .unwrap_or_else(|e| fail(&format!("cannot run `npm {}`: {e}", args.join(" "))));
    if !status.success() {
        fail(&format!("`npm {}` in {} failed ({status}); its output is above", args.join(" "), dir.display()));
    }
}

fn files(dir: &Path, base: &Path, out: &mut Vec<(String, PathBuf)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap_or_else(|e| fail(&format!("{}: {e}", dir.display()))).flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        if path.is_dir() {
            files(&path, base, out);
        } else if let Ok(rel) = path.strip_prefix(base) {
            out.push((rel.to_string_lossy().replace('\\', "/"), path));
        }
    }
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "ttf" => "font/ttf",
        "txt" => "text/plain; charset=utf-8",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}

/// FNV-1a, 64 bits: an ETag, not a security boundary.
fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// `Some(include_bytes!(path))` for a compressed form smaller than the file (written to `path`), else `None`.
fn kept(path: &Path, compressed: &[u8], original: usize) -> String {
    if compressed.len() >= original {
        return "None".into();
    }
    std::fs::write(path, compressed).unwrap_or_else(|e| fail(&format!("{}: {e}", path.display())));
    format!("Some(include_bytes!({:?}))", path.display().to_string())
}

fn write_assets(dist: &Path, out: &Path) {
    let gz_dir = out.join("gz");
    std::fs::create_dir_all(&gz_dir).unwrap_or_else(|e| fail(&format!("{}: {e}", gz_dir.display())));
    let mut code = String::from("pub(crate) static ASSETS: &[Asset] = &[\n");
    for portal in PORTALS {
        let root = dist.join(portal);
        let mut list = Vec::new();
        files(&root, &root, &mut list);
        for (i, (rel, path)) in list.iter().enumerate() {
            let body = std::fs::read(path).unwrap_or_else(|e| fail(&format!("{}: {e}", path.display())));
            let ct = content_type(rel);
            let compressible = ct.starts_with("text/") || ct.starts_with("application/json") || ct == "image/svg+xml";
            let (mut gzip, mut br) = ("None".to_string(), "None".to_string());
            if compressible && body.len() > 256 {
                let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
                let gz = enc.write_all(&body).and_then(|()| enc.finish()).unwrap_or_else(|e| fail(&format!("gzip {rel}: {e}")));
                gzip = kept(&gz_dir.join(format!("{portal}-{i}.gz")), &gz, body.len());
                let mut brotli = Vec::new();
                {
                    let mut enc = brotli::CompressorWriter::new(&mut brotli, 1 << 16, 11, 22);
                    enc.write_all(&body).unwrap_or_else(|e| fail(&format!("brotli {rel}: {e}")));
                }
                br = kept(&gz_dir.join(format!("{portal}-{i}.br")), &brotli, body.len());
            }
            let _ = writeln!(
                code,
                "    Asset {{ portal: {portal:?}, path: {rel:?}, content_type: {ct:?}, etag: \"\\\"{:016x}\\\"\", body: include_bytes!({:?}), gzip: {gzip}, brotli: {br} }},",
                fnv(&body),
                path.canonicalize().unwrap_or_else(|_| path.clone()).display().to_string(),
            );
        }
    }
    code.push_str("];\n");
    let dest = out.join("assets.rs");
    std::fs::write(&dest, code).unwrap_or_else(|e| fail(&format!("{}: {e}", dest.display())));
}
