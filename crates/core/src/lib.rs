//! callside's domain: the rules of the data side of a phone call, with no I/O.
//!
//! The pieces fit together like this:
//!
//! * [`number`] turns what people type into E.164 [`PhoneNumber`]s (libphonenumber metadata via the
//!   `phonenumber` crate) and decides whether a number falls in a service account's [`NumberRange`].
//! * [`principal`] says who may do what: devices own numbers, service accounts (network elements,
//!   automated systems) own ranges, and [`Principal::may_report_leg`] is the one place that rule lives.
//! * [`leg`] is one party's report of a call; [`matching::Matcher`] pairs the two legs of a call
//!   (S0-F3's `<CALLER><CALLED>` key, crosswise) or attaches them to a network element's call.
//! * [`session`] is the one session type every source creates: its lifecycle is a pure state
//!   machine, [`session::Session::apply`].
//! * [`card`] is pre-configured user data (S3): versioned fields, audiences, what to deliver.
//! * [`component`] is software one party offers the other (S1-F6–F8): catalogue entries, the
//!   capabilities devices declare, and the fees a requester consents to.
//! * [`email`] checks email identities and names invitation endpoints (number or address).
//! * [`invitation`] asks the devices of a number into a session (S2-I/M): first accept wins.
//! * [`message`] validates what travels on a session's ordered log.
//! * [`screen`] is configuration data (S1-F11–F21): the screens automated systems send to
//!   reconfigure part of a caller's user interface, their regions and actions.
//! * [`proof`] is the SMS number proof (S2-R): the texts exchanged and the keyed signature.
//! * [`ratelimit`] keeps per-key rate limits (GCRA) for everything that costs money or reveals
//!   existence.
//! * [`relay`] makes short-lived TURN credentials (TURN REST) for relayed connections.
//! * [`secret`] makes the random keys, tokens and ids, and hashes tokens for storage.
//!
//! Time is always passed in (milliseconds since the Unix epoch), so every rule here is testable
//! without a clock.

pub mod acd;
pub mod card;
pub mod component;
pub mod email;
pub mod invitation;
pub mod leg;
pub mod matching;
pub mod merchant;
pub mod message;
pub mod number;
pub mod principal;
pub mod proof;
pub mod ratelimit;
pub mod relay;
pub mod screen;
pub mod secret;
pub mod session;

pub use leg::{Direction, Leg, LegId};
pub use number::{NumberError, NumberRange, PhoneNumber, Region};
pub use principal::{Principal, PrincipalId, PrincipalKind, Scope};
pub use secret::{SessionKey, Token, TokenHash};

/// Milliseconds since the Unix epoch; every time in the domain is one of these.
pub type Millis = i64;
