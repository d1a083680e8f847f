//! Client message ids.

use std::time::{SystemTime, UNIX_EPOCH};

/// A fresh client message id: a UUID version 7 (RFC 9562) as 32 lowercase hex digits.
///
/// The server treats a repeated id as a re-send of the same message, so ids must never repeat.
/// Version 7 ids start with the time in milliseconds and grow within a process, so the server's
/// index of ids takes each new one at its end rather than at a random place: a commit of many
/// messages then rewrites a page or two of that index instead of one page per message.
/// The random bits come from `rand`'s thread-local generator (uuid's `fast-rng`), not a system
/// call per id: an id must be unique, not secret.
pub fn new_message_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// A random number in `[0, 1)` for jitter (not for secrets).
pub(crate) fn random_unit() -> f64 {
    let bits = getrandom::u64().unwrap_or_else(|_| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos() as u64)
            .unwrap_or_default()
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
    });
    // The top 53 bits make an evenly spread f64 in [0, 1).
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_32_lowercase_hex_unique_and_growing() {
        let ids: Vec<String> = (0..10_000).map(|_| new_message_id()).collect();
        assert!(ids.iter().all(|id| id.len() == 32
            && id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))));
        // Each id sorts after the one before (the server's index takes it at its end), which
        // also makes them unique.
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids out of order");
        // Version 7: the version nibble is 7 and the first 48 bits are the time in milliseconds.
        assert!(ids.iter().all(|id| id.as_bytes()[12] == b'7'));
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis();
        let stamped = u128::from_str_radix(&ids[0][..12], 16).unwrap();
        assert!(
            now_ms.abs_diff(stamped) < 60_000,
            "{stamped} is not near {now_ms}"
        );
    }

    #[test]
    fn random_unit_is_in_range() {
        for _ in 0..1000 {
            let r = random_unit();
            assert!((0.0..1.0).contains(&r));
        }
    }
}
