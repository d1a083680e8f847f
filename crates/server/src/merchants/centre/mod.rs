//! A merchant's call centre (S4's ACD): agents with their own accounts and groups, presence,
//! and the queue of visitors' calls routed to `agents:<group>`. The queue itself is
//! `callside_core::acd`; this wraps it with the store (every state a call goes through is a
//! click state, so queued and ringing calls come back after a restart, oldest first) and wakes
//! the agents' and visitors' long polls when something changes.
//!
//! May touch: the store. Agents see only their own merchant's calls; a visitor reads and hangs
//! up only its own call, with the visitor token its click was answered with.

pub(crate) mod board;
pub(crate) mod http;
mod webcall;

use super::{Error, Merchants};
use crate::clock::now_ms;
use crate::identity::{check_name, new_principal};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use callside_core::acd::{Acd, CallState, Event, Presence, QueueId, Standing};
use callside_core::principal::Scope;
use callside_core::{merchant, Millis, PrincipalId, PrincipalKind, SessionKey, Token};
use callside_store::{AgentRecord, ClickRecord, MerchantRecord, Write};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The most groups one agent takes calls of.
const MAX_GROUPS: usize = 20;

/// What an agent's poll answers: its call, if any, with the visitor's context (the screen pop).
pub(crate) struct AgentCall {
    pub(crate) click: ClickRecord,
    pub(crate) state: CallState,
}

pub(crate) struct CallCentre {
    acd: Mutex<Acd>,
    /// Woken whenever a call or an agent changes; long polls wait on it.
    changed: Notify,
    key: [u8; 32],
}

impl CallCentre {
    pub(crate) fn new(key: [u8; 32]) -> Self {
        CallCentre {
            acd: Mutex::new(Acd::new()),
            changed: Notify::new(),
            key,
        }
    }

    fn acd(&self) -> std::sync::MutexGuard<'_, Acd> {
        self.acd.lock().expect("acd poisoned")
    }

    fn visitor_mac(&self, call: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key");
        mac.update(b"callside visitor\0");
        mac.update(call.as_bytes());
        mac
    }

    /// The token a visitor follows and hangs up its call with: a MAC of the call's id under
    /// the server's key, so nothing more is stored.
    pub(crate) fn visitor_token(&self, call: &str) -> String {
        let tag = self.visitor_mac(call).finalize().into_bytes();
        format!("vis_{}", URL_SAFE_NO_PAD.encode(tag))
    }

    /// Checks a presented visitor token in constant time (`Mac::verify_slice`).
    fn check_visitor(&self, call: &str, token: &str) -> Result<(), Error> {
        let tag = token
            .strip_prefix("vis_")
            .and_then(|t| URL_SAFE_NO_PAD.decode(t).ok());
        match tag {
            Some(tag) if self.visitor_mac(call).verify_slice(&tag).is_ok() => Ok(()),
            _ => Err(Error::NotFound("call")),
        }
    }
}

/// How a console names what it shows: `clk_…/ringing` or `clk_…/talking`.
pub(crate) fn seen_key(call: &str, state: &CallState) -> String {
    let s = match state {
        CallState::Talking { .. } => "talking",
        _ => "ringing",
    };
    format!("{call}/{s}")
}

/// The queue a routed destination names (`agents:<group>`), if any.
pub(crate) fn queue_of(click: &ClickRecord) -> Option<QueueId> {
    click
        .destination
        .strip_prefix("agents:")
        .map(|group| QueueId {
            merchant: click.merchant.clone(),
            group: group.to_owned(),
        })
}

impl Merchants {
    /// The token a visitor follows its call with.
    pub(crate) fn visitor_token(&self, call: &str) -> String {
        self.centre.visitor_token(call)
    }

    /// Adds agent `id` (its account is created and its token answered once), or renames it
    /// and changes its groups (no token then). Also answers whether it is signed in.
    pub(crate) async fn put_agent(
        &self,
        m: &MerchantRecord,
        id: &str,
        name: &str,
        groups: &[String],
        supervisor: bool,
    ) -> Result<(AgentRecord, Option<Token>, bool), Error> {
        merchant::check_id(id)?;
        let name = check_name(name)?;
        if groups.len() > MAX_GROUPS {
            return Err(Error::BadRequest(format!(
                "an agent takes calls of at most {MAX_GROUPS} groups"
            )));
        }
        for g in groups {
            merchant::check_id(g)?;
        }
        let existing = self
            .store
            .agents(m.id.clone())
            .await?
            .into_iter()
            .find(|a| a.id == id);
        let (principal, account) = match &existing {
            Some(a) => (a.principal.clone(), None),
            None => {
                let (account, token) = new_principal(
                    name.clone(),
                    "svc",
                    PrincipalKind::Service {
                        scopes: vec![Scope::Agent],
                        ranges: Vec::new(),
                    },
                );
                (account.principal.id.clone(), Some((account, token)))
            }
        };
        let rec = AgentRecord {
            merchant: m.id.clone(),
            id: id.to_owned(),
            principal,
            name,
            groups: groups.to_vec(),
            supervisor,
            created_at: existing.as_ref().map_or_else(now_ms, |a| a.created_at),
        };
        let mut writes = Vec::new();
        let renamed = existing
            .as_ref()
            .is_some_and(|a| a.name != rec.name)
            .then(|| rec.principal.clone());
        if let Some(id) = &renamed {
            // The account's name is what the console greets the agent with (`/v1/me`).
            writes.push(Write::RenamePrincipal {
                id: id.clone(),
                name: rec.name.clone(),
            });
        }
        let token = account.map(|(account, token)| {
            writes.push(Write::Principal(account, token.hash()));
            token
        });
        writes.push(Write::Agent(rec.clone()));
        self.store.apply(writes).await?;
        if let Some(id) = &renamed {
            self.identity.forget(id);
        }
        // A signed-in agent takes its new groups' calls from now on.
        let (events, signed_in) = {
            let mut acd = self.centre.acd();
            acd.regroup(rec.principal.as_str(), &rec.groups);
            (acd.tick(now_ms()), acd.is_signed_in(rec.principal.as_str()))
        };
        self.record(events).await?;
        Ok((rec, token, signed_in))
    }

    /// Removes an agent and its account; a call it had goes back to the front of its queue.
    /// Answers the account, whose cached tokens the caller forgets.
    pub(crate) async fn delete_agent(
        &self,
        m: &MerchantRecord,
        id: &str,
    ) -> Result<PrincipalId, Error> {
        let agent = self
            .store
            .agents(m.id.clone())
            .await?
            .into_iter()
            .find(|a| a.id == id)
            .ok_or(Error::NotFound("agent"))?;
        self.store
            .apply(vec![
                Write::DeleteAgent {
                    merchant: m.id.clone(),
                    id: id.to_owned(),
                },
                Write::DeletePrincipal(agent.principal.clone()),
            ])
            .await?;
        self.sign_out(&agent).await?;
        Ok(agent.principal)
    }

    /// A merchant's agents, each with whether it is signed in now.
    pub(crate) async fn agents(
        &self,
        m: &MerchantRecord,
    ) -> Result<Vec<(AgentRecord, bool)>, Error> {
        let agents = self.store.agents(m.id.clone()).await?;
        let acd = self.centre.acd();
        Ok(agents
            .into_iter()
            .map(|a| {
                let on = acd.is_signed_in(a.principal.as_str());
                (a, on)
            })
            .collect())
    }

    /// The agent whose account is calling.
    pub(crate) async fn agent(&self, principal: &PrincipalId) -> Result<AgentRecord, Error> {
        self.store
            .agent_of(principal.clone())
            .await?
            .ok_or(Error::NotAgent)
    }

    /// An agent signs in (available) or steps away.
    pub(crate) async fn set_presence(
        &self,
        agent: &AgentRecord,
        presence: Presence,
    ) -> Result<(), Error> {
        let now = now_ms();
        let events = {
            let mut acd = self.centre.acd();
            let mut events = acd.presence(
                agent.principal.as_str(),
                &agent.merchant,
                &agent.groups,
                presence,
                now,
            );
            events.extend(acd.tick(now));
            events
        };
        self.record(events).await
    }

    /// Signs the agent out: a call it had goes back to the front.
    pub(crate) async fn sign_out(&self, agent: &AgentRecord) -> Result<(), Error> {
        let events = self.centre.acd().sign_out(agent.principal.as_str());
        self.record(events).await
    }

    /// The agent's call (ringing or talking) with the visitor's context; waits up to `wait`
    /// for one when there is none. Each poll tells the call centre the agent is still there.
    /// `seen` is what the console shows (`clk_…/ringing`, `clk_…/talking`, or none): the poll
    /// answers as soon as the agent's call differs from it, or when `wait` is up.
    pub(crate) async fn agent_poll(
        &self,
        agent: &AgentRecord,
        seen: Option<&str>,
        wait: Duration,
    ) -> Result<Option<AgentCall>, Error> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let notified = self.centre.changed.notified();
            let current = {
                let mut acd = self.centre.acd();
                acd.seen(agent.principal.as_str(), now_ms())
                    .map_err(|_| Error::SignedOut)?;
                acd.call_of(agent.principal.as_str())
            };
            let now = current.as_ref().map(|(call, state)| seen_key(call, state));
            let up = tokio::time::Instant::now() >= deadline;
            if now.as_deref() != seen || up {
                let Some((call, state)) = current else {
                    return Ok(None);
                };
                if let Some(click) = self.store.click(call).await? {
                    return Ok(Some(AgentCall { click, state }));
                }
                return Ok(None);
            }
            // Woken by a change, or at the deadline (then answered as it is).
            let _ = tokio::time::timeout_at(deadline, notified).await;
        }
    }

    /// The agent answers the call ringing it: the web call's session opens (`webcall`).
    pub(crate) async fn agent_accept(
        &self,
        agent: &AgentRecord,
        call: &str,
    ) -> Result<SessionKey, Error> {
        self.centre
            .acd()
            .accept(agent.principal.as_str(), call, now_ms())
            .map_err(|_| Error::NotRinging)?;
        let key = self.open_web_call(agent, call).await;
        self.centre.changed.notify_waiters();
        key
    }

    /// The agent declines the call ringing it: it goes to the next agent, and this one is away.
    pub(crate) async fn agent_decline(&self, agent: &AgentRecord, call: &str) -> Result<(), Error> {
        let events = {
            let mut acd = self.centre.acd();
            let mut events = acd
                .decline(agent.principal.as_str(), call)
                .map_err(|_| Error::NotRinging)?;
            events.extend(acd.tick(now_ms()));
            events
        };
        self.record(events).await
    }

    /// The agent hangs up its call, with an outcome.
    pub(crate) async fn agent_end(
        &self,
        agent: &AgentRecord,
        call: &str,
        outcome: &str,
    ) -> Result<(), Error> {
        self.check_talking(agent, call)?;
        self.end_call(call, outcome).await
    }

    /// Whether `call` is the agent's call in progress.
    fn check_talking(&self, agent: &AgentRecord, call: &str) -> Result<(), Error> {
        match self.centre.acd().call_of(agent.principal.as_str()) {
            Some((c, CallState::Talking { .. })) if c == call => Ok(()),
            _ => Err(Error::NotTalking),
        }
    }

    /// Where the visitor's call stands (it must show the token its click was answered with).
    pub(crate) async fn visitor_standing(
        &self,
        call: &str,
        token: &str,
    ) -> Result<(ClickRecord, Option<Standing>), Error> {
        self.centre.check_visitor(call, token)?;
        let click = self
            .store
            .click(call.to_owned())
            .await?
            .ok_or(Error::NotFound("call"))?;
        let standing = self.centre.acd().standing(call);
        Ok((click, standing))
    }

    /// Waits up to `wait` for the visitor's call to change.
    pub(crate) async fn visitor_wait(&self, wait: Duration) {
        let _ = tokio::time::timeout(wait, self.centre.changed.notified()).await;
    }

    /// The visitor hangs up (closing the call window counts): `abandoned` while it waited or
    /// rang, `completed` once answered.
    pub(crate) async fn visitor_hangup(&self, call: &str, token: &str) -> Result<(), Error> {
        self.centre.check_visitor(call, token)?;
        // Accepting stores `answered`: the record says it, across restarts too.
        let click = self
            .store
            .click(call.to_owned())
            .await?
            .ok_or(Error::NotFound("call"))?;
        if click.state == "ended" {
            return Err(Error::Ended);
        }
        let outcome = if click.state == "answered" {
            "completed"
        } else {
            "abandoned"
        };
        self.end_call(call, outcome).await
    }

    /// Queues a new call routed to agents (its click is already recorded `queued`).
    pub(crate) async fn enqueue(&self, click: &ClickRecord) -> Result<(), Error> {
        let Some(queue) = queue_of(click) else {
            return Ok(());
        };
        let events = {
            let mut acd = self.centre.acd();
            acd.enqueue(&click.id, queue);
            acd.tick(now_ms())
        };
        self.record(events).await
    }

    async fn end_call(&self, call: &str, outcome: &str) -> Result<(), Error> {
        let now = now_ms();
        let events = {
            let mut acd = self.centre.acd();
            acd.end(call, now);
            acd.tick(now)
        };
        self.store
            .apply(vec![Write::ClickState {
                id: call.to_owned(),
                state: "ended".into(),
                agent: None,
                outcome: Some(outcome.to_owned()),
                at: now,
            }])
            .await?;
        self.record(events).await?;
        let click = self.store.click(call.to_owned()).await?;
        if let Some(click) = &click {
            self.announce(&click.merchant, "call.ended", call);
        }
        match click.and_then(|c| c.session) {
            Some(key) => self.close_web_call(&key).await,
            None => Ok(()),
        }
    }

    /// Closes the web call's session, if the call had one.
    async fn web_call_ended(&self, call: &str) -> Result<(), Error> {
        let session = self
            .store
            .click(call.to_owned())
            .await?
            .and_then(|c| c.session);
        match session {
            Some(key) => self.close_web_call(&key).await,
            None => Ok(()),
        }
    }

    /// Stores what the queue did (rings and requeues are click states) and wakes the polls.
    pub(super) async fn record(&self, events: Vec<Event>) -> Result<(), Error> {
        let now = now_ms();
        let writes: Vec<Write> = events
            .iter()
            .filter_map(|e| match e {
                Event::Ring { call, .. } => Some((call, "ringing")),
                Event::Requeued { call, why } => {
                    tracing::info!(call = %call, why = why.as_str(), "call queued again");
                    Some((call, "queued"))
                }
                Event::AgentDropped { agent } => {
                    tracing::info!(agent = %agent, "agent dropped (no poll)");
                    None
                }
            })
            .map(|(call, state)| Write::ClickState {
                id: call.clone(),
                state: state.to_owned(),
                agent: None,
                outcome: None,
                at: now,
            })
            .collect();
        if !writes.is_empty() {
            self.store.apply(writes).await?;
        }
        self.centre.changed.notify_waiters();
        for e in &events {
            if let Event::Requeued { call, .. } = e {
                self.web_call_requeued(call).await?;
            }
        }
        Ok(())
    }

    /// After a restart: calls still queued or ringing wait again, oldest first (a ringing one
    /// rings again once its agent is back or another is free); a call in progress is its
    /// agent's again (the voice goes on between the browsers), the agent signed in until it
    /// stays away 45 s — then, or when its agent is gone, it waits at the front again.
    pub(crate) async fn restore_queues(&self) -> Result<usize, Error> {
        let open = self.store.open_clicks().await?;
        let now = now_ms();
        let mut talking = Vec::new();
        for click in open.iter().filter(|c| c.state == "answered") {
            if let Some(agent) = self.agent_of_web_call(click).await? {
                talking.push((click.id.clone(), agent));
            }
        }
        let mut again = Vec::new();
        {
            let mut acd = self.centre.acd();
            for click in &open {
                // A call to a number an agent joined by its channel id waited in no queue.
                let queue = queue_of(click);
                match talking.iter().find(|(id, _)| *id == click.id) {
                    Some((_, agent)) => acd.restore_talking(
                        &click.id,
                        queue.unwrap_or_else(|| QueueId {
                            merchant: click.merchant.clone(),
                            group: String::new(),
                        }),
                        agent.principal.as_str(),
                        &agent.groups,
                        click.answered_at.unwrap_or(now),
                        now,
                    ),
                    None => {
                        let Some(queue) = queue else {
                            continue;
                        };
                        acd.enqueue(&click.id, queue);
                        // What rang, or was answered by an agent now gone, waits again.
                        if click.state != "queued" {
                            again.push(click.id.clone());
                        }
                    }
                }
            }
        }
        if !again.is_empty() {
            let writes = again
                .iter()
                .map(|id| Write::ClickState {
                    id: id.clone(),
                    state: "queued".into(),
                    agent: None,
                    outcome: None,
                    at: now,
                })
                .collect();
            self.store.apply(writes).await?;
            for id in &again {
                self.web_call_requeued(id).await?;
            }
        }
        Ok(open.len())
    }

    /// The merchant's own call centre reported the call ended: it leaves the queue, and its
    /// web call's session closes.
    pub(crate) async fn ended_elsewhere(&self, call: &str) -> Result<(), Error> {
        let now = now_ms();
        let events = {
            let mut acd = self.centre.acd();
            acd.end(call, now);
            acd.tick(now)
        };
        self.record(events).await?;
        self.web_call_ended(call).await
    }

    /// Time passing: rings not answered, agents gone quiet, and free agents for waiting calls.
    pub(crate) async fn tick(&self, now: Millis) -> Result<(), Error> {
        let events = self.centre.acd().tick(now);
        if events.is_empty() {
            return Ok(());
        }
        self.record(events).await
    }
}

/// The call centre's loop: restores the queues, then ticks every second until stopped.
pub(crate) async fn run(merchants: std::sync::Arc<Merchants>, stop: CancellationToken) {
    match merchants.restore_queues().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(calls = n, "call centre queues restored"),
        Err(e) => tracing::error!(error = %e, "could not restore the call centre's queues"),
    }
    let mut every = tokio::time::interval(Duration::from_secs(1));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = every.tick() => {
                if let Err(e) = merchants.tick(now_ms()).await {
                    tracing::warn!(error = %e, "call centre tick");
                }
            }
        }
    }
}
