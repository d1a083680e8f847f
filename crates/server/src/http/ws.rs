//! `GET /v1/ws`: one WebSocket per device for all of its sessions and events.
//!
//! On connect the server sends `ready` (with the open sessions), then re-delivers every message
//! after each session's acknowledged sequence number, then live traffic. Sends are sequenced in
//! the order they arrive and answered with `accepted` once committed; several may be in flight.
//! The loop is written over any `Sink`/`Stream` of WebSocket messages.

use crate::app::{App, AppState};
use crate::http::error::ApiError;
use crate::http::extract::bearer;
use crate::http::wire as mapping;
use crate::hub::Outbound;
use crate::sessions::http::{accepted_out, submit};
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::request::Parts;
use axum::response::Response;
use callside_core::{Principal, SessionKey, Token};
use callside_proto::ws::{ClientFrame, ServerFrame};
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt as _, Sink, SinkExt, Stream, StreamExt};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

/// Sockets one device may hold open (its app and its linked browsers), and one service account
/// (a contact centre's agents may share one): beyond them an upgrade is refused, so one principal
/// cannot take every descriptor.
const MAX_SOCKETS_PER_DEVICE: usize = 16;
const MAX_SOCKETS_PER_SERVICE: usize = 1024;

/// Most sends awaiting their commit on one connection before the server stops reading.
const MAX_IN_FLIGHT: usize = 1024;
/// Messages read from the store per page when catching up.
const REPLAY_PAGE: u32 = 500;

/// `GET /v1/ws` — authenticates (bearer header, or for browsers, which cannot set headers on a
/// WebSocket, a single-use `ticket` query parameter from `POST /v1/ws/tickets`) and upgrades.
pub(crate) async fn upgrade(
    State(app): State<AppState>,
    parts: Parts,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let ticket = parts.uri.query().and_then(|q| {
        q.split('&')
            .find_map(|kv| kv.strip_prefix("ticket="))
            .map(Token::from_presented)
    });
    // A revocation between here and the socket's registration in the hub would miss it: the
    // generation tells `serve` to check again.
    let generation = app.auth.generation();
    let token = bearer(&parts)?;
    let who = match (&token, ticket) {
        (Some(token), _) => app.auth.resolve_credential(token).await?,
        (None, Some(ticket)) => app
            .auth
            .redeem_ticket(&ticket, crate::clock::now_ms())
            .await
            .ok_or_else(|| {
                ApiError::Unauthorized(
                    "invalid_ticket",
                    "the ticket is unknown, used or expired: get a new one (POST /v1/ws/tickets)"
                        .into(),
                )
            })?,
        (None, None) => return Err(ApiError::Unauthenticated),
    };
    if who.principal.is_admin() {
        return Err(ApiError::Forbidden(
            "admin_only",
            "the admin token has no sessions".into(),
        ));
    }
    let cap = match who.principal.kind {
        callside_core::PrincipalKind::Device { .. } => MAX_SOCKETS_PER_DEVICE,
        _ => MAX_SOCKETS_PER_SERVICE,
    };
    if app.hub.connections_of(&who.principal.id) >= cap {
        return Err(ApiError::TooMany(
            "too_many_connections",
            format!("at most {cap} sockets open at once for one device or account; close one"),
        ));
    }
    let limit = app.config.max_message_bytes * 2 + 4096;
    // tungstenite's default 128 KiB read buffer is allocated and zero-filled per socket; a
    // small one keeps an idle device cheap (larger frames still grow it as needed).
    Ok(ws
        .read_buffer_size(1024)
        .write_buffer_size(4096)
        .max_message_size(limit)
        .max_frame_size(limit)
        .on_upgrade(move |socket: WebSocket| {
            // Split here, not in an `async` block: a block that owned the socket would keep room
            // for it in every connection's task beside the serve loop (~200 bytes per device).
            let (sink, stream) = socket.split();
            serve(app, who, (generation, token), sink, stream)
        }))
}

fn text(frame: &ServerFrame) -> Message {
    Message::Text(Utf8Bytes::from(
        serde_json::to_string(frame).expect("frames serialise"),
    ))
}

fn error_frame(e: &ApiError, id: Option<String>, session: Option<String>) -> ServerFrame {
    if let ApiError::Internal(cause) = e {
        tracing::error!(%cause, "websocket request failed");
    }
    ServerFrame::Error {
        code: e.code().to_owned(),
        detail: e.detail(),
        id,
        session,
    }
}

struct Conn<'a, S> {
    app: &'a App,
    who: Arc<Principal>,
    /// The bearer token the socket opened with (`None`: a ticket); a follower of a cluster
    /// forwards leg reports to the leader with it.
    token: Option<Token>,
    sink: S,
    /// Highest sequence number written to the socket, per session.
    sent: HashMap<SessionKey, u64>,
}

impl<S> Conn<'_, S>
where
    S: Sink<Message> + Unpin,
{
    /// Queues a frame; the serve loop flushes once per turn, so a burst costs one write.
    async fn send(&mut self, m: Message) -> Result<(), ()> {
        self.sink.feed(m).await.map_err(|_| ())
    }

    async fn flush(&mut self) -> Result<(), ()> {
        self.sink.flush().await.map_err(|_| ())
    }

    /// Queues the answer to a client's frame; `Err` when the socket failed or the answer
    /// closes it (a send that lost its sequence number: the client resumes).
    async fn answer(&mut self, frame: ServerFrame) -> Result<(), ()> {
        self.send(text(&frame)).await?;
        if is_resume(&frame) {
            return Err(());
        }
        Ok(())
    }

    /// Queues an error frame about no request in particular.
    async fn send_error(&mut self, e: ApiError) -> Result<(), ()> {
        self.send(text(&error_frame(&e, None, None))).await
    }

    /// Last words to a connection that fell behind.
    async fn lagging(&mut self) {
        let f = ServerFrame::Error {
            code: "lagging".into(),
            detail: format!(
                "{}: this connection fell behind; reconnect and resume",
                ApiError::Unavailable
            ),
            id: None,
            session: None,
        };
        self.send_now(text(&f)).await;
    }

    /// Sends a frame and flushes at once (last words before closing).
    async fn send_now(&mut self, m: Message) {
        let _ = self.sink.send(m).await;
    }

    /// Sends every stored message of `key` after what was sent, up to `upto` if given.
    async fn catch_up(&mut self, key: &SessionKey, upto: Option<u64>) -> Result<(), ()> {
        loop {
            let after = *self.sent.get(key).unwrap_or(&0);
            if upto.is_some_and(|u| after >= u) {
                return Ok(());
            }
            let page = match self
                .app
                .sessions
                .replay(&self.who.id, key, after, REPLAY_PAGE)
                .await
            {
                Ok(p) => p,
                Err(e) => {
                    let f = error_frame(&e.into(), None, Some(key.to_string()));
                    return self.send(text(&f)).await;
                }
            };
            if page.is_empty() {
                return Ok(());
            }
            for m in &page {
                if upto.is_some_and(|u| m.seq > u) {
                    return Ok(());
                }
                self.send(Message::Text(Utf8Bytes::from(
                    mapping::message_frame_json(m).to_string(),
                )))
                .await?;
                self.sent.insert(key.clone(), m.seq);
            }
            // A long backlog goes out page by page rather than piling up in the socket buffer.
            self.flush().await?;
        }
    }

    async fn deliver(&mut self, out: Arc<Outbound>) -> Result<(), ()> {
        match &*out {
            Outbound::Revoked(json) => {
                let _ = self
                    .send(Message::Text(Utf8Bytes::from(json.to_string())))
                    .await;
                let _ = self.flush().await;
                Err(())
            }
            Outbound::Frame(json) => {
                self.send(Message::Text(Utf8Bytes::from(json.to_string())))
                    .await
            }
            Outbound::Message { key, seq, json, at } => {
                let seq = *seq;
                let sent = *self.sent.get(key).unwrap_or(&0);
                if seq <= sent {
                    return Ok(());
                }
                if seq > sent + 1 {
                    self.catch_up(key, Some(seq - 1)).await?;
                }
                self.send(Message::Text(Utf8Bytes::from(json.to_string())))
                    .await?;
                self.sent.insert(key.clone(), seq);
                self.app
                    .metrics
                    .deliveries
                    .observe(at.elapsed().as_secs_f64());
                Ok(())
            }
        }
    }

    async fn ready(&mut self) -> Result<(), ()> {
        let sessions = match self.app.sessions.open_of(&self.who.id).await {
            Ok(s) => s,
            Err(_) => return Err(()),
        };
        let mut infos = Vec::with_capacity(sessions.len());
        for rec in &sessions {
            let acked = rec
                .participants
                .iter()
                .find(|p| p.principal == self.who.id)
                .map(|p| p.acked_seq)
                .unwrap_or(0);
            self.sent.insert(rec.session.key.clone(), acked);
            infos.push(mapping::session_info(rec));
        }
        let ready = ServerFrame::Ready {
            protocol: callside_proto::PROTOCOL_VERSION,
            principal: self.who.id.to_string(),
            heartbeat_secs: self.app.config.heartbeat.as_secs(),
            sessions: infos,
        };
        self.send(text(&ready)).await?;
        for rec in &sessions {
            self.catch_up(&rec.session.key, None).await?;
        }
        Ok(())
    }
}

type InFlight = FuturesUnordered<BoxFuture<'static, ServerFrame>>;

/// The error code of the frame that closes a socket whose send lost its sequence number to
/// another node: the client reconnects and sends what was not accepted again.
const RESUME: &str = "resume";

fn is_resume(frame: &ServerFrame) -> bool {
    matches!(frame, ServerFrame::Error { code, .. } if code == RESUME)
}

/// Runs one connection until the peer goes away, stops answering, or the server shuts down.
/// Serves one socket of `resolved`, who authenticated at auth generation `checked.0` (with the
/// bearer token `checked.1`, or a ticket).
pub(crate) async fn serve<S, R>(
    app: AppState,
    resolved: crate::identity::auth::Resolved,
    checked: (u64, Option<Token>),
    sink: S,
    mut stream: R,
) where
    S: Sink<Message> + Unpin,
    R: Stream<Item = Result<Message, axum::Error>> + Unpin,
{
    let reg = app
        .hub
        .register_from(resolved.principal.id.clone(), resolved.browser.clone());
    let mut conn = Conn {
        app: &app,
        who: resolved.principal.clone(),
        token: checked.1.clone(),
        sink,
        sent: HashMap::new(),
    };
    // Registered now, so a revocation from here on closes this socket; one that came since the
    // upgrade authenticated is caught by checking again.
    // Every step larger than a few words (the check, start-up, a client frame, a delivery, an
    // answer or an error frame) runs boxed: the task of an idle connection then holds only the
    // loop's own state, not room for the largest step (the loop's future was 1,864 bytes with
    // them inline, 1,160 boxed; see docs/PERFORMANCE.md).
    let revoked = Box::pin(async {
        app.auth.generation() != checked.0
            && !app.auth.still_valid(&resolved, checked.1.as_ref()).await
    });
    if revoked.await {
        let e = ApiError::Unauthorized(
            "token_revoked",
            "the credential was revoked while the socket opened".into(),
        );
        let _ = Box::pin(conn.send_error(e)).await;
        let _ = conn.flush().await;
        return;
    }
    let who = resolved.principal;
    if Box::pin(conn.ready()).await.is_err() || conn.flush().await.is_err() {
        return;
    }
    let heartbeat = app.config.heartbeat;
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + heartbeat, heartbeat);
    let mut last_seen = Instant::now();
    let mut in_flight: InFlight = FuturesUnordered::new();
    let queue = &reg.queue;
    loop {
        tokio::select! {
            incoming = stream.next(), if in_flight.len() < MAX_IN_FLIGHT => {
                last_seen = Instant::now();
                match incoming {
                    Some(Ok(Message::Text(t))) => {
                        if Box::pin(handle(&mut conn, &app, t.as_str(), &mut in_flight)).await.is_err() {
                            break;
                        }
                    }
                    Some(Ok(Message::Binary(_))) => {
                        let e = ApiError::bad("invalid_frame", "send JSON text frames");
                        if Box::pin(conn.send_error(e)).await.is_err() {
                            break;
                        }
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                }
            }
            Some(frame) = in_flight.next() => {
                if Box::pin(conn.answer(frame)).await.is_err() {
                    break;
                }
            }
            out = queue.recv() => {
                if Box::pin(conn.deliver(out)).await.is_err() {
                    break;
                }
            }
            _ = queue.lagged.notified() => {
                Box::pin(conn.lagging()).await;
                break;
            }
            _ = ticker.tick() => {
                if last_seen.elapsed() > heartbeat * 5 / 2 {
                    tracing::debug!(principal = %who.id, "connection stopped answering");
                    break;
                }
                if conn.send(Message::Ping(Default::default())).await.is_err() {
                    break;
                }
            }
            _ = app.supervisor.token().cancelled() => {
                conn.send_now(Message::Close(None)).await;
                break;
            }
        }
        // Whatever else is ready goes out with the same flush.
        let mut more = 0;
        let mut failed = false;
        while more < 256 && !failed {
            match queue.try_recv() {
                Some(out) => failed = Box::pin(conn.deliver(out)).await.is_err(),
                None => break,
            }
            more += 1;
        }
        while !failed {
            match in_flight.next().now_or_never() {
                Some(Some(frame)) => failed = Box::pin(conn.answer(frame)).await.is_err(),
                _ => break,
            }
        }
        if failed || conn.flush().await.is_err() {
            break;
        }
    }
    // Let sends already sequenced finish committing; their answers have nowhere to go.
    while in_flight.next().await.is_some() {}
    drop(reg);
}

async fn handle<S>(
    conn: &mut Conn<'_, S>,
    app: &AppState,
    t: &str,
    in_flight: &mut InFlight,
) -> Result<(), ()>
where
    S: Sink<Message> + Unpin,
{
    let frame = match ClientFrame::from_json(t) {
        Ok(f) => f,
        Err(e) => {
            let e = ApiError::bad("invalid_frame", format!("not a client frame: {e}"));
            return conn.send(text(&error_frame(&e, None, None))).await;
        }
    };
    match frame {
        ClientFrame::Send {
            session,
            id,
            kind,
            body,
        } => {
            let result = async {
                let key = SessionKey::parse(&session).ok_or(ApiError::NotFound("session"))?;
                let send = callside_proto::message::SendMessage {
                    id: id.clone(),
                    kind,
                    body,
                };
                submit(app, &conn.who, &key, send).await
            }
            .await;
            match result {
                Ok(pending) => {
                    let sessions = app.sessions.clone();
                    in_flight.push(Box::pin(async move {
                        match pending.wait(&sessions).await {
                            Ok(a) => ServerFrame::Accepted(accepted_out(a)),
                            // Another node numbered the session first. What this socket
                            // queued behind it failed too (its chain broke), so it closes and
                            // the client sends them again, in its order, after reconnecting.
                            Err(e) if e.is_conflict() => ServerFrame::Error {
                                code: RESUME.into(),
                                detail: "another node wrote to this session at the same moment; reconnect and send again".into(),
                                id: None,
                                session: Some(session),
                            },
                            Err(e) => error_frame(&e.into(), Some(id), Some(session)),
                        }
                    }));
                    Ok(())
                }
                Err(e) => {
                    conn.send(text(&error_frame(&e, Some(id), Some(session))))
                        .await
                }
            }
        }
        ClientFrame::Ack { session, seq } => {
            let result = match SessionKey::parse(&session) {
                Some(key) => app
                    .sessions
                    .ack(&conn.who.id, &key, seq)
                    .await
                    .map_err(ApiError::from),
                None => Err(ApiError::NotFound("session")),
            };
            match result {
                Ok(()) => Ok(()),
                Err(e) => conn.send(text(&error_frame(&e, None, Some(session)))).await,
            }
        }
        ClientFrame::Resume { session, after } => {
            let result = async {
                let key = SessionKey::parse(&session).ok_or(ApiError::NotFound("session"))?;
                let rec = app.sessions.record_for(&key, &conn.who.id).await?;
                let acked = rec
                    .participants
                    .iter()
                    .find(|p| p.principal == conn.who.id)
                    .map(|p| p.acked_seq)
                    .unwrap_or(0);
                // Never past the newest message, or live delivery would skip what comes next.
                Ok::<_, ApiError>((key, after.unwrap_or(acked).min(rec.last_seq)))
            }
            .await;
            match result {
                Ok((key, after)) => {
                    conn.sent.insert(key.clone(), after);
                    conn.catch_up(&key, None).await
                }
                Err(e) => conn.send(text(&error_frame(&e, None, Some(session)))).await,
            }
        }
        ClientFrame::Report { id, leg } => {
            let (app, who, token) = (app.clone(), conn.who.clone(), conn.token.clone());
            in_flight.push(Box::pin(async move {
                report(&app, &who, token.as_ref(), id, leg).await
            }));
            Ok(())
        }
        ClientFrame::Ping { nonce } => conn.send(text(&ServerFrame::Pong { nonce })).await,
    }
}

/// A `report` frame: taken here, or, on a node of a cluster that does not match calls, forwarded
/// to the one that does as `POST /v1/legs` with the socket's token.
async fn report(
    app: &App,
    who: &Principal,
    token: Option<&Token>,
    id: String,
    leg: callside_proto::call::ReportLeg,
) -> ServerFrame {
    let lead = app.lead.get().filter(|l| !l.is_leader());
    let Some(lead) = lead else {
        return match crate::calls::http::report_over_socket(app, who, leg).await {
            Ok(leg) => ServerFrame::Reported { id, leg },
            Err(e) => error_frame(&e, Some(id), None),
        };
    };
    let Some(token) = token else {
        let e = ApiError::bad(
            "report_over_http",
            "a socket opened with a ticket reports legs over HTTP (POST /v1/legs)",
        );
        return error_frame(&e, Some(id), None);
    };
    let request = crate::cluster::lead::Forwarded {
        method: "POST".into(),
        path: "/v1/legs".into(),
        client: None,
        headers: vec![
            ("authorization".into(), format!("Bearer {}", token.expose())),
            ("content-type".into(), "application/json".into()),
        ],
        body: serde_json::to_vec(&leg).unwrap_or_default().into(),
    };
    let answer = match lead
        .forward(request, std::time::Duration::from_secs(10))
        .await
    {
        Ok(a) => a,
        Err(e) => {
            tracing::debug!(error = %e, "forwarding a leg report to the leader");
            return error_frame(&ApiError::Unavailable, Some(id), None);
        }
    };
    if answer.status < 300 {
        if let Ok(leg) = serde_json::from_slice(&answer.body) {
            return ServerFrame::Reported { id, leg };
        }
    }
    match serde_json::from_slice::<callside_proto::Problem>(&answer.body) {
        Ok(p) => ServerFrame::Error {
            code: p.code,
            detail: p.detail.unwrap_or(p.title),
            id: Some(id),
            session: None,
        },
        Err(_) => error_frame(&ApiError::Unavailable, Some(id), None),
    }
}
