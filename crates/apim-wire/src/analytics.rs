//! Analytics between gateways and the control plane: per-minute aggregates of the requests a gateway answered,
//! keyed by API, resource, application, key type and status class, with latency sketches that merge exactly (a
//! bucket's counts add up), so a percentile over many minutes and nodes is as accurate as over one.
//!
//! A gateway sends each closed minute once, in an [`AnalyticsBatch`] carrying its node id and the id of the
//! process run: a batch sent again (a retry after a lost answer) is stored once, and a restarted gateway's rows
//! are new rows, never a second count of the old ones.

use serde::{Deserialize, Serialize};

use crate::KeyType;

/// Relative accuracy of a quantile read from a [`Sketch`]: 2 % (a bucket spans values within `GAMMA` of each other).
const GAMMA: f64 = 1.04;

/// A latency distribution in microseconds: log-spaced buckets (DDSketch's mapping, γ = 1.04), kept sparse and
/// sorted. Two sketches merge by adding bucket counts, exactly.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sketch {
    /// `(bucket, count)`, by bucket. Bucket 0 holds values up to 1 µs; bucket `i` values in (γ^(i-1), γ^i].
    pub buckets: Vec<(u16, u64)>,
    /// The sum of the values, for a mean.
    pub sum_us: u64,
}

/// A value's bucket by DDSketch's formula: what [`Sketch::bucket`] answers, with a logarithm.
fn bucket_by_formula(us: u64) -> u16 {
    if us <= 1 {
        return 0;
    }
    let i = ((us as f64).ln() / GAMMA.ln()).ceil();
    i.clamp(1.0, f64::from(u16::MAX)) as u16
}

/// A value's bucket as a table lookup instead of a logarithm (a gateway counts two values per request), the table
/// built once from [`bucket_by_formula`], which never decreases as the value grows.
struct Bounds {
    /// The bucket of each value below 128.
    small: [u16; 128],
    /// For values from 128 on, one entry per 64th of a binary order of magnitude ([2^k, 2^(k+1)), k ≥ 7): the
    /// bucket of its first value, and the first value of the next bucket if that starts within it (else
    /// `u64::MAX`). A 64th spans a ratio under 65/64 and a bucket one of 1.04, so no 64th holds two starts.
    steps: Vec<(u16, u64)>,
}

impl Bounds {
    fn get() -> &'static Bounds {
        static BOUNDS: std::sync::OnceLock<Bounds> = std::sync::OnceLock::new();
        BOUNDS.get_or_init(|| {
            let small = std::array::from_fn(|us| bucket_by_formula(us as u64));
            let steps = (7..64u32)
                .flat_map(|k| (64..128u64).map(move |j| (j << (k - 6), ((j + 1) << (k - 6)).wrapping_sub(1))))
                .map(|(first, last)| {
                    let bucket = bucket_by_formula(first);
                    if bucket_by_formula(last) == bucket {
                        return (bucket, u64::MAX);
                    }
                    let (mut lo, mut hi) = (first, last);
                    while lo < hi {
                        let mid = lo + (hi - lo) / 2;
                        if bucket_by_formula(mid) > bucket { hi = mid } else { lo = mid + 1 }
                    }
                    (bucket, lo)
                })
                .collect();
            Bounds { small, steps }
        })
    }
}

/// Builds the bucket table now (a few milliseconds), so that no request waits for it.
pub fn prepare_buckets() {
    Bounds::get();
}

impl Sketch {
    fn bucket(us: u64) -> u16 {
        let bounds = Bounds::get();
        if us < 128 {
            return bounds.small[us as usize];
        }
        let k = us.ilog2();
        let step = (k as usize - 7) << 6 | ((us >> (k - 6)) & 63) as usize;
        let (bucket, next) = bounds.steps[step];
        bucket + u16::from(us >= next)
    }

    /// The value a bucket stands for: its middle, within 2 % of every value it holds.
    fn value(bucket: u16) -> f64 {
        if bucket == 0 {
            return 1.0;
        }
        let upper = GAMMA.powi(i32::from(bucket));
        upper * 2.0 / (1.0 + GAMMA)
    }

    pub fn add(&mut self, us: u64) {
        self.add_n(Self::bucket(us), 1);
        self.sum_us = self.sum_us.saturating_add(us);
    }

    fn add_n(&mut self, bucket: u16, n: u64) {
        match self.buckets.binary_search_by_key(&bucket, |(b, _)| *b) {
            Ok(i) => self.buckets[i].1 = self.buckets[i].1.saturating_add(n),
            Err(i) => self.buckets.insert(i, (bucket, n)),
        }
    }

    pub fn merge(&mut self, other: &Sketch) {
        for &(b, n) in &other.buckets {
            self.add_n(b, n);
        }
        self.sum_us = self.sum_us.saturating_add(other.sum_us);
    }

    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|(_, n)| n).sum()
    }

    /// The `q`-quantile (0 ≤ q ≤ 1) in microseconds; `None` for an empty sketch.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        // The rank of the value wanted, from 0: the nearest-rank definition.
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for &(b, n) in &self.buckets {
            seen += n;
            if seen >= rank {
                return Some(Self::value(b));
            }
        }
        self.buckets.last().map(|(b, _)| Self::value(*b))
    }

    /// Whether the buckets are sorted, unique and few enough: what a receiver checks of a peer's sketch.
    pub fn is_well_formed(&self) -> bool {
        self.buckets.len() <= 2048 && self.buckets.windows(2).all(|w| w[0].0 < w[1].0)
    }
}

/// A sketch being counted into: a counter per bucket from the lowest bucket seen to the highest, so that adding a
/// value is an index, not a search. What a gateway counts a minute's latencies in; it travels as a [`Sketch`].
/// At most one counter per bucket a `u64` reaches (about 1,130), so never larger than a full sparse sketch.
#[derive(Clone, Debug, Default)]
pub struct DenseSketch {
    /// The bucket of `counts[0]`.
    first: u16,
    counts: Vec<u32>,
    sum_us: u64,
}

impl DenseSketch {
    pub fn add(&mut self, us: u64) {
        self.sum_us = self.sum_us.saturating_add(us);
        let bucket = Sketch::bucket(us);
        // A bucket below `first` wraps to beyond every index.
        if let Some(n) = self.counts.get_mut(usize::from(bucket.wrapping_sub(self.first))) {
            *n = n.saturating_add(1);
            return;
        }
        self.widen(bucket);
    }

    /// Counts a value in a bucket outside the span counted so far.
    #[cold]
    fn widen(&mut self, bucket: u16) {
        if self.counts.is_empty() {
            self.first = bucket;
            self.counts.push(1);
        } else if bucket < self.first {
            let below = usize::from(self.first - bucket);
            self.counts.splice(0..0, std::iter::repeat_n(0, below));
            self.counts[0] = 1;
            self.first = bucket;
        } else {
            let at = usize::from(bucket - self.first);
            self.counts.resize(at + 1, 0);
            self.counts[at] = 1;
        }
    }

    /// Adds what was counted to `into`.
    pub fn add_to(&self, into: &mut Sketch) {
        for (bucket, &n) in (self.first..).zip(&self.counts) {
            if n > 0 {
                into.add_n(bucket, u64::from(n));
            }
        }
        into.sum_us = into.sum_us.saturating_add(self.sum_us);
    }

    pub fn to_sketch(&self) -> Sketch {
        let mut sketch = Sketch::default();
        self.add_to(&mut sketch);
        sketch
    }
}

/// Many sketches added up, a counter per bucket: adding one is a pass over its buckets, where [`Sketch::merge`]
/// inserts each into a sorted list. What a summary over thousands of stored rows adds its sketches into.
#[derive(Clone, Debug, Default)]
pub struct SketchSum {
    counts: Vec<u64>,
    sum_us: u64,
    /// Buckets of the text being read, added only once the whole text has parsed.
    scratch: Vec<(u16, u64)>,
}

impl SketchSum {
    pub fn add(&mut self, s: &Sketch) {
        for &(b, n) in &s.buckets {
            self.add_n(b, n);
        }
        self.sum_us = self.sum_us.saturating_add(s.sum_us);
    }

    pub fn add_sum(&mut self, other: &SketchSum) {
        if self.counts.len() < other.counts.len() {
            self.counts.resize(other.counts.len(), 0);
        }
        for (n, m) in self.counts.iter_mut().zip(&other.counts) {
            *n = n.saturating_add(*m);
        }
        self.sum_us = self.sum_us.saturating_add(other.sum_us);
    }

    fn add_n(&mut self, bucket: u16, n: u64) {
        let i = usize::from(bucket);
        if i >= self.counts.len() {
            self.counts.resize(i + 1, 0);
        }
        self.counts[i] = self.counts[i].saturating_add(n);
    }

    /// Adds a sketch in its JSON form, as [`Sketch`] serializes; the compact text serde_json writes is read
    /// without building a `Sketch`, anything else through serde. Returns false, adding nothing, for a text that
    /// is not a sketch.
    pub fn add_json(&mut self, text: &str) -> bool {
        let mut buckets = std::mem::take(&mut self.scratch);
        buckets.clear();
        let added = match read_compact(text, &mut buckets) {
            Some(sum_us) => {
                for &(b, n) in &buckets {
                    self.add_n(b, n);
                }
                self.sum_us = self.sum_us.saturating_add(sum_us);
                true
            }
            None => match serde_json::from_str::<Sketch>(text) {
                Ok(s) => {
                    self.add(&s);
                    true
                }
                Err(_) => false,
            },
        };
        self.scratch = buckets;
        added
    }

    pub fn to_sketch(&self) -> Sketch {
        let buckets =
            self.counts.iter().enumerate().filter(|(_, n)| **n > 0).filter_map(|(b, n)| Some((u16::try_from(b).ok()?, *n))).collect();
        Sketch { buckets, sum_us: self.sum_us }
    }
}

/// `{"buckets":[[b,n],…],"sumUs":s}` exactly as serde_json writes a [`Sketch`]: its buckets into `out`, and its sum.
fn read_compact(text: &str, out: &mut Vec<(u16, u64)>) -> Option<u64> {
    fn number(b: &[u8]) -> Option<(u64, &[u8])> {
        let digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 || digits > 19 {
            return None;
        }
        let n = b[..digits].iter().fold(0u64, |n, c| n * 10 + u64::from(c - b'0'));
        Some((n, &b[digits..]))
    }
    let mut b = text.strip_prefix(r#"{"buckets":["#)?.as_bytes();
    while let Some(rest) = b.strip_prefix(b"[") {
        let (bucket, rest) = number(rest)?;
        let (n, rest) = number(rest.strip_prefix(b",")?)?;
        out.push((u16::try_from(bucket).ok()?, n));
        let rest = rest.strip_prefix(b"]")?;
        b = rest.strip_prefix(b",").unwrap_or(rest);
    }
    let (sum_us, rest) = number(b.strip_prefix(br#"],"sumUs":"#)?)?;
    (rest == b"}").then_some(sum_us)
}

/// What one gateway answered in one minute for one combination of API, resource, application, key type and
/// status class.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MinuteRow {
    /// Unix seconds at the minute's start.
    pub minute: i64,
    pub api_id: String,
    pub api_name: String,
    pub api_version: String,
    /// The resource template (`/orders/{id}`) and its method; empty when no resource matched.
    pub resource: String,
    pub method: String,
    /// Empty when the request carried no application (refused before one was known, or an unsecured resource).
    pub application_id: String,
    pub application_name: String,
    pub application_owner: String,
    pub key_type: KeyType,
    /// The answer's status divided by 100: 2 for 2xx, 5 for 5xx.
    pub status_class: u16,
    pub requests: u64,
    /// Refused by throttling (429).
    pub throttled: u64,
    /// Refused by a block condition (403 900805: the API, the application, the user or the client's address).
    #[serde(default)]
    pub blocked: u64,
    /// Answered by the gateway itself with an error (authentication, throttling, schema, backend unreachable),
    /// not by the backend.
    pub gateway_errors: u64,
    /// From the request's arrival to the response headers.
    pub latency: Sketch,
    /// The backend's share: from the upstream request sent to its response headers (requests that reached it).
    pub backend_latency: Sketch,
}

/// A gateway's closed minutes (`POST /internal/data/v1/analytics`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalyticsBatch {
    pub gateway_id: String,
    /// Random per process run: with `gateway_id`, what makes a stored row unique beside its own key.
    pub run_id: String,
    pub rows: Vec<MinuteRow>,
    /// Requests the gateway could not record since its last batch (its table for the minute was full).
    pub dropped: u64,
}

/// A peer's analytics batch in protobuf (a gateway's, through a traffic manager) that does not make an
/// [`AnalyticsBatch`]: the field, as the control plane's JSON names it, and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadBatch {
    pub field: String,
    pub problem: &'static str,
}

impl std::fmt::Display for BadBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.problem)
    }
}

impl std::error::Error for BadBatch {}

impl From<&Sketch> for crate::throttle::LatencySketch {
    fn from(s: &Sketch) -> Self {
        crate::throttle::LatencySketch {
            buckets: s.buckets.iter().map(|(b, _)| u32::from(*b)).collect(),
            counts: s.buckets.iter().map(|(_, n)| *n).collect(),
            sum_us: s.sum_us,
        }
    }
}

impl From<&AnalyticsBatch> for crate::throttle::AnalyticsBatch {
    fn from(b: &AnalyticsBatch) -> Self {
        let rows = b
            .rows
            .iter()
            .map(|r| crate::throttle::AnalyticsRow {
                minute: r.minute,
                api_id: r.api_id.clone(),
                api_name: r.api_name.clone(),
                api_version: r.api_version.clone(),
                resource: r.resource.clone(),
                method: r.method.clone(),
                application_id: r.application_id.clone(),
                application_name: r.application_name.clone(),
                application_owner: r.application_owner.clone(),
                key_type: r.key_type.as_str().to_string(),
                status_class: u32::from(r.status_class),
                requests: r.requests,
                throttled: r.throttled,
                blocked: r.blocked,
                gateway_errors: r.gateway_errors,
                latency: Some((&r.latency).into()),
                backend_latency: Some((&r.backend_latency).into()),
            })
            .collect();
        crate::throttle::AnalyticsBatch { gateway_id: b.gateway_id.clone(), run_id: b.run_id.clone(), rows, dropped: b.dropped }
    }
}

/// A sketch from the wire: buckets and counts pair up and every bucket fits; what the control plane checks
/// beside (sorted, not too many) it checks on every batch, whichever way it came.
fn sketch(s: Option<crate::throttle::LatencySketch>, field: impl Fn() -> String) -> Result<Sketch, BadBatch> {
    let s = s.ok_or_else(|| BadBatch { field: field(), problem: "missing" })?;
    if s.buckets.len() != s.counts.len() {
        return Err(BadBatch { field: field() + ".counts", problem: "not as many counts as buckets" });
    }
    let buckets = s
        .buckets
        .iter()
        .zip(&s.counts)
        .map(|(b, n)| u16::try_from(*b).map(|b| (b, *n)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| BadBatch { field: field() + ".buckets", problem: "a bucket above 65,535" })?;
    Ok(Sketch { buckets, sum_us: s.sum_us })
}

impl TryFrom<crate::throttle::AnalyticsBatch> for AnalyticsBatch {
    type Error = BadBatch;

    fn try_from(b: crate::throttle::AnalyticsBatch) -> Result<Self, BadBatch> {
        let mut rows = Vec::with_capacity(b.rows.len());
        for (i, r) in b.rows.into_iter().enumerate() {
            let status_class =
                u16::try_from(r.status_class).map_err(|_| BadBatch { field: format!("rows[{i}].statusClass"), problem: "above 65,535" })?;
            rows.push(MinuteRow {
                minute: r.minute,
                api_id: r.api_id,
                api_name: r.api_name,
                api_version: r.api_version,
                resource: r.resource,
                method: r.method,
                application_id: r.application_id,
                application_name: r.application_name,
                application_owner: r.application_owner,
                key_type: KeyType::from(r.key_type),
                status_class,
                requests: r.requests,
                throttled: r.throttled,
                blocked: r.blocked,
                gateway_errors: r.gateway_errors,
                latency: sketch(r.latency, || format!("rows[{i}].latency"))?,
                backend_latency: sketch(r.backend_latency, || format!("rows[{i}].backendLatency"))?,
            });
        }
        Ok(AnalyticsBatch { gateway_id: b.gateway_id, run_id: b.run_id, rows, dropped: b.dropped })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_s_bucket_is_the_formula_s() {
        let bounds = Bounds::get();
        let edges = bounds.steps.iter().flat_map(|&(_, next)| [next.saturating_sub(1), next, next.saturating_add(1)]);
        let spread = (0..64).flat_map(|k| [1u64 << k, (1u64 << k) - 1, u64::MAX >> k, (1u64 << k) / 3 * 2]);
        for us in (0..300_000).chain(edges).chain(spread) {
            assert_eq!(Sketch::bucket(us), bucket_by_formula(us), "{us} µs");
        }
    }

    #[test]
    fn sketches_merge_exactly_and_read_within_two_percent() {
        let mut whole = Sketch::default();
        let (mut a, mut b) = (Sketch::default(), Sketch::default());
        for i in 1..=10_000u64 {
            let us = i * 37 % 100_000 + 1;
            whole.add(us);
            if i % 3 == 0 { a.add(us) } else { b.add(us) }
        }
        a.merge(&b);
        assert_eq!(a, whole, "merging is exact");
        let mut dense = DenseSketch::default();
        for i in (1..=10_000u64).rev() {
            dense.add(i * 37 % 100_000 + 1);
        }
        assert_eq!(dense.to_sketch(), whole, "counting densely, from any first value, is counting");
        let mut values: Vec<u64> = (1..=10_000u64).map(|i| i * 37 % 100_000 + 1).collect();
        values.sort_unstable();
        for q in [0.5, 0.95, 0.99] {
            let exact = values[((q * 10_000.0) as usize).saturating_sub(1)] as f64;
            let read = whole.quantile(q).expect("not empty");
            assert!((read - exact).abs() / exact <= 0.021, "q{q}: {read} against {exact}");
        }
        assert_eq!(Sketch::default().quantile(0.5), None);
        assert!(whole.is_well_formed());
        assert!(!Sketch { buckets: vec![(3, 1), (3, 1)], sum_us: 0 }.is_well_formed());
        let mut sum = SketchSum::default();
        sum.add(&a);
        assert!(sum.add_json(&serde_json::to_string(&b).expect("json")), "the compact form");
        assert!(sum.add_json(r#"{ "sumUs": 0, "buckets": [] }"#), "any other JSON form, through serde");
        for bad in ["", "{}", r#"{"buckets":[[1,2]"#, r#"{"buckets":[[70000,1]],"sumUs":0}"#, r#"{"buckets":[[1,2]],"sumUs":3}x"#] {
            let before = sum.to_sketch();
            assert!(!sum.add_json(bad), "{bad}");
            assert_eq!(sum.to_sketch(), before, "nothing added from {bad}");
        }
        let mut twice = whole.clone();
        twice.merge(&b);
        assert_eq!(sum.to_sketch(), twice, "the same as merging");
        let mut huge = Sketch::default();
        huge.add(u64::MAX);
        huge.add(0);
        assert_eq!(huge.count(), 2);
    }

    #[test]
    fn batches_cross_protobuf_unchanged_and_a_bad_one_names_its_field() {
        let mut latency = Sketch::default();
        for us in [3, 250, 9_000, 9_001] {
            latency.add(us);
        }
        let row = MinuteRow {
            minute: 1_700_000_040,
            api_id: "a1".into(),
            api_name: "Orders".into(),
            api_version: "1.0.0".into(),
            resource: "/orders/{id}".into(),
            method: "GET".into(),
            application_id: "app".into(),
            application_name: "Shop".into(),
            application_owner: "alice".into(),
            key_type: KeyType::Sandbox,
            status_class: 2,
            requests: 4,
            throttled: 1,
            blocked: 0,
            gateway_errors: 1,
            latency: latency.clone(),
            backend_latency: Sketch::default(),
        };
        let batch = AnalyticsBatch { gateway_id: "gw1".into(), run_id: "r".into(), rows: vec![row.clone(), row], dropped: 7 };
        let wire = crate::throttle::AnalyticsBatch::from(&batch);
        assert_eq!(AnalyticsBatch::try_from(wire.clone()), Ok(batch));

        let mut bad = wire.clone();
        bad.rows[1].status_class = 70_000;
        assert_eq!(AnalyticsBatch::try_from(bad).map_err(|e| e.to_string()), Err("rows[1].statusClass: above 65,535".into()));
        let mut bad = wire.clone();
        if let Some(s) = bad.rows[0].latency.as_mut() {
            s.counts.pop();
        }
        assert_eq!(AnalyticsBatch::try_from(bad).map_err(|e| e.field), Err("rows[0].latency.counts".into()));
        let mut bad = wire.clone();
        if let Some(s) = bad.rows[1].latency.as_mut() {
            s.buckets[0] = 65_536;
        }
        assert_eq!(AnalyticsBatch::try_from(bad).map_err(|e| e.field), Err("rows[1].latency.buckets".into()));
        let mut bad = wire;
        bad.rows[0].backend_latency = None;
        assert_eq!(AnalyticsBatch::try_from(bad).map_err(|e| e.to_string()), Err("rows[0].backendLatency: missing".into()));
    }
}
