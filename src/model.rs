//! The session model of the contract: ids, validated names, status and activity enums, and the
//! `Session` record the registry keeps and persists.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::telemetry::Telemetry;

/// Microseconds since the Unix epoch, the contract's timestamp unit.
pub fn now_usec() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// A session's UUID (v4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SessionId(pub Uuid);

impl SessionId {
    pub fn new() -> Self {
        SessionId(Uuid::new_v4())
    }

    /// Parses the two spellings the contract accepts: hyphenated or 32 hex digits.
    pub fn parse(s: &str) -> Option<Self> {
        if s.len() != 32 && s.len() != 36 {
            return None;
        }
        Uuid::try_parse(s).ok().map(SessionId)
    }

    /// The 32-hex form used in object paths.
    pub fn simple(&self) -> String {
        self.0.simple().to_string()
    }
}

impl Default for SessionId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.hyphenated())
    }
}

/// A validated session name: 1–64 chars of `[A-Za-z0-9_-]`, not starting with `-`. These rules
/// also keep names safe as tmux targets (no `:`, `.`, leading `-` or control characters).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SessionName(String);

impl SessionName {
    pub const MAX_LEN: usize = 64;

    pub fn new(s: &str) -> Result<Self> {
        if s.is_empty() || s.len() > Self::MAX_LEN {
            return Err(Error::invalid(format!(
                "Session names are 1 to {} characters long.",
                Self::MAX_LEN
            )));
        }
        if s.starts_with('-') {
            return Err(Error::invalid("Session names must not start with '-'."));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(Error::invalid(
                "Session names may only contain letters, digits, '_' and '-'.",
            ));
        }
        Ok(SessionName(s.to_owned()))
    }

    /// A valid name derived from a project folder's name (invalid characters become `-`).
    pub fn derive_base(folder: &str) -> String {
        let mapped: String = folder
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        let trimmed = mapped.trim_start_matches('-');
        // Leave room for a "-NNN" suffix.
        let base: String = trimmed.chars().take(Self::MAX_LEN - 5).collect();
        if base.is_empty() {
            "session".to_owned()
        } else {
            base
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SessionName {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        SessionName::new(&s)
    }
}

impl From<SessionName> for String {
    fn from(n: SessionName) -> String {
        n.0
    }
}

impl fmt::Display for SessionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Lifecycle status, spelled as on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Starting,
    Active,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Starting => "starting",
            Status::Active => "active",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

/// What the agent is doing, from hook events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Activity {
    Unknown,
    Working,
    Ready,
    NeedsInput,
}

impl Activity {
    pub fn as_str(self) -> &'static str {
        match self {
            Activity::Unknown => "unknown",
            Activity::Working => "working",
            Activity::Ready => "ready",
            Activity::NeedsInput => "needs-input",
        }
    }
}

/// A process identity that survives pid reuse: the pid and its start time in clock ticks
/// since boot (field 22 of `/proc/<pid>/stat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcIdentity {
    pub pid: u32,
    pub starttime: u64,
}

/// One managed session, as the registry keeps and persists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub id: SessionId,
    pub name: SessionName,
    pub project_dir: String,
    pub status: Status,
    pub activity: Activity,
    #[serde(default)]
    pub activity_detail: String,
    /// The claude process, when known.
    #[serde(default)]
    pub process: Option<ProcIdentity>,
    #[serde(default)]
    pub claude_session_id: String,
    #[serde(default)]
    pub transcript_path: String,
    pub created_at: u64,
    pub last_seen: u64,
    #[serde(default)]
    pub paused_at: u64,
    #[serde(default)]
    pub pause_summary: String,
    #[serde(default)]
    pub frozen: bool,
    /// Whether the session lives in a tmux session of the same name (false for
    /// `RegisterSession` bookkeeping-only records).
    pub in_tmux: bool,
    /// The tmux pane id (`%N`) running claude, when known; empty means the session's active pane.
    #[serde(default)]
    pub pane: String,
    /// The pid of the tmux server `pane` belongs to (0 = unknown): pane ids are per server, and
    /// a new server hands the same ids to other sessions.
    #[serde(default)]
    pub pane_server: u32,
    /// The launcher the daemon started in the pane (`sh` waiting for claude): its child is the
    /// session's claude, whatever that program is called. `None` for adopted sessions.
    #[serde(default)]
    pub launcher: Option<ProcIdentity>,
    /// Why the session is in its status when that is not obvious; empty otherwise.
    #[serde(default)]
    pub status_detail: String,
    /// The transient systemd unit claude runs in (with everything it starts); empty when the
    /// daemon does not run under systemd or did not launch this claude.
    #[serde(default)]
    pub unit: String,
    /// The resource limits StartSession asked for (config.toml's defaults fill the rest at
    /// each launch).
    #[serde(default)]
    pub limits: crate::limits::Limits,
    /// The extra claude arguments the session was started with: restarts and restores use
    /// them again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Environment StartSession gave claude, over the pass-through set and config.toml's
    /// `[env]`: restarts and restores give it again. Never published (it may hold keys).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// The executable the session's claude runs from, as resolved at its launch.
    #[serde(default)]
    pub claude_command: String,
    /// What that executable says with `--version`; empty until known.
    #[serde(default)]
    pub claude_version: String,
    /// Claude Code's permission mode (`default`, `acceptEdits`, `plan`, `auto`, ...), from the
    /// hooks; empty until one said.
    #[serde(default)]
    pub permission_mode: String,
    /// The agent's last reply as Claude Code reported it at its Stop (the pause summary when no
    /// note is given); empty until known.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub last_reply: String,
    /// Token figures of `transcript_path` and where its reading stopped (left out of the
    /// registry until something was read).
    #[serde(default, skip_serializing_if = "Telemetry::is_empty")]
    pub telemetry: Telemetry,
}

impl Session {
    pub fn new(name: SessionName, project_dir: String, in_tmux: bool) -> Self {
        let now = now_usec();
        Session {
            id: SessionId::new(),
            name,
            project_dir,
            status: Status::Starting,
            activity: Activity::Unknown,
            activity_detail: String::new(),
            process: None,
            claude_session_id: String::new(),
            transcript_path: String::new(),
            created_at: now,
            last_seen: now,
            paused_at: 0,
            pause_summary: String::new(),
            frozen: false,
            in_tmux,
            pane: String::new(),
            pane_server: 0,
            launcher: None,
            status_detail: String::new(),
            unit: String::new(),
            limits: Default::default(),
            args: Vec::new(),
            env: BTreeMap::new(),
            claude_command: String::new(),
            claude_version: String::new(),
            permission_mode: String::new(),
            last_reply: String::new(),
            telemetry: Telemetry::default(),
        }
    }

    /// The contract's `Pid`: 0 when unknown.
    pub fn pid(&self) -> u32 {
        self.process.map(|p| p.pid).unwrap_or(0)
    }
}

/// One entry of a session's event history (`GetEvents`), kept in the registry file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    pub at_usec: u64,
    pub event: String,
    pub tool: String,
    pub summary: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_reject_tmux_metacharacters() {
        for bad in ["a:b", "a.b", "-x", "a\nb", "", "a b", "é", &"x".repeat(65)] {
            assert!(SessionName::new(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["a", "my_proj-2", "X9", &"x".repeat(64)] {
            assert!(SessionName::new(good).is_ok(), "{good:?} refused");
        }
    }

    #[test]
    fn derived_names_are_valid() {
        for folder in ["my proj", "--x", "", "a.b:c", "ünï", &"y".repeat(200)] {
            let base = SessionName::derive_base(folder);
            assert!(
                SessionName::new(&format!("{base}-999")).is_ok(),
                "{folder:?} -> {base:?}"
            );
        }
        assert_eq!(SessionName::derive_base("myproj"), "myproj");
    }

    #[test]
    fn ids_parse_both_spellings_only() {
        let id = SessionId::new();
        assert_eq!(SessionId::parse(&id.to_string()), Some(id));
        assert_eq!(SessionId::parse(&id.simple()), Some(id));
        assert_eq!(SessionId::parse(&format!("{{{id}}}")), None);
        assert_eq!(SessionId::parse("myproj"), None);
    }

    #[test]
    fn session_round_trips_through_json() {
        let mut s = Session::new(SessionName::new("p").unwrap(), "/tmp".into(), true);
        s.process = Some(ProcIdentity {
            pid: 42,
            starttime: 7,
        });
        s.status = Status::Paused;
        let json = serde_json::to_string(&s).unwrap();
        assert!(json.contains("\"paused\""));
        assert!(!json.contains("telemetry"), "nothing read, nothing written");
        assert_eq!(serde_json::from_str::<Session>(&json).unwrap(), s);
        s.telemetry.model = "claude-opus-4-5".into();
        s.telemetry.totals.cache_read = 47_000;
        s.telemetry.cursor.offset = 123_456;
        s.telemetry
            .cursor
            .recent
            .push_back(("msg_01".into(), s.telemetry.totals));
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<Session>(&json).unwrap(), s);
    }
}
