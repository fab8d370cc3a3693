//! What claude asks, read from Claude Code's hook payloads, and the decision JSON that answers
//! it. A PermissionRequest carries `permission_suggestions` (rules Claude Code can remember for
//! good); a PreToolUse of AskUserQuestion carries the questions. The shapes are Claude Code's
//! (see the contract, "Requests").

use serde_json::{Map, Value, json};

use super::payload::Payload;
use crate::claude_settings::{label, str_of};
use crate::config::MAX_NOTE_BYTES;
use crate::lifecycle::{Answer, Ask, Kind, Question, Suggestion};
use crate::text;

/// The tool whose PreToolUse is a question to the user.
pub const ASK_USER_QUESTION: &str = "AskUserQuestion";

/// Most characters of a label, question or option: enough to show whole, bounded for the bus.
const MAX_LINE: usize = 1024;
/// Most suggestions, questions or options taken from one event (Claude Code sends a handful).
const MAX_ITEMS: usize = 16;

/// The request an event asks, with `summary` as its one-line form; `None` for an event that
/// asks nothing. AskUserQuestion's PermissionRequest asks nothing new: it is the question its
/// PreToolUse asked, and waiting on it would only hold Claude Code's own dialog back.
pub fn ask(p: &Payload, summary: String) -> Option<Ask> {
    let kind = match (p.hook_event_name.as_str(), p.tool_name.as_str()) {
        ("PreToolUse", ASK_USER_QUESTION) => Kind::Question,
        ("PermissionRequest", ASK_USER_QUESTION) => return None,
        ("PermissionRequest", _) => Kind::Permission,
        _ => return None,
    };
    let questions = match kind {
        Kind::Question => questions(&p.tool_input),
        Kind::Permission => Vec::new(),
    };
    let detail = match kind {
        Kind::Question => questions
            .iter()
            .map(|q| q.question.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        Kind::Permission => text::lines(&p.subject(), MAX_NOTE_BYTES),
    };
    Some(Ask {
        kind,
        tool: p.tool_name.clone(),
        summary,
        detail,
        suggestions: suggestions(&p.permission_suggestions),
        questions,
    })
}

/// Claude Code's `permission_suggestions`, numbered from 1, each with a human label.
fn suggestions(v: &Value) -> Vec<Suggestion> {
    let entries = v.as_array().map(Vec::as_slice).unwrap_or_default();
    entries
        .iter()
        .filter(|e| e.is_object())
        .take(MAX_ITEMS)
        .enumerate()
        .map(|(i, entry)| Suggestion {
            id: (i + 1).to_string(),
            label: text::one_line(&label(entry), MAX_LINE),
            destination: text::one_line(str_of(entry, "destination"), 64),
            entry: entry.clone(),
        })
        .collect()
}

/// AskUserQuestion's questions with their option labels.
fn questions(input: &Value) -> Vec<Question> {
    let all = input.get("questions").and_then(Value::as_array);
    all.into_iter()
        .flatten()
        .filter(|q| !str_of(q, "question").is_empty())
        .take(MAX_ITEMS)
        .map(|q| Question {
            question: text::one_line(str_of(q, "question"), MAX_LINE),
            raw: str_of(q, "question").to_owned(),
            header: text::one_line(str_of(q, "header"), MAX_LINE),
            multi_select: q.get("multiSelect").and_then(Value::as_bool) == Some(true),
            options: q
                .get("options")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .take(MAX_ITEMS)
                .map(|o| text::one_line(str_of(o, "label"), MAX_LINE))
                .collect(),
        })
        .collect()
}

/// Claude Code's decision for the event `p` from an answer: a PermissionRequest's `decision`,
/// or a PreToolUse's `permissionDecision` (with the answers in `updatedInput`).
pub fn decision(p: &Payload, answer: Answer) -> Value {
    let denied = |reason: String| match reason.is_empty() {
        true => "Denied by the operator.".to_owned(),
        false => reason,
    };
    if p.hook_event_name == "PreToolUse" {
        let out = match answer {
            Answer::Deny { reason, .. } => json!({
                "hookEventName": "PreToolUse",
                "permissionDecision": "deny",
                "permissionDecisionReason": denied(reason),
            }),
            Answer::Answers(answers) => {
                let mut input = p.tool_input.as_object().cloned().unwrap_or_default();
                let answers: Map<String, Value> = answers
                    .into_iter()
                    .map(|(q, a)| (q, Value::String(a)))
                    .collect();
                input.insert("answers".into(), Value::Object(answers));
                json!({
                    "hookEventName": "PreToolUse",
                    "permissionDecision": "allow",
                    "updatedInput": input,
                })
            }
            Answer::Allow { .. } => json!({
                "hookEventName": "PreToolUse",
                "permissionDecision": "allow",
            }),
        };
        return json!({ "hookSpecificOutput": out });
    }
    let decision = match answer {
        Answer::Allow {
            remember: Some(entry),
        } => json!({ "behavior": "allow", "updatedPermissions": [entry] }),
        Answer::Allow { remember: None } | Answer::Answers(_) => json!({ "behavior": "allow" }),
        // A rule to deny from now on is in its settings file already (see `deny_rule`).
        Answer::Deny { reason, .. } => json!({ "behavior": "deny", "message": denied(reason) }),
    };
    json!({
        "hookSpecificOutput": { "hookEventName": "PermissionRequest", "decision": decision }
    })
}
