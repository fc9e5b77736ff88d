//! Searching APIs with WSO2's query terms, paged in SQL, and the lookup rows that make it cheap: each API's tags,
//! categories, DevPortal visibility and visible roles (`am_api_label`), derived from its document and written
//! with it in the same transaction.

use std::future::Future;

use apim_domain::api::{ApiRecord, ApplicationRecord, SubscriptionRecord};
use sqlx::Row;

use crate::content::DocRecord;
use crate::db::Db;
use crate::error::StoreError;
use crate::user::{per_backend, sql};

/// One term of a search; terms are ANDed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiTerm {
    /// A case-insensitive part of the name.
    Name(String),
    /// A case-insensitive part of the context.
    Context(String),
    /// The version, exactly.
    Version(String),
    /// The provider, case-insensitively.
    Provider(String),
    /// One of these lifecycle states (upper case, as stored).
    Status(Vec<String>),
    /// A tag, case-insensitively.
    Tag(String),
    /// An API category's name, case-insensitively.
    Category(String),
    /// The API type (`HTTP`, `WS`, ...), case-insensitively.
    Type(String),
    /// Any type but this one.
    NotType(String),
    /// A case-insensitive part of anything the API's document says (and, in the Publisher, its documents).
    Content(String),
    /// An additional (custom) property: its name and value, both without regard to case. The DevPortal matches
    /// only properties marked `display`, the ones it shows.
    Property { name: String, value: String },
    /// The API names this key manager in its `keyManagers` (exactly; `all` is not counted).
    KeyManager(String),
}

/// Who is searching, which decides the APIs they may see.
#[derive(Clone, Copy, Debug)]
pub enum Audience<'a> {
    /// The Publisher: every API.
    Publisher,
    /// The DevPortal without credentials: published or prototyped PUBLIC APIs.
    Anonymous,
    /// The DevPortal signed in: PUBLIC and PRIVATE APIs, and RESTRICTED ones visible to one of `roles`.
    SignedIn { roles: &'a [String] },
    /// The DevPortal as an admin: every published or prototyped API.
    Admin,
}

/// WSO2's `sortBy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortBy {
    Name,
    Version,
    CreatedTime,
    Status,
}

/// WSO2's `sortBy` of applications.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppSortBy {
    Name,
    ThrottlingPolicy,
    CreatedTime,
    Owner,
}

/// A page of applications: one owner's, or everyone's.
#[derive(Clone, Debug)]
pub struct AppSearch<'a> {
    pub owner: Option<&'a str>,
    /// A case-insensitive part of the name.
    pub name: Option<&'a str>,
    pub sort_by: AppSortBy,
    pub descending: bool,
}

/// Subscriptions of an application, of an API, or both; `owner`: only those of this user's applications.
#[derive(Clone, Debug, Default)]
pub struct SubSearch<'a> {
    pub application_id: Option<&'a str>,
    pub api_id: Option<&'a str>,
    pub owner: Option<&'a str>,
}

/// A document found by a search, with the name, version and provider of its API.
#[derive(Clone, Debug)]
pub struct DocumentHit {
    pub document: DocRecord,
    pub api_name: String,
    pub api_version: String,
    pub api_provider: String,
}

/// The identifying columns of an API, for uniqueness checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiIdentity {
    pub id: String,
    pub name: String,
    pub version: String,
    pub context: String,
}

/// A subscription as lists show it: with its application's name and owner and its API (`None` if it is gone).
#[derive(Clone, Debug)]
pub struct SubscriptionRow {
    pub subscription: SubscriptionRecord,
    pub application_name: String,
    pub application_owner: String,
    pub api: Option<ApiRecord>,
}

#[derive(Clone, Debug)]
pub struct ApiSearch<'a> {
    pub terms: Vec<ApiTerm>,
    pub audience: Audience<'a>,
    pub sort_by: SortBy,
    pub descending: bool,
}

pub trait SearchStore: Send + Sync {
    /// One page of the APIs `search` matches, with how many match in all.
    fn search_apis(
        &self,
        search: &ApiSearch<'_>,
        limit: i64,
        offset: i64,
    ) -> impl Future<Output = Result<(Vec<ApiRecord>, i64), StoreError>> + Send;
    /// Every tag of the APIs `audience` may see in the DevPortal, with how many of them carry it, by tag.
    fn tags(&self, audience: Audience<'_>) -> impl Future<Output = Result<Vec<(String, i64)>, StoreError>> + Send;
    /// One page of applications, each with how many subscriptions it has, and how many match in all.
    fn search_applications(
        &self,
        search: &AppSearch<'_>,
        limit: i64,
        offset: i64,
    ) -> impl Future<Output = Result<(Vec<(ApplicationRecord, i64)>, i64), StoreError>> + Send;
    /// One page of the subscriptions `search` matches, oldest first, with their applications and APIs, and how
    /// many match in all.
    fn search_subscriptions(
        &self,
        search: &SubSearch<'_>,
        limit: i64,
        offset: i64,
    ) -> impl Future<Output = Result<(Vec<SubscriptionRow>, i64), StoreError>> + Send;
    /// One page of the documents (of any API) whose DTO or text holds every one of `words` (case-insensitively), by
    /// API and name, and how many do in all.
    fn search_documents(
        &self,
        words: &[String],
        limit: i64,
        offset: i64,
    ) -> impl Future<Output = Result<(Vec<DocumentHit>, i64), StoreError>> + Send;
    /// One page of the applications with keys from a key manager known by any of `key_managers` (its names), by
    /// name, and how many there are in all.
    fn applications_with_keys_from(
        &self,
        key_managers: &[&str],
        limit: i64,
        offset: i64,
    ) -> impl Future<Output = Result<(Vec<ApplicationRecord>, i64), StoreError>> + Send;
    /// How many APIs name each API category, by the category's name in lower case.
    fn category_usage(&self) -> impl Future<Output = Result<Vec<(String, i64)>, StoreError>> + Send;
    /// The APIs whose name is `name` or whose context is `context`, both compared without regard to case (at
    /// most 100, by name and version): what a new API's name and context must be checked against.
    fn apis_named_or_at(
        &self,
        name: Option<&str>,
        context: Option<&str>,
    ) -> impl Future<Output = Result<Vec<ApiIdentity>, StoreError>> + Send;
}

/// Statements that replace the labels of the API whose id they bind (once each), reading its stored document with
/// the dialect's JSON functions: tags, categories and visible roles (trimmed strings of at most 255 characters), and
/// set its `visibility` column (PUBLIC when the document names none). Migrations 0008 and 0014 ran the same over
/// every API.
const SQLITE_LABELS: [&str; 5] = [
    "DELETE FROM am_api_label WHERE api_id = ?",
    "INSERT OR IGNORE INTO am_api_label (api_id, kind, value) SELECT a.id, 'tag', TRIM(j.value) FROM am_api a, \
     json_each(a.document, '$.tags') j WHERE a.id = ? AND j.type = 'text' AND TRIM(j.value) <> '' AND LENGTH(j.value) <= 255",
    "INSERT OR IGNORE INTO am_api_label (api_id, kind, value) SELECT a.id, 'category', TRIM(j.value) FROM am_api a, \
     json_each(a.document, '$.categories') j WHERE a.id = ? AND j.type = 'text' AND TRIM(j.value) <> '' AND LENGTH(j.value) <= 255",
    "INSERT OR IGNORE INTO am_api_label (api_id, kind, value) SELECT a.id, 'role', TRIM(j.value) FROM am_api a, \
     json_each(a.document, '$.visibleRoles') j WHERE a.id = ? AND j.type = 'text' AND TRIM(j.value) <> '' AND LENGTH(j.value) <= 255",
    "UPDATE am_api SET visibility = UPPER(COALESCE(json_extract(document, '$.visibility'), 'PUBLIC')) WHERE id = ?",
];

const POSTGRES_LABELS: [&str; 5] = [
    "DELETE FROM am_api_label WHERE api_id = $1",
    "INSERT INTO am_api_label (api_id, kind, value) SELECT a.id, 'tag', TRIM(e.item #>> '{}') FROM am_api a \
     CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(a.document::jsonb -> 'tags') = 'array' \
     THEN a.document::jsonb -> 'tags' ELSE '[]'::jsonb END) AS e(item) WHERE a.id = $1 AND jsonb_typeof(e.item) = 'string' \
     AND TRIM(e.item #>> '{}') <> '' AND length(e.item #>> '{}') <= 255 ON CONFLICT DO NOTHING",
    "INSERT INTO am_api_label (api_id, kind, value) SELECT a.id, 'category', TRIM(e.item #>> '{}') FROM am_api a \
     CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(a.document::jsonb -> 'categories') = 'array' \
     THEN a.document::jsonb -> 'categories' ELSE '[]'::jsonb END) AS e(item) WHERE a.id = $1 AND jsonb_typeof(e.item) = 'string' \
     AND TRIM(e.item #>> '{}') <> '' AND length(e.item #>> '{}') <= 255 ON CONFLICT DO NOTHING",
    "INSERT INTO am_api_label (api_id, kind, value) SELECT a.id, 'role', TRIM(e.item #>> '{}') FROM am_api a \
     CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(a.document::jsonb -> 'visibleRoles') = 'array' \
     THEN a.document::jsonb -> 'visibleRoles' ELSE '[]'::jsonb END) AS e(item) WHERE a.id = $1 AND jsonb_typeof(e.item) = 'string' \
     AND TRIM(e.item #>> '{}') <> '' AND length(e.item #>> '{}') <= 255 ON CONFLICT DO NOTHING",
    "UPDATE am_api SET visibility = UPPER(COALESCE(document::jsonb ->> 'visibility', 'PUBLIC')) WHERE id = $1",
];

const MYSQL_LABELS: [&str; 5] = [
    "DELETE FROM am_api_label WHERE api_id = ?",
    "INSERT IGNORE INTO am_api_label (api_id, kind, value) SELECT a.id, 'tag', TRIM(j.v) FROM am_api a, \
     JSON_TABLE(a.document, '$.tags[*]' COLUMNS (v VARCHAR(1024) PATH '$')) AS j \
     WHERE a.id = ? AND j.v IS NOT NULL AND TRIM(j.v) <> '' AND CHAR_LENGTH(j.v) <= 255",
    "INSERT IGNORE INTO am_api_label (api_id, kind, value) SELECT a.id, 'category', TRIM(j.v) FROM am_api a, \
     JSON_TABLE(a.document, '$.categories[*]' COLUMNS (v VARCHAR(1024) PATH '$')) AS j \
     WHERE a.id = ? AND j.v IS NOT NULL AND TRIM(j.v) <> '' AND CHAR_LENGTH(j.v) <= 255",
    "INSERT IGNORE INTO am_api_label (api_id, kind, value) SELECT a.id, 'role', TRIM(j.v) FROM am_api a, \
     JSON_TABLE(a.document, '$.visibleRoles[*]' COLUMNS (v VARCHAR(1024) PATH '$')) AS j \
     WHERE a.id = ? AND j.v IS NOT NULL AND TRIM(j.v) <> '' AND CHAR_LENGTH(j.v) <= 255",
    "UPDATE am_api SET visibility = UPPER(COALESCE(JSON_VALUE(document, '$.visibility'), 'PUBLIC')) WHERE id = ?",
];

pub(crate) fn label_statements(db: &Db) -> &'static [&'static str; 5] {
    match db {
        Db::Sqlite(_) => &SQLITE_LABELS,
        Db::Postgres(_) => &POSTGRES_LABELS,
        Db::MySql(_) => &MYSQL_LABELS,
    }
}

/// Re-derives the labels of API `$id` from its stored document, inside the caller's transaction `$tx` (after the
/// document is written).
macro_rules! write_labels {
    ($tx:expr, $db:expr, $id:expr) => {{
        for q in $crate::search::label_statements($db) {
            sqlx::query(*q).bind($id).execute(&mut *$tx).await?;
        }
    }};
}
pub(crate) use write_labels;

/// `%text%` for `LIKE ... ESCAPE '!'`, lower-cased, with the pattern characters escaped.
fn contains_pattern(text: &str) -> String {
    let mut p = String::from("%");
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '!') {
            p.push('!');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// A WHERE clause and its string parameters, numbered for PostgreSQL or `?` for the others.
struct Clauses {
    pg: bool,
    /// MariaDB/MySQL, whose JSON functions differ from SQLite's.
    mysql: bool,
    /// Whether content search reaches into the APIs' documents (the Publisher's, which sees every document).
    documents: bool,
    parts: Vec<String>,
    binds: Vec<String>,
}

impl Clauses {
    fn new(db: &Db, documents: bool) -> Clauses {
        Clauses { pg: matches!(db, Db::Postgres(_)), mysql: matches!(db, Db::MySql(_)), documents, parts: Vec::new(), binds: Vec::new() }
    }

    fn ph(&mut self, value: String) -> String {
        self.binds.push(value);
        if self.pg { format!("${}", self.binds.len()) } else { "?".into() }
    }

    /// The API's document as content search reads it: without its backend credentials
    /// (`endpointConfig.endpoint_security`, `endpointConfig.amznSecretKey`), which answers never show, so a search
    /// cannot tell whether a guess is one of them.
    /// In lower case; `alias`: the `am_api` row's. On PostgreSQL the stored column of migration 0015 (the same
    /// expression, with a trigram index).
    fn searchable(&self, alias: &str) -> String {
        if self.pg {
            format!("{alias}.search_text")
        } else {
            // SQLite's json_remove and MariaDB's JSON_REMOVE alike; a path that is not there changes nothing.
            format!("LOWER(JSON_REMOVE({alias}.document, '$.endpointConfig.endpoint_security', '$.endpointConfig.amznSecretKey'))")
        }
    }

    /// An API has a property of this name and value (compared in lower case); `display` only: one the DevPortal
    /// shows. Read from the document's `additionalProperties` list with the dialect's JSON functions.
    fn property(&mut self, name: &str, value: &str, display: bool) -> String {
        let (n, v) = (self.ph(name.to_lowercase()), self.ph(value.to_lowercase()));
        if self.pg {
            let shown = if display { " AND p.item -> 'display' = 'true'::jsonb" } else { "" };
            format!(
                "EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN jsonb_typeof(a.document::jsonb -> 'additionalProperties') = 'array' \
                 THEN a.document::jsonb -> 'additionalProperties' ELSE '[]'::jsonb END) AS p(item) \
                 WHERE LOWER(p.item ->> 'name') = {n} AND LOWER(p.item ->> 'value') = {v}{shown})"
            )
        } else if self.mysql {
            let shown = if display { " AND p.d = 'true'" } else { "" };
            format!(
                "EXISTS (SELECT 1 FROM JSON_TABLE(a.document, '$.additionalProperties[*]' COLUMNS (n VARCHAR(1024) PATH '$.name', \
                 v VARCHAR(4096) PATH '$.value', d VARCHAR(8) PATH '$.display')) AS p WHERE LOWER(p.n) = {n} AND LOWER(p.v) = {v}{shown})"
            )
        } else {
            let shown = if display { " AND json_extract(p.value, '$.display') = 1" } else { "" };
            format!(
                "EXISTS (SELECT 1 FROM json_each(a.document, '$.additionalProperties') AS p WHERE p.type = 'object' \
                 AND LOWER(json_extract(p.value, '$.name')) = {n} AND LOWER(json_extract(p.value, '$.value')) = {v}{shown})"
            )
        }
    }

    /// The API has a label of this kind and value, compared without regard to case: through the index on lower-cased
    /// values (migration 0014), or on MariaDB through its case-insensitive collation and the (kind, value) index.
    fn label(&mut self, kind: &str, value: &str) -> String {
        let p = self.ph(value.to_lowercase());
        let value = if self.mysql { "l.value" } else { "LOWER(l.value)" };
        format!("a.id IN (SELECT l.api_id FROM am_api_label l WHERE l.kind = '{kind}' AND {value} = {p})")
    }

    /// SQLite: the APIs whose `columns` of the trigram index (migration 0014) hold `text`, case-insensitively; `None`
    /// on the other databases and for a text under three characters, which the index cannot find (the caller scans).
    fn text_index(&mut self, columns: &str, text: &str) -> Option<String> {
        if self.pg || self.mysql || text.chars().count() < 3 {
            return None;
        }
        // One FTS5 phrase: the trigram tokenizer matches it as a substring; quotes inside are doubled.
        let p = self.ph(format!("{columns} : \"{}\"", text.replace('"', "\"\"")));
        Some(format!(
            "a.id IN (SELECT t.api_id FROM am_api_text t WHERE t.n IN (SELECT rowid FROM am_api_text_index WHERE am_api_text_index MATCH {p}))"
        ))
    }

    /// [`Clauses::text_index`] for documents (migration 0016: each document a row): the ids of the documents whose
    /// text holds `text`, as a subquery.
    fn doc_text_index(&mut self, text: &str) -> Option<String> {
        if self.pg || self.mysql || text.chars().count() < 3 {
            return None;
        }
        let p = self.ph(format!("\"{}\"", text.replace('"', "\"\"")));
        Some(format!(
            "SELECT t.doc_id FROM am_doc_text t WHERE t.n IN (SELECT rowid FROM am_doc_text_index WHERE am_doc_text_index MATCH {p})"
        ))
    }

    fn term(&mut self, t: &ApiTerm) {
        let part = match t {
            ApiTerm::Name(v) => match self.text_index("name", v) {
                Some(part) => part,
                None => format!("LOWER(a.name) LIKE {} ESCAPE '!'", self.ph(contains_pattern(v))),
            },
            ApiTerm::Context(v) => format!("LOWER(a.context) LIKE {} ESCAPE '!'", self.ph(contains_pattern(v))),
            ApiTerm::Version(v) => format!("a.version = {}", self.ph(v.clone())),
            ApiTerm::Provider(v) => format!("LOWER(a.provider) = {}", self.ph(v.to_lowercase())),
            ApiTerm::Status(states) => {
                let list: Vec<String> = states.iter().map(|s| self.ph(s.to_ascii_uppercase())).collect();
                format!("a.status IN ({})", list.join(", "))
            }
            ApiTerm::Tag(v) => self.label("tag", v),
            ApiTerm::Category(v) => self.label("category", v),
            ApiTerm::Type(v) => format!("UPPER(a.api_type) = {}", self.ph(v.to_ascii_uppercase())),
            ApiTerm::NotType(v) => format!("UPPER(a.api_type) <> {}", self.ph(v.to_ascii_uppercase())),
            ApiTerm::Content(v) => {
                // The Publisher's content search reads the APIs' documents too, each a row of its own index.
                match self.text_index("body", v) {
                    Some(part) if self.documents => match self.doc_text_index(v) {
                        Some(docs) => format!("({part} OR a.id IN (SELECT d.api_id FROM am_api_doc d WHERE d.id IN ({docs})))"),
                        None => part,
                    },
                    Some(part) => part,
                    // The APIs whose text holds it, and those whose documents do, each found on its own (through
                    // PostgreSQL's trigram indexes where migration 0015 made them), then joined.
                    None if self.documents => {
                        let (api, name, text) = (self.ph(contains_pattern(v)), self.ph(contains_pattern(v)), self.ph(contains_pattern(v)));
                        format!(
                            "a.id IN (SELECT x.id FROM am_api x WHERE {} LIKE {api} ESCAPE '!' UNION \
                             SELECT d.api_id FROM am_api_doc d WHERE LOWER(d.document) LIKE {name} ESCAPE '!' OR LOWER(d.inline_text) LIKE {text} ESCAPE '!')",
                            self.searchable("x")
                        )
                    }
                    None => format!("{} LIKE {} ESCAPE '!'", self.searchable("a"), self.ph(contains_pattern(v))),
                }
            }
            // `documents` is the Publisher, which sees every property.
            ApiTerm::Property { name, value } => self.property(name, value, !self.documents),
            ApiTerm::KeyManager(name) => {
                let n = self.ph(name.clone());
                if self.pg {
                    format!(
                        "(jsonb_typeof(a.document::jsonb -> 'keyManagers') = 'array' AND a.document::jsonb -> 'keyManagers' @> jsonb_build_array({n}::text))"
                    )
                } else if self.mysql {
                    format!("COALESCE(JSON_CONTAINS(a.document, JSON_QUOTE({n}), '$.keyManagers'), 0) = 1")
                } else {
                    format!("EXISTS (SELECT 1 FROM json_each(a.document, '$.keyManagers') AS k WHERE k.type = 'text' AND k.value = {n})")
                }
            }
        };
        self.parts.push(part);
    }

    fn audience(&mut self, a: Audience<'_>) {
        // Both columns are in one index (migration 0014): a count of what the caller may see reads that index only.
        let visible = "a.status IN ('PUBLISHED', 'PROTOTYPED')";
        let vis = |values: &str| format!("a.visibility IN ({values})");
        match a {
            Audience::Publisher => {}
            Audience::Admin => self.parts.push(visible.into()),
            Audience::Anonymous => {
                self.parts.push(visible.into());
                self.parts.push(vis("'PUBLIC'"));
            }
            Audience::SignedIn { roles } => {
                self.parts.push(visible.into());
                let open = vis("'PUBLIC', 'PRIVATE'");
                if roles.is_empty() {
                    self.parts.push(open);
                } else {
                    let list: Vec<String> = roles.iter().map(|r| self.ph(r.clone())).collect();
                    self.parts.push(format!(
                        "({open} OR EXISTS (SELECT 1 FROM am_api_label r WHERE r.api_id = a.id AND r.kind = 'role' AND r.value IN ({})))",
                        list.join(", ")
                    ));
                }
            }
        }
    }

    fn where_(&self) -> String {
        if self.parts.is_empty() { String::new() } else { format!(" WHERE {}", self.parts.join(" AND ")) }
    }
}

impl SearchStore for Db {
    async fn search_apis(&self, search: &ApiSearch<'_>, limit: i64, offset: i64) -> Result<(Vec<ApiRecord>, i64), StoreError> {
        let documents = matches!(search.audience, Audience::Publisher);
        let mut c = Clauses::new(self, documents);
        for t in &search.terms {
            c.term(t);
        }
        c.audience(search.audience);
        let where_ = c.where_();
        let column = match search.sort_by {
            SortBy::Name => "a.name",
            SortBy::Version => "a.version",
            SortBy::CreatedTime => "a.created_at",
            SortBy::Status => "a.status",
        };
        let dir = if search.descending { "DESC" } else { "ASC" };
        let count_sql = format!("SELECT COUNT(*) FROM am_api a{where_}");
        let page_sql = format!(
            "SELECT a.id, a.name, a.version, a.context, a.provider, a.status, a.api_type, a.document, a.created_at, a.updated_at \
             FROM am_api a{where_} ORDER BY {column} {dir}, a.name, a.version, a.id LIMIT {} OFFSET {}",
            limit.max(0),
            offset.max(0)
        );
        per_backend!(self, |p| {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(count_sql.clone()));
            for b in &c.binds {
                q = q.bind(b.clone());
            }
            let total: i64 = q.fetch_one(p).await?.try_get(0)?;
            let mut q = sqlx::query(sqlx::AssertSqlSafe(page_sql.clone()));
            for b in &c.binds {
                q = q.bind(b.clone());
            }
            let mut out = Vec::new();
            for r in q.fetch_all(p).await? {
                out.push(ApiRecord {
                    id: r.try_get(0)?,
                    name: r.try_get(1)?,
                    version: r.try_get(2)?,
                    context: r.try_get(3)?,
                    provider: r.try_get(4)?,
                    status: r.try_get::<String, _>(5)?.into(),
                    api_type: r.try_get(6)?,
                    document: r.try_get(7)?,
                    created_at: r.try_get(8)?,
                    updated_at: r.try_get(9)?,
                });
            }
            Ok((out, total))
        })
    }

    async fn tags(&self, audience: Audience<'_>) -> Result<Vec<(String, i64)>, StoreError> {
        let mut c = Clauses::new(self, false);
        c.parts.push("t.kind = 'tag'".into());
        c.audience(audience);
        // One spelling per tag (the smallest), counted once per API.
        let sql = format!(
            "SELECT MIN(t.value), COUNT(DISTINCT a.id) FROM am_api_label t JOIN am_api a ON a.id = t.api_id{} \
             GROUP BY LOWER(t.value) ORDER BY MIN(t.value)",
            c.where_()
        );
        per_backend!(self, |p| {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.clone()));
            for b in &c.binds {
                q = q.bind(b.clone());
            }
            let mut out = Vec::new();
            for r in q.fetch_all(p).await? {
                out.push((r.try_get(0)?, r.try_get(1)?));
            }
            Ok(out)
        })
    }

    async fn search_applications(
        &self,
        search: &AppSearch<'_>,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<(ApplicationRecord, i64)>, i64), StoreError> {
        let mut c = Clauses::new(self, false);
        if let Some(owner) = search.owner {
            let owner = c.ph(owner.to_string());
            c.parts.push(format!("p.owner = {owner}"));
        }
        if let Some(name) = search.name {
            let pattern = c.ph(contains_pattern(name));
            c.parts.push(format!("LOWER(p.name) LIKE {pattern} ESCAPE '!'"));
        }
        let where_ = c.where_();
        let column = match search.sort_by {
            AppSortBy::Name => "p.name",
            AppSortBy::ThrottlingPolicy => "p.throttling_policy",
            AppSortBy::CreatedTime => "p.created_at",
            AppSortBy::Owner => "p.owner",
        };
        let dir = if search.descending { "DESC" } else { "ASC" };
        let count_sql = format!("SELECT COUNT(*) FROM am_application p{where_}");
        // The subscription count of each application of the page in the same query: no query per row.
        let page_sql = format!(
            "SELECT p.id, p.name, p.owner, p.throttling_policy, p.token_type, p.document, p.created_at, \
             (SELECT COUNT(*) FROM am_subscription s WHERE s.application_id = p.id) \
             FROM am_application p{where_} ORDER BY {column} {dir}, p.name, p.id LIMIT {} OFFSET {}",
            limit.max(0),
            offset.max(0)
        );
        per_backend!(self, |p| {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(count_sql.clone()));
            for b in &c.binds {
                q = q.bind(b.clone());
            }
            let total: i64 = q.fetch_one(p).await?.try_get(0)?;
            let mut q = sqlx::query(sqlx::AssertSqlSafe(page_sql.clone()));
            for b in &c.binds {
                q = q.bind(b.clone());
            }
            let mut out = Vec::new();
            for r in q.fetch_all(p).await? {
                let app = ApplicationRecord {
                    id: r.try_get(0)?,
                    name: r.try_get(1)?,
                    owner: r.try_get(2)?,
                    throttling_policy: r.try_get(3)?,
                    token_type: r.try_get(4)?,
                    document: r.try_get(5)?,
                    created_at: r.try_get(6)?,
                };
                out.push((app, r.try_get(7)?));
            }
            Ok((out, total))
        })
    }

    async fn search_subscriptions(
        &self,
        search: &SubSearch<'_>,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<SubscriptionRow>, i64), StoreError> {
        let mut c = Clauses::new(self, false);
        for (column, value) in [("s.application_id", search.application_id), ("s.api_id", search.api_id), ("p.owner", search.owner)] {
            if let Some(v) = value {
                let ph = c.ph(v.to_string());
                c.parts.push(format!("{column} = {ph}"));
            }
        }
        let where_ = c.where_();
        let count_sql = format!("SELECT COUNT(*) FROM am_subscription s JOIN am_application p ON p.id = s.application_id{where_}");
        // Each subscription's application and API in the same query: no query per row.
        let page_sql = format!(
            "SELECT s.id, s.api_id, s.application_id, s.policy, s.status, s.created_at, \
             a.id, a.name, a.version, a.context, a.provider, a.status, a.api_type, a.document, a.created_at, a.updated_at, \
             p.name, p.owner \
             FROM am_subscription s JOIN am_application p ON p.id = s.application_id LEFT JOIN am_api a ON a.id = s.api_id{where_} \
             ORDER BY s.created_at, s.id LIMIT {} OFFSET {}",
            limit.max(0),
            offset.max(0)
        );
        per_backend!(self, |p| {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(count_sql.clone()));
            for b in &c.binds {
                q = q.bind(b.clone());
            }
            let total: i64 = q.fetch_one(p).await?.try_get(0)?;
            let mut q = sqlx::query(sqlx::AssertSqlSafe(page_sql.clone()));
            for b in &c.binds {
                q = q.bind(b.clone());
            }
            let mut out = Vec::new();
            for r in q.fetch_all(p).await? {
                let sub = SubscriptionRecord {
                    id: r.try_get(0)?,
                    api_id: r.try_get(1)?,
                    application_id: r.try_get(2)?,
                    policy: r.try_get(3)?,
                    status: r.try_get::<String, _>(4)?.into(),
                    created_at: r.try_get(5)?,
                };
                let api = match r.try_get::<Option<String>, _>(6)? {
                    Some(id) => Some(ApiRecord {
                        id,
                        name: r.try_get(7)?,
                        version: r.try_get(8)?,
                        context: r.try_get(9)?,
                        provider: r.try_get(10)?,
                        status: r.try_get::<String, _>(11)?.into(),
                        api_type: r.try_get(12)?,
                        document: r.try_get(13)?,
                        created_at: r.try_get(14)?,
                        updated_at: r.try_get(15)?,
                    }),
                    None => None,
                };
                out.push(SubscriptionRow { subscription: sub, application_name: r.try_get(16)?, application_owner: r.try_get(17)?, api });
            }
            Ok((out, total))
        })
    }

    async fn search_documents(&self, words: &[String], limit: i64, offset: i64) -> Result<(Vec<DocumentHit>, i64), StoreError> {
        let mut c = Clauses::new(self, false);
        for w in words {
            let (dto, text) = (c.ph(contains_pattern(w)), c.ph(contains_pattern(w)));
            c.parts.push(format!("(LOWER(d.document) LIKE {dto} ESCAPE '!' OR LOWER(d.inline_text) LIKE {text} ESCAPE '!')"));
            // SQLite: only the documents that hold the word, by the trigram index.
            if let Some(docs) = c.doc_text_index(w) {
                c.parts.push(format!("d.id IN ({docs})"));
            }
        }
        let where_ = c.where_();
        let count_sql = format!("SELECT COUNT(*) FROM am_api_doc d JOIN am_api a ON a.id = d.api_id{where_}");
        let page_sql = format!(
            "SELECT d.id, d.api_id, d.name, d.document, d.created_at, d.updated_at, a.name, a.version, a.provider \
             FROM am_api_doc d JOIN am_api a ON a.id = d.api_id{where_} ORDER BY a.name, a.version, d.name, d.id LIMIT {} OFFSET {}",
            limit.max(0),
            offset.max(0)
        );
        per_backend!(self, |p| {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(count_sql.clone()));
            for b in &c.binds {
                q = q.bind(b.clone());
            }
            let total: i64 = q.fetch_one(p).await?.try_get(0)?;
            let mut out = Vec::new();
            if limit > 0 {
                let mut q = sqlx::query(sqlx::AssertSqlSafe(page_sql.clone()));
                for b in &c.binds {
                    q = q.bind(b.clone());
                }
                for r in q.fetch_all(p).await? {
                    let document = DocRecord {
                        id: r.try_get(0)?,
                        api_id: r.try_get(1)?,
                        name: r.try_get(2)?,
                        document: r.try_get(3)?,
                        created_at: r.try_get(4)?,
                        updated_at: r.try_get(5)?,
                    };
                    out.push(DocumentHit { document, api_name: r.try_get(6)?, api_version: r.try_get(7)?, api_provider: r.try_get(8)? });
                }
            }
            Ok((out, total))
        })
    }

    async fn applications_with_keys_from(
        &self,
        key_managers: &[&str],
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<ApplicationRecord>, i64), StoreError> {
        if key_managers.is_empty() {
            return Ok((Vec::new(), 0));
        }
        let mut c = Clauses::new(self, false);
        let names: Vec<String> = key_managers.iter().map(|k| c.ph(k.to_string())).collect();
        let where_ = format!(
            " WHERE EXISTS (SELECT 1 FROM am_key_mapping k WHERE k.application_id = p.id AND k.key_manager IN ({}))",
            names.join(", ")
        );
        let count_sql = format!("SELECT COUNT(*) FROM am_application p{where_}");
        let page_sql = format!(
            "SELECT p.id, p.name, p.owner, p.throttling_policy, p.token_type, p.document, p.created_at \
             FROM am_application p{where_} ORDER BY p.name, p.owner, p.id LIMIT {} OFFSET {}",
            limit.max(0),
            offset.max(0)
        );
        per_backend!(self, |p| {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(count_sql.clone()));
            for b in &c.binds {
                q = q.bind(b.clone());
            }
            let total: i64 = q.fetch_one(p).await?.try_get(0)?;
            let mut q = sqlx::query(sqlx::AssertSqlSafe(page_sql.clone()));
            for b in &c.binds {
                q = q.bind(b.clone());
            }
            let mut out = Vec::new();
            for r in q.fetch_all(p).await? {
                out.push(ApplicationRecord {
                    id: r.try_get(0)?,
                    name: r.try_get(1)?,
                    owner: r.try_get(2)?,
                    throttling_policy: r.try_get(3)?,
                    token_type: r.try_get(4)?,
                    document: r.try_get(5)?,
                    created_at: r.try_get(6)?,
                });
            }
            Ok((out, total))
        })
    }

    async fn apis_named_or_at(&self, name: Option<&str>, context: Option<&str>) -> Result<Vec<ApiIdentity>, StoreError> {
        // An absent side binds the empty string, which no API's name or context is.
        let (name, context) = (name.map_or(String::new(), str::to_lowercase), context.map_or(String::new(), str::to_lowercase));
        let q = sql(
            self,
            "SELECT id, name, version, context FROM am_api WHERE LOWER(name) = ? OR LOWER(context) = ? ORDER BY name, version LIMIT 100",
            "SELECT id, name, version, context FROM am_api WHERE LOWER(name) = $1 OR LOWER(context) = $2 ORDER BY name, version LIMIT 100",
        );
        per_backend!(self, |p| {
            let mut out = Vec::new();
            for r in sqlx::query(q).bind(&name).bind(&context).fetch_all(p).await? {
                out.push(ApiIdentity { id: r.try_get(0)?, name: r.try_get(1)?, version: r.try_get(2)?, context: r.try_get(3)? });
            }
            Ok(out)
        })
    }

    async fn category_usage(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let q = "SELECT LOWER(value), COUNT(DISTINCT api_id) FROM am_api_label WHERE kind = 'category' GROUP BY LOWER(value)";
        per_backend!(self, |p| {
            let mut out = Vec::new();
            for r in sqlx::query(q).fetch_all(p).await? {
                out.push((r.try_get(0)?, r.try_get(1)?));
            }
            Ok(out)
        })
    }
}
