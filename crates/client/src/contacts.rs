//! The in-call temporary contact entry (S3-F17): a card that arrives during a call is shown at
//! once but kept aside as a *temporary* entry; when the call ends the app asks its user whether
//! to keep it, and the answer can become a receiving rule on the server (always accept this
//! number, or block it).
//!
//! Feed every channel event to [`TemporaryContacts::observe`]; it returns the entries to ask
//! about when a call ends (or its session closes). [`TemporaryContacts::decide`] takes the
//! user's answer, and [`crate::Client::apply_contact_rule`] sends the rule it implies.
//!
//! ```
//! use callside_client::contacts::{Decision, TemporaryContacts};
//! let mut contacts = TemporaryContacts::default();
//! // for each event from the channel:
//! //     for entry in contacts.observe(&event) { ask the user about entry.display_name() }
//! // then, with the user's answer:
//! //     if let Some((entry, rule)) = contacts.decide(&session, &sender, Decision::KeepAndAccept) {
//! //         save entry.fields; if let Some(rule) = rule { client.apply_contact_rule(rule).await? }
//! //     }
//! assert_eq!(contacts.pending().count(), 0);
//! ```

use crate::Event;
use callside_proto::card::{
    CardBody, CardField, ContactPolicy, ContactRule, FieldKind, FieldValue,
};
use callside_proto::message::{JoinedBody, Message, TransferredBody};
use std::collections::{BTreeMap, HashMap, HashSet};

/// A card received during a call, not yet kept.
#[derive(Debug, Clone, PartialEq)]
pub struct TemporaryEntry {
    pub session: String,
    /// The participant whose card it is.
    pub sender: String,
    /// Their number on the call, when known.
    pub number: Option<String>,
    /// Field id → the newest version received.
    pub fields: BTreeMap<String, CardField>,
    /// The call is over: the app should ask now.
    pub call_ended: bool,
}

impl TemporaryEntry {
    /// The name field, if the card has one.
    pub fn display_name(&self) -> Option<&str> {
        self.fields
            .values()
            .find_map(|f| match (&f.kind, &f.value) {
                (FieldKind::Name, FieldValue::Text(t)) => Some(t.as_str()),
                _ => None,
            })
    }
}

/// What the user answered after the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Keep the contact; receive its card again only under the default policy.
    Keep,
    /// Keep it and always accept this number's card (a known contact).
    KeepAndAccept,
    /// Forget the temporary entry.
    Discard,
    /// Forget it and never receive this number's card again.
    Block,
}

/// The temporary entries of this device, by session and sender.
#[derive(Debug, Default)]
pub struct TemporaryContacts {
    /// Principal ids whose cards are not temporary (this device's own id, once known).
    me: Option<String>,
    numbers: HashMap<(String, String), String>,
    entries: HashMap<(String, String), TemporaryEntry>,
    ended: HashSet<String>,
}

impl TemporaryContacts {
    /// Takes in one channel event; returns the entries whose call just ended (ask about them).
    pub fn observe(&mut self, event: &Event) -> Vec<TemporaryEntry> {
        match event {
            Event::Ready {
                principal,
                sessions,
                ..
            } => {
                self.me = Some(principal.clone());
                sessions.iter().for_each(|s| self.learn(s));
                Vec::new()
            }
            Event::Reconnected { sessions, .. } => {
                sessions.iter().for_each(|s| self.learn(s));
                Vec::new()
            }
            Event::Session(s) => {
                self.learn(s);
                Vec::new()
            }
            Event::Message(m) => self.message(m),
            _ => Vec::new(),
        }
    }

    fn learn(&mut self, s: &callside_proto::session::SessionInfo) {
        for p in &s.participants {
            self.learn_participant(&s.key, p);
        }
    }

    fn learn_participant(&mut self, session: &str, p: &callside_proto::session::Participant) {
        if let Some(n) = &p.number {
            self.numbers
                .insert((session.to_owned(), p.id.clone()), n.clone());
            // A card that came before its sender's number was known.
            if let Some(e) = self.entries.get_mut(&(session.to_owned(), p.id.clone())) {
                e.number.get_or_insert_with(|| n.clone());
            }
        }
    }

    fn message(&mut self, m: &Message) -> Vec<TemporaryEntry> {
        match m.kind.as_str() {
            "card" if self.me.as_deref() != Some(m.sender.as_str()) => {
                let Ok(card) = serde_json::from_value::<CardBody>(m.body.clone()) else {
                    return Vec::new();
                };
                let k = (m.session.clone(), m.sender.clone());
                let number = self.numbers.get(&k).cloned();
                let call_ended = self.ended.contains(&m.session);
                let entry = self.entries.entry(k).or_insert_with(|| TemporaryEntry {
                    session: m.session.clone(),
                    sender: m.sender.clone(),
                    number,
                    fields: BTreeMap::new(),
                    call_ended,
                });
                for f in card.fields {
                    let newer = entry
                        .fields
                        .get(&f.id)
                        .is_none_or(|have| have.version < f.version);
                    if newer {
                        entry.fields.insert(f.id.clone(), f);
                    }
                }
                if call_ended {
                    // A card after the call: ask at once.
                    vec![entry.clone()]
                } else {
                    Vec::new()
                }
            }
            "system/joined" => {
                if let Ok(j) = serde_json::from_value::<JoinedBody>(m.body.clone()) {
                    self.learn_participant(&m.session, &j.participant);
                }
                Vec::new()
            }
            "system/transferred" => {
                if let Ok(t) = serde_json::from_value::<TransferredBody>(m.body.clone()) {
                    self.learn_participant(&m.session, &t.to);
                }
                Vec::new()
            }
            "system/call" if m.body["state"] == "ended" => self.end(&m.session),
            "system/closed" => self.end(&m.session),
            _ => Vec::new(),
        }
    }

    fn end(&mut self, session: &str) -> Vec<TemporaryEntry> {
        if !self.ended.insert(session.to_owned()) {
            return Vec::new();
        }
        let mut due: Vec<TemporaryEntry> = self
            .entries
            .values_mut()
            .filter(|e| e.session == session)
            .map(|e| {
                e.call_ended = true;
                e.clone()
            })
            .collect();
        due.sort_by(|a, b| a.sender.cmp(&b.sender));
        due
    }

    /// Entries waiting for the user's answer (during calls, and after them).
    pub fn pending(&self) -> impl Iterator<Item = &TemporaryEntry> {
        self.entries.values()
    }

    /// The user's answer: the entry leaves the temporary list. Returns it (to save when kept)
    /// with the receiving rule the answer implies. `KeepAndAccept` and `Block` give no rule when
    /// the sender's number is unknown (`entry.number` is `None`, e.g. a withheld caller).
    pub fn decide(
        &mut self,
        session: &str,
        sender: &str,
        decision: Decision,
    ) -> Option<(TemporaryEntry, Option<ContactRule>)> {
        let entry = self
            .entries
            .remove(&(session.to_owned(), sender.to_owned()))?;
        let policy = match decision {
            Decision::Keep | Decision::Discard => None,
            Decision::KeepAndAccept => Some(ContactPolicy::Always),
            Decision::Block => Some(ContactPolicy::Block),
        };
        let rule = policy.and_then(|policy| {
            entry
                .number
                .clone()
                .map(|number| ContactRule { number, policy })
        });
        Some((entry, rule))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use callside_proto::card::Display;
    use callside_proto::session::{CallState, Lifecycle, Participant, SessionInfo};

    fn session() -> SessionInfo {
        SessionInfo {
            key: "sk_1".into(),
            origin: callside_proto::session::Origin::PairedLegs,
            call: CallState::Answered,
            lifecycle: Lifecycle::KeepAfterCall,
            participants: vec![
                Participant {
                    id: "me".into(),
                    name: "Me".into(),
                    number: Some("+442079460001".into()),
                    history: None,
                    joined_after: None,
                },
                Participant {
                    id: "bob".into(),
                    name: "Bob".into(),
                    number: Some("+442079460002".into()),
                    history: None,
                    joined_after: None,
                },
            ],
            last_seq: 0,
            created_at: 0,
            closed: None,
        }
    }

    fn msg(seq: u64, sender: &str, kind: &str, body: serde_json::Value) -> Event {
        Event::Message(Message {
            session: "sk_1".into(),
            seq,
            id: None,
            sender: sender.into(),
            kind: kind.into(),
            body,
            sent_at: 0,
        })
    }

    fn card(name: &str, version: u64) -> serde_json::Value {
        serde_json::to_value(CardBody {
            fields: vec![CardField {
                id: "name".into(),
                kind: FieldKind::Name,
                value: FieldValue::Text(name.into()),
                label: None,
                version,
                updated_at: 0,
            }],
            display: Display {
                name: Some(name.into()),
                replace_number: true,
            },
        })
        .unwrap()
    }

    fn ready() -> Event {
        Event::Ready {
            protocol: 1,
            principal: "me".into(),
            heartbeat_secs: 30,
            sessions: vec![session()],
        }
    }

    #[test]
    fn cards_during_a_call_are_asked_about_when_it_ends() {
        let mut c = TemporaryContacts::default();
        assert!(c.observe(&ready()).is_empty());
        assert!(c.observe(&msg(1, "bob", "card", card("Bob", 2))).is_empty());
        // An older version does not replace a newer one; my own card is not a contact.
        assert!(c
            .observe(&msg(2, "bob", "card", card("Robert", 1)))
            .is_empty());
        assert!(c.observe(&msg(3, "me", "card", card("Me", 1))).is_empty());
        assert_eq!(c.pending().count(), 1);
        let due = c.observe(&msg(
            4,
            "system",
            "system/call",
            serde_json::json!({"state": "ended"}),
        ));
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].display_name(), Some("Bob"));
        assert_eq!(due[0].number.as_deref(), Some("+442079460002"));
        assert!(due[0].call_ended);
        // Ended once: a close afterwards does not ask again.
        assert!(c
            .observe(&msg(
                5,
                "system",
                "system/closed",
                serde_json::json!({"reason": "closed"})
            ))
            .is_empty());
        let (entry, rule) = c.decide("sk_1", "bob", Decision::KeepAndAccept).unwrap();
        assert_eq!(entry.display_name(), Some("Bob"));
        assert_eq!(
            rule,
            Some(ContactRule {
                number: "+442079460002".into(),
                policy: ContactPolicy::Always
            })
        );
        assert_eq!(c.pending().count(), 0);
        assert!(c.decide("sk_1", "bob", Decision::Keep).is_none());
    }

    #[test]
    fn answers_map_to_rules() {
        for (decision, policy) in [
            (Decision::Keep, None),
            (Decision::Discard, None),
            (Decision::Block, Some(ContactPolicy::Block)),
        ] {
            let mut c = TemporaryContacts::default();
            c.observe(&ready());
            c.observe(&msg(1, "bob", "card", card("Bob", 1)));
            let (_, rule) = c.decide("sk_1", "bob", decision).unwrap();
            assert_eq!(rule.map(|r| r.policy), policy, "{decision:?}");
        }
    }

    #[test]
    fn numbers_of_those_who_join_later_are_learnt() {
        let mut c = TemporaryContacts::default();
        c.observe(&ready());
        c.observe(&msg(1, "carol", "card", card("Carol", 1)));
        c.observe(&msg(
            2,
            "system",
            "system/joined",
            serde_json::json!({"participant": {"id": "carol", "name": "Carol", "number": "+442079460003"}}),
        ));
        let (_, rule) = c.decide("sk_1", "carol", Decision::Block).unwrap();
        assert_eq!(rule.unwrap().number, "+442079460003");
    }

    #[test]
    fn a_card_after_the_call_is_asked_about_at_once() {
        let mut c = TemporaryContacts::default();
        c.observe(&ready());
        c.observe(&msg(
            1,
            "system",
            "system/call",
            serde_json::json!({"state": "ended"}),
        ));
        let due = c.observe(&msg(2, "bob", "card", card("Bob", 1)));
        assert_eq!(due.len(), 1);
        assert!(due[0].call_ended);
    }
}
