//! Which traffic worker runs this thread. A node serves its API traffic listeners from one thread per core,
//! each with its own current-thread runtime and its own `SO_REUSEPORT` socket (`apim_app::server`); a
//! connection's socket is registered with the runtime that made it, so a backend connection kept idle goes
//! back to the worker that made it ([`IdleList`]): used from another worker, every readiness event would cross
//! threads.

use std::cell::Cell;
use std::sync::Mutex;

thread_local! {
    static WORKER: Cell<u16> = const { Cell::new(0) };
}

/// Marks this thread as traffic worker `index` (from 1; 0 is any other thread).
pub fn enter(index: u16) {
    WORKER.with(|w| w.set(index));
}

/// This thread's worker index (0 outside the traffic workers).
pub fn current() -> u16 {
    WORKER.with(Cell::get)
}

/// Idle connections, each tagged with the worker that put it back. Taking prefers this worker's newest, and
/// takes another's rather than none (it still works, only slower).
#[derive(Debug)]
pub(crate) struct IdleList<T> {
    items: Mutex<Vec<(u16, T)>>,
    max: usize,
}

impl<T> IdleList<T> {
    pub(crate) const fn new(max: usize) -> IdleList<T> {
        IdleList { items: Mutex::new(Vec::new()), max }
    }

    /// Keeps `item` unless the list is full.
    pub(crate) fn put(&self, item: T) {
        let mut items = self.items.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if items.len() < self.max {
            items.push((current(), item));
        }
    }

    /// The newest usable item, this worker's first; unusable ones met on the way are dropped.
    pub(crate) fn take(&self, usable: impl Fn(&T) -> bool) -> Option<T> {
        let me = current();
        let mut items = self.items.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // Few workers and LIFO order: this worker's newest is near the end.
        let mine = items.iter().rposition(|(w, _)| *w == me);
        if let Some(i) = mine {
            let (_, item) = items.remove(i);
            if usable(&item) {
                return Some(item);
            }
        }
        while let Some((_, item)) = items.pop() {
            if usable(&item) {
                return Some(item);
            }
        }
        None
    }

    pub(crate) fn clear(&self) {
        self.items.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_takes_its_own_first_then_any() {
        let list = IdleList::new(3);
        enter(1);
        list.put("a1");
        enter(2);
        list.put("b1");
        list.put("b2");
        list.put("b3"); // over the limit: dropped
        enter(1);
        assert_eq!(list.take(|_| true), Some("a1"));
        assert_eq!(list.take(|_| true), Some("b2"));
        assert_eq!(list.take(|s| *s != "b1"), None, "an unusable one is dropped, not returned");
        assert_eq!(list.take(|_| true), None);
        enter(0);
    }
}
