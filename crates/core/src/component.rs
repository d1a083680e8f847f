//! Software components, capabilities and fees (S1-F6–F8, and the capability checks of F9/F10).
//!
//! A *component* is software a party wants the other to use over the session — a plug-in, an
//! app, a map viewer — named by a catalogue id and found at a location (S1-F6). Devices declare
//! their *capabilities* (features such as `location.share` and the components they have
//! installed) in the registry, so a capability check can be answered from the registry or by
//! asking the device. A feature that needs authorization costs a [`Fee`] the requester consents
//! to (S1-F8).

use std::collections::BTreeMap;

/// Well-known features (clients may declare others of the same shape).
pub mod feature {
    /// The device can send its own position (S1-F9/F10 capability check).
    pub const LOCATION_SHARE: &str = "location.share";
    /// The device can show a received position on a map.
    pub const LOCATION_VIEW: &str = "location.view";
    /// The device can show images (a map image is the fallback for `location.view`).
    pub const IMAGE_VIEW: &str = "image.view";
    /// The device shows screens (configuration data, S1-F11–F21); checked before one is sent
    /// (S1-F20).
    pub const SCREENS: &str = "screens";
}

/// At most this many features and components per device.
pub const MAX_FEATURES: usize = 64;
pub const MAX_COMPONENTS: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ComponentError {
    #[error("`{0}` is not a component id: 1-128 characters of a-z, 0-9, `.`, `_`, `-`, starting with a letter or digit (e.g. com.example.menu)")]
    BadId(String),
    #[error("`{0}` is not a feature name: 1-64 characters of a-z, 0-9, `.`, `_`, `-`, starting with a letter")]
    BadFeature(String),
    #[error("a component name is 1-100 characters without control characters")]
    BadName,
    #[error("a version is 1-32 visible ASCII characters (e.g. 1.4.2)")]
    BadVersion,
    #[error("sha256 must be 64 lowercase hex digits")]
    BadDigest,
    #[error("at most {MAX_FEATURES} features and {MAX_COMPONENTS} components")]
    TooMany,
    #[error("`{0}` is declared twice")]
    Duplicate(String),
    #[error("a fee is an amount like 2.50 (at most 9 digits, 4 after the point, above zero) and an ISO 4217 currency like GBP")]
    BadFee,
}

fn name_like(s: &str, max: usize, first_digit_ok: bool) -> bool {
    (1..=max).contains(&s.len())
        && s.as_bytes()[0].is_ascii_alphanumeric()
        && (first_digit_ok || s.as_bytes()[0].is_ascii_lowercase())
        && s.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
}

/// A catalogue id such as `com.example.menu`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ComponentId(String);

impl ComponentId {
    pub fn parse(s: &str) -> Result<Self, ComponentError> {
        if name_like(s, 128, true) {
            Ok(ComponentId(s.to_owned()))
        } else {
            Err(ComponentError::BadId(s.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ComponentId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks a version string: short, visible ASCII (not necessarily semver).
pub fn check_version(v: &str) -> Result<(), ComponentError> {
    if (1..=32).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(())
    } else {
        Err(ComponentError::BadVersion)
    }
}

/// A catalogue entry: where a component is found and which version is current (S1-F6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Component {
    pub id: ComponentId,
    pub name: String,
    pub version: String,
    /// Where the component is downloaded (the content server); checked by the server as a URL.
    pub url: String,
    /// The SHA-256 of the download, lowercase hex, for the device to check.
    pub sha256: Option<String>,
    /// Using it needs the authorization server's grant (S1-F8).
    pub authorization: bool,
}

impl Component {
    /// Checks everything but the URL (which the server parses).
    pub fn validate(&self) -> Result<(), ComponentError> {
        let n = self.name.chars().count();
        if !(1..=100).contains(&n) || self.name.chars().any(char::is_control) {
            return Err(ComponentError::BadName);
        }
        check_version(&self.version)?;
        if let Some(d) = &self.sha256 {
            if d.len() != 64
                || !d
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                return Err(ComponentError::BadDigest);
            }
        }
        Ok(())
    }
}

/// What a device declares it can do (the registry's capability data, S1-F6).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    pub features: Vec<String>,
    /// Installed components and their versions.
    pub components: BTreeMap<ComponentId, String>,
}

/// Whether a device has a component, by its declared capabilities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Installed {
    /// The catalogue's current version.
    Current,
    /// Another version (an update is offered).
    Other(String),
    No,
}

impl Capabilities {
    /// Builds and checks a declaration: valid names, no duplicates, within the limits.
    pub fn new(
        features: Vec<String>,
        components: Vec<(String, String)>,
    ) -> Result<Self, ComponentError> {
        if features.len() > MAX_FEATURES || components.len() > MAX_COMPONENTS {
            return Err(ComponentError::TooMany);
        }
        let mut seen = std::collections::BTreeSet::new();
        for f in &features {
            if !name_like(f, 64, false) {
                return Err(ComponentError::BadFeature(f.clone()));
            }
            if !seen.insert(f.as_str()) {
                return Err(ComponentError::Duplicate(f.clone()));
            }
        }
        let mut map = BTreeMap::new();
        for (id, version) in components {
            let id = ComponentId::parse(&id)?;
            check_version(&version)?;
            if map.insert(id.clone(), version).is_some() {
                return Err(ComponentError::Duplicate(id.0));
            }
        }
        let mut features = features;
        features.sort();
        Ok(Capabilities {
            features,
            components: map,
        })
    }

    pub fn has_feature(&self, f: &str) -> bool {
        self.features.iter().any(|x| x == f)
    }

    pub fn installed(&self, c: &Component) -> Installed {
        match self.components.get(&c.id) {
            Some(v) if *v == c.version => Installed::Current,
            Some(v) => Installed::Other(v.clone()),
            None => Installed::No,
        }
    }
}

/// A fee stated by the authorization server and consented to by the requester (S1-F8). The
/// amount stays a decimal string (no floating point): `2.50`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fee {
    pub amount: String,
    pub currency: String,
}

impl Fee {
    pub fn new(amount: &str, currency: &str) -> Result<Fee, ComponentError> {
        let (whole, frac) = amount.split_once('.').unwrap_or((amount, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        let ok = (1..=9).contains(&whole.len())
            && digits(whole)
            && (!amount.contains('.') || (1..=4).contains(&frac.len()))
            && digits(frac)
            && amount.bytes().any(|b| (b'1'..=b'9').contains(&b))
            && !(whole.len() > 1 && whole.starts_with('0'))
            && currency.len() == 3
            && currency.bytes().all(|b| b.is_ascii_uppercase());
        if ok {
            Ok(Fee {
                amount: amount.to_owned(),
                currency: currency.to_owned(),
            })
        } else {
            Err(ComponentError::BadFee)
        }
    }

    /// The same charge, however the amount is written (`2.5` and `2.50`).
    pub fn same_as(&self, other: &Fee) -> bool {
        let norm = |a: &str| -> (String, String) {
            let (w, f) = a.split_once('.').unwrap_or((a, ""));
            (w.to_owned(), f.trim_end_matches('0').to_owned())
        };
        self.currency == other.currency && norm(&self.amount) == norm(&other.amount)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn component(version: &str) -> Component {
        Component {
            id: ComponentId::parse("com.example.menu").unwrap(),
            name: "Pizza menu".into(),
            version: version.into(),
            url: "https://apps.example.com/menu".into(),
            sha256: None,
            authorization: false,
        }
    }

    #[test]
    fn ids_and_features_are_checked() {
        assert!(ComponentId::parse("com.example.menu").is_ok());
        assert!(ComponentId::parse("3d-viewer").is_ok());
        for bad in ["", "Com.Example", ".menu", "a b", &"x".repeat(129)] {
            assert!(ComponentId::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Capabilities::new(vec!["location.share".into()], vec![]).is_ok());
        assert_eq!(
            Capabilities::new(vec!["9lives".into()], vec![]),
            Err(ComponentError::BadFeature("9lives".into()))
        );
        assert_eq!(
            Capabilities::new(vec!["a".into(), "a".into()], vec![]),
            Err(ComponentError::Duplicate("a".into()))
        );
        assert_eq!(
            Capabilities::new(
                vec![],
                vec![("com.x".into(), "1".into()), ("com.x".into(), "2".into())]
            ),
            Err(ComponentError::Duplicate("com.x".into()))
        );
        assert_eq!(
            Capabilities::new(vec![], vec![("com.x".into(), "1 0".into())]),
            Err(ComponentError::BadVersion)
        );
        assert_eq!(
            Capabilities::new(vec!["f".into(); MAX_FEATURES + 1], vec![]),
            Err(ComponentError::TooMany)
        );
    }

    #[test]
    fn installed_compares_the_catalogue_version() {
        let caps =
            Capabilities::new(vec![], vec![("com.example.menu".into(), "1.2".into())]).unwrap();
        assert_eq!(caps.installed(&component("1.2")), Installed::Current);
        assert_eq!(
            caps.installed(&component("1.3")),
            Installed::Other("1.2".into())
        );
        assert_eq!(
            Capabilities::default().installed(&component("1.2")),
            Installed::No
        );
    }

    #[test]
    fn catalogue_entries_are_checked() {
        assert!(component("1.0").validate().is_ok());
        let mut c = component("1.0");
        c.name = String::new();
        assert_eq!(c.validate(), Err(ComponentError::BadName));
        let mut c = component("1.0");
        c.sha256 = Some("AB".repeat(32));
        assert_eq!(c.validate(), Err(ComponentError::BadDigest));
        c.sha256 = Some("ab".repeat(32));
        assert!(c.validate().is_ok());
    }

    #[test]
    fn fees_are_decimal_strings() {
        assert!(Fee::new("2.50", "GBP").is_ok());
        assert!(Fee::new("10", "EUR").is_ok());
        for (a, c) in [
            ("0", "GBP"),
            ("0.00", "GBP"),
            ("-1", "GBP"),
            ("1.", "GBP"),
            ("1.23456", "GBP"),
            ("01", "GBP"),
            ("1e3", "GBP"),
            ("1", "gbp"),
            ("1", "POUND"),
            ("1234567890", "GBP"),
        ] {
            assert!(Fee::new(a, c).is_err(), "{a} {c}");
        }
        let f = Fee::new("2.5", "GBP").unwrap();
        assert!(f.same_as(&Fee::new("2.50", "GBP").unwrap()));
        assert!(!f.same_as(&Fee::new("2.05", "GBP").unwrap()));
        assert!(!f.same_as(&Fee::new("2.5", "EUR").unwrap()));
    }
}
