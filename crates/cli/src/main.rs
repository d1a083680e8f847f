//! `callside`: the server, an operator's admin tool, a scriptable phone app, a demo and benchmarks
//! in one binary.
//!
//! Every subcommand is a thin layer over `callside_client` (or `callside_server` for `serve`,
//! `config` and `demo`). With `--json`, results and events are printed as one JSON object per
//! line (the wire types of `callside_proto`), so scripts can parse them; progress goes to stderr.

/// jemalloc instead of glibc's allocator: the server allocates on its async workers and frees
/// on the SQLite writer thread, which glibc handles with locked arenas and free-list
/// consolidation (15–20% of server CPU under load). Measured in docs/PERFORMANCE.md: relay +20–40%,
/// matching +10–30%, and 1 KiB less per idle connection.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

mod admin;
mod agent;
mod attendant;
mod bench;
mod demo;
mod merchant;
mod output;
mod phone;
mod render;
mod serve;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use output::Output;

/// callside gives every phone call a data side.
#[derive(Debug, Parser)]
#[command(name = "callside", version, about, propagate_version = true)]
pub(crate) struct Cli {
    /// Print results and events as JSON lines instead of text (`serve`: log JSON lines; `config`:
    /// the settings as one JSON object). Refused where a command prints another format (a vCard,
    /// CSV).
    #[arg(long, global = true)]
    json: bool,
    /// Print only the token, key or id of each result, one per line: for `VAR=$(callside …)`.
    #[arg(long, short, global = true, conflicts_with = "json")]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server.
    Serve(serve::ServerArgs),
    /// Print the effective server configuration as TOML.
    Config(serve::ServerArgs),
    /// Say whether the server answers and is ready (`--wait SECS` waits for it to start).
    Ready(serve::ReadyArgs),
    /// Provision devices and service accounts (needs the admin token).
    Admin(admin::AdminArgs),
    /// Act as one phone's app: report calls, chat, send files, watch events.
    Phone(phone::PhoneArgs),
    /// A merchant's server: buttons, pages, routing rules, call records; sign a button.
    Merchant(merchant::MerchantArgs),
    /// An agent of a merchant's call centre: status, the call ringing you, accept, decline, end.
    Agent(agent::AgentArgs),
    /// Run an automated system (voicemail, IVR, contact centre) from a TOML file of screens.
    ///
    /// Lines typed on standard input are the agent's actions on a call: `calls`,
    /// `screen [SESSION] ID`, `text [SESSION] WORDS…`, `app [SESSION] NAME [JSON]`,
    /// `end [SESSION]`, `help`.
    Attendant(attendant::AttendantArgs),
    /// Play a whole call between two phones on an in-process server.
    Demo,
    /// Measure matching latency, message relay latency, or idle connection capacity.
    Bench(bench::BenchArgs),
}

fn main() -> std::process::ExitCode {
    // `phone --help` lists its subcommands by group (clap has no headings for subcommands).
    let command = Cli::command().mut_subcommand("phone", phone::help::grouped);
    let cli = match Cli::from_arg_matches(&command.get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let out = Output::new(cli.json, cli.quiet);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve::serve(args, out.is_json()).await,
            Command::Config(args) => serve::print_config(args, &out),
            Command::Ready(args) => serve::ready(args, &out).await,
            Command::Admin(args) => admin::run(args, &out).await,
            Command::Phone(args) => phone::run(args, &out).await,
            Command::Merchant(args) => merchant::run(args, &out).await,
            Command::Agent(args) => agent::run(args, &out).await,
            Command::Attendant(args) => attendant::run(args, &out).await,
            Command::Demo => demo::run(&out).await,
            Command::Bench(args) => bench::run(args, &out).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            out.error(&e);
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    /// Codes and tokens are random base64url and may begin with `-`: they are values, not flags.
    #[test]
    fn codes_that_begin_with_a_dash_are_values() {
        use clap::Parser;
        for args in [
            &[
                "callside",
                "phone",
                "--token",
                "t",
                "complete-sms",
                "--proof",
                "prf_1",
                "--code",
                "-oAbC",
                "-x CS1 S +447400123456 sig",
            ][..],
            &[
                "callside",
                "phone",
                "--token",
                "t",
                "email-complete",
                "ev_1",
                "-tOk3n",
            ][..],
        ] {
            assert!(Cli::try_parse_from(args).is_ok(), "{args:?}");
        }
    }

    /// Issue 19: every argument and option of every command says what it takes.
    #[test]
    fn every_argument_is_described() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let builtin = matches!(arg.get_id().as_str(), "help" | "version");
                if !builtin && !arg.is_hide_set() && arg.get_help().is_none() {
                    missing.push(format!("{path} {}", arg.get_id()));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "callside", &mut missing);
        assert!(missing.is_empty(), "undescribed: {missing:#?}");
    }
}
