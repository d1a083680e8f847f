//! Proving the device's numbers (by SMS) and email addresses.

use anyhow::{bail, Context};
use callside_client::proto::numbers::MtProof;
use callside_client::Client;
use std::time::Duration;
use tokio::io::{AsyncBufRead, AsyncBufReadExt as _, BufReader};

use super::commands::PhoneCommand;
use crate::output::Output;

pub(super) async fn run(
    client: &Client,
    command: PhoneCommand,
    out: &Output,
) -> anyhow::Result<()> {
    match command {
        PhoneCommand::RegisterSms { timeout, send_with } => {
            register_sms(client, timeout, send_with.as_deref(), out).await?;
        }
        PhoneCommand::CompleteSms { proof, code, sms } => {
            let proven = client.complete_number_proof(&proof, &code, &sms).await?;
            out.result(&proven, || {
                format!("{} is now a number of this device", proven.number)
            });
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
        PhoneCommand::EmailComplete {
            validation,
            mail_token,
        } => {
            let v = client.complete_email(&validation, &mail_token).await?;
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
        _ => unreachable!("phone::run sends only proof commands here"),
    }
    Ok(())
}

/// S2-R from the device's side: start, show the SMS to send, wait for the SMS that comes back —
/// pasted on stdin, or printed by the `--send-with` command that sent it — and complete.
async fn register_sms(
    client: &Client,
    timeout: u64,
    send_with: Option<&str>,
    out: &Output,
) -> anyhow::Result<()> {
    let proof = client.start_number_proof().await?;
    let (Some(text), Some(code)) = (&proof.sms_body, &proof.code) else {
        bail!("the server did not return the SMS to send");
    };
    out.result(
        &serde_json::json!({"event": "send_sms", "proof": proof.id, "to": proof.sms_to, "text": text, "code": code}),
        || {
            format!(
                "Send this SMS from the phone to prove its number.\n  to:   {}\n  text: {text}\n(proof {}: should this command stop, `callside phone complete-sms --proof {} --code {code} '<the SMS received>'` finishes it)",
                proof.sms_to, proof.id, proof.id
            )
        },
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    let reply = match send_with {
        None => {
            out.progress("then paste the SMS you receive back (a line containing `CS1 S …`):");
            let stdin = BufReader::new(tokio::io::stdin());
            tokio::time::timeout_at(deadline, proof_line(stdin, Some(out)))
                .await
                .with_context(|| format!("no proof SMS within {timeout} s"))??
                .context("stdin ended before the proof SMS arrived")?
        }
        Some(command) => {
            out.progress(&format!(
                "sending it with: {command} {} '{text}'",
                proof.sms_to
            ));
            tokio::time::timeout_at(deadline, send_and_read(command, &proof.sms_to, text))
                .await
                .with_context(|| {
                    format!("`{command}` printed no proof SMS (`CS1 S …`) within {timeout} s")
                })??
        }
    };
    let proven = client
        .complete_number_proof(&proof.id, code, &reply)
        .await?;
    out.result(
        &serde_json::json!({"event": "proven", "number": proven.number, "replaced": proven.replaced}),
        || format!("{} is now a number of this device", proven.number),
    );
    Ok(())
}

/// The first line that is a proof SMS (`CS1 S <number> <signature>`); `None` when the input
/// ends first. Other lines are skipped, saying so to a person pasting (`out`).
async fn proof_line(
    input: impl AsyncBufRead + Unpin,
    out: Option<&Output>,
) -> anyhow::Result<Option<String>> {
    let mut lines = input.lines();
    while let Some(line) = lines.next_line().await? {
        if MtProof::parse(&line).is_ok() {
            return Ok(Some(line));
        }
        if let (Some(out), false) = (out, line.trim().is_empty()) {
            out.progress(
                "that is not the proof SMS (it contains `CS1 S <number> <signature>`); try again:",
            );
        }
    }
    Ok(None)
}

/// Runs `command` through `sh -c` with the destination number and the text as two more
/// arguments (a modem tool, or `scripts/peers kannel-phone` in the tour), and reads the proof
/// SMS from what it prints.
async fn send_and_read(command: &str, to: &str, text: &str) -> anyhow::Result<String> {
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{command} \"$@\""))
        .arg("sh")
        .args([to, text])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot run `{command}`"))?;
    let stdout = child.stdout.take().context("the command's output")?;
    let found = proof_line(BufReader::new(stdout), None).await?;
    let status = child.wait().await?;
    match found {
        Some(line) => Ok(line),
        None if !status.success() => bail!("`{command}` failed ({status})"),
        None => bail!("`{command}` ended without printing the proof SMS (`CS1 S …`)"),
    }
}
