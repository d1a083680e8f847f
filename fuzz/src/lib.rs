//! The properties the fuzz targets check, one function per target: whatever the bytes, nothing
//! panics, and what is accepted survives a round trip. Shared by the libFuzzer binaries
//! (`fuzz_targets/`) and the stable replay of the committed corpus
//! (`crates/server/tests/fuzz_corpus.rs`, which includes this file).

use callside_core::{NumberRange, PhoneNumber};

/// The server's reading of a wire screen into the domain's (the same file, not a copy).
#[allow(dead_code, unreachable_pub)]
#[path = "../../crates/server/src/http/screen_map.rs"]
mod screen_map;

/// Numbers as people and phones write them, in a region and without one.
pub fn number(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for region in [
        None,
        Some("GB".parse().expect("GB")),
        Some("US".parse().expect("US")),
    ] {
        if let Ok(n) = PhoneNumber::parse(text, region) {
            // E.164 out, and E.164 reads back as itself.
            let again = PhoneNumber::parse(n.as_str(), None).expect("E.164 parses");
            assert_eq!(again, n, "{text:?}");
            assert!(NumberRange::parse(n.as_str()).is_ok(), "{n}");
            let _ = n.region();
        }
    }
    let _ = NumberRange::parse(text);
}

/// A WebSocket frame from a client: accepted frames serialise and read back the same.
pub fn ws_frame(data: &[u8]) {
    if let Ok(frame) = serde_json::from_slice::<callside_proto::ws::ClientFrame>(data) {
        let text = serde_json::to_string(&frame).expect("a frame serialises");
        let back: callside_proto::ws::ClientFrame =
            serde_json::from_str(&text).expect("a serialised frame reads back");
        assert_eq!(back, frame);
    }
}

/// The body of an SMS the gateway forwards (a registration), or one a phone received (a proof).
pub fn sms(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(mo) = callside_proto::numbers::MoRequest::parse(&text) {
        let again = callside_proto::numbers::MoRequest::parse(&mo.text()).expect("our own text");
        assert_eq!(again.device, mo.device);
        assert_eq!(again.code, mo.code);
    }
    if let Ok(mt) = callside_proto::numbers::MtProof::parse(&text) {
        assert_eq!(
            callside_proto::numbers::MtProof::parse(&mt.text()).expect("our own text"),
            mt
        );
    }
}

/// A vCard 4.0 or jCard a user imports.
pub fn vcard(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = callside_core::card::vcard::from_vcard(text);
    let _ = callside_core::card::vcard::from_jcard(text);
}

/// A call event a SIP proxy reports (`POST /v1/network/calls`): accepted events read back the same,
/// and their numbers parse or are refused without a panic.
pub fn network_event(data: &[u8]) {
    if let Ok(ev) = serde_json::from_slice::<callside_proto::call::NetworkCallEvent>(data) {
        let text = serde_json::to_string(&ev).expect("an event serialises");
        let back: callside_proto::call::NetworkCallEvent =
            serde_json::from_str(&text).expect("a serialised event reads back");
        assert_eq!(back, ev);
        let _ = PhoneNumber::parse(&ev.caller, None);
        let _ = PhoneNumber::parse(&ev.callee, None);
    }
}

/// A screen an automated system sends (JSON, as on the session): accepted screens read back the
/// same.
pub fn screen(data: &[u8]) {
    use callside_core::screen::{check_id, GRID_COLUMNS, MAX_LABEL, MAX_REGIONS};
    let Ok(s) = serde_json::from_slice::<callside_proto::screen::ScreenBody>(data) else {
        return;
    };
    let text = serde_json::to_string(&s).expect("a screen serialises");
    let back: callside_proto::screen::ScreenBody =
        serde_json::from_str(&text).expect("a serialised screen reads back");
    assert_eq!(back, s);
    // Through the domain's checks, as the server reads a screen an automated system sends
    // (its owner number held or not): never a panic, and what passes keeps the promises the
    // phones rely on.
    let number = s
        .owner
        .number
        .as_deref()
        .and_then(|n| PhoneNumber::parse(n, None).ok());
    let screen = screen_map::screen_core(&s, callside_core::PrincipalId("svc_fuzz".into()), number);
    for holds in [true, false] {
        let Ok(()) = screen.check(|_| holds) else {
            continue;
        };
        assert!(check_id(&screen.id).is_ok());
        assert!((1..=MAX_REGIONS).contains(&screen.regions.len()));
        let mut ids = std::collections::HashSet::new();
        for r in &screen.regions {
            assert!(ids.insert(r.id.as_str()), "a duplicate region passed");
            assert!(check_id(&r.id).is_ok());
            assert!(r.label.chars().count() <= MAX_LABEL);
            assert!(!r.label.chars().any(callside_core::screen::is_bidi_control));
            if let Some(p) = r.position {
                assert!(u16::from(p.col) + u16::from(p.width) <= u16::from(GRID_COLUMNS));
            }
            if let callside_core::screen::Action::OpenUrl(url) = &r.action {
                let lower = url.to_ascii_lowercase();
                assert!(
                    lower.starts_with("https://") || lower.starts_with("http://"),
                    "a screen passed with {url:?}"
                );
            }
        }
        if let Some(t) = &screen.title {
            assert!(t.chars().count() <= MAX_LABEL);
        }
    }
}
