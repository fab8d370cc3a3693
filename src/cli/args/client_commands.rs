//! The client subcommands (`ClientCommand`: every subcommand that is a D-Bus client of a
//! daemon) and the arguments they share: a session KEY (completed with the daemon's session
//! names), the resource limits of `start`, `capture`'s compression.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum, ValueHint};
use clap_complete::ArgValueCandidates;

use super::json_help::{HOSTS_JSON, Json, LIST_JSON, REQUESTS_JSON, WATCH_JSON};
use crate::cli::bus::session_names;
use crate::limits::parse_size;

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
#[derive(Clone, Copy, ValueEnum)]
pub enum Compress {
    /// Terminal escapes, trailing spaces and runs of blank lines removed.
    Trim,
    /// Also the frames the TUI draws, and only the last part of what is left.
    Summarise,
}
