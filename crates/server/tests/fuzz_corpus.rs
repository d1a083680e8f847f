//! Replays the fuzzers' committed corpus (`fuzz/corpus/<target>/`) through the same properties the
//! libFuzzer targets check (`fuzz/src/lib.rs`, included here), on stable and in every test run:
//! an input that once crashed and was fixed, or that the fuzzer found interesting, stays checked.

#[allow(unreachable_pub)] // public in the fuzz crate, private here
#[path = "../../../fuzz/src/lib.rs"]
mod targets;

use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        // A fuzzer running on this directory may replace a file as it is listed.
        let Ok(data) = std::fs::read(&path) else {
            continue;
        };
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(outcome.is_ok(), "{target}: {} fails", path.display());
        n += 1;
    }
    assert!(n > 0, "the {target} corpus is empty");
}

#[test]
fn numbers() {
    replay("number", targets::number);
}

#[test]
fn websocket_frames() {
    replay("ws_frame", targets::ws_frame);
}

#[test]
fn sms_bodies() {
    replay("sms", targets::sms);
}

#[test]
fn vcards() {
    replay("vcard", targets::vcard);
}

#[test]
fn network_events() {
    replay("network_event", targets::network_event);
}

#[test]
fn screens() {
    replay("screen", targets::screen);
}
