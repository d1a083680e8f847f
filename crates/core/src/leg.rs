//! A call leg: one party's report that a call is happening (S0-F1/F2, S1-F1, S1-F23).

use crate::number::PhoneNumber;
use crate::principal::PrincipalId;
use crate::Millis;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LegId(pub String);

impl fmt::Display for LegId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which way the call goes, seen from the reporting party.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// The reporter placed the call: it is the caller.
    Outgoing,
    /// The reporter received the call: it is the callee.
    Incoming,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Outgoing => "outgoing",
            Direction::Incoming => "incoming",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "outgoing" => Some(Direction::Outgoing),
            "incoming" => Some(Direction::Incoming),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LegError {
    #[error("an outgoing call needs the number that was called")]
    OutgoingWithoutCallee,
    #[error("{field} is too long (at most {max} characters)")]
    TooLong { field: &'static str, max: usize },
}

/// Party details of a call as reported by one of its ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leg {
    pub id: LegId,
    pub principal: PrincipalId,
    /// The reporter's own number.
    pub own: PhoneNumber,
    /// The other party's number; `None` when the caller withheld it.
    pub other: Option<PhoneNumber>,
    pub direction: Direction,
    /// A call identifier the reporter knows, e.g. a SIP Call-ID; preferred when pairing.
    pub call_ref: Option<String>,
    /// Extension dialled or answered, when the number is a PBX's.
    pub extension: Option<String>,
    /// Conference id entered on the call (S1-F14, F23).
    pub conference_id: Option<String>,
    pub reported_at: Millis,
    /// After this the leg ends with "no match" (the match window, covering ringing).
    pub expires_at: Millis,
}

/// Longest accepted call reference, extension or conference id.
pub const MAX_REF_LEN: usize = 256;

impl Leg {
    /// Checks the details that no number parser can: direction against withheld numbers, and
    /// the length of free-text fields.
    pub fn validate(&self) -> Result<(), LegError> {
        if self.direction == Direction::Outgoing && self.other.is_none() {
            return Err(LegError::OutgoingWithoutCallee);
        }
        for (field, value) in [
            ("call_ref", &self.call_ref),
            ("extension", &self.extension),
            ("conference_id", &self.conference_id),
        ] {
            if value
                .as_ref()
                .is_some_and(|v| v.chars().count() > MAX_REF_LEN)
            {
                return Err(LegError::TooLong {
                    field,
                    max: MAX_REF_LEN,
                });
            }
        }
        Ok(())
    }

    /// The calling number, if known.
    pub fn caller(&self) -> Option<&PhoneNumber> {
        match self.direction {
            Direction::Outgoing => Some(&self.own),
            Direction::Incoming => self.other.as_ref(),
        }
    }

    /// The called number (always known: one end is the reporter's own number).
    pub fn callee(&self) -> &PhoneNumber {
        match self.direction {
            Direction::Outgoing => self.other.as_ref().unwrap_or(&self.own),
            Direction::Incoming => &self.own,
        }
    }
}
