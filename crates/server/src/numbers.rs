//! Number parsing with a memo: libphonenumber's rules cost ~25 µs a parse, and the same few
//! numbers (a device's own, its frequent counterparts) come back on every report.

use callside_core::{NumberError, PhoneNumber, Principal, PrincipalKind, Region};
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Mutex;

/// Where national numbers (written without `+<country code>`) are read: in the configured
/// `default_region`, or else in the region of the writer's own number, or else in the US.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Regions {
    configured: Option<Region>,
}

impl Regions {
    pub(crate) fn new(configured: Option<Region>) -> Self {
        Regions { configured }
    }

    /// The region for a writer that has no number of its own (the operator, a service).
    pub(crate) fn default(&self) -> Region {
        self.configured.unwrap_or_else(fallback)
    }

    /// The region national numbers from `who` are read in.
    pub(crate) fn of(&self, who: &Principal) -> Region {
        self.configured
            .or_else(|| match &who.kind {
                PrincipalKind::Device { numbers } => numbers.first().and_then(PhoneNumber::region),
                _ => None,
            })
            .unwrap_or_else(fallback)
    }

    /// [`PhoneNumber::parse`] of what `who` wrote, national numbers read in [`Regions::of`].
    pub(crate) fn parse(&self, input: &str, who: &Principal) -> Result<PhoneNumber, NumberError> {
        PhoneNumber::parse(input, Some(self.of(who)))
    }
}

fn fallback() -> Region {
    "US".parse().expect("US is a region")
}

const SHARDS: usize = 16;
/// Entries per shard before the shard is emptied (a crude but bounded eviction).
const SHARD_LIMIT: usize = 8192;

pub(crate) struct NumberCache {
    regions: Regions,
    region: Region,
    shards: Vec<Mutex<HashMap<String, Result<PhoneNumber, NumberError>>>>,
    hasher: std::collections::hash_map::RandomState,
    limit: usize,
}

impl NumberCache {
    pub(crate) fn new(regions: Regions) -> Self {
        Self::with_limit(regions, SHARD_LIMIT)
    }

    fn with_limit(regions: Regions, limit: usize) -> Self {
        NumberCache {
            regions,
            region: regions.default(),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: Default::default(),
            limit,
        }
    }

    /// What `who` wrote: remembered when it does not depend on who wrote it (an international
    /// number, or a configured region), else read in `who`'s region.
    pub(crate) fn parse_for(
        &self,
        input: &str,
        who: &Principal,
    ) -> Result<PhoneNumber, NumberError> {
        if self.regions.configured.is_some() || PhoneNumber::is_international(input) {
            self.parse(input)
        } else {
            self.regions.parse(input, who)
        }
    }

    /// [`PhoneNumber::parse`] in the default region ([`Regions::default`]), remembered.
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
        let cache = NumberCache::with_limit(Regions::new(Some("GB".parse().unwrap())), 4);
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

    #[test]
    fn national_numbers_are_read_in_the_writers_region_unless_one_is_configured() {
        let device = |n: &str| Principal {
            id: callside_core::PrincipalId("dev".into()),
            name: "d".into(),
            kind: PrincipalKind::Device {
                numbers: vec![PhoneNumber::parse(n, None).unwrap()],
            },
        };
        let (london, paris) = (device("+442079460001"), device("+33123456789"));
        let operator = Principal {
            id: callside_core::PrincipalId("adm".into()),
            name: "operator".into(),
            kind: PrincipalKind::Admin,
        };
        let unset = NumberCache::new(Regions::new(None));
        let national = "020 7946 0002";
        assert_eq!(
            unset.parse_for(national, &london).unwrap().as_str(),
            "+442079460002"
        );
        let err = unset.parse_for(national, &paris).unwrap_err().to_string();
        assert!(err.contains("in FR"), "{err}");
        // Not remembered: the same text read for someone else gives their region's answer.
        assert_eq!(
            unset.parse_for(national, &london).unwrap().as_str(),
            "+442079460002"
        );
        assert_eq!(
            unset.parse_for("01 23 45 67 89", &paris).unwrap().as_str(),
            "+33123456789"
        );
        assert_eq!(Regions::new(None).of(&operator).code(), "US");
        assert_eq!(
            unset
                .parse_for("+44 20 7946 0002", &paris)
                .unwrap()
                .as_str(),
            "+442079460002"
        );
        // A configured region wins over the writer's.
        let gb = NumberCache::new(Regions::new(Some("GB".parse().unwrap())));
        assert_eq!(
            gb.parse_for(national, &paris).unwrap().as_str(),
            "+442079460002"
        );
    }
}
