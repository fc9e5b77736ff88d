//! Analytics at the gateway: each request answered for an API is folded at once into this minute's table, keyed
//! by API, resource, key type, status class and application, from what the request path already holds. A hit
//! allocates nothing (the API and resource are keyed by identity, the application by a borrowed id); a new row
//! copies its application's names once. A minute holds at most [`MAX_ROWS_PER_MINUTE`] rows: requests beyond are
//! counted as dropped, never blocked. Rows are cumulative within their minute: [`Recorder::take_changes`] hands
//! the node's shipper every row changed since it last asked, the current minute's included (so a minute's
//! traffic shows within seconds), and the control plane keeps the latest value of each.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};

use apim_wire::analytics::{MinuteRow, Sketch};

use crate::snapshot::{Api, Application, KeyType, Resource};

type Fast = foldhash::fast::RandomState;

/// Rows one minute may hold on one node (about 200 bytes each).
pub const MAX_ROWS_PER_MINUTE: usize = 50_000;

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

struct Row {
    api: Arc<Api>,
    resource: Option<(String, String)>,
    application: Option<(Box<str>, Box<str>)>,
    key_type: KeyType,
    requests: u64,
    throttled: u64,
    blocked: u64,
    gateway_errors: u64,
    latency: Sketch,
    backend: Sketch,
    /// Changed since the shipper last took it.
    dirty: bool,
}

#[derive(Default)]
struct Minute {
    start_secs: i64,
    rows: HashMap<Key, HashMap<Box<str>, Row, Fast>, Fast>,
    len: usize,
}

#[derive(Default)]
struct Table {
    current: Minute,
    closed: Vec<Minute>,
    dropped: u64,
}

pub struct Recorder {
    table: Mutex<Table>,
    /// [`MAX_ROWS_PER_MINUTE`]; lower in tests.
    row_limit: AtomicUsize,
    /// Requests never recorded or never sent, since the process started (`/metrics`).
    dropped_total: AtomicU64,
}

impl Default for Recorder {
    fn default() -> Recorder {
        Recorder { table: Mutex::default(), row_limit: AtomicUsize::new(MAX_ROWS_PER_MINUTE), dropped_total: AtomicU64::new(0) }
    }
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
        let mut t = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        if t.current.start_secs != start_secs {
            // A request that finishes after its minute was closed counts in the minute it finishes in.
            if t.current.start_secs < start_secs {
                let closed = std::mem::replace(&mut t.current, Minute { start_secs, ..Minute::default() });
                if closed.len > 0 {
                    t.closed.push(closed);
                }
                if t.closed.len() > MAX_CLOSED_MINUTES {
                    let gone = t.closed.remove(0);
                    let lost = gone.rows.values().flat_map(|apps| apps.values()).map(|row| row.requests).sum::<u64>();
                    t.dropped += lost;
                    self.dropped_total.fetch_add(lost, Relaxed);
                }
            }
        }
        let t = &mut *t;
        let by_app = t.current.rows.entry(key).or_default();
        if !by_app.contains_key(app_id) {
            if t.current.len >= self.row_limit.load(Relaxed) {
                t.dropped += 1;
                self.dropped_total.fetch_add(1, Relaxed);
                return;
            }
            t.current.len += 1;
            let row = Row {
                api: r.api.clone(),
                resource: r.resource.map(|res| (res.target.clone(), res.verb.clone())),
                application: r.application.map(|a| (a.name.as_str().into(), a.owner.as_str().into())),
                key_type: r.key_type,
                requests: 0,
                throttled: 0,
                blocked: 0,
                gateway_errors: 0,
                latency: Sketch::default(),
                backend: Sketch::default(),
                dirty: true,
            };
            by_app.insert(app_id.into(), row);
        }
        let Some(row) = by_app.get_mut(app_id) else { return };
        row.dirty = true;
        row.requests += 1;
        row.throttled += u64::from(r.status == 429);
        row.blocked += u64::from(r.blocked);
        row.gateway_errors += u64::from(r.by_gateway);
        row.latency.add(r.latency_us);
        if let Some(us) = r.backend_us {
            row.backend.add(us);
        }
    }

    /// Every row changed since the last call, closed minutes' and the current one's (as they stand now), and
    /// how many requests went unrecorded since the last call.
    pub fn take_changes(&self, now_ms: u64) -> (Vec<MinuteRow>, u64) {
        let start_secs = (now_ms / 60_000 * 60) as i64;
        let mut out = Vec::new();
        let mut t = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        if t.current.start_secs < start_secs && t.current.len > 0 {
            let ended = std::mem::replace(&mut t.current, Minute { start_secs, ..Minute::default() });
            t.closed.push(ended);
        }
        for minute in std::mem::take(&mut t.closed) {
            for (key, apps) in minute.rows {
                for (app_id, row) in apps {
                    if row.dirty {
                        out.push(minute_row(minute.start_secs, key, &app_id, &row));
                    }
                }
            }
        }
        let start = t.current.start_secs;
        for (key, apps) in &mut t.current.rows {
            for (app_id, row) in apps.iter_mut() {
                if row.dirty {
                    row.dirty = false;
                    out.push(minute_row(start, *key, app_id, row));
                }
            }
        }
        (out, std::mem::take(&mut t.dropped))
    }
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
        latency: row.latency.clone(),
        backend_latency: row.backend.clone(),
    }
}

#[cfg(test)]
mod tests {
    use crate::harness::{Harness, get, shop_state};

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
