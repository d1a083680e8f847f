//! The `callside phone` subcommands and their arguments.

use clap::{ArgGroup, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub(super) enum PhoneCommand {
    /// Who this token belongs to.
    Whoami,
    /// Place a call: report the outgoing leg and wait for the other party's app.
    Call {
        /// The number called.
        number: String,
        /// Our own number (default: the device's only number).
        #[arg(long)]
        own: Option<String>,
        /// How long to wait for the match, in seconds; then the leg is withdrawn and the command
        /// fails. 0 reports the leg and returns at once, leaving it pending.
        #[arg(long, default_value_t = 30)]
        wait: u64,
        /// Close the session when the call ends (default: keep it after the call).
        #[arg(long)]
        close_with_call: bool,
        /// Call composer: why you call (at most 60 characters), shown while it rings.
        #[arg(long)]
        subject: Option<String>,
        /// Call composer: mark the call urgent.
        #[arg(long)]
        urgent: bool,
        /// Call composer: a picture (uploaded first).
        #[arg(long, value_name = "FILE")]
        picture: Option<PathBuf>,
        /// Call composer: where you are, as LAT,LON.
        #[arg(long, value_name = "LAT,LON", allow_hyphen_values = true)]
        at: Option<String>,
    },
    /// Leave a note or picture after a call you made went unanswered.
    Note {
        /// The leg id (`leg_…`) of the unanswered call, printed by `call`.
        leg: String,
        /// The note's text, at most 500 characters.
        #[arg(long)]
        text: Option<String>,
        /// A picture to leave, an image file (uploaded first).
        #[arg(long, value_name = "FILE")]
        picture: Option<PathBuf>,
    },
    /// Composer data and notes left for this device's numbers, newest first.
    CallLog,
    /// Receive a call: report the incoming leg and wait for the match.
    #[command(group(ArgGroup::new("caller").required(true).args(["from", "withheld"])))]
    Incoming {
        /// The caller's number as shown.
        #[arg(long)]
        from: Option<String>,
        /// The caller withheld their number.
        #[arg(long)]
        withheld: bool,
        /// Our own number (default: the device's only number).
        #[arg(long)]
        own: Option<String>,
        /// How long to wait for the match, in seconds; then the leg is withdrawn and the command
        /// fails. 0 reports the leg and returns at once, leaving it pending.
        #[arg(long, default_value_t = 30)]
        wait: u64,
    },
    /// The call on this leg was answered.
    Answer {
        /// The leg id (`leg_…`), printed by `call` and `incoming`.
        leg: String,
    },
    /// Hang up: withdraw a pending leg, or end the call of a matched one.
    Hangup {
        /// The leg id (`leg_…`), printed by `call` and `incoming`.
        leg: String,
    },
    /// List sessions.
    Sessions {
        /// Include closed sessions.
        #[arg(long)]
        all: bool,
    },
    /// Read a session's log.
    Messages {
        /// The session key (`sk_…`), printed when a call pairs.
        session: String,
        /// Only messages after this sequence number.
        #[arg(long)]
        after: Option<u64>,
        /// At most this many.
        #[arg(long)]
        limit: Option<u32>,
        /// Wait up to this many seconds for a new message.
        #[arg(long)]
        wait: Option<u64>,
    },
    /// Send a text message.
    Send {
        /// The session key (`sk_…`), printed when a call pairs.
        session: String,
        /// The message text.
        text: String,
    },
    /// Upload a file and send it.
    SendFile {
        /// The session key (`sk_…`), printed when a call pairs.
        session: String,
        /// The file to send.
        path: PathBuf,
    },
    /// Send an `app/<NAME>` message with a JSON object body.
    App {
        /// The session key (`sk_…`), printed when a call pairs.
        session: String,
        /// The application name: `order-status` sends kind `app/order-status`.
        name: String,
        /// The body, a JSON object.
        #[arg(value_name = "JSON")]
        body: String,
    },
    /// Click-to-dial through the SIP proxy: your phone rings first, then the other number.
    Dial {
        /// The number to call.
        to: String,
        /// Your number that rings first (default: the device's only number).
        #[arg(long)]
        own: Option<String>,
    },
    /// Whether this device gets the sessions of calls the network reports for its numbers:
    /// always, when-near (only after `near`), or never.
    Coupling {
        /// The new mode; without it the current one is shown.
        #[arg(value_parser = ["always", "when-near", "never"])]
        mode: Option<String>,
    },
    /// This device is near its phone for the next SECS seconds (0: it left).
    Near {
        /// For how many seconds the device counts as near.
        secs: u64,
    },
    /// A one-time code that links a browser to this device: the browser then acts as the device
    /// with short-lived tokens of its own, never this device's token.
    LinkBrowser,
    /// The browsers linked to this device.
    Browsers,
    /// Unlink a browser: its tokens stop working and its open pages are disconnected.
    UnlinkBrowser {
        /// The browser's id (as `browsers` lists it).
        id: String,
    },
    /// Move this device's place in a session to another device of the same user.
    Transfer {
        /// The session key (`sk_…`), printed when a call pairs.
        session: String,
        /// The device id to move to (it must share a number with this one).
        device: String,
    },
    /// Activate a region of a screen an automated system showed on a session.
    Press {
        /// The session key (`sk_…`), printed when a call pairs.
        session: String,
        /// The screen's id (as `watch` prints it).
        screen: String,
        /// The region's id.
        region: String,
        /// What goes with it, a JSON object (e.g. the table chosen).
        #[arg(long, value_name = "JSON")]
        value: Option<String>,
    },
    /// Say whether those who join a session later may read what was sent before they joined
    /// (they do only if someone shares and nobody withholds).
    History {
        /// The session key (`sk_…`), printed when a call pairs.
        session: String,
        /// `share` or `withhold` what was sent before, or `clear` to withdraw your word.
        #[arg(value_parser = ["share", "withhold", "clear"])]
        consent: String,
    },
    /// Share a position on a session.
    Location {
        /// The session key (`sk_…`), printed when a call pairs.
        session: String,
        /// Latitude in degrees, -90 to 90 (e.g. 51.5007).
        #[arg(long, allow_hyphen_values = true)]
        lat: f64,
        /// Longitude in degrees, -180 to 180 (e.g. -0.1246).
        #[arg(long, allow_hyphen_values = true)]
        lon: f64,
        /// Uncertainty radius in metres.
        #[arg(long)]
        accuracy: Option<f64>,
        /// One of a stream of live updates (at most one a second).
        #[arg(long)]
        live: bool,
        /// The location request this answers.
        #[arg(long)]
        answers: Option<String>,
    },
    /// Ask the others on a session for their position.
    Locate {
        /// The session key (`sk_…`), printed when a call pairs.
        session: String,
        /// Give up after this many seconds (5-300): the server then says `not_possible`.
        #[arg(long, default_value_t = 30)]
        timeout: u32,
    },
    /// The component catalogue.
    Components,
    /// Declare what this device can do: features and installed components (replaces).
    Capabilities {
        /// A feature, e.g. location.share, location.view, image.view (repeat the flag).
        #[arg(long = "feature", value_name = "NAME")]
        features: Vec<String>,
        /// An installed component as ID=VERSION (repeat the flag).
        #[arg(long = "component", value_name = "ID=VERSION")]
        components: Vec<String>,
        /// Only show the current declaration.
        #[arg(long, conflicts_with_all = ["features", "components"])]
        show: bool,
    },
    /// The capability check: what the others on a session declared, or (with --ask) a
    /// capability/query the other devices answer.
    Capable {
        /// The session key (`sk_…`), printed when a call pairs.
        session: String,
        /// Ask the devices (capability/query) for these features instead of reading the
        /// registry.
        #[arg(long, value_name = "FEATURE")]
        ask: Vec<String>,
        /// With --ask: also ask for these component ids.
        #[arg(long = "ask-component", value_name = "ID")]
        ask_components: Vec<String>,
        /// With --ask: the server says `no_answer` after this many seconds (5-300).
        #[arg(long, default_value_t = 30)]
        timeout: u32,
    },
    /// Offer a catalogue component to the others on a session.
    Offer {
        /// The session key (`sk_…`), printed when a call pairs.
        session: String,
        /// The component id (e.g. com.example.menu).
        component: String,
        /// Consent to this fee (as AMOUNT CURRENCY, e.g. "2.50 GBP") when the component costs
        /// something; without it the stated fee is shown and nothing is sent.
        #[arg(long, value_name = "AMOUNT CURRENCY")]
        consent: Option<String>,
    },
    /// Confirm the installation of an offered component.
    #[command(disable_version_flag = true)]
    Installed {
        /// The session key (`sk_…`), printed when a call pairs.
        session: String,
        /// The component id (e.g. com.example.menu).
        component: String,
        /// The version installed, 1-32 visible ASCII characters (e.g. 1.4.2).
        version: String,
    },
    /// Offer a component to the other party of a call only this device reported (their devices
    /// are invited; a number without them gets an SMS link when the server allows).
    OfferOnCall {
        /// The leg id (`leg_…`), printed by `call` and `incoming`.
        leg: String,
        /// The component id (e.g. com.example.menu).
        component: String,
    },
    /// Close a session for everyone.
    Close {
        /// The session key (`sk_…`), printed when a call pairs.
        session: String,
    },
    /// Download a blob to a file.
    Download {
        /// The file's id, `sha256:<hex>` (the `blob` of a file message).
        blob: String,
        /// Where to write it.
        path: PathBuf,
    },
    /// Prove a number by SMS: prints the SMS to send, then reads the SMS received back from
    /// stdin (paste it, or pipe it) and completes the proof.
    RegisterSms {
        /// Give up after this many seconds without the SMS.
        #[arg(long, default_value_t = 600)]
        timeout: u64,
        /// Send the SMS with this command instead of by hand: it runs through `sh -c` with the
        /// number to send to and the text as two more arguments, and the proof SMS it prints
        /// (`CS1 S …`) completes the proof, e.g. `scripts/peers kannel-phone ./kannel
        /// +447400123456` as the phone of the README's tour.
        #[arg(long, value_name = "COMMAND")]
        send_with: Option<String>,
    },
    /// Complete a proof started earlier with the SMS received (non-interactive form).
    CompleteSms {
        /// The proof id printed when it started.
        #[arg(long)]
        proof: String,
        /// The code printed when it started (it may begin with `-`).
        #[arg(long, allow_hyphen_values = true)]
        code: String,
        /// The text of the SMS received.
        #[arg(allow_hyphen_values = true)]
        sms: String,
    },
    /// Invite every device of a number into a session (a new one, or `--session`).
    Invite {
        /// The invitee's number.
        number: String,
        /// Invite into this existing session.
        #[arg(long)]
        session: Option<String>,
        /// Wait this many seconds for the answer (0: return at once).
        #[arg(long, default_value_t = 0)]
        wait: u64,
    },
    /// Invitations ringing on this device.
    Invitations,
    /// Accept an invitation: this device joins its session.
    Accept {
        /// The invitation id (`inv_…`).
        invitation: String,
    },
    /// Decline an invitation (for every device of this number).
    Decline {
        /// The invitation id (`inv_…`).
        invitation: String,
    },
    /// Withdraw an invitation you sent.
    CancelInvitation {
        /// The invitation id (`inv_…`).
        invitation: String,
    },
    /// Show this device's card (the data the other side gets when a call pairs).
    Card {
        /// `json` (default), `vcard` (vCard 4.0) or `jcard`.
        #[arg(long, default_value = "json")]
        format: String,
    },
    /// Replace this device's card from a file: vCard 4.0 (`.vcf`), jCard or callside JSON
    /// (`{"fields": [...]}`).
    CardImport {
        /// A vCard 4.0, jCard or callside JSON file.
        path: PathBuf,
    },
    /// Show the audiences: which counterparts receive which card fields.
    Audiences,
    /// Add or replace one audience.
    AudienceSet {
        /// The audience's name, 1-64 characters (e.g. family); one so named is replaced.
        name: String,
        /// A member number or E.164 prefix (repeat).
        #[arg(long = "member", required = true)]
        members: Vec<String>,
        /// A field kind the audience receives: name, photo, organization, title, email, phone,
        /// address, birthday, url, social, note (repeat).
        #[arg(long = "field", required = true)]
        fields: Vec<String>,
    },
    /// Ask for a validation mail for an email address.
    EmailAdd {
        /// The address (alice@example.com).
        email: String,
    },
    /// Complete an email validation with the token from the mail.
    EmailComplete {
        /// The validation id printed by `email-add`.
        validation: String,
        /// The token from the validation mail (it may begin with `-`).
        #[arg(value_name = "MAIL_TOKEN", allow_hyphen_values = true)]
        mail_token: String,
    },
    /// Validate an address without the user copying anything: ask for the mail, find it
    /// in the user's mailbox over IMAP, submit its token.
    EmailAuto {
        /// The address (alice@example.com).
        email: String,
        /// The IMAP server of the mailbox the mail arrives in (e.g. imap.example.com).
        #[arg(long)]
        imap_host: String,
        /// The IMAP server's port (993 is IMAP over TLS).
        #[arg(long, default_value_t = 993)]
        imap_port: u16,
        /// The mailbox's IMAP user name (often the address itself).
        #[arg(long)]
        imap_user: String,
        /// The mailbox's IMAP password (set it in the environment to keep it out of `ps`).
        #[arg(long, env = "CALLSIDE_IMAP_PASSWORD", hide_env_values = true)]
        imap_password: String,
        /// Plain IMAP without TLS (only for a mail server on this machine).
        #[arg(long)]
        imap_plain: bool,
        /// How long to wait for the mail, in seconds.
        #[arg(long, default_value_t = 120)]
        wait: u64,
    },
    /// Everything callside keeps about this device: a summary, or with --output the whole
    /// export as JSON (the operator erases a device's data with `callside admin device erase`).
    Export {
        /// Write the whole export to this file (JSON).
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Remove one of this device's email addresses.
    EmailRemove {
        /// The address (alice@example.com).
        email: String,
    },
    /// Register a push subscription so this device is woken while it is not connected.
    #[command(group(ArgGroup::new("kind").required(true).args(["web_push", "apns", "fcm"])))]
    PushRegister {
        /// A Web Push endpoint URL (with --p256dh and --auth from the browser's subscription).
        #[arg(long, requires_all = ["p256dh", "auth"])]
        web_push: Option<String>,
        /// The subscription's `p256dh` key, base64url (a P-256 public key).
        #[arg(long)]
        p256dh: Option<String>,
        /// The subscription's `auth` secret, base64url (16 bytes).
        #[arg(long)]
        auth: Option<String>,
        /// An APNs device token (hex).
        #[arg(long)]
        apns: Option<String>,
        /// The APNs topic: the app's bundle id (e.g. com.example.phone), one the server is
        /// configured for; may be left out when it serves one app.
        #[arg(long, requires = "apns")]
        topic: Option<String>,
        /// The APNs token is from the development environment.
        #[arg(long)]
        sandbox: bool,
        /// An FCM registration token.
        #[arg(long)]
        fcm: Option<String>,
    },
    /// This device's push subscriptions and the server's VAPID public key.
    PushList,
    /// Remove a push subscription.
    PushDelete {
        /// The subscription id (from `push-list`).
        id: String,
    },
    /// STUN/TURN servers with short-lived TURN credentials for direct or relayed connections.
    ConnectionData,
    /// Give up one of this device's numbers.
    RemoveNumber {
        /// The number, in international form (+442079460001).
        number: String,
    },
    /// Replace this device's token; prints the new one (the old one stops working at once).
    RotateToken,
    /// With an app's enrolment token (`--token`), create a device with no number yet; prints
    /// the new device's token, shown only once.
    Enroll {
        /// A label for the device.
        #[arg(long)]
        name: String,
    },
    /// Stay connected and print every event; messages are acknowledged after printing.
    Watch {
        /// Save files received into this directory.
        #[arg(long, value_name = "DIR")]
        save_dir: Option<PathBuf>,
        /// Exit after this many messages.
        #[arg(long, value_name = "N")]
        exit_after: Option<u64>,
        /// Exit once a message of this kind has arrived: `screen` (an automated system's
        /// screen), `text`, `file`, `app/<name>`…
        #[arg(long, value_name = "KIND")]
        until: Option<String>,
    },
}
