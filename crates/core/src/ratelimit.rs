//! Keyed rate limits (GCRA, the generic cell rate algorithm): one timestamp per key, so a limit
//! costs 8 bytes per key and answers in O(1). Time is passed in, like everywhere in this crate.
//!
//! A [`Rate`] of `count` per `period` lets a burst of `count` through at once and then one every
//! `period / count`. Keys whose theoretical arrival time has passed hold no information and are
//! dropped by [`Limiter::prune`].

use crate::Millis;
use std::collections::HashMap;
use std::hash::Hash;

/// `count` events per `period_ms`, bursting up to `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub period_ms: i64,
}

impl Rate {
    pub const fn per_minute(count: u32) -> Self {
        Rate {
            count,
            period_ms: 60_000,
        }
    }

    pub const fn per_hour(count: u32) -> Self {
        Rate {
            count,
            period_ms: 3_600_000,
        }
    }

    pub const fn per_day(count: u32) -> Self {
        Rate {
            count,
            period_ms: 86_400_000,
        }
    }

    /// Time between two events at the sustained rate.
    fn interval(self) -> i64 {
        (self.period_ms / i64::from(self.count.max(1))).max(1)
    }
}

/// Refused: try again after this many milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many requests of this kind; retry in {} s", self.retry_after_secs())]
pub struct Limited {
    pub retry_after_ms: i64,
}

impl Limited {
    /// Whole seconds to wait, at least one (for `Retry-After`).
    pub fn retry_after_secs(self) -> u64 {
        (self.retry_after_ms.max(0) as u64).div_ceil(1000).max(1)
    }
}

/// One rate applied separately to every key.
#[derive(Debug)]
pub struct Limiter<K> {
    rate: Rate,
    /// Key → theoretical arrival time of the next event at the sustained rate.
    tat: HashMap<K, Millis>,
}

impl<K: Eq + Hash> Limiter<K> {
    pub fn new(rate: Rate) -> Self {
        Limiter {
            rate,
            tat: HashMap::new(),
        }
    }

    /// Counts one event for `key` if the rate allows it; otherwise changes nothing.
    pub fn check(&mut self, key: K, now: Millis) -> Result<(), Limited> {
        let interval = self.rate.interval();
        let burst = interval * i64::from(self.rate.count.max(1));
        let tat = self.tat.get(&key).copied().unwrap_or(now).max(now);
        let next = tat + interval;
        if next - now > burst {
            return Err(Limited {
                retry_after_ms: next - now - burst,
            });
        }
        self.tat.insert(key, next);
        Ok(())
    }

    /// Counts one event for `key` that was let through elsewhere (another node of a cluster
    /// checked it against the same rate): it uses up room here too, even past the limit.
    pub fn count(&mut self, key: K, now: Millis) {
        let tat = self.tat.get(&key).copied().unwrap_or(now).max(now);
        self.tat.insert(key, tat + self.rate.interval());
    }

    /// Whether an event for `key` would pass, without counting it.
    pub fn would_allow(&self, key: &K, now: Millis) -> bool {
        let interval = self.rate.interval();
        let burst = interval * i64::from(self.rate.count.max(1));
        let tat = self.tat.get(key).copied().unwrap_or(now).max(now);
        tat + interval - now <= burst
    }

    /// Forgets keys that are back to a full burst.
    pub fn prune(&mut self, now: Millis) {
        self.tat.retain(|_, tat| *tat > now);
    }

    pub fn len(&self) -> usize {
        self.tat.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tat.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_sustained_rate() {
        let mut l = Limiter::new(Rate::per_hour(3));
        let t = 1_000_000;
        for _ in 0..3 {
            l.check("a", t).unwrap();
        }
        let e = l.check("a", t).unwrap_err();
        assert_eq!(e.retry_after_ms, 20 * 60_000);
        assert_eq!(e.retry_after_secs(), 1200);
        // Other keys are independent.
        l.check("b", t).unwrap();
        // One slot frees every 20 minutes.
        assert!(l.check("a", t + 20 * 60_000 - 1).is_err());
        l.check("a", t + 20 * 60_000).unwrap();
        assert!(l.check("a", t + 20 * 60_000).is_err());
    }

    #[test]
    fn events_let_through_elsewhere_use_up_the_same_room() {
        let mut l = Limiter::new(Rate::per_minute(2));
        let t = 1_000_000;
        l.count("a", t);
        l.check("a", t).unwrap();
        assert!(
            l.check("a", t).is_err(),
            "one here and one elsewhere fill the burst"
        );
        // Counted even past the limit: the wait grows.
        l.count("a", t);
        let e = l.check("a", t).unwrap_err();
        assert_eq!(e.retry_after_ms, 60_000);
        l.check("b", t).unwrap();
    }

    #[test]
    fn refusals_are_not_counted() {
        let mut l = Limiter::new(Rate::per_minute(1));
        l.check(1, 0).unwrap();
        for _ in 0..100 {
            assert!(l.check(1, 10).is_err());
        }
        assert!(l.would_allow(&1, 60_000));
        l.check(1, 60_000).unwrap();
    }

    #[test]
    fn pruning_forgets_only_idle_keys() {
        let mut l = Limiter::new(Rate::per_minute(2));
        l.check("old", 0).unwrap();
        l.check("new", 50_000).unwrap();
        l.prune(40_000);
        assert_eq!(l.len(), 1);
        l.check("new", 50_000).unwrap();
        assert!(l.check("new", 50_000).is_err());
    }
}
