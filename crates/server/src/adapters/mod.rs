//! Adapters to the systems callside talks to: SMS gateways (Kannel's `sendsms` or a JSON SMS
//! API), push services (building the sender from the configuration), and outbound HTTP to URLs
//! users chose. Each is a small piece with a production implementation; none knows the domain.

pub(crate) mod authorization;
pub(crate) mod kamailio;
pub(crate) mod mail;
pub(crate) mod net;
pub(crate) mod push;
pub(crate) mod sms;
pub(crate) mod webhooks;
