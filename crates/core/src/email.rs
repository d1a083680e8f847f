//! Email identities (S2-E, S2-V): an address a device proved it can read mail for, usable as an
//! endpoint id (invitations by email) beside phone numbers.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an email address")]
pub struct EmailError(pub String);

/// An email address, checked (RFC 5322 addr-spec, via the `email_address` crate) and kept in
/// lower case: callside matches addresses case-insensitively, as mail providers do in practice.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Email(String);

impl Email {
    pub fn parse(input: &str) -> Result<Self, EmailError> {
        let trimmed = input.trim();
        let shown = || EmailError(trimmed.chars().take(60).collect());
        if trimmed.len() > 254 || trimmed.chars().any(char::is_whitespace) {
            return Err(shown());
        }
        let parsed: email_address::EmailAddress = trimmed.parse().map_err(|_| shown())?;
        // Display names ("Alice <a@b>") are not addresses; a domain needs a dot.
        if parsed.as_str() != trimmed || !parsed.domain().contains('.') {
            return Err(shown());
        }
        Ok(Email(trimmed.to_lowercase()))
    }

    /// Rebuilds an address that was checked before it was stored.
    pub fn from_stored(s: String) -> Self {
        Email(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whom an invitation is for: the devices of a number, or of an email address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Number(crate::PhoneNumber),
    Email(Email),
}

impl Endpoint {
    pub fn as_str(&self) -> &str {
        match self {
            Endpoint::Number(n) => n.as_str(),
            Endpoint::Email(e) => e.as_str(),
        }
    }

    /// Stored endpoints: addresses contain `@`, numbers never do.
    pub fn from_stored(s: String) -> Self {
        if s.contains('@') {
            Endpoint::Email(Email(s))
        } else {
            Endpoint::Number(crate::PhoneNumber::from_stored(s))
        }
    }

    pub fn number(&self) -> Option<&crate::PhoneNumber> {
        match self {
            Endpoint::Number(n) => Some(n),
            Endpoint::Email(_) => None,
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_checked_and_compared_in_lower_case() {
        assert_eq!(
            Email::parse(" Alice@Callside.Test ").unwrap().as_str(),
            "alice@callside.test"
        );
        for bad in [
            "",
            "alice",
            "alice@",
            "@callside.test",
            "alice@localhost",
            "Alice <alice@callside.test>",
            "a b@callside.test",
            &format!("{}@x.test", "a".repeat(300)),
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
        let e = Endpoint::from_stored("bob@callside.test".into());
        assert!(matches!(e, Endpoint::Email(_)));
        let n = Endpoint::from_stored("+442079460001".into());
        assert_eq!(n.number().unwrap().as_str(), "+442079460001");
    }
}
