//! Runtime configuration: paths (XDG state dir), environment overrides and the contract's limits.
//! Every tunable of the daemon is read here, once, so the rest of the code takes a `Config`.

pub mod file;

use std::collections::BTreeMap;
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
/// Graceful stop: wait this long for the transcript to hold the latest turn before `/exit`.
pub const TRANSCRIPT_GRACE: Duration = Duration::from_secs(3);
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
/// Most bytes of the environment a session adds for claude (names and values), for the same
/// reason: it travels in the tmux command that starts the pane.
pub const MAX_CLAUDE_ENV_BYTES: usize = 6 * 1024;
/// The variables of the daemon's own environment every claude gets, unless config.toml's
/// `pass_env` names others: the API key and endpoints of Anthropic, Bedrock and Vertex, Claude
/// Code's own settings, and proxies. A trailing `*` matches any rest of the name.
pub const DEFAULT_PASS_ENV: [&str; 11] = [
    "ANTHROPIC_*",
    "CLAUDE_*",
    "AWS_*",
    "GOOGLE_*",
    "CLOUD_ML_*",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
];

/// The slice the sessions' units go in unless config.toml names another.
pub const DEFAULT_SLICE: &str = "trusty-mpm.slice";

/// What config.toml says about the daemon itself (`file` reads it, with the rest of the file).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileSettings {
    pub claude_command: Option<String>,
    pub restore_on_start: bool,
    pub slice: Option<String>,
    pub limits: crate::limits::Limits,
    pub slice_memory_max: Option<u64>,
    /// `pass_env`: the daemon's variables every claude gets (None: `DEFAULT_PASS_ENV`).
    pub pass_env: Option<Vec<String>>,
    /// `[env]`: variables every claude gets.
    pub env: BTreeMap<String, String>,
}

/// Checks environment variables for claude: names of letters, digits and `_` not starting
/// with a digit, values without NUL, and all of them within `MAX_CLAUDE_ENV_BYTES`.
pub fn check_env(env: BTreeMap<String, String>) -> Result<BTreeMap<String, String>, String> {
    for (k, v) in &env {
        let name_ok = k.bytes().next().is_some_and(|b| !b.is_ascii_digit())
            && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !name_ok {
            return Err(format!("'{}' is not a variable name", k.escape_debug()));
        }
        if v.contains('\0') {
            return Err(format!("the value of {k} holds a NUL byte"));
        }
    }
    let size: usize = env.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > MAX_CLAUDE_ENV_BYTES {
        return Err(format!(
            "the variables are {size} bytes; at most {MAX_CLAUDE_ENV_BYTES} are allowed"
        ));
    }
    Ok(env)
}

/// Settings of one daemon run.
#[derive(Debug, Clone)]
pub struct Config {
    /// Directory of the persisted registry.
    pub state_dir: PathBuf,
    /// The optional config file, config.toml (see `file`).
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
    pub default_limits: crate::limits::Limits,
    /// MemoryMax of the slice: all agents together.
    pub slice_memory_max: Option<u64>,
    /// Which of the daemon's own variables every claude gets (patterns, `*` at the end).
    pub pass_env: Vec<String>,
    /// Variables every claude gets, over the passed ones (config.toml's `[env]`).
    pub claude_env: BTreeMap<String, String>,
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
            pass_env: DEFAULT_PASS_ENV.map(String::from).to_vec(),
            claude_env: BTreeMap::new(),
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
        if let Some(pass) = &file.pass_env {
            self.pass_env = pass.clone();
        }
        self.claude_env = file.env.clone();
    }

    /// The environment a claude gets beyond the tmux server's: the daemon's variables that
    /// `pass_env` names (from `daemon_env`), then config.toml's `[env]`, then the session's
    /// own, each over the one before.
    pub fn claude_environment(
        &self,
        daemon_env: impl Iterator<Item = (String, String)>,
        session: &BTreeMap<String, String>,
    ) -> Vec<(String, String)> {
        let passed = |name: &str| {
            self.pass_env.iter().any(|p| match p.strip_suffix('*') {
                Some(prefix) => name.starts_with(prefix),
                None => name == p,
            })
        };
        let mut env: BTreeMap<String, String> = daemon_env.filter(|(k, _)| passed(k)).collect();
        env.extend(self.claude_env.clone());
        env.extend(session.clone());
        env.into_iter().collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claude_gets_the_passed_variables_then_config_then_the_session_s() {
        let mut cfg = Config::from_env();
        cfg.pass_env = vec!["ANTHROPIC_*".into(), "NO_PROXY".into()];
        cfg.claude_env = BTreeMap::from([("A".into(), "config".into())]);
        let daemon = [
            ("ANTHROPIC_API_KEY", "sk-1"),
            ("ANTHROPIC", "no: the pattern wants the underscore"),
            ("NO_PROXY", "localhost"),
            ("NO_PROXY_X", "no: exact name"),
            ("HOME", "/home/me"),
            ("B", "daemon"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let session = BTreeMap::from([
            ("B".into(), "session".into()),
            ("ANTHROPIC_API_KEY".into(), "sk-2".into()),
        ]);
        let env = cfg.claude_environment(daemon.into_iter(), &session);
        let want = [
            ("A", "config"),
            ("ANTHROPIC_API_KEY", "sk-2"),
            ("B", "session"),
            ("NO_PROXY", "localhost"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        assert_eq!(env, want);
    }

    #[test]
    fn environment_names_and_sizes_are_checked() {
        let ok = BTreeMap::from([("ANTHROPIC_API_KEY".into(), "sk".into())]);
        assert!(check_env(ok).is_ok());
        for bad in ["1X", "A-B", "", "A=B"] {
            let env = BTreeMap::from([(bad.to_owned(), "v".to_owned())]);
            assert!(check_env(env).is_err(), "{bad:?}");
        }
        let nul = BTreeMap::from([("A".into(), "x\0y".into())]);
        assert!(check_env(nul).is_err());
        let big = BTreeMap::from([("A".into(), "x".repeat(MAX_CLAUDE_ENV_BYTES))]);
        assert!(check_env(big).is_err());
    }
}
