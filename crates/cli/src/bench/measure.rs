//! Measuring a bench run: latency histograms and their summaries, pacing, the server's figures
//! from `/metrics`, CPU time of both processes, progress bars, and bounded concurrency.

use super::Ctx;
use crate::output::Output;
use anyhow::Context;
use futures_util::stream;
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

pub(super) fn histogram() -> anyhow::Result<Histogram<u64>> {
    // Microseconds, up to one minute, 3 significant figures.
    Histogram::new_with_bounds(1, 60_000_000, 3).context("histogram")
}

pub(super) fn record(h: &mut Histogram<u64>, since: Instant) {
    let _ = h.record((since.elapsed().as_micros() as u64).max(1));
}

/// Pace for one worker when the total `rate` is shared by `workers`.
pub(super) fn pace(rate: Option<f64>, workers: usize) -> Option<Duration> {
    rate.map(|r| Duration::from_secs_f64(workers as f64 / r))
}

/// The server's figures from `GET /metrics` (Prometheus text, for the operator's token).
#[derive(Debug, Default, Clone)]
pub(super) struct Scrape(HashMap<String, f64>);

impl Scrape {
    pub(super) async fn take(ctx: &Ctx) -> anyhow::Result<Scrape> {
        let text = ctx
            .http
            .get(format!("{}/metrics", ctx.server))
            .bearer_auth(&ctx.admin_token)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .context("GET /metrics")?
            .text()
            .await
            .context("reading /metrics")?;
        let values = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let (name, value) = l.split_once(' ')?;
                Some((name.to_owned(), value.trim().parse::<f64>().ok()?))
            })
            .collect();
        Ok(Scrape(values))
    }

    /// What a process that is not callside's server (a broker) shows of the same figures: its
    /// resident memory, from `/proc/<pid>/status`. Empty without a pid.
    pub(super) fn of_process(pid: Option<u32>) -> Scrape {
        let rss = pid.and_then(|pid| {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
            let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
            let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib * 1024.0)
        });
        Scrape(
            rss.map(|b| ("process_resident_memory_bytes".to_owned(), b))
                .into_iter()
                .collect(),
        )
    }

    pub(super) fn get(&self, name: &str) -> Option<f64> {
        self.0.get(name).copied()
    }

    pub(super) fn rss(&self) -> Option<u64> {
        self.get("process_resident_memory_bytes").map(|v| v as u64)
    }

    /// `name` now minus `name` in `before`.
    pub(super) fn delta(&self, before: &Scrape, name: &str) -> Option<f64> {
        Some(self.get(name)? - before.get(name)?)
    }
}

pub(super) fn mib(bytes: Option<u64>) -> serde_json::Value {
    bytes.map_or(json!(null), |b| json!(b as f64 / (1024.0 * 1024.0)))
}

/// CPU seconds (user + system) that process `pid` has used, from `/proc/<pid>/stat`.
fn cpu_secs(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (in parentheses, which may hold spaces): state is field 3
    // of proc(5), utime and stime are fields 14 and 15, in USER_HZ (100 per second).
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

/// CPU used by the bench and (if its pid is known) the server over the measured interval.
pub(super) struct CpuMeter {
    started: Instant,
    bench: Option<f64>,
    server: Option<f64>,
    server_pid: Option<String>,
}

impl CpuMeter {
    pub(super) fn start(ctx: &Ctx) -> CpuMeter {
        let server_pid = ctx.server_pid.map(|p| p.to_string());
        CpuMeter {
            started: Instant::now(),
            bench: cpu_secs("self"),
            server: server_pid.as_deref().and_then(cpu_secs),
            server_pid,
        }
    }

    /// CPU used since `start` as a share of one core, in percent: (server, bench).
    pub(super) fn stop(&self) -> (Option<f64>, Option<f64>) {
        let wall = self.started.elapsed().as_secs_f64().max(0.001);
        let pct = |before: Option<f64>, now: Option<f64>| Some((now? - before?) / wall * 100.0);
        let server = pct(self.server, self.server_pid.as_deref().and_then(cpu_secs));
        (server, pct(self.bench, cpu_secs("self")))
    }
}

pub(super) fn summary(name: &str, h: &Histogram<u64>, secs: f64) -> serde_json::Value {
    let ms = |v: u64| v as f64 / 1000.0;
    let q = |q: f64| {
        if h.is_empty() {
            0.0
        } else {
            ms(h.value_at_quantile(q))
        }
    };
    json!({
        "name": name,
        "count": h.len(),
        "per_sec": h.len() as f64 / secs.max(0.001),
        "p50_ms": q(0.50),
        "p90_ms": q(0.90),
        "p99_ms": q(0.99),
        "p99_9_ms": q(0.999),
        "max_ms": ms(h.max()),
        "mean_ms": if h.is_empty() { 0.0 } else { h.mean() / 1000.0 },
    })
}

pub(super) fn print_summary(out: &Output, mode: &str, lines: &[serde_json::Value]) {
    for line in lines {
        let mut line = line.clone();
        line["mode"] = json!(mode);
        let f = |k: &str| line[k].as_f64().unwrap_or(0.0);
        let text = format!(
            "{:<26} n={:<9} {:>9.0}/s   p50 {:>7.2}   p90 {:>7.2}   p99 {:>7.2}   p99.9 {:>7.2}   max {:>8.2} ms",
            line["name"].as_str().unwrap_or(""),
            line["count"].as_u64().unwrap_or(0),
            f("per_sec"),
            f("p50_ms"),
            f("p90_ms"),
            f("p99_ms"),
            f("p99_9_ms"),
            f("max_ms"),
        );
        out.result(&line, || text);
    }
}

/// One line about the server's memory and both processes' CPU over the run.
pub(super) fn print_resources(
    out: &Output,
    mode: &str,
    before: &Scrape,
    after: &Scrape,
    cpu: (Option<f64>, Option<f64>),
) {
    let pct =
        |v: Option<f64>| v.map_or("n/a (pass --server-pid)".to_owned(), |v| format!("{v:.0}%"));
    let value = json!({
        "mode": mode,
        "name": "resources",
        "server_rss_before_mib": mib(before.rss()),
        "server_rss_after_mib": mib(after.rss()),
        "server_cpu_pct": cpu.0,
        "bench_cpu_pct": cpu.1,
    });
    out.result(&value, || {
        format!(
            "server RSS {:.1} MiB before, {:.1} MiB after; CPU (100% = one core): server {}, bench {}",
            value["server_rss_before_mib"].as_f64().unwrap_or(f64::NAN),
            value["server_rss_after_mib"].as_f64().unwrap_or(f64::NAN),
            pct(cpu.0),
            cpu.1.map_or("n/a".to_owned(), |v| format!("{v:.0}%")),
        )
    });
}

/// Shows a bar over the run with a live count until `deadline`.
pub(super) async fn show_progress(
    out: Output,
    label: &'static str,
    count: Arc<AtomicU64>,
    duration: Duration,
    deadline: Instant,
) {
    let bar = out.timed_bar(duration.as_secs(), label);
    let started = Instant::now();
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let n = count.load(Ordering::Relaxed);
        let elapsed = started.elapsed();
        let rate = n as f64 / elapsed.as_secs_f64().max(0.001);
        bar.set_position(elapsed.as_secs().min(duration.as_secs()));
        bar.set_message(format!("{label}: {n} ({rate:.0}/s)"));
    }
    bar.finish_and_clear();
}

/// Runs `f` over `items`, `concurrency` at a time, behind a progress bar; results in order.
pub(super) async fn concurrently<T, R, F, Fut>(
    ctx: &Ctx,
    label: &str,
    items: Vec<T>,
    f: F,
) -> anyhow::Result<Vec<R>>
where
    F: Fn(T) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<R>>,
{
    let bar = ctx.out.count_bar(items.len() as u64, label);
    let mut results: Vec<(usize, anyhow::Result<R>)> = stream::iter(items.into_iter().enumerate())
        .map(|(i, item)| {
            let fut = f(item);
            async move { (i, fut.await) }
        })
        .buffer_unordered(ctx.concurrency)
        .inspect(|_| bar.inc(1))
        .collect()
        .await;
    bar.finish_and_clear();
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}
