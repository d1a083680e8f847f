//! The checkpoint thread: copies the WAL into the database on a connection of its own, so
//! commits never run a checkpoint themselves, and truncates a large WAL when the store is idle.

use super::{Health, SqliteOptions};
use rusqlite::Connection;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Most passes the checkpoint thread makes before handing the rest of the log to the writer.
const MAX_PASSES: u32 = 8;
/// Frames appended during a pass below which the writer is handed the rest.
const FEW_FRAMES: i64 = 256;

/// One checkpoint: (busy, frames in the log, frames copied).
pub(super) fn checkpoint(conn: &Connection, mode: &str) -> rusqlite::Result<(i64, i64, i64)> {
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
pub(super) fn checkpoint_loop(
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
