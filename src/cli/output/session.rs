//! A session record as the client reads it from the daemon's properties (GetAll or
//! GetManagedObjects), the shape `list --json` and `status --json` print.

use std::collections::HashMap;

use serde::Serialize;
use zbus::OwnedVariant;

/// One session as `list --json` and `status --json` print it.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct SessionInfo {
    pub id: String,
    pub name: String,
    pub project_dir: String,
    pub status: String,
    pub status_detail: String,
    pub activity: String,
    pub activity_detail: String,
    pub pid: u32,
    pub claude_session_id: String,
    pub transcript_path: String,
    pub created_at: u64,
    pub last_seen: u64,
    pub paused_at: u64,
    pub pause_summary: String,
    pub frozen: bool,
    /// The systemd unit claude runs in; empty when none.
    pub unit: String,
    /// Memory, CPU time (µs) and tasks of the session now; 0 when unknown.
    pub memory_bytes: u64,
    pub cpu_usec: u64,
    pub tasks: u64,
    pub tmux_session: String,
    pub model: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_creation_tokens: u64,
    pub cache_read_tokens: u64,
    pub context_tokens: u64,
    /// The extra claude arguments the session was started with.
    pub args: Vec<String>,
    /// The claude executable, its --version and its permission mode; empty until known.
    pub claude_command: String,
    pub claude_version: String,
    pub permission_mode: String,
    pub path: String,
}

impl SessionInfo {
    /// Builds a record from a session object's properties (GetAll or GetManagedObjects).
    pub fn from_props(path: &str, p: &HashMap<String, OwnedVariant>) -> Self {
        let s = |k: &str| {
            p.get(k)
                .and_then(|v| String::try_from(v.clone()).ok())
                .unwrap_or_default()
        };
        let t = |k: &str| {
            p.get(k)
                .and_then(|v| u64::try_from(v.clone()).ok())
                .unwrap_or(0)
        };
        SessionInfo {
            id: s("Id"),
            name: s("Name"),
            project_dir: s("ProjectDir"),
            status: s("Status"),
            status_detail: s("StatusDetail"),
            activity: s("Activity"),
            activity_detail: s("ActivityDetail"),
            pid: p
                .get("Pid")
                .and_then(|v| u32::try_from(v.clone()).ok())
                .unwrap_or(0),
            claude_session_id: s("ClaudeSessionId"),
            transcript_path: s("TranscriptPath"),
            created_at: t("CreatedAt"),
            last_seen: t("LastSeen"),
            paused_at: t("PausedAt"),
            pause_summary: s("PauseSummary"),
            frozen: p
                .get("Frozen")
                .and_then(|v| bool::try_from(v.clone()).ok())
                .unwrap_or(false),
            unit: s("Unit"),
            memory_bytes: t("MemoryCurrent"),
            cpu_usec: t("CpuUsageNSec") / 1000,
            tasks: t("TasksCurrent"),
            tmux_session: s("TmuxSession"),
            model: s("Model"),
            input_tokens: t("InputTokens"),
            output_tokens: t("OutputTokens"),
            cache_creation_tokens: t("CacheCreationTokens"),
            cache_read_tokens: t("CacheReadTokens"),
            context_tokens: t("ContextTokens"),
            args: p
                .get("Args")
                .and_then(|v| Vec::<String>::try_from(v.clone()).ok())
                .unwrap_or_default(),
            claude_command: s("ClaudeCommand"),
            claude_version: s("ClaudeVersion"),
            permission_mode: s("PermissionMode"),
            path: path.to_owned(),
        }
    }
}
