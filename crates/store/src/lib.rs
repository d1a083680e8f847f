//! Durable storage for callside.
//!
//! # How the pieces fit
//!
//! The server holds one `Arc<dyn Store>`. [`Store`] is nothing of its own: it is every storage
//! trait at once, implemented for any type that implements them all.
//!
//! - **Writes are one trait.** Every change is a [`Write`]; [`Writes::apply`] commits a
//!   `Vec<Write>` atomically, whatever aggregates it touches (an accepted invitation, the
//!   session it opens and the leg it settles go in one commit). `Write` is the one unit-of-work
//!   language, which is why there is one write trait and not one per aggregate.
//! - **Reads are per aggregate**: [`IdentityStore`] (principals, tokens, numbers, proofs, email
//!   addresses), [`SessionStore`] (sessions and their messages), [`CallStore`] (legs, network
//!   calls, call notes), [`InvitationStore`], [`CardStore`], [`ComponentStore`], [`PushStore`],
//!   [`BlobStore`] and [`AuditStore`]. They return plain records ([`SessionRecord`],
//!   [`MessageRecord`], …) of `callside_core` types.
//! - **Backends** implement the traits in a module of their own. [`sqlite`] is the embedded
//!   default: one writer thread with group commit, a checkpoint thread, a pool of readers.
//!   [`postgres`] keeps the same aggregates in PostgreSQL: a writer task with group commit on a
//!   connection of its own, a pool of read connections.
//! - **The conformance suite** (`conformance`, behind the cargo feature of that name) holds the
//!   contract's tests, written against the traits; every backend runs all of them with
//!   `conformance_suite!` (SQLite from `tests/conformance.rs`, PostgreSQL from
//!   `tests/conformance_postgres.rs` on the cluster `scripts/with-postgres` starts).
//!
//! The contract every backend keeps is written on the traits: [`Writes`] for durability,
//! ordering, atomicity and fail-stop, each read method for what it returns and in which order.
//!
//! # Example
//!
//! ```
//! use callside_core::session::{Lifecycle, Origin, Session};
//! use callside_core::SessionKey;
//! use callside_store::prelude::*;
//! use callside_store::{sqlite, MessageRecord, SessionRecord, SqliteOptions, StoreError, Write};
//! use std::sync::Arc;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> callside_store::Result<()> {
//! # let dir = tempfile::tempdir().unwrap();
//! # let path = dir.path().join("callside.sqlite");
//! let store: Arc<dyn Store> = sqlite::open(&path, SqliteOptions::default())?;
//! let (key, now) = (SessionKey::generate(1_000), 1_000);
//! let session = Session::new(key.clone(), Origin::PairedLegs, Lifecycle::KeepAfterCall, vec![], now);
//! // `apply` resolves once the session is durable.
//! store
//!     .apply(vec![Write::Session(SessionRecord {
//!         session,
//!         call_id: None,
//!         participants: vec![],
//!         last_seq: 0,
//!         last_activity: now,
//!     })])
//!     .await?;
//! // `submit` only queues: queue order is commit order, and the callback runs right after the
//! // commit (the server fans the message out there).
//! let message = MessageRecord {
//!     session: key.clone(),
//!     seq: 1,
//!     sender: "dev_a".into(),
//!     client_id: Some("c1".into()),
//!     kind: "text".into(),
//!     body: r#"{"text":"hello"}"#.into(),
//!     sent_at: now,
//!     blob: None,
//! };
//! let commit = store
//!     .submit(vec![Write::Message(message)], Some(Box::new(|| println!("committed"))))
//!     .await?;
//! commit.await.map_err(|_| StoreError::Closed)??;
//! assert_eq!(store.messages_after(key, 0, 10).await?.len(), 1);
//! # Ok(())
//! # }
//! ```

mod common_sql;
mod leases;
pub mod personal;
pub mod postgres;
mod reads;
mod records;
pub mod sqlite;
mod writes;

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;

pub use leases::{Lease, Leases};
pub use postgres::PgOptions;
pub use reads::{
    AuditStore, BlobStore, CallStore, CardStore, ComponentStore, IdentityStore, InvitationStore,
    MerchantStore, PushStore, SessionStore,
};
pub use records::*;
pub use sqlite::{SqliteOptions, Synchronous};
pub use writes::{Commit, OnCommit, Writes};

/// Everything the server needs from storage: the write trait and every aggregate's reads.
///
/// Implemented for every type that implements all of them; the server holds an
/// `Arc<dyn Store>`.
pub trait Store:
    Writes
    + Leases
    + IdentityStore
    + SessionStore
    + CallStore
    + InvitationStore
    + CardStore
    + ComponentStore
    + PushStore
    + BlobStore
    + AuditStore
    + MerchantStore
{
}

impl<T> Store for T where
    T: Writes
        + Leases
        + IdentityStore
        + SessionStore
        + CallStore
        + InvitationStore
        + CardStore
        + ComponentStore
        + PushStore
        + BlobStore
        + AuditStore
        + MerchantStore
        + ?Sized
{
}

/// Every storage trait in one import: `use callside_store::prelude::*;`. A concrete backend
/// (`SqliteStore`) needs them in scope for its methods; a `dyn Store` has them all already, so
/// code holding an `Arc<dyn Store>` only needs the name [`Store`].
pub mod prelude {
    pub use crate::{
        AuditStore, BlobStore, CallStore, CardStore, ComponentStore, IdentityStore,
        InvitationStore, Leases, MerchantStore, PushStore, SessionStore, Store, Writes,
    };
}

/// What went wrong in the store. Backends map their own errors to these; none of their types
/// appears here.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed the operation (I/O, a lock held too long, a violated constraint).
    #[error("database error: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("the record already exists")]
    Duplicate,
    /// A [`Write::Message`] found its `(session, seq)` taken (another node of a cluster appended
    /// that number first), or its [`Chain`] broken by such a conflict; the call changed
    /// nothing. The caller reloads the session and numbers again.
    #[error("another writer appended to the session first; reload it and retry")]
    Conflict,
    /// A write that needs a record in a given state found it gone or changed (e.g. a one-time
    /// code already used); the call changed nothing.
    #[error("the record is gone or has changed")]
    Gone,
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
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
