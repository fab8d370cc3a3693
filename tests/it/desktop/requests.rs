//! More than yes or no from a notification: "Always allow" with the first suggestion Claude
//! Code offers (its label in full), and a question's options as actions.

use super::*;

const SUGGESTION: &str = r#"{"type":"addRules","rules":[{"toolName":"Bash","ruleContent":"npm test:*"}],"behavior":"allow","destination":"localSettings"}"#;

/// The notification whose summary is `summary`, once shown.
async fn shown(desk: &Desk, summary: &str) -> Shown {
    let find = || {
        let log = desk.log.lock().unwrap();
        log.shown.iter().find(|s| s.summary == summary).cloned()
    };
    wait_for("the notification", || async { find().is_some() }).await;
    find().unwrap()
}

#[tokio::test]
async fn always_allow_and_a_questions_options_answer_from_the_notification() {
    let desk = Desk::new("permission_wait_secs = 30\n", FULL).await;
    let pending = desk.relay_in_background(format!(
        r#"{{"session_id":"c","hook_event_name":"PermissionRequest","tool_name":"Bash","tool_input":{{"command":"npm test"}},"permission_suggestions":[{SUGGESTION}]}}"#
    ));
    let note = shown(&desk, "n asks to use Bash").await;
    assert_eq!(
        note.actions,
        [
            "default",
            "Open",
            "allow",
            "Allow",
            "remember",
            "Always allow Bash(npm test:*) in this project",
            "deny",
            "Deny"
        ]
    );
    desk.click(note.id, "remember").await;
    assert_eq!(
        returned(pending).await,
        format!(
            r#"{{"hookSpecificOutput":{{"hookEventName":"PermissionRequest","decision":{{"behavior":"allow","updatedPermissions":[{SUGGESTION}]}}}}}}"#
        )
    );
    desk.closed(note.id).await;

    let questions = r#"[{"question":"Which database?","header":"Database","options":[{"label":"Postgres","description":"Relational"},{"label":"SQLite","description":"One file"}],"multiSelect":false}]"#;
    let pending = desk.relay_in_background(format!(
        r#"{{"session_id":"c","hook_event_name":"PreToolUse","tool_name":"AskUserQuestion","tool_input":{{"questions":{questions}}}}}"#
    ));
    let note = shown(&desk, "n asks: Which database?").await;
    assert_eq!(
        note.actions,
        [
            "default", "Open", "option:0", "Postgres", "option:1", "SQLite"
        ]
    );
    desk.click(note.id, "option:1").await;
    assert_eq!(
        returned(pending).await,
        format!(
            r#"{{"hookSpecificOutput":{{"hookEventName":"PreToolUse","permissionDecision":"allow","updatedInput":{{"questions":{questions},"answers":{{"Which database?":"SQLite"}}}}}}}}"#
        )
    );
    desk.closed(note.id).await;
}

#[tokio::test]
async fn a_restarted_notify_closes_what_it_left_and_shows_what_waits() {
    let mut desk = Desk::new("permission_wait_secs = 30\n", FULL).await;
    let pending = desk.ask("make deploy");
    let left = desk.asking(1).await;
    // notify records what it shows just after showing it; a notify killed in between leaves
    // that one notification behind (best effort), so the test kills it after the record.
    let ids = desk.config_dir.path().join("trusty-mpm-notify.ids");
    wait_for("notify recorded the notification", || async {
        std::fs::read_to_string(&ids)
            .unwrap_or_default()
            .split_whitespace()
            .any(|id| id == left.id.to_string())
    })
    .await;
    desk.restart_notify().await;
    // The dead notification's buttons would do nothing: the new notify closes it, and shows
    // the request again from ListRequests.
    desk.closed(left.id).await;
    let again = desk.asking(2).await;
    assert_eq!(again.actions, left.actions);
    desk.click(again.id, "allow").await;
    assert_eq!(
        returned(pending).await,
        r#"{"hookSpecificOutput":{"hookEventName":"PermissionRequest","decision":{"behavior":"allow"}}}"#
    );
    desk.closed(again.id).await;
}
