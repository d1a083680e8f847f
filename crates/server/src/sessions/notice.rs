//! The server-written entries of a session's log (`system/*`): what they say, and their kinds.
//! Their bodies on the wire come from [`super::Wire::notice`].

use super::Asked;
use callside_core::component::{Component, ComponentId, Fee};
use callside_core::message;
use callside_core::session::{CallState, CloseReason};
use callside_core::PrincipalId;
use callside_store::ParticipantRecord;

/// A server-written entry on a session's log.
pub(crate) enum Notice<'a> {
    /// `system/call`: the call's state changed.
    Call(CallState),
    /// `system/joined`.
    Joined(&'a ParticipantRecord),
    /// `system/transferred`: a device handed its place to another.
    Transferred {
        from: &'a PrincipalId,
        to: &'a ParticipantRecord,
    },
    /// `system/closed`.
    Closed(&'a CloseReason),
    /// `system/location` `not_possible` or `system/capability` `no_answer`.
    Unanswered { asked: Asked, request: &'a str },
    /// `system/component` (S1-F6): a component offered, who needs to install it, and the
    /// purchase token and fee when it was paid for (S1-F8).
    ComponentOffered {
        offer: &'a str,
        component: &'a Component,
        by: &'a PrincipalId,
        needs_install: &'a [String],
        authorization: Option<(&'a str, &'a Fee)>,
    },
    /// `system/diverted`: the network forwarded the call to a voicemail instead of its callee.
    Diverted {
        from: &'a callside_core::PhoneNumber,
        to: &'a callside_core::PhoneNumber,
        reason: &'a str,
    },
    /// `system/page`: an agent pushed one of its merchant's pages to the visitor (S4).
    PagePushed {
        url: &'a str,
        code: &'a str,
        by: &'a PrincipalId,
    },
    /// `system/component_installed`.
    ComponentInstalled {
        component: &'a ComponentId,
        version: &'a str,
        by: &'a PrincipalId,
    },
}

impl Notice<'_> {
    /// Its message kind.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Notice::Call(_) => message::SYSTEM_CALL,
            Notice::Joined(_) => message::SYSTEM_JOINED,
            Notice::Transferred { .. } => message::SYSTEM_TRANSFERRED,
            Notice::Closed(_) => message::SYSTEM_CLOSED,
            Notice::Unanswered {
                asked: Asked::Location,
                ..
            } => message::SYSTEM_LOCATION,
            Notice::Unanswered {
                asked: Asked::Capability,
                ..
            } => message::SYSTEM_CAPABILITY,
            Notice::ComponentOffered { .. } => message::SYSTEM_COMPONENT,
            Notice::ComponentInstalled { .. } => message::SYSTEM_COMPONENT_INSTALLED,
            Notice::Diverted { .. } => message::SYSTEM_DIVERTED,
            Notice::PagePushed { .. } => message::SYSTEM_PAGE,
        }
    }
}
