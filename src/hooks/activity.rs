//! The activity state machine of the contract: what each hook event says about an agent, and
//! the one-line summary it leaves in the session's history.

use super::payload::Payload;
use crate::lifecycle::HookEffect;
use crate::model::Activity;
use crate::text;

/// The effect of an event on its session.
pub fn effect(p: &Payload) -> HookEffect {
    let mut e = HookEffect::default();
    let tool = p.tool_name.clone();
    e.activity = match p.hook_event_name.as_str() {
        "PreToolUse" if tool == "AskUserQuestion" => Some((Activity::NeedsInput, tool)),
        "UserPromptSubmit" => Some((Activity::Working, String::new())),
        "PreToolUse" | "PostToolUse" => Some((Activity::Working, tool)),
        "PermissionRequest" => Some((Activity::NeedsInput, tool)),
        "Notification" => match p.notification_type.as_str() {
            "permission_prompt" | "elicitation_dialog" | "agent_needs_input" => {
                Some((Activity::NeedsInput, p.message.clone()))
            }
            "idle_prompt" | "agent_completed" => Some((Activity::Ready, p.message.clone())),
            _ => None,
        },
        // A turn that ended with background tasks still running is not done.
        "Stop" if p.background_tasks => Some((Activity::Working, "background tasks".into())),
        "Stop" | "StopFailure" => Some((Activity::Ready, String::new())),
        // Auto mode's classifier refused a tool call; the agent goes on without it.
        "PermissionDenied" => Some((Activity::Working, format!("{tool} denied"))),
        // /clear ends the old conversation and starts a new one in the same process.
        "SessionEnd" if p.reason != "clear" => {
            e.ended = true;
            Some((Activity::Unknown, String::new()))
        }
        _ => None,
    };
    // Claude asks before a tool runs; any of these means the question was answered elsewhere
    // (in the terminal) or left behind.
    e.moves_on = matches!(
        p.hook_event_name.as_str(),
        "PreToolUse"
            | "PostToolUse"
            | "UserPromptSubmit"
            | "Stop"
            | "StopFailure"
            | "PermissionDenied"
    );
    e.permission_mode = (!p.permission_mode.is_empty()).then(|| p.permission_mode.clone());
    let stop = p.hook_event_name == "Stop";
    e.last_reply =
        (stop && !p.last_assistant_message.is_empty()).then(|| p.last_assistant_message.clone());
    e.turn_ended = (stop && !p.prompt_id.is_empty()).then(|| p.prompt_id.clone());
    // These follow a reply written to the transcript (SessionStart: maybe another file).
    e.transcript_grew = matches!(
        p.hook_event_name.as_str(),
        "Stop" | "PostToolUse" | "SubagentStop" | "PreCompact" | "SessionStart"
    );
    if !p.session_id.is_empty() {
        let ids = (p.session_id.clone(), p.transcript_path.clone());
        if p.hook_event_name == "SessionStart" {
            e.claude_ids = Some(ids);
        } else {
            e.seen_ids = Some(ids);
        }
    }
    e
}

/// A one-line summary for the history: `Bash: cargo test`, `Notification: Claude needs ...`.
pub fn summary(p: &Payload) -> String {
    let text = match p.hook_event_name.as_str() {
        "PreToolUse" | "PostToolUse" | "PermissionRequest" | "PermissionDenied" => {
            return one_line(&format!("{}: {}", p.tool_name, p.subject()));
        }
        "UserPromptSubmit" => p.prompt.clone(),
        "Notification" => p.message.clone(),
        "SessionStart" => p.source.clone(),
        "SessionEnd" => p.reason.clone(),
        _ => String::new(),
    };
    if text.is_empty() {
        p.hook_event_name.clone()
    } else {
        one_line(&format!("{}: {text}", p.hook_event_name))
    }
}

/// The first line, without control characters, at most `MAX_DETAIL` characters.
fn one_line(s: &str) -> String {
    text::one_line(s, text::MAX_DETAIL)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hooks::payload::parse;

    fn eff(json: &str) -> HookEffect {
        effect(&parse(json).unwrap())
    }

    fn act(json: &str) -> Option<Activity> {
        eff(json).activity.map(|a| a.0)
    }

    #[test]
    fn contract_mapping() {
        use Activity::*;
        assert_eq!(
            act(r#"{"hook_event_name":"UserPromptSubmit","prompt":"x"}"#),
            Some(Working)
        );
        assert_eq!(
            act(r#"{"hook_event_name":"PreToolUse","tool_name":"Bash"}"#),
            Some(Working)
        );
        assert_eq!(
            act(r#"{"hook_event_name":"PostToolUse","tool_name":"Bash"}"#),
            Some(Working)
        );
        assert_eq!(
            act(r#"{"hook_event_name":"PreToolUse","tool_name":"AskUserQuestion"}"#),
            Some(NeedsInput)
        );
        assert_eq!(
            act(r#"{"hook_event_name":"PermissionRequest","tool_name":"Bash"}"#),
            Some(NeedsInput)
        );
        assert_eq!(
            act(r#"{"hook_event_name":"Notification","notification_type":"permission_prompt"}"#),
            Some(NeedsInput)
        );
        assert_eq!(
            act(r#"{"hook_event_name":"Notification","notification_type":"elicitation_dialog"}"#),
            Some(NeedsInput)
        );
        assert_eq!(
            act(r#"{"hook_event_name":"Notification","notification_type":"idle_prompt"}"#),
            Some(Ready)
        );
        assert_eq!(
            act(r#"{"hook_event_name":"Notification","notification_type":"auth_success"}"#),
            None
        );
        assert_eq!(act(r#"{"hook_event_name":"Stop"}"#), Some(Ready));
        assert_eq!(act(r#"{"hook_event_name":"StopFailure"}"#), Some(Ready));
        assert_eq!(act(r#"{"hook_event_name":"SomethingNew"}"#), None);
        for (event, moves_on) in [
            ("PreToolUse", true),
            ("PostToolUse", true),
            ("UserPromptSubmit", true),
            ("Stop", true),
            ("StopFailure", true),
            ("PermissionRequest", false),
            ("Notification", false),
            ("SessionStart", false),
        ] {
            let e = eff(&format!(r#"{{"hook_event_name":"{event}"}}"#));
            assert_eq!(e.moves_on, moves_on, "{event}");
        }
        let end = eff(r#"{"hook_event_name":"SessionEnd","reason":"logout"}"#);
        assert!(end.ended);
        assert_eq!(end.activity.map(|a| a.0), Some(Unknown));
        assert!(!eff(r#"{"hook_event_name":"SessionEnd","reason":"clear"}"#).ended);
    }

    #[test]
    fn events_that_follow_a_reply_read_the_transcript() {
        for name in [
            "Stop",
            "PostToolUse",
            "SubagentStop",
            "PreCompact",
            "SessionStart",
        ] {
            let e = eff(&format!(r#"{{"hook_event_name":"{name}"}}"#));
            assert!(e.transcript_grew, "{name}");
        }
        for name in [
            "UserPromptSubmit",
            "PreToolUse",
            "Notification",
            "SessionEnd",
        ] {
            let e = eff(&format!(r#"{{"hook_event_name":"{name}"}}"#));
            assert!(!e.transcript_grew, "{name}");
        }
    }

    #[test]
    fn session_start_records_ids() {
        const A: &str = "0000000a-0000-4000-8000-000000000000";
        let e = eff(&format!(
            r#"{{"hook_event_name":"SessionStart","session_id":"{A}","transcript_path":"/t","source":"clear"}}"#
        ));
        assert_eq!(e.claude_ids, Some((A.into(), "/t".into())));
        // A compacted or forked conversation continues under the id its SessionStart names.
        for (n, source) in ["compact", "fork", "resume"].into_iter().enumerate() {
            let id = format!("0000000{n}-0000-4000-8000-000000000000");
            let e = eff(&format!(
                r#"{{"hook_event_name":"SessionStart","session_id":"{id}","transcript_path":"/n","source":"{source}"}}"#
            ));
            assert_eq!(e.claude_ids, Some((id, "/n".into())));
        }
        assert_eq!(e.activity, None);
        // An id that is not a UUID is no id at all.
        let e = eff(r#"{"hook_event_name":"SessionStart","session_id":"--resume","source":"x"}"#);
        assert_eq!(e.claude_ids, None);
    }

    #[test]
    fn newer_events_and_fields() {
        use Activity::*;
        let working = r#"{"hook_event_name":"Stop","background_tasks":[{"id":"b1"}]}"#;
        assert_eq!(act(working), Some(Working));
        assert_eq!(
            act(r#"{"hook_event_name":"Stop","background_tasks":[]}"#),
            Some(Ready)
        );
        let denied = r#"{"hook_event_name":"PermissionDenied","tool_name":"Bash"}"#;
        assert_eq!(eff(denied).activity, Some((Working, "Bash denied".into())));
        assert!(eff(denied).moves_on);
        for (kind, want) in [
            ("agent_needs_input", NeedsInput),
            ("agent_completed", Ready),
        ] {
            let n = format!(r#"{{"hook_event_name":"Notification","notification_type":"{kind}"}}"#);
            assert_eq!(act(&n), Some(want), "{kind}");
        }
        let e = eff(
            r#"{"hook_event_name":"Stop","permission_mode":"auto","last_assistant_message":"Done.\nAll green.","prompt_id":"DC801BCD-7832-46CA-AC3E-537E05847773"}"#,
        );
        assert_eq!(e.permission_mode.as_deref(), Some("auto"));
        assert_eq!(e.last_reply.as_deref(), Some("Done.\nAll green."));
        assert_eq!(
            e.turn_ended.as_deref(),
            Some("dc801bcd-7832-46ca-ac3e-537e05847773")
        );
        let odd = eff(r#"{"hook_event_name":"Stop","prompt_id":"--resume"}"#);
        assert_eq!(odd.turn_ended, None, "not a UUID: nothing to wait for");
        let asked = eff(
            r#"{"hook_event_name":"UserPromptSubmit","prompt_id":"dc801bcd-7832-46ca-ac3e-537e05847773"}"#,
        );
        assert_eq!(asked.turn_ended, None, "only Stop ends a turn");
    }

    #[test]
    fn summaries_are_one_line() {
        let p = parse(r#"{"hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"cargo test\nsecond"}}"#).unwrap();
        assert_eq!(summary(&p), "Bash: cargo test");
        let p =
            parse(r#"{"hook_event_name":"Notification","message":"Claude needs your permission"}"#)
                .unwrap();
        assert_eq!(summary(&p), "Notification: Claude needs your permission");
        let p = parse(r#"{"hook_event_name":"Stop"}"#).unwrap();
        assert_eq!(summary(&p), "Stop");
    }
}
