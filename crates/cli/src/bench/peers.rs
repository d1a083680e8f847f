//! `callside bench relay --against URL`: the relay bench's load, from the same generator
//! (`relay.rs`), through a broker a user might pick instead of callside.
//!
//! - `mqtt://HOST:PORT` — an MQTT 3.1.1 broker (Mosquitto) at QoS 1: each pair's sender publishes
//!   to its own topic, a message is accepted when the broker's `PUBACK` arrives, and the
//!   receiver's subscription (QoS 1, acknowledged by the client library) delivers it.
//! - `nats://HOST:PORT` — NATS JetStream with file storage: one stream for the run, each pair's
//!   sender publishes to its own subject and a message is accepted when the stream's
//!   acknowledgement arrives; each receiver reads through a pull consumer of its own subject and
//!   acknowledges every 64th message cumulatively (`AckPolicy::All`), as callside's receivers do.
//!
//! Every device has a connection of its own, as every callside device has its own WebSocket.
//! Each message is `PAYLOAD_BYTES` long: the send time in microseconds, then padding — about the
//! size of the frame callside's bench sends.

use super::measure::{concurrently, CpuMeter, Scrape};
use super::relay::{collect, print_totals, send_paced, PairCounts, Schedule, Tally};
use super::Ctx;
use anyhow::{bail, Context};
use async_nats::jetstream;
use bytes::Bytes;
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Outgoing, Packet, QoS};
use serde_json::json;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinSet;

const PAYLOAD_BYTES: usize = 200;
const TOPIC_PREFIX: &str = "callside-bench";
const STREAM: &str = "CALLSIDE_BENCH";
/// How long connecting and subscribing may take before the broker counts as unreachable.
const SET_UP: Duration = Duration::from_secs(10);

/// A message stamped `stamp`, padded to [`PAYLOAD_BYTES`].
fn payload(stamp: u64) -> Bytes {
    let mut text = format!("{stamp} ");
    text.extend(std::iter::repeat_n(
        'x',
        PAYLOAD_BYTES.saturating_sub(text.len()),
    ));
    Bytes::from(text)
}

/// The stamp at the start of a payload.
fn stamp_of(payload: &[u8]) -> Option<u64> {
    let end = payload.iter().position(|b| *b == b' ')?;
    std::str::from_utf8(&payload[..end]).ok()?.parse().ok()
}

enum Broker {
    Mqtt { host: String, port: u16 },
    JetStream { url: String },
}

impl Broker {
    fn parse(url: &str) -> anyhow::Result<Broker> {
        let (scheme, rest) = url.split_once("://").with_context(|| {
            format!("--against {url}: expected mqtt://HOST:PORT or nats://HOST:PORT")
        })?;
        match scheme {
            "mqtt" => {
                let rest = rest.trim_end_matches('/');
                let (host, port) = match rest.rsplit_once(':') {
                    Some((h, p)) => (h, p.parse().with_context(|| format!("--against {url}: bad port"))?),
                    None => (rest, 1883),
                };
                Ok(Broker::Mqtt {
                    host: host.to_owned(),
                    port,
                })
            }
            "nats" => Ok(Broker::JetStream {
                url: url.to_owned(),
            }),
            other => bail!("--against {url}: unknown scheme {other:?}; expected mqtt:// (Mosquitto, QoS 1) or nats:// (NATS JetStream)"),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Broker::Mqtt { .. } => "mqtt",
            Broker::JetStream { .. } => "jetstream",
        }
    }
}

pub(super) async fn bench_against(
    ctx: &Ctx,
    url: &str,
    pairs: usize,
    duration: Duration,
    rate: Option<f64>,
    window: usize,
) -> anyhow::Result<()> {
    let broker = Broker::parse(url)?;
    let window = window.min(usize::from(u16::MAX));
    let delivered = Arc::new(AtomicU64::new(0));
    let before = Scrape::of_process(ctx.server_pid);
    let mut senders = JoinSet::new();
    let mut receivers = JoinSet::new();
    let (schedule, cpu) = match &broker {
        Broker::Mqtt { host, port } => {
            let links = concurrently(
                ctx,
                "connecting and subscribing",
                (0..pairs).collect(),
                |i| mqtt_pair(host.clone(), *port, i, window),
            )
            .await?;
            let cpu = CpuMeter::start(ctx);
            let schedule = Schedule::start(duration, rate, pairs, window);
            for link in links {
                spawn_mqtt(link, schedule, &delivered, &mut senders, &mut receivers)?;
            }
            (schedule, cpu)
        }
        Broker::JetStream { url } => {
            let admin = async_nats::connect(url.as_str())
                .await
                .with_context(|| format!("connecting to NATS at {url}"))?;
            let js = jetstream::new(admin);
            let _ = js.delete_stream(STREAM).await;
            js.create_stream(jetstream::stream::Config {
                name: STREAM.to_owned(),
                subjects: vec![format!("{TOPIC_PREFIX}.>")],
                storage: jetstream::stream::StorageType::File,
                ..Default::default()
            })
            .await
            .context(
                "creating the bench's JetStream stream (is JetStream enabled: nats-server -js?)",
            )?;
            let links = concurrently(
                ctx,
                "connecting and subscribing",
                (0..pairs).collect(),
                |i| jetstream_pair(url.clone(), i),
            )
            .await?;
            let cpu = CpuMeter::start(ctx);
            let schedule = Schedule::start(duration, rate, pairs, window);
            for link in links {
                spawn_jetstream(link, schedule, &delivered, &mut senders, &mut receivers)?;
            }
            (schedule, cpu)
        }
    };
    let progress = tokio::spawn(super::measure::show_progress(
        ctx.out,
        "messages delivered",
        delivered.clone(),
        duration,
        schedule.deadline,
    ));
    let totals = collect(schedule.base, senders, receivers).await;
    let cpu = cpu.stop();
    let _ = progress.await;
    let totals = totals?;
    let after = Scrape::of_process(ctx.server_pid);
    if let Broker::JetStream { url } = &broker {
        if let Ok(admin) = async_nats::connect(url.as_str()).await {
            let _ = jetstream::new(admin).delete_stream(STREAM).await;
        }
    }
    let lost = print_totals(ctx, &totals, &before, &after, cpu);
    let (accepted, send_secs) = (totals.accepted.len(), totals.send_secs);
    let value = json!({
        "mode": "relay",
        "against": broker.name(),
        "url": url,
        "name": "totals",
        "pairs": pairs,
        "window": window,
        "target_rate": rate,
        "payload_bytes": PAYLOAD_BYTES,
        "secs": send_secs,
        "accepted": accepted,
        "accepted_per_sec": accepted as f64 / send_secs,
        "not_delivered": lost,
    });
    ctx.out.result(&value, || {
        format!(
            "{} at {url}, {pairs} pairs, window {window}{}: {accepted} messages accepted in {send_secs:.1} s = {:.0}/s; {lost} not delivered within 5 s",
            broker.name(),
            rate.map_or(String::new(), |r| format!(", target {r:.0}/s")),
            accepted as f64 / send_secs,
        )
    });
    Ok(())
}

// ------------------------------------------------------------------ MQTT

/// One pair's MQTT clients, connected and subscribed.
struct MqttPair {
    topic: String,
    publisher: AsyncClient,
    publisher_loop: EventLoop,
    subscriber_loop: EventLoop,
    /// Kept so the subscriber's event loop is not told its clients are gone.
    _subscriber: AsyncClient,
}

fn mqtt_options(id: String, host: &str, port: u16, window: usize) -> MqttOptions {
    let mut options = MqttOptions::new(id, host, port);
    options.set_keep_alive(Duration::from_secs(60));
    options.set_inflight(u16::try_from(window).unwrap_or(u16::MAX));
    options
}

/// Polls `events` until `wanted` says it has seen what it waits for.
async fn mqtt_until(
    events: &mut EventLoop,
    what: &str,
    wanted: impl Fn(&Event) -> bool,
) -> anyhow::Result<()> {
    tokio::time::timeout(SET_UP, async {
        loop {
            let event = events
                .poll()
                .await
                .with_context(|| format!("MQTT: {what}"))?;
            if wanted(&event) {
                return anyhow::Ok(());
            }
        }
    })
    .await
    .with_context(|| format!("MQTT: {what}: no answer within {SET_UP:?}"))?
}

async fn mqtt_pair(host: String, port: u16, i: usize, window: usize) -> anyhow::Result<MqttPair> {
    let topic = format!("{TOPIC_PREFIX}/{i}");
    let id = std::process::id();
    // The request queue holds the whole window, so a publish never waits for it.
    let (subscriber, mut subscriber_loop) = AsyncClient::new(
        mqtt_options(format!("cb-{id}-b{i}"), &host, port, window),
        16,
    );
    subscriber
        .subscribe(topic.clone(), QoS::AtLeastOnce)
        .await?;
    mqtt_until(&mut subscriber_loop, "subscribing", |e| {
        matches!(e, Event::Incoming(Packet::SubAck(_)))
    })
    .await?;
    let (publisher, mut publisher_loop) = AsyncClient::new(
        mqtt_options(format!("cb-{id}-a{i}"), &host, port, window),
        window + 16,
    );
    publisher_loop.network_options.set_tcp_nodelay(true);
    mqtt_until(&mut publisher_loop, "connecting", |e| {
        matches!(e, Event::Incoming(Packet::ConnAck(_)))
    })
    .await?;
    Ok(MqttPair {
        topic,
        publisher,
        publisher_loop,
        subscriber_loop,
        _subscriber: subscriber,
    })
}

/// Publishes waiting for their `PUBACK`: queued in the order they were handed to the client,
/// then by packet id once the event loop has sent them.
#[derive(Default)]
struct Unacked {
    queued: VecDeque<oneshot::Sender<()>>,
    sent: HashMap<u16, oneshot::Sender<()>>,
}

fn spawn_mqtt(
    link: MqttPair,
    schedule: Schedule,
    delivered: &Arc<AtomicU64>,
    senders: &mut JoinSet<anyhow::Result<Histogram<u64>>>,
    receivers: &mut JoinSet<anyhow::Result<Histogram<u64>>>,
) -> anyhow::Result<()> {
    let counts = PairCounts::default();
    let unacked = Arc::new(Mutex::new(Unacked::default()));
    let MqttPair {
        topic,
        publisher,
        mut publisher_loop,
        mut subscriber_loop,
        _subscriber: subscriber,
    } = link;
    let acks = unacked.clone();
    let driver = async move {
        loop {
            match publisher_loop.poll().await? {
                Event::Outgoing(Outgoing::Publish(pkid)) => {
                    let mut u = acks.lock().expect("unacked");
                    if let Some(tx) = u.queued.pop_front() {
                        u.sent.insert(pkid, tx);
                    }
                }
                Event::Incoming(Packet::PubAck(ack)) => {
                    if let Some(tx) = acks.lock().expect("unacked").sent.remove(&ack.pkid) {
                        let _ = tx.send(());
                    }
                }
                _ => {}
            }
        }
    };
    let sender_counts = counts.clone();
    senders.spawn(async move {
        let work = send_paced(schedule, &sender_counts, |t0| {
            let (tx, rx) = oneshot::channel();
            // Queued and handed over in one step, so the queue's order is the wire's order.
            let handed = {
                let mut u = unacked.lock().expect("unacked");
                u.queued.push_back(tx);
                let handed = publisher.try_publish(
                    topic.clone(),
                    QoS::AtLeastOnce,
                    false,
                    payload(schedule.stamp(t0)),
                );
                if handed.is_err() {
                    u.queued.pop_back();
                }
                handed
            };
            async move {
                handed.context("MQTT publish")?;
                rx.await.context("MQTT: the connection ended before the PUBACK")
            }
        });
        tokio::select! {
            r = work => r,
            r = driver => {
                let r: anyhow::Result<()> = r;
                Err(r.err().unwrap_or_else(|| anyhow::anyhow!("MQTT: the publisher's connection ended")))
            }
        }
    });
    let mut tally = Tally::new(schedule, &counts, delivered)?;
    receivers.spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        loop {
            tokio::select! {
                event = subscriber_loop.poll() => {
                    if let Event::Incoming(Packet::Publish(p)) = event.context("MQTT subscriber")? {
                        if let Some(stamp) = stamp_of(&p.payload) {
                            tally.delivered(stamp);
                        }
                    }
                }
                _ = tick.tick() => if tally.finished() { break },
            }
        }
        let _ = subscriber.disconnect().await;
        anyhow::Ok(tally.into_histogram())
    });
    Ok(())
}

// ------------------------------------------------------------------ JetStream

struct JetStreamPair {
    subject: String,
    publisher: jetstream::Context,
    messages: jetstream::consumer::pull::Stream,
}

async fn jetstream_pair(url: String, i: usize) -> anyhow::Result<JetStreamPair> {
    let subject = format!("{TOPIC_PREFIX}.{i}");
    let connect = || async {
        async_nats::connect(url.as_str())
            .await
            .with_context(|| format!("connecting to NATS at {url}"))
    };
    // The receiver reads on a connection of its own, through a consumer of its pair's subject.
    let reader = jetstream::new(connect().await?);
    let consumer = reader
        .get_stream(STREAM)
        .await
        .context("opening the bench's stream")?
        .create_consumer(jetstream::consumer::pull::Config {
            filter_subject: subject.clone(),
            ack_policy: jetstream::consumer::AckPolicy::All,
            max_ack_pending: 100_000,
            ..Default::default()
        })
        .await
        .context("creating a JetStream consumer")?;
    let messages = consumer.messages().await.context("consuming")?;
    Ok(JetStreamPair {
        subject,
        publisher: jetstream::new(connect().await?),
        messages,
    })
}

fn spawn_jetstream(
    link: JetStreamPair,
    schedule: Schedule,
    delivered: &Arc<AtomicU64>,
    senders: &mut JoinSet<anyhow::Result<Histogram<u64>>>,
    receivers: &mut JoinSet<anyhow::Result<Histogram<u64>>>,
) -> anyhow::Result<()> {
    let counts = PairCounts::default();
    let JetStreamPair {
        subject,
        publisher,
        mut messages,
    } = link;
    let sender_counts = counts.clone();
    senders.spawn(async move {
        send_paced(schedule, &sender_counts, |t0| {
            let (js, subject) = (publisher.clone(), subject.clone());
            let body = payload(schedule.stamp(t0));
            async move {
                let ack = js
                    .publish(subject, body)
                    .await
                    .context("JetStream publish")?;
                ack.await
                    .context("JetStream: the stream's acknowledgement")?;
                Ok(())
            }
        })
        .await
    });
    let mut tally = Tally::new(schedule, &counts, delivered)?;
    receivers.spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        let mut last = None;
        let mut unacked = 0u32;
        loop {
            tokio::select! {
                next = messages.next() => match next {
                    None => break,
                    Some(m) => {
                        let m = m.map_err(|e| anyhow::anyhow!("JetStream consumer: {e}"))?;
                        if let Some(stamp) = stamp_of(&m.payload) {
                            tally.delivered(stamp);
                        }
                        unacked += 1;
                        if unacked == 64 {
                            m.ack().await.map_err(|e| anyhow::anyhow!("JetStream ack: {e}"))?;
                            unacked = 0;
                            last = None;
                        } else {
                            last = Some(m);
                        }
                    }
                },
                _ = tick.tick() => if tally.finished() { break },
            }
        }
        if let Some(m) = last {
            m.ack()
                .await
                .map_err(|e| anyhow::anyhow!("JetStream ack: {e}"))?;
        }
        anyhow::Ok(tally.into_histogram())
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_carries_its_stamp_and_has_the_stated_size() {
        let p = payload(1_234_567);
        assert_eq!(p.len(), PAYLOAD_BYTES);
        assert_eq!(stamp_of(&p), Some(1_234_567));
        assert_eq!(stamp_of(b"no-stamp"), None);
    }

    #[test]
    fn against_urls_name_their_broker_or_are_refused() {
        assert!(matches!(
            Broker::parse("mqtt://127.0.0.1:1884").unwrap(),
            Broker::Mqtt { port: 1884, .. }
        ));
        assert!(matches!(
            Broker::parse("mqtt://localhost").unwrap(),
            Broker::Mqtt { port: 1883, .. }
        ));
        assert!(matches!(
            Broker::parse("nats://127.0.0.1:4222").unwrap(),
            Broker::JetStream { .. }
        ));
        let e = Broker::parse("amqp://x").err().unwrap().to_string();
        assert!(e.contains("unknown scheme"), "{e}");
        assert!(Broker::parse("127.0.0.1:1883").is_err());
    }
}
