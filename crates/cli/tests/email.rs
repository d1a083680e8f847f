//! Email identities against real mail servers (started by `scripts/peers mail-start`): OpenSMTPD
//! takes callside's validation mail and delivers it into a maildir, Dovecot serves that mailbox
//! over IMAP, and `callside phone email-auto` finds the mail and completes the validation by
//! itself (S2-V). The validated address then works as an invitation endpoint.

use std::process::Command;

mod support;
use support::*;

#[test]
fn an_address_is_validated_from_the_users_own_mailbox_and_can_be_invited() {
    let dir = tempfile::tempdir().unwrap();
    let mail_dir = dir.path().join("mail");
    let mail = Peers::start(&mail_dir, &["mail-start", mail_dir.to_str().unwrap()], &[]);
    let smtp = format!("smtp://127.0.0.1:{}", mail.get("MAIL_SMTP_PORT"));
    let data = dir.path().join("data");
    let (mut serve, server) = serve(
        &data,
        &[
            ("CALLSIDE_MAIL__SMTP_URL", &smtp),
            ("CALLSIDE_MAIL__FROM", "callside <noreply@callside.test>"),
        ],
    );
    let device = |name: &str, number: &str| create_device(&server, &data, name, number);
    let alice = device("Alice", "+442079460001");
    let bob = device("Bob", "+442079460002");

    // Alice's app validates her address by reading her mailbox over IMAP.
    let validated = run(
        &server,
        &[
            "phone",
            "--token",
            &alice,
            "email-auto",
            "Alice@Callside.Test",
            "--imap-host",
            "127.0.0.1",
            "--imap-port",
            mail.get("MAIL_IMAP_PORT"),
            "--imap-user",
            "alice",
            "--imap-password",
            mail.get("MAIL_ALICE_PASSWORD"),
            "--imap-plain",
            "--wait",
            "30",
        ],
    )
    .remove(0);
    assert_eq!(validated["email"], "alice@callside.test");
    let me = run(&server, &["phone", "--token", &alice, "whoami"]).remove(0);
    assert_eq!(me["emails"], serde_json::json!(["alice@callside.test"]));
    // The mail itself is in her maildir (Dovecot moves it from new/ to cur/ once a client has
    // looked), and it carries only the token, not the device token.
    let maildir = std::path::Path::new(mail.get("MAIL_DIR")).join("alice/Maildir");
    let mails: Vec<String> = ["new", "cur"]
        .iter()
        .flat_map(|d| std::fs::read_dir(maildir.join(d)).unwrap())
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert_eq!(mails.len(), 1);
    assert!(
        mails[0].contains("X-Callside-Validation: ev_"),
        "{}",
        mails[0]
    );
    assert!(!mails[0].contains(&alice));

    // Bob asks for a mail but submits a wrong token: refused, nothing bound.
    let v = run(
        &server,
        &["phone", "--token", &bob, "email-add", "bob@callside.test"],
    )
    .remove(0);
    assert_eq!(v["state"], "sent");
    let out = Command::new(BIN)
        .args(["phone", "--token", &bob, "email-complete"])
        .arg(v["id"].as_str().unwrap())
        .arg("not-the-token")
        .env("CALLSIDE_SERVER", &server)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("wrong_token"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        run(&server, &["phone", "--token", &bob, "whoami"]).remove(0)["emails"],
        serde_json::json!([])
    );
    // An address the mail server refuses is refused at once.
    let out = Command::new(BIN)
        .args([
            "phone",
            "--token",
            &bob,
            "email-add",
            "nobody@callside.test",
        ])
        .env("CALLSIDE_SERVER", &server)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("mail_refused"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Bob invites Alice by her address: it rings on her device.
    let inv = run(
        &server,
        &["phone", "--token", &bob, "invite", "alice@callside.test"],
    )
    .remove(0);
    assert_eq!(inv["to"], "alice@callside.test");
    assert_eq!(inv["devices"], 1);
    let ringing = run(&server, &["phone", "--token", &alice, "invitations"]);
    assert_eq!(ringing[0]["id"], inv["id"]);

    drop(mail);
    let _ = serve.kill();
    let _ = serve.wait();
}
