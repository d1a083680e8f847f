//! Retrying [`PushError::Retryable`] failures with capped exponential backoff.

use crate::PushError;
use std::future::Future;
use std::time::{Duration, SystemTime};

/// How [`Pusher::send_with_retry`](crate::Pusher::send_with_retry) retries.
///
/// Attempt `n` (counting from 1) is followed, if it fails with [`PushError::Retryable`], by a wait
/// of `initial_delay × 2^(n-1)`, capped at `max_delay`, or by the provider's `Retry-After` if that
/// is longer. A `Retry-After` beyond `max_delay` ends the retries at once and returns the error, so
/// the caller can schedule the push later instead of holding a task that long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; 0 acts as 1.
    pub attempts: u32,
    /// The wait after the first failed attempt.
    pub initial_delay: Duration,
    /// The longest wait between two attempts.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// Four attempts, waiting 0.5 s, 1 s and 2 s (or what `Retry-After` asks, up to 30 s).
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            initial_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The backoff after failed attempt `attempt` (1-based), before `Retry-After` is considered.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.initial_delay
            .saturating_mul(factor)
            .min(self.max_delay)
    }
}

/// Runs `op` until it succeeds, fails with anything but `Retryable`, or the policy says stop;
/// `sleep` waits between attempts (tests pass one that only records).
pub(crate) async fn retry_with<T, Op, OpFut, Sleep, SleepFut>(
    policy: &RetryPolicy,
    mut sleep: Sleep,
    mut op: Op,
) -> Result<T, PushError>
where
    Op: FnMut() -> OpFut,
    OpFut: Future<Output = Result<T, PushError>>,
    Sleep: FnMut(Duration) -> SleepFut,
    SleepFut: Future<Output = ()>,
{
    let attempts = policy.attempts.max(1);
    let mut attempt = 1;
    loop {
        let (error, asked) = match op().await {
            Err(e @ PushError::Retryable { retry_after, .. }) => {
                (e, retry_after.unwrap_or_default())
            }
            done => return done,
        };
        if attempt >= attempts || asked > policy.max_delay {
            return Err(error);
        }
        let wait = policy.backoff(attempt).max(asked);
        tracing::debug!(attempt, ?wait, %error, "push failed; retrying");
        sleep(wait).await;
        attempt += 1;
    }
}

/// Reads `Retry-After`: delta-seconds or an HTTP date (RFC 9110 §10.2.3).
pub(crate) fn retry_after(
    headers: &reqwest::header::HeaderMap,
    now: SystemTime,
) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Provider;
    use std::cell::RefCell;

    fn retryable(after: Option<u64>) -> PushError {
        PushError::Retryable {
            provider: Provider::Fcm,
            reason: "503".into(),
            retry_after: after.map(Duration::from_secs),
        }
    }

    /// Runs `retry_with` over scripted outcomes; returns the result, the attempts made and the waits.
    fn run(
        policy: &RetryPolicy,
        outcomes: Vec<Result<u32, PushError>>,
    ) -> (Result<u32, PushError>, usize, Vec<Duration>) {
        let outcomes = RefCell::new(outcomes.into_iter());
        let calls = RefCell::new(0);
        let waits = RefCell::new(Vec::new());
        let result = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(retry_with(
                policy,
                |d| {
                    waits.borrow_mut().push(d);
                    std::future::ready(())
                },
                || {
                    *calls.borrow_mut() += 1;
                    std::future::ready(outcomes.borrow_mut().next().expect("no more outcomes"))
                },
            ));
        (result, calls.into_inner(), waits.into_inner())
    }

    fn policy(attempts: u32) -> RetryPolicy {
        RetryPolicy {
            attempts,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        }
    }

    #[test]
    fn backs_off_exponentially_up_to_the_cap() {
        let (result, calls, waits) = run(
            &policy(6),
            vec![
                Err(retryable(None)),
                Err(retryable(None)),
                Err(retryable(None)),
                Err(retryable(None)),
                Err(retryable(None)),
                Ok(7),
            ],
        );
        assert_eq!(result, Ok(7));
        assert_eq!(calls, 6);
        let ms: Vec<u128> = waits.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [100, 200, 400, 800, 1000]);
    }

    #[test]
    fn stops_after_the_last_attempt_with_the_last_error() {
        let (result, calls, waits) = run(
            &policy(2),
            vec![Err(retryable(None)), Err(retryable(Some(0)))],
        );
        assert_eq!(result, Err(retryable(Some(0))));
        assert_eq!((calls, waits.len()), (2, 1));
    }

    #[test]
    fn honours_retry_after_and_gives_up_when_it_exceeds_the_cap() {
        let (result, _, waits) = run(&policy(3), vec![Err(retryable(Some(1))), Ok(1)]);
        assert_eq!((result, waits), (Ok(1), vec![Duration::from_secs(1)]));

        let (result, calls, waits) = run(&policy(3), vec![Err(retryable(Some(2)))]);
        assert_eq!(result, Err(retryable(Some(2))));
        assert_eq!((calls, waits.len()), (1, 0));
    }

    #[test]
    fn does_not_retry_final_errors() {
        let gone = PushError::Gone {
            provider: Provider::Apns,
            reason: "410".into(),
        };
        let (result, calls, _) = run(&policy(5), vec![Err(gone.clone())]);
        assert_eq!((result, calls), (Err(gone), 1));
    }

    #[test]
    fn reads_retry_after_in_seconds_and_as_a_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        let mut headers = reqwest::header::HeaderMap::new();
        assert_eq!(retry_after(&headers, now), None);
        headers.insert("retry-after", "120".parse().unwrap());
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(120)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(90));
        headers.insert("retry-after", later.parse().unwrap());
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(90)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(90));
        headers.insert("retry-after", past.parse().unwrap());
        assert_eq!(retry_after(&headers, now), Some(Duration::ZERO));
    }
}
