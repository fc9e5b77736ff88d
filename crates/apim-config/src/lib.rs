//! `deployment.toml`: parsing, placeholder resolution, validation, and the typed configuration every role
//! reads.
//!
//! The pipeline is parse (spans kept) → resolve placeholders per value → read typed keys → report unread keys.
//! All of it happens before any port is bound; nothing here does network IO.
//!
//! **Architecture Invariant:** a [`DeploymentConfig`] exists only if the file had no errors. Every error
//! names file, line, column and key path.

#![forbid(unsafe_code)]

pub mod hosts;
pub mod model;
pub mod print;
pub mod read;
pub mod resolve;
pub mod source;
pub mod tree;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

pub use hosts::HostsFile;
pub use model::*;
pub use source::{Diagnostic, Severity, Source};
pub use tree::Table;

/// What the command line adds to the file.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// `-Dname=value` system properties; `-DportOffset=N` overrides `[server] offset` as in WSO2.
    pub sys: BTreeMap<String, String>,
    /// Unsupported keys are errors instead of warnings.
    pub strict: bool,
    pub data_dir: PathBuf,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions { sys: BTreeMap::new(), strict: false, data_dir: PathBuf::from("data") }
    }
}

/// A loaded configuration: the typed value, the resolved tree (for printing) and the warnings.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub source: Source,
    pub resolved: Table,
    pub config: DeploymentConfig,
    pub warnings: Vec<Diagnostic>,
}

/// Everything wrong with a file, rendered together.
#[derive(Debug)]
pub struct ConfigError {
    pub source: Source,
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}", d.render(&self.source))?;
        }
        let errors = self.diagnostics.iter().filter(|d| d.severity == Severity::Error).count();
        write!(f, "\n{}: {errors} error(s); nothing was started", self.source.path.display())
    }
}

impl std::error::Error for ConfigError {}

/// The configuration `apim all-in-one` uses when no file is given: every role, SQLite under the data
/// directory, a generated certificate.
pub const EMBEDDED_DEFAULT: &str = r#"# embedded default: apim all-in-one without -c
[server]
hostname = "localhost"
server_role = "default"

[super_admin]
username = "admin"
password = "admin"
create_admin_account = true

[user_store]
type = "database_unique_id"

[database.apim_db]
type = "sqlite"
url = "jdbc:sqlite:$sys{apim.data_dir}/apim_db.db"

[database.shared_db]
type = "sqlite"
url = "jdbc:sqlite:$sys{apim.data_dir}/shared_db.db"

# WSO2's shipped default: APIs without a CORS policy of their own answer browsers on any origin, so the
# DevPortal's Try it (another origin than the gateway) works on the first click.
[apim.cors]
allow_origins = ["*"]
allow_methods = ["GET", "PUT", "POST", "DELETE", "PATCH", "OPTIONS"]
allow_headers = ["authorization", "Access-Control-Allow-Origin", "Content-Type", "SOAPAction", "apikey", "Internal-Key"]
allow_credentials = false
"#;

pub fn load_file(path: &Path, opts: &LoadOptions) -> Result<Loaded, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            let source = Source::new(path, "");
            return Err(ConfigError {
                source,
                diagnostics: vec![Diagnostic::error("", None, format!("cannot read configuration file: {e}"))],
            });
        }
    };
    let env = |name: &str| std::env::var(name).ok();
    let loaded = load_str(Source::new(path, text), opts, &env)?;
    let missing = loaded.missing_files();
    if missing.is_empty() { Ok(loaded) } else { Err(ConfigError { source: loaded.source, diagnostics: missing }) }
}

pub fn embedded_default(opts: &LoadOptions) -> Result<Loaded, ConfigError> {
    let env = |name: &str| std::env::var(name).ok();
    load_str(Source::new("<embedded default>", EMBEDDED_DEFAULT), opts, &env)
}

pub fn load_str(source: Source, opts: &LoadOptions, env: &dyn Fn(&str) -> Option<String>) -> Result<Loaded, ConfigError> {
    let parsed = match toml::de::DeTable::parse(&source.text) {
        Ok(t) => t,
        Err(e) => {
            let msg = format!("malformed TOML: {}", e.message().trim_end_matches('\n'));
            let d = Diagnostic::error("", e.span(), msg);
            return Err(ConfigError { source, diagnostics: vec![d] });
        }
    };
    let mut tree = tree::from_toml(parsed.get_ref());

    let mut sys = opts.sys.clone();
    sys.entry("apim.data_dir".into()).or_insert_with(|| opts.data_dir.display().to_string());
    let home = std::env::current_dir().map(|p| p.display().to_string()).unwrap_or_else(|_| ".".into());
    let inputs = resolve::Inputs { sys: &sys, env, home };
    let mut diagnostics = resolve::resolve(&mut tree, &inputs);

    let mut port_offset_override = None;
    if let Some(raw) = opts.sys.get("portOffset") {
        match raw.trim().parse::<u16>() {
            Ok(o) => port_offset_override = Some(o),
            Err(_) => {
                diagnostics.push(Diagnostic::error("-DportOffset", None, format!("-DportOffset={raw} is not a port offset (0-65535)")))
            }
        }
    }
    let config_dir = source.path.parent().map(Path::to_path_buf).unwrap_or_default();
    let build_inputs = read::BuildInputs { data_dir: &opts.data_dir, config_dir: &config_dir, port_offset_override };
    let mut reader = read::Reader::new();
    let config = read::build(&tree, &build_inputs, &mut reader);
    diagnostics.append(&mut reader.diags);
    let mut warnings = reader.unread_keys(&tree);
    if opts.strict {
        for w in &mut warnings {
            w.severity = Severity::Error;
            w.message = "key is not supported by this version of apim (rejected by --strict)".into();
        }
        diagnostics.append(&mut warnings);
    }
    if diagnostics.iter().any(|d| d.severity == Severity::Error) {
        diagnostics.sort_by_key(|d| d.span.as_ref().map(|s| s.start).unwrap_or(0));
        return Err(ConfigError { source, diagnostics });
    }
    Ok(Loaded { source, resolved: tree, config, warnings })
}

impl Loaded {
    /// `[keystore.tls]` and `[truststore]` files that do not exist, each an error at the `file_name` that names
    /// it (the defaults, `wso2carbon.jks` and `client-truststore.jks`, may be absent: a certificate is generated,
    /// no truststore is used). [`load_file`] refuses a file with any.
    pub fn missing_files(&self) -> Vec<Diagnostic> {
        let c = &self.config;
        // (what, the store, its key, the default name that may be absent)
        let stores = [
            ("keystore", Some(&c.keystore_tls), &["keystore", "tls", "file_name"][..], Some(Keystore::DEFAULT_FILE)),
            ("keystore", c.keystore_tls_ecdsa.as_ref(), &["keystore", "tls_ecdsa", "file_name"][..], None),
            ("truststore", c.truststore.as_ref(), &["truststore", "file_name"][..], Some(Keystore::DEFAULT_TRUSTSTORE)),
        ];
        let mut out = Vec::new();
        for (what, store, path, default) in stores {
            let Some(store) = store else { continue };
            if default.is_some_and(|d| store.file_name == Path::new(d)) || store.locate(&c.config_dir).is_some() {
                continue;
            }
            let span = self.resolved.lookup(path).map(|n| n.span.clone());
            out.push(Diagnostic::error(
                path.join("."),
                span,
                format!("{what} file `{}` not found (looked {})", store.file_name.display(), Keystore::SEARCHED),
            ));
        }
        out
    }

    /// The effective configuration, masked, followed by what it means: roles, ports, databases.
    pub fn effective_toml(&self) -> String {
        let c = &self.config;
        let mut out = format!("# effective configuration of {}\n", self.source.path.display());
        out.push_str(&print::to_toml(&self.resolved));
        out.push_str("\n# what apim makes of it\n");
        let roles: Vec<&str> = c.server.roles.iter().map(|r| r.as_str()).collect();
        out.push_str(&format!("# roles: {}\n", roles.join(", ")));
        out.push_str(&format!("# offset: {}\n", c.server.offset));
        out.push_str(&format!(
            "# management: https {} (proxyPort {}), http {}\n",
            c.transport.https_port(),
            c.transport.https_proxy_port.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
            c.transport.http_port()
        ));
        for db in [&c.apim_db, &c.shared_db].into_iter().flatten() {
            let user = db.username.as_deref().unwrap_or("-");
            out.push_str(&format!(
                "# {}: {} at {} (type \"{}\"), user {user}, password {}\n",
                db.pool,
                db.kind.as_str(),
                describe_target(&db.target),
                db.declared_type,
                print::MASK
            ));
        }
        out.push_str(&format!("# keystore.tls: {} ({:?})\n", c.keystore_tls.file_name.display(), c.keystore_tls.kind));
        if let Some(ecdsa) = &c.keystore_tls_ecdsa {
            out.push_str(&format!("# keystore.tls_ecdsa: {} ({:?})\n", ecdsa.file_name.display(), ecdsa.kind));
        }
        out.push_str(&format!("# gateway labels: {}\n", c.gateway_sync.gateway_labels.join(", ")));
        out
    }
}

fn describe_target(t: &DbTarget) -> String {
    match t {
        DbTarget::File(p) => p.display().to_string(),
        DbTarget::Server { host, port, name } => format!("{host}:{port}/{name}"),
    }
}
