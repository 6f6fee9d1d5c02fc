//! Small read-through caches for the hottest reads (the caller behind a token, `/v1/me`).
//!
//! An entry is served only while (a) no write request has finished in this process since it was
//! read — every POST/PATCH/DELETE and every job run bumps one epoch — and (b) it is younger than
//! the TTL, which bounds how long a change made by *another* process can go unseen. With the TTL
//! at 0 nothing is cached. Time rules (expiry, suspension) are still evaluated on every request
//! from the cached fields, against the clock.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Moves whenever this process may have changed what is cached.
#[derive(Default)]
pub struct Epoch(AtomicU64);

impl Epoch {
    pub fn current(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }

    pub fn bump(&self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }
}

pub struct EpochCache<V> {
    entries: Mutex<HashMap<String, (V, u64, Instant)>>,
    ttl: Duration,
    capacity: usize,
}

impl<V: Clone> EpochCache<V> {
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        EpochCache {
            entries: Mutex::new(HashMap::new()),
            ttl,
            capacity,
        }
    }

    pub fn get(&self, key: &str, epoch: &Epoch) -> Option<V> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries.lock().ok()?;
        let (value, at_epoch, fetched) = entries.get(key)?;
        (*at_epoch == epoch.current() && fetched.elapsed() < self.ttl).then(|| value.clone())
    }

    /// Stores a value read while the epoch was `read_at` (taken *before* the read), unless a
    /// write has finished since.
    pub fn put(&self, key: &str, value: V, read_at: u64, epoch: &Epoch) {
        if self.ttl.is_zero() || read_at != epoch.current() {
            return;
        }
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= self.capacity {
                entries.clear();
            }
            entries.insert(key.to_string(), (value, read_at, Instant::now()));
        }
    }

    pub fn remove(&self, key: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_end_with_a_write_or_the_ttl() {
        let epoch = Epoch::default();
        let cache = EpochCache::new(Duration::from_secs(60), 10);
        let read_at = epoch.current();
        cache.put("a", 1, read_at, &epoch);
        assert_eq!(cache.get("a", &epoch), Some(1));
        epoch.bump();
        assert_eq!(cache.get("a", &epoch), None);
        // A value read before a write finished is not stored.
        cache.put("b", 2, read_at, &epoch);
        assert_eq!(cache.get("b", &epoch), None);
        let off = EpochCache::new(Duration::ZERO, 10);
        off.put("a", 1, epoch.current(), &epoch);
        assert_eq!(off.get("a", &epoch), None);
    }
}
