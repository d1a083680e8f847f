//! The agent's console: lines typed on the attendant's standard input act on a call as a press
//! or a message would (S1-F13: a contact centre's agent sends dynamic screens to the caller).
//!
//! ```text
//! calls                      the calls in progress
//! screen [SESSION] ID        send the file's screen ID to the caller
//! text [SESSION] WORDS…      send a text
//! app [SESSION] NAME [JSON]  send an app/NAME message (body: a JSON object, {} when left out)
//! end [SESSION]              end the call through the network
//! help                       this list
//! ```
//!
//! SESSION may be left out while exactly one call is in progress, or given as any unique prefix
//! of a session key.

use super::config::{AppMessage, Then};
use serde_json::Value;

pub(crate) const HELP: &str = "commands: calls | screen [SESSION] ID | text [SESSION] WORDS… | \
app [SESSION] NAME [JSON] | end [SESSION] | help (SESSION may be left out with one call, or be a \
prefix of its key)";

/// One line from the agent.
#[derive(Debug, PartialEq)]
pub(crate) enum Command {
    Calls,
    Help,
    /// Do `then` on the call named by `session` (None: the only one).
    Act {
        session: Option<String>,
        then: Then,
    },
}

/// Reads one line. Blank lines are `Ok(None)`.
pub(crate) fn parse(
    line: &str,
    is_session: impl Fn(&str) -> bool,
) -> Result<Option<Command>, String> {
    let line = line.trim();
    let Some((verb, rest)) = split_word(line) else {
        return Ok(None);
    };
    // An optional session first: a word that names one of the calls.
    let session_then = |rest: &str| -> (Option<String>, String) {
        match split_word(rest) {
            Some((word, tail)) if is_session(word) => (Some(word.to_owned()), tail.to_owned()),
            _ => (None, rest.to_owned()),
        }
    };
    let act = |session, then| Ok(Some(Command::Act { session, then }));
    match verb {
        "calls" if rest.is_empty() => Ok(Some(Command::Calls)),
        "help" | "?" => Ok(Some(Command::Help)),
        "screen" => {
            let (session, rest) = session_then(rest);
            match (
                session,
                rest.split_whitespace().collect::<Vec<_>>().as_slice(),
            ) {
                (session, [id]) => act(
                    session,
                    Then {
                        screen: Some((*id).to_owned()),
                        ..Then::default()
                    },
                ),
                (None, [first, _]) => Err(format!("no call in progress has session `{first}`")),
                _ => Err("usage: screen [SESSION] ID".into()),
            }
        }
        "text" => {
            let (session, rest) = session_then(rest);
            if rest.is_empty() {
                return Err("usage: text [SESSION] WORDS…".into());
            }
            act(
                session,
                Then {
                    text: Some(rest),
                    ..Then::default()
                },
            )
        }
        "app" => {
            let (session, rest) = session_then(rest);
            let Some((name, json)) = split_word(&rest) else {
                return Err("usage: app [SESSION] NAME [JSON]".into());
            };
            let body = if json.is_empty() {
                Value::Object(Default::default())
            } else {
                match serde_json::from_str::<Value>(json) {
                    Ok(v @ Value::Object(_)) => v,
                    Ok(_) => return Err("the app message's body must be a JSON object".into()),
                    Err(e) => return Err(format!("the app message's body is not JSON: {e}")),
                }
            };
            act(
                session,
                Then {
                    app: Some(AppMessage {
                        name: name.to_owned(),
                        body,
                    }),
                    ..Then::default()
                },
            )
        }
        "end" => {
            let (session, rest) = session_then(rest);
            if !rest.is_empty() {
                return Err("usage: end [SESSION]".into());
            }
            act(
                session,
                Then {
                    end_call: true,
                    ..Then::default()
                },
            )
        }
        other => Err(format!("unknown command `{other}`; {HELP}")),
    }
}

/// Chooses the call a command is for: the one whose key starts with `given`, or the only call.
pub(crate) fn choose<'a>(
    given: Option<&str>,
    keys: impl Iterator<Item = &'a String>,
) -> Result<String, String> {
    let keys: Vec<&String> = keys.collect();
    match given {
        Some(prefix) => {
            let found: Vec<_> = keys.iter().filter(|k| k.starts_with(prefix)).collect();
            match found.as_slice() {
                [one] => Ok((**one).clone()),
                [] => Err(format!("no call in progress has session `{prefix}`")),
                _ => Err(format!(
                    "`{prefix}` names more than one call; type more of its key"
                )),
            }
        }
        None => match keys.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err("no call in progress".into()),
            _ => Err(format!(
                "{} calls in progress: name one (`calls` lists them)",
                keys.len()
            )),
        },
    }
}

fn split_word(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_start();
    if s.is_empty() {
        return None;
    }
    Some(match s.split_once(char::is_whitespace) {
        Some((w, rest)) => (w, rest.trim()),
        None => (s, ""),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_with(line: &str) -> Result<Option<Command>, String> {
        parse(line, |w| w.starts_with("ses_"))
    }

    #[test]
    fn commands_read_with_and_without_a_session() {
        assert_eq!(parse_with("  "), Ok(None));
        assert_eq!(parse_with("calls"), Ok(Some(Command::Calls)));
        assert_eq!(
            parse_with("screen eta"),
            Ok(Some(Command::Act {
                session: None,
                then: Then {
                    screen: Some("eta".into()),
                    ..Then::default()
                }
            }))
        );
        assert_eq!(
            parse_with("text ses_ab Your driver is  Sam"),
            Ok(Some(Command::Act {
                session: Some("ses_ab".into()),
                then: Then {
                    text: Some("Your driver is  Sam".into()),
                    ..Then::default()
                }
            }))
        );
        let Ok(Some(Command::Act { then, .. })) = parse_with(r#"app taxi.eta {"minutes": 4}"#)
        else {
            panic!("app parses");
        };
        let app = then.app.unwrap();
        assert_eq!(
            (app.name.as_str(), app.body["minutes"].as_i64()),
            ("taxi.eta", Some(4))
        );
        assert!(matches!(
            parse_with("end ses_x"),
            Ok(Some(Command::Act {
                session: Some(_),
                then: Then { end_call: true, .. }
            }))
        ));
    }

    #[test]
    fn bad_lines_say_what_is_wrong() {
        assert!(parse_with("screen")
            .unwrap_err()
            .starts_with("usage: screen"));
        assert!(parse_with("screen a b c")
            .unwrap_err()
            .starts_with("usage: screen"));
        assert_eq!(
            parse_with("screen gone eta").unwrap_err(),
            "no call in progress has session `gone`"
        );
        assert!(parse_with("text ses_a")
            .unwrap_err()
            .starts_with("usage: text"));
        assert!(parse_with("app x [1]").unwrap_err().contains("JSON object"));
        assert!(parse_with("app x {").unwrap_err().contains("not JSON"));
        assert!(parse_with("end now").unwrap_err().starts_with("usage: end"));
        assert!(parse_with("dance")
            .unwrap_err()
            .contains("unknown command `dance`"));
    }

    #[test]
    fn a_call_is_chosen_by_prefix_or_because_it_is_the_only_one() {
        let one = ["ses_abc".to_owned()];
        let two = ["ses_abc".to_owned(), "ses_abd".to_owned()];
        assert_eq!(choose(None, one.iter()), Ok("ses_abc".into()));
        assert!(choose(None, two.iter()).unwrap_err().contains("2 calls"));
        assert!(choose(None, [].iter()).unwrap_err().contains("no call"));
        assert_eq!(choose(Some("ses_abd"), two.iter()), Ok("ses_abd".into()));
        assert!(choose(Some("ses_ab"), two.iter())
            .unwrap_err()
            .contains("more than one"));
        assert!(choose(Some("ses_z"), two.iter())
            .unwrap_err()
            .contains("no call"));
    }
}
