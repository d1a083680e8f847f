//! `callside bench match|relay|idle`: load against a running server, with latency histograms.
//!
//! Each run provisions its own devices (named `callside-bench-…`, numbers in Ofcom's London drama
//! range: callers +44 20 7946 0100…0549, callees +44 20 7946 0550…0999) and deletes them
//! afterwards.

use anyhow::{bail, Context};
use callside_client::proto::admin::{CreateDevice, CreatedDevice};
use callside_client::proto::call::{Direction, LegState, ReportLeg};
use callside_client::proto::session::Lifecycle;
use callside_client::{new_message_id, Channel, Client, Event};
use clap::{Args, ValueEnum};
use hdrhistogram::Histogram;
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::output::Output;

const DEVICE_PREFIX: &str = "callside-bench-";
/// One caller number and one callee number per pair (see the module docs).
const MAX_PAIRS: usize = 450;

#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// What to measure: leg matching, message relay, or idle connections.
    #[arg(value_enum)]
    mode: Mode,
    /// The server's base URL.
    #[arg(long, env = "CALLSIDE_SERVER", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// The admin token (to provision the bench devices).
    #[arg(long, env = "CALLSIDE_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: String,
    /// Pairs of phones working at once.
    #[arg(long, default_value_t = 10)]
    pairs: usize,
    /// How long to run, in seconds.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Total target rate per second (calls for `match`, messages for `relay`); default: as fast
    /// as each pair can go.
    #[arg(long)]
    rate: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// Pairs report both legs of calls; measures report → matched.
    Match,
    /// Pairs share a session and stream messages; measures send → accepted and send → delivered.
    Relay,
    /// Every device holds a channel open; counts disconnects.
    Idle,
}

/// One pair's devices: clients for the caller (a) and the callee (b).
struct Pair {
    a: Client,
    b: Client,
    a_number: String,
    b_number: String,
}

pub(crate) async fn run(args: BenchArgs, out: &Output) -> anyhow::Result<()> {
    if args.pairs == 0 || args.pairs > MAX_PAIRS {
        bail!("--pairs must be between 1 and {MAX_PAIRS}");
    }
    if args.rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
        bail!("--rate must be a positive number");
    }
    let admin = Client::new(&args.server, &args.admin_token)?;
    remove_bench_devices(&admin, out).await?;
    let devices = provision(&admin, args.pairs, out).await?;
    let result = async {
        let pairs = devices
            .chunks(2)
            .map(|d| {
                Ok(Pair {
                    a: Client::new(&args.server, &d[0].token)?,
                    b: Client::new(&args.server, &d[1].token)?,
                    a_number: d[0].device.numbers.first().cloned().unwrap_or_default(),
                    b_number: d[1].device.numbers.first().cloned().unwrap_or_default(),
                })
            })
            .collect::<anyhow::Result<Vec<Pair>>>()?;
        let duration = Duration::from_secs(args.duration.max(1));
        match args.mode {
            Mode::Match => bench_match(pairs, duration, args.rate, out).await,
            Mode::Relay => bench_relay(pairs, duration, args.rate, out).await,
            Mode::Idle => bench_idle(pairs, duration, out).await,
        }
    }
    .await;
    remove_bench_devices(&admin, out).await?;
    result
}

async fn provision(
    admin: &Client,
    pairs: usize,
    out: &Output,
) -> anyhow::Result<Vec<CreatedDevice>> {
    let bar = out.spinner(format!("creating {} devices", pairs * 2));
    let mut devices = Vec::with_capacity(pairs * 2);
    for i in 0..pairs * 2 {
        // Even: callers, odd: callees.
        let number = if i % 2 == 0 {
            format!("+442079460{:03}", 100 + i / 2)
        } else {
            format!("+442079460{:03}", 550 + i / 2)
        };
        let created = admin
            .create_device(&CreateDevice {
                name: format!("{DEVICE_PREFIX}{i}"),
                numbers: vec![number],
            })
            .await
            .context("creating a bench device")?;
        devices.push(created);
    }
    bar.finish_and_clear();
    out.progress(&format!("created {} devices", devices.len()));
    Ok(devices)
}

async fn remove_bench_devices(admin: &Client, out: &Output) -> anyhow::Result<()> {
    let stale: Vec<String> = admin
        .list_devices()
        .await
        .context("listing devices (is the admin token right?)")?
        .into_iter()
        .filter(|d| d.name.starts_with(DEVICE_PREFIX))
        .map(|d| d.id)
        .collect();
    for id in &stale {
        admin.delete_device(id).await?;
    }
    if !stale.is_empty() {
        out.progress(&format!("removed {} bench devices", stale.len()));
    }
    Ok(())
}

fn histogram() -> anyhow::Result<Histogram<u64>> {
    // Microseconds, up to one minute, 3 significant figures.
    Histogram::new_with_bounds(1, 60_000_000, 3).context("histogram")
}

/// Pace for one worker when the total `rate` is shared by `workers`.
fn pace(rate: Option<f64>, workers: usize) -> Option<Duration> {
    rate.map(|r| Duration::from_secs_f64(workers as f64 / r))
}

/// Shows a live counter until `deadline`.
async fn show_progress(out: Output, label: &'static str, count: Arc<AtomicU64>, deadline: Instant) {
    let bar = out.spinner(label);
    let started = Instant::now();
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let n = count.load(Ordering::Relaxed);
        let rate = n as f64 / started.elapsed().as_secs_f64().max(0.001);
        bar.set_message(format!("{label}: {n} ({rate:.0}/s)"));
    }
    bar.finish_and_clear();
}

fn summary(name: &str, h: &Histogram<u64>) -> serde_json::Value {
    let ms = |v: u64| v as f64 / 1000.0;
    json!({
        "name": name,
        "count": h.len(),
        "p50_ms": ms(h.value_at_quantile(0.50)),
        "p90_ms": ms(h.value_at_quantile(0.90)),
        "p99_ms": ms(h.value_at_quantile(0.99)),
        "max_ms": ms(h.max()),
        "mean_ms": h.mean() / 1000.0,
    })
}

fn print_summary(out: &Output, mode: &str, elapsed: Duration, lines: &[serde_json::Value]) {
    let secs = elapsed.as_secs_f64().max(0.001);
    for line in lines {
        let count = line["count"].as_u64().unwrap_or(0);
        let mut line = line.clone();
        line["mode"] = json!(mode);
        line["per_sec"] = json!(count as f64 / secs);
        out.result(&line, || {
            format!(
                "{:<22} n={:<8} {:>8.1}/s   p50 {:>7.2} ms   p90 {:>7.2} ms   p99 {:>7.2} ms   max {:>7.2} ms",
                line["name"].as_str().unwrap_or(""),
                count,
                count as f64 / secs,
                line["p50_ms"].as_f64().unwrap_or(0.0),
                line["p90_ms"].as_f64().unwrap_or(0.0),
                line["p99_ms"].as_f64().unwrap_or(0.0),
                line["max_ms"].as_f64().unwrap_or(0.0),
            )
        });
    }
}

fn report(own: &str, other: &str, direction: Direction) -> ReportLeg {
    ReportLeg {
        own: own.to_owned(),
        other: Some(other.to_owned()),
        direction,
        call_ref: None,
        extension: None,
        conference_id: None,
        registry: None,
        lifecycle: Some(Lifecycle::KeepAfterCall),
    }
}

/// Reports both legs of one call; returns the session key and both leg ids.
async fn place_call(pair: &Pair) -> anyhow::Result<(String, String, String)> {
    let a = pair
        .a
        .report_leg(
            &report(&pair.a_number, &pair.b_number, Direction::Outgoing),
            Duration::ZERO,
        )
        .await?;
    let b = pair
        .b
        .report_leg(
            &report(&pair.b_number, &pair.a_number, Direction::Incoming),
            Duration::from_secs(10),
        )
        .await?;
    let b = if b.state == LegState::Pending {
        pair.b.wait_leg(&b.id, Duration::from_secs(10)).await?
    } else {
        b
    };
    match (b.state, b.session) {
        (LegState::Matched, Some(s)) => Ok((s.key, a.id, b.id)),
        (state, _) => bail!(
            "call {} → {} not matched: {state:?} {}",
            pair.a_number,
            pair.b_number,
            b.reason.unwrap_or_default()
        ),
    }
}

async fn bench_match(
    pairs: Vec<Pair>,
    duration: Duration,
    rate: Option<f64>,
    out: &Output,
) -> anyhow::Result<()> {
    let workers = pairs.len();
    let pace = pace(rate, workers);
    let count = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let progress = tokio::spawn(show_progress(
        *out,
        "calls matched",
        count.clone(),
        deadline,
    ));
    let mut tasks = JoinSet::new();
    for pair in pairs {
        let count = count.clone();
        let failures = failures.clone();
        tasks.spawn(async move {
            let mut h = histogram()?;
            let mut next = Instant::now();
            while Instant::now() < deadline {
                if let Some(p) = pace {
                    tokio::time::sleep_until(next).await;
                    next += p;
                }
                let t0 = Instant::now();
                match place_call(&pair).await {
                    Ok((key, a_leg, b_leg)) => {
                        let _ = h.record(t0.elapsed().as_micros() as u64);
                        count.fetch_add(1, Ordering::Relaxed);
                        // Clean up so sessions do not pile up: hang up, close.
                        let _ = pair.a.end_leg(&a_leg).await;
                        let _ = pair.b.end_leg(&b_leg).await;
                        let _ = pair.a.close_session(&key).await;
                    }
                    Err(e) => {
                        if failures.fetch_add(1, Ordering::Relaxed) < 5 {
                            eprintln!("call failed: {e:#}");
                        }
                    }
                }
            }
            anyhow::Ok(h)
        });
    }
    let mut total = histogram()?;
    while let Some(done) = tasks.join_next().await {
        total.add(done??).context("merging histograms")?;
    }
    let elapsed = started.elapsed();
    let _ = progress.await;
    print_summary(
        out,
        "match",
        elapsed,
        &[summary("report → matched", &total)],
    );
    let failed = failures.load(Ordering::Relaxed);
    if failed > 0 {
        out.progress(&format!("{failed} call(s) were not matched"));
    }
    Ok(())
}

async fn bench_relay(
    pairs: Vec<Pair>,
    duration: Duration,
    rate: Option<f64>,
    out: &Output,
) -> anyhow::Result<()> {
    let workers = pairs.len();
    let pace = pace(rate, workers);
    out.progress(&format!("placing {workers} calls and opening channels"));
    let mut sessions = Vec::with_capacity(workers);
    for pair in &pairs {
        let (key, _, _) = place_call(pair).await?;
        let a = Channel::connect(&pair.a).await.context("caller channel")?;
        let b = Channel::connect(&pair.b).await.context("callee channel")?;
        sessions.push((key, a, b));
    }
    let count = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let progress = tokio::spawn(show_progress(
        *out,
        "messages delivered",
        count.clone(),
        deadline,
    ));
    let mut senders = JoinSet::new();
    let mut receivers = JoinSet::new();
    for (key, a, mut b) in sessions {
        let sent_at: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
        let sender = a.sender();
        let map = sent_at.clone();
        let send_key = key.clone();
        senders.spawn(async move {
            let work = async {
                let mut h = histogram()?;
                let mut next = Instant::now();
                let mut n = 0u64;
                while Instant::now() < deadline {
                    if let Some(p) = pace {
                        tokio::time::sleep_until(next).await;
                        next += p;
                    }
                    let id = new_message_id();
                    let t0 = Instant::now();
                    if let Ok(mut m) = map.lock() {
                        m.insert(id.clone(), t0);
                    }
                    n += 1;
                    let body = json!({ "text": format!("bench message {n}") });
                    sender.send_with_id(&send_key, id, "text", body).await?;
                    let _ = h.record(t0.elapsed().as_micros() as u64);
                }
                anyhow::Ok(h)
            };
            let mut a = a;
            // The caller's own events must be read too, or its channel stops reading the socket
            // (and with it the `accepted` frames the loop above waits for).
            let result = {
                let drain = async { while a.next_event().await.is_some() {} };
                tokio::select! {
                    r = work => r,
                    () = drain => Err(anyhow::anyhow!("the caller's channel closed")),
                }
            };
            a.close().await;
            result
        });
        let count = count.clone();
        receivers.spawn(async move {
            let mut h = histogram()?;
            let grace = deadline + Duration::from_secs(5);
            loop {
                let Ok(Some(event)) = tokio::time::timeout_at(grace, b.next_event()).await else {
                    break;
                };
                let Event::Message(m) = event else { continue };
                if m.session != key {
                    continue;
                }
                let t0 =
                    m.id.as_ref()
                        .and_then(|id| sent_at.lock().ok().and_then(|mut s| s.remove(id)));
                if let Some(t0) = t0 {
                    let _ = h.record(t0.elapsed().as_micros() as u64);
                    count.fetch_add(1, Ordering::Relaxed);
                }
                if m.seq % 64 == 0 {
                    b.ack(&m.session, m.seq).await?;
                }
                let outstanding = sent_at.lock().map(|s| s.len()).unwrap_or(0);
                if Instant::now() >= deadline && outstanding == 0 {
                    break;
                }
            }
            b.close().await;
            anyhow::Ok(h)
        });
    }
    let mut accepted = histogram()?;
    while let Some(done) = senders.join_next().await {
        accepted.add(done??).context("merging histograms")?;
    }
    let mut delivered = histogram()?;
    while let Some(done) = receivers.join_next().await {
        delivered.add(done??).context("merging histograms")?;
    }
    let elapsed = started.elapsed().min(duration);
    let _ = progress.await;
    print_summary(
        out,
        "relay",
        elapsed,
        &[
            summary("send → accepted", &accepted),
            summary("send → delivered", &delivered),
        ],
    );
    let lost = accepted.len().saturating_sub(delivered.len());
    if lost > 0 {
        out.progress(&format!(
            "{lost} accepted message(s) were not delivered within 5 s"
        ));
    }
    Ok(())
}

async fn bench_idle(pairs: Vec<Pair>, duration: Duration, out: &Output) -> anyhow::Result<()> {
    let clients: Vec<Client> = pairs.into_iter().flat_map(|p| [p.a, p.b]).collect();
    let n = clients.len();
    let bar = out.bytes_bar(Some(n as u64), "opening channels");
    let t0 = Instant::now();
    let mut connect_ms = histogram()?;
    let mut channels = Vec::with_capacity(n);
    for client in &clients {
        let t = Instant::now();
        channels.push(
            Channel::connect(client)
                .await
                .context("opening a channel")?,
        );
        let _ = connect_ms.record(t.elapsed().as_micros() as u64);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let opened_in = t0.elapsed();
    out.progress(&format!(
        "{n} channels open in {opened_in:.2?}; holding for {duration:?}"
    ));
    let disconnects = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + duration;
    let progress = tokio::spawn(show_progress(
        *out,
        "disconnects",
        disconnects.clone(),
        deadline,
    ));
    let mut tasks = JoinSet::new();
    for mut channel in channels {
        let disconnects = disconnects.clone();
        tasks.spawn(async move {
            while let Ok(Some(event)) =
                tokio::time::timeout_at(deadline, channel.next_event()).await
            {
                if matches!(event, Event::Disconnected { .. }) {
                    disconnects.fetch_add(1, Ordering::Relaxed);
                }
            }
            channel.close().await;
        });
    }
    while tasks.join_next().await.is_some() {}
    let _ = progress.await;
    print_summary(
        out,
        "idle",
        opened_in,
        &[summary("connect → ready", &connect_ms)],
    );
    let lost = disconnects.load(Ordering::Relaxed);
    out.result(
        &json!({ "mode": "idle", "channels": n, "held_secs": duration.as_secs(), "disconnects": lost }),
        || format!("{n} channels held for {duration:?}: {lost} disconnect(s)"),
    );
    Ok(())
}
