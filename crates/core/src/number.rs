//! Telephone numbers, normalised to E.164 with libphonenumber's metadata.

use std::fmt;
use std::str::FromStr;

/// Why a string is not an acceptable telephone number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    #[error("`{input}` is not a telephone number: {reason}")]
    Unparsable { input: String, reason: String },
    #[error("`{input}` is not a valid number for its country (normalised: {e164})")]
    Invalid { input: String, e164: String },
    /// A number written without its country code that is not one in the region assumed for it.
    #[error("`{input}` has no country code and is not a valid number in {region}, the region assumed for it (read as {read}): write it as +<country code> and the number, or set the region (`default_region` in the server's configuration)")]
    NotInRegion {
        input: String,
        region: String,
        read: String,
    },
    #[error("`{0}` is not a region code; use an ISO 3166 alpha-2 code such as GB or US")]
    UnknownRegion(String),
    #[error("`{0}` is not a number range; use `+` followed by 1 to 15 digits, e.g. +4420")]
    BadRange(String),
}

/// An ISO 3166-1 alpha-2 region used to read numbers written in national format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region(phonenumber::country::Id);

impl Region {
    pub fn code(&self) -> &str {
        self.0.as_ref()
    }
}

impl FromStr for Region {
    type Err = NumberError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let upper = s.trim().to_ascii_uppercase();
        phonenumber::country::Id::from_str(&upper)
            .map(Region)
            .map_err(|_| NumberError::UnknownRegion(shown(s)))
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A valid telephone number in E.164 form (`+` and digits), the only form callside stores.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PhoneNumber(String);

/// What an error shows of the input: enough to recognise it, never a whole oversized field.
fn shown(input: &str) -> String {
    const MAX: usize = 40;
    if input.chars().count() <= MAX {
        input.to_owned()
    } else {
        format!("{}…", input.chars().take(MAX).collect::<String>())
    }
}

impl PhoneNumber {
    /// Parses what a person or a phone would write: E.164, international or national format with
    /// spaces, dashes, dots or brackets, or a `tel:` URI. National numbers are read in `region`.
    pub fn parse(input: &str, region: Option<Region>) -> Result<Self, NumberError> {
        let trimmed = input.trim();
        // A number written with `+` carries its country. The `phonenumber` crate (0.3.10)
        // nevertheless applies the default region's national prefix to it: with region US,
        // `+44 161 496 0000` lost its leading 1. So international input is parsed without one.
        let region = if Self::is_international(trimmed) {
            None
        } else {
            region.map(|r| r.0)
        };
        let parsed = phonenumber::parse(region, trimmed).map_err(|e| NumberError::Unparsable {
            input: shown(input),
            reason: e.to_string(),
        })?;
        let e164 = parsed.format().mode(phonenumber::Mode::E164).to_string();
        // libphonenumber's metadata allows some national numbers (Germany's) longer than E.164's
        // 15 digits; callside stores E.164 only, so those are not numbers here (found by fuzzing).
        if !phonenumber::is_valid(&parsed) || !is_e164_shape(&e164) {
            return Err(match region {
                Some(r) => NumberError::NotInRegion {
                    input: shown(input),
                    region: r.as_ref().to_owned(),
                    read: e164,
                },
                None => NumberError::Invalid {
                    input: shown(input),
                    e164,
                },
            });
        }
        Ok(PhoneNumber(e164))
    }

    /// Whether `input` carries its own country code (`+…` or `tel:+…`), so that no region is
    /// needed to read it.
    pub fn is_international(input: &str) -> bool {
        let trimmed = input.trim();
        trimmed
            .strip_prefix("tel:")
            .unwrap_or(trimmed)
            .trim_start()
            .starts_with('+')
    }

    /// The region this number belongs to (GB for +44 20…), when the numbering plan names one.
    pub fn region(&self) -> Option<Region> {
        phonenumber::parse(None, &self.0)
            .ok()
            .and_then(|n| n.country().id())
            .map(Region)
    }

    /// Rebuilds a number that was validated before it was stored. Only the shape is checked.
    pub fn from_stored(e164: String) -> Self {
        debug_assert!(is_e164_shape(&e164), "stored number `{e164}` is not E.164");
        PhoneNumber(e164)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn is_e164_shape(s: &str) -> bool {
    let digits = s.strip_prefix('+').unwrap_or("");
    (1..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
}

/// A block of numbers given to a service account: every E.164 number starting with a prefix.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NumberRange(String);

impl NumberRange {
    /// `+` followed by 1 to 15 digits; spaces and dashes are ignored (`+44 20` = `+4420`).
    pub fn parse(input: &str) -> Result<Self, NumberError> {
        let compact: String = input
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '.'))
            .collect();
        if is_e164_shape(&compact) {
            Ok(NumberRange(compact))
        } else {
            Err(NumberError::BadRange(shown(input)))
        }
    }

    pub fn contains(&self, number: &PhoneNumber) -> bool {
        number.as_str().starts_with(&self.0)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NumberRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn gb() -> Option<Region> {
        Some("GB".parse().unwrap())
    }

    fn check(input: &str, region: Option<Region>, expect: Result<&str, ()>) {
        let got = PhoneNumber::parse(input, region);
        match expect {
            Ok(e164) => assert_eq!(got.expect(input).as_str(), e164, "input {input:?}"),
            Err(()) => assert!(got.is_err(), "{input:?} should be rejected, got {got:?}"),
        }
    }

    #[test]
    fn national_and_international_forms_normalise_to_one_string() {
        for input in [
            "+44 20 7946 0958",
            "+442079460958",
            "020 7946 0958",
            "020-7946-0958",
            "(020) 7946 0958",
            "0044 20 7946 0958",
            "tel:+44-20-7946-0958",
        ] {
            check(input, gb(), Ok("+442079460958"));
        }
        check(
            "(202) 555-0143",
            Some("us".parse().unwrap()),
            Ok("+12025550143"),
        );
    }

    #[test]
    fn international_numbers_ignore_the_default_region() {
        // Regression: with default region US, these lost the digit after the country code.
        let us = Some("US".parse().unwrap());
        for (input, e164) in [
            ("+44 161 496 0000", "+441614960000"),
            ("+44 117 496 0000", "+441174960000"),
            ("+33 1 23 45 67 89", "+33123456789"),
            ("tel:+44-161-496-0000", "+441614960000"),
            ("+1 212 555 0100", "+12125550100"),
        ] {
            check(input, us, Ok(e164));
            check(input, gb(), Ok(e164));
        }
    }

    #[test]
    fn a_number_knows_its_region_and_a_national_one_that_fails_names_the_region_assumed() {
        let london = PhoneNumber::parse("+442079460001", None).unwrap();
        assert_eq!(
            london.region().map(|r| r.code().to_owned()),
            Some("GB".into())
        );
        let ny = PhoneNumber::parse("+12125550100", None).unwrap();
        assert_eq!(ny.region().map(|r| r.code().to_owned()), Some("US".into()));
        assert!(PhoneNumber::is_international(" tel:+44 20"));
        assert!(!PhoneNumber::is_international("020 7946 0002"));
        let err = PhoneNumber::parse("020 7946 0002", Some("US".parse().unwrap())).unwrap_err();
        assert!(matches!(&err, NumberError::NotInRegion { region, .. } if region == "US"));
        let text = err.to_string();
        assert!(
            text.contains("in US")
                && text.contains("+<country code>")
                && text.contains("default_region"),
            "{text}"
        );
    }

    #[test]
    fn numbers_longer_than_e164_allows_are_refused() {
        // Valid for libphonenumber (a German number of 16 digits), not E.164.
        assert!(PhoneNumber::parse("+4995246714995246", None).is_err());
        assert!(PhoneNumber::parse("+49 30 1234567", None).is_ok());
    }

    #[test]
    fn invalid_numbers_are_rejected_with_the_reason() {
        check("hello", gb(), Err(()));
        check("", gb(), Err(()));
        check("+44 20 7946", gb(), Err(()));
        check("020 7946 0958", None, Err(()));
        let err = PhoneNumber::parse("+44 1", gb()).unwrap_err();
        assert!(err.to_string().contains("+44 1"), "{err}");
        let long = "9".repeat(10_000);
        let err = PhoneNumber::parse(&long, gb()).unwrap_err().to_string();
        assert!(
            err.len() < 200,
            "errors quote a bounded part of the input: {err}"
        );
    }

    #[test]
    fn unknown_region_is_an_error() {
        assert_eq!(
            "XX".parse::<Region>(),
            Err(NumberError::UnknownRegion("XX".into()))
        );
        assert_eq!("gb".parse::<Region>().unwrap().code(), "GB");
    }

    #[test]
    fn ranges_are_prefixes() {
        let r = NumberRange::parse("+44 20").unwrap();
        assert_eq!(r.as_str(), "+4420");
        assert!(r.contains(&PhoneNumber::parse("+442079460958", None).unwrap()));
        assert!(!r.contains(&PhoneNumber::parse("+441134960000", None).unwrap()));
        assert!(NumberRange::parse("4420").is_err());
        assert!(NumberRange::parse("+").is_err());
        assert!(NumberRange::parse("+44x").is_err());
    }

    proptest! {
        // Whatever separators a person types between the digits, the number normalises the same.
        #[test]
        fn separators_never_change_the_number(seps in proptest::collection::vec(
            prop_oneof![Just(""), Just(" "), Just("-"), Just(".")], 10)) {
            let digits = "2079460958";
            let mut typed = String::from("0");
            for (d, s) in digits.chars().zip(seps.iter()) {
                typed.push(d);
                typed.push_str(s);
            }
            let n = PhoneNumber::parse(&typed, gb()).unwrap();
            prop_assert_eq!(n.as_str(), "+442079460958");
        }

        // Normalisation is idempotent: a normalised number parses to itself in any region.
        #[test]
        fn normalised_numbers_are_fixed_points(local in 0u32..10_000) {
            let input = format!("020 7946 {local:04}");
            if let Ok(n) = PhoneNumber::parse(&input, gb()) {
                let again = PhoneNumber::parse(n.as_str(), Some("US".parse().unwrap())).unwrap();
                prop_assert_eq!(again, n);
            }
        }

        // Arbitrary text never panics the parser; it either parses to E.164 or errors.
        #[test]
        fn parser_never_panics(s in ".{0,40}") {
            if let Ok(n) = PhoneNumber::parse(&s, gb()) {
                prop_assert!(is_e164_shape(n.as_str()));
            }
        }
    }
}
