//! Pre-configured user data (S3-F11–F17): a card of typed fields a user sets up before any call,
//! each field versioned, the audiences that decide which fields which counterpart receives, and
//! what is stale for a receiver given what it already has (the delivery ledger).

pub mod vcard;

use crate::number::{NumberRange, PhoneNumber};
use crate::Millis;
use std::collections::HashMap;

/// What a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FieldKind {
    /// The formatted name (vCard FN); the one field every card has.
    Name,
    /// A photo: a blob id (`sha256:…`) in callside's blob store.
    Photo,
    Organization,
    Title,
    Email,
    /// A telephone number (E.164).
    Phone,
    /// A postal address.
    Address,
    /// `YYYY-MM-DD` or `--MM-DD` (RFC 6350 date without year).
    Birthday,
    Url,
    /// A social-network or messaging id, as a URI (`https://…`, `xmpp:…`, `sip:…`).
    Social,
    Note,
}

impl FieldKind {
    pub const ALL: [FieldKind; 11] = [
        FieldKind::Name,
        FieldKind::Photo,
        FieldKind::Organization,
        FieldKind::Title,
        FieldKind::Email,
        FieldKind::Phone,
        FieldKind::Address,
        FieldKind::Birthday,
        FieldKind::Url,
        FieldKind::Social,
        FieldKind::Note,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FieldKind::Name => "name",
            FieldKind::Photo => "photo",
            FieldKind::Organization => "organization",
            FieldKind::Title => "title",
            FieldKind::Email => "email",
            FieldKind::Phone => "phone",
            FieldKind::Address => "address",
            FieldKind::Birthday => "birthday",
            FieldKind::Url => "url",
            FieldKind::Social => "social",
            FieldKind::Note => "note",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        FieldKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A postal address (vCard ADR without the obsolete PO box and extended parts).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Address {
    pub street: String,
    pub locality: String,
    pub region: String,
    pub postal_code: String,
    pub country: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldValue {
    Text(String),
    Address(Address),
}

/// One field of a card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardField {
    /// Stable within the card: `name`, `email`, `email.work`, `phone.mobile`, …
    pub id: String,
    pub kind: FieldKind,
    pub value: FieldValue,
    /// `work`, `home`, `mobile`, … (vCard TYPE).
    pub label: Option<String>,
    /// Moves by one each time the value or label changes.
    pub version: u64,
    pub updated_at: Millis,
}

/// Why a card was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CardError {
    #[error("field `{0}`: {1}")]
    Field(String, String),
    #[error("a card needs exactly one `name` field")]
    NoName,
    #[error("a card has at most {0} fields")]
    TooMany(usize),
    #[error("field id `{0}` appears twice")]
    Duplicate(String),
    #[error("not a vCard 4.0 or jCard: {0}")]
    Format(String),
}

pub const MAX_FIELDS: usize = 64;
const MAX_TEXT: usize = 1024;

fn check_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-' || b == b'_'
        })
}

/// A field as the user gives it, before versions are assigned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewField {
    pub id: String,
    pub kind: FieldKind,
    pub value: FieldValue,
    pub label: Option<String>,
}

impl NewField {
    /// Checks the value against its kind; numbers are normalised in `region`.
    pub fn validate(mut self, region: Option<crate::Region>) -> Result<NewField, CardError> {
        let bad = |why: &str| CardError::Field(self.id.clone(), why.to_owned());
        if !check_id(&self.id) {
            return Err(bad("ids are 1-64 characters of a-z, 0-9, `.`, `-`, `_`"));
        }
        if let Some(l) = &self.label {
            if l.is_empty()
                || l.len() > 32
                || !l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            {
                return Err(bad("a label is 1-32 letters, digits or `-`"));
            }
        }
        let text = match (&self.value, self.kind) {
            (FieldValue::Address(a), FieldKind::Address) => {
                let all = [
                    &a.street,
                    &a.locality,
                    &a.region,
                    &a.postal_code,
                    &a.country,
                ];
                if all.iter().all(|s| s.is_empty()) || all.iter().any(|s| s.len() > MAX_TEXT) {
                    return Err(bad(
                        "an address needs at least one part, each at most 1 KiB",
                    ));
                }
                return Ok(self);
            }
            (FieldValue::Address(_), _) => {
                return Err(bad("only an address field holds an address"))
            }
            (FieldValue::Text(_), FieldKind::Address) => {
                return Err(bad("an address field holds an address object"))
            }
            (FieldValue::Text(t), _) => t.trim().to_owned(),
        };
        if text.is_empty()
            || text.len() > MAX_TEXT
            || text
                .chars()
                .any(|c| (c.is_control() && c != '\n') || crate::screen::is_bidi_control(c))
        {
            return Err(bad(
                "text is 1 byte to 1 KiB without control or bidirectional formatting characters",
            ));
        }
        let checked = match self.kind {
            FieldKind::Email => crate::email::Email::parse(&text)
                .map_err(|e| bad(&e.to_string()))?
                .to_string(),
            FieldKind::Phone => PhoneNumber::parse(&text, region)
                .map_err(|e| bad(&e.to_string()))?
                .to_string(),
            FieldKind::Photo => {
                crate::message::BlobId::parse(&text)
                    .map_err(|_| bad("a photo is a blob id (sha256:…)"))?;
                text
            }
            FieldKind::Url | FieldKind::Social => {
                let scheme = text.split_once(':').map(|(s, _)| s).unwrap_or("");
                if scheme.is_empty()
                    || !scheme
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
                {
                    return Err(bad("a URI with a scheme, e.g. https://… or xmpp:…"));
                }
                // Apps show these as links: nothing that runs code or reads local data when
                // tapped, and a web address is a web address.
                let scheme = scheme.to_ascii_lowercase();
                if matches!(
                    scheme.as_str(),
                    "javascript" | "vbscript" | "data" | "file" | "blob" | "about" | "filesystem"
                ) {
                    return Err(bad(&format!("`{scheme}:` links are not allowed on cards")));
                }
                if self.kind == FieldKind::Url && !matches!(scheme.as_str(), "http" | "https") {
                    return Err(bad("a web address starts http:// or https://"));
                }
                text
            }
            FieldKind::Birthday => {
                let ok = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
                let valid = match text.as_bytes() {
                    [_, _, _, _, b'-', _, _, b'-', _, _] => {
                        ok(&text[..4]) && ok(&text[5..7]) && ok(&text[8..])
                    }
                    [b'-', b'-', _, _, b'-', _, _] => ok(&text[2..4]) && ok(&text[5..]),
                    _ => false,
                };
                if !valid {
                    return Err(bad("a birthday is YYYY-MM-DD or --MM-DD"));
                }
                text
            }
            _ => text,
        };
        self.value = FieldValue::Text(checked);
        Ok(self)
    }
}

/// A user's card.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Card {
    pub fields: Vec<CardField>,
}

impl Card {
    /// The card after replacing its fields with `new` (validated): unchanged fields keep their
    /// version, changed ones move up by one, new ones start at 1, missing ones are removed.
    pub fn replaced(&self, new: Vec<NewField>, now: Millis) -> Result<Card, CardError> {
        if new.len() > MAX_FIELDS {
            return Err(CardError::TooMany(MAX_FIELDS));
        }
        let mut seen = std::collections::HashSet::new();
        for f in &new {
            if !seen.insert(f.id.clone()) {
                return Err(CardError::Duplicate(f.id.clone()));
            }
        }
        if new.iter().filter(|f| f.kind == FieldKind::Name).count() != 1 {
            return Err(CardError::NoName);
        }
        let old: HashMap<&str, &CardField> =
            self.fields.iter().map(|f| (f.id.as_str(), f)).collect();
        let fields = new
            .into_iter()
            .map(|f| match old.get(f.id.as_str()) {
                Some(o) if o.kind == f.kind && o.value == f.value && o.label == f.label => {
                    (*o).clone()
                }
                Some(o) => CardField {
                    version: o.version + 1,
                    updated_at: now,
                    id: f.id,
                    kind: f.kind,
                    value: f.value,
                    label: f.label,
                },
                None => CardField {
                    version: 1,
                    updated_at: now,
                    id: f.id,
                    kind: f.kind,
                    value: f.value,
                    label: f.label,
                },
            })
            .collect();
        Ok(Card { fields })
    }

    pub fn name(&self) -> Option<&str> {
        self.fields.iter().find_map(|f| match (&f.kind, &f.value) {
            (FieldKind::Name, FieldValue::Text(t)) => Some(t.as_str()),
            _ => None,
        })
    }
}

/// How a receiving device treats cards from one counterpart (S3-F17).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactPolicy {
    /// Never receive this counterpart's card.
    Block,
    /// Receive it the next time only (then the rule is gone).
    Once,
    /// A known contact: always receive.
    Always,
}

impl ContactPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            ContactPolicy::Block => "block",
            ContactPolicy::Once => "once",
            ContactPolicy::Always => "always",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "block" => ContactPolicy::Block,
            "once" => ContactPolicy::Once,
            "always" => ContactPolicy::Always,
            _ => return None,
        })
    }
}

/// A receiving device's rules (S3-F17).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReceivePolicy {
    /// Receive only from contacts marked `once` or `always`.
    pub known_only: bool,
    pub contacts: Vec<(PhoneNumber, ContactPolicy)>,
}

impl ReceivePolicy {
    /// Whether a card from `sender` may be delivered; and whether doing so uses up a `once`.
    pub fn admits(&self, sender: Option<&PhoneNumber>) -> (bool, bool) {
        let rule = sender.and_then(|s| self.contacts.iter().find(|(n, _)| n == s).map(|(_, p)| *p));
        match rule {
            Some(ContactPolicy::Block) => (false, false),
            Some(ContactPolicy::Once) => (true, true),
            Some(ContactPolicy::Always) => (true, false),
            None => (!self.known_only, false),
        }
    }
}

/// A named group of counterparts and the fields they receive (S3-F16).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audience {
    pub name: String,
    /// Counterpart numbers or prefixes (E.164 ranges).
    pub members: Vec<NumberRange>,
    pub fields: Vec<FieldKind>,
}

/// What everyone not in an audience receives: little.
pub const DEFAULT_FIELDS: [FieldKind; 1] = [FieldKind::Name];

/// The kinds of field `counterpart` may receive: those of the most specific audience holding
/// it (longest matching prefix; ties go to the first), or the default audience's.
pub fn allowed_for<'a>(
    audiences: &'a [Audience],
    default_fields: &'a [FieldKind],
    counterpart: Option<&PhoneNumber>,
) -> &'a [FieldKind] {
    let Some(n) = counterpart else {
        return default_fields;
    };
    audiences
        .iter()
        .filter_map(|a| {
            a.members
                .iter()
                .filter(|r| r.contains(n))
                .map(|r| r.as_str().len())
                .max()
                .map(|len| (len, a))
        })
        .fold(None::<(usize, &Audience)>, |best, (len, a)| match best {
            Some((b, _)) if b >= len => best,
            _ => Some((len, a)),
        })
        .map(|(_, a)| a.fields.as_slice())
        .unwrap_or(default_fields)
}

/// The fields a receiver should get: allowed for it, and newer than what the ledger says it has.
pub fn to_deliver<'a>(
    card: &'a Card,
    allowed: &[FieldKind],
    has: &HashMap<String, u64>,
) -> Vec<&'a CardField> {
    card.fields
        .iter()
        .filter(|f| allowed.contains(&f.kind))
        .filter(|f| has.get(&f.id).is_none_or(|v| *v < f.version))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(id: &str, kind: FieldKind, v: &str) -> NewField {
        NewField {
            id: id.into(),
            kind,
            value: FieldValue::Text(v.into()),
            label: None,
        }
    }

    #[test]
    fn fields_are_checked_by_kind() {
        let gb = Some("GB".parse().unwrap());
        let ok = text("phone.mobile", FieldKind::Phone, "07400 123456")
            .validate(gb)
            .unwrap();
        assert_eq!(ok.value, FieldValue::Text("+447400123456".into()));
        let ok = text("email", FieldKind::Email, "Alice@Example.COM")
            .validate(gb)
            .unwrap();
        assert_eq!(ok.value, FieldValue::Text("alice@example.com".into()));
        for bad in [
            text("Bad Id", FieldKind::Note, "x"),
            text("phone", FieldKind::Phone, "nope"),
            text("email", FieldKind::Email, "nope"),
            text("photo", FieldKind::Photo, "https://example.com/me.jpg"),
            text("url", FieldKind::Url, "example.com"),
            text("url", FieldKind::Url, "javascript:alert(1)"),
            text("url", FieldKind::Url, "JavaScript:alert(1)"),
            text("url", FieldKind::Url, "ftp://example.com/x"),
            text(
                "social",
                FieldKind::Social,
                "data:text/html,<script>alert(1)</script>",
            ),
            text("social", FieldKind::Social, "file:///etc/passwd"),
            text("bday", FieldKind::Birthday, "1990-13"),
            text("note", FieldKind::Note, ""),
            text("note", FieldKind::Note, &"x".repeat(2000)),
            text("adr", FieldKind::Address, "1 Street"),
        ] {
            assert!(bad.clone().validate(gb).is_err(), "{bad:?}");
        }
        text("bday", FieldKind::Birthday, "--04-01")
            .validate(gb)
            .unwrap();
        text("bday", FieldKind::Birthday, "1990-04-01")
            .validate(gb)
            .unwrap();
    }

    #[test]
    fn versions_move_only_for_changed_fields() {
        let card = Card::default()
            .replaced(
                vec![
                    text("name", FieldKind::Name, "Alice"),
                    text("org", FieldKind::Organization, "ACME"),
                ],
                10,
            )
            .unwrap();
        assert!(card.fields.iter().all(|f| f.version == 1));
        let card2 = card
            .replaced(
                vec![
                    text("name", FieldKind::Name, "Alice"),
                    text("org", FieldKind::Organization, "ACME Ltd"),
                ],
                20,
            )
            .unwrap();
        assert_eq!(card2.fields[0].version, 1);
        assert_eq!(card2.fields[0].updated_at, 10);
        assert_eq!(
            (card2.fields[1].version, card2.fields[1].updated_at),
            (2, 20)
        );
        assert_eq!(
            card2.replaced(vec![text("org", FieldKind::Organization, "x")], 30),
            Err(CardError::NoName)
        );
        assert!(matches!(
            card2.replaced(
                vec![
                    text("name", FieldKind::Name, "a"),
                    text("name", FieldKind::Name, "b")
                ],
                30
            ),
            Err(CardError::Duplicate(_))
        ));
    }

    #[test]
    fn receiving_policies_block_accept_once_and_keep_to_known_contacts() {
        let n = |s: &str| PhoneNumber::parse(s, None).unwrap();
        let mut p = ReceivePolicy {
            known_only: false,
            contacts: vec![
                (n("+442079460001"), ContactPolicy::Block),
                (n("+442079460002"), ContactPolicy::Once),
                (n("+442079460003"), ContactPolicy::Always),
            ],
        };
        assert_eq!(p.admits(Some(&n("+442079460001"))), (false, false));
        assert_eq!(p.admits(Some(&n("+442079460002"))), (true, true));
        assert_eq!(p.admits(Some(&n("+442079460003"))), (true, false));
        assert_eq!(p.admits(Some(&n("+442079460009"))), (true, false));
        assert_eq!(p.admits(None), (true, false));
        p.known_only = true;
        assert_eq!(p.admits(Some(&n("+442079460009"))), (false, false));
        assert_eq!(p.admits(None), (false, false));
        assert_eq!(p.admits(Some(&n("+442079460003"))), (true, false));
    }

    #[test]
    fn audiences_pick_fields_and_the_ledger_drops_what_is_known() {
        let family = Audience {
            name: "family".into(),
            members: vec![NumberRange::parse("+447400123456").unwrap()],
            fields: vec![FieldKind::Name, FieldKind::Phone, FieldKind::Birthday],
        };
        let work = Audience {
            name: "work".into(),
            members: vec![NumberRange::parse("+4474").unwrap()],
            fields: vec![FieldKind::Name, FieldKind::Organization],
        };
        let audiences = vec![work, family];
        let mum = PhoneNumber::parse("+447400123456", None).unwrap();
        let colleague = PhoneNumber::parse("+447400999999", None).unwrap();
        let stranger = PhoneNumber::parse("+12125550123", None).unwrap();
        assert_eq!(
            allowed_for(&audiences, &DEFAULT_FIELDS, Some(&mum)).len(),
            3,
            "the longest prefix wins"
        );
        assert_eq!(
            allowed_for(&audiences, &DEFAULT_FIELDS, Some(&colleague)),
            &[FieldKind::Name, FieldKind::Organization]
        );
        assert_eq!(
            allowed_for(&audiences, &DEFAULT_FIELDS, Some(&stranger)),
            &DEFAULT_FIELDS
        );
        assert_eq!(
            allowed_for(&audiences, &DEFAULT_FIELDS, None),
            &DEFAULT_FIELDS
        );

        let card = Card::default()
            .replaced(
                vec![
                    text("name", FieldKind::Name, "Alice"),
                    text("org", FieldKind::Organization, "ACME"),
                ],
                1,
            )
            .unwrap();
        let allowed = allowed_for(&audiences, &DEFAULT_FIELDS, Some(&colleague));
        let mut has = HashMap::new();
        assert_eq!(to_deliver(&card, allowed, &has).len(), 2);
        has.insert("name".to_owned(), 1);
        let left: Vec<&str> = to_deliver(&card, allowed, &has)
            .iter()
            .map(|f| f.id.as_str())
            .collect();
        assert_eq!(left, ["org"]);
        has.insert("org".to_owned(), 1);
        assert!(to_deliver(&card, allowed, &has).is_empty());
        assert!(to_deliver(&card, &DEFAULT_FIELDS, &HashMap::new())
            .iter()
            .all(|f| f.kind == FieldKind::Name));
    }
}
