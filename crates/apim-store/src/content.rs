//! What the portals show of an API besides its definition: documents (WSO2's Document DTO kept as JSON, with their
//! inline text or uploaded file) and thumbnails. Neither reaches gateways, so no event is written.

use std::future::Future;

use sqlx::Row;

use crate::db::Db;
use crate::error::StoreError;
use crate::user::BeginWrite;
use crate::user::{map_unique, per_backend, sql};

/// A document of an API, without its content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocRecord {
    pub id: String,
    pub api_id: String,
    pub name: String,
    /// WSO2's Document DTO (JSON).
    pub document: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A document's content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DocContent {
    /// Inline or markdown text.
    Text(String),
    /// An uploaded file.
    File { media_type: String, file_name: String, bytes: Vec<u8> },
}

pub trait ContentStore: Send + Sync {
    /// `Conflict` when the API has a document of that name.
    fn create_doc(&self, doc: &DocRecord, content: Option<&DocContent>) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Replaces the document's name and DTO, and its content with `content` when `Some` (`Some(None)` removes it);
    /// false when it does not exist, `Conflict` on a name the API's other documents have.
    fn update_doc(&self, doc: &DocRecord, content: Option<Option<&DocContent>>) -> impl Future<Output = Result<bool, StoreError>> + Send;
    fn delete_doc(&self, api_id: &str, id: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;
    fn get_doc(&self, api_id: &str, id: &str) -> impl Future<Output = Result<Option<DocRecord>, StoreError>> + Send;
    /// The document of that name (names are unique per API).
    fn doc_named(&self, api_id: &str, name: &str) -> impl Future<Output = Result<Option<DocRecord>, StoreError>> + Send;
    /// One page of the API's documents by name, with how many it has.
    fn list_docs(&self, api_id: &str, limit: i64, offset: i64) -> impl Future<Output = Result<(Vec<DocRecord>, i64), StoreError>> + Send;
    fn doc_content(&self, api_id: &str, id: &str) -> impl Future<Output = Result<Option<DocContent>, StoreError>> + Send;

    /// Sets the API's thumbnail (replacing any).
    fn set_thumbnail(&self, api_id: &str, media_type: &str, bytes: &[u8], now: i64) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// `(media type, bytes)`.
    fn thumbnail(&self, api_id: &str) -> impl Future<Output = Result<Option<(String, Vec<u8>)>, StoreError>> + Send;
    /// Which of these APIs have a thumbnail (one query for a page of APIs).
    fn with_thumbnails(&self, api_ids: &[String]) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;
}

const DOC_COLUMNS: &str = "id, api_id, name, document, created_at, updated_at";

macro_rules! doc_from_row {
    ($r:expr) => {{
        let r = $r;
        DocRecord {
            id: r.try_get(0)?,
            api_id: r.try_get(1)?,
            name: r.try_get(2)?,
            document: r.try_get(3)?,
            created_at: r.try_get(4)?,
            updated_at: r.try_get(5)?,
        }
    }};
}

/// The content columns' values: inline text, file bytes, media type, file name.
type ContentColumns = (Option<String>, Option<Vec<u8>>, Option<String>, Option<String>);

fn columns_of(content: Option<&DocContent>) -> ContentColumns {
    match content {
        None => (None, None, None, None),
        Some(DocContent::Text(t)) => (Some(t.clone()), None, None, None),
        Some(DocContent::File { media_type, file_name, bytes }) => {
            (None, Some(bytes.clone()), Some(media_type.clone()), Some(file_name.clone()))
        }
    }
}

fn conflict(e: sqlx::Error, doc: &DocRecord) -> StoreError {
    map_unique(e, || format!("a document named `{}` of this API", doc.name))
}

impl ContentStore for Db {
    async fn create_doc(&self, doc: &DocRecord, content: Option<&DocContent>) -> Result<(), StoreError> {
        let q = sql(
            self,
            "INSERT INTO am_api_doc (id, api_id, name, document, inline_text, file_content, media_type, file_name, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            "INSERT INTO am_api_doc (id, api_id, name, document, inline_text, file_content, media_type, file_name, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        );
        let (text, bytes, media_type, file_name) = columns_of(content);
        per_backend!(self, |p| {
            sqlx::query(q)
                .bind(&doc.id)
                .bind(&doc.api_id)
                .bind(&doc.name)
                .bind(&doc.document)
                .bind(&text)
                .bind(&bytes)
                .bind(&media_type)
                .bind(&file_name)
                .bind(doc.created_at)
                .bind(doc.updated_at)
                .execute(p)
                .await
                .map_err(|e| conflict(e, doc))?;
        });
        Ok(())
    }

    async fn update_doc(&self, doc: &DocRecord, content: Option<Option<&DocContent>>) -> Result<bool, StoreError> {
        let meta = sql(
            self,
            "UPDATE am_api_doc SET name = ?, document = ?, updated_at = ? WHERE api_id = ? AND id = ?",
            "UPDATE am_api_doc SET name = $1, document = $2, updated_at = $3 WHERE api_id = $4 AND id = $5",
        );
        let body = sql(
            self,
            "UPDATE am_api_doc SET inline_text = ?, file_content = ?, media_type = ?, file_name = ? WHERE api_id = ? AND id = ?",
            "UPDATE am_api_doc SET inline_text = $1, file_content = $2, media_type = $3, file_name = $4 WHERE api_id = $5 AND id = $6",
        );
        per_backend!(self, |p| {
            let mut tx = p.begin_write().await?;
            let n = sqlx::query(meta)
                .bind(&doc.name)
                .bind(&doc.document)
                .bind(doc.updated_at)
                .bind(&doc.api_id)
                .bind(&doc.id)
                .execute(&mut *tx)
                .await
                .map_err(|e| conflict(e, doc))?
                .rows_affected();
            if n == 0 {
                return Ok(false);
            }
            if let Some(content) = content {
                let (text, bytes, media_type, file_name) = columns_of(content);
                sqlx::query(body)
                    .bind(&text)
                    .bind(&bytes)
                    .bind(&media_type)
                    .bind(&file_name)
                    .bind(&doc.api_id)
                    .bind(&doc.id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(true)
        })
    }

    async fn delete_doc(&self, api_id: &str, id: &str) -> Result<bool, StoreError> {
        let q = sql(self, "DELETE FROM am_api_doc WHERE api_id = ? AND id = ?", "DELETE FROM am_api_doc WHERE api_id = $1 AND id = $2");
        per_backend!(self, |p| { Ok(sqlx::query(q).bind(api_id).bind(id).execute(p).await?.rows_affected() > 0) })
    }

    async fn get_doc(&self, api_id: &str, id: &str) -> Result<Option<DocRecord>, StoreError> {
        let q = match self {
            Db::Postgres(_) => "SELECT id, api_id, name, document, created_at, updated_at FROM am_api_doc WHERE api_id = $1 AND id = $2",
            _ => "SELECT id, api_id, name, document, created_at, updated_at FROM am_api_doc WHERE api_id = ? AND id = ?",
        };
        per_backend!(self, |p| {
            match sqlx::query(q).bind(api_id).bind(id).fetch_optional(p).await? {
                Some(r) => Ok(Some(doc_from_row!(r))),
                None => Ok(None),
            }
        })
    }

    async fn doc_named(&self, api_id: &str, name: &str) -> Result<Option<DocRecord>, StoreError> {
        let q = match self {
            Db::Postgres(_) => "SELECT id, api_id, name, document, created_at, updated_at FROM am_api_doc WHERE api_id = $1 AND name = $2",
            _ => "SELECT id, api_id, name, document, created_at, updated_at FROM am_api_doc WHERE api_id = ? AND name = ?",
        };
        per_backend!(self, |p| {
            match sqlx::query(q).bind(api_id).bind(name).fetch_optional(p).await? {
                Some(r) => Ok(Some(doc_from_row!(r))),
                None => Ok(None),
            }
        })
    }

    async fn list_docs(&self, api_id: &str, limit: i64, offset: i64) -> Result<(Vec<DocRecord>, i64), StoreError> {
        let count = sql(self, "SELECT COUNT(*) FROM am_api_doc WHERE api_id = ?", "SELECT COUNT(*) FROM am_api_doc WHERE api_id = $1");
        let ph = if matches!(self, Db::Postgres(_)) { "$1" } else { "?" };
        let page = format!(
            "SELECT {DOC_COLUMNS} FROM am_api_doc WHERE api_id = {ph} ORDER BY name, id LIMIT {} OFFSET {}",
            limit.max(0),
            offset.max(0)
        );
        per_backend!(self, |p| {
            let total: i64 = sqlx::query(count).bind(api_id).fetch_one(p).await?.try_get(0)?;
            let mut out = Vec::new();
            for r in sqlx::query(sqlx::AssertSqlSafe(page.clone())).bind(api_id).fetch_all(p).await? {
                out.push(doc_from_row!(r));
            }
            Ok((out, total))
        })
    }

    async fn doc_content(&self, api_id: &str, id: &str) -> Result<Option<DocContent>, StoreError> {
        let q = sql(
            self,
            "SELECT inline_text, file_content, media_type, file_name FROM am_api_doc WHERE api_id = ? AND id = ?",
            "SELECT inline_text, file_content, media_type, file_name FROM am_api_doc WHERE api_id = $1 AND id = $2",
        );
        let row: Option<ContentColumns> = per_backend!(self, |p| {
            match sqlx::query(q).bind(api_id).bind(id).fetch_optional(p).await? {
                Some(r) => Some((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)),
                None => None,
            }
        });
        Ok(match row {
            Some((Some(text), _, _, _)) => Some(DocContent::Text(text)),
            Some((None, Some(bytes), media_type, file_name)) => Some(DocContent::File {
                media_type: media_type.unwrap_or_else(|| "application/octet-stream".into()),
                file_name: file_name.unwrap_or_default(),
                bytes,
            }),
            _ => None,
        })
    }

    async fn set_thumbnail(&self, api_id: &str, media_type: &str, bytes: &[u8], now: i64) -> Result<(), StoreError> {
        let q = match self {
            Db::Sqlite(_) => {
                "INSERT INTO am_api_thumbnail (api_id, media_type, content, updated_at) VALUES (?, ?, ?, ?) \
                 ON CONFLICT (api_id) DO UPDATE SET media_type = excluded.media_type, content = excluded.content, updated_at = excluded.updated_at"
            }
            Db::Postgres(_) => {
                "INSERT INTO am_api_thumbnail (api_id, media_type, content, updated_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (api_id) DO UPDATE SET media_type = EXCLUDED.media_type, content = EXCLUDED.content, updated_at = EXCLUDED.updated_at"
            }
            Db::MySql(_) => {
                "INSERT INTO am_api_thumbnail (api_id, media_type, content, updated_at) VALUES (?, ?, ?, ?) \
                 ON DUPLICATE KEY UPDATE media_type = VALUES(media_type), content = VALUES(content), updated_at = VALUES(updated_at)"
            }
        };
        per_backend!(self, |p| {
            sqlx::query(q).bind(api_id).bind(media_type).bind(bytes).bind(now).execute(p).await?;
        });
        Ok(())
    }

    async fn thumbnail(&self, api_id: &str) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        let q = sql(
            self,
            "SELECT media_type, content FROM am_api_thumbnail WHERE api_id = ?",
            "SELECT media_type, content FROM am_api_thumbnail WHERE api_id = $1",
        );
        per_backend!(self, |p| {
            match sqlx::query(q).bind(api_id).fetch_optional(p).await? {
                Some(r) => Ok(Some((r.try_get(0)?, r.try_get(1)?))),
                None => Ok(None),
            }
        })
    }

    async fn with_thumbnails(&self, api_ids: &[String]) -> Result<Vec<String>, StoreError> {
        if api_ids.is_empty() {
            return Ok(Vec::new());
        }
        let pg = matches!(self, Db::Postgres(_));
        let marks: Vec<String> = (1..=api_ids.len()).map(|i| if pg { format!("${i}") } else { "?".into() }).collect();
        let q = format!("SELECT api_id FROM am_api_thumbnail WHERE api_id IN ({})", marks.join(", "));
        per_backend!(self, |p| {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(q.clone()));
            for id in api_ids {
                query = query.bind(id.clone());
            }
            let mut out = Vec::new();
            for r in query.fetch_all(p).await? {
                out.push(r.try_get(0)?);
            }
            Ok(out)
        })
    }
}
