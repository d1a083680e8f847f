//! `[retention]`: how long records are kept before housekeeping deletes them, a batch at a time.

use super::ConfigError;
use callside_core::Millis;
use callside_store::{Purge, Write};
use serde::{Deserialize, Serialize};

/// As written: days per kind, 0 for "keep forever".
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetention {
    pub sessions_days: Option<u32>,
    pub legs_days: Option<u32>,
    pub calls_days: Option<u32>,
    pub call_notes_days: Option<u32>,
    pub audit_days: Option<u32>,
    pub records_days: Option<u32>,
    pub unreferenced_files_days: Option<u32>,
}

/// How long each kind of record is kept (`None`: forever).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Closed sessions, with their messages, counted from their last message.
    pub sessions_days: Option<u32>,
    /// Call legs once settled (matched or not).
    pub legs_days: Option<u32>,
    /// Calls network elements reported, once ended.
    pub calls_days: Option<u32>,
    /// Composer data and post-call notes (the call log).
    pub call_notes_days: Option<u32>,
    /// The audit log.
    pub audit_days: Option<u32>,
    /// Merchants' call records.
    pub records_days: Option<u32>,
    /// Files nothing references (an upload never sent, files of sessions already deleted),
    /// counted from their last upload.
    pub unreferenced_files_days: Option<u32>,
}

/// Records one purge deletes at most; the rest wait for the next sweep.
pub(super) const PURGE_BATCH: u32 = 1000;
const MAX_DAYS: u32 = 36_500;
pub(super) const DAY_MS: Millis = 86_400_000;

/// A setting in days (`default` when absent) where 0 means `zero` (forever, never): `None` for 0,
/// at most 100 years.
pub(super) fn days(
    key: &'static str,
    value: Option<u32>,
    default: u32,
    zero: &str,
) -> Result<Option<u32>, ConfigError> {
    match value.unwrap_or(default) {
        0 => Ok(None),
        d if d <= MAX_DAYS => Ok(Some(d)),
        d => Err(ConfigError::Invalid {
            key,
            value: d.to_string(),
            reason: format!("must be 0 ({zero}) to {MAX_DAYS} days"),
        }),
    }
}

impl RawRetention {
    pub(super) fn validate(&self) -> Result<Retention, ConfigError> {
        let days = |key, v, default| days(key, v, default, "keep forever");
        Ok(Retention {
            sessions_days: days("retention.sessions_days", self.sessions_days, 0)?,
            legs_days: days("retention.legs_days", self.legs_days, 30)?,
            calls_days: days("retention.calls_days", self.calls_days, 30)?,
            call_notes_days: days("retention.call_notes_days", self.call_notes_days, 90)?,
            audit_days: days("retention.audit_days", self.audit_days, 365)?,
            records_days: days("retention.records_days", self.records_days, 0)?,
            unreferenced_files_days: days(
                "retention.unreferenced_files_days",
                self.unreferenced_files_days,
                1,
            )?,
        })
    }
}

impl Retention {
    pub(super) fn to_raw(self) -> RawRetention {
        let d = |v: Option<u32>| Some(v.unwrap_or(0));
        RawRetention {
            sessions_days: d(self.sessions_days),
            legs_days: d(self.legs_days),
            calls_days: d(self.calls_days),
            call_notes_days: d(self.call_notes_days),
            audit_days: d(self.audit_days),
            records_days: d(self.records_days),
            unreferenced_files_days: d(self.unreferenced_files_days),
        }
    }

    /// Files last uploaded before this time and referenced by nothing are deleted (`None`:
    /// kept forever).
    pub fn files_before(&self, now: Millis) -> Option<Millis> {
        self.unreferenced_files_days
            .map(|d| now - Millis::from(d) * DAY_MS)
    }

    /// The purges one housekeeping sweep at `now` submits: one bounded batch per kind that is
    /// not kept forever.
    pub fn purges(&self, now: Millis) -> Vec<Write> {
        [
            (Purge::Sessions, self.sessions_days),
            (Purge::Legs, self.legs_days),
            (Purge::Calls, self.calls_days),
            (Purge::CallNotes, self.call_notes_days),
            (Purge::Audit, self.audit_days),
            (Purge::Clicks, self.records_days),
        ]
        .into_iter()
        .filter_map(|(what, days)| {
            days.map(|d| Write::Purge {
                what,
                before: now - Millis::from(d) * DAY_MS,
                limit: PURGE_BATCH,
            })
        })
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_keep_sessions_and_records_and_purge_the_rest_by_age() {
        let r = RawRetention::default().validate().unwrap();
        let now = 1_000 * DAY_MS;
        let purges: Vec<(Purge, Millis)> = r
            .purges(now)
            .into_iter()
            .map(|w| match w {
                Write::Purge {
                    what,
                    before,
                    limit,
                } => {
                    assert_eq!(limit, PURGE_BATCH);
                    (what, (now - before) / DAY_MS)
                }
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            purges,
            [
                (Purge::Legs, 30),
                (Purge::Calls, 30),
                (Purge::CallNotes, 90),
                (Purge::Audit, 365)
            ]
        );
        let all = RawRetention {
            sessions_days: Some(7),
            records_days: Some(400),
            audit_days: Some(0),
            ..RawRetention::default()
        }
        .validate()
        .unwrap();
        let kinds: Vec<Purge> = all
            .purges(now)
            .into_iter()
            .filter_map(|w| match w {
                Write::Purge { what, .. } => Some(what),
                _ => None,
            })
            .collect();
        assert!(kinds.contains(&Purge::Sessions) && kinds.contains(&Purge::Clicks));
        assert!(!kinds.contains(&Purge::Audit), "0 keeps forever");
        let e = RawRetention {
            legs_days: Some(40_000),
            ..RawRetention::default()
        }
        .validate()
        .unwrap_err();
        assert!(e.to_string().contains("retention.legs_days"), "{e}");
        assert_eq!(
            RawRetention::default()
                .validate()
                .unwrap()
                .to_raw()
                .validate()
                .unwrap(),
            r
        );
    }
}
