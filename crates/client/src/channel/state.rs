//! The channel's memory across connections: what was delivered, and what awaits `accepted`.

use crate::Error;
use callside_proto::message::Accepted;
use callside_proto::ws::ClientFrame;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use tokio::sync::oneshot;

/// How many out-of-order sequence numbers to remember per session before forgetting the oldest.
const MAX_SEEN_ABOVE_FLOOR: usize = 4096;

/// Remembers which `(session, seq)` pairs the application has been given, so a message the server
/// re-delivers (after a reconnect, before the ack reached it) is shown once.
#[derive(Debug, Default)]
pub(crate) struct Dedup {
    sessions: HashMap<String, Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    /// Every seq ≤ `floor` counts as delivered.
    floor: u64,
    /// Delivered seqs above `floor` (gaps below them not yet seen).
    above: BTreeSet<u64>,
    /// The highest seq the application acknowledged.
    acked: u64,
}

impl Dedup {
    /// True the first time `(session, seq)` is offered; false for repeats.
    pub(crate) fn first_time(&mut self, session: &str, seq: u64) -> bool {
        let seen = self.sessions.entry(session.to_owned()).or_default();
        if seq <= seen.floor || !seen.above.insert(seq) {
            return false;
        }
        // Fold a contiguous run into the floor so the set stays small.
        while seen.above.first() == Some(&(seen.floor + 1)) {
            seen.above.pop_first();
            seen.floor += 1;
        }
        // Bound memory for applications that never acknowledge and see gaps.
        while seen.above.len() > MAX_SEEN_ABOVE_FLOOR {
            if let Some(oldest) = seen.above.pop_first() {
                seen.floor = oldest;
            }
        }
        true
    }

    /// The application processed everything up to `seq`.
    pub(crate) fn acked(&mut self, session: &str, seq: u64) {
        let seen = self.sessions.entry(session.to_owned()).or_default();
        seen.acked = seen.acked.max(seq);
        if seq > seen.floor {
            seen.floor = seq;
            seen.above.retain(|s| *s > seq);
        }
    }

    /// The application asked to see everything after `after` again (default: after its last
    /// acknowledgement).
    pub(crate) fn rewind(&mut self, session: &str, after: Option<u64>) {
        let seen = self.sessions.entry(session.to_owned()).or_default();
        seen.floor = after.unwrap_or(seen.acked);
        seen.above.clear();
    }
}

/// Sends not yet `accepted`, keyed by client message id, re-sent in order after a reconnect.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    next_order: u64,
    pending: HashMap<String, Pending>,
}

#[derive(Debug)]
struct Pending {
    order: u64,
    session: String,
    kind: String,
    body: Value,
    waiters: Vec<oneshot::Sender<Result<Accepted, Error>>>,
}

impl Outbox {
    /// Adds a send (or another waiter for one already pending) and returns its frame.
    pub(crate) fn insert(
        &mut self,
        session: String,
        id: String,
        kind: String,
        body: Value,
        reply: oneshot::Sender<Result<Accepted, Error>>,
    ) -> ClientFrame {
        let order = self.next_order;
        let pending = self.pending.entry(id.clone()).or_insert_with(|| Pending {
            order,
            session,
            kind,
            body,
            waiters: Vec::new(),
        });
        if pending.order == order {
            self.next_order += 1;
        }
        pending.waiters.push(reply);
        frame(&id, pending)
    }

    /// Every pending send, oldest first.
    pub(crate) fn frames(&self) -> Vec<ClientFrame> {
        let mut all: Vec<(&String, &Pending)> = self.pending.iter().collect();
        all.sort_by_key(|(_, p)| p.order);
        all.into_iter().map(|(id, p)| frame(id, p)).collect()
    }

    /// The server persisted `accepted.id`; false when it was not pending (e.g. a duplicate answer).
    pub(crate) fn accepted(&mut self, accepted: &Accepted) -> bool {
        match self.pending.remove(&accepted.id) {
            Some(p) => {
                for w in p.waiters {
                    let _ = w.send(Ok(accepted.clone()));
                }
                true
            }
            None => false,
        }
    }

    /// The server refused send `id`; false when it was not pending.
    pub(crate) fn refused(&mut self, id: &str, code: &str, detail: &str) -> bool {
        match self.pending.remove(id) {
            Some(p) => {
                for w in p.waiters {
                    let _ = w.send(Err(Error::Refused {
                        code: code.to_owned(),
                        detail: detail.to_owned(),
                    }));
                }
                true
            }
            None => false,
        }
    }

    /// Fails every pending send (the channel is going away).
    pub(crate) fn fail_all(&mut self, make: impl Fn() -> Error) {
        for (_, p) in self.pending.drain() {
            for w in p.waiters {
                let _ = w.send(Err(make()));
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.pending.len()
    }
}

fn frame(id: &str, p: &Pending) -> ClientFrame {
    ClientFrame::Send {
        session: p.session.clone(),
        id: id.to_owned(),
        kind: p.kind.clone(),
        body: p.body.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn repeats_are_dropped_per_session() {
        let mut d = Dedup::default();
        assert!(d.first_time("a", 1));
        assert!(d.first_time("a", 2));
        assert!(!d.first_time("a", 1));
        assert!(!d.first_time("a", 2));
        assert!(d.first_time("b", 1), "sessions are independent");
        assert!(d.first_time("a", 5), "gaps are allowed");
        assert!(
            d.first_time("a", 3),
            "late arrivals below the newest are delivered"
        );
        assert!(!d.first_time("a", 5));
        assert!(!d.first_time("a", 3));
        assert!(d.first_time("a", 4));
        assert!(d.first_time("a", 6));
    }

    #[test]
    fn acks_and_rewinds_move_the_floor() {
        let mut d = Dedup::default();
        assert!(d.first_time("s", 10));
        assert!(d.first_time("s", 11));
        d.acked("s", 11);
        assert!(!d.first_time("s", 9), "at or below an ack is old");
        assert!(d.first_time("s", 12));
        d.rewind("s", None);
        assert!(d.first_time("s", 12), "rewound to the last ack");
        d.rewind("s", Some(0));
        assert!(d.first_time("s", 1));
    }

    #[test]
    fn memory_is_bounded_without_acks() {
        let mut d = Dedup::default();
        for seq in (2..).step_by(2).take(MAX_SEEN_ABOVE_FLOOR + 10) {
            assert!(d.first_time("s", seq));
        }
        let seen = &d.sessions["s"];
        assert!(seen.above.len() <= MAX_SEEN_ABOVE_FLOOR);
    }

    #[test]
    fn outbox_keeps_order_and_answers_every_waiter() {
        let mut o = Outbox::default();
        let (tx1, mut rx1) = oneshot::channel();
        let (tx2, mut rx2) = oneshot::channel();
        let (tx3, mut rx3) = oneshot::channel();
        o.insert(
            "s".into(),
            "m1".into(),
            "text".into(),
            json!({"text":"1"}),
            tx1,
        );
        o.insert(
            "s".into(),
            "m2".into(),
            "text".into(),
            json!({"text":"2"}),
            tx2,
        );
        o.insert(
            "s".into(),
            "m1".into(),
            "text".into(),
            json!({"text":"1"}),
            tx3,
        );
        assert_eq!(o.len(), 2);
        let ids: Vec<String> = o
            .frames()
            .into_iter()
            .map(|f| match f {
                ClientFrame::Send { id, .. } => id,
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(ids, ["m1", "m2"]);
        let acc = Accepted {
            session: "s".into(),
            seq: 7,
            id: "m1".into(),
            duplicate: false,
        };
        assert!(o.accepted(&acc));
        assert!(!o.accepted(&acc));
        assert_eq!(rx1.try_recv().unwrap().unwrap().seq, 7);
        assert_eq!(rx3.try_recv().unwrap().unwrap().seq, 7);
        assert!(o.refused("m2", "session_closed", "closed"));
        assert_eq!(
            rx2.try_recv().unwrap().unwrap_err().code(),
            Some("session_closed")
        );
        assert_eq!(o.len(), 0);
    }
}
