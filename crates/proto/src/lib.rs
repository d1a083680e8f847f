//! Wire types of callside's HTTP/JSON API and WebSocket protocol, and nothing else.
//!
//! This crate is the API boundary: the server maps its domain types to these by hand, and the
//! client SDK speaks only these, so a change here is a change of the public protocol. Every type
//! derives `utoipa::ToSchema`, and the OpenAPI document served at `/v1/openapi.json` is built from
//! them. The WebSocket frames are [`ws::ClientFrame`] and [`ws::ServerFrame`], documented in
//! `docs/PROTOCOL.md` (a test checks that document against these types).
//!
//! Times are milliseconds since the Unix epoch (`*_at` fields). Numbers are E.164 strings on the
//! way out; on the way in any format the server's default region can read is accepted.

pub mod admin;
pub mod agent;
pub mod blob;
pub mod browser;
pub mod call;
pub mod card;
pub mod component;
pub mod connect;
pub mod email;
pub mod invitation;
pub mod merchant;
pub mod message;
pub mod numbers;
pub mod problem;
pub mod push;
pub mod rcd;
pub mod rtc;
pub mod screen;
pub mod session;
pub mod ws;

pub use problem::Problem;

/// The version of the protocol described by this crate (sent in the WebSocket `ready` frame).
pub const PROTOCOL_VERSION: u32 = 1;
