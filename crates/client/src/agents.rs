//! A merchant's call centre (S4's ACD): the merchant manages its agents; an agent sets its
//! presence and takes calls; a visitor follows its own call with the visitor token its click
//! answered.

use crate::client::{json, send, REQUEST_TIMEOUT};
use crate::{Client, Error};
use callside_proto::agent::{
    Agent, AgentCall, AgentIn, AgentList, AgentSaved, Board, EndCall, JoinChannel, Presence,
    PresenceStatus, PushPage, VisitorCall,
};
use callside_proto::merchant::{Page, PageList};
use reqwest::{Method, StatusCode};
use std::time::Duration;

/// A long poll's timeout: its wait and a margin.
fn poll_timeout(wait_secs: u64) -> Duration {
    REQUEST_TIMEOUT + Duration::from_secs(wait_secs)
}

impl Client {
    /// `PUT /v1/merchant/agents/{id}` (a merchant's token): adds an agent (its token is in the
    /// answer, once) or changes its name, groups and whether it is a supervisor.
    pub async fn put_agent(
        &self,
        id: &str,
        name: &str,
        groups: &[String],
        supervisor: bool,
    ) -> Result<AgentSaved, Error> {
        let req = self
            .request(Method::PUT, &["v1", "merchant", "agents", id])
            .json(&AgentIn {
                name: name.into(),
                groups: groups.to_vec(),
                supervisor,
            });
        json(send(req, REQUEST_TIMEOUT).await?, "agent").await
    }

    /// `GET /v1/merchant/agents`.
    pub async fn agents(&self) -> Result<Vec<Agent>, Error> {
        let req = self.request(Method::GET, &["v1", "merchant", "agents"]);
        let list: AgentList = json(send(req, REQUEST_TIMEOUT).await?, "agents").await?;
        Ok(list.agents)
    }

    /// `DELETE /v1/merchant/agents/{id}`: the agent and its token go.
    pub async fn delete_agent(&self, id: &str) -> Result<(), Error> {
        let req = self.request(Method::DELETE, &["v1", "merchant", "agents", id]);
        send(req, REQUEST_TIMEOUT).await?;
        Ok(())
    }

    /// `POST /v1/agent/presence` (an agent's token).
    pub async fn set_presence(&self, status: PresenceStatus) -> Result<(), Error> {
        let req = self
            .request(Method::POST, &["v1", "agent", "presence"])
            .json(&Presence { status });
        send(req, REQUEST_TIMEOUT).await?;
        Ok(())
    }

    /// `GET /v1/agent/call`: the call ringing this agent or in progress, waiting up to
    /// `wait_secs` for one that differs from `seen` (`clk_…/ringing`); `None` when there is none.
    pub async fn agent_call(
        &self,
        wait_secs: u64,
        seen: Option<&str>,
    ) -> Result<Option<AgentCall>, Error> {
        let mut req = self
            .request(Method::GET, &["v1", "agent", "call"])
            .query(&[("wait", wait_secs)]);
        if let Some(s) = seen {
            req = req.query(&[("seen", s)]);
        }
        let res = send(req, poll_timeout(wait_secs)).await?;
        if res.status() == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        json(res, "agent call").await.map(Some)
    }

    /// `POST /v1/agent/calls/{id}/accept|decline`.
    pub async fn answer_agent_call(&self, id: &str, accept: bool) -> Result<(), Error> {
        let what = if accept { "accept" } else { "decline" };
        let req = self
            .request(Method::POST, &["v1", "agent", "calls", id, what])
            .json(&serde_json::json!({}));
        send(req, REQUEST_TIMEOUT).await?;
        Ok(())
    }

    /// `POST /v1/agent/calls/{id}/end` (`completed` when no outcome is given).
    pub async fn end_agent_call(&self, id: &str, outcome: Option<&str>) -> Result<(), Error> {
        let req = self
            .request(Method::POST, &["v1", "agent", "calls", id, "end"])
            .json(&EndCall {
                outcome: outcome.map(str::to_owned),
            });
        send(req, REQUEST_TIMEOUT).await?;
        Ok(())
    }

    /// `GET /v1/agent/board` (a supervisor's token) or, with a merchant's token,
    /// `GET /v1/merchant/board`: the call centre now.
    pub async fn board(&self, as_merchant: bool) -> Result<Board, Error> {
        let who = if as_merchant { "merchant" } else { "agent" };
        let req = self.request(Method::GET, &["v1", who, "board"]);
        json(send(req, REQUEST_TIMEOUT).await?, "board").await
    }

    /// `POST /v1/agent/channels`: joins a call to the merchant's number by the channel id its
    /// visitor reads out; answers the call, with its session.
    pub async fn join_channel(&self, channel: &str) -> Result<AgentCall, Error> {
        let req = self
            .request(Method::POST, &["v1", "agent", "channels"])
            .json(&JoinChannel {
                channel: channel.into(),
            });
        json(send(req, REQUEST_TIMEOUT).await?, "agent call").await
    }

    /// `GET /v1/agent/pages`: the merchant's code→page table, to push from.
    pub async fn agent_pages(&self) -> Result<Vec<Page>, Error> {
        let req = self.request(Method::GET, &["v1", "agent", "pages"]);
        let list: PageList = json(send(req, REQUEST_TIMEOUT).await?, "pages").await?;
        Ok(list.pages)
    }

    /// `POST /v1/agent/calls/{id}/push`: pushes the merchant's page for `code` to the visitor
    /// of this agent's call in progress; answers the page.
    pub async fn push_page(&self, id: &str, code: &str) -> Result<Page, Error> {
        let req = self
            .request(Method::POST, &["v1", "agent", "calls", id, "push"])
            .json(&PushPage { code: code.into() });
        json(send(req, REQUEST_TIMEOUT).await?, "page").await
    }

    /// `GET /v1/clicks/{id}` with this client's token being the call's visitor token: the call
    /// as its visitor sees it, after at most `wait_secs` for a change.
    pub async fn visitor_call(&self, id: &str, wait_secs: u64) -> Result<VisitorCall, Error> {
        let req = self
            .request(Method::GET, &["v1", "clicks", id])
            .query(&[("wait", wait_secs)]);
        json(send(req, poll_timeout(wait_secs)).await?, "visitor call").await
    }

    /// `POST /v1/clicks/{id}/hangup` with the call's visitor token.
    pub async fn visitor_hangup(&self, id: &str) -> Result<(), Error> {
        let req = self
            .request(Method::POST, &["v1", "clicks", id, "hangup"])
            .json(&serde_json::json!({}));
        send(req, REQUEST_TIMEOUT).await?;
        Ok(())
    }
}
