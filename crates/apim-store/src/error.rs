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
    #[error("{pool}: migration failed: {message}")]
    Migrate { pool: String, message: String },
    #[error("database error: {0}")]
    Query(#[from] sqlx::Error),
    #[error("{what} already exists")]
    Conflict { what: String },
    #[error("{what} not found")]
    NotFound { what: String },
    #[error("{0}")]
    Invalid(String),
}
