//! The one source of time for decisions that depend on it (token expiry, throttle windows, retention, forgetting
//! silent gateways): wall time as Unix seconds or milliseconds, and a monotonic instant for durations.
//!
//! Production code holds [`Clock::system`]; a test holds [`Clock::manual`] and moves it with [`Clock::advance`],
//! so time-based logic is tested without sleeping or measuring the wall clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A time source: the system's, or a manual one that moves only when told. Cheap to clone; clones of a manual
/// clock share its time.
#[derive(Clone, Debug, Default)]
pub struct Clock(Source);

#[derive(Clone, Debug, Default)]
enum Source {
    #[default]
    System,
    Manual(Arc<Manual>),
}

#[derive(Debug)]
struct Manual {
    /// The monotonic instant its zero stands for.
    origin: Instant,
    /// Unix milliseconds at `origin`.
    unix_ms_at_origin: i64,
    /// Milliseconds moved since `origin`.
    elapsed_ms: AtomicI64,
}

// === impl Clock ===

impl Clock {
    /// The machine's clocks: `SystemTime` for wall time, `Instant` for monotonic time.
    pub fn system() -> Clock {
        Clock(Source::System)
    }

    /// A clock standing at `unix_ms` (wall) and now (monotonic) that moves only by [`Clock::advance`].
    pub fn manual(unix_ms: i64) -> Clock {
        Clock(Source::Manual(Arc::new(Manual { origin: Instant::now(), unix_ms_at_origin: unix_ms, elapsed_ms: AtomicI64::new(0) })))
    }

    /// A manual clock standing at the system's current time.
    pub fn manual_at_system_time() -> Clock {
        Clock::manual(Clock::system().unix_ms())
    }

    /// Moves a manual clock forward, wall and monotonic time alike; the system clock is not moved.
    pub fn advance(&self, by: Duration) {
        if let Source::Manual(m) = &self.0 {
            m.elapsed_ms.fetch_add(i64::try_from(by.as_millis()).unwrap_or(i64::MAX), Ordering::Relaxed);
        }
    }

    /// Wall time in Unix milliseconds (0 before 1970: a clock that far off decides nothing well anyway).
    pub fn unix_ms(&self) -> i64 {
        match &self.0 {
            Source::System => SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0),
            Source::Manual(m) => m.unix_ms_at_origin.saturating_add(m.elapsed_ms.load(Ordering::Relaxed)),
        }
    }

    /// Wall time in Unix seconds.
    pub fn unix_secs(&self) -> i64 {
        self.unix_ms().div_euclid(1000)
    }

    /// Monotonic time, for measuring how long something took or has been silent.
    pub fn instant(&self) -> Instant {
        match &self.0 {
            Source::System => Instant::now(),
            Source::Manual(m) => m.origin + Duration::from_millis(m.elapsed_ms.load(Ordering::Relaxed).max(0) as u64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told_and_its_clones_with_it() {
        let clock = Clock::manual(1_700_000_000_500);
        let start = clock.instant();
        assert_eq!((clock.unix_ms(), clock.unix_secs()), (1_700_000_000_500, 1_700_000_000));
        let clone = clock.clone();
        clone.advance(Duration::from_millis(1_600));
        assert_eq!(clock.unix_ms(), 1_700_000_002_100);
        assert_eq!(clock.instant() - start, Duration::from_millis(1_600));
    }

    #[test]
    fn the_system_clock_is_not_moved() {
        let clock = Clock::system();
        let before = clock.unix_secs();
        clock.advance(Duration::from_secs(86_400));
        assert!(clock.unix_secs() - before < 86_400);
    }
}
