//! The `trusty-mpm` command: argument parsing and dispatch only.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Run and watch many Claude Code agents in tmux, over D-Bus (org.trusty.Mpm1).
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service: own org.trusty.Mpm1 on the session bus and manage sessions.
    Daemon,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("trusty-mpm: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Command::Daemon => {
            trusty_mpm::logging::init();
            let code = rt.block_on(trusty_mpm::daemon::run());
            // Do not wait for stray blocking work (a hung tmux call) on the way out.
            rt.shutdown_timeout(std::time::Duration::from_millis(200));
            code
        }
    }
}
