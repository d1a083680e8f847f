//! Location requests and capability queries waiting for an answer (in memory, per node): an
//! answer from someone other than the asker crosses a request off; housekeeping ends those nobody
//! answered in time.

use callside_core::{Millis, PrincipalId, SessionKey};
use std::collections::HashMap;

/// Requests kept at most (beyond this, new ones are not tracked and get no "no answer" notice).
const MAX_PENDING: usize = 100_000;

/// What a request waiting for an answer asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Asked {
    /// `location/request`, answered by `location` or `location/decline`.
    Location,
    /// `capability/query`, answered by `capability/answer`.
    Capability,
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
}

impl Requests {
    /// Remembers a request, or crosses off the one an answer from someone else answers.
    pub(super) fn track(&mut self, key: &SessionKey, who: &PrincipalId, t: Tracking, now: Millis) {
        match t {
            Tracking::Asks {
                asked,
                request,
                timeout_secs,
            } => {
                if self.pending.len() < MAX_PENDING {
                    let deadline = now + i64::from(timeout_secs) * 1000;
                    self.pending
                        .insert((key.clone(), asked, request), (who.clone(), deadline));
                }
            }
            Tracking::Answers { asked, request } => {
                // Only someone other than the asker answers a request.
                let k = (key.clone(), asked, request);
                if self.pending.get(&k).is_some_and(|(asker, _)| asker != who) {
                    self.pending.remove(&k);
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
            self.pending.remove(k);
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
}
