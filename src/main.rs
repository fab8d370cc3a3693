//! The `trusty-mpm` command: argument parsing and dispatch only.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

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
    /// The Claude Code hook relay: reads one hook event on stdin and forwards it to the daemon.
    Hook,
    /// Install, remove or inspect the relay in Claude Code's settings, or check the config.
    Hooks {
        #[command(subcommand)]
        action: HooksAction,
    },
}

#[derive(Subcommand)]
enum HooksAction {
    /// Add the relay for every hook event to a settings.json (idempotent).
    Install(ScopeArgs),
    /// Remove exactly the relay's entries from a settings.json.
    Uninstall(ScopeArgs),
    /// Show where the relay is installed (user settings and the current project).
    Status,
    /// Check the config file (deny rules, permission wait); exit 1 when it is broken.
    Check,
}

#[derive(Args)]
#[group(multiple = false)]
struct ScopeArgs {
    /// The project's .claude/settings.json in DIR.
    #[arg(long, value_name = "DIR")]
    project: Option<PathBuf>,
    /// The user's ~/.claude/settings.json (the default).
    #[arg(long)]
    user: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Hook => trusty_mpm::hooks::relay::run(),
        Command::Daemon => {
            trusty_mpm::logging::init();
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
            let code = rt.block_on(trusty_mpm::daemon::run());
            // Do not wait for stray blocking work (a hung tmux call) on the way out.
            rt.shutdown_timeout(std::time::Duration::from_millis(200));
            code
        }
        Command::Hooks { action } => {
            use trusty_mpm::cli::hooks as cmd;
            let scope = |a: ScopeArgs| cmd::scope(a.project);
            match action {
                HooksAction::Install(a) => cmd::install(scope(a)),
                HooksAction::Uninstall(a) => cmd::uninstall(scope(a)),
                HooksAction::Status => cmd::status(),
                HooksAction::Check => cmd::check(),
            }
        }
    }
}
