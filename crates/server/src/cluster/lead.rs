//! The leader: the one node of a cluster that matches calls. Pending legs, ringing invitations
//! and the call centre's queues live in one process's memory, so one node at a time holds them:
//! the one holding the `matcher` lease in the database ([`callside_store::Leases`]). The other
//! nodes forward the requests that reach that state (leg reports, network elements' call events,
//! invitations, the merchants' call centre; `http/lead.rs` says which) to the leader over NATS
//! (`<name>.lead`, which only the leader subscribes to) and relay its answer.
//!
//! Every node tries to take the lease once a second. The node that takes it reads the pending
//! state back from the store (as a restarted single node does), then starts answering. A leader
//! that finds its lease gone (its database connection lost) stops the whole process: its memory
//! may already disagree with the new leader's, and a restarted node rejoins as a follower. When
//! the leader is killed, its connection goes with it and another node takes over within about a
//! second; requests forwarded meanwhile are answered `503` and sent again by the client.

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The lease's name.
pub(crate) const ROLE: &str = "matcher";
/// How often a follower tries the lease and the leader checks it.
const EVERY: Duration = Duration::from_secs(1);

// NATS header names of the exchange; the HTTP headers travel as they are.
const METHOD: &str = "callside-method";
const PATH: &str = "callside-path";
const CLIENT: &str = "callside-client";
const STATUS: &str = "callside-status";

/// An HTTP request a follower forwards to the leader, in plain data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Forwarded {
    pub(crate) method: String,
    /// Path and query.
    pub(crate) path: String,
    /// The client's address as the follower saw it (for per-address limits).
    pub(crate) client: Option<std::net::IpAddr>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Bytes,
}

/// The leader's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Bytes,
}

/// Runs a forwarded request on the leader (the edge builds it from the router).
pub(crate) type Handler = Arc<dyn Fn(Forwarded) -> BoxFuture<'static, Answer> + Send + Sync>;

/// What the leader does when it takes the lease: read the pending state back, start the loops
/// that work on it.
pub(crate) type OnLead = Box<dyn FnOnce() -> BoxFuture<'static, Result<(), String>> + Send>;

/// Whether this node leads, and the way to the leader when it does not.
pub(crate) struct Lead {
    client: async_nats::Client,
    subject: String,
    leading: AtomicBool,
}

/// Why a forwarded request got no answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Unanswered {
    #[error("no node is matching calls right now (the leader is changing); try again in a second")]
    NoLeader,
    #[error("the leader did not answer in time")]
    TimedOut,
    #[error("the link to the other nodes failed: {0}")]
    Link(String),
}

impl Lead {
    pub(super) fn new(client: async_nats::Client, name: &str) -> Lead {
        Lead {
            client,
            subject: format!("{name}.lead"),
            leading: AtomicBool::new(false),
        }
    }

    /// Whether this node holds the lease now.
    pub(crate) fn is_leader(&self) -> bool {
        self.leading.load(Ordering::SeqCst)
    }

    /// Sends `request` to the leader and waits up to `wait` for its answer.
    pub(crate) async fn forward(
        &self,
        request: Forwarded,
        wait: Duration,
    ) -> Result<Answer, Unanswered> {
        let (headers, body) = encode_request(&request);
        let nats = async_nats::Request::new()
            .headers(headers)
            .payload(body)
            .timeout(Some(wait));
        match self.client.send_request(self.subject.clone(), nats).await {
            Ok(m) => decode_answer(&m).map_err(Unanswered::Link),
            Err(e) => Err(match e.kind() {
                async_nats::client::RequestErrorKind::NoResponders => Unanswered::NoLeader,
                async_nats::client::RequestErrorKind::TimedOut => Unanswered::TimedOut,
                _ => Unanswered::Link(e.to_string()),
            }),
        }
    }
}

/// What the lead loop needs.
pub(crate) struct Leading {
    pub(crate) lead: Arc<Lead>,
    pub(crate) store: crate::Store,
    pub(crate) handler: Handler,
    pub(crate) on_lead: OnLead,
    pub(crate) tasks: crate::supervisor::Tasks,
    /// Set (and the server stopped) when the lease is lost.
    pub(crate) fatal: Arc<AtomicBool>,
    pub(crate) stop: tokio_util::sync::CancellationToken,
}

/// Tries the lease until it is this node's, then leads until the server stops or the lease is
/// lost (which stops the server).
pub(crate) async fn run(l: Leading) {
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let lease = loop {
        tokio::select! {
            _ = l.stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        match l.store.try_lease(ROLE).await {
            Ok(Some(lease)) => break lease,
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "could not try the matcher lease"),
        }
    };
    tracing::info!("this node now matches calls for the cluster");
    if let Err(e) = (l.on_lead)().await {
        tracing::error!(error = %e, "could not take over call matching; stopping");
        l.fatal.store(true, Ordering::SeqCst);
        l.stop.cancel();
        return;
    }
    let mut requests = match l.lead.client.subscribe(l.lead.subject.clone()).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "could not take forwarded requests; stopping");
            l.fatal.store(true, Ordering::SeqCst);
            l.stop.cancel();
            return;
        }
    };
    l.lead.leading.store(true, Ordering::SeqCst);
    loop {
        tokio::select! {
            _ = l.stop.cancelled() => break,
            _ = tick.tick() => {
                if !lease.holds().await {
                    tracing::error!("the matcher lease was lost (the database connection holding it failed); stopping so that another node takes over");
                    l.lead.leading.store(false, Ordering::SeqCst);
                    l.fatal.store(true, Ordering::SeqCst);
                    l.stop.cancel();
                    break;
                }
            }
            Some(m) = requests.next() => {
                let (handler, client) = (l.handler.clone(), l.lead.client.clone());
                l.tasks.spawn(async move {
                    let Some(reply) = m.reply.clone() else { return };
                    let answer = match decode_request(&m) {
                        Ok(request) => handler(request).await,
                        Err(e) => Answer {
                            status: 400,
                            headers: vec![],
                            body: Bytes::from(format!("a malformed forwarded request: {e}")),
                        },
                    };
                    let (headers, body) = encode_answer(&answer);
                    if let Err(e) = client.publish_with_headers(reply, headers, body).await {
                        tracing::warn!(error = %e, "could not answer a forwarded request");
                    }
                });
            }
        }
    }
    l.lead.leading.store(false, Ordering::SeqCst);
}

fn encode_request(r: &Forwarded) -> (async_nats::HeaderMap, Bytes) {
    let mut h = async_nats::HeaderMap::new();
    h.insert(METHOD, r.method.as_str());
    h.insert(PATH, r.path.as_str());
    if let Some(ip) = r.client {
        h.insert(CLIENT, ip.to_string());
    }
    // A client's header named like one of ours would otherwise pass for it on the leader (a
    // client address of its choosing, when the follower knew none).
    for (k, v) in r.headers.iter().filter(|(k, _)| !is_ours(k)) {
        h.append(k.as_str(), v.as_str());
    }
    (h, r.body.clone())
}

fn is_ours(name: &str) -> bool {
    [METHOD, PATH, CLIENT, STATUS]
        .iter()
        .any(|ours| name.eq_ignore_ascii_case(ours))
}

fn decode_request(m: &async_nats::Message) -> Result<Forwarded, String> {
    let h = m.headers.as_ref().ok_or("no headers")?;
    let get = |n: &str| h.get(n).map(|v| v.as_str().to_owned());
    let client = match get(CLIENT) {
        Some(ip) => Some(
            ip.parse()
                .map_err(|_| format!("bad client address `{ip}`"))?,
        ),
        None => None,
    };
    Ok(Forwarded {
        method: get(METHOD).ok_or("no method")?,
        path: get(PATH).ok_or("no path")?,
        client,
        headers: http_headers(h),
        body: m.payload.clone(),
    })
}

fn encode_answer(a: &Answer) -> (async_nats::HeaderMap, Bytes) {
    let mut h = async_nats::HeaderMap::new();
    h.insert(STATUS, a.status.to_string());
    for (k, v) in a.headers.iter().filter(|(k, _)| !is_ours(k)) {
        h.append(k.as_str(), v.as_str());
    }
    (h, a.body.clone())
}

fn decode_answer(m: &async_nats::Message) -> Result<Answer, String> {
    let h = m.headers.as_ref().ok_or("an answer with no headers")?;
    let status = h
        .get(STATUS)
        .and_then(|s| s.as_str().parse().ok())
        .ok_or("an answer with no status")?;
    Ok(Answer {
        status,
        headers: http_headers(h),
        body: m.payload.clone(),
    })
}

/// The HTTP headers of a NATS header map: every one but ours.
fn http_headers(h: &async_nats::HeaderMap) -> Vec<(String, String)> {
    h.iter()
        .filter(|(name, _)| !is_ours(name.as_ref()))
        .flat_map(|(name, values)| {
            values
                .iter()
                .map(move |v| (name.to_string(), v.as_str().to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(headers: async_nats::HeaderMap, payload: Bytes) -> async_nats::Message {
        async_nats::Message {
            subject: "callside.lead".into(),
            reply: Some("_INBOX.x".into()),
            payload,
            headers: Some(headers),
            status: None,
            description: None,
            length: 0,
        }
    }

    #[test]
    fn requests_and_answers_cross_as_they_were() {
        let request = Forwarded {
            method: "POST".into(),
            path: "/v1/legs?wait=5".into(),
            client: Some("192.0.2.7".parse().unwrap()),
            headers: vec![
                ("authorization".into(), "Bearer dev_x".into()),
                ("accept".into(), "application/json".into()),
                ("accept".into(), "text/plain".into()),
            ],
            body: Bytes::from_static(br#"{"own":"+442079460001"}"#),
        };
        let (h, body) = encode_request(&request);
        let mut back = decode_request(&message(h, body)).unwrap();
        back.headers.sort();
        let mut want = request.clone();
        want.headers.sort();
        assert_eq!(back, want);

        let answer = Answer {
            status: 201,
            headers: vec![("content-type".into(), "application/json".into())],
            body: Bytes::from_static(b"{}"),
        };
        let (h, body) = encode_answer(&answer);
        assert_eq!(decode_answer(&message(h, body)).unwrap(), answer);
    }

    #[test]
    fn a_clients_header_named_like_ours_does_not_cross() {
        let request = Forwarded {
            method: "POST".into(),
            path: "/v1/legs".into(),
            client: None,
            headers: vec![
                ("callside-client".into(), "198.51.100.9".into()),
                ("Callside-Path".into(), "/v1/admin/devices".into()),
                ("accept".into(), "application/json".into()),
            ],
            body: Bytes::new(),
        };
        let (h, body) = encode_request(&request);
        let back = decode_request(&message(h, body)).unwrap();
        assert_eq!(back.client, None, "no address of the client's choosing");
        assert_eq!(back.path, "/v1/legs");
        assert_eq!(
            back.headers,
            vec![("accept".into(), "application/json".into())]
        );
    }

    #[test]
    fn a_request_without_its_method_or_with_a_bad_address_is_refused() {
        let mut h = async_nats::HeaderMap::new();
        h.insert(PATH, "/v1/legs");
        assert!(decode_request(&message(h.clone(), Bytes::new())).is_err());
        h.insert(METHOD, "GET");
        h.insert(CLIENT, "not an address");
        assert!(decode_request(&message(h, Bytes::new()))
            .unwrap_err()
            .contains("bad client address"));
    }
}
