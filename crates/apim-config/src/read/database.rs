//! `[database.apim_db]` and `[database.shared_db]`: WSO2's JDBC settings read as a pool to open (SQLite for
//! H2, PostgreSQL, MariaDB/MySQL).

use std::path::PathBuf;

use super::reader::{Reader, Tbl};
use crate::model::{Database, DbKind, DbTarget};
use crate::resolve::join;

/// `[database.*]`: `(apim_db, shared_db)`, each `None` when absent or wrong (the error is reported).
pub(super) fn databases(r: &mut Reader, top: Tbl<'_>) -> (Option<Database>, Option<Database>) {
    let (mut apim_db, mut shared_db) = (None, None);
    if let Some((dt, dp)) = r.table(top, "", &["database"]) {
        apim_db = r.table(dt, &dp, &["apim_db"]).and_then(|(t, p)| database(r, t, &p, "apim_db"));
        shared_db = r.table(dt, &dp, &["shared_db"]).and_then(|(t, p)| database(r, t, &p, "shared_db"));
    }
    (apim_db, shared_db)
}

fn database(r: &mut Reader, t: Tbl<'_>, p: &str, pool: &str) -> Option<Database> {
    let type_span = t.value_span("type");
    let url_span = t.value_span("url");
    let declared = r.str(t, p, "type");
    let url = r.str(t, p, "url");
    let hostname = r.str(t, p, "hostname");
    let port = r.port(t, p, "port").map(|x| x.0);
    let name = r.str(t, p, "name");
    let username = r.str(t, p, "username");
    let password = r.secret(t, p, "password");
    let type_path = join(p, "type");
    let Some(declared) = declared else {
        r.error(&type_path, t.key_span(), format!("database `{pool}` needs a `type` (mysql, postgre, h2 or sqlite)"));
        return None;
    };
    let kind = match declared.to_ascii_lowercase().as_str() {
        "h2" | "sqlite" => DbKind::Sqlite,
        "postgre" | "postgres" | "postgresql" => DbKind::Postgres,
        "mysql" | "mariadb" => DbKind::MySql,
        other => {
            r.error(&type_path, type_span, format!("unknown database type `{other}`; expected mysql, postgre, h2 or sqlite"));
            return None;
        }
    };
    let url_path = join(p, "url");
    let target = if let Some(url) = url {
        match parse_db_url(&url, kind) {
            Ok(t) => t,
            Err(e) => {
                r.error(&url_path, url_span, e.to_string());
                return None;
            }
        }
    } else if kind == DbKind::Sqlite {
        let default = if pool == "apim_db" { "WSO2AM_DB" } else { "WSO2SHARED_DB" };
        let file = name.unwrap_or_else(|| format!("./repository/database/{default}"));
        DbTarget::File(sqlite_path(&file))
    } else {
        let Some(host) = hostname else {
            r.error(p, t.key_span(), format!("database `{pool}` needs `hostname` and `name`, or a `url`"));
            return None;
        };
        let Some(name) = name else {
            r.error(p, t.key_span(), format!("database `{pool}` needs a `name`"));
            return None;
        };
        let port = port.unwrap_or(if kind == DbKind::MySql { 3306 } else { 5432 });
        DbTarget::Server { host, port, name }
    };
    Some(Database { pool: pool.to_string(), kind, declared_type: declared, target, username, password })
}

/// H2 names a database without extension; the SQLite file gets `.db` appended.
fn sqlite_path(s: &str) -> PathBuf {
    let p = PathBuf::from(s);
    if p.extension().is_some() { p } else { PathBuf::from(format!("{s}.db")) }
}

/// `jdbc:h2:./path;OPTS`, `jdbc:sqlite:path`, `jdbc:mysql://h:p/db?x`, `jdbc:postgresql://h:p/db`, and the same
/// without `jdbc:`.
/// Why a `[database.*] url` names no database this version can reach.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
enum DbUrlError {
    #[error("`{0}` is not an h2 or sqlite URL (expected jdbc:h2:./path or jdbc:sqlite:path)")]
    NotAFileUrl(String),
    #[error("`{0}` names no database file")]
    NoFile(String),
    #[error("`{0}` is not a database URL such as jdbc:mysql://host:3306/name")]
    NotAServerUrl(String),
    #[error("URL scheme `{scheme}` does not match database type {kind}")]
    Scheme { scheme: String, kind: &'static str },
    #[error("`{0}` names no database")]
    NoDatabase(String),
    #[error("`{url}` has an invalid port `{port}`")]
    BadPort { url: String, port: String },
    #[error("`{0}` names no host")]
    NoHost(String),
}

fn parse_db_url(url: &str, kind: DbKind) -> Result<DbTarget, DbUrlError> {
    let u = url.strip_prefix("jdbc:").unwrap_or(url);
    if kind == DbKind::Sqlite {
        let rest = u.strip_prefix("h2:").or_else(|| u.strip_prefix("sqlite:")).ok_or_else(|| DbUrlError::NotAFileUrl(url.to_string()))?;
        let rest = rest.strip_prefix("file:").unwrap_or(rest).trim_start_matches("//");
        let path = rest.split(';').next().unwrap_or("").split('?').next().unwrap_or("");
        if path.is_empty() {
            return Err(DbUrlError::NoFile(url.to_string()));
        }
        return Ok(DbTarget::File(sqlite_path(path)));
    }
    let (scheme, rest) = u.split_once("://").ok_or_else(|| DbUrlError::NotAServerUrl(url.to_string()))?;
    let expected: &[&str] = if kind == DbKind::MySql { &["mysql", "mariadb"] } else { &["postgresql", "postgres"] };
    if !expected.contains(&scheme) {
        return Err(DbUrlError::Scheme { scheme: scheme.to_string(), kind: kind.as_str() });
    }
    let (authority, path) = rest.split_once('/').ok_or_else(|| DbUrlError::NoDatabase(url.to_string()))?;
    let authority = authority.rsplit_once('@').map(|(_, a)| a).unwrap_or(authority);
    let name = path.split(['?', ';']).next().unwrap_or("").to_string();
    if name.is_empty() {
        return Err(DbUrlError::NoDatabase(url.to_string()));
    }
    let default_port = if kind == DbKind::MySql { 3306 } else { 5432 };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h.to_string(), p.parse::<u16>().map_err(|_| DbUrlError::BadPort { url: url.to_string(), port: p.to_string() })?),
        None => (authority.to_string(), default_port),
    };
    if host.is_empty() {
        return Err(DbUrlError::NoHost(url.to_string()));
    }
    Ok(DbTarget::Server { host, port, name })
}
