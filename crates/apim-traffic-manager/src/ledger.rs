//! The traffic manager's windows: per throttle key, what each gateway admitted in the current window, the sum,
//! and whether a decision is out. Gateways report cumulative counts per window (`apim_wire::throttle::UsageRecord`),
//! so a repeated or reordered record changes nothing (a gateway's count only grows within a window) and a
//! restarted traffic manager is exact again once every gateway has sent what it holds: it never throttles early
//! and never forgets quota that was used.

use std::sync::atomic::{AtomicU64, Ordering};

use apim_wire::throttle::{Decision, UsageRecord};
use dashmap::DashMap;

type Map<K, V> = DashMap<K, V, foldhash::fast::RandomState>;

/// Longest throttle key accepted (WSO2's keys are a few context paths and ids long).
pub const MAX_KEY_LEN: usize = 1024;
/// Windows longer than a year are refused (a unit `YEAR` is the longest WSO2 knows).
const MAX_WINDOW_MS: u64 = 366 * 24 * 3600 * 1000;
/// A record for a window this far ahead of the traffic manager's clock is refused (clock skew beyond it is a
/// configuration problem to fix, not one to count).
const MAX_AHEAD_MS: u64 = 60_000;

/// Why a record was refused; counted per reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejected {
    EmptyKey,
    LongKey,
    BadWindow,
    Ahead,
}

impl Rejected {
    pub fn as_str(self) -> &'static str {
        match self {
            Rejected::EmptyKey => "empty_key",
            Rejected::LongKey => "long_key",
            Rejected::BadWindow => "bad_window",
            Rejected::Ahead => "ahead_of_clock",
        }
    }
}

struct Window {
    start_ms: u64,
    window_ms: u64,
    quota: u64,
    condition: String,
    /// (gateway, admitted there so far); a handful of entries, one per gateway that used the key.
    by_gateway: Vec<(u32, u64)>,
    total: u64,
    /// The end of the window a decision was sent for (0: none).
    decided_until: u64,
}

#[derive(Default)]
pub struct Ledger {
    windows: Map<String, Window>,
    gateways: Map<String, u32>,
    next_gateway: AtomicU64,
    pub records: AtomicU64,
    pub stale: AtomicU64,
    pub decisions: AtomicU64,
    rejected: [AtomicU64; 4],
}

impl Ledger {
    /// A small number for a gateway id, stable for the traffic manager's life.
    pub fn gateway(&self, id: &str) -> u32 {
        if let Some(n) = self.gateways.get(id) {
            return *n;
        }
        *self.gateways.entry(id.to_string()).or_insert_with(|| self.next_gateway.fetch_add(1, Ordering::Relaxed) as u32)
    }

    pub fn gateway_count(&self) -> usize {
        self.gateways.len()
    }

    /// Adds one gateway's record; a key whose sum reaches its quota yields a decision (once per window).
    pub fn record(&self, gateway: u32, r: &UsageRecord, now_ms: u64) -> Result<Option<Decision>, Rejected> {
        let refused = check(r, now_ms);
        if let Err(why) = refused {
            self.rejected[why as usize].fetch_add(1, Ordering::Relaxed);
            return Err(why);
        }
        self.records.fetch_add(1, Ordering::Relaxed);
        let end = r.window_start_ms + r.window_ms;
        if end <= now_ms {
            // A window that has closed decides nothing any more.
            self.stale.fetch_add(1, Ordering::Relaxed);
            return Ok(None);
        }
        let decide = |w: &mut Window| -> Option<Decision> {
            if w.start_ms > r.window_start_ms {
                self.stale.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            // A new window, or a policy whose unit changed: the latest record's limit applies.
            if w.start_ms < r.window_start_ms || w.window_ms != r.window_ms {
                *w = Window::new(r);
            }
            w.quota = r.quota;
            if r.condition != w.condition {
                w.condition.clone_from(&r.condition);
            }
            match w.by_gateway.iter_mut().find(|(g, _)| *g == gateway) {
                Some((_, used)) if *used >= r.used => {}
                Some((_, used)) => {
                    w.total += r.used - *used;
                    *used = r.used;
                }
                None => {
                    w.by_gateway.push((gateway, r.used));
                    w.total += r.used;
                }
            }
            if w.total >= w.quota && w.decided_until < end {
                w.decided_until = end;
                self.decisions.fetch_add(1, Ordering::Relaxed);
                return Some(Decision { key: r.key.clone(), throttled_until_ms: end, condition: w.condition.clone() });
            }
            None
        };
        // The common case, a key already known, takes no allocation.
        if let Some(mut w) = self.windows.get_mut(r.key.as_str()) {
            return Ok(decide(&mut w));
        }
        let mut w = self.windows.entry(r.key.clone()).or_insert_with(|| Window::new(r));
        Ok(decide(&mut w))
    }

    /// Every decision still in force: what a new subscriber gets first.
    pub fn in_force(&self, now_ms: u64) -> Vec<Decision> {
        self.windows
            .iter()
            .filter(|w| w.decided_until > now_ms)
            .map(|w| Decision { key: w.key().clone(), throttled_until_ms: w.decided_until, condition: w.condition.clone() })
            .collect()
    }

    /// Drops windows that have ended.
    pub fn sweep(&self, now_ms: u64) {
        self.windows.retain(|_, w| now_ms < w.start_ms + w.window_ms);
    }

    pub fn keys(&self) -> usize {
        self.windows.len()
    }

    /// The sum across gateways for a key's current window (0 when none).
    pub fn total(&self, key: &str, now_ms: u64) -> u64 {
        self.windows.get(key).filter(|w| now_ms < w.start_ms + w.window_ms).map(|w| w.total).unwrap_or(0)
    }

    pub fn rejected(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        [Rejected::EmptyKey, Rejected::LongKey, Rejected::BadWindow, Rejected::Ahead]
            .into_iter()
            .map(|r| (r.as_str(), self.rejected[r as usize].load(Ordering::Relaxed)))
    }
}

impl Window {
    fn new(r: &UsageRecord) -> Window {
        Window {
            start_ms: r.window_start_ms,
            window_ms: r.window_ms,
            quota: r.quota,
            condition: r.condition.clone(),
            by_gateway: Vec::with_capacity(2),
            total: 0,
            decided_until: 0,
        }
    }
}

fn check(r: &UsageRecord, now_ms: u64) -> Result<(), Rejected> {
    if r.key.is_empty() {
        return Err(Rejected::EmptyKey);
    }
    if r.key.len() > MAX_KEY_LEN {
        return Err(Rejected::LongKey);
    }
    if r.window_ms == 0 || r.window_ms > MAX_WINDOW_MS || !r.window_start_ms.is_multiple_of(r.window_ms) {
        return Err(Rejected::BadWindow);
    }
    if r.window_start_ms > now_ms + MAX_AHEAD_MS {
        return Err(Rejected::Ahead);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(key: &str, start: u64, used: u64) -> UsageRecord {
        UsageRecord {
            key: key.into(),
            window_start_ms: start,
            window_ms: 60_000,
            quota: 10,
            bytes: false,
            used,
            condition: "subscription".into(),
        }
    }

    #[test]
    fn sums_gateways_and_decides_once() {
        let l = Ledger::default();
        let (a, b) = (l.gateway("gw-a"), l.gateway("gw-b"));
        assert_ne!(a, b);
        assert_eq!(l.gateway("gw-a"), a);
        assert_eq!(l.record(a, &rec("k", 60_000, 4), 61_000), Ok(None));
        assert_eq!(l.record(b, &rec("k", 60_000, 5), 61_000), Ok(None));
        let d = l.record(a, &rec("k", 60_000, 5), 61_000).expect("valid").expect("quota reached");
        assert_eq!((d.key.as_str(), d.throttled_until_ms, d.condition.as_str()), ("k", 120_000, "subscription"));
        assert_eq!(l.record(b, &rec("k", 60_000, 6), 61_000), Ok(None), "decided once per window");
        assert_eq!(l.total("k", 61_000), 11);
        assert_eq!(l.in_force(61_000).len(), 1);
    }

    #[test]
    fn repeats_and_reordering_change_nothing() {
        let l = Ledger::default();
        let a = l.gateway("a");
        for used in [3, 3, 2, 3, 1] {
            let _ = l.record(a, &rec("k", 0, used), 10);
        }
        assert_eq!(l.total("k", 10), 3);
    }

    #[test]
    fn a_new_window_starts_afresh_and_an_old_one_is_ignored() {
        let l = Ledger::default();
        let a = l.gateway("a");
        assert!(l.record(a, &rec("k", 0, 10), 10).expect("valid").is_some());
        assert_eq!(l.record(a, &rec("k", 60_000, 1), 60_010), Ok(None));
        assert_eq!(l.total("k", 60_010), 1);
        assert_eq!(l.record(a, &rec("k", 0, 50), 60_010), Ok(None), "a closed window decides nothing");
        assert_eq!(l.total("k", 60_010), 1);
        l.sweep(120_000);
        assert_eq!(l.keys(), 0);
    }

    #[test]
    fn bad_records_are_refused_and_counted() {
        let l = Ledger::default();
        let a = l.gateway("a");
        assert_eq!(l.record(a, &rec("", 0, 1), 10), Err(Rejected::EmptyKey));
        assert_eq!(l.record(a, &rec(&"x".repeat(2000), 0, 1), 10), Err(Rejected::LongKey));
        let mut r = rec("k", 5, 1);
        assert_eq!(l.record(a, &r, 10), Err(Rejected::BadWindow));
        r.window_start_ms = 0;
        r.window_ms = 0;
        assert_eq!(l.record(a, &r, 10), Err(Rejected::BadWindow));
        assert_eq!(l.record(a, &rec("k", 600_000, 1), 10), Err(Rejected::Ahead));
        assert_eq!(l.rejected().map(|(_, n)| n).sum::<u64>(), 5);
        assert_eq!(l.keys(), 0);
    }

    #[test]
    fn a_restart_rebuilds_exact_windows() {
        // What two gateways hold, sent again to a fresh ledger after a restart: the same sum, no early decision.
        let l = Ledger::default();
        let (a, b) = (l.gateway("a"), l.gateway("b"));
        assert_eq!(l.record(a, &rec("k", 0, 4), 10), Ok(None));
        assert_eq!(l.record(b, &rec("k", 0, 5), 10), Ok(None));
        assert_eq!(l.total("k", 10), 9);
        assert!(l.record(b, &rec("k", 0, 6), 10).expect("valid").is_some());
    }
}
