//! `callside phone …`: a scriptable phone app for one device token.

use anyhow::{bail, Context};
use callside_client::proto::admin::Me;
use callside_client::proto::call::{Direction, LegState, LegStatus, ReportLeg};
use callside_client::proto::session::Lifecycle;
use callside_client::{Channel, Client, Event, MessageQuery};
use clap::Args;
use std::path::Path;
use std::time::Duration;

use crate::output::Output;
use crate::render::{self, Names};

mod browsers;
mod commands;
pub(crate) mod help;
mod proofs;
mod watch;

use commands::PhoneCommand;
pub(crate) use watch::save_path;

#[derive(Debug, Args)]
pub(crate) struct PhoneArgs {
    /// The server's base URL (before or after the subcommand).
    #[arg(
        long,
        global = true,
        env = "CALLSIDE_SERVER",
        hide_env_values = true,
        default_value = "http://127.0.0.1:8080"
    )]
    server: String,
    /// This device's token (before or after the subcommand).
    #[arg(long, global = true, env = "CALLSIDE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    #[command(subcommand)]
    command: PhoneCommand,
}

pub(crate) async fn run(args: PhoneArgs, out: &Output) -> anyhow::Result<()> {
    let Some(token) = args.token.as_deref() else {
        anyhow::bail!("no device token: give --token or set CALLSIDE_TOKEN (`callside admin device create` prints one)");
    };
    let client = Client::new(&args.server, token)?;
    match args.command {
        PhoneCommand::Whoami => {
            let me = client.me().await?;
            out.result(&me, || {
                let mut s = format!("{} ({}) {}", me.id, render::names(&me.kind), me.name);
                if !me.numbers.is_empty() {
                    s.push_str(&format!("\nnumbers: {}", me.numbers.join(", ")));
                }
                if !me.emails.is_empty() {
                    s.push_str(&format!("\nemails: {}", me.emails.join(", ")));
                }
                if !me.ranges.is_empty() {
                    s.push_str(&format!(
                        "\nscopes: {}\nranges: {}",
                        render::names(&me.scopes),
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
        PhoneCommand::Export { output } => {
            let data = client.export_own_data().await?;
            crate::admin::print_export(&data, output.as_deref(), out)?;
        }
        cmd @ (PhoneCommand::RegisterSms { .. }
        | PhoneCommand::CompleteSms { .. }
        | PhoneCommand::EmailAdd { .. }
        | PhoneCommand::EmailComplete { .. }
        | PhoneCommand::EmailAuto { .. }
        | PhoneCommand::EmailRemove { .. }) => proofs::run(&client, cmd, out).await?,
        PhoneCommand::Invite {
            number,
            session,
            wait,
        } => invite(&client, number, session, wait, out).await?,
        PhoneCommand::Dial { to, own } => {
            let placed = client.click_to_dial(own.as_deref(), &to).await?;
            out.result(&placed, || {
                format!(
                    "{} rings first; answer it to be connected to {}",
                    placed.from, placed.to
                )
            });
        }
        PhoneCommand::Coupling { mode } => {
            use callside_client::proto::admin::Coupling;
            let state = match mode.as_deref() {
                None => client.coupling().await?,
                Some(m) => {
                    let mode = match m {
                        "always" => Coupling::Always,
                        "when-near" => Coupling::WhenNear,
                        _ => Coupling::Never,
                    };
                    client.set_coupling(mode).await?
                }
            };
            out.result(&state, || coupling_text(&state));
        }
        PhoneCommand::LinkBrowser => browsers::link(&client, out).await?,
        PhoneCommand::Browsers => browsers::list(&client, out).await?,
        PhoneCommand::UnlinkBrowser { id } => browsers::unlink(&client, &id, out).await?,
        PhoneCommand::Near { secs } => {
            let state = client.near(secs).await?;
            out.result(&state, || coupling_text(&state));
        }
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
                if out.per_line() {
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
            if out.per_line() {
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
            "vcard" if out.is_json() => {
                anyhow::bail!("--format vcard prints a vCard, not JSON: drop --json, or use --format json or jcard")
            }
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
                    .map(|x| {
                        format!(
                            "{}: {} get {}",
                            x.name,
                            x.members.join(", "),
                            render::names(&x.fields)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                s.push_str(&format!(
                    "\neveryone else gets {}",
                    render::names(&a.default_fields)
                ));
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
                    topic,
                    sandbox,
                },
                (_, _, Some(registration_token)) => P::Fcm { registration_token },
                _ => bail!("give --web-push, --apns or --fcm"),
            };
            let r = client.register_push(&sub).await?;
            out.result(&r, || {
                format!(
                    "push subscription {} ({})",
                    r.id,
                    render::names(&r.provider)
                )
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
                    s.push_str(&format!("\n{} {}", r.id, render::names(&r.provider)));
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
            if out.per_line() {
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
            out.result(&status, || {
                format!("answered\n{}", render::leg_line(&status))
            });
        }
        PhoneCommand::Hangup { leg } => {
            let status = client.end_leg(&leg).await?;
            out.result(&status, || {
                let what = if status.state == LegState::NoMatch {
                    "hung up before anyone answered; the leg is withdrawn"
                } else {
                    "call ended"
                };
                format!("{what}\n{}", render::leg_line(&status))
            });
        }
        PhoneCommand::Sessions { all } => {
            let sessions = client.sessions(all).await?;
            if out.per_line() {
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
            if out.per_line() {
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
            let written = watch::download(&client, &blob, &path, out).await?;
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
            until,
        } => watch::watch(&client, save_dir, exit_after, until, out).await?,
        PhoneCommand::Press {
            session,
            screen,
            region,
            value,
        } => {
            let value = value
                .map(|v| serde_json::from_str::<serde_json::Value>(&v))
                .transpose()
                .context("--value is not JSON")?;
            let channel = Channel::connect(&client).await?;
            let accepted = channel
                .sender()
                .press(&session, &screen, &region, value)
                .await;
            channel.close().await;
            let accepted = accepted?;
            out.result(&accepted, || {
                format!("pressed {region} on {screen} (#{})", accepted.seq)
            });
        }
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
    // Reported at once, so the leg's id is known (and printed) before any waiting.
    let mut status = client.report_leg(leg, Duration::ZERO).await?;
    if status.state == LegState::Pending {
        if wait == 0 {
            out.result(&status, || describe_outcome(&status));
            out.progress(&format!(
                "leg {} is pending; it rings until the other party's app reports the call or the match window ends (hang up with `callside phone hangup {}`)",
                status.id, status.id
            ));
            return Ok(());
        }
        out.progress(&format!(
            "{what}: leg {} reported; waiting up to {wait} s for the other party's app (Ctrl-C withdraws it)",
            status.id
        ));
        let spinner = out.spinner(format!("{what}: waiting for the other party's app"));
        let waited = tokio::select! {
            s = client.wait_leg(&status.id, Duration::from_secs(wait)) => Some(s),
            _ = tokio::signal::ctrl_c() => None,
        };
        spinner.finish_and_clear();
        match waited {
            Some(s) => status = s?,
            None => {
                let ended = client.end_leg(&status.id).await?;
                out.result(&ended, || describe_outcome(&ended));
                anyhow::bail!("interrupted: leg {} is withdrawn", ended.id);
            }
        }
        if status.state == LegState::Pending {
            // Left ringing, it would pair with the other side's next call.
            let ended = client.end_leg(&status.id).await?;
            out.result(&ended, || describe_outcome(&ended));
            anyhow::bail!(
                "no match within {wait} s: the other party's app did not report the call; leg {} is withdrawn",
                ended.id
            );
        }
    }
    out.result(&status, || describe_outcome(&status));
    if status.state == LegState::NoMatch {
        anyhow::bail!(
            "no session: the leg ended without a match ({})",
            status.reason.as_deref().unwrap_or("no reason given")
        );
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

fn coupling_text(s: &callside_client::proto::admin::CouplingState) -> String {
    use callside_client::proto::admin::Coupling;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let near = s.near_until.filter(|u| *u > now);
    match (s.mode, near) {
        (Coupling::Always, _) => "gets the sessions of network calls for its numbers".into(),
        (Coupling::Never, _) => "takes part only in calls it reports itself".into(),
        (Coupling::WhenNear, Some(u)) => format!(
            "gets network calls' sessions while near: for {} more s",
            (u - now) / 1000
        ),
        (Coupling::WhenNear, None) => {
            "gets network calls' sessions only while near (not near now: `phone near SECS`)".into()
        }
    }
}
