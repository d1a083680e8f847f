//! A participant's own place in a session: moving it to another device, and its word on the
//! session's history.

use crate::client::{json, send, REQUEST_TIMEOUT};
use crate::{Client, Error};
use callside_proto::session::SessionInfo;
use reqwest::Method;

impl Client {
    /// `POST /v1/sessions/{key}/transfer`: hand this device's place in a session to another
    /// device of the same user (one sharing a number with this one).
    pub async fn transfer_session(&self, key: &str, to_device: &str) -> Result<SessionInfo, Error> {
        let req = self
            .request(Method::POST, &["v1", "sessions", key, "transfer"])
            .json(&callside_proto::session::Transfer {
                to: to_device.into(),
            });
        json(send(req, REQUEST_TIMEOUT).await?, "session").await
    }

    /// `PUT /v1/sessions/{key}/history`: this participant's word on showing the messages sent
    /// so far to those who join later. A joiner reads them only if someone shares them and
    /// nobody withholds them; `None` withdraws the word.
    pub async fn set_history(
        &self,
        key: &str,
        consent: Option<callside_proto::session::History>,
    ) -> Result<SessionInfo, Error> {
        let req = self
            .request(Method::PUT, &["v1", "sessions", key, "history"])
            .json(&callside_proto::session::SetHistory { consent });
        json(send(req, REQUEST_TIMEOUT).await?, "session").await
    }
}
