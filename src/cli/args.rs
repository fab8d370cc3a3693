//! The command line, as clap definitions: shared by `main` (parsing), the shell completions and
//! the man pages (`trusty-mpm completions SHELL`, `trusty-mpm man`). Every argument has a help
//! line: it is what `--help`, the man pages and the completions show.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum, ValueHint};
use clap_complete::ArgValueCandidates;

use super::bus::session_names;
use crate::error::{FIRST_EXIT_CODE, KINDS};
use crate::limits::parse_size;

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

/// A session's UUID or name, completed with the daemon's session names.
#[derive(Args, Clone)]
pub struct Key {
    /// The session: its UUID (hyphenated or 32 hex digits) or its name; NAME@HOST on a host.
    #[arg(value_name = "KEY", add = ArgValueCandidates::new(session_names))]
    pub key: String,
}

/// The resource limits of a session's unit (the daemon must run under systemd).
#[derive(Args, Clone)]
pub struct LimitArgs {
    /// Memory above which the session is throttled (MemoryHigh): bytes, or with K, M, G or T.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub memory_high: Option<u64>,
    /// Memory at which the session is killed (MemoryMax): bytes, or with K, M, G or T.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub memory_max: Option<u64>,
    /// CPU weight against other units (CPUWeight), 1 to 10000.
    #[arg(long, value_name = "WEIGHT")]
    pub cpu_weight: Option<u32>,
    /// Most processes and threads of the session (TasksMax).
    #[arg(long, value_name = "N")]
    pub tasks_max: Option<u64>,
}

fn env_var(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("'{s}' is not NAME=VALUE"))
}

/// The subcommands that are D-Bus clients of the daemon.
#[derive(Subcommand)]
pub enum ClientCommand {
    /// List sessions: name, status, activity, pid, age, project.
    #[command(mut_arg("json", |a| a.long_help(LIST_JSON)))]
    List(Json),
    /// Show every property of one session.
    #[command(mut_arg("json", |a| a.long_help("Print the session as one JSON object, the shape of a `list --json` element.")))]
    Status {
        #[command(flatten)]
        key: Key,
        #[command(flatten)]
        json: Json,
    },
    /// Show the session's tmux session in this terminal (switch-client inside tmux).
    Attach {
        #[command(flatten)]
        key: Key,
    },
    /// Start claude in a new tmux session in DIR (extra claude arguments after --).
    Start {
        /// The project directory claude runs in.
        #[arg(value_hint = ValueHint::DirPath)]
        dir: PathBuf,
        /// The session's name (default: the directory's name).
        #[arg(long)]
        name: Option<String>,
        /// Resume this Claude Code session id.
        #[arg(long, value_name = "ID")]
        resume: Option<String>,
        /// Start a new session even though a stopped one works in DIR (without it, `start`
        /// refuses and names the `trusty-mpm restart` that brings that one back).
        #[arg(long)]
        new: bool,
        /// A variable of claude's environment, NAME=VALUE (repeatable).
        #[arg(long = "env", value_name = "NAME=VALUE", value_parser = env_var)]
        env: Vec<(String, String)>,
        #[command(flatten)]
        limits: LimitArgs,
        /// Extra arguments for claude, after `--`.
        #[arg(last = true, value_name = "ARGS")]
        args: Vec<String>,
    },
    /// Record a session for bookkeeping only (no tmux).
    Register {
        /// The project directory.
        #[arg(value_hint = ValueHint::DirPath)]
        dir: PathBuf,
        /// The session's name (default: the directory's name).
        #[arg(long)]
        name: Option<String>,
    },
    /// Manage an existing tmux session.
    Adopt {
        /// The tmux session's name.
        name: String,
    },
    /// Adopt every tmux session that runs claude.
    Discover,
    /// Pause a session (with a note, or a summary of its screen); --freeze also stops claude.
    Pause {
        #[command(flatten)]
        key: Key,
        /// Why it is paused (default: a summary of its screen).
        #[arg(long)]
        note: Option<String>,
        /// Also stop claude's process (SIGSTOP) until it is resumed.
        #[arg(long)]
        freeze: bool,
    },
    /// Resume a paused session.
    Resume {
        #[command(flatten)]
        key: Key,
    },
    /// Stop claude: /exit, then SIGTERM, then SIGKILL; --force terminates at once.
    Stop {
        #[command(flatten)]
        key: Key,
        /// Send SIGTERM at once instead of asking claude to exit.
        #[arg(long)]
        force: bool,
    },
    /// Relaunch claude in a stopped session (with --resume when known).
    Restart {
        #[command(flatten)]
        key: Key,
    },
    /// Forget a session; --kill also kills its tmux session.
    Rm {
        #[command(flatten)]
        key: Key,
        /// Also kill the session's tmux session.
        #[arg(long)]
        kill: bool,
    },
    /// Type TEXT (words joined by spaces) into the session, then Enter.
    Send {
        #[command(flatten)]
        key: Key,
        /// The text to type; the words are joined by spaces.
        #[arg(required = true, num_args = 1..)]
        text: Vec<String>,
    },
    /// Press keys: Enter Escape Tab Up Down Left Right BSpace C-c C-d, or single characters.
    Keys {
        #[command(flatten)]
        key: Key,
        /// The keys to press, in order.
        #[arg(required = true, num_args = 1..)]
        keys: Vec<String>,
    },
    /// Print the last lines of the session's pane.
    Capture {
        #[command(flatten)]
        key: Key,
        /// How many lines (at most 10,000).
        #[arg(short = 'n', long, default_value_t = 50)]
        lines: u32,
        /// Shorten the text (default: as it is on the screen).
        #[arg(long, value_enum)]
        compress: Option<Compress>,
    },
    /// Show a session's recent events.
    #[command(mut_arg("json", |a| a.long_help("Print a JSON array of {at_usec, event, tool, summary}, newest last.")))]
    Events {
        #[command(flatten)]
        key: Key,
        /// How many events, newest last.
        #[arg(short = 'n', long, default_value_t = 20)]
        limit: u32,
        #[command(flatten)]
        json: Json,
    },
    /// Remove sessions whose tmux session is gone (named first, asked on a terminal); mark
    /// exited ones stopped.
    #[command(mut_arg("json", |a| a.long_help("Print {reaped, names, stopped}: how many were removed, their names, how many were marked stopped.")))]
    Reap {
        #[command(flatten)]
        json: Json,
        /// Forget them without asking (needed when stdin is not a terminal).
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// List the requests waiting now: permission requests and questions, with their ids.
    #[command(mut_arg("json", |a| a.long_help(REQUESTS_JSON)))]
    Requests(Json),
    /// Allow a waiting permission request.
    Approve {
        #[command(flatten)]
        key: Key,
        /// The request's id (from `requests`, `watch` or the notification).
        request: String,
        /// Also remember this suggestion (its number in `requests`): Claude Code then allows
        /// the same again without asking, e.g. by a rule in .claude/settings.local.json.
        #[arg(long, value_name = "N")]
        remember: Option<u32>,
    },
    /// Answer a waiting question, one answer per question in order: --option LABEL picks one of
    /// its options (several comma-joined for a multi-select question), TEXT answers in words.
    Answer {
        #[command(flatten)]
        key: Key,
        /// The question's request id (from `requests`).
        request: String,
        /// The answers: --option LABEL or TEXT, one per question.
        #[arg(
            value_name = "--option LABEL | TEXT",
            trailing_var_arg = true,
            allow_hyphen_values = true,
            required = true
        )]
        answers: Vec<String>,
    },
    /// Deny a waiting permission request.
    Deny {
        #[command(flatten)]
        key: Key,
        /// The request's id (from `requests`, `watch` or the notification).
        request: String,
        /// What Claude is told.
        #[arg(long)]
        reason: Option<String>,
        /// Also deny the same from now on: the rule of this suggestion (its number in
        /// `requests`), turned to deny, is written to the settings file it names.
        #[arg(long, value_name = "N")]
        remember: Option<u32>,
    },
    /// Follow what happens, one line per event (--json: JSON lines; --waybar: status-bar JSON).
    #[command(mut_arg("json", |a| a.long_help(WATCH_JSON)))]
    Watch {
        #[command(flatten)]
        json: Json,
        /// Print waybar/i3status JSON ({text, tooltip, class}), a line each time it changes.
        #[arg(long, conflicts_with = "json")]
        waybar: bool,
    },
    /// Desktop notifications: requests with Allow, Always allow and Deny (or a question's
    /// options), and finished work.
    Notify {
        /// Only announce "finished" after at least this much work.
        #[arg(long, default_value_t = 30, value_name = "SECS")]
        min_work_secs: u64,
    },
    /// A tray icon (StatusNotifierItem) with a menu of every session (Attach, Pause/Resume,
    /// Stop, or Restart and Remove, and the answers of its waiting requests), Start session,
    /// Open list in terminal and Quit.
    Tray,
    /// The hosts of the config file: whether each is reached, its daemon's version and its
    /// sessions.
    #[command(mut_arg("json", |a| a.long_help(HOSTS_JSON)))]
    Hosts(Json),
}

impl ClientCommand {
    /// The session key the command is about, if it is about one.
    pub fn key_mut(&mut self) -> Option<&mut String> {
        use ClientCommand::*;
        match self {
            Status { key, .. }
            | Attach { key }
            | Pause { key, .. }
            | Resume { key }
            | Stop { key, .. }
            | Restart { key }
            | Rm { key, .. }
            | Send { key, .. }
            | Keys { key, .. }
            | Capture { key, .. }
            | Events { key, .. }
            | Approve { key, .. }
            | Answer { key, .. }
            | Deny { key, .. } => Some(&mut key.key),
            _ => None,
        }
    }
}

const LIST_JSON: &str = "Print a JSON array of sessions, oldest first: {id, name, project_dir, \
status, status_detail, activity, activity_detail, pid, claude_session_id, transcript_path, \
created_at, last_seen, paused_at, pause_summary, frozen, unit, memory_bytes, cpu_usec, tasks, \
tmux_session, model, input_tokens, output_tokens, cache_creation_tokens, cache_read_tokens, \
context_tokens, args, claude_command, claude_version, permission_mode, path} (times in microseconds since the epoch, 0 = unset; pid, memory, CPU and tasks \
0 = unknown; token counts 0 until the transcript was read). With hosts in the config file, each \
starts with host (local or the host's name).";

const REQUESTS_JSON: &str = "Print a JSON array of requests, oldest first: {session_id, name, \
request_id, kind (permission or question), tool, detail, created_usec, expires_usec (0: answered \
in the terminal), answerable, suggestions: [{id, label, destination}], questions: [{question, \
header, multi_select, options}]}.";

const WATCH_JSON: &str = "Print one JSON object per event: {event, at_usec, id, name} and, by \
event, path (SessionNew, SessionRemoved), status (StatusChanged), activity and detail \
(ActivityChanged), request_id, tool and detail (PermissionRequested), request_id and outcome \
(PermissionResolved), pid (ClaudeExited). With hosts in the config file, each has host too, and \
{event: HostUnreachable, host, at_usec, error} and {event: HostReachable, host, at_usec} say when \
a host is lost and back.";

const HOSTS_JSON: &str = "Print a JSON array, this machine first: {host, ssh (empty for local), \
reachable, error (why not), running (the daemon), hostname, version, sessions, working, \
needs_input}.";

#[derive(Args, Clone, Copy)]
pub struct Json {
    /// Print JSON instead of text (`--help` says its shape).
    #[arg(long)]
    pub json: bool,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Compress {
    /// Terminal escapes, trailing spaces and runs of blank lines removed.
    Trim,
    /// Also the frames the TUI draws, and only the last part of what is left.
    Summarise,
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

    #[test]
    fn list_json_help_names_every_field() {
        let v = serde_json::to_value(crate::cli::output::SessionInfo::default()).unwrap();
        for key in v.as_object().unwrap().keys() {
            let word = format!("{key},");
            let last = format!("{key}}}");
            assert!(
                LIST_JSON.contains(&word) || LIST_JSON.contains(&last),
                "--json's help does not name {key}"
            );
        }
    }
}
