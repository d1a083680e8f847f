//! Reconnect delays: exponential growth, capped, with jitter.

use std::time::Duration;

/// How long to wait before each reconnect attempt.
///
/// Attempt `n` (0-based) waits a random time in `[c/2, c]` where
/// `c = min(max, initial × 2ⁿ)` ("equal jitter"): the delay grows quickly, never exceeds `max`,
/// and clients that lost the same server at the same moment spread out when they come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The ceiling for the first attempt.
    pub initial: Duration,
    /// The ceiling for every attempt.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(250),
            max: Duration::from_secs(10),
        }
    }
}

impl Backoff {
    /// The delay before attempt `attempt`, for a random `unit` in `[0, 1)` (clamped).
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        let ceiling = self.ceiling(attempt);
        let half = ceiling / 2;
        let unit = if unit.is_finite() {
            unit.clamp(0.0, 1.0)
        } else {
            0.0
        };
        (half + half.mul_f64(unit)).min(ceiling)
    }

    /// The largest delay attempt `attempt` can get.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.min(20);
        self.initial.saturating_mul(factor).min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_stay_within_bounds() {
        let b = Backoff::default();
        let mut previous_ceiling = Duration::ZERO;
        for attempt in 0..100 {
            let ceiling = b.ceiling(attempt);
            assert!(ceiling >= previous_ceiling, "ceilings never shrink");
            assert!(ceiling <= b.max);
            previous_ceiling = ceiling;
            for unit in [0.0, 0.25, 0.5, 0.999_999, 1.0, -3.0, 7.0, f64::NAN] {
                let d = b.delay(attempt, unit);
                assert!(d >= ceiling / 2, "attempt {attempt} unit {unit}: {d:?}");
                assert!(d <= ceiling, "attempt {attempt} unit {unit}: {d:?}");
            }
            let d = b.delay(attempt, crate::id::random_unit());
            assert!(d >= ceiling / 2 && d <= ceiling);
        }
    }

    #[test]
    fn first_attempt_is_quick_and_the_cap_is_reached() {
        let b = Backoff::default();
        assert_eq!(b.ceiling(0), Duration::from_millis(250));
        assert_eq!(b.ceiling(1), Duration::from_millis(500));
        assert_eq!(b.ceiling(6), Duration::from_secs(10));
        assert_eq!(b.ceiling(u32::MAX), Duration::from_secs(10));
        assert!(b.delay(u32::MAX, 0.999) <= Duration::from_secs(10));
    }

    #[test]
    fn jitter_spreads_delays() {
        let b = Backoff::default();
        let low = b.delay(5, 0.0);
        let high = b.delay(5, 0.99);
        assert!(high > low + Duration::from_secs(3));
    }
}
