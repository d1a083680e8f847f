//! Automatic call distribution (S4's call centre): visitors' calls wait in a queue per merchant
//! and agent group; the call at the head rings the available agent of that group who has been
//! idle longest; an agent who does not answer in time, declines, or drops (stops polling) puts
//! the call back at the front of its queue, so no call is lost.
//!
//! Pure state: the caller supplies the time and persists what the returned [`Event`]s say.

use crate::Millis;
use std::collections::{HashMap, VecDeque};

/// How long a call rings an agent before it goes back to the front of the queue.
pub const RING_MS: Millis = 20_000;
/// An agent not heard from for this long has dropped: its call is queued again.
pub const PRESENCE_MS: Millis = 45_000;
/// The handle time assumed before any call of a queue has ended.
pub const DEFAULT_HANDLE_MS: Millis = 120_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// Takes calls of its groups.
    Available,
    /// Signed in, takes no new call (after a decline or an unanswered ring too).
    Away,
}

/// Where a call is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallState {
    Waiting,
    /// Ringing `agent` since the moment given.
    Ringing {
        agent: String,
        since: Millis,
    },
    Talking {
        agent: String,
        since: Millis,
    },
}

/// What happened, for the caller to record and announce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The call rings the agent (whose console shows its context).
    Ring { call: String, agent: String },
    /// The call is back at the front of its queue.
    Requeued { call: String, why: Requeue },
    /// The agent stopped answering polls and is signed out.
    AgentDropped { agent: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requeue {
    Declined,
    NoAnswer,
    AgentDropped,
    AgentAway,
}

impl Requeue {
    pub fn as_str(self) -> &'static str {
        match self {
            Requeue::Declined => "declined",
            Requeue::NoAnswer => "no_answer",
            Requeue::AgentDropped => "agent_dropped",
            Requeue::AgentAway => "agent_away",
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AcdError {
    #[error("no such call in the queue")]
    UnknownCall,
    #[error("this call is not ringing this agent")]
    NotYours,
    #[error("the agent is not signed in")]
    SignedOut,
    #[error("the agent is on another call")]
    Busy,
}

/// A queue: a merchant's agent group.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QueueId {
    pub merchant: String,
    pub group: String,
}

#[derive(Debug, Clone)]
struct Call {
    queue: QueueId,
    state: CallState,
}

#[derive(Debug, Clone)]
struct Agent {
    merchant: String,
    groups: Vec<String>,
    presence: Presence,
    /// Since when it has had no call (the longest idle is offered first).
    idle_since: Millis,
    seen_at: Millis,
    call: Option<String>,
}

/// Where a waiting call stands, as its visitor is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    pub state: CallState,
    /// 1 at the head of the queue (waiting calls only).
    pub position: Option<usize>,
    /// Expected wait: calls ahead handled by the group's signed-in agents at their average
    /// handle time; none while no agent of the group is signed in.
    pub expected_wait_ms: Option<Millis>,
}

/// One merchant's call centre now ([`Acd::board`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Board {
    /// Each group with waiting calls, and those calls, head first (groups in name order).
    pub queues: Vec<(String, Vec<String>)>,
    /// The signed-in agents, by id.
    pub agents: Vec<BoardAgent>,
    /// Each group's average handle time, once one of its calls has ended.
    pub handle_ms: Vec<(String, Millis)>,
}

/// A signed-in agent on the board.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoardAgent {
    pub agent: String,
    pub presence: Presence,
    /// Its call (ringing it or in progress), with the call's state.
    pub call: Option<(String, CallState)>,
    /// Since when it has had no call.
    pub idle_since: Millis,
}

#[derive(Debug, Default)]
pub struct Acd {
    queues: HashMap<QueueId, VecDeque<String>>,
    calls: HashMap<String, Call>,
    agents: HashMap<String, Agent>,
    /// Average handle time per queue (exponentially weighted).
    handle: HashMap<QueueId, Millis>,
}

impl Acd {
    pub fn new() -> Self {
        Self::default()
    }

    /// A new call waits at the back of its queue.
    pub fn enqueue(&mut self, call: &str, queue: QueueId) {
        if self.calls.contains_key(call) {
            return;
        }
        self.queues
            .entry(queue.clone())
            .or_default()
            .push_back(call.to_owned());
        self.calls.insert(
            call.to_owned(),
            Call {
                queue,
                state: CallState::Waiting,
            },
        );
    }

    /// An agent signs in or changes presence (and is heard from). Going away while a call
    /// rings it puts that call back at the front.
    pub fn presence(
        &mut self,
        agent: &str,
        merchant: &str,
        groups: &[String],
        presence: Presence,
        now: Millis,
    ) -> Vec<Event> {
        let a = self
            .agents
            .entry(agent.to_owned())
            .or_insert_with(|| Agent {
                merchant: merchant.to_owned(),
                groups: Vec::new(),
                presence,
                idle_since: now,
                seen_at: now,
                call: None,
            });
        a.groups = groups.to_vec();
        a.presence = presence;
        a.seen_at = now;
        let mut events = Vec::new();
        if presence == Presence::Away {
            if let Some(call) = self.ringing_call_of(agent) {
                self.detach(&call);
                self.requeue(&call, Requeue::AgentAway, &mut events);
            }
        }
        events
    }

    /// A signed-in agent's groups changed (nothing for one signed out).
    pub fn regroup(&mut self, agent: &str, groups: &[String]) {
        if let Some(a) = self.agents.get_mut(agent) {
            a.groups = groups.to_vec();
        }
    }

    /// The agent was heard from (a poll).
    pub fn seen(&mut self, agent: &str, now: Millis) -> Result<(), AcdError> {
        let a = self.agents.get_mut(agent).ok_or(AcdError::SignedOut)?;
        a.seen_at = now;
        Ok(())
    }

    /// Signs the agent out; its ringing or talking call goes back to the front.
    pub fn sign_out(&mut self, agent: &str) -> Vec<Event> {
        let mut events = Vec::new();
        if let Some(a) = self.agents.remove(agent) {
            if let Some(call) = a.call {
                self.detach(&call);
                self.requeue(&call, Requeue::AgentDropped, &mut events);
            }
        }
        events
    }

    /// The call the agent has (ringing or talking), with its state.
    pub fn call_of(&self, agent: &str) -> Option<(String, CallState)> {
        let call = self.agents.get(agent)?.call.clone()?;
        let state = self.calls.get(&call)?.state.clone();
        Some((call, state))
    }

    pub fn is_signed_in(&self, agent: &str) -> bool {
        self.agents.contains_key(agent)
    }

    /// After a restart: a call its agent was talking on (the voice goes on between the two
    /// browsers) is the agent's again, the agent signed in and available as of `now`. An agent
    /// that does not come back within [`PRESENCE_MS`] is dropped as any other, and the call
    /// goes back to the front of its queue.
    pub fn restore_talking(
        &mut self,
        call: &str,
        queue: QueueId,
        agent: &str,
        groups: &[String],
        since: Millis,
        now: Millis,
    ) {
        let busy = self.agents.get(agent).is_some_and(|a| a.call.is_some());
        if self.calls.contains_key(call) || busy {
            return;
        }
        self.agents.insert(
            agent.to_owned(),
            Agent {
                merchant: queue.merchant.clone(),
                groups: groups.to_vec(),
                presence: Presence::Available,
                idle_since: now,
                seen_at: now,
                call: Some(call.to_owned()),
            },
        );
        self.calls.insert(
            call.to_owned(),
            Call {
                queue,
                state: CallState::Talking {
                    agent: agent.to_owned(),
                    since,
                },
            },
        );
    }

    /// The agent takes a call that never queued (a call to a number whose channel id it
    /// keyed): the call is the agent's, talking, as if it had answered it.
    pub fn link(
        &mut self,
        agent: &str,
        call: &str,
        merchant: &str,
        now: Millis,
    ) -> Result<(), AcdError> {
        let a = self.agents.get_mut(agent).ok_or(AcdError::SignedOut)?;
        if a.call.is_some() {
            return Err(AcdError::Busy);
        }
        if self.calls.contains_key(call) {
            return Err(AcdError::NotYours);
        }
        a.call = Some(call.to_owned());
        a.seen_at = now;
        self.calls.insert(
            call.to_owned(),
            Call {
                // No group: it never waited in a queue.
                queue: QueueId {
                    merchant: merchant.to_owned(),
                    group: String::new(),
                },
                state: CallState::Talking {
                    agent: agent.to_owned(),
                    since: now,
                },
            },
        );
        Ok(())
    }

    /// The agent answers the call ringing it.
    pub fn accept(&mut self, agent: &str, call: &str, now: Millis) -> Result<(), AcdError> {
        let c = self.calls.get_mut(call).ok_or(AcdError::UnknownCall)?;
        match &c.state {
            CallState::Ringing { agent: a, .. } if a == agent => {
                c.state = CallState::Talking {
                    agent: agent.to_owned(),
                    since: now,
                };
                if let Some(a) = self.agents.get_mut(agent) {
                    a.seen_at = now;
                }
                Ok(())
            }
            _ => Err(AcdError::NotYours),
        }
    }

    /// The agent declines the call ringing it: the call goes back to the front and the agent
    /// is away until it says otherwise.
    pub fn decline(&mut self, agent: &str, call: &str) -> Result<Vec<Event>, AcdError> {
        match self.calls.get(call).map(|c| &c.state) {
            Some(CallState::Ringing { agent: a, .. }) if a == agent => {}
            Some(_) => return Err(AcdError::NotYours),
            None => return Err(AcdError::UnknownCall),
        }
        if let Some(a) = self.agents.get_mut(agent) {
            a.presence = Presence::Away;
        }
        self.detach(call);
        let mut events = Vec::new();
        self.requeue(call, Requeue::Declined, &mut events);
        Ok(events)
    }

    /// The call is over (hung up by either side, or abandoned while waiting): it leaves the
    /// queue, and its agent is free again. Answers the agent it had, if any.
    pub fn end(&mut self, call: &str, now: Millis) -> Option<String> {
        let c = self.calls.remove(call)?;
        if let Some(q) = self.queues.get_mut(&c.queue) {
            q.retain(|x| x != call);
        }
        match c.state {
            CallState::Waiting => None,
            CallState::Ringing { agent, .. } => {
                self.free(&agent, now);
                Some(agent)
            }
            CallState::Talking { agent, since } => {
                let took = now.saturating_sub(since);
                let avg = self.handle.entry(c.queue).or_insert(took);
                // Weight 1/4 on the newest call.
                *avg = (*avg * 3 + took) / 4;
                self.free(&agent, now);
                Some(agent)
            }
        }
    }

    /// Rings available agents for the calls at the heads of their queues, and handles time:
    /// rings not answered in [`RING_MS`] and agents not heard from in [`PRESENCE_MS`] put their
    /// calls back at the front.
    pub fn tick(&mut self, now: Millis) -> Vec<Event> {
        let mut events = Vec::new();
        let dropped: Vec<String> = self
            .agents
            .iter()
            .filter(|(_, a)| now.saturating_sub(a.seen_at) >= PRESENCE_MS)
            .map(|(id, _)| id.clone())
            .collect();
        for agent in dropped {
            events.push(Event::AgentDropped {
                agent: agent.clone(),
            });
            events.extend(self.sign_out(&agent));
        }
        let unanswered: Vec<(String, String)> = self
            .calls
            .iter()
            .filter_map(|(id, c)| match &c.state {
                CallState::Ringing { agent, since } if now.saturating_sub(*since) >= RING_MS => {
                    Some((id.clone(), agent.clone()))
                }
                _ => None,
            })
            .collect();
        for (call, agent) in unanswered {
            if let Some(a) = self.agents.get_mut(&agent) {
                a.presence = Presence::Away;
            }
            self.detach(&call);
            self.requeue(&call, Requeue::NoAnswer, &mut events);
        }
        self.dispatch(now, &mut events);
        events
    }

    /// One merchant's call centre as it is now, for its supervisors.
    pub fn board(&self, merchant: &str) -> Board {
        let mut queues: Vec<(String, Vec<String>)> = self
            .queues
            .iter()
            .filter(|(q, calls)| q.merchant == merchant && !calls.is_empty())
            .map(|(q, calls)| (q.group.clone(), calls.iter().cloned().collect()))
            .collect();
        queues.sort();
        let mut agents: Vec<BoardAgent> = self
            .agents
            .iter()
            .filter(|(_, a)| a.merchant == merchant)
            .map(|(id, a)| BoardAgent {
                agent: id.clone(),
                presence: a.presence,
                call: a.call.as_ref().and_then(|c| {
                    let state = self.calls.get(c)?.state.clone();
                    Some((c.clone(), state))
                }),
                idle_since: a.idle_since,
            })
            .collect();
        agents.sort_by(|a, b| a.agent.cmp(&b.agent));
        let mut handle_ms: Vec<(String, Millis)> = self
            .handle
            .iter()
            .filter(|(q, _)| q.merchant == merchant)
            .map(|(q, ms)| (q.group.clone(), *ms))
            .collect();
        handle_ms.sort();
        Board {
            queues,
            agents,
            handle_ms,
        }
    }

    /// Where a call stands.
    pub fn standing(&self, call: &str) -> Option<Standing> {
        let c = self.calls.get(call)?;
        let position = match c.state {
            CallState::Waiting => self
                .queues
                .get(&c.queue)
                .and_then(|q| q.iter().position(|x| x == call))
                .map(|i| i + 1),
            _ => None,
        };
        let staffed = self
            .agents
            .values()
            .filter(|a| a.merchant == c.queue.merchant && a.groups.contains(&c.queue.group))
            .count() as Millis;
        let expected_wait_ms = match (position, staffed) {
            (Some(p), s) if s > 0 => {
                let handle = self
                    .handle
                    .get(&c.queue)
                    .copied()
                    .unwrap_or(DEFAULT_HANDLE_MS);
                // Calls ahead of this one, shared among the agents, each taking a handle time.
                Some((p as Millis - 1) / s * handle + handle / 2)
            }
            (Some(_), _) => None,
            (None, _) => Some(0),
        };
        Some(Standing {
            state: c.state.clone(),
            position,
            expected_wait_ms,
        })
    }

    /// Calls waiting, ringing or talking.
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    // ------------------------------------------------------------------------------ internals

    fn ringing_call_of(&self, agent: &str) -> Option<String> {
        let call = self.agents.get(agent)?.call.clone()?;
        matches!(self.calls.get(&call)?.state, CallState::Ringing { .. }).then_some(call)
    }

    /// Unhooks `call` from its agent (who becomes idle now-ish: `idle_since` unchanged, so a
    /// declining agent does not jump the line).
    fn detach(&mut self, call: &str) {
        let agent = match self.calls.get(call).map(|c| &c.state) {
            Some(CallState::Ringing { agent, .. } | CallState::Talking { agent, .. }) => {
                agent.clone()
            }
            _ => return,
        };
        if let Some(a) = self.agents.get_mut(&agent) {
            if a.call.as_deref() == Some(call) {
                a.call = None;
            }
        }
    }

    fn free(&mut self, agent: &str, now: Millis) {
        if let Some(a) = self.agents.get_mut(agent) {
            a.call = None;
            a.idle_since = now;
        }
    }

    fn requeue(&mut self, call: &str, why: Requeue, events: &mut Vec<Event>) {
        let Some(c) = self.calls.get_mut(call) else {
            return;
        };
        c.state = CallState::Waiting;
        let q = self.queues.entry(c.queue.clone()).or_default();
        q.retain(|x| x != call);
        q.push_front(call.to_owned());
        events.push(Event::Requeued {
            call: call.to_owned(),
            why,
        });
    }

    fn dispatch(&mut self, now: Millis, events: &mut Vec<Event>) {
        let mut queues: Vec<QueueId> = self.queues.keys().cloned().collect();
        queues.sort_by(|a, b| (&a.merchant, &a.group).cmp(&(&b.merchant, &b.group)));
        for queue in queues {
            // A queue holds waiting calls only: ringing takes a call out, requeueing puts it back.
            while let Some(head) = self.queues.get(&queue).and_then(|q| q.front().cloned()) {
                let agent = self
                    .agents
                    .iter()
                    .filter(|(_, a)| {
                        a.presence == Presence::Available
                            && a.call.is_none()
                            && a.merchant == queue.merchant
                            && a.groups.contains(&queue.group)
                    })
                    .min_by(|(ia, a), (ib, b)| (a.idle_since, ia).cmp(&(b.idle_since, ib)))
                    .map(|(id, _)| id.clone());
                let Some(agent) = agent else {
                    break;
                };
                if let Some(q) = self.queues.get_mut(&queue) {
                    q.retain(|x| x != &head);
                }
                if let Some(c) = self.calls.get_mut(&head) {
                    c.state = CallState::Ringing {
                        agent: agent.clone(),
                        since: now,
                    };
                }
                if let Some(a) = self.agents.get_mut(&agent) {
                    a.call = Some(head.clone());
                }
                events.push(Event::Ring { call: head, agent });
            }
        }
    }
}

#[cfg(test)]
#[path = "acd_tests.rs"]
mod tests;
