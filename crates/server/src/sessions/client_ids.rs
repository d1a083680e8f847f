//! The client message ids a session has accepted, for recognising re-sends.
//!
//! The newest ids are kept exactly, with the sequence number each was given, in two generations.
//! When the current generation is full, the previous one goes into a growable Bloom filter
//! (about 1.2 bytes an id) and the current one becomes the previous: an id the filter has never
//! seen is new without asking the store, and the rare "maybe" is settled by an indexed store read.
//! So a long session costs no store read per message however long it runs. And an id always
//! stays exact for at least half the window after it was accepted, far longer than its commit
//! takes: a re-send never asks the store about an id that is not stored yet.

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

type Ids = HashMap<(String, String), u64>;

pub(crate) struct ClientIds {
    /// The newest ids: (sender, id) → sequence number.
    current: Ids,
    /// The generation before `current`.
    previous: Ids,
    /// Ids moved out of `previous`, while this set was in memory.
    older: Option<GrowableBloom>,
    /// Whether the generations and `older` together hold every id the session ever accepted.
    /// False when the set was loaded from a session with more ids than the loading window.
    complete: bool,
    /// How many ids a generation holds (half the exact window).
    generation: usize,
}

impl ClientIds {
    /// The set for a new session, keeping up to `window` ids exactly.
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
            current: HashMap::new(),
            previous: recent
                .into_iter()
                .map(|(sender, id, seq)| ((sender, id), seq))
                .collect(),
            older: None,
            complete,
            generation: (window / 2).max(1),
        }
    }

    /// What is known of `key` = (sender, client id).
    pub(crate) fn check(&self, key: &(String, String)) -> Seen {
        if let Some(&seq) = self.current.get(key).or_else(|| self.previous.get(key)) {
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
        self.current.insert(key, seq);
        if self.current.len() >= self.generation {
            let older = self
                .older
                .get_or_insert_with(|| GrowableBloom::new(0.01, 4 * self.generation));
            for (key, _) in self.previous.drain() {
                older.insert(&key);
            }
            std::mem::swap(&mut self.current, &mut self.previous);
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
    fn an_id_stays_exact_for_half_the_window_after_it_was_accepted() {
        let mut ids = ClientIds::new(100);
        for n in 0..1_000 {
            ids.insert(key("dev_a", id(n)), n as u64 + 1);
            // Every id accepted in the last 50 answers with its number, never "ask the store"
            // (which would not have it yet while its commit is under way).
            for back in 0..50.min(n + 1) {
                let m = n - back;
                assert_eq!(
                    ids.check(&key("dev_a", id(m))),
                    Seen::At(m as u64 + 1),
                    "{m} after {n}"
                );
            }
        }
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
