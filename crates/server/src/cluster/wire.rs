//! How a note travels between nodes: NATS headers say what it is and whom it is for; the payload
//! is the frame exactly as sockets receive it (serialised once, by the node that committed it).

use crate::hub::{Append, Counted, Outbound};
use async_nats::HeaderMap;
use bytes::Bytes;
use callside_core::{PrincipalId, SessionKey};
use std::sync::Arc;

/// What one node tells the others.
#[derive(Debug, Clone)]
pub(crate) enum Note {
    /// Frames for these principals' sockets; `append` when the frame is a committed message.
    Deliver {
        to: Vec<PrincipalId>,
        item: Arc<Outbound>,
        append: Option<Append>,
    },
    /// Close the sockets `principal` opened through `browser` (it was unlinked).
    Browser {
        principal: PrincipalId,
        browser: String,
        frame: Arc<str>,
    },
    /// A session changed in a way a cached copy cannot follow.
    Changed(SessionKey),
    /// A principal's credentials changed.
    Evicted(PrincipalId),
    /// A WebSocket ticket (its SHA-256) was used; it expires at `until`.
    TicketUsed { hash: [u8; 32], until: i64 },
    /// `by` answered a question on a session (`asked`: `location` or `capability`).
    Answered {
        key: SessionKey,
        by: PrincipalId,
        asked: String,
        request: String,
    },
    /// Something was let through a limit the cluster shares.
    Counted(Counted),
    /// A device's personal data was erased.
    Erased(PrincipalId),
    /// Notes were lost: resume sockets, reload sessions and tokens.
    Resync,
}

// Header names: short, as every note carries them.
const NOTE: &str = "n";
const OUTBOUND: &str = "o";
const TO: &str = "to";
const SESSION: &str = "s";
const SEQ: &str = "q";
const SENDER: &str = "f";
const CLIENT_ID: &str = "c";
const PLAIN: &str = "p";
const BROWSER: &str = "b";
const ASKED: &str = "k";
const WHAT: &str = "w";

pub(crate) fn encode(note: &Note) -> (HeaderMap, Bytes) {
    let mut h = HeaderMap::new();
    let payload = match note {
        Note::Deliver { to, item, append } => {
            h.insert(NOTE, "d");
            h.insert(TO, join(to));
            match &**item {
                Outbound::Message { key, seq, json, .. } => {
                    h.insert(OUTBOUND, "m");
                    h.insert(SESSION, key.as_str());
                    h.insert(SEQ, seq.to_string());
                    if let Some(a) = append {
                        h.insert(SENDER, a.sender.as_str());
                        if let Some(id) = &a.client_id {
                            h.insert(CLIENT_ID, id.as_str());
                        }
                        h.insert(PLAIN, if a.plain { "1" } else { "0" });
                    }
                    Bytes::copy_from_slice(json.as_bytes())
                }
                Outbound::Frame(json) => {
                    h.insert(OUTBOUND, "f");
                    Bytes::copy_from_slice(json.as_bytes())
                }
                Outbound::Revoked(json) => {
                    h.insert(OUTBOUND, "r");
                    Bytes::copy_from_slice(json.as_bytes())
                }
            }
        }
        Note::Browser {
            principal,
            browser,
            frame,
        } => {
            h.insert(NOTE, "b");
            h.insert(TO, principal.0.as_str());
            h.insert(BROWSER, browser.as_str());
            Bytes::copy_from_slice(frame.as_bytes())
        }
        Note::Changed(key) => {
            h.insert(NOTE, "c");
            h.insert(SESSION, key.as_str());
            Bytes::new()
        }
        Note::Evicted(p) => {
            h.insert(NOTE, "e");
            h.insert(TO, p.0.as_str());
            Bytes::new()
        }
        Note::Resync => {
            h.insert(NOTE, "x");
            Bytes::new()
        }
        Note::Erased(who) => {
            h.insert(NOTE, "z");
            h.insert(TO, who.0.as_str());
            Bytes::new()
        }
        Note::Counted(Counted::LiveLocation(who)) => {
            h.insert(NOTE, "u");
            h.insert(WHAT, "l");
            h.insert(TO, who.0.as_str());
            Bytes::new()
        }
        Note::Counted(Counted::Upload { who, day, bytes }) => {
            h.insert(NOTE, "u");
            h.insert(WHAT, "u");
            h.insert(TO, who.0.as_str());
            h.insert(SEQ, day.to_string());
            Bytes::from(bytes.to_string())
        }
        Note::TicketUsed { hash, until } => {
            h.insert(NOTE, "t");
            h.insert(SEQ, until.to_string());
            Bytes::copy_from_slice(hash)
        }
        Note::Answered {
            key,
            by,
            asked,
            request,
        } => {
            h.insert(NOTE, "a");
            h.insert(SESSION, key.as_str());
            h.insert(TO, by.0.as_str());
            h.insert(ASKED, asked.as_str());
            Bytes::copy_from_slice(request.as_bytes())
        }
    };
    (h, payload)
}

pub(crate) fn decode(m: &async_nats::Message) -> Result<Note, String> {
    let h = m.headers.as_ref().ok_or("no headers")?;
    let get = |name: &str| h.get(name).map(|v| v.as_str());
    let need = |name: &str| get(name).ok_or_else(|| format!("no `{name}` header"));
    let text = || -> Result<Arc<str>, String> {
        std::str::from_utf8(&m.payload)
            .map(Arc::from)
            .map_err(|_| "a payload that is not UTF-8".to_string())
    };
    let session = |s: &str| SessionKey::parse(s).ok_or_else(|| format!("bad session `{s}`"));
    Ok(match need(NOTE)? {
        "d" => {
            let to = need(TO)?
                .split(',')
                .filter(|p| !p.is_empty())
                .map(|p| PrincipalId(p.into()))
                .collect();
            let (item, append) = match need(OUTBOUND)? {
                "m" => {
                    let seq = need(SEQ)?;
                    let item = Outbound::Message {
                        key: session(need(SESSION)?)?,
                        seq: seq.parse().map_err(|_| format!("bad seq `{seq}`"))?,
                        json: text()?,
                        at: std::time::Instant::now(),
                    };
                    let append = get(SENDER).map(|sender| Append {
                        sender: sender.into(),
                        client_id: get(CLIENT_ID).map(Into::into),
                        plain: get(PLAIN) == Some("1"),
                    });
                    (item, append)
                }
                "f" => (Outbound::Frame(text()?), None),
                "r" => (Outbound::Revoked(text()?), None),
                other => return Err(format!("unknown frame kind `{other}`")),
            };
            Note::Deliver {
                to,
                item: Arc::new(item),
                append,
            }
        }
        "b" => Note::Browser {
            principal: PrincipalId(need(TO)?.into()),
            browser: need(BROWSER)?.into(),
            frame: text()?,
        },
        "c" => Note::Changed(session(need(SESSION)?)?),
        "e" => Note::Evicted(PrincipalId(need(TO)?.into())),
        "z" => Note::Erased(PrincipalId(need(TO)?.into())),
        "x" => Note::Resync,
        "t" => Note::TicketUsed {
            hash: m.payload[..]
                .try_into()
                .map_err(|_| "a ticket hash that is not 32 bytes".to_string())?,
            until: need(SEQ)?
                .parse()
                .map_err(|_| "bad ticket expiry".to_string())?,
        },
        "a" => Note::Answered {
            key: session(need(SESSION)?)?,
            by: PrincipalId(need(TO)?.into()),
            asked: need(ASKED)?.into(),
            request: text()?.to_string(),
        },
        "u" => {
            let who = PrincipalId(need(TO)?.into());
            Note::Counted(match need(WHAT)? {
                "l" => Counted::LiveLocation(who),
                "u" => Counted::Upload {
                    who,
                    day: need(SEQ)?.parse().map_err(|_| "bad day".to_string())?,
                    bytes: text()?.parse().map_err(|_| "bad byte count".to_string())?,
                },
                other => return Err(format!("unknown limit `{other}`")),
            })
        }
        other => return Err(format!("unknown note `{other}`")),
    })
}

fn join(to: &[PrincipalId]) -> String {
    let mut s = String::with_capacity(to.iter().map(|p| p.0.len() + 1).sum());
    for (i, p) in to.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&p.0);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(note: &Note) -> Note {
        let (headers, payload) = encode(note);
        let m = async_nats::Message {
            subject: "callside.fanout".into(),
            reply: None,
            payload,
            headers: Some(headers),
            status: None,
            description: None,
            length: 0,
        };
        decode(&m).unwrap()
    }

    #[test]
    fn every_note_reads_back_as_written() {
        let key = SessionKey::generate(0);
        let to = vec![PrincipalId("dev_a".into()), PrincipalId("dev_b".into())];
        let message = Note::Deliver {
            to: to.clone(),
            item: Arc::new(Outbound::Message {
                key: key.clone(),
                seq: 42,
                json: r#"{"type":"message","body":"h\u00e9, ünïcode"}"#.into(),
                at: std::time::Instant::now(),
            }),
            append: Some(Append {
                sender: "dev_a".into(),
                client_id: Some("c-1".into()),
                plain: true,
            }),
        };
        match round_trip(&message) {
            Note::Deliver {
                to: t,
                item,
                append,
            } => {
                assert_eq!(t, to);
                assert!(
                    matches!(&*item, Outbound::Message { key: k, seq: 42, json, .. } if *k == key && json.contains("ünïcode"))
                );
                assert_eq!(
                    append,
                    Some(Append {
                        sender: "dev_a".into(),
                        client_id: Some("c-1".into()),
                        plain: true
                    })
                );
            }
            other => panic!("{other:?}"),
        }
        let frame = Note::Deliver {
            to: to[..1].to_vec(),
            item: Arc::new(Outbound::Revoked("bye".into())),
            append: None,
        };
        assert!(matches!(round_trip(&frame),
            Note::Deliver { to: t, item, append: None } if t == to[..1] && matches!(&*item, Outbound::Revoked(f) if &**f == "bye")));
        assert!(matches!(round_trip(&Note::Changed(key.clone())), Note::Changed(k) if k == key));
        assert!(
            matches!(round_trip(&Note::Evicted(to[1].clone())), Note::Evicted(p) if p == to[1])
        );
        assert!(matches!(round_trip(&Note::Resync), Note::Resync));
        assert!(matches!(round_trip(&Note::Erased(to[0].clone())), Note::Erased(p) if p == to[0]));
        let answered = Note::Answered {
            key: key.clone(),
            by: to[1].clone(),
            asked: "location".into(),
            request: "req 7".into(),
        };
        assert!(matches!(
            round_trip(&Note::TicketUsed { hash: [9; 32], until: 1_700_000_000_000 }),
            Note::TicketUsed { hash, until: 1_700_000_000_000 } if hash == [9; 32]
        ));
        assert!(matches!(round_trip(&answered),
            Note::Answered { key: k, by, asked, request } if k == key && by == to[1] && asked == "location" && request == "req 7"));
        assert!(
            matches!(round_trip(&Note::Browser { principal: to[0].clone(), browser: "brw_1".into(), frame: "x".into() }),
            Note::Browser { principal, browser, frame } if principal == to[0] && browser == "brw_1" && &*frame == "x")
        );
        for counted in [
            Counted::LiveLocation(to[0].clone()),
            Counted::Upload {
                who: to[1].clone(),
                day: 20_430,
                bytes: 3_000_000_000,
            },
        ] {
            assert!(
                matches!(round_trip(&Note::Counted(counted.clone())), Note::Counted(c) if c == counted)
            );
        }
    }

    #[test]
    fn a_malformed_note_is_an_error_not_a_panic() {
        let mut h = HeaderMap::new();
        h.insert(NOTE, "d");
        h.insert(TO, "dev_a");
        h.insert(OUTBOUND, "m");
        h.insert(SESSION, "not-a-key");
        h.insert(SEQ, "1");
        let m = async_nats::Message {
            subject: "callside.fanout".into(),
            reply: None,
            payload: Bytes::from_static(b"{}"),
            headers: Some(h),
            status: None,
            description: None,
            length: 0,
        };
        assert!(decode(&m).unwrap_err().contains("bad session"));
    }
}
