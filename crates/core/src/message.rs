//! What may travel on a session's log. Bodies are JSON, which this crate does not parse: it checks
//! kinds, names and sizes; the server maps the typed bodies.

use std::fmt;

/// The kind of a message on a session's log.
///
/// The set grows by adding variants (cards, location, screens, invitations come next); clients
/// must ignore kinds they do not know.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// `text`: a short text.
    Text,
    /// `file`: a reference to a blob with name, size and MIME type.
    File,
    /// `app/<name>`: a service data object (S1-F1) with any JSON body.
    App(String),
    /// `system/<name>`: written by the server only (call state, joins, close).
    System(&'static str),
    /// `card`: a participant's card fields, delivered by the server on its behalf (S3-F11).
    Card,
    /// `location`: a position (S1-F9/F10): pushed, answering a request, or a live update.
    Location,
    /// `location/request`: asks the others for their position within a time.
    LocationRequest,
    /// `location/decline`: the answer "no" to a location request.
    LocationDecline,
    /// `capability/query`: asks the others' devices which features and components they have.
    CapabilityQuery,
    /// `capability/answer`: a device's answer to a capability query.
    CapabilityAnswer,
    /// `screen`: configuration data from an automated system (S1-F11–F21).
    Screen,
    /// `screen/ack`: a receiver showed a screen, or cannot.
    ScreenAck,
    /// `screen/action`: a receiver activated one of a screen's regions.
    ScreenAction,
    /// `rtc/offer`, `rtc/answer`, `rtc/candidate`, `rtc/end`: signalling for a WebRTC connection
    /// between participants beside the session (S1-F1's direct path, S2-C's video).
    Rtc(RtcKind),
    /// `page/view`: the page a visitor on a web call is looking at now (S4's page follow).
    PageView,
    /// `media/control`: an agent changes the visitor's volume or echo suppression (S4 "K").
    MediaControl,
}

/// The WebRTC signalling kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RtcKind {
    Offer,
    Answer,
    Candidate,
    End,
}

/// The longest session description an `rtc/offer` or `rtc/answer` carries (a video offer with
/// many codecs is 5–10 KB).
pub const MAX_SDP_BYTES: usize = 32 * 1024;
/// The longest ICE candidate line.
pub const MAX_CANDIDATE_BYTES: usize = 1024;

/// Checks the parts of a WebRTC signalling message: the connection id (1–64 of `A-Z a-z 0-9 _ -`),
/// a session description or candidate of bounded size without NUL bytes.
pub fn check_rtc(
    call: &str,
    sdp: Option<&str>,
    candidate: Option<&str>,
) -> Result<(), MessageError> {
    let call_ok = (1..=64).contains(&call.len())
        && call
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'));
    if !call_ok {
        return Err(MessageError::BadRtc(
            "call must be 1-64 characters of A-Z, a-z, 0-9, _ and -",
        ));
    }
    if let Some(sdp) = sdp {
        if sdp.is_empty()
            || sdp.len() > MAX_SDP_BYTES
            || !sdp.starts_with("v=0")
            || sdp.contains('\0')
        {
            return Err(MessageError::BadRtc(
                "sdp must be a session description (starting v=0) of at most 32 KiB",
            ));
        }
    }
    if let Some(c) = candidate {
        // "" is the end of candidates.
        if c.len() > MAX_CANDIDATE_BYTES || c.contains(['\0', '\r', '\n']) {
            return Err(MessageError::BadRtc(
                "candidate must be one line of at most 1 KiB",
            ));
        }
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    #[error("unknown message kind `{0}`; use text, file, location, location/request, location/decline, capability/query, capability/answer, screen, screen/ack, screen/action, rtc/offer, rtc/answer, rtc/candidate, rtc/end, page/view, media/control or app/<name>")]
    UnknownKind(String),
    #[error("`{0}` is reserved for the server")]
    Reserved(String),
    #[error("app name `{0}` must be 1–64 characters of a-z, 0-9, `.`, `_`, `-`, starting with a letter or digit")]
    BadAppName(String),
    #[error("client message id must be 1–128 visible ASCII characters")]
    BadClientId,
    #[error("file name must be 1–255 characters without control characters or slashes")]
    BadFileName,
    #[error("`{0}` is not a blob id (sha256:<64 hex digits>)")]
    BadBlobId(String),
    #[error("a position is lat -90..90 and lon -180..180 (degrees), accuracy_m 0..10,000 km")]
    BadPosition,
    #[error("rtc signalling: {0}")]
    BadRtc(&'static str),
}

/// Checks a WGS 84 position (location messages, composer data): degrees in range, an
/// uncertainty radius in metres that is finite and at most 10,000 km.
pub fn check_position(lat: f64, lon: f64, accuracy_m: Option<f64>) -> Result<(), MessageError> {
    let ok = (-90.0..=90.0).contains(&lat)
        && (-180.0..=180.0).contains(&lon)
        && accuracy_m.is_none_or(|a| (0.0..=1.0e7).contains(&a));
    if ok {
        Ok(())
    } else {
        Err(MessageError::BadPosition)
    }
}

pub const SYSTEM_CALL: &str = "system/call";
pub const SYSTEM_JOINED: &str = "system/joined";
pub const SYSTEM_CLOSED: &str = "system/closed";
pub const SYSTEM_TRANSFERRED: &str = "system/transferred";
pub const SYSTEM_LOCATION: &str = "system/location";
pub const SYSTEM_CAPABILITY: &str = "system/capability";
pub const SYSTEM_COMPONENT: &str = "system/component";
pub const SYSTEM_COMPONENT_INSTALLED: &str = "system/component_installed";
pub const SYSTEM_DIVERTED: &str = "system/diverted";
pub const SYSTEM_PAGE: &str = "system/page";

impl MessageKind {
    /// Parses a kind a client sent. `system/*` kinds are refused.
    pub fn parse_client(s: &str) -> Result<Self, MessageError> {
        match s {
            "text" => Ok(MessageKind::Text),
            "file" => Ok(MessageKind::File),
            "location" => Ok(MessageKind::Location),
            "location/request" => Ok(MessageKind::LocationRequest),
            "location/decline" => Ok(MessageKind::LocationDecline),
            "capability/query" => Ok(MessageKind::CapabilityQuery),
            "capability/answer" => Ok(MessageKind::CapabilityAnswer),
            "screen" => Ok(MessageKind::Screen),
            "screen/ack" => Ok(MessageKind::ScreenAck),
            "screen/action" => Ok(MessageKind::ScreenAction),
            "rtc/offer" => Ok(MessageKind::Rtc(RtcKind::Offer)),
            "rtc/answer" => Ok(MessageKind::Rtc(RtcKind::Answer)),
            "rtc/candidate" => Ok(MessageKind::Rtc(RtcKind::Candidate)),
            "rtc/end" => Ok(MessageKind::Rtc(RtcKind::End)),
            "page/view" => Ok(MessageKind::PageView),
            "media/control" => Ok(MessageKind::MediaControl),
            _ => {
                if let Some(name) = s.strip_prefix("app/") {
                    let ok = (1..=64).contains(&name.len())
                        && name.as_bytes()[0].is_ascii_alphanumeric()
                        && name.bytes().all(|b| {
                            b.is_ascii_lowercase()
                                || b.is_ascii_digit()
                                || matches!(b, b'.' | b'_' | b'-')
                        });
                    if ok {
                        Ok(MessageKind::App(name.to_owned()))
                    } else {
                        Err(MessageError::BadAppName(name.to_owned()))
                    }
                } else if s.starts_with("system/") || s == "card" {
                    Err(MessageError::Reserved(s.to_owned()))
                } else {
                    Err(MessageError::UnknownKind(s.to_owned()))
                }
            }
        }
    }
}

impl fmt::Display for MessageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MessageKind::Text => f.write_str("text"),
            MessageKind::File => f.write_str("file"),
            MessageKind::App(name) => write!(f, "app/{name}"),
            MessageKind::System(name) => f.write_str(name),
            MessageKind::Card => f.write_str("card"),
            MessageKind::Location => f.write_str("location"),
            MessageKind::LocationRequest => f.write_str("location/request"),
            MessageKind::LocationDecline => f.write_str("location/decline"),
            MessageKind::CapabilityQuery => f.write_str("capability/query"),
            MessageKind::CapabilityAnswer => f.write_str("capability/answer"),
            MessageKind::Screen => f.write_str("screen"),
            MessageKind::ScreenAck => f.write_str("screen/ack"),
            MessageKind::ScreenAction => f.write_str("screen/action"),
            MessageKind::Rtc(RtcKind::Offer) => f.write_str("rtc/offer"),
            MessageKind::Rtc(RtcKind::Answer) => f.write_str("rtc/answer"),
            MessageKind::Rtc(RtcKind::Candidate) => f.write_str("rtc/candidate"),
            MessageKind::Rtc(RtcKind::End) => f.write_str("rtc/end"),
            MessageKind::PageView => f.write_str("page/view"),
            MessageKind::MediaControl => f.write_str("media/control"),
        }
    }
}

/// Checks a client's idempotency id.
pub fn check_client_id(id: &str) -> Result<(), MessageError> {
    if (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(())
    } else {
        Err(MessageError::BadClientId)
    }
}

/// Checks the display name of a file.
pub fn check_file_name(name: &str) -> Result<(), MessageError> {
    let len = name.chars().count();
    if (1..=255).contains(&len)
        && !name
            .chars()
            .any(|c| c.is_control() || c == '/' || c == '\\')
    {
        Ok(())
    } else {
        Err(MessageError::BadFileName)
    }
}

/// A content address: `sha256:` and 64 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlobId(String);

impl BlobId {
    pub fn parse(s: &str) -> Result<Self, MessageError> {
        match s.strip_prefix("sha256:") {
            Some(hex)
                if hex.len() == 64
                    && hex
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
            {
                Ok(BlobId(s.to_owned()))
            }
            _ => Err(MessageError::BadBlobId(s.to_owned())),
        }
    }

    pub fn from_digest(digest: &[u8; 32]) -> Self {
        let mut s = String::with_capacity(71);
        s.push_str("sha256:");
        for b in digest {
            s.push_str(&format!("{b:02x}"));
        }
        BlobId(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The hex digest, used as the file name in a blob directory.
    pub fn hex(&self) -> &str {
        &self.0[7..]
    }
}

impl fmt::Display for BlobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_degrees_in_range() {
        check_position(51.5, -0.12, Some(20.0)).unwrap();
        check_position(-90.0, 180.0, None).unwrap();
        for (lat, lon, acc) in [
            (90.1, 0.0, None),
            (0.0, -180.5, None),
            (f64::NAN, 0.0, None),
            (0.0, 0.0, Some(-1.0)),
            (0.0, 0.0, Some(f64::INFINITY)),
            (0.0, 0.0, Some(f64::NAN)),
        ] {
            assert_eq!(
                check_position(lat, lon, acc),
                Err(MessageError::BadPosition)
            );
        }
    }

    #[test]
    fn rtc_signalling_is_bounded() {
        for k in ["rtc/offer", "rtc/answer", "rtc/candidate", "rtc/end"] {
            assert_eq!(MessageKind::parse_client(k).unwrap().to_string(), k);
        }
        assert!(check_rtc("c-1", Some("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n"), None).is_ok());
        assert!(
            check_rtc("c-1", None, Some("")).is_ok(),
            "end of candidates"
        );
        assert!(check_rtc("c 1", None, None).is_err());
        assert!(check_rtc("", None, None).is_err());
        assert!(check_rtc("c", Some("hello"), None).is_err());
        assert!(check_rtc(
            "c",
            Some(&format!("v=0{}", "a".repeat(MAX_SDP_BYTES))),
            None
        )
        .is_err());
        assert!(check_rtc("c", None, Some("candidate:1\r\nx")).is_err());
        assert!(check_rtc("c", None, Some(&"a".repeat(MAX_CANDIDATE_BYTES + 1))).is_err());
    }

    #[test]
    fn kinds_parse_and_system_is_reserved() {
        assert_eq!(MessageKind::parse_client("text"), Ok(MessageKind::Text));
        assert_eq!(MessageKind::parse_client("file"), Ok(MessageKind::File));
        for kind in [
            "page/view",
            "media/control",
            "rtc/offer",
            "location/decline",
        ] {
            let parsed = MessageKind::parse_client(kind).expect(kind);
            assert_eq!(parsed.to_string(), kind);
        }
        assert_eq!(
            MessageKind::parse_client(SYSTEM_PAGE),
            Err(MessageError::Reserved(SYSTEM_PAGE.into()))
        );
        assert_eq!(
            MessageKind::parse_client("app/order-status"),
            Ok(MessageKind::App("order-status".into()))
        );
        assert_eq!(
            MessageKind::parse_client("system/call"),
            Err(MessageError::Reserved("system/call".into()))
        );
        assert!(matches!(
            MessageKind::parse_client("app/"),
            Err(MessageError::BadAppName(_))
        ));
        assert!(matches!(
            MessageKind::parse_client("app/Bad"),
            Err(MessageError::BadAppName(_))
        ));
        assert!(matches!(
            MessageKind::parse_client("video"),
            Err(MessageError::UnknownKind(_))
        ));
        assert_eq!(MessageKind::App("x".into()).to_string(), "app/x");
    }

    #[test]
    fn ids_names_and_blobs_are_checked() {
        assert!(check_client_id("m-1").is_ok());
        assert!(check_client_id("").is_err());
        assert!(check_client_id("a b").is_err());
        assert!(check_file_name("photo.jpg").is_ok());
        assert!(check_file_name("../etc/passwd").is_err());
        assert!(check_file_name("a\nb").is_err());
        let id = BlobId::from_digest(&[0xab; 32]);
        assert_eq!(BlobId::parse(id.as_str()), Ok(id.clone()));
        assert_eq!(id.hex().len(), 64);
        assert!(BlobId::parse("sha256:ABC").is_err());
        assert!(BlobId::parse(&id.as_str().to_uppercase()).is_err());
    }
}
