//! [`Channel`]: the device's one WebSocket, kept alive across network trouble.
//!
//! A background task (the *driver*) owns the socket. It connects, waits for the server's `ready`
//! frame, re-sends whatever is in the outbox, and then relays frames both ways. When the
//! connection drops (or goes silent for 2.5 heartbeats) it reports [`Event::Disconnected`],
//! waits according to [`Backoff`], connects again and reports [`Event::Reconnected`]. The server
//! re-delivers every message after the last acknowledged one; the driver drops the ones the
//! application has already seen, so each `(session, seq)` reaches [`Channel::next_event`] once.

mod backoff;
mod driver;
mod state;

pub use backoff::Backoff;

use crate::{id::new_message_id, Client, Error};
use callside_proto::call::LegStatus;
use callside_proto::message::{Accepted, Message, TextBody};
use callside_proto::session::SessionInfo;
use driver::{Command, Driver, WsConnector};
use serde::Serialize;
use serde_json::Value;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Tuning for a [`Channel`]. `ChannelConfig::default()` suits most applications.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ChannelConfig {
    /// Delays between reconnect attempts.
    pub backoff: Backoff,
    /// Heartbeat used until the server's `ready` frame says otherwise.
    pub heartbeat: Duration,
    /// How long one connection attempt (TCP, TLS, WebSocket handshake) may take.
    pub connect_timeout: Duration,
    /// Events buffered for the application before the driver stops reading the socket.
    pub event_buffer: usize,
}

impl Default for ChannelConfig {
    fn default() -> Self {
        ChannelConfig {
            backoff: Backoff::default(),
            heartbeat: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            event_buffer: 1024,
        }
    }
}

/// What the channel tells the application, in order.
///
/// Serialized (for logs and scripts) as a JSON object tagged by `"event"`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// The first connection is up.
    Ready {
        /// Protocol version the server speaks.
        protocol: u32,
        /// Principal id of this device or account.
        principal: String,
        /// The server's heartbeat interval.
        heartbeat_secs: u64,
        /// Open sessions this principal takes part in.
        sessions: Vec<SessionInfo>,
    },
    /// A message on one of your sessions (each `(session, seq)` once per process).
    Message(Message),
    /// A `screen`, `screen/ack` or `screen/action` message, typed (S1-F11–F21); each
    /// `(session, seq)` once, like [`Event::Message`], which it replaces for these kinds.
    Screen(crate::screens::ScreenEvent),
    /// A session including you was created, or you joined one.
    Session(SessionInfo),
    /// A leg you reported changed state.
    Leg(LegStatus),
    /// An invitation ringing on this device, or one this device sent, changed state.
    Invitation(callside_proto::invitation::Invitation),
    /// Composer data of a call ringing on this device's number, or a note left after a call it
    /// missed.
    CallNote(callside_proto::call::CallNote),
    /// The server refused a frame that was not a `send` (e.g. an `ack` for a closed session).
    Error {
        /// Stable machine code.
        code: String,
        /// What went wrong, in words.
        detail: String,
        /// The session concerned, if any.
        #[serde(skip_serializing_if = "Option::is_none")]
        session: Option<String>,
    },
    /// The connection was lost; the channel is reconnecting (sends are kept until then).
    Disconnected {
        /// Why, in words.
        reason: String,
    },
    /// The connection is back; messages missed meanwhile follow.
    Reconnected {
        /// Open sessions as of the new connection.
        sessions: Vec<SessionInfo>,
    },
}

/// A cloneable handle for sending on a [`Channel`] from other tasks.
#[derive(Debug, Clone)]
pub struct ChannelSender {
    commands: mpsc::Sender<Command>,
}

impl ChannelSender {
    /// Appends a message to `session` with a fresh id and waits until the server has persisted
    /// it. If the connection drops meanwhile, the message is re-sent after reconnecting (the
    /// server ignores repeats of the same id), so this waits across reconnects; wrap it in
    /// `tokio::time::timeout` to bound the wait.
    pub async fn send(&self, session: &str, kind: &str, body: Value) -> Result<Accepted, Error> {
        self.send_with_id(session, new_message_id(), kind, body)
            .await
    }

    /// [`ChannelSender::send`] with your own client message id (for re-sends across restarts).
    pub async fn send_with_id(
        &self,
        session: &str,
        id: String,
        kind: &str,
        body: Value,
    ) -> Result<Accepted, Error> {
        let (reply, answer) = oneshot::channel();
        self.command(Command::Send {
            session: session.to_owned(),
            id,
            kind: kind.to_owned(),
            body,
            reply,
        })
        .await?;
        answer.await.map_err(|_| Error::ChannelClosed)?
    }

    /// Sends a `text` message.
    pub async fn send_text(&self, session: &str, text: &str) -> Result<Accepted, Error> {
        let body = serde_json::to_value(TextBody {
            text: text.to_owned(),
        })
        .map_err(|source| Error::Decode {
            what: "message body",
            source,
        })?;
        self.send(session, "text", body).await
    }

    /// Marks every message of `session` up to `seq` as processed; the server will not deliver
    /// them again. Queued while disconnected.
    pub async fn ack(&self, session: &str, seq: u64) -> Result<(), Error> {
        self.command(Command::Ack {
            session: session.to_owned(),
            seq,
        })
        .await
    }

    /// Asks the server to deliver every message of `session` after `after` again (default: after
    /// the last acknowledged one). These are shown again even if seen before.
    pub async fn resume(&self, session: &str, after: Option<u64>) -> Result<(), Error> {
        self.command(Command::Resume {
            session: session.to_owned(),
            after,
        })
        .await
    }

    /// Reports a call leg over the socket (as [`Client::report_leg`](crate::Client::report_leg)
    /// without waiting, minus an HTTP round trip): the leg as it stands, matched at once or
    /// pending (an [`Event::Leg`] follows when it settles). Not sent again after a reconnect: if
    /// the connection drops before the answer, this fails with [`Error::Disconnected`].
    pub async fn report_leg(
        &self,
        leg: &callside_proto::call::ReportLeg,
    ) -> Result<LegStatus, Error> {
        let (reply, answer) = oneshot::channel();
        self.command(Command::Report {
            id: new_message_id(),
            leg: leg.clone(),
            reply,
        })
        .await?;
        answer.await.map_err(|_| Error::ChannelClosed)?
    }

    async fn command(&self, command: Command) -> Result<(), Error> {
        self.commands
            .send(command)
            .await
            .map_err(|_| Error::ChannelClosed)
    }
}

/// A device's WebSocket channel with automatic reconnect, resume, de-duplication and an outbox.
///
/// Call [`Channel::next_event`] in a loop; send from the same task or from others through
/// [`Channel::sender`]. Keep reading events: when the application falls more than
/// [`ChannelConfig::event_buffer`] events behind, the channel stops reading the socket.
#[derive(Debug)]
pub struct Channel {
    sender: ChannelSender,
    events: mpsc::Receiver<Event>,
    task: JoinHandle<()>,
}

impl Channel {
    /// Connects to `client`'s server and waits for its `ready` frame (the first event).
    ///
    /// Fails if the first connection cannot be made (wrong URL, bad token, server down); after
    /// that the channel reconnects by itself until [`Channel::close`].
    pub async fn connect(client: &Client) -> Result<Channel, Error> {
        Self::connect_with(client, ChannelConfig::default()).await
    }

    /// [`Channel::connect`] with your own tuning.
    pub async fn connect_with(client: &Client, config: ChannelConfig) -> Result<Channel, Error> {
        let connector = WsConnector::new(client, config.connect_timeout)?;
        Self::start(connector, config).await
    }

    pub(crate) async fn start(
        connector: impl driver::Connect,
        config: ChannelConfig,
    ) -> Result<Channel, Error> {
        let (cmd_tx, cmd_rx) = mpsc::channel(256);
        let (ev_tx, ev_rx) = mpsc::channel(config.event_buffer.max(1));
        let (first_tx, first_rx) = oneshot::channel();
        let driver = Driver::new(connector, config, cmd_rx, ev_tx);
        let task = tokio::spawn(driver.run(first_tx));
        match first_rx.await {
            Ok(Ok(())) => Ok(Channel {
                sender: ChannelSender { commands: cmd_tx },
                events: ev_rx,
                task,
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::ChannelClosed),
        }
    }

    /// The next event; `None` once the channel has closed for good.
    pub async fn next_event(&mut self) -> Option<Event> {
        self.events.recv().await
    }

    /// A cloneable sending handle.
    pub fn sender(&self) -> ChannelSender {
        self.sender.clone()
    }

    /// See [`ChannelSender::send`].
    pub async fn send(&self, session: &str, kind: &str, body: Value) -> Result<Accepted, Error> {
        self.sender.send(session, kind, body).await
    }

    /// See [`ChannelSender::send_text`].
    pub async fn send_text(&self, session: &str, text: &str) -> Result<Accepted, Error> {
        self.sender.send_text(session, text).await
    }

    /// See [`ChannelSender::ack`].
    pub async fn ack(&self, session: &str, seq: u64) -> Result<(), Error> {
        self.sender.ack(session, seq).await
    }

    /// See [`ChannelSender::resume`].
    pub async fn resume(&self, session: &str, after: Option<u64>) -> Result<(), Error> {
        self.sender.resume(session, after).await
    }

    /// [`ChannelSender::report_leg`].
    pub async fn report_leg(
        &self,
        leg: &callside_proto::call::ReportLeg,
    ) -> Result<LegStatus, Error> {
        self.sender.report_leg(leg).await
    }

    /// Closes the socket and stops reconnecting; pending sends fail with [`Error::ChannelClosed`].
    ///
    /// Acks and sends queued before the close reach the server first: the event receiver stays
    /// open until the driver has finished (dropping it early made the driver stop at once and
    /// lose queued acks).
    pub async fn close(self) {
        let Channel {
            sender,
            events,
            task,
        } = self;
        let _ = sender.commands.send(Command::Close).await;
        let _ = task.await;
        drop(events);
    }
}
