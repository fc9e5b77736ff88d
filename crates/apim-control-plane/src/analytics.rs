//! Analytics: the gateways' per-minute rows come in on the internal data service (`POST
//! /internal/data/v1/analytics`), are stored once each (a batch sent again changes nothing) and kept for
//! `[apim.analytics] retention_days`; summaries go out by role — the Publisher's per API (`GET
//! /apis/{apiId}/analytics`), the DevPortal's per application, to its owner only (`GET
//! /applications/{applicationId}/analytics`), the Admin's for the platform (`GET /analytics`). Every summary has
//! the same shape ([`Summary`]), over `?period=15m|1h|6h|24h|7d|30d` (default 24h), with percentiles read from
//! the merged latency sketches. Settled hours of minute rows are rolled up into hour rows, and whole days of hour
//! rows into day rows (with the hourly pruning), so a week reads hours and a month reads days; minute rows are
//! kept two days.

use std::collections::HashMap;
use std::sync::Arc;

use apim_store::{AnalyticsFilter, AnalyticsRecord, AnalyticsStore, ApiStore, ApplicationStore, Granularity};
use apim_wire::analytics::{AnalyticsBatch, MinuteRow, Sketch, SketchSum};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};

use crate::ControlPlane;
use crate::error::{ApiError, Result};

/// Minute rows are kept this long (the 24-hour view reads them); older ones live on in the rollups.
const MINUTES_KEPT: i64 = 2 * 86_400;

/// An hour is rolled up once it ended this long ago: gateways send a minute's rows late by up to an hour.
const SETTLE: i64 = 2 * 3600;

/// Rows one batch may carry: a gateway's minute holds at most 50,000 (apim-gateway's `MAX_ROWS_PER_MINUTE`).
const MAX_BATCH_ROWS: usize = 100_000;

pub fn publisher_routes() -> axum::Router<Arc<ControlPlane>> {
    axum::Router::new().route("/apis/{api_id}/analytics", get(of_api))
}

pub fn devportal_routes() -> axum::Router<Arc<ControlPlane>> {
    axum::Router::new().route("/applications/{application_id}/analytics", get(of_application))
}

pub fn admin_routes() -> axum::Router<Arc<ControlPlane>> {
    axum::Router::new().route("/analytics", get(of_platform))
}

/// The time ranges a summary covers, with the width of its series' points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Period {
    M15,
    H1,
    H6,
    H24,
    D7,
    D30,
}

impl Period {
    fn parse(s: Option<&str>) -> Result<Period> {
        Ok(match s.unwrap_or("24h") {
            "15m" => Period::M15,
            "1h" => Period::H1,
            "6h" => Period::H6,
            "24h" => Period::H24,
            "7d" => Period::D7,
            "30d" => Period::D30,
            other => return Err(ApiError::field("period", format!("`{other}` is not one of 15m, 1h, 6h, 24h, 7d, 30d"))),
        })
    }

    fn name(self) -> &'static str {
        match self {
            Period::M15 => "15m",
            Period::H1 => "1h",
            Period::H6 => "6h",
            Period::H24 => "24h",
            Period::D7 => "7d",
            Period::D30 => "30d",
        }
    }

    /// (length, step) in seconds: about 15 to 60 points a chart.
    fn span(self) -> (i64, i64) {
        match self {
            Period::M15 => (15 * 60, 60),
            Period::H1 => (3600, 60),
            Period::H6 => (6 * 3600, 5 * 60),
            Period::H24 => (86_400, 30 * 60),
            Period::D7 => (7 * 86_400, 6 * 3600),
            Period::D30 => (30 * 86_400, 86_400),
        }
    }
}

#[derive(Deserialize)]
struct SummaryQuery {
    period: Option<String>,
}

/// Latency percentiles in milliseconds (`null` with no request).
#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct Latency {
    p50: Option<f64>,
    p95: Option<f64>,
    p99: Option<f64>,
    mean: Option<f64>,
}

impl Latency {
    fn of(s: &Sketch) -> Latency {
        let ms = |us: Option<f64>| us.map(|v| (v / 10.0).round() / 100.0);
        let n = s.count();
        Latency {
            p50: ms(s.quantile(0.5)),
            p95: ms(s.quantile(0.95)),
            p99: ms(s.quantile(0.99)),
            mean: ms((n > 0).then(|| s.sum_us as f64 / n as f64)),
        }
    }
}

#[derive(Serialize, Default, Clone, Copy)]
#[serde(rename_all = "camelCase")]
struct Counts {
    requests: u64,
    /// 4xx and 5xx answers, the gateway's own included.
    errors: u64,
    /// Refused by throttling (429), and by a block condition (403 900805).
    throttled: u64,
    blocked: u64,
}

impl Counts {
    fn merge(&mut self, o: &Counts) {
        self.requests += o.requests;
        self.errors += o.errors;
        self.throttled += o.throttled;
        self.blocked += o.blocked;
    }

    fn add(&mut self, r: &AnalyticsRecord) {
        let n = u64::try_from(r.requests).unwrap_or(0);
        self.requests += n;
        if r.status_class >= 4 {
            self.errors += n;
        }
        self.throttled += u64::try_from(r.throttled).unwrap_or(0);
        self.blocked += u64::try_from(r.blocked).unwrap_or(0);
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Point {
    time: String,
    #[serde(flatten)]
    counts: Counts,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ByResource {
    resource: String,
    method: String,
    #[serde(flatten)]
    counts: Counts,
    latency: Latency,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ByApplication {
    application_id: String,
    name: String,
    owner: String,
    #[serde(flatten)]
    counts: Counts,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ByApi {
    api_id: String,
    name: String,
    version: String,
    #[serde(flatten)]
    counts: Counts,
    latency: Latency,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ByName {
    name: String,
    #[serde(flatten)]
    counts: Counts,
}

/// What every analytics page reads: totals, errors by status class, latency split into the whole and the
/// backend's share, a series over the period, and breakdowns (largest first, at most 10 of each list).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Summary {
    period: &'static str,
    from: String,
    to: String,
    step_seconds: i64,
    #[serde(flatten)]
    totals: Counts,
    gateway_errors: u64,
    by_status_class: HashMap<String, u64>,
    latency: Latency,
    backend_latency: Latency,
    series: Vec<Point>,
    by_resource: Vec<ByResource>,
    by_application: Vec<ByApplication>,
    by_api: Vec<ByApi>,
    by_key_type: Vec<ByName>,
    by_gateway: Vec<ByName>,
}

fn top<T>(mut list: Vec<T>, requests: impl Fn(&T) -> u64) -> Vec<T> {
    list.sort_by_key(|x| std::cmp::Reverse(requests(x)));
    list.truncate(10);
    list
}

/// The period's `[from, to)` ending with the current minute; beyond a day, with the current hour, so that the
/// window is made of whole hours (what the rollups hold).
fn window(period: Period, now: i64) -> (i64, i64) {
    let length = period.span().0;
    let unit = if length <= 86_400 { 60 } else { 3600 };
    let to = (now / unit + 1) * unit;
    (to - length, to)
}

/// Tallies' maps: keyed by ids and names the database holds, hashed fast (foldhash) as a month merges thousands.
type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// A set of rows added up by every breakdown a summary shows. Summaries add rows into one; the platform's rolled
/// buckets are kept as one each ([`RolledTallies`]) and merged.
#[derive(Default)]
struct Tally {
    totals: Counts,
    gateway_errors: u64,
    /// Requests by status class (index 1 to 5).
    by_status_class: [u64; 6],
    latency: SketchSum,
    backend: SketchSum,
    /// By resource template, then method.
    resources: Map<String, Map<String, Counts>>,
    applications: Map<String, (String, String, Counts)>,
    apis: Map<String, (String, String, Counts)>,
    key_types: Map<String, Counts>,
    gateways: Map<String, Counts>,
}

impl Tally {
    fn add(&mut self, r: &AnalyticsRecord) {
        self.totals.add(r);
        self.gateway_errors += u64::try_from(r.gateway_errors).unwrap_or(0);
        if let Some(n) = usize::try_from(r.status_class).ok().and_then(|c| self.by_status_class.get_mut(c)) {
            *n += u64::try_from(r.requests).unwrap_or(0);
        }
        self.latency.add_json(&r.latency);
        self.backend.add_json(&r.backend_latency);
        if !r.resource.is_empty() {
            let methods = match self.resources.get_mut(&r.resource) {
                Some(m) => m,
                None => self.resources.entry(r.resource.clone()).or_default(),
            };
            counts_of(methods, &r.method).add(r);
        }
        if !r.app_id.is_empty() {
            named_counts(&mut self.applications, &r.app_id, &r.app_name, &r.app_owner).add(r);
        }
        named_counts(&mut self.apis, &r.api_id, &r.api_name, &r.api_version).add(r);
        counts_of(&mut self.key_types, &r.key_type).add(r);
        counts_of(&mut self.gateways, &r.node).add(r);
    }

    fn merge(&mut self, o: &Tally) {
        self.totals.merge(&o.totals);
        self.gateway_errors += o.gateway_errors;
        for (n, m) in self.by_status_class.iter_mut().zip(o.by_status_class) {
            *n += m;
        }
        self.latency.add_sum(&o.latency);
        self.backend.add_sum(&o.backend);
        for (resource, methods) in &o.resources {
            let mine = self.resources.entry(resource.clone()).or_default();
            for (method, c) in methods {
                counts_of(mine, method).merge(c);
            }
        }
        for (id, (name, owner, c)) in &o.applications {
            named_counts(&mut self.applications, id, name, owner).merge(c);
        }
        for (id, (name, version, c)) in &o.apis {
            named_counts(&mut self.apis, id, name, version).merge(c);
        }
        for (k, c) in &o.key_types {
            counts_of(&mut self.key_types, k).merge(c);
        }
        for (k, c) in &o.gateways {
            counts_of(&mut self.gateways, k).merge(c);
        }
    }

    /// The ten APIs and the ten resources with the most requests (largest first).
    fn top_keys(&self) -> (Vec<String>, Vec<(String, String)>) {
        let apis = top(self.apis.iter().collect(), |(_, (_, _, c))| c.requests).into_iter().map(|(id, _)| id.clone()).collect();
        let each = self.resources.iter().flat_map(|(r, methods)| methods.iter().map(move |(m, c)| ((r, m), c.requests)));
        let resources = top(each.collect(), |(_, n)| *n).into_iter().map(|((r, m), _)| (r.clone(), m.clone())).collect();
        (apis, resources)
    }
}

/// The entry of `key`, made on first use (the key copied only then).
fn counts_of<'m>(m: &'m mut Map<String, Counts>, key: &str) -> &'m mut Counts {
    if !m.contains_key(key) {
        m.insert(key.to_string(), Counts::default());
    }
    m.get_mut(key).expect("just inserted")
}

fn named_counts<'m>(m: &'m mut Map<String, (String, String, Counts)>, id: &str, a: &str, b: &str) -> &'m mut Counts {
    if !m.contains_key(id) {
        m.insert(id.to_string(), (a.to_string(), b.to_string(), Counts::default()));
    }
    &mut m.get_mut(id).expect("just inserted").2
}

/// A summary's requests over time: a point per `step` seconds from `from`.
struct Series {
    from: i64,
    step: i64,
    points: Vec<Counts>,
}

impl Series {
    fn new(period: Period, now: i64) -> Series {
        let (length, step) = period.span();
        let points = usize::try_from(length / step).unwrap_or(0);
        Series { from: window(period, now).0, step, points: vec![Counts::default(); points] }
    }

    /// The point a bucket starting at `start` falls in (a bucket longer than a step counts at its start).
    fn at(&mut self, start: i64) -> Option<&mut Counts> {
        usize::try_from((start - self.from) / self.step).ok().and_then(|i| self.points.get_mut(i))
    }
}

/// The summary of `t`, with latency for the top APIs and resources from `api_latency` and `resource_latency`
/// (absent: `null` percentiles).
fn finish(
    t: Tally,
    series: Series,
    period: Period,
    to: i64,
    api_latency: &HashMap<String, SketchSum>,
    resource_latency: &HashMap<(String, String), SketchSum>,
) -> Summary {
    let (top_apis, top_resources) = t.top_keys();
    let latency_of = |s: Option<&SketchSum>| s.map_or_else(Latency::default, |s| Latency::of(&s.to_sketch()));
    let named = |m: Map<String, Counts>| top(m.into_iter().map(|(name, counts)| ByName { name, counts }).collect(), |x| x.counts.requests);
    let mut apis = t.apis;
    let mut resources = t.resources;
    Summary {
        period: period.name(),
        from: apim_domain::api::rfc3339(series.from),
        to: apim_domain::api::rfc3339(to),
        step_seconds: series.step,
        totals: t.totals,
        gateway_errors: t.gateway_errors,
        by_status_class: (1..=5).filter(|c| t.by_status_class[*c] > 0).map(|c| (format!("{c}xx"), t.by_status_class[c])).collect(),
        latency: Latency::of(&t.latency.to_sketch()),
        backend_latency: Latency::of(&t.backend.to_sketch()),
        series: series
            .points
            .into_iter()
            .enumerate()
            .map(|(i, counts)| Point { time: apim_domain::api::rfc3339(series.from + i as i64 * series.step), counts })
            .collect(),
        by_resource: top_resources
            .into_iter()
            .filter_map(|key| {
                let counts = resources.get_mut(&key.0)?.remove(&key.1)?;
                let latency = latency_of(resource_latency.get(&key));
                Some(ByResource { resource: key.0, method: key.1, counts, latency })
            })
            .collect(),
        by_application: top(
            t.applications
                .into_iter()
                .map(|(id, (name, owner, counts))| ByApplication { application_id: id, name, owner, counts })
                .collect(),
            |x| x.counts.requests,
        ),
        by_api: top_apis
            .into_iter()
            .filter_map(|id| {
                let (name, version, counts) = apis.remove(&id)?;
                let latency = latency_of(api_latency.get(&id));
                Some(ByApi { api_id: id, name, version, counts, latency })
            })
            .collect(),
        by_key_type: named(t.key_types),
        by_gateway: named(t.gateways),
    }
}

/// A summary of rows read whole: their sketches are read again for the top APIs and resources.
fn summarize(rows: &[AnalyticsRecord], period: Period, now: i64) -> Summary {
    let mut t = Tally::default();
    let mut series = Series::new(period, now);
    for r in rows {
        t.add(r);
        if let Some(p) = series.at(r.minute) {
            p.add(r);
        }
    }
    let (top_apis, top_resources) = t.top_keys();
    let mut api_latency: HashMap<String, SketchSum> = top_apis.into_iter().map(|k| (k, SketchSum::default())).collect();
    let mut resource_latency = vec![SketchSum::default(); top_resources.len()];
    for r in rows {
        if let Some(s) = api_latency.get_mut(&r.api_id) {
            s.add_json(&r.latency);
        }
        if let Some(i) = top_resources.iter().position(|(resource, method)| *resource == r.resource && *method == r.method) {
            resource_latency[i].add_json(&r.latency);
        }
    }
    let resource_latency: HashMap<(String, String), SketchSum> = top_resources.into_iter().zip(resource_latency).collect();
    finish(t, series, period, window(period, now).1, &api_latency, &resource_latency)
}

/// The platform's rolled buckets added up, kept in memory by each control plane: a bucket is rolled once and never
/// changes after (late minute rows are not rolled again), so a month merges about 30 day tallies and the hours at
/// its edges instead of reading tens of thousands of rows each time. Buckets older than the retention period are
/// dropped as new ones come.
#[derive(Default)]
pub(crate) struct RolledTallies(std::sync::Mutex<HashMap<(Granularity, i64), Arc<Tally>>>);

/// The parts of `[from, to)` and the rows that cover each: whole rolled days, the rolled hours around them, then
/// the minutes after the last rolled hour.
fn segments(from: i64, to: i64, days_rolled_until: i64, hours_rolled_until: i64) -> Vec<(Granularity, i64, i64)> {
    let (hour, day) = (Granularity::Hour.seconds(), Granularity::Day.seconds());
    let mut out = Vec::new();
    let mut at = from;
    let (d0, d1) = (ceil(from, day), floor(days_rolled_until.min(to), day));
    if d1 > d0 {
        out.push((Granularity::Hour, ceil(from, hour), d0));
        out.push((Granularity::Day, d0, d1));
        at = d1;
    }
    let (h0, h1) = (ceil(at, hour), floor(hours_rolled_until.min(to), hour));
    if h1 > h0 {
        out.push((Granularity::Hour, h0, h1));
        at = h1;
    }
    out.push((Granularity::Minute, at, to));
    out
}

fn floor(t: i64, step: i64) -> i64 {
    t.div_euclid(step) * step
}

fn ceil(t: i64, step: i64) -> i64 {
    floor(t + step - 1, step)
}

/// `rows` (of buckets `g` seconds long starting at `start`) merged into one row per gateway node, API, resource,
/// application, key type and status class, in the bucket of `into` starting at `start`.
/// What a rollup row is kept apart by: node, API, resource, method, application, key type, status class.
type RollupKey<'a> = (&'a str, &'a str, &'a str, &'a str, &'a str, &'a str, i16);

fn roll(rows: &[AnalyticsRecord], into: Granularity, start: i64) -> Vec<AnalyticsRecord> {
    let mut merged: HashMap<RollupKey<'_>, (AnalyticsRecord, SketchSum, SketchSum)> = HashMap::new();
    for r in rows {
        let key = (&*r.node, &*r.api_id, &*r.resource, &*r.method, &*r.app_id, &*r.key_type, r.status_class);
        let e = merged.entry(key).or_insert_with(|| {
            let row_key = apim_jose::crypto::sha256_hex(&format!(
                "{}\u{0}{start}\u{0}{}\u{0}{}\u{0}{}\u{0}{}\u{0}{}\u{0}{}\u{0}{}",
                into.seconds(),
                r.node,
                r.api_id,
                r.resource,
                r.method,
                r.app_id,
                r.key_type,
                r.status_class
            ));
            let zero = AnalyticsRecord { row_key, minute: start, requests: 0, throttled: 0, blocked: 0, gateway_errors: 0, ..r.clone() };
            (zero, SketchSum::default(), SketchSum::default())
        });
        e.0.requests += r.requests;
        e.0.throttled += r.throttled;
        e.0.blocked += r.blocked;
        e.0.gateway_errors += r.gateway_errors;
        e.1.add_json(&r.latency);
        e.2.add_json(&r.backend_latency);
    }
    merged
        .into_values()
        .map(|(mut r, latency, backend)| {
            // Serializing a sketch of integers cannot fail; an empty one stands in if it ever did.
            r.latency = serde_json::to_string(&latency.to_sketch()).unwrap_or_default();
            r.backend_latency = serde_json::to_string(&backend.to_sketch()).unwrap_or_default();
            r
        })
        .collect()
}

impl ControlPlane {
    async fn summary(&self, filter: AnalyticsFilter, query: &SummaryQuery) -> Result<Response> {
        let period = Period::parse(query.period.as_deref())?;
        let now = self.clock.unix_secs();
        Ok(Json(self.analytics_summary(&filter, period, now).await?).into_response())
    }

    /// A summary as the REST API answers it, for `period` (`15m` … `30d`): for tests and benchmarks that go
    /// around HTTP.
    pub async fn analytics_report(&self, filter: &AnalyticsFilter, period: &str) -> Result<serde_json::Value> {
        let summary = self.analytics_summary(filter, Period::parse(Some(period))?, self.clock.unix_secs()).await?;
        serde_json::to_value(summary).map_err(ApiError::storage)
    }

    async fn analytics_summary(&self, filter: &AnalyticsFilter, period: Period, now: i64) -> Result<Summary> {
        let (from, to) = window(period, now);
        if period.span().0 <= 86_400 {
            return Ok(summarize(&self.db.analytics(Granularity::Minute, filter, from, to).await?, period, now));
        }
        if matches!(filter, AnalyticsFilter::All) {
            return self.platform_summary(period, now).await;
        }
        Ok(summarize(&self.rows_over(filter, from, to).await?, period, now))
    }

    /// The platform beyond a day: the rolled buckets' tallies (from memory, or read once), the minutes after them
    /// read whole, and the top APIs' rows read again for their latency (by the API's index). Resources' latency is
    /// not given here (`null`): a resource's rows have no index, and each API's view gives it.
    async fn platform_summary(&self, period: Period, now: i64) -> Result<Summary> {
        let (from, to) = window(period, now);
        let mut t = Tally::default();
        let mut series = Series::new(period, now);
        for (g, start, end) in self.segments(from, to).await? {
            if g == Granularity::Minute {
                for r in self.db.analytics(g, &AnalyticsFilter::All, start, end).await? {
                    t.add(&r);
                    if let Some(p) = series.at(r.minute) {
                        p.add(&r);
                    }
                }
                continue;
            }
            let mut bucket = start;
            while bucket < end {
                let part = self.rolled_tally(g, bucket, now).await?;
                t.merge(&part);
                if let Some(p) = series.at(bucket) {
                    p.merge(&part.totals);
                }
                bucket += g.seconds();
            }
        }
        let mut api_latency = HashMap::new();
        for id in t.top_keys().0 {
            let mut sum = SketchSum::default();
            for r in self.rows_over(&AnalyticsFilter::Api(id.clone()), from, to).await? {
                sum.add_json(&r.latency);
            }
            api_latency.insert(id, sum);
        }
        Ok(finish(t, series, period, to, &api_latency, &HashMap::new()))
    }

    /// The tally of one rolled bucket of the whole platform, read from the database the first time.
    async fn rolled_tally(&self, g: Granularity, start: i64, now: i64) -> std::result::Result<Arc<Tally>, apim_store::StoreError> {
        let cached = self.rolled.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&(g, start)).cloned();
        if let Some(t) = cached {
            return Ok(t);
        }
        let mut t = Tally::default();
        for r in self.db.analytics(g, &AnalyticsFilter::All, start, start + g.seconds()).await? {
            t.add(&r);
        }
        let t = Arc::new(t);
        // Only buckets the retention keeps: older rows are deleted with the next pruning.
        let kept = now - i64::from(self.cfg.analytics_retention_days) * 86_400;
        let mut cache = self.rolled.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.retain(|(_, s), _| *s >= kept);
        if start >= kept {
            cache.insert((g, start), t.clone());
        }
        Ok(t)
    }

    /// [`segments`] of `[from, to)` by what is rolled up now.
    async fn segments(&self, from: i64, to: i64) -> std::result::Result<Vec<(Granularity, i64, i64)>, apim_store::StoreError> {
        let rolled = |latest: Option<i64>, step: i64| latest.map_or(from, |l| l + step);
        let days = rolled(self.db.analytics_latest(Granularity::Day).await?, Granularity::Day.seconds());
        let hours = rolled(self.db.analytics_latest(Granularity::Hour).await?, Granularity::Hour.seconds());
        Ok(segments(from, to, days, hours))
    }

    /// `[from, to)` from the coarsest rows that cover it: whole days rolled up, then hours, then the minutes
    /// after the last rolled hour.
    pub(crate) async fn rows_over(
        &self,
        filter: &AnalyticsFilter,
        from: i64,
        to: i64,
    ) -> std::result::Result<Vec<AnalyticsRecord>, apim_store::StoreError> {
        let mut rows = Vec::new();
        for (g, start, end) in self.segments(from, to).await? {
            if end > start {
                rows.extend(self.db.analytics(g, filter, start, end).await?);
            }
        }
        Ok(rows)
    }

    /// Rolls settled hours of minute rows into hour rows, and whole rolled days of hour rows into day rows; each
    /// bucket is computed again whole, so rolling one twice changes nothing. Returns the rows written.
    pub async fn roll_up_analytics(&self) -> std::result::Result<u64, apim_store::StoreError> {
        let now = self.clock.unix_secs();
        let retention = i64::from(self.cfg.analytics_retention_days) * 86_400;
        let mut written = 0;
        let levels = [
            // The first time, every minute row kept (a database from before rollups holds the whole retention).
            (Granularity::Minute, Granularity::Hour, now - retention, floor(now - SETTLE, 3600)),
            (Granularity::Hour, Granularity::Day, now - retention, 0),
        ];
        for (source, into, oldest, mut until) in levels {
            let span = into.seconds();
            if into == Granularity::Day {
                // Days whose every hour has been rolled.
                until = self.db.analytics_latest(Granularity::Hour).await?.map_or(0, |h| floor(h + 3600, span));
            }
            let mut start = match self.db.analytics_latest(into).await? {
                Some(latest) => latest + span,
                None => ceil(oldest, span),
            }
            .max(ceil(oldest, span));
            while start + span <= until {
                let rows = self.db.analytics(source, &AnalyticsFilter::All, start, start + span).await?;
                if !rows.is_empty() {
                    written += self.db.add_analytics(into, &roll(&rows, into, start)).await?;
                }
                start += span;
            }
        }
        Ok(written)
    }

    /// Reads the tally of every rolled bucket a month-long platform summary merges that is not in memory yet: at
    /// start and after each rollup, so that no person waits for it.
    async fn warm_rolled_tallies(&self, now: i64) -> std::result::Result<(), apim_store::StoreError> {
        for period in [Period::D7, Period::D30] {
            let (from, to) = window(period, now);
            for (g, start, end) in self.segments(from, to).await? {
                if g != Granularity::Minute {
                    for bucket in (start..end).step_by(usize::try_from(g.seconds()).unwrap_or(3600)) {
                        self.rolled_tally(g, bucket, now).await?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Rolls up what has settled, reads the new rolled buckets' tallies into memory, then deletes rows older than
    /// `[apim.analytics] retention_days` (minute rows after two days, once rolled up).
    pub(crate) async fn prune_analytics(&self) -> std::result::Result<u64, apim_store::StoreError> {
        self.roll_up_analytics().await?;
        self.warm_rolled_tallies(self.clock.unix_secs()).await?;
        let now = self.clock.unix_secs();
        let before = now - i64::from(self.cfg.analytics_retention_days) * 86_400;
        let rolled = self.db.analytics_latest(Granularity::Hour).await?.map_or(i64::MIN, |h| h + 3600);
        let mut pruned = self.db.prune_analytics(Granularity::Minute, before.max((now - MINUTES_KEPT).min(rolled))).await?;
        pruned += self.db.prune_analytics(Granularity::Hour, before).await?;
        pruned += self.db.prune_analytics(Granularity::Day, before).await?;
        self.rolled.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).retain(|(_, s), _| *s >= before);
        Ok(pruned)
    }

    /// Refuses a caller who may not read the application's usage: only its owner (and an admin) may (403), of an
    /// application that exists (404).
    pub(crate) async fn owned_application(&self, headers: &HeaderMap, id: &str) -> Result<()> {
        let who = self.principal(headers).await?;
        who.require(crate::devportal::APPS)?;
        match self.db.get_application(id).await? {
            None => Err(ApiError::not_found(format!("application {id} not found"))),
            Some(a) if a.owner != who.username && !who.is_admin() => {
                Err(ApiError::forbidden(format!("application {id} belongs to another user; only its owner reads its usage")))
            }
            Some(_) => Ok(()),
        }
    }

    /// Stores a gateway's batch; returns how many rows were new.
    pub async fn record_analytics(&self, batch: &AnalyticsBatch) -> Result<u64> {
        let rows = check_batch(batch)?;
        if batch.dropped > 0 {
            tracing::warn!(gateway = %batch.gateway_id, dropped = batch.dropped, "a gateway could not record every request for analytics");
        }
        Ok(self.db.add_analytics(Granularity::Minute, &rows).await?)
    }
}

/// A peer's batch, checked field by field before anything is stored (a bad one is refused whole).
fn check_batch(batch: &AnalyticsBatch) -> Result<Vec<AnalyticsRecord>> {
    let text = |field: &str, v: &str, max: usize| -> Result<()> {
        if v.chars().count() > max || v.chars().any(char::is_control) {
            return Err(ApiError::field(field, format!("must be at most {max} characters, none of them control characters")));
        }
        Ok(())
    };
    if batch.gateway_id.is_empty() {
        return Err(ApiError::field("gatewayId", "is required"));
    }
    text("gatewayId", &batch.gateway_id, 255)?;
    text("runId", &batch.run_id, 64)?;
    if batch.rows.len() > MAX_BATCH_ROWS {
        return Err(ApiError::field("rows", format!("a batch holds at most {MAX_BATCH_ROWS} rows")));
    }
    let mut out = Vec::with_capacity(batch.rows.len());
    for (i, r) in batch.rows.iter().enumerate() {
        let at = |f: &str| format!("rows[{i}].{f}");
        for (field, v, max) in [
            ("apiId", &r.api_id, 64),
            ("apiName", &r.api_name, 255),
            ("apiVersion", &r.api_version, 64),
            ("resource", &r.resource, 1024),
            ("method", &r.method, 16),
            ("applicationId", &r.application_id, 64),
            ("applicationName", &r.application_name, 255),
            ("applicationOwner", &r.application_owner, 255),
        ] {
            text(&at(field), v, max)?;
        }
        if r.api_id.is_empty() {
            return Err(ApiError::field(&at("apiId"), "is required"));
        }
        if !matches!(r.key_type, apim_wire::KeyType::Production | apim_wire::KeyType::Sandbox) {
            return Err(ApiError::field(&at("keyType"), "must be PRODUCTION or SANDBOX"));
        }
        if !(1..=5).contains(&r.status_class) {
            return Err(ApiError::field(&at("statusClass"), "must be 1 to 5 (the status divided by 100)"));
        }
        if r.minute % 60 != 0 || r.minute < 0 {
            return Err(ApiError::field(&at("minute"), "must be the Unix second a minute starts at"));
        }
        if !r.latency.is_well_formed() || !r.backend_latency.is_well_formed() {
            return Err(ApiError::field(&at("latency"), "a sketch's buckets must be sorted and unique, at most 2048"));
        }
        let count = |n: u64, f: &str| i64::try_from(n).map_err(|_| ApiError::field(&at(f), "is too large"));
        out.push(AnalyticsRecord {
            row_key: row_key(batch, r),
            minute: r.minute,
            node: batch.gateway_id.clone(),
            api_id: r.api_id.clone(),
            api_name: r.api_name.clone(),
            api_version: r.api_version.clone(),
            resource: r.resource.clone(),
            method: r.method.clone(),
            app_id: r.application_id.clone(),
            app_name: r.application_name.clone(),
            app_owner: r.application_owner.clone(),
            key_type: r.key_type.to_string(),
            status_class: r.status_class as i16,
            requests: count(r.requests, "requests")?,
            throttled: count(r.throttled, "throttled")?,
            blocked: count(r.blocked, "blocked")?,
            gateway_errors: count(r.gateway_errors, "gatewayErrors")?,
            latency: serde_json::to_string(&r.latency).map_err(ApiError::storage)?,
            backend_latency: serde_json::to_string(&r.backend_latency).map_err(ApiError::storage)?,
        });
    }
    Ok(out)
}

/// What makes a row unique: its gateway node and run, and its own key.
fn row_key(batch: &AnalyticsBatch, r: &MinuteRow) -> String {
    let key = format!(
        "{}\u{0}{}\u{0}{}\u{0}{}\u{0}{}\u{0}{}\u{0}{}\u{0}{}\u{0}{}",
        batch.gateway_id, batch.run_id, r.minute, r.api_id, r.resource, r.method, r.application_id, r.key_type, r.status_class
    );
    apim_jose::crypto::sha256_hex(&key)
}

pub(crate) async fn ingest(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, body: axum::body::Bytes) -> Result<Response> {
    cp.check_node(&headers)?;
    let batch: AnalyticsBatch =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("the analytics batch does not parse: {e}")))?;
    let added = cp.record_analytics(&batch).await?;
    Ok(Json(serde_json::json!({"stored": added, "received": batch.rows.len()})).into_response())
}

async fn of_api(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<SummaryQuery>,
) -> Result<Response> {
    cp.principal(&headers).await?.require(crate::publisher::VIEW)?;
    if cp.db.get_api(&id).await?.is_none() {
        return Err(ApiError::not_found(format!("API {id} not found")));
    }
    cp.summary(AnalyticsFilter::Api(id), &q).await
}

async fn of_application(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<SummaryQuery>,
) -> Result<Response> {
    cp.owned_application(&headers, &id).await?;
    cp.summary(AnalyticsFilter::Application(id), &q).await
}

async fn of_platform(State(cp): State<Arc<ControlPlane>>, headers: HeaderMap, Query(q): Query<SummaryQuery>) -> Result<Response> {
    cp.principal(&headers).await?.require(crate::admin::ADMIN)?;
    cp.summary(AnalyticsFilter::All, &q).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(minute: i64, status_class: u16, us: u64) -> MinuteRow {
        let mut latency = Sketch::default();
        latency.add(us);
        MinuteRow {
            minute,
            api_id: "a1".into(),
            api_name: "Orders".into(),
            api_version: "1.0.0".into(),
            resource: "/orders".into(),
            method: "GET".into(),
            application_id: "app1".into(),
            application_name: "Shop".into(),
            application_owner: "alice".into(),
            key_type: apim_wire::KeyType::Production,
            status_class,
            requests: 3,
            throttled: 0,
            blocked: 0,
            gateway_errors: 0,
            latency,
            backend_latency: Sketch::default(),
        }
    }

    #[test]
    fn batches_are_checked_and_summaries_add_up() {
        let batch =
            AnalyticsBatch { gateway_id: "gw1".into(), run_id: "r1".into(), rows: vec![row(600, 2, 1000), row(660, 5, 3000)], dropped: 0 };
        let records = check_batch(&batch).expect("a good batch");
        assert_ne!(records[0].row_key, records[1].row_key);
        let again = AnalyticsBatch { run_id: "r2".into(), ..batch.clone() };
        assert_ne!(check_batch(&again).expect("good")[0].row_key, records[0].row_key, "another run is another row");
        let s = summarize(&records, Period::M15, 700);
        assert_eq!((s.totals.requests, s.totals.errors), (6, 3));
        assert_eq!(s.by_status_class.get("5xx"), Some(&3));
        assert_eq!(s.series.iter().map(|p| p.counts.requests).sum::<u64>(), 6);
        assert_eq!(s.by_application[0].counts.requests, 6);
        let p99 = s.latency.p99.expect("a p99");
        assert!((p99 - 3.0).abs() < 0.07, "{p99}");

        let bad = |f: &dyn Fn(&mut AnalyticsBatch), want: &str| {
            let mut b = batch.clone();
            f(&mut b);
            let e = check_batch(&b).expect_err(want);
            assert!(format!("{e:?}").contains(want), "{e:?}");
        };
        bad(&|b| b.gateway_id.clear(), "gatewayId");
        bad(&|b| b.rows[1].status_class = 9, "rows[1].statusClass");
        bad(&|b| b.rows[0].key_type = apim_wire::KeyType::from("PRODUCTION_AND_MORE"), "rows[0].keyType");
        bad(&|b| b.rows[0].minute = 61, "rows[0].minute");
        bad(&|b| b.rows[0].api_id = "x".repeat(65), "rows[0].apiId");
        bad(&|b| b.rows[0].latency.buckets = vec![(2, 1), (1, 1)], "rows[0].latency");
        bad(&|b| b.rows[0].requests = u64::MAX, "rows[0].requests");
        assert!(Period::parse(Some("2y")).is_err());
    }
}
