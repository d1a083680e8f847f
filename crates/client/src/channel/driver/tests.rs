//! The driver over in-memory pipes: each "connection" is a pair of tokio channels, and the test
//! plays the server by reading client frames and writing server frames.

use super::*;
use crate::channel::{Channel, ChannelConfig, Event};
use callside_proto::message::Message;
use serde_json::json;
use std::sync::{Arc, Mutex};

/// The server's end of one in-memory connection.
struct ServerEnd {
    from_client: mpsc::UnboundedReceiver<WsMessage>,
    to_client: mpsc::UnboundedSender<Result<WsMessage, WsError>>,
}

impl ServerEnd {
    fn frame(&self, frame: ServerFrame) {
        let text = serde_json::to_string(&frame).unwrap();
        let _ = self.to_client.send(Ok(WsMessage::text(text)));
    }

    fn ready(&self) {
        self.frame(ServerFrame::Ready {
            protocol: 1,
            principal: "dev_a".into(),
            heartbeat_secs: 30,
            sessions: vec![],
        });
    }

    fn message(&self, session: &str, seq: u64) {
        self.frame(ServerFrame::Message(Message {
            session: session.into(),
            seq,
            id: Some(format!("m{seq}")),
            sender: "dev_b".into(),
            kind: "text".into(),
            body: json!({ "text": format!("message {seq}") }),
            sent_at: 0,
        }));
    }

    /// The next frame the client sent, skipping heartbeats.
    async fn next_client_frame(&mut self) -> ClientFrame {
        loop {
            let msg = self
                .from_client
                .recv()
                .await
                .expect("client hung up before sending");
            if let WsMessage::Text(text) = msg {
                let frame: ClientFrame = serde_json::from_str(text.as_str()).unwrap();
                if !matches!(frame, ClientFrame::Ping { .. }) {
                    return frame;
                }
            }
        }
    }
}

fn pipe() -> ((FrameSink, FrameStream), ServerEnd) {
    let (c2s_tx, c2s_rx) = mpsc::unbounded_channel::<WsMessage>();
    let (s2c_tx, s2c_rx) = mpsc::unbounded_channel::<Result<WsMessage, WsError>>();
    let sink = futures_util::sink::unfold(c2s_tx, |tx, msg: WsMessage| async move {
        tx.send(msg).map_err(|_| WsError::ConnectionClosed)?;
        Ok::<_, WsError>(tx)
    });
    let stream = futures_util::stream::unfold(s2c_rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    (
        (Box::pin(sink), Box::pin(stream)),
        ServerEnd {
            from_client: c2s_rx,
            to_client: s2c_tx,
        },
    )
}

type Attempt = Result<(FrameSink, FrameStream), Error>;

/// Hands out queued connection attempts; counts how many were made.
#[derive(Clone)]
struct TestConnector {
    attempts: Arc<Mutex<VecDeque<Attempt>>>,
    made: Arc<Mutex<usize>>,
}

impl TestConnector {
    fn new() -> Self {
        TestConnector {
            attempts: Arc::new(Mutex::new(VecDeque::new())),
            made: Arc::new(Mutex::new(0)),
        }
    }

    /// Queues a working connection and returns the server's end of it.
    fn accept(&self) -> ServerEnd {
        let (client, server) = pipe();
        self.attempts.lock().unwrap().push_back(Ok(client));
        server
    }

    fn refuse(&self, error: Error) {
        self.attempts.lock().unwrap().push_back(Err(error));
    }

    fn made(&self) -> usize {
        *self.made.lock().unwrap()
    }
}

impl Connect for TestConnector {
    fn connect(&self) -> BoxFuture<'static, Attempt> {
        *self.made.lock().unwrap() += 1;
        let next = self.attempts.lock().unwrap().pop_front();
        Box::pin(async move {
            next.unwrap_or_else(|| Err(Error::Disconnected("no server in this test".into())))
        })
    }
}

/// Starts a channel on the first queued connection, after the server end says `ready`.
async fn start(connector: &TestConnector) -> (Channel, ServerEnd) {
    let server = connector.accept();
    server.ready();
    let channel = Channel::start(connector.clone(), ChannelConfig::default())
        .await
        .unwrap();
    (channel, server)
}

async fn next_message(channel: &mut Channel) -> (String, u64) {
    loop {
        match channel.next_event().await.expect("channel ended") {
            Event::Message(m) => return (m.session, m.seq),
            Event::Ready { .. } | Event::Reconnected { .. } | Event::Disconnected { .. } => {}
            other => panic!("unexpected event {other:?}"),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn redelivered_messages_are_shown_once() {
    let connector = TestConnector::new();
    let (mut channel, first) = start(&connector).await;
    assert!(matches!(
        channel.next_event().await,
        Some(Event::Ready { .. })
    ));
    first.message("s1", 1);
    first.message("s1", 2);
    first.message("s2", 1);
    assert_eq!(next_message(&mut channel).await, ("s1".into(), 1));
    assert_eq!(next_message(&mut channel).await, ("s1".into(), 2));
    assert_eq!(next_message(&mut channel).await, ("s2".into(), 1));

    // The connection drops before any ack; the server re-delivers from the start.
    let second = connector.accept();
    drop(first);
    assert!(matches!(
        channel.next_event().await,
        Some(Event::Disconnected { .. })
    ));
    second.ready();
    assert!(matches!(
        channel.next_event().await,
        Some(Event::Reconnected { .. })
    ));
    second.message("s1", 1);
    second.message("s1", 2);
    second.message("s2", 1);
    second.message("s1", 3);
    second.message("s1", 3);
    assert_eq!(next_message(&mut channel).await, ("s1".into(), 3));
    second.message("s2", 2);
    assert_eq!(next_message(&mut channel).await, ("s2".into(), 2));
    channel.close().await;
}

#[tokio::test(start_paused = true)]
async fn unaccepted_sends_are_resent_after_reconnect() {
    let connector = TestConnector::new();
    let (channel, mut first) = start(&connector).await;
    let sender = channel.sender();
    let sending =
        tokio::spawn(async move { sender.send("s1", "text", json!({"text": "hi"})).await });

    let ClientFrame::Send { id, session, .. } = first.next_client_frame().await else {
        panic!("expected a send");
    };
    assert_eq!(session, "s1");

    // Lost before `accepted`: a refused attempt, then a working connection.
    connector.refuse(Error::Timeout);
    let mut second = connector.accept();
    drop(first);
    second.ready();
    let ClientFrame::Send {
        id: resent_id,
        kind,
        ..
    } = second.next_client_frame().await
    else {
        panic!("expected the send again");
    };
    assert_eq!(resent_id, id, "re-sent under the same client id");
    assert_eq!(kind, "text");
    assert_eq!(connector.made(), 3);

    second.frame(ServerFrame::Accepted(Accepted {
        session: "s1".into(),
        seq: 4,
        id: id.clone(),
        duplicate: true,
    }));
    let accepted = sending.await.unwrap().unwrap();
    assert_eq!((accepted.seq, accepted.id), (4, id));
    channel.close().await;
}

#[tokio::test(start_paused = true)]
async fn sends_and_acks_made_while_disconnected_go_out_after_ready() {
    let connector = TestConnector::new();
    let (mut channel, first) = start(&connector).await;
    assert!(matches!(
        channel.next_event().await,
        Some(Event::Ready { .. })
    ));
    drop(first);
    assert!(matches!(
        channel.next_event().await,
        Some(Event::Disconnected { .. })
    ));

    channel.ack("s1", 5).await.unwrap();
    channel.ack("s1", 7).await.unwrap();
    let sender = channel.sender();
    let sending = tokio::spawn(async move { sender.send_text("s1", "later").await });
    tokio::time::sleep(Duration::from_millis(10)).await;

    let mut second = connector.accept();
    second.ready();
    assert_eq!(
        second.next_client_frame().await,
        ClientFrame::Ack {
            session: "s1".into(),
            seq: 7
        }
    );
    let ClientFrame::Send { id, .. } = second.next_client_frame().await else {
        panic!("expected the send");
    };
    second.frame(ServerFrame::Error {
        code: "session_closed".into(),
        detail: "the session is closed".into(),
        id: Some(id),
        session: Some("s1".into()),
    });
    let err = sending.await.unwrap().unwrap_err();
    assert_eq!(err.code(), Some("session_closed"));

    // Acked messages are not shown again; newer ones are.
    second.message("s1", 7);
    second.message("s1", 8);
    assert_eq!(next_message(&mut channel).await, ("s1".into(), 8));
    channel.close().await;
}

#[tokio::test(start_paused = true)]
async fn a_silent_connection_is_declared_dead_and_pinged_before() {
    let connector = TestConnector::new();
    let (mut channel, mut first) = start(&connector).await;
    assert!(matches!(
        channel.next_event().await,
        Some(Event::Ready { .. })
    ));
    // The server says nothing more; heartbeat is 30 s, so pings go out and after 75 s of
    // silence the connection is given up.
    let started = Instant::now();
    let ping = first.from_client.recv().await.unwrap();
    let WsMessage::Text(text) = ping else {
        panic!("expected a text frame")
    };
    assert!(matches!(
        serde_json::from_str::<ClientFrame>(text.as_str()).unwrap(),
        ClientFrame::Ping { .. }
    ));
    assert!(started.elapsed() >= Duration::from_secs(30));
    let Some(Event::Disconnected { reason }) = channel.next_event().await else {
        panic!("expected a disconnect");
    };
    assert!(reason.contains("no traffic"), "{reason}");
    assert!(started.elapsed() >= Duration::from_secs(70));
    channel.close().await;
}

#[tokio::test(start_paused = true)]
async fn first_connect_failure_is_returned() {
    let connector = TestConnector::new();
    connector.refuse(Error::Api {
        status: 401,
        code: "unauthorized".into(),
        detail: "bad token".into(),
    });
    let err = Channel::start(connector, ChannelConfig::default())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(401));
}

#[tokio::test(start_paused = true)]
async fn a_revoked_token_ends_the_channel() {
    let connector = TestConnector::new();
    let (mut channel, first) = start(&connector).await;
    assert!(matches!(
        channel.next_event().await,
        Some(Event::Ready { .. })
    ));
    connector.refuse(Error::Api {
        status: 401,
        code: "unauthorized".into(),
        detail: "token revoked".into(),
    });
    drop(first);
    assert!(matches!(
        channel.next_event().await,
        Some(Event::Disconnected { .. })
    ));
    let Some(Event::Disconnected { reason }) = channel.next_event().await else {
        panic!("expected the final disconnect");
    };
    assert!(reason.contains("token revoked"));
    assert!(channel.next_event().await.is_none());
    assert!(matches!(
        channel.send_text("s1", "x").await,
        Err(Error::ChannelClosed)
    ));
}

#[tokio::test(start_paused = true)]
async fn reconnect_attempts_back_off() {
    let connector = TestConnector::new();
    let (mut channel, first) = start(&connector).await;
    assert!(matches!(
        channel.next_event().await,
        Some(Event::Ready { .. })
    ));
    drop(first);
    assert!(matches!(
        channel.next_event().await,
        Some(Event::Disconnected { .. })
    ));
    // With no server, attempts continue, spaced by the backoff: within 5 s of virtual time
    // there are only a handful (250 ms, 500 ms, 1 s, 2 s ceilings …), never a tight loop.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let made = connector.made();
    assert!((3..=10).contains(&made), "{made} attempts");
    // And the cap holds: over the next minute at most ~60/5 + 1 more.
    tokio::time::sleep(Duration::from_secs(60)).await;
    let later = connector.made() - made;
    assert!((6..=14).contains(&later), "{later} attempts in a minute");
    channel.close().await;
}

/// A sink that, like a socket's write buffer, holds fed frames until a flush; it records how many
/// frames each flush carried, and fails flushes while `fail` is set.
struct BufferedSink {
    to_server: mpsc::UnboundedSender<WsMessage>,
    buffer: Vec<WsMessage>,
    flushes: Arc<Mutex<Vec<usize>>>,
    fail: Arc<std::sync::atomic::AtomicBool>,
}

impl Sink<WsMessage> for BufferedSink {
    type Error = WsError;

    fn poll_ready(
        self: Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), WsError>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn start_send(self: Pin<&mut Self>, item: WsMessage) -> Result<(), WsError> {
        self.get_mut().buffer.push(item);
        Ok(())
    }

    fn poll_flush(
        self: Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), WsError>> {
        let this = self.get_mut();
        if this.buffer.is_empty() {
            return std::task::Poll::Ready(Ok(()));
        }
        if this.fail.load(std::sync::atomic::Ordering::SeqCst) {
            return std::task::Poll::Ready(Err(WsError::ConnectionClosed));
        }
        this.flushes.lock().unwrap().push(this.buffer.len());
        for msg in this.buffer.drain(..) {
            this.to_server
                .send(msg)
                .map_err(|_| WsError::ConnectionClosed)?;
        }
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_close(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), WsError>> {
        self.poll_flush(cx)
    }
}

/// Queues a connection whose client side is a [`BufferedSink`]; returns the server's end, the
/// flush record and the switch that makes flushes fail.
fn accept_buffered(
    connector: &TestConnector,
) -> (
    ServerEnd,
    Arc<Mutex<Vec<usize>>>,
    Arc<std::sync::atomic::AtomicBool>,
) {
    let (c2s_tx, c2s_rx) = mpsc::unbounded_channel::<WsMessage>();
    let (s2c_tx, s2c_rx) = mpsc::unbounded_channel::<Result<WsMessage, WsError>>();
    let flushes = Arc::new(Mutex::new(Vec::new()));
    let fail = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sink = BufferedSink {
        to_server: c2s_tx,
        buffer: Vec::new(),
        flushes: flushes.clone(),
        fail: fail.clone(),
    };
    let stream = futures_util::stream::unfold(s2c_rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    connector
        .attempts
        .lock()
        .unwrap()
        .push_back(Ok((Box::pin(sink), Box::pin(stream))));
    let server = ServerEnd {
        from_client: c2s_rx,
        to_client: s2c_tx,
    };
    (server, flushes, fail)
}

/// Starts a channel on a [`BufferedSink`] connection and takes its `Ready` event.
async fn start_buffered(
    connector: &TestConnector,
) -> (
    Channel,
    ServerEnd,
    Arc<Mutex<Vec<usize>>>,
    Arc<std::sync::atomic::AtomicBool>,
) {
    let (server, flushes, fail) = accept_buffered(connector);
    server.ready();
    let mut channel = Channel::start(connector.clone(), ChannelConfig::default())
        .await
        .unwrap();
    assert!(matches!(
        channel.next_event().await,
        Some(Event::Ready { .. })
    ));
    (channel, server, flushes, fail)
}

#[tokio::test(start_paused = true)]
async fn commands_that_arrive_together_go_out_in_one_flush() {
    let connector = TestConnector::new();
    let (channel, mut server, flushes, _) = start_buffered(&connector).await;
    flushes.lock().unwrap().clear();
    // Queued before the driver runs again (the test runtime has one thread).
    for seq in 1..=10 {
        channel.ack("s1", seq).await.unwrap();
    }
    for seq in 1..=10 {
        assert_eq!(
            server.next_client_frame().await,
            ClientFrame::Ack {
                session: "s1".into(),
                seq
            }
        );
    }
    let flushes = flushes.lock().unwrap().clone();
    assert_eq!(flushes.iter().sum::<usize>(), 10, "{flushes:?}");
    assert!(flushes.len() < 10, "one flush per frame: {flushes:?}");
    channel.close().await;
}

#[tokio::test(start_paused = true)]
async fn an_ack_whose_flush_failed_is_sent_on_the_next_connection() {
    let connector = TestConnector::new();
    let (mut channel, first, _, fail) = start_buffered(&connector).await;
    let mut second = connector.accept();
    fail.store(true, std::sync::atomic::Ordering::SeqCst);
    channel.ack("s1", 5).await.unwrap();
    assert!(matches!(
        channel.next_event().await,
        Some(Event::Disconnected { .. })
    ));
    second.ready();
    let frame = tokio::time::timeout(Duration::from_secs(5), second.next_client_frame())
        .await
        .expect("the ack was lost with the failed flush");
    assert_eq!(
        frame,
        ClientFrame::Ack {
            session: "s1".into(),
            seq: 5
        }
    );
    drop(first);
    channel.close().await;
}
