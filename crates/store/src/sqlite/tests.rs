//! Tests of what only SQLite has: its files, its WAL and its schema history. The storage
//! contract's own tests are in `crate::conformance`, run against this backend from
//! `tests/conformance.rs`.

use super::migrate::SCHEMA_VERSION;
use super::{SqliteOptions, SqliteStore};
use crate::conformance::fixtures::{append, msg, n, session};
use crate::prelude::*;
use crate::{StoreError, Write};
use callside_core::{PrincipalId, SessionKey};
use rusqlite::Connection;
use std::sync::atomic::Ordering;
use std::sync::Arc;

fn open(dir: &tempfile::TempDir) -> Arc<SqliteStore> {
    super::open(&dir.path().join("t.sqlite"), SqliteOptions::default()).unwrap()
}

#[tokio::test]
async fn a_failed_commit_stops_all_writing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let key = SessionKey::generate(0);
    store
        .apply(vec![Write::Session(session(&key, &[]))])
        .await
        .unwrap();
    // Another process holds the database: the writer cannot begin its transaction.
    let blocker = rusqlite::Connection::open(dir.path().join("t.sqlite")).unwrap();
    blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let err = store
        .apply(vec![Write::Message(msg(&key, 1, "a", "x"))])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Failed(_)), "{err}");
    assert!(store.has_failed());
    blocker.execute_batch("ROLLBACK").unwrap();
    // Fail-stop: nothing is written any more, even though the database is free again.
    let err = store
        .apply(vec![Write::Message(msg(&key, 2, "a", "y"))])
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Failed(_) | StoreError::Closed),
        "{err}"
    );
    assert!(store.messages_after(key, 0, 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_version_1_database_is_migrated_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.sqlite");
    {
        let c = Connection::open(&path).unwrap();
        c.execute_batch(include_str!("schema.sql")).unwrap();
        c.pragma_update(None, "user_version", 1).unwrap();
        c.execute(
            "INSERT INTO principals (id, kind, name, created_at) VALUES ('d', 'device', 'd', 1)",
            [],
        )
        .unwrap();
        c.execute(
            "INSERT INTO numbers (principal, number) VALUES ('d', '+442079460000')",
            [],
        )
        .unwrap();
    }
    let store = super::open(&path, SqliteOptions::default()).unwrap();
    // The old binding counts as provisioned, so no SMS proof replaces it.
    let stale = store
        .stale_bindings(n("+442079460000"), PrincipalId("x".into()), i64::MAX)
        .await
        .unwrap();
    assert!(stale.is_empty());
    assert_eq!(
        store.devices_owning(n("+442079460000")).await.unwrap(),
        vec![PrincipalId("d".into())]
    );
    let version: i64 = Connection::open(&path)
        .unwrap()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
}

fn wal_len(dir: &tempfile::TempDir) -> u64 {
    std::fs::metadata(dir.path().join("t.sqlite-wal")).map_or(0, |m| m.len())
}

/// A store with `options` and one session in it.
async fn store_with_session(
    dir: &tempfile::TempDir,
    options: SqliteOptions,
) -> (Arc<SqliteStore>, SessionKey) {
    let store = super::open(&dir.path().join("t.sqlite"), options).unwrap();
    let key = SessionKey::generate(10);
    store
        .apply(vec![Write::Session(session(&key, &[]))])
        .await
        .unwrap();
    (store, key)
}

/// Options under which only the writer's request can make the log start over (never the
/// clock), after 64 frames.
fn restart_options() -> SqliteOptions {
    SqliteOptions {
        checkpoint_interval: std::time::Duration::from_secs(3600),
        wal_reset_frames: 64,
        ..Default::default()
    }
}

fn restarts(store: &SqliteStore) -> u64 {
    store.health.wal_restarts.load(Ordering::Relaxed)
}

/// Commits of at least two pages each until the log has started over twice (how many that
/// takes depends on how fast the checkpoint thread gets the disk; without the reset it never
/// would, and the loop gives up). Every 1,000 messages the writer pauses for a millisecond, as
/// a real server's writer does between bursts: on a machine busy with other work the checkpoint
/// thread may otherwise not be scheduled before the loop gives up. Returns how many messages it
/// wrote.
async fn append_until_two_restarts(store: &Arc<SqliteStore>, key: &SessionKey) -> u64 {
    let mut written = 0;
    while restarts(store) < 2 && written < 30_000 {
        append(store, key, written + 1, 100).await;
        written += 100;
        if written % 1_000 == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    }
    written
}

#[tokio::test]
async fn the_wal_starts_over_under_steady_writes_instead_of_growing() {
    let dir = tempfile::tempdir().unwrap();
    let (store, key) = store_with_session(&dir, restart_options()).await;
    let written = append_until_two_restarts(&store, &key).await;
    assert!(
        restarts(&store) >= 2,
        "the WAL never started over in {written} commits ({} bytes)",
        wal_len(&dir)
    );
    // Nothing was lost by starting over.
    let all = store
        .messages_after(key.clone(), written - 10, 100)
        .await
        .unwrap();
    assert_eq!(all.len(), 10);
    assert_eq!(all.last().unwrap().seq, written);
    assert_eq!(
        store.messages_after(key.clone(), 0, 1).await.unwrap()[0].seq,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_starts_over_while_readers_keep_reading() {
    let dir = tempfile::tempdir().unwrap();
    let (store, key) = store_with_session(&dir, restart_options()).await;
    // Readers that are nearly always inside a read transaction, as under a busy server: some
    // of them hold a snapshot older than the newest commit whenever the log is to start over.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let (store, key, stop) = (store.clone(), key.clone(), stop.clone());
            tokio::spawn(async move {
                let mut reads = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    store.messages_after(key.clone(), 0, 50).await.unwrap();
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    let written = append_until_two_restarts(&store, &key).await;
    stop.store(true, Ordering::Relaxed);
    let mut reads = 0;
    for r in readers {
        reads += r.await.unwrap();
    }
    assert!(
        restarts(&store) >= 2,
        "the WAL never started over in {written} commits with {reads} reads alongside ({} bytes)",
        wal_len(&dir)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_starts_over_while_a_reader_holds_snapshots_most_of_the_time() {
    let dir = tempfile::tempdir().unwrap();
    let (store, key) = store_with_session(&dir, restart_options()).await;
    // A reader (its own connection, as a slow catch-up would be) that keeps a read transaction
    // open for 5 ms at a time with only short gaps: its snapshot is nearly always older than
    // the newest commit, which keeps a passive checkpoint from letting the log start over.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = std::thread::spawn({
        let path = dir.path().join("t.sqlite");
        let stop = stop.clone();
        move || {
            let conn = Connection::open(path).unwrap();
            while !stop.load(Ordering::Relaxed) {
                conn.execute_batch("BEGIN").unwrap();
                let _: i64 = conn
                    .query_row("SELECT count(*) FROM sessions", [], |r| r.get(0))
                    .unwrap();
                std::thread::sleep(std::time::Duration::from_millis(5));
                conn.execute_batch("COMMIT").unwrap();
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
        }
    });
    let written = append_until_two_restarts(&store, &key).await;
    stop.store(true, Ordering::Relaxed);
    reader.join().unwrap();
    assert!(
        restarts(&store) >= 2,
        "the WAL never started over in {written} commits ({} bytes)",
        wal_len(&dir)
    );
}

#[tokio::test]
async fn an_idle_store_truncates_a_large_wal() {
    let dir = tempfile::tempdir().unwrap();
    let options = SqliteOptions {
        checkpoint_interval: std::time::Duration::from_millis(50),
        wal_idle_truncate_bytes: 0,
        ..Default::default()
    };
    let (store, key) = store_with_session(&dir, options).await;
    append(&store, &key, 1, 50).await;
    // Truncated within a few idle intervals (polled, so a slow machine only waits longer).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while wal_len(&dir) > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the WAL is still {} bytes after 20 s idle",
            wal_len(&dir)
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // And the store goes on working from an empty log.
    append(&store, &key, 51, 5).await;
    let all = store.messages_after(key.clone(), 0, 100).await.unwrap();
    assert_eq!(all.len(), 55);
}

/// A purge of sessions keeps the sessions it chose in a temporary table, which a rolled-back
/// transaction (or savepoint) takes away again: the next purge must make it anew.
#[tokio::test]
async fn a_purge_rolled_back_with_its_batch_leaves_the_next_one_working() {
    use crate::Purge;
    use callside_core::session::CloseReason;
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let keys = [SessionKey::generate(0), SessionKey::generate(1)];
    for key in &keys {
        let mut rec = session(key, &[]);
        rec.session.closed = Some(CloseReason::Idle);
        store
            .apply(vec![
                Write::Session(rec),
                Write::Message(msg(key, 1, "a", "x")),
            ])
            .await
            .unwrap();
    }
    let purge = || Write::Purge {
        what: Purge::Sessions,
        before: 1_000,
        limit: 1,
    };
    let left = || async {
        let mut n = 0;
        for key in &keys {
            n += usize::from(store.session(key.clone()).await.unwrap().is_some());
        }
        n
    };
    // The purge fails with its request (a duplicate message): nothing is deleted.
    let duplicate = Write::Message(msg(&keys[0], 1, "a", "x"));
    let err = store
        .apply(vec![purge(), duplicate.clone()])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Duplicate), "{err}");
    assert_eq!(left().await, 2);
    // Queued beside a failing request (so likely in its batch, then run again under
    // savepoints): the purge alone lands.
    let ok = store.submit(vec![purge()], None).await.unwrap();
    let bad = store.submit(vec![duplicate], None).await.unwrap();
    assert!(matches!(bad.await.unwrap(), Err(StoreError::Duplicate)));
    ok.await.unwrap().unwrap();
    assert_eq!(left().await, 1);
    store.apply(vec![purge()]).await.unwrap();
    assert_eq!(left().await, 0);
}

/// Every table is either where a device's data lives (`personal::HOLDINGS`, which export and
/// erasure go through) or named as holding none (`personal::NOT_PERSONAL`): a new table has to
/// be placed in one list or the other.
#[tokio::test]
async fn every_table_is_placed_for_export_and_erasure() {
    use crate::personal::{HOLDINGS, NOT_PERSONAL};
    let dir = tempfile::tempdir().unwrap();
    drop(open(&dir));
    let c = Connection::open(dir.path().join("t.sqlite")).unwrap();
    let tables: Vec<String> = c
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let placed = |t: &str| {
        HOLDINGS.iter().any(|h| h.table == t) || NOT_PERSONAL.iter().any(|(n, _)| *n == t)
    };
    for t in &tables {
        assert!(
            placed(t),
            "table {t} is in neither personal::HOLDINGS nor NOT_PERSONAL"
        );
    }
    for name in HOLDINGS
        .iter()
        .map(|h| h.table)
        .chain(NOT_PERSONAL.iter().map(|(n, _)| *n))
        .filter(|n| *n != "callside_schema")
    {
        assert!(tables.iter().any(|t| t == name), "no table {name}");
    }
}
