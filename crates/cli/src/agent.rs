//! `callside agent …`: an agent of a merchant's call centre at work — presence, the call ringing
//! it with the visitor's page (the screen pop), accept (which opens the call's session), decline,
//! end, and pushing the merchant's pages to the visitor. The browser console at `/agent/` does
//! the same, with voice and chat.

use anyhow::Context;
use callside_client::proto::agent::{AgentCall, Board, PresenceStatus};
use callside_client::Client;
use clap::{Args, Subcommand, ValueEnum};

use crate::output::Output;

#[derive(Debug, Args)]
pub(crate) struct AgentArgs {
    /// The server's base URL (before or after the subcommand).
    #[arg(
        long,
        global = true,
        env = "CALLSIDE_SERVER",
        hide_env_values = true,
        default_value = "http://127.0.0.1:8080"
    )]
    server: String,
    /// The agent's token (from `callside merchant agent`).
    #[arg(
        long,
        global = true,
        env = "CALLSIDE_AGENT_TOKEN",
        hide_env_values = true
    )]
    token: Option<String>,
    #[command(subcommand)]
    command: AgentCommand,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Status {
    /// Take calls of your groups.
    Available,
    /// Signed in, no new calls.
    Away,
    /// Signed out: a call you had goes back to the front of its queue.
    Offline,
}

#[derive(Debug, Subcommand)]
enum AgentCommand {
    /// Set your status. Stay signed in by asking for calls (`call`) at least every 45 s.
    Status {
        /// available, away or offline.
        #[arg(value_enum)]
        status: Status,
    },
    /// The call ringing you or in progress, with the visitor's page (waits up to --wait).
    Call {
        /// Seconds to wait for a call (at most 30).
        #[arg(long, default_value_t = 0)]
        wait: u64,
    },
    /// Answer the call ringing you; prints the call's session (with -q, its key alone).
    Accept {
        /// The call id (`clk_…`), as `call` shows it.
        id: String,
    },
    /// Pass the call ringing you to the next agent (you are away afterwards).
    Decline {
        /// The call id (`clk_…`).
        id: String,
    },
    /// Join a call to the merchant's number by the channel id its visitor reads out (its chat
    /// and pages; the voice stays on the telephone).
    Join {
        /// The 6 digits the visitor's call window shows.
        channel: String,
    },
    /// The merchant's pages you can push, by code.
    Pages,
    /// The whole call centre now (supervisors): waiting calls and every agent's status.
    Board,
    /// Push the merchant's page for a code (`*76`) to the visitor of your call in progress.
    Push {
        /// The call id (`clk_…`).
        id: String,
        /// The page's code, as `pages` lists it.
        code: String,
    },
    /// Hang up your call in progress.
    End {
        /// The call id (`clk_…`).
        id: String,
        /// completed (the default) or failed.
        #[arg(long)]
        outcome: Option<String>,
    },
}

pub(crate) async fn run(args: AgentArgs, out: &Output) -> anyhow::Result<()> {
    let token = args.token.context(
        "no agent token: pass --token or set CALLSIDE_AGENT_TOKEN (the merchant gets it with `callside merchant agent`)",
    )?;
    let client = Client::new(&args.server, &token)?;
    match args.command {
        AgentCommand::Status { status } => {
            let s = match status {
                Status::Available => PresenceStatus::Available,
                Status::Away => PresenceStatus::Away,
                Status::Offline => PresenceStatus::Offline,
            };
            client.set_presence(s).await?;
            out.result(&serde_json::json!({ "status": s }), || {
                format!("you are {}", format!("{status:?}").to_lowercase())
            });
        }
        AgentCommand::Call { wait } => match client.agent_call(wait.min(30), None).await? {
            None => out.result(&serde_json::json!({ "call": null }), || "no call".into()),
            Some(c) => out.result(&c, || describe(&c)),
        },
        AgentCommand::Accept { id } => {
            client.answer_agent_call(&id, true).await?;
            // The answer opened the call's session: voice, chat and pushed pages ride it.
            let key = client
                .agent_call(0, None)
                .await?
                .filter(|c| c.call.id == id)
                .and_then(|c| c.session);
            out.result(
                &serde_json::json!({ "call": id, "state": "answered", "key": key }),
                || match &key {
                    Some(k) => format!("on call {id}; its session is {k}"),
                    None => format!("on call {id}"),
                },
            );
        }
        AgentCommand::Board => {
            let b = client.board(false).await?;
            out.result(&b, || board_text(&b));
        }
        AgentCommand::Join { channel } => {
            let c = client.join_channel(&channel).await?;
            out.result(&c, || describe(&c));
        }
        AgentCommand::Pages => {
            let pages = client.agent_pages().await?;
            out.result(&pages, || {
                if pages.is_empty() {
                    return "no pages: the merchant adds them with `callside merchant page`".into();
                }
                pages
                    .iter()
                    .map(|p| format!("{}  {}", p.code, p.url))
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        AgentCommand::Push { id, code } => {
            let page = client.push_page(&id, &code).await?;
            out.result(&page, || {
                format!(
                    "pushed {}: the visitor's browser loads {}",
                    page.code, page.url
                )
            });
        }
        AgentCommand::Decline { id } => {
            client.answer_agent_call(&id, false).await?;
            out.result(
                &serde_json::json!({ "call": id, "state": "declined" }),
                || format!("declined {id}; you are away"),
            );
        }
        AgentCommand::End { id, outcome } => {
            client.end_agent_call(&id, outcome.as_deref()).await?;
            out.result(&serde_json::json!({ "call": id, "state": "ended" }), || {
                format!("call {id} ended")
            });
        }
    }
    Ok(())
}

/// The call centre as text: queues, then agents.
pub(crate) fn board_text(b: &Board) -> String {
    let mut lines = Vec::new();
    if b.queues.is_empty() {
        lines.push("no calls waiting".to_owned());
    }
    for q in &b.queues {
        let handle = q
            .handle_secs
            .map(|s| format!(", calls take {s} s on average"))
            .unwrap_or_default();
        lines.push(format!("{}: {} waiting{handle}", q.group, q.calls.len()));
        for c in &q.calls {
            lines.push(format!(
                "  {}  {} s  {}",
                c.id,
                c.waiting_secs,
                c.page.as_deref().unwrap_or("")
            ));
        }
    }
    for a in &b.agents {
        let call = a
            .call
            .as_deref()
            .map(|c| format!(" {c}"))
            .unwrap_or_default();
        let since = a.for_secs.map(|s| format!(" ({s} s)")).unwrap_or_default();
        lines.push(format!(
            "{:<12} {:<20} {}{call}{since}",
            a.id, a.name, a.status
        ));
    }
    lines.join("\n")
}

/// The screen pop as text.
fn describe(c: &AgentCall) -> String {
    let ctx = &c.call.context;
    let mut lines = vec![format!("{} call {}", c.state, c.call.id)];
    if let Some(k) = &c.session {
        lines.push(format!("  session   {k}"));
    }
    let mut add = |k: &str, v: Option<&str>| {
        if let Some(v) = v {
            lines.push(format!("  {k:<9} {v}"));
        }
    };
    add("button", c.call.link.as_deref());
    add("customer", c.call.customer.as_deref());
    add("page", ctx.page.as_deref());
    add("came from", ctx.referrer.as_deref());
    for (k, v) in &ctx.form {
        lines.push(format!("  form {k}: {v}"));
    }
    lines.join("\n")
}
