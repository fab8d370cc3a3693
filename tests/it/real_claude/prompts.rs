//! A fresh session of the real claude: its SessionStart names the conversation the daemon
//! launched (`--session-id`), a first and a later prompt sent with SendCommand both reach the
//! model, Activity follows each turn (working, then ready), a tool call's result goes back to
//! the model, and the token figures are exact after every reply.

use super::api::{Reply, Usage};
use super::{Activities, Version, World};
use crate::procs::cmdline;

pub async fn prompts_activity_and_figures(version: Version) {
    let w = World::new(version, &["prompts"]).await;
    let m = w.env.manager().await;
    let mut activity = Activities::new(&m).await;
    let (id, s) = w.start("prompts").await;
    activity.of(&id);

    // The SessionStart came from the conversation the daemon started claude with.
    let claude_id = s.claude_session_id().await.unwrap();
    let argv = cmdline(s.pid().await.unwrap());
    let at = argv.iter().position(|a| a == "--session-id");
    assert_eq!(
        at.map(|i| argv[i + 1].as_str()),
        Some(claude_id.as_str()),
        "{argv:?}"
    );
    let transcript = s.transcript_path().await.unwrap();
    assert!(
        transcript.starts_with(&w.home().to_string_lossy().into_owned())
            && transcript.ends_with(&format!("/{claude_id}.jsonl")),
        "SessionStart's transcript {transcript:?} is not of conversation {claude_id}"
    );

    // Which claude runs: the executable the daemon started, and the version it reports.
    assert_eq!(
        s.claude_command().await.unwrap(),
        w.claude.to_string_lossy(),
        "ClaudeCommand"
    );
    w.wait("prompts", "ClaudeVersion", || async {
        s.claude_version().await.unwrap() == format!("{} (Claude Code)", w.version)
    })
    .await;

    // The first prompt of a fresh session is submitted.
    w.api.push(Reply::text(
        "Hello from the stand-in.",
        Usage::new(1200, 42, 300, 4000),
    ));
    m.send_command("prompts", "first prompt: say hello")
        .await
        .unwrap();
    let turns = w.turns("prompts", 1).await;
    assert!(
        turns[0].prompt_contains("first prompt: say hello"),
        "{:?}",
        turns[0].last_user_texts()
    );
    activity.expect("working").await;
    activity.expect("ready").await;
    w.expect_figures(&s, "after the first reply").await;

    // A later prompt whose reply runs a tool (read-only: no permission asked): its result
    // goes back in the next turn.
    w.api
        .push(Reply::bash("echo hi", Usage::new(1500, 17, 0, 5200)));
    w.api.push(Reply::text(
        "The command printed hi.",
        Usage::new(1510, 9, 25, 5300),
    ));
    m.send_command("prompts", "later prompt: run echo hi")
        .await
        .unwrap();
    let turns = w.turns("prompts", 3).await;
    assert!(turns[1].prompt_contains("later prompt: run echo hi"));
    assert_eq!(
        turns[2].tool_result(&turns[1].tool_use_id),
        Some(("hi".to_owned(), false)),
        "the tool's result in the turn after the tool call"
    );
    activity.expect("working").await;
    activity.expect("ready").await;
    w.expect_figures(&s, "after the tool call and the last reply")
        .await;
    assert_eq!(w.api.turns().len(), 3, "no turn beyond the script");
}
