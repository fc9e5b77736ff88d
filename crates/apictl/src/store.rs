//! apictl's files under `~/.wso2apictl/` (or `$APICTL_CONFIG_DIR`): `main_config.yaml` with the environments, and
//! `.wso2apictl.local/keys.json` with each environment's login (client and user credentials, the secrets
//! base64-encoded as apictl keeps them). Written to a temporary file and renamed over, so a failed write never
//! leaves half a file; `keys.json` is readable by its owner only.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot read {path}: {cause}")]
    Read { path: PathBuf, cause: String },
    #[error("cannot write {path}: {cause}")]
    Write { path: PathBuf, cause: String },
    #[error("no home directory: set HOME or APICTL_CONFIG_DIR")]
    NoHome,
}

/// One environment's endpoints; empty ones derive from `apim_endpoint`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Environment {
    #[serde(default)]
    pub apim_endpoint: String,
    #[serde(default)]
    pub publisher_endpoint: String,
    #[serde(default)]
    pub devportal_endpoint: String,
    #[serde(default)]
    pub registration_endpoint: String,
    #[serde(default)]
    pub admin_endpoint: String,
    #[serde(default)]
    pub token_endpoint: String,
    #[serde(default)]
    pub mi_endpoint: String,
}

impl Environment {
    fn base(&self, specific: &str) -> String {
        if specific.is_empty() { self.apim_endpoint.trim_end_matches('/').to_string() } else { specific.trim_end_matches('/').to_string() }
    }
    pub fn publisher(&self) -> String {
        format!("{}/api/am/publisher/v4", self.base(&self.publisher_endpoint))
    }
    pub fn devportal(&self) -> String {
        format!("{}/api/am/devportal/v3", self.base(&self.devportal_endpoint))
    }
    /// Scheme, host and port of the Admin API.
    pub fn admin_base(&self) -> String {
        self.base(&self.admin_endpoint)
    }
    pub fn registration(&self) -> String {
        format!("{}/client-registration/v0.17/register", self.base(&self.registration_endpoint))
    }
    pub fn token(&self) -> String {
        if self.token_endpoint.is_empty() { format!("{}/oauth2/token", self.base("")) } else { self.token_endpoint.clone() }
    }
    pub fn revoke(&self) -> String {
        match self.token().strip_suffix("/token") {
            Some(root) => format!("{root}/revoke"),
            None => format!("{}/oauth2/revoke", self.base("")),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Settings {
    /// Milliseconds.
    #[serde(default = "default_timeout")]
    pub http_request_timeout: u64,
    #[serde(default)]
    pub export_directory: String,
    /// `never`, `once` or `freely` (apictl's `set --tls-renegotiation-mode`); rustls never renegotiates, so it is kept
    /// for apictl's sake and changes nothing here.
    #[serde(default = "default_renegotiation")]
    pub tls_renegotiation_mode: String,
    /// Whether `vcs deploy` deletes what a project removed from the repository had made.
    #[serde(default)]
    pub vcs_deletion_enabled: bool,
    /// Where `vcs` keeps each environment's last deploy (empty: `vcs_config.yaml` beside this file).
    #[serde(default)]
    pub vcs_config_path: String,
    /// The repository of projects `vcs` uses (empty: the one holding the current directory).
    #[serde(default)]
    pub vcs_source_repo_path: String,
    /// A directory of `gen deployment-dir` outputs whose params `vcs deploy` applies (empty: none).
    #[serde(default)]
    pub vcs_deployment_repo_path: String,
    /// Settings of apictl this one does not use (`kubernetes_mode`…), kept as they were.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_norway::Value>,
}

fn default_renegotiation() -> String {
    "never".into()
}

fn default_timeout() -> u64 {
    10_000
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct MainConfig {
    pub config: Settings,
    #[serde(default)]
    pub environments: BTreeMap<String, Environment>,
}

/// A login: the OAuth client apictl registered, and the user it acts for (secrets base64 on disk).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Credential {
    pub client_id: String,
    pub client_secret: String,
    pub username: String,
    pub password: String,
    /// The last password-grant token (base64 on disk, like the secrets), reused by later commands until shortly
    /// before `expires_at` (Unix seconds), so a pipeline of many commands asks the token endpoint once.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub access_token: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub expires_at: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Unix seconds.
pub fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Keys {
    #[serde(default)]
    environments: BTreeMap<String, Credential>,
}

#[derive(Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    pub fn open() -> Result<Store, StoreError> {
        let dir = match std::env::var_os("APICTL_CONFIG_DIR") {
            Some(d) => PathBuf::from(d),
            None => PathBuf::from(std::env::var_os("HOME").ok_or(StoreError::NoHome)?).join(".wso2apictl"),
        };
        Ok(Store { dir })
    }

    fn main_path(&self) -> PathBuf {
        self.dir.join("main_config.yaml")
    }

    fn keys_path(&self) -> PathBuf {
        self.dir.join(".wso2apictl.local").join("keys.json")
    }

    pub fn main(&self) -> Result<MainConfig, StoreError> {
        let path = self.main_path();
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let mut c: MainConfig = serde_norway::from_str(&text).map_err(|e| StoreError::Read { path, cause: e.to_string() })?;
                if c.config.export_directory.is_empty() {
                    c.config.export_directory = self.dir.join("exported").display().to_string();
                }
                Ok(c)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(MainConfig {
                config: Settings {
                    http_request_timeout: default_timeout(),
                    export_directory: self.dir.join("exported").display().to_string(),
                    tls_renegotiation_mode: default_renegotiation(),
                    vcs_deletion_enabled: false,
                    vcs_config_path: String::new(),
                    vcs_source_repo_path: String::new(),
                    vcs_deployment_repo_path: String::new(),
                    other: BTreeMap::new(),
                },
                environments: BTreeMap::new(),
            }),
            Err(e) => Err(StoreError::Read { path, cause: e.to_string() }),
        }
    }

    /// `vcs_config.yaml`: where the settings say, or beside `main_config.yaml`.
    pub fn vcs_config_path(&self, settings: &Settings) -> PathBuf {
        if settings.vcs_config_path.is_empty() { self.dir.join("vcs_config.yaml") } else { PathBuf::from(&settings.vcs_config_path) }
    }

    pub fn save_main(&self, c: &MainConfig) -> Result<(), StoreError> {
        let text = serde_norway::to_string(c).map_err(|e| StoreError::Write { path: self.main_path(), cause: e.to_string() })?;
        write_atomically(&self.main_path(), text.as_bytes(), false)
    }

    fn keys(&self) -> Result<Keys, StoreError> {
        let path = self.keys_path();
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| StoreError::Read { path, cause: e.to_string() }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Keys::default()),
            Err(e) => Err(StoreError::Read { path, cause: e.to_string() }),
        }
    }

    /// The login of `env`, secrets decoded.
    pub fn credential(&self, env: &str) -> Result<Option<Credential>, StoreError> {
        let decode =
            |s: &str| base64::engine::general_purpose::STANDARD.decode(s).ok().and_then(|b| String::from_utf8(b).ok()).unwrap_or_default();
        Ok(self.keys()?.environments.get(env).map(|c| Credential {
            password: decode(&c.password),
            client_secret: decode(&c.client_secret),
            access_token: decode(&c.access_token),
            ..c.clone()
        }))
    }

    pub fn save_credential(&self, env: &str, c: Option<&Credential>) -> Result<(), StoreError> {
        let mut keys = self.keys()?;
        match c {
            Some(c) => {
                let encode = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
                let stored = Credential {
                    password: encode(&c.password),
                    client_secret: encode(&c.client_secret),
                    access_token: encode(&c.access_token),
                    ..c.clone()
                };
                keys.environments.insert(env.to_string(), stored);
            }
            None => {
                keys.environments.remove(env);
            }
        }
        let text = serde_json::to_string_pretty(&keys).map_err(|e| StoreError::Write { path: self.keys_path(), cause: e.to_string() })?;
        write_atomically(&self.keys_path(), text.as_bytes(), true)
    }
}

fn write_atomically(path: &Path, bytes: &[u8], private: bool) -> Result<(), StoreError> {
    let fail = |e: std::io::Error| StoreError::Write { path: path.to_path_buf(), cause: e.to_string() };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(fail)?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(fail)?;
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).map_err(fail)?;
    }
    #[cfg(not(unix))]
    let _ = private;
    std::fs::rename(&tmp, path).map_err(fail)
}
