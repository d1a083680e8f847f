//! The only thing a push ever carries: an opaque wake-up.

use crate::ConfigError;

/// The longest wake-up id accepted: room for callside's ids (time prefix and random part) and
/// no room for a message.
pub const MAX_WAKE_ID_LEN: usize = 64;

/// A content-free wake-up: "something is waiting for you, fetch it".
///
/// Push services, Apple and Google see (and may keep) what a push carries, so a push never carries
/// content. The id is opaque to them and to the device's operating system: the device fetches what
/// it names over its authenticated channel. [`Wake::new`] accepts only short ids of
/// `[A-Za-z0-9._:-]`, so a message text cannot be passed as an id by mistake, and the adapters
/// accept nothing but a `Wake`.
///
/// On the wire it is the JSON object `{"t":"wake","id":"<id>"}` (Web Push: the encrypted body;
/// APNs: two custom keys beside `aps`; FCM: the `data` map).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Wake {
    id: String,
}

impl Wake {
    /// A wake-up naming `id`, which must match `[A-Za-z0-9._:-]{1,64}`.
    pub fn new(id: impl Into<String>) -> Result<Wake, ConfigError> {
        let id = id.into();
        if id.is_empty() || id.len() > MAX_WAKE_ID_LEN {
            return Err(ConfigError::WakeId(format!(
                "must be 1 to {MAX_WAKE_ID_LEN} characters, not {}",
                id.len()
            )));
        }
        if let Some(c) = id
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-')))
        {
            return Err(ConfigError::WakeId(format!(
                "only letters, digits and . _ : - are allowed, not {c:?}"
            )));
        }
        Ok(Wake { id })
    }

    /// The opaque id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The payload as JSON text: `{"t":"wake","id":"<id>"}` (the id needs no escaping).
    pub fn to_json(&self) -> String {
        format!(r#"{{"t":"wake","id":"{}"}}"#, self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_opaque_ids_and_renders_the_wake_up() {
        let wake = Wake::new("0190a1b2c3d4-Zx_9.q:r").unwrap();
        assert_eq!(wake.id(), "0190a1b2c3d4-Zx_9.q:r");
        let parsed: serde_json::Value = serde_json::from_str(&wake.to_json()).unwrap();
        assert_eq!(
            parsed,
            serde_json::json!({"t": "wake", "id": "0190a1b2c3d4-Zx_9.q:r"})
        );
    }

    #[test]
    fn refuses_anything_that_could_be_content() {
        for bad in [
            "",
            "Call me back at 5",
            "héllo",
            "a\"b",
            "x}",
            &"a".repeat(MAX_WAKE_ID_LEN + 1),
        ] {
            assert!(
                matches!(Wake::new(bad), Err(ConfigError::WakeId(_))),
                "{bad:?}"
            );
        }
        assert!(Wake::new("a".repeat(MAX_WAKE_ID_LEN)).is_ok());
    }
}
