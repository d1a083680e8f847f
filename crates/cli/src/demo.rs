//! `callside demo`: two phones, one call, everything the data side does, on an in-process server.

use anyhow::{bail, ensure, Context};
use callside_client::proto::admin::CreateDevice;
use callside_client::proto::call::{Direction, LegState, LegStatus, ReportLeg};
use callside_client::proto::message::{FileBody, Message};
use callside_client::proto::session::Lifecycle;
use callside_client::{Channel, Client, Event};
use callside_server::config::Config;
use serde_json::json;
use std::time::Duration;

use crate::output::Output;
use crate::render::{self, Names};

const ALICE_NUMBER: &str = "+44 20 7946 0001";
const BOB_NUMBER: &str = "+44 20 7946 0002";
/// How long the demo waits for any one thing to arrive.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// A 1×1 PNG: small, but a real image the server recognises as `image/png`.
const RECEIPT_PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x02, 0x00, 0x00, 0x00, 0x90, 0x77, 0x53,
    0xDE, 0x00, 0x00, 0x00, 0x0C, 0x49, 0x44, 0x41, 0x54, 0x08, 0xD7, 0x63, 0xF8, 0xCF, 0xC0, 0x00,
    0x00, 0x03, 0x01, 0x01, 0x00, 0x18, 0xDD, 0x8D, 0xB0, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E,
    0x44, 0xAE, 0x42, 0x60, 0x82,
];

/// One phone in the demo: its HTTP client, its channel, and how it prints.
struct Side {
    label: &'static str,
    id: String,
    client: Client,
    channel: Channel,
    names: Names,
    out: Output,
}

impl Side {
    async fn connect(
        label: &'static str,
        base: &str,
        id: String,
        token: &str,
        out: Output,
    ) -> anyhow::Result<Side> {
        let client = Client::new(base, token)?;
        let channel = Channel::connect(&client)
            .await
            .with_context(|| format!("{label}: cannot open the channel"))?;
        Ok(Side {
            label,
            id,
            client,
            channel,
            names: Names::default(),
            out,
        })
    }

    fn say(&self, text: &str) {
        say(&self.out, self.label, text);
    }

    /// Prints events as they come (acknowledging messages; this side's own messages are not
    /// repeated in text mode) until one matches `want`.
    async fn expect_event(
        &mut self,
        what: &str,
        want: impl Fn(&Event) -> bool,
    ) -> anyhow::Result<Event> {
        let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
        loop {
            let event = tokio::time::timeout_at(deadline, self.channel.next_event())
                .await
                .map_err(|_| anyhow::anyhow!("{}: waited {STEP_TIMEOUT:?} for {what}", self.label))?
                .with_context(|| format!("{}: the channel closed", self.label))?;
            let own_echo = matches!(&event, Event::Message(m) if m.sender == self.id);
            if self.out.is_json() {
                self.out
                    .json_line(&json!({ "side": self.label, "event": event }));
            } else if !own_echo {
                let line = render::event_line(&event, &mut self.names);
                self.say(&format!("  ⇠ {line}"));
            }
            if let Event::Message(message) = &event {
                self.channel.ack(&message.session, message.seq).await?;
            }
            if want(&event) {
                return Ok(event);
            }
        }
    }

    /// [`Side::expect_event`] for a message.
    async fn expect(
        &mut self,
        what: &str,
        want: impl Fn(&Message) -> bool,
    ) -> anyhow::Result<Message> {
        match self
            .expect_event(what, |e| matches!(e, Event::Message(m) if want(m)))
            .await?
        {
            Event::Message(m) => Ok(m),
            _ => unreachable!("only a message matches"),
        }
    }
}

fn say(out: &Output, label: &str, text: &str) {
    if out.is_json() {
        out.json_line(&json!({ "side": label, "note": text }));
    } else {
        out.text(&format!("{label:<5} │ {text}"));
    }
}

fn is_text_from(sender: &str) -> impl Fn(&Message) -> bool + '_ {
    move |m| m.kind == "text" && m.sender == sender
}

fn is_call_state(state: &'static str) -> impl Fn(&Message) -> bool {
    move |m| m.kind == "system/call" && m.body.get("state").and_then(|s| s.as_str()) == Some(state)
}

pub(crate) async fn run(out: &Output) -> anyhow::Result<()> {
    let dir = tempfile::tempdir().context("cannot make a temporary directory")?;
    let config = Config::for_dir(dir.path());
    let running = callside_server::start(config)
        .await
        .context("cannot start the in-process server")?;
    let base = format!("http://{}", running.addr);
    say(
        out,
        "demo",
        &format!(
            "server listening on {base} (data in {})",
            dir.path().display()
        ),
    );
    let result = play(&base, &running.admin_token, dir.path(), out).await;
    running.shutdown().await;
    say(out, "demo", "server stopped");
    result
}

async fn play(
    base: &str,
    admin_token: &str,
    dir: &std::path::Path,
    out: &Output,
) -> anyhow::Result<()> {
    // Provisioning, as an operator would.
    let admin = Client::new(base, admin_token)?;
    let mut devices = Vec::new();
    for (name, number) in [("Alice", ALICE_NUMBER), ("Bob", BOB_NUMBER)] {
        let created = admin
            .create_device(&CreateDevice {
                name: name.to_owned(),
                numbers: vec![number.to_owned()],
            })
            .await
            .with_context(|| format!("creating {name}'s device"))?;
        say(
            out,
            "admin",
            &format!(
                "created device {} for {name} ({})",
                created.device.id,
                created.device.numbers.join(", ")
            ),
        );
        devices.push(created);
    }
    let [alice_dev, bob_dev] =
        <[_; 2]>::try_from(devices).map_err(|_| anyhow::anyhow!("expected two devices"))?;
    let alice_own = alice_dev
        .device
        .numbers
        .first()
        .cloned()
        .unwrap_or_default();
    let bob_own = bob_dev.device.numbers.first().cloned().unwrap_or_default();

    let mut alice =
        Side::connect("alice", base, alice_dev.device.id, &alice_dev.token, *out).await?;
    let mut bob = Side::connect("bob", base, bob_dev.device.id, &bob_dev.token, *out).await?;
    for side in [&mut alice, &mut bob] {
        if let Some(Event::Ready { principal, .. }) = side.channel.next_event().await {
            side.say(&format!("channel open (connected as {principal})"));
        }
    }

    // 0. Before any call, each sets up a card; Alice's colleagues (Bob's number) see more of it.
    use callside_client::proto::card::{
        Audience, Audiences, FieldKind, FieldValue, NewCardField, PutCard,
    };
    let field = |id: &str, kind: FieldKind, v: &str| NewCardField {
        id: id.into(),
        kind,
        value: FieldValue::Text(v.into()),
        label: None,
    };
    alice
        .client
        .put_card(&PutCard {
            fields: vec![
                field("name", FieldKind::Name, "Alice Example"),
                field("org", FieldKind::Organization, "ACME Deliveries"),
                field("title", FieldKind::Title, "Courier"),
                field("birthday", FieldKind::Birthday, "--04-01"),
            ],
        })
        .await?;
    alice
        .client
        .put_audiences(&Audiences {
            audiences: vec![Audience {
                name: "customers".into(),
                members: vec![bob_own.clone()],
                fields: vec![FieldKind::Name, FieldKind::Organization, FieldKind::Title],
            }],
            default_fields: vec![],
        })
        .await?;
    alice.say("set up her card; customers get name, organisation and title (not her birthday)");
    bob.client
        .put_card(&PutCard {
            fields: vec![field("name", FieldKind::Name, "Bob Jones")],
        })
        .await?;
    bob.say("set up his card");

    // 1. The call: each phone reports its leg (Alice's with a composed subject); the server
    //    pairs them.
    alice.say(&format!(
        "☎ dials {bob_own} with a subject; the app reports the outgoing leg"
    ));
    let mut outgoing = leg(&alice_own, &bob_own, Direction::Outgoing);
    outgoing.composer = Some(callside_client::proto::call::Composer {
        subject: Some("Your parcel A-1042 is at the door".into()),
        importance: callside_client::proto::call::Importance::Urgent,
        picture: None,
        location: None,
    });
    let alice_leg = alice.client.report_leg(&outgoing, Duration::ZERO).await?;
    alice.say(&render::leg_line(&alice_leg));
    bob.expect_event("the composed subject while it rings", |e| {
        matches!(e, Event::CallNote(_))
    })
    .await?;
    bob.say(&format!(
        "☎ rings, caller id {alice_own}; the app reports the incoming leg"
    ));
    let bob_leg = bob
        .client
        .report_leg(
            &leg(&bob_own, &alice_own, Direction::Incoming),
            STEP_TIMEOUT,
        )
        .await?;
    let bob_leg = settle(&bob.client, bob_leg).await?;
    bob.say(&render::leg_line(&bob_leg));
    let alice_leg = settle(&alice.client, alice_leg).await?;
    alice.say(&render::leg_line(&alice_leg));
    let key = match (&alice_leg.session, &bob_leg.session) {
        (Some(a), Some(b)) if a.key == b.key => a.key.clone(),
        _ => bail!("the two legs did not end up in the same session"),
    };
    for side in [&mut alice, &mut bob] {
        if let Some(s) = alice_leg.session.as_ref() {
            side.names.learn(s);
        }
    }
    say(out, "demo", &format!("both phones hold session {key}"));
    // The cards appear by themselves as the call pairs.
    bob.expect("Alice's card", |m| m.kind == "card" && m.sender == alice.id)
        .await?;
    alice
        .expect("Bob's card", |m| m.kind == "card" && m.sender == bob.id)
        .await?;

    // 2. Chat during the call.
    let text = "Hi Bob! Calling about order A-1042.";
    alice.say(&format!("⇢ text: {text}"));
    alice.channel.send_text(&key, text).await?;
    bob.expect("Alice's text", is_text_from(&alice.id)).await?;
    let text = "Hi Alice, let me look it up.";
    bob.say(&format!("⇢ text: {text}"));
    bob.channel.send_text(&key, text).await?;
    alice.expect("Bob's text", is_text_from(&bob.id)).await?;

    // 3. A file: upload the blob, then send a `file` message naming it.
    let receipt = dir.join("receipt.png");
    tokio::fs::write(&receipt, RECEIPT_PNG).await?;
    let blob = alice.client.upload_file(&receipt).await?;
    alice.say(&format!(
        "uploaded receipt.png as {} ({} bytes, {})",
        blob.id, blob.size, blob.mime
    ));
    let body = serde_json::to_value(FileBody {
        blob: blob.id.clone(),
        name: "receipt.png".into(),
        size: 0,
        mime: String::new(),
    })?;
    alice.say("⇢ file: receipt.png");
    alice.channel.send(&key, "file", body).await?;
    let file_msg = bob
        .expect("Alice's file", |m| m.kind == "file" && m.sender == alice.id)
        .await?;
    let file: FileBody = serde_json::from_value(file_msg.body).context("file message body")?;
    let bob_dir = dir.join("bob");
    tokio::fs::create_dir_all(&bob_dir).await?;
    let saved = crate::phone::save_path(&bob_dir, &file.name, file_msg.seq);
    let size = bob.client.download_to(&file.blob, &saved).await?;
    let same = tokio::fs::read(&saved).await? == RECEIPT_PNG;
    bob.say(&format!(
        "saved {} ({size} bytes) to {}; identical to what Alice sent: {same}",
        file.name,
        saved.display()
    ));
    ensure!(same, "the downloaded file differs from the uploaded one");

    // 4. A service data object.
    let status = json!({ "order": "A-1042", "status": "out_for_delivery", "eta_minutes": 25 });
    bob.say(&format!("⇢ app/order-status: {status}"));
    bob.channel.send(&key, "app/order-status", status).await?;
    alice
        .expect("Bob's order status", |m| m.kind == "app/order-status")
        .await?;

    // 4b. Alice shares her live location as she walks to the door (one update a second).
    for (i, (lat, lon)) in [(51.50070, -0.12460), (51.50074, -0.12452)]
        .into_iter()
        .enumerate()
    {
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }
        alice.say(&format!("⇢ live location {lat}, {lon}"));
        alice
            .channel
            .send(
                &key,
                "location",
                json!({ "lat": lat, "lon": lon, "accuracy_m": 5.0, "live": true }),
            )
            .await?;
        bob.expect("Alice's location", |m| m.kind == "location")
            .await?;
    }

    // 5. The call is answered, then ended; both phones see the call state on the log.
    bob.say("☎ answers");
    bob.client.answer_leg(&bob_leg.id).await?;
    alice
        .expect("the call answered", is_call_state("answered"))
        .await?;
    bob.expect("the call answered", is_call_state("answered"))
        .await?;
    alice.say("☎ hangs up");
    alice.client.end_leg(&alice_leg.id).await?;
    alice
        .expect("the call ended", is_call_state("ended"))
        .await?;
    bob.expect("the call ended", is_call_state("ended")).await?;

    // 6. The session outlives the call (keep_after_call).
    let text = "Thanks for calling — the courier is 25 minutes away.";
    bob.say(&format!("⇢ text after the call: {text}"));
    bob.channel.send_text(&key, text).await?;
    alice
        .expect("Bob's text after the call", is_text_from(&bob.id))
        .await?;

    // 7. Alice closes the session; both see it close.
    alice.say("closes the session");
    alice.client.close_session(&key).await?;
    let closed = |m: &Message| m.kind == "system/closed";
    alice.expect("the session closing", closed).await?;
    bob.expect("the session closing", closed).await?;

    let info = bob.client.session(&key).await?;
    say(
        out,
        "demo",
        &format!("done: {}", render::session_line(&info)),
    );
    alice.channel.close().await;
    bob.channel.close().await;
    Ok(())
}

fn leg(own: &str, other: &str, direction: Direction) -> ReportLeg {
    let mut leg = ReportLeg::new(own, Some(other.to_owned()), direction);
    leg.lifecycle = Some(Lifecycle::KeepAfterCall);
    leg
}

/// Waits for a reported leg to be matched; anything else ends the demo.
async fn settle(client: &Client, status: LegStatus) -> anyhow::Result<LegStatus> {
    let status = if status.state == LegState::Pending {
        client.wait_leg(&status.id, STEP_TIMEOUT).await?
    } else {
        status
    };
    match status.state {
        LegState::Matched => Ok(status),
        _ => bail!(
            "leg {} was not matched: {}",
            status.id,
            render::leg_line(&status)
        ),
    }
}
