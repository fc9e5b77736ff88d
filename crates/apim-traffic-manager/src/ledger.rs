//! The traffic manager's windows: per throttle key, what each gateway admitted in the current window, the sum,
//! and whether a decision is out. Gateways report cumulative counts per window (`apim_wire::throttle::UsageRecord`),
//! so a repeated or reordered record changes nothing (a gateway's count only grows within a window) and a
//! restarted traffic manager is exact again once every gateway has sent what it holds: it never throttles early
//! and never forgets quota that was used.
//!
//! A decision reaches gateways one batch interval and a round trip after the quota is crossed, and what they admit
//! meanwhile is overshoot. So once a window is half used, every record for it also yields **allowances**: each
//! gateway that reported the key may admit up to its own count plus a share of what is left, shares in proportion
//! to its demand (admitted, and refused for want of allowance); together the caps add up to the quota, and the
//! gateways stop there on their own.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use apim_wire::throttle::{Allowance, Decision, DecisionInForce, UsageRecord};
use dashmap::DashMap;

type Map<K, V> = DashMap<K, V, foldhash::fast::RandomState>;

/// Longest throttle key accepted (WSO2's keys are a few context paths and ids long).
pub const MAX_KEY_LEN: usize = 1024;
/// Windows longer than ten years are refused (gateways compile nothing longer).
pub const MAX_WINDOW_MS: u64 = 3653 * 24 * 3600 * 1000;
/// A record for a window this far ahead of the traffic manager's clock is refused (clock skew beyond it is a
/// configuration problem to fix, not one to count).
const MAX_AHEAD_MS: u64 = 60_000;
/// A gateway with no usage stream open here that has sent nothing for this long (5 minutes) is gone: it leaves
/// `apim_tm_gateways` at once, and the ledger forgets its name once no open window holds a count of its. A gateway
/// with a stream open is never gone (an idle one sends nothing; HTTP/2 pings keep the stream honest).
pub const GATEWAY_SILENCE_MS: u64 = 5 * 60 * 1000;

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
    /// Per gateway that used the key (a handful): admitted there so far, and refused for want of allowance.
    by_gateway: Vec<Share>,
    total: u64,
    /// The end of the window a decision was sent for (0: none).
    decided_until: u64,
}

#[derive(Clone, Copy)]
struct Share {
    gateway: u32,
    used: u64,
    refused: u64,
}

/// What one record led to.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub decision: Option<Decision>,
    pub allowances: Vec<Allowance>,
}

/// What the ledger knows of a gateway besides its number.
struct Gateway {
    name: String,
    /// Usage streams open from it.
    streams: AtomicU32,
    /// When it last opened or closed a stream or sent a batch (Unix ms).
    last_seen_ms: AtomicU64,
}

#[derive(Default)]
pub struct Ledger {
    windows: Map<String, Window>,
    /// Gateway id → its number; an entry's lock also orders a stream's opening against forgetting the gateway.
    gateways: Map<String, u32>,
    by_number: Map<u32, Gateway>,
    next_gateway: AtomicU64,
    pub records: AtomicU64,
    pub stale: AtomicU64,
    pub decisions: AtomicU64,
    pub allowances: AtomicU64,
    rejected: [AtomicU64; 4],
}

impl Ledger {
    /// A small number for a gateway id, stable while the ledger remembers the gateway (a forgotten one that comes
    /// back gets a new number: no window holds a count under the old one).
    pub fn gateway(&self, id: &str) -> u32 {
        if let Some(n) = self.gateways.get(id) {
            return *n;
        }
        *self.gateways.entry(id.to_string()).or_insert_with(|| self.number(id))
    }

    /// A usage stream from gateway `id` opened: its number, and it is live until the stream closes.
    pub fn attach(&self, id: &str, now_ms: u64) -> u32 {
        // Under the entry's lock, so the gateway cannot be forgotten between its lookup and the stream's count.
        let n = self.gateways.entry(id.to_string()).or_insert_with(|| self.number(id));
        if let Some(g) = self.by_number.get(&*n) {
            g.streams.fetch_add(1, Ordering::Relaxed);
            g.last_seen_ms.fetch_max(now_ms, Ordering::Relaxed);
        }
        *n
    }

    /// A usage stream from `gateway` closed; the silence counts from now.
    pub fn detach(&self, gateway: u32, now_ms: u64) {
        if let Some(g) = self.by_number.get(&gateway) {
            let _ = g.streams.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |s| s.checked_sub(1));
            g.last_seen_ms.fetch_max(now_ms, Ordering::Relaxed);
        }
    }

    /// `gateway` sent a batch.
    pub fn seen(&self, gateway: u32, now_ms: u64) {
        if let Some(g) = self.by_number.get(&gateway) {
            g.last_seen_ms.fetch_max(now_ms, Ordering::Relaxed);
        }
    }

    fn number(&self, id: &str) -> u32 {
        let n = self.next_gateway.fetch_add(1, Ordering::Relaxed) as u32;
        self.by_number.insert(n, Gateway { name: id.to_string(), streams: AtomicU32::new(0), last_seen_ms: AtomicU64::new(0) });
        n
    }

    fn name(&self, gateway: u32) -> String {
        self.by_number.get(&gateway).map(|g| g.name.clone()).unwrap_or_default()
    }

    /// Gateways not gone: a usage stream open, or heard from within [`GATEWAY_SILENCE_MS`].
    pub fn gateway_count(&self, now_ms: u64) -> usize {
        self.by_number.iter().filter(|g| !g.gone(now_ms)).count()
    }

    /// Adds one gateway's record; a key whose sum reaches its quota yields a decision (once per window), one past
    /// half its quota yields allowances.
    pub fn record(&self, gateway: u32, r: &UsageRecord, now_ms: u64) -> Result<Outcome, Rejected> {
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
            return Ok(Outcome::default());
        }
        let decide = |w: &mut Window| -> Outcome {
            if w.start_ms > r.window_start_ms {
                self.stale.fetch_add(1, Ordering::Relaxed);
                return Outcome::default();
            }
            // A new window, or a policy whose unit changed: the latest record's limit applies.
            if w.start_ms < r.window_start_ms || w.window_ms != r.window_ms {
                *w = Window::new(r);
            }
            w.quota = r.quota;
            if r.condition != w.condition {
                w.condition.clone_from(&r.condition);
            }
            let changed = match w.by_gateway.iter_mut().find(|s| s.gateway == gateway) {
                Some(s) => {
                    let grew = r.used > s.used || r.refused > s.refused;
                    if r.used > s.used {
                        w.total += r.used - s.used;
                        s.used = r.used;
                    }
                    s.refused = s.refused.max(r.refused);
                    grew
                }
                None => {
                    w.by_gateway.push(Share { gateway, used: r.used, refused: r.refused });
                    w.total += r.used;
                    true
                }
            };
            let mut out = Outcome::default();
            if w.total >= w.quota {
                if w.decided_until < end {
                    w.decided_until = end;
                    self.decisions.fetch_add(1, Ordering::Relaxed);
                    out.decision = Some(Decision { key: r.key.clone(), throttled_until_ms: end, condition: w.condition.clone() });
                }
            } else if changed && w.total.saturating_mul(2) >= w.quota {
                out.allowances = self.allowances_for(&r.key, w);
            }
            out
        };
        // The common case, a key already known, takes no allocation.
        if let Some(mut w) = self.windows.get_mut(r.key.as_str()) {
            return Ok(decide(&mut w));
        }
        let mut w = self.windows.entry(r.key.clone()).or_insert_with(|| Window::new(r));
        Ok(decide(&mut w))
    }

    /// Splits what is left of a window among its gateways by demand; the caps add up to the quota.
    fn allowances_for(&self, key: &str, w: &Window) -> Vec<Allowance> {
        let left = w.quota - w.total;
        // Refusals weigh more than admissions: a gateway refusing for want of allowance needs a share now.
        let weight = |s: &Share| s.used.saturating_add(s.refused.saturating_mul(4)).saturating_add(1) as u128;
        let sum: u128 = w.by_gateway.iter().map(weight).sum();
        let mut shares: Vec<u64> = w.by_gateway.iter().map(|s| (left as u128 * weight(s) / sum.max(1)) as u64).collect();
        // What rounding left over goes to the gateway with the most demand.
        let given: u64 = shares.iter().sum();
        if let Some(i) = (0..shares.len()).max_by_key(|&i| weight(&w.by_gateway[i])) {
            shares[i] += left - given;
        }
        self.allowances.fetch_add(shares.len() as u64, Ordering::Relaxed);
        w.by_gateway
            .iter()
            .zip(shares)
            .map(|(s, share)| Allowance {
                key: key.to_string(),
                gateway_id: self.name(s.gateway),
                window_start_ms: w.start_ms,
                window_ms: w.window_ms,
                cap: s.used + share,
            })
            .collect()
    }

    /// Every decision still in force: what a new subscriber gets first.
    pub fn in_force(&self, now_ms: u64) -> Vec<Decision> {
        self.windows
            .iter()
            .filter(|w| w.decided_until > now_ms)
            .map(|w| Decision { key: w.key().clone(), throttled_until_ms: w.decided_until, condition: w.condition.clone() })
            .collect()
    }

    /// [`Ledger::in_force`] with each window's quota and what the gateways used of it, for the Admin portal.
    pub fn in_force_detail(&self, now_ms: u64) -> Vec<DecisionInForce> {
        self.windows
            .iter()
            .filter(|w| w.decided_until > now_ms)
            .map(|w| DecisionInForce {
                key: w.key().clone(),
                condition: w.condition.clone(),
                throttled_until_ms: w.decided_until,
                forwarded: false,
                quota: Some(w.quota),
                used: Some(w.total),
            })
            .collect()
    }

    /// Drops windows that have ended, and forgets gateways gone (silent past [`GATEWAY_SILENCE_MS`]) that no open
    /// window holds a count of.
    pub fn sweep(&self, now_ms: u64) {
        self.windows.retain(|_, w| now_ms < w.start_ms + w.window_ms);
        let gone: HashSet<u32> = self.by_number.iter().filter(|g| g.gone(now_ms)).map(|g| *g.key()).collect();
        if gone.is_empty() {
            return;
        }
        let mut counted = HashSet::new();
        for w in self.windows.iter() {
            counted.extend(w.by_gateway.iter().map(|s| s.gateway).filter(|g| gone.contains(g)));
        }
        for n in gone.difference(&counted) {
            let Some(name) = self.by_number.get(n).map(|g| g.name.clone()) else { continue };
            // Checked again under the entry's lock: a stream may have opened since.
            let removed = self.gateways.remove_if(&name, |_, m| m == n && self.by_number.get(n).is_some_and(|g| g.gone(now_ms)));
            if removed.is_some() {
                self.by_number.remove(n);
                tracing::info!(gateway = %name, "gateway forgotten: no usage stream and silent for {} s", GATEWAY_SILENCE_MS / 1000);
            }
        }
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

impl Gateway {
    fn gone(&self, now_ms: u64) -> bool {
        self.streams.load(Ordering::Relaxed) == 0 && now_ms.saturating_sub(self.last_seen_ms.load(Ordering::Relaxed)) > GATEWAY_SILENCE_MS
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
            refused: 0,
            policy: "Gold".into(),
        }
    }

    fn decision(o: Result<Outcome, Rejected>) -> Option<Decision> {
        o.expect("valid").decision
    }

    #[test]
    fn sums_gateways_and_decides_once() {
        let l = Ledger::default();
        let (a, b) = (l.gateway("gw-a"), l.gateway("gw-b"));
        assert_ne!(a, b);
        assert_eq!(l.gateway("gw-a"), a);
        assert_eq!(decision(l.record(a, &rec("k", 60_000, 4), 61_000)), None);
        assert_eq!(decision(l.record(b, &rec("k", 60_000, 5), 61_000)), None);
        let d = decision(l.record(a, &rec("k", 60_000, 5), 61_000)).expect("quota reached");
        assert_eq!((d.key.as_str(), d.throttled_until_ms, d.condition.as_str()), ("k", 120_000, "subscription"));
        assert_eq!(decision(l.record(b, &rec("k", 60_000, 6), 61_000)), None, "decided once per window");
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
        assert!(decision(l.record(a, &rec("k", 0, 10), 10)).is_some());
        assert_eq!(decision(l.record(a, &rec("k", 60_000, 1), 60_010)), None);
        assert_eq!(l.total("k", 60_010), 1);
        assert_eq!(l.record(a, &rec("k", 0, 50), 60_010), Ok(Outcome::default()), "a closed window decides nothing");
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
        assert_eq!(decision(l.record(a, &rec("k", 0, 4), 10)), None);
        assert_eq!(decision(l.record(b, &rec("k", 0, 5), 10)), None);
        assert_eq!(l.total("k", 10), 9);
        assert!(decision(l.record(b, &rec("k", 0, 6), 10)).is_some());
    }

    #[test]
    fn past_half_the_quota_gateways_get_caps_that_add_up_to_it() {
        let l = Ledger::default();
        let (a, b) = (l.gateway("a"), l.gateway("b"));
        let mut r = rec("k", 0, 2);
        r.quota = 100;
        assert!(l.record(a, &r, 10).expect("valid").allowances.is_empty(), "below half: no allowance");
        r.used = 30;
        let out = l.record(b, &r, 10).expect("valid");
        assert_eq!(out.allowances.len(), 0, "32 of 100");
        r.used = 40;
        let out = l.record(a, &r, 10).expect("valid");
        // a: 40 used, b: 30 used, 30 left, split by demand (41 : 31).
        let caps: Vec<(String, u64)> = out.allowances.iter().map(|x| (x.gateway_id.clone(), x.cap)).collect();
        assert_eq!(caps.iter().map(|c| c.1).sum::<u64>(), 100, "{caps:?}");
        assert!(caps.iter().all(|(g, cap)| (g == "a" && *cap > 40) || (g == "b" && *cap > 30)), "{caps:?}");
        // b refuses for want of allowance: its share grows.
        let b_cap = caps.iter().find(|c| c.0 == "b").map(|c| c.1).unwrap_or(0);
        let mut rb = rec("k", 0, 30);
        rb.quota = 100;
        rb.refused = 20;
        let out = l.record(b, &rb, 10).expect("valid");
        let b_cap2 = out.allowances.iter().find(|x| x.gateway_id == "b").map(|x| x.cap).unwrap_or(0);
        assert!(b_cap2 > b_cap, "{b_cap2} > {b_cap}");
        assert_eq!(out.allowances.iter().map(|x| x.cap).sum::<u64>(), 100);
        assert!(l.record(b, &rb, 10).expect("valid").allowances.is_empty(), "nothing new, nothing sent");
    }
}
