//! The event hub's messages and gRPC stubs (generated from `proto/eventhub.proto`), the event types that
//! nodes act on, and [`Cursor`]: which log entries a subscriber has seen.

use std::collections::BTreeMap;

#[allow(clippy::all, rust_2018_idioms)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/apim.eventhub.v1.rs"));
}
pub use generated::*;

/// Our event type for a revoked OAuth2 access token; payload [`crate::RevokedTokenEntry`]. WSO2 carries these
/// on its `tokenRevocation` topic rather than as a notification type.
pub const TOKEN_REVOCATION: &str = "TOKEN_REVOCATION";

/// How long a missing sequence number is waited for. Sequence numbers are taken when a transaction inserts its
/// event and become visible when it commits, so a later number can be read first; a number still missing after
/// this long belonged to a transaction that rolled back.
pub const GAP_TTL_MS: u64 = 30_000;

/// At most this many missing numbers are remembered (the oldest go first); a log with more holes than this
/// within [`GAP_TTL_MS`] is not one we write.
pub const MAX_GAPS: usize = 100_000;

/// A position in the event log that tolerates out-of-order commits: the highest sequence number seen, plus the
/// numbers below it not seen yet with the time they stop being waited for. Both ends of a stream keep one: the
/// server to deliver a late commit exactly once, the subscriber to say on reconnect what it still waits for
/// and to drop duplicates.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cursor {
    high: i64,
    gaps: BTreeMap<i64, u64>,
}

impl Cursor {
    /// At `high`, still waiting for `pending` (numbers above `high` or below 1 are ignored).
    pub fn new(high: i64, pending: &[i64], now_ms: u64) -> Cursor {
        let mut c = Cursor { high: high.max(0), gaps: BTreeMap::new() };
        for &p in pending.iter().filter(|&&p| p >= 1 && p <= c.high).take(MAX_GAPS) {
            c.gaps.insert(p, now_ms + GAP_TTL_MS);
        }
        c
    }

    pub fn high(&self) -> i64 {
        self.high
    }

    /// The numbers below [`Cursor::high`] still waited for.
    pub fn pending(&self) -> Vec<i64> {
        self.gaps.keys().copied().collect()
    }

    /// Whether numbers below the high mark are still waited for.
    pub fn waiting(&self) -> bool {
        !self.gaps.is_empty()
    }

    /// Read the log after this number: just below the oldest gap, or at the high mark.
    pub fn floor(&self) -> i64 {
        self.gaps.keys().next().map_or(self.high, |g| g - 1)
    }

    /// Records `seq`; true when it had not been seen (deliver or apply it), false for a duplicate.
    pub fn observe(&mut self, seq: i64, now_ms: u64) -> bool {
        if seq > self.high {
            // Numbers skipped over may still commit; a jump larger than MAX_GAPS keeps only the newest holes.
            let from = (self.high + 1).max(seq - MAX_GAPS as i64);
            for s in from..seq {
                self.gaps.insert(s, now_ms + GAP_TTL_MS);
            }
            self.high = seq;
            while self.gaps.len() > MAX_GAPS {
                self.gaps.pop_first();
            }
            true
        } else {
            self.gaps.remove(&seq).is_some()
        }
    }

    /// Stops waiting for numbers whose time is up; returns how many were given up.
    pub fn expire(&mut self, now_ms: u64) -> usize {
        let before = self.gaps.len();
        self.gaps.retain(|_, deadline| *deadline > now_ms);
        before - self.gaps.len()
    }
}

#[cfg(test)]
mod tests;
