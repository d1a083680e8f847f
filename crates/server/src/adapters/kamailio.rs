//! Kamailio's JSON-RPC over HTTP (the `jsonrpcs` module behind `xhttp`; `deploy/kamailio`):
//! the calls it has (`dlg.list`), ending one (`dlg.end_dlg`), and click-to-dial
//! (`dlg.bridge_dlg`: the proxy calls the first party and refers it to the second). What callside
//! does with them is the calls domain's business; this is the transport and the answers' format.

use serde::Deserialize;
use serde_json::{json, Value};
use std::time::Duration;

/// Kamailio could not be asked, or did not answer usably. Says what went wrong in words that
/// finish "Kamailio …".
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Down(pub(crate) String);

/// One of Kamailio's dialogs (calls), as `dlg.list` gives it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct Dialog {
    #[serde(rename = "call-id")]
    pub(crate) call_id: String,
    pub(crate) h_entry: u64,
    pub(crate) h_id: u64,
    /// 1 unconfirmed, 2 early, 3 confirmed without ACK, 4 confirmed, 5 deleted.
    pub(crate) state: u8,
}

pub(crate) struct Kamailio {
    url: String,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    result: Option<Value>,
    #[serde(default)]
    error: Option<RpcError>,
}

#[derive(Deserialize)]
struct RpcError {
    #[serde(default)]
    code: i64,
    #[serde(default)]
    message: String,
}

impl Kamailio {
    pub(crate) fn new(url: String) -> Self {
        Kamailio {
            url,
            // The RPC listener is the operator's, normally on loopback.
            http: super::net::client(true, Duration::from_secs(5)),
        }
    }

    async fn call(&self, method: &str, params: Value) -> Result<Value, Down> {
        let body = json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 1});
        let resp = self
            .http
            .post(&self.url)
            .json(&body)
            .send()
            .await
            .map_err(|e| Down(format!("did not answer at {}: {e}", self.url)))?;
        if !resp.status().is_success() {
            return Err(Down(format!("answered HTTP {} to {method}", resp.status())));
        }
        let answer: Answer = resp.json().await.map_err(|e| {
            Down(format!(
                "answered {method} with something other than JSON-RPC: {e}"
            ))
        })?;
        match (answer.result, answer.error) {
            (_, Some(e)) => Err(Down(format!(
                "refused {method}: {} ({})",
                e.message, e.code
            ))),
            (Some(r), None) => Ok(r),
            (None, None) => Ok(Value::Null),
        }
    }

    /// Every dialog Kamailio tracks now.
    pub(crate) async fn dialogs(&self) -> Result<Vec<Dialog>, Down> {
        let result = self.call("dlg.list", json!([])).await?;
        parse_dialogs(result)
    }

    /// Ends the call with SIP Call-ID `call_id` (a BYE to both ends); `false` if Kamailio has
    /// no such call.
    pub(crate) async fn end(&self, call_id: &str) -> Result<bool, Down> {
        let Some(d) = self
            .dialogs()
            .await?
            .into_iter()
            .find(|d| d.call_id == call_id)
        else {
            return Ok(false);
        };
        self.call("dlg.end_dlg", json!([d.h_entry, d.h_id])).await?;
        Ok(true)
    }

    /// Click-to-dial: the proxy calls `first` and, once it answers, refers it to `second`.
    pub(crate) async fn bridge(&self, first: &str, second: &str, proxy: &str) -> Result<(), Down> {
        self.call("dlg.bridge_dlg", json!([first, second, proxy]))
            .await
            .map(|_| ())
    }
}

/// `dlg.list`'s result: an array of dialogs (or `null`/absent when there are none).
fn parse_dialogs(result: Value) -> Result<Vec<Dialog>, Down> {
    match result {
        Value::Null => Ok(vec![]),
        Value::Array(items) => items
            .into_iter()
            .map(|d| {
                serde_json::from_value(d)
                    .map_err(|e| Down(format!("listed a dialog callside cannot read: {e}")))
            })
            .collect(),
        other => Err(Down(format!("answered dlg.list with {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dialogs_are_read_from_what_kamailio_5_6_lists() {
        // As deploy/kamailio/README.md shows it (trimmed).
        let listed = json!([{
            "h_entry": 44, "h_id": 3170, "ref": 2, "call-id": "rpc-1-15727@127.0.0.1",
            "from_uri": "sip:+442079460001@127.0.0.1:35000", "to_uri": "sip:+442079460002@127.0.0.1",
            "state": 4, "start_ts": 1796620000, "timeout": 1796663200,
            "variables": [{"caller": "+442079460001"}, {"callee": "+442079460002"}]
        }]);
        let d = parse_dialogs(listed).unwrap();
        assert_eq!(
            d,
            vec![Dialog {
                call_id: "rpc-1-15727@127.0.0.1".into(),
                h_entry: 44,
                h_id: 3170,
                state: 4
            }]
        );
        assert_eq!(parse_dialogs(Value::Null).unwrap(), vec![]);
        assert!(parse_dialogs(json!({"x": 1})).is_err());
        assert!(parse_dialogs(json!([{"call-id": "x"}])).is_err());
    }
}
