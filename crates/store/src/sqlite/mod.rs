//! The SQLite backend (WAL mode): one writer thread with group commit, a checkpoint thread, and
//! a pool of read connections.
//!
//! - this file: [`SqliteStore`], its options, opening, the reader pool, and the storage traits
//!   implemented by handing each read to its aggregate's module;
//! - `writer`: the writer thread (group commit, savepoints, fail-stop) and the dispatch of each
//!   [`Write`] to its aggregate;
//! - `checkpoint`: the WAL checkpoint thread and when the log starts over;
//! - `migrate`: schema versions (`schema.sql`, `schema_vN.sql`);
//! - one module per aggregate (`identity`, `sessions`, `calls`, `invitations`, `cards`,
//!   `components`, `push`, `blobs`, `audit`, `merchants`) with its reads and its part of the
//!   writes, each with the SQL of its tables;
//! - `retention`: [`Write::Purge`], bounded deletes of old records across the aggregates.

mod audit;
mod blobs;
mod browsers;
mod calls;
mod cards;
mod checkpoint;
mod components;
mod derived;
mod identity;
mod invitations;
mod merchants;
mod migrate;
mod personal;
mod push;
mod retention;
mod sessions;
mod writer;

#[cfg(test)]
mod tests;

use crate::records::*;
use crate::{
    AuditStore, BlobStore, CallStore, CardStore, Commit, ComponentStore, IdentityStore,
    InvitationStore, MerchantStore, OnCommit, PushStore, Result, SessionStore, StoreError, Writes,
};
use callside_core::card::{Audience, Card, ReceivePolicy};
use callside_core::component::{Capabilities, Component};
use callside_core::email::{Email, Endpoint};
use callside_core::matching::CallId;
use callside_core::message::BlobId;
use callside_core::{LegId, Millis, PhoneNumber, PrincipalId, SessionKey, TokenHash};
use rusqlite::Connection;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};
use writer::Job;

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

/// Writes a consistent copy of the database at `path` to `dest` (which must not exist) while
/// the server may be writing to it: `VACUUM INTO` reads one snapshot of the write-ahead log, so
/// the copy holds whole commits only, and comes out compact and without a log of its own.
pub fn snapshot(path: &Path, dest: &Path) -> Result<()> {
    use rusqlite::OpenFlags;
    let c = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| StoreError::Open {
        path: path.display().to_string(),
        source: Box::new(e),
    })?;
    c.busy_timeout(std::time::Duration::from_secs(10))?;
    let dest = dest.to_str().ok_or_else(|| {
        StoreError::Backend(format!("{} is not a UTF-8 path", dest.display()).into())
    })?;
    c.execute("VACUUM INTO ?1", [dest])?;
    Ok(())
}

/// Read connections (each caches up to `READER_CACHE_KIB` of pages).
const READERS: usize = 8;

/// Page cache of the writer, which re-reads index pages on every insert.
const WRITER_CACHE_KIB: i64 = 64 * 1024;
/// Page cache of each reader and of the checkpoint thread. Readers share the operating system's
/// page cache, so a page missing here costs a `pread`, not a disk read; eight readers with 64 MiB
/// each duplicated the hot pages eight times and could grow to half a gigabyte, and with 2 MiB
/// each they still held 1.4 KiB per connected device in `bench idle` (10,000 devices, each
/// `ready` reading its own pages) for no throughput measured (docs/PERFORMANCE.md).
const READER_CACHE_KIB: i64 = 256;

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

/// How long a statement waits for a lock before failing.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

impl SqliteStore {
    fn open(path: &Path, options: SqliteOptions) -> Result<Self> {
        let mut writer = connect(path, &options, WRITER_CACHE_KIB)?;
        migrate::migrate(&mut writer)?;
        writer.wal_hook(Some(writer::count_wal_frames));
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
                move || writer::write_loop(writer, rx, max_batch, reset, health, nudge)
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
                move || checkpoint::checkpoint_loop(checkpointer, wal.into(), options, wake, health)
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

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("bad {what} `{value}`"))
}

fn is_constraint(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation)
}

/// Every SQLite error becomes [`StoreError::Backend`]; the store's public types name no
/// `rusqlite` type.
impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Backend(Box::new(e))
    }
}

/// One process opens a SQLite database (the server locks its data directory): every role is its.
#[async_trait::async_trait]
impl crate::Leases for SqliteStore {
    async fn try_lease(&self, _role: &str) -> Result<Option<Box<dyn crate::Lease>>> {
        Ok(Some(Box::new(crate::leases::Sole)))
    }
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
        self.read(move |c| identity::principal_by_token(c, &hash))
            .await
    }

    async fn token_times(&self, hash: TokenHash) -> Result<Option<(Millis, Option<Millis>)>> {
        self.read(move |c| identity::token_times(c, &hash)).await
    }

    async fn unused_tokens(&self, before: Millis) -> Result<Vec<crate::UnusedToken>> {
        self.read(move |c| identity::unused_tokens(c, before)).await
    }

    async fn token_retired_at(&self, hash: TokenHash) -> Result<Option<Millis>> {
        self.read(move |c| identity::token_retired_at(c, &hash))
            .await
    }

    async fn principal(&self, id: PrincipalId) -> Result<Option<PrincipalRecord>> {
        self.read(move |c| identity::principal(c, &id)).await
    }

    async fn personal_data(&self, id: PrincipalId) -> Result<Vec<crate::personal::PersonalTable>> {
        self.read(move |c| personal::export(c, &id)).await
    }

    async fn browser_link(&self, code_hash: TokenHash) -> Result<Option<BrowserLinkRecord>> {
        self.read(move |c| browsers::link(c, &code_hash)).await
    }

    async fn browser_by_access(&self, hash: TokenHash) -> Result<Option<BrowserRecord>> {
        self.read(move |c| browsers::by_access(c, &hash)).await
    }

    async fn browser_by_refresh(&self, hash: TokenHash) -> Result<Option<BrowserRecord>> {
        self.read(move |c| browsers::by_refresh(c, &hash)).await
    }

    async fn browsers(&self, device: PrincipalId) -> Result<Vec<BrowserRecord>> {
        self.read(move |c| browsers::of_device(c, &device)).await
    }

    async fn principals(&self, kind: &'static str) -> Result<Vec<PrincipalRecord>> {
        self.read(move |c| identity::principals(c, kind)).await
    }

    async fn devices_owning(&self, number: PhoneNumber) -> Result<Vec<PrincipalId>> {
        self.read(move |c| identity::devices_owning(c, &number))
            .await
    }

    async fn coupled_devices(&self, number: PhoneNumber, now: Millis) -> Result<Vec<PrincipalId>> {
        self.read(move |c| identity::coupled_devices(c, &number, now))
            .await
    }

    async fn coupling(
        &self,
        principal: PrincipalId,
    ) -> Result<(callside_core::principal::Coupling, Millis)> {
        self.read(move |c| identity::coupling(c, &principal)).await
    }

    async fn stale_bindings(
        &self,
        number: PhoneNumber,
        except: PrincipalId,
        before: Millis,
    ) -> Result<Vec<PrincipalId>> {
        self.read(move |c| identity::stale_bindings(c, &number, &except, before))
            .await
    }

    async fn lapsed_bindings(&self, before: Millis) -> Result<Vec<(PrincipalId, PhoneNumber)>> {
        self.read(move |c| identity::lapsed_bindings(c, before))
            .await
    }

    async fn proof(&self, id: String) -> Result<Option<ProofRecord>> {
        self.read(move |c| identity::proof(c, &id)).await
    }

    async fn proof_by_code(&self, hash: TokenHash) -> Result<Option<ProofRecord>> {
        self.read(move |c| identity::proof_by_code(c, &hash)).await
    }

    async fn email_validation(&self, id: String) -> Result<Option<EmailValidationRecord>> {
        self.read(move |c| identity::email_validation(c, &id)).await
    }

    async fn emails_of(&self, device: PrincipalId) -> Result<Vec<Email>> {
        self.read(move |c| identity::emails_of(c, &device)).await
    }

    async fn devices_with_email(&self, email: Email) -> Result<Vec<PrincipalId>> {
        self.read(move |c| identity::devices_with_email(c, &email))
            .await
    }
}

#[async_trait::async_trait]
impl SessionStore for SqliteStore {
    async fn session(&self, key: SessionKey) -> Result<Option<SessionRecord>> {
        self.read(move |c| sessions::session(c, &key)).await
    }

    async fn sessions_of(
        &self,
        principal: PrincipalId,
        include_closed: bool,
    ) -> Result<Vec<SessionKey>> {
        self.read(move |c| sessions::sessions_of(c, &principal, include_closed))
            .await
    }

    async fn idle_sessions(&self, before: Millis) -> Result<Vec<SessionKey>> {
        self.read(move |c| sessions::idle_sessions(c, before)).await
    }

    async fn messages_after(
        &self,
        key: SessionKey,
        after: u64,
        limit: u32,
    ) -> Result<Vec<MessageRecord>> {
        self.read(move |c| sessions::messages_after(c, &key, after, limit))
            .await
    }

    async fn client_id_seq(
        &self,
        key: SessionKey,
        sender: String,
        client_id: String,
    ) -> Result<Option<u64>> {
        self.read(move |c| sessions::client_id_seq(c, &key, &sender, &client_id))
            .await
    }

    async fn screen(&self, key: SessionKey, id: String) -> Result<Option<ScreenRecord>> {
        self.read(move |c| sessions::screen(c, &key, &id)).await
    }

    async fn derived_jobs(&self, limit: u32) -> Result<Vec<DerivedJobRecord>> {
        self.read(move |c| derived::jobs(c, limit)).await
    }

    async fn derived_job_pending(&self, key: SessionKey, seq: u64) -> Result<bool> {
        self.read(move |c| derived::pending(c, &key, seq)).await
    }

    async fn recent_client_ids(
        &self,
        key: SessionKey,
        limit: u32,
    ) -> Result<Vec<(String, String, u64)>> {
        self.read(move |c| sessions::recent_client_ids(c, &key, limit))
            .await
    }
}

#[async_trait::async_trait]
impl CallStore for SqliteStore {
    async fn leg(&self, id: LegId) -> Result<Option<LegRecord>> {
        self.read(move |c| calls::leg(c, &id)).await
    }

    async fn pending_legs(&self) -> Result<Vec<LegRecord>> {
        self.read(calls::pending_legs).await
    }

    async fn call(&self, id: CallId) -> Result<Option<CallRecord>> {
        self.read(move |c| calls::call(c, &id)).await
    }

    async fn conference(&self, bridge: PhoneNumber, id: String) -> Result<Option<SessionKey>> {
        self.read(move |c| calls::conference(c, &bridge, &id)).await
    }

    async fn call_by_ref(
        &self,
        reporter: PrincipalId,
        call_ref: String,
    ) -> Result<Option<CallRecord>> {
        self.read(move |c| calls::call_by_ref(c, &reporter, &call_ref))
            .await
    }

    async fn live_calls(&self) -> Result<Vec<CallRecord>> {
        self.read(calls::live_calls).await
    }

    async fn call_notes_for(&self, device: PrincipalId, limit: u32) -> Result<Vec<CallNoteRecord>> {
        self.read(move |c| calls::call_notes_for(c, &device, limit))
            .await
    }
}

#[async_trait::async_trait]
impl InvitationStore for SqliteStore {
    async fn invitation(&self, id: String) -> Result<Option<InvitationRecord>> {
        self.read(move |c| invitations::invitation(c, &id)).await
    }

    async fn invitations_for(&self, device: PrincipalId) -> Result<Vec<InvitationRecord>> {
        self.read(move |c| invitations::invitations_for(c, &device))
            .await
    }

    async fn pending_invitations_to(
        &self,
        endpoint: Endpoint,
        now: Millis,
    ) -> Result<Vec<InvitationRecord>> {
        self.read(move |c| invitations::pending_invitations_to(c, endpoint.as_str(), now))
            .await
    }

    async fn pending_leg_invitations(&self) -> Result<Vec<(LegId, String)>> {
        self.read(invitations::pending_leg_invitations).await
    }

    async fn expired_invitations(&self, now: Millis) -> Result<Vec<InvitationRecord>> {
        self.read(move |c| invitations::expired_invitations(c, now))
            .await
    }
}

#[async_trait::async_trait]
impl CardStore for SqliteStore {
    async fn card_owners(&self) -> Result<Vec<PrincipalId>> {
        self.read(cards::card_owners).await
    }

    async fn card(&self, principal: PrincipalId) -> Result<Card> {
        self.read(move |c| cards::card(c, &principal)).await
    }

    async fn audiences(&self, principal: PrincipalId) -> Result<Vec<Audience>> {
        self.read(move |c| cards::audiences(c, &principal)).await
    }

    async fn receive_policy(&self, principal: PrincipalId) -> Result<ReceivePolicy> {
        self.read(move |c| cards::receive_policy(c, &principal))
            .await
    }

    async fn ledger(
        &self,
        sender: PrincipalId,
        receiver: PrincipalId,
    ) -> Result<HashMap<String, u64>> {
        self.read(move |c| cards::ledger(c, &sender, &receiver))
            .await
    }
}

#[async_trait::async_trait]
impl ComponentStore for SqliteStore {
    async fn component(&self, id: String) -> Result<Option<Component>> {
        self.read(move |c| components::component(c, &id)).await
    }

    async fn components(&self) -> Result<Vec<Component>> {
        self.read(components::components).await
    }

    async fn capabilities(&self, principal: PrincipalId) -> Result<Option<Capabilities>> {
        self.read(move |c| components::capabilities(c, &principal))
            .await
    }

    async fn system_screen(&self, principal: PrincipalId) -> Result<Option<SystemScreenRecord>> {
        self.read(move |c| components::system_screen(c, &principal))
            .await
    }
}

#[async_trait::async_trait]
impl PushStore for SqliteStore {
    async fn push_devices(&self) -> Result<Vec<PrincipalId>> {
        self.read(push::push_devices).await
    }

    async fn push_subscriptions(&self, device: PrincipalId) -> Result<Vec<PushRecord>> {
        self.read(move |c| push::push_subscriptions(c, &device))
            .await
    }

    async fn wakes_due(&self, since: Millis, now: Millis) -> Result<crate::WakesDue> {
        self.read(move |c| push::wakes_due(c, since, now)).await
    }
}

#[async_trait::async_trait]
impl BlobStore for SqliteStore {
    async fn blob(&self, id: BlobId) -> Result<Option<BlobRecord>> {
        self.read(move |c| blobs::blob(c, &id)).await
    }

    async fn may_read_blob(&self, principal: PrincipalId, blob: BlobId) -> Result<bool> {
        self.read(move |c| blobs::may_read_blob(c, &principal, &blob))
            .await
    }

    async fn blobs_of(&self, principal: PrincipalId) -> Result<Vec<BlobId>> {
        self.read(move |c| blobs::blobs_of(c, &principal)).await
    }

    async fn unreferenced_blobs(&self, before: Millis, limit: u32) -> Result<Vec<BlobId>> {
        self.read(move |c| blobs::unreferenced(c, before, limit))
            .await
    }
}

#[async_trait::async_trait]
impl AuditStore for SqliteStore {
    async fn audit(&self, limit: u32) -> Result<Vec<AuditRecord>> {
        self.read(move |c| audit::audit(c, limit)).await
    }
}

#[async_trait::async_trait]
impl MerchantStore for SqliteStore {
    async fn merchant(&self, id: String) -> Result<Option<MerchantRecord>> {
        self.read(move |c| merchants::merchant(c, &id)).await
    }

    async fn merchant_of(&self, principal: PrincipalId) -> Result<Option<MerchantRecord>> {
        self.read(move |c| merchants::merchant_of(c, &principal))
            .await
    }

    async fn links(&self, merchant: String) -> Result<Vec<LinkRecord>> {
        self.read(move |c| merchants::links(c, &merchant)).await
    }

    async fn pages(&self, merchant: String) -> Result<Vec<PageRecord>> {
        self.read(move |c| merchants::pages(c, &merchant)).await
    }

    async fn agents(&self, merchant: String) -> Result<Vec<AgentRecord>> {
        self.read(move |c| merchants::agents(c, &merchant)).await
    }

    async fn agent_of(&self, principal: PrincipalId) -> Result<Option<AgentRecord>> {
        self.read(move |c| merchants::agent_of(c, &principal)).await
    }

    async fn open_clicks(&self) -> Result<Vec<ClickRecord>> {
        self.read(merchants::open_clicks).await
    }

    async fn routing(&self, merchant: String) -> Result<Option<String>> {
        self.read(move |c| merchants::routing(c, &merchant)).await
    }

    async fn click(&self, id: String) -> Result<Option<ClickRecord>> {
        self.read(move |c| merchants::click(c, &id)).await
    }

    async fn merchant_webhook(&self, merchant: String) -> Result<Option<(String, String)>> {
        self.read(move |c| merchants::webhook(c, &merchant)).await
    }

    async fn click_by_channel(
        &self,
        merchant: String,
        channel: String,
        since: Millis,
    ) -> Result<Option<ClickRecord>> {
        self.read(move |c| merchants::click_by_channel(c, &merchant, &channel, since))
            .await
    }

    async fn clicks(
        &self,
        merchant: String,
        before: Option<Millis>,
        limit: u32,
    ) -> Result<Vec<ClickRecord>> {
        self.read(move |c| merchants::clicks(c, &merchant, before, limit))
            .await
    }
}
