//! Screens on a session's log (S1-F11–F21). A `screen` is remembered with the regions it
//! offers, in the same commit as the message; a `screen/ack` or `screen/action` must name a
//! screen someone else sent on the same session, one its sender may see, and an action one of
//! the regions that screen offered.

use super::{Error, Sessions};
use callside_core::{PrincipalId, SessionKey};
use callside_store::{ScreenRecord, Write};

/// What a message does with screens, as the edge read it from the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ScreenUse {
    /// A `screen` offering these regions (replacing any earlier screen of the same id).
    Offer { id: String, regions: Vec<String> },
    /// A `screen/ack` (no region) or `screen/action` (a region) about screen `id`.
    About { id: String, region: Option<String> },
}

impl Sessions {
    /// Checks a message's use of screens before it is numbered `seq`; returns the write that
    /// commits with it. `seen_after` is the newest message its sender may not read.
    pub(super) async fn check_screen_use(
        &self,
        key: &SessionKey,
        who: &PrincipalId,
        seen_after: u64,
        seq: u64,
        used: &ScreenUse,
    ) -> Result<Option<Write>, Error> {
        match used {
            ScreenUse::Offer { id, regions } => Ok(Some(Write::Screen(ScreenRecord {
                session: key.clone(),
                id: id.clone(),
                sender: who.clone(),
                seq,
                regions: regions.clone(),
            }))),
            ScreenUse::About { id, region } => {
                let screen = self
                    .store
                    .screen(key.clone(), id.clone())
                    .await?
                    .filter(|s| s.seq > seen_after)
                    .ok_or_else(|| Error::UnknownScreen(id.clone()))?;
                if &screen.sender == who {
                    return Err(Error::OwnScreen);
                }
                if let Some(r) = region {
                    if !screen.regions.contains(r) {
                        return Err(Error::UnknownRegion {
                            screen: id.clone(),
                            region: r.clone(),
                        });
                    }
                }
                Ok(None)
            }
        }
    }
}
