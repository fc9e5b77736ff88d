//! Node-local throttling: fixed windows per WSO2 throttle key (reference §3), so a Traffic Manager can later add
//! up the same keys across gateways. Every limit a request falls under is checked first and counted only when
//! all of them admit it, so a request refused at one level does not use up another level's quota.

use dashmap::DashMap;

use crate::snapshot::{Limit, Quota};

struct Window {
    start_ms: u64,
    window_ms: u64,
    used: u64,
}

/// Which level refused a request: decides WSO2's error code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Api,
    Resource,
    Subscription,
    Burst,
    Application,
    /// The API's backend limit (`maxTps`), per node: 503 rather than 429.
    Hard,
}

impl Level {
    /// WSO2's throttle-out code (reference §3).
    pub fn code(self) -> u32 {
        match self {
            Level::Api => 900800,
            Level::Resource => 900802,
            Level::Application => 900803,
            Level::Subscription => 900804,
            Level::Burst => 900807,
            Level::Hard => 900801,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Api => "api",
            Level::Resource => "resource",
            Level::Subscription => "subscription",
            Level::Burst => "burst",
            Level::Application => "application",
            Level::Hard => "hard",
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

#[derive(Default)]
pub struct Counters {
    windows: DashMap<String, Window, foldhash::fast::RandomState>,
}

impl Counters {
    /// Admits the request against every check, or names the first level that refuses it. `bytes` is the
    /// request's size, for bandwidth limits.
    pub fn admit(&self, checks: &[Check<'_>], bytes: u64, now_ms: u64) -> Result<(), Refused> {
        for c in checks.iter().filter(|c| c.enforce) {
            let (amount, quota) = match c.limit.quota {
                Quota::Requests(n) => (1, n),
                Quota::Bytes(n) => (bytes, n),
            };
            let (start, used) = match self.windows.get(c.key.as_ref()) {
                Some(w) if now_ms < w.start_ms + w.window_ms => (w.start_ms, w.used),
                _ => (window_start(now_ms, c.limit.window_ms), 0),
            };
            if used.saturating_add(amount) > quota {
                return Err(Refused { level: c.level, retry_at_ms: start + c.limit.window_ms });
            }
        }
        for c in checks {
            let amount = match c.limit.quota {
                Quota::Requests(_) => 1,
                Quota::Bytes(_) => bytes,
            };
            let window_ms = c.limit.window_ms;
            // A hit takes the shard's lock only for this key's update; the key is allocated on first use only.
            if let Some(mut w) = self.windows.get_mut(c.key.as_ref()) {
                if now_ms >= w.start_ms + w.window_ms || w.window_ms != window_ms {
                    *w = Window { start_ms: window_start(now_ms, window_ms), window_ms, used: 0 };
                }
                w.used = w.used.saturating_add(amount);
                continue;
            }
            self.windows
                .entry(c.key.to_string())
                .or_insert_with(|| Window { start_ms: window_start(now_ms, window_ms), window_ms, used: 0 })
                .used += amount;
        }
        Ok(())
    }

    /// Drops windows that have ended: keeps memory bounded by the keys active within their windows.
    pub fn sweep(&self, now_ms: u64) {
        self.windows.retain(|_, w| now_ms < w.start_ms + w.window_ms);
    }

    pub fn len(&self) -> usize {
        self.windows.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
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
        Limit { quota: Quota::Requests(n), window_ms }
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
        let l = Limit { quota: Quota::Bytes(1000), window_ms: 1000 };
        let checks = [Check { key: "bw".into(), limit: &l, level: Level::Api, enforce: true }];
        assert!(c.admit(&checks, 600, 0).is_ok());
        assert!(c.admit(&checks, 600, 1).is_err());
        assert!(c.admit(&checks, 400, 2).is_ok());
    }
}
