//! Screens as text: what an automated system put on the caller's screen, the acknowledgement,
//! and the region pressed.

use super::{short_key, Names};
use callside_client::proto::screen::{Action, RegionDisplay, ScreenBody, ScreenStatus};
use callside_client::screens::{ScreenEvent, ScreenMessage};

fn action_text(a: &Action) -> String {
    match a {
        Action::SendLocation => "send your location".into(),
        Action::SendCard => "send your card".into(),
        Action::Pay {
            amount,
            currency,
            reference,
        } => match reference {
            Some(r) => format!("pay {amount} {currency} ({r})"),
            None => format!("pay {amount} {currency}"),
        },
        Action::OpenUrl { url } => format!("open {url}"),
        Action::SendMessage { to, template } if template.is_empty() => {
            format!("write a message to {to}")
        }
        Action::SendMessage { to, template } => format!("write to {to}: \"{template}\""),
        Action::Voicemail { command } => format!(
            "voicemail: {}",
            serde_json::to_value(command)
                .ok()
                .and_then(|v| v.as_str().map(|s| s.replace('_', " ")))
                .unwrap_or_default()
        ),
        Action::BrowseFile { accept } if accept.is_empty() => "choose a file to send".into(),
        Action::BrowseFile { accept } => format!("choose a file to send ({})", accept.join(", ")),
        Action::EndCall => "end the call".into(),
        Action::App { name } => format!("app/{name}"),
    }
}

fn screen_text(prefix: &str, session: &str, sender: &str, s: &ScreenBody) -> String {
    let from = match &s.owner.number {
        Some(n) => format!("{sender} ({n})"),
        None => sender.to_owned(),
    };
    let mut out = format!(
        "{prefix} screen \"{}\" from {from}{}",
        s.id,
        if s.automated {
            " — this call is with an automated system"
        } else {
            ""
        }
    );
    if let Some(t) = &s.title {
        out.push_str(&format!("\n    {t}"));
    }
    for r in &s.regions {
        let flashing = if r.display == RegionDisplay::Flashing {
            " (flashing)"
        } else {
            ""
        };
        out.push_str(&format!(
            "\n    [{}] {}{flashing} → {}",
            r.id,
            r.label,
            action_text(&r.action)
        ));
    }
    out.push_str(&format!(
        "\n    press one with: callside phone press {session} {} <region>",
        s.id
    ));
    out
}

/// A screen message as text (several lines for a screen).
pub(crate) fn screen_event_text(e: &ScreenEvent, names: &Names) -> String {
    let prefix = format!("[{}#{}]", short_key(&e.session), e.seq);
    let sender = names.name(&e.sender);
    match &e.message {
        ScreenMessage::Screen(s) => screen_text(&prefix, &e.session, &sender, s),
        ScreenMessage::Ack(a) => match a.status {
            ScreenStatus::Shown => format!("{prefix} {sender} shows screen \"{}\"", a.screen),
            ScreenStatus::NotSupported => format!(
                "{prefix} {sender} cannot show screen \"{}\"{}",
                a.screen,
                a.detail
                    .as_deref()
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default()
            ),
        },
        ScreenMessage::Action(a) => format!(
            "{prefix} {sender} pressed [{}] on screen \"{}\"{}",
            a.region,
            a.screen,
            a.value
                .as_ref()
                .map(|v| format!(" with {v}"))
                .unwrap_or_default()
        ),
    }
}

/// `app/voicemail.playback` (S1-F17): which file goes with which moment of the message.
pub(crate) fn playback_text(prefix: &str, sender: &str, body: &serde_json::Value) -> String {
    let mut out = format!(
        "{prefix} {sender}: message from {} — its files during playback:",
        body["from"].as_str().unwrap_or("?")
    );
    for f in body["files"].as_array().into_iter().flatten() {
        let ms = f["offset_ms"].as_i64().unwrap_or(0);
        out.push_str(&format!(
            "\n    at {}:{:02}.{} show {} (#{})",
            ms / 60_000,
            ms / 1000 % 60,
            ms % 1000 / 100,
            f["name"].as_str().unwrap_or("?"),
            f["seq"]
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn screens_and_playback_read_as_text() {
        let body: ScreenBody = serde_json::from_value(json!({
            "id": "leave", "owner": {"system": "svc_vm", "number": "+442079460900"},
            "mode": "predetermined", "target": "call", "automated": true, "title": "Voicemail of Bob",
            "regions": [
                {"id": "record", "label": "Record", "display": "flashing",
                 "action": {"type": "voicemail", "command": "fast_forward"}},
                {"id": "msg", "label": "Write", "action": {"type": "send_message", "to": "+442079460002", "template": "Hi"}}
            ]}))
        .unwrap();
        let e = ScreenEvent {
            session: "sk_0123456789abcdefXYZ".into(),
            seq: 3,
            sender: "svc_vm".into(),
            sent_at: 0,
            message: ScreenMessage::Screen(body),
        };
        let text = screen_event_text(&e, &Names::default());
        assert!(
            text.contains("this call is with an automated system"),
            "{text}"
        );
        assert!(
            text.contains("[record] Record (flashing) → voicemail: fast forward"),
            "{text}"
        );
        assert!(text.contains("write to +442079460002: \"Hi\""), "{text}");
        assert!(
            text.contains("callside phone press sk_0123456789abcdefXYZ leave <region>"),
            "{text}"
        );
        let p = playback_text(
            "[x#9]",
            "Voicemail",
            &json!({"from": "+442079460001", "files": [{"seq": 7, "name": "a.png", "offset_ms": 63_450}]}),
        );
        assert!(p.contains("at 1:03.4 show a.png (#7)"), "{p}");
    }
}
