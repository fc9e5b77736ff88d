//! Throttling: fixed windows per WSO2 throttle key (reference §3), counted on this node and, when traffic
//! managers are configured, reported to them and checked against their decisions, so a quota holds across
//! gateways. Every limit a request falls under is checked first and counted only when all of them admit it, so
//! a request refused at one level does not use up another level's quota.
//!
//! The node's own count always applies (a single node never passes its quota, with or without a traffic
//! manager); a decision adds the other gateways' usage. A backend's `maxTps` (level `Hard`) stays per node.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use apim_config::FailMode;
use apim_wire::throttle::{DecisionBatch, UsageRecord};
use dashmap::DashMap;

use crate::snapshot::{Limit, Quota};

struct Window {
    start_ms: u64,
    window_ms: u64,
    used: u64,
    /// Refused for want of allowance (reported as demand).
    refused: u64,
    /// The limit last applied, for usage records.
    quota: u64,
    bytes: bool,
    level: Level,
    /// Changed since the last report.
    dirty: bool,
    policy: std::sync::Arc<str>,
}

/// After start, a gateway waits this long for a first traffic manager before its fail mode applies.
const FIRST_CONTACT_MS: u64 = 5_000;

/// Which level refused a request: decides WSO2's error code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Api,
    Resource,
    Subscription,
    Burst,
    Application,
    /// A custom policy (`apim_domain::custom`).
    Custom,
    /// The API's backend limit (`maxTps`), per node: 503 rather than 429.
    Hard,
    /// `fail_mode = "fail_closed"` while no traffic manager is reachable: 503.
    NoTrafficManager,
}

impl Level {
    /// WSO2's throttle-out code (reference §3).
    pub fn code(self) -> u32 {
        match self {
            Level::Api => 900800,
            Level::Resource => 900802,
            Level::Application => 900803,
            Level::Custom => 900806,
            Level::Subscription => 900804,
            Level::Burst => 900807,
            Level::Hard => 900801,
            Level::NoTrafficManager => 900811,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Api => "api",
            Level::Resource => "resource",
            Level::Subscription => "subscription",
            Level::Burst => "burst",
            Level::Application => "application",
            Level::Custom => "custom",
            Level::Hard => "hard",
            Level::NoTrafficManager => "no_traffic_manager",
        }
    }
}

/// One limit a request falls under.
pub struct Check<'a> {
    /// Precomputed in the snapshot where it does not depend on the caller, so most checks allocate nothing.
    pub key: std::borrow::Cow<'a, str>,
    pub limit: &'a Limit,
    pub level: Level,
    /// `false` (a subscription policy with `stopOnQuotaReach = false`): counted, never refused.
    pub enforce: bool,
}

/// A refusal: the level and when the window reopens (Unix ms).
#[derive(Debug, PartialEq, Eq)]
pub struct Refused {
    pub level: Level,
    pub retry_at_ms: u64,
}

type Map<V> = DashMap<String, V, foldhash::fast::RandomState>;

#[derive(Default)]
pub struct Counters {
    windows: Map<Window>,
    /// Usage is reported to traffic managers: changed windows are queued in `dirty`.
    reporting: AtomicBool,
    dirty: Mutex<Vec<String>>,
    /// Traffic managers' decisions: throttle key → refused until (Unix ms).
    decisions: Map<u64>,
    has_decisions: AtomicBool,
    /// Traffic managers' allowances for this node: throttle key → (window start, window end, cap on this node's
    /// count).
    caps: Map<(u64, u64, u64)>,
    node_id: std::sync::OnceLock<String>,
    fail_closed: AtomicBool,
    /// Decision streams live now, and since when the link runs (Unix ms; 0: no traffic managers configured).
    live: AtomicUsize,
    usage_live: AtomicUsize,
    linked_since_ms: AtomicU64,
    degraded: AtomicBool,
}

impl Counters {
    /// Turns on reporting to traffic managers, with the fail mode for when none is reachable.
    pub fn link(&self, fail_mode: FailMode, node_id: &str, now_ms: u64) {
        let _ = self.node_id.set(node_id.to_string());
        self.reporting.store(true, Ordering::Relaxed);
        self.fail_closed.store(fail_mode == FailMode::Closed, Ordering::Relaxed);
        self.linked_since_ms.store(now_ms, Ordering::Relaxed);
    }

    /// No traffic manager's decisions are coming in, or none takes this node's usage (after the first few
    /// seconds): the fail mode applies.
    pub fn is_degraded(&self, now_ms: u64) -> bool {
        let since = self.linked_since_ms.load(Ordering::Relaxed);
        since != 0
            && (self.live.load(Ordering::Relaxed) == 0 || self.usage_live.load(Ordering::Relaxed) == 0)
            && now_ms >= since + FIRST_CONTACT_MS
    }

    /// How many decision and usage streams are live; logs when the gateway loses or regains the traffic managers.
    pub fn set_live(&self, decision_streams: usize, usage_streams: usize) {
        self.live.store(decision_streams, Ordering::Relaxed);
        self.usage_live.store(usage_streams, Ordering::Relaxed);
        let lost = decision_streams == 0 || usage_streams == 0;
        if self.degraded.swap(lost, Ordering::Relaxed) != lost {
            match (lost, self.fail_closed.load(Ordering::Relaxed)) {
                (true, true) => tracing::error!("no traffic manager reachable: fail_closed, requests under cluster-wide limits get 503"),
                (true, false) => tracing::warn!("no traffic manager reachable: fail_open, only this node's own counts limit requests"),
                (false, _) => tracing::info!("a traffic manager is reachable again: cluster-wide throttling resumes"),
            }
        }
    }

    /// Takes a traffic manager's decisions (the later end wins) and this node's allowances (the latest wins).
    pub fn apply(&self, batch: &DecisionBatch, now_ms: u64) {
        for d in batch.decisions.iter().filter(|d| d.throttled_until_ms > now_ms) {
            let mut until = self.decisions.entry(d.key.clone()).or_insert(0);
            *until = (*until).max(d.throttled_until_ms);
        }
        if !batch.decisions.is_empty() {
            self.has_decisions.store(true, Ordering::Release);
        }
        let me = self.node_id.get().map(String::as_str).unwrap_or_default();
        for a in batch.allowances.iter().filter(|a| a.gateway_id == me) {
            let end = a.window_start_ms.saturating_add(a.window_ms);
            if end <= now_ms {
                continue;
            }
            let mut cap = self.caps.entry(a.key.clone()).or_insert((0, 0, 0));
            if a.window_start_ms >= cap.0 {
                *cap = (a.window_start_ms, end, a.cap);
            }
        }
    }

    /// Records of windows changed since the last call (traffic-manager reporting).
    pub fn changed(&self, now_ms: u64) -> Vec<UsageRecord> {
        let keys = std::mem::take(&mut *self.dirty.lock().unwrap_or_else(|e| e.into_inner()));
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            if let Some(mut w) = self.windows.get_mut(&key) {
                w.dirty = false;
                if now_ms < w.start_ms + w.window_ms {
                    out.push(record(key, &w));
                }
            }
        }
        out
    }

    /// Every live window this node counts for traffic managers: the first thing a new usage stream carries.
    pub fn all(&self, now_ms: u64) -> Vec<UsageRecord> {
        self.windows
            .iter()
            .filter(|w| w.level != Level::Hard && now_ms < w.start_ms + w.window_ms)
            .map(|w| record(w.key().clone(), &w))
            .collect()
    }

    /// Admits the request against every check, or names the first level that refuses it. `bytes` is the
    /// request's size, for bandwidth limits.
    pub fn admit(&self, checks: &[Check<'_>], bytes: u64, now_ms: u64) -> Result<(), Refused> {
        let decided = self.has_decisions.load(Ordering::Acquire);
        let reporting = self.reporting.load(Ordering::Relaxed);
        if reporting
            && self.fail_closed.load(Ordering::Relaxed)
            && self.is_degraded(now_ms)
            && checks.iter().any(|c| c.enforce && c.level != Level::Hard)
        {
            return Err(Refused { level: Level::NoTrafficManager, retry_at_ms: now_ms + 1000 });
        }
        let capped = !self.caps.is_empty();
        // Traffic managers' decisions and allowances first: a request they refuse counts nowhere.
        if capped || decided {
            for c in checks.iter().filter(|c| c.enforce && c.level != Level::Hard) {
                if capped {
                    self.check_allowance(c, bytes, now_ms)?;
                }
                if decided && let Some(until) = self.decisions.get(c.key.as_ref()).map(|u| *u).filter(|u| *u > now_ms) {
                    return Err(Refused { level: c.level, retry_at_ms: until });
                }
            }
        }
        // Each limit is checked and counted under its entry's lock, so two requests cannot both take the last
        // unit; a refusal gives back what this request already took from the limits before it.
        let mut taken: u64 = 0;
        for (i, c) in checks.iter().enumerate() {
            let (amount, quota, is_bytes) = match c.limit.quota {
                Quota::Requests(n) => (1, n, false),
                Quota::Bytes(n) => (bytes, n, true),
            };
            let window_ms = c.limit.window_ms;
            let fresh = || Window {
                start_ms: window_start(now_ms, window_ms),
                window_ms,
                used: 0,
                refused: 0,
                quota,
                bytes: is_bytes,
                level: c.level,
                dirty: false,
                policy: c.limit.policy.clone(),
            };
            // A hit takes the shard's lock only for this key's update; the key is allocated on first use only.
            let mut w = match self.windows.get_mut(c.key.as_ref()) {
                Some(w) => w,
                None => self.windows.entry(c.key.to_string()).or_insert_with(fresh),
            };
            if now_ms >= w.start_ms + w.window_ms || w.window_ms != window_ms {
                *w = fresh();
            }
            if c.enforce {
                let cap = match capped && c.level != Level::Hard {
                    true => self.caps.get(c.key.as_ref()).filter(|cap| cap.0 == w.start_ms).map(|cap| cap.2),
                    false => None,
                };
                if over(w.used, amount, quota, is_bytes) || cap.is_some_and(|cap| w.used.saturating_add(amount) > cap) {
                    let retry_at_ms = w.start_ms + w.window_ms;
                    drop(w);
                    self.give_back(checks, taken, bytes, now_ms);
                    return Err(Refused { level: c.level, retry_at_ms });
                }
            }
            w.used = w.used.saturating_add(amount);
            if i < 64 {
                taken |= 1 << i;
            }
            if reporting {
                (w.quota, w.bytes) = (quota, is_bytes);
                if !w.dirty && c.level != Level::Hard {
                    w.dirty = true;
                    self.dirty.lock().unwrap_or_else(|e| e.into_inner()).push(c.key.to_string());
                }
            }
        }
        Ok(())
    }

    /// Refuses a request that would take this node past its allowance for the key's current window, and counts
    /// the refusal as demand so the next allowance is larger.
    fn check_allowance(&self, c: &Check<'_>, bytes: u64, now_ms: u64) -> Result<(), Refused> {
        let start = window_start(now_ms, c.limit.window_ms);
        let Some(cap) = self.caps.get(c.key.as_ref()).filter(|cap| cap.0 == start).map(|cap| cap.2) else { return Ok(()) };
        let amount = match c.limit.quota {
            Quota::Requests(_) => 1,
            Quota::Bytes(_) => bytes,
        };
        let Some(mut w) = self.windows.get_mut(c.key.as_ref()) else { return Ok(()) };
        if w.start_ms != start || w.used.saturating_add(amount) <= cap {
            return Ok(());
        }
        w.refused = w.refused.saturating_add(amount);
        if !w.dirty {
            w.dirty = true;
            self.dirty.lock().unwrap_or_else(|e| e.into_inner()).push(c.key.to_string());
        }
        Err(Refused { level: c.level, retry_at_ms: start + c.limit.window_ms })
    }

    /// Undoes the counting of the checks marked in `taken` (a request refused part way).
    fn give_back(&self, checks: &[Check<'_>], taken: u64, bytes: u64, now_ms: u64) {
        for (_, c) in checks.iter().enumerate().take(64).filter(|(i, _)| taken & (1 << i) != 0) {
            let amount = match c.limit.quota {
                Quota::Requests(_) => 1,
                Quota::Bytes(_) => bytes,
            };
            if let Some(mut w) = self.windows.get_mut(c.key.as_ref())
                && w.start_ms == window_start(now_ms, c.limit.window_ms)
            {
                w.used = w.used.saturating_sub(amount);
            }
        }
    }

    /// Drops windows and decisions that have ended: keeps memory bounded by the keys active within their windows.
    pub fn sweep(&self, now_ms: u64) {
        self.windows.retain(|_, w| now_ms < w.start_ms + w.window_ms);
        self.decisions.retain(|_, until| *until > now_ms);
        self.caps.retain(|_, cap| cap.1 > now_ms);
    }

    pub fn decisions_in_force(&self) -> usize {
        self.decisions.len()
    }

    pub fn len(&self) -> usize {
        self.windows.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }
}

/// Whether `amount` more goes past `quota`; a bandwidth quota that is used up refuses even a request that
/// declares no body (a chunked upload would otherwise pass as 0 bytes).
fn over(used: u64, amount: u64, quota: u64, bytes: bool) -> bool {
    used.saturating_add(amount) > quota || (bytes && used >= quota)
}

/// Keys longer than a traffic manager takes (it refuses over 1,024 bytes) are sent as a digest of themselves.
const MAX_REPORTED_KEY: usize = 512;

fn record(key: String, w: &Window) -> UsageRecord {
    let key = match key.len() > MAX_REPORTED_KEY {
        true => format!("sha256:{}", apim_jose::crypto::sha256_hex(&key)),
        false => key,
    };
    UsageRecord {
        key,
        window_start_ms: w.start_ms,
        window_ms: w.window_ms,
        quota: w.quota,
        bytes: w.bytes,
        used: w.used,
        condition: w.level.as_str().to_string(),
        refused: w.refused,
        policy: w.policy.to_string(),
    }
}

/// Windows are aligned to multiples of their length, so every node (and a Traffic Manager) agrees on them.
fn window_start(now_ms: u64, window_ms: u64) -> u64 {
    now_ms - now_ms % window_ms.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(n: u64, window_ms: u64) -> Limit {
        Limit { quota: Quota::Requests(n), window_ms, policy: "Test".into() }
    }

    #[test]
    fn counts_per_key_and_window() {
        let c = Counters::default();
        let l = limit(2, 1000);
        let check = |key: &str| vec![Check { key: key.to_string().into(), limit: &l, level: Level::Subscription, enforce: true }];
        assert!(c.admit(&check("a"), 0, 10_000).is_ok());
        assert!(c.admit(&check("a"), 0, 10_100).is_ok());
        assert_eq!(c.admit(&check("a"), 0, 10_200), Err(Refused { level: Level::Subscription, retry_at_ms: 11_000 }));
        assert!(c.admit(&check("b"), 0, 10_200).is_ok(), "another key has its own window");
        assert!(c.admit(&check("a"), 0, 11_000).is_ok(), "the next window starts afresh");
        c.sweep(20_000);
        assert!(c.is_empty());
    }

    #[test]
    fn a_refusal_counts_nowhere() {
        let c = Counters::default();
        let (app, sub) = (limit(10, 60_000), limit(1, 60_000));
        let checks = || {
            vec![
                Check { key: "sub".into(), limit: &sub, level: Level::Subscription, enforce: true },
                Check { key: "app".into(), limit: &app, level: Level::Application, enforce: true },
            ]
        };
        assert!(c.admit(&checks(), 0, 0).is_ok());
        for _ in 0..5 {
            assert_eq!(c.admit(&checks(), 0, 1).map_err(|r| r.level), Err(Level::Subscription));
        }
        assert_eq!(c.windows.get("app").map(|w| w.used), Some(1));
        let soft = [Check { key: "soft".into(), limit: &sub, level: Level::Subscription, enforce: false }];
        for _ in 0..3 {
            assert!(c.admit(&soft, 0, 1).is_ok(), "stopOnQuotaReach=false never refuses");
        }
    }

    #[test]
    fn bandwidth_counts_bytes() {
        let c = Counters::default();
        let l = Limit { quota: Quota::Bytes(1000), window_ms: 1000, policy: "Test".into() };
        let checks = [Check { key: "bw".into(), limit: &l, level: Level::Api, enforce: true }];
        assert!(c.admit(&checks, 600, 0).is_ok());
        assert!(c.admit(&checks, 600, 1).is_err());
        assert!(c.admit(&checks, 400, 2).is_ok());
    }

    #[test]
    fn reports_changed_windows_once_and_obeys_decisions() {
        let c = Counters::default();
        let l = limit(100, 60_000);
        let checks = [Check { key: "sub".into(), limit: &l, level: Level::Subscription, enforce: true }];
        assert!(c.admit(&checks, 0, 60_001).is_ok());
        assert!(c.changed(60_002).is_empty(), "nothing is queued until reporting is on");
        c.link(FailMode::Open, "gw-1", 60_000);
        c.set_live(1, 1);
        for t in 0..3 {
            assert!(c.admit(&checks, 0, 60_010 + t).is_ok());
        }
        let r = c.changed(60_020);
        assert_eq!(r.len(), 1, "one record per key, however many requests");
        assert_eq!(
            (r[0].key.as_str(), r[0].used, r[0].quota, r[0].window_start_ms, r[0].condition.as_str()),
            ("sub", 4, 100, 60_000, "subscription")
        );
        assert!(c.changed(60_021).is_empty());
        assert_eq!(c.all(60_021).len(), 1);
        // An allowance for this node caps its count in the window; one for another node does nothing here.
        let allowance = |gateway: &str, cap: u64| apim_wire::throttle::Allowance {
            key: "sub".into(),
            gateway_id: gateway.into(),
            window_start_ms: 60_000,
            window_ms: 60_000,
            cap,
        };
        c.apply(&DecisionBatch { allowances: vec![allowance("gw-2", 4), allowance("gw-1", 6)], ..Default::default() }, 60_025);
        assert!(c.admit(&checks, 0, 60_026).is_ok());
        assert!(c.admit(&checks, 0, 60_027).is_ok());
        assert_eq!(c.admit(&checks, 0, 60_028), Err(Refused { level: Level::Subscription, retry_at_ms: 120_000 }));
        let r = c.changed(60_029);
        assert_eq!((r[0].used, r[0].refused), (6, 1), "the refusal is reported as demand");
        assert!(c.admit(&checks, 0, 120_010).is_ok(), "an allowance is for its window only");
        let decision = apim_wire::throttle::Decision { key: "sub".into(), throttled_until_ms: 180_000, condition: "subscription".into() };
        c.apply(&DecisionBatch { decisions: vec![decision], ..Default::default() }, 120_030);
        assert_eq!(c.admit(&checks, 0, 120_040), Err(Refused { level: Level::Subscription, retry_at_ms: 180_000 }));
        assert!(c.admit(&checks, 0, 180_001).is_ok(), "a decision ends with its window");
    }

    #[test]
    fn fail_closed_refuses_only_when_no_traffic_manager_is_live() {
        let c = Counters::default();
        let l = limit(100, 60_000);
        let checks = [Check { key: "sub".into(), limit: &l, level: Level::Subscription, enforce: true }];
        c.link(FailMode::Closed, "gw", 1);
        assert!(c.admit(&checks, 0, 1_000).is_ok(), "the first seconds wait for a first traffic manager");
        assert_eq!(c.admit(&checks, 0, 6_000).map_err(|r| r.level), Err(Level::NoTrafficManager));
        assert!(c.admit(&[], 0, 6_000).is_ok(), "requests under no limit pass");
        c.set_live(1, 0);
        assert_eq!(c.admit(&checks, 0, 6_001).map_err(|r| r.level), Err(Level::NoTrafficManager), "usage has nowhere to go");
        c.set_live(1, 2);
        assert!(c.admit(&checks, 0, 6_001).is_ok());
        let open = Counters::default();
        open.link(FailMode::Open, "gw", 1);
        assert!(open.admit(&checks, 0, 6_000).is_ok());
        assert!(open.is_degraded(6_000));
    }

    #[test]
    fn concurrent_requests_never_take_more_than_the_quota() {
        let c = std::sync::Arc::new(Counters::default());
        let (sub, app) = (limit(1000, 3_600_000), limit(100_000, 3_600_000));
        let admitted: u64 = std::thread::scope(|s| {
            let workers: Vec<_> = (0..4)
                .map(|_| {
                    let (c, sub, app) = (c.clone(), &sub, &app);
                    s.spawn(move || {
                        let checks = [
                            Check { key: "app".into(), limit: app, level: Level::Application, enforce: true },
                            Check { key: "sub".into(), limit: sub, level: Level::Subscription, enforce: true },
                        ];
                        (0..600).filter(|_| c.admit(&checks, 0, 10).is_ok()).count() as u64
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap_or(0)).sum()
        });
        assert_eq!(admitted, 1000);
        assert_eq!(c.windows.get("app").map(|w| w.used), Some(1000), "refusals gave back what they took");
    }

    #[test]
    fn a_used_up_bandwidth_quota_refuses_bodies_of_unknown_size() {
        let c = Counters::default();
        let l = Limit { quota: Quota::Bytes(100), window_ms: 1000, policy: "Test".into() };
        let checks = [Check { key: "bw".into(), limit: &l, level: Level::Api, enforce: true }];
        assert!(c.admit(&checks, 100, 0).is_ok());
        assert!(c.admit(&checks, 0, 1).is_err(), "a chunked body declares 0 bytes");
    }
}
