//! `bench network`: a network element (a service account with the `network_element` scope)
//! reports calls between the pairs' numbers — `ringing`, then `ended` — one event per request
//! (`POST /v1/network/calls`), or `--batch N` events per request
//! (`POST /v1/network/calls/batch`). Measures calls/s and each request's latency.

use super::measure::{
    histogram, print_resources, print_summary, record, summary, CpuMeter, Scrape,
};
use super::{Ctx, Pair};
use anyhow::{bail, Context};
use callside_client::proto::admin::{CreateServiceAccount, Scope};
use callside_client::proto::call::{CallEventKind, NetworkCallEvent, NetworkCallEvents};
use callside_client::Client;
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Requests in flight at once.
const WORKERS: usize = 8;

pub(super) async fn bench_network(
    ctx: &Ctx,
    admin: &Client,
    pairs: Vec<Pair>,
    duration: Duration,
    batch: usize,
) -> anyhow::Result<()> {
    let account = admin
        .create_service_account(&CreateServiceAccount {
            name: format!("{}network", super::DEVICE_PREFIX),
            scopes: vec![Scope::NetworkElement],
            ranges: vec!["+44".into()],
        })
        .await
        .context("creating the bench's network element")?;
    let result = run(ctx, &account.token, pairs, duration, batch).await;
    admin
        .delete_service_account(&account.account.id)
        .await
        .context("deleting the bench's network element")?;
    result
}

async fn run(
    ctx: &Ctx,
    token: &str,
    pairs: Vec<Pair>,
    duration: Duration,
    batch: usize,
) -> anyhow::Result<()> {
    let element = ctx.client(token)?;
    let numbers: Arc<Vec<(String, String)>> = Arc::new(
        pairs
            .iter()
            .map(|p| (p.a_number.clone(), p.b_number.clone()))
            .collect(),
    );
    let calls = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let before = Scrape::take(ctx).await?;
    let cpu = CpuMeter::start(ctx);
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = JoinSet::new();
    for w in 0..WORKERS {
        let (element, numbers) = (element.clone(), numbers.clone());
        let (calls, failures) = (calls.clone(), failures.clone());
        tasks.spawn(async move {
            let mut requests = histogram()?;
            let mut n = 0usize;
            while Instant::now() < deadline {
                // The calls of this round: `batch` of them (one when events go one by one).
                let round: Vec<(String, &(String, String))> = (0..batch.max(1))
                    .map(|k| {
                        n += 1;
                        let pair = &numbers[(w + k * WORKERS + n) % numbers.len()];
                        (format!("bench-{w}-{n}@callside"), pair)
                    })
                    .collect();
                let mut ok = true;
                for kind in [CallEventKind::Ringing, CallEventKind::Ended] {
                    let events: Vec<NetworkCallEvent> = round
                        .iter()
                        .map(|(call_ref, (caller, callee))| NetworkCallEvent {
                            call_ref: call_ref.clone(),
                            caller: caller.clone(),
                            callee: callee.clone(),
                            event: kind,
                            lifecycle: None,
                            diverted_to: None,
                            reason: None,
                        })
                        .collect();
                    let sent = Instant::now();
                    let refused = if batch == 0 {
                        element
                            .network_call(&events[0])
                            .await
                            .err()
                            .map(|e| e.to_string())
                    } else {
                        match element.network_calls(&NetworkCallEvents { events }).await {
                            Ok(r) => r
                                .results
                                .iter()
                                .find_map(|r| r.error.as_ref().map(|p| p.code.clone())),
                            Err(e) => Some(e.to_string()),
                        }
                    };
                    record(&mut requests, sent);
                    if let Some(why) = refused {
                        if failures.fetch_add(1, Ordering::Relaxed) < 5 {
                            eprintln!("network event refused: {why}");
                        }
                        ok = false;
                        break;
                    }
                }
                if ok {
                    calls.fetch_add(round.len() as u64, Ordering::Relaxed);
                } else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            anyhow::Ok(requests)
        });
    }
    let mut requests = histogram()?;
    while let Some(done) = tasks.join_next().await {
        requests.add(done??).context("merging histograms")?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu.stop();
    let after = Scrape::take(ctx).await?;
    let label = match batch {
        0 => "request (one event)".to_owned(),
        n => format!("request ({n} events)"),
    };
    print_summary(&ctx.out, "network", &[summary(&label, &requests, elapsed)]);
    print_resources(&ctx.out, "network", &before, &after, cpu);
    let calls = calls.load(Ordering::Relaxed);
    let failed = failures.load(Ordering::Relaxed);
    let value = json!({
        "mode": "network",
        "name": "totals",
        "batch": batch,
        "secs": elapsed,
        "calls": calls,
        "calls_per_sec": calls as f64 / elapsed,
        "failures": failed,
    });
    ctx.out.result(&value, || {
        format!(
            "{WORKERS} requests at once, {}: {calls} calls (ringing, then ended) in {elapsed:.1} s = {:.0} calls/s; {failed} failure(s)",
            match batch {
                0 => "one event each".to_owned(),
                n => format!("{n} events each"),
            },
            calls as f64 / elapsed
        )
    });
    if calls == 0 {
        bail!("no call was taken");
    }
    Ok(())
}
