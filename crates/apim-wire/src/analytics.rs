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

impl Sketch {
    fn bucket(us: u64) -> u16 {
        if us <= 1 {
            return 0;
        }
        let i = ((us as f64).ln() / GAMMA.ln()).ceil();
        i.clamp(1.0, f64::from(u16::MAX)) as u16
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

#[cfg(test)]
mod tests {
    use super::*;

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
        let mut huge = Sketch::default();
        huge.add(u64::MAX);
        huge.add(0);
        assert_eq!(huge.count(), 2);
    }
}
