//! Only a session's own claude speaks for it, and what hooks bring is bounded and clean: a
//! nested `claude -p`, a claude in another window of the session, a relay that claims another
//! session's pane, ids that are not UUIDs and megabytes of hook text change nothing they must
//! not.

use std::process::Command;

use crate::harness::*;

const NESTED_ID: &str = "5ab5ab5a-0000-4000-8000-00000000000a";

fn event(name: &str, id: &str, extra: &str) -> String {
    format!(r#"{{"session_id":"{id}","hook_event_name":"{name}"{extra}}}"#)
}

/// What a session says about its conversation: status, claude session id, transcript path.
async fn conversation(env: &Env, name: &str) -> (String, String, String) {
    let m = env.manager().await;
    let s = env
        .session_uncached(&m.get_session(name).await.unwrap())
        .await;
    (
        s.status().await.unwrap(),
        s.claude_session_id().await.unwrap(),
        s.transcript_path().await.unwrap(),
    )
}

fn comm(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// The claude processes running in a tmux session's panes.
fn claudes_in(env: &Env, name: &str) -> Vec<u32> {
    let out = env.tmux(&[
        "list-panes",
        "-s",
        "-t",
        &format!("={name}"),
        "-F",
        "#{pane_pid}",
    ]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.parse().ok())
        .filter_map(|pane| find_descendant(pane, "claude"))
        .collect()
}

#[tokio::test]
async fn a_nested_claude_is_a_sub_agent_and_a_restart_resumes_the_session_s_own() {
    let env = Env::new().await;
    env.start_active("main").await;
    let pane = pane_of(&env, "main");
    let before = conversation(&env, "main").await;
    assert_eq!(before.0, "active");

    let start = event(
        "SessionStart",
        NESTED_ID,
        r#","transcript_path":"/tmp/nested.jsonl","source":"startup""#,
    );
    assert_eq!(relay_nested(&env, &start, &pane).await.code, 0);
    let end = event("SessionEnd", NESTED_ID, r#","reason":"other""#);
    relay_nested(&env, &end, &pane).await;
    assert_eq!(
        conversation(&env, "main").await,
        before,
        "a nested claude took the session over"
    );
    let m = env.manager().await;
    let events = events_of(&m, "main").await;
    assert!(
        events.iter().any(|e| e.event == "SubAgent"),
        "the sub-agent's events are in the history: {events:?}"
    );

    m.restart_session("main").await.unwrap();
    wait_for("restarted with the session's own conversation", || async {
        m.capture_output("main", 50, "off")
            .await
            .unwrap()
            .contains(&format!("--resume {}", before.1))
    })
    .await;
    wait_for("one claude in the session", || async {
        claudes_in(&env, "main").len() == 1
    })
    .await;
    m.stop_session("main", true).await.unwrap();
    wait_for("no claude left in the session", || async {
        claudes_in(&env, "main").is_empty()
    })
    .await;
}

#[tokio::test]
async fn a_claude_in_another_window_of_the_session_speaks_for_nobody() {
    let env = Env::new().await;
    env.start_active("win").await;
    let before = conversation(&env, "win").await;
    let out = env.tmux(&[
        "new-window",
        "-P",
        "-F",
        "#{pane_id}",
        "-t",
        "=win:",
        &fake_claude().to_string_lossy(),
    ]);
    assert!(out.status.success(), "{out:?}");
    let other = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    wait_for("the other claude runs", || async {
        let pid = env.tmux(&["display-message", "-p", "-t", &other, "#{pane_pid}"]);
        String::from_utf8_lossy(&pid.stdout)
            .trim()
            .parse()
            .is_ok_and(|p: u32| find_descendant(p, "claude").is_some() || comm(p) == "claude")
    })
    .await;

    let start = event(
        "SessionStart",
        NESTED_ID,
        r#","transcript_path":"/tmp/other.jsonl","source":"startup""#,
    );
    relay(&env, &start, &other).await;
    relay(
        &env,
        &event("SessionEnd", NESTED_ID, r#","reason":"other""#),
        &other,
    )
    .await;
    assert_eq!(conversation(&env, "win").await, before);
}

#[tokio::test]
async fn a_relay_claiming_another_session_s_pane_changes_only_its_own() {
    let env = Env::new().await;
    env.start_active("a").await;
    env.start_active("b").await;
    let (pane_a, pane_b) = (pane_of(&env, "a"), pane_of(&env, "b"));
    let b_before = conversation(&env, "b").await;

    let spoof = event(
        "SessionStart",
        NESTED_ID,
        r#","transcript_path":"/etc/passwd","source":"startup""#,
    );
    relay_claiming(&env, &spoof, &pane_a, &pane_b).await;
    let end = event("SessionEnd", NESTED_ID, r#","reason":"other""#);
    relay_claiming(&env, &end, &pane_a, &pane_b).await;
    assert_eq!(conversation(&env, "b").await, b_before, "b was spoken for");
    assert_eq!(
        conversation(&env, "a").await,
        ("stopped".into(), NESTED_ID.into(), "/etc/passwd".into()),
        "a's own claude speaks for a, whatever TMUX_PANE says"
    );
}

#[tokio::test]
async fn claude_session_ids_are_uuids_held_by_one_session() {
    let env = Env::new().await;
    env.start_active("ids").await;
    let pane = pane_of(&env, "ids");
    let before = conversation(&env, "ids").await;
    let bad = event(
        "SessionStart",
        "--dangerously-skip-permissions",
        r#","source":"resume""#,
    );
    relay(&env, &bad, &pane).await;
    assert_eq!(conversation(&env, "ids").await.1, before.1);

    let m = env.manager().await;
    m.restart_session("ids").await.unwrap();
    wait_for("resumed", || async {
        let screen = m.capture_output("ids", 50, "off").await.unwrap();
        screen.contains(&format!("--resume {}", before.1))
    })
    .await;
    assert!(
        !m.capture_output("ids", 50, "off")
            .await
            .unwrap()
            .contains("--dangerously"),
    );

    let resume = |id: &str| {
        let mut o = std::collections::HashMap::new();
        o.insert("resume", zbus::Variant::from(id.to_owned()));
        o
    };
    let dir = env.project("other");
    assert_error(
        m.start_session(&dir, "dash", resume("-x")).await,
        "InvalidArgument",
    );
    assert_error(
        m.start_session(&dir, "twin", resume(&before.1)).await,
        "AlreadyExists",
    );
    assert_eq!(session_names(&m).await, ["ids"], "nothing was created");
}

#[tokio::test]
async fn hook_text_is_bounded_and_clean_for_many_sessions() {
    const SESSIONS: usize = 40;
    let env = Env::new().await;
    // OSC 0 (title), CSI 2J (clear), OSC 52 (clipboard write) and a C1 CSI, then a megabyte.
    let hostile = format!(
        "\u{1b}]0;owned\u{7}\u{1b}[2J\u{1b}]52;c;ZXZpbA==\u{7}\u{9b}31m{}",
        "x".repeat(1_000_000)
    );
    let long_path = format!("/{}", "p".repeat(500_000));
    for n in 0..SESSIONS {
        let name = format!("m{n}");
        env.start_active(&name).await;
        let pane = pane_of(&env, &name);
        let start = format!(
            r#"{{"session_id":"{NESTED_ID}","hook_event_name":"SessionStart","transcript_path":{}}}"#,
            serde_json::to_string(&long_path).unwrap()
        );
        relay(&env, &start, &pane).await;
        let note = serde_json::json!({
            "hook_event_name": "Notification",
            "notification_type": "permission_prompt",
            "message": hostile,
        });
        assert_eq!(relay(&env, &note.to_string(), &pane).await.code, 0);
    }
    check_listed(&env, SESSIONS, "running");
    let mut env = env;
    env.restart_daemon().await;
    check_listed(&env, SESSIONS, "restarted");
    let size = std::fs::metadata(env.state_dir().join("registry.json"))
        .unwrap()
        .len();
    assert!(size < 2 * 1024 * 1024, "registry of {size} bytes");
}

/// `trusty-mpm list --json` works and shows bounded, clean details for `count` sessions.
fn check_listed(env: &Env, count: usize, when: &str) {
    let list = Command::new(DAEMON)
        .args(["list", "--json"])
        .env("DBUS_SESSION_BUS_ADDRESS", &env.bus.address)
        .output()
        .unwrap();
    assert!(
        list.status.success(),
        "list failed ({when}): {}",
        String::from_utf8_lossy(&list.stderr)
    );
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(rows.len(), count);
    for row in &rows {
        let detail = row["activity_detail"].as_str().unwrap();
        assert!(
            detail.chars().count() <= 201 && !detail.chars().any(char::is_control),
            "{when}: {} characters, {:?}…",
            detail.chars().count(),
            detail.chars().take(40).collect::<String>()
        );
        assert!(row["transcript_path"].as_str().unwrap().len() <= 4095);
    }
}
