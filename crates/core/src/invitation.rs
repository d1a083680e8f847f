//! Invitations (S2-I, S2-M, S1-F2): one party asks another, by endpoint id (a phone number), to
//! join a data session. Every device of the invitee is told; the first to accept wins and the
//! others stop ringing; the inviter hears every change; unanswered invitations expire.
//!
//! The rules are a small state machine, [`Invitation`], with time passed in.

use crate::principal::PrincipalId;
use crate::{Millis, PhoneNumber, SessionKey};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvitationState {
    /// Ringing on the invitee's devices.
    Pending,
    /// A device of the invitee accepted; the session is open to it.
    Accepted,
    /// A device of the invitee declined.
    Declined,
    /// The inviter withdrew it.
    Cancelled,
    /// Nobody answered in time.
    Expired,
}

impl InvitationState {
    pub fn as_str(self) -> &'static str {
        match self {
            InvitationState::Pending => "pending",
            InvitationState::Accepted => "accepted",
            InvitationState::Declined => "declined",
            InvitationState::Cancelled => "cancelled",
            InvitationState::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => InvitationState::Pending,
            "accepted" => InvitationState::Accepted,
            "declined" => InvitationState::Declined,
            "cancelled" => InvitationState::Cancelled,
            "expired" => InvitationState::Expired,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvitationError {
    #[error("this invitation is not addressed to this device")]
    NotInvitee,
    #[error("only the inviter may do this")]
    NotInviter,
    #[error("the invitation was already {}", .0.as_str())]
    Settled(InvitationState),
    #[error("the invitation expired")]
    Expired,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    pub id: String,
    pub inviter: PrincipalId,
    /// The number or address invited, and the number the inviter invites from.
    pub invitee: crate::email::Endpoint,
    pub from: Option<PhoneNumber>,
    /// Every device of the invitee that was told, at the time of inviting.
    pub devices: Vec<PrincipalId>,
    /// The session the invitee is asked into; `None` means a new one made on acceptance.
    pub session: Option<SessionKey>,
    /// The pending leg this invitation offers a session for (S1-F2: only one side of a call
    /// reported it); accepting settles the leg into the new session.
    pub leg: Option<crate::LegId>,
    /// The invitee had no device, so it was told by SMS with a link (S1-F7); its devices are
    /// added as they prove the number, until the invitation expires.
    pub via_sms: bool,
    pub state: InvitationState,
    pub answered_by: Option<PrincipalId>,
    pub created_at: Millis,
    pub expires_at: Millis,
}

impl Invitation {
    fn open(&self, now: Millis) -> Result<(), InvitationError> {
        match self.state {
            InvitationState::Pending if now >= self.expires_at => Err(InvitationError::Expired),
            InvitationState::Pending => Ok(()),
            InvitationState::Expired => Err(InvitationError::Expired),
            other => Err(InvitationError::Settled(other)),
        }
    }

    /// The first acceptance wins; later ones (from other devices) fail with `Settled`.
    pub fn accept(&mut self, by: &PrincipalId, now: Millis) -> Result<(), InvitationError> {
        if !self.devices.contains(by) {
            return Err(InvitationError::NotInvitee);
        }
        self.open(now)?;
        self.state = InvitationState::Accepted;
        self.answered_by = Some(by.clone());
        Ok(())
    }

    /// A decline on any device declines the invitation (as rejecting a call on one phone does).
    pub fn decline(&mut self, by: &PrincipalId, now: Millis) -> Result<(), InvitationError> {
        if !self.devices.contains(by) {
            return Err(InvitationError::NotInvitee);
        }
        self.open(now)?;
        self.state = InvitationState::Declined;
        self.answered_by = Some(by.clone());
        Ok(())
    }

    pub fn cancel(&mut self, by: &PrincipalId, now: Millis) -> Result<(), InvitationError> {
        if by != &self.inviter {
            return Err(InvitationError::NotInviter);
        }
        self.open(now)?;
        self.state = InvitationState::Cancelled;
        Ok(())
    }

    /// Marks a pending invitation whose time ran out; true if it changed.
    pub fn expire(&mut self, now: Millis) -> bool {
        if self.state == InvitationState::Pending && now >= self.expires_at {
            self.state = InvitationState::Expired;
            true
        } else {
            false
        }
    }

    /// Who hears about a change: the inviter and every device told.
    pub fn audience(&self) -> Vec<PrincipalId> {
        let mut all = vec![self.inviter.clone()];
        all.extend(self.devices.iter().cloned());
        all
    }

    pub fn may_see(&self, who: &PrincipalId) -> bool {
        who == &self.inviter || self.devices.contains(who)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> PrincipalId {
        PrincipalId(s.into())
    }

    fn invitation() -> Invitation {
        Invitation {
            id: "inv_1".into(),
            inviter: p("a"),
            invitee: crate::email::Endpoint::Number(
                PhoneNumber::parse("+442079460002", None).unwrap(),
            ),
            from: None,
            devices: vec![p("b1"), p("b2")],
            session: None,
            leg: None,
            via_sms: false,
            state: InvitationState::Pending,
            answered_by: None,
            created_at: 0,
            expires_at: 1_000,
        }
    }

    #[test]
    fn the_first_acceptance_wins() {
        let mut inv = invitation();
        assert_eq!(inv.accept(&p("c"), 10), Err(InvitationError::NotInvitee));
        assert_eq!(inv.accept(&p("a"), 10), Err(InvitationError::NotInvitee));
        inv.accept(&p("b2"), 10).unwrap();
        assert_eq!(inv.answered_by, Some(p("b2")));
        assert_eq!(
            inv.accept(&p("b1"), 11),
            Err(InvitationError::Settled(InvitationState::Accepted))
        );
        assert_eq!(
            inv.decline(&p("b1"), 11),
            Err(InvitationError::Settled(InvitationState::Accepted))
        );
        assert_eq!(
            inv.cancel(&p("a"), 12),
            Err(InvitationError::Settled(InvitationState::Accepted))
        );
        assert!(!inv.expire(5_000));
        assert_eq!(inv.audience(), vec![p("a"), p("b1"), p("b2")]);
    }

    #[test]
    fn declines_cancels_and_expiry_end_it() {
        let mut inv = invitation();
        inv.decline(&p("b1"), 10).unwrap();
        assert_eq!(inv.state, InvitationState::Declined);

        let mut inv = invitation();
        assert_eq!(inv.cancel(&p("b1"), 10), Err(InvitationError::NotInviter));
        inv.cancel(&p("a"), 10).unwrap();
        assert_eq!(inv.state, InvitationState::Cancelled);

        let mut inv = invitation();
        assert!(!inv.expire(999));
        assert_eq!(inv.accept(&p("b1"), 1_000), Err(InvitationError::Expired));
        assert_eq!(
            inv.state,
            InvitationState::Pending,
            "a refused accept changes nothing"
        );
        assert!(inv.expire(1_000));
        assert_eq!(inv.state, InvitationState::Expired);
        assert_eq!(inv.accept(&p("b1"), 1_001), Err(InvitationError::Expired));
    }
}
