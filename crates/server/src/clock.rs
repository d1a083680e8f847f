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
