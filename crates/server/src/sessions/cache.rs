//! The sessions in memory: a cell per session holding its record and the client ids it has seen,
//! and the bounded cache of cells.

use super::client_ids::ClientIds;
use callside_core::SessionKey;
use callside_store::SessionRecord;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::watch;

/// One session in memory. Appending takes `state`'s lock, assigns the next sequence number and
/// queues the write; `committed` moves on the writer thread once the write is durable.
pub(super) struct Cell {
    pub(super) state: tokio::sync::Mutex<CellState>,
    pub(super) committed: watch::Sender<u64>,
    /// The appends this cell queued ([`Write::Fence`](callside_store::Write::Fence)): once one
    /// loses its sequence number to another node, the rest fail too and the cell is reloaded.
    pub(super) chain: callside_store::Chain,
    /// When the cell was last fetched (ms): cells idle for long are dropped ([`Cache::evict`]).
    pub(super) used_at: std::sync::atomic::AtomicI64,
}

pub(super) struct CellState {
    pub(super) rec: SessionRecord,
    pub(super) client_ids: ClientIds,
}

impl Cell {
    pub(super) fn new(rec: SessionRecord, client_ids: ClientIds) -> Arc<Cell> {
        Arc::new(Cell {
            committed: watch::channel(rec.last_seq).0,
            chain: callside_store::Chain::default(),
            state: tokio::sync::Mutex::new(CellState { rec, client_ids }),
            used_at: std::sync::atomic::AtomicI64::new(crate::clock::now_ms()),
        })
    }

    pub(super) fn touch(&self) {
        self.used_at
            .store(crate::clock::now_ms(), std::sync::atomic::Ordering::Relaxed);
    }

    pub(super) fn used_since(&self, t: callside_core::Millis) -> bool {
        self.used_at.load(std::sync::atomic::Ordering::Relaxed) >= t
    }
}

/// The sessions in memory. Each use holds its cell (an `Arc`), so a cell nobody holds is unused
/// and may be dropped: it reloads from the store. Dropping happens when an insert finds the cache
/// at its trim mark, which then moves to twice what was kept (at least the soft limit), so a
/// cache full of sessions in use is not scanned on every insert.
pub(super) struct Cache<V> {
    pub(super) map: HashMap<SessionKey, Arc<V>>,
    trim_at: usize,
    soft_limit: usize,
}

impl<V> Cache<V> {
    pub(super) fn new(soft_limit: usize) -> Self {
        Cache {
            map: HashMap::new(),
            trim_at: soft_limit,
            soft_limit,
        }
    }

    /// Adds `value` under `key` unless a value is there already; returns the one kept.
    pub(super) fn insert(&mut self, key: SessionKey, value: Arc<V>) -> Arc<V> {
        if self.map.len() >= self.trim_at {
            self.map.retain(|_, v| Arc::strong_count(v) > 1);
            self.trim_at = (2 * self.map.len()).max(self.soft_limit);
        }
        self.map.entry(key).or_insert(value).clone()
    }

    /// Drops the values nobody holds that `keep` does not want (sessions idle for a while: a
    /// session's client ids take up to a few MiB, and the soft limit alone let thousands of
    /// idle ones stay). Answers how many went.
    pub(super) fn evict(&mut self, keep: impl Fn(&V) -> bool) -> usize {
        let before = self.map.len();
        self.map.retain(|_, v| Arc::strong_count(v) > 1 || keep(v));
        before - self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u64) -> SessionKey {
        SessionKey::parse(&format!("sk_{n:012x}{}", "a".repeat(24))).unwrap()
    }

    #[test]
    fn the_cache_drops_unused_sessions_and_keeps_those_in_use() {
        let mut cache = Cache::new(4);
        let held: Vec<Arc<u32>> = (0..2).map(|n| cache.insert(key(n), Arc::new(0))).collect();
        for n in 2..4 {
            cache.insert(key(n), Arc::new(0));
        }
        assert_eq!(cache.map.len(), 4);
        // At the mark: the two unused ones go, the held ones stay, the new one is added.
        let newest = key(99);
        cache.insert(newest.clone(), Arc::new(7));
        assert_eq!(cache.map.len(), 3);
        assert!(cache.map.contains_key(&key(0)) && cache.map.contains_key(&key(1)));
        assert_eq!(*cache.map[&newest], 7);
        drop(held);
    }

    #[test]
    fn a_cache_full_of_sessions_in_use_is_not_scanned_on_every_insert() {
        let mut cache = Cache::new(4);
        let held: Vec<Arc<u32>> = (0..4).map(|n| cache.insert(key(n), Arc::new(0))).collect();
        // All in use: the trim keeps the four and the next one waits until eight.
        cache.insert(key(4), Arc::new(0));
        assert_eq!(cache.trim_at, 8);
        for n in 5..8 {
            cache.insert(key(n), Arc::new(0));
        }
        assert_eq!(cache.map.len(), 8);
        // The ninth insert trims: the four unused ones go.
        cache.insert(key(8), Arc::new(0));
        assert_eq!(cache.map.len(), 5);
        assert_eq!(cache.trim_at, 8);
        drop(held);
    }

    #[test]
    fn eviction_drops_what_nobody_holds_and_keep_does_not_want() {
        let mut cache = Cache::new(100);
        let held = cache.insert(key(0), Arc::new(0));
        for n in 1..4 {
            cache.insert(key(n), Arc::new(n as u32));
        }
        // Keep the third; the held one stays whatever `keep` says.
        assert_eq!(cache.evict(|v| *v == 3), 2);
        let mut left: Vec<u32> = cache.map.values().map(|v| **v).collect();
        left.sort();
        assert_eq!(left, [0, 3]);
        drop(held);
        assert_eq!(cache.evict(|_| false), 2);
        assert!(cache.map.is_empty());
    }

    #[test]
    fn inserting_a_known_key_keeps_the_cell_already_there() {
        let mut cache = Cache::new(4);
        let first = cache.insert(key(1), Arc::new(1));
        let second = cache.insert(key(1), Arc::new(2));
        assert!(Arc::ptr_eq(&first, &second));
        assert_eq!(*second, 1);
    }
}
