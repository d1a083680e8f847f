//! `callside phone …`: a scriptable phone app for one device token.

use anyhow::{bail, Context};
use callside_client::proto::admin::Me;
use callside_client::proto::call::{Direction, LegState, LegStatus, ReportLeg};
use callside_client::proto::message::{FileBody, Message};
use callside_client::proto::session::Lifecycle;
use callside_client::{Channel, Client, Event, MessageQuery};
use clap::{ArgGroup, Args, Subcommand};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::output::Output;
use crate::render::{self, Names};

#[derive(Debug, Args)]
pub(crate) struct PhoneArgs {
    /// The server's base URL.
    #[arg(long, env = "CALLSIDE_SERVER", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// This device's token.
    #[arg(long, env = "CALLSIDE_TOKEN", hide_env_values = true)]
    token: String,
    #[command(subcommand)]
    command: PhoneCommand,
}

#[derive(Debug, Subcommand)]
enum PhoneCommand {
    /// Who this token belongs to.
    Whoami,
    /// Place a call: report the outgoing leg and wait for the other party's app.
    Call {
        /// The number called.
        number: String,
        /// Our own number (default: the device's only number).
        #[arg(long = "from", value_name = "OWN")]
        own: Option<String>,
        /// How long to wait for the match, in seconds.
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
        leg: String,
        #[arg(long)]
        text: Option<String>,
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
        /// How long to wait for the match, in seconds.
        #[arg(long, default_value_t = 30)]
        wait: u64,
    },
    /// The call on this leg was answered.
    Answer { leg: String },
    /// Hang up: withdraw a pending leg, or end the call of a matched one.
    Hangup { leg: String },
    /// List sessions.
    Sessions {
        /// Include closed sessions.
        #[arg(long)]
        all: bool,
    },
    /// Read a session's log.
    Messages {
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
    Send { session: String, text: String },
    /// Upload a file and send it.
    SendFile { session: String, path: PathBuf },
    /// Send an `app/<NAME>` message with a JSON object body.
    App {
        session: String,
        /// The application name: `order-status` sends kind `app/order-status`.
        name: String,
        /// The body, a JSON object.
        #[arg(value_name = "JSON")]
        body: String,
    },
    /// Move this device's place in a session to another device of the same user.
    Transfer {
        session: String,
        /// The device id to move to (it must share a number with this one).
        device: String,
    },
    /// Say whether those who join a session later may read what was sent before they joined
    /// (they do only if someone shares and nobody withholds).
    History {
        session: String,
        #[arg(value_parser = ["share", "withhold", "clear"])]
        consent: String,
    },
    /// Share a position on a session (S1-F9/F10).
    Location {
        session: String,
        #[arg(long, allow_hyphen_values = true)]
        lat: f64,
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
        session: String,
        /// Give up after this many seconds (5-300): the server then says `not_possible`.
        #[arg(long, default_value_t = 30)]
        timeout: u32,
    },
    /// The component catalogue (S1-F6).
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
    /// Offer a catalogue component to the others on a session (S1-F6/F8).
    Offer {
        session: String,
        component: String,
        /// Consent to this fee (as AMOUNT CURRENCY, e.g. "2.50 GBP") when the component costs
        /// something; without it the stated fee is shown and nothing is sent.
        #[arg(long, value_name = "AMOUNT CURRENCY")]
        consent: Option<String>,
    },
    /// Confirm the installation of an offered component.
    #[command(disable_version_flag = true)]
    Installed {
        session: String,
        component: String,
        version: String,
    },
    /// Offer a component to the other party of a call only this device reported (their devices
    /// are invited; a number without them gets an SMS link when the server allows).
    OfferOnCall { leg: String, component: String },
    /// Close a session for everyone.
    Close { session: String },
    /// Download a blob to a file.
    Download { blob: String, path: PathBuf },
    /// Prove a number by SMS: prints the SMS to send, then reads the SMS received back from
    /// stdin (paste it, or pipe it) and completes the proof.
    RegisterSms {
        /// Give up after this many seconds without the SMS.
        #[arg(long, default_value_t = 600)]
        timeout: u64,
    },
    /// Complete a proof started earlier with the SMS received (non-interactive form).
    CompleteSms {
        /// The proof id printed when it started.
        #[arg(long)]
        proof: String,
        /// The code printed when it started.
        #[arg(long)]
        code: String,
        /// The text of the SMS received.
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
    Accept { invitation: String },
    /// Decline an invitation (for every device of this number).
    Decline { invitation: String },
    /// Withdraw an invitation you sent.
    CancelInvitation { invitation: String },
    /// Show this device's card (the data the other side gets when a call pairs).
    Card {
        /// `json` (default), `vcard` (vCard 4.0) or `jcard`.
        #[arg(long, default_value = "json")]
        format: String,
    },
    /// Replace this device's card from a file: vCard 4.0 (`.vcf`), jCard or callside JSON
    /// (`{"fields": [...]}`).
    CardImport { path: PathBuf },
    /// Show the audiences: which counterparts receive which card fields.
    Audiences,
    /// Add or replace one audience.
    AudienceSet {
        name: String,
        /// A member number or E.164 prefix (repeat).
        #[arg(long = "member", required = true)]
        members: Vec<String>,
        /// A field kind the audience receives: name, photo, organization, title, email, phone,
        /// address, birthday, url, social, note (repeat).
        #[arg(long = "field", required = true)]
        fields: Vec<String>,
    },
    /// Ask for a validation mail for an email address (S2-E).
    EmailAdd { email: String },
    /// Complete an email validation with the token from the mail.
    EmailComplete {
        /// The validation id printed by `email-add`.
        validation: String,
        token: String,
    },
    /// Validate an address without the user copying anything (S2-V): ask for the mail, find it
    /// in the user's mailbox over IMAP, submit its token.
    EmailAuto {
        email: String,
        #[arg(long)]
        imap_host: String,
        #[arg(long, default_value_t = 993)]
        imap_port: u16,
        #[arg(long)]
        imap_user: String,
        #[arg(long, env = "CALLSIDE_IMAP_PASSWORD", hide_env_values = true)]
        imap_password: String,
        /// Plain IMAP without TLS (only for a mail server on this machine).
        #[arg(long)]
        imap_plain: bool,
        /// How long to wait for the mail, in seconds.
        #[arg(long, default_value_t = 120)]
        wait: u64,
    },
    /// Remove one of this device's email addresses.
    EmailRemove { email: String },
    /// Register a push subscription so this device is woken while it is not connected.
    #[command(group(ArgGroup::new("kind").required(true).args(["web_push", "apns", "fcm"])))]
    PushRegister {
        /// A Web Push endpoint URL (with --p256dh and --auth from the browser's subscription).
        #[arg(long, requires_all = ["p256dh", "auth"])]
        web_push: Option<String>,
        #[arg(long)]
        p256dh: Option<String>,
        #[arg(long)]
        auth: Option<String>,
        /// An APNs device token (hex), with --topic (the app's bundle id).
        #[arg(long, requires = "topic")]
        apns: Option<String>,
        #[arg(long)]
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
    PushDelete { id: String },
    /// STUN/TURN servers with short-lived TURN credentials for direct or relayed connections.
    ConnectionData,
    /// Give up one of this device's numbers.
    RemoveNumber { number: String },
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
    },
}

pub(crate) async fn run(args: PhoneArgs, out: &Output) -> anyhow::Result<()> {
    let client = Client::new(&args.server, &args.token)?;
    match args.command {
        PhoneCommand::Whoami => {
            let me = client.me().await?;
            out.result(&me, || {
                let mut s = format!("{} ({:?}) {}", me.id, me.kind, me.name);
                if !me.numbers.is_empty() {
                    s.push_str(&format!("\nnumbers: {}", me.numbers.join(", ")));
                }
                if !me.emails.is_empty() {
                    s.push_str(&format!("\nemails: {}", me.emails.join(", ")));
                }
                if !me.ranges.is_empty() {
                    s.push_str(&format!(
                        "\nscopes: {:?}\nranges: {}",
                        me.scopes,
                        me.ranges.join(", ")
                    ));
                }
                s
            });
        }
        PhoneCommand::Call {
            number,
            own,
            wait,
            close_with_call,
            subject,
            urgent,
            picture,
            at,
        } => {
            let own = own_number(&client, own).await?;
            let mut leg = ReportLeg::new(own, Some(number), Direction::Outgoing);
            leg.lifecycle = close_with_call.then_some(Lifecycle::CloseWithCall);
            if subject.is_some() || urgent || picture.is_some() || at.is_some() {
                use callside_client::proto::call::{Composer, Importance, Place};
                let picture = match picture {
                    Some(p) => Some(client.upload_file(&p).await?.id),
                    None => None,
                };
                let location = match at {
                    Some(a) => {
                        let (lat, lon) = a
                            .split_once(',')
                            .context("--at takes LAT,LON, e.g. 51.5007,-0.1246")?;
                        Some(Place {
                            lat: lat.trim().parse().context("--at: a latitude in degrees")?,
                            lon: lon.trim().parse().context("--at: a longitude in degrees")?,
                            accuracy_m: None,
                        })
                    }
                    None => None,
                };
                leg.composer = Some(Composer {
                    subject,
                    importance: if urgent {
                        Importance::Urgent
                    } else {
                        Importance::Normal
                    },
                    picture,
                    location,
                });
            }
            report_and_wait(&client, &leg, wait, out).await?;
        }
        PhoneCommand::Incoming {
            from,
            withheld,
            own,
            wait,
        } => {
            let own = own_number(&client, own).await?;
            let other = if withheld { None } else { from };
            let leg = ReportLeg::new(own, other, Direction::Incoming);
            report_and_wait(&client, &leg, wait, out).await?;
        }
        PhoneCommand::RegisterSms { timeout } => register_sms(&client, timeout, out).await?,
        PhoneCommand::CompleteSms { proof, code, sms } => {
            let proven = client.complete_number_proof(&proof, &code, &sms).await?;
            out.result(&proven, || {
                format!("{} is now a number of this device", proven.number)
            });
        }
        PhoneCommand::Invite {
            number,
            session,
            wait,
        } => invite(&client, number, session, wait, out).await?,
        PhoneCommand::Transfer { session, device } => {
            let info = client.transfer_session(&session, &device).await?;
            out.result(&info, || format!("session {} moved to {device}", info.key));
        }
        PhoneCommand::History { session, consent } => {
            use callside_client::proto::session::History;
            let word = match consent.as_str() {
                "share" => Some(History::Share),
                "withhold" => Some(History::Withhold),
                _ => None,
            };
            let info = client.set_history(&session, word).await?;
            out.result(&info, || match word {
                Some(_) => format!("session {}: history set to {consent}", info.key),
                None => format!("session {}: word on history withdrawn", info.key),
            });
        }
        PhoneCommand::Location {
            session,
            lat,
            lon,
            accuracy,
            live,
            answers,
        } => {
            let body = serde_json::json!({
                "lat": lat, "lon": lon, "accuracy_m": accuracy, "live": live, "request": answers,
            });
            let body = serde_json::Value::Object(
                body.as_object()
                    .expect("an object")
                    .iter()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            );
            let accepted = client
                .send_message(
                    &session,
                    &callside_client::proto::message::SendMessage {
                        id: callside_client::new_message_id(),
                        kind: "location".into(),
                        body,
                    },
                )
                .await?;
            out.result(&accepted, || format!("location sent (#{})", accepted.seq));
        }
        PhoneCommand::Locate { session, timeout } => {
            let request = callside_client::new_message_id();
            let accepted = client
                .send_message(
                    &session,
                    &callside_client::proto::message::SendMessage {
                        id: callside_client::new_message_id(),
                        kind: "location/request".into(),
                        body: serde_json::json!({"request": request, "timeout_secs": timeout}),
                    },
                )
                .await?;
            out.result(
                &serde_json::json!({"request": request, "seq": accepted.seq}),
                || format!("asked for a location (request {request}); answers arrive as messages"),
            );
        }
        PhoneCommand::Components => {
            let list = client.components().await?;
            crate::render::print_components(out, &list);
        }
        PhoneCommand::Capabilities {
            features,
            components,
            show,
        } => {
            let caps = if show {
                client.capabilities().await?
            } else {
                let mut installed = Vec::new();
                for c in components {
                    let (id, version) = c.split_once('=').ok_or_else(|| {
                        anyhow::anyhow!("--component takes ID=VERSION, e.g. com.example.menu=1.2")
                    })?;
                    installed.push(callside_client::proto::component::InstalledComponent {
                        id: id.to_owned(),
                        version: version.to_owned(),
                    });
                }
                client
                    .declare_capabilities(&callside_client::proto::component::Capabilities {
                        features,
                        components: installed,
                    })
                    .await?
            };
            out.result(&caps, || render::capabilities_line(&caps));
        }
        PhoneCommand::Capable {
            session,
            ask,
            ask_components,
            timeout,
        } => {
            if ask.is_empty() && ask_components.is_empty() {
                let caps = client.session_capabilities(&session).await?;
                if out.is_json() {
                    out.json_line(&caps);
                } else {
                    for p in &caps.participants {
                        let who = p.number.as_deref().unwrap_or(&p.participant);
                        if p.declared {
                            out.text(&format!(
                                "{who}: {}",
                                render::capabilities_line(
                                    &callside_client::proto::component::Capabilities {
                                        features: p.features.clone(),
                                        components: p.components.clone(),
                                    }
                                )
                            ));
                        } else {
                            out.text(&format!("{who}: declared nothing (ask with --ask FEATURE)"));
                        }
                    }
                }
            } else {
                let request = callside_client::new_message_id();
                let accepted = client
                    .send_message(
                        &session,
                        &callside_client::proto::message::SendMessage {
                            id: callside_client::new_message_id(),
                            kind: "capability/query".into(),
                            body: serde_json::json!({
                                "request": request, "features": ask,
                                "components": ask_components, "timeout_secs": timeout,
                            }),
                        },
                    )
                    .await?;
                out.result(
                    &serde_json::json!({"request": request, "seq": accepted.seq}),
                    || format!("asked the others (request {request}); answers arrive as messages"),
                );
            }
        }
        PhoneCommand::Offer {
            session,
            component,
            consent,
        } => {
            let consent = match consent {
                Some(c) => {
                    let (amount, currency) = c.trim().split_once(' ').ok_or_else(|| {
                        anyhow::anyhow!("--consent takes AMOUNT CURRENCY, e.g. \"2.50 GBP\"")
                    })?;
                    Some(callside_client::proto::component::Fee {
                        amount: amount.to_owned(),
                        currency: currency.trim().to_owned(),
                    })
                }
                None => None,
            };
            let offer = client
                .offer_component(&session, &component, consent)
                .await?;
            out.result(&offer, || render::offer_line(&offer));
        }
        PhoneCommand::Installed {
            session,
            component,
            version,
        } => {
            client
                .confirm_installed(&session, &component, &version)
                .await?;
            out.result(
                &serde_json::json!({"component": component, "version": version}),
                || format!("confirmed: {component} {version} is installed"),
            );
        }
        PhoneCommand::OfferOnCall { leg, component } => {
            let i = client.offer_component_on_leg(&leg, &component).await?;
            out.result(&i, || render::invitation_line(&i));
        }
        PhoneCommand::Invitations => {
            let list = client.ringing_invitations().await?;
            if out.is_json() {
                list.iter().for_each(|i| out.json_line(i));
            } else if list.is_empty() {
                out.text("no invitations ringing");
            } else {
                list.iter()
                    .for_each(|i| out.text(&render::invitation_line(i)));
            }
        }
        PhoneCommand::Accept { invitation } => {
            let i = client
                .accept_invitation(&invitation, &Default::default())
                .await?;
            out.result(&i, || render::invitation_line(&i));
        }
        PhoneCommand::Decline { invitation } => {
            let i = client.decline_invitation(&invitation).await?;
            out.result(&i, || render::invitation_line(&i));
        }
        PhoneCommand::CancelInvitation { invitation } => {
            let i = client.cancel_invitation(&invitation).await?;
            out.result(&i, || render::invitation_line(&i));
        }
        PhoneCommand::Card { format } => match format.as_str() {
            "vcard" => print!("{}", client.card_as("text/vcard").await?),
            "jcard" => println!("{}", client.card_as("application/vcard+json").await?),
            "json" => {
                let card = client.card().await?;
                out.result(&card, || render::card_lines(&card.fields));
            }
            other => bail!("unknown format `{other}`: use json, vcard or jcard"),
        },
        PhoneCommand::CardImport { path } => {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let trimmed = text.trim_start();
            let card = if trimmed.starts_with("BEGIN:VCARD") || trimmed.starts_with("begin:vcard") {
                client.import_card("text/vcard", text).await?
            } else if trimmed.starts_with("[") {
                client.import_card("application/vcard+json", text).await?
            } else {
                let put: callside_client::proto::card::PutCard = serde_json::from_str(&text)
                    .with_context(|| {
                        format!("{} is not a vCard, jCard or callside card", path.display())
                    })?;
                client.put_card(&put).await?
            };
            out.result(&card, || render::card_lines(&card.fields));
        }
        PhoneCommand::Audiences => {
            let a = client.audiences().await?;
            out.result(&a, || {
                let mut s = a
                    .audiences
                    .iter()
                    .map(|x| format!("{}: {} get {:?}", x.name, x.members.join(", "), x.fields))
                    .collect::<Vec<_>>()
                    .join("\n");
                s.push_str(&format!("\neveryone else gets {:?}", a.default_fields));
                s
            });
        }
        PhoneCommand::AudienceSet {
            name,
            members,
            fields,
        } => {
            let mut a = client.audiences().await?;
            let fields = fields
                .iter()
                .map(|f| serde_json::from_value(serde_json::Value::String(f.clone())))
                .collect::<Result<Vec<_>, _>>()
                .context("unknown field kind")?;
            a.audiences.retain(|x| x.name != name);
            a.audiences.push(callside_client::proto::card::Audience {
                name,
                members,
                fields,
            });
            let a = client.put_audiences(&a).await?;
            out.result(&a, || format!("{} audience(s) set", a.audiences.len()));
        }
        PhoneCommand::EmailAdd { email } => {
            let v = client.add_email(&email).await?;
            out.result(&v, || {
                format!(
                    "validation {} sent to {}; enter the token from the mail with `email-complete {} <token>`",
                    v.id, v.email, v.id
                )
            });
        }
        PhoneCommand::EmailComplete { validation, token } => {
            let v = client.complete_email(&validation, &token).await?;
            out.result(&v, || {
                format!("{} is now an address of this device", v.email)
            });
        }
        PhoneCommand::EmailAuto {
            email,
            imap_host,
            imap_port,
            imap_user,
            imap_password,
            imap_plain,
            wait,
        } => {
            let account = callside_client::email::ImapAccount {
                host: imap_host,
                port: imap_port,
                user: imap_user,
                password: imap_password,
                tls: !imap_plain,
            };
            out.progress(&format!(
                "asking for a validation mail to {email} and watching the mailbox…"
            ));
            let v = client
                .validate_email_automatically(&email, &account, Duration::from_secs(wait))
                .await?;
            out.result(&v, || {
                format!("{} is now an address of this device", v.email)
            });
        }
        PhoneCommand::EmailRemove { email } => {
            client.remove_email(&email).await?;
            out.result(&serde_json::json!({"removed": email}), || {
                format!("{email} is no longer an address of this device")
            });
        }
        PhoneCommand::PushRegister {
            web_push,
            p256dh,
            auth,
            apns,
            topic,
            sandbox,
            fcm,
        } => {
            use callside_client::proto::push::PushSubscription as P;
            let sub = match (web_push, apns, fcm) {
                (Some(endpoint), _, _) => P::WebPush {
                    endpoint,
                    p256dh: p256dh.unwrap_or_default(),
                    auth: auth.unwrap_or_default(),
                },
                (_, Some(device_token), _) => P::Apns {
                    device_token,
                    topic: topic.unwrap_or_default(),
                    sandbox,
                },
                (_, _, Some(registration_token)) => P::Fcm { registration_token },
                _ => bail!("give --web-push, --apns or --fcm"),
            };
            let r = client.register_push(&sub).await?;
            out.result(&r, || {
                format!("push subscription {} ({:?})", r.id, r.provider)
            });
        }
        PhoneCommand::PushList => {
            let list = client.push_subscriptions().await?;
            out.result(&list, || {
                let mut s = match &list.vapid_public_key {
                    Some(k) => format!("VAPID public key: {k}"),
                    None => "no VAPID key".into(),
                };
                for r in &list.subscriptions {
                    s.push_str(&format!("\n{} {:?}", r.id, r.provider));
                }
                s
            });
        }
        PhoneCommand::PushDelete { id } => {
            client.delete_push(&id).await?;
            out.result(&serde_json::json!({"deleted": id}), || {
                format!("deleted {id}")
            });
        }
        PhoneCommand::ConnectionData => {
            let data = client.connection_data().await?;
            out.result(&data, || {
                if data.ice_servers.is_empty() {
                    return "no STUN/TURN servers are configured".into();
                }
                data.ice_servers
                    .iter()
                    .map(|s| match (&s.username, &s.credential) {
                        (Some(u), Some(c)) => {
                            format!("{}  username {u}  credential {c}", s.urls.join(" "))
                        }
                        _ => s.urls.join(" "),
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        PhoneCommand::RemoveNumber { number } => {
            client.remove_number(&number).await?;
            out.result(&serde_json::json!({"removed": number}), || {
                format!("{number} is no longer a number of this device")
            });
        }
        PhoneCommand::RotateToken => {
            let t = client.rotate_own_token().await?;
            out.result(&t, || t.token.clone());
            out.progress("the old token no longer works; keep this one (it is not shown again)");
        }
        PhoneCommand::Enroll { name } => {
            let created = client.enroll_device(&name).await?;
            out.result(&created, || {
                format!(
                    "device {} ({})\ntoken: {}",
                    created.device.id, created.device.name, created.token
                )
            });
            out.progress(
                "the token is shown only once; prove a number with `callside phone register-sms`",
            );
        }
        PhoneCommand::Note { leg, text, picture } => {
            let picture = match picture {
                Some(p) => Some(client.upload_file(&p).await?.id),
                None => None,
            };
            let n = client
                .leave_note(
                    &leg,
                    &callside_client::proto::call::PostCallNote { text, picture },
                )
                .await?;
            out.result(&n, || format!("note {} left for {}", n.id, n.to));
        }
        PhoneCommand::CallLog => {
            let log = client.call_log().await?;
            if out.is_json() {
                log.notes.iter().for_each(|n| out.json_line(n));
            } else if log.notes.is_empty() {
                out.text("the call log is empty");
            } else {
                log.notes
                    .iter()
                    .for_each(|n| out.text(&render::call_note_line(n)));
            }
        }
        PhoneCommand::Answer { leg } => {
            let status = client.answer_leg(&leg).await?;
            out.result(&status, || render::leg_line(&status));
        }
        PhoneCommand::Hangup { leg } => {
            let status = client.end_leg(&leg).await?;
            out.result(&status, || render::leg_line(&status));
        }
        PhoneCommand::Sessions { all } => {
            let sessions = client.sessions(all).await?;
            if out.is_json() {
                sessions.iter().for_each(|s| out.json_line(s));
            } else if sessions.is_empty() {
                out.text("no sessions");
            } else {
                sessions
                    .iter()
                    .for_each(|s| out.text(&render::session_line(s)));
            }
        }
        PhoneCommand::Messages {
            session,
            after,
            limit,
            wait,
        } => {
            let mut names = Names::default();
            if !out.is_json() {
                if let Ok(info) = client.session(&session).await {
                    names.learn(&info);
                }
            }
            let query = MessageQuery {
                after,
                limit,
                wait: wait.map(Duration::from_secs),
            };
            let page = client.messages(&session, query).await?;
            if out.is_json() {
                page.messages.iter().for_each(|m| out.json_line(m));
            } else {
                page.messages
                    .iter()
                    .for_each(|m| out.text(&render::message_line(m, &names)));
                out.progress(&format!(
                    "{} message(s); newest on the log is #{}",
                    page.messages.len(),
                    page.last_seq
                ));
            }
        }
        PhoneCommand::Send { session, text } => {
            let accepted = client.send_text(&session, &text).await?;
            out.result(&accepted, || format!("sent as #{}", accepted.seq));
        }
        PhoneCommand::SendFile { session, path } => {
            let name = file_name(&path)?;
            let blob = upload(&client, &path, out).await?;
            let accepted = client.send_file(&session, &blob.id, &name).await?;
            out.result(&accepted, || {
                format!(
                    "sent {name} ({}, {}) as #{}",
                    render::human_bytes(blob.size),
                    blob.mime,
                    accepted.seq
                )
            });
        }
        PhoneCommand::App {
            session,
            name,
            body,
        } => {
            let body: serde_json::Value =
                serde_json::from_str(&body).context("the body is not valid JSON")?;
            if !body.is_object() {
                bail!("the body of an app message must be a JSON object");
            }
            let kind = if name.starts_with("app/") {
                name
            } else {
                format!("app/{name}")
            };
            let accepted = client
                .send_message(
                    &session,
                    &callside_client::proto::message::SendMessage {
                        id: callside_client::new_message_id(),
                        kind: kind.clone(),
                        body,
                    },
                )
                .await?;
            out.result(&accepted, || format!("sent {kind} as #{}", accepted.seq));
        }
        PhoneCommand::Close { session } => {
            let info = client.close_session(&session).await?;
            out.result(&info, || format!("closed {}", render::session_line(&info)));
        }
        PhoneCommand::Download { blob, path } => {
            let written = download(&client, &blob, &path, out).await?;
            out.result(
                &serde_json::json!({ "blob": blob, "path": path, "size": written }),
                || {
                    format!(
                        "saved {} to {}",
                        render::human_bytes(written),
                        path.display()
                    )
                },
            );
        }
        PhoneCommand::Watch {
            save_dir,
            exit_after,
        } => watch(&client, save_dir, exit_after, out).await?,
    }
    Ok(())
}

/// `--own`/`--from` if given, else the device's only number.
pub(crate) async fn own_number(client: &Client, given: Option<String>) -> anyhow::Result<String> {
    if let Some(own) = given {
        return Ok(own);
    }
    let me: Me = client
        .me()
        .await
        .context("cannot ask the server who we are")?;
    match me.numbers.as_slice() {
        [only] => Ok(only.clone()),
        [] => bail!("{} has no numbers; pass our own number explicitly", me.id),
        many => bail!(
            "{} has {} numbers ({}); say which one with --from/--own",
            me.id,
            many.len(),
            many.join(", ")
        ),
    }
}

async fn report_and_wait(
    client: &Client,
    leg: &ReportLeg,
    wait: u64,
    out: &Output,
) -> anyhow::Result<()> {
    let other = leg.other.as_deref().unwrap_or("a withheld number");
    let what = match leg.direction {
        Direction::Outgoing => format!("calling {other} from {}", leg.own),
        Direction::Incoming => format!("call from {other} to {}", leg.own),
    };
    let spinner = out.spinner(format!("{what}: waiting for the other party's app"));
    let timeout = Duration::from_secs(wait);
    let started = tokio::time::Instant::now();
    let mut status = client.report_leg(leg, timeout).await?;
    if status.state == LegState::Pending {
        spinner.set_message(format!(
            "{what}: leg {} pending, waiting for the other party's app",
            status.id
        ));
        let left = timeout.saturating_sub(started.elapsed());
        status = client.wait_leg(&status.id, left).await?;
    }
    spinner.finish_and_clear();
    out.result(&status, || describe_outcome(&status));
    if status.state == LegState::Pending {
        out.progress(&format!(
            "still pending after {wait} s; check again with `callside phone watch`, or hang up with `callside phone hangup {}`",
            status.id
        ));
    }
    Ok(())
}

fn describe_outcome(status: &LegStatus) -> String {
    match (&status.state, &status.session) {
        (LegState::Matched, Some(session)) => {
            let others: Vec<String> = session
                .participants
                .iter()
                .filter(|p| p.number.as_deref() != Some(status.own.as_str()))
                .map(|p| match &p.number {
                    Some(n) => format!("{} ({n})", p.name),
                    None => p.name.clone(),
                })
                .collect();
            format!(
                "matched (leg {})\nsession: {}\nwith: {}",
                status.id,
                session.key,
                if others.is_empty() {
                    "?".to_owned()
                } else {
                    others.join(", ")
                }
            )
        }
        _ => render::leg_line(status),
    }
}

fn file_name(path: &Path) -> anyhow::Result<String> {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .with_context(|| format!("{} has no file name", path.display()))
}

pub(crate) async fn upload(
    client: &Client,
    path: &Path,
    out: &Output,
) -> anyhow::Result<callside_client::proto::blob::BlobInfo> {
    let total = tokio::fs::metadata(path)
        .await
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    let bar = out.bytes_bar(Some(total), format!("uploading {}", path.display()));
    let progress = bar.clone();
    let blob = client
        .upload_file_with_progress(path, move |sent, _| progress.set_position(sent))
        .await
        .with_context(|| format!("uploading {}", path.display()))?;
    bar.finish_and_clear();
    Ok(blob)
}

async fn download(client: &Client, blob: &str, path: &Path, out: &Output) -> anyhow::Result<u64> {
    let bar = out.bytes_bar(None, format!("downloading {blob}"));
    let written = client
        .download_to_with_progress(blob, path, |got, total| {
            if let Some(total) = total {
                if bar.length() != Some(total) {
                    bar.set_length(total);
                }
            }
            bar.set_position(got);
        })
        .await
        .with_context(|| format!("downloading {blob} to {}", path.display()))?;
    bar.finish_and_clear();
    Ok(written)
}

/// A path under `dir` for a received file: only its last component, never overwriting.
pub(crate) fn save_path(dir: &Path, name: &str, seq: u64) -> PathBuf {
    let base = Path::new(name)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| !n.is_empty() && n != "." && n != "..")
        .unwrap_or_else(|| format!("file-{seq}"));
    let candidate = dir.join(&base);
    if !candidate.exists() {
        return candidate;
    }
    dir.join(format!("{seq}-{base}"))
}

async fn watch(
    client: &Client,
    save_dir: Option<PathBuf>,
    exit_after: Option<u64>,
    out: &Output,
) -> anyhow::Result<()> {
    if let Some(dir) = &save_dir {
        tokio::fs::create_dir_all(dir)
            .await
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    out.progress(&format!("connecting to {} …", client.base_url()));
    let mut channel = Channel::connect(client).await?;
    let mut names = Names::default();
    let mut seen = 0u64;
    loop {
        let event = tokio::select! {
            event = channel.next_event() => event,
            _ = tokio::signal::ctrl_c() => {
                out.progress("interrupted");
                break;
            }
        };
        let Some(event) = event else {
            out.progress("the channel closed");
            break;
        };
        if out.is_json() {
            out.json_line(&event);
        } else {
            out.text(&render::event_line(&event, &mut names));
        }
        if let Event::Message(message) = &event {
            if let Some(dir) = &save_dir {
                save_file(client, message, dir, out).await;
            }
            channel.ack(&message.session, message.seq).await?;
            seen += 1;
            if exit_after.is_some_and(|n| seen >= n) {
                break;
            }
        }
    }
    channel.close().await;
    Ok(())
}

/// Saves a `file` message's blob into `dir` (problems are reported, not fatal).
async fn save_file(client: &Client, message: &Message, dir: &Path, out: &Output) {
    if message.kind != "file" {
        return;
    }
    let Ok(file) = serde_json::from_value::<FileBody>(message.body.clone()) else {
        out.progress(&format!(
            "#{}: a file message without a readable body",
            message.seq
        ));
        return;
    };
    let path = save_path(dir, &file.name, message.seq);
    match download(client, &file.blob, &path, out).await {
        Ok(size) => {
            if out.is_json() {
                out.json_line(&serde_json::json!({
                    "event": "saved", "session": message.session, "seq": message.seq,
                    "blob": file.blob, "path": path, "size": size,
                }));
            } else {
                out.text(&format!(
                    "  saved {} to {}",
                    render::human_bytes(size),
                    path.display()
                ));
            }
        }
        Err(e) => out.progress(&format!("  could not save {}: {e:#}", file.name)),
    }
}

/// S2-R from the device's side: start, show the SMS to send, wait for the SMS that comes back
/// on stdin, complete.
async fn register_sms(client: &Client, timeout: u64, out: &Output) -> anyhow::Result<()> {
    use tokio::io::AsyncBufReadExt as _;
    let proof = client.start_number_proof().await?;
    let (Some(text), Some(code)) = (&proof.sms_body, &proof.code) else {
        bail!("the server did not return the SMS to send");
    };
    out.result(
        &serde_json::json!({"event": "send_sms", "proof": proof.id, "to": proof.sms_to, "text": text, "code": code}),
        || format!("Send this SMS from the phone to prove its number.\n  to:   {}\n  text: {text}", proof.sms_to),
    );
    out.progress("then paste the SMS you receive back (a line containing `CS1 S …`):");
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    loop {
        let line = tokio::time::timeout_at(deadline, lines.next_line())
            .await
            .with_context(|| format!("no proof SMS within {timeout} s"))??;
        let Some(line) = line else {
            bail!("stdin ended before the proof SMS arrived");
        };
        if callside_client::proto::numbers::MtProof::parse(&line).is_err() {
            if !line.trim().is_empty() {
                out.progress("that is not the proof SMS (it contains `CS1 S <number> <signature>`); try again:");
            }
            continue;
        }
        let proven = client.complete_number_proof(&proof.id, code, &line).await?;
        out.result(
            &serde_json::json!({"event": "proven", "number": proven.number, "replaced": proven.replaced}),
            || format!("{} is now a number of this device", proven.number),
        );
        return Ok(());
    }
}

/// Sends an invitation; with `wait`, stays connected until it is answered, cancelled or expires.
async fn invite(
    client: &Client,
    number: String,
    session: Option<String>,
    wait: u64,
    out: &Output,
) -> anyhow::Result<()> {
    use callside_client::proto::invitation::{CreateInvitation, InvitationState};
    // Connect first, so no answer can slip between sending and listening.
    let mut channel = if wait > 0 {
        Some(Channel::connect(client).await?)
    } else {
        None
    };
    let inv = client
        .invite(&CreateInvitation {
            to: number,
            from: None,
            session,
            connection: None,
            component: None,
        })
        .await?;
    out.result(&inv, || render::invitation_line(&inv));
    let Some(channel) = channel.as_mut() else {
        return Ok(());
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
    loop {
        let event = tokio::time::timeout_at(deadline, channel.next_event())
            .await
            .with_context(|| format!("no answer within {wait} s"))?;
        match event {
            Some(Event::Invitation(i)) if i.id == inv.id && i.state != InvitationState::Pending => {
                out.result(&i, || render::invitation_line(&i));
                return Ok(());
            }
            Some(_) => {}
            None => bail!("the connection closed before the answer"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_files_stay_in_the_directory() {
        let dir = Path::new("/tmp/callside-save-test-nonexistent");
        assert_eq!(save_path(dir, "../../etc/passwd", 1), dir.join("passwd"));
        assert_eq!(save_path(dir, "..", 4), dir.join("file-4"));
        assert_eq!(save_path(dir, "photo.png", 2), dir.join("photo.png"));
    }
}
