//! `[tokens]`: how long device and service-account tokens work, and when one counts as unused.

use super::retention::{days, DAY_MS};
use super::ConfigError;
use callside_core::Millis;
use serde::{Deserialize, Serialize};

/// As written: days, 0 for "never".
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTokens {
    pub expire_after_days: Option<u32>,
    pub unused_after_days: Option<u32>,
}

/// Token lifetimes (`None`: never).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tokens {
    /// A device's or service account's token stops working this long after it was issued (the
    /// owner rotates it before; the operator issues a new one after).
    pub expire_after_days: Option<u32>,
    /// A token not presented for this long is listed as unused (`callside admin tokens unused`,
    /// and a warning at each daily report).
    pub unused_after_days: Option<u32>,
}

impl RawTokens {
    pub(super) fn validate(&self) -> Result<Tokens, ConfigError> {
        let days = |key, v, default| days(key, v, default, "never");
        Ok(Tokens {
            expire_after_days: days("tokens.expire_after_days", self.expire_after_days, 0)?,
            unused_after_days: days("tokens.unused_after_days", self.unused_after_days, 90)?,
        })
    }
}

impl Tokens {
    pub(super) fn to_raw(self) -> RawTokens {
        RawTokens {
            expire_after_days: Some(self.expire_after_days.unwrap_or(0)),
            unused_after_days: Some(self.unused_after_days.unwrap_or(0)),
        }
    }

    /// When a token issued at `issued_at` stops working, if it does.
    pub fn expires_at(&self, issued_at: Millis) -> Option<Millis> {
        self.expire_after_days
            .map(|d| issued_at + Millis::from(d) * DAY_MS)
    }

    /// Tokens last presented before this count as unused at `now`.
    pub fn unused_before(&self, now: Millis) -> Option<Millis> {
        self.unused_after_days
            .map(|d| now - Millis::from(d) * DAY_MS)
    }
}
