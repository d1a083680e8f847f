//! The one session type (S0-F3–F5, S1-F1/F3, S2-I, S4): whatever created it, a session has a key,
//! participants, an ordered log (kept by the store) and a lifecycle tied to a call.

use crate::matching::CallId;
use crate::principal::PrincipalId;
use crate::secret::SessionKey;
use crate::Millis;

/// What the call behind a session is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallState {
    Ringing,
    Answered,
    Ended,
}

impl CallState {
    pub fn as_str(self) -> &'static str {
        match self {
            CallState::Ringing => "ringing",
            CallState::Answered => "answered",
            CallState::Ended => "ended",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ringing" => Some(CallState::Ringing),
            "answered" => Some(CallState::Answered),
            "ended" => Some(CallState::Ended),
            _ => None,
        }
    }
}

/// Whether the session outlives its call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    /// S1: the data session may continue after the call (the default).
    KeepAfterCall,
    /// S0-F5: the key becomes invalid when the call ends.
    CloseWithCall,
}

impl Lifecycle {
    pub fn as_str(self) -> &'static str {
        match self {
            Lifecycle::KeepAfterCall => "keep_after_call",
            Lifecycle::CloseWithCall => "close_with_call",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "keep_after_call" => Some(Lifecycle::KeepAfterCall),
            "close_with_call" => Some(Lifecycle::CloseWithCall),
            _ => None,
        }
    }
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    CallEnded,
    ClosedBy(PrincipalId),
    Idle,
}

impl CloseReason {
    pub fn code(&self) -> &'static str {
        match self {
            CloseReason::CallEnded => "call_ended",
            CloseReason::ClosedBy(_) => "closed",
            CloseReason::Idle => "idle",
        }
    }
}

/// How a session came to be: one type, several sources (DESIGN.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Two device legs paired (S0-F1/F2, S1-F1).
    PairedLegs,
    /// A network element reported the call (S1-F3–F5).
    Network(CallId),
    /// An invitation was accepted (S2-I, S1-F2).
    Invitation,
    /// Parties reported legs naming the same conference (S1-F14, S3-F19).
    Conference,
    /// An agent answered a visitor's click on a merchant's button (S4): the web call's data
    /// side (voice signalling, chat, pages).
    Click,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub key: SessionKey,
    pub origin: Origin,
    pub lifecycle: Lifecycle,
    pub call: CallState,
    pub participants: Vec<PrincipalId>,
    pub created_at: Millis,
    pub closed: Option<CloseReason>,
}

/// What a participant says about showing the session's earlier messages to those who join
/// later. Without a word, a joiner sees only what is sent after it joined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryConsent {
    /// Those who join may read the log from its start.
    Share,
    /// They may not, whatever the others say.
    Withhold,
}

impl HistoryConsent {
    pub fn as_str(self) -> &'static str {
        match self {
            HistoryConsent::Share => "share",
            HistoryConsent::Withhold => "withhold",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "share" => Some(HistoryConsent::Share),
            "withhold" => Some(HistoryConsent::Withhold),
            _ => None,
        }
    }
}

/// Whether someone joining now may read what was sent before: only if at least one participant
/// shares the history and none withholds it (each participant's word, or `None`).
pub fn history_visible(consents: impl IntoIterator<Item = Option<HistoryConsent>>) -> bool {
    let mut shared = false;
    for c in consents {
        match c {
            Some(HistoryConsent::Withhold) => return false,
            Some(HistoryConsent::Share) => shared = true,
            None => {}
        }
    }
    shared
}

/// Something that happens to a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    CallAnswered,
    CallEnded,
    Join(PrincipalId),
    /// A participant hands its place to another device of the same user (S2-M).
    Transfer {
        from: PrincipalId,
        to: PrincipalId,
    },
    Close(PrincipalId),
    /// No message for the idle period.
    IdleTimeout,
}

/// A change that participants must hear about (it goes on the session's log as a `system/*`
/// message, so it is ordered with the messages and survives reconnects).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Call(CallState),
    Joined(PrincipalId),
    Transferred { from: PrincipalId, to: PrincipalId },
    Closed(CloseReason),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("the session is closed ({})", .0.code())]
    Closed(CloseReason),
    #[error("not a participant of this session")]
    NotParticipant,
    #[error("that device already takes part in this session")]
    AlreadyParticipant,
}

impl Session {
    pub fn new(
        key: SessionKey,
        origin: Origin,
        lifecycle: Lifecycle,
        participants: Vec<PrincipalId>,
        now: Millis,
    ) -> Self {
        let mut unique: Vec<PrincipalId> = Vec::with_capacity(participants.len());
        for p in participants {
            if !unique.contains(&p) {
                unique.push(p);
            }
        }
        Session {
            key,
            origin,
            lifecycle,
            call: CallState::Ringing,
            participants: unique,
            created_at: now,
            closed: None,
        }
    }

    pub fn is_participant(&self, p: &PrincipalId) -> bool {
        self.participants.contains(p)
    }

    /// Fails unless `p` may read or write this open session.
    pub fn check_access(&self, p: &PrincipalId) -> Result<(), SessionError> {
        if !self.is_participant(p) {
            return Err(SessionError::NotParticipant);
        }
        match &self.closed {
            Some(reason) => Err(SessionError::Closed(reason.clone())),
            None => Ok(()),
        }
    }

    /// Applies an event; returns the changes to announce (none when the event changes nothing,
    /// so repeated reports are harmless).
    pub fn apply(&mut self, event: Event) -> Result<Vec<Change>, SessionError> {
        if let Some(reason) = &self.closed {
            // Call events after close are expected (the network reports late) and change nothing.
            return match event {
                Event::CallAnswered | Event::CallEnded | Event::IdleTimeout => Ok(vec![]),
                Event::Close(_) => Ok(vec![]),
                Event::Join(_) | Event::Transfer { .. } => {
                    Err(SessionError::Closed(reason.clone()))
                }
            };
        }
        let mut changes = Vec::new();
        match event {
            Event::CallAnswered => {
                if self.call == CallState::Ringing {
                    self.call = CallState::Answered;
                    changes.push(Change::Call(CallState::Answered));
                }
            }
            Event::CallEnded => {
                if self.call != CallState::Ended {
                    self.call = CallState::Ended;
                    changes.push(Change::Call(CallState::Ended));
                    if self.lifecycle == Lifecycle::CloseWithCall {
                        self.closed = Some(CloseReason::CallEnded);
                        changes.push(Change::Closed(CloseReason::CallEnded));
                    }
                }
            }
            Event::Join(p) => {
                if !self.participants.contains(&p) {
                    self.participants.push(p.clone());
                    changes.push(Change::Joined(p));
                }
            }
            Event::Transfer { from, to } => {
                let Some(at) = self.participants.iter().position(|p| p == &from) else {
                    return Err(SessionError::NotParticipant);
                };
                if self.participants.contains(&to) {
                    return Err(SessionError::AlreadyParticipant);
                }
                self.participants[at] = to.clone();
                changes.push(Change::Transferred { from, to });
            }
            Event::Close(by) => {
                if !self.participants.contains(&by) {
                    return Err(SessionError::NotParticipant);
                }
                let reason = CloseReason::ClosedBy(by);
                self.closed = Some(reason.clone());
                changes.push(Change::Closed(reason));
            }
            Event::IdleTimeout => {
                self.closed = Some(CloseReason::Idle);
                changes.push(Change::Closed(CloseReason::Idle));
            }
        }
        Ok(changes)
    }
}

#[cfg(test)]
mod history_tests {
    use super::*;

    #[test]
    fn history_is_visible_when_shared_and_nobody_withholds_it() {
        use HistoryConsent::{Share, Withhold};
        assert!(!history_visible([]), "nobody shared");
        assert!(!history_visible([None, None]), "silence is not sharing");
        assert!(history_visible([Some(Share), None]));
        assert!(
            !history_visible([Some(Share), Some(Withhold)]),
            "one withholds"
        );
        assert!(!history_visible([Some(Withhold), Some(Share), None]));
        for c in [Share, Withhold] {
            assert_eq!(HistoryConsent::parse(c.as_str()), Some(c));
        }
        assert_eq!(HistoryConsent::parse("maybe"), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_participant_hands_its_place_to_another_device() {
        let mut s = session(Lifecycle::KeepAfterCall);
        let (a, b, c) = (
            PrincipalId("a".into()),
            PrincipalId("b".into()),
            PrincipalId("c".into()),
        );
        assert_eq!(
            s.apply(Event::Transfer {
                from: c.clone(),
                to: a.clone()
            }),
            Err(SessionError::NotParticipant)
        );
        assert_eq!(
            s.apply(Event::Transfer {
                from: a.clone(),
                to: b.clone()
            }),
            Err(SessionError::AlreadyParticipant)
        );
        let changes = s
            .apply(Event::Transfer {
                from: a.clone(),
                to: c.clone(),
            })
            .unwrap();
        assert_eq!(
            changes,
            vec![Change::Transferred {
                from: a.clone(),
                to: c.clone()
            }]
        );
        assert!(s.is_participant(&c) && !s.is_participant(&a));
        s.apply(Event::Close(b.clone())).unwrap();
        assert!(matches!(
            s.apply(Event::Transfer { from: c, to: a }),
            Err(SessionError::Closed(_))
        ));
    }

    fn session(lifecycle: Lifecycle) -> Session {
        Session::new(
            SessionKey::generate(0),
            Origin::PairedLegs,
            lifecycle,
            vec![
                PrincipalId("a".into()),
                PrincipalId("b".into()),
                PrincipalId("a".into()),
            ],
            0,
        )
    }

    #[test]
    fn participants_are_unique_and_only_they_get_in() {
        let s = session(Lifecycle::KeepAfterCall);
        assert_eq!(s.participants.len(), 2);
        assert_eq!(s.check_access(&PrincipalId("a".into())), Ok(()));
        assert_eq!(
            s.check_access(&PrincipalId("z".into())),
            Err(SessionError::NotParticipant)
        );
    }

    #[test]
    fn by_default_the_session_outlives_the_call() {
        let mut s = session(Lifecycle::KeepAfterCall);
        assert_eq!(
            s.apply(Event::CallAnswered),
            Ok(vec![Change::Call(CallState::Answered)])
        );
        assert_eq!(s.apply(Event::CallAnswered), Ok(vec![]));
        assert_eq!(
            s.apply(Event::CallEnded),
            Ok(vec![Change::Call(CallState::Ended)])
        );
        assert_eq!(s.apply(Event::CallEnded), Ok(vec![]));
        assert!(s.closed.is_none());
        assert!(s.check_access(&PrincipalId("b".into())).is_ok());
    }

    #[test]
    fn close_with_call_invalidates_the_key() {
        let mut s = session(Lifecycle::CloseWithCall);
        let changes = s.apply(Event::CallEnded).unwrap();
        assert_eq!(
            changes,
            vec![
                Change::Call(CallState::Ended),
                Change::Closed(CloseReason::CallEnded)
            ]
        );
        assert_eq!(
            s.check_access(&PrincipalId("a".into())),
            Err(SessionError::Closed(CloseReason::CallEnded))
        );
        assert_eq!(s.apply(Event::CallEnded), Ok(vec![]));
        assert!(s.apply(Event::Join(PrincipalId("c".into()))).is_err());
    }

    #[test]
    fn only_participants_close_and_idle_sessions_expire() {
        let mut s = session(Lifecycle::KeepAfterCall);
        assert_eq!(
            s.apply(Event::Close(PrincipalId("z".into()))),
            Err(SessionError::NotParticipant)
        );
        assert_eq!(
            s.apply(Event::Join(PrincipalId("c".into()))).unwrap().len(),
            1
        );
        assert_eq!(s.apply(Event::Join(PrincipalId("c".into()))), Ok(vec![]));
        let mut idle = s.clone();
        assert_eq!(
            idle.apply(Event::IdleTimeout),
            Ok(vec![Change::Closed(CloseReason::Idle)])
        );
        assert_eq!(
            s.apply(Event::Close(PrincipalId("a".into()))),
            Ok(vec![Change::Closed(CloseReason::ClosedBy(PrincipalId(
                "a".into()
            )))])
        );
    }
}
