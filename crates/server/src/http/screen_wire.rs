//! The wire form of screens (S1-F11–F21) read into the domain's, where they are checked.

use crate::http::error::ApiError;
use callside_core::principal::Principal;
use callside_core::screen as core;
use callside_core::PhoneNumber;
use callside_proto::screen as wire;

fn invalid(e: core::ScreenError) -> ApiError {
    ApiError::bad("invalid_screen", e.to_string())
}

fn action_in(a: &wire::Action) -> core::Action {
    use core::VoicemailCommand as C;
    use wire::VoicemailCommand as W;
    match a {
        wire::Action::SendLocation => core::Action::SendLocation,
        wire::Action::SendCard => core::Action::SendCard,
        wire::Action::Pay {
            amount,
            currency,
            reference,
        } => core::Action::Pay {
            amount: amount.clone(),
            currency: currency.clone(),
            reference: reference.clone(),
        },
        wire::Action::OpenUrl { url } => core::Action::OpenUrl(url.clone()),
        wire::Action::SendMessage { to, template } => core::Action::SendMessage {
            to: to.clone(),
            template: template.clone(),
        },
        wire::Action::Voicemail { command } => core::Action::Voicemail(match command {
            W::Record => C::Record,
            W::Stop => C::Stop,
            W::Play => C::Play,
            W::Pause => C::Pause,
            W::Rewind => C::Rewind,
            W::FastForward => C::FastForward,
            W::Rerecord => C::Rerecord,
            W::Delete => C::Delete,
            W::FetchFiles => C::FetchFiles,
        }),
        wire::Action::BrowseFile { accept } => core::Action::BrowseFile {
            accept: accept.clone(),
        },
        wire::Action::EndCall => core::Action::EndCall,
        wire::Action::App { name } => core::Action::App(name.clone()),
    }
}

/// Checks a `screen` body from `sender`, an automated system, and fills in its owner; the
/// domain screen it describes comes back with it.
pub(crate) fn screen_in(
    sender: &Principal,
    body: &mut wire::ScreenBody,
    parse: impl Fn(&str) -> Result<PhoneNumber, ApiError>,
) -> Result<core::Screen, ApiError> {
    let number = body.owner.number.as_deref().map(parse).transpose()?;
    body.owner.system = Some(sender.id.to_string());
    body.owner.number = number.as_ref().map(ToString::to_string);
    let screen = core::Screen {
        id: body.id.clone(),
        owner: core::Owner {
            system: sender.id.clone(),
            number,
        },
        mode: match body.mode {
            wire::ScreenMode::Predetermined => core::Mode::Predetermined,
            wire::ScreenMode::Dynamic => core::Mode::Dynamic,
        },
        target: match body.target {
            wire::ScreenTarget::Call => core::Target::Call,
            wire::ScreenTarget::Menu => core::Target::Menu,
            wire::ScreenTarget::Banner => core::Target::Banner,
            wire::ScreenTarget::Full => core::Target::Full,
        },
        automated: body.automated,
        title: body.title.clone(),
        regions: body
            .regions
            .iter()
            .map(|r| core::Region {
                id: r.id.clone(),
                label: r.label.clone(),
                icon: r.icon.clone(),
                position: r.position.map(|p| core::Position {
                    row: p.row,
                    col: p.col,
                    width: p.width,
                    height: p.height,
                }),
                display: match r.display {
                    wire::RegionDisplay::Steady => core::Display::Steady,
                    wire::RegionDisplay::Flashing => core::Display::Flashing,
                },
                overlay: r.overlay,
                action: action_in(&r.action),
            })
            .collect(),
    };
    screen.check(|n| sender.holds(n)).map_err(invalid)?;
    Ok(screen)
}

/// Checks the screen id, region id and detail of a `screen/ack` or `screen/action`.
pub(crate) fn check_about(screen: &str, region: Option<&str>) -> Result<(), ApiError> {
    core::check_id(screen).map_err(invalid)?;
    if let Some(r) = region {
        core::check_id(r).map_err(invalid)?;
    }
    Ok(())
}
