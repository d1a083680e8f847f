//! Number parsing with a memo: libphonenumber's rules cost ~25 µs a parse, and the same few
//! numbers (a device's own, its frequent counterparts) come back on every report.

use callside_core::{NumberError, PhoneNumber, Region};
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Mutex;

const SHARDS: usize = 16;
/// Entries per shard before the shard is emptied (a crude but bounded eviction).
const SHARD_LIMIT: usize = 8192;

pub(crate) struct NumberCache {
    region: Region,
    shards: Vec<Mutex<HashMap<String, Result<PhoneNumber, NumberError>>>>,
    hasher: std::collections::hash_map::RandomState,
    limit: usize,
}

impl NumberCache {
    pub(crate) fn new(region: Region) -> Self {
        Self::with_limit(region, SHARD_LIMIT)
    }

    fn with_limit(region: Region, limit: usize) -> Self {
        NumberCache {
            region,
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: Default::default(),
            limit,
        }
    }

    /// [`PhoneNumber::parse`] in the configured default region, remembered.
    pub(crate) fn parse(&self, input: &str) -> Result<PhoneNumber, NumberError> {
        let shard = &self.shards[self.hasher.hash_one(input) as usize % SHARDS];
        if let Some(hit) = shard.lock().expect("number cache poisoned").get(input) {
            return hit.clone();
        }
        let parsed = PhoneNumber::parse(input, Some(self.region));
        if input.len() <= 64 {
            let mut map = shard.lock().expect("number cache poisoned");
            if map.len() >= self.limit {
                map.clear();
            }
            map.insert(input.to_owned(), parsed.clone());
        }
        parsed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_both_answers_and_agrees_with_the_parser() {
        let cache = NumberCache::with_limit("GB".parse().unwrap(), 4);
        for _ in 0..2 {
            assert_eq!(
                cache.parse("020 7946 0001").unwrap().as_str(),
                "+442079460001"
            );
            assert!(cache.parse("12").is_err());
        }
        for i in 0..(SHARDS * 4 * 3) {
            let input = format!("+44 20 7946 {:04}", i % 10_000);
            assert_eq!(cache.parse(&input), PhoneNumber::parse(&input, None));
        }
        let held: usize = cache.shards.iter().map(|s| s.lock().unwrap().len()).sum();
        assert!(held <= SHARDS * 4, "bounded: {held}");
    }
}
