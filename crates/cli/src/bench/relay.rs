//! `callside bench relay`: pairs stream messages and the bench measures send → accepted (the far
//! end has persisted it) and send → delivered (the peer's app has it).
//!
//! The load generator here — pacing, the window of messages in flight, the clock that stamps
//! each message, the histograms and the end of a run — is shared with `peers.rs`, which drives
//! the brokers a user might pick instead (`--against mqtt://…`, `--against nats://…`), so every
//! figure comes from the same code.

use super::measure::{
    concurrently, histogram, pace, print_resources, print_summary, record, show_progress, summary,
    CpuMeter, Scrape,
};
use super::{place_call, Ctx, Pair};
use anyhow::Context;
use callside_client::{new_message_id, Channel, Event};
use futures_util::stream::FuturesUnordered;
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use serde_json::json;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// How long receivers wait after the senders stop for what is still on its way.
const GRACE: Duration = Duration::from_secs(5);

/// One run's schedule, the same for every sender and receiver.
#[derive(Clone, Copy)]
pub(super) struct Schedule {
    /// Send times travel in each message as microseconds since `base`.
    pub(super) base: Instant,
    pub(super) deadline: Instant,
    /// One sender's interval between messages, when a total rate is set.
    pub(super) pace: Option<Duration>,
    /// Messages one sender keeps in flight (sent, not yet accepted).
    pub(super) window: usize,
}

impl Schedule {
    pub(super) fn start(
        duration: Duration,
        rate: Option<f64>,
        senders: usize,
        window: usize,
    ) -> Schedule {
        let base = Instant::now();
        Schedule {
            base,
            deadline: base + duration,
            pace: pace(rate, senders),
            window,
        }
    }

    /// The stamp a message sent at `t0` carries.
    pub(super) fn stamp(&self, t0: Instant) -> u64 {
        t0.duration_since(self.base).as_micros() as u64
    }
}

/// What one pair shares between its sender and its receiver, and with the run's totals.
#[derive(Clone, Default)]
pub(super) struct PairCounts {
    accepted: Arc<AtomicU64>,
    sender_done: Arc<AtomicBool>,
}

/// Sends until the deadline — paced from each message's scheduled time when a rate is set,
/// otherwise as fast as the window allows — and returns send → accepted. `send(t0)` sends one
/// message stamped with `t0` and resolves when the far end has accepted it.
pub(super) async fn send_paced<F, Fut>(
    schedule: Schedule,
    counts: &PairCounts,
    mut send: F,
) -> anyhow::Result<Histogram<u64>>
where
    F: FnMut(Instant) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let result = async {
        let mut h = histogram()?;
        let mut in_flight = FuturesUnordered::new();
        let mut go = |t0: Instant| {
            let sending = send(t0);
            async move { (t0, sending.await) }
        };
        let mut next = Instant::now();
        loop {
            let open = in_flight.len() < schedule.window && Instant::now() < schedule.deadline;
            if schedule.pace.is_none() && open {
                in_flight.push(go(Instant::now()));
                continue;
            }
            tokio::select! {
                Some((t0, result)) = in_flight.next(), if !in_flight.is_empty() => {
                    result.context("sending")?;
                    record(&mut h, t0);
                    counts.accepted.fetch_add(1, Ordering::Relaxed);
                }
                () = tokio::time::sleep_until(next), if schedule.pace.is_some() && open => {
                    in_flight.push(go(next));
                    next += schedule.pace.unwrap_or_default();
                }
                else => break,
            }
        }
        anyhow::Ok(h)
    }
    .await;
    counts.sender_done.store(true, Ordering::Release);
    result
}

/// A receiver's tally: send → delivered from the stamps it reads, and when it may stop.
pub(super) struct Tally {
    schedule: Schedule,
    counts: PairCounts,
    delivered: Arc<AtomicU64>,
    h: Histogram<u64>,
    seen: u64,
}

impl Tally {
    pub(super) fn new(
        schedule: Schedule,
        counts: &PairCounts,
        delivered: &Arc<AtomicU64>,
    ) -> anyhow::Result<Tally> {
        Ok(Tally {
            schedule,
            counts: counts.clone(),
            delivered: delivered.clone(),
            h: histogram()?,
            seen: 0,
        })
    }

    /// A message stamped `stamp` (see [`Schedule::stamp`]) has reached the app.
    pub(super) fn delivered(&mut self, stamp: u64) {
        record(
            &mut self.h,
            self.schedule.base + Duration::from_micros(stamp),
        );
        self.seen += 1;
        self.delivered.fetch_add(1, Ordering::Relaxed);
    }

    /// Everything the sender had accepted has arrived, or the grace after the deadline is over.
    pub(super) fn finished(&self) -> bool {
        let all_in = self.counts.sender_done.load(Ordering::Acquire)
            && self.seen >= self.counts.accepted.load(Ordering::Relaxed);
        all_in || Instant::now() >= self.schedule.deadline + GRACE
    }

    pub(super) fn into_histogram(self) -> Histogram<u64> {
        self.h
    }
}

/// The figures of a finished run, as every target prints them.
pub(super) struct Totals {
    pub(super) accepted: Histogram<u64>,
    pub(super) delivered: Histogram<u64>,
    pub(super) send_secs: f64,
}

/// Waits for every sender, then every receiver, and merges their histograms.
pub(super) async fn collect(
    started: Instant,
    mut senders: JoinSet<anyhow::Result<Histogram<u64>>>,
    mut receivers: JoinSet<anyhow::Result<Histogram<u64>>>,
) -> anyhow::Result<Totals> {
    let mut accepted = histogram()?;
    let mut first_error = None;
    while let Some(done) = senders.join_next().await {
        match done? {
            Ok(h) => accepted.add(h).context("merging histograms")?,
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    let send_secs = started.elapsed().as_secs_f64();
    let mut delivered = histogram()?;
    while let Some(done) = receivers.join_next().await {
        delivered.add(done??).context("merging histograms")?;
    }
    if let Some(e) = first_error {
        return Err(e.context("a sender failed"));
    }
    Ok(Totals {
        accepted,
        delivered,
        send_secs,
    })
}

/// Prints both histograms and the run's resources; returns the messages not delivered.
pub(super) fn print_totals(
    ctx: &Ctx,
    totals: &Totals,
    before: &Scrape,
    after: &Scrape,
    cpu: (Option<f64>, Option<f64>),
) -> u64 {
    print_summary(
        &ctx.out,
        "relay",
        &[
            summary("send → accepted", &totals.accepted, totals.send_secs),
            summary("send → delivered", &totals.delivered, totals.send_secs),
        ],
    );
    print_resources(&ctx.out, "relay", before, after, cpu);
    totals.accepted.len().saturating_sub(totals.delivered.len())
}

pub(super) async fn bench_relay(
    ctx: &Ctx,
    pairs: Vec<Pair>,
    duration: Duration,
    rate: Option<f64>,
    window: usize,
) -> anyhow::Result<()> {
    let workers = pairs.len();
    let sessions = concurrently(
        ctx,
        "placing calls and opening channels",
        pairs,
        |pair| async move {
            let a = Channel::connect(&pair.a).await.context("caller channel")?;
            let b = Channel::connect(&pair.b).await.context("callee channel")?;
            let (call, _) = place_call(&pair, None).await?;
            anyhow::Ok((call.key, a, b))
        },
    )
    .await?;
    let delivered_count = Arc::new(AtomicU64::new(0));
    let before = Scrape::take(ctx).await?;
    let cpu = CpuMeter::start(ctx);
    let schedule = Schedule::start(duration, rate, workers, window);
    let started = schedule.base;
    let progress = tokio::spawn(show_progress(
        ctx.out,
        "messages delivered",
        delivered_count.clone(),
        duration,
        schedule.deadline,
    ));
    let mut senders = JoinSet::new();
    let mut receivers = JoinSet::new();
    let disconnects = Arc::new(AtomicU64::new(0));
    for (key, mut a, mut b) in sessions {
        let counts = PairCounts::default();
        let sender = a.sender();
        let send_key = key.clone();
        let pair_counts = counts.clone();
        senders.spawn(async move {
            let work = send_paced(schedule, &pair_counts, |t0| {
                let body = json!({ "text": schedule.stamp(t0).to_string() });
                let sending = sender.send_with_id(&send_key, new_message_id(), "text", body);
                async move { sending.await.map(drop).map_err(anyhow::Error::from) }
            });
            // The caller's own events (its messages come back to it) must be read too, or its
            // channel stops reading the socket, and with it the `accepted` frames.
            let drain = async { while a.next_event().await.is_some() {} };
            let result = tokio::select! {
                r = work => r,
                () = drain => Err(anyhow::anyhow!("the caller's channel closed")),
            };
            a.close().await;
            result
        });
        let mut tally = Tally::new(schedule, &counts, &delivered_count)?;
        let disconnects = disconnects.clone();
        receivers.spawn(async move {
            let mut last_seq = 0u64;
            let mut tick = tokio::time::interval(Duration::from_millis(50));
            loop {
                tokio::select! {
                    event = b.next_event() => match event {
                        None => break,
                        Some(Event::Message(m)) if m.session == key && m.kind == "text" => {
                            let stamp = m.body["text"].as_str().and_then(|t| t.parse::<u64>().ok());
                            if let Some(us) = stamp {
                                tally.delivered(us);
                            }
                            last_seq = last_seq.max(m.seq);
                            if m.seq % 64 == 0 {
                                b.ack(&m.session, m.seq).await?;
                            }
                        }
                        Some(Event::Disconnected { reason }) => {
                            if disconnects.fetch_add(1, Ordering::Relaxed) < 5 {
                                eprintln!("receiver disconnected: {reason}");
                            }
                        }
                        Some(_) => {}
                    },
                    _ = tick.tick() => if tally.finished() { break },
                }
            }
            if last_seq > 0 {
                b.ack(&key, last_seq).await?;
            }
            b.close().await;
            anyhow::Ok(tally.into_histogram())
        });
    }
    let totals = collect(started, senders, receivers).await;
    let cpu = cpu.stop();
    let _ = progress.await;
    let totals = totals?;
    let after = Scrape::take(ctx).await?;
    let lost = print_totals(ctx, &totals, &before, &after, cpu);
    let persisted = after.delta(&before, "callside_messages_total");
    let dropped = disconnects.load(Ordering::Relaxed);
    let (accepted, send_secs) = (totals.accepted.len(), totals.send_secs);
    let value = json!({
        "mode": "relay",
        "against": "callside",
        "name": "totals",
        "pairs": workers,
        "window": window,
        "target_rate": rate,
        "secs": send_secs,
        "accepted": accepted,
        "accepted_per_sec": accepted as f64 / send_secs,
        "server_messages_persisted": persisted,
        "not_delivered": lost,
        "disconnects": dropped,
    });
    ctx.out.result(&value, || {
        format!(
            "{workers} pairs, window {window}{}: {accepted} messages accepted in {send_secs:.1} s = {:.0}/s (server counted {} persisted); {lost} not delivered within 5 s; {dropped} disconnect(s)",
            rate.map_or(String::new(), |r| format!(", target {r:.0}/s")),
            accepted as f64 / send_secs,
            persisted.map_or("?".to_owned(), |v| format!("{v:.0}")),
        )
    });
    Ok(())
}
