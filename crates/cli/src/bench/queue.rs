//! `callside bench queue`: a merchant's call centre under load (S4's ACD). Visitors click a
//! button at `--rate` on average for `--duration` — arriving at random, as a Poisson process,
//! since evenly spaced arrivals would never queue — and follow their call as the call window
//! does (long polls); `--agents` agents take calls as the console does (long poll, accept, talk for
//! `--handle-ms`, end). Measures the click, each visitor's wait from its click to an agent
//! answering, and the calls handled per second, with the server's memory and CPU. The merchant
//! and its agents are made for the run (a merchant cannot be deleted: its id is printed).

use super::measure::{histogram, print_resources, print_summary, summary, CpuMeter, Scrape};
use super::Ctx;
use anyhow::{bail, Context};
use callside_client::merchants::{sign_button, Button};
use callside_client::proto::agent::PresenceStatus;
use callside_client::proto::merchant::ClickContext;
use callside_client::Client;
use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// How long the visitors still waiting at the end may take to be answered.
const DRAIN: Duration = Duration::from_secs(120);

/// One visitor's call, timed from the moment it was due to click.
struct Visit {
    click_us: u64,
    wait_us: u64,
}

pub(super) async fn bench_queue(
    ctx: &Ctx,
    admin: &Client,
    agents: usize,
    handle: Duration,
    duration: Duration,
    rate: Option<f64>,
) -> anyhow::Result<()> {
    if agents == 0 || agents > 1000 {
        bail!("--agents must be between 1 and 1000");
    }
    // By default the visitors offer 80% of what the agents can take.
    let rate = rate.unwrap_or(0.8 * agents as f64 / handle.as_secs_f64().max(0.001));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let made = admin
        .create_merchant(&format!("callside bench {now}"))
        .await
        .context(
            "creating the bench merchant (the server's limits.clicks_per_* must allow the rate)",
        )?;
    let merchant_id = made.merchant.id.clone();
    ctx.out.progress(&format!(
        "merchant {merchant_id}: {agents} agents, visitors at {rate:.1}/s for {} s, calls of {} ms",
        duration.as_secs(),
        handle.as_millis()
    ));
    let shop = ctx.client(&made.token)?;
    shop.put_link("sales", "Sales").await?;
    shop.put_routing(&json!({"rules": [], "default": "agents:sales"}))
        .await?;
    let ids: Vec<usize> = (0..agents).collect();
    let tokens = super::measure::concurrently(ctx, "adding agents", ids, |i| {
        let shop = &shop;
        async move {
            let saved = shop
                .put_agent(
                    &format!("bench-{i}"),
                    &format!("Agent {i}"),
                    &["sales".into()],
                    false,
                )
                .await?;
            saved.token.context("a new agent has a token")
        }
    })
    .await?;
    let button = sign_button(
        &made.button_secret,
        &Button {
            iss: merchant_id.clone(),
            exp: now + duration.as_secs() + DRAIN.as_secs() + 3600,
            lnk: Some("sales".into()),
            cus: None,
            dst: None,
            cty: None,
        },
    )?;

    let before = Scrape::take(ctx).await.unwrap_or_default();
    let cpu = CpuMeter::start(ctx);
    let stop = Arc::new(AtomicBool::new(false));
    let handled = Arc::new(AtomicU64::new(0));
    let mut desk = JoinSet::new();
    for token in tokens {
        let agent = ctx.client(&token)?;
        let (stop, handled) = (stop.clone(), handled.clone());
        desk.spawn(async move { take_calls(agent, handle, stop, handled).await });
    }
    let started = Instant::now();
    let deadline = started + duration;
    let mut visitors = JoinSet::new();
    let mut due = started;
    while due < deadline {
        tokio::time::sleep_until(due).await;
        let visitor = ctx.client("-")?;
        let (merchant, button) = (merchant_id.clone(), button.clone());
        let http = Follow {
            server: ctx.server.clone(),
            http: ctx.http.clone(),
        };
        visitors.spawn(async move { visit(visitor, http, &merchant, &button, due).await });
        due += poisson_gap(rate);
    }
    let mut clicks = histogram()?;
    let mut waits = histogram()?;
    let mut failed = 0u64;
    let drained = tokio::time::timeout(DRAIN, async {
        while let Some(v) = visitors.join_next().await {
            match v {
                Ok(Ok(v)) => {
                    let _ = clicks.record(v.click_us.max(1));
                    let _ = waits.record(v.wait_us.max(1));
                }
                _ => failed += 1,
            }
        }
    })
    .await;
    let secs = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    while desk.join_next().await.is_some() {}
    let after = Scrape::take(ctx).await.unwrap_or_default();
    if drained.is_err() {
        ctx.out.progress(&format!(
            "{} visitors were still waiting {} s after the last click",
            visitors.len(),
            DRAIN.as_secs()
        ));
    }
    if failed > 0 {
        ctx.out
            .progress(&format!("{failed} visitors' calls failed"));
    }
    let handled = handled.load(Ordering::Relaxed);
    let mut lines = vec![
        summary("click", &clicks, secs),
        summary("wait for an agent", &waits, secs),
    ];
    lines.push(json!({
        "name": "calls handled",
        "count": handled,
        "per_sec": handled as f64 / secs.max(0.001),
        "offered_per_sec": rate,
        "agents": agents,
        "handle_ms": handle.as_millis() as u64,
        "merchant": merchant_id,
    }));
    print_summary(&ctx.out, "queue", &lines[..2]);
    ctx.out.result(&lines[2], || {
        format!(
            "calls handled              n={handled:<9} {:>9.1}/s   offered {rate:.1}/s to {agents} agents taking {} ms each",
            handled as f64 / secs.max(0.001),
            handle.as_millis()
        )
    });
    print_resources(&ctx.out, "queue", &before, &after, cpu.stop());
    Ok(())
}

/// The time to the next arrival of a Poisson process of `rate` per second (exponential).
fn poisson_gap(rate: f64) -> Duration {
    use rand_core::RngCore as _;
    // Uniform in (0, 1]: 53 random bits.
    let u = ((rand_core::OsRng.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64;
    Duration::from_secs_f64(-u.ln() / rate)
}

/// A visitor: clicks (timed from when it was due), then follows its call until an agent answers.
async fn visit(
    page: Client,
    follow: Follow,
    merchant: &str,
    button: &str,
    due: Instant,
) -> anyhow::Result<Visit> {
    let context = ClickContext {
        page: Some("https://shop.example/bench".into()),
        ..ClickContext::default()
    };
    let c = page.click_anonymously(merchant, button, context).await?;
    let click_us = due.elapsed().as_micros() as u64;
    let token = c
        .visitor_token
        .context("a call for agents has a visitor token")?;
    let visitor = follow.client(&token)?;
    loop {
        let s = visitor.visitor_call(&c.id, 20).await?;
        match s.state.as_str() {
            "answered" => break,
            "ended" => bail!("call {} ended unanswered", c.id),
            _ => {}
        }
    }
    Ok(Visit {
        click_us,
        wait_us: due.elapsed().as_micros() as u64,
    })
}

/// How a visitor's task makes its client: the bench's connection pool and server.
struct Follow {
    server: String,
    http: reqwest::Client,
}

impl Follow {
    fn client(&self, token: &str) -> anyhow::Result<Client> {
        Ok(Client::with_http_client(
            &self.server,
            token,
            self.http.clone(),
        )?)
    }
}

/// An agent at its console: available, takes each call that rings it, talks `handle`, ends it;
/// signs out once `stop` is set and it has no call.
async fn take_calls(
    agent: Client,
    handle: Duration,
    stop: Arc<AtomicBool>,
    handled: Arc<AtomicU64>,
) -> anyhow::Result<()> {
    agent.set_presence(PresenceStatus::Available).await?;
    let mut seen: Option<String> = None;
    while !stop.load(Ordering::Relaxed) {
        let Some(c) = agent.agent_call(2, seen.as_deref()).await? else {
            seen = None;
            continue;
        };
        if c.state != "ringing" {
            seen = Some(format!("{}/{}", c.call.id, c.state));
            continue;
        }
        if agent.answer_agent_call(&c.call.id, true).await.is_err() {
            // It went to another agent (a ring timed out): ask again.
            continue;
        }
        tokio::time::sleep(handle).await;
        agent.end_agent_call(&c.call.id, None).await?;
        handled.fetch_add(1, Ordering::Relaxed);
        seen = None;
    }
    agent.set_presence(PresenceStatus::Offline).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn arrivals_average_the_rate() {
        let n = 20_000;
        let total: f64 = (0..n).map(|_| super::poisson_gap(50.0).as_secs_f64()).sum();
        let mean = total / n as f64;
        // 1/50 s on average; the mean of 20,000 exponential gaps is within 3% of it.
        assert!((mean - 0.02).abs() < 0.0006, "mean gap {mean}");
    }
}
