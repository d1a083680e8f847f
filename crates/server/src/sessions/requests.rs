//! Location requests and capability queries waiting for an answer (in memory, on the node that
//! took the question; in a cluster, answers through other nodes are told to it): an answer from
//! someone other than the asker crosses a request off; housekeeping ends those nobody answered in
//! time.

use callside_core::{Millis, PrincipalId, SessionKey};
use std::collections::HashMap;

/// Requests kept at most (beyond this, new ones are not tracked and get no "no answer" notice).
const MAX_PENDING: usize = 100_000;
/// Requests one asker may have waiting at once, so one participant cannot fill the table.
pub(crate) const MAX_PER_ASKER: usize = 32;

/// What a request waiting for an answer asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Asked {
    /// `location/request`, answered by `location` or `location/decline`.
    Location,
    /// `capability/query`, answered by `capability/answer`.
    Capability,
}

impl Asked {
    /// Its name in a cluster's notes.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Asked::Location => "location",
            Asked::Capability => "capability",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Asked> {
        match s {
            "location" => Some(Asked::Location),
            "capability" => Some(Asked::Capability),
            _ => None,
        }
    }
}

/// What a message does to the requests of its session, as the edge read it from the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tracking {
    /// It asks something and waits this long for an answer.
    Asks {
        asked: Asked,
        request: String,
        timeout_secs: u32,
    },
    /// It answers (or declines) a request.
    Answers { asked: Asked, request: String },
}

/// A request waiting for an answer: its session, what it asked, the asker's request id.
pub(super) type RequestKey = (SessionKey, Asked, String);

#[derive(Default)]
pub(super) struct Requests {
    pending: HashMap<RequestKey, (PrincipalId, Millis)>,
    /// How many of `pending` each asker has.
    per_asker: HashMap<PrincipalId, usize>,
}

impl Requests {
    /// Whether `who` may ask one more question now.
    pub(super) fn may_ask(&self, who: &PrincipalId) -> bool {
        self.per_asker.get(who).copied().unwrap_or(0) < MAX_PER_ASKER
    }

    fn forget(&mut self, asker: &PrincipalId) {
        if let Some(n) = self.per_asker.get_mut(asker) {
            *n -= 1;
            if *n == 0 {
                self.per_asker.remove(asker);
            }
        }
    }

    /// Remembers a request, or crosses off the one an answer from someone else answers.
    pub(super) fn track(&mut self, key: &SessionKey, who: &PrincipalId, t: Tracking, now: Millis) {
        match t {
            Tracking::Asks {
                asked,
                request,
                timeout_secs,
            } => {
                if self.pending.len() < MAX_PENDING && self.may_ask(who) {
                    let deadline = now + i64::from(timeout_secs) * 1000;
                    let replaced = self
                        .pending
                        .insert((key.clone(), asked, request), (who.clone(), deadline));
                    if let Some((asker, _)) = replaced {
                        self.forget(&asker);
                    }
                    *self.per_asker.entry(who.clone()).or_default() += 1;
                }
            }
            Tracking::Answers { asked, request } => {
                // Only someone other than the asker answers a request.
                let k = (key.clone(), asked, request);
                if self.pending.get(&k).is_some_and(|(asker, _)| asker != who) {
                    if let Some((asker, _)) = self.pending.remove(&k) {
                        self.forget(&asker);
                    }
                }
            }
        }
    }

    /// Takes out the requests whose time ran out by `now`.
    pub(super) fn due(&mut self, now: Millis) -> Vec<RequestKey> {
        let due: Vec<RequestKey> = self
            .pending
            .iter()
            .filter(|(_, (_, deadline))| *deadline <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for k in &due {
            if let Some((asker, _)) = self.pending.remove(k) {
                self.forget(&asker);
            }
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_someone_else_answers_and_unanswered_requests_fall_due() {
        let key = SessionKey::generate(1);
        let (alice, bob) = (PrincipalId("a".into()), PrincipalId("b".into()));
        let mut r = Requests::default();
        let asks = |request: &str| Tracking::Asks {
            asked: Asked::Location,
            request: request.into(),
            timeout_secs: 5,
        };
        r.track(&key, &alice, asks("r1"), 0);
        r.track(&key, &alice, asks("r2"), 0);
        let answers = |request: &str| Tracking::Answers {
            asked: Asked::Location,
            request: request.into(),
        };
        // The asker's own "answer" does not count; Bob's does.
        r.track(&key, &alice, answers("r1"), 1);
        r.track(&key, &bob, answers("r2"), 1);
        assert!(r.due(4_999).is_empty());
        assert_eq!(r.due(5_000), vec![(key, Asked::Location, "r1".to_owned())]);
        assert!(r.due(10_000).is_empty(), "taken out once");
    }

    #[test]
    fn one_asker_has_a_bounded_number_of_questions_waiting() {
        let key = SessionKey::generate(1);
        let (alice, bob) = (PrincipalId("a".into()), PrincipalId("b".into()));
        let mut r = Requests::default();
        let asks = |request: String| Tracking::Asks {
            asked: Asked::Capability,
            request,
            timeout_secs: 5,
        };
        for i in 0..MAX_PER_ASKER {
            assert!(r.may_ask(&alice));
            r.track(&key, &alice, asks(format!("q{i}")), 0);
        }
        assert!(!r.may_ask(&alice), "full");
        assert!(r.may_ask(&bob), "others are not held up");
        // Asking the same question again replaces it rather than counting twice.
        r.track(&key, &alice, asks("q0".into()), 0);
        assert_eq!(r.per_asker[&alice], MAX_PER_ASKER);
        // An answer frees a place; so does a question falling due.
        r.track(
            &key,
            &bob,
            Tracking::Answers {
                asked: Asked::Capability,
                request: "q1".into(),
            },
            1,
        );
        assert!(r.may_ask(&alice));
        assert_eq!(r.due(5_000).len(), MAX_PER_ASKER - 1);
        assert!(r.per_asker.is_empty());
    }
}
