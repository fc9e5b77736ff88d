//! Test utilities shared by the crates' integration tests: temporary directories, throw-away databases on
//! the machine's PostgreSQL and MariaDB, and a small HTTP(S) client that accepts any certificate.
//!
//! Databases come from `APIM_TEST_PG_URL` and `APIM_TEST_MYSQL_URL` (an admin URL such as
//! `mysql://root@127.0.0.1:3306/test`). Without them a backend is skipped, except under `CI=true`, where a
//! missing or unreachable database fails the test.

#![forbid(unsafe_code)]

pub mod backend;
pub mod db;
pub mod http;
pub mod load;
pub mod process;
pub mod topology;

use std::path::{Path, PathBuf};

/// A directory removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// True when running under CI, where every configured backend is required.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// The repository's `fixtures/` directory: WSO2's sample configurations, OpenAPI documents and apictl
/// projects, kept verbatim (see `fixtures/README.md`).
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// A short unique suffix for database and user names.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}_{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}
