//! The call centre as a supervisor sees it: each group's waiting calls (how long they have
//! waited, from which page) and every agent of the merchant with its status and call.

use super::super::{Error, Merchants};
use crate::clock::now_ms;
use callside_core::acd::{CallState, Presence};
use callside_core::Millis;

/// The call centre now.
pub(crate) struct Board {
    pub(crate) queues: Vec<BoardQueue>,
    pub(crate) agents: Vec<BoardAgent>,
}

/// A group with calls waiting.
pub(crate) struct BoardQueue {
    pub(crate) group: String,
    pub(crate) calls: Vec<BoardCall>,
    pub(crate) handle_ms: Option<Millis>,
}

/// A waiting call.
pub(crate) struct BoardCall {
    pub(crate) id: String,
    pub(crate) waited_ms: Millis,
    pub(crate) page: Option<String>,
}

/// One of the merchant's agents.
pub(crate) struct BoardAgent {
    pub(crate) id: String,
    pub(crate) name: String,
    /// `offline`, `available`, `away`, `ringing` or `talking`.
    pub(crate) status: &'static str,
    pub(crate) call: Option<String>,
    /// How long in this status (ringing, talking) or idle (available, away).
    pub(crate) for_ms: Option<Millis>,
}

impl Merchants {
    /// `merchant`'s call centre now.
    pub(crate) async fn board(&self, merchant: &str) -> Result<Board, Error> {
        let now = now_ms();
        let board = self.centre.acd().board(merchant);
        let mut queues = Vec::with_capacity(board.queues.len());
        for (group, ids) in &board.queues {
            let mut calls = Vec::with_capacity(ids.len());
            for id in ids {
                let Some(click) = self.store.click(id.clone()).await? else {
                    continue;
                };
                let page = serde_json::from_str::<serde_json::Value>(&click.context)
                    .ok()
                    .and_then(|c| c.get("page")?.as_str().map(str::to_owned));
                calls.push(BoardCall {
                    id: id.clone(),
                    waited_ms: now - click.created_at,
                    page,
                });
            }
            let handle_ms = board
                .handle_ms
                .iter()
                .find(|(g, _)| g == group)
                .map(|(_, ms)| *ms);
            queues.push(BoardQueue {
                group: group.clone(),
                calls,
                handle_ms,
            });
        }
        let agents = self
            .store
            .agents(merchant.to_owned())
            .await?
            .into_iter()
            .map(|a| {
                let on = board
                    .agents
                    .iter()
                    .find(|b| b.agent == a.principal.as_str());
                let (status, call, for_ms) = match on {
                    None => ("offline", None, None),
                    Some(b) => match &b.call {
                        Some((c, CallState::Ringing { since, .. })) => {
                            ("ringing", Some(c.clone()), Some(now - since))
                        }
                        Some((c, CallState::Talking { since, .. })) => {
                            ("talking", Some(c.clone()), Some(now - since))
                        }
                        _ => {
                            let status = match b.presence {
                                Presence::Available => "available",
                                Presence::Away => "away",
                            };
                            (status, None, Some(now - b.idle_since))
                        }
                    },
                };
                BoardAgent {
                    id: a.id,
                    name: a.name,
                    status,
                    call,
                    for_ms,
                }
            })
            .collect();
        Ok(Board { queues, agents })
    }
}
