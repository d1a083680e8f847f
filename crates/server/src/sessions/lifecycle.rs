//! A session's lifecycle: call state, joins and transfers, closing (by a participant, with the
//! call, or when idle). Each change and its `system/*` entries commit together.

use super::{Error, Notice, Sessions};
use crate::clock::now_ms;
use crate::metrics::Metrics;
use callside_core::matching::CallId;
use callside_core::session::{
    history_visible, Change, CloseReason, Event, HistoryConsent, SessionError,
};
use callside_core::{Millis, Principal, PrincipalId, PrincipalKind, SessionKey};
use callside_store::{MessageRecord, ParticipantRecord, SessionRecord, Write};

/// How a close reason is stored: its code and who closed.
fn close_columns(r: &CloseReason) -> (String, Option<PrincipalId>) {
    let by = match r {
        CloseReason::ClosedBy(p) => Some(p.clone()),
        _ => None,
    };
    (r.code().to_owned(), by)
}

fn nobody(principal: &PrincipalId) -> ParticipantRecord {
    ParticipantRecord {
        principal: principal.clone(),
        name: String::new(),
        number: None,
        acked_seq: 0,
        joined_seq: 0,
        history: None,
    }
}

impl Sessions {
    /// Applies a lifecycle event: the state change, its `system/*` messages and `extra` writes
    /// commit together. `joiner` describes a participant joining or taking a place. Returns the
    /// session after the event.
    pub(crate) async fn transition(
        &self,
        key: &SessionKey,
        event: Event,
        joiner: Option<ParticipantRecord>,
        extra: Vec<Write>,
    ) -> Result<SessionRecord, Error> {
        super::remote::retrying(|| {
            self.transition_once(key, event.clone(), joiner.clone(), extra.clone())
        })
        .await
    }

    async fn transition_once(
        &self,
        key: &SessionKey,
        event: Event,
        joiner: Option<ParticipantRecord>,
        extra: Vec<Write>,
    ) -> Result<SessionRecord, Error> {
        let cell = self.cell(key).await?;
        let mut st = cell.state.lock().await;
        let mut session = st.rec.session.clone();
        let changes = session.apply(event)?;
        if changes.is_empty() && extra.is_empty() {
            return Ok(st.rec.clone());
        }
        let mut rec = st.rec.clone();
        let mut writes = extra;
        let mut messages = Vec::new();
        let now = now_ms();
        // Participants who left in this transition still hear of it.
        let mut leaving: Vec<PrincipalId> = Vec::new();
        let encode = |n: Notice<'_>| (n.kind(), self.wire.notice(&n));
        for change in &changes {
            let (kind, body) = match change {
                Change::Call(state) => encode(Notice::Call(*state)),
                Change::Joined(p) => {
                    // A joiner reads what was sent before only if those there share it.
                    let shared = history_visible(rec.participants.iter().map(|p| p.history));
                    let seen_from = if shared { 0 } else { rec.last_seq };
                    let joined = ParticipantRecord {
                        joined_seq: seen_from,
                        acked_seq: seen_from,
                        ..joiner.clone().unwrap_or_else(|| nobody(p))
                    };
                    writes.push(Write::Participant {
                        session: key.clone(),
                        principal: p.clone(),
                        number: joined.number.clone(),
                        joined_at: now,
                        joined_seq: seen_from,
                    });
                    rec.participants.push(joined.clone());
                    encode(Notice::Joined(&joined))
                }
                Change::Transferred { from, to } => {
                    // The device taking the place reads what the one leaving could, and keeps
                    // its word on the history.
                    let before = rec.participants.iter().find(|p| &p.principal == from);
                    let took = ParticipantRecord {
                        number: before.and_then(|p| p.number.clone()),
                        joined_seq: before.map_or(0, |p| p.joined_seq),
                        acked_seq: before.map_or(0, |p| p.joined_seq),
                        history: before.and_then(|p| p.history),
                        ..joiner.clone().unwrap_or_else(|| nobody(to))
                    };
                    writes.push(Write::RemoveParticipant {
                        session: key.clone(),
                        principal: from.clone(),
                    });
                    writes.push(Write::Participant {
                        session: key.clone(),
                        principal: to.clone(),
                        number: took.number.clone(),
                        joined_at: now,
                        joined_seq: took.joined_seq,
                    });
                    rec.participants.retain(|p| &p.principal != from);
                    rec.participants.push(took.clone());
                    if let Some(consent) = took.history {
                        writes.push(Write::History {
                            session: key.clone(),
                            principal: to.clone(),
                            consent: Some(consent),
                        });
                    }
                    leaving.push(from.clone());
                    encode(Notice::Transferred { from, to: &took })
                }
                Change::Closed(reason) => {
                    Metrics::inc(&self.metrics.sessions_closed);
                    encode(Notice::Closed(reason))
                }
            };
            rec.last_seq += 1;
            messages.push(MessageRecord {
                session: key.clone(),
                seq: rec.last_seq,
                sender: "system".into(),
                client_id: None,
                kind: kind.to_owned(),
                body,
                sent_at: now,
                blob: None,
            });
        }
        rec.session = session;
        let joined = changes.iter().find_map(|c| match c {
            Change::Joined(p) | Change::Transferred { to: p, .. } => Some(p.clone()),
            _ => None,
        });
        // Whoever joined (or took a place) hears of the session itself.
        let also = joined
            .as_ref()
            .map(|j| (j.clone(), self.wire.session_frame(&rec)));
        writes.push(Write::SessionState {
            key: key.clone(),
            call: rec.session.call,
            closed: rec.session.closed.as_ref().map(close_columns),
            call_id: rec.call_id.clone(),
        });
        let mut participants = rec.session.participants.clone();
        participants.extend(leaving);
        let commit = self
            .queue(&cell, &participants, writes, messages, also)
            .await?;
        st.rec = rec.clone();
        drop(st);
        self.committed(key, commit).await?;
        if joined.is_some() {
            self.established(key);
        }
        Ok(rec)
    }

    /// A participant ends the session for everyone.
    pub(crate) async fn close(
        &self,
        who: &PrincipalId,
        key: &SessionKey,
    ) -> Result<SessionRecord, Error> {
        self.check_participant(key, who).await?;
        self.transition(key, Event::Close(who.clone()), None, vec![])
            .await
    }

    /// A device hands its place to another device of the same user (S2-M): one that owns the
    /// number it takes part with (or, without one, any number it has).
    pub(crate) async fn transfer(
        &self,
        who: &Principal,
        key: &SessionKey,
        to: PrincipalId,
    ) -> Result<SessionRecord, Error> {
        let rec = self.record_for(key, &who.id).await?;
        // The number this device takes part with goes with the place: the target must own it.
        let with = rec
            .participants
            .iter()
            .find(|x| x.principal == who.id)
            .and_then(|x| x.number.clone());
        let PrincipalKind::Device { numbers: mine } = &who.kind else {
            return Err(Error::DevicesOnly);
        };
        let target = match self.store.principal(to).await? {
            Some(t) => match &t.principal.kind {
                PrincipalKind::Device { numbers }
                    if match &with {
                        Some(n) => numbers.contains(n),
                        None => numbers.iter().any(|n| mine.contains(n)),
                    } =>
                {
                    t.principal
                }
                _ => return Err(Error::NotSameUser),
            },
            None => return Err(Error::NoDevice),
        };
        let took = ParticipantRecord {
            principal: target.id.clone(),
            name: target.name.clone(),
            number: None,
            acked_seq: 0,
            joined_seq: 0,
            history: None,
        };
        let event = Event::Transfer {
            from: who.id.clone(),
            to: target.id,
        };
        self.transition(key, event, Some(took), vec![]).await
    }

    /// A participant's word on showing the messages sent so far to those who join later
    /// (`None`: it says nothing, which does not share them).
    pub(crate) async fn set_history(
        &self,
        who: &PrincipalId,
        key: &SessionKey,
        consent: Option<HistoryConsent>,
    ) -> Result<SessionRecord, Error> {
        let cell = self.cell(key).await?;
        let mut st = cell.state.lock().await;
        if !st.rec.session.is_participant(who) {
            return Err(SessionError::NotParticipant.into());
        }
        self.store
            .apply(vec![Write::History {
                session: key.clone(),
                principal: who.clone(),
                consent,
            }])
            .await?;
        if let Some(p) = st.rec.participants.iter_mut().find(|p| &p.principal == who) {
            p.history = consent;
        }
        self.changed_elsewhere(key);
        Ok(st.rec.clone())
    }

    /// Binds a session to a network call (no message: participants see the call's state).
    pub(crate) async fn bind_call(&self, key: &SessionKey, call: CallId) -> Result<(), Error> {
        if self.hub.peers().is_some() {
            // The whole state is written: start from the store's, not a copy another node may
            // have changed since.
            self.forget(key);
        }
        let cell = self.cell(key).await?;
        let mut st = cell.state.lock().await;
        st.rec.call_id = Some(call.clone());
        self.store
            .apply(vec![Write::SessionState {
                key: key.clone(),
                call: st.rec.session.call,
                closed: st.rec.session.closed.as_ref().map(close_columns),
                call_id: Some(call),
            }])
            .await?;
        self.changed_elsewhere(key);
        Ok(())
    }

    /// Closes open sessions with no activity since `before` (housekeeping).
    pub(crate) async fn close_idle(&self, before: Millis) {
        let keys = match self.store.idle_sessions(before).await {
            Ok(k) => k,
            Err(e) => {
                tracing::warn!(error = %e, "idle session sweep failed");
                return;
            }
        };
        for key in keys {
            if let Err(e) = self
                .transition(&key, Event::IdleTimeout, None, vec![])
                .await
            {
                tracing::warn!(session = %key, error = %e, "could not close an idle session");
            }
        }
    }
}
