//! Applications, their key mappings and subscriptions. Mutations write their events in the same transaction.

use std::future::Future;

use apim_domain::api::{ApplicationRecord, EventDraft, KeyMapping, SubscriptionRecord, SubscriptionStatus};
use sqlx::Row;

use crate::db::Db;
use crate::error::StoreError;
use crate::user::BeginWrite;
use crate::user::{map_unique, per_backend, sql, write_events};

pub trait ApplicationStore: Send + Sync {
    fn create_application(&self, app: &ApplicationRecord, events: &[EventDraft]) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn update_application(&self, app: &ApplicationRecord, events: &[EventDraft]) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// [`ApplicationStore::update_application`] only if the stored row is still `prior` (name, owner, policy,
    /// token type, document): false when another change came first.
    fn update_application_if(
        &self,
        app: &ApplicationRecord,
        prior: &ApplicationRecord,
        events: &[EventDraft],
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Gives the application to `app.owner`; `Conflict` if the new owner already has one of that name.
    fn change_application_owner(
        &self,
        app: &ApplicationRecord,
        events: &[EventDraft],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Deletes the application with its subscriptions and key mappings; returns the key mappings it had (their
    /// OAuth clients are the caller's to remove), or `None` if it did not exist.
    fn delete_application(
        &self,
        id: &str,
        events: &[EventDraft],
    ) -> impl Future<Output = Result<Option<Vec<KeyMapping>>, StoreError>> + Send;
    fn get_application(&self, id: &str) -> impl Future<Output = Result<Option<ApplicationRecord>, StoreError>> + Send;
    /// An owner's applications (all when `owner` is `None`), by name.
    fn list_applications(&self, owner: Option<&str>) -> impl Future<Output = Result<Vec<ApplicationRecord>, StoreError>> + Send;

    /// `Conflict` if the application already has keys of this type at this key manager.
    fn add_key_mapping(&self, km: &KeyMapping, events: &[EventDraft]) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn key_mappings(&self, application_id: &str) -> impl Future<Output = Result<Vec<KeyMapping>, StoreError>> + Send;
    /// Replaces a key mapping's document (grant types, callback URL); false when it is gone.
    fn set_key_mapping_document(&self, id: &str, document: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Removes a key mapping; false when it is gone.
    fn remove_key_mapping(&self, id: &str, events: &[EventDraft]) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Every application's key mappings: what gateways resolve consumer keys with.
    fn all_key_mappings(&self) -> impl Future<Output = Result<Vec<KeyMapping>, StoreError>> + Send;

    /// `Conflict` if the application is already subscribed to the API.
    fn create_subscription(&self, sub: &SubscriptionRecord, events: &[EventDraft]) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn delete_subscription(&self, id: &str, events: &[EventDraft]) -> impl Future<Output = Result<bool, StoreError>> + Send;
    fn get_subscription(&self, id: &str) -> impl Future<Output = Result<Option<SubscriptionRecord>, StoreError>> + Send;
    /// Moves the subscription to another throttling policy (a business plan); false when it is gone.
    fn set_subscription_policy(
        &self,
        id: &str,
        policy: &str,
        events: &[EventDraft],
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    fn set_subscription_status(
        &self,
        id: &str,
        status: &SubscriptionStatus,
        events: &[EventDraft],
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// How many subscriptions in force each subscription policy (business plan) has, by policy name, counted in one
    /// query: UNBLOCKED, PROD_ONLY_BLOCKED (sandbox keys still pass) and TIER_UPDATE_PENDING (still served on its
    /// plan); BLOCKED, ON_HOLD and REJECTED ones serve no traffic. Policies without any are left out.
    fn subscription_counts_by_policy(&self) -> impl Future<Output = Result<Vec<(String, i64)>, StoreError>> + Send;
    /// Subscriptions of an application and/or of an API.
    fn list_subscriptions(
        &self,
        application_id: Option<&str>,
        api_id: Option<&str>,
    ) -> impl Future<Output = Result<Vec<SubscriptionRecord>, StoreError>> + Send;
}

macro_rules! app_from_row {
    ($r:expr) => {{
        let r = $r;
        ApplicationRecord {
            id: r.try_get(0)?,
            name: r.try_get(1)?,
            owner: r.try_get(2)?,
            throttling_policy: r.try_get(3)?,
            token_type: r.try_get(4)?,
            document: r.try_get(5)?,
            created_at: r.try_get(6)?,
        }
    }};
}

macro_rules! sub_from_row {
    ($r:expr) => {{
        let r = $r;
        SubscriptionRecord {
            id: r.try_get(0)?,
            api_id: r.try_get(1)?,
            application_id: r.try_get(2)?,
            policy: r.try_get(3)?,
            status: r.try_get::<String, _>(4)?.into(),
            created_at: r.try_get(5)?,
        }
    }};
}

impl ApplicationStore for Db {
    async fn create_application(&self, app: &ApplicationRecord, events: &[EventDraft]) -> Result<(), StoreError> {
        let q = sql(
            self,
            "INSERT INTO am_application (id, name, owner, throttling_policy, token_type, document, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            "INSERT INTO am_application (id, name, owner, throttling_policy, token_type, document, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        );
        per_backend!(self, |p| {
            let mut tx = p.begin_write().await?;
            sqlx::query(q)
                .bind(&app.id)
                .bind(&app.name)
                .bind(&app.owner)
                .bind(&app.throttling_policy)
                .bind(&app.token_type)
                .bind(&app.document)
                .bind(app.created_at)
                .execute(&mut *tx)
                .await
                .map_err(|e| map_unique(e, || format!("an application named `{}` of {}", app.name, app.owner)))?;
            write_events!(tx, self, events);
            tx.commit().await?;
        });
        Ok(())
    }

    async fn update_application(&self, app: &ApplicationRecord, events: &[EventDraft]) -> Result<(), StoreError> {
        let q = sql(
            self,
            "UPDATE am_application SET name = ?, throttling_policy = ?, token_type = ?, document = ? WHERE id = ?",
            "UPDATE am_application SET name = $1, throttling_policy = $2, token_type = $3, document = $4 WHERE id = $5",
        );
        per_backend!(self, |p| {
            let mut tx = p.begin_write().await?;
            let n = sqlx::query(q)
                .bind(&app.name)
                .bind(&app.throttling_policy)
                .bind(&app.token_type)
                .bind(&app.document)
                .bind(&app.id)
                .execute(&mut *tx)
                .await
                .map_err(|e| map_unique(e, || format!("an application named `{}` of {}", app.name, app.owner)))?
                .rows_affected();
            if n == 0 {
                return Err(StoreError::NotFound { what: format!("application {}", app.id) });
            }
            write_events!(tx, self, events);
            tx.commit().await?;
        });
        Ok(())
    }

    async fn update_application_if(
        &self,
        app: &ApplicationRecord,
        prior: &ApplicationRecord,
        events: &[EventDraft],
    ) -> Result<bool, StoreError> {
        let q = sql(
            self,
            "UPDATE am_application SET name = ?, throttling_policy = ?, token_type = ?, document = ? \
             WHERE id = ? AND name = ? AND owner = ? AND throttling_policy = ? AND token_type = ? AND document = ?",
            "UPDATE am_application SET name = $1, throttling_policy = $2, token_type = $3, document = $4 \
             WHERE id = $5 AND name = $6 AND owner = $7 AND throttling_policy = $8 AND token_type = $9 AND document = $10",
        );
        per_backend!(self, |p| {
            let mut tx = p.begin_write().await?;
            let n = sqlx::query(q)
                .bind(&app.name)
                .bind(&app.throttling_policy)
                .bind(&app.token_type)
                .bind(&app.document)
                .bind(&app.id)
                .bind(&prior.name)
                .bind(&prior.owner)
                .bind(&prior.throttling_policy)
                .bind(&prior.token_type)
                .bind(&prior.document)
                .execute(&mut *tx)
                .await
                .map_err(|e| map_unique(e, || format!("an application named `{}` of {}", app.name, app.owner)))?
                .rows_affected();
            if n == 0 {
                return Ok(false);
            }
            write_events!(tx, self, events);
            tx.commit().await?;
            Ok(true)
        })
    }

    async fn change_application_owner(&self, app: &ApplicationRecord, events: &[EventDraft]) -> Result<(), StoreError> {
        let q = sql(self, "UPDATE am_application SET owner = ? WHERE id = ?", "UPDATE am_application SET owner = $1 WHERE id = $2");
        per_backend!(self, |p| {
            let mut tx = p.begin_write().await?;
            let n = sqlx::query(q)
                .bind(&app.owner)
                .bind(&app.id)
                .execute(&mut *tx)
                .await
                .map_err(|e| map_unique(e, || format!("an application named `{}` of {}", app.name, app.owner)))?
                .rows_affected();
            if n == 0 {
                return Err(StoreError::NotFound { what: format!("application {}", app.id) });
            }
            write_events!(tx, self, events);
            tx.commit().await?;
        });
        Ok(())
    }

    async fn delete_application(&self, id: &str, events: &[EventDraft]) -> Result<Option<Vec<KeyMapping>>, StoreError> {
        let keys = self.key_mappings(id).await?;
        let stmts: [&str; 3] = if matches!(self, Db::Postgres(_)) {
            [
                "DELETE FROM am_subscription WHERE application_id = $1",
                "DELETE FROM am_key_mapping WHERE application_id = $1",
                "DELETE FROM am_application WHERE id = $1",
            ]
        } else {
            [
                "DELETE FROM am_subscription WHERE application_id = ?",
                "DELETE FROM am_key_mapping WHERE application_id = ?",
                "DELETE FROM am_application WHERE id = ?",
            ]
        };
        per_backend!(self, |p| {
            let mut tx = p.begin_write().await?;
            let mut n = 0;
            for s in stmts {
                n = sqlx::query(s).bind(id).execute(&mut *tx).await?.rows_affected();
            }
            if n == 0 {
                return Ok(None);
            }
            write_events!(tx, self, events);
            tx.commit().await?;
        });
        Ok(Some(keys))
    }

    async fn get_application(&self, id: &str) -> Result<Option<ApplicationRecord>, StoreError> {
        let q = sql(
            self,
            "SELECT id, name, owner, throttling_policy, token_type, document, created_at FROM am_application WHERE id = ?",
            "SELECT id, name, owner, throttling_policy, token_type, document, created_at FROM am_application WHERE id = $1",
        );
        per_backend!(self, |p| {
            match sqlx::query(q).bind(id).fetch_optional(p).await? {
                Some(r) => Ok(Some(app_from_row!(r))),
                None => Ok(None),
            }
        })
    }

    async fn list_applications(&self, owner: Option<&str>) -> Result<Vec<ApplicationRecord>, StoreError> {
        let q = match (owner.is_some(), matches!(self, Db::Postgres(_))) {
            (true, true) => {
                "SELECT id, name, owner, throttling_policy, token_type, document, created_at FROM am_application WHERE owner = $1 ORDER BY name"
            }
            (true, false) => {
                "SELECT id, name, owner, throttling_policy, token_type, document, created_at FROM am_application WHERE owner = ? ORDER BY name"
            }
            (false, _) => {
                "SELECT id, name, owner, throttling_policy, token_type, document, created_at FROM am_application ORDER BY owner, name"
            }
        };
        per_backend!(self, |p| {
            let mut query = sqlx::query(q);
            if let Some(o) = owner {
                query = query.bind(o.to_string());
            }
            let mut out = Vec::new();
            for r in query.fetch_all(p).await? {
                out.push(app_from_row!(r));
            }
            Ok(out)
        })
    }

    async fn add_key_mapping(&self, km: &KeyMapping, events: &[EventDraft]) -> Result<(), StoreError> {
        let q = sql(
            self,
            "INSERT INTO am_key_mapping (id, application_id, key_type, key_manager, consumer_key, document, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            "INSERT INTO am_key_mapping (id, application_id, key_type, key_manager, consumer_key, document, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        );
        per_backend!(self, |p| {
            let mut tx = p.begin_write().await?;
            sqlx::query(q)
                .bind(&km.id)
                .bind(&km.application_id)
                .bind(&km.key_type)
                .bind(&km.key_manager)
                .bind(&km.consumer_key)
                .bind(&km.document)
                .bind(km.created_at)
                .execute(&mut *tx)
                .await
                .map_err(|e| map_unique(e, || format!("{} keys for this application", km.key_type)))?;
            write_events!(tx, self, events);
            tx.commit().await?;
        });
        Ok(())
    }

    async fn set_key_mapping_document(&self, id: &str, document: &str) -> Result<bool, StoreError> {
        let q = sql(self, "UPDATE am_key_mapping SET document = ? WHERE id = ?", "UPDATE am_key_mapping SET document = $1 WHERE id = $2");
        per_backend!(self, |p| { Ok(sqlx::query(q).bind(document).bind(id).execute(p).await?.rows_affected() > 0) })
    }

    async fn remove_key_mapping(&self, id: &str, events: &[EventDraft]) -> Result<bool, StoreError> {
        let q = sql(self, "DELETE FROM am_key_mapping WHERE id = ?", "DELETE FROM am_key_mapping WHERE id = $1");
        per_backend!(self, |p| {
            let mut tx = p.begin_write().await?;
            if sqlx::query(q).bind(id).execute(&mut *tx).await?.rows_affected() == 0 {
                return Ok(false);
            }
            write_events!(tx, self, events);
            tx.commit().await?;
            Ok(true)
        })
    }

    async fn key_mappings(&self, application_id: &str) -> Result<Vec<KeyMapping>, StoreError> {
        self.key_mappings_where(Some(application_id)).await
    }

    async fn all_key_mappings(&self) -> Result<Vec<KeyMapping>, StoreError> {
        self.key_mappings_where(None).await
    }

    async fn create_subscription(&self, sub: &SubscriptionRecord, events: &[EventDraft]) -> Result<(), StoreError> {
        let q = sql(
            self,
            "INSERT INTO am_subscription (id, api_id, application_id, policy, status, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            "INSERT INTO am_subscription (id, api_id, application_id, policy, status, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        );
        per_backend!(self, |p| {
            let mut tx = p.begin_write().await?;
            sqlx::query(q)
                .bind(&sub.id)
                .bind(&sub.api_id)
                .bind(&sub.application_id)
                .bind(&sub.policy)
                .bind(sub.status.as_str())
                .bind(sub.created_at)
                .execute(&mut *tx)
                .await
                .map_err(|e| map_unique(e, || "a subscription of this application to this API".to_string()))?;
            write_events!(tx, self, events);
            tx.commit().await?;
        });
        Ok(())
    }

    async fn delete_subscription(&self, id: &str, events: &[EventDraft]) -> Result<bool, StoreError> {
        let q = sql(self, "DELETE FROM am_subscription WHERE id = ?", "DELETE FROM am_subscription WHERE id = $1");
        per_backend!(self, |p| {
            let mut tx = p.begin_write().await?;
            if sqlx::query(q).bind(id).execute(&mut *tx).await?.rows_affected() == 0 {
                return Ok(false);
            }
            write_events!(tx, self, events);
            tx.commit().await?;
            Ok(true)
        })
    }

    async fn get_subscription(&self, id: &str) -> Result<Option<SubscriptionRecord>, StoreError> {
        let q = sql(
            self,
            "SELECT id, api_id, application_id, policy, status, created_at FROM am_subscription WHERE id = ?",
            "SELECT id, api_id, application_id, policy, status, created_at FROM am_subscription WHERE id = $1",
        );
        per_backend!(self, |p| {
            match sqlx::query(q).bind(id).fetch_optional(p).await? {
                Some(r) => Ok(Some(sub_from_row!(r))),
                None => Ok(None),
            }
        })
    }

    async fn set_subscription_policy(&self, id: &str, policy: &str, events: &[EventDraft]) -> Result<bool, StoreError> {
        let q = sql(self, "UPDATE am_subscription SET policy = ? WHERE id = ?", "UPDATE am_subscription SET policy = $1 WHERE id = $2");
        per_backend!(self, |p| {
            let mut tx = p.begin_write().await?;
            if sqlx::query(q).bind(policy).bind(id).execute(&mut *tx).await?.rows_affected() == 0 {
                return Ok(false);
            }
            write_events!(tx, self, events);
            tx.commit().await?;
            Ok(true)
        })
    }

    async fn set_subscription_status(&self, id: &str, status: &SubscriptionStatus, events: &[EventDraft]) -> Result<bool, StoreError> {
        let q = sql(self, "UPDATE am_subscription SET status = ? WHERE id = ?", "UPDATE am_subscription SET status = $1 WHERE id = $2");
        per_backend!(self, |p| {
            let mut tx = p.begin_write().await?;
            if sqlx::query(q).bind(status.as_str()).bind(id).execute(&mut *tx).await?.rows_affected() == 0 {
                return Ok(false);
            }
            write_events!(tx, self, events);
            tx.commit().await?;
            Ok(true)
        })
    }

    async fn subscription_counts_by_policy(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let q = "SELECT policy, COUNT(*) FROM am_subscription WHERE status IN ('UNBLOCKED', 'PROD_ONLY_BLOCKED', 'TIER_UPDATE_PENDING') GROUP BY policy";
        per_backend!(self, |p| {
            let mut out = Vec::new();
            for r in sqlx::query(q).fetch_all(p).await? {
                out.push((r.try_get(0)?, r.try_get(1)?));
            }
            Ok(out)
        })
    }

    async fn list_subscriptions(&self, application_id: Option<&str>, api_id: Option<&str>) -> Result<Vec<SubscriptionRecord>, StoreError> {
        let pg = matches!(self, Db::Postgres(_));
        let mut clauses = Vec::new();
        let mut binds = Vec::new();
        if let Some(a) = application_id {
            binds.push(a.to_string());
            clauses.push(format!("application_id = {}", if pg { format!("${}", binds.len()) } else { "?".into() }));
        }
        if let Some(a) = api_id {
            binds.push(a.to_string());
            clauses.push(format!("api_id = {}", if pg { format!("${}", binds.len()) } else { "?".into() }));
        }
        let where_ = if clauses.is_empty() { String::new() } else { format!(" WHERE {}", clauses.join(" AND ")) };
        let text =
            format!("SELECT id, api_id, application_id, policy, status, created_at FROM am_subscription{where_} ORDER BY created_at, id");
        per_backend!(self, |p| {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(text.clone()));
            for b in &binds {
                q = q.bind(b.clone());
            }
            let mut out = Vec::new();
            for r in q.fetch_all(p).await? {
                out.push(sub_from_row!(r));
            }
            Ok(out)
        })
    }
}

impl Db {
    async fn key_mappings_where(&self, application_id: Option<&str>) -> Result<Vec<KeyMapping>, StoreError> {
        let q = sql(
            self,
            "SELECT id, application_id, key_type, key_manager, consumer_key, document, created_at FROM am_key_mapping WHERE ? IS NULL OR application_id = ? ORDER BY application_id, key_type",
            "SELECT id, application_id, key_type, key_manager, consumer_key, document, created_at FROM am_key_mapping WHERE $1::text IS NULL OR application_id = $1 ORDER BY application_id, key_type",
        );
        per_backend!(self, |p| {
            let mut out = Vec::new();
            let mut query = sqlx::query(q).bind(application_id);
            if !matches!(self, Db::Postgres(_)) {
                query = query.bind(application_id);
            }
            for r in query.fetch_all(p).await? {
                out.push(KeyMapping {
                    id: r.try_get(0)?,
                    application_id: r.try_get(1)?,
                    key_type: r.try_get(2)?,
                    key_manager: r.try_get(3)?,
                    consumer_key: r.try_get(4)?,
                    document: r.try_get(5)?,
                    created_at: r.try_get(6)?,
                });
            }
            Ok(out)
        })
    }
}
