//! The config file, config.toml, read and checked in one place: how long a permission request
//! waits for an answer, whether SessionStart auto-adopts, the deny rules (`hooks::policy`
//! applies them), the daemon's own settings (the claude command, restore on start, units, the
//! environment of claude), and the terminal `trusty-mpm notify` and `trusty-mpm tray` open a
//! session in.
//!
//! ```toml
//! permission_wait_secs = 30
//! auto_adopt = true
//! claude_command = "/opt/claude/bin/claude"   # else PATH, ~/.local/bin, ~/.claude/local, npm
//! restore_on_start = true       # restart the sessions that were active at the last stop
//! memory_max = "8G"             # each session's unit (also memory_high, cpu_weight, tasks_max)
//! slice_memory_max = "24G"      # all sessions together (slice = "trusty-mpm.slice")
//! terminal_command = "foot -e"  # words split on spaces; the attach command follows
//! pass_env = ["ANTHROPIC_*", "MY_TOKEN"]  # daemon variables every claude gets (default: see
//!                               # config::DEFAULT_PASS_ENV)
//! [env]                         # variables every claude gets, over the passed ones
//! CLAUDE_CODE_USE_BEDROCK = "1"
//! [[deny]]
//! tool = "Bash"                 # exact tool name, or "*" for any
//! pattern = "rm -rf (/|~)"      # regex, searched in the command / path / input
//! reason = "Never delete the root or home directory."
//! ```

use std::path::Path;
use std::time::Duration;

use regex::Regex;
use serde::Deserialize;

use super::{FileSettings, check_env};
use crate::limits::{Limits, parse_size};

/// Longest allowed permission wait; Claude Code's own hook timeout is the real bound.
const MAX_WAIT_SECS: u64 = 3600;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default = "default_wait")]
    permission_wait_secs: u64,
    #[serde(default = "yes")]
    auto_adopt: bool,
    #[serde(default)]
    deny: Vec<RawRule>,
    #[serde(default)]
    claude_command: Option<String>,
    #[serde(default)]
    restore_on_start: bool,
    #[serde(default)]
    slice: Option<String>,
    #[serde(default)]
    memory_high: Option<Size>,
    #[serde(default)]
    memory_max: Option<Size>,
    #[serde(default)]
    cpu_weight: Option<u32>,
    #[serde(default)]
    tasks_max: Option<u64>,
    #[serde(default)]
    slice_memory_max: Option<Size>,
    #[serde(default)]
    terminal_command: Option<String>,
    #[serde(default)]
    pass_env: Option<Vec<String>>,
    #[serde(default)]
    env: std::collections::BTreeMap<String, String>,
    /// The clients' hosts (`cli::hosts` reads them).
    #[serde(default, rename = "hosts")]
    _hosts: serde::de::IgnoredAny,
}

/// A size: bytes, or a string like "8G".
#[derive(Deserialize)]
#[serde(untagged)]
enum Size {
    Bytes(u64),
    Text(String),
}

impl Size {
    fn bytes(&self, key: &str) -> Result<u64, String> {
        match self {
            Size::Bytes(b) => Ok(*b),
            Size::Text(t) => parse_size(t).map_err(|e| format!("{key}: {e}")),
        }
    }
}

fn size(v: &Option<Size>, key: &str) -> Result<Option<u64>, String> {
    v.as_ref().map(|s| s.bytes(key)).transpose()
}

/// How long a request waits for an answer when the file does not say: long enough to reach
/// the desktop, short enough that a forgotten notification does not stall the agent for long.
/// The wait only happens while an answering client runs (see the relay).
pub const DEFAULT_WAIT_SECS: u64 = 120;

fn default_wait() -> u64 {
    DEFAULT_WAIT_SECS
}

fn yes() -> bool {
    true
}

/// `permission_wait_secs` as a wait, within its bound.
fn wait(secs: u64) -> Result<Duration, String> {
    if secs > MAX_WAIT_SECS {
        return Err(format!("permission_wait_secs is at most {MAX_WAIT_SECS}"));
    }
    Ok(Duration::from_secs(secs))
}

/// The permission wait the file at `path` sets, read on its own for the hook relay, which runs
/// for every event and must stay cheap (no rules compiled). It bounds the daemon's wait: a
/// missing or unreadable file or a wait out of bounds is the default wait, as for the daemon
/// (which serves with the default policy then); a file broken elsewhere (a bad deny rule)
/// gives the wait it names.
pub fn permission_wait(path: &Path) -> Duration {
    #[derive(Deserialize)]
    struct Wait {
        #[serde(default = "default_wait")]
        permission_wait_secs: u64,
    }
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| toml::from_str::<Wait>(&text).ok())
        .and_then(|w| wait(w.permission_wait_secs).ok())
        .unwrap_or(Duration::from_secs(DEFAULT_WAIT_SECS))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    tool: String,
    pattern: String,
    reason: String,
}

/// One deny rule.
#[derive(Debug, Clone)]
pub struct DenyRule {
    pub tool: String,
    pub pattern: Regex,
    pub reason: String,
}

/// What config.toml says.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    pub permission_wait: Duration,
    pub auto_adopt: bool,
    pub deny: Vec<DenyRule>,
    /// What the file says about the daemon itself (claude command, restore, units).
    pub settings: FileSettings,
    /// The terminal a notification or the tray opens a session in: the program and its first arguments,
    /// before `trusty-mpm attach KEY`. Empty: the desktop's default terminal.
    pub terminal_command: Vec<String>,
}

impl Default for ConfigFile {
    fn default() -> Self {
        ConfigFile {
            permission_wait: Duration::from_secs(DEFAULT_WAIT_SECS),
            auto_adopt: true,
            deny: Vec::new(),
            settings: FileSettings::default(),
            terminal_command: Vec::new(),
        }
    }
}

impl ConfigFile {
    /// Reads the config file; a missing file is the default. Every problem is reported, with
    /// the rule it is in.
    pub fn load(path: &Path) -> Result<ConfigFile, String> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ConfigFile::default()),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<ConfigFile, String> {
        let file: File = toml::from_str(text).map_err(|e| e.to_string().trim().to_owned())?;
        let permission_wait = wait(file.permission_wait_secs)?;
        let limits = Limits {
            memory_high: size(&file.memory_high, "memory_high")?,
            memory_max: size(&file.memory_max, "memory_max")?,
            cpu_weight: file.cpu_weight,
            tasks_max: file.tasks_max,
        };
        limits.check().map_err(|e| e.to_string())?;
        if let Some(slice) = &file.slice
            && !(slice.ends_with(".slice")
                && slice.len() <= 255
                && slice
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)))
        {
            return Err(format!("slice: '{slice}' is not a slice unit name"));
        }
        let mut deny = Vec::new();
        for (i, r) in file.deny.into_iter().enumerate() {
            let n = i + 1;
            if r.tool.is_empty() {
                return Err(format!(
                    "deny rule {n}: tool is empty (use \"*\" for any tool)"
                ));
            }
            if r.reason.trim().is_empty() {
                return Err(format!("deny rule {n}: reason is empty"));
            }
            let pattern =
                Regex::new(&r.pattern).map_err(|e| format!("deny rule {n}: bad pattern: {e}"))?;
            deny.push(DenyRule {
                tool: r.tool,
                pattern,
                reason: r.reason,
            });
        }
        Ok(ConfigFile {
            permission_wait,
            auto_adopt: file.auto_adopt,
            deny,
            settings: FileSettings {
                claude_command: file.claude_command.filter(|c| !c.trim().is_empty()),
                restore_on_start: file.restore_on_start,
                limits,
                slice: file.slice,
                slice_memory_max: size(&file.slice_memory_max, "slice_memory_max")?,
                pass_env: file.pass_env,
                env: check_env(file.env).map_err(|e| format!("[env]: {e}"))?,
            },
            terminal_command: file
                .terminal_command
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_read() {
        let pol = ConfigFile::parse(
            r#"
            permission_wait_secs = 5
            [[deny]]
            tool = "Bash"
            pattern = "rm -rf /"
            reason = "no"
            [[deny]]
            tool = "*"
            pattern = "\\.env$"
            reason = "secrets"
            "#,
        )
        .unwrap();
        assert_eq!(pol.permission_wait, Duration::from_secs(5));
        assert!(pol.auto_adopt);
        assert!(pol.terminal_command.is_empty());
        let term = ConfigFile::parse("terminal_command = \" gnome-terminal  --\"").unwrap();
        assert_eq!(term.terminal_command, ["gnome-terminal", "--"]);
        let reasons: Vec<&str> = pol.deny.iter().map(|r| r.reason.as_str()).collect();
        assert_eq!(reasons, ["no", "secrets"]);
        assert!(pol.deny[1].pattern.is_match("/p/.env"));
    }

    #[test]
    fn the_relay_reads_the_wait_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let default = DEFAULT_WAIT_SECS;
        assert_eq!(
            permission_wait(&path),
            Duration::from_secs(default),
            "no file"
        );
        for (text, secs) in [
            (
                "permission_wait_secs = 30\nterminal_command = \"foot\"\n",
                30,
            ),
            (
                "permission_wait_secs = 30\n[[deny]]\ntool = \"Bash\"\npattern = \"(\"\n",
                30,
            ),
            ("permission_wait_secs = 0\n", 0),
            ("permission_wait_secs = 99999\n", default),
            ("permission_wait_secs = [", default),
            ("auto_adopt = false\n", default),
        ] {
            std::fs::write(&path, text).unwrap();
            assert_eq!(
                permission_wait(&path),
                Duration::from_secs(secs),
                "{text:?}"
            );
        }
    }

    #[test]
    fn the_clients_hosts_are_left_to_them() {
        let p = ConfigFile::parse("[hosts.lab]\nssh = \"me@lab\"\n").unwrap();
        assert!(p.deny.is_empty());
    }

    #[test]
    fn broken_files_are_reported() {
        for (bad, want) in [
            (
                "[[deny]]\ntool = \"Bash\"\npattern = \"(\"\nreason = \"x\"",
                "bad pattern",
            ),
            ("[[deny]]\ntool = \"Bash\"\npattern = \"x\"", "reason"),
            ("permision_wait_secs = 3", "unknown field"),
            ("permission_wait_secs = \"a\"", "invalid type"),
            ("permission_wait_secs = 99999", "at most"),
            (
                "[[deny]]\ntool = \"\"\npattern = \"x\"\nreason = \"r\"",
                "tool is empty",
            ),
            ("memory_max = \"8X\"", "memory_max"),
            ("cpu_weight = 0", "cpu_weight"),
            ("slice = \"agents\"", "slice"),
        ] {
            let err = ConfigFile::parse(bad).unwrap_err();
            assert!(err.contains(want), "{bad:?}: {err}");
        }
        assert!(ConfigFile::parse("").is_ok());
        let units = ConfigFile::parse(
            "memory_max = \"8G\"\ntasks_max = 512\nslice_memory_max = 1073741824\n",
        )
        .unwrap()
        .settings;
        assert_eq!(units.limits.memory_max, Some(8 << 30));
        assert_eq!(units.limits.tasks_max, Some(512));
        assert_eq!(units.slice_memory_max, Some(1 << 30));
    }
}
