//! The PostgreSQL backend (`database.url = "postgres://…"`): one writer task with group commit
//! on a connection of its own, and a pool of read connections.
//!
//! - this file: [`PgStore`], its options, opening, and the storage traits implemented by
//!   handing each read to its aggregate's module;
//! - `writer`: the writer task (group commit, a savepoint per request only when one fails,
//!   fail-stop) and the dispatch of each [`Write`] to its aggregate;
//! - `migrate`: schema versions (`schema.sql`, `schema_vN.sql`), taken under an advisory lock
//!   so that nodes starting together migrate once;
//! - `sql`: prepared statements, typed columns, errors;
//! - one module per aggregate with its reads and its part of the writes — the same modules,
//!   function names and behaviour as the SQLite backend's, which the conformance suite holds
//!   them to;
//! - `retention`: [`Write::Purge`], bounded deletes of old records across the aggregates.
//!
//! Durability is PostgreSQL's: a commit is acknowledged after its WAL record is flushed
//! (`synchronous_commit = on`, the server's default), so "persisted before acknowledged" holds
//! against the callside process being killed and, with PostgreSQL's defaults, power loss.

mod audit;
mod blobs;
mod browsers;
mod calls;
mod cards;
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
mod sql;
mod tls;
mod writer;

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
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use writer::Job;

#[derive(Debug, Clone)]
pub struct PgOptions {
    /// Most requests committed in one transaction.
    pub max_batch: usize,
    /// Read connections kept open (each can run many reads pipelined).
    pub readers: usize,
    /// How long opening waits for the database to accept connections (it may be starting).
    pub connect_timeout: std::time::Duration,
    /// With `sslmode=require`: the PEM certificate of the authority the server's certificate
    /// must chain to; `None`: the public web roots.
    pub ca_file: Option<std::path::PathBuf>,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            max_batch: 1024,
            readers: 8,
            connect_timeout: std::time::Duration::from_secs(10),
            ca_file: None,
        }
    }
}

/// The PostgreSQL store. Open it with [`open`]; use it through the storage traits.
pub struct PgStore {
    jobs: mpsc::Sender<Job>,
    pool: deadpool_postgres::Pool,
    failed: Arc<AtomicBool>,
}

/// The address with any password replaced by `***`, for messages and logs.
pub fn redact(url: &str) -> String {
    match url.parse::<tokio_postgres::Config>() {
        Ok(config) if config.get_password().is_some() => match url.split_once("://") {
            Some((scheme, rest)) => match rest.rsplit_once('@') {
                Some((auth, host)) => match auth.split_once(':') {
                    Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
                    None => url.to_owned(),
                },
                None => url.to_owned(),
            },
            None => "(a connection string with a password)".to_owned(),
        },
        _ => url.to_owned(),
    }
}

/// Whether `url` is a PostgreSQL connection string this backend can use; the error says why
/// not.
pub fn check_url(url: &str) -> std::result::Result<(), String> {
    let config: tokio_postgres::Config = url.parse().map_err(|e| format!("{e}"))?;
    if config.get_hosts().is_empty() {
        return Err("it names no host".into());
    }
    if config.get_user().is_none() {
        return Err("it names no user".into());
    }
    Ok(())
}

/// Whether `url` asks for TLS (`sslmode=require`), which [`open`] then verifies.
pub fn requires_tls(url: &str) -> bool {
    url.parse::<tokio_postgres::Config>()
        .is_ok_and(|c| c.get_ssl_mode() == tokio_postgres::config::SslMode::Require)
}

/// Connects to the PostgreSQL database at `url` (`postgres://user:pass@host:port/db`, or
/// `host=/run/postgresql user=callside dbname=callside`; `password` when it is not in the
/// URL), creates or migrates the schema, and starts the writer task (it stops when the store is
/// dropped). Must be called inside a Tokio runtime.
pub async fn open(url: &str, password: Option<&str>, options: PgOptions) -> Result<Arc<PgStore>> {
    let open_error = |source: Box<dyn std::error::Error + Send + Sync>| StoreError::Open {
        path: redact(url),
        source,
    };
    let mut config: tokio_postgres::Config = url.parse().map_err(|e| open_error(Box::new(e)))?;
    if let Some(password) = password {
        config.password(password);
    }
    if config.get_application_name().is_none() {
        config.application_name("callside");
    }
    config.connect_timeout(options.connect_timeout);
    if config.get_ssl_mode() == tokio_postgres::config::SslMode::Require {
        let tls = tls::connector(options.ca_file.as_deref()).map_err(|e| open_error(e.into()))?;
        open_with(config, tls, options, open_error).await
    } else {
        open_with(config, tokio_postgres::NoTls, options, open_error).await
    }
}

/// [`open`] over `tls` (no TLS, or rustls for `sslmode=require`).
async fn open_with<T>(
    config: tokio_postgres::Config,
    tls: T,
    options: PgOptions,
    open_error: impl Fn(Box<dyn std::error::Error + Send + Sync>) -> StoreError,
) -> Result<Arc<PgStore>>
where
    T: MakeTlsConnect<tokio_postgres::Socket> + Clone + Sync + Send + 'static,
    T::Stream: Sync + Send,
    T::TlsConnect: Sync + Send,
    <T::TlsConnect as TlsConnect<tokio_postgres::Socket>>::Future: Send,
{
    let mut writer = connect(&config, tls.clone(), options.connect_timeout)
        .await
        .map_err(|e| open_error(Box::new(e)))?;
    migrate::migrate(&mut writer).await?;
    let manager = deadpool_postgres::Manager::from_config(
        config,
        tls,
        deadpool_postgres::ManagerConfig {
            recycling_method: deadpool_postgres::RecyclingMethod::Fast,
        },
    );
    let pool = deadpool_postgres::Pool::builder(manager)
        .max_size(options.readers.max(1))
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .wait_timeout(Some(std::time::Duration::from_secs(30)))
        .create_timeout(Some(options.connect_timeout))
        .build()
        .map_err(|e| open_error(Box::new(e)))?;
    let (jobs, rx) = mpsc::channel(8192);
    let failed = Arc::new(AtomicBool::new(false));
    tokio::spawn(writer::write_loop(
        writer,
        rx,
        options.max_batch.max(1),
        failed.clone(),
    ));
    Ok(Arc::new(PgStore { jobs, pool, failed }))
}

/// One connection of the writer's own (its statements are cached on it), retried until the
/// database accepts or `wait` has passed: a database started beside callside may still be
/// coming up.
async fn connect<T>(
    config: &tokio_postgres::Config,
    tls: T,
    wait: std::time::Duration,
) -> std::result::Result<deadpool_postgres::ClientWrapper, tokio_postgres::Error>
where
    T: MakeTlsConnect<tokio_postgres::Socket> + Clone,
    T::Stream: Send + 'static,
{
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match config.connect(tls.clone()).await {
            Ok((client, connection)) => {
                let task = tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::warn!(error = %e, "the PostgreSQL writer connection ended");
                    }
                });
                return Ok(deadpool_postgres::ClientWrapper::new(client, task));
            }
            Err(e) if tokio::time::Instant::now() < deadline && not_up_yet(&e) => {
                tracing::debug!(error = %e, "PostgreSQL not reachable yet; retrying");
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Whether a connection failed because the database is not accepting connections yet (worth
/// retrying), not because it refused us (a password, a certificate, a missing database).
fn not_up_yet(e: &tokio_postgres::Error) -> bool {
    use std::io::ErrorKind as K;
    e.code().is_none()
        && std::error::Error::source(e)
            .and_then(|s| s.downcast_ref::<std::io::Error>())
            .is_some_and(|io| {
                matches!(
                    io.kind(),
                    K::ConnectionRefused | K::ConnectionReset | K::NotFound | K::TimedOut
                )
            })
}

impl PgStore {
    /// A pooled read connection.
    async fn reader(&self) -> Result<deadpool_postgres::Object> {
        Ok(self.pool.get().await?)
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
}

/// A role held by a session-level advisory lock on a connection taken out of the pool for it.
struct PgLease {
    client: deadpool_postgres::ClientWrapper,
    lost: AtomicBool,
}

#[async_trait::async_trait]
impl crate::Lease for PgLease {
    async fn holds(&self) -> bool {
        if self.lost.load(Ordering::SeqCst) {
            return false;
        }
        let alive = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            self.client.simple_query("SELECT 1"),
        )
        .await;
        if !matches!(alive, Ok(Ok(_))) {
            self.lost.store(true, Ordering::SeqCst);
        }
        !self.lost.load(Ordering::SeqCst)
    }
}

#[async_trait::async_trait]
impl crate::Leases for PgStore {
    async fn try_lease(&self, role: &str) -> Result<Option<Box<dyn crate::Lease>>> {
        // A connection of the lease's own: the lock lives and dies with it.
        let client = deadpool_postgres::Object::take(self.pool.get().await?);
        let key = crate::leases::lock_key(role);
        let row = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&key])
            .await?;
        let taken: bool = row.try_get(0)?;
        Ok(taken.then(|| {
            Box::new(PgLease {
                client,
                lost: AtomicBool::new(false),
            }) as Box<dyn crate::Lease>
        }))
    }
}

#[async_trait::async_trait]
impl Writes for PgStore {
    async fn submit(&self, writes: Vec<Write>, on_commit: Option<OnCommit>) -> Result<Commit> {
        self.queue(writes, on_commit).await
    }

    async fn apply(&self, writes: Vec<Write>) -> Result<()> {
        self.queue(writes, None)
            .await?
            .await
            .map_err(|_| StoreError::Closed)?
    }

    async fn apply_then(&self, writes: Vec<Write>, on_commit: OnCommit) -> Result<()> {
        self.queue(writes, Some(on_commit))
            .await?
            .await
            .map_err(|_| StoreError::Closed)?
    }

    fn has_failed(&self) -> bool {
        self.failed.load(Ordering::SeqCst)
    }

    async fn ping(&self) -> Result<()> {
        sql::row(&self.reader().await?, "SELECT 1", &[]).await?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl IdentityStore for PgStore {
    async fn principal_by_token(&self, hash: TokenHash) -> Result<Option<PrincipalRecord>> {
        identity::principal_by_token(&self.reader().await?, &hash).await
    }

    async fn token_times(&self, hash: TokenHash) -> Result<Option<(Millis, Option<Millis>)>> {
        identity::token_times(&self.reader().await?, &hash).await
    }

    async fn unused_tokens(&self, before: Millis) -> Result<Vec<crate::UnusedToken>> {
        identity::unused_tokens(&self.reader().await?, before).await
    }

    async fn token_retired_at(&self, hash: TokenHash) -> Result<Option<Millis>> {
        identity::token_retired_at(&self.reader().await?, &hash).await
    }

    async fn principal(&self, id: PrincipalId) -> Result<Option<PrincipalRecord>> {
        identity::principal(&self.reader().await?, &id).await
    }

    async fn personal_data(&self, id: PrincipalId) -> Result<Vec<crate::personal::PersonalTable>> {
        personal::export(&self.reader().await?, &id).await
    }

    async fn browser_link(&self, code_hash: TokenHash) -> Result<Option<BrowserLinkRecord>> {
        browsers::link(&self.reader().await?, &code_hash).await
    }

    async fn browser_by_access(&self, hash: TokenHash) -> Result<Option<BrowserRecord>> {
        browsers::by_access(&self.reader().await?, &hash).await
    }

    async fn browser_by_refresh(&self, hash: TokenHash) -> Result<Option<BrowserRecord>> {
        browsers::by_refresh(&self.reader().await?, &hash).await
    }

    async fn browsers(&self, device: PrincipalId) -> Result<Vec<BrowserRecord>> {
        browsers::of_device(&self.reader().await?, &device).await
    }

    async fn principals(&self, kind: &'static str) -> Result<Vec<PrincipalRecord>> {
        identity::principals(&self.reader().await?, kind).await
    }

    async fn devices_owning(&self, number: PhoneNumber) -> Result<Vec<PrincipalId>> {
        identity::devices_owning(&self.reader().await?, &number).await
    }

    async fn coupled_devices(&self, number: PhoneNumber, now: Millis) -> Result<Vec<PrincipalId>> {
        identity::coupled_devices(&self.reader().await?, &number, now).await
    }

    async fn coupling(
        &self,
        principal: PrincipalId,
    ) -> Result<(callside_core::principal::Coupling, Millis)> {
        identity::coupling(&self.reader().await?, &principal).await
    }

    async fn stale_bindings(
        &self,
        number: PhoneNumber,
        except: PrincipalId,
        before: Millis,
    ) -> Result<Vec<PrincipalId>> {
        identity::stale_bindings(&self.reader().await?, &number, &except, before).await
    }

    async fn lapsed_bindings(&self, before: Millis) -> Result<Vec<(PrincipalId, PhoneNumber)>> {
        identity::lapsed_bindings(&self.reader().await?, before).await
    }

    async fn proof(&self, id: String) -> Result<Option<ProofRecord>> {
        identity::proof(&self.reader().await?, &id).await
    }

    async fn proof_by_code(&self, hash: TokenHash) -> Result<Option<ProofRecord>> {
        identity::proof_by_code(&self.reader().await?, &hash).await
    }

    async fn email_validation(&self, id: String) -> Result<Option<EmailValidationRecord>> {
        identity::email_validation(&self.reader().await?, &id).await
    }

    async fn emails_of(&self, device: PrincipalId) -> Result<Vec<Email>> {
        identity::emails_of(&self.reader().await?, &device).await
    }

    async fn devices_with_email(&self, email: Email) -> Result<Vec<PrincipalId>> {
        identity::devices_with_email(&self.reader().await?, &email).await
    }
}

#[async_trait::async_trait]
impl SessionStore for PgStore {
    async fn session(&self, key: SessionKey) -> Result<Option<SessionRecord>> {
        sessions::session(&self.reader().await?, &key).await
    }

    async fn sessions_of(
        &self,
        principal: PrincipalId,
        include_closed: bool,
    ) -> Result<Vec<SessionKey>> {
        sessions::sessions_of(&self.reader().await?, &principal, include_closed).await
    }

    async fn idle_sessions(&self, before: Millis) -> Result<Vec<SessionKey>> {
        sessions::idle_sessions(&self.reader().await?, before).await
    }

    async fn messages_after(
        &self,
        key: SessionKey,
        after: u64,
        limit: u32,
    ) -> Result<Vec<MessageRecord>> {
        sessions::messages_after(&self.reader().await?, &key, after, limit).await
    }

    async fn client_id_seq(
        &self,
        key: SessionKey,
        sender: String,
        client_id: String,
    ) -> Result<Option<u64>> {
        sessions::client_id_seq(&self.reader().await?, &key, &sender, &client_id).await
    }

    async fn screen(&self, key: SessionKey, id: String) -> Result<Option<ScreenRecord>> {
        sessions::screen(&self.reader().await?, &key, &id).await
    }

    async fn derived_jobs(&self, limit: u32) -> Result<Vec<DerivedJobRecord>> {
        derived::jobs(&self.reader().await?, limit).await
    }

    async fn derived_job_pending(&self, key: SessionKey, seq: u64) -> Result<bool> {
        derived::pending(&self.reader().await?, &key, seq).await
    }

    async fn recent_client_ids(
        &self,
        key: SessionKey,
        limit: u32,
    ) -> Result<Vec<(String, String, u64)>> {
        sessions::recent_client_ids(&self.reader().await?, &key, limit).await
    }
}

#[async_trait::async_trait]
impl CallStore for PgStore {
    async fn leg(&self, id: LegId) -> Result<Option<LegRecord>> {
        calls::leg(&self.reader().await?, &id).await
    }

    async fn pending_legs(&self) -> Result<Vec<LegRecord>> {
        calls::pending_legs(&self.reader().await?).await
    }

    async fn call(&self, id: CallId) -> Result<Option<CallRecord>> {
        calls::call(&self.reader().await?, &id).await
    }

    async fn conference(&self, bridge: PhoneNumber, id: String) -> Result<Option<SessionKey>> {
        calls::conference(&self.reader().await?, &bridge, &id).await
    }

    async fn call_by_ref(
        &self,
        reporter: PrincipalId,
        call_ref: String,
    ) -> Result<Option<CallRecord>> {
        calls::call_by_ref(&self.reader().await?, &reporter, &call_ref).await
    }

    async fn live_calls(&self) -> Result<Vec<CallRecord>> {
        calls::live_calls(&self.reader().await?).await
    }

    async fn call_notes_for(&self, device: PrincipalId, limit: u32) -> Result<Vec<CallNoteRecord>> {
        calls::call_notes_for(&self.reader().await?, &device, limit).await
    }
}

#[async_trait::async_trait]
impl InvitationStore for PgStore {
    async fn invitation(&self, id: String) -> Result<Option<InvitationRecord>> {
        invitations::invitation(&self.reader().await?, &id).await
    }

    async fn invitations_for(&self, device: PrincipalId) -> Result<Vec<InvitationRecord>> {
        invitations::invitations_for(&self.reader().await?, &device).await
    }

    async fn pending_invitations_to(
        &self,
        endpoint: Endpoint,
        now: Millis,
    ) -> Result<Vec<InvitationRecord>> {
        invitations::pending_invitations_to(&self.reader().await?, endpoint.as_str(), now).await
    }

    async fn pending_leg_invitations(&self) -> Result<Vec<(LegId, String)>> {
        invitations::pending_leg_invitations(&self.reader().await?).await
    }

    async fn expired_invitations(&self, now: Millis) -> Result<Vec<InvitationRecord>> {
        invitations::expired_invitations(&self.reader().await?, now).await
    }
}

#[async_trait::async_trait]
impl CardStore for PgStore {
    async fn card_owners(&self) -> Result<Vec<PrincipalId>> {
        cards::card_owners(&self.reader().await?).await
    }

    async fn card(&self, principal: PrincipalId) -> Result<Card> {
        cards::card(&self.reader().await?, &principal).await
    }

    async fn audiences(&self, principal: PrincipalId) -> Result<Vec<Audience>> {
        cards::audiences(&self.reader().await?, &principal).await
    }

    async fn receive_policy(&self, principal: PrincipalId) -> Result<ReceivePolicy> {
        cards::receive_policy(&self.reader().await?, &principal).await
    }

    async fn ledger(
        &self,
        sender: PrincipalId,
        receiver: PrincipalId,
    ) -> Result<HashMap<String, u64>> {
        cards::ledger(&self.reader().await?, &sender, &receiver).await
    }
}

#[async_trait::async_trait]
impl ComponentStore for PgStore {
    async fn component(&self, id: String) -> Result<Option<Component>> {
        components::component(&self.reader().await?, &id).await
    }

    async fn components(&self) -> Result<Vec<Component>> {
        components::components(&self.reader().await?).await
    }

    async fn capabilities(&self, principal: PrincipalId) -> Result<Option<Capabilities>> {
        components::capabilities(&self.reader().await?, &principal).await
    }

    async fn system_screen(&self, principal: PrincipalId) -> Result<Option<SystemScreenRecord>> {
        components::system_screen(&self.reader().await?, &principal).await
    }
}

#[async_trait::async_trait]
impl PushStore for PgStore {
    async fn push_devices(&self) -> Result<Vec<PrincipalId>> {
        push::push_devices(&self.reader().await?).await
    }

    async fn push_subscriptions(&self, device: PrincipalId) -> Result<Vec<PushRecord>> {
        push::push_subscriptions(&self.reader().await?, &device).await
    }

    async fn wakes_due(&self, since: Millis, now: Millis) -> Result<crate::WakesDue> {
        push::wakes_due(&self.reader().await?, since, now).await
    }
}

#[async_trait::async_trait]
impl BlobStore for PgStore {
    async fn blob(&self, id: BlobId) -> Result<Option<BlobRecord>> {
        blobs::blob(&self.reader().await?, &id).await
    }

    async fn may_read_blob(&self, principal: PrincipalId, blob: BlobId) -> Result<bool> {
        blobs::may_read_blob(&self.reader().await?, &principal, &blob).await
    }

    async fn blobs_of(&self, principal: PrincipalId) -> Result<Vec<BlobId>> {
        blobs::blobs_of(&self.reader().await?, &principal).await
    }

    async fn unreferenced_blobs(&self, before: Millis, limit: u32) -> Result<Vec<BlobId>> {
        blobs::unreferenced(&self.reader().await?, before, limit).await
    }
}

#[async_trait::async_trait]
impl AuditStore for PgStore {
    async fn audit(&self, limit: u32) -> Result<Vec<AuditRecord>> {
        audit::audit(&self.reader().await?, limit).await
    }
}

#[async_trait::async_trait]
impl MerchantStore for PgStore {
    async fn merchant(&self, id: String) -> Result<Option<MerchantRecord>> {
        merchants::merchant(&self.reader().await?, &id).await
    }

    async fn merchant_of(&self, principal: PrincipalId) -> Result<Option<MerchantRecord>> {
        merchants::merchant_of(&self.reader().await?, &principal).await
    }

    async fn links(&self, merchant: String) -> Result<Vec<LinkRecord>> {
        merchants::links(&self.reader().await?, &merchant).await
    }

    async fn pages(&self, merchant: String) -> Result<Vec<PageRecord>> {
        merchants::pages(&self.reader().await?, &merchant).await
    }

    async fn agents(&self, merchant: String) -> Result<Vec<AgentRecord>> {
        merchants::agents(&self.reader().await?, &merchant).await
    }

    async fn agent_of(&self, principal: PrincipalId) -> Result<Option<AgentRecord>> {
        merchants::agent_of(&self.reader().await?, &principal).await
    }

    async fn open_clicks(&self) -> Result<Vec<ClickRecord>> {
        merchants::open_clicks(&self.reader().await?).await
    }

    async fn routing(&self, merchant: String) -> Result<Option<String>> {
        merchants::routing(&self.reader().await?, &merchant).await
    }

    async fn click(&self, id: String) -> Result<Option<ClickRecord>> {
        merchants::click(&self.reader().await?, &id).await
    }

    async fn merchant_webhook(&self, merchant: String) -> Result<Option<(String, String)>> {
        merchants::webhook(&self.reader().await?, &merchant).await
    }

    async fn click_by_channel(
        &self,
        merchant: String,
        channel: String,
        since: Millis,
    ) -> Result<Option<ClickRecord>> {
        merchants::click_by_channel(&self.reader().await?, &merchant, &channel, since).await
    }

    async fn clicks(
        &self,
        merchant: String,
        before: Option<Millis>,
        limit: u32,
    ) -> Result<Vec<ClickRecord>> {
        merchants::clicks(&self.reader().await?, &merchant, before, limit).await
    }
}
