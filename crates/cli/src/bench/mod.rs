//! `callside bench match|relay|idle|queue`: load against a running server over real sockets,
//! with latency histograms, throughput, CPU time and the server's resident memory (`queue`, a
//! call centre's visitors and agents, is in `queue.rs`).
//!
//! Each run provisions its own devices (named `callside-bench-…`) and deletes them afterwards.
//! Device `i` owns number `i` of the fictional ranges in [`RANGES`] (10,000 numbers each); even
//! devices are callers, odd ones callees, and devices `2k` and `2k + 1` form pair `k`.
//! The server's resident memory comes from `process_resident_memory_bytes` at `GET /metrics`.
//! Every HTTP request of the bench goes through one shared `reqwest::Client` (one connection pool
//! for the whole process); every `Channel` is its own WebSocket.

use anyhow::{bail, Context};
use callside_client::proto::admin::{CreateDevice, CreatedDevice};
use callside_client::proto::call::{Direction, LegState, ReportLeg};
use callside_client::proto::session::Lifecycle;
use callside_client::{Channel, ChannelSender, Client, Event};
use clap::{Args, ValueEnum};
use futures_util::stream;
use futures_util::StreamExt;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::output::Output;

const DEVICE_PREFIX: &str = "callside-bench-";

/// Ofcom's ranges reserved for drama that libphonenumber accepts, as E.164 prefixes of
/// `+44 … xxxx` (four more digits each). `+44 115 496 xxxx` is reserved for drama too, but
/// libphonenumber's metadata rejects it as invalid, so it is left out.
const RANGES: [&str; 14] = [
    "+44207946", // London 020 7946
    "+44161496", // Manchester 0161 496
    "+44117496", // Bristol 0117 496
    "+44113496", // Leeds 0113 496
    "+44114496", // Sheffield 0114 496
    "+44116496", // Leicester 0116 496
    "+44118496", // Reading 0118 496
    "+44121496", // Birmingham 0121 496
    "+44131496", // Edinburgh 0131 496
    "+44141496", // Glasgow 0141 496
    "+44151496", // Liverpool 0151 496
    "+44191496", // Tyneside 0191 496
    "+44289649", // Belfast 028 9649
    "+44292018", // Cardiff 029 2018
];
const PER_RANGE: usize = 10_000;
/// Two devices per pair, one number per device.
const MAX_PAIRS: usize = RANGES.len() * PER_RANGE / 2;

/// The number of bench device `i`.
fn number(i: usize) -> String {
    format!("{}{:04}", RANGES[i / PER_RANGE], i % PER_RANGE)
}

#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// What to measure: leg matching, message relay, idle connections, or a call centre's queue.
    #[arg(value_enum)]
    mode: Mode,
    /// The server's base URL.
    #[arg(
        long,
        env = "CALLSIDE_SERVER",
        hide_env_values = true,
        default_value = "http://127.0.0.1:8080"
    )]
    server: String,
    /// Another node of the same cluster (repeat for more): pair i's caller talks to node
    /// i mod n and its callee to node (i + 1) mod n, counting `--server` as the first, so with two
    /// nodes or more every message and every call crosses between nodes.
    #[arg(long = "also", value_name = "URL")]
    also: Vec<String>,
    /// The admin token, to provision the bench devices (default: read from
    /// <data-dir>/admin.token); named as in `callside admin`.
    #[arg(long = "token", env = "CALLSIDE_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// The server's data directory, where it wrote admin.token.
    #[arg(long, value_name = "DIR", default_value = "callside-data")]
    data_dir: PathBuf,
    /// Pairs of phones working at once (`idle`: 2 × pairs devices hold a channel each).
    #[arg(long, default_value_t = 10)]
    pairs: usize,
    /// How long to run (`idle`: to hold the channels), in seconds.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Total target rate per second (calls for `match`, messages for `relay`); default: as fast
    /// as each pair can go. Latency is then measured from each operation's scheduled start.
    #[arg(long)]
    rate: Option<f64>,
    /// `relay`: drive a broker a user might pick instead, with the same load from the same
    /// generator: `mqtt://HOST:PORT` (Mosquitto at QoS 1) or `nats://HOST:PORT` (NATS JetStream,
    /// file storage). No callside server is needed; `--server-pid` takes the broker's pid.
    #[arg(long, value_name = "URL")]
    against: Option<String>,
    /// `relay`: messages each sender keeps in flight (sent, not yet accepted).
    #[arg(long, default_value_t = 32)]
    window: usize,
    /// Requests at once while provisioning and deleting devices and opening channels.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// The server's process id, to report its CPU time beside the bench's (Linux, same host).
    #[arg(long)]
    server_pid: Option<u32>,
    /// `match`: how legs are reported: one HTTP request each, or a `report` frame over each
    /// device's open WebSocket.
    #[arg(long, value_enum, default_value_t = Via::Http)]
    via: Via,
    /// `network`: events per request (`POST /v1/network/calls/batch`); 0 sends each event on
    /// its own (`POST /v1/network/calls`).
    #[arg(long, default_value_t = 0)]
    batch: usize,
    /// `queue`: agents taking calls.
    #[arg(long, default_value_t = 20)]
    agents: usize,
    /// `queue`: how long each call lasts once answered, in milliseconds.
    #[arg(long, default_value_t = 500)]
    handle_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Via {
    /// `POST /v1/legs`.
    Http,
    /// A `report` frame on the device's WebSocket.
    Ws,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// Pairs report both legs of calls; measures report → matched.
    Match,
    /// Pairs share a session and stream messages; measures send → accepted and send → delivered.
    Relay,
    /// Every device holds a channel open; measures server memory per connected device.
    Idle,
    /// A network element reports calls between the pairs' numbers (ringing, then ended), one
    /// event per request or `--batch N`; measures calls/s and each request's latency.
    Network,
    /// Visitors click a merchant's button and wait for its agents (S4's ACD); measures the wait
    /// from click to answer. The server's `limits.clicks_per_*` must allow `--rate`.
    Queue,
}

/// What every phase needs: where the server is, one HTTP connection pool, where to print.
struct Ctx {
    server: String,
    /// Every node's base URL, `server` first.
    nodes: Vec<String>,
    /// The operator's token (provisioning, and `/metrics`).
    admin_token: String,
    http: reqwest::Client,
    out: Output,
    server_pid: Option<u32>,
    concurrency: usize,
}

impl Ctx {
    fn client(&self, token: &str) -> anyhow::Result<Client> {
        self.client_on(0, token)
    }

    /// A client of node `i` mod the number of nodes.
    fn client_on(&self, i: usize, token: &str) -> anyhow::Result<Client> {
        Ok(Client::with_http_client(
            &self.nodes[i % self.nodes.len()],
            token,
            self.http.clone(),
        )?)
    }
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
    if args.window == 0 || args.concurrency == 0 {
        bail!("--window and --concurrency must be at least 1");
    }
    if args.mode == Mode::Idle {
        check_open_files(args.pairs * 2)?;
    }
    if args.against.is_some() && args.mode != Mode::Relay {
        bail!("--against applies to `bench relay` only");
    }
    let token = match (&args.against, &args.admin_token) {
        // A broker's run provisions nothing on a callside server.
        (Some(_), _) => String::new(),
        (None, Some(t)) => t.clone(),
        (None, None) => read_token(&args.data_dir)?,
    };
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .tcp_nodelay(true)
        .pool_max_idle_per_host(usize::MAX)
        .pool_idle_timeout(Duration::from_secs(90))
        .build()
        .context("building the HTTP client")?;
    let server = args.server.trim_end_matches('/').to_owned();
    let mut nodes = vec![server.clone()];
    nodes.extend(args.also.iter().map(|u| u.trim_end_matches('/').to_owned()));
    let ctx = Ctx {
        server,
        nodes,
        admin_token: token.clone(),
        http,
        out: *out,
        server_pid: args.server_pid,
        concurrency: args.concurrency,
    };
    if let Some(url) = &args.against {
        let duration = Duration::from_secs(args.duration.max(1));
        return peers::bench_against(&ctx, url, args.pairs, duration, args.rate, args.window).await;
    }
    let admin = ctx.client(&token)?;
    if args.mode == Mode::Queue {
        let handle = Duration::from_millis(args.handle_ms);
        let duration = Duration::from_secs(args.duration.max(1));
        return queue::bench_queue(&ctx, &admin, args.agents, handle, duration, args.rate).await;
    }
    remove_bench_devices(&ctx, &admin).await?;
    let devices = provision(&ctx, &admin, args.pairs * 2).await;
    let result = async {
        if ctx.nodes.len() > 1 {
            ctx.out.progress(&format!(
                "{} nodes: each pair's two devices on neighbouring nodes",
                ctx.nodes.len()
            ));
        }
        let pairs = devices?
            .chunks(2)
            .enumerate()
            .map(|(i, d)| {
                Ok(Pair {
                    a: ctx.client_on(i, &d[0].token)?,
                    b: ctx.client_on(i + usize::from(ctx.nodes.len() > 1), &d[1].token)?,
                    a_number: d[0].device.numbers.first().cloned().unwrap_or_default(),
                    b_number: d[1].device.numbers.first().cloned().unwrap_or_default(),
                })
            })
            .collect::<anyhow::Result<Vec<Pair>>>()?;
        let duration = Duration::from_secs(args.duration.max(1));
        match args.mode {
            Mode::Match => bench_match(&ctx, pairs, duration, args.rate, args.via).await,
            Mode::Relay => relay::bench_relay(&ctx, pairs, duration, args.rate, args.window).await,
            Mode::Idle => bench_idle(&ctx, pairs, duration).await,
            Mode::Network => {
                network::bench_network(&ctx, &admin, pairs, duration, args.batch).await
            }
            Mode::Queue => unreachable!("the queue bench provisions no devices"),
        }
    }
    .await;
    remove_bench_devices(&ctx, &admin).await?;
    result
}

/// The admin token from `<data_dir>/admin.token` (as `callside admin` finds it).
fn read_token(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join("admin.token");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "no --token and cannot read {} (pass --token, set \
             CALLSIDE_ADMIN_TOKEN, or --data-dir)",
            path.display()
        )
    })?;
    let token = text.trim();
    if token.is_empty() {
        bail!("{} is empty", path.display());
    }
    Ok(token.to_owned())
}

/// Fails early when this process may not open a socket per device (Linux: /proc/self/limits).
fn check_open_files(devices: usize) -> anyhow::Result<()> {
    let Ok(limits) = std::fs::read_to_string("/proc/self/limits") else {
        return Ok(());
    };
    let soft = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse::<usize>().ok());
    match soft {
        Some(soft) if soft < devices + 256 => bail!(
            "{devices} channels need about {} open files; this process may open {soft} \
             (raise it with `ulimit -n`)",
            devices + 256
        ),
        _ => Ok(()),
    }
}

async fn provision(ctx: &Ctx, admin: &Client, count: usize) -> anyhow::Result<Vec<CreatedDevice>> {
    let bar = ctx.out.count_bar(count as u64, "creating devices");
    let started = Instant::now();
    let results: Vec<anyhow::Result<(usize, CreatedDevice)>> = stream::iter(0..count)
        .map(|i| {
            let admin = admin.clone();
            async move {
                let created = admin
                    .create_device(&CreateDevice {
                        name: format!("{DEVICE_PREFIX}{i}"),
                        numbers: vec![number(i)],
                    })
                    .await
                    .with_context(|| format!("creating bench device {i} ({})", number(i)))?;
                Ok((i, created))
            }
        })
        .buffer_unordered(ctx.concurrency)
        .inspect(|_| bar.inc(1))
        .collect()
        .await;
    bar.finish_and_clear();
    let mut devices = results.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
    devices.sort_by_key(|(i, _)| *i);
    let secs = started.elapsed().as_secs_f64();
    ctx.out.progress(&format!(
        "created {count} devices in {secs:.1} s ({:.0}/s)",
        count as f64 / secs.max(0.001)
    ));
    Ok(devices.into_iter().map(|(_, d)| d).collect())
}

async fn remove_bench_devices(ctx: &Ctx, admin: &Client) -> anyhow::Result<()> {
    let stale: Vec<String> = admin
        .list_devices()
        .await
        .context("listing devices (is the admin token right?)")?
        .into_iter()
        .filter(|d| d.name.starts_with(DEVICE_PREFIX))
        .map(|d| d.id)
        .collect();
    if stale.is_empty() {
        return Ok(());
    }
    let bar = ctx
        .out
        .count_bar(stale.len() as u64, "removing bench devices");
    let results: Vec<Result<(), callside_client::Error>> = stream::iter(&stale)
        .map(|id| admin.delete_device(id))
        .buffer_unordered(ctx.concurrency)
        .inspect(|_| bar.inc(1))
        .collect()
        .await;
    bar.finish_and_clear();
    results
        .into_iter()
        .collect::<Result<Vec<()>, _>>()
        .context("deleting a bench device")?;
    ctx.out
        .progress(&format!("removed {} bench devices", stale.len()));
    Ok(())
}

mod measure;
mod network;
mod peers;
mod queue;
mod relay;
use measure::{
    concurrently, histogram, mib, pace, print_resources, print_summary, show_progress, summary,
    CpuMeter, Scrape,
};

// ------------------------------------------------------------------ calls

fn report(own: &str, other: &str, direction: Direction) -> ReportLeg {
    let mut leg = ReportLeg::new(own, Some(other.to_owned()), direction);
    leg.lifecycle = Some(Lifecycle::KeepAfterCall);
    leg
}

/// One call, timed: the caller reports its outgoing leg without waiting (it stays pending),
/// then the callee reports the incoming leg, which matches at once.
struct PlacedCall {
    key: String,
    /// Caller's report → `pending` answer.
    caller_report: Instant,
    /// Callee's report → `matched` answer.
    callee_report: Instant,
}

/// A pair's open sockets, when legs go over them (`--via ws`).
struct Sockets {
    a: ChannelSender,
    b: ChannelSender,
}

/// Opens a channel for `client` whose events are read and dropped (a leg report's answer comes
/// back on its own); the sender reports legs.
async fn socket(client: &Client) -> anyhow::Result<ChannelSender> {
    let mut ch = Channel::connect(client)
        .await
        .context("opening a channel")?;
    let sender = ch.sender();
    tokio::spawn(async move { while ch.next_event().await.is_some() {} });
    Ok(sender)
}

async fn place_call(
    pair: &Pair,
    sockets: Option<&Sockets>,
) -> anyhow::Result<(PlacedCall, Instant)> {
    let outgoing = report(&pair.a_number, &pair.b_number, Direction::Outgoing);
    let incoming = report(&pair.b_number, &pair.a_number, Direction::Incoming);
    let caller_report = Instant::now();
    match sockets {
        Some(s) => s.a.report_leg(&outgoing).await.map(drop),
        None => pair.a.report_leg(&outgoing, Duration::ZERO).await.map(drop),
    }
    .context("caller's leg")?;
    let callee_report = Instant::now();
    let b = match sockets {
        Some(s) => s.b.report_leg(&incoming).await,
        None => pair.b.report_leg(&incoming, Duration::from_secs(10)).await,
    }
    .context("callee's leg")?;
    let b = if b.state == LegState::Pending {
        pair.b.wait_leg(&b.id, Duration::from_secs(10)).await?
    } else {
        b
    };
    let matched = Instant::now();
    match (b.state, b.session) {
        (LegState::Matched, Some(s)) => Ok((
            PlacedCall {
                key: s.key,
                caller_report,
                callee_report,
            },
            matched,
        )),
        (state, _) => bail!(
            "call {} → {} not matched: {state:?} {}",
            pair.a_number,
            pair.b_number,
            b.reason.unwrap_or_default()
        ),
    }
}

async fn bench_match(
    ctx: &Ctx,
    pairs: Vec<Pair>,
    duration: Duration,
    rate: Option<f64>,
    via: Via,
) -> anyhow::Result<()> {
    let workers = pairs.len();
    let pace = pace(rate, workers);
    let count = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let mut paired = Vec::with_capacity(pairs.len());
    for pair in pairs {
        let sockets = match via {
            Via::Ws => Some(Sockets {
                a: socket(&pair.a).await?,
                b: socket(&pair.b).await?,
            }),
            Via::Http => None,
        };
        paired.push((pair, sockets));
    }
    let before = Scrape::take(ctx).await?;
    let cpu = CpuMeter::start(ctx);
    let started = Instant::now();
    let deadline = started + duration;
    let progress = tokio::spawn(show_progress(
        ctx.out,
        "calls matched",
        count.clone(),
        duration,
        deadline,
    ));
    let mut tasks = JoinSet::new();
    for (pair, sockets) in paired {
        let count = count.clone();
        let failures = failures.clone();
        tasks.spawn(async move {
            let mut caller = histogram()?;
            let mut callee = histogram()?;
            let mut whole = histogram()?;
            let mut next = Instant::now();
            while Instant::now() < deadline {
                let scheduled = match pace {
                    Some(p) => {
                        tokio::time::sleep_until(next).await;
                        let at = next;
                        next += p;
                        Some(at)
                    }
                    None => None,
                };
                match place_call(&pair, sockets.as_ref()).await {
                    Ok((call, matched)) => {
                        let from = scheduled.unwrap_or(call.caller_report);
                        let _ = caller.record(
                            (call.callee_report.duration_since(from).as_micros() as u64).max(1),
                        );
                        let _ = callee.record(
                            (matched.duration_since(call.callee_report).as_micros() as u64).max(1),
                        );
                        let _ =
                            whole.record((matched.duration_since(from).as_micros() as u64).max(1));
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        if failures.fetch_add(1, Ordering::Relaxed) < 5 {
                            eprintln!("call failed: {e:#}");
                        }
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
            anyhow::Ok([caller, callee, whole])
        });
    }
    let mut totals = [histogram()?, histogram()?, histogram()?];
    while let Some(done) = tasks.join_next().await {
        for (total, h) in totals.iter_mut().zip(done??) {
            total.add(h).context("merging histograms")?;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu.stop();
    let _ = progress.await;
    let after = Scrape::take(ctx).await?;
    let [caller, callee, whole] = &totals;
    print_summary(
        &ctx.out,
        "match",
        &[
            summary("caller report → pending", caller, elapsed),
            summary("callee report → matched", callee, elapsed),
            summary("call (both legs)", whole, elapsed),
        ],
    );
    print_resources(&ctx.out, "match", &before, &after, cpu);
    let matched_legs = after.delta(&before, "callside_legs_matched_total");
    let failed = failures.load(Ordering::Relaxed);
    let value = json!({
        "mode": "match",
        "via": match via { Via::Http => "http", Via::Ws => "ws" },
        "name": "totals",
        "pairs": workers,
        "secs": elapsed,
        "calls_matched": whole.len(),
        "calls_per_sec": whole.len() as f64 / elapsed,
        "server_legs_matched": matched_legs,
        "failures": failed,
    });
    ctx.out.result(&value, || {
        format!(
            "{} pairs: {} calls matched in {elapsed:.1} s = {:.0} calls/s (server counted {} matched legs); {failed} failure(s)",
            workers,
            whole.len(),
            whole.len() as f64 / elapsed,
            matched_legs.map_or("?".to_owned(), |v| format!("{v:.0}")),
        )
    });
    Ok(())
}

// ------------------------------------------------------------------ idle

async fn bench_idle(ctx: &Ctx, pairs: Vec<Pair>, duration: Duration) -> anyhow::Result<()> {
    let clients: Vec<Client> = pairs.into_iter().flat_map(|p| [p.a, p.b]).collect();
    let n = clients.len();
    // Let the server settle after provisioning before the baseline.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = Scrape::take(ctx).await?;
    let cpu = CpuMeter::start(ctx);
    let t0 = Instant::now();
    let opened = concurrently(ctx, "opening channels", clients, |client| async move {
        let t = Instant::now();
        let channel = Channel::connect(&client)
            .await
            .context("opening a channel")?;
        anyhow::Ok((channel, t.elapsed()))
    })
    .await?;
    let opened_in = t0.elapsed();
    let cpu = cpu.stop();
    let mut connect = histogram()?;
    let mut channels = Vec::with_capacity(n);
    for (channel, took) in opened {
        let _ = connect.record((took.as_micros() as u64).max(1));
        channels.push(channel);
    }
    ctx.out.progress(&format!(
        "{n} channels open in {opened_in:.2?}; holding for {duration:?}"
    ));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let connected = Scrape::take(ctx).await?;
    let disconnects = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + duration;
    let progress = tokio::spawn(show_progress(
        ctx.out,
        "disconnects",
        disconnects.clone(),
        duration,
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
            channel
        });
    }
    let mut channels = Vec::with_capacity(n);
    while let Some(channel) = tasks.join_next().await {
        channels.push(channel?);
    }
    let _ = progress.await;
    let held = Scrape::take(ctx).await?;
    let bar = ctx.out.count_bar(n as u64, "closing channels");
    let mut closing = JoinSet::new();
    for channel in channels {
        closing.spawn(channel.close());
    }
    while closing.join_next().await.is_some() {
        bar.inc(1);
    }
    bar.finish_and_clear();

    print_summary(
        &ctx.out,
        "idle",
        &[summary(
            "connect → ready",
            &connect,
            opened_in.as_secs_f64(),
        )],
    );
    print_resources(&ctx.out, "idle", &before, &held, cpu);
    let lost = disconnects.load(Ordering::Relaxed);
    let per_device = match (before.rss(), connected.rss()) {
        (Some(b), Some(c)) => Some((c as f64 - b as f64) / n as f64),
        _ => None,
    };
    let per_device_held = match (before.rss(), held.rss()) {
        (Some(b), Some(c)) => Some((c as f64 - b as f64) / n as f64),
        _ => None,
    };
    let gauge = connected.get("callside_ws_connections");
    let value = json!({
        "mode": "idle",
        "name": "memory",
        "devices": n,
        "server_connections": gauge,
        "server_rss_before_mib": mib(before.rss()),
        "server_rss_connected_mib": mib(connected.rss()),
        "server_rss_held_mib": mib(held.rss()),
        "rss_per_device_bytes": per_device,
        "rss_per_device_after_hold_bytes": per_device_held,
        "held_secs": duration.as_secs(),
        "disconnects": lost,
    });
    ctx.out.result(&value, || {
        format!(
            "{n} channels (server counts {}): server RSS {:.1} MiB before, {:.1} MiB connected, {:.1} MiB after {} s = {} per device ({} after the hold); {lost} disconnect(s)",
            gauge.map_or("?".to_owned(), |v| format!("{v:.0}")),
            value["server_rss_before_mib"].as_f64().unwrap_or(f64::NAN),
            value["server_rss_connected_mib"].as_f64().unwrap_or(f64::NAN),
            value["server_rss_held_mib"].as_f64().unwrap_or(f64::NAN),
            duration.as_secs(),
            per_device.map_or("?".to_owned(), |b| format!("{:.1} KiB", b / 1024.0)),
            per_device_held.map_or("?".to_owned(), |b| format!("{:.1} KiB", b / 1024.0)),
        )
    });
    Ok(())
}
