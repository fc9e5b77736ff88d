//! The control plane's REST list and search pages at size (issue #17).
//!
//!     bench/rest.sh [sqlite|postgres|both] [REQUESTS] [CLIENTS]
//!     cargo run --release -p apim-control-plane --example rest_bench -- sqlite|postgres [REQUESTS] [CLIENTS] [APIS] [APPLICATIONS]
//!
//! A control plane (`apim_control_plane::ControlPlane`, its real router) runs in this process on 127.0.0.1:0 over a
//! database this program creates and removes: an SQLite file in a temporary directory, or a uniquely named
//! PostgreSQL database (`APIM_BENCH_PG_URL`, else `APIM_TEST_PG_URL`, else `postgres://postgres@127.0.0.1:5432/test`;
//! dropped at the end; `APIM_BENCH_KEEP=1` keeps either, to look at the query plans).
//!
//! Seeding: one API, its document, its thumbnail and one application are made through the REST API (an API
//! created, given a revision, deployed and published), then read back from the store and copied, each copy with
//! its own id, name, context, tags, description, state and visibility, through the store's own calls
//! (`ApiStore::create_api`, which writes the same rows and lookup labels a REST creation writes;
//! `ContentStore::create_doc`, `set_thumbnail`; `ApplicationStore::create_application`, `create_subscription`). The
//! copies are the tables and document shapes the list handlers read; they have no revisions, deployments or event
//! log rows (no list reads those). Every answer's `pagination.total` is checked against what the seeding implies.
//!
//! Measured, in rounds that alternate the endpoints (this machine's speed drifts from minute to minute): each
//! endpoint's latency over keep-alive HTTP/1.1 from CLIENTS connections, and, as the reference, one primary-key
//! `SELECT` of an API (`ApiStore::get_api`) through the same pool from as many tasks, and the Publisher's
//! `GET /apis/{id}` (HTTP, Basic authentication, two primary-key lookups).
//!
//! The N+1 check counts the SQL statements each request runs (sqlx's own per-statement `sqlx::query` events,
//! counted by a tracing layer switched on only for this check) for a page of 25 and a page of 200: a handler
//! that queries once per row runs more statements for the larger page. Any difference fails the run (exit 1).
//! The time a page of 200 takes beside a page of 25 is printed too, for information: it grows with the bytes
//! read and serialised, so it is no pass/fail criterion.

use std::fmt::Debug;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use apim_config::{HostsFile, LoadOptions, Source};
use apim_control_plane::{Config, ControlPlane, Environment};
use apim_domain::api::{ApiRecord, ApiStatus, ApplicationRecord, SubscriptionRecord, SubscriptionStatus};
use apim_store::{ApiStore, ApplicationStore, ContentStore, Db, DocContent, NewUser, UserStore};
use base64::Engine;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde_json::{Value, json};
use tracing::field::{Field, Visit};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

/// Business domains: API names and first tags (`name:` and `tag:` queries find every 20th API).
const DOMAINS: [&str; 20] = [
    "Weather",
    "Payments",
    "Orders",
    "Inventory",
    "Shipping",
    "Billing",
    "Customers",
    "Catalog",
    "Search",
    "Reviews",
    "Loyalty",
    "Pricing",
    "Invoices",
    "Accounts",
    "Messaging",
    "Maps",
    "Identity",
    "Analytics",
    "Bookings",
    "Media",
];
/// Teams: second tags, `team-0` .. `team-39`.
const TEAMS: usize = 40;
/// Owners of the applications (`dev00` ..), each with APPLICATIONS / OWNERS of them.
const OWNERS: usize = 10;
/// The word the content query looks for: in the description of every 25th API (i % 25 == 3) and in the
/// document of every 50th (i % 50 == 10).
const CONTENT_WORD: &str = "refund";
const ROUNDS: usize = 4;
const WARM_UP: usize = 100;
/// The most one endpoint is measured for in one round: an endpoint slower than 7.5 ms a request answers fewer
/// than REQUESTS / ROUNDS requests a round (the table says how many it answered in all).
const ROUND_BUDGET: Duration = Duration::from_secs(15);
/// A 1×1 PNG: the thumbnail, uploaded once through REST and copied to every 10th API.
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let backend = match args.first().map(String::as_str) {
        Some("sqlite") | Some("SQLITE") => Backend::Sqlite,
        Some("postgres") | Some("POSTGRES") => Backend::Postgres,
        _ => bail!("usage: rest_bench sqlite|postgres [REQUESTS] [CLIENTS] [APIS] [APPLICATIONS]"),
    };
    let number = |i: usize, default: usize, what: &str| -> anyhow::Result<usize> {
        match args.get(i) {
            None => Ok(default),
            Some(v) => v.parse().with_context(|| format!("{what} must be a whole number, not `{v}`")),
        }
    };
    let sizes = Sizes {
        requests: number(1, 2_000, "REQUESTS")?.max(ROUNDS),
        clients: number(2, 1, "CLIENTS")?.max(1),
        apis: number(3, 10_000, "APIS")?.max(200),
        apps: number(4, 1_000, "APPLICATIONS")?.max(OWNERS),
    };
    tracing_subscriber::registry().with(StatementCounter).try_init().context("tracing")?;

    let store = Store::create(backend).await?;
    let outcome = tokio::select! {
        outcome = run(&store, &sizes) => outcome,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    if std::env::var_os("APIM_BENCH_KEEP").is_some() {
        eprintln!("APIM_BENCH_KEEP: {} kept", store.describe());
    } else {
        store.remove().await;
    }
    outcome
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

struct Sizes {
    requests: usize,
    clients: usize,
    apis: usize,
    apps: usize,
}

async fn run(store: &Store, sizes: &Sizes) -> anyhow::Result<()> {
    let db = store.db.clone();
    db.migrate("apim_db").await?;
    for (name, role) in [("admin", "admin"), ("publisher", "Internal/publisher")] {
        let hash = apim_domain::password::hash(&format!("{name}-pw"))?;
        db.create_user(&NewUser { username: name, password_hash: &hash, roles: &[role] }).await?;
    }
    for o in 0..OWNERS {
        let name = format!("dev{o:02}");
        let hash = apim_domain::password::hash(&format!("{name}-pw"))?;
        db.create_user(&NewUser { username: &name, password_hash: &hash, roles: &["Internal/subscriber"] }).await?;
    }
    let cp = ControlPlane::new(db.clone(), db.clone(), config(), None, None);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let router = cp.router();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });

    let started = Instant::now();
    let template = Template::through_rest(addr, &db).await?;
    let seeded = seed(&db, &template, sizes).await?;
    if let Db::Postgres(pool) = &db {
        // What autovacuum does after this many inserts (PostgreSQL 13 and later vacuum insert-only tables too):
        // statistics for the planner, and the visibility map that lets counts read only an index.
        sqlx::raw_sql("VACUUM ANALYZE").execute(pool).await?;
    }
    let seed_secs = started.elapsed().as_secs_f64();

    let anonymous = None;
    let publisher = Some(basic("publisher"));
    let admin = Some(basic("admin"));
    let dev = Some(basic("dev01"));
    let q = |query: &str| query.replace(':', "%3A");
    let endpoints = vec![
        Endpoint::new("Publisher GET /apis", "/api/am/publisher/v4/apis?limit={limit}", &publisher, seeded.all),
        Endpoint::new(
            "Publisher GET /search name:weather",
            &format!("/api/am/publisher/v4/search?query={}&limit={{limit}}", q("name:weather")),
            &publisher,
            seeded.named_weather,
        ),
        Endpoint::new(
            "Publisher GET /search tag:team-7",
            &format!("/api/am/publisher/v4/search?query={}&limit={{limit}}", q("tag:team-7")),
            &publisher,
            seeded.tagged_team_7,
        ),
        Endpoint::new(
            &format!("Publisher GET /search content:{CONTENT_WORD}"),
            &format!("/api/am/publisher/v4/search?query={}&limit={{limit}}", q(&format!("content:{CONTENT_WORD}"))),
            &publisher,
            seeded.content_hits,
        ),
        Endpoint::new("DevPortal GET /apis, anonymous", "/api/am/devportal/v3/apis?limit={limit}", &anonymous, seeded.public),
        Endpoint::new("DevPortal GET /applications (dev01)", "/api/am/devportal/v3/applications?limit={limit}", &dev, seeded.apps_of_dev01),
        Endpoint::new("Admin GET /applications", "/api/am/admin/v4/applications?limit={limit}", &admin, seeded.apps),
    ];

    // Every answer is what the seeding implies, and the statements each runs do not depend on the page size.
    let mut client = Client::connect(addr).await?;
    let mut checks = Vec::new();
    for e in &endpoints {
        let mut per_limit = Vec::new();
        for limit in [25usize, 200] {
            let body = client.get_ok(&e.path(limit), e.auth.as_deref()).await?;
            let v: Value = serde_json::from_slice(&body).with_context(|| format!("{}: not JSON", e.label))?;
            let (count, total) = (v["count"].as_u64().unwrap_or(0) as usize, v["pagination"]["total"].as_u64().unwrap_or(0) as usize);
            ensure!(total == e.total, "{}: pagination.total {total}, the seeding made {}", e.label, e.total);
            ensure!(count == limit.min(e.total), "{}: {count} entries on a page of {limit} (total {total})", e.label);
            // The fewest over three tries: a password re-checked once the 30-second cache lapses adds a lookup.
            let mut fewest: Option<Vec<Statement>> = None;
            for _ in 0..3 {
                let ran = statements_of(client.get_ok(&e.path(limit), e.auth.as_deref())).await?;
                if fewest.as_ref().is_none_or(|f| ran.len() < f.len()) {
                    fewest = Some(ran);
                }
            }
            per_limit.push(fewest.unwrap_or_default());
        }
        checks.push(per_limit);
    }

    // Reference lookups: random APIs by primary key.
    let mut rng = Lcg(0x5eed);
    let ids: Arc<Vec<String>> = Arc::new((0..512).map(|_| seeded.api_ids[rng.below(seeded.api_ids.len())].clone()).collect());
    let by_id = format!("/api/am/publisher/v4/apis/{}", seeded.api_ids[seeded.api_ids.len() / 2]);

    // Warm-up, then rounds.
    for e in &endpoints {
        http_load(addr, &e.path(25), e.auth.clone(), WARM_UP, 1).await?;
    }
    pk_load(&db, &ids, WARM_UP, 1).await?;
    http_load(addr, &by_id, publisher.clone(), WARM_UP, 1).await?;
    let per_round = sizes.requests / ROUNDS;
    let mut lat: Vec<Vec<u64>> = vec![Vec::new(); endpoints.len()];
    let mut lat200: Vec<Vec<u64>> = vec![Vec::new(); endpoints.len()];
    let (mut pk, mut rest_pk) = (Vec::new(), Vec::new());
    let load_started = Instant::now();
    for _ in 0..ROUNDS {
        pk.extend(pk_load(&db, &ids, per_round, sizes.clients).await?);
        for (i, e) in endpoints.iter().enumerate() {
            lat[i].extend(http_load(addr, &e.path(25), e.auth.clone(), per_round, sizes.clients).await?);
        }
        rest_pk.extend(http_load(addr, &by_id, publisher.clone(), per_round, sizes.clients).await?);
        for (i, e) in endpoints.iter().enumerate() {
            lat200[i].extend(http_load(addr, &e.path(200), e.auth.clone(), (per_round / 10).max(10), sizes.clients).await?);
        }
    }
    let load_secs = load_started.elapsed().as_secs_f64();

    // The report.
    let (pk50, pk99) = (percentile(&mut pk, 0.50), percentile(&mut pk, 0.99));
    println!(
        "REST list and search benchmark: {}, {} APIs ({} published, {} PUBLIC), {} applications ({} subscriptions), {} documents, {} thumbnails",
        store.describe(),
        seeded.all,
        seeded.published,
        seeded.public,
        seeded.apps,
        seeded.subscriptions,
        seeded.documents,
        seeded.thumbnails
    );
    println!(
        "seeded in {seed_secs:.1} s; up to {} requests per endpoint (at most {} s a round) after {WARM_UP} of warm-up, in {ROUNDS} rounds alternating the endpoints, {} keep-alive client(s), {} cores; measured in {load_secs:.0} s",
        per_round * ROUNDS,
        ROUND_BUDGET.as_secs(),
        sizes.clients,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
    println!();
    println!(
        "{:<42} {:>6} {:>8} {:>8} {:>8} {:>8} {:>10} {:>9} {:>9}",
        "endpoint (page of 25)", "n", "p50 ms", "p99 ms", "p50/PK", "p99/PK", "statements", "p50 @200", "@200/@25"
    );
    let mut n_plus_one = Vec::new();
    let mut slowest_p99: f64 = 0.0;
    for (i, e) in endpoints.iter().enumerate() {
        let (p50, p99) = (percentile(&mut lat[i], 0.50), percentile(&mut lat[i], 0.99));
        let p50_200 = percentile(&mut lat200[i], 0.50);
        slowest_p99 = slowest_p99.max(p99);
        let (s25, s200) = (&checks[i][0], &checks[i][1]);
        let statements = if s25.len() == s200.len() { format!("{}", s25.len()) } else { format!("{}≠{}", s25.len(), s200.len()) };
        if s25.len() != s200.len() {
            n_plus_one.push(e.label.clone());
        }
        println!(
            "{:<42} {:>6} {:>8.2} {:>8.2} {:>8.1} {:>8.1} {:>10} {:>9.2} {:>9.2}",
            e.label,
            lat[i].len(),
            p50,
            p99,
            p50 / pk50,
            p99 / pk99,
            statements,
            p50_200,
            p50_200 / p50
        );
    }
    let (r50, r99) = (percentile(&mut rest_pk, 0.50), percentile(&mut rest_pk, 0.99));
    println!(
        "{:<42} {:>6} {:>8.2} {:>8.2} {:>8.1} {:>8.1} {:>10}",
        "ref: Publisher GET /apis/{id} (HTTP)",
        rest_pk.len(),
        r50,
        r99,
        r50 / pk50,
        r99 / pk99,
        2
    );
    println!(
        "{:<42} {:>6} {:>8.3} {:>8.3} {:>8.1} {:>8.1} {:>10}",
        "ref: primary-key SELECT, same pool",
        pk.len(),
        pk50,
        pk99,
        1.0,
        1.0,
        1
    );
    println!();
    println!("statements per request (page of 25; the page of 200 ran the same ones unless marked ≠):");
    for (i, e) in endpoints.iter().enumerate() {
        let list: Vec<String> = checks[i][0].iter().map(|s| format!("{} [{} rows]", s.summary, s.rows)).collect();
        println!("  {}: {}", e.label, list.join("; "));
    }
    println!();
    if store.backend == Backend::Sqlite {
        let verdict = if slowest_p99 < 20.0 { "met" } else { "NOT met" };
        println!("target: every list page p99 < 20 ms on SQLite: {verdict} (slowest p99 {slowest_p99:.2} ms)");
    }
    if !n_plus_one.is_empty() {
        bail!("N+1: a page of 200 runs more statements than a page of 25 on {}", n_plus_one.join(", "));
    }
    println!(
        "N+1 check: passed (every endpoint runs the same statements for a page of 200 as for a page of 25; @200/@25 is the time a page of 200 takes beside one of 25, the cost of reading and serialising 8x the rows)"
    );
    Ok(())
}

fn config() -> Config {
    Config {
        environments: vec![Environment {
            id: "Default".into(),
            name: "Default".into(),
            kind: "hybrid".into(),
            vhost: "localhost".into(),
            show_in_api_console: true,
            ..Environment::default()
        }],
        devportal_url: None,
        external_key_manager: None,
        api_key_issuer: "https://localhost:9443/oauth2/token".into(),
        fetch_tls: None,
        key_manager_connector: None,
        allowed_private_hosts: Vec::new(),
        event_hub_user: "admin".into(),
        event_hub_password: apim_config::Secret::new("admin-pw"),
        self_sign_up: true,
        analytics_retention_days: 30,
    }
}

fn basic(user: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{user}-pw")))
}

// === the database ===

/// The database this run made, removed by [`Store::remove`].
struct Store {
    backend: Backend,
    db: Db,
    /// SQLite: the temporary directory.
    dir: Option<std::path::PathBuf>,
    /// PostgreSQL: the admin URL and the database's name.
    pg: Option<(String, String)>,
}

impl Store {
    async fn create(backend: Backend) -> anyhow::Result<Store> {
        let unique = format!("{}_{}", std::process::id(), std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis());
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(format!("apim-rest-bench-{unique}"));
                std::fs::create_dir_all(&dir)?;
                let db = connect(&format!("type = \"sqlite\"\nurl = \"jdbc:sqlite:{}/apim.db\"\n", dir.display())).await?;
                Ok(Store { backend, db, dir: Some(dir), pg: None })
            }
            Backend::Postgres => {
                let url = ["APIM_BENCH_PG_URL", "APIM_TEST_PG_URL"]
                    .iter()
                    .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
                    .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".into());
                let name = format!("apim_bench_{unique}");
                let pg = apim_test_support::db::Backend::Postgres;
                // Commits without waiting for the WAL flush: seeding is 17,000 transactions, and the measurement only reads.
                let statements = [format!("CREATE DATABASE {name}"), format!("ALTER DATABASE {name} SET synchronous_commit TO off")];
                apim_test_support::db::admin_exec(pg, &url, &statements).await?;
                let (user, password, host, port) = apim_test_support::db::parse_url(&url);
                let fields = format!(
                    "type = \"postgre\"\nhostname = \"{host}\"\nport = {port}\nname = \"{name}\"\nusername = \"{user}\"\npassword = \"{password}\"\n"
                );
                match connect(&fields).await {
                    Ok(db) => Ok(Store { backend, db, dir: None, pg: Some((url, name)) }),
                    Err(e) => {
                        let _ =
                            apim_test_support::db::admin_exec(pg, &url, &[format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")]).await;
                        Err(e)
                    }
                }
            }
        }
    }

    fn describe(&self) -> String {
        match (&self.dir, &self.pg) {
            (Some(dir), _) => format!("SQLite (WAL, {}/apim.db)", dir.display()),
            (_, Some((_, name))) => format!("PostgreSQL (database {name})"),
            _ => "?".into(),
        }
    }

    async fn remove(&self) {
        self.db.close().await;
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        if let Some((url, name)) = &self.pg {
            let stmt = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            if let Err(e) = apim_test_support::db::admin_exec(apim_test_support::db::Backend::Postgres, url, &[stmt]).await {
                eprintln!("could not drop database {name}: {e}");
            }
        }
    }
}

async fn connect(fields: &str) -> anyhow::Result<Db> {
    let text = format!("[database.apim_db]\n{fields}");
    let env = |_: &str| None;
    let loaded =
        apim_config::load_str(Source::new("bench.toml", text), &LoadOptions::default(), &env).map_err(|e| anyhow::anyhow!("{e}"))?;
    let cfg = loaded.config.apim_db.context("no apim_db in the configuration")?;
    Ok(apim_store::connect(&cfg, &HostsFile::default()).await?)
}

// === seeding ===

/// What REST made: a published API with a document and a thumbnail, and an application, as stored.
struct Template {
    api: ApiRecord,
    doc: apim_store::DocRecord,
    doc_text: String,
    thumbnail: (String, Vec<u8>),
    app: ApplicationRecord,
}

impl Template {
    async fn through_rest(addr: SocketAddr, db: &Db) -> anyhow::Result<Template> {
        let mut c = Client::connect(addr).await?;
        let admin = basic("admin");
        let body = json!({
            "name": "Bench Template", "context": "/bench-template", "version": "1.0.0",
            "description": "Reads and writes the records of one business domain: list, fetch, create, update and delete, with paging and filters.",
            "tags": ["bench", "template"], "policies": ["Gold", "Unlimited"], "visibility": "PUBLIC",
            "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": "http://backend.test:8080/records"},
                "sandbox_endpoints": {"url": "http://sandbox.test:8080/records"}},
            "operations": [{"target": "/records", "verb": "GET"}, {"target": "/records", "verb": "POST"},
                {"target": "/records/{id}", "verb": "GET"}, {"target": "/records/{id}", "verb": "PUT"},
                {"target": "/records/{id}", "verb": "DELETE"}],
            "businessInformation": {"businessOwner": "Bench Owner", "businessOwnerEmail": "owner@bench.test",
                "technicalOwner": "Bench Engineer", "technicalOwnerEmail": "engineer@bench.test"},
            "additionalProperties": [{"name": "tier", "value": "standard", "display": true}]
        });
        let pubr = "/api/am/publisher/v4";
        let api = c.json("POST", &format!("{pubr}/apis"), &admin, &body).await?;
        let id = api["id"].as_str().context("no id in the created API")?.to_string();
        let rev = c.json("POST", &format!("{pubr}/apis/{id}/revisions"), &admin, &json!({})).await?;
        let rev = rev["id"].as_str().context("no revision id")?.to_string();
        c.json("POST", &format!("{pubr}/apis/{id}/deploy-revision?revisionId={rev}"), &admin, &json!([{"name": "Default"}])).await?;
        c.json("POST", &format!("{pubr}/apis/change-lifecycle?apiId={id}&action=Publish"), &admin, &Value::Null).await?;
        let doc = json!({"name": "Getting started", "type": "HOWTO", "sourceType": "INLINE", "visibility": "API_LEVEL",
            "summary": "How to make a first call",
            "inlineContent": "Create an application, subscribe it to this API, generate keys and call GET /records with the access token."});
        c.json("POST", &format!("{pubr}/apis/{id}/documents"), &admin, &doc).await?;
        let png = base64::engine::general_purpose::STANDARD.decode(PNG)?;
        c.multipart_put(&format!("{pubr}/apis/{id}/thumbnail"), &admin, "file", "thumb.png", "image/png", &png).await?;
        let app = json!({"name": "Bench App", "throttlingPolicy": "Unlimited", "tokenType": "JWT",
            "description": "An application of the benchmark", "attributes": {}});
        let app = c.json("POST", "/api/am/devportal/v3/applications", &basic("dev00"), &app).await?;
        let app_id = app["applicationId"].as_str().context("no applicationId")?;

        let api = db.get_api(&id).await?.context("the template API is not stored")?;
        ensure!(api.status == ApiStatus::Published, "the template API is {}, not PUBLISHED", api.status);
        let (docs, _) = db.list_docs(&id, 10, 0).await?;
        let doc = docs.into_iter().next().context("the template document is not stored")?;
        let doc_text = match db.doc_content(&id, &doc.id).await? {
            Some(DocContent::Text(t)) => t,
            _ => bail!("the template document has no inline text"),
        };
        let thumbnail = db.thumbnail(&id).await?.context("the template thumbnail is not stored")?;
        let app = db.get_application(app_id).await?.context("the template application is not stored")?;
        Ok(Template { api, doc, doc_text, thumbnail, app })
    }
}

/// What the seeding made, and what each list must therefore answer.
#[derive(Default)]
struct Seeded {
    api_ids: Vec<String>,
    all: usize,
    published: usize,
    public: usize,
    named_weather: usize,
    tagged_team_7: usize,
    /// APIs whose document or documents hold the content word, plus the documents that do.
    content_hits: usize,
    documents: usize,
    thumbnails: usize,
    apps: usize,
    apps_of_dev01: usize,
    subscriptions: usize,
}

async fn seed(db: &Db, t: &Template, sizes: &Sizes) -> anyhow::Result<Seeded> {
    let template: Value = serde_json::from_str(&t.api.document)?;
    let doc_template: Value = serde_json::from_str(&t.doc.document)?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() as i64;
    let mut s = Seeded { all: 1, published: 1, public: 1, documents: 1, thumbnails: 1, ..Seeded::default() };
    s.api_ids.push(t.api.id.clone());
    let mut published = Vec::new();
    for i in 0..sizes.apis {
        let domain = DOMAINS[i % DOMAINS.len()];
        let id = uuid::Uuid::new_v4().to_string();
        let name = format!("{domain} {i:05}");
        let context = format!("/{}/{i:05}", domain.to_lowercase());
        let status = if i % 10 == 9 { ApiStatus::Created } else { ApiStatus::Published };
        let restricted = i % 20 == 1;
        let api_mentions = i % 25 == 3;
        let doc_mentions = i % 50 == 10;
        let created_at = now - (sizes.apis - i) as i64;

        let mut doc = template.clone();
        let o = doc.as_object_mut().context("the template document is not an object")?;
        o.insert("id".into(), json!(id));
        o.insert("name".into(), json!(name));
        o.insert("context".into(), json!(context));
        o.insert("tags".into(), json!([domain.to_lowercase(), format!("team-{}", i % TEAMS)]));
        o.insert("lifeCycleStatus".into(), json!(status));
        let mut description = format!("{domain} records, shard {i}: list, fetch, create, update and delete, with paging and filters.");
        if api_mentions {
            description.push_str(&format!(" Handles {CONTENT_WORD} requests."));
        }
        o.insert("description".into(), json!(description));
        if restricted {
            o.insert("visibility".into(), json!("RESTRICTED"));
            o.insert("visibleRoles".into(), json!(["Internal/subscriber"]));
        }
        for k in ["createdTime", "lastUpdatedTime"] {
            if o.contains_key(k) {
                o.insert(k.into(), json!((created_at * 1000).to_string()));
            }
        }
        let text = doc.to_string();
        for old in [&t.api.id, &t.api.name, &t.api.context] {
            ensure!(!text.contains(old.as_str()), "a copy of the template still holds `{old}`: a field naming it is not replaced");
        }
        let api = ApiRecord {
            id: id.clone(),
            name,
            version: t.api.version.clone(),
            context,
            provider: t.api.provider.clone(),
            status: status.clone(),
            api_type: t.api.api_type.clone(),
            document: text,
            created_at,
            updated_at: created_at,
        };
        db.create_api(&api, &[]).await.with_context(|| format!("API {i}"))?;

        if i % 5 == 0 {
            let doc_id = uuid::Uuid::new_v4().to_string();
            let mut d = doc_template.clone();
            if let Some(o) = d.as_object_mut() {
                o.insert("documentId".into(), json!(doc_id));
            }
            let record = apim_store::DocRecord { id: doc_id, api_id: id.clone(), document: d.to_string(), ..t.doc.clone() };
            let text = if doc_mentions { format!("{} Returns follow the {CONTENT_WORD} policy.", t.doc_text) } else { t.doc_text.clone() };
            db.create_doc(&record, Some(&DocContent::Text(text))).await?;
            s.documents += 1;
        }
        if i % 10 == 0 {
            db.set_thumbnail(&id, &t.thumbnail.0, &t.thumbnail.1, created_at).await?;
            s.thumbnails += 1;
        }

        s.all += 1;
        if status == ApiStatus::Published {
            s.published += 1;
            published.push(id.clone());
            if !restricted {
                s.public += 1;
            }
        }
        if domain == "Weather" {
            s.named_weather += 1;
        }
        if i % TEAMS == 7 {
            s.tagged_team_7 += 1;
        }
        if api_mentions || doc_mentions {
            s.content_hits += 1;
        }
        if doc_mentions {
            s.content_hits += 1;
        }
        s.api_ids.push(id);
    }

    let app_doc = &t.app.document;
    s.apps = 1;
    s.apps_of_dev01 = 0;
    for j in 0..sizes.apps.saturating_sub(1) {
        let owner = format!("dev{:02}", j % OWNERS);
        let app = ApplicationRecord {
            id: uuid::Uuid::new_v4().to_string(),
            name: format!("App {j:04}"),
            owner: owner.clone(),
            document: app_doc.clone(),
            created_at: now - (sizes.apps - j) as i64,
            ..t.app.clone()
        };
        db.create_application(&app, &[]).await?;
        for k in 0..3 {
            let api_id = &published[(j * 7 + k * 1013) % published.len()];
            let sub = SubscriptionRecord {
                id: uuid::Uuid::new_v4().to_string(),
                api_id: api_id.clone(),
                application_id: app.id.clone(),
                policy: "Gold".into(),
                status: SubscriptionStatus::Unblocked,
                created_at: app.created_at,
            };
            db.create_subscription(&sub, &[]).await?;
            s.subscriptions += 1;
        }
        s.apps += 1;
        if owner == "dev01" {
            s.apps_of_dev01 += 1;
        }
    }
    Ok(s)
}

// === endpoints and load ===

struct Endpoint {
    label: String,
    /// With `{limit}` for the page size.
    path: String,
    auth: Option<String>,
    total: usize,
}

impl Endpoint {
    fn new(label: &str, path: &str, auth: &Option<String>, total: usize) -> Endpoint {
        Endpoint { label: label.into(), path: path.into(), auth: auth.clone(), total }
    }

    fn path(&self, limit: usize) -> String {
        self.path.replace("{limit}", &limit.to_string())
    }
}

/// `total` GETs of `path` from `clients` keep-alive connections; each request's latency in nanoseconds.
async fn http_load(addr: SocketAddr, path: &str, auth: Option<String>, total: usize, clients: usize) -> anyhow::Result<Vec<u64>> {
    let mut tasks = Vec::new();
    for c in 0..clients {
        let share = total / clients + usize::from(c < total % clients);
        let (path, auth) = (path.to_string(), auth.clone());
        tasks.push(tokio::spawn(async move {
            let mut client = Client::connect(addr).await?;
            let mut out = Vec::with_capacity(share);
            let deadline = Instant::now() + ROUND_BUDGET;
            for _ in 0..share {
                let t = Instant::now();
                client.get_ok(&path, auth.as_deref()).await?;
                out.push(t.elapsed().as_nanos() as u64);
                if t > deadline {
                    break;
                }
            }
            anyhow::Ok(out)
        }));
    }
    let mut all = Vec::with_capacity(total);
    for t in tasks {
        all.extend(t.await??);
    }
    Ok(all)
}

/// `total` primary-key SELECTs of APIs (`ApiStore::get_api`) through the pool from `clients` tasks.
async fn pk_load(db: &Db, ids: &Arc<Vec<String>>, total: usize, clients: usize) -> anyhow::Result<Vec<u64>> {
    let mut tasks = Vec::new();
    for c in 0..clients {
        let share = total / clients + usize::from(c < total % clients);
        let (db, ids) = (db.clone(), ids.clone());
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::with_capacity(share);
            for k in 0..share {
                let id = &ids[(k * clients + c) % ids.len()];
                let t = Instant::now();
                let api = db.get_api(id).await?;
                out.push(t.elapsed().as_nanos() as u64);
                ensure!(api.is_some(), "API {id} not found by its primary key");
            }
            anyhow::Ok(out)
        }));
    }
    let mut all = Vec::with_capacity(total);
    for t in tasks {
        all.extend(t.await??);
    }
    Ok(all)
}

/// The `q` quantile (nearest rank) of nanosecond samples, in milliseconds.
fn percentile(samples: &mut [u64], q: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    samples.sort_unstable();
    let rank = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
    samples[rank - 1] as f64 / 1e6
}

/// A small deterministic generator for picking ids.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n.max(1)
    }
}

// === a keep-alive HTTP/1.1 client ===

struct Client {
    tx: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
}

impl Client {
    async fn connect(addr: SocketAddr) -> anyhow::Result<Client> {
        let tcp = tokio::net::TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let (tx, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp)).await?;
        tokio::spawn(conn);
        Ok(Client { tx })
    }

    async fn send(&mut self, method: &str, path: &str, headers: &[(&str, &str)], body: Bytes) -> anyhow::Result<(u16, Bytes)> {
        let mut req = hyper::Request::builder().method(method).uri(path).header("host", "bench");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.tx.ready().await?;
        let resp = self.tx.send_request(req.body(Full::new(body))?).await?;
        let status = resp.status().as_u16();
        Ok((status, resp.into_body().collect().await?.to_bytes()))
    }

    /// A GET that must answer 200.
    async fn get_ok(&mut self, path: &str, auth: Option<&str>) -> anyhow::Result<Bytes> {
        let headers: Vec<(&str, &str)> = auth.map(|a| vec![("authorization", a)]).unwrap_or_default();
        let (status, body) = self.send("GET", path, &headers, Bytes::new()).await?;
        ensure!(status == 200, "GET {path}: {status} {}", String::from_utf8_lossy(&body));
        Ok(body)
    }

    /// A JSON call that must answer 2xx; its JSON answer (null when empty).
    async fn json(&mut self, method: &str, path: &str, auth: &str, body: &Value) -> anyhow::Result<Value> {
        let body = if body.is_null() { Bytes::new() } else { Bytes::from(body.to_string()) };
        let (status, answer) = self.send(method, path, &[("authorization", auth), ("content-type", "application/json")], body).await?;
        ensure!((200..300).contains(&status), "{method} {path}: {status} {}", String::from_utf8_lossy(&answer));
        Ok(if answer.is_empty() { Value::Null } else { serde_json::from_slice(&answer)? })
    }

    async fn multipart_put(&mut self, path: &str, auth: &str, field: &str, file: &str, media: &str, bytes: &[u8]) -> anyhow::Result<()> {
        let boundary = "apimbenchboundary5c2";
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{file}\"\r\nContent-Type: {media}\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let ct = format!("multipart/form-data; boundary={boundary}");
        let (status, answer) = self.send("PUT", path, &[("authorization", auth), ("content-type", ct.as_str())], Bytes::from(body)).await?;
        ensure!((200..300).contains(&status), "PUT {path}: {status} {}", String::from_utf8_lossy(&answer));
        Ok(())
    }
}

// === counting SQL statements ===

/// One statement sqlx ran: the first words of its SQL and the rows it returned.
#[derive(Clone, Debug)]
struct Statement {
    summary: String,
    rows: u64,
}

static COUNTING: AtomicBool = AtomicBool::new(false);
static STATEMENTS: Mutex<Vec<Statement>> = Mutex::new(Vec::new());

/// The statements run while `request` runs (the client's requests are sequential, so they are its statements).
async fn statements_of(request: impl Future<Output = anyhow::Result<Bytes>>) -> anyhow::Result<Vec<Statement>> {
    if let Ok(mut s) = STATEMENTS.lock() {
        s.clear();
    }
    COUNTING.store(true, Ordering::SeqCst);
    let outcome = request.await;
    COUNTING.store(false, Ordering::SeqCst);
    outcome?;
    // sqlx logs a statement when its stream is dropped, which may be just after the answer is written.
    tokio::time::sleep(Duration::from_millis(20)).await;
    Ok(STATEMENTS.lock().map(|s| s.clone()).unwrap_or_default())
}

/// A tracing layer that records sqlx's `sqlx::query` events (one per statement executed) while [`COUNTING`].
struct StatementCounter;

impl<S: Subscriber> Layer<S> for StatementCounter {
    fn register_callsite(&self, m: &'static Metadata<'static>) -> Interest {
        if m.target() == "sqlx::query" { Interest::sometimes() } else { Interest::never() }
    }

    fn enabled(&self, m: &Metadata<'_>, _: Context<'_, S>) -> bool {
        m.target() == "sqlx::query" && COUNTING.load(Ordering::SeqCst)
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut fields = StatementFields::default();
        event.record(&mut fields);
        let sql = if fields.statement.trim().is_empty() { fields.summary } else { fields.statement };
        let words: Vec<&str> = sql.split_whitespace().take(6).collect();
        if let Ok(mut s) = STATEMENTS.lock() {
            s.push(Statement { summary: words.join(" "), rows: fields.rows });
        }
    }
}

#[derive(Default)]
struct StatementFields {
    summary: String,
    statement: String,
    rows: u64,
}

impl Visit for StatementFields {
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "rows_returned" {
            self.rows = value;
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "summary" => self.summary = value.to_string(),
            "db.statement" => self.statement = value.to_string(),
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        match field.name() {
            "summary" if self.summary.is_empty() => self.summary = format!("{value:?}").trim_matches('"').to_string(),
            "db.statement" if self.statement.is_empty() => {
                self.statement = format!("{value:?}").trim_matches('"').replace("\\n", " ");
            }
            _ => {}
        }
    }
}
