//! The lifecycle with the real claude: a pause keeps a summary of what claude last said, a
//! stop ends claude (its SessionEnd arrives, ClaudeExited follows), and a restart resumes the
//! same conversation with `--resume <id>` and the arguments the session was started with,
//! which the model then sees whole.

use std::time::Duration;

use futures_util::StreamExt;

use super::api::{Reply, Usage};
use super::{Activities, Version, World, count_events};
use crate::procs::{alive, cmdline};

pub async fn pause_stop_and_restart_with_resume(version: Version) {
    let w = World::new(version, &["life"]).await;
    let m = w.env.manager().await;
    let mut activity = Activities::new(&m).await;
    let mut exits = m.receive_claude_exited().await.unwrap();
    let (id, s) = w
        .start_with_args("life", &["--permission-mode", "acceptEdits"])
        .await;
    activity.of(&id);
    let claude_id = s.claude_session_id().await.unwrap();

    let said = "Noted: the word is kiwi.";
    w.api.push(Reply::text(said, Usage::new(700, 11, 0, 0)));
    m.send_command("life", "remember the word kiwi")
        .await
        .unwrap();
    w.turns("life", 1).await;
    activity.expect("ready").await;
    assert_eq!(
        s.permission_mode().await.unwrap(),
        "acceptEdits",
        "the mode claude's hooks report"
    );

    let summary = m.pause_session("life", "", false).await.unwrap();
    assert!(summary.contains(said), "pause summary: {summary:?}");
    assert_eq!(s.pause_summary().await.unwrap(), summary);
    assert_eq!(s.status().await.unwrap(), "paused");
    m.resume_session("life").await.unwrap();
    assert_eq!(s.status().await.unwrap(), "active");

    let pid = s.pid().await.unwrap();
    m.stop_session("life", false).await.unwrap();
    let exited = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let signal = exits.next().await.unwrap();
            if signal.args().unwrap().id == id {
                return signal.args().unwrap().pid;
            }
        }
    })
    .await
    .expect("ClaudeExited after StopSession");
    assert_eq!(exited, pid);
    assert!(!alive(pid));
    assert_eq!(s.status().await.unwrap(), "stopped");
    assert_eq!(
        count_events(&s, "SessionEnd").await,
        1,
        "a graceful stop lets claude end its session"
    );

    m.restart_session("life").await.unwrap();
    w.wait_session_start("life", &s, 2).await;
    let pid = s.pid().await.unwrap();
    let argv = cmdline(pid);
    let at = argv.iter().position(|a| a == "--resume");
    assert_eq!(
        at.map(|i| argv[i + 1].as_str()),
        Some(claude_id.as_str()),
        "{argv:?}"
    );
    assert_eq!(s.claude_session_id().await.unwrap(), claude_id);
    let mode = argv.iter().position(|a| a == "--permission-mode");
    assert_eq!(
        mode.map(|i| argv[i + 1].as_str()),
        Some("acceptEdits"),
        "the restart keeps the session's arguments: {argv:?}"
    );

    w.api.push(Reply::text(
        "The word was kiwi.",
        Usage::new(800, 6, 0, 700),
    ));
    m.send_command("life", "what was the word?").await.unwrap();
    let turns = w.turns("life", 2).await;
    let texts = turns[1].user_texts();
    assert!(
        turns[1].prompt_contains("what was the word?")
            && texts.iter().any(|t| t.contains("remember the word kiwi")),
        "the resumed conversation reaches the model whole: {texts:?}"
    );
    activity.expect("ready").await;
    w.expect_figures(&s, "after the resumed conversation's reply")
        .await;
}
