//! The Rust SDK for callside: report calls, get the session beside them, and talk on it.
//!
//! The pieces fit together like this:
//!
//! * [`Client`] is a typed method per HTTP route of the server (`/v1/me`, admin provisioning,
//!   `/v1/legs`, sessions, messages, blobs). It is cheap to clone and holds one bearer token.
//!   A device reports its leg of a call with [`Client::report_leg`]; when the other party's leg
//!   arrives the server pairs them and the answer carries the session
//!   ([`LegStatus::session`](proto::call::LegStatus::session)). [`Client::wait_leg`] keeps
//!   long-polling until that happens.
//! * [`Channel`] is the device's one WebSocket for all of its sessions. It reconnects by itself
//!   (exponential [`Backoff`] with jitter), lets the server re-deliver unacknowledged messages and
//!   drops the ones already delivered, so the application sees each `(session, seq)` once; sends
//!   wait in an outbox until the server answers `accepted`, and are re-sent after a reconnect
//!   under the same client id, which the server de-duplicates. Everything arrives as [`Event`]s.
//! * Errors are one [`Error`] enum: [`Error::Api`] carries the server's RFC 9457 problem (status,
//!   stable `code`, `detail`); the other variants are transport, decoding and local I/O failures.
//! * The wire types are re-exported as [`proto`] (`callside_proto`), the contract with the server.
//!
//! # Example
//!
//! ```no_run
//! use callside_client::proto::call::{Direction, LegState, ReportLeg};
//! use callside_client::{Channel, Client, Event};
//! use std::time::Duration;
//!
//! # async fn run() -> Result<(), callside_client::Error> {
//! let client = Client::new("http://127.0.0.1:8080", "device-token")?;
//!
//! // Open the channel first so nothing sent on the new session is missed.
//! let mut channel = Channel::connect(&client).await?;
//!
//! // Our phone app saw an outgoing call to +44 20 7946 0002.
//! let leg = ReportLeg::new("+442079460001", Some("+442079460002".into()), Direction::Outgoing);
//! let mut status = client.report_leg(&leg, Duration::from_secs(20)).await?;
//! if status.state == LegState::Pending {
//!     status = client.wait_leg(&status.id, Duration::from_secs(60)).await?;
//! }
//! let Some(session) = status.session else {
//!     return Ok(()); // no match: the other phone has no app
//! };
//!
//! channel.send_text(&session.key, "hello from the data side").await?;
//! while let Some(event) = channel.next_event().await {
//!     if let Event::Message(m) = event {
//!         println!("[{}#{}] {}: {}", m.session, m.seq, m.sender, m.body);
//!         channel.ack(&m.session, m.seq).await?;
//!     }
//! }
//! # Ok(())
//! # }
//! ```

mod admin;
mod agents;
mod browsers;
mod calls;
mod channel;
mod client;
pub mod components;
pub mod contacts;
pub mod email;
mod error;
mod id;
pub mod merchants;
mod places;
pub mod rcd;
pub mod screens;

pub use callside_proto as proto;
pub use channel::{Backoff, Channel, ChannelConfig, ChannelSender, Event};
pub use client::{Client, MessageQuery, MAX_WAIT_SECS};
pub use error::Error;
pub use id::new_message_id;
