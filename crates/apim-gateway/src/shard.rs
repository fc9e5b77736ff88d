//! A value per thread for what every request writes (the analytics table, the exporters' outbox): each worker
//! thread takes a lock of its own and writes cache lines of its own. With one value, every request on every
//! core took the same lock and moved the same lines between cores.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Shards per core: threads take shards in the order they first use one, so a node's worker threads rarely
/// share one even when other threads of the process came first.
const PER_CORE: usize = 2;

/// Threads in the order they first used a shard.
static THREADS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static THREAD: usize = THREADS.fetch_add(1, Relaxed);
}

/// One `T` on cache lines of its own, so that a neighbour's writes do not take them away.
#[derive(Default)]
#[repr(align(128))]
struct Padded<T>(T);

pub struct Sharded<T> {
    shards: Box<[Padded<T>]>,
}

impl<T: Default> Default for Sharded<T> {
    fn default() -> Sharded<T> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()).min(64);
        Sharded { shards: (0..cores * PER_CORE).map(|_| Padded::default()).collect() }
    }
}

impl<T> Sharded<T> {
    /// The calling thread's shard.
    pub fn mine(&self) -> &T {
        let n = THREAD.with(|n| *n);
        &self.shards[n % self.shards.len()].0
    }

    pub fn all(&self) -> impl Iterator<Item = &T> {
        self.shards.iter().map(|s| &s.0)
    }
}
