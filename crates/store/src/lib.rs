//! Durable storage for callside.
//!
//! The server talks to one [`Store`]. Every change is a list of [`Write`]s committed atomically by
//! [`Store::apply`]; reads are typed methods. The embedded backend is SQLite (WAL mode): one
//! writer thread owns the write connection and commits whatever has queued up in a single
//! transaction (group commit), each request inside its own savepoint so one bad request fails
//! alone. A request's future resolves only after its transaction committed, and the optional
//! `on_commit` callback runs on the writer thread in commit order — the server uses it to fan out
//! messages in sequence order. Reads run on a small pool of read connections.
//!
//! Storage contract (any future backend must keep it): `apply` is all-or-nothing per call;
//! commits are durable against process death (kill -9) before the future resolves; `on_commit`
//! callbacks run in commit order; a message append fails with [`StoreError::Duplicate`] when
//! `(session, sender, client_id)` exists; if a transaction itself fails (I/O error, disk full) the
//! store stops writing altogether ([`Store::has_failed`]) rather than let later writes commit
//! around the lost ones.

mod records;
mod sqlite;

pub use records::*;
pub use sqlite::{SqliteOptions, Synchronous};

use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the record already exists")]
    Duplicate,
    #[error("the database is newer than this program (schema version {0})")]
    TooNew(i64),
    #[error("the store has shut down")]
    Closed,
    #[error("the store stopped after a failed commit ({0}); restart the server")]
    Failed(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("cannot open the database at {path}")]
    Open {
        path: String,
        source: rusqlite::Error,
    },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Callback run on the writer thread right after the commit, in commit order.
pub type OnCommit = Box<dyn FnOnce() + Send + 'static>;

/// The store: cheap to clone, shared by every request.
#[derive(Clone)]
pub struct Store {
    inner: Arc<sqlite::Sqlite>,
}

impl Store {
    /// Opens (creating and migrating if needed) the SQLite database at `path`.
    pub fn open_sqlite(path: &std::path::Path, options: SqliteOptions) -> Result<Self> {
        Ok(Store {
            inner: Arc::new(sqlite::Sqlite::open(path, options)?),
        })
    }

    /// Commits `writes` atomically; resolves once they are durable.
    pub async fn apply(&self, writes: Vec<Write>) -> Result<()> {
        self.inner.apply(writes, None).await
    }

    /// Like [`Store::apply`], and runs `on_commit` on the writer thread right after the commit.
    pub async fn apply_then(&self, writes: Vec<Write>, on_commit: OnCommit) -> Result<()> {
        self.inner.apply(writes, Some(on_commit)).await
    }

    /// Queues `writes` without waiting; the returned receiver resolves after the commit.
    /// Queue order is commit order, so a caller holding a per-session lock while queueing keeps
    /// that session's writes in sequence.
    pub async fn submit(
        &self,
        writes: Vec<Write>,
        on_commit: Option<OnCommit>,
    ) -> Result<tokio::sync::oneshot::Receiver<Result<()>>> {
        self.inner.submit(writes, on_commit).await
    }

    pub async fn principal_by_token(
        &self,
        hash: callside_core::TokenHash,
    ) -> Result<Option<PrincipalRecord>> {
        self.inner
            .read(move |c| sqlite::principal_by_token(c, &hash))
            .await
    }

    pub async fn principal(
        &self,
        id: callside_core::PrincipalId,
    ) -> Result<Option<PrincipalRecord>> {
        self.inner.read(move |c| sqlite::principal(c, &id)).await
    }

    /// Live principals of one kind (`device`, `service`, `admin`), oldest first.
    pub async fn principals(&self, kind: &'static str) -> Result<Vec<PrincipalRecord>> {
        self.inner.read(move |c| sqlite::principals(c, kind)).await
    }

    /// Live devices that own `number`.
    pub async fn devices_owning(
        &self,
        number: callside_core::PhoneNumber,
    ) -> Result<Vec<callside_core::PrincipalId>> {
        self.inner
            .read(move |c| sqlite::devices_owning(c, &number))
            .await
    }

    /// Devices other than `except` whose SMS binding of `number` is older than `before`.
    pub async fn stale_bindings(
        &self,
        number: callside_core::PhoneNumber,
        except: callside_core::PrincipalId,
        before: callside_core::Millis,
    ) -> Result<Vec<callside_core::PrincipalId>> {
        self.inner
            .read(move |c| sqlite::stale_bindings(c, &number, &except, before))
            .await
    }

    pub async fn proof(&self, id: String) -> Result<Option<ProofRecord>> {
        self.inner.read(move |c| sqlite::proof(c, &id)).await
    }

    /// The proof started with the code whose SHA-256 is `hash`.
    pub async fn proof_by_code(
        &self,
        hash: callside_core::TokenHash,
    ) -> Result<Option<ProofRecord>> {
        self.inner
            .read(move |c| sqlite::proof_by_code(c, &hash))
            .await
    }

    /// The devices that have at least one push subscription.
    pub async fn push_devices(&self) -> Result<Vec<callside_core::PrincipalId>> {
        self.inner.read(sqlite::push_devices).await
    }

    /// A device's push subscriptions, oldest first.
    pub async fn push_subscriptions(
        &self,
        device: callside_core::PrincipalId,
    ) -> Result<Vec<PushRecord>> {
        self.inner
            .read(move |c| sqlite::push_subscriptions(c, &device))
            .await
    }

    pub async fn invitation(&self, id: String) -> Result<Option<InvitationRecord>> {
        self.inner.read(move |c| sqlite::invitation(c, &id)).await
    }

    /// Pending invitations ringing on `device`, oldest first.
    pub async fn invitations_for(
        &self,
        device: callside_core::PrincipalId,
    ) -> Result<Vec<InvitationRecord>> {
        self.inner
            .read(move |c| sqlite::invitations_for(c, &device))
            .await
    }

    /// Pending invitations to an endpoint (E.164 number or email address) still running at `now`.
    pub async fn pending_invitations_to(
        &self,
        endpoint: callside_core::email::Endpoint,
        now: callside_core::Millis,
    ) -> Result<Vec<InvitationRecord>> {
        self.inner
            .read(move |c| sqlite::pending_invitations_to(c, endpoint.as_str(), now))
            .await
    }

    pub async fn email_validation(&self, id: String) -> Result<Option<EmailValidationRecord>> {
        self.inner
            .read(move |c| sqlite::email_validation(c, &id))
            .await
    }

    /// A device's validated email addresses.
    pub async fn emails_of(
        &self,
        device: callside_core::PrincipalId,
    ) -> Result<Vec<callside_core::email::Email>> {
        self.inner
            .read(move |c| sqlite::emails_of(c, &device))
            .await
    }

    /// Live devices that validated `email`.
    pub async fn devices_with_email(
        &self,
        email: callside_core::email::Email,
    ) -> Result<Vec<callside_core::PrincipalId>> {
        self.inner
            .read(move |c| sqlite::devices_with_email(c, &email))
            .await
    }

    /// Pending invitations offered for one-sided calls (to rebuild that link after a restart).
    pub async fn pending_leg_invitations(&self) -> Result<Vec<(callside_core::LegId, String)>> {
        self.inner.read(sqlite::pending_leg_invitations).await
    }

    /// The newest `limit` call notes to any of `numbers`, newest first.
    pub async fn call_notes_to(
        &self,
        numbers: Vec<callside_core::PhoneNumber>,
        limit: u32,
    ) -> Result<Vec<CallNoteRecord>> {
        self.inner
            .read(move |c| sqlite::call_notes_to(c, &numbers, limit))
            .await
    }

    /// The principals that have a card (at least one field).
    pub async fn card_owners(&self) -> Result<Vec<callside_core::PrincipalId>> {
        self.inner.read(sqlite::card_owners).await
    }

    /// A principal's card (empty when it has none).
    pub async fn card(
        &self,
        principal: callside_core::PrincipalId,
    ) -> Result<callside_core::card::Card> {
        self.inner.read(move |c| sqlite::card(c, &principal)).await
    }

    pub async fn audiences(
        &self,
        principal: callside_core::PrincipalId,
    ) -> Result<Vec<callside_core::card::Audience>> {
        self.inner
            .read(move |c| sqlite::audiences(c, &principal))
            .await
    }

    /// A device's receiving policy for cards (the default: accept from everyone).
    pub async fn receive_policy(
        &self,
        principal: callside_core::PrincipalId,
    ) -> Result<callside_core::card::ReceivePolicy> {
        self.inner
            .read(move |c| sqlite::receive_policy(c, &principal))
            .await
    }

    /// Field id → version of `sender`'s card that `receiver` has received.
    pub async fn ledger(
        &self,
        sender: callside_core::PrincipalId,
        receiver: callside_core::PrincipalId,
    ) -> Result<std::collections::HashMap<String, u64>> {
        self.inner
            .read(move |c| sqlite::ledger(c, &sender, &receiver))
            .await
    }

    /// One catalogue entry.
    pub async fn component(
        &self,
        id: String,
    ) -> Result<Option<callside_core::component::Component>> {
        self.inner.read(move |c| sqlite::component(c, &id)).await
    }

    /// The whole component catalogue, by id.
    pub async fn components(&self) -> Result<Vec<callside_core::component::Component>> {
        self.inner.read(sqlite::components).await
    }

    /// A device's declared capabilities; `None` if it never declared any.
    pub async fn capabilities(
        &self,
        principal: callside_core::PrincipalId,
    ) -> Result<Option<callside_core::component::Capabilities>> {
        self.inner
            .read(move |c| sqlite::capabilities(c, &principal))
            .await
    }

    /// The newest `limit` lines of the audit log, newest first.
    pub async fn audit(&self, limit: u32) -> Result<Vec<AuditRecord>> {
        self.inner.read(move |c| sqlite::audit(c, limit)).await
    }

    /// Pending invitations whose time ran out by `now` (at most 1,000).
    pub async fn expired_invitations(
        &self,
        now: callside_core::Millis,
    ) -> Result<Vec<InvitationRecord>> {
        self.inner
            .read(move |c| sqlite::expired_invitations(c, now))
            .await
    }

    pub async fn leg(&self, id: callside_core::LegId) -> Result<Option<LegRecord>> {
        self.inner.read(move |c| sqlite::leg(c, &id)).await
    }

    /// Legs still pending, in report order (to rebuild the matcher after a restart).
    pub async fn pending_legs(&self) -> Result<Vec<LegRecord>> {
        self.inner.read(sqlite::pending_legs).await
    }

    pub async fn session(&self, key: callside_core::SessionKey) -> Result<Option<SessionRecord>> {
        self.inner.read(move |c| sqlite::session(c, &key)).await
    }

    /// Keys of the sessions `principal` takes part in, newest first.
    pub async fn sessions_of(
        &self,
        principal: callside_core::PrincipalId,
        include_closed: bool,
    ) -> Result<Vec<callside_core::SessionKey>> {
        self.inner
            .read(move |c| sqlite::sessions_of(c, &principal, include_closed))
            .await
    }

    /// Open sessions with no activity since `before`.
    pub async fn idle_sessions(
        &self,
        before: callside_core::Millis,
    ) -> Result<Vec<callside_core::SessionKey>> {
        self.inner
            .read(move |c| sqlite::idle_sessions(c, before))
            .await
    }

    /// Up to `limit` messages with `seq > after`, in order.
    pub async fn messages_after(
        &self,
        key: callside_core::SessionKey,
        after: u64,
        limit: u32,
    ) -> Result<Vec<MessageRecord>> {
        self.inner
            .read(move |c| sqlite::messages_after(c, &key, after, limit))
            .await
    }

    /// The sequence number a client id was accepted under, if it was.
    pub async fn client_id_seq(
        &self,
        key: callside_core::SessionKey,
        sender: String,
        client_id: String,
    ) -> Result<Option<u64>> {
        self.inner
            .read(move |c| sqlite::client_id_seq(c, &key, &sender, &client_id))
            .await
    }

    /// The newest `limit` client ids of a session with their sequence numbers.
    pub async fn recent_client_ids(
        &self,
        key: callside_core::SessionKey,
        limit: u32,
    ) -> Result<Vec<(String, String, u64)>> {
        self.inner
            .read(move |c| sqlite::recent_client_ids(c, &key, limit))
            .await
    }

    pub async fn call_by_ref(
        &self,
        reporter: callside_core::PrincipalId,
        call_ref: String,
    ) -> Result<Option<CallRecord>> {
        self.inner
            .read(move |c| sqlite::call_by_ref(c, &reporter, &call_ref))
            .await
    }

    /// Network calls that have not ended, to rebuild the matcher after a restart.
    pub async fn live_calls(&self) -> Result<Vec<CallRecord>> {
        self.inner.read(sqlite::live_calls).await
    }

    pub async fn blob(&self, id: callside_core::message::BlobId) -> Result<Option<BlobRecord>> {
        self.inner.read(move |c| sqlite::blob(c, &id)).await
    }

    /// Whether `principal` uploaded the blob or takes part in a session whose log references it.
    pub async fn may_read_blob(
        &self,
        principal: callside_core::PrincipalId,
        blob: callside_core::message::BlobId,
    ) -> Result<bool> {
        self.inner
            .read(move |c| sqlite::may_read_blob(c, &principal, &blob))
            .await
    }

    /// Whether a commit failed. The store then refuses every write (fail-stop): the server
    /// should stop and be restarted from what is durable.
    pub fn has_failed(&self) -> bool {
        self.inner
            .health
            .failed
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Cheap liveness probe for `/readyz`.
    pub async fn ping(&self) -> Result<()> {
        self.inner
            .read(|c| Ok(c.query_row("SELECT 1", [], |_| Ok(()))?))
            .await
    }
}
