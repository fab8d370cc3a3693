//! The JSON Claude Code hands each hook command on stdin. Every field is optional: events of
//! newer releases and fields we do not know are accepted and kept out of the way.

use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::text;

/// Most bytes of a hook payload.
pub const MAX_PAYLOAD: usize = 1024 * 1024;

/// One hook event.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Payload {
    pub hook_event_name: String,
    pub session_id: String,
    pub transcript_path: String,
    pub cwd: String,
    pub tool_name: String,
    pub tool_input: Value,
    /// PermissionRequest: the rules Claude Code offers to remember, as it sent them.
    pub permission_suggestions: Value,
    pub prompt: String,
    pub message: String,
    pub notification_type: String,
    pub source: String,
    pub reason: String,
    /// Claude Code's permission mode (`default`, `acceptEdits`, `plan`, `auto`, ...).
    pub permission_mode: String,
    /// Stop: the reply that ended the turn.
    pub last_assistant_message: String,
    /// The prompt a turn answers (Claude Code's `prompt_id`, a UUID; empty from releases
    /// that do not send it).
    pub prompt_id: String,
    /// Stop: whether background tasks still run after the turn (Claude Code's
    /// `background_tasks`, a list or a count).
    pub background_tasks: bool,
}

/// Parses a payload; it must be a JSON object naming its event.
pub fn parse(json: &str) -> Result<Payload> {
    if json.len() > MAX_PAYLOAD {
        return Err(Error::invalid(format!(
            "The hook payload is {} bytes; at most {MAX_PAYLOAD} are allowed.",
            json.len()
        )));
    }
    let value: Value = serde_json::from_str(json)
        .map_err(|e| Error::invalid(format!("The hook payload is not valid JSON ({e}).")))?;
    if !value.is_object() {
        return Err(Error::invalid("The hook payload must be a JSON object."));
    }
    // Fields of an unexpected type are treated as absent rather than failing the event.
    let mut p = Payload::default();
    let get = |k: &str| {
        value
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    p.hook_event_name = get("hook_event_name");
    if p.hook_event_name.is_empty() {
        return Err(Error::invalid("The hook payload has no hook_event_name."));
    }
    // Event names are identifiers; anything else would leak into history and logs.
    if p.hook_event_name.len() > 64
        || !p
            .hook_event_name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(Error::invalid(
            "The hook_event_name must be 1 to 64 letters, digits or '_'.",
        ));
    }
    // What reaches the registry, signals, claude's command line (--resume) and terminals is
    // bounded and clean here, once: ids are UUIDs, paths absolute and on one line.
    let id = get("session_id");
    p.session_id = text::claude_id(&id).unwrap_or_default();
    if p.session_id.is_empty() && !id.is_empty() {
        tracing::info!(
            "ignoring a hook's session_id that is not a UUID: {:?}",
            text::one_line(&id, 80)
        );
    }
    p.transcript_path = path(get("transcript_path"));
    p.cwd = path(get("cwd"));
    // Tool names travel into signals, history and logs: printable and bounded.
    p.tool_name = get("tool_name")
        .chars()
        .filter(|c| !c.is_control())
        .take(128)
        .collect();
    p.tool_input = value.get("tool_input").cloned().unwrap_or(Value::Null);
    p.permission_suggestions = value
        .get("permission_suggestions")
        .cloned()
        .unwrap_or(Value::Null);
    p.prompt = text::one_line(&get("prompt"), text::MAX_DETAIL);
    p.message = text::one_line(&get("message"), text::MAX_DETAIL);
    p.notification_type = text::one_line(&get("notification_type"), 64);
    p.source = text::one_line(&get("source"), 64);
    p.reason = text::one_line(&get("reason"), 64);
    p.permission_mode = text::one_line(&get("permission_mode"), 64);
    p.last_assistant_message = text::lines(&get("last_assistant_message"), text::MAX_SUMMARY);
    p.prompt_id = text::claude_id(&get("prompt_id")).unwrap_or_default();
    p.background_tasks = match value.get("background_tasks") {
        Some(Value::Array(tasks)) => !tasks.is_empty(),
        Some(Value::Number(n)) => n.as_u64().is_some_and(|n| n > 0),
        Some(Value::Bool(b)) => *b,
        _ => false,
    };
    Ok(p)
}

/// An absolute path on one line within the length of a path, else nothing.
fn path(s: String) -> String {
    let fits = s.starts_with('/') && s.len() <= text::MAX_PATH && !s.chars().any(char::is_control);
    if fits { s } else { String::new() }
}

impl Payload {
    /// What a tool call is about, as one string: the command, path, URL or pattern, else the
    /// compact JSON of the input. Deny rules match against it.
    pub fn subject(&self) -> String {
        for key in [
            "command",
            "file_path",
            "notebook_path",
            "url",
            "pattern",
            "query",
            "path",
        ] {
            if let Some(s) = self.tool_input.get(key).and_then(Value::as_str) {
                return s.to_owned();
            }
        }
        match &self.tool_input {
            Value::Null => String::new(),
            v => v.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_events_parse() {
        let cases = [
            r#"{"session_id":"s","transcript_path":"/t.jsonl","cwd":"/p","hook_event_name":"SessionStart","source":"startup"}"#,
            r#"{"session_id":"s","hook_event_name":"UserPromptSubmit","prompt":"fix it"}"#,
            r#"{"session_id":"s","hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"cargo test"},"tool_use_id":"t1"}"#,
            r#"{"session_id":"s","hook_event_name":"PostToolUse","tool_name":"Edit","tool_input":{"file_path":"/a.rs"},"tool_response":{"ok":true}}"#,
            r#"{"session_id":"s","hook_event_name":"PermissionRequest","tool_name":"Bash","tool_input":{"command":"rm x"},"permission_suggestions":[]}"#,
            r#"{"session_id":"s","hook_event_name":"Notification","message":"Claude needs your permission to use Bash","notification_type":"permission_prompt"}"#,
            r#"{"session_id":"s","hook_event_name":"Stop","stop_hook_active":false}"#,
            r#"{"session_id":"s","hook_event_name":"StopFailure","error":"rate_limit"}"#,
            r#"{"session_id":"s","hook_event_name":"SessionEnd","reason":"prompt_input_exit"}"#,
            r#"{"session_id":"s","hook_event_name":"SubagentStop"}"#,
            r#"{"session_id":"s","hook_event_name":"PreCompact","trigger":"auto"}"#,
        ];
        for c in cases {
            let p = parse(c).unwrap_or_else(|e| panic!("{c}: {e}"));
            assert!(!p.hook_event_name.is_empty());
        }
        let p = parse(cases[2]).unwrap();
        assert_eq!(
            (p.tool_name.as_str(), p.subject()),
            ("Bash", "cargo test".to_owned())
        );
    }

    #[test]
    fn unknown_events_and_odd_fields_are_tolerated() {
        let p =
            parse(r#"{"hook_event_name":"BrandNewEvent","x":{"y":[1,2]},"session_id":7}"#).unwrap();
        assert_eq!(p.hook_event_name, "BrandNewEvent");
        assert_eq!(
            p.session_id, "",
            "a number where a string belongs counts as absent"
        );
        let p =
            parse(r#"{"hook_event_name":"PreToolUse","tool_name":"Task","tool_input":{"n":1}}"#)
                .unwrap();
        assert_eq!(p.subject(), r#"{"n":1}"#);
    }

    #[test]
    fn garbage_is_invalid_argument() {
        for bad in [
            "",
            "nope",
            "[1,2]",
            "{}",
            r#"{"hook_event_name":""}"#,
            "{\"hook_event_name\":\"Stop\"",
        ] {
            assert!(
                matches!(parse(bad), Err(Error::InvalidArgument(_))),
                "{bad:?}"
            );
        }
        let huge = format!(
            r#"{{"hook_event_name":"Stop","x":"{}"}}"#,
            "a".repeat(MAX_PAYLOAD)
        );
        assert!(matches!(parse(&huge), Err(Error::InvalidArgument(_))));
    }
}
