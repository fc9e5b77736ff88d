//! `apictl`: WSO2 apictl 4.2's commands over our REST APIs (no server code, no database), its files under
//! `~/.wso2apictl/`, so an existing CI/CD script and set-up keep working. Errors go to stderr naming the
//! environment, the HTTP status and WSO2's message, with exit code 1.

#![forbid(unsafe_code)]

mod client;
mod diff;
mod format;
mod project;
mod store;
mod vcs;

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use http::Method;
use serde_json::Value;

use crate::client::Http;
use crate::store::{Environment, Store};

#[derive(Parser)]
#[command(name = "apictl", about = "CLI for Importing and Exporting APIs and Applications (apim-rs)", disable_version_flag = true)]
struct Cli {
    /// Log each HTTP request (method, URL, status, time) on stderr
    #[arg(long, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Add an environment
    Add {
        #[command(subcommand)]
        what: AddWhat,
    },
    /// Remove an environment
    Remove {
        #[command(subcommand)]
        what: RemoveWhat,
    },
    /// List environments or APIs
    Get {
        #[command(subcommand)]
        what: GetWhat,
    },
    /// Log in to an environment (DCR, then the password grant)
    Login(LoginArgs),
    /// Log out of an environment (revokes a token, forgets the credentials)
    Logout {
        environment: String,
        #[arg(short = 'k', long)]
        insecure: bool,
    },
    /// Change the lifecycle status of an API
    ChangeStatus {
        #[command(subcommand)]
        what: ApiTarget<StatusArgs>,
    },
    /// Delete an API or an application
    Delete {
        #[command(subcommand)]
        what: DeleteWhat,
    },
    /// Set apictl's configuration (main_config.yaml): request timeout, export directory, TLS renegotiation mode
    Set(SetArgs),
    /// Undeploy a revision of an API
    Undeploy {
        #[command(subcommand)]
        what: ApiTarget<UndeployArgs>,
    },
    /// Export an API (or every API) as apictl's project archive
    Export {
        #[command(subcommand)]
        what: ExportWhat,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish or powershell)
    Completion { shell: clap_complete::Shell },
    /// Import an API project (a directory or a ZIP), optionally with a params file for the environment
    Import {
        #[command(subcommand)]
        what: ImportWhat,
    },
    /// Make an API project from an OpenAPI definition (a file or URL), ready for `import api`
    Init(InitArgs),
    /// Make an environment's APIs what a directory of projects says: create, update, and with --prune delete
    Sync(SyncArgs),
    /// Show what importing a project would change in an environment (exit 0: nothing, 1: changes, 2: trouble)
    Diff {
        #[command(subcommand)]
        what: DiffWhat,
    },
    /// Generate files (apictl's deployment directory)
    Gen {
        #[command(subcommand)]
        what: GenWhat,
    },
    /// Archive a project directory as the ZIP an import takes
    Bundle {
        #[arg(short = 's', long)]
        source: PathBuf,
        /// Where the ZIP goes (default: the current directory)
        #[arg(short = 'd', long)]
        destination: Option<PathBuf>,
    },
    /// Deploy the projects of a Git repository that changed since an environment last took it
    Vcs {
        #[command(subcommand)]
        what: VcsWhat,
    },
    /// Print the version
    Version,
}

#[derive(Subcommand)]
enum VcsWhat {
    /// Make the current Git repository deployable: writes vcs.yaml with the id environments remember it by
    Init {
        /// Replace an existing vcs.yaml (a new id: every environment then deploys the whole repository)
        #[arg(short = 'f', long)]
        force: bool,
    },
    /// List what the next `vcs deploy` to an environment would import or delete
    Status {
        #[arg(short = 'e', long)]
        environment: String,
        /// `json` for a machine-readable list
        #[arg(long, visible_alias = "output")]
        format: Option<String>,
    },
    /// Import the projects changed since the environment's last deploy (and delete removed ones, when enabled)
    Deploy {
        #[arg(short = 'e', long)]
        environment: String,
        /// Leave a project whose import failed as it is, instead of importing its last successful revision again
        #[arg(long)]
        skip_rollback: bool,
        #[arg(short = 'k', long)]
        insecure: bool,
    },
}

#[derive(Subcommand)]
enum DeleteWhat {
    /// Delete an API
    Api(ApiArgs),
    /// Delete an API product
    ApiProduct(ProductArgs),
    /// Delete an application (of the logged-in user, or of the owner given with -o)
    App {
        #[arg(short = 'n', long)]
        name: String,
        #[arg(short = 'o', long)]
        owner: Option<String>,
        #[arg(short = 'e', long)]
        environment: String,
        #[arg(short = 'k', long)]
        insecure: bool,
    },
}

#[derive(Args)]
struct SetArgs {
    /// Timeout of each HTTP request, in milliseconds
    #[arg(long)]
    http_request_timeout: Option<u64>,
    /// Where exported archives go
    #[arg(long)]
    export_directory: Option<PathBuf>,
    /// never, once or freely (kept for apictl's sake: rustls never renegotiates)
    #[arg(long)]
    tls_renegotiation_mode: Option<String>,
    /// Whether `vcs deploy` deletes what a project removed from the repository made (default false)
    #[arg(long)]
    vcs_deletion_enabled: Option<bool>,
    /// Where `vcs deploy` remembers each environment's last deploy (default ~/.wso2apictl/vcs_config.yaml)
    #[arg(long)]
    vcs_config_path: Option<PathBuf>,
    /// The repository of projects `vcs` commands use (default: the one holding the current directory)
    #[arg(long)]
    vcs_source_repo_path: Option<PathBuf>,
    /// A directory of deployment directories (`gen deployment-dir`) whose params `vcs deploy` applies
    #[arg(long)]
    vcs_deployment_repo_path: Option<PathBuf>,
}

#[derive(Subcommand)]
enum PolicyKind {
    /// Rate-limiting (throttling) policies of the Admin API; -q type:sub|app|api|global and name:…
    RateLimiting {
        #[arg(short = 'e', long)]
        environment: String,
        #[arg(short = 'q', long)]
        query: Vec<String>,
        #[arg(long, visible_alias = "output")]
        format: Option<String>,
        #[arg(short = 'k', long)]
        insecure: bool,
    },
    /// Common operation policies of the Publisher
    Api {
        #[arg(short = 'e', long)]
        environment: String,
        #[arg(short = 'l', long, default_value_t = 25)]
        limit: u32,
        #[arg(long, visible_alias = "output")]
        format: Option<String>,
        #[arg(short = 'k', long)]
        insecure: bool,
    },
}

#[derive(Subcommand)]
enum GenWhat {
    /// A deployment directory for a project: api_meta.yaml, params.yaml (one entry per added environment), certificates/
    DeploymentDir {
        #[arg(short = 's', long)]
        source: PathBuf,
        #[arg(short = 'd', long)]
        destination: Option<PathBuf>,
    },
}

#[derive(Args)]
struct SyncArgs {
    /// A directory of API projects (folders or ZIPs)
    #[arg(short = 'd', long)]
    dir: PathBuf,
    #[arg(short = 'e', long)]
    environment: String,
    /// Also delete the environment's APIs the directory does not hold
    #[arg(long)]
    prune: bool,
    /// Apply without asking
    #[arg(short = 'y', long)]
    yes: bool,
    #[arg(short = 'k', long)]
    insecure: bool,
}

#[derive(Subcommand)]
enum DiffWhat {
    Api {
        #[arg(short = 'f', long)]
        file: PathBuf,
        #[arg(short = 'e', long)]
        environment: String,
        #[arg(short = 'k', long)]
        insecure: bool,
    },
}

#[derive(Args)]
struct InitArgs {
    /// The project directory to make
    path: PathBuf,
    /// The OpenAPI definition: a file or an http(s) URL
    #[arg(long)]
    oas: Option<String>,
    /// The API's lifecycle state on import
    #[arg(long, default_value = "CREATED")]
    initial_state: String,
    /// Replace the directory if it exists
    #[arg(short = 'f', long)]
    force: bool,
    #[arg(short = 'k', long)]
    insecure: bool,
}

#[derive(Args)]
struct ExportArgs {
    #[command(flatten)]
    api: ApiArgs,
    #[arg(long = "rev")]
    revision: Option<u32>,
    #[arg(long)]
    latest: bool,
    #[arg(long)]
    preserve_status: Option<bool>,
    #[arg(long, default_value = "YAML")]
    format: String,
}

/// `export app` / `import app`: WSO2 apictl 4.2's flags.
#[derive(Args)]
struct ExportAppArgs {
    #[arg(short = 'n', long)]
    name: String,
    #[arg(short = 'o', long)]
    owner: String,
    #[arg(short = 'e', long)]
    environment: String,
    /// Also list the application's keys (their secrets are never exported)
    #[arg(long = "withKeys")]
    with_keys: bool,
    #[arg(long, default_value = "YAML")]
    format: String,
    #[arg(short = 'k', long)]
    insecure: bool,
}

#[derive(Args)]
struct ImportAppArgs {
    #[arg(short = 'f', long)]
    file: PathBuf,
    #[arg(short = 'e', long)]
    environment: String,
    /// Replace an application of the same name and owner
    #[arg(long)]
    update: bool,
    /// The owner the application gets in this environment (admins only)
    #[arg(short = 'o', long)]
    owner: Option<String>,
    #[arg(long = "preserveOwner")]
    preserve_owner: bool,
    #[arg(long = "skipSubscriptions")]
    skip_subscriptions: bool,
    #[arg(long = "skipKeys")]
    skip_keys: bool,
    #[arg(short = 'k', long)]
    insecure: bool,
}

/// An API product in an environment (WSO2 apictl 4.2's flags).
#[derive(Args)]
struct ProductArgs {
    #[arg(short = 'n', long)]
    name: String,
    #[arg(short = 'v', long, default_value = "1.0.0")]
    version: String,
    #[arg(short = 'r', long)]
    provider: Option<String>,
    #[arg(short = 'e', long)]
    environment: String,
    #[arg(short = 'k', long)]
    insecure: bool,
}

/// `export api-product`: WSO2 apictl 4.2's flags.
#[derive(Args)]
struct ExportProductArgs {
    #[command(flatten)]
    product: ProductArgs,
    #[arg(long = "rev")]
    revision: Option<u32>,
    #[arg(long)]
    latest: bool,
    #[arg(long)]
    preserve_status: Option<bool>,
    #[arg(long, default_value = "YAML")]
    format: String,
}

/// `import api-product`: WSO2 apictl 4.2's flags.
#[derive(Args)]
struct ImportProductArgs {
    #[arg(short = 'f', long)]
    file: PathBuf,
    #[arg(short = 'e', long)]
    environment: String,
    /// Also import the APIs the product uses (its project's APIs/ folder)
    #[arg(long = "import-apis")]
    import_apis: bool,
    /// Replace an API product of the same name and version
    #[arg(long = "update-api-product")]
    update_api_product: bool,
    /// With --import-apis, replace APIs that exist already
    #[arg(long = "update-apis")]
    update_apis: bool,
    #[arg(long)]
    rotate_revision: bool,
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    preserve_provider: bool,
    /// Update the working copy only: the project's deployment environments are left out
    #[arg(long)]
    skip_deployments: bool,
    #[arg(short = 'k', long)]
    insecure: bool,
}

/// `export policy rate-limiting|api` / `import policy rate-limiting|api`.
#[derive(Subcommand)]
enum PolicyTransfer<A: clap::Args, B: clap::Args> {
    /// A rate-limiting (throttling) policy of the Admin API, as WSO2's policy file
    RateLimiting(A),
    /// A common operation policy of the Publisher, as WSO2's policy archive (specification and definitions)
    Api(B),
}

#[derive(Args)]
struct ExportOperationPolicyArgs {
    #[arg(short = 'n', long)]
    name: String,
    #[arg(short = 'v', long, default_value = "v1")]
    version: String,
    #[arg(short = 'e', long)]
    environment: String,
    #[arg(long, default_value = "YAML")]
    format: String,
    #[arg(short = 'k', long)]
    insecure: bool,
}

#[derive(Args)]
struct ImportOperationPolicyArgs {
    #[arg(short = 'f', long)]
    file: PathBuf,
    #[arg(short = 'e', long)]
    environment: String,
    #[arg(short = 'k', long)]
    insecure: bool,
}

#[derive(Args)]
struct ExportPolicyArgs {
    #[arg(short = 'n', long)]
    name: String,
    /// sub, app, api (advanced) or global (custom); without it, the policy of that name at any level
    #[arg(short = 't', long = "type")]
    kind: Option<String>,
    #[arg(short = 'e', long)]
    environment: String,
    #[arg(long, default_value = "YAML")]
    format: String,
    #[arg(short = 'k', long)]
    insecure: bool,
}

#[derive(Args)]
struct ImportPolicyArgs {
    #[arg(short = 'f', long)]
    file: PathBuf,
    #[arg(short = 'e', long)]
    environment: String,
    /// Replace a policy of the same name and level
    #[arg(short = 'u', long)]
    update: bool,
    #[arg(short = 'k', long)]
    insecure: bool,
}

#[derive(Subcommand)]
enum ExportWhat {
    Api(ExportArgs),
    /// Export a policy
    Policy {
        #[command(subcommand)]
        kind: PolicyTransfer<ExportPolicyArgs, ExportOperationPolicyArgs>,
    },
    /// Export an API product with the APIs it uses as apictl's project archive
    ApiProduct(ExportProductArgs),
    /// Export an application with its subscriptions as apictl's application project
    App(ExportAppArgs),
    /// Every API of the environment, resumable: archives already there are kept unless --force
    Apis {
        #[arg(short = 'e', long)]
        environment: String,
        #[arg(long)]
        all: bool,
        #[arg(long)]
        force: bool,
        #[arg(long, default_value = "YAML")]
        format: String,
        #[arg(short = 'k', long)]
        insecure: bool,
    },
}

#[derive(Subcommand)]
enum ImportWhat {
    Api(ImportArgs),
    /// Import a policy
    Policy {
        #[command(subcommand)]
        kind: PolicyTransfer<ImportPolicyArgs, ImportOperationPolicyArgs>,
    },
    /// Import an API product project (a directory or a ZIP as `export api-product` writes it)
    ApiProduct(ImportProductArgs),
    /// Import an application project (a ZIP as `export app` writes it)
    App(ImportAppArgs),
}

#[derive(Args)]
struct ImportArgs {
    #[arg(short = 'f', long)]
    file: PathBuf,
    #[arg(short = 'e', long)]
    environment: String,
    #[arg(long)]
    update: bool,
    #[arg(long)]
    rotate_revision: bool,
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    preserve_provider: bool,
    #[arg(long)]
    params: Option<PathBuf>,
    /// Update the working copy only: the project's (and the params') deployment environments are left out
    #[arg(long)]
    skip_deployments: bool,
    #[arg(short = 'k', long)]
    insecure: bool,
}

#[derive(Subcommand)]
enum AddWhat {
    Env(AddEnvArgs),
}

#[derive(Subcommand)]
enum RemoveWhat {
    Env { name: String },
}

#[derive(Subcommand)]
enum GetWhat {
    Envs {
        #[arg(long, visible_alias = "output")]
        format: Option<String>,
    },
    Apis(GetApisArgs),
    /// API products (-q as for APIs)
    ApiProducts(GetApisArgs),
    /// An access token for an API: subscribes apictl's own application (`default-apictl-app`) and generates its keys
    Keys(GetKeysArgs),
    /// Applications (the Admin API's list)
    Apps(GetAppsArgs),
    /// The revisions of an API
    ApiRevisions(GetRevisionsArgs),
    /// Policies: rate-limiting (Admin) or api (operation policies)
    Policies {
        #[command(subcommand)]
        kind: PolicyKind,
    },
}

#[derive(Args)]
struct GetAppsArgs {
    #[arg(short = 'e', long)]
    environment: String,
    #[arg(short = 'o', long)]
    owner: Option<String>,
    #[arg(short = 'l', long, default_value_t = 25)]
    limit: u32,
    #[arg(long, visible_alias = "output")]
    format: Option<String>,
    #[arg(short = 'k', long)]
    insecure: bool,
}

#[derive(Args)]
struct GetRevisionsArgs {
    #[command(flatten)]
    api: ApiArgs,
    /// `deployed:true` for the deployed ones only
    #[arg(short = 'q', long)]
    query: Option<String>,
    #[arg(long, visible_alias = "output")]
    format: Option<String>,
}

#[derive(Args)]
struct GetKeysArgs {
    #[command(flatten)]
    api: ApiArgs,
    /// The token endpoint to ask (default: the environment's)
    #[arg(short = 't', long)]
    token: Option<String>,
}

#[derive(Subcommand)]
enum ApiTarget<A: Args> {
    Api(A),
}

#[derive(Args)]
struct AddEnvArgs {
    name: String,
    #[arg(long)]
    apim: Option<String>,
    #[arg(long)]
    publisher: Option<String>,
    #[arg(long)]
    devportal: Option<String>,
    #[arg(long)]
    admin: Option<String>,
    #[arg(long)]
    registration: Option<String>,
    #[arg(long)]
    token: Option<String>,
}

#[derive(Args)]
struct LoginArgs {
    environment: String,
    /// A personal access token to use instead of a username and password (checked once, then kept)
    #[arg(long, conflicts_with_all = ["username", "password", "password_stdin"])]
    token: Option<String>,
    #[arg(short = 'u', long)]
    username: Option<String>,
    #[arg(short = 'p', long)]
    password: Option<String>,
    #[arg(long)]
    password_stdin: bool,
    #[arg(short = 'k', long)]
    insecure: bool,
}

#[derive(Args)]
struct GetApisArgs {
    #[arg(short = 'e', long)]
    environment: String,
    #[arg(short = 'q', long)]
    query: Vec<String>,
    #[arg(short = 'l', long, default_value_t = 25)]
    limit: u32,
    #[arg(long, visible_alias = "output")]
    format: Option<String>,
    #[arg(short = 'k', long)]
    insecure: bool,
}

#[derive(Args)]
struct ApiArgs {
    #[arg(short = 'n', long)]
    name: String,
    #[arg(short = 'v', long)]
    version: String,
    #[arg(short = 'r', long)]
    provider: Option<String>,
    #[arg(short = 'e', long)]
    environment: String,
    #[arg(short = 'k', long)]
    insecure: bool,
}

#[derive(Args)]
struct StatusArgs {
    #[arg(short = 'a', long)]
    action: String,
    #[command(flatten)]
    api: ApiArgs,
}

#[derive(Args)]
struct UndeployArgs {
    #[arg(long = "rev")]
    revision: u32,
    #[arg(short = 'g', long = "gateway-env")]
    gateways: Vec<String>,
    #[command(flatten)]
    api: ApiArgs,
}

fn main() -> ExitCode {
    // Usage errors exit 1, as apictl's (cobra) do; help and version print and exit 0.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() => {
            let _ = e.print();
            return ExitCode::FAILURE;
        }
        Err(e) => e.exit(),
    };
    client::VERBOSE.store(cli.verbose, std::sync::atomic::Ordering::Relaxed);
    let is_diff = matches!(cli.command, Command::Diff { .. });
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("apictl: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::Differs) => ExitCode::from(1),
        // `diff`'s convention: 2 is trouble, 1 is a difference.
        Err(e) => {
            eprintln!("Error: {e:#}");
            if is_diff { ExitCode::from(2) } else { ExitCode::FAILURE }
        }
    }
}

/// A logged-in environment: its endpoints, a token, and the client to use them with.
/// What `export api` and `export api-product` name.
struct Exported<'a> {
    name: &'a str,
    version: &'a str,
    provider: Option<&'a str>,
    revision: Option<u32>,
    latest: bool,
    preserve_status: Option<bool>,
    format: &'a str,
}

/// Exports an API (`kind` `apis`) or API product (`api-products`) into apictl's export directory,
/// `exported/<kind>/<env>/<Name>_<version>[_Revision-N].zip`; returns where.
async fn export_project(s: &Session, store: &Store, kind: &str, what: &Exported<'_>) -> anyhow::Result<PathBuf> {
    let enc = |v: &str| -> String { form_urlencoded::byte_serialize(v.as_bytes()).collect() };
    let mut url =
        format!("{}/{kind}/export?name={}&version={}&format={}", s.env.publisher(), enc(what.name), enc(what.version), enc(what.format));
    if let Some(p) = what.provider {
        url.push_str(&format!("&providerName={}", enc(p)));
    }
    if let Some(p) = what.preserve_status {
        url.push_str(&format!("&preserveStatus={p}"));
    }
    match (what.revision, what.latest) {
        (Some(_), true) => bail!("give --rev or --latest, not both"),
        (Some(n), false) => url.push_str(&format!("&revisionNumber={n}")),
        (None, true) => url.push_str("&latestRevision=true"),
        (None, false) => {}
    }
    let bytes = s.raw(Method::GET, &url).await.with_context(|| format!("environment `{}`: {} {}", s.name, what.name, what.version))?;
    let dir = PathBuf::from(store.main()?.config.export_directory).join(kind).join(&s.name);
    let suffix = what.revision.map(|n| format!("_Revision-{n}")).unwrap_or_default();
    let path = dir.join(format!("{}_{}{suffix}.zip", what.name, what.version).replace(['/', '\\'], "_"));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::write(&path, &bytes).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

struct Session {
    name: String,
    store: Store,
    env: Environment,
    http: Http,
    bearer: std::sync::Mutex<String>,
    /// Whether `bearer` came from keys.json (so a 401 may mean it was revoked: then one fresh token and a retry).
    cached: std::sync::atomic::AtomicBool,
}

/// A stored token is reused while it has at least this many seconds left.
const TOKEN_MARGIN_SECS: u64 = 60;

async fn session(store: &Store, name: &str, insecure: bool) -> anyhow::Result<Session> {
    let main = store.main()?;
    let env = main.environments.get(name).cloned().with_context(|| format!("environment `{name}` is not added (apictl add env)"))?;
    let http = Http::new(insecure, Duration::from_millis(main.config.http_request_timeout));
    let credential = store.credential(name)?.with_context(|| format!("not logged in to `{name}` (apictl login {name})"))?;
    let s = Session {
        name: name.to_string(),
        store: store.clone(),
        env,
        http,
        bearer: std::sync::Mutex::new(String::new()),
        cached: std::sync::atomic::AtomicBool::new(false),
    };
    if !credential.access_token.is_empty() && credential.expires_at > store::now() + TOKEN_MARGIN_SECS {
        s.set_bearer(&credential.access_token);
        s.cached.store(true, std::sync::atomic::Ordering::Relaxed);
    } else {
        s.renew().await?;
    }
    Ok(s)
}

impl Session {
    fn bearer(&self) -> String {
        self.bearer.lock().map(|b| b.clone()).unwrap_or_default()
    }

    fn set_bearer(&self, token: &str) {
        if let Ok(mut b) = self.bearer.lock() {
            *b = format!("Bearer {token}");
        }
    }

    /// A fresh password-grant token, kept in keys.json for the next commands.
    async fn renew(&self) -> anyhow::Result<()> {
        let name = &self.name;
        let mut credential = self.store.credential(name)?.with_context(|| format!("not logged in to `{name}` (apictl login {name})"))?;
        let (token, expires_in) =
            client::token(&self.http, &self.env, &credential).await.with_context(|| format!("environment `{name}`: cannot get a token"))?;
        self.set_bearer(&token);
        self.cached.store(false, std::sync::atomic::Ordering::Relaxed);
        credential.access_token = token;
        credential.expires_at = store::now() + expires_in;
        self.store.save_credential(name, Some(&credential))?;
        Ok(())
    }

    /// One request with the session's token; a 401 for a stored token (revoked, or the server's keys changed)
    /// gets one fresh token and one retry.
    async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<(&str, hyper::body::Bytes)>,
    ) -> Result<hyper::body::Bytes, client::CallError> {
        let first = self.http.send(method.clone(), url, Some(&self.bearer()), body.clone()).await;
        match first {
            Err(client::CallError::Status { status: http::StatusCode::UNAUTHORIZED, .. })
                if self.cached.load(std::sync::atomic::Ordering::Relaxed) =>
            {
                if self.renew().await.is_err() {
                    return first;
                }
                self.http.send(method, url, Some(&self.bearer()), body).await
            }
            other => other,
        }
    }

    /// A 2xx answer's body.
    async fn raw(&self, method: Method, url: &str) -> Result<hyper::body::Bytes, client::CallError> {
        self.send(method, url, None).await
    }

    /// A 2xx answer as JSON (`Null` when empty or not JSON).
    async fn call(&self, method: Method, url: &str, body: Option<(&str, String)>) -> Result<Value, client::CallError> {
        let bytes = self.send(method, url, body.map(|(t, b)| (t, hyper::body::Bytes::from(b)))).await?;
        Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// A request with a body whose answer is not JSON (the Admin API's policy import answers text).
    async fn raw_with_body(
        &self,
        method: Method,
        url: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<hyper::body::Bytes, client::CallError> {
        self.send(method, url, Some((content_type, hyper::body::Bytes::from(body)))).await
    }

    async fn call_bytes(&self, method: Method, url: &str, content_type: &str, body: Vec<u8>) -> Result<Value, client::CallError> {
        let bytes = self.raw_with_body(method, url, content_type, body).await?;
        Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    async fn publisher(&self, method: Method, path_and_query: &str) -> anyhow::Result<Value> {
        Ok(self.call(method, &format!("{}{path_and_query}", self.env.publisher()), None).await?)
    }

    async fn devportal(&self, method: Method, path_and_query: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let url = format!("{}{path_and_query}", self.env.devportal());
        let body = body.map(|b| ("application/json", b.to_string()));
        Ok(self.call(method, &url, body).await?)
    }

    /// The id of the API named `name` `version` (and `provider`, when given).
    async fn api_id(&self, a: &ApiArgs) -> anyhow::Result<String> {
        self.id_in("/apis", "API", &a.name, &a.version, a.provider.as_deref()).await
    }

    /// The id of the API (`/apis`) or API product (`/api-products`) of that name, version and (if given) provider.
    async fn id_in(&self, list: &str, noun: &str, name: &str, version: &str, provider: Option<&str>) -> anyhow::Result<String> {
        let query = format!("name:\"{name}\" version:\"{version}\"");
        let q: String = form_urlencoded::byte_serialize(query.as_bytes()).collect();
        let found = self.publisher(Method::GET, &format!("{list}?limit=100&query={q}")).await?;
        let matches: Vec<&Value> = found
            .get("list")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|api| api["name"] == name && api["version"] == version)
            .filter(|api| provider.is_none_or(|p| api["provider"] == p))
            .collect();
        match matches.as_slice() {
            [one] => Ok(one["id"].as_str().unwrap_or_default().to_string()),
            [] => bail!("{noun} {name} {version} not found in `{}`", self.name),
            _ => bail!("more than one {noun} is named {name} {version} in `{}`: give the provider with -r", self.name),
        }
    }
}

/// How a command ended, when it did not fail.
enum Outcome {
    Done,
    /// `diff` found differences.
    Differs,
}

async fn run(command: Command) -> anyhow::Result<Outcome> {
    let store = Store::open()?;
    match command {
        Command::Sync(a) => sync(&store, a).await?,
        Command::Gen { what: GenWhat::DeploymentDir { source, destination } } => {
            let environments: Vec<String> = store.main()?.environments.keys().cloned().collect();
            let made = project::deployment_dir(&source, destination.as_deref(), &environments)?;
            println!("The deployment directory for {} is generated at {}", source.display(), made.display());
        }
        Command::Diff { what: DiffWhat::Api { file, environment, insecure } } => {
            let local = project::archive(&file, None, &environment, false)?;
            let local = diff::Project::read(&local).with_context(|| format!("{}", file.display()))?;
            let s = session(&store, &environment, insecure).await?;
            let enc = |v: &str| -> String { form_urlencoded::byte_serialize(v.as_bytes()).collect() };
            let url = format!("{}/apis/export?name={}&version={}&format=YAML", s.env.publisher(), enc(&local.name), enc(&local.version));
            let remote = match s.raw(Method::GET, &url).await {
                Ok(bytes) => {
                    Some(diff::Project::read(&bytes).with_context(|| format!("environment `{environment}`: the exported project"))?)
                }
                Err(client::CallError::Status { status: http::StatusCode::NOT_FOUND, .. }) => None,
                Err(e) => return Err(anyhow::Error::from(e).context(format!("environment `{environment}`"))),
            };
            let lines = diff::compare(remote.as_ref(), &local);
            if lines.is_empty() {
                println!("{} {}: no changes in `{environment}`", local.name, local.version);
                return Ok(Outcome::Done);
            }
            println!("--- {environment}\n+++ {}", file.display());
            for l in &lines {
                println!("{l}");
            }
            return Ok(Outcome::Differs);
        }
        Command::Version => println!("Version: {}", env!("CARGO_PKG_VERSION")),
        Command::Vcs { what: VcsWhat::Init { force } } => {
            let here = std::env::current_dir().context("cannot read the current directory")?;
            let path = vcs::init(&here, force)?;
            println!("Successfully initialized GIT repository: {} (commit it)", path.display());
        }
        Command::Vcs { what: VcsWhat::Status { environment, format } } => return vcs_status(&store, &environment, format.as_deref()),
        Command::Vcs { what: VcsWhat::Deploy { environment, skip_rollback, insecure } } => {
            return vcs_deploy(&store, &environment, skip_rollback, insecure).await;
        }
        Command::Add { what: AddWhat::Env(a) } => {
            let mut main = store.main()?;
            if main.environments.contains_key(&a.name) {
                bail!("environment `{}` already exists; remove it first (apictl remove env {})", a.name, a.name);
            }
            let env = Environment {
                apim_endpoint: a.apim.clone().unwrap_or_default(),
                publisher_endpoint: a.publisher.unwrap_or_default(),
                devportal_endpoint: a.devportal.unwrap_or_default(),
                registration_endpoint: a.registration.unwrap_or_default(),
                admin_endpoint: a.admin.unwrap_or_default(),
                token_endpoint: a.token.unwrap_or_default(),
                mi_endpoint: String::new(),
            };
            for url in [&env.apim_endpoint, &env.publisher_endpoint, &env.registration_endpoint, &env.token_endpoint] {
                if !(url.is_empty() || url.starts_with("https://") || url.starts_with("http://")) {
                    bail!("`{url}` is not an http or https URL");
                }
            }
            if env.apim_endpoint.is_empty()
                && (env.publisher_endpoint.is_empty() || env.registration_endpoint.is_empty() || env.token_endpoint.is_empty())
            {
                bail!("give --apim, or --publisher, --registration and --token");
            }
            main.environments.insert(a.name.clone(), env);
            store.save_main(&main)?;
            println!("Successfully added environment '{}'", a.name);
        }
        Command::Remove { what: RemoveWhat::Env { name } } => {
            let mut main = store.main()?;
            if main.environments.remove(&name).is_none() {
                bail!("environment `{name}` does not exist");
            }
            store.save_main(&main)?;
            store.save_credential(&name, None)?;
            println!("Successfully removed environment '{name}'");
        }
        Command::Get { what: GetWhat::Envs { format } } => {
            const FIELDS: [format::Field; 7] = [
                format::field("Name", "NAME", "name"),
                format::field("ApimEndpoint", "API MANAGER ENDPOINT", "apimEndpoint"),
                format::field("PublisherEndpoint", "PUBLISHER ENDPOINT", "publisherEndpoint"),
                format::field("DevportalEndpoint", "DEVPORTAL ENDPOINT", "devportalEndpoint"),
                format::field("AdminEndpoint", "ADMIN ENDPOINT", "adminEndpoint"),
                format::field("RegistrationEndpoint", "REGISTRATION ENDPOINT", "registrationEndpoint"),
                format::field("TokenEndpoint", "TOKEN ENDPOINT", "tokenEndpoint"),
            ];
            let f = format::Format::parse(format.as_deref(), "table {{.Name}}\t{{.ApimEndpoint}}", &FIELDS)?;
            let list: Vec<Value> = store
                .main()?
                .environments
                .iter()
                .map(|(name, e)| {
                    serde_json::json!({"name": name, "apimEndpoint": e.apim_endpoint, "publisherEndpoint": e.publisher_endpoint,
                        "devportalEndpoint": e.devportal_endpoint, "adminEndpoint": e.admin_endpoint,
                        "registrationEndpoint": e.registration_endpoint, "tokenEndpoint": e.token_endpoint})
                })
                .collect();
            print!("{}", f.render(&list, &FIELDS));
        }
        Command::Bundle { source, destination } => {
            let path = project::bundle(&source, &destination.unwrap_or_else(|| PathBuf::from(".")))?;
            println!("Successfully created the bundle {}", path.display());
        }
        Command::Login(a) => {
            let main = store.main()?;
            let env = main
                .environments
                .get(&a.environment)
                .with_context(|| format!("environment `{}` is not added (apictl add env)", a.environment))?;
            let http = Http::new(a.insecure, Duration::from_millis(main.config.http_request_timeout));
            if let Some(token) = a.token.as_deref().map(str::trim) {
                // Checked with one read before it is kept: a refused token is an error now, not at the next command.
                let probe = format!("{}/apis?limit=1", env.publisher());
                http.call(Method::GET, &probe, Some(&format!("Bearer {token}")), None)
                    .await
                    .with_context(|| format!("environment `{}`: the token was refused", a.environment))?;
                let credential = store::Credential {
                    client_id: String::new(),
                    client_secret: String::new(),
                    username: String::new(),
                    password: String::new(),
                    access_token: token.to_string(),
                    expires_at: client::token_expiry(token).unwrap_or(store::now() + 10 * 365 * 86_400),
                };
                store.save_credential(&a.environment, Some(&credential))?;
                println!("Logged into API Manager in {} environment (with a token)", a.environment);
                return Ok(Outcome::Done);
            }
            let username = a.username.context("give the username with -u, or a token with --token")?;
            let password = match (a.password, a.password_stdin) {
                (Some(p), false) => p,
                (None, true) => {
                    let mut p = String::new();
                    std::io::stdin().read_to_string(&mut p).context("cannot read the password from stdin")?;
                    p.trim_end_matches(['\n', '\r']).to_string()
                }
                (Some(_), true) => bail!("give the password with -p or --password-stdin, not both"),
                (None, false) => bail!("give the password with -p or --password-stdin"),
            };
            let credential = client::login(&http, env, &username, &password)
                .await
                .with_context(|| format!("environment `{}`: login failed", a.environment))?;
            store.save_credential(&a.environment, Some(&credential))?;
            println!("Logged into API Manager in {} environment", a.environment);
        }
        Command::Logout { environment, insecure } => {
            let main = store.main()?;
            if let (Some(env), Some(c)) = (main.environments.get(&environment), store.credential(&environment)?)
                && !c.access_token.is_empty()
            {
                // The stored token is revoked; the client itself stays registered, as apictl does.
                let http = Http::new(insecure, Duration::from_millis(main.config.http_request_timeout));
                let form = format!("token={}", c.access_token);
                let auth = client::basic(&c.client_id, &c.client_secret);
                let _ = http.call(Method::POST, &env.revoke(), Some(&auth), Some(("application/x-www-form-urlencoded", form))).await;
            }
            store.save_credential(&environment, None)?;
            println!("Logged out from {environment} environment");
        }
        Command::Get { what: GetWhat::Apis(a) } => {
            const FIELDS: [format::Field; 8] = [
                format::field("Id", "ID", "id"),
                format::field("Name", "NAME", "name"),
                format::field("Version", "VERSION", "version"),
                format::field("Context", "CONTEXT", "context"),
                format::field("LifeCycleStatus", "STATUS", "lifeCycleStatus"),
                format::field("Provider", "PROVIDER", "provider"),
                format::field("Type", "TYPE", "type"),
                format::field("Description", "DESCRIPTION", "description"),
            ];
            let f = format::Format::parse(
                a.format.as_deref(),
                "table {{.Id}}\t{{.Name}}\t{{.Version}}\t{{.Context}}\t{{.LifeCycleStatus}}\t{{.Provider}}",
                &FIELDS,
            )?;
            let s = session(&store, &a.environment, a.insecure).await?;
            let query: String = form_urlencoded::byte_serialize(a.query.join(" ").as_bytes()).collect();
            let v = s
                .publisher(Method::GET, &format!("/apis?limit={}&query={query}", a.limit))
                .await
                .with_context(|| format!("environment `{}`", a.environment))?;
            print!("{}", f.render(&list_of(&v), &FIELDS));
        }
        Command::Get { what: GetWhat::ApiProducts(a) } => {
            const FIELDS: [format::Field; 6] = [
                format::field("Id", "ID", "id"),
                format::field("Name", "NAME", "name"),
                format::field("Version", "VERSION", "version"),
                format::field("Context", "CONTEXT", "context"),
                format::field("State", "STATUS", "state"),
                format::field("Provider", "PROVIDER", "provider"),
            ];
            let f =
                format::Format::parse(a.format.as_deref(), "table {{.Id}}\t{{.Name}}\t{{.Context}}\t{{.State}}\t{{.Provider}}", &FIELDS)?;
            let s = session(&store, &a.environment, a.insecure).await?;
            let query: String = form_urlencoded::byte_serialize(a.query.join(" ").as_bytes()).collect();
            let v = s
                .publisher(Method::GET, &format!("/api-products?limit={}&query={query}", a.limit))
                .await
                .with_context(|| format!("environment `{}`", a.environment))?;
            print!("{}", f.render(&list_of(&v), &FIELDS));
        }
        Command::Delete { what: DeleteWhat::ApiProduct(ProductArgs { name, version, provider, environment, insecure }) } => {
            let s = session(&store, &environment, insecure).await?;
            delete_in(&s, "/api-products", "API product", &name, &version, provider.as_deref()).await?;
            println!("{name} API Product deleted successfully!");
        }
        Command::Get { what: GetWhat::Apps(a) } => {
            const FIELDS: [format::Field; 5] = [
                format::field("Id", "ID", "applicationId"),
                format::field("Name", "NAME", "name"),
                format::field("Owner", "OWNER", "owner"),
                format::field("Status", "STATUS", "status"),
                format::field("GroupId", "GROUP_ID", "groupId"),
            ];
            let f = format::Format::parse(a.format.as_deref(), "table {{.Id}}\t{{.Name}}\t{{.Owner}}\t{{.Status}}\t{{.GroupId}}", &FIELDS)?;
            let s = session(&store, &a.environment, a.insecure).await?;
            let mut url = format!("{}/api/am/admin/v4/applications?limit={}", s.env.admin_base(), a.limit);
            if let Some(o) = &a.owner {
                url.push_str(&format!("&user={}", form_urlencoded::byte_serialize(o.as_bytes()).collect::<String>()));
            }
            let v = s.call(Method::GET, &url, None).await.with_context(|| format!("environment `{}`", a.environment))?;
            print!("{}", f.render(&list_of(&v), &FIELDS));
        }
        Command::Get { what: GetWhat::ApiRevisions(a) } => {
            const FIELDS: [format::Field; 5] = [
                format::field("Id", "ID", "id"),
                format::field("Revision", "REVISION", "displayName"),
                format::field("Description", "DESCRIPTION", "description"),
                format::field("GatewayEnvs", "GATEWAY_ENVS", "gatewayEnvs"),
                format::field("CreatedTime", "CREATED TIME", "createdTime"),
            ];
            let f =
                format::Format::parse(a.format.as_deref(), "table {{.Id}}\t{{.Revision}}\t{{.Description}}\t{{.GatewayEnvs}}", &FIELDS)?;
            let s = session(&store, &a.api.environment, a.api.insecure).await?;
            let id = s.api_id(&a.api).await?;
            let query = a
                .query
                .as_deref()
                .map(|q| format!("?query={}", form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>()))
                .unwrap_or_default();
            let v = s
                .publisher(Method::GET, &format!("/apis/{id}/revisions{query}"))
                .await
                .with_context(|| format!("environment `{}`", a.api.environment))?;
            let mut list = v.get("list").and_then(Value::as_array).cloned().unwrap_or_default();
            for r in &mut list {
                let gateways: Vec<String> = r
                    .get("deploymentInfo")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|d| d.get("name").and_then(Value::as_str).map(str::to_string))
                    .collect();
                r["gatewayEnvs"] = Value::from(gateways.join(","));
            }
            print!("{}", f.render(&list, &FIELDS));
        }
        Command::Get { what: GetWhat::Keys(a) } => {
            let s = session(&store, &a.api.environment, a.api.insecure).await?;
            let context = || format!("environment `{}`: {} {}", a.api.environment, a.api.name, a.api.version);
            let token = get_keys(&s, &a).await.with_context(context)?;
            println!("{token}");
        }
        Command::Init(a) => {
            let definition = match &a.oas {
                Some(src) if src.starts_with("http://") || src.starts_with("https://") => {
                    let http = Http::new(a.insecure, Duration::from_millis(store.main()?.config.http_request_timeout));
                    let bytes = http.raw(Method::GET, src, None, None).await.with_context(|| format!("cannot fetch {src}"))?;
                    Some(String::from_utf8(bytes.to_vec()).with_context(|| format!("{src} is not UTF-8 text"))?)
                }
                Some(file) => Some(std::fs::read_to_string(file).with_context(|| format!("cannot read {file}"))?),
                None => None,
            };
            project::init(&a.path, definition.as_deref(), &a.initial_state, a.force)?;
            println!("Project initialized\nOpen README file to learn more");
        }
        Command::Completion { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "apictl", &mut std::io::stdout());
        }
        Command::Export { what: ExportWhat::Apis { environment, all, force, format, insecure } } => {
            let s = session(&store, &environment, insecure).await?;
            let dir = PathBuf::from(store.main()?.config.export_directory)
                .join("migration")
                .join(&environment)
                .join("tenant-default")
                .join("apis");
            if force && dir.exists() {
                std::fs::remove_dir_all(&dir).with_context(|| format!("cannot clear {}", dir.display()))?;
            }
            std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
            let enc = |v: &str| -> String { form_urlencoded::byte_serialize(v.as_bytes()).collect() };
            let (mut offset, mut done, mut kept) = (0, 0, 0);
            // A counter on a terminal only (stderr), so logs of a pipeline stay clean.
            let progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
            loop {
                let page = s
                    .publisher(Method::GET, &format!("/apis?limit=100&offset={offset}"))
                    .await
                    .with_context(|| format!("environment `{environment}`"))?;
                let list = page.get("list").and_then(Value::as_array).cloned().unwrap_or_default();
                let total = page.pointer("/pagination/total").and_then(Value::as_u64).unwrap_or(0);
                for api in &list {
                    if progress {
                        eprint!("\r{} of {total} APIs", done + kept);
                    }
                    let f = |k: &str| api.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                    let path = dir.join(format!("{}_{}.zip", f("name"), f("version")));
                    if path.exists() {
                        kept += 1;
                        continue;
                    }
                    // With --all, the latest revision of each; else the working copy.
                    let revision = if all { "&latestRevision=true" } else { "" };
                    let url = format!("{}/apis/export?apiId={}&format={}{revision}", s.env.publisher(), enc(&f("id")), enc(&format));
                    let bytes = match s.raw(Method::GET, &url).await {
                        Ok(b) => b,
                        // An API without revisions has no latest one: its working copy then.
                        Err(client::CallError::Status { status: http::StatusCode::NOT_FOUND, .. }) if all => {
                            let url = format!("{}/apis/export?apiId={}&format={}", s.env.publisher(), enc(&f("id")), enc(&format));
                            s.raw(Method::GET, &url).await?
                        }
                        Err(e) => return Err(anyhow::Error::from(e).context(format!("exporting {} {}", f("name"), f("version")))),
                    };
                    let tmp = path.with_extension("part");
                    std::fs::write(&tmp, &bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
                    std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
                    done += 1;
                }
                if list.len() < 100 {
                    break;
                }
                offset += 100;
            }
            if progress {
                eprint!("\r\x1b[K");
            }
            println!("Exported {done} APIs to {} ({kept} already there)", dir.display());
        }
        Command::Export { what: ExportWhat::Api(a) } => {
            let s = session(&store, &a.api.environment, a.api.insecure).await?;
            let what = Exported {
                name: &a.api.name,
                version: &a.api.version,
                provider: a.api.provider.as_deref(),
                revision: a.revision,
                latest: a.latest,
                preserve_status: a.preserve_status,
                format: &a.format,
            };
            let path = export_project(&s, &store, "apis", &what).await?;
            println!("Successfully exported API!\nFind the exported API at {}", path.display());
        }
        Command::Export { what: ExportWhat::ApiProduct(a) } => {
            let s = session(&store, &a.product.environment, a.product.insecure).await?;
            let what = Exported {
                name: &a.product.name,
                version: &a.product.version,
                provider: a.product.provider.as_deref(),
                revision: a.revision,
                latest: a.latest,
                preserve_status: a.preserve_status,
                format: &a.format,
            };
            let path = export_project(&s, &store, "api-products", &what).await?;
            println!("Successfully exported API Product!\nFind the exported API Product at {}", path.display());
        }
        Command::Export { what: ExportWhat::App(a) } => {
            let format = a.format.to_ascii_uppercase();
            if !["YAML", "JSON"].contains(&format.as_str()) {
                bail!("--format `{}`: give YAML or JSON", a.format);
            }
            let s = session(&store, &a.environment, a.insecure).await?;
            let enc = |v: &str| -> String { form_urlencoded::byte_serialize(v.as_bytes()).collect() };
            let url = format!(
                "{}/applications/export?appName={}&appOwner={}&withKeys={}&format={format}",
                s.env.devportal(),
                enc(&a.name),
                enc(&a.owner),
                a.with_keys
            );
            let bytes = s
                .raw(Method::GET, &url)
                .await
                .with_context(|| format!("environment `{}`: application `{}` of `{}`", a.environment, a.name, a.owner))?;
            let dir = PathBuf::from(store.main()?.config.export_directory).join("apps").join(&a.environment);
            let file = format!("{}_{}.zip", a.owner, a.name).replace(['/', '\\'], "_");
            let path = dir.join(file);
            std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
            std::fs::write(&path, &bytes).with_context(|| format!("cannot write {}", path.display()))?;
            println!("Successfully exported Application!\nFind the exported Application at {}", path.display());
        }
        Command::Import { what: ImportWhat::App(a) } => {
            let archive = std::fs::read(&a.file).with_context(|| format!("cannot read {}", a.file.display()))?;
            if !archive.starts_with(b"PK") {
                bail!("{}: not a ZIP archive (give the file `apictl export app` wrote)", a.file.display());
            }
            let s = session(&store, &a.environment, a.insecure).await?;
            let flags = AppImportFlags {
                preserve_owner: a.preserve_owner,
                skip_subscriptions: a.skip_subscriptions,
                skip_keys: a.skip_keys,
                update: a.update,
                owner: a.owner.clone(),
            };
            let answer = import_app(&s, &archive, &flags)
                .await
                .with_context(|| format!("environment `{}`: importing {}", a.environment, a.file.display()))?;
            // A 207 lists the subscriptions this environment could not make (WSO2's APIInfoList).
            if let Some(skipped) = answer.get("list").and_then(Value::as_array) {
                for api in skipped {
                    let field = |k: &str| api.get(k).and_then(Value::as_str).unwrap_or("?").to_string();
                    eprintln!("skipped subscription: {} {} (provider {})", field("name"), field("version"), field("provider"));
                }
                println!("Application imported; {} subscription(s) skipped.", skipped.len());
            } else {
                println!("Successfully imported Application.");
            }
        }
        Command::Import { what: ImportWhat::Api(a) } => {
            let archive = project::archive(&a.file, a.params.as_deref(), &a.environment, a.skip_deployments)?;
            let s = session(&store, &a.environment, a.insecure).await?;
            let flags = ImportFlags { preserve_provider: a.preserve_provider, update: a.update, rotate_revision: a.rotate_revision };
            import_api(&s, &archive, flags)
                .await
                .with_context(|| format!("environment `{}`: importing {}", a.environment, a.file.display()))?;
            println!("Successfully imported API.");
        }
        Command::Export { what: ExportWhat::Policy { kind: PolicyTransfer::RateLimiting(a) } } => {
            let format = a.format.to_ascii_uppercase();
            if !["YAML", "JSON"].contains(&format.as_str()) {
                bail!("--format `{}`: give YAML or JSON", a.format);
            }
            if let Some(t) = a.kind.as_deref().filter(|t| !["sub", "app", "api", "global"].contains(t)) {
                bail!("--type `{t}`: give sub, app, api or global");
            }
            let s = session(&store, &a.environment, a.insecure).await?;
            let enc = |v: &str| -> String { form_urlencoded::byte_serialize(v.as_bytes()).collect() };
            let mut url = format!("{}/api/am/admin/v4/throttling/policies/export?name={}", s.env.admin_base(), enc(&a.name));
            if let Some(t) = &a.kind {
                url.push_str(&format!("&type={t}"));
            }
            let policy =
                s.call(Method::GET, &url, None).await.with_context(|| format!("environment `{}`: policy `{}`", a.environment, a.name))?;
            let (ext, text) = match format.as_str() {
                "JSON" => ("json", serde_json::to_string_pretty(&policy)?),
                _ => ("yaml", serde_norway::to_string(&policy)?),
            };
            let dir = PathBuf::from(store.main()?.config.export_directory).join("policies").join("rate-limiting").join(&a.environment);
            let path = dir.join(format!("{}.{ext}", a.name.replace(['/', '\\'], "_")));
            std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
            std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
            println!("Successfully exported Throttling Policy!\nFind the exported Throttling Policy at {}", path.display());
        }
        Command::Import { what: ImportWhat::Policy { kind: PolicyTransfer::RateLimiting(a) } } => {
            let file = std::fs::read(&a.file).with_context(|| format!("cannot read {}", a.file.display()))?;
            let s = session(&store, &a.environment, a.insecure).await?;
            let url = format!("{}/api/am/admin/v4/throttling/policies/import?overwrite={}", s.env.admin_base(), a.update);
            let name = a.file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "policy.yaml".into());
            let (content_type, body) = project::multipart("file", &name, &file);
            let answer = s
                .raw_with_body(Method::POST, &url, &content_type, body)
                .await
                .with_context(|| format!("environment `{}`: importing {}", a.environment, a.file.display()))?;
            println!("{}", String::from_utf8_lossy(&answer).trim());
        }
        Command::Export { what: ExportWhat::Policy { kind: PolicyTransfer::Api(a) } } => {
            let s = session(&store, &a.environment, a.insecure).await?;
            let enc = |v: &str| -> String { form_urlencoded::byte_serialize(v.as_bytes()).collect() };
            let url = format!(
                "{}/operation-policies/export?name={}&version={}&format={}",
                s.env.publisher(),
                enc(&a.name),
                enc(&a.version),
                enc(&a.format)
            );
            let bytes = s
                .raw(Method::GET, &url)
                .await
                .with_context(|| format!("environment `{}`: policy `{}` {}", a.environment, a.name, a.version))?;
            let dir = PathBuf::from(store.main()?.config.export_directory).join("policies").join("api").join(&a.environment);
            let path = dir.join(format!("{}_{}.zip", a.name, a.version).replace(['/', '\\'], "_"));
            std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
            std::fs::write(&path, &bytes).with_context(|| format!("cannot write {}", path.display()))?;
            println!("Successfully exported API Policy!\nFind the exported API Policy at {}", path.display());
        }
        Command::Import { what: ImportWhat::Policy { kind: PolicyTransfer::Api(a) } } => {
            let archive = std::fs::read(&a.file).with_context(|| format!("cannot read {}", a.file.display()))?;
            if !archive.starts_with(b"PK") {
                bail!("{}: not a ZIP archive (give the file `apictl export policy api` wrote)", a.file.display());
            }
            let s = session(&store, &a.environment, a.insecure).await?;
            let url = format!("{}/operation-policies/import", s.env.publisher());
            let (content_type, body) = project::multipart("file", "policy.zip", &archive);
            let answer = s
                .call_bytes(Method::POST, &url, &content_type, body)
                .await
                .with_context(|| format!("environment `{}`: importing {}", a.environment, a.file.display()))?;
            println!(
                "Successfully imported API Policy {} {}.",
                answer["name"].as_str().unwrap_or("?"),
                answer["version"].as_str().unwrap_or("?")
            );
        }
        Command::Import { what: ImportWhat::ApiProduct(a) } => {
            let archive = project::archive(&a.file, None, &a.environment, a.skip_deployments)?;
            let s = session(&store, &a.environment, a.insecure).await?;
            let flags =
                ImportFlags { preserve_provider: a.preserve_provider, update: a.update_api_product, rotate_revision: a.rotate_revision };
            import_api_product(&s, &archive, flags, a.import_apis, a.update_apis)
                .await
                .with_context(|| format!("environment `{}`: importing {}", a.environment, a.file.display()))?;
            println!("Successfully imported API Product.");
        }
        Command::ChangeStatus { what: ApiTarget::Api(a) } => {
            let s = session(&store, &a.api.environment, a.api.insecure).await?;
            let id = s.api_id(&a.api).await?;
            let action: String = form_urlencoded::byte_serialize(a.action.as_bytes()).collect();
            s.publisher(Method::POST, &format!("/apis/change-lifecycle?action={action}&apiId={id}"))
                .await
                .with_context(|| format!("environment `{}`: {} {}", a.api.environment, a.api.name, a.api.version))?;
            println!("{} API state changed successfully!", a.api.name);
        }
        Command::Delete { what: DeleteWhat::App { name, owner, environment, insecure } } => {
            let s = session(&store, &environment, insecure).await?;
            delete_app(&s, &name, owner.as_deref()).await?;
            println!("{name} Application deleted successfully!");
        }
        Command::Set(a) => {
            let mut main = store.main()?;
            let vcs_paths = [&a.vcs_config_path, &a.vcs_source_repo_path, &a.vcs_deployment_repo_path];
            if a.http_request_timeout.is_none()
                && a.export_directory.is_none()
                && a.tls_renegotiation_mode.is_none()
                && a.vcs_deletion_enabled.is_none()
                && vcs_paths.iter().all(|p| p.is_none())
            {
                bail!("give --http-request-timeout, --export-directory, --tls-renegotiation-mode or a --vcs-* setting");
            }
            if let Some(on) = a.vcs_deletion_enabled {
                main.config.vcs_deletion_enabled = on;
            }
            if let Some(path) = &a.vcs_config_path {
                // The file may not exist yet; its directory must.
                let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
                if !parent.is_dir() {
                    bail!("--vcs-config-path {}: {} is not a directory", path.display(), parent.display());
                }
                let parent = std::fs::canonicalize(parent).with_context(|| format!("{}", parent.display()))?;
                main.config.vcs_config_path = parent.join(path.file_name().unwrap_or_default()).display().to_string();
            }
            for (flag, given, setting) in [
                ("--vcs-source-repo-path", &a.vcs_source_repo_path, &mut main.config.vcs_source_repo_path),
                ("--vcs-deployment-repo-path", &a.vcs_deployment_repo_path, &mut main.config.vcs_deployment_repo_path),
            ] {
                if let Some(dir) = given {
                    if !dir.is_dir() {
                        bail!("{flag} {}: not a directory", dir.display());
                    }
                    *setting = std::fs::canonicalize(dir).with_context(|| format!("{}", dir.display()))?.display().to_string();
                }
            }
            if let Some(t) = a.http_request_timeout {
                if t == 0 {
                    bail!("--http-request-timeout: give a number of milliseconds above 0");
                }
                main.config.http_request_timeout = t;
            }
            if let Some(mode) = &a.tls_renegotiation_mode {
                if !["never", "once", "freely"].contains(&mode.as_str()) {
                    bail!("--tls-renegotiation-mode `{mode}`: give never, once or freely");
                }
                main.config.tls_renegotiation_mode = mode.clone();
            }
            if let Some(dir) = &a.export_directory {
                if !dir.is_dir() {
                    bail!("--export-directory {}: not a directory", dir.display());
                }
                let dir = std::fs::canonicalize(dir).with_context(|| format!("{}", dir.display()))?;
                main.config.export_directory = dir.display().to_string();
            }
            store.save_main(&main)?;
            if let Some(t) = a.http_request_timeout {
                println!("Http Request Timeout is set to : {t}");
            }
            if a.export_directory.is_some() {
                println!("Export Directory is set to : {}", main.config.export_directory);
            }
            if let Some(mode) = a.tls_renegotiation_mode {
                println!("TLS renegotiation mode is set to : {mode}");
            }
            if let Some(on) = a.vcs_deletion_enabled {
                println!("VCS deletion enabled is set to : {on}");
            }
            for (what, given, value) in [
                ("VCS config path", a.vcs_config_path.is_some(), &main.config.vcs_config_path),
                ("VCS source repo path", a.vcs_source_repo_path.is_some(), &main.config.vcs_source_repo_path),
                ("VCS deployment repo path", a.vcs_deployment_repo_path.is_some(), &main.config.vcs_deployment_repo_path),
            ] {
                if given {
                    println!("{what} is set to : {value}");
                }
            }
        }
        Command::Get { what: GetWhat::Policies { kind: PolicyKind::RateLimiting { environment, query, format, insecure } } } => {
            const FIELDS: [format::Field; 5] = [
                format::field("Id", "ID", "uuid"),
                format::field("Name", "NAME", "policyName"),
                format::field("DisplayName", "DISPLAY NAME", "displayName"),
                format::field("Type", "TYPE", "type"),
                format::field("Description", "DESCRIPTION", "description"),
            ];
            let f = format::Format::parse(format.as_deref(), "table {{.Id}}\t{{.Name}}\t{{.DisplayName}}\t{{.Type}}", &FIELDS)?;
            let s = session(&store, &environment, insecure).await?;
            let q: String = form_urlencoded::byte_serialize(query.join(" ").as_bytes()).collect();
            let url = format!("{}/api/am/admin/v4/throttling/policies/search?query={q}", s.env.admin_base());
            let v = s.call(Method::GET, &url, None).await.with_context(|| format!("environment `{environment}`"))?;
            print!("{}", f.render(&list_of(&v), &FIELDS));
        }
        Command::Get { what: GetWhat::Policies { kind: PolicyKind::Api { environment, limit, format, insecure } } } => {
            const FIELDS: [format::Field; 7] = [
                format::field("Id", "ID", "id"),
                format::field("Name", "NAME", "name"),
                format::field("Version", "VERSION", "version"),
                format::field("DisplayName", "DISPLAY NAME", "displayName"),
                format::field("Category", "CATEGORY", "category"),
                format::field("ApplicableFlows", "APPLICABLE FLOWS", "applicableFlows"),
                format::field("SupportedGateways", "SUPPORTED GATEWAYS", "supportedGateways"),
            ];
            let f = format::Format::parse(
                format.as_deref(),
                "table {{.Id}}\t{{.Name}}\t{{.Version}}\t{{.DisplayName}}\t{{.ApplicableFlows}}",
                &FIELDS,
            )?;
            let s = session(&store, &environment, insecure).await?;
            let v = s
                .publisher(Method::GET, &format!("/operation-policies?limit={limit}"))
                .await
                .with_context(|| format!("environment `{environment}`"))?;
            print!("{}", f.render(&list_of(&v), &FIELDS));
        }
        Command::Delete { what: DeleteWhat::Api(a) } => {
            let s = session(&store, &a.environment, a.insecure).await?;
            delete_in(&s, "/apis", "API", &a.name, &a.version, a.provider.as_deref()).await?;
            println!("{} API deleted successfully!", a.name);
        }
        Command::Undeploy { what: ApiTarget::Api(a) } => {
            let s = session(&store, &a.api.environment, a.api.insecure).await?;
            let id = s.api_id(&a.api).await?;
            let all = a.gateways.is_empty();
            let body: Vec<Value> = a.gateways.iter().map(|g| serde_json::json!({"name": g, "displayOnDevportal": true})).collect();
            let url = format!("{}/apis/{id}/undeploy-revision?revisionNumber={}&allEnvironments={all}", s.env.publisher(), a.revision);
            s.call(Method::POST, &url, Some(("application/json", Value::from(body).to_string()))).await.with_context(|| {
                format!("environment `{}`: {} {} revision {}", a.api.environment, a.api.name, a.api.version, a.revision)
            })?;
            println!("Revision {} of API {}_{} successfully undeployed", a.revision, a.api.name, a.api.version);
        }
    }
    Ok(Outcome::Done)
}

/// apictl's own application, subscribed to the API on its first plan.
const APICTL_APP: &str = "default-apictl-app";

/// `get keys`: apictl's flow — the API's plans, apictl's application (made if missing), a subscription (made if
/// missing), production keys of the resident key manager (made if missing; otherwise a new secret, since secrets
/// are shown once), then a client-credentials token with the API's scopes.
async fn get_keys(s: &Session, a: &GetKeysArgs) -> anyhow::Result<String> {
    let id = s.api_id(&a.api).await?;
    let api = s
        .devportal(Method::GET, &format!("/apis/{id}"), None)
        .await
        .context("the API is not visible in the DevPortal (is it published?)")?;
    let plan = api
        .get("tiers")
        .and_then(Value::as_array)
        .and_then(|t| t.first())
        .and_then(|t| t.get("tierName"))
        .and_then(Value::as_str)
        .context("the API has no subscription plan")?
        .to_string();
    let scopes: Vec<String> = api
        .get("scopes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|sc| sc.get("key").or_else(|| sc.get("name")).and_then(Value::as_str).map(str::to_string))
        .collect();
    let query: String = form_urlencoded::byte_serialize(APICTL_APP.as_bytes()).collect();
    let apps = s.devportal(Method::GET, &format!("/applications?query={query}&limit=100"), None).await?;
    let existing = apps
        .get("list")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|app| app["name"] == APICTL_APP)
        .and_then(|app| app["applicationId"].as_str())
        .map(str::to_string);
    let app_id = match existing {
        Some(id) => id,
        None => {
            let body = serde_json::json!({"name": APICTL_APP, "throttlingPolicy": "Unlimited", "description": "apictl's application for get keys", "tokenType": "JWT"});
            let made = s.devportal(Method::POST, "/applications", Some(body)).await?;
            made["applicationId"].as_str().context("the DevPortal made an application without an id")?.to_string()
        }
    };
    let subs = s.devportal(Method::GET, &format!("/subscriptions?applicationId={app_id}&apiId={id}"), None).await?;
    if subs.get("count").and_then(Value::as_i64).unwrap_or(0) == 0 {
        let body = serde_json::json!({"apiId": id, "applicationId": app_id, "throttlingPolicy": plan});
        s.devportal(Method::POST, "/subscriptions", Some(body)).await?;
    }
    let keys = s.devportal(Method::GET, &format!("/applications/{app_id}/oauth-keys"), None).await?;
    let production = keys
        .get("list")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|k| k["keyType"] == "PRODUCTION" && (k["keyManager"] == "Resident Key Manager" || k["keyManager"] == "default"))
        .cloned();
    let (client_id, secret) = match production {
        Some(k) => {
            let key_id = k["keyMappingId"].as_str().context("keys without an id")?;
            let fresh = s.devportal(Method::POST, &format!("/applications/{app_id}/oauth-keys/{key_id}/regenerate-secret"), None).await?;
            (k["consumerKey"].as_str().unwrap_or_default().to_string(), fresh["consumerSecret"].as_str().unwrap_or_default().to_string())
        }
        None => {
            let body = serde_json::json!({"keyType": "PRODUCTION", "grantTypesToBeSupported": ["client_credentials", "password", "refresh_token"]});
            let made = s.devportal(Method::POST, &format!("/applications/{app_id}/generate-keys"), Some(body)).await?;
            (made["consumerKey"].as_str().unwrap_or_default().to_string(), made["consumerSecret"].as_str().unwrap_or_default().to_string())
        }
    };
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", "client_credentials");
    if !scopes.is_empty() {
        form.append_pair("scope", &scopes.join(" "));
    }
    let url = a.token.clone().unwrap_or_else(|| s.env.token());
    let auth = client::basic(&client_id, &secret);
    let t = s.http.call(Method::POST, &url, Some(&auth), Some(("application/x-www-form-urlencoded", form.finish()))).await?;
    t.get("access_token").and_then(Value::as_str).map(str::to_string).context("the token endpoint answered without an access_token")
}

/// One step of a sync plan.
enum Step {
    Create(PathBuf, String),
    Update(PathBuf, String, usize),
    Delete(String, String),
}

/// `sync`: the plan first (each project diffed against the environment's export), then, once confirmed, imports
/// (new APIs created, changed ones updated) and, with `--prune`, deletions of the environment's APIs no project names.
async fn sync(store: &Store, a: SyncArgs) -> anyhow::Result<()> {
    let s = session(store, &a.environment, a.insecure).await?;
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&a.dir)
        .with_context(|| format!("cannot read {}", a.dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir() || p.extension().is_some_and(|x| x == "zip"))
        .collect();
    entries.sort();
    let enc = |v: &str| -> String { form_urlencoded::byte_serialize(v.as_bytes()).collect() };
    let mut plan = Vec::new();
    let mut named = std::collections::BTreeSet::new();
    for path in entries {
        let bytes = project::archive(&path, None, &a.environment, false)?;
        let local = diff::Project::read(&bytes).with_context(|| format!("{}", path.display()))?;
        named.insert((local.name.clone(), local.version.clone()));
        let label = format!("{} {}", local.name, local.version);
        let url = format!("{}/apis/export?name={}&version={}&format=YAML", s.env.publisher(), enc(&local.name), enc(&local.version));
        match s.raw(Method::GET, &url).await {
            Ok(remote) => {
                let remote = diff::Project::read(&remote).with_context(|| format!("the export of {label}"))?;
                let changes = diff::compare(Some(&remote), &local).len();
                if changes > 0 {
                    plan.push(Step::Update(path, label, changes));
                }
            }
            Err(client::CallError::Status { status: http::StatusCode::NOT_FOUND, .. }) => plan.push(Step::Create(path, label)),
            Err(e) => return Err(anyhow::Error::from(e).context(format!("environment `{}`: {label}", a.environment))),
        }
    }
    if a.prune {
        let mut offset = 0;
        loop {
            let page = s.publisher(Method::GET, &format!("/apis?limit=100&offset={offset}")).await?;
            let list = page.get("list").and_then(Value::as_array).cloned().unwrap_or_default();
            for api in &list {
                let (name, version) = (api["name"].as_str().unwrap_or_default(), api["version"].as_str().unwrap_or_default());
                if !named.contains(&(name.to_string(), version.to_string())) {
                    plan.push(Step::Delete(api["id"].as_str().unwrap_or_default().to_string(), format!("{name} {version}")));
                }
            }
            if list.len() < 100 {
                break;
            }
            offset += 100;
        }
    }
    println!("Plan for `{}`:", a.environment);
    if plan.is_empty() {
        println!("  nothing to do");
        return Ok(());
    }
    for step in &plan {
        match step {
            Step::Create(_, l) => println!("  + create {l}"),
            Step::Update(_, l, n) => println!("  ~ update {l} ({n} changes; apictl diff api shows them)"),
            Step::Delete(_, l) => println!("  - delete {l}"),
        }
    }
    if !a.yes {
        print!("Apply this plan to `{}`? [y/N] ", a.environment);
        std::io::Write::flush(&mut std::io::stdout())?;
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            bail!("not applied");
        }
    }
    for step in plan {
        let (path, overwrite) = match step {
            Step::Delete(id, label) => {
                s.publisher(Method::DELETE, &format!("/apis/{id}")).await.with_context(|| format!("deleting {label}"))?;
                println!("Deleted {label}");
                continue;
            }
            Step::Create(path, _) => (path, false),
            Step::Update(path, _, _) => (path, true),
        };
        let archive = project::archive(&path, None, &a.environment, false)?;
        let (content_type, body) = project::multipart("file", "project.zip", &archive);
        let url = format!("{}/apis/import?preserveProvider=true&overwrite={overwrite}&rotateRevision=true", s.env.publisher());
        s.call_bytes(Method::POST, &url, &content_type, body).await.with_context(|| format!("importing {}", path.display()))?;
        println!("{} {}", if overwrite { "Updated" } else { "Created" }, path.display());
    }
    Ok(())
}

/// The `list` of a REST listing.
fn list_of(v: &Value) -> Vec<Value> {
    v.get("list").and_then(Value::as_array).cloned().unwrap_or_default()
}

/// How an API or API product import treats what exists already.
#[derive(Clone, Copy)]
struct ImportFlags {
    preserve_provider: bool,
    update: bool,
    rotate_revision: bool,
}

/// `POST /apis/import` with a project archive.
async fn import_api(s: &Session, archive: &[u8], f: ImportFlags) -> Result<Value, client::CallError> {
    let url = format!(
        "{}/apis/import?preserveProvider={}&overwrite={}&rotateRevision={}",
        s.env.publisher(),
        f.preserve_provider,
        f.update,
        f.rotate_revision
    );
    post_archive(s, &url, "project.zip", archive).await
}

/// A project archive posted as the multipart `file` the import operations take.
async fn post_archive(s: &Session, url: &str, file_name: &str, archive: &[u8]) -> Result<Value, client::CallError> {
    let (content_type, body) = project::multipart("file", file_name, archive);
    s.call_bytes(Method::POST, url, &content_type, body).await
}

/// `POST /api-products/import`; with `import_apis` the project's own APIs too (replacing existing ones with `update_apis`).
async fn import_api_product(
    s: &Session,
    archive: &[u8],
    f: ImportFlags,
    import_apis: bool,
    update_apis: bool,
) -> Result<Value, client::CallError> {
    let url = format!(
        "{}/api-products/import?preserveProvider={}&importAPIs={import_apis}&overwriteAPIProduct={}&overwriteAPIs={update_apis}&rotateRevision={}",
        s.env.publisher(),
        f.preserve_provider,
        f.update,
        f.rotate_revision
    );
    post_archive(s, &url, "project.zip", archive).await
}

struct AppImportFlags {
    preserve_owner: bool,
    skip_subscriptions: bool,
    skip_keys: bool,
    update: bool,
    owner: Option<String>,
}

/// The DevPortal's `POST /applications/import`.
async fn import_app(s: &Session, archive: &[u8], f: &AppImportFlags) -> Result<Value, client::CallError> {
    let mut url = format!(
        "{}/applications/import?preserveOwner={}&skipSubscriptions={}&skipApplicationKeys={}&update={}",
        s.env.devportal(),
        f.preserve_owner,
        f.skip_subscriptions,
        f.skip_keys,
        f.update
    );
    if let Some(o) = &f.owner {
        let o: String = form_urlencoded::byte_serialize(o.as_bytes()).collect();
        url.push_str(&format!("&appOwner={o}"));
    }
    post_archive(s, &url, "application.zip", archive).await
}

/// Deletes the API (`list` `/apis`) or API product (`/api-products`) of that name and version.
async fn delete_in(s: &Session, list: &str, noun: &str, name: &str, version: &str, provider: Option<&str>) -> anyhow::Result<()> {
    let id = s.id_in(list, noun, name, version, provider).await?;
    s.publisher(Method::DELETE, &format!("{list}/{id}")).await.with_context(|| format!("environment `{}`: {name} {version}", s.name))?;
    Ok(())
}

/// Deletes the application `name` of `owner` (default: the logged-in user) through the Admin API.
async fn delete_app(s: &Session, name: &str, owner: Option<&str>) -> anyhow::Result<()> {
    let environment = &s.name;
    let owner = match owner.filter(|o| !o.is_empty()) {
        Some(o) => o.to_string(),
        None => s.store.credential(environment)?.map(|c| c.username).unwrap_or_default(),
    };
    let enc = |v: &str| -> String { form_urlencoded::byte_serialize(v.as_bytes()).collect() };
    let admin = format!("{}/api/am/admin/v4", s.env.admin_base());
    let url = format!("{admin}/applications?user={}&name={}&limit=100", enc(&owner), enc(name));
    let found = s.call(Method::GET, &url, None).await.with_context(|| format!("environment `{environment}`"))?;
    let id = found
        .get("list")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|a| a["name"] == name && a["owner"] == owner.as_str())
        .and_then(|a| a["applicationId"].as_str())
        .map(str::to_string)
        .with_context(|| format!("application `{name}` of `{owner}` not found in `{environment}`"))?;
    s.call(Method::DELETE, &format!("{admin}/applications/{id}"), None)
        .await
        .with_context(|| format!("environment `{environment}`: application `{name}`"))?;
    Ok(())
}

/// The repository `vcs` works on, the file it remembers deploys in, and the environment's plan.
fn vcs_plan(store: &Store, environment: &str) -> anyhow::Result<(store::MainConfig, vcs::Repo, PathBuf, vcs::VcsConfig, vcs::Plan)> {
    let main = store.main()?;
    if !main.environments.contains_key(environment) {
        bail!("environment `{environment}` is not added (apictl add env)");
    }
    let source = if main.config.vcs_source_repo_path.is_empty() {
        std::env::current_dir().context("cannot read the current directory")?
    } else {
        PathBuf::from(&main.config.vcs_source_repo_path)
    };
    let repo = vcs::Repo::open(&source)?;
    let path = store.vcs_config_path(&main.config);
    let config = vcs::VcsConfig::read(&path)?;
    let plan = vcs::plan(&repo, &config.env(&repo.id, environment))?;
    Ok((main, repo, path, config, plan))
}

/// apictl's listing of a plan: per kind, numbered, `Name-version: (directory)`.
fn print_steps(steps: &[(vcs::Project, vcs::Action)], deletion_enabled: bool) {
    for kind in vcs::Kind::ALL {
        let of_kind: Vec<_> = steps.iter().filter(|(p, _)| p.kind == kind).collect();
        if of_kind.is_empty() {
            continue;
        }
        println!("\n{} ({}) ...", kind.heading(), of_kind.len());
        for (i, (p, action)) in of_kind.iter().enumerate() {
            let what = match action {
                vcs::Action::Deploy => "",
                vcs::Action::Delete if deletion_enabled => " awaiting deletion..",
                vcs::Action::Delete => " removed (not deleted: apictl set --vcs-deletion-enabled=true)",
            };
            println!("{}: {}: ({}){what}", i + 1, p.label(), if p.dir.is_empty() { "." } else { &p.dir });
        }
    }
}

/// `vcs status -e ENV`: what the next deploy would do; exit 0 either way.
fn vcs_status(store: &Store, environment: &str, format: Option<&str>) -> anyhow::Result<Outcome> {
    let (main, _repo, _, _, plan) = vcs_plan(store, environment)?;
    match format.map(str::to_ascii_lowercase).as_deref() {
        Some("json") => {
            let list: Vec<Value> = plan
                .steps
                .iter()
                .map(|(p, a)| serde_json::json!({"type": p.kind, "name": p.name, "version": p.version, "path": p.dir, "action": a}))
                .collect();
            println!("{}", serde_json::to_string_pretty(&list)?);
        }
        Some(other) => bail!("--format `{other}`: give json, or nothing for apictl's listing"),
        None if plan.steps.is_empty() => println!("Everything is up-to-date"),
        None => {
            match &plan.base {
                Some(base) => println!("Projects to Deploy ({}), changed since commit {}", plan.steps.len(), vcs::short(base)),
                None => println!("Projects to Deploy ({}): `{environment}` has not taken this repository yet", plan.steps.len()),
            }
            print_steps(&plan.steps, main.config.vcs_deletion_enabled);
        }
    }
    Ok(Outcome::Done)
}

/// Flags of a project's `*_meta.yaml` `deploy.import` section, apictl's defaults where it says nothing.
fn meta_flag(dir: &std::path::Path, kind: vcs::Kind, key: &str, default: bool) -> anyhow::Result<bool> {
    let file = match kind {
        vcs::Kind::Api => "api_meta.yaml",
        vcs::Kind::ApiProduct => "api_product_meta.yaml",
        vcs::Kind::Application => "application_meta.yaml",
    };
    let path = dir.join(file);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(default),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let doc: serde_norway::Value = serde_norway::from_str(&text).with_context(|| format!("{} is not YAML", path.display()))?;
    match doc.get("deploy").and_then(|d| d.get("import")).and_then(|i| i.get(key)) {
        None | Some(serde_norway::Value::Null) => Ok(default),
        Some(v) => v.as_bool().with_context(|| format!("{}: deploy.import.{key} must be true or false", path.display())),
    }
}

/// Imports one project directory into the session's environment, replacing what exists (the repository is what
/// the environment should hold); the deployment repository's `DeploymentArtifacts_<Name>-<version>` gives params.
async fn vcs_import(s: &Session, main: &store::MainConfig, dir: &std::path::Path, p: &vcs::Project) -> anyhow::Result<()> {
    let params = Some(&main.config.vcs_deployment_repo_path)
        .filter(|d| !d.is_empty())
        .map(|d| PathBuf::from(d).join(format!("DeploymentArtifacts_{}", p.label())))
        .filter(|d| d.join("params.yaml").is_file());
    let archive = project::archive(dir, params.as_deref(), &s.name, false)?;
    let flags = ImportFlags {
        preserve_provider: meta_flag(dir, p.kind, "preserveProvider", true)?,
        update: true,
        rotate_revision: meta_flag(dir, p.kind, "rotateRevision", false)?,
    };
    match p.kind {
        vcs::Kind::Api => import_api(s, &archive, flags).await.map(drop)?,
        vcs::Kind::ApiProduct => import_api_product(s, &archive, flags, true, true).await.map(drop)?,
        vcs::Kind::Application => {
            let flags = AppImportFlags {
                preserve_owner: meta_flag(dir, p.kind, "preserveOwner", true)?,
                skip_subscriptions: meta_flag(dir, p.kind, "skipSubscriptions", false)?,
                skip_keys: meta_flag(dir, p.kind, "skipKeys", false)?,
                update: true,
                owner: None,
            };
            import_app(s, &archive, &flags).await.map(drop)?
        }
    }
    Ok(())
}

/// Deletes what a project removed from the repository made; already gone counts as done.
async fn vcs_delete(s: &Session, p: &vcs::Project) -> anyhow::Result<()> {
    let done = match p.kind {
        vcs::Kind::Api => delete_in(s, "/apis", "API", &p.name, &p.version, None).await,
        vcs::Kind::ApiProduct => delete_in(s, "/api-products", "API product", &p.name, &p.version, None).await,
        vcs::Kind::Application => delete_app(s, &p.name, Some(&p.owner)).await,
    };
    match done {
        Err(e) if format!("{e:#}").contains("not found") => Ok(()),
        other => other,
    }
}

/// `vcs deploy -e ENV`: imports each changed project (APIs, then products, then applications), deletes removed
/// ones when deletion is enabled, and remembers the commit. A failed import is put back to the last successful
/// commit's project (unless `--skip-rollback`) and retried by the next deploy; the command then exits 1.
async fn vcs_deploy(store: &Store, environment: &str, skip_rollback: bool, insecure: bool) -> anyhow::Result<Outcome> {
    let (main, repo, config_path, mut config, plan) = vcs_plan(store, environment)?;
    let mut state = config.env(&repo.id, environment);
    let deploying: Vec<&str> = plan.steps.iter().filter(|(_, a)| *a == vcs::Action::Deploy).map(|(p, _)| p.dir.as_str()).collect();
    let dirty = repo.uncommitted(&deploying)?;
    if !dirty.is_empty() {
        bail!("uncommitted changes in the projects to deploy ({}): commit or stash them first", dirty.join(", "));
    }
    if plan.steps.is_empty() {
        println!("Everything is up-to-date");
        state.record(&plan.head, &[]);
        config.set_env(&repo.id, environment, state);
        config.write(&config_path)?;
        return Ok(Outcome::Done);
    }
    let s = session(store, environment, insecure).await?;
    println!("Deploying Projects ({})...", plan.steps.len());
    print_steps(&plan.steps, main.config.vcs_deletion_enabled);
    println!();
    let rollback_rev = state.last_successful_rev.first().cloned().filter(|_| !skip_rollback);
    let mut failed: Vec<&vcs::Project> = Vec::new();
    for (p, action) in &plan.steps {
        let label = p.label();
        match action {
            vcs::Action::Delete if !main.config.vcs_deletion_enabled => {}
            vcs::Action::Delete => match vcs_delete(&s, p).await {
                Ok(()) => println!("{label}: deleted"),
                Err(e) => {
                    eprintln!("{label}: not deleted: {e:#}");
                    failed.push(p);
                }
            },
            vcs::Action::Deploy => match vcs_import(&s, &main, &repo.root.join(&p.dir), p).await {
                Ok(()) => println!("{label}: imported"),
                Err(e) => {
                    eprintln!("{label}: import failed in `{environment}`: {e:#}");
                    failed.push(p);
                    if let Some(rev) = &rollback_rev {
                        rollback(&s, &main, &repo, rev, p).await;
                    }
                }
            },
        }
    }
    state.record(&plan.head, &failed);
    config.set_env(&repo.id, environment, state);
    config.write(&config_path)?;
    if !failed.is_empty() {
        let names: Vec<String> = failed.iter().map(|p| p.label()).collect();
        bail!(
            "{} of {} projects failed in `{environment}`: {} (the next vcs deploy tries them again)",
            failed.len(),
            plan.steps.len(),
            names.join(", ")
        );
    }
    println!("Deployed {} as commit {} in `{environment}`.", repo.root.display(), vcs::short(&plan.head));
    Ok(Outcome::Done)
}

/// Imports `p` as it was at `rev` (the last commit every project deployed from), if it existed then.
async fn rollback(s: &Session, main: &store::MainConfig, repo: &vcs::Repo, rev: &str, p: &vcs::Project) {
    let was = match repo.projects_at(rev) {
        Ok(projects) => projects.into_iter().find(|q| q.dir == p.dir && q.kind == p.kind),
        Err(e) => {
            eprintln!("{}: no rollback: {e:#}", p.label());
            return;
        }
    };
    let Some(was) = was else {
        eprintln!("{}: nothing to roll back to (new since {})", p.label(), vcs::short(rev));
        return;
    };
    let scratch = std::env::temp_dir().join(format!("apictl-rollback-{}-{}", std::process::id(), store::now()));
    let done = match repo.checkout_into(rev, &was, &scratch) {
        Ok(dir) => vcs_import(s, main, &dir, &was).await,
        Err(e) => Err(e),
    };
    let _ = std::fs::remove_dir_all(&scratch);
    match done {
        Ok(()) => eprintln!("{}: rolled back to commit {}", p.label(), vcs::short(rev)),
        Err(e) => eprintln!("{}: rollback to {} failed: {e:#}", p.label(), vcs::short(rev)),
    }
}
