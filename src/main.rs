//! The `trusty-mpm` command: argument parsing and dispatch only.

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};
use trusty_mpm::cli::args::{self, Cli, Command, HooksAction};
use trusty_mpm::cli::{client, complete, config, hook_setup, man};

fn failed(e: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("trusty-mpm: {e}");
    ExitCode::FAILURE
}

/// A command line that parses but does not hold together: exit code 2, as clap's own.
fn misused(e: &str) -> ExitCode {
    eprintln!("trusty-mpm: {e}");
    ExitCode::from(2)
}

fn runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => Some(rt),
        Err(e) => {
            eprintln!("trusty-mpm: cannot start the async runtime: {e}");
            None
        }
    }
}

fn main() -> ExitCode {
    // The hook relay runs for every Claude Code event: skip building the whole command tree.
    let mut args = std::env::args_os().skip(1);
    if args.next().is_some_and(|a| a == "hook") && args.next().is_none() {
        return trusty_mpm::cli::relay::run();
    }
    complete::answer_if_asked();
    // The matches too: `--host`, which every client subcommand takes, is read from them.
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if cli.host.is_some() && !matches!(cli.command, Command::Client(_)) {
        return misused("--host goes with the client subcommands (list, start, watch, …)");
    }
    match cli.command {
        Command::Hook => trusty_mpm::cli::relay::run(),
        Command::Daemon => {
            trusty_mpm::logging::init();
            let Some(rt) = runtime() else {
                return ExitCode::FAILURE;
            };
            let code = rt.block_on(trusty_mpm::daemon::run());
            // Do not wait for stray blocking work (a hung tmux call) on the way out.
            rt.shutdown_timeout(std::time::Duration::from_millis(200));
            code
        }
        Command::Config => config::run(),
        Command::Hooks { action } => match action {
            HooksAction::Install(a) => hook_setup::install(hook_setup::scope(a.project)),
            HooksAction::Uninstall(a) if a.everywhere => hook_setup::uninstall_everywhere(),
            HooksAction::Uninstall(a) => hook_setup::uninstall(hook_setup::scope(a.scope.project)),
            HooksAction::Status => hook_setup::status(),
            HooksAction::Check => hook_setup::check(),
        },
        Command::Completions { shell } => {
            match complete::script(shell, &mut std::io::stdout().lock()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => failed(&e),
            }
        }
        Command::Man { command, dir } => {
            let done = match dir {
                Some(dir) => man::write_all(&dir).map(drop).map_err(|e| e.to_string()),
                None => man::print(&command),
            };
            match done {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => failed(&e),
            }
        }
        Command::Client(cmd) => {
            let Some(rt) = runtime() else {
                return ExitCode::FAILURE;
            };
            let host = match (cli.host, args::host(&matches)) {
                (Some(a), Some(b)) if a != b => {
                    return misused(&format!("--host {a} and --host {b}: give one"));
                }
                (a, b) => a.or(b),
            };
            rt.block_on(client::run(cmd, host))
        }
    }
}
