use super::*;
use chrono::TimeZone;
use chrono_tz::{America::New_York, Europe::London};

fn routing(v: Value) -> Routing {
    Routing::from_json(&v).unwrap()
}

fn at<Tz: TimeZone>(tz: Tz, y: i32, mo: u32, d: u32, h: u32, mi: u32) -> Millis {
    tz.with_ymd_and_hms(y, mo, d, h, mi, 0)
        .unwrap()
        .timestamp_millis()
}

fn click(link: Option<&str>, at: Millis) -> Click<'_> {
    Click {
        link,
        country: None,
        button_number: None,
        at,
    }
}

fn east_then_west() -> Routing {
    routing(json!({
        "rules": [
            {"links": ["sales"], "days": ["mon", "tue", "wed", "thu", "fri"],
             "from": "09:00", "until": "19:00", "time_zone": "America/New_York",
             "to": "+12125550100"},
            {"links": ["sales"], "to": "agents:west"}
        ],
        "default": "+442079460000"
    }))
}

#[test]
fn the_east_centre_closes_at_seven_pm_new_york_time() {
    let r = east_then_west();
    // Monday 7 December 2026.
    let d = r
        .route(&click(Some("sales"), at(New_York, 2026, 12, 7, 18, 59)))
        .unwrap();
    assert_eq!(
        (d.target.to_wire().as_str(), d.rule),
        ("+12125550100", Some(0))
    );
    let d = r
        .route(&click(Some("sales"), at(New_York, 2026, 12, 7, 19, 0)))
        .unwrap();
    assert_eq!(
        (d.target.to_wire().as_str(), d.rule),
        ("agents:west", Some(1))
    );
    // Saturday morning: the east centre is closed all day.
    let d = r
        .route(&click(Some("sales"), at(New_York, 2026, 12, 12, 10, 0)))
        .unwrap();
    assert_eq!(d.rule, Some(1));
    // Another button falls through to the default.
    let d = r
        .route(&click(Some("billing"), at(New_York, 2026, 12, 7, 12, 0)))
        .unwrap();
    assert_eq!(
        (d.target.to_wire().as_str(), d.rule),
        ("+442079460000", None)
    );
}

#[test]
fn local_time_follows_summer_time() {
    let r = routing(json!({"rules": [
        {"from": "09:00", "until": "17:00", "time_zone": "Europe/London", "to": "agents:uk"}
    ]}));
    let utc = chrono::Utc;
    // 08:30 UTC is 09:30 in a London July (BST), 08:30 in January (GMT).
    assert!(r.route(&click(None, at(utc, 2026, 7, 1, 8, 30))).is_some());
    assert!(r.route(&click(None, at(utc, 2026, 1, 6, 8, 30))).is_none());
    assert!(r
        .route(&click(None, at(London, 2026, 1, 6, 16, 59)))
        .is_some());
}

#[test]
fn a_window_may_run_over_midnight() {
    let r = routing(json!({"rules": [
        {"from": "22:00", "until": "06:00", "time_zone": "Europe/London", "to": "agents:night"}
    ], "default": "agents:day"}));
    let group = |h, m| {
        r.route(&click(None, at(London, 2026, 12, 7, h, m)))
            .unwrap()
            .target
            .to_wire()
    };
    assert_eq!(group(23, 0), "agents:night");
    assert_eq!(group(5, 59), "agents:night");
    assert_eq!(group(6, 0), "agents:day");
    assert_eq!(group(21, 59), "agents:day");
}

#[test]
fn countries_the_buttons_number_and_expiry() {
    let button = PhoneNumber::parse("+4930901820", None).unwrap();
    let r = routing(json!({"rules": [
        {"countries": ["de"], "to": "button"},
        {"expires_at": 2_000, "to": "agents:redirect"}
    ]}));
    let mut c = click(None, 1_000);
    c.country = Some("DE");
    // No number in the button: the rule does not fit; the redirect still runs.
    assert_eq!(r.route(&c).unwrap().rule, Some(1));
    c.button_number = Some(&button);
    let d = r.route(&c).unwrap();
    assert_eq!(
        (d.target, d.rule),
        (Target::Number(button.clone()), Some(0))
    );
    // After the redirect expires, with no default, the button's number is the fallback.
    let mut late = click(None, 2_000);
    assert!(r.route(&late).is_none());
    late.button_number = Some(&button);
    assert_eq!(
        r.route(&late).unwrap(),
        Decision {
            target: Target::Number(button),
            rule: None
        }
    );
}

#[test]
fn routing_reads_back_what_it_writes() {
    let r = east_then_west();
    assert_eq!(Routing::from_json(&r.to_json()).unwrap(), r);
    let with_all = routing(
        json!({"rules": [{"links": ["a", "b"], "days": ["sat", "sun"],
        "from": "10:00", "until": "14:30", "time_zone": "Asia/Tokyo", "countries": ["JP"],
        "expires_at": 1_900_000_000_000_i64, "to": "button"}]}),
    );
    assert_eq!(Routing::from_json(&with_all.to_json()).unwrap(), with_all);
}

#[test]
fn bad_rules_are_refused_naming_the_rule_and_the_fix() {
    let cases = [
        (
            json!({"rules": [{"to": "+12125550100"}, {"form": "09:00", "to": "button"}]}),
            "rule 1: unknown key `form`",
        ),
        (
            json!({"rules": [{"from": "09:00", "to": "button"}]}),
            "both `from` and `until`",
        ),
        (
            json!({"rules": [{"from": "9am", "until": "17:00", "time_zone": "UTC", "to": "button"}]}),
            "like 09:00",
        ),
        (
            json!({"rules": [{"days": ["monday"], "to": "button"}]}),
            "is not a day",
        ),
        (
            json!({"rules": [{"days": ["mon"], "to": "button"}]}),
            "need a `time_zone`",
        ),
        (
            json!({"rules": [{"from": "09:00", "until": "17:00", "time_zone": "Mars/Olympus", "to": "button"}]}),
            "not an IANA time zone",
        ),
        (
            json!({"rules": [{"to": "12125550100"}]}),
            "international form",
        ),
        (
            json!({"rules": [{"to": "agents:East Coast"}]}),
            "agent group",
        ),
        (
            json!({"rules": [{"links": ["Sales!"], "to": "button"}]}),
            "not an id",
        ),
        (
            json!({"rules": [{"countries": ["USA"], "to": "button"}]}),
            "two-letter country",
        ),
        (json!({"rules": [{"links": ["sales"]}]}), "`to` is missing"),
        (
            json!({"rules": [], "fallback": "button"}),
            "unknown key `fallback`",
        ),
        (json!({"default": "+1"}), "default:"),
    ];
    for (v, expect) in cases {
        let e = Routing::from_json(&v).unwrap_err().to_string();
        assert!(e.contains(expect), "{v}: {e}");
    }
    let many = json!({"rules": vec![json!({"to": "button"}); MAX_RULES + 1]});
    assert!(Routing::from_json(&many).is_err());
}

#[test]
fn ids_codes_and_page_addresses() {
    assert!(check_id("sales").is_ok());
    assert!(check_id("Sales").is_err());
    assert!(check_code("*76").is_ok());
    assert!(check_code("76#").is_ok());
    assert!(check_code("*76a").is_err());
    assert!(check_code("123456789").is_err());
    assert!(check_url("https://shop.example/returns?x=1").is_ok());
    for bad in [
        "javascript:alert(1)",
        "data:text/html,x",
        "https://",
        "ftp://x",
        "https://a b",
    ] {
        assert!(check_url(bad).is_err(), "{bad}");
    }
    assert!(check_name("Acme Shoes").is_ok());
    assert!(check_name(" ").is_err());
}
