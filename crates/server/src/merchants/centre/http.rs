//! The call centre's HTTP API: `/v1/merchant/agents…` (the merchant manages its agents),
//! `/v1/agent/…` (an agent's presence and calls) and `/v1/clicks/{id}…` (the visitor's own call,
//! with the visitor token its click was answered with).

use super::AgentCall;
use crate::app::AppState;
use crate::http::error::ApiError;
use crate::http::extract::{bearer, Caller, Json, Query};
use crate::merchants::http::{call_out, merchant};
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use callside_core::acd::{CallState, Presence};
use callside_proto as proto;
use callside_store::AgentRecord;
use serde::Deserialize;
use std::time::Duration;

/// The longest a poll waits.
const MAX_WAIT_SECS: u64 = 30;

fn agent_out(a: &AgentRecord, signed_in: bool) -> proto::agent::Agent {
    proto::agent::Agent {
        id: a.id.clone(),
        name: a.name.clone(),
        groups: a.groups.clone(),
        supervisor: a.supervisor,
        account: a.principal.0.clone(),
        signed_in,
        created_at: a.created_at,
    }
}

/// `PUT /v1/merchant/agents/{id}` — adds an agent (201, with its token once) or changes its
/// name and groups (200).
#[utoipa::path(put, path = "/v1/merchant/agents/{id}", tag = "merchants", request_body = proto::agent::AgentIn,
    params(("id" = String, Path, description = "The agent's id, chosen by the merchant")),
    responses((status = 201, body = proto::agent::AgentSaved), (status = 200, body = proto::agent::AgentSaved),
        (status = 400, body = proto::Problem), (status = 403, body = proto::Problem)))]
pub(crate) async fn put_agent(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(req): Json<proto::agent::AgentIn>,
) -> Result<(StatusCode, axum::Json<proto::agent::AgentSaved>), ApiError> {
    let m = merchant(&app, &caller).await?;
    let (a, token, signed_in) = app
        .merchants
        .put_agent(&m, &id, &req.name, &req.groups, req.supervisor)
        .await?;
    let status = if token.is_some() {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        axum::Json(proto::agent::AgentSaved {
            agent: agent_out(&a, signed_in),
            token: token.map(|t| t.expose().to_owned()),
        }),
    ))
}

/// `GET /v1/merchant/agents` — the merchant's agents, and who is signed in.
#[utoipa::path(get, path = "/v1/merchant/agents", tag = "merchants",
    responses((status = 200, body = proto::agent::AgentList), (status = 403, body = proto::Problem)))]
pub(crate) async fn list_agents(
    State(app): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<proto::agent::AgentList>, ApiError> {
    let m = merchant(&app, &caller).await?;
    let agents = app.merchants.agents(&m).await?;
    Ok(axum::Json(proto::agent::AgentList {
        agents: agents.iter().map(|(a, on)| agent_out(a, *on)).collect(),
    }))
}

/// `DELETE /v1/merchant/agents/{id}` — removes an agent and its account; a call it had goes
/// back to the front of its queue.
#[utoipa::path(delete, path = "/v1/merchant/agents/{id}", tag = "merchants",
    params(("id" = String, Path, description = "The agent's id")),
    responses((status = 204), (status = 403, body = proto::Problem), (status = 404, body = proto::Problem)))]
pub(crate) async fn delete_agent(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let m = merchant(&app, &caller).await?;
    let account = app.merchants.delete_agent(&m, &id).await?;
    app.identity.revoke(&account, "the agent was deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// The agent whose account is calling (403 for any other caller).
async fn agent(app: &AppState, caller: &Caller) -> Result<AgentRecord, ApiError> {
    Ok(app.merchants.agent(&caller.0.id).await?)
}

/// `POST /v1/agent/presence` — signs in (`available`), steps away (`away`) or signs out
/// (`offline`).
#[utoipa::path(post, path = "/v1/agent/presence", tag = "agents", request_body = proto::agent::Presence,
    responses((status = 204), (status = 403, body = proto::Problem)))]
pub(crate) async fn set_presence(
    State(app): State<AppState>,
    caller: Caller,
    Json(req): Json<proto::agent::Presence>,
) -> Result<StatusCode, ApiError> {
    let a = agent(&app, &caller).await?;
    match req.status {
        proto::agent::PresenceStatus::Available => {
            app.merchants.set_presence(&a, Presence::Available).await?
        }
        proto::agent::PresenceStatus::Away => {
            app.merchants.set_presence(&a, Presence::Away).await?
        }
        proto::agent::PresenceStatus::Offline => app.merchants.sign_out(&a).await?,
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct WaitQuery {
    /// Seconds to wait for something to change (at most 30; 0 answers at once).
    wait: Option<u64>,
}

/// A poll's `wait`, bounded.
fn wait_of(wait: Option<u64>) -> Duration {
    Duration::from_secs(wait.unwrap_or(0).min(MAX_WAIT_SECS))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct AgentPoll {
    /// Seconds to wait for a change (at most 30; 0 answers at once).
    wait: Option<u64>,
    /// What the console shows now (`clk_…/ringing`, `clk_…/talking`; absent for no call):
    /// the answer comes when the agent's call differs from it.
    seen: Option<String>,
}

/// `GET /v1/agent/call` — the call ringing this agent or in progress, with what the visitor's
/// page shared (the screen pop); 204 when there is none once `wait` is up. Each poll says the agent is
/// still there: an agent not heard from for 45 s is signed out and its call queued again.
#[utoipa::path(get, path = "/v1/agent/call", tag = "agents", params(AgentPoll),
    responses((status = 200, body = proto::agent::AgentCall), (status = 204),
        (status = 403, body = proto::Problem), (status = 409, body = proto::Problem)))]
pub(crate) async fn agent_call(
    State(app): State<AppState>,
    caller: Caller,
    Query(q): Query<AgentPoll>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse as _;
    let a = agent(&app, &caller).await?;
    let wait = wait_of(q.wait);
    Ok(
        match app
            .merchants
            .agent_poll(&a, q.seen.as_deref(), wait)
            .await?
        {
            None => StatusCode::NO_CONTENT.into_response(),
            Some(AgentCall { click, state }) => axum::Json(proto::agent::AgentCall {
                state: match state {
                    CallState::Talking { .. } => "talking".into(),
                    _ => "ringing".into(),
                },
                session: click.session.as_ref().map(|k| k.as_str().to_owned()),
                call: call_out(&click),
            })
            .into_response(),
        },
    )
}

/// `POST /v1/agent/calls/{id}/accept` — answers the call ringing this agent; the web call's
/// session opens (`GET /v1/agent/call` names it).
#[utoipa::path(post, path = "/v1/agent/calls/{id}/accept", tag = "agents",
    params(("id" = String, Path, description = "The call (`clk_…`)")),
    responses((status = 204), (status = 403, body = proto::Problem), (status = 409, body = proto::Problem)))]
pub(crate) async fn accept_call(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let a = agent(&app, &caller).await?;
    app.merchants.agent_accept(&a, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/agent/calls/{id}/decline` — passes the call ringing this agent to the next one;
/// this agent is then away.
#[utoipa::path(post, path = "/v1/agent/calls/{id}/decline", tag = "agents",
    params(("id" = String, Path, description = "The call (`clk_…`)")),
    responses((status = 204), (status = 403, body = proto::Problem), (status = 409, body = proto::Problem)))]
pub(crate) async fn decline_call(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let a = agent(&app, &caller).await?;
    app.merchants.agent_decline(&a, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/agent/calls/{id}/end` — hangs up this agent's call in progress.
#[utoipa::path(post, path = "/v1/agent/calls/{id}/end", tag = "agents", request_body = proto::agent::EndCall,
    params(("id" = String, Path, description = "The call (`clk_…`)")),
    responses((status = 204), (status = 400, body = proto::Problem), (status = 403, body = proto::Problem),
        (status = 409, body = proto::Problem)))]
pub(crate) async fn end_call(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(req): Json<proto::agent::EndCall>,
) -> Result<StatusCode, ApiError> {
    let a = agent(&app, &caller).await?;
    let outcome = req.outcome.as_deref().unwrap_or("completed");
    if !matches!(outcome, "completed" | "failed") {
        return Err(ApiError::bad(
            "invalid_request",
            "an agent ends a call `completed` or `failed`",
        ));
    }
    app.merchants.agent_end(&a, &id, outcome).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/agent/board` — the whole call centre, for a supervisor: each group's waiting calls,
/// and every agent's status and call.
#[utoipa::path(get, path = "/v1/agent/board", tag = "agents",
    responses((status = 200, body = proto::agent::Board), (status = 403, body = proto::Problem)))]
pub(crate) async fn agent_board(
    State(app): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<proto::agent::Board>, ApiError> {
    let a = agent(&app, &caller).await?;
    if !a.supervisor {
        return Err(ApiError::Forbidden(
            "not_a_supervisor",
            "only a supervisor sees the whole call centre: the merchant makes one with \"supervisor\": true".into(),
        ));
    }
    Ok(axum::Json(board_out(
        app.merchants.board(&a.merchant).await?,
    )))
}

fn secs(ms: callside_core::Millis) -> u64 {
    (ms.max(0) as u64) / 1000
}

fn board_out(b: super::board::Board) -> proto::agent::Board {
    proto::agent::Board {
        queues: b
            .queues
            .into_iter()
            .map(|q| proto::agent::BoardQueue {
                group: q.group,
                calls: q
                    .calls
                    .into_iter()
                    .map(|c| proto::agent::BoardCall {
                        id: c.id,
                        waiting_secs: secs(c.waited_ms),
                        page: c.page,
                    })
                    .collect(),
                handle_secs: q.handle_ms.map(secs),
            })
            .collect(),
        agents: b
            .agents
            .into_iter()
            .map(|a| proto::agent::BoardAgent {
                id: a.id,
                name: a.name,
                status: a.status.into(),
                call: a.call,
                for_secs: a.for_ms.map(secs),
            })
            .collect(),
    }
}

/// `GET /v1/merchant/board` — the merchant's call centre now (as a supervisor sees it).
#[utoipa::path(get, path = "/v1/merchant/board", tag = "merchants",
    responses((status = 200, body = proto::agent::Board), (status = 403, body = proto::Problem)))]
pub(crate) async fn merchant_board(
    State(app): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<proto::agent::Board>, ApiError> {
    let m = merchant(&app, &caller).await?;
    Ok(axum::Json(board_out(app.merchants.board(&m.id).await?)))
}

/// `POST /v1/agent/channels` — joins a call to the merchant's number by the channel id its
/// visitor reads out: the call becomes this agent's, its session opens (chat, page push and
/// follow), and the answer is the call as `GET /v1/agent/call` shows it.
#[utoipa::path(post, path = "/v1/agent/channels", tag = "agents", request_body = proto::agent::JoinChannel,
    responses((status = 200, body = proto::agent::AgentCall), (status = 400, body = proto::Problem),
        (status = 403, body = proto::Problem), (status = 404, body = proto::Problem),
        (status = 409, body = proto::Problem)))]
pub(crate) async fn join_channel(
    State(app): State<AppState>,
    caller: Caller,
    Json(req): Json<proto::agent::JoinChannel>,
) -> Result<axum::Json<proto::agent::AgentCall>, ApiError> {
    let a = agent(&app, &caller).await?;
    let click = app.merchants.link_channel(&a, &req.channel).await?;
    Ok(axum::Json(proto::agent::AgentCall {
        state: "talking".into(),
        session: click.session.as_ref().map(|k| k.as_str().to_owned()),
        call: call_out(&click),
    }))
}

/// `GET /v1/agent/pages` — the merchant's code→page table, to push from.
#[utoipa::path(get, path = "/v1/agent/pages", tag = "agents",
    responses((status = 200, body = proto::merchant::PageList), (status = 403, body = proto::Problem)))]
pub(crate) async fn agent_pages(
    State(app): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<proto::merchant::PageList>, ApiError> {
    let a = agent(&app, &caller).await?;
    let pages = app.merchants.agent_pages(&a).await?;
    Ok(axum::Json(proto::merchant::PageList {
        pages: pages.into_iter().map(page_out).collect(),
    }))
}

fn page_out(p: callside_store::PageRecord) -> proto::merchant::Page {
    proto::merchant::Page {
        code: p.code,
        url: p.url,
    }
}

/// `POST /v1/agent/calls/{id}/push` — pushes the merchant's page for a code to the visitor of
/// this agent's call in progress (a `system/page` entry on the call's session); answers the page.
#[utoipa::path(post, path = "/v1/agent/calls/{id}/push", tag = "agents", request_body = proto::agent::PushPage,
    params(("id" = String, Path, description = "The call (`clk_…`)")),
    responses((status = 200, body = proto::merchant::Page), (status = 400, body = proto::Problem),
        (status = 403, body = proto::Problem), (status = 409, body = proto::Problem)))]
pub(crate) async fn push_page(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(req): Json<proto::agent::PushPage>,
) -> Result<axum::Json<proto::merchant::Page>, ApiError> {
    let a = agent(&app, &caller).await?;
    let page = app.merchants.push_page(&a, &id, &req.code).await?;
    Ok(axum::Json(page_out(page)))
}

/// The visitor token of a request (`Authorization: Bearer vis_…`).
pub(crate) struct Visitor(String);

impl FromRequestParts<AppState> for Visitor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        match bearer(parts) {
            Ok(Some(t)) => Ok(Visitor(t.expose().to_owned())),
            _ => Err(ApiError::Unauthenticated),
        }
    }
}

/// `GET /v1/clicks/{id}` — the visitor's call: its state, its place in the queue and the
/// expected wait; with `wait`, answers when something changes (or the time is up).
#[utoipa::path(get, path = "/v1/clicks/{id}", tag = "merchants", params(WaitQuery,
    ("id" = String, Path, description = "The call (`clk_…`)")),
    responses((status = 200, body = proto::agent::VisitorCall), (status = 401, body = proto::Problem),
        (status = 404, body = proto::Problem)))]
pub(crate) async fn visitor_call(
    State(app): State<AppState>,
    Visitor(token): Visitor,
    Path(id): Path<String>,
    Query(q): Query<WaitQuery>,
) -> Result<axum::Json<proto::agent::VisitorCall>, ApiError> {
    let before = app.merchants.visitor_standing(&id, &token).await?;
    let wait = wait_of(q.wait);
    let (click, standing) = if wait.is_zero() {
        before
    } else {
        app.merchants.visitor_wait(wait).await;
        app.merchants.visitor_standing(&id, &token).await?
    };
    let answered = click.state == "answered";
    Ok(axum::Json(proto::agent::VisitorCall {
        id: click.id,
        state: click.state,
        position: standing.as_ref().and_then(|s| s.position).map(|p| p as u32),
        expected_wait_secs: standing
            .as_ref()
            .filter(|s| s.position.is_some())
            .and_then(|s| s.expected_wait_ms)
            .map(|ms| (ms.max(0) as u64).div_ceil(1000)),
        agent: click.agent,
        outcome: click.outcome,
        session: click
            .session
            .filter(|_| answered)
            .map(|k| k.as_str().to_owned()),
    }))
}

/// `GET /v1/clicks/{id}/pages/{code}` — the merchant's page for a code the call centre keyed on
/// the phone (DTMF through the WebRTC-to-SIP gateway), for the visitor's call window to load.
#[utoipa::path(get, path = "/v1/clicks/{id}/pages/{code}", tag = "merchants",
    params(("id" = String, Path, description = "The call (`clk_…`)"),
        ("code" = String, Path, description = "The code, as keyed (`*76`; `#` is `%23`)")),
    responses((status = 200, body = proto::merchant::Page), (status = 400, body = proto::Problem),
        (status = 401, body = proto::Problem), (status = 404, body = proto::Problem)))]
pub(crate) async fn visitor_page(
    State(app): State<AppState>,
    Visitor(token): Visitor,
    Path((id, code)): Path<(String, String)>,
) -> Result<axum::Json<proto::merchant::Page>, ApiError> {
    let page = app.merchants.visitor_page(&id, &token, &code).await?;
    Ok(axum::Json(page_out(page)))
}

/// `POST /v1/clicks/{id}/hangup` — the visitor hangs up (closing the call window counts).
#[utoipa::path(post, path = "/v1/clicks/{id}/hangup", tag = "merchants",
    params(("id" = String, Path, description = "The call (`clk_…`)")),
    responses((status = 204), (status = 401, body = proto::Problem), (status = 404, body = proto::Problem),
        (status = 409, body = proto::Problem)))]
pub(crate) async fn visitor_hangup(
    State(app): State<AppState>,
    Visitor(token): Visitor,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    app.merchants.visitor_hangup(&id, &token).await?;
    Ok(StatusCode::NO_CONTENT)
}
