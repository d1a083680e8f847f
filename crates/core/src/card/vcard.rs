//! vCard 4.0 (RFC 6350) and jCard (RFC 7095) import and export of cards.
//!
//! The syntax is the [`vcard-rs`](https://docs.rs/vcard-rs) crate's (imported as `::vcard`): one
//! version-agnostic model with a liberal parser, a canonical writer and an RFC 7095 codec, so
//! both representations go through the same property model and can't drift apart. It was picked
//! over `vcard4` (vCard only, pulls `time`, `logos`, `uriparse`, `language-tags`, …) plus a
//! separate jCard crate: with default features off (`parser` + `jcard`) it adds only `memchr`
//! and `serde_json`. This module only maps callside fields ↔ vCard properties.
//!
//! # Mapping
//!
//! | kind | property | value |
//! |---|---|---|
//! | Name | `FN` | text |
//! | Organization | `ORG` | one organizational unit; on import the units are joined with `, ` |
//! | Title, Email, Note | `TITLE`, `EMAIL`, `NOTE` | text |
//! | Phone | `TEL;VALUE=uri` | `tel:+447400123456`; on import `tel:` and URI parameters (`;ext=…`) are cut off, a 3.0 text value is kept as is |
//! | Address | `ADR` | 7 components, PO box and extended address empty (RFC 6350 §6.3.1 SHOULD); on import a non-empty extended address and PO box are appended to the street |
//! | Birthday | `BDAY` | RFC 6350 basic date `19900401` / `--0401`; read back as `1990-04-01` / `--04-01` |
//! | Url | `URL` | URI |
//! | Social | `IMPP` for messaging schemes (`xmpp:`, `sip:`, `matrix:`, …, RFC 6350 §6.4.3), `SOCIALPROFILE` (RFC 9554 §3.5) for the rest (`https://…`) | URI; import also reads Apple's `X-SOCIALPROFILE` |
//! | Photo | `PHOTO` | `urn:callside:blob:sha256:…`; on import a photo that is not such a URN (inline data, a web address) is skipped: fetching or storing it is the caller's job, and core does no I/O |
//!
//! A field's `label` is the `TYPE` parameter (lower-cased on import, as TYPE values are
//! case-insensitive); a phone's `mobile` is written as the registered `TYPE=cell` and `cell`
//! reads back as `mobile`. On import the generic TYPE values `pref`, `voice`, `internet`, … are
//! skipped, the first other one is the label, a social profile without one takes its
//! `SERVICE-TYPE`, and a value that could not be a callside label is dropped rather than failing
//! the import.
//!
//! # Ids and versions
//!
//! Every property carries `X-CALLSIDE-ID=<field id>` and `X-CALLSIDE-VERSION=<version>`
//! parameters. RFC 6350 §3.3 lets any property carry `x-name` parameters and conformant readers
//! keep the ones they don't know (vcard-rs does, and jCard carries them as `x-callside-id` /
//! `x-callside-version`). The alternatives don't fit: a group name can't hold the `.` of
//! `email.work`, RFC 9554's `PROP-ID` only allows `A-Za-z0-9-_`, and `PID` is a sync id tied to a
//! `CLIENTPIDMAP`. Import reads the id back; the version is information for the receiver only,
//! since versions are assigned by [`Card::replaced`](super::Card::replaced), which keeps the
//! version of every field whose id, kind, value and label came back unchanged.
//!
//! Properties without an id get one: `<kind>` for the first of a kind (`name` for `FN`), then
//! `<kind>.<label>`, then `<kind>.<n>`, never one already taken. Only the first `FN` is read;
//! properties callside has no kind for (`N`, `GEO`, `X-…`) are ignored. Values are not validated
//! here: the caller runs [`NewField::validate`](super::NewField::validate).
//!
//! Lines are written unfolded, which RFC 6350 §3.2 permits (folding at 75 octets is a SHOULD).

use super::{Address, Card, CardError, CardField, FieldKind, FieldValue, NewField};
use ::vcard::param::VcardParam;
use ::vcard::prop::{VcardProp, VcardPropKind, VcardPropName};
use ::vcard::tree::cst::VcardCst;
use ::vcard::tree::error::VcardParseError;
use ::vcard::value::adr::VcardAdr;
use ::vcard::value::binary::VcardBinary;
use ::vcard::value::datetime::VcardDateAndOrTime;
use ::vcard::value::org::VcardOrg;
use ::vcard::value::text::VcardText;
use ::vcard::value::uri::VcardUri;
use ::vcard::value::VcardValue;
use ::vcard::vcard::Vcard;
use ::vcard::version::VcardVersion;
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

/// The parameter holding a field's id.
pub const ID_PARAM: &str = "X-CALLSIDE-ID";
/// The parameter holding a field's version.
pub const VERSION_PARAM: &str = "X-CALLSIDE-VERSION";
/// The URI prefix of a photo in callside's blob store; the blob id (`sha256:…`) follows.
pub const BLOB_URN: &str = "urn:callside:blob:";

/// URI schemes of instant-messaging and calling addresses, written as `IMPP`.
const MESSAGING_SCHEMES: [&str; 13] = [
    "xmpp", "sip", "sips", "im", "irc", "ircs", "matrix", "skype", "aim", "ymsgr", "msnim", "icq",
    "gtalk",
];

/// TYPE values that say nothing a label would.
const GENERIC_TYPES: [&str; 8] = [
    "pref", "voice", "internet", "x400", "dom", "intl", "postal", "parcel",
];

/// The card as a vCard 4.0 text (CRLF line ends).
pub fn to_vcard(card: &Card) -> String {
    model(card).to_string()
}

/// The card as a jCard: the JSON text of `["vcard", [...properties...]]`.
pub fn to_jcard(card: &Card) -> String {
    model(card).to_jcard().to_string()
}

/// The fields of the one vCard (4.0 or 3.0) in `text`, ready for [`Card::replaced`].
pub fn from_vcard(text: &str) -> Result<Vec<NewField>, CardError> {
    let mut cards = VcardCst::parse_many(text);
    let cst = match cards.next() {
        Some(Ok(cst)) => cst,
        Some(Err(e)) => return Err(format(parse_error(&e))),
        None => return Err(format("the text is empty")),
    };
    let is_vcard = cst
        .begin
        .as_ref()
        .is_some_and(|b| b.raw_value_str().trim().eq_ignore_ascii_case("VCARD"));
    if !is_vcard {
        return Err(format("the text does not start with BEGIN:VCARD"));
    }
    if cards.next().is_some() {
        return Err(format("the text holds more than one vCard"));
    }
    if cst.version() == VcardVersion::V2_1 {
        return Err(format("vCard 2.1 is not read; export as 3.0 or 4.0"));
    }
    fields(&cst.decode())
}

/// The fields of the jCard in `json`, ready for [`Card::replaced`].
pub fn from_jcard(json: &str) -> Result<Vec<NewField>, CardError> {
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format(&format!("not JSON: {e}")))?;
    let card = Vcard::from_jcard(&value).map_err(|_| {
        format("not a jCard: expected [\"vcard\", [[name, {params}, type, value], …]]")
    })?;
    fields(&card)
}

fn format(why: &str) -> CardError {
    CardError::Format(why.to_owned())
}

/// A short reason; the library's messages quote the whole input.
fn parse_error(e: &VcardParseError) -> &'static str {
    match e {
        VcardParseError::MissingCrlf(_) => "a content line has no line end",
        VcardParseError::MissingPropertyColon(_) => "a content line has no `:` before its value",
        VcardParseError::NonUtf8Header(_) => "a property name or parameter is not UTF-8",
        VcardParseError::ExpectedBegin(_) => "the text does not start with BEGIN:VCARD",
        VcardParseError::MissingEnd(_) => "END:VCARD is missing",
    }
}

// ---- export ----

fn model(card: &Card) -> Vcard<'_> {
    Vcard {
        version: VcardVersion::V4_0,
        properties: card.fields.iter().map(property).collect(),
    }
}

fn property(f: &CardField) -> VcardProp<'_> {
    let text = || match &f.value {
        FieldValue::Text(t) => Cow::Borrowed(t.as_str()),
        FieldValue::Address(a) => Cow::Owned(join([
            &a.street,
            &a.locality,
            &a.region,
            &a.postal_code,
            &a.country,
        ])),
    };
    let mut params = Vec::new();
    let (name, value) = match f.kind {
        FieldKind::Name => (VcardPropKind::Fn, VcardValue::Text(VcardText(text()))),
        FieldKind::Organization => (VcardPropKind::Org, VcardValue::Org(VcardOrg(vec![text()]))),
        FieldKind::Title => (VcardPropKind::Title, VcardValue::Text(VcardText(text()))),
        FieldKind::Email => (VcardPropKind::Email, VcardValue::Text(VcardText(text()))),
        FieldKind::Note => (VcardPropKind::Note, VcardValue::Text(VcardText(text()))),
        FieldKind::Phone => {
            params.push(VcardParam::Value(Cow::Borrowed("uri")));
            let number = text();
            let uri = if number
                .get(..4)
                .is_some_and(|s| s.eq_ignore_ascii_case("tel:"))
            {
                number
            } else {
                Cow::Owned(format!("tel:{number}"))
            };
            (VcardPropKind::Tel, VcardValue::Uri(VcardUri(uri)))
        }
        FieldKind::Address => (VcardPropKind::Adr, VcardValue::Adr(adr(&f.value))),
        FieldKind::Birthday => {
            let date = text();
            match basic_date(&date) {
                Some(basic) => (
                    VcardPropKind::Bday,
                    VcardValue::DateAndOrTime(VcardDateAndOrTime(Cow::Owned(basic))),
                ),
                None => {
                    params.push(VcardParam::Value(Cow::Borrowed("text")));
                    (VcardPropKind::Bday, VcardValue::Text(VcardText(date)))
                }
            }
        }
        FieldKind::Url => (VcardPropKind::Url, VcardValue::Uri(VcardUri(text()))),
        FieldKind::Social => {
            let uri = text();
            let scheme = uri
                .split_once(':')
                .map(|(s, _)| s.to_ascii_lowercase())
                .unwrap_or_default();
            let name = if MESSAGING_SCHEMES.contains(&scheme.as_str()) {
                VcardPropKind::Impp
            } else {
                VcardPropKind::SocialProfile
            };
            (name, VcardValue::Uri(VcardUri(uri)))
        }
        FieldKind::Photo => (
            VcardPropKind::Photo,
            VcardValue::Uri(VcardUri(Cow::Owned(format!("{BLOB_URN}{}", text())))),
        ),
    };
    if let Some(label) = &f.label {
        let label = match (f.kind, label.as_str()) {
            (FieldKind::Phone, l) if l.eq_ignore_ascii_case("mobile") => "cell",
            (_, l) => l,
        };
        params.push(VcardParam::Type(vec![Cow::Borrowed(label)]));
    }
    params.push(VcardParam::Unknown {
        name: Cow::Borrowed(ID_PARAM),
        values: vec![Cow::Borrowed(f.id.as_str())],
    });
    params.push(VcardParam::Unknown {
        name: Cow::Borrowed(VERSION_PARAM),
        values: vec![Cow::Owned(f.version.to_string())],
    });
    VcardProp {
        group: None,
        name: VcardPropName::Kind(name),
        params,
        value,
    }
}

fn adr(value: &FieldValue) -> VcardAdr<'_> {
    let one = |s: &str| {
        if s.is_empty() {
            Vec::new()
        } else {
            vec![Cow::Owned(s.to_owned())]
        }
    };
    match value {
        FieldValue::Address(a) => VcardAdr {
            street: one(&a.street),
            locality: one(&a.locality),
            region: one(&a.region),
            postal_code: one(&a.postal_code),
            country: one(&a.country),
            ..VcardAdr::default()
        },
        FieldValue::Text(t) => VcardAdr {
            street: one(t),
            ..VcardAdr::default()
        },
    }
}

/// `1990-04-01` → `19900401`, `--04-01` → `--0401` (RFC 6350 §4.3.1 allows only the basic format).
fn basic_date(date: &str) -> Option<String> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match date.as_bytes() {
        [_, _, _, _, b'-', _, _, b'-', _, _]
            if digits(&date[..4]) && digits(&date[5..7]) && digits(&date[8..]) =>
        {
            Some(format!("{}{}{}", &date[..4], &date[5..7], &date[8..]))
        }
        [b'-', b'-', _, _, b'-', _, _] if digits(&date[2..4]) && digits(&date[5..]) => {
            Some(format!("--{}{}", &date[2..4], &date[5..]))
        }
        _ => None,
    }
}

// ---- import ----

/// A field read from a property, before ids are settled.
struct Draft {
    id: Option<String>,
    kind: FieldKind,
    value: FieldValue,
    label: Option<String>,
}

fn fields(card: &Vcard<'_>) -> Result<Vec<NewField>, CardError> {
    let mut drafts = Vec::new();
    let mut named = false;
    for p in &card.properties {
        let Some(d) = draft(p) else { continue };
        if d.kind == FieldKind::Name {
            if named {
                continue;
            }
            named = true;
        }
        drafts.push(d);
    }
    if !named {
        return Err(format("the card has no FN (formatted name)"));
    }
    let mut taken: HashSet<String> = drafts.iter().filter_map(|d| d.id.clone()).collect();
    let mut counts: HashMap<FieldKind, usize> = HashMap::new();
    Ok(drafts
        .into_iter()
        .map(|d| {
            let count = counts.entry(d.kind).or_default();
            *count += 1;
            let id = d.id.unwrap_or_else(|| {
                let id = fresh_id(&taken, d.kind, d.label.as_deref(), *count);
                taken.insert(id.clone());
                id
            });
            NewField {
                id,
                kind: d.kind,
                value: d.value,
                label: d.label,
            }
        })
        .collect())
}

fn fresh_id(taken: &HashSet<String>, kind: FieldKind, label: Option<&str>, nth: usize) -> String {
    let base = kind.as_str();
    let labelled = label.map(|l| format!("{base}.{l}"));
    [Some(base.to_owned()), labelled]
        .into_iter()
        .flatten()
        .chain((nth.max(2)..).map(|n| format!("{base}.{n}")))
        .find(|id| !taken.contains(id))
        .unwrap_or_else(|| base.to_owned())
}

fn draft(p: &VcardProp<'_>) -> Option<Draft> {
    let text = |kind| plain(&p.value).map(|t| (kind, FieldValue::Text(t)));
    let (kind, value) = match &p.name {
        VcardPropName::Kind(VcardPropKind::Fn) => text(FieldKind::Name)?,
        VcardPropName::Kind(VcardPropKind::Org) => match &p.value {
            VcardValue::Org(VcardOrg(units)) => {
                (FieldKind::Organization, FieldValue::Text(join(units)))
            }
            _ => text(FieldKind::Organization)?,
        },
        VcardPropName::Kind(VcardPropKind::Title) => text(FieldKind::Title)?,
        VcardPropName::Kind(VcardPropKind::Email) => text(FieldKind::Email)?,
        VcardPropName::Kind(VcardPropKind::Note) => text(FieldKind::Note)?,
        VcardPropName::Kind(VcardPropKind::Tel) => match &p.value {
            VcardValue::Uri(VcardUri(u)) => {
                let number = match u.get(..4) {
                    Some(s) if s.eq_ignore_ascii_case("tel:") => {
                        u[4..].split(';').next().unwrap_or("")
                    }
                    _ => u,
                };
                (FieldKind::Phone, FieldValue::Text(number.to_owned()))
            }
            _ => text(FieldKind::Phone)?,
        },
        VcardPropName::Kind(VcardPropKind::Adr) => match &p.value {
            VcardValue::Adr(a) => {
                let street: Vec<&Cow<'_, str>> = a
                    .street
                    .iter()
                    .chain(&a.extended)
                    .chain(&a.po_box)
                    .collect();
                let address = Address {
                    street: join(street),
                    locality: join(&a.locality),
                    region: join(&a.region),
                    postal_code: join(&a.postal_code),
                    country: join(&a.country),
                };
                (FieldKind::Address, FieldValue::Address(address))
            }
            _ => return None,
        },
        VcardPropName::Kind(VcardPropKind::Bday) => {
            let date = plain(&p.value)?;
            (
                FieldKind::Birthday,
                FieldValue::Text(extended_date(&date).unwrap_or(date)),
            )
        }
        VcardPropName::Kind(VcardPropKind::Url) => text(FieldKind::Url)?,
        VcardPropName::Kind(VcardPropKind::Impp | VcardPropKind::SocialProfile) => match &p.value {
            // RFC 9554 lets SOCIALPROFILE hold a bare user name; callside holds URIs only.
            VcardValue::Text(_) => return None,
            _ => text(FieldKind::Social)?,
        },
        VcardPropName::Unknown(name) if name.eq_ignore_ascii_case("X-SOCIALPROFILE") => {
            text(FieldKind::Social)?
        }
        VcardPropName::Kind(VcardPropKind::Photo) => {
            let uri = plain(&p.value)?;
            let blob = uri
                .get(..BLOB_URN.len())
                .filter(|s| s.eq_ignore_ascii_case(BLOB_URN))
                .map(|_| &uri[BLOB_URN.len()..])?;
            (FieldKind::Photo, FieldValue::Text(blob.to_owned()))
        }
        _ => return None,
    };
    Some(Draft {
        id: unknown_param(p, ID_PARAM),
        label: label(p, kind),
        kind,
        value,
    })
}

/// A property value as one text, whatever the decoder made of it.
fn plain(value: &VcardValue<'_>) -> Option<String> {
    Some(match value {
        VcardValue::Text(t) => t.0.to_string(),
        VcardValue::Uri(u) => u.0.to_string(),
        VcardValue::DateAndOrTime(d) => d.0.to_string(),
        VcardValue::Binary(VcardBinary::Uri(u)) => u.to_string(),
        VcardValue::TextList(l) => l.0.join(","),
        VcardValue::Org(o) => join(&o.0),
        VcardValue::Unknown(u) => u
            .components
            .iter()
            .map(|c| c.join(","))
            .collect::<Vec<_>>()
            .join(";"),
        _ => return None,
    })
}

fn unknown_param(p: &VcardProp<'_>, wanted: &str) -> Option<String> {
    p.params.iter().find_map(|param| match param {
        VcardParam::Unknown { name, values } if name.eq_ignore_ascii_case(wanted) => {
            values.first().map(|v| v.trim().to_owned())
        }
        _ => None,
    })
}

fn label(p: &VcardProp<'_>, kind: FieldKind) -> Option<String> {
    let types = p
        .params
        .iter()
        .filter_map(|param| match param {
            VcardParam::Type(values) => Some(values),
            _ => None,
        })
        .flatten()
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty() && !GENERIC_TYPES.contains(&t.as_str()));
    let service = p.params.iter().find_map(|param| match param {
        VcardParam::ServiceType(s) if kind == FieldKind::Social => {
            Some(s.trim().to_ascii_lowercase())
        }
        _ => None,
    });
    let label = types.chain(service).next()?;
    let label = if kind == FieldKind::Phone && label == "cell" {
        "mobile".to_owned()
    } else {
        label
    };
    let usable = label.len() <= 32
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    usable.then_some(label)
}

/// `19900401` → `1990-04-01`, `--0401` → `--04-01`; an extended date (3.0, jCard) is kept.
fn extended_date(date: &str) -> Option<String> {
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    match date.trim() {
        d if d.len() == 8 && digits(d) => Some(format!("{}-{}-{}", &d[..4], &d[4..6], &d[6..])),
        d if d.len() == 6 && d.starts_with("--") && digits(&d[2..]) => {
            Some(format!("--{}-{}", &d[2..4], &d[4..]))
        }
        _ => None,
    }
}

/// The non-empty parts, trimmed, joined with `, `.
fn join<S: AsRef<str>>(parts: impl IntoIterator<Item = S>) -> String {
    parts
        .into_iter()
        .filter_map(|p| Some(p.as_ref().trim().to_owned()).filter(|p| !p.is_empty()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(id: &str, kind: FieldKind, value: &str, label: Option<&str>) -> NewField {
        NewField {
            id: id.into(),
            kind,
            value: FieldValue::Text(value.into()),
            label: label.map(Into::into),
        }
    }

    fn address() -> Address {
        Address {
            street: "1 Main Street; Flat 2, Rear".into(),
            locality: "London".into(),
            region: String::new(),
            postal_code: "N1 9GU".into(),
            country: "United Kingdom".into(),
        }
    }

    /// A card with one field of every kind, some twice, labels, and text that needs escaping.
    fn sample() -> Card {
        let fields = vec![
            field("name", FieldKind::Name, "Doe, Jane", None),
            field(
                "photo",
                FieldKind::Photo,
                &format!("sha256:{}", "ab".repeat(32)),
                None,
            ),
            field("organization", FieldKind::Organization, "ACME; Ltd", None),
            field("title", FieldKind::Title, "Chief Tester", None),
            field("email", FieldKind::Email, "jane@example.com", Some("work")),
            field(
                "email.home",
                FieldKind::Email,
                "jane@home.example",
                Some("home"),
            ),
            field(
                "phone.mobile",
                FieldKind::Phone,
                "+447400123456",
                Some("mobile"),
            ),
            field("phone", FieldKind::Phone, "+442071234567", None),
            NewField {
                id: "address".into(),
                kind: FieldKind::Address,
                value: FieldValue::Address(address()),
                label: Some("home".into()),
            },
            field("birthday", FieldKind::Birthday, "1990-04-01", None),
            field(
                "url",
                FieldKind::Url,
                "https://example.com/jane?a=1,b=2;c",
                None,
            ),
            field(
                "social.xmpp",
                FieldKind::Social,
                "xmpp:jane@example.com",
                None,
            ),
            field(
                "social.mastodon",
                FieldKind::Social,
                "https://mastodon.example/@jane",
                Some("mastodon"),
            ),
            field(
                "note",
                FieldKind::Note,
                "line one\nline two, with \\ and ;",
                None,
            ),
        ];
        let card = Card::default().replaced(fields, 10).unwrap();
        // Move some versions so that a round trip that lost them would show.
        let mut changed: Vec<NewField> = card.fields.iter().map(new_field).collect();
        changed[3].value = FieldValue::Text("Chief Tester II".into());
        card.replaced(changed, 20).unwrap()
    }

    fn new_field(f: &CardField) -> NewField {
        NewField {
            id: f.id.clone(),
            kind: f.kind,
            value: f.value.clone(),
            label: f.label.clone(),
        }
    }

    /// The round trip through one representation: same fields in, same card out.
    fn check_round_trip(
        export: fn(&Card) -> String,
        import: fn(&str) -> Result<Vec<NewField>, CardError>,
    ) {
        let card = sample();
        assert_eq!(
            card.fields[3].version, 2,
            "the sample moved the title's version"
        );
        let text = export(&card);
        let fields = import(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        let expected: Vec<NewField> = card.fields.iter().map(new_field).collect();
        assert_eq!(fields, expected, "{text}");
        for f in &fields {
            f.clone().validate(None).unwrap_or_else(|e| panic!("{e}"));
        }
        let again = card.replaced(fields, 30).unwrap();
        assert_eq!(
            again, card,
            "ids, kinds, values, labels and so versions are kept"
        );
    }

    #[test]
    fn a_card_round_trips_through_vcard() {
        check_round_trip(to_vcard, from_vcard);
    }

    #[test]
    fn a_card_round_trips_through_jcard() {
        check_round_trip(to_jcard, from_jcard);
    }

    #[test]
    fn the_vcard_text_is_plain_rfc_6350() {
        let text = to_vcard(&sample());
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert_eq!(lines[..2], ["BEGIN:VCARD", "VERSION:4.0"]);
        assert_eq!(lines[lines.len() - 2..], ["END:VCARD", ""]);
        assert!(
            !text.replace("\r\n", "").contains('\n'),
            "CRLF only: {text}"
        );
        for want in [
            "FN;X-CALLSIDE-ID=name;X-CALLSIDE-VERSION=1:Doe\\, Jane",
            "TITLE;X-CALLSIDE-ID=title;X-CALLSIDE-VERSION=2:Chief Tester II",
            "TEL;VALUE=uri;TYPE=cell;X-CALLSIDE-ID=phone.mobile;X-CALLSIDE-VERSION=1:tel:+447400123456",
            "ADR;TYPE=home;X-CALLSIDE-ID=address;X-CALLSIDE-VERSION=1:;;1 Main Street\\; Flat 2\\, Rear;London;;N1 9GU;United Kingdom",
            "BDAY;X-CALLSIDE-ID=birthday;X-CALLSIDE-VERSION=1:19900401",
            "IMPP;X-CALLSIDE-ID=social.xmpp;X-CALLSIDE-VERSION=1:xmpp:jane@example.com",
            "SOCIALPROFILE;TYPE=mastodon;X-CALLSIDE-ID=social.mastodon;X-CALLSIDE-VERSION=1:https://mastodon.example/@jane",
            &format!("PHOTO;X-CALLSIDE-ID=photo;X-CALLSIDE-VERSION=1:urn:callside:blob:sha256:{}", "ab".repeat(32)),
            "NOTE;X-CALLSIDE-ID=note;X-CALLSIDE-VERSION=1:line one\\nline two\\, with \\\\ and \\;",
        ] {
            assert!(lines.contains(&want), "missing {want:?} in\n{text}");
        }
    }

    #[test]
    fn the_jcard_is_rfc_7095() {
        let json: serde_json::Value = serde_json::from_str(&to_jcard(&sample())).unwrap();
        assert_eq!(json[0], "vcard");
        let props = json[1].as_array().unwrap();
        assert_eq!(props[0], serde_json::json!(["version", {}, "text", "4.0"]));
        let tel = props.iter().find(|p| p[0] == "tel").unwrap();
        assert_eq!(
            *tel,
            serde_json::json!(["tel", {"type": "cell", "x-callside-id": "phone.mobile", "x-callside-version": "1"}, "uri", "tel:+447400123456"])
        );
        let adr = props.iter().find(|p| p[0] == "adr").unwrap();
        assert_eq!(
            adr[3],
            serde_json::json!([
                "",
                "",
                "1 Main Street; Flat 2, Rear",
                "London",
                "",
                "N1 9GU",
                "United Kingdom"
            ])
        );
        let bday = props.iter().find(|p| p[0] == "bday").unwrap();
        assert_eq!(
            (&bday[2], &bday[3]),
            (
                &serde_json::json!("date-and-or-time"),
                &serde_json::json!("1990-04-01")
            )
        );
    }

    /// RFC 6350 §8's example, in the 4.0 style common clients write.
    const RFC_EXAMPLE: &str = "BEGIN:VCARD\r\n\
        VERSION:4.0\r\n\
        FN:Simon Perreault\r\n\
        N:Perreault;Simon;;;ing. jr,M.Sc.\r\n\
        BDAY:--0203\r\n\
        ANNIVERSARY:20090808T1430-0500\r\n\
        GENDER:M\r\n\
        LANG;PREF=1:fr\r\n\
        ORG;TYPE=work:Viagenie\r\n\
        TITLE:Research Engineer\r\n\
        ADR;TYPE=work:;Suite D2-630;2875 Laurier;\r\n Quebec;QC;G1V 2M2;Canada\r\n\
        TEL;VALUE=uri;TYPE=\"work,voice\";PREF=1:tel:+1-418-656-9254;ext=102\r\n\
        TEL;VALUE=uri;TYPE=\"work,cell,voice,video,text\":tel:+1-418-262-6501\r\n\
        TEL;TYPE=cell:+1 418 555 0100\r\n\
        EMAIL;TYPE=work:simon.perreault@viagenie.ca\r\n\
        EMAIL:simon@example.com\r\n\
        GEO;TYPE=work:geo:46.772673,-71.282945\r\n\
        KEY;TYPE=work;VALUE=uri:http://www.viagenie.ca/simon.perreault/simon.asc\r\n\
        TZ:-0500\r\n\
        URL;TYPE=home:http://nomis80.org\r\n\
        PHOTO:http://www.example.com/pub/photos/jqpublic.gif\r\n\
        X-SOCIALPROFILE;type=twitter:https://twitter.com/nomis80\r\n\
        END:VCARD\r\n";

    #[test]
    fn a_common_vcard_imports_to_the_expected_fields() {
        let fields = from_vcard(RFC_EXAMPLE).unwrap();
        let address = Address {
            street: "2875 Laurier, Suite D2-630".into(),
            locality: "Quebec".into(),
            region: "QC".into(),
            postal_code: "G1V 2M2".into(),
            country: "Canada".into(),
        };
        assert_eq!(
            fields,
            vec![
                field("name", FieldKind::Name, "Simon Perreault", None),
                field("birthday", FieldKind::Birthday, "--02-03", None),
                field(
                    "organization",
                    FieldKind::Organization,
                    "Viagenie",
                    Some("work")
                ),
                field("title", FieldKind::Title, "Research Engineer", None),
                NewField {
                    id: "address".into(),
                    kind: FieldKind::Address,
                    value: FieldValue::Address(address),
                    label: Some("work".into()),
                },
                field("phone", FieldKind::Phone, "+1-418-656-9254", Some("work")),
                field(
                    "phone.work",
                    FieldKind::Phone,
                    "+1-418-262-6501",
                    Some("work")
                ),
                field(
                    "phone.mobile",
                    FieldKind::Phone,
                    "+1 418 555 0100",
                    Some("mobile")
                ),
                field(
                    "email",
                    FieldKind::Email,
                    "simon.perreault@viagenie.ca",
                    Some("work")
                ),
                field("email.2", FieldKind::Email, "simon@example.com", None),
                field("url", FieldKind::Url, "http://nomis80.org", Some("home")),
                field(
                    "social",
                    FieldKind::Social,
                    "https://twitter.com/nomis80",
                    Some("twitter")
                ),
            ]
        );
        let card = Card::default()
            .replaced(
                fields
                    .into_iter()
                    .map(|f| f.validate(None).unwrap())
                    .collect(),
                1,
            )
            .unwrap();
        assert_eq!(card.name(), Some("Simon Perreault"));
        let phones: Vec<_> = card
            .fields
            .iter()
            .filter(|f| f.kind == FieldKind::Phone)
            .map(|f| &f.value)
            .collect();
        assert_eq!(phones[0], &FieldValue::Text("+14186569254".into()));
    }

    #[test]
    fn a_vcard_3_with_lf_lines_imports() {
        let text = "BEGIN:VCARD\nVERSION:3.0\nN:Doe;John;;;\nFN:John Doe\n\
            item1.TEL;TYPE=CELL,VOICE,pref:+44 7400 123456\nitem1.X-ABLabel:mobile\n\
            EMAIL;TYPE=INTERNET,HOME:john@example.com\nEMAIL;TYPE=INTERNET,HOME:john@example.org\n\
            BDAY:1980-12-24\nIMPP;X-SERVICE-TYPE=Jabber:xmpp:john@example.com\nEND:VCARD";
        let fields = from_vcard(text).unwrap();
        assert_eq!(
            fields,
            vec![
                field("name", FieldKind::Name, "John Doe", None),
                field("phone", FieldKind::Phone, "+44 7400 123456", Some("mobile")),
                field("email", FieldKind::Email, "john@example.com", Some("home")),
                field(
                    "email.home",
                    FieldKind::Email,
                    "john@example.org",
                    Some("home")
                ),
                field("birthday", FieldKind::Birthday, "1980-12-24", None),
                field("social", FieldKind::Social, "xmpp:john@example.com", None),
            ]
        );
    }

    #[test]
    fn given_ids_win_and_generated_ones_avoid_them() {
        let text = "BEGIN:VCARD\r\nVERSION:4.0\r\nFN;X-CALLSIDE-ID=full-name:A\r\nFN:Second FN is ignored\r\n\
            EMAIL:a@example.com\r\nEMAIL;TYPE=work:b@example.com\r\nEMAIL;X-CALLSIDE-ID=email:c@example.com\r\n\
            EMAIL;TYPE=work;X-CALLSIDE-ID=email.work:d@example.com\r\nEND:VCARD\r\n";
        let ids: Vec<String> = from_vcard(text)
            .unwrap()
            .into_iter()
            .map(|f| f.id)
            .collect();
        assert_eq!(
            ids,
            ["full-name", "email.2", "email.3", "email", "email.work"]
        );
    }

    #[test]
    fn what_is_not_one_vcard_or_jcard_is_a_format_error() {
        let one = "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:A\r\nEND:VCARD\r\n";
        for bad in [
            "",
            "   \r\n",
            "garbage",
            "hello: world\r\n",
            "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:A\r\n",
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n",
            "BEGIN:VCARD\r\nVERSION:4.0\r\nN:Doe;John;;;\r\nEMAIL:j@example.com\r\nEND:VCARD\r\n",
            "BEGIN:VCARD\r\nVERSION:2.1\r\nFN:A\r\nEND:VCARD\r\n",
            &format!("{one}{one}"),
        ] {
            assert!(
                matches!(from_vcard(bad), Err(CardError::Format(_))),
                "{bad:?} gave {:?}",
                from_vcard(bad)
            );
        }
        assert_eq!(
            from_vcard("BEGIN:VCARD\r\nVERSION:4.0\r\nEMAIL:j@example.com\r\nEND:VCARD\r\n"),
            Err(CardError::Format(
                "the card has no FN (formatted name)".into()
            ))
        );
        assert!(from_vcard(one).is_ok());

        for bad in [
            "",
            "garbage",
            "{\"vcard\": []}",
            "[\"vcalendar\", []]",
            "[\"vcard\", [[\"fn\", {}]]]",
            "[\"vcard\", [[\"version\", {}, \"text\", \"4.0\"], [\"email\", {}, \"text\", \"a@example.com\"]]]",
        ] {
            assert!(matches!(from_jcard(bad), Err(CardError::Format(_))), "{bad:?} gave {:?}", from_jcard(bad));
        }
        let ok = from_jcard(
            "[\"vcard\", [[\"version\", {}, \"text\", \"4.0\"], [\"fn\", {}, \"text\", \"A\"]]]",
        )
        .unwrap();
        assert_eq!(ok, vec![field("name", FieldKind::Name, "A", None)]);
    }
}
