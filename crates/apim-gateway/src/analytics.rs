//! Analytics at the gateway: each request answered for an API is folded at once into this minute's table, keyed
//! by API, resource, key type, status class and application, from what the request path already holds. A hit
//! allocates nothing (the API and resource are keyed by identity, the application by a borrowed id); a new row
//! copies its application's names once. A minute holds at most [`MAX_ROWS_PER_MINUTE`] rows: requests beyond are
//! counted as dropped, never blocked. Rows are cumulative within their minute: [`Recorder::take_changes`] hands
//! the node's shipper every row changed since it last asked, the current minute's included (so a minute's
//! traffic shows within seconds), and the control plane keeps the latest value of each.
//!
//! Each worker thread folds into a table of its own ([`crate::shard`]); the shipper adds the shards' rows up,
//! which is exact: counts add, sketches merge.
//! It adds by the row's key as the control plane stores it (API id, resource, method, application, key type,
//! status class), not by the API's identity at the gateway: a redeployed API is a new `Api` within the same
//! minute, and its rows and the old one's are one row at the control plane, which keeps the latest value.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use apim_wire::analytics::{DenseSketch, MinuteRow};

use crate::shard::Sharded;
use crate::snapshot::{Api, Application, KeyType, Resource};

type Fast = foldhash::fast::RandomState;

/// Rows one minute may hold in one shard (about 200 bytes each).
pub const MAX_ROWS_PER_MINUTE: usize = 25_000;

/// Closed minutes kept while nobody takes them (a shipper that cannot reach the control plane): an hour's.
const MAX_CLOSED_MINUTES: usize = 60;

/// One request, as the request path knows it when it answers.
pub struct Record<'a> {
    pub now_ms: u64,
    pub api: &'a Arc<Api>,
    pub resource: Option<&'a Resource>,
    pub application: Option<&'a Application>,
    pub key_type: KeyType,
    pub status: u16,
    pub latency_us: u64,
    pub backend_us: Option<u64>,
    pub by_gateway: bool,
    /// Refused by a block condition.
    pub blocked: bool,
}

/// API and resource by identity: the row holds the `Arc<Api>`, so neither address is reused while it lives.
#[derive(Clone, Copy, Hash, PartialEq, Eq)]
struct Key {
    api: usize,
    resource: usize,
    key_type: bool,
    status_class: u16,
}

/// A row's place in its minute.
#[derive(Hash, PartialEq, Eq)]
struct RowKey {
    key: Key,
    application: Box<str>,
}

/// A [`RowKey`] as a request holds it, the application's id borrowed: hashes as the key it matches (the same
/// fields in the same order), so a row is found with one hash and no copy.
#[derive(Hash)]
struct Probe<'a> {
    key: Key,
    application: &'a str,
}

impl hashbrown::Equivalent<RowKey> for Probe<'_> {
    fn equivalent(&self, row: &RowKey) -> bool {
        self.key == row.key && self.application == &*row.application
    }
}

struct Row {
    api: Arc<Api>,
    resource: Option<(String, String)>,
    application: Option<(Box<str>, Box<str>)>,
    key_type: KeyType,
    requests: u64,
    throttled: u64,
    blocked: u64,
    gateway_errors: u64,
    latency: DenseSketch,
    backend: DenseSketch,
    /// Changed since the shipper last took it.
    dirty: bool,
}

impl Row {
    fn count(&mut self, r: &Record<'_>) {
        self.dirty = true;
        self.requests += 1;
        self.throttled += u64::from(r.status == 429);
        self.blocked += u64::from(r.blocked);
        self.gateway_errors += u64::from(r.by_gateway);
        self.latency.add(r.latency_us);
        if let Some(us) = r.backend_us {
            self.backend.add(us);
        }
    }
}

#[derive(Default)]
struct Minute {
    start_secs: i64,
    rows: hashbrown::HashMap<RowKey, Row, Fast>,
}

#[derive(Default)]
struct Table {
    current: Minute,
    closed: Vec<Minute>,
    dropped: u64,
}

pub struct Recorder {
    tables: Sharded<Mutex<Table>>,
    /// [`MAX_ROWS_PER_MINUTE`]; lower in tests.
    row_limit: AtomicUsize,
    /// Requests never recorded or never sent, since the process started (`/metrics`).
    dropped_total: AtomicU64,
}

impl Default for Recorder {
    fn default() -> Recorder {
        apim_wire::analytics::prepare_buckets();
        Recorder { tables: Sharded::default(), row_limit: AtomicUsize::new(MAX_ROWS_PER_MINUTE), dropped_total: AtomicU64::new(0) }
    }
}

/// A row as the control plane keys it (within one node and run), borrowed from the tables.
type WireKey<'a> = (i64, &'a str, Option<&'a (String, String)>, &'a str, bool, u16);

fn wire_key<'a>(minute: i64, key: Key, app_id: &'a str, row: &'a Row) -> WireKey<'a> {
    (minute, &row.api.id, row.resource.as_ref(), app_id, key.key_type, key.status_class)
}

impl Recorder {
    /// Requests recorded but never delivered (the shipper gave up a batch): counted with the dropped ones.
    pub fn note_lost(&self, requests: u64) {
        self.dropped_total.fetch_add(requests, Relaxed);
    }

    pub fn dropped_total(&self) -> u64 {
        self.dropped_total.load(Relaxed)
    }

    #[cfg(test)]
    pub(crate) fn limit_rows(&self, rows: usize) {
        self.row_limit.store(rows, Relaxed);
    }

    pub fn record(&self, r: Record<'_>) {
        let start_secs = (r.now_ms / 60_000 * 60) as i64;
        let key = Key {
            api: Arc::as_ptr(r.api) as usize,
            resource: r.resource.map_or(0, |res| res as *const Resource as usize),
            key_type: r.key_type == KeyType::Sandbox,
            status_class: r.status / 100,
        };
        let app_id = r.application.map_or("", |a| a.id.as_str());
        let mut t = self.tables.mine().lock().unwrap_or_else(PoisonError::into_inner);
        if t.current.start_secs != start_secs {
            // A request that finishes after its minute was closed counts in the minute it finishes in.
            if t.current.start_secs < start_secs {
                let closed = std::mem::replace(&mut t.current, Minute { start_secs, ..Minute::default() });
                if !closed.rows.is_empty() {
                    t.closed.push(closed);
                }
                if t.closed.len() > MAX_CLOSED_MINUTES {
                    let gone = t.closed.remove(0);
                    let lost = gone.rows.values().map(|row| row.requests).sum::<u64>();
                    t.dropped += lost;
                    self.dropped_total.fetch_add(lost, Relaxed);
                }
            }
        }
        let t = &mut *t;
        // One lookup for the common case, a row that is there already.
        if let Some(row) = t.current.rows.get_mut(&Probe { key, application: app_id }) {
            row.count(&r);
            return;
        }
        if t.current.rows.len() >= self.row_limit.load(Relaxed) {
            t.dropped += 1;
            self.dropped_total.fetch_add(1, Relaxed);
            return;
        }
        let mut row = Row {
            api: r.api.clone(),
            resource: r.resource.map(|res| (res.target.clone(), res.verb.clone())),
            application: r.application.map(|a| (a.name.as_str().into(), a.owner.as_str().into())),
            key_type: r.key_type,
            requests: 0,
            throttled: 0,
            blocked: 0,
            gateway_errors: 0,
            latency: DenseSketch::default(),
            backend: DenseSketch::default(),
            dirty: true,
        };
        row.count(&r);
        t.current.rows.insert(RowKey { key, application: app_id.into() }, row);
    }

    /// Every row changed since the last call, closed minutes' and the current one's (as they stand now), the
    /// shards' rows added up, and how many requests went unrecorded since the last call.
    pub fn take_changes(&self, now_ms: u64) -> (Vec<MinuteRow>, u64) {
        let start_secs = (now_ms / 60_000 * 60) as i64;
        // All shards at once, so that a row's sum is taken as of one moment; `record` takes one lock only.
        let mut tables: Vec<MutexGuard<'_, Table>> = self.tables.all().map(|t| t.lock().unwrap_or_else(PoisonError::into_inner)).collect();
        let mut closed = Vec::new();
        let mut dropped = 0;
        for t in &mut tables {
            if t.current.start_secs < start_secs && !t.current.rows.is_empty() {
                let ended = std::mem::replace(&mut t.current, Minute { start_secs, ..Minute::default() });
                t.closed.push(ended);
            }
            closed.append(&mut t.closed);
            dropped += std::mem::take(&mut t.dropped);
        }
        let out = {
            let rows = || {
                closed
                    .iter()
                    .chain(tables.iter().map(|t| &t.current))
                    .flat_map(|m| m.rows.iter().map(move |(k, row)| (m.start_secs, k.key, &*k.application, row)))
            };
            // A row changed in one shard is sent with every shard's share of it, changed or not: the control
            // plane replaces what it holds.
            let changed: HashSet<WireKey<'_>, Fast> =
                rows().filter(|(.., row)| row.dirty).map(|(minute, key, app, row)| wire_key(minute, key, app, row)).collect();
            let mut merged: HashMap<WireKey<'_>, MinuteRow, Fast> = HashMap::default();
            for (minute, key, app, row) in rows() {
                let k = wire_key(minute, key, app, row);
                if !changed.contains(&k) {
                    continue;
                }
                match merged.entry(k) {
                    std::collections::hash_map::Entry::Occupied(mut sum) => add(sum.get_mut(), row),
                    std::collections::hash_map::Entry::Vacant(slot) => {
                        slot.insert(minute_row(minute, key, app, row));
                    }
                }
            }
            merged.into_values().collect()
        };
        for t in &mut tables {
            for row in t.current.rows.values_mut() {
                row.dirty = false;
            }
        }
        (out, dropped)
    }
}

/// Another shard's share of a row.
fn add(sum: &mut MinuteRow, row: &Row) {
    sum.requests += row.requests;
    sum.throttled += row.throttled;
    sum.blocked += row.blocked;
    sum.gateway_errors += row.gateway_errors;
    row.latency.add_to(&mut sum.latency);
    row.backend.add_to(&mut sum.backend_latency);
}

fn minute_row(minute: i64, key: Key, app_id: &str, row: &Row) -> MinuteRow {
    let (resource, method) = row.resource.clone().unwrap_or_default();
    let (application_name, application_owner) =
        row.application.as_ref().map_or((String::new(), String::new()), |(n, o)| (n.to_string(), o.to_string()));
    MinuteRow {
        minute,
        api_id: row.api.id.clone(),
        api_name: row.api.name.clone(),
        api_version: row.api.version.clone(),
        resource,
        method,
        application_id: app_id.into(),
        application_name,
        application_owner,
        key_type: match row.key_type {
            KeyType::Production => apim_wire::KeyType::Production,
            KeyType::Sandbox => apim_wire::KeyType::Sandbox,
        },
        status_class: key.status_class,
        requests: row.requests,
        throttled: row.throttled,
        blocked: row.blocked,
        gateway_errors: row.gateway_errors,
        latency: row.latency.to_sketch(),
        backend_latency: row.backend.to_sketch(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::harness::{Harness, get, shop_state};
    use crate::snapshot::KeyType;

    /// Requests recorded on several threads, under two compilations of one API (a redeploy within the minute),
    /// reach the shipper as one row with every share added; a change in one shard sends the others' shares too.
    #[test]
    fn shards_and_a_redeployed_api_add_up_to_one_row() {
        // A gateway starts its tasks on the runtime it is made in.
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        let _in_runtime = rt.enter();
        let old = Harness::new(shop_state());
        let new = Harness::new(shop_state());
        let api = |h: &Harness| h.gw.snapshot.load().router.api_by_id("api-1").expect("the shop API").clone();
        let (old_api, new_api) = (api(&old), api(&new));
        assert!(!Arc::ptr_eq(&old_api, &new_api), "two compilations");
        let recorder = super::Recorder::default();
        // Within one minute, whatever the clock says: rows of two minutes would be two rows.
        let now_ms = crate::auth::now_ms() / 60_000 * 60_000 + 1_000;
        let record = |api: &Arc<crate::snapshot::Api>, latency_us: u64| {
            recorder.record(super::Record {
                now_ms,
                api,
                resource: api.resources.first(),
                application: None,
                key_type: KeyType::Production,
                status: 200,
                latency_us,
                backend_us: Some(latency_us / 2),
                by_gateway: false,
                blocked: false,
            })
        };
        std::thread::scope(|s| {
            for t in 0..4u64 {
                let api = if t % 2 == 0 { &old_api } else { &new_api };
                s.spawn(move || (0..1000).for_each(|i| record(api, 100 + t * 1000 + i)));
            }
        });
        let (rows, dropped) = recorder.take_changes(now_ms);
        assert_eq!((rows.len(), dropped), (1, 0), "{rows:?}");
        let row = &rows[0];
        assert_eq!((row.api_id.as_str(), row.requests, row.latency.count(), row.backend_latency.count()), ("api-1", 4000, 4000, 4000));
        assert_eq!(row.resource, old_api.resources[0].target, "{row:?}");
        let mut alone = apim_wire::analytics::Sketch::default();
        (0..4u64).flat_map(|t| (0..1000).map(move |i| 100 + t * 1000 + i)).for_each(|us| alone.add(us));
        assert_eq!(row.latency, alone, "the merged sketch is the one a single table would hold");
        assert!(recorder.take_changes(now_ms).0.is_empty(), "nothing changed since");

        std::thread::scope(|s| {
            s.spawn(|| record(&new_api, 7));
        });
        let (rows, _) = recorder.take_changes(now_ms);
        assert_eq!(rows.iter().map(|r| r.requests).collect::<Vec<_>>(), vec![4001], "every shard's share, changed or not");
    }

    /// Real requests through the chain become rows keyed as the request path knew them; a full minute counts the
    /// rest as dropped, in `take_changes` and in `/metrics`; rows already taken come back only when they change.
    #[tokio::test]
    async fn requests_become_minute_rows_and_overflow_is_counted() {
        let h = Harness::new(shop_state());
        let token = h.token("ck-1", "orders_read");
        for _ in 0..3 {
            h.call(get("/shop/1.0.0/orders", Some(&token))).await;
        }
        h.call(get("/shop/1.0.0/admin", None)).await;
        h.call(get("/nothing/here", None)).await;
        let now = crate::auth::now_ms();
        let (mut rows, dropped) = h.gw.take_analytics(now).expect("analytics on by default");
        assert_eq!(dropped, 0);
        rows.sort_by(|a, b| a.resource.cmp(&b.resource));
        let got: Vec<(&str, &str, u16, u64, u64)> =
            rows.iter().map(|r| (r.resource.as_str(), r.application_name.as_str(), r.status_class, r.requests, r.gateway_errors)).collect();
        // The backend's port has no listener: 502s the gateway made; no API, no row for the 404.
        assert_eq!(got, vec![("/admin", "", 4, 1, 1), ("/orders", "App", 5, 3, 3)], "{rows:?}");
        assert!(rows.iter().all(|r| r.api_id == "api-1" && r.minute % 60 == 0 && r.latency.count() == r.requests));
        assert_eq!(h.gw.take_analytics(now).expect("on").0.len(), 0, "nothing changed since");

        let recorder = h.gw.analytics.as_ref().expect("on");
        recorder.limit_rows(2);
        h.call(get("/shop/1.0.0/open", None)).await;
        h.call(get("/shop/1.0.0/orders", Some(&token))).await;
        let (rows, dropped) = h.gw.take_analytics(crate::auth::now_ms()).expect("on");
        if rows.iter().all(|r| r.minute == rows[0].minute) && rows.len() == 1 {
            // Same minute: the new resource found the table full; the known row kept counting.
            assert_eq!((dropped, rows[0].requests), (1, 4), "{rows:?}");
            assert!(h.gw.metrics_text().contains("apim_gateway_analytics_dropped_total 1"), "{}", h.gw.metrics_text());
        }
        recorder.note_lost(5);
        assert!(recorder.dropped_total() >= 5);

        // A block condition's refusal is counted as blocked, apart from throttling.
        let mut state = shop_state();
        state["seq"] = serde_json::json!(2);
        state["blockConditions"] = serde_json::json!([{"id": "b1", "conditionType": "API", "value": "/shop/1.0.0", "enabled": true}]);
        let blocked = Harness::new(state);
        let token = blocked.token("ck-1", "orders_read");
        assert_eq!(blocked.call(get("/shop/1.0.0/orders", Some(&token))).await.0.status(), 403);
        let (rows, _) = blocked.gw.take_analytics(crate::auth::now_ms()).expect("on");
        let got: Vec<(u16, u64, u64, u64)> = rows.iter().map(|r| (r.status_class, r.requests, r.blocked, r.throttled)).collect();
        assert_eq!(got, vec![(4, 1, 1, 0)], "{rows:?}");
    }
}
