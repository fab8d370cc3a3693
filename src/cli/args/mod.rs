//! The command line, as clap definitions: shared by `main` (parsing), the shell completions and
//! the man pages (`trusty-mpm completions SHELL`, `trusty-mpm man`). Every argument has a help
//! line: it is what `--help`, the man pages and the completions show. Here: the top level
//! (`Cli`, the subcommands that are not clients, `--host`, the exit codes `--help` lists);
//! `client_commands`: the client subcommands and their arguments; `json_help`: what each
//! `--json` prints.

mod client_commands;
mod json_help;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueHint};
use clap_complete::ArgValueCandidates;

pub use client_commands::{ClientCommand, Compress, Key, LimitArgs};
pub use json_help::Json;

use crate::error::{FIRST_EXIT_CODE, KINDS};

/// What `--help` says after the options: the exit codes (those of the contract's error kinds
/// from their table) and what a KEY is.
fn exit_codes() -> String {
    let mut text = "Exit codes:\n  0   success\n  1   other failure\n  2   bad command line\n  \
                    3   the daemon is not running (or the session bus or a host is unreachable)\n"
        .to_owned();
    for (i, k) in KINDS.iter().enumerate() {
        let code = FIRST_EXIT_CODE + i as u8;
        text += &format!("  {code:<3} {:<17} {}\n", k.name, k.meaning);
    }
    text + "\nA KEY is a session's UUID (hyphenated or 32 hex digits) or its name; KEY@HOST is a \
            session on a host of the config file ([hosts.HOST])."
}

/// Run and watch many Claude Code agents in tmux, over D-Bus (org.trusty.Mpm1).
#[derive(Parser)]
#[command(name = "trusty-mpm", version, about, after_help = exit_codes(), mut_subcommands(with_host))]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// The daemon a client subcommand asks, as its own --host says (either place will do).
    #[arg(long = HOST, value_name = "NAME", add = ArgValueCandidates::new(super::hosts::candidates))]
    pub host: Option<String>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the service: own org.trusty.Mpm1 on the session bus and manage sessions.
    Daemon,
    /// The Claude Code hook relay: reads one hook event on stdin and forwards it to the daemon
    /// (the same as trusty-mpm-hook, the small executable `hooks install` writes into settings).
    Hook,
    /// Install, remove or inspect the relay in Claude Code's settings, or check the config.
    Hooks {
        #[command(subcommand)]
        action: HooksAction,
    },
    /// Show every setting (waits, claude, limits, environment, deny rules and more), its
    /// value and where it comes from: a variable, config.toml or the default.
    Config,
    /// Print the shell completion script (it asks `trusty-mpm` on PATH at each TAB).
    Completions {
        /// The shell to complete in.
        shell: clap_complete::Shell,
    },
    /// Print a man page (roff), or write them all to a directory.
    Man {
        /// The subcommand whose page to print, e.g. `list` or `hooks install` (default: the
        /// main page).
        #[arg(conflicts_with = "dir")]
        command: Vec<String>,
        /// Write every page (trusty-mpm.1, trusty-mpm-list.1 and so on) into DIR.
        #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath)]
        dir: Option<PathBuf>,
    },
    #[command(flatten)]
    Client(ClientCommand),
}

/// The id of `--host`, which every client subcommand takes (`host` reads it).
const HOST: &str = "host";

/// Gives a client subcommand its `--host NAME`.
fn with_host(cmd: clap::Command) -> clap::Command {
    if !<ClientCommand as Subcommand>::has_subcommand(cmd.get_name()) {
        return cmd;
    }
    cmd.arg(
        clap::Arg::new(HOST)
            .long(HOST)
            .value_name("NAME")
            .help(
                "The daemon to ask: `local` (this login's) or a host of the config file \
                 ([hosts.NAME]). Default: local, or for list, status and watch every host.",
            )
            .add(ArgValueCandidates::new(super::hosts::candidates)),
    )
}

/// The `--host` given after a client subcommand, if any (`Cli::host` holds one given before).
pub fn host(matches: &clap::ArgMatches) -> Option<String> {
    let (_, sub) = matches.subcommand()?;
    sub.try_get_one::<String>(HOST).ok().flatten().cloned()
}

#[derive(Subcommand)]
pub enum HooksAction {
    /// Add the relay (trusty-mpm-hook when it is installed beside, else `trusty-mpm hook`)
    /// for every hook event to a settings.json (idempotent).
    Install(ScopeArgs),
    /// Remove exactly the relay's entries from a settings.json (--everywhere: from every
    /// settings file `hooks install` wrote, as `make uninstall` does).
    Uninstall(UninstallArgs),
    /// Show where the relay is installed (user settings and the current project).
    Status,
    /// Check the config file (deny rules, permission wait); exit 1 when it is broken.
    Check,
}

#[derive(Args)]
pub struct UninstallArgs {
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// Every settings file `hooks install` wrote (it keeps a list in the state dir), and the
    /// user's.
    #[arg(long, conflicts_with_all = ["project", "user"])]
    pub everywhere: bool,
}

#[derive(Args)]
#[group(multiple = false)]
pub struct ScopeArgs {
    /// The project's .claude/settings.json in DIR.
    #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath)]
    pub project: Option<PathBuf>,
    /// The user's ~/.claude/settings.json (the default).
    #[arg(long)]
    pub user: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn every_argument_has_a_help_line() {
        fn check(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for a in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
                if a.get_help().is_none() && a.get_long_help().is_none() {
                    missing.push(format!("{path} {}", a.get_id()));
                }
            }
            for sub in cmd.get_subcommands() {
                check(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        check(&Cli::command(), "trusty-mpm", &mut missing);
        assert!(missing.is_empty(), "arguments without help: {missing:?}");
    }
}
