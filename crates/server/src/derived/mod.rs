//! Derived data (S1-F1): an `app/<name>` message is relayed as it is, and, when the operator
//! configured a transformer for `<name>`, also posted to that webhook (signed, see
//! `adapters::webhooks`). A JSON object in the answer is appended to the session as
//! `derived/<name>` by the server.
//!
//! The work is durable and bounded: each such message is committed with a `derived_jobs` row
//! ([`Write::DerivedJob`]), and the row goes in the same commit as the derived data
//! ([`Write::DerivedDone`]), or alone when the transformer fails or the work is older than
//! [`MAX_AGE`]. Committed messages arrive on a bounded channel; what does not fit stays in the
//! store and is read back (so is what a previous process left). Up to [`CONCURRENCY`] posts
//! run at once, so one slow transformer or session does not hold up the others.
//!
//! May touch: sessions (to append), the store (the work), the webhook adapter. It listens to
//! committed `app/*` messages ([`crate::sessions::AppMessage`]); nothing calls it.

use crate::adapters::webhooks::post_signed;
use crate::clock::now_ms;
use crate::metrics::Metrics;
use crate::sessions::{AppMessage, Sessions};
use crate::Store;
use callside_core::{Millis, SessionKey};
use callside_store::Write;
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Committed `app/*` messages waiting in memory for their transformer; more wait in the store.
pub(crate) const QUEUE: usize = 4096;
/// Posts to transformers at once.
pub(crate) const CONCURRENCY: usize = 8;
/// Work older than this is given up (derived data that late is of no use to a call).
pub(crate) const MAX_AGE: Millis = 10 * 60 * 1000;
/// How often the store is asked for work that did not fit in memory.
const RELOAD_EVERY: Duration = Duration::from_secs(10);

/// What the derived-data loop needs.
pub(crate) struct Transformers {
    pub(crate) sessions: Arc<Sessions>,
    pub(crate) store: Store,
    pub(crate) metrics: Arc<Metrics>,
    /// By app name: (URL, HMAC secret).
    pub(crate) webhooks: BTreeMap<String, (String, String)>,
    pub(crate) max_message_bytes: usize,
}

type Job = (SessionKey, u64);

/// The loop: works the queue, [`CONCURRENCY`] at a time, until `stop`.
pub(crate) async fn run(
    t: Transformers,
    mut rx: mpsc::Receiver<AppMessage>,
    stop: CancellationToken,
) {
    let t = Arc::new(t);
    let http = crate::adapters::net::client(true, Duration::from_secs(5));
    // Known: queued here or being worked, so what the store reports again is not done twice.
    let mut known: HashSet<Job> = HashSet::new();
    let mut waiting: VecDeque<AppMessage> = VecDeque::new();
    let mut running: JoinSet<Job> = JoinSet::new();
    let mut reload = tokio::time::interval(RELOAD_EVERY);
    loop {
        while running.len() < CONCURRENCY {
            let Some(job) = waiting.pop_front() else {
                break;
            };
            running.spawn(work(t.clone(), http.clone(), job));
        }
        tokio::select! {
            j = rx.recv(), if waiting.len() < QUEUE => match j {
                Some(job) => {
                    if known.insert((job.key.clone(), job.seq)) {
                        waiting.push_back(job);
                    }
                }
                None => return,
            },
            Some(done) = running.join_next() => {
                if let Ok(job) = done {
                    known.remove(&job);
                }
            }
            _ = reload.tick(), if waiting.len() < QUEUE / 2 => {
                match t.store.derived_jobs(QUEUE as u32).await {
                    Ok(jobs) => {
                        for j in jobs {
                            if waiting.len() >= QUEUE {
                                break;
                            }
                            if known.insert((j.session.clone(), j.seq)) {
                                waiting.push_back(AppMessage {
                                    key: j.session,
                                    seq: j.seq,
                                    sender: j.sender,
                                    app: j.app,
                                    body: j.body,
                                    queued_at: j.queued_at,
                                });
                            }
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot read transformer work"),
                }
            }
            _ = stop.cancelled() => return,
        }
    }
}

/// Posts one message to its transformer and appends what comes back; the work's row goes with
/// the derived data, or alone when there is none.
async fn work(t: Arc<Transformers>, http: reqwest::Client, job: AppMessage) -> Job {
    let id = (job.key.clone(), job.seq);
    let done = || Write::DerivedDone {
        session: job.key.clone(),
        seq: job.seq,
    };
    // What the store reported may have been done meanwhile by a job the channel delivered.
    match t.store.derived_job_pending(job.key.clone(), job.seq).await {
        Ok(true) => {}
        Ok(false) => return id,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read transformer work");
            return id;
        }
    }
    if now_ms() - job.queued_at > MAX_AGE {
        Metrics::inc(&t.metrics.derived_expired);
        give_up(&t, done(), "expired").await;
        return id;
    }
    let Some((url, secret)) = t.webhooks.get(&job.app) else {
        // The operator removed the transformer since.
        give_up(&t, done(), "no transformer").await;
        return id;
    };
    let payload = serde_json::json!({
        "session": job.key.public_id(),
        "seq": job.seq,
        "sender": job.sender,
        "kind": format!("app/{}", job.app),
        "body": serde_json::from_str::<serde_json::Value>(&job.body).unwrap_or_default(),
    })
    .to_string();
    let derived = match post_signed(&http, url, secret, payload).await {
        Ok(r) if r.status() == reqwest::StatusCode::NO_CONTENT => {
            give_up(&t, done(), "no derived data").await;
            return id;
        }
        Ok(r) if r.status().is_success() => r.json::<serde_json::Value>().await.ok(),
        Ok(r) => {
            tracing::warn!(app = %job.app, status = %r.status(), "transformer refused");
            None
        }
        Err(e) => {
            tracing::warn!(app = %job.app, error = %e.without_url(), "transformer unreachable");
            None
        }
    };
    let Some(data) = derived.filter(|d| d.is_object()) else {
        Metrics::inc(&t.metrics.webhook_errors);
        give_up(&t, done(), "transformer failed").await;
        return id;
    };
    let body = serde_json::json!({ "source": job.seq, "data": data }).to_string();
    if body.len() > t.max_message_bytes {
        tracing::warn!(app = %job.app, "derived data larger than a message; dropped");
        give_up(&t, done(), "too large").await;
        return id;
    }
    match t
        .sessions
        .append_system(&job.key, format!("derived/{}", job.app), body, vec![done()])
        .await
    {
        Ok(Some(_)) => {}
        // The session closed meanwhile: nothing is appended, the work is over.
        Ok(None) => give_up(&t, done(), "session closed").await,
        Err(e) => tracing::warn!(session = %job.key, error = %e, "cannot append derived data"),
    }
    id
}

/// Ends work that adds no derived data: its row goes alone.
async fn give_up(t: &Transformers, done: Write, why: &str) {
    if let Err(e) = t.store.apply(vec![done]).await {
        tracing::warn!(error = %e, %why, "cannot mark transformer work done");
    }
}
