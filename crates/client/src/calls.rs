//! Calls through the network: placed and ended through the SIP proxy (S1-F3, S1-F15), reported
//! by it, and how a device is coupled to its numbers' line (S1-F0).

use crate::client::{json, send, REQUEST_TIMEOUT};
use crate::{Client, Error};
use callside_proto::admin::{Coupling, CouplingState, Near, SetCoupling};
use callside_proto::call::{
    ClickToDial, ClickToDialPlaced, NetworkCall, NetworkCallEvent, NetworkCallEvents,
    NetworkCallResults,
};
use reqwest::Method;

impl Client {
    /// `POST /v1/network/calls`: a network element's report about a call (S1-F3–F5).
    pub async fn network_call(&self, event: &NetworkCallEvent) -> Result<NetworkCall, Error> {
        let req = self
            .request(Method::POST, &["v1", "network", "calls"])
            .json(event);
        json(send(req, REQUEST_TIMEOUT).await?, "network call").await
    }

    /// `POST /v1/network/calls/batch`: many call events in one request (1 to 1,000), those about
    /// the same call or number taken in the order sent; each result (in the order of the events)
    /// is the call or the problem that refused that event alone.
    pub async fn network_calls(
        &self,
        events: &NetworkCallEvents,
    ) -> Result<NetworkCallResults, Error> {
        let req = self
            .request(Method::POST, &["v1", "network", "calls", "batch"])
            .json(events);
        json(send(req, REQUEST_TIMEOUT).await?, "network call results").await
    }

    /// `POST /v1/network/click-to-dial`: the SIP proxy calls this device's number `from` (its
    /// only one when `None`) and, once answered, connects it to `to`. The session follows from
    /// the proxy's reports like any call's.
    pub async fn click_to_dial(
        &self,
        from: Option<&str>,
        to: &str,
    ) -> Result<ClickToDialPlaced, Error> {
        let req = self
            .request(Method::POST, &["v1", "network", "click-to-dial"])
            .json(&ClickToDial {
                from: from.map(str::to_owned),
                to: to.to_owned(),
            });
        json(send(req, REQUEST_TIMEOUT).await?, "click-to-dial").await
    }

    /// `POST /v1/sessions/{key}/end-call`: an automated system taking part ends the session's
    /// call through the SIP proxy (the voicemail's "end call", S1-F15).
    pub async fn end_call(&self, key: &str) -> Result<(), Error> {
        let req = self.request(Method::POST, &["v1", "sessions", key, "end-call"]);
        send(req, REQUEST_TIMEOUT).await?;
        Ok(())
    }

    /// `GET /v1/me/coupling`: whether this device gets the sessions of calls the network reports
    /// for its numbers (S1-F0).
    pub async fn coupling(&self) -> Result<CouplingState, Error> {
        let req = self.request(Method::GET, &["v1", "me", "coupling"]);
        json(send(req, REQUEST_TIMEOUT).await?, "coupling").await
    }

    /// `PUT /v1/me/coupling`: `always`, `when_near` or `never`.
    pub async fn set_coupling(&self, mode: Coupling) -> Result<CouplingState, Error> {
        let req = self
            .request(Method::PUT, &["v1", "me", "coupling"])
            .json(&SetCoupling { mode });
        json(send(req, REQUEST_TIMEOUT).await?, "coupling").await
    }

    /// `POST /v1/me/near`: near the phone for the next `secs` seconds (0: left).
    pub async fn near(&self, secs: u64) -> Result<CouplingState, Error> {
        let req = self
            .request(Method::POST, &["v1", "me", "near"])
            .json(&Near { secs });
        json(send(req, REQUEST_TIMEOUT).await?, "coupling").await
    }
}
