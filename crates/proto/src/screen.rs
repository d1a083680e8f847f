//! Screens (S1 "configuration data", F11–F21): the bodies of `screen`, `screen/ack` and
//! `screen/action` messages. An automated system (voicemail, IVR, a contact centre) sends a
//! screen to reconfigure part of the other party's user interface; the receiver acknowledges it
//! and activates its regions.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// Body of `screen`: only automated systems send it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScreenBody {
    /// The system's id for this screen (1-64 of a-z, A-Z, 0-9, `.`, `_`, `-`). Sending a screen
    /// with the same id again replaces it.
    pub id: String,
    /// Who the screen is from. The sender may name one of its service numbers; the server fills
    /// in `system`.
    #[serde(default)]
    pub owner: ScreenOwner,
    /// Chosen before the call (`predetermined`, S1-F11) or in reaction to it (`dynamic`).
    pub mode: ScreenMode,
    /// The part of the receiver's user interface it reconfigures.
    pub target: ScreenTarget,
    /// Tells the user the call is with an automated system (S1-F15).
    #[serde(default)]
    pub automated: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// An image shown with the screen (a blob the sender uploaded), e.g. a product photo that
    /// `overlay` regions are drawn on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// 1-24 regions.
    pub regions: Vec<Region>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScreenOwner {
    /// The automated system's principal id (set by the server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// The service number called, one of the system's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScreenMode {
    Predetermined,
    Dynamic,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScreenTarget {
    /// The in-call screen.
    Call,
    /// A menu of actions.
    Menu,
    /// A strip that leaves the rest of the screen as it is.
    Banner,
    /// The whole screen.
    Full,
}

/// A touch-sensitive region of a screen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Region {
    /// Unique within the screen.
    pub id: String,
    /// 1-80 characters, no control or bidirectional formatting characters.
    pub label: String,
    /// A well-known icon name: `location`, `card`, `pay`, `link`, `message`, `record`, `play`,
    /// `pause`, `stop`, `rewind`, `fast_forward`, `delete`, `file`, `end_call`, `menu`, `info`
    /// (clients draw a plain button for names they do not know).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
    /// Where it sits on a 12-column grid; without one, regions flow in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<Position>,
    #[serde(default)]
    pub display: RegionDisplay,
    /// Drawn over the screen's image.
    #[serde(default)]
    pub overlay: bool,
    pub action: Action,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Position {
    pub row: u8,
    pub col: u8,
    pub width: u8,
    pub height: u8,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RegionDisplay {
    #[default]
    Steady,
    Flashing,
}

/// What activating a region does. The receiver always reports the activation with a
/// `screen/action` message; for the local actions it also does the thing itself (sends its
/// location or card, opens the page, writes the message, picks and sends a file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    SendLocation,
    SendCard,
    Pay {
        /// A positive decimal with at most two places, e.g. `"12.50"`.
        amount: String,
        /// ISO 4217, e.g. `"GBP"`.
        currency: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
    },
    /// Open an `https://` (or `http://`) page.
    OpenUrl {
        url: String,
    },
    /// Write a message instead (S1-F15): a phone number, email address or `sip:` URI, and a
    /// prefilled text.
    SendMessage {
        to: String,
        #[serde(default)]
        template: String,
    },
    /// A voicemail command, carried out by the voicemail system.
    Voicemail {
        command: VoicemailCommand,
    },
    /// Choose a file and send it on the session; `accept` lists MIME types or prefixes.
    BrowseFile {
        #[serde(default)]
        accept: Vec<String>,
    },
    /// End the call; the system ends it (apps may not end calls themselves).
    EndCall,
    /// An action of the system's own (`name` as in `app/<name>`).
    App {
        name: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VoicemailCommand {
    Record,
    Stop,
    Play,
    Pause,
    Rewind,
    FastForward,
    Rerecord,
    Delete,
    FetchFiles,
}

/// Body of `screen/ack`: the receiver showed the screen, or cannot show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScreenAckBody {
    pub screen: String,
    pub status: ScreenStatus,
    /// Why not, in a few words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScreenStatus {
    Shown,
    NotSupported,
}

/// Body of `screen/action`: the receiver activated a region the screen offered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScreenActionBody {
    pub screen: String,
    pub region: String,
    /// What goes with it, e.g. the table chosen (a JSON object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub value: Option<Value>,
}
