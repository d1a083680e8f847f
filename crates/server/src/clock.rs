//! The wall clock, in the milliseconds the domain counts in. `core` never reads a clock; the
//! server reads it here.

use callside_core::Millis;

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as Millis)
        .unwrap_or(0)
}

/// `at` as an RFC 3339 UTC time to the second (`2026-12-07T14:11:00Z`), for messages people read.
pub(crate) fn rfc3339(at: Millis) -> String {
    chrono::DateTime::from_timestamp_millis(at)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| at.to_string())
}
