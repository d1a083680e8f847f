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
