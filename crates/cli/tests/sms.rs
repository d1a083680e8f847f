//! Number proof over a real SMS gateway: Kannel (bearerbox + smsbox, started by `scripts/peers`)
//! with Kannel's `fakesmsc` playing the handset, callside's real binary, and `callside phone
//! register-sms` completing the proof from the SMS the handset received.

use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

mod support;
use support::*;

const GATEWAY_NUMBER: &str = "+447400100000";
const HANDSET: &str = "+447400123456";

/// Kannel's handset simulator: sends `mo` (if any) and prints every SMS it receives.
struct Handset {
    child: Child,
    received: mpsc::Receiver<(String, String, String)>,
}

impl Handset {
    fn start(fakesmsc: &str, smsc_port: &str, mo: Option<(&str, &str, &str)>) -> Handset {
        let message = match mo {
            Some((from, to, text)) => format!("{from} {to} text {text}"),
            None => "x y text unused".into(),
        };
        let mut child = Command::new(fakesmsc)
            .args(["-H", "127.0.0.1", "-r", smsc_port, "-i", "1"])
            .args(["-m", if mo.is_some() { "1" } else { "0" }])
            .arg(message)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("fakesmsc runs (Debian package kannel-extras)");
        let stderr = child.stderr.take().unwrap();
        let (tx, received) = mpsc::channel();
        std::thread::spawn(move || {
            // `… Got message 1: <from to text the text>`
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let Some((_, rest)) = line.split_once("Got message ") else {
                    continue;
                };
                let Some((_, sms)) = rest.split_once(": <") else {
                    continue;
                };
                let sms = sms.strip_suffix('>').unwrap_or(sms);
                let mut parts = sms.splitn(4, ' ');
                if let (Some(from), Some(to), Some("text"), Some(text)) =
                    (parts.next(), parts.next(), parts.next(), parts.next())
                {
                    let _ = tx.send((from.to_owned(), to.to_owned(), text.to_owned()));
                }
            }
        });
        Handset { child, received }
    }

    fn next_sms(&self) -> (String, String, String) {
        self.received
            .recv_timeout(Duration::from_secs(30))
            .expect("the handset receives an SMS within 30 s")
    }
}

impl Drop for Handset {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn token(v: &Value) -> String {
    v["token"].as_str().unwrap().to_owned()
}

/// callside configured for Kannel's sendsms (before Kannel starts, as in a deployment), the
/// accounts a deployment has (an SMS gateway, an app's enrolment key), and Kannel itself.
struct Deployment {
    dir: tempfile::TempDir,
    serve: Child,
    server: String,
    gateway: String,
    enrollment: String,
    kannel: Option<Peers>,
}

impl Deployment {
    fn start(extra_env: &[(&str, &str)]) -> Deployment {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let sendsms_port = free_port().to_string();
        let sendsms_password = format!("pw{}", std::process::id());
        let sendsms_url = format!("http://127.0.0.1:{sendsms_port}/cgi-bin/sendsms");
        let mut env = vec![
            ("CALLSIDE_DEFAULT_REGION", "GB"),
            ("CALLSIDE_SMS__PROVIDER", "kannel"),
            ("CALLSIDE_SMS__URL", sendsms_url.as_str()),
            ("CALLSIDE_SMS__USERNAME", "callside"),
            ("CALLSIDE_SMS__PASSWORD", sendsms_password.as_str()),
            ("CALLSIDE_SMS__NUMBER", GATEWAY_NUMBER),
        ];
        env.extend_from_slice(extra_env);
        let (serve, server) = serve(&data, &env);
        let mut d = Deployment {
            dir,
            serve,
            server,
            gateway: String::new(),
            enrollment: String::new(),
            kannel: None,
        };
        d.gateway = token(&d.admin(&[
            "service",
            "create",
            "--name",
            "kannel",
            "--scope",
            "sms-gateway",
            "--range",
            "+44",
        ]));
        d.enrollment = token(&d.admin(&[
            "service",
            "create",
            "--name",
            "app",
            "--scope",
            "device-enrollment",
        ]));
        let kannel_dir = d.dir.path().join("kannel");
        d.kannel = Some(Peers::start(
            &kannel_dir,
            &[
                "kannel-start",
                kannel_dir.to_str().unwrap(),
                &d.server,
                &d.gateway,
            ],
            &[
                ("PEERS_KANNEL_SENDSMS_PORT", &sendsms_port),
                ("PEERS_KANNEL_SENDSMS_PASSWORD", &sendsms_password),
            ],
        ));
        d
    }

    fn admin(&self, args: &[&str]) -> Value {
        let data = self.dir.path().join("data");
        let mut all = vec!["admin", "--data-dir", data.to_str().unwrap()];
        all.extend_from_slice(args);
        run(&self.server, &all).remove(0)
    }

    fn kannel(&self) -> &Peers {
        self.kannel.as_ref().unwrap()
    }

    fn handset(&self, mo: Option<(&str, &str, &str)>) -> Handset {
        Handset::start(
            self.kannel().get("KANNEL_FAKESMSC"),
            self.kannel().get("KANNEL_SMSC_PORT"),
            mo,
        )
    }

    /// Alice's phone (+44 20 7946 0001) calls the handset, whose number has no app: only her
    /// app reports the call. Returns her token and the pending leg.
    fn alice_calls_the_handset(&self) -> (String, Value) {
        let alice = token(&self.admin(&[
            "device",
            "create",
            "--name",
            "Alice",
            "--number",
            "+44 20 7946 0001",
        ]));
        let leg = run(
            &self.server,
            &["phone", "--token", &alice, "call", HANDSET, "--wait", "0"],
        )
        .remove(0);
        assert_eq!(leg["state"], "pending", "{leg}");
        (alice, leg)
    }

    /// An app enrols a device (no number yet); returns its token.
    fn enroll(&self, name: &str) -> String {
        token(
            &run(
                &self.server,
                &[
                    "phone",
                    "--token",
                    &self.enrollment,
                    "enroll",
                    "--name",
                    name,
                ],
            )[0],
        )
    }

    /// The device proves `number` the way `callside phone register-sms` does it.
    fn prove(&self, device: &str, number: &str) -> (Value, String) {
        let mut register = Command::new(BIN)
            .args([
                "--json",
                "phone",
                "--token",
                device,
                "register-sms",
                "--timeout",
                "60",
            ])
            .env("CALLSIDE_SERVER", &self.server)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut answers = BufReader::new(register.stdout.take().unwrap()).lines();
        let mut next_answer = || -> Value {
            serde_json::from_str(&answers.next().expect("a line").unwrap()).unwrap()
        };
        let send = next_answer();
        assert_eq!(send["event"], "send_sms");
        assert_eq!(send["to"], GATEWAY_NUMBER);
        let handset = self.handset(Some((
            number,
            GATEWAY_NUMBER,
            send["text"].as_str().unwrap(),
        )));
        let (from, to, reply) = handset.next_sms();
        assert_eq!((from.as_str(), to.as_str()), (GATEWAY_NUMBER, number));
        let mut stdin = register.stdin.take().unwrap();
        writeln!(stdin, "{reply}").unwrap();
        let proven = next_answer();
        assert_eq!(proven["event"], "proven", "{proven}");
        assert_eq!(proven["number"], number);
        assert!(register.wait().unwrap().success());
        (send, reply)
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        self.kannel.take();
        let _ = self.serve.kill();
        let _ = self.serve.wait();
    }
}

#[test]
fn a_number_is_proven_over_kannel_with_fakesmsc_as_the_handset() {
    let d = Deployment::start(&[]);
    let (server, kannel) = (d.server.clone(), d.kannel());
    let device = d.enroll("Pixel");

    // The app starts the proof and says what to send.
    let mut register = Command::new(BIN)
        .args([
            "--json",
            "phone",
            "--token",
            &device,
            "register-sms",
            "--timeout",
            "60",
        ])
        .env("CALLSIDE_SERVER", &server)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut answers = BufReader::new(register.stdout.take().unwrap()).lines();
    let mut next_answer =
        || -> Value { serde_json::from_str(&answers.next().expect("a line").unwrap()).unwrap() };
    let send = next_answer();
    assert_eq!(send["event"], "send_sms");
    assert_eq!(send["to"], GATEWAY_NUMBER);
    let text = send["text"].as_str().unwrap();

    // The handset sends it through the SMS network (fakesmsc → bearerbox → smsbox → callside)…
    let handset = Handset::start(
        kannel.get("KANNEL_FAKESMSC"),
        kannel.get("KANNEL_SMSC_PORT"),
        Some((HANDSET, GATEWAY_NUMBER, text)),
    );
    // …and gets the proof back (callside → sendsms → bearerbox → fakesmsc).
    let (from, to, reply) = handset.next_sms();
    assert_eq!((from.as_str(), to.as_str()), (GATEWAY_NUMBER, HANDSET));
    assert!(reply.contains(&format!("CS1 S {HANDSET} ")), "{reply}");

    // The app reads the SMS (here: pasted into its stdin) and completes the proof.
    let mut stdin = register.stdin.take().unwrap();
    writeln!(stdin, "some other SMS first").unwrap();
    writeln!(stdin, "{reply}").unwrap();
    let proven = next_answer();
    assert_eq!(proven["event"], "proven", "{proven}");
    assert_eq!(proven["number"], HANDSET);
    assert!(register.wait().unwrap().success());
    let me = &run(&server, &["phone", "--token", &device, "whoami"])[0];
    assert_eq!(me["numbers"], serde_json::json!([HANDSET]));

    // The same SMS again (a retry) gets the same answer, and the used proof cannot be replayed.
    drop(handset);
    let again = Handset::start(
        kannel.get("KANNEL_FAKESMSC"),
        kannel.get("KANNEL_SMSC_PORT"),
        Some((HANDSET, GATEWAY_NUMBER, text)),
    );
    // A proven proof is finished: callside refuses the repeat and sends nothing.
    assert!(again.received.recv_timeout(Duration::from_secs(3)).is_err());
    let out = Command::new(BIN)
        .args(["phone", "--token", &device, "complete-sms", "--proof"])
        .arg(send["proof"].as_str().unwrap())
        .args(["--code", send["code"].as_str().unwrap(), &reply])
        .env("CALLSIDE_SERVER", &server)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("proof_used"), "{stderr}");

    // `--send-with` a command that fails, or that prints no proof SMS, says which and why.
    for (command, said) in [
        ("false", "`false` failed (exit status: 1)"),
        (
            "echo CS1 R sent",
            "`echo CS1 R sent` ended without printing the proof SMS",
        ),
    ] {
        let out = Command::new(BIN)
            .args([
                "phone",
                "--token",
                &device,
                "register-sms",
                "--send-with",
                command,
            ])
            .env("CALLSIDE_SERVER", &server)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(said), "{command}: {stderr}");
    }

    drop(again);
}

#[test]
fn a_party_without_the_app_is_texted_a_link_and_joins_once_it_proves_its_number() {
    // S1-F7, opted in: a link, a short grace period for the one-sided call.
    let d = Deployment::start(&[
        (
            "CALLSIDE_INVITATIONS__SMS_LINK",
            "https://example.com/get?i={invitation}",
        ),
        ("CALLSIDE_INVITATIONS__ONE_SIDED_AFTER_SECS", "1"),
    ]);
    // Alice calls a number nobody registered; only her app reports the call.
    let listening = d.handset(None);
    let (alice, leg) = d.alice_calls_the_handset();
    // The call was answered (only then is a stranger texted: they really were on the phone).
    run(
        &d.server,
        &[
            "phone",
            "--token",
            &alice,
            "answer",
            leg["id"].as_str().unwrap(),
        ],
    );
    let (from, to, text) = listening.next_sms();
    assert_eq!((from.as_str(), to.as_str()), (GATEWAY_NUMBER, HANDSET));
    assert!(
        text.starts_with("+442079460001 would like to share call data"),
        "{text}"
    );
    let id = text.rsplit("?i=").next().unwrap().to_owned();
    assert!(id.starts_with("inv_"), "{text}");
    drop(listening);
    // The operator can account for every such SMS.
    let audit = d.admin(&["audit"]);
    assert_eq!(audit["action"], "sms_invitation");
    assert_eq!(audit["subject"], HANDSET);
    assert!(audit["detail"].as_str().unwrap().contains(&id));

    // The callee installs the app, which enrols and proves the number: the invitation rings.
    let device = d.enroll("New phone");
    d.prove(&device, HANDSET);
    let ringing = run(&d.server, &["phone", "--token", &device, "invitations"]);
    assert_eq!(ringing.len(), 1, "{ringing:?}");
    assert_eq!(ringing[0]["id"], id);
    assert_eq!(ringing[0]["from"], "+442079460001");
    let accepted = run(&d.server, &["phone", "--token", &device, "accept", &id]).remove(0);
    assert_eq!(accepted["state"], "accepted");
    let session = accepted["session"].as_str().unwrap();
    run(
        &d.server,
        &["phone", "--token", &alice, "send", session, "the menu"],
    );
    let log = run(
        &d.server,
        &["phone", "--token", &device, "messages", session],
    );
    assert!(
        log.iter().any(|m| m["body"]["text"] == "the menu"),
        "{log:?}"
    );
}

#[test]
fn a_component_offered_to_a_party_without_the_app_goes_by_sms_and_arrives_once_installed() {
    // S1-F6/F7: the link is texted only when the caller offers something (no automatic offer).
    let d = Deployment::start(&[
        (
            "CALLSIDE_INVITATIONS__SMS_LINK",
            "https://example.com/get?i={invitation}",
        ),
        ("CALLSIDE_INVITATIONS__ONE_SIDED_AFTER_SECS", "3600"),
    ]);
    let published = d.admin(&[
        "component",
        "put",
        "com.example.menu",
        "--name",
        "Pizza menu",
        "--version",
        "3",
        "--url",
        "https://apps.example.com/menu",
    ]);
    assert_eq!(published["version"], "3");
    let listening = d.handset(None);
    let (alice, leg) = d.alice_calls_the_handset();
    let leg = leg["id"].as_str().unwrap().to_owned();
    // Not answered yet: a stranger is not texted.
    let out = std::process::Command::new(BIN)
        .env("CALLSIDE_SERVER", &d.server)
        .args([
            "phone",
            "--token",
            &alice,
            "offer-on-call",
            &leg,
            "com.example.menu",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("call_not_answered"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    run(&d.server, &["phone", "--token", &alice, "answer", &leg]);
    let inv = run(
        &d.server,
        &[
            "phone",
            "--token",
            &alice,
            "offer-on-call",
            &leg,
            "com.example.menu",
        ],
    )
    .remove(0);
    assert_eq!(inv["component"], "com.example.menu");
    let (_, to, text) = listening.next_sms();
    assert_eq!(to, HANDSET);
    assert!(
        text.starts_with("+442079460001 would like to share Pizza menu with you. Get the app: https://example.com/get?i="),
        "{text}"
    );
    assert!(text.ends_with(inv["id"].as_str().unwrap()), "{text}");
    drop(listening);
    // The app is installed and proves the number (the installation confirmation): the
    // invitation rings, and accepting opens a session that starts with the offer.
    let device = d.enroll("New phone");
    d.prove(&device, HANDSET);
    let id = inv["id"].as_str().unwrap();
    let accepted = run(&d.server, &["phone", "--token", &device, "accept", id]).remove(0);
    let session = accepted["session"].as_str().unwrap();
    let log = run(
        &d.server,
        &["phone", "--token", &device, "messages", session],
    );
    let offer = log
        .iter()
        .find(|m| m["kind"] == "system/component")
        .unwrap_or_else(|| panic!("{log:?}"));
    assert_eq!(
        offer["body"]["component"]["url"],
        "https://apps.example.com/menu"
    );
    assert_eq!(offer["body"]["component"]["name"], "Pizza menu");
}
