//! Merchants and their click-to-call buttons (S4): link ids, page codes, and the routing rules
//! that choose where a click's call goes.
//!
//! Routing is data: an ordered list of [`Rule`]s, the first that fits a [`Click`] wins, then the
//! [`Routing::default`], then the number in the button. A rule may ask for links (which button:
//! sales, billing…), days and a time window in a time zone ("the east centre closes at 7 pm New
//! York time"), countries, and an expiry (a temporary redirect); it sends the call to a number
//! (through the telephone network), to a group of the merchant's agents, or to the number the
//! button carries. Rules are replaced as a whole through the API, so a redirect takes effect at
//! once; a dry run evaluates them for any moment.

use crate::number::{NumberError, PhoneNumber};
use crate::Millis;
use chrono::{Datelike, NaiveTime, Timelike, Weekday};
use serde_json::{json, Map, Value};

/// At most this many rules, and this many links or countries in one rule.
pub const MAX_RULES: usize = 100;
pub const MAX_LIST: usize = 50;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MerchantError {
    #[error("`{0}` is not an id: 1-64 characters of a-z, 0-9, `.`, `_`, `-`, starting with a letter or digit (e.g. sales)")]
    BadId(String),
    #[error("`{0}` is not a page code: 1-8 characters of 0-9, `*` and `#` (what an agent keys, e.g. *76)")]
    BadCode(String),
    #[error("a page address is an http(s) URL of at most 2,048 characters without spaces")]
    BadUrl,
    #[error("a name is 1-100 characters without control or bidirectional formatting characters")]
    BadName,
    #[error("routing: {0}")]
    Routing(String),
    #[error("routing rule {rule}: {reason}")]
    Rule { rule: usize, reason: String },
}

fn id_like(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.as_bytes()[0].is_ascii_alphanumeric()
        && s.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
}

/// A link id ("sales") or an agent group ("east").
pub fn check_id(s: &str) -> Result<(), MerchantError> {
    id_like(s)
        .then_some(())
        .ok_or_else(|| MerchantError::BadId(s.to_owned()))
}

/// A page code an agent keys (`*76`).
pub fn check_code(s: &str) -> Result<(), MerchantError> {
    ((1..=8).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_digit() || b == b'*' || b == b'#'))
    .then_some(())
    .ok_or_else(|| MerchantError::BadCode(s.to_owned()))
}

/// A page's address: http(s) only (a pushed `javascript:` address would run in the caller's
/// window).
pub fn check_url(s: &str) -> Result<(), MerchantError> {
    let lower = s.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"));
    match rest {
        Some(rest)
            if !rest.is_empty()
                && !rest.starts_with('/')
                && s.len() <= 2048
                && !s.chars().any(|c| c.is_whitespace() || c.is_control()) =>
        {
            Ok(())
        }
        _ => Err(MerchantError::BadUrl),
    }
}

/// A merchant's or link's display name.
pub fn check_name(s: &str) -> Result<(), MerchantError> {
    (!s.trim().is_empty()
        && s.chars().count() <= 100
        && !s
            .chars()
            .any(|c| c.is_control() || crate::screen::is_bidi_control(c)))
    .then_some(())
    .ok_or(MerchantError::BadName)
}

/// Where a rule sends a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// A number, reached through the telephone network.
    Number(PhoneNumber),
    /// A group of the merchant's agents, in their browsers.
    Agents(String),
    /// The number the button carries (the rule does not fit a button without one).
    Button,
}

impl Destination {
    /// `+12125550100`, `agents:east` or `button`.
    pub fn parse(s: &str) -> Result<Self, String> {
        if s == "button" {
            return Ok(Destination::Button);
        }
        if let Some(group) = s.strip_prefix("agents:") {
            return match id_like(group) {
                true => Ok(Destination::Agents(group.to_owned())),
                false => Err(format!("`{group}` is not an agent group name (e.g. east)")),
            };
        }
        if s.starts_with('+') {
            return PhoneNumber::parse(s, None)
                .map(Destination::Number)
                .map_err(|e: NumberError| e.to_string());
        }
        Err(format!(
            "`{s}` is not a destination: write a number in international form (+12125550100), agents:<group>, or button"
        ))
    }

    pub fn to_wire(&self) -> String {
        match self {
            Destination::Number(n) => n.as_str().to_owned(),
            Destination::Agents(g) => format!("agents:{g}"),
            Destination::Button => "button".into(),
        }
    }
}

/// Where a click's call goes, once the button's number is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Number(PhoneNumber),
    Agents(String),
}

impl Target {
    pub fn to_wire(&self) -> String {
        match self {
            Target::Number(n) => n.as_str().to_owned(),
            Target::Agents(g) => format!("agents:{g}"),
        }
    }
}

/// A time window in a time zone: `from` ≤ local time < `until`; when `until` is earlier than
/// `from` the window runs over midnight (22:00–06:00).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub from: NaiveTime,
    pub until: NaiveTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Which buttons it serves (any when empty).
    pub links: Vec<String>,
    /// Local days it applies on (any when empty).
    pub days: Vec<Weekday>,
    pub window: Option<Window>,
    /// The zone of `days` and `window`.
    pub time_zone: chrono_tz::Tz,
    /// The visitor's country, ISO 3166 alpha-2, as the button says (any when empty).
    pub countries: Vec<String>,
    /// After this instant the rule no longer applies (a temporary redirect).
    pub expires_at: Option<Millis>,
    pub to: Destination,
}

/// A merchant's routing: rules in order, then a default.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Routing {
    pub rules: Vec<Rule>,
    pub default: Option<Destination>,
}

/// What routing knows about a click.
#[derive(Debug, Clone, Copy)]
pub struct Click<'a> {
    pub link: Option<&'a str>,
    pub country: Option<&'a str>,
    pub button_number: Option<&'a PhoneNumber>,
    pub at: Millis,
}

/// Where a click goes, and which rule said so (`None`: the default or the button's number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub target: Target,
    pub rule: Option<usize>,
}

const DAYS: [(&str, Weekday); 7] = [
    ("mon", Weekday::Mon),
    ("tue", Weekday::Tue),
    ("wed", Weekday::Wed),
    ("thu", Weekday::Thu),
    ("fri", Weekday::Fri),
    ("sat", Weekday::Sat),
    ("sun", Weekday::Sun),
];

fn day_name(d: Weekday) -> &'static str {
    DAYS.iter()
        .find(|(_, w)| *w == d)
        .map(|(n, _)| *n)
        .unwrap_or("mon")
}

fn parse_time(s: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(s, "%H:%M").ok()
}

impl Routing {
    /// Reads and validates routing from its JSON form; every error names the rule and what to
    /// write instead. Unknown keys are refused (a misspelt `from` must not widen a rule).
    pub fn from_json(v: &Value) -> Result<Self, MerchantError> {
        let top = v
            .as_object()
            .ok_or_else(|| MerchantError::Routing("must be an object with `rules`".into()))?;
        if let Some(k) = top
            .keys()
            .find(|k| !matches!(k.as_str(), "rules" | "default"))
        {
            return Err(MerchantError::Routing(format!(
                "unknown key `{k}` (use `rules` and `default`)"
            )));
        }
        let rules = match top.get("rules") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => {
                if items.len() > MAX_RULES {
                    return Err(MerchantError::Routing(format!("at most {MAX_RULES} rules")));
                }
                items
                    .iter()
                    .enumerate()
                    .map(|(i, r)| {
                        parse_rule(r).map_err(|reason| MerchantError::Rule { rule: i, reason })
                    })
                    .collect::<Result<_, _>>()?
            }
            Some(_) => return Err(MerchantError::Routing("`rules` must be a list".into())),
        };
        let default = match top.get("default") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(
                Destination::parse(s)
                    .map_err(|e| MerchantError::Routing(format!("default: {e}")))?,
            ),
            Some(_) => {
                return Err(MerchantError::Routing(
                    "`default` must be a destination string".into(),
                ))
            }
        };
        Ok(Routing { rules, default })
    }

    /// The JSON form [`from_json`](Routing::from_json) reads.
    pub fn to_json(&self) -> Value {
        let rules: Vec<Value> = self.rules.iter().map(rule_json).collect();
        let mut top = Map::new();
        top.insert("rules".into(), Value::Array(rules));
        if let Some(d) = &self.default {
            top.insert("default".into(), Value::String(d.to_wire()));
        }
        Value::Object(top)
    }

    /// Where `click` goes: the first rule that fits, then the default, then the button's
    /// number; `None` when none of them gives a destination.
    pub fn route(&self, click: &Click<'_>) -> Option<Decision> {
        for (i, rule) in self.rules.iter().enumerate() {
            if !rule.fits(click) {
                continue;
            }
            if let Some(target) = resolve(&rule.to, click) {
                return Some(Decision {
                    target,
                    rule: Some(i),
                });
            }
        }
        self.default
            .as_ref()
            .and_then(|d| resolve(d, click))
            .or_else(|| click.button_number.cloned().map(Target::Number))
            .map(|target| Decision { target, rule: None })
    }
}

fn resolve(d: &Destination, click: &Click<'_>) -> Option<Target> {
    match d {
        Destination::Number(n) => Some(Target::Number(n.clone())),
        Destination::Agents(g) => Some(Target::Agents(g.clone())),
        Destination::Button => click.button_number.cloned().map(Target::Number),
    }
}

impl Rule {
    fn fits(&self, click: &Click<'_>) -> bool {
        if self.expires_at.is_some_and(|t| click.at >= t) {
            return false;
        }
        if !self.links.is_empty()
            && !click
                .link
                .is_some_and(|l| self.links.iter().any(|x| x == l))
        {
            return false;
        }
        if !self.countries.is_empty()
            && !click
                .country
                .is_some_and(|c| self.countries.iter().any(|x| x.eq_ignore_ascii_case(c)))
        {
            return false;
        }
        if self.days.is_empty() && self.window.is_none() {
            return true;
        }
        let Some(utc) = chrono::DateTime::from_timestamp_millis(click.at) else {
            return false;
        };
        let local = utc.with_timezone(&self.time_zone);
        if !self.days.is_empty() && !self.days.contains(&local.weekday()) {
            return false;
        }
        match &self.window {
            None => true,
            Some(w) => {
                let t = NaiveTime::from_hms_opt(local.hour(), local.minute(), local.second())
                    .unwrap_or(NaiveTime::MIN);
                if w.from <= w.until {
                    w.from <= t && t < w.until
                } else {
                    t >= w.from || t < w.until
                }
            }
        }
    }
}

fn strings(v: Option<&Value>, what: &str) -> Result<Vec<String>, String> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) if items.len() <= MAX_LIST => items
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| format!("`{what}` must be a list of strings"))
            })
            .collect(),
        Some(Value::Array(_)) => Err(format!("at most {MAX_LIST} `{what}`")),
        Some(_) => Err(format!("`{what}` must be a list of strings")),
    }
}

fn parse_rule(v: &Value) -> Result<Rule, String> {
    const KEYS: [&str; 8] = [
        "links",
        "days",
        "from",
        "until",
        "time_zone",
        "countries",
        "expires_at",
        "to",
    ];
    let r = v.as_object().ok_or("must be an object")?;
    if let Some(k) = r.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(format!(
            "unknown key `{k}` (rules have {})",
            KEYS.join(", ")
        ));
    }
    let links = strings(r.get("links"), "links")?;
    for l in &links {
        check_id(l).map_err(|e| e.to_string())?;
    }
    let days = strings(r.get("days"), "days")?
        .iter()
        .map(|d| {
            DAYS.iter()
                .find(|(n, _)| *n == d.to_ascii_lowercase())
                .map(|(_, w)| *w)
                .ok_or_else(|| format!("`{d}` is not a day (mon, tue, wed, thu, fri, sat, sun)"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let time = |key: &str| -> Result<Option<NaiveTime>, String> {
        match r.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => parse_time(s)
                .map(Some)
                .ok_or_else(|| format!("`{key}` must be a time like 09:00 (24-hour)")),
            Some(_) => Err(format!("`{key}` must be a time like 09:00 (24-hour)")),
        }
    };
    let window = match (time("from")?, time("until")?) {
        (None, None) => None,
        (Some(from), Some(until)) if from != until => Some(Window { from, until }),
        (Some(_), Some(_)) => return Err("`from` and `until` must differ".into()),
        _ => return Err("give both `from` and `until`, or neither".into()),
    };
    let time_zone = match r.get("time_zone") {
        None | Some(Value::Null) => {
            if !days.is_empty() || window.is_some() {
                return Err(
                    "days and times need a `time_zone` (an IANA name such as America/New_York or Europe/London)"
                        .into(),
                );
            }
            chrono_tz::UTC
        }
        Some(Value::String(s)) => s
            .parse::<chrono_tz::Tz>()
            .map_err(|_| format!("`{s}` is not an IANA time zone (e.g. America/New_York)"))?,
        Some(_) => return Err("`time_zone` must be a string".into()),
    };
    let countries = strings(r.get("countries"), "countries")?;
    if let Some(c) = countries
        .iter()
        .find(|c| c.len() != 2 || !c.bytes().all(|b| b.is_ascii_alphabetic()))
    {
        return Err(format!("`{c}` is not a two-letter country code (e.g. US)"));
    }
    let countries = countries.iter().map(|c| c.to_ascii_uppercase()).collect();
    let expires_at = match r.get("expires_at") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_i64()
                .filter(|t| *t > 0)
                .ok_or("`expires_at` must be a time in milliseconds since 1970")?,
        ),
    };
    let to = match r.get("to") {
        Some(Value::String(s)) => Destination::parse(s)?,
        _ => {
            return Err(
                "`to` is missing: a number (+12125550100), agents:<group>, or button".into(),
            )
        }
    };
    Ok(Rule {
        links,
        days,
        window,
        time_zone,
        countries,
        expires_at,
        to,
    })
}

fn rule_json(r: &Rule) -> Value {
    let mut m = Map::new();
    if !r.links.is_empty() {
        m.insert("links".into(), json!(r.links));
    }
    if !r.days.is_empty() {
        let days: Vec<&str> = r.days.iter().map(|d| day_name(*d)).collect();
        m.insert("days".into(), json!(days));
    }
    if let Some(w) = &r.window {
        m.insert("from".into(), json!(w.from.format("%H:%M").to_string()));
        m.insert("until".into(), json!(w.until.format("%H:%M").to_string()));
    }
    if !r.days.is_empty() || r.window.is_some() || r.time_zone != chrono_tz::UTC {
        m.insert("time_zone".into(), json!(r.time_zone.name()));
    }
    if !r.countries.is_empty() {
        m.insert("countries".into(), json!(r.countries));
    }
    if let Some(t) = r.expires_at {
        m.insert("expires_at".into(), json!(t));
    }
    m.insert("to".into(), json!(r.to.to_wire()));
    Value::Object(m)
}

#[cfg(test)]
mod tests;
