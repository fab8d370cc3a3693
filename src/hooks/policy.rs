//! The settings of the config file: how long a permission request waits for an answer,
//! whether SessionStart auto-adopts, the deny rules applied to PreToolUse calls, and the two
//! daemon settings that live in the same file (the claude command, restore on start).
//!
//! ```toml
//! permission_wait_secs = 30
//! auto_adopt = true
//! claude_command = "/opt/claude/bin/claude"   # else PATH, ~/.local/bin, ~/.claude/local, npm
//! restore_on_start = true       # restart the sessions that were active at the last stop
//! [[deny]]
//! tool = "Bash"                 # exact tool name, or "*" for any
//! pattern = "rm -rf (/|~)"      # regex, searched in the command / path / input
//! reason = "Never delete the root or home directory."
//! ```

use std::path::Path;
use std::time::Duration;

use regex::Regex;
use serde::Deserialize;

use super::payload::Payload;

/// Longest allowed permission wait; Claude Code's own hook timeout is the real bound.
const MAX_WAIT_SECS: u64 = 3600;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    permission_wait_secs: u64,
    #[serde(default = "yes")]
    auto_adopt: bool,
    #[serde(default)]
    deny: Vec<RawRule>,
    #[serde(default)]
    claude_command: Option<String>,
    #[serde(default)]
    restore_on_start: bool,
}

fn yes() -> bool {
    true
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

/// The hook policy in force.
#[derive(Debug, Clone)]
pub struct Policy {
    pub permission_wait: Duration,
    pub auto_adopt: bool,
    pub deny: Vec<DenyRule>,
    /// The program new sessions run as claude, when the file names one.
    pub claude_command: Option<String>,
    /// Whether the daemon restarts, at start, the sessions that were active when it stopped.
    pub restore_on_start: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            permission_wait: Duration::ZERO,
            auto_adopt: true,
            deny: Vec::new(),
            claude_command: None,
            restore_on_start: false,
        }
    }
}

impl Policy {
    /// Reads the config file; a missing file is the default policy. Every problem is reported,
    /// with the rule it is in.
    pub fn load(path: &Path) -> Result<Policy, String> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Policy::default()),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Policy, String> {
        let file: File = toml::from_str(text).map_err(|e| e.to_string().trim().to_owned())?;
        if file.permission_wait_secs > MAX_WAIT_SECS {
            return Err(format!("permission_wait_secs is at most {MAX_WAIT_SECS}"));
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
        Ok(Policy {
            permission_wait: Duration::from_secs(file.permission_wait_secs),
            auto_adopt: file.auto_adopt,
            deny,
            claude_command: file.claude_command.filter(|c| !c.trim().is_empty()),
            restore_on_start: file.restore_on_start,
        })
    }

    /// The first deny rule matching a PreToolUse call.
    pub fn denies(&self, p: &Payload) -> Option<&DenyRule> {
        if p.hook_event_name != "PreToolUse" {
            return None;
        }
        let subject = p.subject();
        self.deny
            .iter()
            .find(|r| (r.tool == "*" || r.tool == p.tool_name) && r.pattern.is_match(&subject))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hooks::payload::parse;

    #[test]
    fn rules_match_tool_and_subject() {
        let pol = Policy::parse(
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
        let bash = parse(r#"{"hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"sudo rm -rf / "}}"#).unwrap();
        assert_eq!(pol.denies(&bash).unwrap().reason, "no");
        let edit = parse(r#"{"hook_event_name":"PreToolUse","tool_name":"Edit","tool_input":{"file_path":"/p/.env"}}"#).unwrap();
        assert_eq!(pol.denies(&edit).unwrap().reason, "secrets");
        let fine = parse(
            r#"{"hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"ls"}}"#,
        )
        .unwrap();
        assert!(pol.denies(&fine).is_none());
        let post = parse(r#"{"hook_event_name":"PostToolUse","tool_name":"Bash","tool_input":{"command":"rm -rf /"}}"#).unwrap();
        assert!(
            pol.denies(&post).is_none(),
            "only PreToolUse can be blocked"
        );
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
        ] {
            let err = Policy::parse(bad).unwrap_err();
            assert!(err.contains(want), "{bad:?}: {err}");
        }
        assert!(Policy::parse("").is_ok());
    }
}
