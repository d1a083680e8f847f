//! The read side: one trait per aggregate.
//!
//! What every read guarantees, on every backend: it sees whole commits only, never part of one
//! unit of work; and a read that starts after an [`apply`](crate::Writes::apply) resolved (or
//! after a [`Commit`](crate::Commit) resolved `Ok`) sees its writes. "Live" means not deleted
//! ([`Write::DeletePrincipal`](crate::Write::DeletePrincipal)). Where a method says nothing
//! about order, callers must not rely on one.

use crate::records::*;
use crate::Result;
use callside_core::card::{Audience, Card, ReceivePolicy};
use callside_core::component::{Capabilities, Component};
use callside_core::email::{Email, Endpoint};
use callside_core::matching::CallId;
use callside_core::message::BlobId;
use callside_core::{LegId, Millis, PhoneNumber, PrincipalId, SessionKey, TokenHash};
use std::collections::HashMap;

/// Principals and their tokens, the numbers they own and the proofs of them (S2-R), and the
/// email addresses they validated (S2-E).
#[async_trait::async_trait]
pub trait IdentityStore: Send + Sync {
    /// The live principal holding the token whose SHA-256 is `hash`; `None` for a token that is
    /// unknown or was revoked ([`Write::ReplaceToken`], [`Write::DeletePrincipal`]). A device's
    /// numbers (a service's ranges) come in the order they were first bound.
    async fn principal_by_token(&self, hash: TokenHash) -> Result<Option<PrincipalRecord>>;

    /// When the token whose SHA-256 is `hash` stopped working (rotated, replaced, or its
    /// principal deleted); `None` for a token that works or was never issued.
    async fn token_retired_at(&self, hash: TokenHash) -> Result<Option<Millis>>;

    /// When a working token was issued and last presented ([`Write::TokensUsed`]).
    async fn token_times(&self, hash: TokenHash) -> Result<Option<(Millis, Option<Millis>)>>;

    /// Live devices and service accounts whose token was last presented (or, never presented,
    /// issued) before `before`, oldest first (at most 10,000).
    async fn unused_tokens(&self, before: Millis) -> Result<Vec<crate::UnusedToken>>;

    /// A live principal by id, with its numbers as in
    /// [`principal_by_token`](IdentityStore::principal_by_token).
    async fn principal(&self, id: PrincipalId) -> Result<Option<PrincipalRecord>>;

    /// The browser link code whose SHA-256 is `code_hash`, if not used and its device is live
    /// (whether it expired is the caller's to check).
    async fn browser_link(&self, code_hash: TokenHash) -> Result<Option<BrowserLinkRecord>>;

    /// The browser of a live device whose current access token hashes to `hash` (whether it
    /// expired is the caller's to check).
    async fn browser_by_access(&self, hash: TokenHash) -> Result<Option<BrowserRecord>>;

    /// The browser of a live device whose current or previous refresh token hashes to `hash`
    /// (compare with its `refresh_hash` to tell which).
    async fn browser_by_refresh(&self, hash: TokenHash) -> Result<Option<BrowserRecord>>;

    /// A device's linked browsers, oldest first (ties by id).
    async fn browsers(&self, device: PrincipalId) -> Result<Vec<BrowserRecord>>;

    /// Everything kept about a principal, table by table as [`crate::personal::HOLDINGS`]
    /// lists them (tables with no rows too), secrets (hashes of tokens and codes) left out.
    async fn personal_data(&self, id: PrincipalId) -> Result<Vec<crate::personal::PersonalTable>>;

    /// Live principals of one kind (`device`, `service`, `admin`), oldest first (ties by id).
    async fn principals(&self, kind: &'static str) -> Result<Vec<PrincipalRecord>>;

    /// Live devices that own `number`, provisioned or proved (a service's ranges do not count),
    /// oldest device first (ties by id).
    async fn devices_owning(&self, number: PhoneNumber) -> Result<Vec<PrincipalId>>;

    /// The devices owning `number` that get a network call's session at `now` (their coupling
    /// is `always`, or `when_near` and near until after `now`), oldest first.
    async fn coupled_devices(&self, number: PhoneNumber, now: Millis) -> Result<Vec<PrincipalId>>;

    /// A device's coupling and until when it is near (`always` and 0 if it never said).
    async fn coupling(
        &self,
        principal: PrincipalId,
    ) -> Result<(callside_core::principal::Coupling, Millis)>;

    /// Devices other than `except` whose SMS binding of `number` is older than `before`, by id.
    /// Provisioned bindings are never stale.
    async fn stale_bindings(
        &self,
        number: PhoneNumber,
        except: PrincipalId,
        before: Millis,
    ) -> Result<Vec<PrincipalId>>;

    /// Live devices' SMS bindings (not provisioned ones) last proven before `before`, as
    /// `(device, number)`, by device then number.
    async fn lapsed_bindings(&self, before: Millis) -> Result<Vec<(PrincipalId, PhoneNumber)>>;

    /// A number proof by id.
    async fn proof(&self, id: String) -> Result<Option<ProofRecord>>;

    /// The proof started with the code whose SHA-256 is `hash`.
    async fn proof_by_code(&self, hash: TokenHash) -> Result<Option<ProofRecord>>;

    /// An email validation by id.
    async fn email_validation(&self, id: String) -> Result<Option<EmailValidationRecord>>;

    /// A device's validated email addresses, least recently bound first (ties by address).
    async fn emails_of(&self, device: PrincipalId) -> Result<Vec<Email>>;

    /// Live devices that validated `email`, oldest device first (ties by id).
    async fn devices_with_email(&self, email: Email) -> Result<Vec<PrincipalId>>;
}

/// Sessions, their participants and their message logs.
#[async_trait::async_trait]
pub trait SessionStore: Send + Sync {
    /// A session with its participants in the order they joined. Its `last_seq` and
    /// `last_activity` are those of its newest message (a message appended with
    /// [`Write::Message`] moves both), or those it was created with while it has none.
    async fn session(&self, key: SessionKey) -> Result<Option<SessionRecord>>;

    /// Keys of the sessions `principal` takes part in, newest first (at most 1,000); closed ones
    /// only with `include_closed`.
    async fn sessions_of(
        &self,
        principal: PrincipalId,
        include_closed: bool,
    ) -> Result<Vec<SessionKey>>;

    /// Open sessions with no activity since `before` (their `last_activity`, as
    /// [`session`](SessionStore::session) gives it, is before it), at most 10,000, in no
    /// particular order.
    async fn idle_sessions(&self, before: Millis) -> Result<Vec<SessionKey>>;

    /// Up to `limit` messages with `seq > after`, in sequence order. Their `blob` is `None`: the
    /// reference a message made is kept only to answer [`BlobStore::may_read_blob`].
    async fn messages_after(
        &self,
        key: SessionKey,
        after: u64,
        limit: u32,
    ) -> Result<Vec<MessageRecord>>;

    /// The sequence number a client id was accepted under, if it was.
    async fn client_id_seq(
        &self,
        key: SessionKey,
        sender: String,
        client_id: String,
    ) -> Result<Option<u64>>;

    /// Transformer work not done yet ([`Write::DerivedJob`]), oldest first, at most `limit`;
    /// work whose message is gone (its session deleted) is left out.
    async fn derived_jobs(&self, limit: u32) -> Result<Vec<crate::DerivedJobRecord>>;

    /// Whether transformer work for a message is still to do.
    async fn derived_job_pending(&self, key: SessionKey, seq: u64) -> Result<bool>;

    /// The newest `limit` client ids of a session as `(sender, client_id, seq)`, newest first
    /// (messages without a client id are skipped).
    async fn recent_client_ids(
        &self,
        key: SessionKey,
        limit: u32,
    ) -> Result<Vec<(String, String, u64)>>;

    /// A screen sent on a session, by its id.
    async fn screen(&self, key: SessionKey, id: String) -> Result<Option<ScreenRecord>>;
}

/// Legs devices reported, calls network elements reported, and call notes (RCC.20).
#[async_trait::async_trait]
pub trait CallStore: Send + Sync {
    /// A leg by id, in whatever state.
    async fn leg(&self, id: LegId) -> Result<Option<LegRecord>>;

    /// Legs still pending, in report order (to rebuild the matcher after a restart).
    async fn pending_legs(&self) -> Result<Vec<LegRecord>>;

    /// A network call by its id.
    async fn call(&self, id: CallId) -> Result<Option<CallRecord>>;

    /// The session of a conference: its dial-in number and the id the parties reported.
    async fn conference(&self, bridge: PhoneNumber, id: String) -> Result<Option<SessionKey>>;

    /// A network call by its reporter's own reference.
    async fn call_by_ref(
        &self,
        reporter: PrincipalId,
        call_ref: String,
    ) -> Result<Option<CallRecord>>;

    /// Network calls that have not ended, oldest first, to rebuild the matcher after a restart.
    async fn live_calls(&self) -> Result<Vec<CallRecord>>;

    /// The newest `limit` call notes addressed to a number `device` owns — only those made since
    /// it came to own that number (binding it again does not move that time) — newest first
    /// (ties by id, larger first).
    async fn call_notes_for(&self, device: PrincipalId, limit: u32) -> Result<Vec<CallNoteRecord>>;
}

/// Invitations (S2-I/M) and the devices each one rings.
#[async_trait::async_trait]
pub trait InvitationStore: Send + Sync {
    /// An invitation by id, in whatever state, with its devices in the order they were added.
    async fn invitation(&self, id: String) -> Result<Option<InvitationRecord>>;

    /// Pending invitations ringing on `device`, oldest first (ties by id), expired or not.
    async fn invitations_for(&self, device: PrincipalId) -> Result<Vec<InvitationRecord>>;

    /// Pending invitations to an endpoint (E.164 number or email address) still running at `now`,
    /// oldest first (ties by id).
    async fn pending_invitations_to(
        &self,
        endpoint: Endpoint,
        now: Millis,
    ) -> Result<Vec<InvitationRecord>>;

    /// Pending invitations offered for one-sided calls on devices, not by SMS, as
    /// `(leg, invitation id)` (to rebuild that link after a restart).
    async fn pending_leg_invitations(&self) -> Result<Vec<(LegId, String)>>;

    /// Pending invitations whose time ran out by `now` (expiring at or before it), the earliest
    /// expired first, at most 1,000.
    async fn expired_invitations(&self, now: Millis) -> Result<Vec<InvitationRecord>>;
}

/// Cards (S3), who may see which fields, receiving policies, and the ledger of what each
/// receiver holds.
#[async_trait::async_trait]
pub trait CardStore: Send + Sync {
    /// The principals that have a card (at least one field).
    async fn card_owners(&self) -> Result<Vec<PrincipalId>>;

    /// A principal's card, its fields in the order stored (empty when it has none).
    async fn card(&self, principal: PrincipalId) -> Result<Card>;

    /// A principal's audiences, in the order stored.
    async fn audiences(&self, principal: PrincipalId) -> Result<Vec<Audience>>;

    /// A device's receiving policy for cards, its contact rules in the order stored (the
    /// default: accept from everyone).
    async fn receive_policy(&self, principal: PrincipalId) -> Result<ReceivePolicy>;

    /// Field id → version of `sender`'s card that `receiver` has received.
    async fn ledger(
        &self,
        sender: PrincipalId,
        receiver: PrincipalId,
    ) -> Result<HashMap<String, u64>>;
}

/// The component catalogue and what devices declared (S1-F6–F8), and the predetermined screens
/// automated systems keep on the server (S1-F11).
#[async_trait::async_trait]
pub trait ComponentStore: Send + Sync {
    /// One catalogue entry.
    async fn component(&self, id: String) -> Result<Option<Component>>;

    /// The whole component catalogue, by id.
    async fn components(&self) -> Result<Vec<Component>>;

    /// A device's declared capabilities; `None` if it never declared any (a confirmed
    /// installation counts as a declaration without features).
    async fn capabilities(&self, principal: PrincipalId) -> Result<Option<Capabilities>>;

    /// An automated system's predetermined screen, if it keeps one.
    async fn system_screen(&self, principal: PrincipalId) -> Result<Option<SystemScreenRecord>>;
}

/// Push subscriptions of devices.
#[async_trait::async_trait]
pub trait PushStore: Send + Sync {
    /// The devices that have at least one push subscription, each once.
    async fn push_devices(&self) -> Result<Vec<PrincipalId>>;

    /// A device's push subscriptions, oldest first (ties by id).
    async fn push_subscriptions(&self, device: PrincipalId) -> Result<Vec<PushRecord>>;

    /// Who a restarted server wakes again, because a wake-up may have been lost with the old
    /// process: devices with a push subscription that have messages from others sent after
    /// `since` they have not acknowledged on an open session (each once, at most 10,000), and the
    /// pending invitations still running at `now` with the subscribed devices they ring, as
    /// `(invitation id, device)`.
    async fn wakes_due(&self, since: Millis, now: Millis) -> Result<crate::WakesDue>;
}

/// Uploaded blobs and who may read them (their bytes live beside the database, by SHA-256).
#[async_trait::async_trait]
pub trait BlobStore: Send + Sync {
    async fn blob(&self, id: BlobId) -> Result<Option<BlobRecord>>;

    /// Whether `principal` uploaded the blob (or was granted it, [`Write::BlobGrant`]) or takes
    /// part in a session whose log references it.
    async fn may_read_blob(&self, principal: PrincipalId, blob: BlobId) -> Result<bool>;

    /// Blobs stored before `before` that nothing references any more
    /// (no message, grant, screen or card photo names it), oldest first, at most `limit`.
    async fn unreferenced_blobs(&self, before: Millis, limit: u32) -> Result<Vec<BlobId>>;

    /// The blobs `principal` uploaded or was granted.
    async fn blobs_of(&self, principal: PrincipalId) -> Result<Vec<BlobId>>;

    /// Whether a blob still has a record (it was not deleted as unused).
    async fn blob_exists(&self, id: BlobId) -> Result<bool> {
        Ok(self.blob(id).await?.is_some())
    }
}

/// The audit log.
#[async_trait::async_trait]
pub trait AuditStore: Send + Sync {
    /// The newest `limit` lines of the audit log, newest (last appended) first.
    async fn audit(&self, limit: u32) -> Result<Vec<AuditRecord>>;
}

/// Merchants, their links, pages and routing, and the calls started from their buttons (S4).
#[async_trait::async_trait]
pub trait MerchantStore: Send + Sync {
    async fn merchant(&self, id: String) -> Result<Option<MerchantRecord>>;

    /// The merchant whose API account `principal` is.
    async fn merchant_of(&self, principal: PrincipalId) -> Result<Option<MerchantRecord>>;

    /// A merchant's links, by id.
    async fn links(&self, merchant: String) -> Result<Vec<LinkRecord>>;

    /// A merchant's pages, by code.
    async fn pages(&self, merchant: String) -> Result<Vec<PageRecord>>;

    /// A merchant's agents, by id.
    async fn agents(&self, merchant: String) -> Result<Vec<AgentRecord>>;

    /// The agent whose API account `principal` is.
    async fn agent_of(&self, principal: PrincipalId) -> Result<Option<AgentRecord>>;

    /// Every merchant's calls still `queued`, `ringing` or `answered`, oldest first: the ACD's
    /// queues and calls in progress after a restart.
    async fn open_clicks(&self) -> Result<Vec<ClickRecord>>;

    /// The routing rules last stored for `merchant` (JSON), if any.
    async fn routing(&self, merchant: String) -> Result<Option<String>>;

    async fn click(&self, id: String) -> Result<Option<ClickRecord>>;

    /// A merchant's webhook: (URL, signing secret).
    async fn merchant_webhook(&self, merchant: String) -> Result<Option<(String, String)>>;

    /// The newest call to a number of `merchant` whose channel id is `channel`, still `routed`
    /// and made after `since` (an agent keyed the id to join its chat).
    async fn click_by_channel(
        &self,
        merchant: String,
        channel: String,
        since: Millis,
    ) -> Result<Option<ClickRecord>>;

    /// A merchant's calls, newest first: at most `limit` created before `before` (all when
    /// `None`). Never another merchant's.
    async fn clicks(
        &self,
        merchant: String,
        before: Option<Millis>,
        limit: u32,
    ) -> Result<Vec<ClickRecord>>;
}
