//! `callside attendant --config FILE`: a real automated system on the SDK — a voicemail, an IVR
//! menu or a contact centre's data part (S1-F11–F21) — run from a TOML file that describes its
//! screens and what each press does, so an operator needs no code.
//!
//! It connects as an `automated_system` account. When a session with a caller opens it checks
//! that the caller's device shows screens (S1-F20) and sends its start screen (or, for a
//! voicemail called by the mailbox's owner, its listen screen); it prints each acknowledgement
//! and press, so the agent at a contact centre sees what the caller sees; it reacts to presses
//! and to what callers send as the file says (another screen, a text, an `app/*` message,
//! ending the call through the network); and a voicemail keeps the files a caller sends with a
//! message and hands them to the owner with the playback offsets (`voicemail.rs`). Lines typed
//! on its standard input are the agent's own actions on a call (`agent.rs`).

mod agent;
mod config;
mod voicemail;

use anyhow::Context;
use callside_client::proto::message::{FileBody, Message};
use callside_client::proto::screen::{ScreenMode, VoicemailCommand};
use callside_client::proto::session::SessionInfo;
use callside_client::screens::{ScreenEvent, ScreenMessage};
use callside_client::{Channel, ChannelSender, Client, Event, MessageQuery};
use clap::Args;
use config::{AttendantConfig, Fill, Kind, Then};
use serde_json::json;
use std::collections::HashMap;
use std::path::PathBuf;
use tokio::io::AsyncBufReadExt;
use voicemail::{KeptFile, Store};

use crate::output::Output;

#[derive(Debug, Args)]
pub(crate) struct AttendantArgs {
    /// The server's base URL.
    #[arg(
        long,
        env = "CALLSIDE_SERVER",
        hide_env_values = true,
        default_value = "http://127.0.0.1:8080"
    )]
    server: String,
    /// The automated system's token (a service account with the automated_system scope).
    #[arg(long, env = "CALLSIDE_TOKEN", hide_env_values = true)]
    token: String,
    /// The system's screens and reactions (deploy/attendant/*.toml).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
}

/// What the attendant knows of one call.
struct Call {
    fill: Fill,
    /// The mailbox's owner calling to listen (a voicemail called directly).
    owner: bool,
    /// Voicemail: the message being left.
    message: Option<voicemail::Message>,
}

struct Attendant {
    client: Client,
    sender: ChannelSender,
    config: AttendantConfig,
    store: Store,
    me: String,
    calls: HashMap<String, Call>,
    /// Uploaded images of screens, by screen id.
    images: HashMap<String, String>,
    out: Output,
}

pub(crate) async fn run(args: AttendantArgs, out: &Output) -> anyhow::Result<()> {
    let config = AttendantConfig::load(&args.config)?;
    let client = Client::new(&args.server, &args.token)?;
    let me = client
        .me()
        .await
        .context("cannot sign in with this token")?;
    if !me
        .scopes
        .contains(&callside_client::proto::admin::Scope::AutomatedSystem)
    {
        anyhow::bail!(
            "{} is not an automated system; create one with `callside admin service create --scope automated-system --range <its numbers>`",
            me.id
        );
    }
    let mut images = HashMap::new();
    for (id, screen) in &config.screens {
        if let Some(path) = &screen.image {
            let blob = client
                .upload_file(path)
                .await
                .with_context(|| format!("cannot upload the image of screen `{id}`"))?;
            images.insert(id.clone(), blob.id);
        }
    }
    let store = Store::new(
        config
            .store_dir
            .clone()
            .unwrap_or_else(voicemail::default_dir),
    );
    out.progress(&format!(
        "{} answering as {} ({}); connecting to {} … (type `help` for the agent's commands)",
        config.name.as_deref().unwrap_or("attendant"),
        me.id,
        me.ranges.join(", "),
        client.base_url()
    ));
    let mut channel = Channel::connect(&client).await?;
    let mut agent = Some(tokio::io::BufReader::new(tokio::io::stdin()).lines());
    let mut attendant = Attendant {
        sender: channel.sender(),
        client,
        config,
        store,
        me: me.id,
        calls: HashMap::new(),
        images,
        out: *out,
    };
    loop {
        let event = tokio::select! {
            e = channel.next_event() => e,
            line = async { agent.as_mut()?.next_line().await.ok().flatten() }, if agent.is_some() => {
                match line {
                    Some(line) => attendant.agent_line(&line).await,
                    // No console (closed or not a terminal): the file's reactions only.
                    None => agent = None,
                }
                continue;
            }
            _ = tokio::signal::ctrl_c() => {
                out.progress("interrupted");
                break;
            }
        };
        let Some(event) = event else {
            out.progress("the channel closed");
            break;
        };
        if let Err(e) = attendant.handle(&event).await {
            out.progress(&format!("error: {e:#}"));
        }
        let delivered = match &event {
            Event::Message(m) => Some((m.session.clone(), m.seq)),
            Event::Screen(s) => Some((s.session.clone(), s.seq)),
            _ => None,
        };
        if let Some((session, seq)) = delivered {
            channel.ack(&session, seq).await?;
        }
    }
    channel.close().await;
    Ok(())
}

impl Attendant {
    fn say(&self, event: serde_json::Value, text: String) {
        self.out.result(&event, || text);
    }

    async fn handle(&mut self, event: &Event) -> anyhow::Result<()> {
        match event {
            Event::Ready { sessions, .. } | Event::Reconnected { sessions } => {
                for s in sessions {
                    self.opened(s).await?;
                }
            }
            Event::Session(s) => self.opened(s).await?,
            Event::Screen(s) if s.sender != self.me => self.screen_event(s).await?,
            Event::Message(m) if m.kind == "system/closed" => {
                self.finish_message(&m.session)?;
                if self.calls.remove(&m.session).is_some() {
                    self.say(
                        json!({"event": "call_closed", "session": m.session}),
                        format!("{}: closed", m.session),
                    );
                }
            }
            Event::Message(m) if m.sender != self.me => self.message(m).await?,
            _ => {}
        }
        Ok(())
    }

    /// A line from the agent's console.
    async fn agent_line(&mut self, line: &str) {
        let command = agent::parse(line, |w| self.calls.keys().any(|k| k.starts_with(w)));
        let result = match command {
            Ok(None) => return,
            Ok(Some(agent::Command::Help)) => {
                self.say(
                    json!({"event": "help", "help": agent::HELP}),
                    agent::HELP.to_owned(),
                );
                Ok(())
            }
            Ok(Some(agent::Command::Calls)) => {
                let calls: Vec<_> = self
                    .calls
                    .iter()
                    .map(|(key, c)| json!({"session": key, "caller": c.fill.caller, "number": c.fill.number}))
                    .collect();
                let text = if calls.is_empty() {
                    "no call in progress".to_owned()
                } else {
                    self.calls
                        .iter()
                        .map(|(key, c)| {
                            format!("{key}: {} calling {}", c.fill.caller, c.fill.number)
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                };
                self.say(json!({"event": "calls", "calls": calls}), text);
                Ok(())
            }
            Ok(Some(agent::Command::Act { session, then })) => {
                match agent::choose(session.as_deref(), self.calls.keys()) {
                    Ok(key) => self.react(&key, &then).await.map_err(|e| format!("{e:#}")),
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            self.say(json!({"event": "agent_error", "error": e}), e);
        }
    }

    /// A session with a caller: who is calling whom, and the first screen.
    async fn opened(&mut self, s: &SessionInfo) -> anyhow::Result<()> {
        if s.closed.is_some() || self.calls.contains_key(&s.key) {
            return Ok(());
        }
        let number = s
            .participants
            .iter()
            .find(|p| p.id == self.me)
            .and_then(|p| p.number.clone())
            .unwrap_or_default();
        let caller = s
            .participants
            .iter()
            .find(|p| p.id != self.me && p.number.is_some())
            .and_then(|p| p.number.clone())
            .unwrap_or_default();
        let log = self
            .client
            .messages(&s.key, MessageQuery::default())
            .await?
            .messages;
        let diverted_from = log
            .iter()
            .find(|m| m.kind == "system/diverted")
            .and_then(|m| m.body["from"].as_str().map(str::to_owned));
        let already_greeted = log
            .iter()
            .any(|m| m.sender == self.me && m.kind == "screen");
        let voicemail = self.config.kind == Kind::Voicemail;
        let owner = voicemail && diverted_from.is_none() && !caller.is_empty();
        let fill = Fill {
            mailbox: diverted_from.clone().unwrap_or_else(|| {
                if owner {
                    caller.clone()
                } else {
                    number.clone()
                }
            }),
            caller,
            number,
        };
        let message = (voicemail && !owner).then(|| voicemail::Message {
            id: callside_client::new_message_id(),
            caller: fill.caller.clone(),
            mailbox: fill.mailbox.clone(),
            session: s.key.clone(),
            recording_started_at: now_ms(),
            files: vec![],
            heard: false,
        });
        self.say(
            json!({"event": "call", "session": s.key, "caller": fill.caller, "mailbox": fill.mailbox, "owner": owner}),
            format!(
                "{}: {} calling{}",
                s.key,
                fill.caller,
                match (&diverted_from, owner) {
                    (Some(m), _) => format!(" (diverted from {m}: leaving a message)"),
                    (None, true) => " (the mailbox's owner: listening)".into(),
                    (None, false) => String::new(),
                }
            ),
        );
        let first = if owner {
            self.config.listen.clone().expect("checked at load")
        } else {
            self.config.start.clone()
        };
        self.calls.insert(
            s.key.clone(),
            Call {
                fill,
                owner,
                message,
            },
        );
        if already_greeted {
            return Ok(());
        }
        // S1-F20: only to devices that show screens.
        let caps = self.client.session_capabilities(&s.key).await?;
        let shows = caps
            .participants
            .iter()
            .any(|p| p.features.iter().any(|f| f == "screens"));
        if !shows {
            if let Some(text) = &self.config.no_screens_text {
                let text = self.calls[&s.key].fill.apply(text);
                self.sender.send_text(&s.key, &text).await?;
            }
            self.say(
                json!({"event": "no_screens", "session": s.key}),
                format!("{}: the caller's device does not show screens", s.key),
            );
            return Ok(());
        }
        self.send_screen(&s.key, &first, ScreenMode::Predetermined)
            .await
    }

    async fn send_screen(&self, key: &str, id: &str, mode: ScreenMode) -> anyhow::Result<()> {
        let call = self
            .calls
            .get(key)
            .context("not a call of this attendant")?;
        let screen = self
            .config
            .screen(id, mode, &call.fill, self.images.get(id).cloned())?;
        let accepted = self
            .sender
            .send_screen(key, &screen)
            .await
            .with_context(|| format!("the server refused screen `{id}`"))?;
        self.say(
            json!({"event": "screen_sent", "session": key, "screen": id, "seq": accepted.seq}),
            format!("{key}: sent screen `{id}`"),
        );
        Ok(())
    }

    async fn screen_event(&mut self, e: &ScreenEvent) -> anyhow::Result<()> {
        match &e.message {
            ScreenMessage::Ack(a) => self.say(
                json!({"event": "ack", "session": e.session, "screen": a.screen, "status": a.status}),
                format!(
                    "{}: the caller's screen {} `{}`",
                    e.session,
                    match a.status {
                        callside_client::proto::screen::ScreenStatus::Shown => "shows",
                        callside_client::proto::screen::ScreenStatus::NotSupported =>
                            "cannot show",
                    },
                    a.screen
                ),
            ),
            ScreenMessage::Action(a) => {
                self.say(
                    json!({"event": "pressed", "session": e.session, "screen": a.screen, "region": a.region, "value": a.value}),
                    format!("{}: the caller pressed [{}] on `{}`", e.session, a.region, a.screen),
                );
                let Some((region, then)) = self.config.on_press(&a.screen, &a.region) else {
                    return Ok(());
                };
                let (action, then) = (region.action.clone(), then.clone());
                if let callside_client::proto::screen::Action::Voicemail { command } = action {
                    self.voicemail_command(&e.session, command).await?;
                }
                self.react(&e.session, &then).await?;
            }
            ScreenMessage::Screen(_) => {}
        }
        Ok(())
    }

    async fn message(&mut self, m: &Message) -> anyhow::Result<()> {
        if m.kind == "file" {
            self.keep_file(m).await?;
        }
        if let Some(then) = self.config.on_message(&m.kind).cloned() {
            self.react(&m.session, &then).await?;
        }
        Ok(())
    }

    /// Does what the file says a press or a message leads to.
    async fn react(&mut self, key: &str, then: &Then) -> anyhow::Result<()> {
        if !self.calls.contains_key(key) {
            return Ok(());
        }
        if let Some(text) = &then.text {
            let text = self.calls[key].fill.apply(text);
            self.sender.send_text(key, &text).await?;
        }
        if let Some(screen) = &then.screen {
            self.send_screen(key, screen, ScreenMode::Dynamic).await?;
        }
        if let Some(app) = &then.app {
            self.sender
                .send(key, &format!("app/{}", app.name), app.body.clone())
                .await?;
        }
        if then.end_call {
            self.finish_message(key)?;
            match self.client.end_call(key).await {
                Ok(()) => self.say(
                    json!({"event": "ending_call", "session": key}),
                    format!("{key}: ending the call"),
                ),
                Err(e) => self.say(
                    json!({"event": "end_call_failed", "session": key, "error": e.to_string()}),
                    format!("{key}: could not end the call: {e}"),
                ),
            }
        }
        Ok(())
    }

    /// A file from the caller: a voicemail keeps it with the message being left (S1-F16).
    async fn keep_file(&mut self, m: &Message) -> anyhow::Result<()> {
        let Some(call) = self.calls.get(&m.session) else {
            return Ok(());
        };
        let Some(message) = &call.message else {
            return Ok(());
        };
        let file: FileBody = serde_json::from_value(m.body.clone())?;
        let bytes = self.client.download_bytes(&file.blob).await?;
        let received_at = now_ms();
        let n = message.files.len();
        let path = self.store.keep_file(message, n, &file.name, &bytes)?;
        let kept = KeptFile {
            name: file.name.clone(),
            mime: file.mime.clone(),
            path,
            sent_at: m.sent_at,
            received_at,
            offset_ms: (m.sent_at - message.recording_started_at).max(0),
        };
        let call = self.calls.get_mut(&m.session).expect("looked up above");
        let message = call.message.as_mut().expect("looked up above");
        message.files.push(kept.clone());
        let message = message.clone();
        self.store.save(&message)?;
        self.say(
            json!({"event": "file_kept", "session": m.session, "message": message.id, "name": kept.name, "offset_ms": kept.offset_ms}),
            format!(
                "{}: kept {} with the message for {} ({} ms into the recording)",
                m.session, kept.name, message.mailbox, kept.offset_ms
            ),
        );
        Ok(())
    }

    /// Saves the message being left on `key`, if it has anything.
    fn finish_message(&mut self, key: &str) -> anyhow::Result<()> {
        if let Some(m) = self.calls.get(key).and_then(|c| c.message.as_ref()) {
            self.store.save(m)?;
        }
        Ok(())
    }

    async fn voicemail_command(
        &mut self,
        key: &str,
        command: VoicemailCommand,
    ) -> anyhow::Result<()> {
        let Some(call) = self.calls.get_mut(key) else {
            return Ok(());
        };
        match (command, call.owner) {
            (VoicemailCommand::Record | VoicemailCommand::Rerecord, false) => {
                if let Some(m) = &mut call.message {
                    if command == VoicemailCommand::Rerecord {
                        let old = m.clone();
                        m.files.clear();
                        self.store.delete(&old)?;
                    }
                    m.recording_started_at = now_ms();
                    self.store.save(m)?;
                }
            }
            (VoicemailCommand::Stop, false) => self.finish_message(key)?,
            (VoicemailCommand::Delete, false) => {
                if let Some(m) = call.message.take() {
                    self.store.delete(&m)?;
                }
            }
            (VoicemailCommand::Play, true) => self.deliver(key, true).await?,
            (VoicemailCommand::FetchFiles, true) => self.deliver(key, false).await?,
            (VoicemailCommand::Delete, true) => {
                let mailbox = call.fill.mailbox.clone();
                if let Some(m) = self.store.next(&mailbox)? {
                    self.store.delete(&m)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The owner listens (S1-F17): the next message's files go out now, ahead of the playback,
    /// followed by `app/voicemail.playback` saying at which offset each belongs (`with_times`);
    /// fetching the files without playing sends them without times.
    async fn deliver(&mut self, key: &str, with_times: bool) -> anyhow::Result<()> {
        let mailbox = self.calls[key].fill.mailbox.clone();
        let Some(mut message) = self.store.next(&mailbox)? else {
            self.sender.send_text(key, "No messages.").await?;
            return Ok(());
        };
        let mut files = Vec::new();
        for f in &message.files {
            let bytes = self.store.file_bytes(&message, f)?;
            let blob = self.client.upload_bytes(bytes).await?;
            let accepted = self
                .sender
                .send(key, "file", json!({"blob": blob.id, "name": f.name}))
                .await?;
            files.push(json!({"seq": accepted.seq, "name": f.name, "offset_ms": f.offset_ms}));
        }
        if with_times {
            let body = json!({
                "message": message.id, "from": message.caller,
                "recorded_at": message.recording_started_at, "files": files,
            });
            self.sender
                .send(key, "app/voicemail.playback", body)
                .await?;
            message.heard = true;
            self.store.save(&message)?;
        }
        self.say(
            json!({"event": "delivered", "session": key, "message": message.id, "files": message.files.len(), "with_times": with_times}),
            format!(
                "{key}: gave {} the message from {} with {} file(s)",
                mailbox,
                message.caller,
                message.files.len()
            ),
        );
        Ok(())
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
