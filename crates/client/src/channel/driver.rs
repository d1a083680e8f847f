//! The task behind a [`super::Channel`]: one loop over a `Sink`/`Stream` of WebSocket frames, so
//! the tests can drive it with in-memory channels instead of a server.

use super::state::{Dedup, Outbox};
use super::{ChannelConfig, Event};
use crate::{id::random_unit, Client, Error};
use callside_proto::call::LegStatus;
use callside_proto::message::Accepted;
use callside_proto::ws::{ClientFrame, ServerFrame};
use futures_util::future::BoxFuture;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use reqwest::header::{HeaderValue, AUTHORIZATION};
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage};
use tracing::{debug, warn};

/// Outgoing half of a connection.
pub(crate) type FrameSink = Pin<Box<dyn Sink<WsMessage, Error = WsError> + Send>>;
/// Incoming half of a connection.
pub(crate) type FrameStream = Pin<Box<dyn Stream<Item = Result<WsMessage, WsError>> + Send>>;

/// Opens connections; the real one speaks WebSocket, the tests hand out in-memory pipes.
pub(crate) trait Connect: Send + 'static {
    fn connect(&self) -> BoxFuture<'static, Result<(FrameSink, FrameStream), Error>>;
}

/// Connects to `GET /v1/ws` with the client's bearer token.
pub(crate) struct WsConnector {
    url: String,
    auth: HeaderValue,
    timeout: Duration,
}

impl WsConnector {
    pub(crate) fn new(client: &Client, timeout: Duration) -> Result<Self, Error> {
        let mut url = client.url(&["v1", "ws"]);
        let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
        url.set_scheme(scheme).map_err(|()| Error::InvalidUrl {
            url: client.base_url().to_string(),
            reason: "cannot derive a WebSocket URL".to_owned(),
        })?;
        Ok(WsConnector {
            url: url.to_string(),
            auth: client.auth_header().clone(),
            timeout,
        })
    }
}

impl Connect for WsConnector {
    fn connect(&self) -> BoxFuture<'static, Result<(FrameSink, FrameStream), Error>> {
        let url = self.url.clone();
        let auth = self.auth.clone();
        let timeout = self.timeout;
        Box::pin(async move {
            let mut request = url.as_str().into_client_request()?;
            request.headers_mut().insert(AUTHORIZATION, auth);
            // A small read buffer (tungstenite's default is 128 KiB, zero-filled) keeps many
            // channels in one process cheap; TCP_NODELAY keeps small frames from stalling.
            let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
                .read_buffer_size(4096)
                .write_buffer_size(4096);
            let connecting =
                tokio_tungstenite::connect_async_with_config(request, Some(config), true);
            let (ws, _response) = match tokio::time::timeout(timeout, connecting).await {
                Err(_) => return Err(Error::Timeout),
                Ok(Err(WsError::Http(response))) => {
                    let body = response.body().as_deref().unwrap_or_default();
                    return Err(Error::from_response_body(response.status().as_u16(), body));
                }
                Ok(Err(e)) => return Err(e.into()),
                Ok(Ok(connected)) => connected,
            };
            let (sink, stream) = ws.split();
            Ok((Box::pin(sink) as FrameSink, Box::pin(stream) as FrameStream))
        })
    }
}

/// What the application asks of the driver.
#[derive(Debug)]
pub(crate) enum Command {
    Send {
        session: String,
        id: String,
        kind: String,
        body: Value,
        reply: oneshot::Sender<Result<Accepted, Error>>,
    },
    Ack {
        session: String,
        seq: u64,
    },
    Resume {
        session: String,
        after: Option<u64>,
    },
    Report {
        id: String,
        leg: callside_proto::call::ReportLeg,
        reply: oneshot::Sender<Result<LegStatus, Error>>,
    },
    Close,
}

/// How one connection ended.
enum Outcome {
    /// The application closed the channel (or dropped it).
    Closed,
    /// The connection failed; `was_ready` when the server had sent `ready` on it.
    Lost { reason: String, was_ready: bool },
}

/// A connection error that retrying will not fix (bad token, wrong path, revoked device).
fn is_fatal(e: &Error) -> bool {
    match e {
        Error::Api { status, .. } => (400..500).contains(status) && !matches!(status, 408 | 429),
        Error::InvalidUrl { .. } | Error::InvalidToken => true,
        _ => false,
    }
}

/// How long a deliberate close waits for the server to confirm it has processed everything.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

fn dead_after(heartbeat: Duration) -> Duration {
    heartbeat.mul_f64(2.5)
}

pub(crate) struct Driver<C> {
    connector: C,
    config: ChannelConfig,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<Event>,
    st: State,
}

/// What the driver remembers across connections.
#[derive(Default)]
struct State {
    /// Events produced but not yet taken by the application.
    backlog: VecDeque<Event>,
    dedup: Dedup,
    outbox: Outbox,
    /// Acks and resumes asked for while no connection was ready.
    deferred_acks: HashMap<String, u64>,
    deferred_resumes: Vec<(String, Option<u64>)>,
    /// Leg reports waiting for `reported`, by request id.
    reports: HashMap<String, oneshot::Sender<Result<LegStatus, Error>>>,
    /// Leg reports asked for while no connection was ready (not sent yet).
    deferred_reports: Vec<ClientFrame>,
    /// Whether a `ready` has been seen on some earlier connection.
    was_connected: bool,
    ping_nonce: u64,
}

impl<C: Connect> Driver<C> {
    pub(crate) fn new(
        connector: C,
        config: ChannelConfig,
        commands: mpsc::Receiver<Command>,
        events: mpsc::Sender<Event>,
    ) -> Self {
        Driver {
            connector,
            config,
            commands,
            events,
            st: State::default(),
        }
    }

    /// Runs until the channel is closed. `first` learns how the first connection went.
    pub(crate) async fn run(mut self, first: oneshot::Sender<Result<(), Error>>) {
        let mut first = Some(first);
        let mut attempt: u32 = 0;
        loop {
            let connecting = self.connector.connect();
            let Some(connected) = self.offline(connecting).await else {
                return self.st.shut_down(|| Error::ChannelClosed);
            };
            match connected {
                Ok((sink, stream)) => match self.connection(sink, stream, &mut first).await {
                    Outcome::Closed => return self.st.shut_down(|| Error::ChannelClosed),
                    Outcome::Lost { reason, was_ready } => {
                        if let Some(first) = first.take() {
                            let _ = first.send(Err(Error::Disconnected(reason)));
                            return self.st.shut_down(|| Error::ChannelClosed);
                        }
                        self.st.reports_lost();
                        if was_ready {
                            attempt = 0;
                            debug!(%reason, "channel disconnected");
                            self.st.backlog.push_back(Event::Disconnected { reason });
                        } else {
                            debug!(%reason, "connection lost before ready");
                        }
                    }
                },
                Err(e) => {
                    if let Some(first) = first.take() {
                        let _ = first.send(Err(e));
                        return self.st.shut_down(|| Error::ChannelClosed);
                    }
                    if is_fatal(&e) {
                        warn!(error = %e, "channel gives up reconnecting");
                        self.st.backlog.push_back(Event::Disconnected {
                            reason: e.to_string(),
                        });
                        let code = e.code().unwrap_or("connection_refused").to_owned();
                        let detail = e.to_string();
                        self.st.shut_down(|| Error::Refused {
                            code: code.clone(),
                            detail: detail.clone(),
                        });
                        return self.drain_backlog().await;
                    }
                    debug!(error = %e, attempt, "reconnect attempt failed");
                }
            }
            let delay = self.config.backoff.delay(attempt, random_unit());
            attempt = attempt.saturating_add(1);
            if self.offline(tokio::time::sleep(delay)).await.is_none() {
                return self.st.shut_down(|| Error::ChannelClosed);
            }
        }
    }

    /// Waits for `fut` while no connection is up: commands are queued, events handed out.
    /// `None` when the application closed the channel meanwhile.
    async fn offline<F: Future>(&mut self, fut: F) -> Option<F::Output> {
        tokio::pin!(fut);
        loop {
            tokio::select! {
                out = &mut fut => return Some(out),
                cmd = self.commands.recv() => match cmd {
                    None | Some(Command::Close) => return None,
                    Some(cmd) => {
                        let frame = self.st.take_command(cmd);
                        self.st.defer(frame);
                    }
                },
                permit = self.events.reserve(), if !self.st.backlog.is_empty() => match permit {
                    Ok(permit) => {
                        if let Some(event) = self.st.backlog.pop_front() {
                            permit.send(event);
                        }
                    }
                    Err(_) => return None,
                },
                () = self.events.closed(), if self.st.backlog.is_empty() => return None,
            }
        }
    }

    /// Relays frames over one connection until it ends.
    async fn connection(
        &mut self,
        mut sink: FrameSink,
        mut stream: FrameStream,
        first: &mut Option<oneshot::Sender<Result<(), Error>>>,
    ) -> Outcome {
        let mut ready = false;
        let mut heartbeat = self.config.heartbeat;
        let dead = tokio::time::sleep(dead_after(heartbeat));
        tokio::pin!(dead);
        let mut ping = tokio::time::interval_at(Instant::now() + heartbeat, heartbeat);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let lost = |reason: String, ready: bool| Outcome::Lost {
            reason,
            was_ready: ready,
        };

        // Frames fed to the socket since it was last flushed: commands that arrive together go
        // out in one write instead of one system call each. Acks and resumes among them are
        // kept until the flush, to be sent again on the next connection if it fails (sends
        // stay in the outbox until accepted anyway).
        let mut unflushed = 0usize;
        let mut unflushed_controls: Vec<ClientFrame> = Vec::new();
        loop {
            if unflushed > 0 && (self.commands.is_empty() || unflushed >= MAX_UNFLUSHED) {
                if let Err(e) = sink.flush().await {
                    for frame in unflushed_controls {
                        self.st.defer(frame);
                    }
                    return lost(e.to_string(), ready);
                }
                unflushed = 0;
                unflushed_controls.clear();
            }
            let reading = self.st.backlog.len() < self.config.event_buffer.max(1);
            if !reading {
                // The application is behind; silence is ours, not the server's.
                dead.as_mut().reset(Instant::now() + dead_after(heartbeat));
            }
            tokio::select! {
                cmd = self.commands.recv() => match cmd {
                    None | Some(Command::Close) => {
                        if ready {
                            self.st.settle(&mut sink, &mut stream, heartbeat).await;
                        }
                        let _ = sink.send(WsMessage::Close(None)).await;
                        let _ = sink.close().await;
                        return Outcome::Closed;
                    }
                    Some(cmd) => {
                        let frame = self.st.take_command(cmd);
                        if !ready {
                            self.st.defer(frame);
                        } else if let Err(reason) = feed(&mut sink, &frame).await {
                            for frame in unflushed_controls.drain(..).chain([frame]) {
                                self.st.defer(frame);
                            }
                            return lost(reason, ready);
                        } else {
                            unflushed += 1;
                            if !matches!(frame, ClientFrame::Send { .. }) {
                                unflushed_controls.push(frame);
                            }
                        }
                    }
                },
                item = stream.next(), if reading => {
                    dead.as_mut().reset(Instant::now() + dead_after(heartbeat));
                    let text = match item {
                        None => return lost("the server closed the connection".into(), ready),
                        Some(Err(e)) => return lost(e.to_string(), ready),
                        Some(Ok(WsMessage::Text(text))) => text,
                        Some(Ok(WsMessage::Close(frame))) => {
                            let why = frame
                                .map(|f| format!(": {} {}", u16::from(f.code), f.reason))
                                .unwrap_or_default();
                            return lost(format!("the server closed the connection{why}"), ready);
                        }
                        // WebSocket pings are answered by tungstenite; any traffic proves life.
                        Some(Ok(_)) => continue,
                    };
                    let frame = match ServerFrame::from_json(text.as_str()) {
                        Ok(frame) => frame,
                        Err(e) => {
                            warn!(error = %e, "ignoring a frame the SDK cannot read");
                            continue;
                        }
                    };
                    if let ServerFrame::Ready { protocol, principal, heartbeat_secs, sessions } = frame {
                        ready = true;
                        if heartbeat_secs > 0 {
                            heartbeat = Duration::from_secs(heartbeat_secs);
                        }
                        dead.as_mut().reset(Instant::now() + dead_after(heartbeat));
                        ping = tokio::time::interval_at(Instant::now() + heartbeat, heartbeat);
                        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
                        let event = if self.st.was_connected {
                            Event::Reconnected { sessions }
                        } else {
                            Event::Ready { protocol, principal, heartbeat_secs, sessions }
                        };
                        self.st.was_connected = true;
                        self.st.backlog.push_back(event);
                        if let Some(first) = first.take() {
                            let _ = first.send(Ok(()));
                        }
                        if let Err(reason) = self.st.flush(&mut sink).await {
                            return lost(reason, ready);
                        }
                    } else {
                        self.st.on_frame(frame);
                    }
                },
                () = &mut dead => {
                    let silent = dead_after(heartbeat);
                    return lost(format!("no traffic from the server for {silent:?}"), ready);
                }
                _ = ping.tick(), if ready => {
                    self.st.ping_nonce += 1;
                    let frame = ClientFrame::Ping { nonce: Some(self.st.ping_nonce) };
                    if let Err(reason) = write(&mut sink, &frame).await {
                        return lost(reason, ready);
                    }
                }
                permit = self.events.reserve(), if !self.st.backlog.is_empty() => match permit {
                    Ok(permit) => {
                        if let Some(event) = self.st.backlog.pop_front() {
                            permit.send(event);
                        }
                    }
                    Err(_) => return Outcome::Closed,
                },
                () = self.events.closed(), if self.st.backlog.is_empty() => return Outcome::Closed,
            }
        }
    }

    /// Hands the application the remaining events before the driver ends.
    async fn drain_backlog(&mut self) {
        while let Some(event) = self.st.backlog.pop_front() {
            if self.events.send(event).await.is_err() {
                return;
            }
        }
    }
}

impl State {
    /// Before a deliberate close: sends a `ping` and waits (briefly) for its `pong`. The server
    /// handles a connection's frames in order, so the `pong` means every ack and send written
    /// before it has been processed — closing right after `ack` does not lose the ack.
    async fn settle(
        &mut self,
        sink: &mut FrameSink,
        stream: &mut FrameStream,
        heartbeat: Duration,
    ) {
        self.ping_nonce += 1;
        let nonce = self.ping_nonce;
        if write(sink, &ClientFrame::Ping { nonce: Some(nonce) })
            .await
            .is_err()
        {
            return;
        }
        let wait = async {
            while let Some(Ok(msg)) = stream.next().await {
                let WsMessage::Text(text) = msg else { continue };
                match ServerFrame::from_json(text.as_str()) {
                    Ok(ServerFrame::Pong { nonce: Some(n) }) if n == nonce => return,
                    Ok(frame) => self.on_frame(frame),
                    Err(_) => {}
                }
            }
        };
        let _ = tokio::time::timeout(heartbeat.min(CLOSE_GRACE), wait).await;
    }

    /// Records what a command changes and returns the frame that carries it.
    fn take_command(&mut self, cmd: Command) -> ClientFrame {
        match cmd {
            Command::Send {
                session,
                id,
                kind,
                body,
                reply,
            } => self.outbox.insert(session, id, kind, body, reply),
            Command::Ack { session, seq } => {
                self.dedup.acked(&session, seq);
                ClientFrame::Ack { session, seq }
            }
            Command::Resume { session, after } => {
                self.dedup.rewind(&session, after);
                ClientFrame::Resume { session, after }
            }
            Command::Report { id, leg, reply } => {
                self.reports.insert(id.clone(), reply);
                ClientFrame::Report { id, leg }
            }
            Command::Close => ClientFrame::Ping { nonce: None },
        }
    }

    /// The connection dropped: a leg report sent on it may or may not have been taken, and
    /// sending it again could report the leg twice, so it fails (one not sent yet waits).
    fn reports_lost(&mut self) {
        let waiting: std::collections::HashSet<&str> = self
            .deferred_reports
            .iter()
            .filter_map(|f| match f {
                ClientFrame::Report { id, .. } => Some(id.as_str()),
                _ => None,
            })
            .collect();
        let lost: Vec<String> = self
            .reports
            .keys()
            .filter(|id| !waiting.contains(id.as_str()))
            .cloned()
            .collect();
        for id in lost {
            if let Some(reply) = self.reports.remove(&id) {
                let _ = reply.send(Err(Error::Disconnected(
                    "the connection dropped before the leg report was answered; it may have been taken (GET /v1/legs/{id} of the legs you reported shows)".into(),
                )));
            }
        }
    }

    /// Keeps a frame for the next connection (sends already live in the outbox).
    fn defer(&mut self, frame: ClientFrame) {
        match frame {
            ClientFrame::Ack { session, seq } => {
                let entry = self.deferred_acks.entry(session).or_default();
                *entry = (*entry).max(seq);
            }
            ClientFrame::Resume { session, after } => self.deferred_resumes.push((session, after)),
            report @ ClientFrame::Report { .. } => self.deferred_reports.push(report),
            ClientFrame::Send { .. } | ClientFrame::Ping { .. } => {}
        }
    }

    /// After `ready`: deferred acks and resumes, then every unaccepted send, oldest first.
    async fn flush(&mut self, sink: &mut FrameSink) -> Result<(), String> {
        let mut frames: Vec<ClientFrame> = self
            .deferred_acks
            .drain()
            .map(|(session, seq)| ClientFrame::Ack { session, seq })
            .collect();
        frames.extend(
            self.deferred_resumes
                .drain(..)
                .map(|(session, after)| ClientFrame::Resume { session, after }),
        );
        frames.append(&mut self.deferred_reports);
        frames.extend(self.outbox.frames());
        let mut frames = frames.into_iter();
        while let Some(frame) = frames.next() {
            if let Err(reason) = feed(sink, &frame).await {
                self.defer(frame);
                for rest in frames {
                    self.defer(rest);
                }
                return Err(reason);
            }
        }
        // Frames that were queued but not flushed are in the outbox or acks again after a
        // reconnect (the outbox keeps every send until it is accepted).
        sink.flush().await.map_err(|e| e.to_string())
    }

    fn on_frame(&mut self, frame: ServerFrame) {
        match frame {
            ServerFrame::Ready { .. } | ServerFrame::Pong { .. } => {}
            ServerFrame::Accepted(accepted) => {
                if !self.outbox.accepted(&accepted) {
                    debug!(id = %accepted.id, "accepted for a send no longer pending");
                }
            }
            ServerFrame::Message(message) => {
                if self.dedup.first_time(&message.session, message.seq) {
                    let event = match crate::screens::ScreenEvent::from_message(&message) {
                        Some(screen) => Event::Screen(screen),
                        None => Event::Message(message),
                    };
                    self.backlog.push_back(event);
                }
            }
            ServerFrame::Session(session) => self.backlog.push_back(Event::Session(session)),
            ServerFrame::Leg(leg) => self.backlog.push_back(Event::Leg(leg)),
            ServerFrame::Reported { id, leg } => {
                if let Some(reply) = self.reports.remove(&id) {
                    let _ = reply.send(Ok(leg));
                }
            }
            ServerFrame::Invitation(inv) => self.backlog.push_back(Event::Invitation(inv)),
            ServerFrame::CallNote(note) => self.backlog.push_back(Event::CallNote(note)),
            ServerFrame::Error {
                code,
                detail,
                id,
                session,
            } => {
                if let Some(id) = id {
                    if let Some(reply) = self.reports.remove(&id) {
                        let _ = reply.send(Err(Error::Refused { code, detail }));
                        return;
                    }
                    if self.outbox.refused(&id, &code, &detail) {
                        return;
                    }
                }
                if code == "resume" {
                    // A cluster's node lost a send's number to another node and closes this
                    // socket: the outbox sends again, in order, after reconnecting.
                    debug!(detail, "the server asked to resume");
                    return;
                }
                self.backlog.push_back(Event::Error {
                    code,
                    detail,
                    session,
                });
            }
        }
    }

    /// Fails whatever is still waiting for the server.
    fn shut_down(&mut self, error: impl Fn() -> Error) {
        for (_, reply) in self.reports.drain() {
            let _ = reply.send(Err(error()));
        }
        self.outbox.fail_all(error);
    }
}

/// Frames fed before the socket is flushed even while more commands are waiting.
const MAX_UNFLUSHED: usize = 64;

/// Writes a frame and flushes it to the socket.
async fn write(sink: &mut FrameSink, frame: &ClientFrame) -> Result<(), String> {
    feed(sink, frame).await?;
    sink.flush().await.map_err(|e| e.to_string())
}

/// Queues a frame in the socket's write buffer; [`SinkExt::flush`] sends what is queued.
async fn feed(sink: &mut FrameSink, frame: &ClientFrame) -> Result<(), String> {
    let text = serde_json::to_string(frame).map_err(|e| e.to_string())?;
    sink.feed(WsMessage::text(text))
        .await
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests;
