//! The `trusty-mpm` command: argument parsing and dispatch only.

use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use trusty_mpm::cli::args::{Cli, Command, HooksAction};
use trusty_mpm::cli::{client, hooks};

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
        Command::Hooks { action } => match action {
            HooksAction::Install(a) => hooks::install(hooks::scope(a.project)),
            HooksAction::Uninstall(a) => hooks::uninstall(hooks::scope(a.project)),
            HooksAction::Status => hooks::status(),
            HooksAction::Check => hooks::check(),
        },
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "trusty-mpm",
                &mut std::io::stdout(),
            );
            ExitCode::SUCCESS
        }
        Command::Man => {
            match clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("trusty-mpm: {e}");
                    ExitCode::FAILURE
                }
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
