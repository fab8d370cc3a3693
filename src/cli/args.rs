//! The command line, as clap definitions: shared by `main` (parsing), the shell completions and
//! the man page (`trusty-mpm completions SHELL`, `trusty-mpm man`).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const EXIT_CODES: &str = "\
Exit codes:
  0   success
  1   other failure
  2   bad command line
  3   the daemon is not running (or the session bus is unreachable)
  10  NotFound          no session matches the key
  11  InvalidState      not allowed in the session's current status
  12  InvalidArgument   bad name, path, key, size or format
  13  AlreadyExists     the name is taken
  14  TmuxUnavailable   tmux or its server cannot be reached
  15  TmuxFailed        a tmux command failed
  16  Timeout           tmux or a helper did not answer in time
  17  AccessDenied      the caller is not the daemon's user
  18  Internal          the daemon failed; see its log

A KEY is a session's UUID (hyphenated or 32 hex digits) or its name.";

/// Run and watch many Claude Code agents in tmux, over D-Bus (org.trusty.Mpm1).
#[derive(Parser)]
#[command(name = "trusty-mpm", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the service: own org.trusty.Mpm1 on the session bus and manage sessions.
    Daemon,
    /// The Claude Code hook relay: reads one hook event on stdin and forwards it to the daemon.
    Hook,
    /// Install, remove or inspect the relay in Claude Code's settings, or check the config.
    Hooks {
        #[command(subcommand)]
        action: HooksAction,
    },
    /// Print shell completions.
    Completions { shell: clap_complete::Shell },
    /// Print the man page (roff).
    Man,
    #[command(flatten)]
    Client(ClientCommand),
}

/// The subcommands that are D-Bus clients of the daemon.
#[derive(Subcommand)]
pub enum ClientCommand {
    /// List sessions: name, status, activity, pid, age, project.
    List(Json),
    /// Show every property of one session.
    Status {
        key: String,
        #[command(flatten)]
        json: Json,
    },
    /// Show the session's tmux session in this terminal (switch-client inside tmux).
    Attach { key: String },
    /// Start claude in a new tmux session in DIR (extra claude arguments after --).
    Start {
        dir: PathBuf,
        #[arg(long)]
        name: Option<String>,
        /// Resume this Claude Code session id.
        #[arg(long, value_name = "ID")]
        resume: Option<String>,
        #[arg(last = true, value_name = "ARGS")]
        args: Vec<String>,
    },
    /// Record a session for bookkeeping only (no tmux).
    Register {
        dir: PathBuf,
        #[arg(long)]
        name: Option<String>,
    },
    /// Manage an existing tmux session.
    Adopt { name: String },
    /// Adopt every tmux session that runs claude.
    Discover,
    /// Pause a session (with a note, or a summary of its screen); --freeze also stops claude.
    Pause {
        key: String,
        #[arg(long)]
        note: Option<String>,
        #[arg(long)]
        freeze: bool,
    },
    /// Resume a paused session.
    Resume { key: String },
    /// Stop claude: /exit, then SIGTERM, then SIGKILL; --force terminates at once.
    Stop {
        key: String,
        #[arg(long)]
        force: bool,
    },
    /// Relaunch claude in a stopped session (with --resume when known).
    Restart { key: String },
    /// Forget a session; --kill also kills its tmux session.
    Rm {
        key: String,
        #[arg(long)]
        kill: bool,
    },
    /// Type TEXT (words joined by spaces) into the session, then Enter.
    Send {
        key: String,
        #[arg(required = true, num_args = 1..)]
        text: Vec<String>,
    },
    /// Press keys: Enter Escape Tab Up Down Left Right BSpace C-c C-d, or single characters.
    Keys {
        key: String,
        #[arg(required = true, num_args = 1..)]
        keys: Vec<String>,
    },
    /// Print the last lines of the session's pane.
    Capture {
        key: String,
        #[arg(short = 'n', long, default_value_t = 50)]
        lines: u32,
        #[arg(long, value_enum)]
        compress: Option<Compress>,
    },
    /// Show a session's recent events.
    Events {
        key: String,
        #[arg(short = 'n', long, default_value_t = 20)]
        limit: u32,
        #[command(flatten)]
        json: Json,
    },
    /// Remove sessions whose tmux session is gone; mark exited ones stopped.
    Reap(Json),
    /// Allow a waiting permission request.
    Approve { key: String, request: String },
    /// Deny a waiting permission request.
    Deny {
        key: String,
        request: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Follow what happens, one line per event (--json: JSON lines; --waybar: status-bar JSON).
    Watch {
        #[command(flatten)]
        json: Json,
        #[arg(long, conflicts_with = "json")]
        waybar: bool,
    },
    /// Desktop notifications: permission prompts with Allow/Deny, and finished work.
    Notify {
        /// Only announce "finished" after at least this much work.
        #[arg(long, default_value_t = 30, value_name = "SECS")]
        min_work_secs: u64,
    },
    /// A tray icon (StatusNotifierItem) with a menu of every session: Attach, Pause/Resume,
    /// Stop, and Allow/Deny for waiting permission requests.
    Tray,
}

#[derive(Args, Clone, Copy)]
pub struct Json {
    /// Machine-readable JSON output (documented in the README).
    #[arg(long)]
    pub json: bool,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Compress {
    Trim,
    Summarise,
}

#[derive(Subcommand)]
pub enum HooksAction {
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
pub struct ScopeArgs {
    /// The project's .claude/settings.json in DIR.
    #[arg(long, value_name = "DIR")]
    pub project: Option<PathBuf>,
    /// The user's ~/.claude/settings.json (the default).
    #[arg(long)]
    pub user: bool,
}
