//! Where the CLI's words go: results on stdout (text, or one JSON object per line with `--json`),
//! progress and errors on stderr.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use std::io::Write;
use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Output {
    json: bool,
    /// `--quiet`: only the token, key or id of each result, one per line.
    quiet: bool,
}

impl Output {
    pub(crate) fn new(json: bool, quiet: bool) -> Self {
        Output { json, quiet }
    }

    pub(crate) fn is_json(&self) -> bool {
        self.json
    }

    /// Whether results go out one per line for a program (`--json` or `--quiet`) rather than as
    /// text for a person.
    pub(crate) fn per_line(&self) -> bool {
        self.json || self.quiet
    }

    /// A result: `value` as a JSON line (or its id with `--quiet`), or `human()` as text.
    pub(crate) fn result<T: Serialize>(&self, value: &T, human: impl FnOnce() -> String) {
        if self.per_line() {
            self.json_line(value);
        } else {
            self.text(&human());
        }
    }

    /// A result that makes several things a script needs (an id and its secrets): with
    /// `--quiet`, each of `quiet` on a line of its own, in order (`read` takes them); otherwise
    /// as [`Output::result`].
    pub(crate) fn result_lines<T: Serialize>(
        &self,
        value: &T,
        quiet: &[&str],
        human: impl FnOnce() -> String,
    ) {
        if self.quiet {
            for line in quiet {
                self.raw(line);
            }
        } else {
            self.result(value, human);
        }
    }

    /// One result for a program: a JSON line, or with `--quiet` its id alone.
    pub(crate) fn json_line<T: Serialize>(&self, value: &T) {
        if self.quiet {
            if let Some(id) = id_of(value) {
                self.raw(&id);
            }
            return;
        }
        match serde_json::to_string(value) {
            Ok(line) => self.raw(&line),
            Err(e) => eprintln!("error: cannot print a result as JSON: {e}"),
        }
    }

    /// Text on stdout, only in text mode.
    pub(crate) fn text(&self, text: &str) {
        if !self.per_line() {
            self.raw(text);
        }
    }

    fn raw(&self, line: &str) {
        let mut stdout = std::io::stdout().lock();
        // A closed pipe (`| head`) is not worth a panic.
        let _ = writeln!(stdout, "{line}");
        let _ = stdout.flush();
    }

    /// A progress note on stderr (both modes: stdout stays parseable).
    pub(crate) fn progress(&self, text: &str) {
        eprintln!("{text}");
    }

    /// A spinner on stderr, drawn only on a terminal.
    pub(crate) fn spinner(&self, message: impl Into<String>) -> ProgressBar {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message(message.into());
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    }

    /// A byte-counting progress bar on stderr, drawn only on a terminal.
    pub(crate) fn bytes_bar(&self, total: Option<u64>, message: impl Into<String>) -> ProgressBar {
        let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
        let template = if total.is_some() {
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}"
        } else {
            "{spinner} {msg} {bytes} {bytes_per_sec}"
        };
        bar.set_style(
            ProgressStyle::with_template(template)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_message(message.into());
        bar
    }

    /// A progress bar counting `total` items on stderr, drawn only on a terminal.
    pub(crate) fn count_bar(&self, total: u64, message: impl Into<String>) -> ProgressBar {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({per_sec}, {elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_message(message.into());
        bar
    }

    /// A progress bar over `secs` seconds on stderr (the message carries live figures), drawn
    /// only on a terminal.
    pub(crate) fn timed_bar(&self, secs: u64, message: impl Into<String>) -> ProgressBar {
        let bar = ProgressBar::with_draw_target(Some(secs), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("[{bar:30}] {pos}/{len} s  {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_message(message.into());
        bar
    }

    /// The error that ends the command, on stderr.
    pub(crate) fn error(&self, error: &anyhow::Error) {
        let api = error.downcast_ref::<callside_client::Error>();
        let text = explain(error).unwrap_or_else(|| format!("{error:#}"));
        if self.json {
            let value = serde_json::json!({
                "error": text,
                "code": api.and_then(|e| e.code()),
                "status": api.and_then(|e| e.status()),
            });
            eprintln!("{value}");
        } else {
            eprintln!("error: {text}");
        }
    }
}

/// What `--quiet` prints of a result: its `token`, else its `key`, else its `id`.
fn id_of<T: Serialize>(value: &T) -> Option<String> {
    let v = serde_json::to_value(value).ok()?;
    ["token", "key", "id"]
        .iter()
        .find_map(|k| v.get(k)?.as_str().map(str::to_owned))
}

/// The errors a newcomer meets first, said with what to do about them.
fn explain(error: &anyhow::Error) -> Option<String> {
    for cause in error.chain() {
        if let Some(e) = cause.downcast_ref::<reqwest::Error>() {
            if e.is_connect() {
                let at = e
                    .url()
                    .map(|u| format!("{}://{}", u.scheme(), u.authority()))
                    .unwrap_or_else(|| "the server".into());
                return Some(format!(
                    "cannot reach callside at {at}: is `callside serve` running there? (set --server or CALLSIDE_SERVER to another address)"
                ));
            }
        }
        if let Some(callside_client::Error::Api {
            status: 401,
            code,
            detail,
        }) = cause.downcast_ref::<callside_client::Error>()
        {
            let said = match code.as_str() {
                "unauthenticated" => "no token was given",
                "malformed_token" => "the token has spaces or characters a token never has",
                "unknown_token" => "the server never issued this token (is it copied whole, and is this the right server?)",
                "token_revoked" | "token_expired" => detail.as_str(),
                _ => continue,
            };
            return Some(format!("{said}; check --token or CALLSIDE_TOKEN"));
        }
    }
    None
}
