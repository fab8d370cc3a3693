//! More than yes or no from the tray: Always allow with the rule Claude Code offers, shown by a
//! tray started after the request came; and several questions (one of them multi-select)
//! answered by picking options in submenus, then Send.

use std::time::Duration;

use futures_util::StreamExt;

use super::*;

#[tokio::test]
async fn a_tray_started_later_shows_what_waits_and_offers_always_allow() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "permission_wait_secs = 30\n");
    let env = Env::with_env(&[("TRUSTY_MPM_CONFIG", &config)]).await;
    let (_watcher, items) = serve_watcher(&env).await;
    env.start_active("r").await;
    // Someone answers (a notify, or the tray before a restart): the request waits.
    let _answerer = env.answerer().await;
    let m = env.manager().await;
    let mut asked = m.receive_permission_requested().await.unwrap();
    let suggestion = r#"{"type":"addRules","rules":[{"toolName":"Bash","ruleContent":"npm test:*"}],"behavior":"allow","destination":"localSettings"}"#;
    let payload = format!(
        r#"{{"session_id":"c","hook_event_name":"PermissionRequest","tool_name":"Bash","tool_input":{{"command":"npm test"}},"permission_suggestions":[{suggestion}]}}"#
    );
    let pending = ask(&env, "r", payload);
    tokio::time::timeout(Duration::from_secs(10), asked.next())
        .await
        .expect("PermissionRequested")
        .unwrap();

    let tray = Tray::start(&env, &items, Setup::plain(&config, dir.path())).await;
    tray.wait_status("NeedsAttention").await;
    let sub = "r (active, needs-input)";
    tray.click(&format!(
        "{sub}/Always allow Bash(npm test:*) in this project"
    ))
    .await
    .unwrap();
    assert_eq!(
        answered(pending).await,
        format!(
            r#"{{"hookSpecificOutput":{{"hookEventName":"PermissionRequest","decision":{{"behavior":"allow","updatedPermissions":[{suggestion}]}}}}}}"#
        )
    );
}

#[tokio::test]
async fn several_questions_are_picked_in_submenus_then_sent() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "permission_wait_secs = 30\n");
    let env = Env::with_env(&[("TRUSTY_MPM_CONFIG", &config)]).await;
    let (_watcher, items) = serve_watcher(&env).await;
    let tray = Tray::start(&env, &items, Setup::plain(&config, dir.path())).await;
    env.start_active("q").await;
    let questions = r#"[{"question":"Which database?","header":"Database","options":[{"label":"Postgres","description":"Relational"},{"label":"SQLite","description":"One file"}],"multiSelect":false},{"question":"Which extras?","header":"Extras","options":[{"label":"Redis","description":""},{"label":"Kafka","description":""},{"label":"Nats","description":""}],"multiSelect":true}]"#;
    let pending = ask(
        &env,
        "q",
        format!(
            r#"{{"session_id":"c","hook_event_name":"PreToolUse","tool_name":"AskUserQuestion","tool_input":{{"questions":{questions}}}}}"#
        ),
    );
    let sub = "q (active, needs-input)";
    let send = tray.wait_entry(&format!("{sub}/Send answers")).await;
    assert!(!send.enabled, "nothing picked yet");
    assert_eq!(
        toggles(&tray).await,
        [
            "( ) Postgres",
            "( ) SQLite",
            "[ ] Redis",
            "[ ] Kafka",
            "[ ] Nats"
        ]
    );
    // Each click changes the menu; the next click reads it again, as a host does.
    for label in [
        "2. Which extras? (several)/Nats",
        "1. Which database?/SQLite",
        "Redis",
        "Nats",
        "Kafka",
    ] {
        let before = toggles(&tray).await;
        tray.click(label).await.unwrap();
        wait_for("the pick shows", || async {
            toggles(&tray).await != before
        })
        .await;
    }
    assert_eq!(
        toggles(&tray).await,
        [
            "( ) Postgres",
            "(x) SQLite",
            "[x] Redis",
            "[x] Kafka",
            "[ ] Nats"
        ]
    );
    assert!(
        tray.find(&format!("{sub}/Send answers"))
            .await
            .unwrap()
            .enabled
    );
    tray.click(&format!("{sub}/Send answers")).await.unwrap();
    assert_eq!(
        answered(pending).await,
        format!(
            r#"{{"hookSpecificOutput":{{"hookEventName":"PreToolUse","permissionDecision":"allow","updatedInput":{{"questions":{questions},"answers":{{"Which database?":"SQLite","Which extras?":"Redis, Kafka"}}}}}}}}"#
        )
    );
    wait_for("the request leaves the menu", || async {
        tray.find("Send answers").await.is_none()
    })
    .await;
}

/// The options of the menu's questions with their marks: "(x) SQLite", "[ ] Nats".
async fn toggles(tray: &Tray) -> Vec<String> {
    let entries = tray.entries().await;
    let options = entries.iter().filter(|e| !e.toggle.is_empty());
    options
        .map(|e| format!("{} {}", e.toggle, e.path.rsplit('/').next().unwrap()))
        .collect()
}
