//! The client message ids a session has accepted, for recognising re-sends.
//!
//! The newest ids are kept exactly, with the sequence number each was given, in two generations.
//! When the current generation is full, the previous one goes into a growable Bloom filter
//! (about 1.2 bytes an id) and the current one becomes the previous: an id the filter has never
//! seen is new without asking the store, and the rare "maybe" is settled by an indexed store read.
//! So a long session costs no store read per message however long it runs. And an id always
//! stays exact for at least half the window after it was accepted, far longer than its commit
//! takes: a re-send never asks the store about an id that is not stored yet.
//!
//! An id is kept as a 128-bit SipHash of (sender, id) under a key drawn at random when the
//! process starts ([`IdKey`]): 16 bytes instead of two strings, about a quarter of the memory
//! (a session's exact window went from about 3.5 MiB to under 1 MiB). Two different ids
//! answering for each other would take a collision of a keyed 128-bit hash, which nobody can
//! aim at without the key and which chance alone makes far rarer than a UUID collision.

use growable_bloom_filter::GrowableBloom;
use siphasher::sip128::{Hasher128 as _, SipHasher13};
use std::collections::HashMap;
use std::hash::Hasher as _;
use std::sync::OnceLock;

/// (sender, client id) as a keyed 128-bit hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct IdKey(u128);

impl IdKey {
    pub(crate) fn of(sender: &str, id: &str) -> IdKey {
        static KEY: OnceLock<(u64, u64)> = OnceLock::new();
        let (k0, k1) = *KEY.get_or_init(|| {
            let mut b = [0u8; 16];
            getrandom::fill(&mut b).expect("the operating system's random numbers");
            let (a, c) = b.split_at(8);
            (
                u64::from_le_bytes(a.try_into().expect("8 bytes")),
                u64::from_le_bytes(c.try_into().expect("8 bytes")),
            )
        });
        let mut h = SipHasher13::new_with_keys(k0, k1);
        h.write(sender.as_bytes());
        // 0xff occurs in no UTF-8 text: "ab"+"c" and "a"+"bc" stay apart.
        h.write_u8(0xff);
        h.write(id.as_bytes());
        IdKey(h.finish128().as_u128())
    }
}

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

type Ids = HashMap<IdKey, u64>;

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
                .map(|(sender, id, seq)| (IdKey::of(&sender, &id), seq))
                .collect(),
            older: None,
            complete,
            generation: (window / 2).max(1),
        }
    }

    /// What is known of `key` = (sender, client id).
    pub(crate) fn check(&self, key: &IdKey) -> Seen {
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
    pub(crate) fn insert(&mut self, key: IdKey, seq: u64) {
        self.current.insert(key, seq);
        if self.current.len() >= self.generation {
            let older = self
                .older
                .get_or_insert_with(|| GrowableBloom::new(0.01, 4 * self.generation));
            for (key, _) in self.previous.drain() {
                older.insert(key);
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

    fn key(sender: &str, id: String) -> IdKey {
        IdKey::of(sender, &id)
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
    fn keys_tell_sender_and_id_apart_at_their_boundary() {
        assert_ne!(IdKey::of("ab", "c"), IdKey::of("a", "bc"));
        assert_eq!(IdKey::of("dev_a", "x"), IdKey::of("dev_a", "x"));
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
