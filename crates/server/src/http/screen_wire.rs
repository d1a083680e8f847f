//! The wire form of screens (S1-F11–F21) read into the domain's, where they are checked.

use crate::http::error::ApiError;
use callside_core::principal::Principal;
use callside_core::screen as core;
use callside_core::PhoneNumber;
use callside_proto::screen as wire;

fn invalid(e: core::ScreenError) -> ApiError {
    ApiError::bad("invalid_screen", e.to_string())
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
    let screen = super::screen_map::screen_core(body, sender.id.clone(), number);
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
