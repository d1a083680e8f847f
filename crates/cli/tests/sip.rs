//! Calls through a real SIP proxy: Kamailio with `deploy/kamailio/kamailio.cfg` (started by
//! `scripts/peers`) reports every call to callside's real binary as a network element, and sipp
//! plays the phones and the voicemail with the scenarios in `deploy/kamailio/sipp/`. Calls between
//! numbers with devices get a session that follows the call (answered, ended by either side,
//! failed: busy is left out of what goes to voicemail here); a call nobody answers goes to
//! voicemail, and the caller's device is then in a session with the voicemail system, greeted by
//! its screen. With `[kamailio]` configured, callside asks the proxy too: it ends calls the proxy
//! no longer has, places click-to-dial calls, and ends a call for the voicemail system.

use callside_client::proto::component::Capabilities;
use callside_client::proto::session::{CallState, SessionInfo};
use callside_client::{Client, MessageQuery};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

mod support;
use support::*;

const ALICE: &str = "+442079460001";
const BOB: &str = "+442079460002";
const CAROL: &str = "+442079460003";
const DAVE: &str = "+442079460004";
const ERIN: &str = "+442079460005";
const VOICEMAIL: &str = "+442079460900";

fn scenarios() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/kamailio/sipp")
}

/// sipp user agents around one Kamailio; the ones left running are killed on drop.
struct Phones {
    dir: PathBuf,
    proxy: String,
    agents: Vec<Child>,
}

impl Phones {
    fn sipp(&self) -> Command {
        let mut c = Command::new("sipp");
        c.current_dir(&self.dir)
            .args(["-nostdin", "-i", "127.0.0.1", "-trace_err"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    }

    /// A phone answering calls with `scenario` on its own port, registered as `number`.
    fn answering(&mut self, number: &str, scenario: &str, extra: &[&str]) {
        let port = free_udp_port();
        self.answering_on(port, scenario, extra);
        let ok = self
            .sipp()
            .arg("-sf")
            .arg(scenarios().join("register.xml"))
            .args(["-s", number, "-key", "contact_port", &port.to_string()])
            .args(["-m", "1", "-timeout", "10", "-timeout_error", &self.proxy])
            .status()
            .unwrap()
            .success();
        assert!(ok, "REGISTER {number}");
    }

    /// A user agent answering calls sent straight to `port` (the voicemail).
    fn answering_on(&mut self, port: u16, scenario: &str, extra: &[&str]) {
        let child = self
            .sipp()
            .args(["-p", &port.to_string(), "-sf"])
            .arg(scenarios().join(scenario))
            .args(extra)
            .spawn()
            .expect("sipp runs (Debian package sip-tester)");
        self.agents.push(child);
        wait_udp(port);
    }

    /// Alice calls `callee` with `scenario` (waits for the call to finish).
    fn call(&self, label: &str, scenario: &str, callee: &str, extra: &[&str]) {
        let ok = self
            .sipp()
            .arg("-sf")
            .arg(scenarios().join(scenario))
            .args(["-s", callee, "-key", "caller", ALICE, "-m", "1"])
            .args(["-timeout", "60", "-timeout_error"])
            .args(["-cid_str", &format!("{label}-%u-%p@%s")])
            .args(extra)
            .arg(&self.proxy)
            .status()
            .unwrap()
            .success();
        assert!(ok, "call {label} to {callee} with {scenario}");
    }
}

impl Drop for Phones {
    fn drop(&mut self) {
        for a in &mut self.agents {
            let _ = a.kill();
            let _ = a.wait();
        }
    }
}

fn free_udp_port() -> u16 {
    loop {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = s.local_addr().unwrap().port();
        drop(s);
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Waits until something listens on UDP `port` (sipp binds before it reads its scenario).
fn wait_udp(port: u16) {
    for _ in 0..100 {
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_err() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nothing listening on UDP {port}");
}

fn admin(server: &str, data: &Path, args: &[&str]) -> Value {
    let mut all = vec!["admin", "--data-dir", data.to_str().unwrap()];
    all.extend_from_slice(args);
    run(server, &all).remove(0)
}

/// The session in `client`'s list with a participant on `number`, once its call is in `state`
/// (the proxy's events arrive a moment after the call).
async fn call_session(client: &Client, number: &str, state: CallState) -> SessionInfo {
    for _ in 0..300 {
        let found = client.sessions(true).await.unwrap().into_iter().find(|s| {
            s.call == state
                && s.participants
                    .iter()
                    .any(|p| p.number.as_deref() == Some(number))
        });
        if let Some(s) = found {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no session with {number} whose call is {state:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_through_kamailio_get_sessions_that_follow_them() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut serve, server) = serve(&data, &[]);
    let token = |v: &Value| v["token"].as_str().unwrap().to_owned();
    let kamailio = admin(
        &server,
        &data,
        &[
            "service",
            "create",
            "--name",
            "kamailio",
            "--scope",
            "network-element",
            "--range",
            "+44",
        ],
    );
    let vm = admin(
        &server,
        &data,
        &[
            "service",
            "create",
            "--name",
            "voicemail",
            "--scope",
            "automated-system",
            "--range",
            VOICEMAIL,
        ],
    );
    let alice = Client::new(&server, &create_device(&server, &data, "Alice", ALICE)).unwrap();
    let bob = Client::new(&server, &create_device(&server, &data, "Bob", BOB)).unwrap();
    let carol = Client::new(&server, &create_device(&server, &data, "Carol", CAROL)).unwrap();
    let dave = Client::new(&server, &create_device(&server, &data, "Dave", DAVE)).unwrap();
    let erin = Client::new(&server, &create_device(&server, &data, "Erin", ERIN)).unwrap();
    let voicemail = Client::new(&server, &token(&vm)).unwrap();
    alice
        .declare_capabilities(&Capabilities {
            features: vec!["screens".into()],
            components: vec![],
        })
        .await
        .unwrap();
    let greeting: callside_client::proto::screen::ScreenBody = serde_json::from_value(
        serde_json::json!({"id": "voicemail", "mode": "predetermined", "target": "call",
            "automated": true, "regions": [{"id": "end", "label": "End call",
            "action": {"type": "end_call"}}]}),
    )
    .unwrap();
    voicemail.put_screen(&greeting).await.unwrap();

    let peers_dir = dir.path().join("peers");
    let vm_port = free_udp_port();
    let peers = Peers::start(
        &peers_dir,
        &[
            "kamailio-start",
            peers_dir.to_str().unwrap(),
            &format!("{server}/v1/network/calls"),
            &token(&kamailio),
            &format!("sip:{VOICEMAIL}@127.0.0.1:{vm_port}"),
        ],
        // Also every INVITE's answer timer (fr_inv_timer): under CI load a sipp phone may take
        // more than a second to answer, and a shorter timer sent such calls to voicemail.
        &[
            ("PEERS_KAMAILIO_RING_TIMEOUT", "4000"),
            ("PEERS_KAMAILIO_VOICEMAIL_ON", "408|480"),
        ],
    );
    let mut phones = Phones {
        dir: dir.path().to_owned(),
        proxy: format!("127.0.0.1:{}", peers.get("KAMAILIO_SIP_PORT")),
        agents: vec![],
    };
    phones.answering(BOB, "uas.xml", &["-d", "200"]);
    phones.answering(CAROL, "uas-hangup.xml", &["-d", "200"]);
    phones.answering(DAVE, "uas-busy.xml", &[]);
    phones.answering(ERIN, "uas-noanswer.xml", &[]);
    phones.answering_on(vm_port, "uas-voicemail.xml", &[]);

    // Answered, the caller hangs up: Alice and Bob share a session that saw the call end.
    phones.call("answered", "uac.xml", BOB, &["-d", "300"]);
    let s = call_session(&alice, BOB, CallState::Ended).await;
    assert!(bob.session(&s.key).await.is_ok(), "Bob takes part");
    let states = call_states(&bob, &s.key).await;
    assert_eq!(states, ["answered", "ended"], "as the proxy saw it");

    // Answered, the callee hangs up.
    phones.call("callee-hangup", "uac-hangup-received.xml", CAROL, &[]);
    let s = call_session(&carol, CAROL, CallState::Ended).await;
    assert_eq!(call_states(&carol, &s.key).await, ["answered", "ended"]);

    // Busy: the call failed, and its session says the call ended without an answer.
    phones.call("busy", "uac-busy.xml", DAVE, &[]);
    let s = call_session(&dave, DAVE, CallState::Ended).await;
    assert_eq!(call_states(&dave, &s.key).await, ["ended"]);

    // Nobody answers Erin's phone: the proxy forwards the call to voicemail. Erin's session
    // records a missed call; Alice is in a session with the voicemail system, told whose
    // mailbox it is and greeted by the system's screen.
    phones.call("voicemail", "uac.xml", ERIN, &["-d", "500"]);
    let missed = call_session(&erin, ERIN, CallState::Ended).await;
    assert_eq!(call_states(&erin, &missed.key).await, ["ended"]);
    let with_vm = call_session(&alice, VOICEMAIL, CallState::Ended).await;
    let log = alice
        .messages(&with_vm.key, MessageQuery::default())
        .await
        .unwrap()
        .messages;
    let diverted = log
        .iter()
        .find(|m| m.kind == "system/diverted")
        .expect("diverted");
    assert_eq!(diverted.body["from"], ERIN);
    assert_eq!(diverted.body["reason"], "no_answer");
    let screen = log.iter().find(|m| m.kind == "screen").expect("greeted");
    assert_eq!(screen.body["owner"]["number"], VOICEMAIL);
    assert!(erin.session(&with_vm.key).await.is_err(), "not Erin's");
    assert!(voicemail.session(&with_vm.key).await.is_ok());

    drop(phones);
    drop(peers);
    let _ = serve.kill();
    let _ = serve.wait();
}

/// The call states a session's log went through (`system/call` entries).
async fn call_states(client: &Client, key: &str) -> Vec<String> {
    client
        .messages(key, MessageQuery::default())
        .await
        .unwrap()
        .messages
        .iter()
        .filter(|m| m.kind == "system/call")
        .map(|m| m.body["state"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callside_reconciles_with_the_proxy_dials_and_ends_calls_through_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // First the accounts (Kamailio needs its token to start, callside the proxy's address).
    let (mut first, server) = serve(&data, &[]);
    let token = |v: &Value| v["token"].as_str().unwrap().to_owned();
    let kamailio = admin(
        &server,
        &data,
        &[
            "service",
            "create",
            "--name",
            "kamailio",
            "--scope",
            "network-element",
            "--range",
            "+44",
        ],
    );
    let vm = admin(
        &server,
        &data,
        &[
            "service",
            "create",
            "--name",
            "voicemail",
            "--scope",
            "automated-system",
            "--range",
            VOICEMAIL,
        ],
    );
    let alice_token = create_device(&server, &data, "Alice", ALICE);
    let bob_token = create_device(&server, &data, "Bob", BOB);
    create_device(&server, &data, "Erin", ERIN);
    let _ = first.kill();
    let _ = first.wait();

    let port = free_port();
    let peers_dir = dir.path().join("peers");
    let vm_port = free_udp_port();
    let peers = Peers::start(
        &peers_dir,
        &[
            "kamailio-start",
            peers_dir.to_str().unwrap(),
            &format!("http://127.0.0.1:{port}/v1/network/calls"),
            &token(&kamailio),
            &format!("sip:{VOICEMAIL}@127.0.0.1:{vm_port}"),
        ],
        &[("PEERS_KAMAILIO_RING_TIMEOUT", "4000")],
    );
    let rpc = peers.get("KAMAILIO_RPC_URL").to_owned();
    let sip = format!("127.0.0.1:{}", peers.get("KAMAILIO_SIP_PORT"));
    let account = kamailio["account"]["id"].as_str().unwrap().to_owned();
    let (mut serve, server) = serve_on(
        port,
        &data,
        &[
            ("CALLSIDE_KAMAILIO__RPC_URL", &rpc),
            ("CALLSIDE_KAMAILIO__ACCOUNT", &account),
            ("CALLSIDE_KAMAILIO__SIP_ADDRESS", &sip),
            ("CALLSIDE_KAMAILIO__RECONCILE_SECS", "1"),
        ],
    );
    let alice = Client::new(&server, &alice_token).unwrap();
    let bob = Client::new(&server, &bob_token).unwrap();
    let voicemail = Client::new(&server, &token(&vm)).unwrap();
    let reporter = Client::new(&server, &token(&kamailio)).unwrap();
    let mut phones = Phones {
        dir: dir.path().to_owned(),
        proxy: sip.clone(),
        agents: vec![],
    };

    // A call callside heard ring but never heard end (the proxy has no such dialog): the
    // reconciliation ends it.
    let lost = reporter
        .network_call(&callside_client::proto::call::NetworkCallEvent {
            call_ref: "lost-end@proxy".into(),
            caller: ALICE.into(),
            callee: BOB.into(),
            event: callside_client::proto::call::CallEventKind::Answered,
            lifecycle: None,
            diverted_to: None,
            reason: None,
        })
        .await
        .unwrap();
    let lost_key = lost.session.unwrap();
    let mut ended = false;
    for _ in 0..150 {
        if bob.session(&lost_key).await.unwrap().call == CallState::Ended {
            ended = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        ended,
        "the reconciliation ended the call the proxy does not have"
    );

    // Click-to-dial: Alice's phone rings first; answered, it is referred to Bob, and that call
    // (reported by the proxy) gets the session.
    phones.answering(ALICE, "uas-refer.xml", &["-s", ALICE, "-d", "300"]);
    phones.answering(BOB, "uas.xml", &["-d", "200"]);
    let placed = alice.click_to_dial(None, BOB).await.unwrap();
    assert_eq!((placed.from.as_str(), placed.to.as_str()), (ALICE, BOB));
    let mut dialled = None;
    for _ in 0..300 {
        dialled = bob
            .sessions(true)
            .await
            .unwrap()
            .into_iter()
            .find(|s| s.key != lost_key && s.call == CallState::Ended);
        if dialled.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let Some(dialled) = dialled else {
        // Say what the proxy and the phones saw, so a failure explains itself.
        let log = std::fs::read_to_string(peers.get("KAMAILIO_LOG")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        let mut sipp_errors = String::new();
        for e in std::fs::read_dir(dir.path()).unwrap().flatten() {
            if e.file_name().to_string_lossy().ends_with("_errors.log") {
                sipp_errors += &std::fs::read_to_string(e.path()).unwrap_or_default();
            }
        }
        panic!(
            "no ended session for the dialled call within 30 s; Bob's sessions: {:?}\nKamailio (newest first):\n{}\nsipp errors:\n{sipp_errors}",
            bob.sessions(true).await.unwrap(),
            tail.join("\n")
        );
    };
    assert_eq!(call_states(&bob, &dialled.key).await, ["answered", "ended"]);
    let err = bob.click_to_dial(Some(ALICE), ERIN).await.unwrap_err();
    assert_eq!(err.code(), Some("not_your_number"));

    // Erin does not answer; in the voicemail the caller is told the call ends, and the
    // voicemail system ends it through callside and the proxy: the caller gets the BYE.
    phones.answering(ERIN, "uas-noanswer.xml", &[]);
    phones.answering_on(vm_port, "uas-voicemail.xml", &[]);
    let caller = {
        let mut c = phones.sipp();
        c.arg("-sf")
            .arg(scenarios().join("uac-hangup-received.xml"))
            .args(["-s", ERIN, "-key", "caller", ALICE, "-m", "1"])
            .args([
                "-timeout",
                "60",
                "-timeout_error",
                "-cid_str",
                "vm-end-%u-%p@%s",
            ])
            .arg(&sip);
        c.spawn().unwrap()
    };
    let with_vm = call_session(&voicemail, VOICEMAIL, CallState::Answered).await;
    let err = alice.end_call(&with_vm.key).await.unwrap_err();
    assert_eq!(err.code(), Some("systems_only"), "apps do not end calls");
    voicemail.end_call(&with_vm.key).await.unwrap();
    let status = tokio::task::spawn_blocking(move || {
        let mut caller = caller;
        caller.wait().unwrap()
    })
    .await
    .unwrap();
    assert!(status.success(), "the caller got the BYE");
    call_session(&voicemail, VOICEMAIL, CallState::Ended).await;
    let err = voicemail.end_call(&with_vm.key).await.unwrap_err();
    assert_eq!(err.code(), Some("no_network_call"), "it has ended");

    drop(phones);
    drop(peers);
    let _ = serve.kill();
    let _ = serve.wait();
}

/// The next JSON line on `rx` that `pick` accepts (skipping others).
fn until(
    rx: &std::sync::mpsc::Receiver<Value>,
    what: &str,
    pick: impl Fn(&Value) -> bool,
) -> Value {
    for _ in 0..200 {
        let v = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("no {what} within 20 s"));
        if pick(&v) {
            return v;
        }
    }
    panic!("no {what}");
}

/// The tour's voicemail: Alice calls Erin, who does not answer; the proxy forwards the call to the
/// voicemail (baresip answers and records the voice, `callside attendant` is its data side).
/// Alice's phone shows the voicemail's screen; she records, sends a photo with the message and
/// ends the call from the screen — the voicemail ends it through the network. Erin then calls
/// her voicemail, presses play, and gets the photo with the moment of the message it belongs to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_photo_left_with_a_voicemail_reaches_its_owner_while_listening() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut first, server) = serve(&data, &[]);
    let token = |v: &Value| v["token"].as_str().unwrap().to_owned();
    let kamailio = admin(
        &server,
        &data,
        &[
            "service",
            "create",
            "--name",
            "kamailio",
            "--scope",
            "network-element",
            "--range",
            "+44",
        ],
    );
    let vm = admin(
        &server,
        &data,
        &[
            "service",
            "create",
            "--name",
            "voicemail",
            "--scope",
            "automated-system",
            "--range",
            VOICEMAIL,
        ],
    );
    let alice = create_device(&server, &data, "Alice", ALICE);
    let erin = create_device(&server, &data, "Erin", ERIN);
    let _ = first.kill();
    let _ = first.wait();

    let port = free_port();
    let peers_dir = dir.path().join("peers");
    let baresip = Peers::start(
        &peers_dir,
        &["baresip-start", peers_dir.to_str().unwrap(), VOICEMAIL],
        &[],
    );
    let kamailio_peer = Peers::start(
        &peers_dir,
        &[
            "kamailio-start",
            peers_dir.to_str().unwrap(),
            &format!("http://127.0.0.1:{port}/v1/network/calls"),
            &token(&kamailio),
            baresip.get("BARESIP_URI"),
        ],
        &[("PEERS_KAMAILIO_RING_TIMEOUT", "4000")],
    );
    let sip = format!("127.0.0.1:{}", kamailio_peer.get("KAMAILIO_SIP_PORT"));
    let account = kamailio["account"]["id"].as_str().unwrap().to_owned();
    let (mut serve, server) = serve_on(
        port,
        &data,
        &[
            (
                "CALLSIDE_KAMAILIO__RPC_URL",
                kamailio_peer.get("KAMAILIO_RPC_URL"),
            ),
            ("CALLSIDE_KAMAILIO__ACCOUNT", &account),
            ("CALLSIDE_KAMAILIO__SIP_ADDRESS", &sip),
        ],
    );

    // The voicemail's data side, with its messages kept in the test's directory.
    let shipped = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/attendant/voicemail.toml"),
    )
    .unwrap();
    let config = dir.path().join("voicemail.toml");
    std::fs::write(&config, format!("store_dir = \"messages\"\n{shipped}")).unwrap();
    let (mut attendant, said) = spawn(
        &server,
        &[
            "attendant",
            "--token",
            &token(&vm),
            "--config",
            config.to_str().unwrap(),
        ],
    );
    let (mut alice_watch, alice_sees) = spawn(&server, &["phone", "--token", &alice, "watch"]);
    let (mut erin_watch, erin_sees) = spawn(&server, &["phone", "--token", &erin, "watch"]);
    until(&alice_sees, "Alice connected", |v| v["event"] == "ready");
    until(&erin_sees, "Erin connected", |v| v["event"] == "ready");

    let mut phones = Phones {
        dir: dir.path().to_owned(),
        proxy: sip.clone(),
        agents: vec![],
    };
    phones.answering(ERIN, "uas-noanswer.xml", &[]);
    let speak = |from: &str, to: &str, label: &str| {
        let mut c = phones.sipp();
        c.arg("-sf")
            .arg(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../../deploy/voicemail/sipp/uac-speak.xml"),
            )
            .args([
                "-s",
                to,
                "-key",
                "caller",
                from,
                "-m",
                "1",
                "-mp",
                &free_udp_port().to_string(),
            ])
            .args([
                "-timeout",
                "60",
                "-timeout_error",
                "-cid_str",
                &format!("{label}-%u-%p@%s"),
            ])
            .arg(&sip);
        c.spawn().unwrap()
    };

    // Alice's call is diverted; her phone shows the voicemail's screen and says so.
    let alice_call = speak(ALICE, ERIN, "leave");
    let call = until(&said, "the call", |v| v["event"] == "call");
    assert_eq!(
        (call["caller"].as_str(), call["mailbox"].as_str()),
        (Some(ALICE), Some(ERIN))
    );
    let session = call["session"].as_str().unwrap().to_owned();
    let screen = until(&alice_sees, "the voicemail's screen", |v| {
        v["event"] == "screen" && v["kind"] == "screen"
    });
    assert_eq!(screen["body"]["id"], "leave");
    assert_eq!(
        screen["body"]["regions"][0]["action"]["to"], ERIN,
        "write to Erin instead"
    );
    let ack = until(&said, "the acknowledgement", |v| v["event"] == "ack");
    assert_eq!(ack["status"], "shown");

    // Record, add a photo, end the call from the screen.
    run(
        &server,
        &[
            "phone", "--token", &alice, "press", &session, "leave", "record",
        ],
    );
    until(&alice_sees, "the recording screen", |v| {
        v["kind"] == "screen" && v["body"]["id"] == "recording"
    });
    let photo = dir.path().join("scratch.png");
    std::fs::write(&photo, PNG).unwrap();
    run(
        &server,
        &[
            "phone",
            "--token",
            &alice,
            "send-file",
            &session,
            photo.to_str().unwrap(),
        ],
    );
    let kept = until(&said, "the photo kept", |v| v["event"] == "file_kept");
    assert_eq!(kept["name"], "scratch.png");
    // Alice speaks for a second or so (baresip records it) before she ends the call.
    let recording = || {
        std::fs::read_dir(baresip.get("BARESIP_RECORDINGS"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
    };
    let mut spoken = 0;
    for _ in 0..150 {
        spoken = recording().map_or(0, |p| std::fs::metadata(p).unwrap().len());
        if spoken > 32_000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        spoken > 32_000,
        "baresip records what Alice says ({spoken} bytes)"
    );
    run(
        &server,
        &[
            "phone",
            "--token",
            &alice,
            "press",
            &session,
            "recording",
            "end",
        ],
    );
    until(&said, "ending the call", |v| v["event"] == "ending_call");
    let status = tokio::task::spawn_blocking(move || {
        let mut c = alice_call;
        c.wait().unwrap()
    })
    .await
    .unwrap();
    assert!(
        status.success(),
        "the voicemail ended Alice's call: she got the BYE"
    );
    // What baresip recorded is speech, not silence: its loudest tenth of a second.
    let wav = std::fs::read(recording().unwrap()).unwrap();
    let samples: Vec<f64> = wav[44..]
        .chunks_exact(2)
        .map(|b| f64::from(i16::from_le_bytes([b[0], b[1]])))
        .collect();
    let loudest = samples
        .chunks(800)
        .map(|w| (w.iter().map(|x| x * x).sum::<f64>() / w.len() as f64).sqrt())
        .fold(0.0, f64::max);
    assert!(
        loudest > 500.0,
        "the recording is not silent (RMS {loudest:.0})"
    );

    // Erin calls her voicemail, presses play, and gets the photo with where it belongs.
    let erin_call = speak(ERIN, VOICEMAIL, "listen");
    let call = until(&said, "Erin's call", |v| v["event"] == "call");
    assert_eq!(call["owner"], true);
    let session = call["session"].as_str().unwrap().to_owned();
    until(&erin_sees, "the listen screen", |v| {
        v["kind"] == "screen" && v["body"]["id"] == "listen"
    });
    run(
        &server,
        &[
            "phone", "--token", &erin, "press", &session, "listen", "play",
        ],
    );
    let file = until(&erin_sees, "the photo", |v| v["kind"] == "file");
    assert_eq!(file["body"]["name"], "scratch.png");
    assert_eq!(file["body"]["mime"], "image/png");
    let playback = until(&erin_sees, "the playback schedule", |v| {
        v["kind"] == "app/voicemail.playback"
    });
    assert_eq!(playback["body"]["from"], ALICE);
    assert_eq!(playback["body"]["files"][0]["seq"], file["seq"]);
    assert!(playback["body"]["files"][0]["offset_ms"].as_i64().unwrap() >= 0);
    run(
        &server,
        &[
            "phone", "--token", &erin, "press", &session, "listen", "end",
        ],
    );
    let status = tokio::task::spawn_blocking(move || {
        let mut c = erin_call;
        c.wait().unwrap()
    })
    .await
    .unwrap();
    assert!(status.success(), "Erin's call ended from her screen");

    for c in [&mut attendant, &mut alice_watch, &mut erin_watch] {
        let _ = c.kill();
        let _ = c.wait();
    }
    drop(phones);
    drop(kamailio_peer);
    drop(baresip);
    let _ = serve.kill();
    let _ = serve.wait();
}

const PNG: &[u8] = &[
    0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, b'I', b'H', b'D', b'R', 0, 0, 0,
    1, 0, 0, 0, 1, 8, 2, 0, 0, 0,
];
