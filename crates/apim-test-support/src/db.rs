//! Throw-away databases on the machine's servers.

use sqlx::{AssertSqlSafe, Connection};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    MySql,
}

impl Backend {
    pub fn env_var(self) -> &'static str {
        match self {
            Backend::Postgres => "APIM_TEST_PG_URL",
            Backend::MySql => "APIM_TEST_MYSQL_URL",
        }
    }
}

/// Admin URL of a backend, or `None` to skip it. Under CI an unset variable is a failure.
pub fn admin_url(backend: Backend) -> Option<String> {
    match std::env::var(backend.env_var()) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if crate::under_ci() => {
            panic!("{} must be set under CI (.ci/run sets it); refusing to skip the {backend:?} tests", backend.env_var())
        }
        _ => {
            eprintln!("skipping {backend:?}: {} is not set", backend.env_var());
            None
        }
    }
}

/// Runs statements on the admin connection.
pub async fn admin_exec(backend: Backend, url: &str, statements: &[String]) -> anyhow::Result<()> {
    match backend {
        Backend::Postgres => {
            let mut c =
                sqlx::PgConnection::connect(url).await.map_err(|e| anyhow::anyhow!("cannot connect to PostgreSQL at {url}: {e}"))?;
            for s in statements {
                sqlx::raw_sql(AssertSqlSafe(s.clone())).execute(&mut c).await?;
            }
        }
        Backend::MySql => {
            let mut c =
                sqlx::MySqlConnection::connect(url).await.map_err(|e| anyhow::anyhow!("cannot connect to MariaDB at {url}: {e}"))?;
            for s in statements {
                sqlx::raw_sql(AssertSqlSafe(s.clone())).execute(&mut c).await?;
            }
        }
    }
    Ok(())
}

/// A uniquely named database, dropped when this value is dropped.
pub struct TestDb {
    pub backend: Backend,
    pub admin_url: String,
    pub name: String,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
}

impl TestDb {
    /// Creates the database, or returns `None` when the backend is not configured (outside CI).
    pub async fn create(backend: Backend) -> Option<TestDb> {
        let admin_url = admin_url(backend)?;
        let name = crate::unique("apim_test");
        admin_exec(backend, &admin_url, &[format!("CREATE DATABASE {name}")])
            .await
            .unwrap_or_else(|e| panic!("{backend:?} unreachable: {e}"));
        let (user, password, host, port) = parse_url(&admin_url);
        Some(TestDb { backend, admin_url, name, host, port, user, password })
    }

    /// The `[database.x]` lines for a deployment.toml that points at this database.
    pub fn toml_fields(&self) -> String {
        let kind = match self.backend {
            Backend::Postgres => "postgre",
            Backend::MySql => "mysql",
        };
        format!(
            "type = \"{kind}\"\nhostname = \"{}\"\nport = {}\nname = \"{}\"\nusername = \"{}\"\npassword = \"{}\"\n",
            self.host, self.port, self.name, self.user, self.password
        )
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (backend, url, name) = (self.backend, self.admin_url.clone(), self.name.clone());
        // Drop runs outside any async context guarantee; use a thread of its own.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            let stmt = match backend {
                Backend::Postgres => format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                Backend::MySql => format!("DROP DATABASE IF EXISTS {name}"),
            };
            if let Err(e) = rt.block_on(admin_exec(backend, &url, &[stmt])) {
                eprintln!("could not drop test database {name}: {e}");
            }
        })
        .join();
    }
}

/// (user, password, host, port) of `scheme://user:pass@host:port/db`.
pub fn parse_url(url: &str) -> (String, String, String, u16) {
    let rest = url.split_once("://").map(|x| x.1).unwrap_or(url);
    let (creds, hostpart) = rest.rsplit_once('@').unwrap_or(("", rest));
    let (user, password) = creds.split_once(':').unwrap_or((creds, ""));
    let authority = hostpart.split('/').next().unwrap_or("");
    let (host, port) =
        authority.rsplit_once(':').map(|(h, p)| (h.to_string(), p.parse().unwrap_or(0))).unwrap_or((authority.to_string(), 0));
    (user.to_string(), password.to_string(), host, port)
}
