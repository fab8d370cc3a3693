//! Runtime configuration: paths (XDG state dir), environment overrides and the contract's limits.
//! Every tunable of the daemon is read here, once, so the rest of the code takes a `Config`.

use std::path::PathBuf;
use std::time::Duration;

/// Most bytes `SendCommand` accepts.
pub const MAX_COMMAND_BYTES: usize = 64 * 1024;
/// Most bytes of an operator's pause note.
pub const MAX_NOTE_BYTES: usize = 4 * 1024;
/// Most lines `CaptureOutput` returns.
pub const MAX_CAPTURE_LINES: u32 = 10_000;
/// Lines captured when the caller asks for 0, and for a derived pause summary.
pub const DEFAULT_CAPTURE_LINES: u32 = 50;
/// Most characters kept in a derived pause summary.
pub const SUMMARY_CHARS: usize = 500;
/// Lifecycle and hook events kept per session.
pub const EVENT_HISTORY: usize = 256;
/// How long `StartSession` keeps looking for the claude process in the new pane.
pub const CLAUDE_DETECT_WINDOW: Duration = Duration::from_secs(5);
/// Graceful stop: wait this long after `/exit` before SIGTERM.
pub const STOP_GRACE: Duration = Duration::from_secs(5);
/// Graceful stop: wait this long after SIGTERM before SIGKILL.
pub const TERM_GRACE: Duration = Duration::from_secs(3);
/// Longest project directory (PATH_MAX less its NUL).
pub const MAX_DIR_BYTES: usize = 4095;
/// Most extra claude arguments, and their total size: the whole launch command must fit in
/// one tmux message (16 KiB).
pub const MAX_CLAUDE_ARGS: usize = 256;
pub const MAX_CLAUDE_ARGS_BYTES: usize = 8 * 1024;

/// The slice the sessions' units go in unless config.toml names another.
pub const DEFAULT_SLICE: &str = "trusty-mpm.slice";

/// What config.toml says about the daemon itself (the hook policy is read beside it).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileSettings {
    pub claude_command: Option<String>,
    pub restore_on_start: bool,
    pub slice: Option<String>,
    pub limits: crate::units::Limits,
    pub slice_memory_max: Option<u64>,
}

/// Settings of one daemon run.
#[derive(Debug, Clone)]
pub struct Config {
    /// Directory of the persisted registry.
    pub state_dir: PathBuf,
    /// The optional config file (hook policy: permission wait, auto-adopt, deny rules).
    pub config_file: PathBuf,
    /// tmux server socket (`-S`); `None` is tmux's default server.
    pub tmux_socket: Option<PathBuf>,
    /// The tmux binary.
    pub tmux_bin: PathBuf,
    /// Timeout of every tmux call.
    pub tmux_timeout: Duration,
    /// The program started as claude in new sessions, when set (`TRUSTY_MPM_CLAUDE_COMMAND`,
    /// else `claude_command` in the config file); otherwise `claude` is looked for.
    pub claude_command: Option<String>,
    /// Whether sessions that were active at the last stop are restarted at start.
    pub restore_on_start: bool,
    /// The slice the sessions' units go in (under systemd).
    pub slice: String,
    /// Limits for every session's unit, where StartSession sets none.
    pub default_limits: crate::units::Limits,
    /// MemoryMax of the slice: all agents together.
    pub slice_memory_max: Option<u64>,
    /// Whether the daemon runs as a systemd service (`INVOCATION_ID` is set): then a tmux server
    /// it starts is started by the user manager instead, outside the daemon's cgroup and
    /// sandbox, so sessions outlive the service.
    pub under_systemd: bool,
}

impl Config {
    /// Reads the environment overrides over the XDG defaults.
    pub fn from_env() -> Self {
        let state_dir = env_path("TRUSTY_MPM_STATE_DIR").unwrap_or_else(|| {
            let base = env_path("XDG_STATE_HOME").unwrap_or_else(|| home().join(".local/state"));
            base.join("trusty-mpm")
        });
        let tmux_timeout = std::env::var("TRUSTY_MPM_TMUX_TIMEOUT_MS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|ms| *ms > 0)
            .map(Duration::from_millis)
            .unwrap_or(Duration::from_secs(5));
        Config {
            state_dir,
            config_file: config_file(),
            tmux_socket: env_path("TRUSTY_MPM_TMUX_SOCKET"),
            tmux_bin: env_path("TRUSTY_MPM_TMUX_BIN").unwrap_or_else(|| PathBuf::from("tmux")),
            tmux_timeout,
            claude_command: std::env::var("TRUSTY_MPM_CLAUDE_COMMAND")
                .ok()
                .filter(|s| !s.trim().is_empty()),
            restore_on_start: false,
            slice: DEFAULT_SLICE.to_owned(),
            default_limits: Default::default(),
            slice_memory_max: None,
            under_systemd: std::env::var_os("INVOCATION_ID").is_some(),
        }
    }

    /// Takes what config.toml says; the environment's claude command wins over the file's.
    pub fn apply(&mut self, file: &FileSettings) {
        if self.claude_command.is_none() {
            self.claude_command = file.claude_command.clone();
        }
        self.restore_on_start = file.restore_on_start;
        if let Some(slice) = &file.slice {
            self.slice = slice.clone();
        }
        self.default_limits = file.limits;
        self.slice_memory_max = file.slice_memory_max;
    }

    /// The registry file inside the state dir.
    pub fn registry_path(&self) -> PathBuf {
        self.state_dir.join("registry.json")
    }
}

/// The config file: `TRUSTY_MPM_CONFIG`, else `$XDG_CONFIG_HOME/trusty-mpm/config.toml`.
pub fn config_file() -> PathBuf {
    env_path("TRUSTY_MPM_CONFIG").unwrap_or_else(|| {
        let base = env_path("XDG_CONFIG_HOME").unwrap_or_else(|| home().join(".config"));
        base.join("trusty-mpm/config.toml")
    })
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// Whether NO_COLOR asks for no colours: only a non-empty value counts (no-color.org).
pub fn no_color() -> bool {
    env_path("NO_COLOR").is_some()
}

pub fn home() -> PathBuf {
    env_path("HOME").unwrap_or_else(|| PathBuf::from("/"))
}
