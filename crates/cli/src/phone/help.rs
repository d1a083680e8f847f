//! `callside phone --help` lists its ~50 subcommands by what they are for, not in one column.

use clap::Command;

/// Each subcommand of `phone` in exactly one group (a test keeps this complete).
const GROUPS: &[(&str, &[&str])] = &[
    (
        "Calls",
        &[
            "call", "incoming", "answer", "hangup", "dial", "note", "call-log", "coupling", "near",
        ],
    ),
    (
        "Sessions and messages",
        &[
            "sessions", "watch", "messages", "send", "app", "press", "history", "transfer", "close",
        ],
    ),
    ("Files", &["send-file", "download"]),
    (
        "Cards",
        &["card", "card-import", "audiences", "audience-set"],
    ),
    ("Location", &["location", "locate"]),
    (
        "Invitations",
        &[
            "invite",
            "invitations",
            "accept",
            "decline",
            "cancel-invitation",
        ],
    ),
    (
        "Components",
        &[
            "components",
            "capabilities",
            "capable",
            "offer",
            "installed",
            "offer-on-call",
        ],
    ),
    (
        "This device: numbers, addresses, token, its data",
        &[
            "whoami",
            "export",
            "enroll",
            "register-sms",
            "complete-sms",
            "remove-number",
            "email-add",
            "email-complete",
            "email-auto",
            "email-remove",
            "rotate-token",
        ],
    ),
    (
        "Browsers, push and connections",
        &[
            "link-browser",
            "browsers",
            "unlink-browser",
            "push-register",
            "push-list",
            "push-delete",
            "connection-data",
        ],
    ),
];

/// `phone` with its help showing the subcommands under [`GROUPS`]' headings.
pub(crate) fn grouped(phone: Command) -> Command {
    let width = phone
        .get_subcommands()
        .map(|c| c.get_name().len())
        .max()
        .unwrap_or(0);
    let mut text = String::new();
    for (heading, names) in GROUPS {
        text.push_str(&format!("{heading}:\n"));
        for name in *names {
            let about = phone
                .find_subcommand(name)
                .and_then(|c| c.get_about())
                .map(|a| a.to_string())
                .unwrap_or_default();
            text.push_str(&format!("  {name:width$}  {about}\n"));
        }
        text.push('\n');
    }
    text.push_str("`callside phone <COMMAND> --help` describes one command.");
    phone
        .help_template(
            "{about-with-newline}\n{usage-heading} {usage}\n\n{before-help}Options:\n{options}",
        )
        .before_help(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn every_phone_command_is_in_exactly_one_group() {
        let cli = crate::Cli::command();
        let phone = cli.find_subcommand("phone").unwrap();
        let mut listed: Vec<&str> = GROUPS.iter().flat_map(|(_, n)| n.iter().copied()).collect();
        let mut real: Vec<&str> = phone
            .get_subcommands()
            .map(|c| c.get_name())
            .filter(|n| *n != "help")
            .collect();
        listed.sort_unstable();
        real.sort_unstable();
        let before = listed.len();
        listed.dedup();
        assert_eq!(before, listed.len(), "a command is in two groups");
        assert_eq!(listed, real, "GROUPS and the phone subcommands differ");
    }
}
