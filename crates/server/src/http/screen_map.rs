//! The wire form of a screen read into the domain's, unchecked: shared by the server
//! (`screen_wire.rs`, which then checks it) and the fuzz target that feeds the domain's checks
//! arbitrary screens (`fuzz/src/lib.rs` includes this file). It uses nothing but the core and
//! proto crates.

use callside_core::screen as core;
use callside_core::{PhoneNumber, PrincipalId};
use callside_proto::screen as wire;

pub(crate) fn action_in(a: &wire::Action) -> core::Action {
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

/// `body` as the domain's screen, owned by `system` (and `number`, read by the caller).
pub(crate) fn screen_core(
    body: &wire::ScreenBody,
    system: PrincipalId,
    number: Option<PhoneNumber>,
) -> core::Screen {
    core::Screen {
        id: body.id.clone(),
        owner: core::Owner { system, number },
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
    }
}
