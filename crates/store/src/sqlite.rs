//! The SQLite backend: a writer thread with group commit, and a pool of read connections.

use crate::records::*;
use crate::{
    AuditStore, BlobStore, CallStore, CardStore, Commit, ComponentStore, IdentityStore,
    InvitationStore, OnCommit, PushStore, Result, SessionStore, StoreError, Writes,
};
use callside_core::card::{Audience, Card, ReceivePolicy};
use callside_core::component::{Capabilities, Component};
use callside_core::email::{Email, Endpoint};
use callside_core::leg::{Direction, Leg, LegId};
use callside_core::matching::CallId;
use callside_core::message::BlobId;
use callside_core::principal::{Principal, PrincipalId, PrincipalKind, Scope};
use callside_core::session::{CallState, CloseReason, Lifecycle, Origin, Session};
use callside_core::{Millis, NumberRange, PhoneNumber, SessionKey, TokenHash};
use rusqlite::{params, Connection, OptionalExtension, Row};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

/// How hard SQLite works to keep a commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synchronous {
    /// Survives the process being killed (the default; WAL + `synchronous=NORMAL`).
    Normal,
    /// Also survives power loss: fsync at every commit (`synchronous=FULL`).
    Full,
}

#[derive(Debug, Clone)]
pub struct SqliteOptions {
    pub synchronous: Synchronous,
    /// Most requests committed in one transaction.
    pub max_batch: usize,
    /// How often the WAL is copied into the database file.
    pub checkpoint_interval: std::time::Duration,
    /// WAL frames after which the writer asks for the log to start over: this bounds the WAL
    /// file under steady writes, when passive checkpoints alone never catch up.
    pub wal_reset_frames: i32,
    /// A WAL file larger than this is truncated once the store has been idle for a whole
    /// checkpoint interval.
    pub wal_idle_truncate_bytes: u64,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            synchronous: Synchronous::Normal,
            max_batch: 2048,
            checkpoint_interval: std::time::Duration::from_secs(10),
            // 64 MiB of 4 KiB pages.
            wal_reset_frames: 16_384,
            wal_idle_truncate_bytes: 64 * 1024 * 1024,
        }
    }
}

struct Job {
    writes: Vec<Write>,
    on_commit: Option<OnCommit>,
    done: oneshot::Sender<Result<()>>,
}

/// The SQLite store. Open it with [`open`]; use it through the storage traits.
pub struct SqliteStore {
    path: PathBuf,
    jobs: mpsc::Sender<Job>,
    readers: Mutex<Vec<Connection>>,
    read_slots: tokio::sync::Semaphore,
    options: SqliteOptions,
    health: Arc<Health>,
}

/// Opens (creating and migrating if needed) the SQLite database at `path`, and starts its writer
/// and checkpoint threads (they stop when the store is dropped).
pub fn open(path: &Path, options: SqliteOptions) -> Result<Arc<SqliteStore>> {
    SqliteStore::open(path, options).map(Arc::new)
}

const SCHEMA_VERSION: i64 = 8;
/// Read connections (each caches up to `READER_CACHE_KIB` of pages).
const READERS: usize = 8;

/// Page cache of the writer, which re-reads index pages on every insert.
const WRITER_CACHE_KIB: i64 = 64 * 1024;
/// Page cache of each reader and of the checkpoint thread. Readers share the operating system's
/// page cache, so a page missing here costs a `pread`, not a disk read; eight readers with 64 MiB
/// each duplicated the hot pages eight times (1.5 KiB per connected device in `bench idle`) and
/// could grow to half a gigabyte.
const READER_CACHE_KIB: i64 = 2 * 1024;

fn connect(path: &Path, options: &SqliteOptions, cache_kib: i64) -> Result<Connection> {
    let conn = Connection::open(path).map_err(|source| StoreError::Open {
        path: path.display().to_string(),
        source: Box::new(source),
    })?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(
        None,
        "synchronous",
        match options.synchronous {
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
        },
    )?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Savepoint sub-journals and temporary indices stay in memory, not in temp files.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "cache_size", -cache_kib)?;
    // Checkpoints run on their own thread (see `checkpoint_loop`), never inside a commit.
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    // The WAL is never truncated when it restarts: truncating frees its blocks, which on a
    // file system mounted with `discard` is a synchronous discard inside the commit (100+ ms
    // stalls measured), and the next frames then land in newly allocated blocks. The file is
    // reused from the start instead; the checkpoint thread shrinks it when the store is idle.
    conn.pragma_update(None, "journal_size_limit", -1)?;
    Ok(conn)
}

thread_local! {
    /// Frames in the WAL after the writer thread's last commit (from SQLite's WAL hook).
    static WAL_FRAMES: std::cell::Cell<i32> = const { std::cell::Cell::new(0) };
}

fn count_wal_frames(_: &rusqlite::hooks::Wal, frames: std::ffi::c_int) -> rusqlite::Result<()> {
    WAL_FRAMES.with(|f| f.set(frames));
    Ok(())
}

/// How long a statement waits for a lock before failing.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// How long the writer's own checkpoint waits for readers of the old log to finish.
const RESTART_WAIT: std::time::Duration = std::time::Duration::from_millis(10);

/// Most passes the checkpoint thread makes before handing the rest of the log to the writer.
const MAX_PASSES: u32 = 8;
/// Frames appended during a pass below which the writer is handed the rest.
const FEW_FRAMES: i64 = 256;

/// One checkpoint: (busy, frames in the log, frames copied).
fn checkpoint(conn: &Connection, mode: &str) -> rusqlite::Result<(i64, i64, i64)> {
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })
}

/// Copies the WAL into the database every `every` (sooner when the writer asks) on a connection
/// of its own, so commits never run a checkpoint themselves. Stops, leaving an empty WAL, when
/// the writer has stopped.
///
/// A checkpoint fsyncs the WAL and then the database file; the writer keeps appending while it
/// runs. Under steady writes a passive checkpoint never finds the log fully copied, so the log
/// would only grow: once it holds `wal_reset_frames` (the writer counts them and wakes this thread
/// at once), this thread copies it in up to [`MAX_PASSES`] passes until few frames arrive during
/// a pass, then the writer runs one more passive checkpoint between two batches (only those few
/// frames to copy, and two fsyncs), after which the next commit starts the log from the beginning.
/// See docs/PERFORMANCE.md for what each choice measured.
fn checkpoint_loop(
    conn: Connection,
    wal: PathBuf,
    options: SqliteOptions,
    wake: std::sync::mpsc::Receiver<()>,
    health: Arc<Health>,
) {
    let every = options.checkpoint_interval;
    let mut commits = health.commits.load(Ordering::Relaxed);
    use std::sync::mpsc::RecvTimeoutError;
    // Woken by the interval or by the writer; a closed channel means the writer has stopped.
    while let Ok(()) | Err(RecvTimeoutError::Timeout) = wake.recv_timeout(every) {
        let now = health.commits.load(Ordering::Relaxed);
        let idle = now == commits;
        commits = now;
        let big = std::fs::metadata(&wal).is_ok_and(|m| m.len() > options.wal_idle_truncate_bytes);
        // An idle store gives the disk back; TRUNCATE waits for readers and blocks writers while
        // it runs, which costs nothing when nobody writes.
        let mode = if idle && big { "TRUNCATE" } else { "PASSIVE" };
        let mut r = checkpoint(&conn, mode);
        // Past the reset threshold, copy again until the frames appended during the last pass
        // are few: what the writer then copies itself (stopping commits while it does) is small.
        for _ in 1..MAX_PASSES {
            let Ok((_, log, _)) = r else { break };
            if log < i64::from(options.wal_reset_frames) {
                break;
            }
            r = checkpoint(&conn, "PASSIVE");
            if !matches!(r, Ok((_, grown, _)) if grown - log > FEW_FRAMES) {
                break;
            }
        }
        match r {
            Ok((_, log, _)) if log >= i64::from(options.wal_reset_frames) => {
                health.reset_wanted.store(true, Ordering::Relaxed)
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed"),
        }
    }
    let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::TooNew(version));
    }
    // Each step runs in its own transaction and records its version, so an interrupted
    // migration resumes where it stopped.
    let steps: [(i64, &str); 8] = [
        (1, include_str!("schema.sql")),
        (2, include_str!("schema_v2.sql")),
        (3, include_str!("schema_v3.sql")),
        (4, include_str!("schema_v4.sql")),
        (5, include_str!("schema_v5.sql")),
        (6, include_str!("schema_v6.sql")),
        (7, include_str!("schema_v7.sql")),
        (8, include_str!("schema_v8.sql")),
    ];
    for (to, sql) in steps {
        if version < to {
            let tx = conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", to)?;
            tx.commit()?;
        }
    }
    Ok(())
}

impl SqliteStore {
    fn open(path: &Path, options: SqliteOptions) -> Result<Self> {
        let mut writer = connect(path, &options, WRITER_CACHE_KIB)?;
        migrate(&mut writer)?;
        writer.wal_hook(Some(count_wal_frames));
        let (jobs, rx) = mpsc::channel(8192);
        let health = Arc::new(Health::default());
        let max_batch = options.max_batch.max(1);
        // The writer holds the only sender: when it stops, the checkpoint thread empties the WAL
        // and stops too.
        let (nudge, wake) = std::sync::mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("callside-sqlite-writer".into())
            .spawn({
                let health = health.clone();
                let reset = options.wal_reset_frames;
                move || write_loop(writer, rx, max_batch, reset, health, nudge)
            })
            .map_err(|e| StoreError::Corrupt(format!("cannot start the writer thread: {e}")))?;
        let checkpointer = connect(path, &options, READER_CACHE_KIB)?;
        // The idle TRUNCATE holds the write lock while it waits for readers: give up quickly
        // rather than make a commit that arrives meanwhile wait out its own busy timeout (after
        // which the writer would stop).
        checkpointer.busy_timeout(std::time::Duration::from_millis(100))?;
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        std::thread::Builder::new()
            .name("callside-sqlite-checkpoint".into())
            .spawn({
                let health = health.clone();
                let options = options.clone();
                move || checkpoint_loop(checkpointer, wal.into(), options, wake, health)
            })
            .map_err(|e| StoreError::Corrupt(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(SqliteStore {
            path: path.to_owned(),
            jobs,
            readers: Mutex::new(Vec::new()),
            read_slots: tokio::sync::Semaphore::new(READERS),
            options,
            health,
        })
    }

    /// Queues a job for the writer (the body of [`Writes::submit`]).
    async fn queue(
        &self,
        writes: Vec<Write>,
        on_commit: Option<OnCommit>,
    ) -> Result<oneshot::Receiver<Result<()>>> {
        let (done, rx) = oneshot::channel();
        self.jobs
            .send(Job {
                writes,
                on_commit,
                done,
            })
            .await
            .map_err(|_| StoreError::Closed)?;
        Ok(rx)
    }

    /// Queues a job and waits for its commit (the body of [`Writes::apply`]).
    async fn commit(&self, writes: Vec<Write>, on_commit: Option<OnCommit>) -> Result<()> {
        self.queue(writes, on_commit)
            .await?
            .await
            .map_err(|_| StoreError::Closed)?
    }

    /// Runs `f` on a pooled read connection, off the async threads.
    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        // At most READERS reads at once, each on a pooled connection.
        let _permit = self
            .read_slots
            .acquire()
            .await
            .map_err(|_| StoreError::Closed)?;
        let conn = self.readers.lock().expect("reader pool poisoned").pop();
        let conn = match conn {
            Some(c) => c,
            None => connect(&self.path, &self.options, READER_CACHE_KIB)?,
        };
        let (conn, out) = tokio::task::spawn_blocking(move || {
            let out = f(&conn);
            (conn, out)
        })
        .await
        .map_err(|e| StoreError::Corrupt(format!("read task failed: {e}")))?;
        let mut pool = self.readers.lock().expect("reader pool poisoned");
        if pool.len() < READERS {
            pool.push(conn);
        }
        out
    }
}

/// Flags shared by the writer, the checkpoint thread and the store's users.
#[derive(Default)]
struct Health {
    /// A commit failed: the writer stopped and every later write fails.
    failed: AtomicBool,
    /// The WAL holds `wal_reset_frames` after a checkpoint: the writer checkpoints the rest.
    reset_wanted: AtomicBool,
    /// Batches committed so far (the checkpoint thread tells an idle store by it).
    commits: AtomicU64,
    /// Times the WAL started over from its beginning.
    wal_restarts: AtomicU64,
}

fn write_loop(
    mut conn: Connection,
    mut rx: mpsc::Receiver<Job>,
    max_batch: usize,
    reset_frames: i32,
    health: Arc<Health>,
    nudge: std::sync::mpsc::SyncSender<()>,
) {
    let mut batch: Vec<Job> = Vec::with_capacity(max_batch);
    // Whether the checkpoint thread was asked to copy the log since it last started over.
    let mut asked = false;
    let mut last_frames = 0;
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let results = match commit_batch(&mut conn, &batch) {
            Ok(results) => results,
            Err(e) => {
                // Fail-stop: callers number messages and match legs in memory assuming every
                // queued write lands. After a failed commit nothing more is written; the
                // server stops and restarts from what is durable.
                tracing::error!(error = %e, "commit failed; the store stops accepting writes");
                health.failed.store(true, Ordering::SeqCst);
                let why = e.to_string();
                for job in batch.drain(..) {
                    let _ = job.done.send(Err(StoreError::Failed(why.clone())));
                }
                rx.close();
                while let Some(job) = rx.blocking_recv() {
                    let _ = job.done.send(Err(StoreError::Failed(why.clone())));
                }
                return;
            }
        };
        for (job, result) in batch.drain(..).zip(results) {
            if result.is_ok() {
                if let Some(f) = job.on_commit {
                    f();
                }
            }
            let _ = job.done.send(result);
        }
        health.commits.fetch_add(1, Ordering::Relaxed);
        let frames = WAL_FRAMES.with(|f| f.get());
        if frames < last_frames {
            health.wal_restarts.fetch_add(1, Ordering::Relaxed);
        }
        last_frames = frames;
        if frames < reset_frames {
            asked = false; // the log started over, or is not big yet
        } else if !asked {
            // Ask the checkpoint thread to copy the log now rather than at the next interval.
            // A hand-over it signalled for an earlier log is stale: acting on it would make the
            // writer copy this whole log itself.
            health.reset_wanted.store(false, Ordering::Relaxed);
            let _ = nudge.try_send(());
            asked = true;
        } else if health.reset_wanted.load(Ordering::Relaxed) && restart_log(&conn) {
            health.reset_wanted.store(false, Ordering::Relaxed);
            asked = false;
        }
    }
}

/// Between batches nothing else writes, so this copies the few frames the checkpoint thread
/// left, then waits (at most [`RESTART_WAIT`]) until no reader is still reading the old log: only
/// then can the next commit start the log from the beginning. (A passive checkpoint copies as
/// much but does not wait, and a reader that began before the copy finished silently keeps the
/// log from starting over; under steady reads that held the WAL growing.) When a reader or the
/// checkpoint thread is still in the way after the wait, it is tried again after the next batch.
fn restart_log(conn: &Connection) -> bool {
    let _ = conn.busy_timeout(RESTART_WAIT);
    let done = matches!(checkpoint(conn, "RESTART"), Ok((0, log, copied)) if log == copied);
    let _ = conn.busy_timeout(BUSY_TIMEOUT);
    done
}

/// Commits a batch in one transaction. The common case — every request succeeds — runs without
/// savepoints (a savepoint makes SQLite journal every page it touches). If any request fails, the
/// transaction is rolled back and the batch is run again with a savepoint per request, so one bad
/// request fails alone. An `Err` means the transaction itself failed (I/O, disk full).
fn commit_batch(conn: &mut Connection, batch: &[Job]) -> Result<Vec<Result<()>>> {
    let fast = (|| -> Result<bool> {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        for job in batch {
            if job.writes.iter().try_for_each(|w| write(&tx, w)).is_err() {
                return Ok(false); // dropping `tx` rolls back
            }
        }
        tx.commit()?;
        Ok(true)
    })();
    match fast? {
        true => Ok(batch.iter().map(|_| Ok(())).collect()),
        false => commit_with_savepoints(conn, batch),
    }
}

fn commit_with_savepoints(conn: &mut Connection, batch: &[Job]) -> Result<Vec<Result<()>>> {
    let mut results = Vec::with_capacity(batch.len());
    let mut tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    for job in batch {
        let mut sp = tx.savepoint()?;
        let r = job.writes.iter().try_for_each(|w| write(&sp, w));
        match r {
            Ok(()) => sp.commit()?,
            Err(_) => sp.rollback()?,
        }
        results.push(r);
    }
    tx.commit()?;
    Ok(results)
}

fn is_constraint(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation)
}

fn write(c: &Connection, w: &Write) -> Result<()> {
    match w {
        Write::Principal(rec, hash) => {
            let p = &rec.principal;
            let (kind, scopes) = match &p.kind {
                PrincipalKind::Device { .. } => ("device", String::new()),
                PrincipalKind::Service { scopes, .. } => (
                    "service",
                    scopes
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(","),
                ),
                PrincipalKind::Admin => ("admin", String::new()),
            };
            c.prepare_cached(
                "INSERT INTO principals (id, kind, name, scopes, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![p.id.as_str(), kind, p.name, scopes, rec.created_at])
            .map_err(|e| if is_constraint(&e) { StoreError::Duplicate } else { e.into() })?;
            let mut ins = c.prepare_cached(
                "INSERT INTO numbers (principal, number, is_range, bound_at) VALUES (?1, ?2, ?3, ?4)",
            )?;
            match &p.kind {
                PrincipalKind::Device { numbers } => {
                    for n in numbers {
                        ins.execute(params![p.id.as_str(), n.as_str(), 0, rec.created_at])?;
                    }
                }
                PrincipalKind::Service { ranges, .. } => {
                    for r in ranges {
                        ins.execute(params![p.id.as_str(), r.as_str(), 1, rec.created_at])?;
                    }
                }
                PrincipalKind::Admin => {}
            }
            insert_token(c, &p.id, hash, rec.created_at)?;
        }
        Write::DeletePrincipal(id) => {
            c.execute(
                "UPDATE principals SET deleted_at = ?2 WHERE id = ?1",
                params![id.as_str(), now_ms()],
            )?;
            c.execute(
                "DELETE FROM tokens WHERE principal = ?1",
                params![id.as_str()],
            )?;
        }
        Write::ReplaceToken(id, hash) => {
            c.execute(
                "DELETE FROM tokens WHERE principal = ?1",
                params![id.as_str()],
            )?;
            insert_token(c, id, hash, now_ms())?;
        }
        Write::Leg(r) => {
            let l = &r.leg;
            c.prepare_cached(
                "INSERT OR REPLACE INTO legs (id, principal, own, other, direction, call_ref, extension,
                 conference_id, registry, lifecycle, reported_at, expires_at, state, reason, session)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            )?
            .execute(params![
                l.id.0,
                l.principal.as_str(),
                l.own.as_str(),
                l.other.as_ref().map(|n| n.as_str()),
                l.direction.as_str(),
                l.call_ref,
                l.extension,
                l.conference_id,
                r.registry,
                r.lifecycle.map(|x| x.as_str()),
                l.reported_at,
                l.expires_at,
                r.state.as_str(),
                r.reason,
                r.session.as_ref().map(|k| k.as_str()),
            ])?;
        }
        Write::LegOutcome {
            id,
            state,
            reason,
            session,
        } => {
            c.prepare_cached(
                "UPDATE legs SET state = ?2, reason = ?3, session = ?4 WHERE id = ?1",
            )?
            .execute(params![
                id.0,
                state.as_str(),
                reason,
                session.as_ref().map(|k| k.as_str())
            ])?;
        }
        Write::Session(r) => {
            let s = &r.session;
            let (origin, call_id) = match &s.origin {
                Origin::PairedLegs => ("paired_legs", r.call_id.as_ref().map(|c| c.0.as_str())),
                Origin::Network(id) => ("network", Some(id.0.as_str())),
                Origin::Invitation => ("invitation", r.call_id.as_ref().map(|c| c.0.as_str())),
            };
            let (closed, closed_by) = close_columns(s.closed.as_ref());
            c.prepare_cached(
                "INSERT INTO sessions (key, origin, call_id, lifecycle, call_state, created_at, closed,
                 closed_by, last_seq, last_activity) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?
            .execute(params![
                s.key.as_str(),
                origin,
                call_id,
                s.lifecycle.as_str(),
                s.call.as_str(),
                s.created_at,
                closed,
                closed_by,
                r.last_seq as i64,
                r.last_activity,
            ])
            .map_err(|e| if is_constraint(&e) { StoreError::Duplicate } else { e.into() })?;
            for p in &r.participants {
                insert_participant(c, &s.key, &p.principal, p.number.as_ref(), s.created_at)?;
            }
        }
        Write::SessionState {
            key,
            call,
            closed,
            call_id,
        } => {
            let (reason, by) = match closed {
                Some((reason, by)) => (Some(reason.as_str()), by.as_ref().map(|p| p.as_str())),
                None => (None, None),
            };
            c.prepare_cached(
                "UPDATE sessions SET call_state = ?2, closed = ?3, closed_by = ?4,
                 call_id = COALESCE(?5, call_id) WHERE key = ?1",
            )?
            .execute(params![
                key.as_str(),
                call.as_str(),
                reason,
                by,
                call_id.as_ref().map(|c| c.0.as_str())
            ])?;
        }
        Write::Participant {
            session,
            principal,
            number,
            joined_at,
        } => insert_participant(c, session, principal, number.as_ref(), *joined_at)?,
        Write::Message(m) => {
            c.prepare_cached(
                "INSERT INTO messages (session, seq, sender, client_id, kind, body, sent_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                m.session.as_str(),
                m.seq as i64,
                m.sender,
                m.client_id,
                m.kind,
                m.body,
                m.sent_at
            ])
            .map_err(|e| {
                if is_constraint(&e) {
                    StoreError::Duplicate
                } else {
                    e.into()
                }
            })?;
            // The session's last_seq and activity time are its newest message's (see `session`).
            if let Some(blob) = &m.blob {
                c.prepare_cached(
                    "INSERT OR IGNORE INTO blob_refs (blob, session) VALUES (?1, ?2)",
                )?
                .execute(params![blob.as_str(), m.session.as_str()])?;
            }
        }
        Write::Ack {
            session,
            principal,
            seq,
        } => {
            c.prepare_cached(
                "UPDATE participants SET acked_seq = MAX(acked_seq, ?3) WHERE session = ?1 AND principal = ?2",
            )?
            .execute(params![session.as_str(), principal.as_str(), *seq as i64])?;
        }
        Write::Call(r) => {
            c.prepare_cached(
                "INSERT INTO calls (id, reporter, call_ref, caller, callee, state, session, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at,
                   state = CASE WHEN calls.state = 'ended' OR excluded.state = 'ended' THEN 'ended'
                                WHEN calls.state = 'answered' THEN 'answered'
                                ELSE excluded.state END",
            )?
            .execute(params![
                r.id.0,
                r.reporter.as_str(),
                r.call_ref,
                r.caller.as_str(),
                r.callee.as_str(),
                r.state.as_str(),
                r.session.as_str(),
                r.created_at,
                r.expires_at
            ])?;
        }
        Write::Proof(p) => {
            c.prepare_cached(
                "INSERT OR REPLACE INTO number_proofs
                 (id, device, code_hash, number, nonce, state, failures, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                p.id,
                p.device.as_str(),
                &p.code_hash.0[..],
                p.number.as_ref().map(|n| n.as_str()),
                p.nonce,
                p.state.as_str(),
                p.failures,
                p.created_at,
                p.expires_at
            ])?;
        }
        Write::PurgeProofs { expired_before } => {
            c.prepare_cached("DELETE FROM number_proofs WHERE expires_at < ?1")?
                .execute([expired_before])?;
        }
        Write::BindNumber {
            device,
            number,
            source,
            at,
            stale_before,
        } => {
            if let Some(before) = stale_before {
                c.prepare_cached(
                    "DELETE FROM numbers WHERE number = ?1 AND is_range = 0 AND source = 'sms'
                     AND principal != ?2 AND bound_at < ?3",
                )?
                .execute(params![number.as_str(), device.as_str(), before])?;
            }
            c.prepare_cached(
                "INSERT INTO numbers (principal, number, is_range, source, bound_at)
                 VALUES (?1, ?2, 0, ?3, ?4)
                 ON CONFLICT (principal, number) DO UPDATE SET bound_at = excluded.bound_at,
                 -- what the operator vouched for stays provisioned (never replaced as stale)
                 source = CASE WHEN numbers.source = 'provisioned' THEN 'provisioned'
                               ELSE excluded.source END",
            )?
            .execute(params![
                device.as_str(),
                number.as_str(),
                source.as_str(),
                at
            ])?;
        }
        Write::Invitation(r) => {
            let i = &r.invitation;
            let inserted = c
                .prepare_cached(
                    "INSERT INTO invitations (id, inviter, inviter_name, from_number, invitee, session,
                     state, answered_by, offer, answer, path, created_at, expires_at, leg, via_sms,
                     component)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
                     ON CONFLICT (id) DO UPDATE SET session = excluded.session,
                     state = excluded.state, answered_by = excluded.answered_by,
                     answer = excluded.answer, path = excluded.path, component = excluded.component",
                )?
                .execute(params![
                    i.id,
                    i.inviter.as_str(),
                    r.inviter_name,
                    i.from.as_ref().map(|n| n.as_str()),
                    i.invitee.as_str(),
                    i.session.as_ref().map(|k| k.as_str()),
                    i.state.as_str(),
                    i.answered_by.as_ref().map(|p| p.as_str()),
                    r.offer,
                    r.answer,
                    r.path,
                    i.created_at,
                    i.expires_at,
                    i.leg.as_ref().map(|l| l.0.as_str()),
                    i.via_sms,
                    r.component
                ])?;
            if inserted > 0 {
                let mut ins = c.prepare_cached(
                    "INSERT OR IGNORE INTO invitation_devices (invitation, device) VALUES (?1, ?2)",
                )?;
                for d in &i.devices {
                    ins.execute(params![i.id, d.as_str()])?;
                }
            }
        }
        Write::CallNote(n) => {
            c.prepare_cached(
                "INSERT OR REPLACE INTO call_notes
                 (id, kind, leg, sender, sender_name, from_number, to_number, body, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                n.id,
                n.kind,
                n.leg.0,
                n.sender.as_str(),
                n.sender_name,
                n.from.as_str(),
                n.to.as_str(),
                n.body,
                n.created_at
            ])?;
        }
        Write::BlobGrant { blob, principal } => {
            c.prepare_cached(
                "INSERT OR IGNORE INTO blob_uploaders (blob, principal) VALUES (?1, ?2)",
            )?
            .execute(params![blob.as_str(), principal.as_str()])?;
        }
        Write::Card { principal, card } => {
            use callside_core::card::FieldValue;
            c.prepare_cached("DELETE FROM card_fields WHERE principal = ?1")?
                .execute([principal.as_str()])?;
            let mut ins = c.prepare_cached(
                "INSERT INTO card_fields (principal, id, position, kind, value, label, version, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            for (i, f) in card.fields.iter().enumerate() {
                let value = match &f.value {
                    FieldValue::Text(t) => t.clone(),
                    FieldValue::Address(a) => [
                        &a.street,
                        &a.locality,
                        &a.region,
                        &a.postal_code,
                        &a.country,
                    ]
                    .map(|s| s.as_str())
                    .join("\u{1f}"),
                };
                ins.execute(params![
                    principal.as_str(),
                    f.id,
                    i as i64,
                    f.kind.as_str(),
                    value,
                    f.label,
                    f.version as i64,
                    f.updated_at
                ])?;
            }
        }
        Write::Audiences {
            principal,
            audiences,
        } => {
            c.prepare_cached("DELETE FROM audiences WHERE principal = ?1")?
                .execute([principal.as_str()])?;
            let mut ins = c.prepare_cached(
                "INSERT INTO audiences (principal, name, position, members, fields) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for (i, a) in audiences.iter().enumerate() {
                let members: Vec<&str> = a.members.iter().map(|m| m.as_str()).collect();
                let fields: Vec<&str> = a.fields.iter().map(|f| f.as_str()).collect();
                ins.execute(params![
                    principal.as_str(),
                    a.name,
                    i as i64,
                    members.join(","),
                    fields.join(",")
                ])?;
            }
        }
        Write::ReceivePolicy { principal, policy } => {
            c.prepare_cached(
                "INSERT INTO card_policies (principal, default_mode) VALUES (?1, ?2)
                 ON CONFLICT (principal) DO UPDATE SET default_mode = excluded.default_mode",
            )?
            .execute(params![
                principal.as_str(),
                if policy.known_only {
                    "known_only"
                } else {
                    "accept"
                }
            ])?;
            c.prepare_cached("DELETE FROM card_policy_contacts WHERE principal = ?1")?
                .execute([principal.as_str()])?;
            let mut ins = c.prepare_cached(
                "INSERT OR REPLACE INTO card_policy_contacts (principal, number, policy) VALUES (?1, ?2, ?3)",
            )?;
            for (n, p) in &policy.contacts {
                ins.execute(params![principal.as_str(), n.as_str(), p.as_str()])?;
            }
        }
        Write::Component { component: m, at } => {
            c.prepare_cached(
                "INSERT INTO components (id, name, version, url, sha256, authorization, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (id) DO UPDATE SET name = excluded.name, version = excluded.version,
                 url = excluded.url, sha256 = excluded.sha256,
                 authorization = excluded.authorization, updated_at = excluded.updated_at",
            )?
            .execute(params![
                m.id.as_str(),
                m.name,
                m.version,
                m.url,
                m.sha256,
                m.authorization,
                at
            ])?;
        }
        Write::DeleteComponent(id) => {
            c.prepare_cached("DELETE FROM components WHERE id = ?1")?
                .execute([id.as_str()])?;
        }
        Write::Capabilities {
            principal,
            capabilities,
            at,
        } => {
            c.prepare_cached(
                "INSERT INTO capabilities (principal, features, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (principal) DO UPDATE SET features = excluded.features,
                 updated_at = excluded.updated_at",
            )?
            .execute(params![
                principal.as_str(),
                capabilities.features.join(","),
                at
            ])?;
            c.prepare_cached("DELETE FROM capability_components WHERE principal = ?1")?
                .execute([principal.as_str()])?;
            let mut ins = c.prepare_cached(
                "INSERT INTO capability_components (principal, component, version) VALUES (?1, ?2, ?3)",
            )?;
            for (id, version) in &capabilities.components {
                ins.execute(params![principal.as_str(), id.as_str(), version])?;
            }
        }
        Write::Installed {
            principal,
            component,
            version,
            at,
        } => {
            c.prepare_cached(
                "INSERT INTO capabilities (principal, features, updated_at) VALUES (?1, '', ?2)
                 ON CONFLICT (principal) DO UPDATE SET updated_at = excluded.updated_at",
            )?
            .execute(params![principal.as_str(), at])?;
            c.prepare_cached(
                "INSERT OR REPLACE INTO capability_components (principal, component, version)
                 VALUES (?1, ?2, ?3)",
            )?
            .execute(params![principal.as_str(), component.as_str(), version])?;
        }
        Write::ForgetContactRule { principal, number } => {
            c.prepare_cached(
                "DELETE FROM card_policy_contacts WHERE principal = ?1 AND number = ?2",
            )?
            .execute(params![principal.as_str(), number.as_str()])?;
        }
        Write::ResetLedger {
            sender,
            receiver,
            has,
            at,
        } => {
            c.prepare_cached("DELETE FROM card_ledger WHERE sender = ?1 AND receiver = ?2")?
                .execute(params![sender.as_str(), receiver.as_str()])?;
            let mut ins = c.prepare_cached(
                "INSERT OR REPLACE INTO card_ledger (sender, receiver, field, version, delivered_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for (field, version) in has {
                ins.execute(params![
                    sender.as_str(),
                    receiver.as_str(),
                    field,
                    *version as i64,
                    at
                ])?;
            }
        }
        Write::Delivered {
            sender,
            receiver,
            field,
            version,
            at,
        } => {
            c.prepare_cached(
                "INSERT INTO card_ledger (sender, receiver, field, version, delivered_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (sender, receiver, field) DO UPDATE SET
                 version = max(version, excluded.version), delivered_at = excluded.delivered_at",
            )?
            .execute(params![sender.as_str(), receiver.as_str(), field, *version as i64, at])?;
        }
        Write::EmailValidation(v) => {
            c.prepare_cached(
                "INSERT OR REPLACE INTO email_validations
                 (id, device, email, token_hash, state, failures, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                v.id,
                v.device.as_str(),
                v.email.as_str(),
                &v.token_hash.0[..],
                v.state,
                v.failures,
                v.created_at,
                v.expires_at
            ])?;
        }
        Write::BindEmail { device, email, at } => {
            c.prepare_cached(
                "INSERT INTO emails (principal, email, bound_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (principal, email) DO UPDATE SET bound_at = excluded.bound_at",
            )?
            .execute(params![device.as_str(), email.as_str(), at])?;
        }
        Write::UnbindEmail { device, email } => {
            c.prepare_cached("DELETE FROM emails WHERE principal = ?1 AND email = ?2")?
                .execute(params![device.as_str(), email.as_str()])?;
        }
        Write::InvitationDevice { invitation, device } => {
            c.prepare_cached(
                "INSERT OR IGNORE INTO invitation_devices (invitation, device) VALUES (?1, ?2)",
            )?
            .execute(params![invitation, device.as_str()])?;
        }
        Write::Audit(a) => {
            c.prepare_cached(
                "INSERT INTO audit_log (at, actor, action, subject, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![a.at, a.actor.as_str(), a.action, a.subject, a.detail])?;
        }
        Write::Push(p) => {
            c.prepare_cached(
                "INSERT INTO push_subscriptions (id, device, provider, identity, data, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (device, identity) DO UPDATE SET id = excluded.id,
                 data = excluded.data, created_at = excluded.created_at",
            )?
            .execute(params![
                p.id,
                p.device.as_str(),
                p.provider,
                &p.identity[..],
                p.data,
                p.created_at
            ])?;
        }
        Write::DeletePush { id } => {
            c.prepare_cached("DELETE FROM push_subscriptions WHERE id = ?1")?
                .execute([id])?;
        }
        Write::RemoveParticipant { session, principal } => {
            c.prepare_cached("DELETE FROM participants WHERE session = ?1 AND principal = ?2")?
                .execute(params![session.as_str(), principal.as_str()])?;
        }
        Write::UnbindNumber { device, number } => {
            c.prepare_cached(
                "DELETE FROM numbers WHERE principal = ?1 AND number = ?2 AND is_range = 0",
            )?
            .execute(params![device.as_str(), number.as_str()])?;
        }
        Write::Blob(b, uploader) => {
            c.prepare_cached(
                "INSERT OR IGNORE INTO blobs (id, size, mime, created_at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![b.id.as_str(), b.size as i64, b.mime, b.created_at])?;
            c.prepare_cached(
                "INSERT OR IGNORE INTO blob_uploaders (blob, principal) VALUES (?1, ?2)",
            )?
            .execute(params![b.id.as_str(), uploader.as_str()])?;
        }
    }
    Ok(())
}

fn close_columns(closed: Option<&CloseReason>) -> (Option<&'static str>, Option<&str>) {
    match closed {
        None => (None, None),
        Some(CloseReason::ClosedBy(p)) => (Some("closed"), Some(p.as_str())),
        Some(r) => (Some(r.code()), None),
    }
}

fn insert_token(c: &Connection, id: &PrincipalId, hash: &TokenHash, at: Millis) -> Result<()> {
    c.prepare_cached("INSERT INTO tokens (hash, principal, created_at) VALUES (?1, ?2, ?3)")?
        .execute(params![&hash.0[..], id.as_str(), at])?;
    Ok(())
}

fn insert_participant(
    c: &Connection,
    session: &SessionKey,
    principal: &PrincipalId,
    number: Option<&PhoneNumber>,
    at: Millis,
) -> Result<()> {
    c.prepare_cached(
        "INSERT OR IGNORE INTO participants (session, principal, number, joined_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![
        session.as_str(),
        principal.as_str(),
        number.map(|n| n.as_str()),
        at
    ])?;
    Ok(())
}

fn now_ms() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as Millis)
        .unwrap_or(0)
}

// ---- reads ----

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("bad {what} `{value}`"))
}

/// Every SQLite error becomes [`StoreError::Backend`]; the store's public types name no
/// `rusqlite` type.
impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Backend(Box::new(e))
    }
}

fn load_principal(
    c: &Connection,
    id: String,
    kind: String,
    name: String,
    scopes: String,
    created_at: Millis,
) -> Result<PrincipalRecord> {
    let mut stmt = c.prepare_cached(
        "SELECT number, is_range FROM numbers WHERE principal = ?1 ORDER BY rowid",
    )?;
    let rows: Vec<(String, bool)> = stmt
        .query_map([&id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let kind = match kind.as_str() {
        "device" => PrincipalKind::Device {
            numbers: rows
                .into_iter()
                .map(|(n, _)| PhoneNumber::from_stored(n))
                .collect(),
        },
        "service" => PrincipalKind::Service {
            scopes: scopes
                .split(',')
                .filter(|s| !s.is_empty())
                .map(|s| Scope::parse(s).ok_or_else(|| corrupt("scope", s)))
                .collect::<Result<_>>()?,
            ranges: rows
                .into_iter()
                .map(|(n, _)| NumberRange::parse(&n).map_err(|_| corrupt("range", &n)))
                .collect::<Result<_>>()?,
        },
        "admin" => PrincipalKind::Admin,
        other => return Err(corrupt("principal kind", other)),
    };
    Ok(PrincipalRecord {
        principal: Principal {
            id: PrincipalId(id),
            name,
            kind,
        },
        created_at,
    })
}

type PrincipalRow = (String, String, String, String, Millis);

fn principal_row(r: &Row<'_>) -> rusqlite::Result<PrincipalRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

fn principal_by_token(c: &Connection, hash: &TokenHash) -> Result<Option<PrincipalRecord>> {
    let row = c
        .prepare_cached(
            "SELECT p.id, p.kind, p.name, p.scopes, p.created_at FROM tokens t
             JOIN principals p ON p.id = t.principal WHERE t.hash = ?1 AND p.deleted_at IS NULL",
        )?
        .query_row([&hash.0[..]], principal_row)
        .optional()?;
    row.map(|(id, k, n, s, at)| load_principal(c, id, k, n, s, at))
        .transpose()
}

fn principal(c: &Connection, id: &PrincipalId) -> Result<Option<PrincipalRecord>> {
    let row = c
        .prepare_cached(
            "SELECT id, kind, name, scopes, created_at FROM principals WHERE id = ?1 AND deleted_at IS NULL",
        )?
        .query_row([id.as_str()], principal_row)
        .optional()?;
    row.map(|(id, k, n, s, at)| load_principal(c, id, k, n, s, at))
        .transpose()
}

fn principals(c: &Connection, kind: &str) -> Result<Vec<PrincipalRecord>> {
    let rows: Vec<PrincipalRow> = c
        .prepare_cached(
            "SELECT id, kind, name, scopes, created_at FROM principals
             WHERE kind = ?1 AND deleted_at IS NULL ORDER BY created_at, id",
        )?
        .query_map([kind], principal_row)?
        .collect::<rusqlite::Result<_>>()?;
    rows.into_iter()
        .map(|(id, k, n, s, at)| load_principal(c, id, k, n, s, at))
        .collect()
}

fn devices_owning(c: &Connection, number: &PhoneNumber) -> Result<Vec<PrincipalId>> {
    Ok(c.prepare_cached(
        "SELECT p.id FROM numbers n JOIN principals p ON p.id = n.principal
             WHERE n.number = ?1 AND n.is_range = 0 AND p.kind = 'device' AND p.deleted_at IS NULL
             ORDER BY p.created_at, p.id",
    )?
    .query_map([number.as_str()], |r| Ok(PrincipalId(r.get(0)?)))?
    .collect::<rusqlite::Result<_>>()?)
}

/// Devices other than `except` holding an SMS binding of `number` made before `before`.
fn stale_bindings(
    c: &Connection,
    number: &PhoneNumber,
    except: &PrincipalId,
    before: Millis,
) -> Result<Vec<PrincipalId>> {
    Ok(c.prepare_cached(
        "SELECT principal FROM numbers WHERE number = ?1 AND is_range = 0 AND source = 'sms'
         AND principal != ?2 AND bound_at < ?3 ORDER BY principal",
    )?
    .query_map(params![number.as_str(), except.as_str(), before], |r| {
        Ok(PrincipalId(r.get(0)?))
    })?
    .collect::<rusqlite::Result<_>>()?)
}

fn proof(c: &Connection, id: &str) -> Result<Option<ProofRecord>> {
    proof_where(c, "id = ?1", rusqlite::types::Value::Text(id.to_owned()))
}

fn proof_by_code(c: &Connection, hash: &TokenHash) -> Result<Option<ProofRecord>> {
    proof_where(
        c,
        "code_hash = ?1",
        rusqlite::types::Value::Blob(hash.0.to_vec()),
    )
}

fn proof_where(
    c: &Connection,
    condition: &str,
    value: rusqlite::types::Value,
) -> Result<Option<ProofRecord>> {
    let row = c
        .prepare_cached(&format!(
            "SELECT id, device, code_hash, number, nonce, state, failures, created_at, expires_at
             FROM number_proofs WHERE {condition}"
        ))?
        .query_row([value], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Vec<u8>>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<Vec<u8>>>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, u32>(6)?,
                r.get::<_, Millis>(7)?,
                r.get::<_, Millis>(8)?,
            ))
        })
        .optional()?;
    let Some((id, device, hash, number, nonce, state, failures, created_at, expires_at)) = row
    else {
        return Ok(None);
    };
    Ok(Some(ProofRecord {
        id,
        device: PrincipalId(device),
        code_hash: TokenHash(
            hash.as_slice()
                .try_into()
                .map_err(|_| corrupt("proof code hash", "(wrong length)"))?,
        ),
        number: number.map(PhoneNumber::from_stored),
        nonce,
        state: callside_core::proof::ProofState::parse(&state)
            .ok_or_else(|| corrupt("proof state", &state))?,
        failures,
        created_at,
        expires_at,
    }))
}

/// A device's push subscriptions, oldest first.
fn push_subscriptions(c: &Connection, device: &PrincipalId) -> Result<Vec<PushRecord>> {
    let mut stmt = c.prepare_cached(
        "SELECT id, device, provider, identity, data, created_at FROM push_subscriptions
         WHERE device = ?1 ORDER BY created_at, id",
    )?;
    let rows = stmt
        .query_map([device.as_str()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Vec<u8>>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, Millis>(5)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter()
        .map(|(id, device, provider, identity, data, created_at)| {
            Ok(PushRecord {
                identity: identity
                    .as_slice()
                    .try_into()
                    .map_err(|_| corrupt("push identity", "(wrong length)"))?,
                id,
                device: PrincipalId(device),
                provider,
                data,
                created_at,
            })
        })
        .collect()
}

const INVITATION_COLUMNS: &str = "id, inviter, inviter_name, from_number, invitee, session, state,
    answered_by, offer, answer, path, created_at, expires_at, leg, via_sms, component";

fn invitation_row(c: &Connection, r: &Row<'_>) -> Result<InvitationRecord> {
    use callside_core::invitation::{Invitation, InvitationState};
    let id: String = r.get(0)?;
    let state: String = r.get(6)?;
    let devices = c
        .prepare_cached(
            "SELECT device FROM invitation_devices WHERE invitation = ?1 ORDER BY rowid",
        )?
        .query_map([&id], |r| Ok(PrincipalId(r.get(0)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(InvitationRecord {
        invitation: Invitation {
            inviter: PrincipalId(r.get(1)?),
            from: r.get::<_, Option<String>>(3)?.map(PhoneNumber::from_stored),
            invitee: callside_core::email::Endpoint::from_stored(r.get(4)?),
            devices,
            session: r
                .get::<_, Option<String>>(5)?
                .map(|k| SessionKey::parse(&k).ok_or_else(|| corrupt("session key", &k)))
                .transpose()?,
            state: InvitationState::parse(&state)
                .ok_or_else(|| corrupt("invitation state", &state))?,
            answered_by: r.get::<_, Option<String>>(7)?.map(PrincipalId),
            leg: r.get::<_, Option<String>>(13)?.map(LegId),
            via_sms: r.get(14)?,
            created_at: r.get(11)?,
            expires_at: r.get(12)?,
            id,
        },
        inviter_name: r.get(2)?,
        offer: r.get(8)?,
        answer: r.get(9)?,
        path: r.get(10)?,
        component: r.get(15)?,
    })
}

fn invitation(c: &Connection, id: &str) -> Result<Option<InvitationRecord>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {INVITATION_COLUMNS} FROM invitations WHERE id = ?1"
    ))?;
    let mut rows = stmt.query([id])?;
    match rows.next()? {
        Some(r) => Ok(Some(invitation_row(c, r)?)),
        None => Ok(None),
    }
}

/// Pending invitations that ring on `device`, oldest first.
fn invitations_for(c: &Connection, device: &PrincipalId) -> Result<Vec<InvitationRecord>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {INVITATION_COLUMNS} FROM invitations WHERE state = 'pending' AND id IN
         (SELECT invitation FROM invitation_devices WHERE device = ?1) ORDER BY created_at, id"
    ))?;
    let mut rows = stmt.query([device.as_str()])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(invitation_row(c, r)?);
    }
    Ok(out)
}

/// Pending invitations to `number` still running at `now`.
fn pending_invitations_to(
    c: &Connection,
    endpoint: &str,
    now: Millis,
) -> Result<Vec<InvitationRecord>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {INVITATION_COLUMNS} FROM invitations
         WHERE state = 'pending' AND invitee = ?1 AND expires_at > ?2 ORDER BY created_at, id"
    ))?;
    let mut rows = stmt.query(params![endpoint, now])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(invitation_row(c, r)?);
    }
    Ok(out)
}

fn email_validation(c: &Connection, id: &str) -> Result<Option<EmailValidationRecord>> {
    let row = c
        .prepare_cached(
            "SELECT id, device, email, token_hash, state, failures, created_at, expires_at
             FROM email_validations WHERE id = ?1",
        )?
        .query_row([id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Vec<u8>>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, u32>(5)?,
                r.get::<_, Millis>(6)?,
                r.get::<_, Millis>(7)?,
            ))
        })
        .optional()?;
    let Some((id, device, email, hash, state, failures, created_at, expires_at)) = row else {
        return Ok(None);
    };
    Ok(Some(EmailValidationRecord {
        id,
        device: PrincipalId(device),
        email: callside_core::email::Email::from_stored(email),
        token_hash: TokenHash(
            hash.as_slice()
                .try_into()
                .map_err(|_| corrupt("email token hash", "(wrong length)"))?,
        ),
        state,
        failures,
        created_at,
        expires_at,
    }))
}

/// A device's validated addresses, oldest first.
fn emails_of(c: &Connection, device: &PrincipalId) -> Result<Vec<callside_core::email::Email>> {
    Ok(
        c.prepare_cached("SELECT email FROM emails WHERE principal = ?1 ORDER BY bound_at, email")?
            .query_map([device.as_str()], |r| {
                Ok(callside_core::email::Email::from_stored(r.get(0)?))
            })?
            .collect::<rusqlite::Result<_>>()?,
    )
}

/// Live devices holding a validated address.
fn devices_with_email(
    c: &Connection,
    email: &callside_core::email::Email,
) -> Result<Vec<PrincipalId>> {
    Ok(c.prepare_cached(
        "SELECT p.id FROM emails e JOIN principals p ON p.id = e.principal
         WHERE e.email = ?1 AND p.deleted_at IS NULL ORDER BY p.created_at, p.id",
    )?
    .query_map([email.as_str()], |r| Ok(PrincipalId(r.get(0)?)))?
    .collect::<rusqlite::Result<_>>()?)
}

/// Pending invitations offered for one-sided calls on devices (not by SMS): (leg, invitation).
fn pending_leg_invitations(c: &Connection) -> Result<Vec<(LegId, String)>> {
    Ok(c.prepare_cached(
        "SELECT leg, id FROM invitations WHERE state = 'pending' AND leg IS NOT NULL AND via_sms = 0",
    )?
    .query_map([], |r| Ok((LegId(r.get(0)?), r.get(1)?)))?
    .collect::<rusqlite::Result<_>>()?)
}

fn push_devices(c: &Connection) -> Result<Vec<PrincipalId>> {
    Ok(
        c.prepare_cached("SELECT DISTINCT device FROM push_subscriptions")?
            .query_map([], |r| Ok(PrincipalId(r.get(0)?)))?
            .collect::<rusqlite::Result<_>>()?,
    )
}

fn card_owners(c: &Connection) -> Result<Vec<PrincipalId>> {
    Ok(
        c.prepare_cached("SELECT DISTINCT principal FROM card_fields")?
            .query_map([], |r| Ok(PrincipalId(r.get(0)?)))?
            .collect::<rusqlite::Result<_>>()?,
    )
}

fn card(c: &Connection, principal: &PrincipalId) -> Result<callside_core::card::Card> {
    use callside_core::card::{Address, Card, CardField, FieldKind, FieldValue};
    let rows: Vec<(String, String, String, Option<String>, i64, Millis)> = c
        .prepare_cached(
            "SELECT id, kind, value, label, version, updated_at FROM card_fields
             WHERE principal = ?1 ORDER BY position",
        )?
        .query_map([principal.as_str()], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let fields = rows
        .into_iter()
        .map(|(id, kind, value, label, version, updated_at)| {
            let kind = FieldKind::parse(&kind).ok_or_else(|| corrupt("card field kind", &kind))?;
            let value = if kind == FieldKind::Address {
                let mut parts = value.split('\u{1f}').map(str::to_owned);
                let mut next = || parts.next().unwrap_or_default();
                FieldValue::Address(Address {
                    street: next(),
                    locality: next(),
                    region: next(),
                    postal_code: next(),
                    country: next(),
                })
            } else {
                FieldValue::Text(value)
            };
            Ok(CardField {
                id,
                kind,
                value,
                label,
                version: version as u64,
                updated_at,
            })
        })
        .collect::<Result<_>>()?;
    Ok(Card { fields })
}

fn audiences(
    c: &Connection,
    principal: &PrincipalId,
) -> Result<Vec<callside_core::card::Audience>> {
    use callside_core::card::{Audience, FieldKind};
    let rows: Vec<(String, String, String)> = c
        .prepare_cached(
            "SELECT name, members, fields FROM audiences WHERE principal = ?1 ORDER BY position",
        )?
        .query_map([principal.as_str()], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    rows.into_iter()
        .map(|(name, members, fields)| {
            Ok(Audience {
                name,
                members: members
                    .split(',')
                    .filter(|m| !m.is_empty())
                    .map(|m| NumberRange::parse(m).map_err(|_| corrupt("audience member", m)))
                    .collect::<Result<_>>()?,
                fields: fields
                    .split(',')
                    .filter(|f| !f.is_empty())
                    .map(|f| FieldKind::parse(f).ok_or_else(|| corrupt("audience field", f)))
                    .collect::<Result<_>>()?,
            })
        })
        .collect()
}

/// The newest `limit` call notes addressed to any of `numbers`, newest first.
fn call_notes_to(
    c: &Connection,
    numbers: &[PhoneNumber],
    limit: u32,
) -> Result<Vec<CallNoteRecord>> {
    let mut out = Vec::new();
    let mut stmt = c.prepare_cached(
        "SELECT id, kind, leg, sender, sender_name, from_number, to_number, body, created_at
         FROM call_notes WHERE to_number = ?1 ORDER BY created_at DESC LIMIT ?2",
    )?;
    for n in numbers {
        let rows = stmt
            .query_map(params![n.as_str(), limit], |r| {
                Ok(CallNoteRecord {
                    id: r.get(0)?,
                    kind: r.get(1)?,
                    leg: LegId(r.get(2)?),
                    sender: PrincipalId(r.get(3)?),
                    sender_name: r.get(4)?,
                    from: PhoneNumber::from_stored(r.get(5)?),
                    to: PhoneNumber::from_stored(r.get(6)?),
                    body: r.get(7)?,
                    created_at: r.get(8)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        out.extend(rows);
    }
    out.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
    out.truncate(limit as usize);
    Ok(out)
}

fn receive_policy(
    c: &Connection,
    principal: &PrincipalId,
) -> Result<callside_core::card::ReceivePolicy> {
    use callside_core::card::{ContactPolicy, ReceivePolicy};
    let known_only = c
        .prepare_cached("SELECT default_mode FROM card_policies WHERE principal = ?1")?
        .query_row([principal.as_str()], |r| r.get::<_, String>(0))
        .optional()?
        .is_some_and(|m| m == "known_only");
    let contacts = c
        .prepare_cached(
            "SELECT number, policy FROM card_policy_contacts WHERE principal = ?1 ORDER BY rowid",
        )?
        .query_map([principal.as_str()], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?
        .into_iter()
        .map(|(n, p)| {
            Ok((
                PhoneNumber::from_stored(n),
                ContactPolicy::parse(&p).ok_or_else(|| corrupt("contact policy", &p))?,
            ))
        })
        .collect::<Result<_>>()?;
    Ok(ReceivePolicy {
        known_only,
        contacts,
    })
}

/// Field id → version of `sender`'s card that `receiver` has.
fn ledger(
    c: &Connection,
    sender: &PrincipalId,
    receiver: &PrincipalId,
) -> Result<HashMap<String, u64>> {
    Ok(c.prepare_cached(
        "SELECT field, version FROM card_ledger WHERE sender = ?1 AND receiver = ?2",
    )?
    .query_map(params![sender.as_str(), receiver.as_str()], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
    })?
    .collect::<rusqlite::Result<_>>()?)
}

/// The newest `limit` audit lines, newest first.
fn audit(c: &Connection, limit: u32) -> Result<Vec<AuditRecord>> {
    Ok(c.prepare_cached(
        "SELECT at, actor, action, subject, detail FROM audit_log ORDER BY id DESC LIMIT ?1",
    )?
    .query_map([limit], |r| {
        Ok(AuditRecord {
            at: r.get(0)?,
            actor: PrincipalId(r.get(1)?),
            action: r.get(2)?,
            subject: r.get(3)?,
            detail: r.get(4)?,
        })
    })?
    .collect::<rusqlite::Result<_>>()?)
}

/// Pending invitations whose time ran out by `now`.
fn expired_invitations(c: &Connection, now: Millis) -> Result<Vec<InvitationRecord>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {INVITATION_COLUMNS} FROM invitations WHERE state = 'pending' AND expires_at <= ?1
         ORDER BY expires_at LIMIT 1000"
    ))?;
    let mut rows = stmt.query([now])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(invitation_row(c, r)?);
    }
    Ok(out)
}

const LEG_COLUMNS: &str =
    "id, principal, own, other, direction, call_ref, extension, conference_id,
    registry, lifecycle, reported_at, expires_at, state, reason, session";

fn leg_row(r: &Row<'_>) -> rusqlite::Result<Result<LegRecord>> {
    let direction: String = r.get(4)?;
    let lifecycle: Option<String> = r.get(9)?;
    let state: String = r.get(12)?;
    let session: Option<String> = r.get(14)?;
    let other: Option<String> = r.get(3)?;
    let leg = Leg {
        id: LegId(r.get(0)?),
        principal: PrincipalId(r.get(1)?),
        own: PhoneNumber::from_stored(r.get(2)?),
        other: other.map(PhoneNumber::from_stored),
        direction: match Direction::parse(&direction) {
            Some(d) => d,
            None => return Ok(Err(corrupt("direction", &direction))),
        },
        call_ref: r.get(5)?,
        extension: r.get(6)?,
        conference_id: r.get(7)?,
        reported_at: r.get(10)?,
        expires_at: r.get(11)?,
    };
    let state = match state.as_str() {
        "pending" => LegState::Pending,
        "matched" => LegState::Matched,
        "no_match" => LegState::NoMatch,
        other => return Ok(Err(corrupt("leg state", other))),
    };
    Ok(Ok(LegRecord {
        leg,
        registry: r.get(8)?,
        lifecycle: lifecycle.as_deref().and_then(Lifecycle::parse),
        state,
        reason: r.get(13)?,
        session: session.and_then(|s| SessionKey::parse(&s)),
    }))
}

fn leg(c: &Connection, id: &LegId) -> Result<Option<LegRecord>> {
    c.prepare_cached(&format!("SELECT {LEG_COLUMNS} FROM legs WHERE id = ?1"))?
        .query_row([&id.0], leg_row)
        .optional()?
        .transpose()
}

fn pending_legs(c: &Connection) -> Result<Vec<LegRecord>> {
    c.prepare_cached(&format!(
        "SELECT {LEG_COLUMNS} FROM legs WHERE state = 'pending' ORDER BY reported_at, rowid"
    ))?
    .query_map([], leg_row)?
    .map(|r| r?)
    .collect()
}

fn session(c: &Connection, key: &SessionKey) -> Result<Option<SessionRecord>> {
    type SessionRow = (
        String,
        Option<String>,
        String,
        String,
        Millis,
        Option<String>,
        Option<String>,
        i64,
        Millis,
    );
    let row: Option<SessionRow> = c
        .prepare_cached(
            "SELECT origin, call_id, lifecycle, call_state, created_at, closed, closed_by, last_seq, last_activity
             FROM sessions WHERE key = ?1",
        )?
        .query_row([key.as_str()], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?))
        })
        .optional()?;
    let Some((
        origin,
        call_id,
        lifecycle,
        call,
        created_at,
        closed,
        closed_by,
        last_seq,
        last_activity,
    )) = row
    else {
        return Ok(None);
    };
    // The sessions row keeps what was true when it was written; messages appended since (which
    // do not touch the row) move both marks to the newest one's.
    let newest: Option<(i64, Millis)> = c
        .prepare_cached(
            "SELECT seq, sent_at FROM messages WHERE session = ?1 ORDER BY seq DESC LIMIT 1",
        )?
        .query_row([key.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (last_seq, last_activity) = match newest {
        Some((seq, at)) => (last_seq.max(seq), last_activity.max(at)),
        None => (last_seq, last_activity),
    };
    let participants: Vec<ParticipantRecord> = c
        .prepare_cached(
            "SELECT pa.principal, COALESCE(p.name, ''), pa.number, pa.acked_seq FROM participants pa
             LEFT JOIN principals p ON p.id = pa.principal WHERE pa.session = ?1 ORDER BY pa.joined_at, pa.rowid",
        )?
        .query_map([key.as_str()], |r| {
            let number: Option<String> = r.get(2)?;
            Ok(ParticipantRecord {
                principal: PrincipalId(r.get(0)?),
                name: r.get(1)?,
                number: number.map(PhoneNumber::from_stored),
                acked_seq: r.get::<_, i64>(3)? as u64,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let call_id = call_id.map(CallId);
    let origin = match origin.as_str() {
        "paired_legs" => Origin::PairedLegs,
        "invitation" => Origin::Invitation,
        "network" => Origin::Network(
            call_id
                .clone()
                .ok_or_else(|| corrupt("origin", "network without call"))?,
        ),
        other => return Err(corrupt("origin", other)),
    };
    let closed = match (closed.as_deref(), closed_by) {
        (None, _) => None,
        (Some("call_ended"), _) => Some(CloseReason::CallEnded),
        (Some("idle"), _) => Some(CloseReason::Idle),
        (Some("closed"), by) => Some(CloseReason::ClosedBy(PrincipalId(by.unwrap_or_default()))),
        (Some(other), _) => return Err(corrupt("close reason", other)),
    };
    let session = Session {
        key: key.clone(),
        origin,
        lifecycle: Lifecycle::parse(&lifecycle).ok_or_else(|| corrupt("lifecycle", &lifecycle))?,
        call: CallState::parse(&call).ok_or_else(|| corrupt("call state", &call))?,
        participants: participants.iter().map(|p| p.principal.clone()).collect(),
        created_at,
        closed,
    };
    Ok(Some(SessionRecord {
        session,
        call_id,
        participants,
        last_seq: last_seq as u64,
        last_activity,
    }))
}

fn keys(rows: Vec<String>) -> Result<Vec<SessionKey>> {
    rows.into_iter()
        .map(|k| SessionKey::parse(&k).ok_or_else(|| corrupt("session key", &k)))
        .collect()
}

fn sessions_of(
    c: &Connection,
    principal: &PrincipalId,
    include_closed: bool,
) -> Result<Vec<SessionKey>> {
    let sql = if include_closed {
        "SELECT s.key FROM participants pa JOIN sessions s ON s.key = pa.session
         WHERE pa.principal = ?1 ORDER BY s.created_at DESC LIMIT 1000"
    } else {
        "SELECT s.key FROM participants pa JOIN sessions s ON s.key = pa.session
         WHERE pa.principal = ?1 AND s.closed IS NULL ORDER BY s.created_at DESC LIMIT 1000"
    };
    let rows = c
        .prepare_cached(sql)?
        .query_map([principal.as_str()], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    keys(rows)
}

fn idle_sessions(c: &Connection, before: Millis) -> Result<Vec<SessionKey>> {
    let rows = c
        .prepare_cached(
            "SELECT s.key FROM sessions s WHERE s.closed IS NULL AND s.last_activity < ?1
               AND COALESCE((SELECT m.sent_at FROM messages m WHERE m.session = s.key
                             ORDER BY m.seq DESC LIMIT 1), 0) < ?1
             LIMIT 10000",
        )?
        .query_map([before], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    keys(rows)
}

fn messages_after(
    c: &Connection,
    key: &SessionKey,
    after: u64,
    limit: u32,
) -> Result<Vec<MessageRecord>> {
    let rows = c
        .prepare_cached(
            "SELECT seq, sender, client_id, kind, body, sent_at FROM messages
             WHERE session = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
        )?
        .query_map(params![key.as_str(), after as i64, limit], |r| {
            Ok(MessageRecord {
                session: key.clone(),
                seq: r.get::<_, i64>(0)? as u64,
                sender: r.get(1)?,
                client_id: r.get(2)?,
                kind: r.get(3)?,
                body: r.get(4)?,
                sent_at: r.get(5)?,
                blob: None,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

fn client_id_seq(
    c: &Connection,
    key: &SessionKey,
    sender: &str,
    client_id: &str,
) -> Result<Option<u64>> {
    Ok(c.prepare_cached(
        "SELECT seq FROM messages WHERE session = ?1 AND sender = ?2 AND client_id = ?3",
    )?
    .query_row(params![key.as_str(), sender, client_id], |r| {
        r.get::<_, i64>(0)
    })
    .optional()?
    .map(|s| s as u64))
}

fn recent_client_ids(
    c: &Connection,
    key: &SessionKey,
    limit: u32,
) -> Result<Vec<(String, String, u64)>> {
    Ok(c.prepare_cached(
        "SELECT sender, client_id, seq FROM messages WHERE session = ?1 AND client_id IS NOT NULL
             ORDER BY seq DESC LIMIT ?2",
    )?
    .query_map(params![key.as_str(), limit], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? as u64))
    })?
    .collect::<rusqlite::Result<_>>()?)
}

const CALL_COLUMNS: &str =
    "id, reporter, call_ref, caller, callee, state, session, created_at, expires_at";

fn call_row(r: &Row<'_>) -> rusqlite::Result<Result<CallRecord>> {
    let state: String = r.get(5)?;
    let session: String = r.get(6)?;
    let Some(state) = CallState::parse(&state) else {
        return Ok(Err(corrupt("call state", &state)));
    };
    let Some(session) = SessionKey::parse(&session) else {
        return Ok(Err(corrupt("session key", &session)));
    };
    Ok(Ok(CallRecord {
        id: CallId(r.get(0)?),
        reporter: PrincipalId(r.get(1)?),
        call_ref: r.get(2)?,
        caller: PhoneNumber::from_stored(r.get(3)?),
        callee: PhoneNumber::from_stored(r.get(4)?),
        state,
        session,
        created_at: r.get(7)?,
        expires_at: r.get(8)?,
    }))
}

fn call_by_ref(
    c: &Connection,
    reporter: &PrincipalId,
    call_ref: &str,
) -> Result<Option<CallRecord>> {
    c.prepare_cached(&format!(
        "SELECT {CALL_COLUMNS} FROM calls WHERE reporter = ?1 AND call_ref = ?2"
    ))?
    .query_row(params![reporter.as_str(), call_ref], call_row)
    .optional()?
    .transpose()
}

fn live_calls(c: &Connection) -> Result<Vec<CallRecord>> {
    c.prepare_cached(&format!(
        "SELECT {CALL_COLUMNS} FROM calls WHERE state != 'ended' ORDER BY created_at"
    ))?
    .query_map([], call_row)?
    .map(|r| r?)
    .collect()
}

fn blob(c: &Connection, id: &BlobId) -> Result<Option<BlobRecord>> {
    Ok(
        c.prepare_cached("SELECT size, mime, created_at FROM blobs WHERE id = ?1")?
            .query_row([id.as_str()], |r| {
                Ok(BlobRecord {
                    id: id.clone(),
                    size: r.get::<_, i64>(0)? as u64,
                    mime: r.get(1)?,
                    created_at: r.get(2)?,
                })
            })
            .optional()?,
    )
}

fn may_read_blob(c: &Connection, principal: &PrincipalId, blob: &BlobId) -> Result<bool> {
    Ok(c.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM blob_uploaders WHERE blob = ?1 AND principal = ?2)
             OR EXISTS (SELECT 1 FROM blob_refs r JOIN participants pa ON pa.session = r.session
                        WHERE r.blob = ?1 AND pa.principal = ?2)",
    )?
    .query_row(params![blob.as_str(), principal.as_str()], |r| r.get(0))?)
}

#[cfg(test)]
mod tests;

type ComponentRow = (String, String, String, String, Option<String>, bool);

fn component_row(r: &Row<'_>) -> rusqlite::Result<ComponentRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

fn component_from(row: ComponentRow) -> Result<callside_core::component::Component> {
    let (id, name, version, url, sha256, authorization) = row;
    Ok(callside_core::component::Component {
        id: callside_core::component::ComponentId::parse(&id)
            .map_err(|_| corrupt("component id", &id))?,
        name,
        version,
        url,
        sha256,
        authorization,
    })
}

const COMPONENT_COLUMNS: &str = "id, name, version, url, sha256, authorization";

/// One catalogue entry.
fn component(c: &Connection, id: &str) -> Result<Option<callside_core::component::Component>> {
    c.prepare_cached(&format!(
        "SELECT {COMPONENT_COLUMNS} FROM components WHERE id = ?1"
    ))?
    .query_row([id], component_row)
    .optional()?
    .map(component_from)
    .transpose()
}

/// The whole catalogue, by id.
fn components(c: &Connection) -> Result<Vec<callside_core::component::Component>> {
    c.prepare_cached(&format!(
        "SELECT {COMPONENT_COLUMNS} FROM components ORDER BY id"
    ))?
    .query_map([], component_row)?
    .map(|r| component_from(r?))
    .collect()
}

/// A device's declared capabilities; `None` if it never declared any.
fn capabilities(
    c: &Connection,
    principal: &PrincipalId,
) -> Result<Option<callside_core::component::Capabilities>> {
    let Some(features) = c
        .prepare_cached("SELECT features FROM capabilities WHERE principal = ?1")?
        .query_row([principal.as_str()], |r| r.get::<_, String>(0))
        .optional()?
    else {
        return Ok(None);
    };
    let mut components = std::collections::BTreeMap::new();
    let rows = c
        .prepare_cached(
            "SELECT component, version FROM capability_components WHERE principal = ?1",
        )?
        .query_map([principal.as_str()], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    for (id, version) in rows {
        let id = callside_core::component::ComponentId::parse(&id)
            .map_err(|_| corrupt("component id", &id))?;
        components.insert(id, version);
    }
    Ok(Some(callside_core::component::Capabilities {
        features: features
            .split(',')
            .filter(|f| !f.is_empty())
            .map(str::to_owned)
            .collect(),
        components,
    }))
}
#[async_trait::async_trait]
impl Writes for SqliteStore {
    async fn submit(&self, writes: Vec<Write>, on_commit: Option<OnCommit>) -> Result<Commit> {
        self.queue(writes, on_commit).await
    }

    // `apply` and `apply_then` wait on the writer directly: one boxed future per call, not the
    // default methods' two (theirs and `submit`'s).
    async fn apply(&self, writes: Vec<Write>) -> Result<()> {
        self.commit(writes, None).await
    }

    async fn apply_then(&self, writes: Vec<Write>, on_commit: OnCommit) -> Result<()> {
        self.commit(writes, Some(on_commit)).await
    }

    fn has_failed(&self) -> bool {
        self.health.failed.load(Ordering::SeqCst)
    }

    async fn ping(&self) -> Result<()> {
        self.read(|c| Ok(c.query_row("SELECT 1", [], |_| Ok(()))?))
            .await
    }
}

#[async_trait::async_trait]
impl IdentityStore for SqliteStore {
    async fn principal_by_token(&self, hash: TokenHash) -> Result<Option<PrincipalRecord>> {
        self.read(move |c| principal_by_token(c, &hash)).await
    }

    async fn principal(&self, id: PrincipalId) -> Result<Option<PrincipalRecord>> {
        self.read(move |c| principal(c, &id)).await
    }

    async fn principals(&self, kind: &'static str) -> Result<Vec<PrincipalRecord>> {
        self.read(move |c| principals(c, kind)).await
    }

    async fn devices_owning(&self, number: PhoneNumber) -> Result<Vec<PrincipalId>> {
        self.read(move |c| devices_owning(c, &number)).await
    }

    async fn stale_bindings(
        &self,
        number: PhoneNumber,
        except: PrincipalId,
        before: Millis,
    ) -> Result<Vec<PrincipalId>> {
        self.read(move |c| stale_bindings(c, &number, &except, before))
            .await
    }

    async fn proof(&self, id: String) -> Result<Option<ProofRecord>> {
        self.read(move |c| proof(c, &id)).await
    }

    async fn proof_by_code(&self, hash: TokenHash) -> Result<Option<ProofRecord>> {
        self.read(move |c| proof_by_code(c, &hash)).await
    }

    async fn email_validation(&self, id: String) -> Result<Option<EmailValidationRecord>> {
        self.read(move |c| email_validation(c, &id)).await
    }

    async fn emails_of(&self, device: PrincipalId) -> Result<Vec<Email>> {
        self.read(move |c| emails_of(c, &device)).await
    }

    async fn devices_with_email(&self, email: Email) -> Result<Vec<PrincipalId>> {
        self.read(move |c| devices_with_email(c, &email)).await
    }
}

#[async_trait::async_trait]
impl SessionStore for SqliteStore {
    async fn session(&self, key: SessionKey) -> Result<Option<SessionRecord>> {
        self.read(move |c| session(c, &key)).await
    }

    async fn sessions_of(
        &self,
        principal: PrincipalId,
        include_closed: bool,
    ) -> Result<Vec<SessionKey>> {
        self.read(move |c| sessions_of(c, &principal, include_closed))
            .await
    }

    async fn idle_sessions(&self, before: Millis) -> Result<Vec<SessionKey>> {
        self.read(move |c| idle_sessions(c, before)).await
    }

    async fn messages_after(
        &self,
        key: SessionKey,
        after: u64,
        limit: u32,
    ) -> Result<Vec<MessageRecord>> {
        self.read(move |c| messages_after(c, &key, after, limit))
            .await
    }

    async fn client_id_seq(
        &self,
        key: SessionKey,
        sender: String,
        client_id: String,
    ) -> Result<Option<u64>> {
        self.read(move |c| client_id_seq(c, &key, &sender, &client_id))
            .await
    }

    async fn recent_client_ids(
        &self,
        key: SessionKey,
        limit: u32,
    ) -> Result<Vec<(String, String, u64)>> {
        self.read(move |c| recent_client_ids(c, &key, limit)).await
    }
}

#[async_trait::async_trait]
impl CallStore for SqliteStore {
    async fn leg(&self, id: LegId) -> Result<Option<LegRecord>> {
        self.read(move |c| leg(c, &id)).await
    }

    async fn pending_legs(&self) -> Result<Vec<LegRecord>> {
        self.read(pending_legs).await
    }

    async fn call_by_ref(
        &self,
        reporter: PrincipalId,
        call_ref: String,
    ) -> Result<Option<CallRecord>> {
        self.read(move |c| call_by_ref(c, &reporter, &call_ref))
            .await
    }

    async fn live_calls(&self) -> Result<Vec<CallRecord>> {
        self.read(live_calls).await
    }

    async fn call_notes_to(
        &self,
        numbers: Vec<PhoneNumber>,
        limit: u32,
    ) -> Result<Vec<CallNoteRecord>> {
        self.read(move |c| call_notes_to(c, &numbers, limit)).await
    }
}

#[async_trait::async_trait]
impl InvitationStore for SqliteStore {
    async fn invitation(&self, id: String) -> Result<Option<InvitationRecord>> {
        self.read(move |c| invitation(c, &id)).await
    }

    async fn invitations_for(&self, device: PrincipalId) -> Result<Vec<InvitationRecord>> {
        self.read(move |c| invitations_for(c, &device)).await
    }

    async fn pending_invitations_to(
        &self,
        endpoint: Endpoint,
        now: Millis,
    ) -> Result<Vec<InvitationRecord>> {
        self.read(move |c| pending_invitations_to(c, endpoint.as_str(), now))
            .await
    }

    async fn pending_leg_invitations(&self) -> Result<Vec<(LegId, String)>> {
        self.read(pending_leg_invitations).await
    }

    async fn expired_invitations(&self, now: Millis) -> Result<Vec<InvitationRecord>> {
        self.read(move |c| expired_invitations(c, now)).await
    }
}

#[async_trait::async_trait]
impl CardStore for SqliteStore {
    async fn card_owners(&self) -> Result<Vec<PrincipalId>> {
        self.read(card_owners).await
    }

    async fn card(&self, principal: PrincipalId) -> Result<Card> {
        self.read(move |c| card(c, &principal)).await
    }

    async fn audiences(&self, principal: PrincipalId) -> Result<Vec<Audience>> {
        self.read(move |c| audiences(c, &principal)).await
    }

    async fn receive_policy(&self, principal: PrincipalId) -> Result<ReceivePolicy> {
        self.read(move |c| receive_policy(c, &principal)).await
    }

    async fn ledger(
        &self,
        sender: PrincipalId,
        receiver: PrincipalId,
    ) -> Result<HashMap<String, u64>> {
        self.read(move |c| ledger(c, &sender, &receiver)).await
    }
}

#[async_trait::async_trait]
impl ComponentStore for SqliteStore {
    async fn component(&self, id: String) -> Result<Option<Component>> {
        self.read(move |c| component(c, &id)).await
    }

    async fn components(&self) -> Result<Vec<Component>> {
        self.read(components).await
    }

    async fn capabilities(&self, principal: PrincipalId) -> Result<Option<Capabilities>> {
        self.read(move |c| capabilities(c, &principal)).await
    }
}

#[async_trait::async_trait]
impl PushStore for SqliteStore {
    async fn push_devices(&self) -> Result<Vec<PrincipalId>> {
        self.read(push_devices).await
    }

    async fn push_subscriptions(&self, device: PrincipalId) -> Result<Vec<PushRecord>> {
        self.read(move |c| push_subscriptions(c, &device)).await
    }
}

#[async_trait::async_trait]
impl BlobStore for SqliteStore {
    async fn blob(&self, id: BlobId) -> Result<Option<BlobRecord>> {
        self.read(move |c| blob(c, &id)).await
    }

    async fn may_read_blob(&self, principal: PrincipalId, blob: BlobId) -> Result<bool> {
        self.read(move |c| may_read_blob(c, &principal, &blob))
            .await
    }
}

#[async_trait::async_trait]
impl AuditStore for SqliteStore {
    async fn audit(&self, limit: u32) -> Result<Vec<AuditRecord>> {
        self.read(move |c| audit(c, limit)).await
    }
}
