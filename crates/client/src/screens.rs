//! Screens (S1 "configuration data", F11–F21), typed: what an automated system sends to
//! reconfigure part of the user interface, the receiver's acknowledgement, and the activation of
//! a region. The [`Channel`](crate::Channel) turns `screen`, `screen/ack` and `screen/action`
//! messages into [`Event::Screen`](crate::Event::Screen); these helpers send them.

use crate::channel::ChannelSender;
use crate::client::{json, send, REQUEST_TIMEOUT};
use crate::{Client, Error};
use callside_proto::message::{Accepted, Message};
use callside_proto::screen::{ScreenAckBody, ScreenActionBody, ScreenBody, ScreenStatus};
use reqwest::Method;
use serde::Serialize;
use serde_json::Value;

/// A screen message on a session.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScreenEvent {
    pub session: String,
    pub seq: u64,
    /// Principal id of the sender.
    pub sender: String,
    pub sent_at: i64,
    #[serde(flatten)]
    pub message: ScreenMessage,
}

/// What the screen message says.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", content = "body")]
pub enum ScreenMessage {
    /// A screen to show (replacing any shown earlier under the same id).
    #[serde(rename = "screen")]
    Screen(ScreenBody),
    /// The receiver showed a screen, or cannot.
    #[serde(rename = "screen/ack")]
    Ack(ScreenAckBody),
    /// The receiver activated a region.
    #[serde(rename = "screen/action")]
    Action(ScreenActionBody),
}

impl ScreenEvent {
    /// The typed form of a `screen`, `screen/ack` or `screen/action` message; `None` for other
    /// kinds, and for a body this SDK cannot read (it then stays a plain message).
    pub fn from_message(m: &Message) -> Option<ScreenEvent> {
        let body = m.body.clone();
        let message = match m.kind.as_str() {
            "screen" => ScreenMessage::Screen(serde_json::from_value(body).ok()?),
            "screen/ack" => ScreenMessage::Ack(serde_json::from_value(body).ok()?),
            "screen/action" => ScreenMessage::Action(serde_json::from_value(body).ok()?),
            _ => return None,
        };
        Some(ScreenEvent {
            session: m.session.clone(),
            seq: m.seq,
            sender: m.sender.clone(),
            sent_at: m.sent_at,
            message,
        })
    }
}

fn to_value(body: &impl Serialize) -> Result<Value, Error> {
    serde_json::to_value(body).map_err(|source| Error::Decode {
        what: "message body",
        source,
    })
}

impl Client {
    /// `PUT /v1/me/screen`: keep this automated system's predetermined screen on the server; it
    /// greets callers whose devices show screens when a call reaches the system (S1-F11).
    pub async fn put_screen(&self, screen: &ScreenBody) -> Result<ScreenBody, Error> {
        let req = self
            .request(Method::PUT, &["v1", "me", "screen"])
            .json(screen);
        json(send(req, REQUEST_TIMEOUT).await?, "screen").await
    }

    /// `GET /v1/me/screen`: the predetermined screen kept (`Error::Api` 404 if none).
    pub async fn screen(&self) -> Result<ScreenBody, Error> {
        let req = self.request(Method::GET, &["v1", "me", "screen"]);
        json(send(req, REQUEST_TIMEOUT).await?, "screen").await
    }

    /// `DELETE /v1/me/screen`.
    pub async fn delete_screen(&self) -> Result<(), Error> {
        let req = self.request(Method::DELETE, &["v1", "me", "screen"]);
        send(req, REQUEST_TIMEOUT).await?;
        Ok(())
    }
}

impl ChannelSender {
    /// Sends a screen (automated systems only; the server fills in `owner.system`).
    pub async fn send_screen(&self, session: &str, screen: &ScreenBody) -> Result<Accepted, Error> {
        self.send(session, "screen", to_value(screen)?).await
    }

    /// Tells the screen's sender it was shown, or cannot be (`detail` says why).
    pub async fn acknowledge_screen(
        &self,
        session: &str,
        screen: &str,
        status: ScreenStatus,
        detail: Option<String>,
    ) -> Result<Accepted, Error> {
        let body = ScreenAckBody {
            screen: screen.to_owned(),
            status,
            detail,
        };
        self.send(session, "screen/ack", to_value(&body)?).await
    }

    /// Activates a region of a screen shown on `session`, with an optional JSON object.
    pub async fn press(
        &self,
        session: &str,
        screen: &str,
        region: &str,
        value: Option<Value>,
    ) -> Result<Accepted, Error> {
        let body = ScreenActionBody {
            screen: screen.to_owned(),
            region: region.to_owned(),
            value,
        };
        self.send(session, "screen/action", to_value(&body)?).await
    }
}
