//! An API project imported whole (`POST /apis/import`): the API created or replaced, its documents and thumbnail,
//! a revision and its deployments, written in one transaction with their events, so an import either completes or
//! leaves nothing changed.

use std::future::Future;

use apim_domain::api::{ApiRecord, Deployment, EventDraft, LifecycleEntry, Revision};
use sqlx::Row;

use crate::content::{DocContent, DocRecord};
use crate::db::Db;
use crate::error::StoreError;
use crate::search::write_labels;
use crate::user::BeginWrite;
use crate::user::{map_unique, per_backend, sql, write_events};

/// Everything one import writes.
#[derive(Clone, Debug)]
pub struct ApiImport {
    pub api: ApiRecord,
    /// Replace this stored API (the same id; `overwrite`), else create `api`.
    pub replace: bool,
    /// The API's documents after the import (a replaced API's others are deleted).
    pub docs: Vec<(DocRecord, Option<DocContent>)>,
    /// `(media type, bytes)`; `None` keeps a replaced API's thumbnail.
    pub thumbnail: Option<(String, Vec<u8>)>,
    /// A lifecycle state change to record (an imported state other than the one it had).
    pub lifecycle: Option<LifecycleEntry>,
    /// A revision to add (numbered after the highest), and where to deploy it.
    pub revision: Option<Revision>,
    pub deployments: Vec<Deployment>,
    /// A revision to delete first, undeployed from wherever it is (`rotateRevision` at the limit).
    pub drop_revision: Option<String>,
    /// The most revisions an API may have.
    pub max_revisions: i64,
    /// The API's own operation policies the project brought (new ones: those it has are kept).
    pub policies: Vec<crate::OperationPolicyRecord>,
    /// Endpoint certificates the project brought whose aliases are new here (their events are in `events`).
    pub endpoint_certificates: Vec<crate::EndpointCertificateRecord>,
    pub events: Vec<EventDraft>,
}

pub trait ImportStore: Send + Sync {
    /// Writes the import in one transaction; the revision as stored (with its number) when one was added.
    /// `Conflict` when the name or context is taken (as [`crate::ApiStore::create_api`] decides), when a document
    /// name repeats, or when the API has `max_revisions` already; `NotFound` when the API to replace is gone.
    fn import_api(&self, import: &ApiImport) -> impl Future<Output = Result<Option<Revision>, StoreError>> + Send;
    /// Every document of the API with its content, by name, in one query (what an export writes).
    fn docs_with_content(&self, api_id: &str) -> impl Future<Output = Result<Vec<(DocRecord, Option<DocContent>)>, StoreError>> + Send;
}

impl ImportStore for Db {
    async fn import_api(&self, im: &ApiImport) -> Result<Option<Revision>, StoreError> {
        let api = &im.api;
        let new = crate::api::new_api_sql(self);
        let update = sql(
            self,
            "UPDATE am_api SET provider = ?, status = ?, api_type = ?, document = ?, updated_at = ? WHERE id = ?",
            "UPDATE am_api SET provider = $1, status = $2, api_type = $3, document = $4, updated_at = $5 WHERE id = $6",
        );
        let del_docs = sql(self, "DELETE FROM am_api_doc WHERE api_id = ?", "DELETE FROM am_api_doc WHERE api_id = $1");
        let ins_doc = sql(
            self,
            "INSERT INTO am_api_doc (id, api_id, name, document, inline_text, file_content, media_type, file_name, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            "INSERT INTO am_api_doc (id, api_id, name, document, inline_text, file_content, media_type, file_name, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        );
        let del_thumb = sql(self, "DELETE FROM am_api_thumbnail WHERE api_id = ?", "DELETE FROM am_api_thumbnail WHERE api_id = $1");
        let ins_thumb = sql(
            self,
            "INSERT INTO am_api_thumbnail (api_id, media_type, content, updated_at) VALUES (?, ?, ?, ?)",
            "INSERT INTO am_api_thumbnail (api_id, media_type, content, updated_at) VALUES ($1, $2, $3, $4)",
        );
        let hist = sql(
            self,
            "INSERT INTO am_api_lc_event (api_id, previous_state, new_state, username, event_time) VALUES (?, ?, ?, ?, ?)",
            "INSERT INTO am_api_lc_event (api_id, previous_state, new_state, username, event_time) VALUES ($1, $2, $3, $4, $5)",
        );
        let undeploy_rev = sql(
            self,
            "DELETE FROM am_deployment WHERE api_id = ? AND revision_id = ?",
            "DELETE FROM am_deployment WHERE api_id = $1 AND revision_id = $2",
        );
        let del_rev =
            sql(self, "DELETE FROM am_revision WHERE api_id = ? AND id = ?", "DELETE FROM am_revision WHERE api_id = $1 AND id = $2");
        let count = sql(
            self,
            "SELECT COUNT(*), COALESCE(MAX(number), 0) FROM am_revision WHERE api_id = ?",
            "SELECT COUNT(*), COALESCE(MAX(number), 0) FROM am_revision WHERE api_id = $1",
        );
        let ins_rev = sql(
            self,
            "INSERT INTO am_revision (id, api_id, number, description, document, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            "INSERT INTO am_revision (id, api_id, number, description, document, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        );
        let del_dep = sql(
            self,
            "DELETE FROM am_deployment WHERE api_id = ? AND environment = ?",
            "DELETE FROM am_deployment WHERE api_id = $1 AND environment = $2",
        );
        let ins_policy = crate::operation_policy::insert_sql(self);
        let ins_cert = crate::certificate::insert_sql(self);
        let ins_dep = sql(
            self,
            "INSERT INTO am_deployment (api_id, environment, revision_id, vhost, display_on_devportal, deployed_at) VALUES (?, ?, ?, ?, ?, ?)",
            "INSERT INTO am_deployment (api_id, environment, revision_id, vhost, display_on_devportal, deployed_at) VALUES ($1, $2, $3, $4, $5, $6)",
        );
        per_backend!(self, |p| {
            let mut tx = p.begin_write().await?;
            if im.replace {
                let n = sqlx::query(update)
                    .bind(&api.provider)
                    .bind(api.status.as_str())
                    .bind(&api.api_type)
                    .bind(&api.document)
                    .bind(api.updated_at)
                    .bind(&api.id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if n == 0 {
                    return Err(StoreError::NotFound { what: format!("API {}", api.id) });
                }
                sqlx::query(del_docs).bind(&api.id).execute(&mut *tx).await?;
            } else {
                crate::api::insert_new_api!(tx, new, api);
            }
            write_labels!(tx, self, &api.id);
            for p in &im.policies {
                sqlx::query(ins_policy)
                    .bind(&p.id)
                    .bind(&api.id)
                    .bind(&p.name)
                    .bind(&p.version)
                    .bind(&p.specification)
                    .bind(&p.synapse_definition)
                    .bind(&p.cc_definition)
                    .bind(p.created_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| map_unique(e, || format!("an operation policy `{}` version `{}` of this API", p.name, p.version)))?;
            }
            for c in &im.endpoint_certificates {
                sqlx::query(ins_cert)
                    .bind(&c.alias)
                    .bind(&c.endpoint)
                    .bind(&c.certificate)
                    .bind(c.created_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| map_unique(e, || format!("an endpoint certificate with the alias `{}`", c.alias)))?;
            }
            for (doc, content) in &im.docs {
                let (text, bytes, media_type, file_name) = match content {
                    None => (None, None, None, None),
                    Some(DocContent::Text(t)) => (Some(t.as_str()), None, None, None),
                    Some(DocContent::File { media_type, file_name, bytes }) => {
                        (None, Some(bytes.as_slice()), Some(media_type.as_str()), Some(file_name.as_str()))
                    }
                };
                sqlx::query(ins_doc)
                    .bind(&doc.id)
                    .bind(&api.id)
                    .bind(&doc.name)
                    .bind(&doc.document)
                    .bind(text)
                    .bind(bytes)
                    .bind(media_type)
                    .bind(file_name)
                    .bind(doc.created_at)
                    .bind(doc.updated_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| map_unique(e, || format!("a document named `{}` of this API", doc.name)))?;
            }
            if let Some((media_type, bytes)) = &im.thumbnail {
                sqlx::query(del_thumb).bind(&api.id).execute(&mut *tx).await?;
                sqlx::query(ins_thumb).bind(&api.id).bind(media_type).bind(bytes.as_slice()).bind(api.updated_at).execute(&mut *tx).await?;
            }
            if let Some(entry) = &im.lifecycle {
                sqlx::query(hist)
                    .bind(&api.id)
                    .bind(&entry.previous_state)
                    .bind(&entry.new_state)
                    .bind(&entry.username)
                    .bind(entry.time)
                    .execute(&mut *tx)
                    .await?;
            }
            if let Some(old) = &im.drop_revision {
                sqlx::query(undeploy_rev).bind(&api.id).bind(old).execute(&mut *tx).await?;
                sqlx::query(del_rev).bind(&api.id).bind(old).execute(&mut *tx).await?;
            }
            let mut stored = None;
            if let Some(rev) = &im.revision {
                let row = sqlx::query(count).bind(&api.id).fetch_one(&mut *tx).await?;
                let (n, highest): (i64, i64) =
                    (row.try_get(0)?, row.try_get::<i64, _>(1).or_else(|_| row.try_get::<i32, _>(1).map(i64::from))?);
                if n >= im.max_revisions {
                    return Err(StoreError::Conflict {
                        what: format!(
                            "the maximum of {} revisions for this API (import with rotateRevision=true, or delete one first); a revision",
                            im.max_revisions
                        ),
                    });
                }
                let mut out = rev.clone();
                out.number = highest + 1;
                sqlx::query(ins_rev)
                    .bind(&out.id)
                    .bind(&api.id)
                    .bind(out.number)
                    .bind(&out.description)
                    .bind(&out.document)
                    .bind(out.created_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| map_unique(e, || "a revision with this number".to_string()))?;
                stored = Some(out);
            }
            for d in &im.deployments {
                sqlx::query(del_dep).bind(&d.api_id).bind(&d.environment).execute(&mut *tx).await?;
                sqlx::query(ins_dep)
                    .bind(&d.api_id)
                    .bind(&d.environment)
                    .bind(&d.revision_id)
                    .bind(&d.vhost)
                    .bind(i32::from(d.display_on_devportal))
                    .bind(d.deployed_at)
                    .execute(&mut *tx)
                    .await?;
            }
            write_events!(tx, self, &im.events);
            tx.commit().await?;
            Ok(stored)
        })
    }

    async fn docs_with_content(&self, api_id: &str) -> Result<Vec<(DocRecord, Option<DocContent>)>, StoreError> {
        let q = sql(
            self,
            "SELECT id, api_id, name, document, created_at, updated_at, inline_text, file_content, media_type, file_name \
             FROM am_api_doc WHERE api_id = ? ORDER BY name",
            "SELECT id, api_id, name, document, created_at, updated_at, inline_text, file_content, media_type, file_name \
             FROM am_api_doc WHERE api_id = $1 ORDER BY name",
        );
        per_backend!(self, |p| {
            let mut out = Vec::new();
            for r in sqlx::query(q).bind(api_id).fetch_all(p).await? {
                let doc = DocRecord {
                    id: r.try_get(0)?,
                    api_id: r.try_get(1)?,
                    name: r.try_get(2)?,
                    document: r.try_get(3)?,
                    created_at: r.try_get(4)?,
                    updated_at: r.try_get(5)?,
                };
                let (text, bytes): (Option<String>, Option<Vec<u8>>) = (r.try_get(6)?, r.try_get(7)?);
                let content = match (text, bytes) {
                    (Some(t), _) => Some(DocContent::Text(t)),
                    (None, Some(bytes)) => Some(DocContent::File {
                        media_type: r.try_get::<Option<String>, _>(8)?.unwrap_or_else(|| "application/octet-stream".into()),
                        file_name: r.try_get::<Option<String>, _>(9)?.unwrap_or_default(),
                        bytes,
                    }),
                    (None, None) => None,
                };
                out.push((doc, content));
            }
            Ok(out)
        })
    }
}
