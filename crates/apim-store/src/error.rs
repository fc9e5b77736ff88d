use std::fmt;

/// Why a database could not be reached, in the words an operator needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectCause {
    NameNotResolved(String),
    Refused,
    AccessDenied(String),
    UnknownDatabase(String),
    TimedOut,
    Other(String),
}

impl fmt::Display for ConnectCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectCause::NameNotResolved(e) => write!(f, "host name not resolved ({e}); map it in /etc/hosts or pass --hosts FILE"),
            ConnectCause::Refused => f.write_str("connection refused"),
            ConnectCause::AccessDenied(e) => write!(f, "access denied: {e}"),
            ConnectCause::UnknownDatabase(e) => write!(f, "database does not exist: {e}"),
            ConnectCause::TimedOut => f.write_str("timed out"),
            ConnectCause::Other(e) => f.write_str(e),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{pool}: cannot connect to {address}: {cause}")]
    Connect { pool: String, address: String, cause: ConnectCause },
    /// A migration step other than the ones below (e.g. reading the schema table).
    #[error("{pool}: migration failed: {message}")]
    Migrate { pool: String, message: String },
    /// The lock that lets one node at a time migrate could not be taken or held.
    #[error("{pool}: migration lock {lock}: {reason}")]
    MigrationLock { pool: String, lock: String, reason: String },
    /// A migration's SQL failed. On MariaDB part of it may have been applied; the next start runs it again.
    #[error("{pool}: migration {version} ({description}) failed: {source}")]
    MigrationFailed {
        pool: String,
        version: i64,
        description: String,
        #[source]
        source: sqlx::Error,
    },
    /// The database records a migration as applied from SQL this build does not have.
    #[error(
        "{pool}: migration {version} ({description}) was applied from different SQL than this build's (checksum \
         mismatch in apim_schema_migrations); this database was migrated by another build"
    )]
    MigrationChanged { pool: String, version: i64, description: String },
    /// The database records a migration this build does not know: a newer build migrated it.
    #[error("{pool}: the database records migration {version}, which this build does not know; a newer build migrated it")]
    MigrationUnknown { pool: String, version: i64 },
    /// A migration is marked partially applied (`success = false`) and this build cannot run it again safely.
    #[error(
        "{pool}: migration {version} ({description}) is marked partially applied in apim_schema_migrations and is not \
         one this build can run again; complete it by hand and set success = TRUE on its row"
    )]
    MigrationDirty { pool: String, version: i64, description: String },
    #[error("database error: {0}")]
    Query(#[from] sqlx::Error),
    #[error("{what} already exists")]
    Conflict { what: String },
    #[error("{what} not found")]
    NotFound { what: String },
    #[error("{0}")]
    Invalid(String),
}
