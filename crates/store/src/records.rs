//! What the store keeps, as plain records of domain types.

use callside_core::leg::Leg;
use callside_core::matching::CallId;
use callside_core::message::BlobId;
use callside_core::session::{CallState, Lifecycle, Session};
use callside_core::{Millis, PhoneNumber, Principal, PrincipalId, SessionKey, TokenHash};

#[derive(Debug, Clone, PartialEq)]
pub struct PrincipalRecord {
    pub principal: Principal,
    pub created_at: Millis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegState {
    Pending,
    Matched,
    NoMatch,
}

impl LegState {
    pub fn as_str(self) -> &'static str {
        match self {
            LegState::Pending => "pending",
            LegState::Matched => "matched",
            LegState::NoMatch => "no_match",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct LegRecord {
    pub leg: Leg,
    pub registry: Option<String>,
    pub lifecycle: Option<Lifecycle>,
    pub state: LegState,
    pub reason: Option<String>,
    pub session: Option<SessionKey>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ParticipantRecord {
    pub principal: PrincipalId,
    pub name: String,
    pub number: Option<PhoneNumber>,
    pub acked_seq: u64,
    /// Messages up to this sequence number were sent before the participant joined and are not
    /// its to read (0 for those there from the start, and for joiners the history was shared
    /// with).
    pub joined_seq: u64,
    /// What the participant says about showing earlier messages to those who join later.
    pub history: Option<callside_core::session::HistoryConsent>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    pub session: Session,
    pub call_id: Option<CallId>,
    pub participants: Vec<ParticipantRecord>,
    pub last_seq: u64,
    pub last_activity: Millis,
}

/// A screen an automated system sent on a session (S1-F11–F21): what acknowledgements and
/// activations are checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScreenRecord {
    pub session: SessionKey,
    pub id: String,
    pub sender: PrincipalId,
    /// The message that carried it (the newest, when it was sent again).
    pub seq: u64,
    pub regions: Vec<String>,
}

/// An automated system's predetermined screen (S1-F11), kept by the server and sent when a call
/// reaches the system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemScreenRecord {
    pub principal: PrincipalId,
    pub id: String,
    pub regions: Vec<String>,
    /// The screen as the system's messages carry it (its wire form).
    pub body: String,
    /// The blob it shows, which its messages reference.
    pub image: Option<callside_core::message::BlobId>,
    pub updated_at: Millis,
}

/// Who a restarted server wakes again ([`crate::PushStore::wakes_due`]): devices behind on
/// messages, and `(invitation id, device)` for what still rings.
pub type WakesDue = (Vec<PrincipalId>, Vec<(String, PrincipalId)>);

/// Transformer work not done yet, with the message it is for.
#[derive(Debug, Clone, PartialEq)]
pub struct DerivedJobRecord {
    pub session: SessionKey,
    pub seq: u64,
    pub app: String,
    pub queued_at: Millis,
    pub sender: String,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MessageRecord {
    pub session: SessionKey,
    pub seq: u64,
    pub sender: String,
    pub client_id: Option<String>,
    pub kind: String,
    /// JSON text.
    pub body: String,
    pub sent_at: Millis,
    /// The blob a `file` message references (recorded so participants may download it).
    pub blob: Option<BlobId>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CallRecord {
    pub id: CallId,
    pub reporter: PrincipalId,
    pub call_ref: String,
    pub caller: PhoneNumber,
    pub callee: PhoneNumber,
    pub state: CallState,
    /// The session of the call; after a diversion, the caller's with the system it reached.
    pub session: SessionKey,
    /// Where the network diverted the call (a voicemail's number), once it did.
    pub diverted_to: Option<PhoneNumber>,
    pub created_at: Millis,
    pub expires_at: Millis,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BlobRecord {
    pub id: BlobId,
    pub size: u64,
    pub mime: String,
    pub created_at: Millis,
}

/// How a device came to own a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberSource {
    /// The operator vouched for it.
    Provisioned,
    /// The device proved it by an SMS round trip.
    Sms,
}

impl NumberSource {
    pub fn as_str(self) -> &'static str {
        match self {
            NumberSource::Provisioned => "provisioned",
            NumberSource::Sms => "sms",
        }
    }
}

/// One number proof attempt (S2-R). The code is kept only as its SHA-256.
#[derive(Debug, Clone, PartialEq)]
pub struct ProofRecord {
    pub id: String,
    pub device: PrincipalId,
    pub code_hash: TokenHash,
    /// The sender's number, once the SMS arrived.
    pub number: Option<PhoneNumber>,
    pub nonce: Option<Vec<u8>>,
    pub state: callside_core::proof::ProofState,
    pub failures: u32,
    pub created_at: Millis,
    pub expires_at: Millis,
}

/// An invitation with what only the server keeps about it (wire JSON is opaque here).
#[derive(Debug, Clone, PartialEq)]
pub struct InvitationRecord {
    pub invitation: callside_core::invitation::Invitation,
    pub inviter_name: String,
    /// Connection data as JSON text.
    pub offer: Option<String>,
    pub answer: Option<String>,
    /// `direct` or `relay`.
    pub path: Option<String>,
    /// A catalogue component offered in the session once it is up (S1-F6/F7).
    pub component: Option<String>,
}

/// A device's push subscription; `data` is the registered JSON, `identity` the SHA-256 of its
/// endpoint or token (registering the same one again replaces it).
#[derive(Debug, Clone, PartialEq)]
pub struct PushRecord {
    pub id: String,
    pub device: PrincipalId,
    pub provider: String,
    pub identity: [u8; 32],
    pub data: String,
    pub created_at: Millis,
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub at: Millis,
    pub actor: PrincipalId,
    pub action: String,
    pub subject: String,
    pub detail: String,
}

/// A device or service account whose token has not been presented for a while.
#[derive(Debug, Clone, PartialEq)]
pub struct UnusedToken {
    pub principal: PrincipalId,
    /// `device` or `service`.
    pub kind: String,
    pub name: String,
    pub issued_at: Millis,
    /// `None`: never presented since it was issued.
    pub last_used_at: Option<Millis>,
}

/// An email validation (S2-E): the token mailed is kept only as its SHA-256.
#[derive(Debug, Clone, PartialEq)]
pub struct EmailValidationRecord {
    pub id: String,
    pub device: PrincipalId,
    pub email: callside_core::email::Email,
    pub token_hash: TokenHash,
    /// `sent`, `validated` or `failed`.
    pub state: String,
    pub failures: u32,
    pub created_at: Millis,
    pub expires_at: Millis,
}

/// Composer data or a post-call note for a number's devices; `body` is its JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct CallNoteRecord {
    pub id: String,
    /// `composer` or `note`.
    pub kind: String,
    pub leg: callside_core::LegId,
    pub sender: PrincipalId,
    pub sender_name: String,
    pub from: PhoneNumber,
    pub to: PhoneNumber,
    pub body: String,
    pub created_at: Millis,
}

/// One change. [`crate::Writes::apply`] commits a list of them atomically, whatever aggregates
/// they touch.
/// A one-time code a device asked for to link a browser, kept by its SHA-256 until used.
#[derive(Debug, Clone, PartialEq)]
pub struct BrowserLinkRecord {
    pub code_hash: TokenHash,
    pub device: PrincipalId,
    pub created_at: Millis,
    pub expires_at: Millis,
}

/// A browser linked to a device, with the SHA-256 of its current access and refresh tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct BrowserRecord {
    pub id: String,
    pub device: PrincipalId,
    /// What the browser called itself when linked (e.g. "Firefox on the office PC").
    pub name: String,
    pub created_at: Millis,
    pub access_hash: TokenHash,
    pub access_expires_at: Millis,
    pub refresh_hash: TokenHash,
    pub refresh_expires_at: Millis,
    /// The refresh token this one replaced: presented again, it was copied.
    pub previous_refresh_hash: Option<TokenHash>,
    pub refreshed_at: Millis,
}

/// A merchant (S4): a tenant whose web pages carry click-to-call buttons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerchantRecord {
    /// `mer_…`.
    pub id: String,
    pub name: String,
    /// The merchant's own API account (a service principal with the `merchant` scope).
    pub principal: PrincipalId,
    /// The HMAC key the merchant's server signs buttons with (kept in clear: callside must
    /// verify with it; rotating it invalidates every button signed before).
    pub button_secret: String,
    pub created_at: Millis,
}

/// One of a merchant's buttons ("sales", "billing", …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkRecord {
    pub merchant: String,
    pub id: String,
    pub name: String,
}

/// An agent of a merchant's call centre (S4's ACD): its own API account, and the groups whose
/// calls it takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentRecord {
    pub merchant: String,
    /// Chosen by the merchant (`A-Z a-z 0-9 _ -`).
    pub id: String,
    pub principal: PrincipalId,
    pub name: String,
    pub groups: Vec<String>,
    /// A supervisor also sees the whole call centre: queues, agents, calls.
    pub supervisor: bool,
    pub created_at: Millis,
}

/// A page an agent can push by its code (S4 "page push": a code→URL table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRecord {
    pub merchant: String,
    /// DTMF-style, e.g. `*76`.
    pub code: String,
    pub url: String,
}

/// A click on a button: the call record of the "call posting database" (S4), readable by its
/// merchant only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClickRecord {
    /// `clk_…`.
    pub id: String,
    pub merchant: String,
    pub link: Option<String>,
    /// The customer or session id the merchant put in the button.
    pub customer: Option<String>,
    /// The number embedded in the button, if any (E.164).
    pub button_destination: Option<String>,
    /// What the page chose to share (page, referrer, recent pages, form contents), JSON.
    pub context: String,
    /// Where routing sent the call (wire form: `+1…`, `agents:<group>`).
    pub destination: String,
    /// The routing rule that chose it (its position), or none (the default).
    pub rule: Option<u32>,
    /// `routed` | `queued` | `ringing` | `answered` | `ended`.
    pub state: String,
    pub agent: Option<String>,
    /// How it ended (e.g. `completed`, `abandoned`, `no_answer`).
    pub outcome: Option<String>,
    pub created_at: Millis,
    pub answered_at: Option<Millis>,
    pub ended_at: Option<Millis>,
    /// The web call's session, opened when an agent answered (S4).
    pub session: Option<SessionKey>,
    /// A call to a number: the short channel id (6 digits) an agent keys to join the call's
    /// chat (S4's chat channel).
    pub channel: Option<String>,
}

/// What a retention purge removes: records older than a moment, in one bounded batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purge {
    /// Closed sessions whose newest message (or, for an empty one, whose creation) is older than
    /// `before`, with their participants, messages, screens, blob references and conference
    /// entries.
    Sessions,
    /// Legs no longer pending that were reported before `before`.
    Legs,
    /// Network calls that ended, created before `before`.
    Calls,
    /// Composer data and post-call notes created before `before`.
    CallNotes,
    /// Audit log entries from before `before`.
    Audit,
    /// Merchants' call records created before `before`.
    Clicks,
}

/// The appends one holder of a session's numbering (a session cached on one node) queues, in
/// order. Once one of them fails with [`StoreError::Conflict`](crate::StoreError::Conflict), the
/// chain is broken: every later call carrying it ([`Write::Fence`]) fails with `Conflict` without
/// being tried, so a message queued behind the one that lost its number cannot commit ahead of
/// it. A reloaded session starts a new chain.
#[derive(Debug, Clone, Default)]
pub struct Chain(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Chain {
    /// Whether an append of this chain has conflicted.
    pub fn is_broken(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Marks the chain broken (the writer does, when an append of it conflicts).
    pub fn break_off(&self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

#[derive(Debug, Clone)]
pub enum Write {
    /// Fails the call with [`StoreError::Conflict`](crate::StoreError::Conflict) if `Chain` is
    /// broken; if a later write of the same call conflicts, breaks it. Writes nothing.
    Fence(Chain),
    /// A new principal with its first token.
    Principal(PrincipalRecord, TokenHash),
    /// Soft-deletes a principal and revokes its tokens.
    DeletePrincipal(PrincipalId),
    /// Renames a principal (an agent its merchant renamed).
    RenamePrincipal {
        id: PrincipalId,
        name: String,
    },
    /// Erases a device's personal data as [`crate::personal::HOLDINGS`] says (deletes it,
    /// redacts its messages as `erased`, keeps what it gives a reason for), deletes the
    /// principal and revokes its tokens. `at` is the deletion time.
    ErasePrincipal {
        id: PrincipalId,
        at: Millis,
    },
    /// Deletes a blob's record if nobody uploaded it, was granted it, or references it from a
    /// session (its bytes are then the caller's to remove).
    DeleteBlobIfUnused(callside_core::message::BlobId),
    /// Transformer work for a committed `app/<name>` message (queue it with the message).
    DerivedJob {
        session: SessionKey,
        seq: u64,
        app: String,
        at: Millis,
    },
    /// The transformer work for a message is done (or given up).
    DerivedDone {
        session: SessionKey,
        seq: u64,
    },
    /// Deletes an unreferenced blob (no message, grant, screen or card photo names it) last uploaded
    /// before `before`, with its uploaders' rows; a referenced or newer one is left as it is
    /// (the deleted one's bytes are then the caller's to remove).
    CollectBlob {
        id: callside_core::message::BlobId,
        before: Millis,
    },
    /// When tokens were last presented (a later time only moves a token's mark forward).
    TokensUsed(Vec<(TokenHash, Millis)>),
    /// Revokes every token of a principal and stores a new one.
    ReplaceToken(PrincipalId, TokenHash),
    /// Inserts or replaces a leg.
    Leg(LegRecord),
    /// Settles a leg.
    LegOutcome {
        id: callside_core::LegId,
        state: LegState,
        reason: Option<String>,
        session: Option<SessionKey>,
    },
    /// A new session with its participants.
    Session(SessionRecord),
    /// Call state and closing of a session.
    SessionState {
        key: SessionKey,
        call: CallState,
        closed: Option<(String, Option<PrincipalId>)>,
        call_id: Option<CallId>,
    },
    Participant {
        session: SessionKey,
        principal: PrincipalId,
        number: Option<PhoneNumber>,
        joined_at: Millis,
        /// What was sent before (up to and including this sequence number) is not its to read.
        joined_seq: u64,
    },
    /// A screen sent on a session (replacing one of the same id).
    Screen(ScreenRecord),
    /// How a device is coupled to its numbers' line (keeps its `near_until`).
    Coupling {
        principal: PrincipalId,
        mode: callside_core::principal::Coupling,
    },
    /// A device says it is near its phone until `until`.
    Near {
        principal: PrincipalId,
        until: Millis,
    },
    /// The session of a conference (its dial-in number and id), replacing an earlier one.
    Conference {
        bridge: PhoneNumber,
        id: String,
        session: SessionKey,
        at: Millis,
    },
    /// An automated system's predetermined screen (replacing its earlier one).
    SystemScreen(SystemScreenRecord),
    /// An automated system no longer has a predetermined screen.
    DeleteSystemScreen(PrincipalId),
    /// A participant's word on showing earlier messages to those who join later.
    History {
        session: SessionKey,
        principal: PrincipalId,
        consent: Option<callside_core::session::HistoryConsent>,
    },
    /// A participant leaves (its place went to another device).
    RemoveParticipant {
        session: SessionKey,
        principal: PrincipalId,
    },
    /// Appends a message, which becomes the session's `last_seq` and activity time (both are
    /// read from its newest message).
    Message(MessageRecord),
    /// Moves a participant's acknowledged sequence number forward (never back).
    Ack {
        session: SessionKey,
        principal: PrincipalId,
        seq: u64,
    },
    /// Inserts or updates a network call.
    Call(CallRecord),
    Blob(BlobRecord, PrincipalId),
    /// Inserts or replaces a number proof.
    Proof(ProofRecord),
    /// Drops proofs that expired before this time.
    PurgeProofs {
        expired_before: Millis,
    },
    /// Binds a number to a device (or refreshes the binding). With `stale_before`, SMS bindings
    /// of the same number on other devices made before that time are dropped: their devices did
    /// not prove the number again in time, and the number may have changed hands.
    BindNumber {
        device: PrincipalId,
        number: PhoneNumber,
        source: NumberSource,
        at: Millis,
        stale_before: Option<Millis>,
    },
    /// Inserts an invitation with its devices, or updates its state.
    Invitation(InvitationRecord),
    /// Inserts or updates an email validation.
    EmailValidation(EmailValidationRecord),
    /// Binds a validated address to a device (or refreshes it).
    BindEmail {
        device: PrincipalId,
        email: callside_core::email::Email,
        at: Millis,
    },
    UnbindEmail {
        device: PrincipalId,
        email: callside_core::email::Email,
    },
    CallNote(CallNoteRecord),
    /// Lets `principal` read a blob (a composer picture sent to the callee's devices).
    BlobGrant {
        blob: callside_core::message::BlobId,
        principal: PrincipalId,
    },
    /// Replaces a principal's whole card.
    Card {
        principal: PrincipalId,
        card: callside_core::card::Card,
    },
    /// Replaces a principal's audiences.
    Audiences {
        principal: PrincipalId,
        audiences: Vec<callside_core::card::Audience>,
    },
    /// Replaces a device's receiving policy.
    ReceivePolicy {
        principal: PrincipalId,
        policy: callside_core::card::ReceivePolicy,
    },
    /// A `once` rule was used: it is gone.
    ForgetContactRule {
        principal: PrincipalId,
        number: PhoneNumber,
    },
    /// The receiver says which versions of `sender`'s fields it holds (device-side check,
    /// S3-F11): replaces the ledger for the pair.
    ResetLedger {
        sender: PrincipalId,
        receiver: PrincipalId,
        has: Vec<(String, u64)>,
        at: Millis,
    },
    /// Records that `receiver` has `version` of `sender`'s field (never moves back).
    Delivered {
        sender: PrincipalId,
        receiver: PrincipalId,
        field: String,
        version: u64,
        at: Millis,
    },
    /// Adds a device to an invitation's devices (one that proved the invited number later).
    InvitationDevice {
        invitation: String,
        device: PrincipalId,
    },
    /// Appends to the audit log.
    Audit(AuditRecord),
    /// Adds a push subscription, replacing the device's one with the same identity.
    Push(PushRecord),
    /// Removes a push subscription (by the device, or because the provider said it is gone).
    DeletePush {
        id: String,
    },
    /// The device gives up a number.
    UnbindNumber {
        device: PrincipalId,
        number: PhoneNumber,
    },
    /// Publishes or updates a catalogue entry.
    Component {
        component: callside_core::component::Component,
        at: Millis,
    },
    /// Takes a component out of the catalogue.
    DeleteComponent(callside_core::component::ComponentId),
    /// Replaces a device's declared capabilities.
    Capabilities {
        principal: PrincipalId,
        capabilities: callside_core::component::Capabilities,
        at: Millis,
    },
    /// A one-time browser link code (codes expired by its `created_at` are dropped with it).
    BrowserLink(BrowserLinkRecord),
    /// Uses up a browser link code; fails the call with [`StoreError::Gone`](crate::StoreError)
    /// when there is no such code (used already, or never made), so two uses cannot both land.
    UseBrowserLink(TokenHash),
    /// A newly linked browser ([`StoreError::Duplicate`](crate::StoreError) for a known id).
    Browser(BrowserRecord),
    /// Replaces a browser's tokens if its refresh token is still `expected` (otherwise the call
    /// fails with [`StoreError::Gone`](crate::StoreError): another refresh won); the replaced
    /// refresh token becomes its `previous_refresh_hash`.
    RefreshBrowser {
        id: String,
        expected: TokenHash,
        access_hash: TokenHash,
        access_expires_at: Millis,
        refresh_hash: TokenHash,
        refresh_expires_at: Millis,
        at: Millis,
    },
    /// Unlinks a browser: its tokens stop working.
    DeleteBrowser(String),
    /// Adds (or updates) one installed component of a device (an installation confirmation).
    Installed {
        principal: PrincipalId,
        component: callside_core::component::ComponentId,
        version: String,
        at: Millis,
    },
    /// A new merchant ([`StoreError::Duplicate`](crate::StoreError) for a known id).
    Merchant(MerchantRecord),
    /// Replaces a merchant's button secret.
    MerchantSecret {
        merchant: String,
        secret: String,
    },
    /// Adds or renames a link.
    Link(LinkRecord),
    /// Removes a link (nothing when there is none).
    DeleteLink {
        merchant: String,
        id: String,
    },
    /// Adds an agent, or renames it and changes its groups (its account stays).
    Agent(AgentRecord),
    /// Removes an agent (nothing when there is none); its account is deleted with
    /// [`Write::DeletePrincipal`] in the same batch.
    DeleteAgent {
        merchant: String,
        id: String,
    },
    /// Adds or changes a page.
    Page(PageRecord),
    /// Removes a page (nothing when there is none).
    DeletePage {
        merchant: String,
        code: String,
    },
    /// Replaces a merchant's routing rules (validated JSON).
    Routing {
        merchant: String,
        rules: String,
        at: Millis,
    },
    /// A click's call record ([`StoreError::Duplicate`](crate::StoreError) for a known id).
    Click(ClickRecord),
    /// A click's call moves on: `answered` sets `answered_at` (and the agent), `ended` sets
    /// `ended_at` and the outcome. A click already `ended` does not change.
    ClickState {
        id: String,
        state: String,
        agent: Option<String>,
        outcome: Option<String>,
        at: Millis,
    },
    /// Sets (or, with `None`, removes) a merchant's webhook: its URL and signing secret.
    MerchantWebhook {
        merchant: String,
        hook: Option<(String, String)>,
        at: Millis,
    },
    /// Records the session a click's web call opened.
    ClickSession {
        id: String,
        session: SessionKey,
    },
    /// Deletes at most `limit` of the oldest records of one kind from before `before`
    /// (retention); what is left waits for the next purge.
    Purge {
        what: Purge,
        before: Millis,
        limit: u32,
    },
}
