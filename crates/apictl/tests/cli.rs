//! apictl's commands against a real `apim all-in-one` started here, as a pipeline runs them: add an environment,
//! log in with the password on stdin, list, change the lifecycle, undeploy, delete, log out; and its bad input (a
//! wrong password, an unknown environment, an unreachable host) as exit code 1 with the reason on stderr.
//!
//! `apim` is the workspace's binary beside this one (`cargo nextest run --workspace` builds both).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use apim_test_support::process::{Node, free_offset};
use apim_test_support::{TempDir, http};
use base64::Engine;
use serde_json::{Value, json};

fn apictl_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_apictl"))
}

fn apim_bin() -> PathBuf {
    let path = apictl_bin().with_file_name("apim");
    assert!(path.exists(), "{} is missing: build the workspace (cargo build --workspace)", path.display());
    path
}

fn apictl(config: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(apictl_bin())
        .args(args)
        .env("APICTL_CONFIG_DIR", config)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn apictl");
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes()).expect("stdin");
    }
    child.wait_with_output().expect("apictl output")
}

/// apictl run in `dir` (the `vcs` commands work on the Git repository holding the current directory).
fn apictl_in(config: &Path, dir: &Path, args: &[&str]) -> Output {
    Command::new(apictl_bin())
        .args(args)
        .current_dir(dir)
        .env("APICTL_CONFIG_DIR", config)
        .stdin(Stdio::null())
        .output()
        .expect("apictl output")
}

/// `git` in `dir` with a fixed author, so the test needs no Git set-up on the machine.
fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "ci")
        .env("GIT_AUTHOR_EMAIL", "ci@example.invalid")
        .env("GIT_COMMITTER_NAME", "ci")
        .env("GIT_COMMITTER_EMAIL", "ci@example.invalid")
        .output()
        .expect("git");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn ok(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {}", String::from_utf8_lossy(&out.stderr));
    stdout
}

fn failed(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(1), "stdout: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).to_string()
}

async fn rest(method: &str, url: &str, body: Value) -> http::Response {
    let auth = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("admin:admin"));
    let body = if body.is_null() { String::new() } else { body.to_string() };
    http::request(method, url, &[("authorization", &auth), ("content-type", "application/json")], &body).await.expect("request")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_drives_the_publisher_with_apictl() {
    let dir = TempDir::new("apictl");
    let config = dir.path().join("apictl-home");
    let offset = free_offset(&[9443, 9763, 8280, 8243, 9099, 8099]);
    let mut node = Node::spawn(&apim_bin(), &["all-in-one", &format!("-DportOffset={offset}"), "--bind", "127.0.0.1"], dir.path());
    let https = node.url("management-https", Duration::from_secs(20));
    let deadline = Instant::now() + Duration::from_secs(20);
    while http::get(&format!("{https}/health/ready")).await.map(|r| r.status).ok() != Some(200) {
        assert!(Instant::now() < deadline, "never ready: {}", node.stderr());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let gateway = node.url("gateway-http", Duration::from_secs(5));
    let backend = apim_test_support::backend::spawn("127.0.0.1:0".parse().expect("addr")).await.expect("backend");
    // An API with a deployed revision, made through the REST API.
    let pb = format!("{https}/api/am/publisher/v4");
    let created = rest(
        "POST",
        &format!("{pb}/apis"),
        json!({"name": "CliApi", "context": "/cli", "version": "1.0.0",
        "policies": ["Unlimited"], "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": format!("http://{backend}")}},
        "operations": [{"target": "/*", "verb": "GET"}]}),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.json()["id"].as_str().expect("id").to_string();
    let rev = rest("POST", &format!("{pb}/apis/{id}/revisions"), json!({"description": "first"})).await;
    assert_eq!(rev.status, 201, "{}", rev.body);
    let rev_id = rev.json()["id"].as_str().expect("rev").to_string();
    let deployed = rest(
        "POST",
        &format!("{pb}/apis/{id}/deploy-revision?revisionId={rev_id}"),
        json!([{"name": "Default", "displayOnDevportal": true}]),
    )
    .await;
    assert_eq!(deployed.status, 201, "{}", deployed.body);

    // Environments and login, as a pipeline does them.
    let c = config.as_path();
    assert!(ok(&apictl(c, &["add", "env", "dev", "--apim", &https], None)).contains("Successfully added environment 'dev'"));
    assert!(failed(&apictl(c, &["add", "env", "dev", "--apim", &https], None)).contains("already exists"));
    assert!(failed(&apictl(c, &["add", "env", "odd", "--apim", "ftp://x"], None)).contains("not an http or https URL"));
    assert!(ok(&apictl(c, &["get", "envs"], None)).contains(&https));
    let wrong = failed(&apictl(c, &["login", "dev", "-u", "admin", "--password-stdin", "-k"], Some("nope\n")));
    assert!(wrong.contains("`dev`") && wrong.contains("401"), "{wrong}");
    let verified = failed(&apictl(c, &["login", "dev", "-u", "admin", "--password-stdin"], Some("admin\n")));
    assert!(verified.contains("`dev`") && verified.to_lowercase().contains("certificate"), "self-signed: refused without -k: {verified}");
    assert!(ok(&apictl(c, &["login", "dev", "-u", "admin", "--password-stdin", "-k"], Some("admin\n"))).contains("Logged into"));
    let keys = std::fs::read_to_string(config.join(".wso2apictl.local/keys.json")).expect("keys.json");
    // As apictl keeps it: the secrets base64-encoded (apictl's format, not encryption), the file private.
    let stored: Value = serde_json::from_str(&keys).expect("keys.json is JSON");
    assert_eq!(stored["environments"]["dev"]["password"], "YWRtaW4=", "{keys}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(config.join(".wso2apictl.local/keys.json")).expect("meta").permissions().mode();
        assert_eq!(mode & 0o077, 0, "keys.json is its owner's only");
    }

    // get, change-status, undeploy, delete.
    let listed = ok(&apictl(c, &["get", "apis", "-e", "dev", "-k"], None));
    assert!(listed.contains("CliApi") && listed.contains("/cli") && listed.contains("CREATED"), "{listed}");
    let as_json: Value =
        serde_json::from_str(&ok(&apictl(c, &["get", "apis", "-e", "dev", "-k", "--format", "jsonArray", "-q", "name:CliApi"], None)))
            .expect("json");
    assert_eq!(as_json[0]["id"], id.as_str());
    ok(&apictl(c, &["change-status", "api", "-a", "Publish", "-n", "CliApi", "-v", "1.0.0", "-e", "dev", "-k"], None));
    assert_eq!(rest("GET", &format!("{pb}/apis/{id}"), Value::Null).await.json()["lifeCycleStatus"], "PUBLISHED");
    // get keys: a token for the API, through apictl's own subscribed application; a second run works as well.
    for run in 1..=2 {
        let token = ok(&apictl(c, &["get", "keys", "-n", "CliApi", "-v", "1.0.0", "-e", "dev", "-k"], None)).trim().to_string();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let r = http::request("GET", &format!("{gateway}/cli/1.0.0/x"), &[("authorization", &format!("Bearer {token}"))], "")
                .await
                .expect("call");
            if r.status == 200 {
                break;
            }
            assert!(Instant::now() < deadline, "run {run}: the gateway answered {} {}", r.status, r.body);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let missing = failed(&apictl(c, &["change-status", "api", "-a", "Publish", "-n", "NoSuchApi", "-v", "1.0.0", "-e", "dev", "-k"], None));
    assert!(missing.contains("NoSuchApi") && missing.contains("not found"), "{missing}");
    let bad_action = failed(&apictl(c, &["change-status", "api", "-a", "Fly", "-n", "CliApi", "-v", "1.0.0", "-e", "dev", "-k"], None));
    assert!(bad_action.contains("400"), "{bad_action}");
    // get apps and get api-revisions, as tables and as JSON.
    let apps = ok(&apictl(c, &["get", "apps", "-e", "dev", "-k"], None));
    assert!(apps.starts_with("ID") && apps.contains("default-apictl-app") && apps.contains("admin"), "{apps}");
    let apps: Value =
        serde_json::from_str(&ok(&apictl(c, &["get", "apps", "-e", "dev", "-k", "-o", "admin", "--format", "jsonArray"], None)))
            .expect("json");
    assert_eq!(apps[0]["name"], "default-apictl-app", "{apps}");
    let revisions = ok(&apictl(c, &["get", "api-revisions", "-n", "CliApi", "-v", "1.0.0", "-e", "dev", "-k"], None));
    assert!(revisions.contains("GATEWAY_ENVS") && revisions.contains("Default"), "{revisions}");
    let deployed: Value = serde_json::from_str(&ok(&apictl(
        c,
        &["get", "api-revisions", "-n", "CliApi", "-v", "1.0.0", "-e", "dev", "-k", "-q", "deployed:true", "--format", "jsonArray"],
        None,
    )))
    .expect("json");
    assert_eq!(deployed.as_array().map(Vec::len), Some(1), "{deployed}");
    assert!(failed(&apictl(c, &["get", "apps", "-e", "dev", "-k", "--format", "xml"], None)).contains("xml"));
    ok(&apictl(c, &["undeploy", "api", "-n", "CliApi", "-v", "1.0.0", "--rev", "1", "-e", "dev", "-k"], None));
    let deployments = rest("GET", &format!("{pb}/apis/{id}/deployments"), Value::Null).await.json();
    assert_eq!(deployments["count"].as_i64().or_else(|| deployments.as_array().map(|a| a.len() as i64)), Some(0), "{deployments}");
    // export → delete → import, as a pipeline moves an API.
    let exported = ok(&apictl(c, &["export", "api", "-n", "CliApi", "-v", "1.0.0", "-e", "dev", "-k"], None));
    let zip = config.join("exported/apis/dev/CliApi_1.0.0.zip");
    assert!(exported.contains(&zip.display().to_string()) && zip.exists(), "{exported}");
    ok(&apictl(c, &["delete", "api", "-n", "CliApi", "-v", "1.0.0", "-e", "dev", "-k"], None));
    assert_eq!(rest("GET", &format!("{pb}/apis/{id}"), Value::Null).await.status, 404);
    let zip_arg = zip.display().to_string();
    assert!(ok(&apictl(c, &["import", "api", "-f", &zip_arg, "-e", "dev", "-k"], None)).contains("Successfully imported API"));
    let again = failed(&apictl(c, &["import", "api", "-f", &zip_arg, "-e", "dev", "-k"], None));
    assert!(again.contains("409"), "an existing API without --update: {again}");
    ok(&apictl(c, &["import", "api", "-f", &zip_arg, "-e", "dev", "-k", "--update"], None));
    let listed = ok(&apictl(c, &["get", "apis", "-e", "dev", "-k", "-q", "name:CliApi"], None));
    assert!(listed.contains("CliApi"), "{listed}");

    // diff: an unchanged export shows nothing (exit 0); one edit shows exactly that edit (exit 1).
    ok(&apictl(c, &["export", "api", "-n", "CliApi", "-v", "1.0.0", "-e", "dev", "-k"], None));
    let unpacked = dir.path().join("unpacked");
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&zip).expect("zip")).expect("archive");
    archive.extract(&unpacked).expect("extract");
    let top = std::fs::read_dir(&unpacked).expect("dir").next().expect("one folder").expect("entry").path();
    let top_arg = top.display().to_string();
    let same = apictl(c, &["diff", "api", "-f", &top_arg, "-e", "dev", "-k"], None);
    assert_eq!(same.status.code(), Some(0), "{}\n{}", String::from_utf8_lossy(&same.stdout), String::from_utf8_lossy(&same.stderr));
    let api_yaml = top.join("api.yaml");
    let text = std::fs::read_to_string(&api_yaml).expect("api.yaml");
    let mut doc: serde_json::Value = serde_norway::from_str(&text).expect("yaml");
    doc["data"]["description"] = json!("edited by the pipeline");
    std::fs::write(&api_yaml, serde_norway::to_string(&doc).expect("yaml")).expect("write");
    let changed = apictl(c, &["diff", "api", "-f", &top_arg, "-e", "dev", "-k"], None);
    assert_eq!(changed.status.code(), Some(1), "{}", String::from_utf8_lossy(&changed.stderr));
    let shown = String::from_utf8_lossy(&changed.stdout).to_string();
    let edits: Vec<&str> = shown.lines().filter(|l| l.starts_with("+ ") || l.starts_with("- ")).collect();
    assert_eq!(edits, ["+ description: \"edited by the pipeline\""], "{shown}");
    let trouble = apictl(c, &["diff", "api", "-f", "/nonexistent/project", "-e", "dev", "-k"], None);
    assert_eq!(trouble.status.code(), Some(2));

    // A project directory of apictl's, with a params file naming this environment's deployment.
    let project = apim_test_support::fixtures_dir().join("apictl/projects/PizzaShackAPI-1.0.0");
    let params = dir.path().join("params.yaml");
    std::fs::write(
        &params,
        format!(
            "environments:\n  - name: dev\n    configs:\n      endpoints:\n        production:\n          url: http://{backend}\n      \
             deploymentEnvironments:\n        - deploymentEnvironment: Default\n          displayOnDevportal: true\n"
        ),
    )
    .expect("params");
    let (project_arg, params_arg) = (project.display().to_string(), params.display().to_string());
    ok(&apictl(c, &["import", "api", "-f", &project_arg, "-e", "dev", "-k", "--params", &params_arg], None));
    let found = ok(&apictl(c, &["get", "apis", "-e", "dev", "-k", "--format", "jsonArray", "-q", "name:PizzaShackAPI"], None));
    let found: Value = serde_json::from_str(&found).expect("json");
    let pizza = found[0]["id"].as_str().expect("imported").to_string();
    let deployments = rest("GET", &format!("{pb}/apis/{pizza}/deployments"), Value::Null).await.json();
    assert!(deployments.to_string().contains("Default"), "deployed by the params: {deployments}");
    let wrong_env = failed(&apictl(
        c,
        &["import", "api", "-f", &project_arg, "-e", "dev", "-k", "--params", &params_arg.replace("params", "nothing")],
        None,
    ));
    assert!(wrong_env.contains("cannot read"), "{wrong_env}");
    std::fs::write(&params, "environments:\n  - name: prod\n    configs: {}\n").expect("params");
    let no_env = failed(&apictl(c, &["import", "api", "-f", &project_arg, "-e", "dev", "-k", "--params", &params_arg, "--update"], None));
    assert!(no_env.contains("`dev`"), "{no_env}");

    // apictl's own archives (fixtures of real apictl exports) import unchanged; MyProduct is an API product.
    for archive in ["SwaggerPetstore_1.0.5.zip", "SwaggerPetstoreNew_1.0.0.zip"] {
        let path = apim_test_support::fixtures_dir().join("apictl/archives").join(archive).display().to_string();
        ok(&apictl(c, &["import", "api", "-f", &path, "-e", "dev", "-k"], None));
    }

    // init from an OpenAPI file, then import the project.
    let oas = dir.path().join("init.yaml");
    std::fs::write(
        &oas,
        format!("openapi: 3.0.1\ninfo: {{title: Init Demo, version: 2.0.0}}\nservers: [{{url: 'http://{backend}'}}]\npaths:\n  /items:\n    get:\n      responses: {{'200': {{description: ok}}}}\n"),
    )
    .expect("oas");
    let proj = dir.path().join("InitDemo");
    let (oas_arg, proj_arg) = (oas.display().to_string(), proj.display().to_string());
    ok(&apictl(c, &["init", &proj_arg, "--oas", &oas_arg], None));
    assert!(failed(&apictl(c, &["init", &proj_arg, "--oas", &oas_arg], None)).contains("-f"));
    assert!(failed(&apictl(c, &["init", &proj_arg, "--oas", &oas_arg, "-f", "--initial-state", "LIVE"], None)).contains("LIVE"));
    std::fs::write(dir.path().join("not-oas.yaml"), "hello: world\n").expect("file");
    let not_oas = dir.path().join("not-oas.yaml").display().to_string();
    assert!(failed(&apictl(c, &["init", &format!("{proj_arg}2"), "--oas", &not_oas], None)).contains("not an OpenAPI document"));
    ok(&apictl(c, &["import", "api", "-f", &proj_arg, "-e", "dev", "-k"], None));
    let made: Value =
        serde_json::from_str(&ok(&apictl(c, &["get", "apis", "-e", "dev", "-k", "--format", "jsonArray", "-q", "name:InitDemo"], None)))
            .expect("json");
    assert_eq!((made[0]["context"].as_str(), made[0]["version"].as_str()), (Some("/initdemo"), Some("2.0.0")), "{made}");

    // sync: a directory holding CliApi (its description edited) and InitDemo; PizzaShackAPI is in the environment only.
    let sync_dir = dir.path().join("sync");
    std::fs::create_dir_all(&sync_dir).expect("dir");
    std::fs::rename(&top, sync_dir.join("CliApi-1.0.0")).expect("move");
    std::fs::rename(&proj, sync_dir.join("InitDemo")).expect("move");
    let sync_arg = sync_dir.display().to_string();
    let declined = apictl(c, &["sync", "-d", &sync_arg, "-e", "dev", "-k", "--prune"], Some("n\n"));
    let plan = String::from_utf8_lossy(&declined.stdout).to_string();
    assert_eq!(declined.status.code(), Some(1), "{plan}");
    assert!(plan.contains("~ update CliApi 1.0.0") && plan.contains("- delete PizzaShackAPI 1.0.0"), "{plan}");
    assert!(!plan.contains("create"), "{plan}");
    let pizza_url = format!("{pb}/apis/{pizza}");
    assert_eq!(rest("GET", &pizza_url, Value::Null).await.status, 200, "declined: nothing changed");
    let applied = ok(&apictl(c, &["sync", "-d", &sync_arg, "-e", "dev", "-k", "--prune", "--yes"], None));
    assert!(applied.contains("Deleted PizzaShackAPI 1.0.0"), "{applied}");
    assert_eq!(rest("GET", &pizza_url, Value::Null).await.status, 404, "pruned");
    let listed: Value =
        serde_json::from_str(&ok(&apictl(c, &["get", "apis", "-e", "dev", "-k", "--format", "jsonArray"], None))).expect("json");
    let mut names: Vec<&str> = listed.as_array().expect("list").iter().filter_map(|a| a["name"].as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["CliApi", "InitDemo"]);
    let cli_api: Value =
        serde_json::from_str(&ok(&apictl(c, &["get", "apis", "-e", "dev", "-k", "--format", "jsonArray", "-q", "name:CliApi"], None)))
            .expect("json");
    let cli_id = cli_api[0]["id"].as_str().expect("id");
    assert_eq!(rest("GET", &format!("{pb}/apis/{cli_id}"), Value::Null).await.json()["description"], "edited by the pipeline");
    // Again: CliApi is now what its project says; nothing is created or deleted.
    let again = ok(&apictl(c, &["sync", "-d", &sync_arg, "-e", "dev", "-k", "--prune", "--yes"], None));
    assert!(!again.contains("CliApi") && !again.contains("create") && !again.contains("delete"), "{again}");

    // export apis: every API once; a second run keeps what is there; --force starts over.
    let first = ok(&apictl(c, &["export", "apis", "-e", "dev", "-k", "--all"], None));
    assert!(first.contains("Exported 2 APIs") && first.contains("(0 already there)"), "{first}");
    let migration = config.join("exported/migration/dev/tenant-default/apis");
    assert!(migration.join("CliApi_1.0.0.zip").exists() && migration.join("InitDemo_2.0.0.zip").exists());
    assert!(ok(&apictl(c, &["export", "apis", "-e", "dev", "-k", "--all"], None)).contains("Exported 0 APIs"));
    assert!(ok(&apictl(c, &["export", "apis", "-e", "dev", "-k", "--force"], None)).contains("Exported 2 APIs"));
    assert!(ok(&apictl(c, &["completion", "bash"], None)).contains("apictl"));

    // Unknown environment, unreachable host, logged out.
    assert!(failed(&apictl(c, &["get", "apis", "-e", "prod", "-k"], None)).contains("`prod`"));
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr");
    ok(&apictl(c, &["add", "env", "gone", "--apim", &format!("https://{closed}")], None));
    let started = Instant::now();
    let gone = failed(&apictl(c, &["login", "gone", "-u", "admin", "-p", "admin", "-k"], None));
    assert!(gone.contains("`gone`") && gone.to_lowercase().contains("refused"), "{gone}");
    assert!(started.elapsed() < Duration::from_secs(10), "a refused connection fails at once");
    assert!(ok(&apictl(c, &["logout", "dev", "-k"], None)).contains("Logged out"));
    assert!(failed(&apictl(c, &["get", "apis", "-e", "dev", "-k"], None)).contains("not logged in"));
    ok(&apictl(c, &["remove", "env", "gone"], None));
    assert!(!ok(&apictl(c, &["get", "envs"], None)).contains("gone"));
    node.terminate();
}

/// A ready all-in-one node: (process, management HTTPS URL, gateway HTTP URL).
async fn node(dir: &Path) -> (Node, String, String) {
    let offset = free_offset(&[9443, 9763, 8280, 8243, 9099, 8099]);
    let mut node = Node::spawn(&apim_bin(), &["all-in-one", &format!("-DportOffset={offset}"), "--bind", "127.0.0.1"], dir);
    let https = node.url("management-https", Duration::from_secs(20));
    let gateway = node.url("gateway-http", Duration::from_secs(5));
    let deadline = Instant::now() + Duration::from_secs(20);
    while http::get(&format!("{https}/health/ready")).await.map(|r| r.status).ok() != Some(200) {
        assert!(Instant::now() < deadline, "never ready: {}", node.stderr());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (node, https, gateway)
}

/// The CI/CD sequence across two environments: init from an OpenAPI file, import to dev, export, gen
/// deployment-dir, import to prod with the params that point prod at its own backend, publish, get keys, and
/// call the API through prod's gateway.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_moves_from_dev_to_prod() {
    let work = TempDir::new("apictl-cicd");
    let (dev_dir, prod_dir) = (work.path().join("dev"), work.path().join("prod"));
    std::fs::create_dir_all(&dev_dir).expect("dir");
    std::fs::create_dir_all(&prod_dir).expect("dir");
    let (mut dev, dev_url, _) = node(&dev_dir).await;
    let (mut prod, prod_url, prod_gateway) = node(&prod_dir).await;
    let backend = apim_test_support::backend::spawn("127.0.0.1:0".parse().expect("addr")).await.expect("backend");
    let c = work.path().join("apictl-home");
    let c = c.as_path();
    for (env, url) in [("dev", &dev_url), ("prod", &prod_url)] {
        ok(&apictl(c, &["add", "env", env, "--apim", url], None));
        ok(&apictl(c, &["login", env, "-u", "admin", "--password-stdin", "-k"], Some("admin\n")));
    }

    let oas = work.path().join("orders.yaml");
    std::fs::write(&oas, "openapi: 3.0.1\ninfo: {title: Orders, version: 1.0.0}\nservers: [{url: 'http://dev-backend.invalid'}]\npaths:\n  /list:\n    get:\n      responses: {'200': {description: ok}}\n").expect("oas");
    let project = work.path().join("Orders");
    let (oas_arg, project_arg) = (oas.display().to_string(), project.display().to_string());
    ok(&apictl(c, &["init", &project_arg, "--oas", &oas_arg], None));
    // bundle: the project directory as the ZIP an import takes (the same import below works from it).
    let bundled = ok(&apictl(c, &["bundle", "-s", &project_arg, "-d", &work.path().join("bundles").display().to_string()], None));
    assert!(bundled.trim_end().ends_with("bundles/Orders.zip") && work.path().join("bundles/Orders.zip").is_file(), "{bundled}");
    assert!(failed(&apictl(c, &["bundle", "-s", &work.path().display().to_string()], None)).contains("not an apictl project"));
    ok(&apictl(c, &["import", "api", "-f", &project_arg, "-e", "dev", "-k"], None));
    let exported = ok(&apictl(c, &["export", "api", "-n", "Orders", "-v", "1.0.0", "-e", "dev", "-k"], None));
    let zip = exported.lines().last().and_then(|l| l.split(" at ").nth(1)).expect("the export's path").trim().to_string();

    let made = ok(&apictl(c, &["gen", "deployment-dir", "-s", &zip, "-d", &work.path().display().to_string()], None));
    let deployment = work.path().join("DeploymentArtifacts_Orders-1.0.0");
    assert!(made.contains(&deployment.display().to_string()) && deployment.join("certificates").is_dir(), "{made}");
    let params_path = deployment.join("params.yaml");
    let mut params: Value = serde_norway::from_str(&std::fs::read_to_string(&params_path).expect("params")).expect("yaml");
    let envs = params["environments"].as_array_mut().expect("environments");
    assert_eq!(envs.iter().filter_map(|e| e["name"].as_str()).collect::<Vec<_>>(), ["dev", "prod"]);
    assert_eq!(envs[1]["configs"]["endpoints"]["production"]["url"], "http://dev-backend.invalid", "the project's own endpoint, to edit");
    envs[1]["configs"]["endpoints"]["production"]["url"] = json!(format!("http://{backend}"));
    std::fs::write(&params_path, serde_norway::to_string(&params).expect("yaml")).expect("write");

    let deployment_arg = deployment.display().to_string();
    ok(&apictl(c, &["import", "api", "-f", &zip, "-e", "prod", "-k", "--params", &deployment_arg], None));
    ok(&apictl(c, &["change-status", "api", "-a", "Publish", "-n", "Orders", "-v", "1.0.0", "-e", "prod", "-k"], None));
    let token = ok(&apictl(c, &["get", "keys", "-n", "Orders", "-v", "1.0.0", "-e", "prod", "-k"], None)).trim().to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = http::request("GET", &format!("{prod_gateway}/orders/1.0.0/list"), &[("authorization", &format!("Bearer {token}"))], "")
            .await
            .expect("call");
        if r.status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "prod's gateway answered {} {}\n{}", r.status, r.body, prod.stderr());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // dev still points at its own (unreachable) endpoint: the params changed prod only.
    let dev_api: Value =
        serde_json::from_str(&ok(&apictl(c, &["get", "apis", "-e", "dev", "-k", "--format", "jsonArray"], None))).expect("json");
    assert_eq!(dev_api[0]["name"], "Orders");

    // An API product made in prod moves to dev with the API it uses.
    let pb = "/api/am/publisher/v4";
    let apis = rest("GET", &format!("{prod_url}{pb}/apis?query=name:Orders"), Value::Null).await.json();
    let orders = apis["list"][0]["id"].as_str().expect("Orders in prod").to_string();
    // --skip-deployments: the working copy is updated, no revision made, though the params name environments.
    let revisions = |n: u64| {
        let url = format!("{prod_url}{pb}/apis/{orders}/revisions");
        async move {
            let r = rest("GET", &url, Value::Null).await.json();
            assert_eq!(r["count"].as_u64(), Some(n), "{r}");
        }
    };
    revisions(1).await;
    ok(&apictl(c, &["import", "api", "-f", &zip, "-e", "prod", "-k", "--update", "--params", &deployment_arg, "--skip-deployments"], None));
    revisions(1).await;
    let body = json!({"name": "OrderDesk", "context": "/orderdesk", "apis": [{"apiId": orders, "operations": [{"target": "/list", "verb": "GET"}]}]});
    let r = rest("POST", &format!("{prod_url}{pb}/api-products"), body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let exported = ok(&apictl(c, &["export", "api-product", "-n", "OrderDesk", "-e", "prod", "-k"], None));
    let product_zip = exported.lines().last().and_then(|l| l.split(" at ").nth(1)).expect("the export's path").trim().to_string();
    assert!(product_zip.ends_with("api-products/prod/OrderDesk_1.0.0.zip"), "{product_zip}");
    let err = failed(&apictl(c, &["import", "api-product", "-f", &product_zip, "-e", "prod", "-k"], None));
    assert!(err.contains("already exists"), "{err}");
    ok(&apictl(c, &["import", "api-product", "-f", &product_zip, "-e", "dev", "-k", "--import-apis", "--update-apis"], None));
    let products = rest("GET", &format!("{dev_url}{pb}/api-products"), Value::Null).await.json();
    assert_eq!(products["list"][0]["name"], "OrderDesk", "{products}");
    let listed = ok(&apictl(c, &["get", "api-products", "-e", "dev", "-k", "--format", "{{.Name}} {{.Version}} {{.Context}}"], None));
    assert_eq!(listed.trim(), "OrderDesk 1.0.0 /orderdesk");
    ok(&apictl(c, &["delete", "api-product", "-n", "OrderDesk", "-e", "prod", "-k"], None));
    assert!(failed(&apictl(c, &["delete", "api-product", "-n", "OrderDesk", "-e", "prod", "-k"], None)).contains("not found"));
    assert_eq!(rest("GET", &format!("{prod_url}{pb}/api-products"), Value::Null).await.json()["count"], 0);
    let err = failed(&apictl(c, &["export", "api-product", "-n", "Nothing", "-e", "dev", "-k"], None));
    assert!(err.contains("404") || err.contains("not found"), "{err}");
    dev.terminate();
    prod.terminate();
}

/// The stored token, `get policies`, `delete app`, `set` and `--format` on the `get` commands, with their bad input.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_apps_settings_and_formats() {
    let work = TempDir::new("apictl-more");
    let (mut node, https, _) = node(work.path()).await;
    let config = work.path().join("apictl-home");
    let c = config.as_path();
    ok(&apictl(c, &["add", "env", "dev", "--apim", &https], None));
    ok(&apictl(c, &["login", "dev", "-u", "admin", "--password-stdin", "-k"], Some("admin\n")));
    let pb = format!("{https}/api/am/publisher/v4");
    for (name, version) in [("FmtApi", "1.0.0"), ("FmtApi", "2.0.0")] {
        let body = json!({"name": name, "context": "/fmt", "version": version, "policies": ["Unlimited"],
            "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": "http://127.0.0.1:9"}},
            "operations": [{"target": "/*", "verb": "GET"}]});
        let made = rest("POST", &format!("{pb}/apis"), body).await;
        assert_eq!(made.status, 201, "{}", made.body);
    }

    // The token login made is kept in keys.json and used by the next command: no request to the token endpoint.
    let keys_path = config.join(".wso2apictl.local/keys.json");
    let keys: Value = serde_json::from_str(&std::fs::read_to_string(&keys_path).expect("keys")).expect("json");
    let stored = keys["environments"]["dev"]["accessToken"].as_str().expect("a stored token").to_string();
    let out = apictl(c, &["get", "apis", "-e", "dev", "-k", "--verbose"], None);
    let log = String::from_utf8_lossy(&out.stderr).to_string();
    ok(&out);
    assert!(log.contains("apictl: GET ") && !log.contains("/oauth2/token"), "{log}");
    // A stored token the server refuses (here: garbage) is replaced once, and the command goes through.
    let mut keys = keys;
    keys["environments"]["dev"]["accessToken"] = json!(base64::engine::general_purpose::STANDARD.encode("not-a-token"));
    std::fs::write(&keys_path, keys.to_string()).expect("keys");
    let out = apictl(c, &["get", "apis", "-e", "dev", "-k", "--verbose"], None);
    let log = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(ok(&out).contains("FmtApi") && log.contains("-> 401") && log.contains("/oauth2/token"), "{log}");
    let renewed: Value = serde_json::from_str(&std::fs::read_to_string(&keys_path).expect("keys")).expect("json");
    let renewed = renewed["environments"]["dev"]["accessToken"].as_str().expect("token").to_string();
    assert!(renewed != stored && !renewed.is_empty());
    // login --token: a token (here the one apictl holds) is checked once and kept; a refused one is an error.
    let token = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(&renewed).expect("base64")).expect("utf-8");
    ok(&apictl(c, &["add", "env", "pat", "--apim", &https], None));
    let err = failed(&apictl(c, &["login", "pat", "--token", "not-a-token", "-k"], None));
    assert!(err.contains("refused"), "{err}");
    assert!(failed(&apictl(c, &["get", "apis", "-e", "pat", "-k"], None)).contains("not logged in"));
    assert!(failed(&apictl(c, &["login", "pat", "--token", &token, "-u", "admin", "-k"], None)).contains("--token"));
    ok(&apictl(c, &["login", "pat", "--token", &token, "-k"], None));
    assert!(ok(&apictl(c, &["get", "apis", "-e", "pat", "-k"], None)).contains("FmtApi"));
    ok(&apictl(c, &["remove", "env", "pat"], None));

    // --format: a template per item, a table of chosen columns, JSON lines, a JSON array.
    let lines = ok(&apictl(c, &["get", "apis", "-e", "dev", "-k", "--format", "{{.Name}}\\t{{.Version}}"], None));
    let mut lines: Vec<&str> = lines.lines().collect();
    lines.sort_unstable();
    assert_eq!(lines, ["FmtApi\t1.0.0", "FmtApi\t2.0.0"]);
    let table = ok(&apictl(c, &["get", "apis", "-e", "dev", "-k", "--format", "table {{.Version}}\t{{upper .Name}}"], None));
    assert_eq!(table.lines().next(), Some("VERSION   NAME"), "{table}");
    assert!(table.contains("1.0.0     FMTAPI"), "{table}");
    let json_lines = ok(&apictl(c, &["get", "apis", "-e", "dev", "-k", "--format", "json"], None));
    let names: Vec<Value> = json_lines.lines().map(|l| serde_json::from_str::<Value>(l).expect("a JSON line")["name"].clone()).collect();
    assert_eq!(names, [json!("FmtApi"), json!("FmtApi")]);
    let array: Value =
        serde_json::from_str(&ok(&apictl(c, &["get", "apis", "-e", "dev", "-k", "--format", "jsonArray"], None))).expect("json");
    assert_eq!(array.as_array().map(Vec::len), Some(2));
    // --output is --format's other name.
    assert_eq!(ok(&apictl(c, &["get", "apis", "-e", "dev", "-k", "--output", "json"], None)), json_lines);
    let envs = ok(&apictl(c, &["get", "envs", "--format", "{{.Name}} {{.ApimEndpoint}}"], None));
    assert_eq!(envs.trim(), format!("dev {https}"));
    let revisions = ok(&apictl(
        c,
        &["get", "api-revisions", "-n", "FmtApi", "-v", "1.0.0", "-e", "dev", "-k", "--format", "table {{.Revision}}"],
        None,
    ));
    assert_eq!(revisions.trim(), "REVISION", "no revisions yet: the header only");
    for (format, says) in [
        ("{{.Name", "without its `}}`"),
        ("{{.Nope}}", "no field `Nope`"),
        ("{{printf .Name}}", "unknown function"),
        ("xml", "no `{{.Field}}`"),
    ] {
        for command in
            [&["get", "apis", "-e", "dev", "-k"][..], &["get", "apps", "-e", "dev", "-k"], &["get", "policies", "api", "-e", "dev", "-k"]]
        {
            let mut args = command.to_vec();
            args.extend(["--format", format]);
            let err = failed(&apictl(c, &args, None));
            assert!(err.contains("--format") && err.contains(says), "{args:?}: {err}");
        }
    }

    // get policies rate-limiting (the Admin API's search) and api (operation policies).
    let plans =
        ok(&apictl(c, &["get", "policies", "rate-limiting", "-e", "dev", "-k", "-q", "type:sub", "--format", "{{.Name}} {{.Type}}"], None));
    assert!(plans.lines().any(|l| l == "Unlimited sub"), "{plans}");
    let all = ok(&apictl(c, &["get", "policies", "rate-limiting", "-e", "dev", "-k"], None));
    assert!(all.starts_with("ID") && all.contains("Unlimited"), "{all}");
    let bad_query = failed(&apictl(c, &["get", "policies", "rate-limiting", "-e", "dev", "-k", "-q", "type:nope"], None));
    assert!(bad_query.contains("400") && bad_query.contains("nope"), "{bad_query}");
    let ops = ok(&apictl(c, &["get", "policies", "api", "-e", "dev", "-k"], None));
    assert!(ops.starts_with("ID") && ops.contains("NAME"), "{ops}");
    let ops: Value =
        serde_json::from_str(&ok(&apictl(c, &["get", "policies", "api", "-e", "dev", "-k", "--format", "jsonArray"], None))).expect("json");
    assert!(ops.is_array(), "{ops}");
    let unknown = apictl(c, &["get", "policies", "throttle", "-e", "dev", "-k"], None);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("throttle"));
    assert!(failed(&apictl(c, &["get", "policies", "api", "-e", "nowhere", "-k"], None)).contains("`nowhere`"));

    // export / import policy rate-limiting: the Admin API's policy file, YAML or JSON, into the export directory.
    let exported = ok(&apictl(c, &["export", "policy", "rate-limiting", "-n", "Gold", "-t", "sub", "-e", "dev", "-k"], None));
    let path = exported.lines().last().and_then(|l| l.split(" at ").nth(1)).expect("the export's path").trim().to_string();
    assert!(path.ends_with("policies/rate-limiting/dev/Gold.yaml"), "{path}");
    let file: Value = serde_norway::from_str(&std::fs::read_to_string(&path).expect("policy file")).expect("yaml");
    assert_eq!(
        (file["type"].as_str(), file["subtype"].as_str(), file["data"]["policyName"].as_str()),
        (Some("rate-limiting policy"), Some("subscription"), Some("Gold")),
        "{file}"
    );
    let err = failed(&apictl(c, &["import", "policy", "rate-limiting", "-f", &path, "-e", "dev", "-k"], None));
    assert!(err.contains("already exists"), "{err}");
    let mut renamed = file.clone();
    renamed["data"]["policyName"] = json!("GoldCopy");
    let copy_path = work.path().join("GoldCopy.yaml");
    std::fs::write(&copy_path, serde_norway::to_string(&renamed).expect("yaml")).expect("write");
    let copy_arg = copy_path.display().to_string();
    let imported = ok(&apictl(c, &["import", "policy", "rate-limiting", "-f", &copy_arg, "-e", "dev", "-k"], None));
    assert!(imported.contains("GoldCopy"), "{imported}");
    ok(&apictl(c, &["import", "policy", "rate-limiting", "-f", &copy_arg, "-e", "dev", "-k", "--update"], None));
    let json_out = ok(&apictl(c, &["export", "policy", "rate-limiting", "-n", "GoldCopy", "-e", "dev", "-k", "--format", "JSON"], None));
    assert!(json_out.trim_end().ends_with("GoldCopy.json"), "{json_out}");
    let err = failed(&apictl(c, &["export", "policy", "rate-limiting", "-n", "Nope", "-e", "dev", "-k"], None));
    assert!(err.contains("not found") || err.contains("404"), "{err}");
    assert!(
        failed(&apictl(c, &["export", "policy", "rate-limiting", "-n", "Gold", "-t", "weekly", "-e", "dev", "-k"], None))
            .contains("--type")
    );
    // export / import policy api: a common operation policy's archive; a built-in one exports but is not imported
    // over itself.
    let exported = ok(&apictl(c, &["export", "policy", "api", "-n", "addHeader", "-e", "dev", "-k"], None));
    let zip = exported.lines().last().and_then(|l| l.split(" at ").nth(1)).expect("the export's path").trim().to_string();
    assert!(zip.ends_with("policies/api/dev/addHeader_v1.zip"), "{zip}");
    let err = failed(&apictl(c, &["import", "policy", "api", "-f", &zip, "-e", "dev", "-k"], None));
    assert!(err.contains("built-in"), "a built-in policy cannot be imported over: {err}");
    let err = failed(&apictl(c, &["import", "policy", "api", "-f", &copy_arg, "-e", "dev", "-k"], None));
    assert!(err.contains("not a ZIP"), "{err}");
    assert!(failed(&apictl(c, &["export", "policy", "api", "-n", "nope", "-e", "dev", "-k"], None)).contains("nope"));

    // delete app: the logged-in user's by name, or another owner's with -o.
    let dp = format!("{https}/api/am/devportal/v3");
    let app = rest("POST", &format!("{dp}/applications"), json!({"name": "DoomedApp", "throttlingPolicy": "Unlimited"})).await;
    assert_eq!(app.status, 201, "{}", app.body);
    assert!(failed(&apictl(c, &["delete", "app", "-n", "DoomedApp", "-o", "nobody", "-e", "dev", "-k"], None)).contains("not found"));
    assert!(ok(&apictl(c, &["delete", "app", "-n", "DoomedApp", "-e", "dev", "-k"], None)).contains("DoomedApp Application deleted"));
    assert!(!ok(&apictl(c, &["get", "apps", "-e", "dev", "-k"], None)).contains("DoomedApp"));
    let again = failed(&apictl(c, &["delete", "app", "-n", "DoomedApp", "-e", "dev", "-k"], None));
    assert!(again.contains("DoomedApp") && again.contains("not found"), "{again}");
    assert!(failed(&apictl(c, &["delete", "app", "-n", "DoomedApp", "-e", "nowhere", "-k"], None)).contains("`nowhere`"));

    // set: kept in main_config.yaml as apictl keeps it; exports then go to the new directory.
    let exports = work.path().join("exports");
    std::fs::create_dir_all(&exports).expect("dir");
    let exports_arg = exports.display().to_string();
    let said = ok(&apictl(
        c,
        &["set", "--http-request-timeout", "30000", "--export-directory", &exports_arg, "--tls-renegotiation-mode", "freely"],
        None,
    ));
    assert!(said.contains("Http Request Timeout is set to : 30000") && said.contains("freely"), "{said}");
    let main: Value = serde_norway::from_str(&std::fs::read_to_string(config.join("main_config.yaml")).expect("main")).expect("yaml");
    assert_eq!(main["config"]["http_request_timeout"], 30000);
    assert_eq!(main["config"]["tls_renegotiation_mode"], "freely");
    assert!(main["environments"]["dev"].is_object(), "the environments stay: {main}");
    ok(&apictl(c, &["export", "api", "-n", "FmtApi", "-v", "1.0.0", "-e", "dev", "-k"], None));
    assert!(std::fs::canonicalize(&exports).expect("dir").join("apis/dev/FmtApi_1.0.0.zip").exists());
    assert!(failed(&apictl(c, &["set", "--tls-renegotiation-mode", "sometimes"], None)).contains("sometimes"));
    assert!(failed(&apictl(c, &["set", "--http-request-timeout", "0"], None)).contains("--http-request-timeout"));
    assert!(failed(&apictl(c, &["set", "--export-directory", "/nonexistent/dir"], None)).contains("not a directory"));
    assert!(failed(&apictl(c, &["set"], None)).contains("--http-request-timeout"));
    assert!(failed(&apictl(c, &["set", "--http-request-timeout", "soon"], None)).contains("soon"));

    // export app / import app: an application leaves as apictl's application project and comes back.
    let app = rest("POST", &format!("{dp}/applications"), json!({"name": "Travelling", "throttlingPolicy": "10PerMin"})).await;
    assert_eq!(app.status, 201, "{}", app.body);
    let said = ok(&apictl(c, &["export", "app", "-n", "Travelling", "-o", "admin", "-e", "dev", "-k"], None));
    let zip = std::fs::canonicalize(&exports).expect("dir").join("apps/dev/admin_Travelling.zip");
    assert!(said.contains("Successfully exported Application") && zip.exists(), "{said}");
    let zip_arg = zip.display().to_string();
    assert!(failed(&apictl(c, &["import", "app", "-f", &zip_arg, "-e", "dev", "-k"], None)).contains("already exists"));
    let said = ok(&apictl(c, &["import", "app", "-f", &zip_arg, "-e", "dev", "-k", "--update"], None));
    assert!(said.contains("Successfully imported Application"), "{said}");
    ok(&apictl(c, &["delete", "app", "-n", "Travelling", "-e", "dev", "-k"], None));
    assert!(ok(&apictl(c, &["import", "app", "-f", &zip_arg, "-e", "dev", "-k"], None)).contains("Successfully imported"));
    let apps = ok(&apictl(c, &["get", "apps", "-e", "dev", "-k", "--format", "{{.Name}} {{.Owner}}"], None));
    assert!(apps.lines().any(|l| l == "Travelling admin"), "{apps}");
    assert!(failed(&apictl(c, &["export", "app", "-n", "Nowhere", "-o", "admin", "-e", "dev", "-k"], None)).contains("not found"));
    assert!(
        failed(&apictl(c, &["export", "app", "-n", "Travelling", "-o", "admin", "-e", "dev", "-k", "--format", "XML"], None))
            .contains("XML")
    );
    let not_zip = work.path().join("not-a.zip");
    std::fs::write(&not_zip, "plain text").expect("write");
    let not_zip_arg = not_zip.display().to_string();
    assert!(failed(&apictl(c, &["import", "app", "-f", &not_zip_arg, "-e", "dev", "-k"], None)).contains("not a ZIP"));
    assert!(failed(&apictl(c, &["import", "app", "-f", &zip_arg, "-e", "nowhere", "-k"], None)).contains("`nowhere`"));
    node.terminate();
}

/// `vcs`: a Git repository of projects deploys what changed since the environment last took it — all of it the
/// first time, then only the edited project, a refused import left for the next deploy, params from the
/// deployment repository, uncommitted edits refused, and a removed project deleted once deletion is enabled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vcs_deploys_what_changed() {
    let work = TempDir::new("apictl-vcs");
    let (mut node, https, _) = node(work.path()).await;
    let config = work.path().join("apictl-home");
    let c = config.as_path();
    ok(&apictl(c, &["add", "env", "dev", "--apim", &https], None));
    ok(&apictl(c, &["login", "dev", "-u", "admin", "--password-stdin", "-k"], Some("admin\n")));
    let repo = work.path().join("apis-repo");
    std::fs::create_dir_all(repo.join("apis")).expect("dir");
    let r = repo.as_path();

    assert!(failed(&apictl_in(c, r, &["vcs", "init"])).contains("not in a Git repository"));
    git(r, &["init", "-q", "-b", "main"]);
    assert!(failed(&apictl_in(c, r, &["vcs", "status", "-e", "dev"])).contains("no vcs.yaml"));
    assert!(ok(&apictl_in(c, r, &["vcs", "init"])).contains("Successfully initialized"));
    assert!(failed(&apictl_in(c, r, &["vcs", "init"])).contains("initialised already"));
    for (name, path) in [("Orders", "/orders"), ("Billing", "/billing")] {
        let oas = work.path().join(format!("{name}.yaml"));
        let text = format!(
            "openapi: 3.0.1\ninfo: {{title: {name}, version: 1.0.0}}\nx-wso2-basePath: {path}\nservers: [{{url: 'http://127.0.0.1:9'}}]\npaths:\n  /list:\n    get:\n      responses: {{'200': {{description: ok}}}}\n"
        );
        std::fs::write(&oas, text).expect("oas");
        let dir = repo.join("apis").join(name);
        ok(&apictl(c, &["init", &dir.display().to_string(), "--oas", &oas.display().to_string()], None));
    }
    git(r, &["add", "-A"]);
    git(r, &["commit", "-q", "-m", "two APIs"]);
    assert!(failed(&apictl_in(c, r, &["vcs", "status", "-e", "nowhere"])).contains("`nowhere` is not added"));
    let status = ok(&apictl_in(c, r, &["vcs", "status", "-e", "dev"]));
    assert!(status.contains("Projects to Deploy (2)") && status.contains("Billing-1.0.0: (apis/Billing)"), "{status}");
    let listed: Value = serde_json::from_str(&ok(&apictl_in(c, r, &["vcs", "status", "-e", "dev", "--format", "json"]))).expect("json");
    assert_eq!(listed.as_array().map(Vec::len), Some(2), "{listed}");
    assert_eq!(listed[0]["action"], "deploy");
    ok(&apictl_in(c, r, &["vcs", "deploy", "-e", "dev", "-k"]));
    let pb = format!("{https}/api/am/publisher/v4");
    let names = |list: &Value| -> Vec<String> {
        let mut n: Vec<String> =
            list["list"].as_array().into_iter().flatten().filter_map(|a| a["name"].as_str().map(String::from)).collect();
        n.sort();
        n
    };
    assert_eq!(names(&rest("GET", &format!("{pb}/apis"), Value::Null).await.json()), ["Billing", "Orders"]);
    assert!(ok(&apictl_in(c, r, &["vcs", "status", "-e", "dev"])).contains("Everything is up-to-date"));
    let vcs_config = std::fs::read_to_string(config.join("vcs_config.yaml")).expect("vcs_config.yaml");
    assert!(vcs_config.contains("lastSuccessfulRev"), "{vcs_config}");

    // One edited project: only it is listed and imported; its description changes in the environment.
    let orders_yaml = repo.join("apis/Orders/api.yaml");
    let text = std::fs::read_to_string(&orders_yaml).expect("api.yaml");
    std::fs::write(&orders_yaml, text.replace("name: Orders", "name: Orders\n  description: edited in Git")).expect("edit");
    git(r, &["commit", "-q", "-am", "describe Orders"]);
    let status = ok(&apictl_in(c, r, &["vcs", "status", "-e", "dev"]));
    assert!(status.contains("Projects to Deploy (1)") && status.contains("Orders-1.0.0") && !status.contains("Billing"), "{status}");
    ok(&apictl_in(c, r, &["vcs", "deploy", "-e", "dev", "-k"]));
    let apis = rest("GET", &format!("{pb}/apis?query=name:Orders"), Value::Null).await.json();
    let orders = apis["list"][0]["id"].as_str().expect("Orders").to_string();
    assert_eq!(rest("GET", &format!("{pb}/apis/{orders}"), Value::Null).await.json()["description"], "edited in Git");

    // A definition the server refuses: exit 1 naming the project, rolled back, and listed again until fixed.
    let swagger = repo.join("apis/Billing/Definitions/swagger.yaml");
    let good = std::fs::read_to_string(&swagger).expect("swagger");
    std::fs::write(&swagger, "this: [is not an OpenAPI document\n").expect("break");
    git(r, &["commit", "-q", "-am", "break Billing"]);
    let err = failed(&apictl_in(c, r, &["vcs", "deploy", "-e", "dev", "-k"]));
    assert!(err.contains("Billing-1.0.0: import failed in `dev`") && err.contains("rolled back"), "{err}");
    let status = ok(&apictl_in(c, r, &["vcs", "status", "-e", "dev"]));
    assert!(status.contains("Projects to Deploy (1)") && status.contains("Billing-1.0.0"), "{status}");

    // The fix, with params from the deployment repository; an uncommitted edit in it is refused first.
    let deployment = work.path().join("deployment-repo/DeploymentArtifacts_Billing-1.0.0");
    std::fs::create_dir_all(&deployment).expect("dir");
    std::fs::write(
        deployment.join("params.yaml"),
        "environments:\n  - name: dev\n    configs:\n      endpoints:\n        production: {url: 'http://billing.dev.invalid'}\n",
    )
    .expect("params");
    let deployment_repo = work.path().join("deployment-repo").display().to_string();
    ok(&apictl(c, &["set", "--vcs-deployment-repo-path", &deployment_repo], None));
    std::fs::write(&swagger, &good).expect("fix");
    git(r, &["commit", "-q", "-am", "fix Billing"]);
    std::fs::write(repo.join("apis/Billing/notes.txt"), "draft").expect("draft");
    assert!(failed(&apictl_in(c, r, &["vcs", "deploy", "-e", "dev", "-k"])).contains("uncommitted changes"));
    std::fs::remove_file(repo.join("apis/Billing/notes.txt")).expect("rm");
    ok(&apictl_in(c, r, &["vcs", "deploy", "-e", "dev", "-k"]));
    let apis = rest("GET", &format!("{pb}/apis?query=name:Billing"), Value::Null).await.json();
    let billing = apis["list"][0]["id"].as_str().expect("Billing").to_string();
    let api = rest("GET", &format!("{pb}/apis/{billing}"), Value::Null).await.json();
    assert_eq!(api["endpointConfig"]["production_endpoints"]["url"], "http://billing.dev.invalid", "{api}");

    // A removed project: listed, deleted only once deletion is enabled.
    git(r, &["rm", "-q", "-r", "apis/Orders"]);
    git(r, &["commit", "-q", "-m", "retire Orders"]);
    assert!(ok(&apictl_in(c, r, &["vcs", "status", "-e", "dev"])).contains("removed (not deleted"));
    ok(&apictl(c, &["set", "--vcs-deletion-enabled=true"], None));
    assert!(ok(&apictl_in(c, r, &["vcs", "status", "-e", "dev"])).contains("Orders-1.0.0: (apis/Orders) awaiting deletion"));
    assert!(ok(&apictl_in(c, r, &["vcs", "deploy", "-e", "dev", "-k"])).contains("Orders-1.0.0: deleted"));
    assert_eq!(names(&rest("GET", &format!("{pb}/apis"), Value::Null).await.json()), ["Billing"]);
    assert!(ok(&apictl_in(c, r, &["vcs", "status", "-e", "dev"])).contains("Everything is up-to-date"));
    // A main file that is not YAML names the file and the commit.
    std::fs::write(repo.join("apis/Billing/api.yaml"), "data: [unclosed\n").expect("break");
    git(r, &["commit", "-q", "-am", "garble"]);
    assert!(failed(&apictl_in(c, r, &["vcs", "status", "-e", "dev"])).contains("apis/Billing/api.yaml at "));
    node.terminate();
}
