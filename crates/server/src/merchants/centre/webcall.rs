//! A visitor's web call (S4): when an agent answers, a session opens between the agent and the
//! visitor, and everything of the call rides it — the voice's WebRTC signalling, chat, the
//! page the visitor is on (`page/view`), the pages the agent pushes (`system/page`) and the
//! agent's media controls (`media/control`).
//!
//! The visitor gets an account of its own (scope `visitor`) whose token is the visitor token
//! its click was answered with, so the call window needs no other credential. The account is
//! stored just before the answer and the session (which commit together; a failed open deletes
//! it again), and deleted (its token retired) when the call ends, which also closes the session
//! (`close_with_call`).

use super::super::{Error, Merchants};
use crate::clock::now_ms;
use crate::identity::new_principal;
use crate::sessions::{NewSession, Notice};
use callside_core::principal::Scope;
use callside_core::session::{Event, Lifecycle, Origin};
use callside_core::{PrincipalId, PrincipalKind, SessionKey, Token};
use callside_store::{AgentRecord, ClickRecord, PageRecord, ParticipantRecord, Write};

/// The visitor's name in the session.
const VISITOR_NAME: &str = "Visitor";

fn participant(principal: PrincipalId, name: String) -> ParticipantRecord {
    ParticipantRecord {
        principal,
        name,
        number: None,
        acked_seq: 0,
        joined_seq: 0,
        history: None,
    }
}

impl Merchants {
    /// Answers the call for `agent`: the click becomes `answered` and the web call's session
    /// opens, in one commit; the session then says the call is answered. A call answered
    /// again (its first agent dropped it) keeps its visitor's account.
    pub(super) async fn open_web_call(
        &self,
        agent: &AgentRecord,
        call: &str,
    ) -> Result<SessionKey, Error> {
        let now = now_ms();
        let before = self
            .store
            .click(call.to_owned())
            .await?
            .and_then(|c| c.session);
        let kept = match &before {
            Some(key) => self.visitors_of(key).await?.pop(),
            None => None,
        };
        let (visitor, made) = match kept {
            Some(v) => (v, false),
            None => {
                let token = Token::from_presented(&self.centre.visitor_token(call));
                let (account, _) = new_principal(
                    VISITOR_NAME.into(),
                    "svc",
                    PrincipalKind::Service {
                        scopes: vec![Scope::Visitor],
                        ranges: Vec::new(),
                    },
                );
                let id = account.principal.id.clone();
                // Stored first: the session's participants refer to it.
                self.store
                    .apply(vec![Write::Principal(account, token.hash())])
                    .await?;
                (id, true)
            }
        };
        let key = SessionKey::generate(now);
        let new = NewSession {
            key: key.clone(),
            origin: Origin::Click,
            lifecycle: Lifecycle::CloseWithCall,
            participants: vec![
                participant(agent.principal.clone(), agent.name.clone()),
                participant(visitor.clone(), VISITOR_NAME.into()),
            ],
            call_id: None,
            at: now,
        };
        let writes = vec![
            Write::ClickState {
                id: call.to_owned(),
                state: "answered".into(),
                agent: Some(agent.name.clone()),
                outcome: None,
                at: now,
            },
            Write::ClickSession {
                id: call.to_owned(),
                session: key.clone(),
            },
        ];
        let opened = match self.sessions.open(new, writes).await {
            Ok(opening) => self.sessions.opened(opening).await,
            Err(e) => Err(e),
        };
        let key = match opened {
            Ok(key) => key,
            Err(e) => {
                if made {
                    // No call to take part in: the account goes again.
                    self.store
                        .apply(vec![Write::DeletePrincipal(visitor)])
                        .await?;
                }
                return Err(e.into());
            }
        };
        self.sessions
            .transition(&key, Event::CallAnswered, None, vec![])
            .await?;
        self.announce(&agent.merchant, "call.answered", call);
        Ok(key)
    }

    /// The visitors' accounts (not deleted) taking part in a web call's session.
    async fn visitors_of(&self, key: &SessionKey) -> Result<Vec<PrincipalId>, Error> {
        let rec = self.sessions.record(key).await?;
        let mut visitors = Vec::new();
        for p in &rec.participants {
            let is_visitor = self
                .store
                .principal(p.principal.clone())
                .await?
                .is_some_and(|a| a.principal.has_scope(Scope::Visitor));
            if is_visitor {
                visitors.push(p.principal.clone());
            }
        }
        Ok(visitors)
    }

    /// Ends a web call's session with `extra` writes (nothing to end when it is closed).
    async fn end_session(&self, key: &SessionKey, extra: Vec<Write>) -> Result<(), Error> {
        let rec = self.sessions.record(key).await?;
        if rec.session.closed.is_some() {
            if !extra.is_empty() {
                self.store.apply(extra).await?;
            }
        } else {
            self.sessions
                .transition(key, Event::CallEnded, None, extra)
                .await?;
        }
        Ok(())
    }

    /// The call ended: its session closes with it and the visitor's account is deleted, its
    /// token no longer opening anything but the call's own state.
    pub(super) async fn close_web_call(&self, key: &SessionKey) -> Result<(), Error> {
        let visitors = self.visitors_of(key).await?;
        let deletes = visitors
            .iter()
            .map(|v| Write::DeletePrincipal(v.clone()))
            .collect();
        self.end_session(key, deletes).await?;
        for v in &visitors {
            self.identity.revoke(v, "the call has ended");
        }
        Ok(())
    }

    /// An answered call went back to the queue (its agent dropped it): that agent's session
    /// ends; the visitor keeps its account for the agent who answers next.
    pub(super) async fn web_call_requeued(&self, call: &str) -> Result<(), Error> {
        let click = self.store.click(call.to_owned()).await?;
        match click.and_then(|c| c.session) {
            Some(key) => self.end_session(&key, Vec::new()).await,
            None => Ok(()),
        }
    }

    /// The agent taking part in an answered call's session, if it is still an agent.
    pub(super) async fn agent_of_web_call(
        &self,
        click: &ClickRecord,
    ) -> Result<Option<AgentRecord>, Error> {
        let Some(key) = &click.session else {
            return Ok(None);
        };
        let rec = self.sessions.record(key).await?;
        if rec.session.closed.is_some() {
            return Ok(None);
        }
        for p in &rec.participants {
            if let Some(agent) = self.store.agent_of(p.principal.clone()).await? {
                if agent.merchant == click.merchant {
                    return Ok(Some(agent));
                }
            }
        }
        Ok(None)
    }

    /// The agent keys a call's channel id (a call to the merchant's number: the visitor reads
    /// it off its call window): the call becomes the agent's, and its session opens for chat,
    /// page push and follow, as for a call the agent answered.
    pub(crate) async fn link_channel(
        &self,
        agent: &AgentRecord,
        channel: &str,
    ) -> Result<ClickRecord, Error> {
        use super::super::{CHANNEL_DIGITS, CHANNEL_MS};
        use callside_core::acd::AcdError;
        if channel.len() != CHANNEL_DIGITS || !channel.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::BadRequest(format!(
                "a channel id is {CHANNEL_DIGITS} digits"
            )));
        }
        let now = now_ms();
        let click = self
            .store
            .click_by_channel(agent.merchant.clone(), channel.to_owned(), now - CHANNEL_MS)
            .await?
            .ok_or_else(|| Error::UnknownChannel(channel.to_owned()))?;
        self.centre
            .acd()
            .link(agent.principal.as_str(), &click.id, &agent.merchant, now)
            .map_err(|e| match e {
                AcdError::Busy => Error::Busy,
                AcdError::SignedOut => Error::SignedOut,
                _ => Error::UnknownChannel(channel.to_owned()),
            })?;
        if let Err(e) = self.open_web_call(agent, &click.id).await {
            self.centre.acd().end(&click.id, now);
            return Err(e);
        }
        self.centre.changed.notify_waiters();
        self.store
            .click(click.id.clone())
            .await?
            .ok_or(Error::NotFound("call"))
    }

    /// The agent's merchant's code→page table, to push from.
    pub(crate) async fn agent_pages(&self, agent: &AgentRecord) -> Result<Vec<PageRecord>, Error> {
        Ok(self.store.pages(agent.merchant.clone()).await?)
    }

    /// The agent pushes its merchant's page for `code` (keyed, `*76`, or picked) to the visitor
    /// of its call in progress: a `system/page` entry on the call's session, which the call
    /// window turns into loading that page in the visitor's tab. Only pages in the merchant's
    /// table can be pushed.
    pub(crate) async fn push_page(
        &self,
        agent: &AgentRecord,
        call: &str,
        code: &str,
    ) -> Result<PageRecord, Error> {
        let key = self.talking_session(agent, call).await?;
        let page = self.page_for(&agent.merchant, code).await?;
        let notice = Notice::PagePushed {
            url: &page.url,
            code: &page.code,
            by: &agent.principal,
        };
        self.sessions
            .append_notice(&key, &notice, vec![])
            .await?
            .ok_or(Error::Ended)?;
        Ok(page)
    }

    /// A visitor on a call to a number resolves a code the call centre keyed on its phone (DTMF
    /// through the gateway, `*76`): the merchant's page for it, which the call window loads.
    pub(crate) async fn visitor_page(
        &self,
        call: &str,
        token: &str,
        code: &str,
    ) -> Result<PageRecord, Error> {
        let (click, _) = self.visitor_standing(call, token).await?;
        self.page_for(&click.merchant, code).await
    }

    /// The merchant's page for `code`, from its table only.
    async fn page_for(&self, merchant: &str, code: &str) -> Result<PageRecord, Error> {
        self.store
            .pages(merchant.to_owned())
            .await?
            .into_iter()
            .find(|p| p.code == code)
            .ok_or_else(|| Error::UnknownCode(code.to_owned()))
    }

    /// The session of the agent's call in progress.
    async fn talking_session(&self, agent: &AgentRecord, call: &str) -> Result<SessionKey, Error> {
        self.check_talking(agent, call)?;
        self.store
            .click(call.to_owned())
            .await?
            .and_then(|c| c.session)
            .ok_or(Error::NotTalking)
    }
}
