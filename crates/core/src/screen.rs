//! Screens (S1 "configuration data", F11–F21): what an automated system — voicemail, an IVR, a
//! contact centre's data part — sends over the session to reconfigure part of the caller's user
//! interface, and what comes back: an acknowledgement (shown, or not supported) and the activation
//! of a region. This module holds the rules; the wire forms live in `proto`.

use crate::number::PhoneNumber;
use crate::principal::PrincipalId;

/// At most this many regions on one screen.
pub const MAX_REGIONS: usize = 24;
/// At most this many characters in a label or title.
pub const MAX_LABEL: usize = 80;
/// At most this many characters in a message template.
pub const MAX_TEMPLATE: usize = 500;
/// At most this many bytes in a URL.
pub const MAX_URL: usize = 2048;
/// Regions sit on a grid this many columns wide (and at most [`MAX_ROWS`] rows high).
pub const GRID_COLUMNS: u8 = 12;
pub const MAX_ROWS: u8 = 32;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScreenError {
    #[error("`{0}` is not an id: 1-64 characters of a-z, A-Z, 0-9, `.`, `_`, `-`")]
    BadId(String),
    #[error("a screen has 1-{MAX_REGIONS} regions")]
    RegionCount,
    #[error("region id `{0}` appears twice")]
    DuplicateRegion(String),
    #[error("{0} must be 1-{MAX_LABEL} characters with no control or bidirectional formatting characters")]
    BadLabel(&'static str),
    #[error("a message template is at most {MAX_TEMPLATE} characters with no bidirectional formatting characters")]
    BadTemplate,
    #[error("`{0}` is not an https:// or http:// URL of at most {MAX_URL} bytes")]
    BadUrl(String),
    #[error("a position lies on a {GRID_COLUMNS}-column grid of at most {MAX_ROWS} rows: col + width ≤ {GRID_COLUMNS}, row + height ≤ {MAX_ROWS}, width and height ≥ 1")]
    BadPosition,
    #[error("`{0}` is not a destination: a phone number, an email address or a sip: URI")]
    BadDestination(String),
    #[error(
        "an amount is a positive decimal with at most two places and a three-letter currency code"
    )]
    BadAmount,
    #[error("`{0}` is not an app action name (a-z, 0-9, `.`, `_`, `-`, 1-64)")]
    BadAppName(String),
    #[error("accept lists at most 8 MIME types or prefixes such as `image/`")]
    BadAccept,
    #[error("the owner number {0} is not one of the sender's service numbers")]
    NotYourNumber(PhoneNumber),
}

/// Whether the system chose the screen before the call (S1-F11) or in reaction to it (F12/F13).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Predetermined,
    Dynamic,
}

/// Which part of the receiving user interface a screen reconfigures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The in-call screen (beside the keypad and hang-up).
    Call,
    /// A menu of actions (the IVR and contact-centre case).
    Menu,
    /// A strip that leaves the rest as it is.
    Banner,
    /// The whole screen.
    Full,
}

/// How a region is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Display {
    #[default]
    Steady,
    Flashing,
}

/// A voicemail command (S1-F15).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoicemailCommand {
    Record,
    Stop,
    Play,
    Pause,
    Rewind,
    FastForward,
    Rerecord,
    Delete,
    /// Fetch the files attached to a message without playing it.
    FetchFiles,
}

/// What activating a region does. Every activation also comes back to the sender as a
/// `screen/action` message; the client performs the local part (sending its location, opening
/// the page) itself.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    SendLocation,
    SendCard,
    /// Pay `amount` (a decimal string) in `currency`.
    Pay {
        amount: String,
        currency: String,
        reference: Option<String>,
    },
    OpenUrl(String),
    /// Write a message instead of talking (F15): destination and text prefilled.
    SendMessage {
        to: String,
        template: String,
    },
    Voicemail(VoicemailCommand),
    /// Choose a file and send it on the session; `accept` narrows the types.
    BrowseFile {
        accept: Vec<String>,
    },
    /// End the call through the system (apps may not end calls themselves).
    EndCall,
    /// An action of the system's own, named like an `app/*` message.
    App(String),
}

/// Where a region sits on the grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub row: u8,
    pub col: u8,
    pub width: u8,
    pub height: u8,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Region {
    pub id: String,
    pub label: String,
    /// A well-known icon name (`location`, `card`, `pay`, …) or none.
    pub icon: Option<String>,
    /// Without a position, regions flow in order.
    pub position: Option<Position>,
    pub display: Display,
    /// Drawn over the screen's image (a "Buy me" on a product photo).
    pub overlay: bool,
    pub action: Action,
}

/// Who a screen comes from, as the receiving user sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub system: PrincipalId,
    /// The service number called (voicemail, IVR, contact centre), when there is one.
    pub number: Option<PhoneNumber>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Screen {
    pub id: String,
    pub owner: Owner,
    pub mode: Mode,
    pub target: Target,
    /// Tells the user the call is with an automated system (S1-F15).
    pub automated: bool,
    pub title: Option<String>,
    pub regions: Vec<Region>,
}

/// Checks an id of a screen or region.
pub fn check_id(id: &str) -> Result<(), ScreenError> {
    let ok = (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(ScreenError::BadId(id.to_owned()))
    }
}

/// Characters that reorder text on screen and can make a label read as something else
/// (`U+202A`–`U+202E`, `U+2066`–`U+2069`, `U+200E`/`U+200F`, `U+061C`).
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

fn check_label(text: &str, what: &'static str) -> Result<(), ScreenError> {
    let n = text.chars().count();
    if (1..=MAX_LABEL).contains(&n) && !text.chars().any(|c| c.is_control() || is_bidi_control(c)) {
        Ok(())
    } else {
        Err(ScreenError::BadLabel(what))
    }
}

/// An `https://` or `http://` URL with a host, nothing a browser would run.
pub fn check_url(url: &str) -> Result<(), ScreenError> {
    let bad = || ScreenError::BadUrl(url.chars().take(64).collect());
    if url.len() > MAX_URL || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let lower = url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
        .ok_or_else(bad)?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || host.starts_with(':') || host.contains('@') {
        return Err(bad());
    }
    Ok(())
}

fn check_destination(to: &str) -> Result<(), ScreenError> {
    let bad = || ScreenError::BadDestination(to.chars().take(64).collect());
    if to.is_empty() || to.len() > 256 || to.chars().any(|c| c.is_control() || is_bidi_control(c)) {
        return Err(bad());
    }
    let number = to.starts_with('+') && to[1..].bytes().all(|b| b.is_ascii_digit() || b == b' ');
    let sip = to.starts_with("sip:") || to.starts_with("sips:");
    let email = to
        .split_once('@')
        .is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !to.contains(' '));
    if number || sip || email {
        Ok(())
    } else {
        Err(bad())
    }
}

fn check_amount(amount: &str, currency: &str) -> Result<(), ScreenError> {
    let (whole, frac) = amount.split_once('.').unwrap_or((amount, ""));
    let ok = (1..=12).contains(&whole.len())
        && whole.bytes().all(|b| b.is_ascii_digit())
        && frac.len() <= 2
        && frac.bytes().all(|b| b.is_ascii_digit())
        && !(amount.contains('.') && frac.is_empty())
        && amount.bytes().any(|b| (b'1'..=b'9').contains(&b))
        && currency.len() == 3
        && currency.bytes().all(|b| b.is_ascii_uppercase());
    if ok {
        Ok(())
    } else {
        Err(ScreenError::BadAmount)
    }
}

impl Position {
    pub fn check(&self) -> Result<(), ScreenError> {
        let ok = self.width >= 1
            && self.height >= 1
            && u16::from(self.col) + u16::from(self.width) <= u16::from(GRID_COLUMNS)
            && u16::from(self.row) + u16::from(self.height) <= u16::from(MAX_ROWS);
        if ok {
            Ok(())
        } else {
            Err(ScreenError::BadPosition)
        }
    }
}

impl Action {
    pub fn check(&self) -> Result<(), ScreenError> {
        match self {
            Action::Pay {
                amount,
                currency,
                reference,
            } => {
                check_amount(amount, currency)?;
                if let Some(r) = reference {
                    check_label(r, "a payment reference")?;
                }
                Ok(())
            }
            Action::OpenUrl(u) => check_url(u),
            Action::SendMessage { to, template } => {
                check_destination(to)?;
                if template.chars().count() > MAX_TEMPLATE || template.chars().any(is_bidi_control)
                {
                    return Err(ScreenError::BadTemplate);
                }
                Ok(())
            }
            Action::BrowseFile { accept } => {
                let ok = accept.len() <= 8
                    && accept.iter().all(|m| {
                        (1..=100).contains(&m.len())
                            && m.contains('/')
                            && m.bytes().all(|b| {
                                b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'+' | b'-')
                            })
                    });
                if ok {
                    Ok(())
                } else {
                    Err(ScreenError::BadAccept)
                }
            }
            Action::App(name) => crate::message::MessageKind::parse_client(&format!("app/{name}"))
                .map(|_| ())
                .map_err(|_| ScreenError::BadAppName(name.clone())),
            Action::SendLocation | Action::SendCard | Action::Voicemail(_) | Action::EndCall => {
                Ok(())
            }
        }
    }
}

impl Region {
    pub fn check(&self) -> Result<(), ScreenError> {
        check_id(&self.id)?;
        check_label(&self.label, "a region's label")?;
        if let Some(icon) = &self.icon {
            check_id(icon)?;
        }
        if let Some(p) = &self.position {
            p.check()?;
        }
        self.action.check()
    }
}

impl Screen {
    /// Checks the whole screen. `numbers` tells whether the sender holds a service number.
    pub fn check(&self, holds: impl Fn(&PhoneNumber) -> bool) -> Result<(), ScreenError> {
        check_id(&self.id)?;
        if let Some(t) = &self.title {
            check_label(t, "a screen's title")?;
        }
        if let Some(n) = &self.owner.number {
            if !holds(n) {
                return Err(ScreenError::NotYourNumber(n.clone()));
            }
        }
        if self.regions.is_empty() || self.regions.len() > MAX_REGIONS {
            return Err(ScreenError::RegionCount);
        }
        let mut seen = std::collections::HashSet::new();
        for r in &self.regions {
            r.check()?;
            if !seen.insert(r.id.as_str()) {
                return Err(ScreenError::DuplicateRegion(r.id.clone()));
            }
        }
        Ok(())
    }

    /// The ids of the regions it offers.
    pub fn region_ids(&self) -> Vec<String> {
        self.regions.iter().map(|r| r.id.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(id: &str, action: Action) -> Region {
        Region {
            id: id.into(),
            label: "Send a message instead".into(),
            icon: Some("message".into()),
            position: Some(Position {
                row: 0,
                col: 0,
                width: 6,
                height: 1,
            }),
            display: Display::Flashing,
            overlay: false,
            action,
        }
    }

    fn screen(regions: Vec<Region>) -> Screen {
        Screen {
            id: "voicemail".into(),
            owner: Owner {
                system: PrincipalId("svc_vm".into()),
                number: Some(PhoneNumber::parse("+442079460900", None).unwrap()),
            },
            mode: Mode::Predetermined,
            target: Target::Call,
            automated: true,
            title: Some("Voicemail of Bob".into()),
            regions,
        }
    }

    #[test]
    fn a_voicemail_screen_passes() {
        let s = screen(vec![
            region(
                "msg",
                Action::SendMessage {
                    to: "+442079460002".into(),
                    template: "Hi Bob, I tried to call you just now.".into(),
                },
            ),
            region("rec", Action::Voicemail(VoicemailCommand::Record)),
            region("end", Action::EndCall),
            region(
                "pay",
                Action::Pay {
                    amount: "12.50".into(),
                    currency: "GBP".into(),
                    reference: None,
                },
            ),
            region("web", Action::OpenUrl("https://example.com/ivr?x=1".into())),
            region(
                "photo",
                Action::BrowseFile {
                    accept: vec!["image/".into()],
                },
            ),
            region("taxi", Action::App("taxi.eta".into())),
        ]);
        assert_eq!(s.check(|_| true), Ok(()));
        assert_eq!(s.region_ids().len(), 7);
    }

    #[test]
    fn bad_screens_are_refused_with_what_is_wrong() {
        let ok = || region("a", Action::EndCall);
        let cases: Vec<(Screen, ScreenError)> = vec![
            (screen(vec![]), ScreenError::RegionCount),
            (
                screen(vec![ok(); MAX_REGIONS + 1]),
                ScreenError::RegionCount,
            ),
            (
                screen(vec![ok(), ok()]),
                ScreenError::DuplicateRegion("a".into()),
            ),
            (
                screen(vec![region(
                    "a",
                    Action::OpenUrl("javascript:alert(1)".into()),
                )]),
                ScreenError::BadUrl("javascript:alert(1)".into()),
            ),
            (
                screen(vec![region(
                    "a",
                    Action::OpenUrl("data:text/html,x".into()),
                )]),
                ScreenError::BadUrl("data:text/html,x".into()),
            ),
            (
                screen(vec![region("a", Action::OpenUrl("https://u@evil/".into()))]),
                ScreenError::BadUrl("https://u@evil/".into()),
            ),
            (
                screen(vec![region(
                    "a",
                    Action::SendMessage {
                        to: "bob".into(),
                        template: String::new(),
                    },
                )]),
                ScreenError::BadDestination("bob".into()),
            ),
            (
                screen(vec![region(
                    "a",
                    Action::Pay {
                        amount: "0.00".into(),
                        currency: "GBP".into(),
                        reference: None,
                    },
                )]),
                ScreenError::BadAmount,
            ),
            (
                screen(vec![region("a", Action::App("Bad Name".into()))]),
                ScreenError::BadAppName("Bad Name".into()),
            ),
        ];
        for (s, want) in cases {
            assert_eq!(s.check(|_| true), Err(want));
        }
        let mut flipped = ok();
        flipped.label = "Pay \u{202E}321 GBP".into();
        assert_eq!(
            screen(vec![flipped]).check(|_| true),
            Err(ScreenError::BadLabel("a region's label"))
        );
        let mut off_grid = ok();
        off_grid.position = Some(Position {
            row: 0,
            col: 8,
            width: 6,
            height: 1,
        });
        assert_eq!(
            screen(vec![off_grid]).check(|_| true),
            Err(ScreenError::BadPosition)
        );
        let s = screen(vec![ok()]);
        assert!(matches!(
            s.check(|_| false),
            Err(ScreenError::NotYourNumber(_))
        ));
        let mut bad_id = s.clone();
        bad_id.id = "has space".into();
        assert_eq!(
            bad_id.check(|_| true),
            Err(ScreenError::BadId("has space".into()))
        );
    }

    #[test]
    fn amounts_are_plain_decimals() {
        for good in ["1", "12.5", "12.50", "0.01", "1000000"] {
            assert_eq!(check_amount(good, "EUR"), Ok(()), "{good}");
        }
        for bad in ["", "0", "-1", "1.", ".5", "1.234", "1e3", "1,50", " 1"] {
            assert!(check_amount(bad, "EUR").is_err(), "{bad}");
        }
        assert!(check_amount("1", "eur").is_err());
    }
}
