//! `vcs init|status|deploy`'s local half: the Git repository of projects (`vcs.yaml` names it), which projects
//! changed since an environment last took this repository, and `vcs_config.yaml`, where that is remembered
//! (apictl's file and layout: `repos.<id>.environments.<env>.{lastAttemptedRev, lastSuccessfulRev, failedProjects}`).
//! Git is run as a program, as apictl does. Nothing here talks to an environment: `main.rs` runs the plan.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

/// How many successful revisions an environment remembers (the newest first).
const KEPT_REVISIONS: usize = 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Kind {
    /// An API project: `api.yaml` at its root.
    #[serde(rename = "APIs")]
    Api,
    /// An API product project: `api_product.yaml` (its APIs inside, under `APIs/`).
    #[serde(rename = "API Products")]
    ApiProduct,
    /// An application project: `application.yaml`.
    #[serde(rename = "Applications")]
    Application,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Api, Kind::ApiProduct, Kind::Application];

    fn stem(self) -> &'static str {
        match self {
            Kind::Api => "api",
            Kind::ApiProduct => "api_product",
            Kind::Application => "application",
        }
    }

    /// apictl's heading for the kind.
    pub fn heading(self) -> &'static str {
        match self {
            Kind::Api => "APIs",
            Kind::ApiProduct => "API Products",
            Kind::Application => "Applications",
        }
    }
}

/// A project in the repository at some commit.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Project {
    pub kind: Kind,
    /// Its directory, relative to the repository's root, `/`-separated.
    pub dir: String,
    pub name: String,
    /// The version (an application's is empty).
    pub version: String,
    /// An application's owner (empty for the others).
    pub owner: String,
}

impl Project {
    /// `Name-version`, as apictl labels a project.
    pub fn label(&self) -> String {
        if self.version.is_empty() { self.name.clone() } else { format!("{}-{}", self.name, self.version) }
    }
}

/// What a deploy does to one project.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Import the project (create or update).
    Deploy,
    /// Delete what the project made: it is gone from the repository.
    Delete,
}

/// One environment's memory of this repository.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct EnvState {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub last_attempted_rev: String,
    #[serde(default)]
    pub last_successful_rev: Vec<String>,
    /// Projects whose last deploy failed, by kind heading: their directories.
    #[serde(default)]
    pub failed_projects: BTreeMap<String, Vec<String>>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct RepoState {
    #[serde(default)]
    environments: BTreeMap<String, EnvState>,
}

/// `vcs_config.yaml`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct VcsConfig {
    #[serde(default)]
    repos: BTreeMap<String, RepoState>,
}

impl VcsConfig {
    pub fn read(path: &Path) -> anyhow::Result<VcsConfig> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_norway::from_str(&text).with_context(|| format!("{} is not apictl's VCS configuration", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(VcsConfig::default()),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// Written to a temporary file and renamed over, so a failed write leaves the previous file.
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        let text = serde_norway::to_string(self)?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
    }

    pub fn env(&self, repo: &str, env: &str) -> EnvState {
        self.repos.get(repo).and_then(|r| r.environments.get(env)).cloned().unwrap_or_default()
    }

    pub fn set_env(&mut self, repo: &str, env: &str, state: EnvState) {
        self.repos.entry(repo.to_string()).or_default().environments.insert(env.to_string(), state);
    }
}

impl EnvState {
    /// After a deploy of `head`: every project done, or `failed` ones left for the next deploy.
    pub fn record(&mut self, head: &str, failed: &[&Project]) {
        self.last_attempted_rev = head.to_string();
        self.failed_projects.clear();
        for p in failed {
            self.failed_projects.entry(p.kind.heading().to_string()).or_default().push(p.dir.clone());
        }
        if failed.is_empty() {
            self.last_successful_rev.retain(|r| r != head);
            self.last_successful_rev.insert(0, head.to_string());
            self.last_successful_rev.truncate(KEPT_REVISIONS);
        }
    }
}

/// The repository of projects: its root and the id `vcs.yaml` gives it.
pub struct Repo {
    pub root: PathBuf,
    pub id: String,
}

/// `git <args>` in `dir`; its standard output, or an error carrying git's own message.
fn git(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("git").arg("-C").arg(dir).args(args).output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            anyhow::anyhow!("git is not installed: apictl vcs runs git")
        } else {
            anyhow::anyhow!("cannot run git: {e}")
        }
    })?;
    if !out.status.success() {
        bail!("git {}: {}", args.first().copied().unwrap_or(""), String::from_utf8_lossy(&out.stderr).trim());
    }
    String::from_utf8(out.stdout).context("git printed something that is not UTF-8")
}

/// The root of the Git working tree holding `dir`.
fn root_of(dir: &Path) -> anyhow::Result<PathBuf> {
    let top = git(dir, &["rev-parse", "--show-toplevel"])
        .map_err(|e| anyhow::anyhow!("{} is not in a Git repository ({e:#}): run `git init` first", dir.display()))?;
    Ok(PathBuf::from(top.trim()))
}

/// `vcs init`: writes `vcs.yaml` with a new id at the root of the repository holding `dir`; returns its path.
/// An existing one is kept unless `force`, since environments remember the repository by that id.
pub fn init(dir: &Path, force: bool) -> anyhow::Result<PathBuf> {
    let root = root_of(dir)?;
    let path = root.join("vcs.yaml");
    if path.exists() && !force {
        bail!(
            "{} exists: this repository is initialised already (-f makes a new id, and every environment then deploys it afresh)",
            path.display()
        );
    }
    let text = format!("# apictl: the id environments remember this repository by\nid: {}\n", uuid::Uuid::new_v4());
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

#[derive(Deserialize)]
struct VcsFile {
    id: String,
}

impl Repo {
    /// The initialised repository holding `dir`.
    pub fn open(dir: &Path) -> anyhow::Result<Repo> {
        let root = root_of(dir)?;
        let path = root.join("vcs.yaml");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                bail!("{} has no vcs.yaml: run `apictl vcs init` there and commit it", root.display())
            }
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let file: VcsFile = serde_norway::from_str(&text).with_context(|| format!("{}: expected `id: <repository id>`", path.display()))?;
        if file.id.trim().is_empty() {
            bail!("{}: the id is empty", path.display());
        }
        Ok(Repo { root, id: file.id.trim().to_string() })
    }

    pub fn head(&self) -> anyhow::Result<String> {
        let head = git(&self.root, &["rev-parse", "--verify", "HEAD^{commit}"])
            .map_err(|e| anyhow::anyhow!("{} has no commit yet ({e:#}): commit the projects first", self.root.display()))?;
        Ok(head.trim().to_string())
    }

    fn knows(&self, rev: &str) -> bool {
        git(&self.root, &["cat-file", "-e", &format!("{rev}^{{commit}}")]).is_ok()
    }

    /// The projects at `rev`: each directory whose root holds a main file, outermost only (an API product's own
    /// `APIs/` are part of it).
    pub fn projects_at(&self, rev: &str) -> anyhow::Result<Vec<Project>> {
        let files = git(&self.root, &["ls-tree", "-r", "-z", "--name-only", rev])?;
        let mut found: Vec<(String, String, Kind)> = Vec::new();
        for file in files.split('\0').filter(|f| !f.is_empty()) {
            let (dir, base) = match file.rsplit_once('/') {
                Some((d, b)) => (d.to_string(), b),
                None => (String::new(), file),
            };
            for kind in Kind::ALL {
                if ["yaml", "yml", "json"].iter().any(|ext| base == format!("{}.{ext}", kind.stem())) {
                    found.push((dir.clone(), file.to_string(), kind));
                }
            }
        }
        found.sort_by_key(|(dir, _, _)| dir.len());
        let mut projects: Vec<Project> = Vec::new();
        for (dir, file, kind) in found {
            let inside = projects.iter().any(|p| p.dir.is_empty() || dir.starts_with(&format!("{}/", p.dir)) || dir == p.dir);
            if inside {
                continue;
            }
            let text = git(&self.root, &["show", &format!("{rev}:{file}")])?;
            let (name, version, owner) = identity(&text, kind).with_context(|| format!("{file} at {}", short(rev)))?;
            projects.push(Project { kind, dir, name, version, owner });
        }
        projects.sort();
        Ok(projects)
    }

    /// Files changed between `from` and HEAD (renames as a deletion and an addition).
    fn changed_since(&self, from: &str) -> anyhow::Result<BTreeSet<String>> {
        let out = git(&self.root, &["diff", "--no-renames", "--name-only", "-z", from, "HEAD"])?;
        Ok(out.split('\0').filter(|f| !f.is_empty()).map(str::to_string).collect())
    }

    /// Uncommitted changes (tracked or not) inside `dirs`: a deploy takes committed projects only.
    pub fn uncommitted(&self, dirs: &[&str]) -> anyhow::Result<Vec<String>> {
        if dirs.is_empty() {
            return Ok(Vec::new());
        }
        let mut args = vec!["status", "--porcelain", "-z", "--untracked-files=all", "--"];
        let specs: Vec<String> = dirs.iter().map(|d| if d.is_empty() { ".".to_string() } else { (*d).to_string() }).collect();
        args.extend(specs.iter().map(String::as_str));
        let out = git(&self.root, &args)?;
        Ok(out.split('\0').filter(|l| l.len() > 3).map(|l| l[3..].to_string()).collect())
    }

    /// Writes the files of `project` as they were at `rev` into `into/<last part of its directory>`; returns that.
    pub fn checkout_into(&self, rev: &str, project: &Project, into: &Path) -> anyhow::Result<PathBuf> {
        let top = project.dir.rsplit('/').next().filter(|t| !t.is_empty()).unwrap_or("project");
        let target = into.join(top);
        let spec = if project.dir.is_empty() { ".".to_string() } else { project.dir.clone() };
        let files = git(&self.root, &["ls-tree", "-r", "-z", "--name-only", rev, "--", &spec])?;
        for file in files.split('\0').filter(|f| !f.is_empty()) {
            let rel = if project.dir.is_empty() { file } else { file.strip_prefix(&format!("{}/", project.dir)).unwrap_or(file) };
            let out = Command::new("git")
                .arg("-C")
                .arg(&self.root)
                .args(["show", &format!("{rev}:{file}")])
                .output()
                .with_context(|| format!("cannot run git show {file}"))?;
            if !out.status.success() {
                bail!("git show {rev}:{file}: {}", String::from_utf8_lossy(&out.stderr).trim());
            }
            let path = target.join(rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
            }
            std::fs::write(&path, out.stdout).with_context(|| format!("cannot write {}", path.display()))?;
        }
        Ok(target)
    }
}

/// A commit id's first characters, for messages.
pub fn short(rev: &str) -> &str {
    rev.get(..8).unwrap_or(rev)
}

/// Name, version and owner from a project's main file (WSO2's `{type, version, data}` envelope, YAML or JSON).
fn identity(text: &str, kind: Kind) -> anyhow::Result<(String, String, String)> {
    let doc: serde_norway::Value = serde_norway::from_str(text).map_err(|e| anyhow::anyhow!("not YAML or JSON: {e}"))?;
    let data = doc.get("data").unwrap_or(&doc);
    let text_of = |k: &str| data.get(k).and_then(serde_norway::Value::as_str).unwrap_or("").to_string();
    let name = text_of("name");
    if name.is_empty() {
        bail!("no `data.name`");
    }
    match kind {
        Kind::Application => {
            let owner = data
                .get("owner")
                .or_else(|| data.get("subscriber").and_then(|s| s.get("name")))
                .and_then(serde_norway::Value::as_str)
                .unwrap_or("")
                .to_string();
            Ok((name, String::new(), owner))
        }
        Kind::Api | Kind::ApiProduct => {
            let version = text_of("version");
            if version.is_empty() {
                bail!("no `data.version`");
            }
            Ok((name, version, String::new()))
        }
    }
}

/// What `vcs deploy` would do for one environment: each project with its action, deletions last.
pub struct Plan {
    pub head: String,
    /// Where the changes were counted from (`None`: the environment never took this repository).
    pub base: Option<String>,
    pub steps: Vec<(Project, Action)>,
}

/// The plan for `state`: every project changed since the environment's last attempt (all of them the first time,
/// or when that commit is no longer in the history), the ones that failed then, and the ones deleted since.
pub fn plan(repo: &Repo, state: &EnvState) -> anyhow::Result<Plan> {
    let head = repo.head()?;
    let now = repo.projects_at(&head)?;
    let base = Some(state.last_attempted_rev.clone()).filter(|r| !r.is_empty() && repo.knows(r));
    let failed: BTreeSet<&String> = state.failed_projects.values().flatten().collect();
    let mut steps = Vec::new();
    match &base {
        None => steps.extend(now.iter().cloned().map(|p| (p, Action::Deploy))),
        Some(base) => {
            let changed = repo.changed_since(base)?;
            let touches = |dir: &str| (dir.is_empty() && !changed.is_empty()) || changed.iter().any(|f| f.starts_with(&format!("{dir}/")));
            for p in &now {
                if touches(&p.dir) || failed.contains(&p.dir) {
                    steps.push((p.clone(), Action::Deploy));
                }
            }
            let live: BTreeSet<(Kind, &str, &str)> = now.iter().map(|p| (p.kind, p.name.as_str(), p.version.as_str())).collect();
            for gone in repo.projects_at(base)? {
                if !live.contains(&(gone.kind, gone.name.as_str(), gone.version.as_str())) {
                    steps.push((gone, Action::Delete));
                }
            }
        }
    }
    // APIs before the products that use them before the applications that subscribe; deletions the other way.
    steps.sort_by(|(a, x), (b, y)| match (x, y) {
        (Action::Deploy, Action::Deploy) => a.cmp(b),
        (Action::Delete, Action::Delete) => b.kind.cmp(&a.kind).then(a.cmp(b)),
        (Action::Deploy, Action::Delete) => std::cmp::Ordering::Less,
        (Action::Delete, Action::Deploy) => std::cmp::Ordering::Greater,
    });
    Ok(Plan { head, base, steps })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_project_is_named_by_its_main_file() {
        let api = "type: api\nversion: v4.2.0\ndata:\n  name: Pizza\n  version: 1.0.0\n";
        assert_eq!(identity(api, Kind::Api).ok(), Some(("Pizza".into(), "1.0.0".into(), String::new())));
        let app = r#"{"type":"application","data":{"name":"Shop","owner":"alice"}}"#;
        assert_eq!(identity(app, Kind::Application).ok(), Some(("Shop".into(), String::new(), "alice".into())));
        assert!(identity("data: {version: 1.0.0}", Kind::Api).is_err(), "no name");
        assert!(identity("data: {name: X}", Kind::ApiProduct).is_err(), "no version");
        assert!(identity(": : :", Kind::Api).is_err(), "not YAML");
    }

    #[test]
    fn a_failed_deploy_keeps_the_last_successful_revision() {
        let mut s = EnvState::default();
        s.record("aaa", &[]);
        let p = Project { kind: Kind::Api, dir: "apis/Pizza".into(), name: "Pizza".into(), version: "1".into(), owner: String::new() };
        s.record("bbb", &[&p]);
        assert_eq!(s.last_attempted_rev, "bbb");
        assert_eq!(s.last_successful_rev, ["aaa"]);
        assert_eq!(s.failed_projects["APIs"], ["apis/Pizza"]);
        s.record("ccc", &[]);
        assert_eq!(s.last_successful_rev, ["ccc", "aaa"]);
        assert!(s.failed_projects.is_empty());
    }
}
