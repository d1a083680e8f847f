//! `callside merchant …`: what a merchant's server does over the API (links, pages, routing
//! rules and their dry run, call records), signing a button, and a visitor's click.

use anyhow::Context;
use callside_client::merchants::{sign_button, Button};
use callside_client::proto::merchant::{CallState, ClickContext, DryRun};
use callside_client::Client;
use clap::{Args, Subcommand};
use std::path::PathBuf;

use crate::output::Output;

#[derive(Debug, Args)]
pub(crate) struct MerchantArgs {
    /// The server's base URL (before or after the subcommand).
    #[arg(
        long,
        global = true,
        env = "CALLSIDE_SERVER",
        hide_env_values = true,
        default_value = "http://127.0.0.1:8080"
    )]
    server: String,
    /// The merchant's API token (from `callside admin merchant create`).
    #[arg(
        long,
        global = true,
        env = "CALLSIDE_MERCHANT_TOKEN",
        hide_env_values = true
    )]
    token: Option<String>,
    #[command(subcommand)]
    command: MerchantCommand,
}

#[derive(Debug, Subcommand)]
enum MerchantCommand {
    /// Add or rename a button ("sales", "billing", "returns").
    Link {
        /// The link id: a-z, 0-9, `.`, `_`, `-`.
        id: String,
        /// The name people read, 1-100 characters (e.g. Sales).
        #[arg(long)]
        name: String,
    },
    /// List the buttons.
    Links,
    /// Add or change a page agents push by its code (`*76` → https://…).
    Page {
        /// The code an agent keys: 1-8 of 0-9, `*` and `#` (e.g. *76).
        code: String,
        /// The page's address, an http(s) URL.
        url: String,
    },
    /// List the pages.
    Pages,
    /// Show the routing rules, or replace them with the JSON in FILE (`-` for standard input).
    Routing {
        /// A JSON file of rules to store in place of the current ones (`-` for standard input).
        #[arg(long, value_name = "FILE")]
        set: Option<PathBuf>,
    },
    /// Where a click would go, now or at a given time.
    DryRun {
        /// The link id of the button clicked (e.g. sales).
        #[arg(long)]
        link: Option<String>,
        /// The visitor's country (US).
        #[arg(long)]
        country: Option<String>,
        /// The number the button carries.
        #[arg(long, value_name = "NUMBER")]
        destination: Option<String>,
        /// When, as RFC 3339 (2026-12-07T19:00:00-05:00); now when absent.
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
    },
    /// Calls started from the merchant's pages, newest first.
    Calls {
        /// As CSV (for a spreadsheet or billing).
        #[arg(long)]
        csv: bool,
        /// At most this many calls (1-1000).
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Report a call answered (with the agent) or ended (with the outcome).
    CallState {
        /// The call id (`clk_…`), as `calls` lists it.
        id: String,
        /// answered or ended.
        #[arg(long)]
        state: String,
        /// With answered: the agent who took the call, 1-100 characters.
        #[arg(long)]
        agent: Option<String>,
        /// completed, abandoned, no_answer or failed (with ended).
        #[arg(long)]
        outcome: Option<String>,
    },
    /// Add an agent to the call centre (its token is printed once) or change its name and groups.
    Agent {
        /// The agent id: a-z, 0-9, `.`, `_`, `-`.
        id: String,
        /// The name visitors and records show, 1-100 characters.
        #[arg(long)]
        name: String,
        /// A group whose calls it takes (routing's `agents:<group>`); repeat for more.
        #[arg(long = "group", value_name = "GROUP")]
        groups: Vec<String>,
        /// A supervisor: also sees the whole call centre (`callside agent board`).
        #[arg(long)]
        supervisor: bool,
    },
    /// Set where callside posts your calls' progress (call.created, call.answered, call.ended),
    /// signed with a new secret printed once; without a URL, show it; --delete to stop.
    Webhook {
        /// An https URL (private addresses only where the operator allows them).
        url: Option<String>,
        /// Stop posting.
        #[arg(long, conflicts_with = "url")]
        delete: bool,
    },
    /// List the agents, and who is signed in.
    Agents,
    /// The call centre now: each group's waiting calls and every agent's status.
    Board,
    /// Remove an agent; its token stops working.
    RemoveAgent {
        /// The agent id.
        id: String,
    },
    /// Follow a call as its visitor: state, place in line, expected wait (or hang up).
    Follow {
        /// The call id (`clk_…`) the click printed.
        id: String,
        /// The visitor token the click printed.
        #[arg(long, env = "CALLSIDE_VISITOR_TOKEN", hide_env_values = true)]
        visitor_token: String,
        /// Seconds to wait for a change (at most 30).
        #[arg(long, default_value_t = 0)]
        wait: u64,
        /// Hang up instead (as closing the call window does).
        #[arg(long)]
        hang_up: bool,
    },
    /// Sign a button with the merchant's button secret, as the merchant's server does for a page.
    Button {
        /// The merchant id (mer_…).
        #[arg(long)]
        merchant: String,
        /// The button secret (it may start with `-`).
        #[arg(
            long,
            env = "CALLSIDE_BUTTON_SECRET",
            hide_env_values = true,
            allow_hyphen_values = true
        )]
        secret: String,
        /// The link id the button is for (e.g. sales).
        #[arg(long)]
        link: Option<String>,
        /// The customer or session id the agent sees.
        #[arg(long)]
        customer: Option<String>,
        /// A number to call, for rules that send calls to `button`.
        #[arg(long, value_name = "NUMBER")]
        destination: Option<String>,
        /// The visitor's country (US).
        #[arg(long)]
        country: Option<String>,
        /// How long the button stays valid, in seconds.
        #[arg(long, default_value_t = 3600)]
        valid_secs: u64,
    },
    /// Click a button as a visitor's page would (no token: the button is the credential). With
    /// -q: the call id and the visitor token, one per line.
    Click {
        /// The merchant id (mer_…).
        #[arg(long)]
        merchant: String,
        /// The signed button (`callside merchant button`).
        #[arg(long)]
        button: String,
        /// The page the button is on.
        #[arg(long)]
        page: Option<String>,
        /// The page the visitor came from, an http(s) URL.
        #[arg(long)]
        referrer: Option<String>,
    },
}

pub(crate) async fn run(args: MerchantArgs, out: &Output) -> anyhow::Result<()> {
    match args.command {
        MerchantCommand::Button {
            merchant,
            secret,
            link,
            customer,
            destination,
            country,
            valid_secs,
        } => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or_default();
            let token = sign_button(
                &secret,
                &Button {
                    iss: merchant,
                    exp: now + valid_secs,
                    lnk: link,
                    cus: customer,
                    dst: destination,
                    cty: country,
                },
            )?;
            out.result_lines(&serde_json::json!({ "button": token }), &[&token], || {
                token.clone()
            });
            return Ok(());
        }
        MerchantCommand::Click {
            merchant,
            button,
            page,
            referrer,
        } => {
            let context = ClickContext {
                page,
                referrer,
                ..ClickContext::default()
            };
            let c = Client::click(&args.server, &merchant, &button, context).await?;
            let quiet: Vec<&str> = std::iter::once(c.id.as_str())
                .chain(c.visitor_token.as_deref())
                .collect();
            out.result_lines(&c, &quiet, || match (&c.channel, &c.visitor_token) {
                (Some(ch), _) => format!(
                    "call {} goes to {}; an agent keys its channel id {ch} to join its chat",
                    c.id, c.destination
                ),
                (None, Some(t)) => format!(
                    "call {} waits for {}; follow it with: callside merchant follow {} --visitor-token {t}",
                    c.id, c.destination, c.id
                ),
                (None, None) => format!("call {} goes to {}", c.id, c.destination),
            });
            return Ok(());
        }
        MerchantCommand::Follow {
            id,
            visitor_token,
            wait,
            hang_up,
        } => {
            let visitor = Client::new(&args.server, &visitor_token)?;
            if hang_up {
                visitor.visitor_hangup(&id).await?;
            }
            let v = visitor
                .visitor_call(&id, if hang_up { 0 } else { wait.min(30) })
                .await?;
            out.result(&v, || match (v.state.as_str(), v.position) {
                ("queued", Some(p)) => format!(
                    "queued: number {p} in line{}",
                    v.expected_wait_secs
                        .map(|s| format!(", about {s} s to wait"))
                        .unwrap_or_else(|| ", no agent signed in".into())
                ),
                ("answered", _) => {
                    format!("answered by {}", v.agent.as_deref().unwrap_or("an agent"))
                }
                ("ended", _) => format!("ended ({})", v.outcome.as_deref().unwrap_or("-")),
                (state, _) => state.to_owned(),
            });
            return Ok(());
        }
        _ => {}
    }
    let token = args.token.context(
        "no merchant token: pass --token or set CALLSIDE_MERCHANT_TOKEN (the operator prints it with `callside admin merchant create`)",
    )?;
    let client = Client::new(&args.server, &token)?;
    match args.command {
        MerchantCommand::Link { id, name } => {
            let l = client.put_link(&id, &name).await?;
            out.result(&l, || format!("link {} ({})", l.id, l.name));
        }
        MerchantCommand::Links => {
            let links = client.links().await?;
            out.result(&links, || {
                lines(
                    links.iter().map(|l| format!("{}  {}", l.id, l.name)),
                    "no links yet",
                )
            });
        }
        MerchantCommand::Page { code, url } => {
            let p = client.put_page(&code, &url).await?;
            out.result(&p, || format!("page {} → {}", p.code, p.url));
        }
        MerchantCommand::Pages => {
            let pages = client.pages().await?;
            out.result(&pages, || {
                lines(
                    pages.iter().map(|p| format!("{}  {}", p.code, p.url)),
                    "no pages yet",
                )
            });
        }
        MerchantCommand::Routing { set } => {
            let routing = match set {
                None => client.routing().await?,
                Some(path) => {
                    let text = if path.as_os_str() == "-" {
                        std::io::read_to_string(std::io::stdin())?
                    } else {
                        std::fs::read_to_string(&path)
                            .with_context(|| format!("cannot read {}", path.display()))?
                    };
                    let rules: serde_json::Value = serde_json::from_str(&text)
                        .with_context(|| format!("{} is not JSON", path.display()))?;
                    client.put_routing(&rules).await?
                }
            };
            out.result(&routing, || {
                serde_json::to_string_pretty(&routing).unwrap_or_default()
            });
        }
        MerchantCommand::DryRun {
            link,
            country,
            destination,
            at,
        } => {
            let at = at
                .map(|t| {
                    chrono::DateTime::parse_from_rfc3339(&t)
                        .map(|d| d.timestamp_millis())
                        .with_context(|| {
                            format!("`{t}` is not an RFC 3339 time (2026-12-07T19:00:00-05:00)")
                        })
                })
                .transpose()?;
            let r = client
                .dry_run(&DryRun {
                    link,
                    country,
                    destination,
                    at,
                    routing: None,
                })
                .await?;
            out.result(&r, || match r.rule {
                Some(i) => format!("→ {} (rule {i})", r.destination),
                None => format!("→ {} (default)", r.destination),
            });
        }
        MerchantCommand::Calls { csv: true, .. } if out.is_json() => {
            anyhow::bail!("--csv and --json are two output formats: give one of them");
        }
        MerchantCommand::Calls { csv: true, limit } => {
            print!("{}", client.merchant_calls_csv(Some(limit)).await?);
        }
        MerchantCommand::Calls { csv: false, limit } => {
            let list = client.merchant_calls(None, Some(limit)).await?;
            if out.per_line() {
                list.calls.iter().for_each(|c| out.json_line(c));
            } else {
                out.text(&lines(
                    list.calls.iter().map(|c| {
                        format!(
                            "{}  {}  {}  {}  {}",
                            c.id,
                            c.link.as_deref().unwrap_or("-"),
                            c.destination,
                            c.state,
                            c.context.page.as_deref().unwrap_or("-")
                        )
                    }),
                    "no calls yet",
                ));
            }
        }
        MerchantCommand::CallState {
            id,
            state,
            agent,
            outcome,
        } => {
            let c = client
                .set_call_state(
                    &id,
                    &CallState {
                        state,
                        agent,
                        outcome,
                    },
                )
                .await?;
            out.result(&c, || format!("call {} is {}", c.id, c.state));
        }
        MerchantCommand::Agent {
            id,
            name,
            groups,
            supervisor,
        } => {
            let a = client.put_agent(&id, &name, &groups, supervisor).await?;
            out.result(&a, || match &a.token {
                Some(t) => format!("agent {} added; its token (shown once): {t}", a.agent.id),
                None => format!("agent {} updated", a.agent.id),
            });
        }
        MerchantCommand::Webhook { url, delete } => {
            if delete {
                client.delete_webhook().await?;
                out.result(&serde_json::json!({ "webhook": null }), || {
                    "webhook removed".into()
                });
            } else if let Some(url) = url {
                let w = client.put_webhook(&url).await?;
                let secret = w.secret.clone().unwrap_or_default();
                out.result_lines(&w, &[&secret], || {
                    format!(
                        "webhook {}\nsigning secret (shown once): {secret}\nDeliveries carry X-Callside-Signature: t=…,id=…,v1=hex HMAC-SHA256(secret, \"t.id.url.body\").",
                        w.url
                    )
                });
            } else {
                match client.webhook().await? {
                    Some(w) => out.result(&w, || format!("webhook {}", w.url)),
                    None => out.result(&serde_json::json!({ "webhook": null }), || {
                        "no webhook".into()
                    }),
                }
            }
        }
        MerchantCommand::Board => {
            let b = client.board(true).await?;
            out.result(&b, || crate::agent::board_text(&b));
        }
        MerchantCommand::Agents => {
            let agents = client.agents().await?;
            out.result(&agents, || {
                lines(
                    agents.iter().map(|a| {
                        format!(
                            "{}  {}  {}  {}",
                            a.id,
                            a.name,
                            a.groups.join(","),
                            if a.signed_in {
                                "signed in"
                            } else {
                                "signed out"
                            }
                        )
                    }),
                    "no agents yet",
                )
            });
        }
        MerchantCommand::RemoveAgent { id } => {
            client.delete_agent(&id).await?;
            out.result(&serde_json::json!({ "removed": id }), || {
                format!("agent {id} removed")
            });
        }
        MerchantCommand::Button { .. }
        | MerchantCommand::Click { .. }
        | MerchantCommand::Follow { .. } => {
            unreachable!("handled above")
        }
    }
    Ok(())
}

fn lines(items: impl Iterator<Item = String>, empty: &str) -> String {
    let v: Vec<String> = items.collect();
    if v.is_empty() {
        empty.to_owned()
    } else {
        v.join("\n")
    }
}
