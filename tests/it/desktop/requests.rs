//! More than yes or no from a notification: "Always allow" with the first suggestion Claude
//! Code offers (its label in full), a question's options as actions, several questions (one of
//! them multi-select) one notification each, and without actions the CLI line that answers.

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

const TWO_QUESTIONS: &str = r#"[{"question":"Which database?","header":"Database","options":[{"label":"Postgres","description":"Relational"},{"label":"SQLite","description":"One file"}],"multiSelect":false},{"question":"Which extras?","header":"Extras","options":[{"label":"Redis","description":""},{"label":"Kafka","description":""},{"label":"Nats","description":""}],"multiSelect":true}]"#;

/// The PreToolUse of an AskUserQuestion with `questions`, from session "n".
fn ask_questions(desk: &Desk, questions: &str) -> tokio::task::JoinHandle<String> {
    desk.relay_in_background(format!(
        r#"{{"session_id":"c","hook_event_name":"PreToolUse","tool_name":"AskUserQuestion","tool_input":{{"questions":{questions}}}}}"#
    ))
}

/// The first notification after `after` (an id) whose summary is `summary`.
async fn next_shown(desk: &Desk, after: u32, summary: &str) -> Shown {
    let find = || {
        let log = desk.log.lock().unwrap();
        let mut later = log.shown.iter().filter(|s| s.id > after);
        later.find(|s| s.summary == summary).cloned()
    };
    wait_for(&format!("the notification {summary}"), || async {
        find().is_some()
    })
    .await;
    find().unwrap()
}

/// Action labels by key, without the keys.
fn labels(note: &Shown) -> Vec<String> {
    note.actions
        .chunks(2)
        .map(|kv| format!("{}={}", kv[0], kv[1]))
        .collect()
}

#[tokio::test]
async fn several_questions_are_answered_one_notification_each() {
    let desk = Desk::new("permission_wait_secs = 30\n", FULL).await;
    let pending = ask_questions(&desk, TWO_QUESTIONS);
    let first = next_shown(&desk, 0, "n asks (1/2): Which database?").await;
    assert_eq!(first.body, "Choose one.");
    assert_eq!(
        labels(&first),
        ["default=Open", "option:0=Postgres", "option:1=SQLite"]
    );
    // dunst closes a notification as one of its actions is clicked: the click still counts.
    desk.click_and_close(first.id, "option:1").await;
    let second = next_shown(&desk, first.id, "n asks (2/2): Which extras?").await;
    assert_eq!(
        second.body,
        "Which database? SQLite\nChoose one or more, then Send."
    );
    assert_eq!(
        labels(&second),
        [
            "default=Open",
            "option:0=☐ Redis",
            "option:1=☐ Kafka",
            "option:2=☐ Nats"
        ]
    );
    desk.click_and_close(second.id, "option:2").await;
    let third = next_shown(&desk, second.id, "n asks (2/2): Which extras?").await;
    assert_eq!(
        labels(&third)[1..],
        [
            "option:0=☐ Redis",
            "option:1=☐ Kafka",
            "option:2=☑ Nats",
            "next=Send"
        ]
    );
    desk.click(third.id, "option:0").await;
    let fourth = next_shown(&desk, third.id, "n asks (2/2): Which extras?").await;
    desk.closed(third.id).await;
    desk.click_and_close(fourth.id, "next").await;
    assert_eq!(
        returned(pending).await,
        format!(
            r#"{{"hookSpecificOutput":{{"hookEventName":"PreToolUse","permissionDecision":"allow","updatedInput":{{"questions":{TWO_QUESTIONS},"answers":{{"Which database?":"SQLite","Which extras?":"Redis, Nats"}}}}}}}}"#
        )
    );
}

#[tokio::test]
async fn without_actions_a_question_says_the_cli_line_that_answers_it() {
    let desk = Desk::new("permission_wait_secs = 30\n", &["body"]).await;
    let mut req = Requests::new(&desk.env).await;
    let pending = ask_questions(&desk, TWO_QUESTIONS);
    let rid = req.asked().await;
    let note = next_shown(&desk, 0, "n asks 2 questions").await;
    assert!(note.actions.is_empty());
    assert_eq!(
        note.body,
        format!(
            "1. Which database?: Postgres | SQLite\n2. Which extras? (several): Redis | Kafka | Nats\nAnswer with: trusty-mpm answer n {rid} [--option LABEL | TEXT]…"
        )
    );
    // The line works as it says.
    let out = std::process::Command::new(DAEMON)
        .args([
            "answer",
            "n",
            &rid,
            "--option",
            "Postgres",
            "--option",
            "Kafka,Redis",
        ])
        .env("DBUS_SESSION_BUS_ADDRESS", &desk.env.bus.address)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_str(&returned(pending).await).unwrap();
    assert_eq!(
        v["hookSpecificOutput"]["updatedInput"]["answers"],
        serde_json::json!({"Which database?": "Postgres", "Which extras?": "Kafka, Redis"})
    );
}
