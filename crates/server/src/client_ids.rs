//! The client message ids a session has accepted, for recognising re-sends.
//!
//! The newest ids are kept exactly, with the sequence number each was given. Older ones, once
//! the exact set is full, go into a growable Bloom filter (about 1.2 bytes an id): an id it has
//! never seen is new without asking the store, and the rare "maybe" is settled by an indexed
//! store read. So a long session costs no store read per message however long it runs.

use growable_bloom_filter::GrowableBloom;
use std::collections::HashMap;

/// What is known of an id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seen {
    /// Accepted before, as this sequence number.
    At(u64),
    /// Never accepted.
    New,
    /// Perhaps accepted before: the store knows.
    Ask,
}

pub(crate) struct ClientIds {
    /// The newest ids: (sender, id) → sequence number.
    recent: HashMap<(String, String), u64>,
    /// Ids moved out of `recent`, while this set was in memory.
    older: Option<GrowableBloom>,
    /// Whether `recent` and `older` together hold every id the session ever accepted. False
    /// when the set was loaded from a session with more ids than the loading window.
    complete: bool,
    /// How many ids `recent` holds before they move to `older`.
    window: usize,
}

impl ClientIds {
    /// The set for a new session.
    pub(crate) fn new(window: usize) -> Self {
        ClientIds::loaded(window, Vec::new(), true)
    }

    /// The set for a session loaded from the store with its newest ids; `complete` says whether
    /// those are all it has.
    pub(crate) fn loaded(
        window: usize,
        recent: Vec<(String, String, u64)>,
        complete: bool,
    ) -> Self {
        ClientIds {
            recent: recent
                .into_iter()
                .map(|(sender, id, seq)| ((sender, id), seq))
                .collect(),
            older: None,
            complete,
            window: window.max(1),
        }
    }

    /// What is known of `key` = (sender, client id).
    pub(crate) fn check(&self, key: &(String, String)) -> Seen {
        if let Some(&seq) = self.recent.get(key) {
            return Seen::At(seq);
        }
        if !self.complete || self.older.as_ref().is_some_and(|o| o.contains(key)) {
            Seen::Ask
        } else {
            Seen::New
        }
    }

    /// Records an accepted id.
    pub(crate) fn insert(&mut self, key: (String, String), seq: u64) {
        self.recent.insert(key, seq);
        if self.recent.len() > self.window {
            let older = self
                .older
                .get_or_insert_with(|| GrowableBloom::new(0.01, 2 * self.window));
            for (key, _) in self.recent.drain() {
                older.insert(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: usize) -> String {
        format!("id-{n:06}")
    }

    fn key(sender: &str, id: String) -> (String, String) {
        (sender.to_owned(), id)
    }

    #[test]
    fn recent_ids_answer_with_their_sequence_number() {
        let mut ids = ClientIds::new(100);
        ids.insert(key("dev_a", id(1)), 7);
        assert_eq!(ids.check(&key("dev_a", id(1))), Seen::At(7));
        // Ids are per sender.
        assert_eq!(ids.check(&key("dev_b", id(1))), Seen::New);
        assert_eq!(ids.check(&key("dev_a", id(2))), Seen::New);
    }

    #[test]
    fn older_ids_are_never_taken_for_new_and_new_ones_rarely_need_the_store() {
        let mut ids = ClientIds::new(100);
        for n in 0..1_000 {
            ids.insert(key("dev_a", id(n)), n as u64 + 1);
        }
        // No false "new": every id accepted is either known exactly or sent to the store.
        for n in 0..1_000 {
            match ids.check(&key("dev_a", id(n))) {
                Seen::At(seq) => assert_eq!(seq, n as u64 + 1),
                Seen::Ask => {}
                Seen::New => panic!("{} was accepted but is taken for new", id(n)),
            }
        }
        // The newest are still exact.
        assert_eq!(ids.check(&key("dev_a", id(999))), Seen::At(1_000));
        // Fresh ids mostly need no store read (the filter aims at 1% false positives).
        let asked = (1_000..11_000)
            .filter(|&n| ids.check(&key("dev_a", id(n))) == Seen::Ask)
            .count();
        assert!(asked < 500, "{asked} of 10,000 fresh ids sent to the store");
    }

    #[test]
    fn a_set_loaded_without_all_its_ids_asks_the_store_on_a_miss() {
        let ids = ClientIds::loaded(100, vec![("dev_a".into(), id(5), 5)], false);
        assert_eq!(ids.check(&key("dev_a", id(5))), Seen::At(5));
        assert_eq!(ids.check(&key("dev_a", id(6))), Seen::Ask);
        let ids = ClientIds::loaded(100, vec![("dev_a".into(), id(5), 5)], true);
        assert_eq!(ids.check(&key("dev_a", id(6))), Seen::New);
    }
}
