//! The `trusty-mpm` command: argument parsing and dispatch only.

use std::process::ExitCode;

use clap::Parser;
use trusty_mpm::cli::args::{Cli, Command, HooksAction};
use trusty_mpm::cli::{client, complete, config, hooks, man};

fn failed(e: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("trusty-mpm: {e}");
    ExitCode::FAILURE
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
    let cli = Cli::parse();
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
            HooksAction::Install(a) => hooks::install(hooks::scope(a.project)),
            HooksAction::Uninstall(a) if a.everywhere => hooks::uninstall_everywhere(),
            HooksAction::Uninstall(a) => hooks::uninstall(hooks::scope(a.scope.project)),
            HooksAction::Status => hooks::status(),
            HooksAction::Check => hooks::check(),
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
            rt.block_on(client::run(cmd))
        }
    }
}
